/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka programs. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "buf.h"
#include "fileio.h"

#ifndef TEST_DATA
#define TEST_DATA "."
#endif

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	int w;

	w = snprintf(tmpl, sizeof(tmpl), "%s/mcpfleet-test-XXXXXX",
	             base && *base ? base : "/tmp");
	assert_true(w > 0 && (size_t)w < sizeof(tmpl));
	assert_non_null(mkdtemp(tmpl));
	return strdup(tmpl);
}

static int tu_rm_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_read(const char *path, size_t *len)
{
	char *data = NULL;
	size_t n = 0;
	int r = fileio_read(path, 256u << 20, &data, &n);

	if (r != 0)
		fail_msg("cannot read %s (%d)", path, r);
	if (len != NULL)
		*len = n;
	return data;
}

char *tu_read_data(const char *relpath, size_t *len)
{
	char *p = tu_path(TEST_DATA, relpath), *data;

	data = tu_read(p, len);
	free(p);
	return data;
}

void tu_write(const char *path, const char *data, size_t len)
{
	char *dir = fileio_dirname(path);

	assert_non_null(dir);
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	free(dir);
	assert_int_equal(fileio_write_atomic(path, data, len, 0644, 0), 0);
}

char *tu_path(const char *dir, const char *name)
{
	char *p = fileio_join(dir, name);

	assert_non_null(p);
	return p;
}

void tu_assert_file_eq(const char *path, const char *expect, size_t len)
{
	size_t n;
	char *got = tu_read(path, &n);

	if (n != len || memcmp(got, expect, len) != 0) {
		print_error("%s differs\n--- expected (%zu bytes)\n%.*s\n"
		            "--- got (%zu bytes)\n%.*s\n",
		            path, len, (int)len, expect, n, (int)n, got);
		free(got);
		fail();
	}
	free(got);
}

int64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void tu_cred_ca(struct crypto_rng *rng, struct tu_cred *c, const char *cn)
{
	struct crypto_ca_req req = {.cn = cn, .org = "Test", .years = 1};
	struct diag d;

	memset(c, 0, sizeof(*c));
	assert_int_equal(crypto_key_generate(rng, &c->key, &d), 0);
	assert_int_equal(
	    crypto_ca_create(rng, c->key, &req, &c->cert_pem, &c->cert_len, &d),
	    0);
	assert_int_equal(
	    crypto_key_write_private(c->key, &c->key_pem, &c->key_len, &d), 0);
}

void tu_cred_leaf(struct crypto_rng *rng, struct tu_cred *c,
                  const struct tu_cred *ca, const char *cn,
                  enum crypto_purpose purpose, const char *const *san,
                  size_t nsan)
{
	struct crypto_cert_req req = {.cn = cn,
	                              .org = "Test",
	                              .days = 1,
	                              .purpose = purpose,
	                              .san = san,
	                              .nsan = nsan};
	struct diag d;

	memset(c, 0, sizeof(*c));
	assert_int_equal(crypto_key_generate(rng, &c->key, &d), 0);
	if (crypto_cert_issue(rng, ca->key, ca->cert_pem, ca->cert_len, c->key,
	                      &req, &c->cert_pem, &c->cert_len, &c->info,
	                      &d) != 0)
		fail_msg("issue %s: %s", cn, d.msg);
	assert_int_equal(
	    crypto_key_write_private(c->key, &c->key_pem, &c->key_len, &d), 0);
}

void tu_cred_free(struct tu_cred *c)
{
	crypto_key_free(c->key);
	crypto_secret_free(c->key_pem, c->key_len);
	free(c->cert_pem);
	memset(c, 0, sizeof(*c));
}

void tu_ok(int r, const struct diag *d)
{
	if (r != 0)
		fail_msg("unexpected %d (%s): %s", r, err_str(r), d->msg);
}

/* ---- A raw TLS client ---- */

void tu_tls_open(int port, const char *cert_file, const char *key_file,
                 struct tu_tls *t)
{
	struct sockaddr_in sa;

	memset(t, 0, sizeof(*t));
	t->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(t->ctx);
	if (cert_file != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_file(t->ctx, cert_file,
		                                              SSL_FILETYPE_PEM),
		                 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(t->ctx, key_file,
		                                             SSL_FILETYPE_PEM),
		                 1);
	}
	t->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(t->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	t->ssl = SSL_new(t->ctx);
	assert_non_null(t->ssl);
	assert_int_equal(SSL_set_fd(t->ssl, t->fd), 1);
	if (SSL_connect(t->ssl) != 1)
		fail_msg("TLS handshake with port %d failed", port);
}

void tu_tls_write(struct tu_tls *t, const void *data, size_t len)
{
	assert_int_equal(SSL_write(t->ssl, data, (int)len), (int)len);
}

/* Whether want occurs in the n bytes at s (which may hold NULs). */
bool tu_has(const char *s, size_t n, const char *want)
{
	size_t i, k = strlen(want);

	for (i = 0; i + k <= n; i++)
		if (memcmp(s + i, want, k) == 0)
			return true;
	return false;
}

/* Reads into out (size bytes, NUL-terminated) until want appears (when not
 * NULL), the peer closes or 3 s pass. Returns the bytes read. */
size_t tu_tls_read(struct tu_tls *t, const char *want, char *out, size_t size)
{
	int64_t deadline = tu_now_ms() + 3000;
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
	size_t got = 0;
	int n;

	while (got < size - 1 && tu_now_ms() < deadline) {
		if (SSL_pending(t->ssl) == 0 && poll(&pfd, 1, 100) != 1)
			continue;
		n = SSL_read(t->ssl, out + got, (int)(size - 1 - got));
		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		if (want != NULL && tu_has(out, got, want))
			break;
	}
	out[got] = '\0';
	return got;
}

void tu_tls_close(struct tu_tls *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	close(t->fd);
	ERR_clear_error();
}

bool tu_header(const struct buf *headers, const char *name, char *out,
               size_t size)
{
	const char *p = headers->data, *end = p + headers->len;
	size_t n = strlen(name);
	bool found = false;

	out[0] = '\0';
	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (strncmp(p, name, n) == 0 && p[n] == ':' &&
		    p[n + 1] == '\0') {
			(void)snprintf(out, size, "%s", value);
			found = true;
		}
		p = value + strlen(value) + 1;
	}
	return found;
}
