/* SPDX-License-Identifier: MIT */
/* mcpfleetd's data directory: creates and loads the fleet CA, the server's
 * TLS certificate, the catalogue signing key and the master key, and reads
 * and writes mcpfleetd.conf. */
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "store.h"

#define PKI_CA_CN           "mcpfleet fleet CA"
#define PKI_ORG             "mcpfleet"
#define PKI_SERVER_CN       "mcpfleetd"
#define PKI_FILE_MODE       0600
#define PKI_FILE_MAX        (64u * 1024) /* any file pki_load() reads */
#define PKI_CONF_LINE_MAX   1024
#define PKI_MASTER_HEX      (2 * CRYPTO_SEAL_KEY_LEN)
#define PKI_DEFAULT_TTL     86400
#define PKI_DEFAULT_RATE    10
#define PKI_DEFAULT_GRACE   (7 * 86400)
#define PKI_DEFAULT_SPOOL   (8 << 20)
#define PKI_DEFAULT_KEEP    (90 * 86400)
#define PKI_TOKEN_TTL_MAX   (366 * 86400LL) /* a year and a day */
#define PKI_ENROLL_RATE_MAX 100000u

/* What pki_create() writes, in this order. */
enum {
	PKI_F_CA_CERT,
	PKI_F_CA_KEY,
	PKI_F_SERVER_CERT,
	PKI_F_SERVER_KEY,
	PKI_F_SIGNER_KEY,
	PKI_F_MASTER_KEY,
	PKI_F_AUDIT_KEY,
	PKI_NFILES
};

static const char *const pki_file_names[PKI_NFILES] = {
    [PKI_F_CA_CERT] = PKI_CA_CERT_FILE,
    [PKI_F_CA_KEY] = PKI_CA_KEY_FILE,
    [PKI_F_SERVER_CERT] = PKI_SERVER_CERT_FILE,
    [PKI_F_SERVER_KEY] = PKI_SERVER_KEY_FILE,
    [PKI_F_SIGNER_KEY] = PKI_SIGNER_KEY_FILE,
    [PKI_F_MASTER_KEY] = PKI_MASTER_KEY_FILE,
    [PKI_F_AUDIT_KEY] = PKI_AUDIT_KEY_FILE,
};

/* Re-labels a lower layer's message with the file it concerns. */
static int pki_fail(struct diag *d, int r, const char *path,
                    const struct diag *sub)
{
	return diag_set(d, r, 0, 0, "%s: %s", path,
	                sub->msg[0] != '\0' ? sub->msg : err_str(r));
}

/* ---- Reading ---- */

/*
 * Reads dir/name, a regular file of at most PKI_FILE_MAX bytes. A secret
 * file must not be readable or writable by group or others; the mode is
 * checked on the descriptor that is then read, so the check and the read
 * concern the same file. Returns 0 with *path (caller frees), *data (a new
 * NUL-terminated buffer; a secret's is freed with crypto_secret_free(*data,
 * *len + 1)) and *len.
 */
static int pki_read(const char *dir, const char *name, bool secret,
                    char **path_out, char **data, size_t *len, struct diag *d)
{
	struct stat st;
	char *path = NULL, *buf = NULL;
	size_t n = 0;
	ssize_t got;
	int fd = -1, r;

	if ((path = fileio_join(dir, name)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "%s: out of memory", name);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = diag_set(d, errno == ENOENT ? ERR_NOENT : ERR_IO, 0, 0,
		             "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		r = diag_set(d, ERR_PERM, 0, 0,
		             "%s: mode %04o lets group or others at the key; "
		             "chmod 600 it",
		             path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((buf = malloc(PKI_FILE_MAX + 1)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "%s: out of memory", path);
		goto out;
	}
	/* Read one byte past the cap to tell "exactly the cap" from more. */
	while (n <= PKI_FILE_MAX) {
		got = read(fd, buf + n, PKI_FILE_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = diag_set(d, ERR_IO, 0, 0, "%s: %s", path,
			             strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > PKI_FILE_MAX) {
		r = diag_set(d, ERR_TOOBIG, 0, 0, "%s: larger than %u bytes",
		             path, PKI_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	*path_out = path;
	path = NULL;
	*data = buf;
	buf = NULL;
	*len = n;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (buf != NULL)
		crypto_secret_free(buf, PKI_FILE_MAX + 1);
	free(path);
	return r;
}

/* Loads the private key in dir/name (0600). */
static int pki_read_key(const char *dir, const char *name,
                        struct crypto_key **out, char **pem, size_t *pemlen,
                        struct diag *d)
{
	struct diag sub;
	char *path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	diag_clear(&sub);
	if ((r = pki_read(dir, name, true, &path, &data, &len, d)) != 0)
		goto out;
	if ((r = crypto_key_load_private(data, len, out, &sub)) != 0) {
		r = pki_fail(d, r, path, &sub);
		goto out;
	}
	if (pem != NULL) {
		*pem = data;
		*pemlen = len;
		data = NULL;
	}
	r = 0;
out:
	if (data != NULL)
		crypto_secret_free(data, len + 1);
	free(path);
	return r;
}

/*
 * Checks that key is a sound private key and, when pem is not NULL, the
 * private half of the certificate in pem. Comparing public keys is not
 * enough: a SEC1 file carries the public point beside the private scalar
 * and mbedTLS does not check that they agree, so a damaged scalar would
 * load and then sign garbage. A signature made with the scalar and
 * checked with the public key proves both.
 */
static int pki_key_check(struct crypto_key *key, const char *pem, size_t len,
                         struct crypto_rng *rng, const char *key_path,
                         const char *cert_path, struct diag *d)
{
	static const char probe[] = "mcpfleet pki_load key check";
	struct crypto_key *pub = NULL;
	struct diag sub;
	char a[CRYPTO_HEX_LEN + 1], b[CRYPTO_HEX_LEN + 1];
	uint8_t sig[CRYPTO_SIG_MAX];
	size_t siglen = 0;
	int r;

	diag_clear(&sub);
	if (pem != NULL) {
		if ((r = crypto_cert_parse(pem, len, NULL, &pub, &sub)) != 0) {
			r = pki_fail(d, r, cert_path, &sub);
			goto out;
		}
		if (crypto_key_id(key, a) != 0 || crypto_key_id(pub, b) != 0) {
			r = diag_set(d, ERR_CRYPTO, 0, 0,
			             "%s: cannot hash the key", key_path);
			goto out;
		}
		if (strcmp(a, b) != 0) {
			r = diag_set(d, ERR_VERIFY, 0, 0,
			             "%s is not the key of %s", key_path,
			             cert_path);
			goto out;
		}
	}
	if ((r = crypto_sign(key, rng, probe, sizeof(probe), sig, &siglen,
	                     &sub)) != 0) {
		r = pki_fail(d, r, key_path, &sub);
		goto out;
	}
	if (crypto_verify(pub != NULL ? pub : key, probe, sizeof(probe), sig,
	                  siglen, NULL) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "%s is damaged: its private part does not match "
		             "its public key",
		             key_path);
		goto out;
	}
	r = 0;
out:
	crypto_key_free(pub);
	return r;
}

/* Reads the master key: 64 hex digits and an optional newline. */
static int pki_read_master(const char *dir, uint8_t out[CRYPTO_SEAL_KEY_LEN],
                           struct diag *d)
{
	uint8_t key[CRYPTO_SEAL_KEY_LEN];
	char *path = NULL, *data = NULL;
	size_t len = 0, n = 0;
	int r;

	if ((r = pki_read(dir, PKI_MASTER_KEY_FILE, true, &path, &data, &len,
	                  d)) != 0)
		goto out;
	if (!(len == PKI_MASTER_HEX ||
	      (len == PKI_MASTER_HEX + 1 && data[PKI_MASTER_HEX] == '\n')) ||
	    crypto_unhex(data, PKI_MASTER_HEX, key, sizeof(key), &n) != 0 ||
	    n != sizeof(key)) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "%s: want %d hex digits and a newline", path,
		             PKI_MASTER_HEX);
		goto out;
	}
	memcpy(out, key, sizeof(key));
	r = 0;
out:
	crypto_wipe(key, sizeof(key));
	if (data != NULL)
		crypto_secret_free(data, len + 1);
	free(path);
	return r;
}

/*
 * Reads audit.key: 64 hex digits and a newline, then optionally
 * "keyed_from=N" and a newline (N >= 1; absent: 1). Returns 0 with key and
 * *from, -ERR_NOENT when the file is absent, another code naming it.
 */
static int pki_read_audit(const char *dir, uint8_t key[CRYPTO_SEAL_KEY_LEN],
                          int64_t *from, struct diag *d)
{
	static const char tag[] = "keyed_from=";
	uint8_t k[CRYPTO_SEAL_KEY_LEN];
	char *path = NULL, *data = NULL;
	size_t len = 0, n = 0, i, rest;
	long long v = 0;
	const char *p;
	int r;

	if ((r = pki_read(dir, PKI_AUDIT_KEY_FILE, true, &path, &data, &len,
	                  d)) != 0)
		goto out;
	if (len < PKI_MASTER_HEX + 1 || data[PKI_MASTER_HEX] != '\n' ||
	    crypto_unhex(data, PKI_MASTER_HEX, k, sizeof(k), &n) != 0 ||
	    n != sizeof(k)) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "%s: want %d hex digits and a newline", path,
		             PKI_MASTER_HEX);
		goto out;
	}
	p = data + PKI_MASTER_HEX + 1;
	rest = len - PKI_MASTER_HEX - 1;
	if (rest == 0) {
		v = 1;
	} else {
		if (rest < sizeof(tag) ||
		    memcmp(p, tag, sizeof(tag) - 1) != 0 ||
		    p[rest - 1] != '\n' || rest - sizeof(tag) > 18 ||
		    p[sizeof(tag) - 1] == '\n') {
			r = diag_set(d, ERR_PARSE, 0, 0,
			             "%s: line 2: want keyed_from=N and a "
			             "newline, or no line 2",
			             path);
			goto out;
		}
		for (i = sizeof(tag) - 1; i < rest - 1; i++) {
			if (p[i] < '0' || p[i] > '9') {
				r = diag_set(d, ERR_PARSE, 0, 0,
				             "%s: line 2: keyed_from is not a "
				             "number",
				             path);
				goto out;
			}
			v = v * 10 + (p[i] - '0');
		}
		if (v < 1) {
			r = diag_set(d, ERR_PARSE, 0, 0,
			             "%s: line 2: keyed_from must be 1 or "
			             "more",
			             path);
			goto out;
		}
	}
	memcpy(key, k, sizeof(k));
	*from = (int64_t)v;
	r = 0;
out:
	crypto_wipe(k, sizeof(k));
	if (data != NULL)
		crypto_secret_free(data, len + 1);
	free(path);
	return r;
}

/* The text of audit.key for key, keyed from row from. Returns a new
 * buffer (caller frees with crypto_secret_free(*out, *len + 1)). */
static int pki_audit_text(const uint8_t key[CRYPTO_SEAL_KEY_LEN], int64_t from,
                          char **out, size_t *len, struct diag *d)
{
	size_t cap = PKI_MASTER_HEX + 40;
	char *t;
	int w = 0;

	if ((t = malloc(cap)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	if (crypto_hex(key, CRYPTO_SEAL_KEY_LEN, t, cap) != 0) {
		crypto_secret_free(t, cap);
		return diag_set(d, ERR_INTERNAL, 0, 0, "audit key: hex");
	}
	if (from > 1)
		w = snprintf(t + PKI_MASTER_HEX, cap - PKI_MASTER_HEX,
		             "\nkeyed_from=%" PRId64 "\n", from);
	else
		w = snprintf(t + PKI_MASTER_HEX, cap - PKI_MASTER_HEX, "\n");
	if (w < 0 || (size_t)w >= cap - PKI_MASTER_HEX) {
		crypto_secret_free(t, cap);
		return diag_set(d, ERR_TRUNC, 0, 0, "audit key: too long");
	}
	*out = t;
	*len = PKI_MASTER_HEX + (size_t)w;
	return 0;
}

int pki_load(const char *dir, struct pki *out, struct diag *d)
{
	struct pki p;
	struct crypto_cert_info info;
	struct crypto_key *server_key = NULL;
	struct crypto_rng *rng = NULL;
	struct diag sub;
	char *ca_path = NULL, *srv_path = NULL, *path = NULL;
	char fp[CRYPTO_HEX_LEN + 1];
	int r, w;

	memset(&p, 0, sizeof(p));
	diag_clear(&sub);
	if ((r = crypto_rng_new("mcpfleet pki_load", &rng, &sub)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", dir, sub.msg);
		goto out;
	}

	/* The CA: a CA certificate, and its key. */
	if ((r = pki_read(dir, PKI_CA_CERT_FILE, false, &ca_path, &p.ca_pem,
	                  &p.ca_len, d)) != 0)
		goto out;
	if ((r = crypto_cert_parse(p.ca_pem, p.ca_len, &info, NULL, &sub)) !=
	    0) {
		r = pki_fail(d, r, ca_path, &sub);
		goto out;
	}
	if (!info.is_ca) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: not a CA certificate",
		             ca_path);
		goto out;
	}
	if ((r = pki_read_key(dir, PKI_CA_KEY_FILE, &p.ca_key, NULL, NULL,
	                      d)) != 0)
		goto out;
	if ((path = fileio_join(dir, PKI_CA_KEY_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = pki_key_check(p.ca_key, p.ca_pem, p.ca_len, rng, path, ca_path,
	                       d)) != 0)
		goto out;
	if ((r = crypto_cert_fingerprint(p.ca_pem, p.ca_len, fp, &sub)) != 0) {
		r = pki_fail(d, r, ca_path, &sub);
		goto out;
	}
	w = snprintf(p.ca_pin, sizeof(p.ca_pin), "sha256:%s", fp);
	if (w < 0 || (size_t)w >= sizeof(p.ca_pin)) {
		r = diag_set(d, ERR_TRUNC, 0, 0, "%s: pin too long", ca_path);
		goto out;
	}

	/* The server's certificate: issued by this CA for TLS servers, and
	 * its key. */
	if ((r = pki_read(dir, PKI_SERVER_CERT_FILE, false, &srv_path,
	                  &p.server_cert_pem, &p.server_cert_len, d)) != 0)
		goto out;
	if ((r = crypto_cert_verify(p.server_cert_pem, p.server_cert_len,
	                            p.ca_pem, p.ca_len, CRYPTO_PURPOSE_SERVER,
	                            &sub)) != 0) {
		r = pki_fail(d, r, srv_path, &sub);
		goto out;
	}
	if ((r = pki_read_key(dir, PKI_SERVER_KEY_FILE, &server_key,
	                      &p.server_key_pem, &p.server_key_len, d)) != 0)
		goto out;
	free(path);
	if ((path = fileio_join(dir, PKI_SERVER_KEY_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = pki_key_check(server_key, p.server_cert_pem, p.server_cert_len,
	                       rng, path, srv_path, d)) != 0)
		goto out;

	/* The catalogue signing key, and what agents are told of it. */
	if ((r = pki_read_key(dir, PKI_SIGNER_KEY_FILE, &p.signer, NULL, NULL,
	                      d)) != 0)
		goto out;
	free(path);
	if ((path = fileio_join(dir, PKI_SIGNER_KEY_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = pki_key_check(p.signer, NULL, 0, rng, path, NULL, d)) != 0)
		goto out;
	if ((r = crypto_key_write_public(p.signer, &p.signer_pub_pem,
	                                 &p.signer_pub_len, &sub)) != 0) {
		r = pki_fail(d, r, path, &sub);
		goto out;
	}
	if (crypto_key_id(p.signer, p.signer_key_id) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "%s: cannot hash the key",
		             path);
		goto out;
	}

	if ((r = pki_read_master(dir, p.master, d)) != 0)
		goto out;
	r = pki_read_audit(dir, p.audit_key, &p.audit_keyed_from, d);
	if (r == -ERR_NOENT) {
		diag_clear(d);
		r = 0;
	} else if (r != 0) {
		goto out;
	} else {
		p.audit_keyed = true;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	pki_free(&p);
	crypto_key_free(server_key);
	crypto_rng_free(rng);
	free(ca_path);
	free(srv_path);
	free(path);
	return r;
}

void pki_free(struct pki *p)
{
	if (p == NULL)
		return;
	free(p->ca_pem);
	crypto_key_free(p->ca_key);
	free(p->server_cert_pem);
	if (p->server_key_pem != NULL)
		crypto_secret_free(p->server_key_pem, p->server_key_len + 1);
	crypto_key_free(p->signer);
	free(p->signer_pub_pem);
	crypto_wipe(p->master, sizeof(p->master));
	crypto_wipe(p->audit_key, sizeof(p->audit_key));
	memset(p, 0, sizeof(*p));
}

/* ---- mcpfleetd.conf ---- */

void pki_conf_defaults(struct pki_conf *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->listen, "0.0.0.0", sizeof("0.0.0.0"));
	c->agent_port = PKI_DEFAULT_AGENT_PORT;
	c->api_port = PKI_DEFAULT_API_PORT;
	memcpy(c->names[0], "localhost", sizeof("localhost"));
	memcpy(c->names[1], "127.0.0.1", sizeof("127.0.0.1"));
	c->nnames = 2;
	c->device_days = PKI_DEVICE_DAYS;
	c->token_ttl = PKI_DEFAULT_TTL;
	c->enroll_rate = PKI_DEFAULT_RATE;
	c->offline_grace = PKI_DEFAULT_GRACE;
	c->call_spool_max = PKI_DEFAULT_SPOOL;
	c->calls_retention = PKI_DEFAULT_KEEP;
	c->replica_heartbeat = PKI_DEFAULT_HEARTBEAT;
	oidc_conf_defaults(&c->oidc);
}

/* A decimal number in [min, max], digits only. */
static int pki_conf_number(const char *v, long long min, long long max,
                           long long *out)
{
	long long n = 0;
	size_t i;

	if (v[0] == '\0')
		return -ERR_INVALID;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -ERR_INVALID;
		if (n > (max - (v[i] - '0')) / 10)
			return -ERR_INVALID; /* beyond max, or overflow */
		n = n * 10 + (v[i] - '0');
	}
	if (n < min)
		return -ERR_INVALID;
	*out = n;
	return 0;
}

/* The address both ports bind: an IPv4 or IPv6 literal. */
static bool pki_conf_listen_ok(const char *v)
{
	uint8_t a[16];

	return strlen(v) < sizeof(((struct pki_conf *)0)->listen) &&
	       (inet_pton(AF_INET, v, a) == 1 ||
	        inet_pton(AF_INET6, v, a) == 1);
}

/* A server name: a DNS name or an IP literal, as a SubjectAltName takes
 * it, without a "DNS:" or "IP:" prefix (the first name goes into links). */
static int pki_conf_name_check(const char *v, struct diag *sub)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if (strlen(v) > PKI_NAME_MAX)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "name is longer than %d bytes", PKI_NAME_MAX);
	if (strncmp(v, "DNS:", 4) == 0 || strncmp(v, "IP:", 3) == 0)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "name \"%s\": write it without the prefix", v);
	r = crypto_san_der(&v, 1, &der, &len, sub);
	free(der);
	return r;
}

/* The store key: a location store_location() takes, short enough. */
static int pki_conf_store_check(const char *v, struct diag *sub)
{
	const char *backend = NULL;
	char *path = NULL;
	int r;

	if (strnlen(v, PKI_STORE_MAX + 1) > PKI_STORE_MAX)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "store: longer than %d bytes", PKI_STORE_MAX);
	if ((r = store_location(v, "-", &backend, &path, sub)) != 0)
		return r;
	free(path);
	return 0;
}

/*
 * An agent address: valid, and its host one of the names, which the
 * server certificate holds: agents check that it names the host they
 * connect to.
 */
static int pki_conf_address_check(const struct pki_conf *c, const char *v,
                                  struct diag *sub)
{
	char host[REPLICAS_HOST_MAX + 1];
	struct diag inner;
	size_t i;

	diag_clear(&inner);
	if (replicas_addr_parse(v, host, NULL, &inner) != 0)
		return diag_set(sub, ERR_INVALID, 0, 0, "agent_address: %s",
		                inner.msg);
	for (i = 0; i < c->nnames; i++)
		if (strcasecmp(host, c->names[i]) == 0)
			return 0;
	return diag_set(sub, ERR_INVALID, 0, 0,
	                "agent_address: host '%s' is not one of the names "
	                "(the server certificate's): agents would refuse "
	                "this replica",
	                host);
}

/* Checks a whole configuration (what pki_conf_write() will write). */
static int pki_conf_check(const struct pki_conf *c, struct diag *sub)
{
	size_t i;
	int r;

	if (memchr(c->listen, '\0', sizeof(c->listen)) == NULL ||
	    !pki_conf_listen_ok(c->listen))
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "listen: not an IPv4 or IPv6 address");
	if (c->agent_port < 1 || c->agent_port > 65535 || c->api_port < 1 ||
	    c->api_port > 65535)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "ports must be 1 to 65535");
	if (c->agent_port == c->api_port)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "agent_port and api_port are both %d",
		                c->agent_port);
	if (c->nnames < 1 || c->nnames > PKI_NAMES_MAX)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "%zu names, want 1 to %d", c->nnames,
		                PKI_NAMES_MAX);
	for (i = 0; i < c->nnames; i++) {
		if (memchr(c->names[i], '\0', sizeof(c->names[i])) == NULL)
			return diag_set(sub, ERR_INVALID, 0, 0,
			                "name %zu is not terminated", i + 1);
		if ((r = pki_conf_name_check(c->names[i], sub)) != 0)
			return r;
	}
	if (c->device_days < 1 || c->device_days > 36500)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "device_days must be 1 to 36500");
	if (c->token_ttl < 60 || c->token_ttl > PKI_TOKEN_TTL_MAX)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "token_ttl must be 60 to %lld seconds",
		                PKI_TOKEN_TTL_MAX);
	if (c->enroll_rate < 1 || c->enroll_rate > PKI_ENROLL_RATE_MAX)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "enroll_rate must be 1 to %u",
		                PKI_ENROLL_RATE_MAX);
	if (memchr(c->store, '\0', sizeof(c->store)) == NULL)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "store is not terminated");
	if (c->store[0] != '\0' &&
	    (r = pki_conf_store_check(c->store, sub)) != 0)
		return r;
	if (c->replica_heartbeat < 1 || c->replica_heartbeat > 3600)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "replica_heartbeat must be 1 to 3600 seconds");
	if (memchr(c->agent_address, '\0', sizeof(c->agent_address)) == NULL)
		return diag_set(sub, ERR_INVALID, 0, 0,
		                "agent_address is not terminated");
	if (c->agent_address[0] != '\0' &&
	    (r = pki_conf_address_check(c, c->agent_address, sub)) != 0)
		return r;
	return oidc_conf_check(&c->oidc, sub);
}

/* Keys seen so far, to refuse a repeated one. */
enum {
	PKI_K_LISTEN = 1u << 0,
	PKI_K_AGENT_PORT = 1u << 1,
	PKI_K_API_PORT = 1u << 2,
	PKI_K_DEVICE_DAYS = 1u << 3,
	PKI_K_TOKEN_TTL = 1u << 4,
	PKI_K_ENROLL_RATE = 1u << 5,
	PKI_K_NAME = 1u << 6, /* repeatable */
	PKI_K_GRACE = 1u << 7,
	PKI_K_SPOOL = 1u << 8,
	PKI_K_KEEP = 1u << 9,
	PKI_K_STORE = 1u << 10,
	PKI_K_ADDRESS = 1u << 11,
	PKI_K_HEARTBEAT = 1u << 12,
};

/* Applies one "key = value" line to c. */
static int pki_conf_apply(struct pki_conf *c, const char *key, const char *v,
                          unsigned *seen, const char *path, unsigned line,
                          struct diag *d)
{
	struct diag sub;
	unsigned bit;
	long long n = 0;
	size_t len;
	int r;

	diag_clear(&sub);
	if (oidc_conf_key(key)) /* console sign-in: server/oidcconf.c */
		return oidc_conf_apply(&c->oidc, key, v, path, line, d);
	if (strcmp(key, "listen") == 0)
		bit = PKI_K_LISTEN;
	else if (strcmp(key, "agent_port") == 0)
		bit = PKI_K_AGENT_PORT;
	else if (strcmp(key, "api_port") == 0)
		bit = PKI_K_API_PORT;
	else if (strcmp(key, "device_days") == 0)
		bit = PKI_K_DEVICE_DAYS;
	else if (strcmp(key, "token_ttl") == 0)
		bit = PKI_K_TOKEN_TTL;
	else if (strcmp(key, "enroll_rate") == 0)
		bit = PKI_K_ENROLL_RATE;
	else if (strcmp(key, "name") == 0)
		bit = PKI_K_NAME;
	else if (strcmp(key, "offline_grace") == 0)
		bit = PKI_K_GRACE;
	else if (strcmp(key, "call_spool_max") == 0)
		bit = PKI_K_SPOOL;
	else if (strcmp(key, "calls_retention") == 0)
		bit = PKI_K_KEEP;
	else if (strcmp(key, "store") == 0)
		bit = PKI_K_STORE;
	else if (strcmp(key, "agent_address") == 0)
		bit = PKI_K_ADDRESS;
	else if (strcmp(key, "replica_heartbeat") == 0)
		bit = PKI_K_HEARTBEAT;
	else
		return diag_set(d, ERR_PARSE, line, 0,
		                "%s:%u: unknown key '%.64s'", path, line, key);
	if (bit != PKI_K_NAME && (*seen & bit) != 0)
		return diag_set(d, ERR_PARSE, line, 0,
		                "%s:%u: '%s' is set twice", path, line, key);
	switch (bit) {
	case PKI_K_LISTEN:
		if (!pki_conf_listen_ok(v))
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: listen: '%.64s' is not an IPv4 "
			                "or IPv6 address",
			                path, line, v);
		memcpy(c->listen, v, strlen(v) + 1);
		break;
	case PKI_K_AGENT_PORT:
	case PKI_K_API_PORT:
		if (pki_conf_number(v, 1, 65535, &n) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: '%.64s' is not a port "
			                "(1 to 65535)",
			                path, line, key, v);
		if (bit == PKI_K_AGENT_PORT)
			c->agent_port = (int)n;
		else
			c->api_port = (int)n;
		break;
	case PKI_K_DEVICE_DAYS:
		if (pki_conf_number(v, 1, 36500, &n) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: device_days: '%.64s' is not 1 "
			                "to 36500",
			                path, line, v);
		c->device_days = (unsigned)n;
		break;
	case PKI_K_TOKEN_TTL:
		if (pki_conf_number(v, 60, PKI_TOKEN_TTL_MAX, &n) != 0)
			return diag_set(
			    d, ERR_INVALID, line, 0,
			    "%s:%u: token_ttl: '%.64s' is not 60 to "
			    "%lld seconds",
			    path, line, v, PKI_TOKEN_TTL_MAX);
		c->token_ttl = n;
		break;
	case PKI_K_ENROLL_RATE:
		if (pki_conf_number(v, 1, PKI_ENROLL_RATE_MAX, &n) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: enroll_rate: '%.64s' is not 1 "
			                "to %u",
			                path, line, v, PKI_ENROLL_RATE_MAX);
		c->enroll_rate = (unsigned)n;
		break;
	case PKI_K_GRACE:
	case PKI_K_KEEP:
		if (pki_conf_number(v, 60, 3650LL * 86400, &n) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: '%.64s' is not 60 seconds "
			                "to 10 years (in seconds)",
			                path, line, key, v);
		if (bit == PKI_K_GRACE)
			c->offline_grace = n;
		else
			c->calls_retention = n;
		break;
	case PKI_K_STORE:
		if ((r = pki_conf_store_check(v, &sub)) != 0)
			return diag_set(d, r, line, 0, "%s:%u: %s", path, line,
			                sub.msg);
		len = strlen(v);
		memcpy(c->store, v, len + 1);
		break;
	case PKI_K_ADDRESS:
		/* Its host is checked against the names once all are read. */
		if (replicas_addr_parse(v, NULL, NULL, &sub) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: agent_address: %s", path, line,
			                sub.msg);
		memcpy(c->agent_address, v, strlen(v) + 1);
		break;
	case PKI_K_HEARTBEAT:
		if (pki_conf_number(v, 1, 3600, &n) != 0)
			return diag_set(
			    d, ERR_INVALID, line, 0,
			    "%s:%u: replica_heartbeat: '%.64s' is not "
			    "1 to 3600 seconds",
			    path, line, v);
		c->replica_heartbeat = n;
		break;
	case PKI_K_SPOOL:
		if (pki_conf_number(v, 65536, 256LL << 20, &n) != 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: call_spool_max: '%.64s' is not "
			                "65536 to 268435456 bytes",
			                path, line, v);
		c->call_spool_max = n;
		break;
	default: /* PKI_K_NAME */
		/* The file's names replace the defaults, not add to them. */
		if ((*seen & PKI_K_NAME) == 0)
			c->nnames = 0;
		if (c->nnames == PKI_NAMES_MAX)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: more than %d names", path, line,
			                PKI_NAMES_MAX);
		if ((r = pki_conf_name_check(v, &sub)) != 0)
			return diag_set(d, r, line, 0, "%s:%u: %s", path, line,
			                sub.msg);
		len = strlen(v);
		memcpy(c->names[c->nnames], v, len + 1);
		c->nnames++;
		break;
	}
	*seen |= bit;
	return 0;
}

/* Strips spaces and tabs from both ends of s[0..*len). */

static const char *pki_conf_trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

/* Parses the text of a configuration file over the defaults. */
static int pki_conf_parse(const char *path, const char *data, size_t len,
                          struct pki_conf *out, struct diag *d)
{
	struct pki_conf c;
	char key[PKI_CONF_LINE_MAX + 1], val[PKI_CONF_LINE_MAX + 1];
	const char *p = data, *end = data + len, *nl, *eq, *k, *v;
	size_t n, kn, vn, i;
	unsigned line = 0, seen = 0;
	struct diag sub;
	int r;

	pki_conf_defaults(&c);
	diag_clear(&sub);
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PKI_CONF_LINE_MAX)
			return diag_set(d, ERR_PARSE, line, 0,
			                "%s:%u: line longer than %d bytes",
			                path, line, PKI_CONF_LINE_MAX);
		for (i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
				return diag_set(
				    d, ERR_PARSE, line, 0,
				    "%s:%u: control character 0x%02x", path,
				    line, (unsigned char)p[i]);
		k = pki_conf_trim(p, &n);
		p = nl != NULL ? nl + 1 : end;
		if (n == 0 || k[0] == '#')
			continue;
		if ((eq = memchr(k, '=', n)) == NULL)
			return diag_set(d, ERR_PARSE, line, 0,
			                "%s:%u: expected 'key = value'", path,
			                line);
		kn = (size_t)(eq - k);
		vn = n - kn - 1;
		k = pki_conf_trim(k, &kn);
		v = pki_conf_trim(eq + 1, &vn);
		if (kn == 0)
			return diag_set(d, ERR_PARSE, line, 0,
			                "%s:%u: a value without a key", path,
			                line);
		if (vn == 0)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: '%.*s' has no value", path,
			                line, (int)(kn > 64 ? 64 : kn), k);
		memcpy(key, k, kn);
		key[kn] = '\0';
		memcpy(val, v, vn);
		val[vn] = '\0';
		if ((r = pki_conf_apply(&c, key, val, &seen, path, line, d)) !=
		    0)
			return r;
	}
	if ((r = pki_conf_check(&c, &sub)) != 0)
		return diag_set(d, r, 0, 0, "%s: %s", path, sub.msg);
	*out = c;
	return 0;
}

int pki_conf_load(const char *dir, struct pki_conf *c, struct diag *d)
{
	char *path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	if ((r = pki_read(dir, PKI_CONF_FILE, false, &path, &data, &len, d)) !=
	    0)
		goto out;
	if (memchr(data, '\0', len) != NULL) {
		r = diag_set(d, ERR_PARSE, 0, 0, "%s: holds a NUL byte", path);
		goto out;
	}
	r = pki_conf_parse(path, data, len, c, d);
out:
	free(data);
	free(path);
	return r;
}

int pki_conf_write(const char *dir, const struct pki_conf *c, struct diag *d)
{
	struct buf b = BUF_INIT;
	struct diag sub;
	char *path = NULL;
	size_t i;
	int r;

	diag_clear(&sub);
	if ((path = fileio_join(dir, PKI_CONF_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = pki_conf_check(c, &sub)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", path, sub.msg);
		goto out;
	}
	r = buf_printf(&b,
	               "# mcpfleetd configuration (mcpfleetd.conf).\n"
	               "# 'key = value' lines; '#' starts a comment line.\n"
	               "listen = %s\n"
	               "agent_port = %d\n"
	               "api_port = %d\n",
	               c->listen, c->agent_port, c->api_port);
	for (i = 0; r == 0 && i < c->nnames; i++)
		r = buf_printf(&b, "name = %s\n", c->names[i]);
	if (r == 0)
		r = buf_printf(&b,
		               "device_days = %u\n"
		               "token_ttl = %" PRId64 "\n"
		               "enroll_rate = %u\n"
		               "offline_grace = %" PRId64 "\n"
		               "call_spool_max = %" PRId64 "\n"
		               "calls_retention = %" PRId64 "\n",
		               c->device_days, c->token_ttl, c->enroll_rate,
		               c->offline_grace, c->call_spool_max,
		               c->calls_retention);
	if (r == 0 && c->store[0] != '\0')
		r = buf_printf(&b, "store = %s\n", c->store);
	if (r == 0 && c->agent_address[0] != '\0')
		r = buf_printf(&b, "agent_address = %s\n", c->agent_address);
	if (r == 0 && c->replica_heartbeat != PKI_DEFAULT_HEARTBEAT)
		r = buf_printf(&b, "replica_heartbeat = %" PRId64 "\n",
		               c->replica_heartbeat);
	if (r == 0)
		r = oidc_conf_format(&c->oidc, &b);
	if (r != 0) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "%s: out of memory", path);
		goto out;
	}
	if (fileio_write_atomic(path, b.data, b.len, PKI_FILE_MODE,
	                        FILEIO_FORCE_MODE) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	buf_free(&b);
	free(path);
	return r;
}

/* ---- Creating ---- */

/* One file pki_create() writes. */
struct pki_out {
	char *path;
	char *data;
	size_t len;
	bool secret; /* wiped when freed */
	bool written;
};

static void pki_out_free(struct pki_out *o)
{
	if (o->data != NULL) {
		if (o->secret)
			crypto_secret_free(o->data, o->len);
		else
			free(o->data);
	}
	free(o->path);
	memset(o, 0, sizeof(*o));
}

/* Generates a key and its PEM into o. */
static int pki_make_key(struct crypto_rng *rng, struct crypto_key **key,
                        struct pki_out *o, struct diag *d)
{
	int r;

	if ((r = crypto_key_generate(rng, key, d)) != 0)
		return r;
	o->secret = true;
	return crypto_key_write_private(*key, &o->data, &o->len, d);
}

/* Makes the server's key and its certificate for conf's names, signed by
 * the CA (f[PKI_F_CA_CERT] holds its certificate), into f. */
static int pki_server_issue(struct crypto_rng *rng, struct crypto_key *ca,
                            const struct pki_conf *conf, struct pki_out *f,
                            struct diag *d)
{
	const char *san[PKI_NAMES_MAX];
	struct crypto_cert_req req;
	struct crypto_key *srv = NULL;
	size_t i;
	int r;

	if ((r = pki_make_key(rng, &srv, &f[PKI_F_SERVER_KEY], d)) != 0)
		return r;
	for (i = 0; i < conf->nnames; i++)
		san[i] = conf->names[i];
	memset(&req, 0, sizeof(req));
	req.cn = PKI_SERVER_CN;
	req.org = PKI_ORG;
	req.days = PKI_SERVER_DAYS;
	req.purpose = CRYPTO_PURPOSE_SERVER;
	req.san = san;
	req.nsan = conf->nnames;
	r = crypto_cert_issue(
	    rng, ca, f[PKI_F_CA_CERT].data, f[PKI_F_CA_CERT].len, srv, &req,
	    &f[PKI_F_SERVER_CERT].data, &f[PKI_F_SERVER_CERT].len, NULL, d);
	crypto_key_free(srv);
	return r;
}

/* Writes every file of f (0600). Returns 0 or -ERR_IO with d set. */
static int pki_write_all(struct pki_out *f, struct diag *d)
{
	size_t i;

	for (i = 0; i < PKI_NFILES; i++) {
		if (fileio_write_atomic(f[i].path, f[i].data, f[i].len,
		                        PKI_FILE_MODE, FILEIO_FORCE_MODE) != 0)
			return diag_set(d, ERR_IO, 0, 0, "%s: %s", f[i].path,
			                strerror(errno));
		f[i].written = true;
	}
	return 0;
}

/* Frees f; on failure first removes what was written of it, so that the
 * command can run again without being refused by its own leftovers. */
static void pki_out_release(struct pki_out *f, bool failed)
{
	size_t i;

	for (i = 0; i < PKI_NFILES; i++) {
		if (failed && f[i].written)
			(void)unlink(f[i].path);
		pki_out_free(&f[i]);
	}
}

int pki_create(const char *dir, const struct pki_conf *conf,
               struct crypto_rng *rng, struct diag *d)
{
	struct pki_out f[PKI_NFILES];
	struct crypto_key *ca = NULL, *signer = NULL;
	uint8_t master[CRYPTO_SEAL_KEY_LEN], audit[CRYPTO_SEAL_KEY_LEN];
	struct crypto_ca_req careq;
	struct diag sub;
	size_t i;
	int r;

	memset(f, 0, sizeof(f));
	diag_clear(&sub);
	if (!fileio_is_dir(dir)) {
		r = diag_set(d, ERR_NOENT, 0, 0, "%s: not a directory", dir);
		goto out;
	}
	/* The configuration that goes with this material must be writable
	 * afterwards: check it now, while nothing has been written. */
	if ((r = pki_conf_check(conf, &sub)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", PKI_CONF_FILE, sub.msg);
		goto out;
	}
	/* Check every target before writing any, so that a refusal leaves
	 * the directory exactly as it was. */
	for (i = 0; i < PKI_NFILES; i++) {
		if ((f[i].path = fileio_join(dir, pki_file_names[i])) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		if (fileio_exists(f[i].path)) {
			r = diag_set(d, ERR_EXISTS, 0, 0,
			             "%s already exists; nothing was written",
			             f[i].path);
			goto out;
		}
	}

	/* The fleet CA. */
	if ((r = pki_make_key(rng, &ca, &f[PKI_F_CA_KEY], d)) != 0)
		goto out;
	memset(&careq, 0, sizeof(careq));
	careq.cn = PKI_CA_CN;
	careq.org = PKI_ORG;
	careq.years = PKI_CA_YEARS;
	if ((r = crypto_ca_create(rng, ca, &careq, &f[PKI_F_CA_CERT].data,
	                          &f[PKI_F_CA_CERT].len, d)) != 0)
		goto out;

	/* The server's TLS certificate, for every name it is reached by. */
	if ((r = pki_server_issue(rng, ca, conf, f, d)) != 0)
		goto out;

	/* The catalogue signing key: never the CA's, so that a leak of one
	 * does not give the other. */
	if ((r = pki_make_key(rng, &signer, &f[PKI_F_SIGNER_KEY], d)) != 0)
		goto out;

	/* The master key, as hex: an admin can copy it into a password
	 * manager and back without a binary-safe tool. */
	if (crypto_random(rng, master, sizeof(master)) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "master key: no randomness");
		goto out;
	}
	f[PKI_F_MASTER_KEY].secret = true;
	f[PKI_F_MASTER_KEY].len = PKI_MASTER_HEX + 1;
	if ((f[PKI_F_MASTER_KEY].data = malloc(PKI_MASTER_HEX + 2)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (crypto_hex(master, sizeof(master), f[PKI_F_MASTER_KEY].data,
	               PKI_MASTER_HEX + 2) != 0) {
		r = diag_set(d, ERR_INTERNAL, 0, 0, "master key: hex");
		goto out;
	}
	f[PKI_F_MASTER_KEY].data[PKI_MASTER_HEX] = '\n';
	f[PKI_F_MASTER_KEY].data[PKI_MASTER_HEX + 1] = '\0';

	/* The audit key, keying the chain from its first row. */
	if (crypto_random(rng, audit, sizeof(audit)) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "audit key: no randomness");
		goto out;
	}
	f[PKI_F_AUDIT_KEY].secret = true;
	if ((r = pki_audit_text(audit, 1, &f[PKI_F_AUDIT_KEY].data,
	                        &f[PKI_F_AUDIT_KEY].len, d)) != 0)
		goto out;

	r = pki_write_all(f, d);
out:
	/* A failure half-way removes what this call wrote, so that running
	 * init again is not refused by its own leftovers. */
	pki_out_release(f, r != 0);
	crypto_wipe(master, sizeof(master));
	crypto_wipe(audit, sizeof(audit));
	crypto_key_free(ca);
	crypto_key_free(signer);
	return r;
}

/* ---- The audit key ---- */

int pki_audit_attach(const char *dir, struct pki *p, struct store *st,
                     struct crypto_rng *rng, int64_t *created, struct diag *d)
{
	uint8_t key[CRYPTO_SEAL_KEY_LEN];
	char details[64];
	char *path = NULL, *text = NULL;
	size_t len = 0;
	int64_t next = 0;
	bool written = false, sealed = false;
	int r, w;

	if (p->audit_keyed) {
		if ((r = store_audit_key(st, p->audit_key, p->audit_keyed_from,
		                         d)) != 0)
			return r;
		if (created != NULL)
			*created = 0;
		return 0;
	}
	if ((path = fileio_join(dir, PKI_AUDIT_KEY_FILE)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	if (crypto_random(rng, key, sizeof(key)) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "%s: no randomness", path);
		goto out;
	}
	/* The write lock first, so that the row keyed_from names is the
	 * one appended below, whoever else writes to the store. */
	if ((r = store_begin(st, d)) != 0)
		goto out;
	if ((r = store_audit_next_id(st, &next, &sealed, d)) != 0)
		goto rollback;
	/* Another data directory's key already keys this store (daemons
	 * sharing one PostgreSQL store, or a data directory restored
	 * without its audit.key): a second key would leave a chain that
	 * neither verifies. */
	if (sealed) {
		r = diag_set(d, ERR_CONFLICT, 0, 0,
		             "%s is missing but the store's audit chain is "
		             "already keyed: copy the audit.key of the data "
		             "directory that keyed it here, as for master.key; "
		             "nothing was changed",
		             path);
		goto rollback;
	}
	if ((r = pki_audit_text(key, next, &text, &len, d)) != 0)
		goto rollback;
	if (fileio_exists(path)) {
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "%s appeared while it was being created; "
		             "nothing was changed",
		             path);
		goto rollback;
	}
	/* The file before the commit: a row keyed under a key that was
	 * never written down could never be verified again. */
	if (fileio_write_atomic(path, text, len, PKI_FILE_MODE,
	                        FILEIO_FORCE_MODE) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", path, strerror(errno));
		goto rollback;
	}
	written = true;
	w = snprintf(details, sizeof(details), "{\"keyed_from\": %" PRId64 "}",
	             next);
	if (w < 0 || (size_t)w >= sizeof(details)) {
		r = diag_set(d, ERR_TRUNC, 0, 0, "audit key: details");
		goto rollback;
	}
	if ((r = store_audit_key(st, key, next, d)) != 0 ||
	    (r = store_audit_append(st, "system", "audit.key", "", details,
	                            NULL, d)) != 0 ||
	    (r = store_commit(st, d)) != 0)
		goto rollback;
	memcpy(p->audit_key, key, sizeof(key));
	p->audit_keyed_from = next;
	p->audit_keyed = true;
	if (created != NULL)
		*created = next;
	r = 0;
	goto out;
rollback:
	(void)store_rollback(st, NULL);
	(void)store_audit_key(st, NULL, 0, NULL);
	if (written)
		(void)unlink(path);
out:
	crypto_wipe(key, sizeof(key));
	if (text != NULL)
		crypto_secret_free(text, len + 1);
	free(path);
	return r;
}

/* Reads dir/name into o (a copy of a file another data directory holds). */
static int pki_copy_in(const char *dir, const char *name, bool secret,
                       struct pki_out *o, struct diag *d)
{
	char *path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	if ((r = pki_read(dir, name, secret, &path, &data, &len, d)) != 0)
		return r;
	free(path);
	o->data = data;
	o->len = len;
	o->secret = true; /* wiped when freed, the certificate too */
	return 0;
}

int pki_join(const char *from, const char *dir, const struct pki_conf *conf,
             struct crypto_rng *rng, struct diag *d)
{
	struct pki_out f[PKI_NFILES];
	struct crypto_key *ca = NULL;
	struct diag sub;
	struct pki probe;
	size_t i;
	int r;

	memset(f, 0, sizeof(f));
	memset(&probe, 0, sizeof(probe));
	diag_clear(&sub);
	if (!fileio_is_dir(dir)) {
		r = diag_set(d, ERR_NOENT, 0, 0, "%s: not a directory", dir);
		goto out;
	}
	if ((r = pki_conf_check(conf, &sub)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", PKI_CONF_FILE, sub.msg);
		goto out;
	}
	/* The first replica's material must be whole and sound: the
	 * same checks as serving from it. */
	if ((r = pki_load(from, &probe, d)) != 0)
		goto out;
	for (i = 0; i < PKI_NFILES; i++) {
		if ((f[i].path = fileio_join(dir, pki_file_names[i])) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		if (fileio_exists(f[i].path)) {
			r = diag_set(d, ERR_EXISTS, 0, 0,
			             "%s already exists; nothing was written",
			             f[i].path);
			goto out;
		}
	}
	/* Shared: the fleet CA (agents pin it), the catalogue signing
	 * key (agents verify with it), the master key (it seals
	 * secrets), the audit key. */
	if ((r = pki_copy_in(from, PKI_CA_CERT_FILE, false, &f[PKI_F_CA_CERT],
	                     d)) != 0 ||
	    (r = pki_copy_in(from, PKI_CA_KEY_FILE, true, &f[PKI_F_CA_KEY],
	                     d)) != 0 ||
	    (r = pki_copy_in(from, PKI_SIGNER_KEY_FILE, true,
	                     &f[PKI_F_SIGNER_KEY], d)) != 0 ||
	    (r = pki_copy_in(from, PKI_MASTER_KEY_FILE, true,
	                     &f[PKI_F_MASTER_KEY], d)) != 0)
		goto out;
	/* And the audit key, which keys the shared store's chain: a
	 * data directory from before audit keys gets it on its first
	 * serve. */
	if (!probe.audit_keyed) {
		r = diag_set(d, ERR_NOENT, 0, 0,
		             "%s/%s is missing: serve %s once (it creates the "
		             "audit key), then join; nothing was written",
		             from, PKI_AUDIT_KEY_FILE, from);
		goto out;
	}
	if ((r = pki_copy_in(from, PKI_AUDIT_KEY_FILE, true,
	                     &f[PKI_F_AUDIT_KEY], d)) != 0)
		goto out;
	if ((r = crypto_key_load_private(
	         f[PKI_F_CA_KEY].data, f[PKI_F_CA_KEY].len, &ca, &sub)) != 0) {
		r = pki_fail(d, r, PKI_CA_KEY_FILE, &sub);
		goto out;
	}
	/* Its own: the server key and certificate, for its own names. */
	if ((r = pki_server_issue(rng, ca, conf, f, d)) != 0)
		goto out;
	r = pki_write_all(f, d);
out:
	pki_out_release(f, r != 0);
	pki_free(&probe);
	crypto_key_free(ca);
	return r;
}
