/* SPDX-License-Identifier: MIT */
/* Unit tests: common/jwt.c, with tokens crafted and signed here by keys
 * made in the test (RS256 and ES256). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include "jwt.h"

#define TJ_ISS "https://idp.example.test"
#define TJ_AUD "mcpfleet-console"
#define TJ_NOW 1800000000

struct tj_keys {
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_rsa_context rsa, rsa2;
	mbedtls_ecdsa_context ec;
	char jwks[8192];
};

static struct tj_keys tj;

static void tj_b64(const void *p, size_t n, char *out, size_t size)
{
	assert_int_equal(jwt_b64url_encode(p, n, out, size), 0);
}

/* A JWK of an RSA key. */
static void tj_jwk_rsa(mbedtls_rsa_context *rsa, const char *kid, char *out,
                       size_t size)
{
	uint8_t n[512], e[8];
	char nb[800], eb[16];
	size_t nl = mbedtls_rsa_get_len(rsa);

	assert_int_equal(
	    mbedtls_rsa_export_raw(rsa, n, nl, NULL, 0, NULL, 0, NULL, 0, e, 3),
	    0);
	tj_b64(n, nl, nb, sizeof(nb));
	tj_b64(e, 3, eb, sizeof(eb));
	(void)snprintf(out, size,
	               "{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\","
	               "\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}",
	               kid, nb, eb);
}

static void tj_jwk_ec(char *out, size_t size)
{
	uint8_t pt[65];
	char xb[64], yb[64];
	size_t len = 0;

	assert_int_equal(mbedtls_ecp_point_write_binary(
	                     &tj.ec.grp, &tj.ec.Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
	                     &len, pt, sizeof(pt)),
	                 0);
	assert_int_equal(len, 65);
	tj_b64(pt + 1, 32, xb, sizeof(xb));
	tj_b64(pt + 33, 32, yb, sizeof(yb));
	(void)snprintf(out, size,
	               "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec1\","
	               "\"x\":\"%s\",\"y\":\"%s\"}",
	               xb, yb);
}

static int tj_setup(void **state)
{
	char a[1200], b[400];

	(void)state;
	mbedtls_entropy_init(&tj.ent);
	mbedtls_ctr_drbg_init(&tj.drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&tj.drbg, mbedtls_entropy_func,
	                                       &tj.ent, NULL, 0),
	                 0);
	mbedtls_rsa_init(&tj.rsa, MBEDTLS_RSA_PKCS_V15, 0);
	mbedtls_rsa_init(&tj.rsa2, MBEDTLS_RSA_PKCS_V15, 0);
	assert_int_equal(mbedtls_rsa_gen_key(&tj.rsa, mbedtls_ctr_drbg_random,
	                                     &tj.drbg, 2048, 65537),
	                 0);
	assert_int_equal(mbedtls_rsa_gen_key(&tj.rsa2, mbedtls_ctr_drbg_random,
	                                     &tj.drbg, 2048, 65537),
	                 0);
	mbedtls_ecdsa_init(&tj.ec);
	assert_int_equal(mbedtls_ecdsa_genkey(&tj.ec, MBEDTLS_ECP_DP_SECP256R1,
	                                      mbedtls_ctr_drbg_random,
	                                      &tj.drbg),
	                 0);
	tj_jwk_rsa(&tj.rsa, "rsa1", a, sizeof(a));
	tj_jwk_ec(b, sizeof(b));
	/* An HMAC key and an encryption key are skipped, not used. */
	(void)snprintf(tj.jwks, sizeof(tj.jwks),
	               "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
	               "%s,%s]}",
	               a, b);
	return 0;
}

static int tj_teardown(void **state)
{
	(void)state;
	mbedtls_rsa_free(&tj.rsa);
	mbedtls_rsa_free(&tj.rsa2);
	mbedtls_ecdsa_free(&tj.ec);
	mbedtls_ctr_drbg_free(&tj.drbg);
	mbedtls_entropy_free(&tj.ent);
	return 0;
}

/* Signs header.payload with alg ("RS256" with rsa, "ES256" with the EC
 * key, "none" unsigned) into a new token string. */
static char *tj_sign(const char *header, const char *payload,
                     mbedtls_rsa_context *rsa, bool ec)
{
	char *tok = malloc(8192);
	uint8_t hash[32], sig[512];
	size_t n, siglen = 0;
	mbedtls_mpi r, s;

	assert_non_null(tok);
	tj_b64(header, strlen(header), tok, 4096);
	n = strlen(tok);
	tok[n++] = '.';
	tj_b64(payload, strlen(payload), tok + n, 4096);
	n = strlen(tok);
	assert_int_equal(
	    mbedtls_sha256_ret((const unsigned char *)tok, n, hash, 0), 0);
	if (rsa != NULL) {
		assert_int_equal(
		    mbedtls_rsa_pkcs1_sign(rsa, mbedtls_ctr_drbg_random,
		                           &tj.drbg, MBEDTLS_RSA_PRIVATE,
		                           MBEDTLS_MD_SHA256, 32, hash, sig),
		    0);
		siglen = mbedtls_rsa_get_len(rsa);
	} else if (ec) {
		mbedtls_mpi_init(&r);
		mbedtls_mpi_init(&s);
		assert_int_equal(
		    mbedtls_ecdsa_sign(&tj.ec.grp, &r, &s, &tj.ec.d, hash, 32,
		                       mbedtls_ctr_drbg_random, &tj.drbg),
		    0);
		assert_int_equal(mbedtls_mpi_write_binary(&r, sig, 32), 0);
		assert_int_equal(mbedtls_mpi_write_binary(&s, sig + 32, 32), 0);
		mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s);
		siglen = 64;
	}
	tok[n++] = '.';
	tj_b64(sig, siglen, tok + n, 8192 - n);
	return tok;
}

/* The claims of a good token, with one member replaced or added (extra:
 * ",\"k\":v" pieces), times relative to TJ_NOW. */
static void tj_claims(char *out, size_t size, const char *iss, const char *aud,
                      long exp, long iat, const char *nonce, const char *extra)
{
	(void)snprintf(out, size,
	               "{\"iss\":\"%s\",\"sub\":\"u-42\",\"aud\":%s,"
	               "\"exp\":%ld,\"iat\":%ld,\"nonce\":\"%s\","
	               "\"email\":\"ada@example.com\"%s}",
	               iss, aud, TJ_NOW + exp, TJ_NOW + iat, nonce,
	               extra != NULL ? extra : "");
}

/* Verifies tok against the test's JWKS; returns jwt_verify()'s code and
 * checks that d says why (when why is not NULL). */
static int tj_verify(const char *tok, const char *why)
{
	struct jwt_keyset *ks = NULL;
	struct jwt_expect ex = {TJ_ISS, TJ_AUD, "n-1", TJ_NOW, JWT_LEEWAY};
	json_t *claims = NULL;
	struct diag d;
	int r;

	diag_clear(&d);
	tu_ok(jwt_keyset_parse(tj.jwks, strlen(tj.jwks), &ks, &d), &d);
	assert_int_equal(jwt_keyset_count(ks), 2);
	r = jwt_verify(tok, ks, &ex, &claims, &d);
	if (r == 0) {
		assert_string_equal(
		    json_string_value(json_object_get(claims, "email")),
		    "ada@example.com");
		json_decref(claims);
	} else {
		assert_null(claims);
		if (why != NULL && strstr(d.msg, why) == NULL)
			fail_msg("want '%s' in '%s'", why, d.msg);
	}
	jwt_keyset_free(ks);
	return r;
}

static void test_jwt_b64url(void **state)
{
	uint8_t out[16];
	char s[32];
	size_t n = 0;

	(void)state;
	tj_b64("\xfb\xff", 2, s, sizeof(s));
	assert_string_equal(s, "-_8");
	assert_int_equal(jwt_b64url_decode("-_8", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	/* Padding, the other alphabet, a lone character, stray bits. */
	assert_int_equal(jwt_b64url_decode("-_8=", 4, out, 16, &n), -ERR_PARSE);
	assert_int_equal(jwt_b64url_decode("+/8", 3, out, 16, &n), -ERR_PARSE);
	assert_int_equal(jwt_b64url_decode("abcde", 5, out, 16, &n),
	                 -ERR_PARSE);
	assert_int_equal(jwt_b64url_decode("-_9", 3, out, 16, &n), -ERR_PARSE);
	assert_int_equal(jwt_b64url_decode("AAAA", 4, out, 2, &n), -ERR_TRUNC);
	assert_int_equal(jwt_b64url_encode("abc", 3, s, 4), -ERR_TRUNC);
}

static void test_jwt_rs256_and_es256_verify(void **state)
{
	char c[1024];
	char *t;

	(void)state;
	tj_claims(c, sizeof(c), TJ_ISS, "\"" TJ_AUD "\"", 300, -5, "n-1", NULL);
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}", c,
	            &tj.rsa, false);
	assert_int_equal(tj_verify(t, NULL), 0);
	free(t);
	t = tj_sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", c, NULL, true);
	assert_int_equal(tj_verify(t, NULL), 0);
	free(t);
	/* Several audiences with azp ours. */
	tj_claims(c, sizeof(c), TJ_ISS, "[\"other\",\"" TJ_AUD "\"]", 300, -5,
	          "n-1", ",\"azp\":\"" TJ_AUD "\"");
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c, &tj.rsa, false);
	assert_int_equal(tj_verify(t, NULL), 0);
	free(t);
}

static void test_jwt_bad_signature_refused(void **state)
{
	char c[1024];
	char *t;
	size_t n;

	(void)state;
	tj_claims(c, sizeof(c), TJ_ISS, "\"" TJ_AUD "\"", 300, -5, "n-1", NULL);
	/* Signed by another key under the same kid. */
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c, &tj.rsa2, false);
	assert_int_equal(tj_verify(t, "does not verify"), -ERR_VERIFY);
	free(t);
	/* One bit of the signature flipped. */
	t = tj_sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", c, NULL, true);
	n = strlen(t);
	t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(tj_verify(t, "does not verify"), -ERR_VERIFY);
	free(t);
	/* The payload changed after signing. */
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c, &tj.rsa, false);
	{
		char *dot = strchr(t, '.') + 1;
		dot[5] = dot[5] == 'x' ? 'y' : 'x';
	}
	assert_int_equal(tj_verify(t, "does not verify"), -ERR_VERIFY);
	free(t);
	/* alg none, HS256 (an RSA key used as an HMAC secret), unknown kid. */
	t = tj_sign("{\"alg\":\"none\"}", c, NULL, false);
	assert_int_equal(tj_verify(t, "'none' is not RS256"), -ERR_INVALID);
	free(t);
	t = tj_sign("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", c, NULL, false);
	assert_int_equal(tj_verify(t, "'HS256'"), -ERR_INVALID);
	free(t);
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa9\"}", c, &tj.rsa, false);
	assert_int_equal(tj_verify(t, "no RS256 key 'rsa9'"), -ERR_NOENT);
	free(t);
	/* An ES256 header naming the RSA key. */
	t = tj_sign("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", c, NULL, true);
	assert_int_equal(tj_verify(t, "no ES256 key"), -ERR_NOENT);
	free(t);
	assert_int_equal(tj_verify("a.b", "three parts"), -ERR_PARSE);
	assert_int_equal(tj_verify("a.b.c.d", "three parts"), -ERR_PARSE);
	assert_int_equal(tj_verify("!!.b.c", "header"), -ERR_PARSE);
}

static void test_jwt_claims_refused(void **state)
{
	static const struct {
		const char *iss, *aud;
		long exp, iat;
		const char *nonce, *extra, *why;
	} cases[] = {
	    {TJ_ISS, "\"someone-else\"", 300, -5, "n-1", NULL,
	     "audience does not hold"},
	    {TJ_ISS, "[\"someone-else\"]", 300, -5, "n-1", NULL,
	     "audience does not hold"},
	    {TJ_ISS, "[\"x\",\"" TJ_AUD "\"]", 300, -5, "n-1", NULL,
	     "authorized party"},
	    {TJ_ISS, "\"" TJ_AUD "\"", 300, -5, "n-1", ",\"azp\":\"x\"",
	     "authorized party"},
	    {"https://evil.test", "\"" TJ_AUD "\"", 300, -5, "n-1", NULL,
	     "issuer 'https://evil.test'"},
	    {TJ_ISS, "\"" TJ_AUD "\"", -61, -400, "n-1", NULL, "expired"},
	    {TJ_ISS, "\"" TJ_AUD "\"", 900, 120, "n-1", NULL, "future"},
	    {TJ_ISS, "\"" TJ_AUD "\"", 300, -5, "n-1", ",\"nbf\":1900000000",
	     "not valid for another"},
	    {TJ_ISS, "\"" TJ_AUD "\"", 300, -5, "n-2", NULL, "nonce"},
	};
	char c[1024];
	char *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tj_claims(c, sizeof(c), cases[i].iss, cases[i].aud,
		          cases[i].exp, cases[i].iat, cases[i].nonce,
		          cases[i].extra);
		t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c, &tj.rsa,
		            false);
		if (tj_verify(t, cases[i].why) != -ERR_INVALID)
			fail_msg("case %zu (%s) was not refused", i,
			         cases[i].why);
		free(t);
	}
	/* Within the leeway: expired 30 s ago, issued 30 s ahead. */
	tj_claims(c, sizeof(c), TJ_ISS, "\"" TJ_AUD "\"", -30, 30, "n-1", NULL);
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c, &tj.rsa, false);
	assert_int_equal(tj_verify(t, NULL), 0);
	free(t);
	/* No exp, no sub. */
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	            "{\"iss\":\"" TJ_ISS "\",\"sub\":\"u\",\"aud\":\"" TJ_AUD
	            "\",\"iat\":1800000000,\"nonce\":\"n-1\"}",
	            &tj.rsa, false);
	assert_int_equal(tj_verify(t, "no \"exp\""), -ERR_INVALID);
	free(t);
	t = tj_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	            "{\"iss\":\"" TJ_ISS "\",\"aud\":\"" TJ_AUD
	            "\",\"exp\":1800000300,\"iat\":1800000000}",
	            &tj.rsa, false);
	assert_int_equal(tj_verify(t, "no \"sub\""), -ERR_INVALID);
	free(t);
}

static void test_jwt_jwks_malformed(void **state)
{
	static const struct {
		const char *json, *why;
		int code;
	} cases[] = {
	    {"[]", "no \"keys\" array", -ERR_INVALID},
	    {"{\"keys\":[1]}", "key 0 is not an object", -ERR_INVALID},
	    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"AQAB\","
	     "\"e\":\"AQAB\"}]}",
	     "not a valid RSA key", -ERR_INVALID},
	    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\"}]}", "needs base64url",
	     -ERR_INVALID},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\","
	     "\"y\":\"AA\"}]}",
	     "32-byte", -ERR_INVALID},
	    {"{\"keys\":[", "JWKS:", -ERR_PARSE},
	};
	struct jwt_keyset *ks = NULL;
	struct diag d;
	char pt[200], x[64];
	uint8_t zero[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		diag_clear(&d);
		assert_int_equal(jwt_keyset_parse(cases[i].json,
		                                  strlen(cases[i].json), &ks,
		                                  &d),
		                 cases[i].code);
		if (strstr(d.msg, cases[i].why) == NULL)
			fail_msg("case %zu: want '%s' in '%s'", i, cases[i].why,
			         d.msg);
	}
	/* A point that is not on the curve. */
	memset(zero, 1, sizeof(zero));
	tj_b64(zero, 32, x, sizeof(x));
	(void)snprintf(pt, sizeof(pt),
	               "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
	               "\"x\":\"%s\",\"y\":\"%s\"}]}",
	               x, x);
	diag_clear(&d);
	assert_int_equal(jwt_keyset_parse(pt, strlen(pt), &ks, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "not a point on P-256"));
	/* Encryption keys and other curves are skipped. */
	(void)snprintf(pt, sizeof(pt),
	               "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"},"
	               "{\"kty\":\"EC\",\"crv\":\"P-384\"}]}");
	tu_ok(jwt_keyset_parse(pt, strlen(pt), &ks, &d), &d);
	assert_int_equal(jwt_keyset_count(ks), 0);
	jwt_keyset_free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwt_b64url),
	    cmocka_unit_test(test_jwt_rs256_and_es256_verify),
	    cmocka_unit_test(test_jwt_bad_signature_refused),
	    cmocka_unit_test(test_jwt_claims_refused),
	    cmocka_unit_test(test_jwt_jwks_malformed),
	};

	return cmocka_run_group_tests(tests, tj_setup, tj_teardown);
}
