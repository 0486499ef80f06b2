/* SPDX-License-Identifier: MIT */
/* The agent's side of certificate renewal (docs/design.md, "Certificate
 * renewal"): when its certificate is due, a new key and a RenewRequest for
 * it; the answer's certificate checked and installed next to the old one,
 * crash-safe, for the next connection. */
#ifndef MCPFLEET_CERTRENEW_H
#define MCPFLEET_CERTRENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"

/* A renewal in flight: the new key, made for one RenewRequest. */
struct certrenew {
	struct crypto_key *key; /* NULL: no request out */
	char *key_pem;          /* key as PEM (free with crypto_secret_free) */
	size_t key_len;
};

/*
 * When the certificate in cert_pem is due for renewal: before_s seconds
 * before it expires, or, for before_s 0, when a third of its lifetime
 * (not_before to not_after) is left. Returns 0 with *renew_at and
 * *not_after (may be NULL), Unix seconds; -ERR_PARSE with d when the
 * certificate does not parse.
 */
int certrenew_when(const char *cert_pem, size_t cert_len, int64_t before_s,
                   int64_t *renew_at, int64_t *not_after, struct diag *d);

/*
 * Starts a renewal for device_id: a new P-256 key in r (replacing one a
 * request left there), and a packed AgentFrame with a RenewRequest whose CSR
 * (CN = device_id) it signed. Returns 0 with *frame (free()) of *len bytes.
 */
int certrenew_start(struct crypto_rng *rng, const char *device_id,
                    struct certrenew *r, uint8_t **frame, size_t *len,
                    struct diag *d);

/*
 * Installs the certificate the server answered for r's key into home, after
 * checking it (enrollment_cert_check() against ca_pem, for device_id): key
 * and certificate go first into ENROLLMENT_RENEWED in one atomic write (the
 * point after which the renewal stands), then replace ENROLLMENT_KEY and
 * ENROLLMENT_CERT, each atomically, and ENROLLMENT_RENEWED is removed. A
 * crash in between is finished by certrenew_finish(). Clears r either way.
 * Returns 0 with *not_after (may be NULL) the new certificate's expiry;
 * -ERR_INVALID (a certificate that fails a check, or no request out) or
 * -ERR_IO with d naming the file.
 */
int certrenew_install(const char *home, const char *device_id,
                      const char *ca_pem, size_t ca_len, struct certrenew *r,
                      const uint8_t *cert, size_t cert_len, int64_t *not_after,
                      struct diag *d);

/*
 * Finishes an installation a crash interrupted: when home holds
 * ENROLLMENT_RENEWED whose key and certificate belong together, they
 * replace device.key and device.crt; one that does not (never written
 * whole by this code) is removed. Returns 0 (nothing to do, or done, *done
 * telling which; done may be NULL) or -ERR_IO with d naming the file.
 */
int certrenew_finish(const char *home, bool *done, struct diag *d);

/* Forgets a renewal in flight (wiping its key). NULL-safe. */
void certrenew_clear(struct certrenew *r);

#endif
