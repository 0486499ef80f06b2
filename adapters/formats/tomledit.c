/* SPDX-License-Identifier: MIT */
/* Splices whole [PATH.NAME] tables in a TOML document as text. */
#include "tomledit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/*
 * Follows path from the root. Returns 0 with *out the table (NULL when a
 * table on the path is absent), or -ERR_TYPE when a value on the path is
 * not a table.
 */
static int tomledit_find(const struct toml_doc *doc, const char *const *path,
                         size_t depth, const struct toml_value **out,
                         struct diag *d)
{
	const struct toml_value *t = toml_root(doc);
	size_t i;

	for (i = 0; i < depth && t != NULL; i++) {
		t = toml_table_get(t, path[i]);
		if (t != NULL && toml_type(t) != TOML_TABLE)
			return diag_set(d, ERR_TYPE, 0, 0,
			                "'%s' is not a table", path[i]);
	}
	*out = t;
	return 0;
}

int tomledit_names(const struct toml_doc *doc, const char *const *path,
                   size_t depth, char ***names, size_t *n, struct diag *d)
{
	const struct toml_value *t = NULL;
	char **v = NULL;
	size_t i, count;
	int r;

	if ((r = tomledit_find(doc, path, depth, &t, d)) != 0)
		return r;
	count = t != NULL ? toml_table_size(t) : 0;
	if (count > 0 && (v = calloc(count, sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < count; i++)
		if ((v[i] = strdup(toml_table_key(t, i))) == NULL) {
			edit_names_free(v, i);
			return -ERR_NOMEM;
		}
	*names = v;
	*n = count;
	return 0;
}

int tomledit_get(const struct toml_doc *doc, const char *const *path,
                 size_t depth, const char *name, json_t **out, struct diag *d)
{
	const struct toml_value *t = NULL, *v;
	int r;

	if ((r = tomledit_find(doc, path, depth, &t, d)) != 0)
		return r;
	if (t == NULL || (v = toml_table_get(t, name)) == NULL)
		return -ERR_NOENT;
	return toml_to_json(v, out);
}

/* True when sec's header starts with path (and, when name, then name). */
static bool tomledit_section_under(const struct toml_section *sec,
                                   const char *const *path, size_t depth,
                                   const char *name)
{
	size_t i;

	if (sec->depth < depth + (name != NULL ? 1 : 0) || sec->depth == 0)
		return false;
	for (i = 0; i < depth; i++)
		if (strcmp(sec->path[i], path[i]) != 0)
			return false;
	return name == NULL || strcmp(sec->path[depth], name) == 0;
}

/*
 * Skips the string that opens at text[i] (a quote) and returns the offset
 * just past it. The text has parsed, so every string is closed.
 */
static size_t tomledit_skip_string(const char *text, size_t i, size_t end)
{
	char q = text[i];
	bool ml = i + 2 < end && text[i + 1] == q && text[i + 2] == q;
	size_t k;

	i += ml ? 3 : 1;
	while (i < end) {
		if (q == '"' && text[i] == '\\') {
			i += 2;
			continue;
		}
		if (!ml && (text[i] == q || text[i] == '\n'))
			return i + 1;
		if (ml && i + 2 < end && text[i] == q && text[i + 1] == q &&
		    text[i + 2] == q) {
			/* Up to two more quotes belong to the string. */
			for (k = 3; k < 5 && i + k < end && text[i + k] == q;
			     k++)
				;
			return i + k;
		}
		i++;
	}
	return end;
}

/*
 * End of a section's own content: trailing blank and comment lines belong
 * to whatever follows (the user's comment above the next table stays). The
 * body is scanned rather than read backwards, because a line that looks
 * like a comment may be inside a multi-line string.
 */
static size_t tomledit_content_end(const char *text,
                                   const struct toml_section *sec)
{
	size_t i = sec->body, last = sec->body;
	const char *nl;

	while (i < sec->end) {
		char c = text[i];

		if (c == '#') {
			nl = memchr(text + i, '\n', sec->end - i);
			i = nl != NULL ? (size_t)(nl - text) + 1 : sec->end;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '"' || c == '\'') {
			i = tomledit_skip_string(text, i, sec->end);
			last = i;
		} else {
			last = ++i;
		}
	}
	if (last == sec->body)
		return sec->body;
	/* The line holding the last value ends the content. */
	nl = memchr(text + last, '\n', sec->end - last);
	return nl != NULL ? (size_t)(nl - text) + 1 : sec->end;
}

/* Length of the blank line just before start (the one we insert), or 0. */
static size_t tomledit_blank_before(const char *text, size_t start,
                                    const char *eol)
{
	size_t n = strlen(eol);

	if (start < n || memcmp(text + start - n, eol, n) != 0)
		return 0;
	/* text[start - n .. start) ends the previous line; that line is
	 * blank when it is exactly eol, at the start of the text or after
	 * another line end. */
	if (start == n || text[start - n - 1] == '\n')
		return n;
	return 0;
}

static int tomledit_render(const char *const *path, size_t depth,
                           const char *name, const json_t *value,
                           const char *eol, struct buf *b, struct diag *d)
{
	const char *key;
	const json_t *v;
	size_t i;
	int r = 0;

	if (!json_is_object(value))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "entry '%s' is not a table", name);
	r |= buf_putc(b, '[');
	for (i = 0; i < depth; i++) {
		r |= toml_write_key(b, path[i]);
		r |= buf_putc(b, '.');
	}
	r |= toml_write_key(b, name);
	r |= buf_putc(b, ']');
	r |= buf_puts(b, eol);
	json_object_foreach((json_t *)(uintptr_t)value, key, v)
	{
		r |= toml_write_key(b, key);
		r |= buf_puts(b, " = ");
		if (r == 0 && (r = toml_write_value(b, v)) != 0)
			return diag_set(d, r, 0, 0,
			                "entry '%s': field '%s' has no TOML "
			                "form",
			                name, key);
		r |= buf_puts(b, eol);
	}
	return r != 0 ? -ERR_NOMEM : 0;
}

/* Removes every section of name, each with the blank line before it. */
static int tomledit_remove_sections(const char *text,
                                    const struct toml_section *secs,
                                    size_t nsecs, const char *const *path,
                                    size_t depth, const char *name,
                                    size_t skip_first, const char *eol,
                                    struct edit_pieces *sp)
{
	size_t i, seen = 0;
	int r;

	for (i = 0; i < nsecs; i++) {
		size_t s;

		if (!tomledit_section_under(&secs[i], path, depth, name))
			continue;
		if (seen++ < skip_first)
			continue;
		s = secs[i].start;
		s -= tomledit_blank_before(text, s, eol);
		if ((r = edit_pieces_push(sp, s,
		                          tomledit_content_end(text, &secs[i]),
		                          NULL)) != 0)
			return r;
	}
	return 0;
}

int tomledit_edit(const struct toml_doc *doc, const char *text, size_t len,
                  const char *const *path, size_t depth,
                  const struct jedit *edits, size_t n, char **out,
                  size_t *outlen, struct diag *d)
{
	const struct toml_section *secs;
	const struct toml_value *table = NULL, *member;
	struct edit_pieces sp = {0};
	struct buf adds = BUF_INIT, res = BUF_INIT, block = BUF_INIT;
	struct toml_doc *check = NULL;
	struct diag cd;
	const char *eol = "\n", *nl;
	size_t nsecs, i, insert_at = len;
	int r;

	if ((nl = memchr(text, '\n', len)) != NULL && nl > text &&
	    nl[-1] == '\r')
		eol = "\r\n";
	if ((r = tomledit_find(doc, path, depth, &table, d)) != 0)
		return r;
	nsecs = toml_sections(doc, &secs);
	/* New tables go after the last table of the family, else at the end. */
	for (i = 0; i < nsecs; i++)
		if (secs[i].depth >= depth && secs[i].depth > 0 &&
		    tomledit_section_under(&secs[i], path, depth, NULL))
			insert_at = tomledit_content_end(text, &secs[i]);
	for (i = 0; i < n; i++) {
		const char *name = edits[i].name;
		size_t j, first = nsecs;

		member = table != NULL ? toml_table_get(table, name) : NULL;
		if (member != NULL) {
			enum toml_origin o = toml_type(member) == TOML_TABLE
			                         ? toml_table_origin(member)
			                         : TOML_ORIGIN_INLINE;

			if (o != TOML_ORIGIN_HEADER &&
			    o != TOML_ORIGIN_IMPLICIT) {
				r = diag_set(d, ERR_CONFLICT, 0, 0,
				             "'%s' is not written as its own "
				             "table; edit it by hand or make "
				             "it a table",
				             name);
				goto out;
			}
			for (j = 0; j < nsecs && first == nsecs; j++)
				if (tomledit_section_under(&secs[j], path,
				                           depth, name))
					first = j;
		}
		if (edits[i].value == NULL) {
			if (member == NULL)
				continue;
			if ((r = tomledit_remove_sections(text, secs, nsecs,
			                                  path, depth, name, 0,
			                                  eol, &sp)) != 0)
				goto out;
			continue;
		}
		buf_reset(&block);
		if ((r = tomledit_render(path, depth, name, edits[i].value, eol,
		                         &block, d)) != 0)
			goto out;
		if (member != NULL && first < nsecs) {
			char *t = buf_steal(&block, NULL);

			if (t == NULL) {
				r = -ERR_NOMEM;
				goto out;
			}
			if ((r = edit_pieces_push(
			         &sp, secs[first].start,
			         tomledit_content_end(text, &secs[first]),
			         t)) != 0)
				goto out;
			if ((r = tomledit_remove_sections(text, secs, nsecs,
			                                  path, depth, name, 1,
			                                  eol, &sp)) != 0)
				goto out;
			continue;
		}
		/* A new table: one blank line before it, unless it opens the
		 * file. */
		if (insert_at > 0 || adds.len > 0)
			r |= buf_puts(&adds, eol);
		r |= buf_append(&adds, block.data, block.len);
		if (r != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
	}
	if (adds.len > 0) {
		char *t;

		/* The last line of the file may lack its line end. */
		if (insert_at == len && len > 0 && text[len - 1] != '\n') {
			struct buf fix = BUF_INIT;

			if (buf_puts(&fix, eol) != 0 ||
			    buf_append(&fix, adds.data, adds.len) != 0) {
				buf_free(&fix);
				r = -ERR_NOMEM;
				goto out;
			}
			buf_free(&adds);
			adds = fix;
		}
		if ((t = buf_steal(&adds, NULL)) == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		if ((r = edit_pieces_push(&sp, insert_at, insert_at, t)) != 0)
			goto out;
	}
	if ((r = edit_pieces_apply(&sp, text, len, &res)) != 0) {
		if (r == -ERR_INVALID)
			r = diag_set(d, ERR_INTERNAL, 0, 0,
			             "overlapping edits in the TOML file");
		goto out;
	}
	/* Never hand back a document that does not parse. */
	if ((r = toml_parse(res.data, res.len, &check, &cd)) != 0) {
		r = diag_set(d, ERR_INVALID, cd.line, cd.col,
		             "the edited file would not parse (line %u: %s)",
		             cd.line, cd.msg);
		goto out;
	}
	*outlen = res.len;
	if ((*out = buf_steal(&res, NULL)) == NULL)
		r = -ERR_NOMEM;
out:
	toml_free(check);
	edit_pieces_free(&sp);
	buf_free(&adds);
	buf_free(&res);
	buf_free(&block);
	return r;
}
