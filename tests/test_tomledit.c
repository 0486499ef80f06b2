/* SPDX-License-Identifier: MIT */
/* Tests of adapters/formats/tomledit.c: names, get and byte-exact splices of
 * whole [PATH.NAME] tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"
#include "testutil.h"
#include "toml.h"
#include "tomledit.h"

static const char *const te_servers[] = {"mcp_servers"};

static const char te_codex[] =
    "# Codex configuration\n"
    "model = \"o3\"\n"
    "\n"
    "[mcp_servers.github]\n"
    "command = \"npx\"\n"
    "args = [\"-y\", \"@modelcontextprotocol/server-github\"]\n"
    "env = { GITHUB_PERSONAL_ACCESS_TOKEN = \"ghp_xxx\" }\n"
    "\n"
    "# the docs server, by hand\n"
    "[mcp_servers.docs] # remote\n"
    "url = \"https://example.com/mcp\"\n"
    "\n"
    "# profiles follow\n"
    "[profiles.fast]\n"
    "model = \"gpt-4o-mini\"\n";

static struct toml_doc *te_parse(const char *text, size_t len)
{
	struct toml_doc *doc = NULL;
	struct diag d;

	diag_clear(&d);
	tu_ok(toml_parse(text, len, &doc, &d), &d);
	return doc;
}

static json_t *te_json(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (v == NULL)
		fail_msg("bad JSON %s: %s", text, jerr.text);
	return v;
}

/* Applies edits to text (at path) and checks that the result is expect, byte
 * for byte, and parses again. */
static void te_expect(const char *text, const char *const *path, size_t depth,
                      const struct jedit *e, size_t n, const char *expect)
{
	struct toml_doc *doc = te_parse(text, strlen(text)), *again;
	struct diag d;
	char *out = NULL;
	size_t outlen = 0;

	diag_clear(&d);
	tu_ok(tomledit_edit(doc, text, strlen(text), path, depth, e, n, &out,
	                    &outlen, &d),
	      &d);
	assert_int_equal(outlen, strlen(out));
	if (strcmp(out, expect) != 0)
		fail_msg("--- input\n%s\n--- expected\n%s\n--- got\n%s", text,
		         expect, out);
	again = te_parse(out, outlen);
	toml_free(again);
	toml_free(doc);
	free(out);
}

/* Checks that an edit fails with code and a message holding want. */
static void te_fail(const char *text, const char *const *path, size_t depth,
                    const struct jedit *e, size_t n, int code, const char *want)
{
	struct toml_doc *doc = te_parse(text, strlen(text));
	struct diag d;
	char *out = (char *)&out;
	size_t outlen = 7;
	int r;

	diag_clear(&d);
	r = tomledit_edit(doc, text, strlen(text), path, depth, e, n, &out,
	                  &outlen, &d);
	if (r != -code || strstr(d.msg, want) == NULL)
		fail_msg("expected error %d with \"%s\", got %d: %s", -code,
		         want, r, d.msg);
	/* Nothing is handed back on failure. */
	assert_ptr_equal(out, (char *)&out);
	assert_int_equal(outlen, 7);
	toml_free(doc);
}

static void test_tomledit_names(void **state)
{
	static const char *const providers[] = {"profiles"};
	static const char *const through[] = {"model", "x"};
	struct toml_doc *doc = te_parse(te_codex, strlen(te_codex));
	char **names = NULL;
	struct diag d;
	size_t n = 0;

	(void)state;
	tu_ok(tomledit_names(doc, te_servers, 1, &names, &n, &d), &d);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "github");
	assert_string_equal(names[1], "docs");
	edit_names_free(names, n);

	tu_ok(tomledit_names(doc, providers, 1, &names, &n, &d), &d);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "fast");
	edit_names_free(names, n);

	/* The root's members, in document order. */
	tu_ok(tomledit_names(doc, NULL, 0, &names, &n, &d), &d);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "model");
	assert_string_equal(names[1], "mcp_servers");
	assert_string_equal(names[2], "profiles");
	edit_names_free(names, n);
	toml_free(doc);

	/* An absent table has no members; that is not an error. */
	doc = te_parse("model = \"o3\"\n", 13);
	names = (char **)&names;
	tu_ok(tomledit_names(doc, te_servers, 1, &names, &n, &d), &d);
	assert_int_equal(n, 0);
	edit_names_free(names, n);

	/* A value on the path that is not a table is named. */
	diag_clear(&d);
	assert_int_equal(tomledit_names(doc, through, 2, &names, &n, &d),
	                 -ERR_TYPE);
	assert_non_null(strstr(d.msg, "'model' is not a table"));
	toml_free(doc);
}

static void test_tomledit_get(void **state)
{
	static const char *const through[] = {"model"};
	struct toml_doc *doc = te_parse(te_codex, strlen(te_codex));
	json_t *v = NULL, *want;
	struct diag d;

	(void)state;
	tu_ok(tomledit_get(doc, te_servers, 1, "github", &v, &d), &d);
	want = te_json("{\"command\": \"npx\", \"args\": [\"-y\", "
	               "\"@modelcontextprotocol/server-github\"], \"env\": "
	               "{\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"ghp_xxx\"}}");
	assert_true(json_equal(v, want));
	json_decref(want);
	json_decref(v);

	assert_int_equal(tomledit_get(doc, te_servers, 1, "nope", &v, &d),
	                 -ERR_NOENT);
	diag_clear(&d);
	assert_int_equal(tomledit_get(doc, through, 1, "x", &v, &d), -ERR_TYPE);
	assert_non_null(strstr(d.msg, "'model' is not a table"));
	toml_free(doc);
}

/* A new table goes after the last [mcp_servers.*] table, before the comment
 * that belongs to the next one; removing it gives back the original. */
static void test_tomledit_add_remove(void **state)
{
	json_t *v = te_json("{\"command\": \"uvx\", \"args\": [\"mcp-x\"], "
	                    "\"env\": {\"K\": \"v\"}}");
	const struct jedit add = {"new one", v}, rm = {"new one", NULL};
	const char *expect =
	    "# Codex configuration\n"
	    "model = \"o3\"\n"
	    "\n"
	    "[mcp_servers.github]\n"
	    "command = \"npx\"\n"
	    "args = [\"-y\", \"@modelcontextprotocol/server-github\"]\n"
	    "env = { GITHUB_PERSONAL_ACCESS_TOKEN = \"ghp_xxx\" }\n"
	    "\n"
	    "# the docs server, by hand\n"
	    "[mcp_servers.docs] # remote\n"
	    "url = \"https://example.com/mcp\"\n"
	    "\n"
	    "[mcp_servers.\"new one\"]\n"
	    "command = \"uvx\"\n"
	    "args = [\"mcp-x\"]\n"
	    "env = { K = \"v\" }\n"
	    "\n"
	    "# profiles follow\n"
	    "[profiles.fast]\n"
	    "model = \"gpt-4o-mini\"\n";

	(void)state;
	te_expect(te_codex, te_servers, 1, &add, 1, expect);
	te_expect(expect, te_servers, 1, &rm, 1, te_codex);
	/* Removing what is not there changes nothing. */
	te_expect(te_codex, te_servers, 1, &rm, 1, te_codex);
	json_decref(v);
}

/* A file without the table, and an empty file. */
static void test_tomledit_add_new_table(void **state)
{
	json_t *v = te_json("{\"url\": \"https://x/mcp\"}");
	const struct jedit add = {"x", v};

	(void)state;
	te_expect("", te_servers, 1, &add, 1,
	          "[mcp_servers.x]\nurl = \"https://x/mcp\"\n");
	te_expect("model = \"o3\"\n", te_servers, 1, &add, 1,
	          "model = \"o3\"\n\n[mcp_servers.x]\nurl = "
	          "\"https://x/mcp\"\n");
	/* A last line without its line end gets one first. */
	te_expect("model = \"o3\"", te_servers, 1, &add, 1,
	          "model = \"o3\"\n\n[mcp_servers.x]\nurl = "
	          "\"https://x/mcp\"\n");
	json_decref(v);
}

/* A replaced table takes the place of the old one; the comment above it and
 * everything around stay. */
static void test_tomledit_replace(void **state)
{
	json_t *v = te_json("{\"url\": \"https://docs/mcp\", "
	                    "\"bearer_token_env_var\": \"T\"}");
	const struct jedit e = {"docs", v};
	const char *expect = "# Codex configuration\n"
	                     "model = \"o3\"\n"
	                     "\n"
	                     "[mcp_servers.github]\n"
	                     "command = \"npx\"\n"
	                     "args = [\"-y\", "
	                     "\"@modelcontextprotocol/server-github\"]\n"
	                     "env = { GITHUB_PERSONAL_ACCESS_TOKEN = "
	                     "\"ghp_xxx\" }\n"
	                     "\n"
	                     "# the docs server, by hand\n"
	                     "[mcp_servers.docs]\n"
	                     "url = \"https://docs/mcp\"\n"
	                     "bearer_token_env_var = \"T\"\n"
	                     "\n"
	                     "# profiles follow\n"
	                     "[profiles.fast]\n"
	                     "model = \"gpt-4o-mini\"\n";

	(void)state;
	te_expect(te_codex, te_servers, 1, &e, 1, expect);
	json_decref(v);
}

/* A server written with sub-tables is replaced and removed as a whole. */
static void test_tomledit_subtables(void **state)
{
	const char *text = "[mcp_servers.a]\n"
	                   "command = \"a\"\n"
	                   "\n"
	                   "[mcp_servers.a.env]\n"
	                   "K = \"v\"\n"
	                   "\n"
	                   "[mcp_servers.b]\n"
	                   "command = \"b\"\n";
	json_t *v = te_json("{\"command\": \"a2\", \"env\": {\"K\": \"w\"}}");
	const struct jedit e = {"a", v}, rm = {"a", NULL};

	(void)state;
	te_expect(text, te_servers, 1, &e, 1,
	          "[mcp_servers.a]\n"
	          "command = \"a2\"\n"
	          "env = { K = \"w\" }\n"
	          "\n"
	          "[mcp_servers.b]\n"
	          "command = \"b\"\n");
	te_expect(text, te_servers, 1, &rm, 1,
	          "\n"
	          "[mcp_servers.b]\n"
	          "command = \"b\"\n");
	json_decref(v);
}

/* Several edits at once: add, replace and remove. */
static void test_tomledit_several(void **state)
{
	json_t *v = te_json("{\"command\": \"g\"}");
	const struct jedit e[] = {{"github", NULL}, {"docs", v}, {"z", v}};
	const char *expect = "# Codex configuration\n"
	                     "model = \"o3\"\n"
	                     "\n"
	                     "# the docs server, by hand\n"
	                     "[mcp_servers.docs]\n"
	                     "command = \"g\"\n"
	                     "\n"
	                     "[mcp_servers.z]\n"
	                     "command = \"g\"\n"
	                     "\n"
	                     "# profiles follow\n"
	                     "[profiles.fast]\n"
	                     "model = \"gpt-4o-mini\"\n";

	(void)state;
	te_expect(te_codex, te_servers, 1, e, 3, expect);
	json_decref(v);
}

/* A key path of two tables, and the root itself. */
static void test_tomledit_nested_path(void **state)
{
	static const char *const path[] = {"tools", "mcp"};
	const char *text = "[tools]\nx = 1\n\n[tools.mcp.a] # mine\ny = 2\n";
	json_t *v = te_json("{\"n\": 1, \"deep\": {\"k\": [true]}}");
	const struct jedit e = {"b", v}, root = {"t", v};

	(void)state;
	te_expect(text, path, 2, &e, 1,
	          "[tools]\nx = 1\n\n[tools.mcp.a] # mine\ny = 2\n\n"
	          "[tools.mcp.b]\nn = 1\ndeep = { k = [true] }\n");
	te_expect(text, NULL, 0, &root, 1,
	          "[tools]\nx = 1\n\n[tools.mcp.a] # mine\ny = 2\n\n"
	          "[t]\nn = 1\ndeep = { k = [true] }\n");
	json_decref(v);
}

/* CRLF files get CRLF; comments and odd spacing elsewhere stay as they are.
 */
static void test_tomledit_crlf_and_spacing(void **state)
{
	const char *text = "\xef\xbb\xbf# bom\r\n"
	                   "[mcp_servers.a]   \r\n"
	                   "command=\"a\"\t# tab\r\n"
	                   "  # indented comment\r\n"
	                   "\r\n"
	                   "[other]\r\n";
	json_t *v = te_json("{\"command\": \"b\"}");
	const struct jedit e = {"b", v};

	(void)state;
	te_expect(text, te_servers, 1, &e, 1,
	          "\xef\xbb\xbf# bom\r\n"
	          "[mcp_servers.a]   \r\n"
	          "command=\"a\"\t# tab\r\n"
	          "\r\n"
	          "[mcp_servers.b]\r\n"
	          "command = \"b\"\r\n"
	          "  # indented comment\r\n"
	          "\r\n"
	          "[other]\r\n");
	json_decref(v);
}

/*
 * A line that looks like a comment inside a multi-line string is part of
 * the value: a new table goes after the string, not into it (found by
 * fuzz_tomledit).
 */
static void test_tomledit_multiline_string(void **state)
{
	const char *text = "[mcp_servers.a]\n"
	                   "description = \"\"\"first\n"
	                   "# not a comment\"\"\"\n"
	                   "notes = '''\n"
	                   "#'''\n"
	                   "# a real comment\n";
	json_t *v = te_json("{\"command\": \"b\"}");
	const struct jedit e = {"b", v};

	(void)state;
	te_expect(text, te_servers, 1, &e, 1,
	          "[mcp_servers.a]\n"
	          "description = \"\"\"first\n"
	          "# not a comment\"\"\"\n"
	          "notes = '''\n"
	          "#'''\n"
	          "\n"
	          "[mcp_servers.b]\n"
	          "command = \"b\"\n"
	          "# a real comment\n");
	json_decref(v);
}

/* Bad input and edits that cannot be spliced fail with a named reason and
 * leave the output alone. */
static void test_tomledit_errors(void **state)
{
	static const char *const through[] = {"model", "x"};
	json_t *v = te_json("{\"command\": \"b\"}");
	json_t *notable = te_json("[1]");
	json_t *nulls = te_json("{\"command\": null}");
	const struct jedit e = {"a", v};

	(void)state;
	te_fail("[mcp_servers]\na = { command = \"x\" }\n", te_servers, 1, &e,
	        1, ERR_CONFLICT, "'a' is not written as its own table");
	te_fail("mcp_servers.a.command = \"x\"\n", te_servers, 1, &e, 1,
	        ERR_CONFLICT, "'a' is not written as its own table");
	/* A new table cannot extend an inline one. */
	te_fail("mcp_servers = {}\n", te_servers, 1, &e, 1, ERR_INVALID,
	        "would not parse");
	te_fail("model = \"o3\"\n", through, 2, &e, 1, ERR_TYPE,
	        "'model' is not a table");
	{
		const struct jedit bad = {"a", notable};

		te_fail("", te_servers, 1, &bad, 1, ERR_INVALID,
		        "entry 'a' is not a table");
	}
	{
		const struct jedit bad = {"a", nulls};

		te_fail("", te_servers, 1, &bad, 1, ERR_INVALID,
		        "field 'command' has no TOML form");
	}
	json_decref(v);
	json_decref(notable);
	json_decref(nulls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tomledit_names),
	    cmocka_unit_test(test_tomledit_get),
	    cmocka_unit_test(test_tomledit_add_remove),
	    cmocka_unit_test(test_tomledit_add_new_table),
	    cmocka_unit_test(test_tomledit_replace),
	    cmocka_unit_test(test_tomledit_subtables),
	    cmocka_unit_test(test_tomledit_several),
	    cmocka_unit_test(test_tomledit_nested_path),
	    cmocka_unit_test(test_tomledit_crlf_and_spacing),
	    cmocka_unit_test(test_tomledit_multiline_string),
	    cmocka_unit_test(test_tomledit_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
