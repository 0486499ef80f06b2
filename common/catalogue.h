/* SPDX-License-Identifier: MIT */
/* The canonical server schema: one model of an MCP server, parsed and
 * validated. */
#ifndef MCPFLEET_CATALOGUE_H
#define MCPFLEET_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "rate.h"

#define CATALOGUE_VERSION     1
#define CATALOGUE_MAX_SERVERS 4096
#define CATALOGUE_MAX_STRING  65536 /* bytes in any one string value */
#define CATALOGUE_MAX_LIST    1024  /* items in any one list or map */
#define SERVER_NAME_MAX       64

enum server_transport {
	SERVER_STDIO,
	SERVER_HTTP, /* Streamable HTTP */
	SERVER_SSE,
};

/* Where an entry came from when the personal and fleet catalogues merge. */
enum server_origin {
	SERVER_PERSONAL,
	SERVER_FLEET,
};

/* A secret's value sealed for one device: AES-256-GCM under its data key
 * (common/devsecret.h). */
struct sealed_secret {
	char *name;
	int64_t version;
	uint8_t *data;
	size_t len;
};

struct sealed_list {
	struct sealed_secret *v;
	size_t n;
};

/* Appends a copy. Returns 0 or -ERR_NOMEM. */
int sealed_list_push(struct sealed_list *l, const char *name, int64_t version,
                     const uint8_t *data, size_t len);
/* Returns the entry named name, or NULL. */
const struct sealed_secret *sealed_list_find(const struct sealed_list *l,
                                             const char *name);
/* Frees and zeroes. NULL-safe. */
void sealed_list_clear(struct sealed_list *l);

/* How the hosts reach a server (docs/design.md, "Edge launcher"). */
enum server_via {
	SERVER_VIA_DEFAULT,  /* launcher for fleet servers, direct otherwise */
	SERVER_VIA_LAUNCHER, /* "mcpfleet exec NAME" in every host file */
	SERVER_VIA_DIRECT,   /* rendered natively, credentials included */
};

struct strv {
	char **v;
	size_t n;
};

struct kv {
	char *key;
	char *value;
};

struct kvlist {
	struct kv *v;
	size_t n;
};

struct server {
	char *name;
	enum server_transport transport;
	enum server_origin origin;
	char *command;         /* stdio only */
	struct strv args;      /* stdio only */
	struct kvlist env;     /* stdio only */
	char *url;             /* remote only */
	struct kvlist headers; /* remote only */
	bool has_hosts;        /* false: every host */
	struct strv hosts;
	bool disabled;
	struct strv tools_allow;
	struct strv tools_deny;
	enum server_via via;
	struct rate rate;                 /* calls per user; count 0: none */
	struct tool_rate_list tool_rates; /* per tool glob */
	/* Fleet only, not in the canonical JSON: the values of the
	 * ${secret:NAME}s in the strings above, sealed for this device
	 * (common/devsecret.h). */
	struct sealed_list secrets;
};

struct catalogue {
	struct server *servers; /* sorted by name */
	size_t n;
};

/* Options of the parser. */
struct catalogue_opts {
	/* Allow ${secret:NAME} references (the server's catalogue); the
	 * personal catalogue rejects them. */
	bool allow_secret_refs;
	/* Returns whether a host id is known; NULL accepts any id. */
	bool (*host_known)(const char *id);
};

/*
 * Validates a server name: [A-Za-z0-9_-]{1,64}, not a reserved name.
 * Returns 0, or -ERR_INVALID with d saying why.
 */
int server_name_check(const char *name, struct diag *d);

/* Why v cannot be an HTTP field value as written (RFC 9110: visible ASCII,
 * spaces and tabs inside, none at either end), or NULL when it can. */
const char *header_value_problem(const char *v);

/*
 * Builds a server from one canonical JSON entry (the value of
 * servers.NAME). Returns 0 and fills *out (free with server_clear), or
 * -ERR_INVALID / -ERR_NOMEM with d naming the field and the reason.
 */
int server_from_json(const char *name, const json_t *entry,
                     const struct catalogue_opts *opts, struct server *out,
                     struct diag *d);

/* Returns a new canonical JSON entry for s (no name), or NULL on ENOMEM. */
json_t *server_to_json(const struct server *s);

/*
 * Reads a JSON object of tool globs to rates ({"delete_*": "5/hour"}, 1 to
 * CATALOGUE_MAX_LIST of them) into out, as the "tool_rates" of an entry or
 * a grant; field names v in errors. Returns 0, -ERR_INVALID with d, or
 * -ERR_NOMEM.
 */
int tool_rates_from_json(const char *field, const json_t *v,
                         struct tool_rate_list *out, struct diag *d);
/* The object tool_rates_from_json() reads, rates in their canonical
 * spelling (a new reference), or NULL when out of memory. */
json_t *tool_rates_to_json(const struct tool_rate_list *l);

/* Deep-copies a server. Returns 0 or -ERR_NOMEM. */
int server_copy(const struct server *s, struct server *out);

/* Frees what a server holds and zeroes it. NULL-safe. */
void server_clear(struct server *s);

/*
 * Parses a canonical catalogue document ({"version": 1, "servers": {...}}).
 * Duplicate keys anywhere are rejected. Returns 0 and fills *out (free with
 * catalogue_clear), or -ERR_PARSE / -ERR_INVALID / -ERR_TOOBIG / -ERR_NOMEM
 * with d set (line and column for syntax errors, the field path otherwise).
 */
int catalogue_parse(const char *text, size_t len,
                    const struct catalogue_opts *opts, struct catalogue *out,
                    struct diag *d);

/* Returns a new JSON document for the catalogue, or NULL on ENOMEM. */
json_t *catalogue_to_json(const struct catalogue *c);

/* Returns the server named name, or NULL. */
const struct server *catalogue_find(const struct catalogue *c,
                                    const char *name);

/*
 * Adds s (taking ownership of what it holds, which is zeroed) or replaces
 * the entry of the same name. Returns 0 or -ERR_NOMEM / -ERR_TOOBIG.
 */
int catalogue_put(struct catalogue *c, struct server *s);

/* Removes the entry named name. Returns 0 or -ERR_NOENT. */
int catalogue_remove(struct catalogue *c, const char *name);

/* Frees what a catalogue holds and zeroes it. NULL-safe. */
void catalogue_clear(struct catalogue *c);

/* True when the hosts reach s through the launcher: via "launcher", or
 * via unset on a fleet server. */
bool server_via_launcher(const struct server *s);

/* Calls fn on each string of s a placeholder may stand in: the command,
 * the URL, the args, env values and header values, in that order, until
 * one returns non-zero, which is returned (else 0). */
int server_each_value(const struct server *s,
                      int (*fn)(void *ctx, const char *value), void *ctx);

/* Collects the names of the ${secret:NAME}s in the command, args, env
 * values, URL and header values of s (each once) into *out. Returns 0 or
 * -ERR_NOMEM. */
int server_secret_refs(const struct server *s, struct strv *out);

/* True when s needs secrets from the fleet (s->secrets is not empty). */
bool server_has_secrets(const struct server *s);

/* "launcher", "direct", or NULL for the default. */
const char *server_via_name(enum server_via via);

/* Returns the id of a transport: "stdio", "http" or "sse". */
const char *server_transport_name(enum server_transport t);

/* Frees a strv / kvlist and zeroes it. NULL-safe. */
void strv_clear(struct strv *v);
void kvlist_clear(struct kvlist *l);
/* Appends a copy of s. Returns 0 or -ERR_NOMEM. */
int strv_push(struct strv *v, const char *s);
/* True when v holds s. */
bool strv_has(const struct strv *v, const char *s);

/*
 * A sorted view of n strings, for lookups in O(log n) where a list is
 * searched once per item of another (a host's entries against the
 * catalogue's). The strings are borrowed: they must outlive the set.
 */
struct strset {
	const char **v;
	size_t n;
};
/* Builds the set of v[0..n). Returns 0 or -ERR_NOMEM. */
int strset_init(struct strset *set, char *const *v, size_t n);
/* True when the set holds s. */
bool strset_has(const struct strset *set, const char *s);
/* Frees the view (not the strings) and zeroes it. NULL-safe. */
void strset_clear(struct strset *set);
/* A new JSON array of the strings of v, or NULL when out of memory. */
json_t *strv_json(const struct strv *v);
/* Appends copies of key and value. Returns 0 or -ERR_NOMEM. */
int kvlist_push(struct kvlist *l, const char *key, const char *value);
/* Returns the value of key, or NULL. */
const char *kvlist_get(const struct kvlist *l, const char *key);

#endif
