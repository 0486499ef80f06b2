/* SPDX-License-Identifier: MIT */
/* Unit tests: proto/envelope.c, the signed envelopes both sides share. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "envelope.h"

struct fixture {
	struct crypto_rng *rng;
	struct crypto_key *signer, *other;
	struct envelope_batch *batch;
	uint8_t *packed[3];
	size_t len[3];
};

static const char *const fx_users[3] = {"alice", "bob", "alice"};
static const char *const fx_devices[3] = {"dev-a1", "dev-b1", "dev-a2"};

/* A packed Catalogue for device i with two servers. */
static uint8_t *fx_catalogue(size_t i, uint64_t rev, size_t *len)
{
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server m[2], *mp[2] = {&m[0], &m[1]};
	struct server s[2] = {0};
	json_t *e0 = json_pack("{s:s,s:[s],s:{s:s}}", "command", "npx", "args",
	                       "-y", "env", "TOKEN", "secret-of-user");
	json_t *e1 = json_pack("{s:s,s:{s:s},s:{s:[s]}}", "url",
	                       "https://h/mcp", "headers", "Authorization",
	                       "Bearer x", "tools", "deny", "drop");
	uint8_t *buf;

	mcpfleet__v1__catalogue__init(&c);
	assert_int_equal(server_from_json("fs", e0, NULL, &s[0], NULL), 0);
	assert_int_equal(server_from_json("gh", e1, NULL, &s[1], NULL), 0);
	assert_int_equal(envelope_server_message(&s[0], &m[0]), 0);
	assert_int_equal(envelope_server_message(&s[1], &m[1]), 0);
	c.user = (char *)(uintptr_t)fx_users[i];
	c.device_id = (char *)(uintptr_t)fx_devices[i];
	c.revision = rev;
	c.issued_at = 1700000000;
	c.n_servers = 2;
	c.servers = mp;
	*len = mcpfleet__v1__catalogue__get_packed_size(&c);
	buf = malloc(*len);
	mcpfleet__v1__catalogue__pack(&c, buf);
	envelope_server_clear(&m[0]);
	envelope_server_clear(&m[1]);
	server_clear(&s[0]);
	server_clear(&s[1]);
	json_decref(e0);
	json_decref(e1);
	return buf;
}

static int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct envelope_payload p[3];
	uint8_t *cat[3];
	size_t i;

	assert_int_equal(crypto_rng_new("test", &f->rng, NULL), 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->signer, NULL), 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->other, NULL), 0);
	for (i = 0; i < 3; i++) {
		cat[i] = fx_catalogue(i, 42, &p[i].len);
		p[i].kind = ENVELOPE_CATALOGUE;
		p[i].data = cat[i];
	}
	assert_int_equal(
	    envelope_batch_sign(p, 3, 42, f->signer, f->rng, &f->batch, NULL),
	    0);
	for (i = 0; i < 3; i++) {
		free(cat[i]);
		assert_int_equal(
		    envelope_batch_pack(f->batch, i, &f->packed[i], &f->len[i]),
		    0);
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < 3; i++)
		free(f->packed[i]);
	envelope_batch_free(f->batch);
	crypto_key_free(f->signer);
	crypto_key_free(f->other);
	crypto_rng_free(f->rng);
	free(f);
	return 0;
}

/* Opens a packed envelope as device i; returns the code, d holds why. */
static int fx_open(struct fixture *f, const uint8_t *data, size_t len, size_t i,
                   struct crypto_key *key, struct diag *d)
{
	struct envelope_opened o = {0};
	int r;

	diag_clear(d);
	r = envelope_open(data, len, key ? key : f->signer, fx_users[i],
	                  fx_devices[i], &o, d);
	envelope_opened_clear(&o);
	return r;
}

/* Unpacks, lets mutate() change the envelope, packs again. */
static uint8_t *fx_mutate(const uint8_t *data, size_t len,
                          void (*mutate)(Mcpfleet__V1__SignedEnvelope *),
                          size_t *outlen)
{
	Mcpfleet__V1__SignedEnvelope *e =
	    mcpfleet__v1__signed_envelope__unpack(NULL, len, data);
	uint8_t *buf;

	assert_non_null(e);
	mutate(e);
	*outlen = mcpfleet__v1__signed_envelope__get_packed_size(e);
	buf = malloc(*outlen);
	mcpfleet__v1__signed_envelope__pack(e, buf);
	mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
	return buf;
}

static void test_envelope_every_device_opens_its_own(void **state)
{
	struct fixture *f = *state;
	struct envelope_opened o = {0};
	struct catalogue cat = {0};
	struct diag d;
	size_t i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(envelope_open(f->packed[i], f->len[i],
		                               f->signer, fx_users[i],
		                               fx_devices[i], &o, &d),
		                 0);
		assert_int_equal(o.kind, ENVELOPE_CATALOGUE);
		assert_int_equal(o.revision, 42);
		assert_int_equal(
		    envelope_catalogue_model(o.catalogue, &cat, &d), 0);
		assert_int_equal(cat.n, 2);
		assert_string_equal(
		    kvlist_get(&catalogue_find(&cat, "fs")->env, "TOKEN"),
		    "secret-of-user");
		assert_int_equal(catalogue_find(&cat, "gh")->origin,
		                 SERVER_FLEET);
		assert_int_equal(catalogue_find(&cat, "gh")->tools_deny.n, 1);
		catalogue_clear(&cat);
		envelope_opened_clear(&o);
	}
}

static void test_envelope_other_device_or_user_refused(void **state)
{
	struct fixture *f = *state;
	struct diag d;

	/* Device 0's envelope, opened as device 2 (same user). */
	assert_int_equal(fx_open(f, f->packed[0], f->len[0], 2, NULL, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "for device 'dev-a1'"));
	/* Device 1's, opened as a device of alice. */
	assert_int_equal(fx_open(f, f->packed[1], f->len[1], 0, NULL, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "for user 'bob'"));
}

static void test_envelope_wrong_signer_refused(void **state)
{
	struct fixture *f = *state;
	struct diag d;

	assert_int_equal(fx_open(f, f->packed[0], f->len[0], 0, f->other, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "signature"));
}

static void fx_flip_payload(Mcpfleet__V1__SignedEnvelope *e)
{
	e->payload.data[e->payload.len / 2] ^= 0x01;
}

static void fx_bump_revision(Mcpfleet__V1__SignedEnvelope *e)
{
	e->revision++;
}

static void fx_bump_count(Mcpfleet__V1__SignedEnvelope *e)
{
	e->proof->leaf_count++;
}

static void fx_make_revocation(Mcpfleet__V1__SignedEnvelope *e)
{
	e->kind = MCPFLEET__V1__PAYLOAD_KIND__PAYLOAD_REVOCATION;
}

static void fx_flip_sibling(Mcpfleet__V1__SignedEnvelope *e)
{
	e->proof->siblings[0].data[3] ^= 0x80;
}

static void test_envelope_tampering_refused(void **state)
{
	static void (*const mutations[])(Mcpfleet__V1__SignedEnvelope *) = {
	    fx_flip_payload, fx_bump_revision, fx_bump_count,
	    fx_make_revocation, fx_flip_sibling};
	struct fixture *f = *state;
	struct diag d;
	size_t i, len;

	for (i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		uint8_t *bad =
		    fx_mutate(f->packed[0], f->len[0], mutations[i], &len);

		if (fx_open(f, bad, len, 0, NULL, &d) != -ERR_VERIFY)
			fail_msg("mutation %zu was accepted (%s)", i, d.msg);
		free(bad);
	}
}

static void test_envelope_garbage_and_size_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[64];
	struct diag d;
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_true(fx_open(f, junk, sizeof(junk), 0, NULL, &d) < 0);
	assert_int_equal(fx_open(f, junk, ENVELOPE_MAX + 1, 0, NULL, &d),
	                 -ERR_TOOBIG);
	/* Truncated: every prefix fails cleanly. */
	for (i = 0; i < f->len[0]; i += 7)
		assert_true(fx_open(f, f->packed[0], i, 0, NULL, &d) < 0);
}

static void test_envelope_revocation_round_trip(void **state)
{
	struct fixture *f = *state;
	Mcpfleet__V1__Revocation rv;
	struct envelope_payload p;
	struct envelope_batch *b = NULL;
	struct envelope_opened o = {0};
	struct diag d;
	uint8_t *buf, *packed;
	size_t len;

	mcpfleet__v1__revocation__init(&rv);
	rv.user = "bob";
	rv.device_id = "dev-b1";
	rv.revision = 43;
	rv.revoked_at = 1700000001;
	rv.reason = "offboarded";
	p.kind = ENVELOPE_REVOCATION;
	p.len = mcpfleet__v1__revocation__get_packed_size(&rv);
	buf = malloc(p.len);
	mcpfleet__v1__revocation__pack(&rv, buf);
	p.data = buf;
	assert_int_equal(
	    envelope_batch_sign(&p, 1, 43, f->signer, f->rng, &b, &d), 0);
	assert_int_equal(envelope_batch_pack(b, 0, &packed, &len), 0);
	assert_int_equal(
	    envelope_open(packed, len, f->signer, "bob", "dev-b1", &o, &d), 0);
	assert_int_equal(o.kind, ENVELOPE_REVOCATION);
	assert_string_equal(o.revocation->reason, "offboarded");
	envelope_opened_clear(&o);
	assert_int_equal(
	    envelope_open(packed, len, f->signer, "alice", "dev-a1", &o, &d),
	    -ERR_VERIFY);
	free(packed);
	free(buf);
	envelope_batch_free(b);
}

static void test_envelope_model_rejects_secret_refs(void **state)
{
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server m, *mp[2] = {&m, &m};
	struct catalogue cat = {0};
	struct diag d;

	(void)state;
	mcpfleet__v1__catalogue__init(&c);
	mcpfleet__v1__server__init(&m);
	m.name = "x";
	m.command = "${secret:TOKEN}";
	c.n_servers = 1;
	c.servers = mp;
	assert_int_equal(envelope_catalogue_model(&c, &cat, &d), -ERR_INVALID);
	m.command = "ok";
	c.n_servers = 2;
	assert_int_equal(envelope_catalogue_model(&c, &cat, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "twice"));
}

#define FX(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX(test_envelope_every_device_opens_its_own),
	    FX(test_envelope_other_device_or_user_refused),
	    FX(test_envelope_wrong_signer_refused),
	    FX(test_envelope_tampering_refused),
	    FX(test_envelope_garbage_and_size_refused),
	    FX(test_envelope_revocation_round_trip),
	    cmocka_unit_test(test_envelope_model_rejects_secret_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
