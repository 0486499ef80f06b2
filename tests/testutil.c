/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka programs. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
