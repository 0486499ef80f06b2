/* SPDX-License-Identifier: MIT */
/* Unit tests: common/jsonutil.c. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

/* A small deterministic generator (xorshift64*). */
static uint64_t test_jsonutil_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A string of pieces that jansson writes each its own way: plain text,
 * the escapes, control characters, slashes, UTF-8 of 2, 3 and 4 bytes,
 * a NUL. */
static json_t *test_jsonutil_string(uint64_t *s)
{
	static const char *const pieces[] = {
	    "a",
	    "plain words ",
	    "\"",
	    "\\",
	    "/",
	    "\b",
	    "\f",
	    "\n",
	    "\r",
	    "\t",
	    "\x01",
	    "\x1f",
	    "\x7f",
	    "\xc3\xa9",
	    "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80",
	    "${HOME}",
	    "C:\\tools",
	    "",
	    "\xed\x9f\xbf",
	};
	char text[256];
	size_t n = 0, k = test_jsonutil_rand(s) % 8, i;

	for (i = 0; i < k; i++) {
		const char *p = pieces[test_jsonutil_rand(s) %
		                       (sizeof(pieces) / sizeof(pieces[0]))];

		memcpy(text + n, p, strlen(p));
		n += strlen(p);
	}
	if (test_jsonutil_rand(s) % 16 == 0)
		text[n++] = '\0'; /* a NUL inside */
	return json_stringn(text, n);
}

static json_t *test_jsonutil_value(uint64_t *s, unsigned depth)
{
	static const double reals[] = {0.0,      -0.0, 1.5, 1e300,
	                               -2.25e-7, 0.1,  3.0, 123456789.125};
	unsigned kind = (unsigned)(test_jsonutil_rand(s) % (depth > 4 ? 6 : 8));
	json_t *v, *c;
	size_t i, n;

	switch (kind) {
	case 0:
		return json_null();
	case 1:
		return test_jsonutil_rand(s) % 2 ? json_true() : json_false();
	case 2:
		return json_integer((json_int_t)test_jsonutil_rand(s) >>
		                    (test_jsonutil_rand(s) % 64));
	case 3:
		return json_real(reals[test_jsonutil_rand(s) %
		                       (sizeof(reals) / sizeof(reals[0]))]);
	case 4:
	case 5:
		return test_jsonutil_string(s);
	case 6:
		v = json_array();
		n = test_jsonutil_rand(s) % 4;
		for (i = 0; i < n; i++)
			json_array_append_new(
			    v, test_jsonutil_value(s, depth + 1));
		return v;
	default:
		v = json_object();
		n = test_jsonutil_rand(s) % 5;
		for (i = 0; i < n; i++) {
			json_t *k = test_jsonutil_string(s);

			c = test_jsonutil_value(s, depth + 1);
			json_object_setn_new(v, json_string_value(k),
			                     json_string_length(k), c);
			json_decref(k);
		}
		return v;
	}
}

/* jsonutil_dump_pretty writes what jansson's json_dumps() with two-space
 * indentation writes, byte for byte, and a newline. */
static void test_jsonutil_dump_is_janssons(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		json_t *v = test_jsonutil_value(&seed, 0);
		char *want = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
		size_t len = 0;
		char *got = jsonutil_dump_pretty(v, &len);

		assert_non_null(want);
		assert_non_null(got);
		assert_int_equal(len, strlen(want) + 1);
		assert_memory_equal(got, want, strlen(want));
		assert_int_equal(got[len - 1], '\n');
		free(want);
		free(got);
		json_decref(v);
	}
}

/* Text that is not UTF-8 is refused, as jansson refuses it. */
static void test_jsonutil_dump_refuses_bad_utf8(void **state)
{
	static const char *const bad[] = {"\xc0\x80", "\xed\xa0\x80", "\xff",
	                                  "\xe2\x82", "\xf4\x90\x80\x80"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v =
		    json_pack("{s:o}", "k", json_string_nocheck(bad[i]));

		assert_null(json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY));
		assert_null(jsonutil_dump_pretty(v, NULL));
		json_decref(v);
	}
}

/* Nesting as a reader would walk it: brackets in strings, escaped quotes
 * and unbalanced text do not count. */
static void test_jsonutil_depth(void **state)
{
	static const struct {
		const char *text;
		size_t depth;
	} cases[] = {
	    {"", 0},
	    {"12", 0},
	    {"\"{[\"", 0},
	    {"{\"a\": 1}", 1},
	    {"[[], [[]], {}]", 3},
	    {"{\"k\": \"}}\\\"{{\", \"v\": [{\"x\": [1]}]}", 4},
	    {"]]]]{", 1},
	    {"{\"a\": {\"b\": {\"c\": [\"\\\\\"]}}}", 4},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (jsonutil_depth(cases[i].text, strlen(cases[i].text)) !=
		    cases[i].depth)
			fail_msg("%s: depth %zu, not %zu", cases[i].text,
			         jsonutil_depth(cases[i].text,
			                        strlen(cases[i].text)),
			         cases[i].depth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jsonutil_dump_is_janssons),
	    cmocka_unit_test(test_jsonutil_dump_refuses_bad_utf8),
	    cmocka_unit_test(test_jsonutil_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
