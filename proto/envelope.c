/* SPDX-License-Identifier: MIT */
/* Signed envelopes: one signature per revision over a Merkle root, one proof
 * per envelope. */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The signed record: domain, revision, leaf count, root. */
#define ENVELOPE_DOMAIN     "mcpfleet.v1/root"
#define ENVELOPE_RECORD_LEN (sizeof(ENVELOPE_DOMAIN) + 8 + 8 + CRYPTO_HASH_LEN)

struct envelope_batch {
	uint64_t revision;
	size_t n;
	uint8_t **leaves; /* kind byte, then the payload */
	size_t *lens;     /* of leaves[i], the kind byte included */
	struct crypto_merkle *tree;
	uint8_t root[CRYPTO_HASH_LEN];
	uint8_t sig[CRYPTO_SIG_MAX];
	size_t siglen;
};

static void envelope_record(uint64_t revision, uint64_t count,
                            const uint8_t root[CRYPTO_HASH_LEN],
                            uint8_t out[ENVELOPE_RECORD_LEN])
{
	size_t i, o = sizeof(ENVELOPE_DOMAIN);

	memcpy(out, ENVELOPE_DOMAIN, sizeof(ENVELOPE_DOMAIN));
	for (i = 0; i < 8; i++)
		out[o++] = (uint8_t)(revision >> (56 - 8 * i));
	for (i = 0; i < 8; i++)
		out[o++] = (uint8_t)(count >> (56 - 8 * i));
	memcpy(out + o, root, CRYPTO_HASH_LEN);
}

int envelope_batch_sign(const struct envelope_payload *payloads, size_t n,
                        uint64_t revision, struct crypto_key *signer,
                        struct crypto_rng *rng, struct envelope_batch **out,
                        struct diag *d)
{
	struct envelope_batch *b = NULL;
	struct crypto_leaf *leaves = NULL;
	uint8_t record[ENVELOPE_RECORD_LEN];
	size_t i;
	int r;

	if (n == 0 || n > CRYPTO_MERKLE_LEAVES_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "a revision needs 1 to %u payloads, not %zu",
		                CRYPTO_MERKLE_LEAVES_MAX, n);
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->leaves = calloc(n, sizeof(*b->leaves))) == NULL ||
	    (b->lens = calloc(n, sizeof(*b->lens))) == NULL ||
	    (leaves = calloc(n, sizeof(*leaves))) == NULL) {
		r = -ERR_NOMEM;
		goto fail;
	}
	b->revision = revision;
	b->n = n;
	for (i = 0; i < n; i++) {
		if (payloads[i].len > ENVELOPE_MAX - 1024) {
			r = diag_set(
			    d, ERR_TOOBIG, 0, 0,
			    "payload %zu: %zu bytes is over the envelope "
			    "limit",
			    i, payloads[i].len);
			goto fail;
		}
		if ((b->leaves[i] = malloc(payloads[i].len + 1)) == NULL) {
			r = -ERR_NOMEM;
			goto fail;
		}
		b->leaves[i][0] = (uint8_t)payloads[i].kind;
		if (payloads[i].len > 0)
			memcpy(b->leaves[i] + 1, payloads[i].data,
			       payloads[i].len);
		b->lens[i] = payloads[i].len + 1;
		leaves[i].data = b->leaves[i];
		leaves[i].len = b->lens[i];
	}
	if ((r = crypto_merkle_build(leaves, n, &b->tree, d)) != 0)
		goto fail;
	crypto_merkle_root(b->tree, b->root);
	envelope_record(revision, n, b->root, record);
	if ((r = crypto_sign(signer, rng, record, sizeof(record), b->sig,
	                     &b->siglen, d)) != 0)
		goto fail;
	free(leaves);
	*out = b;
	return 0;
fail:
	free(leaves);
	envelope_batch_free(b);
	return r;
}

size_t envelope_batch_count(const struct envelope_batch *b)
{
	return b->n;
}

void envelope_batch_root(const struct envelope_batch *b,
                         uint8_t root[CRYPTO_HASH_LEN])
{
	memcpy(root, b->root, CRYPTO_HASH_LEN);
}

size_t envelope_batch_signature(const struct envelope_batch *b,
                                uint8_t sig[CRYPTO_SIG_MAX])
{
	memcpy(sig, b->sig, b->siglen);
	return b->siglen;
}

int envelope_batch_pack(const struct envelope_batch *b, size_t i, uint8_t **out,
                        size_t *len)
{
	Mcpfleet__V1__SignedEnvelope env;
	Mcpfleet__V1__MerkleProof proof;
	ProtobufCBinaryData sib[CRYPTO_MERKLE_PATH_MAX];
	uint8_t path[CRYPTO_MERKLE_PROOF_MAX];
	size_t pathlen, k, n;
	uint8_t *buf;

	/* The generated INIT macros cast away const; the functions do not. */
	mcpfleet__v1__signed_envelope__init(&env);
	mcpfleet__v1__merkle_proof__init(&proof);
	if (i >= b->n || crypto_merkle_proof(b->tree, i, path, &pathlen) != 0)
		return -ERR_INVALID;
	for (k = 0; k < pathlen / CRYPTO_HASH_LEN; k++) {
		sib[k].data = path + k * CRYPTO_HASH_LEN;
		sib[k].len = CRYPTO_HASH_LEN;
	}
	proof.leaf_index = i;
	proof.leaf_count = b->n;
	proof.n_siblings = pathlen / CRYPTO_HASH_LEN;
	proof.siblings = sib;
	env.kind = (Mcpfleet__V1__PayloadKind)b->leaves[i][0];
	env.payload.data = b->leaves[i] + 1;
	env.payload.len = b->lens[i] - 1;
	env.revision = b->revision;
	env.merkle_root.data = (uint8_t *)(uintptr_t)b->root;
	env.merkle_root.len = CRYPTO_HASH_LEN;
	env.proof = &proof;
	env.signature.data = (uint8_t *)(uintptr_t)b->sig;
	env.signature.len = b->siglen;
	n = mcpfleet__v1__signed_envelope__get_packed_size(&env);
	if ((buf = malloc(n)) == NULL)
		return -ERR_NOMEM;
	mcpfleet__v1__signed_envelope__pack(&env, buf);
	*out = buf;
	*len = n;
	return 0;
}

void envelope_batch_free(struct envelope_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; b->leaves != NULL && i < b->n; i++)
		if (b->leaves[i] != NULL)
			crypto_secret_free(b->leaves[i], b->lens[i]);
	free(b->leaves);
	free(b->lens);
	crypto_merkle_free(b->tree);
	free(b);
}

/* Checks the payload names what this envelope and this device expect. */
static int envelope_check_names(const char *what, uint64_t want_rev,
                                uint64_t rev, const char *want_user,
                                const char *user, const char *want_dev,
                                const char *dev, struct diag *d)
{
	if (rev != want_rev)
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "%s says revision %llu, its envelope %llu",
		                what, (unsigned long long)rev,
		                (unsigned long long)want_rev);
	if (want_user != NULL && strcmp(user, want_user) != 0)
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "%s is for user '%.64s', not '%.64s'", what,
		                user, want_user);
	if (want_dev != NULL && strcmp(dev, want_dev) != 0)
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "%s is for device '%.64s', not '%.64s'", what,
		                dev, want_dev);
	return 0;
}

int envelope_open(const uint8_t *data, size_t len, struct crypto_key *signer,
                  const char *user, const char *device_id,
                  struct envelope_opened *out, struct diag *d)
{
	Mcpfleet__V1__SignedEnvelope *env = NULL;
	const Mcpfleet__V1__MerkleProof *pr;
	struct envelope_opened o = {0};
	uint8_t record[ENVELOPE_RECORD_LEN];
	uint8_t path[CRYPTO_MERKLE_PROOF_MAX];
	uint8_t *leaf = NULL;
	size_t k;
	int r;

	if (len > ENVELOPE_MAX)
		return diag_set(
		    d, ERR_TOOBIG, 0, 0,
		    "envelope of %zu bytes is over the %u byte limit", len,
		    ENVELOPE_MAX);
	env = mcpfleet__v1__signed_envelope__unpack(NULL, len, data);
	if (env == NULL)
		return diag_set(d, ERR_PARSE, 0, 0,
		                "not a signed envelope (protobuf does not "
		                "decode)");
	pr = env->proof;
	if (env->kind != MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_CATALOGUE &&
	    env->kind != MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_REVOCATION) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "envelope: unknown payload kind %d",
		             (int)env->kind);
		goto out;
	}
	if (env->merkle_root.len != CRYPTO_HASH_LEN || pr == NULL ||
	    pr->leaf_count == 0 || pr->leaf_index >= pr->leaf_count ||
	    pr->leaf_count > CRYPTO_MERKLE_LEAVES_MAX ||
	    pr->n_siblings > CRYPTO_MERKLE_PATH_MAX ||
	    env->signature.len == 0 || env->signature.len > CRYPTO_SIG_MAX) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "envelope: malformed root, proof or signature");
		goto out;
	}
	for (k = 0; k < pr->n_siblings; k++) {
		if (pr->siblings[k].len != CRYPTO_HASH_LEN) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "envelope: proof hash %zu is not 32 bytes",
			             k);
			goto out;
		}
		memcpy(path + k * CRYPTO_HASH_LEN, pr->siblings[k].data,
		       CRYPTO_HASH_LEN);
	}
	/* The signature covers the revision and the leaf count with the
	 * root: a proof alone does not pin the size of the tree. */
	envelope_record(env->revision, pr->leaf_count, env->merkle_root.data,
	                record);
	if (crypto_verify(signer, record, sizeof(record), env->signature.data,
	                  env->signature.len, NULL) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "envelope: the signature does not verify with the "
		             "fleet's signing key");
		goto out;
	}
	if ((leaf = malloc(env->payload.len + 1)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	leaf[0] = (uint8_t)env->kind;
	if (env->payload.len > 0)
		memcpy(leaf + 1, env->payload.data, env->payload.len);
	if (crypto_merkle_verify(leaf, env->payload.len + 1, pr->leaf_index,
	                         pr->leaf_count, path,
	                         pr->n_siblings * CRYPTO_HASH_LEN,
	                         env->merkle_root.data) != 0) {
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "envelope: the payload is not in the signed "
		             "revision (inclusion proof fails)");
		goto out;
	}
	o.kind = (enum envelope_kind)env->kind;
	o.revision = env->revision;
	if (o.kind == ENVELOPE_CATALOGUE) {
		o.catalogue = mcpfleet__v1__catalogue__unpack(
		    NULL, env->payload.len, env->payload.data);
		if (o.catalogue == NULL) {
			r = diag_set(d, ERR_PARSE, 0, 0,
			             "envelope: the catalogue does not decode");
			goto out;
		}
		r = envelope_check_names(
		    "catalogue", env->revision, o.catalogue->revision, user,
		    o.catalogue->user, device_id, o.catalogue->device_id, d);
	} else {
		o.revocation = mcpfleet__v1__revocation__unpack(
		    NULL, env->payload.len, env->payload.data);
		if (o.revocation == NULL) {
			r = diag_set(
			    d, ERR_PARSE, 0, 0,
			    "envelope: the revocation does not decode");
			goto out;
		}
		r = envelope_check_names(
		    "revocation", env->revision, o.revocation->revision, user,
		    o.revocation->user, device_id, o.revocation->device_id, d);
	}
	if (r != 0)
		goto out;
	*out = o;
	memset(&o, 0, sizeof(o));
out:
	envelope_opened_clear(&o);
	free(leaf);
	mcpfleet__v1__signed_envelope__free_unpacked(env, NULL);
	return r;
}

void envelope_opened_clear(struct envelope_opened *o)
{
	if (o == NULL)
		return;
	if (o->catalogue != NULL)
		mcpfleet__v1__catalogue__free_unpacked(o->catalogue, NULL);
	if (o->revocation != NULL)
		mcpfleet__v1__revocation__free_unpacked(o->revocation, NULL);
	memset(o, 0, sizeof(o[0]));
}

static json_t *envelope_strings(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The canonical JSON entry of a Server message. */
/* A Rate message as the catalogue spells it. A zero count or period
 * (missing from the wire) is spelled as it is ("0/min", "5/0s"), so that
 * the parser refuses it with its reason. */
static json_t *envelope_rate_json(const Mcpfleet__V1__Rate *r)
{
	char text[RATE_TEXT_MAX];
	struct rate rate = {0, 0};

	if (r != NULL) {
		rate.count = r->count;
		rate.per_secs = r->per_secs;
	}
	return json_string(rate_format(&rate, text));
}

/* Adds via, rate and tool_rates of m to o; returns non-zero on ENOMEM. An
 * unknown via is written as its number, for the parser to refuse. */
static int envelope_limits_json(const Mcpfleet__V1__Server *m, json_t *o)
{
	json_t *tr;
	size_t i;
	int bad = 0;

	if (m->via == MCPFLEET__V1__VIA__VIA_LAUNCHER)
		bad |= json_object_set_new(o, "via", json_string("launcher"));
	else if (m->via == MCPFLEET__V1__VIA__VIA_DIRECT)
		bad |= json_object_set_new(o, "via", json_string("direct"));
	else if (m->via != MCPFLEET__V1__VIA__VIA_DEFAULT)
		bad |= json_object_set_new(o, "via", json_integer(m->via));
	if (m->rate != NULL)
		bad |=
		    json_object_set_new(o, "rate", envelope_rate_json(m->rate));
	if (m->n_tool_rates == 0)
		return bad;
	if ((tr = json_object()) == NULL)
		return 1;
	for (i = 0; i < m->n_tool_rates; i++) {
		const Mcpfleet__V1__ToolRate *t = m->tool_rates[i];

		bad |= json_object_set_new(tr, t->tools ? t->tools : "",
		                           envelope_rate_json(t->rate));
	}
	return bad | json_object_set_new(o, "tool_rates", tr);
}

static json_t *envelope_server_json(const Mcpfleet__V1__Server *m)
{
	json_t *o = json_object(), *map, *tools;
	size_t i;
	int bad = 0;

	if (o == NULL)
		return NULL;
	if (m->transport == MCPFLEET__V1__TRANSPORT__TRANSPORT_STDIO) {
		bad |=
		    json_object_set_new(o, "command", json_string(m->command));
		bad |= json_object_set_new(
		    o, "args", envelope_strings(m->args, m->n_args));
		if ((map = json_object()) == NULL)
			bad = 1;
		for (i = 0; map != NULL && i < m->n_env; i++)
			bad |= json_object_set_new(
			    map, m->env[i]->key, json_string(m->env[i]->value));
		bad |= json_object_set_new(o, "env", map);
	} else {
		bad |= json_object_set_new(o, "url", json_string(m->url));
		bad |= json_object_set_new(
		    o, "type",
		    json_string(m->transport ==
		                        MCPFLEET__V1__TRANSPORT__TRANSPORT_SSE
		                    ? "sse"
		                    : "http"));
		if ((map = json_object()) == NULL)
			bad = 1;
		for (i = 0; map != NULL && i < m->n_headers; i++)
			bad |= json_object_set_new(
			    map, m->headers[i]->key,
			    json_string(m->headers[i]->value));
		bad |= json_object_set_new(o, "headers", map);
	}
	if (m->has_hosts)
		bad |= json_object_set_new(
		    o, "hosts", envelope_strings(m->hosts, m->n_hosts));
	if (m->disabled)
		bad |= json_object_set_new(o, "disabled", json_true());
	if (m->n_tools_allow > 0 || m->n_tools_deny > 0) {
		if ((tools = json_object()) == NULL)
			bad = 1;
		else {
			if (m->n_tools_allow > 0)
				bad |= json_object_set_new(
				    tools, "allow",
				    envelope_strings(m->tools_allow,
				                     m->n_tools_allow));
			if (m->n_tools_deny > 0)
				bad |= json_object_set_new(
				    tools, "deny",
				    envelope_strings(m->tools_deny,
				                     m->n_tools_deny));
			bad |= json_object_set_new(o, "tools", tools);
		}
	}
	bad |= envelope_limits_json(m, o);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Checks the catalogue's sealed values: each a secret name, at most one
 * per name, of a plausible size.
 */
static int envelope_sealed_check(const Mcpfleet__V1__Catalogue *c,
                                 struct diag *d)
{
	size_t i, k;

	if (c->n_secrets > CATALOGUE_MAX_LIST)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "catalogue: more than %d sealed secrets",
		                CATALOGUE_MAX_LIST);
	for (i = 0; i < c->n_secrets; i++) {
		const Mcpfleet__V1__SealedSecret *ss = c->secrets[i];
		size_t n = ss->name ? strlen(ss->name) : 0;

		if (n == 0 || n > 128 ||
		    strspn(ss->name,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
		           "rstuvwxyz0123456789_") != n ||
		    ss->sealed.len < CRYPTO_SEAL_OVERHEAD ||
		    ss->sealed.len >
		        CATALOGUE_MAX_STRING + CRYPTO_SEAL_OVERHEAD)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "catalogue: sealed secret %zu: a bad "
			                "name or size",
			                i);
		for (k = 0; k < i; k++)
			if (strcmp(c->secrets[k]->name, ss->name) == 0)
				return diag_set(d, ERR_INVALID, 0, 0,
				                "catalogue: sealed secret %s "
				                "appears twice",
				                ss->name);
	}
	return 0;
}

/*
 * Gives s the sealed value of every ${secret:NAME} its strings hold, so
 * that a launcher never meets a placeholder it cannot fill.
 */
static int envelope_sealed_model(const Mcpfleet__V1__Catalogue *c,
                                 struct server *s, struct diag *d)
{
	struct strv refs = {0};
	size_t i, k;
	int r;

	if ((r = server_secret_refs(s, &refs)) != 0)
		goto out;
	for (i = 0; i < refs.n; i++) {
		for (k = 0; k < c->n_secrets; k++)
			if (strcmp(c->secrets[k]->name, refs.v[i]) == 0)
				break;
		if (k == c->n_secrets) {
			r = diag_set(
			    d, ERR_INVALID, 0, 0,
			    "servers.%s: ${secret:%s} came without its "
			    "sealed value",
			    s->name, refs.v[i]);
			goto out;
		}
		if ((r = sealed_list_push(&s->secrets, c->secrets[k]->name,
		                          c->secrets[k]->version,
		                          c->secrets[k]->sealed.data,
		                          c->secrets[k]->sealed.len)) != 0)
			goto out;
	}
out:
	strv_clear(&refs);
	return r;
}

int envelope_catalogue_model(const Mcpfleet__V1__Catalogue *c,
                             struct catalogue *out, struct diag *d)
{
	/* Secret values come sealed beside their ${secret:NAME}s; hosts
	 * unknown to this agent (a newer fleet) are kept and simply match no
	 * adapter. */
	struct catalogue_opts opts = {.allow_secret_refs = true};
	struct catalogue cat = {0};
	size_t i;
	int r;

	if (c->n_servers > CATALOGUE_MAX_SERVERS)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "catalogue: more than %d servers",
		                CATALOGUE_MAX_SERVERS);
	if ((r = envelope_sealed_check(c, d)) != 0)
		return r;
	for (i = 0; i < c->n_servers; i++) {
		struct server s;
		json_t *j = envelope_server_json(c->servers[i]);

		if (j == NULL) {
			r = -ERR_NOMEM;
			goto fail;
		}
		r = server_from_json(c->servers[i]->name, j, &opts, &s, d);
		json_decref(j);
		if (r != 0)
			goto fail;
		s.origin = SERVER_FLEET;
		if ((r = envelope_sealed_model(c, &s, d)) != 0) {
			server_clear(&s);
			goto fail;
		}
		if (catalogue_find(&cat, s.name) != NULL) {
			server_clear(&s);
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "catalogue: server '%s' appears twice",
			             c->servers[i]->name);
			goto fail;
		}
		if ((r = catalogue_put(&cat, &s)) != 0) {
			server_clear(&s);
			goto fail;
		}
	}
	*out = cat;
	return 0;
fail:
	catalogue_clear(&cat);
	return r;
}

/*
 * The two map types of Server (env, headers) are distinct generated types
 * of one shape; one macro writes the builder for each.
 */
#define ENVELOPE_MAP_BUILDER(fn, type, init)                                   \
	static int fn(const struct kvlist *l, type ***entries, size_t *n)      \
	{                                                                      \
		type **v, *e;                                                  \
		size_t i;                                                      \
                                                                               \
		*entries = NULL;                                               \
		*n = 0;                                                        \
		if (l->n == 0)                                                 \
			return 0;                                              \
		v = calloc(l->n, sizeof(*v));                                  \
		e = calloc(l->n, sizeof(*e));                                  \
		if (v == NULL || e == NULL) {                                  \
			free(v);                                               \
			free(e);                                               \
			return -ERR_NOMEM;                                     \
		}                                                              \
		for (i = 0; i < l->n; i++) {                                   \
			init(&e[i]);                                           \
			e[i].key = l->v[i].key;                                \
			e[i].value = l->v[i].value;                            \
			v[i] = &e[i];                                          \
		}                                                              \
		*entries = v;                                                  \
		*n = l->n;                                                     \
		return 0;                                                      \
	}

ENVELOPE_MAP_BUILDER(envelope_env_map, Mcpfleet__V1__Server__EnvEntry,
                     mcpfleet__v1__server__env_entry__init)
ENVELOPE_MAP_BUILDER(envelope_headers_map, Mcpfleet__V1__Server__HeadersEntry,
                     mcpfleet__v1__server__headers_entry__init)

/*
 * The rate and tool rates of s as messages: the Rate alone, and one block
 * of (ToolRate, its Rate) pairs whose first ToolRate is at the block's
 * address, so that envelope_server_clear() frees it through tool_rates[0]
 * (as the map builders do).
 */
static int envelope_rates(const struct server *s, Mcpfleet__V1__Server *m)
{
	struct envelope_tool_rate {
		Mcpfleet__V1__ToolRate tr; /* first: the block's address */
		Mcpfleet__V1__Rate rate;
	} * v;
	size_t i, n = s->tool_rates.n;

	if (s->rate.count > 0) {
		if ((m->rate = malloc(sizeof(*m->rate))) == NULL)
			return -ERR_NOMEM;
		mcpfleet__v1__rate__init(m->rate);
		m->rate->count = s->rate.count;
		m->rate->per_secs = s->rate.per_secs;
	}
	if (n == 0)
		return 0;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	if ((m->tool_rates = calloc(n, sizeof(*m->tool_rates))) == NULL) {
		free(v);
		return -ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		mcpfleet__v1__tool_rate__init(&v[i].tr);
		mcpfleet__v1__rate__init(&v[i].rate);
		v[i].rate.count = s->tool_rates.v[i].rate.count;
		v[i].rate.per_secs = s->tool_rates.v[i].rate.per_secs;
		v[i].tr.tools = s->tool_rates.v[i].tools;
		v[i].tr.rate = &v[i].rate;
		m->tool_rates[i] = &v[i].tr;
	}
	m->n_tool_rates = n;
	return 0;
}

int envelope_server_message(const struct server *s, Mcpfleet__V1__Server *m)
{
	mcpfleet__v1__server__init(m);
	m->name = s->name;
	switch (s->transport) {
	case SERVER_STDIO:
		m->transport = MCPFLEET__V1__TRANSPORT__TRANSPORT_STDIO;
		m->command = s->command;
		break;
	case SERVER_HTTP:
		m->transport = MCPFLEET__V1__TRANSPORT__TRANSPORT_HTTP;
		m->url = s->url;
		break;
	case SERVER_SSE:
		m->transport = MCPFLEET__V1__TRANSPORT__TRANSPORT_SSE;
		m->url = s->url;
		break;
	}
	m->n_args = s->args.n;
	m->args = s->args.v;
	m->has_hosts = s->has_hosts;
	m->n_hosts = s->hosts.n;
	m->hosts = s->hosts.v;
	m->disabled = s->disabled;
	m->n_tools_allow = s->tools_allow.n;
	m->tools_allow = s->tools_allow.v;
	m->n_tools_deny = s->tools_deny.n;
	m->tools_deny = s->tools_deny.v;
	m->via = s->via == SERVER_VIA_LAUNCHER ? MCPFLEET__V1__VIA__VIA_LAUNCHER
	         : s->via == SERVER_VIA_DIRECT ? MCPFLEET__V1__VIA__VIA_DIRECT
	                                       : MCPFLEET__V1__VIA__VIA_DEFAULT;
	if (envelope_env_map(&s->env, &m->env, &m->n_env) != 0)
		return -ERR_NOMEM;
	if (envelope_headers_map(&s->headers, &m->headers, &m->n_headers) !=
	        0 ||
	    envelope_rates(s, m) != 0) {
		envelope_server_clear(m);
		return -ERR_NOMEM;
	}
	return 0;
}

void envelope_server_clear(Mcpfleet__V1__Server *m)
{
	if (m == NULL)
		return;
	if (m->n_env > 0) {
		free(m->env[0]);
		free(m->env);
	}
	if (m->n_headers > 0) {
		free(m->headers[0]);
		free(m->headers);
	}
	if (m->n_tool_rates > 0) {
		free(m->tool_rates[0]);
		free(m->tool_rates);
	}
	free(m->rate);
	m->env = NULL;
	m->headers = NULL;
	m->n_env = 0;
	m->n_headers = 0;
	m->rate = NULL;
	m->tool_rates = NULL;
	m->n_tool_rates = 0;
}
