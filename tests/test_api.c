/* SPDX-License-Identifier: MIT */
/* Unit tests: server/api.c, the admin REST API, over a store in a temporary
 * directory, with hooks that record their calls. */
#include "testutil.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "api.h"
#include "api_fixture.h"
#include "buf.h"
#include "crypto.h"
#include "enroll.h"
#include "err.h"
#include "role.h"
#include "store.h"
#include "token.h"

#define TA_NOW   1700000000 /* the fixed clock of every test */
#define TA_TOKEN "test-admin-token-0123456789"
#define TA_PIN                                                                 \
	"sha256:"                                                              \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TA_FP        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TA_MAXREV    8
#define TA_VALUE_MAX 65536 /* API.md: a secret value is 1 byte to 64 KiB */

/* What the hooks saw. */
struct ta_hooks {
	int changed;
	int revoked_calls;
	char revoked[TA_MAXREV][64];
	size_t nrevoked;
	int extra;
	size_t connected;
	/* The stream hook: calls, what it was told, what it answers. */
	int streams;
	enum role stream_role;
	int64_t stream_until;
	int stream_result;
};

struct ta {
	char dir[API_FIXTURE_DIR_MAX];
	char path[API_FIXTURE_DB_MAX];
	struct store *st;
	struct crypto_rng *rng;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
	struct api_ctx a;
	struct ta_hooks h;
	int64_t admin_id;
	/* The last answer. */
	int status;
	json_t *ans;
	char *text;
	char allow[128];
	char www_auth[64];
	char set_cookie[256];
	char cache_control[64];
	/* Every answer body so far, to look for secret values in. */
	struct buf seen;
};

static void ta_hook_changed(void *arg)
{
	struct ta *f = arg;

	f->h.changed++;
}

static void ta_hook_revoked(void *arg, const char *const *ids, size_t n)
{
	struct ta *f = arg;
	size_t i;

	f->h.revoked_calls++;
	for (i = 0; i < n && f->h.nrevoked < TA_MAXREV; i++)
		(void)snprintf(f->h.revoked[f->h.nrevoked++],
		               sizeof(f->h.revoked[0]), "%s", ids[i]);
}

static void ta_hook_extra(void *arg, const char *id, json_t *obj)
{
	struct ta *f = arg;

	f->h.extra++;
	/* dev-1 is "connected". */
	if (strcmp(id, "dev-1") == 0) {
		json_object_set_new(obj, "connected", json_true());
		json_object_set_new(obj, "connected_since",
		                    json_integer(TA_NOW - 5));
	}
}

static size_t ta_hook_connected(void *arg)
{
	struct ta *f = arg;

	return f->h.connected;
}

static int ta_setup(void **state)
{
	struct ta *f = calloc(1, sizeof(*f));
	struct diag d;
	size_t i;

	assert_non_null(f);
	if (api_fixture_store(TA_NOW, f->dir, f->path, &f->st, &d) != 0)
		fail_msg("store: %s", d.msg);
	assert_int_equal(crypto_rng_new("test_api", &f->rng, &d), 0);
	for (i = 0; i < sizeof(f->master); i++)
		f->master[i] = (uint8_t)(i * 7 + 1);
	if (api_fixture_token(f->st, "test", ROLE_OWNER, TA_TOKEN, &f->admin_id,
	                      &d) != 0)
		fail_msg("admin token: %s", d.msg);
	api_fixture_ctx(&f->a, f->st, f->rng, f->master);
	f->a.ca_pin = TA_PIN;
	f->a.hooks.arg = f;
	f->a.hooks.changed = ta_hook_changed;
	f->a.hooks.revoked = ta_hook_revoked;
	f->a.hooks.device_extra = ta_hook_extra;
	f->a.hooks.connected_count = ta_hook_connected;
	assert_int_equal(session_table_new(f->st, API_SESSIONS_MAX,
	                                   API_LOGIN_RATE, &f->a.sessions),
	                 0);
	*state = f;
	return 0;
}

static int ta_teardown(void **state)
{
	struct ta *f = *state;

	json_decref(f->ans);
	free(f->text);
	buf_free(&f->seen);
	session_table_free(f->a.sessions);
	enroll_limiter_free(f->a.refusals);
	store_close(f->st);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The request headers a call sends; NULL fields are sent empty, a NULL
 * peer as 127.0.0.1. */
struct ta_hdrs {
	const char *auth;
	const char *cookie;
	const char *csrf;
	const char *origin;
	const char *peer;
};

/*
 * Calls api_handle with method and target ("/api/v1/...?a=b&c=d", the
 * query already decoded as libwebsockets hands it over), body (NULL: none)
 * and the headers hd. Keeps the answer in f. Returns the status.
 */
static int ta_request(struct ta *f, const struct ta_hdrs *hd,
                      const char *method, const char *target, const char *body)
{
	struct net_request req;
	struct net_response resp;
	struct net_param params[8];
	char path[1024];
	json_error_t jerr;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	assert_true(strlen(target) < sizeof(path));
	memcpy(path, target, strlen(target) + 1);
	req.nparams = api_fixture_query(path, params, 8, "&", false);
	req.id = 1;
	req.method = method;
	req.path = path;
	req.params = params;
	req.host = "fleet.example";
	req.origin = hd->origin != NULL ? hd->origin : "";
	req.authorization = hd->auth != NULL ? hd->auth : "";
	req.content_type = body != NULL ? "application/json" : "";
	req.cookie = hd->cookie != NULL ? hd->cookie : "";
	req.csrf_token = hd->csrf != NULL ? hd->csrf : "";
	req.body = body != NULL ? body : "";
	req.body_len = body != NULL ? strlen(body) : 0;
	req.peer = hd->peer != NULL ? hd->peer : "127.0.0.1";

	api_handle(&f->a, &req, &resp);

	assert_false(store_in_transaction(f->st));
	assert_string_equal(resp.content_type, "application/json");
	json_decref(f->ans);
	free(f->text);
	f->status = resp.status;
	f->text = strdup(resp.body.data != NULL ? resp.body.data : "");
	assert_non_null(f->text);
	assert_int_equal(buf_puts(&f->seen, f->text), 0);
	f->ans = json_loads(f->text, JSON_DECODE_ANY, &jerr);
	if (f->ans == NULL)
		fail_msg("answer is not JSON: %s: %s", jerr.text, f->text);
	tu_header(&resp.headers, "Allow", f->allow, sizeof(f->allow));
	tu_header(&resp.headers, "WWW-Authenticate", f->www_auth,
	          sizeof(f->www_auth));
	tu_header(&resp.headers, "Set-Cookie", f->set_cookie,
	          sizeof(f->set_cookie));
	tu_header(&resp.headers, "Cache-Control", f->cache_control,
	          sizeof(f->cache_control));
	buf_free(&resp.body);
	buf_free(&resp.headers);
	return f->status;
}

/* Calls with the Authorization header auth (NULL: none). */
static int ta_call_as(struct ta *f, const char *auth, const char *method,
                      const char *target, const char *body)
{
	struct ta_hdrs hd = {.auth = auth};

	return ta_request(f, &hd, method, target, body);
}

static int ta_call(struct ta *f, const char *method, const char *target,
                   const char *body)
{
	return ta_call_as(f, "Bearer " TA_TOKEN, method, target, body);
}

/* Asserts the last answer's status, and for an error that its message
 * contains needle (when not NULL). */
static void ta_expect(struct ta *f, int status, const char *needle)
{
	const char *msg = json_string_value(json_object_get(f->ans, "error"));

	if (f->status != status)
		fail_msg("expected %d, got %d: %s", status, f->status, f->text);
	if (needle != NULL && (msg == NULL || strstr(msg, needle) == NULL))
		fail_msg("error '%s' lacks '%s'", msg ? msg : "(none)", needle);
}

static const char *ta_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		fail_msg("no string '%s'", key);
	return s;
}

static json_int_t ta_int(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("no integer '%s'", key);
	return json_integer_value(v);
}

/* Every row of the audit log. */
static void ta_audit(struct ta *f, struct store_audit_list *l)
{
	struct diag d;

	memset(l, 0, sizeof(*l));
	assert_int_equal(
	    store_audit_list(f->st, 0, 0, STORE_AUDIT_LIMIT, l, &d), 0);
}

static size_t ta_audit_count(struct ta *f)
{
	struct store_audit_list l;
	size_t n;

	ta_audit(f, &l);
	n = l.n;
	store_audit_list_free(&l);
	return n;
}

/* The last audit row's action, target and details ("" for none). */
static void ta_audit_last(struct ta *f, const char *action, const char *target)
{
	struct store_audit_list l;

	ta_audit(f, &l);
	assert_true(l.n > 0);
	assert_string_equal(l.v[l.n - 1].actor, "admin:test");
	assert_string_equal(l.v[l.n - 1].action, action);
	assert_string_equal(l.v[l.n - 1].target, target);
	store_audit_list_free(&l);
}

static int64_t ta_user(struct ta *f, const char *name)
{
	struct store_user u;
	struct diag d;
	int64_t id;

	assert_int_equal(store_user_get(f->st, name, &u, &d), 0);
	id = u.id;
	store_user_clear(&u);
	return id;
}

/* A device enrolled for user, as enroll.c records one. */
static void ta_device(struct ta *f, const char *id, const char *user,
                      const char *serial)
{
	struct diag d;

	if (store_device_create(f->st, id, ta_user(f, user), "laptop", "linux",
	                        serial, TA_FP, 0, &d) != 0)
		fail_msg("device_create: %s", d.msg);
}

static void ta_seed(struct ta *f)
{
	assert_int_equal(ta_call(f, "POST", "/api/v1/users",
	                         "{\"name\":\"alice\",\"email\":\"a@x\"}"),
	                 201);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users", "{\"name\":\"bob\"}"), 201);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/teams", "{\"name\":\"dev\"}"), 201);
	assert_int_equal(ta_call(f, "POST", "/api/v1/teams/dev/members",
	                         "{\"user\":\"alice\"}"),
	                 201);
}

static const char ta_entry[] =
    "{\"url\":\"https://api.example.com/mcp\",\"type\":\"http\","
    "\"headers\":{\"Authorization\":\"Bearer ${secret:GITHUB_TOKEN}\"}}";

/* ---- Authentication ---- */

static void test_api_auth(void **state)
{
	struct ta *f = *state;
	struct diag d;

	ta_call_as(f, "", "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "admin token");
	assert_string_equal(f->www_auth, "Bearer");
	ta_call_as(f, "Bearer nope", "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "unknown admin token");
	ta_call_as(f, "Basic " TA_TOKEN, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
	ta_call_as(f, "Bearer ", "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
	ta_call_as(f, "Bearer a\x01z", "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
	/* Unknown paths answer 401 too: nothing is told to strangers. */
	ta_call_as(f, "", "GET", "/api/v1/nope", NULL);
	ta_expect(f, 401, NULL);
	/* The scheme is case-insensitive (RFC 9110 11.1). */
	assert_int_equal(
	    ta_call_as(f, "bearer " TA_TOKEN, "GET", "/api/v1/users", NULL),
	    200);
	assert_int_equal(store_admin_token_revoke(f->st, f->admin_id, &d), 0);
	ta_call(f, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "revoked");
}

/* ---- Console sessions ---- */

#define TA_ORIGIN "https://fleet.example" /* the Host of every request */

/* A signed-in console: its Cookie header and CSRF token. */
struct ta_console {
	char cookie[128];
	char csrf[TOKEN_LEN + 1];
};

/* The last audit row's actor and action. */
static void ta_audit_actor(struct ta *f, const char *actor, const char *action)
{
	struct store_audit_list l;

	ta_audit(f, &l);
	assert_true(l.n > 0);
	assert_string_equal(l.v[l.n - 1].actor, actor);
	assert_string_equal(l.v[l.n - 1].action, action);
	store_audit_list_free(&l);
}

/* POST /session with token from peer; on 201 fills *con (when not NULL)
 * from the answer and its Set-Cookie. Returns the status. */
static int ta_login(struct ta *f, const char *token, const char *peer,
                    struct ta_console *con)
{
	struct ta_hdrs hd = {.peer = peer, .origin = TA_ORIGIN};
	char body[512];
	size_t n;
	int status;

	(void)snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
	status = ta_request(f, &hd, "POST", "/api/v1/session", body);
	if (status != 201 || con == NULL)
		return status;
	n = strcspn(f->set_cookie, ";");
	assert_true(n < sizeof(con->cookie));
	memcpy(con->cookie, f->set_cookie, n);
	con->cookie[n] = '\0';
	assert_int_equal(strlen(ta_str(f->ans, "csrf")), TOKEN_LEN);
	memcpy(con->csrf, ta_str(f->ans, "csrf"), TOKEN_LEN + 1);
	return status;
}

/* A request as the console makes it: cookie, CSRF token, our Origin. */
static int ta_console_call(struct ta *f, const struct ta_console *con,
                           const char *method, const char *target,
                           const char *body)
{
	struct ta_hdrs hd = {
	    .cookie = con->cookie, .csrf = con->csrf, .origin = TA_ORIGIN};

	return ta_request(f, &hd, method, target, body);
}

/* Makes an owner's admin token called name; its token and its revoke
 * path. */
static void ta_admin_token(struct ta *f, const char *name, char *tok,
                           size_t toksize, char *target, size_t tsize)
{
	char body[128];

	(void)snprintf(body, sizeof(body),
	               "{\"name\":\"%s\",\"role\":\"owner\"}", name);
	ta_call(f, "POST", "/api/v1/admin-tokens", body);
	ta_expect(f, 201, NULL);
	(void)snprintf(tok, toksize, "%s", ta_str(f->ans, "token"));
	(void)snprintf(target, tsize, "/api/v1/admin-tokens/%" PRId64,
	               (int64_t)ta_int(f->ans, "id"));
}

static void test_api_session_login(void **state)
{
	struct ta *f = *state;
	struct store_audit_list l;
	struct ta_console con;
	struct ta_hdrs none = {0};
	struct session_table *keep;
	char tok[TOKEN_MAX + 1], target[64];
	size_t rows;

	/* A good admin token: 201, the cookie, a CSRF token, an audit row. */
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	assert_string_equal(ta_str(f->ans, "admin"), "test");
	assert_true(json_is_true(
	    json_object_get(json_object_get(f->ans, "may"), "owner")));
	assert_int_equal(ta_int(f->ans, "expires_at"), TA_NOW + SESSION_TTL);
	assert_int_equal(ta_int(f->ans, "idle_timeout"), SESSION_IDLE);
	assert_true(strncmp(f->set_cookie, "__Host-mcpfleet_session=", 24) ==
	            0);
	assert_int_equal(strlen(con.cookie), 24 + TOKEN_LEN);
	assert_non_null(strstr(f->set_cookie, "; HttpOnly"));
	assert_non_null(strstr(f->set_cookie, "; Secure"));
	assert_non_null(strstr(f->set_cookie, "; SameSite=Strict"));
	/* __Host-: Secure, Path=/ and no Domain, or the browser drops it. */
	assert_non_null(strstr(f->set_cookie, "; Path=/"));
	assert_null(strstr(f->set_cookie, "Path=/api"));
	assert_null(strstr(f->set_cookie, "Domain"));
	assert_string_equal(f->cache_control, "no-store");
	ta_audit_actor(f, "admin:test (console)", "session.login");
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 1);

	/* A wrong one: 401, no cookie, and a "session.refused" row that
	 * names the peer and never the token. */
	rows = ta_audit_count(f);
	ta_login(f, "wrong-admin-token-value", "192.0.2.7", NULL);
	ta_expect(f, 401, "unknown admin token");
	assert_string_equal(f->set_cookie, "");
	assert_int_equal(ta_audit_count(f), rows + 1);
	ta_audit(f, &l);
	assert_string_equal(l.v[l.n - 1].actor, "peer:192.0.2.7");
	assert_string_equal(l.v[l.n - 1].action, "session.refused");
	assert_string_equal(l.v[l.n - 1].target, "192.0.2.7");
	assert_non_null(strstr(l.v[l.n - 1].details, "unknown admin token"));
	assert_null(strstr(l.v[l.n - 1].details, "wrong-admin-token"));
	store_audit_list_free(&l);
	ta_login(f, "a\\u0001b", "192.0.2.7", NULL);
	ta_expect(f, 401, "malformed");
	assert_int_equal(ta_audit_count(f), rows + 2);

	/* Malformed bodies are refused before anything is counted. */
	ta_request(f, &none, "POST", "/api/v1/session", "{}");
	ta_expect(f, 400, "'token' is missing");
	ta_request(f, &none, "POST", "/api/v1/session",
	           "{\"token\":\"" TA_TOKEN "\",\"x\":1}");
	ta_expect(f, 400, "unknown field");
	ta_request(f, &none, "PUT", "/api/v1/session", NULL);
	ta_expect(f, 401, NULL);
	ta_call(f, "PUT", "/api/v1/session", NULL);
	ta_expect(f, 405, NULL);
	assert_string_equal(f->allow, "POST, GET, DELETE");
	assert_int_equal(ta_audit_count(f), rows + 2);

	/* A revoked admin token cannot sign in. */
	ta_admin_token(f, "old", tok, sizeof(tok), target, sizeof(target));
	assert_int_equal(ta_call(f, "DELETE", target, NULL), 200);
	ta_login(f, tok, NULL, NULL);
	ta_expect(f, 401, "revoked");

	/* Without a session table the console is off. */
	keep = f->a.sessions;
	f->a.sessions = NULL;
	ta_login(f, TA_TOKEN, NULL, NULL);
	ta_expect(f, 404, "not enabled");
	none.cookie = con.cookie;
	ta_request(f, &none, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "missing admin token");
	f->a.sessions = keep;
}

static void test_api_session_cookie_auth(void **state)
{
	struct ta *f = *state;
	struct ta_console con;
	struct ta_hdrs hd = {0};
	char cookie[256];

	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	/* A read needs only the cookie. */
	hd.cookie = con.cookie;
	assert_int_equal(ta_request(f, &hd, "GET", "/api/v1/users", NULL), 200);
	/* A change with the CSRF token works, audited as the console. */
	assert_int_equal(ta_console_call(f, &con, "POST", "/api/v1/users",
	                                 "{\"name\":\"alice\"}"),
	                 201);
	ta_audit_actor(f, "admin:test (console)", "user.add");
	/* GET /session gives the CSRF token back to a reloaded page. */
	assert_int_equal(ta_request(f, &hd, "GET", "/api/v1/session", NULL),
	                 200);
	assert_string_equal(ta_str(f->ans, "csrf"), con.csrf);
	assert_string_equal(ta_str(f->ans, "admin"), "test");
	/* The cookie among others, and after a stale one of the same name. */
	(void)snprintf(cookie, sizeof(cookie),
	               "theme=dark; __Host-mcpfleet_session=stale0000; %s; x=y",
	               con.cookie);
	hd.cookie = cookie;
	assert_int_equal(ta_request(f, &hd, "GET", "/api/v1/users", NULL), 200);
	/* A bearer token wins over the cookie, and needs no CSRF token. */
	hd.auth = "Bearer nope";
	ta_request(f, &hd, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "unknown admin token");
	hd.auth = "Bearer " TA_TOKEN;
	assert_int_equal(
	    ta_request(f, &hd, "POST", "/api/v1/teams", "{\"name\":\"dev\"}"),
	    201);
	ta_audit_actor(f, "admin:test", "team.add");
	/* ... but /session is the cookie's only. */
	ta_request(f, &hd, "GET", "/api/v1/session", NULL);
	ta_expect(f, 404, "bearer");
	ta_request(f, &hd, "DELETE", "/api/v1/session", NULL);
	ta_expect(f, 404, "bearer");
	/* An unknown session: 401, and the browser is told to drop it. */
	hd.auth = NULL;
	hd.cookie = "__Host-mcpfleet_session="
	            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	ta_request(f, &hd, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "sign in again");
	assert_non_null(strstr(f->set_cookie, "Max-Age=0"));
	hd.cookie = "other=1; __Host-mcpfleet_session=";
	ta_request(f, &hd, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
}

static void test_api_session_csrf(void **state)
{
	struct ta *f = *state;
	struct ta_console con, other;
	struct ta_hdrs hd = {.origin = TA_ORIGIN};
	char wrong[TOKEN_LEN + 1], longer[TOKEN_LEN + 2];
	size_t rows;

	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	rows = ta_audit_count(f);
	hd.cookie = con.cookie;
	/* No token, a wrong one, a short one, a long one: 403, no change. */
	ta_request(f, &hd, "POST", "/api/v1/users", "{\"name\":\"eve\"}");
	ta_expect(f, 403, "X-CSRF-Token");
	memcpy(wrong, con.csrf, sizeof(wrong));
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
	hd.csrf = wrong;
	ta_request(f, &hd, "POST", "/api/v1/users", "{\"name\":\"eve\"}");
	ta_expect(f, 403, "X-CSRF-Token");
	hd.csrf = "abc";
	ta_request(f, &hd, "DELETE", "/api/v1/users/alice", NULL);
	ta_expect(f, 403, "X-CSRF-Token");
	(void)snprintf(longer, sizeof(longer), "%sx", con.csrf);
	hd.csrf = longer;
	ta_request(f, &hd, "PUT", "/api/v1/secrets/X", "{\"value\":\"v\"}");
	ta_expect(f, 403, "X-CSRF-Token");
	/* Signing out is a change too. */
	hd.csrf = NULL;
	ta_request(f, &hd, "DELETE", "/api/v1/session", NULL);
	ta_expect(f, 403, "X-CSRF-Token");
	assert_int_equal(ta_audit_count(f), rows);
	ta_call(f, "GET", "/api/v1/users", NULL);
	assert_int_equal(json_array_size(f->ans), 0);
	/* Another session's token is not this one's. */
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &other), 201);
	hd.csrf = other.csrf;
	ta_request(f, &hd, "POST", "/api/v1/users", "{\"name\":\"eve\"}");
	ta_expect(f, 403, "X-CSRF-Token");
}

static void test_api_session_origin(void **state)
{
	static const char *const bad[] = {
	    "https://evil.example",       "null",
	    "http://fleet.example",       "https://fleet.example:8443",
	    "https://fleet.example.evil",
	};
	struct ta *f = *state;
	struct ta_console con;
	struct ta_hdrs hd = {0};
	size_t i;

	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	hd.cookie = con.cookie;
	hd.csrf = con.csrf;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hd.origin = bad[i];
		ta_request(f, &hd, "POST", "/api/v1/users",
		           "{\"name\":\"eve\"}");
		ta_expect(f, 403, "is not this server");
		ta_request(f, &hd, "GET", "/api/v1/users", NULL);
		ta_expect(f, 403, "is not this server");
		hd.peer = "198.51.100.1";
		ta_request(f, &hd, "POST", "/api/v1/session",
		           "{\"token\":\"" TA_TOKEN "\"}");
		ta_expect(f, 403, "is not this server");
		hd.peer = NULL;
	}
	/* The same origin in another case, and none at all, are fine. */
	hd.origin = "HTTPS://Fleet.Example";
	assert_int_equal(
	    ta_request(f, &hd, "POST", "/api/v1/users", "{\"name\":\"alice\"}"),
	    201);
	hd.origin = NULL;
	assert_int_equal(
	    ta_request(f, &hd, "POST", "/api/v1/users", "{\"name\":\"bob\"}"),
	    201);
}

static void test_api_session_logout(void **state)
{
	struct ta *f = *state;
	struct ta_console con, other;
	struct ta_hdrs hd = {0};

	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &other), 201);
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 2);
	assert_int_equal(
	    ta_console_call(f, &con, "DELETE", "/api/v1/session", NULL), 200);
	assert_true(json_is_true(json_object_get(f->ans, "signed_out")));
	assert_non_null(strstr(f->set_cookie, "__Host-mcpfleet_session=;"));
	assert_non_null(strstr(f->set_cookie, "Max-Age=0"));
	ta_audit_actor(f, "admin:test (console)", "session.logout");
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 1);
	/* That session is gone; the other one is not. */
	ta_console_call(f, &con, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "sign in again");
	ta_console_call(f, &con, "DELETE", "/api/v1/session", NULL);
	ta_expect(f, 401, NULL);
	assert_int_equal(
	    ta_console_call(f, &other, "GET", "/api/v1/users", NULL), 200);
	/* Signing in again from a browser that has a session replaces it. */
	hd.cookie = other.cookie;
	assert_int_equal(ta_request(f, &hd, "POST", "/api/v1/session",
	                            "{\"token\":\"" TA_TOKEN "\"}"),
	                 201);
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 1);
	ta_console_call(f, &other, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
}

static void test_api_session_expiry(void **state)
{
	struct ta *f = *state;
	struct ta_console con;
	int64_t t;

	/* Idle: SESSION_IDLE without a request ends it. */
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	store_set_now(f->st, TA_NOW + SESSION_IDLE - 1);
	assert_int_equal(ta_console_call(f, &con, "GET", "/api/v1/users", NULL),
	                 200);
	store_set_now(f->st, TA_NOW + 2 * SESSION_IDLE - 2);
	assert_int_equal(ta_console_call(f, &con, "GET", "/api/v1/users", NULL),
	                 200);
	store_set_now(f->st, TA_NOW + 3 * SESSION_IDLE - 2);
	ta_console_call(f, &con, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "expired");
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 0);

	/* Absolute: SESSION_TTL after sign-in, however busy. */
	store_set_now(f->st, TA_NOW);
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	for (t = TA_NOW; t < TA_NOW + SESSION_TTL; t += SESSION_IDLE / 2) {
		store_set_now(f->st, t);
		assert_int_equal(
		    ta_console_call(f, &con, "GET", "/api/v1/status", NULL),
		    200);
	}
	store_set_now(f->st, TA_NOW + SESSION_TTL);
	ta_console_call(f, &con, "GET", "/api/v1/status", NULL);
	ta_expect(f, 401, "expired");
}

static void test_api_session_revoked_admin(void **state)
{
	struct ta *f = *state;
	struct ta_console con;
	char tok[TOKEN_MAX + 1], target[64];

	ta_admin_token(f, "ops", tok, sizeof(tok), target, sizeof(target));
	assert_int_equal(ta_login(f, tok, NULL, &con), 201);
	assert_int_equal(ta_console_call(f, &con, "GET", "/api/v1/users", NULL),
	                 200);
	/* The console cannot revoke the token it signed in with. */
	ta_console_call(f, &con, "DELETE", target, NULL);
	ta_expect(f, 409, "cannot revoke itself");
	/* Revoking that token ends its sessions at their next request. */
	assert_int_equal(ta_call(f, "DELETE", target, NULL), 200);
	ta_console_call(f, &con, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "revoked");
	assert_non_null(strstr(f->set_cookie, "Max-Age=0"));
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW), 0);
}

static void test_api_session_rate_limit(void **state)
{
	struct ta *f = *state;
	size_t rows;
	int i;

	for (i = 0; i < API_LOGIN_RATE; i++) {
		ta_login(f, "guess-number-n", "203.0.113.9", NULL);
		ta_expect(f, 401, NULL);
	}
	/* The limit holds even for the right token, and a refusal by the
	 * limit writes no row. */
	rows = ta_audit_count(f);
	ta_login(f, TA_TOKEN, "203.0.113.9", NULL);
	ta_expect(f, 429, "too many sign-in attempts");
	assert_int_equal(ta_audit_count(f), rows);
	/* Another address is not held back; a minute later, neither is
	 * this one. */
	assert_int_equal(ta_login(f, TA_TOKEN, "203.0.113.10", NULL), 201);
	store_set_now(f->st, TA_NOW + 60);
	assert_int_equal(ta_login(f, TA_TOKEN, "203.0.113.9", NULL), 201);
}

static void test_api_session_max(void **state)
{
	struct ta *f = *state;
	struct ta_console first, c;
	struct session_table *s = NULL;
	char peer[32];
	int i;

	assert_int_equal(ta_login(f, TA_TOKEN, "10.0.0.1", &first), 201);
	for (i = 1; i < API_SESSIONS_MAX; i++) {
		(void)snprintf(peer, sizeof(peer), "10.0.%d.%d", i / 200,
		               i % 200 + 2);
		store_set_now(f->st, TA_NOW + i);
		assert_int_equal(ta_login(f, TA_TOKEN, peer, &c), 201);
	}
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW + i),
	                 API_SESSIONS_MAX);
	/* The table is full: the least recently used session goes. */
	store_set_now(f->st, TA_NOW + i);
	assert_int_equal(ta_login(f, TA_TOKEN, "10.1.0.1", &c), 201);
	assert_int_equal(session_table_count(f->a.sessions, TA_NOW + i),
	                 API_SESSIONS_MAX);
	ta_console_call(f, &first, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, NULL);
	assert_int_equal(ta_console_call(f, &c, "GET", "/api/v1/users", NULL),
	                 200);
	/* Bad arguments. */
	assert_int_equal(session_table_new(f->st, 0, 1, &s), -ERR_INVALID);
	assert_int_equal(session_table_new(f->st, 1, 0, &s), -ERR_INVALID);
	assert_int_equal(session_table_new(NULL, 1, 1, &s), -ERR_INVALID);
	assert_null(s);
	session_table_free(NULL);
}

/* ---- Routing ---- */

static void test_api_routing(void **state)
{
	struct ta *f = *state;

	ta_call(f, "GET", "/api/v1/nope", NULL);
	ta_expect(f, 404, "no such API path");
	ta_call(f, "GET", "/api/v1/", NULL);
	ta_expect(f, 404, NULL);
	ta_call(f, "GET", "/api/v1", NULL);
	ta_expect(f, 404, NULL);
	ta_call(f, "GET", "/api/v1/users/", NULL);
	ta_expect(f, 404, NULL);
	ta_call(f, "GET", "/api/v1/users/alice/x/y/z", NULL);
	ta_expect(f, 404, NULL);
	ta_call(f, "PATCH", "/api/v1/users", NULL);
	ta_expect(f, 405, "PATCH");
	assert_string_equal(f->allow, "GET, POST");
	ta_call(f, "PUT", "/api/v1/users/alice", NULL);
	ta_expect(f, 405, NULL);
	assert_string_equal(f->allow, "GET, DELETE");
	ta_call(f, "GET", "/api/v1/audit/verify/x", NULL);
	ta_expect(f, 404, NULL);
	/* Names in paths are validated before use. */
	ta_call(f, "GET", "/api/v1/users/a b", NULL);
	ta_expect(f, 400, "user name");
	ta_call(f, "GET", "/api/v1/users/\xff\xfe", NULL);
	ta_expect(f, 400, "user name");
	ta_call(f, "GET", "/api/v1/devices/dev;1", NULL);
	ta_expect(f, 400, "device id");
	ta_call(f, "DELETE", "/api/v1/grants/12x", NULL);
	ta_expect(f, 400, "grant id");
	ta_call(f, "DELETE", "/api/v1/grants/-1", NULL);
	ta_expect(f, 400, "grant id");
	ta_call(f, "PUT", "/api/v1/secrets/1BAD", "{\"value\":\"x\"}");
	ta_expect(f, 400, "secret name");
}

/* ---- Bodies ---- */

static void test_api_bodies(void **state)
{
	struct ta *f = *state;
	size_t big = (1u << 20) + 1;
	char *huge;

	ta_call(f, "POST", "/api/v1/users", "{");
	ta_expect(f, 400, "body");
	ta_call(f, "POST", "/api/v1/users", "[]");
	ta_expect(f, 400, "object");
	ta_call(f, "POST", "/api/v1/users", "{\"name\":\"a\",\"nmae\":\"b\"}");
	ta_expect(f, 400, "unknown field 'nmae'");
	ta_call(f, "POST", "/api/v1/users", "{\"name\":5}");
	ta_expect(f, 400, "field 'name' must be a string");
	ta_call(f, "POST", "/api/v1/users", "{\"name\":\"a\",\"name\":\"b\"}");
	ta_expect(f, 400, "duplicate");
	ta_call(f, "POST", "/api/v1/users", "{}");
	ta_expect(f, 400, "field 'name' is missing");
	ta_call(f, "POST", "/api/v1/users", NULL);
	ta_expect(f, 400, "field 'name' is missing");
	ta_call(f, "POST", "/api/v1/users", "{\"name\":null}");
	ta_expect(f, 400, "field 'name' is missing");
	ta_call(f, "GET", "/api/v1/users", "{}");
	ta_expect(f, 400, "takes no body");
	ta_call(f, "DELETE", "/api/v1/secrets/X", "{\"team\":\"dev\"}");
	ta_expect(f, 400, "takes no body");
	ta_call(f, "GET", "/api/v1/users?x=1", NULL);
	ta_expect(f, 400, "unknown query parameter 'x'");
	ta_call(f, "DELETE", "/api/v1/secrets/X?tema=dev", NULL);
	ta_expect(f, 400, "unknown query parameter 'tema'");
	ta_call(f, "GET", "/api/v1/grants?server=a&server=b", NULL);
	ta_expect(f, 400, "twice");
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"a\",\"ttl\":1.5}");
	ta_expect(f, 400, "field 'ttl' must be an integer");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"s\",\"everyone\":true,\"tools_deny\":[1]}");
	ta_expect(f, 400, "field 'tools_deny'");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"s\",\"everyone\":\"yes\"}");
	ta_expect(f, 400, "field 'everyone'");

	huge = malloc(big + 1);
	assert_non_null(huge);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = '\0';
	ta_call(f, "POST", "/api/v1/users", huge);
	ta_expect(f, 413, NULL);
	free(huge);
	/* Nothing of this reached the store. */
	assert_int_equal(ta_audit_count(f), 0);
	assert_int_equal(f->h.changed, 0);
}

static void test_api_content_type(void **state)
{
	struct ta *f = *state;
	struct net_request req;
	struct net_response resp;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = "POST";
	req.path = "/api/v1/users";
	req.authorization = "Bearer " TA_TOKEN;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = "name=alice";
	req.body_len = strlen(req.body);
	api_handle(&f->a, &req, &resp);
	assert_int_equal(resp.status, 400);
	assert_non_null(strstr(resp.body.data, "Content-Type"));
	buf_free(&resp.body);
	buf_free(&resp.headers);

	memset(&resp, 0, sizeof(resp));
	req.content_type = "application/json; charset=utf-8";
	req.body = "{\"name\":\"alice\"}";
	req.body_len = strlen(req.body);
	api_handle(&f->a, &req, &resp);
	assert_int_equal(resp.status, 201);
	buf_free(&resp.body);
	buf_free(&resp.headers);
}

/* ---- Users ---- */

static void test_api_users(void **state)
{
	struct ta *f = *state;
	json_t *v;

	assert_int_equal(ta_call(f, "POST", "/api/v1/users",
	                         "{\"name\":\"alice\",\"email\":\"a@x\"}"),
	                 201);
	assert_true(ta_int(f->ans, "id") > 0);
	assert_string_equal(ta_str(f->ans, "name"), "alice");
	assert_string_equal(ta_str(f->ans, "email"), "a@x");
	assert_true(json_is_false(json_object_get(f->ans, "disabled")));
	assert_int_equal(ta_int(f->ans, "created_at"), TA_NOW);
	ta_audit_last(f, "user.add", "alice");
	/* A user alone changes no view. */
	assert_int_equal(f->h.changed, 0);

	ta_call(f, "POST", "/api/v1/users", "{\"name\":\"alice\"}");
	ta_expect(f, 409, "already exists");
	ta_call(f, "POST", "/api/v1/users", "{\"name\":\"a b\"}");
	ta_expect(f, 400, "user name");
	assert_int_equal(ta_audit_count(f), 1);

	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users", "{\"name\":\"bob\"}"), 201);
	assert_true(json_is_null(json_object_get(f->ans, "email")));
	assert_int_equal(ta_call(f, "GET", "/api/v1/users", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_string_equal(ta_str(json_array_get(f->ans, 0), "name"), "alice");
	assert_true(ta_int(json_array_get(f->ans, 1), "id") > 0);

	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/teams", "{\"name\":\"dev\"}"), 201);
	assert_int_equal(ta_call(f, "POST", "/api/v1/teams/dev/members",
	                         "{\"user\":\"alice\"}"),
	                 201);
	ta_device(f, "dev-1", "alice", "0a");
	assert_int_equal(ta_call(f, "GET", "/api/v1/users/alice", NULL), 200);
	v = json_object_get(f->ans, "teams");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dev");
	v = json_object_get(f->ans, "devices");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dev-1");

	ta_call(f, "GET", "/api/v1/users/carol", NULL);
	ta_expect(f, 404, "no user named 'carol'");
	ta_call(f, "DELETE", "/api/v1/users/bob2", NULL);
	ta_expect(f, 404, "no user named 'bob2'");

	/* Alice still has an active device. */
	ta_call(f, "DELETE", "/api/v1/users/alice", NULL);
	ta_expect(f, 409, "active device");
	assert_int_equal(ta_call(f, "DELETE", "/api/v1/users/bob", NULL), 200);
	assert_true(json_is_true(json_object_get(f->ans, "removed")));
	assert_true(ta_int(f->ans, "id") > 0);
	ta_audit_last(f, "user.remove", "bob");
	ta_call(f, "GET", "/api/v1/users/bob", NULL);
	ta_expect(f, 404, NULL);
}

static void test_api_offboard(void **state)
{
	struct ta *f = *state;
	char aad[STORE_AAD_MAX];
	struct store_user u;
	struct store_device dev;
	struct store_audit_list l;
	int64_t sid, version;
	size_t aadlen, i;
	uint8_t *sealed;
	size_t n;
	struct diag d;
	json_t *v, *dl;
	int changed;

	ta_seed(f);
	ta_device(f, "dev-1", "alice", "0a");
	ta_device(f, "dev-2", "alice", "0b");
	ta_device(f, "dev-3", "alice", "0c");
	ta_device(f, "dev-9", "bob", "09");
	assert_int_equal(store_device_revoke(f->st, "dev-3", "old", &d), 0);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"alice\"}"), 201);
	assert_int_equal(ta_call(f, "POST", "/api/v1/tokens",
	                         "{\"user\":\"alice\",\"uses\":3}"),
	                 201);
	/* A user-scoped secret reached dev-1 in revision 12. */
	assert_int_equal(store_begin(f->st, &d), 0);
	assert_int_equal(
	    store_secret_next(f->st, "GITHUB_TOKEN", STORE_SCOPE_USER,
	                      ta_user(f, "alice"), &sid, &version, &d),
	    0);
	assert_int_equal(store_secret_aad(sid, aad, &aadlen), 0);
	assert_int_equal(crypto_seal(f->rng, f->master, aad, aadlen, "v", 1,
	                             &sealed, &n, &d),
	                 0);
	assert_int_equal(store_secret_put(f->st, sid, sealed, n, &d), 0);
	free(sealed);
	assert_int_equal(store_commit(f->st, &d), 0);
	assert_int_equal(store_delivery_record(f->st, "dev-1", sid, 12, &d), 0);
	/* A call alice made through a launcher, and one of bob's. */
	{
		struct store_call call = {
		    .seq = 1,
		    .at_ms = 1000,
		    .server = (char *)(uintptr_t) "gh",
		    .method = (char *)(uintptr_t) "tools/call",
		    .name = (char *)(uintptr_t) "search",
		    .outcome = STORE_CALL_DENIED,
		};

		assert_int_equal(store_calls_insert(f->st, "dev-1", &call, 1,
		                                    NULL, NULL, &d),
		                 0);
		call.name = (char *)(uintptr_t) "bobs";
		assert_int_equal(store_calls_insert(f->st, "dev-9", &call, 1,
		                                    NULL, NULL, &d),
		                 0);
	}

	changed = f->h.changed;
	assert_int_equal(ta_call(f, "POST", "/api/v1/users/alice/offboard",
	                         "{\"reason\":\"left\"}"),
	                 200);
	assert_string_equal(ta_str(f->ans, "user"), "alice");
	assert_true(json_is_true(json_object_get(f->ans, "disabled")));
	v = json_object_get(f->ans, "devices_revoked");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dev-1");
	assert_string_equal(json_string_value(json_array_get(v, 1)), "dev-2");
	assert_int_equal(ta_int(f->ans, "tokens_revoked"), 2);
	dl = json_object_get(f->ans, "deliveries");
	assert_int_equal(json_array_size(dl), 1);
	v = json_array_get(dl, 0);
	assert_string_equal(ta_str(v, "secret"), "GITHUB_TOKEN");
	assert_string_equal(ta_str(v, "scope"), "user");
	assert_string_equal(ta_str(v, "scope_name"), "alice");
	assert_int_equal(ta_int(v, "version"), 1);
	assert_string_equal(ta_str(v, "device"), "dev-1");
	assert_int_equal(ta_int(v, "revision"), 12);
	assert_int_equal(ta_int(v, "delivered_at"), TA_NOW);
	/* The report ends with their last calls: theirs only. */
	dl = json_object_get(f->ans, "last_calls");
	assert_int_equal(json_array_size(dl), 1);
	assert_string_equal(ta_str(json_array_get(dl, 0), "name"), "search");
	assert_string_equal(ta_str(json_array_get(dl, 0), "outcome"), "denied");

	/* The hooks: both devices, then a rebuild. */
	assert_int_equal(f->h.revoked_calls, 1);
	assert_int_equal(f->h.nrevoked, 2);
	assert_string_equal(f->h.revoked[0], "dev-1");
	assert_string_equal(f->h.revoked[1], "dev-2");
	assert_int_equal(f->h.changed, changed + 1);

	/* The store agrees, and one audit row says so. */
	assert_int_equal(store_user_get(f->st, "alice", &u, &d), 0);
	assert_true(u.disabled);
	store_user_clear(&u);
	assert_int_equal(store_device_get(f->st, "dev-2", &dev, &d), 0);
	assert_int_equal(dev.status, STORE_DEVICE_REVOKED);
	assert_string_equal(dev.revoke_reason, "left");
	store_device_clear(&dev);
	assert_int_equal(store_device_get(f->st, "dev-9", &dev, &d), 0);
	assert_int_equal(dev.status, STORE_DEVICE_ACTIVE);
	store_device_clear(&dev);
	ta_audit(f, &l);
	assert_string_equal(l.v[l.n - 1].action, "user.offboard");
	assert_string_equal(l.v[l.n - 1].target, "alice");
	assert_non_null(strstr(l.v[l.n - 1].details, "dev-2"));
	assert_string_equal(l.v[l.n - 2].action, "token.create");
	store_audit_list_free(&l);
	assert_int_equal(ta_call(f, "GET", "/api/v1/tokens", NULL), 200);
	for (i = 0; i < json_array_size(f->ans); i++)
		assert_true(json_is_true(
		    json_object_get(json_array_get(f->ans, i), "revoked")));

	/* A disabled user gets no new token. */
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"alice\"}");
	ta_expect(f, 409, "disabled");
	/* Offboarding again revokes nothing more. */
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users/alice/offboard", NULL), 200);
	assert_int_equal(
	    json_array_size(json_object_get(f->ans, "devices_revoked")), 0);
	assert_int_equal(f->h.revoked_calls, 1);
	ta_call(f, "POST", "/api/v1/users/nobody/offboard", NULL);
	ta_expect(f, 404, "no user named 'nobody'");
}

/* The report is stored and read back later, the newest first. */
static void test_api_offboarding_report(void **state)
{
	struct ta *f = *state;
	json_t *v;

	ta_seed(f);
	ta_device(f, "dev-1", "alice", "0a");
	ta_call(f, "GET", "/api/v1/users/alice/offboarding", NULL);
	ta_expect(f, 404, "user 'alice' has no offboarding report");
	ta_call(f, "GET", "/api/v1/users/nobody/offboarding", NULL);
	ta_expect(f, 404, "no user named 'nobody'");

	assert_int_equal(ta_call(f, "POST", "/api/v1/users/alice/offboard",
	                         "{\"reason\":\"left\"}"),
	                 200);
	assert_int_equal(ta_int(f->ans, "offboarded_at"), TA_NOW);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/users/alice/offboarding", NULL), 200);
	assert_string_equal(ta_str(f->ans, "user"), "alice");
	assert_string_equal(ta_str(f->ans, "reason"), "left");
	assert_string_equal(ta_str(f->ans, "by"), "admin:test");
	assert_int_equal(ta_int(f->ans, "offboarded_at"), TA_NOW);
	v = json_object_get(f->ans, "devices_revoked");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dev-1");
	assert_non_null(json_object_get(f->ans, "deliveries"));

	/* A second offboarding replaces what is shown. */
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users/alice/offboard", NULL), 200);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/users/alice/offboarding", NULL), 200);
	assert_true(json_is_null(json_object_get(f->ans, "reason")) ||
	            json_object_get(f->ans, "reason") == NULL);
	assert_int_equal(
	    json_array_size(json_object_get(f->ans, "devices_revoked")), 0);
}

/* ---- Teams ---- */

static void test_api_teams(void **state)
{
	struct ta *f = *state;
	int changed;

	ta_seed(f);
	assert_int_equal(ta_call(f, "GET", "/api/v1/teams", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 1);
	ta_call(f, "POST", "/api/v1/teams", "{\"name\":\"everyone\"}");
	ta_expect(f, 400, "reserved");
	ta_call(f, "POST", "/api/v1/teams", "{\"name\":\"dev\"}");
	ta_expect(f, 409, NULL);

	changed = f->h.changed;
	assert_int_equal(ta_call(f, "POST", "/api/v1/teams/dev/members",
	                         "{\"user\":\"bob\"}"),
	                 201);
	assert_string_equal(ta_str(f->ans, "team"), "dev");
	assert_string_equal(ta_str(f->ans, "user"), "bob");
	assert_int_equal(f->h.changed, changed + 1);
	ta_audit_last(f, "team.member.add", "dev");
	ta_call(f, "POST", "/api/v1/teams/dev/members", "{\"user\":\"bob\"}");
	ta_expect(f, 409, NULL);
	ta_call(f, "POST", "/api/v1/teams/dev/members", "{\"user\":\"zed\"}");
	ta_expect(f, 404, "no user named 'zed'");
	ta_call(f, "POST", "/api/v1/teams/ops/members", "{\"user\":\"bob\"}");
	ta_expect(f, 404, "no team named 'ops'");
	assert_int_equal(f->h.changed, changed + 1);

	assert_int_equal(ta_call(f, "GET", "/api/v1/teams/dev", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 2);
	assert_int_equal(
	    ta_call(f, "DELETE", "/api/v1/teams/dev/members/bob", NULL), 200);
	ta_audit_last(f, "team.member.remove", "dev");
	ta_call(f, "DELETE", "/api/v1/teams/dev/members/bob", NULL);
	ta_expect(f, 404, NULL);
	assert_int_equal(ta_call(f, "GET", "/api/v1/teams/dev", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 1);

	/* A team that owns secrets stays. */
	assert_int_equal(ta_call(f, "PUT", "/api/v1/secrets/DEV_KEY",
	                         "{\"value\":\"k\",\"team\":\"dev\"}"),
	                 201);
	ta_call(f, "DELETE", "/api/v1/teams/dev", NULL);
	ta_expect(f, 409, "secret");
	assert_int_equal(
	    ta_call(f, "DELETE", "/api/v1/secrets/DEV_KEY?team=dev", NULL),
	    200);
	assert_int_equal(ta_call(f, "DELETE", "/api/v1/teams/dev", NULL), 200);
	ta_audit_last(f, "team.remove", "dev");
	ta_call(f, "GET", "/api/v1/teams/dev", NULL);
	ta_expect(f, 404, "no team named 'dev'");
}

/* ---- Servers and grants ---- */

static void test_api_servers(void **state)
{
	struct ta *f = *state;
	struct store_audit_list l;
	char body[1024];
	int changed = f->h.changed;

	(void)snprintf(body, sizeof(body), "{\"name\":\"github\",\"entry\":%s}",
	               ta_entry);
	assert_int_equal(ta_call(f, "POST", "/api/v1/servers", body), 201);
	assert_string_equal(ta_str(f->ans, "name"), "github");
	assert_string_equal(ta_str(json_object_get(f->ans, "entry"), "url"),
	                    "https://api.example.com/mcp");
	assert_int_equal(ta_int(f->ans, "created_at"), TA_NOW);
	assert_int_equal(ta_int(f->ans, "updated_at"), TA_NOW);
	assert_int_equal(f->h.changed, changed + 1);
	ta_audit(f, &l);
	assert_string_equal(l.v[l.n - 1].action, "server.add");
	assert_non_null(strstr(l.v[l.n - 1].details, "secret:GITHUB_TOKEN"));
	store_audit_list_free(&l);

	ta_call(f, "POST", "/api/v1/servers", body);
	ta_expect(f, 409, "already exists");
	ta_call(f, "POST", "/api/v1/servers",
	        "{\"name\":\"x\",\"entry\":{\"command\":\"a\",\"bogus\":1}}");
	ta_expect(f, 400, "entry");
	ta_expect(f, 400, "bogus");
	ta_call(f, "POST", "/api/v1/servers",
	        "{\"name\":\"x\",\"entry\":{\"command\":\"a\",\"url\":\"b\"}}");
	ta_expect(f, 400, "entry");
	ta_call(f, "POST", "/api/v1/servers",
	        "{\"name\":\"a b\",\"entry\":{\"command\":\"a\"}}");
	ta_expect(f, 400, "field 'name'");
	ta_call(f, "POST", "/api/v1/servers",
	        "{\"name\":\"timeout\",\"entry\":{\"command\":\"a\"}}");
	ta_expect(f, 400, "field 'name'");
	ta_call(f, "POST", "/api/v1/servers", "{\"name\":\"x\",\"entry\":[1]}");
	ta_expect(f, 400, "field 'entry' must be an object");
	assert_int_equal(f->h.changed, changed + 1);

	assert_int_equal(ta_call(f, "PUT", "/api/v1/servers/github",
	                         "{\"entry\":{\"command\":\"npx\","
	                         "\"args\":[\"-y\",\"gh\"]}}"),
	                 200);
	assert_string_equal(ta_str(json_object_get(f->ans, "entry"), "command"),
	                    "npx");
	ta_audit_last(f, "server.set", "github");
	ta_call(f, "PUT", "/api/v1/servers/gitlab",
	        "{\"entry\":{\"command\":\"npx\"}}");
	ta_expect(f, 404, "gitlab");
	ta_call(f, "PUT", "/api/v1/servers/github",
	        "{\"name\":\"github\",\"entry\":{\"command\":\"npx\"}}");
	ta_expect(f, 400, "unknown field 'name'");

	assert_int_equal(ta_call(f, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 1);
	assert_int_equal(ta_call(f, "GET", "/api/v1/servers/github", NULL),
	                 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "grants")), 0);
	assert_int_equal(ta_call(f, "DELETE", "/api/v1/servers/github", NULL),
	                 200);
	ta_audit_last(f, "server.remove", "github");
	ta_call(f, "GET", "/api/v1/servers/github", NULL);
	ta_expect(f, 404, "github");
}

static void test_api_grants(void **state)
{
	struct ta *f = *state;
	char body[1024], path[64];
	json_int_t id;
	json_t *g;
	int changed;

	ta_seed(f);
	(void)snprintf(body, sizeof(body), "{\"name\":\"github\",\"entry\":%s}",
	               ta_entry);
	assert_int_equal(ta_call(f, "POST", "/api/v1/servers", body), 201);
	assert_int_equal(ta_call(f, "POST", "/api/v1/servers",
	                         "{\"name\":\"fs\",\"entry\":"
	                         "{\"command\":\"npx\"}}"),
	                 201);
	changed = f->h.changed;

	assert_int_equal(ta_call(f, "POST", "/api/v1/grants",
	                         "{\"server\":\"github\",\"team\":\"dev\","
	                         "\"tools_deny\":[\"delete_repository\"]}"),
	                 201);
	assert_string_equal(ta_str(f->ans, "server"), "github");
	assert_string_equal(ta_str(f->ans, "target"), "team");
	assert_string_equal(ta_str(f->ans, "target_name"), "dev");
	assert_true(json_is_null(json_object_get(f->ans, "tools_allow")));
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(f->ans, "tools_deny"), 0)),
	                    "delete_repository");
	id = ta_int(f->ans, "id");
	assert_int_equal(f->h.changed, changed + 1);
	ta_audit_last(f, "grant.add", "github");

	assert_int_equal(ta_call(f, "POST", "/api/v1/grants",
	                         "{\"server\":\"github\",\"everyone\":true}"),
	                 201);
	assert_string_equal(ta_str(f->ans, "target"), "everyone");
	assert_string_equal(ta_str(f->ans, "target_name"), "everyone");
	assert_int_equal(ta_call(f, "POST", "/api/v1/grants",
	                         "{\"server\":\"fs\",\"user\":\"bob\","
	                         "\"tools_allow\":[\"read\"]}"),
	                 201);
	assert_string_equal(ta_str(f->ans, "target"), "user");
	assert_true(json_is_null(json_object_get(f->ans, "rate")));
	assert_true(json_is_null(json_object_get(f->ans, "tool_rates")));
	/* Rates come back in their canonical spelling. */
	assert_int_equal(ta_call(f, "POST", "/api/v1/grants",
	                         "{\"server\":\"fs\",\"team\":\"dev\","
	                         "\"rate\":\"120/2minutes\",\"tool_rates\":"
	                         "{\"delete_*\":\"5/hours\"}}"),
	                 201);
	assert_string_equal(ta_str(f->ans, "rate"), "120/2min");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(f->ans, "tool_rates"), "delete_*")),
	    "5/hour");
	ta_audit_last(f, "grant.add", "fs");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"user\":\"bob\",\"rate\":\"9/ms\"}");
	ta_expect(f, 400, "grant rate: '9/ms' is not a rate");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"user\":\"bob\",\"rate\":5}");
	ta_expect(f, 400, "rate");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"user\":\"bob\",\"tool_rates\":"
	        "{\"a b\":\"1/s\"}}");
	ta_expect(f, 400, "grant tool rates");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"user\":\"bob\",\"tool_rates\":"
	        "{\"push\":1}}");
	ta_expect(f, 400, "grant tool rates.push: must be a string");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"user\":\"bob\",\"tool_rates\":{}}");
	ta_expect(f, 400, "grant tool rates: must be an object of 1 to");

	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"team\":\"dev\"}");
	ta_expect(f, 409, NULL);
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"team\":\"dev\",\"user\":\"bob\"}");
	ta_expect(f, 400, "exactly one");
	ta_call(f, "POST", "/api/v1/grants", "{\"server\":\"github\"}");
	ta_expect(f, 400, "exactly one");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"everyone\":false}");
	ta_expect(f, 400, "'everyone' must be true");
	ta_call(
	    f, "POST", "/api/v1/grants",
	    "{\"server\":\"github\",\"tools_allow\":[\"\"],\"user\":\"bob\"}");
	ta_expect(f, 400, "tools_allow");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"nope\",\"everyone\":true}");
	ta_expect(f, 404, "nope");
	ta_call(f, "POST", "/api/v1/grants",
	        "{\"server\":\"github\",\"team\":\"ops\"}");
	ta_expect(f, 404, "no team named 'ops'");
	/* A refused change pushes nothing. */
	assert_int_equal(f->h.changed, changed + 4);

	assert_int_equal(ta_call(f, "GET", "/api/v1/grants", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 4);
	assert_int_equal(ta_call(f, "GET", "/api/v1/grants?server=fs", NULL),
	                 200);
	assert_int_equal(json_array_size(f->ans), 2);
	g = json_array_get(f->ans, 0);
	assert_string_equal(ta_str(g, "target_name"), "bob");
	ta_call(f, "GET", "/api/v1/grants?server=nope", NULL);
	ta_expect(f, 404, "nope");
	assert_int_equal(ta_call(f, "GET", "/api/v1/servers/github", NULL),
	                 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "grants")), 2);

	(void)snprintf(path, sizeof(path),
	               "/api/v1/grants/%" JSON_INTEGER_FORMAT, id);
	assert_int_equal(ta_call(f, "DELETE", path, NULL), 200);
	ta_audit_last(f, "grant.remove", "github");
	ta_call(f, "DELETE", path, NULL);
	ta_expect(f, 404, "no grant with id");
}

/* ---- Secrets ---- */

/* Fails when s occurs in the len bytes at p. */
static void ta_absent(const char *what, const void *p, size_t len,
                      const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp((const char *)p + i, s, n) == 0)
			fail_msg("%s holds the secret value '%s'", what, s);
}

static void test_api_secrets(void **state)
{
	struct ta *f = *state;
	static const char *const values[] = {
	    "org-value-6c7b1e", "team-value-91f0aa", "user-value-2d4e8b",
	    "user-value-2-77c3d1", "broken-value-5a5a5a"};
	struct store_audit_list l;
	struct store_secret s;
	uint8_t *pt = NULL;
	size_t ptlen = 0, aadlen, i, len;
	char aad[STORE_AAD_MAX], body[256], *db;
	struct diag d;
	json_t *v;
	int changed;

	ta_seed(f);
	changed = f->h.changed;
	(void)snprintf(body, sizeof(body), "{\"value\":\"%s\"}", values[0]);
	assert_int_equal(
	    ta_call(f, "PUT", "/api/v1/secrets/GITHUB_TOKEN", body), 201);
	assert_string_equal(ta_str(f->ans, "name"), "GITHUB_TOKEN");
	assert_string_equal(ta_str(f->ans, "scope"), "org");
	assert_true(json_is_null(json_object_get(f->ans, "scope_name")));
	assert_int_equal(ta_int(f->ans, "version"), 1);
	assert_int_equal(ta_int(f->ans, "updated_at"), TA_NOW);
	assert_null(json_object_get(f->ans, "value"));
	assert_int_equal(f->h.changed, changed + 1);
	ta_audit_last(f, "secret.set", "GITHUB_TOKEN");

	(void)snprintf(body, sizeof(body),
	               "{\"value\":\"%s\",\"team\":\"dev\"}", values[1]);
	assert_int_equal(
	    ta_call(f, "PUT", "/api/v1/secrets/GITHUB_TOKEN", body), 201);
	assert_string_equal(ta_str(f->ans, "scope"), "team");
	assert_string_equal(ta_str(f->ans, "scope_name"), "dev");
	(void)snprintf(body, sizeof(body),
	               "{\"value\":\"%s\",\"user\":\"alice\"}", values[2]);
	assert_int_equal(
	    ta_call(f, "PUT", "/api/v1/secrets/GITHUB_TOKEN", body), 201);
	(void)snprintf(body, sizeof(body),
	               "{\"value\":\"%s\",\"user\":\"alice\"}", values[3]);
	assert_int_equal(
	    ta_call(f, "PUT", "/api/v1/secrets/GITHUB_TOKEN", body), 201);
	assert_int_equal(ta_int(f->ans, "version"), 2);

	/* The sealed bytes open, under the record's own id, to the value. */
	assert_int_equal(store_secret_get(f->st, "GITHUB_TOKEN",
	                                  STORE_SCOPE_USER, ta_user(f, "alice"),
	                                  &s, &d),
	                 0);
	assert_int_equal(s.id, ta_int(f->ans, "id"));
	assert_int_equal(store_secret_aad(s.id, aad, &aadlen), 0);
	assert_int_equal(crypto_open(f->master, aad, aadlen, s.sealed,
	                             s.sealed_len, &pt, &ptlen, &d),
	                 0);
	assert_int_equal(ptlen, strlen(values[3]));
	assert_memory_equal(pt, values[3], ptlen);
	crypto_secret_free(pt, ptlen);
	store_secret_clear(&s);

	ta_call(f, "PUT", "/api/v1/secrets/X",
	        "{\"value\":\"v\",\"team\":\"dev\",\"user\":\"alice\"}");
	ta_expect(f, 400, "at most one");
	ta_call(f, "PUT", "/api/v1/secrets/X", "{\"value\":\"\"}");
	ta_expect(f, 400, "field 'value'");
	ta_call(f, "PUT", "/api/v1/secrets/X", "{\"value\":7}");
	ta_expect(f, 400, "field 'value'");
	ta_call(f, "PUT", "/api/v1/secrets/X",
	        "{\"value\":\"v\",\"user\":\"zed\"}");
	ta_expect(f, 404, "no user named 'zed'");
	/* A malformed body is not quoted back: it may hold the value. */
	(void)snprintf(body, sizeof(body), "{\"value\":\"%s", values[4]);
	ta_call(f, "PUT", "/api/v1/secrets/X", body);
	ta_expect(f, 400, "body");
	(void)snprintf(body, sizeof(body), "{\"value\":\"%s\" x}", values[4]);
	ta_call(f, "PUT", "/api/v1/secrets/X", body);
	ta_expect(f, 400, "body");
	(void)snprintf(body, sizeof(body), "{\"value\":%s}", values[4]);
	ta_call(f, "PUT", "/api/v1/secrets/X", body);
	ta_expect(f, 400, "body");
	{
		/* Just over 64 KiB. */
		size_t n = TA_VALUE_MAX + 1;
		char *big = malloc(n + 32);

		assert_non_null(big);
		memcpy(big, "{\"value\":\"", 10);
		memset(big + 10, 'a', n);
		memcpy(big + 10 + n, "\"}", 3);
		ta_call(f, "PUT", "/api/v1/secrets/X", big);
		ta_expect(f, 400, "field 'value'");
		big[10 + n - 1] = '"';
		big[10 + n] = '}';
		big[10 + n + 1] = '\0';
		assert_int_equal(ta_call(f, "PUT", "/api/v1/secrets/BIG", big),
		                 201);
		free(big);
	}

	assert_int_equal(ta_call(f, "GET", "/api/v1/secrets", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 4);
	for (i = 0; i < json_array_size(f->ans); i++) {
		v = json_array_get(f->ans, i);
		assert_true(ta_int(v, "id") > 0);
		assert_null(json_object_get(v, "value"));
		assert_null(json_object_get(v, "sealed"));
	}

	ta_call(f, "DELETE", "/api/v1/secrets/GITHUB_TOKEN?team=ops", NULL);
	ta_expect(f, 404, "no team named 'ops'");
	assert_int_equal(ta_call(f, "DELETE",
	                         "/api/v1/secrets/GITHUB_TOKEN?user=alice",
	                         NULL),
	                 200);
	assert_string_equal(ta_str(f->ans, "scope"), "user");
	ta_audit_last(f, "secret.remove", "GITHUB_TOKEN");
	ta_call(f, "DELETE", "/api/v1/secrets/GITHUB_TOKEN?user=alice", NULL);
	ta_expect(f, 404, "GITHUB_TOKEN");
	assert_int_equal(
	    ta_call(f, "DELETE", "/api/v1/secrets/GITHUB_TOKEN", NULL), 200);
	assert_string_equal(ta_str(f->ans, "scope"), "org");
	assert_int_equal(ta_call(f, "GET", "/api/v1/secrets", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit", NULL), 200);

	/* No answer, no audit row and no byte of the database file holds a
	 * value. */
	ta_audit(f, &l);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		size_t j;

		ta_absent("an answer", f->seen.data, f->seen.len, values[i]);
		for (j = 0; j < l.n; j++) {
			ta_absent("an audit row", l.v[j].target,
			          strlen(l.v[j].target), values[i]);
			if (l.v[j].details != NULL)
				ta_absent("an audit row", l.v[j].details,
				          strlen(l.v[j].details), values[i]);
		}
	}
	store_audit_list_free(&l);
	store_close(f->st);
	f->st = NULL;
	db = tu_read(f->path, &len);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ta_absent("the database", db, len, values[i]);
	free(db);
	assert_int_equal(store_open("sqlite", f->path, &f->st, &d), 0);
}

/* ---- Enrollment tokens ---- */

static void test_api_tokens(void **state)
{
	struct ta *f = *state;
	char hash[CRYPTO_HEX_LEN + 1], tok[TOKEN_MAX + 1], path[64];
	char prefix[TOKEN_LINK_MAX];
	struct token_link_parts parts;
	struct store_token t;
	struct store_audit_list l;
	struct diag d;
	json_int_t id;
	size_t i;

	ta_seed(f);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"alice\"}"), 201);
	id = ta_int(f->ans, "id");
	assert_string_equal(ta_str(f->ans, "user"), "alice");
	assert_int_equal(ta_int(f->ans, "expires_at"), TA_NOW + 86400);
	assert_int_equal(ta_int(f->ans, "uses_left"), 1);
	assert_true(json_is_false(json_object_get(f->ans, "revoked")));
	assert_string_equal(ta_str(f->ans, "created_by"), "admin:test");
	(void)snprintf(tok, sizeof(tok), "%s", ta_str(f->ans, "token"));
	assert_int_equal(strlen(tok), TOKEN_LEN);
	(void)snprintf(prefix, sizeof(prefix),
	               "mcpfleet://fleet.example:7444/enroll/%s#ca=%s", tok,
	               TA_PIN);
	assert_string_equal(ta_str(f->ans, "link"), prefix);
	assert_int_equal(token_link_parse(ta_str(f->ans, "link"), &parts, &d),
	                 0);
	assert_string_equal(parts.token, tok);
	/* The store knows the token by its hash only. */
	assert_int_equal(token_hash(tok, hash), 0);
	assert_int_equal(store_token_get_by_hash(f->st, hash, &t, &d), 0);
	assert_int_equal(t.id, id);
	store_token_clear(&t);
	ta_audit_last(f, "token.create", "alice");
	assert_int_equal(f->h.changed, 1); /* the membership of ta_seed */

	assert_int_equal(ta_call(f, "POST", "/api/v1/tokens",
	                         "{\"user\":\"bob\",\"ttl\":2592000,"
	                         "\"uses\":1000}"),
	                 201);
	assert_int_equal(ta_int(f->ans, "expires_at"), TA_NOW + 2592000);
	assert_int_equal(ta_int(f->ans, "uses_left"), 1000);
	ta_call(f, "POST", "/api/v1/tokens",
	        "{\"user\":\"bob\",\"ttl\":2592001}");
	ta_expect(f, 400, "field 'ttl'");
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"bob\",\"ttl\":0}");
	ta_expect(f, 400, "field 'ttl'");
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"bob\",\"ttl\":-5}");
	ta_expect(f, 400, "field 'ttl'");
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"bob\",\"uses\":0}");
	ta_expect(f, 400, "field 'uses'");
	ta_call(f, "POST", "/api/v1/tokens",
	        "{\"user\":\"bob\",\"uses\":1001}");
	ta_expect(f, 400, "field 'uses'");
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"zed\"}");
	ta_expect(f, 404, "no user named 'zed'");

	/* Listed, never with the token. */
	assert_int_equal(ta_call(f, "GET", "/api/v1/tokens", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	for (i = 0; i < 2; i++) {
		assert_null(
		    json_object_get(json_array_get(f->ans, i), "token"));
		assert_null(json_object_get(json_array_get(f->ans, i), "link"));
	}
	assert_null(strstr(f->text, tok));
	ta_audit(f, &l);
	for (i = 0; i < l.n; i++)
		assert_true(l.v[i].details == NULL ||
		            strstr(l.v[i].details, tok) == NULL);
	store_audit_list_free(&l);

	(void)snprintf(path, sizeof(path),
	               "/api/v1/tokens/%" JSON_INTEGER_FORMAT, id);
	assert_int_equal(ta_call(f, "DELETE", path, NULL), 200);
	assert_true(json_is_true(json_object_get(f->ans, "revoked")));
	ta_audit_last(f, "token.revoke", "alice");
	ta_call(f, "DELETE", path, NULL);
	ta_expect(f, 409, "already revoked");
	ta_call(f, "DELETE", "/api/v1/tokens/999", NULL);
	ta_expect(f, 404, "999");
	ta_call(f, "DELETE", "/api/v1/tokens/abc", NULL);
	ta_expect(f, 400, "token id");
	assert_int_equal(f->h.changed, 1);
}

static void test_api_token_link_host(void **state)
{
	struct ta *f = *state;

	ta_seed(f);
	f->a.link_host = "fd00::1";
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"alice\"}"), 201);
	assert_non_null(
	    strstr(ta_str(f->ans, "link"), "mcpfleet://[fd00::1]:7444/"));
	f->a.link_host = NULL;
	ta_call(f, "POST", "/api/v1/tokens", "{\"user\":\"alice\"}");
	ta_expect(f, 500, "link");
	assert_int_equal(ta_call(f, "GET", "/api/v1/tokens", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 1);
}

/* ---- Devices ---- */

static void test_api_devices(void **state)
{
	struct ta *f = *state;
	struct diag d;
	json_t *v;
	int changed;

	ta_seed(f);
	ta_device(f, "dev-1", "alice", "0a");
	ta_device(f, "dev-2", "bob", "0b");
	assert_int_equal(store_device_touch(f->st, "dev-1", TA_NOW - 10, 3,
	                                    "{\"hosts\":{\"codex\":\"ok\"}}",
	                                    &d),
	                 0);

	assert_int_equal(ta_call(f, "GET", "/api/v1/devices", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_int_equal(f->h.extra, 2);
	v = json_array_get(f->ans, 0);
	assert_string_equal(ta_str(v, "id"), "dev-1");
	assert_string_equal(ta_str(v, "user"), "alice");
	assert_string_equal(ta_str(v, "hostname"), "laptop");
	assert_string_equal(ta_str(v, "os"), "linux");
	assert_string_equal(ta_str(v, "cert_serial"), "0a");
	assert_string_equal(ta_str(v, "cert_fingerprint"), TA_FP);
	assert_int_equal(ta_int(v, "enrolled_at"), TA_NOW);
	assert_int_equal(ta_int(v, "last_seen"), TA_NOW - 10);
	assert_int_equal(ta_int(v, "applied_revision"), 3);
	assert_string_equal(ta_str(v, "status"), "active");
	assert_true(json_is_null(json_object_get(v, "revoked_at")));
	assert_true(json_is_true(json_object_get(v, "connected")));
	assert_int_equal(ta_int(v, "connected_since"), TA_NOW - 5);
	assert_null(json_object_get(v, "report"));
	v = json_array_get(f->ans, 1);
	assert_true(json_is_null(json_object_get(v, "last_seen")));
	assert_true(json_is_false(json_object_get(v, "connected")));
	assert_true(json_is_null(json_object_get(v, "connected_since")));

	assert_int_equal(ta_call(f, "GET", "/api/v1/devices?user=bob", NULL),
	                 200);
	assert_int_equal(json_array_size(f->ans), 1);
	ta_call(f, "GET", "/api/v1/devices?user=zed", NULL);
	ta_expect(f, 404, "no user named 'zed'");

	assert_int_equal(ta_call(f, "GET", "/api/v1/devices/dev-1", NULL), 200);
	assert_string_equal(
	    ta_str(json_object_get(json_object_get(f->ans, "report"), "hosts"),
	           "codex"),
	    "ok");
	assert_true(json_is_null(json_object_get(f->ans, "omitted")));
	assert_int_equal(ta_call(f, "GET", "/api/v1/devices/dev-2", NULL), 200);
	assert_true(json_is_null(json_object_get(f->ans, "report")));
	ta_call(f, "GET", "/api/v1/devices/dev-7", NULL);
	ta_expect(f, 404, "dev-7");

	changed = f->h.changed;
	assert_int_equal(ta_call(f, "POST", "/api/v1/devices/dev-1/revoke",
	                         "{\"reason\":\"laptop lost\"}"),
	                 200);
	assert_string_equal(ta_str(f->ans, "status"), "revoked");
	assert_string_equal(ta_str(f->ans, "revoke_reason"), "laptop lost");
	assert_int_equal(ta_int(f->ans, "revoked_at"), TA_NOW);
	assert_int_equal(f->h.revoked_calls, 1);
	assert_int_equal(f->h.nrevoked, 1);
	assert_string_equal(f->h.revoked[0], "dev-1");
	assert_int_equal(f->h.changed, changed + 1);
	ta_audit_last(f, "device.revoke", "dev-1");

	ta_call(f, "POST", "/api/v1/devices/dev-1/revoke", NULL);
	ta_expect(f, 409, "already revoked");
	ta_call(f, "POST", "/api/v1/devices/dev-7/revoke", NULL);
	ta_expect(f, 404, "dev-7");
	assert_int_equal(f->h.revoked_calls, 1);
	assert_int_equal(f->h.changed, changed + 1);
	/* Without the hook the live facts are "not connected". */
	f->a.hooks.device_extra = NULL;
	assert_int_equal(ta_call(f, "GET", "/api/v1/devices/dev-2", NULL), 200);
	assert_true(json_is_false(json_object_get(f->ans, "connected")));
}

/* ---- Audit ---- */

static void test_api_audit(void **state)
{
	struct ta *f = *state;
	sqlite3 *db;
	json_t *row;
	int64_t i;

	ta_seed(f);
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 4);
	row = json_array_get(f->ans, 0);
	assert_int_equal(ta_int(row, "id"), 1);
	assert_int_equal(ta_int(row, "at"), TA_NOW);
	assert_string_equal(ta_str(row, "actor"), "admin:test");
	assert_string_equal(ta_str(row, "action"), "user.add");
	assert_string_equal(ta_str(row, "target"), "alice");
	assert_string_equal(ta_str(json_object_get(row, "details"), "email"),
	                    "a@x");
	assert_int_equal(strlen(ta_str(row, "hash")), 64);
	assert_string_equal(ta_str(row, "prev_hash"),
	                    "0000000000000000000000000000000000000000000000000"
	                    "000000000000000");
	/* A change without details of its own still names the actor's
	 * role. */
	assert_string_equal(
	    ta_str(json_object_get(json_array_get(f->ans, 1), "details"),
	           "actor_role"),
	    "owner");
	assert_int_equal(json_object_size(json_object_get(
	                     json_array_get(f->ans, 1), "details")),
	                 1);

	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?after=1&limit=2", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_int_equal(ta_int(json_array_get(f->ans, 0), "id"), 2);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?since=1700000001", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 0);
	ta_call(f, "GET", "/api/v1/audit?limit=0", NULL);
	ta_expect(f, 400, "limit");
	ta_call(f, "GET", "/api/v1/audit?limit=10001", NULL);
	ta_expect(f, 400, "limit");
	ta_call(f, "GET", "/api/v1/audit?since=yesterday", NULL);
	ta_expect(f, 400, "since");
	/* Newest first, paged with before; filtered by action and actor. */
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?order=newest&limit=2", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_int_equal(ta_int(json_array_get(f->ans, 0), "id"), 4);
	assert_int_equal(ta_int(json_array_get(f->ans, 1), "id"), 3);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?order=newest&before=3", NULL),
	    200);
	assert_int_equal(json_array_size(f->ans), 2);
	assert_int_equal(ta_int(json_array_get(f->ans, 0), "id"), 2);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?action=user.add", NULL), 200);
	assert_true(json_array_size(f->ans) >= 1 &&
	            json_array_size(f->ans) < 4);
	assert_string_equal(ta_str(json_array_get(f->ans, 0), "target"),
	                    "alice");
	for (i = 0; i < (int64_t)json_array_size(f->ans); i++)
		assert_string_equal(
		    ta_str(json_array_get(f->ans, (size_t)i), "action"),
		    "user.add");
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit?action=user.", NULL),
	                 200);
	assert_true(json_array_size(f->ans) >= 1);
	for (i = 0; i < (int64_t)json_array_size(f->ans); i++)
		assert_int_equal(
		    strncmp(ta_str(json_array_get(f->ans, (size_t)i), "action"),
		            "user.", 5),
		    0);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?actor=test&action=", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 4);
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit?actor=nobody", NULL),
	                 200);
	assert_int_equal(json_array_size(f->ans), 0);
	assert_int_equal(
	    ta_call(f, "GET", "/api/v1/audit?until=1700000000", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 0);
	ta_call(f, "GET", "/api/v1/audit?order=sideways", NULL);
	ta_expect(f, 400, "'order' must be oldest or newest");
	ta_call(f, "GET", "/api/v1/audit?before=-1", NULL);
	ta_expect(f, 400, "before");

	assert_int_equal(ta_call(f, "GET", "/api/v1/audit/verify", NULL), 200);
	assert_true(json_is_true(json_object_get(f->ans, "ok")));
	assert_int_equal(ta_int(f->ans, "rows"), 4);

	/* Someone edits row 3 behind the store's back. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "DROP TRIGGER audit_no_update;"
	                              "UPDATE audit SET target = 'mallory' "
	                              "WHERE id = 3;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	ta_call(f, "GET", "/api/v1/audit/verify", NULL);
	ta_expect(f, 409, "row 3");
	assert_true(json_is_false(json_object_get(f->ans, "ok")));
	i = ta_int(f->ans, "first_bad_id");
	assert_int_equal(i, 3);
}

/* GET audit/checkpoint signs the verified head; POST audit/verify checks a
 * checkpoint's signature against the server's key and the chain against
 * it. */
/* GET calls?QUERY (printf-style) must answer 200 with the calls of these
 * seqs, in this order ("3,4"; "" for none). */
static void ta_calls_expect(struct ta *f, const char *seqs, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));
static void ta_calls_expect(struct ta *f, const char *seqs, const char *fmt,
                            ...)
{
	char url[256], got[256] = "";
	size_t i, len = 0;
	va_list ap;
	int n;

	n = snprintf(url, sizeof(url), "/api/v1/calls?");
	va_start(ap, fmt);
	(void)vsnprintf(url + n, sizeof(url) - (size_t)n, fmt, ap);
	va_end(ap);
	assert_int_equal(ta_call(f, "GET", url, NULL), 200);
	for (i = 0; i < json_array_size(f->ans) && len < sizeof(got); i++)
		len += (size_t)snprintf(
		    got + len, sizeof(got) - len, "%s%lld", i ? "," : "",
		    (long long)ta_int(json_array_get(f->ans, i), "seq"));
	assert_string_equal(got, seqs);
}

/* GET calls: newest first paging on with before, order=oldest oldest
 * first paging on with after, the filters in either order, and the audit
 * list's 400s for a bad order or cursor. */
static void test_api_calls_order(void **state)
{
	struct ta *f = *state;
	long long ids[5];
	struct diag d;
	size_t i;

	ta_seed(f);
	ta_device(f, "dev-1", "alice", "0a");
	for (i = 0; i < 5; i++) {
		struct store_call call = {
		    .seq = i + 1,
		    .at_ms = 1000 * (int64_t)(i + 1),
		    .server = (char *)(uintptr_t) "gh",
		    .method = (char *)(uintptr_t) "tools/call",
		    .name = (char *)(uintptr_t)(i == 3 ? "other" : "search"),
		    .outcome = STORE_CALL_OK,
		};

		assert_int_equal(store_calls_insert(f->st, "dev-1", &call, 1,
		                                    NULL, NULL, &d),
		                 0);
	}
	ta_calls_expect(f, "5,4,3,2,1", "limit=10");
	for (i = 0; i < 5; i++)
		ids[i] = ta_int(json_array_get(f->ans, 4 - i), "id");
	/* Newest first, the default spelled out, on with before. */
	ta_calls_expect(f, "5,4", "order=newest&limit=2");
	ta_calls_expect(f, "3,2", "order=newest&limit=2&before=%lld", ids[3]);
	/* Oldest first, on from the last id with after. */
	ta_calls_expect(f, "1,2", "order=oldest&limit=2");
	ta_calls_expect(f, "3,4", "order=oldest&limit=2&after=%lld", ids[1]);
	ta_calls_expect(f, "5", "order=oldest&limit=2&after=%lld", ids[3]);
	ta_calls_expect(f, "", "order=oldest&after=%lld", ids[4]);
	/* The filters hold in this order too; both cursors bound a window. */
	ta_calls_expect(f, "3,5", "order=oldest&tool=search&after=%lld",
	                ids[1]);
	ta_calls_expect(f, "3,4", "order=oldest&since=3&until=5");
	ta_calls_expect(f, "2,3,4", "order=oldest&after=%lld&before=%lld",
	                ids[0], ids[4]);

	ta_call(f, "GET", "/api/v1/calls?order=sideways", NULL);
	ta_expect(f, 400, "'order' must be oldest or newest");
	ta_call(f, "GET", "/api/v1/calls?after=-1", NULL);
	ta_expect(f, 400, "after");
	ta_call(f, "GET", "/api/v1/calls?order=oldest&order=newest", NULL);
	ta_expect(f, 400, "given twice");
}

static void test_api_audit_checkpoint(void **state)
{
	static const uint8_t key[STORE_AUDIT_KEY_LEN] = {1, 2, 3};
	struct ta *f = *state;
	struct crypto_key *signer = NULL;
	char id[CRYPTO_HEX_LEN + 1], *pem = NULL, *body;
	json_t *cp, *req;
	struct diag d;
	sqlite3 *db;

	diag_clear(&d);
	ta_call(f, "GET", "/api/v1/audit/checkpoint", NULL);
	ta_expect(f, 500, "no signing key");
	assert_int_equal(crypto_key_generate(f->rng, &signer, &d), 0);
	assert_int_equal(crypto_key_write_public(signer, &pem, NULL, &d), 0);
	assert_int_equal(crypto_key_id(signer, id), 0);
	f->a.signer = signer;
	f->a.signer_pub_pem = pem;
	f->a.signer_key_id = id;
	assert_int_equal(store_audit_key(f->st, key, 1, &d), 0);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users", "{\"name\":\"alice\"}"), 201);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users", "{\"name\":\"bob\"}"), 201);
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit/verify", NULL), 200);
	assert_int_equal(ta_int(f->ans, "keyed_from"), 1);

	assert_int_equal(ta_call(f, "GET", "/api/v1/audit/checkpoint", NULL),
	                 200);
	assert_string_equal(
	    json_string_value(json_object_get(f->ans, "format")),
	    "mcpfleet-audit-checkpoint-v1");
	assert_int_equal(ta_int(f->ans, "rows"), 2);
	assert_int_equal(ta_int(f->ans, "last_id"), 2);
	assert_int_equal(ta_int(f->ans, "at"), TA_NOW);
	assert_string_equal(
	    json_string_value(json_object_get(f->ans, "signer_key_id")), id);
	cp = json_incref(f->ans);
	/* Taking one changes nothing. */
	assert_int_equal(ta_audit_count(f), 2);

	req = json_pack("{s:O}", "checkpoint", cp);
	body = json_dumps(req, JSON_COMPACT);
	assert_int_equal(ta_call(f, "POST", "/api/v1/audit/verify", body), 200);
	assert_true(json_is_true(json_object_get(f->ans, "ok")));
	assert_int_equal(ta_int(f->ans, "rows"), 2);
	free(body);

	/* Altered after signing: refused, naming the signature. */
	json_decref(req);
	req = json_pack("{s:o}", "checkpoint", json_deep_copy(cp));
	json_object_set_new(json_object_get(req, "checkpoint"), "head_at",
	                    json_integer(1));
	body = json_dumps(req, JSON_COMPACT);
	ta_call(f, "POST", "/api/v1/audit/verify", body);
	ta_expect(f, 409, "bad signature");
	assert_true(json_is_false(json_object_get(f->ans, "ok")));
	free(body);
	json_decref(req);

	/* Malformed: 400 naming the member. */
	ta_call(f, "POST", "/api/v1/audit/verify", "{\"checkpoint\": {}}");
	ta_expect(f, 400, "'format' is missing");
	ta_call(f, "POST", "/api/v1/audit/verify", "{}");
	ta_expect(f, 400, "checkpoint");

	/* The row it counted, edited under it: 409 with the row. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "DROP TRIGGER audit_no_update;"
	                              "UPDATE audit SET target = 'x' "
	                              "WHERE id = 2;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	req = json_pack("{s:O}", "checkpoint", cp);
	body = json_dumps(req, JSON_COMPACT);
	ta_call(f, "POST", "/api/v1/audit/verify", body);
	ta_expect(f, 409, "audit row 2");
	assert_int_equal(ta_int(f->ans, "first_bad_id"), 2);
	free(body);
	/* A broken chain is never signed. */
	ta_call(f, "GET", "/api/v1/audit/checkpoint", NULL);
	ta_expect(f, 409, "audit row 2");

	/* A server with another key refuses it, naming both keys. */
	f->a.signer_key_id = "0000000000000000000000000000000000000000000000"
	                     "000000000000000000";
	ta_call(f, "POST", "/api/v1/audit/verify", body = json_dumps(req, 0));
	ta_expect(f, 409, "not by the server's signing key");
	free(body);
	json_decref(req);
	json_decref(cp);
	f->a.signer = NULL;
	crypto_key_free(signer);
	free(pem);
}

/* ---- Admin tokens ---- */

static void test_api_admin_tokens(void **state)
{
	struct ta *f = *state;
	char auth[TOKEN_MAX + 16], path[64];
	json_int_t id;

	assert_int_equal(ta_call(f, "POST", "/api/v1/admin-tokens",
	                         "{\"name\":\"ci\",\"role\":\"owner\"}"),
	                 201);
	id = ta_int(f->ans, "id");
	assert_string_equal(ta_str(f->ans, "name"), "ci");
	assert_string_equal(ta_str(f->ans, "role"), "owner");
	assert_true(json_is_false(json_object_get(f->ans, "revoked")));
	(void)snprintf(auth, sizeof(auth), "Bearer %s",
	               ta_str(f->ans, "token"));
	ta_audit_last(f, "admin-token.create", "ci");
	ta_call(f, "POST", "/api/v1/admin-tokens", "{}");
	ta_expect(f, 400, "field 'name' is missing");
	/* An unknown role is refused by name; none is admin. */
	ta_call(f, "POST", "/api/v1/admin-tokens",
	        "{\"name\":\"x\",\"role\":\"superuser\"}");
	ta_expect(f, 400, "unknown role 'superuser'");
	ta_call(f, "POST", "/api/v1/admin-tokens",
	        "{\"name\":\"x\",\"role\":\"Owner\"}");
	ta_expect(f, 400, "unknown role 'Owner'");
	ta_call(f, "POST", "/api/v1/admin-tokens",
	        "{\"name\":\"x\",\"role\":7}");
	ta_expect(f, 400, "role");
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/admin-tokens", "{\"name\":\"plain\"}"),
	    201);
	assert_string_equal(ta_str(f->ans, "role"), "admin");
	{
		struct store_audit_list l;

		ta_audit(f, &l);
		assert_string_equal(l.v[l.n - 1].action, "admin-token.create");
		assert_non_null(
		    strstr(l.v[l.n - 1].details, "\"role\":\"admin\""));
		assert_non_null(
		    strstr(l.v[l.n - 1].details, "\"actor_role\":\"owner\""));
		store_audit_list_free(&l);
	}

	/* The new token works, and its rows name it. */
	assert_int_equal(ta_call_as(f, auth, "POST", "/api/v1/users",
	                            "{\"name\":\"carol\"}"),
	                 201);
	{
		struct store_audit_list l;

		ta_audit(f, &l);
		assert_string_equal(l.v[l.n - 1].actor, "admin:ci");
		store_audit_list_free(&l);
	}
	assert_int_equal(ta_call(f, "GET", "/api/v1/admin-tokens", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 3);
	assert_string_equal(ta_str(json_array_get(f->ans, 0), "role"), "owner");
	assert_string_equal(ta_str(json_array_get(f->ans, 2), "role"), "admin");
	assert_null(strstr(f->text, "token\""));
	assert_null(strstr(f->text, "hash"));

	(void)snprintf(path, sizeof(path),
	               "/api/v1/admin-tokens/%" JSON_INTEGER_FORMAT, id);
	ta_call_as(f, auth, "DELETE", path, NULL);
	ta_expect(f, 409, "itself");
	assert_int_equal(ta_call(f, "DELETE", path, NULL), 200);
	assert_true(json_is_true(json_object_get(f->ans, "revoked")));
	ta_audit_last(f, "admin-token.revoke", "ci");
	ta_call(f, "DELETE", path, NULL);
	ta_expect(f, 409, "already revoked");
	ta_call(f, "DELETE", "/api/v1/admin-tokens/77", NULL);
	ta_expect(f, 404, "77");
	ta_call_as(f, auth, "GET", "/api/v1/users", NULL);
	ta_expect(f, 401, "revoked");
	assert_int_equal(f->h.changed, 0);
}

/* ---- Roles ---- */

/* An admin token of each role, made in the store: its Authorization
 * header. */
struct ta_roles {
	char auth[ROLE_COUNT_][64];
	char tok[ROLE_COUNT_][48];
};

static void ta_role_tokens(struct ta *f, struct ta_roles *rt)
{
	char hash[CRYPTO_HEX_LEN + 1];
	struct diag d;
	int r;

	for (r = 0; r < ROLE_COUNT_; r++) {
		(void)snprintf(rt->tok[r], sizeof(rt->tok[r]),
		               "role-token-%s-0123456789", role_name(r));
		(void)snprintf(rt->auth[r], sizeof(rt->auth[r]), "Bearer %s",
		               rt->tok[r]);
		assert_int_equal(token_hash(rt->tok[r], hash), 0);
		if (store_admin_token_add(f->st, role_name(r), (enum role)r,
		                          hash, NULL, &d) != 0)
			fail_msg("admin token %s: %s", role_name(r), d.msg);
	}
}

/* The number of access.refused rows. */
static size_t ta_refusals(struct ta *f)
{
	struct store_audit_list l;
	size_t i, n = 0;

	ta_audit(f, &l);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.v[i].action, "access.refused") == 0)
			n++;
	store_audit_list_free(&l);
	return n;
}

/* Every route declares its roles: never none, always the owner, never
 * scim (which /api/v1/ refuses), and what it does for the message. */
static void test_api_roles_table(void **state)
{
	struct api_route_info ri;
	size_t i, n = api_route_count();

	(void)state;
	assert_true(n >= 40);
	for (i = 0; i < n; i++) {
		assert_int_equal(api_route_get(i, &ri), 0);
		if (ri.roles == 0 || (ri.roles & ~(unsigned)ROLE_SET_ALL) != 0)
			fail_msg("%s %s: roles 0x%x", ri.method, ri.pattern,
			         ri.roles);
		assert_true(role_may(ri.roles, ROLE_OWNER));
		assert_false(role_may(ri.roles, ROLE_SCIM));
		assert_non_null(ri.what);
		assert_true(strlen(ri.what) > 4);
		/* The auditor changes nothing: it may call GETs and the
		 * verification of a checkpoint, and the console's session. */
		if (role_may(ri.roles, ROLE_AUDITOR) &&
		    strcmp(ri.method, "GET") != 0 &&
		    strcmp(ri.pattern, "audit/verify") != 0 &&
		    strcmp(ri.pattern, "session") != 0)
			fail_msg("auditor may call %s %s", ri.method,
			         ri.pattern);
		/* Only the owner manages admin tokens. */
		if (strncmp(ri.pattern, "admin-tokens", 12) == 0 &&
		    strcmp(ri.method, "GET") != 0)
			assert_int_equal(ri.roles, ROLE_SET_OWNER);
	}
	assert_int_equal(api_route_get(n, &ri), -ERR_NOENT);
}

/* The set named in server/API.md's "roles" column. */
static unsigned ta_doc_set(const char *cell, size_t n)
{
	static const struct {
		const char *name;
		unsigned set;
	} sets[] = {
	    {"read", ROLE_SET_READ},   {"helpdesk", ROLE_SET_HELPDESK},
	    {"audit", ROLE_SET_AUDIT}, {"admin", ROLE_SET_ADMIN},
	    {"owner", ROLE_SET_OWNER},
	};
	size_t i, len;

	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		len = strlen(sets[i].name);
		if (n >= len && strncmp(cell, sets[i].name, len) == 0 &&
		    (n == len || cell[len] == ' '))
			return sets[i].set;
	}
	return 0;
}

/* server/API.md gives every route of the table, with the roles it takes:
 * "| `METHOD /api/v1/PATH` | ... | SET |", PATH's {name} being a "*". */
static void test_api_roles_documented(void **state)
{
	struct api_route_info ri;
	char *doc = tu_read_data("../server/API.md", NULL);
	char want[128];
	size_t i;

	(void)state;
	for (i = 0; i < api_route_count(); i++) {
		const char *line, *p, *end, *cell;
		bool found = false;
		size_t k;

		assert_int_equal(api_route_get(i, &ri), 0);
		(void)snprintf(want, sizeof(want), "| `%s /api/v1/", ri.method);
		for (line = doc; !found && (line = strstr(line, want)) != NULL;
		     line++) {
			/* The path, "{...}" against "*", up to "`" or "?". */
			p = line + strlen(want);
			for (k = 0; ri.pattern[k] != '\0'; k++) {
				if (ri.pattern[k] == '*' && *p == '{') {
					p = strchr(p, '}');
					if (p == NULL)
						break;
					p++;
				} else if (*p == ri.pattern[k]) {
					p++;
				} else {
					break;
				}
			}
			if (ri.pattern[k] != '\0' || (*p != '`' && *p != '?'))
				continue;
			found = true;
			end = strchr(line, '\n');
			assert_non_null(end);
			/* The last cell: between the last two '|'. */
			p = end - 1;
			while (p > line && *p != '|')
				p--;
			end = p;
			cell = p - 1;
			while (cell > line && *cell != '|')
				cell--;
			cell++;
			while (*cell == ' ')
				cell++;
			if (ta_doc_set(cell, (size_t)(end - cell)) != ri.roles)
				fail_msg("API.md: %s %s: roles '%.*s' are not "
				         "the table's 0x%x",
				         ri.method, ri.pattern,
				         (int)(end - cell), cell, ri.roles);
		}
		if (!found)
			fail_msg("API.md does not list %s %s", ri.method,
			         ri.pattern);
	}
	free(doc);
}

/*
 * Every route, called by a token of every role: a role the route does not
 * declare gets 403 naming what the route needs and what the caller has,
 * and an audit row; a role it declares gets past the check (whatever the
 * handler then answers to the placeholder path and empty body).
 */
static void test_api_roles_matrix(void **state)
{
	struct ta *f = *state;
	struct api_route_info ri;
	struct ta_roles rt;
	char path[256], want[256], roles[64], *p;
	const char *q;
	size_t i, before;
	int r;

	ta_role_tokens(f, &rt);
	for (i = 0; i < api_route_count(); i++) {
		assert_int_equal(api_route_get(i, &ri), 0);
		/* Signing in carries no credentials: tested below. */
		if (strcmp(ri.method, "POST") == 0 &&
		    strcmp(ri.pattern, "session") == 0)
			continue;
		p = path + snprintf(path, sizeof(path), "/api/v1/");
		for (q = ri.pattern; *q != '\0'; q++)
			p += *q == '*' ? snprintf(p, 16, "none-77")
			               : snprintf(p, 2, "%c", *q);
		for (r = 0; r < ROLE_COUNT_; r++) {
			const char *body =
			    strcmp(ri.method, "GET") == 0 ||
			            strcmp(ri.method, "DELETE") == 0
			        ? NULL
			        : "{}";

			before = ta_refusals(f);
			ta_call_as(f, rt.auth[r], ri.method, path, body);
			if (role_may(ri.roles, (enum role)r)) {
				if (f->status == 403 ||
				    strstr(f->text, "needs role") != NULL)
					fail_msg("%s %s as %s: %s", ri.method,
					         path, role_name(r), f->text);
				assert_int_equal(ta_refusals(f), before);
				continue;
			}
			assert_int_equal(
			    role_set_text(ri.roles, roles, sizeof(roles)), 0);
			(void)snprintf(want, sizeof(want),
			               "%s needs role %s; token '%s' has role "
			               "%s",
			               ri.what, roles, role_name(r),
			               role_name(r));
			if (f->status != 403 ||
			    strcmp(ta_str(f->ans, "error"), want) != 0)
				fail_msg("%s %s as %s: %d %s (want '%s')",
				         ri.method, path, role_name(r),
				         f->status, f->text, want);
			assert_int_equal(ta_refusals(f), before + 1);
		}
	}
	/* The wording of one, as users read it. */
	ta_call_as(f, rt.auth[ROLE_HELPDESK], "POST", "/api/v1/servers",
	           "{\"name\":\"github\",\"entry\":{}}");
	ta_expect(f, 403, NULL);
	assert_string_equal(ta_str(f->ans, "error"),
	                    "adding a server needs role admin or owner; token "
	                    "'helpdesk' has role helpdesk");
	/* Signing in: every role but scim opens a console. */
	for (r = 0; r < ROLE_COUNT_; r++) {
		struct ta_console con;

		if (r == ROLE_SCIM) {
			ta_login(f, rt.tok[r], NULL, &con);
			ta_expect(f, 403,
			          "signing in to the console needs role "
			          "auditor, helpdesk, admin or owner; "
			          "token 'scim' has role scim");
			assert_string_equal(f->set_cookie, "");
			continue;
		}
		assert_int_equal(ta_login(f, rt.tok[r], NULL, &con), 201);
		assert_string_equal(ta_str(f->ans, "role"), role_name(r));
		assert_int_equal(
		    ta_console_call(f, &con, "GET", "/api/v1/session", NULL),
		    200);
		assert_string_equal(ta_str(f->ans, "role"), role_name(r));
	}
	assert_int_equal(f->h.changed, 0);
}

/* A refusal's audit row: the caller, the route, the role it has and the
 * roles it needs, in its own transaction (nothing else of the call
 * stays). */
static void test_api_roles_refusal_audited(void **state)
{
	struct ta *f = *state;
	struct store_audit_list l;
	struct ta_roles rt;
	struct ta_console con;
	size_t rows;
	json_t *det;

	ta_role_tokens(f, &rt);
	rows = ta_audit_count(f);
	ta_call_as(f, rt.auth[ROLE_AUDITOR], "POST", "/api/v1/users",
	           "{\"name\":\"mallory\"}");
	ta_expect(f, 403,
	          "adding a user needs role helpdesk, admin or owner; "
	          "token 'auditor' has role auditor");
	ta_audit(f, &l);
	assert_int_equal(l.n, rows + 1);
	assert_string_equal(l.v[l.n - 1].actor, "admin:auditor");
	assert_string_equal(l.v[l.n - 1].action, "access.refused");
	assert_string_equal(l.v[l.n - 1].target, "POST users");
	det = json_loads(l.v[l.n - 1].details, 0, NULL);
	assert_non_null(det);
	assert_string_equal(ta_str(det, "actor_role"), "auditor");
	assert_string_equal(ta_str(det, "needs"), "helpdesk, admin or owner");
	assert_string_equal(ta_str(det, "path"), "/api/v1/users");
	json_decref(det);
	store_audit_list_free(&l);
	ta_call(f, "GET", "/api/v1/users/mallory", NULL);
	ta_expect(f, 404, NULL);
	/* The chain still verifies with the refusal in it. */
	assert_int_equal(ta_call(f, "GET", "/api/v1/audit/verify", NULL), 200);

	/* In the console: a helpdesk session cannot add a server; the row
	 * names the console. A change it may make records its role. */
	assert_int_equal(ta_login(f, rt.tok[ROLE_HELPDESK], NULL, &con), 201);
	/* The session says what its role may do, by the console's names. */
	{
		static const char *const sets[] = {"read", "helpdesk", "audit",
		                                   "admin", "owner"};
		const json_t *may = json_object_get(f->ans, "may");

		for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++)
			assert_true(
			    json_is_boolean(json_object_get(may, sets[k])));
		assert_true(json_is_true(json_object_get(may, "read")));
		assert_true(json_is_true(json_object_get(may, "helpdesk")));
		assert_true(json_is_false(json_object_get(may, "audit")));
		assert_true(json_is_false(json_object_get(may, "admin")));
		assert_true(json_is_false(json_object_get(may, "owner")));
	}
	ta_console_call(f, &con, "POST", "/api/v1/servers",
	                "{\"name\":\"github\",\"entry\":{}}");
	ta_expect(f, 403,
	          "adding a server needs role admin or owner; token "
	          "'helpdesk' has role helpdesk");
	ta_audit_actor(f, "admin:helpdesk (console)", "access.refused");
	assert_int_equal(ta_console_call(f, &con, "POST", "/api/v1/users",
	                                 "{\"name\":\"dana\"}"),
	                 201);
	ta_audit(f, &l);
	assert_string_equal(l.v[l.n - 1].action, "user.add");
	assert_non_null(
	    strstr(l.v[l.n - 1].details, "\"actor_role\":\"helpdesk\""));
	store_audit_list_free(&l);
}

/* A flood of refusals writes a bounded number of rows per token: past the
 * limit they are refused all the same, without a row, and the limit
 * refills with time. */
static void test_api_roles_refusals_bounded(void **state)
{
	struct ta *f = *state;
	struct ta_roles rt;
	size_t before;
	int i;

	ta_role_tokens(f, &rt);
	assert_int_equal(enroll_limiter_new(3, &f->a.refusals), 0);
	before = ta_refusals(f);
	for (i = 0; i < 10; i++) {
		ta_call_as(f, rt.auth[ROLE_AUDITOR], "DELETE",
		           "/api/v1/teams/dev", NULL);
		ta_expect(f, 403, "removing a team needs role admin or owner");
	}
	assert_int_equal(ta_refusals(f), before + 3);
	/* Another token has a limit of its own. */
	ta_call_as(f, rt.auth[ROLE_HELPDESK], "DELETE", "/api/v1/teams/dev",
	           NULL);
	ta_expect(f, 403, NULL);
	assert_int_equal(ta_refusals(f), before + 4);
	store_set_now(f->st, TA_NOW + 60);
	ta_call_as(f, rt.auth[ROLE_AUDITOR], "DELETE", "/api/v1/teams/dev",
	           NULL);
	ta_expect(f, 403, NULL);
	assert_int_equal(ta_refusals(f), before + 5);
}

/* The role is the token's as the store has it now, read on every request,
 * for a bearer token and a console session alike. */
static void test_api_roles_follow_token(void **state)
{
	struct ta *f = *state;
	struct ta_roles rt;
	struct ta_console con;
	sqlite3 *db;

	ta_role_tokens(f, &rt);
	assert_int_equal(ta_login(f, rt.tok[ROLE_ADMIN], NULL, &con), 201);
	assert_int_equal(ta_console_call(f, &con, "POST", "/api/v1/teams",
	                                 "{\"name\":\"ops\"}"),
	                 201);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "UPDATE admin_tokens SET role = "
	                              "'auditor' WHERE name = 'admin'",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	ta_console_call(f, &con, "POST", "/api/v1/teams", "{\"name\":\"qa\"}");
	ta_expect(f, 403, "token 'admin' has role auditor");
	assert_int_equal(
	    ta_console_call(f, &con, "GET", "/api/v1/session", NULL), 200);
	assert_string_equal(ta_str(f->ans, "role"), "auditor");
	ta_call_as(f, rt.auth[ROLE_ADMIN], "DELETE", "/api/v1/teams/ops", NULL);
	ta_expect(f, 403, "removing a team needs role admin or owner");
	/* The owner's token alone makes admin tokens. */
	ta_call_as(f, rt.auth[ROLE_AUDITOR], "POST", "/api/v1/admin-tokens",
	           "{\"name\":\"more\",\"role\":\"owner\"}");
	ta_expect(f, 403, "creating an admin token needs role owner");
	ta_call_as(f, rt.auth[ROLE_HELPDESK], "GET", "/api/v1/audit", NULL);
	ta_expect(f, 403,
	          "reading the audit log needs role auditor, admin or "
	          "owner");
	/* The scim token may call nothing here, whatever the path. */
	ta_call_as(f, rt.auth[ROLE_SCIM], "GET", "/api/v1/status", NULL);
	ta_expect(f, 403, "token 'scim' has role scim");
}

/* ---- Status ---- */

static void test_api_status(void **state)
{
	struct ta *f = *state;
	struct diag d;
	int64_t rev;
	json_t *dev;

	assert_int_equal(ta_call(f, "GET", "/api/v1/status", NULL), 200);
	assert_int_equal(ta_int(f->ans, "revision"), 0);
	ta_seed(f);
	ta_device(f, "dev-1", "alice", "0a");
	ta_device(f, "dev-2", "alice", "0b");
	ta_device(f, "dev-3", "bob", "0c");
	assert_int_equal(store_device_revoke(f->st, "dev-3", NULL, &d), 0);
	assert_int_equal(store_revision_bump(f->st, &rev, &d), 0);
	assert_int_equal(store_revision_bump(f->st, &rev, &d), 0);
	f->h.connected = 1;
	assert_int_equal(ta_call(f, "GET", "/api/v1/status", NULL), 200);
	assert_int_equal(ta_int(f->ans, "revision"), 2);
	dev = json_object_get(f->ans, "devices");
	assert_int_equal(ta_int(dev, "active"), 2);
	assert_int_equal(ta_int(dev, "revoked"), 1);
	assert_int_equal(ta_int(dev, "connected"), 1);
	assert_string_equal(ta_str(f->ans, "version"), "0.1.0");
	/* No replica set known: an empty list, no replica. */
	assert_int_equal(json_array_size(json_object_get(f->ans, "replicas")),
	                 0);
	assert_true(json_is_null(json_object_get(f->ans, "replica")));
	f->a.hooks.connected_count = NULL;
	assert_int_equal(ta_call(f, "GET", "/api/v1/status", NULL), 200);
	assert_int_equal(
	    ta_int(json_object_get(f->ans, "devices"), "connected"), 0);
	/* The replica set, and which one answers. */
	{
		static const char *const reps[] = {"a.example:7443",
		                                   "b.example:7443"};

		f->a.replicas = reps;
		f->a.nreplicas = 2;
		f->a.replica = reps[1];
		assert_int_equal(ta_call(f, "GET", "/api/v1/status", NULL),
		                 200);
		assert_string_equal(ta_str(f->ans, "replica"),
		                    "b.example:7443");
		assert_int_equal(
		    json_array_size(json_object_get(f->ans, "replicas")), 2);
		assert_string_equal(
		    json_string_value(
		        json_array_get(json_object_get(f->ans, "replicas"), 0)),
		    "a.example:7443");
		f->a.replicas = NULL;
		f->a.nreplicas = 0;
		f->a.replica = NULL;
	}
}

/* ---- Atomicity ---- */

/* A change whose audit row cannot be written is not made: the mutation
 * and its row are one transaction. */
static void test_api_audit_failure_rolls_back(void **state)
{
	struct ta *f = *state;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TRIGGER no_rows BEFORE INSERT "
	                              "ON audit BEGIN SELECT RAISE(ABORT, "
	                              "'disk on fire'); END;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	ta_call(f, "POST", "/api/v1/users", "{\"name\":\"alice\"}");
	ta_expect(f, 500, "store failure");
	ta_call(f, "POST", "/api/v1/teams", "{\"name\":\"dev\"}");
	ta_expect(f, 500, NULL);
	assert_int_equal(f->h.changed, 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "DROP TRIGGER no_rows;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ta_call(f, "GET", "/api/v1/users", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 0);
	assert_int_equal(ta_call(f, "GET", "/api/v1/teams", NULL), 200);
	assert_int_equal(json_array_size(f->ans), 0);
	assert_int_equal(
	    ta_call(f, "POST", "/api/v1/users", "{\"name\":\"alice\"}"), 201);
}

/* ---- Events ---- */

static int ta_hook_stream(void *arg, const struct net_request *req,
                          struct net_response *resp, const struct api_stream *s)
{
	struct ta *f = arg;

	(void)req;
	f->h.streams++;
	f->h.stream_role = s->role;
	f->h.stream_until = s->until;
	if (f->h.stream_result != 0)
		return f->h.stream_result;
	/* What the daemon would stream, as something ta_request() reads. */
	resp->status = 200;
	(void)net_response_type(resp, "application/json");
	buf_reset(&resp->body);
	(void)buf_puts(&resp->body, "{\"stream\":true}");
	return 0;
}

/* GET events: authenticated and role-checked like any call, then handed
 * to the stream hook with the role and when a session lapses; 404
 * without the hook, 503 when it has no room; reading the stream does not
 * keep a console session alive; api_recheck() says when credentials
 * stop holding. */
static void test_api_events_stream(void **state)
{
	struct ta *f = *state;
	struct ta_console con;
	struct ta_roles rt;
	char tok[64], target[64], auth[96];

	assert_int_equal(ta_call(f, "GET", "/api/v1/events", NULL), 404);
	assert_non_null(strstr(f->text, "no event streams"));
	f->a.hooks.stream = ta_hook_stream;

	assert_int_equal(ta_call(f, "GET", "/api/v1/events", NULL), 200);
	assert_int_equal(f->h.streams, 1);
	assert_int_equal(f->h.stream_role, ROLE_OWNER);
	assert_int_equal(f->h.stream_until, 0);
	assert_int_equal(ta_call_as(f, NULL, "GET", "/api/v1/events", NULL),
	                 401);
	assert_int_equal(
	    ta_call_as(f, "Bearer nope", "GET", "/api/v1/events", NULL), 401);
	assert_int_equal(ta_call(f, "POST", "/api/v1/events", "{}"), 405);
	assert_int_equal(f->h.streams, 1);

	ta_role_tokens(f, &rt);
	assert_int_equal(ta_call_as(f, rt.auth[ROLE_HELPDESK], "GET",
	                            "/api/v1/events", NULL),
	                 200);
	assert_int_equal(f->h.stream_role, ROLE_HELPDESK);
	assert_int_equal(
	    ta_call_as(f, rt.auth[ROLE_AUDITOR], "GET", "/api/v1/events", NULL),
	    200);
	assert_int_not_equal(
	    ta_call_as(f, rt.auth[ROLE_SCIM], "GET", "/api/v1/events", NULL),
	    200);
	assert_int_equal(f->h.streams, 3);

	f->h.stream_result = -ERR_TOOBIG;
	assert_int_equal(ta_call(f, "GET", "/api/v1/events", NULL), 503);
	assert_non_null(strstr(f->text, "too many event streams"));
	f->h.stream_result = -ERR_NOMEM;
	assert_int_equal(ta_call(f, "GET", "/api/v1/events", NULL), 500);
	f->h.stream_result = 0;

	/* A console's stream ends when its session would: idle since its
	 * last real request. Streams alone do not keep it alive. */
	assert_int_equal(ta_login(f, TA_TOKEN, NULL, &con), 201);
	assert_int_equal(
	    ta_console_call(f, &con, "GET", "/api/v1/events", NULL), 200);
	assert_int_equal(f->h.stream_until, TA_NOW + SESSION_IDLE);
	store_set_now(f->st, TA_NOW + SESSION_IDLE - 60);
	assert_int_equal(
	    ta_console_call(f, &con, "GET", "/api/v1/events", NULL), 200);
	assert_int_equal(f->h.stream_until, TA_NOW + SESSION_IDLE);
	assert_int_equal(api_recheck(&f->a, "", con.cookie), 0);
	store_set_now(f->st, TA_NOW + SESSION_IDLE + 1);
	assert_int_not_equal(api_recheck(&f->a, "", con.cookie), 0);
	assert_int_equal(
	    ta_console_call(f, &con, "GET", "/api/v1/status", NULL), 401);
	store_set_now(f->st, TA_NOW);

	/* A token's streams hold until it is revoked. */
	ta_admin_token(f, "watcher", tok, sizeof(tok), target, sizeof(target));
	(void)snprintf(auth, sizeof(auth), "Bearer %s", tok);
	assert_int_equal(api_recheck(&f->a, auth, ""), 0);
	assert_int_equal(api_recheck(&f->a, rt.auth[ROLE_HELPDESK], ""), 0);
	assert_int_not_equal(api_recheck(&f->a, rt.auth[ROLE_SCIM], ""), 0);
	assert_int_equal(ta_call(f, "DELETE", target, NULL), 200);
	assert_int_not_equal(api_recheck(&f->a, auth, ""), 0);
	assert_int_not_equal(api_recheck(&f->a, "", ""), 0);
	assert_false(store_in_transaction(f->st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define TA_TEST(fn) cmocka_unit_test_setup_teardown(fn, ta_setup, ta_teardown)
	    TA_TEST(test_api_auth),
	    TA_TEST(test_api_session_login),
	    TA_TEST(test_api_session_cookie_auth),
	    TA_TEST(test_api_session_csrf),
	    TA_TEST(test_api_session_origin),
	    TA_TEST(test_api_session_logout),
	    TA_TEST(test_api_session_expiry),
	    TA_TEST(test_api_session_revoked_admin),
	    TA_TEST(test_api_session_rate_limit),
	    TA_TEST(test_api_session_max),
	    TA_TEST(test_api_routing),
	    TA_TEST(test_api_bodies),
	    TA_TEST(test_api_content_type),
	    TA_TEST(test_api_users),
	    TA_TEST(test_api_offboard),
	    TA_TEST(test_api_offboarding_report),
	    TA_TEST(test_api_teams),
	    TA_TEST(test_api_servers),
	    TA_TEST(test_api_grants),
	    TA_TEST(test_api_secrets),
	    TA_TEST(test_api_tokens),
	    TA_TEST(test_api_token_link_host),
	    TA_TEST(test_api_devices),
	    TA_TEST(test_api_audit),
	    TA_TEST(test_api_calls_order),
	    TA_TEST(test_api_audit_checkpoint),
	    TA_TEST(test_api_admin_tokens),
	    TA_TEST(test_api_roles_table),
	    TA_TEST(test_api_roles_documented),
	    TA_TEST(test_api_roles_matrix),
	    TA_TEST(test_api_events_stream),
	    TA_TEST(test_api_roles_refusal_audited),
	    TA_TEST(test_api_roles_follow_token),
	    TA_TEST(test_api_roles_refusals_bounded),
	    TA_TEST(test_api_status),
	    TA_TEST(test_api_audit_failure_rolls_back),
#undef TA_TEST
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
