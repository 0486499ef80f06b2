/* SPDX-License-Identifier: MIT */
/* Audit checkpoints: the head of the server's audit chain signed with its
 * catalogue signing key, as a JSON document an admin keeps elsewhere
 * (docs/design.md, "The audit chain"). */
#ifndef MCPFLEET_CHECKPOINT_H
#define MCPFLEET_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "err.h"

#define CHECKPOINT_FORMAT "mcpfleet-audit-checkpoint-v1"
#define CHECKPOINT_MAX    16384 /* bytes of a checkpoint document */

/*
 * The document, a JSON object with exactly these members:
 *   "format": CHECKPOINT_FORMAT,
 *   "rows": N,            rows 1..N of the chain
 *   "last_id": N,         the last row's id (ids run 1..N)
 *   "head_hash": HEX,     the last row's hash ("" when N is 0)
 *   "head_at": T,         the last row's time (0 when N is 0)
 *   "keyed_from": K,      the first row under the audit key (0: none)
 *   "at": T,              when the server signed it
 *   "signer_key_id": HEX, the signing key's id (crypto_key_id())
 *   "signer_public_key": PEM,
 *   "signature": HEX      DER ECDSA P-256 over the text below
 * The signature covers these lines (each ending in "\n"), so that the
 * JSON's spacing and member order do not matter:
 *   CHECKPOINT_FORMAT, "rows=N", "last_id=N", "head_hash=HEX",
 *   "head_at=T", "keyed_from=K", "at=T", "signer_key_id=HEX".
 */
struct checkpoint {
	int64_t rows;
	int64_t last_id;
	char head_hash[CRYPTO_HEX_LEN + 1];
	int64_t head_at;
	int64_t keyed_from;
	int64_t at;
	char key_id[CRYPTO_HEX_LEN + 1];
	char *public_pem; /* owned */
	uint8_t sig[CRYPTO_SIG_MAX];
	size_t siglen;
};

/*
 * Signs cp's head fields (rows .. at) with signer, a private key whose
 * public half is pub_pem: sets key_id, public_pem (a copy) and the
 * signature. Returns 0 or a negative code with d.
 */
int checkpoint_sign(struct checkpoint *cp, struct crypto_key *signer,
                    const char *pub_pem, struct crypto_rng *rng,
                    struct diag *d);

/* The document of cp: a new reference, NULL when out of memory. */
json_t *checkpoint_json(const struct checkpoint *cp);

/*
 * Reads a document: a JSON object with exactly the members above, each of
 * its type and form. Does not check the signature. Returns 0 with *out
 * (clear with checkpoint_clear()), or -ERR_PARSE / -ERR_INVALID /
 * -ERR_TOOBIG with d naming the member and the reason.
 */
int checkpoint_from_json(json_t *doc, struct checkpoint *out, struct diag *d);
/* As checkpoint_from_json(), from the text of a file of len bytes. */
int checkpoint_parse(const char *text, size_t len, struct checkpoint *out,
                     struct diag *d);

/*
 * Checks the signature: signer_public_key must be the key signer_key_id
 * names, that key (when want_key_id is not NULL) the one the verifier
 * trusts, and the signature its signature over the fields. Returns 0, or
 * -ERR_VERIFY with d saying which of these failed.
 */
int checkpoint_verify(const struct checkpoint *cp, const char *want_key_id,
                      struct diag *d);

/* Frees what cp owns and empties it. NULL-safe. */
void checkpoint_clear(struct checkpoint *cp);

#endif
