/* SPDX-License-Identifier: MIT */
/* Fuzz target: what an OpenID provider sends for console sign-in, a JWKS
 * document and an ID token (common/jwt.c). The input is the JWKS, a
 * newline, then the token; when the JWKS does not read, the token is
 * checked against no key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t jlen = nl != NULL ? (size_t)(nl - data) : size;
	size_t tlen = nl != NULL ? size - jlen - 1 : 0;
	struct jwt_expect ex = {"https://idp.example", "mcpfleet", "n0nce",
	                        1700000000, JWT_LEEWAY};
	struct jwt_keyset *ks = NULL;
	json_t *claims = NULL;
	char *token, enc[512];
	uint8_t dec[512];
	size_t n = 0;
	struct diag d;

	if (jwt_keyset_parse((const char *)data, jlen, &ks, &d) != 0)
		ks = NULL;
	if ((token = malloc(tlen + 1)) == NULL)
		abort();
	memcpy(token, nl != NULL ? nl + 1 : data, tlen);
	token[tlen] = '\0';
	if (jwt_verify(token, ks, &ex, &claims, &d) == 0) {
		/* Only a key of the document can have signed it. */
		if (jwt_keyset_count(ks) == 0 || !json_is_object(claims))
			abort();
		json_decref(claims);
	}
	/* base64url reads back what it writes. */
	if (jwt_b64url_encode(data, size < 300 ? size : 300, enc,
	                      sizeof(enc)) != 0 ||
	    jwt_b64url_decode(enc, strlen(enc), dec, sizeof(dec), &n) != 0 ||
	    n != (size < 300 ? size : 300) || memcmp(dec, data, n) != 0)
		abort();
	free(token);
	jwt_keyset_free(ks);
	return 0;
}
