/* SPDX-License-Identifier: MIT */
/* JSON Web Tokens as OpenID Connect uses them: a JWKS parsed into keys, and
 * an ID token's JWS signature (RS256, ES256) and claims verified against
 * it (docs/design.md, "Console sign-in with OpenID Connect"). */
#ifndef MCPFLEET_JWT_H
#define MCPFLEET_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define JWT_MAX     16384 /* bytes of a compact token accepted */
#define JWKS_MAX    65536 /* bytes of a JWKS document accepted */
#define JWKS_KEYS   32    /* keys of a JWKS kept; further ones ignored */
#define JWT_KID_MAX 128
#define JWT_LEEWAY  60 /* seconds of clock skew allowed on exp/iat/nbf */

/*
 * base64url without padding (RFC 7515 section 2). Encode writes a NUL-
 * terminated string into out (size bytes); returns 0 or -ERR_TRUNC.
 * Decode accepts exactly that alphabet (no padding, no spaces); returns 0
 * with *outlen, -ERR_PARSE, or -ERR_TRUNC when it does not fit in size.
 */
int jwt_b64url_encode(const void *data, size_t len, char *out, size_t size);
int jwt_b64url_decode(const char *s, size_t len, uint8_t *out, size_t size,
                      size_t *outlen);

/* A provider's signing keys: the RSA and P-256 keys of a JWKS ("use"
 * absent or "sig"), by kid. */
struct jwt_keyset;

/*
 * Parses a JWKS document (RFC 7517): {"keys": [...]}. Keys of other types,
 * curves or uses are skipped; a malformed RSA or EC key is an error.
 * Returns 0 with *out (free with jwt_keyset_free()), -ERR_PARSE or
 * -ERR_INVALID with d naming the key and the reason, -ERR_NOMEM.
 */
int jwt_keyset_parse(const char *json, size_t len, struct jwt_keyset **out,
                     struct diag *d);
void jwt_keyset_free(struct jwt_keyset *ks);
/* How many usable keys ks holds. NULL-safe. */
size_t jwt_keyset_count(const struct jwt_keyset *ks);

/* What an ID token must say (OpenID Connect Core 1.0, 3.1.3.7). */
struct jwt_expect {
	const char *issuer;   /* "iss" must equal it */
	const char *audience; /* "aud" must hold it; "azp" too when set */
	const char *nonce;    /* "nonce" must equal it; NULL: not checked */
	int64_t now;          /* Unix seconds */
	int64_t leeway;       /* seconds, on exp, iat and nbf */
};

/*
 * Verifies a compact JWS ID token: its header ("alg" RS256 or ES256, a
 * "kid" when ks holds more than one key; never "none", never HMAC), its
 * signature against ks, then iss, aud/azp, exp, iat, nbf and nonce.
 * Returns 0 with *claims (the payload object; caller json_decref()s),
 * -ERR_NOENT when ks holds no key of the token's kid (the caller may fetch
 * the JWKS again, once), -ERR_VERIFY for a bad signature, -ERR_PARSE or
 * -ERR_INVALID for a malformed token or a claim that does not hold, each
 * with d saying which and why.
 */
int jwt_verify(const char *token, const struct jwt_keyset *ks,
               const struct jwt_expect *ex, json_t **claims, struct diag *d);

#endif
