/* SPDX-License-Identifier: MIT */
/* Unit tests: server/enroll.c, POST /v1/enroll and its rate limiter. */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "buf.h"
#include "crypto.h"
#include "enroll.h"
#include "err.h"
#include "mcpfleet.pb-c.h"
#include "pki.h"
#include "store.h"
#include "token.h"

#define TE_PEER "192.0.2.7"

struct te_fixture {
	char *dir;
	struct crypto_rng *rng;
	struct pki pki;
	struct store *st;
	struct enroll_ctx ctx;
	int64_t now;
	int64_t alice;
	struct crypto_key *devkey; /* the device's key */
	char *csr;                 /* its CSR, CN "admin" */
	size_t csr_len;
};

/* One request's outcome. */
struct te_answer {
	int r;
	int status;
	struct buf body;
	struct enroll_result res;
	struct diag d;
};

static int te_setup(void **state)
{
	struct te_fixture *f = calloc(1, sizeof(*f));
	struct pki_conf conf;
	struct diag d;
	char *db;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	diag_clear(&d);
	pki_conf_defaults(&conf);
	if (crypto_rng_new("test_enroll", &f->rng, &d) != 0 ||
	    pki_create(f->dir, &conf, f->rng, &d) != 0 ||
	    pki_load(f->dir, &f->pki, &d) != 0)
		fail_msg("pki: %s", d.msg);
	db = tu_path(f->dir, PKI_DB_FILE);
	if (store_open("sqlite", db, &f->st, &d) != 0)
		fail_msg("store_open: %s", d.msg);
	free(db);
	/* Certificates are checked against the real clock: keep the store's
	 * near it, but fixed. */
	f->now = (int64_t)time(NULL);
	store_set_now(f->st, f->now);
	if (store_user_add(f->st, "alice", NULL, &f->alice, &d) != 0)
		fail_msg("user: %s", d.msg);
	if (crypto_key_generate(f->rng, &f->devkey, &d) != 0 ||
	    crypto_csr_create(f->rng, f->devkey, "admin", &f->csr, &f->csr_len,
	                      &d) != 0)
		fail_msg("device key: %s", d.msg);
	f->ctx.st = f->st;
	f->ctx.pki = &f->pki;
	f->ctx.rng = f->rng;
	f->ctx.device_days = 30;
	f->ctx.agent_port = 7443;
	*state = f;
	return 0;
}

static int te_teardown(void **state)
{
	struct te_fixture *f = *state;

	store_close(f->st);
	pki_free(&f->pki);
	crypto_key_free(f->devkey);
	free(f->csr);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Creates a token for user; returns its id, the token in tok. */
static int64_t te_token(struct te_fixture *f, int64_t user, int64_t ttl,
                        int64_t uses, char tok[TOKEN_LEN + 1])
{
	char hash[CRYPTO_HEX_LEN + 1];
	struct diag d;
	int64_t id = 0;

	assert_int_equal(token_new(f->rng, tok, hash), 0);
	if (store_token_create(f->st, hash, user, f->now + ttl, uses, "test",
	                       &id, &d) != 0)
		fail_msg("token: %s", d.msg);
	return id;
}

/* Packs an EnrollRequest. facts may be NULL. Caller frees *out. */
static void te_pack(const char *token, const char *csr, size_t csr_len,
                    const char *hostname, const char *os, bool facts,
                    uint8_t **out, size_t *len)
{
	Mcpfleet__V1__EnrollRequest req;
	Mcpfleet__V1__DeviceFacts df;

	mcpfleet__v1__enroll_request__init(&req);
	mcpfleet__v1__device_facts__init(&df);
	req.token = (char *)(uintptr_t)token;
	req.csr_pem.data = (uint8_t *)(uintptr_t)csr;
	req.csr_pem.len = csr_len;
	df.hostname = (char *)(uintptr_t)hostname;
	df.os = (char *)(uintptr_t)os;
	df.os_version = (char *)"14.1";
	df.agent_version = (char *)"0.1.0";
	df.username = (char *)"alice";
	if (facts)
		req.facts = &df;
	*len = mcpfleet__v1__enroll_request__get_packed_size(&req);
	*out = malloc(*len + 1);
	assert_non_null(*out);
	mcpfleet__v1__enroll_request__pack(&req, *out);
}

static void te_call(struct te_fixture *f, const void *body, size_t len,
                    struct te_answer *a)
{
	struct buf empty = BUF_INIT;

	a->body = empty;
	a->status = -1;
	memset(&a->res, 0, sizeof(a->res));
	diag_clear(&a->d);
	a->r = enroll_handle(&f->ctx, TE_PEER, body, len, &a->status, &a->body,
	                     &a->res, &a->d);
}

/* Sends a well-formed request with this token and the fixture's CSR. */
static void te_enroll(struct te_fixture *f, const char *token,
                      struct te_answer *a)
{
	uint8_t *body;
	size_t len;

	te_pack(token, f->csr, f->csr_len, "laptop-7", "linux", true, &body,
	        &len);
	te_call(f, body, len, a);
	free(body);
}

/* The last audit row; caller frees with store_audit_list_free(). */
static const struct store_audit *te_last_audit(struct te_fixture *f,
                                               struct store_audit_list *l)
{
	struct diag d;

	if (store_audit_list(f->st, 0, 0, STORE_AUDIT_LIMIT, l, &d) != 0)
		fail_msg("audit: %s", d.msg);
	assert_true(l->n > 0);
	return &l->v[l->n - 1];
}

static size_t te_audit_count(struct te_fixture *f)
{
	struct store_audit_list l;
	struct diag d;
	size_t n;

	if (store_audit_list(f->st, 0, 0, STORE_AUDIT_LIMIT, &l, &d) != 0)
		fail_msg("audit: %s", d.msg);
	n = l.n;
	store_audit_list_free(&l);
	return n;
}

/* Asserts a refusal: code, status, body text, and one new audit row
 * "enroll.refused" by peer:TE_PEER whose details hold the reason. */
static void te_expect_refused(struct te_fixture *f, struct te_answer *a,
                              size_t audit_before, int code, int status,
                              const char *needle)
{
	struct store_audit_list l;
	const struct store_audit *row;
	char want[32];

	if (a->r != code || a->status != status)
		fail_msg("expected %d/%d, got %d (%s)/%d: %s", code, status,
		         a->r, err_str(a->r), a->status, a->d.msg);
	assert_non_null(a->body.data);
	assert_string_equal(a->body.data, a->d.msg);
	if (strstr(a->body.data, needle) == NULL)
		fail_msg("body '%s' lacks '%s'", a->body.data, needle);
	assert_int_equal(te_audit_count(f), audit_before + 1);
	row = te_last_audit(f, &l);
	assert_string_equal(row->action, "enroll.refused");
	assert_string_equal(row->actor, "peer:" TE_PEER);
	assert_string_equal(row->target, TE_PEER);
	assert_non_null(row->details);
	assert_true(snprintf(want, sizeof(want), "\"status\":%d", status) > 0);
	if (strstr(row->details, want) == NULL ||
	    strstr(row->details, "\"reason\"") == NULL)
		fail_msg("audit details: %s", row->details);
	store_audit_list_free(&l);
	buf_free(&a->body);
}

static int64_t te_uses_left(struct te_fixture *f, int64_t id)
{
	struct store_token_list l;
	struct diag d;
	int64_t n = -1;
	size_t i;

	if (store_token_list(f->st, &l, &d) != 0)
		fail_msg("tokens: %s", d.msg);
	for (i = 0; i < l.n; i++)
		if (l.v[i].id == id)
			n = l.v[i].uses_left;
	store_token_list_free(&l);
	return n;
}

static size_t te_devices(struct te_fixture *f)
{
	struct store_device_list l;
	struct diag d;
	size_t n;

	if (store_device_list(f->st, 0, &l, &d) != 0)
		fail_msg("devices: %s", d.msg);
	n = l.n;
	store_device_list_free(&l);
	return n;
}

static int te_run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, got;
	int st;

	assert_non_null(p);
	while (n + 1 < size && (got = fread(out + n, 1, size - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_enroll_good_token(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1], id[CRYPTO_HEX_LEN + 1], want[64];
	char devid[CRYPTO_HEX_LEN + 1], cmd[8192], out[4096];
	Mcpfleet__V1__EnrollResponse *rsp;
	struct crypto_cert_info info;
	struct crypto_key *pub = NULL;
	struct store_device dev;
	struct store_audit_list l;
	const struct store_audit *row;
	struct te_answer a;
	struct diag d;
	char *crt_path, *ca_path;
	int64_t tid;
	size_t i;

	tid = te_token(f, f->alice, 3600, 1, tok);
	te_enroll(f, tok, &a);
	if (a.r != 0 || a.status != 200)
		fail_msg("enroll: %d/%d: %s", a.r, a.status, a.d.msg);

	/* The answer. */
	rsp = mcpfleet__v1__enroll_response__unpack(NULL, a.body.len,
	                                            (uint8_t *)a.body.data);
	assert_non_null(rsp);
	assert_int_equal(strlen(rsp->device_id), 28);
	assert_int_equal(strncmp(rsp->device_id, "dev-", 4), 0);
	for (i = 4; i < 28; i++)
		assert_non_null(strchr("0123456789abcdef", rsp->device_id[i]));
	assert_string_equal(rsp->device_id, a.res.device_id);
	assert_string_equal(rsp->user, "alice");
	assert_string_equal(a.res.user, "alice");
	assert_int_equal(a.res.user_id, f->alice);
	assert_int_equal(rsp->agent_port, 7443);
	assert_int_equal(rsp->ca_pem.len, f->pki.ca_len);
	assert_memory_equal(rsp->ca_pem.data, f->pki.ca_pem, f->pki.ca_len);
	assert_int_equal(rsp->signer_public_pem.len, f->pki.signer_pub_len);
	assert_memory_equal(rsp->signer_public_pem.data, f->pki.signer_pub_pem,
	                    f->pki.signer_pub_len);

	/* The certificate: issued by the fleet CA, for TLS clients, for the
	 * device's own key, and named by the server, not by the CSR. */
	diag_clear(&d);
	if (crypto_cert_verify((const char *)rsp->certificate_pem.data,
	                       rsp->certificate_pem.len, f->pki.ca_pem,
	                       f->pki.ca_len, CRYPTO_PURPOSE_CLIENT, &d) != 0)
		fail_msg("verify: %s", d.msg);
	assert_int_not_equal(
	    crypto_cert_verify((const char *)rsp->certificate_pem.data,
	                       rsp->certificate_pem.len, f->pki.ca_pem,
	                       f->pki.ca_len, CRYPTO_PURPOSE_SERVER, &d),
	    0);
	assert_int_equal(
	    crypto_cert_parse((const char *)rsp->certificate_pem.data,
	                      rsp->certificate_pem.len, &info, &pub, &d),
	    0);
	assert_string_equal(info.cn, rsp->device_id);
	assert_false(info.is_ca);
	assert_string_equal(info.serial, a.res.cert.serial);
	assert_string_equal(info.fingerprint, a.res.cert.fingerprint);
	assert_int_equal(crypto_key_id(pub, id), 0);
	assert_int_equal(crypto_key_id(f->devkey, devid), 0);
	assert_string_equal(id, devid);
	crypto_key_free(pub);
	assert_true(info.not_after - info.not_before >= 30 * 86400 &&
	            info.not_after - info.not_before <= 30 * 86400 + 600);

	/* openssl agrees: chain, purpose and subject. */
	crt_path = tu_path(f->dir, "device.crt");
	ca_path = tu_path(f->dir, PKI_CA_CERT_FILE);
	tu_write(crt_path, (const char *)rsp->certificate_pem.data,
	         rsp->certificate_pem.len);
	assert_true(snprintf(cmd, sizeof(cmd),
	                     "openssl verify -purpose sslclient -CAfile '%s' "
	                     "'%s' 2>&1 && openssl x509 -noout -subject "
	                     "-ext extendedKeyUsage -in '%s' 2>&1",
	                     ca_path, crt_path, crt_path) < (int)sizeof(cmd));
	if (te_run(cmd, out, sizeof(out)) != 0)
		fail_msg("openssl: %s", out);
	assert_true(snprintf(want, sizeof(want), "subject=CN = %s",
	                     rsp->device_id) > 0);
	if (strstr(out, want) == NULL ||
	    strstr(out, "TLS Web Client Authentication") == NULL ||
	    strstr(out, "admin") != NULL)
		fail_msg("openssl x509: %s", out);
	free(crt_path);
	free(ca_path);

	/* The store: the device, the token used, the audit row. */
	if (store_device_get(f->st, rsp->device_id, &dev, &d) != 0)
		fail_msg("device: %s", d.msg);
	assert_int_equal(dev.user_id, f->alice);
	assert_string_equal(dev.hostname, "laptop-7");
	assert_string_equal(dev.os, "linux");
	assert_string_equal(dev.cert_serial, info.serial);
	assert_string_equal(dev.cert_fingerprint, info.fingerprint);
	assert_int_equal(dev.status, STORE_DEVICE_ACTIVE);
	store_device_clear(&dev);
	assert_int_equal(te_uses_left(f, tid), 0);
	row = te_last_audit(f, &l);
	assert_string_equal(row->action, "enroll.ok");
	assert_true(snprintf(want, sizeof(want), "token:%" PRId64, tid) > 0);
	assert_string_equal(row->actor, want);
	assert_string_equal(row->target, rsp->device_id);
	if (strstr(row->details, "\"user\":\"alice\"") == NULL ||
	    strstr(row->details, "\"hostname\":\"laptop-7\"") == NULL ||
	    strstr(row->details, info.serial) == NULL)
		fail_msg("details: %s", row->details);
	store_audit_list_free(&l);
	assert_int_equal(store_audit_verify(f->st, NULL, NULL, &d), 0);

	mcpfleet__v1__enroll_response__free_unpacked(rsp, NULL);
	buf_free(&a.body);
}

static void test_enroll_multi_use_token(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a, b;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 2, tok);
	te_enroll(f, tok, &a);
	te_enroll(f, tok, &b);
	assert_int_equal(a.r, 0);
	assert_int_equal(b.r, 0);
	assert_string_not_equal(a.res.device_id, b.res.device_id);
	assert_string_not_equal(a.res.cert.serial, b.res.cert.serial);
	assert_int_equal(te_uses_left(f, tid), 0);
	assert_int_equal(te_devices(f), 2);
	buf_free(&a.body);
	buf_free(&b.body);
}

static void test_enroll_used_token(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	size_t before;

	te_token(f, f->alice, 3600, 1, tok);
	te_enroll(f, tok, &a);
	assert_int_equal(a.r, 0);
	buf_free(&a.body);
	before = te_audit_count(f);
	memset(&a.res, 0x5a, sizeof(a.res));
	te_enroll(f, tok, &a);
	te_expect_refused(f, &a, before, -ERR_CONFLICT, 403, "used up");
	assert_int_equal(te_devices(f), 1);
}

static void test_enroll_expired_token(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	size_t before;
	int64_t tid;

	tid = te_token(f, f->alice, 60, 1, tok);
	store_set_now(f->st, f->now + 61);
	before = te_audit_count(f);
	te_enroll(f, tok, &a);
	te_expect_refused(f, &a, before, -ERR_VERIFY, 403, "expired");
	assert_int_equal(te_uses_left(f, tid), 1);
	assert_int_equal(te_devices(f), 0);
}

static void test_enroll_revoked_token(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	struct diag d;
	size_t before;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);
	assert_int_equal(store_token_revoke(f->st, tid, &d), 0);
	before = te_audit_count(f);
	te_enroll(f, tok, &a);
	te_expect_refused(f, &a, before, -ERR_PERM, 403, "revoked");
	assert_int_equal(te_devices(f), 0);
}

static void test_enroll_unknown_token(void **state)
{
	struct te_fixture *f = *state;
	struct te_answer a;
	size_t before = te_audit_count(f);

	te_enroll(f, "no-such-token", &a);
	te_expect_refused(f, &a, before, -ERR_NOENT, 403, "unknown");
	assert_int_equal(te_devices(f), 0);
}

static void test_enroll_disabled_user(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	struct diag d;
	size_t before;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);
	assert_int_equal(store_user_set_disabled(f->st, f->alice, true, &d), 0);
	before = te_audit_count(f);
	te_enroll(f, tok, &a);
	te_expect_refused(f, &a, before, -ERR_PERM, 403, "disabled");
	assert_int_equal(te_uses_left(f, tid), 1);
	assert_int_equal(te_devices(f), 0);
}

/* Flips the last byte of a PEM CSR's DER: the end of the signature's s. */
static char *te_csr_bad_signature(const char *pem, size_t *len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE REQUEST-----\n";
	static const char end[] = "-----END CERTIFICATE REQUEST-----";
	unsigned char b64[4096], der[4096], out64[4096];
	const char *s, *e;
	size_t n = 0, i, derlen = 0, outlen = 0;
	struct buf b = BUF_INIT;

	s = strstr(pem, begin);
	e = strstr(pem, end);
	assert_non_null(s);
	assert_non_null(e);
	for (s += sizeof(begin) - 1; s < e; s++)
		if (*s != '\n' && *s != '\r')
			b64[n++] = (unsigned char)*s;
	assert_int_equal(
	    mbedtls_base64_decode(der, sizeof(der), &derlen, b64, n), 0);
	der[derlen - 1] ^= 0x01;
	assert_int_equal(
	    mbedtls_base64_encode(out64, sizeof(out64), &outlen, der, derlen),
	    0);
	assert_int_equal(buf_puts(&b, begin), 0);
	for (i = 0; i < outlen; i += 64) {
		assert_int_equal(buf_append(&b, out64 + i,
		                            outlen - i < 64 ? outlen - i : 64),
		                 0);
		assert_int_equal(buf_putc(&b, '\n'), 0);
	}
	assert_int_equal(buf_puts(&b, end), 0);
	assert_int_equal(buf_putc(&b, '\n'), 0);
	return buf_steal(&b, len);
}

static void test_enroll_csr_signature_mismatch(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1], *bad;
	struct crypto_key *pub = NULL;
	struct store_audit_list l;
	const struct store_audit *row;
	struct te_answer a;
	struct diag d;
	uint8_t *body;
	size_t before, badlen, len;
	int64_t tid;

	bad = te_csr_bad_signature(f->csr, &badlen);
	/* The damage is only in the signature: the CSR still parses. */
	assert_int_equal(crypto_csr_parse(bad, badlen, &pub, &d), -ERR_VERIFY);
	tid = te_token(f, f->alice, 3600, 1, tok);
	before = te_audit_count(f);
	te_pack(tok, bad, badlen, "laptop-7", "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	free(bad);
	te_expect_refused(f, &a, before, -ERR_VERIFY, 400, "CSR");
	/* Refused before the token was touched; the row names whose. */
	assert_int_equal(te_uses_left(f, tid), 1);
	assert_int_equal(te_devices(f), 0);
	row = te_last_audit(f, &l);
	if (strstr(row->details, "\"user\":\"alice\"") == NULL)
		fail_msg("details: %s", row->details);
	store_audit_list_free(&l);
}

static void test_enroll_garbage_body(void **state)
{
	struct te_fixture *f = *state;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	struct te_answer a;
	size_t before;

	before = te_audit_count(f);
	te_call(f, garbage, sizeof(garbage), &a);
	te_expect_refused(f, &a, before, -ERR_PARSE, 400, "EnrollRequest");

	/* An empty body decodes to an empty request: no token. */
	before = te_audit_count(f);
	te_call(f, "", 0, &a);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "token");
	assert_int_equal(te_devices(f), 0);
}

static void test_enroll_oversize_body(void **state)
{
	struct te_fixture *f = *state;
	struct te_answer a;
	size_t before = te_audit_count(f);
	uint8_t *big = calloc(1, ENROLL_BODY_MAX + 1);

	assert_non_null(big);
	te_call(f, big, ENROLL_BODY_MAX + 1, &a);
	free(big);
	te_expect_refused(f, &a, before, -ERR_TOOBIG, 413, "limit");
}

static void test_enroll_bad_fields(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1], longname[300], *bigcsr;
	struct te_answer a;
	uint8_t *body;
	size_t before, len;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);

	before = te_audit_count(f);
	te_pack(tok, f->csr, f->csr_len, "bad\nhost", "linux", true, &body,
	        &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "facts.hostname");

	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	before = te_audit_count(f);
	te_pack(tok, f->csr, f->csr_len, longname, "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "longer");

	before = te_audit_count(f);
	te_pack(tok, f->csr, f->csr_len, "laptop", "\xc3\x28", true, &body,
	        &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "facts.os");

	before = te_audit_count(f);
	te_pack(tok, f->csr, f->csr_len, "laptop", "linux", false, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "facts");

	before = te_audit_count(f);
	te_pack(tok, NULL, 0, "laptop", "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400, "csr_pem");

	bigcsr = malloc(9000);
	assert_non_null(bigcsr);
	memset(bigcsr, 'A', 9000);
	before = te_audit_count(f);
	te_pack(tok, bigcsr, 9000, "laptop", "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	free(bigcsr);
	te_expect_refused(f, &a, before, -ERR_TOOBIG, 400, "csr_pem");

	before = te_audit_count(f);
	te_pack(tok, "not a csr", 9, "laptop", "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_PARSE, 400, "CSR");

	/* UTF-8 is fine in a fact; the token was never used. */
	te_pack(tok, f->csr, f->csr_len, "J\xc3\xbcrgen's laptop", "macos",
	        true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	if (a.r != 0)
		fail_msg("enroll: %s", a.d.msg);
	buf_free(&a.body);
	assert_int_equal(te_uses_left(f, tid), 0);
}

/* Replaces the '#' of the first "#junk" in the packed body with a NUL:
 * protobuf-c would hand the string over cut there. */
static void te_poke_nul(uint8_t *body, size_t len)
{
	size_t i;

	for (i = 0; i + 5 <= len; i++)
		if (memcmp(body + i, "#junk", 5) == 0) {
			body[i] = '\0';
			return;
		}
	fail_msg("no #junk in the packed body");
}

static void test_enroll_nul_in_string_field(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1], withjunk[TOKEN_LEN + 8], *csr;
	struct te_answer a;
	uint8_t *body;
	size_t before, len;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);
	/* "TOKEN\0junk": the token before the NUL is a good one. */
	assert_true(snprintf(withjunk, sizeof(withjunk), "%s#junk", tok) > 0);
	before = te_audit_count(f);
	te_pack(withjunk, f->csr, f->csr_len, "laptop", "linux", true, &body,
	        &len);
	te_poke_nul(body, len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400,
	                  "token holds a NUL byte");

	before = te_audit_count(f);
	te_pack(tok, f->csr, f->csr_len, "laptop#junk", "linux", true, &body,
	        &len);
	te_poke_nul(body, len);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400,
	                  "facts.hostname holds a NUL byte");
	/* A bytes field holding PEM text: the CSR, then a NUL and junk. */
	csr = malloc(f->csr_len + 5);
	assert_non_null(csr);
	memcpy(csr, f->csr, f->csr_len);
	memcpy(csr + f->csr_len, "\0junk", 5);
	before = te_audit_count(f);
	te_pack(tok, csr, f->csr_len + 5, "laptop", "linux", true, &body, &len);
	free(csr);
	te_call(f, body, len, &a);
	free(body);
	te_expect_refused(f, &a, before, -ERR_INVALID, 400,
	                  "csr_pem holds a NUL byte");
	assert_int_equal(te_uses_left(f, tid), 1);
	assert_int_equal(te_devices(f), 0);
}

/* Bidirectional overrides and isolates, and other invisible characters,
 * would make a host name read as another one in a terminal. */
static void test_enroll_invisible_in_hostname(void **state)
{
	static const char *const bad[] = {
	    "laptop\xe2\x80\xaegpj.exe", /* U+202E RIGHT-TO-LEFT OVERRIDE */
	    "\xe2\x80\xaalaptop",        /* U+202A */
	    "lap\xe2\x81\xa6top",        /* U+2066 LEFT-TO-RIGHT ISOLATE */
	    "lap\xe2\x81\xa9top",        /* U+2069 POP DIRECTIONAL ISOLATE */
	    "lap\xe2\x80\x8btop",        /* U+200B ZERO WIDTH SPACE */
	    "lap\xe2\x80\x8ftop",        /* U+200F RIGHT-TO-LEFT MARK */
	    "lap\xef\xbb\xbftop",        /* U+FEFF */
	    "lap\xc2\x85top",            /* U+0085, a C1 control */
	};
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	uint8_t *body;
	size_t before, len, i;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		before = te_audit_count(f);
		te_pack(tok, f->csr, f->csr_len, bad[i], "linux", true, &body,
		        &len);
		te_call(f, body, len, &a);
		free(body);
		te_expect_refused(f, &a, before, -ERR_INVALID, 400,
		                  "facts.hostname holds");
	}
	assert_int_equal(te_uses_left(f, tid), 1);
	/* Other scripts are fine, right-to-left ones included. */
	te_pack(tok, f->csr, f->csr_len, "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d-pc",
	        "linux", true, &body, &len);
	te_call(f, body, len, &a);
	free(body);
	if (a.r != 0)
		fail_msg("enroll: %s", a.d.msg);
	buf_free(&a.body);
}

static void test_enroll_store_failure_is_500(void **state)
{
	struct te_fixture *f = *state;
	char tok[TOKEN_LEN + 1];
	struct te_answer a;
	struct diag d;
	int64_t tid;

	tid = te_token(f, f->alice, 3600, 1, tok);
	/* A transaction already open: the handler cannot start its own. */
	assert_int_equal(store_begin(f->st, &d), 0);
	te_enroll(f, tok, &a);
	assert_int_equal(a.status, 500);
	assert_int_not_equal(a.r, 0);
	/* The log learns why; the unauthenticated peer does not. */
	assert_non_null(strstr(a.d.msg, "store"));
	assert_null(strstr(a.body.data, "store"));
	assert_non_null(strstr(a.body.data, "server failed"));
	buf_free(&a.body);
	assert_int_equal(store_rollback(f->st, &d), 0);
	assert_int_equal(te_uses_left(f, tid), 1);
	assert_int_equal(te_devices(f), 0);
}

/* ---- The limiter ---- */

static void test_enroll_limiter_allows_rate_then_refills(void **state)
{
	struct enroll_limiter *l = NULL;
	int64_t t = 1700000000;
	int i;

	(void)state;
	assert_int_equal(enroll_limiter_new(0, &l), -ERR_INVALID);
	assert_int_equal(enroll_limiter_new(3, &l), 0);
	for (i = 0; i < 3; i++)
		assert_true(enroll_limiter_allow(l, "10.0.0.1", t));
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t));
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t + 19));
	/* Another address has its own bucket. */
	assert_true(enroll_limiter_allow(l, "10.0.0.2", t));
	/* 3 a minute: one more every 20 s. */
	assert_true(enroll_limiter_allow(l, "10.0.0.1", t + 20));
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t + 20));
	/* A long pause refills the bucket, but never beyond rate. */
	for (i = 0; i < 3; i++)
		assert_true(enroll_limiter_allow(l, "10.0.0.1", t + 100000));
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t + 100000));
	/* A clock that steps back gives nothing. */
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t));
	assert_false(enroll_limiter_allow(l, "10.0.0.1", t + 100000));
	/* Nonsense peers are refused. */
	assert_false(enroll_limiter_allow(l, NULL, t));
	assert_false(enroll_limiter_allow(l, "", t));
	assert_false(enroll_limiter_allow(
	    l,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    t));
	assert_false(enroll_limiter_allow(NULL, "10.0.0.1", t));
	enroll_limiter_free(l);
	enroll_limiter_free(NULL);
}

static void test_enroll_limiter_evicts_oldest(void **state)
{
	struct enroll_limiter *l = NULL;
	char peer[32];
	int64_t t = 1700000000;
	size_t i;

	(void)state;
	assert_int_equal(enroll_limiter_new(1, &l), 0);
	for (i = 0; i < ENROLL_LIMITER_SLOTS; i++) {
		assert_true(snprintf(peer, sizeof(peer), "10.1.%zu.%zu",
		                     i / 256, i % 256) > 0);
		assert_true(enroll_limiter_allow(l, peer, t));
	}
	/* Every slot is full and each bucket empty. Seeing the first
	 * address again makes the second the least recently seen. */
	assert_false(enroll_limiter_allow(l, "10.1.0.0", t));
	/* A newcomer takes the oldest slot: 10.1.0.1, whose next attempt
	 * therefore starts afresh, while 10.1.0.0 is still remembered. */
	assert_true(enroll_limiter_allow(l, "192.0.2.1", t));
	assert_true(enroll_limiter_allow(l, "10.1.0.1", t));
	assert_false(enroll_limiter_allow(l, "10.1.0.0", t));
	assert_false(enroll_limiter_allow(l, "192.0.2.1", t));
	enroll_limiter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enroll_good_token, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_multi_use_token,
	                                    te_setup, te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_used_token, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_expired_token, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_revoked_token, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_unknown_token, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_disabled_user, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_csr_signature_mismatch,
	                                    te_setup, te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_garbage_body, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_oversize_body, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_bad_fields, te_setup,
	                                    te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_nul_in_string_field,
	                                    te_setup, te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_invisible_in_hostname,
	                                    te_setup, te_teardown),
	    cmocka_unit_test_setup_teardown(test_enroll_store_failure_is_500,
	                                    te_setup, te_teardown),
	    cmocka_unit_test(test_enroll_limiter_allows_rate_then_refills),
	    cmocka_unit_test(test_enroll_limiter_evicts_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
