/* SPDX-License-Identifier: MIT */
/* Audit checkpoints: signing, reading and checking the JSON document. */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define CHECKPOINT_NMEMBERS 10

/* The signed text of cp's fields (checkpoint.h). */
static int checkpoint_text(const struct checkpoint *cp, struct buf *b)
{
	return buf_printf(b,
	                  CHECKPOINT_FORMAT "\n"
	                                    "rows=%" PRId64 "\n"
	                                    "last_id=%" PRId64 "\n"
	                                    "head_hash=%s\n"
	                                    "head_at=%" PRId64 "\n"
	                                    "keyed_from=%" PRId64 "\n"
	                                    "at=%" PRId64 "\n"
	                                    "signer_key_id=%s\n",
	                  cp->rows, cp->last_id, cp->head_hash, cp->head_at,
	                  cp->keyed_from, cp->at, cp->key_id);
}

int checkpoint_sign(struct checkpoint *cp, struct crypto_key *signer,
                    const char *pub_pem, struct crypto_rng *rng, struct diag *d)
{
	struct buf b = BUF_INIT;
	char *pem = NULL;
	int r;

	if (crypto_key_id(signer, cp->key_id) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0,
		             "checkpoint: cannot hash the signing key");
		goto out;
	}
	if ((pem = strdup(pub_pem)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = checkpoint_text(cp, &b)) != 0) {
		r = diag_set(d, r, 0, 0, "checkpoint: out of memory");
		goto out;
	}
	if ((r = crypto_sign(signer, rng, b.data, b.len, cp->sig, &cp->siglen,
	                     d)) != 0)
		goto out;
	free(cp->public_pem);
	cp->public_pem = pem;
	pem = NULL;
	r = 0;
out:
	free(pem);
	buf_free(&b);
	return r;
}

json_t *checkpoint_json(const struct checkpoint *cp)
{
	char sig[2 * CRYPTO_SIG_MAX + 1];

	if (crypto_hex(cp->sig, cp->siglen, sig, sizeof(sig)) != 0)
		return NULL;
	return json_pack(
	    "{s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:s,s:s,s:s}", "format",
	    CHECKPOINT_FORMAT, "rows", (json_int_t)cp->rows, "last_id",
	    (json_int_t)cp->last_id, "head_hash", cp->head_hash, "head_at",
	    (json_int_t)cp->head_at, "keyed_from", (json_int_t)cp->keyed_from,
	    "at", (json_int_t)cp->at, "signer_key_id", cp->key_id,
	    "signer_public_key", cp->public_pem != NULL ? cp->public_pem : "",
	    "signature", sig);
}

/* A member that must be a whole number >= 0. */
static int checkpoint_int(const json_t *doc, const char *key, int64_t *out,
                          struct diag *d)
{
	const json_t *v = json_object_get(doc, key);

	if (v == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: '%s' is missing", key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: '%s' must be a whole number, 0 or "
		                "more",
		                key);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* A member that must be a string; returns it through *out. */
static int checkpoint_str(const json_t *doc, const char *key, const char **out,
                          size_t *len, struct diag *d)
{
	const json_t *v = json_object_get(doc, key);

	if (v == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: '%s' is missing", key);
	if (!json_is_string(v))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: '%s' must be a string", key);
	*out = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* A member that must be 64 lowercase hex digits (or "" when empty_ok). */
static int checkpoint_hash(const json_t *doc, const char *key, bool empty_ok,
                           char out[CRYPTO_HEX_LEN + 1], struct diag *d)
{
	const char *s = NULL;
	size_t len = 0, i;
	int r;

	if ((r = checkpoint_str(doc, key, &s, &len, d)) != 0)
		return r;
	if (len == 0 && empty_ok) {
		out[0] = '\0';
		return 0;
	}
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			break;
	if (len != CRYPTO_HEX_LEN || i != len)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: '%s' must be %d lowercase hex "
		                "digits",
		                key, CRYPTO_HEX_LEN);
	memcpy(out, s, CRYPTO_HEX_LEN + 1);
	return 0;
}

int checkpoint_from_json(json_t *doc, struct checkpoint *out, struct diag *d)
{
	static const char *const members[CHECKPOINT_NMEMBERS] = {
	    "format",    "rows",          "last_id",
	    "head_hash", "head_at",       "keyed_from",
	    "at",        "signer_key_id", "signer_public_key",
	    "signature"};
	struct checkpoint cp;
	const char *key, *s = NULL;
	json_t *v;
	size_t len = 0, i;
	int r;

	memset(&cp, 0, sizeof(cp));
	if (!json_is_object(doc))
		return diag_set(d, ERR_PARSE, 0, 0,
		                "checkpoint: not a JSON object");
	json_object_foreach(doc, key, v)
	{
		for (i = 0; i < CHECKPOINT_NMEMBERS; i++)
			if (strcmp(key, members[i]) == 0)
				break;
		if (i == CHECKPOINT_NMEMBERS)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "checkpoint: unknown member '%.64s'",
			                key);
	}
	if ((r = checkpoint_str(doc, "format", &s, &len, d)) != 0)
		return r;
	if (strcmp(s, CHECKPOINT_FORMAT) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: format '%.64s' is not '%s'", s,
		                CHECKPOINT_FORMAT);
	if ((r = checkpoint_int(doc, "rows", &cp.rows, d)) != 0 ||
	    (r = checkpoint_int(doc, "last_id", &cp.last_id, d)) != 0 ||
	    (r = checkpoint_int(doc, "head_at", &cp.head_at, d)) != 0 ||
	    (r = checkpoint_int(doc, "keyed_from", &cp.keyed_from, d)) != 0 ||
	    (r = checkpoint_int(doc, "at", &cp.at, d)) != 0 ||
	    (r = checkpoint_hash(doc, "head_hash", cp.rows == 0, cp.head_hash,
	                         d)) != 0 ||
	    (r = checkpoint_hash(doc, "signer_key_id", false, cp.key_id, d)) !=
	        0)
		return r;
	if (cp.last_id != cp.rows)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: last_id %" PRId64
		                " is not rows %" PRId64 " (ids run 1..rows)",
		                cp.last_id, cp.rows);
	if (cp.rows == 0 && cp.head_hash[0] != '\0')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: an empty log has no head_hash");
	if ((r = checkpoint_str(doc, "signature", &s, &len, d)) != 0)
		return r;
	if (len == 0 || len > 2 * CRYPTO_SIG_MAX ||
	    crypto_unhex(s, len, cp.sig, sizeof(cp.sig), &cp.siglen) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: 'signature' must be hex of at "
		                "most %d bytes",
		                CRYPTO_SIG_MAX);
	if ((r = checkpoint_str(doc, "signer_public_key", &s, &len, d)) != 0)
		return r;
	if (len == 0 || len > CHECKPOINT_MAX || memchr(s, '\0', len) != NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: 'signer_public_key' must be a PEM "
		                "public key");
	if ((cp.public_pem = strdup(s)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	*out = cp;
	return 0;
}

int checkpoint_parse(const char *text, size_t len, struct checkpoint *out,
                     struct diag *d)
{
	json_error_t je;
	json_t *doc;
	int r;

	if (len > CHECKPOINT_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "checkpoint: %zu bytes, more than %d", len,
		                CHECKPOINT_MAX);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return diag_set(d, ERR_PARSE,
		                je.line > 0 ? (unsigned)je.line : 0, 0,
		                "checkpoint: line %d: %s", je.line, je.text);
	r = checkpoint_from_json(doc, out, d);
	json_decref(doc);
	return r;
}

int checkpoint_verify(const struct checkpoint *cp, const char *want_key_id,
                      struct diag *d)
{
	struct crypto_key *pub = NULL;
	char id[CRYPTO_HEX_LEN + 1];
	struct buf b = BUF_INIT;
	struct diag sub;
	int r;

	diag_clear(&sub);
	if (cp->public_pem == NULL ||
	    crypto_key_load_public(cp->public_pem, strlen(cp->public_pem), &pub,
	                           &sub) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "checkpoint: signer_public_key is not a P-256 "
		             "public key: %s",
		             sub.msg);
		goto out;
	}
	if (crypto_key_id(pub, id) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0,
		             "checkpoint: cannot hash its public key");
		goto out;
	}
	if (strcmp(id, cp->key_id) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "checkpoint: signer_public_key is key %.16s..., "
		             "not signer_key_id %.16s...",
		             id, cp->key_id);
		goto out;
	}
	if (want_key_id != NULL && strcmp(want_key_id, cp->key_id) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "checkpoint: signed by key %.16s..., not by the "
		             "server's signing key %.16s...",
		             cp->key_id, want_key_id);
		goto out;
	}
	if ((r = checkpoint_text(cp, &b)) != 0) {
		r = diag_set(d, r, 0, 0, "checkpoint: out of memory");
		goto out;
	}
	if (crypto_verify(pub, b.data, b.len, cp->sig, cp->siglen, NULL) != 0) {
		r = diag_set(
		    d, ERR_VERIFY, 0, 0,
		    "checkpoint: bad signature: the document was "
		    "altered after key %.16s... signed it, or that key "
		    "never signed it",
		    cp->key_id);
		goto out;
	}
	r = 0;
out:
	buf_free(&b);
	crypto_key_free(pub);
	return r;
}

void checkpoint_clear(struct checkpoint *cp)
{
	if (cp == NULL)
		return;
	free(cp->public_pem);
	memset(cp, 0, sizeof(*cp));
}
