/* SPDX-License-Identifier: MIT */
/* libFuzzer target for yamledit: the layout of the mcpServers list, and the
 * splicing of its named items, each result read again and checked to show
 * the edit and keep the other items. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "edit.h"
#include "err.h"
#include "yamledit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)
#define FUZZ_MAX_NAMES 8
#define FUZZ_KEY       "mcpServers"
#define FUZZ_NEW       "mcpfleet-fuzz"

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_yamledit: %s\n", what);
		abort();
	}
}

static bool fuzz_is_eol(const char *s, size_t n)
{
	return (n == 1 && s[0] == '\n') ||
	       (n == 2 && s[0] == '\r' && s[1] == '\n');
}

/* The entry the edits write: the shape of a cn stdio server, with strings
 * YAML would read otherwise if they were not quoted. */
static json_t *fuzz_entry(void)
{
	json_t *e =
	    json_pack("{s:s, s:s, s:[s, s, s], s:{s:s}}", "type", "stdio",
	              "command", "npx", "args", "-y", "# not a comment",
	              "a\xe2\x80\xa8"
	              "b: c",
	              "env", "K", "v\n'\"");

	fuzz_check(e != NULL, "json_pack");
	return e;
}

/* True when name is among names[0..n). */
static bool fuzz_has(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/*
 * Checks an edit's result: it parses, the edited name reads as the edit
 * says, and every other named item of the original is still there.
 */
static void fuzz_verify(const struct yaml_doc *orig, const char *name,
                        const json_t *value, const char *out, size_t outlen)
{
	struct yaml_doc *again = NULL;
	struct diag d;
	char **names = NULL, **after = NULL;
	json_t *a = NULL;
	size_t n = 0, na = 0, i;
	int r;

	r = yamledit_parse(out, outlen, FUZZ_KEY, &again, &d);
	if (r != 0) {
		fprintf(stderr, "%u:%u: %s\n%.*s\n", d.line, d.col, d.msg,
		        (int)outlen, out);
		fuzz_check(0, "edited text does not parse");
	}
	r = yamledit_get(again, name, &a, &d);
	if (value == NULL)
		fuzz_check(r == -ERR_NOENT, "removed item still there");
	else
		fuzz_check(r == 0 && json_equal(a, value),
		           "edited item does not read back");
	json_decref(a);
	fuzz_check(yamledit_names(orig, &names, &n) == 0, "names");
	fuzz_check(yamledit_names(again, &after, &na) == 0, "names again");
	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) != 0)
			fuzz_check(fuzz_has(after, na, names[i]),
			           "another item was lost");
	edit_names_free(names, n);
	edit_names_free(after, na);
	yamledit_free(again);
}

/* An edit either works and shows, or fails with a named reason; added says
 * that name is absent from doc. */
static void fuzz_edit(const struct yaml_doc *doc, const uint8_t *data,
                      size_t size, const char *name, const json_t *value,
                      bool added, bool exact)
{
	const struct jedit e = {name, value};
	struct yaml_doc *mid = NULL;
	struct diag d;
	char *out = NULL, *back = NULL;
	size_t outlen = 0, backlen = 0;
	int r;

	diag_clear(&d);
	r = yamledit_edit(doc, &e, 1, false, &out, &outlen, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_INVALID || r == -ERR_NOMEM,
		           "unexpected error code");
		fuzz_check(d.msg[0] != '\0', "error without a message");
		return;
	}
	fuzz_check(out != NULL && strlen(out) == outlen, "output length");
	if (value == NULL && added)
		fuzz_check(outlen == size && memcmp(out, data, size) == 0,
		           "removing an absent item changed the text");
	fuzz_verify(doc, name, value, out, outlen);
	/* An item added, then removed (its key too when it was added with
	 * it), gives back the original bytes. */
	if (added && value != NULL) {
		const struct jedit rm = {name, NULL};

		fuzz_check(yamledit_parse(out, outlen, FUZZ_KEY, &mid, &d) == 0,
		           "reparse");
		r = yamledit_edit(mid, &rm, 1, !yamledit_exists(doc), &back,
		                  &backlen, &d);
		fuzz_check(r == 0, "removing the new item failed");
		if (exact) {
			if (backlen < size || memcmp(back, data, size) != 0 ||
			    backlen > size + 2)
				fprintf(stderr,
				        "--- added\n%.*s\n--- removed\n%.*s\n",
				        (int)outlen, out, (int)backlen, back);
			/* The one difference allowed: a last line without
			 * a line end gains one. */
			fuzz_check(
			    backlen >= size && memcmp(back, data, size) == 0 &&
			        (backlen == size ||
			         (size > 0 && data[size - 1] != '\n' &&
			          fuzz_is_eol(back + size, backlen - size))),
			    "add then remove is not a round trip");
		}
		yamledit_free(mid);
		free(back);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yaml_doc *doc = NULL;
	struct diag d;
	json_t *entry, *v = NULL;
	char **names = NULL;
	size_t n = 0, i;
	bool exact;
	int r;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	diag_clear(&d);
	r = yamledit_parse((const char *)data, size, FUZZ_KEY, &doc, &d);
	if (r != 0) {
		fuzz_check(r == -ERR_PARSE || r == -ERR_NOMEM, "parse error");
		fuzz_check(r == -ERR_NOMEM || (d.msg[0] != '\0' && d.line > 0),
		           "a refusal without a line and a reason");
		return 0;
	}
	entry = fuzz_entry();
	fuzz_check(yamledit_names(doc, &names, &n) == 0, "names");
	/* A list with no named item may be "[]" or null: emptied again, it
	 * is written "[]". */
	exact = !yamledit_exists(doc) || n > 0;
	if (yamledit_get(doc, FUZZ_NEW, &v, &d) == -ERR_NOENT) {
		fuzz_edit(doc, data, size, FUZZ_NEW, NULL, true, exact);
		fuzz_edit(doc, data, size, FUZZ_NEW, entry, true, exact);
	}
	json_decref(v);
	for (i = 0; i < n && i < FUZZ_MAX_NAMES; i++) {
		fuzz_edit(doc, data, size, names[i], entry, false, false);
		fuzz_edit(doc, data, size, names[i], NULL, false, false);
	}
	edit_names_free(names, n);
	json_decref(entry);
	yamledit_free(doc);
	return 0;
}
