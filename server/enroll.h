/* SPDX-License-Identifier: MIT */
/* Enrollment: POST /v1/enroll turns a one-time token and a CSR into a
 * device and its client certificate. */
#ifndef MCPFLEET_ENROLL_H
#define MCPFLEET_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "pki.h"
#include "store.h"
#include "token.h"

#define ENROLL_BODY_MAX      (64u * 1024) /* a request body, bytes */
#define ENROLL_LIMITER_SLOTS 1024         /* addresses tracked at once */

/*
 * A per-address rate limit: a token bucket per address that holds rate
 * attempts and refills at rate per 60 s, so a burst of rate and then about
 * rate a minute (up to twice rate in the worst 60 s window). The table
 * holds ENROLL_LIMITER_SLOTS addresses and forgets the least recently
 * seen, which starts afresh when it comes back. Not thread-safe: one
 * owner.
 */
struct enroll_limiter;
/* Returns 0 with *out (free with enroll_limiter_free()), -ERR_INVALID for
 * a rate of 0, -ERR_NOMEM. */
int enroll_limiter_new(unsigned rate, struct enroll_limiter **out);
void enroll_limiter_free(struct enroll_limiter *l);
/* True when peer may try now (and counts the attempt). now is in seconds;
 * a peer that is NULL, empty or 64 bytes or longer is refused. */
bool enroll_limiter_allow(struct enroll_limiter *l, const char *peer,
                          int64_t now);

/* What one enrollment produced. */
struct enroll_result {
	char device_id[64]; /* "dev-" + 24 hex digits */
	int64_t user_id;
	char user[STORE_NAME_MAX + 1];
	struct crypto_cert_info cert;
};

/* What the handler needs. */
struct enroll_ctx {
	struct store *st;
	const struct pki *pki;
	struct crypto_rng *rng;
	unsigned device_days;
	int agent_port; /* told to the agent in EnrollResponse */
	/* The replica set's agent addresses, told to the agent too
	 * (borrowed; replicas_list_check() holds for them). */
	const char *const *agent_addresses;
	size_t nagent_addresses;
};

/*
 * Handles one POST /v1/enroll body (a protobuf EnrollRequest) from peer
 * (a numeric address, for the audit row). In this order: caps the body at
 * ENROLL_BODY_MAX, decodes it, checks the token's form and the facts
 * (no string field may hold a NUL byte; hostname and os: 1 to 255
 * bytes, the others at most 255; printable UTF-8 without bidirectional
 * overrides or other invisible characters, text_check_line()), parses the CSR
 * (at most 8192 bytes) and verifies its self-signature (crypto_csr_parse), all
 * before the token is touched, and then, in one store transaction, consumes the
 * token (store_token_consume: unknown, revoked, expired, used up, disabled
 * user), issues a certificate whose subject the server chooses (CN = a new
 * random device id, clientAuth, ctx->device_days), records the device and
 * appends an audit row "enroll.ok" (actor "token:<id>", target = the
 * device id). Every refusal is audited too ("enroll.refused", actor
 * "peer:<addr>", target = the peer, details = {"status", "reason"} and,
 * when the token is known, its id and user), in its own transaction; a
 * refusal whose row cannot be written stands all the same.
 *
 * Writes the answer into *status and out: 200 and a packed EnrollResponse
 * (device id, user, certificate, CA, signer public key, agent port), or
 * 400 (malformed body, bad CSR), 403 (token unknown, revoked, expired, used
 * up, user disabled: the text says which), 413 (too big), 500 (store or
 * crypto failure) and a one-line text/plain reason. The rate limit is the
 * caller's (it answers 429 before calling). Returns 0 when the device was
 * enrolled, with *res (may be NULL); otherwise the negative code of the
 * refusal, with d saying why (the same text as the body, except for a
 * 500, whose body says only that the server failed).
 */
int enroll_handle(const struct enroll_ctx *ctx, const char *peer,
                  const void *body, size_t len, int *status, struct buf *out,
                  struct enroll_result *res, struct diag *d);

#endif
