/* SPDX-License-Identifier: MIT */
/* mcpfleetd's core: the state shared by the service thread (the hub) and
 * the core thread (store, crypto, admin API, enrollment). */
#ifndef MCPFLEET_CORE_H
#define MCPFLEET_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "net.h"
#include "pki.h"
#include "publish.h"
#include "replicas.h"
#include "store.h"

/*
 * Threads. The service thread runs net_run() and every net callback: the
 * hub (hub.c) keeps the agent connections. The core thread (core.c) owns a
 * store connection and does everything that touches the store or signs:
 * admin API requests and enrollments (deferred by the hub with NET_DEFER),
 * sync reports and delivery records (queued by the hub), and each new
 * revision. The two meet only in struct core's locked mailbox:
 *
 *   hub -> core   jobs (core_submit_*), a queue with a condition variable;
 *   core -> hub   the newest publication, the devices to kick, and the
 *                 device directory, followed by net_wake().
 */

/* One device as the hub needs to know it during a TLS handshake. */
struct core_device {
	char *serial; /* certificate serial, lowercase hex */
	char *id;
	char *user;
	bool revoked;
	uint8_t *revocation; /* packed signed revocation, when revoked */
	size_t revocation_len;
};

/* Every device, sorted by serial. The core thread alone changes it, under
 * mu: an enrolled device is inserted (core_dir_add() in core.c), and a
 * revocation replaces the whole directory, rebuilt from the store. */
struct core_dir {
	struct core_device *v;
	size_t n;
	size_t cap; /* room in v */
	atomic_int refs;
};

/* A publication shared by both threads. */
struct core_pub {
	struct publication *p;
	atomic_int refs;
	uint64_t published_ns; /* core_now_ns() when it was made or taken */
	/* When p is the revision base plus the devices added (publish_add()),
	 * and base is the one the hub holds, only those may have news. */
	uint64_t base; /* 0: every device's view was built anew */
	char **added;
	size_t nadded;
};

struct session_table;

/* A device's call records are stored up to through: its CallAck. */
struct core_ack {
	char *device_id;
	uint64_t through;
};
/* A frame for one device's connection: a packed ServerFrame (a
 * RenewResponse). */
struct core_frame {
	char *device_id;
	uint8_t *data;
	size_t len;
};
struct core_job;
struct hub;
struct metrics;
struct live;
struct api_ctx;

struct core {
	/* Fixed once serving. */
	char *data_dir;
	struct pki pki;
	struct pki_conf conf;
	struct crypto_rng *rng;
	struct net *net;
	int verbose;
	char agent_address[REPLICAS_ADDR_MAX + 1]; /* this replica's */
	/* GET /metrics (metrics.h): the registry, whose atomics any thread
	 * adds to, its route of each API route (api_route_get()) and of the
	 * other paths, and the scrape token of metrics_token_file (NULL:
	 * none). */
	struct metrics *metrics;
	size_t *route_slot;
	size_t slot_enroll, slot_healthz, slot_metrics, slot_oidc, slot_scim,
	    slot_console, slot_other;
	char *metrics_token;

	/* Core thread only. */
	struct store *st;
	struct enroll_limiter *limiter;
	struct session_table *sessions; /* the web console's, in memory */
	/* Bounds the audit rows of calls refused for their role (api.h). */
	struct enroll_limiter *refusals;
	struct oidc *oidc; /* console sign-in with OpenID Connect, or NULL */
	/* The console's live events (live.h): marked from both threads,
	 * sent from this one. */
	struct live *live;
	struct core_pub *pub; /* the newest revision (the core's reference) */
	bool dirty;           /* a change awaits its revision */
	char **added;         /* devices enrolled since, awaiting theirs */
	size_t nadded;
	/* The replica set (docs/design.md, "Replicas: the agents' side"): the
	 * agent addresses of every replica heard of lately, this one's always
	 * among them, and when this one next says it is alive (Unix seconds).
	 */
	struct store_id_list replicas;
	int64_t next_beat;
	int64_t beats_fast_until; /* Unix seconds: see core_replicas_beat() */
	pthread_t thread;
	bool thread_started;
	/* The provider calls of console sign-ins (oidc_provider()), on a
	 * thread of their own so that a slow provider holds neither the API
	 * nor publishing: the core hands it the exchange's job, and it hands
	 * the job back. Its queue is under oidc_mu. */
	pthread_t oidc_thread;
	bool oidc_started;
	pthread_mutex_t oidc_mu;
	pthread_cond_t oidc_cv;
	struct core_job *oidc_head, *oidc_tail;
	bool oidc_stop;
	/* Replicas (docs/design.md, "Replicas"): a shared store, the
	 * newest revision read from it, and the thread that listens. */
	bool shared;
	int64_t synced;
	bool sync_retry; /* the last catch-up failed: again in a second */
	struct replica *replica;
	char *store_backend;
	char *store_path;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct core_job *jobs_head;
	struct core_job *jobs_tail;
	size_t njobs;
	bool stop;
	struct core_pub *pending_pub; /* for the hub to take */
	char **kicks;                 /* device ids revoked, for the hub */
	size_t nkicks;
	struct core_ack *acks; /* call batches stored, for the hub */
	size_t nacks;
	struct core_frame *frames; /* renewals' answers, for the hub */
	size_t nframes;
	struct core_dir *dir;
	struct core_online *online; /* connected devices, sorted by id */
	size_t nonline;
	uint8_t *replicas_frame; /* a packed ServerFrame, for the hub */
	size_t replicas_frame_len;
	/* What other replicas committed, as their notifications said
	 * (core_remote_changed()), or remote_all: read everything. */
	char **remote_notes;
	size_t nremote_notes;
	bool remote_all;

	/* Service thread only. */
	struct hub *hub;
};

/* ---- Logging (the daemon's one log, to stderr) ---- */

#define CORE_LOG_ERR  0
#define CORE_LOG_WARN 1
#define CORE_LOG_INFO 2

void core_log(const struct core *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A monotonic clock in nanoseconds, for the metrics' durations. */
uint64_t core_now_ns(void);

/* ---- Life cycle ---- */

/*
 * Loads the data directory (configuration, key material, store), builds
 * the device directory and a first revision, and creates the network
 * service on the configured ports (listen/agent_port/api_port override the
 * configuration when not NULL / not -1). Returns 0 or a negative code with
 * d naming the file or port and the reason.
 */
int core_open(struct core *c, const char *data_dir, const char *listen,
              int agent_port, int api_port, struct diag *d);

/* Starts the core thread, then runs the service loop until core_stop().
 * Returns 0 or a negative code. */
int core_run(struct core *c);

/* Makes core_run() return. Async-signal-safe. */
void core_stop(struct core *c);

/* Frees everything core_open() made. */
void core_close(struct core *c);

/* The API's context for the core thread's store and hooks (the one
 * api_handle() gets). Core thread. */
void core_api_ctx(struct core *c, struct api_ctx *a);

/* ---- Mailbox (both threads) ---- */

/* A connected device, as the API shows it. */
struct core_online {
	char *id;
	int64_t since;
	int count; /* connections: a replaced one may linger a moment */
};

/* Hub -> core: a device's connection opened (up) or closed. */
void core_online_set(struct core *c, const char *device_id, int64_t since,
                     bool up);

/* Hub -> core: handle an API request or an enrollment; the core calls
 * net_respond(). */
void core_submit_exchange(struct core *c, struct net_exchange *ex,
                          const struct net_request *req,
                          struct net_response *resp);
/* Hub -> core: a device was seen (report_json may be NULL). */
void core_submit_touch(struct core *c, const char *device_id,
                       uint64_t applied_revision, char *report_json);
/* Hub -> core: secrets of revision reached device_id. */
void core_submit_delivery(struct core *c, const char *device_id,
                          uint64_t revision, const int64_t *secret_ids,
                          size_t n);

/* Replica thread -> core: a replica committed a change, payload its
 * notification (store_notify(): "device ID", "devices", "revision N",
 * "prune N"), or NULL when the listening connection was made again (read
 * everything). The core thread reads what changed from the store:
 * core_sync() in core.c. */
void core_remote_changed(struct core *c, const char *payload);

/* Core -> hub: takes the newest publication (a reference the caller
 * releases with core_pub_release()), or NULL when none is new. */
struct core_pub *core_take_pub(struct core *c);

/*
 * Stores a CallBatch's records of device_id on the core thread (taking v,
 * n records, and their strings); once stored, the hub gets an
 * acknowledgement through core_take_acks(). A refused batch is logged and
 * not acknowledged: the agent keeps it. dropped, the records the agent's
 * full spool dropped in total, is kept with the device.
 */
void core_submit_calls(struct core *c, const char *device_id,
                       struct store_call *v, size_t n, uint64_t dropped);
/* The acknowledgements waiting for the hub (caller frees each device_id,
 * then the array). Service thread. */
struct core_ack *core_take_acks(struct core *c, size_t *n);
/*
 * Renews the certificate of device_id, connected with the certificate
 * serial whose key is cert_key_id, on the core thread (renew_handle() with the
 * RenewRequest's device id and CSR, copied); the answer reaches the hub through
 * core_take_frames(). Not answered only when memory runs out: the agent
 * asks again later.
 */
void core_submit_renew(struct core *c, const char *device_id,
                       const char *serial, const char *cert_key_id,
                       const char *req_device_id, const uint8_t *csr,
                       size_t csr_len);
/* The frames waiting for the hub (caller frees each device_id and data,
 * then the array). Service thread. */
struct core_frame *core_take_frames(struct core *c, size_t *n);
/* Core -> hub: takes the replica set as a packed ServerFrame (a new
 * buffer the caller frees; *len its size) when it changed since the last
 * call, else NULL. */
uint8_t *core_take_replicas(struct core *c, size_t *len);
/* Core -> hub: takes the device ids to kick (caller frees each and the
 * array). */
char **core_take_kicks(struct core *c, size_t *n);
/* The device with this certificate serial, copied into *out (free with
 * core_device_clear()). Returns 0 or -ERR_NOENT. */
int core_dir_lookup(struct core *c, const char *serial,
                    struct core_device *out);
/* True when a device (active or revoked) has this certificate serial: the
 * TLS handshake's question, answered without copying anything. */
bool core_dir_known(struct core *c, const char *serial);
void core_device_clear(struct core_device *dev);

void core_pub_release(struct core_pub *p);

#endif
