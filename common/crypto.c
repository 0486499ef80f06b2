/* SPDX-License-Identifier: MIT */
/* mcpfleet's own cryptography on mbedTLS 2.28 (Debian 12's libmbedtls). */
#include "crypto.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "buf.h"

/*
 * The 2.28 API is assumed throughout (mbedtls_sha256_ret, mbedtls_pk_sign
 * without a size, public struct fields such as csr.cri); 3.x renamed or hid
 * all of these.
 */
#if MBEDTLS_VERSION_NUMBER < 0x021C0000 || MBEDTLS_VERSION_NUMBER >= 0x03000000
#error "common/crypto.c is written for mbedTLS 2.28"
#endif

#define CRYPTO_SKEW       300 /* notBefore is this many seconds in the past */
#define CRYPTO_SERIAL_LEN 16  /* octets of a new serial */
#define CRYPTO_AAD_MAX    65536
#define CRYPTO_DN_MAX     (2 * CRYPTO_CN_MAX + 16)

struct crypto_rng {
	pthread_mutex_t lock;
	pid_t pid; /* the process that last seeded the DRBG */
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct crypto_key {
	mbedtls_pk_context pk;
};

struct crypto_merkle {
	size_t n;
	size_t nlevels;                          /* 0 for the empty tree */
	size_t off[CRYPTO_MERKLE_PATH_MAX + 1];  /* first hash of a level */
	size_t size[CRYPTO_MERKLE_PATH_MAX + 1]; /* hashes in a level */
	uint8_t *h;                              /* every level, bottom up */
	uint8_t root[CRYPTO_HASH_LEN];
};

/* Formats an mbedTLS error code after what. Returns -code. */
static int crypto_fail(struct diag *d, int code, const char *what, int mret)
{
	char why[160];

	mbedtls_strerror(mret, why, sizeof(why));
	return diag_set(d, code, 0, 0, "%s: %s", what, why);
}

/* ---- Random source ---- */

int crypto_rng_new(const char *pers, struct crypto_rng **out, struct diag *d)
{
	struct crypto_rng *rng;
	int mret, r;

	rng = calloc(1, sizeof(*rng));
	if (rng == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "rng: out of memory");
	if (pthread_mutex_init(&rng->lock, NULL) != 0) {
		free(rng);
		return diag_set(d, ERR_CRYPTO, 0, 0,
		                "rng: cannot create mutex");
	}
	mbedtls_entropy_init(&rng->entropy);
	mbedtls_ctr_drbg_init(&rng->drbg);
	mret = mbedtls_ctr_drbg_seed(&rng->drbg, mbedtls_entropy_func,
	                             &rng->entropy, (const unsigned char *)pers,
	                             pers != NULL ? strlen(pers) : 0);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "rng: seeding failed", mret);
		goto out;
	}
	rng->pid = getpid();
	*out = rng;
	rng = NULL;
	r = 0;
out:
	crypto_rng_free(rng);
	return r;
}

void crypto_rng_free(struct crypto_rng *rng)
{
	if (rng == NULL)
		return;
	mbedtls_ctr_drbg_free(&rng->drbg);
	mbedtls_entropy_free(&rng->entropy);
	pthread_mutex_destroy(&rng->lock);
	free(rng);
}

int crypto_random(struct crypto_rng *rng, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t n;
	pid_t pid;
	int r = 0;

	if (pthread_mutex_lock(&rng->lock) != 0)
		return -ERR_CRYPTO;
	/* A forked child holds a copy of the parent's DRBG state: without a
	 * reseed both would emit the same "random" serials and IVs. */
	pid = getpid();
	if (pid != rng->pid) {
		if (mbedtls_ctr_drbg_reseed(&rng->drbg,
		                            (const unsigned char *)&pid,
		                            sizeof(pid)) != 0) {
			r = -ERR_CRYPTO;
			goto out;
		}
		rng->pid = pid;
	}
	/* The _with_add variant does not take the DRBG's own mutex; ours
	 * already serialises the callers. */
	while (len > 0) {
		n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST
		        ? len
		        : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		if (mbedtls_ctr_drbg_random_with_add(&rng->drbg, p, n, NULL,
		                                     0) != 0) {
			r = -ERR_CRYPTO;
			goto out;
		}
		p += n;
		len -= n;
	}
out:
	pthread_mutex_unlock(&rng->lock);
	return r;
}

/* The f_rng callback handed to mbedTLS. */
static int crypto_rng_cb(void *ctx, unsigned char *buf, size_t len)
{
	if (crypto_random(ctx, buf, len) != 0)
		return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
	return 0;
}

/* ---- Hashing, hex, comparison, wiping ---- */

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	if (mbedtls_sha256_ret(data, len, out, 0) != 0)
		return -ERR_CRYPTO;
	return 0;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                       size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	const mbedtls_md_info_t *md =
	    mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (md == NULL ||
	    mbedtls_md_hmac(md, key, key_len, data, len, out) != 0)
		return -ERR_CRYPTO;
	return 0;
}

int crypto_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm,
                       size_t ikm_len, const void *info, size_t info_len,
                       uint8_t *out, size_t out_len)
{
	const mbedtls_md_info_t *md =
	    mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (md == NULL || out_len == 0 || out_len > 255 * CRYPTO_HASH_LEN ||
	    mbedtls_hkdf(md, salt, salt_len, ikm, ikm_len, info, info_len, out,
	                 out_len) != 0)
		return -ERR_CRYPTO;
	return 0;
}

int crypto_hex(const void *data, size_t len, char *out, size_t outsize)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;
	size_t i;

	if (len > (SIZE_MAX - 1) / 2 || outsize < 2 * len + 1)
		return -ERR_TRUNC;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
	return 0;
}

static int crypto_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_unhex(const char *hex, size_t hexlen, void *out, size_t outsize,
                 size_t *outlen)
{
	uint8_t *p = out;
	size_t i;
	int hi, lo;

	if (hexlen % 2 != 0)
		return -ERR_INVALID;
	for (i = 0; i < hexlen; i++)
		if (crypto_hex_digit(hex[i]) < 0)
			return -ERR_INVALID;
	if (outsize < hexlen / 2)
		return -ERR_TRUNC;
	for (i = 0; i < hexlen / 2; i++) {
		hi = crypto_hex_digit(hex[2 * i]);
		lo = crypto_hex_digit(hex[2 * i + 1]);
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = hexlen / 2;
	return 0;
}

bool crypto_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= x[i] ^ y[i];
	return acc == 0;
}

void crypto_wipe(void *p, size_t len)
{
	if (p != NULL)
		mbedtls_platform_zeroize(p, len);
}

void crypto_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	mbedtls_platform_zeroize(p, len);
	free(p);
}

/* Copies a PEM input and NUL-terminates it, as mbedTLS's PEM parsers need
 * (the length they are given must include the NUL). Free with
 * crypto_secret_free(*out, len + 1): it may hold a private key. */
static int crypto_pem_dup(const char *pem, size_t len, const char *what,
                          unsigned char **out, struct diag *d)
{
	unsigned char *p;

	if (pem == NULL || len == 0)
		return diag_set(d, ERR_PARSE, 0, 0, "%s: empty input", what);
	if (len > CRYPTO_PEM_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "%s: %zu bytes, more than the %d allowed", what,
		                len, CRYPTO_PEM_MAX);
	p = malloc(len + 1);
	if (p == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "%s: out of memory", what);
	memcpy(p, pem, len);
	p[len] = '\0';
	*out = p;
	return 0;
}

/* Returns a malloc'd copy of the NUL-terminated string s, or NULL. */
static char *crypto_strdup(const unsigned char *s, size_t *len)
{
	size_t n = strlen((const char *)s);
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n + 1);
	*len = n;
	return p;
}

/* ---- Keys ---- */

static int crypto_key_alloc(struct crypto_key **out, struct diag *d)
{
	struct crypto_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "key: out of memory");
	mbedtls_pk_init(&k->pk);
	*out = k;
	return 0;
}

void crypto_key_free(struct crypto_key *key)
{
	if (key == NULL)
		return;
	mbedtls_pk_free(&key->pk); /* zeroizes the private scalar */
	free(key);
}

bool crypto_key_is_private(const struct crypto_key *key)
{
	const mbedtls_ecp_keypair *ec;

	if (mbedtls_pk_get_type(&key->pk) != MBEDTLS_PK_ECKEY)
		return false;
	ec = mbedtls_pk_ec(key->pk);
	return mbedtls_mpi_cmp_int(&ec->d, 0) != 0;
}

/* Accepts only EC keys on P-256. */
static int crypto_pk_check_p256(const mbedtls_pk_context *pk, const char *what,
                                struct diag *d)
{
	const mbedtls_ecp_curve_info *ci;
	mbedtls_ecp_group_id gid;

	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: a %s key; only EC P-256 is accepted", what,
		                mbedtls_pk_get_name(pk));
	gid = mbedtls_pk_ec(*pk)->grp.id;
	if (gid != MBEDTLS_ECP_DP_SECP256R1) {
		ci = mbedtls_ecp_curve_info_from_grp_id(gid);
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: an EC key on %s; only P-256 is accepted",
		                what,
		                ci != NULL ? ci->name : "an unknown curve");
	}
	return 0;
}

/* Copies the public part of src into a new key. */
static int crypto_key_from_pk(mbedtls_pk_context *src, const char *what,
                              struct crypto_key **out, struct diag *d)
{
	unsigned char der[512];
	struct crypto_key *k = NULL;
	int n, mret, r;

	if ((r = crypto_pk_check_p256(src, what, d)) != 0)
		return r;
	n = mbedtls_pk_write_pubkey_der(src, der, sizeof(der));
	if (n <= 0)
		return crypto_fail(d, ERR_CRYPTO, what, n);
	if ((r = crypto_key_alloc(&k, d)) != 0)
		return r;
	mret = mbedtls_pk_parse_public_key(&k->pk, der + sizeof(der) - n,
	                                   (size_t)n);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, what, mret);
		goto out;
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	crypto_key_free(k);
	return r;
}

int crypto_key_generate(struct crypto_rng *rng, struct crypto_key **out,
                        struct diag *d)
{
	struct crypto_key *k = NULL;
	int mret, r;

	if ((r = crypto_key_alloc(&k, d)) != 0)
		return r;
	mret = mbedtls_pk_setup(&k->pk,
	                        mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (mret == 0)
		mret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		                           mbedtls_pk_ec(k->pk), crypto_rng_cb,
		                           rng);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "key generation", mret);
		goto out;
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	crypto_key_free(k);
	return r;
}

int crypto_key_load_private(const char *pem, size_t len,
                            struct crypto_key **out, struct diag *d)
{
	struct crypto_key *k = NULL;
	unsigned char *buf = NULL;
	int mret, r;

	if ((r = crypto_pem_dup(pem, len, "private key", &buf, d)) != 0)
		return r;
	if ((r = crypto_key_alloc(&k, d)) != 0)
		goto out;
	mret = mbedtls_pk_parse_key(&k->pk, buf, len + 1, NULL, 0);
	if (mret != 0) {
		r = crypto_fail(d, ERR_PARSE, "private key", mret);
		goto out;
	}
	if ((r = crypto_pk_check_p256(&k->pk, "private key", d)) != 0)
		goto out;
	/* SEC1 files carry the public point beside the scalar, and mbedTLS
	 * takes both as they are: a damaged scalar would load, match its
	 * certificate, and sign garbage. The point must be d*G. */
	mret = mbedtls_ecp_check_pub_priv(mbedtls_pk_ec(k->pk),
	                                  mbedtls_pk_ec(k->pk));
	if (mret != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "private key: damaged (its public point does not "
		             "match its private scalar)");
		goto out;
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	crypto_key_free(k);
	crypto_secret_free(buf, len + 1);
	return r;
}

int crypto_key_load_public(const char *pem, size_t len, struct crypto_key **out,
                           struct diag *d)
{
	struct crypto_key *k = NULL;
	unsigned char *buf = NULL;
	int mret, r;

	if ((r = crypto_pem_dup(pem, len, "public key", &buf, d)) != 0)
		return r;
	if ((r = crypto_key_alloc(&k, d)) != 0)
		goto out;
	mret = mbedtls_pk_parse_public_key(&k->pk, buf, len + 1);
	if (mret != 0) {
		r = crypto_fail(d, ERR_PARSE, "public key", mret);
		goto out;
	}
	if ((r = crypto_pk_check_p256(&k->pk, "public key", d)) != 0)
		goto out;
	*out = k;
	k = NULL;
	r = 0;
out:
	crypto_key_free(k);
	crypto_secret_free(buf, len + 1);
	return r;
}

int crypto_key_write_private(struct crypto_key *key, char **pem, size_t *len,
                             struct diag *d)
{
	unsigned char buf[1024];
	size_t n = 0;
	char *p;
	int mret, r;

	if (!crypto_key_is_private(key))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "private key: this key is public only");
	mret = mbedtls_pk_write_key_pem(&key->pk, buf, sizeof(buf));
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "private key", mret);
		goto out;
	}
	if ((p = crypto_strdup(buf, &n)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "private key: out of memory");
		goto out;
	}
	*pem = p;
	if (len != NULL)
		*len = n;
	r = 0;
out:
	mbedtls_platform_zeroize(buf, sizeof(buf));
	return r;
}

int crypto_key_write_public(struct crypto_key *key, char **pem, size_t *len,
                            struct diag *d)
{
	unsigned char buf[512];
	size_t n = 0;
	char *p;
	int mret;

	mret = mbedtls_pk_write_pubkey_pem(&key->pk, buf, sizeof(buf));
	if (mret != 0)
		return crypto_fail(d, ERR_CRYPTO, "public key", mret);
	if ((p = crypto_strdup(buf, &n)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0,
		                "public key: out of memory");
	*pem = p;
	if (len != NULL)
		*len = n;
	return 0;
}

int crypto_key_id(struct crypto_key *key, char out[CRYPTO_HEX_LEN + 1])
{
	unsigned char der[512];
	uint8_t h[CRYPTO_HASH_LEN];
	int n;

	n = mbedtls_pk_write_pubkey_der(&key->pk, der, sizeof(der));
	if (n <= 0)
		return -ERR_CRYPTO;
	if (crypto_sha256(der + sizeof(der) - n, (size_t)n, h) != 0)
		return -ERR_CRYPTO;
	return crypto_hex(h, sizeof(h), out, CRYPTO_HEX_LEN + 1);
}

/* ---- Names and times ---- */

/*
 * A CN or O value: 1..64 printable ASCII bytes, without the characters that
 * are special in mbedTLS's or RFC 4514's DN strings, and without leading or
 * trailing spaces. mbedTLS 2.28 can only escape ',', so the rest are refused.
 */
static int crypto_name_check(const char *s, const char *what, struct diag *d)
{
	size_t i, n;

	if (s == NULL || *s == '\0')
		return diag_set(d, ERR_INVALID, 0, 0, "%s: empty", what);
	n = strlen(s);
	if (n > CRYPTO_CN_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: %zu bytes, more than %d", what, n,
		                CRYPTO_CN_MAX);
	if (s[0] == ' ' || s[n - 1] == ' ')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: \"%s\" starts or ends with a space", what,
		                s);
	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e ||
		    strchr(",+=\\\"<>;#", s[i]) != NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: character %zu (0x%02x) is not "
			                "allowed in a name",
			                what, i + 1, (unsigned char)s[i]);
	}
	return 0;
}

/* Builds "O=org,CN=cn" (CN last: see libwebsockets' COMMON_NAME, G2). */
static int crypto_dn(const char *cn, const char *org, char *out, size_t outsize,
                     struct diag *d)
{
	int r, w;

	if ((r = crypto_name_check(cn, "subject CN", d)) != 0)
		return r;
	if (org != NULL && (r = crypto_name_check(org, "subject O", d)) != 0)
		return r;
	if (org != NULL)
		w = snprintf(out, outsize, "O=%s,CN=%s", org, cn);
	else
		w = snprintf(out, outsize, "CN=%s", cn);
	if (w < 0 || (size_t)w >= outsize)
		return diag_set(d, ERR_TRUNC, 0, 0, "subject: too long");
	return 0;
}

/* Formats tm as mbedTLS's "YYYYMMDDhhmmss". */
static int crypto_time_str(const struct tm *tm, char *out, size_t outsize,
                           struct diag *d)
{
	int w;

	if (tm->tm_year + 1900 < 1950 || tm->tm_year + 1900 > 9999)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "validity: year %d is out of range",
		                tm->tm_year + 1900);
	w = snprintf(out, outsize, "%04d%02d%02d%02d%02d%02d",
	             tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
	             tm->tm_hour, tm->tm_min, tm->tm_sec);
	if (w != 14)
		return diag_set(d, ERR_INVALID, 0, 0, "validity: bad time");
	return 0;
}

static int crypto_time_at(time_t t, char *out, size_t outsize, struct diag *d)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "validity: time out of range");
	return crypto_time_str(&tm, out, outsize, d);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long crypto_days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static time_t crypto_time_from_x509(const mbedtls_x509_time *t)
{
	long long days;

	days =
	    crypto_days_from_civil(t->year, (unsigned)t->mon, (unsigned)t->day);
	return (time_t)(days * 86400 + t->hour * 3600 + t->min * 60 + t->sec);
}

/* ---- DER for the extensions mbedTLS 2.28 cannot write ---- */

/* Appends tag, the DER length of len (long form above 127) and v. */
static int crypto_der_tlv(struct buf *b, uint8_t tag, const void *v, size_t len)
{
	uint8_t hdr[2 + sizeof(size_t)];
	size_t n = 0, nb = 0, x;
	int r;

	hdr[n++] = tag;
	if (len < 0x80) {
		hdr[n++] = (uint8_t)len;
	} else {
		for (x = len; x != 0; x >>= 8)
			nb++;
		hdr[n++] = (uint8_t)(0x80 | nb);
		while (nb > 0) {
			nb--;
			hdr[n++] = (uint8_t)(len >> (8 * nb));
		}
	}
	if ((r = buf_append(b, hdr, n)) != 0)
		return r;
	return buf_append(b, v, len);
}

/* A DNS name: LDH labels of 1..63, 253 bytes in all. */
static bool crypto_dns_ok(const char *s)
{
	size_t n = strlen(s), i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (label == 0 && s[i] == '-')
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
		label++;
	}
	return true;
}

/* Appends one GeneralName: dNSName [2] or iPAddress [7]. */
static int crypto_san_entry(struct buf *b, const char *name, struct diag *d)
{
	const char *v = name;
	bool want_dns = false, want_ip = false;
	uint8_t ip[16];

	if (strncmp(v, "DNS:", 4) == 0) {
		want_dns = true;
		v += 4;
	} else if (strncmp(v, "IP:", 3) == 0) {
		want_ip = true;
		v += 3;
	}
	if (!want_dns) {
		if (inet_pton(AF_INET, v, ip) == 1)
			return crypto_der_tlv(b, 0x87, ip, 4);
		if (inet_pton(AF_INET6, v, ip) == 1)
			return crypto_der_tlv(b, 0x87, ip, 16);
		if (want_ip)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "subjectAltName \"%s\": not an IPv4 or "
			                "IPv6 address",
			                name);
	}
	if (!crypto_dns_ok(v))
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "subjectAltName \"%s\": not a DNS name or an IP "
		    "address",
		    name);
	return crypto_der_tlv(b, 0x82, v, strlen(v));
}

int crypto_san_der(const char *const *names, size_t n, uint8_t **der,
                   size_t *len, struct diag *d)
{
	struct buf inner = BUF_INIT, outer = BUF_INIT;
	size_t i, olen;
	char *p;
	int r;

	if (n == 0 || n > CRYPTO_SAN_MAX || names == NULL) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "subjectAltName: %zu names, want 1 to %d", n,
		             CRYPTO_SAN_MAX);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (names[i] == NULL) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "subjectAltName: name %zu is missing",
			             i + 1);
			goto out;
		}
		if ((r = crypto_san_entry(&inner, names[i], d)) != 0)
			goto out;
	}
	if ((r = crypto_der_tlv(&outer, 0x30, inner.data, inner.len)) != 0)
		goto out;
	if ((p = buf_steal(&outer, &olen)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	*der = (uint8_t *)p;
	*len = olen;
	r = 0;
out:
	if (r == -ERR_NOMEM)
		diag_set(d, ERR_NOMEM, 0, 0, "subjectAltName: out of memory");
	buf_free(&inner);
	buf_free(&outer);
	return r;
}

/* ExtKeyUsageSyntax ::= SEQUENCE { KeyPurposeId }: 30 0a 06 08 <oid>. */
static size_t crypto_eku_der(enum crypto_purpose purpose, uint8_t out[16])
{
	static const char server[] = MBEDTLS_OID_SERVER_AUTH;
	static const char client[] = MBEDTLS_OID_CLIENT_AUTH;
	const char *oid = purpose == CRYPTO_PURPOSE_SERVER ? server : client;
	size_t n = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);

	out[0] = MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED;
	out[1] = (uint8_t)(n + 2);
	out[2] = MBEDTLS_ASN1_OID;
	out[3] = (uint8_t)n;
	memcpy(out + 4, oid, n);
	return n + 4;
}

/* ---- Certificate writing ---- */

struct crypto_crt_params {
	mbedtls_pk_context *subject_key;
	mbedtls_pk_context *issuer_key;
	const char *subject_dn;
	const mbedtls_x509_name *issuer; /* NULL: self-signed */
	const char *not_before;          /* YYYYMMDDhhmmss */
	const char *not_after;
	bool ca;
	enum crypto_purpose purpose;
	const uint8_t *san; /* DER, or NULL */
	size_t sanlen;
};

/* A random positive serial: 16 octets, top bit clear, never zero. */
static int crypto_serial_new(struct crypto_rng *rng, mbedtls_mpi *serial,
                             struct diag *d)
{
	uint8_t b[CRYPTO_SERIAL_LEN];
	uint8_t any = 0;
	size_t i;
	int mret;

	if (crypto_random(rng, b, sizeof(b)) != 0)
		return diag_set(d, ERR_CRYPTO, 0, 0, "serial: rng failed");
	b[0] &= 0x7f;
	for (i = 0; i < sizeof(b); i++)
		any |= b[i];
	if (any == 0)
		b[sizeof(b) - 1] = 1;
	mret = mbedtls_mpi_read_binary(serial, b, sizeof(b));
	if (mret != 0)
		return crypto_fail(d, ERR_CRYPTO, "serial", mret);
	return 0;
}

/*
 * Copies the CA's subject into the writer's issuer name, attribute for
 * attribute with its string type, so that the issuer DN matches the CA's
 * subject exactly. mbedTLS's named-data list keeps one value per attribute
 * type, so a CA name that repeats a type or has a multi-valued RDN is
 * refused rather than silently changed.
 */
static int crypto_issuer_copy(mbedtls_x509write_cert *w,
                              const mbedtls_x509_name *subject, struct diag *d)
{
	const mbedtls_x509_name *a, *b;
	mbedtls_asn1_named_data *cur;

	if (subject == NULL || subject->oid.p == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "CA certificate: empty subject");
	for (a = subject; a != NULL; a = a->next) {
		if (a->next_merged)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "CA certificate: multi-valued RDN in "
			                "the subject is not supported");
		for (b = subject; b != a; b = b->next)
			if (b->oid.len == a->oid.len &&
			    memcmp(b->oid.p, a->oid.p, a->oid.len) == 0)
				return diag_set(
				    d, ERR_INVALID, 0, 0,
				    "CA certificate: repeated "
				    "attribute in the subject is not "
				    "supported");
		cur = mbedtls_asn1_store_named_data(
		    &w->issuer, (const char *)a->oid.p, a->oid.len, a->val.p,
		    a->val.len);
		if (cur == NULL)
			return diag_set(d, ERR_NOMEM, 0, 0,
			                "CA certificate: out of memory");
		cur->val.tag = a->val.tag;
	}
	return 0;
}

/* Writes and signs a certificate. Returns 0 with *pem (caller frees). */
static int crypto_crt_write(struct crypto_rng *rng,
                            const struct crypto_crt_params *p, char **pem,
                            size_t *len, struct diag *d)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	unsigned char *buf = NULL;
	uint8_t eku[16];
	size_t size, ekulen;
	int mret, r;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, p->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, p->issuer_key);
	if ((r = crypto_serial_new(rng, &serial, d)) != 0)
		goto out;
	if ((mret = mbedtls_x509write_crt_set_serial(&w, &serial)) != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "certificate serial", mret);
		goto out;
	}
	mret =
	    mbedtls_x509write_crt_set_validity(&w, p->not_before, p->not_after);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "certificate validity", mret);
		goto out;
	}
	mret = mbedtls_x509write_crt_set_subject_name(&w, p->subject_dn);
	if (mret != 0) {
		r = crypto_fail(d, ERR_INVALID, "certificate subject", mret);
		goto out;
	}
	if (p->issuer != NULL) {
		if ((r = crypto_issuer_copy(&w, p->issuer, d)) != 0)
			goto out;
	} else {
		mret = mbedtls_x509write_crt_set_issuer_name(&w, p->subject_dn);
		if (mret != 0) {
			r = crypto_fail(d, ERR_INVALID, "certificate issuer",
			                mret);
			goto out;
		}
	}
	/* basicConstraints is critical exactly when CA is TRUE (mbedTLS
	 * passes is_ca as the critical flag); keyUsage is always critical. */
	mret = mbedtls_x509write_crt_set_basic_constraints(&w, p->ca ? 1 : 0,
	                                                   p->ca ? 0 : -1);
	if (mret == 0)
		mret = mbedtls_x509write_crt_set_subject_key_identifier(&w);
	if (mret == 0)
		mret = mbedtls_x509write_crt_set_authority_key_identifier(&w);
	if (mret == 0)
		mret = mbedtls_x509write_crt_set_key_usage(
		    &w, p->ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN |
		                    MBEDTLS_X509_KU_CRL_SIGN
		              : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	if (mret == 0 && p->purpose != CRYPTO_PURPOSE_ANY) {
		ekulen = crypto_eku_der(p->purpose, eku);
		mret = mbedtls_x509write_crt_set_extension(
		    &w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku,
		    ekulen);
	}
	if (mret == 0 && p->san != NULL)
		mret = mbedtls_x509write_crt_set_extension(
		    &w, MBEDTLS_OID_SUBJECT_ALT_NAME,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p->san,
		    p->sanlen);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "certificate extensions", mret);
		goto out;
	}
	/* Base64 grows the DER by 4/3 plus a newline every 64 characters. */
	size = 4096 + 2 * p->sanlen;
	if ((buf = malloc(size)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "certificate: out of memory");
		goto out;
	}
	mret = mbedtls_x509write_crt_pem(&w, buf, size, crypto_rng_cb, rng);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "certificate signing", mret);
		goto out;
	}
	*len = strlen((const char *)buf);
	*pem = (char *)buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&w);
	return r;
}

/* ---- Certificate reading ---- */

/* Parses pem into crt (initialised by the caller); one: exactly one. */
static int crypto_crt_load(const char *pem, size_t len, const char *what,
                           bool one, mbedtls_x509_crt *crt, struct diag *d)
{
	unsigned char *buf = NULL;
	int mret, r;

	if ((r = crypto_pem_dup(pem, len, what, &buf, d)) != 0)
		return r;
	if (strstr((const char *)buf, "-----BEGIN CERTIFICATE-----") == NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0, "%s: no PEM certificate",
		             what);
		goto out;
	}
	/* A positive result counts the certificates that failed to parse. */
	mret = mbedtls_x509_crt_parse(crt, buf, len + 1);
	if (mret < 0) {
		r = crypto_fail(d, ERR_PARSE, what, mret);
		goto out;
	}
	if (mret > 0) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "%s: %d certificate(s) do not parse", what, mret);
		goto out;
	}
	if (one && crt->next != NULL) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: more than one certificate", what);
		goto out;
	}
	r = 0;
out:
	crypto_secret_free(buf, len + 1);
	return r;
}

/* Copies the subject's one CN, printable, into out ("" when absent); what
 * names the certificate or CSR in d. */
static int crypto_crt_cn(const mbedtls_x509_name *name, const char *what,
                         char *out, size_t outsize, struct diag *d)
{
	const mbedtls_x509_name *found = NULL;
	size_t i;

	for (; name != NULL; name = name->next) {
		if (name->oid.p == NULL ||
		    MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) != 0)
			continue;
		if (found != NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: more than one CN", what);
		found = name;
	}
	if (found == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (found->val.len >= outsize)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: CN of %zu bytes is too long", what,
		                found->val.len);
	for (i = 0; i < found->val.len; i++)
		if (found->val.p[i] < 0x20 || found->val.p[i] == 0x7f)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: CN holds a control character",
			                what);
	memcpy(out, found->val.p, found->val.len);
	out[found->val.len] = '\0';
	return 0;
}

static int crypto_crt_info(const mbedtls_x509_crt *crt,
                           struct crypto_cert_info *out, struct diag *d)
{
	struct crypto_cert_info info;
	uint8_t h[CRYPTO_HASH_LEN];
	const uint8_t *s = crt->serial.p;
	size_t n = crt->serial.len;
	int r;

	memset(&info, 0, sizeof(info));
	if (n > 0 && (s[0] & 0x80) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "certificate: negative serial number");
	while (n > 0 && s[0] == 0) {
		s++;
		n--;
	}
	if (n > CRYPTO_SERIAL_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "certificate: serial of %zu octets, more than "
		                "%d",
		                n, CRYPTO_SERIAL_MAX);
	if (n == 0)
		memcpy(info.serial, "0", 2);
	else if (crypto_hex(s, n, info.serial, sizeof(info.serial)) != 0)
		return diag_set(d, ERR_INTERNAL, 0, 0, "certificate: serial");
	if (crypto_sha256(crt->raw.p, crt->raw.len, h) != 0 ||
	    crypto_hex(h, sizeof(h), info.fingerprint,
	               sizeof(info.fingerprint)) != 0)
		return diag_set(d, ERR_CRYPTO, 0, 0,
		                "certificate: fingerprint");
	if ((r = crypto_crt_cn(&crt->subject, "certificate", info.cn,
	                       sizeof(info.cn), d)) != 0)
		return r;
	info.not_before = crypto_time_from_x509(&crt->valid_from);
	info.not_after = crypto_time_from_x509(&crt->valid_to);
	info.is_ca = crt->ca_istrue != 0;
	*out = info;
	return 0;
}

int crypto_cert_parse(const char *pem, size_t len,
                      struct crypto_cert_info *info, struct crypto_key **pub,
                      struct diag *d)
{
	mbedtls_x509_crt crt;
	struct crypto_cert_info i;
	struct crypto_key *k = NULL;
	int r;

	mbedtls_x509_crt_init(&crt);
	if ((r = crypto_crt_load(pem, len, "certificate", true, &crt, d)) != 0)
		goto out;
	if ((r = crypto_crt_info(&crt, &i, d)) != 0)
		goto out;
	if (pub != NULL &&
	    (r = crypto_key_from_pk(&crt.pk, "certificate key", &k, d)) != 0)
		goto out;
	if (info != NULL)
		*info = i;
	if (pub != NULL)
		*pub = k;
	r = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return r;
}

/* Joins mbedTLS's one-reason-per-line verify text with "; ". */
static void crypto_verify_reasons(uint32_t flags, char *out, size_t outsize)
{
	char raw[512];
	size_t i, o = 0;
	bool sep = false;
	int n;

	n = mbedtls_x509_crt_verify_info(raw, sizeof(raw), "", flags);
	if (n <= 0) {
		snprintf(out, outsize, "flags 0x%08x", (unsigned)flags);
		return;
	}
	for (i = 0; raw[i] != '\0' && o + 3 < outsize; i++) {
		if (raw[i] == '\n') {
			sep = true;
			continue;
		}
		if (sep) {
			out[o++] = ';';
			out[o++] = ' ';
			sep = false;
		}
		out[o++] = raw[i];
	}
	out[o] = '\0';
}

int crypto_cert_verify(const char *pem, size_t len, const char *ca_pem,
                       size_t ca_len, enum crypto_purpose purpose,
                       struct diag *d)
{
	mbedtls_x509_crt crt, ca;
	char cn[CRYPTO_CN_MAX + 1], why[400];
	const char *oid = NULL;
	size_t oidlen = 0;
	uint32_t flags = 0;
	int mret, r;

	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&ca);
	if ((r = crypto_crt_load(pem, len, "certificate", true, &crt, d)) != 0)
		goto out;
	if ((r = crypto_crt_load(ca_pem, ca_len, "CA certificate", false, &ca,
	                         d)) != 0)
		goto out;
	if (crypto_crt_cn(&crt.subject, "certificate", cn, sizeof(cn), NULL) !=
	    0)
		memcpy(cn, "?", 2);
	mret =
	    mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
	if (mret != 0) {
		if (flags != 0) {
			crypto_verify_reasons(flags, why, sizeof(why));
			r = diag_set(d, ERR_VERIFY, 0, 0,
			             "certificate CN=%s: %s", cn, why);
		} else {
			r = crypto_fail(d, ERR_VERIFY, "certificate", mret);
		}
		goto out;
	}
	if (purpose == CRYPTO_PURPOSE_CLIENT) {
		oid = MBEDTLS_OID_CLIENT_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
	} else if (purpose == CRYPTO_PURPOSE_SERVER) {
		oid = MBEDTLS_OID_SERVER_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
	}
	if (oid != NULL && (mbedtls_x509_crt_check_key_usage(
	                        &crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
	                    mbedtls_x509_crt_check_extended_key_usage(
	                        &crt, oid, oidlen) != 0)) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "certificate CN=%s: not usable for a TLS %s", cn,
		             purpose == CRYPTO_PURPOSE_CLIENT ? "client"
		                                              : "server");
		goto out;
	}
	r = 0;
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	return r;
}

static int crypto_cert_fp_raw(const char *pem, size_t len,
                              uint8_t out[CRYPTO_HASH_LEN], struct diag *d)
{
	mbedtls_x509_crt crt;
	uint8_t h[CRYPTO_HASH_LEN];
	int r;

	mbedtls_x509_crt_init(&crt);
	if ((r = crypto_crt_load(pem, len, "certificate", true, &crt, d)) != 0)
		goto out;
	if (crypto_sha256(crt.raw.p, crt.raw.len, h) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "certificate: fingerprint");
		goto out;
	}
	memcpy(out, h, sizeof(h));
	r = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return r;
}

int crypto_cert_fingerprint(const char *pem, size_t len,
                            char out[CRYPTO_HEX_LEN + 1], struct diag *d)
{
	uint8_t h[CRYPTO_HASH_LEN];
	int r;

	if ((r = crypto_cert_fp_raw(pem, len, h, d)) != 0)
		return r;
	return crypto_hex(h, sizeof(h), out, CRYPTO_HEX_LEN + 1);
}

int crypto_cert_pin_check(const char *pem, size_t len, const char *pin,
                          struct diag *d)
{
	uint8_t want[CRYPTO_HASH_LEN], have[CRYPTO_HASH_LEN];
	size_t n = 0;
	int r;

	if (pin == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "CA pin: missing");
	if (strncasecmp(pin, "sha256:", 7) == 0)
		pin += 7;
	if (strlen(pin) != CRYPTO_HEX_LEN ||
	    crypto_unhex(pin, CRYPTO_HEX_LEN, want, sizeof(want), &n) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "CA pin: want sha256: and 64 hex digits");
	if ((r = crypto_cert_fp_raw(pem, len, have, d)) != 0)
		return r;
	if (!crypto_ct_equal(want, have, sizeof(have)))
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "CA certificate does not match the pinned "
		                "SHA-256 fingerprint");
	return 0;
}

/* ---- Certificate creation ---- */

int crypto_ca_create(struct crypto_rng *rng, struct crypto_key *key,
                     const struct crypto_ca_req *req, char **pem, size_t *len,
                     struct diag *d)
{
	struct crypto_crt_params p;
	char dn[CRYPTO_DN_MAX], nb[16], na[16];
	struct tm tm;
	time_t now;
	size_t n = 0;
	int r;

	if (!crypto_key_is_private(key))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "CA: the key is public only");
	if ((r = crypto_pk_check_p256(&key->pk, "CA key", d)) != 0)
		return r;
	if (req->years < 1 || req->years > 100)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "CA: validity of %u years, want 1 to 100",
		                req->years);
	if ((r = crypto_dn(req->cn, req->org, dn, sizeof(dn), d)) != 0)
		return r;
	now = req->now != 0 ? req->now : time(NULL);
	if ((r = crypto_time_at(now - CRYPTO_SKEW, nb, sizeof(nb), d)) != 0)
		return r;
	if (gmtime_r(&now, &tm) == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "CA: bad time");
	/* Whole calendar years; 29 February lands on the 28th. */
	tm.tm_year += (int)req->years;
	if (tm.tm_mon == 1 && tm.tm_mday == 29)
		tm.tm_mday = 28;
	if ((r = crypto_time_str(&tm, na, sizeof(na), d)) != 0)
		return r;
	memset(&p, 0, sizeof(p));
	p.subject_key = &key->pk;
	p.issuer_key = &key->pk;
	p.subject_dn = dn;
	p.not_before = nb;
	p.not_after = na;
	p.ca = true;
	p.purpose = CRYPTO_PURPOSE_ANY;
	if ((r = crypto_crt_write(rng, &p, pem, &n, d)) != 0)
		return r;
	if (len != NULL)
		*len = n;
	return 0;
}

int crypto_cert_issue(struct crypto_rng *rng, struct crypto_key *ca_key,
                      const char *ca_pem, size_t ca_len,
                      struct crypto_key *subject,
                      const struct crypto_cert_req *req, char **pem,
                      size_t *len, struct crypto_cert_info *info,
                      struct diag *d)
{
	struct crypto_crt_params p;
	struct crypto_cert_info ci;
	mbedtls_x509_crt ca;
	char dn[CRYPTO_DN_MAX], nb[16], na[16];
	uint8_t *san = NULL;
	size_t sanlen = 0, n = 0;
	char *out = NULL;
	time_t now;
	int r;

	mbedtls_x509_crt_init(&ca);
	if (!crypto_key_is_private(ca_key)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "issue: the CA key is public only");
		goto out;
	}
	if ((r = crypto_pk_check_p256(&ca_key->pk, "CA key", d)) != 0 ||
	    (r = crypto_pk_check_p256(&subject->pk, "subject key", d)) != 0)
		goto out;
	if (req->days < 1 || req->days > 36500) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "issue: validity of %u days, want 1 to 36500",
		             req->days);
		goto out;
	}
	if (req->purpose != CRYPTO_PURPOSE_ANY &&
	    req->purpose != CRYPTO_PURPOSE_CLIENT &&
	    req->purpose != CRYPTO_PURPOSE_SERVER) {
		r = diag_set(d, ERR_INVALID, 0, 0, "issue: unknown purpose");
		goto out;
	}
	if ((r = crypto_dn(req->cn, req->org, dn, sizeof(dn), d)) != 0)
		goto out;
	if (req->nsan > 0 &&
	    (r = crypto_san_der(req->san, req->nsan, &san, &sanlen, d)) != 0)
		goto out;
	now = req->now != 0 ? req->now : time(NULL);
	if ((r = crypto_time_at(now - CRYPTO_SKEW, nb, sizeof(nb), d)) != 0 ||
	    (r = crypto_time_at(now + (time_t)req->days * 86400, na, sizeof(na),
	                        d)) != 0)
		goto out;
	if ((r = crypto_crt_load(ca_pem, ca_len, "CA certificate", true, &ca,
	                         d)) != 0)
		goto out;
	if (!ca.ca_istrue) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "CA certificate: not a CA (basicConstraints)");
		goto out;
	}
	/* A private crypto_key's point is d*G (crypto_key_generate(), and
	 * crypto_key_load_private() checks it): equal points on P-256 are a
	 * matching pair, without mbedtls_pk_check_pair() computing d*G again
	 * on every certificate (the dearest step of an enrollment after the
	 * two signatures and the CSR's verification). */
	if ((r = crypto_pk_check_p256(&ca.pk, "CA certificate", d)) != 0)
		goto out;
	if (mbedtls_ecp_point_cmp(&mbedtls_pk_ec(ca.pk)->Q,
	                          &mbedtls_pk_ec(ca_key->pk)->Q) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "CA key does not match the CA certificate");
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.subject_key = &subject->pk;
	p.issuer_key = &ca_key->pk;
	p.subject_dn = dn;
	p.issuer = &ca.subject;
	p.not_before = nb;
	p.not_after = na;
	p.ca = false;
	p.purpose = req->purpose;
	p.san = san;
	p.sanlen = sanlen;
	if ((r = crypto_crt_write(rng, &p, &out, &n, d)) != 0)
		goto out;
	if (info != NULL && (r = crypto_cert_parse(out, n, &ci, NULL, d)) != 0)
		goto out;
	*pem = out;
	out = NULL;
	if (len != NULL)
		*len = n;
	if (info != NULL)
		*info = ci;
	r = 0;
out:
	free(out);
	free(san);
	mbedtls_x509_crt_free(&ca);
	return r;
}

/* ---- Certificate signing requests ---- */

int crypto_csr_create(struct crypto_rng *rng, struct crypto_key *key,
                      const char *cn, char **pem, size_t *len, struct diag *d)
{
	mbedtls_x509write_csr w;
	unsigned char buf[4096];
	char dn[CRYPTO_DN_MAX];
	size_t n = 0;
	char *p;
	int mret, r;

	mbedtls_x509write_csr_init(&w);
	if (!crypto_key_is_private(key)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "CSR: the key is public only");
		goto out;
	}
	if ((r = crypto_dn(cn, NULL, dn, sizeof(dn), d)) != 0)
		goto out;
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&w, &key->pk);
	if ((mret = mbedtls_x509write_csr_set_subject_name(&w, dn)) != 0) {
		r = crypto_fail(d, ERR_INVALID, "CSR subject", mret);
		goto out;
	}
	mret =
	    mbedtls_x509write_csr_pem(&w, buf, sizeof(buf), crypto_rng_cb, rng);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "CSR", mret);
		goto out;
	}
	if ((p = crypto_strdup(buf, &n)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "CSR: out of memory");
		goto out;
	}
	*pem = p;
	if (len != NULL)
		*len = n;
	r = 0;
out:
	mbedtls_x509write_csr_free(&w);
	return r;
}

int crypto_csr_parse(const char *pem, size_t len, struct crypto_key **pub,
                     struct diag *d)
{
	return crypto_csr_parse_cn(pem, len, pub, NULL, d);
}

int crypto_csr_parse_cn(const char *pem, size_t len, struct crypto_key **pub,
                        char *cn, struct diag *d)
{
	mbedtls_x509_csr csr;
	const mbedtls_md_info_t *md;
	unsigned char *buf = NULL;
	uint8_t hash[MBEDTLS_MD_MAX_SIZE];
	int mret, r;

	mbedtls_x509_csr_init(&csr);
	if ((r = crypto_pem_dup(pem, len, "CSR", &buf, d)) != 0)
		goto out;
	if (strstr((const char *)buf, "-----BEGIN CERTIFICATE REQUEST-----") ==
	    NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0, "CSR: no PEM request");
		goto out;
	}
	if ((mret = mbedtls_x509_csr_parse(&csr, buf, len + 1)) != 0) {
		r = crypto_fail(d, ERR_PARSE, "CSR", mret);
		goto out;
	}
	if ((r = crypto_pk_check_p256(&csr.pk, "CSR", d)) != 0)
		goto out;
	if (csr.sig_pk != MBEDTLS_PK_ECDSA) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "CSR: not signed with ECDSA");
		goto out;
	}
	if (csr.sig_md != MBEDTLS_MD_SHA256 &&
	    csr.sig_md != MBEDTLS_MD_SHA384 &&
	    csr.sig_md != MBEDTLS_MD_SHA512) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "CSR: signature hash is not SHA-256/384/512");
		goto out;
	}
	/* mbedtls_x509_csr_parse() never checks the self-signature: the
	 * proof that the requester holds the private key is done here. */
	md = mbedtls_md_info_from_type(csr.sig_md);
	if (md == NULL || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "CSR: cannot hash");
		goto out;
	}
	mret = mbedtls_pk_verify_ext(csr.sig_pk, csr.sig_opts, &csr.pk,
	                             csr.sig_md, hash, mbedtls_md_get_size(md),
	                             csr.sig.p, csr.sig.len);
	if (mret != 0) {
		r = diag_set(
		    d, ERR_VERIFY, 0, 0,
		    "CSR: the signature does not match its public key");
		goto out;
	}
	if (cn != NULL && (r = crypto_crt_cn(&csr.subject, "CSR", cn,
	                                     CRYPTO_CN_MAX + 1, d)) != 0)
		goto out;
	r = crypto_key_from_pk(&csr.pk, "CSR key", pub, d);
out:
	mbedtls_x509_csr_free(&csr);
	crypto_secret_free(buf, len + 1);
	return r;
}

/* ---- Signatures ---- */

int crypto_sign(struct crypto_key *key, struct crypto_rng *rng,
                const void *data, size_t len, uint8_t sig[CRYPTO_SIG_MAX],
                size_t *siglen, struct diag *d)
{
	uint8_t hash[CRYPTO_HASH_LEN];
	/* 2.28's mbedtls_pk_sign() takes no output size: give it room for
	 * the largest curve it knows, then check ours fits. */
	unsigned char buf[MBEDTLS_ECDSA_MAX_LEN];
	size_t n = 0;
	int mret;

	if (!crypto_key_is_private(key))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "sign: the key is public only");
	if (crypto_sha256(data, len, hash) != 0)
		return diag_set(d, ERR_CRYPTO, 0, 0, "sign: cannot hash");
	mret = mbedtls_pk_sign(&key->pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
	                       buf, &n, crypto_rng_cb, rng);
	if (mret != 0)
		return crypto_fail(d, ERR_CRYPTO, "sign", mret);
	if (n == 0 || n > CRYPTO_SIG_MAX)
		return diag_set(d, ERR_INTERNAL, 0, 0,
		                "sign: signature of %zu bytes", n);
	memcpy(sig, buf, n);
	*siglen = n;
	return 0;
}

int crypto_verify(struct crypto_key *key, const void *data, size_t len,
                  const uint8_t *sig, size_t siglen, struct diag *d)
{
	uint8_t hash[CRYPTO_HASH_LEN];

	if (sig == NULL || siglen == 0 || siglen > CRYPTO_SIG_MAX)
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "signature: %zu bytes is not a P-256 signature",
		                siglen);
	if (crypto_sha256(data, len, hash) != 0)
		return diag_set(d, ERR_CRYPTO, 0, 0, "verify: cannot hash");
	if (mbedtls_pk_verify(&key->pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
	                      sig, siglen) != 0)
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "signature does not verify");
	return 0;
}

/* ---- Sealing ---- */

int crypto_seal(struct crypto_rng *rng, const uint8_t key[CRYPTO_SEAL_KEY_LEN],
                const void *aad, size_t aadlen, const void *pt, size_t ptlen,
                uint8_t **out, size_t *outlen, struct diag *d)
{
	mbedtls_gcm_context gcm;
	uint8_t *buf = NULL;
	int mret, r;

	mbedtls_gcm_init(&gcm);
	if (ptlen > CRYPTO_SEAL_MAX || aadlen > CRYPTO_AAD_MAX) {
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "seal: %zu bytes (aad %zu) is too large", ptlen,
		             aadlen);
		goto out;
	}
	if ((buf = malloc(ptlen + CRYPTO_SEAL_OVERHEAD)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "seal: out of memory");
		goto out;
	}
	if (crypto_random(rng, buf, CRYPTO_SEAL_IV_LEN) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "seal: rng failed");
		goto out;
	}
	mret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key,
	                          CRYPTO_SEAL_KEY_LEN * 8);
	if (mret == 0)
		mret = mbedtls_gcm_crypt_and_tag(
		    &gcm, MBEDTLS_GCM_ENCRYPT, ptlen, buf, CRYPTO_SEAL_IV_LEN,
		    aad, aadlen, pt, buf + CRYPTO_SEAL_IV_LEN,
		    CRYPTO_SEAL_TAG_LEN, buf + CRYPTO_SEAL_IV_LEN + ptlen);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "seal", mret);
		goto out;
	}
	*out = buf;
	*outlen = ptlen + CRYPTO_SEAL_OVERHEAD;
	buf = NULL;
	r = 0;
out:
	free(buf);
	mbedtls_gcm_free(&gcm);
	return r;
}

int crypto_open(const uint8_t key[CRYPTO_SEAL_KEY_LEN], const void *aad,
                size_t aadlen, const void *in, size_t inlen, uint8_t **pt,
                size_t *ptlen, struct diag *d)
{
	const uint8_t *p = in;
	mbedtls_gcm_context gcm;
	uint8_t *buf = NULL;
	size_t n = 0;
	int mret, r;

	mbedtls_gcm_init(&gcm);
	if (inlen < CRYPTO_SEAL_OVERHEAD) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "open: %zu bytes is too short for a sealed value",
		             inlen);
		goto out;
	}
	n = inlen - CRYPTO_SEAL_OVERHEAD;
	if (n > CRYPTO_SEAL_MAX || aadlen > CRYPTO_AAD_MAX) {
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "open: %zu bytes (aad %zu) is too large", n,
		             aadlen);
		goto out;
	}
	if ((buf = malloc(n + 1)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "open: out of memory");
		goto out;
	}
	mret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key,
	                          CRYPTO_SEAL_KEY_LEN * 8);
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "open", mret);
		goto out;
	}
	mret = mbedtls_gcm_auth_decrypt(&gcm, n, p, CRYPTO_SEAL_IV_LEN, aad,
	                                aadlen, p + CRYPTO_SEAL_IV_LEN + n,
	                                CRYPTO_SEAL_TAG_LEN,
	                                p + CRYPTO_SEAL_IV_LEN, buf);
	if (mret == MBEDTLS_ERR_GCM_AUTH_FAILED) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "open: authentication failed (wrong key, record "
		             "or data)");
		goto out;
	}
	if (mret != 0) {
		r = crypto_fail(d, ERR_CRYPTO, "open", mret);
		goto out;
	}
	buf[n] = '\0';
	*pt = buf;
	*ptlen = n;
	buf = NULL;
	r = 0;
out:
	crypto_secret_free(buf, n + 1);
	mbedtls_gcm_free(&gcm);
	return r;
}

/* ---- Merkle tree ---- */

int crypto_merkle_leaf_hash(const void *data, size_t len,
                            uint8_t out[CRYPTO_HASH_LEN])
{
	static const unsigned char prefix = 0x00;
	mbedtls_sha256_context c;
	int r = 0;

	mbedtls_sha256_init(&c);
	if (mbedtls_sha256_starts_ret(&c, 0) != 0 ||
	    mbedtls_sha256_update_ret(&c, &prefix, 1) != 0 ||
	    mbedtls_sha256_update_ret(&c, data, len) != 0 ||
	    mbedtls_sha256_finish_ret(&c, out) != 0)
		r = -ERR_CRYPTO;
	mbedtls_sha256_free(&c);
	return r;
}

/* out = SHA-256(0x01 || left || right); out may alias neither input. */
static int crypto_merkle_node(const uint8_t *left, const uint8_t *right,
                              uint8_t *out)
{
	uint8_t b[1 + 2 * CRYPTO_HASH_LEN];

	b[0] = 0x01;
	memcpy(b + 1, left, CRYPTO_HASH_LEN);
	memcpy(b + 1 + CRYPTO_HASH_LEN, right, CRYPTO_HASH_LEN);
	return crypto_sha256(b, sizeof(b), out);
}

/* Allocates a tree with room for every level; level 0 left to fill. */
static int crypto_merkle_alloc(size_t n, struct crypto_merkle **out,
                               struct diag *d)
{
	struct crypto_merkle *t;
	size_t total = 0, s = n, l = 0;

	if (n > CRYPTO_MERKLE_LEAVES_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "merkle: %zu leaves, more than %u", n,
		                CRYPTO_MERKLE_LEAVES_MAX);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "merkle: out of memory");
	t->n = n;
	/* Levels n, ceil(n/2), ..., 1: an odd node is carried up unchanged,
	 * which yields exactly RFC 6962's split at the largest power of two
	 * below n. */
	while (s > 0) {
		t->off[l] = total;
		t->size[l] = s;
		total += s;
		l++;
		if (s == 1)
			break;
		s = (s + 1) / 2;
	}
	t->nlevels = l;
	if (total > 0 && (t->h = malloc(total * CRYPTO_HASH_LEN)) == NULL) {
		free(t);
		return diag_set(d, ERR_NOMEM, 0, 0, "merkle: out of memory");
	}
	*out = t;
	return 0;
}

/* Computes every level above the leaves, and the root. */
static int crypto_merkle_finish(struct crypto_merkle *t, struct diag *d)
{
	const uint8_t *lo;
	uint8_t *hi;
	size_t l, i, s;

	if (t->n == 0) {
		if (crypto_sha256("", 0, t->root) != 0)
			return diag_set(d, ERR_CRYPTO, 0, 0, "merkle: hash");
		return 0;
	}
	for (l = 0; l + 1 < t->nlevels; l++) {
		lo = t->h + t->off[l] * CRYPTO_HASH_LEN;
		hi = t->h + t->off[l + 1] * CRYPTO_HASH_LEN;
		s = t->size[l];
		for (i = 0; i + 1 < s; i += 2)
			if (crypto_merkle_node(lo + i * CRYPTO_HASH_LEN,
			                       lo + (i + 1) * CRYPTO_HASH_LEN,
			                       hi + i / 2 * CRYPTO_HASH_LEN) !=
			    0)
				return diag_set(d, ERR_CRYPTO, 0, 0,
				                "merkle: hash");
		if (s % 2 != 0)
			memcpy(hi + s / 2 * CRYPTO_HASH_LEN,
			       lo + (s - 1) * CRYPTO_HASH_LEN, CRYPTO_HASH_LEN);
	}
	memcpy(t->root, t->h + t->off[t->nlevels - 1] * CRYPTO_HASH_LEN,
	       CRYPTO_HASH_LEN);
	return 0;
}

int crypto_merkle_build(const struct crypto_leaf *leaves, size_t n,
                        struct crypto_merkle **out, struct diag *d)
{
	struct crypto_merkle *t = NULL;
	size_t i;
	int r;

	if ((r = crypto_merkle_alloc(n, &t, d)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if (leaves[i].data == NULL && leaves[i].len > 0) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "merkle: leaf %zu has no data", i);
			goto out;
		}
		if (crypto_merkle_leaf_hash(leaves[i].data, leaves[i].len,
		                            t->h + i * CRYPTO_HASH_LEN) != 0) {
			r = diag_set(d, ERR_CRYPTO, 0, 0, "merkle: hash");
			goto out;
		}
	}
	if ((r = crypto_merkle_finish(t, d)) != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	crypto_merkle_free(t);
	return r;
}

int crypto_merkle_build_hashes(const uint8_t *leaf_hashes, size_t n,
                               struct crypto_merkle **out, struct diag *d)
{
	struct crypto_merkle *t = NULL;
	int r;

	if ((r = crypto_merkle_alloc(n, &t, d)) != 0)
		return r;
	if (n > 0)
		memcpy(t->h, leaf_hashes, n * CRYPTO_HASH_LEN);
	if ((r = crypto_merkle_finish(t, d)) != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	crypto_merkle_free(t);
	return r;
}

void crypto_merkle_free(struct crypto_merkle *t)
{
	if (t == NULL)
		return;
	free(t->h);
	free(t);
}

size_t crypto_merkle_count(const struct crypto_merkle *t)
{
	return t->n;
}

void crypto_merkle_root(const struct crypto_merkle *t,
                        uint8_t root[CRYPTO_HASH_LEN])
{
	memcpy(root, t->root, CRYPTO_HASH_LEN);
}

int crypto_merkle_proof(const struct crypto_merkle *t, size_t index,
                        uint8_t path[CRYPTO_MERKLE_PROOF_MAX], size_t *pathlen)
{
	size_t l, sib, o = 0;

	if (index >= t->n)
		return -ERR_INVALID;
	/* A node carried up unchanged has no sibling on its level, and
	 * RFC 6962's PATH has no entry for that level either. */
	for (l = 0; l + 1 < t->nlevels; l++) {
		sib = index ^ 1;
		if (sib < t->size[l]) {
			memcpy(path + o,
			       t->h + (t->off[l] + sib) * CRYPTO_HASH_LEN,
			       CRYPTO_HASH_LEN);
			o += CRYPTO_HASH_LEN;
		}
		index >>= 1;
	}
	*pathlen = o;
	return 0;
}

int crypto_merkle_verify(const void *data, size_t len, size_t index,
                         size_t count, const uint8_t *path, size_t pathlen,
                         const uint8_t root[CRYPTO_HASH_LEN])
{
	uint8_t r[CRYPTO_HASH_LEN], next[CRYPTO_HASH_LEN];
	const uint8_t *p;
	size_t fn, sn, i;

	if (count == 0 || index >= count || pathlen % CRYPTO_HASH_LEN != 0 ||
	    pathlen > CRYPTO_MERKLE_PROOF_MAX || (pathlen > 0 && path == NULL))
		return -ERR_INVALID;
	if (crypto_merkle_leaf_hash(data, len, r) != 0)
		return -ERR_CRYPTO;
	/* RFC 9162 section 2.1.3.2. */
	fn = index;
	sn = count - 1;
	for (i = 0; i < pathlen; i += CRYPTO_HASH_LEN) {
		p = path + i;
		if (sn == 0)
			return -ERR_VERIFY;
		if ((fn & 1) != 0 || fn == sn) {
			if (crypto_merkle_node(p, r, next) != 0)
				return -ERR_CRYPTO;
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			if (crypto_merkle_node(r, p, next) != 0)
				return -ERR_CRYPTO;
		}
		memcpy(r, next, sizeof(r));
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !crypto_ct_equal(r, root, CRYPTO_HASH_LEN))
		return -ERR_VERIFY;
	return 0;
}
