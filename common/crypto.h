/* SPDX-License-Identifier: MIT */
/* All of mcpfleet's own cryptography, on mbedTLS 2.28: keys, CSRs,
 * certificates, signatures, sealing, hashing and the Merkle tree. */
#ifndef MCPFLEET_CRYPTO_H
#define MCPFLEET_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/*
 * Every key is ECDSA over P-256 and every signature uses SHA-256. Functions
 * return 0 or a negative code from err.h and, when d is not NULL, say why in
 * d: -ERR_CRYPTO when mbedTLS itself fails, -ERR_VERIFY when a signature,
 * tag, chain or proof does not check, -ERR_INVALID or -ERR_PARSE for bad
 * input, -ERR_TOOBIG when an input exceeds its cap, -ERR_NOMEM.
 * Out-parameters are set only on success.
 *
 * PEM inputs are (pointer, length) and need not be NUL-terminated: they are
 * copied before mbedTLS sees them (its PEM parsers need the NUL inside the
 * length). They are capped at CRYPTO_PEM_MAX bytes.
 */

#define CRYPTO_HASH_LEN      32 /* SHA-256 output */
#define CRYPTO_HEX_LEN       64 /* hex of a SHA-256, without the NUL */
#define CRYPTO_SIG_MAX       72 /* DER ECDSA P-256 signature, at most */
#define CRYPTO_PEM_MAX       65536
#define CRYPTO_CN_MAX        64 /* RFC 5280 ub-common-name */
#define CRYPTO_SERIAL_MAX    20 /* serial octets accepted (RFC 5280) */
#define CRYPTO_SAN_MAX       64 /* names in one SubjectAltName */
#define CRYPTO_SEAL_KEY_LEN  32 /* AES-256 */
#define CRYPTO_SEAL_IV_LEN   12
#define CRYPTO_SEAL_TAG_LEN  16
#define CRYPTO_SEAL_OVERHEAD (CRYPTO_SEAL_IV_LEN + CRYPTO_SEAL_TAG_LEN)
#define CRYPTO_SEAL_MAX      (16u << 20) /* plaintext bytes */

/* ---- Random source ---- */

/*
 * A CTR_DRBG (AES-256) seeded from the system entropy sources. One rng may
 * be shared by every thread of a process: it holds its own mutex. After
 * fork() the child's first use reseeds it from fresh entropy, so parent and
 * child never produce the same bytes.
 */
struct crypto_rng;

/*
 * Creates and seeds an rng; pers (may be NULL) is a personalisation string
 * mixed into the seed. Returns 0 with *out (caller frees with
 * crypto_rng_free()), or -ERR_CRYPTO when no entropy is available.
 */
int crypto_rng_new(const char *pers, struct crypto_rng **out, struct diag *d);
/* Frees an rng and wipes its state. NULL-safe. */
void crypto_rng_free(struct crypto_rng *rng);
/* Fills buf with len random bytes. Returns 0 or -ERR_CRYPTO. */
int crypto_random(struct crypto_rng *rng, void *buf, size_t len);

/* ---- Hashing, hex, comparison, wiping ---- */

/* out = SHA-256(data). Returns 0 or -ERR_CRYPTO. */
int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/* out = HMAC-SHA-256(key, data) (RFC 2104). Returns 0 or -ERR_CRYPTO. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                       size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/* HKDF-SHA256 (RFC 5869): out_len (1..8160) bytes from ikm, salt and info.
 * Returns 0 or -ERR_CRYPTO. */
int crypto_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm,
                       size_t ikm_len, const void *info, size_t info_len,
                       uint8_t *out, size_t out_len);

/*
 * Writes 2*len lowercase hex digits and a NUL into out (outsize bytes).
 * Returns 0, or -ERR_TRUNC when outsize < 2*len+1 (out untouched).
 */
int crypto_hex(const void *data, size_t len, char *out, size_t outsize);

/*
 * Decodes hexlen hex digits (either case) into out (outsize bytes). Returns
 * 0 with *outlen, -ERR_INVALID for an odd length or a non-hex digit, or
 * -ERR_TRUNC when out is too small.
 */
int crypto_unhex(const char *hex, size_t hexlen, void *out, size_t outsize,
                 size_t *outlen);

/* Compares len bytes in time that does not depend on their content. */
bool crypto_ct_equal(const void *a, const void *b, size_t len);

/* Overwrites len bytes with zeros in a way the compiler cannot drop. */
void crypto_wipe(void *p, size_t len);
/* Wipes len bytes of p, then frees it. NULL-safe. For key PEM and opened
 * plaintext. */
void crypto_secret_free(void *p, size_t len);

/* ---- Keys (ECDSA P-256) ---- */

/*
 * A private key, or a public key only. A key is not thread-safe: mbedTLS
 * caches a precomputed table in it on first use, so two threads must not use
 * one key at the same time (give each thread its own copy, or lock).
 */
struct crypto_key;

/* Generates a key. Returns 0 with *out (free with crypto_key_free()). */
int crypto_key_generate(struct crypto_rng *rng, struct crypto_key **out,
                        struct diag *d);
/* Frees a key and wipes its private part. NULL-safe. */
void crypto_key_free(struct crypto_key *key);
/* True when key holds a private part. */
bool crypto_key_is_private(const struct crypto_key *key);

/*
 * Loads a private key from PEM ("EC PRIVATE KEY" or unencrypted PKCS#8
 * "PRIVATE KEY"). Anything but an EC P-256 key is -ERR_INVALID. Returns 0
 * with *out (free with crypto_key_free()).
 */
int crypto_key_load_private(const char *pem, size_t len,
                            struct crypto_key **out, struct diag *d);
/* Loads a public key from PEM ("PUBLIC KEY", SubjectPublicKeyInfo), P-256
 * only. Returns 0 with *out (free with crypto_key_free()). */
int crypto_key_load_public(const char *pem, size_t len, struct crypto_key **out,
                           struct diag *d);

/*
 * Writes the private key as SEC1 PEM ("BEGIN EC PRIVATE KEY", as OpenSSL
 * and libwebsockets read it). Returns 0 with *pem a new NUL-terminated
 * string of *len bytes (len may be NULL); the caller frees it with
 * crypto_secret_free(*pem, *len). -ERR_INVALID for a public-only key.
 */
int crypto_key_write_private(struct crypto_key *key, char **pem, size_t *len,
                             struct diag *d);
/* Writes the public key as PEM ("BEGIN PUBLIC KEY"). Returns 0 with *pem a
 * new NUL-terminated string (caller frees with free()) of *len bytes (len may
 * be NULL). */
int crypto_key_write_public(struct crypto_key *key, char **pem, size_t *len,
                            struct diag *d);
/* Writes the key id, the lowercase hex SHA-256 of the DER
 * SubjectPublicKeyInfo, into out. Returns 0 or -ERR_CRYPTO. */
int crypto_key_id(struct crypto_key *key, char out[CRYPTO_HEX_LEN + 1]);

/* ---- Certificate signing requests ---- */

/*
 * Creates a PEM CSR for key (which must be private) with subject CN=cn,
 * signed with SHA-256. cn: 1..64 printable ASCII bytes, none of , + = \ " <
 * > ; #. Returns 0 with *pem a new NUL-terminated string (caller frees with
 * free()) of *len bytes (len may be NULL).
 */
int crypto_csr_create(struct crypto_rng *rng, struct crypto_key *key,
                      const char *cn, char **pem, size_t *len, struct diag *d);

/*
 * Parses a PEM CSR, verifies its self-signature (ECDSA with SHA-256, -384 or
 * -512) and requires an EC P-256 key. Returns 0 with *pub the CSR's public
 * key (free with crypto_key_free()); -ERR_PARSE when it does not parse,
 * -ERR_INVALID for another key type or signature algorithm, -ERR_VERIFY when
 * the signature does not match. The CSR's subject is ignored: the issuer
 * chooses the certificate's subject.
 */
int crypto_csr_parse(const char *pem, size_t len, struct crypto_key **pub,
                     struct diag *d);
/* As crypto_csr_parse(), and writes the subject's CN into cn (CRYPTO_CN_MAX
 * + 1 bytes, "" when it has none; may be NULL): a renewal checks it names
 * the device. -ERR_INVALID as well for more than one CN, or one too long or
 * holding a control character. */
int crypto_csr_parse_cn(const char *pem, size_t len, struct crypto_key **pub,
                        char *cn, struct diag *d);

/* ---- Certificates ---- */

/* What a certificate is for: selects its ExtendedKeyUsage. */
enum crypto_purpose {
	CRYPTO_PURPOSE_ANY = 0, /* issue: no EKU; verify: no check */
	CRYPTO_PURPOSE_CLIENT,  /* TLS client (a device) */
	CRYPTO_PURPOSE_SERVER,  /* TLS server (mcpfleetd) */
};

/* A request for a self-signed CA certificate. */
struct crypto_ca_req {
	const char *cn;  /* required; same rules as crypto_csr_create() */
	const char *org; /* optional O; the DN is "O=org,CN=cn", CN last */
	unsigned years;  /* validity, 1..100 */
	time_t now;      /* 0: the current time (tests move it) */
};

/*
 * Creates a self-signed CA certificate for key (private): version 3,
 * random serial, basicConstraints CA:TRUE pathlen 0 (critical), keyUsage
 * keyCertSign|cRLSign (critical), SKI and AKI, valid from now-5min for
 * req->years years. Returns 0 with *pem a new NUL-terminated string (caller
 * frees with free()) of *len bytes (len may be NULL).
 */
int crypto_ca_create(struct crypto_rng *rng, struct crypto_key *key,
                     const struct crypto_ca_req *req, char **pem, size_t *len,
                     struct diag *d);

/* A request for a leaf certificate. */
struct crypto_cert_req {
	const char *cn;  /* required, e.g. the device id; CSR rules */
	const char *org; /* optional O; the DN is "O=org,CN=cn", CN last */
	unsigned days;   /* validity, 1..36500 */
	enum crypto_purpose purpose; /* EKU clientAuth / serverAuth */
	/* SubjectAltName entries: "localhost", "10.0.0.1", "::1", or with an
	 * explicit "DNS:" / "IP:" prefix. At most CRYPTO_SAN_MAX; none means
	 * no SubjectAltName extension. */
	const char *const *san;
	size_t nsan;
	time_t now; /* 0: the current time (tests move it) */
};

/* Facts about one certificate. */
struct crypto_cert_info {
	/* Lowercase hex of the serial's magnitude, two digits per octet,
	 * leading zero octets dropped: OpenSSL's BN_bn2hex() in lowercase. */
	char serial[2 * CRYPTO_SERIAL_MAX + 1];
	char fingerprint[CRYPTO_HEX_LEN + 1]; /* hex SHA-256 of the DER */
	char cn[CRYPTO_CN_MAX + 1];           /* subject CN, "" when none */
	time_t not_before;
	time_t not_after;
	bool is_ca;
};

/*
 * Issues a leaf certificate for subject (a public or private key) signed by
 * ca_key, whose certificate is ca_pem: version 3, SHA-256, a random 16-byte
 * serial with the top bit clear, the issuer DN copied from the CA, subject
 * "O=org,CN=cn", valid from now-5min to now+days, SKI, AKI, keyUsage
 * digitalSignature (critical), basicConstraints CA:FALSE, EKU per
 * req->purpose, and the SubjectAltName. ca_key must match ca_pem and ca_pem
 * must be a CA. Returns 0 with *pem a new NUL-terminated string (caller
 * frees with free()), *len (may be NULL) and *info (may be NULL) describing
 * the new certificate.
 */
int crypto_cert_issue(struct crypto_rng *rng, struct crypto_key *ca_key,
                      const char *ca_pem, size_t ca_len,
                      struct crypto_key *subject,
                      const struct crypto_cert_req *req, char **pem,
                      size_t *len, struct crypto_cert_info *info,
                      struct diag *d);

/*
 * Parses a PEM holding exactly one certificate. Returns 0 with *info and,
 * when pub is not NULL, *pub its public key (P-256 only; free with
 * crypto_key_free()).
 */
int crypto_cert_parse(const char *pem, size_t len,
                      struct crypto_cert_info *info, struct crypto_key **pub,
                      struct diag *d);

/*
 * Verifies that the certificate in pem (exactly one) chains to a CA in
 * ca_pem (one or more certificates) and is valid now, and, for a purpose
 * other than ANY, that its key and extended key usages allow it. Returns 0,
 * or -ERR_VERIFY with every reason in d, e.g. "certificate CN=dev-1: The
 * certificate validity has expired; The certificate is not correctly signed
 * by the trusted CA".
 */
int crypto_cert_verify(const char *pem, size_t len, const char *ca_pem,
                       size_t ca_len, enum crypto_purpose purpose,
                       struct diag *d);

/* Writes the lowercase hex SHA-256 of the DER of the one certificate in pem
 * (the enrollment-link pin is "sha256:" followed by it). */
int crypto_cert_fingerprint(const char *pem, size_t len,
                            char out[CRYPTO_HEX_LEN + 1], struct diag *d);

/*
 * Checks the one certificate in pem against pin, "sha256:HEX" (the prefix is
 * optional, HEX in either case), in constant time. Returns 0, -ERR_VERIFY
 * when it differs, -ERR_INVALID for a malformed pin.
 */
int crypto_cert_pin_check(const char *pem, size_t len, const char *pin,
                          struct diag *d);

/*
 * Builds the DER value of a SubjectAltName extension (GeneralNames: dNSName
 * [2] and iPAddress [7]) from names as in struct crypto_cert_req. Returns 0
 * with *der (caller frees with free()) and *len; -ERR_INVALID names the bad
 * entry.
 */
int crypto_san_der(const char *const *names, size_t n, uint8_t **der,
                   size_t *len, struct diag *d);

/* ---- Signatures (ECDSA P-256 over SHA-256, DER encoded) ---- */

/* Signs SHA-256(data) with key (private). Returns 0 with sig and *siglen. */
int crypto_sign(struct crypto_key *key, struct crypto_rng *rng,
                const void *data, size_t len, uint8_t sig[CRYPTO_SIG_MAX],
                size_t *siglen, struct diag *d);
/* Verifies sig over SHA-256(data) with key. Returns 0 or -ERR_VERIFY. */
int crypto_verify(struct crypto_key *key, const void *data, size_t len,
                  const uint8_t *sig, size_t siglen, struct diag *d);

/* ---- Sealing (AES-256-GCM) ---- */

/*
 * Encrypts pt under key with a random IV, authenticating aad too (the
 * record id: a sealed value cannot be moved to another record). Returns 0
 * with *out = iv || ciphertext || tag (caller frees with free()) of *outlen
 * = ptlen + CRYPTO_SEAL_OVERHEAD bytes. ptlen <= CRYPTO_SEAL_MAX. Random IVs
 * keep one key safe for 2^32 seals.
 */
int crypto_seal(struct crypto_rng *rng, const uint8_t key[CRYPTO_SEAL_KEY_LEN],
                const void *aad, size_t aadlen, const void *pt, size_t ptlen,
                uint8_t **out, size_t *outlen, struct diag *d);
/*
 * Reverses crypto_seal(). Returns 0 with *pt (NUL-terminated for
 * convenience; caller frees with crypto_secret_free(*pt, *ptlen)) and
 * *ptlen, or -ERR_VERIFY when the key, the aad or any bit of in is wrong.
 */
int crypto_open(const uint8_t key[CRYPTO_SEAL_KEY_LEN], const void *aad,
                size_t aadlen, const void *in, size_t inlen, uint8_t **pt,
                size_t *ptlen, struct diag *d);

/* ---- Merkle tree (RFC 6962 / RFC 9162 section 2.1) ---- */

/*
 * leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), the
 * left subtree of n leaves holding the largest power of two below n; the
 * empty tree's root is SHA-256(""). An inclusion proof (audit path) is the
 * sibling hashes from the leaf up, 32 bytes each, at most
 * CRYPTO_MERKLE_PATH_MAX of them.
 */
#define CRYPTO_MERKLE_PATH_MAX   64
#define CRYPTO_MERKLE_PROOF_MAX  (CRYPTO_MERKLE_PATH_MAX * CRYPTO_HASH_LEN)
#define CRYPTO_MERKLE_LEAVES_MAX (1u << 26)

struct crypto_merkle;

/* One leaf: a view of the catalogue, for example. */
struct crypto_leaf {
	const void *data;
	size_t len;
};

/* out = SHA-256(0x00 || data). Returns 0 or -ERR_CRYPTO. */
int crypto_merkle_leaf_hash(const void *data, size_t len,
                            uint8_t out[CRYPTO_HASH_LEN]);

/*
 * Builds the tree over n leaves (n <= CRYPTO_MERKLE_LEAVES_MAX) in O(n),
 * keeping every level for proofs (about 64 bytes per leaf). Returns 0 with
 * *out (free with crypto_merkle_free()).
 */
int crypto_merkle_build(const struct crypto_leaf *leaves, size_t n,
                        struct crypto_merkle **out, struct diag *d);
/* As crypto_merkle_build() from leaf hashes already computed with
 * crypto_merkle_leaf_hash(): n * CRYPTO_HASH_LEN bytes. */
int crypto_merkle_build_hashes(const uint8_t *leaf_hashes, size_t n,
                               struct crypto_merkle **out, struct diag *d);
/* Frees a tree. NULL-safe. */
void crypto_merkle_free(struct crypto_merkle *t);
/* The number of leaves and the root. */
size_t crypto_merkle_count(const struct crypto_merkle *t);
void crypto_merkle_root(const struct crypto_merkle *t,
                        uint8_t root[CRYPTO_HASH_LEN]);

/*
 * Writes the inclusion proof of leaf index into path (*pathlen bytes, a
 * multiple of CRYPTO_HASH_LEN). Returns 0, or -ERR_INVALID when index is
 * out of range.
 */
int crypto_merkle_proof(const struct crypto_merkle *t, size_t index,
                        uint8_t path[CRYPTO_MERKLE_PROOF_MAX], size_t *pathlen);

/*
 * Checks that data is leaf index of a tree of count leaves whose root is
 * root, given path (pathlen bytes). Returns 0, -ERR_VERIFY when it is not,
 * -ERR_INVALID for a malformed proof (index >= count, a length that is not
 * a multiple of 32 or too long).
 */
int crypto_merkle_verify(const void *data, size_t len, size_t index,
                         size_t count, const uint8_t *path, size_t pathlen,
                         const uint8_t root[CRYPTO_HASH_LEN]);

#endif
