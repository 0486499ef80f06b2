/* SPDX-License-Identifier: MIT */
/* Unit tests: server/oidc.c without a provider: the client's set-up from
 * the configuration, the answers that need no provider, and the refusals
 * of a callback that is not a sign-in this browser began (the flow with a
 * real provider is tests/oidc/oidc.test.mjs's). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc.h"

#define TO_NOW 1700000000

struct to {
	struct crypto_rng *rng;
	char *dir, *path;
	struct store *st;
	struct session_table *t;
	struct oidc_conf conf;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
};

static int to_setup(void **state)
{
	static struct to f;
	struct diag d;
	char *secret;

	memset(&f, 0, sizeof(f));
	diag_clear(&d);
	tu_ok(crypto_rng_new("test_oidc", &f.rng, &d), &d);
	f.dir = tu_mkdtemp();
	f.path = tu_path(f.dir, "fleet.db");
	tu_ok(store_open("sqlite", f.path, &f.st, &d), &d);
	store_set_now(f.st, TO_NOW);
	assert_int_equal(session_table_new(f.st, 4, 100, &f.t), 0);
	oidc_conf_defaults(&f.conf);
	(void)snprintf(f.conf.issuer, sizeof(f.conf.issuer),
	               "https://127.0.0.1:1");
	(void)snprintf(f.conf.client_id, sizeof(f.conf.client_id), "console");
	(void)snprintf(f.conf.secret_file, sizeof(f.conf.secret_file),
	               "oidc-secret");
	(void)snprintf(f.conf.default_role, sizeof(f.conf.default_role),
	               "auditor");
	secret = tu_path(f.dir, "oidc-secret");
	tu_write(secret, "s3cret\n", 7);
	free(secret);
	memset(f.master, 7, sizeof(f.master));
	*state = &f;
	return 0;
}

static int to_teardown(void **state)
{
	struct to *f = *state;

	session_table_free(f->t);
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	crypto_rng_free(f->rng);
	return 0;
}

/* Answers GET path?query (params: name, value pairs) with cookie. */
static int to_get(struct to *f, struct oidc *o, const char *method,
                  const char *path, const struct net_param *params,
                  size_t nparams, const char *cookie, char *body,
                  size_t bodysize, char *setcookie, size_t setsize)
{
	struct oidc_call_ctx x = {f->st, f->rng, f->t, TO_NOW};
	struct net_request req;
	struct net_response resp;
	int status;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = method;
	req.path = path;
	req.params = params;
	req.nparams = nparams;
	req.host = "fleet.example:8444";
	req.origin = "";
	req.authorization = "";
	req.content_type = "";
	req.cookie = cookie != NULL ? cookie : "";
	req.csrf_token = "";
	req.body = "";
	req.peer = "192.0.2.9";
	oidc_handle(o, &x, &req, &resp);
	status = resp.status;
	(void)snprintf(body, bodysize, "%.*s", (int)resp.body.len,
	               resp.body.data != NULL ? resp.body.data : "");
	if (setcookie != NULL)
		tu_header(&resp.headers, "Set-Cookie", setcookie, setsize);
	buf_free(&resp.body);
	buf_free(&resp.headers);
	return status;
}

/* The newest audit row's action and details. */
static void to_last_audit(struct to *f, const char *action, const char *needle)
{
	struct store_audit_list l;
	struct diag d;

	memset(&l, 0, sizeof(l));
	tu_ok(store_audit_list(f->st, 0, 0, 1000, &l, &d), &d);
	assert_true(l.n > 0);
	assert_string_equal(l.v[l.n - 1].action, action);
	assert_string_equal(l.v[l.n - 1].actor, "peer:192.0.2.9");
	if (strstr(l.v[l.n - 1].details, needle) == NULL)
		fail_msg("audit details '%s' lack '%s'", l.v[l.n - 1].details,
		         needle);
	store_audit_list_free(&l);
}

static void test_oidc_new_reads_the_secret_file(void **state)
{
	struct to *f = *state;
	struct oidc_conf off;
	struct oidc *o = NULL;
	struct diag d;
	char *p;

	diag_clear(&d);
	/* Off: no client, no error. */
	oidc_conf_defaults(&off);
	tu_ok(oidc_new(&off, f->dir, "https://x/cb", f->master, &o, &d), &d);
	assert_null(o);
	/* The default redirect URI, or the configured one. */
	tu_ok(oidc_new(&f->conf, f->dir, "https://fleet.example:8444/cb",
	               f->master, &o, &d),
	      &d);
	assert_string_equal(oidc_redirect_uri(o),
	                    "https://fleet.example:8444/cb");
	oidc_free(o);
	(void)snprintf(off.redirect_uri, sizeof(off.redirect_uri), "%s",
	               "https://console.example/api/v1/oidc/callback");
	memcpy(off.issuer, f->conf.issuer, sizeof(off.issuer));
	memcpy(off.client_id, f->conf.client_id, sizeof(off.client_id));
	memcpy(off.secret_file, f->conf.secret_file, sizeof(off.secret_file));
	tu_ok(oidc_new(&off, f->dir, "https://x/cb", f->master, &o, &d), &d);
	assert_string_equal(oidc_redirect_uri(o),
	                    "https://console.example/api/v1/oidc/callback");
	oidc_free(o);
	/* A missing or empty secret file is named. */
	(void)snprintf(off.secret_file, sizeof(off.secret_file), "nope");
	assert_int_equal(
	    oidc_new(&off, f->dir, "https://x/cb", f->master, &o, &d),
	    -ERR_NOENT);
	assert_non_null(strstr(d.msg, "oidc_client_secret_file"));
	assert_non_null(strstr(d.msg, "/nope: no such file"));
	p = tu_path(f->dir, "empty");
	tu_write(p, "\n", 1);
	(void)snprintf(off.secret_file, sizeof(off.secret_file), "%s", p);
	assert_int_equal(
	    oidc_new(&off, f->dir, "https://x/cb", f->master, &o, &d),
	    -ERR_INVALID);
	assert_non_null(strstr(d.msg, "empty"));
	free(p);
	assert_null(o);
}

static void test_oidc_handle_without_provider(void **state)
{
	struct to *f = *state;
	struct oidc *o = NULL;
	char body[2048];
	struct diag d;

	assert_int_equal(to_get(f, NULL, "GET", OIDC_PREFIX, NULL, 0, NULL,
	                        body, sizeof(body), NULL, 0),
	                 200);
	assert_string_equal(body, "{\"enabled\":false}");
	assert_int_equal(to_get(f, NULL, "GET", OIDC_PREFIX "/login", NULL, 0,
	                        NULL, body, sizeof(body), NULL, 0),
	                 404);
	assert_non_null(strstr(body, "not configured"));
	diag_clear(&d);
	tu_ok(oidc_new(&f->conf, f->dir, "https://x/cb", f->master, &o, &d),
	      &d);
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX, NULL, 0, NULL, body,
	                        sizeof(body), NULL, 0),
	                 200);
	assert_non_null(strstr(body, "\"label\":\"your identity provider\""));
	assert_int_equal(to_get(f, o, "POST", OIDC_PREFIX "/login", NULL, 0,
	                        NULL, body, sizeof(body), NULL, 0),
	                 405);
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX "/other", NULL, 0,
	                        NULL, body, sizeof(body), NULL, 0),
	                 404);
	/* A provider that cannot be reached: a page that names its address,
	 * audited. */
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX "/login", NULL, 0,
	                        NULL, body, sizeof(body), NULL, 0),
	                 502);
	assert_non_null(strstr(
	    body, "https://127.0.0.1:1/.well-known/openid-configuration"));
	to_last_audit(f, "session.refused", "discovery document");
	oidc_free(o);
}

static void test_oidc_callback_refusals(void **state)
{
	struct to *f = *state;
	const struct net_param err[] = {{"error", "access_denied"},
	                                {"error_description", "<b>no</b>"}};
	const struct net_param cb[] = {
	    {"code", "abc"},
	    {"state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}};
	struct oidc *o = NULL;
	char body[2048], set[512];
	struct diag d;

	diag_clear(&d);
	tu_ok(oidc_new(&f->conf, f->dir, "https://x/cb", f->master, &o, &d),
	      &d);
	/* The provider said no: its words, escaped. */
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX "/callback", err, 2,
	                        NULL, body, sizeof(body), set, sizeof(set)),
	                 403);
	assert_non_null(strstr(body, "access_denied: &lt;b&gt;no&lt;/b&gt;"));
	assert_non_null(strstr(set, OIDC_COOKIE "=;"));
	assert_non_null(strstr(set, "Max-Age=0"));
	to_last_audit(f, "session.refused", "access_denied");
	/* No sign-in under way in this browser (a replay, or none begun). */
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX "/callback", cb, 2,
	                        NULL, body, sizeof(body), NULL, 0),
	                 400);
	assert_non_null(strstr(body, "no sign-in is under way"));
	to_last_audit(f, "session.refused", "no sign-in is under way");
	/* A cookie not sealed here. */
	assert_int_equal(to_get(f, o, "GET", OIDC_PREFIX "/callback", cb, 2,
	                        "a=b; " OIDC_COOKIE
	                        "=AAAAAAAAAAAAAAAAAAAAAAAAAA"
	                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                        body, sizeof(body), NULL, 0),
	                 400);
	assert_non_null(strstr(body, "not made by this server"));
	assert_int_equal(session_table_count(f->t, TO_NOW), 0);
	oidc_free(o);
}

static void test_oidc_role_for(void **state)
{
	struct to *f = *state;
	struct oidc_identity id;
	char *groups[] = {"devs", "fleet-admins"};
	char why[256];

	memset(&id, 0, sizeof(id));
	(void)snprintf(id.email, sizeof(id.email), "ada@example.com");
	id.groups = groups;
	id.ngroups = 2;
	/* The default role, then a mapped group's, then a refused domain. */
	assert_string_equal(oidc_role_for(&f->conf, &id, why, sizeof(why)),
	                    "auditor");
	(void)snprintf(f->conf.role_groups[1][0],
	               sizeof(f->conf.role_groups[1][0]), "fleet-admins");
	f->conf.nrole_groups[1] = 1;
	assert_string_equal(oidc_role_for(&f->conf, &id, why, sizeof(why)),
	                    "admin");
	(void)snprintf(f->conf.domains[0], sizeof(f->conf.domains[0]),
	               "example.org");
	f->conf.ndomains = 1;
	assert_null(oidc_role_for(&f->conf, &id, why, sizeof(why)));
	assert_string_equal(
	    why, "ada@example.com is not in an allowed email domain");
	f->conf.ndomains = 0;
	f->conf.nrole_groups[1] = 0;
	f->conf.default_role[0] = '\0';
	assert_null(oidc_role_for(&f->conf, &id, why, sizeof(why)));
	assert_non_null(strstr(why, "in no group that has a role here"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_oidc_new_reads_the_secret_file,
	                                    to_setup, to_teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_handle_without_provider,
	                                    to_setup, to_teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_callback_refusals,
	                                    to_setup, to_teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_role_for, to_setup,
	                                    to_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
