/* SPDX-License-Identifier: MIT */
/* Tests of the agent's fleet half (client/enrollment.c, client/agent.c)
 * against a fake mcpfleetd made of server/net.c on loopback: enrollment,
 * catalogue.pb, replays, revocation, drift, reconnects. */
#define _GNU_SOURCE /* memmem, pthread_tryjoin_np */
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

#define TA_WAIT_MS  8000
#define TA_USER     "alice"
#define TA_MAX_HOST 8
#define TA_QUEUE    16

/* The last sync report the fake server received, flattened. */
struct ta_report {
	uint64_t revision;
	size_t n;
	char host[TA_MAX_HOST][32];
	int status[TA_MAX_HOST];
	char managed[TA_MAX_HOST][256]; /* comma-separated */
	bool drift[TA_MAX_HOST];
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

static struct ta_fixture *ta_fx;

/* ---- Credentials and envelopes ---- */

/* Issues a leaf for key (a new one when NULL) from the fleet CA. */
static char *ta_issue(struct ta_fixture *f, struct crypto_key *key,
                      const char *cn, enum crypto_purpose purpose,
                      const char *const *san, size_t nsan, size_t *len)
{
	struct crypto_cert_req req = {.cn = cn,
	                              .org = "Test",
	                              .days = 1,
	                              .purpose = purpose,
	                              .san = san,
	                              .nsan = nsan};
	struct diag d;
	char *pem = NULL;

	if (crypto_cert_issue(f->rng, f->ca.key, f->ca.cert_pem, f->ca.cert_len,
	                      key, &req, &pem, len, NULL, &d) != 0)
		fail_msg("issue %s: %s", cn, d.msg);
	return pem;
}

/* A packed Catalogue for (user, device) at rev holding the servers of a
 * canonical catalogue document. */
static uint8_t *ta_catalogue_payload(const char *user, const char *device,
                                     uint64_t rev, const char *doc, size_t *len)
{
	struct catalogue_opts co = {.allow_secret_refs = true};
	struct catalogue cat = {0};
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server *m, **mp;
	struct diag d;
	uint8_t *buf;
	size_t i;

	if (catalogue_parse(doc, strlen(doc), &co, &cat, &d) != 0)
		fail_msg("catalogue: %s", d.msg);
	m = calloc(cat.n + 1, sizeof(*m));
	mp = calloc(cat.n + 1, sizeof(*mp));
	assert_non_null(m);
	assert_non_null(mp);
	for (i = 0; i < cat.n; i++) {
		assert_int_equal(
		    envelope_server_message(&cat.servers[i], &m[i]), 0);
		mp[i] = &m[i];
	}
	mcpfleet__v1__catalogue__init(&c);
	c.user = (char *)(uintptr_t)user;
	c.device_id = (char *)(uintptr_t)device;
	c.revision = rev;
	c.issued_at = (int64_t)time(NULL);
	c.n_servers = cat.n;
	c.servers = mp;
	*len = mcpfleet__v1__catalogue__get_packed_size(&c);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	mcpfleet__v1__catalogue__pack(&c, buf);
	for (i = 0; i < cat.n; i++)
		envelope_server_clear(&m[i]);
	free(m);
	free(mp);
	catalogue_clear(&cat);
	return buf;
}

static uint8_t *ta_revocation_payload(const char *user, const char *device,
                                      uint64_t rev, size_t *len)
{
	Mcpfleet__V1__Revocation r;
	uint8_t *buf;

	mcpfleet__v1__revocation__init(&r);
	r.user = (char *)(uintptr_t)user;
	r.device_id = (char *)(uintptr_t)device;
	r.revision = rev;
	r.revoked_at = (int64_t)time(NULL);
	r.reason = (char *)(uintptr_t) "laptop lost";
	*len = mcpfleet__v1__revocation__get_packed_size(&r);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	mcpfleet__v1__revocation__pack(&r, buf);
	return buf;
}

/*
 * Signs payload (for the device) in a revision of two leaves, the other a
 * catalogue of another device, as the server batches them; returns the
 * packed SignedEnvelope of our leaf.
 */
static uint8_t *ta_sign(struct ta_fixture *f, struct crypto_key *signer,
                        enum envelope_kind kind, uint8_t *payload, size_t plen,
                        uint64_t rev, size_t *len)
{
	struct envelope_payload p[2];
	struct envelope_batch *b = NULL;
	uint8_t *other, *out = NULL;
	size_t olen;
	struct diag d;

	other = ta_catalogue_payload("bob", "dev-other", rev,
	                             "{\"version\":1,\"servers\":{}}", &olen);
	p[0].kind = ENVELOPE_CATALOGUE;
	p[0].data = other;
	p[0].len = olen;
	p[1].kind = kind;
	p[1].data = payload;
	p[1].len = plen;
	if (envelope_batch_sign(p, 2, rev, signer, f->rng, &b, &d) != 0)
		fail_msg("sign: %s", d.msg);
	assert_int_equal(envelope_batch_pack(b, 1, &out, len), 0);
	envelope_batch_free(b);
	free(other);
	free(payload);
	return out;
}

static uint8_t *ta_catalogue_env(struct ta_fixture *f, const char *device,
                                 uint64_t rev, const char *doc, size_t *len)
{
	size_t plen;
	uint8_t *p = ta_catalogue_payload(TA_USER, device, rev, doc, &plen);

	return ta_sign(f, f->signer, ENVELOPE_CATALOGUE, p, plen, rev, len);
}

/* Wraps a packed SignedEnvelope into a packed ServerFrame. */
static uint8_t *ta_frame(const uint8_t *env, size_t len, size_t *flen)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__SignedEnvelope *e;
	uint8_t *buf;

	e = mcpfleet__v1__signed_envelope__unpack(NULL, len, env);
	assert_non_null(e);
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE;
	fr.envelope = e;
	*flen = mcpfleet__v1__server_frame__get_packed_size(&fr);
	buf = malloc(*flen);
	assert_non_null(buf);
	mcpfleet__v1__server_frame__pack(&fr, buf);
	mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
	return buf;
}

/* ---- The fake daemon ---- */

static void ta_enroll_answer(struct ta_fixture *f,
                             const struct net_request *req,
                             struct net_response *resp)
{
	Mcpfleet__V1__EnrollRequest *er;
	Mcpfleet__V1__EnrollResponse a;
	struct crypto_key *pub = NULL, *other = NULL;
	struct tu_cred *ca = &f->ca;
	char id[64], *cert = NULL;
	const char *cn = id;
	size_t cert_len = 0, n;
	uint8_t *buf;
	int seq;

	er = mcpfleet__v1__enroll_request__unpack(NULL, req->body_len,
	                                          (const uint8_t *)req->body);
	if (er == NULL || er->facts == NULL ||
	    strcmp(er->facts->hostname, "test-host") != 0 ||
	    strcmp(er->facts->os, "linux") != 0 ||
	    crypto_csr_parse((const char *)er->csr_pem.data, er->csr_pem.len,
	                     &pub, NULL) != 0) {
		resp->status = 400;
		assert_int_equal(buf_puts(&resp->body, "malformed request"), 0);
		goto out;
	}
	if (strcmp(er->token, "usedtoken") == 0 ||
	    strcmp(er->token, "expiredtoken") == 0) {
		resp->status = 403;
		assert_int_equal(net_response_type(resp, "text/plain"), 0);
		assert_int_equal(
		    buf_puts(&resp->body, er->token[0] == 'u'
		                              ? "token already used\n"
		                              : "token expired\n"),
		    0);
		goto out;
	}
	pthread_mutex_lock(&f->core.mu);
	seq = ++f->core.device_seq;
	f->core.enrolls++;
	pthread_mutex_unlock(&f->core.mu);
	(void)snprintf(id, sizeof(id), "dev-%04d", seq);
	if (strcmp(er->token, "wrongcn") == 0)
		cn = "dev-someone-else";
	if (strcmp(er->token, "wrongkey") == 0)
		assert_int_equal(crypto_key_generate(f->rng, &other, NULL), 0);
	if (strcmp(er->token, "wrongca") == 0)
		ca = &f->foreign_ca;
	cert = ta_issue(f, other ? other : pub, cn, CRYPTO_PURPOSE_CLIENT, NULL,
	                0, &cert_len);
	mcpfleet__v1__enroll_response__init(&a);
	a.device_id = id;
	a.user = (char *)(uintptr_t)TA_USER;
	a.certificate_pem.data = (uint8_t *)cert;
	a.certificate_pem.len = cert_len;
	a.ca_pem.data = (uint8_t *)ca->cert_pem;
	a.ca_pem.len = ca->cert_len;
	a.signer_public_pem.data = (uint8_t *)f->signer_pem;
	a.signer_public_pem.len = f->signer_len;
	a.agent_port = (uint32_t)f->agent_port;
	n = mcpfleet__v1__enroll_response__get_packed_size(&a);
	buf = malloc(n);
	assert_non_null(buf);
	mcpfleet__v1__enroll_response__pack(&a, buf);
	resp->status = 200;
	assert_int_equal(net_response_type(resp, "application/x-protobuf"), 0);
	assert_int_equal(buf_append(&resp->body, buf, n), 0);
	free(buf);
out:
	free(cert);
	crypto_key_free(pub);
	crypto_key_free(other);
	if (er != NULL)
		mcpfleet__v1__enroll_request__free_unpacked(er, NULL);
}

static int ta_on_request(void *arg, struct net_exchange *ex,
                         const struct net_request *req,
                         struct net_response *resp)
{
	(void)arg;
	(void)ex;
	if (strcmp(req->path, "/v1/enroll") == 0 &&
	    strcmp(req->method, "POST") == 0) {
		ta_enroll_answer(ta_fx, req, resp);
		return NET_DONE;
	}
	resp->status = 404;
	assert_int_equal(buf_puts(&resp->body, "no such page"), 0);
	return NET_DONE;
}

static int ta_on_open(void *arg, struct net_conn *c,
                      const struct net_identity *id)
{
	struct ta_core *core = arg;

	(void)id;
	pthread_mutex_lock(&core->mu);
	core->opens++;
	core->conn = c;
	pthread_mutex_unlock(&core->mu);
	return NET_ACCEPT;
}

static void ta_join(char *out, size_t size, char **v, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(out + o, size - o, "%s%s", i ? "," : "", v[i]);

		assert_true(w >= 0 && (size_t)w < size - o);
		o += (size_t)w;
	}
}

/* Keeps a CallBatch's records (a record seen before is not kept again, as
 * mcpfleetd keeps one per seq) and acknowledges them. Called with the
 * core's lock held, on the service thread. */
static void ta_on_calls(struct ta_core *core, struct net_conn *c,
                        const Mcpfleet__V1__CallBatch *b)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__CallAck ack;
	uint8_t buf[64];
	size_t i, k;

	core->call_batches++;
	mcpfleet__v1__call_ack__init(&ack);
	for (i = 0; i < b->n_calls; i++) {
		for (k = 0; k < core->ncalls; k++)
			if (core->call_seq[k] == b->calls[i]->seq)
				break;
		if (k == core->ncalls && core->ncalls < 64) {
			(void)snprintf(core->call_name[k],
			               sizeof(core->call_name[k]), "%s",
			               b->calls[i]->name);
			core->call_outcome[k] = b->calls[i]->outcome;
			core->call_seq[k] = b->calls[i]->seq;
			core->ncalls++;
		}
		if (b->calls[i]->seq > ack.through_seq)
			ack.through_seq = b->calls[i]->seq;
	}
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_CALLS_ACK;
	fr.calls_ack = &ack;
	assert_true(mcpfleet__v1__server_frame__get_packed_size(&fr) <=
	            sizeof(buf));
	assert_int_equal(
	    net_send(c, buf, mcpfleet__v1__server_frame__pack(&fr, buf)), 0);
}

static void ta_on_message(void *arg, struct net_conn *c, const void *data,
                          size_t len)
{
	struct ta_core *core = arg;
	Mcpfleet__V1__AgentFrame *f;
	struct ta_report *r = &core->report;
	size_t i;

	(void)c;
	f = mcpfleet__v1__agent_frame__unpack(NULL, len, data);
	assert_non_null(f);
	pthread_mutex_lock(&core->mu);
	switch (f->body_case) {
	case MCPFLEET__V1__AGENT_FRAME__BODY_HELLO:
		core->hellos++;
		core->hello_revision = f->hello->applied_revision;
		(void)snprintf(core->hello_device, sizeof(core->hello_device),
		               "%s", f->hello->device_id);
		ta_join(core->hello_hosts, sizeof(core->hello_hosts),
		        f->hello->hosts_present, f->hello->n_hosts_present);
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_REPORT:
		memset(r, 0, sizeof(*r));
		r->revision = f->report->revision;
		assert_true(f->report->n_hosts <= TA_MAX_HOST);
		r->n = f->report->n_hosts;
		for (i = 0; i < r->n; i++) {
			const Mcpfleet__V1__HostReport *h = f->report->hosts[i];

			(void)snprintf(r->host[i], sizeof(r->host[i]), "%s",
			               h->host);
			r->status[i] = h->status;
			ta_join(r->managed[i], sizeof(r->managed[i]),
			        h->managed, h->n_managed);
			r->drift[i] = h->drift;
		}
		core->reports++;
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_PONG:
		core->pongs++;
		core->pong_nonce = f->pong->nonce;
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_CALLS:
		ta_on_calls(core, c, f->calls);
		break;
	default:
		fail_msg("an agent frame without a body");
	}
	pthread_mutex_unlock(&core->mu);
	mcpfleet__v1__agent_frame__free_unpacked(f, NULL);
}

static void ta_on_close(void *arg, struct net_conn *c, int code,
                        const char *reason)
{
	struct ta_core *core = arg;

	(void)code;
	(void)reason;
	pthread_mutex_lock(&core->mu);
	core->closes++;
	if (core->conn == c)
		core->conn = NULL;
	pthread_mutex_unlock(&core->mu);
}

/* Sends what the test queued, on the service thread. */
static void ta_on_wake(void *arg)
{
	struct ta_core *core = arg;
	size_t i;

	pthread_mutex_lock(&core->mu);
	for (i = 0; i < core->nq; i++) {
		if (core->conn != NULL)
			assert_int_equal(
			    net_send(core->conn, core->queue[i], core->qlen[i]),
			    0);
		free(core->queue[i]);
	}
	core->nq = 0;
	if (core->close_after && core->conn != NULL)
		assert_int_equal(
		    net_close(core->conn, NET_CLOSE_GOING_AWAY, "restarting"),
		    0);
	core->close_after = false;
	pthread_mutex_unlock(&core->mu);
}

static void *ta_service(void *p)
{
	struct ta_fixture *f = p;

	assert_int_equal(net_run(f->net), 0);
	return NULL;
}

/* Queues a frame (taken) for the connected agent. */
static void ta_push(struct ta_fixture *f, uint8_t *frame, size_t len)
{
	pthread_mutex_lock(&f->core.mu);
	assert_true(f->core.nq < TA_QUEUE);
	f->core.queue[f->core.nq] = frame;
	f->core.qlen[f->core.nq] = len;
	f->core.nq++;
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);
}

/* Queues a SignedEnvelope (taken) as a ServerFrame. */
static void ta_push_env(struct ta_fixture *f, uint8_t *env, size_t len)
{
	size_t flen;
	uint8_t *frame = ta_frame(env, len, &flen);

	free(env);
	ta_push(f, frame, flen);
}

static int ta_get(struct ta_fixture *f, const int *counter)
{
	int v;

	pthread_mutex_lock(&f->core.mu);
	v = *counter;
	pthread_mutex_unlock(&f->core.mu);
	return v;
}

static bool ta_wait(struct ta_fixture *f, const int *counter, int want)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;

	while (ta_get(f, counter) < want) {
		if (tu_now_ms() > deadline)
			return false;
		tu_sleep_ms(5);
	}
	return true;
}

static struct ta_report ta_last_report(struct ta_fixture *f)
{
	struct ta_report r;

	pthread_mutex_lock(&f->core.mu);
	r = f->core.report;
	pthread_mutex_unlock(&f->core.mu);
	return r;
}

static int ta_report_host(const struct ta_report *r, const char *host)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->host[i], host) == 0)
			return (int)i;
	fail_msg("no report for host %s", host);
	return -1;
}

static int ta_group_setup(void **state)
{
	static const char *const san[] = {"localhost", "127.0.0.1"};
	struct ta_fixture *f = calloc(1, sizeof(*f));
	struct net_config cfg = {0};
	struct net_callbacks cb = {0};
	struct diag d;

	assert_non_null(f);
	ta_fx = f;
	netclient_lws_log(getenv("TA_VERBOSE") ? NETCLIENT_LOG_ERR : 0, NULL);
	pthread_mutex_init(&f->core.mu, NULL);
	assert_int_equal(crypto_rng_new("test_agent", &f->rng, &d), 0);
	tu_cred_ca(f->rng, &f->ca, "Fleet CA");
	tu_cred_ca(f->rng, &f->foreign_ca, "Foreign CA");
	assert_int_equal(crypto_key_generate(f->rng, &f->server.key, &d), 0);
	f->server.cert_pem =
	    ta_issue(f, f->server.key, "mcpfleetd", CRYPTO_PURPOSE_SERVER, san,
	             2, &f->server.cert_len);
	assert_int_equal(crypto_key_write_private(f->server.key,
	                                          &f->server.key_pem,
	                                          &f->server.key_len, &d),
	                 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->signer, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->rogue, &d), 0);
	assert_int_equal(crypto_key_write_public(f->signer, &f->signer_pem,
	                                         &f->signer_len, &d),
	                 0);
	memcpy(f->ca_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->ca.cert_pem, f->ca.cert_len,
	                                         f->ca_pin + 7, &d),
	                 0);
	memcpy(f->foreign_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->foreign_ca.cert_pem,
	                                         f->foreign_ca.cert_len,
	                                         f->foreign_pin + 7, &d),
	                 0);
	cfg.ca_pem = f->ca.cert_pem;
	cfg.ca_len = f->ca.cert_len;
	cfg.cert_pem = f->server.cert_pem;
	cfg.cert_len = f->server.cert_len;
	cfg.key_pem = f->server.key_pem;
	cfg.key_len = f->server.key_len;
	cfg.timeout_secs = 5;
	cb.arg = &f->core;
	cb.on_open = ta_on_open;
	cb.on_message = ta_on_message;
	cb.on_close = ta_on_close;
	cb.on_wake = ta_on_wake;
	cb.on_request = ta_on_request;
	if (net_create(&cfg, &cb, &f->net, &d) != 0)
		fail_msg("net_create: %s", d.msg);
	f->agent_port = net_agent_port(f->net);
	f->api_port = net_api_port(f->net);
	assert_int_equal(pthread_create(&f->thread, NULL, ta_service, f), 0);
	*state = f;
	return 0;
}

static int ta_group_teardown(void **state)
{
	struct ta_fixture *f = *state;
	size_t i;

	net_stop(f->net);
	pthread_join(f->thread, NULL);
	net_free(f->net);
	for (i = 0; i < f->core.nq; i++)
		free(f->core.queue[i]);
	tu_cred_free(&f->ca);
	tu_cred_free(&f->server);
	tu_cred_free(&f->foreign_ca);
	crypto_key_free(f->signer);
	crypto_key_free(f->rogue);
	free(f->signer_pem);
	crypto_rng_free(f->rng);
	pthread_mutex_destroy(&f->core.mu);
	free(f);
	ta_fx = NULL;
	return 0;
}

/* ---- The workstation sandbox ---- */

static const char *ta_getenv(void *ctx, const char *name)
{
	struct ta_box *b = ctx;

	if (strcmp(name, "HOME") == 0)
		return b->home;
	return NULL;
}

static int ta_setup(void **state)
{
	struct ta_fixture *f = *state;
	struct ta_box *b = calloc(1, sizeof(*b));
	char *p;

	assert_non_null(b);
	b->home = tu_mkdtemp();
	b->mfhome = tu_path(b->home, ".mcpfleet");
	b->log_path = tu_path(b->home, "agent.log");
	b->env.os = HOST_OS_LINUX;
	b->env.getenv = ta_getenv;
	b->env.ctx = b;
	b->log = fopen(b->log_path, "w+");
	assert_non_null(b->log);
	p = tu_path(b->home, ".cursor");
	assert_int_equal(fileio_mkdirs(p, 0755), 0);
	free(p);
	p = tu_path(b->home, ".factory");
	assert_int_equal(fileio_mkdirs(p, 0755), 0);
	free(p);
	b->ao.home = b->mfhome;
	b->ao.env = &b->env;
	b->ao.out = b->log;
	b->ao.err = b->log;
	b->ao.stop = &b->stop;
	b->ao.recheck_ms = 60000;
	b->ao.backoff_min_ms = 50;
	b->ao.backoff_max_ms = 200;
	b->ao.connect_timeout_ms = 5000;
	pthread_mutex_lock(&f->core.mu);
	f->core.hellos = f->core.reports = f->core.pongs = 0;
	f->core.call_batches = 0;
	f->core.ncalls = 0;
	f->core.opens = f->core.closes = 0;
	pthread_mutex_unlock(&f->core.mu);
	/* The box rides along in the fixture's state slot. */
	*state = b;
	return 0;
}

static void *ta_agent_thread(void *p)
{
	struct ta_box *b = p;

	b->agent_code = agent_run(&b->ao);
	return NULL;
}

static void ta_agent_start(struct ta_box *b)
{
	atomic_store(&b->stop, 0);
	assert_int_equal(pthread_create(&b->agent, NULL, ta_agent_thread, b),
	                 0);
	b->agent_running = true;
}

static int ta_agent_stop(struct ta_box *b)
{
	if (!b->agent_running)
		return b->agent_code;
	atomic_store(&b->stop, 1);
	pthread_join(b->agent, NULL);
	b->agent_running = false;
	return b->agent_code;
}

/* Waits for the agent to return by itself (a revocation). */
static int ta_agent_join(struct ta_box *b)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;
	int r;

	for (;;) {
		r = pthread_tryjoin_np(b->agent, NULL);
		if (r == 0)
			break;
		if (tu_now_ms() > deadline)
			fail_msg("the agent did not stop by itself");
		tu_sleep_ms(10);
	}
	b->agent_running = false;
	return b->agent_code;
}

static int ta_teardown(void **state)
{
	struct ta_box *b = *state;

	(void)ta_agent_stop(b);
	fclose(b->log);
	if (getenv("TA_VERBOSE") != NULL) {
		size_t n;
		char *log = tu_read(b->log_path, &n);

		fprintf(stderr, "---- agent log ----\n%s", log);
		free(log);
	}
	tu_rmtree(b->home);
	free(b->home);
	free(b->mfhome);
	free(b->log_path);
	free(b);
	*state = ta_fx;
	return 0;
}

static char *ta_log(struct ta_box *b)
{
	size_t n;

	fflush(b->log);
	return tu_read(b->log_path, &n);
}

static bool ta_exists(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	bool e = fileio_exists(p);

	free(p);
	return e;
}

static char *ta_read_rel(struct ta_box *b, const char *rel)
{
	char *p = tu_path(b->home, rel), *t = NULL;
	size_t n;

	if (fileio_exists(p))
		t = tu_read(p, &n);
	free(p);
	return t;
}

/* True when no file of the enrollment, final or temporary, is there. */
static bool ta_no_enrollment_files(const char *mfhome)
{
	DIR *dir = opendir(mfhome);
	const struct dirent *de;
	bool clean = true;

	if (dir == NULL)
		return true;
	while ((de = readdir(dir)) != NULL) {
		char *p = tu_path(mfhome, de->d_name);
		bool is_dir = fileio_is_dir(p);

		free(p);
		if (is_dir)
			continue;
		if (strcmp(de->d_name, "device.key") == 0 ||
		    strcmp(de->d_name, "device.crt") == 0 ||
		    strcmp(de->d_name, "ca.crt") == 0 ||
		    strcmp(de->d_name, "signer.pub") == 0 ||
		    strcmp(de->d_name, "enrollment.json") == 0 ||
		    strstr(de->d_name, ".enroll-new") != NULL ||
		    strstr(de->d_name, ".mcpfleet-") != NULL)
			clean = false;
	}
	closedir(dir);
	return clean;
}

/* Runs enrollment_enroll with a link to the fake server. */
static int ta_enroll(struct ta_fixture *f, struct ta_box *b, int port,
                     const char *token, const char *pin, char **err)
{
	struct enrollment_opts o = {
	    .home = b->mfhome,
	    .timeout_ms = 5000,
	    .hostname = "test-host",
	    .username = "tester",
	};
	char link[512];
	size_t n;
	int code;

	(void)f;
	(void)snprintf(link, sizeof(link),
	               "mcpfleet://127.0.0.1:%d/enroll/%s#ca=%s", port, token,
	               pin);
	o.out = open_memstream(err, &n);
	o.err = o.out;
	code = enrollment_enroll(&o, link);
	fclose(o.out);
	return code;
}

/* Enrolls the box for real and remembers its device id. */
static void ta_enroll_ok(struct ta_fixture *f, struct ta_box *b)
{
	struct enrollment e;
	struct diag d;
	char *msg = NULL;

	if (ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg) !=
	    EXIT_OK)
		fail_msg("enroll: %s", msg);
	free(msg);
	assert_int_equal(enrollment_load(b->mfhome, &e, &d), 0);
	(void)snprintf(b->device_id, sizeof(b->device_id), "%s", e.device_id);
}

static int ta_closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Runs "mcpfleet ARGS" in the box; returns the exit code, *out and *err. */
static int ta_cli(struct ta_box *b, char **out, char **err, int argc,
                  char **argv)
{
	struct cli c = {.home = b->mfhome, .env = &b->env};
	size_t n;
	int code;

	c.out = open_memstream(out, &n);
	c.err = open_memstream(err, &n);
	code = cli_main(&c, argc, argv);
	fclose(c.out);
	fclose(c.err);
	return code;
}

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
	"mcp\",\"via\":\"direct\"}}}"
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

/* ---- Links and enrollment ---- */

static void test_agent_link_bad(void **state)
{
	struct ta_box *b = *state;
	static const char *const links[] = {
	    "https://127.0.0.1:7444/enroll/tok#ca=sha256:00",
	    "mcpfleet://127.0.0.1/enroll/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:7444/enroll/tok",
	    "mcpfleet://127.0.0.1:7444/enroll/tok#ca=sha256:abc",
	    "mcpfleet://127.0.0.1:7444/join/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:99999/enroll/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:7444/enroll/t%20k#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	};
	struct enrollment_opts o = {.home = b->mfhome};
	size_t i, n;
	char *msg = NULL;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		o.out = open_memstream(&msg, &n);
		o.err = o.out;
		assert_int_equal(enrollment_enroll(&o, links[i]), EXIT_CONFIG);
		fclose(o.out);
		assert_non_null(strstr(msg, "enrollment link"));
		free(msg);
		msg = NULL;
	}
	/* Nothing was created, not even $MCPFLEET_HOME. */
	assert_false(fileio_exists(b->mfhome));
	/* The command line says the same. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"enroll", "not-a-link"};

		assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_CONFIG);
		assert_non_null(strstr(err, "enrollment link"));
		free(out);
		free(err);
	}
}

static void test_agent_enroll_ok(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct enrollment e;
	struct crypto_cert_info info;
	struct crypto_key *priv = NULL, *pub = NULL;
	char want[CRYPTO_HEX_LEN + 1], got[CRYPTO_HEX_LEN + 1];
	struct stat sb;
	struct diag d;
	char *msg = NULL, *p, *pem;
	size_t n;

	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_OK);
	assert_non_null(strstr(msg, "enrolled as dev-"));
	free(msg);
	assert_int_equal(stat(b->mfhome, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	p = tu_path(b->mfhome, "device.key");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	pem = tu_read(p, &n);
	assert_int_equal(crypto_key_load_private(pem, n, &priv, &d), 0);
	crypto_secret_free(pem, n);
	free(p);
	p = tu_path(b->mfhome, "enrollment.json");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(p);
	assert_int_equal(enrollment_load(b->mfhome, &e, &d), 0);
	assert_string_equal(e.server, "127.0.0.1");
	assert_int_equal(e.api_port, f->api_port);
	assert_int_equal(e.agent_port, f->agent_port);
	assert_string_equal(e.user, TA_USER);
	assert_string_equal(e.ca_pin, f->ca_pin);
	assert_true(e.enrolled_at > 0);
	/* The certificate names the device and holds our key. */
	p = tu_path(b->mfhome, "device.crt");
	pem = tu_read(p, &n);
	assert_int_equal(crypto_cert_parse(pem, n, &info, &pub, &d), 0);
	assert_string_equal(info.cn, e.device_id);
	assert_int_equal(crypto_key_id(priv, want), 0);
	assert_int_equal(crypto_key_id(pub, got), 0);
	assert_string_equal(want, got);
	free(pem);
	free(p);
	assert_true(ta_exists(b->mfhome, "ca.crt"));
	assert_true(ta_exists(b->mfhome, "signer.pub"));
	crypto_key_free(priv);
	crypto_key_free(pub);

	/* Once enrolled, a second enrollment is refused. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_CONFIG);
	assert_non_null(strstr(msg, "already enrolled"));
	assert_non_null(strstr(msg, "mcpfleet unenroll"));
	free(msg);

	/* status shows it. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"status", "--json"};
		json_t *j;

		assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_OK);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		assert_true(json_is_true(json_object_get(j, "enrolled")));
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(j, "enrollment"), "device_id")),
		    e.device_id);
		assert_false(json_is_true(
		    json_object_get(json_object_get(j, "agent"), "running")));
		json_decref(j);
		free(out);
		free(err);
	}
}

static void test_agent_enroll_refused(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *msg = NULL;

	/* The server's reasons reach the user, exit 3. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "usedtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "token already used"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "expiredtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "token expired"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));

	/* A server whose CA is not the pinned one. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->foreign_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(
	    strstr(msg, "the server's CA does not match the link's pin"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));

	/* Nobody there. */
	assert_int_equal(
	    ta_enroll(f, b, ta_closed_port(), "goodtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "cannot reach the server"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
}

static void test_agent_enroll_bad_answer(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *msg = NULL;

	/* A certificate for another CN, another key, or from another CA:
	 * nothing is installed. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongcn", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "is not the device id"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongkey", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "another key"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongca", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(
	    strstr(msg, "the server's CA does not match the link's pin"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(enrollment_exists(b->mfhome));
}

static void test_agent_enroll_atomic(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *dir, *inner, *msg = NULL;

	/* signer.pub cannot be renamed into place (a non-empty directory
	 * holds its name): the files already placed are taken back. */
	dir = tu_path(b->mfhome, "signer.pub");
	inner = tu_path(dir, "x");
	tu_write(inner, "x", 1);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_CONFIG);
	assert_non_null(strstr(msg, "signer.pub"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(enrollment_exists(b->mfhome));
	assert_true(fileio_is_dir(dir));
	unlink(inner);
	rmdir(dir);
	free(inner);
	free(dir);
	/* And it works once the obstacle is gone. */
	ta_enroll_ok(f, b);
	assert_true(enrollment_exists(b->mfhome));
}

/* ---- catalogue.pb ---- */

/* Enrolls without the network: credentials made here, files written as
 * enroll would. */
static void ta_enroll_local(struct ta_fixture *f, struct ta_box *b)
{
	struct enrollment e = {0};
	struct crypto_key *key = NULL;
	char *cert, *key_pem = NULL, *p;
	size_t cert_len, key_len;

	assert_int_equal(fileio_mkdirs(b->mfhome, 0700), 0);
	assert_int_equal(crypto_key_generate(f->rng, &key, NULL), 0);
	cert = ta_issue(f, key, "dev-local", CRYPTO_PURPOSE_CLIENT, NULL, 0,
	                &cert_len);
	assert_int_equal(
	    crypto_key_write_private(key, &key_pem, &key_len, NULL), 0);
	p = tu_path(b->mfhome, "device.key");
	tu_write(p, key_pem, key_len);
	free(p);
	p = tu_path(b->mfhome, "device.crt");
	tu_write(p, cert, cert_len);
	free(p);
	p = tu_path(b->mfhome, "ca.crt");
	tu_write(p, f->ca.cert_pem, f->ca.cert_len);
	free(p);
	p = tu_path(b->mfhome, "signer.pub");
	tu_write(p, f->signer_pem, f->signer_len);
	free(p);
	(void)snprintf(e.server, sizeof(e.server), "127.0.0.1");
	e.api_port = f->api_port;
	e.agent_port = f->agent_port;
	(void)snprintf(e.device_id, sizeof(e.device_id), "dev-local");
	(void)snprintf(e.user, sizeof(e.user), TA_USER);
	(void)snprintf(e.ca_pin, sizeof(e.ca_pin), "%s", f->ca_pin);
	e.enrolled_at = 1700000000;
	assert_int_equal(enrollment_save(b->mfhome, &e), 0);
	(void)snprintf(b->device_id, sizeof(b->device_id), "dev-local");
	crypto_secret_free(key_pem, key_len);
	crypto_key_free(key);
	free(cert);
}

static void ta_write_pb(struct ta_box *b, const uint8_t *data, size_t len)
{
	char *p = tu_path(b->mfhome, "catalogue.pb");

	tu_write(p, (const char *)data, len);
	free(p);
}

/* ---- The launcher: mcpfleet exec against the running agent ---- */

/* One "mcpfleet exec NAME" process, as a host runs it. */
struct ta_exec {
	pid_t pid;
	int in;    /* its stdin */
	FILE *out; /* its stdout */
	char *err_path;
};

static void ta_exec_start(struct ta_box *b, const char *name, struct ta_exec *x)
{
	int in[2], out[2];
	char *err = tu_path(b->home, "exec.err");

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	x->pid = fork();
	assert_true(x->pid >= 0);
	if (x->pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(fd, 2);
		close(in[1]);
		close(out[0]);
		setenv("HOME", b->home, 1);
		unsetenv("MCPFLEET_HOME");
		setenv("TA_SECRET_VAR", "from-the-host", 1);
		execl(TA_MCPFLEET, TA_MCPFLEET, "exec", name, (char *)NULL);
		_exit(99);
	}
	close(in[0]);
	close(out[1]);
	x->in = in[1];
	x->out = fdopen(out[0], "r");
	x->err_path = err;
}

static void ta_exec_send(struct ta_exec *x, const char *line)
{
	size_t n = strlen(line);

	assert_int_equal(write(x->in, line, n), (ssize_t)n);
	assert_int_equal(write(x->in, "\n", 1), 1);
}

/* The next message from the launcher (a line, parsed), within 5 s. */
static json_t *ta_exec_recv(struct ta_exec *x)
{
	char line[1 << 16];
	struct pollfd p = {.fd = fileno(x->out), .events = POLLIN};
	json_t *j;

	assert_true(poll(&p, 1, 5000) == 1);
	assert_non_null(fgets(line, sizeof(line), x->out));
	j = json_loads(line, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The exit code, or -1 when it did not exit within ms. */
static int ta_exec_wait(struct ta_exec *x, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	int st;

	while (tu_now_ms() < deadline) {
		if (waitpid(x->pid, &st, WNOHANG) == x->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		tu_sleep_ms(5);
	}
	return -1;
}

static void ta_exec_end(struct ta_exec *x)
{
	if (x->in >= 0)
		close(x->in);
	x->in = -1;
	if (x->out != NULL)
		fclose(x->out);
	x->out = NULL;
	if (ta_exec_wait(x, 5000) < 0) {
		kill(x->pid, SIGKILL);
		(void)ta_exec_wait(x, 5000);
	}
	free(x->err_path);
	x->err_path = NULL;
}

/* The text of a tools/call answer, or its error code as text. */
static const char *ta_exec_call(struct ta_exec *x, int id, const char *tool,
                                const char *args, char *buf, size_t size)
{
	char line[512];
	json_t *j, *e;

	(void)snprintf(line, sizeof(line),
	               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
	               "\"tools/call\",\"params\":{\"name\":\"%s\","
	               "\"arguments\":%s}}",
	               id, tool, args);
	ta_exec_send(x, line);
	j = ta_exec_recv(x);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
	if ((e = json_object_get(j, "error")) != NULL)
		(void)snprintf(
		    buf, size, "error %lld",
		    (long long)json_integer_value(json_object_get(e, "code")));
	else
		(void)snprintf(
		    buf, size, "%s",
		    json_string_value(json_object_get(
		        json_array_get(
		            json_object_get(json_object_get(j, "result"),
		                            "content"),
		            0),
		        "text")));
	json_decref(j);
	return buf;
}

#define TA_EXEC_DOC                                                            \
	"{\"version\":1,\"servers\":{\"stub\":{\"command\":\"" TA_MCP_STUB     \
	"\",\"env\":{\"TOKEN\":\"Bearer ${secret:STUB_TOKEN}\",\"HOSTVAR\":"   \
	"\"${TA_SECRET_VAR}\"},\"tools\":{\"deny\":[\"delete_*\"]},"           \
	"\"tool_rates\":{\"echo\":\"2/hour\"}}}}"
#define TA_EXEC_EMPTY "{\"version\":1,\"servers\":{}}"
#define TA_STUB_TOKEN "s3cr3t-v4lue"

/* A catalogue envelope whose ${secret:STUB_TOKEN} is sealed for device. */
static uint8_t *ta_sealed_env(struct ta_fixture *f, const char *device,
                              uint64_t rev, const uint8_t *key, size_t *len)
{
	struct catalogue_opts co = {.allow_secret_refs = true};
	struct catalogue cat = {0};
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server m, *mp = &m;
	Mcpfleet__V1__SealedSecret ss, *ssp = &ss;
	uint8_t *sealed, *buf;
	size_t slen, plen;
	struct diag d;

	if (catalogue_parse(TA_EXEC_DOC, strlen(TA_EXEC_DOC), &co, &cat, &d) !=
	    0)
		fail_msg("catalogue: %s", d.msg);
	tu_ok(devsecret_seal(f->rng, key, device, "STUB_TOKEN", 3,
	                     TA_STUB_TOKEN, strlen(TA_STUB_TOKEN), &sealed,
	                     &slen, &d),
	      &d);
	mcpfleet__v1__sealed_secret__init(&ss);
	ss.name = (char *)(uintptr_t) "STUB_TOKEN";
	ss.version = 3;
	ss.sealed.data = sealed;
	ss.sealed.len = slen;
	assert_int_equal(envelope_server_message(&cat.servers[0], &m), 0);
	mcpfleet__v1__catalogue__init(&c);
	c.n_secrets = 1;
	c.secrets = &ssp;
	c.user = (char *)(uintptr_t)TA_USER;
	c.device_id = (char *)(uintptr_t)device;
	c.revision = rev;
	c.issued_at = (int64_t)time(NULL);
	c.n_servers = 1;
	c.servers = &mp;
	plen = mcpfleet__v1__catalogue__get_packed_size(&c);
	buf = malloc(plen + 1);
	assert_non_null(buf);
	mcpfleet__v1__catalogue__pack(&c, buf);
	envelope_server_clear(&m);
	catalogue_clear(&cat);
	free(sealed);
	return ta_sign(f, f->signer, ENVELOPE_CATALOGUE, buf, plen, rev, len);
}

static void ta_push_key(struct ta_fixture *f, const uint8_t *key)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__DeviceKey k;
	char id[CRYPTO_HEX_LEN + 1];
	uint8_t *buf;
	size_t n;

	assert_int_equal(devsecret_key_id(key, id), 0);
	mcpfleet__v1__device_key__init(&k);
	k.key.data = (uint8_t *)(uintptr_t)key;
	k.key.len = DEVSECRET_KEY_LEN;
	k.key_id = id;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_DEVICE_KEY;
	fr.device_key = &k;
	n = mcpfleet__v1__server_frame__get_packed_size(&fr);
	buf = malloc(n);
	assert_non_null(buf);
	mcpfleet__v1__server_frame__pack(&fr, buf);
	ta_push(f, buf, n);
}

/* True when no file under dir holds needle. */
static bool ta_tree_lacks(const char *dir, const char *needle)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	bool ok = true;

	if (dp == NULL)
		return true;
	while (ok && (de = readdir(dp)) != NULL) {
		char *p;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = tu_path(dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			ok = ta_tree_lacks(p, needle);
		else if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			size_t n;
			char *text = tu_read(p, &n);

			ok = memmem(text, n, needle, strlen(needle)) == NULL;
			if (!ok)
				fprintf(stderr, "found in %s\n", p);
			free(text);
		}
		free(p);
	}
	closedir(dp);
	return ok;
}

static bool ta_calls_at_least(struct ta_fixture *f, size_t n)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;
	size_t have;

	do {
		pthread_mutex_lock(&f->core.mu);
		have = f->core.ncalls;
		pthread_mutex_unlock(&f->core.mu);
		if (have >= n)
			return true;
		tu_sleep_ms(10);
	} while (tu_now_ms() < deadline);
	return false;
}

/*
 * The whole launcher on one workstation: a sealed secret reaches the real
 * server and no file, the policy and the rate limit hold, the calls reach
 * the server exactly once, and a revision without the server ends the live
 * session within a second.
 */
static void test_agent_exec_session(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t key[DEVSECRET_KEY_LEN], *env;
	struct ta_exec x;
	char buf[256];
	json_t *j, *tools;
	size_t len, i;
	int64_t t0;
	int code;

	ta_enroll_ok(f, b);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	assert_int_equal(crypto_random(f->rng, key, sizeof(key)), 0);
	ta_push_key(f, key);
	env = ta_sealed_env(f, b->device_id, 1, key, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));

	ta_exec_start(b, "stub", &x);
	ta_exec_send(&x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                 "\"initialize\",\"params\":{}}");
	j = ta_exec_recv(&x);
	assert_non_null(json_object_get(j, "result"));
	json_decref(j);
	ta_exec_send(&x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
	                 "\"tools/list\"}");
	j = ta_exec_recv(&x);
	tools = json_object_get(json_object_get(j, "result"), "tools");
	assert_int_equal(json_array_size(tools), 4);
	for (i = 0; i < json_array_size(tools); i++)
		assert_string_not_equal(json_string_value(json_object_get(
		                            json_array_get(tools, i), "name")),
		                        "delete_repo");
	json_decref(j);
	/* The secret, opened by the agent, and the host's own variable. */
	assert_string_equal(ta_exec_call(&x, 3, "env", "{\"name\":\"TOKEN\"}",
	                                 buf, sizeof(buf)),
	                    "Bearer " TA_STUB_TOKEN);
	assert_string_equal(ta_exec_call(&x, 4, "env", "{\"name\":\"HOSTVAR\"}",
	                                 buf, sizeof(buf)),
	                    "from-the-host");
	assert_string_equal(
	    ta_exec_call(&x, 5, "delete_repo", "{}", buf, sizeof(buf)),
	    "error -32001");
	assert_string_equal(
	    ta_exec_call(&x, 6, "echo", "{\"text\":\"a\"}", buf, sizeof(buf)),
	    "a");
	assert_string_equal(
	    ta_exec_call(&x, 7, "echo", "{\"text\":\"b\"}", buf, sizeof(buf)),
	    "b");
	assert_string_equal(
	    ta_exec_call(&x, 8, "echo", "{\"text\":\"c\"}", buf, sizeof(buf)),
	    "error -32029");
	/* Six records, each once, with their outcomes. */
	assert_true(ta_calls_at_least(f, 6));
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 6);
	assert_string_equal(f->core.call_name[2], "delete_repo");
	assert_int_equal(f->core.call_outcome[2],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_DENIED);
	assert_int_equal(f->core.call_outcome[3],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_OK);
	assert_int_equal(f->core.call_outcome[5],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_RATE_LIMITED);
	pthread_mutex_unlock(&f->core.mu);
	/* No file of the workstation holds the secret's value. */
	assert_true(ta_tree_lacks(b->home, TA_STUB_TOKEN));

	/* A revision without the server ends the session within 1 s. */
	env = ta_catalogue_env(f, b->device_id, 2, TA_EXEC_EMPTY, &len);
	t0 = tu_now_ms();
	ta_push_env(f, env, len);
	code = ta_exec_wait(&x, 1000);
	assert_int_equal(code, EXEC_EXIT_UNKNOWN);
	assert_true(tu_now_ms() - t0 <= 1000);
	ta_exec_end(&x);
	/* And a new launcher refuses, saying why. */
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_UNKNOWN);
	{
		size_t n;
		char *p = tu_path(b->home, "exec.err"), *err = tu_read(p, &n);

		assert_non_null(strstr(err, "is not in the fleet catalogue"));
		free(err);
		free(p);
	}
	ta_exec_end(&x);
}

/* Revocation: the live session ends within 1 s, and no launcher starts
 * again; with the agent stopped, a server with secrets is refused. */
static void test_agent_exec_revoked(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t key[DEVSECRET_KEY_LEN], *env, *payload;
	struct ta_exec x;
	json_t *j;
	size_t len, plen;
	int64_t t0;

	ta_enroll_ok(f, b);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	assert_int_equal(crypto_random(f->rng, key, sizeof(key)), 0);
	ta_push_key(f, key);
	env = ta_sealed_env(f, b->device_id, 1, key, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));

	/* The agent stopped: a server whose secrets it holds is refused. */
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_NO_AGENT);
	ta_exec_end(&x);

	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 2));
	ta_exec_start(b, "stub", &x);
	ta_exec_send(&x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                 "\"initialize\",\"params\":{}}");
	j = ta_exec_recv(&x);
	json_decref(j);
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	t0 = tu_now_ms();
	ta_push_env(f, env, len);
	assert_int_equal(ta_exec_wait(&x, 1000), EXEC_EXIT_REVOKED);
	assert_true(tu_now_ms() - t0 <= 1000);
	ta_exec_end(&x);
	assert_int_equal(ta_agent_join(b), EXIT_REVOKED);
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_REVOKED);
	ta_exec_end(&x);
	/* The data key went with the enrollment. */
	{
		char *p = tu_path(b->mfhome, ENROLLMENT_DATAKEY);

		assert_false(fileio_exists(p));
		free(p);
	}
}

#define TA_EXEC_PLAIN                                                          \
	"{\"version\":1,\"servers\":{\"stub\":{\"command\":\"" TA_MCP_STUB     \
	"\"}}}"

/*
 * A server without secrets runs with the agent stopped (from the verified
 * catalogue.pb); its calls are held, and reach the server once the agent
 * runs again, once each.
 */
static void test_agent_exec_held_calls(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_exec x;
	char buf[64];
	uint8_t *env;
	json_t *j;
	size_t len;

	ta_enroll_ok(f, b);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 1, TA_EXEC_PLAIN, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	assert_int_equal(ta_agent_stop(b), EXIT_OK);

	ta_exec_start(b, "stub", &x);
	ta_exec_send(&x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                 "\"initialize\",\"params\":{}}");
	j = ta_exec_recv(&x);
	assert_non_null(json_object_get(j, "result"));
	json_decref(j);
	assert_string_equal(
	    ta_exec_call(&x, 2, "echo", "{\"text\":\"a\"}", buf, sizeof(buf)),
	    "a");
	assert_string_equal(
	    ta_exec_call(&x, 3, "echo", "{\"text\":\"b\"}", buf, sizeof(buf)),
	    "b");
	ta_exec_end(&x);
	{
		char *p = tu_path(b->mfhome, SPOOL_HELD_FILE);

		assert_true(fileio_exists(p));
		free(p);
	}
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 0);
	pthread_mutex_unlock(&f->core.mu);

	ta_agent_start(b);
	assert_true(ta_calls_at_least(f, 2));
	tu_sleep_ms(300); /* nothing more comes */
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 2);
	assert_string_equal(f->core.call_name[0], "echo");
	assert_int_equal(f->core.call_outcome[1],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_OK);
	pthread_mutex_unlock(&f->core.mu);
}

/* A fleet server's default is the launcher: every host file holds
 * "mcpfleet exec NAME" and nothing of the server's own (docs/design.md, "Edge
 * launcher"). */
static void test_agent_launcher_entries(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t *env;
	size_t len;
	char *out = NULL, *err = NULL, *text, self[4096];
	char *argv[] = {"sync"};
	json_t *j, *e;

	ta_enroll_local(f, b);
	env = ta_catalogue_env(f, "dev-local", 3, TA_LAUNCHED, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
	/* No "cannot be enforced" warning: the launcher enforces it. */
	assert_null(strstr(err, "enforced"));
	free(out);
	free(err);
	assert_int_equal(sync_self_path(self, sizeof(self)), 0);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "t0ken"));
	assert_null(strstr(text, "fs-server"));
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	e = json_object_get(json_object_get(j, "mcpServers"), "gh");
	assert_string_equal(json_string_value(json_object_get(e, "command")),
	                    self);
	assert_int_equal(json_array_size(json_object_get(e, "args")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 0)),
	    "exec");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 1)),
	    "gh");
	assert_null(json_object_get(e, "url"));
	assert_null(json_object_get(e, "headers"));
	assert_null(json_object_get(e, "env"));
	e = json_object_get(json_object_get(j, "mcpServers"), "fs");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 1)),
	    "fs");
	json_decref(j);
	free(text);
	/* Droid can filter tools, but a launcher entry carries no filter. */
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_null(strstr(text, "disabledTools"));
	assert_non_null(strstr(text, "\"exec\""));
	free(text);
}

static void test_agent_catalogue_tamper_rejected(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct catalogue cat = {0};
	struct diag d;
	uint64_t rev = 0;
	uint8_t *env, *hit;
	size_t len;
	char *out = NULL, *err = NULL, *text;
	char *argv[] = {"sync"};

	ta_enroll_local(f, b);
	/* Not there yet: a sync has no fleet part. */
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_NOENT);
	env = ta_catalogue_env(f, "dev-local", 3, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d), 0);
	assert_int_equal(rev, 3);
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.servers[0].name, "gh");
	catalogue_clear(&cat);
	/* A sync renders it. */
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(text);
	assert_non_null(strstr(text, "gh.example"));
	free(text);

	/* One byte of the URL changed: rejected, and nothing written. */
	hit = memmem(env, len, "gh.example", 10);
	assert_non_null(hit);
	hit[0] = 'x';
	ta_write_pb(b, env, len);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "catalogue.pb: rejected"));
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_CONFIG);
	assert_non_null(strstr(err, "catalogue.pb: rejected"));
	assert_non_null(strstr(err, "nothing was written"));
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "xh.example"));
	free(text);
	free(env);

	/* Validly signed, but for another device. */
	env = ta_catalogue_env(f, "dev-someone", 4, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "dev-someone"));

	/* Validly signed by someone else. */
	{
		size_t plen;
		uint8_t *p = ta_catalogue_payload(TA_USER, "dev-local", 5,
		                                  TA_FLEET, &plen);

		env =
		    ta_sign(f, f->rogue, ENVELOPE_CATALOGUE, p, plen, 5, &len);
		ta_write_pb(b, env, len);
		free(env);
		assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
		                 -ERR_VERIFY);
	}

	/* An older revision than the one applied: a rollback. */
	env = ta_catalogue_env(f, "dev-local", 2, TA_OLD, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "rollback"));
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_CONFIG);
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	free(text);
}

/* ---- mcpfleet run ---- */

static void test_agent_run_apply_replay_drift(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_report r;
	struct stat st1, st2;
	char *text, *log, *pb;
	uint8_t *env, *keep;
	size_t len, keep_len;
	int i, reports;

	ta_enroll_ok(f, b);
	/* Drift below is seen through inotify, long before a re-check. */
	b->ao.recheck_ms = 60000;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	pthread_mutex_lock(&f->core.mu);
	assert_string_equal(f->core.hello_device, b->device_id);
	assert_int_equal(f->core.hello_revision, 0);
	assert_non_null(strstr(f->core.hello_hosts, "cursor"));
	assert_non_null(strstr(f->core.hello_hosts, "droid"));
	assert_null(strstr(f->core.hello_hosts, "codex"));
	pthread_mutex_unlock(&f->core.mu);

	/* Revision 5 is applied and reported. */
	env = ta_catalogue_env(f, b->device_id, 5, TA_FLEET, &len);
	keep = malloc(len);
	memcpy(keep, env, len);
	keep_len = len;
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 5);
	i = ta_report_host(&r, "cursor");
	assert_int_equal(r.status[i],
	                 MCPFLEET__V1__HOST_STATUS__HOST_STATUS_OK);
	assert_string_equal(r.managed[i], "gh");
	assert_false(r.drift[i]);
	i = ta_report_host(&r, "codex");
	assert_int_equal(r.status[i],
	                 MCPFLEET__V1__HOST_STATUS__HOST_STATUS_ABSENT);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "Bearer s3cret"));
	free(text);
	pb = tu_path(b->mfhome, "catalogue.pb");
	assert_int_equal(stat(pb, &st1), 0);
	assert_int_equal(st1.st_mode & 0777, 0600);

	/* The same envelope again, then an older revision: both ignored,
	 * nothing written. Revision 6 then shows they were processed. */
	ta_push_env(f, keep, keep_len);
	env = ta_catalogue_env(f, b->device_id, 4, TA_OLD, &len);
	ta_push_env(f, env, len);
	tu_sleep_ms(50);
	assert_int_equal(ta_get(f, &f->core.reports), 1);
	assert_int_equal(stat(pb, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	free(text);
	env = ta_catalogue_env(f, b->device_id, 6, TA_FLEET2, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 2));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 6);
	assert_string_equal(r.managed[ta_report_host(&r, "cursor")], "gh,jira");
	log = ta_log(b);
	assert_non_null(strstr(log, "ignored catalogue revision 5"));
	assert_non_null(strstr(log, "ignored catalogue revision 4"));
	free(log);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	assert_non_null(strstr(text, "jira.example"));
	assert_null(strstr(text, "Bearer s3cret"));
	free(text);

	/* Ping, pong. */
	{
		Mcpfleet__V1__ServerFrame fr;
		Mcpfleet__V1__Ping ping;
		uint8_t *buf;
		size_t n;

		mcpfleet__v1__server_frame__init(&fr);
		mcpfleet__v1__ping__init(&ping);
		ping.nonce = 0xfeedULL;
		fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_PING;
		fr.ping = &ping;
		n = mcpfleet__v1__server_frame__get_packed_size(&fr);
		buf = malloc(n);
		mcpfleet__v1__server_frame__pack(&fr, buf);
		ta_push(f, buf, n);
		assert_true(ta_wait(f, &f->core.pongs, 1));
		pthread_mutex_lock(&f->core.mu);
		assert_int_equal(f->core.pong_nonce, 0xfeedULL);
		pthread_mutex_unlock(&f->core.mu);
	}

	/* Garbage is logged and ignored. */
	{
		uint8_t *junk = malloc(4);

		memcpy(junk, "\xff\xff\xff\xff", 4);
		ta_push(f, junk, 4);
	}

	/* Someone removes the managed entries from a host: the agent puts
	 * them back and reports drift. */
	reports = ta_get(f, &f->core.reports);
	text = tu_path(b->home, ".cursor/mcp.json");
	tu_write(text, "{\"mcpServers\": {}}\n", 19);
	free(text);
	assert_true(ta_wait(f, &f->core.reports, reports + 1));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 6);
	assert_true(r.drift[ta_report_host(&r, "cursor")]);
	assert_false(r.drift[ta_report_host(&r, "droid")]);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "jira.example"));
	free(text);

	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	log = ta_log(b);
	assert_non_null(strstr(log, "not a ServerFrame"));
	free(log);
	/* agent.status says it stopped; status prints the revision. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"status"};

		assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
		assert_non_null(strstr(out, b->device_id));
		assert_non_null(strstr(out, "revision   6"));
		assert_non_null(strstr(out, "not running"));
		/* The drift repaired above is the last one. */
		assert_non_null(strstr(out, "last drift"));
		assert_non_null(strstr(out, ": cursor repaired"));
		free(out);
		free(err);
	}
	free(pb);
}

static void test_agent_run_recheck_reconnects(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_report r;
	char *p, *text;
	uint8_t *env;
	size_t len;

	ta_enroll_ok(f, b);
	/* No inotify here: the periodic re-check finds the drift. */
	b->ao.no_watch = true;
	b->ao.recheck_ms = 300;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 9, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	p = tu_path(b->home, ".factory/mcp.json");
	tu_write(p, "{\"mcpServers\": {\"own\": {\"command\": \"x\"}}}\n", 42);
	free(p);
	assert_true(ta_wait(f, &f->core.reports, 2));
	r = ta_last_report(f);
	assert_true(r.drift[ta_report_host(&r, "droid")]);
	assert_false(r.drift[ta_report_host(&r, "cursor")]);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "\"own\""));
	free(text);
	/* The server goes away; the agent comes back, saying what it has. */
	pthread_mutex_lock(&f->core.mu);
	f->core.close_after = true;
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);
	assert_true(ta_wait(f, &f->core.hellos, 2));
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.hello_revision, 9);
	pthread_mutex_unlock(&f->core.mu);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
}

static void test_agent_run_revocation(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *text, *log, *p;
	uint8_t *env, *payload;
	size_t len, plen;

	ta_enroll_ok(f, b);
	p = tu_path(b->mfhome, "mcp.json");
	tu_write(p, TA_PERSONAL, strlen(TA_PERSONAL));
	free(p);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 1, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);

	/* A revocation signed by another key, and one without a signature:
	 * ignored. */
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env = ta_sign(f, f->rogue, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	ta_push_env(f, env, len);
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	{
		Mcpfleet__V1__SignedEnvelope *e =
		    mcpfleet__v1__signed_envelope__unpack(NULL, len, env);
		size_t flen;
		uint8_t *frame;
		Mcpfleet__V1__ServerFrame fr;

		assert_non_null(e);
		e->signature.len = 0;
		mcpfleet__v1__server_frame__init(&fr);
		fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE;
		fr.envelope = e;
		flen = mcpfleet__v1__server_frame__get_packed_size(&fr);
		frame = malloc(flen);
		mcpfleet__v1__server_frame__pack(&fr, frame);
		mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
		free(env);
		ta_push(f, frame, flen);
	}
	/* A revocation for another device of the same user. */
	payload = ta_revocation_payload(TA_USER, "dev-other-laptop", 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	ta_push_env(f, env, len);
	/* Revision 2 proves the agent is still serving. */
	env = ta_catalogue_env(f, b->device_id, 2, TA_FLEET2, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 2));
	assert_true(enrollment_exists(b->mfhome));
	assert_true(ta_exists(b->mfhome, "device.key"));
	log = ta_log(b);
	assert_non_null(
	    strstr(log, "ignored a revocation envelope that does not verify"));
	free(log);

	/* The real one. */
	payload = ta_revocation_payload(TA_USER, b->device_id, 3, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 3, &len);
	ta_push_env(f, env, len);
	assert_int_equal(ta_agent_join(b), EXIT_REVOKED);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "jira.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);
	assert_false(ta_exists(b->mfhome, "device.key"));
	assert_false(ta_exists(b->mfhome, "device.crt"));
	assert_false(ta_exists(b->mfhome, "enrollment.json"));
	assert_false(ta_exists(b->mfhome, "catalogue.pb"));
	assert_true(ta_exists(b->mfhome, "mcp.json"));
	log = ta_log(b);
	assert_non_null(strstr(log, "revoked"));
	assert_non_null(strstr(log, "laptop lost"));
	free(log);
	/* The next run knows it is not enrolled. */
	assert_int_equal(agent_run(&b->ao), EXIT_NOT_ENROLLED);
}

static void test_agent_unenroll(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *out = NULL, *err = NULL, *text, *p;
	char *sync[] = {"sync"}, *unenroll[] = {"unenroll"};
	uint8_t *env;
	size_t len;
	struct agent_state st = {0};
	struct diag d;

	ta_enroll_local(f, b);
	p = tu_path(b->mfhome, "mcp.json");
	tu_write(p, TA_PERSONAL, strlen(TA_PERSONAL));
	free(p);
	env = ta_catalogue_env(f, "dev-local", 7, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(ta_cli(b, &out, &err, 1, sync), EXIT_OK);
	free(out);
	free(err);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);

	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_OK);
	assert_non_null(strstr(out, "unenrolled dev-local"));
	free(out);
	free(err);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(ta_exists(b->mfhome, "catalogue.pb"));
	p = tu_path(b->mfhome, "state.json");
	assert_int_equal(state_load(p, &st, &d), 0);
	assert_int_equal(st.revision, 0);
	state_clear(&st);
	free(p);

	/* Twice: not enrolled. */
	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_NOT_ENROLLED);
	assert_non_null(strstr(err, "not enrolled"));
	free(out);
	free(err);
	/* run says the same. */
	assert_int_equal(agent_run(&b->ao), EXIT_NOT_ENROLLED);
}

static void test_agent_unenroll_while_running(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *out = NULL, *err = NULL, *text;
	char *unenroll[] = {"unenroll"};
	uint8_t *env;
	size_t len;

	ta_enroll_ok(f, b);
	b->ao.recheck_ms = 100;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 3, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	/* The agent re-checks every 100 ms: it must not put the entries
	 * back, and it stops by itself. */
	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_OK);
	free(out);
	free(err);
	assert_int_equal(ta_agent_join(b), EXIT_NOT_ENROLLED);
	tu_sleep_ms(250);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_true(text == NULL || strstr(text, "gh.example") == NULL);
	free(text);
	assert_true(ta_no_enrollment_files(b->mfhome));
}

static void test_agent_backoff(void **state)
{
	unsigned i, d;

	(void)state;
	assert_int_equal(agent_backoff_ms(0, 1000, 60000, 0), 500);
	assert_int_equal(agent_backoff_ms(0, 1000, 60000, 0x80000000u), 1000);
	assert_true(agent_backoff_ms(0, 1000, 60000, 0xffffffffu) < 1500);
	assert_int_equal(agent_backoff_ms(1, 1000, 60000, 0x80000000u), 2000);
	assert_int_equal(agent_backoff_ms(5, 1000, 60000, 0x80000000u), 32000);
	for (i = 6; i < 40; i++) {
		d = agent_backoff_ms(i, 1000, 60000, 0x80000000u);
		assert_int_equal(d, 60000);
		assert_true(agent_backoff_ms(i, 1000, 60000, 0) >= 30000);
		assert_true(agent_backoff_ms(i, 1000, 60000, 0xffffffffu) <
		            90000);
	}
	/* After a lost connection: spread over ten times the first delay. */
	assert_int_equal(agent_respread_ms(1000, 0), 500);
	assert_int_equal(agent_respread_ms(1000, 0x80000000u), 5500);
	d = agent_respread_ms(1000, 0xffffffffu);
	assert_true(d >= 10400 && d < 10500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_backoff),
	    cmocka_unit_test_setup_teardown(test_agent_link_bad, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_ok, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_refused, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_bad_answer,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_atomic, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_agent_catalogue_tamper_rejected, ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_launcher_entries,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_exec_session, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_exec_held_calls,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_exec_revoked, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_apply_replay_drift,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_recheck_reconnects,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_revocation, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_unenroll, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_unenroll_while_running,
	                                    ta_setup, ta_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, ta_group_setup, ta_group_teardown);
}
