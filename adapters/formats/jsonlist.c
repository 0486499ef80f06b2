/* SPDX-License-Identifier: MIT */
/* Format-preserving edits of a JSON array of strings inside an object. */
#include "jsonlist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

#define JLIST_NONE SIZE_MAX

/* One element of the array, as offsets in the working text. */
struct jlist_elem {
	size_t start, end;
	size_t comma; /* the comma after it, or JLIST_NONE */
};

/* The array being edited: the whole text, and where the array is in it. */
struct jlist {
	struct buf t;
	size_t open, close; /* the '[' and the ']' */
	struct jlist_elem *e;
	size_t n, cap;
};

static bool jlist_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips blanks and comments (the text has been validated: a '/' starts a
 * comment). */
static size_t jlist_trivia(const char *t, size_t p, size_t end)
{
	for (;;) {
		while (p < end && jlist_ws(t[p]))
			p++;
		if (p + 1 >= end || t[p] != '/')
			return p;
		if (t[p + 1] == '/') {
			while (p < end && t[p] != '\n')
				p++;
			continue;
		}
		for (p += 2; p + 1 < end && !(t[p] == '*' && t[p + 1] == '/');
		     p++)
			;
		p = p + 1 < end ? p + 2 : end;
	}
}

/* End of the validated value that starts at p. */
static size_t jlist_value_end(const char *t, size_t p, size_t end)
{
	size_t depth = 0;

	do {
		if (t[p] == '"') {
			for (p++; p < end && t[p] != '"'; p++)
				if (t[p] == '\\')
					p++;
			p++;
		} else if (t[p] == '[' || t[p] == '{') {
			depth++;
			p++;
		} else if (t[p] == ']' || t[p] == '}') {
			depth--;
			p++;
		} else if (depth > 0 && (jlist_ws(t[p]) || t[p] == '/')) {
			p = jlist_trivia(t, p, end);
		} else if (depth > 0) {
			p++;
		} else {
			while (p < end && !jlist_ws(t[p]) && t[p] != ',' &&
			       t[p] != ']' && t[p] != '/')
				p++;
		}
	} while (depth > 0 && p < end);
	return p;
}

/* Records the elements of the array at [l->open, l->close]. */
static int jlist_scan(struct jlist *l)
{
	const char *t = l->t.data;
	size_t p = l->open + 1;
	struct jlist_elem *v;

	l->n = 0;
	for (;;) {
		p = jlist_trivia(t, p, l->close);
		if (p >= l->close)
			return 0;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 8;
			if ((v = realloc(l->e, l->cap * sizeof(*v))) == NULL)
				return -ERR_NOMEM;
			l->e = v;
		}
		v = &l->e[l->n++];
		v->start = p;
		v->end = p = jlist_value_end(t, p, l->close);
		p = jlist_trivia(t, p, l->close);
		v->comma = JLIST_NONE;
		if (p < l->close && t[p] == ',')
			v->comma = p++;
	}
}

/* The element as a string, or NULL when it is not one (or ENOMEM). */
static json_t *jlist_decode(const struct jlist *l, size_t i)
{
	const struct jlist_elem *e = &l->e[i];
	json_t *j;

	if (l->t.data[e->start] != '"')
		return NULL;
	j = json_loadb(l->t.data + e->start, e->end - e->start,
	               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (j != NULL && !json_is_string(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static bool jlist_equals(const struct jlist *l, size_t i, const char *name)
{
	json_t *j = jlist_decode(l, i);
	bool eq = j != NULL && strlen(name) == json_string_length(j) &&
	          memcmp(json_string_value(j), name, strlen(name)) == 0;

	json_decref(j);
	return eq;
}

static int jlist_splice(struct jlist *l, size_t pos, size_t del,
                        const char *ins, size_t inslen)
{
	int r;

	if ((r = buf_reserve(&l->t, inslen)) != 0)
		return r;
	memmove(l->t.data + pos + inslen, l->t.data + pos + del,
	        l->t.len - pos - del);
	memcpy(l->t.data + pos, ins, inslen);
	l->t.len = l->t.len - del + inslen;
	l->t.data[l->t.len] = '\0';
	l->close = l->close - del + inslen;
	return jlist_scan(l);
}

static bool jlist_has_comment(const char *t, size_t a, size_t b)
{
	size_t q;

	for (q = a; q + 1 < b; q++)
		if (t[q] == '/' && (t[q + 1] == '/' || t[q + 1] == '*'))
			return true;
	return false;
}

/* Removes element i with its separator. */
static int jlist_remove(struct jlist *l, size_t i)
{
	const struct jlist_elem *e = &l->e[i];
	size_t stop = e->comma != JLIST_NONE ? e->comma + 1 : e->end;

	if (l->n == 1 && !jlist_has_comment(l->t.data, l->open + 1, l->close))
		return jlist_splice(l, l->open + 1, l->close - l->open - 1, "",
		                    0);
	if (l->n == 1)
		return jlist_splice(l, e->start, stop - e->start, "", 0);
	if (i + 1 < l->n)
		return jlist_splice(l, e->start, l->e[i + 1].start - e->start,
		                    "", 0);
	return jlist_splice(l, l->e[i - 1].end, stop - l->e[i - 1].end, "", 0);
}

/* Appends name after the last element, in the array's own layout. */
static int jlist_append(struct jlist *l, const char *name, struct diag *d)
{
	const char *t = l->t.data;
	const struct jlist_elem *last = &l->e[l->n - 1];
	struct buf ins = {0};
	json_t *js = json_string(name);
	char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	size_t pos, ls;
	int r = 0;

	json_decref(js);
	if (enc == NULL) {
		if (js == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "a list element is not UTF-8");
		return -ERR_NOMEM;
	}
	pos = last->comma != JLIST_NONE ? last->comma + 1 : last->end;
	if (last->comma == JLIST_NONE)
		r |= buf_putc(&ins, ',');
	if (memchr(t + l->open, '\n', last->start - l->open) != NULL) {
		/* A line of its own, indented like the last element's. */
		for (ls = last->start;
		     ls > 0 && (t[ls - 1] == ' ' || t[ls - 1] == '\t'); ls--)
			;
		r |= buf_append(&ins,
		                ls >= 2 && t[ls - 2] == '\r' ? "\r\n" : "\n",
		                ls >= 2 && t[ls - 2] == '\r' ? 2 : 1);
		if (ls > 0 && t[ls - 1] == '\n')
			r |= buf_append(&ins, t + ls, last->start - ls);
	} else if (l->n >= 2 && l->e[0].comma != JLIST_NONE) {
		r |= buf_append(&ins, t + l->e[0].comma + 1,
		                l->e[1].start - l->e[0].comma - 1);
	} else {
		r |= buf_putc(&ins, ' ');
	}
	r |= buf_append(&ins, enc, strlen(enc));
	if (last->comma != JLIST_NONE)
		r |= buf_putc(&ins, ',');
	free(enc);
	if (r == 0)
		r = jlist_splice(l, pos, 0, ins.data, ins.len);
	buf_free(&ins);
	return r;
}

/* The array member path[depth - 1]: its span in doc. */
static int jlist_find(const struct jdoc *doc, const char *const *path,
                      size_t depth, size_t *open, size_t *end, struct diag *d)
{
	const char *t = jdoc_text(doc, NULL);
	int r;

	if (depth == 0)
		return diag_set(d, ERR_INVALID, 0, 0, "no path");
	if ((r = jdoc_member_span(doc, path, depth - 1, path[depth - 1], open,
	                          end, d)) != 0)
		return r;
	if (t[*open] != '[')
		return diag_set(d, ERR_TYPE, 0, 0, "%s is not an array",
		                path[depth - 1]);
	return 0;
}

int jlist_strings(const struct jdoc *doc, const char *const *path, size_t depth,
                  char ***out, size_t *n, struct diag *d)
{
	struct jlist l = {0};
	size_t end, i;
	char **v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = jlist_find(doc, path, depth, &l.open, &end, d)) != 0)
		return r;
	l.close = end - 1;
	/* Scanning works on the document's own text: borrow it. */
	l.t.data = (char *)(uintptr_t)jdoc_text(doc, &l.t.len);
	if ((r = jlist_scan(&l)) == 0 &&
	    (v = calloc(l.n + 1, sizeof(*v))) == NULL)
		r = -ERR_NOMEM;
	for (i = 0; r == 0 && i < l.n; i++) {
		json_t *j = jlist_decode(&l, i);

		if (j != NULL && (v[*n] = strdup(json_string_value(j))) != NULL)
			(*n)++;
		else if (j != NULL)
			r = -ERR_NOMEM;
		json_decref(j);
	}
	free(l.e);
	if (r != 0) {
		jdoc_names_free(v, *n);
		*n = 0;
		return r == -ERR_NOMEM
		           ? diag_set(d, ERR_NOMEM, 0, 0, "out of memory")
		           : r;
	}
	*out = v;
	return 0;
}

/* Creates or replaces the member with an array of the adds, or removes it
 * (prune), through the object editor. */
static int jlist_set_member(const char *text, size_t len, unsigned doc_flags,
                            const char *const *path, size_t depth,
                            json_t *value, unsigned flags, char **out,
                            size_t *outlen, struct diag *d)
{
	struct jdoc *doc = NULL;
	struct jedit e = {path[depth - 1], value};
	int r;

	if ((r = jdoc_parse(text, len, doc_flags, &doc, d)) == 0)
		r = jdoc_edit(doc, path, depth - 1, &e, 1,
		              value == NULL ? flags : 0, out, outlen, d);
	jdoc_free(doc);
	return r;
}

static int jlist_adds(const struct jedit *edits, size_t n, json_t **out)
{
	size_t i;

	if ((*out = json_array()) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < n; i++) {
		json_t *s;

		if (edits[i].value == NULL)
			continue;
		if ((s = json_string(edits[i].name)) == NULL)
			return -ERR_INVALID;
		if (json_array_append_new(*out, s) != 0)
			return -ERR_NOMEM;
	}
	return 0;
}

int jlist_edit(const struct jdoc *doc, unsigned doc_flags,
               const char *const *path, size_t depth, const struct jedit *edits,
               size_t n, unsigned flags, char **out, size_t *outlen,
               struct diag *d)
{
	struct jlist l = {0};
	struct jdoc *check = NULL;
	json_t *adds = NULL;
	const char *text;
	size_t len, end, i, k;
	int r;

	*out = NULL;
	text = jdoc_text(doc, &len);
	r = jlist_find(doc, path, depth, &l.open, &end, d);
	if (r == -ERR_NOENT) {
		/* No array yet: one with the adds, made by the object editor.
		 */
		if ((r = jlist_adds(edits, n, &adds)) == 0 &&
		    json_array_size(adds) == 0) {
			if ((*out = malloc(len + 1)) == NULL)
				r = -ERR_NOMEM;
			else {
				memcpy(*out, text, len + 1);
				*outlen = len;
			}
		} else if (r == 0)
			r = jlist_set_member(text, len, doc_flags, path, depth,
			                     adds, 0, out, outlen, d);
		json_decref(adds);
		return r == -ERR_INVALID
		           ? diag_set(d, ERR_INVALID, 0, 0,
		                      "a list element is not UTF-8")
		           : r;
	}
	if (r != 0)
		return r;
	l.close = end - 1;
	if ((r = buf_append(&l.t, text, len)) != 0 || (r = jlist_scan(&l)) != 0)
		goto out;
	for (i = 0; i < n && r == 0; i++) {
		if (edits[i].value != NULL)
			continue;
		for (k = l.n; k-- > 0 && r == 0;)
			if (jlist_equals(&l, k, edits[i].name))
				r = jlist_remove(&l, k);
	}
	for (i = 0; i < n && r == 0; i++) {
		bool have = false;

		if (edits[i].value == NULL)
			continue;
		for (k = 0; k < l.n && !have; k++)
			have = jlist_equals(&l, k, edits[i].name);
		if (have)
			continue;
		if (l.n > 0) {
			r = jlist_append(&l, edits[i].name, d);
			continue;
		}
		/* An empty array takes the adds in the object's layout. */
		if ((r = jlist_adds(edits + i, n - i, &adds)) == 0)
			r = jlist_set_member(l.t.data, l.t.len, doc_flags, path,
			                     depth, adds, 0, out, outlen, d);
		json_decref(adds);
		goto out;
	}
	if (r != 0)
		goto out;
	if (l.n == 0 && (flags & JEDIT_PRUNE_EMPTY)) {
		r = jlist_set_member(l.t.data, l.t.len, doc_flags, path, depth,
		                     NULL, flags, out, outlen, d);
		goto out;
	}
	if ((r = jdoc_parse(l.t.data, l.t.len, doc_flags, &check, d)) != 0) {
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "editing the list %s would break the file",
		             path[depth - 1]);
		goto out;
	}
	*out = l.t.data;
	*outlen = l.t.len;
	l.t.data = NULL;
out:
	jdoc_free(check);
	buf_free(&l.t);
	free(l.e);
	if (r == -ERR_NOMEM)
		diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	return r;
}
