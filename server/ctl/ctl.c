/* SPDX-License-Identifier: MIT */
/* mcpfleetctl: each command is one row of a table that says how its
 * arguments become an API request and how the answer is shown. */
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "checkpoint.h"
#include "crypto.h"
#include "fileio.h"
#include "jsonutil.h"
#include "rate.h"
#include "serverflags.h"

#define CTL_PROG         "mcpfleetctl"
#define CTL_VERSION      "0.1.0"
#define CTL_API          "/api/v1/"
#define CTL_POS_MAX      2    /* positional arguments of one command */
#define CTL_OPTS_MAX     16   /* options of one command (test_ctl checks) */
#define CTL_SEGMENT_MAX  256  /* one argument that goes into the path */
#define CTL_KEY_MAX      64   /* one JSON key in a column path */
#define CTL_MSG_MAX      2048 /* one error message */
#define CTL_TIMEOUT_SECS 30
#define CTL_TIMEOUT_MAX  3600
#define CTL_DURATION_MAX (100LL * 365 * 86400)
#define CTL_COUNT_MAX    1000000000LL
#define CTL_SECRET_MAX   (64u * 1024) /* API.md: a value is 1 B to 64 KiB */
#define CTL_TOKEN_MAX    4096
#define CTL_CA_MAX       (1u << 20)
#define CTL_WRAP         79

/* ---- Tables: options, columns, views, commands ---- */

/* How an option's text becomes its JSON value. */
enum ctl_kind {
	CTL_STRING,   /* a string */
	CTL_FLAG,     /* true; the option takes no value */
	CTL_LIST,     /* "a,b": ["a", "b"] */
	CTL_DURATION, /* "24h": 86400 */
	CTL_COUNT,    /* a positive whole number */
	CTL_SINCE,    /* a point in time: Unix seconds */
	CTL_RATE,     /* "60/min", checked and canonical */
	/* "GLOB=RATE[,GLOB=RATE]": {"GLOB": "RATE"}; may be repeated */
	CTL_TOOL_RATES,
};

#define CTL_QUERY    0x1u /* goes into the query string, not the body */
#define CTL_REQUIRED 0x2u
#define CTL_ONE      0x4u  /* exactly one of the options marked so */
#define CTL_AT_MOST  0x8u  /* at most one of the options marked so */
#define CTL_LOCAL    0x10u /* read by the command's build step, not sent */

struct ctl_opt {
	const char *name; /* "--email" */
	const char *meta; /* "E"; NULL for a flag */
	const char *key;  /* the body or query key */
	enum ctl_kind kind;
	unsigned flags;
};

#define CTL_COL_TIME   0x1u /* Unix seconds, shown as UTC ISO 8601 */
#define CTL_COL_DETAIL 0x2u /* shown for one object, not in lists */

struct ctl_col {
	const char *label;
	/* A field of the answer: "a.b" looks into an object, "x|y" takes
	 * the first of x and y present. */
	const char *key;
	unsigned flags;
};

/* How an answer is shown: an array as a table, an object as one line per
 * column, followed by the table of its nested array. */
struct ctl_view {
	const struct ctl_col *cols; /* ends with a NULL label */
	const char *nested; /* key ("a.b" looks into an object) of an array of
	                       objects, or NULL */
	const char *nested_title;
	const struct ctl_col *nested_cols;
	const char *nested2; /* a second one, or NULL */
	const char *nested2_title;
	const struct ctl_col *nested2_cols;
};

struct ctl_run;

struct ctl_command {
	const char *words; /* "team member add" */
	const char *args;  /* positional arguments: "TEAM USER" */
	const char *keys;  /* their body keys, "-" for none: "- user" */
	const char *method;
	const char *path; /* under /api/v1/; {1} is the first argument */
	const struct ctl_opt *opts;
	/* When set, everything after the positional arguments is for build;
	 * this is its usage text. */
	const char *tail;
	/* Completes the request once the connection settings are known;
	 * returns an exit code. */
	int (*build)(struct ctl_run *r);
	/* The line printed on success: {1} is an argument, {key} a field of
	 * the answer and {@key} a time field. */
	const char *done;
	const struct ctl_view *view;
	/* Checks the answer before it is shown; returns an exit code. */
	int (*check)(struct ctl_run *r, const json_t *answer);
	/* The answer is a document to keep: printed as JSON, always. */
	bool document;
	const char *help;
};

/* One run of the program. */
struct ctl_run {
	const struct ctl_io *io;
	const struct ctl_command *cmd;
	bool helped; /* help or version was printed: nothing else to do */
	/* Global options. */
	const char *server_arg;
	const char *token_arg;
	const char *token_file;
	const char *ca_file;
	const char *pin;
	bool json;
	unsigned timeout;
	/* The command's arguments, pointing into argv. */
	const char *pos[CTL_POS_MAX];
	size_t npos;
	const char *optval[CTL_OPTS_MAX];
	char *optjoined[CTL_OPTS_MAX]; /* a repeated option's values, a,b */
	char **rest;
	int nrest;
	struct ctl_request req;
	/* Connection settings and the secret value: owned. The token and
	 * the value are wiped, and redacted from every message printed. */
	char *server;
	char *token;
	size_t token_len;
	char *ca_pem;
	size_t ca_len;
	char *secret;
	size_t secret_len;
	const char *done; /* the build step's choice over cmd->done */
};

static int ctl_build_entry(struct ctl_run *r);
static int ctl_build_secret(struct ctl_run *r);
static int ctl_build_verify(struct ctl_run *r);
static int ctl_check_checkpoint(struct ctl_run *r, const json_t *answer);

static const struct ctl_opt ctl_opts_email[] = {
    {"--email", "E", "email", CTL_STRING, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_reason[] = {
    {"--reason", "R", "reason", CTL_STRING, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_grant[] = {
    {"--everyone", NULL, "everyone", CTL_FLAG, CTL_ONE},
    {"--team", "T", "team", CTL_STRING, CTL_ONE},
    {"--user", "U", "user", CTL_STRING, CTL_ONE},
    {"--tools-allow", "a,b", "tools_allow", CTL_LIST, 0},
    {"--tools-deny", "a,b", "tools_deny", CTL_LIST, 0},
    {"--rate", "N/UNIT", "rate", CTL_RATE, 0},
    {"--tool-rate", "GLOB=N/UNIT", "tool_rates", CTL_TOOL_RATES, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_grant_list[] = {
    {"--server", "S", "server", CTL_STRING, CTL_QUERY},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_scope[] = {
    {"--team", "T", "team", CTL_STRING, CTL_AT_MOST},
    {"--user", "U", "user", CTL_STRING, CTL_AT_MOST},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_scope_query[] = {
    {"--team", "T", "team", CTL_STRING, CTL_AT_MOST | CTL_QUERY},
    {"--user", "U", "user", CTL_STRING, CTL_AT_MOST | CTL_QUERY},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_admin_token[] = {
    {"--role", "ROLE", "role", CTL_STRING, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_token[] = {
    {"--user", "U", "user", CTL_STRING, CTL_REQUIRED},
    {"--ttl", "DURATION", "ttl", CTL_DURATION, 0},
    {"--uses", "N", "uses", CTL_COUNT, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_user_query[] = {
    {"--user", "U", "user", CTL_STRING, CTL_QUERY},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_audit[] = {
    {"--since", "T", "since", CTL_SINCE, CTL_QUERY},
    {"--until", "T", "until", CTL_SINCE, CTL_QUERY},
    {"--action", "A", "action", CTL_STRING, CTL_QUERY},
    {"--actor", "S", "actor", CTL_STRING, CTL_QUERY},
    {"--order", "O", "order", CTL_STRING, CTL_QUERY},
    {"--after", "ID", "after", CTL_COUNT, CTL_QUERY},
    {"--before", "ID", "before", CTL_COUNT, CTL_QUERY},
    {"--limit", "N", "limit", CTL_COUNT, CTL_QUERY},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_verify[] = {
    {"--checkpoint", "FILE", "checkpoint", CTL_STRING, CTL_LOCAL},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_opt ctl_opts_calls[] = {
    {"--user", "U", "user", CTL_STRING, CTL_QUERY},
    {"--device", "ID", "device", CTL_STRING, CTL_QUERY},
    {"--server", "S", "server", CTL_STRING, CTL_QUERY},
    {"--tool", "T", "tool", CTL_STRING, CTL_QUERY},
    {"--outcome", "O", "outcome", CTL_STRING, CTL_QUERY},
    {"--since", "T", "since", CTL_SINCE, CTL_QUERY},
    {"--until", "T", "until", CTL_SINCE, CTL_QUERY},
    {"--order", "O", "order", CTL_STRING, CTL_QUERY},
    {"--after", "ID", "after", CTL_COUNT, CTL_QUERY},
    {"--before", "ID", "before", CTL_COUNT, CTL_QUERY},
    {"--limit", "N", "limit", CTL_COUNT, CTL_QUERY},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

/* The global options, before the command or among its own. */
enum ctl_global {
	CTL_G_SERVER,
	CTL_G_TOKEN,
	CTL_G_TOKEN_FILE,
	CTL_G_CA,
	CTL_G_CA_SHA256,
	CTL_G_TIMEOUT,
	CTL_G_JSON,
};

static const struct ctl_opt ctl_globals[] = {
    [CTL_G_SERVER] = {"--server", "URL", "server", CTL_STRING, 0},
    [CTL_G_TOKEN] = {"--token", "T", "token", CTL_STRING, 0},
    [CTL_G_TOKEN_FILE] = {"--token-file", "F", "token-file", CTL_STRING, 0},
    [CTL_G_CA] = {"--ca", "FILE", "ca", CTL_STRING, 0},
    [CTL_G_CA_SHA256] = {"--ca-sha256", "HEX", "ca-sha256", CTL_STRING, 0},
    [CTL_G_TIMEOUT] = {"--timeout", "SECS", "timeout", CTL_DURATION, 0},
    [CTL_G_JSON] = {"--json", NULL, "json", CTL_FLAG, 0},
    {NULL, NULL, NULL, CTL_STRING, 0},
};

static const struct ctl_col ctl_user_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"EMAIL", "email", 0},
    {"DISABLED", "disabled", 0},
    {"CREATED", "created_at", CTL_COL_TIME},
    {"TEAMS", "teams", CTL_COL_DETAIL},
    {"DEVICES", "devices", CTL_COL_DETAIL},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_team_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"CREATED", "created_at", CTL_COL_TIME},
    {"MEMBERS", "members", CTL_COL_DETAIL},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_grant_cols[] = {
    {"ID", "id", 0},
    {"SERVER", "server", 0},
    {"TO", "target", 0},
    {"NAME", "target_name", 0},
    {"ALLOW", "tools_allow", 0},
    {"DENY", "tools_deny", 0},
    {"RATE", "rate", 0},
    {"TOOL RATES", "tool_rates", 0},
    {"CREATED", "created_at", CTL_COL_TIME},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_server_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"TARGET", "entry.url|entry.command", 0},
    {"DISABLED", "entry.disabled", 0},
    {"UPDATED", "updated_at", CTL_COL_TIME},
    {"CREATED", "created_at", CTL_COL_TIME | CTL_COL_DETAIL},
    {"ENTRY", "entry", CTL_COL_DETAIL},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_secret_cols[] = {
    {"ID", "id", 0},           {"NAME", "name", 0},
    {"SCOPE", "scope", 0},     {"SCOPE NAME", "scope_name", 0},
    {"VERSION", "version", 0}, {"UPDATED", "updated_at", CTL_COL_TIME},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_token_cols[] = {
    {"ID", "id", 0},
    {"USER", "user", 0},
    {"USES LEFT", "uses_left", 0},
    {"EXPIRES", "expires_at", CTL_COL_TIME},
    {"REVOKED", "revoked", 0},
    {"CREATED", "created_at", CTL_COL_TIME},
    {"BY", "created_by", 0},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_device_cols[] = {
    {"ID", "id", 0},
    {"USER", "user", 0},
    {"HOSTNAME", "hostname", 0},
    {"OS", "os", 0},
    {"STATUS", "status", 0},
    {"CONNECTED", "connected", 0},
    {"LAST SEEN", "last_seen", CTL_COL_TIME},
    {"REVISION", "applied_revision", 0},
    {"ENROLLED", "enrolled_at", CTL_COL_TIME | CTL_COL_DETAIL},
    {"CONNECTED SINCE", "connected_since", CTL_COL_TIME | CTL_COL_DETAIL},
    {"CERT SERIAL", "cert_serial", CTL_COL_DETAIL},
    {"CERT SHA-256", "cert_fingerprint", CTL_COL_DETAIL},
    {"CERT EXPIRES", "cert_not_after", CTL_COL_TIME | CTL_COL_DETAIL},
    {"REVOKED", "revoked_at", CTL_COL_TIME | CTL_COL_DETAIL},
    {"REVOKE REASON", "revoke_reason", CTL_COL_DETAIL},
    {"CALLS DROPPED", "calls_dropped", CTL_COL_DETAIL},
    {"OMITTED", "omitted", CTL_COL_DETAIL},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_audit_cols[] = {
    {"ID", "id", 0},         {"AT", "at", CTL_COL_TIME},
    {"ACTOR", "actor", 0},   {"ACTION", "action", 0},
    {"TARGET", "target", 0}, {"DETAILS", "details", 0},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_call_cols[] = {
    {"ID", "id", 0},          {"AT", "at", CTL_COL_TIME},
    {"USER", "user", 0},      {"DEVICE", "device", 0},
    {"SERVER", "server", 0},  {"METHOD", "method", 0},
    {"NAME", "name", 0},      {"OUTCOME", "outcome", 0},
    {"US", "duration_us", 0}, {"IN", "bytes_in", 0},
    {"OUT", "bytes_out", 0},  {"DETAIL", "detail", 0},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_admin_token_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"ROLE", "role", 0},
    {"REVOKED", "revoked", 0},
    {"CREATED", "created_at", CTL_COL_TIME},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_status_cols[] = {
    {"REVISION", "revision", 0},
    {"VERSION", "version", 0},
    {"DEVICES ACTIVE", "devices.active", 0},
    {"DEVICES REVOKED", "devices.revoked", 0},
    {"DEVICES CONNECTED", "devices.connected", 0},
    {"REPLICA", "replica", 0},
    {"REPLICAS", "replicas", 0},
    {NULL, NULL, 0},
};

/* An offboarding: who, when, by whom and why, and what it revoked. */
static const struct ctl_col ctl_offboard_cols[] = {
    {"USER", "user", 0},
    {"OFFBOARDED", "offboarded_at", CTL_COL_TIME},
    {"BY", "by", 0},
    {"REASON", "reason", 0},
    {"DEVICES REVOKED", "devices_revoked", 0},
    {"TOKENS REVOKED", "tokens_revoked", 0},
    {NULL, NULL, 0},
};

static const struct ctl_col ctl_delivery_cols[] = {
    {"SECRET", "secret", 0},
    {"SCOPE", "scope", 0},
    {"SCOPE NAME", "scope_name", 0},
    {"VERSION", "version", 0},
    {"DEVICE", "device", 0},
    {"REVISION", "revision", 0},
    {"DELIVERED", "delivered_at", CTL_COL_TIME},
    {NULL, NULL, 0},
};

static const struct ctl_view ctl_user_view = {.cols = ctl_user_cols};
static const struct ctl_view ctl_team_view = {.cols = ctl_team_cols};
static const struct ctl_view ctl_grant_view = {.cols = ctl_grant_cols};
static const struct ctl_view ctl_server_view = {
    .cols = ctl_server_cols,
    .nested = "grants",
    .nested_title = "Grants",
    .nested_cols = ctl_grant_cols,
};
static const struct ctl_view ctl_secret_view = {.cols = ctl_secret_cols};
static const struct ctl_view ctl_token_view = {.cols = ctl_token_cols};
/* A device's last sync report, host by host. */
static const struct ctl_col ctl_report_cols[] = {
    {"HOST", "host", 0},       {"STATUS", "status", 0},
    {"MANAGED", "managed", 0}, {"DRIFT", "drift", 0},
    {"MESSAGE", "message", 0}, {"WARNINGS", "warnings", 0},
    {NULL, NULL, 0},
};

static const struct ctl_view ctl_device_view = {
    .cols = ctl_device_cols,
    .nested = "report.hosts",
    .nested_title = "Last sync report",
    .nested_cols = ctl_report_cols,
};
static const struct ctl_view ctl_audit_view = {.cols = ctl_audit_cols};
static const struct ctl_view ctl_call_view = {.cols = ctl_call_cols};
static const struct ctl_view ctl_admin_token_view = {.cols =
                                                         ctl_admin_token_cols};
static const struct ctl_view ctl_status_view = {.cols = ctl_status_cols};
/* An offboarding's report, as offboard answers it and as it is stored. */
static const struct ctl_view ctl_offboard_view = {
    .cols = ctl_offboard_cols,
    .nested = "deliveries",
    .nested_title = "Credentials delivered to the user's devices (rotate "
                    "these)",
    .nested_cols = ctl_delivery_cols,
    .nested2 = "last_calls",
    .nested2_title = "Their last calls through the launchers",
    .nested2_cols = ctl_call_cols,
};

#define CTL_ENTRY_FLAGS                                                        \
	"(--command CMD [--arg A]... | --url URL [--type http|sse] "           \
	"[--header 'K: V']...) [--env K=V]... [--host ID]... [--disabled] "    \
	"[--tools-allow a,b] [--tools-deny a,b] [--via launcher|direct] "      \
	"[--rate N/PERIOD] [--tool-rate GLOB=N/PERIOD]... | --json '{...}'"

static const struct ctl_command ctl_commands[] = {
    {.words = "user add",
     .args = "NAME",
     .keys = "name",
     .method = "POST",
     .path = "users",
     .opts = ctl_opts_email,
     .done = "user {name} added (id {id})",
     .help = "Adds a user."},
    {.words = "user list",
     .method = "GET",
     .path = "users",
     .view = &ctl_user_view,
     .help = "Lists the users."},
    {.words = "user show",
     .args = "NAME",
     .keys = "-",
     .method = "GET",
     .path = "users/{1}",
     .view = &ctl_user_view,
     .help = "Shows a user, their teams and their devices."},
    {.words = "user remove",
     .args = "NAME",
     .keys = "-",
     .method = "DELETE",
     .path = "users/{1}",
     .done = "user {1} removed",
     .help = "Removes a user. The server refuses while the user has active "
             "devices or user-scoped secrets: offboard them first."},
    {.words = "user offboard",
     .args = "NAME",
     .keys = "-",
     .method = "POST",
     .path = "users/{1}/offboard",
     .opts = ctl_opts_reason,
     .done = "user {1} offboarded",
     .view = &ctl_offboard_view,
     .help = "Disables a user, revokes all their devices and unused "
             "enrollment tokens, and lists every credential their devices "
             "received, so that only those need rotating, then their last "
             "20 calls through the launchers. The report is kept: see user "
             "offboarding."},
    {.words = "user offboarding",
     .args = "NAME",
     .keys = "-",
     .method = "GET",
     .path = "users/{1}/offboarding",
     .view = &ctl_offboard_view,
     .help = "Shows the stored report of the user's last offboarding (by "
             "user offboard or by SCIM): when, by whom, what was revoked "
             "and the credentials to rotate."},
    {.words = "team add",
     .args = "NAME",
     .keys = "name",
     .method = "POST",
     .path = "teams",
     .done = "team {name} added (id {id})",
     .help = "Adds a team."},
    {.words = "team list",
     .method = "GET",
     .path = "teams",
     .view = &ctl_team_view,
     .help = "Lists the teams (the implicit team everyone is not listed)."},
    {.words = "team show",
     .args = "NAME",
     .keys = "-",
     .method = "GET",
     .path = "teams/{1}",
     .view = &ctl_team_view,
     .help = "Shows a team and its members."},
    {.words = "team remove",
     .args = "NAME",
     .keys = "-",
     .method = "DELETE",
     .path = "teams/{1}",
     .done = "team {1} removed",
     .help = "Removes a team. The server refuses while team-scoped secrets "
             "exist."},
    {.words = "team member add",
     .args = "TEAM USER",
     .keys = "- user",
     .method = "POST",
     .path = "teams/{1}/members",
     .done = "{2} added to team {1}",
     .help = "Adds a user to a team."},
    {.words = "team member remove",
     .args = "TEAM USER",
     .keys = "- -",
     .method = "DELETE",
     .path = "teams/{1}/members/{2}",
     .done = "{2} removed from team {1}",
     .help = "Removes a user from a team."},
    {.words = "server add",
     .args = "NAME",
     .keys = "name",
     .method = "POST",
     .path = "servers",
     .tail = CTL_ENTRY_FLAGS,
     .build = ctl_build_entry,
     .done = "server {name} added (id {id})",
     .help = "Adds a server to the fleet catalogue, with the flags of "
             "'mcpfleet add'. Values may refer to secrets as "
             "${secret:NAME}. Nobody receives it until a grant says so. "
             "Global options go before the command here; a last bare "
             "--json is the output switch."},
    {.words = "server list",
     .method = "GET",
     .path = "servers",
     .view = &ctl_server_view,
     .help = "Lists the fleet catalogue."},
    {.words = "server show",
     .args = "NAME",
     .keys = "-",
     .method = "GET",
     .path = "servers/{1}",
     .view = &ctl_server_view,
     .help = "Shows a server's entry and its grants."},
    {.words = "server set",
     .args = "NAME",
     .keys = "-",
     .method = "PUT",
     .path = "servers/{1}",
     .tail = CTL_ENTRY_FLAGS,
     .build = ctl_build_entry,
     .done = "server {1} updated",
     .help = "Replaces a server's whole entry (flags as for 'server add'); "
             "its grants stay."},
    {.words = "server remove",
     .args = "NAME",
     .keys = "-",
     .method = "DELETE",
     .path = "servers/{1}",
     .done = "server {1} removed, with its grants",
     .help = "Removes a server and its grants."},
    {.words = "grant add",
     .args = "SERVER",
     .keys = "server",
     .method = "POST",
     .path = "grants",
     .opts = ctl_opts_grant,
     .done = "grant {id} added",
     .view = &ctl_grant_view,
     .help = "Grants a server to everyone, a team or a user, optionally "
             "limited to some tools (--tools-allow) or without some "
             "(--tools-deny), and rate-limited per user (--rate 60/min) or "
             "per tool (--tool-rate 'delete_*=5/hour', repeatable). Where "
             "the server and its grants both limit, the stricter wins."},
    {.words = "grant list",
     .method = "GET",
     .path = "grants",
     .opts = ctl_opts_grant_list,
     .view = &ctl_grant_view,
     .help = "Lists the grants, of one server with --server S (the global "
             "--server URL then goes before the command)."},
    {.words = "grant remove",
     .args = "ID",
     .keys = "-",
     .method = "DELETE",
     .path = "grants/{1}",
     .done = "grant {1} removed",
     .help = "Removes a grant."},
    {.words = "secret set",
     .args = "NAME",
     .keys = "-",
     .method = "PUT",
     .path = "secrets/{1}",
     .opts = ctl_opts_scope,
     .build = ctl_build_secret,
     .done = "secret {name} set: {scope} scope, version {version}",
     .help = "Stores a new version of a secret for the whole organisation, "
             "a team or a user. The value is read from standard input "
             "(without echo on a terminal; one trailing newline is "
             "dropped) and is never shown again."},
    {.words = "secret list",
     .method = "GET",
     .path = "secrets",
     .view = &ctl_secret_view,
     .help = "Lists the secrets: names, scopes and versions, never values."},
    {.words = "secret remove",
     .args = "NAME",
     .keys = "-",
     .method = "DELETE",
     .path = "secrets/{1}",
     .opts = ctl_opts_scope_query,
     .done = "secret {1} removed",
     .help = "Removes a secret of the organisation, a team or a user."},
    {.words = "token create",
     .method = "POST",
     .path = "tokens",
     .opts = ctl_opts_token,
     .done = "enrollment token {id} for {user}: {uses_left} use(s) until "
             "{@expires_at}.\nThe link, shown only this once:\n{link}",
     .help = "Creates an enrollment token and prints its link, which the "
             "user passes to 'mcpfleet enroll'. --ttl is a duration such as "
             "90s, 30m, 24h (the default) or 7d; --uses defaults to 1."},
    {.words = "token list",
     .method = "GET",
     .path = "tokens",
     .view = &ctl_token_view,
     .help = "Lists the enrollment tokens (never the tokens themselves)."},
    {.words = "token revoke",
     .args = "ID",
     .keys = "-",
     .method = "DELETE",
     .path = "tokens/{1}",
     .done = "token {1} revoked",
     .help = "Revokes an enrollment token."},
    {.words = "device list",
     .method = "GET",
     .path = "devices",
     .opts = ctl_opts_user_query,
     .view = &ctl_device_view,
     .help = "Lists the devices, of one user with --user."},
    {.words = "device show",
     .args = "ID",
     .keys = "-",
     .method = "GET",
     .path = "devices/{1}",
     .view = &ctl_device_view,
     .help = "Shows a device and its last sync report."},
    {.words = "device revoke",
     .args = "ID",
     .keys = "-",
     .method = "POST",
     .path = "devices/{1}/revoke",
     .opts = ctl_opts_reason,
     .done = "device {1} revoked",
     .help = "Revokes a device: it removes every managed entry at once if "
             "connected, else when it next connects, and its certificate "
             "is refused from then on."},
    {.words = "audit list",
     .method = "GET",
     .path = "audit",
     .opts = ctl_opts_audit,
     .view = &ctl_audit_view,
     .help = "Lists the audit log, oldest first (--order newest: newest "
             "first). --since and --until take Unix seconds, a UTC date "
             "(2024-06-01 or 2024-06-01T12:00:00Z) or a duration ago (1h, "
             "7d); --action takes an action, or its start ending in '.' "
             "(user.); --actor a part of the actor; --after ID and "
             "--before ID page on from a row."},
    {.words = "calls list",
     .method = "GET",
     .path = "calls",
     .opts = ctl_opts_calls,
     .view = &ctl_call_view,
     .help = "Lists the tool calls, resource reads and prompt gets made "
             "through the launchers, newest first (--order oldest: oldest "
             "first; 100 unless --limit, at most 1000; --before ID pages on "
             "newest first, --after ID oldest first): who, on which device "
             "and server, the outcome (ok, error, denied, rate_limited), the "
             "duration in microseconds and the bytes. Never arguments or "
             "results. --since and --until as for audit list."},
    {.words = "audit verify",
     .method = "GET",
     .path = "audit/verify",
     .opts = ctl_opts_verify,
     .build = ctl_build_verify,
     .done = "audit log intact: {rows} rows verified, keyed (HMAC-SHA-256) "
             "from row {keyed_from}",
     .help = "Checks the audit log's chain: every row's HMAC under the "
             "server's audit key (rows from before the key, plain "
             "SHA-256), and the links between rows; exits 1 naming the "
             "first row that was altered, removed or rewritten. With "
             "--checkpoint FILE (from 'audit checkpoint'), also checks the "
             "checkpoint's signature here and on the server, and that "
             "nothing at or before it was removed or changed."},
    {.words = "audit checkpoint",
     .method = "GET",
     .path = "audit/checkpoint",
     .check = ctl_check_checkpoint,
     .document = true,
     .help = "Prints a checkpoint of the audit log: its row count, last "
             "row id, head hash and the time, signed with the server's "
             "catalogue signing key, as a JSON document. Keep it away from "
             "the server (mcpfleetctl audit checkpoint > cp.json); 'audit "
             "verify --checkpoint cp.json' later proves that no row up to "
             "it was removed or changed. The server verifies the chain "
             "before it signs."},
    {.words = "status",
     .method = "GET",
     .path = "status",
     .view = &ctl_status_view,
     .help = "Shows the catalogue revision and device counts."},
    {.words = "admin-token create",
     .args = "NAME",
     .keys = "name",
     .method = "POST",
     .path = "admin-tokens",
     .opts = ctl_opts_admin_token,
     .done = "admin token {name} created (id {id}, role {role}); the "
             "token, shown only this once:\n{token}",
     .help = "Creates an admin token for this API with a role: owner "
             "(everything, admin tokens included), admin (the default: "
             "catalogue, grants, secrets, users, teams, enrollment tokens, "
             "devices), helpdesk (users, enrollment tokens, device "
             "revocation and offboarding), auditor (reads everything, "
             "changes nothing) or scim (the identity provider's "
             "provisioning client: SCIM 2.0 at https://SERVER:PORT/scim/v2 "
             "and nothing under /api/v1/). Only an owner's "
             "token may create or revoke admin tokens."},
    {.words = "admin-token list",
     .method = "GET",
     .path = "admin-tokens",
     .view = &ctl_admin_token_view,
     .help = "Lists the admin tokens and their roles."},
    {.words = "admin-token revoke",
     .args = "ID",
     .keys = "-",
     .method = "DELETE",
     .path = "admin-tokens/{1}",
     .done = "admin token {1} revoked",
     .help = "Revokes an admin token (not the one in use; an owner's "
             "token only)."},
};

#define CTL_NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

/* ---- Small parsers ---- */

/* Parses n decimal digits, nothing else, into a value of at most max.
 * Returns 0 with *v, or -ERR_INVALID. */
static int ctl_digits(const char *s, size_t n, int64_t max, int64_t *v)
{
	int64_t x = 0;
	size_t i;

	if (n == 0)
		return -ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (max - (s[i] - '0')) / 10)
			return -ERR_INVALID;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

static int64_t ctl_unit(char c)
{
	switch (c) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

int ctl_duration_parse(const char *s, int64_t *secs)
{
	const char *p = s;
	int64_t total = 0, n, unit;
	size_t len;

	for (;;) {
		len = strspn(p, "0123456789");
		if (ctl_digits(p, len, CTL_DURATION_MAX, &n) != 0)
			return -ERR_INVALID;
		p += len;
		/* A bare number is seconds, but only on its own: "1h30" is
		 * more likely a mistake than 1h30s. */
		if (*p == '\0' && p - len == s)
			unit = 1;
		else if ((unit = ctl_unit(*p++)) == 0)
			return -ERR_INVALID;
		if (n > (CTL_DURATION_MAX - total) / unit)
			return -ERR_INVALID;
		total += n * unit;
		if (*p == '\0')
			break;
	}
	if (total < 1)
		return -ERR_INVALID;
	*secs = total;
	return 0;
}

/* Parses "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
static int ctl_date_parse(const char *s, int64_t *t)
{
	static const struct {
		size_t at, len;
		int64_t max;
	} f[] = {{0, 4, 9999}, {5, 2, 12},  {8, 2, 31},
	         {11, 2, 23},  {14, 2, 59}, {17, 2, 60}};
	int64_t v[6] = {0};
	size_t n = strlen(s), i, nf = n == 10 ? 3 : 6;
	struct tm tm, back;
	time_t tt;

	if ((n != 10 && n != 20) || s[4] != '-' || s[7] != '-' ||
	    (n == 20 &&
	     (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')))
		return -ERR_INVALID;
	for (i = 0; i < nf; i++)
		if (ctl_digits(s + f[i].at, f[i].len, f[i].max, &v[i]) != 0)
			return -ERR_INVALID;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)v[0] - 1900;
	tm.tm_mon = (int)v[1] - 1;
	tm.tm_mday = (int)v[2];
	tm.tm_hour = (int)v[3];
	tm.tm_min = (int)v[4];
	tm.tm_sec = (int)v[5];
	tt = timegm(&tm);
	/* timegm() normalises 2024-02-31 to March: refuse it instead. */
	if (v[0] < 1970 || v[1] < 1 || v[2] < 1 || tt == (time_t)-1 ||
	    gmtime_r(&tt, &back) == NULL || back.tm_mday != (int)v[2])
		return -ERR_INVALID;
	*t = (int64_t)tt;
	return 0;
}

int ctl_since_parse(const char *s, int64_t now, int64_t *t)
{
	int64_t v;

	if (ctl_digits(s, strlen(s), INT64_MAX, &v) == 0) {
		*t = v;
		return 0;
	}
	if (ctl_date_parse(s, &v) == 0) {
		*t = v;
		return 0;
	}
	if (ctl_duration_parse(s, &v) != 0)
		return -ERR_INVALID;
	*t = now > v ? now - v : 0;
	return 0;
}

int ctl_exit_for(enum netclient_fail fail, int status)
{
	if (fail == NETCLIENT_FAIL_USAGE)
		return CTL_EXIT_USAGE;
	if (fail != NETCLIENT_OK)
		return CTL_EXIT_SERVER;
	if (status >= 200 && status < 300)
		return CTL_EXIT_OK;
	if (status >= 400 && status < 500)
		return CTL_EXIT_REFUSED;
	return CTL_EXIT_SERVER;
}

/* ---- Text ---- */

/*
 * Appends s with every control character (C0, DEL, and C1 as UTF-8)
 * replaced by '?': what a server or an argument says cannot drive the
 * terminal.
 */
static int ctl_clean(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f) {
			r = buf_putc(b, '?');
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f)
			r = buf_putc(b, '?');
		else
			r = buf_putc(b, (char)p[i]);
	}
	return r;
}

/* Appends s percent-encoded, as one path segment or query value. */
static int ctl_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	int r = 0;

	for (p = (const unsigned char *)s; *p != '\0' && r == 0; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~')
			r = buf_putc(b, (char)*p);
		else
			r = buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
	return r;
}

/* Appends t, Unix seconds, as UTC ISO 8601; "-" for none. */
static int ctl_time(struct buf *b, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char s[32];

	if (t <= 0)
		return buf_puts(b, "-");
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return buf_printf(b, "%lld", (long long)t);
	return buf_puts(b, s);
}

/* Looks up a column path ("a.b", "x|y") in o. Returns a borrowed value,
 * or NULL when absent or null. */
static const json_t *ctl_get(const json_t *o, const char *path)
{
	const char *alt = path, *seg, *end;
	char key[CTL_KEY_MAX];
	const json_t *v;
	size_t n;

	for (;;) {
		end = alt + strcspn(alt, "|");
		v = o;
		for (seg = alt; v != NULL && seg < end;) {
			n = strcspn(seg, ".|");
			if (n >= sizeof(key))
				return NULL;
			memcpy(key, seg, n);
			key[n] = '\0';
			v = json_object_get(v, key);
			seg += n + (seg[n] == '.' ? 1 : 0);
		}
		if (v != NULL && !json_is_null(v))
			return v;
		if (*end == '\0')
			return NULL;
		alt = end + 1;
	}
}

/* Appends v as a table cell shows it: "-" for nothing, yes/no, lists
 * joined with commas, objects as compact JSON. */
static int ctl_cell(struct buf *b, const json_t *v, bool time)
{
	const json_t *e;
	size_t i;
	char *s;
	int r;

	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		if (json_string_length(v) == 0)
			return buf_puts(b, "-");
		return ctl_clean(b, json_string_value(v),
		                 json_string_length(v));
	case JSON_INTEGER:
		if (time)
			return ctl_time(b, (int64_t)json_integer_value(v));
		return buf_printf(b, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return buf_printf(b, "%g", json_real_value(v));
	case JSON_TRUE:
		return buf_puts(b, "yes");
	case JSON_FALSE:
		return buf_puts(b, "no");
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			return buf_puts(b, "-");
		r = 0;
		json_array_foreach(v, i, e)
		{
			if (r == 0 && i > 0)
				r = buf_putc(b, ',');
			if (r == 0)
				r = ctl_cell(b, e, time);
		}
		return r;
	case JSON_OBJECT:
		s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s == NULL)
			return -ERR_NOMEM;
		r = ctl_clean(b, s, strlen(s));
		free(s);
		return r;
	default:
		return buf_puts(b, "-");
	}
}

/*
 * Expands a template into b: {1} and {2} are the command's arguments
 * (percent-encoded when encode), {key} a field of answer as a cell shows
 * it, {@key} a time field. Returns 0 or -ERR_NOMEM.
 */
static int ctl_expand(struct buf *b, const char *tmpl, const struct ctl_run *r,
                      const json_t *answer, bool encode)
{
	const char *p = tmpl, *close, *arg;
	char key[CTL_KEY_MAX];
	size_t n;
	int rc = 0;

	while (*p != '\0' && rc == 0) {
		close = *p == '{' ? strchr(p, '}') : NULL;
		n = close != NULL ? (size_t)(close - p - 1) : 0;
		if (close == NULL || n == 0 || n >= sizeof(key)) {
			rc = buf_putc(b, *p++);
			continue;
		}
		memcpy(key, p + 1, n);
		key[n] = '\0';
		p = close + 1;
		if (n == 1 && key[0] >= '1' && key[0] <= '0' + CTL_POS_MAX) {
			arg = r->pos[key[0] - '1'] != NULL
			          ? r->pos[key[0] - '1']
			          : "";
			rc = encode ? ctl_encode(b, arg)
			            : ctl_clean(b, arg, strlen(arg));
		} else if (key[0] == '@')
			rc = ctl_cell(b, ctl_get(answer, key + 1), true);
		else
			rc = ctl_cell(b, ctl_get(answer, key), false);
	}
	return rc;
}

/* Returns the first occurrence of needle in hay, or NULL. */
static const char *ctl_search(const char *hay, size_t hlen, const char *needle,
                              size_t nlen)
{
	size_t i;

	if (nlen == 0 || nlen > hlen)
		return NULL;
	for (i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* Replaces every occurrence of needle in b with "[redacted]". */
static int ctl_redact(struct buf *b, const char *needle, size_t nlen)
{
	struct buf out = BUF_INIT;
	const char *p, *hit, *end;
	int r = 0;

	if (needle == NULL || b->len == 0 ||
	    ctl_search(b->data, b->len, needle, nlen) == NULL)
		return 0;
	p = b->data;
	end = b->data + b->len;
	while (r == 0 &&
	       (hit = ctl_search(p, (size_t)(end - p), needle, nlen)) != NULL) {
		r = buf_append(&out, p, (size_t)(hit - p));
		if (r == 0)
			r = buf_puts(&out, "[redacted]");
		p = hit + nlen;
	}
	if (r == 0)
		r = buf_append(&out, p, (size_t)(end - p));
	crypto_wipe(b->data, b->len);
	buf_free(b);
	if (r != 0) {
		buf_free(&out);
		return r;
	}
	*b = out;
	return 0;
}

/* Redacts the run's admin token and secret value from text the server
 * sent: the one text here that could quote them. */
static int ctl_redact_run(const struct ctl_run *r, struct buf *b)
{
	int rc = ctl_redact(b, r->token, r->token_len);

	return rc != 0 ? rc : ctl_redact(b, r->secret, r->secret_len);
}

/*
 * Prints text wrapped at spaces, continuation lines indented by indent
 * spaces. For usage syntax, never inside [...] or quotes.
 */
static void ctl_wrap(FILE *f, const char *text, size_t indent, bool syntax)
{
	size_t col = 0;
	const char *p = text, *q, *brk;
	size_t width;
	int depth;
	bool quoted;

	while (*p != '\0') {
		/* Find the last breakable space that keeps the line short. */
		brk = NULL;
		depth = 0;
		quoted = false;
		width = col;
		for (q = p; *q != '\0' && (width < CTL_WRAP || brk == NULL);
		     q++, width++) {
			if (syntax && *q == '\'')
				quoted = !quoted;
			else if (syntax && !quoted && *q == '[')
				depth++;
			else if (syntax && !quoted && *q == ']')
				depth--;
			else if (*q == ' ' && depth <= 0 && !quoted) {
				if (width >= CTL_WRAP && brk != NULL)
					break;
				brk = q;
			}
		}
		if (*q == '\0' || brk == NULL) {
			fprintf(f, "%s\n", p);
			return;
		}
		fprintf(f, "%.*s\n%*s", (int)(brk - p), p, (int)indent, "");
		p = brk + 1;
		col = indent;
	}
}

/* ---- Tables ---- */

/* Cells of text, row-major, printed with aligned columns. */
struct ctl_table {
	size_t ncols;
	size_t n; /* cells */
	size_t cap;
	char **cells;
};

/* Takes b's text as the next cell. Returns 0 or -ERR_NOMEM. */
static int ctl_table_add(struct ctl_table *t, struct buf *b)
{
	char **cells;
	char *s;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;

		cells = realloc(t->cells, cap * sizeof(*cells));
		if (cells == NULL)
			return -ERR_NOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	if ((s = buf_steal(b, NULL)) == NULL)
		return -ERR_NOMEM;
	t->cells[t->n++] = s;
	return 0;
}

static int ctl_table_text(struct ctl_table *t, const char *s)
{
	struct buf b = BUF_INIT;
	int r = buf_puts(&b, s);

	if (r == 0)
		r = ctl_table_add(t, &b);
	buf_free(&b);
	return r;
}

static void ctl_table_free(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Display width of UTF-8 text: its code points. */
static size_t ctl_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Prints the table, two spaces between columns, the last unpadded. */
static void ctl_table_print(FILE *f, const struct ctl_table *t)
{
	size_t *width = calloc(t->ncols, sizeof(*width));
	size_t i, c, w;

	if (width == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		w = ctl_width(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (i = 0; i < t->n; i++) {
		c = i % t->ncols;
		fputs(t->cells[i], f);
		if (c + 1 == t->ncols)
			fputc('\n', f);
		else
			fprintf(f, "%*s",
			        (int)(width[c] - ctl_width(t->cells[i]) + 2),
			        "");
	}
	free(width);
}

/* Prints an array of objects as a table with a header row. */
static int ctl_print_list(FILE *f, const struct ctl_col *cols,
                          const json_t *rows)
{
	struct ctl_table t = {0};
	struct buf b = BUF_INIT;
	const struct ctl_col *c;
	const json_t *row;
	size_t i;
	int r = 0;

	for (c = cols; c->label != NULL && r == 0; c++) {
		if (c->flags & CTL_COL_DETAIL)
			continue;
		t.ncols++;
		r = ctl_table_text(&t, c->label);
	}
	json_array_foreach(rows, i, row)
	{
		for (c = cols; c->label != NULL && r == 0; c++) {
			if (c->flags & CTL_COL_DETAIL)
				continue;
			r = ctl_cell(&b, ctl_get(row, c->key),
			             c->flags & CTL_COL_TIME);
			if (r == 0)
				r = ctl_table_add(&t, &b);
		}
	}
	if (r == 0)
		ctl_table_print(f, &t);
	buf_free(&b);
	ctl_table_free(&t);
	return r;
}

/* Prints one object, one line per column, then its nested table. */

/* A titled table of the objects of arr, when arr is an array. */
static int ctl_print_nested(FILE *f, const char *title,
                            const struct ctl_col *cols, const json_t *arr)
{
	if (!json_is_array(arr))
		return 0;
	if (json_array_size(arr) == 0) {
		fprintf(f, "\n%s: none\n", title);
		return 0;
	}
	fprintf(f, "\n%s:\n", title);
	return ctl_print_list(f, cols, arr);
}

static int ctl_print_object(FILE *f, const struct ctl_view *v, const json_t *o)
{
	struct ctl_table t = {.ncols = 2};
	struct buf b = BUF_INIT;
	const struct ctl_col *c;
	const json_t *nested;
	int r = 0;

	for (c = v->cols; c->label != NULL && r == 0; c++) {
		r = ctl_table_text(&t, c->label);
		if (r == 0)
			r = ctl_cell(&b, ctl_get(o, c->key),
			             c->flags & CTL_COL_TIME);
		if (r == 0)
			r = ctl_table_add(&t, &b);
	}
	if (r == 0)
		ctl_table_print(f, &t);
	nested = v->nested != NULL ? ctl_get(o, v->nested) : NULL;
	if (r == 0)
		r = ctl_print_nested(f, v->nested_title, v->nested_cols,
		                     nested);
	nested = v->nested2 != NULL ? ctl_get(o, v->nested2) : NULL;
	if (r == 0)
		r = ctl_print_nested(f, v->nested2_title, v->nested2_cols,
		                     nested);
	buf_free(&b);
	ctl_table_free(&t);
	return r;
}

/* ---- Messages ---- */

static void ctl_verror(const struct ctl_run *r, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Prints "mcpfleetctl: COMMAND: message", the message cut to CTL_MSG_MAX
 * and cleaned of control characters. */
static void ctl_verror(const struct ctl_run *r, const char *fmt, va_list ap)
{
	struct buf m = BUF_INIT, b = BUF_INIT;
	va_list aq;
	char *msg = NULL;
	int w;
	bool ok;

	va_copy(aq, ap);
	w = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	ok = w >= 0 && (msg = malloc((size_t)w + 1)) != NULL &&
	     vsnprintf(msg, (size_t)w + 1, fmt, ap) == w &&
	     buf_append(&m, msg, (size_t)w) == 0 &&
	     buf_printf(&b, "%s: ", CTL_PROG) == 0 &&
	     (r->cmd == NULL || buf_printf(&b, "%s: ", r->cmd->words) == 0) &&
	     ctl_clean(&b, m.data, m.len < CTL_MSG_MAX ? m.len : CTL_MSG_MAX) ==
	         0 &&
	     (m.len <= CTL_MSG_MAX || buf_puts(&b, "...") == 0) &&
	     buf_putc(&b, '\n') == 0;
	if (ok)
		fputs(b.data, r->io->err);
	else
		fprintf(r->io->err, "%s: out of memory\n", CTL_PROG);
	free(msg);
	buf_free(&m);
	buf_free(&b);
}

/* Prints "mcpfleetctl: COMMAND: message" and returns code. */
static int ctl_error(const struct ctl_run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ctl_error(const struct ctl_run *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(r, fmt, ap);
	va_end(ap);
	return code;
}

static int ctl_oom(const struct ctl_run *r)
{
	return ctl_error(r, CTL_EXIT_USAGE, "out of memory");
}

/* Appends an option as usage shows it: "--team T". */
static int ctl_opt_usage(struct buf *b, const struct ctl_opt *o)
{
	return o->meta != NULL ? buf_printf(b, "%s %s", o->name, o->meta)
	                       : buf_puts(b, o->name);
}

/* Appends the options marked flag as "--a, --b T or --c". */
static int ctl_opt_names(struct buf *b, const struct ctl_opt *opts,
                         unsigned flag)
{
	size_t i, n = 0, k = 0;
	int r = 0;

	for (i = 0; opts[i].name != NULL; i++)
		n += (opts[i].flags & flag) != 0;
	for (i = 0; opts[i].name != NULL && r == 0; i++) {
		if (!(opts[i].flags & flag))
			continue;
		if (k > 0)
			r = buf_puts(b, k + 1 == n ? " or " : ", ");
		if (r == 0)
			r = ctl_opt_usage(b, &opts[i]);
		k++;
	}
	return r;
}

/* Appends "user add NAME [--email E]". */
static int ctl_usage_line(struct buf *b, const struct ctl_command *c)
{
	const struct ctl_opt *o;
	bool one = false, most = false;
	int r = buf_puts(b, c->words);

	if (r == 0 && c->args != NULL)
		r = buf_printf(b, " %s", c->args);
	for (o = c->opts; o != NULL && o->name != NULL && r == 0; o++) {
		if (o->flags & (CTL_ONE | CTL_AT_MOST)) {
			bool *seen = o->flags & CTL_ONE ? &one : &most;
			const struct ctl_opt *g;

			if (*seen)
				continue;
			*seen = true;
			r = buf_puts(b, o->flags & CTL_ONE ? " (" : " [");
			for (g = o; g->name != NULL && r == 0; g++) {
				if (!(g->flags & o->flags &
				      (CTL_ONE | CTL_AT_MOST)))
					continue;
				if (g != o)
					r = buf_puts(b, " | ");
				if (r == 0)
					r = ctl_opt_usage(b, g);
			}
			if (r == 0)
				r = buf_puts(b, o->flags & CTL_ONE ? ")" : "]");
			continue;
		}
		r = buf_puts(b, o->flags & CTL_REQUIRED ? " " : " [");
		if (r == 0)
			r = ctl_opt_usage(b, o);
		if (r == 0 && !(o->flags & CTL_REQUIRED))
			r = buf_putc(b, ']');
	}
	if (r == 0 && c->tail != NULL)
		r = buf_printf(b, " %s", c->tail);
	return r;
}

static void ctl_print_usage_line(FILE *f, const char *prefix,
                                 const struct ctl_command *c)
{
	struct buf b = BUF_INIT;

	if (buf_puts(&b, prefix) == 0 && ctl_usage_line(&b, c) == 0)
		ctl_wrap(f, b.data, strlen(prefix) + 4, true);
	buf_free(&b);
}

/* The first word of a command: its group. */
static size_t ctl_group_len(const char *words)
{
	return strcspn(words, " ");
}

/* True when the word lists a and b start with the same word. */
static bool ctl_group_eq(const char *a, const char *b)
{
	size_t n = ctl_group_len(a);

	return ctl_group_len(b) == n && strncmp(a, b, n) == 0;
}

/* True when the argument word names c's group. */
static bool ctl_same_group(const struct ctl_command *c, const char *word)
{
	return strchr(word, ' ') == NULL && ctl_group_eq(c->words, word);
}

static void ctl_usage(FILE *f)
{
	size_t i;

	fputs("usage: " CTL_PROG " [OPTIONS] COMMAND [ARGS]\n"
	      "\n"
	      "Administers an mcpfleetd server over its REST API.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		if (i > 0 && !ctl_group_eq(ctl_commands[i - 1].words,
		                           ctl_commands[i].words))
			fputc('\n', f);
		ctl_print_usage_line(f, "  ", &ctl_commands[i]);
	}
	fputs("\n"
	      "Options (before the command, or among its options):\n"
	      "  --server URL       the API, https://HOST:PORT "
	      "(env MCPFLEET_SERVER)\n"
	      "  --token-file F     read the admin token from F\n"
	      "  --token T          the admin token (env MCPFLEET_TOKEN; "
	      "visible to ps,\n"
	      "                     so prefer the file or the environment)\n"
	      "  --ca FILE          trust this fleet CA certificate "
	      "(env MCPFLEET_CA)\n"
	      "  --ca-sha256 HEX    trust the CA with this SHA-256 pin "
	      "(env MCPFLEET_CA_SHA256)\n"
	      "  --json             print the API's JSON answer\n"
	      "  --timeout SECS     give up after this long (default 30)\n"
	      "  -h, --help         this text; COMMAND --help for one "
	      "command\n"
	      "\n"
	      "Exit codes: 0 ok, 1 the server refused, 2 usage error, 3 cannot "
	      "reach or\n"
	      "trust the server (or a server error).\n",
	      f);
}

static void ctl_command_help(FILE *f, const struct ctl_command *c)
{
	ctl_print_usage_line(f, "usage: " CTL_PROG " ", c);
	fputc('\n', f);
	ctl_wrap(f, c->help, 0, false);
	fputs("\nGlobal options: see '" CTL_PROG " --help'.\n", f);
}

/* Prints "mcpfleetctl: COMMAND: message" and the command's usage, and
 * returns CTL_EXIT_USAGE. */
static int ctl_usage_error(const struct ctl_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ctl_usage_error(const struct ctl_run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(r, fmt, ap);
	va_end(ap);
	if (r->cmd != NULL)
		ctl_print_usage_line(r->io->err, "usage: " CTL_PROG " ",
		                     r->cmd);
	else
		fputs("usage: " CTL_PROG
		      " [OPTIONS] COMMAND [ARGS] (see '" CTL_PROG " --help')\n",
		      r->io->err);
	return CTL_EXIT_USAGE;
}

/* ---- Arguments ---- */

/* Counts the words of a space-separated list. */
static size_t ctl_count_words(const char *s)
{
	size_t n = 0;

	while (s != NULL && *s != '\0') {
		s += strcspn(s, " ");
		s += strspn(s, " ");
		n++;
	}
	return n;
}

/* Copies word i of a space-separated list into out. */
static void ctl_word(const char *s, size_t i, char *out, size_t size)
{
	size_t n;

	for (; i > 0 && *s != '\0'; i--) {
		s += strcspn(s, " ");
		s += strspn(s, " ");
	}
	n = strcspn(s, " ");
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Returns how many leading arguments spell c->words, or 0. */
static int ctl_words_match(const struct ctl_command *c, int argc, char **argv)
{
	const char *p = c->words;
	size_t n;
	int i = 0;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (i >= argc || strlen(argv[i]) != n ||
		    strncmp(argv[i], p, n) != 0)
			return 0;
		i++;
		p += n + strspn(p + n, " ");
	}
	return i;
}

/* Finds the command spelt by the leading arguments; *used: its words. */
static const struct ctl_command *ctl_find(int argc, char **argv, int *used)
{
	const struct ctl_command *best = NULL;
	size_t i;
	int n;

	*used = 0;
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		n = ctl_words_match(&ctl_commands[i], argc, argv);
		if (n > *used) {
			*used = n;
			best = &ctl_commands[i];
		}
	}
	return best;
}

/* Prints the usage lines of one group of commands. */
static void ctl_group_usage(FILE *f, const char *group)
{
	size_t i;

	fputs("usage:\n", f);
	for (i = 0; i < CTL_NCOMMANDS; i++)
		if (ctl_same_group(&ctl_commands[i], group))
			ctl_print_usage_line(f, "  " CTL_PROG " ",
			                     &ctl_commands[i]);
}

static bool ctl_is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/*
 * Looks argv[*i] up in opts: "--name", "--name=value" or "--name value".
 * Returns the index of the match with *val (NULL for a flag) and *i past
 * its value, -1 when none matches, or -2 after a usage error.
 */
static int ctl_lookup(struct ctl_run *r, const struct ctl_opt *opts, int argc,
                      char **argv, int *i, const char **val)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);
	int k;

	for (k = 0; opts != NULL && opts[k].name != NULL; k++) {
		if (strlen(opts[k].name) != n ||
		    strncmp(a, opts[k].name, n) != 0)
			continue;
		if (opts[k].meta == NULL) {
			if (eq != NULL) {
				ctl_usage_error(r, "%s takes no value",
				                opts[k].name);
				return -2;
			}
			*val = NULL;
		} else if (eq != NULL)
			*val = eq + 1;
		else if (*i + 1 < argc)
			*val = argv[++*i];
		else {
			ctl_usage_error(r, "%s needs a value (%s)",
			                opts[k].name, opts[k].meta);
			return -2;
		}
		return k;
	}
	return -1;
}

static int ctl_global_set(struct ctl_run *r, int k, const char *val)
{
	int64_t secs;

	switch ((enum ctl_global)k) {
	case CTL_G_SERVER:
		r->server_arg = val;
		break;
	case CTL_G_TOKEN:
		r->token_arg = val;
		break;
	case CTL_G_TOKEN_FILE:
		r->token_file = val;
		break;
	case CTL_G_CA:
		r->ca_file = val;
		break;
	case CTL_G_CA_SHA256:
		r->pin = val;
		break;
	case CTL_G_TIMEOUT:
		if (ctl_duration_parse(val, &secs) != 0 ||
		    secs > CTL_TIMEOUT_MAX)
			return ctl_usage_error(
			    r,
			    "--timeout '%s': expected seconds, "
			    "1 to %d",
			    val, CTL_TIMEOUT_MAX);
		r->timeout = (unsigned)secs;
		break;
	case CTL_G_JSON:
		r->json = true;
		break;
	}
	return CTL_EXIT_OK;
}

/* Takes argv[*i] when it is a global option. Returns CTL_EXIT_OK when
 * taken, CTL_EXIT_USAGE after an error, -1 when it is no global option. */
static int ctl_take_global(struct ctl_run *r, int argc, char **argv, int *i)
{
	const char *val = NULL;
	int k = ctl_lookup(r, ctl_globals, argc, argv, i, &val);

	if (k == -2)
		return CTL_EXIT_USAGE;
	if (k < 0)
		return -1;
	return ctl_global_set(r, k, val);
}

/* An argument that becomes a path segment must stay one segment. */
static bool ctl_segment_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CTL_SEGMENT_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' ||
		    s[i] == '\\')
			return false;
	return true;
}

/* Checks the option rules of the command: required, one of, at most one. */
static int ctl_check_opts(struct ctl_run *r)
{
	const struct ctl_opt *opts = r->cmd->opts;
	size_t k, one = 0, one_given = 0, most_given = 0;
	struct buf b = BUF_INIT;
	int code = CTL_EXIT_OK;

	for (k = 0; opts != NULL && opts[k].name != NULL; k++) {
		if ((opts[k].flags & CTL_REQUIRED) && r->optval[k] == NULL)
			return ctl_usage_error(r, "%s is required",
			                       opts[k].name);
		one += (opts[k].flags & CTL_ONE) != 0;
		one_given += (opts[k].flags & CTL_ONE) && r->optval[k] != NULL;
		most_given +=
		    (opts[k].flags & CTL_AT_MOST) && r->optval[k] != NULL;
	}
	if (one > 0 && one_given != 1) {
		if (ctl_opt_names(&b, opts, CTL_ONE) != 0)
			code = ctl_oom(r);
		else
			code = ctl_usage_error(r, "give %s one of %s",
			                       one_given ? "only" : "exactly",
			                       b.data);
	} else if (most_given > 1) {
		if (ctl_opt_names(&b, opts, CTL_AT_MOST) != 0)
			code = ctl_oom(r);
		else
			code =
			    ctl_usage_error(r, "give only one of %s", b.data);
	}
	buf_free(&b);
	return code;
}

/* Splits "a, b" into ["a", "b"]. Returns a new array, or NULL when it
 * holds no item (or on ENOMEM). */
static json_t *ctl_list_json(const char *val)
{
	json_t *a = json_array();
	const char *p = val;
	size_t n, len;

	while (a != NULL) {
		len = strcspn(p, ",");
		for (n = len; n > 0 && p[n - 1] == ' '; n--)
			;
		while (n > 0 && *p == ' ') {
			p++;
			n--;
			len--;
		}
		if (n > 0 &&
		    json_array_append_new(a, json_stringn(p, n)) != 0) {
			json_decref(a);
			return NULL;
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	if (a != NULL && json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* "60/min" as its canonical JSON string; an exit code after saying why. */
static int ctl_rate_json(struct ctl_run *r, const struct ctl_opt *o,
                         const char *val, json_t **out)
{
	char canon[RATE_TEXT_MAX];
	struct rate rt;
	struct diag d;

	diag_clear(&d);
	if (rate_parse(o->name, val, &rt, &d) != 0)
		return ctl_usage_error(r, "%s", d.msg);
	if ((*out = json_string(rate_format(&rt, canon))) == NULL)
		return ctl_oom(r);
	return CTL_EXIT_OK;
}

/* "GLOB=RATE,GLOB=RATE" as {"GLOB": "RATE"}; an exit code after saying
 * why. */
static int ctl_tool_rates_json(struct ctl_run *r, const struct ctl_opt *o,
                               const char *val, json_t **out)
{
	char canon[RATE_TEXT_MAX];
	struct tool_rate tr = {0};
	struct diag d;
	json_t *obj = json_object();
	char *copy = strdup(val), *item, *save = NULL;
	int code = CTL_EXIT_OK;

	diag_clear(&d);
	if (obj == NULL || copy == NULL) {
		code = ctl_oom(r);
		goto out;
	}
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if (tool_rate_parse(o->name, item, &tr, &d) != 0) {
			code = ctl_usage_error(r, "%s", d.msg);
			goto out;
		}
		if (json_object_set_new(
		        obj, tr.tools,
		        json_string(rate_format(&tr.rate, canon))) != 0) {
			code = ctl_oom(r);
			goto out;
		}
		tool_rate_clear(&tr);
	}
	if (json_object_size(obj) == 0) {
		code = ctl_usage_error(r,
		                       "%s '%s': expected GLOB=RATE such as "
		                       "delete_*=5/hour",
		                       o->name, val);
		goto out;
	}
	*out = obj;
	obj = NULL;
out:
	tool_rate_clear(&tr);
	json_decref(obj);
	free(copy);
	return code;
}

/* Converts an option's text into its JSON value. Returns CTL_EXIT_OK with
 * *out (a new reference) or an exit code after saying why. */
static int ctl_opt_value(struct ctl_run *r, const struct ctl_opt *o,
                         const char *val, json_t **out)
{
	int64_t n = 0;
	json_t *j = NULL;

	switch (o->kind) {
	case CTL_FLAG:
		j = json_true();
		break;
	case CTL_STRING:
		if ((j = json_string(val)) == NULL)
			return ctl_usage_error(r, "%s: not UTF-8 text",
			                       o->name);
		break;
	case CTL_LIST:
		if ((j = ctl_list_json(val)) == NULL)
			return ctl_usage_error(
			    r,
			    "%s '%s': expected a "
			    "comma-separated list such as a,b",
			    o->name, val);
		break;
	case CTL_DURATION:
		if (ctl_duration_parse(val, &n) != 0)
			return ctl_usage_error(r,
			                       "%s '%s': expected a duration "
			                       "such as 90s, 30m, 24h or 7d",
			                       o->name, val);
		j = json_integer((json_int_t)n);
		break;
	case CTL_COUNT:
		if (ctl_digits(val, strlen(val), CTL_COUNT_MAX, &n) != 0 ||
		    n == 0)
			return ctl_usage_error(r,
			                       "%s '%s': expected a positive "
			                       "whole number",
			                       o->name, val);
		j = json_integer((json_int_t)n);
		break;
	case CTL_SINCE:
		if (ctl_since_parse(val, r->io->now, &n) != 0)
			return ctl_usage_error(
			    r,
			    "%s '%s': expected Unix seconds, a UTC date such "
			    "as 2024-06-01, or a duration ago such as 1h",
			    o->name, val);
		j = json_integer((json_int_t)n);
		break;
	case CTL_RATE:
		return ctl_rate_json(r, o, val, out);
	case CTL_TOOL_RATES:
		return ctl_tool_rates_json(r, o, val, out);
	}
	if (j == NULL)
		return ctl_oom(r);
	*out = j;
	return CTL_EXIT_OK;
}

/* Appends "?key=value" or "&key=value" for a scalar JSON value. */
static int ctl_query_add(struct buf *b, bool first, const char *key,
                         const json_t *v)
{
	char num[32];
	const char *s = json_string_value(v);
	int r;

	if (json_is_integer(v)) {
		(void)snprintf(num, sizeof(num), "%lld",
		               (long long)json_integer_value(v));
		s = num;
	} else if (json_is_true(v))
		s = "true";
	r = buf_putc(b, first ? '?' : '&');
	if (r == 0)
		r = ctl_encode(b, key);
	if (r == 0)
		r = buf_putc(b, '=');
	if (r == 0)
		r = ctl_encode(b, s != NULL ? s : "");
	return r;
}

/* Builds the request from the parsed arguments: path, query and body. */
static int ctl_request_make(struct ctl_run *r)
{
	const struct ctl_command *c = r->cmd;
	const struct ctl_opt *o;
	struct buf path = BUF_INIT;
	json_t *body = NULL, *v = NULL;
	char key[CTL_KEY_MAX];
	bool first = true;
	size_t i;
	int code = CTL_EXIT_OK;

	if (buf_puts(&path, CTL_API) != 0 ||
	    ctl_expand(&path, c->path, r, NULL, true) != 0) {
		code = ctl_oom(r);
		goto out;
	}
	if ((strcmp(c->method, "POST") == 0 || strcmp(c->method, "PUT") == 0) &&
	    (body = json_object()) == NULL) {
		code = ctl_oom(r);
		goto out;
	}
	for (i = 0; i < r->npos && body != NULL; i++) {
		ctl_word(c->keys, i, key, sizeof(key));
		if (strcmp(key, "-") == 0)
			continue;
		if ((v = json_string(r->pos[i])) == NULL) {
			code = ctl_usage_error(r, "'%s': not UTF-8 text",
			                       r->pos[i]);
			goto out;
		}
		if (json_object_set_new(body, key, v) != 0) {
			code = ctl_oom(r);
			goto out;
		}
	}
	for (i = 0; c->opts != NULL && c->opts[i].name != NULL; i++) {
		o = &c->opts[i];
		if (r->optval[i] == NULL || (o->flags & CTL_LOCAL))
			continue;
		code = ctl_opt_value(r, o, r->optval[i], &v);
		if (code != CTL_EXIT_OK)
			goto out;
		if ((o->flags & CTL_QUERY) || body == NULL) {
			if (ctl_query_add(&path, first, o->key, v) != 0)
				code = ctl_oom(r);
			first = false;
			json_decref(v);
		} else if (json_object_set_new(body, o->key, v) != 0)
			code = ctl_oom(r);
		if (code != CTL_EXIT_OK)
			goto out;
	}
	r->req.method = c->method;
	r->req.path = buf_steal(&path, NULL);
	if (r->req.path == NULL) {
		code = ctl_oom(r);
		goto out;
	}
	r->req.body = body;
	body = NULL;
out:
	json_decref(body);
	buf_free(&path);
	return code;
}

/*
 * Parses the arguments: global options, the command words, its arguments
 * and options; then builds the request without what build adds. Returns
 * an exit code; r->helped when help was printed instead.
 */
/* A repeated option: its values joined with ','. Returns 0 or -ERR_NOMEM. */
static int ctl_opt_join(struct ctl_run *r, int k, const char *val)
{
	size_t a = strlen(r->optval[k]), b = strlen(val != NULL ? val : "");
	char *j = malloc(a + b + 2);

	if (j == NULL)
		return -ERR_NOMEM;
	memcpy(j, r->optval[k], a);
	j[a] = ',';
	memcpy(j + a + 1, val != NULL ? val : "", b + 1);
	free(r->optjoined[k]);
	r->optjoined[k] = j;
	r->optval[k] = j;
	return 0;
}

static int ctl_parse(struct ctl_run *r, int argc, char **argv)
{
	const struct ctl_command *c;
	size_t nargs;
	char meta[32];
	const char *val;
	bool only_pos = false;
	int i = 0, used, k, code;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (ctl_is_help(argv[i])) {
			ctl_usage(r->io->out);
			r->helped = true;
			return CTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			fprintf(r->io->out, "%s %s\n", CTL_PROG, CTL_VERSION);
			r->helped = true;
			return CTL_EXIT_OK;
		}
		code = ctl_take_global(r, argc, argv, &i);
		if (code == -1)
			return ctl_usage_error(r, "unknown option '%s'",
			                       argv[i]);
		if (code != CTL_EXIT_OK)
			return code;
	}
	if (i >= argc)
		return ctl_usage_error(r, "no command given");
	if (strcmp(argv[i], "help") == 0) {
		c = ctl_find(argc - i - 1, argv + i + 1, &used);
		if (c == NULL)
			ctl_usage(r->io->out);
		else
			ctl_command_help(r->io->out, c);
		r->helped = true;
		return CTL_EXIT_OK;
	}
	c = ctl_find(argc - i, argv + i, &used);
	if (c == NULL) {
		for (k = 0; k < (int)CTL_NCOMMANDS; k++)
			if (ctl_same_group(&ctl_commands[k], argv[i]))
				break;
		if (k == (int)CTL_NCOMMANDS)
			return ctl_usage_error(r, "unknown command '%s'",
			                       argv[i]);
		if (i + 1 < argc && ctl_is_help(argv[i + 1])) {
			ctl_group_usage(r->io->out, argv[i]);
			r->helped = true;
			return CTL_EXIT_OK;
		}
		if (i + 1 < argc)
			ctl_error(r, 0, "%s %s: no such command", argv[i],
			          argv[i + 1]);
		else
			ctl_error(r, 0, "%s: which command?", argv[i]);
		ctl_group_usage(r->io->err, argv[i]);
		return CTL_EXIT_USAGE;
	}
	r->cmd = c;
	nargs = ctl_count_words(c->args);
	for (i += used; i < argc; i++) {
		const char *a = argv[i];

		if (c->tail != NULL && r->npos == nargs) {
			if (ctl_is_help(a))
				break;
			r->rest = argv + i;
			r->nrest = argc - i;
			break;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				only_pos = true;
				continue;
			}
			if (ctl_is_help(a))
				break;
			k = ctl_lookup(r, c->opts, argc, argv, &i, &val);
			if (k == -2)
				return CTL_EXIT_USAGE;
			if (k >= 0 && r->optval[k] != NULL &&
			    c->opts[k].kind == CTL_TOOL_RATES) {
				if (ctl_opt_join(r, k, val) != 0)
					return ctl_oom(r);
				continue;
			}
			if (k >= 0) {
				if (r->optval[k] != NULL)
					return ctl_usage_error(
					    r, "%s given twice", a);
				r->optval[k] = val != NULL ? val : "";
				continue;
			}
			code = ctl_take_global(r, argc, argv, &i);
			if (code == -1)
				return ctl_usage_error(r, "unknown option '%s'",
				                       a);
			if (code != CTL_EXIT_OK)
				return code;
			continue;
		}
		if (r->npos >= nargs)
			return ctl_usage_error(r, "unexpected argument '%s'",
			                       a);
		r->pos[r->npos++] = a;
	}
	if (i < argc && ctl_is_help(argv[i])) {
		ctl_command_help(r->io->out, c);
		r->helped = true;
		return CTL_EXIT_OK;
	}
	if (r->npos < nargs) {
		ctl_word(c->args, r->npos, meta, sizeof(meta));
		return ctl_usage_error(r, "missing %s", meta);
	}
	for (k = 0; k < (int)r->npos; k++) {
		char ref[4] = {'{', (char)('1' + k), '}', '\0'};

		if (strstr(c->path, ref) != NULL &&
		    !ctl_segment_ok(r->pos[k])) {
			ctl_word(c->args, (size_t)k, meta, sizeof(meta));
			return ctl_usage_error(r, "%s '%s' is not a valid name",
			                       meta, r->pos[k]);
		}
	}
	code = ctl_check_opts(r);
	if (code != CTL_EXIT_OK)
		return code;
	return ctl_request_make(r);
}

/* ---- Build steps ---- */

/* server add/set: the entry flags after NAME, as for "mcpfleet add". */
static int ctl_build_entry(struct ctl_run *r)
{
	json_t *entry = NULL;
	struct diag d, d2;
	int rc;

	diag_clear(&d);
	diag_clear(&d2);
	rc = serverflags_parse(r->nrest, r->rest, &entry, &d);
	/* A last bare --json that the entry flags cannot take is the output
	 * switch ("--arg --json" still passes the literal). */
	if (rc == -ERR_USAGE && r->nrest > 0 &&
	    strcmp(r->rest[r->nrest - 1], "--json") == 0) {
		rc = serverflags_parse(r->nrest - 1, r->rest, &entry, &d2);
		if (rc == 0)
			r->json = true;
		else
			d = d2;
	}
	if (rc == -ERR_NOMEM)
		return ctl_oom(r);
	if (rc != 0)
		return ctl_usage_error(r, "%s", d.msg);
	if (json_object_set_new(r->req.body, "entry", entry) != 0)
		return ctl_oom(r);
	return CTL_EXIT_OK;
}

/*
 * The terminal settings to put back when a signal ends the program while
 * echo is off. A signal handler can reach them only through statics, the
 * one piece of global state here.
 */
static const int ctl_tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static struct termios ctl_tty_saved;
static struct sigaction
    ctl_tty_old[sizeof(ctl_tty_signals) / sizeof(ctl_tty_signals[0])];
static volatile sig_atomic_t ctl_tty_fd = -1;

static void ctl_tty_signal(int sig)
{
	if (ctl_tty_fd >= 0)
		(void)tcsetattr(ctl_tty_fd, TCSANOW, &ctl_tty_saved);
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

static void ctl_tty_restore(void)
{
	size_t i;

	if (ctl_tty_fd < 0)
		return;
	(void)tcsetattr(ctl_tty_fd, TCSANOW, &ctl_tty_saved);
	ctl_tty_fd = -1;
	for (i = 0; i < sizeof(ctl_tty_signals) / sizeof(ctl_tty_signals[0]);
	     i++)
		(void)sigaction(ctl_tty_signals[i], &ctl_tty_old[i], NULL);
}

/* Turns echo off on terminal fd until ctl_tty_restore(). */
static int ctl_tty_quiet(int fd)
{
	struct termios quiet;
	struct sigaction sa;
	size_t i;

	if (tcgetattr(fd, &ctl_tty_saved) != 0)
		return -ERR_IO;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_tty_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(ctl_tty_signals) / sizeof(ctl_tty_signals[0]);
	     i++)
		(void)sigaction(ctl_tty_signals[i], &sa, &ctl_tty_old[i]);
	ctl_tty_fd = fd;
	quiet = ctl_tty_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		ctl_tty_restore();
		return -ERR_IO;
	}
	return 0;
}

/*
 * Reads the secret value from io->in: one line without echo from a
 * terminal, else everything up to end of file; one trailing newline is
 * dropped. Returns CTL_EXIT_OK with *out (wipe and free it) and *len.
 */
static int ctl_secret_read(struct ctl_run *r, char **out, size_t *len)
{
	FILE *in = r->io->in;
	int fd = in != NULL ? fileno(in) : -1, c, code = CTL_EXIT_OK;
	bool tty = fd >= 0 && isatty(fd);
	size_t n = 0, cap = CTL_SECRET_MAX + 2;
	char *v;

	if (in == NULL)
		return ctl_usage_error(r, "no standard input to read the "
		                          "value from");
	if ((v = malloc(cap)) == NULL)
		return ctl_oom(r);
	if (tty) {
		fprintf(r->io->err,
		        "value of secret %s (not echoed): ", r->pos[0]);
		fflush(r->io->err);
		if (ctl_tty_quiet(fd) != 0) {
			code =
			    ctl_error(r, CTL_EXIT_USAGE,
			              "cannot turn off echo on the terminal: "
			              "%s",
			              strerror(errno));
			goto out;
		}
	}
	while (n < cap && (c = getc(in)) != EOF) {
		v[n++] = (char)c;
		if (tty && c == '\n')
			break;
	}
	if (tty) {
		ctl_tty_restore();
		fputc('\n', r->io->err);
	}
	if (ferror(in)) {
		code = ctl_error(r, CTL_EXIT_USAGE,
		                 "cannot read the value from standard input");
		goto out;
	}
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n == 0)
		code = ctl_usage_error(r, "the value is empty (it is read from "
		                          "standard input)");
	else if (n > CTL_SECRET_MAX)
		code = ctl_usage_error(r, "the value is over %u bytes",
		                       CTL_SECRET_MAX);
out:
	if (code != CTL_EXIT_OK) {
		crypto_secret_free(v, cap);
		return code;
	}
	*out = v;
	*len = n;
	return CTL_EXIT_OK;
}

/* secret set: the value from standard input. */
static int ctl_build_secret(struct ctl_run *r)
{
	json_t *s;
	int code;

	code = ctl_secret_read(r, &r->secret, &r->secret_len);
	if (code != CTL_EXIT_OK)
		return code;
	if ((s = json_stringn(r->secret, r->secret_len)) == NULL)
		return ctl_usage_error(r, "the value is not UTF-8 text");
	if (json_object_set_new(r->req.body, "value", s) != 0)
		return ctl_oom(r);
	return CTL_EXIT_OK;
}

/*
 * audit verify --checkpoint FILE: the file must be a checkpoint whose
 * signature holds under the public key it names; the server then checks
 * that the key is its own and that its chain still holds the checkpoint.
 */
static int ctl_build_verify(struct ctl_run *r)
{
	struct checkpoint cp;
	const char *file = r->optval[0];
	char *data = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	json_error_t je;
	struct diag d;
	int code;

	if (file == NULL)
		return CTL_EXIT_OK;
	memset(&cp, 0, sizeof(cp));
	diag_clear(&d);
	if ((code = fileio_read(file, CHECKPOINT_MAX, &data, &len)) != 0) {
		code = ctl_error(r, CTL_EXIT_USAGE, "%s: %s", file,
		                 code == -ERR_TOOBIG
		                     ? "larger than a checkpoint (16 KiB)"
		                 : code == -ERR_NOENT ? "no such file"
		                                      : strerror(errno));
		goto out;
	}
	if ((doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		code = ctl_error(r, CTL_EXIT_USAGE,
		                 "%s:%d: not a checkpoint (not JSON: %s)", file,
		                 je.line, je.text);
		goto out;
	}
	if (checkpoint_from_json(doc, &cp, &d) != 0) {
		code = ctl_error(r, CTL_EXIT_USAGE, "%s: %s", file, d.msg);
		goto out;
	}
	/* Refused here, before the server is asked: a checkpoint that does
	 * not hold under its own key was altered wherever it was kept. */
	if (checkpoint_verify(&cp, NULL, &d) != 0) {
		code = ctl_error(r, CTL_EXIT_REFUSED, "%s: %s", file, d.msg);
		goto out;
	}
	r->req.method = "POST";
	if ((r->req.body = json_pack("{s:O}", "checkpoint", doc)) == NULL) {
		code = ctl_oom(r);
		goto out;
	}
	r->done =
	    "audit log intact: {rows} rows verified, keyed (HMAC-SHA-256) "
	    "from row {keyed_from};\nthe checkpoint of "
	    "{checkpoint.rows} rows signed {@checkpoint.at} by key "
	    "{checkpoint.signer_key_id} holds: no row up to it was removed "
	    "or changed";
	code = CTL_EXIT_OK;
out:
	json_decref(doc);
	free(data);
	checkpoint_clear(&cp);
	return code;
}

/* audit checkpoint: what is printed to be kept must hold under its own
 * key, or it is useless later. */
static int ctl_check_checkpoint(struct ctl_run *r, const json_t *answer)
{
	struct checkpoint cp;
	struct diag d;
	json_t *copy;
	int code = CTL_EXIT_OK;

	memset(&cp, 0, sizeof(cp));
	diag_clear(&d);
	if ((copy = json_deep_copy(answer)) == NULL)
		return ctl_oom(r);
	if (checkpoint_from_json(copy, &cp, &d) != 0 ||
	    checkpoint_verify(&cp, NULL, &d) != 0)
		code = ctl_error(r, CTL_EXIT_SERVER,
		                 "the server's checkpoint does not check: %s",
		                 d.msg);
	json_decref(copy);
	checkpoint_clear(&cp);
	return code;
}

/* ---- The connection ---- */

/* Reads the admin token from a file, without its trailing newline. */
static int ctl_token_read(struct ctl_run *r, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	rc = fileio_read(path, CTL_TOKEN_MAX, &data, &len);
	if (rc != 0)
		return ctl_usage_error(r, "--token-file %s: %s", path,
		                       rc == -ERR_TOOBIG
		                           ? "too large for a token"
		                       : rc == -ERR_IO ? strerror(errno)
		                                       : err_str(rc));
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
	                   data[len - 1] == ' ' || data[len - 1] == '\t'))
		data[--len] = '\0';
	r->token = data;
	r->token_len = len;
	return CTL_EXIT_OK;
}

/* Works out the server, the admin token and the CA to trust. */
static int ctl_connection(struct ctl_run *r)
{
	const struct ctl_io *io = r->io;
	const char *server = r->server_arg, *ca = r->ca_file;
	size_t n, i;
	int rc;

	if (server == NULL || *server == '\0')
		server = io->env_server;
	if (server == NULL || *server == '\0')
		return ctl_usage_error(r, "no server: give --server "
		                          "https://HOST:PORT or set "
		                          "MCPFLEET_SERVER");
	n = strlen(server);
	while (n > 0 && server[n - 1] == '/')
		n--;
	if (strncmp(server, "https://", 8) != 0 || n <= 8 ||
	    strcspn(server, "?#") < n)
		return ctl_usage_error(
		    r, "server '%s': expected https://HOST:PORT", server);
	if ((r->server = strndup(server, n)) == NULL)
		return ctl_oom(r);

	if (r->token_arg != NULL && r->token_file != NULL)
		return ctl_usage_error(r, "give --token or --token-file, not "
		                          "both");
	if (r->token_file != NULL) {
		rc = ctl_token_read(r, r->token_file);
		if (rc != CTL_EXIT_OK)
			return rc;
	} else {
		const char *t = r->token_arg;

		if (t == NULL || *t == '\0')
			t = io->env_token;
		if (t != NULL && (r->token = strdup(t)) == NULL)
			return ctl_oom(r);
		r->token_len = t != NULL ? strlen(t) : 0;
	}
	if (r->token_len == 0)
		return ctl_usage_error(r, "no admin token: give --token-file F "
		                          "or --token T, or set "
		                          "MCPFLEET_TOKEN");
	/* It goes into a header line: no room for anything but the token. */
	for (i = 0; i < r->token_len; i++)
		if ((unsigned char)r->token[i] <= 0x20 ||
		    (unsigned char)r->token[i] >= 0x7f)
			return ctl_usage_error(r, "the admin token holds a "
			                          "space or control character");

	if (ca == NULL || *ca == '\0')
		ca = io->env_ca;
	if (r->pin == NULL || *r->pin == '\0')
		r->pin = io->env_ca_sha256 != NULL && *io->env_ca_sha256 != '\0'
		             ? io->env_ca_sha256
		             : NULL;
	if ((ca == NULL || *ca == '\0') && r->pin == NULL)
		return ctl_usage_error(r, "no CA to trust: give --ca FILE or "
		                          "--ca-sha256 HEX, or set MCPFLEET_CA "
		                          "or MCPFLEET_CA_SHA256");
	if (ca != NULL && *ca != '\0') {
		rc = fileio_read(ca, CTL_CA_MAX, &r->ca_pem, &r->ca_len);
		if (rc != 0)
			return ctl_usage_error(r, "CA file %s: %s", ca,
			                       rc == -ERR_IO ? strerror(errno)
			                                     : err_str(rc));
	}
	return CTL_EXIT_OK;
}

/* Says why the server refused, or failed; in --json mode also prints its
 * JSON answer. */
static void ctl_refused(struct ctl_run *r, const struct netclient_response *a,
                        const json_t *j)
{
	const char *msg = json_string_value(json_object_get(j, "error"));
	struct buf said = BUF_INIT, dump = BUF_INIT;
	char *s = NULL;
	int rc;

	/* A JSON string escapes what the redaction looks for: with a secret
	 * value in play, the answer is not echoed. */
	if (r->json && j != NULL && r->secret == NULL &&
	    (s = jsonutil_dump_pretty(j, NULL)) != NULL &&
	    buf_puts(&dump, s) == 0 && ctl_redact_run(r, &dump) == 0)
		fputs(dump.data, r->io->out);
	free(s);
	buf_free(&dump);
	/* Redacted whole, then cut: a cut could split what it looks for. */
	if (msg != NULL)
		rc = buf_puts(&said, msg);
	else if (a->len > 0)
		rc = buf_append(&said, a->body, a->len);
	else
		rc = buf_puts(&said, "(no answer body)");
	if (rc != 0 || ctl_redact_run(r, &said) != 0) {
		ctl_oom(r);
		goto out;
	}
	if (msg != NULL && a->status >= 500)
		ctl_error(r, 0, "server error (HTTP %d): %s", a->status,
		          said.data);
	else if (msg != NULL && a->status == 401)
		ctl_error(r, 0,
		          "%s (check --token-file, --token or "
		          "MCPFLEET_TOKEN)",
		          said.data);
	else if (msg != NULL)
		ctl_error(r, 0, "%s", said.data);
	else
		ctl_error(r, 0, "HTTP %d: %.200s", a->status, said.data);
out:
	if (said.data != NULL)
		crypto_wipe(said.data, said.len);
	buf_free(&said);
}

/*
 * Sends the request and maps the outcome to an exit code, printing what
 * went wrong. Returns CTL_EXIT_OK with *answer (NULL for an empty body).
 */
static int ctl_perform(struct ctl_run *r, json_t **answer)
{
	struct netclient_header hdr[3];
	struct netclient_request req = {0};
	struct netclient_response resp = {0};
	enum netclient_fail fail = NETCLIENT_OK;
	struct buf url = BUF_INIT, auth = BUF_INIT;
	json_t *j = NULL;
	json_error_t je;
	struct diag d;
	char *body = NULL;
	size_t body_len = 0, nhdr = 0;
	int code, rc;

	diag_clear(&d);
	if (buf_puts(&url, r->server) != 0 ||
	    buf_puts(&url, r->req.path) != 0 ||
	    buf_printf(&auth, "Bearer %s", r->token) != 0) {
		code = ctl_oom(r);
		goto out;
	}
	hdr[nhdr++] = (struct netclient_header){"Authorization", auth.data};
	hdr[nhdr++] = (struct netclient_header){"Accept", "application/json"};
	if (r->req.body != NULL) {
		body = json_dumps(r->req.body, JSON_COMPACT);
		if (body == NULL) {
			code = ctl_oom(r);
			goto out;
		}
		body_len = strlen(body);
		hdr[nhdr++] = (struct netclient_header){"Content-Type",
		                                        "application/json"};
	}
	req.method = r->req.method;
	req.url = url.data;
	req.headers = hdr;
	req.nheaders = nhdr;
	req.body = body;
	req.body_len = body_len;
	req.ca_pem = r->ca_pem;
	req.ca_len = r->ca_len;
	req.pin = r->pin;
	req.timeout_ms =
	    (r->timeout != 0 ? r->timeout : CTL_TIMEOUT_SECS) * 1000u;
	rc = netclient_https(&req, &resp, &fail, &d);
	if (rc != 0) {
		if (fail == NETCLIENT_OK)
			fail = NETCLIENT_FAIL_LOCAL;
		code = ctl_error(r, ctl_exit_for(fail, 0), "%s",
		                 d.msg[0] != '\0' ? d.msg : err_str(rc));
		goto out;
	}
	if (resp.len > 0)
		j = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES,
		               &je);
	code = ctl_exit_for(NETCLIENT_OK, resp.status);
	if (code != CTL_EXIT_OK) {
		ctl_refused(r, &resp, j);
		goto out;
	}
	if (resp.len > 0 && j == NULL) {
		code = ctl_error(r, CTL_EXIT_SERVER,
		                 "%s: HTTP %d, but the answer is not JSON: %s",
		                 url.data, resp.status, je.text);
		goto out;
	}
	*answer = j;
	j = NULL;
out:
	json_decref(j);
	netclient_response_free(&resp);
	crypto_secret_free(body, body_len);
	crypto_wipe(auth.data, auth.len);
	buf_free(&auth);
	buf_free(&url);
	return code;
}

/* Shows the answer: its JSON, or the done line and the view. */
static int ctl_render(struct ctl_run *r, const json_t *answer)
{
	const struct ctl_command *c = r->cmd;
	struct buf b = BUF_INIT;
	char *s;
	int rc = 0;

	if (r->json) {
		if (answer == NULL)
			return CTL_EXIT_OK;
		if ((s = jsonutil_dump_pretty(answer, NULL)) == NULL)
			return ctl_oom(r);
		fputs(s, r->io->out);
		free(s);
		return CTL_EXIT_OK;
	}
	if (c->document) {
		if (answer == NULL ||
		    (s = jsonutil_dump_pretty(answer, NULL)) == NULL)
			return ctl_oom(r);
		fputs(s, r->io->out);
		free(s);
		return CTL_EXIT_OK;
	}
	if (r->done != NULL || c->done != NULL) {
		rc = ctl_expand(&b, r->done != NULL ? r->done : c->done, r,
		                answer, false);
		if (rc == 0)
			fprintf(r->io->out, "%s\n", b.data);
	}
	if (rc == 0 && c->view != NULL && json_is_array(answer))
		rc = ctl_print_list(r->io->out, c->view->cols, answer);
	else if (rc == 0 && c->view != NULL && json_is_object(answer)) {
		if (c->done != NULL)
			fputc('\n', r->io->out);
		rc = ctl_print_object(r->io->out, c->view, answer);
	}
	buf_free(&b);
	return rc == 0 ? CTL_EXIT_OK : ctl_oom(r);
}

/* ---- Entry points ---- */

static void ctl_run_init(struct ctl_run *r, const struct ctl_io *io)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
}

static void ctl_run_clear(struct ctl_run *r)
{
	size_t i;

	for (i = 0; i < CTL_OPTS_MAX; i++)
		free(r->optjoined[i]);
	ctl_request_clear(&r->req);
	free(r->server);
	crypto_secret_free(r->token, r->token_len);
	free(r->ca_pem);
	crypto_secret_free(r->secret, CTL_SECRET_MAX + 2);
	memset(r, 0, sizeof(*r));
}

void ctl_request_clear(struct ctl_request *req)
{
	if (req == NULL)
		return;
	free(req->path);
	json_decref(req->body);
	memset(req, 0, sizeof(*req));
}

int ctl_build_request(const struct ctl_io *io, int argc, char **argv,
                      struct ctl_request *req)
{
	struct ctl_run r;
	int code;

	memset(req, 0, sizeof(*req));
	ctl_run_init(&r, io);
	code = ctl_parse(&r, argc, argv);
	if (code == CTL_EXIT_OK && !r.helped && r.cmd->build != NULL)
		code = r.cmd->build(&r);
	if (code == CTL_EXIT_OK && !r.helped) {
		*req = r.req;
		memset(&r.req, 0, sizeof(r.req));
	}
	ctl_run_clear(&r);
	return code;
}

int ctl_selfcheck(struct diag *d)
{
	size_t i, k;

	for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		for (k = 0; ctl_commands[i].opts != NULL &&
		            ctl_commands[i].opts[k].name != NULL;
		     k++)
			;
		if (k > CTL_OPTS_MAX)
			return diag_set(d, ERR_INTERNAL, 0, 0,
			                "%s: %zu options, more than %d",
			                ctl_commands[i].words, k, CTL_OPTS_MAX);
	}
	return 0;
}

int ctl_main(const struct ctl_io *io, int argc, char **argv)
{
	struct ctl_run r;
	json_t *answer = NULL;
	int code;

	ctl_run_init(&r, io);
	code = ctl_parse(&r, argc, argv);
	if (code != CTL_EXIT_OK || r.helped)
		goto out;
	/* The settings first: nobody types a secret only to learn that the
	 * server is missing. */
	code = ctl_connection(&r);
	if (code == CTL_EXIT_OK && r.cmd->build != NULL)
		code = r.cmd->build(&r);
	if (code == CTL_EXIT_OK)
		code = ctl_perform(&r, &answer);
	if (code == CTL_EXIT_OK && r.cmd->check != NULL)
		code = r.cmd->check(&r, answer);
	if (code == CTL_EXIT_OK)
		code = ctl_render(&r, answer);
out:
	json_decref(answer);
	ctl_run_clear(&r);
	return code;
}
