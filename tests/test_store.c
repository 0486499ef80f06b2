/* SPDX-License-Identifier: MIT */
/* Unit tests: server/store/store.c over each backend, store_sqlite.c and
 * store_pg.c beside it. Every case runs once per backend: SQLite always,
 * PostgreSQL when MCPFLEET_TEST_PG names a database to clear and use
 * (tests/pg/cluster.sh provides one). "test_store sqlite" or "test_store
 * postgres" runs one backend only. */
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "crypto.h"
#include "err.h"
#include "store.h"

/* The schema version this build creates: 1 the initial one, 2 calls, 3
 * grant rates, 4 console sessions (and, in PostgreSQL, what replicas
 * share), 5 the replica set, 6 admin tokens' roles, 7 sessions' identity
 * and role, 8 offboarding reports, 9 SCIM records, 10 device
 * certificates' expiry and the ones renewals replaced; and the two after
 * it, as text. */
#define TS_SCHEMA        10
#define TS_SCHEMA_STR    "10"
#define TS_SCHEMA_P1_STR "11"
#define TS_SCHEMA_P2_STR "12"

#define TS_NOW 1700000000 /* the fixed clock of every test */

struct ts_fixture {
	char *dir;
	char *path; /* dir/fleet.db, or the PostgreSQL connection string */
	struct store *st;
};

/* The backend the running group tests: "sqlite" or "postgres". */
static const char *ts_backend = "sqlite";
/* The PostgreSQL database of the tests (MCPFLEET_TEST_PG). */
static const char *ts_pg_conninfo;

static bool ts_pg(void)
{
	return strcmp(ts_backend, "postgres") == 0;
}

/* Runs SQL on the PostgreSQL database behind the store's back. Returns
 * NULL on success, else the error message (caller frees). */
static char *ts_pg_exec(const char *conninfo, const char *sql, int64_t *v)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *res = NULL;
	char *msg = NULL;
	ExecStatusType st;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("%s: %s", conninfo, PQerrorMessage(c));
	res = PQexec(c, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		msg = strdup(PQresultErrorMessage(res));
	else if (v != NULL) {
		assert_true(PQntuples(res) >= 1);
		*v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	PQfinish(c);
	return msg;
}

/* Empties the PostgreSQL database: one fresh schema per test. */
static void ts_pg_reset(void)
{
	char *msg = ts_pg_exec(ts_pg_conninfo,
	                       "SET client_min_messages = warning;"
	                       "DROP SCHEMA public CASCADE;"
	                       "CREATE SCHEMA public AUTHORIZATION "
	                       "pg_database_owner;"
	                       "GRANT USAGE ON SCHEMA public TO PUBLIC",
	                       NULL);

	if (msg != NULL)
		fail_msg("reset: %s", msg);
}

static struct ts_fixture *ts_fx(void **state)
{
	return *state;
}

static int ts_setup(void **state)
{
	struct ts_fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	if (ts_pg()) {
		ts_pg_reset();
		f->path = strdup(ts_pg_conninfo);
	} else {
		f->path = tu_path(f->dir, "fleet.db");
	}
	diag_clear(&d);
	if (store_open(ts_backend, f->path, &f->st, &d) != 0)
		fail_msg("store_open: %s", d.msg);
	store_set_now(f->st, TS_NOW);
	*state = f;
	return 0;
}

static int ts_teardown(void **state)
{
	struct ts_fixture *f = *state;

	store_close(f->st);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* Reopens the fixture's store, as a restart of the daemon does. */
static void ts_reopen(struct ts_fixture *f)
{
	struct diag d;

	store_close(f->st);
	f->st = NULL;
	if (store_open(ts_backend, f->path, &f->st, &d) != 0)
		fail_msg("store_open: %s", d.msg);
	store_set_now(f->st, TS_NOW);
}

/* Asserts that r is code and that d->msg contains needle. */
static void ts_expect(int r, int code, const struct diag *d, const char *needle)
{
	if (r != code)
		fail_msg("expected %d (%s), got %d (%s): %s", code,
		         err_str(code), r, err_str(r), d->msg);
	if (needle != NULL && strstr(d->msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", d->msg, needle);
}

/* Asserts success, printing the diag otherwise. */
/* Runs SQL on the database file directly, behind the store's back. */
static void ts_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (ts_pg()) {
		if ((msg = ts_pg_exec(path, sql, NULL)) != NULL)
			fail_msg("%s: %s", sql, msg);
		return;
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* Runs SQL expected to fail, returning the message (caller frees). */
static char *ts_sql_fails(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL, *copy;

	if (ts_pg()) {
		if ((copy = ts_pg_exec(path, sql, NULL)) == NULL)
			fail_msg("%s: succeeded", sql);
		return copy;
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		fail_msg("%s: succeeded", sql);
	copy = strdup(msg ? msg : "");
	sqlite3_free(msg);
	sqlite3_close(db);
	return copy;
}

/* One integer from a query on the file. */
static int64_t ts_sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = 0;
	char *msg;

	if (ts_pg()) {
		if ((msg = ts_pg_exec(path, sql, &v)) != NULL)
			fail_msg("%s: %s", sql, msg);
		return v;
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* The schema version as the database records it. */
static int64_t ts_stored_version(const char *path)
{
	return ts_sql_int(path, ts_pg() ? "SELECT version FROM mcpfleet_schema"
	                                : "PRAGMA user_version");
}

/* Sets the recorded schema version behind the store's back. */
static void ts_set_version(const char *path, const char *v)
{
	char sql[96];

	(void)snprintf(sql, sizeof(sql),
	               ts_pg() ? "UPDATE mcpfleet_schema SET version = %s"
	                       : "PRAGMA user_version = %s",
	               v);
	ts_sql(path, sql);
}

/* Takes the database back to schema 7: what migrations 8 (offboarding
 * reports), 9 (SCIM records) and 10 (certificate renewal) added goes. */
static void ts_back_to_7(const char *path)
{
	ts_sql(path, "DROP TABLE offboardings");
	ts_sql(path, "DROP TABLE scim_users");
	ts_sql(path, "DROP TABLE scim_groups");
	ts_sql(path, "DROP TABLE device_certs");
	ts_sql(path, "ALTER TABLE devices DROP COLUMN cert_not_after");
	ts_set_version(path, "7");
}

/* Whether the table exists. */
static int64_t ts_table_exists(const char *path, const char *name)
{
	char sql[160];

	(void)snprintf(sql, sizeof(sql),
	               ts_pg() ? "SELECT count(*) FROM pg_tables WHERE "
	                         "schemaname = 'public' AND tablename = '%s'"
	                       : "SELECT count(*) FROM sqlite_master WHERE "
	                         "name = '%s'",
	               name);
	return ts_sql_int(path, sql);
}

/* Drops the audit table's trigger name (what someone with the database
 * could do). */
static void ts_drop_trigger(const char *path, const char *name)
{
	char sql[96];

	(void)snprintf(sql, sizeof(sql),
	               ts_pg() ? "DROP TRIGGER %s ON audit" : "DROP TRIGGER %s",
	               name);
	ts_sql(path, sql);
}

static void ts_hash(const char *seed, char out[STORE_HASH_HEX + 1])
{
	uint8_t h[CRYPTO_HASH_LEN];

	assert_int_equal(crypto_sha256(seed, strlen(seed), h), 0);
	assert_int_equal(crypto_hex(h, sizeof(h), out, STORE_HASH_HEX + 1), 0);
}

static int64_t ts_user(struct store *st, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_user_add(st, name, NULL, &id, &d), &d);
	return id;
}

static int64_t ts_team(struct store *st, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_team_add(st, name, &id, &d), &d);
	return id;
}

static int64_t ts_server(struct store *st, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_server_add(st, name,
	                       "{\"url\": \"https://x.example/mcp\", "
	                       "\"type\": \"http\"}",
	                       &id, &d),
	      &d);
	return id;
}

/* Sets a secret the way the daemon will: reserve, seal with the id as
 * AAD, put, in one transaction. Returns the record id. */
static int64_t ts_secret(struct store *st, const char *name,
                         enum store_scope scope, int64_t scope_id,
                         const char *value, int64_t *version)
{
	static const uint8_t key[CRYPTO_SEAL_KEY_LEN] = {1, 2, 3};
	struct crypto_rng *rng = NULL;
	char aad[STORE_AAD_MAX];
	uint8_t *sealed = NULL;
	size_t aadlen, n;
	int64_t id = 0, v = 0;
	struct diag d;

	tu_ok(crypto_rng_new("test_store", &rng, &d), &d);
	tu_ok(store_begin(st, &d), &d);
	tu_ok(store_secret_next(st, name, scope, scope_id, &id, &v, &d), &d);
	assert_int_equal(store_secret_aad(id, aad, &aadlen), 0);
	tu_ok(crypto_seal(rng, key, aad, aadlen, value, strlen(value), &sealed,
	                  &n, &d),
	      &d);
	tu_ok(store_secret_put(st, id, sealed, n, &d), &d);
	tu_ok(store_audit_append(st, "admin:test", "secret.set", name, NULL,
	                         NULL, &d),
	      &d);
	tu_ok(store_commit(st, &d), &d);
	free(sealed);
	crypto_rng_free(rng);
	if (version != NULL)
		*version = v;
	return id;
}

static void ts_device(struct store *st, const char *id, int64_t user,
                      const char *serial)
{
	char fp[STORE_HASH_HEX + 1];
	struct diag d;

	ts_hash(id, fp);
	tu_ok(store_device_create(st, id, user, "laptop", "linux", serial, fp,
	                          0, &d),
	      &d);
}

static double ts_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Open, schema, migrations ---- */

static void test_store_open_creates_schema(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct stat sb;
	int64_t v = 0;
	struct diag d;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	tu_ok(store_schema_version(f->st, &v, &d), &d);
	assert_int_equal(v, TS_SCHEMA);
	assert_int_equal(store_schema_latest("sqlite"), TS_SCHEMA);
	assert_int_equal(store_schema_latest("postgres"), TS_SCHEMA);
	assert_int_equal(ts_stored_version(f->path), TS_SCHEMA);
	if (ts_pg()) {
		/* No file, so no WAL or file mode to check. */
		assert_int_equal(
		    ts_sql_int(
		        f->path,
		        "SELECT count(*) FROM pg_tables WHERE "
		        "schemaname = 'public' AND tablename IN ('users', "
		        "'teams', 'memberships', 'servers', 'grants', "
		        "'secrets', 'devices', 'enroll_tokens', "
		        "'deliveries', 'admin_tokens', 'revisions', "
		        "'audit', 'meta', 'calls', 'replicas', "
		        "'offboardings', 'scim_users', 'scim_groups', "
		        "'mcpfleet_schema')"),
		    19);
		return;
	}
	assert_int_equal(ts_sql_int(f->path, "SELECT count(*) FROM "
	                                     "sqlite_master WHERE type = "
	                                     "'table' AND name IN ('users', "
	                                     "'teams', 'memberships', "
	                                     "'servers', 'grants', 'secrets', "
	                                     "'devices', 'enroll_tokens', "
	                                     "'deliveries', 'admin_tokens', "
	                                     "'revisions', 'audit', 'meta', "
	                                     "'replicas', 'offboardings', "
	                                     "'scim_users', 'scim_groups')"),
	                 17);
	/* WAL, owner-only. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_store_open_unknown_backend(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store *st = NULL;
	struct diag d;

	ts_expect(store_open("oracle", f->path, &st, &d), -ERR_NOENT, &d,
	          "no store backend named 'oracle'");
	assert_null(st);
}

static void test_store_reopen_keeps_data(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_snapshot snap;
	struct store_device dev;
	struct store_token tok;
	struct store_revision rev;
	struct store_audit_list al = {NULL, 0};
	char hash[STORE_HASH_HEX + 1];
	int64_t ann, dev_team, srv, rows = 0, n = 0, tid = 0;
	struct diag d;

	ann = ts_user(f->st, "ann");
	dev_team = ts_team(f->st, "dev");
	tu_ok(store_member_add(f->st, dev_team, ann, &d), &d);
	srv = ts_server(f->st, "github");
	tu_ok(store_grant_add(f->st, srv, STORE_TARGET_TEAM, dev_team,
	                      &(struct store_grant_limits){
	                          .tools_deny = "[\"delete_repository\"]"},
	                      NULL, &d),
	      &d);
	(void)ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev_team,
	                "ghp_1", NULL);
	ts_hash("tok", hash);
	tu_ok(store_token_create(f->st, hash, ann, TS_NOW + 3600, 1, "admin",
	                         &tid, &d),
	      &d);
	ts_device(f->st, "dev-01", ann, "0a");
	tu_ok(store_revision_bump(f->st, &n, &d), &d);
	tu_ok(store_revision_bump(f->st, &n, &d), &d);
	assert_int_equal(n, 2);
	memset(&rev, 0, sizeof(rev));
	rev.revision = 2;
	rev.leaf_count = 1;
	ts_hash("root", rev.merkle_root);
	memcpy(rev.signature, "3045", 5);
	tu_ok(store_revision_record(f->st, &rev, &d), &d);
	tu_ok(store_audit_append(f->st, "admin:root", "user.add", "ann", NULL,
	                         NULL, &d),
	      &d);

	ts_reopen(f);

	tu_ok(store_snapshot_load(f->st, &snap, &d), &d);
	assert_int_equal(snap.revision, 2);
	assert_int_equal(snap.users.n, 1);
	assert_string_equal(snap.users.v[0].name, "ann");
	assert_int_equal(snap.teams.n, 1);
	assert_int_equal(snap.members.n, 1);
	assert_int_equal(snap.members.v[0].user_id, ann);
	assert_int_equal(snap.servers.n, 1);
	assert_int_equal(snap.grants.n, 1);
	assert_string_equal(snap.grants.v[0].tools_deny,
	                    "[\"delete_repository\"]");
	assert_null(snap.grants.v[0].tools_allow);
	assert_int_equal(snap.secrets.n, 1);
	assert_string_equal(snap.secrets.v[0].scope_name, "dev");
	store_snapshot_free(&snap);
	tu_ok(store_token_get_by_hash(f->st, hash, &tok, &d), &d);
	assert_int_equal(tok.id, tid);
	assert_string_equal(tok.user_name, "ann");
	store_token_clear(&tok);
	tu_ok(store_device_get(f->st, "dev-01", &dev, &d), &d);
	assert_int_equal(dev.status, STORE_DEVICE_ACTIVE);
	store_device_clear(&dev);
	memset(&rev, 0, sizeof(rev));
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.revision, 2);
	tu_ok(store_revision_bump(f->st, &n, &d), &d);
	assert_int_equal(n, 3);
	tu_ok(store_audit_list(f->st, 0, 0, 100, &al, &d), &d);
	assert_int_equal(al.n, 2);
	store_audit_list_free(&al);
	tu_ok(store_audit_verify(f->st, &rows, NULL, &d), &d);
	assert_int_equal(rows, 2);
}

static void test_store_newer_schema_refused(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store *st = NULL;
	struct diag d;

	store_close(f->st);
	f->st = NULL;
	ts_set_version(f->path, TS_SCHEMA_P1_STR);
	ts_expect(store_open(ts_backend, f->path, &st, &d), -ERR_INVALID, &d,
	          "schema version " TS_SCHEMA_P1_STR
	          " is newer than this build knows (" TS_SCHEMA_STR ")");
	assert_null(st);
	ts_set_version(f->path, TS_SCHEMA_STR);
	ts_reopen(f);
}

static void test_store_foreign_database_refused(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	char *other = tu_path(f->dir, "other.db");
	struct store *st = NULL;
	struct diag d;

	if (ts_pg()) {
		/* Another application's tables, and no schema table. */
		store_close(f->st);
		f->st = NULL;
		ts_pg_reset();
		free(other);
		other = strdup(f->path);
		ts_sql(other, "CREATE TABLE t (x integer)");
	} else {
		ts_sql(other,
		       "PRAGMA application_id = 42; CREATE TABLE t (x);");
	}
	ts_expect(store_open(ts_backend, other, &st, &d), -ERR_INVALID, &d,
	          "not an mcpfleet database");
	assert_null(st);
	free(other);
}

static void test_store_migrations_idempotent(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	static const char *const v2[] = {
	    "CREATE TABLE extra_v2 (x INTEGER);"
	    "INSERT INTO extra_v2 VALUES (1);",
	};
	static const char *const v3_bad[] = {
	    "CREATE TABLE extra_v2 (x INTEGER);"
	    "INSERT INTO extra_v2 VALUES (1);",
	    "CREATE TABLE extra_v3 (y); CREATE TABLE extra_v3 (y);",
	};
	struct store_open_opts o2 = {v2, 1}, o3 = {v3_bad, 2};
	struct store *st = NULL;
	int64_t v = 0;
	struct diag d;

	ts_user(f->st, "kept");
	store_close(f->st);
	f->st = NULL;
	/* The first extra version is applied once, whatever the number of
	 * opens. */
	tu_ok(store_open_with(ts_backend, f->path, &o2, &st, &d), &d);
	tu_ok(store_schema_version(st, &v, &d), &d);
	assert_int_equal(v, TS_SCHEMA + 1);
	store_close(st);
	tu_ok(store_open_with(ts_backend, f->path, &o2, &st, &d), &d);
	store_close(st);
	assert_int_equal(ts_sql_int(f->path, "SELECT count(*) FROM extra_v2"),
	                 1);
	assert_int_equal(ts_stored_version(f->path), TS_SCHEMA + 1);
	/* A failing migration changes nothing and says which. */
	st = NULL;
	ts_expect(store_open_with(ts_backend, f->path, &o3, &st, &d), -ERR_IO,
	          &d, "schema migration to version " TS_SCHEMA_P2_STR);
	assert_null(st);
	assert_int_equal(ts_stored_version(f->path), TS_SCHEMA + 1);
	assert_int_equal(ts_table_exists(f->path, "extra_v3"), 0);
	/* This build, without the extra version, refuses the upgraded file. */
	ts_expect(store_open(ts_backend, f->path, &st, &d), -ERR_INVALID, &d,
	          "schema version " TS_SCHEMA_P1_STR " is newer");
	/* The data of the earlier versions survived the migration. */
	tu_ok(store_open_with(ts_backend, f->path, &o2, &f->st, &d), &d);
	{
		struct store_user u;

		tu_ok(store_user_get(f->st, "kept", &u, &d), &d);
		store_user_clear(&u);
	}
}

/* ---- Transactions ---- */

static void test_store_transaction_rules(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_user_list l = {NULL, 0};
	struct diag d;

	ts_expect(store_commit(f->st, &d), -ERR_INVALID, &d,
	          "no store "
	          "transaction");
	tu_ok(store_rollback(f->st, &d), &d);
	tu_ok(store_begin(f->st, &d), &d);
	assert_true(store_in_transaction(f->st));
	ts_expect(store_begin(f->st, &d), -ERR_INVALID, &d, "already open");
	/* A failed call inside a transaction undoes only itself. */
	ts_user(f->st, "a");
	ts_expect(store_user_add(f->st, "a", NULL, NULL, &d), -ERR_EXISTS, &d,
	          "user 'a' already exists");
	ts_user(f->st, "b");
	tu_ok(store_commit(f->st, &d), &d);
	assert_false(store_in_transaction(f->st));
	tu_ok(store_user_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_user_list_free(&l);
	/* Rollback undoes everything since begin. */
	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "c");
	tu_ok(store_rollback(f->st, &d), &d);
	tu_ok(store_user_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_user_list_free(&l);
}

static void test_store_second_handle_sees_commits(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store *other = NULL;
	struct store_user u;
	struct diag d;

	tu_ok(store_open(ts_backend, f->path, &other, &d), &d);
	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "ann");
	/* WAL: the reader does not block and does not see uncommitted rows. */
	ts_expect(store_user_get(other, "ann", &u, &d), -ERR_NOENT, &d,
	          "no user named 'ann'");
	tu_ok(store_commit(f->st, &d), &d);
	tu_ok(store_user_get(other, "ann", &u, &d), &d);
	store_user_clear(&u);
	store_close(other);
}

/* ---- Users, teams, memberships ---- */

/* store_errors() counts what failed, not the answers about bad input. */
static void test_store_errors_counted(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	int64_t id = 0;
	struct diag d;

	assert_int_equal(store_errors(f->st), 0);
	tu_ok(store_user_add(f->st, "ann", NULL, &id, &d), &d);
	ts_expect(store_user_add(f->st, "ann", NULL, NULL, &d), -ERR_EXISTS, &d,
	          "already exists");
	ts_expect(store_user_add(f->st, "a b", NULL, NULL, &d), -ERR_INVALID,
	          &d, "only letters, digits");
	assert_int_equal(store_errors(f->st), 0);
	/* A table gone under the store: the database cannot run it. */
	ts_sql(f->path, ts_pg() ? "DROP TABLE teams CASCADE"
	                        : "DROP TABLE memberships; DROP TABLE teams");
	diag_clear(&d);
	assert_true(store_team_add(f->st, "ops", &id, &d) < 0);
	assert_true(store_errors(f->st) >= 1);
}

static void test_store_users_crud(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_user_list l = {NULL, 0};
	struct store_user u;
	char long_name[STORE_NAME_MAX + 2];
	int64_t id = 0, id2, id3 = 0;
	struct diag d;

	tu_ok(store_user_add(f->st, "ann@example.com", "ann@example.com", &id,
	                     &d),
	      &d);
	assert_true(id > 0);
	ts_expect(store_user_add(f->st, "ann@example.com", NULL, NULL, &d),
	          -ERR_EXISTS, &d, "user 'ann@example.com' already exists");
	ts_expect(store_user_add(f->st, "a b", NULL, NULL, &d), -ERR_INVALID,
	          &d, "only letters, digits");
	ts_expect(store_user_add(f->st, "", NULL, NULL, &d), -ERR_INVALID, &d,
	          "empty");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ts_expect(store_user_add(f->st, long_name, NULL, NULL, &d),
	          -ERR_INVALID, &d, "longer than 128");
	long_name[STORE_NAME_MAX] = '\0';
	tu_ok(store_user_add(f->st, long_name, NULL, NULL, &d), &d);
	ts_expect(store_user_add(f->st, "bob", "bad\nemail", NULL, &d),
	          -ERR_INVALID, &d, "control character");
	id2 = ts_user(f->st, "bob.smith_2-x");

	tu_ok(store_user_get(f->st, "ann@example.com", &u, &d), &d);
	assert_int_equal(u.id, id);
	assert_string_equal(u.email, "ann@example.com");
	assert_false(u.disabled);
	assert_int_equal(u.created_at, TS_NOW);
	store_user_clear(&u);
	tu_ok(store_user_get_id(f->st, id2, &u, &d), &d);
	assert_string_equal(u.name, "bob.smith_2-x");
	assert_string_equal(u.email, "");
	store_user_clear(&u);
	ts_expect(store_user_get(f->st, "nobody", &u, &d), -ERR_NOENT, &d,
	          "no user named 'nobody'");
	ts_expect(store_user_get_id(f->st, 999, &u, &d), -ERR_NOENT, &d,
	          "no user with id 999");
	/* In any case: the oldest of the spellings. */
	ts_expect(store_user_get(f->st, "Ann@Example.com", &u, &d), -ERR_NOENT,
	          &d, "no user named");
	tu_ok(store_user_add(f->st, "ANN@example.com", NULL, &id3, &d), &d);
	tu_ok(store_user_get_nocase(f->st, "Ann@Example.com", &u, &d), &d);
	assert_int_equal(u.id, id);
	assert_string_equal(u.name, "ann@example.com");
	store_user_clear(&u);
	tu_ok(store_user_remove(f->st, id3, &d), &d);
	tu_ok(store_user_get_nocase(f->st, "BOB.Smith_2-X", &u, &d), &d);
	assert_int_equal(u.id, id2);
	store_user_clear(&u);
	ts_expect(store_user_get_nocase(f->st, "nobody", &u, &d), -ERR_NOENT,
	          &d, "no user named 'nobody' in any case");

	tu_ok(store_user_set_disabled(f->st, id, true, &d), &d);
	tu_ok(store_user_get_id(f->st, id, &u, &d), &d);
	assert_true(u.disabled);
	store_user_clear(&u);
	ts_expect(store_user_set_disabled(f->st, 999, true, &d), -ERR_NOENT, &d,
	          "no user with id 999");

	tu_ok(store_user_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].name, "ann@example.com");
	assert_string_equal(l.v[1].name, "bob.smith_2-x");
	store_user_list_free(&l);

	tu_ok(store_user_remove(f->st, id2, &d), &d);
	ts_expect(store_user_remove(f->st, id2, &d), -ERR_NOENT, &d,
	          "no user with id");
	/* Ids are never reused. */
	assert_true(ts_user(f->st, "carol") > id2);
}

static void test_store_teams_and_members(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_team_list tl = {NULL, 0};
	struct store_user_list ul = {NULL, 0};
	struct store_member_list ml = {NULL, 0};
	struct store_team t;
	int64_t ann, bob, dev, ops;
	struct diag d;

	ann = ts_user(f->st, "ann");
	bob = ts_user(f->st, "bob");
	dev = ts_team(f->st, "dev");
	ops = ts_team(f->st, "ops");
	ts_expect(store_team_add(f->st, "everyone", NULL, &d), -ERR_INVALID, &d,
	          "'everyone' is reserved");
	ts_expect(store_team_add(f->st, "dev", NULL, &d), -ERR_EXISTS, &d,
	          "team 'dev' already exists");
	tu_ok(store_team_get(f->st, "ops", &t, &d), &d);
	assert_int_equal(t.id, ops);
	store_team_clear(&t);
	ts_expect(store_team_get(f->st, "qa", &t, &d), -ERR_NOENT, &d,
	          "no team named 'qa'");

	tu_ok(store_member_add(f->st, dev, ann, &d), &d);
	tu_ok(store_member_add(f->st, ops, ann, &d), &d);
	tu_ok(store_member_add(f->st, dev, bob, &d), &d);
	ts_expect(store_member_add(f->st, dev, ann, &d), -ERR_EXISTS, &d,
	          "user 'ann' is already a member of team 'dev'");
	ts_expect(store_member_add(f->st, 999, ann, &d), -ERR_NOENT, &d,
	          "no team with id 999");
	ts_expect(store_member_add(f->st, dev, 999, &d), -ERR_NOENT, &d,
	          "no user with id 999");

	tu_ok(store_member_teams(f->st, ann, &tl, &d), &d);
	assert_int_equal(tl.n, 2);
	assert_string_equal(tl.v[0].name, "dev");
	assert_string_equal(tl.v[1].name, "ops");
	store_team_list_free(&tl);
	tu_ok(store_member_users(f->st, dev, &ul, &d), &d);
	assert_int_equal(ul.n, 2);
	assert_string_equal(ul.v[0].name, "ann");
	assert_string_equal(ul.v[1].name, "bob");
	store_user_list_free(&ul);
	tu_ok(store_member_all(f->st, &ml, &d), &d);
	assert_int_equal(ml.n, 3);
	assert_int_equal(ml.v[0].user_id, ann); /* by user, then team */
	assert_int_equal(ml.v[0].team_id, dev);
	assert_int_equal(ml.v[2].user_id, bob);
	store_member_list_free(&ml);

	tu_ok(store_member_remove(f->st, ops, ann, &d), &d);
	ts_expect(store_member_remove(f->st, ops, ann, &d), -ERR_NOENT, &d,
	          "user 'ann' is not a member of team 'ops'");
	/* Removing a team takes its memberships with it. */
	tu_ok(store_team_remove(f->st, dev, &d), &d);
	tu_ok(store_member_all(f->st, &ml, &d), &d);
	assert_int_equal(ml.n, 0);
	store_member_list_free(&ml);
	tu_ok(store_team_list(f->st, &tl, &d), &d);
	assert_int_equal(tl.n, 1);
	store_team_list_free(&tl);
	ts_expect(store_team_remove(f->st, dev, &d), -ERR_NOENT, &d,
	          "no team with id");
	ts_expect(store_member_teams(f->st, 999, &tl, &d), -ERR_NOENT, &d,
	          "no user with id 999");
}

/* ---- Servers and grants ---- */

static void test_store_servers_crud(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_server_list l = {NULL, 0};
	struct store_server s;
	int64_t id;
	struct diag d;

	id = ts_server(f->st, "github");
	ts_expect(store_server_add(f->st, "github", "{}", NULL, &d),
	          -ERR_EXISTS, &d, "server 'github' already exists");
	ts_expect(store_server_add(f->st, "bad name", "{}", NULL, &d),
	          -ERR_INVALID, &d, "server name");
	ts_expect(store_server_add(f->st, "servers", "{}", NULL, &d),
	          -ERR_INVALID, &d, "reserved");
	ts_expect(store_server_add(f->st, "x", "{\"a\": ", NULL, &d),
	          -ERR_INVALID, &d, "server entry");
	ts_expect(store_server_add(f->st, "x", "[1]", NULL, &d), -ERR_INVALID,
	          &d, "must be a JSON object");
	ts_expect(
	    store_server_add(f->st, "x", "{\"a\": 1, \"a\": 2}", NULL, &d),
	    -ERR_INVALID, &d, "duplicate");

	store_set_now(f->st, TS_NOW + 60);
	tu_ok(store_server_set(f->st, id, "{\"command\": \"npx\"}", &d), &d);
	tu_ok(store_server_get(f->st, "github", &s, &d), &d);
	assert_string_equal(s.entry_json, "{\"command\": \"npx\"}");
	assert_int_equal(s.created_at, TS_NOW);
	assert_int_equal(s.updated_at, TS_NOW + 60);
	store_server_clear(&s);
	ts_expect(store_server_set(f->st, 999, "{}", &d), -ERR_NOENT, &d,
	          "no server with id 999");
	ts_expect(store_server_get(f->st, "gitlab", &s, &d), -ERR_NOENT, &d,
	          "no server named 'gitlab'");
	ts_server(f->st, "aaa");
	tu_ok(store_server_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "aaa");
	store_server_list_free(&l);
	tu_ok(store_server_remove(f->st, id, &d), &d);
	ts_expect(store_server_remove(f->st, id, &d), -ERR_NOENT, &d,
	          "no server with id");
}

static void test_store_grants_cascade_on_server_removal(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_grant_list l = {NULL, 0};
	int64_t gh, fs, ann, dev, g1 = 0, g2 = 0, g3 = 0;
	struct diag d;

	gh = ts_server(f->st, "github");
	fs = ts_server(f->st, "fs");
	ann = ts_user(f->st, "ann");
	dev = ts_team(f->st, "dev");
	tu_ok(
	    store_grant_add(f->st, gh, STORE_TARGET_EVERYONE, 0, NULL, &g1, &d),
	    &d);
	tu_ok(store_grant_add(
	          f->st, gh, STORE_TARGET_TEAM, dev,
	          &(struct store_grant_limits){.tools_allow = "[\"search\"]"},
	          &g2, &d),
	      &d);
	tu_ok(store_grant_add(f->st, gh, STORE_TARGET_USER, ann, NULL, &g3, &d),
	      &d);
	tu_ok(
	    store_grant_add(f->st, fs, STORE_TARGET_TEAM, dev, NULL, NULL, &d),
	    &d);
	ts_expect(store_grant_add(f->st, gh, STORE_TARGET_EVERYONE, 0, NULL,
	                          NULL, &d),
	          -ERR_EXISTS, &d,
	          "server 'github' is already granted to everyone");
	ts_expect(
	    store_grant_add(f->st, gh, STORE_TARGET_TEAM, dev, NULL, NULL, &d),
	    -ERR_EXISTS, &d, "already granted to team 'dev'");
	ts_expect(
	    store_grant_add(f->st, gh, STORE_TARGET_TEAM, 999, NULL, NULL, &d),
	    -ERR_NOENT, &d, "no team with id 999");
	ts_expect(store_grant_add(f->st, 999, STORE_TARGET_EVERYONE, 0, NULL,
	                          NULL, &d),
	          -ERR_NOENT, &d, "no server with id 999");
	ts_expect(store_grant_add(f->st, fs, STORE_TARGET_EVERYONE, 5, NULL,
	                          NULL, &d),
	          -ERR_INVALID, &d, "target id 0");
	ts_expect(
	    store_grant_add(f->st, fs, STORE_TARGET_USER, ann,
	                    &(struct store_grant_limits){.tools_allow = "[1]"},
	                    NULL, &d),
	    -ERR_INVALID, &d, "tools allow list[0] is not a string");

	tu_ok(store_grant_list(f->st, gh, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].id, g1);
	assert_int_equal(l.v[0].kind, STORE_TARGET_EVERYONE);
	assert_string_equal(l.v[0].target_name, "everyone");
	assert_int_equal(l.v[1].kind, STORE_TARGET_TEAM);
	assert_int_equal(l.v[1].target_id, dev);
	assert_string_equal(l.v[1].target_name, "dev");
	assert_string_equal(l.v[1].tools_allow, "[\"search\"]");
	assert_int_equal(l.v[2].id, g3);
	assert_string_equal(l.v[2].target_name, "ann");
	assert_string_equal(l.v[2].server_name, "github");
	store_grant_list_free(&l);
	tu_ok(store_grant_list(f->st, 0, &l, &d), &d);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].server_name, "fs"); /* by server name */
	store_grant_list_free(&l);

	/* Removing a server removes its grants, and only its. */
	tu_ok(store_server_remove(f->st, gh, &d), &d);
	tu_ok(store_grant_list(f->st, 0, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].server_name, "fs");
	store_grant_list_free(&l);
	ts_expect(store_grant_remove(f->st, g2, &d), -ERR_NOENT, &d,
	          "no grant with id");
	/* So does removing the team a grant targets. */
	tu_ok(store_team_remove(f->st, dev, &d), &d);
	tu_ok(store_grant_list(f->st, 0, &l, &d), &d);
	assert_int_equal(l.n, 0);
	store_grant_list_free(&l);
	/* And removing by id. */
	tu_ok(store_grant_add(f->st, fs, STORE_TARGET_USER, ann, NULL, &g1, &d),
	      &d);
	tu_ok(store_grant_remove(f->st, g1, &d), &d);
	ts_expect(store_grant_remove(f->st, g1, &d), -ERR_NOENT, &d,
	          "no grant with id");
}

/* ---- Secrets ---- */

static void test_store_secret_versions_increment(void **state)
{
	static const uint8_t key[CRYPTO_SEAL_KEY_LEN] = {1, 2, 3};
	struct ts_fixture *f = ts_fx(state);
	struct store_secret_list l = {NULL, 0};
	struct store_secret s;
	char aad[STORE_AAD_MAX];
	uint8_t *pt = NULL, junk[CRYPTO_SEAL_OVERHEAD + 1] = {0};
	size_t aadlen, ptlen;
	int64_t dev, ann, id1, id2, id3, v = 0, id = 0;
	struct diag d;

	dev = ts_team(f->st, "dev");
	ann = ts_user(f->st, "ann");
	ts_expect(
	    store_secret_next(f->st, "TOKEN", STORE_SCOPE_ORG, 0, &id, &v, &d),
	    -ERR_INVALID, &d, "needs an open transaction");
	id1 = ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev, "v1", &v);
	assert_int_equal(v, 1);
	id2 = ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev, "v2", &v);
	assert_int_equal(v, 2);
	id3 = ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_ORG, 0, "org", &v);
	assert_int_equal(v, 1);
	(void)ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_USER, ann, "mine",
	                &v);
	assert_int_equal(v, 1);
	assert_true(id2 > id1 && id3 > id2);

	/* The latest version opens with its own id as AAD, and only so. */
	tu_ok(store_secret_get(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev, &s,
	                       &d),
	      &d);
	assert_int_equal(s.id, id2);
	assert_int_equal(s.version, 2);
	assert_string_equal(s.scope_name, "dev");
	assert_int_equal(store_secret_aad(s.id, aad, &aadlen), 0);
	tu_ok(crypto_open(key, aad, aadlen, s.sealed, s.sealed_len, &pt, &ptlen,
	                  &d),
	      &d);
	assert_string_equal((char *)pt, "v2");
	crypto_secret_free(pt, ptlen);
	assert_int_equal(store_secret_aad(id1, aad, &aadlen), 0);
	assert_int_equal(crypto_open(key, aad, aadlen, s.sealed, s.sealed_len,
	                             &pt, &ptlen, &d),
	                 -ERR_VERIFY);
	store_secret_clear(&s);

	/* Lists: one row per name and scope, latest version, no value. */
	tu_ok(store_secret_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].scope, STORE_SCOPE_ORG);
	assert_string_equal(l.v[0].scope_name, "");
	assert_int_equal(l.v[1].scope, STORE_SCOPE_TEAM);
	assert_int_equal(l.v[1].version, 2);
	assert_int_equal(l.v[1].id, id2);
	assert_null(l.v[1].sealed);
	assert_int_equal(l.v[2].scope, STORE_SCOPE_USER);
	assert_string_equal(l.v[2].scope_name, "ann");
	store_secret_list_free(&l);
	tu_ok(store_secret_latest_all(f->st, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_non_null(l.v[1].sealed);
	assert_int_equal(l.v[1].sealed_len, 2 + CRYPTO_SEAL_OVERHEAD);
	store_secret_list_free(&l);

	/* Put only what was reserved, in the same transaction. */
	tu_ok(store_begin(f->st, &d), &d);
	ts_expect(store_secret_put(f->st, id1, junk, sizeof(junk), &d),
	          -ERR_INVALID, &d, "was not reserved");
	tu_ok(store_secret_next(f->st, "X", STORE_SCOPE_ORG, 0, &id, &v, &d),
	      &d);
	ts_expect(store_secret_put(f->st, id + 1, junk, sizeof(junk), &d),
	          -ERR_INVALID, &d, "was not reserved");
	ts_expect(store_secret_put(f->st, id, junk, 3, &d), -ERR_INVALID, &d,
	          "too short");
	tu_ok(store_rollback(f->st, &d), &d);
	ts_expect(store_secret_get(f->st, "X", STORE_SCOPE_ORG, 0, &s, &d),
	          -ERR_NOENT, &d, "no secret 'X' at org");

	tu_ok(store_begin(f->st, &d), &d);
	ts_expect(
	    store_secret_next(f->st, "T", STORE_SCOPE_TEAM, 999, &id, &v, &d),
	    -ERR_NOENT, &d, "no team with id 999");
	ts_expect(
	    store_secret_next(f->st, "9T", STORE_SCOPE_ORG, 0, &id, &v, &d),
	    -ERR_INVALID, &d, "secret name '9T' is not valid");
	ts_expect(
	    store_secret_next(f->st, "T", STORE_SCOPE_ORG, 3, &id, &v, &d),
	    -ERR_INVALID, &d, "scope id 0");
	tu_ok(store_rollback(f->st, &d), &d);

	/* Removing drops every version; a new one starts at 1 with a new id. */
	tu_ok(store_secret_remove(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev,
	                          &d),
	      &d);
	ts_expect(store_secret_remove(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM,
	                              dev, &d),
	          -ERR_NOENT, &d, "no secret 'GITHUB_TOKEN' at team 'dev'");
	ts_expect(store_secret_get(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev,
	                           &s, &d),
	          -ERR_NOENT, &d, "at team 'dev'");
	id = ts_secret(f->st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev, "v3", &v);
	assert_int_equal(v, 1);
	assert_true(id > id3);
}

/* ---- Enrollment tokens ---- */

static void test_store_token_lifecycle(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_token_list l = {NULL, 0};
	struct store_token t;
	char h1[STORE_HASH_HEX + 1], h2[STORE_HASH_HEX + 1],
	    h3[STORE_HASH_HEX + 1], h4[STORE_HASH_HEX + 1],
	    unknown[STORE_HASH_HEX + 1];
	int64_t ann, bob, t2 = 0;
	size_t n = 0;
	struct diag d;

	ann = ts_user(f->st, "ann");
	bob = ts_user(f->st, "bob");
	ts_hash("t1", h1);
	ts_hash("t2", h2);
	ts_hash("t3", h3);
	ts_hash("t4", h4);
	ts_hash("unknown", unknown);
	tu_ok(store_token_create(f->st, h1, ann, TS_NOW + 86400, 2, "admin:it",
	                         NULL, &d),
	      &d);
	ts_expect(store_token_create(f->st, h1, ann, TS_NOW + 86400, 1, NULL,
	                             NULL, &d),
	          -ERR_EXISTS, &d, "exists");
	ts_expect(
	    store_token_create(f->st, h2, 999, TS_NOW + 1, 1, NULL, NULL, &d),
	    -ERR_NOENT, &d, "no user with id 999");
	ts_expect(store_token_create(f->st, "ABC", ann, TS_NOW + 1, 1, NULL,
	                             NULL, &d),
	          -ERR_INVALID, &d, "token hash");
	ts_expect(
	    store_token_create(f->st, h2, ann, TS_NOW + 1, 0, NULL, NULL, &d),
	    -ERR_INVALID, &d, "uses");
	tu_ok(store_token_create(f->st, h2, ann, TS_NOW + 60, 1, NULL, &t2, &d),
	      &d);
	tu_ok(
	    store_token_create(f->st, h3, ann, TS_NOW + 60, 5, NULL, NULL, &d),
	    &d);
	tu_ok(
	    store_token_create(f->st, h4, bob, TS_NOW + 60, 5, NULL, NULL, &d),
	    &d);

	/* Consumed until used up. */
	tu_ok(store_token_consume(f->st, h1, TS_NOW, &t, &d), &d);
	assert_int_equal(t.uses_left, 1);
	assert_int_equal(t.user_id, ann);
	assert_string_equal(t.user_name, "ann");
	assert_string_equal(t.created_by, "admin:it");
	store_token_clear(&t);
	tu_ok(store_token_consume(f->st, h1, TS_NOW, NULL, &d), &d);
	ts_expect(store_token_consume(f->st, h1, TS_NOW, NULL, &d),
	          -ERR_CONFLICT, &d, "has been used up");
	/* Expired: at expires_at exactly, and after. */
	ts_expect(store_token_consume(f->st, h2, TS_NOW + 60, NULL, &d),
	          -ERR_VERIFY, &d, "expired at 2023-11-14T22:14:20Z");
	tu_ok(store_token_get_by_hash(f->st, h2, &t, &d), &d);
	assert_int_equal(t.uses_left, 1); /* untouched */
	store_token_clear(&t);
	/* Revoked. */
	tu_ok(store_token_revoke(f->st, t2, &d), &d);
	ts_expect(store_token_revoke(f->st, t2, &d), -ERR_CONFLICT, &d,
	          "already revoked");
	ts_expect(store_token_revoke(f->st, 999, &d), -ERR_NOENT, &d,
	          "no enrollment token with id 999");
	ts_expect(store_token_consume(f->st, h2, TS_NOW, NULL, &d), -ERR_PERM,
	          &d, "was revoked");
	/* Unknown. */
	ts_expect(store_token_consume(f->st, unknown, TS_NOW, NULL, &d),
	          -ERR_NOENT, &d, "unknown enrollment token");
	ts_expect(store_token_get_by_hash(f->st, unknown, &t, &d), -ERR_NOENT,
	          &d, "no enrollment token");
	/* The user is disabled. */
	tu_ok(store_user_set_disabled(f->st, bob, true, &d), &d);
	ts_expect(store_token_consume(f->st, h4, TS_NOW, NULL, &d), -ERR_PERM,
	          &d, "user 'bob' is disabled");
	tu_ok(store_user_set_disabled(f->st, bob, false, &d), &d);
	tu_ok(store_token_consume(f->st, h4, TS_NOW, NULL, &d), &d);

	/* Revoke every token of a user. */
	tu_ok(store_token_revoke_user(f->st, ann, &n, &d), &d);
	assert_int_equal(n, 2); /* h1 (used up) and h3; h2 was revoked */
	ts_expect(store_token_consume(f->st, h3, TS_NOW, NULL, &d), -ERR_PERM,
	          &d, "was revoked");
	tu_ok(store_token_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 4);
	assert_true(l.v[0].revoked && l.v[1].revoked && l.v[2].revoked);
	assert_false(l.v[3].revoked);
	assert_int_equal(l.v[3].uses_left, 4);
	store_token_list_free(&l);
}

/* ---- Devices ---- */

static void test_store_device_revoke(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_device_list l = {NULL, 0};
	struct store_id_list ids = {NULL, 0};
	struct store_device dev;
	char fp[STORE_HASH_HEX + 1];
	int64_t ann, bob;
	struct diag d;

	ann = ts_user(f->st, "ann");
	bob = ts_user(f->st, "bob");
	ts_device(f->st, "dev-c", ann, "0c");
	ts_device(f->st, "dev-a", ann, "0a");
	ts_device(f->st, "dev-b", ann, "0b");
	ts_device(f->st, "dev-z", bob, "ff");
	ts_hash("x", fp);
	ts_expect(store_device_create(f->st, "dev-a", ann, "h", "linux", "99",
	                              fp, 0, &d),
	          -ERR_EXISTS, &d, "device 'dev-a' already exists");
	ts_expect(store_device_create(f->st, "dev-d", ann, "h", "linux", "0a",
	                              fp, 0, &d),
	          -ERR_EXISTS, &d, "serial 0a is already registered");
	ts_expect(store_device_create(f->st, "dev-d", 999, "h", "linux", "0d",
	                              fp, 0, &d),
	          -ERR_NOENT, &d, "no user with id 999");
	ts_expect(store_device_create(f->st, "dev-d", ann, "h", "linux", "0D",
	                              fp, 0, &d),
	          -ERR_INVALID, &d, "lowercase hex");

	tu_ok(store_device_get_by_serial(f->st, "0b", &dev, &d), &d);
	assert_string_equal(dev.id, "dev-b");
	assert_string_equal(dev.user_name, "ann");
	assert_string_equal(dev.hostname, "laptop");
	assert_int_equal(dev.enrolled_at, TS_NOW);
	assert_int_equal(dev.last_seen, 0);
	assert_null(dev.report_json);
	store_device_clear(&dev);
	ts_expect(store_device_get(f->st, "dev-q", &dev, &d), -ERR_NOENT, &d,
	          "no device 'dev-q'");
	ts_expect(store_device_get_by_serial(f->st, "1234", &dev, &d),
	          -ERR_NOENT, &d, "serial 1234");

	tu_ok(store_device_touch(f->st, "dev-a", TS_NOW + 5, 7,
	                         "{\"codex\": {\"status\": \"ok\"}}", &d),
	      &d);
	tu_ok(store_device_touch(f->st, "dev-a", TS_NOW + 9, 8, NULL, &d), &d);
	tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
	assert_int_equal(dev.last_seen, TS_NOW + 9);
	assert_int_equal(dev.applied_revision, 8);
	assert_string_equal(dev.report_json,
	                    "{\"codex\": {\"status\": \"ok\"}}");
	store_device_clear(&dev);
	ts_expect(store_device_touch(f->st, "dev-q", 1, 1, NULL, &d),
	          -ERR_NOENT, &d, "no device 'dev-q'");
	/* Many at once: an unknown device passed over, a NULL report keeps
	 * the stored one; one bad entry and nothing is stored. */
	{
		const struct store_touch many[] = {
		    {"dev-a", TS_NOW + 20, 9, NULL},
		    {"dev-q", TS_NOW + 20, 9, "{}"},
		    {"dev-c", TS_NOW + 21, 4, "{\"claude\": \"a \\\" b\"}"},
		};
		const struct store_touch bad[] = {
		    {"dev-a", TS_NOW + 30, 10, NULL},
		    {"dev-c", TS_NOW + 30, 10, "[1]"},
		};

		tu_ok(store_device_touch_many(f->st, many, 3, &d), &d);
		tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
		assert_int_equal(dev.last_seen, TS_NOW + 20);
		assert_int_equal(dev.applied_revision, 9);
		assert_string_equal(dev.report_json,
		                    "{\"codex\": {\"status\": \"ok\"}}");
		store_device_clear(&dev);
		tu_ok(store_device_get(f->st, "dev-c", &dev, &d), &d);
		assert_int_equal(dev.last_seen, TS_NOW + 21);
		assert_int_equal(dev.applied_revision, 4);
		assert_string_equal(dev.report_json,
		                    "{\"claude\": \"a \\\" b\"}");
		store_device_clear(&dev);
		ts_expect(store_device_touch_many(f->st, bad, 2, &d),
		          -ERR_INVALID, &d, "device report");
		tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
		assert_int_equal(dev.applied_revision, 9);
		store_device_clear(&dev);
		tu_ok(store_device_touch_many(f->st, bad, 0, &d), &d);
	}

	store_set_now(f->st, TS_NOW + 100);
	tu_ok(store_device_revoke(f->st, "dev-b", "lost laptop", &d), &d);
	ts_expect(store_device_revoke(f->st, "dev-b", NULL, &d), -ERR_CONFLICT,
	          &d, "device 'dev-b' is already revoked");
	ts_expect(store_device_revoke(f->st, "dev-q", NULL, &d), -ERR_NOENT, &d,
	          "no device 'dev-q'");
	tu_ok(store_device_get(f->st, "dev-b", &dev, &d), &d);
	assert_int_equal(dev.status, STORE_DEVICE_REVOKED);
	assert_int_equal(dev.revoked_at, TS_NOW + 100);
	assert_string_equal(dev.revoke_reason, "lost laptop");
	store_device_clear(&dev);

	/* Revoke all: only the active ones, named in order. */
	tu_ok(store_device_revoke_user(f->st, ann, "offboarded", &ids, &d), &d);
	assert_int_equal(ids.n, 2);
	assert_string_equal(ids.v[0], "dev-a");
	assert_string_equal(ids.v[1], "dev-c");
	store_id_list_free(&ids);
	tu_ok(store_device_revoke_user(f->st, ann, NULL, &ids, &d), &d);
	assert_int_equal(ids.n, 0);
	store_id_list_free(&ids);
	ts_expect(store_device_revoke_user(f->st, 999, NULL, &ids, &d),
	          -ERR_NOENT, &d, "no user with id 999");

	tu_ok(store_device_list(f->st, ann, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].id, "dev-a");
	assert_int_equal(l.v[0].status, STORE_DEVICE_REVOKED);
	assert_string_equal(l.v[1].revoke_reason, "lost laptop");
	store_device_list_free(&l);
	tu_ok(store_device_list(f->st, 0, &l, &d), &d);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.v[3].status, STORE_DEVICE_ACTIVE);
	store_device_list_free(&l);
}

/*
 * Renewal: the new certificate becomes the device's, the one it replaces
 * still names the device until it expires, a serial is never reused, and a
 * revoked or unknown device cannot renew. A database of schema 7 migrates
 * to 8 with its devices' expiry unknown (0).
 */
static void test_store_device_renew(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_device_cert_list certs = {NULL, 0};
	struct store_device dev;
	char fp[STORE_HASH_HEX + 1], fp2[STORE_HASH_HEX + 1];
	int64_t ann, v = 0;
	struct diag d;

	ann = ts_user(f->st, "ann");
	ts_device(f->st, "dev-o", ann, "0f");
	store_close(f->st);
	f->st = NULL;
	/* Back to schema 7: a device enrolled before the expiry was kept. */
	ts_back_to_7(f->path);
	ts_reopen(f);
	tu_ok(store_schema_version(f->st, &v, &d), &d);
	assert_int_equal(v, TS_SCHEMA);
	tu_ok(store_device_get(f->st, "dev-o", &dev, &d), &d);
	assert_int_equal(dev.cert_not_after, 0);
	store_device_clear(&dev);

	ts_hash("a", fp);
	ts_hash("b", fp2);
	tu_ok(store_device_create(f->st, "dev-a", ann, "h", "linux", "0a", fp,
	                          TS_NOW + 100, &d),
	      &d);
	ts_expect(store_device_create(f->st, "dev-b", ann, "h", "linux", "0b",
	                              fp, -1, &d),
	          -ERR_INVALID, &d, "expiry is negative");
	tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
	assert_int_equal(dev.cert_renewed_at, 0);
	store_device_clear(&dev);
	tu_ok(store_device_renew(f->st, "dev-a", "1a", fp2, TS_NOW + 200, &d),
	      &d);
	tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
	assert_string_equal(dev.cert_serial, "1a");
	assert_int_equal(dev.cert_renewed_at, TS_NOW);
	assert_string_equal(dev.cert_fingerprint, fp2);
	assert_int_equal(dev.cert_not_after, TS_NOW + 200);
	store_device_clear(&dev);
	/* The replaced serial still names the device (and its state). */
	tu_ok(store_device_get_by_serial(f->st, "0a", &dev, &d), &d);
	assert_string_equal(dev.id, "dev-a");
	assert_string_equal(dev.cert_serial, "1a");
	store_device_clear(&dev);
	tu_ok(store_device_certs(f->st, &certs, &d), &d);
	assert_int_equal(certs.n, 1);
	assert_string_equal(certs.v[0].serial, "0a");
	assert_string_equal(certs.v[0].device_id, "dev-a");
	assert_int_equal(certs.v[0].not_after, TS_NOW + 100);
	store_device_cert_list_free(&certs);
	/* No serial twice, current or earlier, this device's or another's. */
	ts_expect(
	    store_device_renew(f->st, "dev-a", "0a", fp, TS_NOW + 300, &d),
	    -ERR_EXISTS, &d, "serial 0a is already registered");
	ts_expect(
	    store_device_renew(f->st, "dev-a", "0f", fp, TS_NOW + 300, &d),
	    -ERR_EXISTS, &d, "serial 0f is already registered");
	ts_expect(
	    store_device_renew(f->st, "dev-q", "2a", fp, TS_NOW + 300, &d),
	    -ERR_NOENT, &d, "no device 'dev-q'");
	ts_expect(
	    store_device_renew(f->st, "dev-a", "2A", fp, TS_NOW + 300, &d),
	    -ERR_INVALID, &d, "lowercase hex");
	ts_expect(store_device_renew(f->st, "dev-a", "2a", fp, -5, &d),
	          -ERR_INVALID, &d, "expiry is negative");
	/* 0a expired: the next renewal forgets it and keeps 1a. */
	store_set_now(f->st, TS_NOW + 150);
	tu_ok(store_device_renew(f->st, "dev-a", "2a", fp, TS_NOW + 400, &d),
	      &d);
	ts_expect(store_device_get_by_serial(f->st, "0a", &dev, &d), -ERR_NOENT,
	          &d, "serial 0a");
	tu_ok(store_device_certs(f->st, &certs, &d), &d);
	assert_int_equal(certs.n, 1);
	assert_string_equal(certs.v[0].serial, "1a");
	store_device_cert_list_free(&certs);
	tu_ok(store_device_get(f->st, "dev-a", &dev, &d), &d);
	assert_int_equal(dev.cert_renewed_at, TS_NOW + 150);
	store_device_clear(&dev);
	/* Unknown expiry (schema 7's device) is kept with its device. */
	tu_ok(store_device_renew(f->st, "dev-o", "1f", fp, TS_NOW + 400, &d),
	      &d);
	tu_ok(store_device_get_by_serial(f->st, "0f", &dev, &d), &d);
	assert_string_equal(dev.id, "dev-o");
	store_device_clear(&dev);
	/* Revoked: no renewal, and every serial it had stays revoked. */
	tu_ok(store_device_revoke(f->st, "dev-a", "lost", &d), &d);
	ts_expect(
	    store_device_renew(f->st, "dev-a", "3a", fp, TS_NOW + 500, &d),
	    -ERR_CONFLICT, &d, "device 'dev-a' is revoked");
	tu_ok(store_device_get_by_serial(f->st, "1a", &dev, &d), &d);
	assert_int_equal(dev.status, STORE_DEVICE_REVOKED);
	store_device_clear(&dev);
	/* The user's removal takes the devices and their earlier
	 * certificates. */
	tu_ok(store_device_revoke(f->st, "dev-o", NULL, &d), &d);
	tu_ok(store_user_remove(f->st, ann, &d), &d);
	tu_ok(store_device_certs(f->st, &certs, &d), &d);
	assert_int_equal(certs.n, 0);
	store_device_cert_list_free(&certs);
}

static void test_store_removal_rules(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_device dev;
	struct store_user u;
	int64_t ann, dev_team;
	struct diag d;

	ann = ts_user(f->st, "ann");
	dev_team = ts_team(f->st, "dev");
	tu_ok(store_member_add(f->st, dev_team, ann, &d), &d);
	ts_device(f->st, "dev-1", ann, "01");
	(void)ts_secret(f->st, "MINE", STORE_SCOPE_USER, ann, "x", NULL);
	(void)ts_secret(f->st, "SHARED", STORE_SCOPE_TEAM, dev_team, "y", NULL);

	ts_expect(store_user_remove(f->st, ann, &d), -ERR_CONFLICT, &d,
	          "user 'ann' has 1 active device; revoke it first");
	tu_ok(store_device_revoke(f->st, "dev-1", NULL, &d), &d);
	ts_expect(store_user_remove(f->st, ann, &d), -ERR_CONFLICT, &d,
	          "user 'ann' still owns 1 secret (first: 'MINE')");
	ts_expect(store_team_remove(f->st, dev_team, &d), -ERR_CONFLICT, &d,
	          "team 'dev' still owns 1 secret (first: 'SHARED')");
	tu_ok(store_secret_remove(f->st, "MINE", STORE_SCOPE_USER, ann, &d),
	      &d);
	tu_ok(store_user_remove(f->st, ann, &d), &d);
	ts_expect(store_user_get(f->st, "ann", &u, &d), -ERR_NOENT, &d, NULL);
	/* The revoked device went with its user. */
	ts_expect(store_device_get(f->st, "dev-1", &dev, &d), -ERR_NOENT, &d,
	          NULL);
	tu_ok(store_secret_remove(f->st, "SHARED", STORE_SCOPE_TEAM, dev_team,
	                          &d),
	      &d);
	tu_ok(store_team_remove(f->st, dev_team, &d), &d);
}

/* ---- Deliveries ---- */

/* Offboarding reports: stored in the transaction, the newest read back,
 * gone with their user. */
static void test_store_offboarding_reports(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_offboarding o = {0};
	int64_t ann = 0, bob = 0, id1 = 0, id2 = 0;
	struct diag d;

	tu_ok(store_user_add(f->st, "ann", NULL, &ann, &d), &d);
	tu_ok(store_user_add(f->st, "bob", NULL, &bob, &d), &d);
	ts_expect(store_offboarding_last(f->st, ann, &o, &d), -ERR_NOENT, &d,
	          "was never offboarded");
	tu_ok(store_offboarding_add(f->st, ann, "admin:root",
	                            "{\"user\":\"ann\",\"n\":1}", &id1, &d),
	      &d);
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_offboarding_add(f->st, ann, "scim:okta",
	                            "{\"user\":\"ann\",\"n\":2}", &id2, &d),
	      &d);
	tu_ok(store_commit(f->st, &d), &d);
	assert_true(id2 > id1);
	tu_ok(store_offboarding_last(f->st, ann, &o, &d), &d);
	assert_int_equal(o.id, id2);
	assert_int_equal(o.user_id, ann);
	assert_string_equal(o.actor, "scim:okta");
	assert_string_equal(o.report_json, "{\"user\":\"ann\",\"n\":2}");
	assert_int_equal(o.created_at, TS_NOW);
	store_offboarding_clear(&o);
	/* A rolled back report is not kept. */
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_offboarding_add(f->st, ann, "admin:root", "{\"n\":3}", NULL,
	                            &d),
	      &d);
	tu_ok(store_rollback(f->st, &d), &d);
	tu_ok(store_offboarding_last(f->st, ann, &o, &d), &d);
	assert_int_equal(o.id, id2);
	store_offboarding_clear(&o);
	ts_expect(store_offboarding_last(f->st, bob, &o, &d), -ERR_NOENT, &d,
	          "never offboarded");
	/* Bad input is refused with its reason. */
	ts_expect(
	    store_offboarding_add(f->st, ann, "admin:root", "[1]", NULL, &d),
	    -ERR_INVALID, &d, "offboarding report must be a JSON object");
	ts_expect(
	    store_offboarding_add(f->st, ann, "admin:root", "{", NULL, &d),
	    -ERR_INVALID, &d, "offboarding report");
	ts_expect(store_offboarding_add(f->st, ann, "", "{}", NULL, &d),
	          -ERR_INVALID, &d, "offboarding actor");
	ts_expect(
	    store_offboarding_add(f->st, 999, "admin:root", "{}", NULL, &d),
	    -ERR_NOENT, &d, "999");
	/* The reports go with their user. */
	tu_ok(store_user_remove(f->st, ann, &d), &d);
	assert_int_equal(ts_sql_int(f->path, "SELECT count(*) FROM "
	                                     "offboardings"),
	                 0);
}

/* SCIM records: put creates then replaces with version + 1, externalIds
 * are unique per kind, and a record goes with its user or team. */
static void test_store_scim_records(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_scim v = {0};
	struct store_user u = {0};
	int64_t ann = 0, bob = 0, dev = 0, id = 0;
	struct diag d;

	tu_ok(store_user_add(f->st, "ann", "ann@x.org", &ann, &d), &d);
	tu_ok(store_user_add(f->st, "bob", NULL, &bob, &d), &d);
	tu_ok(store_team_add(f->st, "dev", &dev, &d), &d);
	ts_expect(store_scim_get(f->st, STORE_SCIM_USER, ann, &v, &d),
	          -ERR_NOENT, &d, "has no SCIM record");
	ts_expect(store_scim_find(f->st, STORE_SCIM_USER, "okta-1", &id, &d),
	          -ERR_NOENT, &d, "no user with externalId 'okta-1'");

	tu_ok(store_scim_put(f->st, STORE_SCIM_USER, ann, "okta-1",
	                     "{\"displayName\":\"Ann\"}", false, &d),
	      &d);
	tu_ok(store_scim_get(f->st, STORE_SCIM_USER, ann, &v, &d), &d);
	assert_int_equal(v.id, ann);
	assert_string_equal(v.external_id, "okta-1");
	assert_string_equal(v.attrs_json, "{\"displayName\":\"Ann\"}");
	assert_false(v.deleted);
	assert_int_equal(v.version, 1);
	assert_int_equal(v.updated_at, TS_NOW);
	store_scim_clear(&v);
	store_set_now(f->st, TS_NOW + 5);
	tu_ok(store_scim_put(f->st, STORE_SCIM_USER, ann, "okta-1", "{}", true,
	                     &d),
	      &d);
	tu_ok(store_scim_get(f->st, STORE_SCIM_USER, ann, &v, &d), &d);
	assert_true(v.deleted);
	assert_int_equal(v.version, 2);
	assert_int_equal(v.updated_at, TS_NOW + 5);
	store_scim_clear(&v);
	tu_ok(store_scim_find(f->st, STORE_SCIM_USER, "okta-1", &id, &d), &d);
	assert_int_equal(id, ann);
	/* An externalId names one user; a team may have the same one. */
	ts_expect(store_scim_put(f->st, STORE_SCIM_USER, bob, "okta-1", "{}",
	                         false, &d),
	          -ERR_EXISTS, &d, "externalId 'okta-1' already names user");
	tu_ok(
	    store_scim_put(f->st, STORE_SCIM_USER, bob, NULL, "{}", false, &d),
	    &d);
	tu_ok(store_scim_get(f->st, STORE_SCIM_USER, bob, &v, &d), &d);
	assert_null(v.external_id);
	store_scim_clear(&v);
	tu_ok(store_scim_put(f->st, STORE_SCIM_GROUP, dev, "okta-1",
	                     "{\"displayName\":\"Dev team\"}", false, &d),
	      &d);
	tu_ok(store_scim_find(f->st, STORE_SCIM_GROUP, "okta-1", &id, &d), &d);
	assert_int_equal(id, dev);
	tu_ok(store_scim_get(f->st, STORE_SCIM_GROUP, dev, &v, &d), &d);
	assert_string_equal(v.attrs_json, "{\"displayName\":\"Dev team\"}");
	assert_int_equal(v.version, 1);
	store_scim_clear(&v);
	/* Bad input. */
	ts_expect(
	    store_scim_put(f->st, STORE_SCIM_USER, 999, NULL, "{}", false, &d),
	    -ERR_NOENT, &d, "no user with id 999");
	ts_expect(
	    store_scim_put(f->st, STORE_SCIM_GROUP, 999, NULL, "{}", false, &d),
	    -ERR_NOENT, &d, "no team with id 999");
	ts_expect(
	    store_scim_put(f->st, STORE_SCIM_USER, ann, NULL, "[]", false, &d),
	    -ERR_INVALID, &d, "SCIM attributes must be a JSON object");
	ts_expect(
	    store_scim_put(f->st, STORE_SCIM_USER, ann, "", "{}", false, &d),
	    -ERR_INVALID, &d, "externalId");
	/* The email setter the SCIM user PUT uses. */
	tu_ok(store_user_set_email(f->st, ann, "ann@y.org", &d), &d);
	tu_ok(store_user_get_id(f->st, ann, &u, &d), &d);
	assert_string_equal(u.email, "ann@y.org");
	store_user_clear(&u);
	tu_ok(store_user_set_email(f->st, ann, NULL, &d), &d);
	ts_expect(store_user_set_email(f->st, 999, "a@b", &d), -ERR_NOENT, &d,
	          "no user with id 999");
	/* Records go with their user and team. */
	tu_ok(store_user_remove(f->st, ann, &d), &d);
	tu_ok(store_team_remove(f->st, dev, &d), &d);
	assert_int_equal(ts_sql_int(f->path, "SELECT count(*) FROM scim_users"),
	                 1);
	assert_int_equal(
	    ts_sql_int(f->path, "SELECT count(*) FROM scim_groups"), 0);
}

static void test_store_deliveries_for_offboarding(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_delivery_list l = {NULL, 0};
	int64_t ann, bob, dev, org1, team1, team2, mine;
	struct diag d;

	ann = ts_user(f->st, "ann");
	bob = ts_user(f->st, "bob");
	dev = ts_team(f->st, "dev");
	ts_device(f->st, "dev-ann-1", ann, "a1");
	ts_device(f->st, "dev-ann-2", ann, "a2");
	ts_device(f->st, "dev-bob-1", bob, "b1");
	org1 = ts_secret(f->st, "ORG_KEY", STORE_SCOPE_ORG, 0, "o", NULL);
	team1 = ts_secret(f->st, "GH", STORE_SCOPE_TEAM, dev, "t1", NULL);
	mine = ts_secret(f->st, "BOB_ONLY", STORE_SCOPE_USER, bob, "b", NULL);

	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_delivery_record(f->st, "dev-ann-1", org1, 1, &d), &d);
	tu_ok(store_delivery_record(f->st, "dev-ann-1", team1, 1, &d), &d);
	tu_ok(store_delivery_record(f->st, "dev-ann-2", team1, 1, &d), &d);
	tu_ok(store_delivery_record(f->st, "dev-bob-1", mine, 1, &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	/* Pushed again in revision 2: the first record stays. */
	store_set_now(f->st, TS_NOW + 50);
	tu_ok(store_delivery_record(f->st, "dev-ann-1", team1, 2, &d), &d);
	/* Rotated: version 2 reaches one device in revision 3. */
	team2 = ts_secret(f->st, "GH", STORE_SCOPE_TEAM, dev, "t2", NULL);
	tu_ok(store_delivery_record(f->st, "dev-ann-1", team2, 3, &d), &d);
	ts_expect(store_delivery_record(f->st, "dev-none", team2, 3, &d),
	          -ERR_NOENT, &d, "no device 'dev-none'");
	ts_expect(store_delivery_record(f->st, "dev-ann-1", 999, 3, &d),
	          -ERR_NOENT, &d, "no secret record 999");
	/* Removing the secret does not erase what was delivered. */
	tu_ok(store_secret_remove(f->st, "GH", STORE_SCOPE_TEAM, dev, &d), &d);

	tu_ok(store_device_revoke_user(f->st, ann, "left", NULL, &d), &d);
	tu_ok(store_delivery_list_user(f->st, ann, &l, &d), &d);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].secret_name, "GH");
	assert_int_equal(l.v[0].scope, STORE_SCOPE_TEAM);
	assert_string_equal(l.v[0].scope_name, "dev");
	assert_int_equal(l.v[0].version, 1);
	assert_string_equal(l.v[0].device_id, "dev-ann-1");
	assert_int_equal(l.v[0].revision, 1);
	assert_int_equal(l.v[0].delivered_at, TS_NOW);
	assert_string_equal(l.v[1].device_id, "dev-ann-2");
	assert_int_equal(l.v[1].version, 1);
	assert_int_equal(l.v[2].version, 2);
	assert_int_equal(l.v[2].secret_id, team2);
	assert_int_equal(l.v[2].revision, 3);
	assert_string_equal(l.v[3].secret_name, "ORG_KEY");
	assert_int_equal(l.v[3].scope, STORE_SCOPE_ORG);
	assert_string_equal(l.v[3].scope_name, "");
	store_delivery_list_free(&l);
	/* Bob's list holds only his. */
	tu_ok(store_delivery_list_user(f->st, bob, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].secret_name, "BOB_ONLY");
	store_delivery_list_free(&l);
	ts_expect(store_delivery_list_user(f->st, 999, &l, &d), -ERR_NOENT, &d,
	          "no user with id 999");
}

/* ---- Admin tokens, revisions ---- */

static void test_store_admin_tokens(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_admin_token_list l = {NULL, 0};
	struct store_admin_token t;
	char h1[STORE_HASH_HEX + 1], h2[STORE_HASH_HEX + 1];
	int64_t id = 0;
	struct diag d;

	ts_hash("a1", h1);
	ts_hash("a2", h2);
	tu_ok(store_admin_token_add(f->st, "initial", ROLE_OWNER, h1, &id, &d),
	      &d);
	ts_expect(
	    store_admin_token_add(f->st, "again", ROLE_ADMIN, h1, NULL, &d),
	    -ERR_EXISTS, &d, "admin token with this hash exists");
	ts_expect(store_admin_token_add(f->st, "", ROLE_ADMIN, h2, NULL, &d),
	          -ERR_INVALID, &d, "admin token name is empty");
	ts_expect(store_admin_token_add(f->st, "odd", (enum role)ROLE_COUNT_,
	                                h2, NULL, &d),
	          -ERR_INVALID, &d, "is not a role");
	tu_ok(
	    store_admin_token_add(f->st, "ci bot", ROLE_AUDITOR, h2, NULL, &d),
	    &d);
	tu_ok(store_admin_token_get_by_hash(f->st, h1, &t, &d), &d);
	assert_int_equal(t.id, id);
	assert_string_equal(t.name, "initial");
	assert_string_equal(t.token_hash, h1);
	assert_false(t.revoked);
	assert_int_equal(t.role, ROLE_OWNER);
	store_admin_token_clear(&t);
	tu_ok(store_admin_token_get_by_hash(f->st, h2, &t, &d), &d);
	assert_int_equal(t.role, ROLE_AUDITOR);
	store_admin_token_clear(&t);
	tu_ok(store_admin_token_revoke(f->st, id, &d), &d);
	ts_expect(store_admin_token_revoke(f->st, id, &d), -ERR_CONFLICT, &d,
	          "already revoked");
	ts_expect(store_admin_token_revoke(f->st, 999, &d), -ERR_NOENT, &d,
	          "no admin token with id 999");
	tu_ok(store_admin_token_get_by_hash(f->st, h1, &t, &d), &d);
	assert_true(t.revoked);
	store_admin_token_clear(&t);
	tu_ok(store_admin_token_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].name, "ci bot");
	assert_int_equal(l.v[0].role, ROLE_OWNER);
	assert_int_equal(l.v[1].role, ROLE_AUDITOR);
	store_admin_token_list_free(&l);
}

/* Every role is stored and read back as itself, in both backends, and
 * the database refuses a name that is no role. */
static void test_store_admin_token_roles(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_admin_token t;
	char h[STORE_HASH_HEX + 1], seed[16], *msg;
	int r;
	struct diag d;

	for (r = 0; r < ROLE_COUNT_; r++) {
		(void)snprintf(seed, sizeof(seed), "role%d", r);
		ts_hash(seed, h);
		tu_ok(store_admin_token_add(f->st, role_name((enum role)r),
		                            (enum role)r, h, NULL, &d),
		      &d);
		ts_reopen(f);
		tu_ok(store_admin_token_get_by_hash(f->st, h, &t, &d), &d);
		assert_int_equal(t.role, r);
		assert_string_equal(t.name, role_name((enum role)r));
		store_admin_token_clear(&t);
	}
	assert_int_equal(ts_sql_int(f->path, "SELECT count(*) FROM "
	                                     "admin_tokens WHERE role = "
	                                     "'helpdesk'"),
	                 1);
	msg = ts_sql_fails(f->path, "UPDATE admin_tokens SET role = 'root' "
	                            "WHERE name = 'owner'");
	if (strstr(msg, "CHECK") == NULL && strstr(msg, "check") == NULL)
		fail_msg("not refused by the role's CHECK: %s", msg);
	free(msg);
}

/*
 * A database of schema 5, whose admin tokens had no role (each was a full
 * admin), migrates to 6 with every token an owner; tokens made after are
 * stored with their own role.
 */
static void test_store_admin_token_roles_migration(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_admin_token_list l = {NULL, 0};
	struct store_admin_token t;
	char h1[STORE_HASH_HEX + 1], h2[STORE_HASH_HEX + 1], sql[256];
	int64_t v = 0;
	struct diag d;

	ts_hash("old1", h1);
	ts_hash("new1", h2);
	tu_ok(
	    store_admin_token_add(f->st, "initial", ROLE_AUDITOR, h1, NULL, &d),
	    &d);
	store_close(f->st);
	f->st = NULL;
	/* Back to schema 5: the tables as they were (7's session columns
	 * and 8's offboardings, 9's SCIM records and 10's certificates too),
	 * with a token written the way schema 5's build wrote it. */
	ts_back_to_7(f->path);
	ts_sql(f->path, "ALTER TABLE admin_tokens DROP COLUMN role");
	ts_sql(f->path, "ALTER TABLE sessions DROP COLUMN identity");
	ts_sql(f->path, "ALTER TABLE sessions DROP COLUMN role");
	(void)snprintf(sql, sizeof(sql),
	               "INSERT INTO admin_tokens (name, token_hash, created_at,"
	               " revoked) VALUES ('ci', '%064d', 1, 1)",
	               7);
	ts_sql(f->path, sql);
	ts_set_version(f->path, "5");
	tu_ok(store_open(ts_backend, f->path, &f->st, &d), &d);
	store_set_now(f->st, TS_NOW);
	tu_ok(store_schema_version(f->st, &v, &d), &d);
	assert_int_equal(v, TS_SCHEMA);
	tu_ok(store_admin_token_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "initial");
	assert_int_equal(l.v[0].role, ROLE_OWNER);
	assert_string_equal(l.v[1].name, "ci");
	assert_int_equal(l.v[1].role, ROLE_OWNER);
	assert_true(l.v[1].revoked);
	store_admin_token_list_free(&l);
	tu_ok(store_admin_token_add(f->st, "desk", ROLE_HELPDESK, h2, NULL, &d),
	      &d);
	tu_ok(store_admin_token_get_by_hash(f->st, h2, &t, &d), &d);
	assert_int_equal(t.role, ROLE_HELPDESK);
	store_admin_token_clear(&t);
}

/* A database of schema 7 migrates to 8: its users get offboarding
 * reports. */
static void test_store_offboarding_migration(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_offboarding o = {0};
	int64_t v = 0, ann = 0;
	struct diag d;

	tu_ok(store_user_add(f->st, "ann", NULL, &ann, &d), &d);
	store_close(f->st);
	f->st = NULL;
	ts_back_to_7(f->path);
	tu_ok(store_open(ts_backend, f->path, &f->st, &d), &d);
	store_set_now(f->st, TS_NOW);
	tu_ok(store_schema_version(f->st, &v, &d), &d);
	assert_int_equal(v, TS_SCHEMA);
	ts_expect(store_offboarding_last(f->st, ann, &o, &d), -ERR_NOENT, &d,
	          "never offboarded");
	tu_ok(store_offboarding_add(f->st, ann, "admin:root", "{}", NULL, &d),
	      &d);
	tu_ok(store_offboarding_last(f->st, ann, &o, &d), &d);
	assert_string_equal(o.report_json, "{}");
	store_offboarding_clear(&o);
}

static void test_store_revisions(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_revision rev, got;
	int64_t n = 0;
	struct diag d;

	ts_expect(store_revision_latest(f->st, &got, &d), -ERR_NOENT, &d,
	          "no revision");
	tu_ok(store_revision_current(f->st, &n, &d), &d);
	assert_int_equal(n, 0);
	/* A bump is part of the caller's transaction. */
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_revision_bump(f->st, &n, &d), &d);
	assert_int_equal(n, 1);
	tu_ok(store_rollback(f->st, &d), &d);
	tu_ok(store_revision_current(f->st, &n, &d), &d);
	assert_int_equal(n, 0);
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_revision_bump(f->st, &n, &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	assert_int_equal(n, 1);
	memset(&rev, 0, sizeof(rev));
	rev.revision = 1;
	rev.leaf_count = 10000;
	ts_hash("root", rev.merkle_root);
	ts_hash("sig", rev.signature);
	tu_ok(store_revision_record(f->st, &rev, &d), &d);
	ts_expect(store_revision_record(f->st, &rev, &d), -ERR_EXISTS, &d,
	          "revision 1 is already recorded");
	rev.merkle_root[0] = 'X';
	rev.revision = 2;
	ts_expect(store_revision_record(f->st, &rev, &d), -ERR_INVALID, &d,
	          "merkle root");
	tu_ok(store_revision_latest(f->st, &got, &d), &d);
	assert_int_equal(got.revision, 1);
	assert_int_equal(got.leaf_count, 10000);
	assert_int_equal(got.created_at, TS_NOW);
	assert_string_equal(got.signature, rev.signature);
}

/* ---- Console sessions ---- */

static void ts_session(struct store_session *se, const char *seed, int64_t at)
{
	memset(se, 0, sizeof(*se));
	ts_hash(seed, se->id_hash);
	ts_hash("admin", se->admin_hash);
	(void)snprintf(se->csrf, sizeof(se->csrf), "csrf-%s", seed);
	se->created = at;
	se->last_used = at;
}

static void test_store_sessions(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_session a, b, c, got;
	size_t left = 99;
	struct diag d;

	ts_session(&a, "a", TS_NOW);
	ts_session(&b, "b", TS_NOW + 1);
	ts_session(&c, "c", TS_NOW + 2);
	tu_ok(store_session_put(f->st, &a, &d), &d);
	ts_expect(store_session_put(f->st, &a, &d), -ERR_EXISTS, &d, "exists");
	tu_ok(store_session_put(f->st, &b, &d), &d);
	tu_ok(store_session_put(f->st, &c, &d), &d);
	tu_ok(store_session_get(f->st, a.id_hash, &got, &d), &d);
	assert_string_equal(got.csrf, "csrf-a");
	assert_string_equal(got.admin_hash, a.admin_hash);
	assert_int_equal(got.created, TS_NOW);
	/* A restart (a new connection) still knows it. */
	ts_reopen(f);
	tu_ok(store_session_touch(f->st, a.id_hash, TS_NOW + 10, &d), &d);
	tu_ok(store_session_get(f->st, a.id_hash, &got, &d), &d);
	assert_int_equal(got.last_used, TS_NOW + 10);
	/* Bad input is named. */
	a.csrf[0] = '\0';
	ts_expect(store_session_put(f->st, &a, &d), -ERR_INVALID, &d, "CSRF");
	ts_expect(store_session_get(f->st, "zz", &got, &d), -ERR_INVALID, &d,
	          "session id hash");
	/* Keep 2: the least recently used (b) goes; then expiry by use. */
	tu_ok(store_session_prune(f->st, 0, 0, 2, &left, &d), &d);
	assert_int_equal(left, 2);
	ts_expect(store_session_get(f->st, b.id_hash, &got, &d), -ERR_NOENT, &d,
	          "no such session");
	tu_ok(store_session_prune(f->st, 0, TS_NOW + 5, 10, &left, &d), &d);
	assert_int_equal(left, 1);
	tu_ok(store_session_get(f->st, a.id_hash, &got, &d), &d);
	/* And by age. */
	tu_ok(store_session_prune(f->st, TS_NOW + 1, 0, 10, &left, &d), &d);
	assert_int_equal(left, 0);
	tu_ok(store_session_remove(f->st, a.id_hash, &d), &d);
	ts_expect(store_session_touch(f->st, a.id_hash, TS_NOW, &d), -ERR_NOENT,
	          &d, "no such session");
}

/* A session an identity provider opened: a person and a role, no token. */
static void test_store_session_identity(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_session a, got;
	struct diag d;

	ts_session(&a, "p", TS_NOW);
	a.admin_hash[0] = '\0';
	(void)snprintf(a.identity, sizeof(a.identity), "oidc:ada@example.com");
	(void)snprintf(a.role, sizeof(a.role), "helpdesk");
	tu_ok(store_session_put(f->st, &a, &d), &d);
	ts_reopen(f);
	tu_ok(store_session_get(f->st, a.id_hash, &got, &d), &d);
	assert_string_equal(got.identity, "oidc:ada@example.com");
	assert_string_equal(got.role, "helpdesk");
	assert_string_equal(got.admin_hash, "");
	/* A token's session reads back without either. */
	ts_session(&a, "t", TS_NOW);
	tu_ok(store_session_put(f->st, &a, &d), &d);
	tu_ok(store_session_get(f->st, a.id_hash, &got, &d), &d);
	assert_string_equal(got.identity, "");
	assert_string_equal(got.role, "");
	/* One or the other: not both, not an identity without a role. */
	ts_session(&a, "both", TS_NOW);
	(void)snprintf(a.identity, sizeof(a.identity), "oidc:x@example.com");
	(void)snprintf(a.role, sizeof(a.role), "admin");
	ts_expect(store_session_put(f->st, &a, &d), -ERR_INVALID, &d,
	          "names no identity or role");
	a.admin_hash[0] = '\0';
	a.role[0] = '\0';
	ts_expect(store_session_put(f->st, &a, &d), -ERR_INVALID, &d,
	          "session role is empty");
	a.identity[0] = '\0';
	ts_expect(store_session_put(f->st, &a, &d), -ERR_INVALID, &d,
	          "session admin token hash");
}

/* ---- Replication ---- */

static void test_store_sqlite_not_shared(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_listener *l = NULL;
	struct store_pub_entry e;
	struct diag d;

	if (ts_pg())
		return; /* test_store_pg_replication */
	assert_false(store_shared(f->st));
	memset(&e, 0, sizeof(e));
	ts_expect(store_pub_entry_put(f->st, &e, &d), -ERR_INVALID, &d,
	          "not shared");
	ts_expect(store_revocation_get(f->st, "dev-1", NULL, NULL, &d),
	          -ERR_INVALID, &d, "use PostgreSQL");
	tu_ok(store_notify(f->st, "devices", &d), &d);
	ts_expect(store_listen("sqlite", f->path, &l, &d), -ERR_INVALID, &d,
	          "sends no notifications");
	assert_null(l);
}

/* Waits up to 2 s for notifications on l; returns how many came. */
static size_t ts_listen_wait(struct store_listener *l)
{
	size_t n = 0, got = 0;
	struct diag d;
	int i;

	for (i = 0; i < 40 && got == 0; i++) {
		tu_ok(store_listener_read(l, NULL, NULL, &n, &d), &d);
		got += n;
		if (got == 0)
			tu_sleep_ms(50);
	}
	return got;
}

/* Reads notifications until none has come for 300 ms. */
static void ts_listen_drain(struct store_listener *l)
{
	size_t n = 0;
	struct diag d;
	int quiet = 0, i;

	for (i = 0; i < 100 && quiet < 6; i++) {
		tu_ok(store_listener_read(l, NULL, NULL, &n, &d), &d);
		quiet = n > 0 ? 0 : quiet + 1;
		tu_sleep_ms(50);
	}
}

static void test_store_pg_replication(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_pub_entry_list l = {NULL, 0};
	struct store_id_list ids = {NULL, 0};
	struct store_listener *li = NULL;
	struct store_revision rev;
	struct store_pub_entry e;
	uint8_t env[3] = {1, 2, 3}, env2[2] = {9, 9}, *got = NULL;
	size_t len = 0, n = 0;
	int64_t uid = 0, next = 0;
	struct diag d;

	assert_true(store_shared(f->st));
	tu_ok(store_listen("postgres", f->path, &li, &d), &d);
	assert_true(store_listener_fd(li) >= 0);
	tu_ok(store_user_add(f->st, "ann", NULL, &uid, &d), &d);
	/* Entries: put, replace, read those after a revision. */
	memset(&e, 0, sizeof(e));
	e.user_id = uid;
	e.user = "ann";
	e.envelope = env;
	e.envelope_len = sizeof(env);
	ts_hash("view", e.view_hash);
	e.secret_ids = "3,4";
	e.omitted_json = "[]";
	e.device_id = "dev-a";
	e.revision = 5;
	tu_ok(store_pub_entry_put(f->st, &e, &d), &d);
	e.device_id = "dev-b";
	tu_ok(store_pub_entry_put(f->st, &e, &d), &d);
	e.revision = 6;
	e.secret_ids = "";
	tu_ok(store_pub_entry_put(f->st, &e, &d), &d);
	tu_ok(store_pub_entry_since(f->st, 5, &l, &ids, &d), &d);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].device_id, "dev-b");
	assert_int_equal(l.v[0].revision, 6);
	assert_string_equal(l.v[0].secret_ids, "");
	assert_int_equal(l.v[0].envelope_len, sizeof(env));
	assert_memory_equal(l.v[0].envelope, env, sizeof(env));
	assert_int_equal(ids.n, 2);
	assert_string_equal(ids.v[0], "dev-a");
	store_pub_entry_list_free(&l);
	store_id_list_free(&ids);
	/* A revision of every device drops the older entries. */
	tu_ok(store_pub_entry_prune(f->st, 6, &d), &d);
	tu_ok(store_pub_entry_since(f->st, 0, &l, &ids, &d), &d);
	assert_int_equal(l.n, 1);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], "dev-b");
	store_pub_entry_list_free(&l);
	store_id_list_free(&ids);

	/* A revision of every device replaces them all, in one copy whose
	 * text survives as it was (backslashes, tabs, line breaks). */
	e.device_id = "dev-c";
	e.revision = 7;
	e.omitted_json = "[{\"server\":\"a\\\\b\",\"reason\":\"x\ty\nz\"}]";
	e.secret_ids = "1,2";
	tu_ok(store_pub_entry_replace(f->st, &e, 1, 7, &d), &d);
	ts_expect(store_pub_entry_replace(f->st, &e, 1, 8, &d), -ERR_INVALID,
	          &d, "signed at 7, not 8");
	tu_ok(store_pub_entry_since(f->st, 0, &l, &ids, &d), &d);
	assert_int_equal(l.n, 1);
	assert_int_equal(ids.n, 1);
	assert_string_equal(l.v[0].device_id, "dev-c");
	assert_string_equal(l.v[0].omitted_json, e.omitted_json);
	assert_string_equal(l.v[0].secret_ids, "1,2");
	assert_memory_equal(l.v[0].envelope, env, sizeof(env));
	store_pub_entry_list_free(&l);
	store_id_list_free(&ids);

	/* The revision counter never goes below a recorded revision. */
	memset(&rev, 0, sizeof(rev));
	rev.revision = 50;
	ts_hash("root", rev.merkle_root);
	ts_hash("sig", rev.signature);
	(void)ts_listen_wait(li);
	tu_ok(store_revision_record(f->st, &rev, &d), &d);
	assert_true(ts_listen_wait(li) >= 1); /* "revision 50" */
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_revision_bump(f->st, &next, &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	assert_int_equal(next, 51);

	/* A revocation is stored once: the first one put stays. */
	tu_ok(store_device_create(f->st, "dev-a", uid, "h", "linux", "ab",
	                          "0123456789abcdef0123456789abcdef0123456789a"
	                          "bcdef0123456789abcdef",
	                          0, &d),
	      &d);
	assert_true(ts_listen_wait(li) >= 1); /* "devices" */
	ts_expect(store_revocation_get(f->st, "dev-a", &got, &len, &d),
	          -ERR_NOENT, &d, "no revocation");
	tu_ok(store_revocation_put(f->st, "dev-a", env, sizeof(env), &d), &d);
	tu_ok(store_revocation_put(f->st, "dev-a", env2, sizeof(env2), &d), &d);
	tu_ok(store_revocation_get(f->st, "dev-a", &got, &len, &d), &d);
	assert_int_equal(len, sizeof(env));
	assert_memory_equal(got, env, sizeof(env));
	free(got);

	/* A notification is delivered when its transaction commits, and
	 * not at all when it rolls back. (Those of the revocations above
	 * may still be on their way.) */
	ts_listen_drain(li);
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_notify(f->st, "devices", &d), &d);
	tu_sleep_ms(100);
	tu_ok(store_listener_read(li, NULL, NULL, &n, &d), &d);
	assert_int_equal(n, 0);
	tu_ok(store_rollback(f->st, &d), &d);
	tu_sleep_ms(100);
	tu_ok(store_listener_read(li, NULL, NULL, &n, &d), &d);
	assert_int_equal(n, 0);
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_notify(f->st, "devices", &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	assert_int_equal(ts_listen_wait(li), 1);
	store_listener_close(li);
}

/* ---- Audit log ---- */

/* Appends n rows: user.add u0, u1, ... with details on the even ones. */
static void ts_audit_rows(struct store *st, int n)
{
	char target[32], details[64];
	int64_t id = 0;
	struct diag d;
	int i;

	for (i = 0; i < n; i++) {
		(void)snprintf(target, sizeof(target), "u%d", i);
		(void)snprintf(details, sizeof(details), "{\"n\": %d}", i);
		store_set_now(st, TS_NOW + i);
		tu_ok(store_audit_append(st, "admin:root", "user.add", target,
		                         i % 2 == 0 ? details : NULL, &id, &d),
		      &d);
		assert_int_equal(id, i + 1);
	}
}

/* Appends n rows whose ids start at first. */
static void ts_audit_rows_from(struct store *st, int64_t first, int n)
{
	int64_t id = 0;
	struct diag d;
	int i;

	for (i = 0; i < n; i++) {
		store_set_now(st, TS_NOW + first + i);
		tu_ok(store_audit_append(st, "admin:root", "user.add", "late",
		                         NULL, &id, &d),
		      &d);
		assert_int_equal(id, first + i);
	}
}

static void test_store_audit_chain_verifies(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_list l = {NULL, 0};
	char h[STORE_HASH_HEX + 1];
	int64_t rows = 0, bad = -1;
	struct diag d;
	size_t i;

	tu_ok(store_audit_verify(f->st, &rows, &bad, &d), &d);
	assert_int_equal(rows, 0);
	ts_audit_rows(f->st, 2500); /* more than one verification page */
	tu_ok(store_audit_verify(f->st, &rows, &bad, &d), &d);
	assert_int_equal(rows, 2500);
	assert_int_equal(bad, -1);

	tu_ok(store_audit_list(f->st, 0, 0, 10, &l, &d), &d);
	assert_int_equal(l.n, 10);
	assert_string_equal(l.v[0].prev_hash,
	                    "00000000000000000000000000000000"
	                    "00000000000000000000000000000000");
	for (i = 1; i < l.n; i++)
		assert_string_equal(l.v[i].prev_hash, l.v[i - 1].hash);
	assert_string_equal(l.v[0].details, "{\"n\": 0}");
	assert_null(l.v[1].details);
	assert_int_equal(store_audit_hash(&l.v[3], h), 0);
	assert_string_equal(h, l.v[3].hash);
	store_audit_list_free(&l);
	/* since (time) and after (id) page through it. */
	tu_ok(store_audit_list(f->st, TS_NOW + 2490, 0, 100, &l, &d), &d);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.v[0].id, 2491);
	store_audit_list_free(&l);
	tu_ok(store_audit_list(f->st, 0, 2498, 100, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_audit_list_free(&l);
	ts_expect(store_audit_list(f->st, 0, 0, 0, &l, &d), -ERR_INVALID, &d,
	          "limit");
	ts_expect(store_audit_append(f->st, "", "x", "", NULL, NULL, &d),
	          -ERR_INVALID, &d, "audit actor is empty");
	ts_expect(store_audit_append(f->st, "a", "x", "", "[1]", NULL, &d),
	          -ERR_INVALID, &d, "audit details must be a JSON object");
}

/* store_audit_find(): by action (exact, or a prefix ending in '.'), a
 * part of the actor, time and ids, oldest or newest first; the same on
 * both backends. */
static void test_store_audit_find_filters(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_filter q = {.limit = 100};
	struct store_audit_list l = {NULL, 0};
	static const char *const rows[][2] = {
	    {"admin:root", "user.add"},
	    {"admin:root (console)", "user.offboard"},
	    {"admin:ci", "server.add"},
	    {"admin:root (console)", "user.add"},
	    {"peer:127.0.0.1", "session.refused"},
	    {"admin:ci", "users.bulk"},
	};
	struct diag d;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		store_set_now(f->st, TS_NOW + (int64_t)i * 10);
		tu_ok(store_audit_append(f->st, rows[i][0], rows[i][1], "t",
		                         NULL, NULL, &d),
		      &d);
	}
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.v[0].id, 1);
	store_audit_list_free(&l);
	/* Newest first, paged with before. */
	q.newest = true;
	q.limit = 2;
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].id, 6);
	assert_int_equal(l.v[1].id, 5);
	q.before_id = l.v[1].id;
	store_audit_list_free(&l);
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].id, 4);
	store_audit_list_free(&l);
	/* An action exactly; "user." every user.* and not users.bulk. */
	q = (struct store_audit_filter){.action = "user.add", .limit = 100};
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[1].id, 4);
	store_audit_list_free(&l);
	q.action = "user.";
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 3);
	for (i = 0; i < l.n; i++)
		assert_int_equal(strncmp(l.v[i].action, "user.", 5), 0);
	store_audit_list_free(&l);
	q.action = "user";
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 0);
	store_audit_list_free(&l);
	/* A part of the actor, with an action and a time window. */
	q = (struct store_audit_filter){.actor = "root", .limit = 100};
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 3);
	store_audit_list_free(&l);
	q.actor = "(console)";
	q.action = "user.";
	q.newest = true;
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].id, 4);
	assert_string_equal(l.v[1].action, "user.offboard");
	store_audit_list_free(&l);
	q = (struct store_audit_filter){
	    .since = TS_NOW + 10, .until = TS_NOW + 40, .limit = 100};
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].id, 2);
	assert_int_equal(l.v[2].id, 4);
	store_audit_list_free(&l);
	q = (struct store_audit_filter){
	    .after_id = 2, .before_id = 5, .limit = 100};
	tu_ok(store_audit_find(f->st, &q, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_audit_list_free(&l);
	q.limit = 0;
	ts_expect(store_audit_find(f->st, &q, &l, &d), -ERR_INVALID, &d,
	          "limit");
	q.limit = 1;
	q.before_id = -1;
	ts_expect(store_audit_find(f->st, &q, &l, &d), -ERR_INVALID, &d,
	          "negative");
}

static void test_store_audit_edited_row_named(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	int64_t bad = 0;
	char *msg;
	struct diag d;

	ts_audit_rows(f->st, 20);
	/* The table itself refuses edits... */
	msg =
	    ts_sql_fails(f->path, "UPDATE audit SET target = 'x' WHERE id = 7");
	assert_non_null(strstr(msg, "append-only"));
	free(msg);
	msg = ts_sql_fails(f->path, "DELETE FROM audit WHERE id = 7");
	assert_non_null(strstr(msg, "append-only"));
	free(msg);
	/* ...but someone with the file can drop the trigger. */
	ts_drop_trigger(f->path, "audit_no_update");
	ts_sql(f->path, "UPDATE audit SET target = 'mallory' WHERE id = 7");
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 7: its content does not match its hash");
	assert_int_equal(bad, 7);
	/* Restored, the walk goes on to the next edit. */
	ts_sql(f->path, "UPDATE audit SET target = 'u6' WHERE id = 7;"
	                "UPDATE audit SET hash = prev_hash WHERE id = 12");
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 12: its content does not match");
	assert_int_equal(bad, 12);
}

static void test_store_audit_relinked_row_named(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_list l = {NULL, 0};
	char h[STORE_HASH_HEX + 1], sql[512];
	int64_t bad = 0;
	struct diag d;

	ts_audit_rows(f->st, 10);
	/* Rewrite row 4 and give it a valid hash of its new content: row 4
	 * checks, row 5's link to it does not. */
	tu_ok(store_audit_list(f->st, 0, 3, 1, &l, &d), &d);
	assert_int_equal(l.v[0].id, 4);
	free(l.v[0].target);
	l.v[0].target = strdup("forged");
	assert_int_equal(store_audit_hash(&l.v[0], h), 0);
	ts_drop_trigger(f->path, "audit_no_update");
	(void)snprintf(sql, sizeof(sql),
	               "UPDATE audit SET target = 'forged', hash = '%s' "
	               "WHERE id = 4",
	               h);
	store_audit_list_free(&l);
	ts_sql(f->path, sql);
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 5: its link does not match the hash of row 4");
	assert_int_equal(bad, 5);
}

static void test_store_audit_deleted_row_named(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	int64_t bad = 0;
	struct diag d;

	ts_audit_rows(f->st, 20);
	ts_drop_trigger(f->path, "audit_no_delete");
	ts_sql(f->path, "DELETE FROM audit WHERE id IN (9, 10)");
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 11: rows 9..10 before it are missing (deleted)");
	assert_int_equal(bad, 11);
}

static void test_store_audit_truncated_tail_named(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	int64_t bad = 0, id = 0;
	struct diag d;

	ts_audit_rows(f->st, 20);
	ts_drop_trigger(f->path, "audit_no_delete");
	ts_sql(f->path, "DELETE FROM audit WHERE id > 17");
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit rows 18..20 are missing");
	assert_int_equal(bad, 18);
	/* Appending goes on after the head: the gap stays visible. */
	tu_ok(store_audit_append(f->st, "system", "x", "", NULL, &id, &d), &d);
	assert_int_equal(id, 21);
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "rows 18..20 before it are missing");
	assert_int_equal(bad, 21);
}

/* ---- The keyed chain and checkpoints ---- */

static const uint8_t ts_audit_key[STORE_AUDIT_KEY_LEN] = {
    0xa1, 0x7e, 0x5e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};

/*
 * Rewrites row `from` (target forged) and recomputes the plain SHA-256
 * chain from it to row `to`, as anyone with the database but without the
 * audit key can: every hash and link consistent. The caller has dropped
 * the trigger that refuses updates.
 */
static void ts_audit_rechain(struct ts_fixture *f, int64_t from, int64_t to)
{
	struct store_audit_list l = {NULL, 0};
	char prev[STORE_HASH_HEX + 1], sql[512];
	struct store *plain = NULL;
	struct diag d;
	size_t i;

	tu_ok(store_open(ts_backend, f->path, &plain, &d), &d);
	tu_ok(store_audit_list(plain, 0, from - 2 > 0 ? from - 2 : 0,
	                       (size_t)(to - from + 2), &l, &d),
	      &d);
	prev[0] = '\0';
	for (i = 0; i < l.n; i++) {
		if (l.v[i].id < from) {
			memcpy(prev, l.v[i].hash, sizeof(prev));
			continue;
		}
		if (l.v[i].id == from) {
			free(l.v[i].target);
			l.v[i].target = strdup("forged");
		}
		if (prev[0] != '\0')
			memcpy(l.v[i].prev_hash, prev, sizeof(prev));
		assert_int_equal(store_audit_hash(&l.v[i], l.v[i].hash), 0);
		(void)snprintf(sql, sizeof(sql),
		               "UPDATE audit SET target = '%s', prev_hash = "
		               "'%s', hash = '%s' WHERE id = %" PRId64,
		               l.v[i].target, l.v[i].prev_hash, l.v[i].hash,
		               l.v[i].id);
		ts_sql(f->path, sql);
		memcpy(prev, l.v[i].hash, sizeof(prev));
	}
	store_audit_list_free(&l);
	store_close(plain);
}

static void test_store_audit_keyed_rewrite_detected(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_head h;
	struct store_audit_list l = {NULL, 0};
	struct store *plain = NULL;
	char h4[STORE_HASH_HEX + 1];
	int64_t bad = 0, rows = 0;
	struct diag d;

	ts_expect(store_audit_key(f->st, ts_audit_key, 0, &d), -ERR_INVALID, &d,
	          "keyed_from 0");
	tu_ok(store_audit_key(f->st, ts_audit_key, 1, &d), &d);
	ts_audit_rows(f->st, 12);
	tu_ok(store_audit_verify_head(f->st, NULL, &h, &bad, &d), &d);
	assert_int_equal(h.rows, 12);
	assert_int_equal(h.keyed_from, 1);
	assert_int_equal(h.at, TS_NOW + 11);
	/* A keyed row is not its plain SHA-256. */
	tu_ok(store_audit_list(f->st, 0, 3, 1, &l, &d), &d);
	assert_int_equal(store_audit_hash(&l.v[0], h4), 0);
	assert_string_not_equal(h4, l.v[0].hash);
	store_audit_list_free(&l);
	/* Without the key, the chain does not check. */
	tu_ok(store_open(ts_backend, f->path, &plain, &d), &d);
	ts_expect(store_audit_verify(plain, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 1: its content does not match its hash (the row "
	          "was edited, or it is keyed");
	/* Row 1 rewritten and the plain chain recomputed from it to the
	 * end: consistent to anyone without the key... */
	ts_drop_trigger(f->path, "audit_no_update");
	ts_audit_rechain(f, 1, 12);
	tu_ok(store_audit_verify(plain, &rows, NULL, &d), &d);
	assert_int_equal(rows, 12);
	store_close(plain);
	/* ...but not under it. */
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 1: its hash is not the audit key's HMAC of its "
	          "content");
	assert_int_equal(bad, 1);
}

static void test_store_audit_keyed_from_later_row(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_head h;
	int64_t bad = 0, next = 0;
	bool sealed = true;
	struct diag d;

	/* An installation from before audit keys: five plain rows, then the
	 * key from the next row on. */
	ts_audit_rows(f->st, 5);
	tu_ok(store_audit_next_id(f->st, &next, &sealed, &d), &d);
	assert_int_equal(next, 6);
	assert_false(sealed);
	tu_ok(store_audit_key(f->st, ts_audit_key, next, &d), &d);
	tu_ok(store_audit_append(f->st, "system", "audit.key", "",
	                         "{\"keyed_from\": 6}", NULL, &d),
	      &d);
	tu_ok(store_audit_append(f->st, "admin:root", "user.add", "x", NULL,
	                         NULL, &d),
	      &d);
	tu_ok(store_audit_verify_head(f->st, NULL, &h, &bad, &d), &d);
	assert_int_equal(h.rows, 7);
	assert_int_equal(h.keyed_from, 6);
	tu_ok(store_audit_next_id(f->st, &next, &sealed, &d), &d);
	assert_int_equal(next, 8);
	assert_true(sealed);
	/* The plain rows before the key are pinned by the first keyed row:
	 * rewriting one and recomputing the plain chain breaks its link. */
	ts_drop_trigger(f->path, "audit_no_update");
	ts_audit_rechain(f, 2, 5);
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 6: its link does not match the hash of row 5");
	assert_int_equal(bad, 6);
	/* And relinking row 6 needs the key. */
	ts_audit_rechain(f, 6, 7);
	ts_expect(store_audit_verify(f->st, NULL, &bad, &d), -ERR_VERIFY, &d,
	          "audit row 6: its hash is not the audit key's HMAC");
	assert_int_equal(bad, 6);
}

static void test_store_audit_checkpoint_truncation(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_head cp, h, other;
	struct store *st2 = NULL;
	int64_t bad = 0, rows = 0, seal17 = 0;
	char sql[128];
	struct diag d;

	tu_ok(store_audit_key(f->st, ts_audit_key, 1, &d), &d);
	ts_audit_rows(f->st, 17);
	seal17 = ts_sql_int(f->path,
	                    "SELECT value FROM meta WHERE key = 'audit_seal'");
	assert_true(seal17 != 0);
	ts_audit_rows_from(f->st, 18, 3);
	tu_ok(store_audit_verify_head(f->st, NULL, &cp, NULL, &d), &d);
	assert_int_equal(cp.rows, 20);
	/* The checkpoint holds, and rows after it do not matter. */
	ts_audit_rows_from(f->st, 21, 3);
	tu_ok(store_audit_verify_head(f->st, &cp, &h, &bad, &d), &d);
	assert_int_equal(h.rows, 23);
	/* The last rows deleted and the head lowered to match: the head's
	 * seal, which needs the key, names another row... */
	ts_drop_trigger(f->path, "audit_no_delete");
	ts_sql(f->path, "DELETE FROM audit WHERE id > 17");
	ts_sql(f->path, "UPDATE meta SET value = 17 WHERE key = 'audit_head'");
	ts_expect(store_audit_verify(f->st, &rows, &bad, &d), -ERR_VERIFY, &d,
	          "audit head: row 17 does not carry the audit key's seal");
	assert_int_equal(bad, 18);
	/* ...unless the seal of that older head was kept and put back: then
	 * the chain alone verifies, even under the key... */
	(void)snprintf(sql, sizeof(sql),
	               "UPDATE meta SET value = %" PRId64
	               " WHERE key = 'audit_seal'",
	               seal17);
	ts_sql(f->path, sql);
	tu_ok(store_audit_verify(f->st, &rows, &bad, &d), &d);
	assert_int_equal(rows, 17);
	/* ...the checkpoint names the rows that went. */
	ts_expect(store_audit_verify_head(f->st, &cp, NULL, &bad, &d),
	          -ERR_VERIFY, &d,
	          "audit rows 18..20 are missing: the checkpoint counted 20 "
	          "rows but the log ends at row 17");
	assert_int_equal(bad, 18);
	/* New rows in their place are not the ones it counted. */
	ts_audit_rows_from(f->st, 18, 2);
	tu_ok(store_audit_append(f->st, "admin:root", "user.add", "other", NULL,
	                         NULL, &d),
	      &d);
	ts_expect(store_audit_verify_head(f->st, &cp, NULL, &bad, &d),
	          -ERR_VERIFY, &d, "audit row 20: its hash");
	assert_non_null(strstr(d.msg, "is not the checkpoint's"));
	assert_int_equal(bad, 20);
	/* A chain keyed from another row, or not at all, is not the one the
	 * checkpoint saw. */
	other = cp;
	other.keyed_from = 2;
	ts_expect(store_audit_verify_head(f->st, &other, NULL, &bad, &d),
	          -ERR_VERIFY, &d,
	          "the chain was keyed from row 2 but the audit key now keys "
	          "it from row 1");
	tu_ok(store_open(ts_backend, f->path, &st2, &d), &d);
	ts_expect(store_audit_verify_head(st2, &cp, NULL, &bad, &d),
	          -ERR_VERIFY, &d, "this store has no audit key");
	store_close(st2);
}

static void test_store_audit_rollback_leaves_no_row(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_audit_list l = {NULL, 0};
	struct store_user u;
	int64_t rows = 0, id = 0;
	struct diag d;

	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "ann");
	tu_ok(store_audit_append(f->st, "admin:root", "user.add", "ann", NULL,
	                         &id, &d),
	      &d);
	assert_int_equal(id, 1);
	tu_ok(store_rollback(f->st, &d), &d);
	ts_expect(store_user_get(f->st, "ann", &u, &d), -ERR_NOENT, &d, NULL);
	tu_ok(store_audit_list(f->st, 0, 0, 10, &l, &d), &d);
	assert_int_equal(l.n, 0);
	store_audit_list_free(&l);
	tu_ok(store_audit_verify(f->st, &rows, NULL, &d), &d);
	assert_int_equal(rows, 0);
	/* Committed, both are there and the chain starts at 1. */
	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "ann");
	tu_ok(store_audit_append(f->st, "admin:root", "user.add", "ann", NULL,
	                         &id, &d),
	      &d);
	tu_ok(store_commit(f->st, &d), &d);
	assert_int_equal(id, 1);
	tu_ok(store_audit_verify(f->st, &rows, NULL, &d), &d);
	assert_int_equal(rows, 1);
}

/* ---- Snapshot and scale ---- */

static void test_store_snapshot_and_scale(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_user_list ul = {NULL, 0};
	struct store_device_list dl = {NULL, 0};
	struct store_snapshot snap;
	char name[32], serial[32], fp[STORE_HASH_HEX + 1];
	static const uint8_t key[CRYPTO_SEAL_KEY_LEN] = {9};
	struct crypto_rng *rng = NULL;
	int64_t ids[10000], teams[10], srv;
	double t0, t1, t2, t3, t4;
	struct diag d;
	int i;

	t0 = ts_seconds();
	tu_ok(store_begin(f->st, &d), &d);
	for (i = 0; i < 10; i++) {
		(void)snprintf(name, sizeof(name), "team%d", i);
		teams[i] = ts_team(f->st, name);
	}
	ts_hash("fp", fp);
	for (i = 0; i < 10000; i++) {
		(void)snprintf(name, sizeof(name), "user%05d", i);
		tu_ok(store_user_add(f->st, name, NULL, &ids[i], &d), &d);
		(void)snprintf(name, sizeof(name), "dev-%05x", i);
		(void)snprintf(serial, sizeof(serial), "%08x", i + 1);
		tu_ok(store_device_create(f->st, name, ids[i], "host", "linux",
		                          serial, fp, 0, &d),
		      &d);
		tu_ok(store_member_add(f->st, teams[i % 10], ids[i], &d), &d);
	}
	tu_ok(store_audit_append(f->st, "admin:root", "bulk.add", "", NULL,
	                         NULL, &d),
	      &d);
	tu_ok(store_commit(f->st, &d), &d);
	t1 = ts_seconds();
	tu_ok(store_user_list(f->st, &ul, &d), &d);
	tu_ok(store_device_list(f->st, 0, &dl, &d), &d);
	t2 = ts_seconds();
	assert_int_equal(ul.n, 10000);
	assert_int_equal(dl.n, 10000);
	assert_string_equal(ul.v[0].name, "user00000");
	assert_string_equal(dl.v[9999].id, "dev-0270f");
	store_user_list_free(&ul);
	store_device_list_free(&dl);

	srv = ts_server(f->st, "github");
	tu_ok(store_grant_add(f->st, srv, STORE_TARGET_EVERYONE, 0, NULL, NULL,
	                      &d),
	      &d);
	(void)ts_secret(f->st, "ORG", STORE_SCOPE_ORG, 0, "x", NULL);
	tu_ok(crypto_rng_new(NULL, &rng, &d), &d);
	tu_ok(store_begin(f->st, &d), &d);
	for (i = 0; i < 1000; i++) {
		char aad[STORE_AAD_MAX];
		uint8_t *sealed = NULL;
		size_t aadlen, n;
		int64_t id = 0, v = 0;

		tu_ok(store_secret_next(f->st, "MINE", STORE_SCOPE_USER, ids[i],
		                        &id, &v, &d),
		      &d);
		assert_int_equal(store_secret_aad(id, aad, &aadlen), 0);
		tu_ok(
		    crypto_seal(rng, key, aad, aadlen, "v", 1, &sealed, &n, &d),
		    &d);
		tu_ok(store_secret_put(f->st, id, sealed, n, &d), &d);
		free(sealed);
	}
	crypto_rng_free(rng);
	tu_ok(store_commit(f->st, &d), &d);
	t3 = ts_seconds();
	tu_ok(store_snapshot_load(f->st, &snap, &d), &d);
	t4 = ts_seconds();
	assert_int_equal(snap.users.n, 10000);
	assert_int_equal(snap.teams.n, 10);
	assert_int_equal(snap.members.n, 10000);
	assert_int_equal(snap.grants.n, 1);
	assert_int_equal(snap.secrets.n, 1001);
	assert_non_null(snap.secrets.v[500].sealed);
	store_snapshot_free(&snap);
	print_message("store: 10,000 users + 10,000 devices + 10,000 "
	              "memberships in one transaction: %.3f s; list users + "
	              "devices: %.3f s; snapshot (10k users, 10k members, "
	              "1001 secrets): %.3f s\n",
	              t1 - t0, t2 - t1, t4 - t3);
}

static struct store_call ts_call(uint64_t seq, const char *name,
                                 enum store_call_outcome o, int64_t at_ms)
{
	struct store_call c = {0};

	c.seq = seq;
	c.at_ms = at_ms;
	c.server = (char *)(uintptr_t) "gh";
	c.method = (char *)(uintptr_t) "tools/call";
	c.name = (char *)(uintptr_t)name;
	c.outcome = o;
	c.duration_us = 120;
	c.bytes_in = 40;
	c.bytes_out = 900;
	c.detail = o == STORE_CALL_DENIED ? (char *)(uintptr_t) "denied" : NULL;
	return c;
}

/* Replicas register by agent address, heartbeat, and drop out of the list
 * three of their own periods after their last heartbeat. */
static void test_store_replicas(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_id_list l = {NULL, 0};
	size_t removed = 9;
	struct diag d;

	/* Gone after TS_NOW + 30, and after TS_NOW + 20 + 3 and + 60. */
	tu_ok(store_replica_beat(f->st, "b.example.com:7443", 10, &d), &d);
	store_set_now(f->st, TS_NOW + 20);
	tu_ok(store_replica_beat(f->st, "[::1]:7443", 1, &d), &d);
	tu_ok(store_replica_beat(f->st, "10.0.0.5:7443", 20, &d), &d);
	tu_ok(store_replica_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "10.0.0.5:7443");
	assert_string_equal(l.v[1], "[::1]:7443");
	assert_string_equal(l.v[2], "b.example.com:7443");
	store_id_list_free(&l);
	/* Each by its own period: the one-second replica is gone first. */
	store_set_now(f->st, TS_NOW + 24);
	tu_ok(store_replica_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0], "10.0.0.5:7443");
	assert_string_equal(l.v[1], "b.example.com:7443");
	store_id_list_free(&l);
	store_set_now(f->st, TS_NOW + 31);
	tu_ok(store_replica_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 1);
	store_id_list_free(&l);
	/* A heartbeat refreshes the row rather than adding one. */
	tu_ok(store_replica_beat(f->st, "b.example.com:7443", 10, &d), &d);
	tu_ok(store_replica_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_id_list_free(&l);
	/* Pruning removes the gone ones only. */
	tu_ok(store_replica_prune(f->st, &removed, &d), &d);
	assert_int_equal(removed, 1);
	tu_ok(store_replica_remove(f->st, "10.0.0.5:7443", &d), &d);
	tu_ok(store_replica_remove(f->st, "10.0.0.5:7443", &d), &d);
	tu_ok(store_replica_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], "b.example.com:7443");
	store_id_list_free(&l);
	/* Only addresses and periods the store can judge. */
	assert_int_equal(store_replica_beat(f->st, "no-port", 10, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "replica address"));
	assert_int_equal(store_replica_beat(f->st, "::1:7443", 10, &d),
	                 -ERR_INVALID);
	assert_int_equal(store_replica_beat(f->st, "a.example:1", 0, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "want 1 to 3600"));
	assert_int_equal(store_replica_remove(f->st, "a b:1", &d),
	                 -ERR_INVALID);
}

static void test_store_calls(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_call v[3], bad;
	struct store_call_filter flt = {0};
	struct store_call_list l = {0};
	int64_t ann = ts_user(f->st, "ann");
	uint64_t through = 0;
	size_t added = 9, removed = 0;
	struct diag d;

	ts_device(f->st, "dev-01", ann, "0a");
	v[0] = ts_call(10, "search", STORE_CALL_OK, 1000);
	v[1] = ts_call(11, "delete_repo", STORE_CALL_DENIED, 2000);
	v[2] = ts_call(12, "search", STORE_CALL_RATE_LIMITED, 3000);
	tu_ok(store_calls_insert(f->st, "dev-01", v, 3, &added, &through, &d),
	      &d);
	assert_int_equal(added, 3);
	assert_int_equal(through, 12);
	/* The same batch again (a lost acknowledgement): stored once. */
	tu_ok(store_calls_insert(f->st, "dev-01", v, 3, &added, &through, &d),
	      &d);
	assert_int_equal(added, 0);
	assert_int_equal(through, 12);
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 3);
	/* Newest first, the user copied from the directory. */
	assert_int_equal(l.v[0].seq, 12);
	assert_string_equal(l.v[0].user_name, "ann");
	assert_string_equal(l.v[1].detail, "denied");
	assert_null(l.v[0].detail);
	store_call_list_free(&l);
	/* Filters and paging. */
	flt.outcome = "denied";
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "delete_repo");
	store_call_list_free(&l);
	flt.outcome = NULL;
	flt.name = "search";
	flt.limit = 1;
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 1);
	flt.before_id = l.v[0].id;
	store_call_list_free(&l);
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].seq, 10);
	store_call_list_free(&l);
	memset(&flt, 0, sizeof(flt));
	flt.since_ms = 2000;
	flt.until_ms = 3000;
	flt.user = "ann";
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].seq, 11);
	store_call_list_free(&l);
	flt.outcome = "maybe";
	ts_expect(store_calls_list(f->st, &flt, &l, &d), -ERR_INVALID, &d,
	          "outcome");
	/* Oldest first, paging forwards from the after cursor, filters
	 * still applied; both cursors together bound a window. */
	memset(&flt, 0, sizeof(flt));
	flt.oldest = true;
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].seq, 10);
	assert_int_equal(l.v[2].seq, 12);
	assert_true(l.v[0].id < l.v[1].id && l.v[1].id < l.v[2].id);
	store_call_list_free(&l);
	/* One a page: 10, 11, 12, then the end. */
	flt.limit = 1;
	for (uint64_t seq = 10; seq <= 13; seq++) {
		tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
		assert_int_equal(l.n, seq <= 12 ? 1 : 0);
		if (l.n == 1) {
			assert_int_equal(l.v[0].seq, seq);
			flt.after_id = l.v[0].id;
		}
		store_call_list_free(&l);
	}
	/* after and before together, in either order: the call between. */
	memset(&flt, 0, sizeof(flt));
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 3);
	{
		int64_t hi = l.v[0].id, lo = l.v[2].id;

		store_call_list_free(&l);
		flt.after_id = lo;
		flt.before_id = hi;
		tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.v[0].seq, 11);
		store_call_list_free(&l);
		flt.oldest = true;
		tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.v[0].seq, 11);
		store_call_list_free(&l);
		/* A filter on from the cursor: past 11 (delete_repo) to 12. */
		flt.before_id = 0;
		flt.name = "search";
		tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.v[0].seq, 12);
		store_call_list_free(&l);
	}
	flt.after_id = -1;
	ts_expect(store_calls_list(f->st, &flt, &l, &d), -ERR_INVALID, &d,
	          "must not be negative");
	/* One bad record refuses the batch, naming it. */
	v[0] = ts_call(14, "fine", STORE_CALL_OK, 4000);
	v[1] = ts_call(13, "x\ny", STORE_CALL_OK, 4000);
	ts_expect(store_calls_insert(f->st, "dev-01", v, 2, NULL, NULL, &d),
	          -ERR_INVALID, &d, "call record 1: name");
	bad = ts_call(0, "x", STORE_CALL_OK, 4000);
	ts_expect(store_calls_insert(f->st, "dev-01", &bad, 1, NULL, NULL, &d),
	          -ERR_INVALID, &d, "seq");
	memset(&flt, 0, sizeof(flt));
	tu_ok(store_calls_list(f->st, &flt, &l, &d), &d);
	assert_int_equal(l.n, 3);
	store_call_list_free(&l);
	/* Retention. */
	tu_ok(store_calls_prune(f->st, TS_NOW + 1, &removed, &d), &d);
	assert_int_equal(removed, 3);

	/* The agent's count of dropped records: the highest is kept. */
	tu_ok(store_device_calls_dropped(f->st, "dev-01", 7, &d), &d);
	tu_ok(store_device_calls_dropped(f->st, "dev-01", 5, &d), &d);
	{
		struct store_device dev = {0};

		tu_ok(store_device_get(f->st, "dev-01", &dev, &d), &d);
		assert_int_equal(dev.calls_dropped, 7);
		store_device_clear(&dev);
	}
	ts_expect(store_device_calls_dropped(f->st, "dev-99", 1, &d),
	          -ERR_NOENT, &d, "no device 'dev-99'");
	ts_expect(store_device_calls_dropped(f->st, "dev-01", -1, &d),
	          -ERR_INVALID, &d, "negative count");
}

/* ---- PostgreSQL only ---- */

struct ts_bumper {
	const char *conninfo;
	int n;
	int64_t got[200];
	int failed;
	char msg[512];
};

/* Bumps the revision counter n times on a connection of its own, half of
 * them inside a transaction with an audit row. */
static void *ts_bump_thread(void *arg)
{
	struct ts_bumper *b = arg;
	struct store *st = NULL;
	struct diag d;
	int i;

	if (store_open("postgres", b->conninfo, &st, &d) != 0) {
		b->failed = 1;
		(void)snprintf(b->msg, sizeof(b->msg), "%s", d.msg);
		return NULL;
	}
	for (i = 0; i < b->n; i++) {
		int r;

		if (i % 2 == 0) {
			r = store_revision_bump(st, &b->got[i], &d);
		} else {
			r = store_begin(st, &d);
			if (r == 0)
				r = store_revision_bump(st, &b->got[i], &d);
			if (r == 0)
				r = store_audit_append(st, "system",
				                       "catalogue.publish", "",
				                       NULL, NULL, &d);
			if (r == 0)
				r = store_commit(st, &d);
			else
				(void)store_rollback(st, NULL);
		}
		if (r != 0) {
			b->failed = 1;
			(void)snprintf(b->msg, sizeof(b->msg), "%s", d.msg);
			break;
		}
	}
	store_close(st);
	return NULL;
}

static int ts_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_store_pg_concurrent_revisions_unique(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	static struct ts_bumper b[2];
	pthread_t t[2];
	int64_t all[400], rows = 0, cur = 0;
	struct diag d;
	int i, j;

	for (i = 0; i < 2; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].conninfo = f->path;
		b[i].n = 200;
		assert_int_equal(
		    pthread_create(&t[i], NULL, ts_bump_thread, &b[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (b[i].failed)
			fail_msg("bumper %d: %s", i, b[i].msg);
	}
	for (i = 0; i < 2; i++)
		for (j = 0; j < 200; j++)
			all[i * 200 + j] = b[i].got[j];
	qsort(all, 400, sizeof(all[0]), ts_cmp_i64);
	/* Every number once: 1..400, none twice, none lost. */
	for (i = 0; i < 400; i++)
		assert_int_equal(all[i], i + 1);
	tu_ok(store_revision_current(f->st, &cur, &d), &d);
	assert_int_equal(cur, 400);
	/* The audit rows the two wrote in turn still chain. */
	tu_ok(store_audit_verify(f->st, &rows, NULL, &d), &d);
	assert_int_equal(rows, 200);
}

/* MCPFLEET_TEST_PG_TCP with a password put into its URI. */
static char *ts_tcp_with_password(const char *pw)
{
	const char *tcp = getenv("MCPFLEET_TEST_PG_TCP");
	const char *at;
	char *out;
	size_t n;

	if (tcp == NULL)
		fail_msg("MCPFLEET_TEST_PG_TCP is not set");
	at = strchr(tcp, '@');
	assert_non_null(at);
	n = strlen(tcp) + strlen(pw) + 2;
	out = malloc(n);
	assert_non_null(out);
	(void)snprintf(out, n, "%.*s:%s%s", (int)(at - tcp), tcp, pw, at);
	return out;
}

static void test_store_pg_login_never_shows_password(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	const char *good = getenv("MCPFLEET_TEST_PG_PASSWORD");
	const char *wrong = "Wr0ngPassw0rd-7f3a";
	char *uri, *pass, *line;
	struct store *st = NULL;
	struct diag d;
	FILE *fp;
	size_t n;

	assert_non_null(good);
	/* The role "fleet" is to create the schema: start from none. */
	store_close(f->st);
	f->st = NULL;
	ts_pg_reset();
	/* A wrong password: the I/O code, a reason, and no password. */
	uri = ts_tcp_with_password(wrong);
	ts_expect(store_open("postgres", uri, &st, &d), -ERR_IO, &d,
	          "password authentication failed");
	assert_null(st);
	assert_null(strstr(d.msg, wrong));
	assert_null(strstr(d.msg, good));
	assert_non_null(strstr(d.msg, "user=fleet"));
	free(uri);
	/* Whatever the server says is scrubbed of the password too (here it
	 * names the database, which is the password). */
	{
		char ci[512];

		(void)snprintf(ci, sizeof(ci),
		               "%s dbname=Zq9SecretPw password=Zq9SecretPw",
		               ts_pg_conninfo);
		ts_expect(store_open("postgres", ci, &st, &d), -ERR_IO, &d,
		          "does not exist");
		assert_null(strstr(d.msg, "Zq9SecretPw"));
		assert_non_null(strstr(d.msg, "***"));
	}
	/* The right one works (the role owns the database). */
	uri = ts_tcp_with_password(good);
	tu_ok(store_open("postgres", uri, &st, &d), &d);
	store_close(st);
	st = NULL;
	free(uri);
	/* And so does libpq's password file, with no password in the
	 * connection string. */
	pass = tu_path(f->dir, "pgpass");
	fp = fopen(pass, "w");
	assert_non_null(fp);
	n = strlen(good) + 64;
	line = malloc(n);
	assert_non_null(line);
	(void)snprintf(line, n, "127.0.0.1:*:fleet:fleet:%s\n", good);
	assert_true(fputs(line, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(pass, 0600), 0);
	assert_int_equal(setenv("PGPASSFILE", pass, 1), 0);
	tu_ok(store_open("postgres", getenv("MCPFLEET_TEST_PG_TCP"), &st, &d),
	      &d);
	store_close(st);
	assert_int_equal(unsetenv("PGPASSFILE"), 0);
	free(line);
	free(pass);
}

static void test_store_pg_second_writer_refused(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store *other = NULL;
	struct store_user_list l = {NULL, 0};
	double t0, t1;
	struct diag d;

	tu_ok(store_open("postgres", f->path, &other, &d), &d);
	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "ann");
	/* Readers are not held up by the writer... */
	tu_ok(store_user_list(other, &l, &d), &d);
	assert_int_equal(l.n, 0);
	store_user_list_free(&l);
	/* ...a second writer is, and gives up after the lock timeout. */
	t0 = ts_seconds();
	ts_expect(store_begin(other, &d), -ERR_IO, &d, "busy");
	t1 = ts_seconds();
	assert_false(store_in_transaction(other));
	assert_true(t1 - t0 >= 4.5);
	assert_true(t1 - t0 < 15.0);
	tu_ok(store_commit(f->st, &d), &d);
	/* Once the first has committed, the second writes. */
	tu_ok(store_begin(other, &d), &d);
	ts_user(other, "bob");
	tu_ok(store_commit(other, &d), &d);
	tu_ok(store_user_list(f->st, &l, &d), &d);
	assert_int_equal(l.n, 2);
	store_user_list_free(&l);
	store_close(other);
}

/* Fills a SQLite store with one of everything, gaps in the ids included. */
static void ts_fill_for_copy(struct store *st, int64_t *bob_id)
{
	struct store_call calls[2];
	struct store_revision rev;
	char hash[STORE_HASH_HEX + 1];
	int64_t ann, bob, dev_team, srv, sec, n = 0;
	struct diag d;

	ann = ts_user(st, "ann");
	bob = ts_user(st, "bob");
	dev_team = ts_team(st, "dev");
	tu_ok(store_member_add(st, dev_team, ann, &d), &d);
	srv = ts_server(st, "github");
	tu_ok(store_grant_add(st, srv, STORE_TARGET_TEAM, dev_team,
	                      &(struct store_grant_limits){
	                          .tools_deny = "[\"delete_repository\"]",
	                          .rate = "60/min"},
	                      NULL, &d),
	      &d);
	tu_ok(
	    store_grant_add(st, srv, STORE_TARGET_EVERYONE, 0, NULL, NULL, &d),
	    &d);
	(void)ts_secret(st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev_team, "ghp_1",
	                NULL);
	sec = ts_secret(st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, dev_team, "ghp_2",
	                NULL);
	(void)ts_secret(st, "ORG_KEY", STORE_SCOPE_ORG, 0, "k", NULL);
	ts_hash("tok", hash);
	tu_ok(store_token_create(st, hash, ann, TS_NOW + 3600, 2, "admin", NULL,
	                         &d),
	      &d);
	ts_hash("admin", hash);
	tu_ok(store_admin_token_add(st, "initial", ROLE_OWNER, hash, NULL, &d),
	      &d);
	ts_device(st, "dev-01", ann, "0a");
	tu_ok(store_device_touch(st, "dev-01", TS_NOW + 5, 2, "{\"ok\": true}",
	                         &d),
	      &d);
	tu_ok(store_revision_bump(st, &n, &d), &d);
	tu_ok(store_revision_bump(st, &n, &d), &d);
	memset(&rev, 0, sizeof(rev));
	rev.revision = 2;
	rev.leaf_count = 1;
	ts_hash("root", rev.merkle_root);
	memcpy(rev.signature, "3045", 5);
	tu_ok(store_revision_record(st, &rev, &d), &d);
	tu_ok(store_delivery_record(st, "dev-01", sec, 2, &d), &d);
	calls[0] = ts_call(1, "search", STORE_CALL_OK, 1000);
	calls[1] = ts_call(2, "delete", STORE_CALL_DENIED, 2000);
	tu_ok(store_calls_insert(st, "dev-01", calls, 2, NULL, NULL, &d), &d);
	/* An offboarding report and SCIM records. */
	tu_ok(store_offboarding_add(st, ann, "scim:okta", "{\"user\":\"ann\"}",
	                            NULL, &d),
	      &d);
	tu_ok(store_scim_put(st, STORE_SCIM_USER, ann, "okta-ann", "{}", false,
	                     &d),
	      &d);
	tu_ok(store_scim_put(st, STORE_SCIM_GROUP, dev_team, "okta-dev",
	                     "{\"displayName\":\"Dev\"}", false, &d),
	      &d);
	/* bob goes: his id must not come back after the copy. */
	tu_ok(store_user_remove(st, bob, &d), &d);
	tu_ok(store_audit_append(st, "admin:root", "user.remove", "bob",
	                         "{\"id\": 2}", NULL, &d),
	      &d);
	*bob_id = bob;
}

static void test_store_pg_copy_from_sqlite(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	char *src_path = tu_path(f->dir, "src.db");
	struct store *src = NULL;
	struct store_snapshot a, b;
	struct store_audit_list la = {NULL, 0}, lb = {NULL, 0};
	struct store_delivery_list da = {NULL, 0}, db = {NULL, 0};
	struct store_call_list ca = {NULL, 0}, cb = {NULL, 0};
	struct store_call_filter all = {0};
	struct store_revision ra, rb;
	struct store_device dev;
	int64_t bob = 0, rows = 0, id = 0, v = 0, ann;
	size_t i;
	struct diag d;

	tu_ok(store_open("sqlite", src_path, &src, &d), &d);
	store_set_now(src, TS_NOW);
	/* A chain keyed from its third row, as after an upgrade. */
	tu_ok(store_audit_append(src, "system", "init", "", NULL, NULL, &d),
	      &d);
	tu_ok(store_audit_append(src, "system", "x", "", NULL, NULL, &d), &d);
	tu_ok(store_audit_key(src, ts_audit_key, 3, &d), &d);
	ts_fill_for_copy(src, &bob);
	/* Nothing can be copied from PostgreSQL yet. */
	ts_expect(store_copy(f->st, src, NULL, &d), -ERR_INVALID, &d,
	          "cannot be copied from");
	/* The chain is copied as it is: it verifies under the key only, and
	 * a copy that does not verify leaves nothing behind. */
	ts_expect(store_copy(src, f->st, NULL, &d), -ERR_VERIFY, &d,
	          "audit row 3: its content does not match its hash");
	tu_ok(store_audit_key(f->st, ts_audit_key, 3, &d), &d);
	tu_ok(store_copy(src, f->st, &rows, &d), &d);
	assert_true(rows > 20);
	/* What the daemon reads is the same on both. */
	tu_ok(store_snapshot_load(src, &a, &d), &d);
	tu_ok(store_snapshot_load(f->st, &b, &d), &d);
	assert_int_equal(a.revision, b.revision);
	assert_int_equal(a.users.n, b.users.n);
	for (i = 0; i < a.users.n; i++) {
		assert_int_equal(a.users.v[i].id, b.users.v[i].id);
		assert_string_equal(a.users.v[i].name, b.users.v[i].name);
	}
	assert_int_equal(a.members.n, b.members.n);
	assert_int_equal(a.grants.n, b.grants.n);
	for (i = 0; i < a.grants.n; i++) {
		assert_int_equal(a.grants.v[i].id, b.grants.v[i].id);
		assert_string_equal(a.grants.v[i].target_name,
		                    b.grants.v[i].target_name);
	}
	assert_string_equal(b.grants.v[0].rate, "60/min");
	assert_int_equal(a.secrets.n, b.secrets.n);
	for (i = 0; i < a.secrets.n; i++) {
		assert_int_equal(a.secrets.v[i].id, b.secrets.v[i].id);
		assert_int_equal(a.secrets.v[i].version,
		                 b.secrets.v[i].version);
		assert_int_equal(a.secrets.v[i].sealed_len,
		                 b.secrets.v[i].sealed_len);
		assert_memory_equal(a.secrets.v[i].sealed,
		                    b.secrets.v[i].sealed,
		                    a.secrets.v[i].sealed_len);
	}
	store_snapshot_free(&a);
	store_snapshot_free(&b);
	/* The audit chain, row for row, and it verifies. */
	tu_ok(store_audit_list(src, 0, 0, 1000, &la, &d), &d);
	tu_ok(store_audit_list(f->st, 0, 0, 1000, &lb, &d), &d);
	assert_int_equal(la.n, lb.n);
	for (i = 0; i < la.n; i++) {
		assert_int_equal(la.v[i].id, lb.v[i].id);
		assert_string_equal(la.v[i].hash, lb.v[i].hash);
	}
	store_audit_list_free(&la);
	store_audit_list_free(&lb);
	tu_ok(store_audit_verify(f->st, &rows, NULL, &d), &d);
	assert_true(rows >= 4);
	/* The next row chains identically on both backends. */
	store_set_now(src, TS_NOW + 99);
	store_set_now(f->st, TS_NOW + 99);
	tu_ok(store_audit_append(src, "admin:root", "next", "t", "{\"a\": 1}",
	                         NULL, &d),
	      &d);
	tu_ok(store_audit_append(f->st, "admin:root", "next", "t", "{\"a\": 1}",
	                         NULL, &d),
	      &d);
	tu_ok(store_audit_list(src, 0, rows, 1, &la, &d), &d);
	tu_ok(store_audit_list(f->st, 0, rows, 1, &lb, &d), &d);
	assert_int_equal(la.n, 1);
	assert_int_equal(lb.n, 1);
	assert_string_equal(la.v[0].hash, lb.v[0].hash);
	store_audit_list_free(&la);
	store_audit_list_free(&lb);
	tu_ok(store_audit_verify(f->st, NULL, NULL, &d), &d);
	store_set_now(f->st, TS_NOW);
	/* Revisions and delivery history. */
	tu_ok(store_revision_latest(src, &ra, &d), &d);
	tu_ok(store_revision_latest(f->st, &rb, &d), &d);
	assert_int_equal(ra.revision, rb.revision);
	assert_string_equal(ra.signature, rb.signature);
	ann = 1;
	tu_ok(store_delivery_list_user(src, ann, &da, &d), &d);
	tu_ok(store_delivery_list_user(f->st, ann, &db, &d), &d);
	assert_int_equal(da.n, 1);
	assert_int_equal(db.n, 1);
	assert_int_equal(da.v[0].secret_id, db.v[0].secret_id);
	assert_int_equal(db.v[0].revision, 2);
	assert_string_equal(db.v[0].scope_name, "dev");
	store_delivery_list_free(&da);
	store_delivery_list_free(&db);
	tu_ok(store_calls_list(src, &all, &ca, &d), &d);
	tu_ok(store_calls_list(f->st, &all, &cb, &d), &d);
	assert_int_equal(ca.n, 2);
	assert_int_equal(cb.n, 2);
	assert_int_equal(ca.v[0].id, cb.v[0].id);
	assert_string_equal(cb.v[1].user_name, "ann");
	store_call_list_free(&ca);
	store_call_list_free(&cb);
	tu_ok(store_device_get(f->st, "dev-01", &dev, &d), &d);
	assert_int_equal(dev.applied_revision, 2);
	assert_string_equal(dev.report_json, "{\"ok\": true}");
	store_device_clear(&dev);
	{
		struct store_offboarding o = {0};
		struct store_scim rec = {0};

		tu_ok(store_offboarding_last(f->st, ann, &o, &d), &d);
		assert_string_equal(o.actor, "scim:okta");
		store_offboarding_clear(&o);
		tu_ok(store_scim_find(f->st, STORE_SCIM_USER, "okta-ann", &id,
		                      &d),
		      &d);
		assert_int_equal(id, ann);
		tu_ok(store_scim_find(f->st, STORE_SCIM_GROUP, "okta-dev", &id,
		                      &d),
		      &d);
		tu_ok(store_scim_get(f->st, STORE_SCIM_GROUP, id, &rec, &d),
		      &d);
		assert_string_equal(rec.external_id, "okta-dev");
		store_scim_clear(&rec);
	}
	/* Counters go on where the source stopped; bob's id stays his. */
	tu_ok(store_revision_bump(f->st, &v, &d), &d);
	assert_int_equal(v, 3);
	assert_int_equal(ts_user(f->st, "carol"), bob + 1);
	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_secret_next(f->st, "X", STORE_SCOPE_ORG, 0, &id, &v, &d),
	      &d);
	assert_int_equal(id, 4);
	tu_ok(store_rollback(f->st, &d), &d);
	/* A target that holds anything is refused, and left alone. */
	ts_expect(store_copy(src, f->st, NULL, &d), -ERR_CONFLICT, &d,
	          "not empty");
	tu_ok(store_audit_verify(f->st, NULL, NULL, &d), &d);
	store_close(src);
	free(src_path);
}

/* Ends the store's server connections, as a server restart would. */
static void ts_pg_kill_store_connections(const char *conninfo)
{
	int64_t n = 0;
	char *msg = ts_pg_exec(conninfo,
	                       "SELECT count(pg_terminate_backend(pid)) FROM "
	                       "pg_stat_activity WHERE application_name = "
	                       "'mcpfleetd' AND pid <> pg_backend_pid()",
	                       &n);

	if (msg != NULL)
		fail_msg("terminate: %s", msg);
	assert_true(n >= 1);
}

static void test_store_pg_reconnects(void **state)
{
	struct ts_fixture *f = ts_fx(state);
	struct store_user u;
	struct diag d;

	ts_user(f->st, "ann");
	/* Outside a transaction the next call reconnects by itself. */
	ts_pg_kill_store_connections(f->path);
	tu_ok(store_user_get(f->st, "ann", &u, &d), &d);
	store_user_clear(&u);
	ts_pg_kill_store_connections(f->path);
	ts_user(f->st, "bob");
	/* Inside one, the transaction fails whole, and the one after it
	 * works again. */
	tu_ok(store_begin(f->st, &d), &d);
	ts_user(f->st, "carol");
	ts_pg_kill_store_connections(f->path);
	ts_expect(store_user_add(f->st, "dave", NULL, NULL, &d), -ERR_IO, &d,
	          NULL);
	ts_expect(store_commit(f->st, &d), -ERR_IO, &d, NULL);
	assert_false(store_in_transaction(f->st));
	ts_expect(store_user_get(f->st, "carol", &u, &d), -ERR_NOENT, &d,
	          "no user named 'carol'");
	ts_user(f->st, "erin");
	tu_ok(store_user_get(f->st, "bob", &u, &d), &d);
	store_user_clear(&u);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define TS(fn) cmocka_unit_test_setup_teardown(fn, ts_setup, ts_teardown)
	    TS(test_store_calls),
	    TS(test_store_replicas),
	    TS(test_store_open_creates_schema),
	    TS(test_store_open_unknown_backend),
	    TS(test_store_reopen_keeps_data),
	    TS(test_store_newer_schema_refused),
	    TS(test_store_foreign_database_refused),
	    TS(test_store_migrations_idempotent),
	    TS(test_store_admin_token_roles),
	    TS(test_store_admin_token_roles_migration),
	    TS(test_store_transaction_rules),
	    TS(test_store_second_handle_sees_commits),
	    TS(test_store_errors_counted),
	    TS(test_store_users_crud),
	    TS(test_store_teams_and_members),
	    TS(test_store_servers_crud),
	    TS(test_store_grants_cascade_on_server_removal),
	    TS(test_store_secret_versions_increment),
	    TS(test_store_token_lifecycle),
	    TS(test_store_device_revoke),
	    TS(test_store_device_renew),
	    TS(test_store_removal_rules),
	    TS(test_store_deliveries_for_offboarding),
	    TS(test_store_offboarding_reports),
	    TS(test_store_offboarding_migration),
	    TS(test_store_scim_records),
	    TS(test_store_admin_tokens),
	    TS(test_store_revisions),
	    TS(test_store_audit_chain_verifies),
	    TS(test_store_audit_find_filters),
	    TS(test_store_audit_edited_row_named),
	    TS(test_store_audit_relinked_row_named),
	    TS(test_store_audit_deleted_row_named),
	    TS(test_store_audit_truncated_tail_named),
	    TS(test_store_audit_keyed_rewrite_detected),
	    TS(test_store_audit_keyed_from_later_row),
	    TS(test_store_audit_checkpoint_truncation),
	    TS(test_store_audit_rollback_leaves_no_row),
	    TS(test_store_snapshot_and_scale),
	    TS(test_store_sessions),
	    TS(test_store_session_identity),
	    TS(test_store_sqlite_not_shared),
	};
	const struct CMUnitTest pg_only[] = {
	    TS(test_store_pg_concurrent_revisions_unique),
	    TS(test_store_pg_login_never_shows_password),
	    TS(test_store_pg_second_writer_refused),
	    TS(test_store_pg_copy_from_sqlite),
	    TS(test_store_pg_reconnects),
	    TS(test_store_pg_replication),
#undef TS
	};
	const char *only = argc > 1 ? argv[1] : NULL;
	int failed = 0;

	if (only != NULL && strcmp(only, "sqlite") != 0 &&
	    strcmp(only, "postgres") != 0) {
		fprintf(stderr, "usage: %s [sqlite | postgres]\n", argv[0]);
		return 2;
	}
	ts_pg_conninfo = getenv("MCPFLEET_TEST_PG");
	if (only == NULL || strcmp(only, "sqlite") == 0) {
		ts_backend = "sqlite";
		failed += cmocka_run_group_tests_name("store_sqlite", tests,
		                                      NULL, NULL);
	}
	if (only != NULL && strcmp(only, "postgres") == 0 &&
	    (ts_pg_conninfo == NULL || *ts_pg_conninfo == '\0')) {
		fprintf(stderr,
		        "%s: MCPFLEET_TEST_PG is not set (run under "
		        "tests/pg/cluster.sh)\n",
		        argv[0]);
		return 1;
	}
	if (ts_pg_conninfo != NULL && *ts_pg_conninfo != '\0' &&
	    (only == NULL || strcmp(only, "postgres") == 0)) {
		ts_backend = "postgres";
		failed += cmocka_run_group_tests_name("store_postgres", tests,
		                                      NULL, NULL);
		failed += cmocka_run_group_tests_name("store_postgres_only",
		                                      pg_only, NULL, NULL);
	}
	return failed;
}
