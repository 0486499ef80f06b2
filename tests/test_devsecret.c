/* SPDX-License-Identifier: MIT */
/* Tests of device data keys and the secret values sealed under them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "devsecret.h"
#include "testutil.h"

static struct crypto_rng *td_rng;

/* A server whose env holds ${secret:TOKEN}, sealed for device. */
static void td_server(const uint8_t *key, const char *device, const char *value,
                      int64_t version, struct server *s)
{
	struct catalogue_opts co = {.allow_secret_refs = true};
	json_t *j = json_loads("{\"command\":\"srv\",\"args\":[\"--t=${secret:"
	                       "TOKEN}\"],\"env\":{\"T\":\"Bearer "
	                       "${secret:TOKEN}${HOME}\"}}",
	                       0, NULL);
	struct diag d;
	uint8_t *sealed;
	size_t len;

	tu_ok(server_from_json("s", j, &co, s, &d), &d);
	json_decref(j);
	tu_ok(devsecret_seal(td_rng, key, device, "TOKEN", version, value,
	                     strlen(value), &sealed, &len, &d),
	      &d);
	assert_int_equal(
	    sealed_list_push(&s->secrets, "TOKEN", version, sealed, len), 0);
	free(sealed);
}

static void test_devsecret_derive(void **state)
{
	uint8_t master[CRYPTO_SEAL_KEY_LEN] = {1, 2, 3}, a[32], b[32], c[32];
	char id[CRYPTO_HEX_LEN + 1];

	(void)state;
	assert_int_equal(devsecret_derive(master, "dev-1", a), 0);
	assert_int_equal(devsecret_derive(master, "dev-1", b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(devsecret_derive(master, "dev-2", c), 0);
	assert_memory_not_equal(a, c, 32);
	master[0] ^= 1;
	assert_int_equal(devsecret_derive(master, "dev-1", c), 0);
	assert_memory_not_equal(a, c, 32);
	assert_int_equal(devsecret_key_id(a, id), 0);
	assert_int_equal(strlen(id), CRYPTO_HEX_LEN);
}

static void test_devsecret_fill(void **state)
{
	uint8_t key[32], other[32];
	struct server s, f;
	struct diag d;

	(void)state;
	assert_int_equal(crypto_random(td_rng, key, sizeof(key)), 0);
	assert_int_equal(crypto_random(td_rng, other, sizeof(other)), 0);
	/* A value holding "${" is filled in, not scanned again. */
	td_server(key, "dev-1", "v4l${X}ue", 2, &s);
	assert_true(server_has_secrets(&s));
	tu_ok(devsecret_fill(&s, key, "dev-1", &f, &d), &d);
	assert_false(server_has_secrets(&f));
	assert_string_equal(f.args.v[0], "--t=v4l${X}ue");
	assert_string_equal(kvlist_get(&f.env, "T"), "Bearer v4l${X}ue${HOME}");
	server_wipe(&f);
	/* Another device's key, another device id: neither opens. */
	assert_int_equal(devsecret_fill(&s, other, "dev-1", &f, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "does not open"));
	assert_int_equal(devsecret_fill(&s, key, "dev-2", &f, &d), -ERR_VERIFY);
	/* The version is bound too. */
	s.secrets.v[0].version = 3;
	assert_int_equal(devsecret_fill(&s, key, "dev-1", &f, &d), -ERR_VERIFY);
	/* No sealed value for a placeholder. */
	sealed_list_clear(&s.secrets);
	assert_int_equal(devsecret_fill(&s, key, "dev-1", &f, &d), -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "no sealed value came for secret TOKEN"));
	server_clear(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_devsecret_derive),
	    cmocka_unit_test(test_devsecret_fill),
	};
	struct diag d;
	int r;

	if (crypto_rng_new("test_devsecret", &td_rng, &d) != 0)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	crypto_rng_free(td_rng);
	return r;
}
