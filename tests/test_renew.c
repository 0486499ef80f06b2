/* SPDX-License-Identifier: MIT */
/* Unit tests: server/renew.c, a connected device's RenewRequest. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "mcpfleet.pb-c.h"
#include "pki.h"
#include "renew.h"
#include "store.h"

#define TR_DEV "dev-renew1"

struct tr_fixture {
	char *dir;
	struct crypto_rng *rng;
	struct pki pki;
	struct store *st;
	struct renew_ctx ctx;
	int64_t now;
	int64_t alice;
	struct crypto_key *oldkey; /* the device's enrolled key */
	char old_serial[2 * CRYPTO_SERIAL_MAX + 1];
	char old_key_id[CRYPTO_HEX_LEN + 1];
	struct crypto_key *newkey; /* the key it renews for */
	char *csr;                 /* newkey's CSR, CN TR_DEV */
	size_t csr_len;
};

/* One renewal's outcome. */
struct tr_answer {
	int r;
	struct buf out;
	struct renew_result res;
	struct diag d;
	char *cert;  /* the RenewResponse's certificate, or NULL */
	char *error; /* its error, or NULL */
};

/* Issues a client certificate for key with CN cn, valid days. */
static void tr_issue(struct tr_fixture *f, struct crypto_key *key,
                     const char *cn, struct crypto_cert_info *info)
{
	struct crypto_cert_req req;
	struct diag d;
	char *pem = NULL;

	memset(&req, 0, sizeof(req));
	req.cn = cn;
	req.days = 30;
	req.purpose = CRYPTO_PURPOSE_CLIENT;
	if (crypto_cert_issue(f->rng, f->pki.ca_key, f->pki.ca_pem,
	                      f->pki.ca_len, key, &req, &pem, NULL, info,
	                      &d) != 0)
		fail_msg("issue: %s", d.msg);
	free(pem);
}

static int tr_setup(void **state)
{
	struct tr_fixture *f = calloc(1, sizeof(*f));
	struct crypto_cert_info info;
	struct pki_conf conf;
	struct diag d;
	char *db;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	diag_clear(&d);
	pki_conf_defaults(&conf);
	if (crypto_rng_new("test_renew", &f->rng, &d) != 0 ||
	    pki_create(f->dir, &conf, f->rng, &d) != 0 ||
	    pki_load(f->dir, &f->pki, &d) != 0)
		fail_msg("pki: %s", d.msg);
	db = tu_path(f->dir, PKI_DB_FILE);
	if (store_open("sqlite", db, &f->st, &d) != 0)
		fail_msg("store_open: %s", d.msg);
	free(db);
	/* Certificates are checked against the real clock. */
	f->now = (int64_t)time(NULL);
	store_set_now(f->st, f->now);
	if (store_user_add(f->st, "alice", NULL, &f->alice, &d) != 0)
		fail_msg("user: %s", d.msg);
	if (crypto_key_generate(f->rng, &f->oldkey, &d) != 0 ||
	    crypto_key_id(f->oldkey, f->old_key_id) != 0 ||
	    crypto_key_generate(f->rng, &f->newkey, &d) != 0 ||
	    crypto_csr_create(f->rng, f->newkey, TR_DEV, &f->csr, &f->csr_len,
	                      &d) != 0)
		fail_msg("device keys: %s", d.msg);
	tr_issue(f, f->oldkey, TR_DEV, &info);
	memcpy(f->old_serial, info.serial, sizeof(f->old_serial));
	if (store_device_create(f->st, TR_DEV, f->alice, "laptop", "linux",
	                        info.serial, info.fingerprint,
	                        (int64_t)info.not_after, &d) != 0)
		fail_msg("device: %s", d.msg);
	f->ctx.st = f->st;
	f->ctx.pki = &f->pki;
	f->ctx.rng = f->rng;
	f->ctx.device_days = 3;
	*state = f;
	return 0;
}

static int tr_teardown(void **state)
{
	struct tr_fixture *f = *state;

	store_close(f->st);
	pki_free(&f->pki);
	crypto_key_free(f->oldkey);
	crypto_key_free(f->newkey);
	free(f->csr);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Runs renew_handle() for the connection TR_DEV / serial / key_id and
 * unpacks the RenewResponse it wrote. */
static void tr_renew(struct tr_fixture *f, const char *serial,
                     const char *key_id, const char *req_device_id,
                     const void *csr, size_t csr_len, struct tr_answer *a)
{
	Mcpfleet__V1__ServerFrame *sf;

	memset(a, 0, sizeof(*a));
	a->out = (struct buf)BUF_INIT;
	diag_clear(&a->d);
	a->r = renew_handle(&f->ctx, TR_DEV, serial, key_id, req_device_id, csr,
	                    csr_len, &a->out, &a->res, &a->d);
	assert_true(a->out.len > 0);
	sf = mcpfleet__v1__server_frame__unpack(NULL, a->out.len,
	                                        (const uint8_t *)a->out.data);
	assert_non_null(sf);
	assert_int_equal(sf->body_case, MCPFLEET__V1__SERVER_FRAME__BODY_RENEW);
	if (sf->renew->certificate_pem.len > 0) {
		a->cert = calloc(1, sf->renew->certificate_pem.len + 1);
		assert_non_null(a->cert);
		memcpy(a->cert, sf->renew->certificate_pem.data,
		       sf->renew->certificate_pem.len);
	}
	if (sf->renew->error != NULL && sf->renew->error[0] != '\0')
		assert_non_null(a->error = strdup(sf->renew->error));
	mcpfleet__v1__server_frame__free_unpacked(sf, NULL);
}

static void tr_answer_free(struct tr_answer *a)
{
	buf_free(&a->out);
	free(a->cert);
	free(a->error);
}

/* The last audit row (caller frees l). */
static const struct store_audit *tr_last_audit(struct tr_fixture *f,
                                               struct store_audit_list *l)
{
	struct diag d;

	if (store_audit_list(f->st, 0, 0, STORE_AUDIT_LIMIT, l, &d) != 0)
		fail_msg("audit: %s", d.msg);
	assert_true(l->n > 0);
	return &l->v[l->n - 1];
}

/* Asserts a refusal: code, no certificate, the reason in the answer (or,
 * for the server's own failures, only that it failed) and in the audit. */
static void tr_expect_refused(struct tr_fixture *f, struct tr_answer *a,
                              int code, const char *needle)
{
	struct store_audit_list l;
	const struct store_audit *row;

	if (a->r != code)
		fail_msg("expected %d, got %d (%s): %s", code, a->r,
		         err_str(a->r), a->d.msg);
	assert_null(a->cert);
	assert_non_null(a->error);
	if (strstr(a->d.msg, needle) == NULL)
		fail_msg("reason '%s' lacks '%s'", a->d.msg, needle);
	if (code != -ERR_INTERNAL)
		assert_string_equal(a->error, a->d.msg);
	else
		assert_non_null(strstr(a->error, "server failed"));
	row = tr_last_audit(f, &l);
	assert_string_equal(row->action, "device.renew.refused");
	assert_string_equal(row->actor, "device:" TR_DEV);
	assert_string_equal(row->target, TR_DEV);
	assert_non_null(row->details);
	if (strstr(row->details, needle) == NULL)
		fail_msg("audit details %s lack '%s'", row->details, needle);
	store_audit_list_free(&l);
	tr_answer_free(a);
}

static void test_renew_issues_for_the_new_key(void **state)
{
	struct tr_fixture *f = *state;
	struct store_audit_list l;
	const struct store_audit *row;
	struct crypto_cert_info info;
	struct crypto_key *pub = NULL;
	char kid[CRYPTO_HEX_LEN + 1], want[CRYPTO_HEX_LEN + 1];
	struct store_device dev;
	struct tr_answer a;
	struct diag d;

	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, f->csr, f->csr_len,
	         &a);
	if (a.r != 0)
		fail_msg("renewal: %s", a.d.msg);
	assert_null(a.error);
	assert_non_null(a.cert);
	/* A client certificate of the fleet's CA for the new key, CN the
	 * device, valid device_days. */
	tu_ok(crypto_cert_verify(a.cert, strlen(a.cert), f->pki.ca_pem,
	                         f->pki.ca_len, CRYPTO_PURPOSE_CLIENT, &d),
	      &d);
	tu_ok(crypto_cert_parse(a.cert, strlen(a.cert), &info, &pub, &d), &d);
	assert_string_equal(info.cn, TR_DEV);
	assert_int_equal(crypto_key_id(pub, kid), 0);
	crypto_key_free(pub);
	assert_int_equal(crypto_key_id(f->newkey, want), 0);
	assert_string_equal(kid, want);
	assert_true((int64_t)info.not_after >= f->now + 3 * 86400 - 5 &&
	            (int64_t)info.not_after <= f->now + 3 * 86400 + 5);
	assert_string_equal(a.res.cert.serial, info.serial);
	assert_string_equal(a.res.user, "alice");
	/* Recorded: the new serial is the device's, the old still names it. */
	tu_ok(store_device_get(f->st, TR_DEV, &dev, &d), &d);
	assert_string_equal(dev.cert_serial, info.serial);
	assert_string_equal(dev.cert_fingerprint, info.fingerprint);
	assert_int_equal(dev.cert_not_after, (int64_t)info.not_after);
	store_device_clear(&dev);
	tu_ok(store_device_get_by_serial(f->st, f->old_serial, &dev, &d), &d);
	assert_string_equal(dev.id, TR_DEV);
	store_device_clear(&dev);
	row = tr_last_audit(f, &l);
	assert_string_equal(row->action, "device.renew");
	assert_string_equal(row->actor, "device:" TR_DEV);
	assert_non_null(strstr(row->details, "\"old_serial\""));
	assert_non_null(strstr(row->details, info.serial));
	assert_non_null(strstr(row->details, "\"user\":\"alice\""));
	store_audit_list_free(&l);
	tu_ok(store_audit_verify(f->st, NULL, NULL, &d), &d);
	tr_answer_free(&a);

	/* Renewing again at once is refused; RENEW_MIN_GAP later it is
	 * not (the connection now with the new certificate and key). */
	{
		struct crypto_key *k3 = NULL;
		char serial2[2 * CRYPTO_SERIAL_MAX + 1], *csr3 = NULL;
		size_t len3 = 0;

		memcpy(serial2, info.serial, sizeof(serial2));
		tu_ok(crypto_key_generate(f->rng, &k3, &d), &d);
		tu_ok(crypto_csr_create(f->rng, k3, TR_DEV, &csr3, &len3, &d),
		      &d);
		tr_renew(f, serial2, want, TR_DEV, csr3, len3, &a);
		tr_expect_refused(
		    f, &a, -ERR_PERM,
		    "renewed its certificate 0 s ago: at most one "
		    "renewal every 600 s");
		store_set_now(f->st, f->now + RENEW_MIN_GAP);
		tr_renew(f, serial2, want, TR_DEV, csr3, len3, &a);
		if (a.r != 0)
			fail_msg("renewal after the gap: %s", a.d.msg);
		tr_answer_free(&a);
		free(csr3);
		crypto_key_free(k3);
	}
}

static void test_renew_refusals(void **state)
{
	struct tr_fixture *f = *state;
	static const char garbage[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
	                              "bm90IGEgQ1NS\n"
	                              "-----END CERTIFICATE REQUEST-----\n";
	struct crypto_key *k = NULL;
	struct store_device dev;
	struct tr_answer a;
	struct diag d;
	char *csr = NULL, *big;
	size_t len = 0;

	/* The request names another device. */
	tr_renew(f, f->old_serial, f->old_key_id, "dev-other", f->csr,
	         f->csr_len, &a);
	tr_expect_refused(f, &a, -ERR_PERM, "names device 'dev-other'");
	/* The CSR: missing, too big, with a NUL, not one at all. */
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, NULL, 0, &a);
	tr_expect_refused(f, &a, -ERR_INVALID, "csr_pem is missing");
	big = calloc(1, RENEW_CSR_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', RENEW_CSR_MAX + 1);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, big,
	         RENEW_CSR_MAX + 1, &a);
	tr_expect_refused(f, &a, -ERR_TOOBIG, "csr_pem: 8193 bytes");
	free(big);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, f->csr,
	         f->csr_len + 1, &a);
	tr_expect_refused(f, &a, -ERR_INVALID, "csr_pem holds a NUL byte");
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, garbage,
	         sizeof(garbage) - 1, &a);
	tr_expect_refused(f, &a, -ERR_PARSE, "csr_pem: CSR");
	/* Another subject than the device. */
	tu_ok(crypto_key_generate(f->rng, &k, &d), &d);
	tu_ok(crypto_csr_create(f->rng, k, "dev-other", &csr, &len, &d), &d);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, csr, len, &a);
	tr_expect_refused(f, &a, -ERR_PERM,
	                  "subject CN 'dev-other' is not device " TR_DEV);
	free(csr);
	crypto_key_free(k);
	/* The key it already has. */
	tu_ok(crypto_csr_create(f->rng, f->oldkey, TR_DEV, &csr, &len, &d), &d);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, csr, len, &a);
	tr_expect_refused(f, &a, -ERR_INVALID,
	                  "the key is the current certificate's");
	free(csr);
	/* A serial the store does not know. */
	tr_renew(f, "0123", f->old_key_id, TR_DEV, f->csr, f->csr_len, &a);
	tr_expect_refused(f, &a, -ERR_PERM,
	                  "certificate serial 0123 names no device");
	/* A disabled user, then a revoked device. */
	tu_ok(store_user_set_disabled(f->st, f->alice, true, &d), &d);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, f->csr, f->csr_len,
	         &a);
	tr_expect_refused(f, &a, -ERR_PERM, "user alice is disabled");
	tu_ok(store_user_set_disabled(f->st, f->alice, false, &d), &d);
	tu_ok(store_device_revoke(f->st, TR_DEV, "lost", &d), &d);
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, f->csr, f->csr_len,
	         &a);
	tr_expect_refused(f, &a, -ERR_PERM, "device " TR_DEV " is revoked");
	/* Nothing was issued or recorded by any of them. */
	tu_ok(store_device_get(f->st, TR_DEV, &dev, &d), &d);
	assert_string_equal(dev.cert_serial, f->old_serial);
	store_device_clear(&dev);
}

static void test_renew_server_failure_says_little(void **state)
{
	struct tr_fixture *f = *state;
	struct pki none;
	struct tr_answer a;

	memset(&none, 0, sizeof(none));
	f->ctx.pki = &none;
	tr_renew(f, f->old_serial, f->old_key_id, TR_DEV, f->csr, f->csr_len,
	         &a);
	f->ctx.pki = &f->pki;
	tr_expect_refused(f, &a, -ERR_INTERNAL, "CA is not loaded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_renew_issues_for_the_new_key,
	                                    tr_setup, tr_teardown),
	    cmocka_unit_test_setup_teardown(test_renew_refusals, tr_setup,
	                                    tr_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_renew_server_failure_says_little, tr_setup, tr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
