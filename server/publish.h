/* SPDX-License-Identifier: MIT */
/* Revisions: every active device's view, signed once over a Merkle root;
 * and signed revocations. */
#ifndef MCPFLEET_PUBLISH_H
#define MCPFLEET_PUBLISH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "devsecret.h"
#include "err.h"
#include "pki.h"
#include "store.h"

/* One device's part of a revision. */
struct publication_entry {
	char *device_id;
	/* The revision its envelope was signed at: the publication's, or an
	 * older one for an entry that publish_add() carried over. */
	uint64_t revision;
	/* One per publication that carries this entry: publish_add() shares
	 * the entries of its base, never copies them. */
	atomic_int refs;
	int64_t user_id;
	char *user;
	uint8_t *envelope; /* packed SignedEnvelope of its Catalogue */
	size_t envelope_len;
	/* SHA-256 over the view's servers only (not revision, time or
	 * device): equal hashes mean nothing changed for this device. */
	uint8_t view_hash[CRYPTO_HASH_LEN];
	int64_t *secret_ids; /* secret record ids the view carries */
	size_t nsecret_ids;
	char *omitted_json; /* JSON array of {"server","reason"}, "[]" */
	/* The device's data key (devsecret_derive()), which its secret
	 * values are sealed with; the hub hands it to an agent that holds
	 * another. Wiped on free. */
	uint8_t data_key[DEVSECRET_KEY_LEN];
	char data_key_id[CRYPTO_HEX_LEN + 1];
};

/* One signed revision. Immutable once built: the service thread may read
 * it while the core thread builds the next one. */
struct publication {
	uint64_t revision; /* the newest of its entries' */
	int64_t issued_at;
	struct publication_entry **v; /* sorted by device_id */
	size_t n;
};

/*
 * Builds the next revision: in one store transaction, bumps the revision
 * counter, loads the snapshot and the active devices, computes each user's
 * view once (view_compute(), with its ${secret:NAME}s kept), makes one
 * Catalogue payload per device (user, device id, revision, issued-at,
 * servers, and every secret value of the view sealed for that device under
 * its data key: docs/design.md, "Secrets at rest"), signs them all with one
 * signature (envelope_batch_sign()), records the revision (root and
 * signature) and commits. With no active device, *out holds no entry and
 * nothing is signed (the counter still moves). Returns 0 with *out (free
 * with publication_free()), or a negative code with d set; the store is
 * unchanged on failure.
 */
int publish_build(struct store *st, const struct pki *pki,
                  struct crypto_rng *rng, struct publication **out,
                  struct diag *d);

/* The fleet settings every Catalogue carries to the agents. */
struct publish_settings {
	int64_t offline_grace;   /* seconds; 0: the agent's default */
	uint64_t call_spool_max; /* bytes; 0: the agent's default */
};

/* As publish_build(), with the settings set (NULL: none). */
int publish_build_with(struct store *st, const struct pki *pki,
                       const struct publish_settings *set,
                       struct crypto_rng *rng, struct publication **out,
                       struct diag *d);

/*
 * Builds the next revision as base plus the devices ids (n of them, each
 * active in the store; an id base already holds is replaced): in one store
 * transaction, bumps the revision counter, loads the snapshot and those
 * devices, computes the view of their users only, signs their payloads as
 * one batch of their own at the new revision and records it (leaf count:
 * those devices alone). base's entries are carried over as they are, with
 * their envelopes and revisions: for a new device, which changes no one
 * else's view, the cost does not grow with the fleet. The caller must know
 * that nothing else changed since base was built (publish_build_with()
 * otherwise). Returns 0 with *out (free with publication_free(); base stays
 * the caller's and may be freed first), or a negative code with d set; the
 * store is unchanged on failure.
 */
int publish_add(struct store *st, const struct pki *pki,
                const struct publish_settings *set, struct crypto_rng *rng,
                const struct publication *base, const char *const *ids,
                size_t n, struct publication **out, struct diag *d);

/*
 * A revision that another replica made, as the shared store recorded it
 * (docs/design.md, "Replicas"): reads the entries signed after since and
 * carries base's entries (shared, not copied) for the others. full: also
 * reads the id of every stored entry, so that a device whose entry is gone
 * from the store (pruned by a revision of every device) is gone from *out;
 * otherwise base's entries all stay. Nothing is signed. base may be NULL
 * (since is then taken as 0 and full as true: every entry is read).
 * Returns 0 with *out (free with publication_free()) and *synced, the
 * newest revision now read, or -ERR_NOENT when base lacks an entry that
 * the store holds unchanged since (call again with since 0), or another
 * negative code with d set.
 */
int publish_load(struct store *st, const struct pki *pki,
                 const struct publication *base, int64_t since, bool full,
                 struct publication **out, int64_t *synced, struct diag *d);

/* The entry of device_id, or NULL (binary search). */
const struct publication_entry *publication_find(const struct publication *p,
                                                 const char *device_id);

/* Frees a publication. NULL-safe. */
void publication_free(struct publication *p);

/*
 * Signs a revocation for one device as its own one-leaf revision: payload
 * Revocation{user, device_id, revision, revoked_at, reason}. Returns 0
 * with *out (a packed SignedEnvelope; caller frees with free()) and *len.
 */
int publish_revocation(const struct pki *pki, struct crypto_rng *rng,
                       const char *user, const char *device_id,
                       uint64_t revision, int64_t revoked_at,
                       const char *reason, uint8_t **out, size_t *len,
                       struct diag *d);

#endif
