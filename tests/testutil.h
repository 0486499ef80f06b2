/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka programs: sandbox directories and file fixtures.
 */
#ifndef MCPFLEET_TESTUTIL_H
#define MCPFLEET_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "crypto.h"

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a new path. Fails
 * the test on error. */
char *tu_mkdtemp(void);
/* Removes a directory tree. NULL-safe. */
void tu_rmtree(const char *path);
/* Reads a whole file, NUL-terminated; fails the test when it cannot. Caller
 * frees. */
char *tu_read(const char *path, size_t *len);
/* Reads a file under tests/ (TEST_DATA); fails the test when it cannot. Caller
 * frees. */
char *tu_read_data(const char *relpath, size_t *len);
/* Writes a whole file (creating parent directories); fails the test on error.
 */
void tu_write(const char *path, const char *data, size_t len);
/* Returns a new string: dir + "/" + name. */
char *tu_path(const char *dir, const char *name);
/* Asserts that a file holds exactly these bytes, printing both on a mismatch.
 */
void tu_assert_file_eq(const char *path, const char *expect, size_t len);

/* Fails the test unless r is 0, printing the code and d's message. */
void tu_ok(int r, const struct diag *d);

/* Monotonic milliseconds, and a sleep. */
int64_t tu_now_ms(void);
void tu_sleep_ms(int ms);

/* A key and its certificate, PEM, for tests that speak TLS. */
struct tu_cred {
	struct crypto_key *key;
	char *key_pem;
	size_t key_len;
	char *cert_pem;
	size_t cert_len;
	struct crypto_cert_info info; /* leaves only */
};

/* A new key and a self-signed CA "O=Test,CN=cn" valid a year; fails the
 * test on error. */
void tu_cred_ca(struct crypto_rng *rng, struct tu_cred *c, const char *cn);
/* A new key and a leaf certificate from ca, valid a day, for purpose with
 * the given SubjectAltNames (may be none); fails the test on error. */
void tu_cred_leaf(struct crypto_rng *rng, struct tu_cred *c,
                  const struct tu_cred *ca, const char *cn,
                  enum crypto_purpose purpose, const char *const *san,
                  size_t nsan);
/* Frees and zeroes. NULL-safe fields. */
void tu_cred_free(struct tu_cred *c);

/*
 * A raw TLS client on loopback, for bytes as a hostile peer writes them.
 * tu_tls_open() connects to 127.0.0.1:port, with a client certificate
 * when cert_file (and key_file, PEM) is given; the server is not
 * verified, since the tests are about it.
 */
struct tu_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

void tu_tls_open(int port, const char *cert_file, const char *key_file,
                 struct tu_tls *t);
void tu_tls_write(struct tu_tls *t, const void *data, size_t len);
/* Reads into out (size bytes, NUL-terminated) until want appears (when not
 * NULL), the peer closes or 3 s pass. Returns the bytes read. */
size_t tu_tls_read(struct tu_tls *t, const char *want, char *out, size_t size);
void tu_tls_close(struct tu_tls *t);
/* Whether want occurs in the n bytes at s (which may hold NULs). */
bool tu_has(const char *s, size_t n, const char *want);

/* The value of header name in a response's headers (kept as
 * "name:\0value\0" pairs, server/net.c), the last one when several, into
 * out; "" when there is none. Whether there is one. */
struct buf;
bool tu_header(const struct buf *headers, const char *name, char *out,
               size_t size);

#endif
