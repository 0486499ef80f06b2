/* SPDX-License-Identifier: MIT */
/* Bearer tokens and enrollment links. */
#include "token.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char token_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_new(struct crypto_rng *rng, char token[TOKEN_LEN + 1],
              char hash[CRYPTO_HEX_LEN + 1])
{
	uint8_t raw[33]; /* 32 random bytes and a zero pad: 11 groups of 3 */
	char out[TOKEN_LEN + 2];
	size_t i, o = 0;
	int r;

	memset(raw, 0, sizeof(raw));
	if (crypto_random(rng, raw, 32) != 0)
		return -ERR_CRYPTO;
	for (i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 |
		             (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = token_b64[v >> 18 & 63];
		out[o++] = token_b64[v >> 12 & 63];
		out[o++] = token_b64[v >> 6 & 63];
		out[o++] = token_b64[v & 63];
	}
	/* 32 bytes are 256 bits: 43 characters, the 44th is padding. */
	out[TOKEN_LEN] = '\0';
	crypto_wipe(raw, sizeof(raw));
	r = token_hash(out, hash);
	if (r == 0)
		memcpy(token, out, TOKEN_LEN + 1);
	crypto_wipe(out, sizeof(out));
	return r;
}

int token_hash(const char *token, char hash[CRYPTO_HEX_LEN + 1])
{
	uint8_t md[CRYPTO_HASH_LEN];
	size_t i, n = strnlen(token, TOKEN_MAX + 1);

	if (n == 0 || n > TOKEN_MAX)
		return -ERR_INVALID;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)token[i]))
			return -ERR_INVALID;
	if (crypto_sha256(token, n, md) != 0 ||
	    crypto_hex(md, sizeof(md), hash, CRYPTO_HEX_LEN + 1) != 0)
		return -ERR_CRYPTO;
	return 0;
}

int token_link(const char *host, int api_port, const char *token,
               const char *ca_pin, char *out, size_t size)
{
	bool v6 = strchr(host, ':') != NULL;
	int n;

	n = snprintf(out, size, "mcpfleet://%s%s%s:%d/enroll/%s#ca=%s",
	             v6 ? "[" : "", host, v6 ? "]" : "", api_port, token,
	             ca_pin);
	if (n < 0 || (size_t)n >= size)
		return -ERR_TRUNC;
	return 0;
}

int token_link_parse(const char *link, struct token_link_parts *out,
                     struct diag *d)
{
	static const char scheme[] = "mcpfleet://";
	struct token_link_parts p;
	const char *s, *e, *path, *frag;
	char *end;
	size_t n, i;
	long port;

	memset(&p, 0, sizeof(p));
	if (strncmp(link, scheme, sizeof(scheme) - 1) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: must start with %s", scheme);
	s = link + sizeof(scheme) - 1;
	path = strchr(s, '/');
	if (path == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: no /enroll/TOKEN path");
	if (*s == '[') {
		e = memchr(s, ']', (size_t)(path - s));
		if (e == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: unclosed [ in host");
		n = (size_t)(e - s - 1);
		if (n == 0 || n >= sizeof(p.host))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: bad host");
		memcpy(p.host, s + 1, n);
		e++;
	} else {
		e = s;
		while (e < path && *e != ':')
			e++;
		n = (size_t)(e - s);
		if (n == 0 || n >= sizeof(p.host))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: bad host");
		memcpy(p.host, s, n);
	}
	for (i = 0; p.host[i] != '\0'; i++)
		if (!isalnum((unsigned char)p.host[i]) &&
		    strchr(".-:", p.host[i]) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: bad host '%s'",
			                p.host);
	if (*e != ':')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: no port after the host");
	port = strtol(e + 1, &end, 10);
	if (end != path || port < 1 || port > 65535)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: bad port");
	p.port = (int)port;
	if (strncmp(path, "/enroll/", 8) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: the path must be "
		                "/enroll/TOKEN");
	s = path + 8;
	frag = strchr(s, '#');
	if (frag == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: no #ca=sha256:HEX pin");
	n = (size_t)(frag - s);
	if (n == 0 || n > TOKEN_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: bad token");
	memcpy(p.token, s, n);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)p.token[i]) && p.token[i] != '-' &&
		    p.token[i] != '_')
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: bad token");
	if (strncmp(frag, "#ca=sha256:", 11) != 0 ||
	    strlen(frag + 11) != CRYPTO_HEX_LEN)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "enrollment link: the pin must be "
		                "#ca=sha256: and 64 hex digits");
	memcpy(p.pin, "sha256:", 7);
	for (i = 0; i < CRYPTO_HEX_LEN; i++) {
		char c = (char)tolower((unsigned char)frag[11 + i]);

		if (!isxdigit((unsigned char)c))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "enrollment link: the pin is not hex");
		p.pin[7 + i] = c;
	}
	*out = p;
	return 0;
}
