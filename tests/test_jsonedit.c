/* SPDX-License-Identifier: MIT */
/* Tests for adapters/formats/jsondoc.c, jsonconv.c and jsonedit.c: the
 * validating parser, conversion to jansson and byte-exact edits. */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonedit.h"

#define JE_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A standard server entry, as adapters write them. */
#define JE_SRV "{\"command\":\"npx\",\"args\":[\"-y\",\"srv\"]}"

struct je_edit {
	const char *name;
	const char *json; /* NULL removes */
};

/* One golden editing case: input, edits, exact expected output. */
struct je_golden {
	const char *what;
	const char *in;
	unsigned pflags;
	const char *path[4];
	size_t depth;
	struct je_edit e[4];
	unsigned eflags;
	const char *out;
};

/* Prints bytes with control characters visible, for failure messages. */
static void je_dump(const char *label, const char *s, size_t len)
{
	size_t i;

	fprintf(stderr, "%s (%zu bytes):\n", label, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n\n", stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\t')
			fputs("\\t", stderr);
		else if (c < 0x20)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("\n", stderr);
}

static int je_parse(const char *in, size_t len, unsigned flags,
                    struct jdoc **doc, struct diag *d)
{
	diag_clear(d);
	return jdoc_parse(in, len, flags, doc, d);
}

/*
 * Parses in, applies the edits (JSON texts), returns the result code; *out
 * gets the new text on success.
 */
static int je_apply(const char *in, size_t inlen, unsigned pflags,
                    const char *const *path, size_t depth,
                    const struct je_edit *e, size_t ne, unsigned eflags,
                    char **out, size_t *outlen, struct diag *d)
{
	struct jedit edits[8];
	json_t *vals[8] = {NULL};
	struct jdoc *doc = NULL;
	json_error_t jerr;
	size_t i;
	int r;

	assert_true(ne <= JE_COUNT(edits));
	r = je_parse(in, inlen, pflags, &doc, d);
	if (r != 0) {
		fprintf(stderr, "parse: %u:%u %s\n", d->line, d->col, d->msg);
		return r;
	}
	for (i = 0; i < ne; i++) {
		if (e[i].json != NULL) {
			vals[i] = json_loads(e[i].json, JSON_DECODE_ANY, &jerr);
			if (vals[i] == NULL)
				fail_msg("bad test JSON %s: %s", e[i].json,
				         jerr.text);
		}
		edits[i].name = e[i].name;
		edits[i].value = vals[i];
	}
	r = jdoc_edit(doc, path, depth, edits, ne, eflags, out, outlen, d);
	for (i = 0; i < ne; i++)
		json_decref(vals[i]);
	jdoc_free(doc);
	return r;
}

static size_t je_nedits(const struct je_golden *g)
{
	size_t n = 0;

	while (n < JE_COUNT(g->e) && g->e[n].name != NULL)
		n++;
	return n;
}

static void je_run_goldens(const struct je_golden *g, size_t n)
{
	struct jdoc *doc;
	struct diag d;
	size_t i, outlen;
	char *out;
	int r;

	for (i = 0; i < n; i++) {
		r = je_apply(g[i].in, strlen(g[i].in), g[i].pflags, g[i].path,
		             g[i].depth, g[i].e, je_nedits(&g[i]), g[i].eflags,
		             &out, &outlen, &d);
		if (r != 0)
			fail_msg("%s: edit failed (%d): %s", g[i].what, r,
			         d.msg);
		if (outlen != strlen(g[i].out) ||
		    memcmp(out, g[i].out, outlen) != 0) {
			je_dump("input", g[i].in, strlen(g[i].in));
			je_dump("expected", g[i].out, strlen(g[i].out));
			je_dump("got", out, outlen);
			free(out);
			fail_msg("%s: unexpected output", g[i].what);
		}
		assert_int_equal(out[outlen], '\0');
		/* The result parses with the same flags. */
		assert_int_equal(je_parse(out, outlen, g[i].pflags, &doc, &d),
		                 0);
		jdoc_free(doc);
		free(out);
	}
}

/* Parser validity */

static void test_jsonedit_parse_valid(void **state)
{
	static const char *const ok[] = {
	    "{}",
	    "[]",
	    "0",
	    "-0",
	    "-0.0e-0",
	    "1.5E+10",
	    "123456789012345678901234567890",
	    "\"\"",
	    "true",
	    "false",
	    "null",
	    " \t\r\n{ \"a\" : [ 1 , 2 , { \"b\" : null } ] }\r\n ",
	    "{\"a\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\"}",
	    "{\"naïve\":\"日本語 😀 \xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"}",
	    "{\"\":0,\"a\":{},\"b\":[],\"c\":[[]],\"d\":[{}]}",
	    "{\"a\":1,\"A\":2,\"\\u0041a\":3}",
	    "\xef\xbb\xbf{}",
	    "\xef\xbb\xbf[1]",
	    "{\"x\":\"\x7f\"}",
	    "{\"a\":1}\r\n",
	    "[1e5,1E-5,0.5,-1,10,100e+0]",
	    "\"\\u0000\"",
	};
	struct jdoc *doc;
	struct diag d;
	size_t i;

	(void)state;
	for (i = 0; i < JE_COUNT(ok); i++) {
		if (je_parse(ok[i], strlen(ok[i]), 0, &doc, &d) != 0)
			fail_msg("valid #%zu rejected: %s", i, d.msg);
		jdoc_free(doc);
		if (je_parse(ok[i], strlen(ok[i]), JDOC_JSONC, &doc, &d) != 0)
			fail_msg("valid #%zu rejected as JSONC: %s", i, d.msg);
		jdoc_free(doc);
	}
}

struct je_bad {
	const char *in;
	size_t len; /* 0: strlen */
	unsigned flags;
	int code;
	unsigned line, col;
	const char *msg; /* a substring of the message */
};

static void test_jsonedit_parse_invalid(void **state)
{
	static const struct je_bad bad[] = {
	    {"", 0, 0, -ERR_PARSE, 1, 1, "empty"},
	    {" \n\t ", 0, 0, -ERR_PARSE, 2, 3, "empty"},
	    {"\xef\xbb\xbf", 0, 0, -ERR_PARSE, 1, 1, "empty"},
	    {"{", 0, 0, -ERR_PARSE, 1, 2, "end of input"},
	    {"}", 0, 0, -ERR_PARSE, 1, 1, "'}'"},
	    {"{\"a\"}", 0, 0, -ERR_PARSE, 1, 5, "':' expected"},
	    {"{\"a\":}", 0, 0, -ERR_PARSE, 1, 6, "a value was expected"},
	    {"{\"a\":1,}", 0, 0, -ERR_PARSE, 1, 7, "trailing comma"},
	    {"[1,]", 0, 0, -ERR_PARSE, 1, 3, "trailing comma"},
	    {"[01]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[1.]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[.5]", 0, 0, -ERR_PARSE, 1, 2, "'.'"},
	    {"[1e]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[-]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[+1]", 0, 0, -ERR_PARSE, 1, 2, "'+'"},
	    {"[1x]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[0x10]", 0, 0, -ERR_PARSE, 1, 2, "invalid number"},
	    {"[NaN]", 0, 0, -ERR_PARSE, 1, 2, "'N'"},
	    {"[Infinity]", 0, 0, -ERR_PARSE, 1, 2, "'I'"},
	    {"[\"a\\x\"]", 0, 0, -ERR_PARSE, 1, 4, "invalid escape"},
	    {"[\"\\u12\"]", 0, 0, -ERR_PARSE, 1, 3, "\\u escape"},
	    {"[\"\\ud800\"]", 0, 0, -ERR_PARSE, 1, 3, "surrogate"},
	    {"[\"\\udc00\\ud800\"]", 0, 0, -ERR_PARSE, 1, 3, "surrogate"},
	    {"[\"\\ud800\\u0041\"]", 0, 0, -ERR_PARSE, 1, 3, "surrogate"},
	    {"[\"a\nb\"]", 0, 0, -ERR_PARSE, 1, 4, "control character"},
	    {"[\"\t\"]", 0, 0, -ERR_PARSE, 1, 3, "U+0009"},
	    {"[\"\xc0\x80\"]", 0, 0, -ERR_PARSE, 1, 3, "UTF-8"},
	    {"[\"\xed\xa0\x80\"]", 0, 0, -ERR_PARSE, 1, 3, "UTF-8"},
	    {"[\"\xf5\x80\x80\x80\"]", 0, 0, -ERR_PARSE, 1, 3, "UTF-8"},
	    {"[\"\xe2\x82\"]", 0, 0, -ERR_PARSE, 1, 3, "UTF-8"},
	    {"[\"\x80\"]", 0, 0, -ERR_PARSE, 1, 3, "UTF-8"},
	    {"[tru]", 0, 0, -ERR_PARSE, 1, 2, "literal"},
	    {"[truex]", 0, 0, -ERR_PARSE, 1, 2, "literal"},
	    {"[nul]", 0, 0, -ERR_PARSE, 1, 2, "literal"},
	    {"[True]", 0, 0, -ERR_PARSE, 1, 2, "'T'"},
	    {"{} {}", 0, 0, -ERR_PARSE, 1, 4, "after the document"},
	    {"{}x", 0, 0, -ERR_PARSE, 1, 3, "after the document"},
	    {"{\"a\":1 \"b\":2}", 0, 0, -ERR_PARSE, 1, 8, "\"a\""},
	    {"{a:1}", 0, 0, -ERR_PARSE, 1, 2, "key string"},
	    {"{'a':1}", 0, 0, -ERR_PARSE, 1, 2, "key string"},
	    {"['x']", 0, 0, -ERR_PARSE, 1, 2, "'''"},
	    {"{\"a\":1,,\"b\":2}", 0, 0, -ERR_PARSE, 1, 8, "key string"},
	    {"[1,,2]", 0, 0, -ERR_PARSE, 1, 4, "value"},
	    {"[,]", 0, JDOC_JSONC, -ERR_PARSE, 1, 2, "value"},
	    {"{,}", 0, JDOC_JSONC, -ERR_PARSE, 1, 2, "key string"},
	    {"[1,,]", 0, JDOC_JSONC, -ERR_PARSE, 1, 4, "value"},
	    {"[\"abc", 0, 0, -ERR_PARSE, 1, 2, "unterminated string"},
	    {"[\"abc\\", 0, 0, -ERR_PARSE, 1, 6, "unterminated string"},
	    {"// c\n{}", 0, 0, -ERR_PARSE, 1, 1, "comments"},
	    {"{} /* c */", 0, 0, -ERR_PARSE, 1, 4, "comments"},
	    {"{} /* c", 0, JDOC_JSONC, -ERR_PARSE, 1, 4, "unterminated"},
	    {"{} /*/", 0, JDOC_JSONC, -ERR_PARSE, 1, 4, "unterminated"},
	    {"{} / ", 0, JDOC_JSONC, -ERR_PARSE, 1, 4, "'/'"},
	    {"\xef\xbb\xbf\xef\xbb\xbf{}", 0, 0, -ERR_PARSE, 1, 1, "0xef"},
	    {"{\"a\":1}\0", 8, 0, -ERR_PARSE, 1, 8, "0x00"},
	    {"[\"\0\"]", 5, 0, -ERR_PARSE, 1, 3, "U+0000"},
	    {"{\"a\":\n\n  [1, 2 3]}", 0, 0, -ERR_PARSE, 3, 9, "','"},
	    {"\xef\xbb\xbf{\"é\": x}", 0, 0, -ERR_PARSE, 1, 7, "'x'"},
	    {"[1]\v", 0, 0, -ERR_PARSE, 1, 4, "0x0b"},
	    {"[1]\xc2\xa0", 0, 0, -ERR_PARSE, 1, 4, "0xc2"},
	};
	struct jdoc *doc = NULL;
	struct diag d;
	size_t i, len;
	int r;

	(void)state;
	for (i = 0; i < JE_COUNT(bad); i++) {
		len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		r = je_parse(bad[i].in, len, bad[i].flags, &doc, &d);
		if (r != bad[i].code || d.line != bad[i].line ||
		    d.col != bad[i].col || strstr(d.msg, bad[i].msg) == NULL)
			fail_msg("invalid #%zu: got %d at %u:%u \"%s\"; want "
			         "%d at %u:%u with \"%s\"",
			         i, r, d.line, d.col, d.msg, bad[i].code,
			         bad[i].line, bad[i].col, bad[i].msg);
		assert_null(doc);
	}
}

static void test_jsonedit_parse_jsonc(void **state)
{
	static const char *const ok[] = {
	    "// leading\n{}",
	    "{} // trailing without newline",
	    "{}/**/",
	    "/*a*/ {/*b*/ \"k\" /*c*/ : /*d*/ 1 /*e*/ , /*f*/ } /*g*/",
	    "{\"a\": [1, 2, ], \"b\": {\"c\": 1, }, }",
	    "{\r\n  // crlf comment\r\n  \"a\": 1,\r\n}\r\n",
	    "{\"url\": \"http://not/a//comment\" /* \"x\": 1 */}",
	    "[/* ** / * */]",
	    "{\"a\": 1 // c\r}",
	    "{/*\n multi\n line\n*/}",
	};
	struct jdoc *doc;
	struct diag d;
	size_t i;

	(void)state;
	for (i = 0; i < JE_COUNT(ok); i++) {
		if (je_parse(ok[i], strlen(ok[i]), JDOC_JSONC, &doc, &d) != 0)
			fail_msg("JSONC #%zu rejected: %u:%u %s", i, d.line,
			         d.col, d.msg);
		jdoc_free(doc);
		/* None of them is plain JSON. */
		assert_int_equal(je_parse(ok[i], strlen(ok[i]), 0, &doc, &d),
		                 -ERR_PARSE);
	}
}

static void test_jsonedit_parse_duplicate(void **state)
{
	static const struct je_bad dup[] = {
	    {"{\"a\":1,\"a\":2}", 0, 0, -ERR_DUPLICATE, 1, 8,
	     "duplicate key \"a\" (first at line 1, column 2)"},
	    {"{\"x\":{\"y\":[{\"k\":1,\n\"k\":2}]}}", 0, 0, -ERR_DUPLICATE, 2,
	     1, "\"k\""},
	    {"{\"a\":1,\"\\u0061\":2}", 0, 0, -ERR_DUPLICATE, 1, 8, "\"a\""},
	    {"{\"\\ud83d\\ude00\":1,\"😀\":2}", 0, 0, -ERR_DUPLICATE, 1, 19,
	     "\"😀\""},
	    {"{\"a\\nb\":1,\"a\\u000ab\":2}", 0, 0, -ERR_DUPLICATE, 1, 11,
	     "\"a\\u000ab\""},
	    {"{\"mcpServers\": {\"s\": {}, // x\n\"s\": {},}}", 0, JDOC_JSONC,
	     -ERR_DUPLICATE, 2, 1, "\"s\""},
	};
	struct jdoc *doc = NULL;
	struct diag d;
	struct buf b = BUF_INIT;
	size_t i, len;
	int r;

	(void)state;
	for (i = 0; i < JE_COUNT(dup); i++) {
		len = dup[i].len ? dup[i].len : strlen(dup[i].in);
		r = je_parse(dup[i].in, len, dup[i].flags, &doc, &d);
		if (r != dup[i].code || d.line != dup[i].line ||
		    d.col != dup[i].col || strstr(d.msg, dup[i].msg) == NULL)
			fail_msg("dup #%zu: got %d at %u:%u \"%s\"", i, r,
			         d.line, d.col, d.msg);
	}
	/* A large object goes through the hash table: no false positive,
	 * and the duplicate at its end is found. */
	assert_int_equal(buf_puts(&b, "{\"big\": {"), 0);
	for (i = 0; i < 2000; i++)
		assert_int_equal(buf_printf(&b, "\"k%zu\": %zu, ", i, i), 0);
	assert_int_equal(buf_puts(&b, "\"last\": 0}}"), 0);
	assert_int_equal(je_parse(b.data, b.len, 0, &doc, &d), 0);
	jdoc_free(doc);
	b.len -= 2;
	assert_int_equal(buf_puts(&b, ", \"k1234\": 1}}"), 0);
	assert_int_equal(je_parse(b.data, b.len, 0, &doc, &d), -ERR_DUPLICATE);
	assert_non_null(strstr(d.msg, "\"k1234\""));
	buf_free(&b);
}

static void test_jsonedit_parse_depth(void **state)
{
	struct buf b = BUF_INIT;
	struct jdoc *doc;
	struct diag d;
	size_t i;

	(void)state;
	/* JDOC_MAX_DEPTH levels parse; one more does not. */
	for (i = 0; i < JDOC_MAX_DEPTH; i++)
		assert_int_equal(buf_puts(&b, i % 2 ? "[" : "{\"k\":"), 0);
	for (i = JDOC_MAX_DEPTH; i-- > 0;)
		assert_int_equal(buf_puts(&b, i % 2 ? "]" : "}"), 0);
	assert_int_equal(je_parse(b.data, b.len, 0, &doc, &d), 0);
	jdoc_free(doc);
	buf_reset(&b);
	for (i = 0; i < JDOC_MAX_DEPTH + 1; i++)
		assert_int_equal(buf_putc(&b, '['), 0);
	assert_int_equal(je_parse(b.data, b.len, 0, &doc, &d), -ERR_TOOBIG);
	assert_int_equal(d.col, JDOC_MAX_DEPTH + 1);
	/* Far deeper input is rejected as quickly, without recursion. */
	buf_reset(&b);
	for (i = 0; i < 1000000; i++)
		assert_int_equal(buf_putc(&b, '['), 0);
	assert_int_equal(je_parse(b.data, b.len, 0, &doc, &d), -ERR_TOOBIG);
	buf_free(&b);
}

static void test_jsonedit_parse_keeps_text(void **state)
{
	static const char in[] =
	    "\xef\xbb\xbf{\r\n\t\"a\": 1.0,\r\n\t\"b\": 1e3\r\n}\r\n";
	struct jdoc *doc;
	struct diag d;
	const char *t;
	size_t len;

	(void)state;
	assert_int_equal(je_parse(in, sizeof(in) - 1, 0, &doc, &d), 0);
	t = jdoc_text(doc, &len);
	assert_int_equal(len, sizeof(in) - 1);
	assert_memory_equal(t, in, len);
	assert_int_equal(t[len], '\0');
	jdoc_free(doc);
	jdoc_free(NULL);
}

/* Members: names, lookup, decoding */

static void test_jsonedit_member_names(void **state)
{
	static const char in[] = "{\"mcpServers\": {\"b\": 1, \"a\": 2, "
	                         "\"\\u00e9t\\u00e9\": 3, \"\": 4},"
	                         " \"list\": [], \"n\": null}";
	const char *path[] = {"mcpServers"}, *bad[] = {"list"},
	           *miss[] = {"nope", "x"}, *deep[] = {"mcpServers", "a"};
	struct jdoc *doc;
	struct diag d;
	char **names;
	size_t n;

	(void)state;
	assert_int_equal(je_parse(in, sizeof(in) - 1, 0, &doc, &d), 0);
	assert_int_equal(jdoc_member_names(doc, path, 1, &names, &n, &d), 0);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "b");
	assert_string_equal(names[1], "a");
	assert_string_equal(names[2], "été");
	assert_string_equal(names[3], "");
	jdoc_names_free(names, n);
	assert_int_equal(jdoc_member_names(doc, NULL, 0, &names, &n, &d), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[2], "n");
	jdoc_names_free(names, n);
	jdoc_names_free(NULL, 0);

	assert_int_equal(jdoc_find_object(doc, path, 1, &d), 0);
	assert_int_equal(jdoc_find_object(doc, NULL, 0, &d), 0);
	assert_int_equal(jdoc_find_object(doc, bad, 1, &d), -ERR_TYPE);
	assert_non_null(strstr(d.msg, "list is not an object"));
	assert_int_equal(d.line, 1);
	assert_int_equal(jdoc_find_object(doc, miss, 2, &d), -ERR_NOENT);
	assert_non_null(strstr(d.msg, "nope"));
	assert_int_equal(jdoc_find_object(doc, deep, 2, &d), -ERR_TYPE);
	assert_non_null(strstr(d.msg, "mcpServers.a"));
	assert_int_equal(jdoc_member_names(doc, miss, 1, &names, &n, &d),
	                 -ERR_NOENT);
	jdoc_free(doc);

	/* An empty object has no names; a root that is no object has none. */
	assert_int_equal(je_parse("{}", 2, 0, &doc, &d), 0);
	assert_int_equal(jdoc_member_names(doc, NULL, 0, &names, &n, &d), 0);
	assert_int_equal(n, 0);
	jdoc_names_free(names, n);
	jdoc_free(doc);
	assert_int_equal(je_parse("[{\"a\":{}}]", 10, 0, &doc, &d), 0);
	assert_int_equal(jdoc_find_object(doc, NULL, 0, &d), -ERR_TYPE);
	assert_int_equal(jdoc_member_names(doc, NULL, 0, &names, &n, &d),
	                 -ERR_TYPE);
	jdoc_free(doc);
	/* A name holding NUL cannot be a C string. */
	assert_int_equal(je_parse("{\"a\\u0000b\":1}", 14, 0, &doc, &d), 0);
	assert_int_equal(jdoc_member_names(doc, NULL, 0, &names, &n, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "\"a\\u0000b\""));
	jdoc_free(doc);
}

static void je_assert_get(const struct jdoc *doc, const char *const *path,
                          size_t depth, const char *name, const char *expect)
{
	json_t *v = NULL, *want;
	struct diag d;
	char *s;

	diag_clear(&d);
	if (jdoc_member_get(doc, path, depth, name, &v, &d) != 0)
		fail_msg("get %s: %s", name, d.msg);
	want = json_loads(expect, JSON_DECODE_ANY, NULL);
	assert_non_null(want);
	if (!json_equal(v, want)) {
		s = json_dumps(v, JSON_ENCODE_ANY);
		fail_msg("get %s: got %s, want %s", name, s, expect);
	}
	json_decref(v);
	json_decref(want);
}

static void test_jsonedit_member_get(void **state)
{
	static const char in[] =
	    "{\n"
	    "  // servers\n"
	    "  \"mcpServers\": {\n"
	    "    \"a\": { \"command\": \"npx\", /* c */ \"args\": [\"-y\", "
	    "\"x\",], },\n"
	    "    \"b\": {\"url\": \"https:\\/\\/x\\/\\u00e9\\ud83d\\ude00\","
	    " \"n\": [0, -1, 1.0, 1e3, -2.5E-3, "
	    "9223372036854775807, -9223372036854775808, "
	    "9223372036854775808, 123456789012345678901234567890]},\n"
	    "    \"c\": [true, false, null, {}, [], \"\"],\n"
	    "  },\n"
	    "}\n";
	const char *path[] = {"mcpServers"};
	struct jdoc *doc;
	struct diag d;
	json_t *v = NULL;

	(void)state;
	assert_int_equal(je_parse(in, sizeof(in) - 1, JDOC_JSONC, &doc, &d), 0);
	je_assert_get(doc, path, 1, "a",
	              "{\"command\":\"npx\",\"args\":[\"-y\",\"x\"]}");
	je_assert_get(doc, path, 1, "b",
	              "{\"url\":\"https://x/é😀\",\"n\":[0,-1,1.0,1000.0,"
	              "-0.0025,9223372036854775807,-9223372036854775808,"
	              "9223372036854775808.0,1.2345678901234568e29]}");
	je_assert_get(doc, path, 1, "c", "[true,false,null,{},[],\"\"]");
	je_assert_get(doc, NULL, 0, "mcpServers",
	              "{\"a\":{\"command\":\"npx\",\"args\":[\"-y\",\"x\"]},"
	              "\"b\":{\"url\":\"https://x/é😀\",\"n\":[0,-1,1.0,1000.0,"
	              "-0.0025,9223372036854775807,-9223372036854775808,"
	              "9223372036854775808.0,1.2345678901234568e29]},"
	              "\"c\":[true,false,null,{},[],\"\"]}");
	assert_int_equal(jdoc_member_get(doc, path, 1, "zz", &v, &d),
	                 -ERR_NOENT);
	assert_non_null(strstr(d.msg, "mcpServers.zz"));
	assert_null(v);
	jdoc_free(doc);

	/* Values jansson cannot hold are reported, not mangled. */
	assert_int_equal(je_parse("{\"a\":[1e400],\"b\":\"x\\u0000\","
	                          "\"c\":{\"\\u0000\":1}}",
	                          44, 0, &doc, &d),
	                 0);
	assert_int_equal(jdoc_member_get(doc, NULL, 0, "a", &v, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "1e400"));
	assert_int_equal(jdoc_member_get(doc, NULL, 0, "b", &v, &d),
	                 -ERR_INVALID);
	assert_int_equal(jdoc_member_get(doc, NULL, 0, "c", &v, &d),
	                 -ERR_INVALID);
	assert_null(v);
	jdoc_free(doc);
}

/* Editing: golden outputs, byte for byte */

static const struct je_golden je_pretty[] = {
    {"pretty 2: insert after a user server",
     "{\n  \"numStartups\": 3,\n  \"mcpServers\": {\n    \"user\": {\n"
     "      \"command\": \"u\"\n    }\n  },\n  \"tipsHistory\": {}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\n  \"numStartups\": 3,\n  \"mcpServers\": {\n    \"user\": {\n"
     "      \"command\": \"u\"\n    },\n    \"mf\": {\n"
     "      \"command\": \"npx\",\n      \"args\": [\n        \"-y\",\n"
     "        \"srv\"\n      ]\n    }\n  },\n  \"tipsHistory\": {}\n}\n"},
    {"pretty 2: replace in place",
     "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"u\"\n"
     "    },\n    \"b\": 1\n  }\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"a", "{\"command\":\"v\",\"env\":{\"K\":\"1\"}}"}},
     0,
     "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"v\",\n"
     "      \"env\": {\n        \"K\": \"1\"\n      }\n    },\n"
     "    \"b\": 1\n  }\n}\n"},
    {"pretty 2: remove the first of two",
     "{\n  \"mcpServers\": {\n    \"a\": 1,\n    \"b\": 2\n  }\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"a", NULL}},
     0,
     "{\n  \"mcpServers\": {\n    \"b\": 2\n  }\n}\n"},
    {"pretty 2: remove the last of two",
     "{\n  \"mcpServers\": {\n    \"a\": 1,\n    \"b\": 2\n  }\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"b", NULL}},
     0,
     "{\n  \"mcpServers\": {\n    \"a\": 1\n  }\n}\n"},
    {"pretty 2: remove a middle one",
     "{\n  \"s\": {\n    \"a\": 1,\n    \"b\": 2,\n    \"c\": 3\n  }\n}\n",
     0,
     {"s"},
     1,
     {{"b", NULL}},
     0,
     "{\n  \"s\": {\n    \"a\": 1,\n    \"c\": 3\n  }\n}\n"},
    {"pretty 2: removing the only member leaves {}",
     "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"x\"\n"
     "    }\n  },\n  \"z\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"a", NULL}},
     0,
     "{\n  \"mcpServers\": {},\n  \"z\": 1\n}\n"},
    {"pretty 2: pruned when emptied",
     "{\n  \"y\": 0,\n  \"mcpServers\": {\n    \"a\": 1\n  },\n"
     "  \"z\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"a", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\n  \"y\": 0,\n  \"z\": 1\n}\n"},
    {"pretty 2: empty object filled",
     "{\n  \"mcpServers\": {},\n  \"z\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"a", "[]"}, {"b", "{}"}},
     0,
     "{\n  \"mcpServers\": {\n    \"a\": [],\n    \"b\": {}\n  },\n"
     "  \"z\": 1\n}\n"},
    {"pretty 2: created at the end of the root",
     "{\n  \"numStartups\": 1,\n  \"theme\": \"dark\"\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "{\n  \"numStartups\": 1,\n  \"theme\": \"dark\",\n"
     "  \"mcpServers\": {\n    \"mf\": {\n      \"command\": \"x\"\n"
     "    }\n  }\n}\n"},
    {"pretty 2: several edits in one call",
     "{\n  \"s\": {\n    \"keep\": 1.0,\n    \"old\": 1,\n"
     "    \"gone\": 2\n  }\n}\n",
     0,
     {"s"},
     1,
     {{"new", "true"}, {"old", "\"x\""}, {"gone", NULL}, {"absent", NULL}},
     0,
     "{\n  \"s\": {\n    \"keep\": 1.0,\n    \"old\": \"x\",\n"
     "    \"new\": true\n  }\n}\n"},
    {"pretty 4: insert",
     "{\n    \"mcpServers\": {\n        \"a\": 1\n    }\n}",
     0,
     {"mcpServers"},
     1,
     {{"b", "{\"k\":[1]}"}},
     0,
     "{\n    \"mcpServers\": {\n        \"a\": 1,\n        \"b\": {\n"
     "            \"k\": [\n                1\n            ]\n"
     "        }\n    }\n}"},
    {"pretty 4: create",
     "{\n    \"a\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\n    \"a\": 1,\n    \"mcpServers\": {\n        \"mf\": {\n"
     "            \"command\": \"npx\",\n            \"args\": [\n"
     "                \"-y\",\n                \"srv\"\n            ]\n"
     "        }\n    }\n}\n"},
    {"tabs: create",
     "{\n\t\"a\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\n\t\"a\": 1,\n\t\"mcpServers\": {\n\t\t\"mf\": {\n"
     "\t\t\t\"command\": \"npx\",\n\t\t\t\"args\": [\n\t\t\t\t\"-y\",\n"
     "\t\t\t\t\"srv\"\n\t\t\t]\n\t\t}\n\t}\n}\n"},
    {"tabs: insert into an empty object",
     "{\n\t\"mcpServers\": {}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", "{\"a\":1}"}},
     0,
     "{\n\t\"mcpServers\": {\n\t\t\"mf\": {\n\t\t\t\"a\": 1\n\t\t}\n"
     "\t}\n}\n"},
    {"CRLF: create",
     "{\r\n  \"a\": 1\r\n}\r\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "{\r\n  \"a\": 1,\r\n  \"mcpServers\": {\r\n    \"mf\": {\r\n"
     "      \"command\": \"x\"\r\n    }\r\n  }\r\n}\r\n"},
    {"CRLF: remove",
     "{\r\n  \"s\": {\r\n    \"a\": 1,\r\n    \"b\": 2\r\n  }\r\n}\r\n",
     0,
     {"s"},
     1,
     {{"a", NULL}},
     0,
     "{\r\n  \"s\": {\r\n    \"b\": 2\r\n  }\r\n}\r\n"},
    {"BOM: kept, and the root's indentation is measured after it",
     "\xef\xbb\xbf{\n  \"mcpServers\": {}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "\xef\xbb\xbf{\n  \"mcpServers\": {\n    \"mf\": {\n"
     "      \"command\": \"x\"\n    }\n  }\n}\n"},
    {"empty root",
     "{}",
     0,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "{\n  \"mcpServers\": {\n    \"mf\": {\n      \"command\": \"x\"\n"
     "    }\n  }\n}"},
    {"empty root, depth 0",
     "{}\n",
     0,
     {NULL},
     0,
     {{"a", "1"}},
     0,
     "{\n  \"a\": 1\n}\n"},
    {"empty object written with blanks is rewritten",
     "{\n  \"s\": { }\n}\n",
     0,
     {"s"},
     1,
     {{"a", "1"}},
     0,
     "{\n  \"s\": {\n    \"a\": 1\n  }\n}\n"},
    {"depth 2: inner object created in an existing parent",
     "{\n  \"outer\": {\n    \"k\": true\n  }\n}\n",
     0,
     {"outer", "inner"},
     2,
     {{"mf", "1"}},
     0,
     "{\n  \"outer\": {\n    \"k\": true,\n    \"inner\": {\n"
     "      \"mf\": 1\n    }\n  }\n}\n"},
    {"depth 2: both created",
     "{\n  \"a\": 1\n}\n",
     0,
     {"outer", "inner"},
     2,
     {{"mf", "1"}},
     0,
     "{\n  \"a\": 1,\n  \"outer\": {\n    \"inner\": {\n      \"mf\": 1\n"
     "    }\n  }\n}\n"},
    {"depth 2: existing, replace",
     "{\n  \"projects\": {\n    \"/p\": {\n      \"mcpServers\": {\n"
     "        \"a\": 1\n      }\n    }\n  }\n}\n",
     0,
     {"projects", "/p", "mcpServers"},
     3,
     {{"a", "[2]"}},
     0,
     "{\n  \"projects\": {\n    \"/p\": {\n      \"mcpServers\": {\n"
     "        \"a\": [\n          2\n        ]\n      }\n    }\n  }\n}\n"},
    {"nothing to create for removals",
     "{\n  \"a\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"x", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\n  \"a\": 1\n}\n"},
    {"an empty object is not pruned when nothing was removed",
     "{\n  \"mcpServers\": {}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"x", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\n  \"mcpServers\": {}\n}\n"},
    {"nothing created when the edits cancel out",
     "{\n  \"a\": 1\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"x", "1"}, {"x", NULL}},
     0,
     "{\n  \"a\": 1\n}\n"},
};

static void test_jsonedit_edit_pretty(void **state)
{
	(void)state;
	je_run_goldens(je_pretty, JE_COUNT(je_pretty));
}

static const struct je_golden je_compact[] = {
    {"minified: insert",
     "{\"mcpServers\":{\"user\":{\"command\":\"u\"}},\"x\":1}",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\"mcpServers\":{\"user\":{\"command\":\"u\"},\"mf\":{\"command\":"
     "\"npx\",\"args\":[\"-y\",\"srv\"]}},\"x\":1}"},
    {"minified: remove the only member",
     "{\"mcpServers\":{\"user\":{\"command\":\"u\"}},\"x\":1}",
     0,
     {"mcpServers"},
     1,
     {{"user", NULL}},
     0,
     "{\"mcpServers\":{},\"x\":1}"},
    {"minified: create",
     "{\"x\":1}",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\"x\":1,\"mcpServers\":{\"mf\":{\"command\":\"npx\",\"args\":"
     "[\"-y\",\"srv\"]}}}"},
    {"minified: fill an empty object, keep the final newline",
     "{\"mcpServers\":{}}\n",
     0,
     {"mcpServers"},
     1,
     {{"mf", JE_SRV}},
     0,
     "{\"mcpServers\":{\"mf\":{\"command\":\"npx\",\"args\":[\"-y\","
     "\"srv\"]}}}\n"},
    {"minified: depth 2 created",
     "{\"a\":1}",
     0,
     {"outer", "inner"},
     2,
     {{"mf", "1"}},
     0,
     "{\"a\":1,\"outer\":{\"inner\":{\"mf\":1}}}"},
    {"minified: pruned",
     "{\"a\":1,\"mcpServers\":{\"mf\":1},\"b\":2}",
     0,
     {"mcpServers"},
     1,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\"a\":1,\"b\":2}"},
    {"minified: the first member pruned",
     "{\"mcpServers\":{\"mf\":1},\"b\":2}",
     0,
     {"mcpServers"},
     1,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\"b\":2}"},
    {"minified: depth 2 pruned as a whole",
     "{\"a\":1,\"outer\":{\"inner\":{\"mf\":1}}}",
     0,
     {"outer", "inner"},
     2,
     {{"mf", NULL}},
     JEDIT_PRUNE_PATH,
     "{\"a\":1}"},
    {"minified: depth 2, only the edited object pruned",
     "{\"a\":1,\"outer\":{\"inner\":{\"mf\":1}}}",
     0,
     {"outer", "inner"},
     2,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\"a\":1,\"outer\":{}}"},
    {"minified: the only member pruned",
     "{\"mcpServers\":{\"mf\":1}}",
     0,
     {"mcpServers"},
     1,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{}"},
    {"one line with spaces in a pretty file",
     "{\n  \"mcpServers\": {\"a\": 1}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"b", "{\"c\":[1,2],\"d\":{}}"}},
     0,
     "{\n  \"mcpServers\": {\"a\": 1, \"b\": {\"c\": [1, 2], \"d\": {}}}\n"
     "}\n"},
    {"one line with spaces: remove the first",
     "{\"a\": 1, \"mcpServers\": {\"x\": 1, \"y\": 2}}",
     0,
     {"mcpServers"},
     1,
     {{"x", NULL}},
     0,
     "{\"a\": 1, \"mcpServers\": {\"y\": 2}}"},
    {"one line with spaces: fill an empty object",
     "{\"a\": 1, \"mcpServers\": {}}",
     0,
     {"mcpServers"},
     1,
     {{"x", "[true]"}},
     0,
     "{\"a\": 1, \"mcpServers\": {\"x\": [true]}}"},
    {"one line inside spaced braces",
     "{ \"s\": { \"a\": 1 } }",
     0,
     {"s"},
     1,
     {{"b", "2"}},
     0,
     "{ \"s\": { \"a\": 1, \"b\": 2 } }"},
    {"members laid out after the brace",
     "{\"mcpServers\": {\"a\": {\"command\": \"x\"},\n"
     "                \"b\": {\"command\": \"y\"}},\n \"k\": 1}\n",
     0,
     {"mcpServers"},
     1,
     {{"c", "{\"url\":\"u\"}"}},
     0,
     "{\"mcpServers\": {\"a\": {\"command\": \"x\"},\n"
     "                \"b\": {\"command\": \"y\"},\n"
     "                \"c\": {\n                 \"url\": \"u\"\n"
     "                }},\n \"k\": 1}\n"},
};

static void test_jsonedit_edit_compact(void **state)
{
	(void)state;
	je_run_goldens(je_compact, JE_COUNT(je_compact));
}

static const struct je_golden je_jsonc[] = {
    {"JSONC: insert after a trailing comma and a line comment",
     "// Gemini\n{\n  \"theme\": \"Default\", // ui\n"
     "  \"mcpServers\": {\n    // mine\n"
     "    \"user\": { \"command\": \"u\" }, // trailing\n  },\n"
     "  /* end */\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "// Gemini\n{\n  \"theme\": \"Default\", // ui\n"
     "  \"mcpServers\": {\n    // mine\n"
     "    \"user\": { \"command\": \"u\" }, // trailing\n"
     "    \"mf\": {\n      \"command\": \"x\"\n    },\n  },\n"
     "  /* end */\n}\n"},
    {"JSONC: remove the only member, comments stay",
     "{\n  \"mcpServers\": {\n    // mine\n"
     "    \"user\": { \"command\": \"u\" }, // trailing\n  },\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"user", NULL}},
     0,
     "{\n  \"mcpServers\": {\n    // mine // trailing\n  },\n}\n"},
    {"JSONC: create after a line comment, comma before it",
     "{\n  \"theme\": \"Default\" // ui\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"mf", "{\"command\":\"x\"}"}},
     0,
     "{\n  \"theme\": \"Default\", // ui\n  \"mcpServers\": {\n"
     "    \"mf\": {\n      \"command\": \"x\"\n    }\n  }\n}\n"},
    {"JSONC: comments before the closing brace stay after",
     "{\n  \"mcpServers\": {\n    \"local\": { \"command\": \"node\" }"
     " // note\n    // before the brace\n  }\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"mf", "1"}},
     0,
     "{\n  \"mcpServers\": {\n    \"local\": { \"command\": \"node\" },"
     " // note\n    \"mf\": 1\n    // before the brace\n  }\n}\n"},
    {"JSONC: remove a last member preceded by comments",
     "{\n  \"s\": {\n    \"a\": 1, // about a\n    // about b\n"
     "    \"b\": 2\n  }\n}\n",
     JDOC_JSONC,
     {"s"},
     1,
     {{"b", NULL}},
     0,
     "{\n  \"s\": {\n    \"a\": 1 // about a\n    // about b\n  }\n}\n"},
    {"JSONC: remove a first member, the next one's comment stays",
     "{\n  \"s\": {\n    \"a\": 1,\n    // about b\n    \"b\": 2\n"
     "  }\n}\n",
     JDOC_JSONC,
     {"s"},
     1,
     {{"a", NULL}},
     0,
     "{\n  \"s\": {\n    // about b\n    \"b\": 2\n  }\n}\n"},
    {"JSONC: fill an object holding only a comment",
     "{\n  \"mcp\": {\n    // nothing yet\n  }\n}\n",
     JDOC_JSONC,
     {"mcp"},
     1,
     {{"jira", "{\"type\":\"remote\",\"url\":\"https://j/mcp\"}"}},
     0,
     "{\n  \"mcp\": {\n    // nothing yet\n    \"jira\": {\n"
     "      \"type\": \"remote\",\n      \"url\": \"https://j/mcp\"\n"
     "    }\n  }\n}\n"},
    {"JSONC: a line comment ended by a lone CR",
     "{\"s\":{//\r}}",
     JDOC_JSONC,
     {"s"},
     1,
     {{"a", "1"}},
     0,
     "{\"s\":{//\n  \"a\":1\r}}"},
    {"JSONC: trailing comma kept on one line",
     "{\"mcpServers\": {\"a\": 1, /* c */}}",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"b", "2"}},
     0,
     "{\"mcpServers\": {\"a\": 1, /* c */ \"b\": 2,}}"},
    {"JSONC: a closing brace after the last member on its line",
     "{ // first\n  \"mcpServers\": { // servers\n    \"a\": 1 }\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"a", NULL}},
     0,
     "{ // first\n  \"mcpServers\": { // servers\n }\n}\n"},
    {"JSONC: insert before a brace on the last member's line",
     "{ // first\n  \"mcpServers\": { // servers\n    \"a\": 1 }\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"b", "2"}},
     0,
     "{ // first\n  \"mcpServers\": { // servers\n    \"a\": 1,\n"
     "    \"b\": 2 }\n}\n"},
    {"JSONC: comments inside a member go with it",
     "{\n  \"s\" /* k */ : /* v */ {\n"
     "    \"a\" /* in */ : 1 /* before comma */ ,\n    \"b\": 2\n  }\n}\n",
     JDOC_JSONC,
     {"s"},
     1,
     {{"a", NULL}},
     0,
     "{\n  \"s\" /* k */ : /* v */ {\n    \"b\": 2\n  }\n}\n"},
    {"JSONC: replace keeps the comments around the value",
     "{\n  \"s\": {\n    \"a\": /* was */ 1 /* after */,\n  }\n}\n",
     JDOC_JSONC,
     {"s"},
     1,
     {{"a", "2"}},
     0,
     "{\n  \"s\": {\n    \"a\": /* was */ 2 /* after */,\n  }\n}\n"},
    {"JSONC: not pruned when a comment would go with it",
     "{\n  \"mcpServers\": { // mine\n    \"mf\": 1\n  },\n  \"z\": 1\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\n  \"mcpServers\": { // mine\n  },\n  \"z\": 1\n}\n"},
    {"JSONC: a parent holding a comment stops the path pruning",
     "{\n  \"a\": { /* keep */ \"b\": {\"mf\": 1}},\n  \"z\": 1\n}\n",
     JDOC_JSONC,
     {"a", "b"},
     2,
     {{"mf", NULL}},
     JEDIT_PRUNE_PATH,
     "{\n  \"a\": { /* keep */},\n  \"z\": 1\n}\n"},
    {"JSONC: pruned with its trailing comma",
     "{\n  \"a\": 1,\n  \"mcpServers\": {\n    \"mf\": 1,\n  },\n}\n",
     JDOC_JSONC,
     {"mcpServers"},
     1,
     {{"mf", NULL}},
     JEDIT_PRUNE_EMPTY,
     "{\n  \"a\": 1,\n}\n"},
};

static void test_jsonedit_edit_jsonc(void **state)
{
	(void)state;
	je_run_goldens(je_jsonc, JE_COUNT(je_jsonc));
}

static const struct je_golden je_values[] = {
    {"unicode and escapes in keys and values",
     "{\n  \"mcpServers\": {}\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"naïve \"q\" \\ \n/日本",
       "{\"url\":\"https://x/é?a=1&b=/\",\"env\":{\"K\":\"tab\\there\\u0001"
       "\\u007f\\u2028😀\"}}"}},
     0,
     "{\n  \"mcpServers\": {\n    \"naïve \\\"q\\\" \\\\ \\n/日本\": {\n"
     "      \"url\": \"https://x/é?a=1&b=/\",\n      \"env\": {\n"
     "        \"K\": \"tab\\there\\u0001\x7f\xe2\x80\xa8😀\"\n      }\n"
     "    }\n  }\n}\n"},
    {"scalars: numbers keep their kind",
     "{\"s\":{}}",
     0,
     {"s"},
     1,
     {{"i", "[0,-7,9223372036854775807]"},
      {"r", "[1.0,0.1,-2.5e-3,1e300,1.5]"},
      {"l", "[true,false,null,\"\",[],{}]"}},
     0,
     "{\"s\":{\"i\":[0,-7,9223372036854775807],\"r\":[1.0,0.1,-0.0025,"
     "1e+300,1.5],\"l\":[true,false,null,\"\",[],{}]}}"},
    {"nested arrays, pretty",
     "{\n  \"s\": {}\n}",
     0,
     {"s"},
     1,
     {{"a", "[[1],[],[{\"k\":[]}]]"}},
     0,
     "{\n  \"s\": {\n    \"a\": [\n      [\n        1\n      ],\n"
     "      [],\n      [\n        {\n          \"k\": []\n        }\n"
     "      ]\n    ]\n  }\n}"},
    {"user members keep their spelling",
     "{\n  \"mcpServers\": {\n    \"user\": {\"command\": \"u\", "
     "\"n\": 1.0, \"e\": 1e3, \"s\": \"\\u00e9\\/\"},\n"
     "    \"managed\": {\"command\": \"old\"},\n    \"user2\": -0\n"
     "  }\n}\n",
     0,
     {"mcpServers"},
     1,
     {{"managed", "{\"command\":\"new\"}"}},
     0,
     "{\n  \"mcpServers\": {\n    \"user\": {\"command\": \"u\", "
     "\"n\": 1.0, \"e\": 1e3, \"s\": \"\\u00e9\\/\"},\n"
     "    \"managed\": {\n      \"command\": \"new\"\n    },\n"
     "    \"user2\": -0\n  }\n}\n"},
    {"an equal value is left as written",
     "{\"s\": {\"m\": {\"a\" : 1,\"b\":[ 1 ], \"c\": \"\\u0041\"}}}",
     0,
     {"s"},
     1,
     {{"m", "{\"c\":\"A\",\"b\":[1],\"a\":1}"}},
     0,
     "{\"s\": {\"m\": {\"a\" : 1,\"b\":[ 1 ], \"c\": \"\\u0041\"}}}"},
    {"a key written with escapes is matched by its value",
     "{\"s\": {\"\\u0061\": 1}}",
     0,
     {"s"},
     1,
     {{"a", "2"}},
     0,
     "{\"s\": {\"\\u0061\": 2}}"},
    {"a path key written with escapes is found",
     "{\"\\u006dcpServers\": {}}",
     0,
     {"mcpServers"},
     1,
     {{"a", "2"}},
     0,
     "{\"\\u006dcpServers\": {\"a\": 2}}"},
};

static void test_jsonedit_edit_values(void **state)
{
	(void)state;
	je_run_goldens(je_values, JE_COUNT(je_values));
}

static void test_jsonedit_edit_many_siblings(void **state)
{
	struct buf in = BUF_INIT, want = BUF_INIT;
	const char *path[] = {"mcpServers"};
	struct je_edit e[] = {{"mf", "{\"command\":\"x\"}"}};
	struct diag d;
	size_t i, outlen;
	char *out;

	(void)state;
	assert_int_equal(buf_puts(&in, "{\n"), 0);
	for (i = 0; i < 60; i++)
		assert_int_equal(
		    buf_printf(&in, "  \"key%02zu\": %zu.0,\n", i, i), 0);
	assert_int_equal(buf_puts(&in, "  \"mcpServers\": {\n"), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(buf_printf(&in,
		                            "    \"user%02zu\": {\"command\": "
		                            "\"c\"},\n",
		                            i),
		                 0);
	assert_int_equal(buf_append(&want, in.data, in.len), 0);
	assert_int_equal(buf_puts(&in, "    \"last\": 1\n  },\n"
	                               "  \"zzz\": \"end\"\n}\n"),
	                 0);
	assert_int_equal(buf_puts(&want, "    \"last\": 1,\n    \"mf\": {\n"
	                                 "      \"command\": \"x\"\n    }\n"
	                                 "  },\n  \"zzz\": \"end\"\n}\n"),
	                 0);
	assert_int_equal(
	    je_apply(in.data, in.len, 0, path, 1, e, 1, 0, &out, &outlen, &d),
	    0);
	assert_int_equal(outlen, want.len);
	assert_memory_equal(out, want.data, outlen);
	free(out);
	buf_free(&in);
	buf_free(&want);
}

static void test_jsonedit_edit_errors(void **state)
{
	const char *path[] = {"mcpServers"}, *deep[] = {"a", "b"};
	struct je_edit add[] = {{"mf", "1"}};
	struct jedit bad[] = {{"\xff", NULL}};
	struct jdoc *doc;
	struct diag d;
	size_t outlen = 0;
	char *out = NULL;

	(void)state;
	assert_int_equal(
	    je_apply("[1]", 3, 0, path, 1, add, 1, 0, &out, &outlen, &d),
	    -ERR_TYPE);
	assert_int_equal(
	    je_apply("\"x\"", 3, 0, NULL, 0, add, 1, 0, &out, &outlen, &d),
	    -ERR_TYPE);
	assert_int_equal(je_apply("{\"mcpServers\": []}", 18, 0, path, 1, add,
	                          1, 0, &out, &outlen, &d),
	                 -ERR_TYPE);
	assert_non_null(strstr(d.msg, "mcpServers is not an object"));
	assert_int_equal(je_apply("{\"a\": {\"b\": \"x\"}}", 17, 0, deep, 2,
	                          add, 1, 0, &out, &outlen, &d),
	                 -ERR_TYPE);
	assert_non_null(strstr(d.msg, "a.b is not an object"));
	assert_null(out);
	assert_int_equal(je_parse("{}", 2, 0, &doc, &d), 0);
	assert_int_equal(jdoc_edit(doc, NULL, 0, bad, 1, 0, &out, &outlen, &d),
	                 -ERR_INVALID);
	assert_null(out);
	jdoc_free(doc);
}

/* A value nested deeper than the document may hold is refused. */
static void test_jsonedit_edit_too_deep(void **state)
{
	const char *path[] = {"s"};
	json_t *v = json_array(), *inner;
	struct jedit e = {"deep", NULL};
	struct jdoc *doc;
	struct diag d;
	size_t i, outlen;
	char *out = NULL;

	(void)state;
	for (i = 0; i < JDOC_MAX_DEPTH - 3; i++) {
		inner = json_array();
		json_array_append_new(inner, v);
		v = inner;
	}
	e.value = v;
	assert_int_equal(je_parse("{\"s\": {}}", 9, 0, &doc, &d), 0);
	/* root and s are two levels: 254 more fit. */
	assert_int_equal(jdoc_edit(doc, path, 1, &e, 1, 0, &out, &outlen, &d),
	                 0);
	free(out);
	inner = json_array();
	json_array_append_new(inner, v);
	e.value = inner;
	assert_int_equal(jdoc_edit(doc, path, 1, &e, 1, 0, &out, &outlen, &d),
	                 -ERR_TOOBIG);
	json_decref(inner);
	jdoc_free(doc);
}

/* The add-then-remove identity over varied files */

static const char *const je_files[] = {
    "claude.json",
    "claude-empty.json",
    "claude-none.json",
    "cursor-min.json",
    "cursor-empty.json",
    "empty.json",
    "empty-nl.json",
    "gemini.jsonc",
    "gemini-nocomma.jsonc",
    "opencode.jsonc",
    "opencode-comment-only.jsonc",
    "four-spaces.json",
    "tabs.json",
    "crlf.json",
    "bom.json",
    "bom-crlf-tabs.json",
    "one-line-spaces.json",
    "numbers.json",
    "mixed.json",
    "unicode-keys.json",
    "nested.json",
    "last-trailing-comment.jsonc",
    "trailing-comma-oneline.jsonc",
    "comments-inside.jsonc",
    "comment-brace-line.jsonc",
    "many-keys.json",
};

struct je_path {
	const char *p[3];
	size_t depth;
};

static const struct je_path je_paths[] = {
    {{NULL}, 0},
    {{"mcpServers"}, 1},
    {{"mcp"}, 1},
    {{"mcpfleet-absent"}, 1},
    {{"outer", "inner"}, 2},
    {{"mcpServers", "github"}, 2},
    {{"projects", "/home/ana/src/app", "mcpServers"}, 3},
};

static char *je_step(const char *in, size_t len, unsigned pflags,
                     const struct je_path *p, const struct je_edit *e,
                     size_t ne, unsigned eflags, size_t *outlen)
{
	struct diag d;
	char *out = NULL;
	int r;

	r = je_apply(in, len, pflags, p->p, p->depth, e, ne, eflags, &out,
	             outlen, &d);
	if (r != 0)
		fail_msg("edit: %d %s", r, d.msg);
	return out;
}

static void je_expect_same(const char *file, size_t pi, const char *how,
                           const char *a, size_t alen, const char *b,
                           size_t blen)
{
	if (alen == blen && memcmp(a, b, alen) == 0)
		return;
	je_dump("original", a, alen);
	je_dump("after add and remove", b, blen);
	fail_msg("%s, path #%zu, %s: bytes differ", file, pi, how);
}

/* True when the root has no member name (or name is NULL). */
static bool je_absent(const char *in, size_t len, unsigned pflags,
                      const char *name)
{
	struct jdoc *doc;
	struct diag d;
	json_t *v = NULL;
	int r;

	if (name == NULL)
		return false;
	assert_int_equal(je_parse(in, len, pflags, &doc, &d), 0);
	r = jdoc_member_get(doc, NULL, 0, name, &v, &d);
	json_decref(v);
	jdoc_free(doc);
	return r == -ERR_NOENT;
}

static void test_jsonedit_identity_add_remove(void **state)
{
	static const struct je_edit add[] = {
	    {"mcpfleet-a",
	     "{\"command\":\"npx\",\"args\":[\"-y\",\"a\"],\"env\":{}}"},
	    {"mcpfleet-b", "\"str\""},
	    {"mcpfleet-c", "[1,{\"x\":[]}]"},
	};
	static const struct je_edit rm[] = {
	    {"mcpfleet-a", NULL},
	    {"mcpfleet-b", NULL},
	    {"mcpfleet-c", NULL},
	};
	static const struct je_edit rm_ac[] = {
	    {"mcpfleet-a", NULL},
	    {"mcpfleet-c", NULL},
	};
	static const struct je_edit rm_rev[] = {
	    {"mcpfleet-c", NULL},
	    {"mcpfleet-b", NULL},
	    {"mcpfleet-a", NULL},
	};
	struct jdoc *doc;
	struct diag d;
	size_t fi, pi, k, len, l1, l2, l3, checked = 0;
	unsigned pflags, eflags;
	char *in, *s1, *s2, *s3, name[128];
	int r;

	(void)state;
	for (fi = 0; fi < JE_COUNT(je_files); fi++) {
		(void)snprintf(name, sizeof(name), "jsonedit/%s", je_files[fi]);
		in = tu_read_data(name, &len);
		pflags = strstr(name, ".jsonc") != NULL ? JDOC_JSONC : 0;
		for (pi = 0; pi < JE_COUNT(je_paths); pi++) {
			const struct je_path *p = &je_paths[pi];

			if (je_parse(in, len, pflags, &doc, &d) != 0)
				fail_msg("%s: %s", name, d.msg);
			r = jdoc_find_object(doc, p->p, p->depth, &d);
			jdoc_free(doc);
			if (r == -ERR_TYPE)
				continue;
			/* Prune only what the edits created. */
			eflags = 0;
			if (r == -ERR_NOENT)
				eflags = je_absent(in, len, pflags, p->p[0])
				             ? JEDIT_PRUNE_PATH
				             : JEDIT_PRUNE_EMPTY;
			/* One at a time, removed in order. */
			s1 = je_step(in, len, pflags, p, &add[0], 1, 0, &l1);
			for (k = 1; k < 3; k++) {
				s2 = je_step(s1, l1, pflags, p, &add[k], 1, 0,
				             &l2);
				free(s1);
				s1 = s2;
				l1 = l2;
			}
			s2 = je_step(s1, l1, pflags, p, &rm[0], 1, eflags, &l2);
			for (k = 1; k < 3; k++) {
				s3 = je_step(s2, l2, pflags, p, &rm[k], 1,
				             eflags, &l3);
				free(s2);
				s2 = s3;
				l2 = l3;
			}
			je_expect_same(name, pi, "in order", in, len, s2, l2);
			free(s2);
			/* Removed in reverse, all in one call. */
			s2 = je_step(s1, l1, pflags, p, rm_rev, 3, eflags, &l2);
			je_expect_same(name, pi, "reversed", in, len, s2, l2);
			free(s2);
			free(s1);
			/* Added in one call, removed one by one. */
			s1 = je_step(in, len, pflags, p, add, 3, 0, &l1);
			s2 = je_step(s1, l1, pflags, p, &rm[1], 1, eflags, &l2);
			s3 = je_step(s2, l2, pflags, p, rm_ac, 2, eflags, &l3);
			je_expect_same(name, pi, "one call", in, len, s3, l3);
			free(s1);
			free(s2);
			free(s3);
			checked++;
		}
		free(in);
	}
	assert_true(checked >= 60);
}

/*
 * A string's scan takes 16 bytes, then 8, then one at a time: a special
 * byte at every offset (each side of those blocks' edges) is seen, and the
 * indentation skip stops at the first byte that is not a space.
 */
static void test_jsonedit_parse_string_offsets(void **state)
{
	static const struct {
		const char *bytes;
		bool ok;
	} cases[] = {
	    {"\\\"", true},  {"\\u00e9", true}, {"\xc3\xa9", true},
	    {"\x7f", true},  {"\x01", false},   {"\x1f", false},
	    {"\x80", false}, {"\xc3", false},   {"\"x", false},
	    {"\\q", false},  {"\t", false},     {"\xf0\x9f\x98\x80", true},
	};
	struct buf t = BUF_INIT;
	struct jdoc *doc = NULL;
	struct diag d;
	size_t c, pre, post, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (pre = 0; pre < 40; pre++)
			for (post = 0; post < 20; post += 3) {
				buf_reset(&t);
				buf_append(&t, "{\n", strlen("{\n"));
				for (i = 0; i < pre % 19; i++)
					buf_append(&t, " ", strlen(" "));
				buf_append(&t, "\"k\": \"",
				           strlen("\"k\": \""));
				for (i = 0; i < pre; i++)
					buf_append(&t, "a", strlen("a"));
				buf_append(&t, cases[c].bytes,
				           strlen(cases[c].bytes));
				for (i = 0; i < post; i++)
					buf_append(&t, "b", strlen("b"));
				buf_append(&t, "\"}", strlen("\"}"));
				if ((jdoc_parse(t.data, t.len, 0, &doc, &d) ==
				     0) != cases[c].ok)
					fail_msg("case %zu at %zu+%zu: %s", c,
					         pre, post,
					         cases[c].ok ? d.msg
					                     : "accepted");
				jdoc_free(doc);
				doc = NULL;
			}
	buf_free(&t);
}

/*
 * jdoc_member_equal agrees with converting the member and json_equal(), on
 * entries that differ in one thing each and on ones that differ only in
 * how they are written.
 */
static void test_jsonedit_member_equal(void **state)
{
	static const char *const values[] = {
	    "{\"command\": \"npx\", \"args\": [\"-y\", \"x\"]}",
	    "{ \"args\" : [ \"-y\" , \"x\" ] , \"command\" : \"npx\" }",
	    "{\"command\": \"npx\", \"args\": [\"-y\"]}",
	    "{\"command\": \"npx\", \"args\": [\"-y\", \"x\", \"z\"]}",
	    "{\"command\": \"npx\"}",
	    "{\"command\": \"npx\", \"args\": [\"-y\", \"x\"], \"env\": {}}",
	    "{\"command\": \"n\\u0070x\", \"args\": [\"-y\", \"x\"]}",
	    "{\"command\": \"npx\", \"args\": [\"-y\", \"x\\u0000\"]}",
	    "{\"command\": \"caf\\u00e9\"}",
	    "{\"command\": \"caf\xc3\xa9\"}",
	    "{\"t\": 1}",
	    "{\"t\": 1.0}",
	    "{\"t\": 10}",
	    "{\"t\": true, \"f\": false, \"n\": null}",
	    "{\"t\": false, \"f\": false, \"n\": null}",
	    "{\"t\": [1, [2, {\"a\": []}]]}",
	    "{\"t\": [1, [2, {\"a\": [0]}]]}",
	    "[\"not\", \"an\", \"object\"]",
	    "\"text\"",
	    "{\"t\": 1e400}",
	};
	size_t i, k, n = sizeof(values) / sizeof(values[0]);
	struct buf t = BUF_INIT;
	const char *path[] = {"mcpServers"};
	struct jdoc *doc;
	struct diag d;

	(void)state;
	for (i = 0; i < n; i++) {
		json_t *want = json_loads(values[i], JSON_DECODE_ANY, NULL);

		if (want == NULL) /* 1e400: nothing jansson holds */
			continue;
		for (k = 0; k < n; k++) {
			json_t *cur = NULL;
			bool eq = true, expect;

			buf_reset(&t);
			buf_printf(&t, "{\"mcpServers\": {\"s\": %s}}",
			           values[k]);
			assert_int_equal(jdoc_parse(t.data, t.len, 0, &doc, &d),
			                 0);
			expect =
			    jdoc_member_get(doc, path, 1, "s", &cur, &d) == 0 &&
			    json_equal(cur, want);
			assert_int_equal(
			    jdoc_member_equal(doc, path, 1, "s", want, &eq, &d),
			    0);
			if (eq != expect)
				fail_msg("%s against %s: %d, expected %d",
				         values[k], values[i], eq, expect);
			json_decref(cur);
			jdoc_free(doc);
		}
		json_decref(want);
	}
	assert_int_equal(jdoc_parse("{\"a\": {}}", 9, 0, &doc, &d), 0);
	{
		json_t *w = json_object();
		bool eq = true;

		assert_int_equal(
		    jdoc_member_equal(doc, path, 1, "s", w, &eq, &d),
		    -ERR_NOENT);
		json_decref(w);
	}
	jdoc_free(doc);
	buf_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jsonedit_parse_valid),
	    cmocka_unit_test(test_jsonedit_parse_string_offsets),
	    cmocka_unit_test(test_jsonedit_member_equal),
	    cmocka_unit_test(test_jsonedit_parse_invalid),
	    cmocka_unit_test(test_jsonedit_parse_jsonc),
	    cmocka_unit_test(test_jsonedit_parse_duplicate),
	    cmocka_unit_test(test_jsonedit_parse_depth),
	    cmocka_unit_test(test_jsonedit_parse_keeps_text),
	    cmocka_unit_test(test_jsonedit_member_names),
	    cmocka_unit_test(test_jsonedit_member_get),
	    cmocka_unit_test(test_jsonedit_edit_pretty),
	    cmocka_unit_test(test_jsonedit_edit_compact),
	    cmocka_unit_test(test_jsonedit_edit_jsonc),
	    cmocka_unit_test(test_jsonedit_edit_values),
	    cmocka_unit_test(test_jsonedit_edit_many_siblings),
	    cmocka_unit_test(test_jsonedit_edit_errors),
	    cmocka_unit_test(test_jsonedit_edit_too_deep),
	    cmocka_unit_test(test_jsonedit_identity_add_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
