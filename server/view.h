/* SPDX-License-Identifier: MIT */
/* A user's view of the catalogue: the servers granted to them, tool
 * filters merged, ${secret:NAME} resolved for them. */
#ifndef MCPFLEET_VIEW_H
#define MCPFLEET_VIEW_H

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
	struct catalogue cat;  /* the servers, sorted by name, SERVER_FLEET */
	int64_t *secret_ids;   /* secret record ids used (sorted, unique) */
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
 *
 * A disabled or unknown user gets an empty view. Returns 0 with *out (free
 * with view_clear()), or -ERR_NOMEM.
 */
int view_compute(const struct store_snapshot *snap, int64_t user_id,
                 const uint8_t master[CRYPTO_SEAL_KEY_LEN], struct view *out,
                 struct diag *d);

/* Frees a view (secret values are wiped). NULL-safe. */
void view_clear(struct view *v);

#endif
