/* SPDX-License-Identifier: MIT */
/* Enrollment: turns a one-time token and a CSR into a device and its client
 * certificate; and the per-address limiter the caller puts in front. */
#include "enroll.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcpfleet.pb-c.h"
#include "pbwire.h"
#include "text.h"

#define ENROLL_CSR_MAX  8192 /* a P-256 CSR in PEM is about 500 bytes */
#define ENROLL_FACT_MAX 255  /* one device fact, bytes (STORE_TEXT_MAX) */
#define ENROLL_PEER_MAX 64   /* a numeric address with a zone id */
#define ENROLL_ID_BYTES 12   /* random bytes in a device id: 24 hex digits */
#define ENROLL_WINDOW   60   /* seconds in which a bucket refills fully */

/* ---- The per-address limiter ---- */

/*
 * A token bucket per address, in integer units: one attempt costs
 * ENROLL_WINDOW units, a bucket holds rate * ENROLL_WINDOW and gains rate
 * units a second, so it refills from empty in ENROLL_WINDOW seconds.
 */
struct enroll_slot {
	char peer[ENROLL_PEER_MAX];
	uint64_t credit;
	int64_t refilled; /* when credit was last brought up to date */
	uint64_t seen;    /* the limiter's tick at the last attempt (LRU) */
	bool used;
};

struct enroll_limiter {
	unsigned rate;
	uint64_t tick;
	struct enroll_slot slot[ENROLL_LIMITER_SLOTS];
};

int enroll_limiter_new(unsigned rate, struct enroll_limiter **out)
{
	struct enroll_limiter *l;

	if (rate == 0)
		return -ERR_INVALID;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ERR_NOMEM;
	l->rate = rate;
	*out = l;
	return 0;
}

void enroll_limiter_free(struct enroll_limiter *l)
{
	free(l);
}

/* The slot of peer (n bytes), or a new one in a free slot or in place of
 * the least recently seen address. */
static struct enroll_slot *enroll_limiter_slot(struct enroll_limiter *l,
                                               const char *peer, size_t n,
                                               int64_t now)
{
	struct enroll_slot *e, *free_slot = NULL, *oldest = NULL;
	size_t i;

	for (i = 0; i < ENROLL_LIMITER_SLOTS; i++) {
		e = &l->slot[i];
		if (!e->used) {
			if (free_slot == NULL)
				free_slot = e;
			continue;
		}
		if (strcmp(e->peer, peer) == 0)
			return e;
		if (oldest == NULL || e->seen < oldest->seen)
			oldest = e;
	}
	e = free_slot != NULL ? free_slot : oldest;
	memset(e, 0, sizeof(*e));
	memcpy(e->peer, peer, n + 1);
	e->used = true;
	e->credit = (uint64_t)l->rate * ENROLL_WINDOW;
	e->refilled = now;
	return e;
}

bool enroll_limiter_allow(struct enroll_limiter *l, const char *peer,
                          int64_t now)
{
	struct enroll_slot *e;
	uint64_t cap;
	int64_t dt;
	size_t n;

	if (l == NULL || peer == NULL)
		return false;
	/* Callers pass numeric addresses, which always fit; anything else
	 * is refused rather than truncated onto another address's slot. */
	n = strnlen(peer, ENROLL_PEER_MAX);
	if (n == 0 || n == ENROLL_PEER_MAX)
		return false;
	e = enroll_limiter_slot(l, peer, n, now);
	cap = (uint64_t)l->rate * ENROLL_WINDOW;
	/* A clock that steps back refills nothing (and takes nothing). */
	if (now > e->refilled) {
		dt = now - e->refilled;
		if (dt > ENROLL_WINDOW)
			dt = ENROLL_WINDOW;
		e->credit += (uint64_t)dt * l->rate;
		if (e->credit > cap)
			e->credit = cap;
		e->refilled = now;
	}
	e->seen = ++l->tick;
	if (e->credit < ENROLL_WINDOW)
		return false;
	e->credit -= ENROLL_WINDOW;
	return true;
}

/* ---- Checking the request ---- */

/*
 * A device fact: at most ENROLL_FACT_MAX bytes of UTF-8 an admin can read
 * in a terminal or the console as it is: no control characters (C0, DEL,
 * C1) and no bidirectional overrides or other invisible characters
 * (text_check_line()). The message never echoes the value.
 */
static int enroll_check_text(const char *what, const char *s, bool required,
                             struct diag *d)
{
	struct text_error e;
	size_t n;

	n = s != NULL ? strnlen(s, ENROLL_FACT_MAX + 1) : 0;
	if (n == 0 && required)
		return diag_set(d, ERR_INVALID, 0, 0, "%s is missing", what);
	if (n > ENROLL_FACT_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s is longer than %d bytes", what,
		                ENROLL_FACT_MAX);
	if (text_check_line(s, n, &e) == 0)
		return 0;
	switch (e.fault) {
	case TEXT_CONTROL:
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s holds control character U+%04X (byte %zu)",
		                what, (unsigned)e.cp, e.at + 1);
	case TEXT_INVISIBLE:
		return diag_set(
		    d, ERR_INVALID, 0, 0, "%s holds U+%04X, %s (byte %zu)",
		    what, (unsigned)e.cp, text_fault_str(e.fault), e.at + 1);
	default:
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s is not printable UTF-8 (byte %zu)", what,
		                e.at + 1);
	}
}

/* Checks every field of a decoded request; *hash gets the token's. */
static int enroll_check_request(const Mcpfleet__V1__EnrollRequest *req,
                                char hash[CRYPTO_HEX_LEN + 1], struct diag *d)
{
	const Mcpfleet__V1__DeviceFacts *f = req->facts;
	int r;

	/* The token is a secret: no message quotes it. */
	if (req->token == NULL || req->token[0] == '\0')
		return diag_set(d, ERR_INVALID, 0, 0, "token is missing");
	if (token_hash(req->token, hash) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "token is not 1 to %d printable characters",
		                TOKEN_MAX);
	if (req->csr_pem.len == 0 || req->csr_pem.data == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "csr_pem is missing");
	if (req->csr_pem.len > ENROLL_CSR_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "csr_pem: %zu bytes, more than %d",
		                req->csr_pem.len, ENROLL_CSR_MAX);
	/* PEM is text: mbedTLS would read it up to a NUL and ignore the
	 * rest. */
	if (memchr(req->csr_pem.data, '\0', req->csr_pem.len) != NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "csr_pem holds a NUL byte");
	if (f == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "facts are missing");
	if ((r = enroll_check_text("facts.hostname", f->hostname, true, d)) !=
	        0 ||
	    (r = enroll_check_text("facts.os", f->os, true, d)) != 0 ||
	    (r = enroll_check_text("facts.os_version", f->os_version, false,
	                           d)) != 0 ||
	    (r = enroll_check_text("facts.agent_version", f->agent_version,
	                           false, d)) != 0 ||
	    (r = enroll_check_text("facts.username", f->username, false, d)) !=
	        0)
		return r;
	return 0;
}

/* The peer as the audit log names it: a numeric address, or "unknown". */
static void enroll_peer_label(const char *peer, char out[ENROLL_PEER_MAX])
{
	size_t i, n = peer != NULL ? strnlen(peer, ENROLL_PEER_MAX) : 0;

	if (n == 0 || n == ENROLL_PEER_MAX)
		goto unknown;
	for (i = 0; i < n; i++)
		if (!((peer[i] >= '0' && peer[i] <= '9') ||
		      (peer[i] >= 'a' && peer[i] <= 'z') ||
		      (peer[i] >= 'A' && peer[i] <= 'Z') ||
		      strchr(".:%[]_-", peer[i]) != NULL))
			goto unknown;
	memcpy(out, peer, n + 1);
	return;
unknown:
	memcpy(out, "unknown", sizeof("unknown"));
}

/* A new device id: "dev-" and 24 lowercase hex digits. */
static int enroll_device_id(struct crypto_rng *rng, char out[64])
{
	uint8_t raw[ENROLL_ID_BYTES];

	memcpy(out, "dev-", 4);
	if (crypto_random(rng, raw, sizeof(raw)) != 0 ||
	    crypto_hex(raw, sizeof(raw), out + 4, 64 - 4) != 0)
		return -ERR_CRYPTO;
	return 0;
}

/* ---- Audit ---- */

/* Appends a row, in its own transaction, for a refusal. */
static void enroll_audit_refusal(const struct enroll_ctx *ctx,
                                 const char *label, int status,
                                 const char *reason, const char *hash)
{
	struct store_token tok;
	char actor[sizeof("peer:") + ENROLL_PEER_MAX];
	char *details = NULL;
	json_t *o;

	(void)snprintf(actor, sizeof(actor), "peer:%s", label);
	o = json_pack("{s:i, s:s}", "status", status, "reason", reason);
	/* A known token names whose enrollment was tried, which is what an
	 * admin looking at a burst of refusals wants to know. */
	if (o != NULL && hash != NULL &&
	    store_token_get_by_hash(ctx->st, hash, &tok, NULL) == 0) {
		(void)json_object_set_new(o, "token", json_integer(tok.id));
		(void)json_object_set_new(o, "user",
		                          json_string(tok.user_name));
		store_token_clear(&tok);
	}
	if (o != NULL)
		details = json_dumps(o, JSON_COMPACT);
	/* A refusal stands whether or not its row could be written: the
	 * answer does not change, and the store's failure shows up on the
	 * next mutation that needs it. */
	if (store_begin(ctx->st, NULL) == 0) {
		if (store_audit_append(ctx->st, actor, "enroll.refused", label,
		                       details, NULL, NULL) == 0)
			(void)store_commit(ctx->st, NULL);
		else
			(void)store_rollback(ctx->st, NULL);
	}
	free(details);
	json_decref(o);
}

/* protobuf-c gives proto3 strings as "" when absent; never trust it. */
static const char *enroll_str(const char *s)
{
	return s != NULL ? s : "";
}

/* The "enroll.ok" row's details: what the admin will want to see. */
static char *enroll_ok_details(const Mcpfleet__V1__DeviceFacts *f,
                               const struct store_token *tok,
                               const struct crypto_cert_info *info,
                               const char *label)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "user",
	              tok->user_name, "token", (json_int_t)tok->id, "hostname",
	              enroll_str(f->hostname), "os", enroll_str(f->os),
	              "os_version", enroll_str(f->os_version), "agent_version",
	              enroll_str(f->agent_version), "username",
	              enroll_str(f->username), "serial", info->serial, "peer",
	              label);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ---- The transaction ---- */

/* What the transaction produced or why it did not. */
struct enroll_txn {
	struct store_token tok;
	bool have_tok;
	struct crypto_cert_info info;
	int status;
};

/* Packs the EnrollResponse into out, whose old content is dropped. */
static int enroll_pack(const struct enroll_ctx *ctx, const char *device_id,
                       const char *user, const char *cert, size_t cert_len,
                       struct buf *out)
{
	Mcpfleet__V1__EnrollResponse rsp;

	mcpfleet__v1__enroll_response__init(&rsp);
	/* The generated struct has no const: these are only read. */
	rsp.device_id = (char *)(uintptr_t)device_id;
	rsp.user = (char *)(uintptr_t)user;
	rsp.certificate_pem.data = (uint8_t *)(uintptr_t)cert;
	rsp.certificate_pem.len = cert_len;
	rsp.ca_pem.data = (uint8_t *)ctx->pki->ca_pem;
	rsp.ca_pem.len = ctx->pki->ca_len;
	rsp.signer_public_pem.data = (uint8_t *)ctx->pki->signer_pub_pem;
	rsp.signer_public_pem.len = ctx->pki->signer_pub_len;
	rsp.agent_port = (uint32_t)ctx->agent_port;
	rsp.agent_addresses = (char **)(uintptr_t)ctx->agent_addresses;
	rsp.n_agent_addresses = ctx->nagent_addresses;
	return pbwire_pack(&rsp.base, out);
}

/*
 * In one store transaction: uses the token, issues the certificate,
 * records the device and its audit row, and packs the answer into out
 * before committing (so that nothing can fail after the commit). On a
 * failure everything is rolled back and t->status says what to answer.
 */
static int enroll_txn_run(const struct enroll_ctx *ctx,
                          const Mcpfleet__V1__EnrollRequest *req,
                          const char *hash, struct crypto_key *pub,
                          const char *device_id, const char *label,
                          struct enroll_txn *t, struct buf *out,
                          struct diag *why)
{
	struct crypto_cert_req creq;
	struct diag sub;
	char actor[32], *cert = NULL, *details = NULL;
	size_t cert_len = 0;
	bool open = false;
	int r;

	diag_clear(&sub);
	t->status = 500;
	if ((r = store_begin(ctx->st, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	open = true;
	r = store_token_consume(ctx->st, hash, store_now(ctx->st), &t->tok,
	                        why);
	if (r == -ERR_NOENT || r == -ERR_PERM || r == -ERR_VERIFY ||
	    r == -ERR_CONFLICT)
		t->status = 403;
	else if (r == -ERR_INVALID)
		t->status = 400;
	if (r != 0)
		goto out;
	t->have_tok = true;
	if (t->tok.user_name == NULL ||
	    strlen(t->tok.user_name) > STORE_NAME_MAX) {
		r = diag_set(why, ERR_INTERNAL, 0, 0,
		             "token %" PRId64 ": bad user name", t->tok.id);
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
	                           &cert_len, &t->info, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot issue the certificate: %s",
		             sub.msg);
		goto out;
	}
	if ((r = store_device_create(ctx->st, device_id, t->tok.user_id,
	                             req->facts->hostname, req->facts->os,
	                             t->info.serial, t->info.fingerprint,
	                             (int64_t)t->info.not_after, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot record the device: %s",
		             sub.msg);
		goto out;
	}
	(void)snprintf(actor, sizeof(actor), "token:%" PRId64, t->tok.id);
	if ((details = enroll_ok_details(req->facts, &t->tok, &t->info,
	                                 label)) == NULL) {
		r = diag_set(why, ERR_NOMEM, 0, 0,
		             "audit details: out of memory");
		goto out;
	}
	if ((r = store_audit_append(ctx->st, actor, "enroll.ok", device_id,
	                            details, NULL, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "cannot audit: %s", sub.msg);
		goto out;
	}
	if ((r = enroll_pack(ctx, device_id, t->tok.user_name, cert, cert_len,
	                     out)) != 0) {
		r = diag_set(why, r, 0, 0, "answer: out of memory");
		goto out;
	}
	open = false;
	if ((r = store_commit(ctx->st, &sub)) != 0) {
		r = diag_set(why, r, 0, 0, "store: %s", sub.msg);
		goto out;
	}
	t->status = 200;
	r = 0;
out:
	if (open)
		(void)store_rollback(ctx->st, NULL);
	free(details);
	free(cert);
	return r;
}

/* ---- The handler ---- */

int enroll_handle(const struct enroll_ctx *ctx, const char *peer,
                  const void *body, size_t len, int *status, struct buf *out,
                  struct enroll_result *res, struct diag *d)
{
	Mcpfleet__V1__EnrollRequest *req = NULL;
	struct crypto_key *pub = NULL;
	struct enroll_txn t;
	struct enroll_result rv;
	struct diag why;
	char label[ENROLL_PEER_MAX], hash[CRYPTO_HEX_LEN + 1];
	char device_id[sizeof(rv.device_id)];
	bool have_hash = false;
	int code = 500, r;

	memset(&t, 0, sizeof(t));
	diag_clear(&why);
	enroll_peer_label(peer, label);
	buf_reset(out);

	if (len > ENROLL_BODY_MAX) {
		code = 413;
		r = diag_set(&why, ERR_TOOBIG, 0, 0,
		             "request body of %zu bytes is over the %u byte "
		             "limit",
		             len, ENROLL_BODY_MAX);
		goto refuse;
	}
	code = 400;
	if ((body == NULL && len > 0) ||
	    (req = mcpfleet__v1__enroll_request__unpack(
	         NULL, len, (const uint8_t *)body)) == NULL) {
		r = diag_set(&why, ERR_PARSE, 0, 0,
		             "request body is not an EnrollRequest (protobuf)");
		goto refuse;
	}
	/* protobuf-c cut each string at its first NUL: "TOKEN\0junk" would
	 * pass for TOKEN. */
	if ((r = pbwire_check_strings(&mcpfleet__v1__enroll_request__descriptor,
	                              body, len, &why)) != 0 ||
	    (r = enroll_check_request(req, hash, &why)) != 0)
		goto refuse;
	have_hash = true;
	if ((r = crypto_csr_parse((const char *)req->csr_pem.data,
	                          req->csr_pem.len, &pub, &why)) != 0)
		goto refuse;
	code = 500;
	if (ctx->pki == NULL || ctx->pki->ca_key == NULL ||
	    ctx->pki->ca_pem == NULL || ctx->pki->signer_pub_pem == NULL) {
		r = diag_set(&why, ERR_INTERNAL, 0, 0,
		             "the server's CA is not loaded");
		goto refuse;
	}
	if ((r = enroll_device_id(ctx->rng, device_id)) != 0) {
		r = diag_set(&why, r, 0, 0, "cannot make a device id");
		goto refuse;
	}
	if ((r = enroll_txn_run(ctx, req, hash, pub, device_id, label, &t, out,
	                        &why)) != 0) {
		code = t.status;
		goto refuse;
	}

	memset(&rv, 0, sizeof(rv));
	memcpy(rv.device_id, device_id, sizeof(rv.device_id));
	rv.user_id = t.tok.user_id;
	/* enroll_txn_run() checked that the name fits. */
	memcpy(rv.user, t.tok.user_name, strlen(t.tok.user_name) + 1);
	rv.cert = t.info;
	*status = 200;
	if (res != NULL)
		*res = rv;
	r = 0;
	goto out;
refuse:
	enroll_audit_refusal(ctx, label, code, why.msg,
	                     have_hash ? hash : NULL);
	*status = code;
	buf_reset(out);
	/* A store or crypto failure is the server's business: the peer is
	 * not authenticated yet, so it gets no file names or SQLite text; d
	 * (for the server's log) and the audit row have them. */
	(void)buf_puts(out, code >= 500 ? "the server failed to enroll this "
	                                  "device; its log says why"
	                                : why.msg);
	(void)diag_set(d, r, 0, 0, "%s", why.msg);
out:
	if (t.have_tok)
		store_token_clear(&t.tok);
	crypto_key_free(pub);
	if (req != NULL) {
		/* The token is a bearer secret until it is used up. */
		if (req->token != NULL && req->token[0] != '\0')
			crypto_wipe(req->token, strlen(req->token));
		mcpfleet__v1__enroll_request__free_unpacked(req, NULL);
	}
	crypto_wipe(hash, sizeof(hash));
	return r;
}
