/* SPDX-License-Identifier: MIT */
/* "mcpfleet exec NAME": runs a fleet server for a host, governed. */
#define _GNU_SOURCE /* pipe2 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "bridge.h"
#include "buf.h"
#include "catalogue.h"
#include "enrollment.h"
#include "fileio.h"
#include "jsonutil.h"
#include "limiter.h"
#include "personal.h"
#include "relay.h"
#include "spool.h"

extern char **environ;

#define EXEC_READ_CHUNK    (256u << 10)
#define EXEC_BACKLOG_MAX   (64u << 20) /* unsent bytes before reads pause */
#define EXEC_RECORDS_MAX   10000       /* records held without an agent */
#define EXEC_RECORDS_BATCH 64  /* records that go to the agent together */
#define EXEC_RECORDS_MS    100 /* the longest a record waits for them */
#define EXEC_ADMIT_WAIT_MS 500
#define EXEC_REATTACH_MS   1000
#define EXEC_STOP_GRACE_MS 300  /* after an end: SIGTERM, then SIGKILL */
#define EXEC_EXIT_GRACE_MS 5000 /* after the host left: the same */
#define EXEC_CLOSE_WAIT_MS 2000 /* a remote session's last requests */

/* Set by SIGTERM, SIGINT and SIGHUP: the host wants us gone. */
static volatile sig_atomic_t exec_signalled;

struct exec {
	const struct exec_opts *o;
	struct server def; /* ${VAR}s resolved */
	bool fleet;
	struct agentsock_conn ag; /* fd -1 without an agent */
	int64_t reattach_at;      /* monotonic ms; 0: never */
	json_t *held;             /* records not yet handed to the agent */
	int64_t held_since;       /* monotonic ms of the oldest; 0: none */
	struct limiter *lim;      /* when no agent decides */
	struct relay *relay;
	json_t *policy; /* a "policy" that came during a call: applied after */
	bool ended;     /* the agent ended the session */
	int end_code;
	char end_reason[512];
};

static int64_t exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec_say(const struct exec *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line on stderr, which the hosts keep in their MCP logs. */
static void exec_say(const struct exec *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(e->o->err, "mcpfleet exec %s: ", e->o->name);
	va_start(ap, fmt);
	vfprintf(e->o->err, fmt, ap);
	va_end(ap);
	fputc('\n', e->o->err);
	fflush(e->o->err);
}

/* ---- The agent ---- */

static void exec_agent_lost(struct exec *e)
{
	agentsock_close(&e->ag);
	e->reattach_at = exec_now_ms() + EXEC_REATTACH_MS;
}

static int exec_admit(void *ctx, const char *tool, int64_t *retry_ms, char *why,
                      size_t whylen);

/* Reads a JSON array of strings into v; false when it is not one. */
static bool exec_strv(const json_t *a, struct strv *v)
{
	size_t i;

	if (!json_is_array(a))
		return false;
	for (i = 0; i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i)) ||
		    strv_push(v, json_string_value(json_array_get(a, i))) != 0)
			return false;
	return true;
}

/* "policy": the fleet changed the server's tool lists or limits. The host
 * is told to list the tools again when the lists changed. */
static void exec_agent_policy(struct exec *e, const json_t *msg,
                              struct buf *to_host)
{
	struct strv allow = {0}, deny = {0};
	bool limited = json_is_true(json_object_get(msg, "limited"));
	int r;

	if (!exec_strv(json_object_get(msg, "tools_allow"), &allow) ||
	    !exec_strv(json_object_get(msg, "tools_deny"), &deny))
		exec_say(e, "ignored a tool policy from the agent that is not "
		            "two lists of tools");
	else if ((r = relay_set_policy(e->relay, &allow, &deny,
	                               limited ? exec_admit : NULL)) < 0)
		exec_say(e, "out of memory: the tool policy stays as it was");
	else if (r > 0) {
		exec_say(e,
		         "the fleet changed the tool policy: %zu allowed, "
		         "%zu denied",
		         allow.n, deny.n);
		(void)buf_puts(to_host, RELAY_LIST_CHANGED);
	}
	strv_clear(&allow);
	strv_clear(&deny);
}

/* Applies a policy that came while the relay was busy with a call. */
static void exec_policy_due(struct exec *e, struct buf *to_host)
{
	if (e->policy == NULL)
		return;
	exec_agent_policy(e, e->policy, to_host);
	json_decref(e->policy);
	e->policy = NULL;
}

/* A message the agent sent on its own: "end" or "policy". Without to_host
 * (inside the relay, asking for admission), a policy waits for
 * exec_policy_due(). */
static void exec_agent_msg(struct exec *e, json_t *msg, struct buf *to_host)
{
	const char *op = json_string_value(json_object_get(msg, "op"));
	const char *why;
	json_int_t code;

	if (op != NULL && strcmp(op, "policy") == 0 && e->relay != NULL) {
		json_decref(e->policy);
		e->policy = json_incref(msg);
		if (to_host != NULL)
			exec_policy_due(e, to_host);
		return;
	}
	if (op == NULL || strcmp(op, "end") != 0)
		return;
	code = json_integer_value(json_object_get(msg, "code"));
	why = json_string_value(json_object_get(msg, "reason"));
	e->ended = true;
	e->end_code = code > 0 && code < 256 ? (int)code : EXEC_EXIT_UNKNOWN;
	(void)snprintf(e->end_reason, sizeof(e->end_reason), "%s",
	               why ? jsonutil_printable(why) : "ended by the agent");
}

/* The agent's messages; what the host must hear goes to to_host. */
static void exec_agent_read(struct exec *e, struct buf *to_host)
{
	json_t *msg;
	int r;

	while (e->ag.fd >= 0 && (r = agentsock_recv(&e->ag, 0, &msg)) == 0) {
		exec_agent_msg(e, msg, to_host);
		json_decref(msg);
	}
	if (e->ag.fd >= 0 && r == -ERR_IO)
		exec_agent_lost(e);
}

/* Sends the records held while no agent listened. */
static void exec_flush_held(struct exec *e)
{
	size_t i;

	for (i = 0; e->ag.fd >= 0 && i < json_array_size(e->held); i++)
		if (agentsock_send(&e->ag, json_array_get(e->held, i)) != 0) {
			exec_agent_lost(e);
			return;
		}
	json_array_clear(e->held);
	e->held_since = 0;
}

/* Hands the held records over once enough have gathered or the oldest
 * waited long enough: one wake-up of the agent for many calls, not one
 * per call (a round trip through the launcher stays short). */
static void exec_flush_due(struct exec *e, bool now)
{
	if (e->ag.fd < 0 || json_array_size(e->held) == 0)
		return;
	if (now || json_array_size(e->held) >= EXEC_RECORDS_BATCH ||
	    exec_now_ms() - e->held_since >= EXEC_RECORDS_MS)
		exec_flush_held(e);
}

/* How long the loop may sleep: until the held records are due. */
static int exec_timeout(const struct exec *e)
{
	int64_t left;

	if (json_array_size(e->held) == 0 || e->ag.fd < 0)
		return e->reattach_at ? EXEC_REATTACH_MS : 1000;
	left = e->held_since + EXEC_RECORDS_MS - exec_now_ms();
	return left < 0 ? 0 : (int)left;
}

/* A fleet session whose agent went away (restarted, say) attaches to the
 * next one, which checks again that the server may still run. */
static void exec_reattach(struct exec *e)
{
	json_t *def = NULL;
	struct diag d;
	int code;

	if (!e->fleet || e->ag.fd >= 0 || e->reattach_at == 0 ||
	    exec_now_ms() < e->reattach_at)
		return;
	e->reattach_at = exec_now_ms() + EXEC_REATTACH_MS;
	if (agentsock_connect(e->o->home, &e->ag, &d) != 0)
		return;
	code = agentsock_open(&e->ag, "attach", e->o->name, &def, &d);
	json_decref(def);
	if (code > 0) {
		e->ended = true;
		e->end_code = code;
		(void)snprintf(e->end_reason, sizeof(e->end_reason), "%s",
		               d.msg);
		return;
	}
	if (code < 0) {
		exec_agent_lost(e);
		return;
	}
	e->reattach_at = 0;
	exec_flush_held(e);
}

/* ---- The relay's hooks ---- */

static void exec_record(void *ctx, const struct relay_call *c)
{
	struct exec *e = ctx;
	json_t *m = json_pack(
	    "{s:s,s:s,s:s,s:I,s:I,s:i,s:I,s:I,s:s?}", "op", "call", "method",
	    c->method, "name", c->name ? c->name : "", "at_ms",
	    (json_int_t)c->at_ms, "duration_us", (json_int_t)c->duration_us,
	    "outcome", (int)c->outcome, "bytes_in", (json_int_t)c->bytes_in,
	    "bytes_out", (json_int_t)c->bytes_out, "detail", c->detail);

	if (m == NULL)
		return;
	if (json_array_size(e->held) == 0)
		e->held_since = exec_now_ms();
	if (json_array_size(e->held) < EXEC_RECORDS_MAX)
		json_array_append(e->held, m);
	json_decref(m);
	exec_flush_due(e, false);
}

static void exec_relay_log(void *ctx, const char *line)
{
	exec_say(ctx, "%s", line);
}

/* Rate decisions: the agent's buckets are shared by every session of the
 * user; without an agent, this session's own. */
static int exec_admit(void *ctx, const char *tool, int64_t *retry_ms, char *why,
                      size_t whylen)
{
	struct exec *e = ctx;
	int64_t deadline = exec_now_ms() + EXEC_ADMIT_WAIT_MS;
	json_t *req, *ans;
	const char *op;
	int r;

	if (e->ag.fd >= 0 && (req = json_pack("{s:s,s:s}", "op", "admit",
	                                      "tool", tool)) != NULL) {
		r = agentsock_send(&e->ag, req);
		json_decref(req);
		while (r == 0) {
			int left = (int)(deadline - exec_now_ms());

			if (left <= 0 ||
			    (r = agentsock_recv(&e->ag, left, &ans)) != 0)
				break;
			op = json_string_value(json_object_get(ans, "op"));
			if (op != NULL && strcmp(op, "admit") == 0) {
				r = json_is_true(json_object_get(ans, "ok"))
				        ? 0
				        : 1;
				*retry_ms = json_integer_value(
				    json_object_get(ans, "retry_ms"));
				op = json_string_value(
				    json_object_get(ans, "why"));
				(void)snprintf(why, whylen, "%s",
				               op ? op : "rate limit");
				json_decref(ans);
				return r;
			}
			exec_agent_msg(e, ans, NULL);
			json_decref(ans);
		}
		exec_agent_lost(e);
	}
	if (e->lim == NULL)
		return 0;
	return limiter_take(e->lim, tool, exec_now_ms(), retry_ms, why, whylen);
}

/* ---- Which server, and may it run ---- */

/* What agent.status says of an agent that is not running. */
struct exec_seen {
	bool revoked;
	char reason[300];
	int64_t last_contact; /* Unix seconds; 0: unknown */
	int64_t grace;        /* seconds */
};

static void exec_seen_load(const char *home, struct exec_seen *s)
{
	char *path = fileio_join(home, AGENT_STATUS_FILE), *text = NULL;
	json_t *j = NULL;
	const char *v;
	size_t len;

	memset(s, 0, sizeof(*s));
	s->grace = AGENTSOCK_GRACE_DEFAULT;
	if (path == NULL || fileio_read(path, 1u << 16, &text, &len) != 0 ||
	    (j = json_loadb(text, len, 0, NULL)) == NULL)
		goto out;
	s->revoked = json_is_true(json_object_get(j, "revoked"));
	if ((v = json_string_value(json_object_get(j, "last_error"))) != NULL)
		(void)snprintf(s->reason, sizeof(s->reason), "%s", v);
	s->last_contact =
	    json_integer_value(json_object_get(j, "last_contact"));
	if (json_integer_value(json_object_get(j, "offline_grace")) > 0)
		s->grace =
		    json_integer_value(json_object_get(j, "offline_grace"));
out:
	json_decref(j);
	free(text);
	free(path);
}

/* The personal server name into *out: 0, or EXEC_EXIT_UNKNOWN. */
static int exec_personal(struct exec *e, struct server *out, struct diag *d)
{
	struct catalogue cat = {0};
	const struct server *s;
	char *path = fileio_join(e->o->home, "mcp.json");
	int r;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = personal_load(path, &cat, d);
	free(path);
	if (r != 0)
		return EXEC_EXIT_USAGE;
	if ((s = catalogue_find(&cat, e->o->name)) == NULL) {
		catalogue_clear(&cat);
		return EXEC_EXIT_UNKNOWN;
	}
	r = server_copy(s, out) == 0 ? 0 : EXEC_EXIT_USAGE;
	catalogue_clear(&cat);
	return r;
}

/*
 * Finds the definition (docs/design.md, "Edge launcher", fail closed): the
 * running agent's answer for a fleet server; without an agent, the
 * verified catalogue.pb for a fleet server that needs no secret, within
 * the offline grace; otherwise a personal server of that name. Returns 0
 * with e->def, or an exec_exit code with d saying why.
 */
static int exec_find(struct exec *e, struct diag *d)
{
	const char *name = e->o->name;
	struct catalogue fleet = {0};
	struct exec_seen seen;
	struct server s = {0};
	uint64_t rev;
	json_t *def = NULL;
	int code, r;

	exec_seen_load(e->o->home, &seen);
	if (!enrollment_exists(e->o->home)) {
		if ((code = exec_personal(e, &s, d)) == 0)
			goto found;
		if (code == EXEC_EXIT_USAGE)
			return code;
		if (seen.revoked) {
			diag_set(d, ERR_PERM, 0, 0, "%s", seen.reason);
			return EXEC_EXIT_REVOKED;
		}
		diag_set(d, ERR_NOENT, 0, 0,
		         "this device is not enrolled in a fleet, and '%s' is "
		         "not a personal server (mcpfleet list)",
		         name);
		return EXEC_EXIT_NOT_ENROLLED;
	}
	if (agentsock_connect(e->o->home, &e->ag, d) == 0) {
		code = agentsock_open(&e->ag, "open", name, &def, d);
		if (code < 0) {
			agentsock_close(&e->ag);
			diag_set(
			    d, ERR_NETWORK, 0, 0,
			    "the agent did not answer ('mcpfleet status')");
			return EXEC_EXIT_NO_AGENT;
		}
		if (code == EXEC_EXIT_UNKNOWN &&
		    exec_personal(e, &s, NULL) == 0)
			goto personal; /* the fleet has none of that name */
		if (code != 0)
			return code;
		r = server_from_json(name, def, NULL, &s, d);
		json_decref(def);
		if (r != 0)
			return EXEC_EXIT_UNKNOWN;
		s.origin = SERVER_FLEET;
		e->fleet = true;
		goto found;
	}
	/* No agent: the kept catalogue, only for what needs nothing of it. */
	r = agent_fleet_load(e->o->home, &fleet, &rev, d);
	if (r == 0 && catalogue_find(&fleet, name) != NULL) {
		const struct server *f = catalogue_find(&fleet, name);
		int64_t away = (int64_t)time(NULL) - seen.last_contact;

		if (f->disabled) {
			catalogue_clear(&fleet);
			diag_set(
			    d, ERR_PERM, 0, 0,
			    "server '%s' is disabled in the fleet catalogue",
			    name);
			return EXEC_EXIT_UNKNOWN;
		}
		if (server_has_secrets(f)) {
			catalogue_clear(&fleet);
			diag_set(
			    d, ERR_PERM, 0, 0,
			    "the mcpfleet agent is not running, and server "
			    "'%s' needs its credentials (start it: "
			    "'mcpfleet run', or systemctl --user start "
			    "mcpfleet)",
			    name);
			return EXEC_EXIT_NO_AGENT;
		}
		if (seen.last_contact > 0 && away > seen.grace) {
			catalogue_clear(&fleet);
			diag_set(d, ERR_PERM, 0, 0,
			         "this device has not reached the fleet server "
			         "for %lld h, longer than the fleet allows "
			         "offline (offline_grace %lld h)",
			         (long long)(away / 3600),
			         (long long)(seen.grace / 3600));
			return EXEC_EXIT_OFFLINE;
		}
		r = server_copy(f, &s);
		catalogue_clear(&fleet);
		if (r != 0) {
			diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			return EXEC_EXIT_USAGE;
		}
		e->fleet = true;
		e->reattach_at = exec_now_ms() + EXEC_REATTACH_MS;
		goto found;
	}
	catalogue_clear(&fleet);
	if (exec_personal(e, &s, NULL) == 0)
		goto personal;
	diag_set(d, ERR_NOENT, 0, 0,
	         "server '%s' is not in the fleet catalogue this device "
	         "applied (%s)",
	         name,
	         r == 0 ? "and the agent is not running"
	                : "none verified; is 'mcpfleet run' running?");
	return EXEC_EXIT_UNKNOWN;
personal:
	agentsock_close(&e->ag);
found:
	/* ${VAR}s from the environment the host gave us, as the host
	 * would have given them to the server. */
	r = render_resolve(&s, e->o->env, RENDER_RESOLVE_HOST, &e->def, d);
	server_clear(&s);
	if (r != 0)
		return EXEC_EXIT_USAGE;
	e->def.origin = e->fleet ? SERVER_FLEET : SERVER_PERSONAL;
	return 0;
}

/* ---- Moving bytes ---- */

/* Bytes waiting to be written to one descriptor. */
struct exec_out {
	int fd;
	struct buf b;
	size_t off;
};

static size_t exec_out_pending(const struct exec_out *w)
{
	return w->b.len - w->off;
}

/* Writes what it can without blocking. Returns 0, or -ERR_IO when the
 * reader is gone. */
static int exec_out_flush(struct exec_out *w)
{
	ssize_t n;

	while (exec_out_pending(w) > 0) {
		n = write(w->fd, w->b.data + w->off, exec_out_pending(w));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -ERR_IO;
		w->off += (size_t)n;
	}
	buf_reset(&w->b);
	w->off = 0;
	return 0;
}

static void exec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Waits up to ms for the child to exit. True with *st when it did. */
static bool exec_wait(pid_t pid, int ms, int *st)
{
	int64_t deadline = exec_now_ms() + ms;
	pid_t r;

	do {
		if ((r = waitpid(pid, st, WNOHANG)) == pid)
			return true;
		if (r < 0 && errno != EINTR) {
			*st = 0;
			return true; /* not ours to wait for any more */
		}
		(void)poll(NULL, 0, 5);
	} while (exec_now_ms() < deadline);
	return false;
}

/*
 * Ends the child: with term, SIGTERM now; otherwise a grace of ms first.
 * SIGKILL when it outstays that. Returns its exit code (128 + N when
 * signal N ended it).
 */
static int exec_reap(pid_t pid, int ms, bool term)
{
	int st = 0;

	if (term)
		(void)kill(pid, SIGTERM);
	if (!exec_wait(pid, ms, &st)) {
		(void)kill(pid, term ? SIGKILL : SIGTERM);
		if (!exec_wait(pid, term ? 1000 : ms, &st)) {
			(void)kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXEC_EXIT_SPAWN;
}

/* The environment of the real server: ours, with the entry's on top. */
static char **exec_envp(const struct server *s)
{
	size_t n = 0, i, k, j;
	char **v;

	while (environ[n] != NULL)
		n++;
	if ((v = calloc(n + s->env.n + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0, k = 0; i < n; i++) {
		for (j = 0; j < s->env.n; j++) {
			size_t kl = strlen(s->env.v[j].key);

			if (strncmp(environ[i], s->env.v[j].key, kl) == 0 &&
			    environ[i][kl] == '=')
				break;
		}
		if (j == s->env.n)
			v[k++] = environ[i];
	}
	for (j = 0; j < s->env.n; j++) {
		struct buf b = BUF_INIT;

		if (buf_printf(&b, "%s=%s", s->env.v[j].key,
		               s->env.v[j].value) != 0)
			break;
		v[k++] = buf_steal(&b, NULL);
	}
	v[k] = NULL;
	return v;
}

static void exec_envp_free(char **v, const struct server *s)
{
	size_t n = 0;

	if (v == NULL)
		return;
	while (v[n] != NULL)
		n++;
	/* The entry's own strings are the last ones (they hold secrets). */
	while (n > 0 && s->env.n > 0) {
		size_t len = strlen(v[n - 1]);
		bool ours = false;
		size_t j;

		for (j = 0; j < s->env.n && !ours; j++)
			ours = strncmp(v[n - 1], s->env.v[j].key,
			               strlen(s->env.v[j].key)) == 0 &&
			       v[n - 1][strlen(s->env.v[j].key)] == '=';
		if (!ours)
			break;
		explicit_bzero(v[n - 1], len);
		free(v[n - 1]);
		n--;
	}
	free(v);
}

static int exec_spawn(struct exec *e, pid_t *pid, int *to_child,
                      int *from_child)
{
	posix_spawn_file_actions_t fa;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, r;
	char **argv = NULL, **envp = NULL;
	size_t i;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		exec_say(e, "cannot make pipes: %s", strerror(errno));
		r = EXEC_EXIT_SPAWN;
		goto out;
	}
	if ((argv = calloc(e->def.args.n + 2, sizeof(*argv))) == NULL ||
	    (envp = exec_envp(&e->def)) == NULL) {
		r = EXEC_EXIT_SPAWN;
		goto out;
	}
	argv[0] = e->def.command;
	for (i = 0; i < e->def.args.n; i++)
		argv[i + 1] = e->def.args.v[i];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	r = posix_spawnp(pid, e->def.command, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		exec_say(e, "cannot run '%s': %s",
		         jsonutil_printable(e->def.command), strerror(r));
		r = EXEC_EXIT_SPAWN;
		goto out;
	}
	*to_child = in[1];
	*from_child = out[0];
	in[1] = out[0] = -1;
	r = 0;
out:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(argv);
	exec_envp_free(envp, &e->def);
	return r;
}

/* ---- The stdio server ---- */

static int exec_stdio(struct exec *e)
{
	struct exec_out to_host = {.fd = e->o->out}, to_child = {.fd = -1};
	int from_child = -1, code = EXEC_EXIT_SPAWN, in = e->o->in;
	bool host_gone = false, child_gone = false;
	int64_t shutdown_at = 0; /* the host left: the server's deadline */
	char *chunk = malloc(EXEC_READ_CHUNK);
	pid_t pid = -1;
	ssize_t n;

	if (chunk == NULL ||
	    (code = exec_spawn(e, &pid, &to_child.fd, &from_child)) != 0)
		goto out;
	exec_nonblock(to_child.fd);
	exec_nonblock(from_child);
	exec_nonblock(to_host.fd);
	while (!e->ended && !exec_signalled && !child_gone &&
	       (shutdown_at == 0 || exec_now_ms() < shutdown_at)) {
		struct pollfd p[5];
		size_t np = 0, i_in = 9, i_child = 9, i_ag = 9;

		if (in >= 0 && exec_out_pending(&to_child) < EXEC_BACKLOG_MAX) {
			p[np] = (struct pollfd){.fd = in, .events = POLLIN};
			i_in = np++;
		}
		if (exec_out_pending(&to_host) < EXEC_BACKLOG_MAX) {
			p[np] =
			    (struct pollfd){.fd = from_child, .events = POLLIN};
			i_child = np++;
		}
		if (exec_out_pending(&to_host) > 0)
			p[np++] = (struct pollfd){.fd = to_host.fd,
			                          .events = POLLOUT};
		if (to_child.fd >= 0 && exec_out_pending(&to_child) > 0)
			p[np++] = (struct pollfd){.fd = to_child.fd,
			                          .events = POLLOUT};
		if (e->ag.fd >= 0) {
			p[np] =
			    (struct pollfd){.fd = e->ag.fd, .events = POLLIN};
			i_ag = np++;
		}
		if (poll(p, np, exec_timeout(e)) < 0 && errno != EINTR)
			break;
		if (i_ag < np && p[i_ag].revents)
			exec_agent_read(e, &to_host.b);
		exec_policy_due(e, &to_host.b);
		exec_reattach(e);
		exec_flush_due(e, false);
		if (i_in < np && p[i_in].revents) {
			n = read(in, chunk, EXEC_READ_CHUNK);
			if (n > 0)
				(void)relay_client_bytes(e->relay, chunk,
				                         (size_t)n, &to_child.b,
				                         &to_host.b);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				in = -1; /* the host closed its end */
		}
		if (i_child < np && p[i_child].revents) {
			n = read(from_child, chunk, EXEC_READ_CHUNK);
			if (n > 0)
				(void)relay_server_bytes(e->relay, chunk,
				                         (size_t)n, &to_host.b);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				child_gone = true;
		}
		if (to_child.fd >= 0 && exec_out_flush(&to_child) != 0) {
			close(to_child.fd);
			to_child.fd = -1;
			buf_reset(&to_child.b);
			to_child.off = 0;
		}
		if (exec_out_flush(&to_host) != 0) {
			host_gone = true;
			break;
		}
		/* The host is done and everything it said is out: closing the
		 * server's stdin asks it to exit (MCP's stdio shutdown). */
		if (in < 0 && to_child.fd >= 0 &&
		    exec_out_pending(&to_child) == 0) {
			close(to_child.fd);
			to_child.fd = -1;
			shutdown_at = exec_now_ms() + EXEC_EXIT_GRACE_MS;
		}
	}
	if (e->ended) {
		exec_say(e, "ended by the agent: %s", e->end_reason);
		(void)exec_reap(pid, EXEC_STOP_GRACE_MS, true);
		code = e->end_code;
		goto out;
	}
	if (child_gone) {
		/* What the server said last still reaches the host. */
		while (!host_gone && exec_out_pending(&to_host) > 0) {
			struct pollfd p = {.fd = to_host.fd, .events = POLLOUT};

			if (poll(&p, 1, 1000) <= 0 ||
			    exec_out_flush(&to_host) != 0)
				break;
		}
		code = exec_reap(pid, EXEC_EXIT_GRACE_MS, false);
		goto out;
	}
	if (to_child.fd >= 0) {
		close(to_child.fd);
		to_child.fd = -1;
	}
	/* Signalled, the host gone, or the grace after its leaving spent. */
	code = exec_reap(pid, shutdown_at ? 0 : EXEC_EXIT_GRACE_MS,
	                 exec_signalled != 0 || shutdown_at != 0);
out:
	if (to_child.fd >= 0)
		close(to_child.fd);
	if (from_child >= 0)
		close(from_child);
	buf_free(&to_child.b);
	buf_free(&to_host.b);
	free(chunk);
	return code;
}

/* ---- The remote server ---- */

/* Hands every line of lines (whole, each ending in '\n') to the bridge. */
static void exec_send_lines(struct exec *e, struct bridge *b, struct buf *lines)
{
	const char *p = lines->data, *end = p + lines->len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl > p && bridge_send(b, p, (size_t)(nl - p)) != 0)
			exec_say(e, "a message of %zu bytes could not be sent",
			         (size_t)(nl - p));
		p = nl + 1;
	}
	buf_reset(lines);
}

static int exec_remote(struct exec *e)
{
	struct bridge_config cfg = {
	    .url = e->def.url,
	    .transport =
	        e->def.transport == SERVER_SSE ? BRIDGE_SSE : BRIDGE_HTTP,
	    .headers = &e->def.headers,
	    .log = exec_relay_log,
	    .log_ctx = e,
	};
	struct exec_out to_host = {.fd = e->o->out};
	struct buf lines = BUF_INIT;
	struct bridge *b = NULL;
	struct diag d;
	char *chunk = malloc(EXEC_READ_CHUNK), *msg;
	int in = e->o->in, code = 0;
	size_t len;
	ssize_t n;

	diag_clear(&d);
	if (chunk == NULL || bridge_open(&cfg, &b, &d) != 0) {
		exec_say(e, "%s", chunk ? d.msg : "out of memory");
		code = EXEC_EXIT_UNREACHABLE;
		goto out;
	}
	exec_nonblock(to_host.fd);
	while (!e->ended && !exec_signalled && in >= 0) {
		struct pollfd p[3];
		size_t np = 0, i_in = 9, i_ag = 9;

		if (exec_out_pending(&to_host) < EXEC_BACKLOG_MAX) {
			p[np] = (struct pollfd){.fd = in, .events = POLLIN};
			i_in = np++;
		}
		if (exec_out_pending(&to_host) > 0)
			p[np++] = (struct pollfd){.fd = to_host.fd,
			                          .events = POLLOUT};
		if (e->ag.fd >= 0) {
			p[np] =
			    (struct pollfd){.fd = e->ag.fd, .events = POLLIN};
			i_ag = np++;
		}
		if (bridge_poll(b, p, np, exec_timeout(e), &d) != 0) {
			exec_say(e, "%s", d.msg);
			code = EXEC_EXIT_UNREACHABLE;
			break;
		}
		if (i_ag < np && p[i_ag].revents)
			exec_agent_read(e, &to_host.b);
		exec_policy_due(e, &to_host.b);
		exec_reattach(e);
		exec_flush_due(e, false);
		if (i_in < np && p[i_in].revents) {
			n = read(in, chunk, EXEC_READ_CHUNK);
			if (n > 0) {
				(void)relay_client_bytes(e->relay, chunk,
				                         (size_t)n, &lines,
				                         &to_host.b);
				exec_send_lines(e, b, &lines);
			} else if (n == 0 ||
			           (errno != EINTR && errno != EAGAIN)) {
				in = -1; /* the host closed its end */
			}
		}
		while (bridge_recv(b, &msg, &len) == 0) {
			(void)relay_server_message(e->relay, msg, len,
			                           &to_host.b);
			free(msg);
		}
		if (exec_out_flush(&to_host) != 0)
			break; /* the host is gone */
	}
	if (e->ended) {
		exec_say(e, "ended by the agent: %s", e->end_reason);
		code = e->end_code;
	}
	bridge_close(b, e->ended || exec_signalled ? 0 : EXEC_CLOSE_WAIT_MS);
out:
	bridge_free(b);
	buf_free(&lines);
	buf_free(&to_host.b);
	free(chunk);
	return code;
}

/* ---- The session ---- */

static void exec_on_signal(int sig)
{
	(void)sig;
	exec_signalled = 1;
}

/* Records that no agent took: held for the agent, which takes them into
 * its spool (client/spool.c, spool_hold()). */
static void exec_spool_held(struct exec *e)
{
	struct diag d;
	size_t n = json_array_size(e->held), i;
	json_t **v;

	if (n == 0)
		return;
	if ((v = calloc(n, sizeof(*v))) == NULL) {
		exec_say(e, "%zu call records lost: out of memory", n);
		return;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(e->held, i);
	if (spool_hold(e->o->home, e->o->name, v, n, &d) != 0)
		exec_say(e, "%zu call records lost: %s", n, d.msg);
	free(v);
}

int exec_run(const struct exec_opts *o)
{
	struct exec e;
	struct relay_config rc;
	struct sigaction sa;
	struct diag d;
	int code;

	memset(&e, 0, sizeof(e));
	e.o = o;
	e.ag.fd = -1;
	diag_clear(&d);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = exec_on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	if ((e.held = json_array()) == NULL) {
		code = EXEC_EXIT_USAGE;
		goto out;
	}
	if ((code = exec_find(&e, &d)) != 0) {
		exec_say(&e, "%s", d.msg);
		goto out;
	}
	if (limiter_new(&e.def.rate, &e.def.tool_rates, &e.lim) != 0) {
		code = EXEC_EXIT_USAGE;
		goto out;
	}
	memset(&rc, 0, sizeof(rc));
	rc.server = o->name;
	rc.allow = &e.def.tools_allow;
	rc.deny = &e.def.tools_deny;
	rc.hooks.ctx = &e;
	rc.hooks.record = e.fleet ? exec_record : NULL;
	rc.hooks.log = exec_relay_log;
	/* Only a server with limits asks anyone: the common case costs no
	 * round trip to the agent. */
	if (e.def.rate.count > 0 || e.def.tool_rates.n > 0)
		rc.hooks.admit = exec_admit;
	if (relay_new(&rc, &e.relay) != 0) {
		exec_say(&e, "out of memory");
		code = EXEC_EXIT_USAGE;
		goto out;
	}
	code =
	    e.def.transport == SERVER_STDIO ? exec_stdio(&e) : exec_remote(&e);
	relay_finish(e.relay);
	exec_flush_due(&e, true);
	if (e.fleet && e.ag.fd < 0 && json_array_size(e.held) > 0) {
		e.reattach_at = 1; /* one last try to hand them over */
		exec_reattach(&e);
	}
	exec_spool_held(&e);
out:
	relay_free(e.relay);
	limiter_free(e.lim);
	agentsock_close(&e.ag);
	json_decref(e.held);
	json_decref(e.policy);
	server_clear(&e.def);
	return code;
}
