/* SPDX-License-Identifier: MIT */
/* Tests for adapters/formats/jsonlist.c: byte-exact edits of a list of
 * strings (Claude Code's permissions.deny). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonedit.h"
#include "jsonlist.h"

static const char *const jl_path[] = {"permissions", "deny"};

/* Applies edits ("+name" adds, "-name" removes) and returns the new text. */
static char *jl_edit(const char *in, unsigned pflags, unsigned eflags,
                     const char *const *ops, size_t nops, int *rc,
                     struct diag *d)
{
	struct jdoc *doc = NULL;
	struct jedit e[8];
	char *out = NULL;
	size_t len, i;

	assert_true(nops <= 8);
	diag_clear(d);
	assert_int_equal(jdoc_parse(in, strlen(in), pflags, &doc, d), 0);
	for (i = 0; i < nops; i++) {
		e[i].name = ops[i] + 1;
		e[i].value = ops[i][0] == '+' ? json_true() : NULL;
	}
	*rc =
	    jlist_edit(doc, pflags, jl_path, 2, e, nops, eflags, &out, &len, d);
	if (*rc == 0)
		assert_int_equal(strlen(out), len);
	jdoc_free(doc);
	return out;
}

static void jl_expect(const char *in, unsigned eflags, const char *const *ops,
                      size_t nops, const char *want)
{
	struct diag d;
	int rc;
	char *out = jl_edit(in, JDOC_JSONC, eflags, ops, nops, &rc, &d);

	if (rc != 0)
		fail_msg("edit failed: %s", d.msg);
	if (strcmp(out, want) != 0)
		fail_msg("in:\n%s\ngot:\n%s\nwant:\n%s", in, out, want);
	free(out);
}

static void test_jlist_add_keeps_layout(void **state)
{
	static const char *const add[] = {"+mcp__jira__delete_*"};
	(void)state;
	/* Claude Code's own layout: two-space indent, one element a line. */
	jl_expect("{\n  \"permissions\": {\n    \"deny\": [\n      \"Bash(rm "
	          "*)\"\n    ]\n  },\n  \"model\": \"opus\"\n}\n",
	          0, add, 1,
	          "{\n  \"permissions\": {\n    \"deny\": [\n      \"Bash(rm "
	          "*)\",\n      \"mcp__jira__delete_*\"\n    ]\n  },\n  "
	          "\"model\": \"opus\"\n}\n");
	/* On one line: after ", ", or the spacing the list has. */
	jl_expect("{\"permissions\": {\"deny\": [\"A\"]}}", 0, add, 1,
	          "{\"permissions\": {\"deny\": [\"A\", "
	          "\"mcp__jira__delete_*\"]}}");
	jl_expect("{\"permissions\":{\"deny\":[\"A\",\"B\"]}}", 0, add, 1,
	          "{\"permissions\":{\"deny\":[\"A\",\"B\","
	          "\"mcp__jira__delete_*\"]}}");
	/* A trailing comma (JSONC) stays trailing; CRLF is reproduced. */
	jl_expect("{\"permissions\": {\"deny\": [\r\n    \"A\",\r\n  ]}}", 0,
	          add, 1,
	          "{\"permissions\": {\"deny\": [\r\n    \"A\",\r\n    "
	          "\"mcp__jira__delete_*\",\r\n  ]}}");
	/* Already there (the user's own rule): nothing changes. */
	jl_expect("{\"permissions\":{\"deny\":[\"mcp__jira__delete_*\"]}}", 0,
	          add, 1,
	          "{\"permissions\":{\"deny\":[\"mcp__jira__delete_*\"]}}");
}

static void test_jlist_remove_round_trip(void **state)
{
	static const char *const add[] = {"+X", "+Y"};
	static const char *const del[] = {"-X", "-Y"};
	static const char *const ins[] = {
	    "{\n  \"permissions\": {\n    \"deny\": [\n      \"A\",\n      "
	    "\"B\"\n    ]\n  }\n}\n",
	    "{\"permissions\": {\"deny\": [\"A\"]}}",
	    "{\"permissions\": {\"deny\": [\"A\", /* keep */ \"B\"]}}",
	};
	struct diag d;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		char *mid = jl_edit(ins[i], JDOC_JSONC, 0, add, 2, &rc, &d);
		char *back;

		assert_int_equal(rc, 0);
		assert_non_null(strstr(mid, "\"Y\""));
		back = jl_edit(mid, JDOC_JSONC, 0, del, 2, &rc, &d);
		assert_int_equal(rc, 0);
		assert_string_equal(back, ins[i]);
		free(mid);
		free(back);
	}
}

static void test_jlist_remove_positions(void **state)
{
	static const char *const first[] = {"-A"};
	static const char *const last[] = {"-C"};
	static const char *const only[] = {"-A", "-B", "-C"};
	static const char *const in =
	    "{\"permissions\":{\"deny\":[\n  \"A\",\n  "
	    "\"B\",\n  \"C\"\n]}}";

	(void)state;
	jl_expect(in, 0, first, 1,
	          "{\"permissions\":{\"deny\":[\n  \"B\",\n  \"C\"\n]}}");
	jl_expect(in, 0, last, 1,
	          "{\"permissions\":{\"deny\":[\n  \"A\",\n  \"B\"\n]}}");
	/* Emptied: "[]", or gone with the objects made for it (prune). */
	jl_expect(in, 0, only, 3, "{\"permissions\":{\"deny\":[]}}");
	jl_expect("{\"permissions\":{\"deny\":[\"A\"]},\"x\":1}",
	          JEDIT_PRUNE_PATH, first, 1, "{\"x\":1}");
	/* Elements that are not strings are kept, and skipped by names. */
	jl_expect("{\"permissions\":{\"deny\":[1,{\"a\":[\"A\"]},\"A\"]}}", 0,
	          first, 1, "{\"permissions\":{\"deny\":[1,{\"a\":[\"A\"]}]}}");
}

static void test_jlist_create_and_types(void **state)
{
	static const char *const add[] = {"+mcp__a__b"};
	struct jdoc *doc = NULL;
	struct diag d;
	char **names = NULL;
	const char *text;
	size_t n = 0;
	int rc;
	char *out;

	(void)state;
	/* Missing: the array and the object on the way are created. */
	jl_expect("{\"model\": \"opus\"}", 0, add, 1,
	          "{\"model\": \"opus\", \"permissions\": {\"deny\": "
	          "[\"mcp__a__b\"]}}");
	jl_expect("{\"permissions\": {\"allow\": []}}", 0, add, 1,
	          "{\"permissions\": {\"allow\": [], \"deny\": "
	          "[\"mcp__a__b\"]}}");
	/* An empty array takes the object's layout. */
	jl_expect("{\"permissions\": {\"deny\": []}}", 0, add, 1,
	          "{\"permissions\": {\"deny\": [\"mcp__a__b\"]}}");
	/* Not an array: refused, naming it. */
	out = jl_edit("{\"permissions\": {\"deny\": \"x\"}}", 0, 0, add, 1, &rc,
	              &d);
	assert_int_equal(rc, -ERR_TYPE);
	assert_non_null(strstr(d.msg, "deny is not an array"));
	assert_null(out);
	/* Names: the strings, in order; escapes decoded. */
	text = "{\"permissions\":{\"deny\":[\"a\",2,\"\\u00e9\"]}}";
	assert_int_equal(jdoc_parse(text, strlen(text), 0, &doc, &d), 0);
	assert_int_equal(jlist_strings(doc, jl_path, 2, &names, &n, &d), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "\xc3\xa9");
	jdoc_names_free(names, n);
	jdoc_free(doc);
	assert_int_equal(jdoc_parse("{}", 2, 0, &doc, &d), 0);
	assert_int_equal(jlist_strings(doc, jl_path, 2, &names, &n, &d),
	                 -ERR_NOENT);
	jdoc_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jlist_add_keeps_layout),
	    cmocka_unit_test(test_jlist_remove_round_trip),
	    cmocka_unit_test(test_jlist_remove_positions),
	    cmocka_unit_test(test_jlist_create_and_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
