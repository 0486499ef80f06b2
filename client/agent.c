/* SPDX-License-Identifier: MIT */
/* The workstation agent's fleet half: one connection to mcpfleetd, signed
 * catalogues in, sync reports out. */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include <jansson.h>

#include "agentsock.h"
#include "buf.h"
#include "certrenew.h"
#include "crypto.h"
#include "devsecret.h"
#include "enrollment.h"
#include "envelope.h"
#include "fileio.h"
#include "hostfile.h"
#include "jsonutil.h"
#include "netclient.h"
#include "personal.h"
#include "replicas.h"
#include "spool.h"
#include "state.h"
#include "sync.h"

#define AGENT_SLICE_MS      200  /* longest wait before looking at stop */
#define AGENT_DEBOUNCE_MS   300  /* let a host finish writing its file */
#define AGENT_CLOSE_WAIT_MS 1000 /* for our close frame to go out */
#define AGENT_WATCH_MAX     32
#define AGENT_FRAME_MAX     (ENVELOPE_MAX + 4096)
#define AGENT_ERROR_MAX     300
#define AGENT_DRIFT_MAX     256 /* the host ids of one drift */
#define AGENT_STATUS_MAX    (64u * 1024)
#define AGENT_CALLS_BATCH   500   /* records in one CallBatch */
#define AGENT_CALLS_RESEND  10000 /* ms without an ack: send again */

/* One watched file name: a host's config file, or mcp.json. */
struct agent_watch {
	int wd;
	char *name;
};

/* Everything "mcpfleet run" knows; one per run, passed explicitly. */
struct agent {
	const struct agent_opts *o;
	struct enrollment e;
	struct enrollment_creds creds;
	struct crypto_rng *rng;
	/* The replica set (replicas.json, or the enrolled server) and the
	 * one tried or connected to now; url is its wss:// URL. */
	struct enrollment_replicas reps;
	size_t cur;
	unsigned respread_ms; /* the replica's Replicas.respread_ms */
	struct buf url;
	char *enrollment_path;   /* the agent syncs only while it exists */
	struct netclient_ws *ws; /* open or opening; NULL between tries */
	struct catalogue fleet;  /* the last verified catalogue */
	bool have_fleet;
	uint64_t applied; /* the newest revision verified and taken */
	/* What agent.status says. */
	bool connected;
	int64_t since; /* Unix seconds of the last change of connected */
	char last_error[AGENT_ERROR_MAX];
	/* The last time hosts had to be repaired, and which. */
	int64_t drift_at;
	char drift_hosts[AGENT_DRIFT_MAX];
	/* Re-checks of the hosts. */
	int64_t next_check; /* monotonic ms */
	int64_t dirty_at;   /* monotonic ms; 0: no file event pending */
	int ino;            /* inotify descriptor, -1 without */
	struct agent_watch watches[AGENT_WATCH_MAX];
	size_t nwatches;
	/* The launchers: their socket, and the calls they audited. */
	struct agentsock *sock;
	struct spool *spool;
	uint64_t calls_inflight; /* the last seq of the batch awaiting its
	                            ack; 0: none */
	int64_t calls_sent_at;   /* monotonic ms */
	int64_t held_checked_at; /* monotonic ms: launchers' held records */
	int64_t offline_grace;   /* seconds, from the catalogue; 0: default */
	int64_t last_contact;    /* Unix seconds the server last spoke */
	/* The data key the secrets come sealed with (data.key). */
	uint8_t data_key[DEVSECRET_KEY_LEN];
	bool have_key;
	char data_key_id[CRYPTO_HEX_LEN + 1];
	bool revoked;
	/* Certificate renewal: the request out on this connection (its new
	 * key), when the certificate is due and when renewal may be tried
	 * again (Unix seconds). */
	struct certrenew renew;
	bool renew_sent;
	bool renewed; /* new credentials: reconnect with them */
	int64_t renew_at, renew_after, cert_not_after;
	size_t shown_sessions, shown_spooled; /* as agent.status last said */
	bool exited; /* agent_run is returning: agent.status says so */
	bool done;   /* stop serving: revoked or unenrolled */
	int code;    /* the exit code once done */
};

static void agent_log(const struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void agent_log(const struct agent *a, const char *fmt, ...)
{
	va_list ap;

	fputs("mcpfleet: ", a->o->err);
	va_start(ap, fmt);
	vfprintf(a->o->err, fmt, ap);
	va_end(ap);
	fputc('\n', a->o->err);
	fflush(a->o->err);
}

static int64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool agent_stopped(const struct agent *a)
{
	return a->done || (a->o->stop != NULL && atomic_load(a->o->stop) != 0);
}

static unsigned agent_opt(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

unsigned agent_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms,
                          uint32_t rnd)
{
	uint64_t base = min_ms;
	unsigned i;

	for (i = 0; i < attempt && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	/* base * (0.5 + rnd / 2^32): uniform over [base/2, 3*base/2). */
	return (unsigned)(base / 2 + ((base * (uint64_t)rnd) >> 32));
}

unsigned agent_respread_ms(unsigned min_ms, unsigned window_ms, uint32_t rnd)
{
	uint64_t span = (uint64_t)min_ms * AGENT_RESPREAD;

	if (window_ms > AGENT_RESPREAD_MAX)
		window_ms = AGENT_RESPREAD_MAX;
	if (window_ms > span)
		span = window_ms;

	return (unsigned)(min_ms / 2 + ((span * rnd) >> 32));
}

/* ---- agent.status ---- */

/* The last drift as agent.status and status --json show it, or null. */
static json_t *agent_drift_json(int64_t at, const char *hosts)
{
	if (at <= 0)
		return json_null();
	return json_pack("{s:I,s:s}", "at", (json_int_t)at, "hosts", hosts);
}

static void agent_status_write(struct agent *a)
{
	json_t *j;
	char *path = NULL, *text = NULL;
	size_t len;

	/* pid 0: no agent is running any more. */
	j = json_pack(
	    "{s:I,s:b,s:I,s:s?,s:s,s:s,s:I,s:I,s:o,s:b,s:I,s:I,s:I,"
	    "s:I}",
	    "pid", (json_int_t)(a->exited ? 0 : getpid()), "connected",
	    a->connected, "since", (json_int_t)a->since, "last_error",
	    a->last_error[0] ? a->last_error : NULL, "server",
	    a->url.data ? a->url.data : "", "device_id", a->e.device_id,
	    "revision", (json_int_t)a->applied, "updated_at",
	    (json_int_t)time(NULL), "last_drift",
	    agent_drift_json(a->drift_at, a->drift_hosts), "revoked",
	    a->revoked, "last_contact", (json_int_t)a->last_contact,
	    "offline_grace",
	    (json_int_t)(a->offline_grace > 0 ? a->offline_grace
	                                      : AGENTSOCK_GRACE_DEFAULT),
	    "sessions", (json_int_t)(a->sock ? agentsock_sessions(a->sock) : 0),
	    "calls_spooled",
	    (json_int_t)(a->spool ? spool_count(a->spool) : 0));
	if (j != NULL && a->reps.n > 0)
		json_object_set_new(j, "replica",
		                    json_string(a->reps.v[a->cur]));
	if (j == NULL ||
	    (path = fileio_join(a->o->home, AGENT_STATUS_FILE)) == NULL ||
	    (text = jsonutil_dump_pretty(j, &len)) == NULL)
		goto out;
	/* Only for "mcpfleet status": a failure costs a stale display. */
	(void)fileio_write_atomic(path, text, len, 0600, FILEIO_FORCE_MODE);
out:
	free(text);
	free(path);
	json_decref(j);
}

static void agent_set_connected(struct agent *a, bool connected)
{
	if (a->connected != connected || a->since == 0) {
		a->connected = connected;
		a->since = (int64_t)time(NULL);
	}
	if (connected)
		a->last_error[0] = '\0';
	agent_status_write(a);
}

/* Records (and logs) why the agent is not connected. */
static void agent_set_error(struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void agent_set_error(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
	va_end(ap);
	agent_log(a, "%s", a->last_error);
	agent_status_write(a);
}

/* ---- The verified catalogue ---- */

/* Reads and verifies catalogue.pb; see agent_fleet_load. */
/* The fleet's settings a catalogue carries (mcpfleetd.conf). */
struct agent_settings {
	int64_t offline_grace;   /* seconds; 0: the default */
	uint64_t call_spool_max; /* bytes; 0: the default */
};

static void agent_settings_of(const Mcpfleet__V1__Catalogue *c,
                              struct agent_settings *out)
{
	out->offline_grace =
	    c->offline_grace_secs > 0 ? c->offline_grace_secs : 0;
	out->call_spool_max = c->call_spool_max;
}

static int agent_fleet_verify(const char *home, const struct enrollment *e,
                              struct crypto_key *signer, struct catalogue *out,
                              uint64_t *revision, struct agent_settings *set,
                              struct diag *d)
{
	struct envelope_opened op = {0};
	struct agent_state st = {0};
	struct catalogue cat = {0};
	struct diag inner;
	char *path = NULL, *state_path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	diag_clear(&inner);
	if ((path = fileio_join(home, ENROLLMENT_CATALOGUE)) == NULL ||
	    (state_path = fileio_join(home, "state.json")) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	r = fileio_read(path, ENVELOPE_MAX, &data, &len);
	if (r == -ERR_NOENT) {
		r = diag_set(d, ERR_NOENT, 0, 0,
		             "%s: no fleet catalogue has arrived yet", path);
		goto out;
	}
	if (r != 0) {
		r = diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		             r == -ERR_IO ? strerror(errno) : err_str(r));
		goto out;
	}
	if ((r = envelope_open((const uint8_t *)data, len, signer, e->user,
	                       e->device_id, &op, &inner)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: rejected: %s", path, inner.msg);
		goto out;
	}
	if (op.kind != ENVELOPE_CATALOGUE) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "%s: rejected: it holds a revocation, not a "
		             "catalogue",
		             path);
		goto out;
	}
	if ((r = envelope_catalogue_model(op.catalogue, &cat, &inner)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: rejected: %s", path, inner.msg);
		goto out;
	}
	if ((r = state_load(state_path, &st, d)) != 0)
		goto out;
	if (op.revision < st.revision) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "%s: rejected: revision %llu is older than the "
		             "applied revision %llu (a rollback)",
		             path, (unsigned long long)op.revision,
		             (unsigned long long)st.revision);
		goto out;
	}
	*out = cat;
	*revision = op.revision;
	if (set != NULL)
		agent_settings_of(op.catalogue, set);
	memset(&cat, 0, sizeof(cat));
out:
	catalogue_clear(&cat);
	envelope_opened_clear(&op);
	state_clear(&st);
	free(data);
	free(state_path);
	free(path);
	return r;
}

/*
 * What the hosts get of the fleet catalogue: every server as it is (a
 * launcher entry needs none of its secrets), but a "direct" server, which
 * the host runs itself, with its secrets opened, as the fleet asked; one
 * whose secrets cannot be opened is left out with a warning on err.
 */
static int agent_fleet_hosts(const struct catalogue *fleet, const uint8_t *key,
                             const char *device_id, struct catalogue *out,
                             FILE *err)
{
	struct catalogue c = {0};
	struct diag d;
	size_t i;
	int r;

	for (i = 0; i < fleet->n; i++) {
		const struct server *s = &fleet->servers[i];
		struct server x;

		if (server_via_launcher(s) || !server_has_secrets(s))
			r = server_copy(s, &x);
		else if (key == NULL) {
			fprintf(err,
			        "mcpfleet: warning: server %s left out: its "
			        "secrets need the data key, which the fleet "
			        "server has not sent yet\n",
			        s->name);
			continue;
		} else if ((r = devsecret_fill(s, key, device_id, &x, &d)) ==
		           -ERR_VERIFY) {
			fprintf(err, "mcpfleet: warning: %s; left out\n",
			        d.msg);
			continue;
		}
		if (r != 0 || (r = catalogue_put(&c, &x)) != 0) {
			server_wipe(&x);
			catalogue_clear(&c);
			return -ERR_NOMEM;
		}
	}
	*out = c;
	return 0;
}

int agent_fleet_load(const char *home, struct catalogue *out,
                     uint64_t *revision, struct diag *d)
{
	struct catalogue sealed = {0};
	uint8_t key[DEVSECRET_KEY_LEN];
	bool have_key;
	struct enrollment e;
	struct crypto_key *signer = NULL;
	struct diag inner;
	char *path = NULL, *pem = NULL;
	size_t len = 0;
	int r;

	diag_clear(&inner);
	if ((r = enrollment_load(home, &e, d)) != 0)
		goto out;
	if ((path = fileio_join(home, ENROLLMENT_SIGNER)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = fileio_read(path, CRYPTO_PEM_MAX, &pem, &len)) != 0) {
		/* Enrolled without a signing key: nothing can verify. */
		r = diag_set(d, r == -ERR_NOENT ? ERR_INVALID : r, 0, 0,
		             "%s: cannot read (%s)", path,
		             r == -ERR_IO ? strerror(errno) : err_str(r));
		goto out;
	}
	if ((r = crypto_key_load_public(pem, len, &signer, &inner)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", path, inner.msg);
		goto out;
	}
	r = agent_fleet_verify(home, &e, signer, &sealed, revision, NULL, d);
	if (r != 0)
		goto out;
	have_key = enrollment_data_key_load(home, key, NULL) == 0;
	if (agent_fleet_hosts(&sealed, have_key ? key : NULL, e.device_id, out,
	                      stderr) != 0)
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
out:
	explicit_bzero(key, sizeof(key));
	catalogue_clear(&sealed);
	crypto_key_free(signer);
	free(pem);
	free(path);
	return r;
}

/* ---- Frames to the server ---- */

static void agent_send(struct agent *a, const Mcpfleet__V1__AgentFrame *f)
{
	uint8_t *buf;
	size_t len;

	if (a->ws == NULL || netclient_ws_state(a->ws) != NETCLIENT_WS_OPEN)
		return;
	len = mcpfleet__v1__agent_frame__get_packed_size(f);
	if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
		agent_log(a, "out of memory: a frame to the server was "
		             "dropped");
		return;
	}
	mcpfleet__v1__agent_frame__pack(f, buf);
	if (netclient_ws_send(a->ws, buf, len) != 0)
		agent_log(a,
		          "a frame to the server could not be queued (%zu "
		          "bytes)",
		          len);
	free(buf);
}

static void agent_hello(struct agent *a)
{
	Mcpfleet__V1__AgentFrame f;
	Mcpfleet__V1__Hello h;
	char **present;
	size_t i;

	/* The generated INIT macros cast away const; the functions do not. */
	mcpfleet__v1__agent_frame__init(&f);
	mcpfleet__v1__hello__init(&h);
	if ((present = calloc(adapter_count, sizeof(*present))) == NULL) {
		agent_log(a, "out of memory: no hello sent");
		return;
	}
	for (i = 0; i < adapter_count; i++) {
		struct host_location loc = {0};
		struct diag d;

		if (adapter_registry[i]->locate(a->o->env, &loc, &d) == 0 &&
		    loc.present)
			present[h.n_hosts_present++] =
			    (char *)(uintptr_t)adapter_registry[i]->id;
		host_location_clear(&loc);
	}
	/* protobuf-c's message structs are not const-correct. */
	h.device_id = a->e.device_id;
	h.applied_revision = a->applied;
	h.hosts_present = present;
	h.agent_version = (char *)(uintptr_t)AGENT_VERSION;
	h.data_key_id = a->have_key ? a->data_key_id : (char *)(uintptr_t) "";
	f.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_HELLO;
	f.hello = &h;
	agent_send(a, &f);
	free(present);
}

static Mcpfleet__V1__HostStatus agent_host_status(enum host_status s)
{
	switch (s) {
	case HOST_OK:
		return MCPFLEET__V1__HOST_STATUS__HOST_STATUS_OK;
	case HOST_BLOCKED:
		return MCPFLEET__V1__HOST_STATUS__HOST_STATUS_BLOCKED;
	case HOST_SKIPPED:
		return MCPFLEET__V1__HOST_STATUS__HOST_STATUS_SKIPPED;
	case HOST_ABSENT:
		return MCPFLEET__V1__HOST_STATUS__HOST_STATUS_ABSENT;
	}
	return MCPFLEET__V1__HOST_STATUS__HOST_STATUS_BLOCKED;
}

/* Sends a SyncReport of res; drift (may be NULL) flags re-applied hosts. */
static void agent_report(struct agent *a, const struct sync_result *res,
                         const bool *drift)
{
	Mcpfleet__V1__AgentFrame f;
	Mcpfleet__V1__SyncReport rep;
	Mcpfleet__V1__HostReport *hr = NULL, **hp = NULL;
	size_t i;

	mcpfleet__v1__agent_frame__init(&f);
	mcpfleet__v1__sync_report__init(&rep);
	if (a->ws == NULL || netclient_ws_state(a->ws) != NETCLIENT_WS_OPEN)
		return;
	if (res->n > 0 && ((hr = calloc(res->n, sizeof(*hr))) == NULL ||
	                   (hp = calloc(res->n, sizeof(*hp))) == NULL)) {
		agent_log(a, "out of memory: no sync report sent");
		goto out;
	}
	for (i = 0; i < res->n; i++) {
		const struct sync_host_result *h = &res->hosts[i];

		mcpfleet__v1__host_report__init(&hr[i]);
		hr[i].host = (char *)(uintptr_t)h->id;
		hr[i].status = agent_host_status(h->status);
		if (h->message != NULL)
			hr[i].message = h->message;
		hr[i].n_managed = h->managed.n;
		hr[i].managed = h->managed.v;
		hr[i].n_warnings = h->warnings.n;
		hr[i].warnings = h->warnings.v;
		hr[i].drift = drift != NULL && drift[i];
		hp[i] = &hr[i];
	}
	rep.revision = a->applied;
	rep.n_hosts = res->n;
	rep.hosts = hp;
	rep.synced_at = (int64_t)time(NULL);
	f.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_REPORT;
	f.report = &rep;
	agent_send(a, &f);
out:
	free(hp);
	free(hr);
}

/* Reports every host blocked by one reason (the personal catalogue). */
static void agent_report_blocked(struct agent *a, const char *why)
{
	struct sync_result res = {0};
	size_t i;

	if ((res.hosts = calloc(adapter_count, sizeof(*res.hosts))) == NULL)
		return;
	res.n = adapter_count;
	for (i = 0; i < adapter_count; i++) {
		res.hosts[i].id = adapter_registry[i]->id;
		res.hosts[i].status = HOST_BLOCKED;
		res.hosts[i].message = (char *)(uintptr_t)why;
	}
	agent_report(a, &res, NULL);
	free(res.hosts);
}

/* ---- Syncing ---- */

static int agent_personal(const char *home, struct catalogue *out,
                          struct diag *d)
{
	char *path = fileio_join(home, "mcp.json");
	int r;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = personal_load(path, out, d);
	free(path);
	return r;
}

/* Records that host had drifted, now (first: a new drift starts). */
static void agent_drift_note(struct agent *a, const char *host, bool first)
{
	size_t n;

	if (first) {
		a->drift_at = (int64_t)time(NULL);
		a->drift_hosts[0] = '\0';
	}
	n = strlen(a->drift_hosts);
	(void)snprintf(a->drift_hosts + n, sizeof(a->drift_hosts) - n, "%s%s",
	               n > 0 ? ", " : "", host);
}

/*
 * Renders the personal and the verified fleet catalogue and reports it.
 * With recheck, first plans a dry run and writes only when a host has
 * drifted from what it should hold (a host or a person removed or edited
 * a managed entry, or mcp.json changed), reporting those hosts as drift.
 */
static void agent_sync(struct agent *a, bool recheck)
{
	struct sync_opts so = {
	    .home = a->o->home,
	    .env = a->o->env,
	    .out = a->o->out,
	    .err = a->o->err,
	    .require = a->enrollment_path,
	};
	struct sync_result res = {0}, plan = {0};
	struct catalogue personal = {0}, fleet = {0};
	bool *drift = NULL, any = false;
	struct diag d;
	size_t i;
	int code;

	diag_clear(&d);
	if (agent_personal(a->o->home, &personal, &d) != 0) {
		/* Syncing without it would remove the personal entries. */
		agent_log(a, "%s; hosts not synced", d.msg);
		agent_report_blocked(a, d.msg);
		goto out;
	}
	if (agent_fleet_hosts(&a->fleet, a->have_key ? a->data_key : NULL,
	                      a->e.device_id, &fleet, a->o->err) != 0) {
		agent_log(a, "out of memory; hosts not synced");
		goto out;
	}
	if (recheck) {
		struct sync_opts dry = so;

		dry.dry_run = true;
		dry.quiet = true;
		code =
		    sync_run_report(&dry, &personal, &fleet, a->applied, &plan);
		if (code == EXIT_NOT_ENROLLED)
			a->next_check = 0; /* the next tick stops the agent */
		if (code == EXIT_CONFIG || code == EXIT_NOT_ENROLLED)
			goto out;
		if ((drift = calloc(plan.n + 1, sizeof(*drift))) == NULL)
			goto out;
		for (i = 0; i < plan.n; i++) {
			drift[i] = plan.hosts[i].status == HOST_OK &&
			           plan.hosts[i].changed;
			if (drift[i]) {
				agent_log(a,
				          "%s: changed since the last sync; "
				          "applying revision %llu again",
				          plan.hosts[i].id,
				          (unsigned long long)a->applied);
				agent_drift_note(a, plan.hosts[i].id, !any);
			}
			any |= drift[i];
		}
		if (!any)
			goto out;
	}
	code = sync_run_report(&so, &personal, &fleet, a->applied, &res);
	fflush(a->o->out);
	if (code == EXIT_NOT_ENROLLED) {
		/* Unenrolled meanwhile: the next tick stops the agent. */
		agent_log(a, "the enrollment was removed; nothing written");
		a->next_check = 0;
		goto out;
	}
	if (code == EXIT_CONFIG) {
		agent_log(a, "revision %llu could not be applied (see above)",
		          (unsigned long long)a->applied);
		goto out;
	}
	agent_report(a, &res, drift);
	if (any)
		agent_status_write(a); /* the last drift, for status */
out:
	free(drift);
	sync_result_clear(&plan);
	sync_result_clear(&res);
	catalogue_clear(&personal);
	for (i = 0; i < fleet.n; i++)
		server_wipe(&fleet.servers[i]);
	catalogue_clear(&fleet);
}

/*
 * Deletes the backups mcpfleet made of the host files it managed: each
 * was written while enrolled and may hold fleet entries with their
 * credentials, which must not outlive the enrollment. The host files
 * themselves keep everything of the user's.
 */
static void agent_scrub_backups(const struct agent_opts *o,
                                const struct agent_state *st)
{
	size_t i;
	char *bak;

	for (i = 0; i < st->n; i++) {
		if (st->hosts[i].st.path == NULL ||
		    (bak = hostfile_backup_path(st->hosts[i].st.path)) == NULL)
			continue;
		if (unlink(bak) != 0 && errno != ENOENT)
			fprintf(o->err,
			        "mcpfleet: warning: %s: cannot remove: %s (it "
			        "may hold fleet credentials)\n",
			        bak, strerror(errno));
		free(bak);
	}
}

int agent_leave(const struct agent_opts *o, bool force)
{
	struct sync_opts so = {
	    .home = o->home,
	    .env = o->env,
	    .out = o->out,
	    .err = o->err,
	};
	struct catalogue personal = {0}, none = {0};
	struct agent_state st = {0};
	struct diag d;
	char *path = NULL;
	int code = EXIT_CONFIG;

	diag_clear(&d);
	if ((path = fileio_join(o->home, "state.json")) == NULL ||
	    state_load(path, &st, &d) != 0) {
		/* Without it nobody knows which entries are the fleet's. */
		fprintf(o->err, "mcpfleet: %s%s\n",
		        path ? d.msg : "out of memory",
		        force ? "" : "; still enrolled");
		if (!force)
			goto out;
	}
	if (agent_personal(o->home, &personal, &d) != 0) {
		if (!force) {
			fprintf(o->err,
			        "mcpfleet: %s; fix it first: leaving the "
			        "fleet syncs it (still enrolled)\n",
			        d.msg);
			goto out;
		}
		fprintf(o->err,
		        "mcpfleet: warning: %s; the personal entries are "
		        "removed too until it is fixed\n",
		        d.msg);
	}
	/* Not enrolled from here on: a running agent stops at its next
	 * look and, as its syncs require enrollment.json under the sync
	 * lock, cannot put fleet entries back after the sync below. */
	free(path);
	if ((path = fileio_join(o->home, ENROLLMENT_FILE)) == NULL ||
	    (unlink(path) != 0 && errno != ENOENT)) {
		fprintf(o->err, "mcpfleet: %s: cannot remove: %s\n",
		        path ? path : ENROLLMENT_FILE, strerror(errno));
		goto out;
	}
	/* An empty fleet catalogue: every fleet entry goes, and the applied
	 * revision returns to 0 for whatever fleet comes next. */
	code = sync_run(&so, &personal, &none, 0);
	if (code == EXIT_CONFIG)
		fprintf(o->err,
		        "mcpfleet: the fleet entries were not removed; "
		        "'mcpfleet sync' removes them once the error above is "
		        "fixed\n");
	if (code == EXIT_BLOCKED)
		fprintf(o->err,
		        "mcpfleet: warning: a host file is blocked: its fleet "
		        "entries go with the next 'mcpfleet sync' once it is "
		        "fixed\n");
	if (code != EXIT_CONFIG)
		agent_scrub_backups(o, &st);
	if (enrollment_remove(o->home, &d) != 0) {
		fprintf(o->err, "mcpfleet: %s\n", d.msg);
		code = EXIT_CONFIG;
	}
out:
	catalogue_clear(&personal);
	state_clear(&st);
	free(path);
	return code;
}

/* ---- Frames from the server ---- */

static void agent_revoked(struct agent *a, const Mcpfleet__V1__Revocation *rv)
{
	char reason[200];
	int code;

	(void)snprintf(reason, sizeof(reason), "%s",
	               rv->reason != NULL && rv->reason[0] != '\0'
	                   ? jsonutil_printable(rv->reason)
	                   : "no reason given");
	agent_log(a,
	          "this device was revoked by the fleet (%s): removing every "
	          "fleet-managed entry and the device credentials",
	          reason);
	catalogue_clear(&a->fleet);
	a->have_fleet = false;
	a->revoked = true;
	if (a->sock != NULL) {
		char why[300];

		(void)snprintf(why, sizeof(why),
		               "this device was revoked by the fleet (%s)",
		               reason);
		agentsock_end_all(a->sock, EXEC_EXIT_REVOKED, why);
	}
	code = agent_leave(a->o, true);
	a->done = true;
	a->code = EXIT_REVOKED;
	a->applied = 0;
	agent_set_error(a,
	                "revoked (%s): fleet entries %s, credentials %s; "
	                "enroll again with a new link to rejoin",
	                reason,
	                code == EXIT_OK        ? "removed"
	                : code == EXIT_BLOCKED ? "removed except from a "
	                                         "blocked host"
	                                       : "NOT all removed",
	                enrollment_exists(a->o->home) ? "NOT deleted"
	                                              : "deleted");
}

/* The enrollment is gone: the agent stops, and so do its launchers. */
static void agent_unenrolled(struct agent *a)
{
	a->done = true;
	a->code = EXIT_NOT_ENROLLED;
	if (a->sock != NULL)
		agentsock_end_all(a->sock, EXEC_EXIT_NOT_ENROLLED,
		                  "this device left the fleet ('mcpfleet "
		                  "unenroll')");
}

/* Tells the launchers' socket what is applied now: sessions of servers
 * that went end. */
static void agent_launchers_update(struct agent *a)
{
	if (a->sock != NULL &&
	    agentsock_update(a->sock, a->have_fleet ? &a->fleet : NULL,
	                     a->applied, a->e.user, a->e.device_id,
	                     a->offline_grace,
	                     a->have_key ? a->data_key : NULL) != 0)
		agent_log(a, "out of memory: the launchers still see the "
		             "previous catalogue");
}

/* The server spoke: the offline grace starts again. */
static void agent_contact(struct agent *a)
{
	a->last_contact = (int64_t)time(NULL);
	if (a->sock != NULL)
		agentsock_contact(a->sock, a->last_contact);
}

static void agent_catalogue(struct agent *a, const uint8_t *data, size_t len,
                            const struct envelope_opened *op)
{
	struct catalogue model = {0};
	struct diag d;
	char *path = NULL;

	diag_clear(&d);
	/* No rollback, no replay. Without a verified catalogue in hand (a
	 * catalogue.pb lost or rejected) the applied revision itself is
	 * welcome again: it cannot roll anything back. */
	if (op->revision < a->applied ||
	    (op->revision == a->applied && a->have_fleet)) {
		agent_log(a,
		          "ignored catalogue revision %llu: not newer than the "
		          "applied revision %llu (a replay or a rollback)",
		          (unsigned long long)op->revision,
		          (unsigned long long)a->applied);
		goto out;
	}
	if (envelope_catalogue_model(op->catalogue, &model, &d) != 0) {
		agent_log(a, "ignored catalogue revision %llu: %s",
		          (unsigned long long)op->revision, d.msg);
		goto out;
	}
	if (!enrollment_exists(a->o->home)) {
		agent_log(a, "the enrollment was removed; stopping");
		agent_unenrolled(a);
		goto out;
	}
	/* Kept before it is applied, so that "mcpfleet sync" renders the
	 * same catalogue as the agent. */
	if ((path = fileio_join(a->o->home, ENROLLMENT_CATALOGUE)) == NULL ||
	    fileio_write_atomic(path, data, len, 0600, FILEIO_FORCE_MODE) !=
	        0) {
		agent_log(a, "%s: cannot write (%s); revision %llu not applied",
		          path ? path : ENROLLMENT_CATALOGUE, strerror(errno),
		          (unsigned long long)op->revision);
		goto out;
	}
	catalogue_clear(&a->fleet);
	a->fleet = model;
	memset(&model, 0, sizeof(model));
	a->have_fleet = true;
	a->applied = op->revision;
	{
		struct agent_settings set;

		agent_settings_of(op->catalogue, &set);
		a->offline_grace = set.offline_grace;
		if (a->spool != NULL && set.call_spool_max > 0)
			spool_set_max(a->spool, set.call_spool_max);
	}
	agent_launchers_update(a);
	agent_log(a, "applying catalogue revision %llu (%zu server%s)",
	          (unsigned long long)a->applied, a->fleet.n,
	          a->fleet.n == 1 ? "" : "s");
	agent_sync(a, false);
	agent_status_write(a);
out:
	catalogue_clear(&model);
	free(path);
}

static void agent_envelope(struct agent *a,
                           const Mcpfleet__V1__SignedEnvelope *env)
{
	struct envelope_opened op = {0};
	struct diag d;
	uint8_t *data = NULL;
	size_t len;

	diag_clear(&d);
	/* The signature covers the Merkle root record, not these bytes:
	 * packing the decoded message again yields what catalogue.pb keeps
	 * and what envelope_open checks. */
	len = mcpfleet__v1__signed_envelope__get_packed_size(env);
	if ((data = malloc(len > 0 ? len : 1)) == NULL) {
		agent_log(a, "out of memory: an envelope was dropped");
		goto out;
	}
	mcpfleet__v1__signed_envelope__pack(env, data);
	if (envelope_open(data, len, a->creds.signer, a->e.user, a->e.device_id,
	                  &op, &d) != 0) {
		agent_log(a, "ignored a %s envelope that does not verify: %s",
		          env->kind ==
		                  MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_REVOCATION
		              ? "revocation"
		              : "catalogue",
		          d.msg);
		goto out;
	}
	if (op.kind == ENVELOPE_REVOCATION)
		agent_revoked(a, op.revocation);
	else
		agent_catalogue(a, data, len, &op);
out:
	envelope_opened_clear(&op);
	free(data);
}

/* The server's data key for this device: kept (0600), and the hosts
 * rendered again (a "direct" server may need its secrets now). */
static void agent_device_key(struct agent *a, const Mcpfleet__V1__DeviceKey *k)
{
	char id[CRYPTO_HEX_LEN + 1];

	if (k->key.len != DEVSECRET_KEY_LEN ||
	    devsecret_key_id(k->key.data, id) != 0 || k->key_id == NULL ||
	    strcmp(id, k->key_id) != 0) {
		agent_log(a,
		          "ignored a data key of %zu bytes whose id does not "
		          "match it",
		          k->key.len);
		return;
	}
	if (a->have_key && strcmp(id, a->data_key_id) == 0)
		return;
	if (enrollment_data_key_save(a->o->home, k->key.data) != 0) {
		agent_log(a, "%s/%s: cannot write: %s", a->o->home,
		          ENROLLMENT_DATAKEY, strerror(errno));
		return;
	}
	memcpy(a->data_key, k->key.data, DEVSECRET_KEY_LEN);
	(void)snprintf(a->data_key_id, sizeof(a->data_key_id), "%s", id);
	a->have_key = true;
	agent_log(a, "received this device's data key %.16s", id);
	agent_launchers_update(a);
	if (a->have_fleet)
		agent_sync(a, false);
}

/*
 * The replica set, from the server over the mutual-TLS connection: checked
 * (a bad list is logged and the old one kept), kept in replicas.json, and
 * used from the next connection attempt on. The replica connected to keeps
 * its place; were it left out, the next attempt goes to this device's
 * starting place in the new list.
 */
static void agent_replicas(struct agent *a, const Mcpfleet__V1__Replicas *rs)
{
	struct enrollment_replicas next;
	struct diag d;
	size_t i;

	/* The replica's advice for when it goes away. */
	a->respread_ms = rs->respread_ms;
	diag_clear(&d);
	memset(&next, 0, sizeof(next));
	if (enrollment_replicas_set(
	        &next, (const char *const *)rs->agent_addresses,
	        rs->n_agent_addresses, "the server's replica set", &d) != 0) {
		agent_log(a, "ignored the server's replica set: %s", d.msg);
		return;
	}
	for (i = 0; i < next.n && next.n == a->reps.n; i++)
		if (strcmp(next.v[i], a->reps.v[i]) != 0)
			break;
	if (next.n == a->reps.n && i == next.n)
		return;
	if (enrollment_replicas_save(a->o->home, &next) != 0)
		agent_log(a, "%s/%s: cannot write: %s", a->o->home,
		          ENROLLMENT_REPLICAS, strerror(errno));
	for (i = 0; i < next.n; i++)
		if (a->reps.n > 0 && strcmp(next.v[i], a->reps.v[a->cur]) == 0)
			break;
	if (i == next.n)
		i = (replicas_start(a->e.device_id, next.n) + next.n - 1) %
		    next.n;
	a->reps = next;
	a->cur = i;
	agent_log(a, "the fleet has %zu replica%s", next.n,
	          next.n == 1 ? "" : "s");
	agent_status_write(a);
}

/* ---- Certificate renewal ---- */

static void agent_time(int64_t t, char *buf, size_t size);

/* When the certificate in a->creds is due for renewal (a->renew_at). */
static void agent_renew_schedule(struct agent *a)
{
	struct diag d;

	diag_clear(&d);
	if (certrenew_when(a->creds.cert_pem, a->creds.cert_len,
	                   a->o->renew_before_s, &a->renew_at,
	                   &a->cert_not_after, &d) != 0) {
		agent_log(a, "certificate renewal is off: %s", d.msg);
		a->renew_at = INT64_MAX;
	}
}

/* Connected and said hello: asks for a new certificate once the current
 * one is due, one request per connection at most. */
static void agent_renew_maybe(struct agent *a)
{
	int64_t now = (int64_t)time(NULL);
	char when[64];
	uint8_t *frame = NULL;
	size_t len = 0;
	struct diag d;

	if (a->renew_sent || a->renewed || now < a->renew_at ||
	    now < a->renew_after || a->ws == NULL ||
	    netclient_ws_state(a->ws) != NETCLIENT_WS_OPEN)
		return;
	diag_clear(&d);
	if (certrenew_start(a->rng, a->e.device_id, &a->renew, &frame, &len,
	                    &d) != 0 ||
	    netclient_ws_send(a->ws, frame, len) != 0) {
		agent_log(a, "certificate renewal: %s; trying again in %d s",
		          d.msg[0] ? d.msg : "the request could not be queued",
		          AGENT_RENEW_LOST);
		certrenew_clear(&a->renew);
		a->renew_after = now + AGENT_RENEW_LOST;
		free(frame);
		return;
	}
	free(frame);
	a->renew_sent = true;
	agent_time(a->cert_not_after, when, sizeof(when));
	agent_log(a, "the device certificate expires %s: asking for a new one",
	          when);
}

/* The server's RenewResponse: the new certificate installed and used from
 * the next connection, which follows at once; or why not. */
static void agent_renew_answer(struct agent *a,
                               const Mcpfleet__V1__RenewResponse *rs)
{
	struct enrollment_creds creds;
	int64_t now = (int64_t)time(NULL), not_after = 0;
	char when[64];
	struct diag d;

	if (!a->renew_sent) {
		agent_log(a, "ignored a certificate renewal nothing asked for");
		return;
	}
	a->renew_sent = false;
	a->renew_after = now + AGENT_RENEW_RETRY;
	diag_clear(&d);
	if (rs->certificate_pem.len == 0) {
		certrenew_clear(&a->renew);
		agent_log(a,
		          "certificate renewal refused: %s; trying again in "
		          "%d h",
		          rs->error != NULL && rs->error[0] != '\0'
		              ? jsonutil_printable(rs->error)
		              : "no reason given",
		          AGENT_RENEW_RETRY / 3600);
		return;
	}
	if (certrenew_install(a->o->home, a->e.device_id, a->creds.ca_pem,
	                      a->creds.ca_len, &a->renew,
	                      rs->certificate_pem.data, rs->certificate_pem.len,
	                      &not_after, &d) != 0) {
		agent_log(a,
		          "the renewed certificate was not installed: %s; "
		          "trying again in %d h",
		          d.msg, AGENT_RENEW_RETRY / 3600);
		return;
	}
	/* On disk now; the old credentials stay in use should the new ones
	 * not load (the next start tries them again). */
	if (enrollment_creds_load(a->o->home, &creds, &d) != 0) {
		agent_log(a, "the renewed certificate cannot be loaded: %s",
		          d.msg);
		return;
	}
	enrollment_creds_clear(&a->creds);
	a->creds = creds;
	agent_renew_schedule(a);
	a->renew_after = now + AGENT_RENEW_GAP;
	a->renewed = true;
	agent_time(not_after, when, sizeof(when));
	agent_log(a,
	          "certificate renewed, valid until %s: reconnecting with it",
	          when);
	(void)netclient_ws_close(a->ws, 1000, "certificate renewed");
}

/* The connection ended with a request out and no answer. A server that
 * does not know the frame closes the connection as a protocol error
 * (1002): it is asked again only hours later, so that renewal never keeps
 * an agent reconnecting. */
static void agent_renew_unanswered(struct agent *a, int code)
{
	int wait = code == 1002 ? AGENT_RENEW_RETRY : AGENT_RENEW_LOST;

	certrenew_clear(&a->renew);
	a->renew_sent = false;
	a->renew_after = (int64_t)time(NULL) + wait;
	agent_log(a,
	          "the connection closed (%d) before the certificate renewal "
	          "was answered%s; trying again in %d s",
	          code, code == 1002 ? " (a server without renewal?)" : "",
	          wait);
}

static void agent_frame(struct agent *a, const uint8_t *data, size_t len)
{
	Mcpfleet__V1__ServerFrame *f;
	Mcpfleet__V1__AgentFrame out;
	Mcpfleet__V1__Pong pong;

	mcpfleet__v1__agent_frame__init(&out);
	mcpfleet__v1__pong__init(&pong);
	f = mcpfleet__v1__server_frame__unpack(NULL, len, data);
	if (f == NULL) {
		agent_log(a,
		          "ignored a frame of %zu bytes that is not a "
		          "ServerFrame",
		          len);
		return;
	}
	agent_contact(a);
	switch (f->body_case) {
	case MCPFLEET__V1__SERVER_FRAME__BODY_CALLS_ACK:
		if (a->spool != NULL &&
		    spool_ack(a->spool, f->calls_ack->through_seq) != 0)
			agent_log(a,
			          "the calls spool could not be rewritten: %s",
			          strerror(errno));
		a->calls_inflight = 0;
		break;
	case MCPFLEET__V1__SERVER_FRAME__BODY_DEVICE_KEY:
		agent_device_key(a, f->device_key);
		break;
	case MCPFLEET__V1__SERVER_FRAME__BODY_PING:
		pong.nonce = f->ping->nonce;
		out.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_PONG;
		out.pong = &pong;
		agent_send(a, &out);
		break;
	case MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE:
		agent_envelope(a, f->envelope);
		break;
	case MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS:
		agent_replicas(a, f->replicas);
		break;
	case MCPFLEET__V1__SERVER_FRAME__BODY_RENEW:
		agent_renew_answer(a, f->renew);
		break;
	default:
		agent_log(a, "ignored a ServerFrame without a body");
		break;
	}
	mcpfleet__v1__server_frame__free_unpacked(f, NULL);
}

/* ---- Watching the host files ---- */

static void agent_watch_clear(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->nwatches; i++)
		free(a->watches[i].name);
	a->nwatches = 0;
}

#ifdef __linux__
/* Watches dir for changes to name; the same pair is kept once. */
static void agent_watch_add(struct agent *a, const char *dir, const char *name)
{
	size_t i;
	char *copy;
	int wd;

	if (a->nwatches >= AGENT_WATCH_MAX || !fileio_is_dir(dir))
		return;
	wd = inotify_add_watch(a->ino, dir,
	                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
	                           IN_CREATE | IN_DELETE);
	if (wd < 0)
		return;
	for (i = 0; i < a->nwatches; i++)
		if (a->watches[i].wd == wd &&
		    strcmp(a->watches[i].name, name) == 0)
			return;
	if ((copy = strdup(name)) == NULL)
		return;
	a->watches[a->nwatches].wd = wd;
	a->watches[a->nwatches].name = copy;
	a->nwatches++;
}
#endif

/*
 * (Re)installs the watches: the directory of every present host's file,
 * and mcp.json. Hosts that appear later are picked up by the next periodic
 * check, which calls this again.
 */
static void agent_watch_setup(struct agent *a)
{
#ifdef __linux__
	size_t i;

	if (a->ino < 0)
		return;
	agent_watch_add(a, a->o->home, "mcp.json");
	for (i = 0; i < adapter_count; i++) {
		struct host_location loc = {0};
		struct diag d;
		char *dir = NULL;
		const char *base;

		if (adapter_registry[i]->locate(a->o->env, &loc, &d) == 0 &&
		    loc.present && loc.path != NULL &&
		    (dir = fileio_dirname(loc.path)) != NULL) {
			base = strrchr(loc.path, '/');
			agent_watch_add(a, dir, base ? base + 1 : loc.path);
		}
		free(dir);
		host_location_clear(&loc);
	}
#else
	(void)a;
#endif
}

/* Reads pending file events; a change to a watched name arms a re-check. */
static void agent_watch_read(struct agent *a)
{
#ifdef __linux__
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	size_t i;
	char *p;

	if (a->ino < 0)
		return;
	while ((n = read(a->ino, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(const void *)p;
			for (i = 0; ev->len > 0 && i < a->nwatches; i++)
				if (a->watches[i].wd == ev->wd &&
				    strcmp(a->watches[i].name, ev->name) == 0)
					a->dirty_at =
					    agent_now_ms() + AGENT_DEBOUNCE_MS;
		}
	}
#else
	(void)a;
#endif
}

/* The periodic and file-triggered work, between network events. */
static void agent_tick(struct agent *a)
{
	int64_t now;

	agent_watch_read(a);
	if (a->sock != NULL &&
	    (agentsock_sessions(a->sock) != a->shown_sessions ||
	     spool_count(a->spool) != a->shown_spooled)) {
		a->shown_sessions = agentsock_sessions(a->sock);
		a->shown_spooled = spool_count(a->spool);
		agent_status_write(a); /* for "mcpfleet status" */
	}
	now = agent_now_ms();
	if (!(a->dirty_at != 0 && now >= a->dirty_at) && now < a->next_check)
		return;
	a->dirty_at = 0;
	a->next_check = now + agent_opt(a->o->recheck_ms, AGENT_RECHECK_MS);
	if (!enrollment_exists(a->o->home)) {
		agent_log(a, "the enrollment was removed ('mcpfleet "
		             "unenroll'); stopping");
		agent_unenrolled(a);
		return;
	}
	agent_watch_setup(a);
	if (a->have_fleet)
		agent_sync(a, true);
}

/* Waits ms (between connection attempts), still watching the hosts. */
static void agent_wait(struct agent *a, unsigned ms)
{
	int64_t deadline = agent_now_ms() + ms, left;
	struct pollfd pfd;

	while (!agent_stopped(a) && (left = deadline - agent_now_ms()) > 0) {
		if (left > AGENT_SLICE_MS)
			left = AGENT_SLICE_MS;
		pfd.fd = a->ino;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* With fd -1 poll() just sleeps; EINTR (a signal) too. */
		(void)poll(&pfd, 1, (int)left);
		agent_tick(a);
	}
}

/* ---- The connection ---- */

/*
 * Sends the spooled call records after the last acknowledged one, a batch
 * at a time: the next goes once the server acknowledged this one, or again
 * when no acknowledgement came in AGENT_CALLS_RESEND ms (the server keeps
 * one record per seq, so a repeat is harmless).
 */
/* At most once a second: the records launchers held while no agent took
 * them (client/spool.c) join the spool. */
static void agent_calls_absorb(struct agent *a, int64_t now)
{
	struct diag d;
	int n;

	if (now - a->held_checked_at < 1000)
		return;
	a->held_checked_at = now;
	if ((n = spool_absorb(a->spool, a->o->home, &d)) < 0)
		agent_log(a, "%s", d.msg);
	else if (n > 0)
		agent_log(a,
		          "%d call record(s) the launchers held joined the "
		          "spool",
		          n);
}

static void agent_calls_send(struct agent *a)
{
	Mcpfleet__V1__AgentFrame f;
	Mcpfleet__V1__CallBatch batch;
	int64_t now = agent_now_ms();

	if (a->spool == NULL)
		return;
	agent_calls_absorb(a, now);
	if (a->calls_inflight != 0 &&
	    now - a->calls_sent_at < AGENT_CALLS_RESEND)
		return;
	if (spool_batch(a->spool, spool_acked(a->spool), AGENT_CALLS_BATCH,
	                &batch) == 0)
		return;
	mcpfleet__v1__agent_frame__init(&f);
	f.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_CALLS;
	f.calls = &batch;
	agent_send(a, &f);
	a->calls_inflight = batch.calls[batch.n_calls - 1]->seq;
	a->calls_sent_at = now;
	spool_batch_clear(&batch);
}

static void agent_drain(struct agent *a)
{
	void *data;
	size_t len;

	while (!a->done && a->ws != NULL &&
	       netclient_ws_recv(a->ws, &data, &len) == 0) {
		agent_frame(a, data, len);
		free(data);
	}
}

/* Points a->url at the replica of the set's place a->cur. */
static int agent_url(struct agent *a)
{
	buf_reset(&a->url);
	return buf_printf(&a->url, "wss://%s/", a->reps.v[a->cur]);
}

/*
 * One connection, from the first try to its close. Returns true when it
 * was open: the next try is then spread out (agent_respread_ms()) and the
 * backoff starts again from its minimum.
 */
static bool agent_session(struct agent *a)
{
	struct netclient_ws_config cfg = {
	    .url = a->url.data,
	    .ca_pem = a->creds.ca_pem,
	    .ca_len = a->creds.ca_len,
	    .cert_pem = a->creds.cert_pem,
	    .cert_len = a->creds.cert_len,
	    .key_pem = a->creds.key_pem,
	    .key_len = a->creds.key_len,
	    .max_message = AGENT_FRAME_MAX,
	    .connect_timeout_ms = a->o->connect_timeout_ms,
	};
	enum netclient_fail fail = NETCLIENT_OK;
	const char *reason = NULL;
	struct diag d;
	bool opened = false;
	int64_t until;
	int code = 0;

	diag_clear(&d);
	if (netclient_ws_open(&cfg, &a->ws, &d) != 0) {
		agent_set_error(a, "cannot connect: %s", d.msg);
		goto out;
	}
	while (netclient_ws_state(a->ws) == NETCLIENT_WS_CONNECTING) {
		if (agent_stopped(a))
			goto out;
		(void)netclient_ws_wait_open(a->ws, AGENT_SLICE_MS, &fail, &d);
		if (netclient_ws_state(a->ws) == NETCLIENT_WS_CLOSED) {
			agent_set_error(a, "cannot connect: %s", d.msg);
			goto out;
		}
		agent_tick(a);
	}
	opened = true;
	agent_log(a, "connected to %s as %s", a->url.data, a->e.device_id);
	agent_set_connected(a, true);
	agent_hello(a);
	agent_contact(a);
	a->calls_inflight = 0;
	while (netclient_ws_state(a->ws) == NETCLIENT_WS_OPEN) {
		agent_drain(a);
		if (agent_stopped(a) || a->renewed)
			break;
		agent_tick(a);
		agent_calls_send(a);
		agent_renew_maybe(a);
		if (netclient_ws_service(a->ws, AGENT_SLICE_MS) != 0)
			break;
	}
	agent_drain(a);
	if (netclient_ws_state(a->ws) == NETCLIENT_WS_OPEN || a->renewed) {
		/* Our choice to leave: say so and let the frame go out. */
		if (!a->renewed)
			(void)netclient_ws_close(a->ws, 1000,
			                         a->done ? "agent done"
			                                 : "agent stopping");
		until = agent_now_ms() + AGENT_CLOSE_WAIT_MS;
		while (netclient_ws_state(a->ws) != NETCLIENT_WS_CLOSED &&
		       agent_now_ms() < until)
			(void)netclient_ws_service(a->ws, 50);
		agent_set_connected(a, false);
		goto out;
	}
	(void)netclient_ws_closed(a->ws, &code, &reason, &fail);
	if (a->renew_sent)
		agent_renew_unanswered(a, code);
	agent_set_connected(a, false);
	agent_set_error(a, "connection to %s closed (%d%s%s)", a->url.data,
	                code, reason && reason[0] ? ": " : "",
	                reason ? jsonutil_printable(reason) : "");
out:
	if (a->renew_sent)
		agent_renew_unanswered(a, 0);
	a->renewed = false;
	netclient_ws_free(a->ws);
	a->ws = NULL;
	return opened;
}

/* The last contact with the server an earlier run recorded, or 0. */
static int64_t agent_last_contact(const char *home)
{
	char *path = fileio_join(home, AGENT_STATUS_FILE), *text = NULL;
	json_t *j = NULL;
	int64_t v = 0;
	size_t len;

	if (path != NULL &&
	    fileio_read(path, AGENT_STATUS_MAX, &text, &len) == 0 &&
	    (j = json_loadb(text, len, 0, NULL)) != NULL)
		v = json_integer_value(json_object_get(j, "last_contact"));
	json_decref(j);
	free(text);
	free(path);
	return v;
}

/* Loads what the agent needs; prints why not and returns an exit code. */
static int agent_setup(struct agent *a)
{
	const struct agent_opts *o = a->o;
	struct agent_state st = {0};
	struct agent_settings set = {0};
	struct diag d;
	char *state_path = NULL, *spool_path = NULL;
	bool done = false;
	int r, code = EXIT_CONFIG;

	diag_clear(&d);
	if ((r = enrollment_load(o->home, &a->e, &d)) != 0) {
		fprintf(o->err, "mcpfleet: run: %s\n", d.msg);
		code = r == -ERR_NOENT ? EXIT_NOT_ENROLLED : EXIT_CONFIG;
		goto out;
	}
	/* A renewal a crash interrupted is finished first. */
	if (certrenew_finish(o->home, &done, &d) != 0)
		fprintf(o->err, "mcpfleet: warning: %s\n", d.msg);
	else if (done)
		fprintf(o->err, "mcpfleet: finished installing the renewed "
		                "device certificate\n");
	if (enrollment_creds_load(o->home, &a->creds, &d) != 0) {
		fprintf(o->err,
		        "mcpfleet: run: %s (enroll again: 'mcpfleet unenroll', "
		        "then 'mcpfleet enroll LINK')\n",
		        d.msg);
		goto out;
	}
	if (crypto_rng_new("mcpfleet agent", &a->rng, &d) != 0) {
		fprintf(o->err, "mcpfleet: run: %s\n", d.msg);
		goto out;
	}
	agent_renew_schedule(a);
	/* The replica set; an enrollment without one has the server it
	 * enrolled with. */
	r = enrollment_replicas_load(o->home, &a->reps, &d);
	if (r != 0 && r != -ERR_NOENT)
		fprintf(o->err,
		        "mcpfleet: warning: %s; using the enrolled server "
		        "only\n",
		        d.msg);
	if (r != 0) {
		memset(&a->reps, 0, sizeof(a->reps));
		if (replicas_addr_format(a->e.server, a->e.agent_port,
		                         a->reps.v[0], &d) != 0) {
			fprintf(o->err, "mcpfleet: run: %s/%s: server: %s\n",
			        o->home, ENROLLMENT_FILE, d.msg);
			goto out;
		}
		a->reps.n = 1;
	}
	a->cur = replicas_start(a->e.device_id, a->reps.n);
	if ((a->enrollment_path = fileio_join(o->home, ENROLLMENT_FILE)) ==
	        NULL ||
	    agent_url(a) != 0 ||
	    (state_path = fileio_join(o->home, "state.json")) == NULL) {
		fprintf(o->err, "mcpfleet: out of memory\n");
		goto out;
	}
	if (state_load(state_path, &st, &d) != 0) {
		fprintf(o->err, "mcpfleet: run: %s\n", d.msg);
		goto out;
	}
	a->applied = st.revision;
	r = agent_fleet_verify(o->home, &a->e, a->creds.signer, &a->fleet,
	                       &a->applied, &set, &d);
	if (r == 0) {
		a->have_fleet = true;
		a->offline_grace = set.offline_grace;
	} else if (r != -ERR_NOENT)
		fprintf(o->err,
		        "mcpfleet: warning: %s; waiting for the server's "
		        "copy\n",
		        d.msg);
	if (a->applied < st.revision)
		a->applied = st.revision;
	if (enrollment_data_key_load(o->home, a->data_key, &d) == 0 &&
	    devsecret_key_id(a->data_key, a->data_key_id) == 0)
		a->have_key = true;
	/* The offline grace runs from the last contact, across restarts. */
	a->last_contact = agent_last_contact(o->home);
	if (a->last_contact == 0)
		a->last_contact = a->e.enrolled_at;
	if ((spool_path = fileio_join(o->home, SPOOL_FILE)) == NULL ||
	    spool_open(spool_path,
	               set.call_spool_max ? set.call_spool_max
	                                  : SPOOL_DEFAULT_MAX,
	               &a->spool, &d) != 0) {
		fprintf(o->err, "mcpfleet: run: %s\n",
		        spool_path ? d.msg : "out of memory");
		goto out;
	}
	if (agentsock_start(o->home, a->spool, o->err, &a->sock, &d) != 0) {
		fprintf(o->err, "mcpfleet: run: %s\n", d.msg);
		goto out;
	}
	agentsock_contact(a->sock, a->last_contact);
	agent_launchers_update(a);
	code = EXIT_OK;
out:
	free(spool_path);
	state_clear(&st);
	free(state_path);
	return code;
}

int agent_run(const struct agent_opts *o)
{
	struct agent a;
	unsigned attempt = 0, delay;
	size_t first;
	uint32_t rnd;
	bool lost;
	int code;

	memset(&a, 0, sizeof(a));
	a.o = o;
	a.ino = -1;
	if ((code = agent_setup(&a)) != EXIT_OK)
		goto out;
#ifdef __linux__
	if (!o->no_watch)
		a.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
#endif
	agent_watch_setup(&a);
	/* The first check re-applies the kept catalogue at once, so that an
	 * offline machine is right before the server is reached. */
	a.next_check = agent_now_ms();
	agent_log(&a, "device %s (user %s): connecting to %s%s", a.e.device_id,
	          a.e.user, a.url.data,
	          a.have_fleet ? "" : " (no fleet catalogue yet)");
	agent_set_connected(&a, false);
	/*
	 * Each try goes to the next replica of the set. A round of failures
	 * (every replica tried since the round's first) doubles the backoff;
	 * a connection that was open starts a new round at the replica after
	 * the one it lost, after a spread-out delay.
	 */
	first = a.cur;
	while (!agent_stopped(&a)) {
		lost = agent_session(&a);
		if (agent_stopped(&a))
			break;
		if (crypto_random(a.rng, &rnd, sizeof(rnd)) != 0)
			rnd = (uint32_t)agent_now_ms() * 2654435761u;
		a.cur = replicas_next(a.cur, a.reps.n);
		if (lost) {
			attempt = 0;
			first = a.cur;
			delay = agent_respread_ms(
			    agent_opt(o->backoff_min_ms, AGENT_BACKOFF_MIN),
			    a.respread_ms, rnd);
		} else {
			delay = agent_backoff_ms(
			    attempt,
			    agent_opt(o->backoff_min_ms, AGENT_BACKOFF_MIN),
			    agent_opt(o->backoff_max_ms, AGENT_BACKOFF_MAX),
			    rnd);
			if (a.cur == first && attempt < 32)
				attempt++;
		}
		if (agent_url(&a) != 0) {
			agent_log(&a, "out of memory");
			break;
		}
		agent_log(&a, "reconnecting to %s in %u.%03u s",
		          a.reps.v[a.cur], delay / 1000, delay % 1000);
		agent_wait(&a, delay);
	}
	code = a.done ? a.code : EXIT_OK;
	if (!a.done)
		agent_log(&a, "stopped");
	a.connected = false;
	a.exited = true;
	agent_status_write(&a);
out:
	agentsock_stop(a.sock);
	spool_free(a.spool);
	if (a.ino >= 0)
		close(a.ino);
	agent_watch_clear(&a);
	catalogue_clear(&a.fleet);
	enrollment_creds_clear(&a.creds);
	certrenew_clear(&a.renew);
	explicit_bzero(a.data_key, sizeof(a.data_key));
	crypto_rng_free(a.rng);
	buf_free(&a.url);
	free(a.enrollment_path);
	return code;
}

/* ---- mcpfleet status ---- */

static void agent_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		(void)snprintf(buf, size, "never");
}

/* What agent.status says, and whether its process is still there. */
struct agent_seen {
	bool known;   /* agent.status exists and parses */
	bool running; /* its pid is alive */
	bool connected;
	int64_t since;
	char server[ENROLLMENT_HOST_MAX + 32];
	char replica[REPLICAS_ADDR_MAX + 1]; /* the set's one it uses */
	char last_error[AGENT_ERROR_MAX];
	int64_t drift_at;
	char drift_hosts[AGENT_DRIFT_MAX];
	int64_t sessions;      /* live launcher sessions */
	int64_t calls_spooled; /* call records not yet delivered */
	int64_t last_contact;
	bool revoked;
};

static void agent_seen_load(const char *home, struct agent_seen *s)
{
	json_t *j = NULL;
	char *path = fileio_join(home, AGENT_STATUS_FILE), *text = NULL;
	const char *v;
	json_int_t pid;
	size_t len;

	memset(s, 0, sizeof(*s));
	if (path == NULL ||
	    fileio_read(path, AGENT_STATUS_MAX, &text, &len) != 0 ||
	    (j = json_loadb(text, len, 0, NULL)) == NULL || !json_is_object(j))
		goto out;
	s->known = true;
	pid = json_integer_value(json_object_get(j, "pid"));
	s->running = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	s->connected =
	    s->running && json_is_true(json_object_get(j, "connected"));
	s->since = json_integer_value(json_object_get(j, "since"));
	if ((v = json_string_value(json_object_get(j, "server"))) != NULL)
		(void)snprintf(s->server, sizeof(s->server), "%s", v);
	if ((v = json_string_value(json_object_get(j, "last_error"))) != NULL)
		(void)snprintf(s->last_error, sizeof(s->last_error), "%s", v);
	if ((v = json_string_value(json_object_get(j, "replica"))) != NULL)
		(void)snprintf(s->replica, sizeof(s->replica), "%s", v);
	s->drift_at = json_integer_value(
	    json_object_get(json_object_get(j, "last_drift"), "at"));
	if ((v = json_string_value(json_object_get(
	         json_object_get(j, "last_drift"), "hosts"))) != NULL)
		(void)snprintf(s->drift_hosts, sizeof(s->drift_hosts), "%s", v);
	s->sessions =
	    s->running ? json_integer_value(json_object_get(j, "sessions")) : 0;
	s->calls_spooled =
	    json_integer_value(json_object_get(j, "calls_spooled"));
	s->last_contact =
	    json_integer_value(json_object_get(j, "last_contact"));
	s->revoked = json_is_true(json_object_get(j, "revoked"));
out:
	json_decref(j);
	free(text);
	free(path);
}

/* True when the running agent is connected to address. */
static bool agent_seen_on(const struct agent_seen *seen, const char *address)
{
	return seen->connected && strcmp(seen->replica, address) == 0;
}

/* When the installed device certificate expires (Unix seconds), or 0 when
 * it cannot be read. */
static int64_t agent_cert_expiry(const char *home)
{
	char *path = fileio_join(home, ENROLLMENT_CERT), *pem = NULL;
	int64_t renew_at = 0, not_after = 0;
	size_t len = 0;

	if (path == NULL ||
	    fileio_read(path, CRYPTO_PEM_MAX, &pem, &len) != 0 ||
	    certrenew_when(pem, len, 0, &renew_at, &not_after, NULL) != 0)
		not_after = 0;
	free(pem);
	free(path);
	return not_after;
}

static json_t *agent_status_json(const struct agent_opts *o,
                                 const struct enrollment *e, bool enrolled,
                                 const struct agent_seen *seen,
                                 const struct agent_state *st,
                                 const struct enrollment_replicas *reps)
{
	json_t *root, *hosts, *rl;
	size_t i, k;

	root = json_pack(
	    "{s:b,s:o,s:o,s:I,s:o}", "enrolled", enrolled, "enrollment",
	    enrolled ? json_pack(
	                   "{s:s,s:i,s:i,s:s,s:s,s:s,s:I}", "server", e->server,
	                   "api_port", e->api_port, "agent_port", e->agent_port,
	                   "device_id", e->device_id, "user", e->user, "ca_pin",
	                   e->ca_pin, "enrolled_at", (json_int_t)e->enrolled_at)
	             : json_null(),
	    "agent",
	    seen->known
	        ? json_pack("{s:b,s:b,s:I,s:s?,s:s?,s:s?,s:I,s:I,s:I,s:b}",
	                    "running", seen->running, "connected",
	                    seen->connected, "since", (json_int_t)seen->since,
	                    "server", seen->server[0] ? seen->server : NULL,
	                    "replica", seen->replica[0] ? seen->replica : NULL,
	                    "last_error",
	                    seen->last_error[0] ? seen->last_error : NULL,
	                    "launcher_sessions", (json_int_t)seen->sessions,
	                    "calls_spooled", (json_int_t)seen->calls_spooled,
	                    "last_contact", (json_int_t)seen->last_contact,
	                    "revoked", seen->revoked)
	        : json_pack("{s:b,s:b}", "running", false, "connected", false),
	    "revision", (json_int_t)st->revision, "last_sync",
	    st->last_sync > 0 ? json_integer(st->last_sync) : json_null());
	if (root != NULL)
		json_object_set_new(
		    root, "last_drift",
		    agent_drift_json(seen->drift_at, seen->drift_hosts));
	if (root != NULL && enrolled) {
		int64_t na = agent_cert_expiry(o->home);

		json_object_set_new(
		    json_object_get(root, "enrollment"), "cert_not_after",
		    na > 0 ? json_integer((json_int_t)na) : json_null());
	}
	if (root != NULL && (rl = json_array()) != NULL) {
		for (i = 0; i < reps->n; i++)
			json_array_append_new(
			    rl, json_pack("{s:s,s:b}", "address", reps->v[i],
			                  "connected",
			                  agent_seen_on(seen, reps->v[i])));
		json_object_set_new(root, "replicas", rl);
	}
	if (root == NULL || (hosts = json_array()) == NULL) {
		json_decref(root);
		return NULL;
	}
	json_object_set_new(root, "hosts", hosts);
	for (i = 0; i < adapter_count; i++) {
		const struct adapter *ad = adapter_registry[i];
		const struct host_state *hs = state_get(st, ad->id);
		struct host_location loc = {0};
		json_t *h, *m = json_array();
		struct diag d;
		int r = ad->locate(o->env, &loc, &d);

		for (k = 0; m != NULL && hs != NULL && k < hs->managed.n; k++)
			json_array_append_new(m, json_string(hs->managed.v[k]));
		h = json_pack("{s:s,s:b,s:s?,s:o,s:s?}", "id", ad->id,
		              "present", r == 0 && loc.present, "path",
		              r == 0 ? loc.path : NULL, "managed",
		              m ? m : json_array(), "error",
		              r != 0 ? d.msg : NULL);
		json_array_append_new(hosts, h);
		host_location_clear(&loc);
	}
	return root;
}

static void agent_status_human(const struct agent_opts *o,
                               const struct enrollment *e, bool enrolled,
                               const struct agent_seen *seen,
                               const struct agent_state *st,
                               const struct enrollment_replicas *reps)
{
	char t[64];
	size_t i, k;

	if (enrolled) {
		agent_time(e->enrolled_at, t, sizeof(t));
		fprintf(o->out,
		        "enrolled   %s (user %s) with %s:%d, since %s\n",
		        e->device_id, e->user, e->server, e->api_port, t);
		agent_time(agent_cert_expiry(o->home), t, sizeof(t));
		fprintf(o->out,
		        "cert       expires %s ('mcpfleet run' renews it)\n",
		        t);
	} else {
		fprintf(o->out, "enrolled   no (join a fleet with 'mcpfleet "
		                "enroll LINK')\n");
	}
	agent_time(seen->since, t, sizeof(t));
	if (!seen->known || !seen->running)
		fprintf(o->out, "agent      not running%s%s%s\n",
		        seen->last_error[0] ? " (last error: " : "",
		        seen->last_error, seen->last_error[0] ? ")" : "");
	else if (seen->connected)
		fprintf(o->out, "agent      connected to %s since %s\n",
		        seen->server, t);
	else
		fprintf(o->out,
		        "agent      running, not connected since %s%s%s\n", t,
		        seen->last_error[0] ? ": " : "", seen->last_error);
	for (i = 0; i < reps->n; i++)
		fprintf(o->out, "%s%s%s%s", i == 0 ? "replicas   " : ", ",
		        reps->v[i],
		        agent_seen_on(seen, reps->v[i]) ? " (connected)" : "",
		        i + 1 == reps->n ? "\n" : "");
	if (seen->known && seen->running)
		fprintf(o->out,
		        "launcher   %lld live session%s, %lld call record%s "
		        "waiting for the server\n",
		        (long long)seen->sessions,
		        seen->sessions == 1 ? "" : "s",
		        (long long)seen->calls_spooled,
		        seen->calls_spooled == 1 ? "" : "s");
	agent_time(st->last_sync, t, sizeof(t));
	fprintf(o->out, "revision   %llu (last sync %s)\n",
	        (unsigned long long)st->revision, t);
	if (seen->drift_at > 0) {
		agent_time(seen->drift_at, t, sizeof(t));
		fprintf(o->out, "last drift %s: %s repaired\n", t,
		        seen->drift_hosts);
	}
	fprintf(o->out, "\n%-15s %-8s %s\n", "HOST", "PRESENT", "MANAGED");
	for (i = 0; i < adapter_count; i++) {
		const struct adapter *ad = adapter_registry[i];
		const struct host_state *hs = state_get(st, ad->id);
		struct host_location loc = {0};
		struct diag d;
		int r = ad->locate(o->env, &loc, &d);

		fprintf(o->out, "%-15s %-8s ", ad->id,
		        r != 0        ? "error"
		        : loc.present ? "yes"
		                      : "no");
		for (k = 0; hs != NULL && k < hs->managed.n; k++)
			fprintf(o->out, "%s%s", k ? ", " : "",
			        hs->managed.v[k]);
		fprintf(o->out, "%s\n",
		        hs == NULL || hs->managed.n == 0 ? "-" : "");
		host_location_clear(&loc);
	}
}

int agent_status(const struct agent_opts *o, bool json)
{
	struct enrollment e;
	struct agent_state st = {0};
	struct agent_seen seen;
	struct enrollment_replicas reps;
	struct diag d;
	char *state_path = NULL, *text;
	bool enrolled = false;
	json_t *j;
	int r, code = EXIT_CONFIG;

	diag_clear(&d);
	memset(&e, 0, sizeof(e));
	r = enrollment_load(o->home, &e, &d);
	if (r != 0 && r != -ERR_NOENT) {
		fprintf(o->err, "mcpfleet: status: %s\n", d.msg);
		goto out;
	}
	enrolled = r == 0;
	if ((state_path = fileio_join(o->home, "state.json")) == NULL ||
	    state_load(state_path, &st, &d) != 0) {
		fprintf(o->err, "mcpfleet: status: %s\n",
		        state_path ? d.msg : "out of memory");
		goto out;
	}
	agent_seen_load(o->home, &seen);
	/* The replica set the agent keeps; without one, the enrolled
	 * server. */
	memset(&reps, 0, sizeof(reps));
	if (enrolled &&
	    (r = enrollment_replicas_load(o->home, &reps, &d)) != 0) {
		if (r != -ERR_NOENT)
			fprintf(o->err, "mcpfleet: status: warning: %s\n",
			        d.msg);
		memset(&reps, 0, sizeof(reps));
		if (replicas_addr_format(e.server, e.agent_port, reps.v[0],
		                         &d) == 0)
			reps.n = 1;
	}
	if (json) {
		if ((j = agent_status_json(o, &e, enrolled, &seen, &st,
		                           &reps)) == NULL ||
		    (text = jsonutil_dump_pretty(j, NULL)) == NULL) {
			json_decref(j);
			fprintf(o->err, "mcpfleet: out of memory\n");
			goto out;
		}
		fputs(text, o->out);
		free(text);
		json_decref(j);
	} else {
		agent_status_human(o, &e, enrolled, &seen, &st, &reps);
	}
	code = EXIT_OK;
out:
	state_clear(&st);
	free(state_path);
	return code;
}
