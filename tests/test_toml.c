/* SPDX-License-Identifier: MIT */
/* Tests of the TOML 1.0 parser, its section spans and its writer, by spec
 * section. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "toml.h"

/* One invalid document and the line its error is reported on (0: any). */
struct tt_bad {
	const char *text;
	unsigned line;
};

static struct toml_doc *tt_parse_len(const char *text, size_t len)
{
	struct toml_doc *doc = NULL;
	struct diag d;
	int r;

	diag_clear(&d);
	r = toml_parse(text, len, &doc, &d);
	if (r != 0)
		fail_msg("parse failed (%d) at %u:%u: %s\n--- input\n%.*s", r,
		         d.line, d.col, d.msg, (int)len, text);
	assert_non_null(doc);
	return doc;
}

static struct toml_doc *tt_parse(const char *text)
{
	return tt_parse_len(text, strlen(text));
}

/* Parses text and checks its JSON view (dates become strings, inf and nan
 * the strings "inf", "-inf", "nan"). */
static void tt_json_len(const char *text, size_t len, const char *expect)
{
	struct toml_doc *doc = tt_parse_len(text, len);
	json_error_t jerr;
	json_t *want, *got = NULL;
	char *a, *b;

	want = json_loads(expect, JSON_DECODE_ANY, &jerr);
	if (want == NULL)
		fail_msg("bad expected JSON %s: %s", expect, jerr.text);
	assert_int_equal(toml_to_json(toml_root(doc), &got), 0);
	if (!json_equal(want, got)) {
		a = json_dumps(want, JSON_SORT_KEYS);
		b = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("--- input\n%.*s\n--- expected\n%s\n--- got\n%s",
		         (int)len, text, a, b);
	}
	json_decref(want);
	json_decref(got);
	toml_free(doc);
}

static void tt_json(const char *text, const char *expect)
{
	tt_json_len(text, strlen(text), expect);
}

/* Checks that text fails with code (and line when not 0), leaving *out. */
static void tt_fail_len(const char *text, size_t len, int code, unsigned line)
{
	struct toml_doc *doc = (struct toml_doc *)&doc;
	struct diag d;
	int r;

	diag_clear(&d);
	r = toml_parse(text, len, &doc, &d);
	if (r != -code)
		fail_msg("expected error %d, got %d (%s)\n--- input\n%.*s",
		         -code, r, d.msg, (int)len, text);
	assert_ptr_equal(doc, (struct toml_doc *)&doc);
	assert_true(d.line >= 1 && d.col >= 1);
	assert_true(d.msg[0] != '\0');
	if (line != 0 && d.line != line)
		fail_msg("error on line %u, expected %u (%s)\n--- input\n%.*s",
		         d.line, line, d.msg, (int)len, text);
}

static void tt_fail(const char *text, int code, unsigned line)
{
	tt_fail_len(text, strlen(text), code, line);
}

static void tt_fail_all(const struct tt_bad *bad, size_t n, int code)
{
	size_t i;

	for (i = 0; i < n; i++)
		tt_fail(bad[i].text, code, bad[i].line);
}

/* Checks the message of the error in text. */
static void tt_fail_msg(const char *text, int code, unsigned line, unsigned col,
                        const char *msg)
{
	struct toml_doc *doc = NULL;
	struct diag d;

	assert_int_equal(toml_parse(text, strlen(text), &doc, &d), -code);
	if (strcmp(d.msg, msg) != 0 || d.line != line || d.col != col)
		fail_msg("got %u:%u: %s\nexpected %u:%u: %s", d.line, d.col,
		         d.msg, line, col, msg);
	assert_int_equal(d.line, line);
	assert_int_equal(d.col, col);
}

/* The value at a path of keys, NULL-terminated. */
static const struct toml_value *tt_get(const struct toml_doc *doc, ...)
{
	const struct toml_value *v = toml_root(doc);
	const char *k;
	va_list ap;

	va_start(ap, doc);
	while ((k = va_arg(ap, const char *)) != NULL) {
		assert_int_equal(toml_type(v), TOML_TABLE);
		v = toml_table_get(v, k);
		if (v == NULL)
			fail_msg("no key '%s'", k);
	}
	va_end(ap);
	return v;
}

static void tt_assert_str(const struct toml_value *v, const char *s)
{
	size_t len;

	assert_int_equal(toml_type(v), TOML_STRING);
	assert_non_null(toml_string(v, &len));
	assert_string_equal(toml_string(v, NULL), s);
	assert_int_equal(len, strlen(s));
}

static void tt_assert_dt(const struct toml_value *v, enum toml_type type,
                         const char *s)
{
	assert_int_equal(toml_type(v), type);
	assert_string_equal(toml_datetime(v), s);
}

#define TT_N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* The example at the top of the specification */

static void test_toml_spec_example(void **state)
{
	struct toml_doc *doc;
	const struct toml_value *v;

	(void)state;
	doc = tt_parse("# This is a TOML document\n"
	               "\n"
	               "title = \"TOML Example\"\n"
	               "\n"
	               "[owner]\n"
	               "name = \"Tom Preston-Werner\"\n"
	               "dob = 1979-05-27T07:32:00-08:00\n"
	               "\n"
	               "[database]\n"
	               "enabled = true\n"
	               "ports = [ 8000, 8001, 8002 ]\n"
	               "data = [ [\"delta\", \"phi\"], [3.14] ]\n"
	               "temp_targets = { cpu = 79.5, case = 72.0 }\n"
	               "\n"
	               "[servers]\n"
	               "\n"
	               "[servers.alpha]\n"
	               "ip = \"10.0.0.1\"\n"
	               "role = \"frontend\"\n"
	               "\n"
	               "[servers.beta]\n"
	               "ip = \"10.0.0.2\"\n"
	               "role = \"backend\"\n");
	tt_assert_str(tt_get(doc, "title", NULL), "TOML Example");
	tt_assert_str(tt_get(doc, "owner", "name", NULL), "Tom Preston-Werner");
	tt_assert_dt(tt_get(doc, "owner", "dob", NULL), TOML_DATETIME,
	             "1979-05-27T07:32:00-08:00");
	assert_true(toml_bool(tt_get(doc, "database", "enabled", NULL)));
	v = tt_get(doc, "database", "ports", NULL);
	assert_int_equal(toml_array_size(v), 3);
	assert_int_equal(toml_integer(toml_array_at(v, 2)), 8002);
	v = tt_get(doc, "database", "data", NULL);
	tt_assert_str(toml_array_at(toml_array_at(v, 0), 1), "phi");
	assert_true(toml_float(toml_array_at(toml_array_at(v, 1), 0)) == 3.14);
	v = tt_get(doc, "database", "temp_targets", NULL);
	assert_int_equal(toml_table_origin(v), TOML_ORIGIN_INLINE);
	assert_true(toml_float(toml_table_get(v, "case")) == 72.0);
	assert_int_equal(toml_table_size(tt_get(doc, "servers", NULL)), 2);
	tt_assert_str(tt_get(doc, "servers", "beta", "role", NULL), "backend");
	/* Members keep the document's order. */
	v = toml_root(doc);
	assert_int_equal(toml_table_size(v), 4);
	assert_string_equal(toml_table_key(v, 0), "title");
	assert_string_equal(toml_table_key(v, 1), "owner");
	assert_string_equal(toml_table_key(v, 2), "database");
	assert_string_equal(toml_table_key(v, 3), "servers");
	assert_null(toml_table_key(v, 4));
	assert_null(toml_table_value(v, 4));
	assert_null(toml_table_get(v, "nope"));
	toml_free(doc);
}

/* ------------------------------------------------------------------ */
/* Comment */

static void test_toml_comments_valid(void **state)
{
	(void)state;
	tt_json(
	    "# This is a full-line comment\n"
	    "key = \"value\"  # This is a comment at the end of a line\n"
	    "another = \"# This is not a comment\"\n",
	    "{\"key\": \"value\", \"another\": \"# This is not a comment\"}");
	tt_json("# only a comment, no newline", "{}");
	tt_json("a = 1 #\tcomment with a tab, é and ünïcödé\n#\n##",
	        "{\"a\": 1}");
	tt_json("a = [ # comment\n 1, # one\n # alone\n 2 # two\n ] # end\n",
	        "{\"a\": [1, 2]}");
	tt_json("[t] # comment after a header\nk = 'v' # and a value\n",
	        "{\"t\": {\"k\": \"v\"}}");
}

static void test_toml_comments_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = 1\n# control \x01 character\n", 2},
	    {"# delete \x7f character\n", 1},
	    {"# lone carriage return\r in a comment\n", 1},
	    {"# vertical tab \x0b\n", 1},
	    {"a = 1 // not a comment\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
	tt_fail_len("a = 1\n# nul \0 in a comment\n", 25, ERR_PARSE, 2);
}

/* ------------------------------------------------------------------ */
/* Key/Value Pair */

static void test_toml_keyval_valid(void **state)
{
	(void)state;
	tt_json("key = \"value\"", "{\"key\": \"value\"}");
	tt_json("a=1\nb\t=\t2\n  c   =   3  \n\t\td=4",
	        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}");
	tt_json("\n\n\na = 1\n\n\n", "{\"a\": 1}");
}

static void test_toml_keyval_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"key = # INVALID\n", 1},
	    {"first = \"Tom\" last = \"Preston-Werner\" # INVALID\n", 1},
	    {"a = 1\nkey\n", 2},
	    {"key =", 1},
	    {"key = \n1", 1},
	    {"key\n= 1", 1},
	    {"a = 1 2\n", 1},
	    {"a = 1,\n", 1},
	    {"a == 1\n", 1},
	    {"a = 1\n\nb = 2 c\n", 3},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Keys */

static void test_toml_keys_valid(void **state)
{
	struct toml_doc *doc;
	const struct toml_value *v;

	(void)state;
	tt_json("key = \"value\"\n"
	        "bare_key = \"value\"\n"
	        "bare-key = \"value\"\n"
	        "1234 = \"value\"\n",
	        "{\"key\": \"value\", \"bare_key\": \"value\", \"bare-key\": "
	        "\"value\", \"1234\": \"value\"}");
	tt_json("\"127.0.0.1\" = \"value\"\n"
	        "\"character encoding\" = \"value\"\n"
	        "\"ʎǝʞ\" = \"value\"\n"
	        "'key2' = \"value\"\n"
	        "'quoted \"value\"' = \"value\"\n",
	        "{\"127.0.0.1\": \"value\", \"character encoding\": \"value\", "
	        "\"ʎǝʞ\": \"value\", \"key2\": \"value\", "
	        "\"quoted \\\"value\\\"\": \"value\"}");
	tt_json("\"\" = \"blank\"     # VALID but discouraged\n",
	        "{\"\": \"blank\"}");
	tt_json("'' = 'blank'     # VALID but discouraged\n",
	        "{\"\": \"blank\"}");
	tt_json("name = \"Orange\"\n"
	        "physical.color = \"orange\"\n"
	        "physical.shape = \"round\"\n"
	        "site.\"google.com\" = true\n",
	        "{\"name\": \"Orange\", \"physical\": {\"color\": \"orange\", "
	        "\"shape\": \"round\"}, \"site\": {\"google.com\": true}}");
	tt_json("fruit.name = \"banana\"     # this is best practice\n"
	        "fruit. color = \"yellow\"    # same as fruit.color\n"
	        "fruit . flavor = \"banana\"   # same as fruit.flavor\n",
	        "{\"fruit\": {\"name\": \"banana\", \"color\": \"yellow\", "
	        "\"flavor\": \"banana\"}}");
	tt_json("# This makes the key \"fruit\" into a table.\n"
	        "fruit.apple.smooth = true\n"
	        "\n"
	        "# So then you can add to the table \"fruit\" like so:\n"
	        "fruit.orange = 2\n",
	        "{\"fruit\": {\"apple\": {\"smooth\": true}, \"orange\": 2}}");
	tt_json(
	    "# VALID BUT DISCOURAGED\n"
	    "\n"
	    "apple.type = \"fruit\"\n"
	    "orange.type = \"fruit\"\n"
	    "\n"
	    "apple.skin = \"thin\"\n"
	    "orange.skin = \"thick\"\n"
	    "\n"
	    "apple.color = \"red\"\n"
	    "orange.color = \"orange\"\n",
	    "{\"apple\": {\"type\": \"fruit\", \"skin\": \"thin\", \"color\": "
	    "\"red\"}, \"orange\": {\"type\": \"fruit\", \"skin\": "
	    "\"thick\", \"color\": \"orange\"}}");
	tt_json(
	    "# RECOMMENDED\n"
	    "\n"
	    "apple.type = \"fruit\"\n"
	    "apple.skin = \"thin\"\n"
	    "apple.color = \"red\"\n"
	    "\n"
	    "orange.type = \"fruit\"\n"
	    "orange.skin = \"thick\"\n"
	    "orange.color = \"orange\"\n",
	    "{\"apple\": {\"type\": \"fruit\", \"skin\": \"thin\", \"color\": "
	    "\"red\"}, \"orange\": {\"type\": \"fruit\", \"skin\": "
	    "\"thick\", \"color\": \"orange\"}}");
	tt_json("3.14159 = \"pi\"\n", "{\"3\": {\"14159\": \"pi\"}}");
	/* Keys that look like other values are still keys. */
	tt_json(
	    "true = 1\ninf = 2\nnan = 3\n1979-05-27 = 4\n-1 = 5\n0x10 = 6\n",
	    "{\"true\": 1, \"inf\": 2, \"nan\": 3, \"1979-05-27\": 4, "
	    "\"-1\": 5, \"0x10\": 6}");
	tt_json(
	    "\"\\u0041\\t\" = 1\n'\\u0041' = 2\n\"a.b\".'c d'.e = 3\n",
	    "{\"A\\t\": 1, \"\\\\u0041\": 2, \"a.b\": {\"c d\": {\"e\": 3}}}");
	tt_json("a . b . c = 1\na.\"\".c = 2\n",
	        "{\"a\": {\"b\": {\"c\": 1}, \"\": {\"c\": 2}}}");
	/* Dotted keys make tables of origin DOTTED. */
	doc = tt_parse("a.b.c = 1\n");
	v = tt_get(doc, "a", NULL);
	assert_int_equal(toml_table_origin(v), TOML_ORIGIN_DOTTED);
	assert_int_equal(toml_table_origin(tt_get(doc, "a", "b", NULL)),
	                 TOML_ORIGIN_DOTTED);
	assert_int_equal(toml_table_origin(toml_root(doc)), TOML_ORIGIN_ROOT);
	toml_free(doc);
	/* A key holding NUL: the C-string accessors see up to it. */
	doc = tt_parse("\"a\\u0000b\" = 1\n\"a\\u0000c\" = 2\n");
	assert_int_equal(toml_table_size(toml_root(doc)), 2);
	assert_string_equal(toml_table_key(toml_root(doc), 1), "a");
	toml_free(doc);
	/* Many keys in one table: lookups stay right past the hash index
	 * threshold. */
	{
		struct buf b = BUF_INIT;
		int i;
		char k[16];

		for (i = 0; i < 500; i++)
			assert_int_equal(buf_printf(&b, "k%d = %d\n", i, i), 0);
		doc = tt_parse(b.data);
		for (i = 0; i < 500; i++) {
			(void)snprintf(k, sizeof(k), "k%d", i);
			v = toml_table_get(toml_root(doc), k);
			assert_non_null(v);
			assert_int_equal(toml_integer(v), i);
			assert_string_equal(
			    toml_table_key(toml_root(doc), (size_t)i), k);
		}
		toml_free(doc);
		assert_int_equal(buf_puts(&b, "k250 = 0\n"), 0);
		tt_fail(b.data, ERR_DUPLICATE, 501);
		buf_free(&b);
	}
}

static void test_toml_keys_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"= \"no key name\"  # INVALID\n", 1},
	    {"a = 1\n\"\"\"a\"\"\" = 1\n", 2},
	    {"'''a''' = 1\n", 1},
	    {"a. = 1\n", 1},
	    {".a = 1\n", 1},
	    {"a..b = 1\n", 1},
	    {"a b = 1\n", 1},
	    {"é = 1\n", 1},
	    {"a\n.b = 1\n", 1},
	    {"\"a\nb\" = 1\n", 1},
	    {"'a = 1\n", 1},
	    {"a.'b = 1\n", 1},
	    {"[a]\nb = 1\n\"\\q\" = 2\n", 3},
	    {"a:b = 1\n", 1},
	    {"a = 1\n$ = 2\n", 2},
	};
	static const struct tt_bad dup[] = {
	    {"# DO NOT DO THIS\nname = \"Tom\"\nname = \"Pradyun\"\n", 3},
	    {"# THIS WILL NOT WORK\nspelling = \"favorite\"\n"
	     "\"spelling\" = \"favourite\"\n",
	     3},
	    {"# THE FOLLOWING IS INVALID\n\n"
	     "# This defines the value of fruit.apple to be an integer.\n"
	     "fruit.apple = 1\n\n"
	     "# But then this treats fruit.apple like it's a table.\n"
	     "# You can't turn an integer into a table.\n"
	     "fruit.apple.smooth = true\n",
	     8},
	    {"\"\" = \"blank\"\n'' = 'blank'\n", 2},
	    {"A = 1\n\"\\u0041\" = 2\n", 2},
	    {"a.b = 1\na.b = 2\n", 2},
	    {"a.b = 1\na = 2\n", 2},
	    {"a = 1\na.b = 2\n", 2},
	    {"a = [1]\na.b = 2\n", 2},
	    {"a = 'x'\n\"a\".b.c = 2\n", 2},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
	tt_fail_all(dup, TT_N(dup), ERR_DUPLICATE);
}

/* ------------------------------------------------------------------ */
/* String */

static void test_toml_strings_basic(void **state)
{
	struct toml_doc *doc;
	const char *s;
	size_t len;

	(void)state;
	tt_json("str = \"I'm a string. \\\"You can quote me\\\". "
	        "Name\\tJos\\u00E9\\nLocation\\tSF.\"\n",
	        "{\"str\": \"I'm a string. \\\"You can quote me\\\". "
	        "Name\\tJos\\u00e9\\nLocation\\tSF.\"}");
	tt_json("a = \"\\b\\t\\n\\f\\r\\\"\\\\\"\n",
	        "{\"a\": \"\\b\\t\\n\\f\\r\\\"\\\\\"}");
	tt_json("a = \"\\u00e9\\u00E9\\U0001F600\\U0010FFFF\\uFFFD\"\n",
	        "{\"a\": \"éé\\ud83d\\ude00\\udbff\\udfff\\ufffd\"}");
	tt_json("a = \"tab\tinside\"\nb = \"\"\nc = \"é日本🎉\"\n",
	        "{\"a\": \"tab\\tinside\", \"b\": \"\", \"c\": \"é日本🎉\"}");
	tt_json("a = \"# not a comment\" # comment\n",
	        "{\"a\": \"# not a comment\"}");
	/* \u0000 gives a string with a NUL inside. */
	doc = tt_parse("a = \"x\\u0000y\"\n");
	s = toml_string(tt_get(doc, "a", NULL), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "x\0y", 4);
	toml_free(doc);
}

static void test_toml_strings_basic_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = \"\\q\"\n", 1},
	    {"a = 1\nb = \"\\x41\"\n", 2},
	    {"a = \"\\e\"\n", 1},
	    {"a = \"\\ \"\n", 1},
	    {"a = \"\\\"\n", 1},
	    {"a = \"\\uD800\"\n", 1},
	    {"a = \"\\uDFFF\"\n", 1},
	    {"a = \"\\U00110000\"\n", 1},
	    {"a = \"\\UFFFFFFFF\"\n", 1},
	    {"a = \"\\u12\"\n", 1},
	    {"a = \"\\u12G4\"\n", 1},
	    {"a = \"\\U0001F60\"\n", 1},
	    {"a = \"unterminated\n", 1},
	    {"a = \"unterminated", 1},
	    {"a = \"new\nline\"\n", 1},
	    {"a = \"crlf\r\nline\"\n", 1},
	    {"a = \"control \x01\"\n", 1},
	    {"a = \"delete \x7f\"\n", 1},
	    {"a = \"escape \x1b[0m\"\n", 1},
	    {"a = \"bad utf-8 \xff\"\n", 1},
	    {"a = \"overlong \xc0\x80\"\n", 1},
	    {"a = \"surrogate \xed\xa0\x80\"\n", 1},
	    {"a = \"too big \xf4\x90\x80\x80\"\n", 1},
	    {"a = \"truncated \xe6\x97\"\n", 1},
	    {"a = \"ok\" \"second\"\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
	tt_fail_len("a = \"nul \0\"\n", 12, ERR_PARSE, 1);
}

static void test_toml_strings_multiline(void **state)
{
	static const char *quick =
	    "The quick brown fox jumps over the lazy dog.";
	struct toml_doc *doc;

	(void)state;
	tt_json("str1 = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n",
	        "{\"str1\": \"Roses are red\\nViolets are blue\"}");
	tt_json("# On a Unix system, the above multi-line string will most "
	        "likely be the same as:\n"
	        "str2 = \"Roses are red\\nViolets are blue\"\n"
	        "\n"
	        "# On a Windows system, it will most likely be equivalent to:\n"
	        "str3 = \"Roses are red\\r\\nViolets are blue\"\n",
	        "{\"str2\": \"Roses are red\\nViolets are blue\", "
	        "\"str3\": \"Roses are red\\r\\nViolets are blue\"}");
	doc = tt_parse("# The following strings are byte-for-byte equivalent:\n"
	               "str1 = \"The quick brown fox jumps over the lazy "
	               "dog.\"\n"
	               "\n"
	               "str2 = \"\"\"\n"
	               "The quick brown \\\n"
	               "\n"
	               "\n"
	               "  fox jumps over \\\n"
	               "    the lazy dog.\"\"\"\n"
	               "\n"
	               "str3 = \"\"\"\\\n"
	               "       The quick brown \\\n"
	               "       fox jumps over \\\n"
	               "       the lazy dog.\\\n"
	               "       \"\"\"\n");
	tt_assert_str(tt_get(doc, "str1", NULL), quick);
	tt_assert_str(tt_get(doc, "str2", NULL), quick);
	tt_assert_str(tt_get(doc, "str3", NULL), quick);
	toml_free(doc);
	doc =
	    tt_parse("str4 = \"\"\"Here are two quotation marks: \"\". Simple "
	             "enough.\"\"\"\n"
	             "# str5 = \"\"\"Here are three quotation marks: "
	             "\"\"\".\"\"\"  # INVALID\n"
	             "str5 = \"\"\"Here are three quotation marks: "
	             "\"\"\\\".\"\"\"\n"
	             "str6 = \"\"\"Here are fifteen quotation marks: "
	             "\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\".\"\"\"\n"
	             "\n"
	             "# \"This,\" she said, \"is just a pointless "
	             "statement.\"\n"
	             "str7 = \"\"\"\"This,\" she said, \"is just a pointless "
	             "statement.\"\"\"\"\n");
	tt_assert_str(tt_get(doc, "str4", NULL),
	              "Here are two quotation marks: \"\". Simple enough.");
	tt_assert_str(tt_get(doc, "str5", NULL),
	              "Here are three quotation marks: \"\"\".");
	tt_assert_str(tt_get(doc, "str6", NULL),
	              "Here are fifteen quotation marks: "
	              "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\".");
	tt_assert_str(tt_get(doc, "str7", NULL),
	              "\"This,\" she said, \"is just a pointless statement.\"");
	toml_free(doc);
	/* Delimiters and their neighbours. */
	tt_json("a = \"\"\"\"\"\"\nb = \"\"\"\"\"\"\"\nc = \"\"\"\"\"\"\"\"\n",
	        "{\"a\": \"\", \"b\": \"\\\"\", \"c\": \"\\\"\\\"\"}");
	tt_json("a = \"\"\"x\"\"\"\"\"\nb = \"\"\"\"\"x\"\"\"\n",
	        "{\"a\": \"x\\\"\\\"\", \"b\": \"\\\"\\\"x\"}");
	tt_json("a = \"\"\"\n\"\"\"\nb = \"\"\"\n\n\"\"\"\n",
	        "{\"a\": \"\", \"b\": \"\\n\"}");
	/* Only the first newline is trimmed; CRLF reads as LF. */
	tt_json("a = \"\"\"\r\none\r\ntwo\r\n\"\"\"\r\n",
	        "{\"a\": \"one\\ntwo\\n\"}");
	/* Line-ending backslashes: trailing whitespace, CRLF, blank lines, up
	 * to the closing delimiter. */
	tt_json("a = \"\"\"x \\  \t\n  \n\t y\\\r\n  \"\"\"\n",
	        "{\"a\": \"x y\"}");
	tt_json("a = \"\"\"tab\there\"\"\"\n", "{\"a\": \"tab\\there\"}");
	tt_json("a = \"\"\"\\\\\n\"\"\"\n", "{\"a\": \"\\\\\\n\"}");
	tt_json("a = \"\"\"\\u00e9 \\\"\\\"\\\" \\t\"\"\"\n",
	        "{\"a\": \"é \\\"\\\"\\\" \\t\"}");
}

static void test_toml_strings_multiline_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"str5 = \"\"\"Here are three quotation marks: \"\"\".\"\"\"  "
	     "# INVALID\n",
	     1},
	    {"a = \"\"\"six \"\"\"\"\"\"\n", 1},
	    {"a = 1\nb = \"\"\"unterminated\n\n", 2},
	    {"a = \"\"\"\\ x\"\"\"\n", 1},
	    {"a = \"\"\"\\q\"\"\"\n", 1},
	    {"a = \"\"\"\\uD800\"\"\"\n", 1},
	    {"a = \"\"\"control \x01\"\"\"\n", 1},
	    {"a = \"\"\"lone\rCR\"\"\"\n", 1},
	    {"a = \"\"\"x\"\"\" y\n", 1},
	    {"a = \"\"\"\"\"\"\"\"\"\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

static void test_toml_strings_literal(void **state)
{
	struct toml_doc *doc;

	(void)state;
	doc = tt_parse("# What you see is what you get.\n"
	               "winpath  = 'C:\\Users\\nodejs\\templates'\n"
	               "winpath2 = '\\\\ServerX\\admin$\\system32\\'\n"
	               "quoted   = 'Tom \"Dubs\" Preston-Werner'\n"
	               "regex    = '<\\i\\c*\\s*>'\n");
	tt_assert_str(tt_get(doc, "winpath", NULL),
	              "C:\\Users\\nodejs\\templates");
	tt_assert_str(tt_get(doc, "winpath2", NULL),
	              "\\\\ServerX\\admin$\\system32\\");
	tt_assert_str(tt_get(doc, "quoted", NULL),
	              "Tom \"Dubs\" Preston-Werner");
	tt_assert_str(tt_get(doc, "regex", NULL), "<\\i\\c*\\s*>");
	toml_free(doc);
	doc = tt_parse("regex2 = '''I [dw]on't need \\d{2} apples'''\n"
	               "lines  = '''\n"
	               "The first newline is\n"
	               "trimmed in raw strings.\n"
	               "   All other whitespace\n"
	               "   is preserved.\n"
	               "'''\n");
	tt_assert_str(tt_get(doc, "regex2", NULL),
	              "I [dw]on't need \\d{2} apples");
	tt_assert_str(tt_get(doc, "lines", NULL),
	              "The first newline is\ntrimmed in raw strings.\n"
	              "   All other whitespace\n   is preserved.\n");
	toml_free(doc);
	doc = tt_parse("quot15 = '''Here are fifteen quotation marks: "
	               "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''\n"
	               "\n"
	               "# apos15 = '''Here are fifteen apostrophes: "
	               "''''''''''''''''''  # INVALID\n"
	               "apos15 = \"Here are fifteen apostrophes: "
	               "'''''''''''''''\"\n"
	               "\n"
	               "# 'That,' she said, 'is still pointless.'\n"
	               "str = ''''That,' she said, 'is still pointless.''''\n");
	tt_assert_str(tt_get(doc, "quot15", NULL),
	              "Here are fifteen quotation marks: "
	              "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
	tt_assert_str(tt_get(doc, "apos15", NULL),
	              "Here are fifteen apostrophes: '''''''''''''''");
	tt_assert_str(tt_get(doc, "str", NULL),
	              "'That,' she said, 'is still pointless.'");
	toml_free(doc);
	tt_json("a = ''\nb = 'tab\there'\nc = '''\r\nx\r\n'''\n"
	        "d = ''''''\ne = '''''x'''''\n",
	        "{\"a\": \"\", \"b\": \"tab\\there\", \"c\": \"x\\n\", "
	        "\"d\": \"\", \"e\": \"''x''\"}");
	tt_json("a = '''\\\n  x'''\n", "{\"a\": \"\\\\\\n  x\"}");
}

static void test_toml_strings_literal_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"apos15 = '''Here are fifteen apostrophes: "
	     "''''''''''''''''''  # INVALID\n",
	     1},
	    {"a = 'it's'\n", 1},
	    {"a = 'new\nline'\n", 1},
	    {"a = 'unterminated", 1},
	    {"a = 1\nb = '''unterminated\n'' \n", 2},
	    {"a = 'control \x01'\n", 1},
	    {"a = '''control \x7f'''\n", 1},
	    {"a = '''six ''''''\n", 1},
	    {"a = 'bad \xfe utf-8'\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Integer */

static void test_toml_integers(void **state)
{
	struct toml_doc *doc;

	(void)state;
	tt_json("int1 = +99\nint2 = 42\nint3 = 0\nint4 = -17\n",
	        "{\"int1\": 99, \"int2\": 42, \"int3\": 0, \"int4\": -17}");
	tt_json("int5 = 1_000\n"
	        "int6 = 5_349_221\n"
	        "int7 = 53_49_221  # Indian number system grouping\n"
	        "int8 = 1_2_3_4_5  # VALID but discouraged\n",
	        "{\"int5\": 1000, \"int6\": 5349221, \"int7\": 5349221, "
	        "\"int8\": 12345}");
	tt_json("# hexadecimal with prefix `0x`\n"
	        "hex1 = 0xDEADBEEF\n"
	        "hex2 = 0xdeadbeef\n"
	        "hex3 = 0xdead_beef\n"
	        "\n"
	        "# octal with prefix `0o`\n"
	        "oct1 = 0o01234567\n"
	        "oct2 = 0o755 # useful for Unix file permissions\n"
	        "\n"
	        "# binary with prefix `0b`\n"
	        "bin1 = 0b11010110\n",
	        "{\"hex1\": 3735928559, \"hex2\": 3735928559, \"hex3\": "
	        "3735928559, \"oct1\": 342391, \"oct2\": 493, \"bin1\": 214}");
	tt_json("a = -0\nb = +0\nc = 0x0\nd = 0o0\ne = 0b0\nf = 0x00_01\n",
	        "{\"a\": 0, \"b\": 0, \"c\": 0, \"d\": 0, \"e\": 0, \"f\": 1}");
	doc =
	    tt_parse("max = 9223372036854775807\n"
	             "min = -9223372036854775808\n"
	             "hex = 0x7FFFFFFFFFFFFFFF\n"
	             "oct = 0o777777777777777777777\n"
	             "bin = 0b111111111111111111111111111111111111111111111111"
	             "111111111111111\n"
	             "arr = [1,-2]\n");
	assert_int_equal(toml_type(tt_get(doc, "max", NULL)), TOML_INTEGER);
	assert_true(toml_integer(tt_get(doc, "max", NULL)) == INT64_MAX);
	assert_true(toml_integer(tt_get(doc, "min", NULL)) == INT64_MIN);
	assert_true(toml_integer(tt_get(doc, "hex", NULL)) == INT64_MAX);
	assert_true(toml_integer(tt_get(doc, "oct", NULL)) == INT64_MAX);
	assert_true(toml_integer(tt_get(doc, "bin", NULL)) == INT64_MAX);
	assert_true(toml_integer(toml_array_at(tt_get(doc, "arr", NULL), 1)) ==
	            -2);
	toml_free(doc);
}

static void test_toml_integers_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = 01\n", 1},
	    {"a = -01\n", 1},
	    {"a = 0_0\n", 1},
	    {"a = 00\n", 1},
	    {"a = 1__2\n", 1},
	    {"a = _1\n", 1},
	    {"a = 1_\n", 1},
	    {"a = +_1\n", 1},
	    {"a = ++1\n", 1},
	    {"a = 1-\n", 1},
	    {"a = +0x1\n", 1},
	    {"a = -0x1\n", 1},
	    {"a = 0X1\n", 1},
	    {"a = 0x\n", 1},
	    {"a = 0xg\n", 1},
	    {"a = 0x_1\n", 1},
	    {"a = 0x1_\n", 1},
	    {"a = 0o8\n", 1},
	    {"a = 0b2\n", 1},
	    {"a = 0O7\n", 1},
	    {"a = 0B1\n", 1},
	    {"a = 1a\n", 1},
	    {"a = 9223372036854775808\n", 1},
	    {"a = -9223372036854775809\n", 1},
	    {"a = 1\nb = 99999999999999999999999\n", 2},
	    {"a = 0x8000000000000000\n", 1},
	    {"a = 0xFFFFFFFFFFFFFFFF\n", 1},
	    {"a = 0o1000000000000000000000\n", 1},
	    {"a = 0b1000000000000000000000000000000000000000000000000000"
	     "000000000000\n",
	     1},
	    {"a = 1 000\n", 1},
	    {"a = 1,000\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Float */

static void test_toml_floats(void **state)
{
	struct toml_doc *doc;
	const struct toml_value *v;

	(void)state;
	doc = tt_parse("# fractional\n"
	               "flt1 = +1.0\n"
	               "flt2 = 3.1415\n"
	               "flt3 = -0.01\n"
	               "\n"
	               "# exponent\n"
	               "flt4 = 5e+22\n"
	               "flt5 = 1e06\n"
	               "flt6 = -2E-2\n"
	               "\n"
	               "# both\n"
	               "flt7 = 6.626e-34\n"
	               "flt8 = 224_617.445_991_228\n");
	v = tt_get(doc, "flt1", NULL);
	assert_int_equal(toml_type(v), TOML_FLOAT);
	assert_true(toml_float(v) == 1.0);
	assert_true(toml_float(tt_get(doc, "flt2", NULL)) == 3.1415);
	assert_true(toml_float(tt_get(doc, "flt3", NULL)) == -0.01);
	assert_true(toml_float(tt_get(doc, "flt4", NULL)) == 5e+22);
	assert_true(toml_float(tt_get(doc, "flt5", NULL)) == 1e06);
	assert_true(toml_float(tt_get(doc, "flt6", NULL)) == -2E-2);
	assert_true(toml_float(tt_get(doc, "flt7", NULL)) == 6.626e-34);
	assert_true(toml_float(tt_get(doc, "flt8", NULL)) == 224617.445991228);
	toml_free(doc);
	doc = tt_parse("# infinity\n"
	               "sf1 = inf  # positive infinity\n"
	               "sf2 = +inf # positive infinity\n"
	               "sf3 = -inf # negative infinity\n"
	               "\n"
	               "# not a number\n"
	               "sf4 = nan  # actual sNaN/qNaN encoding is "
	               "implementation-specific\n"
	               "sf5 = +nan # same as `nan`\n"
	               "sf6 = -nan # valid, actual encoding is "
	               "implementation-specific\n");
	v = tt_get(doc, "sf1", NULL);
	assert_int_equal(toml_type(v), TOML_FLOAT);
	assert_true(isinf(toml_float(v)) && toml_float(v) > 0);
	assert_true(isinf(toml_float(tt_get(doc, "sf2", NULL))) &&
	            toml_float(tt_get(doc, "sf2", NULL)) > 0);
	assert_true(isinf(toml_float(tt_get(doc, "sf3", NULL))) &&
	            toml_float(tt_get(doc, "sf3", NULL)) < 0);
	assert_true(isnan(toml_float(tt_get(doc, "sf4", NULL))));
	assert_true(isnan(toml_float(tt_get(doc, "sf5", NULL))));
	assert_true(isnan(toml_float(tt_get(doc, "sf6", NULL))));
	toml_free(doc);
	tt_json("a = inf\nb = -inf\nc = nan\nd = -nan\n",
	        "{\"a\": \"inf\", \"b\": \"-inf\", \"c\": \"nan\", "
	        "\"d\": \"nan\"}");
	doc = tt_parse("a = -0.0\nb = +0.0\nc = 0e0\nd = 0.0e-0\n"
	               "e = 1e1_0\nf = 1_0.0_1e0_1\ng = 0.1\n"
	               "h = 1.7976931348623157e308\ni = 4.9e-324\n"
	               "j = 1E-2\nk = 0.1e+1\n");
	assert_true(toml_float(tt_get(doc, "a", NULL)) == 0.0 &&
	            signbit(toml_float(tt_get(doc, "a", NULL))));
	assert_true(toml_float(tt_get(doc, "b", NULL)) == 0.0 &&
	            !signbit(toml_float(tt_get(doc, "b", NULL))));
	assert_true(toml_float(tt_get(doc, "c", NULL)) == 0.0);
	assert_true(toml_float(tt_get(doc, "d", NULL)) == 0.0);
	assert_true(toml_float(tt_get(doc, "e", NULL)) == 1e10);
	assert_true(toml_float(tt_get(doc, "f", NULL)) == 10.01e1);
	assert_true(toml_float(tt_get(doc, "g", NULL)) == 0.1);
	assert_true(toml_float(tt_get(doc, "h", NULL)) == DBL_MAX);
	assert_true(toml_float(tt_get(doc, "i", NULL)) == 4.9e-324);
	assert_true(toml_float(tt_get(doc, "j", NULL)) == 0.01);
	assert_true(toml_float(tt_get(doc, "k", NULL)) == 1.0);
	toml_free(doc);
	/* Out of range: rounded to infinity, or to zero. */
	doc = tt_parse("a = 1e400\nb = -1.8e308\nc = 1e-400\n");
	assert_true(isinf(toml_float(tt_get(doc, "a", NULL))) &&
	            toml_float(tt_get(doc, "a", NULL)) > 0);
	assert_true(isinf(toml_float(tt_get(doc, "b", NULL))) &&
	            toml_float(tt_get(doc, "b", NULL)) < 0);
	assert_true(toml_float(tt_get(doc, "c", NULL)) == 0.0);
	toml_free(doc);
}

static void test_toml_floats_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"# INVALID FLOATS\ninvalid_float_1 = .7\n", 2},
	    {"invalid_float_2 = 7.\n", 1},
	    {"invalid_float_3 = 3.e+20\n", 1},
	    {"a = 1.e2\n", 1},
	    {"a = 1e\n", 1},
	    {"a = 1e+\n", 1},
	    {"a = 1.5e\n", 1},
	    {"a = 1._5\n", 1},
	    {"a = 1_.5\n", 1},
	    {"a = 1.5_\n", 1},
	    {"a = 1e_5\n", 1},
	    {"a = 1e5_\n", 1},
	    {"a = 01.5\n", 1},
	    {"a = 00.1\n", 1},
	    {"a = -01.5\n", 1},
	    {"a = 1.2.3\n", 1},
	    {"a = 1e2e3\n", 1},
	    {"a = 1e2.3\n", 1},
	    {"a = +-1.0\n", 1},
	    {"a = -.5\n", 1},
	    {"a = Inf\n", 1},
	    {"a = NaN\n", 1},
	    {"a = infinity\n", 1},
	    {"a = inf1\n", 1},
	    {"a = ++inf\n", 1},
	    {"a = 0x1.8p1\n", 1},
	    {"a = 1,5\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Boolean */

static void test_toml_booleans(void **state)
{
	struct toml_doc *doc;
	static const struct tt_bad bad[] = {
	    {"a = True\n", 1},  {"a = FALSE\n", 1}, {"a = truee\n", 1},
	    {"a = t\n", 1},     {"a = tru\n", 1},   {"a = yes\n", 1},
	    {"a = true2\n", 1},
	};

	(void)state;
	doc = tt_parse("bool1 = true\nbool2 = false\n");
	assert_int_equal(toml_type(tt_get(doc, "bool1", NULL)), TOML_BOOL);
	assert_true(toml_bool(tt_get(doc, "bool1", NULL)));
	assert_int_equal(toml_type(tt_get(doc, "bool2", NULL)), TOML_BOOL);
	assert_false(toml_bool(tt_get(doc, "bool2", NULL)));
	toml_free(doc);
	tt_json("a = [true,false]", "{\"a\": [true, false]}");
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Offset Date-Time, Local Date-Time, Local Date, Local Time */

static void test_toml_datetimes(void **state)
{
	struct toml_doc *doc;

	(void)state;
	doc = tt_parse("odt1 = 1979-05-27T07:32:00Z\n"
	               "odt2 = 1979-05-27T00:32:00-07:00\n"
	               "odt3 = 1979-05-27T00:32:00.999999-07:00\n"
	               "odt4 = 1979-05-27 07:32:00Z\n"
	               "ldt1 = 1979-05-27T07:32:00\n"
	               "ldt2 = 1979-05-27T00:32:00.999999\n"
	               "ld1 = 1979-05-27\n"
	               "lt1 = 07:32:00\n"
	               "lt2 = 00:32:00.999999\n");
	tt_assert_dt(tt_get(doc, "odt1", NULL), TOML_DATETIME,
	             "1979-05-27T07:32:00Z");
	tt_assert_dt(tt_get(doc, "odt2", NULL), TOML_DATETIME,
	             "1979-05-27T00:32:00-07:00");
	tt_assert_dt(tt_get(doc, "odt3", NULL), TOML_DATETIME,
	             "1979-05-27T00:32:00.999999-07:00");
	tt_assert_dt(tt_get(doc, "odt4", NULL), TOML_DATETIME,
	             "1979-05-27T07:32:00Z");
	tt_assert_dt(tt_get(doc, "ldt1", NULL), TOML_LOCAL_DATETIME,
	             "1979-05-27T07:32:00");
	tt_assert_dt(tt_get(doc, "ldt2", NULL), TOML_LOCAL_DATETIME,
	             "1979-05-27T00:32:00.999999");
	tt_assert_dt(tt_get(doc, "ld1", NULL), TOML_LOCAL_DATE, "1979-05-27");
	tt_assert_dt(tt_get(doc, "lt1", NULL), TOML_LOCAL_TIME, "07:32:00");
	tt_assert_dt(tt_get(doc, "lt2", NULL), TOML_LOCAL_TIME,
	             "00:32:00.999999");
	assert_null(toml_datetime(toml_root(doc)));
	assert_null(toml_string(tt_get(doc, "ld1", NULL), NULL));
	toml_free(doc);
	doc = tt_parse("a = 1979-05-27t07:32:00z\n"
	               "b = 2000-02-29\n"
	               "c = 2024-02-29T23:59:60+14:00\n"
	               "d = 1979-05-27 07:32:00.123456789\n"
	               "e = [1979-05-27, 07:32:00, 1979-05-27T07:32:00+00:00]\n"
	               "f = 1979-05-27 # a date and a comment\n"
	               "g = {d = 1979-05-27T07:32:00Z}\n"
	               "h = 0001-01-01T00:00:00Z\n"
	               "i = 9999-12-31T23:59:59.9-23:59\n");
	tt_assert_dt(tt_get(doc, "a", NULL), TOML_DATETIME,
	             "1979-05-27T07:32:00Z");
	tt_assert_dt(tt_get(doc, "b", NULL), TOML_LOCAL_DATE, "2000-02-29");
	tt_assert_dt(tt_get(doc, "c", NULL), TOML_DATETIME,
	             "2024-02-29T23:59:60+14:00");
	tt_assert_dt(tt_get(doc, "d", NULL), TOML_LOCAL_DATETIME,
	             "1979-05-27T07:32:00.123456789");
	tt_assert_dt(toml_array_at(tt_get(doc, "e", NULL), 1), TOML_LOCAL_TIME,
	             "07:32:00");
	tt_assert_dt(toml_array_at(tt_get(doc, "e", NULL), 2), TOML_DATETIME,
	             "1979-05-27T07:32:00+00:00");
	tt_assert_dt(tt_get(doc, "f", NULL), TOML_LOCAL_DATE, "1979-05-27");
	tt_assert_dt(tt_get(doc, "g", "d", NULL), TOML_DATETIME,
	             "1979-05-27T07:32:00Z");
	tt_assert_dt(tt_get(doc, "h", NULL), TOML_DATETIME,
	             "0001-01-01T00:00:00Z");
	tt_assert_dt(tt_get(doc, "i", NULL), TOML_DATETIME,
	             "9999-12-31T23:59:59.9-23:59");
	toml_free(doc);
	tt_json("a = 1979-05-27T07:32:00Z\nb = 07:32:00\n",
	        "{\"a\": \"1979-05-27T07:32:00Z\", \"b\": \"07:32:00\"}");
}

static void test_toml_datetimes_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = 1900-02-29\n", 1},
	    {"a = 2023-02-29\n", 1},
	    {"a = 2100-02-29T00:00:00\n", 1},
	    {"a = 1979-04-31\n", 1},
	    {"a = 1979-06-31\n", 1},
	    {"a = 1979-13-01\n", 1},
	    {"a = 1979-00-01\n", 1},
	    {"a = 1979-01-00\n", 1},
	    {"a = 1979-01-32\n", 1},
	    {"a = 24:00:00\n", 1},
	    {"a = 23:60:00\n", 1},
	    {"a = 23:59:61\n", 1},
	    {"a = 07:32\n", 1},
	    {"a = 1979-05-27T07:32\n", 1},
	    {"a = 1979-05-27 07:32Z\n", 1},
	    {"a = 7:32:00\n", 1},
	    {"a = 07:32:0\n", 1},
	    {"a = 1979-5-27\n", 1},
	    {"a = 1979-05-7\n", 1},
	    {"a = 79-05-27\n", 1},
	    {"a = 1979-05-27T\n", 1},
	    {"a = 1979-05-27X07:32:00\n", 1},
	    {"a = 1979-05-27T07:32:00.\n", 1},
	    {"a = 1979-05-27T07:32:00.Z\n", 1},
	    {"a = 07:32:00Z\n", 1},
	    {"a = 07:32:00+01:00\n", 1},
	    {"a = 1979-05-27Z\n", 1},
	    {"a = 1979-05-27T07:32:00+0700\n", 1},
	    {"a = 1979-05-27T07:32:00+7:00\n", 1},
	    {"a = 1979-05-27T07:32:00+24:00\n", 1},
	    {"a = 1979-05-27T07:32:00-07:60\n", 1},
	    {"a = 1979-05-27T07:32:00ZZ\n", 1},
	    {"a = 1979-05-27T07:32:00Z1\n", 1},
	    {"a = 1979-05-27 07:32:00 Z\n", 1},
	    {"a = 1979-05-27  07:32:00\n", 1},
	    {"a = 1979-05-27_\n", 1},
	    {"a = 12345-05-27\n", 1},
	    {"a = +1979-05-27\n", 1},
	    {"a = 1979/05/27\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Array */

static void test_toml_arrays(void **state)
{
	struct toml_doc *doc;
	const struct toml_value *v;

	(void)state;
	tt_json(
	    "integers = [ 1, 2, 3 ]\n"
	    "colors = [ \"red\", \"yellow\", \"green\" ]\n"
	    "nested_arrays_of_ints = [ [ 1, 2 ], [3, 4, 5] ]\n"
	    "nested_mixed_array = [ [ 1, 2 ], [\"a\", \"b\", \"c\"] ]\n"
	    "string_array = [ \"all\", 'strings', \"\"\"are the same\"\"\", "
	    "'''type''' ]\n"
	    "\n"
	    "# Mixed-type arrays are allowed\n"
	    "numbers = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\n"
	    "contributors = [\n"
	    "  \"Foo Bar <foo@example.com>\",\n"
	    "  { name = \"Baz Qux\", email = \"bazqux@example.com\", url = "
	    "\"https://example.com/bazqux\" }\n"
	    "]\n",
	    "{\"integers\": [1, 2, 3],"
	    " \"colors\": [\"red\", \"yellow\", \"green\"],"
	    " \"nested_arrays_of_ints\": [[1, 2], [3, 4, 5]],"
	    " \"nested_mixed_array\": [[1, 2], [\"a\", \"b\", \"c\"]],"
	    " \"string_array\": [\"all\", \"strings\", \"are the same\", "
	    "\"type\"],"
	    " \"numbers\": [0.1, 0.2, 0.5, 1, 2, 5],"
	    " \"contributors\": [\"Foo Bar <foo@example.com>\", {\"name\": "
	    "\"Baz Qux\", \"email\": \"bazqux@example.com\", \"url\": "
	    "\"https://example.com/bazqux\"}]}");
	tt_json("integers2 = [\n"
	        "  1, 2, 3\n"
	        "]\n"
	        "\n"
	        "integers3 = [\n"
	        "  1,\n"
	        "  2, # this is ok\n"
	        "]\n",
	        "{\"integers2\": [1, 2, 3], \"integers3\": [1, 2]}");
	tt_json(
	    "a = []\nb = [ ]\nc = [\n]\nd = [[]]\ne = [[[1]], []]\n"
	    "f = [\r\n 1 ,\r\n 2 ,\r\n]\ng = [ # c\n]\nh = [1,\n\n# c\n\n2]\n",
	    "{\"a\": [], \"b\": [], \"c\": [], \"d\": [[]], "
	    "\"e\": [[[1]], []], \"f\": [1, 2], \"g\": [], \"h\": [1, 2]}");
	tt_json(
	    "a = [ \"\"\"x\n]\"\"\", '''y,''', {b = [1, {c = 2}]}, inf ]\n",
	    "{\"a\": [\"x\\n]\", \"y,\", {\"b\": [1, {\"c\": 2}]}, \"inf\"]}");
	doc = tt_parse("a = [1, 'x', 1.5, true, 1979-05-27, [], {}]\n");
	v = tt_get(doc, "a", NULL);
	assert_int_equal(toml_type(v), TOML_ARRAY);
	assert_int_equal(toml_array_size(v), 7);
	assert_int_equal(toml_type(toml_array_at(v, 0)), TOML_INTEGER);
	assert_int_equal(toml_type(toml_array_at(v, 1)), TOML_STRING);
	assert_int_equal(toml_type(toml_array_at(v, 2)), TOML_FLOAT);
	assert_int_equal(toml_type(toml_array_at(v, 3)), TOML_BOOL);
	assert_int_equal(toml_type(toml_array_at(v, 4)), TOML_LOCAL_DATE);
	assert_int_equal(toml_type(toml_array_at(v, 5)), TOML_ARRAY);
	assert_int_equal(toml_type(toml_array_at(v, 6)), TOML_TABLE);
	assert_int_equal(toml_table_origin(toml_array_at(v, 6)),
	                 TOML_ORIGIN_INLINE);
	assert_null(toml_array_at(v, 7));
	assert_int_equal(toml_array_size(toml_root(doc)), 0);
	toml_free(doc);
}

static void test_toml_arrays_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = [,]\n", 1},
	    {"a = [1,,2]\n", 1},
	    {"a = [1 2]\n", 1},
	    {"a = [1,\n2,,\n]\n", 2},
	    {"a = [ , 1]\n", 1},
	    {"a = [1, 2\n", 1},
	    {"a = 1\nb = [\n1,\n2\n", 2},
	    {"a = [1, 2]]\n", 1},
	    {"a = [1 # comment ]\n", 1},
	    {"a = [1, = 2]\n", 1},
	    {"a = [1, b = 2]\n", 1},
	    {"a = [\"x\" \"y\"]\n", 1},
	    {"a = [1,\n\r2]\n", 2},
	    {"a = [{b = 1,}]\n", 1},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
}

/* ------------------------------------------------------------------ */
/* Table */

static void test_toml_tables(void **state)
{
	struct toml_doc *doc;

	(void)state;
	tt_json("[table]\n", "{\"table\": {}}");
	tt_json("[table-1]\n"
	        "key1 = \"some string\"\n"
	        "key2 = 123\n"
	        "\n"
	        "[table-2]\n"
	        "key1 = \"another string\"\n"
	        "key2 = 456\n",
	        "{\"table-1\": {\"key1\": \"some string\", \"key2\": 123}, "
	        "\"table-2\": {\"key1\": \"another string\", \"key2\": 456}}");
	tt_json("[dog.\"tater.man\"]\ntype.name = \"pug\"\n",
	        "{\"dog\": {\"tater.man\": {\"type\": {\"name\": \"pug\"}}}}");
	tt_json("[a.b.c]            # this is best practice\n"
	        "[ d.e.f ]          # same as [d.e.f]\n"
	        "[ g .  h  . i ]    # same as [g.h.i]\n"
	        "[ j . \"ʞ\" . 'l' ]  # same as [j.\"ʞ\".'l']\n",
	        "{\"a\": {\"b\": {\"c\": {}}}, \"d\": {\"e\": {\"f\": {}}}, "
	        "\"g\": {\"h\": {\"i\": {}}}, \"j\": {\"ʞ\": {\"l\": {}}}}");
	tt_json("# [x] you\n"
	        "# [x.y] don't\n"
	        "# [x.y.z] need these\n"
	        "[x.y.z.w] # for this to work\n"
	        "\n"
	        "[x] # defining a super-table afterward is ok\n",
	        "{\"x\": {\"y\": {\"z\": {\"w\": {}}}}}");
	tt_json("# VALID BUT DISCOURAGED\n"
	        "[fruit.apple]\n"
	        "[animal]\n"
	        "[fruit.orange]\n",
	        "{\"fruit\": {\"apple\": {}, \"orange\": {}}, \"animal\": {}}");
	tt_json("# RECOMMENDED\n"
	        "[fruit.apple]\n"
	        "[fruit.orange]\n"
	        "[animal]\n",
	        "{\"fruit\": {\"apple\": {}, \"orange\": {}}, \"animal\": {}}");
	tt_json(
	    "# Top-level table begins.\n"
	    "name = \"Fido\"\n"
	    "breed = \"pug\"\n"
	    "\n"
	    "# Top-level table ends.\n"
	    "[owner]\n"
	    "name = \"Regina Dogman\"\n"
	    "member_since = 1999-08-04\n",
	    "{\"name\": \"Fido\", \"breed\": \"pug\", \"owner\": {\"name\": "
	    "\"Regina Dogman\", \"member_since\": \"1999-08-04\"}}");
	tt_json("fruit.apple.color = \"red\"\n"
	        "# Defines a table named fruit\n"
	        "# Defines a table named fruit.apple\n"
	        "\n"
	        "fruit.apple.taste.sweet = true\n"
	        "# Defines a table named fruit.apple.taste\n"
	        "# fruit and fruit.apple were already created\n",
	        "{\"fruit\": {\"apple\": {\"color\": \"red\", \"taste\": "
	        "{\"sweet\": true}}}}");
	tt_json("[fruit]\n"
	        "apple.color = \"red\"\n"
	        "apple.taste.sweet = true\n"
	        "\n"
	        "# [fruit.apple]  # INVALID\n"
	        "# [fruit.apple.taste]  # INVALID\n"
	        "\n"
	        "[fruit.apple.texture]  # you can add sub-tables\n"
	        "smooth = true\n",
	        "{\"fruit\": {\"apple\": {\"color\": \"red\", \"taste\": "
	        "{\"sweet\": true}, \"texture\": {\"smooth\": true}}}}");
	/* More of the same rules. */
	tt_json("[a.b]\nc = 1\n[a]\nd = 2\n[a.e]\n",
	        "{\"a\": {\"b\": {\"c\": 1}, \"d\": 2, \"e\": {}}}");
	tt_json("a.b.c = 1\n[a.b.d]\ne = 2\n[a.x]\n",
	        "{\"a\": {\"b\": {\"c\": 1, \"d\": {\"e\": 2}}, \"x\": {}}}");
	tt_json("[a]\nb.c.d = 1\nb.e = 2\n[a.b.c.f]\n",
	        "{\"a\": {\"b\": {\"c\": {\"d\": 1, \"f\": {}}, \"e\": 2}}}");
	tt_json("['']\nx = 1\n[\"\".y]\n", "{\"\": {\"x\": 1, \"y\": {}}}");
	/* Dotted keys may define a table a header only implied; it is then
	 * closed to headers, but not to its own sub-tables. */
	tt_json("[a.b.c]\nz = 9\n[a]\nb.t = 1\nb.u.v = 2\n[a.b.w]\n",
	        "{\"a\": {\"b\": {\"c\": {\"z\": 9}, \"t\": 1, \"u\": "
	        "{\"v\": 2}, \"w\": {}}}}");
	doc = tt_parse("[a.b.c]\n[a]\nb.t = 1\n");
	assert_int_equal(toml_table_origin(tt_get(doc, "a", "b", NULL)),
	                 TOML_ORIGIN_DOTTED);
	assert_int_equal(toml_table_origin(tt_get(doc, "a", "b", "c", NULL)),
	                 TOML_ORIGIN_HEADER);
	toml_free(doc);
	tt_json("[\"a\\u002Eb\"]\n['a.b'.c]\n", "{\"a.b\": {\"c\": {}}}");
	/* Origins. */
	doc = tt_parse("[x.y.z]\n[a.b]\n[a]\n[c]\nd.e = 1\nf = {}\n");
	assert_int_equal(toml_table_origin(tt_get(doc, "x", NULL)),
	                 TOML_ORIGIN_IMPLICIT);
	assert_int_equal(toml_table_origin(tt_get(doc, "x", "y", NULL)),
	                 TOML_ORIGIN_IMPLICIT);
	assert_int_equal(toml_table_origin(tt_get(doc, "x", "y", "z", NULL)),
	                 TOML_ORIGIN_HEADER);
	assert_int_equal(toml_table_origin(tt_get(doc, "a", NULL)),
	                 TOML_ORIGIN_HEADER);
	assert_int_equal(toml_table_origin(tt_get(doc, "c", "d", NULL)),
	                 TOML_ORIGIN_DOTTED);
	assert_int_equal(toml_table_origin(tt_get(doc, "c", "f", NULL)),
	                 TOML_ORIGIN_INLINE);
	toml_free(doc);
}

static void test_toml_tables_invalid(void **state)
{
	static const struct tt_bad syntax[] = {
	    {"[]\n", 1},
	    {"[a\n", 1},
	    {"[a]b = 1\n", 1},
	    {"[a] [b]\n", 1},
	    {"[a.]\n", 1},
	    {"[.a]\n", 1},
	    {"[a..b]\n", 1},
	    {"[a b]\n", 1},
	    {"[ [a]]\n", 1},
	    {"[[a] ]\n", 1},
	    {"[[a]\n", 1},
	    {"[a]]\n", 1},
	    {"x = 1\n[\"a\nb\"]\n", 2},
	    {"[a]\n[\"\"\"b\"\"\"]\n", 2},
	    {"[a] = 1\n", 1},
	    {"a = 1 [b]\n", 1},
	    {"[a]\n\n[b\n", 3},
	    {"[a]\r", 1},
	    {"[é]\n", 1},
	};
	static const struct tt_bad redefined[] = {
	    {"# DO NOT DO THIS\n\n[fruit]\napple = \"red\"\n\n[fruit]\n"
	     "orange = \"orange\"\n",
	     6},
	    {"# DO NOT DO THIS EITHER\n\n[fruit]\napple = \"red\"\n\n"
	     "[fruit.apple]\ntexture = \"smooth\"\n",
	     6},
	    {"[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n\n"
	     "[fruit.apple]  # INVALID\n",
	     5},
	    {"[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n\n"
	     "[fruit.apple.taste]  # INVALID\n",
	     5},
	    {"[a]\n[a]\n", 2},
	    {"[a]\n['a']\n", 2},
	    {"[a.b]\n[a]\n[a]\n", 3},
	    {"[a.b]\n[a.b]\n", 2},
	    {"[a]\nb = 1\n[a.b]\n", 3},
	    {"[a]\nb = 1\n[a.b.c]\n", 3},
	    {"a = 1\n[a]\n", 2},
	    {"a.b = 1\n[a]\n", 2},
	    {"a.b.c = 1\n[a.b]\n", 2},
	    {"a = {}\n[a]\n", 2},
	    {"a = {}\n[a.b]\n", 2},
	    {"a = {b = {}}\n[a.b.c]\n", 2},
	    {"a = []\n[a.b]\n", 2},
	    {"a = [{}]\n[a.b]\n", 2},
	    /* Dotted keys cannot add to a table a header made. */
	    {"[a.b.c]\nz = 9\n\n[a]\nb.c.t = \"no\"\n", 5},
	    {"[a.b.c.d]\nz = 9\n\n[a]\nb.c.d.k.t = \"no\"\n", 5},
	    {"[a.b]\n[a]\nb.c = 1\n", 3},
	    {"[a.b.c]\n[a]\nb.t = 1\n[a.b]\n", 4},
	    {"[a]\n[b]\n[a]\n", 3},
	};

	(void)state;
	tt_fail_all(syntax, TT_N(syntax), ERR_PARSE);
	tt_fail_all(redefined, TT_N(redefined), ERR_DUPLICATE);
}

/* ------------------------------------------------------------------ */
/* Inline Table */

static void test_toml_inline_tables(void **state)
{
	static const char *both =
	    "{\"name\": {\"first\": \"Tom\", \"last\": \"Preston-Werner\"}, "
	    "\"point\": {\"x\": 1, \"y\": 2}, "
	    "\"animal\": {\"type\": {\"name\": \"pug\"}}}";
	struct toml_doc *doc;

	(void)state;
	tt_json("name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
	        "point = { x = 1, y = 2 }\n"
	        "animal = { type.name = \"pug\" }\n",
	        both);
	tt_json("[name]\n"
	        "first = \"Tom\"\n"
	        "last = \"Preston-Werner\"\n"
	        "\n"
	        "[point]\n"
	        "x = 1\n"
	        "y = 2\n"
	        "\n"
	        "[animal]\n"
	        "type.name = \"pug\"\n",
	        both);
	tt_json(
	    "a = {}\nb = { }\nc = {d={}}\ne={f=1,g=2}\n"
	    "h = { i.j = 1, i.k = 2, l = [\n1,\n2 # c\n] }\n"
	    "m = { \"n o\" = 'p', '' = \"\"\"q\"\"\" }\n",
	    "{\"a\": {}, \"b\": {}, \"c\": {\"d\": {}}, \"e\": {\"f\": 1, "
	    "\"g\": 2}, \"h\": {\"i\": {\"j\": 1, \"k\": 2}, \"l\": [1, 2]}, "
	    "\"m\": {\"n o\": \"p\", \"\": \"q\"}}");
	tt_json("a = { b = \"\"\"multi\nline\"\"\" }\n",
	        "{\"a\": {\"b\": \"multi\\nline\"}}");
	doc = tt_parse("a = { b = { c = 1 } }\n");
	assert_int_equal(toml_table_origin(tt_get(doc, "a", NULL)),
	                 TOML_ORIGIN_INLINE);
	assert_int_equal(toml_table_origin(tt_get(doc, "a", "b", NULL)),
	                 TOML_ORIGIN_INLINE);
	toml_free(doc);
}

static void test_toml_inline_tables_invalid(void **state)
{
	static const struct tt_bad syntax[] = {
	    {"a = { b = 1, }\n", 1},
	    {"a = { b = 1,\n c = 2 }\n", 1},
	    {"a = {\n}\n", 1},
	    {"a = { b = 1\n}\n", 1},
	    {"a = { b = 1 c = 2 }\n", 1},
	    {"a = { b = 1 # c\n}\n", 1},
	    {"a = { , }\n", 1},
	    {"a = { b }\n", 1},
	    {"a = { b = }\n", 1},
	    {"a = { b = 1\n", 1},
	    {"a = { b = 1 }}\n", 1},
	    {"a = {b = 1;c = 2}\n", 1},
	    {"a = { [b] }\n", 1},
	};
	static const struct tt_bad redefined[] = {
	    {"[product]\ntype = { name = \"Nail\" }\n"
	     "type.edible = false  # INVALID\n",
	     3},
	    {"[product]\ntype.name = \"Nail\"\n"
	     "type = { edible = false }  # INVALID\n",
	     3},
	    {"a = { b = 1, b = 2 }\n", 1},
	    {"a = { b.c = 1, b = 2 }\n", 1},
	    {"a = { b = {c = 1}, b.d = 2 }\n", 1},
	    {"a = { b = 1, b.c = 2 }\n", 1},
	    {"a = { b = 1 }\na.c = 2\n", 2},
	    {"a = { b = { c = 1 } }\na.b.d = 2\n", 2},
	    {"[product]\ntype = { name = \"Nail\" }\n[product.type]\n", 3},
	    {"a = { b = {} }\n[a.b]\n", 2},
	    {"a = [{ b = 1 }]\n[[a]]\n", 2},
	};

	(void)state;
	tt_fail_all(syntax, TT_N(syntax), ERR_PARSE);
	tt_fail_all(redefined, TT_N(redefined), ERR_DUPLICATE);
}

/* ------------------------------------------------------------------ */
/* Array of Tables */

static void test_toml_array_of_tables(void **state)
{
	struct toml_doc *doc;
	const struct toml_value *v;

	(void)state;
	doc = tt_parse("[[products]]\n"
	               "name = \"Hammer\"\n"
	               "sku = 738594937\n"
	               "\n"
	               "[[products]]  # empty table within the array\n"
	               "\n"
	               "[[products]]\n"
	               "name = \"Nail\"\n"
	               "sku = 284758393\n"
	               "\n"
	               "color = \"gray\"\n");
	v = tt_get(doc, "products", NULL);
	assert_int_equal(toml_type(v), TOML_ARRAY);
	assert_int_equal(toml_array_size(v), 3);
	assert_int_equal(toml_table_origin(toml_array_at(v, 0)),
	                 TOML_ORIGIN_ARRAY_HEADER);
	assert_int_equal(toml_table_size(toml_array_at(v, 1)), 0);
	tt_assert_str(toml_table_get(toml_array_at(v, 2), "color"), "gray");
	toml_free(doc);
	tt_json(
	    "[[products]]\n"
	    "name = \"Hammer\"\n"
	    "sku = 738594937\n"
	    "\n"
	    "[[products]]  # empty table within the array\n"
	    "\n"
	    "[[products]]\n"
	    "name = \"Nail\"\n"
	    "sku = 284758393\n"
	    "\n"
	    "color = \"gray\"\n",
	    "{\"products\": [{\"name\": \"Hammer\", \"sku\": 738594937}, {}, "
	    "{\"name\": \"Nail\", \"sku\": 284758393, \"color\": "
	    "\"gray\"}]}");
	tt_json("[[fruits]]\n"
	        "name = \"apple\"\n"
	        "\n"
	        "[fruits.physical]  # subtable\n"
	        "color = \"red\"\n"
	        "shape = \"round\"\n"
	        "\n"
	        "[[fruits.varieties]]  # nested array of tables\n"
	        "name = \"red delicious\"\n"
	        "\n"
	        "[[fruits.varieties]]\n"
	        "name = \"granny smith\"\n"
	        "\n"
	        "\n"
	        "[[fruits]]\n"
	        "name = \"banana\"\n"
	        "\n"
	        "[[fruits.varieties]]\n"
	        "name = \"plantain\"\n",
	        "{\"fruits\": [{\"name\": \"apple\", \"physical\": {\"color\": "
	        "\"red\", \"shape\": \"round\"}, \"varieties\": [{\"name\": "
	        "\"red delicious\"}, {\"name\": \"granny smith\"}]}, "
	        "{\"name\": \"banana\", \"varieties\": [{\"name\": "
	        "\"plantain\"}]}]}");
	tt_json(
	    "points = [ { x = 1, y = 2, z = 3 },\n"
	    "           { x = 7, y = 8, z = 9 },\n"
	    "           { x = 2, y = 4, z = 8 } ]\n",
	    "{\"points\": [{\"x\": 1, \"y\": 2, \"z\": 3}, {\"x\": 7, \"y\": "
	    "8, \"z\": 9}, {\"x\": 2, \"y\": 4, \"z\": 8}]}");
	/* Each element gets its own sub-tables; implicit parents are fine. */
	tt_json("[[a]]\n[a.b]\nx = 1\n[[a]]\n[a.b]\nx = 2\n",
	        "{\"a\": [{\"b\": {\"x\": 1}}, {\"b\": {\"x\": 2}}]}");
	tt_json("[[a.b]]\n[a]\nc = 1\n", "{\"a\": {\"b\": [{}], \"c\": 1}}");
	tt_json("[[ a . 'b' ]]\n[[a.b]]\n", "{\"a\": {\"b\": [{}, {}]}}");
	tt_json("[[a]]\nb.c = 1\n[a.d]\n",
	        "{\"a\": [{\"b\": {\"c\": 1}, \"d\": {}}]}");
}

static void test_toml_array_of_tables_invalid(void **state)
{
	static const struct tt_bad syntax[] = {
	    {"[[]]\n", 1},
	    {"[[a]]]\n", 1},
	    {"[[a]] x = 1\n", 1},
	};
	static const struct tt_bad redefined[] = {
	    {"# INVALID TOML DOC\n"
	     "[fruit.physical]  # subtable, but to which parent element "
	     "should it belong?\n"
	     "color = \"red\"\n"
	     "shape = \"round\"\n"
	     "\n"
	     "[[fruit]]  # parser must throw an error upon discovering "
	     "that \"fruit\" is\n"
	     "           # an array rather than a table\n"
	     "name = \"apple\"\n",
	     6},
	    {"# INVALID TOML DOC\nfruits = []\n\n[[fruits]] # Not allowed\n",
	     4},
	    {"# INVALID TOML DOC\n"
	     "[[fruits]]\n"
	     "name = \"apple\"\n"
	     "\n"
	     "[[fruits.varieties]]\n"
	     "name = \"red delicious\"\n"
	     "\n"
	     "# INVALID: This table conflicts with the previous array of "
	     "tables\n"
	     "[fruits.varieties]\n"
	     "name = \"granny smith\"\n"
	     "\n"
	     "[fruits.physical]\n"
	     "color = \"red\"\n"
	     "shape = \"round\"\n"
	     "\n"
	     "# INVALID: This array of tables conflicts with the previous "
	     "table\n"
	     "[[fruits.physical]]\n"
	     "color = \"green\"\n",
	     9},
	    {"[[fruits]]\n"
	     "name = \"apple\"\n"
	     "\n"
	     "[fruits.physical]\n"
	     "color = \"red\"\n"
	     "shape = \"round\"\n"
	     "\n"
	     "# INVALID: This array of tables conflicts with the previous "
	     "table\n"
	     "[[fruits.physical]]\n"
	     "color = \"green\"\n",
	     9},
	    {"[[a]]\n[a]\n", 2},
	    {"[a]\n[[a]]\n", 2},
	    {"a = 1\n[[a]]\n", 2},
	    {"a.b = 1\n[[a]]\n", 2},
	    {"a = [1]\n[[a]]\n", 2},
	    {"[[a.b]]\n[a]\nb.y = 2\n", 3},
	    {"[[a]]\nb = 1\n[[a.b]]\n", 3},
	};

	(void)state;
	tt_fail_all(syntax, TT_N(syntax), ERR_PARSE);
	tt_fail_all(redefined, TT_N(redefined), ERR_DUPLICATE);
}

/* ------------------------------------------------------------------ */
/* The document: encoding, newlines, nesting */

static void test_toml_document(void **state)
{
	(void)state;
	tt_json_len("", 0, "{}");
	tt_json_len(NULL, 0, "{}");
	tt_json(" \t\n\r\n\n", "{}");
	tt_json("\xef\xbb\xbf", "{}");
	tt_json("\xef\xbb\xbf"
	        "a = 1\n",
	        "{\"a\": 1}");
	tt_json("a = 1\r\n[b]\r\nc = 'x'\r\n",
	        "{\"a\": 1, \"b\": {\"c\": \"x\"}}");
	tt_json("a = 1", "{\"a\": 1}");
	tt_json("a = \"é\"\nb = '\xf0\x9f\x8e\x89'\n# \xe2\x82\xac\n",
	        "{\"a\": \"é\", \"b\": \"🎉\"}");
}

static void test_toml_document_invalid(void **state)
{
	static const struct tt_bad bad[] = {
	    {"a = 1\rb = 2\n", 1},
	    {"a = 1\n\n\rb = 2\n", 3},
	    {"a = 1\n\xef\xbb\xbf"
	     "b = 2\n",
	     2},
	    {" \xef\xbb\xbf"
	     "a = 1\n",
	     1},
	    {"a = 1\nb = 2\n\xff\n", 3},
	    {"a = '\xc3'\n", 1},
	    {"a = '\xc3\x28'\n", 1},
	    {"a = '\xe0\x80\x80'\n", 1},
	    {"a = '\xf8\x88\x80\x80\x80'\n", 1},
	    {"a = '\x80'\n", 1},
	    {"\x01 = 1\n", 1},
	    {"a = 1\n\x1b\n", 2},
	};

	(void)state;
	tt_fail_all(bad, TT_N(bad), ERR_PARSE);
	tt_fail_len("a = 1\n\0", 7, ERR_PARSE, 2);
}

/* Builds n nested arrays or inline tables, or an n-part dotted key or
 * header, and parses it. */
static int tt_nest(const char *open, const char *close, const char *head,
                   const char *tail, unsigned n, struct diag *d)
{
	struct buf b = BUF_INIT;
	struct toml_doc *doc = NULL;
	unsigned i;
	int r;

	assert_int_equal(buf_puts(&b, head), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_puts(&b, open), 0);
	assert_int_equal(buf_puts(&b, "1"), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_puts(&b, close), 0);
	assert_int_equal(buf_puts(&b, tail), 0);
	r = toml_parse(b.data, b.len, &doc, d);
	toml_free(doc);
	buf_free(&b);
	return r;
}

static void test_toml_nesting_limit(void **state)
{
	struct diag d;

	(void)state;
	/* The value of a root key is at depth 1. */
	assert_int_equal(tt_nest("[", "]", "a = ", "\n", 256, &d), 0);
	assert_int_equal(tt_nest("[", "]", "a = ", "\n", 257, &d), -ERR_TOOBIG);
	assert_int_equal(tt_nest("{b=", "}", "a = ", "\n", 256, &d), 0);
	assert_int_equal(tt_nest("{b=", "}", "a = ", "\n", 257, &d),
	                 -ERR_TOOBIG);
	assert_int_equal(tt_nest("a.", "", "", " = 1\n", 256, &d), 0);
	assert_int_equal(tt_nest("a.", "", "", " = 1\n", 257, &d), -ERR_TOOBIG);
	assert_int_equal(tt_nest("a.", "", "[", "]\n", 255, &d), 0);
	assert_int_equal(tt_nest("a.", "", "[", "]\n", 256, &d), -ERR_TOOBIG);
	assert_int_equal(tt_nest("a.", "", "[[", "]]\n", 254, &d), 0);
	assert_int_equal(tt_nest("a.", "", "[[", "]]\n", 255, &d), -ERR_TOOBIG);
	/* Far deeper input fails cleanly, without recursing that deep. */
	assert_int_equal(tt_nest("[", "]", "a = ", "\n", 100000, &d),
	                 -ERR_TOOBIG);
	assert_int_equal(d.line, 1);
	assert_int_equal(tt_nest("{a=", "}", "a = ", "\n", 100000, &d),
	                 -ERR_TOOBIG);
	assert_int_equal(tt_nest("a.", "", "[", "]\n", 100000, &d),
	                 -ERR_TOOBIG);
}

/* ------------------------------------------------------------------ */
/* Sections */

static void tt_assert_section(const struct toml_section *s, size_t depth,
                              bool array, size_t start, size_t body, size_t end,
                              unsigned line)
{
	if (s->depth != depth || s->array != array || s->start != start ||
	    s->body != body || s->end != end || s->line != line)
		fail_msg("section: depth %zu array %d start %zu body %zu end "
		         "%zu line %u; expected %zu %d %zu %zu %zu %u",
		         s->depth, s->array, s->start, s->body, s->end, s->line,
		         depth, array, start, body, end, line);
}

static void test_toml_sections(void **state)
{
	static const char text[] =
	    "model = \"o3\"\n"                    /* 0 */
	    "\n"                                  /* 13 */
	    "[mcp_servers.github]\n"              /* 14 */
	    "command = \"npx\"\n"                 /* 35 */
	    "\n"                                  /* 51 */
	    "  [mcp_servers.\"my.srv\"] # ours\n" /* 52 */
	    "url = 'x'\n"                         /* 84 */
	    "[[profiles]]\n"                      /* 94 */
	    "\t[ a . b ]";                        /* 107 */
	struct toml_doc *doc = tt_parse(text);
	const struct toml_section *s;
	size_t n;

	(void)state;
	n = toml_sections(doc, &s);
	assert_int_equal(n, 5);
	tt_assert_section(&s[0], 0, false, 0, 0, 14, 1);
	assert_null(s[0].path);
	tt_assert_section(&s[1], 2, false, 14, 35, 52, 3);
	assert_string_equal(s[1].path[0], "mcp_servers");
	assert_string_equal(s[1].path[1], "github");
	tt_assert_section(&s[2], 2, false, 52, 84, 94, 6);
	assert_string_equal(s[2].path[1], "my.srv");
	tt_assert_section(&s[3], 1, true, 94, 107, 107, 8);
	assert_string_equal(s[3].path[0], "profiles");
	tt_assert_section(&s[4], 2, false, 107, sizeof(text) - 1,
	                  sizeof(text) - 1, 9);
	assert_string_equal(s[4].path[0], "a");
	assert_string_equal(s[4].path[1], "b");
	assert_memory_equal(text + s[2].start,
	                    "  [mcp_servers.\"my.srv\"] # ours\nurl = 'x'\n",
	                    s[2].end - s[2].start);
	toml_free(doc);
}

static void test_toml_sections_crlf_bom(void **state)
{
	static const char text[] = "\xef\xbb\xbf"                    /* 0 */
	                           "[a]\r\n"                         /* 3 */
	                           "x = 1\r\n"                       /* 8 */
	                           "\r\n"                            /* 15 */
	                           "[b] # c\r\n"                     /* 17 */
	                           "y = \"\"\"\r\n[c]\r\n\"\"\"\r\n" /* 26 */
	                           " [[d]]\r\n";                     /* 45 */
	struct toml_doc *doc = tt_parse(text);
	const struct toml_section *s;
	size_t n;

	(void)state;
	n = toml_sections(doc, &s);
	assert_int_equal(n, 4);
	tt_assert_section(&s[0], 0, false, 0, 3, 3, 1);
	tt_assert_section(&s[1], 1, false, 3, 8, 17, 1);
	tt_assert_section(&s[2], 1, false, 17, 26, 45, 4);
	tt_assert_section(&s[3], 1, true, 45, 53, 53, 8);
	tt_assert_str(tt_get(doc, "b", "y", NULL), "[c]\n");
	toml_free(doc);
	/* No header: one root section over the whole text. */
	doc = tt_parse("\xef\xbb\xbf"
	               "a = 1\n");
	n = toml_sections(doc, &s);
	assert_int_equal(n, 1);
	tt_assert_section(&s[0], 0, false, 0, 3, 9, 1);
	toml_free(doc);
	doc = tt_parse("");
	n = toml_sections(doc, &s);
	assert_int_equal(n, 1);
	tt_assert_section(&s[0], 0, false, 0, 0, 0, 1);
	toml_free(doc);
}

/* Splicing a section out by its offsets leaves a document without it. */
static void test_toml_sections_splice(void **state)
{
	static const char text[] = "# config\r\n"
	                           "[mcp_servers.a]\r\n"
	                           "command = \"a\"\r\n"
	                           "\r\n"
	                           "[mcp_servers.b] # managed\r\n"
	                           "command = \"b\"\r\n"
	                           "args = [\r\n  \"[x]\",\r\n]\r\n"
	                           "\r\n"
	                           "[other]\r\n"
	                           "k = 1\r\n";
	struct toml_doc *doc = tt_parse(text), *doc2;
	const struct toml_section *s;
	struct buf b = BUF_INIT;
	size_t n;

	(void)state;
	n = toml_sections(doc, &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[2].path[1], "b");
	assert_int_equal(buf_append(&b, text, s[2].start), 0);
	assert_int_equal(
	    buf_append(&b, text + s[2].end, sizeof(text) - 1 - s[2].end), 0);
	doc2 = tt_parse(b.data);
	assert_non_null(tt_get(doc2, "mcp_servers", "a", NULL));
	assert_null(toml_table_get(tt_get(doc2, "mcp_servers", NULL), "b"));
	assert_int_equal(toml_integer(tt_get(doc2, "other", "k", NULL)), 1);
	toml_free(doc2);
	/* The body alone is the key/values of the section. */
	assert_memory_equal(text + s[2].body,
	                    "command = \"b\"\r\nargs = [\r\n  \"[x]\",\r\n]\r\n"
	                    "\r\n",
	                    s[2].end - s[2].body);
	buf_free(&b);
	toml_free(doc);
}

/* ------------------------------------------------------------------ */
/* Error messages */

static void test_toml_error_messages(void **state)
{
	(void)state;
	tt_fail_msg("[mcp_servers.x]\ncommand = \"a\"\nargs = []\n"
	            "command = \"b\"\n",
	            ERR_DUPLICATE, 4, 1, "duplicate key 'command'");
	tt_fail_msg("[mcp_servers.x]\ncommand = \"a\"\n\n  [mcp_servers.x]\n",
	            ERR_DUPLICATE, 4, 3, "table [mcp_servers.x] defined twice");
	tt_fail_msg("[mcp_servers.\"my server\"]\n[mcp_servers.'my server']\n",
	            ERR_DUPLICATE, 2, 1,
	            "table [mcp_servers.\"my server\"] defined twice");
	tt_fail_msg("a = 1\nb = \"x\\qy\"\n", ERR_PARSE, 2, 7,
	            "invalid escape '\\q'");
	tt_fail_msg("a = \"é\\x\"\n", ERR_PARSE, 1, 7, "invalid escape '\\x'");
	tt_fail_msg("a.b = 1\na.b.c = 2\n", ERR_DUPLICATE, 2, 3,
	            "key 'a.b' is already defined as an integer");
	tt_fail_msg("a = 99999999999999999999\n", ERR_PARSE, 1, 5,
	            "integer '99999999999999999999' out of range (64-bit "
	            "signed)");
	tt_fail_msg("a = 1\nb = 2 c\n", ERR_PARSE, 2, 7,
	            "expected a newline after a value, found 'c'");
	tt_fail_msg("a = 1\n\rb\n", ERR_PARSE, 2, 1,
	            "carriage return not followed by a line feed");
	tt_fail_msg("# \xc3\xa9\xff\n", ERR_PARSE, 1, 4,
	            "invalid UTF-8 (byte 0xff)");
	tt_fail_msg("\xef\xbb\xbf"
	            "a = 1\nb = 2023-02-29\n",
	            ERR_PARSE, 2, 5, "invalid date 2023-02-29: no such day");
	tt_fail_msg("x = { a = 1 }\nx.b = 2\n", ERR_DUPLICATE, 2, 1,
	            "cannot add keys to inline table 'x'");
	tt_fail_msg("a = []\n[[a]]\n", ERR_DUPLICATE, 2, 1,
	            "cannot append to static array 'a' with [[a]]");
	tt_fail_msg("a = [1,\n2\n", ERR_PARSE, 1, 5, "unterminated array");
	tt_fail_msg("a = \"\"\"\nx\n", ERR_PARSE, 1, 5,
	            "unterminated multi-line string");
	tt_fail_msg("k = 0123\n", ERR_PARSE, 1, 5,
	            "leading zeros are not allowed in '0123'");
	tt_fail_msg("k = \"\\uD800\"\n", ERR_PARSE, 1, 6,
	            "invalid escape '\\uD800': not a Unicode scalar value");
	tt_fail_msg("k = \"\x01\"\n", ERR_PARSE, 1, 6,
	            "control character U+0001 must be escaped");
	/* A NULL diag is allowed. */
	{
		struct toml_doc *doc = NULL;

		assert_int_equal(toml_parse("a = ", 4, &doc, NULL), -ERR_PARSE);
		assert_null(doc);
	}
}

/* ------------------------------------------------------------------ */
/* Conversion to JSON */

static void test_toml_to_json(void **state)
{
	struct toml_doc *doc;
	json_t *j = NULL;

	(void)state;
	doc = tt_parse("s = \"x\\u0000y\"\ni = -7\nf = 2.5\nb = false\n"
	               "d = 1979-05-27\nn = -nan\n[t]\na = [1, {b = 'c'}]\n");
	assert_int_equal(toml_to_json(tt_get(doc, "s", NULL), &j), 0);
	assert_int_equal(json_string_length(j), 3);
	json_decref(j);
	assert_int_equal(toml_to_json(tt_get(doc, "i", NULL), &j), 0);
	assert_true(json_is_integer(j) && json_integer_value(j) == -7);
	json_decref(j);
	assert_int_equal(toml_to_json(tt_get(doc, "f", NULL), &j), 0);
	assert_true(json_is_real(j) && json_real_value(j) == 2.5);
	json_decref(j);
	assert_int_equal(toml_to_json(tt_get(doc, "b", NULL), &j), 0);
	assert_true(json_is_false(j));
	json_decref(j);
	assert_int_equal(toml_to_json(tt_get(doc, "n", NULL), &j), 0);
	assert_string_equal(json_string_value(j), "nan");
	json_decref(j);
	assert_int_equal(toml_to_json(tt_get(doc, "t", NULL), &j), 0);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(j, "a"), 1), "b")),
	    "c");
	json_decref(j);
	toml_free(doc);
}

/* ------------------------------------------------------------------ */
/* Writer */

static void tt_write_str(const char *s, size_t len, const char *expect)
{
	struct buf b = BUF_INIT;

	assert_int_equal(toml_write_string(&b, s, len), 0);
	assert_string_equal(b.data, expect);
	buf_free(&b);
}

static void tt_write_json(const char *json, const char *expect)
{
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);

	assert_non_null(v);
	assert_int_equal(toml_write_value(&b, v), 0);
	assert_string_equal(b.data, expect);
	json_decref(v);
	buf_free(&b);
}

static void test_toml_write_key(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(toml_write_key(&b, "command"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, "A-z_0-9"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, ""), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, "my server"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, "a.b"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, "é"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(toml_write_key(&b, "q\"\\\n"), 0);
	assert_string_equal(b.data, "command A-z_0-9 \"\" \"my server\" "
	                            "\"a.b\" \"é\" \"q\\\"\\\\\\n\"");
	/* Invalid UTF-8 cannot be written; the buffer is left as it was. */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(toml_write_key(&b, "bad \xff"), -ERR_INVALID);
	assert_string_equal(b.data, "x");
	buf_free(&b);
}

static void test_toml_write_string(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	tt_write_str("", 0, "\"\"");
	tt_write_str("plain", 5, "\"plain\"");
	tt_write_str("\"\\", 2, "\"\\\"\\\\\"");
	tt_write_str("\b\t\n\f\r", 5, "\"\\b\\t\\n\\f\\r\"");
	tt_write_str("\x01\x1f\x7f", 3, "\"\\u0001\\u001F\\u007F\"");
	tt_write_str("a\0b", 3, "\"a\\u0000b\"");
	tt_write_str("é日本🎉", strlen("é日本🎉"), "\"é日本🎉\"");
	tt_write_str("'''\"\"\"", 6, "\"'''\\\"\\\"\\\"\"");
	assert_int_equal(toml_write_string(&b, "\xc0\x80", 2), -ERR_INVALID);
	assert_int_equal(toml_write_string(&b, "\xed\xa0\x80", 3),
	                 -ERR_INVALID);
	assert_int_equal(toml_write_string(&b, "\xe6\x97", 2), -ERR_INVALID);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_toml_write_value(void **state)
{
	struct buf b = BUF_INIT;
	json_t *v;
	int i;

	(void)state;
	tt_write_json("\"x\"", "\"x\"");
	tt_write_json("42", "42");
	tt_write_json("-9223372036854775808", "-9223372036854775808");
	tt_write_json("1.0", "1.0");
	tt_write_json("-0.0", "-0.0");
	tt_write_json("0.1", "0.1");
	tt_write_json("2.5e-8", "2.5e-08");
	tt_write_json("1e300", "1e+300");
	tt_write_json("123456789012.0", "123456789012.0");
	tt_write_json("true", "true");
	tt_write_json("false", "false");
	tt_write_json("[]", "[]");
	tt_write_json("{}", "{}");
	tt_write_json("[\"a\", \"b\"]", "[\"a\", \"b\"]");
	tt_write_json("{\"a\": 1, \"b\": \"x\"}", "{ a = 1, b = \"x\" }");
	tt_write_json("{\"my key\": [1, {\"c\": {}}], \"\": [[]]}",
	              "{ \"my key\" = [1, { c = {} }], \"\" = [[]] }");
	tt_write_json("\"line\\nbreak\"", "\"line\\nbreak\"");
	/* null is not a TOML value, wherever it is. */
	v = json_null();
	assert_int_equal(toml_write_value(&b, v), -ERR_INVALID);
	json_decref(v);
	v = json_pack("{s:i,s:[i,n]}", "a", 1, "b", 2);
	assert_non_null(v);
	assert_int_equal(buf_puts(&b, "k = "), 0);
	assert_int_equal(toml_write_value(&b, v), -ERR_INVALID);
	assert_string_equal(b.data, "k = ");
	json_decref(v);
	/* Nesting beyond what the parser accepts is refused. */
	v = json_array();
	for (i = 0; i < 300; i++) {
		json_t *outer = json_array();

		assert_int_equal(json_array_append_new(outer, v), 0);
		v = outer;
	}
	assert_int_equal(toml_write_value(&b, v), -ERR_TOOBIG);
	assert_string_equal(b.data, "k = ");
	json_decref(v);
	buf_free(&b);
}

/* Writes each JSON value as "v = ...", parses it and compares. */
static void test_toml_write_roundtrip(void **state)
{
	static const char *values[] = {
	    "\"\"",
	    "\"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\u007f\\\"\\\\ end\"",
	    "\"é日本🎉 '''\\\"\\\"\\\"\"",
	    "0",
	    "-1",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "0.1",
	    "-2.5",
	    "3.0",
	    "1e-300",
	    "1.7976931348623157e308",
	    "2.2250738585072014e-308",
	    "5e-324",
	    "0.30000000000000004",
	    "0.3333333333333333",
	    "123456789012345680.0",
	    "true",
	    "false",
	    "[]",
	    "[1, \"a\", 2.5, true, [], {}]",
	    "{}",
	    "{\"a\": {\"b\": {\"c\": [1, {\"d\": \"e\"}]}}}",
	    "{\"with space\": 1, \"a.b\": 2, \"\": 3, \"é\": 4, "
	    "\"q\\\"\": 5}",
	    "{\"command\": \"npx\", \"args\": [\"-y\", \"@x/y\"], \"env\": "
	    "{\"TOKEN\": \"abc\"}, \"timeout\": 60.5}",
	};
	struct toml_doc *doc;
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *want, *got;
	char *a, *c;
	size_t i;

	(void)state;
	for (i = 0; i < TT_N(values); i++) {
		want = json_loads(values[i], JSON_DECODE_ANY | JSON_ALLOW_NUL,
		                  &jerr);
		if (want == NULL)
			fail_msg("bad JSON %s: %s", values[i], jerr.text);
		buf_reset(&b);
		assert_int_equal(buf_puts(&b, "v = "), 0);
		assert_int_equal(toml_write_value(&b, want), 0);
		doc = tt_parse(b.data);
		assert_int_equal(toml_to_json(tt_get(doc, "v", NULL), &got), 0);
		if (!json_equal(want, got)) {
			a = json_dumps(want, JSON_ENCODE_ANY);
			c = json_dumps(got, JSON_ENCODE_ANY);
			fail_msg("%s -> %s -> %s", a, b.data, c);
		}
		json_decref(got);
		json_decref(want);
		toml_free(doc);
	}
	buf_free(&b);
}

/* The decimal point of the locale does not leak into TOML, either way. */
static void test_toml_locale(void **state)
{
	static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8",
	                              "fr_FR.UTF-8", "C.UTF-8"};
	struct toml_doc *doc;
	struct buf b = BUF_INIT;
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < TT_N(names); i++)
		if (setlocale(LC_NUMERIC, names[i]) != NULL)
			break;
	doc = tt_parse("f = 3.25\ng = 1_0.5e1\n");
	assert_true(toml_float(tt_get(doc, "f", NULL)) == 3.25);
	assert_true(toml_float(tt_get(doc, "g", NULL)) == 105.0);
	toml_free(doc);
	v = json_real(3.25);
	assert_int_equal(toml_write_value(&b, v), 0);
	assert_string_equal(b.data, "3.25");
	json_decref(v);
	buf_free(&b);
	(void)setlocale(LC_NUMERIC, "C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_toml_spec_example),
	    cmocka_unit_test(test_toml_comments_valid),
	    cmocka_unit_test(test_toml_comments_invalid),
	    cmocka_unit_test(test_toml_keyval_valid),
	    cmocka_unit_test(test_toml_keyval_invalid),
	    cmocka_unit_test(test_toml_keys_valid),
	    cmocka_unit_test(test_toml_keys_invalid),
	    cmocka_unit_test(test_toml_strings_basic),
	    cmocka_unit_test(test_toml_strings_basic_invalid),
	    cmocka_unit_test(test_toml_strings_multiline),
	    cmocka_unit_test(test_toml_strings_multiline_invalid),
	    cmocka_unit_test(test_toml_strings_literal),
	    cmocka_unit_test(test_toml_strings_literal_invalid),
	    cmocka_unit_test(test_toml_integers),
	    cmocka_unit_test(test_toml_integers_invalid),
	    cmocka_unit_test(test_toml_floats),
	    cmocka_unit_test(test_toml_floats_invalid),
	    cmocka_unit_test(test_toml_booleans),
	    cmocka_unit_test(test_toml_datetimes),
	    cmocka_unit_test(test_toml_datetimes_invalid),
	    cmocka_unit_test(test_toml_arrays),
	    cmocka_unit_test(test_toml_arrays_invalid),
	    cmocka_unit_test(test_toml_tables),
	    cmocka_unit_test(test_toml_tables_invalid),
	    cmocka_unit_test(test_toml_inline_tables),
	    cmocka_unit_test(test_toml_inline_tables_invalid),
	    cmocka_unit_test(test_toml_array_of_tables),
	    cmocka_unit_test(test_toml_array_of_tables_invalid),
	    cmocka_unit_test(test_toml_document),
	    cmocka_unit_test(test_toml_document_invalid),
	    cmocka_unit_test(test_toml_nesting_limit),
	    cmocka_unit_test(test_toml_sections),
	    cmocka_unit_test(test_toml_sections_crlf_bom),
	    cmocka_unit_test(test_toml_sections_splice),
	    cmocka_unit_test(test_toml_error_messages),
	    cmocka_unit_test(test_toml_to_json),
	    cmocka_unit_test(test_toml_write_key),
	    cmocka_unit_test(test_toml_write_string),
	    cmocka_unit_test(test_toml_write_value),
	    cmocka_unit_test(test_toml_write_roundtrip),
	    cmocka_unit_test(test_toml_locale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
