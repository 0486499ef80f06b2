/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the TOML parser, its section spans, JSON conversion and
 * writer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_toml: %s\n", what);
		abort();
	}
}

/* Visits every value through the public accessors; depth is bounded by the
 * parser's cap, which this checks too. */
static void fuzz_walk(const struct toml_value *v, unsigned depth)
{
	const char *s;
	size_t i, n;

	fuzz_check(depth <= TOML_MAX_DEPTH + 1, "nesting above the cap");
	switch (toml_type(v)) {
	case TOML_TABLE:
		(void)toml_table_origin(v);
		n = toml_table_size(v);
		for (i = 0; i < n; i++) {
			s = toml_table_key(v, i);
			fuzz_check(s != NULL, "table key");
			fuzz_check(toml_table_value(v, i) != NULL,
			           "table value");
			/* A key holding a NUL cannot be found by name. */
			(void)toml_table_get(v, s);
			fuzz_walk(toml_table_value(v, i), depth + 1);
		}
		fuzz_check(toml_table_key(v, n) == NULL, "key past the end");
		break;
	case TOML_ARRAY:
		n = toml_array_size(v);
		for (i = 0; i < n; i++)
			fuzz_walk(toml_array_at(v, i), depth + 1);
		fuzz_check(toml_array_at(v, n) == NULL, "item past the end");
		break;
	case TOML_STRING:
		fuzz_check(toml_string(v, &n) != NULL, "string");
		break;
	case TOML_INTEGER:
		(void)toml_integer(v);
		break;
	case TOML_FLOAT:
		(void)toml_float(v);
		break;
	case TOML_BOOL:
		(void)toml_bool(v);
		break;
	default:
		fuzz_check(toml_datetime(v) != NULL, "date-time");
		break;
	}
}

static void fuzz_sections(const struct toml_doc *doc, const uint8_t *data,
                          size_t size)
{
	const struct toml_section *sec;
	size_t n, i, k;

	n = toml_sections(doc, &sec);
	fuzz_check(n >= 1, "no root section");
	fuzz_check(sec[0].start == 0 && sec[0].depth == 0 && sec[0].line == 1,
	           "root section");
	for (i = 0; i < n; i++) {
		fuzz_check(sec[i].start <= sec[i].body &&
		               sec[i].body <= sec[i].end && sec[i].end <= size,
		           "section offsets");
		fuzz_check(i + 1 == n ? sec[i].end == size
		                      : sec[i].end == sec[i + 1].start,
		           "sections do not tile the text");
		if (i == 0)
			continue;
		fuzz_check(sec[i].depth > 0 && sec[i].path != NULL,
		           "header path");
		for (k = 0; k < sec[i].depth; k++)
			fuzz_check(sec[i].path[k] != NULL, "path key");
		for (k = sec[i].start; k < sec[i].body && data[k] != '['; k++)
			fuzz_check(data[k] == ' ' || data[k] == '\t',
			           "header line start");
		fuzz_check(k < sec[i].body, "no '[' in the header line");
		fuzz_check(sec[i].body == size || data[sec[i].body - 1] == '\n',
		           "body does not start a line");
		fuzz_check(sec[i].line > sec[i - 1].line ||
		               (i == 1 && sec[i].line == 1),
		           "section lines");
	}
}

/* json_equal() looks object keys up with strlen(); keys may hold NULs. */
static int fuzz_json_equal(const json_t *a, const json_t *b)
{
	json_t *ma = (json_t *)(uintptr_t)a;
	const json_t *vb;
	size_t i;
	void *it;

	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++)
			if (!fuzz_json_equal(json_array_get(a, i),
			                     json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (!json_is_object(a))
		return json_equal(a, b);
	if (json_object_size(a) != json_object_size(b))
		return 0;
	for (it = json_object_iter(ma); it != NULL;
	     it = json_object_iter_next(ma, it)) {
		vb = json_object_getn(b, json_object_iter_key(it),
		                      json_object_iter_key_len(it));
		if (vb == NULL ||
		    !fuzz_json_equal(json_object_iter_value(it), vb))
			return 0;
	}
	return 1;
}

/* Writes the whole document back as "key = value" lines, parses it again
 * and checks that the JSON views agree. */
static void fuzz_roundtrip(const json_t *root)
{
	struct buf b = BUF_INIT;
	struct toml_doc *doc = NULL;
	struct diag d;
	json_t *again = NULL;
	const char *key;
	size_t klen;
	void *it;
	int r;

	for (it = json_object_iter((json_t *)(uintptr_t)root); it != NULL;
	     it = json_object_iter_next((json_t *)(uintptr_t)root, it)) {
		key = json_object_iter_key(it);
		klen = json_object_iter_key_len(it);
		if (memchr(key, '\0', klen) != NULL)
			r = toml_write_string(&b, key, klen);
		else
			r = toml_write_key(&b, key);
		fuzz_check(r == 0, "write key");
		fuzz_check(buf_puts(&b, " = ") == 0, "buf");
		r = toml_write_value(&b, json_object_iter_value(it));
		fuzz_check(r == 0, "write value");
		fuzz_check(buf_putc(&b, '\n') == 0, "buf");
	}
	r = toml_parse(b.data, b.len, &doc, &d);
	if (r != 0) {
		fprintf(stderr, "%u:%u: %s\n%s\n", d.line, d.col, d.msg,
		        b.data);
		fuzz_check(0, "written document does not parse");
	}
	fuzz_check(toml_to_json(toml_root(doc), &again) == 0, "to_json again");
	fuzz_check(fuzz_json_equal(root, again), "round trip changed a value");
	json_decref(again);
	toml_free(doc);
	buf_free(&b);
}

/* Any bytes written as a string parse back to the same bytes. */
static void fuzz_string(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;
	struct toml_doc *doc = NULL;
	struct diag d;
	const char *s;
	size_t n;
	int r;

	fuzz_check(buf_puts(&b, "s = ") == 0, "buf");
	r = toml_write_string(&b, (const char *)data, size);
	if (r != 0) {
		fuzz_check(r == -ERR_INVALID && b.len == 4, "write string");
		buf_free(&b);
		return;
	}
	fuzz_check(toml_parse(b.data, b.len, &doc, &d) == 0,
	           "written string does not parse");
	s = toml_string(toml_table_get(toml_root(doc), "s"), &n);
	fuzz_check(s != NULL && n == size && memcmp(s, data, size) == 0,
	           "string round trip");
	toml_free(doc);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_doc *doc = NULL;
	struct diag d;
	json_t *j = NULL;
	int r;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	diag_clear(&d);
	r = toml_parse((const char *)data, size, &doc, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_PARSE || r == -ERR_DUPLICATE ||
		               r == -ERR_TOOBIG || r == -ERR_NOMEM,
		           "unexpected error code");
		fuzz_check(d.line >= 1 && d.col >= 1 && d.msg[0] != '\0',
		           "error without a position or a message");
		fuzz_string(data, size);
		return 0;
	}
	fuzz_walk(toml_root(doc), 0);
	fuzz_sections(doc, data, size);
	fuzz_check(toml_to_json(toml_root(doc), &j) == 0, "to_json");
	fuzz_roundtrip(j);
	json_decref(j);
	toml_free(doc);
	return 0;
}
