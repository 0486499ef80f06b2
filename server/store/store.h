/* SPDX-License-Identifier: MIT */
/* The control plane's store: the one interface to fleet state; nothing
 * outside the store speaks SQL. */
#ifndef MCPFLEET_STORE_H
#define MCPFLEET_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "role.h"

/*
 * A store is opened by backend name ("sqlite", the embedded default, or
 * "postgres") and used through the store_* functions below, which validate
 * their input and dispatch to the backend's struct store_backend (the table at
 * the end of this file, as OpenSMTPD's queue_backend.c dispatches to
 * queue_fs.c).
 *
 * Threads: a struct store is a connection. Each thread opens its own and
 * never shares it; the SQLite backend gives each handle its own sqlite3
 * connection and statement cache, and the database file (WAL mode) lets
 * one writer and many readers work at once, writers waiting up to 5 s for
 * each other. The PostgreSQL backend gives each handle its own libpq
 * connection and prepared statements; every write transaction takes one
 * advisory lock, so that one writer at a time works on the database
 * whichever daemon it belongs to, waiting up to 5 s for it (then -ERR_IO,
 * "busy"). A lost connection is made again by the next call outside a
 * transaction; inside one, the transaction fails.
 *
 * Errors: every function returns 0 or a negative code from err.h and, when
 * d is not NULL, says why in d->msg:
 *   -ERR_INVALID   an argument fails validation ("user name 'a b': only
 *                  letters, digits and . _ @ - are allowed");
 *   -ERR_NOENT     the thing named does not exist ("no user named 'x'");
 *   -ERR_EXISTS    a duplicate ("user 'x' already exists");
 *   -ERR_CONFLICT  the current state forbids it (a removal that would
 *                  orphan something, revoking what is already revoked,
 *                  a used-up enrollment token);
 *   -ERR_PERM      a revoked token, a disabled user;
 *   -ERR_VERIFY    an expired token, a broken audit chain;
 *   -ERR_IO        the backend failed (busy, disk, corrupt file);
 *   -ERR_NOMEM, -ERR_TOOBIG.
 * Out-parameters are set only on success (store_audit_verify() documents
 * its one exception).
 *
 * Identity: entities are looked up by name with the *_get functions and
 * handled by id everywhere else (ids are never reused, so an id in the
 * audit log names one thing forever). Times are Unix seconds, taken from
 * the system clock unless store_set_now() fixed them.
 *
 * Atomicity: every mutating call is atomic on its own (a savepoint inside
 * the caller's transaction, or a transaction of its own). The caller groups
 * a mutation and its audit row with store_begin()/store_commit().
 *
 * Deletion rules (what a removal does to what depends on it):
 *   user    refused (-ERR_CONFLICT) while the user has an active device
 *           (revoke them first: store_device_revoke_user()) or owns a
 *           user-scoped secret (remove it first; it is never dropped
 *           silently). Otherwise removes the user's memberships, grants to
 *           the user, enrollment tokens, revoked devices and those devices'
 *           delivery records: list deliveries before removing a user.
 *   team    refused while team-scoped secrets exist; removes memberships
 *           and grants to the team.
 *   server  removes its grants.
 *   secret  removes every version of the name at that scope; delivery
 *           records keep the name, scope and version that were delivered.
 *   device  never removed on its own, only revoked (its certificate
 *           serial stays known as revoked); its user's removal takes it.
 *   audit   rows are never updated or removed.
 */

struct store;

/* Limits enforced on input: the store is the last line of validation. */
#define STORE_NAME_MAX    128        /* user, team, secret, token names */
#define STORE_TEXT_MAX    255        /* email, hostname, os, reasons, actor */
#define STORE_JSON_MAX    (1u << 20) /* entry_json, report_json */
#define STORE_DETAILS_MAX 65536      /* audit details_json */
#define STORE_SEALED_MAX  ((16u << 20) + 28u) /* CRYPTO_SEAL_MAX + overhead */
#define STORE_HASH_HEX    64                  /* hex SHA-256 */
#define STORE_SERIAL_MAX  40                  /* hex of a 20-octet serial */
#define STORE_SIG_HEX_MAX 144                 /* hex of a DER P-256 sig */
#define STORE_AUDIT_LIMIT 10000 /* rows in one store_audit_list() */
#define STORE_AAD_MAX     48

/* ---- Open, close, transactions ---- */

/*
 * Opens the store at path with the backend called backend_name. For
 * "sqlite" path is the database file, created 0600 when absent; for
 * "postgres" it is a libpq connection string (keyword=value pairs or a
 * postgres:// URI; PGSERVICE, PGPASSFILE and the other libpq variables
 * apply), and messages name the connection without its password. Applies
 * pending schema migrations in one transaction; refuses (-ERR_INVALID) a
 * database whose schema is newer than this build, or one that is not
 * mcpfleet's. Returns 0 with *out (close with store_close()), -ERR_NOENT
 * for an unknown backend, -ERR_IO (a PostgreSQL server that cannot be
 * reached or refuses the login included).
 */
int store_open(const char *backend_name, const char *path, struct store **out,
               struct diag *d);

/*
 * Test hook: as store_open(), with extra migrations appended after the
 * built-in ones (schema versions N+1, N+2, ...), exactly as a later build
 * appends its own. extra_migrations may be NULL when nextra is 0.
 */
struct store_open_opts {
	const char *const *extra_migrations;
	size_t nextra;
};
int store_open_with(const char *backend_name, const char *path,
                    const struct store_open_opts *opts, struct store **out,
                    struct diag *d);

/*
 * Resolves a store location as mcpfleetd's --store option and the store key
 * of mcpfleetd.conf spell it:
 *   NULL, "" or "sqlite"          SQLite at sqlite_path (the default);
 *   "postgres://..." or
 *   "postgresql://..."            PostgreSQL, a libpq URI;
 *   "postgres:" KEYWORD=VALUE...  PostgreSQL, libpq keyword pairs, possibly
 *                                 none ("postgres:" alone: PGSERVICE,
 *                                 PGHOST and the rest say where).
 * A location that holds a password is refused (-ERR_INVALID): it belongs
 * in PGPASSFILE or a service file, never on a command line, in a
 * configuration file or in the audit log. Returns 0 with *backend (a
 * static name) and *path (a new string; caller frees), -ERR_INVALID,
 * -ERR_NOMEM.
 */
int store_location(const char *spec, const char *sqlite_path,
                   const char **backend, char **path, struct diag *d);

/* Closes the store, rolling back an open transaction. NULL-safe. */
void store_close(struct store *st);

/* The schema version of the open database, and the newest this build knows
 * (without test migrations). */
int store_schema_version(struct store *st, int64_t *version, struct diag *d);
int64_t store_schema_latest(const char *backend_name);

/* Fixes the clock used for created_at and similar columns; 0 returns to the
 * system clock. For tests. */
void store_set_now(struct store *st, int64_t now);
/* The store's current time. */
int64_t store_now(const struct store *st);

/*
 * Starts a write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN
 * and the writer's advisory lock; either way the write lock is taken now
 * and a later statement cannot fail with "busy"). Transactions do
 * not nest: -ERR_INVALID when one is open. store_commit() makes it durable;
 * store_rollback() undoes everything since store_begin() (rolling back with
 * none open is a no-op returning 0). When store_commit() fails the
 * transaction has been rolled back.
 */
int store_begin(struct store *st, struct diag *d);
int store_commit(struct store *st, struct diag *d);
int store_rollback(struct store *st, struct diag *d);
/* True while a store_begin() transaction is open. */
bool store_in_transaction(const struct store *st);

/*
 * The statements of this connection that failed since it was opened: the
 * database refused or could not run them, ran out of memory, or returned
 * a malformed row. Constraint violations, which are answers about bad
 * input (-ERR_EXISTS, -ERR_NOENT, -ERR_INVALID), do not count. For
 * mcpfleetd's mcpfleet_store_errors_total (server/API.md, "Metrics").
 */
uint64_t store_errors(const struct store *st);

/* ---- Users ---- */

struct store_user {
	int64_t id;
	char *name;
	char *email; /* "" when none */
	bool disabled;
	int64_t created_at;
};

struct store_user_list {
	struct store_user *v; /* ordered by name */
	size_t n;
};

/*
 * Adds a user. name: [A-Za-z0-9][A-Za-z0-9._@-]{0,127}; email: NULL or
 * up to 255 printable bytes. Returns 0 with *id (may be NULL), -ERR_EXISTS.
 */
int store_user_add(struct store *st, const char *name, const char *email,
                   int64_t *id, struct diag *d);
/* Fetches a user by name or by id. Returns 0 with *out (free its strings
 * with store_user_clear()), or -ERR_NOENT ("no user named 'x'"). */
int store_user_get(struct store *st, const char *name, struct store_user *out,
                   struct diag *d);
/* The user whose name is name in any case (ASCII: names are ASCII), the
 * oldest when several are; for SCIM, whose userName is unique in any
 * case (RFC 7643). -ERR_NOENT when none. */
int store_user_get_nocase(struct store *st, const char *name,
                          struct store_user *out, struct diag *d);
int store_user_get_id(struct store *st, int64_t id, struct store_user *out,
                      struct diag *d);
/* Every user. Returns 0 with *out (free with store_user_list_free()). */
int store_user_list(struct store *st, struct store_user_list *out,
                    struct diag *d);
/* Removes a user (see the deletion rules above). -ERR_NOENT, -ERR_CONFLICT. */
int store_user_remove(struct store *st, int64_t id, struct diag *d);
/* Disables or enables a user: a disabled user's tokens cannot enroll. */
int store_user_set_disabled(struct store *st, int64_t id, bool disabled,
                            struct diag *d);
/* Sets or clears (NULL) a user's email: up to 255 printable bytes.
 * Returns 0, -ERR_INVALID or -ERR_NOENT. */
int store_user_set_email(struct store *st, int64_t id, const char *email,
                         struct diag *d);
void store_user_clear(struct store_user *u);
void store_user_list_free(struct store_user_list *l);

/* ---- Offboarding reports ---- */

/* What an offboarding did and what to rotate (server/API.md, "Users"),
 * kept for the user's page and SCIM: every offboarding of a user is a row,
 * and the newest one is the one shown. */
struct store_offboarding {
	int64_t id;
	int64_t user_id;
	char *actor;       /* who offboarded ("admin:NAME", "scim:NAME") */
	char *report_json; /* the JSON object POST .../offboard answered */
	int64_t created_at;
};

/* Stores a report for user_id: report_json a JSON object of at most
 * STORE_JSON_MAX bytes, actor 1 to STORE_TEXT_MAX printable bytes.
 * Returns 0 with *id (may be NULL), -ERR_INVALID, -ERR_NOENT (no such
 * user). Run it in the offboarding's transaction. */
int store_offboarding_add(struct store *st, int64_t user_id, const char *actor,
                          const char *report_json, int64_t *id, struct diag *d);
/* The newest report of user_id. Returns 0 with *out (free with
 * store_offboarding_clear()), or -ERR_NOENT when the user was never
 * offboarded. */
int store_offboarding_last(struct store *st, int64_t user_id,
                           struct store_offboarding *out, struct diag *d);
void store_offboarding_clear(struct store_offboarding *o);

/* ---- SCIM resources ---- */

/* What SCIM provisioning keeps of a user or team beyond its row
 * (server/scim.c, docs/design.md "Provisioning with SCIM"). */
enum store_scim_kind {
	STORE_SCIM_USER,  /* id is a user's */
	STORE_SCIM_GROUP, /* id is a team's */
};

struct store_scim {
	int64_t id;        /* the user's or the team's id */
	char *external_id; /* the identity provider's id; NULL: none */
	char *attrs_json;  /* a JSON object of the SCIM attributes kept */
	bool deleted;      /* users: deleted by SCIM (offboarded, kept) */
	int64_t updated_at;
	int64_t version; /* 1 at the first store_scim_put(), then +1 */
};

/* The SCIM record of user or team id. Returns 0 with *out (free with
 * store_scim_clear()), or -ERR_NOENT when it has none. */
int store_scim_get(struct store *st, enum store_scim_kind kind, int64_t id,
                   struct store_scim *out, struct diag *d);
/* The id of the user or team whose externalId is external_id. Returns 0
 * with *id, or -ERR_NOENT. */
int store_scim_find(struct store *st, enum store_scim_kind kind,
                    const char *external_id, int64_t *id, struct diag *d);
/*
 * Creates or replaces the SCIM record of user or team id: external_id
 * NULL or 1 to STORE_TEXT_MAX printable bytes, attrs_json a JSON object
 * of at most STORE_DETAILS_MAX bytes; updated_at is now and version one
 * more than before. Returns 0, -ERR_INVALID, -ERR_NOENT (no such user or
 * team), or -ERR_EXISTS when another has that externalId.
 */
int store_scim_put(struct store *st, enum store_scim_kind kind, int64_t id,
                   const char *external_id, const char *attrs_json,
                   bool deleted, struct diag *d);
void store_scim_clear(struct store_scim *v);

/* ---- Teams and memberships ---- */

/* The implicit team every user belongs to; never stored, and no stored
 * team may take its name. Grants target it with STORE_TARGET_EVERYONE. */
#define STORE_TEAM_EVERYONE "everyone"

struct store_team {
	int64_t id;
	char *name;
	int64_t created_at;
};

struct store_team_list {
	struct store_team *v; /* ordered by name */
	size_t n;
};

/* One membership. */
struct store_member {
	int64_t team_id;
	int64_t user_id;
};

struct store_member_list {
	struct store_member *v; /* ordered by user_id, then team_id */
	size_t n;
};

/* Adds a team; name as for users, not "everyone" (-ERR_INVALID). Returns 0
 * with *id (may be NULL), -ERR_EXISTS. */
int store_team_add(struct store *st, const char *name, int64_t *id,
                   struct diag *d);
/* Fetches a team by name or id (free with store_team_clear()); -ERR_NOENT. */
int store_team_get(struct store *st, const char *name, struct store_team *out,
                   struct diag *d);
int store_team_get_id(struct store *st, int64_t id, struct store_team *out,
                      struct diag *d);
/* Every team (free with store_team_list_free()). */
int store_team_list(struct store *st, struct store_team_list *out,
                    struct diag *d);
/* Removes a team (see the deletion rules). -ERR_NOENT, -ERR_CONFLICT. */
int store_team_remove(struct store *st, int64_t id, struct diag *d);
void store_team_clear(struct store_team *t);
void store_team_list_free(struct store_team_list *l);

/* Adds user to team: -ERR_NOENT for either missing, -ERR_EXISTS. */
int store_member_add(struct store *st, int64_t team_id, int64_t user_id,
                     struct diag *d);
/* Removes user from team: -ERR_NOENT when not a member. */
int store_member_remove(struct store *st, int64_t team_id, int64_t user_id,
                        struct diag *d);
/* The teams of a user (free with store_team_list_free()); -ERR_NOENT when
 * the user does not exist. */
int store_member_teams(struct store *st, int64_t user_id,
                       struct store_team_list *out, struct diag *d);
/* The members of a team (free with store_user_list_free()). */
int store_member_users(struct store *st, int64_t team_id,
                       struct store_user_list *out, struct diag *d);
/* Every membership (free with store_member_list_free()). */
int store_member_all(struct store *st, struct store_member_list *out,
                     struct diag *d);
void store_member_list_free(struct store_member_list *l);

/* ---- Servers (the catalogue) ---- */

struct store_server {
	int64_t id;
	char *name;
	char *entry_json; /* one canonical entry (common/catalogue.c) */
	int64_t created_at;
	int64_t updated_at;
};

struct store_server_list {
	struct store_server *v; /* ordered by name */
	size_t n;
};

/* Adds a server. name: server_name_check() rules; entry_json: a JSON
 * object of at most STORE_JSON_MAX bytes, stored as given. -ERR_EXISTS. */
int store_server_add(struct store *st, const char *name, const char *entry_json,
                     int64_t *id, struct diag *d);
/* Fetches a server by name or id (free with store_server_clear()). */
int store_server_get(struct store *st, const char *name,
                     struct store_server *out, struct diag *d);
int store_server_get_id(struct store *st, int64_t id, struct store_server *out,
                        struct diag *d);
/* Every server (free with store_server_list_free()). */
int store_server_list(struct store *st, struct store_server_list *out,
                      struct diag *d);
/* Replaces a server's entry. -ERR_NOENT. */
int store_server_set(struct store *st, int64_t id, const char *entry_json,
                     struct diag *d);
/* Removes a server and its grants. -ERR_NOENT. */
int store_server_remove(struct store *st, int64_t id, struct diag *d);
void store_server_clear(struct store_server *s);
void store_server_list_free(struct store_server_list *l);

/* ---- Grants ---- */

enum store_target {
	STORE_TARGET_EVERYONE,
	STORE_TARGET_TEAM,
	STORE_TARGET_USER,
};

struct store_grant {
	int64_t id;
	int64_t server_id;
	char *server_name;
	enum store_target kind;
	int64_t target_id; /* team or user id; 0 for everyone */
	char *target_name; /* team or user name; "everyone" */
	char *tools_allow; /* JSON array of strings, or NULL */
	char *tools_deny;  /* JSON array of strings, or NULL */
	char *rate;        /* canonical rate ("60/min"), or NULL */
	char *tool_rates;  /* JSON object {"glob": "rate"}, or NULL */
	int64_t created_at;
};

struct store_grant_list {
	struct store_grant *v; /* ordered by server name, then id */
	size_t n;
};

/* What a grant limits beyond reaching the server; every field may be NULL. */
struct store_grant_limits {
	const char *tools_allow; /* JSON array of strings */
	const char *tools_deny;  /* JSON array of strings */
	const char *rate;        /* a rate as rate_parse() reads it: "60/min" */
	const char *tool_rates;  /* JSON object, tool glob -> rate */
};

/*
 * Grants a server to everyone (target_id 0), a team or a user, with the
 * limits in lim (may be NULL: none). Rates are stored in their canonical
 * spelling (rate_format()); tool_rates takes at most CATALOGUE_MAX_LIST
 * globs (glob_check()). Returns 0 with *id (may be NULL); -ERR_INVALID
 * naming the field; -ERR_NOENT for a missing server or target,
 * -ERR_EXISTS when that server is already granted to that target.
 */
int store_grant_add(struct store *st, int64_t server_id, enum store_target kind,
                    int64_t target_id, const struct store_grant_limits *lim,
                    int64_t *id, struct diag *d);
/* The grants of one server, or every grant when server_id is 0 (free with
 * store_grant_list_free()). */
int store_grant_list(struct store *st, int64_t server_id,
                     struct store_grant_list *out, struct diag *d);
/* Removes one grant. -ERR_NOENT. */
int store_grant_remove(struct store *st, int64_t id, struct diag *d);
void store_grant_clear(struct store_grant *g);
void store_grant_list_free(struct store_grant_list *l);
/* "everyone", "team", "user"; and back (-ERR_INVALID). */
const char *store_target_name(enum store_target kind);
int store_target_parse(const char *s, enum store_target *out);

/* ---- Secrets ---- */

enum store_scope {
	STORE_SCOPE_ORG,
	STORE_SCOPE_TEAM,
	STORE_SCOPE_USER,
};

struct store_secret {
	int64_t id; /* this version's record id: the sealing AAD */
	char *name;
	enum store_scope scope;
	int64_t scope_id;   /* team or user id; 0 for org */
	char *scope_name;   /* team or user name; "" for org */
	int64_t version;    /* in a list: the latest version */
	int64_t created_at; /* of this version (a list's updated_at) */
	uint8_t *sealed;    /* NULL in store_secret_list() */
	size_t sealed_len;
};

struct store_secret_list {
	struct store_secret *v; /* ordered by name, scope, scope_id */
	size_t n;
};

/*
 * Setting a secret is two calls inside one store_begin() transaction,
 * because the sealed bytes authenticate their own record id (AAD):
 *
 *   store_begin(st, d);
 *   store_secret_next(st, "GITHUB_TOKEN", STORE_SCOPE_TEAM, team, &id,
 *                     &version, d);
 *   store_secret_aad(id, aad, &aadlen);
 *   crypto_seal(rng, master, aad, aadlen, value, len, &sealed, &n, d);
 *   store_secret_put(st, id, sealed, n, d);
 *   store_audit_append(...);
 *   store_commit(st, d);
 *
 * store_secret_next() allocates a record id from a counter that never goes
 * back (an id is never reused after a removal, so an old sealed blob, from a
 * backup say, can never be replayed into a later record; an id handed out
 * in a transaction that rolled back was never stored anywhere) and the next
 * version of (name, scope, scope_id): 1, 2, ... It validates the name
 * ([A-Za-z_][A-Za-z0-9_]{0,127}, as ${secret:NAME}) and that the team or
 * user exists (-ERR_NOENT). -ERR_INVALID outside a transaction.
 *
 * store_secret_put() stores the sealed bytes for the id that the last
 * store_secret_next() of this transaction returned (-ERR_INVALID for any
 * other id, or when none is pending). Nothing is visible until then.
 */
int store_secret_next(struct store *st, const char *name,
                      enum store_scope scope, int64_t scope_id, int64_t *id,
                      int64_t *version, struct diag *d);
int store_secret_put(struct store *st, int64_t id, const uint8_t *sealed,
                     size_t len, struct diag *d);
/*
 * Writes the AAD of secret record id ("mcpfleet-secret:<id>") into out.
 * Returns 0 with *len, or -ERR_INVALID for an id <= 0.
 */
int store_secret_aad(int64_t id, char out[STORE_AAD_MAX], size_t *len);
/* Every secret name per scope with its latest version and when it was set;
 * never the sealed bytes (free with store_secret_list_free()). */
int store_secret_list(struct store *st, struct store_secret_list *out,
                      struct diag *d);
/* The latest version of (name, scope, scope_id) with its sealed bytes (free
 * with store_secret_clear()); -ERR_NOENT ("no secret 'X' at team 'dev'"). */
int store_secret_get(struct store *st, const char *name, enum store_scope scope,
                     int64_t scope_id, struct store_secret *out,
                     struct diag *d);
/* Removes every version of name at the scope. -ERR_NOENT. */
int store_secret_remove(struct store *st, const char *name,
                        enum store_scope scope, int64_t scope_id,
                        struct diag *d);
/* The latest version of every secret, sealed bytes included (free with
 * store_secret_list_free()). */
int store_secret_latest_all(struct store *st, struct store_secret_list *out,
                            struct diag *d);
void store_secret_clear(struct store_secret *s);
void store_secret_list_free(struct store_secret_list *l);
/* "org", "team", "user"; and back (-ERR_INVALID). */
const char *store_scope_name(enum store_scope scope);
int store_scope_parse(const char *s, enum store_scope *out);

/* ---- Enrollment tokens ---- */

struct store_token {
	int64_t id;
	char token_hash[STORE_HASH_HEX + 1];
	int64_t user_id;
	char *user_name;
	int64_t expires_at;
	int64_t uses_left;
	bool revoked;
	int64_t created_at;
	char *created_by; /* "" when unknown */
};

struct store_token_list {
	struct store_token *v; /* ordered by id */
	size_t n;
};

/*
 * Stores a new enrollment token by its hash (64 lowercase hex digits; the
 * token itself is never stored), bound to user_id, valid until expires_at,
 * for uses (1..1000000) enrollments. created_by: NULL or a short name.
 * Returns 0 with *id (may be NULL); -ERR_NOENT, -ERR_EXISTS.
 */
int store_token_create(struct store *st, const char *token_hash,
                       int64_t user_id, int64_t expires_at, int64_t uses,
                       const char *created_by, int64_t *id, struct diag *d);
/* Fetches a token by its hash (free with store_token_clear()). */
int store_token_get_by_hash(struct store *st, const char *token_hash,
                            struct store_token *out, struct diag *d);
/*
 * Uses a token once, at time now: one statement decrements uses_left only
 * when it is above 0, the token is not revoked, now is before expires_at
 * and its user is not disabled. Returns 0 with *out (may be NULL; the token
 * after the use) or, when nothing was decremented, why: -ERR_NOENT unknown
 * token, -ERR_PERM revoked (or its user disabled), -ERR_VERIFY expired,
 * -ERR_CONFLICT used up.
 */
int store_token_consume(struct store *st, const char *token_hash, int64_t now,
                        struct store_token *out, struct diag *d);
/* Every token (free with store_token_list_free()). */
int store_token_list(struct store *st, struct store_token_list *out,
                     struct diag *d);
/* Revokes one token: -ERR_NOENT, -ERR_CONFLICT when already revoked. */
int store_token_revoke(struct store *st, int64_t id, struct diag *d);
/* Revokes every unrevoked token of a user; *count (may be NULL) says how
 * many. -ERR_NOENT when the user does not exist. */
int store_token_revoke_user(struct store *st, int64_t user_id, size_t *count,
                            struct diag *d);
void store_token_clear(struct store_token *t);
void store_token_list_free(struct store_token_list *l);

/* ---- Devices ---- */

enum store_device_status {
	STORE_DEVICE_ACTIVE,
	STORE_DEVICE_REVOKED,
};

struct store_device {
	char *id; /* "dev-<hex>" */
	int64_t user_id;
	char *user_name;
	char *hostname;
	char *os;
	char *cert_serial;      /* lowercase hex */
	char *cert_fingerprint; /* lowercase hex SHA-256 */
	int64_t enrolled_at;
	int64_t last_seen; /* 0: never connected */
	int64_t applied_revision;
	char *report_json; /* last sync report, or NULL */
	enum store_device_status status;
	int64_t revoked_at;  /* 0 while active */
	char *revoke_reason; /* NULL while active */
	/* Call records its full spool dropped while offline, in total (the
	 * agent's count: it only grows). */
	int64_t calls_dropped;
	/* When cert_serial's certificate expires (Unix seconds); 0 for one
	 * issued before the store recorded it (before schema 10). */
	int64_t cert_not_after;
	/* When a renewal issued cert_serial's certificate (Unix seconds); 0
	 * when no renewal is known (docs/design.md, "Certificate renewal"). */
	int64_t cert_renewed_at;
};

struct store_device_list {
	struct store_device *v; /* ordered by id */
	size_t n;
};

/* The ids of devices, e.g. those a revocation touched. */
struct store_id_list {
	char **v;
	size_t n;
};

/*
 * Records a newly enrolled, active device.
 * id: [A-Za-z0-9][A-Za-z0-9._-]{0,127}; hostname, os: up to 255 printable
 * bytes; cert_serial: 1..40 lowercase hex digits, cert_fingerprint: 64 (as
 * struct crypto_cert_info has them, which is how the hub will look them up);
 * cert_not_after: when the certificate expires (0: unknown).
 * Returns 0; -ERR_NOENT for a missing user, -ERR_EXISTS for a known id or
 * serial.
 */
int store_device_create(struct store *st, const char *id, int64_t user_id,
                        const char *hostname, const char *os,
                        const char *cert_serial, const char *cert_fingerprint,
                        int64_t cert_not_after, struct diag *d);

/* A certificate a renewal replaced, still known (docs/design.md,
 * "Certificate renewal"). */
struct store_device_cert {
	char *serial;      /* lowercase hex */
	char *device_id;   /* whose it was */
	int64_t not_after; /* 0: issued before the store recorded it */
};

struct store_device_cert_list {
	struct store_device_cert *v; /* ordered by serial */
	size_t n;
};

/*
 * Records a renewal of an active device's certificate: the new serial,
 * fingerprint and expiry become the device's, and the one they replace is
 * kept among its earlier certificates (store_device_certs()), so that it
 * still names the device (and its revocation) until it expires. Earlier
 * certificates already expired at store_now() are forgotten. Arguments as
 * store_device_create()'s. Returns 0; -ERR_NOENT for an unknown device,
 * -ERR_CONFLICT for a revoked one, -ERR_EXISTS for a serial any device
 * has or had. Notifies "devices".
 */
int store_device_renew(struct store *st, const char *id,
                       const char *cert_serial, const char *cert_fingerprint,
                       int64_t cert_not_after, struct diag *d);
/* The earlier certificates of every device (free with
 * store_device_cert_list_free()). */
int store_device_certs(struct store *st, struct store_device_cert_list *out,
                       struct diag *d);
void store_device_cert_list_free(struct store_device_cert_list *l);

/* Fetches a device by id or by certificate serial, its current one or an
 * earlier one still known (free with store_device_clear()). -ERR_NOENT. */
int store_device_get(struct store *st, const char *id, struct store_device *out,
                     struct diag *d);
int store_device_get_by_serial(struct store *st, const char *cert_serial,
                               struct store_device *out, struct diag *d);
/* Every device, or one user's when user_id is not 0 (free with
 * store_device_list_free()). */
int store_device_list(struct store *st, int64_t user_id,
                      struct store_device_list *out, struct diag *d);
/* Records that a device was seen: last_seen, the revision it applied and,
 * when report_json is not NULL, its sync report (a JSON object). */
int store_device_touch(struct store *st, const char *id, int64_t last_seen,
                       int64_t applied_revision, const char *report_json,
                       struct diag *d);
/* One device's sync report, for store_device_touch_many(). */
struct store_touch {
	const char *id;
	int64_t last_seen;
	int64_t applied_revision;
	const char *report_json; /* NULL: the stored report stays */
};
/*
 * store_device_touch() for n devices at once, all or nothing, in one
 * statement where the backend can (PostgreSQL: one round trip for all,
 * instead of one each). Every entry is checked first (-ERR_INVALID naming
 * the first bad one, and nothing is stored); an unknown device is passed
 * over.
 */
int store_device_touch_many(struct store *st, const struct store_touch *v,
                            size_t n, struct diag *d);
/* Records the agent's count of call records dropped (the highest one seen
 * is kept). -ERR_NOENT for an unknown device. */
int store_device_calls_dropped(struct store *st, const char *id,
                               int64_t dropped, struct diag *d);
/* Revokes a device: -ERR_NOENT, -ERR_CONFLICT when already revoked. reason:
 * NULL or up to 255 printable bytes. */
int store_device_revoke(struct store *st, const char *id, const char *reason,
                        struct diag *d);
/* Revokes every active device of a user. Returns 0 with *ids (may be NULL;
 * free with store_id_list_free()) listing them, possibly none; -ERR_NOENT
 * when the user does not exist. */
int store_device_revoke_user(struct store *st, int64_t user_id,
                             const char *reason, struct store_id_list *ids,
                             struct diag *d);
void store_device_clear(struct store_device *dev);
void store_device_list_free(struct store_device_list *l);
void store_id_list_free(struct store_id_list *l);

/* ---- Deliveries ---- */

struct store_delivery {
	char *device_id;
	int64_t secret_id;
	char *secret_name;
	enum store_scope scope;
	int64_t scope_id;
	char *scope_name; /* as it was when delivered; "" for org */
	int64_t version;
	int64_t revision;     /* the first revision that carried it */
	int64_t delivered_at; /* first delivery */
};

struct store_delivery_list {
	struct store_delivery *v; /* by name, scope, version, device */
	size_t n;
};

/*
 * Records that secret record secret_id reached device_id in revision. The
 * name, scope and version are copied from the secret, so the record
 * outlives the secret's removal. Recording the same (device, secret) again
 * keeps the first record and returns 0. -ERR_NOENT for a missing device or
 * secret.
 */
int store_delivery_record(struct store *st, const char *device_id,
                          int64_t secret_id, int64_t revision, struct diag *d);
/* Everything ever delivered to any device of the user: what to rotate
 * when they leave (free with store_delivery_list_free()). */
int store_delivery_list_user(struct store *st, int64_t user_id,
                             struct store_delivery_list *out, struct diag *d);
void store_delivery_list_free(struct store_delivery_list *l);

/* ---- Admin tokens ---- */

struct store_admin_token {
	int64_t id;
	char *name;
	char token_hash[STORE_HASH_HEX + 1];
	int64_t created_at;
	bool revoked;
	enum role role; /* what it may call (role.h) */
};

struct store_admin_token_list {
	struct store_admin_token *v; /* ordered by id */
	size_t n;
};

/* Stores an admin token by its hash, with its role. name: 1..128
 * printable bytes. -ERR_INVALID for a role that is not one, -ERR_EXISTS
 * for a known hash. */
int store_admin_token_add(struct store *st, const char *name, enum role role,
                          const char *token_hash, int64_t *id, struct diag *d);
/* Fetches an admin token by hash, revoked or not: the caller checks
 * ->revoked (free with store_admin_token_clear()). -ERR_NOENT. */
int store_admin_token_get_by_hash(struct store *st, const char *token_hash,
                                  struct store_admin_token *out,
                                  struct diag *d);
int store_admin_token_list(struct store *st, struct store_admin_token_list *out,
                           struct diag *d);
/* Revokes an admin token: -ERR_NOENT, -ERR_CONFLICT when already revoked. */
int store_admin_token_revoke(struct store *st, int64_t id, struct diag *d);
void store_admin_token_clear(struct store_admin_token *t);
void store_admin_token_list_free(struct store_admin_token_list *l);

/* ---- Catalogue revisions ---- */

struct store_revision {
	int64_t revision;
	int64_t created_at;
	int64_t leaf_count;
	char merkle_root[STORE_HASH_HEX + 1];
	char signature[STORE_SIG_HEX_MAX + 1]; /* hex DER ECDSA */
};

/* Increments the revision counter and returns the new value in *next; part
 * of the caller's transaction when one is open (a rollback undoes it). */
int store_revision_bump(struct store *st, int64_t *next, struct diag *d);
/* The counter's value (0 before the first bump). */
int store_revision_current(struct store *st, int64_t *cur, struct diag *d);
/* Records a signed revision (hex root and signature). -ERR_EXISTS. */
int store_revision_record(struct store *st, const struct store_revision *rev,
                          struct diag *d);
/* The highest recorded revision; -ERR_NOENT when none. */
int store_revision_latest(struct store *st, struct store_revision *out,
                          struct diag *d);

/* ---- Audit log ---- */

/*
 * Rows are appended with consecutive ids from 1. hash is the lowercase hex
 * SHA-256 of this serialisation (lengths in decimal bytes, "\n" a newline):
 *
 *   "mcpfleet-audit-v1\n"
 *   "id=" ID "\n" "at=" AT "\n"
 *   "actor=" LEN ":" ACTOR "\n"
 *   "action=" LEN ":" ACTION "\n"
 *   "target=" LEN ":" TARGET "\n"
 *   "details=" ("-" | LEN ":" DETAILS) "\n"      ("-": no details)
 *   "prev=" PREV_HASH "\n"
 *
 * and prev_hash is the hash of row id-1, 64 zeros for row 1. Once the
 * store has an audit key (store_audit_key()), every row from keyed_from on
 * is instead the hex HMAC-SHA-256 under that key of the same serialisation
 * with "mcpfleet-audit-v2\n" as its first line: without the key nobody can
 * rewrite a row and recompute the chain after it, and the first keyed row,
 * which links to the last unkeyed one, pins every row before it. The
 * hashing lives in store.c, so every backend chains the same way
 * (docs/design.md, "The audit chain").
 */
struct store_audit {
	int64_t id;
	int64_t at;
	char *actor;   /* who: "admin:NAME", "device:ID", "system" */
	char *action;  /* what: "user.add", "device.revoke", ... */
	char *target;  /* on what; may be "" */
	char *details; /* JSON object text, or NULL */
	char prev_hash[STORE_HASH_HEX + 1];
	char hash[STORE_HASH_HEX + 1];
};

struct store_audit_list {
	struct store_audit *v; /* by id; store_audit_find(): as asked */
	size_t n;
};

/* What store_audit_find() selects; NULL or 0 fields select everything. */
struct store_audit_filter {
	const char *action; /* exactly; ending in '.', every action it starts */
	const char *actor;  /* actors holding it: "admin:ci" finds "admin:ci
	                     * (console)" */
	int64_t since, until; /* at >= since, at < until (0: open) */
	int64_t after_id;     /* id > after (0: open) */
	int64_t before_id;    /* id < before (0: open) */
	bool newest;          /* newest first; else oldest first */
	size_t limit;         /* 1..STORE_AUDIT_LIMIT */
};

#define STORE_AUDIT_KEY_LEN 32

/*
 * Keys this handle's audit chain: rows with id >= keyed_from (>= 1) are
 * appended and verified as HMAC-SHA-256 under key (copied; wiped by
 * store_close()), rows before it as plain SHA-256. Without a key, every
 * row is plain SHA-256 (a keyed row then fails to verify). key NULL takes
 * the key away again. Returns 0 or -ERR_INVALID.
 */
int store_audit_key(struct store *st, const uint8_t key[STORE_AUDIT_KEY_LEN],
                    int64_t keyed_from, struct diag *d);

/* The id the next appended row will get (1 for an empty log), for
 * choosing keyed_from, and whether any row was ever appended under a key
 * (the head was sealed). */
int store_audit_next_id(struct store *st, int64_t *next, bool *keyed,
                        struct diag *d);

/*
 * Appends a row at store_now(). actor, action: 1..255 printable bytes;
 * target: 0..255; details_json: NULL or a JSON object of at most
 * STORE_DETAILS_MAX bytes. Inside the caller's transaction it commits or
 * rolls back with the mutation it describes. Returns 0 with *id (may be
 * NULL).
 */
int store_audit_append(struct store *st, const char *actor, const char *action,
                       const char *target, const char *details_json,
                       int64_t *id, struct diag *d);
/* Up to limit (1..STORE_AUDIT_LIMIT) rows with at >= since and id >
 * after_id, oldest first (free with store_audit_list_free()). */
int store_audit_list(struct store *st, int64_t since, int64_t after_id,
                     size_t limit, struct store_audit_list *out,
                     struct diag *d);
/* Up to f->limit rows as f selects, in its order (free with
 * store_audit_list_free()). */
int store_audit_find(struct store *st, const struct store_audit_filter *f,
                     struct store_audit_list *out, struct diag *d);
/*
 * Walks the whole chain. Returns 0 (and *rows, may be NULL, the number of
 * rows checked) when every row's hash matches its content, links to the
 * previous row and ids run 1, 2, ... to the last appended; otherwise
 * -ERR_VERIFY with *first_bad_id (may be NULL) set to the first row that
 * does not check, even on this failure, and d naming it and why: its content
 * was edited, its link is broken, rows before it were deleted (an id gap),
 * or rows after the last were deleted: with the head left (it is beyond
 * the last row) or, on a keyed handle, lowered to match (meta.audit_seal,
 * an HMAC of the last keyed row's id and hash written with it, names
 * another row; putting back a seal copied earlier defeats this, a
 * checkpoint does not). Other errors leave *first_bad_id alone.
 */
int store_audit_verify(struct store *st, int64_t *rows, int64_t *first_bad_id,
                       struct diag *d);

/* The head of a verified chain, and what a checkpoint records of it. */
struct store_audit_head {
	int64_t rows;                  /* rows 1..rows */
	int64_t at;                    /* the last row's time; 0: none */
	char hash[STORE_HASH_HEX + 1]; /* the last row's; "" when empty */
	int64_t keyed_from;            /* 0: the handle has no audit key */
};

/*
 * As store_audit_verify(), and also against a checkpoint taken earlier
 * (cp, NULL for none): the log must still hold at least cp->rows rows
 * (else rows cp->rows+1.. were deleted, the head lowered with them), row
 * cp->rows must have cp->hash (else rows at or before it were rewritten
 * and the chain recomputed), and with cp->keyed_from > 0 the handle must
 * key the chain from the same row (else the audit key was replaced). d
 * names the row and what mismatched; *first_bad_id as above. Returns 0
 * with *out (may be NULL) the head of the whole chain, read in the same
 * transaction as the rows.
 */
int store_audit_verify_head(struct store *st, const struct store_audit_head *cp,
                            struct store_audit_head *out, int64_t *first_bad_id,
                            struct diag *d);
/* Writes the hash of row into out (computed over row's fields as above). */
int store_audit_hash(const struct store_audit *row,
                     char out[STORE_HASH_HEX + 1]);
void store_audit_clear(struct store_audit *a);
void store_audit_list_free(struct store_audit_list *l);

/* ---- Calls: the launchers' audit records ---- */

#define STORE_CALL_BATCH  1000 /* records in one store_calls_insert() */
#define STORE_CALL_LIMIT  1000 /* rows in one store_calls_list() */
#define STORE_CALL_NAME   512  /* bytes of a tool, URI or prompt name */
#define STORE_CALL_METHOD 32
#define STORE_CALL_DETAIL 255

enum store_call_outcome {
	STORE_CALL_OK,
	STORE_CALL_ERROR,
	STORE_CALL_DENIED,
	STORE_CALL_RATE_LIMITED,
};

struct store_call {
	int64_t id;      /* the store's own, increasing; 0 on insert */
	char *device_id; /* set by the store on list */
	char *user_name; /* the device's user when it was received */
	uint64_t seq;    /* the device's record number: one row per seq */
	int64_t at_ms;   /* Unix milliseconds of the request */
	char *server;
	char *method; /* tools/call, resources/read, prompts/get */
	char *name;   /* may be "" */
	int64_t duration_us;
	enum store_call_outcome outcome;
	uint64_t bytes_in, bytes_out;
	char *detail; /* may be NULL */
	int64_t received_at;
};

struct store_call_list {
	struct store_call *v; /* as store_call_filter.oldest asks */
	size_t n;
};

/* What store_calls_list() selects; NULL or 0 fields select everything. */
struct store_call_filter {
	const char *user, *device_id, *server, *name;
	const char *outcome; /* "ok", "error", "denied", "rate_limited" */
	int64_t since_ms, until_ms; /* at_ms >= since, < until (0: open) */
	int64_t after_id;           /* id > after (paging; 0: open) */
	int64_t before_id;          /* id < before (paging; 0: open) */
	bool oldest;                /* oldest first; else newest first */
	size_t limit;               /* 1..STORE_CALL_LIMIT; 0: 100 */
};

/*
 * Stores n (<= STORE_CALL_BATCH) records of device_id (active or not: the
 * device's user is copied from the directory), skipping those whose seq it
 * holds already (a batch sent again after a lost acknowledgement). Every
 * record is validated first (server a server name, method 1..32 printable
 * bytes, name 0..512 and detail 0..255 bytes of UTF-8 without control
 * characters, a known outcome, seq > 0): one bad record refuses the whole
 * batch (-ERR_INVALID naming it), so that the agent keeps it and the
 * error shows. Returns 0 with *inserted (may be NULL) and *through (may
 * be NULL) the highest seq stored for the device.
 */
int store_calls_insert(struct store *st, const char *device_id,
                       const struct store_call *v, size_t n, size_t *inserted,
                       uint64_t *through, struct diag *d);
/* Lists calls as f selects (free with store_call_list_free()). */
int store_calls_list(struct store *st, const struct store_call_filter *f,
                     struct store_call_list *out, struct diag *d);
/* Removes the calls received before before_s. *removed may be NULL. */
int store_calls_prune(struct store *st, int64_t before_s, size_t *removed,
                      struct diag *d);
/* "ok", ... and back (-ERR_INVALID). */
const char *store_call_outcome_name(enum store_call_outcome o);
int store_call_outcome_parse(const char *s, enum store_call_outcome *out);
void store_call_list_free(struct store_call_list *l);

/* ---- Replicas (docs/design.md, "Replicas: the agents' side") ---- */

/*
 * The mcpfleetd replicas sharing this store, each under its agent address
 * (replicas_addr_parse()) with the time of its last heartbeat and the time
 * it counts as gone: three of its own heartbeat periods later, so that
 * replicas with different periods judge each other right. Not copied by
 * store_copy(): replicas register again when they start.
 */

/* Records address as alive now, beating every period_s seconds (1..3600),
 * inserting or refreshing it. */
int store_replica_beat(struct store *st, const char *address, int64_t period_s,
                       struct diag *d);
/* The addresses of the replicas not gone now, sorted, at most REPLICAS_MAX
 * (free with store_id_list_free()). */
int store_replica_list(struct store *st, struct store_id_list *out,
                       struct diag *d);
/* Removes the replicas gone now. *removed may be NULL. */
int store_replica_prune(struct store *st, size_t *removed, struct diag *d);
/* Removes address (a replica stopping); an unknown one is no error. */
int store_replica_remove(struct store *st, const char *address, struct diag *d);

/* ---- Snapshot: everything a revision is computed from ---- */

struct store_snapshot {
	int64_t revision; /* the revision counter when it was read */
	struct store_user_list users;
	struct store_team_list teams;
	struct store_member_list members;
	struct store_server_list servers;
	struct store_grant_list grants;
	struct store_secret_list secrets; /* latest versions, sealed bytes */
};

/* Reads every list in one read transaction (so they agree with each other),
 * one query each. Returns 0 with *out (free with store_snapshot_free()). */
int store_snapshot_load(struct store *st, struct store_snapshot *out,
                        struct diag *d);
void store_snapshot_free(struct store_snapshot *s);

/* ---- Copying a store (mcpfleetd migrate) ---- */

/*
 * Copies everything in from into to: every table row for row with its ids
 * (so that the audit log, the secrets' sealing AAD and the delivery
 * records name the same things as before), the counters (revision, secret
 * ids, audit head) and each table's id floor (the highest id ever handed
 * out, so that ids stay never reused). from is held in a write transaction
 * meanwhile, so nothing changes it; to is written in one transaction whose
 * audit chain must verify before it commits: all or nothing. to must be
 * empty (-ERR_CONFLICT naming what it holds) and at from's schema version
 * (-ERR_INVALID); neither may have a store_begin() transaction open.
 * Today from must be SQLite and to PostgreSQL (-ERR_INVALID otherwise).
 * Returns 0 with *rows (may be NULL), the number of rows copied.
 */
int store_copy(struct store *from, struct store *to, int64_t *rows,
               struct diag *d);

/* ---- Console sessions ---- */

/*
 * A signed-in web console (server/session.c decides the rules; the store
 * only keeps the rows, so that every replica sees every session and a
 * restart signs no one out). id_hash is the SHA-256 of the cookie value
 * (the value itself is never stored); csrf is the session's CSRF token;
 * admin_hash the hash of the admin token that opened it, or "" for a
 * session that an identity provider's sign-in opened (server/oidc.c): then
 * identity names the person ("oidc:EMAIL") and role the role name the
 * configuration mapped them to. A token's session has both "".
 */
#define STORE_CSRF_MAX     64
#define STORE_IDENTITY_MAX 240 /* "oidc:EMAIL"; with " (console)" an actor */
#define STORE_ROLE_MAX     32

struct store_session {
	char id_hash[STORE_HASH_HEX + 1];
	char csrf[STORE_CSRF_MAX + 1];
	char admin_hash[STORE_HASH_HEX + 1];
	int64_t created;
	int64_t last_used;
	char identity[STORE_IDENTITY_MAX + 1];
	char role[STORE_ROLE_MAX + 1];
};

/* Stores a new session (hashes: 64 lowercase hex; csrf: 1..64 printable
 * bytes; either an admin_hash, or an identity and a role, each 1..max
 * printable bytes). -ERR_EXISTS for a known id_hash. */
int store_session_put(struct store *st, const struct store_session *se,
                      struct diag *d);
/* The session whose cookie hashes to id_hash; -ERR_NOENT. */
int store_session_get(struct store *st, const char *id_hash,
                      struct store_session *out, struct diag *d);
/* Records a request at last_used. -ERR_NOENT. */
int store_session_touch(struct store *st, const char *id_hash,
                        int64_t last_used, struct diag *d);
/* Removes one session; removing an unknown one returns 0. */
int store_session_remove(struct store *st, const char *id_hash, struct diag *d);
/*
 * Removes the sessions created before created_before or last used before
 * used_before, then, while more than keep remain, the least recently used
 * ones. Returns 0 with *left (may be NULL), the sessions that remain.
 */
int store_session_prune(struct store *st, int64_t created_before,
                        int64_t used_before, size_t keep, size_t *left,
                        struct diag *d);

/* ---- Replication: several daemons on one shared store ---- */

/*
 * A shared store (PostgreSQL) may serve several mcpfleetd replicas at once
 * (docs/design.md, "Replicas"). The replica that makes a revision records
 * each device's signed envelope with it, in the same transaction, and every
 * replica serves those bytes: a revision is signed once whichever replica
 * made it. Each committed change that a replica must learn of sends a
 * notification in its transaction (NOTIFY on STORE_CHANNEL), which
 * store_listen() receives. SQLite is not shared: store_shared() is false
 * and the functions below answer -ERR_INVALID (store_notify() is a no-op).
 */
#define STORE_CHANNEL "mcpfleet_changes"

/* True when other daemons may work on the same store at the same time. */
bool store_shared(const struct store *st);

/* One device's part of a recorded revision. */
struct store_pub_entry {
	char *device_id;
	int64_t revision; /* the revision its envelope was signed at */
	int64_t user_id;
	char *user;
	uint8_t *envelope; /* a packed SignedEnvelope */
	size_t envelope_len;
	char view_hash[STORE_HASH_HEX + 1];
	char *secret_ids;   /* "" or decimal ids joined by ',' */
	char *omitted_json; /* JSON array */
};

struct store_pub_entry_list {
	struct store_pub_entry *v; /* ordered by device_id */
	size_t n;
};

/* Stores (replacing) a device's entry; inside the revision's transaction. */
int store_pub_entry_put(struct store *st, const struct store_pub_entry *e,
                        struct diag *d);
/* Removes the entries signed before revision: after a revision that
 * holds every active device, the others' are gone. Notifies "prune N". */
int store_pub_entry_prune(struct store *st, int64_t revision, struct diag *d);
/* Replaces every stored entry with the n of v, all signed at revision (a
 * revision of every active device): what store_pub_entry_put() of each and
 * store_pub_entry_prune(st, revision) do, as one bulk copy. Notifies
 * "prune N". */
int store_pub_entry_replace(struct store *st, const struct store_pub_entry *v,
                            size_t n, int64_t revision, struct diag *d);
/* The entries signed after revision, with their bytes, and, when ids is
 * not NULL, the ids of every entry (a device whose id is missing there has
 * none any more), in one read snapshot. Returns 0 with *out and *ids (free
 * with store_pub_entry_list_free() and store_id_list_free()). */
int store_pub_entry_since(struct store *st, int64_t revision,
                          struct store_pub_entry_list *out,
                          struct store_id_list *ids, struct diag *d);
void store_pub_entry_list_free(struct store_pub_entry_list *l);

/*
 * The signed revocation of a revoked device, stored once: the first one
 * put wins, and store_revocation_put() returns 0 either way, so that every
 * replica hands out the same bytes (read them back with
 * store_revocation_get()). -ERR_NOENT when none is stored.
 */
int store_revocation_put(struct store *st, const char *device_id,
                         const uint8_t *env, size_t len, struct diag *d);
int store_revocation_get(struct store *st, const char *device_id, uint8_t **env,
                         size_t *len, struct diag *d);

/*
 * Sends a notification on STORE_CHANNEL with payload (up to 255 printable
 * bytes), delivered when the transaction that is open commits (at once
 * with none) and never when it rolls back. A no-op for a store that is not
 * shared. The store sends these itself, each in the transaction of its
 * change:
 *   "device ID"    store_device_create(): a device enrolled;
 *   "devices"      store_device_revoke(), store_device_revoke_user(),
 *                  store_revocation_put(): read the directory again;
 *   "revision N"   store_revision_record(): revision N and its entries;
 *   "prune N"      store_pub_entry_prune(): entries before N are gone.
 */
int store_notify(struct store *st, const char *payload, struct diag *d);

/*
 * A connection of its own that listens on STORE_CHANNEL (a shared store
 * only: -ERR_INVALID otherwise), made as store_open() makes one. Its
 * descriptor becomes readable when something arrives; store_listener_read()
 * consumes what did, without waiting, calls each (may be NULL) with every
 * notification's payload (valid during the call), and returns 0 with
 * *count (the notifications received), or -ERR_IO when the connection was
 * lost (close it and listen again: notifications sent meanwhile are lost,
 * so the caller reads the tables again).
 */
struct store_listener;
int store_listen(const char *backend_name, const char *path,
                 struct store_listener **out, struct diag *d);
int store_listener_fd(const struct store_listener *l);
int store_listener_read(struct store_listener *l,
                        void (*each)(void *arg, const char *payload), void *arg,
                        size_t *count, struct diag *d);
void store_listener_close(struct store_listener *l);

/* ---- Backend interface (store.c and the backends only) ---- */

/*
 * A backend implements these on its own connection handle (void *h). The
 * store validates every argument before calling, so a backend trusts its
 * input; it returns 0 or a negative err.h code with d set. Mutations are
 * called inside a transaction or savepoint that store.c opened (tx), so a
 * backend may run several statements and fail half-way. Lists are filled
 * into a zeroed *out only on success.
 */
enum store_txop {
	STORE_TX_BEGIN_WRITE, /* BEGIN IMMEDIATE, or BEGIN + advisory lock */
	STORE_TX_BEGIN_READ,  /* a consistent read snapshot */
	STORE_TX_COMMIT,
	STORE_TX_ROLLBACK,
	STORE_TX_SAVEPOINT, /* nested: one level is enough */
	STORE_TX_RELEASE,
	STORE_TX_ROLLBACK_TO,
};

/* One value of a copied row (store_copy()). */
enum store_cell_type {
	STORE_CELL_NULL,
	STORE_CELL_INT,
	STORE_CELL_TEXT,
	STORE_CELL_BLOB,
};

struct store_cell {
	enum store_cell_type type;
	int64_t i;
	const char *s;    /* TEXT, NUL-terminated */
	const uint8_t *b; /* BLOB */
	size_t len;       /* BLOB */
};

struct store_backend {
	const char *name;
	int64_t schema_version; /* the newest schema this backend creates */

	int (*open)(const char *path, const struct store_open_opts *opts,
	            void **h, struct diag *d);
	/* Checks a path given by a user (store_location()); may be NULL. */
	int (*location_check)(const char *path, struct diag *d);
	void (*close)(void *h);
	int (*tx)(void *h, enum store_txop op, struct diag *d);
	int (*schema_version_get)(void *h, int64_t *version, struct diag *d);
	/* The statements of this connection that failed, as store_errors()
	 * counts them. */
	uint64_t (*errors)(void *h);

	int (*user_add)(void *h, const char *name, const char *email,
	                int64_t now, int64_t *id, struct diag *d);
	int (*user_get)(void *h, const char *name, int64_t id,
	                struct store_user *out, struct diag *d);
	int (*user_get_nocase)(void *h, const char *name,
	                       struct store_user *out, struct diag *d);
	int (*user_list)(void *h, struct store_user_list *out, struct diag *d);
	int (*user_remove)(void *h, int64_t id, struct diag *d);
	int (*user_set_disabled)(void *h, int64_t id, bool disabled,
	                         struct diag *d);
	int (*user_set_email)(void *h, int64_t id, const char *email,
	                      struct diag *d);
	int (*offboarding_add)(void *h, int64_t user_id, const char *actor,
	                       const char *report_json, int64_t now,
	                       int64_t *id, struct diag *d);
	int (*offboarding_last)(void *h, int64_t user_id,
	                        struct store_offboarding *out, struct diag *d);
	int (*scim_get)(void *h, enum store_scim_kind kind, int64_t id,
	                struct store_scim *out, struct diag *d);
	int (*scim_find)(void *h, enum store_scim_kind kind,
	                 const char *external_id, int64_t *id, struct diag *d);
	int (*scim_put)(void *h, enum store_scim_kind kind, int64_t id,
	                const char *external_id, const char *attrs_json,
	                bool deleted, int64_t now, struct diag *d);

	int (*team_add)(void *h, const char *name, int64_t now, int64_t *id,
	                struct diag *d);
	int (*team_get)(void *h, const char *name, int64_t id,
	                struct store_team *out, struct diag *d);
	int (*team_list)(void *h, struct store_team_list *out, struct diag *d);
	int (*team_remove)(void *h, int64_t id, struct diag *d);

	int (*member_add)(void *h, int64_t team_id, int64_t user_id,
	                  int64_t now, struct diag *d);
	int (*member_remove)(void *h, int64_t team_id, int64_t user_id,
	                     struct diag *d);
	int (*member_teams)(void *h, int64_t user_id,
	                    struct store_team_list *out, struct diag *d);
	int (*member_users)(void *h, int64_t team_id,
	                    struct store_user_list *out, struct diag *d);
	int (*member_all)(void *h, struct store_member_list *out,
	                  struct diag *d);

	int (*server_add)(void *h, const char *name, const char *entry_json,
	                  int64_t now, int64_t *id, struct diag *d);
	int (*server_get)(void *h, const char *name, int64_t id,
	                  struct store_server *out, struct diag *d);
	int (*server_list)(void *h, struct store_server_list *out,
	                   struct diag *d);
	int (*server_set)(void *h, int64_t id, const char *entry_json,
	                  int64_t now, struct diag *d);
	int (*server_remove)(void *h, int64_t id, struct diag *d);

	/* lim checked and canonical. */
	int (*grant_add)(void *h, int64_t server_id, enum store_target kind,
	                 int64_t target_id,
	                 const struct store_grant_limits *lim, int64_t now,
	                 int64_t *id, struct diag *d);
	int (*grant_list)(void *h, int64_t server_id,
	                  struct store_grant_list *out, struct diag *d);
	int (*grant_remove)(void *h, int64_t id, struct diag *d);

	/* Checks the scope exists, allocates the never-reused id and the next
	 * version. */
	int (*secret_next)(void *h, const char *name, enum store_scope scope,
	                   int64_t scope_id, int64_t *id, int64_t *version,
	                   struct diag *d);
	int (*secret_put)(void *h, int64_t id, const char *name,
	                  enum store_scope scope, int64_t scope_id,
	                  int64_t version, const uint8_t *sealed, size_t len,
	                  int64_t now, struct diag *d);
	int (*secret_list)(void *h, struct store_secret_list *out,
	                   struct diag *d);
	int (*secret_get)(void *h, const char *name, enum store_scope scope,
	                  int64_t scope_id, struct store_secret *out,
	                  struct diag *d);
	int (*secret_remove)(void *h, const char *name, enum store_scope scope,
	                     int64_t scope_id, struct diag *d);
	int (*secret_latest_all)(void *h, struct store_secret_list *out,
	                         struct diag *d);

	int (*token_create)(void *h, const char *token_hash, int64_t user_id,
	                    int64_t expires_at, int64_t uses,
	                    const char *created_by, int64_t now, int64_t *id,
	                    struct diag *d);
	int (*token_get)(void *h, const char *token_hash,
	                 struct store_token *out, struct diag *d);
	/* One statement decrements; on a refusal the backend reads the row to
	 * say which condition failed. */
	int (*token_consume)(void *h, const char *token_hash, int64_t now,
	                     struct store_token *out, struct diag *d);
	int (*token_list)(void *h, struct store_token_list *out,
	                  struct diag *d);
	int (*token_revoke)(void *h, int64_t id, struct diag *d);
	int (*token_revoke_user)(void *h, int64_t user_id, size_t *count,
	                         struct diag *d);

	int (*device_create)(void *h, const char *id, int64_t user_id,
	                     const char *hostname, const char *os,
	                     const char *cert_serial,
	                     const char *cert_fingerprint,
	                     int64_t cert_not_after, int64_t now,
	                     struct diag *d);
	int (*device_renew)(void *h, const char *id, const char *cert_serial,
	                    const char *cert_fingerprint,
	                    int64_t cert_not_after, int64_t now,
	                    struct diag *d);
	int (*device_certs)(void *h, struct store_device_cert_list *out,
	                    struct diag *d);
	int (*device_get)(void *h, const char *id, const char *cert_serial,
	                  struct store_device *out, struct diag *d);
	int (*device_list)(void *h, int64_t user_id,
	                   struct store_device_list *out, struct diag *d);
	int (*device_touch)(void *h, const char *id, int64_t last_seen,
	                    int64_t applied_revision, const char *report_json,
	                    struct diag *d);
	int (*device_touch_many)(void *h, const struct store_touch *v, size_t n,
	                         struct diag *d);
	int (*device_calls_dropped)(void *h, const char *id, int64_t dropped,
	                            struct diag *d);
	int (*device_revoke)(void *h, const char *id, const char *reason,
	                     int64_t now, struct diag *d);
	int (*device_revoke_user)(void *h, int64_t user_id, const char *reason,
	                          int64_t now, struct store_id_list *ids,
	                          struct diag *d);

	int (*delivery_record)(void *h, const char *device_id,
	                       int64_t secret_id, int64_t revision, int64_t now,
	                       struct diag *d);
	int (*delivery_list_user)(void *h, int64_t user_id,
	                          struct store_delivery_list *out,
	                          struct diag *d);

	int (*admin_token_add)(void *h, const char *name, const char *role,
	                       const char *token_hash, int64_t now, int64_t *id,
	                       struct diag *d);
	int (*admin_token_get)(void *h, const char *token_hash,
	                       struct store_admin_token *out, struct diag *d);
	int (*admin_token_list)(void *h, struct store_admin_token_list *out,
	                        struct diag *d);
	int (*admin_token_revoke)(void *h, int64_t id, struct diag *d);

	int (*revision_bump)(void *h, int64_t *next, struct diag *d);
	int (*revision_current)(void *h, int64_t *cur, struct diag *d);
	int (*revision_record)(void *h, const struct store_revision *rev,
	                       int64_t now, struct diag *d);
	int (*revision_latest)(void *h, struct store_revision *out,
	                       struct diag *d);

	/* The last row's id and hash (0 and "" for an empty log) and the id
	 * the backend recorded as last appended (its truncation check). */
	int (*audit_last)(void *h, int64_t *last_id,
	                  char last_hash[STORE_HASH_HEX + 1], int64_t *head_id,
	                  struct diag *d);
	/* Inserts a row whose id and hash store.c computed, and records its
	 * id as the last appended. */
	int (*audit_insert)(void *h, const struct store_audit *row,
	                    struct diag *d);
	int (*audit_list)(void *h, int64_t since, int64_t after_id,
	                  size_t limit, struct store_audit_list *out,
	                  struct diag *d);
	int (*audit_find)(void *h, const struct store_audit_filter *f,
	                  struct store_audit_list *out, struct diag *d);
	/* The seal of the head (store.c's keyed MAC of the last row's id and
	 * hash; 0 when none was ever written), and writing it. */
	int (*audit_seal_get)(void *h, int64_t *seal, struct diag *d);
	int (*audit_seal_set)(void *h, int64_t seal, struct diag *d);

	/* One record; 1 inserted, 0 held already. */
	int (*call_insert)(void *h, const char *device_id,
	                   const struct store_call *c, int64_t now,
	                   struct diag *d);
	int (*call_through)(void *h, const char *device_id, uint64_t *seq,
	                    struct diag *d);
	int (*calls_list)(void *h, const struct store_call_filter *f,
	                  struct store_call_list *out, struct diag *d);
	int (*calls_prune)(void *h, int64_t before_s, size_t *removed,
	                   struct diag *d);

	/* gone_at: when the replica counts as gone without another beat. */
	int (*replica_beat)(void *h, const char *address, int64_t now,
	                    int64_t gone_at, struct diag *d);
	/* Those whose gone_at is at or after now; and removing the others. */
	int (*replica_list)(void *h, int64_t now, size_t limit,
	                    struct store_id_list *out, struct diag *d);
	int (*replica_prune)(void *h, int64_t now, size_t *removed,
	                     struct diag *d);
	int (*replica_remove)(void *h, const char *address, struct diag *d);
	/* Console sessions. */
	int (*session_put)(void *h, const struct store_session *se,
	                   struct diag *d);
	int (*session_get)(void *h, const char *id_hash,
	                   struct store_session *out, struct diag *d);
	int (*session_touch)(void *h, const char *id_hash, int64_t last_used,
	                     struct diag *d);
	int (*session_remove)(void *h, const char *id_hash, struct diag *d);
	int (*session_prune)(void *h, int64_t created_before,
	                     int64_t used_before, size_t keep, size_t *left,
	                     struct diag *d);

	/* Replication: NULL in a backend that is not shared. */
	int (*pub_entry_put)(void *h, const struct store_pub_entry *e,
	                     struct diag *d);
	int (*pub_entry_prune)(void *h, int64_t revision, struct diag *d);
	int (*pub_entry_replace)(void *h, const struct store_pub_entry *v,
	                         size_t n, struct diag *d);
	int (*pub_entry_since)(void *h, int64_t revision,
	                       struct store_pub_entry_list *out,
	                       struct store_id_list *ids, struct diag *d);
	int (*revocation_put)(void *h, const char *device_id,
	                      const uint8_t *env, size_t len, struct diag *d);
	int (*revocation_get)(void *h, const char *device_id, uint8_t **env,
	                      size_t *len, struct diag *d);
	int (*notify)(void *h, const char *payload, struct diag *d);
	int (*listen_open)(const char *path, void **l, struct diag *d);
	int (*listen_fd)(void *l);
	int (*listen_read)(void *l, void (*each)(void *, const char *),
	                   void *arg, size_t *count, struct diag *d);
	void (*listen_close)(void *l);

	/* Copying (store_copy(), inside its transactions); a backend that
	 * is not copied from or to leaves the ones it does not need NULL.
	 * table and cols come from store.c's own list, never from input. */
	int (*table_count)(void *h, const char *table, int64_t *n,
	                   struct diag *d);
	/* Calls row for every row of table, cells in the order of cols. */
	int (*table_each)(void *h, const char *table, const char *const *cols,
	                  size_t ncols,
	                  int (*row)(void *arg, const struct store_cell *cells,
	                             struct diag *d),
	                  void *arg, struct diag *d);
	/* Inserts one row; a meta row replaces the default one. */
	int (*table_insert)(void *h, const char *table, const char *const *cols,
	                    size_t ncols, const struct store_cell *cells,
	                    struct diag *d);
	/* The highest id table ever handed out (0: none), and raising the
	 * next one above floor. */
	int (*id_floor_get)(void *h, const char *table, int64_t *floor,
	                    struct diag *d);
	int (*id_floor_set)(void *h, const char *table, int64_t floor,
	                    struct diag *d);
};

/* The backends built in: "sqlite" (store_sqlite.c), "postgres"
 * (store_pg.c). */
extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

#endif
