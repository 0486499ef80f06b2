/* SPDX-License-Identifier: MIT */
/* Tests of the launcher's JSON-RPC relay and of its token buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "limiter.h"
#include "relay.h"
#include "testutil.h"

struct rec {
	char method[32];
	char name[RELAY_NAME_MAX + 1];
	int64_t at_ms, dur;
	enum call_outcome o;
	uint64_t in, out;
	char detail[300];
	int has_detail;
};

struct fx {
	int64_t wall, mono;
	struct rec recs[64];
	size_t nrecs;
	int nlogs;
	struct relay *r;
	struct limiter *lim;
	struct buf srv, cli;
	struct strv allow, deny;
	int admit_refuse;
	char last_tool[64];
};

static void fx_record(void *ctx, const struct relay_call *c)
{
	struct fx *f = ctx;
	struct rec *x;

	if (f->nrecs++ >= 64)
		return; /* counted, not kept */
	x = &f->recs[f->nrecs - 1];
	(void)snprintf(x->method, sizeof(x->method), "%s", c->method);
	(void)snprintf(x->name, sizeof(x->name), "%s", c->name);
	x->at_ms = c->at_ms;
	x->dur = c->duration_us;
	x->o = c->outcome;
	x->in = c->bytes_in;
	x->out = c->bytes_out;
	x->has_detail = c->detail != NULL;
	(void)snprintf(x->detail, sizeof(x->detail), "%s",
	               c->detail ? c->detail : "");
}

static void fx_log(void *ctx, const char *line)
{
	struct fx *f = ctx;

	(void)line;
	f->nlogs++;
}

static int64_t fx_wall(void *ctx)
{
	return ((struct fx *)ctx)->wall;
}

static int64_t fx_mono(void *ctx)
{
	return ((struct fx *)ctx)->mono;
}

static int fx_admit(void *ctx, const char *tool, int64_t *retry_ms, char *why,
                    size_t whylen)
{
	struct fx *f = ctx;

	(void)snprintf(f->last_tool, sizeof(f->last_tool), "%s", tool);
	if (!f->admit_refuse)
		return 0;
	*retry_ms = 4500;
	(void)snprintf(why, whylen, "rate limit 1/hour for your user");
	return 1;
}

/* A relay with the given policy (NULL-terminated glob lists), a fake
 * clock, and max_message max. */
static struct fx *fx_new(const char *const *allow, const char *const *deny,
                         size_t max, int use_admit)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct relay_config cfg;

	assert_non_null(f);
	f->wall = 1700000000000;
	f->mono = 5000000;
	while (allow != NULL && *allow != NULL)
		assert_int_equal(strv_push(&f->allow, *allow++), 0);
	while (deny != NULL && *deny != NULL)
		assert_int_equal(strv_push(&f->deny, *deny++), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "github";
	cfg.allow = &f->allow;
	cfg.deny = &f->deny;
	cfg.max_message = max;
	cfg.hooks.ctx = f;
	cfg.hooks.record = fx_record;
	cfg.hooks.log = fx_log;
	cfg.hooks.wall_ms = fx_wall;
	cfg.hooks.mono_us = fx_mono;
	if (use_admit)
		cfg.hooks.admit = fx_admit;
	assert_int_equal(relay_new(&cfg, &f->r), 0);
	return f;
}

static void fx_limit(struct fx *f, const char *server_rate,
                     const char *tool_rate)
{
	struct relay_config cfg;
	struct rate sr = {0, 0};
	struct tool_rate_list tl = {NULL, 0};
	struct tool_rate t;

	if (server_rate != NULL)
		tu_ok(rate_parse("test", server_rate, &sr, NULL), NULL);
	if (tool_rate != NULL) {
		tu_ok(tool_rate_parse("test", tool_rate, &t, NULL), NULL);
		assert_int_equal(tool_rate_list_put(&tl, t.tools, &t.rate), 0);
		tool_rate_clear(&t);
	}
	assert_int_equal(limiter_new(&sr, &tl, &f->lim), 0);
	tool_rate_list_clear(&tl);
	relay_free(f->r);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "github";
	cfg.allow = &f->allow;
	cfg.deny = &f->deny;
	cfg.limiter = f->lim;
	cfg.hooks.ctx = f;
	cfg.hooks.record = fx_record;
	cfg.hooks.log = fx_log;
	cfg.hooks.wall_ms = fx_wall;
	cfg.hooks.mono_us = fx_mono;
	assert_int_equal(relay_new(&cfg, &f->r), 0);
}

static void fx_free(struct fx *f)
{
	relay_finish(f->r);
	relay_free(f->r);
	limiter_free(f->lim);
	buf_free(&f->srv);
	buf_free(&f->cli);
	strv_clear(&f->allow);
	strv_clear(&f->deny);
	free(f);
}

static void fx_reset(struct fx *f)
{
	buf_reset(&f->srv);
	buf_reset(&f->cli);
}

static void fx_client(struct fx *f, const char *s)
{
	assert_int_equal(
	    relay_client_bytes(f->r, s, strlen(s), &f->srv, &f->cli), 0);
}

static void fx_server(struct fx *f, const char *s)
{
	assert_int_equal(relay_server_bytes(f->r, s, strlen(s), &f->cli), 0);
}

static const char *fx_str(const struct buf *b)
{
	return b->len ? b->data : "";
}

/* Parses the single line in b and returns it (caller decrefs). */
static json_t *fx_json(const struct buf *b)
{
	json_error_t e;
	json_t *j;

	assert_true(b->len > 0);
	assert_int_equal(b->data[b->len - 1], '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	j = json_loadb(b->data, b->len, 0, &e);
	if (j == NULL)
		fail_msg("not JSON: %s (%s)", e.text, b->data);
	return j;
}

static int fx_error_code(const struct buf *b)
{
	json_t *j = fx_json(b);
	int c = (int)json_integer_value(
	    json_object_get(json_object_get(j, "error"), "code"));

	json_decref(j);
	return c;
}

#define CALL(id, tool)                                                         \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/call\","        \
	"\"params\":{\"name\":\"" tool "\",\"arguments\":{}}}\n"
#define OK_ANSWER(id)                                                          \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"result\":{\"content\":[{"        \
	"\"type\":\"text\",\"text\":\"fine\"}]}}\n"

/* ---- limiter ---- */

static void test_limiter_hourly_exact(void **state)
{
	struct rate r5 = {5, 3600};
	struct limiter *l;
	int64_t retry = -1;
	char why[128];
	int i;

	(void)state;
	assert_int_equal(limiter_new(&r5, NULL, &l), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(
		    limiter_take(l, "x", 1000, &retry, why, sizeof(why)), 0);
	assert_int_equal(limiter_take(l, "x", 1000, &retry, why, sizeof(why)),
	                 1);
	assert_int_equal(retry, 720000);
	assert_string_equal(why, "rate limit 5/hour for server calls");
	assert_int_equal(
	    limiter_take(l, "x", 1000 + 719999, &retry, why, sizeof(why)), 1);
	assert_int_equal(retry, 1);
	assert_int_equal(
	    limiter_take(l, "x", 1000 + 720000, &retry, why, sizeof(why)), 0);
	assert_int_equal(
	    limiter_take(l, "x", 1000 + 720000, &retry, why, sizeof(why)), 1);
	assert_int_equal(retry, 720000);
	/* A long pause refills to the burst, not beyond. */
	for (i = 0; i < 5; i++)
		assert_int_equal(
		    limiter_take(l, "x", 100000000, &retry, why, sizeof(why)),
		    0);
	assert_int_equal(
	    limiter_take(l, "x", 100000000, &retry, why, sizeof(why)), 1);
	/* A clock going backwards adds nothing. */
	assert_int_equal(limiter_take(l, "x", 5, &retry, why, sizeof(why)), 1);
	limiter_free(l);
}

static void test_limiter_tool_globs(void **state)
{
	struct rate srv = {3, 60};
	struct tool_rate_list tl = {NULL, 0};
	struct rate two = {2, 60}, one = {1, 3600};
	struct limiter *l;
	int64_t retry = 0;
	char why[128];

	(void)state;
	assert_int_equal(tool_rate_list_put(&tl, "delete_*", &two), 0);
	assert_int_equal(tool_rate_list_put(&tl, "*_all", &one), 0);
	assert_int_equal(limiter_new(&srv, &tl, &l), 0);
	tool_rate_list_clear(&tl);
	assert_int_equal(limiter_take(l, "delete_a", 0, &retry, why, 128), 0);
	/* delete_all: the '*_all' bucket is full, delete_* has one left. */
	assert_int_equal(limiter_take(l, "delete_all", 0, &retry, why, 128), 0);
	assert_int_equal(limiter_take(l, "delete_b", 0, &retry, why, 128), 1);
	assert_string_equal(why,
	                    "rate limit 2/min for tools matching 'delete_*'");
	assert_int_equal(retry, 30000);
	/* The refusal took nothing from the server bucket: one is left. */
	assert_int_equal(limiter_take(l, "read", 0, &retry, why, 128), 0);
	assert_int_equal(limiter_take(l, "read", 0, &retry, why, 128), 1);
	assert_string_equal(why, "rate limit 3/min for server calls");
	assert_int_equal(retry, 20000);
	/* The slowest bucket names the wait. */
	assert_int_equal(limiter_take(l, "x_all", 60000, &retry, why, 128), 1);
	assert_string_equal(why,
	                    "rate limit 1/hour for tools matching '*_all'");
	assert_int_equal(retry, 3600000 - 60000);
	limiter_free(l);
	/* No limits at all. */
	assert_int_equal(limiter_new(NULL, NULL, &l), 0);
	assert_int_equal(limiter_take(l, "x", 0, &retry, why, 128), 0);
	limiter_free(l);
}

/* ---- relay ---- */

static void test_relay_passthrough_identical(void **state)
{
	const char *in =
	    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{"
	    "},\"clientInfo\":{\"name\":\"claude-code\",\"version\":\"1\"}}}\n"
	    "  {\"method\" : \"notifications/initialized\", \"jsonrpc\":\"2.0\""
	    "}  \n"
	    "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{\"model\":\"x\"}}"
	    "\n";
	const char *out =
	    "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":"
	    "\"2025-06-18\",\"capabilities\":{\"tools\":{}}}}\n"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
	    "\"params\":{\"level\":\"info\",\"data\":\"h\\u00e9\xc3\xa9\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"sampling/"
	    "createMessage\",\"params\":{}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\n";
	struct fx *f = fx_new(NULL, NULL, 0, 0);

	(void)state;
	fx_client(f, in);
	assert_string_equal(fx_str(&f->srv), in);
	assert_int_equal(f->cli.len, 0);
	fx_server(f, out);
	assert_string_equal(fx_str(&f->cli), out);
	assert_int_equal(f->nrecs, 0);
	assert_int_equal(f->nlogs, 0);
	fx_free(f);
}

static void test_relay_chunked_every_position(void **state)
{
	const char *in = CALL("1", "get_issue")
	    CALL("\"a\"", "delete_repo") "{\"jsonrpc\":\"2.0\",\"id\":3,"
	                                 "\"method\":\"tools/list\"}\n";
	const char *out =
	    OK_ANSWER("1") "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{"
	                   "\"tools\":[{\"name\":"
	                   "\"get_issue\"},{\"name\":\"delete_repo\"}]}}\n";
	const char *deny[] = {"delete_*", NULL};
	struct buf ws = BUF_INIT, wc = BUF_INIT, wo = BUF_INIT;
	size_t n = strlen(in), m = strlen(out), i;
	struct fx *f;

	(void)state;
	/* Whole, for reference. */
	f = fx_new(NULL, deny, 0, 0);
	fx_client(f, in);
	fx_server(f, out);
	assert_int_equal(buf_append(&ws, f->srv.data, f->srv.len), 0);
	assert_int_equal(buf_append(&wc, f->cli.data, f->cli.len), 0);
	fx_free(f);
	assert_non_null(strstr(wc.data, "delete_repo"));
	for (i = 0; i <= n || i <= m; i++) {
		size_t a = i < n ? i : n, b = i < m ? i : m;

		f = fx_new(NULL, deny, 0, 0);
		assert_int_equal(
		    relay_client_bytes(f->r, in, a, &f->srv, &f->cli), 0);
		assert_int_equal(
		    relay_client_bytes(f->r, in + a, n - a, &f->srv, &f->cli),
		    0);
		assert_int_equal(relay_server_bytes(f->r, out, b, &f->cli), 0);
		assert_int_equal(
		    relay_server_bytes(f->r, out + b, m - b, &f->cli), 0);
		assert_string_equal(fx_str(&f->srv), ws.data);
		assert_string_equal(fx_str(&f->cli), wc.data);
		assert_int_equal(f->nrecs, 2);
		fx_free(f);
	}
	/* Byte by byte. */
	f = fx_new(NULL, deny, 0, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(
		    relay_client_bytes(f->r, in + i, 1, &f->srv, &f->cli), 0);
	for (i = 0; i < m; i++)
		assert_int_equal(relay_server_bytes(f->r, out + i, 1, &wo), 0);
	assert_string_equal(fx_str(&f->srv), ws.data);
	assert_int_equal(buf_append(&f->cli, wo.data, wo.len), 0);
	assert_string_equal(fx_str(&f->cli), wc.data);
	fx_free(f);
	buf_free(&ws);
	buf_free(&wc);
	buf_free(&wo);
}

static void test_relay_crlf_tolerated(void **state)
{
	const char *in =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
	    "call\",\"params\":{\"name\":\"a\"}}\r\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\r\n"
	    "\r\n";
	struct fx *f = fx_new(NULL, NULL, 0, 0);

	(void)state;
	fx_client(f, in);
	assert_string_equal(fx_str(&f->srv),
	                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
	                    "call\",\"params\":{\"name\":\"a\"}}\r\n"
	                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"
	                    "\r\n");
	assert_int_equal(f->cli.len, 0);
	fx_server(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n");
	assert_string_equal(fx_str(&f->cli),
	                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n");
	assert_int_equal(f->nrecs, 1);
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_OK);
	fx_free(f);
}

static void test_relay_denied_not_forwarded(void **state)
{
	const char *deny[] = {"delete_*", NULL};
	struct fx *f = fx_new(NULL, deny, 0, 0);
	json_t *j;
	const char *msg;

	(void)state;
	fx_client(f, CALL("\"req-7\"", "delete_repo"));
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_string_equal(json_string_value(json_object_get(j, "id")),
	                    "req-7");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "error"), "code")),
	                 RELAY_CODE_DENIED);
	msg = json_string_value(
	    json_object_get(json_object_get(j, "error"), "message"));
	assert_non_null(strstr(msg, "delete_repo"));
	assert_non_null(strstr(msg, "github"));
	assert_non_null(strstr(msg, "denied by the fleet policy"));
	json_decref(j);
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].method, "tools/call");
	assert_string_equal(f->recs[0].name, "delete_repo");
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_DENIED);
	assert_int_equal(f->recs[0].dur, 0);
	assert_int_equal(f->recs[0].in, strlen(CALL("\"req-7\"", "delete_"
	                                                         "repo")) -
	                                    1);
	assert_true(f->recs[0].has_detail);
	/* A number id is answered as a number; escapes do not get around
	 * the policy. */
	fx_reset(f);
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools\\/"
	             "call\",\"params\":{\"name\":\"del\\u0065te_x\"}}\n");
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 12);
	json_decref(j);
	/* A name given twice is refused outright. */
	fx_reset(f);
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"tools/"
	             "call\",\"params\":{\"name\":\"ok\",\"name\":\"delete_"
	             "x\"}}\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_INVALID);
	/* A name holding NUL is denied. */
	fx_reset(f);
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"tools/"
	             "call\",\"params\":{\"name\":\"ok\\u0000x\"}}\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_DENIED);
	/* No name: invalid params. */
	fx_reset(f);
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"tools/"
	             "call\",\"params\":{}}\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_PARAMS);
	/* A denied notification is dropped without an answer. */
	fx_reset(f);
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
	             "\"params\":{\"name\":\"delete_x\"}}\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(f->cli.len, 0);
	fx_free(f);
}

static void fx_tool_names(const struct buf *b, char *out, size_t outlen)
{
	json_t *j = fx_json(b), *t;
	size_t i;

	out[0] = '\0';
	json_array_foreach(
	    json_object_get(json_object_get(j, "result"), "tools"), i, t)
	{
		size_t l = strlen(out);

		(void)snprintf(out + l, outlen - l, "%s%s", l ? "," : "",
		               json_string_value(json_object_get(t, "name")));
	}
	json_decref(j);
}

static void test_relay_tools_list_filtered(void **state)
{
	const char *allow[] = {"get_*", "delete_*", "list_issues", NULL};
	const char *deny[] = {"delete_*", "get_secret", NULL};
	const char *list = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
	                   "list\",\"params\":{}}\n";
	const char *ans =
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[ "
	    "{\"name\":\"get_issue\",\"inputSchema\":{\"type\":\"object\"}},"
	    "{\"name\":\"delete_repo\"},{\"description\":\"n\",\"name\":"
	    "\"get_secret\"},{\"name\":\"list_issues\"},{\"name\":\"create_"
	    "issue\"} ],\"nextCursor\":\"c2\"},\"x\":[1]}\n";
	struct fx *f = fx_new(allow, deny, 0, 0);
	char names[256];
	json_t *j;

	(void)state;
	fx_client(f, list);
	assert_string_equal(fx_str(&f->srv), list);
	fx_server(f, ans);
	fx_tool_names(&f->cli, names, sizeof(names));
	assert_string_equal(names, "get_issue,list_issues");
	j = fx_json(&f->cli);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "result"), "nextCursor")),
	                    "c2");
	assert_non_null(json_object_get(
	    json_array_get(
	        json_object_get(json_object_get(j, "result"), "tools"), 0),
	    "inputSchema"));
	json_decref(j);
	assert_int_equal(f->nrecs, 0);
	fx_free(f);

	/* deny '*': nothing is left; allow '*': the answer is untouched. */
	{
		const char *all[] = {"*", NULL};

		f = fx_new(NULL, all, 0, 0);
		fx_client(f, list);
		fx_server(f, ans);
		fx_tool_names(&f->cli, names, sizeof(names));
		assert_string_equal(names, "");
		fx_free(f);
		f = fx_new(all, NULL, 0, 0);
		fx_client(f, list);
		fx_server(f, ans);
		assert_string_equal(fx_str(&f->cli), ans);
		fx_free(f);
	}
	/* An answer to an untracked id listing tools is filtered too. */
	f = fx_new(NULL, deny, 0, 0);
	fx_server(f, ans);
	fx_tool_names(&f->cli, names, sizeof(names));
	assert_string_equal(names, "get_issue,list_issues,create_issue");
	fx_free(f);
}

static void test_relay_rate_limit_trips(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);
	json_t *j, *err;
	const char *msg;

	(void)state;
	fx_limit(f, "2/min", "delete_*=1/hour");
	fx_client(f, CALL("1", "get"));
	fx_client(f, CALL("2", "get"));
	assert_int_equal(f->cli.len, 0);
	fx_reset(f);
	fx_client(f, CALL("3", "get"));
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	err = json_object_get(j, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "code")),
	                 RELAY_CODE_RATE_LIMITED);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(err, "data"), "retry_after_ms")),
	                 30000);
	msg = json_string_value(json_object_get(err, "message"));
	assert_non_null(strstr(msg, "retry in 30 s"));
	assert_non_null(strstr(msg, "rate limit 2/min for server calls"));
	json_decref(j);
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_RATE_LIMITED);
	assert_string_equal(f->recs[0].detail,
	                    "rate limit 2/min for server calls");
	/* After 29.999 s still refused (1 ms left), at 30 s admitted. */
	f->mono += 29999000;
	fx_reset(f);
	fx_client(f, CALL("4", "get"));
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(j, "error"), "data"),
	        "retry_after_ms")),
	    1);
	json_decref(j);
	f->mono += 1000;
	fx_reset(f);
	fx_client(f, CALL("5", "delete_x"));
	assert_int_equal(f->cli.len, 0);
	assert_true(f->srv.len > 0);
	/* The tool glob's own bucket. */
	f->mono += 3600000000LL;
	fx_reset(f);
	fx_client(f, CALL("6", "delete_y"));
	assert_true(f->srv.len > 0);
	fx_reset(f);
	fx_client(f, CALL("7", "delete_z"));
	assert_int_equal(f->srv.len, 0);
	assert_non_null(strstr(fx_str(&f->cli), "'delete_*'"));
	assert_non_null(strstr(fx_str(&f->cli), "retry in 3600 s"));
	fx_free(f);
}

static void test_relay_admit_hook(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 1);
	json_t *j;

	(void)state;
	fx_client(f, CALL("1", "search"));
	assert_true(f->srv.len > 0);
	assert_string_equal(f->last_tool, "search");
	f->admit_refuse = 1;
	fx_reset(f);
	fx_client(f, CALL("2", "search"));
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(j, "error"), "data"),
	        "retry_after_ms")),
	    4500);
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_object_get(j, "error"), "message")),
	                       "retry in 5 s"));
	json_decref(j);
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_RATE_LIMITED);
	assert_string_equal(f->recs[0].detail,
	                    "rate limit 1/hour for your user");
	fx_free(f);
}

static void test_relay_records(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);
	const char *a1 = OK_ANSWER("1");

	(void)state;
	fx_client(f, CALL("1", "get"));
	fx_client(f, CALL("2", "fails"));
	fx_client(f, CALL("3", "tool_error"));
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/"
	             "read\",\"params\":{\"uri\":\"file:///etc/x\"}}\n");
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/"
	             "get\",\"params\":{\"name\":\"review\"}}\n");
	fx_client(f, CALL("6", "hangs"));
	f->mono += 1234;
	f->wall += 99;
	fx_server(f, a1);
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].method, "tools/call");
	assert_string_equal(f->recs[0].name, "get");
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_OK);
	assert_int_equal(f->recs[0].dur, 1234);
	assert_int_equal(f->recs[0].at_ms, 1700000000000);
	assert_int_equal(f->recs[0].in, strlen(CALL("1", "get")) - 1);
	assert_int_equal(f->recs[0].out, strlen(a1) - 1);
	assert_false(f->recs[0].has_detail);
	fx_server(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32603,"
	             "\"message\":\"boom\"}}\n");
	assert_int_equal(f->recs[1].o, CALL_OUTCOME_ERROR);
	assert_string_equal(f->recs[1].detail, "jsonrpc -32603");
	fx_server(f, "{\"result\":{\"content\":[],\"isError\":true},"
	             "\"jsonrpc\":\"2.0\",\"id\":3}\n");
	assert_int_equal(f->recs[2].o, CALL_OUTCOME_ERROR);
	assert_string_equal(f->recs[2].detail, "isError");
	fx_server(f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"contents\":"
	             "[{\"isError\":true}]}}\n");
	assert_string_equal(f->recs[3].method, "resources/read");
	assert_string_equal(f->recs[3].name, "file:///etc/x");
	assert_int_equal(f->recs[3].o, CALL_OUTCOME_OK);
	fx_server(f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"isError\":"
	             "false}}\n");
	assert_string_equal(f->recs[4].method, "prompts/get");
	assert_string_equal(f->recs[4].name, "review");
	assert_int_equal(f->recs[4].o, CALL_OUTCOME_OK);
	assert_int_equal(f->nrecs, 5);
	f->mono += 10;
	relay_finish(f->r);
	assert_int_equal(f->nrecs, 6);
	assert_string_equal(f->recs[5].name, "hangs");
	assert_int_equal(f->recs[5].o, CALL_OUTCOME_ERROR);
	assert_string_equal(f->recs[5].detail, "no answer");
	assert_int_equal(f->recs[5].dur, 1244);
	relay_finish(f->r);
	assert_int_equal(f->nrecs, 6);
	/* A late answer after the end passes on untouched. */
	fx_reset(f);
	fx_server(f, OK_ANSWER("6"));
	assert_string_equal(fx_str(&f->cli), OK_ANSWER("6"));
	assert_int_equal(f->nrecs, 6);
	assert_string_equal(call_outcome_name(CALL_OUTCOME_OK), "ok");
	assert_string_equal(call_outcome_name(CALL_OUTCOME_ERROR), "error");
	assert_string_equal(call_outcome_name(CALL_OUTCOME_DENIED), "denied");
	assert_string_equal(call_outcome_name(CALL_OUTCOME_RATE_LIMITED),
	                    "rate_limited");
	fx_free(f);
}

static void test_relay_string_vs_number_ids(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);

	(void)state;
	fx_client(f, CALL("1", "num"));
	fx_client(f, CALL("\"1\"", "str"));
	fx_client(f, CALL("-0", "zero"));
	fx_server(f, OK_ANSWER("\"\\u0031\""));
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].name, "str");
	fx_server(f, OK_ANSWER("1"));
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[1].name, "num");
	fx_server(f, OK_ANSWER("0"));
	assert_int_equal(f->nrecs, 3);
	assert_string_equal(f->recs[2].name, "zero");
	/* Answers to no request pass unchanged and record nothing. */
	fx_reset(f);
	fx_server(f, OK_ANSWER("1"));
	assert_string_equal(fx_str(&f->cli), OK_ANSWER("1"));
	assert_int_equal(f->nrecs, 3);
	fx_free(f);
}

static void test_relay_batches(void **state)
{
	const char *deny[] = {"delete_*", NULL};
	struct fx *f = fx_new(NULL, deny, 0, 0);
	json_t *j;

	(void)state;
	fx_limit(f, "1/min", NULL);
	fx_client(
	    f, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	       "\"params\":{\"name\":\"get\"}}, {\"jsonrpc\":\"2.0\",\"id\":2,"
	       "\"method\":\"tools/call\",\"params\":{\"name\":\"delete_x\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
	       "\"params\":{\"name\":\"get\"}},{\"jsonrpc\":\"2.0\",\"method\":"
	       "\"notifications/progress\"},42]\n");
	assert_string_equal(
	    fx_str(&f->srv),
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get\"}},{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/progress\"}]\n");
	j = fx_json(&f->cli);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(j, 0), "id")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_array_get(j, 0), "error"), "code")),
	    RELAY_CODE_DENIED);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(j, 1), "id")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_array_get(j, 1), "error"), "code")),
	    RELAY_CODE_RATE_LIMITED);
	assert_true(json_is_null(json_object_get(json_array_get(j, 2), "id")));
	json_decref(j);
	assert_int_equal(f->nrecs, 2);
	/* All forwarded: the batch goes on byte for byte. */
	fx_reset(f);
	f->mono += 60000000;
	fx_client(f, "[ {\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list"
	             "\"} , {\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
	             "call\",\"params\":{\"name\":\"get\"}} ]\n");
	assert_string_equal(
	    fx_str(&f->srv),
	    "[ {\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"} , "
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"get\"}} ]\n");
	assert_int_equal(f->cli.len, 0);
	/* The server's batch answer: each element completes its record,
	 * the tools/list one is filtered. */
	fx_server(f, "[{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":"
	             "[]}},{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"tools\":"
	             "[{\"name\":\"delete_x\"},{\"name\":\"get\"}]}},{\"jsonrpc"
	             "\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":"
	             "\"m\"}}]\n");
	assert_string_equal(
	    fx_str(&f->cli),
	    "[{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":[]}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"tools\":[{\"name\":"
	    "\"get\"}]}},{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,"
	    "\"message\":\"m\"}}]\n");
	assert_int_equal(f->nrecs, 4);
	assert_int_equal(f->recs[2].o, CALL_OUTCOME_OK);
	assert_string_equal(f->recs[3].detail, "jsonrpc -1");
	/* An empty batch is invalid; a batch of only refused calls
	 * forwards nothing. */
	fx_reset(f);
	fx_client(f, "[]\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_INVALID);
	fx_reset(f);
	fx_client(f, "[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/"
	             "call\",\"params\":{\"name\":\"delete_a\"}}]");
	assert_int_equal(f->cli.len, 0);
	fx_client(f, "\n");
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	fx_free(f);
}

static void test_relay_malformed_client(void **state)
{
	static const struct {
		const char *line;
		int code;
		const char *id; /* JSON of the id answered */
	} cases[] = {
	    {"{bad\n", RELAY_CODE_PARSE, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"} x\n",
	     RELAY_CODE_PARSE, "null"},
	    {"{\"a\":01}\n", RELAY_CODE_PARSE, "null"},
	    {"\"\\x\"\n", RELAY_CODE_PARSE, "null"},
	    {"[1,]\n", RELAY_CODE_PARSE, "null"},
	    {"{\"a\":\"\x01\"}\n", RELAY_CODE_PARSE, "null"},
	    {"42\n", RELAY_CODE_INVALID, "null"},
	    {"{}\n", RELAY_CODE_INVALID, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":5}\n", RELAY_CODE_INVALID, "5"},
	    {"{\"id\":6,\"method\":\"ping\"}\n", RELAY_CODE_INVALID, "6"},
	    {"{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}\n",
	     RELAY_CODE_INVALID, "7"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":3}\n",
	     RELAY_CODE_INVALID, "\"x\""},
	    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}\n",
	     RELAY_CODE_INVALID, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"params\":1}"
	     "\n",
	     RELAY_CODE_INVALID, "8"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":1,\"error\":{}}\n",
	     RELAY_CODE_INVALID, "9"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}\n",
	     RELAY_CODE_INVALID, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
	     "call\\u0000\"}\n",
	     RELAY_CODE_INVALID, "3"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new(NULL, NULL, 0, 0);
		json_t *j, *want;

		fx_client(f, cases[i].line);
		assert_int_equal(f->srv.len, 0);
		assert_int_equal(fx_error_code(&f->cli), cases[i].code);
		j = fx_json(&f->cli);
		want = json_loads(cases[i].id, JSON_DECODE_ANY, NULL);
		assert_true(json_equal(json_object_get(j, "id"), want));
		json_decref(want);
		json_decref(j);
		assert_int_equal(f->nlogs, 1);
		fx_free(f);
	}
}

static void test_relay_malformed_server(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);
	json_t *j;

	(void)state;
	fx_client(f, CALL("7", "get"));
	fx_client(f, CALL("8", "get"));
	/* Not JSON, no id of ours: dropped and logged. */
	fx_server(f, "garbage\n{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":\n");
	assert_int_equal(f->cli.len, 0);
	assert_int_equal(f->nlogs, 2);
	/* Not JSON, but it answers 7: the host hears of it. */
	fx_server(f, "{\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"\xff\"},"
	             "\"id\":7}\n");
	j = fx_json(&f->cli);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "error"), "code")),
	                 RELAY_CODE_SERVER);
	json_decref(j);
	assert_int_equal(f->nrecs, 1);
	assert_int_equal(f->recs[0].o, CALL_OUTCOME_ERROR);
	assert_string_equal(f->recs[0].detail, "invalid answer");
	/* Valid JSON that is not JSON-RPC passes. */
	fx_reset(f);
	fx_server(f, "[1,2]\n");
	assert_string_equal(fx_str(&f->cli), "[1,2]\n");
	fx_free(f);
}

static void test_relay_oversized_both_sides(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 100, 0);
	char big[400];
	json_t *j;
	size_t i;

	(void)state;
	memset(big, 'a', sizeof(big));
	(void)snprintf(big, sizeof(big),
	               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
	               "call\",\"params\":{\"name\":\"x\",\"arguments\":\"");
	big[strlen(big)] = 'a';
	memcpy(big + 300, "\"}}\n", 5);
	for (i = 0; i < strlen(big); i += 7) {
		size_t k = strlen(big) - i < 7 ? strlen(big) - i : 7;

		assert_int_equal(
		    relay_client_bytes(f->r, big + i, k, &f->srv, &f->cli), 0);
	}
	assert_int_equal(f->srv.len, 0);
	j = fx_json(&f->cli);
	assert_true(json_is_null(json_object_get(j, "id")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "error"), "message")),
	                    "request too large (303 bytes, limit 100)");
	json_decref(j);
	/* The next line is fine. */
	fx_reset(f);
	fx_client(f, CALL("2", "x"));
	assert_string_equal(fx_str(&f->srv), CALL("2", "x"));
	/* A too large answer to 2, its id last: the host gets an error. */
	fx_reset(f);
	memset(big, 'b', sizeof(big));
	memcpy(big, "{\"result\":{\"content\":\"", 22);
	memcpy(big + 300, "\"},\"jsonrpc\":\"2.0\",\"id\":2}\n", 28);
	for (i = 0; i < strlen(big); i += 64) {
		size_t k = strlen(big) - i < 64 ? strlen(big) - i : 64;

		assert_int_equal(relay_server_bytes(f->r, big + i, k, &f->cli),
		                 0);
	}
	j = fx_json(&f->cli);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 2);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "error"), "code")),
	                 RELAY_CODE_SERVER);
	json_decref(j);
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].detail, "answer too large");
	/* Message framing too. */
	fx_reset(f);
	assert_int_equal(relay_client_message(f->r, big, 200, &f->srv, &f->cli),
	                 0);
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_INVALID);
	fx_free(f);
}

static void test_relay_deep_nesting(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);
	size_t depth = 200000, i;
	struct buf b = BUF_INIT;

	(void)state;
	for (i = 0; i < depth; i++)
		assert_int_equal(buf_putc(&b, '['), 0);
	assert_int_equal(buf_putc(&b, '\n'), 0);
	fx_client(f, b.data);
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_PARSE);
	fx_reset(f);
	fx_server(f, b.data);
	assert_int_equal(f->cli.len, 0);
	/* 10000 levels inside a call's arguments are fine. */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b,
	                          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                          "\"tools/call\",\"params\":{\"name\":"
	                          "\"x\",\"arguments\":{\"a\":"),
	                 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&b, "{\"a\":["), 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&b, "]}"), 0);
	assert_int_equal(buf_puts(&b, "}}}\n"), 0);
	fx_reset(f);
	fx_client(f, b.data);
	assert_string_equal(fx_str(&f->srv), b.data);
	buf_free(&b);
	fx_free(f);
}

static void test_relay_non_utf8(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);

	(void)state;
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	             "\"params\":{\"name\":\"caf\xe9\"}}\n");
	assert_int_equal(f->srv.len, 0);
	assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_PARSE);
	fx_reset(f);
	/* Overlong and surrogate encodings are not UTF-8 either. */
	fx_client(f, "\"\xc0\xaf\"\n\"\xed\xa0\x80\"\n");
	assert_int_equal(f->srv.len, 0);
	assert_non_null(strstr(fx_str(&f->cli), "-32700"));
	fx_reset(f);
	/* Valid UTF-8 in a name, cut in the record at a boundary. */
	{
		struct buf b = BUF_INIT;
		size_t i;

		assert_int_equal(buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":1,"
		                              "\"method\":\"tools/call\","
		                              "\"params\":{\"name\":\"a"),
		                 0);
		for (i = 0; i < 400; i++)
			assert_int_equal(buf_puts(&b, "\xc3\xa9"), 0);
		assert_int_equal(buf_puts(&b, "\"}}\n"), 0);
		fx_client(f, b.data);
		assert_string_equal(fx_str(&f->srv), b.data);
		relay_finish(f->r);
		assert_int_equal(f->nrecs, 1);
		assert_int_equal(strlen(f->recs[0].name), 511);
		buf_free(&b);
	}
	fx_free(f);
}

static void test_relay_message_framing(void **state)
{
	const char *deny[] = {"delete_*", NULL};
	struct fx *f = fx_new(NULL, deny, 0, 0);
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
	                  "list\"}";

	(void)state;
	assert_int_equal(
	    relay_client_message(f->r, req, strlen(req), &f->srv, &f->cli), 0);
	assert_string_equal(fx_str(&f->srv), req);
	assert_int_equal(f->cli.len, 0);
	{
		const char *ans = "{\n  \"jsonrpc\": \"2.0\",\r\n  \"id\": 1,\n"
		                  "  \"result\": {\"tools\": []}\n}";

		assert_int_equal(
		    relay_server_message(f->r, ans, strlen(ans), &f->cli), 0);
		assert_string_equal(fx_str(&f->cli),
		                    "{  \"jsonrpc\": \"2.0\",  \"id\": 1,  "
		                    "\"result\": {\"tools\": []}}\n");
	}
	fx_reset(f);
	{
		const char *c = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
		                "\"tools/call\",\"params\":{\"name\":"
		                "\"delete_a\"}}";

		assert_int_equal(
		    relay_client_message(f->r, c, strlen(c), &f->srv, &f->cli),
		    0);
		assert_int_equal(f->srv.len, 0);
		assert_int_equal(fx_error_code(&f->cli), RELAY_CODE_DENIED);
	}
	fx_free(f);
}

static void test_relay_pending_bounded(void **state)
{
	struct fx *f = fx_new(NULL, NULL, 0, 0);
	char line[160];
	int i;

	(void)state;
	for (i = 0; i < RELAY_PENDING_MAX + 1; i++) {
		(void)snprintf(
		    line, sizeof(line),
		    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		    "\"resources/read\",\"params\":{\"uri\":\"u%d\"}}"
		    "\n",
		    i, i);
		fx_client(f, line);
	}
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].name, "u0");
	assert_string_equal(f->recs[0].detail, "untracked");
	/* Reusing a pending id gives the older request up too. */
	fx_client(f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/"
	             "get\",\"params\":{\"name\":\"p\"}}\n");
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[1].name, "u5");
	fx_server(f, OK_ANSWER("5"));
	assert_int_equal(f->nrecs, 3);
	assert_string_equal(f->recs[2].name, "p");
	f->nrecs = 0;
	relay_finish(f->r);
	assert_int_equal(f->nrecs, RELAY_PENDING_MAX - 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limiter_hourly_exact),
	    cmocka_unit_test(test_limiter_tool_globs),
	    cmocka_unit_test(test_relay_passthrough_identical),
	    cmocka_unit_test(test_relay_chunked_every_position),
	    cmocka_unit_test(test_relay_crlf_tolerated),
	    cmocka_unit_test(test_relay_denied_not_forwarded),
	    cmocka_unit_test(test_relay_tools_list_filtered),
	    cmocka_unit_test(test_relay_rate_limit_trips),
	    cmocka_unit_test(test_relay_admit_hook),
	    cmocka_unit_test(test_relay_records),
	    cmocka_unit_test(test_relay_string_vs_number_ids),
	    cmocka_unit_test(test_relay_batches),
	    cmocka_unit_test(test_relay_malformed_client),
	    cmocka_unit_test(test_relay_malformed_server),
	    cmocka_unit_test(test_relay_oversized_both_sides),
	    cmocka_unit_test(test_relay_deep_nesting),
	    cmocka_unit_test(test_relay_non_utf8),
	    cmocka_unit_test(test_relay_message_framing),
	    cmocka_unit_test(test_relay_pending_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
