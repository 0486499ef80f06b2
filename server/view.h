/* SPDX-License-Identifier: MIT */
/* A user's view of the catalogue: the servers granted to them, tool
 * filters merged, ${secret:NAME} resolved for them. */
#ifndef MCPFLEET_VIEW_H
#define MCPFLEET_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "crypto.h"
#include "err.h"
#include "store.h"

/* A granted server left out of a view, and why. */
struct view_omitted {
	char *server;
	char *reason; /* "secret GITHUB_TOKEN is not set for alice" */
};

struct view {
	struct catalogue cat; /* the servers, sorted by name, SERVER_FLEET */
	int64_t *secret_ids;  /* secret record ids used (sorted, unique) */
	size_t nsecret_ids;
	struct view_omitted *omitted; /* sorted by server name */
	size_t nomitted;
};

/*
 * Computes user_id's view from a snapshot (store_snapshot_load()).
 *
 * Servers: every server granted to everyone, to a team the user is in, or
 * to the user. Each entry_json is parsed with server_from_json() (secret
 * references allowed); an entry that does not parse is omitted with the
 * parser's reason.
 *
 * Tool filters, when one server reaches the user through several grants:
 * the allow list is the union of the grants' allow lists, or none at all
 * when any of those grants has none; then the entry's own tools.allow, if
 * any, intersects it. The deny list is the union of the entry's and every
 * grant's deny lists. Deny wins: a tool denied anywhere is dropped from the
 * allow list. (A server whose allow list ends empty because everything
 * allowed was denied keeps an empty allow list: nothing allowed.)
 *
 * Secrets: each "${secret:NAME}" in command, args, env values, url and
 * header values is replaced by the value of NAME at user scope for this
 * user, else at team scope for one of the user's teams (the first by team
 * name that has it), else at org scope, opened with master and the AAD of
 * its record id (store_secret_aad()). A name set nowhere, or a sealed value
 * that does not open, omits the whole server with the reason. The record
 * ids used go to secret_ids (deliveries are recorded from them).
 * Substituted text is never scanned again. A value the agent would refuse
 * in that field (a control character, bytes that are not UTF-8, "${",
 * which the agent reads as a placeholder, a URL that no longer parses, a
 * string over CATALOGUE_MAX_STRING) omits the server too: the agent
 * rejects a whole catalogue over one bad entry. Reasons never quote a
 * secret's value. A reference anywhere else (hosts, tools) omits the
 * server for the same reason.
 *
 * The model and the wire cannot tell an empty allow list from none (both
 * mean "no filter"), so a server whose allow list ends empty is omitted
 * with the reason rather than delivered with every tool allowed. A grant
 * whose allow list is [] counts as having none, as "allow": [] does in an
 * entry.
 *
 * Rate limits merge the same way, on top of the entry's own rate and
 * tool_rates: the stricter rate wins (rate_stricter()), for the server and
 * for each tool glob; globs named by only some are all kept. A grant whose
 * rate or tool rates do not parse makes the server omitted, as a bad tool
 * list does.
 *
 * A disabled or unknown user gets an empty view. Returns 0 with *out (free
 * with view_clear()), or -ERR_NOMEM.
 */
int view_compute(const struct store_snapshot *snap, int64_t user_id,
                 const uint8_t master[CRYPTO_SEAL_KEY_LEN], struct view *out,
                 struct diag *d);

/*
 * The same computation for many users of one snapshot: the servers and the
 * grants' tool lists are parsed once, users, teams, memberships, grants and
 * secrets indexed once, and each secret opened at most once (the opened
 * values are kept, and wiped by view_ctx_free()). view_compute() is
 * view_ctx_new(), one view_ctx_compute() and view_ctx_free(); without the
 * context, N views would cost N times the whole snapshot.
 *
 * view_ctx_new() borrows snap, which must outlive the context, and copies
 * master. Returns 0 with *out (free with view_ctx_free()), or -ERR_NOMEM.
 * A context is used by one thread at a time.
 */
struct view_ctx;

int view_ctx_new(const struct store_snapshot *snap,
                 const uint8_t master[CRYPTO_SEAL_KEY_LEN],
                 struct view_ctx **out, struct diag *d);
/*
 * With sealing on, views keep each "${secret:NAME}" as written (every
 * check above still runs on the filled-in text) and the values travel
 * sealed for each device beside the catalogue: view_ctx_secret() gives
 * the value of each record id in a view's secret_ids. Off by default.
 */
void view_ctx_set_sealing(struct view_ctx *ctx, bool on);

/* The name, version and opened value of secret record secret_id, which a
 * view of this context used. Borrowed until view_ctx_free(). Returns 0 or
 * -ERR_NOENT. */
int view_ctx_secret(const struct view_ctx *ctx, int64_t secret_id,
                    const char **name, int64_t *version, const uint8_t **value,
                    size_t *len);

/* As view_compute(), over the context's snapshot. */
int view_ctx_compute(struct view_ctx *ctx, int64_t user_id, struct view *out,
                     struct diag *d);
/* Frees a context, wiping the secrets it opened. NULL-safe. */
void view_ctx_free(struct view_ctx *ctx);

/* Frees a view (secret values are wiped). NULL-safe. */
void view_clear(struct view *v);

#endif
