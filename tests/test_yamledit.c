/* SPDX-License-Identifier: MIT */
/* Tests of adapters/formats/yamledit.c: the named items of a top-level YAML
 * list, spliced byte-exactly, and what it refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"
#include "testutil.h"
#include "yamledit.h"

#define YE_KEY "mcpServers"

/* A config.yaml as a cn user keeps it: comments, models, a block item of
 * their own, a hub block without a name. */
static const char ye_config[] =
    "# my cn config\n"
    "name: Local Config\n"
    "version: 1.0.0\n"
    "schema: v1\n"
    "models:\n"
    "  - name: local\n"
    "    provider: ollama   # keep this\n"
    "    model: llama3\n"
    "\n"
    "mcpServers:\n"
    "  # mine, by hand\n"
    "  - name: \"my own\"\n"
    "    command: npx\n"
    "    args:\n"
    "      - -y\n"
    "      - my-server\n"
    "  - uses: anthropic/github-mcp\n"
    "  - {name: 'flow one', command: node, args: [a.js]}\n"
    "\n"
    "# rules follow\n"
    "rules:\n"
    "  - Be brief\n";

static struct yaml_doc *ye_parse(const char *text)
{
	struct yaml_doc *doc = NULL;
	struct diag d;

	diag_clear(&d);
	tu_ok(yamledit_parse(text, strlen(text), YE_KEY, &doc, &d), &d);
	return doc;
}

static json_t *ye_json(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (v == NULL)
		fail_msg("bad JSON %s: %s", text, jerr.text);
	return v;
}

/* Applies edits to text and checks the result is expect, byte for byte. */
static void ye_expect_prune(const char *text, const struct jedit *e, size_t n,
                            bool prune, const char *expect)
{
	struct yaml_doc *doc = ye_parse(text), *again;
	struct diag d;
	char *out = NULL;
	size_t outlen = 0;

	diag_clear(&d);
	tu_ok(yamledit_edit(doc, e, n, prune, &out, &outlen, &d), &d);
	assert_int_equal(outlen, strlen(out));
	if (strcmp(out, expect) != 0)
		fail_msg("--- input\n%s\n--- expected\n%s\n--- got\n%s", text,
		         expect, out);
	again = ye_parse(out);
	yamledit_free(again);
	yamledit_free(doc);
	free(out);
}

static void ye_expect(const char *text, const struct jedit *e, size_t n,
                      const char *expect)
{
	ye_expect_prune(text, e, n, false, expect);
}

/* Checks that text is refused at line with a message holding want. */
static void ye_refused(const char *text, unsigned line, const char *want)
{
	struct yaml_doc *doc = (struct yaml_doc *)&doc;
	struct diag d;
	int r;

	diag_clear(&d);
	r = yamledit_parse(text, strlen(text), YE_KEY, &doc, &d);
	if (r != -ERR_PARSE || strstr(d.msg, want) == NULL || d.line != line)
		fail_msg("expected a refusal at line %u with \"%s\", got %d at "
		         "line %u: %s\n--- input\n%s",
		         line, want, r, d.line, d.msg, text);
	/* Nothing is handed back. */
	assert_ptr_equal(doc, (struct yaml_doc *)&doc);
}

static void test_yamledit_names(void **state)
{
	struct yaml_doc *doc = ye_parse(ye_config);
	struct diag d;
	char **names = NULL;
	json_t *v = NULL, *want;
	size_t n = 0;

	(void)state;
	assert_true(yamledit_exists(doc));
	tu_ok(yamledit_names(doc, &names, &n), NULL);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "my own");
	assert_string_equal(names[1], "flow one");
	edit_names_free(names, n);
	/* A flow item reads back, without its name. */
	diag_clear(&d);
	tu_ok(yamledit_get(doc, "flow one", &v, &d), &d);
	want = ye_json("{\"command\": \"node\", \"args\": [\"a.js\"]}");
	assert_true(json_equal(v, want));
	json_decref(v);
	json_decref(want);
	/* A block item is not read: editing it rewrites it. */
	assert_int_equal(yamledit_get(doc, "my own", &v, &d), -ERR_TYPE);
	assert_int_equal(yamledit_get(doc, "nope", &v, &d), -ERR_NOENT);
	yamledit_free(doc);
	doc = ye_parse("name: x\nversion: 1\n");
	assert_false(yamledit_exists(doc));
	tu_ok(yamledit_names(doc, &names, &n), NULL);
	assert_int_equal(n, 0);
	yamledit_free(doc);
}

/* Appending keeps every other byte: comments, models, the user's items. */
static void test_yamledit_append(void **state)
{
	json_t *v = ye_json("{\"type\": \"stdio\", \"command\": \"npx\", "
	                    "\"args\": [\"-y\", \"srv \\\"x\\\"\"], "
	                    "\"env\": {\"K\": \"v\\n\"}}");
	const struct jedit e = {"fleet", v};
	static const char expect[] =
	    "# my cn config\n"
	    "name: Local Config\n"
	    "version: 1.0.0\n"
	    "schema: v1\n"
	    "models:\n"
	    "  - name: local\n"
	    "    provider: ollama   # keep this\n"
	    "    model: llama3\n"
	    "\n"
	    "mcpServers:\n"
	    "  # mine, by hand\n"
	    "  - name: \"my own\"\n"
	    "    command: npx\n"
	    "    args:\n"
	    "      - -y\n"
	    "      - my-server\n"
	    "  - uses: anthropic/github-mcp\n"
	    "  - {name: 'flow one', command: node, args: [a.js]}\n"
	    "  - {\"name\": \"fleet\", \"type\": \"stdio\", \"command\": "
	    "\"npx\", \"args\": [\"-y\", \"srv \\\"x\\\"\"], \"env\": {\"K\": "
	    "\"v\\n\"}}\n"
	    "\n"
	    "# rules follow\n"
	    "rules:\n"
	    "  - Be brief\n";

	(void)state;
	ye_expect(ye_config, &e, 1, expect);
	json_decref(v);
}

/* Replacing an item (block or flow) takes its place; removing one takes
 * its lines; the comment above stays. */
static void test_yamledit_replace_remove(void **state)
{
	json_t *v = ye_json("{\"url\": \"https://x/mcp\", \"type\": \"sse\"}");
	const struct jedit e[] = {{"my own", v}, {"flow one", NULL}};
	const struct jedit rm = {"my own", NULL};
	static const char expect[] =
	    "# my cn config\n"
	    "name: Local Config\n"
	    "version: 1.0.0\n"
	    "schema: v1\n"
	    "models:\n"
	    "  - name: local\n"
	    "    provider: ollama   # keep this\n"
	    "    model: llama3\n"
	    "\n"
	    "mcpServers:\n"
	    "  # mine, by hand\n"
	    "  - {\"name\": \"my own\", \"url\": \"https://x/mcp\", \"type\": "
	    "\"sse\"}\n"
	    "  - uses: anthropic/github-mcp\n"
	    "\n"
	    "# rules follow\n"
	    "rules:\n"
	    "  - Be brief\n";

	(void)state;
	ye_expect(ye_config, e, 2, expect);
	/* Removing an absent name changes nothing. */
	ye_expect(ye_config, (const struct jedit[]){{"absent", NULL}}, 1,
	          ye_config);
	/* The block item goes with its nested lines. */
	ye_expect("mcpServers:\n- name: a\n  args:\n  - x\n- name: b\n", &rm, 1,
	          "mcpServers:\n- name: a\n  args:\n  - x\n- name: b\n");
	ye_expect("mcpServers:\n- name: a\n  args:\n  - x\n- name: b\n",
	          (const struct jedit[]){{"a", NULL}}, 1,
	          "mcpServers:\n- name: b\n");
	json_decref(v);
}

/* Adding then removing gives back the original bytes. */
static void test_yamledit_round_trip(void **state)
{
	json_t *v = ye_json("{\"command\": \"x\"}");
	struct yaml_doc *doc = ye_parse(ye_config), *mid;
	const struct jedit add = {"new", v}, rm = {"new", NULL};
	struct diag d;
	char *out = NULL, *back = NULL;
	size_t outlen, backlen;

	(void)state;
	diag_clear(&d);
	tu_ok(yamledit_edit(doc, &add, 1, false, &out, &outlen, &d), &d);
	mid = ye_parse(out);
	tu_ok(yamledit_edit(mid, &rm, 1, false, &back, &backlen, &d), &d);
	assert_string_equal(back, ye_config);
	yamledit_free(mid);
	yamledit_free(doc);
	free(out);
	free(back);
	json_decref(v);
}

/* No key: it is appended; a fresh header file; the last line without a
 * line end. */
static void test_yamledit_fresh(void **state)
{
	json_t *v = ye_json("{\"command\": \"x\", \"args\": []}");
	const struct jedit e = {"a", v}, rm = {"a", NULL};

	(void)state;
	ye_expect("name: mcpfleet\nversion: 0.0.1\nschema: v1\n", &e, 1,
	          "name: mcpfleet\nversion: 0.0.1\nschema: v1\n"
	          "mcpServers:\n"
	          "  - {\"name\": \"a\", \"command\": \"x\", \"args\": []}\n");
	ye_expect("name: x\nversion: 1", &e, 1,
	          "name: x\nversion: 1\nmcpServers:\n"
	          "  - {\"name\": \"a\", \"command\": \"x\", \"args\": []}\n");
	ye_expect("", &e, 1,
	          "mcpServers:\n"
	          "  - {\"name\": \"a\", \"command\": \"x\", \"args\": []}\n");
	/* Nothing to add: no key is written. */
	ye_expect("name: x\n", &rm, 1, "name: x\n");
	/* A key of the caller's own goes with its last item (prune). */
	ye_expect_prune("name: x\nmcpServers:\n  - {\"name\": \"a\"}\nz: 1\n",
	                &rm, 1, true, "name: x\nz: 1\n");
	json_decref(v);
}

/* "[]" and an empty value; an emptied list is "[]", never null. */
static void test_yamledit_empty_list(void **state)
{
	json_t *v = ye_json("{\"url\": \"u\"}");
	const struct jedit e = {"a", v}, rm = {"a", NULL};

	(void)state;
	ye_expect("mcpServers: []\nx: 1\n", &e, 1,
	          "mcpServers:\n  - {\"name\": \"a\", \"url\": \"u\"}\nx: 1\n");
	ye_expect("mcpServers: [] # none yet\n", &e, 1,
	          "mcpServers: # none yet\n  - {\"name\": \"a\", \"url\": "
	          "\"u\"}\n");
	ye_expect("mcpServers:\nx: 1\n", &e, 1,
	          "mcpServers:\n  - {\"name\": \"a\", \"url\": \"u\"}\nx: 1\n");
	ye_expect("mcpServers:\n  - {\"name\": \"a\", \"url\": \"u\"}\nx: 1\n",
	          &rm, 1, "mcpServers: []\nx: 1\n");
	ye_expect("mcpServers: []", &e, 1,
	          "mcpServers:\n  - {\"name\": \"a\", \"url\": \"u\"}\n");
	/* The items' own indentation is kept, column 1 included. */
	ye_expect("mcpServers:\n- name: b\n", &e, 1,
	          "mcpServers:\n- name: b\n- {\"name\": \"a\", \"url\": "
	          "\"u\"}\n");
	json_decref(v);
}

/* Items as users write them: the name after other keys, a flow item over
 * several lines, a quoted key; the user's bytes stay. */
static void test_yamledit_shapes(void **state)
{
	static const char text[] = "\"mcpServers\":   # quoted key\n"
	                           "  - command: npx\n"
	                           "    name: late   # name last\n"
	                           "  - {name: multi,\n"
	                           "     command: x}\n"
	                           "  -\n"
	                           "    name: nested-start\n"
	                           "    args:\n"
	                           "    - '# x'\n";
	json_t *v = ye_json("{\"command\": \"c\"}");
	const struct jedit rm[] = {{"multi", NULL}, {"late", v}};
	struct yaml_doc *doc = ye_parse(text);
	char **names = NULL;
	size_t n = 0;

	(void)state;
	tu_ok(yamledit_names(doc, &names, &n), NULL);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "late");
	assert_string_equal(names[1], "multi");
	assert_string_equal(names[2], "nested-start");
	edit_names_free(names, n);
	yamledit_free(doc);
	ye_expect(text, rm, 2,
	          "\"mcpServers\":   # quoted key\n"
	          "  - {\"name\": \"late\", \"command\": \"c\"}\n"
	          "  -\n"
	          "    name: nested-start\n"
	          "    args:\n"
	          "    - '# x'\n");
	json_decref(v);
}

/* A CRLF file stays CRLF. */
static void test_yamledit_crlf(void **state)
{
	json_t *v = ye_json("{\"command\": \"c\"}");
	const struct jedit e = {"a", v}, rm = {"b", NULL};

	(void)state;
	ye_expect("name: x\r\nmcpServers:\r\n  - name: b\r\n    command: "
	          "y\r\n# end\r\n",
	          &e, 1,
	          "name: x\r\nmcpServers:\r\n  - name: b\r\n    command: "
	          "y\r\n  - {\"name\": \"a\", \"command\": \"c\"}\r\n# "
	          "end\r\n");
	ye_expect("name: x\r\nmcpServers:\r\n  - name: b\r\n    command: "
	          "y\r\n# end\r\n",
	          &rm, 1, "name: x\r\nmcpServers: []\r\n# end\r\n");
	ye_expect("name: x\r\n", &e, 1,
	          "name: x\r\nmcpServers:\r\n  - {\"name\": \"a\", "
	          "\"command\": \"c\"}\r\n");
	json_decref(v);
}

/* Names, plain or quoted, and strings YAML would read otherwise. */
static void test_yamledit_quoting(void **state)
{
	json_t *v = ye_json("{\"args\": [\"a\\u2028b\", \"\\u0085\", \"#x\", "
	                    "\"${{ x }}\", \"\\t\"], \"n\": 1.0, \"i\": 2}");
	const struct jedit e = {"we'ird: \"n\"", v};
	struct yaml_doc *doc;
	char *out = NULL, **names = NULL;
	size_t outlen, n;
	struct diag d;
	json_t *back = NULL;

	(void)state;
	doc = ye_parse("mcpServers:\n  - name: 'it''s'\n  - name: \"d\\\"q\" "
	               "# c\n  - name: plain one  # c\n");
	tu_ok(yamledit_names(doc, &names, &n), NULL);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "it's");
	assert_string_equal(names[1], "d\"q");
	assert_string_equal(names[2], "plain one");
	edit_names_free(names, n);
	diag_clear(&d);
	tu_ok(yamledit_edit(doc, &e, 1, false, &out, &outlen, &d), &d);
	assert_non_null(strstr(out, "\"a\\u2028b\", \"\\u0085\""));
	yamledit_free(doc);
	doc = ye_parse(out);
	tu_ok(yamledit_get(doc, "we'ird: \"n\"", &back, &d), &d);
	assert_true(json_equal(back, v));
	json_decref(back);
	yamledit_free(doc);
	free(out);
	json_decref(v);
}

static void test_yamledit_refusals(void **state)
{
	(void)state;
	ye_refused("mcpServers:\n  - name: a\n\t  command: x\n", 3, "tab");
	ye_refused("mcpServers:\n  - &anchor\n    name: a\n", 2, "anchors");
	ye_refused("mcpServers:\n  - name: a\n    env: *base\n", 3, "aliases");
	ye_refused("mcpServers: !!seq\n", 1, "tags");
	ye_refused("mcpServers: &all\n  - name: a\n", 1, "anchors");
	ye_refused("mcpServers:\n  - name: a\n  - name: a\n", 3,
	           "two items named 'a'");
	ye_refused("mcpServers:\n  - {name: a}\n  - name: a\n", 3,
	           "two items named 'a'");
	ye_refused("mcpServers:\n  a: 1\n", 2, "not a list item");
	ye_refused("mcpServers: 3\n", 1, "not a list");
	ye_refused("mcpServers: [{name: a}]\n", 1, "flow list");
	ye_refused("name: x\n---\nmcpServers: []\n", 2, "more than one");
	ye_refused("mcpServers: []\nmcpServers: []\n", 2, "written twice");
	ye_refused("{\"mcpServers\": []}\n", 1, "flow collection");
	ye_refused("mcpServers:\n  - {name: a, command: [x}\n", 2, "expected");
	ye_refused("mcpServers:\n  - name: a\n   x: 1\n", 3, "left of");
	ye_refused("<<: *base\n", 1, "merge key");
	ye_refused("mcpServers:\n  - name: a\n    args: [x,\n  - name: b]\n", 2,
	           "does not close within its item");
	ye_refused("mcpServers:\n  - name: a\n    oops\n", 3, "not a mapping");
	{
		static const char nul[] = "a: 1\nb\0: 2\n";
		struct yaml_doc *doc = NULL;
		struct diag d;

		diag_clear(&d);
		assert_int_equal(
		    yamledit_parse(nul, sizeof(nul) - 1, YE_KEY, &doc, &d),
		    -ERR_PARSE);
		assert_int_equal(d.line, 2);
		assert_non_null(strstr(d.msg, "NUL"));
		assert_null(doc);
	}
	/* A leading document marker and directives are fine. */
	yamledit_free(ye_parse("%YAML 1.2\n---\nmcpServers: []\n"));
	/* Another key's multi-line flow value is skipped whole. */
	yamledit_free(ye_parse("a: [1,\nmcpServers: 2]\nmcpServers: []\n"));
}

/* An entry that cannot be an item is refused, and nothing is returned. */
static void test_yamledit_bad_entry(void **state)
{
	json_t *arr = ye_json("[1]"), *named = ye_json("{\"name\": \"x\"}");
	struct yaml_doc *doc = ye_parse("mcpServers: []\n");
	const struct jedit e1 = {"a", arr}, e2 = {"a", named};
	char *out = (char *)&out;
	size_t outlen = 7;
	struct diag d;

	(void)state;
	diag_clear(&d);
	assert_int_equal(yamledit_edit(doc, &e1, 1, false, &out, &outlen, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "not a mapping"));
	assert_int_equal(yamledit_edit(doc, &e2, 1, false, &out, &outlen, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "name"));
	assert_ptr_equal(out, (char *)&out);
	assert_int_equal(outlen, 7);
	yamledit_free(doc);
	json_decref(arr);
	json_decref(named);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yamledit_names),
	    cmocka_unit_test(test_yamledit_append),
	    cmocka_unit_test(test_yamledit_replace_remove),
	    cmocka_unit_test(test_yamledit_round_trip),
	    cmocka_unit_test(test_yamledit_fresh),
	    cmocka_unit_test(test_yamledit_empty_list),
	    cmocka_unit_test(test_yamledit_shapes),
	    cmocka_unit_test(test_yamledit_crlf),
	    cmocka_unit_test(test_yamledit_quoting),
	    cmocka_unit_test(test_yamledit_refusals),
	    cmocka_unit_test(test_yamledit_bad_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
