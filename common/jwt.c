/* SPDX-License-Identifier: MIT */
/* JWKS parsing and ID token verification with mbedTLS (jwt.h). */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#define JWT_RSA_MIN_BITS  2048
#define JWT_RSA_MAX_BYTES 1024 /* 8192-bit moduli */
#define JWT_HEADER_MAX    2048

enum jwt_kty { JWT_RSA, JWT_EC };

struct jwt_key {
	char kid[JWT_KID_MAX + 1]; /* "" when the JWK has none */
	enum jwt_kty kty;
	mbedtls_rsa_context rsa;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
};

struct jwt_keyset {
	struct jwt_key keys[JWKS_KEYS];
	size_t n;
};

/* ---- base64url ---- */

static const char jwt_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jwt_b64url_encode(const void *data, size_t len, char *out, size_t size)
{
	const uint8_t *p = data;
	size_t i, o = 0, need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
	uint32_t v;

	if (need + 1 > size)
		return -ERR_TRUNC;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = jwt_b64[v >> 18 & 63];
		out[o++] = jwt_b64[v >> 12 & 63];
		out[o++] = jwt_b64[v >> 6 & 63];
		out[o++] = jwt_b64[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = jwt_b64[v >> 18 & 63];
		out[o++] = jwt_b64[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = jwt_b64[v >> 18 & 63];
		out[o++] = jwt_b64[v >> 12 & 63];
		out[o++] = jwt_b64[v >> 6 & 63];
	}
	out[o] = '\0';
	return 0;
}

static int jwt_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int jwt_b64url_decode(const char *s, size_t len, uint8_t *out, size_t size,
                      size_t *outlen)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0, v;

	if (len % 4 == 1)
		return -ERR_PARSE;
	for (i = 0; i < len; i++) {
		if ((v = jwt_b64_value(s[i])) < 0)
			return -ERR_PARSE;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == size)
				return -ERR_TRUNC;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The bits left over must be zero (one spelling per value). */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -ERR_PARSE;
	*outlen = o;
	return 0;
}

/* Decodes a base64url JSON string member of o into a new buffer. */
static int jwt_member_b64(const json_t *o, const char *name, size_t max,
                          uint8_t **out, size_t *outlen)
{
	const json_t *v = json_object_get(o, name);
	const char *s;
	uint8_t *b;
	size_t len, n = 0;

	if (!json_is_string(v))
		return -ERR_INVALID;
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > (max * 4 + 2) / 3 + 1)
		return -ERR_INVALID;
	if ((b = malloc(len)) == NULL)
		return -ERR_NOMEM;
	if (jwt_b64url_decode(s, len, b, len, &n) != 0 || n == 0) {
		free(b);
		return -ERR_INVALID;
	}
	*out = b;
	*outlen = n;
	return 0;
}

/* ---- JWKS ---- */

static void jwt_key_clear(struct jwt_key *k)
{
	if (k->kty == JWT_RSA) {
		mbedtls_rsa_free(&k->rsa);
	} else {
		mbedtls_ecp_point_free(&k->q);
		mbedtls_ecp_group_free(&k->grp);
	}
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		jwt_key_clear(&ks->keys[i]);
	free(ks);
}

size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks != NULL ? ks->n : 0;
}

static int jwt_key_rsa(struct jwt_key *k, const json_t *jwk, const char *what,
                       struct diag *d)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	int r;

	mbedtls_rsa_init(&k->rsa, MBEDTLS_RSA_PKCS_V15, 0);
	k->kty = JWT_RSA;
	if (jwt_member_b64(jwk, "n", JWT_RSA_MAX_BYTES, &n, &nlen) != 0 ||
	    jwt_member_b64(jwk, "e", 8, &e, &elen) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: an RSA key needs base64url \"n\" and \"e\"",
		             what);
		goto out;
	}
	if (mbedtls_rsa_import_raw(&k->rsa, n, nlen, NULL, 0, NULL, 0, NULL, 0,
	                           e, elen) != 0 ||
	    mbedtls_rsa_complete(&k->rsa) != 0 ||
	    mbedtls_rsa_check_pubkey(&k->rsa) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: not a valid RSA key",
		             what);
		goto out;
	}
	if (mbedtls_rsa_get_len(&k->rsa) * 8 < JWT_RSA_MIN_BITS) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: an RSA key of %zu bits (at least %d)", what,
		             mbedtls_rsa_get_len(&k->rsa) * 8,
		             JWT_RSA_MIN_BITS);
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		mbedtls_rsa_free(&k->rsa);
	free(n);
	free(e);
	return r;
}

static int jwt_key_ec(struct jwt_key *k, const json_t *jwk, const char *what,
                      struct diag *d)
{
	uint8_t *x = NULL, *y = NULL, pt[65];
	size_t xlen = 0, ylen = 0;
	int r;

	k->kty = JWT_EC;
	mbedtls_ecp_group_init(&k->grp);
	mbedtls_ecp_point_init(&k->q);
	if (jwt_member_b64(jwk, "x", 32, &x, &xlen) != 0 ||
	    jwt_member_b64(jwk, "y", 32, &y, &ylen) != 0 || xlen != 32 ||
	    ylen != 32) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: a P-256 key needs 32-byte base64url \"x\" "
		             "and \"y\"",
		             what);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	if (mbedtls_ecp_group_load(&k->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	    mbedtls_ecp_point_read_binary(&k->grp, &k->q, pt, sizeof(pt)) !=
	        0 ||
	    mbedtls_ecp_check_pubkey(&k->grp, &k->q) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: not a point on P-256",
		             what);
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		mbedtls_ecp_point_free(&k->q);
		mbedtls_ecp_group_free(&k->grp);
	}
	free(x);
	free(y);
	return r;
}

int jwt_keyset_parse(const char *json, size_t len, struct jwt_keyset **out,
                     struct diag *d)
{
	struct jwt_keyset *ks = NULL;
	json_t *doc = NULL, *keys, *jwk;
	json_error_t je;
	const char *kty, *use, *crv, *kid, *alg;
	char what[JWT_KID_MAX + 32];
	size_t i;
	int r;

	if (len > JWKS_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "JWKS: %zu bytes (at most %d)", len, JWKS_MAX);
	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		r = diag_set(d, ERR_PARSE, (unsigned)je.line,
		             (unsigned)je.column, "JWKS: %s", je.text);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		r = diag_set(d, ERR_INVALID, 0, 0, "JWKS: no \"keys\" array");
		goto out;
	}
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	json_array_foreach(keys, i, jwk)
	{
		struct jwt_key *k;

		if (ks->n == JWKS_KEYS)
			break;
		if (!json_is_object(jwk)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "JWKS: key %zu is not an object", i);
			goto out;
		}
		kty = json_string_value(json_object_get(jwk, "kty"));
		use = json_string_value(json_object_get(jwk, "use"));
		crv = json_string_value(json_object_get(jwk, "crv"));
		kid = json_string_value(json_object_get(jwk, "kid"));
		alg = json_string_value(json_object_get(jwk, "alg"));
		if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
			continue;
		if (kid != NULL && strlen(kid) > JWT_KID_MAX) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "JWKS: key %zu: kid longer than %d bytes",
			             i, JWT_KID_MAX);
			goto out;
		}
		(void)snprintf(what, sizeof(what), "JWKS: key %zu (kid '%s')",
		               i, kid != NULL ? kid : "");
		k = &ks->keys[ks->n];
		memset(k, 0, sizeof(*k));
		if (strcmp(kty, "RSA") == 0 &&
		    (alg == NULL || strcmp(alg, "RS256") == 0))
			r = jwt_key_rsa(k, jwk, what, d);
		else if (strcmp(kty, "EC") == 0 && crv != NULL &&
		         strcmp(crv, "P-256") == 0 &&
		         (alg == NULL || strcmp(alg, "ES256") == 0))
			r = jwt_key_ec(k, jwk, what, d);
		else
			continue; /* a type or algorithm this verifier ignores
			           */
		if (r != 0)
			goto out;
		if (kid != NULL)
			memcpy(k->kid, kid, strlen(kid) + 1);
		ks->n++;
	}
	*out = ks;
	ks = NULL;
	r = 0;
out:
	jwt_keyset_free(ks);
	json_decref(doc);
	return r;
}

/* ---- Verification ---- */

/* Decodes the base64url JSON object at s[0..len). */
static json_t *jwt_part_json(const char *s, size_t len)
{
	uint8_t *b;
	size_t n = 0;
	json_t *o = NULL;

	if ((b = malloc(len + 1)) == NULL)
		return NULL;
	if (jwt_b64url_decode(s, len, b, len + 1, &n) == 0)
		o = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES,
		               NULL);
	free(b);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int jwt_check_sig(const struct jwt_key *k, const uint8_t hash[32],
                         const uint8_t *sig, size_t siglen)
{
	mbedtls_rsa_context *rsa;
	mbedtls_mpi r, s;
	int ok;

	if (k->kty == JWT_RSA) {
		/* mbedTLS 2.28 takes the context as non-const. */
		rsa = (mbedtls_rsa_context *)(uintptr_t)&k->rsa;
		if (siglen != mbedtls_rsa_get_len(rsa))
			return -ERR_VERIFY;
		return mbedtls_rsa_pkcs1_verify(
		           rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC,
		           MBEDTLS_MD_SHA256, 32, hash, sig) == 0
		           ? 0
		           : -ERR_VERIFY;
	}
	/* JWS ES256 signatures are R || S, 32 bytes each (RFC 7518 3.4). */
	if (siglen != 64)
		return -ERR_VERIFY;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	ok = mbedtls_mpi_read_binary(&r, sig, 32) == 0 &&
	     mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0 &&
	     mbedtls_ecdsa_verify((mbedtls_ecp_group *)(uintptr_t)&k->grp, hash,
	                          32, &k->q, &r, &s) == 0;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return ok ? 0 : -ERR_VERIFY;
}

/* A NumericDate claim: absent is allowed only when !required. */
static int jwt_time(const json_t *claims, const char *name, bool required,
                    int64_t *out, bool *present, struct diag *d)
{
	const json_t *v = json_object_get(claims, name);

	*present = v != NULL;
	if (v == NULL)
		return required ? diag_set(d, ERR_INVALID, 0, 0,
		                           "ID token: no \"%s\" claim", name)
		                : 0;
	if (json_is_integer(v))
		*out = (int64_t)json_integer_value(v);
	else if (json_is_real(v))
		*out = (int64_t)json_real_value(v);
	else
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: \"%s\" is not a number", name);
	return 0;
}

static int jwt_claims_check(const json_t *claims, const struct jwt_expect *ex,
                            struct diag *d)
{
	const json_t *aud = json_object_get(claims, "aud"), *v;
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *azp = json_string_value(json_object_get(claims, "azp"));
	const char *nonce, *sub;
	int64_t exp = 0, iat = 0, nbf = 0;
	bool have, found = false;
	size_t i, naud = 0;
	int r;

	if (iss == NULL || strcmp(iss, ex->issuer) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: issuer '%.200s' is not '%.200s'",
		                iss != NULL ? iss : "(none)", ex->issuer);
	sub = json_string_value(json_object_get(claims, "sub"));
	if (sub == NULL || *sub == '\0')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: no \"sub\" claim");
	if (json_is_string(aud)) {
		naud = 1;
		found = strcmp(json_string_value(aud), ex->audience) == 0;
	} else if (json_is_array(aud)) {
		json_array_foreach(aud, i, v)
		{
			naud++;
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), ex->audience) == 0)
				found = true;
		}
	}
	if (!found)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: its audience does not hold the "
		                "client id '%.200s'",
		                ex->audience);
	/* Several audiences: the party it was issued to must be us. */
	if ((naud > 1 || azp != NULL) &&
	    (azp == NULL || strcmp(azp, ex->audience) != 0))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: authorized party '%.200s' is not "
		                "the client id",
		                azp != NULL ? azp : "(none)");
	if ((r = jwt_time(claims, "exp", true, &exp, &have, d)) != 0 ||
	    (r = jwt_time(claims, "iat", true, &iat, &have, d)) != 0)
		return r;
	if (ex->now >= exp + ex->leeway)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: expired %lld seconds ago",
		                (long long)(ex->now - exp));
	if (iat > ex->now + ex->leeway)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: issued %lld seconds in the future",
		                (long long)(iat - ex->now));
	if ((r = jwt_time(claims, "nbf", false, &nbf, &have, d)) != 0)
		return r;
	if (have && nbf > ex->now + ex->leeway)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "ID token: not valid for another %lld seconds",
		                (long long)(nbf - ex->now));
	if (ex->nonce != NULL) {
		nonce = json_string_value(json_object_get(claims, "nonce"));
		if (nonce == NULL || strcmp(nonce, ex->nonce) != 0)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "ID token: its nonce is not the one "
			                "this sign-in sent");
	}
	return 0;
}

int jwt_verify(const char *token, const struct jwt_keyset *ks,
               const struct jwt_expect *ex, json_t **claims, struct diag *d)
{
	const char *dot1, *dot2, *alg, *kid, *typ;
	json_t *hdr = NULL, *body = NULL;
	const struct jwt_key *key = NULL;
	enum jwt_kty want;
	uint8_t hash[32], *sig = NULL;
	size_t len, siglen = 0, i;
	int r;

	len = strnlen(token, JWT_MAX + 1);
	if (len > JWT_MAX) {
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "ID token: longer than %d bytes", JWT_MAX);
		goto out;
	}
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ==
	        NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "ID token: not a compact JWS (three parts)");
		goto out;
	}
	if ((size_t)(dot1 - token) > JWT_HEADER_MAX ||
	    (hdr = jwt_part_json(token, (size_t)(dot1 - token))) == NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "ID token: the header is not base64url JSON");
		goto out;
	}
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	typ = json_string_value(json_object_get(hdr, "typ"));
	if (json_object_get(hdr, "crit") != NULL) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "ID token: critical header extensions are not "
		             "supported");
		goto out;
	}
	if (typ != NULL && strcmp(typ, "JWT") != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "ID token: type '%.64s' is not JWT", typ);
		goto out;
	}
	if (alg != NULL && strcmp(alg, "RS256") == 0)
		want = JWT_RSA;
	else if (alg != NULL && strcmp(alg, "ES256") == 0)
		want = JWT_EC;
	else {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "ID token: algorithm '%.32s' is not RS256 or "
		             "ES256",
		             alg != NULL ? alg : "(none)");
		goto out;
	}
	for (i = 0; ks != NULL && i < ks->n; i++) {
		const struct jwt_key *k = &ks->keys[i];

		if (k->kty != want)
			continue;
		if (kid != NULL ? strcmp(k->kid, kid) == 0 : ks->n == 1) {
			key = k;
			break;
		}
	}
	if (key == NULL) {
		r = diag_set(d, ERR_NOENT, 0, 0,
		             "ID token: no %s key '%.128s' in the provider's "
		             "JWKS",
		             alg, kid != NULL ? kid : "(no kid)");
		goto out;
	}
	siglen = len - (size_t)(dot2 + 1 - token);
	if ((sig = malloc(siglen + 1)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	if (jwt_b64url_decode(dot2 + 1, siglen, sig, siglen + 1, &siglen) !=
	    0) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "ID token: the signature is not base64url");
		goto out;
	}
	if (mbedtls_sha256_ret((const unsigned char *)token,
	                       (size_t)(dot2 - token), hash, 0) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "ID token: SHA-256 failed");
		goto out;
	}
	if (jwt_check_sig(key, hash, sig, siglen) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "ID token: the %s signature does not verify "
		             "against key '%.128s'",
		             alg, key->kid);
		goto out;
	}
	if ((body = jwt_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) ==
	    NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "ID token: the payload is not base64url JSON");
		goto out;
	}
	if ((r = jwt_claims_check(body, ex, d)) != 0)
		goto out;
	*claims = body;
	body = NULL;
	r = 0;
out:
	free(sig);
	json_decref(body);
	json_decref(hdr);
	return r;
}
