/* SPDX-License-Identifier: MIT */
/* The store's SQLite backend: one connection per handle, WAL, a versioned
 * schema with forward migrations, and cached prepared statements. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define STORE_SQLITE_APP_ID  0x6d63666c /* "mcfl" in the database header */
#define STORE_SQLITE_BUSY_MS 5000

/*
 * Forward migrations: entry i takes the schema from version i to i+1 and
 * runs, with the user_version update, in one transaction. A later schema is
 * one more string appended here; an entry is never edited once released.
 *
 * Notes on version 1:
 * - ids are AUTOINCREMENT so that an id, once in the audit log, never names
 *   another row after a removal;
 * - secrets carry a plain scope_id (no foreign key: the scope is one of two
 *   tables) and their ids come from meta.secret_id, reserved before the
 *   value is sealed with the id as AAD;
 * - deliveries copy the secret's name, scope and version, so that they
 *   outlive its removal; they go only with their device;
 * - the audit table refuses UPDATE and DELETE; meta.audit_head remembers
 *   the last id appended, so that deleting the newest rows shows.
 */
static const char *const store_sqlite_migrations[] = {
    /* 1: the initial schema */
    "PRAGMA application_id = 1835230828;\n"
    "CREATE TABLE meta (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO meta (key, value) VALUES ('revision', 0),\n"
    "  ('secret_id', 0), ('audit_head', 0);\n"
    "CREATE TABLE users (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  email TEXT,\n"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE teams (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> 'everyone'),\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE memberships (\n"
    "  team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,\n"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (team_id, user_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX memberships_user ON memberships (user_id, team_id);\n"
    "CREATE TABLE servers (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  entry_json TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  updated_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE grants (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  server_id INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('everyone', 'team', 'user')),\n"
    "  team_id INTEGER REFERENCES teams (id) ON DELETE CASCADE,\n"
    "  user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,\n"
    "  tools_allow TEXT,\n"
    "  tools_deny TEXT,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  CHECK ((kind = 'everyone' AND team_id IS NULL AND user_id IS NULL)\n"
    "      OR (kind = 'team' AND team_id IS NOT NULL AND user_id IS NULL)\n"
    "      OR (kind = 'user' AND user_id IS NOT NULL AND team_id IS NULL))\n"
    ");\n"
    "CREATE UNIQUE INDEX grants_target ON grants\n"
    "  (server_id, kind, ifnull(team_id, 0), ifnull(user_id, 0));\n"
    "CREATE INDEX grants_team ON grants (team_id);\n"
    "CREATE INDEX grants_user ON grants (user_id);\n"
    "CREATE TABLE secrets (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  scope TEXT NOT NULL CHECK (scope IN ('org', 'team', 'user')),\n"
    "  scope_id INTEGER NOT NULL,\n"
    "  version INTEGER NOT NULL CHECK (version >= 1),\n"
    "  sealed BLOB NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  CHECK ((scope = 'org') = (scope_id = 0))\n"
    ");\n"
    "CREATE UNIQUE INDEX secrets_version ON secrets\n"
    "  (name, scope, scope_id, version);\n"
    "CREATE INDEX secrets_scope ON secrets (scope, scope_id);\n"
    "CREATE TABLE devices (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
    "  hostname TEXT NOT NULL,\n"
    "  os TEXT NOT NULL,\n"
    "  cert_serial TEXT NOT NULL UNIQUE,\n"
    "  cert_fingerprint TEXT NOT NULL,\n"
    "  enrolled_at INTEGER NOT NULL,\n"
    "  last_seen INTEGER NOT NULL DEFAULT 0,\n"
    "  applied_revision INTEGER NOT NULL DEFAULT 0,\n"
    "  report_json TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'active'\n"
    "    CHECK (status IN ('active', 'revoked')),\n"
    "  revoked_at INTEGER NOT NULL DEFAULT 0,\n"
    "  revoke_reason TEXT\n"
    ");\n"
    "CREATE INDEX devices_user ON devices (user_id, status);\n"
    "CREATE TABLE enroll_tokens (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  token_hash TEXT NOT NULL UNIQUE,\n"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  uses_left INTEGER NOT NULL CHECK (uses_left >= 0),\n"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),\n"
    "  created_at INTEGER NOT NULL,\n"
    "  created_by TEXT\n"
    ");\n"
    "CREATE INDEX enroll_tokens_user ON enroll_tokens (user_id);\n"
    "CREATE TABLE deliveries (\n"
    "  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  secret_id INTEGER NOT NULL,\n"
    "  secret_name TEXT NOT NULL,\n"
    "  scope TEXT NOT NULL,\n"
    "  scope_id INTEGER NOT NULL,\n"
    "  scope_name TEXT,\n"
    "  version INTEGER NOT NULL,\n"
    "  revision INTEGER NOT NULL,\n"
    "  delivered_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (device_id, secret_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE admin_tokens (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL,\n"
    "  token_hash TEXT NOT NULL UNIQUE,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))\n"
    ");\n"
    "CREATE TABLE revisions (\n"
    "  revision INTEGER PRIMARY KEY,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  leaf_count INTEGER NOT NULL,\n"
    "  merkle_root TEXT NOT NULL,\n"
    "  signature TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE audit (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,\n"
    "  actor TEXT NOT NULL,\n"
    "  action TEXT NOT NULL,\n"
    "  target TEXT NOT NULL,\n"
    "  details TEXT,\n"
    "  prev_hash TEXT NOT NULL,\n"
    "  hash TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX audit_at ON audit (at);\n"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n",
    /* 2: the launchers' calls; one row per (device, seq). The user is
     * copied, so that a record outlives its device and user. */
    "CREATE TABLE calls (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device_id TEXT NOT NULL,\n"
    "  user_name TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  at_ms INTEGER NOT NULL,\n"
    "  server TEXT NOT NULL,\n"
    "  method TEXT NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  duration_us INTEGER NOT NULL,\n"
    "  outcome INTEGER NOT NULL,\n"
    "  bytes_in INTEGER NOT NULL,\n"
    "  bytes_out INTEGER NOT NULL,\n"
    "  detail TEXT,\n"
    "  received_at INTEGER NOT NULL,\n"
    "  UNIQUE (device_id, seq)\n"
    ");\n"
    "CREATE INDEX calls_at ON calls (at_ms);\n"
    "CREATE INDEX calls_user ON calls (user_name, id);\n"
    "CREATE INDEX calls_server ON calls (server, id);\n"
    "CREATE INDEX calls_received ON calls (received_at);\n",
    /* 3: rate limits on grants, in their canonical spelling; the call
     * records each device's launchers had to drop. */
    "ALTER TABLE grants ADD COLUMN rate TEXT;\n"
    "ALTER TABLE grants ADD COLUMN tool_rates TEXT;\n"
    "ALTER TABLE devices ADD COLUMN calls_dropped INTEGER NOT NULL\n"
    "  DEFAULT 0;\n",
    /* 4: console sessions, which outlive a restart. (PostgreSQL's 4 also
     * holds what replicas share; SQLite serves one daemon.) */
    "CREATE TABLE sessions (\n"
    "  id_hash TEXT PRIMARY KEY,\n"
    "  csrf TEXT NOT NULL,\n"
    "  admin_hash TEXT NOT NULL,\n"
    "  created INTEGER NOT NULL,\n"
    "  last_used INTEGER NOT NULL\n"
    ");\n",
    /* 5: the replicas sharing the store, by agent address, with their
     * last heartbeat and when they count as gone (Unix seconds). */
    "CREATE TABLE replicas (\n"
    "  address TEXT PRIMARY KEY,\n"
    "  heartbeat INTEGER NOT NULL,\n"
    "  gone_at INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n",
    /* 6: admin tokens' roles (server/role.h). The tokens made before were
     * full admins, so they become owners; every insert names its role. */
    "ALTER TABLE admin_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'\n"
    "  CHECK (role IN ('owner', 'admin', 'helpdesk', 'auditor', 'scim'));\n",
    /* 7: a console session opened by an identity provider's sign-in
     * names the person and the role the configuration mapped them to
     * (docs/design.md, "Console sign-in with OpenID Connect"); its
     * admin_hash is then "". */
    "ALTER TABLE sessions ADD COLUMN identity TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';\n",
    /* 8: offboarding reports, kept for the user's page and SCIM (every
     * offboarding a row; the newest is shown). They go with their user. */
    "CREATE TABLE offboardings (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
    "  actor TEXT NOT NULL,\n"
    "  report_json TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX offboardings_user ON offboardings (user_id, id);\n",
    /* 9: what SCIM provisioning keeps of users and teams beyond their
     * rows (server/scim.c): the identity provider's externalId, the
     * attributes mcpfleet has no column for, and a version for ETags. A
     * user deleted by SCIM stays, offboarded, with deleted = 1. */
    "CREATE TABLE scim_users (\n"
    "  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,\n"
    "  external_id TEXT UNIQUE,\n"
    "  attrs_json TEXT NOT NULL,\n"
    "  deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  version INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE scim_groups (\n"
    "  team_id INTEGER PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,\n"
    "  external_id TEXT UNIQUE,\n"
    "  attrs_json TEXT NOT NULL,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  version INTEGER NOT NULL\n"
    ");\n",
    /* 10: certificate renewal (docs/design.md, "Certificate renewal"): when
     * each device's certificate expires (0: issued before), and the
     * certificates a renewal replaced, which still name their device until
     * they expire (not_after 0: unknown, kept with the device). */
    "ALTER TABLE devices ADD COLUMN cert_not_after INTEGER NOT NULL\n"
    "  DEFAULT 0;\n"
    "CREATE TABLE device_certs (\n"
    "  serial TEXT PRIMARY KEY,\n"
    "  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  not_after INTEGER NOT NULL,\n"
    "  replaced_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX device_certs_device ON device_certs (device_id);\n",
};

#define STORE_SQLITE_NMIGRATIONS                                               \
	(sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]))

/* ---- Statements, prepared once per connection ---- */

enum store_sqlite_sq {
	SQ_BEGIN_WRITE,
	SQ_BEGIN_READ,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_META_GET,
	SQ_META_SET,
	SQ_META_BUMP,
	SQ_META_UPSERT,
	SQ_USER_ADD,
	SQ_USER_BY_NAME,
	SQ_USER_BY_NAME_NOCASE,
	SQ_USER_BY_ID,
	SQ_USER_NAME,
	SQ_USER_LIST,
	SQ_USER_ACTIVE_DEVICES,
	SQ_USER_REMOVE,
	SQ_USER_SET_DISABLED,
	SQ_USER_SET_EMAIL,
	SQ_TEAM_ADD,
	SQ_TEAM_BY_NAME,
	SQ_TEAM_BY_ID,
	SQ_TEAM_NAME,
	SQ_TEAM_LIST,
	SQ_TEAM_REMOVE,
	SQ_SCOPE_SECRETS,
	SQ_MEMBER_ADD,
	SQ_MEMBER_REMOVE,
	SQ_MEMBER_TEAMS,
	SQ_MEMBER_USERS,
	SQ_MEMBER_ALL,
	SQ_SERVER_ADD,
	SQ_SERVER_BY_NAME,
	SQ_SERVER_BY_ID,
	SQ_SERVER_NAME,
	SQ_SERVER_LIST,
	SQ_SERVER_SET,
	SQ_SERVER_REMOVE,
	SQ_GRANT_ADD,
	SQ_GRANT_LIST_ALL,
	SQ_GRANT_LIST_SERVER,
	SQ_GRANT_REMOVE,
	SQ_SECRET_NEXT_VERSION,
	SQ_SECRET_PUT,
	SQ_SECRET_LIST,
	SQ_SECRET_LATEST_ALL,
	SQ_SECRET_GET,
	SQ_SECRET_EXISTS,
	SQ_SECRET_REMOVE,
	SQ_TOKEN_CREATE,
	SQ_TOKEN_BY_HASH,
	SQ_TOKEN_LIST,
	SQ_TOKEN_CONSUME,
	SQ_TOKEN_REVOKED,
	SQ_TOKEN_REVOKE,
	SQ_TOKEN_REVOKE_USER,
	SQ_DEVICE_CREATE,
	SQ_DEVICE_BY_ID,
	SQ_DEVICE_BY_SERIAL,
	SQ_DEVICE_LIST_ALL,
	SQ_DEVICE_LIST_USER,
	SQ_DEVICE_TOUCH,
	SQ_DEVICE_CALLS_DROPPED,
	SQ_DEVICE_STATUS,
	SQ_DEVICE_REVOKE,
	SQ_DEVICE_REVOKE_USER,
	SQ_DEVICE_SERIAL_USED,
	SQ_DEVICE_CERT_PRUNE,
	SQ_DEVICE_CERT_KEEP,
	SQ_DEVICE_CERT_SET,
	SQ_DEVICE_CERT_LIST,
	SQ_DELIVERY_RECORD,
	SQ_DELIVERY_LIST_USER,
	SQ_CALL_INSERT,
	SQ_CALL_THROUGH,
	SQ_CALL_LIST_NEWEST,
	SQ_CALL_LIST_OLDEST,
	SQ_CALL_PRUNE,
	SQ_REPLICA_BEAT,
	SQ_REPLICA_LIST,
	SQ_REPLICA_PRUNE,
	SQ_REPLICA_REMOVE,
	SQ_ADMIN_ADD,
	SQ_ADMIN_BY_HASH,
	SQ_ADMIN_LIST,
	SQ_ADMIN_REVOKED,
	SQ_ADMIN_REVOKE,
	SQ_REVISION_RECORD,
	SQ_REVISION_LATEST,
	SQ_AUDIT_LAST,
	SQ_AUDIT_INSERT,
	SQ_AUDIT_LIST,
	SQ_AUDIT_FIND_OLDEST,
	SQ_AUDIT_FIND_NEWEST,
	SQ_SESSION_PUT,
	SQ_SESSION_GET,
	SQ_SESSION_TOUCH,
	SQ_SESSION_REMOVE,
	SQ_SESSION_EXPIRE,
	SQ_SESSION_LRU,
	SQ_SESSION_COUNT,
	SQ_OFFBOARDING_ADD,
	SQ_OFFBOARDING_LAST,
	SQ_SCIM_USER_GET,
	SQ_SCIM_GROUP_GET,
	SQ_SCIM_USER_FIND,
	SQ_SCIM_GROUP_FIND,
	SQ_SCIM_USER_PUT,
	SQ_SCIM_GROUP_PUT,
	SQ_COUNT_
};

/* SQL reads better laid out by hand. */
/* clang-format off */
#define SQ_USER_COLS \
	"u.id, u.name, ifnull(u.email, ''), u.disabled, u.created_at"
#define SQ_SERVER_COLS "id, name, entry_json, created_at, updated_at"
#define SQ_GRANT_SELECT \
	"SELECT g.id, g.server_id, s.name, g.kind," \
	" ifnull(g.team_id, ifnull(g.user_id, 0))," \
	" CASE g.kind WHEN 'team' THEN t.name WHEN 'user' THEN u.name" \
	" ELSE 'everyone' END," \
	" g.tools_allow, g.tools_deny, g.created_at, g.rate, g.tool_rates" \
	" FROM grants g JOIN servers s ON s.id = g.server_id" \
	" LEFT JOIN teams t ON t.id = g.team_id" \
	" LEFT JOIN users u ON u.id = g.user_id"
/* The name of a secret's team or user; a is the table's alias. */
#define SQ_SCOPE_NAME(a) \
	"CASE " a ".scope" \
	" WHEN 'team' THEN (SELECT name FROM teams WHERE id = " a ".scope_id)" \
	" WHEN 'user' THEN (SELECT name FROM users WHERE id = " a ".scope_id)" \
	" ELSE '' END"
/* The latest version of each secret: SQLite takes the bare columns of a
 * max() aggregate from the row that holds the maximum. */
#define SQ_SECRET_LATEST(extra) \
	"SELECT l.id, l.name, l.scope, l.scope_id, " SQ_SCOPE_NAME("l") "," \
	" l.version, l.created_at" extra \
	" FROM (SELECT id, name, scope, scope_id," \
	" max(version) AS version, created_at, sealed" \
	" FROM secrets GROUP BY name, scope, scope_id) l" \
	" ORDER BY l.name, l.scope, l.scope_id"
#define SQ_TOKEN_SELECT \
	"SELECT k.id, k.token_hash, k.user_id, u.name, k.expires_at," \
	" k.uses_left, k.revoked, k.created_at, ifnull(k.created_by, '')," \
	" u.disabled FROM enroll_tokens k JOIN users u ON u.id = k.user_id"
#define SQ_DEVICE_SELECT \
	"SELECT d.id, d.user_id, u.name, d.hostname, d.os, d.cert_serial," \
	" d.cert_fingerprint, d.enrolled_at, d.last_seen," \
	" d.applied_revision, d.report_json, d.status, d.revoked_at," \
	" d.revoke_reason, d.calls_dropped, d.cert_not_after," \
	" COALESCE((SELECT max(c.replaced_at) FROM device_certs c" \
	" WHERE c.device_id = d.id), 0)" \
	" FROM devices d JOIN users u ON u.id = d.user_id"
#define SQ_ADMIN_COLS "id, name, token_hash, created_at, revoked, role"
#define SQ_AUDIT_COLS "id, at, actor, action, target, details, prev_hash, hash"
/* The id bounds as ranges (coalesce, not "IS NULL OR"), so that either
 * order walks the primary key from the cursor on. */
#define SQ_CALL_COLS                                                          \
	"id, device_id, user_name, seq, at_ms, server, method, name,"        \
	" duration_us, outcome, bytes_in, bytes_out, detail, received_at"
#define SQ_CALL_WHERE                                                         \
	" WHERE (?1 IS NULL OR user_name = ?1)"                               \
	" AND (?2 IS NULL OR device_id = ?2)"                                 \
	" AND (?3 IS NULL OR server = ?3) AND (?4 IS NULL OR name = ?4)"      \
	" AND (?5 IS NULL OR outcome = ?5)"                                   \
	" AND (?6 IS NULL OR at_ms >= ?6) AND (?7 IS NULL OR at_ms < ?7)"     \
	" AND id < coalesce(?8, 9223372036854775807)"                         \
	" AND id > coalesce(?9, 0)"

/* store_audit_find()'s filter: ?1 action (ending in '.': a prefix), ?2 a
 * part of the actor, ?3 ?4 the time, ?5 ?6 the ids, as bounds of the rowid
 * (coalesce, not "IS NULL OR"), so that a page deep in a long log is a
 * range, not a scan from the end. */
#define SQ_AUDIT_WHERE                                                        \
	" WHERE (?1 IS NULL OR action = ?1 OR (substr(?1, -1) = '.'"          \
	" AND substr(action, 1, length(?1)) = ?1))"                           \
	" AND (?2 IS NULL OR instr(actor, ?2) > 0)"                           \
	" AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4)"           \
	" AND id > coalesce(?5, 0)"                                            \
	" AND id < coalesce(?6, 9223372036854775807)"

static const char *const store_sqlite_sql[SQ_COUNT_] = {
    [SQ_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SQ_BEGIN_READ] = "BEGIN DEFERRED",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT store_op",
    [SQ_RELEASE] = "RELEASE store_op",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO store_op",
    [SQ_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [SQ_META_SET] = "UPDATE meta SET value = ?2 WHERE key = ?1",
    [SQ_META_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = ?1"
                     " RETURNING value",
    [SQ_META_UPSERT] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [SQ_USER_ADD] = "INSERT INTO users (name, email, disabled, created_at)"
                    " VALUES (?1, ?2, 0, ?3) RETURNING id",
    [SQ_USER_BY_NAME] = "SELECT " SQ_USER_COLS " FROM users u"
                        " WHERE u.name = ?1",
    [SQ_USER_BY_NAME_NOCASE] = "SELECT " SQ_USER_COLS " FROM users u"
                               " WHERE u.name = ?1 COLLATE NOCASE"
                               " ORDER BY u.id LIMIT 1",
    [SQ_USER_BY_ID] = "SELECT " SQ_USER_COLS " FROM users u WHERE u.id = ?1",
    [SQ_USER_NAME] = "SELECT name FROM users WHERE id = ?1",
    [SQ_USER_LIST] = "SELECT " SQ_USER_COLS " FROM users u ORDER BY u.name",
    [SQ_USER_ACTIVE_DEVICES] = "SELECT count(*) FROM devices"
                               " WHERE user_id = ?1 AND status = 'active'",
    [SQ_USER_REMOVE] = "DELETE FROM users WHERE id = ?1",
    [SQ_USER_SET_DISABLED] = "UPDATE users SET disabled = ?2 WHERE id = ?1",
    [SQ_USER_SET_EMAIL] = "UPDATE users SET email = ?2 WHERE id = ?1",
    [SQ_TEAM_ADD] = "INSERT INTO teams (name, created_at) VALUES (?1, ?2)"
                    " RETURNING id",
    [SQ_TEAM_BY_NAME] = "SELECT id, name, created_at FROM teams"
                        " WHERE name = ?1",
    [SQ_TEAM_BY_ID] = "SELECT id, name, created_at FROM teams WHERE id = ?1",
    [SQ_TEAM_NAME] = "SELECT name FROM teams WHERE id = ?1",
    [SQ_TEAM_LIST] = "SELECT id, name, created_at FROM teams ORDER BY name",
    [SQ_TEAM_REMOVE] = "DELETE FROM teams WHERE id = ?1",
    [SQ_SCOPE_SECRETS] = "SELECT count(DISTINCT name), min(name)"
                         " FROM secrets WHERE scope = ?1 AND scope_id = ?2",
    [SQ_MEMBER_ADD] = "INSERT INTO memberships (team_id, user_id, created_at)"
                      " VALUES (?1, ?2, ?3)",
    [SQ_MEMBER_REMOVE] = "DELETE FROM memberships"
                         " WHERE team_id = ?1 AND user_id = ?2",
    [SQ_MEMBER_TEAMS] = "SELECT t.id, t.name, t.created_at FROM memberships m"
                        " JOIN teams t ON t.id = m.team_id"
                        " WHERE m.user_id = ?1 ORDER BY t.name",
    [SQ_MEMBER_USERS] = "SELECT " SQ_USER_COLS " FROM memberships m"
                        " JOIN users u ON u.id = m.user_id"
                        " WHERE m.team_id = ?1 ORDER BY u.name",
    [SQ_MEMBER_ALL] = "SELECT team_id, user_id FROM memberships"
                      " ORDER BY user_id, team_id",
    [SQ_SERVER_ADD] = "INSERT INTO servers (name, entry_json, created_at,"
                      " updated_at) VALUES (?1, ?2, ?3, ?3) RETURNING id",
    [SQ_SERVER_BY_NAME] = "SELECT " SQ_SERVER_COLS " FROM servers"
                          " WHERE name = ?1",
    [SQ_SERVER_BY_ID] = "SELECT " SQ_SERVER_COLS " FROM servers"
                        " WHERE id = ?1",
    [SQ_SERVER_NAME] = "SELECT name FROM servers WHERE id = ?1",
    [SQ_SERVER_LIST] = "SELECT " SQ_SERVER_COLS " FROM servers ORDER BY name",
    [SQ_SERVER_SET] = "UPDATE servers SET entry_json = ?2, updated_at = ?3"
                      " WHERE id = ?1",
    [SQ_SERVER_REMOVE] = "DELETE FROM servers WHERE id = ?1",
    [SQ_GRANT_ADD] = "INSERT INTO grants (server_id, kind, team_id, user_id,"
                     " tools_allow, tools_deny, created_at, rate, tool_rates)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                     " RETURNING id",
    [SQ_GRANT_LIST_ALL] = SQ_GRANT_SELECT " ORDER BY s.name, g.id",
    [SQ_GRANT_LIST_SERVER] = SQ_GRANT_SELECT " WHERE g.server_id = ?1"
                                             " ORDER BY g.id",
    [SQ_GRANT_REMOVE] = "DELETE FROM grants WHERE id = ?1",
    [SQ_SECRET_NEXT_VERSION] = "SELECT ifnull(max(version), 0) + 1"
                               " FROM secrets WHERE name = ?1"
                               " AND scope = ?2 AND scope_id = ?3",
    [SQ_SECRET_PUT] = "INSERT INTO secrets (id, name, scope, scope_id,"
                      " version, sealed, created_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_SECRET_LIST] = SQ_SECRET_LATEST(""),
    [SQ_SECRET_LATEST_ALL] = SQ_SECRET_LATEST(", l.sealed"),
    [SQ_SECRET_GET] = "SELECT s.id, s.name, s.scope, s.scope_id, "
                      SQ_SCOPE_NAME("s") ", s.version, s.created_at,"
                      " s.sealed FROM secrets s"
                      " WHERE s.name = ?1 AND s.scope = ?2"
                      " AND s.scope_id = ?3"
                      " ORDER BY s.version DESC LIMIT 1",
    [SQ_SECRET_EXISTS] = "SELECT 1 FROM secrets WHERE id = ?1",
    [SQ_SECRET_REMOVE] = "DELETE FROM secrets WHERE name = ?1"
                         " AND scope = ?2 AND scope_id = ?3",
    [SQ_TOKEN_CREATE] = "INSERT INTO enroll_tokens (token_hash, user_id,"
                        " expires_at, uses_left, revoked, created_at,"
                        " created_by) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)"
                        " RETURNING id",
    [SQ_TOKEN_BY_HASH] = SQ_TOKEN_SELECT " WHERE k.token_hash = ?1",
    [SQ_TOKEN_LIST] = SQ_TOKEN_SELECT " ORDER BY k.id",
    /* The whole check-and-use: one statement, so two enrollments racing
     * for the last use cannot both win. */
    [SQ_TOKEN_CONSUME] = "UPDATE enroll_tokens SET uses_left = uses_left - 1"
                         " WHERE token_hash = ?1 AND uses_left > 0"
                         " AND revoked = 0 AND expires_at > ?2"
                         " AND (SELECT disabled FROM users"
                         " WHERE id = enroll_tokens.user_id) = 0"
                         " RETURNING id",
    [SQ_TOKEN_REVOKED] = "SELECT revoked FROM enroll_tokens WHERE id = ?1",
    [SQ_TOKEN_REVOKE] = "UPDATE enroll_tokens SET revoked = 1"
                        " WHERE id = ?1 AND revoked = 0",
    [SQ_TOKEN_REVOKE_USER] = "UPDATE enroll_tokens SET revoked = 1"
                             " WHERE user_id = ?1 AND revoked = 0",
    [SQ_DEVICE_CREATE] = "INSERT INTO devices (id, user_id, hostname, os,"
                         " cert_serial, cert_fingerprint, enrolled_at,"
                         " cert_not_after)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_DEVICE_BY_ID] = SQ_DEVICE_SELECT " WHERE d.id = ?1",
    [SQ_DEVICE_BY_SERIAL] = SQ_DEVICE_SELECT
    " WHERE d.cert_serial = ?1 OR d.id ="
    " (SELECT device_id FROM device_certs WHERE serial = ?1)",
    [SQ_DEVICE_SERIAL_USED] = "SELECT 1 FROM devices WHERE cert_serial = ?1"
                              " UNION ALL SELECT 1 FROM device_certs"
                              " WHERE serial = ?1",
    [SQ_DEVICE_CERT_PRUNE] = "DELETE FROM device_certs WHERE device_id = ?1"
                             " AND not_after <> 0 AND not_after < ?2",
    [SQ_DEVICE_CERT_KEEP] = "INSERT INTO device_certs (serial, device_id,"
                            " not_after, replaced_at)"
                            " SELECT cert_serial, id, cert_not_after, ?2"
                            " FROM devices WHERE id = ?1"
                            " AND status = 'active'",
    [SQ_DEVICE_CERT_SET] = "UPDATE devices SET cert_serial = ?2,"
                           " cert_fingerprint = ?3, cert_not_after = ?4"
                           " WHERE id = ?1",
    [SQ_DEVICE_CERT_LIST] = "SELECT serial, device_id, not_after"
                            " FROM device_certs ORDER BY serial",
    [SQ_DEVICE_LIST_ALL] = SQ_DEVICE_SELECT " ORDER BY d.id",
    [SQ_DEVICE_LIST_USER] = SQ_DEVICE_SELECT " WHERE d.user_id = ?1"
                                             " ORDER BY d.id",
    [SQ_DEVICE_CALLS_DROPPED] = "UPDATE devices"
                                " SET calls_dropped = max(calls_dropped, ?2)"
                                " WHERE id = ?1",
    [SQ_DEVICE_TOUCH] = "UPDATE devices SET last_seen = ?2,"
                        " applied_revision = ?3,"
                        " report_json = ifnull(?4, report_json)"
                        " WHERE id = ?1",
    [SQ_DEVICE_STATUS] = "SELECT status FROM devices WHERE id = ?1",
    [SQ_DEVICE_REVOKE] = "UPDATE devices SET status = 'revoked',"
                         " revoked_at = ?2, revoke_reason = ?3"
                         " WHERE id = ?1 AND status = 'active'",
    [SQ_DEVICE_REVOKE_USER] = "UPDATE devices SET status = 'revoked',"
                              " revoked_at = ?2, revoke_reason = ?3"
                              " WHERE user_id = ?1 AND status = 'active'"
                              " RETURNING id",
    /* The first delivery of a secret record to a device is the one kept. */
    [SQ_DELIVERY_RECORD] = "INSERT OR IGNORE INTO deliveries (device_id,"
                           " secret_id, secret_name, scope, scope_id,"
                           " scope_name, version, revision, delivered_at)"
                           " SELECT ?1, s.id, s.name, s.scope, s.scope_id, "
                           SQ_SCOPE_NAME("s") ", s.version, ?3, ?4"
                           " FROM secrets s WHERE s.id = ?2",
    [SQ_CALL_INSERT] = "INSERT OR IGNORE INTO calls (device_id, user_name,"
                       " seq, at_ms, server, method, name, duration_us,"
                       " outcome, bytes_in, bytes_out, detail, received_at)"
                       " SELECT ?1, ifnull((SELECT u.name FROM devices d"
                       " JOIN users u ON u.id = d.user_id WHERE d.id = ?1),"
                       " ''), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12",
    [SQ_CALL_THROUGH] = "SELECT ifnull(max(seq), 0) FROM calls"
                        " WHERE device_id = ?1",
    /* One statement for every filter: a NULL parameter selects all. */
    [SQ_CALL_LIST_NEWEST] = "SELECT " SQ_CALL_COLS " FROM calls" SQ_CALL_WHERE
                            " ORDER BY id DESC LIMIT ?10",
    [SQ_CALL_LIST_OLDEST] = "SELECT " SQ_CALL_COLS " FROM calls" SQ_CALL_WHERE
                            " ORDER BY id LIMIT ?10",
    [SQ_CALL_PRUNE] = "DELETE FROM calls WHERE received_at < ?1",
    [SQ_REPLICA_BEAT] =
	"INSERT INTO replicas (address, heartbeat, gone_at)"
	" VALUES (?1, ?2, ?3) ON CONFLICT (address) DO UPDATE"
	" SET heartbeat = excluded.heartbeat, gone_at = excluded.gone_at",
    [SQ_REPLICA_LIST] =
	"SELECT address FROM replicas WHERE gone_at >= ?1"
	" ORDER BY address LIMIT ?2",
    [SQ_REPLICA_PRUNE] = "DELETE FROM replicas WHERE gone_at < ?1",
    [SQ_REPLICA_REMOVE] = "DELETE FROM replicas WHERE address = ?1",
    [SQ_DELIVERY_LIST_USER] = "SELECT l.device_id, l.secret_id,"
                              " l.secret_name, l.scope, l.scope_id,"
                              " ifnull(l.scope_name, ''), l.version,"
                              " l.revision, l.delivered_at"
                              " FROM deliveries l"
                              " JOIN devices d ON d.id = l.device_id"
                              " WHERE d.user_id = ?1"
                              " ORDER BY l.secret_name, l.scope, l.scope_id,"
                              " l.version, l.device_id",
    [SQ_ADMIN_ADD] = "INSERT INTO admin_tokens (name, token_hash, created_at,"
                     " revoked, role) VALUES (?1, ?2, ?3, 0, ?4) RETURNING id",
    [SQ_ADMIN_BY_HASH] = "SELECT " SQ_ADMIN_COLS " FROM admin_tokens"
                         " WHERE token_hash = ?1",
    [SQ_ADMIN_LIST] = "SELECT " SQ_ADMIN_COLS " FROM admin_tokens"
                      " ORDER BY id",
    [SQ_ADMIN_REVOKED] = "SELECT revoked FROM admin_tokens WHERE id = ?1",
    [SQ_ADMIN_REVOKE] = "UPDATE admin_tokens SET revoked = 1"
                        " WHERE id = ?1 AND revoked = 0",
    [SQ_REVISION_RECORD] = "INSERT INTO revisions (revision, created_at,"
                           " leaf_count, merkle_root, signature)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_REVISION_LATEST] = "SELECT revision, created_at, leaf_count,"
                           " merkle_root, signature FROM revisions"
                           " ORDER BY revision DESC LIMIT 1",
    [SQ_AUDIT_LAST] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
    [SQ_AUDIT_INSERT] = "INSERT INTO audit (" SQ_AUDIT_COLS ")"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_AUDIT_LIST] = "SELECT " SQ_AUDIT_COLS " FROM audit"
                      " WHERE id > ?2 AND at >= ?1 ORDER BY id LIMIT ?3",
    [SQ_AUDIT_FIND_OLDEST] = "SELECT " SQ_AUDIT_COLS " FROM audit" SQ_AUDIT_WHERE
                             " ORDER BY id LIMIT ?7",
    [SQ_AUDIT_FIND_NEWEST] = "SELECT " SQ_AUDIT_COLS " FROM audit" SQ_AUDIT_WHERE
                             " ORDER BY id DESC LIMIT ?7",
    [SQ_SESSION_PUT] = "INSERT INTO sessions (id_hash, csrf, admin_hash,"
                       " created, last_used, identity, role)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_SESSION_GET] = "SELECT id_hash, csrf, admin_hash, created,"
                       " last_used, identity, role FROM sessions"
                       " WHERE id_hash = ?1",
    [SQ_SESSION_TOUCH] = "UPDATE sessions SET last_used = ?2"
                         " WHERE id_hash = ?1",
    [SQ_SESSION_REMOVE] = "DELETE FROM sessions WHERE id_hash = ?1",
    [SQ_SESSION_EXPIRE] = "DELETE FROM sessions WHERE created < ?1"
                          " OR last_used < ?2",
    [SQ_SESSION_LRU] = "DELETE FROM sessions WHERE id_hash IN"
                       " (SELECT id_hash FROM sessions"
                       " ORDER BY last_used, id_hash"
                       " LIMIT max((SELECT count(*) FROM sessions)"
                       " - ?1, 0))",
    [SQ_SESSION_COUNT] = "SELECT count(*) FROM sessions",
    [SQ_OFFBOARDING_ADD] = "INSERT INTO offboardings (user_id, actor,"
                           " report_json, created_at)"
                           " VALUES (?1, ?2, ?3, ?4) RETURNING id",
    [SQ_OFFBOARDING_LAST] = "SELECT id, user_id, actor, report_json,"
                            " created_at FROM offboardings"
                            " WHERE user_id = ?1 ORDER BY id DESC LIMIT 1",
    [SQ_SCIM_USER_GET] = "SELECT user_id, external_id, attrs_json, deleted,"
                         " updated_at, version FROM scim_users"
                         " WHERE user_id = ?1",
    [SQ_SCIM_GROUP_GET] = "SELECT team_id, external_id, attrs_json, 0,"
                          " updated_at, version FROM scim_groups"
                          " WHERE team_id = ?1",
    [SQ_SCIM_USER_FIND] = "SELECT user_id FROM scim_users"
                          " WHERE external_id = ?1",
    [SQ_SCIM_GROUP_FIND] = "SELECT team_id FROM scim_groups"
                           " WHERE external_id = ?1",
    [SQ_SCIM_USER_PUT] = "INSERT INTO scim_users (user_id, external_id,"
                         " attrs_json, deleted, updated_at, version)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, 1)"
                         " ON CONFLICT (user_id) DO UPDATE SET"
                         " external_id = excluded.external_id,"
                         " attrs_json = excluded.attrs_json,"
                         " deleted = excluded.deleted,"
                         " updated_at = excluded.updated_at,"
                         " version = scim_users.version + 1",
    [SQ_SCIM_GROUP_PUT] = "INSERT INTO scim_groups (team_id, external_id,"
                          " attrs_json, updated_at, version)"
                          " VALUES (?1, ?2, ?3, ?5, 1)"
                          " ON CONFLICT (team_id) DO UPDATE SET"
                          " external_id = excluded.external_id,"
                          " attrs_json = excluded.attrs_json,"
                          " updated_at = excluded.updated_at,"
                          " version = scim_groups.version + 1",
};
/* clang-format on */

/* One connection: not shared between threads. */
struct store_sqlite {
	sqlite3 *db;
	char *path;  /* for messages */
	int bind_rc; /* the first failed bind since the statement was taken */
	int last_rc; /* the extended result code of the last failed step */
	sqlite3_stmt *stmt[SQ_COUNT_];
	uint64_t errors; /* store_errors() */
};

/* ---- Statement helpers ---- */

/* Maps a failed SQLite result code to an err.h code and message. */
static int store_sqlite_fail(struct store_sqlite *db, int rc, const char *what,
                             struct diag *d)
{
	int code;

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		code = ERR_EXISTS;
		break;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		code = ERR_NOENT;
		break;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		code = ERR_INVALID;
		break;
	default:
		switch (rc & 0xff) {
		case SQLITE_NOMEM:
			code = ERR_NOMEM;
			break;
		case SQLITE_TOOBIG:
			code = ERR_TOOBIG;
			break;
		default:
			code = ERR_IO;
			break;
		}
	}
	if (code == ERR_IO || code == ERR_NOMEM)
		db->errors++;
	return diag_set(d, code, 0, 0, "store %s: %s: %s", db->path, what,
	                sqlite3_errmsg(db->db));
}

/* Returns the cached statement id, preparing it on first use. */
static int store_sqlite_stmt(struct store_sqlite *db, enum store_sqlite_sq id,
                             sqlite3_stmt **out, struct diag *d)
{
	int rc;

	if (db->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(db->db, store_sqlite_sql[id], -1,
		                        SQLITE_PREPARE_PERSISTENT,
		                        &db->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return store_sqlite_fail(db, rc, "prepare", d);
	}
	db->bind_rc = SQLITE_OK;
	*out = db->stmt[id];
	return 0;
}

/*
 * Binds record their first failure in db->bind_rc and store_sqlite_step()
 * reports it, so a call site binds without checking each one. Strings are
 * bound SQLITE_STATIC: they outlive the step, and store_sqlite_done()
 * clears the bindings.
 */
static void store_sqlite_bind_text(struct store_sqlite *db, sqlite3_stmt *s,
                                   int i, const char *v)
{
	int rc;

	if (v == NULL)
		rc = sqlite3_bind_null(s, i);
	else
		rc = sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK && db->bind_rc == SQLITE_OK)
		db->bind_rc = rc;
}

static void store_sqlite_bind_int(struct store_sqlite *db, sqlite3_stmt *s,
                                  int i, int64_t v)
{
	int rc = sqlite3_bind_int64(s, i, v);

	if (rc != SQLITE_OK && db->bind_rc == SQLITE_OK)
		db->bind_rc = rc;
}

/* Binds v, or NULL when v is 0 (a foreign key that does not apply). */
static void store_sqlite_bind_id(struct store_sqlite *db, sqlite3_stmt *s,
                                 int i, int64_t v)
{
	int rc = v != 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);

	if (rc != SQLITE_OK && db->bind_rc == SQLITE_OK)
		db->bind_rc = rc;
}

static void store_sqlite_bind_blob(struct store_sqlite *db, sqlite3_stmt *s,
                                   int i, const void *v, size_t len)
{
	int rc = sqlite3_bind_blob64(s, i, v, len, SQLITE_STATIC);

	if (rc != SQLITE_OK && db->bind_rc == SQLITE_OK)
		db->bind_rc = rc;
}

/* Steps s once: 1 for a row, 0 when done, or a negative code with d. */
static int store_sqlite_step(struct store_sqlite *db, sqlite3_stmt *s,
                             const char *what, struct diag *d)
{
	int rc;

	if (db->bind_rc != SQLITE_OK) {
		db->last_rc = db->bind_rc;
		db->errors++;
		return diag_set(
		    d, db->bind_rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_INTERNAL,
		    0, 0, "store %s: %s: cannot bind: %s", db->path, what,
		    sqlite3_errstr(db->bind_rc));
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db->last_rc = rc;
	return store_sqlite_fail(db, rc, what, d);
}

/* Resets s and drops its bindings; the statement stays cached. */
static void store_sqlite_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a statement without parameters or rows. */
static int store_sqlite_run(struct store_sqlite *db, enum store_sqlite_sq id,
                            const char *what, struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, id, &s, d)) != 0)
		return r;
	r = store_sqlite_step(db, s, what, d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* Copies text column i into *out, NULL for an SQL NULL. 0 or -ERR_NOMEM. */
static int store_sqlite_col_str(sqlite3_stmt *s, int i, char **out)
{
	const unsigned char *t;
	size_t n;
	char *p;

	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		*out = NULL;
		return 0;
	}
	if ((t = sqlite3_column_text(s, i)) == NULL)
		return -ERR_NOMEM;
	n = (size_t)sqlite3_column_bytes(s, i);
	if ((p = malloc(n + 1)) == NULL)
		return -ERR_NOMEM;
	memcpy(p, t, n);
	p[n] = '\0';
	*out = p;
	return 0;
}

/* Copies text column i into a fixed buffer; -ERR_IO when it cannot fit
 * (the stored row is not what this build wrote). */
static int store_sqlite_col_fixed(sqlite3_stmt *s, int i, char *out,
                                  size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);

	if (t == NULL)
		n = 0;
	if (n >= size)
		return -ERR_IO;
	if (n > 0)
		memcpy(out, t, n);
	out[n] = '\0';
	return 0;
}

static int store_sqlite_col_scope(sqlite3_stmt *s, int i, enum store_scope *out)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return store_scope_parse(t, out) == 0 ? 0 : -ERR_IO;
}

/* ---- Row readers: fill a zeroed struct from the current row ---- */

static int store_sqlite_read_user(sqlite3_stmt *s, void *p)
{
	struct store_user *u = p;

	u->id = sqlite3_column_int64(s, 0);
	u->disabled = sqlite3_column_int(s, 3) != 0;
	u->created_at = sqlite3_column_int64(s, 4);
	if (store_sqlite_col_str(s, 1, &u->name) != 0 ||
	    store_sqlite_col_str(s, 2, &u->email) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_user(void *p)
{
	store_user_clear(p);
}

static int store_sqlite_read_team(sqlite3_stmt *s, void *p)
{
	struct store_team *t = p;

	t->id = sqlite3_column_int64(s, 0);
	t->created_at = sqlite3_column_int64(s, 2);
	return store_sqlite_col_str(s, 1, &t->name);
}

static void store_sqlite_clear_team(void *p)
{
	store_team_clear(p);
}

static int store_sqlite_read_member(sqlite3_stmt *s, void *p)
{
	struct store_member *m = p;

	m->team_id = sqlite3_column_int64(s, 0);
	m->user_id = sqlite3_column_int64(s, 1);
	return 0;
}

static void store_sqlite_clear_nothing(void *p)
{
	(void)p;
}

static int store_sqlite_read_server(sqlite3_stmt *s, void *p)
{
	struct store_server *v = p;

	v->id = sqlite3_column_int64(s, 0);
	v->created_at = sqlite3_column_int64(s, 3);
	v->updated_at = sqlite3_column_int64(s, 4);
	if (store_sqlite_col_str(s, 1, &v->name) != 0 ||
	    store_sqlite_col_str(s, 2, &v->entry_json) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_server(void *p)
{
	store_server_clear(p);
}

static int store_sqlite_read_grant(sqlite3_stmt *s, void *p)
{
	struct store_grant *g = p;

	g->id = sqlite3_column_int64(s, 0);
	g->server_id = sqlite3_column_int64(s, 1);
	if (store_target_parse((const char *)sqlite3_column_text(s, 3),
	                       &g->kind) != 0)
		return -ERR_IO;
	g->target_id = sqlite3_column_int64(s, 4);
	g->created_at = sqlite3_column_int64(s, 8);
	if (store_sqlite_col_str(s, 2, &g->server_name) != 0 ||
	    store_sqlite_col_str(s, 5, &g->target_name) != 0 ||
	    store_sqlite_col_str(s, 6, &g->tools_allow) != 0 ||
	    store_sqlite_col_str(s, 7, &g->tools_deny) != 0 ||
	    store_sqlite_col_str(s, 9, &g->rate) != 0 ||
	    store_sqlite_col_str(s, 10, &g->tool_rates) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_grant(void *p)
{
	store_grant_clear(p);
}

/* Columns: id, name, scope, scope_id, scope name, version, created_at. */
static int store_sqlite_read_secret(sqlite3_stmt *s, void *p)
{
	struct store_secret *v = p;
	int r;

	v->id = sqlite3_column_int64(s, 0);
	if ((r = store_sqlite_col_scope(s, 2, &v->scope)) != 0)
		return r;
	v->scope_id = sqlite3_column_int64(s, 3);
	v->version = sqlite3_column_int64(s, 5);
	v->created_at = sqlite3_column_int64(s, 6);
	if (store_sqlite_col_str(s, 1, &v->name) != 0 ||
	    store_sqlite_col_str(s, 4, &v->scope_name) != 0)
		return -ERR_NOMEM;
	/* A team or user that is gone leaves its scope name NULL. */
	if (v->scope_name == NULL && (v->scope_name = strdup("")) == NULL)
		return -ERR_NOMEM;
	return 0;
}

/* As store_sqlite_read_secret(), plus the sealed bytes in column 7. */
static int store_sqlite_read_secret_sealed(sqlite3_stmt *s, void *p)
{
	struct store_secret *v = p;
	const void *b;
	size_t n;
	int r;

	if ((r = store_sqlite_read_secret(s, p)) != 0)
		return r;
	b = sqlite3_column_blob(s, 7);
	n = (size_t)sqlite3_column_bytes(s, 7);
	if (b == NULL || n == 0)
		return -ERR_IO;
	if ((v->sealed = malloc(n)) == NULL)
		return -ERR_NOMEM;
	memcpy(v->sealed, b, n);
	v->sealed_len = n;
	return 0;
}

static void store_sqlite_clear_secret(void *p)
{
	store_secret_clear(p);
}

static int store_sqlite_read_token(sqlite3_stmt *s, void *p)
{
	struct store_token *t = p;

	t->id = sqlite3_column_int64(s, 0);
	if (store_sqlite_col_fixed(s, 1, t->token_hash,
	                           sizeof(t->token_hash)) != 0)
		return -ERR_IO;
	t->user_id = sqlite3_column_int64(s, 2);
	t->expires_at = sqlite3_column_int64(s, 4);
	t->uses_left = sqlite3_column_int64(s, 5);
	t->revoked = sqlite3_column_int(s, 6) != 0;
	t->created_at = sqlite3_column_int64(s, 7);
	if (store_sqlite_col_str(s, 3, &t->user_name) != 0 ||
	    store_sqlite_col_str(s, 8, &t->created_by) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_token(void *p)
{
	store_token_clear(p);
}

static int store_sqlite_read_device(sqlite3_stmt *s, void *p)
{
	struct store_device *v = p;
	const char *status;

	v->user_id = sqlite3_column_int64(s, 1);
	v->enrolled_at = sqlite3_column_int64(s, 7);
	v->last_seen = sqlite3_column_int64(s, 8);
	v->applied_revision = sqlite3_column_int64(s, 9);
	status = (const char *)sqlite3_column_text(s, 11);
	if (status != NULL && strcmp(status, "active") == 0)
		v->status = STORE_DEVICE_ACTIVE;
	else if (status != NULL && strcmp(status, "revoked") == 0)
		v->status = STORE_DEVICE_REVOKED;
	else
		return -ERR_IO;
	v->revoked_at = sqlite3_column_int64(s, 12);
	v->calls_dropped = sqlite3_column_int64(s, 14);
	v->cert_not_after = sqlite3_column_int64(s, 15);
	v->cert_renewed_at = sqlite3_column_int64(s, 16);
	if (store_sqlite_col_str(s, 0, &v->id) != 0 ||
	    store_sqlite_col_str(s, 2, &v->user_name) != 0 ||
	    store_sqlite_col_str(s, 3, &v->hostname) != 0 ||
	    store_sqlite_col_str(s, 4, &v->os) != 0 ||
	    store_sqlite_col_str(s, 5, &v->cert_serial) != 0 ||
	    store_sqlite_col_str(s, 6, &v->cert_fingerprint) != 0 ||
	    store_sqlite_col_str(s, 10, &v->report_json) != 0 ||
	    store_sqlite_col_str(s, 13, &v->revoke_reason) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_device(void *p)
{
	store_device_clear(p);
}

static int store_sqlite_read_delivery(sqlite3_stmt *s, void *p)
{
	struct store_delivery *v = p;
	int r;

	v->secret_id = sqlite3_column_int64(s, 1);
	if ((r = store_sqlite_col_scope(s, 3, &v->scope)) != 0)
		return r;
	v->scope_id = sqlite3_column_int64(s, 4);
	v->version = sqlite3_column_int64(s, 6);
	v->revision = sqlite3_column_int64(s, 7);
	v->delivered_at = sqlite3_column_int64(s, 8);
	if (store_sqlite_col_str(s, 0, &v->device_id) != 0 ||
	    store_sqlite_col_str(s, 2, &v->secret_name) != 0 ||
	    store_sqlite_col_str(s, 5, &v->scope_name) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_delivery(void *p)
{
	struct store_delivery *v = p;

	free(v->device_id);
	free(v->secret_name);
	free(v->scope_name);
	memset(v, 0, sizeof(*v));
}

static int store_sqlite_read_admin(sqlite3_stmt *s, void *p)
{
	struct store_admin_token *t = p;

	t->id = sqlite3_column_int64(s, 0);
	if (store_sqlite_col_fixed(s, 2, t->token_hash,
	                           sizeof(t->token_hash)) != 0)
		return -ERR_IO;
	t->created_at = sqlite3_column_int64(s, 3);
	t->revoked = sqlite3_column_int(s, 4) != 0;
	/* The schema's CHECK keeps out any other name; a row that still
	 * holds one was written behind the store's back. */
	if (role_parse((const char *)sqlite3_column_text(s, 5),
	               "admin token role", &t->role, NULL) != 0)
		return -ERR_IO;
	return store_sqlite_col_str(s, 1, &t->name);
}

static void store_sqlite_clear_admin(void *p)
{
	store_admin_token_clear(p);
}

static int store_sqlite_read_audit(sqlite3_stmt *s, void *p)
{
	struct store_audit *a = p;

	a->id = sqlite3_column_int64(s, 0);
	a->at = sqlite3_column_int64(s, 1);
	/* An overlong hash is kept short rather than refused: verification
	 * then names the row instead of failing to read it. */
	if (store_sqlite_col_fixed(s, 6, a->prev_hash, sizeof(a->prev_hash)) !=
	        0 ||
	    store_sqlite_col_fixed(s, 7, a->hash, sizeof(a->hash)) != 0)
		a->hash[0] = '\0';
	if (store_sqlite_col_str(s, 2, &a->actor) != 0 ||
	    store_sqlite_col_str(s, 3, &a->action) != 0 ||
	    store_sqlite_col_str(s, 4, &a->target) != 0 ||
	    store_sqlite_col_str(s, 5, &a->details) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_audit(void *p)
{
	store_audit_clear(p);
}

/* What a reader's error means, for d. */
static int store_sqlite_read_fail(struct store_sqlite *db, int r,
                                  const char *what, struct diag *d)
{
	db->errors++;
	if (r == -ERR_NOMEM)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	return diag_set(d, r, 0, 0, "store %s: %s: a stored row is malformed",
	                db->path, what);
}

/*
 * Runs s (bound by the caller) and reads every row with read into a new
 * array of elements of size bytes. Returns 0 with *v (caller frees each
 * element with clear, then the array) and *n; resets s either way.
 */
static int store_sqlite_collect(struct store_sqlite *db, sqlite3_stmt *s,
                                size_t size,
                                int (*read)(sqlite3_stmt *, void *),
                                void (*clear)(void *), void **v, size_t *n,
                                const char *what, struct diag *d)
{
	char *arr = NULL, *p;
	size_t cnt = 0, cap = 0, i;
	int r;

	while ((r = store_sqlite_step(db, s, what, d)) == 1) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			if (cap > SIZE_MAX / size ||
			    (p = realloc(arr, cap * size)) == NULL) {
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
				goto out;
			}
			arr = p;
		}
		p = arr + cnt * size;
		memset(p, 0, size);
		cnt++;
		if ((r = read(s, p)) != 0) {
			r = store_sqlite_read_fail(db, r, what, d);
			goto out;
		}
	}
	if (r < 0)
		goto out;
	*v = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
	r = 0;
out:
	for (i = 0; i < cnt; i++)
		clear(arr + i * size);
	free(arr);
	store_sqlite_done(s);
	return r;
}

/*
 * Runs s and reads its first row, if any, into out (zeroed first). Returns
 * 1 with out filled (caller clears it), 0 when there is no row, or an
 * error. Resets s either way.
 */
static int store_sqlite_one(struct store_sqlite *db, sqlite3_stmt *s,
                            int (*read)(sqlite3_stmt *, void *),
                            void (*clear)(void *), void *out, size_t size,
                            const char *what, struct diag *d)
{
	int r, rr;

	memset(out, 0, size);
	if ((r = store_sqlite_step(db, s, what, d)) == 1 &&
	    (rr = read(s, out)) != 0) {
		clear(out);
		r = store_sqlite_read_fail(db, rr, what, d);
	}
	store_sqlite_done(s);
	return r;
}

/* Runs s and returns its first column as an integer in *v: 1 with *v, 0
 * when there is no row, or an error. */
static int store_sqlite_int(struct store_sqlite *db, sqlite3_stmt *s,
                            int64_t *v, const char *what, struct diag *d)
{
	int r;

	if ((r = store_sqlite_step(db, s, what, d)) == 1)
		*v = sqlite3_column_int64(s, 0);
	store_sqlite_done(s);
	return r;
}

/*
 * Looks up the name of row id with statement q (users, teams, servers).
 * Returns 0 with out, -ERR_NOENT ("no team with id 3"), or an error.
 */
static int store_sqlite_name(struct store_sqlite *db, enum store_sqlite_sq q,
                             const char *kind, int64_t id,
                             char out[STORE_NAME_MAX + 1], struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, q, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	if ((r = store_sqlite_step(db, s, kind, d)) == 1) {
		if (store_sqlite_col_fixed(s, 0, out, STORE_NAME_MAX + 1) != 0)
			r = store_sqlite_read_fail(db, -ERR_IO, kind, d);
		else
			r = 0;
	} else if (r == 0) {
		r = diag_set(d, ERR_NOENT, 0, 0, "no %s with id %" PRId64, kind,
		             id);
	}
	store_sqlite_done(s);
	return r;
}

/* Reads one meta counter. */
static int store_sqlite_meta_get(struct store_sqlite *db, const char *key,
                                 int64_t *v, struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_META_GET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, key);
	if ((r = store_sqlite_int(db, s, v, key, d)) == 0)
		r = diag_set(d, ERR_IO, 0, 0, "store %s: meta '%s' is missing",
		             db->path, key);
	return r < 0 ? r : 0;
}

/* Increments one meta counter and returns its new value. */
static int store_sqlite_meta_bump(struct store_sqlite *db, const char *key,
                                  int64_t *v, struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_META_BUMP, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, key);
	if ((r = store_sqlite_int(db, s, v, key, d)) == 0)
		r = diag_set(d, ERR_IO, 0, 0, "store %s: meta '%s' is missing",
		             db->path, key);
	return r < 0 ? r : 0;
}

/* "org", "team 'dev'", "user 'ann'" (or "team 7" when it is gone). */
static void store_sqlite_scope_label(struct store_sqlite *db,
                                     enum store_scope scope, int64_t scope_id,
                                     char *out, size_t size)
{
	char name[STORE_NAME_MAX + 1];
	enum store_sqlite_sq q =
	    scope == STORE_SCOPE_TEAM ? SQ_TEAM_NAME : SQ_USER_NAME;

	if (scope == STORE_SCOPE_ORG) {
		(void)snprintf(out, size, "org");
		return;
	}
	if (store_sqlite_name(db, q, store_scope_name(scope), scope_id, name,
	                      NULL) == 0)
		(void)snprintf(out, size, "%s '%s'", store_scope_name(scope),
		               name);
	else
		(void)snprintf(out, size, "%s %" PRId64,
		               store_scope_name(scope), scope_id);
}

/* Formats a Unix time as an ISO 8601 UTC string for messages. */
static void store_sqlite_fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, 32, "%" PRId64, t);
}

/* ---- Open, migrate, close ---- */

static void store_sqlite_close(void *h)
{
	struct store_sqlite *db = h;
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < SQ_COUNT_; i++)
		sqlite3_finalize(db->stmt[i]);
	sqlite3_close(db->db);
	free(db->path);
	free(db);
}

/* Runs one PRAGMA that returns a single value, as an integer or, when text
 * is not NULL, as text. */
static int store_sqlite_pragma(struct store_sqlite *db, const char *sql,
                               int64_t *v, char *text, size_t size,
                               struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((rc = sqlite3_prepare_v2(db->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		r = store_sqlite_fail(db, rc, sql, d);
		goto out;
	}
	db->bind_rc = SQLITE_OK;
	if ((r = store_sqlite_step(db, s, sql, d)) < 0)
		goto out;
	if (r == 0) {
		r = diag_set(d, ERR_IO, 0, 0, "store %s: %s returned nothing",
		             db->path, sql);
		goto out;
	}
	if (v != NULL)
		*v = sqlite3_column_int64(s, 0);
	if (text != NULL && store_sqlite_col_fixed(s, 0, text, size) != 0)
		text[0] = '\0';
	r = 0;
out:
	sqlite3_finalize(s);
	return r;
}

static int store_sqlite_exec(struct store_sqlite *db, const char *sql,
                             const char *what, struct diag *d)
{
	char *msg = NULL;
	int rc, r = 0;

	if ((rc = sqlite3_exec(db->db, sql, NULL, NULL, &msg)) != SQLITE_OK)
		r = diag_set(d,
		             (rc & 0xff) == SQLITE_NOMEM ? ERR_NOMEM : ERR_IO,
		             0, 0, "store %s: %s: %s", db->path, what,
		             msg != NULL ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return r;
}

/*
 * Brings the schema to the newest version this build (plus the test's
 * extra migrations) knows, in one transaction that also re-reads the
 * version, so that two processes opening a new database at once migrate it
 * once.
 */
static int store_sqlite_migrate(struct store_sqlite *db,
                                const struct store_open_opts *opts,
                                struct diag *d)
{
	int64_t have = 0, app = 0, known, v;
	char sql[64];
	const char *step;
	bool in_tx = false;
	int r;

	known = (int64_t)(STORE_SQLITE_NMIGRATIONS + opts->nextra);
	if ((r = store_sqlite_pragma(db, "PRAGMA application_id", &app, NULL, 0,
	                             d)) != 0)
		return r;
	if (app != 0 && app != STORE_SQLITE_APP_ID)
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "store %s: not an mcpfleet database (application "
		    "id 0x%08" PRIx64 ")",
		    db->path, (uint64_t)app);
	if ((r = store_sqlite_pragma(db, "PRAGMA user_version", &have, NULL, 0,
	                             d)) != 0)
		return r;
	if (have == known)
		return 0;
	if (have < known) {
		if ((r = store_sqlite_exec(db, "BEGIN IMMEDIATE", "migrate",
		                           d)) != 0)
			return r;
		in_tx = true;
		if ((r = store_sqlite_pragma(db, "PRAGMA user_version", &have,
		                             NULL, 0, d)) != 0)
			goto out;
	}
	if (have > known) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "store %s: database schema version %" PRId64
		             " is newer than this build knows (%" PRId64
		             "); run a newer mcpfleetd",
		             db->path, have, known);
		goto out;
	}
	if (have < 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "store %s: database schema version %" PRId64
		             " is not valid",
		             db->path, have);
		goto out;
	}
	for (v = have; v < known; v++) {
		step = (size_t)v < STORE_SQLITE_NMIGRATIONS
		           ? store_sqlite_migrations[v]
		           : opts->extra_migrations[(size_t)v -
		                                    STORE_SQLITE_NMIGRATIONS];
		(void)snprintf(sql, sizeof(sql),
		               "schema migration to version %" PRId64, v + 1);
		if ((r = store_sqlite_exec(db, step, sql, d)) != 0)
			goto out;
	}
	(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64,
	               known);
	if ((r = store_sqlite_exec(db, sql, "migrate", d)) != 0)
		goto out;
	r = store_sqlite_exec(db, "COMMIT", "migrate", d);
	in_tx = r != 0 && !sqlite3_get_autocommit(db->db);
out:
	if (in_tx)
		(void)store_sqlite_exec(db, "ROLLBACK", "migrate", NULL);
	return r;
}

static int store_sqlite_open(const char *path,
                             const struct store_open_opts *opts, void **h,
                             struct diag *d)
{
	struct store_sqlite *db;
	char mode[16];
	int64_t fk = 0;
	int fd, rc, r;

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->path = strdup(path)) == NULL) {
		free(db);
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	}
	/* The file holds sealed secrets and token hashes: create it owner-only
	 * before SQLite does (its -wal and -shm files copy the mode). */
	if (strcmp(path, ":memory:") != 0) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0) {
			r = diag_set(d, ERR_IO, 0, 0, "store %s: %s", path,
			             strerror(errno));
			goto out;
		}
		(void)close(fd);
	}
	/* NOMUTEX: a handle belongs to one thread (store.h). */
	rc = sqlite3_open_v2(path, &db->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                         SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
	                     NULL);
	if (rc != SQLITE_OK) {
		r = diag_set(d,
		             (rc & 0xff) == SQLITE_NOMEM ? ERR_NOMEM : ERR_IO,
		             0, 0, "store %s: cannot open: %s", path,
		             db->db != NULL ? sqlite3_errmsg(db->db)
		                            : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(db->db, 1);
	sqlite3_busy_timeout(db->db, STORE_SQLITE_BUSY_MS);
	if ((r = store_sqlite_pragma(db, "PRAGMA journal_mode = WAL", NULL,
	                             mode, sizeof(mode), d)) != 0)
		goto out;
	if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
		r = diag_set(d, ERR_IO, 0, 0,
		             "store %s: cannot use WAL mode (journal mode is "
		             "'%s')",
		             path, mode);
		goto out;
	}
	/* synchronous=NORMAL is durable against crashes of the process in WAL
	 * mode; a power loss may lose the last commits, never consistency. */
	if ((r = store_sqlite_exec(db,
	                           "PRAGMA foreign_keys = ON;"
	                           "PRAGMA synchronous = NORMAL;",
	                           "configure", d)) != 0 ||
	    (r = store_sqlite_pragma(db, "PRAGMA foreign_keys", &fk, NULL, 0,
	                             d)) != 0)
		goto out;
	if (fk != 1) {
		r = diag_set(d, ERR_IO, 0, 0,
		             "store %s: this SQLite has no foreign keys", path);
		goto out;
	}
	if ((r = store_sqlite_migrate(db, opts, d)) != 0)
		goto out;
	*h = db;
	db = NULL;
out:
	store_sqlite_close(db);
	return r;
}

static int store_sqlite_schema_version_get(void *h, int64_t *version,
                                           struct diag *d)
{
	return store_sqlite_pragma(h, "PRAGMA user_version", version, NULL, 0,
	                           d);
}

static int store_sqlite_tx(void *h, enum store_txop op, struct diag *d)
{
	struct store_sqlite *db = h;
	int r;

	switch (op) {
	case STORE_TX_BEGIN_WRITE:
		return store_sqlite_run(db, SQ_BEGIN_WRITE, "begin", d);
	case STORE_TX_BEGIN_READ:
		return store_sqlite_run(db, SQ_BEGIN_READ, "begin", d);
	case STORE_TX_COMMIT:
		return store_sqlite_run(db, SQ_COMMIT, "commit", d);
	case STORE_TX_ROLLBACK:
		/* SQLite may have rolled back already (after some errors). */
		if (sqlite3_get_autocommit(db->db))
			return 0;
		return store_sqlite_run(db, SQ_ROLLBACK, "rollback", d);
	case STORE_TX_SAVEPOINT:
		return store_sqlite_run(db, SQ_SAVEPOINT, "savepoint", d);
	case STORE_TX_RELEASE:
		return store_sqlite_run(db, SQ_RELEASE, "release", d);
	case STORE_TX_ROLLBACK_TO:
		/* ROLLBACK TO keeps the savepoint open: release it too. */
		if ((r = store_sqlite_run(db, SQ_ROLLBACK_TO, "rollback", d)) !=
		    0)
			return r;
		return store_sqlite_run(db, SQ_RELEASE, "release", d);
	}
	return diag_set(d, ERR_INTERNAL, 0, 0, "unknown transaction op %d",
	                (int)op);
}

/* ---- Users ---- */

static int store_sqlite_user_add(void *h, const char *name, const char *email,
                                 int64_t now, int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_USER_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, email);
	store_sqlite_bind_int(db, s, 3, now);
	if ((r = store_sqlite_int(db, s, id, "add user", d)) == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0, "user '%s' already exists",
		             name);
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "add user: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_user_get(void *h, const char *name, int64_t id,
                                 struct store_user *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_user u;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, name ? SQ_USER_BY_NAME : SQ_USER_BY_ID,
	                           &s, d)) != 0)
		return r;
	if (name != NULL)
		store_sqlite_bind_text(db, s, 1, name);
	else
		store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_one(db, s, store_sqlite_read_user,
	                     store_sqlite_clear_user, &u, sizeof(u), "user", d);
	if (r == 0 && name != NULL)
		return diag_set(d, ERR_NOENT, 0, 0, "no user named '%s'", name);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no user with id %" PRId64,
		                id);
	if (r < 0)
		return r;
	*out = u;
	return 0;
}

static int store_sqlite_user_get_nocase(void *h, const char *name,
                                        struct store_user *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_user u;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_USER_BY_NAME_NOCASE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	r = store_sqlite_one(db, s, store_sqlite_read_user,
	                     store_sqlite_clear_user, &u, sizeof(u), "user", d);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no user named '%s' in any case", name);
	if (r < 0)
		return r;
	*out = u;
	return 0;
}

static int store_sqlite_user_list(void *h, struct store_user_list *out,
                                  struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_USER_LIST, &s, d)) != 0 ||
	    (r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_user,
	         store_sqlite_clear_user, &v, &n, "users", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

/* Refuses to remove a team or user that still owns secrets. */
static int store_sqlite_scope_empty(struct store_sqlite *db,
                                    enum store_scope scope, int64_t id,
                                    const char *label, struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int64_t count = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SCOPE_SECRETS, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, store_scope_name(scope));
	store_sqlite_bind_int(db, s, 2, id);
	if ((r = store_sqlite_step(db, s, "secrets", d)) == 1) {
		count = sqlite3_column_int64(s, 0);
		r = 0;
		if (count > 0)
			r = diag_set(d, ERR_CONFLICT, 0, 0,
			             "%s still owns %" PRId64 " secret%s "
			             "(first: '%s'); remove %s first",
			             label, count, count == 1 ? "" : "s",
			             (const char *)sqlite3_column_text(s, 1),
			             count == 1 ? "it" : "them");
	}
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_user_remove(void *h, int64_t id, struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1], label[STORE_NAME_MAX + 16];
	sqlite3_stmt *s = NULL;
	int64_t active = 0;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", id, name, d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_USER_ACTIVE_DEVICES, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	if ((r = store_sqlite_int(db, s, &active, "devices", d)) < 0)
		return r;
	if (active > 0)
		return diag_set(d, ERR_CONFLICT, 0, 0,
		                "user '%s' has %" PRId64 " active device%s; "
		                "revoke %s first (user offboard)",
		                name, active, active == 1 ? "" : "s",
		                active == 1 ? "it" : "them");
	(void)snprintf(label, sizeof(label), "user '%s'", name);
	if ((r = store_sqlite_scope_empty(db, STORE_SCOPE_USER, id, label,
	                                  d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_USER_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_step(db, s, "remove user", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_user_set_disabled(void *h, int64_t id, bool disabled,
                                          struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_USER_SET_DISABLED, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	store_sqlite_bind_int(db, s, 2, disabled ? 1 : 0);
	r = store_sqlite_step(db, s, "disable user", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no user with id %" PRId64,
		                id);
	return 0;
}

static int store_sqlite_user_set_email(void *h, int64_t id, const char *email,
                                       struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_USER_SET_EMAIL, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	store_sqlite_bind_text(db, s, 2, email);
	r = store_sqlite_step(db, s, "set user email", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no user with id %" PRId64,
		                id);
	return 0;
}

/* ---- Offboarding reports ---- */

static int store_sqlite_offboarding_add(void *h, int64_t user_id,
                                        const char *actor,
                                        const char *report_json, int64_t now,
                                        int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	/* A clear "no user" rather than a foreign key failure. */
	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, name,
	                           d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_OFFBOARDING_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	store_sqlite_bind_text(db, s, 2, actor);
	store_sqlite_bind_text(db, s, 3, report_json);
	store_sqlite_bind_int(db, s, 4, now);
	if ((r = store_sqlite_int(db, s, id, "store offboarding report", d)) ==
	    0)
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "store offboarding report: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_read_offboarding(sqlite3_stmt *s, void *p)
{
	struct store_offboarding *o = p;

	o->id = sqlite3_column_int64(s, 0);
	o->user_id = sqlite3_column_int64(s, 1);
	o->created_at = sqlite3_column_int64(s, 4);
	if (store_sqlite_col_str(s, 2, &o->actor) != 0 ||
	    store_sqlite_col_str(s, 3, &o->report_json) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_offboarding(void *p)
{
	store_offboarding_clear(p);
}

static int store_sqlite_offboarding_last(void *h, int64_t user_id,
                                         struct store_offboarding *out,
                                         struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_offboarding o;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_OFFBOARDING_LAST, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	r = store_sqlite_one(db, s, store_sqlite_read_offboarding,
	                     store_sqlite_clear_offboarding, &o, sizeof(o),
	                     "offboarding report", d);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "user %" PRId64 " was never offboarded",
		                user_id);
	if (r < 0)
		return r;
	*out = o;
	return 0;
}

/* ---- SCIM resources ---- */

static int store_sqlite_read_scim(sqlite3_stmt *s, void *p)
{
	struct store_scim *v = p;

	v->id = sqlite3_column_int64(s, 0);
	v->deleted = sqlite3_column_int(s, 3) != 0;
	v->updated_at = sqlite3_column_int64(s, 4);
	v->version = sqlite3_column_int64(s, 5);
	if (store_sqlite_col_str(s, 1, &v->external_id) != 0 ||
	    store_sqlite_col_str(s, 2, &v->attrs_json) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_scim(void *p)
{
	store_scim_clear(p);
}

static int store_sqlite_scim_get(void *h, enum store_scim_kind kind, int64_t id,
                                 struct store_scim *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_scim v;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db,
	                           kind == STORE_SCIM_USER ? SQ_SCIM_USER_GET
	                                                   : SQ_SCIM_GROUP_GET,
	                           &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_one(db, s, store_sqlite_read_scim,
	                     store_sqlite_clear_scim, &v, sizeof(v),
	                     "SCIM resource", d);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "%s %" PRId64 " has no SCIM record",
		                kind == STORE_SCIM_USER ? "user" : "team", id);
	if (r < 0)
		return r;
	*out = v;
	return 0;
}

static int store_sqlite_scim_find(void *h, enum store_scim_kind kind,
                                  const char *external_id, int64_t *id,
                                  struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int64_t v = 0;
	int r;

	if ((r = store_sqlite_stmt(db,
	                           kind == STORE_SCIM_USER ? SQ_SCIM_USER_FIND
	                                                   : SQ_SCIM_GROUP_FIND,
	                           &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, external_id);
	if ((r = store_sqlite_int(db, s, &v, "SCIM externalId", d)) < 0)
		return r;
	if (r == 0)
		return diag_set(
		    d, ERR_NOENT, 0, 0, "no %s with externalId '%s'",
		    kind == STORE_SCIM_USER ? "user" : "team", external_id);
	*id = v;
	return 0;
}

static int store_sqlite_scim_put(void *h, enum store_scim_kind kind, int64_t id,
                                 const char *external_id,
                                 const char *attrs_json, bool deleted,
                                 int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	/* A clear "no user" rather than a foreign key failure. */
	if ((r = store_sqlite_name(
	         db, kind == STORE_SCIM_USER ? SQ_USER_NAME : SQ_TEAM_NAME,
	         kind == STORE_SCIM_USER ? "user" : "team", id, name, d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db,
	                           kind == STORE_SCIM_USER ? SQ_SCIM_USER_PUT
	                                                   : SQ_SCIM_GROUP_PUT,
	                           &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	store_sqlite_bind_text(db, s, 2, external_id);
	store_sqlite_bind_text(db, s, 3, attrs_json);
	if (kind == STORE_SCIM_USER)
		store_sqlite_bind_int(db, s, 4, deleted ? 1 : 0);
	store_sqlite_bind_int(db, s, 5, now);
	r = store_sqlite_step(db, s, "store SCIM record", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* ---- Teams and memberships ---- */

static int store_sqlite_team_add(void *h, const char *name, int64_t now,
                                 int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_TEAM_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_int(db, s, 2, now);
	if ((r = store_sqlite_int(db, s, id, "add team", d)) == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0, "team '%s' already exists",
		             name);
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "add team: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_team_get(void *h, const char *name, int64_t id,
                                 struct store_team *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_team t;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, name ? SQ_TEAM_BY_NAME : SQ_TEAM_BY_ID,
	                           &s, d)) != 0)
		return r;
	if (name != NULL)
		store_sqlite_bind_text(db, s, 1, name);
	else
		store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_one(db, s, store_sqlite_read_team,
	                     store_sqlite_clear_team, &t, sizeof(t), "team", d);
	if (r == 0 && name != NULL)
		return diag_set(d, ERR_NOENT, 0, 0, "no team named '%s'", name);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no team with id %" PRId64,
		                id);
	if (r < 0)
		return r;
	*out = t;
	return 0;
}

static int store_sqlite_teams(struct store_sqlite *db, sqlite3_stmt *s,
                              struct store_team_list *out, struct diag *d)
{
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_team,
	         store_sqlite_clear_team, &v, &n, "teams", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_team_list(void *h, struct store_team_list *out,
                                  struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_TEAM_LIST, &s, d)) != 0)
		return r;
	return store_sqlite_teams(db, s, out, d);
}

static int store_sqlite_team_remove(void *h, int64_t id, struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1], label[STORE_NAME_MAX + 16];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_TEAM_NAME, "team", id, name, d)) != 0)
		return r;
	(void)snprintf(label, sizeof(label), "team '%s'", name);
	if ((r = store_sqlite_scope_empty(db, STORE_SCOPE_TEAM, id, label,
	                                  d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_TEAM_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_step(db, s, "remove team", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_member_add(void *h, int64_t team_id, int64_t user_id,
                                   int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	char team[STORE_NAME_MAX + 1], user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_TEAM_NAME, "team", team_id, team,
	                           d)) != 0 ||
	    (r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_MEMBER_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, team_id);
	store_sqlite_bind_int(db, s, 2, user_id);
	store_sqlite_bind_int(db, s, 3, now);
	if ((r = store_sqlite_step(db, s, "add member", d)) == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "user '%s' is already a member of team '%s'", user,
		             team);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_member_remove(void *h, int64_t team_id, int64_t user_id,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	char team[STORE_NAME_MAX + 1], user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_TEAM_NAME, "team", team_id, team,
	                           d)) != 0 ||
	    (r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_MEMBER_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, team_id);
	store_sqlite_bind_int(db, s, 2, user_id);
	r = store_sqlite_step(db, s, "remove member", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "user '%s' is not a member of team '%s'", user,
		                team);
	return 0;
}

static int store_sqlite_member_teams(void *h, int64_t user_id,
                                     struct store_team_list *out,
                                     struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, name,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_MEMBER_TEAMS, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	return store_sqlite_teams(db, s, out, d);
}

static int store_sqlite_users(struct store_sqlite *db, sqlite3_stmt *s,
                              struct store_user_list *out, struct diag *d)
{
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_user,
	         store_sqlite_clear_user, &v, &n, "users", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_member_users(void *h, int64_t team_id,
                                     struct store_user_list *out,
                                     struct diag *d)
{
	struct store_sqlite *db = h;
	char name[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_TEAM_NAME, "team", team_id, name,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_MEMBER_USERS, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, team_id);
	return store_sqlite_users(db, s, out, d);
}

static int store_sqlite_member_all(void *h, struct store_member_list *out,
                                   struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_MEMBER_ALL, &s, d)) != 0 ||
	    (r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_member,
	         store_sqlite_clear_nothing, &v, &n, "memberships", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

/* ---- Servers ---- */

static int store_sqlite_server_add(void *h, const char *name,
                                   const char *entry_json, int64_t now,
                                   int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SERVER_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, entry_json);
	store_sqlite_bind_int(db, s, 3, now);
	if ((r = store_sqlite_int(db, s, id, "add server", d)) == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0, "server '%s' already exists",
		             name);
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "add server: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_server_get(void *h, const char *name, int64_t id,
                                   struct store_server *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_server v;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(
	         db, name ? SQ_SERVER_BY_NAME : SQ_SERVER_BY_ID, &s, d)) != 0)
		return r;
	if (name != NULL)
		store_sqlite_bind_text(db, s, 1, name);
	else
		store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_one(db, s, store_sqlite_read_server,
	                     store_sqlite_clear_server, &v, sizeof(v), "server",
	                     d);
	if (r == 0 && name != NULL)
		return diag_set(d, ERR_NOENT, 0, 0, "no server named '%s'",
		                name);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no server with id %" PRId64, id);
	if (r < 0)
		return r;
	*out = v;
	return 0;
}

static int store_sqlite_server_list(void *h, struct store_server_list *out,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SERVER_LIST, &s, d)) != 0 ||
	    (r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_server,
	         store_sqlite_clear_server, &v, &n, "servers", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_server_set(void *h, int64_t id, const char *entry_json,
                                   int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SERVER_SET, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	store_sqlite_bind_text(db, s, 2, entry_json);
	store_sqlite_bind_int(db, s, 3, now);
	r = store_sqlite_step(db, s, "set server", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no server with id %" PRId64, id);
	return 0;
}

static int store_sqlite_server_remove(void *h, int64_t id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	/* Its grants go with it (ON DELETE CASCADE). */
	if ((r = store_sqlite_stmt(db, SQ_SERVER_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_step(db, s, "remove server", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no server with id %" PRId64, id);
	return 0;
}

/* ---- Grants ---- */

static int store_sqlite_grant_add(void *h, int64_t server_id,
                                  enum store_target kind, int64_t target_id,
                                  const struct store_grant_limits *lim,
                                  int64_t now, int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	char server[STORE_NAME_MAX + 1], target[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_SERVER_NAME, "server", server_id,
	                           server, d)) != 0)
		return r;
	if (kind == STORE_TARGET_EVERYONE)
		(void)snprintf(target, sizeof(target), "everyone");
	else if ((r = store_sqlite_name(
	              db,
	              kind == STORE_TARGET_TEAM ? SQ_TEAM_NAME : SQ_USER_NAME,
	              store_target_name(kind), target_id, target, d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_GRANT_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, server_id);
	store_sqlite_bind_text(db, s, 2, store_target_name(kind));
	store_sqlite_bind_id(db, s, 3,
	                     kind == STORE_TARGET_TEAM ? target_id : 0);
	store_sqlite_bind_id(db, s, 4,
	                     kind == STORE_TARGET_USER ? target_id : 0);
	store_sqlite_bind_text(db, s, 5, lim->tools_allow);
	store_sqlite_bind_text(db, s, 6, lim->tools_deny);
	store_sqlite_bind_int(db, s, 7, now);
	store_sqlite_bind_text(db, s, 8, lim->rate);
	store_sqlite_bind_text(db, s, 9, lim->tool_rates);
	if ((r = store_sqlite_int(db, s, id, "add grant", d)) == -ERR_EXISTS)
		r = diag_set(
		    d, ERR_EXISTS, 0, 0,
		    "server '%s' is already granted to %s%s%s%s", server,
		    kind == STORE_TARGET_EVERYONE ? ""
		                                  : store_target_name(kind),
		    kind == STORE_TARGET_EVERYONE ? "" : " '", target,
		    kind == STORE_TARGET_EVERYONE ? "" : "'");
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "add grant: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_grant_list(void *h, int64_t server_id,
                                   struct store_grant_list *out, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(
	         db, server_id ? SQ_GRANT_LIST_SERVER : SQ_GRANT_LIST_ALL, &s,
	         d)) != 0)
		return r;
	if (server_id != 0)
		store_sqlite_bind_int(db, s, 1, server_id);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_grant,
	         store_sqlite_clear_grant, &v, &n, "grants", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_grant_remove(void *h, int64_t id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_GRANT_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_step(db, s, "remove grant", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no grant with id %" PRId64,
		                id);
	return 0;
}

/* ---- Secrets ---- */

static int store_sqlite_secret_next(void *h, const char *name,
                                    enum store_scope scope, int64_t scope_id,
                                    int64_t *id, int64_t *version,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	char owner[STORE_NAME_MAX + 1];
	int64_t nid = 0, nversion = 0;
	sqlite3_stmt *s = NULL;
	int r;

	if (scope != STORE_SCOPE_ORG &&
	    (r = store_sqlite_name(
	         db, scope == STORE_SCOPE_TEAM ? SQ_TEAM_NAME : SQ_USER_NAME,
	         store_scope_name(scope), scope_id, owner, d)) != 0)
		return r;
	if ((r = store_sqlite_meta_bump(db, "secret_id", &nid, d)) != 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_SECRET_NEXT_VERSION, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, store_scope_name(scope));
	store_sqlite_bind_int(db, s, 3, scope_id);
	if ((r = store_sqlite_int(db, s, &nversion, "secret version", d)) < 0)
		return r;
	*id = nid;
	*version = nversion;
	return 0;
}

static int store_sqlite_secret_put(void *h, int64_t id, const char *name,
                                   enum store_scope scope, int64_t scope_id,
                                   int64_t version, const uint8_t *sealed,
                                   size_t len, int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	char label[STORE_NAME_MAX + 16];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SECRET_PUT, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	store_sqlite_bind_text(db, s, 2, name);
	store_sqlite_bind_text(db, s, 3, store_scope_name(scope));
	store_sqlite_bind_int(db, s, 4, scope_id);
	store_sqlite_bind_int(db, s, 5, version);
	store_sqlite_bind_blob(db, s, 6, sealed, len);
	store_sqlite_bind_int(db, s, 7, now);
	r = store_sqlite_step(db, s, "put secret", d);
	store_sqlite_done(s);
	if (r == -ERR_EXISTS) {
		store_sqlite_scope_label(db, scope, scope_id, label,
		                         sizeof(label));
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "secret '%s' version %" PRId64
		             " at %s already exists",
		             name, version, label);
	}
	return r < 0 ? r : 0;
}

static int store_sqlite_secrets(struct store_sqlite *db, enum store_sqlite_sq q,
                                bool sealed, struct store_secret_list *out,
                                struct diag *d)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, q, &s, d)) != 0 ||
	    (r = store_sqlite_collect(db, s, sizeof(*out->v),
	                              sealed ? store_sqlite_read_secret_sealed
	                                     : store_sqlite_read_secret,
	                              store_sqlite_clear_secret, &v, &n,
	                              "secrets", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_secret_list(void *h, struct store_secret_list *out,
                                    struct diag *d)
{
	return store_sqlite_secrets(h, SQ_SECRET_LIST, false, out, d);
}

static int store_sqlite_secret_latest_all(void *h,
                                          struct store_secret_list *out,
                                          struct diag *d)
{
	return store_sqlite_secrets(h, SQ_SECRET_LATEST_ALL, true, out, d);
}

static int store_sqlite_secret_get(void *h, const char *name,
                                   enum store_scope scope, int64_t scope_id,
                                   struct store_secret *out, struct diag *d)
{
	struct store_sqlite *db = h;
	char label[STORE_NAME_MAX + 16];
	struct store_secret v;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SECRET_GET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, store_scope_name(scope));
	store_sqlite_bind_int(db, s, 3, scope_id);
	r = store_sqlite_one(db, s, store_sqlite_read_secret_sealed,
	                     store_sqlite_clear_secret, &v, sizeof(v), "secret",
	                     d);
	if (r == 0) {
		store_sqlite_scope_label(db, scope, scope_id, label,
		                         sizeof(label));
		return diag_set(d, ERR_NOENT, 0, 0, "no secret '%s' at %s",
		                name, label);
	}
	if (r < 0)
		return r;
	*out = v;
	return 0;
}

static int store_sqlite_secret_remove(void *h, const char *name,
                                      enum store_scope scope, int64_t scope_id,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	char label[STORE_NAME_MAX + 16];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SECRET_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, store_scope_name(scope));
	store_sqlite_bind_int(db, s, 3, scope_id);
	r = store_sqlite_step(db, s, "remove secret", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0) {
		store_sqlite_scope_label(db, scope, scope_id, label,
		                         sizeof(label));
		return diag_set(d, ERR_NOENT, 0, 0, "no secret '%s' at %s",
		                name, label);
	}
	return 0;
}

/* ---- Enrollment tokens ---- */

static int store_sqlite_token_create(void *h, const char *token_hash,
                                     int64_t user_id, int64_t expires_at,
                                     int64_t uses, const char *created_by,
                                     int64_t now, int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	char user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_TOKEN_CREATE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, token_hash);
	store_sqlite_bind_int(db, s, 2, user_id);
	store_sqlite_bind_int(db, s, 3, expires_at);
	store_sqlite_bind_int(db, s, 4, uses);
	store_sqlite_bind_int(db, s, 5, now);
	store_sqlite_bind_text(db, s, 6, created_by);
	if ((r = store_sqlite_int(db, s, id, "create token", d)) == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "an enrollment token with this hash exists");
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "create token: no id");
	return r < 0 ? r : 0;
}

/* Reads a token by hash: 1 with *out (and *user_disabled), 0 for none. */
static int store_sqlite_token_read(struct store_sqlite *db,
                                   const char *token_hash,
                                   struct store_token *out, bool *user_disabled,
                                   struct diag *d)
{
	struct store_token t;
	sqlite3_stmt *s = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	if ((r = store_sqlite_stmt(db, SQ_TOKEN_BY_HASH, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, token_hash);
	if ((r = store_sqlite_step(db, s, "token", d)) == 1) {
		if ((r = store_sqlite_read_token(s, &t)) != 0) {
			store_token_clear(&t);
			r = store_sqlite_read_fail(db, r, "token", d);
		} else {
			*user_disabled = sqlite3_column_int(s, 9) != 0;
			*out = t;
			r = 1;
		}
	}
	store_sqlite_done(s);
	return r;
}

static int store_sqlite_token_get(void *h, const char *token_hash,
                                  struct store_token *out, struct diag *d)
{
	bool disabled;
	int r;

	r = store_sqlite_token_read(h, token_hash, out, &disabled, d);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no enrollment token with this hash");
	return r < 0 ? r : 0;
}

static int store_sqlite_token_consume(void *h, const char *token_hash,
                                      int64_t now, struct store_token *out,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_token t;
	char when[32];
	bool disabled = false;
	int64_t id = 0;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_TOKEN_CONSUME, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, token_hash);
	store_sqlite_bind_int(db, s, 2, now);
	if ((r = store_sqlite_int(db, s, &id, "use token", d)) < 0)
		return r;
	/* Used or not, read it back: the new uses_left, or why not. */
	if ((r = store_sqlite_token_read(db, token_hash, &t, &disabled, d)) < 0)
		return r;
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "unknown enrollment token");
	if (id != 0) {
		*out = t;
		return 0;
	}
	if (t.revoked)
		r = diag_set(d, ERR_PERM, 0, 0,
		             "enrollment token %" PRId64 " (user '%s') was "
		             "revoked",
		             t.id, t.user_name);
	else if (t.expires_at <= now) {
		store_sqlite_fmt_time(t.expires_at, when);
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "enrollment token %" PRId64 " (user '%s') expired "
		             "at %s",
		             t.id, t.user_name, when);
	} else if (t.uses_left <= 0)
		r = diag_set(d, ERR_CONFLICT, 0, 0,
		             "enrollment token %" PRId64
		             " (user '%s') has been "
		             "used up",
		             t.id, t.user_name);
	else if (disabled)
		r = diag_set(d, ERR_PERM, 0, 0,
		             "enrollment token %" PRId64 ": user '%s' is "
		             "disabled",
		             t.id, t.user_name);
	else
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "enrollment token %" PRId64 " was not used", t.id);
	store_token_clear(&t);
	return r;
}

static int store_sqlite_token_list(void *h, struct store_token_list *out,
                                   struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_TOKEN_LIST, &s, d)) != 0 ||
	    (r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_token,
	         store_sqlite_clear_token, &v, &n, "tokens", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

/*
 * Sets a revoked flag with q (WHERE id AND NOT revoked); when nothing
 * changed, asks check (SELECT revoked WHERE id) whether the row is missing
 * or already revoked.
 */
static int store_sqlite_revoke_flag(struct store_sqlite *db,
                                    enum store_sqlite_sq q,
                                    enum store_sqlite_sq check,
                                    const char *kind, int64_t id,
                                    struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int64_t revoked = 0;
	int r;

	if ((r = store_sqlite_stmt(db, q, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	r = store_sqlite_step(db, s, kind, d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) > 0)
		return 0;
	if ((r = store_sqlite_stmt(db, check, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, id);
	if ((r = store_sqlite_int(db, s, &revoked, kind, d)) < 0)
		return r;
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no %s with id %" PRId64,
		                kind, id);
	return diag_set(d, ERR_CONFLICT, 0, 0,
	                "%s %" PRId64 " is already revoked", kind, id);
}

static int store_sqlite_token_revoke(void *h, int64_t id, struct diag *d)
{
	return store_sqlite_revoke_flag(h, SQ_TOKEN_REVOKE, SQ_TOKEN_REVOKED,
	                                "enrollment token", id, d);
}

static int store_sqlite_token_revoke_user(void *h, int64_t user_id,
                                          size_t *count, struct diag *d)
{
	struct store_sqlite *db = h;
	char user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_TOKEN_REVOKE_USER, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	r = store_sqlite_step(db, s, "revoke tokens", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	*count = (size_t)sqlite3_changes(db->db);
	return 0;
}

/* ---- Devices ---- */

static int store_sqlite_device_create(void *h, const char *id, int64_t user_id,
                                      const char *hostname, const char *os,
                                      const char *cert_serial,
                                      const char *cert_fingerprint,
                                      int64_t cert_not_after, int64_t now,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	char user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_DEVICE_CREATE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	store_sqlite_bind_int(db, s, 2, user_id);
	store_sqlite_bind_text(db, s, 3, hostname);
	store_sqlite_bind_text(db, s, 4, os);
	store_sqlite_bind_text(db, s, 5, cert_serial);
	store_sqlite_bind_text(db, s, 6, cert_fingerprint);
	store_sqlite_bind_int(db, s, 7, now);
	store_sqlite_bind_int(db, s, 8, cert_not_after);
	r = store_sqlite_step(db, s, "create device", d);
	store_sqlite_done(s);
	if (r == -ERR_EXISTS && db->last_rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = diag_set(d, ERR_EXISTS, 0, 0, "device '%s' already exists",
		             id);
	else if (r == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "certificate serial %s is already registered",
		             cert_serial);
	return r < 0 ? r : 0;
}

/* Runs statement q with a text and an integer parameter; *changes gets the
 * rows it changed. */
static int store_sqlite_text_int(struct store_sqlite *db,
                                 enum store_sqlite_sq q, const char *t,
                                 int64_t v, const char *what, int *changes,
                                 struct diag *d)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, q, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, t);
	store_sqlite_bind_int(db, s, 2, v);
	r = store_sqlite_step(db, s, what, d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	*changes = sqlite3_changes(db->db);
	return 0;
}

static int store_sqlite_device_renew(void *h, const char *id,
                                     const char *cert_serial,
                                     const char *cert_fingerprint,
                                     int64_t cert_not_after, int64_t now,
                                     struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r, n = 0;

	if ((r = store_sqlite_stmt(db, SQ_DEVICE_SERIAL_USED, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, cert_serial);
	r = store_sqlite_step(db, s, "certificate serial", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (r > 0)
		return diag_set(d, ERR_EXISTS, 0, 0,
		                "certificate serial %s is already registered",
		                cert_serial);
	if ((r = store_sqlite_text_int(db, SQ_DEVICE_CERT_PRUNE, id, now,
	                               "forget expired certificates", &n, d)) !=
	        0 ||
	    (r = store_sqlite_text_int(db, SQ_DEVICE_CERT_KEEP, id, now,
	                               "keep the replaced certificate", &n,
	                               d)) != 0)
		return r;
	if (n == 0) {
		/* Unknown or revoked: which, as store_device_revoke() says. */
		if ((r = store_sqlite_stmt(db, SQ_DEVICE_STATUS, &s, d)) != 0)
			return r;
		store_sqlite_bind_text(db, s, 1, id);
		r = store_sqlite_step(db, s, "device", d);
		store_sqlite_done(s);
		if (r < 0)
			return r;
		if (r == 0)
			return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'",
			                id);
		return diag_set(d, ERR_CONFLICT, 0, 0, "device '%s' is revoked",
		                id);
	}
	if ((r = store_sqlite_stmt(db, SQ_DEVICE_CERT_SET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	store_sqlite_bind_text(db, s, 2, cert_serial);
	store_sqlite_bind_text(db, s, 3, cert_fingerprint);
	store_sqlite_bind_int(db, s, 4, cert_not_after);
	r = store_sqlite_step(db, s, "renew device certificate", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_read_device_cert(sqlite3_stmt *s, void *p)
{
	struct store_device_cert *v = p;

	v->not_after = sqlite3_column_int64(s, 2);
	if (store_sqlite_col_str(s, 0, &v->serial) != 0 ||
	    store_sqlite_col_str(s, 1, &v->device_id) != 0 ||
	    v->serial == NULL || v->device_id == NULL)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_device_cert(void *p)
{
	struct store_device_cert *v = p;

	free(v->serial);
	free(v->device_id);
	memset(v, 0, sizeof(*v));
}

static int store_sqlite_device_certs(void *h,
                                     struct store_device_cert_list *out,
                                     struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_DEVICE_CERT_LIST, &s, d)) != 0)
		return r;
	if ((r = store_sqlite_collect(db, s, sizeof(*out->v),
	                              store_sqlite_read_device_cert,
	                              store_sqlite_clear_device_cert, &v, &n,
	                              "device certificates", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_device_get(void *h, const char *id,
                                   const char *cert_serial,
                                   struct store_device *out, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_device v;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(
	         db, id ? SQ_DEVICE_BY_ID : SQ_DEVICE_BY_SERIAL, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id ? id : cert_serial);
	r = store_sqlite_one(db, s, store_sqlite_read_device,
	                     store_sqlite_clear_device, &v, sizeof(v), "device",
	                     d);
	if (r == 0 && id != NULL)
		return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'", id);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no device with certificate serial %s",
		                cert_serial);
	if (r < 0)
		return r;
	*out = v;
	return 0;
}

static int store_sqlite_device_list(void *h, int64_t user_id,
                                    struct store_device_list *out,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(
	         db, user_id ? SQ_DEVICE_LIST_USER : SQ_DEVICE_LIST_ALL, &s,
	         d)) != 0)
		return r;
	if (user_id != 0)
		store_sqlite_bind_int(db, s, 1, user_id);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_device,
	         store_sqlite_clear_device, &v, &n, "devices", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_device_touch(void *h, const char *id, int64_t last_seen,
                                     int64_t applied_revision,
                                     const char *report_json, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_DEVICE_TOUCH, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	store_sqlite_bind_int(db, s, 2, last_seen);
	store_sqlite_bind_int(db, s, 3, applied_revision);
	store_sqlite_bind_text(db, s, 4, report_json);
	r = store_sqlite_step(db, s, "touch device", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'", id);
	return 0;
}

/* One statement, bound again for each: in one transaction (store.c's),
 * a row costs microseconds here. */
static int store_sqlite_device_touch_many(void *h, const struct store_touch *v,
                                          size_t n, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if ((r = store_sqlite_stmt(db, SQ_DEVICE_TOUCH, &s, d)) != 0)
			return r;
		store_sqlite_bind_text(db, s, 1, v[i].id);
		store_sqlite_bind_int(db, s, 2, v[i].last_seen);
		store_sqlite_bind_int(db, s, 3, v[i].applied_revision);
		store_sqlite_bind_text(db, s, 4, v[i].report_json);
		r = store_sqlite_step(db, s, "touch devices", d);
		store_sqlite_done(s);
		if (r < 0)
			return r;
	}
	return 0;
}

static int store_sqlite_device_calls_dropped(void *h, const char *id,
                                             int64_t dropped, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_DEVICE_CALLS_DROPPED, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	store_sqlite_bind_int(db, s, 2, dropped);
	r = store_sqlite_step(db, s, "record dropped calls", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'", id);
	return 0;
}

static int store_sqlite_device_revoke(void *h, const char *id,
                                      const char *reason, int64_t now,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_DEVICE_REVOKE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	store_sqlite_bind_int(db, s, 2, now);
	store_sqlite_bind_text(db, s, 3, reason);
	r = store_sqlite_step(db, s, "revoke device", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) > 0)
		return 0;
	if ((r = store_sqlite_stmt(db, SQ_DEVICE_STATUS, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id);
	r = store_sqlite_step(db, s, "device", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'", id);
	return diag_set(d, ERR_CONFLICT, 0, 0, "device '%s' is already revoked",
	                id);
}

static int store_sqlite_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int store_sqlite_device_revoke_user(void *h, int64_t user_id,
                                           const char *reason, int64_t now,
                                           struct store_id_list *ids,
                                           struct diag *d)
{
	struct store_sqlite *db = h;
	char user[STORE_NAME_MAX + 1], **v = NULL, **nv, *id;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_DEVICE_REVOKE_USER, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	store_sqlite_bind_int(db, s, 2, now);
	store_sqlite_bind_text(db, s, 3, reason);
	while ((r = store_sqlite_step(db, s, "revoke devices", d)) == 1) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
				goto out;
			}
			v = nv;
		}
		if (store_sqlite_col_str(s, 0, &id) != 0 || id == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		v[n++] = id;
	}
	if (r < 0)
		goto out;
	/* RETURNING has no order; a sorted list reads and tests better. */
	if (n > 1)
		qsort(v, n, sizeof(*v), store_sqlite_strcmp);
	ids->v = v;
	ids->n = n;
	v = NULL;
	n = 0;
	r = 0;
out:
	store_sqlite_done(s);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}

/* ---- Deliveries ---- */

static int store_sqlite_delivery_record(void *h, const char *device_id,
                                        int64_t secret_id, int64_t revision,
                                        int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int64_t one = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_DELIVERY_RECORD, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, device_id);
	store_sqlite_bind_int(db, s, 2, secret_id);
	store_sqlite_bind_int(db, s, 3, revision);
	store_sqlite_bind_int(db, s, 4, now);
	r = store_sqlite_step(db, s, "record delivery", d);
	store_sqlite_done(s);
	/* The device is a foreign key; a missing one fails the insert. */
	if (r == -ERR_NOENT)
		return diag_set(d, ERR_NOENT, 0, 0, "no device '%s'",
		                device_id);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->db) > 0)
		return 0;
	/* Nothing inserted: recorded before, or no such secret. */
	if ((r = store_sqlite_stmt(db, SQ_SECRET_EXISTS, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, secret_id);
	if ((r = store_sqlite_int(db, s, &one, "secret", d)) < 0)
		return r;
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no secret record %" PRId64,
		                secret_id);
	return 0;
}

static int store_sqlite_delivery_list_user(void *h, int64_t user_id,
                                           struct store_delivery_list *out,
                                           struct diag *d)
{
	struct store_sqlite *db = h;
	char user[STORE_NAME_MAX + 1];
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_name(db, SQ_USER_NAME, "user", user_id, user,
	                           d)) != 0 ||
	    (r = store_sqlite_stmt(db, SQ_DELIVERY_LIST_USER, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, user_id);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_delivery,
	         store_sqlite_clear_delivery, &v, &n, "deliveries", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

/* ---- Calls ---- */

static int store_sqlite_call_insert(void *h, const char *device_id,
                                    const struct store_call *c, int64_t now,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_CALL_INSERT, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, device_id);
	store_sqlite_bind_int(db, s, 2, (int64_t)c->seq);
	store_sqlite_bind_int(db, s, 3, c->at_ms);
	store_sqlite_bind_text(db, s, 4, c->server);
	store_sqlite_bind_text(db, s, 5, c->method);
	store_sqlite_bind_text(db, s, 6, c->name ? c->name : "");
	store_sqlite_bind_int(db, s, 7, c->duration_us);
	store_sqlite_bind_int(db, s, 8, (int64_t)c->outcome);
	store_sqlite_bind_int(db, s, 9, (int64_t)c->bytes_in);
	store_sqlite_bind_int(db, s, 10, (int64_t)c->bytes_out);
	store_sqlite_bind_text(db, s, 11, c->detail);
	store_sqlite_bind_int(db, s, 12, now);
	r = store_sqlite_step(db, s, "insert call", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	return sqlite3_changes(db->db) > 0 ? 1 : 0;
}

static int store_sqlite_call_through(void *h, const char *device_id,
                                     uint64_t *seq, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int64_t v = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_CALL_THROUGH, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, device_id);
	if ((r = store_sqlite_int(db, s, &v, "calls", d)) < 0)
		return r;
	*seq = (uint64_t)v;
	return 0;
}

static int store_sqlite_read_call(sqlite3_stmt *s, void *p)
{
	struct store_call *v = p;

	v->id = sqlite3_column_int64(s, 0);
	v->seq = (uint64_t)sqlite3_column_int64(s, 3);
	v->at_ms = sqlite3_column_int64(s, 4);
	v->duration_us = sqlite3_column_int64(s, 8);
	v->outcome = (enum store_call_outcome)sqlite3_column_int64(s, 9);
	v->bytes_in = (uint64_t)sqlite3_column_int64(s, 10);
	v->bytes_out = (uint64_t)sqlite3_column_int64(s, 11);
	v->received_at = sqlite3_column_int64(s, 13);
	if (store_sqlite_col_str(s, 1, &v->device_id) != 0 ||
	    store_sqlite_col_str(s, 2, &v->user_name) != 0 ||
	    store_sqlite_col_str(s, 5, &v->server) != 0 ||
	    store_sqlite_col_str(s, 6, &v->method) != 0 ||
	    store_sqlite_col_str(s, 7, &v->name) != 0)
		return -ERR_NOMEM;
	if (sqlite3_column_type(s, 12) != SQLITE_NULL &&
	    store_sqlite_col_str(s, 12, &v->detail) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void store_sqlite_clear_call(void *p)
{
	struct store_call *v = p;

	free(v->device_id);
	free(v->user_name);
	free(v->server);
	free(v->method);
	free(v->name);
	free(v->detail);
	memset(v, 0, sizeof(*v));
}

static void store_sqlite_bind_opt(struct store_sqlite *db, sqlite3_stmt *s,
                                  int i, int64_t v)
{
	if (v != 0)
		store_sqlite_bind_int(db, s, i, v);
	else
		store_sqlite_bind_text(db, s, i, NULL);
}

static int store_sqlite_calls_list(void *h, const struct store_call_filter *f,
                                   struct store_call_list *out, struct diag *d)
{
	struct store_sqlite *db = h;
	enum store_call_outcome o = STORE_CALL_OK;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(
	         db, f->oldest ? SQ_CALL_LIST_OLDEST : SQ_CALL_LIST_NEWEST, &s,
	         d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, f->user);
	store_sqlite_bind_text(db, s, 2, f->device_id);
	store_sqlite_bind_text(db, s, 3, f->server);
	store_sqlite_bind_text(db, s, 4, f->name);
	if (f->outcome != NULL && store_call_outcome_parse(f->outcome, &o) == 0)
		store_sqlite_bind_int(db, s, 5, (int64_t)o);
	else
		store_sqlite_bind_text(db, s, 5, NULL);
	store_sqlite_bind_opt(db, s, 6, f->since_ms);
	store_sqlite_bind_opt(db, s, 7, f->until_ms);
	store_sqlite_bind_opt(db, s, 8, f->before_id);
	store_sqlite_bind_opt(db, s, 9, f->after_id);
	store_sqlite_bind_int(db, s, 10, (int64_t)f->limit);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_call,
	         store_sqlite_clear_call, &v, &n, "calls", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_calls_prune(void *h, int64_t before_s, size_t *removed,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_CALL_PRUNE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, before_s);
	r = store_sqlite_step(db, s, "prune calls", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (removed != NULL)
		*removed = (size_t)sqlite3_changes(db->db);
	return 0;
}

/* ---- Replicas ---- */

static int store_sqlite_replica_beat(void *h, const char *address, int64_t now,
                                     int64_t gone_at, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_REPLICA_BEAT, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, address);
	store_sqlite_bind_int(db, s, 2, now);
	store_sqlite_bind_int(db, s, 3, gone_at);
	r = store_sqlite_step(db, s, "replica heartbeat", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_replica_list(void *h, int64_t now, size_t limit,
                                     struct store_id_list *out, struct diag *d)
{
	struct store_sqlite *db = h;
	char **v = NULL, **nv, *addr;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_REPLICA_LIST, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, now);
	store_sqlite_bind_int(db, s, 2, (int64_t)limit);
	while ((r = store_sqlite_step(db, s, "replicas", d)) == 1) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
				goto out;
			}
			v = nv;
		}
		if (store_sqlite_col_str(s, 0, &addr) != 0 || addr == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		v[n++] = addr;
	}
	if (r < 0)
		goto out;
	out->v = v;
	out->n = n;
	v = NULL;
	n = 0;
	r = 0;
out:
	store_sqlite_done(s);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}

static int store_sqlite_replica_prune(void *h, int64_t now, size_t *removed,
                                      struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_REPLICA_PRUNE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, now);
	r = store_sqlite_step(db, s, "prune replicas", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if (removed != NULL)
		*removed = (size_t)sqlite3_changes(db->db);
	return 0;
}

static int store_sqlite_replica_remove(void *h, const char *address,
                                       struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_REPLICA_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, address);
	r = store_sqlite_step(db, s, "remove replica", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* ---- Admin tokens ---- */

static int store_sqlite_admin_token_add(void *h, const char *name,
                                        const char *role,
                                        const char *token_hash, int64_t now,
                                        int64_t *id, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_ADMIN_ADD, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, name);
	store_sqlite_bind_text(db, s, 2, token_hash);
	store_sqlite_bind_int(db, s, 3, now);
	store_sqlite_bind_text(db, s, 4, role);
	if ((r = store_sqlite_int(db, s, id, "add admin token", d)) ==
	    -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "an admin token with this hash exists");
	else if (r == 0)
		r = diag_set(d, ERR_INTERNAL, 0, 0, "add admin token: no id");
	return r < 0 ? r : 0;
}

static int store_sqlite_admin_token_get(void *h, const char *token_hash,
                                        struct store_admin_token *out,
                                        struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_admin_token t;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_ADMIN_BY_HASH, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, token_hash);
	r = store_sqlite_one(db, s, store_sqlite_read_admin,
	                     store_sqlite_clear_admin, &t, sizeof(t),
	                     "admin token", d);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "no admin token with this hash");
	if (r < 0)
		return r;
	*out = t;
	return 0;
}

static int store_sqlite_admin_token_list(void *h,
                                         struct store_admin_token_list *out,
                                         struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_ADMIN_LIST, &s, d)) != 0 ||
	    (r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_admin,
	         store_sqlite_clear_admin, &v, &n, "admin tokens", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_admin_token_revoke(void *h, int64_t id, struct diag *d)
{
	return store_sqlite_revoke_flag(h, SQ_ADMIN_REVOKE, SQ_ADMIN_REVOKED,
	                                "admin token", id, d);
}

/* ---- Revisions ---- */

static int store_sqlite_revision_bump(void *h, int64_t *next, struct diag *d)
{
	return store_sqlite_meta_bump(h, "revision", next, d);
}

static int store_sqlite_revision_current(void *h, int64_t *cur, struct diag *d)
{
	return store_sqlite_meta_get(h, "revision", cur, d);
}

static int store_sqlite_revision_record(void *h,
                                        const struct store_revision *rev,
                                        int64_t now, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_REVISION_RECORD, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, rev->revision);
	store_sqlite_bind_int(db, s, 2, now);
	store_sqlite_bind_int(db, s, 3, rev->leaf_count);
	store_sqlite_bind_text(db, s, 4, rev->merkle_root);
	store_sqlite_bind_text(db, s, 5, rev->signature);
	r = store_sqlite_step(db, s, "record revision", d);
	store_sqlite_done(s);
	if (r == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "revision %" PRId64 " is already recorded",
		             rev->revision);
	return r < 0 ? r : 0;
}

static int store_sqlite_revision_latest(void *h, struct store_revision *out,
                                        struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_revision v;
	sqlite3_stmt *s = NULL;
	int r;

	memset(&v, 0, sizeof(v));
	if ((r = store_sqlite_stmt(db, SQ_REVISION_LATEST, &s, d)) != 0)
		return r;
	if ((r = store_sqlite_step(db, s, "revision", d)) == 1) {
		v.revision = sqlite3_column_int64(s, 0);
		v.created_at = sqlite3_column_int64(s, 1);
		v.leaf_count = sqlite3_column_int64(s, 2);
		if (store_sqlite_col_fixed(s, 3, v.merkle_root,
		                           sizeof(v.merkle_root)) != 0 ||
		    store_sqlite_col_fixed(s, 4, v.signature,
		                           sizeof(v.signature)) != 0)
			r = store_sqlite_read_fail(db, -ERR_IO, "revision", d);
	}
	store_sqlite_done(s);
	if (r == 0)
		return diag_set(d, ERR_NOENT, 0, 0, "no revision recorded yet");
	if (r < 0)
		return r;
	*out = v;
	return 0;
}

/* ---- Audit log ---- */

static int store_sqlite_audit_last(void *h, int64_t *last_id,
                                   char last_hash[STORE_HASH_HEX + 1],
                                   int64_t *head_id, struct diag *d)
{
	struct store_sqlite *db = h;
	char hash[STORE_HASH_HEX + 1] = "";
	int64_t id = 0, head = 0;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_AUDIT_LAST, &s, d)) != 0)
		return r;
	if ((r = store_sqlite_step(db, s, "audit", d)) == 1) {
		id = sqlite3_column_int64(s, 0);
		/* An overlong stored hash cannot be a link: leave it empty
		 * and let verification name the row. */
		if (store_sqlite_col_fixed(s, 1, hash, sizeof(hash)) != 0)
			hash[0] = '\0';
		r = 0;
	}
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if ((r = store_sqlite_meta_get(db, "audit_head", &head, d)) != 0)
		return r;
	*last_id = id;
	memcpy(last_hash, hash, sizeof(hash));
	*head_id = head;
	return 0;
}

static int store_sqlite_audit_insert(void *h, const struct store_audit *row,
                                     struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_AUDIT_INSERT, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, row->id);
	store_sqlite_bind_int(db, s, 2, row->at);
	store_sqlite_bind_text(db, s, 3, row->actor);
	store_sqlite_bind_text(db, s, 4, row->action);
	store_sqlite_bind_text(db, s, 5, row->target);
	store_sqlite_bind_text(db, s, 6, row->details);
	store_sqlite_bind_text(db, s, 7, row->prev_hash);
	store_sqlite_bind_text(db, s, 8, row->hash);
	r = store_sqlite_step(db, s, "append audit row", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_META_SET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, "audit_head");
	store_sqlite_bind_int(db, s, 2, row->id);
	r = store_sqlite_step(db, s, "audit head", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* meta.audit_seal: a row written with the first keyed audit row, so a
 * store from before audit keys has none (0). */
static int store_sqlite_audit_seal_get(void *h, int64_t *seal, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int64_t v = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_META_GET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, "audit_seal");
	if ((r = store_sqlite_int(db, s, &v, "audit seal", d)) < 0)
		return r;
	*seal = r == 1 ? v : 0;
	return 0;
}

static int store_sqlite_audit_seal_set(void *h, int64_t seal, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_META_UPSERT, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, "audit_seal");
	store_sqlite_bind_int(db, s, 2, seal);
	r = store_sqlite_step(db, s, "audit seal", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* store_audit_find(): an action ending in '.' finds the actions it
 * starts; an actor, the actors holding it. */
static int store_sqlite_audit_find(void *h, const struct store_audit_filter *f,
                                   struct store_audit_list *out, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(
	         db, f->newest ? SQ_AUDIT_FIND_NEWEST : SQ_AUDIT_FIND_OLDEST,
	         &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, f->action);
	store_sqlite_bind_text(db, s, 2, f->actor);
	store_sqlite_bind_opt(db, s, 3, f->since);
	store_sqlite_bind_opt(db, s, 4, f->until);
	store_sqlite_bind_opt(db, s, 5, f->after_id);
	store_sqlite_bind_opt(db, s, 6, f->before_id);
	store_sqlite_bind_int(db, s, 7, (int64_t)f->limit);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_audit,
	         store_sqlite_clear_audit, &v, &n, "audit", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

static int store_sqlite_audit_list(void *h, int64_t since, int64_t after_id,
                                   size_t limit, struct store_audit_list *out,
                                   struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_AUDIT_LIST, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, since);
	store_sqlite_bind_int(db, s, 2, after_id);
	store_sqlite_bind_int(db, s, 3, (int64_t)limit);
	if ((r = store_sqlite_collect(
	         db, s, sizeof(*out->v), store_sqlite_read_audit,
	         store_sqlite_clear_audit, &v, &n, "audit", d)) != 0)
		return r;
	out->v = v;
	out->n = n;
	return 0;
}

/* ---- Copying (store_copy()) ---- */

/* table and cols come from store.c's own list, never from input, so they
 * may be put into the SQL text. */
static int store_sqlite_sql_cols(char *sql, size_t size, const char *head,
                                 const char *table, const char *const *cols,
                                 size_t ncols, const char *tail)
{
	size_t len, i;
	int n;

	n = snprintf(sql, size, "%s", head);
	if (n < 0 || (size_t)n >= size)
		return -ERR_TRUNC;
	len = (size_t)n;
	for (i = 0; i < ncols; i++) {
		n = snprintf(sql + len, size - len, "%s%s", i ? ", " : "",
		             cols[i]);
		if (n < 0 || (size_t)n >= size - len)
			return -ERR_TRUNC;
		len += (size_t)n;
	}
	n = snprintf(sql + len, size - len, " FROM %s%s", table, tail);
	if (n < 0 || (size_t)n >= size - len)
		return -ERR_TRUNC;
	return 0;
}

/* Runs a query of one integer built from fixed names. */
static int store_sqlite_query_int(struct store_sqlite *db, const char *sql,
                                  int64_t *v, struct diag *d)
{
	return store_sqlite_pragma(db, sql, v, NULL, 0, d);
}

static int store_sqlite_table_count(void *h, const char *table, int64_t *n,
                                    struct diag *d)
{
	char sql[128];

	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return store_sqlite_query_int(h, sql, n, d);
}

static int store_sqlite_table_each(
    void *h, const char *table, const char *const *cols, size_t ncols,
    int (*row)(void *arg, const struct store_cell *cells, struct diag *d),
    void *arg, struct diag *d)
{
	struct store_sqlite *db = h;
	struct store_cell cells[16];
	sqlite3_stmt *s = NULL;
	char sql[1024];
	size_t i;
	int rc, r;

	if (ncols == 0 || ncols > sizeof(cells) / sizeof(cells[0]) ||
	    store_sqlite_sql_cols(sql, sizeof(sql), "SELECT ", table, cols,
	                          ncols, " ORDER BY 1") != 0)
		return diag_set(d, ERR_INTERNAL, 0, 0,
		                "copy %s: too many columns", table);
	if ((rc = sqlite3_prepare_v2(db->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return store_sqlite_fail(db, rc, table, d);
	db->bind_rc = SQLITE_OK;
	while ((r = store_sqlite_step(db, s, table, d)) == 1) {
		memset(cells, 0, sizeof(cells));
		for (i = 0; i < ncols; i++) {
			switch (sqlite3_column_type(s, (int)i)) {
			case SQLITE_NULL:
				cells[i].type = STORE_CELL_NULL;
				break;
			case SQLITE_INTEGER:
				cells[i].type = STORE_CELL_INT;
				cells[i].i = sqlite3_column_int64(s, (int)i);
				break;
			case SQLITE_BLOB:
				cells[i].type = STORE_CELL_BLOB;
				cells[i].b = sqlite3_column_blob(s, (int)i);
				cells[i].len =
				    (size_t)sqlite3_column_bytes(s, (int)i);
				break;
			default: /* TEXT; a REAL is never written */
				cells[i].type = STORE_CELL_TEXT;
				cells[i].s = (const char *)sqlite3_column_text(
				    s, (int)i);
				if (cells[i].s == NULL) {
					r = diag_set(d, ERR_NOMEM, 0, 0,
					             "out of memory");
					goto out;
				}
				break;
			}
		}
		if ((r = row(arg, cells, d)) != 0)
			goto out;
	}
out:
	sqlite3_finalize(s);
	return r < 0 ? r : 0;
}

/* AUTOINCREMENT remembers the highest id ever used in sqlite_sequence,
 * which may be above the highest id left; calls has plain rowids. */
static int store_sqlite_id_floor_get(void *h, const char *table, int64_t *floor,
                                     struct diag *d)
{
	char sql[256];

	(void)snprintf(sql, sizeof(sql),
	               "SELECT max(ifnull((SELECT seq FROM sqlite_sequence "
	               "WHERE name = '%s'), 0), ifnull((SELECT max(id) FROM "
	               "%s), 0))",
	               table, table);
	return store_sqlite_query_int(h, sql, floor, d);
}

/* ---- Console sessions ---- */

static int store_sqlite_session_put(void *h, const struct store_session *se,
                                    struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SESSION_PUT, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, se->id_hash);
	store_sqlite_bind_text(db, s, 2, se->csrf);
	store_sqlite_bind_text(db, s, 3, se->admin_hash);
	store_sqlite_bind_int(db, s, 4, se->created);
	store_sqlite_bind_int(db, s, 5, se->last_used);
	store_sqlite_bind_text(db, s, 6, se->identity);
	store_sqlite_bind_text(db, s, 7, se->role);
	r = store_sqlite_step(db, s, "add session", d);
	store_sqlite_done(s);
	if (r == -ERR_EXISTS)
		r = diag_set(d, ERR_EXISTS, 0, 0, "the session exists");
	return r < 0 ? r : 0;
}

static int store_sqlite_session_get(void *h, const char *id_hash,
                                    struct store_session *out, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SESSION_GET, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id_hash);
	if ((r = store_sqlite_step(db, s, "session", d)) == 1) {
		if (store_sqlite_col_fixed(s, 0, out->id_hash,
		                           sizeof(out->id_hash)) != 0 ||
		    store_sqlite_col_fixed(s, 1, out->csrf,
		                           sizeof(out->csrf)) != 0 ||
		    store_sqlite_col_fixed(s, 2, out->admin_hash,
		                           sizeof(out->admin_hash)) != 0 ||
		    store_sqlite_col_fixed(s, 5, out->identity,
		                           sizeof(out->identity)) != 0 ||
		    store_sqlite_col_fixed(s, 6, out->role,
		                           sizeof(out->role)) != 0)
			r = diag_set(d, ERR_IO, 0, 0,
			             "store %s: session: a stored row is "
			             "malformed",
			             db->path);
		else {
			out->created = sqlite3_column_int64(s, 3);
			out->last_used = sqlite3_column_int64(s, 4);
			r = 0;
		}
	} else if (r == 0)
		r = diag_set(d, ERR_NOENT, 0, 0, "no such session");
	store_sqlite_done(s);
	return r;
}

static int store_sqlite_session_touch(void *h, const char *id_hash,
                                      int64_t last_used, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SESSION_TOUCH, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id_hash);
	store_sqlite_bind_int(db, s, 2, last_used);
	r = store_sqlite_step(db, s, "touch session", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	return sqlite3_changes(db->db) == 0
	           ? diag_set(d, ERR_NOENT, 0, 0, "no such session")
	           : 0;
}

static int store_sqlite_session_remove(void *h, const char *id_hash,
                                       struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SESSION_REMOVE, &s, d)) != 0)
		return r;
	store_sqlite_bind_text(db, s, 1, id_hash);
	r = store_sqlite_step(db, s, "remove session", d);
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

static int store_sqlite_session_prune(void *h, int64_t created_before,
                                      int64_t used_before, size_t keep,
                                      size_t *left, struct diag *d)
{
	struct store_sqlite *db = h;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = store_sqlite_stmt(db, SQ_SESSION_EXPIRE, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, created_before);
	store_sqlite_bind_int(db, s, 2, used_before);
	r = store_sqlite_step(db, s, "expire sessions", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_SESSION_LRU, &s, d)) != 0)
		return r;
	store_sqlite_bind_int(db, s, 1, (int64_t)keep);
	r = store_sqlite_step(db, s, "expire sessions", d);
	store_sqlite_done(s);
	if (r < 0)
		return r;
	if ((r = store_sqlite_stmt(db, SQ_SESSION_COUNT, &s, d)) != 0)
		return r;
	if ((r = store_sqlite_step(db, s, "sessions", d)) == 1) {
		*left = (size_t)sqlite3_column_int64(s, 0);
		r = 0;
	}
	store_sqlite_done(s);
	return r < 0 ? r : 0;
}

/* The failed statements of this connection (store_errors()). */
static uint64_t store_sqlite_errors(void *h)
{
	const struct store_sqlite *db = h;

	return db->errors;
}

const struct store_backend store_backend_sqlite = {
    .name = "sqlite",
    .schema_version = (int64_t)STORE_SQLITE_NMIGRATIONS,
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .tx = store_sqlite_tx,
    .schema_version_get = store_sqlite_schema_version_get,
    .errors = store_sqlite_errors,
    .user_add = store_sqlite_user_add,
    .user_get = store_sqlite_user_get,
    .user_get_nocase = store_sqlite_user_get_nocase,
    .user_list = store_sqlite_user_list,
    .user_remove = store_sqlite_user_remove,
    .user_set_disabled = store_sqlite_user_set_disabled,
    .user_set_email = store_sqlite_user_set_email,
    .offboarding_add = store_sqlite_offboarding_add,
    .offboarding_last = store_sqlite_offboarding_last,
    .scim_get = store_sqlite_scim_get,
    .scim_find = store_sqlite_scim_find,
    .scim_put = store_sqlite_scim_put,
    .team_add = store_sqlite_team_add,
    .team_get = store_sqlite_team_get,
    .team_list = store_sqlite_team_list,
    .team_remove = store_sqlite_team_remove,
    .member_add = store_sqlite_member_add,
    .member_remove = store_sqlite_member_remove,
    .member_teams = store_sqlite_member_teams,
    .member_users = store_sqlite_member_users,
    .member_all = store_sqlite_member_all,
    .server_add = store_sqlite_server_add,
    .server_get = store_sqlite_server_get,
    .server_list = store_sqlite_server_list,
    .server_set = store_sqlite_server_set,
    .server_remove = store_sqlite_server_remove,
    .grant_add = store_sqlite_grant_add,
    .grant_list = store_sqlite_grant_list,
    .grant_remove = store_sqlite_grant_remove,
    .secret_next = store_sqlite_secret_next,
    .secret_put = store_sqlite_secret_put,
    .secret_list = store_sqlite_secret_list,
    .secret_get = store_sqlite_secret_get,
    .secret_remove = store_sqlite_secret_remove,
    .secret_latest_all = store_sqlite_secret_latest_all,
    .token_create = store_sqlite_token_create,
    .token_get = store_sqlite_token_get,
    .token_consume = store_sqlite_token_consume,
    .token_list = store_sqlite_token_list,
    .token_revoke = store_sqlite_token_revoke,
    .token_revoke_user = store_sqlite_token_revoke_user,
    .device_create = store_sqlite_device_create,
    .device_get = store_sqlite_device_get,
    .device_list = store_sqlite_device_list,
    .device_touch = store_sqlite_device_touch,
    .device_touch_many = store_sqlite_device_touch_many,
    .device_calls_dropped = store_sqlite_device_calls_dropped,
    .device_revoke = store_sqlite_device_revoke,
    .device_revoke_user = store_sqlite_device_revoke_user,
    .device_renew = store_sqlite_device_renew,
    .device_certs = store_sqlite_device_certs,
    .delivery_record = store_sqlite_delivery_record,
    .delivery_list_user = store_sqlite_delivery_list_user,
    .call_insert = store_sqlite_call_insert,
    .call_through = store_sqlite_call_through,
    .calls_list = store_sqlite_calls_list,
    .calls_prune = store_sqlite_calls_prune,
    .replica_beat = store_sqlite_replica_beat,
    .replica_list = store_sqlite_replica_list,
    .replica_prune = store_sqlite_replica_prune,
    .replica_remove = store_sqlite_replica_remove,
    .admin_token_add = store_sqlite_admin_token_add,
    .admin_token_get = store_sqlite_admin_token_get,
    .admin_token_list = store_sqlite_admin_token_list,
    .admin_token_revoke = store_sqlite_admin_token_revoke,
    .revision_bump = store_sqlite_revision_bump,
    .revision_current = store_sqlite_revision_current,
    .revision_record = store_sqlite_revision_record,
    .revision_latest = store_sqlite_revision_latest,
    .audit_last = store_sqlite_audit_last,
    .audit_insert = store_sqlite_audit_insert,
    .audit_list = store_sqlite_audit_list,
    .audit_find = store_sqlite_audit_find,
    .audit_seal_get = store_sqlite_audit_seal_get,
    .audit_seal_set = store_sqlite_audit_seal_set,
    .table_count = store_sqlite_table_count,
    .table_each = store_sqlite_table_each,
    .id_floor_get = store_sqlite_id_floor_get,
    .session_put = store_sqlite_session_put,
    .session_get = store_sqlite_session_get,
    .session_touch = store_sqlite_session_touch,
    .session_remove = store_sqlite_session_remove,
    .session_prune = store_sqlite_session_prune,
};
