/* SPDX-License-Identifier: MIT */
/* Revisions: every active device's view, signed once over a Merkle root;
 * and signed revocations. */
#include "publish.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "envelope.h"
#include "view.h"

/* One user's view, computed once for all of the user's devices. */
struct publish_user {
	int64_t user_id;
	struct view view;
	uint8_t *servers; /* the packed servers: field 5 of a Catalogue */
	size_t servers_len;
	uint8_t hash[CRYPTO_HASH_LEN];
	char *omitted_json;
};

/* What publish_build() holds while it works. */
struct publish_work {
	struct store_snapshot snap;
	struct store_device_list devs;
	const struct store_device **active; /* by id */
	size_t nactive;
	struct view_ctx *ctx;
	struct publish_user *users; /* by user id */
	size_t nusers;
	struct envelope_payload *payloads;
	struct envelope_batch *batch;
	const uint8_t *master; /* the data keys derive from it */
	struct publish_settings set;
};

static int publish_i64_cmp(int64_t x, int64_t y)
{
	return (x > y) - (x < y);
}

static int publish_device_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct store_device *const *)a)->id,
	              (*(const struct store_device *const *)b)->id);
}

static int publish_user_cmp(const void *a, const void *b)
{
	return publish_i64_cmp(((const struct publish_user *)a)->user_id,
	                       ((const struct publish_user *)b)->user_id);
}

static struct publish_user *publish_user_find(struct publish_work *w,
                                              int64_t user_id)
{
	struct publish_user key = {.user_id = user_id};

	return bsearch(&key, w->users, w->nusers, sizeof(*w->users),
	               publish_user_cmp);
}

/*
 * Packs the view's servers alone, as a Catalogue holding only field 5.
 * Protobuf-c writes fields in number order, and a message is the
 * concatenation of its fields, so a device's payload is its header
 * (fields 1-4) followed by these bytes: the servers, secrets and all, are
 * encoded once per user and not once per device. Returns 0 or -ERR_NOMEM.
 */
static int publish_pack_servers(const struct view *v, uint8_t **out,
                                size_t *len)
{
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server *m = NULL, **mp = NULL;
	uint8_t *buf = NULL;
	size_t i, n = 0, plen;
	int r = -ERR_NOMEM;

	mcpfleet__v1__catalogue__init(&c);
	if (v->cat.n > 0 && ((m = calloc(v->cat.n, sizeof(*m))) == NULL ||
	                     (mp = calloc(v->cat.n, sizeof(*mp))) == NULL))
		goto out;
	for (i = 0; i < v->cat.n; i++) {
		if (envelope_server_message(&v->cat.servers[i], &m[i]) != 0)
			goto out;
		mp[i] = &m[i];
		n++;
	}
	c.n_servers = v->cat.n;
	c.servers = mp;
	plen = mcpfleet__v1__catalogue__get_packed_size(&c);
	/* One byte more than needed: an empty view packs to nothing. */
	if ((buf = malloc(plen + 1)) == NULL)
		goto out;
	mcpfleet__v1__catalogue__pack(&c, buf);
	*out = buf;
	*len = plen;
	r = 0;
out:
	for (i = 0; i < n; i++)
		envelope_server_clear(&m[i]);
	free(m);
	free(mp);
	return r;
}

/* The view's omitted servers as a JSON array of {"server","reason"}. */
static char *publish_omitted_json(const struct view *v)
{
	json_t *a = json_array();
	char *s = NULL;
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < v->nomitted; i++)
		if (json_array_append_new(
		        a,
		        json_pack("{s:s,s:s}", "server", v->omitted[i].server,
		                  "reason", v->omitted[i].reason)) != 0)
			goto out;
	s = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return s;
}

/* Collects the active devices (by id) and their distinct users. */
static int publish_collect(struct publish_work *w)
{
	size_t i, n = 0;

	if (w->devs.n == 0)
		return 0;
	w->active = calloc(w->devs.n, sizeof(*w->active));
	w->users = calloc(w->devs.n, sizeof(*w->users));
	if (w->active == NULL || w->users == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < w->devs.n; i++)
		if (w->devs.v[i].status == STORE_DEVICE_ACTIVE)
			w->active[w->nactive++] = &w->devs.v[i];
	qsort(w->active, w->nactive, sizeof(*w->active), publish_device_cmp);
	for (i = 0; i < w->nactive; i++)
		w->users[i].user_id = w->active[i]->user_id;
	qsort(w->users, w->nactive, sizeof(*w->users), publish_user_cmp);
	for (i = 0; i < w->nactive; i++)
		if (n == 0 || w->users[n - 1].user_id != w->users[i].user_id)
			w->users[n++].user_id = w->users[i].user_id;
	w->nusers = n;
	return 0;
}

/*
 * What identifies a view's content: its packed servers, which keep their
 * ${secret:NAME}s, and the secret records they use (a new version of a
 * secret is a new record: a rotation changes the view).
 */
static int publish_view_hash(struct publish_user *u)
{
	size_t n = u->servers_len + u->view.nsecret_ids * 8, i, k;
	uint8_t *buf = malloc(n + 1);
	int r;

	if (buf == NULL)
		return -ERR_NOMEM;
	memcpy(buf, u->servers, u->servers_len);
	for (i = 0; i < u->view.nsecret_ids; i++)
		for (k = 0; k < 8; k++)
			buf[u->servers_len + i * 8 + k] =
			    (uint8_t)((uint64_t)u->view.secret_ids[i] >>
			              (8 * k));
	r = crypto_sha256(buf, n, u->hash);
	free(buf);
	return r;
}

/* Computes, packs and hashes each user's view once. */
static int publish_views(struct publish_work *w, struct diag *d)
{
	size_t i;
	int r;

	for (i = 0; i < w->nusers; i++) {
		struct publish_user *u = &w->users[i];

		if ((r = view_ctx_compute(w->ctx, u->user_id, &u->view, d)) !=
		    0)
			return r;
		if (publish_pack_servers(&u->view, &u->servers,
		                         &u->servers_len) != 0 ||
		    (u->omitted_json = publish_omitted_json(&u->view)) == NULL)
			return diag_set(d, ERR_NOMEM, 0, 0,
			                "publish: out of memory packing the "
			                "view of user %lld",
			                (long long)u->user_id);
		if (publish_view_hash(u) != 0)
			return diag_set(d, ERR_CRYPTO, 0, 0,
			                "publish: SHA-256 failed");
	}
	return 0;
}

/*
 * One device's Catalogue payload: its header (with the view's secret
 * values sealed for this device), then its user's servers. Returns 0,
 * -ERR_NOMEM or -ERR_CRYPTO.
 */
static int publish_payload(const struct publish_work *w,
                           const struct store_device *dev,
                           const struct publish_user *u,
                           const struct publication_entry *e, uint64_t revision,
                           int64_t issued_at, struct crypto_rng *rng,
                           uint8_t **out, size_t *len)
{
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__SealedSecret *ss = NULL, **ssp = NULL;
	size_t hl, i, n = u->view.nsecret_ids;
	uint8_t *buf;
	int r = -ERR_NOMEM;

	mcpfleet__v1__catalogue__init(&c);
	c.user = dev->user_name;
	c.device_id = dev->id;
	c.revision = revision;
	c.issued_at = issued_at;
	c.data_key_id = (char *)(uintptr_t)e->data_key_id;
	c.offline_grace_secs = w->set.offline_grace;
	c.call_spool_max = w->set.call_spool_max;
	if (n > 0 && ((ss = calloc(n, sizeof(*ss))) == NULL ||
	              (ssp = calloc(n, sizeof(*ssp))) == NULL))
		goto out;
	for (i = 0; i < n; i++) {
		const char *name;
		const uint8_t *value;
		int64_t version;
		size_t vlen;

		mcpfleet__v1__sealed_secret__init(&ss[i]);
		ssp[i] = &ss[i];
		if (view_ctx_secret(w->ctx, u->view.secret_ids[i], &name,
		                    &version, &value, &vlen) != 0) {
			r = -ERR_INTERNAL;
			goto out;
		}
		ss[i].name = (char *)(uintptr_t)name;
		ss[i].version = version;
		if ((r = devsecret_seal(rng, e->data_key, dev->id, name,
		                        version, (const char *)value, vlen,
		                        &ss[i].sealed.data, &ss[i].sealed.len,
		                        NULL)) != 0)
			goto out;
		c.n_secrets = i + 1;
	}
	c.secrets = ssp;
	hl = mcpfleet__v1__catalogue__get_packed_size(&c);
	if ((buf = malloc(hl + u->servers_len + 1)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	mcpfleet__v1__catalogue__pack(&c, buf);
	if (u->servers_len > 0)
		memcpy(buf + hl, u->servers, u->servers_len);
	*out = buf;
	*len = hl + u->servers_len;
	r = 0;
out:
	for (i = 0; ss != NULL && i < n; i++)
		free(ss[i].sealed.data);
	free(ss);
	free(ssp);
	return r;
}

/* Drops one reference to e; the last frees it. NULL-safe. */
static void publish_entry_release(struct publication_entry *e)
{
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	free(e->device_id);
	free(e->user);
	crypto_secret_free(e->envelope, e->envelope_len);
	explicit_bzero(e->data_key, sizeof(e->data_key));
	free(e->secret_ids);
	free(e->omitted_json);
	free(e);
}

static int publish_entry_fill(const struct publish_work *w,
                              const struct store_device *dev,
                              const struct publish_user *u,
                              struct publication_entry *e);

/* A new entry for device w->active[i] (*out), but for its envelope.
 * Returns 0, -ERR_NOMEM or -ERR_INTERNAL. */
static int publish_entry(struct publish_work *w, size_t i,
                         struct publication_entry **out)
{
	const struct store_device *dev = w->active[i];
	const struct publish_user *u = publish_user_find(w, dev->user_id);
	struct publication_entry *e = calloc(1, sizeof(*e));
	int r;

	if (e == NULL)
		return -ERR_NOMEM;
	atomic_init(&e->refs, 1);
	if ((r = publish_entry_fill(w, dev, u, e)) != 0) {
		publish_entry_release(e);
		return r;
	}
	*out = e;
	return 0;
}

static int publish_entry_fill(const struct publish_work *w,
                              const struct store_device *dev,
                              const struct publish_user *u,
                              struct publication_entry *e)
{
	e->user_id = dev->user_id;
	memcpy(e->view_hash, u->hash, CRYPTO_HASH_LEN);
	if (devsecret_derive(w->master, dev->id, e->data_key) != 0 ||
	    devsecret_key_id(e->data_key, e->data_key_id) != 0)
		return -ERR_INTERNAL;
	if ((e->device_id = strdup(dev->id)) == NULL ||
	    (e->user = strdup(dev->user_name)) == NULL ||
	    (e->omitted_json = strdup(u->omitted_json)) == NULL)
		return -ERR_NOMEM;
	if (u->view.nsecret_ids > 0) {
		e->secret_ids =
		    calloc(u->view.nsecret_ids, sizeof(*e->secret_ids));
		if (e->secret_ids == NULL)
			return -ERR_NOMEM;
		memcpy(e->secret_ids, u->view.secret_ids,
		       u->view.nsecret_ids * sizeof(*e->secret_ids));
		e->nsecret_ids = u->view.nsecret_ids;
	}
	return 0;
}

/* Signs every payload once and packs each device's envelope. */
static int publish_sign(struct publish_work *w, struct publication *p,
                        const struct pki *pki, struct crypto_rng *rng,
                        struct diag *d)
{
	size_t i;
	int r;

	w->payloads = calloc(w->nactive, sizeof(*w->payloads));
	if (w->payloads == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	for (i = 0; i < w->nactive; i++) {
		uint8_t *buf = NULL;

		p->v[i]->revision = p->revision;
		w->payloads[i].kind = ENVELOPE_CATALOGUE;
		if ((r = publish_payload(
		         w, w->active[i],
		         publish_user_find(w, w->active[i]->user_id), p->v[i],
		         p->revision, p->issued_at, rng, &buf,
		         &w->payloads[i].len)) != 0)
			return diag_set(d, r, 0, 0,
			                "publish: the payload of %s: %s",
			                w->active[i]->id, err_str(r));
		w->payloads[i].data = buf;
	}
	if ((r = envelope_batch_sign(w->payloads, w->nactive, p->revision,
	                             pki->signer, rng, &w->batch, d)) != 0)
		return r;
	for (i = 0; i < w->nactive; i++)
		if (envelope_batch_pack(w->batch, i, &p->v[i]->envelope,
		                        &p->v[i]->envelope_len) != 0)
			return diag_set(d, ERR_NOMEM, 0, 0,
			                "publish: out of memory packing the "
			                "envelope of %s",
			                w->active[i]->id);
	return 0;
}

/* Records the signed revision: its root, leaf count and signature. */
static int publish_record(struct store *st, const struct publish_work *w,
                          const struct publication *p, struct diag *d)
{
	struct store_revision rev;
	uint8_t root[CRYPTO_HASH_LEN], sig[CRYPTO_SIG_MAX];
	size_t siglen;

	memset(&rev, 0, sizeof(rev));
	rev.revision = (int64_t)p->revision;
	rev.created_at = p->issued_at;
	rev.leaf_count = (int64_t)w->nactive;
	envelope_batch_root(w->batch, root);
	siglen = envelope_batch_signature(w->batch, sig);
	if (crypto_hex(root, sizeof(root), rev.merkle_root,
	               sizeof(rev.merkle_root)) != 0 ||
	    crypto_hex(sig, siglen, rev.signature, sizeof(rev.signature)) != 0)
		return diag_set(d, ERR_INTERNAL, 0, 0,
		                "publish: revision %llu: root or signature "
		                "does not fit its record",
		                (unsigned long long)p->revision);
	return store_revision_record(st, &rev, d);
}

static void publish_work_free(struct publish_work *w)
{
	size_t i;

	envelope_batch_free(w->batch);
	for (i = 0; w->payloads != NULL && i < w->nactive; i++)
		crypto_secret_free((void *)(uintptr_t)w->payloads[i].data,
		                   w->payloads[i].len);
	free(w->payloads);
	for (i = 0; w->users != NULL && i < w->nusers; i++) {
		view_clear(&w->users[i].view);
		crypto_secret_free(w->users[i].servers,
		                   w->users[i].servers_len);
		free(w->users[i].omitted_json);
	}
	free(w->users);
	view_ctx_free(w->ctx);
	free(w->active);
	store_device_list_free(&w->devs);
	store_snapshot_free(&w->snap);
}

int publish_build(struct store *st, const struct pki *pki,
                  struct crypto_rng *rng, struct publication **out,
                  struct diag *d)
{
	return publish_build_with(st, pki, NULL, rng, out, d);
}

/*
 * Fills p with the signed entries of w's active devices (their views
 * computed, sealed and signed) and records the revision. Returns 0 or the
 * error, d set.
 */
static int publish_fill(struct store *st, struct publish_work *w,
                        struct publication *p, const struct pki *pki,
                        const struct publish_settings *set,
                        struct crypto_rng *rng, struct diag *d)
{
	size_t i;
	int r;

	if ((p->v = calloc(w->nactive, sizeof(*p->v))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	p->n = w->nactive;
	w->master = pki->master;
	if (set != NULL)
		w->set = *set;
	if ((r = view_ctx_new(&w->snap, pki->master, &w->ctx, d)) != 0)
		return r;
	view_ctx_set_sealing(w->ctx, true);
	if ((r = publish_views(w, d)) != 0)
		return r;
	for (i = 0; i < w->nactive; i++)
		if (publish_entry(w, i, &p->v[i]) != 0)
			return diag_set(d, ERR_NOMEM, 0, 0,
			                "publish: out of memory");
	if ((r = publish_sign(w, p, pki, rng, d)) != 0)
		return r;
	return publish_record(st, w, p, d);
}

/* Joins ids with ',' ("" for none) into a new string; NULL: no memory. */
static char *publish_ids_text(const int64_t *ids, size_t n)
{
	size_t i, o = 0, cap = n * 21 + 1;
	char *s = malloc(cap);
	int k;

	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		k = snprintf(s + o, cap - o, i > 0 ? ",%lld" : "%lld",
		             (long long)ids[i]);
		if (k < 0 || (size_t)k >= cap - o) {
			free(s);
			return NULL;
		}
		o += (size_t)k;
	}
	return s;
}

/*
 * Records p's entries in a shared store, in the revision's transaction
 * (docs/design.md, "Replicas"): the other replicas serve these bytes rather
 * than signing their own. full: p holds every active device, so entries
 * signed before it are dropped. A store that is not shared keeps none.
 */
static int publish_share(struct store *st, const struct publication *p,
                         bool full, struct diag *d)
{
	struct store_pub_entry *v = NULL;
	size_t i, n = 0;
	int r = 0;

	if (!store_shared(st))
		return 0;
	if (p->n > 0 && (v = calloc(p->n, sizeof(*v))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	for (i = 0; i < p->n; i++, n++) {
		const struct publication_entry *e = p->v[i];

		v[i].device_id = e->device_id;
		v[i].revision = (int64_t)e->revision;
		v[i].user_id = e->user_id;
		v[i].user = e->user;
		v[i].envelope = e->envelope;
		v[i].envelope_len = e->envelope_len;
		v[i].omitted_json = e->omitted_json;
		if (crypto_hex(e->view_hash, sizeof(e->view_hash),
		               v[i].view_hash, sizeof(v[i].view_hash)) != 0 ||
		    (v[i].secret_ids = publish_ids_text(
		         e->secret_ids, e->nsecret_ids)) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0,
			             "publish: out of memory");
			goto out;
		}
	}
	if (full)
		r = store_pub_entry_replace(st, v, n, (int64_t)p->revision, d);
	for (i = 0; !full && r == 0 && i < n; i++)
		r = store_pub_entry_put(st, &v[i], d);
out:
	for (i = 0; i < n; i++)
		free(v[i].secret_ids);
	free(v);
	return r;
}

int publish_build_with(struct store *st, const struct pki *pki,
                       const struct publish_settings *set,
                       struct crypto_rng *rng, struct publication **out,
                       struct diag *d)
{
	struct publish_work w;
	struct publication *p = NULL;
	int64_t rev = 0;
	int r;

	memset(&w, 0, sizeof(w));
	if (pki == NULL || pki->signer == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "publish: no catalogue signing key");
	if ((r = store_begin(st, d)) != 0)
		return r;
	if ((r = store_revision_bump(st, &rev, d)) != 0 ||
	    (r = store_snapshot_load(st, &w.snap, d)) != 0 ||
	    (r = store_device_list(st, 0, &w.devs, d)) != 0)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (r = publish_collect(&w)) != 0) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
		goto out;
	}
	p->revision = (uint64_t)rev;
	p->issued_at = store_now(st);
	/* No device, nothing to sign: the counter still moves, so that the
	 * next revision any device sees is newer than anything before. */
	if (w.nactive > 0 &&
	    (r = publish_fill(st, &w, p, pki, set, rng, d)) != 0)
		goto out;
	if ((r = publish_share(st, p, true, d)) != 0 ||
	    (r = store_commit(st, d)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	/* The first error's message is the one that matters. */
	if (r != 0)
		(void)store_rollback(st, NULL);
	publication_free(p);
	publish_work_free(&w);
	return r;
}

/* Loads the devices ids into w->devs, as store_device_list() would. */
static int publish_load_devices(struct store *st, struct publish_work *w,
                                const char *const *ids, size_t n,
                                struct diag *d)
{
	size_t i;
	int r;

	if (n == 0)
		return 0;
	if ((w->devs.v = calloc(n, sizeof(*w->devs.v))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	for (i = 0; i < n; i++) {
		if ((r = store_device_get(st, ids[i], &w->devs.v[w->devs.n],
		                          d)) != 0)
			return r;
		w->devs.n++;
	}
	return 0;
}

/* Drops the active devices named twice (w->active is sorted by id). */
static void publish_dedupe(struct publish_work *w)
{
	size_t i, n = 0;

	for (i = 0; i < w->nactive; i++)
		if (n == 0 ||
		    strcmp(w->active[n - 1]->id, w->active[i]->id) != 0)
			w->active[n++] = w->active[i];
	w->nactive = n;
}

/* Where device_id is or would go in p's entries. */
static size_t publish_pos(const struct publication *p, const char *device_id)
{
	size_t lo = 0, hi = p->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(p->v[mid]->device_id, device_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Fills p with base's entries (shared: one more reference each) and add's
 * (moved: add keeps none), by device id; add's entry wins over base's of
 * the same device. One binary search per added entry, no comparison per
 * carried one. Returns 0 or -ERR_NOMEM,
 * with p and add unchanged.
 */
static int publish_merge(const struct publication *base,
                         struct publication *add, struct publication *p)
{
	struct publication_entry **v;
	size_t i = 0, k, at, n = 0;

	if ((v = calloc(base->n + add->n + 1, sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	for (k = 0; k <= add->n; k++) {
		at = k < add->n ? publish_pos(base, add->v[k]->device_id)
		                : base->n;
		for (; i < at; i++) {
			v[n] = base->v[i];
			atomic_fetch_add(&v[n++]->refs, 1);
		}
		if (k == add->n)
			break;
		if (i < base->n &&
		    strcmp(base->v[i]->device_id, add->v[k]->device_id) == 0)
			i++; /* replaced */
		v[n++] = add->v[k];
	}
	add->n = 0;
	p->v = v;
	p->n = n;
	return 0;
}

int publish_add(struct store *st, const struct pki *pki,
                const struct publish_settings *set, struct crypto_rng *rng,
                const struct publication *base, const char *const *ids,
                size_t n, struct publication **out, struct diag *d)
{
	struct publish_work w;
	struct publication *p = NULL, *add = NULL;
	int64_t rev = 0;
	int r;

	memset(&w, 0, sizeof(w));
	if (pki == NULL || pki->signer == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "publish: no catalogue signing key");
	if (base == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "publish: no revision to add devices to");
	if ((r = store_begin(st, d)) != 0)
		return r;
	if ((r = store_revision_bump(st, &rev, d)) != 0 ||
	    (r = store_snapshot_load(st, &w.snap, d)) != 0 ||
	    (r = publish_load_devices(st, &w, ids, n, d)) != 0)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (add = calloc(1, sizeof(*add))) == NULL ||
	    (r = publish_collect(&w)) != 0) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
		goto out;
	}
	publish_dedupe(&w);
	add->revision = p->revision = (uint64_t)rev;
	add->issued_at = p->issued_at = store_now(st);
	if (w.nactive > 0 &&
	    (r = publish_fill(st, &w, add, pki, set, rng, d)) != 0)
		goto out;
	if ((r = publish_share(st, add, false, d)) != 0)
		goto out;
	if ((r = publish_merge(base, add, p)) != 0) {
		r = diag_set(d, -r, 0, 0, "publish: %s", err_str(r));
		goto out;
	}
	if ((r = store_commit(st, d)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	if (r != 0)
		(void)store_rollback(st, NULL);
	publication_free(add);
	publication_free(p);
	publish_work_free(&w);
	return r;
}

/* Parses a stored entry's "1,2,3" into e's secret ids. */
static int publish_ids_parse(const char *s, struct publication_entry *e)
{
	size_t n = 0, i;
	const char *p;
	char *end;

	if (*s == '\0')
		return 0;
	for (p = s, n = 1; *p != '\0'; p++)
		if (*p == ',')
			n++;
	if ((e->secret_ids = calloc(n, sizeof(*e->secret_ids))) == NULL)
		return -ERR_NOMEM;
	for (i = 0, p = s; i < n; i++) {
		long long v = strtoll(p, &end, 10);

		if (end == p || v <= 0 || (*end != ',' && *end != '\0'))
			return -ERR_IO;
		e->secret_ids[i] = v;
		p = *end == ',' ? end + 1 : end;
	}
	e->nsecret_ids = n;
	return 0;
}

/* A publication entry from a stored one (taking its envelope). */
static int publish_entry_load(const uint8_t *master, struct store_pub_entry *se,
                              struct publication_entry **out)
{
	struct publication_entry *e = calloc(1, sizeof(*e));
	size_t n;
	int r = -ERR_NOMEM;

	if (e == NULL)
		return -ERR_NOMEM;
	atomic_init(&e->refs, 1);
	e->revision = (uint64_t)se->revision;
	e->user_id = se->user_id;
	if ((e->device_id = strdup(se->device_id)) == NULL ||
	    (e->user = strdup(se->user)) == NULL ||
	    (e->omitted_json = strdup(se->omitted_json)) == NULL)
		goto fail;
	if (crypto_unhex(se->view_hash, strlen(se->view_hash), e->view_hash,
	                 sizeof(e->view_hash), &n) != 0 ||
	    n != sizeof(e->view_hash)) {
		r = -ERR_IO;
		goto fail;
	}
	if ((r = publish_ids_parse(se->secret_ids, e)) != 0)
		goto fail;
	if (devsecret_derive(master, e->device_id, e->data_key) != 0 ||
	    devsecret_key_id(e->data_key, e->data_key_id) != 0) {
		r = -ERR_INTERNAL;
		goto fail;
	}
	e->envelope = se->envelope;
	e->envelope_len = se->envelope_len;
	se->envelope = NULL;
	*out = e;
	return 0;
fail:
	publish_entry_release(e);
	return r;
}

/* Fills p with base's entries and those of l (each newer than base's of
 * its device, or a device base lacks). Returns 0 or the error, d set. */
static int publish_load_add(const struct pki *pki,
                            const struct publication *base,
                            struct store_pub_entry_list *l,
                            struct publication *p, int64_t *top, struct diag *d)
{
	struct publication *add = calloc(1, sizeof(*add));
	size_t k;
	int r = 0;

	if (add == NULL ||
	    (l->n > 0 && (add->v = calloc(l->n, sizeof(*add->v))) == NULL)) {
		free(add);
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	}
	for (k = 0; k < l->n && r == 0; k++) {
		if (l->v[k].revision > *top)
			*top = l->v[k].revision;
		if ((r = publish_entry_load(pki->master, &l->v[k],
		                            &add->v[add->n])) != 0)
			r = diag_set(d, -r, 0, 0,
			             "publish: the stored entry of %s: %s",
			             l->v[k].device_id, err_str(r));
		else
			add->n++;
	}
	if (r == 0 && (r = publish_merge(base, add, p)) != 0)
		r = diag_set(d, -r, 0, 0, "publish: %s", err_str(r));
	publication_free(add);
	return r;
}

int publish_load(struct store *st, const struct pki *pki,
                 const struct publication *base, int64_t since, bool full,
                 struct publication **out, int64_t *synced, struct diag *d)
{
	struct store_pub_entry_list l = {NULL, 0};
	struct store_id_list ids = {NULL, 0};
	struct store_revision rev;
	struct publication *p = NULL;
	const struct publication_entry *old;
	int64_t top = since, counter = 0;
	size_t i, k = 0;
	int r;

	if (base == NULL) {
		since = 0;
		full = true;
	}
	memset(&rev, 0, sizeof(rev));
	if ((r = store_pub_entry_since(st, since, &l, full ? &ids : NULL, d)) !=
	    0)
		return r;
	r = store_revision_latest(st, &rev, d);
	if (r != 0 && r != -ERR_NOENT)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (ids.n > 0 && (p->v = calloc(ids.n, sizeof(*p->v))) == NULL)) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
		goto out;
	}
	if (rev.revision > top)
		top = rev.revision;
	p->issued_at = rev.created_at;
	if (!full) {
		/* Only added or newer entries since: no walk of every id. */
		if ((r = publish_load_add(pki, base, &l, p, &top, d)) != 0)
			goto out;
		for (i = 0; i < p->n; i++)
			if (p->v[i]->revision > p->revision)
				p->revision = p->v[i]->revision;
	}
	/* Both lists are in device id order: one walk merges them. */
	for (i = 0; full && i < ids.n; i++) {
		struct publication_entry *e = NULL;

		while (k < l.n && strcmp(l.v[k].device_id, ids.v[i]) < 0)
			k++;
		if (k < l.n && strcmp(l.v[k].device_id, ids.v[i]) == 0) {
			if (l.v[k].revision > top)
				top = l.v[k].revision;
			if ((r = publish_entry_load(pki->master, &l.v[k],
			                            &e)) != 0) {
				r = diag_set(d, -r, 0, 0,
				             "publish: the stored entry of %s: "
				             "%s",
				             ids.v[i], err_str(r));
				goto out;
			}
		} else if ((old = publication_find(base, ids.v[i])) != NULL) {
			e = (struct publication_entry *)(uintptr_t)old;
			atomic_fetch_add(&e->refs, 1);
		} else {
			r = diag_set(d, ERR_NOENT, 0, 0,
			             "publish: %s's entry is older than the "
			             "revision held: read them all",
			             ids.v[i]);
			goto out;
		}
		p->v[p->n++] = e;
		if (e->revision > p->revision)
			p->revision = e->revision;
	}
	if ((uint64_t)rev.revision > p->revision)
		p->revision = (uint64_t)rev.revision;
	/* A revision without a device records nothing but moves the
	 * counter. */
	if ((r = store_revision_current(st, &counter, d)) != 0)
		goto out;
	if (counter > 0 && (uint64_t)counter > p->revision)
		p->revision = (uint64_t)counter;
	*out = p;
	*synced = top;
	p = NULL;
	r = 0;
out:
	publication_free(p);
	store_pub_entry_list_free(&l);
	store_id_list_free(&ids);
	return r;
}

static int publish_entry_cmp(const void *key, const void *elem)
{
	return strcmp(
	    key, (*(const struct publication_entry *const *)elem)->device_id);
}

const struct publication_entry *publication_find(const struct publication *p,
                                                 const char *device_id)
{
	struct publication_entry *const *pe;

	if (p == NULL || p->n == 0 || device_id == NULL)
		return NULL;
	pe = bsearch(device_id, p->v, p->n, sizeof(*p->v), publish_entry_cmp);
	return pe != NULL ? *pe : NULL;
}

void publication_free(struct publication *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		publish_entry_release(p->v[i]);
	free(p->v);
	free(p);
}

int publish_revocation(const struct pki *pki, struct crypto_rng *rng,
                       const char *user, const char *device_id,
                       uint64_t revision, int64_t revoked_at,
                       const char *reason, uint8_t **out, size_t *len,
                       struct diag *d)
{
	Mcpfleet__V1__Revocation m;
	struct envelope_payload pl;
	struct envelope_batch *b = NULL;
	uint8_t *buf = NULL;
	int r;

	if (pki == NULL || pki->signer == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "revocation: no catalogue signing key");
	if (user == NULL || device_id == NULL || *user == '\0' ||
	    *device_id == '\0')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "revocation: a user and a device id are "
		                "required");
	mcpfleet__v1__revocation__init(&m);
	/* The generated message is not const-correct; pack only reads. */
	m.user = (char *)(uintptr_t)user;
	m.device_id = (char *)(uintptr_t)device_id;
	m.revision = revision;
	m.revoked_at = revoked_at;
	if (reason != NULL)
		m.reason = (char *)(uintptr_t)reason;
	pl.kind = ENVELOPE_REVOCATION;
	pl.len = mcpfleet__v1__revocation__get_packed_size(&m);
	if ((buf = malloc(pl.len + 1)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0,
		             "revocation of %s: out of memory", device_id);
		goto out;
	}
	mcpfleet__v1__revocation__pack(&m, buf);
	pl.data = buf;
	if ((r = envelope_batch_sign(&pl, 1, revision, pki->signer, rng, &b,
	                             d)) != 0)
		goto out;
	if ((r = envelope_batch_pack(b, 0, out, len)) != 0)
		r = diag_set(d, ERR_NOMEM, 0, 0,
		             "revocation of %s: out of memory", device_id);
out:
	envelope_batch_free(b);
	free(buf);
	return r;
}
