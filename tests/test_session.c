/* SPDX-License-Identifier: MIT */
/* Unit tests: server/session.c, the console's sessions without HTTP (the
 * routes that use them are in test_api.c). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "session.h"
#include "store.h"

#define TS_NOW 1700000000
#define TS_ADMIN                                                               \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ts {
	struct crypto_rng *rng;
	char *dir, *path;
	struct store *st;
	struct session_table *t;
};

static int ts_setup(void **state)
{
	static struct ts f;
	struct diag d;

	memset(&f, 0, sizeof(f));
	diag_clear(&d);
	tu_ok(crypto_rng_new("test_session", &f.rng, &d), &d);
	f.dir = tu_mkdtemp();
	f.path = tu_path(f.dir, "fleet.db");
	tu_ok(store_open("sqlite", f.path, &f.st, &d), &d);
	assert_int_equal(session_table_new(f.st, 4, 2, &f.t), 0);
	*state = &f;
	return 0;
}

static int ts_teardown(void **state)
{
	struct ts *f = *state;

	session_table_free(f->t);
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	crypto_rng_free(f->rng);
	return 0;
}

/* Opens a session at now and puts it in the table; cookie gets the
 * "mcpfleet_session=ID" pair a browser would send back. */
static void ts_open(struct ts *f, int64_t now, char *cookie, size_t size)
{
	char set[SESSION_COOKIE_MAX];
	struct session se;

	assert_int_equal(
	    session_new(f->rng, TS_ADMIN, now, &se, set, sizeof(set)), 0);
	assert_int_equal(session_install(f->t, NULL, &se, now), 0);
	assert_true(strcspn(set, ";") < size);
	memcpy(cookie, set, strcspn(set, ";"));
	cookie[strcspn(set, ";")] = '\0';
}

static void test_session_new_cookie(void **state)
{
	struct ts *f = *state;
	char set[SESSION_COOKIE_MAX];
	struct session se;

	assert_int_equal(
	    session_new(f->rng, TS_ADMIN, TS_NOW, &se, set, sizeof(set)), 0);
	assert_int_equal(strncmp(set, "__Host-mcpfleet_session=", 24), 0);
	assert_int_equal(strcspn(set + 24, ";"), TOKEN_LEN);
	assert_non_null(
	    strstr(set, "; HttpOnly; Secure; SameSite=Strict; Path=/"));
	assert_null(strstr(set, "Domain"));
	assert_string_equal(se.admin_hash, TS_ADMIN);
	assert_int_equal(strlen(se.csrf), TOKEN_LEN);
	assert_int_equal(session_expires(&se), TS_NOW + SESSION_TTL);
	/* Not in the table until installed. */
	assert_int_equal(session_table_count(f->t, TS_NOW), 0);
	/* A cookie that does not fit, a bad hash, no generator. */
	assert_int_equal(session_new(f->rng, TS_ADMIN, TS_NOW, &se, set, 40),
	                 -ERR_TRUNC);
	assert_int_equal(
	    session_new(f->rng, "abc", TS_NOW, &se, set, sizeof(set)),
	    -ERR_INVALID);
	assert_int_equal(
	    session_new(NULL, TS_ADMIN, TS_NOW, &se, set, sizeof(set)),
	    -ERR_CRYPTO);
}

static void test_session_find_cookie_header(void **state)
{
	struct ts *f = *state;
	char c[128], hdr[512];
	struct session *se;

	ts_open(f, TS_NOW, c, sizeof(c));
	assert_non_null(session_find(f->t, c, TS_NOW));
	/* Among other cookies, after a stale session cookie of another
	 * path. */
	(void)snprintf(hdr, sizeof(hdr),
	               "a=1; __Host-mcpfleet_session=stale; %s ;b=2", c);
	se = session_find(f->t, hdr, TS_NOW);
	assert_non_null(se);
	assert_true(session_has_cookie(hdr));
	assert_false(session_has_cookie("a=1; __Host-mcpfleet_sessionx=2"));
	assert_false(session_has_cookie("a=1; mcpfleet_session=2"));
	assert_false(session_has_cookie(NULL));
	assert_null(
	    session_find(f->t, "__Host-mcpfleet_session=stale", TS_NOW));
	assert_null(session_find(f->t, NULL, TS_NOW));
	/* Dropped: gone. */
	session_drop(f->t, se);
	assert_null(session_find(f->t, c, TS_NOW));
}

static void test_session_expiry(void **state)
{
	struct ts *f = *state;
	char c[128];
	struct session *se;
	int64_t t;

	ts_open(f, TS_NOW, c, sizeof(c));
	/* Idle for SESSION_IDLE ends it... */
	assert_non_null(session_find(f->t, c, TS_NOW + SESSION_IDLE - 1));
	assert_null(session_find(f->t, c, TS_NOW + SESSION_IDLE));
	/* ...and so does SESSION_TTL, however busy. */
	ts_open(f, TS_NOW, c, sizeof(c));
	for (t = TS_NOW; t < TS_NOW + SESSION_TTL; t += SESSION_IDLE / 2) {
		se = session_find(f->t, c, t);
		assert_non_null(se);
		session_touch(f->t, se, t);
	}
	assert_null(session_find(f->t, c, TS_NOW + SESSION_TTL));
	assert_int_equal(session_table_count(f->t, TS_NOW + SESSION_TTL), 0);
}

static void test_session_install_replaces_and_evicts(void **state)
{
	struct ts *f = *state;
	char c[5][128], set[SESSION_COOKIE_MAX];
	struct session se;
	int i;

	for (i = 0; i < 4; i++)
		ts_open(f, TS_NOW + i, c[i], sizeof(c[i]));
	assert_int_equal(session_table_count(f->t, TS_NOW + 4), 4);
	/* Full: the least recently used (the first) goes. */
	ts_open(f, TS_NOW + 4, c[4], sizeof(c[4]));
	assert_int_equal(session_table_count(f->t, TS_NOW + 4), 4);
	assert_null(session_find(f->t, c[0], TS_NOW + 4));
	assert_non_null(session_find(f->t, c[1], TS_NOW + 4));
	/* A browser that signs in again replaces the session it sent. */
	assert_int_equal(
	    session_new(f->rng, TS_ADMIN, TS_NOW + 5, &se, set, sizeof(set)),
	    0);
	assert_int_equal(session_install(f->t, c[1], &se, TS_NOW + 5), 0);
	assert_null(session_find(f->t, c[1], TS_NOW + 5));
	assert_non_null(session_find(f->t, c[2], TS_NOW + 5));
	assert_int_equal(session_table_count(f->t, TS_NOW + 5), 4);
}

/* A store that cannot be read is told apart from an unknown session: the
 * API then answers 500 and keeps the browser's cookie. */
static void test_session_store_failure(void **state)
{
	struct ts *f = *state;
	char c[128];
	sqlite3 *db = NULL;

	ts_open(f, TS_NOW, c, sizeof(c));
	assert_non_null(session_find(f->t, c, TS_NOW));
	assert_int_equal(session_find_error(f->t), 0);
	assert_null(session_find(f->t, "__Host-mcpfleet_session=x", TS_NOW));
	assert_int_equal(session_find_error(f->t), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "DROP TABLE sessions", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_null(session_find(f->t, c, TS_NOW));
	assert_true(session_find_error(f->t) < 0);
}

static void test_session_csrf_and_origin(void **state)
{
	struct ts *f = *state;
	char set[SESSION_COOKIE_MAX], wrong[TOKEN_LEN + 1];
	struct session se;

	assert_int_equal(
	    session_new(f->rng, TS_ADMIN, TS_NOW, &se, set, sizeof(set)), 0);
	assert_true(session_csrf_ok(&se, se.csrf));
	memcpy(wrong, se.csrf, sizeof(wrong));
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
	assert_false(session_csrf_ok(&se, wrong));
	assert_false(session_csrf_ok(&se, NULL));
	assert_false(session_csrf_ok(&se, ""));

	assert_true(session_origin_ok(NULL, "fleet.example:7443"));
	assert_true(session_origin_ok("", NULL));
	assert_true(session_origin_ok("https://fleet.example:7443",
	                              "fleet.example:7443"));
	assert_true(session_origin_ok("HTTPS://Fleet.Example:7443",
	                              "fleet.example:7443"));
	assert_false(session_origin_ok("http://fleet.example:7443",
	                               "fleet.example:7443"));
	assert_false(
	    session_origin_ok("https://evil.example", "fleet.example:7443"));
	assert_false(session_origin_ok("null", "fleet.example:7443"));
	assert_false(session_origin_ok("https://fleet.example:7443", NULL));
}

static void test_session_login_rate(void **state)
{
	struct ts *f = *state;
	struct session_table *t = NULL;

	/* A burst of login_rate (2), then refused. */
	assert_true(session_login_allow(f->t, "192.0.2.1", TS_NOW));
	assert_true(session_login_allow(f->t, "192.0.2.1", TS_NOW));
	assert_false(session_login_allow(f->t, "192.0.2.1", TS_NOW));
	assert_true(session_login_allow(f->t, "192.0.2.2", TS_NOW));
	/* Bad arguments. */
	assert_int_equal(session_table_new(f->st, 0, 1, &t), -ERR_INVALID);
	assert_int_equal(session_table_new(f->st, 1, 0, &t), -ERR_INVALID);
	assert_int_equal(session_table_new(NULL, 1, 1, &t), -ERR_INVALID);
	assert_null(t);
	session_table_free(NULL);
	assert_int_equal(session_table_count(NULL, TS_NOW), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_session_new_cookie, ts_setup,
	                                    ts_teardown),
	    cmocka_unit_test_setup_teardown(test_session_find_cookie_header,
	                                    ts_setup, ts_teardown),
	    cmocka_unit_test_setup_teardown(test_session_expiry, ts_setup,
	                                    ts_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_session_install_replaces_and_evicts, ts_setup,
	        ts_teardown),
	    cmocka_unit_test_setup_teardown(test_session_store_failure,
	                                    ts_setup, ts_teardown),
	    cmocka_unit_test_setup_teardown(test_session_csrf_and_origin,
	                                    ts_setup, ts_teardown),
	    cmocka_unit_test_setup_teardown(test_session_login_rate, ts_setup,
	                                    ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
