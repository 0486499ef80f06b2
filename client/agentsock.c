/* SPDX-License-Identifier: MIT */
/* The agent's socket: the running agent serves its launchers. */
#define _GNU_SOURCE /* struct ucred */
#include "agentsock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "devsecret.h"
#include "fileio.h"
#include "jsonutil.h"
#include "limiter.h"

/* One launcher's connection. */
struct agentsock_session {
	struct agentsock_conn c;
	char *server; /* once open */
	char *policy; /* the tool policy it runs with (agentsock_policy()) */
};

/* The rate buckets of one server, shared by all its sessions: the limits
 * are per user and server, and this machine's sessions are the user's. */
struct agentsock_limits {
	char *server;
	struct rate rate;
	struct tool_rate_list tool_rates;
	struct limiter *lim;
};

struct agentsock {
	pthread_t tid;
	bool started;
	int lfd;     /* the listening socket */
	int wake[2]; /* the main thread's nudges */
	char *path;
	struct spool *spool;
	FILE *log;

	pthread_mutex_t mu; /* guards everything below */
	bool stopping;
	struct catalogue fleet;
	bool have_fleet;
	uint64_t revision;
	char *user, *device_id;
	uint8_t key[DEVSECRET_KEY_LEN];
	bool have_key;
	int64_t grace;        /* seconds */
	int64_t last_contact; /* Unix seconds */
	enum exec_exit end_code;
	char *end_reason; /* set: every session ends, none opens */
	bool changed;     /* the sessions must be checked again */
	size_t nsessions; /* for agentsock_sessions() */

	/* The socket thread's own. */
	struct agentsock_session *sessions;
	size_t n;
	struct agentsock_limits *limits;
	size_t nlimits;
};

static void agentsock_log(struct agentsock *as, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void agentsock_log(struct agentsock *as, const char *fmt, ...)
{
	va_list ap;

	if (as->log == NULL)
		return;
	fputs("mcpfleet: launcher: ", as->log);
	va_start(ap, fmt);
	vfprintf(as->log, fmt, ap);
	va_end(ap);
	fputc('\n', as->log);
	fflush(as->log);
}

static int64_t agentsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Lines ---- */

int agentsock_send(struct agentsock_conn *c, json_t *msg)
{
	char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	size_t n, off = 0;
	ssize_t w;
	int r = -ERR_IO;

	if (s == NULL)
		return -ERR_NOMEM;
	n = strlen(s);
	s[n] = '\n'; /* json_dumps' NUL: the line's end instead */
	while (off < n + 1) {
		w = send(c->fd, s + off, n + 1 - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};

			/* A peer that reads nothing for a second is gone. */
			if (poll(&p, 1, 1000) <= 0)
				goto out;
			continue;
		}
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	r = 0;
out:
	free(s);
	return r;
}

/* Takes one line out of c->buf, if a whole one is there. */
static int agentsock_take(struct agentsock_conn *c, json_t **msg)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	size_t n;
	json_t *j;

	if (nl == NULL)
		return c->len >= AGENTSOCK_LINE_MAX ? -ERR_IO : -ERR_NOENT;
	n = (size_t)(nl - c->buf);
	j = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, NULL);
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return -ERR_IO;
	}
	*msg = j;
	return 0;
}

/* Reads what is there. Returns 0, -ERR_IO on EOF or error, or -ERR_NOENT
 * when nothing could be read yet. */
static int agentsock_fill(struct agentsock_conn *c)
{
	ssize_t n;

	if (c->cap - c->len < 4096) {
		size_t ncap = c->cap ? c->cap * 2 : 8192;
		char *nb;

		if (ncap > AGENTSOCK_LINE_MAX + 8192)
			ncap = AGENTSOCK_LINE_MAX + 8192;
		if (ncap <= c->len)
			return -ERR_IO;
		if ((nb = realloc(c->buf, ncap)) == NULL)
			return -ERR_IO;
		c->buf = nb;
		c->cap = ncap;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -ERR_NOENT;
	if (n <= 0)
		return -ERR_IO;
	c->len += (size_t)n;
	return 0;
}

int agentsock_recv(struct agentsock_conn *c, int timeout_ms, json_t **msg)
{
	int64_t deadline =
	    agentsock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct pollfd p;
	int r, left;

	for (;;) {
		if ((r = agentsock_take(c, msg)) != -ERR_NOENT)
			return r;
		r = agentsock_fill(c);
		if (r == 0)
			continue;
		if (r != -ERR_NOENT)
			return r;
		left =
		    timeout_ms < 0 ? -1 : (int)(deadline - agentsock_now_ms());
		if (timeout_ms >= 0 && left <= 0)
			return -ERR_NOENT;
		p.fd = c->fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return -ERR_IO;
	}
}

static int agentsock_path(const char *home, struct sockaddr_un *sa,
                          struct diag *d)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", home,
	                     AGENTSOCK_FILE) >= sizeof(sa->sun_path))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s/%s: the path is too long for a Unix socket "
		                "(%zu bytes at most)",
		                home, AGENTSOCK_FILE, sizeof(sa->sun_path) - 1);
	return 0;
}

int agentsock_connect(const char *home, struct agentsock_conn *c,
                      struct diag *d)
{
	struct sockaddr_un sa;
	int fd, r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((r = agentsock_path(home, &sa, d)) != 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return diag_set(d, ERR_IO, 0, 0, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = errno == ENOENT || errno == ECONNREFUSED ? ERR_NOENT
		                                             : ERR_IO;
		diag_set(d, r, 0, 0, "%s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return -r;
	}
	c->fd = fd;
	return 0;
}

void agentsock_close(struct agentsock_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int agentsock_open(struct agentsock_conn *c, const char *op, const char *name,
                   json_t **def, struct diag *d)
{
	json_t *req = json_pack("{s:s,s:s,s:I}", "op", op, "server", name,
	                        "pid", (json_int_t)getpid());
	json_t *ans = NULL;
	int64_t deadline = agentsock_now_ms() + 5000;
	int r;

	if (req == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = agentsock_send(c, req);
	json_decref(req);
	if (r != 0)
		return diag_set(d, ERR_IO, 0, 0,
		                "the agent closed its socket: %s",
		                strerror(errno));
	/* Skip anything that is not the answer (none is expected yet). */
	for (;;) {
		int left = (int)(deadline - agentsock_now_ms());
		const char *o;

		if (left <= 0)
			return diag_set(d, ERR_NETWORK, 0, 0,
			                "the agent did not answer within 5 s");
		if ((r = agentsock_recv(c, left, &ans)) != 0)
			return diag_set(d,
			                r == -ERR_NOENT ? ERR_NETWORK : ERR_IO,
			                0, 0, "the agent did not answer");
		o = json_string_value(json_object_get(ans, "op"));
		if (o != NULL && strcmp(o, op) == 0)
			break;
		json_decref(ans);
	}
	if (json_is_true(json_object_get(ans, "ok")) &&
	    json_is_object(json_object_get(ans, "server"))) {
		*def = json_incref(json_object_get(ans, "server"));
		r = 0;
	} else {
		json_int_t code =
		    json_integer_value(json_object_get(ans, "code"));
		const char *why =
		    json_string_value(json_object_get(ans, "reason"));

		r = code > 0 && code < 256 ? (int)code : EXEC_EXIT_UNKNOWN;
		diag_set(d, ERR_PERM, 0, 0, "%s",
		         why ? jsonutil_printable(why)
		             : "refused by the agent");
	}
	json_decref(ans);
	return r;
}

/* ---- The agent's side ---- */

static void agentsock_wake(struct agentsock *as)
{
	char c = 1;

	/* A full pipe already holds a nudge. */
	(void)!write(as->wake[1], &c, 1);
}

static void agentsock_limits_clear(struct agentsock_limits *l)
{
	free(l->server);
	tool_rate_list_clear(&l->tool_rates);
	limiter_free(l->lim);
	memset(l, 0, sizeof(*l));
}

static bool agentsock_rates_equal(const struct agentsock_limits *l,
                                  const struct server *s)
{
	size_t i;

	if (l->rate.count != s->rate.count ||
	    l->rate.per_secs != s->rate.per_secs ||
	    l->tool_rates.n != s->tool_rates.n)
		return false;
	for (i = 0; i < s->tool_rates.n; i++)
		if (strcmp(l->tool_rates.v[i].tools,
		           s->tool_rates.v[i].tools) != 0 ||
		    l->tool_rates.v[i].rate.count !=
		        s->tool_rates.v[i].rate.count ||
		    l->tool_rates.v[i].rate.per_secs !=
		        s->tool_rates.v[i].rate.per_secs)
			return false;
	return true;
}

/* The buckets of server s, made when first needed and kept while its
 * limits stay the same (a new revision does not refill them). Called with
 * as->mu held. */
static struct limiter *agentsock_limiter(struct agentsock *as,
                                         const struct server *s)
{
	struct agentsock_limits *l = NULL, *nv;
	size_t i;

	for (i = 0; i < as->nlimits; i++)
		if (strcmp(as->limits[i].server, s->name) == 0)
			l = &as->limits[i];
	if (l != NULL && agentsock_rates_equal(l, s))
		return l->lim;
	if (l == NULL) {
		if ((nv = realloc(as->limits,
		                  (as->nlimits + 1) * sizeof(*nv))) == NULL)
			return NULL;
		as->limits = nv;
		l = &as->limits[as->nlimits++];
		memset(l, 0, sizeof(*l));
	} else {
		char *keep = l->server;

		l->server = NULL;
		agentsock_limits_clear(l);
		l->server = keep;
	}
	if (l->server == NULL && (l->server = strdup(s->name)) == NULL)
		goto fail;
	l->rate = s->rate;
	for (i = 0; i < s->tool_rates.n; i++)
		if (tool_rate_list_put(&l->tool_rates, s->tool_rates.v[i].tools,
		                       &s->tool_rates.v[i].rate) != 0)
			goto fail;
	if (limiter_new(&l->rate, &l->tool_rates, &l->lim) != 0)
		goto fail;
	return l->lim;
fail:
	agentsock_limits_clear(l);
	as->nlimits--;
	return NULL;
}

/* Why server name may not run now, or 0. Called with as->mu held. */
static int agentsock_refusal(struct agentsock *as, const char *name,
                             const struct server **out, char *why, size_t size)
{
	const struct server *s;
	int64_t now = (int64_t)time(NULL), away;

	*out = NULL;
	if (as->end_reason != NULL) {
		(void)snprintf(why, size, "%s", as->end_reason);
		return as->end_code;
	}
	if (!as->have_fleet) {
		(void)snprintf(why, size,
		               "no fleet catalogue has arrived yet: the agent "
		               "has not reached the fleet server");
		return EXEC_EXIT_UNKNOWN;
	}
	if ((s = catalogue_find(&as->fleet, name)) == NULL) {
		(void)snprintf(why, size,
		               "server '%s' is not in the fleet catalogue "
		               "(revision %llu) that this device applied",
		               name, (unsigned long long)as->revision);
		return EXEC_EXIT_UNKNOWN;
	}
	if (s->disabled) {
		(void)snprintf(why, size,
		               "server '%s' is disabled in the fleet catalogue",
		               name);
		return EXEC_EXIT_UNKNOWN;
	}
	away = now - as->last_contact;
	if (as->last_contact > 0 && away > as->grace) {
		(void)snprintf(why, size,
		               "this device has not reached the fleet server "
		               "for %lld h, longer than the fleet allows "
		               "offline (offline_grace %lld h): connect to the "
		               "network and let 'mcpfleet run' reach it",
		               (long long)(away / 3600),
		               (long long)(as->grace / 3600));
		return EXEC_EXIT_OFFLINE;
	}
	*out = s;
	return 0;
}

/*
 * What a live launcher enforces itself and may have to change: the tool
 * lists, and whether it asks the agent before each tools/call (the rates
 * themselves are the agent's). A new JSON object, or NULL.
 */
static json_t *agentsock_policy(const struct server *s)
{
	json_t *allow = strv_json(&s->tools_allow),
	       *deny = strv_json(&s->tools_deny);

	if (allow == NULL || deny == NULL) {
		json_decref(allow);
		json_decref(deny);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:b}", "tools_allow", allow, "tools_deny",
	                 deny, "limited",
	                 s->rate.count > 0 || s->tool_rates.n > 0);
}

/* The policy's text, to tell a change; a new string or NULL. */
static char *agentsock_policy_text(const struct server *s)
{
	json_t *p = agentsock_policy(s);
	char *t = p ? json_dumps(p, JSON_COMPACT) : NULL;

	json_decref(p);
	return t;
}

/* Sends a live session its server's new tool policy, when it changed. */
static void agentsock_push_policy(struct agentsock *as,
                                  struct agentsock_session *ss,
                                  const struct server *s)
{
	char *text = agentsock_policy_text(s);
	json_t *m;

	if (text == NULL ||
	    (ss->policy != NULL && strcmp(text, ss->policy) == 0)) {
		free(text);
		return;
	}
	if ((m = agentsock_policy(s)) != NULL &&
	    json_object_set_new(m, "op", json_string("policy")) == 0 &&
	    agentsock_send(&ss->c, m) == 0) {
		agentsock_log(as, "new tool policy for a session of '%s'",
		              ss->server);
		free(ss->policy);
		ss->policy = text;
		text = NULL;
	}
	json_decref(m);
	free(text);
}

static void agentsock_refuse(struct agentsock_session *ss, const char *op,
                             int code, const char *why)
{
	json_t *m = json_pack("{s:s,s:b,s:i,s:s}", "op", op, "ok", false,
	                      "code", code, "reason", why);

	(void)agentsock_send(&ss->c, m);
	json_decref(m);
}

/* "open" and "attach": checks, then the definition. Returns false when
 * the session is to be closed. Called with as->mu held. */
static bool agentsock_on_open(struct agentsock *as,
                              struct agentsock_session *ss, const char *op,
                              json_t *msg)
{
	const char *name = json_string_value(json_object_get(msg, "server"));
	const struct server *s;
	struct server open = {0};
	char why[512];
	json_t *def, *ans;
	struct diag d;
	int code;

	if (ss->server != NULL || name == NULL ||
	    server_name_check(name, &d) != 0) {
		agentsock_refuse(ss, op, EXEC_EXIT_USAGE,
		                 ss->server ? "this session is open already"
		                            : "no valid server name");
		return false;
	}
	if ((code = agentsock_refusal(as, name, &s, why, sizeof(why))) != 0) {
		agentsock_log(as, "refused '%s': %s", name, why);
		agentsock_refuse(ss, op, code, why);
		return false;
	}
	if (server_has_secrets(s)) {
		if (!as->have_key) {
			agentsock_refuse(
			    ss, op, EXEC_EXIT_NO_AGENT,
			    "the fleet server has not sent this "
			    "device's data key yet: the agent must "
			    "reach it once");
			return false;
		}
		if (devsecret_fill(s, as->key, as->device_id, &open, &d) != 0) {
			agentsock_log(as, "refused '%s': %s", name, d.msg);
			agentsock_refuse(ss, op, EXEC_EXIT_UNKNOWN, d.msg);
			return false;
		}
		s = &open;
	}
	def = server_to_json(s);
	ss->policy = agentsock_policy_text(s);
	server_wipe(&open);
	if (def == NULL || (ss->server = strdup(name)) == NULL) {
		json_decref(def);
		agentsock_refuse(ss, op, EXEC_EXIT_UNKNOWN, "out of memory");
		return false;
	}
	ans = json_pack("{s:s,s:b,s:o,s:I,s:s?,s:s?}", "op", op, "ok", true,
	                "server", def, "revision", (json_int_t)as->revision,
	                "user", as->user, "device_id", as->device_id);
	(void)agentsock_send(&ss->c, ans);
	json_decref(ans);
	return true;
}

/* "admit": one token for a tools/call. Called with as->mu held. */
static void agentsock_on_admit(struct agentsock *as,
                               struct agentsock_session *ss, json_t *msg)
{
	const char *tool = json_string_value(json_object_get(msg, "tool"));
	const struct server *s =
	    ss->server ? catalogue_find(&as->fleet, ss->server) : NULL;
	struct limiter *lim = s ? agentsock_limiter(as, s) : NULL;
	int64_t retry = 0;
	char why[256] = "";
	json_t *ans;
	int r = 0;

	if (lim != NULL)
		r = limiter_take(lim, tool ? tool : "", agentsock_now_ms(),
		                 &retry, why, sizeof(why));
	ans = r == 0
	          ? json_pack("{s:s,s:b}", "op", "admit", "ok", true)
	          : json_pack("{s:s,s:b,s:I,s:s}", "op", "admit", "ok", false,
	                      "retry_ms", (json_int_t)retry, "why", why);
	(void)agentsock_send(&ss->c, ans);
	json_decref(ans);
}

/* "call": one audit record into the spool. */
static void agentsock_on_call(struct agentsock *as,
                              struct agentsock_session *ss, json_t *msg)
{
	struct spool_record r;

	if (spool_record_from_json(msg, ss->server, &r) != 0) {
		agentsock_log(as, "ignored a call record without a server, "
		                  "method or known outcome");
		return;
	}
	if (spool_append(as->spool, &r) != 0)
		agentsock_log(as,
		              "the calls spool could not be written (%s); "
		              "the record is kept in memory",
		              strerror(errno));
}

/* Handles the messages a session sent. Returns false to close it. */
static bool agentsock_serve(struct agentsock *as, struct agentsock_session *ss)
{
	json_t *msg;
	const char *op;
	bool keep = true;
	int r;

	if ((r = agentsock_fill(&ss->c)) == -ERR_IO)
		return false;
	while (keep && (r = agentsock_take(&ss->c, &msg)) == 0) {
		op = json_string_value(json_object_get(msg, "op"));
		pthread_mutex_lock(&as->mu);
		if (op == NULL)
			keep = false;
		else if (strcmp(op, "open") == 0 || strcmp(op, "attach") == 0)
			keep = agentsock_on_open(as, ss, op, msg);
		else if (strcmp(op, "admit") == 0 && ss->server != NULL)
			agentsock_on_admit(as, ss, msg);
		else if (strcmp(op, "call") == 0)
			agentsock_on_call(as, ss, msg);
		else
			keep = false;
		pthread_mutex_unlock(&as->mu);
		json_decref(msg);
	}
	return keep && r != -ERR_IO;
}

static void agentsock_session_close(struct agentsock *as, size_t i)
{
	agentsock_close(&as->sessions[i].c);
	free(as->sessions[i].server);
	free(as->sessions[i].policy);
	as->sessions[i] = as->sessions[--as->n];
}

static void agentsock_end(struct agentsock_session *ss, int code,
                          const char *why)
{
	json_t *m = json_pack("{s:s,s:i,s:s}", "op", "end", "code", code,
	                      "reason", why);

	(void)agentsock_send(&ss->c, m);
	json_decref(m);
}

/* After an update: ends the sessions whose server may no longer run, and
 * tells the others of a new tool policy. */
static void agentsock_recheck(struct agentsock *as)
{
	const struct server *s;
	char why[512];
	size_t i;
	int code;

	pthread_mutex_lock(&as->mu);
	as->changed = false;
	for (i = 0; i < as->n;) {
		struct agentsock_session *ss = &as->sessions[i];

		if (ss->server == NULL) {
			i++;
			continue;
		}
		if ((code = agentsock_refusal(as, ss->server, &s, why,
		                              sizeof(why))) == 0) {
			agentsock_push_policy(as, ss, s);
			i++;
			continue;
		}
		agentsock_log(as, "ending a session of '%s': %s", ss->server,
		              why);
		agentsock_end(ss, code, why);
		agentsock_session_close(as, i);
	}
	as->nsessions = as->n;
	pthread_mutex_unlock(&as->mu);
}

static bool agentsock_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       cred.uid == getuid();
}

static void agentsock_accept(struct agentsock *as)
{
	struct agentsock_session *ss;
	int fd = accept4(as->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (!agentsock_peer_ok(fd)) {
		agentsock_log(as, "refused a connection from another user");
		close(fd);
		return;
	}
	if (as->n >= AGENTSOCK_SESSIONS_MAX) {
		agentsock_log(as, "refused a launcher: %d sessions are live",
		              AGENTSOCK_SESSIONS_MAX);
		close(fd);
		return;
	}
	if ((as->n % 16) == 0) {
		ss = realloc(as->sessions, (as->n + 16) * sizeof(*ss));
		if (ss == NULL) {
			close(fd);
			return;
		}
		as->sessions = ss;
	}
	ss = &as->sessions[as->n++];
	memset(ss, 0, sizeof(*ss));
	ss->c.fd = fd;
}

static void *agentsock_thread(void *arg)
{
	struct agentsock *as = arg;
	struct pollfd *p = NULL;
	size_t i, cap = 0;
	char drain[64];

	for (;;) {
		pthread_mutex_lock(&as->mu);
		if (as->stopping) {
			pthread_mutex_unlock(&as->mu);
			break;
		}
		as->nsessions = as->n;
		pthread_mutex_unlock(&as->mu);
		if (cap < as->n + 2) {
			struct pollfd *np =
			    realloc(p, (as->n + 18) * sizeof(*p));

			if (np == NULL) {
				(void)poll(NULL, 0, 100);
				continue;
			}
			p = np;
			cap = as->n + 18;
		}
		p[0].fd = as->wake[0];
		p[1].fd = as->n < AGENTSOCK_SESSIONS_MAX ? as->lfd : -1;
		for (i = 0; i < as->n; i++)
			p[i + 2].fd = as->sessions[i].c.fd;
		for (i = 0; i < as->n + 2; i++) {
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, as->n + 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			while (read(as->wake[0], drain, sizeof(drain)) > 0)
				;
		/* Sessions first: the indexes of p are theirs until one
		 * closes, so walk backwards. */
		for (i = as->n; i-- > 0;)
			if ((p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !agentsock_serve(as, &as->sessions[i]))
				agentsock_session_close(as, i);
		if (p[1].revents & POLLIN)
			agentsock_accept(as);
		if (as->changed)
			agentsock_recheck(as);
	}
	free(p);
	return NULL;
}

int agentsock_start(const char *home, struct spool *spool, FILE *log,
                    struct agentsock **out, struct diag *d)
{
	struct agentsock *as = calloc(1, sizeof(*as));
	struct agentsock_conn probe;
	struct sockaddr_un sa;
	mode_t old;
	int r;

	if (as == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	as->lfd = as->wake[0] = as->wake[1] = -1;
	as->spool = spool;
	as->log = log;
	as->grace = AGENTSOCK_GRACE_DEFAULT;
	as->last_contact = (int64_t)time(NULL);
	pthread_mutex_init(&as->mu, NULL);
	if ((r = agentsock_path(home, &sa, d)) != 0)
		goto fail;
	if ((as->path = strdup(sa.sun_path)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto fail;
	}
	if (agentsock_connect(home, &probe, NULL) == 0) {
		agentsock_close(&probe);
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "%s: another agent is running for this home",
		             as->path);
		goto fail;
	}
	(void)unlink(as->path); /* a stale socket of an agent that died */
	if ((as->lfd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    pipe2(as->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Created 0600 from the start: no moment where others may connect. */
	old = umask(0177);
	r = bind(as->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || chmod(as->path, 0600) != 0 || listen(as->lfd, 64) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", as->path,
		             strerror(errno));
		goto fail;
	}
	if (pthread_create(&as->tid, NULL, agentsock_thread, as) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: no thread: %s", as->path,
		             strerror(errno));
		goto fail;
	}
	as->started = true;
	*out = as;
	return 0;
fail:
	agentsock_stop(as);
	return r;
}

int agentsock_update(struct agentsock *as, const struct catalogue *fleet,
                     uint64_t revision, const char *user, const char *device_id,
                     int64_t offline_grace, const uint8_t *data_key)
{
	struct catalogue copy = {0};
	char *u = user ? strdup(user) : NULL;
	char *dv = device_id ? strdup(device_id) : NULL;
	size_t i;
	int r = -ERR_NOMEM;

	if ((user && u == NULL) || (device_id && dv == NULL))
		goto fail;
	for (i = 0; fleet != NULL && i < fleet->n; i++) {
		struct server s;

		if (server_copy(&fleet->servers[i], &s) != 0)
			goto fail;
		if ((r = catalogue_put(&copy, &s)) != 0) {
			server_clear(&s);
			goto fail;
		}
	}
	pthread_mutex_lock(&as->mu);
	catalogue_clear(&as->fleet);
	as->fleet = copy;
	as->have_fleet = fleet != NULL;
	as->revision = revision;
	free(as->user);
	free(as->device_id);
	as->user = u;
	as->device_id = dv;
	as->grace = offline_grace > 0 ? offline_grace : AGENTSOCK_GRACE_DEFAULT;
	as->have_key = data_key != NULL;
	if (data_key != NULL)
		memcpy(as->key, data_key, DEVSECRET_KEY_LEN);
	as->changed = true;
	pthread_mutex_unlock(&as->mu);
	agentsock_wake(as);
	return 0;
fail:
	catalogue_clear(&copy);
	free(u);
	free(dv);
	return r;
}

void agentsock_contact(struct agentsock *as, int64_t now)
{
	pthread_mutex_lock(&as->mu);
	as->last_contact = now;
	pthread_mutex_unlock(&as->mu);
}

void agentsock_end_all(struct agentsock *as, enum exec_exit code,
                       const char *reason)
{
	char *r = strdup(reason);

	pthread_mutex_lock(&as->mu);
	if (r != NULL) {
		free(as->end_reason);
		as->end_reason = r;
		as->end_code = code;
	}
	as->changed = true;
	pthread_mutex_unlock(&as->mu);
	agentsock_wake(as);
}

size_t agentsock_sessions(struct agentsock *as)
{
	size_t n;

	pthread_mutex_lock(&as->mu);
	n = as->nsessions;
	pthread_mutex_unlock(&as->mu);
	return n;
}

void agentsock_stop(struct agentsock *as)
{
	size_t i;

	if (as == NULL)
		return;
	if (as->started) {
		pthread_mutex_lock(&as->mu);
		as->stopping = true;
		pthread_mutex_unlock(&as->mu);
		agentsock_wake(as);
		pthread_join(as->tid, NULL);
		/* Only a socket we bound is ours to remove. */
		(void)unlink(as->path);
	}
	while (as->n > 0)
		agentsock_session_close(as, as->n - 1);
	free(as->sessions);
	for (i = 0; i < as->nlimits; i++)
		agentsock_limits_clear(&as->limits[i]);
	free(as->limits);
	if (as->lfd >= 0)
		close(as->lfd);
	if (as->wake[0] >= 0)
		close(as->wake[0]);
	if (as->wake[1] >= 0)
		close(as->wake[1]);
	catalogue_clear(&as->fleet);
	free(as->user);
	free(as->device_id);
	free(as->end_reason);
	free(as->path);
	explicit_bzero(as->key, sizeof(as->key));
	pthread_mutex_destroy(&as->mu);
	free(as);
}
