/* SPDX-License-Identifier: MIT */
/* One host adapter: where a host keeps its MCP servers and how it spells them.
 */
#ifndef MCPFLEET_ADAPTER_H
#define MCPFLEET_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "catalogue.h"
#include "err.h"

enum host_format {
	HOST_FORMAT_JSON,  /* strict JSON */
	HOST_FORMAT_JSONC, /* JSON with comments and trailing commas */
	HOST_FORMAT_TOML,
	HOST_FORMAT_YAML, /* items of a top-level block list, by "name" */
};

enum host_os {
	HOST_OS_LINUX,
	HOST_OS_MACOS,
	HOST_OS_WINDOWS,
};

/*
 * What the adapters may know of the machine: the OS and the environment
 * (HOME, CODEX_HOME, XDG_CONFIG_HOME, ...). The agent passes the real
 * environment; tests pass a sandbox.
 */
struct host_env {
	enum host_os os;
	/* Returns the value of an environment variable, or NULL when unset. */
	const char *(*getenv)(void *ctx, const char *name);
	void *ctx;
};

/* Returns the variable's value when set and non-empty, else NULL. */
const char *host_env_get(const struct host_env *env, const char *name);

/* The process's own environment, on the OS this was built for. */
const struct host_env *host_env_process(void);

/* Where a host's file is on this machine. */
struct host_location {
	char *path;   /* the config file mcpfleet edits */
	char *marker; /* the directory whose existence means "installed" */
	bool present; /* the file or the marker directory exists */
	char *note;   /* why absent or how the path was chosen; may be NULL */
};

/* Frees what a location holds and zeroes it. NULL-safe. */
void host_location_clear(struct host_location *loc);

/* struct adapter.tool_filters */
#define ADAPTER_TOOLS_ALLOW 0x1u /* withholds every tool not listed */
#define ADAPTER_TOOLS_DENY  0x2u /* withholds the listed tools */
#define ADAPTER_TOOLS_GLOB  0x4u /* the lists take '*' globs, not only names */

/*
 * Where a host keeps rules that withhold tools, apart from the server
 * entries: Claude Code's permissions.deny list in settings.json. Managed
 * like the entries (only the rules mcpfleet added, byte-exact edits, state
 * kept per file).
 */
struct adapter_filters {
	const char *what; /* names the rules in messages: "permissions.deny" */
	enum host_format format;
	/* Finds the file (its marker is the host's). */
	int (*locate)(const struct host_env *env, struct host_location *out,
	              struct diag *d);
	/* Where the rules are: key_path[key_depth - 1] names them, the rest
	 * the objects on the way. The file may be the host's own (OpenCode):
	 * then both edits go into one write. */
	const char *const *key_path;
	size_t key_depth;
	/* NULL: the rules are a JSON array of strings (Claude Code's
	 * permissions.deny); else an object whose members RULE: member_value
	 * are the rules (OpenCode's "permission": {"RULE": "deny"}). */
	const char *member_value;
	/*
	 * Appends to out the rule that withholds the tools of server whose
	 * names match glob ('*' any run). Returns 0, -ERR_NOMEM, or -ERR_SKIP
	 * with d saying why the host cannot be given that glob.
	 */
	int (*rule)(const char *server, const char *glob, struct buf *out,
	            struct diag *d);
};

struct adapter {
	const char *id;   /* host id, as in "hosts": [...] */
	const char *name; /* for people */
	enum host_format format;
	/* The object (JSON) or table (TOML) that holds servers by name; for
	 * YAML, the one top-level key whose list holds them. */
	const char *const *key_path;
	size_t key_depth;
	/* Where the host expands ${VAR} itself (RENDER_KEEP_*): there a
	 * ${host:VAR} is left to it; mcpfleet resolves every plain ${VAR}. */
	unsigned expands_env;
	/*
	 * How a value is written so that the host, which expands text of its
	 * own in some fields, hands the server exactly that value: appends
	 * text, as the host must read it in field (a RENDER_KEEP_* bit), to
	 * out. Returns 0, -ERR_NOMEM, or -ERR_SKIP with d saying why the
	 * host cannot be given it (no escape). NULL: the host expands
	 * nothing, text is written as it is. See render_literal_*().
	 */
	int (*literal)(unsigned field, const char *text, size_t len,
	               struct buf *out, struct diag *d);
	/* The entry can say "disabled"; otherwise a disabled server is
	 * left out of the file (and removed if it was there). */
	bool can_disable;
	/* The tool filters the host enforces (ADAPTER_TOOLS_*): where the
	 * catalogue sets one the host lacks, sync warns per server. */
	unsigned tool_filters;
	/* Where the deny filter lives when not in the entry; NULL: there. */
	const struct adapter_filters *filters;
	/*
	 * Finds the host's file. Returns 0 and fills *out (present or not), or
	 * -ERR_NOMEM, or -ERR_INVALID with d saying why the environment is
	 * unusable (a relocation variable that points nowhere).
	 */
	int (*locate)(const struct host_env *env, struct host_location *out,
	              struct diag *d);
	/*
	 * Renders one server, with its ${VAR}s already resolved except where
	 * expands_env keeps them, into the host's own entry. Returns 0 and a
	 * new value in *out, -ERR_SKIP with d saying why the host cannot take
	 * this server, or -ERR_NOMEM.
	 */
	int (*render)(const struct server *s, json_t **out, struct diag *d);
};

/* The registry: every adapter, in a stable order. */
extern const struct adapter *const adapter_registry[];
extern const size_t adapter_count;

/* Returns the adapter with this id, or NULL. */
const struct adapter *adapter_find(const char *id);

/* True when id names an adapter (for catalogue validation). */
bool adapter_known(const char *id);

/* Shared rendering helpers (adapters/render.c). */

/* Returns a new JSON object of the pairs in l, or NULL on ENOMEM. */
json_t *render_kvlist(const struct kvlist *l);
/*
 * Sets key to value in o, taking the reference (NULL value means ENOMEM).
 * Returns 0 or -ERR_NOMEM; errors stick, so calls can be chained with |=.
 */
int render_set(json_t *o, const char *key, json_t *value);

/*
 * Sets the fields most hosts spell alike: command, args and env (when
 * there is one) for a stdio server; the URL under url_key ("url", or the
 * host's own name for it) and headers (when there are any) for a remote
 * one. Returns 0 or -ERR_NOMEM, so that calls chain with |=.
 */
int render_fields(json_t *o, const struct server *s, const char *url_key);

/* Ends a render: *out = o when r is 0, else o is freed and -ERR_NOMEM
 * returned. */
int render_finish(json_t *o, int r, json_t **out);

/* Fields where a host expands ${VAR} itself (struct adapter.expands_env):
 * there a ${host:VAR} of the catalogue is written as ${VAR}. */
#define RENDER_KEEP_ENV     0x1u /* env values */
#define RENDER_KEEP_HEADERS 0x2u /* header values */
#define RENDER_KEEP_COMMAND 0x4u
#define RENDER_KEEP_ARGS    0x8u
#define RENDER_KEEP_URL     0x10u
/* For the launcher, which runs with the host's own environment: every
 * ${host:VAR} is resolved from env, as a plain ${VAR}. */
#define RENDER_RESOLVE_HOST 0x100u

/*
 * Resolves the placeholders of the strings of s into a new server *out
 * (free with server_clear): every ${VAR} from env; a ${host:VAR} kept for
 * the host in the fields of keep, and elsewhere -ERR_SKIP (the host cannot
 * expand it) unless keep has RENDER_RESOLVE_HOST. Returns 0, -ERR_NOMEM,
 * -ERR_SKIP, or -ERR_UNSET, with d naming the field and the variable.
 */
int render_resolve(const struct server *s, const struct host_env *env,
                   unsigned keep, struct server *out, struct diag *d);

/*
 * As render_resolve() for a host: every value written with a's literal()
 * so that it reaches the server unchanged. -ERR_SKIP when a value cannot.
 */
int render_resolve_for(const struct adapter *a, const struct server *s,
                       const struct host_env *env, struct server *out,
                       struct diag *d);

/* The literal() of the hosts that expand ${VAR} and ${VAR:-default} (Claude
 * Code everywhere but headers, Droid in env and headers; fields: where):
 * every "${" becomes "${__MCPFLEET_LITERAL:-$}{", which they read as "${" (the
 * variable is reserved: never set it). */
int render_literal_braces(unsigned where, unsigned field, const char *text,
                          size_t len, struct buf *out, struct diag *d);
/* For hosts where $NAME and ${NAME} expand: in the fields of once an escape
 * as above for every '$' before a name or '{'; in those of twice (Gemini
 * CLI's env and headers, expanded twice) no escape works: -ERR_SKIP. */
int render_literal_dollar(unsigned once, unsigned twice, unsigned field,
                          const char *text, size_t len, struct buf *out,
                          struct diag *d);
/* The literal() of a host that substitutes "${...}" forms in every field
 * and documents no escape (Cursor, VS Code, Windsurf, Kiro):
 * a value holding "${" is refused. */
int render_literal_no_braces(unsigned field, const char *text, size_t len,
                             struct buf *out, struct diag *d);
/* A host with expansions and no escape: -ERR_SKIP when text holds one of
 * the NULL-terminated patterns in a field of where. */
int render_literal_refuse(unsigned where, const char *const *patterns,
                          unsigned field, const char *text, size_t len,
                          struct buf *out, struct diag *d);

/*
 * Checks that glob, a tool glob of the catalogue, can be written into a
 * host's rule naming tools SERVER<sep>TOOL: letters, digits, '_', '-' and
 * '*' (other characters are rewritten by the hosts in tool names, or mean
 * more in their patterns). Returns 0, or -ERR_SKIP with d saying why.
 */
int render_rule_glob(const char *glob, struct diag *d);

/* Joins path pieces with '/' into a new string, or NULL on ENOMEM. */
char *render_path(const char *first, ...) __attribute__((sentinel));

/*
 * The user's home directory: HOME (USERPROFILE on Windows). Returns it, or
 * NULL with d set when it is unset.
 */
const char *render_home(const struct host_env *env, struct diag *d);

/*
 * Fills *out from a file path and a marker directory (both new strings,
 * owned by *out afterwards, as is note), deciding whether the host is
 * present. Returns 0, or -ERR_NOMEM when path or marker is NULL (the strings
 * given are freed).
 */
int render_location(struct host_location *out, char *path, char *marker,
                    char *note);

#endif
