/* SPDX-License-Identifier: MIT */
/* Certificate renewal over the agent websocket: a RenewRequest from a
 * connected device becomes a new client certificate for it, or a refusal
 * that says why (docs/design.md, "Certificate renewal"). */
#ifndef MCPFLEET_RENEW_H
#define MCPFLEET_RENEW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "pki.h"
#include "store.h"

#define RENEW_CSR_MAX 8192 /* a P-256 CSR in PEM is about 500 bytes */
/* Seconds a device waits between renewals: each one is a signature, an
 * audit row and a kept certificate (the agent's own wait is longer). */
#define RENEW_MIN_GAP 600

/* What the handler needs (all borrowed). */
struct renew_ctx {
	struct store *st;
	const struct pki *pki;
	struct crypto_rng *rng;
	unsigned device_days;
};

/* What a renewal produced. */
struct renew_result {
	char user[STORE_NAME_MAX + 1];
	struct crypto_cert_info cert; /* the new certificate */
};

/*
 * Handles one RenewRequest of the device device_id, connected with the
 * certificate whose serial is serial and whose key is cert_key_id (as the
 * hub knows them from the TLS handshake; crypto_key_id()): req_device_id
 * (the request's) and csr (csr_len bytes of PEM, the request's csr_pem) as
 * the agent sent them. In this order: the request's device id must be the
 * connection's; the CSR at most RENEW_CSR_MAX bytes, without a NUL,
 * parsing and self-signed (crypto_csr_parse_cn), its subject CN the device
 * id, its key another than cert_key_id (a renewal rotates the key); then, in
 * one
 * store transaction: the connection's serial must still name device_id,
 * the device be active, its user enabled and its last renewal at least
 * RENEW_MIN_GAP seconds ago; a certificate is issued
 * (CN = device_id, clientAuth, ctx->device_days, the server choosing the
 * subject), recorded (store_device_renew(): the old serial stays known) and
 * audited "device.renew" (actor "device:ID", details {"user", "serial",
 * "old_serial", "not_after"}). A refusal is audited "device.renew.refused"
 * with {"reason"} in its own transaction.
 *
 * Writes a packed ServerFrame with a RenewResponse into out either way:
 * the certificate, or the refusal's reason (a store or crypto failure says
 * only that the server failed; d has the reason). Returns 0 with *res (may
 * be NULL) when a certificate was issued; otherwise the negative code, d
 * saying why: -ERR_PERM (another device, revoked, user disabled),
 * -ERR_INVALID / -ERR_PARSE / -ERR_VERIFY / -ERR_TOOBIG (a bad CSR),
 * another code for the server's failures.
 */
int renew_handle(const struct renew_ctx *ctx, const char *device_id,
                 const char *serial, const char *cert_key_id,
                 const char *req_device_id, const uint8_t *csr, size_t csr_len,
                 struct buf *out, struct renew_result *res, struct diag *d);

#endif
