/* SPDX-License-Identifier: MIT */
/* The agent's side of certificate renewal (docs/design.md, "Certificate
 * renewal"). */
#include "certrenew.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "enrollment.h"
#include "fileio.h"
#include "mcpfleet.pb-c.h"

#define CERTRENEW_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
/* A key and a certificate in PEM are about 1.2 KiB together. */
#define CERTRENEW_FILE_MAX (2 * CRYPTO_PEM_MAX)

int certrenew_when(const char *cert_pem, size_t cert_len, int64_t before_s,
                   int64_t *renew_at, int64_t *not_after, struct diag *d)
{
	struct crypto_cert_info info;
	struct diag inner;

	diag_clear(&inner);
	if (crypto_cert_parse(cert_pem, cert_len, &info, NULL, &inner) != 0)
		return diag_set(d, ERR_PARSE, 0, 0, "%s: %s", ENROLLMENT_CERT,
		                inner.msg);
	if (before_s <= 0)
		before_s =
		    ((int64_t)info.not_after - (int64_t)info.not_before) / 3;
	*renew_at = (int64_t)info.not_after - before_s;
	if (not_after != NULL)
		*not_after = (int64_t)info.not_after;
	return 0;
}

void certrenew_clear(struct certrenew *r)
{
	if (r == NULL)
		return;
	crypto_key_free(r->key);
	crypto_secret_free(r->key_pem, r->key_len);
	memset(r, 0, sizeof(*r));
}

int certrenew_start(struct crypto_rng *rng, const char *device_id,
                    struct certrenew *r, uint8_t **frame, size_t *len,
                    struct diag *d)
{
	Mcpfleet__V1__AgentFrame f;
	Mcpfleet__V1__RenewRequest req;
	struct certrenew n = {0};
	char *csr = NULL;
	size_t csr_len = 0, plen;
	uint8_t *out;
	int rc;

	if ((rc = crypto_key_generate(rng, &n.key, d)) != 0 ||
	    (rc = crypto_key_write_private(n.key, &n.key_pem, &n.key_len, d)) !=
	        0 ||
	    (rc = crypto_csr_create(rng, n.key, device_id, &csr, &csr_len,
	                            d)) != 0)
		goto fail;
	mcpfleet__v1__agent_frame__init(&f);
	mcpfleet__v1__renew_request__init(&req);
	/* protobuf-c's message structs are not const-correct. */
	req.device_id = (char *)(uintptr_t)device_id;
	req.csr_pem.data = (uint8_t *)csr;
	req.csr_pem.len = csr_len;
	f.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_RENEW;
	f.renew = &req;
	plen = mcpfleet__v1__agent_frame__get_packed_size(&f);
	if ((out = malloc(plen > 0 ? plen : 1)) == NULL) {
		rc = diag_set(d, ERR_NOMEM, 0, 0, "renewal: out of memory");
		goto fail;
	}
	mcpfleet__v1__agent_frame__pack(&f, out);
	free(csr);
	certrenew_clear(r);
	*r = n;
	*frame = out;
	*len = plen;
	return 0;
fail:
	free(csr);
	certrenew_clear(&n);
	return rc;
}

/* Writes name in home atomically with mode. */
static int certrenew_write(const char *home, const char *name, const void *data,
                           size_t len, mode_t mode, struct diag *d)
{
	char *path = fileio_join(home, name);
	int r = 0;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	if (fileio_write_atomic(path, data, len, mode, FILEIO_FORCE_MODE) != 0)
		r = diag_set(d, ERR_IO, 0, 0, "%s: cannot write: %s", path,
		             strerror(errno));
	free(path);
	return r;
}

/* The renewed key and certificate replace the enrolled ones, then
 * ENROLLMENT_RENEWED goes: from any crash on, certrenew_finish() does it
 * again. */
static int certrenew_promote(const char *home, const char *key, size_t key_len,
                             const char *cert, size_t cert_len, struct diag *d)
{
	char *path;
	int r;

	if ((r = certrenew_write(home, ENROLLMENT_KEY, key, key_len, 0600,
	                         d)) != 0 ||
	    (r = certrenew_write(home, ENROLLMENT_CERT, cert, cert_len, 0644,
	                         d)) != 0)
		return r;
	if ((path = fileio_join(home, ENROLLMENT_RENEWED)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	if (unlink(path) != 0 && errno != ENOENT)
		r = diag_set(d, ERR_IO, 0, 0, "%s: cannot remove: %s", path,
		             strerror(errno));
	free(path);
	return r;
}

int certrenew_install(const char *home, const char *device_id,
                      const char *ca_pem, size_t ca_len, struct certrenew *r,
                      const uint8_t *cert, size_t cert_len, int64_t *not_after,
                      struct diag *d)
{
	struct crypto_cert_info info;
	struct buf both = BUF_INIT;
	int rc;

	if (r->key == NULL) {
		rc = diag_set(d, ERR_INVALID, 0, 0,
		              "a certificate came without a renewal asked for");
		goto out;
	}
	if (cert_len == 0 || cert_len > CRYPTO_PEM_MAX ||
	    memchr(cert, '\0', cert_len) != NULL) {
		rc = diag_set(d, ERR_INVALID, 0, 0,
		              "certificate_pem: missing, over %u bytes or not "
		              "text",
		              CRYPTO_PEM_MAX);
		goto out;
	}
	if ((rc = enrollment_cert_check((const char *)cert, cert_len, ca_pem,
	                                ca_len, device_id, r->key, &info, d)) !=
	    0)
		goto out;
	if (buf_append(&both, r->key_pem, r->key_len) != 0 ||
	    buf_append(&both, cert, cert_len) != 0) {
		rc = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((rc = certrenew_write(home, ENROLLMENT_RENEWED, both.data, both.len,
	                          0600, d)) != 0 ||
	    (rc = certrenew_promote(home, r->key_pem, r->key_len,
	                            (const char *)cert, cert_len, d)) != 0)
		goto out;
	if (not_after != NULL)
		*not_after = (int64_t)info.not_after;
out:
	if (both.data != NULL)
		explicit_bzero(both.data, both.len);
	buf_free(&both);
	certrenew_clear(r);
	return rc;
}

int certrenew_finish(const char *home, bool *done, struct diag *d)
{
	struct crypto_key *key = NULL, *pub = NULL;
	char want[CRYPTO_HEX_LEN + 1], got[CRYPTO_HEX_LEN + 1];
	char *path = fileio_join(home, ENROLLMENT_RENEWED), *text = NULL;
	const char *cert;
	size_t len = 0, key_len;
	struct diag inner;
	int r = 0;

	if (done != NULL)
		*done = false;
	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	diag_clear(&inner);
	if ((r = fileio_read(path, CERTRENEW_FILE_MAX, &text, &len)) != 0) {
		if (r == -ERR_NOENT)
			r = 0;
		else
			r = diag_set(d, r, 0, 0, "%s: cannot read: %s", path,
			             r == -ERR_TOOBIG ? "too big"
			                              : strerror(errno));
		goto out;
	}
	/* The key, then the certificate; both whole and a pair, or the
	 * file is not one certrenew_install() wrote. */
	cert = text != NULL ? strstr(text, CERTRENEW_CERT_BEGIN) : NULL;
	key_len = cert != NULL ? (size_t)(cert - text) : 0;
	if (cert == NULL || key_len == 0 ||
	    crypto_key_load_private(text, key_len, &key, &inner) != 0 ||
	    crypto_cert_parse(cert, len - key_len, NULL, &pub, &inner) != 0 ||
	    crypto_key_id(key, want) != 0 || crypto_key_id(pub, got) != 0 ||
	    strcmp(want, got) != 0) {
		if (unlink(path) != 0)
			r = diag_set(d, ERR_IO, 0, 0, "%s: cannot remove: %s",
			             path, strerror(errno));
		goto out;
	}
	if ((r = certrenew_promote(home, text, key_len, cert, len - key_len,
	                           d)) == 0 &&
	    done != NULL)
		*done = true;
out:
	crypto_key_free(key);
	crypto_key_free(pub);
	crypto_secret_free(text, len);
	free(path);
	return r;
}
