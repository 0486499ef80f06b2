/* SPDX-License-Identifier: MIT */
/* Certificate renewal: a connected device's RenewRequest becomes a new
 * client certificate for the same device, recorded and audited. */
#include "renew.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcpfleet.pb-c.h"
#include "pbwire.h"

/* Packs a ServerFrame with a RenewResponse (cert, or the error) into out. */
static int renew_pack(const char *cert, size_t cert_len, const char *error,
                      struct buf *out)
{
	Mcpfleet__V1__ServerFrame f;
	Mcpfleet__V1__RenewResponse rsp;

	mcpfleet__v1__renew_response__init(&rsp);
	/* The generated struct has no const: these are only read. */
	rsp.certificate_pem.data = (uint8_t *)(uintptr_t)cert;
	rsp.certificate_pem.len = cert != NULL ? cert_len : 0;
	rsp.error = (char *)(uintptr_t)(error != NULL ? error : "");
	mcpfleet__v1__server_frame__init(&f);
	f.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_RENEW;
	f.renew = &rsp;
	return pbwire_pack(&f.base, out);
}

/* Appends the refusal's row, in its own transaction; a refusal stands
 * whether or not its row could be written. */
static void renew_audit_refusal(const struct renew_ctx *ctx,
                                const char *device_id, const char *reason)
{
	char actor[sizeof("device:") + 128];
	char *details = NULL;
	json_t *o;

	(void)snprintf(actor, sizeof(actor), "device:%s", device_id);
	if ((o = json_pack("{s:s}", "reason", reason)) != NULL)
		details = json_dumps(o, JSON_COMPACT);
	if (store_begin(ctx->st, NULL) == 0) {
		if (store_audit_append(ctx->st, actor, "device.renew.refused",
		                       device_id, details, NULL, NULL) == 0)
			(void)store_commit(ctx->st, NULL);
		else
			(void)store_rollback(ctx->st, NULL);
	}
	free(details);
	json_decref(o);
}

/* The checks and the transaction; *server_fault tells a failure of the
 * server's from a refusal of the request. */
static int renew_run(const struct renew_ctx *ctx, const char *device_id,
                     const char *serial, struct crypto_key *pub,
                     struct buf *out, struct renew_result *res,
                     bool *server_fault, struct diag *why)
{
	struct store_device dev;
	struct store_user user;
	struct crypto_cert_req creq;
	struct crypto_cert_info info;
	struct diag sub;
	char actor[sizeof("device:") + 128], *cert = NULL, *details = NULL;
	size_t cert_len = 0;
	bool open = false, have_dev = false, have_user = false;
	json_t *o = NULL;
	int r;

	memset(&dev, 0, sizeof(dev));
	memset(&user, 0, sizeof(user));
	diag_clear(&sub);
	*server_fault = true;
	if ((r = store_begin(ctx->st, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	open = true;
	/* The serial the device connected with, read again inside the
	 * transaction: a revocation since the handshake counts. */
	r = store_device_get_by_serial(ctx->st, serial, &dev, &sub);
	if (r == -ERR_NOENT) {
		*server_fault = false;
		r = diag_set(why, ERR_PERM, 0, 0,
		             "certificate serial %s names no device", serial);
		goto out;
	}
	if (r != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	have_dev = true;
	*server_fault = false;
	if (strcmp(dev.id, device_id) != 0) {
		r = diag_set(why, ERR_PERM, 0, 0,
		             "certificate serial %s is device %s's, not %s",
		             serial, dev.id, device_id);
		goto out;
	}
	if (dev.status != STORE_DEVICE_ACTIVE) {
		r = diag_set(why, ERR_PERM, 0, 0, "device %s is revoked",
		             device_id);
		goto out;
	}
	*server_fault = true;
	if ((r = store_user_get_id(ctx->st, dev.user_id, &user, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	have_user = true;
	if (user.disabled) {
		*server_fault = false;
		r = diag_set(why, ERR_PERM, 0, 0, "user %s is disabled",
		             user.name);
		goto out;
	}
	if (dev.cert_renewed_at != 0 &&
	    store_now(ctx->st) - dev.cert_renewed_at < RENEW_MIN_GAP) {
		*server_fault = false;
		r = diag_set(
		    why, ERR_PERM, 0, 0,
		    "device %s renewed its certificate %lld s ago: "
		    "at most one renewal every %d s",
		    device_id,
		    (long long)(store_now(ctx->st) - dev.cert_renewed_at),
		    RENEW_MIN_GAP);
		goto out;
	}
	if (strlen(user.name) > STORE_NAME_MAX) {
		r = diag_set(why, ERR_INTERNAL, 0, 0, "bad user name");
		goto out;
	}

	/* The server chooses the subject: the CSR only lends its key. */
	memset(&creq, 0, sizeof(creq));
	creq.cn = device_id;
	creq.days = ctx->device_days;
	creq.purpose = CRYPTO_PURPOSE_CLIENT;
	creq.now = (time_t)store_now(ctx->st);
	if ((r = crypto_cert_issue(ctx->rng, ctx->pki->ca_key, ctx->pki->ca_pem,
	                           ctx->pki->ca_len, pub, &creq, &cert,
	                           &cert_len, &info, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot issue the certificate: %s",
		             sub.msg);
		goto out;
	}
	if ((r = store_device_renew(ctx->st, device_id, info.serial,
	                            info.fingerprint, (int64_t)info.not_after,
	                            &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot record the certificate: %s",
		             sub.msg);
		goto out;
	}
	(void)snprintf(actor, sizeof(actor), "device:%s", device_id);
	o = json_pack("{s:s, s:s, s:s, s:I}", "user", user.name, "serial",
	              info.serial, "old_serial", dev.cert_serial, "not_after",
	              (json_int_t)info.not_after);
	if (o == NULL || (details = json_dumps(o, JSON_COMPACT)) == NULL) {
		r = diag_set(why, ERR_NOMEM, 0, 0,
		             "audit details: out of memory");
		goto out;
	}
	if ((r = store_audit_append(ctx->st, actor, "device.renew", device_id,
	                            details, NULL, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot audit: %s", sub.msg);
		goto out;
	}
	/* The answer before the commit, so that nothing fails after it. */
	if ((r = renew_pack(cert, cert_len, NULL, out)) != 0) {
		r = diag_set(why, r, 0, 0, "answer: out of memory");
		goto out;
	}
	open = false;
	if ((r = store_commit(ctx->st, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	if (res != NULL) {
		memset(res, 0, sizeof(*res));
		memcpy(res->user, user.name, strlen(user.name) + 1);
		res->cert = info;
	}
	r = 0;
out:
	if (open)
		(void)store_rollback(ctx->st, NULL);
	if (have_dev)
		store_device_clear(&dev);
	if (have_user)
		store_user_clear(&user);
	json_decref(o);
	free(details);
	free(cert);
	return r;
}

int renew_handle(const struct renew_ctx *ctx, const char *device_id,
                 const char *serial, const char *cert_key_id,
                 const char *req_device_id, const uint8_t *csr, size_t csr_len,
                 struct buf *out, struct renew_result *res, struct diag *d)
{
	struct crypto_key *pub = NULL;
	char cn[CRYPTO_CN_MAX + 1], key_id[CRYPTO_HEX_LEN + 1];
	struct diag why, sub;
	bool server_fault = false;
	int r;

	diag_clear(&why);
	diag_clear(&sub);
	if (req_device_id == NULL || strcmp(req_device_id, device_id) != 0) {
		r = diag_set(&why, ERR_PERM, 0, 0,
		             "the request names device '%.64s', the "
		             "connection is device %s's",
		             req_device_id != NULL ? req_device_id : "",
		             device_id);
		goto refuse;
	}
	if (csr == NULL || csr_len == 0) {
		r = diag_set(&why, ERR_INVALID, 0, 0, "csr_pem is missing");
		goto refuse;
	}
	if (csr_len > RENEW_CSR_MAX) {
		r = diag_set(&why, ERR_TOOBIG, 0, 0,
		             "csr_pem: %zu bytes, more than %d", csr_len,
		             RENEW_CSR_MAX);
		goto refuse;
	}
	/* PEM is text: mbedTLS would read it up to a NUL and ignore the
	 * rest. */
	if (memchr(csr, '\0', csr_len) != NULL) {
		r = diag_set(&why, ERR_INVALID, 0, 0,
		             "csr_pem holds a NUL byte");
		goto refuse;
	}
	if ((r = crypto_csr_parse_cn((const char *)csr, csr_len, &pub, cn,
	                             &sub)) != 0) {
		r = diag_set(&why, r, 0, 0, "csr_pem: %s", sub.msg);
		goto refuse;
	}
	if (strcmp(cn, device_id) != 0) {
		r = diag_set(&why, ERR_PERM, 0, 0,
		             "csr_pem: subject CN '%s' is not device %s", cn,
		             device_id);
		goto refuse;
	}
	if ((r = crypto_key_id(pub, key_id)) != 0) {
		server_fault = true;
		r = diag_set(&why, r, 0, 0, "csr_pem: cannot hash its key");
		goto refuse;
	}
	if (cert_key_id == NULL || strcmp(key_id, cert_key_id) == 0) {
		r = diag_set(&why, ERR_INVALID, 0, 0,
		             "csr_pem: the key is the current certificate's; "
		             "a renewal needs a new key");
		goto refuse;
	}
	if (ctx->pki == NULL || ctx->pki->ca_key == NULL ||
	    ctx->pki->ca_pem == NULL) {
		server_fault = true;
		r = diag_set(&why, ERR_INTERNAL, 0, 0,
		             "the server's CA is not loaded");
		goto refuse;
	}
	if ((r = renew_run(ctx, device_id, serial, pub, out, res, &server_fault,
	                   &why)) == 0)
		goto out;
refuse:
	renew_audit_refusal(ctx, device_id, why.msg);
	/* A store or crypto failure is the server's business: the agent
	 * hears only that, and the server's log has the reason. */
	(void)renew_pack(NULL, 0,
	                 server_fault ? "the server failed to renew this "
	                                "certificate; its log says why"
	                              : why.msg,
	                 out);
	(void)diag_set(d, r, 0, 0, "%s", why.msg);
out:
	crypto_key_free(pub);
	return r;
}
