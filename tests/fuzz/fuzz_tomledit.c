/* SPDX-License-Identifier: MIT */
/* libFuzzer target for tomledit: names, get and the splicing of whole
 * [PATH.NAME] tables, each edit parsed again and checked to show. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "edit.h"
#include "err.h"
#include "toml.h"
#include "tomledit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)
#define FUZZ_MAX_NAMES 8
#define FUZZ_NEW       "mcpfleet-fuzz"

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_tomledit: %s\n", what);
		abort();
	}
}

static bool fuzz_is_eol(const char *s, size_t n)
{
	return (n == 1 && s[0] == '\n') ||
	       (n == 2 && s[0] == '\r' && s[1] == '\n');
}

/* json_equal() looks object keys up with strlen(); keys may hold NULs. */
static int fuzz_json_equal(const json_t *a, const json_t *b)
{
	json_t *ma = (json_t *)(uintptr_t)a;
	const json_t *vb;
	size_t i;
	void *it;

	if (a == NULL || b == NULL || json_typeof(a) != json_typeof(b))
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

/* The entry the edits write: the shape of a codex stdio server. */
static json_t *fuzz_entry(void)
{
	json_t *e = json_pack("{s:s, s:[s, s], s:{s:s}, s:i, s:b}", "command",
	                      "npx", "args", "-y", "server \"x\"", "env", "K",
	                      "v\n", "startup_timeout_sec", 20, "enabled", 1);

	fuzz_check(e != NULL, "json_pack");
	return e;
}

/*
 * Checks an edit's result: it parses, the edited name reads as the edit
 * says, and every other member listed in before reads as it did.
 */
static void fuzz_verify(const struct toml_doc *orig, const char *const *path,
                        size_t depth, const char *name, const json_t *value,
                        const char *out, size_t outlen)
{
	struct toml_doc *again = NULL;
	struct diag d;
	char **names = NULL;
	json_t *a = NULL, *b = NULL;
	size_t n = 0, i;
	int r, ra, rb;

	r = toml_parse(out, outlen, &again, &d);
	if (r != 0) {
		fprintf(stderr, "%u:%u: %s\n%.*s\n", d.line, d.col, d.msg,
		        (int)outlen, out);
		fuzz_check(0, "edited text does not parse");
	}
	r = tomledit_get(again, path, depth, name, &a, &d);
	if (value == NULL)
		fuzz_check(r == -ERR_NOENT, "removed member still there");
	else if (r != 0 || !fuzz_json_equal(a, value)) {
		fprintf(stderr, "member %s\n%.*s\n", name, (int)outlen, out);
		fuzz_check(0, "edited member does not read back");
	}
	json_decref(a);
	a = NULL;
	if (tomledit_names(orig, path, depth, &names, &n, &d) != 0)
		n = 0;
	for (i = 0; i < n && i < FUZZ_MAX_NAMES; i++) {
		if (strcmp(names[i], name) == 0)
			continue;
		ra = tomledit_get(orig, path, depth, names[i], &a, &d);
		rb = tomledit_get(again, path, depth, names[i], &b, &d);
		if (ra == 0) {
			if (rb != 0 || !fuzz_json_equal(a, b))
				fprintf(stderr, "member %s\n%.*s\n", names[i],
				        (int)outlen, out);
			fuzz_check(rb == 0 && fuzz_json_equal(a, b),
			           "another member changed");
		}
		json_decref(a);
		json_decref(b);
		a = b = NULL;
	}
	edit_names_free(names, n);
	toml_free(again);
}

/* An edit either works and shows, or fails with a named reason; added says
 * that name is absent from doc. */
static void fuzz_edit(const struct toml_doc *doc, const uint8_t *data,
                      size_t size, const char *const *path, size_t depth,
                      const char *name, const json_t *value, bool added)
{
	const struct jedit e = {name, value};
	struct toml_doc *mid = NULL;
	struct diag d;
	char *out = NULL, *back = NULL;
	size_t outlen = 0, backlen = 0;
	int r;

	diag_clear(&d);
	r = tomledit_edit(doc, (const char *)data, size, path, depth, &e, 1,
	                  &out, &outlen, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_CONFLICT || r == -ERR_TYPE ||
		               r == -ERR_INVALID || r == -ERR_NOMEM,
		           "unexpected error code");
		fuzz_check(d.msg[0] != '\0', "error without a message");
		return;
	}
	fuzz_check(out != NULL && strlen(out) == outlen, "output length");
	/* Removing what is not there changes nothing. */
	if (value == NULL && added)
		fuzz_check(outlen == size && memcmp(out, data, size) == 0,
		           "removing an absent member changed the text");
	fuzz_verify(doc, path, depth, name, value, out, outlen);
	/* A member added, then removed, gives back the original bytes. */
	if (added && value != NULL) {
		const struct jedit rm = {name, NULL};

		fuzz_check(toml_parse(out, outlen, &mid, &d) == 0, "reparse");
		r = tomledit_edit(mid, out, outlen, path, depth, &rm, 1, &back,
		                  &backlen, &d);
		fuzz_check(r == 0, "removing the new member failed");
		if (backlen < size || memcmp(back, data, size) != 0 ||
		    backlen > size + 2)
			fprintf(stderr, "--- added\n%.*s\n--- removed\n%.*s\n",
			        (int)outlen, out, (int)backlen, back);
		/* The one difference allowed: a last line without a line
		 * end gains one, which the new table needed. */
		fuzz_check(backlen >= size && memcmp(back, data, size) == 0 &&
		               (backlen == size ||
		                (size > 0 && data[size - 1] != '\n' &&
		                 fuzz_is_eol(back + size, backlen - size))),
		           "add then remove is not a round trip");
		toml_free(mid);
		free(back);
	}
	free(out);
}

/* Adds a new member, and replaces and removes each listed one. */
static void fuzz_path(const struct toml_doc *doc, const uint8_t *data,
                      size_t size, const char *const *path, size_t depth,
                      const json_t *entry)
{
	struct diag d;
	char **names = NULL;
	json_t *v = NULL;
	size_t n = 0, i;
	int r;

	r = tomledit_names(doc, path, depth, &names, &n, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_TYPE || r == -ERR_NOMEM, "names error");
		return;
	}
	if (tomledit_get(doc, path, depth, FUZZ_NEW, &v, &d) == -ERR_NOENT) {
		fuzz_edit(doc, data, size, path, depth, FUZZ_NEW, NULL, true);
		fuzz_edit(doc, data, size, path, depth, FUZZ_NEW, entry, true);
	}
	json_decref(v);
	for (i = 0; i < n && i < FUZZ_MAX_NAMES; i++) {
		/* A name cut at a NUL cannot be found again. */
		if (tomledit_get(doc, path, depth, names[i], &v, &d) != 0)
			continue;
		json_decref(v);
		v = NULL;
		fuzz_edit(doc, data, size, path, depth, names[i], entry, false);
		fuzz_edit(doc, data, size, path, depth, names[i], NULL, false);
	}
	edit_names_free(names, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const servers[] = {"mcp_servers"};
	const struct toml_section *sec;
	struct toml_doc *doc = NULL;
	struct diag d;
	json_t *entry;
	size_t nsec;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (toml_parse((const char *)data, size, &doc, &d) != 0)
		return 0;
	entry = fuzz_entry();
	fuzz_path(doc, data, size, servers, 1, entry);
	/* The parent of the first table header, and the root itself. */
	nsec = toml_sections(doc, &sec);
	if (nsec > 1 && sec[1].depth > 1)
		fuzz_path(doc, data, size, (const char *const *)sec[1].path,
		          sec[1].depth - 1, entry);
	fuzz_path(doc, data, size, NULL, 0, entry);
	json_decref(entry);
	toml_free(doc);
	return 0;
}
