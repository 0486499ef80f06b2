/* SPDX-License-Identifier: MIT */
/* Unit tests: common/crypto.c, checked against OpenSSL's command line too. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "crypto.h"
#include "err.h"

#define TC_CSR_HEADER "-----BEGIN CERTIFICATE REQUEST-----\n"
#define TC_CSR_FOOTER "-----END CERTIFICATE REQUEST-----\n"

/* Built once for the whole group: an rng and the fleet CA. */
struct tc_fixture {
	struct crypto_rng *rng;
	struct crypto_key *ca_key;
	char *ca_pem;
	size_t ca_len;
	char *dir; /* scratch files for openssl */
};

static struct tc_fixture *tc_fx(void **state)
{
	return *state;
}

static int tc_group_setup(void **state)
{
	struct crypto_ca_req req = {
	    .cn = "mcpfleet CA", .org = "Acme Fleet", .years = 10};
	struct tc_fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	if (f == NULL)
		return -1;
	if (crypto_rng_new("test_crypto", &f->rng, &d) != 0 ||
	    crypto_key_generate(f->rng, &f->ca_key, &d) != 0 ||
	    crypto_ca_create(f->rng, f->ca_key, &req, &f->ca_pem, &f->ca_len,
	                     &d) != 0) {
		fprintf(stderr, "setup: %s\n", d.msg);
		return -1;
	}
	f->dir = tu_mkdtemp();
	*state = f;
	return 0;
}

static int tc_group_teardown(void **state)
{
	struct tc_fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f->ca_pem);
	crypto_key_free(f->ca_key);
	crypto_rng_free(f->rng);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static bool tc_have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

/* Runs a shell command; returns its exit status and its output (stdout and
 * stderr) in out. */
static int tc_run(const char *cmd, char *out, size_t outsize)
{
	FILE *p;
	size_t n = 0, got;
	int st;

	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < outsize &&
	       (got = fread(out + n, 1, outsize - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	/* Drain anything that did not fit, so the child can exit. */
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int tc_runf(char *out, size_t outsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tc_runf(char *out, size_t outsize, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(w > 0 && (size_t)w < sizeof(cmd));
	return tc_run(cmd, out, outsize);
}

/* Writes data to dir/name; returns the new path (caller frees). */
static char *tc_file(const char *dir, const char *name, const void *data,
                     size_t len)
{
	char *p = tu_path(dir, name);

	tu_write(p, data, len);
	return p;
}

/* Issues a certificate for key from the fixture's CA. */
static char *tc_issue(struct tc_fixture *f, struct crypto_key *key,
                      const struct crypto_cert_req *req,
                      struct crypto_cert_info *info)
{
	struct diag d;
	char *pem = NULL;
	size_t len = 0;
	int r;

	r = crypto_cert_issue(f->rng, f->ca_key, f->ca_pem, f->ca_len, key, req,
	                      &pem, &len, info, &d);
	if (r != 0)
		fail_msg("issue: %s", d.msg);
	assert_int_equal(strlen(pem), len);
	return pem;
}

/* A mbedTLS DRBG for the keys crypto.c refuses to make. */
struct tc_drbg {
	mbedtls_entropy_context e;
	mbedtls_ctr_drbg_context c;
};

static void tc_drbg_init(struct tc_drbg *g)
{
	mbedtls_entropy_init(&g->e);
	mbedtls_ctr_drbg_init(&g->c);
	assert_int_equal(
	    mbedtls_ctr_drbg_seed(&g->c, mbedtls_entropy_func, &g->e, NULL, 0),
	    0);
}

static void tc_drbg_free(struct tc_drbg *g)
{
	mbedtls_ctr_drbg_free(&g->c);
	mbedtls_entropy_free(&g->e);
}

/* Makes an EC key on another curve, its PEM and a CSR for it. */
static void tc_foreign_key(mbedtls_ecp_group_id gid, char *key_pem,
                           size_t keysize, char *csr_pem, size_t csrsize)
{
	struct tc_drbg g;
	mbedtls_pk_context pk;
	mbedtls_x509write_csr w;

	tc_drbg_init(&g);
	mbedtls_pk_init(&pk);
	mbedtls_x509write_csr_init(&w);
	assert_int_equal(
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
	    0);
	assert_int_equal(mbedtls_ecp_gen_key(gid, mbedtls_pk_ec(pk),
	                                     mbedtls_ctr_drbg_random, &g.c),
	                 0);
	assert_int_equal(
	    mbedtls_pk_write_key_pem(&pk, (unsigned char *)key_pem, keysize),
	    0);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&w, &pk);
	assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w, "CN=dev-x"),
	                 0);
	assert_int_equal(
	    mbedtls_x509write_csr_pem(&w, (unsigned char *)csr_pem, csrsize,
	                              mbedtls_ctr_drbg_random, &g.c),
	    0);
	mbedtls_x509write_csr_free(&w);
	mbedtls_pk_free(&pk);
	tc_drbg_free(&g);
}

/* Appends a DER header (tag, length) at p; returns its size. */
static size_t tc_der_hdr(uint8_t *p, uint8_t tag, size_t len)
{
	size_t n = 0;

	p[n++] = tag;
	if (len < 0x80) {
		p[n++] = (uint8_t)len;
	} else if (len < 0x100) {
		p[n++] = 0x81;
		p[n++] = (uint8_t)len;
	} else {
		p[n++] = 0x82;
		p[n++] = (uint8_t)(len >> 8);
		p[n++] = (uint8_t)len;
	}
	return n;
}

/* PEM-encodes a CSR DER; returns a new string. */
static char *tc_csr_pem(const uint8_t *der, size_t len)
{
	unsigned char *out = malloc(4096);
	size_t olen = 0;

	assert_non_null(out);
	assert_int_equal(mbedtls_pem_write_buffer(TC_CSR_HEADER, TC_CSR_FOOTER,
	                                          der, len, out, 4096, &olen),
	                 0);
	return (char *)out;
}

static void tc_expect_csr(const char *pem, int code, const char *why)
{
	struct crypto_key *k = NULL;
	struct diag d;

	diag_clear(&d);
	assert_int_equal(crypto_csr_parse(pem, strlen(pem), &k, &d), code);
	if (code == 0)
		assert_non_null(k);
	else
		assert_null(k);
	crypto_key_free(k);
	if (why != NULL && strstr(d.msg, why) == NULL)
		fail_msg("diag \"%s\" lacks \"%s\"", d.msg, why);
}

static void tc_hex(const void *p, size_t n, char *out, size_t outsize)
{
	assert_int_equal(crypto_hex(p, n, out, outsize), 0);
}

/* ---- keys ---- */

static void test_crypto_key_pem_round_trip(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct crypto_key *k = NULL, *priv = NULL, *pub = NULL;
	char id1[CRYPTO_HEX_LEN + 1], id2[CRYPTO_HEX_LEN + 1],
	    id3[CRYPTO_HEX_LEN + 1], out[4096];
	char *pem = NULL, *pubpem = NULL, *copy, *path, *pem2 = NULL;
	uint8_t sig[CRYPTO_SIG_MAX];
	size_t len = 0, publen = 0, siglen = 0, len2 = 0;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	assert_true(crypto_key_is_private(k));
	assert_int_equal(crypto_key_write_private(k, &pem, &len, &d), 0);
	assert_non_null(strstr(pem, "-----BEGIN EC PRIVATE KEY-----\n"));
	assert_int_equal(strlen(pem), len);

	/* The input need not be NUL-terminated: ASan sees any overread. */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, pem, len);
	assert_int_equal(crypto_key_load_private(copy, len, &priv, &d), 0);
	free(copy);
	assert_int_equal(crypto_key_write_private(priv, &pem2, &len2, &d), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(pem2, pem, len);

	assert_int_equal(crypto_key_write_public(k, &pubpem, &publen, &d), 0);
	assert_non_null(strstr(pubpem, "-----BEGIN PUBLIC KEY-----\n"));
	assert_int_equal(crypto_key_load_public(pubpem, publen, &pub, &d), 0);
	assert_false(crypto_key_is_private(pub));

	assert_int_equal(crypto_key_id(k, id1), 0);
	assert_int_equal(crypto_key_id(priv, id2), 0);
	assert_int_equal(crypto_key_id(pub, id3), 0);
	assert_int_equal(strlen(id1), CRYPTO_HEX_LEN);
	assert_string_equal(id1, id2);
	assert_string_equal(id1, id3);

	/* The reloaded private key signs for the reloaded public key. */
	assert_int_equal(crypto_sign(priv, f->rng, "x", 1, sig, &siglen, &d),
	                 0);
	assert_int_equal(crypto_verify(pub, "x", 1, sig, siglen, &d), 0);

	/* A public key has nothing private to write or sign with. */
	assert_int_equal(crypto_key_write_private(pub, &copy, NULL, &d),
	                 -ERR_INVALID);
	assert_int_equal(crypto_sign(pub, f->rng, "x", 1, sig, &siglen, &d),
	                 -ERR_INVALID);

	/* OpenSSL reads both, and the key id is the SPKI's SHA-256. */
	if (tc_have_openssl()) {
		path = tc_file(f->dir, "k.pem", pem, len);
		assert_int_equal(tc_runf(out, sizeof(out),
		                         "openssl ec -in %s -check -noout 2>&1",
		                         path),
		                 0);
		assert_int_equal(
		    tc_runf(out, sizeof(out),
		            "openssl pkey -in %s -pubout -outform DER | "
		            "openssl dgst -sha256 -r",
		            path),
		    0);
		assert_memory_equal(out, id1, CRYPTO_HEX_LEN);
		free(path);
	}

	crypto_secret_free(pem, len);
	crypto_secret_free(pem2, len2);
	free(pubpem);
	crypto_key_free(k);
	crypto_key_free(priv);
	crypto_key_free(pub);
}

/* A damaged private scalar must not load (its public point gives it away),
 * whichever base64 character of the scalar is hit. */
static void test_crypto_key_damaged_scalar_refused(void **state)
{
	static const char head[] = "-----BEGIN EC PRIVATE KEY-----\n";
	struct tc_fixture *f = tc_fx(state);
	struct crypto_key *k = NULL, *bad = NULL;
	char *pem = NULL;
	size_t len = 0, i;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	assert_int_equal(crypto_key_write_private(k, &pem, &len, &d), 0);
	/* DER 30 77 02 01 01 04 20 then the 32-byte scalar: base64
	 * characters 10 to 51 of the body hold it. */
	for (i = sizeof(head) - 1 + 12; i < sizeof(head) - 1 + 50; i += 7) {
		char saved = pem[i];

		pem[i] = saved == 'A' ? 'B' : 'A';
		assert_int_not_equal(
		    crypto_key_load_private(pem, len, &bad, &d), 0);
		pem[i] = saved;
	}
	assert_int_equal(crypto_key_load_private(pem, len, &bad, &d), 0);
	crypto_key_free(bad);
	crypto_key_free(k);
	crypto_secret_free(pem, len);
}

static void test_crypto_key_rejects_other_keys(void **state)
{
	char key[2048], csr[4096];
	struct crypto_key *k = NULL;
	struct diag d;

	(void)state;
	tc_foreign_key(MBEDTLS_ECP_DP_SECP384R1, key, sizeof(key), csr,
	               sizeof(csr));
	assert_int_equal(crypto_key_load_private(key, strlen(key), &k, &d),
	                 -ERR_INVALID);
	assert_null(k);
	assert_non_null(strstr(d.msg, "P-256"));
	assert_int_equal(crypto_key_load_private("garbage", 7, &k, &d),
	                 -ERR_PARSE);
	assert_int_equal(crypto_key_load_private("", 0, &k, &d), -ERR_PARSE);
	assert_int_equal(
	    crypto_key_load_public("-----BEGIN PUBLIC KEY-----\n", 27, &k, &d),
	    -ERR_PARSE);
	assert_null(k);
}

/* ---- CSRs ---- */

static void test_crypto_csr_create_parse_verify(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct crypto_key *k = NULL, *pub = NULL;
	char id1[CRYPTO_HEX_LEN + 1], id2[CRYPTO_HEX_LEN + 1], out[4096];
	char *pem = NULL, *path;
	size_t len = 0;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	assert_int_equal(
	    crypto_csr_create(f->rng, k, "dev-0001", &pem, &len, &d), 0);
	assert_non_null(strstr(pem, TC_CSR_HEADER));
	assert_int_equal(crypto_csr_parse(pem, len, &pub, &d), 0);
	assert_false(crypto_key_is_private(pub));
	assert_int_equal(crypto_key_id(k, id1), 0);
	assert_int_equal(crypto_key_id(pub, id2), 0);
	assert_string_equal(id1, id2);
	if (tc_have_openssl()) {
		path = tc_file(f->dir, "req.pem", pem, len);
		assert_int_equal(
		    tc_runf(out, sizeof(out),
		            "openssl req -in %s -verify -noout -subject 2>&1",
		            path),
		    0);
		assert_non_null(strstr(out, "CN = dev-0001"));
		free(path);
	}
	/* The CN must be usable in a DN string without escaping. */
	assert_int_equal(crypto_csr_create(f->rng, k, "a,O=evil", &pem, &len,
	                                   &d) == -ERR_INVALID,
	                 1);
	assert_int_equal(crypto_csr_create(f->rng, k, "", &pem, &len, &d),
	                 -ERR_INVALID);
	free(pem);
	crypto_key_free(k);
	crypto_key_free(pub);
}

static void test_crypto_csr_bad_signature_rejected(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct crypto_key *ka = NULL, *kb = NULL;
	mbedtls_x509_csr a, b;
	char *pa = NULL, *pb = NULL, *pem, key[2048], csr[4096];
	uint8_t der[2048], body[2048];
	size_t la = 0, lb = 0, n, bn, algoff, alglen, off;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &ka, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &kb, &d), 0);
	assert_int_equal(crypto_csr_create(f->rng, ka, "dev-a", &pa, &la, &d),
	                 0);
	assert_int_equal(crypto_csr_create(f->rng, kb, "dev-a", &pb, &lb, &d),
	                 0);
	mbedtls_x509_csr_init(&a);
	mbedtls_x509_csr_init(&b);
	assert_int_equal(
	    mbedtls_x509_csr_parse(&a, (unsigned char *)pa, la + 1), 0);
	assert_int_equal(
	    mbedtls_x509_csr_parse(&b, (unsigned char *)pb, lb + 1), 0);

	/* 1. One bit of the signature's last octet flipped: still DER. */
	assert_true(a.raw.len <= sizeof(der));
	memcpy(der, a.raw.p, a.raw.len);
	off = (size_t)(a.sig.p - a.raw.p) + a.sig.len - 1;
	der[off] ^= 0x01;
	pem = tc_csr_pem(der, a.raw.len);
	tc_expect_csr(pem, -ERR_VERIFY, "does not match");
	free(pem);

	/* 2. A's request body with B's signature. */
	algoff = (size_t)(a.cri.p - a.raw.p) + a.cri.len;
	alglen = (size_t)(a.sig.p - a.raw.p) - 3 - algoff; /* 03 len 00 */
	bn = 0;
	memcpy(body + bn, a.cri.p, a.cri.len);
	bn += a.cri.len;
	memcpy(body + bn, a.raw.p + algoff, alglen);
	bn += alglen;
	bn += tc_der_hdr(body + bn, 0x03, b.sig.len + 1);
	body[bn++] = 0x00;
	memcpy(body + bn, b.sig.p, b.sig.len);
	bn += b.sig.len;
	n = tc_der_hdr(der, 0x30, bn);
	memcpy(der + n, body, bn);
	pem = tc_csr_pem(der, n + bn);
	tc_expect_csr(pem, -ERR_VERIFY, "does not match");
	free(pem);

	/* 3. The subject changed under a valid signature: "dev-a" ->
	 * "dev-b". */
	memcpy(der, a.raw.p, a.raw.len);
	off = (size_t)(a.subject_raw.p - a.raw.p) + a.subject_raw.len - 1;
	assert_int_equal(der[off], 'a');
	der[off] = 'b';
	pem = tc_csr_pem(der, a.raw.len);
	tc_expect_csr(pem, -ERR_VERIFY, "does not match");
	free(pem);

	/* The untouched request still passes, so the checks above fail for
	 * the tampering alone. */
	tc_expect_csr(pa, 0, NULL);

	/* 4. Another curve, garbage, a certificate instead of a CSR. */
	tc_foreign_key(MBEDTLS_ECP_DP_SECP384R1, key, sizeof(key), csr,
	               sizeof(csr));
	tc_expect_csr(csr, -ERR_INVALID, "P-256");
	tc_expect_csr("not a csr", -ERR_PARSE, NULL);
	tc_expect_csr(f->ca_pem, -ERR_PARSE, NULL);
	memcpy(der, a.raw.p, a.raw.len);
	pem = tc_csr_pem(der, a.raw.len - 1); /* truncated DER */
	tc_expect_csr(pem, -ERR_PARSE, NULL);
	free(pem);

	mbedtls_x509_csr_free(&a);
	mbedtls_x509_csr_free(&b);
	free(pa);
	free(pb);
	crypto_key_free(ka);
	crypto_key_free(kb);
}

/* ---- certificates ---- */

static void test_crypto_san_der_bytes(void **state)
{
	static const uint8_t want[] = {
	    0x30, 0x11, 0x82, 0x09, 'l',  'o',  'c',  'a',  'l',     'h',
	    'o',  's',  't',  0x87, 0x04, 0x7f, 0x00, 0x00, 0x00 + 1};
	static const uint8_t want6[] = {0x30, 0x12, 0x87, 0x10, 0, 0, 0,
	                                0,    0,    0,    0,    0, 0, 0,
	                                0,    0,    0,    0,    0, 1};
	const char *names[] = {"localhost", "127.0.0.1"};
	const char *prefixed[] = {"DNS:localhost", "IP:127.0.0.1"};
	const char *v6[] = {"::1"};
	const char *bad[] = {"bad_name",     "-x.example", "x..example",
	                     "IP:localhost", "",           "x.example.",
	                     "fe80::1%eth0"};
	char label[61], name200[201], *many[CRYPTO_SAN_MAX + 1];
	const char *three[3], *five[5], *one[1];
	uint8_t *der = NULL;
	unsigned char *p;
	size_t len = 0, i, l;
	struct diag d;

	(void)state;
	assert_int_equal(crypto_san_der(names, 2, &der, &len, &d), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(der, want, len);
	free(der);
	assert_int_equal(crypto_san_der(prefixed, 2, &der, &len, &d), 0);
	assert_memory_equal(der, want, sizeof(want));
	free(der);
	assert_int_equal(crypto_san_der(v6, 1, &der, &len, &d), 0);
	assert_int_equal(len, sizeof(want6));
	assert_memory_equal(der, want6, len);
	free(der);

	/* Long forms: 3 x (2 + 60) = 186 -> 81 ba; 5 x 62 = 310 -> 82 01 36.
	 */
	memset(label, 'a', 60);
	label[60] = '\0';
	for (i = 0; i < 5; i++)
		five[i] = label;
	for (i = 0; i < 3; i++)
		three[i] = label;
	assert_int_equal(crypto_san_der(three, 3, &der, &len, &d), 0);
	assert_int_equal(len, 3 + 186);
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x81);
	assert_int_equal(der[2], 0xba);
	assert_int_equal(der[3], 0x82);
	assert_int_equal(der[4], 60);
	free(der);
	assert_int_equal(crypto_san_der(five, 5, &der, &len, &d), 0);
	assert_int_equal(len, 4 + 310);
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x82);
	assert_int_equal(der[2], 0x01);
	assert_int_equal(der[3], 0x36);
	/* mbedTLS's own parser agrees on every length. */
	p = der;
	assert_int_equal(mbedtls_asn1_get_tag(&p, der + len, &l,
	                                      MBEDTLS_ASN1_SEQUENCE |
	                                          MBEDTLS_ASN1_CONSTRUCTED),
	                 0);
	assert_int_equal(l, 310);
	free(der);

	/* A 200-byte name (labels of about 50, and dots): the entry's own
	 * length is long-form, 82 81 c8, inside 30 81 cb. */
	memset(name200, 'b', 200);
	for (i = 50; i < 200; i += 50)
		name200[i] = '.';
	name200[200] = '\0';
	one[0] = name200;
	assert_int_equal(crypto_san_der(one, 1, &der, &len, &d), 0);
	assert_int_equal(len, 3 + 3 + 200);
	assert_int_equal(der[1], 0x81);
	assert_int_equal(der[2], 0xcb);
	assert_int_equal(der[3], 0x82);
	assert_int_equal(der[4], 0x81);
	assert_int_equal(der[5], 0xc8);
	assert_memory_equal(der + 6, name200, 200);
	free(der);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		der = NULL;
		assert_int_equal(crypto_san_der(&bad[i], 1, &der, &len, &d),
		                 -ERR_INVALID);
		assert_null(der);
		assert_non_null(strstr(d.msg, "subjectAltName"));
	}
	for (i = 0; i < CRYPTO_SAN_MAX + 1; i++)
		many[i] = label;
	assert_int_equal(crypto_san_der((const char *const *)many,
	                                CRYPTO_SAN_MAX + 1, &der, &len, &d),
	                 -ERR_INVALID);
	assert_int_equal(crypto_san_der((const char *const *)many,
	                                CRYPTO_SAN_MAX, &der, &len, &d),
	                 0);
	free(der);
}

/* The certificates of test_crypto_certs_verify_with_openssl, as OpenSSL
 * sees them. */
static void tc_certs_openssl(struct tc_fixture *f, const char *spem,
                             const char *dpem, const char *mpem,
                             const struct crypto_cert_info *di)
{
	char out[8192], want[256], *ca, *sp, *dp, *mp, *q;
	size_t i;

	ca = tc_file(f->dir, "ca.pem", f->ca_pem, f->ca_len);
	sp = tc_file(f->dir, "server.pem", spem, strlen(spem));
	dp = tc_file(f->dir, "device.pem", dpem, strlen(dpem));
	mp = tc_file(f->dir, "many.pem", mpem, strlen(mpem));

	if (tc_runf(out, sizeof(out),
	            "openssl verify -CAfile %s -purpose sslserver -x509_strict "
	            "%s 2>&1",
	            ca, sp) != 0)
		fail_msg("server: %s", out);
	if (tc_runf(out, sizeof(out),
	            "openssl verify -CAfile %s -purpose sslclient -x509_strict "
	            "%s 2>&1",
	            ca, dp) != 0)
		fail_msg("device: %s", out);
	if (tc_runf(out, sizeof(out),
	            "openssl verify -CAfile %s -x509_strict %s 2>&1", ca,
	            mp) != 0)
		fail_msg("many SANs: %s", out);
	/* Each EKU allows its own purpose only. */
	assert_int_not_equal(tc_runf(out, sizeof(out),
	                             "openssl verify -CAfile %s -purpose "
	                             "sslserver %s 2>&1",
	                             ca, dp),
	                     0);
	assert_int_not_equal(tc_runf(out, sizeof(out),
	                             "openssl verify -CAfile %s -purpose "
	                             "sslclient %s 2>&1",
	                             ca, sp),
	                     0);

	/* The extensions as OpenSSL reads them. */
	assert_int_equal(tc_runf(out, sizeof(out),
	                         "openssl x509 -in %s -noout -ext "
	                         "subjectAltName,extendedKeyUsage,keyUsage,"
	                         "basicConstraints 2>&1",
	                         sp),
	                 0);
	assert_non_null(strstr(out, "DNS:localhost, IP Address:127.0.0.1, "
	                            "IP Address:0:0:0:0:0:0:0:1, "
	                            "DNS:fleet.example.com"));
	assert_non_null(strstr(out, "TLS Web Server Authentication"));
	assert_non_null(strstr(out, "X509v3 Key Usage: critical\n"
	                            "    Digital Signature"));
	assert_non_null(strstr(out, "CA:FALSE"));
	assert_int_equal(tc_runf(out, sizeof(out),
	                         "openssl x509 -in %s -noout -ext "
	                         "basicConstraints,keyUsage,"
	                         "subjectKeyIdentifier 2>&1",
	                         ca),
	                 0);
	assert_non_null(strstr(out, "X509v3 Basic Constraints: critical\n"
	                            "    CA:TRUE, pathlen:0"));
	assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
	assert_non_null(strstr(out, "Subject Key Identifier"));
	assert_int_equal(tc_runf(out, sizeof(out),
	                         "openssl x509 -in %s -noout -subject -issuer "
	                         "-ext extendedKeyUsage 2>&1",
	                         dp),
	                 0);
	assert_non_null(strstr(out, "subject=O = Acme Fleet, CN = dev-7f3a"));
	assert_non_null(strstr(out, "issuer=O = Acme Fleet, CN = mcpfleet CA"));
	assert_non_null(strstr(out, "TLS Web Client Authentication"));
	assert_int_equal(tc_runf(out, sizeof(out),
	                         "openssl x509 -in %s -noout -text 2>&1", mp),
	                 0);
	assert_non_null(strstr(out, "DNS:ccccc"));

	/* Serial and fingerprint in OpenSSL's spelling. */
	assert_int_equal(tc_runf(out, sizeof(out),
	                         "openssl x509 -in %s -noout -serial "
	                         "-fingerprint -sha256 2>&1",
	                         dp),
	                 0);
	for (q = out; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'F')
			*q = (char)(*q - 'A' + 'a');
	snprintf(want, sizeof(want), "serial=%s\n", di->serial);
	assert_non_null(strstr(out, want));
	for (i = 0, q = want; i < CRYPTO_HEX_LEN; i += 2) {
		*q++ = di->fingerprint[i];
		*q++ = di->fingerprint[i + 1];
		*q++ = i + 2 < CRYPTO_HEX_LEN ? ':' : '\0';
	}
	assert_non_null(strstr(out, want));

	free(ca);
	free(sp);
	free(dp);
	free(mp);
}

static void test_crypto_certs_verify_with_openssl(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	const char *sans[] = {"localhost", "127.0.0.1", "::1",
	                      "fleet.example.com"};
	const char *many[40];
	char longname[64];
	struct crypto_key *skey = NULL, *dkey = NULL, *dpub = NULL,
	                  *cpub = NULL;
	struct crypto_cert_info si, di, pi, cai;
	char *csr = NULL, *spem, *dpem, *mpem, id1[CRYPTO_HEX_LEN + 1],
	     id2[CRYPTO_HEX_LEN + 1];
	size_t csrlen = 0, i;
	time_t now = time(NULL);
	struct diag d;
	struct crypto_cert_req sreq = {.cn = "localhost",
	                               .days = 365,
	                               .purpose = CRYPTO_PURPOSE_SERVER,
	                               .san = sans,
	                               .nsan = 4,
	                               .now = now};
	struct crypto_cert_req dreq = {.cn = "dev-7f3a",
	                               .org = "Acme Fleet",
	                               .days = 90,
	                               .purpose = CRYPTO_PURPOSE_CLIENT,
	                               .now = now};
	struct crypto_cert_req mreq = {.cn = "many",
	                               .days = 30,
	                               .purpose = CRYPTO_PURPOSE_SERVER,
	                               .san = many,
	                               .nsan = 40};

	/* Server: its own key. Device: the public key from its CSR. */
	assert_int_equal(crypto_key_generate(f->rng, &skey, &d), 0);
	spem = tc_issue(f, skey, &sreq, &si);
	assert_int_equal(crypto_key_generate(f->rng, &dkey, &d), 0);
	assert_int_equal(crypto_csr_create(f->rng, dkey,
	                                   "whatever-the-device"
	                                   "-asks",
	                                   &csr, &csrlen, &d),
	                 0);
	assert_int_equal(crypto_csr_parse(csr, csrlen, &dpub, &d), 0);
	dpem = tc_issue(f, dpub, &dreq, &di);
	/* 40 SANs of 60 bytes: a SubjectAltName over 2 KB. */
	for (i = 0; i < 40; i++)
		many[i] = longname;
	memset(longname, 'c', 57);
	memcpy(longname + 57, ".test", 6);
	mpem = tc_issue(f, skey, &mreq, NULL);

	/* Our own chain verification, purposes included. */
	assert_int_equal(crypto_cert_verify(spem, strlen(spem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_SERVER,
	                                    &d),
	                 0);
	assert_int_equal(crypto_cert_verify(dpem, strlen(dpem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_CLIENT,
	                                    &d),
	                 0);
	assert_int_equal(crypto_cert_verify(mpem, strlen(mpem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_ANY, &d),
	                 0);
	assert_int_equal(crypto_cert_verify(dpem, strlen(dpem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_SERVER,
	                                    &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "CN=dev-7f3a"));
	assert_non_null(strstr(d.msg, "TLS server"));
	assert_int_equal(crypto_cert_verify(spem, strlen(spem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_CLIENT,
	                                    &d),
	                 -ERR_VERIFY);

	/* What the issuer reports is what a parse finds. */
	assert_int_equal(crypto_cert_parse(dpem, strlen(dpem), &pi, &cpub, &d),
	                 0);
	assert_string_equal(pi.serial, di.serial);
	assert_string_equal(pi.fingerprint, di.fingerprint);
	assert_string_equal(pi.cn, "dev-7f3a");
	assert_false(pi.is_ca);
	assert_int_equal(pi.not_before, now - 300);
	assert_int_equal(pi.not_after, now + 90 * 86400);
	assert_int_equal(crypto_key_id(dkey, id1), 0);
	assert_int_equal(crypto_key_id(cpub, id2), 0);
	assert_string_equal(id1, id2);
	assert_string_equal(si.cn, "localhost");
	assert_int_equal(si.not_after, now + 365 * 86400);
	assert_int_equal(
	    crypto_cert_parse(f->ca_pem, f->ca_len, &cai, NULL, &d), 0);
	assert_true(cai.is_ca);
	assert_string_equal(cai.cn, "mcpfleet CA");

	if (tc_have_openssl())
		tc_certs_openssl(f, spem, dpem, mpem, &di);

	free(csr);
	free(spem);
	free(dpem);
	free(mpem);
	crypto_key_free(skey);
	crypto_key_free(dkey);
	crypto_key_free(dpub);
	crypto_key_free(cpub);
}

static void test_crypto_foreign_ca_rejected(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	/* The same DN as the real CA: only the signature tells them apart. */
	struct crypto_ca_req creq = {
	    .cn = "mcpfleet CA", .org = "Acme Fleet", .years = 10};
	struct crypto_cert_req dreq = {
	    .cn = "dev-rogue", .days = 30, .purpose = CRYPTO_PURPOSE_CLIENT};
	struct crypto_key *fkey = NULL, *dkey = NULL;
	char *fca = NULL, *pem = NULL, *ca, *dp, out[4096];
	size_t fcalen = 0, len = 0;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &fkey, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &dkey, &d), 0);
	assert_int_equal(
	    crypto_ca_create(f->rng, fkey, &creq, &fca, &fcalen, &d), 0);
	assert_int_equal(crypto_cert_issue(f->rng, fkey, fca, fcalen, dkey,
	                                   &dreq, &pem, &len, NULL, &d),
	                 0);
	assert_int_equal(crypto_cert_verify(pem, len, fca, fcalen,
	                                    CRYPTO_PURPOSE_CLIENT, &d),
	                 0);
	diag_clear(&d);
	assert_int_equal(crypto_cert_verify(pem, len, f->ca_pem, f->ca_len,
	                                    CRYPTO_PURPOSE_CLIENT, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "CN=dev-rogue"));
	assert_non_null(strstr(d.msg, "not correctly signed"));
	if (tc_have_openssl()) {
		ca = tc_file(f->dir, "ca2.pem", f->ca_pem, f->ca_len);
		dp = tc_file(f->dir, "rogue.pem", pem, len);
		assert_int_not_equal(
		    tc_runf(out, sizeof(out),
		            "openssl verify -CAfile %s %s 2>&1", ca, dp),
		    0);
		free(ca);
		free(dp);
	}
	/* The foreign CA's key cannot issue under our CA certificate. */
	free(pem);
	pem = NULL;
	assert_int_equal(crypto_cert_issue(f->rng, fkey, f->ca_pem, f->ca_len,
	                                   dkey, &dreq, &pem, &len, NULL, &d),
	                 -ERR_INVALID);
	assert_null(pem);
	assert_non_null(strstr(d.msg, "does not match"));
	crypto_key_free(fkey);
	crypto_key_free(dkey);
	free(fca);
}

static void test_crypto_cert_verify_reasons(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct crypto_cert_req old = {.cn = "dev-old",
	                              .days = 1,
	                              .purpose = CRYPTO_PURPOSE_CLIENT,
	                              .now = time(NULL) - 10 * 86400};
	struct crypto_cert_req future = {.cn = "dev-new",
	                                 .days = 1,
	                                 .purpose = CRYPTO_PURPOSE_CLIENT,
	                                 .now = time(NULL) + 10 * 86400};
	struct crypto_cert_req leaf = {.cn = "leaf", .days = 1};
	struct crypto_key *k = NULL;
	char *pem, *two, *lp, *p2 = NULL;
	size_t len, l2;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	pem = tc_issue(f, k, &old, NULL);
	assert_int_equal(crypto_cert_verify(pem, strlen(pem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_CLIENT,
	                                    &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "expired"));
	free(pem);
	pem = tc_issue(f, k, &future, NULL);
	assert_int_equal(crypto_cert_verify(pem, strlen(pem), f->ca_pem,
	                                    f->ca_len, CRYPTO_PURPOSE_CLIENT,
	                                    &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "future"));

	/* Two certificates where one is expected. */
	len = strlen(pem);
	two = malloc(2 * len + 1);
	assert_non_null(two);
	memcpy(two, pem, len);
	memcpy(two + len, pem, len + 1);
	assert_int_equal(crypto_cert_parse(two, 2 * len, NULL, NULL, &d),
	                 -ERR_INVALID);
	assert_int_equal(crypto_cert_parse("junk", 4, NULL, NULL, &d),
	                 -ERR_PARSE);
	assert_int_equal(
	    crypto_cert_parse(two, CRYPTO_PEM_MAX + 1, NULL, NULL, &d),
	    -ERR_TOOBIG);
	free(two);

	/* A leaf is not a CA; names with DN syntax are refused. */
	lp = tc_issue(f, k, &leaf, NULL);
	assert_int_equal(crypto_cert_issue(f->rng, k, lp, strlen(lp), k, &leaf,
	                                   &p2, &l2, NULL, &d),
	                 -ERR_INVALID);
	leaf.cn = "x,CN=admin";
	assert_int_equal(crypto_cert_issue(f->rng, f->ca_key, f->ca_pem,
	                                   f->ca_len, k, &leaf, &p2, &l2, NULL,
	                                   &d),
	                 -ERR_INVALID);
	leaf.cn = "ok";
	leaf.days = 0;
	assert_int_equal(crypto_cert_issue(f->rng, f->ca_key, f->ca_pem,
	                                   f->ca_len, k, &leaf, &p2, &l2, NULL,
	                                   &d),
	                 -ERR_INVALID);
	assert_null(p2);
	free(lp);
	free(pem);
	crypto_key_free(k);
}

static void test_crypto_serial_random_positive(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct crypto_cert_req req = {.cn = "s", .days = 1};
	struct crypto_cert_info info[16];
	struct crypto_key *k = NULL;
	mbedtls_x509_crt crt, ca;
	char *pem;
	size_t i, j, len;
	struct diag d;

	mbedtls_x509_crt_init(&ca);
	assert_int_equal(mbedtls_x509_crt_parse(&ca, (unsigned char *)f->ca_pem,
	                                        f->ca_len + 1),
	                 0);
	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	for (i = 0; i < 16; i++) {
		pem = tc_issue(f, k, &req, &info[i]);
		mbedtls_x509_crt_init(&crt);
		assert_int_equal(mbedtls_x509_crt_parse(&crt,
		                                        (unsigned char *)pem,
		                                        strlen(pem) + 1),
		                 0);
		/* The issuer DN is the CA's subject, byte for byte. */
		assert_int_equal(crt.issuer_raw.len, ca.subject_raw.len);
		assert_memory_equal(crt.issuer_raw.p, ca.subject_raw.p,
		                    ca.subject_raw.len);
		/* DER INTEGER content: positive, at most 16 octets. */
		assert_true(crt.serial.len >= 1 && crt.serial.len <= 16);
		assert_true((crt.serial.p[0] & 0x80) == 0);
		len = strlen(info[i].serial);
		assert_true(len % 2 == 0 && len <= 32 && len >= 2);
		if (len == 32)
			assert_true(info[i].serial[0] <= '7');
		for (j = 0; j < i; j++)
			assert_string_not_equal(info[i].serial, info[j].serial);
		mbedtls_x509_crt_free(&crt);
		free(pem);
	}
	mbedtls_x509_crt_free(&ca);
	crypto_key_free(k);
}

/* A self-signed certificate with the given serial octets, written by
 * mbedTLS directly (crypto_cert_issue() only makes random serials). */
static char *tc_cert_with_serial(const uint8_t *serial, size_t n)
{
	struct tc_drbg g;
	mbedtls_pk_context pk;
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	unsigned char *out = malloc(4096);

	assert_non_null(out);
	tc_drbg_init(&g);
	mbedtls_pk_init(&pk);
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	assert_int_equal(
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
	    0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	                                     mbedtls_pk_ec(pk),
	                                     mbedtls_ctr_drbg_random, &g.c),
	                 0);
	assert_int_equal(mbedtls_mpi_read_binary(&sn, serial, n), 0);
	assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &sn), 0);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &pk);
	mbedtls_x509write_crt_set_issuer_key(&w, &pk);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "CN=s"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "CN=s"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(
	                     &w, "20240101000000", "20340101000000"),
	                 0);
	assert_int_equal(mbedtls_x509write_crt_pem(
	                     &w, out, 4096, mbedtls_ctr_drbg_random, &g.c),
	                 0);
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&pk);
	tc_drbg_free(&g);
	return (char *)out;
}

static void test_crypto_serial_hex_matches_openssl(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	static const struct {
		uint8_t b[4];
		size_t n;
		const char *hex;
	} cases[] = {
	    {{0x80, 0x01}, 2, "8001"}, /* DER pads it: 00 80 01 */
	    {{0x05}, 1, "05"},         /* two digits per octet */
	    {{0x01, 0x00, 0x00}, 3, "010000"},
	};
	struct crypto_cert_info info;
	char out[512], want[64], *pem, *path, *q;
	size_t i;
	struct diag d;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pem = tc_cert_with_serial(cases[i].b, cases[i].n);
		assert_int_equal(
		    crypto_cert_parse(pem, strlen(pem), &info, NULL, &d), 0);
		assert_string_equal(info.serial, cases[i].hex);
		if (tc_have_openssl()) {
			path = tc_file(f->dir, "serial.pem", pem, strlen(pem));
			assert_int_equal(
			    tc_runf(out, sizeof(out),
			            "openssl x509 -in %s -noout -serial 2>&1",
			            path),
			    0);
			for (q = out; *q != '\0'; q++)
				if (*q >= 'A' && *q <= 'F')
					*q = (char)(*q - 'A' + 'a');
			snprintf(want, sizeof(want), "serial=%s\n",
			         cases[i].hex);
			assert_string_equal(out, want);
			free(path);
		}
		free(pem);
	}
}

static void test_crypto_ca_pin(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	char fp[CRYPTO_HEX_LEN + 1], pin[80], out[512], *ca;
	struct diag d;
	size_t i;

	assert_int_equal(crypto_cert_fingerprint(f->ca_pem, f->ca_len, fp, &d),
	                 0);
	snprintf(pin, sizeof(pin), "sha256:%s", fp);
	assert_int_equal(crypto_cert_pin_check(f->ca_pem, f->ca_len, pin, &d),
	                 0);
	for (i = 7; pin[i] != '\0'; i++)
		if (pin[i] >= 'a' && pin[i] <= 'f')
			pin[i] = (char)(pin[i] - 'a' + 'A');
	assert_int_equal(crypto_cert_pin_check(f->ca_pem, f->ca_len, pin, &d),
	                 0);
	pin[20] = pin[20] == '0' ? '1' : '0';
	assert_int_equal(crypto_cert_pin_check(f->ca_pem, f->ca_len, pin, &d),
	                 -ERR_VERIFY);
	assert_int_equal(
	    crypto_cert_pin_check(f->ca_pem, f->ca_len, "sha256:abc", &d),
	    -ERR_INVALID);
	assert_int_equal(crypto_cert_pin_check(f->ca_pem, f->ca_len, fp, &d),
	                 0);
	if (tc_have_openssl()) {
		ca = tc_file(f->dir, "pin.pem", f->ca_pem, f->ca_len);
		assert_int_equal(tc_runf(out, sizeof(out),
		                         "openssl x509 -in %s -outform DER | "
		                         "openssl dgst -sha256 -r",
		                         ca),
		                 0);
		assert_memory_equal(out, fp, CRYPTO_HEX_LEN);
		free(ca);
	}
}

/* ---- signatures ---- */

static void test_crypto_sign_verify(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	static const char msg[] = "revision 42: merkle root";
	struct crypto_key *k = NULL, *other = NULL;
	uint8_t sig[CRYPTO_SIG_MAX], bad[CRYPTO_SIG_MAX + 8];
	char data[sizeof(msg)], *pub = NULL, *kp, *sp, *dp, out[512];
	size_t siglen = 0, i, publen = 0;
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, &k, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &other, &d), 0);
	assert_int_equal(
	    crypto_sign(k, f->rng, msg, sizeof(msg) - 1, sig, &siglen, &d), 0);
	assert_true(siglen >= 8 && siglen <= CRYPTO_SIG_MAX);
	assert_int_equal(sig[0], 0x30);
	assert_int_equal(
	    crypto_verify(k, msg, sizeof(msg) - 1, sig, siglen, &d), 0);
	/* Every single flipped bit of the data or the signature fails. */
	for (i = 0; i < 8 * (sizeof(msg) - 1); i++) {
		memcpy(data, msg, sizeof(msg));
		data[i / 8] ^= (char)(1 << (i % 8));
		assert_int_equal(
		    crypto_verify(k, data, sizeof(msg) - 1, sig, siglen, NULL),
		    -ERR_VERIFY);
	}
	for (i = 0; i < 8 * siglen; i++) {
		memcpy(bad, sig, siglen);
		bad[i / 8] ^= (uint8_t)(1 << (i % 8));
		assert_int_equal(
		    crypto_verify(k, msg, sizeof(msg) - 1, bad, siglen, NULL),
		    -ERR_VERIFY);
	}
	assert_int_equal(
	    crypto_verify(other, msg, sizeof(msg) - 1, sig, siglen, &d),
	    -ERR_VERIFY);
	assert_int_equal(
	    crypto_verify(k, msg, sizeof(msg) - 1, sig, siglen - 1, &d),
	    -ERR_VERIFY);
	memcpy(bad, sig, siglen);
	bad[siglen] = 0;
	assert_int_equal(
	    crypto_verify(k, msg, sizeof(msg) - 1, bad, siglen + 1, &d),
	    -ERR_VERIFY);
	assert_int_equal(crypto_verify(k, msg, sizeof(msg) - 1, sig, 0, &d),
	                 -ERR_VERIFY);

	/* OpenSSL agrees: the signature is plain DER ECDSA over SHA-256. */
	if (tc_have_openssl()) {
		assert_int_equal(crypto_key_write_public(k, &pub, &publen, &d),
		                 0);
		kp = tc_file(f->dir, "sig.pub", pub, publen);
		sp = tc_file(f->dir, "sig.bin", sig, siglen);
		dp = tc_file(f->dir, "sig.dat", msg, sizeof(msg) - 1);
		if (tc_runf(out, sizeof(out),
		            "openssl dgst -sha256 -verify %s -signature %s %s "
		            "2>&1",
		            kp, sp, dp) != 0)
			fail_msg("openssl: %s", out);
		free(kp);
		free(sp);
		free(dp);
		free(pub);
	}
	crypto_key_free(k);
	crypto_key_free(other);
}

/* ---- sealing ---- */

static void test_crypto_seal_open(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	static const char secret[] = "ghp_0123456789abcdefghijklmnopqrstuvwx";
	static const char aad[] = "secret/7/version/3";
	uint8_t key[CRYPTO_SEAL_KEY_LEN], key2[CRYPTO_SEAL_KEY_LEN];
	uint8_t *sealed = NULL, *sealed2 = NULL, *pt = NULL, *bad;
	size_t slen = 0, slen2 = 0, ptlen = 0, i;
	struct diag d;

	assert_int_equal(crypto_random(f->rng, key, sizeof(key)), 0);
	memcpy(key2, key, sizeof(key));
	key2[31] ^= 0x80;
	assert_int_equal(crypto_seal(f->rng, key, aad, strlen(aad), secret,
	                             strlen(secret), &sealed, &slen, &d),
	                 0);
	assert_int_equal(slen, strlen(secret) + CRYPTO_SEAL_OVERHEAD);
	for (i = 0; i + 4 <= slen; i++)
		assert_false(memcmp(sealed + i, "ghp_", 4) == 0);
	assert_int_equal(
	    crypto_open(key, aad, strlen(aad), sealed, slen, &pt, &ptlen, &d),
	    0);
	assert_int_equal(ptlen, strlen(secret));
	assert_string_equal((char *)pt, secret);
	crypto_secret_free(pt, ptlen);

	/* A fresh IV each time. */
	assert_int_equal(crypto_seal(f->rng, key, aad, strlen(aad), secret,
	                             strlen(secret), &sealed2, &slen2, &d),
	                 0);
	assert_memory_not_equal(sealed, sealed2, CRYPTO_SEAL_IV_LEN);
	free(sealed2);

	/* Any flipped bit (IV, ciphertext or tag) fails. */
	bad = malloc(slen);
	assert_non_null(bad);
	for (i = 0; i < 8 * slen; i++) {
		memcpy(bad, sealed, slen);
		bad[i / 8] ^= (uint8_t)(1 << (i % 8));
		pt = NULL;
		assert_int_equal(crypto_open(key, aad, strlen(aad), bad, slen,
		                             &pt, &ptlen, NULL),
		                 -ERR_VERIFY);
		assert_null(pt);
	}
	free(bad);
	/* Wrong record, wrong key, truncated. */
	assert_int_equal(crypto_open(key, "secret/8/version/3", 18, sealed,
	                             slen, &pt, &ptlen, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "authentication failed"));
	assert_int_equal(
	    crypto_open(key, NULL, 0, sealed, slen, &pt, &ptlen, &d),
	    -ERR_VERIFY);
	assert_int_equal(
	    crypto_open(key2, aad, strlen(aad), sealed, slen, &pt, &ptlen, &d),
	    -ERR_VERIFY);
	assert_int_equal(crypto_open(key, aad, strlen(aad), sealed, slen - 1,
	                             &pt, &ptlen, &d),
	                 -ERR_VERIFY);
	assert_int_equal(
	    crypto_open(key, aad, strlen(aad), sealed, 10, &pt, &ptlen, &d),
	    -ERR_VERIFY);
	free(sealed);

	/* An empty value seals and opens too. */
	assert_int_equal(crypto_seal(f->rng, key, aad, strlen(aad), NULL, 0,
	                             &sealed, &slen, &d),
	                 0);
	assert_int_equal(slen, CRYPTO_SEAL_OVERHEAD);
	assert_int_equal(
	    crypto_open(key, aad, strlen(aad), sealed, slen, &pt, &ptlen, &d),
	    0);
	assert_int_equal(ptlen, 0);
	assert_string_equal((char *)pt, "");
	crypto_secret_free(pt, ptlen);
	free(sealed);
}

/* ---- hashing and helpers ---- */

static void test_crypto_hash_hex_compare(void **state)
{
	uint8_t h[CRYPTO_HASH_LEN], back[CRYPTO_HASH_LEN];
	char hex[CRYPTO_HEX_LEN + 1];
	size_t n = 0;

	(void)state;
	assert_int_equal(crypto_sha256("abc", 3, h), 0);
	tc_hex(h, sizeof(h), hex, sizeof(hex));
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	                         "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(crypto_hex(h, sizeof(h), hex, sizeof(hex) - 1),
	                 -ERR_TRUNC);
	assert_int_equal(crypto_unhex("BA7816bf", 8, back, sizeof(back), &n),
	                 0);
	assert_int_equal(n, 4);
	assert_memory_equal(back, h, 4);
	assert_int_equal(crypto_unhex("abc", 3, back, sizeof(back), &n),
	                 -ERR_INVALID);
	assert_int_equal(crypto_unhex("zz", 2, back, sizeof(back), &n),
	                 -ERR_INVALID);
	assert_int_equal(crypto_unhex("abcd", 4, back, 1, &n), -ERR_TRUNC);
	assert_true(crypto_ct_equal("abcd", "abcd", 4));
	assert_false(crypto_ct_equal("abcd", "abce", 4));
	assert_true(crypto_ct_equal("a", "b", 0));
	/* HMAC-SHA-256, RFC 4231 test case 2. */
	assert_int_equal(crypto_hmac_sha256(
	                     "Jefe", 4, "what do ya want for nothing?", 28, h),
	                 0);
	tc_hex(h, sizeof(h), hex, sizeof(hex));
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
	                         "5a003f089d2739839dec58b964ec3843");
}

struct tc_thread {
	struct crypto_rng *rng;
	int failures;
};

static void *tc_rng_thread(void *arg)
{
	struct tc_thread *t = arg;
	uint8_t b[64];
	int i;

	for (i = 0; i < 2000; i++)
		if (crypto_random(t->rng, b, sizeof(b)) != 0)
			t->failures++;
	return NULL;
}

static void test_crypto_rng_threads_and_fork(void **state)
{
	struct tc_fixture *f = tc_fx(state);
	struct tc_thread th[4];
	pthread_t tid[4];
	uint8_t a[32], b[32], big[5000], zero[5000];
	int fds[2], st, i;
	pid_t pid;

	for (i = 0; i < 4; i++) {
		th[i].rng = f->rng;
		th[i].failures = 0;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, tc_rng_thread, &th[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(th[i].failures, 0);
	}
	/* Larger than one DRBG request. */
	memset(zero, 0, sizeof(zero));
	assert_int_equal(crypto_random(f->rng, big, sizeof(big)), 0);
	assert_memory_not_equal(big + 4000, zero, 1000);

	/* Parent and child draw different bytes after fork(). */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (crypto_random(f->rng, a, sizeof(a)) != 0 ||
		    write(fds[1], a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(crypto_random(f->rng, b, sizeof(b)), 0);
	assert_int_equal(read(fds[0], a, sizeof(a)), (ssize_t)sizeof(a));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* ---- Merkle tree ---- */

/* The RFC 6962 definition, recursively, as an independent reference. */
static void tm_node(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
	uint8_t b[65];

	b[0] = 1;
	memcpy(b + 1, l, 32);
	memcpy(b + 33, r, 32);
	assert_int_equal(crypto_sha256(b, sizeof(b), out), 0);
}

static size_t tm_split(size_t n)
{
	size_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void tm_mth(const uint8_t *lh, size_t n, uint8_t *out)
{
	uint8_t l[32], r[32];
	size_t k;

	if (n == 1) {
		memcpy(out, lh, 32);
		return;
	}
	k = tm_split(n);
	tm_mth(lh, k, l);
	tm_mth(lh + 32 * k, n - k, r);
	tm_node(l, r, out);
}

/* RFC 6962 PATH(m, D[n]), bottom up. Returns its length in bytes. */
static size_t tm_path(const uint8_t *lh, size_t n, size_t m, uint8_t *out)
{
	size_t k, len;

	if (n == 1)
		return 0;
	k = tm_split(n);
	if (m < k) {
		len = tm_path(lh, k, m, out);
		tm_mth(lh + 32 * k, n - k, out + len);
	} else {
		len = tm_path(lh + 32 * k, n - k, m - k, out);
		tm_mth(lh, k, out + len);
	}
	return len + 32;
}

static void tm_leaf(uint8_t *data, size_t i)
{
	snprintf((char *)data, 32, "view-%zu", i);
}

static void test_crypto_merkle_known_roots(void **state)
{
	/* certificate-transparency's RFC 6962 reference vectors. */
	static const char *const want[] = {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	static const uint8_t l1[] = {0x00}, l2[] = {0x10}, l3[] = {0x20, 0x21},
	                     l4[] = {0x30, 0x31},
	                     l5[] = {0x40, 0x41, 0x42, 0x43},
	                     l6[] = {0x50, 0x51, 0x52, 0x53,
	                             0x54, 0x55, 0x56, 0x57};
	static const uint8_t l7[] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65,
	                             0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
	                             0x6c, 0x6d, 0x6e, 0x6f};
	struct crypto_leaf leaves[8] = {{"", 0},          {l1, sizeof(l1)},
	                                {l2, sizeof(l2)}, {l3, sizeof(l3)},
	                                {l4, sizeof(l4)}, {l5, sizeof(l5)},
	                                {l6, sizeof(l6)}, {l7, sizeof(l7)}};
	struct crypto_merkle *t = NULL;
	static const char digits[] = "01234";
	uint8_t root[32], L[5][32], a[32], b[32], c[32], pre[2];
	char hex[CRYPTO_HEX_LEN + 1];
	size_t n, i;
	struct diag d;

	(void)state;
	for (n = 1; n <= 8; n++) {
		assert_int_equal(crypto_merkle_build(leaves, n, &t, &d), 0);
		assert_int_equal(crypto_merkle_count(t), n);
		crypto_merkle_root(t, root);
		tc_hex(root, 32, hex, sizeof(hex));
		assert_string_equal(hex, want[n - 1]);
		crypto_merkle_free(t);
	}
	/* The empty tree: SHA-256 of nothing. */
	assert_int_equal(crypto_merkle_build(NULL, 0, &t, &d), 0);
	crypto_merkle_root(t, root);
	tc_hex(root, 32, hex, sizeof(hex));
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	                         "27ae41e4649b934ca495991b7852b855");
	crypto_merkle_free(t);

	/* By hand, on leaves "0".."4": L[i] = H(0 | digit). */
	for (i = 0; i < 5; i++) {
		pre[0] = 0x00;
		pre[1] = (uint8_t)digits[i];
		assert_int_equal(crypto_sha256(pre, 2, L[i]), 0);
		leaves[i].data = digits + i;
		leaves[i].len = 1;
	}
	/* N=1: L0. */
	assert_int_equal(crypto_merkle_build(leaves, 1, &t, &d), 0);
	crypto_merkle_root(t, root);
	assert_memory_equal(root, L[0], 32);
	crypto_merkle_free(t);
	/* N=2: H(1|L0|L1). */
	tm_node(L[0], L[1], a);
	assert_int_equal(crypto_merkle_build(leaves, 2, &t, &d), 0);
	crypto_merkle_root(t, root);
	assert_memory_equal(root, a, 32);
	crypto_merkle_free(t);
	/* N=3: H(1|H(1|L0|L1)|L2). */
	tm_node(a, L[2], b);
	assert_int_equal(crypto_merkle_build(leaves, 3, &t, &d), 0);
	crypto_merkle_root(t, root);
	assert_memory_equal(root, b, 32);
	crypto_merkle_free(t);
	/* N=5: H(1|H(1|H(1|L0|L1)|H(1|L2|L3))|L4). */
	tm_node(L[2], L[3], b);
	tm_node(a, b, c);
	tm_node(c, L[4], a);
	assert_int_equal(crypto_merkle_build(leaves, 5, &t, &d), 0);
	crypto_merkle_root(t, root);
	assert_memory_equal(root, a, 32);
	crypto_merkle_free(t);

	/* A tree of many leaves (an odd number): the same root as from
	 * its leaf hashes one by one. */
	{
		enum { TM_BIG = 3001 };
		struct crypto_leaf *big = calloc(TM_BIG, sizeof(*big));
		uint8_t *lh = malloc((size_t)TM_BIG * 32);
		char(*text)[16] = calloc(TM_BIG, sizeof(*text));
		struct crypto_merkle *t2 = NULL;
		uint8_t r2[32];

		assert_non_null(big);
		assert_non_null(lh);
		assert_non_null(text);
		for (i = 0; i < TM_BIG; i++) {
			int k =
			    snprintf(text[i], sizeof(text[i]), "leaf %zu", i);

			big[i].data = text[i];
			big[i].len = (size_t)k;
			assert_int_equal(crypto_merkle_leaf_hash(
			                     text[i], (size_t)k, lh + i * 32),
			                 0);
		}
		assert_int_equal(crypto_merkle_build(big, TM_BIG, &t, &d), 0);
		assert_int_equal(
		    crypto_merkle_build_hashes(lh, TM_BIG, &t2, &d), 0);
		crypto_merkle_root(t, root);
		crypto_merkle_root(t2, r2);
		assert_memory_equal(root, r2, 32);
		crypto_merkle_free(t);
		crypto_merkle_free(t2);
		free(text);
		free(lh);
		free(big);
	}
}

static void test_crypto_merkle_proofs(void **state)
{
	uint8_t data[34][32], lh[34 * 32], root[32], ref[32];
	uint8_t path[CRYPTO_MERKLE_PROOF_MAX], refpath[CRYPTO_MERKLE_PROOF_MAX],
	    bad[CRYPTO_MERKLE_PROOF_MAX + 32];
	struct crypto_leaf leaves[34];
	struct crypto_merkle *t = NULL, *t2 = NULL;
	size_t n, i, j, plen = 0, rlen, dl;
	struct diag d;

	(void)state;
	for (i = 0; i < 34; i++) {
		tm_leaf(data[i], i);
		leaves[i].data = data[i];
		leaves[i].len = strlen((char *)data[i]);
		assert_int_equal(crypto_merkle_leaf_hash(data[i], leaves[i].len,
		                                         lh + 32 * i),
		                 0);
	}
	for (n = 1; n <= 33; n++) {
		assert_int_equal(crypto_merkle_build(leaves, n, &t, &d), 0);
		crypto_merkle_root(t, root);
		tm_mth(lh, n, ref);
		assert_memory_equal(root, ref, 32);
		assert_int_equal(crypto_merkle_build_hashes(lh, n, &t2, &d), 0);
		crypto_merkle_root(t2, ref);
		assert_memory_equal(root, ref, 32);
		crypto_merkle_free(t2);
		for (i = 0; i < n; i++) {
			dl = leaves[i].len;
			assert_int_equal(crypto_merkle_proof(t, i, path, &plen),
			                 0);
			rlen = tm_path(lh, n, i, refpath);
			assert_int_equal(plen, rlen);
			assert_memory_equal(path, refpath, plen);
			assert_int_equal(crypto_merkle_verify(data[i], dl, i, n,
			                                      path, plen, root),
			                 0);
			/* Wrong leaf. */
			assert_int_equal(
			    crypto_merkle_verify(data[(i + 1) % 34],
			                         leaves[(i + 1) % 34].len, i, n,
			                         path, plen, root),
			    -ERR_VERIFY);
			/* Wrong index. */
			for (j = 0; j < n; j++)
				if (j != i)
					assert_int_not_equal(
					    crypto_merkle_verify(data[i], dl, j,
					                         n, path, plen,
					                         root),
					    0);
			assert_int_equal(crypto_merkle_verify(data[i], dl, n, n,
			                                      path, plen, root),
			                 -ERR_INVALID);
			/* Any sibling with one bit flipped. */
			for (j = 0; j < plen; j += 32) {
				memcpy(bad, path, plen);
				bad[j + (i % 32)] ^= 0x04;
				assert_int_equal(
				    crypto_merkle_verify(data[i], dl, i, n, bad,
				                         plen, root),
				    -ERR_VERIFY);
			}
			/* A sibling missing, one too many, a ragged length. */
			if (plen > 0)
				assert_int_equal(
				    crypto_merkle_verify(data[i], dl, i, n,
				                         path, plen - 32, root),
				    -ERR_VERIFY);
			memcpy(bad, path, plen);
			memcpy(bad + plen, root, 32);
			assert_int_equal(crypto_merkle_verify(data[i], dl, i, n,
			                                      bad, plen + 32,
			                                      root),
			                 -ERR_VERIFY);
			assert_int_equal(crypto_merkle_verify(data[i], dl, i, n,
			                                      path, plen + 1,
			                                      root),
			                 -ERR_INVALID);
		}
		assert_int_equal(crypto_merkle_proof(t, n, path, &plen),
		                 -ERR_INVALID);
		crypto_merkle_free(t);
	}
}

static double tm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_crypto_merkle_large(void **state)
{
	enum { N = 100000 };
	static const size_t probe[] = {0,     1,     2,     65535, 65536,
	                               65537, 99998, 99999, 12345};
	struct crypto_leaf *leaves;
	uint8_t(*data)[32];
	uint8_t *lh, root[32], root2[32], path[CRYPTO_MERKLE_PROOF_MAX];
	struct crypto_merkle *t = NULL, *t2 = NULL;
	size_t i, plen = 0;
	double t0, dt;
	struct diag d;

	(void)state;
	leaves = calloc(N, sizeof(*leaves));
	data = calloc(N, sizeof(*data));
	lh = calloc(N, 32);
	assert_non_null(leaves);
	assert_non_null(data);
	assert_non_null(lh);
	for (i = 0; i < N; i++) {
		tm_leaf(data[i], i);
		leaves[i].data = data[i];
		leaves[i].len = strlen((char *)data[i]);
	}
	t0 = tm_now();
	assert_int_equal(crypto_merkle_build(leaves, N, &t, &d), 0);
	dt = tm_now() - t0;
	/* O(N): 200,000 SHA-256 blocks. Generous for sanitizer builds. */
	if (dt > 3.0)
		fail_msg("building 100000 leaves took %.2f s", dt);
	crypto_merkle_root(t, root);
	for (i = 0; i < N; i++)
		assert_int_equal(crypto_merkle_leaf_hash(data[i], leaves[i].len,
		                                         lh + 32 * i),
		                 0);
	assert_int_equal(crypto_merkle_build_hashes(lh, N, &t2, &d), 0);
	crypto_merkle_root(t2, root2);
	assert_memory_equal(root, root2, 32);
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		assert_int_equal(crypto_merkle_proof(t, probe[i], path, &plen),
		                 0);
		assert_true(plen <= 17 * 32);
		assert_int_equal(
		    crypto_merkle_verify(data[probe[i]], leaves[probe[i]].len,
		                         probe[i], N, path, plen, root),
		    0);
	}
	crypto_merkle_free(t);
	crypto_merkle_free(t2);
	free(leaves);
	free(data);
	free(lh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crypto_key_pem_round_trip),
	    cmocka_unit_test(test_crypto_key_damaged_scalar_refused),
	    cmocka_unit_test(test_crypto_key_rejects_other_keys),
	    cmocka_unit_test(test_crypto_csr_create_parse_verify),
	    cmocka_unit_test(test_crypto_csr_bad_signature_rejected),
	    cmocka_unit_test(test_crypto_san_der_bytes),
	    cmocka_unit_test(test_crypto_certs_verify_with_openssl),
	    cmocka_unit_test(test_crypto_foreign_ca_rejected),
	    cmocka_unit_test(test_crypto_cert_verify_reasons),
	    cmocka_unit_test(test_crypto_serial_random_positive),
	    cmocka_unit_test(test_crypto_serial_hex_matches_openssl),
	    cmocka_unit_test(test_crypto_ca_pin),
	    cmocka_unit_test(test_crypto_sign_verify),
	    cmocka_unit_test(test_crypto_seal_open),
	    cmocka_unit_test(test_crypto_hash_hex_compare),
	    cmocka_unit_test(test_crypto_rng_threads_and_fork),
	    cmocka_unit_test(test_crypto_merkle_known_roots),
	    cmocka_unit_test(test_crypto_merkle_proofs),
	    cmocka_unit_test(test_crypto_merkle_large),
	};
	return cmocka_run_group_tests(tests, tc_group_setup, tc_group_teardown);
}
