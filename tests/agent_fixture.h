/* SPDX-License-Identifier: MIT */
/* The fixture of the agent's tests (tests/test_agent.c, tests/test_exec.c):
 * a fake mcpfleetd made of server/net.c on loopback, credentials and
 * envelopes it signs, and a sandbox workstation per test. */
#ifndef MCPFLEET_AGENT_FIXTURE_H
#define MCPFLEET_AGENT_FIXTURE_H

#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "agentsock.h"
#include "buf.h"
#include "certrenew.h"
#include "crypto.h"
#include "devsecret.h"
#include "enrollment.h"
#include "envelope.h"
#include "fileio.h"
#include "net.h"
#include "netclient.h"
#include "state.h"
#include "spool.h"
#include "sync.h"

#define TA_WAIT_MS       8000
#define TA_USER          "alice"
#define TA_MAX_HOST      64
#define TA_QUEUE         16
#define TA_RENEW_REFUSAL "renewals are off in this test"

/* The last sync report the fake server received, flattened. */
struct ta_report {
	uint64_t revision;
	size_t n;
	char host[TA_MAX_HOST][32];
	int status[TA_MAX_HOST];
	char managed[TA_MAX_HOST][256]; /* comma-separated */
	bool drift[TA_MAX_HOST];
	char warnings[TA_MAX_HOST][1024]; /* comma-separated */
};

/* The fake daemon: what it saw, and what it is told to send. */
struct ta_core {
	pthread_mutex_t mu;
	int opens, closes, hellos, reports, pongs, enrolls;
	uint64_t pong_nonce;
	uint64_t hello_revision;
	char hello_device[80];
	char hello_hosts[256];
	struct ta_report report;
	struct net_conn *conn;
	uint8_t *queue[TA_QUEUE];
	size_t qlen[TA_QUEUE];
	size_t nq;
	bool close_after; /* close the connection once the queue is sent */
	/* RenewRequests seen; answered as a server without renewal does
	 * (a 1002 close) when renew_unknown, else refused with
	 * TA_RENEW_REFUSAL. */
	int renews;
	bool renew_unknown;
	int device_seq;
	/* The calls audit: what CallBatches brought, acknowledged at once. */
	int call_batches;
	size_t ncalls;
	char call_name[64][64];
	int call_outcome[64];
	uint64_t call_seq[64];
};

struct ta_fixture {
	struct crypto_rng *rng;
	struct tu_cred ca, server, foreign_ca;
	struct crypto_key *signer, *rogue;
	char *signer_pem;
	size_t signer_len;
	char ca_pin[CRYPTO_HEX_LEN + 8];
	char foreign_pin[CRYPTO_HEX_LEN + 8];
	struct ta_core core;
	struct net *net;
	pthread_t thread;
	int agent_port, api_port;
};

/* One test's workstation: a home with cursor and droid present. */
struct ta_box {
	char *home, *mfhome, *log_path;
	struct host_env env;
	FILE *log;
	atomic_int stop;
	struct agent_opts ao;
	pthread_t agent;
	bool agent_running;
	int agent_code;
	char device_id[80];
};

/* The fixture of the running group (ta_group_setup()). */
extern struct ta_fixture *ta_fx;

char *ta_issue(struct ta_fixture *f, struct crypto_key *key, const char *cn,
               enum crypto_purpose purpose, const char *const *san, size_t nsan,
               size_t *len);
uint8_t *ta_catalogue_payload(const char *user, const char *device,
                              uint64_t rev, const char *doc, size_t *len);
uint8_t *ta_revocation_payload(const char *user, const char *device,
                               uint64_t rev, size_t *len);
uint8_t *ta_sign(struct ta_fixture *f, struct crypto_key *signer,
                 enum envelope_kind kind, uint8_t *payload, size_t plen,
                 uint64_t rev, size_t *len);
uint8_t *ta_catalogue_env(struct ta_fixture *f, const char *device,
                          uint64_t rev, const char *doc, size_t *len);
uint8_t *ta_frame(const uint8_t *env, size_t len, size_t *flen);
void ta_enroll_answer(struct ta_fixture *f, const struct net_request *req,
                      struct net_response *resp);
int ta_on_request(void *arg, struct net_exchange *ex,
                  const struct net_request *req, struct net_response *resp);
int ta_on_open(void *arg, struct net_conn *c, const struct net_identity *id);
void ta_join(char *out, size_t size, char **v, size_t n);
void ta_on_calls(struct ta_core *core, struct net_conn *c,
                 const Mcpfleet__V1__CallBatch *b);
void ta_on_message(void *arg, struct net_conn *c, const void *data, size_t len);
void ta_on_close(void *arg, struct net_conn *c, int code, const char *reason);
void ta_on_wake(void *arg);
void *ta_service(void *p);
void ta_push(struct ta_fixture *f, uint8_t *frame, size_t len);
void ta_push_env(struct ta_fixture *f, uint8_t *env, size_t len);
void ta_push_replicas(struct ta_fixture *f, const char *const *v, size_t n);
int ta_get(struct ta_fixture *f, const int *counter);
bool ta_wait(struct ta_fixture *f, const int *counter, int want);
struct ta_report ta_last_report(struct ta_fixture *f);
int ta_report_host(const struct ta_report *r, const char *host);
int ta_group_setup(void **state);
int ta_group_teardown(void **state);
const char *ta_getenv(void *ctx, const char *name);
int ta_setup(void **state);
void *ta_agent_thread(void *p);
void ta_agent_start(struct ta_box *b);
int ta_agent_stop(struct ta_box *b);
int ta_agent_join(struct ta_box *b);
int ta_teardown(void **state);
char *ta_log(struct ta_box *b);
bool ta_exists(const char *dir, const char *name);
char *ta_read_rel(struct ta_box *b, const char *rel);
bool ta_no_enrollment_files(const char *mfhome);
int ta_enroll(struct ta_fixture *f, struct ta_box *b, int port,
              const char *token, const char *pin, char **err);
void ta_enroll_ok(struct ta_fixture *f, struct ta_box *b);
int ta_closed_port(void);
int ta_cli(struct ta_box *b, char **out, char **err, int argc, char **argv);

/* Rendered natively ("via": "direct"), so that these tests see the
 * catalogue's own values in the host files; TA_LAUNCHED takes the fleet's
 * default, the launcher. */
#define TA_FLEET                                                               \
	"{\"version\":1,\"servers\":{\"gh\":{\"url\":\"https://gh.example/"    \
	"mcp\",\"via\":\"direct\",\"headers\":{\"Authorization\":\"Bearer "    \
	"s3cret\"}}}}"
#define TA_FLEET2                                                              \
	"{\"version\":1,\"servers\":{\"gh\":{\"url\":\"https://gh.example/"    \
	"mcp\",\"via\":\"direct\"},\"jira\":{\"url\":\"https://jira.example/"  \
	"mcp\",\"via\":\"direct\",\"tools\":{\"deny\":[\"delete\"]}}}}"
#define TA_OLD                                                                 \
	"{\"version\":1,\"servers\":{\"stale\":{\"url\":\"https://old."        \
	"example/mcp\",\"via\":\"direct\"}}}"
#define TA_LAUNCHED                                                            \
	"{\"version\":1,\"servers\":{\"gh\":{\"url\":\"https://gh.example/"    \
	"mcp\",\"headers\":{\"Authorization\":\"Bearer s3cret\"}},\"fs\":{"    \
	"\"command\":\"fs-server\",\"env\":{\"TOKEN\":\"t0ken\"},\"tools\":{"  \
	"\"deny\":[\"rm\"]}}}}"
#define TA_PERSONAL                                                            \
	"{\"version\":1,\"servers\":{\"mine\":{\"command\":\"npx\","           \
	"\"args\":[\"-y\",\"my-server\"]}}}"

#endif
