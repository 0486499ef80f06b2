/* SPDX-License-Identifier: MIT */
/* Bearer tokens (enrollment and admin) and enrollment links, shared by
 * mcpfleetd, mcpfleetctl and the agent. */
#ifndef MCPFLEET_TOKEN_H
#define MCPFLEET_TOKEN_H

#include <stddef.h>

#include "crypto.h"
#include "err.h"

#define TOKEN_LEN      43  /* base64url of 32 random bytes, no padding */
#define TOKEN_MAX      256 /* longest token string accepted as input */
#define TOKEN_LINK_MAX 512

/*
 * A new token: 32 random bytes written base64url without padding (safe in
 * a URL path), and its hex SHA-256, which is all the store keeps. Returns
 * 0 or -ERR_CRYPTO.
 */
int token_new(struct crypto_rng *rng, char token[TOKEN_LEN + 1],
              char hash[CRYPTO_HEX_LEN + 1]);

/* The hex SHA-256 of a token as given: 1..TOKEN_MAX printable bytes.
 * Returns 0 or -ERR_INVALID. */
int token_hash(const char *token, char hash[CRYPTO_HEX_LEN + 1]);

/*
 * Formats an enrollment link, "mcpfleet://HOST:PORT/enroll/TOKEN#ca=PIN"
 * where PIN is "sha256:HEX" (an IPv6 HOST goes in brackets). Returns 0,
 * or -ERR_TRUNC when it does not fit in size.
 */
int token_link(const char *host, int api_port, const char *token,
               const char *ca_pin, char *out, size_t size);

/* What an enrollment link holds. */
struct token_link_parts {
	char host[256]; /* without brackets */
	int port;
	char token[TOKEN_MAX + 1];
	char pin[7 + CRYPTO_HEX_LEN + 1]; /* "sha256:" + 64 lowercase hex */
};

/* Parses a link made by token_link(). Returns 0 with *out, or
 * -ERR_INVALID with d saying which part is wrong. */
int token_link_parse(const char *link, struct token_link_parts *out,
                     struct diag *d);

#endif
