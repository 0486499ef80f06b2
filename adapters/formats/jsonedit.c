/* SPDX-License-Identifier: MIT */
/* Format-preserving JSON and JSONC editing: splices changed members into a
 * parsed document and keeps every other byte. */
#include "jsonedit.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsondoc_int.h"
#include "jsonutil.h"

#define JEDIT_NONE SIZE_MAX

/*
 * Editing. The object being edited is copied out of the document, changed
 * member by member with splices that keep every byte they do not own, and
 * put back between the untouched prefix and suffix of the document.
 */

/* A member of the object being edited, with offsets in its working text. */
struct jedit_member {
	const char *name;
	size_t namelen;
	size_t key, keyend, val, valend;
	size_t comma; /* JEDIT_NONE when there is none */
};

struct jedit_obj {
	const struct jdoc *doc;
	size_t open;    /* offset of the object's '{' in the document */
	size_t close;   /* offset of its '}' */
	unsigned level; /* nesting level: 1 for the root object */
	struct buf t;   /* working text, from '{' to '}' */
	struct jedit_member *m;
	size_t n, cap;
	size_t removed;
	bool changed;
};

/* How members are written in the object being edited. */
struct jedit_style {
	bool multi;         /* one member per line */
	const char *nl;     /* "\n" or "\r\n", as the file has it */
	struct buf ind;     /* indentation of a member's line */
	struct buf objind;  /* indentation of the line of the object's '{' */
	struct buf unit;    /* one level of indentation */
	struct buf sep;     /* between a key and its value, ':' included */
	struct buf commasp; /* after a comma, on one line */
};

static void jedit_obj_free(struct jedit_obj *eo)
{
	buf_free(&eo->t);
	free(eo->m);
	memset(eo, 0, sizeof(*eo));
}

static int jedit_obj_load(struct jedit_obj *eo, const struct jdoc *doc,
                          uint32_t oi, unsigned level)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const struct jdoc_member *dm;
	struct jedit_member *m;
	size_t i;
	int r;

	eo->doc = doc;
	eo->open = o->open;
	eo->close = o->close;
	eo->level = level;
	if ((r = buf_append(&eo->t, doc->text + o->open,
	                    o->close - o->open + 1)) != 0)
		return r;
	if ((eo->m = calloc(o->count + 1, sizeof(*eo->m))) == NULL)
		return -ERR_NOMEM;
	eo->cap = o->count + 1;
	for (i = 0; i < o->count; i++) {
		dm = &doc->mem[o->first + i];
		m = &eo->m[i];
		m->name = jdoc_name(doc, dm, &m->namelen);
		m->key = dm->key - o->open;
		m->keyend = dm->keyend - o->open;
		m->val = dm->val - o->open;
		m->valend = dm->valend - o->open;
		m->comma =
		    dm->comma == JDOC_NONE ? JEDIT_NONE : dm->comma - o->open;
	}
	eo->n = o->count;
	return 0;
}

static size_t jedit_obj_find(const struct jedit_obj *eo, const char *name,
                             size_t len)
{
	size_t i;

	for (i = 0; i < eo->n; i++)
		if (eo->m[i].namelen == len &&
		    memcmp(eo->m[i].name, name, len) == 0)
			return i;
	return JEDIT_NONE;
}

static void jedit_shift(size_t *f, size_t from, size_t del, size_t ins)
{
	if (*f != JEDIT_NONE && *f >= from)
		*f = *f - del + ins;
}

/*
 * Replaces del bytes at pos of the working text with ins. Offsets at or past
 * the end of the deleted bytes move; on a pure insertion, an offset equal to
 * pos is the end of what precedes it and stays.
 */
static int jedit_splice(struct jedit_obj *eo, size_t pos, size_t del,
                        const char *ins, size_t inslen)
{
	struct jedit_member *m;
	size_t from, i;
	int r;

	if (pos > eo->t.len || del > eo->t.len - pos)
		return -ERR_INTERNAL;
	if ((r = buf_reserve(&eo->t, inslen)) != 0)
		return r;
	memmove(eo->t.data + pos + inslen, eo->t.data + pos + del,
	        eo->t.len - pos - del);
	if (inslen > 0)
		memcpy(eo->t.data + pos, ins, inslen);
	eo->t.len = eo->t.len - del + inslen;
	eo->t.data[eo->t.len] = '\0';
	from = del > 0 ? pos + del : pos + 1;
	for (i = 0; i < eo->n; i++) {
		m = &eo->m[i];
		jedit_shift(&m->key, from, del, inslen);
		jedit_shift(&m->keyend, from, del, inslen);
		jedit_shift(&m->val, from, del, inslen);
		jedit_shift(&m->valend, from, del, inslen);
		jedit_shift(&m->comma, from, del, inslen);
	}
	eo->changed = true;
	return 0;
}

/* Skips whitespace from p. */
static size_t jedit_skip_ws(const char *t, size_t p, size_t end)
{
	while (p < end && jdoc_is_ws((unsigned char)t[p]))
		p++;
	return p;
}

/* End of the comment at p ('/' then '/' or '*'), or p when there is none. */
static size_t jedit_comment_end(const char *t, size_t p, size_t end)
{
	const char *x;

	if (p + 1 >= end || t[p] != '/')
		return p;
	if (t[p + 1] == '/') {
		p += 2;
		while (p < end && t[p] != '\n' && t[p] != '\r')
			p++;
		return p;
	}
	if (t[p + 1] != '*')
		return p;
	x = p + 2 < end ? memchr(t + p + 2, '*', end - p - 2) : NULL;
	while (x != NULL && x + 1 < t + end && x[1] != '/')
		x = memchr(x + 1, '*', end - (size_t)(x + 1 - t));
	if (x == NULL || x + 1 >= t + end)
		return end;
	return (size_t)(x - t) + 2;
}

/*
 * From p, skips blanks and the comments that start on this line (a line
 * comment only when allowed); returns the end of the last comment, or p.
 */
static size_t jedit_line_tail(const char *t, size_t p, size_t end,
                              bool line_comment)
{
	size_t q = p, last = p, e;

	for (;;) {
		while (q < end && (t[q] == ' ' || t[q] == '\t'))
			q++;
		if (q + 1 >= end || t[q] != '/')
			break;
		if (t[q + 1] == '/') {
			if (!line_comment)
				break;
			last = jedit_comment_end(t, q, end);
			break;
		}
		e = jedit_comment_end(t, q, end);
		if (e == q || memchr(t + q, '\n', e - q) != NULL)
			break;
		q = last = e;
	}
	return last;
}

/*
 * End of the last comment or comma in the trivia [a, b), or a. *line tells
 * whether that is the end of a line comment.
 */
static size_t jedit_trivia_last(const char *t, size_t a, size_t b, bool *line)
{
	size_t q = a, last = a, e;

	*line = false;
	while (q < b) {
		if (jdoc_is_ws((unsigned char)t[q])) {
			q++;
		} else if (t[q] == ',') {
			last = ++q;
			*line = false;
		} else if ((e = jedit_comment_end(t, q, b)) != q) {
			*line = t[q + 1] == '/';
			last = q = e;
		} else {
			break;
		}
	}
	return last;
}

/*
 * Start of a deletion of [lead, end) that keeps the trivia before lead.
 * When lead ends a line comment and a token follows end on its line, that
 * token would fall into the comment: start after the line break instead.
 */
static size_t jedit_lead(const char *t, size_t a, size_t b, size_t end,
                         size_t close)
{
	size_t lead, q;
	bool line;

	lead = jedit_trivia_last(t, a, b, &line);
	if (!line)
		return lead;
	for (q = end; q < close && (t[q] == ' ' || t[q] == '\t'); q++)
		;
	if (q < close &&
	    (t[q] == '\n' || t[q] == '\r' || (t[q] == '/' && t[q + 1] == '/')))
		return lead;
	return lead + (t[lead] == '\r' && t[lead + 1] == '\n' ? 2 : 1);
}

/* True when the trivia [a, b) holds a comment. */
static bool jedit_trivia_comment(const char *t, size_t a, size_t b)
{
	size_t q;

	for (q = a; q + 1 < b; q++)
		if (t[q] == '/' && (t[q + 1] == '/' || t[q + 1] == '*'))
			return true;
	return false;
}

/* Removes member i with its separator, as jdoc_edit describes. */
static int jedit_remove(struct jedit_obj *eo, size_t i)
{
	struct jedit_member *x = &eo->m[i], *p;
	const char *t = eo->t.data;
	size_t close = eo->t.len - 1, end, lead, q, pc;
	int r;

	if (eo->n == 1) {
		end = x->comma != JEDIT_NONE ? x->comma + 1 : x->valend;
		if (!jedit_trivia_comment(t, 1, x->key) &&
		    !jedit_trivia_comment(t, end, close)) {
			r = jedit_splice(eo, 1, close - 1, "", 0);
		} else {
			lead = jedit_lead(t, 1, x->key, end, close);
			r = jedit_splice(eo, lead, end - lead, "", 0);
		}
	} else if (i + 1 < eo->n) {
		q = jedit_skip_ws(t, x->comma + 1, close);
		r = jedit_splice(eo, x->key, q - x->key, "", 0);
	} else {
		p = &eo->m[i - 1];
		if (x->comma != JEDIT_NONE) {
			lead = jedit_lead(t, p->valend, x->key, x->comma + 1,
			                  close);
			r = jedit_splice(eo, lead, x->comma + 1 - lead, "", 0);
		} else if (!jedit_trivia_comment(t, p->valend, x->key)) {
			r = jedit_splice(eo, p->valend, x->valend - p->valend,
			                 "", 0);
			p->comma = JEDIT_NONE;
		} else {
			/* Keep the comments: drop the comma, then the
			 * member and the blanks before it. */
			lead =
			    jedit_lead(t, p->valend, x->key, x->valend, close);
			pc = p->comma;
			r = jedit_splice(eo, lead, x->valend - lead, "", 0);
			if (r == 0)
				r = jedit_splice(eo, pc, 1, "", 0);
			p->comma = JEDIT_NONE;
		}
	}
	if (r != 0)
		return r;
	memmove(&eo->m[i], &eo->m[i + 1], (eo->n - i - 1) * sizeof(*eo->m));
	eo->n--;
	eo->removed++;
	return 0;
}

/* Appends s as a JSON string, escaping only what JSON requires. */
static int jedit_render_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char esc[8];
	size_t i = 0, j, el;
	unsigned char c;
	int r;

	if ((r = buf_putc(out, '"')) != 0)
		return r;
	while (i < len) {
		j = i;
		while (j < len && (unsigned char)s[j] >= 0x20 && s[j] != '"' &&
		       s[j] != '\\')
			j++;
		if (j > i && (r = buf_append(out, s + i, j - i)) != 0)
			return r;
		if (j >= len)
			break;
		c = (unsigned char)s[j];
		esc[0] = '\\';
		el = 2;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
			break;
		}
		if ((r = buf_append(out, esc, el)) != 0)
			return r;
		i = j + 1;
	}
	return buf_putc(out, '"');
}

/*
 * Appends the shortest decimal that reads back as x, with '.' whatever the
 * locale, and always with a fraction or an exponent so it stays a real.
 */
static int jedit_render_real(struct buf *out, double x)
{
	char tmp[64], res[72];
	size_t i, o = 0;
	bool real = false, dot = false;
	int prec, w = 0;

	for (prec = 1; prec <= 17; prec++) {
		w = snprintf(tmp, sizeof(tmp), "%.*g", prec, x);
		if (w < 0 || (size_t)w >= sizeof(tmp))
			return -ERR_INVALID;
		if (strtod(tmp, NULL) == x)
			break;
	}
	for (i = 0; tmp[i] != '\0'; i++) {
		unsigned char c = (unsigned char)tmp[i];

		if (jdoc_is_digit(c) || c == '-' || c == '+') {
			res[o++] = (char)c;
			dot = false;
		} else if (c == 'e' || c == 'E') {
			res[o++] = 'e';
			real = true;
			dot = false;
		} else if (!dot) {
			/* The locale's decimal point, whatever its bytes. */
			res[o++] = '.';
			real = true;
			dot = true;
		}
	}
	if (!real) {
		res[o++] = '.';
		res[o++] = '0';
	}
	return buf_append(out, res, o);
}

struct jedit_render {
	const struct jedit_style *st;
	struct buf *out;
	struct buf ind; /* indentation of the current line */
};

/* jansson's iterators take a non-const object, yet do not change it. */
static json_t *jedit_mutable(const json_t *v)
{
	return (json_t *)(uintptr_t)v;
}

static int jedit_render_value(struct jedit_render *jr, const json_t *v,
                              unsigned budget);

/* Opens a line for the next element of a container, or separates it. */
static int jedit_render_next(struct jedit_render *jr, bool first)
{
	const struct jedit_style *st = jr->st;
	int r;

	if (!first && (r = buf_putc(jr->out, ',')) != 0)
		return r;
	if (st->multi) {
		if ((r = buf_puts(jr->out, st->nl)) != 0)
			return r;
		return buf_append(jr->out, jr->ind.data, jr->ind.len);
	}
	if (!first)
		return buf_append(jr->out, st->commasp.data, st->commasp.len);
	return 0;
}

static int jedit_render_container(struct jedit_render *jr, const json_t *v,
                                  unsigned budget)
{
	const struct jedit_style *st = jr->st;
	bool obj = json_is_object(v), first = true;
	size_t save = jr->ind.len, i, n;
	const char *k;
	void *it;
	int r;

	n = obj ? json_object_size(v) : json_array_size(v);
	if (budget == 0)
		return -ERR_TOOBIG;
	if (n == 0)
		return buf_puts(jr->out, obj ? "{}" : "[]");
	if ((r = buf_putc(jr->out, obj ? '{' : '[')) != 0)
		return r;
	if (st->multi &&
	    (r = buf_append(&jr->ind, st->unit.data, st->unit.len)) != 0)
		return r;
	if (obj) {
		for (it = json_object_iter(jedit_mutable(v)); it != NULL;
		     it = json_object_iter_next(jedit_mutable(v), it)) {
			k = json_object_iter_key(it);
			if ((r = jedit_render_next(jr, first)) != 0 ||
			    (r = jedit_render_string(jr->out, k, strlen(k))) !=
			        0 ||
			    (r = buf_append(jr->out, st->sep.data,
			                    st->sep.len)) != 0 ||
			    (r = jedit_render_value(jr,
			                            json_object_iter_value(it),
			                            budget - 1)) != 0)
				return r;
			first = false;
		}
	} else {
		for (i = 0; i < n; i++) {
			if ((r = jedit_render_next(jr, first)) != 0 ||
			    (r = jedit_render_value(jr, json_array_get(v, i),
			                            budget - 1)) != 0)
				return r;
			first = false;
		}
	}
	jr->ind.len = save;
	if (jr->ind.data != NULL)
		jr->ind.data[save] = '\0';
	if (st->multi) {
		if ((r = buf_puts(jr->out, st->nl)) != 0 ||
		    (r = buf_append(jr->out, jr->ind.data, jr->ind.len)) != 0)
			return r;
	}
	return buf_putc(jr->out, obj ? '}' : ']');
}

static int jedit_render_value(struct jedit_render *jr, const json_t *v,
                              unsigned budget)
{
	if (v == NULL)
		return -ERR_INVALID;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		return jedit_render_container(jr, v, budget);
	case JSON_STRING:
		return jedit_render_string(jr->out, json_string_value(v),
		                           json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(jr->out, "%" JSON_INTEGER_FORMAT,
		                  json_integer_value(v));
	case JSON_REAL:
		return jedit_render_real(jr->out, json_real_value(v));
	case JSON_TRUE:
		return buf_puts(jr->out, "true");
	case JSON_FALSE:
		return buf_puts(jr->out, "false");
	case JSON_NULL:
		return buf_puts(jr->out, "null");
	}
	return -ERR_INVALID;
}

/* Renders v at the indentation ind (of the line its member starts on). */
static int jedit_render(struct buf *out, const struct jedit_style *st,
                        const char *ind, size_t indlen, const json_t *v,
                        unsigned budget)
{
	struct jedit_render jr = {st, out, BUF_INIT};
	int r;

	if ((r = buf_append(&jr.ind, ind, indlen)) == 0)
		r = jedit_render_value(&jr, v, budget);
	buf_free(&jr.ind);
	return r;
}

/* Leading blanks of the line of the document holding pos. */
static void jedit_line_indent(const char *s, size_t len, size_t pos,
                              size_t *start, size_t *ilen)
{
	size_t b = pos, e;

	while (b > 0 && s[b - 1] != '\n')
		b--;
	if (b == 0 && jdoc_has_bom((const unsigned char *)s, len) && pos >= 3)
		b = 3;
	for (e = b; e < pos && (s[e] == ' ' || s[e] == '\t'); e++)
		;
	*start = b;
	*ilen = e - b;
}

/* Leading blanks of the line holding pos of the working text. */
static int jedit_obj_indent(const struct jedit_obj *eo, size_t pos,
                            struct buf *ind)
{
	const char *t = eo->t.data;
	size_t b = pos, e, start, len;

	buf_reset(ind);
	while (b > 0 && t[b - 1] != '\n')
		b--;
	if (b == 0) {
		jedit_line_indent(eo->doc->text, eo->doc->len, eo->open, &start,
		                  &len);
		return buf_append(ind, eo->doc->text + start, len);
	}
	for (e = b; e < pos && (t[e] == ' ' || t[e] == '\t'); e++)
		;
	return buf_append(ind, t + b, e - b);
}

/* Appends the line break and indentation, or the blanks, that lead a member. */
static int jedit_member_lead(struct buf *ins, const struct jedit_style *st,
                             bool blank)
{
	int r;

	if (st->multi) {
		if ((r = buf_puts(ins, st->nl)) != 0)
			return r;
		return buf_append(ins, st->ind.data, st->ind.len);
	}
	if (blank)
		return buf_append(ins, st->commasp.data, st->commasp.len);
	return 0;
}

/* Inserts a new member after the last one, in the object's style. */
static int jedit_insert(struct jedit_obj *eo, const struct jedit_style *st,
                        const char *name, size_t namelen, const json_t *v,
                        unsigned budget)
{
	struct buf mt = BUF_INIT, ins = BUF_INIT;
	struct jedit_member *x, *nm;
	size_t keylen, vstart, close, at, comma = JEDIT_NONE, pos, del = 0;
	bool trailing, line;
	void *np;
	int r;

	if ((r = jedit_render_string(&mt, name, namelen)) != 0 ||
	    (r = buf_append(&mt, st->sep.data, st->sep.len)) != 0)
		goto out;
	keylen = mt.len - st->sep.len;
	vstart = mt.len;
	if ((r = jedit_render(&mt, st, st->ind.data, st->ind.len, v, budget)) !=
	        0 ||
	    (r = buf_reserve(&ins, 0)) != 0)
		goto out;
	close = eo->t.len - 1;
	if (eo->n == 0 && !jedit_trivia_comment(eo->t.data, 1, close)) {
		/* An empty object is rewritten whole: "{}" comes back
		 * when the member goes. */
		pos = 1;
		del = close - 1;
		if ((r = jedit_member_lead(&ins, st, false)) != 0)
			goto out;
		at = pos + ins.len;
		if ((r = buf_append(&ins, mt.data, mt.len)) != 0)
			goto out;
		if (st->multi && ((r = buf_puts(&ins, st->nl)) != 0 ||
		                  (r = buf_append(&ins, st->objind.data,
		                                  st->objind.len)) != 0))
			goto out;
	} else if (eo->n == 0) {
		/* After the comments of an empty object. */
		pos = jedit_trivia_last(eo->t.data, 1, close, &line);
		if (st->multi || line) {
			/* After a line comment, even on one line (a lone
			 * CR ends it), a member starts a new line. */
			if ((r = buf_puts(&ins, st->nl)) == 0)
				r = buf_append(&ins, st->ind.data, st->ind.len);
		} else if (pos > 1) {
			r = buf_putc(&ins, ' ');
		}
		if (r != 0)
			goto out;
		at = pos + ins.len;
		if ((r = buf_append(&ins, mt.data, mt.len)) != 0)
			goto out;
	} else {
		/*
		 * After the last member and the comments on its line. A
		 * trailing comma (JSONC) stays trailing; otherwise the comma
		 * goes right after the last value, before any comment.
		 */
		x = &eo->m[eo->n - 1];
		trailing = x->comma != JEDIT_NONE;
		if (!trailing) {
			if ((r = jedit_splice(eo, x->valend, 0, ",", 1)) != 0)
				goto out;
			x->comma = x->valend;
		}
		pos = jedit_line_tail(eo->t.data, x->comma + 1, eo->t.len - 1,
		                      st->multi);
		if ((r = jedit_member_lead(&ins, st, true)) != 0)
			goto out;
		at = pos + ins.len;
		if ((r = buf_append(&ins, mt.data, mt.len)) != 0)
			goto out;
		if (trailing) {
			comma = at + mt.len;
			if ((r = buf_putc(&ins, ',')) != 0)
				goto out;
		}
	}
	if ((r = jedit_splice(eo, pos, del, ins.data, ins.len)) != 0)
		goto out;
	if (eo->n == eo->cap) {
		np = jdoc_grow(eo->m, &eo->cap, eo->n + 1, sizeof(*eo->m));
		if (np == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		eo->m = np;
	}
	nm = &eo->m[eo->n++];
	nm->name = name;
	nm->namelen = namelen;
	nm->key = at;
	nm->keyend = at + keylen;
	nm->val = at + vstart;
	nm->valend = at + mt.len;
	nm->comma = comma;
	r = 0;
out:
	buf_free(&mt);
	buf_free(&ins);
	return r;
}

/* Replaces the value of member i, unless it already equals v. */
static int jedit_replace(struct jedit_obj *eo, const struct jedit_style *st,
                         size_t i, const json_t *v, unsigned budget)
{
	struct buf vb = BUF_INIT, ind = BUF_INIT;
	struct jedit_member *x = &eo->m[i];
	json_t *cur = NULL;
	int r;

	if (jdoc_convert(eo->t.data, eo->t.len, x->val, "", &cur, NULL) == 0) {
		r = json_equal(cur, v);
		json_decref(cur);
		if (r)
			return 0;
	}
	if (st->multi && (r = jedit_obj_indent(eo, x->key, &ind)) != 0)
		goto out;
	if ((r = buf_reserve(&ind, 0)) != 0)
		goto out;
	if ((r = jedit_render(&vb, st, ind.data, ind.len, v, budget)) != 0)
		goto out;
	r = jedit_splice(eo, x->val, x->valend - x->val, vb.data, vb.len);
out:
	buf_free(&vb);
	buf_free(&ind);
	return r;
}

/*
 * Layout of object oi: 1 when a member starts a line, 0 when all are on
 * the line of the '{', -1 when it is empty with no line break inside.
 */
static int jedit_layout(const struct jdoc *doc, uint32_t oi)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const struct jdoc_member *m;
	size_t i, from;

	if (o->count == 0)
		return memchr(doc->text + o->open, '\n', o->close - o->open)
		           ? 1
		           : -1;
	m = &doc->mem[o->first];
	for (i = o->count; i-- > 0;) {
		from = i == 0 ? o->open + 1 : m[i - 1].comma + 1;
		if (memchr(doc->text + from, '\n', m[i].key - from) != NULL)
			return 1;
	}
	return 0;
}

/*
 * The indentation unit of object oi: the indentation of its members' lines
 * less that of its '{' line. Returns 1 when found, 0 when not, or an error.
 */
static int jedit_obj_unit(const struct jdoc *doc, uint32_t oi, struct buf *unit)
{
	const struct jdoc_object *o = &doc->obj[oi];
	size_t ms, ml, os, ol, k;
	int r;

	if (o->count == 0 || jedit_layout(doc, oi) != 1)
		return 0;
	jedit_line_indent(doc->text, doc->len,
	                  doc->mem[o->first + o->count - 1].key, &ms, &ml);
	jedit_line_indent(doc->text, doc->len, o->open, &os, &ol);
	if (ml <= ol || memcmp(doc->text + ms, doc->text + os, ol) != 0)
		return 0;
	/* Members aligned under something else say nothing of the unit. */
	for (k = ms + ol + 1; k < ms + ml; k++)
		if (doc->text[k] != doc->text[ms + ol])
			return 0;
	if (doc->text[ms + ol] == ' ' && ml - ol > 8)
		return 0;
	buf_reset(unit);
	if ((r = buf_append(unit, doc->text + ms + ol, ml - ol)) != 0)
		return r;
	return 1;
}

/* The "key": separator of object oi's members, when one is plain. */
static int jedit_obj_sep(const struct jdoc *doc, uint32_t oi, struct buf *sep)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const struct jdoc_member *m;
	size_t i, k, colons;
	char c;

	for (i = o->count; i-- > 0;) {
		m = &doc->mem[o->first + i];
		colons = 0;
		for (k = m->keyend; k < m->val; k++) {
			c = doc->text[k];
			if (c == ':')
				colons++;
			else if (c != ' ' && c != '\t')
				break;
		}
		if (k == m->val && colons == 1) {
			buf_reset(sep);
			if (buf_append(sep, doc->text + m->keyend,
			               m->val - m->keyend) != 0)
				return -ERR_NOMEM;
			return 1;
		}
	}
	return 0;
}

/* The blanks after a comma between object oi's members, on one line. */
static int jedit_obj_commasp(const struct jdoc *doc, uint32_t oi,
                             struct buf *sp)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const struct jdoc_member *m, *next;
	size_t i, k;

	for (i = 0; i + 1 < o->count; i++) {
		m = &doc->mem[o->first + i];
		next = m + 1;
		for (k = m->comma + 1; k < next->key; k++)
			if (doc->text[k] != ' ' && doc->text[k] != '\t')
				break;
		if (k == next->key) {
			buf_reset(sp);
			if (buf_append(sp, doc->text + m->comma + 1,
			               next->key - m->comma - 1) != 0)
				return -ERR_NOMEM;
			return 1;
		}
	}
	return 0;
}

static void jedit_style_free(struct jedit_style *st)
{
	buf_free(&st->ind);
	buf_free(&st->objind);
	buf_free(&st->unit);
	buf_free(&st->sep);
	buf_free(&st->commasp);
}

/*
 * Works out how members of chain[lvl] are written, from the object itself,
 * then its parent, then the root, then defaults (two spaces, ": ").
 */
static int jedit_style_init(struct jedit_style *st, const struct jdoc *doc,
                            const uint32_t *chain, size_t lvl)
{
	uint32_t oi = chain[lvl], parent = lvl > 0 ? chain[lvl - 1] : JDOC_NONE;
	const struct jdoc_object *o = &doc->obj[oi];
	const char *nl;
	size_t s, l;
	int lay, r;

	nl = memchr(doc->text, '\n', doc->len);
	st->nl = nl != NULL && nl > doc->text && nl[-1] == '\r' ? "\r\n" : "\n";
	lay = jedit_layout(doc, oi);
	st->multi = lay == 1 || (lay == -1 && (parent == JDOC_NONE ||
	                                       jedit_layout(doc, parent) == 1));
	if ((r = jedit_obj_unit(doc, oi, &st->unit)) == 0 &&
	    parent != JDOC_NONE)
		r = jedit_obj_unit(doc, parent, &st->unit);
	if (r == 0)
		r = jedit_obj_unit(doc, 0, &st->unit);
	if (r == 0)
		r = buf_puts(&st->unit, "  ");
	if (r < 0)
		return r;
	jedit_line_indent(doc->text, doc->len, o->open, &s, &l);
	if ((r = buf_append(&st->objind, doc->text + s, l)) != 0)
		return r;
	if (o->count > 0) {
		jedit_line_indent(doc->text, doc->len,
		                  doc->mem[o->first + o->count - 1].key, &s,
		                  &l);
		r = buf_append(&st->ind, doc->text + s, l);
	} else {
		r = buf_append(&st->ind, st->objind.data, st->objind.len);
		if (r == 0)
			r = buf_append(&st->ind, st->unit.data, st->unit.len);
	}
	if (r != 0)
		return r;
	if ((r = jedit_obj_sep(doc, oi, &st->sep)) == 0 && parent != JDOC_NONE)
		r = jedit_obj_sep(doc, parent, &st->sep);
	if (r == 0)
		r = jedit_obj_sep(doc, 0, &st->sep);
	if (r == 0)
		r = buf_puts(&st->sep, ": ");
	if (r < 0)
		return r;
	if ((r = jedit_obj_commasp(doc, oi, &st->commasp)) == 0 &&
	    parent != JDOC_NONE)
		r = jedit_obj_commasp(doc, parent, &st->commasp);
	if (r == 0)
		r = buf_puts(&st->commasp,
		             st->sep.len > 0 &&
		                     st->sep.data[st->sep.len - 1] == ' '
		                 ? " "
		                 : "");
	if (r < 0)
		return r;
	/* Every field is a string, even an empty one. */
	if ((r = buf_reserve(&st->ind, 0)) != 0 ||
	    (r = buf_reserve(&st->objind, 0)) != 0 ||
	    (r = buf_reserve(&st->commasp, 0)) != 0)
		return r;
	return 0;
}

/* Applies the edits in order to the object loaded in eo. */
static int jedit_apply(struct jedit_obj *eo, const struct jedit_style *st,
                       const struct jedit *edits, size_t n)
{
	unsigned budget = JDOC_MAX_DEPTH - eo->level;
	size_t i, k, len;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		len = strlen(edits[i].name);
		k = jedit_obj_find(eo, edits[i].name, len);
		if (edits[i].value == NULL) {
			if (k != JEDIT_NONE)
				r = jedit_remove(eo, k);
		} else if (k != JEDIT_NONE) {
			r = jedit_replace(eo, st, k, edits[i].value, budget);
		} else {
			r = jedit_insert(eo, st, edits[i].name, len,
			                 edits[i].value, budget);
		}
	}
	return r;
}

/* The members the edits leave in an object that does not exist yet. */
static int jedit_net(const struct jedit *edits, size_t n, json_t **out)
{
	json_t *net, *copy;
	size_t i;

	if ((net = json_object()) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if (edits[i].value == NULL) {
			(void)json_object_del(net, edits[i].name);
			continue;
		}
		if ((copy = json_deep_copy(edits[i].value)) == NULL ||
		    json_object_set_new(net, edits[i].name, copy) != 0) {
			json_decref(net);
			return -ERR_INVALID;
		}
	}
	*out = net;
	return 0;
}

/*
 * True when chk, the edited object parsed again on its own, holds the
 * members the editor believes it wrote, where it believes they are.
 */
static bool jedit_verify(const struct jedit_obj *eo, const struct jdoc *chk)
{
	const struct jdoc_member *m;
	const struct jedit_member *x;
	const char *name;
	size_t i, len;

	if (chk->nobj == 0 || chk->root != 0 || chk->obj[0].count != eo->n)
		return false;
	for (i = 0; i < eo->n; i++) {
		m = &chk->mem[chk->obj[0].first + i];
		x = &eo->m[i];
		name = jdoc_name(chk, m, &len);
		if (len != x->namelen || memcmp(name, x->name, len) != 0 ||
		    m->key != x->key || m->keyend != x->keyend ||
		    m->val != x->val || m->valend != x->valend ||
		    (m->comma == JDOC_NONE ? JEDIT_NONE : m->comma) != x->comma)
			return false;
	}
	return true;
}

/* True when object oi holds one member and no comment outside it. */
static bool jedit_only_member(const struct jdoc *doc, uint32_t oi)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const struct jdoc_member *m;

	if (o->count != 1)
		return false;
	m = &doc->mem[o->first];
	return !jedit_trivia_comment(doc->text, o->open, m->key) &&
	       !jedit_trivia_comment(doc->text, m->valend, o->close);
}

static int jedit_check_args(const struct jdoc *doc, const char *const *path,
                            size_t depth, const struct jedit *edits, size_t n,
                            const void *out, struct diag *d)
{
	size_t i;

	if (doc == NULL || out == NULL || (depth > 0 && path == NULL) ||
	    (n > 0 && edits == NULL))
		return diag_set(d, ERR_INVALID, 0, 0, "jdoc_edit: bad call");
	if (depth >= JDOC_MAX_DEPTH)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "a path of %zu members is too deep", depth);
	for (i = 0; i < depth; i++)
		if (path[i] == NULL ||
		    !jdoc_utf8_valid(path[i], strlen(path[i])))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "member %zu of the path is not a "
			                "UTF-8 string",
			                i + 1);
	for (i = 0; i < n; i++)
		if (edits[i].name == NULL ||
		    !jdoc_utf8_valid(edits[i].name, strlen(edits[i].name)))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "edit %zu: the member name is not a "
			                "UTF-8 string",
			                i + 1);
	return 0;
}

int jdoc_edit(const struct jdoc *doc, const char *const *path, size_t depth,
              const struct jedit *edits, size_t n, unsigned flags, char **out,
              size_t *outlen, struct diag *d)
{
	struct edit_splice sp;
	int r;

	if (doc == NULL || out == NULL || outlen == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "jdoc_edit: bad call");
	if ((r = jdoc_edit_splice(doc, path, depth, edits, n, flags, &sp, d)) !=
	    0)
		return r;
	r = edit_splice_join(&sp, doc->text, doc->len, out, outlen);
	edit_splice_free(&sp);
	return r != 0 ? diag_set(d, ERR_NOMEM, 0, 0, "out of memory") : 0;
}

int jdoc_edit_splice(const struct jdoc *doc, const char *const *path,
                     size_t depth, const struct jedit *edits, size_t n,
                     unsigned flags, struct edit_splice *out, struct diag *d)
{
	uint32_t chain[JDOC_MAX_DEPTH + 1], mi;
	struct jedit_obj eo;
	struct jedit_style st;
	json_t *net = NULL, *wrap;
	struct jdoc *chk = NULL;
	char ps[256];
	size_t have, i, k, lvl;
	int r;

	memset(&eo, 0, sizeof(eo));
	memset(&st, 0, sizeof(st));
	if ((r = jedit_check_args(doc, path, depth, edits, n, out, d)) != 0)
		goto out;
	if (!jdoc_root_is_object(doc)) {
		r = diag_set(d, ERR_TYPE, 0, 0,
		             "the document's root is not an object");
		goto out;
	}
	chain[0] = 0;
	for (have = 0; have < depth; have++) {
		mi =
		    jdoc_find(doc, chain[have], path[have], strlen(path[have]));
		if (mi == JDOC_NONE)
			break;
		if (doc->mem[mi].child == JDOC_NONE) {
			unsigned line, col;

			jdoc_path_str(path, have + 1, ps, sizeof(ps));
			jdoc_linecol((const unsigned char *)doc->text, doc->len,
			             doc->mem[mi].val, &line, &col);
			r = diag_set(d, ERR_TYPE, line, col,
			             "%s is not an object", ps);
			goto out;
		}
		chain[have + 1] = doc->mem[mi].child;
	}
	if (have == depth) {
		if ((r = jedit_obj_load(&eo, doc, chain[depth],
		                        (unsigned)depth + 1)) != 0 ||
		    (r = jedit_style_init(&st, doc, chain, depth)) != 0 ||
		    (r = jedit_apply(&eo, &st, edits, n)) != 0)
			goto fail;
		/* Pruning never takes a user's comment with it. */
		if ((flags & JEDIT_PRUNE_EMPTY) && depth > 0 && eo.n == 0 &&
		    eo.removed > 0 &&
		    !jedit_trivia_comment(eo.t.data, 0, eo.t.len)) {
			/* With JEDIT_PRUNE_PATH, up the path past parents
			 * that would be left empty too. */
			for (lvl = depth - 1;
			     (flags & JEDIT_PRUNE_PATH) == JEDIT_PRUNE_PATH &&
			     lvl > 0 && jedit_only_member(doc, chain[lvl]);
			     lvl--)
				;
			jedit_obj_free(&eo);
			if ((r = jedit_obj_load(&eo, doc, chain[lvl],
			                        (unsigned)lvl + 1)) != 0)
				goto fail;
			k = jedit_obj_find(&eo, path[lvl], strlen(path[lvl]));
			if (k == JEDIT_NONE) {
				r = -ERR_INTERNAL;
				goto fail;
			}
			if ((r = jedit_remove(&eo, k)) != 0)
				goto fail;
		}
	} else {
		if ((r = jedit_net(edits, n, &net)) != 0)
			goto fail;
		if (json_object_size(net) > 0) {
			for (i = depth; i-- > have + 1;) {
				if ((wrap = json_object()) == NULL) {
					r = -ERR_NOMEM;
					goto fail;
				}
				/* This takes net, even when it fails. */
				r = json_object_set_new(wrap, path[i], net);
				net = wrap;
				if (r != 0) {
					r = -ERR_NOMEM;
					goto fail;
				}
			}
			if ((r = jedit_obj_load(&eo, doc, chain[have],
			                        (unsigned)have + 1)) != 0 ||
			    (r = jedit_style_init(&st, doc, chain, have)) !=
			        0 ||
			    (r = jedit_insert(&eo, &st, path[have],
			                      strlen(path[have]), net,
			                      JDOC_MAX_DEPTH - eo.level)) != 0)
				goto fail;
		}
	}
	if (!eo.changed) {
		memset(out, 0, sizeof(*out));
		r = 0;
		goto out;
	}
	/*
	 * The bytes around the object are the original ones, which parsed;
	 * so the result parses if and only if the new object does, at its
	 * depth. Checking it alone spares a second pass over a large file.
	 * Its members must also be the ones the splices meant, where they
	 * meant them: a member swallowed by a comment would parse, yet be
	 * lost.
	 */
	r = jdoc_parse_depth(eo.t.data, eo.t.len, doc->flags | JDOC_BORROW,
	                     JDOC_MAX_DEPTH - eo.level + 1, &chk, NULL);
	if (r != 0 || !jedit_verify(&eo, chk)) {
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "the edit would not give the intended "
		             "JSON; nothing written");
		goto out;
	}
	out->at = eo.open;
	out->end = eo.close + 1;
	if ((out->text = buf_steal(&eo.t, &out->len)) == NULL) {
		r = -ERR_NOMEM;
		goto fail;
	}
	r = 0;
	goto out;
fail:
	jdoc_path_str(path, depth, ps, sizeof(ps));
	if (r == -ERR_TOOBIG)
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "%s: a new value is nested too deeply", ps);
	else
		r = diag_set(d, -r, 0, 0, "%s: cannot edit: %s", ps,
		             err_str(r));
out:
	jdoc_free(chk);
	json_decref(net);
	jedit_obj_free(&eo);
	jedit_style_free(&st);
	return r;
}
