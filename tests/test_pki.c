/* SPDX-License-Identifier: MIT */
/* Unit tests: server/pki.c, the data directory's key material and
 * mcpfleetd.conf. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "fileio.h"
#include "pki.h"
#include "store.h"

static const char *const tp_files[] = {
    PKI_CA_CERT_FILE,    PKI_CA_KEY_FILE,     PKI_SERVER_CERT_FILE,
    PKI_SERVER_KEY_FILE, PKI_SIGNER_KEY_FILE, PKI_MASTER_KEY_FILE,
    PKI_AUDIT_KEY_FILE,
};
#define TP_NFILES (sizeof(tp_files) / sizeof(tp_files[0]))

static const char *const tp_key_files[] = {
    PKI_CA_KEY_FILE,     PKI_SERVER_KEY_FILE, PKI_SIGNER_KEY_FILE,
    PKI_MASTER_KEY_FILE, PKI_AUDIT_KEY_FILE,
};

struct tp_fixture {
	char *dir;
	struct crypto_rng *rng;
	struct pki_conf conf;
};

static int tp_setup(void **state)
{
	struct tp_fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	if (crypto_rng_new("test_pki", &f->rng, &d) != 0)
		fail_msg("rng: %s", d.msg);
	pki_conf_defaults(&f->conf);
	memcpy(f->conf.names[2], "fleet.example.com",
	       sizeof("fleet.example.com"));
	memcpy(f->conf.names[3], "::1", sizeof("::1"));
	f->conf.nnames = 4;
	*state = f;
	return 0;
}

static int tp_teardown(void **state)
{
	struct tp_fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	crypto_rng_free(f->rng);
	free(f);
	return 0;
}

/* Creates the material in f->dir, failing the test on error. */
static void tp_create(struct tp_fixture *f)
{
	struct diag d;

	diag_clear(&d);
	if (pki_create(f->dir, &f->conf, f->rng, &d) != 0)
		fail_msg("pki_create: %s", d.msg);
}

/* Asserts that r is code and that d->msg contains needle. */
static void tp_expect(int r, int code, const struct diag *d, const char *needle)
{
	if (r != code)
		fail_msg("expected %d (%s), got %d (%s): %s", code,
		         err_str(code), r, err_str(r), d->msg);
	if (needle != NULL && strstr(d->msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", d->msg, needle);
}

/* Runs a shell command; returns its exit status and its standard output
 * (up to size - 1 bytes) in out. */
static int tp_run(const char *cmd, char *out, size_t size)
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

static void tp_cmd(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats a command line, failing the test when it does not fit. */
static void tp_cmd(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(w > 0 && (size_t)w < size);
}

static mode_t tp_mode(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return st.st_mode & 07777;
}

static void test_pki_create_writes_0600_files(void **state)
{
	struct tp_fixture *f = *state;
	size_t i;

	tp_create(f);
	for (i = 0; i < TP_NFILES; i++)
		if (tp_mode(f->dir, tp_files[i]) != 0600)
			fail_msg("%s: mode %04o, want 0600", tp_files[i],
			         (unsigned)tp_mode(f->dir, tp_files[i]));
}

static void test_pki_create_load_round_trip(void **state)
{
	struct tp_fixture *f = *state;
	struct crypto_cert_info ca, srv;
	struct crypto_key *pub = NULL, *srvpub = NULL;
	struct pki p;
	struct diag d;
	char *ca_path, *srv_path, *master, *signer_pem;
	char cmd[8192], out[4096], want[CRYPTO_HEX_LEN + 1];
	char ca_id[CRYPTO_HEX_LEN + 1], signer_id[CRYPTO_HEX_LEN + 1];
	uint8_t raw[CRYPTO_SEAL_KEY_LEN], zero[CRYPTO_SEAL_KEY_LEN];
	uint8_t sig[CRYPTO_SIG_MAX];
	size_t len, n, siglen;

	tp_create(f);
	diag_clear(&d);
	memset(&p, 0, sizeof(p));
	if (pki_load(f->dir, &p, &d) != 0)
		fail_msg("pki_load: %s", d.msg);

	/* The CA is a CA with the documented subject. */
	assert_int_equal(crypto_cert_parse(p.ca_pem, p.ca_len, &ca, NULL, &d),
	                 0);
	assert_true(ca.is_ca);
	assert_string_equal(ca.cn, "mcpfleet fleet CA");

	/* The server certificate chains to it, for TLS servers, and carries
	 * every name as a SubjectAltName. */
	assert_int_equal(
	    crypto_cert_verify(p.server_cert_pem, p.server_cert_len, p.ca_pem,
	                       p.ca_len, CRYPTO_PURPOSE_SERVER, &d),
	    0);
	assert_int_not_equal(
	    crypto_cert_verify(p.server_cert_pem, p.server_cert_len, p.ca_pem,
	                       p.ca_len, CRYPTO_PURPOSE_CLIENT, &d),
	    0);
	assert_int_equal(crypto_cert_parse(p.server_cert_pem, p.server_cert_len,
	                                   &srv, &srvpub, &d),
	                 0);
	assert_false(srv.is_ca);
	crypto_key_free(srvpub);
	ca_path = tu_path(f->dir, PKI_CA_CERT_FILE);
	srv_path = tu_path(f->dir, PKI_SERVER_CERT_FILE);
	tp_cmd(cmd, sizeof(cmd),
	       "openssl verify -purpose sslserver -CAfile '%s' '%s' 2>&1",
	       ca_path, srv_path);
	if (tp_run(cmd, out, sizeof(out)) != 0)
		fail_msg("openssl verify: %s", out);
	tp_cmd(cmd, sizeof(cmd),
	       "openssl x509 -noout -ext subjectAltName -in '%s' 2>&1",
	       srv_path);
	assert_int_equal(tp_run(cmd, out, sizeof(out)), 0);
	if (strstr(out, "DNS:localhost") == NULL ||
	    strstr(out, "IP Address:127.0.0.1") == NULL ||
	    strstr(out, "DNS:fleet.example.com") == NULL ||
	    strstr(out, "IP Address:0:0:0:0:0:0:0:1") == NULL)
		fail_msg("server SAN: %s", out);

	/* The pin is the SHA-256 of the CA's DER, as openssl computes it. */
	tp_cmd(cmd, sizeof(cmd),
	       "openssl x509 -in '%s' -outform DER | openssl dgst -sha256 -r",
	       ca_path);
	assert_int_equal(tp_run(cmd, out, sizeof(out)), 0);
	memcpy(want, out, CRYPTO_HEX_LEN);
	want[CRYPTO_HEX_LEN] = '\0';
	assert_int_equal(strncmp(p.ca_pin, "sha256:", 7), 0);
	assert_string_equal(p.ca_pin + 7, want);

	/* The signer is its own key, not the CA's, and its public half and
	 * id describe it. */
	assert_int_equal(crypto_key_id(p.ca_key, ca_id), 0);
	assert_int_equal(crypto_key_id(p.signer, signer_id), 0);
	assert_string_not_equal(ca_id, signer_id);
	assert_string_equal(p.signer_key_id, signer_id);
	assert_int_equal(crypto_key_load_public(p.signer_pub_pem,
	                                        p.signer_pub_len, &pub, &d),
	                 0);
	assert_int_equal(
	    crypto_sign(p.signer, f->rng, "x", 1, sig, &siglen, &d), 0);
	assert_int_equal(crypto_verify(pub, "x", 1, sig, siglen, &d), 0);
	crypto_key_free(pub);
	signer_pem = tu_path(f->dir, PKI_SIGNER_KEY_FILE);
	free(tu_read(signer_pem, &len));
	free(signer_pem);

	/* The server key is the PEM of the server certificate's key. */
	assert_non_null(strstr(p.server_key_pem, "BEGIN EC PRIVATE KEY"));
	assert_int_equal(strlen(p.server_key_pem), p.server_key_len);

	/* master.key: 64 hex digits and a newline, the bytes pki holds. */
	{
		char *mp = tu_path(f->dir, PKI_MASTER_KEY_FILE);

		master = tu_read(mp, &len);
		free(mp);
	}
	assert_int_equal(len, 65);
	assert_int_equal(master[64], '\n');
	assert_int_equal(crypto_unhex(master, 64, raw, sizeof(raw), &n), 0);
	assert_int_equal(n, sizeof(raw));
	assert_memory_equal(raw, p.master, sizeof(raw));
	memset(zero, 0, sizeof(zero));
	assert_memory_not_equal(p.master, zero, sizeof(zero));
	free(master);

	pki_free(&p);
	assert_null(p.ca_pem);
	assert_null(p.signer);
	pki_free(NULL);
	free(ca_path);
	free(srv_path);
}

static void test_pki_create_refuses_existing(void **state)
{
	struct tp_fixture *f = *state;
	char *before[TP_NFILES], *after, *path;
	size_t lens[TP_NFILES], len, i;
	struct diag d;
	int r;

	tp_create(f);
	for (i = 0; i < TP_NFILES; i++) {
		path = tu_path(f->dir, tp_files[i]);
		before[i] = tu_read(path, &lens[i]);
		free(path);
	}
	diag_clear(&d);
	r = pki_create(f->dir, &f->conf, f->rng, &d);
	tp_expect(r, -ERR_EXISTS, &d, PKI_CA_CERT_FILE);
	for (i = 0; i < TP_NFILES; i++) {
		path = tu_path(f->dir, tp_files[i]);
		after = tu_read(path, &len);
		assert_int_equal(len, lens[i]);
		assert_memory_equal(after, before[i], len);
		free(after);
		free(before[i]);
		free(path);
	}
}

static void test_pki_create_one_existing_file_writes_nothing(void **state)
{
	struct tp_fixture *f = *state;
	char *path;
	struct diag d;
	size_t i;
	int r;

	/* Only the last file exists: every other must still be absent. */
	path = tu_path(f->dir, PKI_MASTER_KEY_FILE);
	tu_write(path, "x", 1);
	free(path);
	diag_clear(&d);
	r = pki_create(f->dir, &f->conf, f->rng, &d);
	tp_expect(r, -ERR_EXISTS, &d, PKI_MASTER_KEY_FILE);
	for (i = 0; i < TP_NFILES; i++) {
		if (strcmp(tp_files[i], PKI_MASTER_KEY_FILE) == 0)
			continue;
		path = tu_path(f->dir, tp_files[i]);
		if (fileio_exists(path))
			fail_msg("%s was written", path);
		free(path);
	}
}

static void test_pki_create_bad_input(void **state)
{
	struct tp_fixture *f = *state;
	struct pki_conf c = f->conf;
	char *missing, *path;
	struct diag d;
	size_t i;

	diag_clear(&d);
	missing = tu_path(f->dir, "nope");
	tp_expect(pki_create(missing, &f->conf, f->rng, &d), -ERR_NOENT, &d,
	          "nope");
	free(missing);

	/* A name that cannot go into a certificate is refused before
	 * anything is written. */
	memcpy(c.names[1], "bad name", sizeof("bad name"));
	tp_expect(pki_create(f->dir, &c, f->rng, &d), -ERR_INVALID, &d,
	          "bad name");
	for (i = 0; i < TP_NFILES; i++) {
		path = tu_path(f->dir, tp_files[i]);
		assert_false(fileio_exists(path));
		free(path);
	}
}

static void test_pki_load_refuses_group_readable_keys(void **state)
{
	struct tp_fixture *f = *state;
	struct pki p;
	struct diag d;
	char *path;
	size_t i;

	tp_create(f);
	for (i = 0; i < sizeof(tp_key_files) / sizeof(tp_key_files[0]); i++) {
		path = tu_path(f->dir, tp_key_files[i]);
		assert_int_equal(chmod(path, i % 2 == 0 ? 0640 : 0604), 0);
		memset(&p, 0x5a, sizeof(p));
		diag_clear(&d);
		tp_expect(pki_load(f->dir, &p, &d), -ERR_PERM, &d,
		          tp_key_files[i]);
		/* Out-parameters are set only on success. */
		assert_int_equal(((unsigned char *)&p)[0], 0x5a);
		assert_int_equal(chmod(path, 0600), 0);
		free(path);
	}
	memset(&p, 0, sizeof(p));
	if (pki_load(f->dir, &p, &d) != 0)
		fail_msg("pki_load: %s", d.msg);
	pki_free(&p);
}

/* Replaces dir/name with data (0600). */
static void tp_replace(const char *dir, const char *name, const char *data,
                       size_t len)
{
	char *path = tu_path(dir, name);

	assert_int_equal(
	    fileio_write_atomic(path, data, len, 0600, FILEIO_FORCE_MODE), 0);
	free(path);
}

/* Saves dir/name, to put it back later. */
static char *tp_save(const char *dir, const char *name, size_t *len)
{
	char *path = tu_path(dir, name), *data;

	data = tu_read(path, len);
	free(path);
	return data;
}

static void test_pki_load_refuses_tampered_material(void **state)
{
	struct tp_fixture *f = *state;
	struct crypto_key *other = NULL;
	struct crypto_ca_req careq;
	struct crypto_cert_req req;
	struct pki p;
	struct diag d;
	char *saved, *tampered, *pem = NULL, *ca2 = NULL, *cert2 = NULL;
	size_t saved_len, len, ca2_len, cert2_len;

	tp_create(f);
	memset(&p, 0, sizeof(p));

	/* Another valid key in place of the CA's. */
	saved = tp_save(f->dir, PKI_CA_KEY_FILE, &saved_len);
	assert_int_equal(crypto_key_generate(f->rng, &other, &d), 0);
	assert_int_equal(crypto_key_write_private(other, &pem, &len, &d), 0);
	tp_replace(f->dir, PKI_CA_KEY_FILE, pem, len);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_VERIFY, &d, PKI_CA_KEY_FILE);

	/* The CA's own key with one byte of its base64 changed. */
	tampered = malloc(saved_len + 1);
	assert_non_null(tampered);
	memcpy(tampered, saved, saved_len + 1);
	tampered[60] = tampered[60] == 'A' ? 'B' : 'A';
	tp_replace(f->dir, PKI_CA_KEY_FILE, tampered, saved_len);
	/* Offset 60 is inside the private scalar: the file still parses and
	 * its public point still matches the certificate. */
	tp_expect(pki_load(f->dir, &p, &d), -ERR_VERIFY, &d, "damaged");
	assert_non_null(strstr(d.msg, PKI_CA_KEY_FILE));
	crypto_secret_free(tampered, saved_len + 1);
	tp_replace(f->dir, PKI_CA_KEY_FILE, saved, saved_len);
	crypto_secret_free(saved, saved_len + 1);

	/* The same damage to the signing key, which has no certificate. */
	saved = tp_save(f->dir, PKI_SIGNER_KEY_FILE, &saved_len);
	tampered = malloc(saved_len + 1);
	assert_non_null(tampered);
	memcpy(tampered, saved, saved_len + 1);
	tampered[60] = tampered[60] == 'A' ? 'B' : 'A';
	tp_replace(f->dir, PKI_SIGNER_KEY_FILE, tampered, saved_len);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_VERIFY, &d, "damaged");
	assert_non_null(strstr(d.msg, PKI_SIGNER_KEY_FILE));
	crypto_secret_free(tampered, saved_len + 1);
	tp_replace(f->dir, PKI_SIGNER_KEY_FILE, saved, saved_len);
	crypto_secret_free(saved, saved_len + 1);

	/* Another valid key in place of the server's. */
	saved = tp_save(f->dir, PKI_SERVER_KEY_FILE, &saved_len);
	tp_replace(f->dir, PKI_SERVER_KEY_FILE, pem, len);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_VERIFY, &d,
	          PKI_SERVER_KEY_FILE);
	tp_replace(f->dir, PKI_SERVER_KEY_FILE, saved, saved_len);
	crypto_secret_free(saved, saved_len + 1);

	/* A server certificate from another CA. */
	saved = tp_save(f->dir, PKI_SERVER_CERT_FILE, &saved_len);
	memset(&careq, 0, sizeof(careq));
	careq.cn = "mcpfleet fleet CA";
	careq.org = "mcpfleet";
	careq.years = 1;
	assert_int_equal(
	    crypto_ca_create(f->rng, other, &careq, &ca2, &ca2_len, &d), 0);
	memset(&req, 0, sizeof(req));
	req.cn = "mcpfleetd";
	req.days = 10;
	req.purpose = CRYPTO_PURPOSE_SERVER;
	assert_int_equal(crypto_cert_issue(f->rng, other, ca2, ca2_len, other,
	                                   &req, &cert2, &cert2_len, NULL, &d),
	                 0);
	tp_replace(f->dir, PKI_SERVER_CERT_FILE, cert2, cert2_len);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_VERIFY, &d,
	          PKI_SERVER_CERT_FILE);
	tp_replace(f->dir, PKI_SERVER_CERT_FILE, saved, saved_len);
	free(saved);

	/* A master key of the wrong length, and one that is not hex. */
	saved = tp_save(f->dir, PKI_MASTER_KEY_FILE, &saved_len);
	tp_replace(f->dir, PKI_MASTER_KEY_FILE, saved, 63);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d,
	          PKI_MASTER_KEY_FILE);
	saved[10] = 'g';
	tp_replace(f->dir, PKI_MASTER_KEY_FILE, saved, saved_len);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d,
	          PKI_MASTER_KEY_FILE);
	free(saved);

	free(ca2);
	free(cert2);
	crypto_secret_free(pem, len);
	crypto_key_free(other);
}

static void test_pki_load_missing_file(void **state)
{
	struct tp_fixture *f = *state;
	struct pki p;
	struct diag d;
	char *path;

	tp_create(f);
	path = tu_path(f->dir, PKI_SIGNER_KEY_FILE);
	assert_int_equal(unlink(path), 0);
	free(path);
	memset(&p, 0, sizeof(p));
	tp_expect(pki_load(f->dir, &p, &d), -ERR_NOENT, &d,
	          PKI_SIGNER_KEY_FILE);
}

/* audit.key: written by create, optional for load (a data directory from
 * before audit keys), strict in form, and created by pki_audit_attach()
 * from the next row of an existing chain, which it pins with a keyed row. */
static void test_pki_audit_key_upgrade(void **state)
{
	struct tp_fixture *f = *state;
	struct store_audit_list l = {NULL, 0};
	struct store *st = NULL;
	struct pki p;
	struct diag d;
	char *saved, *path, *db, *text, *text_saved = NULL;
	size_t saved_len, len, text_len = 0;
	int64_t created = -1, rows = 0;

	tp_create(f);
	memset(&p, 0, sizeof(p));
	diag_clear(&d);
	assert_int_equal(pki_load(f->dir, &p, &d), 0);
	assert_true(p.audit_keyed);
	assert_int_equal(p.audit_keyed_from, 1);
	pki_free(&p);

	saved = tp_save(f->dir, PKI_AUDIT_KEY_FILE, &saved_len);
	assert_int_equal(saved_len, 65);
	tp_replace(f->dir, PKI_AUDIT_KEY_FILE, saved, 64);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d, PKI_AUDIT_KEY_FILE);
	tp_replace(f->dir, PKI_AUDIT_KEY_FILE, "x", 1);
	tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d, PKI_AUDIT_KEY_FILE);
	{
		char buf[128];

		memcpy(buf, saved, 65);
		memcpy(buf + 65, "keyed_from=0\n", 13);
		tp_replace(f->dir, PKI_AUDIT_KEY_FILE, buf, 78);
		tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d,
		          "1 or more");
		memcpy(buf + 65, "keyed_from=x7\n", 14);
		tp_replace(f->dir, PKI_AUDIT_KEY_FILE, buf, 79);
		tp_expect(pki_load(f->dir, &p, &d), -ERR_PARSE, &d,
		          "not a number");
		memcpy(buf + 65, "keyed_from=17\n", 14);
		tp_replace(f->dir, PKI_AUDIT_KEY_FILE, buf, 79);
		assert_int_equal(pki_load(f->dir, &p, &d), 0);
		assert_int_equal(p.audit_keyed_from, 17);
		pki_free(&p);
	}
	free(saved);

	/* An installation from before audit keys: no audit.key, a chain of
	 * unkeyed rows. */
	path = tu_path(f->dir, PKI_AUDIT_KEY_FILE);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pki_load(f->dir, &p, &d), 0);
	assert_false(p.audit_keyed);
	db = tu_path(f->dir, PKI_DB_FILE);
	assert_int_equal(store_open("sqlite", db, &st, &d), 0);
	assert_int_equal(
	    store_audit_append(st, "system", "init", "x", NULL, NULL, &d), 0);
	assert_int_equal(
	    store_audit_append(st, "admin:a", "user.add", "b", NULL, NULL, &d),
	    0);
	assert_int_equal(pki_audit_attach(f->dir, &p, st, f->rng, &created, &d),
	                 0);
	assert_int_equal(created, 3);
	assert_true(p.audit_keyed);
	assert_int_equal(p.audit_keyed_from, 3);
	text = tu_read(path, &len);
	assert_int_equal(len, 65 + 13);
	assert_memory_equal(text + 65, "keyed_from=3\n", 13);
	text_saved = text;
	text_len = len;
	assert_int_equal(store_audit_list(st, 0, 2, 10, &l, &d), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].action, "audit.key");
	assert_string_equal(l.v[0].details, "{\"keyed_from\": 3}");
	store_audit_list_free(&l);
	assert_int_equal(store_audit_verify(st, &rows, NULL, &d), 0);
	assert_int_equal(rows, 3);
	store_close(st);

	/* A data directory without audit.key on a store that some key
	 * already keys is refused, and nothing is written. */
	{
		struct pki p2;

		memcpy(&p2, &p, sizeof(p2));
		p2.audit_keyed = false;
		assert_int_equal(unlink(path), 0);
		assert_int_equal(store_open("sqlite", db, &st, &d), 0);
		tp_expect(
		    pki_audit_attach(f->dir, &p2, st, f->rng, &created, &d),
		    -ERR_CONFLICT, &d, "already keyed");
		assert_false(fileio_exists(path));
		assert_int_equal(store_audit_list(st, 0, 0, 10, &l, &d), 0);
		assert_int_equal(l.n, 3);
		store_audit_list_free(&l);
		store_close(st);
		tu_write(path, text_saved, text_len);
		assert_int_equal(chmod(path, 0600), 0);
	}
	/* Loaded again, the key is attached without a new row; without it
	 * the keyed row does not verify. */
	pki_free(&p);
	assert_int_equal(pki_load(f->dir, &p, &d), 0);
	assert_int_equal(store_open("sqlite", db, &st, &d), 0);
	assert_int_equal(store_audit_verify(st, NULL, NULL, &d), -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "row 3"));
	assert_int_equal(pki_audit_attach(f->dir, &p, st, f->rng, &created, &d),
	                 0);
	assert_int_equal(created, 0);
	assert_int_equal(store_audit_verify(st, &rows, NULL, &d), 0);
	assert_int_equal(rows, 3);
	store_close(st);
	pki_free(&p);
	free(text_saved);
	free(db);
	free(path);
}

/* ---- mcpfleetd.conf ---- */

static void tp_write_conf(const char *dir, const char *text)
{
	char *path = tu_path(dir, PKI_CONF_FILE);

	tu_write(path, text, strlen(text));
	free(path);
}

static void test_pki_conf_round_trip(void **state)
{
	struct tp_fixture *f = *state;
	struct pki_conf c, back;
	struct diag d;

	pki_conf_defaults(&c);
	assert_string_equal(c.listen, "0.0.0.0");
	assert_int_equal(c.agent_port, PKI_DEFAULT_AGENT_PORT);
	assert_int_equal(c.api_port, PKI_DEFAULT_API_PORT);
	assert_int_equal(c.nnames, 2);
	assert_string_equal(c.names[0], "localhost");
	assert_string_equal(c.names[1], "127.0.0.1");

	memcpy(c.listen, "::", sizeof("::"));
	c.agent_port = 8443;
	c.api_port = 8444;
	memcpy(c.names[0], "fleet.example.com", sizeof("fleet.example.com"));
	memcpy(c.names[1], "10.0.0.5", sizeof("10.0.0.5"));
	memcpy(c.names[2], "fe80::1", sizeof("fe80::1"));
	c.nnames = 3;
	c.device_days = 30;
	c.token_ttl = 3600;
	c.enroll_rate = 5;
	diag_clear(&d);
	if (pki_conf_write(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_write: %s", d.msg);
	assert_int_equal(tp_mode(f->dir, PKI_CONF_FILE), 0600);
	if (pki_conf_load(f->dir, &back, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_string_equal(back.listen, "::");
	assert_int_equal(back.agent_port, 8443);
	assert_int_equal(back.api_port, 8444);
	assert_int_equal(back.nnames, 3);
	assert_string_equal(back.names[0], "fleet.example.com");
	assert_string_equal(back.names[1], "10.0.0.5");
	assert_string_equal(back.names[2], "fe80::1");
	assert_int_equal(back.device_days, 30);
	assert_int_equal(back.token_ttl, 3600);
	assert_int_equal(back.enroll_rate, 5);
	assert_string_equal(back.store, "");
	assert_string_equal(back.agent_address, "");
	assert_int_equal(back.replica_heartbeat, PKI_DEFAULT_HEARTBEAT);

	/* A replica's own agent address and heartbeat. */
	memcpy(c.agent_address, "[fe80::1]:9443", sizeof("[fe80::1]:9443"));
	c.replica_heartbeat = 2;
	if (pki_conf_write(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_write: %s", d.msg);
	if (pki_conf_load(f->dir, &back, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_string_equal(back.agent_address, "[fe80::1]:9443");
	assert_int_equal(back.replica_heartbeat, 2);
	/* Its host must be one the server certificate names. */
	memcpy(c.agent_address, "other.example:9443",
	       sizeof("other.example:9443"));
	tp_expect(pki_conf_write(f->dir, &c, &d), -ERR_INVALID, &d,
	          "host 'other.example' is not one of the names");
	c.agent_address[0] = '\0';
	c.replica_heartbeat = PKI_DEFAULT_HEARTBEAT;

	/* A PostgreSQL store is kept as given. */
	memcpy(c.store, "postgres://fleet@db.example/fleet",
	       sizeof("postgres://fleet@db.example/fleet"));
	if (pki_conf_write(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_write: %s", d.msg);
	if (pki_conf_load(f->dir, &back, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_string_equal(back.store, "postgres://fleet@db.example/fleet");
	/* Never with a password. */
	memcpy(c.store, "postgres:password=x host=db",
	       sizeof("postgres:password=x host=db"));
	tp_expect(pki_conf_write(f->dir, &c, &d), -ERR_INVALID, &d,
	          "holds a password");
	c.store[0] = '\0';

	/* An invalid configuration is not written. */
	c.api_port = c.agent_port;
	tp_expect(pki_conf_write(f->dir, &c, &d), -ERR_INVALID, &d,
	          "agent_port");
	if (pki_conf_load(f->dir, &back, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_int_equal(back.api_port, 8444);
}

static void test_pki_conf_comments_and_defaults(void **state)
{
	struct tp_fixture *f = *state;
	struct pki_conf c;
	struct diag d;

	tp_write_conf(f->dir, "# a comment\n"
	                      "\n"
	                      "   # an indented comment\r\n"
	                      "\tapi_port=9000  \r\n"
	                      "name = one.example\n"
	                      "name = 192.0.2.7");
	diag_clear(&d);
	if (pki_conf_load(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_int_equal(c.api_port, 9000);
	assert_int_equal(c.agent_port, PKI_DEFAULT_AGENT_PORT);
	assert_string_equal(c.listen, "0.0.0.0");
	/* The file's names replace the defaults. */
	assert_int_equal(c.nnames, 2);
	assert_string_equal(c.names[0], "one.example");
	assert_string_equal(c.names[1], "192.0.2.7");
	assert_int_equal(c.device_days, PKI_DEVICE_DAYS);
	assert_int_equal(c.token_ttl, 86400);
	assert_int_equal(c.enroll_rate, 10);
}

/* Loads text as the configuration and expects code with the line named. */
static void tp_conf_bad(const char *dir, const char *text, int code,
                        unsigned line, const char *needle)
{
	struct pki_conf c;
	char where[64];
	struct diag d;
	int r;

	tp_write_conf(dir, text);
	memset(&c, 0x5a, sizeof(c));
	diag_clear(&d);
	r = pki_conf_load(dir, &c, &d);
	tp_expect(r, code, &d, needle);
	if (line > 0) {
		assert_int_equal(d.line, line);
		assert_true(snprintf(where, sizeof(where),
		                     "%s:%u:", PKI_CONF_FILE, line) > 0);
		if (strstr(d.msg, where) == NULL)
			fail_msg("message '%s' does not name '%s'", d.msg,
			         where);
	}
	assert_int_equal(((unsigned char *)&c)[0], 0x5a);
}

static void test_pki_conf_errors_name_the_line(void **state)
{
	struct tp_fixture *f = *state;
	struct pki_conf c;
	struct diag d;
	char big[2048];

	tp_expect(pki_conf_load(f->dir, &c, &d), -ERR_NOENT, &d, PKI_CONF_FILE);
	tp_conf_bad(f->dir, "listen = 0.0.0.0\nbogus = 1\n", -ERR_PARSE, 2,
	            "unknown key 'bogus'");
	tp_conf_bad(f->dir, "# c\n\nagent_port = 70000\n", -ERR_INVALID, 3,
	            "agent_port");
	tp_conf_bad(f->dir, "api_port = 7x\n", -ERR_INVALID, 1, "api_port");
	tp_conf_bad(f->dir, "api_port = -1\n", -ERR_INVALID, 1, "api_port");
	tp_conf_bad(f->dir, "api_port = 99999999999999999999999\n",
	            -ERR_INVALID, 1, "api_port");
	tp_conf_bad(f->dir, "x\nlisten 0.0.0.0\n", -ERR_PARSE, 1,
	            "key = value");
	tp_conf_bad(f->dir, "listen =\n", -ERR_INVALID, 1, "no value");
	tp_conf_bad(f->dir, "= 5\n", -ERR_PARSE, 1, "without a key");
	tp_conf_bad(f->dir, "listen = example.com\n", -ERR_INVALID, 1,
	            "listen");
	tp_conf_bad(f->dir, "token_ttl = 5\ntoken_ttl = 60\n", -ERR_INVALID, 1,
	            "token_ttl");
	tp_conf_bad(f->dir, "token_ttl = 600\ntoken_ttl = 600\n", -ERR_PARSE, 2,
	            "twice");
	tp_conf_bad(f->dir, "device_days = 0\n", -ERR_INVALID, 1,
	            "device_days");
	tp_conf_bad(f->dir, "enroll_rate = 0\n", -ERR_INVALID, 1,
	            "enroll_rate");
	tp_conf_bad(f->dir, "name = ok.example\nname = not a name\n",
	            -ERR_INVALID, 2, "not a name");
	tp_conf_bad(f->dir, "name = DNS:ok.example\n", -ERR_INVALID, 1,
	            "prefix");
	tp_conf_bad(f->dir, "listen = 1.2.3.4\x01\n", -ERR_PARSE, 1, "control");
	tp_conf_bad(f->dir, "store = mysql://x\n", -ERR_INVALID, 1,
	            "neither sqlite");
	tp_conf_bad(f->dir, "store = postgres://u:secret@h/db\n", -ERR_INVALID,
	            1, "holds a password");
	tp_conf_bad(f->dir, "agent_address = fleet.example.com\n", -ERR_INVALID,
	            1, "agent_address: 'fleet.example.com': no port");
	tp_conf_bad(f->dir, "agent_address = ::1:7443\n", -ERR_INVALID, 1,
	            "brackets");
	tp_conf_bad(f->dir, "replica_heartbeat = 0\n", -ERR_INVALID, 1,
	            "replica_heartbeat");
	tp_conf_bad(f->dir, "replica_heartbeat = 3601\n", -ERR_INVALID, 1,
	            "1 to 3600 seconds");
	/* An address's host is checked against the names once all are read. */
	tp_conf_bad(f->dir,
	            "agent_address = fleet.example.com:7443\n"
	            "name = other.example\n",
	            -ERR_INVALID, 0, "is not one of the names");
	/* The ports clash only once the whole file is read. */
	tp_conf_bad(f->dir, "agent_port = 9000\napi_port = 9000\n",
	            -ERR_INVALID, 0, "both 9000");
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '#';
	big[sizeof(big) - 1] = '\0';
	tp_conf_bad(f->dir, big, -ERR_PARSE, 1, "longer");
	{
		char many[2048];
		size_t o = 0, i;

		for (i = 0; i < PKI_NAMES_MAX + 1; i++)
			o += (size_t)snprintf(many + o, sizeof(many) - o,
			                      "name = h%zu.example\n", i);
		tp_conf_bad(f->dir, many, -ERR_INVALID, PKI_NAMES_MAX + 1,
		            "more than");
	}
}

/* The oidc_* keys (server/oidcconf.c): read, written back, and refused
 * with the file, line and key named. */
static void test_pki_conf_oidc(void **state)
{
	struct tp_fixture *f = *state;
	struct pki_conf c, back;
	const char *groups[] = {"staff", "fleet-help", "fleet-audit"};
	struct diag d;

	tp_write_conf(f->dir,
	              "oidc_issuer = https://idp.example.com/tenant\n"
	              "oidc_client_id = mcpfleet\n"
	              "oidc_client_secret_file = /etc/mcpfleet/oidc-secret\n"
	              "oidc_email_domains = example.com,  Example.ORG\n"
	              "oidc_role_helpdesk = fleet-help\n"
	              "oidc_role_auditor = fleet-audit, auditors\n"
	              "oidc_groups_claim = roles\n"
	              "oidc_ca_file = /etc/ssl/private-idp.pem\n"
	              "oidc_label = Okta\n");
	diag_clear(&d);
	if (pki_conf_load(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_string_equal(c.oidc.issuer, "https://idp.example.com/tenant");
	assert_int_equal(c.oidc.ndomains, 2);
	assert_string_equal(c.oidc.domains[1], "Example.ORG");
	assert_string_equal(c.oidc.groups_claim, "roles");
	assert_string_equal(c.oidc.scopes, "openid email profile");
	/* The most privileged role that a group maps to; none: refused. */
	assert_string_equal(oidc_conf_role(&c.oidc, groups, 3), "helpdesk");
	assert_string_equal(oidc_conf_role(&c.oidc, groups + 2, 1), "auditor");
	assert_null(oidc_conf_role(&c.oidc, groups, 1));
	assert_true(oidc_conf_email_ok(&c.oidc, "ada@example.org"));
	assert_false(oidc_conf_email_ok(&c.oidc, "ada@example.org.evil"));
	assert_false(oidc_conf_email_ok(&c.oidc, "example.com"));
	/* Written back and read again the same. */
	if (pki_conf_write(f->dir, &c, &d) != 0)
		fail_msg("pki_conf_write: %s", d.msg);
	if (pki_conf_load(f->dir, &back, &d) != 0)
		fail_msg("pki_conf_load: %s", d.msg);
	assert_memory_equal(&back.oidc, &c.oidc, sizeof(c.oidc));

	tp_conf_bad(f->dir, "oidc_issuer = http://idp.example.com\n",
	            -ERR_INVALID, 1,
	            "oidc_issuer: 'http://idp.example.com' is "
	            "not an https:// URL");
	tp_conf_bad(f->dir, "name = a.example\noidc_client_secret = x\n",
	            -ERR_PARSE, 2, "unknown key 'oidc_client_secret'");
	tp_conf_bad(f->dir, "oidc_role_root = admins\n", -ERR_PARSE, 1,
	            "unknown key 'oidc_role_root'");
	tp_conf_bad(f->dir, "oidc_default_role = scim\n", -ERR_INVALID, 1,
	            "oidc_default_role: 'scim' is not owner, admin");
	tp_conf_bad(f->dir, "oidc_client_id = a\noidc_client_id = b\n",
	            -ERR_PARSE, 2, "'oidc_client_id' is set twice");
	tp_conf_bad(f->dir, "oidc_email_domains = @example.com\n", -ERR_INVALID,
	            1, "not a domain");
	tp_conf_bad(f->dir, "oidc_role_admin = ,\n", -ERR_INVALID, 1,
	            "oidc_role_admin: no names");
	tp_conf_bad(f->dir, "oidc_scopes = email\n", -ERR_INVALID, 1,
	            "must hold 'openid'");
	/* The section as a whole. */
	tp_conf_bad(f->dir, "oidc_client_id = a\n", -ERR_INVALID, 0,
	            "oidc_ keys without oidc_issuer");
	tp_conf_bad(f->dir,
	            "oidc_issuer = https://idp.example.com\n"
	            "oidc_client_id = a\n",
	            -ERR_INVALID, 0, "oidc_client_secret_file is missing");
	tp_conf_bad(f->dir,
	            "oidc_issuer = https://idp.example.com\n"
	            "oidc_client_id = a\noidc_client_secret_file = s\n",
	            -ERR_INVALID, 0, "no one would get a role");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pki_create_writes_0600_files,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_create_load_round_trip,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_create_refuses_existing,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pki_create_one_existing_file_writes_nothing, tp_setup,
	        tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_create_bad_input, tp_setup,
	                                    tp_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pki_load_refuses_group_readable_keys, tp_setup,
	        tp_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pki_load_refuses_tampered_material, tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_audit_key_upgrade,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_load_missing_file,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_conf_round_trip, tp_setup,
	                                    tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_conf_comments_and_defaults,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_conf_errors_name_the_line,
	                                    tp_setup, tp_teardown),
	    cmocka_unit_test_setup_teardown(test_pki_conf_oidc, tp_setup,
	                                    tp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
