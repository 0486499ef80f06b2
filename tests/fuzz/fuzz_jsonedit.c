/* SPDX-License-Identifier: MIT */
/* libFuzzer target for jsonedit: the validating parser, member access and
 * byte-preserving edits, with the add-then-remove round trip. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "jsonedit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)
#define FUZZ_NAME      "mcpfleet-fuzz"

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_jsonedit: %s\n", what);
		abort();
	}
}

static bool fuzz_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * After adding and removing, b must equal a; the one allowed difference is
 * an empty object written with blanks inside ("{ }") coming back as "{}".
 */
static bool fuzz_round_trip_ok(const char *a, size_t alen, const char *b,
                               size_t blen)
{
	size_t p = 0, s = 0, i;

	if (alen == blen && memcmp(a, b, alen) == 0)
		return true;
	if (blen >= alen)
		return false;
	while (p < blen && a[p] == b[p])
		p++;
	while (s < blen - p && a[alen - 1 - s] == b[blen - 1 - s])
		s++;
	if (p + s != blen || p == 0 || a[p - 1] != '{' || a[alen - s] != '}')
		return false;
	for (i = p; i < alen - s; i++)
		if (!fuzz_is_blank(a[i]))
			return false;
	return true;
}

static int fuzz_edit(const struct jdoc *doc, const char *const *path,
                     size_t depth, const struct jedit *e, size_t n,
                     unsigned flags, char **out, size_t *outlen)
{
	struct diag d;

	diag_clear(&d);
	return jdoc_edit(doc, path, depth, e, n, flags, out, outlen, &d);
}

static struct jdoc *fuzz_reparse(const char *text, size_t len, unsigned pflags)
{
	struct jdoc *doc = NULL;
	struct diag d;
	int r;

	diag_clear(&d);
	r = jdoc_parse(text, len, pflags, &doc, &d);
	if (r != 0)
		fprintf(stderr, "reparse: %u:%u %s\n", d.line, d.col, d.msg);
	fuzz_check(r == 0, "an edit result does not parse");
	return doc;
}

/* Adds FUZZ_NAME to the object at path, removes it, expects the input back. */
static void fuzz_round_trip(const struct jdoc *doc, unsigned pflags,
                            const char *const *path, size_t depth,
                            const json_t *val, unsigned prune)
{
	struct jedit add = {FUZZ_NAME, val}, rm = {FUZZ_NAME, NULL};
	const char *orig;
	size_t olen, l1, l2;
	char *s1 = NULL, *s2 = NULL;
	struct jdoc *d1;
	int r;

	orig = jdoc_text(doc, &olen);
	r = fuzz_edit(doc, path, depth, &add, 1, 0, &s1, &l1);
	fuzz_check(r == 0 || r == -ERR_TOOBIG, "add failed");
	if (r != 0)
		return;
	d1 = fuzz_reparse(s1, l1, pflags);
	r = fuzz_edit(d1, path, depth, &rm, 1, prune, &s2, &l2);
	fuzz_check(r == 0, "remove failed");
	if (!fuzz_round_trip_ok(orig, olen, s2, l2)) {
		fprintf(stderr,
		        "original:\n%.*s\nadded:\n%.*s\nremoved:\n%.*s\n",
		        (int)olen, orig, (int)l1, s1, (int)l2, s2);
		fuzz_check(0, "add then remove does not give the input back");
	}
	jdoc_free(d1);
	free(s1);
	free(s2);
}

/* The values of the members not named in skip are the same in both. */
static void fuzz_same_members(const struct jdoc *a, const struct jdoc *b,
                              char **names, size_t n, const char *skip1,
                              const char *skip2)
{
	json_t *va, *vb;
	struct diag d;
	size_t i;
	int ra, rb;

	for (i = 0; i < n; i++) {
		if (strcmp(names[i], skip1) == 0 ||
		    strcmp(names[i], skip2) == 0 ||
		    strcmp(names[i], FUZZ_NAME) == 0)
			continue;
		va = vb = NULL;
		ra = jdoc_member_get(a, NULL, 0, names[i], &va, &d);
		rb = jdoc_member_get(b, NULL, 0, names[i], &vb, &d);
		fuzz_check(ra == rb, "a member's decoding changed");
		fuzz_check(ra != 0 || json_equal(va, vb),
		           "an untouched member changed");
		json_decref(va);
		json_decref(vb);
	}
}

/* Checks a parsed document against jansson's reading of the same text. */
static void fuzz_against_jansson(const struct jdoc *doc, const char *text,
                                 size_t len, char **names, size_t n)
{
	json_t *all, *v;
	struct diag d;
	size_t i;

	all = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	                 NULL);
	if (all == NULL)
		return;
	fuzz_check(!json_is_object(all) || json_object_size(all) == n,
	           "member count differs from jansson's");
	for (i = 0; i < n && json_is_object(all); i++) {
		v = NULL;
		if (jdoc_member_get(doc, NULL, 0, names[i], &v, &d) != 0)
			continue;
		fuzz_check(json_equal(v, json_object_get(all, names[i])),
		           "a member decodes unlike jansson's");
		json_decref(v);
	}
	json_decref(all);
}

static void fuzz_one(const char *text, size_t len, unsigned pflags,
                     const json_t *server, const json_t *num)
{
	const char *path[1] = {"mcpfleet-fuzz-obj"};
	struct jdoc *doc = NULL, *after;
	struct jedit e[3];
	struct diag d;
	char **names = NULL, **names2 = NULL, *out = NULL;
	const char *t, *first = "", *last = "";
	size_t n = 0, n2 = 0, i, k, tl, outlen, ne = 0;
	bool had = false;
	json_t *v;
	int r;

	diag_clear(&d);
	r = jdoc_parse(text, len, pflags, &doc, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_PARSE || r == -ERR_DUPLICATE ||
		               r == -ERR_TOOBIG || r == -ERR_NOMEM,
		           "unexpected parse error code");
		fuzz_check(d.msg[0] != '\0' && d.line >= 1 && d.col >= 1,
		           "parse error without a position or message");
		fuzz_check(doc == NULL, "a document despite an error");
		return;
	}
	t = jdoc_text(doc, &tl);
	fuzz_check(tl == len && memcmp(t, text, len) == 0 && t[len] == '\0',
	           "the document's text is not the input");
	r = jdoc_member_names(doc, NULL, 0, &names, &n, &d);
	if (r == -ERR_TYPE) {
		fuzz_check(jdoc_find_object(doc, NULL, 0, &d) == -ERR_TYPE,
		           "find_object disagrees on the root");
		e[0].name = FUZZ_NAME;
		e[0].value = server;
		fuzz_check(fuzz_edit(doc, NULL, 0, e, 1, 0, &out, &outlen) ==
		               -ERR_TYPE,
		           "a root that is no object was edited");
		goto out;
	}
	if (r == -ERR_INVALID)
		goto out; /* a name with NUL: nothing to address it by */
	fuzz_check(r == 0, "member_names failed");
	if (pflags == 0)
		fuzz_against_jansson(doc, text, len, names, n);
	for (i = 0; i < n; i++) {
		v = NULL;
		r = jdoc_member_get(doc, NULL, 0, names[i], &v, &d);
		fuzz_check(r == 0 || r == -ERR_INVALID, "member_get failed");
		if (r == 0 && i == 0) {
			/* Replacing with an equal value changes nothing. */
			e[0].name = names[0];
			e[0].value = v;
			fuzz_check(fuzz_edit(doc, NULL, 0, e, 1, 0, &out,
			                     &outlen) == 0,
			           "equal replace failed");
			fuzz_check(outlen == len && memcmp(out, text, len) == 0,
			           "an equal replace changed bytes");
			free(out);
			out = NULL;
		}
		json_decref(v);
		if (strcmp(names[i], FUZZ_NAME) == 0)
			had = true;
	}

	/* Add one, replace the first, remove the last. */
	e[ne].name = FUZZ_NAME;
	e[ne++].value = server;
	if (n > 0) {
		first = names[0];
		last = names[n - 1];
		e[ne].name = first;
		e[ne++].value = num;
		e[ne].name = last;
		e[ne++].value = NULL;
	}
	r = fuzz_edit(doc, NULL, 0, e, ne, 0, &out, &outlen);
	fuzz_check(r == 0, "edit failed");
	after = fuzz_reparse(out, outlen, pflags);
	fuzz_check(jdoc_member_names(after, NULL, 0, &names2, &n2, &d) == 0,
	           "names after the edit");
	/* The names are the old ones less the last, plus ours at the end. */
	k = 0;
	for (i = 0; i < n; i++) {
		if (i == n - 1)
			continue;
		fuzz_check(k < n2 && strcmp(names[i], names2[k]) == 0,
		           "member order changed");
		k++;
	}
	if (!had) {
		fuzz_check(k < n2 && strcmp(names2[k], FUZZ_NAME) == 0,
		           "the new member is not last");
		k++;
	}
	fuzz_check(k == n2, "unexpected members after the edit");
	fuzz_same_members(doc, after, names, n, first, last);
	jdoc_free(after);

	/* Round trips: at the root, in a new object, in a member object. */
	if (!had) {
		fuzz_round_trip(doc, pflags, NULL, 0, server, 0);
		if (jdoc_find_object(doc, path, 1, &d) == -ERR_NOENT)
			fuzz_round_trip(doc, pflags, path, 1, server,
			                JEDIT_PRUNE_EMPTY);
	}
	for (i = 0; i < n && i < 4; i++) {
		const char *p1[1];

		p1[0] = names[i];
		if (jdoc_find_object(doc, p1, 1, &d) != 0)
			continue;
		v = NULL;
		r = jdoc_member_get(doc, p1, 1, FUZZ_NAME, &v, &d);
		json_decref(v);
		if (r != -ERR_NOENT)
			continue;
		fuzz_round_trip(doc, pflags, p1, 1, num, 0);
		break;
	}
out:
	free(out);
	jdoc_names_free(names, n);
	jdoc_names_free(names2, n2);
	jdoc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jdoc *doc = NULL;
	json_t *server, *num;
	int strict, jsonc;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	server = json_pack("{s:s,s:[ss],s:{}}", "command", "npx", "args", "-y",
	                   "x/é", "env");
	num = json_integer(42);
	fuzz_check(server != NULL && num != NULL, "jansson");
	/* JSONC accepts all of JSON. */
	strict = jdoc_parse((const char *)data, size, 0, &doc, NULL);
	jdoc_free(doc);
	doc = NULL;
	jsonc = jdoc_parse((const char *)data, size, JDOC_JSONC, &doc, NULL);
	jdoc_free(doc);
	fuzz_check(strict != 0 || jsonc == 0, "JSON that is not JSONC");
	fuzz_one((const char *)data, size, 0, server, num);
	fuzz_one((const char *)data, size, JDOC_JSONC, server, num);
	json_decref(server);
	json_decref(num);
	return 0;
}
