/* SPDX-License-Identifier: MIT */
/* What the format-preserving editors share. */
#include "edit.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void edit_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

size_t edit_splice_size(const struct edit_splice *s, size_t orig_len)
{
	return s->at + s->len + (orig_len - s->end);
}

bool edit_splice_changes(const struct edit_splice *s, const char *orig)
{
	return s->end - s->at != s->len ||
	       (s->len > 0 && memcmp(orig + s->at, s->text, s->len) != 0);
}

int edit_splice_join(const struct edit_splice *s, const char *orig,
                     size_t orig_len, char **out, size_t *outlen)
{
	size_t n = edit_splice_size(s, orig_len);
	char *t;

	if ((t = malloc(n + 1)) == NULL)
		return -ERR_NOMEM;
	if (s->at > 0)
		memcpy(t, orig, s->at);
	if (s->len > 0)
		memcpy(t + s->at, s->text, s->len);
	if (orig_len > s->end)
		memcpy(t + s->at + s->len, orig + s->end, orig_len - s->end);
	t[n] = '\0';
	*out = t;
	*outlen = n;
	return 0;
}

void edit_splice_free(struct edit_splice *s)
{
	if (s == NULL)
		return;
	free(s->text);
	memset(s, 0, sizeof(*s));
}

int edit_pieces_push(struct edit_pieces *l, size_t start, size_t end,
                     char *text)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		struct edit_piece *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			free(text);
			return -ERR_NOMEM;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].start = start;
	l->v[l->n].end = end;
	l->v[l->n].text = text;
	l->n++;
	return 0;
}

static int edit_piece_cmp(const void *a, const void *b)
{
	const struct edit_piece *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	/* At one offset, an insertion (empty range) goes before a deletion
	 * that starts there. */
	return (x->end > x->start) - (y->end > y->start);
}

int edit_pieces_apply(struct edit_pieces *l, const char *orig, size_t len,
                      struct buf *out)
{
	size_t pos = 0, i;
	int r = 0;

	/* qsort() may not be given a NULL array, even of no items. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), edit_piece_cmp);
	for (i = 0; i < l->n; i++) {
		if (l->v[i].start < pos || l->v[i].end > len)
			return -ERR_INVALID;
		r |= buf_append(out, orig + pos, l->v[i].start - pos);
		if (l->v[i].text != NULL)
			r |= buf_puts(out, l->v[i].text);
		pos = l->v[i].end;
	}
	r |= buf_append(out, orig + pos, len - pos);
	return r != 0 ? -ERR_NOMEM : 0;
}

void edit_pieces_free(struct edit_pieces *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
