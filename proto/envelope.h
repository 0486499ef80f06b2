/* SPDX-License-Identifier: MIT */
/* Signed envelopes: one signature per revision over a Merkle root, one proof
 * per envelope. */
#ifndef MCPFLEET_ENVELOPE_H
#define MCPFLEET_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "crypto.h"
#include "err.h"
#include "mcpfleet.pb-c.h"

/* Largest envelope or frame either side accepts. */
#define ENVELOPE_MAX (1u << 20)

enum envelope_kind {
	ENVELOPE_CATALOGUE = MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_CATALOGUE,
	ENVELOPE_REVOCATION = MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_REVOCATION,
};

/* One payload of a revision: a packed Catalogue or Revocation message. */
struct envelope_payload {
	enum envelope_kind kind;
	const uint8_t *data;
	size_t len;
};

/*
 * The envelopes of one revision. The server hashes every payload into a
 * Merkle leaf (the kind byte, then the payload), signs once the record
 * "mcpfleet.v1/root", revision, leaf count, root, and hands each device
 * its payload with its inclusion proof.
 */
struct envelope_batch;

/*
 * Signs n payloads (n >= 1) as revision. The payload bytes are copied.
 * Returns 0 with *out (free with envelope_batch_free), or -ERR_INVALID /
 * -ERR_CRYPTO / -ERR_NOMEM with d set.
 */
int envelope_batch_sign(const struct envelope_payload *payloads, size_t n,
                        uint64_t revision, struct crypto_key *signer,
                        struct crypto_rng *rng, struct envelope_batch **out,
                        struct diag *d);

/* Number of payloads in a batch. */
size_t envelope_batch_count(const struct envelope_batch *b);

/* The batch's Merkle root, as signed (the server records it with the
 * revision). */
void envelope_batch_root(const struct envelope_batch *b,
                         uint8_t root[CRYPTO_HASH_LEN]);

/* Copies the batch's DER signature into sig and returns its length. */
size_t envelope_batch_signature(const struct envelope_batch *b,
                                uint8_t sig[CRYPTO_SIG_MAX]);

/*
 * Packs the SignedEnvelope of payload i (what catalogue.pb keeps). Returns
 * 0 with *out a new buffer (caller frees) of *len bytes, or -ERR_INVALID /
 * -ERR_NOMEM.
 */
int envelope_batch_pack(const struct envelope_batch *b, size_t i, uint8_t **out,
                        size_t *len);

/* Frees a batch, wiping its copies of the payloads (a catalogue carries
 * resolved secrets). NULL-safe. */
void envelope_batch_free(struct envelope_batch *b);

/* What a verified envelope holds. */
struct envelope_opened {
	enum envelope_kind kind;
	uint64_t revision;
	Mcpfleet__V1__Catalogue *catalogue;   /* kind CATALOGUE */
	Mcpfleet__V1__Revocation *revocation; /* kind REVOCATION */
};

/*
 * Verifies a packed SignedEnvelope before anything trusts it: size cap,
 * decoding, the signature of signer over (revision, leaf count, root), the
 * inclusion proof of (kind, payload) under that root, the payload decoding,
 * and that the payload names this revision, user and device_id. It does not
 * judge freshness: the caller compares the revision with the last one it
 * applied. Returns 0 and fills *out (free with envelope_opened_clear), or
 * -ERR_PARSE / -ERR_VERIFY / -ERR_INVALID / -ERR_TOOBIG / -ERR_NOMEM with
 * d saying which check failed.
 */
int envelope_open(const uint8_t *data, size_t len, struct crypto_key *signer,
                  const char *user, const char *device_id,
                  struct envelope_opened *out, struct diag *d);

/* Frees what envelope_open filled. NULL-safe. */
void envelope_opened_clear(struct envelope_opened *o);

/*
 * Builds the canonical model of a (verified) catalogue: every server goes
 * through the same validation as a catalogue file, so a signed catalogue
 * cannot carry what a personal one may not. Servers are marked
 * SERVER_FLEET. Returns 0 and fills *out (free with catalogue_clear), or
 * -ERR_INVALID with d naming the server and field, -ERR_NOMEM.
 */
int envelope_catalogue_model(const Mcpfleet__V1__Catalogue *c,
                             struct catalogue *out, struct diag *d);

/*
 * Fills a Server message from the model (strings point into s, which must
 * outlive the message; arrays are new: free with envelope_server_clear).
 * Returns 0 or -ERR_NOMEM.
 */
int envelope_server_message(const struct server *s, Mcpfleet__V1__Server *m);

/* Frees the arrays envelope_server_message allocated. NULL-safe. */
void envelope_server_clear(Mcpfleet__V1__Server *m);

#endif
