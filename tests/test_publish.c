/* SPDX-License-Identifier: MIT */
/* Unit tests: server/publish.c, signed revisions and revocations. */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "devsecret.h"
#include "envelope.h"
#include "pki.h"
#include "publish.h"
#include "store.h"

#define TP_NOW 1700000000

struct tp_fixture {
	char *dir;
	char *path;
	struct store *st;
	struct crypto_rng *rng;
	struct pki pki;         /* only what publish uses, built by hand */
	struct crypto_key *pub; /* the signer's public key, as agents have it */
	struct crypto_key *other; /* some other key */
};

static int tp_setup(void **state)
{
	struct tp_fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->path = tu_path(f->dir, "fleet.db");
	diag_clear(&d);
	tu_ok(store_open("sqlite", f->path, &f->st, &d), &d);
	store_set_now(f->st, TP_NOW);
	tu_ok(crypto_rng_new("test_publish", &f->rng, &d), &d);
	tu_ok(crypto_key_generate(f->rng, &f->pki.signer, &d), &d);
	tu_ok(crypto_key_write_public(f->pki.signer, &f->pki.signer_pub_pem,
	                              &f->pki.signer_pub_len, &d),
	      &d);
	tu_ok(crypto_key_load_public(f->pki.signer_pub_pem,
	                             f->pki.signer_pub_len, &f->pub, &d),
	      &d);
	tu_ok(crypto_key_generate(f->rng, &f->other, &d), &d);
	tu_ok(crypto_random(f->rng, f->pki.master, sizeof(f->pki.master)), &d);
	*state = f;
	return 0;
}

static int tp_teardown(void **state)
{
	struct tp_fixture *f = *state;

	store_close(f->st);
	crypto_key_free(f->pki.signer);
	free(f->pki.signer_pub_pem);
	crypto_key_free(f->pub);
	crypto_key_free(f->other);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static int64_t tp_user(struct tp_fixture *f, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_user_add(f->st, name, NULL, &id, &d), &d);
	return id;
}

static int64_t tp_server(struct tp_fixture *f, const char *name,
                         const char *json)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_server_add(f->st, name, json, &id, &d), &d);
	return id;
}

static void tp_grant_everyone(struct tp_fixture *f, int64_t server)
{
	struct diag d;

	tu_ok(store_grant_add(f->st, server, STORE_TARGET_EVERYONE, 0, NULL,
	                      NULL, &d),
	      &d);
}

static int64_t tp_secret(struct tp_fixture *f, const char *name,
                         enum store_scope scope, int64_t scope_id,
                         const char *value)
{
	char aad[STORE_AAD_MAX];
	uint8_t *sealed = NULL;
	size_t aadlen, n;
	int64_t id = 0, v = 0;
	struct diag d;

	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_secret_next(f->st, name, scope, scope_id, &id, &v, &d), &d);
	assert_int_equal(store_secret_aad(id, aad, &aadlen), 0);
	tu_ok(crypto_seal(f->rng, f->pki.master, aad, aadlen, value,
	                  strlen(value), &sealed, &n, &d),
	      &d);
	tu_ok(store_secret_put(f->st, id, sealed, n, &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	free(sealed);
	return id;
}

static void tp_device(struct tp_fixture *f, const char *id, int64_t user,
                      const char *serial)
{
	uint8_t h[CRYPTO_HASH_LEN];
	char fp[CRYPTO_HEX_LEN + 1];
	struct diag d;

	assert_int_equal(crypto_sha256(id, strlen(id), h), 0);
	assert_int_equal(crypto_hex(h, sizeof(h), fp, sizeof(fp)), 0);
	tu_ok(store_device_create(f->st, id, user, "laptop", "linux", serial,
	                          fp, 0, &d),
	      &d);
}

static struct publication *tp_build(struct tp_fixture *f)
{
	struct publication *p = NULL;
	struct diag d;

	diag_clear(&d);
	tu_ok(publish_build(f->st, &f->pki, f->rng, &p, &d), &d);
	assert_non_null(p);
	assert_false(store_in_transaction(f->st));
	return p;
}

/* Opens e as its own device would; fails the test if it does not. */
static void tp_open(struct tp_fixture *f, const struct publication_entry *e,
                    struct envelope_opened *o)
{
	struct diag d;

	diag_clear(&d);
	tu_ok(envelope_open(e->envelope, e->envelope_len, f->pub, e->user,
	                    e->device_id, o, &d),
	      &d);
}

/*
 * alice has two devices and a user-scoped token, bob one device and the
 * org token; carol's only device is revoked. Two servers for everyone.
 */
static void tp_fleet(struct tp_fixture *f)
{
	int64_t alice = tp_user(f, "alice"), bob = tp_user(f, "bob");
	int64_t carol = tp_user(f, "carol");
	int64_t gh = tp_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"Authorization\": "
	                       "\"Bearer ${secret:GH}\"}, \"tools\": "
	                       "{\"deny\": [\"delete_repository\"]}}");
	int64_t fs = tp_server(f, "fs",
	                       "{\"command\": \"npx\", \"args\": [\"-y\", "
	                       "\"fs\"], \"env\": {\"LOG\": \"${LOG}\"}}");
	struct diag d;

	tp_grant_everyone(f, gh);
	tp_grant_everyone(f, fs);
	(void)tp_secret(f, "GH", STORE_SCOPE_ORG, 0, "org-token");
	(void)tp_secret(f, "GH", STORE_SCOPE_USER, alice, "alice-token");
	/* Created out of id order: entries come back sorted anyway. */
	tp_device(f, "dev-b1", bob, "0b01");
	tp_device(f, "dev-a2", alice, "0a02");
	tp_device(f, "dev-a1", alice, "0a01");
	tp_device(f, "dev-c1", carol, "0c01");
	tu_ok(store_device_revoke(f->st, "dev-c1", "lost", &d), &d);
}

static const char *tp_header(const Mcpfleet__V1__Catalogue *c,
                             const char *server, const char *key)
{
	size_t i, k;

	for (i = 0; i < c->n_servers; i++) {
		if (strcmp(c->servers[i]->name, server) != 0)
			continue;
		for (k = 0; k < c->servers[i]->n_headers; k++)
			if (strcmp(c->servers[i]->headers[k]->key, key) == 0)
				return c->servers[i]->headers[k]->value;
	}
	return NULL;
}

/*
 * The value of a header of server as the device sees it: the envelope keeps
 * the placeholder, and the value opens only with the device's data key
 * (derived here from the master key, as the server does). Returns a new
 * string.
 */
static char *tp_opened_header(struct tp_fixture *f,
                              const Mcpfleet__V1__Catalogue *c,
                              const char *server, const char *key)
{
	uint8_t dk[DEVSECRET_KEY_LEN];
	struct catalogue model;
	struct server filled;
	struct diag d;
	char *v;

	tu_ok(envelope_catalogue_model(c, &model, &d), &d);
	assert_int_equal(devsecret_derive(f->pki.master, c->device_id, dk), 0);
	tu_ok(devsecret_fill(catalogue_find(&model, server), dk, c->device_id,
	                     &filled, &d),
	      &d);
	v = strdup(kvlist_get(&filled.headers, key));
	server_wipe(&filled);
	catalogue_clear(&model);
	return v;
}

static void test_publish_envelopes_open_per_device(void **state)
{
	struct tp_fixture *f = *state;
	static const char *const ids[] = {"dev-a1", "dev-a2", "dev-b1"};
	static const char *const users[] = {"alice", "alice", "bob"};
	struct publication *p;
	struct envelope_opened o;
	struct catalogue model;
	struct diag d;
	size_t i;

	tp_fleet(f);
	p = tp_build(f);
	assert_int_equal(p->revision, 1);
	assert_int_equal(p->issued_at, TP_NOW);
	/* The revoked device gets nothing. */
	assert_int_equal(p->n, 3);
	for (i = 0; i < p->n; i++) {
		const struct publication_entry *e = p->v[i];

		assert_string_equal(e->device_id, ids[i]);
		assert_string_equal(e->user, users[i]);
		memset(&o, 0, sizeof(o));
		tp_open(f, e, &o);
		assert_int_equal(o.kind, ENVELOPE_CATALOGUE);
		assert_int_equal(o.revision, 1);
		assert_non_null(o.catalogue);
		assert_string_equal(o.catalogue->user, users[i]);
		assert_string_equal(o.catalogue->device_id, ids[i]);
		assert_int_equal(o.catalogue->revision, 1);
		assert_int_equal(o.catalogue->issued_at, TP_NOW);
		assert_int_equal(o.catalogue->n_servers, 2);
		/* The value travels sealed for this device only. */
		assert_string_equal(
		    tp_header(o.catalogue, "gh", "Authorization"),
		    "Bearer ${secret:GH}");
		assert_null(memmem(e->envelope, e->envelope_len, "-token", 6));
		{
			char *v = tp_opened_header(f, o.catalogue, "gh",
			                           "Authorization");

			assert_string_equal(v, i < 2 ? "Bearer alice-token"
			                             : "Bearer org-token");
			free(v);
		}
		/* What the agent builds from it passes its own checks. */
		diag_clear(&d);
		tu_ok(envelope_catalogue_model(o.catalogue, &model, &d), &d);
		assert_int_equal(model.n, 2);
		assert_string_equal(model.servers[0].name, "fs");
		assert_string_equal(kvlist_get(&model.servers[0].env, "LOG"),
		                    "${LOG}");
		assert_string_equal(model.servers[1].tools_deny.v[0],
		                    "delete_repository");
		catalogue_clear(&model);
		envelope_opened_clear(&o);
	}
	/* Another device's envelope does not open as this one, nor as this
	 * device of another user, nor under another key. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(envelope_open(p->v[0]->envelope, p->v[0]->envelope_len,
	                               f->pub, "alice", "dev-a2", &o, &d),
	                 -ERR_VERIFY);
	assert_int_equal(envelope_open(p->v[2]->envelope, p->v[2]->envelope_len,
	                               f->pub, "alice", "dev-b1", &o, &d),
	                 -ERR_VERIFY);
	assert_int_equal(envelope_open(p->v[2]->envelope, p->v[2]->envelope_len,
	                               f->other, "bob", "dev-b1", &o, &d),
	                 -ERR_VERIFY);
	/* Both of alice's devices carry one view. */
	assert_memory_equal(p->v[0]->view_hash, p->v[1]->view_hash,
	                    CRYPTO_HASH_LEN);
	assert_memory_not_equal(p->v[0]->view_hash, p->v[2]->view_hash,
	                        CRYPTO_HASH_LEN);
	publication_free(p);
}

static void test_publish_records_revision(void **state)
{
	struct tp_fixture *f = *state;
	Mcpfleet__V1__SignedEnvelope *env;
	struct store_revision rev;
	struct publication *p, *p2;
	char hex[STORE_SIG_HEX_MAX + 1];
	int64_t cur = 0;
	struct diag d;

	tp_fleet(f);
	p = tp_build(f);
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.revision, 1);
	assert_int_equal(rev.leaf_count, 3);
	/* The recorded root and signature are the envelopes' own. */
	env = mcpfleet__v1__signed_envelope__unpack(NULL, p->v[1]->envelope_len,
	                                            p->v[1]->envelope);
	assert_non_null(env);
	assert_int_equal(crypto_hex(env->merkle_root.data, env->merkle_root.len,
	                            hex, sizeof(hex)),
	                 0);
	assert_string_equal(rev.merkle_root, hex);
	assert_int_equal(crypto_hex(env->signature.data, env->signature.len,
	                            hex, sizeof(hex)),
	                 0);
	assert_string_equal(rev.signature, hex);
	assert_int_equal(env->proof->leaf_count, 3);
	assert_int_equal(env->proof->leaf_index, 1);
	mcpfleet__v1__signed_envelope__free_unpacked(env, NULL);

	p2 = tp_build(f);
	assert_int_equal(p2->revision, 2);
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.revision, 2);
	tu_ok(store_revision_current(f->st, &cur, &d), &d);
	assert_int_equal(cur, 2);
	publication_free(p);
	publication_free(p2);
}

static void test_publish_view_hash_tracks_changes(void **state)
{
	struct tp_fixture *f = *state;
	struct publication *p1, *p2, *p3;
	const struct publication_entry *a, *b;
	struct envelope_opened o;
	struct store_user u;
	int64_t id;
	struct diag d;
	size_t i;

	tp_fleet(f);
	p1 = tp_build(f);
	p2 = tp_build(f);
	/* Nothing changed: equal hashes across revisions, though the
	 * envelopes (revision, signature) differ. */
	assert_int_equal(p2->n, p1->n);
	for (i = 0; i < p1->n; i++) {
		assert_memory_equal(p1->v[i]->view_hash, p2->v[i]->view_hash,
		                    CRYPTO_HASH_LEN);
		assert_false(p1->v[i]->envelope_len == p2->v[i]->envelope_len &&
		             memcmp(p1->v[i]->envelope, p2->v[i]->envelope,
		                    p1->v[i]->envelope_len) == 0);
	}
	/* A new version of alice's token changes her devices' views only. */
	tu_ok(store_user_get(f->st, "alice", &u, &d), &d);
	id = tp_secret(f, "GH", STORE_SCOPE_USER, u.id, "alice-rotated");
	store_user_clear(&u);
	p3 = tp_build(f);
	assert_int_equal(p3->revision, 3);
	for (i = 0; i < p3->n; i++) {
		bool alice = strcmp(p3->v[i]->user, "alice") == 0;

		if (alice)
			assert_memory_not_equal(p2->v[i]->view_hash,
			                        p3->v[i]->view_hash,
			                        CRYPTO_HASH_LEN);
		else
			assert_memory_equal(p2->v[i]->view_hash,
			                    p3->v[i]->view_hash,
			                    CRYPTO_HASH_LEN);
	}
	a = publication_find(p3, "dev-a1");
	b = publication_find(p3, "dev-b1");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->nsecret_ids, 1);
	assert_int_equal(a->secret_ids[0], id);
	assert_int_equal(b->nsecret_ids, 1);
	assert_true(b->secret_ids[0] != id);
	memset(&o, 0, sizeof(o));
	tp_open(f, a, &o);
	{
		char *v =
		    tp_opened_header(f, o.catalogue, "gh", "Authorization");

		assert_string_equal(v, "Bearer alice-rotated");
		free(v);
	}
	envelope_opened_clear(&o);
	publication_free(p1);
	publication_free(p2);
	publication_free(p3);
}

static void test_publish_no_devices_empty(void **state)
{
	struct tp_fixture *f = *state;
	struct publication *p;
	struct store_revision rev;
	int64_t cur = 0;
	struct diag d;

	(void)tp_user(f, "alice");
	p = tp_build(f);
	assert_int_equal(p->revision, 1);
	assert_int_equal(p->n, 0);
	assert_null(p->v);
	assert_null(publication_find(p, "dev-x"));
	/* The counter moved; nothing was signed, so nothing recorded. */
	tu_ok(store_revision_current(f->st, &cur, &d), &d);
	assert_int_equal(cur, 1);
	assert_int_equal(store_revision_latest(f->st, &rev, &d), -ERR_NOENT);
	publication_free(p);
	publication_free(NULL);
}

static void test_publish_omitted_json_and_find(void **state)
{
	struct tp_fixture *f = *state;
	int64_t alice = tp_user(f, "alice");
	int64_t gh = tp_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"Authorization\": "
	                       "\"Bearer ${secret:GITHUB_TOKEN}\"}}");
	int64_t ok = tp_server(f, "ok", "{\"command\": \"ok\"}");
	const struct publication_entry *e;
	struct publication *p;
	json_t *j;

	tp_grant_everyone(f, gh);
	tp_grant_everyone(f, ok);
	tp_device(f, "dev-a1", alice, "0a01");
	p = tp_build(f);
	assert_null(publication_find(p, "dev-zz"));
	assert_null(publication_find(p, "dev-a"));
	assert_non_null(e = publication_find(p, "dev-a1"));
	j = json_loads(e->omitted_json, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(j, 0), "server")),
	    "gh");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(j, 0), "reason")),
	    "secret GITHUB_TOKEN is not set for alice");
	json_decref(j);
	assert_int_equal(e->nsecret_ids, 0);
	publication_free(p);

	(void)tp_secret(f, "GITHUB_TOKEN", STORE_SCOPE_ORG, 0, "t");
	p = tp_build(f);
	assert_string_equal(p->v[0]->omitted_json, "[]");
	assert_int_equal(p->v[0]->nsecret_ids, 1);
	publication_free(p);
}

static void test_publish_failure_leaves_store_unchanged(void **state)
{
	struct tp_fixture *f = *state;
	struct crypto_key *signer = f->pki.signer;
	struct publication *p = NULL;
	struct store_revision rev;
	int64_t cur = 0;
	struct diag d;

	tp_fleet(f);
	/* A public key cannot sign: the build fails after the bump. */
	f->pki.signer = f->pub;
	diag_clear(&d);
	assert_true(publish_build(f->st, &f->pki, f->rng, &p, &d) < 0);
	assert_null(p);
	assert_true(d.msg[0] != '\0');
	assert_false(store_in_transaction(f->st));
	tu_ok(store_revision_current(f->st, &cur, &d), &d);
	assert_int_equal(cur, 0);
	assert_int_equal(store_revision_latest(f->st, &rev, &d), -ERR_NOENT);
	f->pki.signer = NULL;
	assert_int_equal(publish_build(f->st, &f->pki, f->rng, &p, &d),
	                 -ERR_INVALID);
	f->pki.signer = signer;
	/* And the next build is revision 1. */
	p = tp_build(f);
	assert_int_equal(p->revision, 1);
	publication_free(p);
}

static void test_publish_revocation_opens(void **state)
{
	struct tp_fixture *f = *state;
	struct envelope_opened o;
	uint8_t *env = NULL;
	size_t len = 0;
	struct diag d;

	diag_clear(&d);
	tu_ok(publish_revocation(&f->pki, f->rng, "alice", "dev-a1", 7,
	                         TP_NOW + 5, "laptop stolen", &env, &len, &d),
	      &d);
	memset(&o, 0, sizeof(o));
	tu_ok(envelope_open(env, len, f->pub, "alice", "dev-a1", &o, &d), &d);
	assert_int_equal(o.kind, ENVELOPE_REVOCATION);
	assert_int_equal(o.revision, 7);
	assert_null(o.catalogue);
	assert_non_null(o.revocation);
	assert_string_equal(o.revocation->user, "alice");
	assert_string_equal(o.revocation->device_id, "dev-a1");
	assert_int_equal(o.revocation->revision, 7);
	assert_int_equal(o.revocation->revoked_at, TP_NOW + 5);
	assert_string_equal(o.revocation->reason, "laptop stolen");
	envelope_opened_clear(&o);
	assert_int_equal(
	    envelope_open(env, len, f->pub, "alice", "dev-a2", &o, &d),
	    -ERR_VERIFY);
	assert_int_equal(
	    envelope_open(env, len, f->other, "alice", "dev-a1", &o, &d),
	    -ERR_VERIFY);
	free(env);
	/* No reason is fine; no device is not. */
	env = NULL;
	tu_ok(publish_revocation(&f->pki, f->rng, "alice", "dev-a1", 8, TP_NOW,
	                         NULL, &env, &len, &d),
	      &d);
	free(env);
	env = NULL;
	assert_int_equal(publish_revocation(&f->pki, f->rng, "alice", "", 9,
	                                    TP_NOW, NULL, &env, &len, &d),
	                 -ERR_INVALID);
	assert_null(env);
}

/*
 * A device added to a revision: signed alone at the next revision, with
 * the view a full build would give it; every other entry is the base's own
 * (the same envelope, not signed again), and the base may go first.
 */
static void test_publish_add_signs_only_the_new(void **state)
{
	struct tp_fixture *f = *state;
	static const char *const add[] = {"dev-a3", "dev-b2"};
	const struct publication_entry *e, *eb;
	struct publication *base, *p, *full;
	struct envelope_opened o;
	struct store_revision rev;
	const uint8_t *kept;
	struct diag d;
	size_t i;

	tp_fleet(f);
	base = tp_build(f);
	assert_int_equal(base->n, 3);
	tp_device(f, "dev-a3", 1, "0a03");
	tp_device(f, "dev-b2", 2, "0b02");
	diag_clear(&d);
	tu_ok(publish_add(f->st, &f->pki, NULL, f->rng, base, add, 2, &p, &d),
	      &d);
	assert_false(store_in_transaction(f->st));
	assert_int_equal(p->revision, 2);
	assert_int_equal(p->n, 5);
	/* Recorded as a revision of two leaves, not five. */
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.revision, 2);
	assert_int_equal(rev.leaf_count, 2);
	for (i = 0; i + 1 < p->n; i++)
		assert_true(strcmp(p->v[i]->device_id, p->v[i + 1]->device_id) <
		            0);
	for (i = 0; i < base->n; i++) {
		eb = base->v[i];
		e = publication_find(p, eb->device_id);
		assert_non_null(e);
		assert_ptr_equal(e->envelope, eb->envelope);
		assert_int_equal(e->revision, 1);
	}
	e = publication_find(p, "dev-a1");
	kept = e->envelope;
	/* The new ones open as their devices, at the new revision, with
	 * their users' views: the same as a full build's. */
	full = tp_build(f);
	for (i = 0; i < 2; i++) {
		e = publication_find(p, add[i]);
		assert_non_null(e);
		assert_int_equal(e->revision, 2);
		memset(&o, 0, sizeof(o));
		tp_open(f, e, &o);
		assert_int_equal(o.revision, 2);
		assert_string_equal(o.catalogue->device_id, add[i]);
		assert_int_equal(o.catalogue->n_servers, 2);
		envelope_opened_clear(&o);
		assert_memory_equal(e->view_hash,
		                    publication_find(full, add[i])->view_hash,
		                    CRYPTO_HASH_LEN);
		assert_string_equal(
		    e->data_key_id,
		    publication_find(full, add[i])->data_key_id);
	}
	publication_free(full);
	/* The carried entries outlive the base they came from. */
	publication_free(base);
	e = publication_find(p, "dev-a1");
	assert_ptr_equal(e->envelope, kept);
	memset(&o, 0, sizeof(o));
	tp_open(f, e, &o);
	assert_int_equal(o.revision, 1);
	envelope_opened_clear(&o);
	publication_free(p);
}

/* Adding to an added revision, and a device the base already has. */
static void test_publish_add_chains_and_replaces(void **state)
{
	struct tp_fixture *f = *state;
	static const char *const one[] = {"dev-a3"};
	static const char *const again[] = {"dev-a3", "dev-a3", "dev-a1"};
	struct publication *base, *p1, *p2;
	const struct publication_entry *e;
	struct store_revision rev;
	struct diag d;

	tp_fleet(f);
	base = tp_build(f);
	tp_device(f, "dev-a3", 1, "0a03");
	diag_clear(&d);
	tu_ok(publish_add(f->st, &f->pki, NULL, f->rng, base, one, 1, &p1, &d),
	      &d);
	publication_free(base);
	tu_ok(publish_add(f->st, &f->pki, NULL, f->rng, p1, again, 3, &p2, &d),
	      &d);
	assert_int_equal(p2->revision, 3);
	assert_int_equal(p2->n, 4); /* named twice, one entry */
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.leaf_count, 2);
	e = publication_find(p2, "dev-a1");
	assert_int_equal(e->revision, 3);
	assert_int_equal(publication_find(p2, "dev-a2")->revision, 1);
	assert_int_equal(publication_find(p2, "dev-a3")->revision, 3);
	assert_int_equal(publication_find(p1, "dev-a3")->revision, 2);
	publication_free(p1);
	publication_free(p2);
	/* A device that is not in the store: nothing changes. */
	tu_ok(publish_build(f->st, &f->pki, f->rng, &base, &d), &d);
	assert_int_equal(publish_add(f->st, &f->pki, NULL, f->rng, base,
	                             (const char *const[]){"dev-none"}, 1, &p1,
	                             &d),
	                 -ERR_NOENT);
	assert_false(store_in_transaction(f->st));
	tu_ok(store_revision_latest(f->st, &rev, &d), &d);
	assert_int_equal(rev.revision, 4);
	publication_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define TP(t) cmocka_unit_test_setup_teardown(t, tp_setup, tp_teardown)
	    TP(test_publish_envelopes_open_per_device),
	    TP(test_publish_records_revision),
	    TP(test_publish_view_hash_tracks_changes),
	    TP(test_publish_no_devices_empty),
	    TP(test_publish_omitted_json_and_find),
	    TP(test_publish_failure_leaves_store_unchanged),
	    TP(test_publish_revocation_opens),
	    TP(test_publish_add_signs_only_the_new),
	    TP(test_publish_add_chains_and_replaces),
#undef TP
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
