/* SPDX-License-Identifier: MIT */
/* Splices the named items of one top-level YAML block sequence as text. */
#include "yamledit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* A sequence holding more items than this is refused. */
#define YAMLEDIT_MAX_ITEMS 100000

struct yamledit_item {
	size_t start; /* the start of its "- " line */
	size_t end;   /* past its last line that holds content (EOL included) */
	unsigned line;
	char *name;   /* NULL: no "name" key */
	json_t *flow; /* the item when written as one flow mapping */
};

struct yaml_doc {
	const char *text;
	size_t len;
	const char *eol;
	bool exists;
	size_t key_start; /* the start of the "KEY:" line */
	size_t key_colon; /* just past its ':' */
	size_t key_next;  /* the start of the line after it */
	bool flow_empty;  /* the value is written "[]" */
	size_t empty_end; /* just past that "]" */
	size_t value_end; /* past the value's last content line */
	unsigned indent;  /* of the items' "-" */
	struct yamledit_item *items;
	size_t nitems, cap;
	char *key;
};

static bool yamledit_is_utf8(const char *s, size_t len);

/* One line of the text. */
struct yamledit_line {
	size_t start, end, next; /* end: before "\r\n" or "\n" */
	size_t first;            /* the first byte that is not a space */
	unsigned indent;
	bool blank;   /* nothing but spaces and tabs */
	bool comment; /* its first non-space is '#' */
	bool tab;     /* a tab in the indentation */
};

static void yamledit_line_at(const char *t, size_t len, size_t pos,
                             struct yamledit_line *l)
{
	const char *nl = memchr(t + pos, '\n', len - pos);
	size_t i;

	l->start = pos;
	l->next = nl != NULL ? (size_t)(nl - t) + 1 : len;
	l->end = nl != NULL ? (size_t)(nl - t) : len;
	if (l->end > pos && t[l->end - 1] == '\r')
		l->end--;
	for (i = pos; i < l->end && t[i] == ' '; i++)
		;
	l->first = i;
	l->indent = (unsigned)(i - pos);
	l->tab = i < l->end && t[i] == '\t';
	while (i < l->end && (t[i] == ' ' || t[i] == '\t'))
		i++;
	l->blank = i == l->end;
	l->comment = !l->blank && t[i] == '#';
}

static unsigned yamledit_lineno(const char *t, size_t pos)
{
	unsigned n = 1;
	size_t i;

	for (i = 0; i < pos; i++)
		if (t[i] == '\n')
			n++;
	return n;
}

static int yamledit_refuse(const struct yaml_doc *doc, size_t pos,
                           struct diag *d, const char *why)
{
	size_t ls = pos;

	while (ls > 0 && doc->text[ls - 1] != '\n')
		ls--;
	return diag_set(d, ERR_PARSE, yamledit_lineno(doc->text, pos),
	                (unsigned)(pos - ls) + 1, "%s", why);
}

/* ---- a reader of YAML flow nodes (JSON and a little more) ---- */

struct yamledit_flow {
	const char *t;
	size_t len, pos;
	const char *err;
	size_t err_pos;
};

static int yamledit_flow_fail(struct yamledit_flow *f, const char *why)
{
	f->err = why;
	f->err_pos = f->pos;
	return -ERR_PARSE;
}

/* Skips blanks, line ends and comments between flow tokens. */
static void yamledit_flow_ws(struct yamledit_flow *f)
{
	bool after_ws = true;

	while (f->pos < f->len) {
		char c = f->t[f->pos];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			after_ws = true;
			f->pos++;
		} else if (c == '#' && after_ws) {
			while (f->pos < f->len && f->t[f->pos] != '\n')
				f->pos++;
		} else {
			return;
		}
	}
}

static int yamledit_put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, u, n);
}

/* A double-quoted scalar on one line, YAML's escapes decoded. */
static int yamledit_flow_dquoted(struct yamledit_flow *f, struct buf *b)
{
	/* The one-letter escapes and what they stand for. */
	static const char simple[][2] = {
	    {'0', '\0'}, {'a', '\a'}, {'b', '\b'},  {'t', '\t'},   {'n', '\n'},
	    {'v', '\v'}, {'f', '\f'}, {'r', '\r'},  {'e', '\x1b'}, {' ', ' '},
	    {'"', '"'},  {'/', '/'},  {'\\', '\\'},
	};
	size_t si;

	f->pos++;
	while (f->pos < f->len) {
		char c = f->t[f->pos];
		uint32_t cp = 0;
		unsigned k, nhex;

		if (c == '"') {
			f->pos++;
			return 0;
		}
		if (c == '\n' || c == '\r')
			return yamledit_flow_fail(
			    f, "a quoted string over several lines");
		if (c != '\\') {
			if (buf_putc(b, c) != 0)
				return -ERR_NOMEM;
			f->pos++;
			continue;
		}
		if (++f->pos >= f->len)
			break;
		c = f->t[f->pos++];
		if (c == '\t') {
			if (buf_putc(b, '\t') != 0)
				return -ERR_NOMEM;
			continue;
		}
		for (si = 0; si < sizeof(simple) / sizeof(simple[0]); si++)
			if (simple[si][0] == c)
				break;
		if (si < sizeof(simple) / sizeof(simple[0])) {
			if (buf_putc(b, simple[si][1]) != 0)
				return -ERR_NOMEM;
			continue;
		}
		switch (c) {
		case 'N':
			cp = 0x85;
			nhex = 0;
			break;
		case '_':
			cp = 0xa0;
			nhex = 0;
			break;
		case 'L':
			cp = 0x2028;
			nhex = 0;
			break;
		case 'P':
			cp = 0x2029;
			nhex = 0;
			break;
		case 'x':
			nhex = 2;
			break;
		case 'u':
			nhex = 4;
			break;
		case 'U':
			nhex = 8;
			break;
		default:
			f->pos--;
			return yamledit_flow_fail(f, "an unknown escape");
		}
		for (k = 0; k < nhex; k++, f->pos++) {
			char h = f->pos < f->len ? f->t[f->pos] : '\0';

			cp <<= 4;
			if (h >= '0' && h <= '9')
				cp |= (uint32_t)(h - '0');
			else if (h >= 'a' && h <= 'f')
				cp |= (uint32_t)(h - 'a' + 10);
			else if (h >= 'A' && h <= 'F')
				cp |= (uint32_t)(h - 'A' + 10);
			else
				return yamledit_flow_fail(f, "a bad escape");
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return yamledit_flow_fail(
			    f, "an escape that is not a character");
		if (yamledit_put_utf8(b, cp) != 0)
			return -ERR_NOMEM;
	}
	return yamledit_flow_fail(f, "an unterminated string");
}

static int yamledit_flow_squoted(struct yamledit_flow *f, struct buf *b)
{
	f->pos++;
	while (f->pos < f->len) {
		char c = f->t[f->pos];

		if (c == '\'') {
			if (f->pos + 1 < f->len && f->t[f->pos + 1] == '\'') {
				if (buf_putc(b, '\'') != 0)
					return -ERR_NOMEM;
				f->pos += 2;
				continue;
			}
			f->pos++;
			return 0;
		}
		if (c == '\n' || c == '\r')
			return yamledit_flow_fail(
			    f, "a quoted string over several lines");
		if (buf_putc(b, c) != 0)
			return -ERR_NOMEM;
		f->pos++;
	}
	return yamledit_flow_fail(f, "an unterminated string");
}

static bool yamledit_flow_indicator(char c)
{
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

/* A plain scalar in flow context, on one line; *len its trimmed length. */
static int yamledit_flow_plain(struct yamledit_flow *f, size_t *start,
                               size_t *len)
{
	size_t s = f->pos, e = f->pos;
	char c = f->t[f->pos];

	if (strchr("&*!|>%@`'\"#", c) != NULL)
		return yamledit_flow_fail(
		    f, c == '&' || c == '*' || c == '!'
		           ? "anchors, aliases and tags are not supported"
		           : "a scalar that cannot start a plain value");
	if ((c == '-' || c == '?' || c == ':') &&
	    (f->pos + 1 >= f->len ||
	     strchr(" \t\r\n,[]{}", f->t[f->pos + 1]) != NULL))
		return yamledit_flow_fail(f, "an indicator where a value "
		                             "was expected");
	while (f->pos < f->len) {
		c = f->t[f->pos];
		if (c == '\n' || c == '\r' || yamledit_flow_indicator(c))
			break;
		if (c == ':' &&
		    (f->pos + 1 >= f->len ||
		     strchr(" \t\r\n,[]{}", f->t[f->pos + 1]) != NULL))
			break;
		if (c == '#' && f->pos > s &&
		    (f->t[f->pos - 1] == ' ' || f->t[f->pos - 1] == '\t'))
			break;
		f->pos++;
		if (c != ' ' && c != '\t')
			e = f->pos;
	}
	*start = s;
	*len = e - s;
	f->pos = e;
	return 0;
}

static bool yamledit_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* A plain scalar's value by YAML 1.2's core schema (decimal numbers). */
static json_t *yamledit_plain_value(const char *s, size_t n)
{
	char tmp[64], *end;
	size_t i = 0;
	bool digits = false, real = false;

	if (n == 0 || yamledit_is(s, n, "null") || yamledit_is(s, n, "Null") ||
	    yamledit_is(s, n, "NULL") || yamledit_is(s, n, "~"))
		return json_null();
	if (yamledit_is(s, n, "true") || yamledit_is(s, n, "True") ||
	    yamledit_is(s, n, "TRUE"))
		return json_true();
	if (yamledit_is(s, n, "false") || yamledit_is(s, n, "False") ||
	    yamledit_is(s, n, "FALSE"))
		return json_false();
	if (n < sizeof(tmp)) {
		if (s[i] == '-' || s[i] == '+')
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits = true;
		if (i < n && s[i] == '.') {
			real = true;
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				digits = true;
		}
		if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
			real = true;
			i++;
			if (i < n && (s[i] == '-' || s[i] == '+'))
				i++;
			if (i == n || s[i] < '0' || s[i] > '9')
				digits = false;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		}
		if (digits && i == n) {
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			errno = 0;
			if (!real) {
				long long v = strtoll(tmp, &end, 10);

				if (errno == 0 && *end == '\0')
					return json_integer(v);
			} else {
				double v = strtod(tmp, &end);

				if (errno == 0 && *end == '\0')
					return json_real(v);
			}
		}
	}
	return json_stringn(s, n);
}

static int yamledit_flow_node(struct yamledit_flow *f, unsigned depth,
                              json_t **out);

/* A scalar (quoted or plain) as a new JSON value; *key_like is set when it
 * was quoted (then ':' may follow it directly). */
static int yamledit_flow_scalar(struct yamledit_flow *f, json_t **out,
                                bool *quoted)
{
	struct buf b = BUF_INIT;
	size_t s, n;
	json_t *v;
	int r;

	*quoted = false;
	if (f->t[f->pos] == '"' || f->t[f->pos] == '\'') {
		*quoted = true;
		r = f->t[f->pos] == '"' ? yamledit_flow_dquoted(f, &b)
		                        : yamledit_flow_squoted(f, &b);
		if (r != 0) {
			buf_free(&b);
			return r;
		}
		v = json_stringn(b.data != NULL ? b.data : "", b.len);
		buf_free(&b);
		if (v == NULL)
			return yamledit_flow_fail(f, "a string that is not "
			                             "UTF-8");
		*out = v;
		return 0;
	}
	if ((r = yamledit_flow_plain(f, &s, &n)) != 0)
		return r;
	if ((v = yamledit_plain_value(f->t + s, n)) == NULL)
		return yamledit_flow_fail(f, "a string that is not UTF-8");
	*out = v;
	return 0;
}

static int yamledit_flow_seq(struct yamledit_flow *f, unsigned depth,
                             json_t **out)
{
	json_t *a = json_array(), *v;
	int r;

	if (a == NULL)
		return -ERR_NOMEM;
	f->pos++;
	for (;;) {
		yamledit_flow_ws(f);
		if (f->pos >= f->len) {
			r = yamledit_flow_fail(f, "an unterminated '['");
			goto fail;
		}
		if (f->t[f->pos] == ']') {
			f->pos++;
			*out = a;
			return 0;
		}
		if ((r = yamledit_flow_node(f, depth + 1, &v)) != 0)
			goto fail;
		if (json_array_append_new(a, v) != 0) {
			r = -ERR_NOMEM;
			goto fail;
		}
		yamledit_flow_ws(f);
		if (f->pos < f->len && f->t[f->pos] == ',')
			f->pos++;
		else if (f->pos >= f->len || f->t[f->pos] != ']') {
			r = yamledit_flow_fail(f, "expected ',' or ']'");
			goto fail;
		}
	}
fail:
	json_decref(a);
	return r;
}

static int yamledit_flow_map(struct yamledit_flow *f, unsigned depth,
                             json_t **out)
{
	json_t *o = json_object(), *k = NULL, *v = NULL;
	bool quoted;
	int r;

	if (o == NULL)
		return -ERR_NOMEM;
	f->pos++;
	for (;;) {
		yamledit_flow_ws(f);
		if (f->pos >= f->len) {
			r = yamledit_flow_fail(f, "an unterminated '{'");
			goto fail;
		}
		if (f->t[f->pos] == '}') {
			f->pos++;
			*out = o;
			return 0;
		}
		if (f->t[f->pos] == '{' || f->t[f->pos] == '[' ||
		    f->t[f->pos] == '?') {
			r = yamledit_flow_fail(f, "a complex key");
			goto fail;
		}
		if ((r = yamledit_flow_scalar(f, &k, &quoted)) != 0)
			goto fail;
		if (!json_is_string(k)) {
			/* A key the core schema reads as a number or a
			 * boolean: keep its text, as a mapping key. */
			json_decref(k);
			k = NULL;
			r = yamledit_flow_fail(f, "a key that is not a string");
			goto fail;
		}
		if (json_object_getn(o, json_string_value(k),
		                     json_string_length(k)) != NULL) {
			r = yamledit_flow_fail(f, "a key given twice");
			goto fail;
		}
		yamledit_flow_ws(f);
		if (f->pos < f->len && f->t[f->pos] == ':') {
			f->pos++;
			yamledit_flow_ws(f);
			if (f->pos < f->len &&
			    (f->t[f->pos] == ',' || f->t[f->pos] == '}'))
				v = json_null();
			else if ((r = yamledit_flow_node(f, depth + 1, &v)) !=
			         0)
				goto fail;
		} else {
			v = json_null();
		}
		if (v == NULL ||
		    json_object_setn_new(o, json_string_value(k),
		                         json_string_length(k), v) != 0) {
			v = NULL;
			r = -ERR_NOMEM;
			goto fail;
		}
		v = NULL;
		json_decref(k);
		k = NULL;
		yamledit_flow_ws(f);
		if (f->pos < f->len && f->t[f->pos] == ',')
			f->pos++;
		else if (f->pos >= f->len || f->t[f->pos] != '}') {
			r = yamledit_flow_fail(f, "expected ',' or '}'");
			goto fail;
		}
	}
fail:
	json_decref(k);
	json_decref(v);
	json_decref(o);
	return r;
}

static int yamledit_flow_node(struct yamledit_flow *f, unsigned depth,
                              json_t **out)
{
	bool quoted;

	if (depth > YAMLEDIT_MAX_DEPTH)
		return yamledit_flow_fail(f, "nested too deeply");
	yamledit_flow_ws(f);
	if (f->pos >= f->len)
		return yamledit_flow_fail(f, "a missing value");
	if (f->t[f->pos] == '{')
		return yamledit_flow_map(f, depth, out);
	if (f->t[f->pos] == '[')
		return yamledit_flow_seq(f, depth, out);
	if (f->t[f->pos] == ']' || f->t[f->pos] == '}' || f->t[f->pos] == ',')
		return yamledit_flow_fail(f, "a missing value");
	return yamledit_flow_scalar(f, out, &quoted);
}

/*
 * Skips a flow node or quoted scalar that opens at pos without reading it
 * (another key's value): brackets and quotes are followed across lines.
 * Returns the offset past it, or len when it does not close.
 */
static size_t yamledit_skip_flow(const char *t, size_t len, size_t pos)
{
	size_t depth = 0;

	while (pos < len) {
		char c = t[pos];

		if (c == '"') {
			for (pos++; pos < len && t[pos] != '"'; pos++)
				if (t[pos] == '\\')
					pos++;
			pos++;
		} else if (c == '\'') {
			for (pos++; pos < len; pos++)
				if (t[pos] == '\'') {
					if (pos + 1 < len && t[pos + 1] == '\'')
						pos++;
					else
						break;
				}
			pos++;
		} else if (c == '#' && pos > 0 &&
		           (t[pos - 1] == ' ' || t[pos - 1] == '\t' ||
		            t[pos - 1] == '\n')) {
			while (pos < len && t[pos] != '\n')
				pos++;
			continue;
		} else if (c == '[' || c == '{') {
			depth++;
			pos++;
		} else if (c == ']' || c == '}') {
			pos++;
			if (depth > 0)
				depth--;
		} else {
			pos++;
		}
		if (depth == 0)
			return pos > len ? len : pos;
	}
	return len;
}

/* ---- the layout ---- */

/*
 * Reads a key at t[pos] (plain, or quoted on one line) followed by ':' and
 * a blank or the line end. Returns the offset just past the ':' and the key
 * in *key (a new string), 0 when the line is not a key, or -ERR_NOMEM as
 * (size_t)-1.
 */
static size_t yamledit_key(const char *t, size_t pos, size_t end, char **key)
{
	struct yamledit_flow f = {t, end, pos, NULL, 0};
	struct buf b = BUF_INIT;
	size_t s = pos, e;
	int r;

	*key = NULL;
	if (pos >= end)
		return 0;
	if (t[pos] == '"' || t[pos] == '\'') {
		r = t[pos] == '"' ? yamledit_flow_dquoted(&f, &b)
		                  : yamledit_flow_squoted(&f, &b);
		if (r == -ERR_NOMEM) {
			buf_free(&b);
			return (size_t)-1;
		}
		e = f.pos;
		while (r == 0 && e < end && t[e] == ' ')
			e++;
		if (r != 0 || e >= end || t[e] != ':' ||
		    (e + 1 < end && t[e + 1] != ' ' && t[e + 1] != '\t')) {
			buf_free(&b);
			return 0;
		}
		if ((*key = buf_steal(&b, NULL)) == NULL)
			return (size_t)-1;
		return e + 1;
	}
	if (strchr("&*!|>%@`#[]{},?-:", t[pos]) != NULL)
		return 0;
	for (e = pos; e < end; e++)
		if (t[e] == ':' &&
		    (e + 1 == end || t[e + 1] == ' ' || t[e + 1] == '\t'))
			break;
		else if (t[e] == '#' && (t[e - 1] == ' ' || t[e - 1] == '\t'))
			return 0;
	if (e == end)
		return 0;
	s = e;
	while (s > pos && (t[s - 1] == ' ' || t[s - 1] == '\t'))
		s--;
	if ((*key = strndup(t + pos, s - pos)) == NULL)
		return (size_t)-1;
	return e + 1;
}

/* The first byte of the value after a key's ':' on its line (end: none). */
static size_t yamledit_value_start(const char *t, size_t pos, size_t end)
{
	while (pos < end && (t[pos] == ' ' || t[pos] == '\t'))
		pos++;
	if (pos < end && t[pos] == '#')
		return end;
	return pos;
}

static bool yamledit_node_prop(char c)
{
	return c == '&' || c == '*' || c == '!';
}

static int yamledit_push_item(struct yaml_doc *doc, struct yamledit_item **out)
{
	if (doc->nitems == doc->cap) {
		size_t ncap = doc->cap ? doc->cap * 2 : 8;
		struct yamledit_item *v =
		    realloc(doc->items, ncap * sizeof(*v));

		if (v == NULL)
			return -ERR_NOMEM;
		doc->items = v;
		doc->cap = ncap;
	}
	*out = &doc->items[doc->nitems++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/*
 * Reads a plain or quoted scalar at t[pos], alone on its line up to a
 * comment, as a new string. Returns 0, -ERR_PARSE with *why, -ERR_NOMEM.
 */
static int yamledit_name_scalar(const char *t, size_t pos, size_t end,
                                char **out, const char **why)
{
	struct yamledit_flow f = {t, end, pos, NULL, 0};
	struct buf b = BUF_INIT;
	size_t e;
	int r;

	*why = "a name that is not a scalar on its line";
	if (pos >= end)
		return -ERR_PARSE;
	if (t[pos] == '"' || t[pos] == '\'') {
		r = t[pos] == '"' ? yamledit_flow_dquoted(&f, &b)
		                  : yamledit_flow_squoted(&f, &b);
		if (r != 0) {
			buf_free(&b);
			if (r == -ERR_PARSE)
				*why = f.err;
			return r;
		}
		e = yamledit_value_start(t, f.pos, end);
		if (e != end) {
			buf_free(&b);
			return -ERR_PARSE;
		}
		if (memchr(b.data != NULL ? b.data : "", '\0', b.len) != NULL) {
			buf_free(&b);
			*why = "a name holding a NUL";
			return -ERR_PARSE;
		}
		if (!yamledit_is_utf8(b.data != NULL ? b.data : "", b.len)) {
			buf_free(&b);
			*why = "a name that is not UTF-8";
			return -ERR_PARSE;
		}
		if ((*out = buf_steal(&b, NULL)) == NULL)
			return -ERR_NOMEM;
		return 0;
	}
	if (strchr("&*!|>%@`[]{},?:-#", t[pos]) != NULL &&
	    !(t[pos] == '-' && pos + 1 < end && t[pos + 1] != ' '))
		return -ERR_PARSE;
	for (e = pos; e < end; e++)
		if (t[e] == '#' && (t[e - 1] == ' ' || t[e - 1] == '\t'))
			break;
		else if (t[e] == ':' && (e + 1 == end || t[e + 1] == ' '))
			return -ERR_PARSE;
	while (e > pos && (t[e - 1] == ' ' || t[e - 1] == '\t'))
		e--;
	if (!yamledit_is_utf8(t + pos, e - pos)) {
		*why = "a name that is not UTF-8";
		return -ERR_PARSE;
	}
	if ((*out = strndup(t + pos, e - pos)) == NULL)
		return -ERR_NOMEM;
	return 0;
}

/*
 * Reads one item whose "-" line is l: its extent (up to the next line at
 * or left of the items' indentation) and its name. Returns 0 with *next the
 * offset after the item's lines, or an error.
 */
static int yamledit_item(struct yaml_doc *doc, const struct yamledit_line *l,
                         size_t limit, size_t *next, struct diag *d)
{
	const char *t = doc->text;
	struct yamledit_item *it;
	struct yamledit_line m;
	size_t pos, rest, s, skip_to = 0;
	unsigned map_indent = 0;
	bool have_map = false;
	char *key = NULL;
	int r;

	if ((r = yamledit_push_item(doc, &it)) != 0)
		return r;
	it->start = l->start;
	it->line = yamledit_lineno(t, l->start);
	it->end = l->next;
	rest = yamledit_value_start(t, l->first + 1, l->end);
	if (rest < l->end && yamledit_node_prop(t[rest]))
		return yamledit_refuse(doc, rest, d,
		                       "anchors, aliases and tags are not "
		                       "supported in this list");
	if (rest < l->end && t[rest] == '{') {
		struct yamledit_flow f = {t, limit, rest, NULL, 0};
		json_t *v = NULL, *nm;

		if ((r = yamledit_flow_node(&f, 0, &v)) != 0) {
			if (r == -ERR_PARSE)
				return yamledit_refuse(doc, f.err_pos, d,
				                       f.err);
			return r;
		}
		it->flow = v;
		yamledit_line_at(t, doc->len, f.pos, &m);
		if (yamledit_value_start(t, f.pos, m.end) != m.end)
			return yamledit_refuse(doc, f.pos, d,
			                       "text after a flow item");
		it->end = m.next;
		nm = json_object_get(v, "name");
		if (nm != NULL && !json_is_string(nm))
			return yamledit_refuse(doc, rest, d,
			                       "an item whose name is not a "
			                       "string");
		if (nm != NULL &&
		    strlen(json_string_value(nm)) != json_string_length(nm))
			return yamledit_refuse(doc, rest, d,
			                       "a name holding a NUL");
		if (nm != NULL &&
		    (it->name = strdup(json_string_value(nm))) == NULL)
			return -ERR_NOMEM;
		pos = m.next;
		/* Only blank and comment lines may follow in the item. */
		for (; pos < limit; pos = m.next) {
			yamledit_line_at(t, doc->len, pos, &m);
			if (m.blank || m.comment)
				continue;
			if (m.indent <= doc->indent && !m.tab)
				break;
			return yamledit_refuse(doc, m.first, d,
			                       "more after a flow item");
		}
		*next = pos;
		return 0;
	}
	if (rest < l->end) {
		map_indent = (unsigned)(rest - l->start);
		have_map = true;
	}
	/* The item's lines, the first one included. */
	for (pos = l->start; pos < limit; pos = m.next) {
		size_t ks, ke, vs;

		yamledit_line_at(t, doc->len, pos, &m);
		if (pos != l->start) {
			if (m.tab && !m.blank)
				return yamledit_refuse(doc, m.first, d,
				                       "a tab in the "
				                       "indentation");
			if (m.blank || m.comment)
				continue;
			if (m.indent <= doc->indent)
				break;
			it->end = m.next;
			if (pos < skip_to)
				continue;
			if (!have_map) {
				map_indent = m.indent;
				have_map = true;
			}
			if (m.indent < map_indent)
				return yamledit_refuse(doc, m.first, d,
				                       "a line left of the "
				                       "item's keys");
			/* Deeper lines are nested values: only their
			 * node properties are looked at. */
			ks = m.first;
		} else {
			ks = rest;
		}
		if (ks >= m.end)
			continue;
		if (t[ks] == '-' && (ks + 1 == m.end || t[ks + 1] == ' ')) {
			/* A nested list item: check its node. */
			vs = yamledit_value_start(t, ks + 1, m.end);
			if (vs < m.end && yamledit_node_prop(t[vs]))
				return yamledit_refuse(
				    doc, vs, d,
				    "anchors, aliases and tags are not "
				    "supported in this list");
			if (vs < m.end && strchr("[{\"'", t[vs]) != NULL)
				skip_to = yamledit_skip_flow(t, limit, vs);
			continue;
		}
		ke = yamledit_key(t, ks, m.end, &key);
		if (ke == (size_t)-1)
			return -ERR_NOMEM;
		if (ke == 0) {
			if (pos == l->start || m.indent == map_indent)
				return yamledit_refuse(
				    doc, ks, d,
				    "an item that is not a mapping");
			continue;
		}
		vs = yamledit_value_start(t, ke, m.end);
		if (vs < m.end && yamledit_node_prop(t[vs])) {
			free(key);
			return yamledit_refuse(doc, vs, d,
			                       "anchors, aliases and tags are "
			                       "not supported in this list");
		}
		if ((pos == l->start || m.indent == map_indent) &&
		    strcmp(key, "<<") == 0) {
			free(key);
			return yamledit_refuse(doc, ks, d,
			                       "merge keys are not supported "
			                       "in this list");
		}
		if ((pos == l->start || m.indent == map_indent) &&
		    strcmp(key, "name") == 0) {
			const char *why;

			if (it->name != NULL) {
				free(key);
				return yamledit_refuse(
				    doc, ks, d, "an item with two names");
			}
			r = yamledit_name_scalar(t, vs, m.end, &it->name, &why);
			if (r != 0) {
				free(key);
				if (r == -ERR_PARSE)
					return yamledit_refuse(doc, vs, d, why);
				return r;
			}
		}
		free(key);
		key = NULL;
		if (vs < m.end && strchr("[{\"'", t[vs]) != NULL) {
			s = yamledit_skip_flow(t, limit, vs);
			if (s > m.next)
				skip_to = s;
		}
	}
	/* A flow value or quoted string still open where the item ends. */
	if (skip_to > pos)
		return yamledit_refuse(doc, it->start, d,
		                       "a value that does not close within "
		                       "its item");
	/* Blank and comment lines after the item belong to what follows. */
	*next = pos;
	return 0;
}

/* Reads the value of the key, whose line is l; limit ends the value. */
static int yamledit_sequence(struct yaml_doc *doc,
                             const struct yamledit_line *l, size_t colon,
                             size_t limit, struct diag *d)
{
	const char *t = doc->text;
	struct yamledit_line m;
	size_t vs = yamledit_value_start(t, colon, l->end), pos, i, j;
	bool have_indent = false;
	int r;

	doc->key_colon = colon;
	doc->key_next = l->next;
	doc->value_end = l->next;
	if (vs < l->end) {
		if (yamledit_node_prop(t[vs]))
			return yamledit_refuse(doc, vs, d,
			                       "anchors, aliases and tags are "
			                       "not supported on this list");
		if (t[vs] == '[') {
			size_t e = vs + 1;

			while (e < l->end && (t[e] == ' ' || t[e] == '\t'))
				e++;
			if (e >= l->end || t[e] != ']')
				return yamledit_refuse(
				    doc, vs, d,
				    "a flow list ([...]) that is not empty; "
				    "write it as a block list (\"- \" items)");
			if (yamledit_value_start(t, e + 1, l->end) != l->end)
				return yamledit_refuse(doc, e + 1, d,
				                       "text after []");
			doc->flow_empty = true;
			doc->empty_end = e + 1;
		} else {
			return yamledit_refuse(doc, vs, d, "not a list");
		}
	}
	for (pos = l->next; pos < limit;) {
		yamledit_line_at(t, doc->len, pos, &m);
		if (m.blank || m.comment) {
			pos = m.next;
			continue;
		}
		if (m.tab)
			return yamledit_refuse(doc, m.first, d,
			                       "a tab in the indentation");
		if (doc->flow_empty)
			return yamledit_refuse(doc, m.first, d,
			                       "more after []");
		if (!have_indent) {
			doc->indent = m.indent;
			have_indent = true;
		}
		if (m.indent != doc->indent || t[m.first] != '-' ||
		    (m.first + 1 < m.end && t[m.first + 1] != ' '))
			return yamledit_refuse(
			    doc, m.first, d,
			    m.indent < doc->indent
			        ? "a line left of the list's "
			          "items"
			        : "not a list item");
		if (doc->nitems >= YAMLEDIT_MAX_ITEMS)
			return yamledit_refuse(doc, m.first, d,
			                       "too many items");
		if ((r = yamledit_item(doc, &m, limit, &pos, d)) != 0)
			return r;
		doc->value_end = doc->items[doc->nitems - 1].end;
	}
	if (!have_indent)
		doc->indent = 2;
	for (i = 0; i < doc->nitems; i++)
		for (j = 0; j < i && doc->items[i].name != NULL; j++)
			if (doc->items[j].name != NULL &&
			    strcmp(doc->items[i].name, doc->items[j].name) ==
			        0) {
				char why[160];

				(void)snprintf(why, sizeof(why),
				               "two items named '%.60s' (line "
				               "%u and here)",
				               doc->items[i].name,
				               doc->items[j].line);
				return yamledit_refuse(doc, doc->items[i].start,
				                       d, why);
			}
	return 0;
}

int yamledit_parse(const char *text, size_t len, const char *key,
                   struct yaml_doc **out, struct diag *d)
{
	struct yaml_doc *doc;
	struct yamledit_line l, m;
	size_t pos = 0, colon = 0, limit;
	bool content = false;
	const char *nul;
	char *k = NULL;
	int r = 0;

	if ((doc = calloc(1, sizeof(*doc))) == NULL)
		return -ERR_NOMEM;
	if ((doc->key = strdup(key)) == NULL) {
		free(doc);
		return -ERR_NOMEM;
	}
	doc->text = text;
	doc->len = len;
	doc->eol = "\n";
	doc->indent = 2;
	/* YAML has no NUL: a text holding one is not YAML. */
	if ((nul = memchr(text, '\0', len)) != NULL) {
		r = yamledit_refuse(doc, (size_t)(nul - text), d,
		                    "a NUL byte: not a YAML text");
		goto out;
	}
	yamledit_line_at(text, len, 0, &l);
	if (l.next > l.end + 1)
		doc->eol = "\r\n";
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		yamledit_line_at(text, len, pos, &l);
		pos = l.next;
		if (l.blank || l.comment)
			continue;
		if (l.indent > 0 || l.tab) {
			if (!content) {
				r = yamledit_refuse(
				    doc, l.first, d,
				    "the top level is not a block "
				    "mapping at column 1");
				goto out;
			}
			continue;
		}
		if (text[l.start] == '%' && !content)
			continue;
		if (l.end - l.start >= 3 &&
		    (memcmp(text + l.start, "---", 3) == 0 ||
		     memcmp(text + l.start, "...", 3) == 0) &&
		    (l.end - l.start == 3 || text[l.start + 3] == ' ')) {
			if (!content && text[l.start] == '-' &&
			    yamledit_value_start(text, l.start + 3, l.end) ==
			        l.end)
				continue;
			r = yamledit_refuse(doc, l.start, d,
			                    "more than one YAML document, or "
			                    "one with content on '---'");
			goto out;
		}
		content = true;
		if (text[l.start] == '-' &&
		    (l.start + 1 == l.end || text[l.start + 1] == ' '))
			continue; /* an item of a list at column 1 */
		colon = yamledit_key(text, l.start, l.end, &k);
		if (colon == (size_t)-1) {
			r = -ERR_NOMEM;
			goto out;
		}
		if (colon == 0) {
			r = yamledit_refuse(doc, l.start, d,
			                    text[l.start] == '{' ||
			                            text[l.start] == '['
			                        ? "the top level is a flow "
			                          "collection, not a block "
			                          "mapping"
			                        : "not a key of the top-level "
			                          "mapping");
			goto out;
		}
		if (strcmp(k, "<<") == 0) {
			r = yamledit_refuse(doc, l.start, d,
			                    "a merge key at the top level");
			goto out;
		}
		if (strcmp(k, key) == 0) {
			if (doc->exists) {
				r = yamledit_refuse(doc, l.start, d,
				                    "the key is written twice");
				goto out;
			}
			doc->exists = true;
			doc->key_start = l.start;
			/* The value ends at the next line at column 1 that
			 * is not a comment or an item. */
			for (limit = l.next; limit < len; limit = m.next) {
				yamledit_line_at(text, len, limit, &m);
				if (m.blank || m.comment || m.indent > 0 ||
				    m.tab)
					continue;
				if (text[m.start] == '-' &&
				    (m.start + 1 == m.end ||
				     text[m.start + 1] == ' ') &&
				    !(m.end - m.start >= 3 &&
				      memcmp(text + m.start, "---", 3) == 0))
					continue;
				break;
			}
			if ((r = yamledit_sequence(doc, &l, colon, limit, d)) !=
			    0)
				goto out;
			pos = limit;
		} else {
			size_t vs = yamledit_value_start(text, colon, l.end);

			/* Another key's value: a flow node or a quoted
			 * string over several lines is skipped whole. */
			if (vs < l.end && strchr("[{\"'", text[vs]) != NULL) {
				size_t e = yamledit_skip_flow(text, len, vs);

				if (e > l.next) {
					yamledit_line_at(text, len, e - 1, &m);
					pos = m.next;
				}
			}
		}
		free(k);
		k = NULL;
	}
out:
	free(k);
	if (r != 0) {
		yamledit_free(doc);
		return r;
	}
	*out = doc;
	return 0;
}

void yamledit_free(struct yaml_doc *doc)
{
	size_t i;

	if (doc == NULL)
		return;
	for (i = 0; i < doc->nitems; i++) {
		free(doc->items[i].name);
		json_decref(doc->items[i].flow);
	}
	free(doc->items);
	free(doc->key);
	free(doc);
}

bool yamledit_exists(const struct yaml_doc *doc)
{
	return doc->exists;
}

int yamledit_names(const struct yaml_doc *doc, char ***names, size_t *n)
{
	char **v = NULL;
	size_t i, k = 0;

	if (doc->nitems > 0 && (v = calloc(doc->nitems, sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < doc->nitems; i++) {
		if (doc->items[i].name == NULL)
			continue;
		if ((v[k] = strdup(doc->items[i].name)) == NULL) {
			edit_names_free(v, k);
			return -ERR_NOMEM;
		}
		k++;
	}
	*names = v;
	*n = k;
	return 0;
}

static const struct yamledit_item *yamledit_find(const struct yaml_doc *doc,
                                                 const char *name)
{
	size_t i;

	for (i = 0; i < doc->nitems; i++)
		if (doc->items[i].name != NULL &&
		    strcmp(doc->items[i].name, name) == 0)
			return &doc->items[i];
	return NULL;
}

int yamledit_get(const struct yaml_doc *doc, const char *name, json_t **out,
                 struct diag *d)
{
	const struct yamledit_item *it = yamledit_find(doc, name);
	json_t *v;

	if (it == NULL)
		return -ERR_NOENT;
	if (it->flow == NULL)
		return diag_set(d, ERR_TYPE, it->line, 1,
		                "item '%s' is not written as one flow mapping",
		                name);
	if ((v = json_deep_copy(it->flow)) == NULL ||
	    json_object_del(v, "name") != 0) {
		json_decref(v);
		return -ERR_NOMEM;
	}
	*out = v;
	return 0;
}

/* ---- writing ---- */

/* Decodes one UTF-8 sequence at s[0..len): its code point and length, or
 * (uint32_t)-1 when it is not valid UTF-8. */
static uint32_t yamledit_utf8(const unsigned char *s, size_t len, size_t *n)
{
	uint32_t cp, min;
	size_t k, need;

	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return (uint32_t)-1;
	}
	if (need > len)
		return (uint32_t)-1;
	for (k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return (uint32_t)-1;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (uint32_t)-1;
	*n = need;
	return cp;
}

/* True when s[0..len) is UTF-8. */
static bool yamledit_is_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	for (i = 0; i < len; i += n)
		if (yamledit_utf8(p + i, len - i, &n) == (uint32_t)-1)
			return false;
	return true;
}

/* A JSON string that YAML reads back the same: every character YAML
 * counts as a line break or as non-printable is escaped (\uXXXX, never a
 * surrogate pair). */
static int yamledit_put_string(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;
	int r = buf_putc(b, '"');

	for (i = 0; i < len && r == 0; i += n) {
		uint32_t cp = yamledit_utf8(p + i, len - i, &n);

		if (cp == (uint32_t)-1)
			return -ERR_INVALID;
		if (cp == '"' || cp == '\\') {
			r |= buf_putc(b, '\\');
			r |= buf_putc(b, (char)cp);
		} else if (cp == '\n') {
			r |= buf_puts(b, "\\n");
		} else if (cp == '\t') {
			r |= buf_puts(b, "\\t");
		} else if (cp < 0x20 || cp == 0x7f ||
		           (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
		           cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
		           cp == 0xffff) {
			r |= buf_printf(b, "\\u%04" PRIx32, cp);
		} else {
			r |= buf_append(b, s + i, n);
		}
	}
	r |= buf_putc(b, '"');
	return r != 0 ? -ERR_NOMEM : 0;
}

static int yamledit_put_value(struct buf *b, const json_t *v, unsigned depth)
{
	const char *key;
	const json_t *e;
	char num[64];
	size_t i;
	int r = 0;
	bool first = true;

	if (depth > YAMLEDIT_MAX_DEPTH)
		return -ERR_TOOBIG;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		r |= buf_putc(b, '{');
		json_object_foreach((json_t *)(uintptr_t)v, key, e)
		{
			if (!first)
				r |= buf_puts(b, ", ");
			first = false;
			if (r == 0)
				r = yamledit_put_string(b, key, strlen(key));
			r |= buf_puts(b, ": ");
			if (r == 0)
				r = yamledit_put_value(b, e, depth + 1);
			if (r != 0)
				return r;
		}
		r |= buf_putc(b, '}');
		break;
	case JSON_ARRAY:
		r |= buf_putc(b, '[');
		for (i = 0; i < json_array_size(v) && r == 0; i++) {
			if (i > 0)
				r |= buf_puts(b, ", ");
			if (r == 0)
				r = yamledit_put_value(b, json_array_get(v, i),
				                       depth + 1);
		}
		r |= buf_putc(b, ']');
		break;
	case JSON_STRING:
		return yamledit_put_string(b, json_string_value(v),
		                           json_string_length(v));
	case JSON_INTEGER:
		r |= buf_printf(b, "%" JSON_INTEGER_FORMAT,
		                json_integer_value(v));
		break;
	case JSON_REAL:
		(void)snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		r |= buf_puts(b, num);
		if (strpbrk(num, ".eE") == NULL)
			r |= buf_puts(b, ".0");
		break;
	case JSON_TRUE:
		r |= buf_puts(b, "true");
		break;
	case JSON_FALSE:
		r |= buf_puts(b, "false");
		break;
	case JSON_NULL:
		r |= buf_puts(b, "null");
		break;
	}
	return r != 0 && r != -ERR_TOOBIG && r != -ERR_INVALID ? -ERR_NOMEM : r;
}

/* One item as its line: INDENT- {"name": NAME, ...}EOL. */
static int yamledit_render(const struct yaml_doc *doc, const char *name,
                           const json_t *value, struct buf *b, struct diag *d)
{
	const char *key;
	const json_t *v;
	unsigned i;
	int r = 0;

	if (!json_is_object(value))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "entry '%s' is not a mapping", name);
	if (json_object_get(value, "name") != NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "entry '%s' has a \"name\" of its own", name);
	for (i = 0; i < doc->indent; i++)
		r |= buf_putc(b, ' ');
	r |= buf_puts(b, "- {");
	if (r == 0)
		r = yamledit_put_string(b, "name", 4);
	r |= buf_puts(b, ": ");
	if (r == 0)
		r = yamledit_put_string(b, name, strlen(name));
	json_object_foreach((json_t *)(uintptr_t)value, key, v)
	{
		r |= buf_puts(b, ", ");
		if (r == 0)
			r = yamledit_put_string(b, key, strlen(key));
		r |= buf_puts(b, ": ");
		if (r == 0)
			r = yamledit_put_value(b, v, 1);
		if (r != 0)
			break;
	}
	if (r == 0)
		r = buf_putc(b, '}');
	if (r == 0)
		r = buf_puts(b, doc->eol);
	if (r == -ERR_TOOBIG || r == -ERR_INVALID)
		return diag_set(d, r == -ERR_TOOBIG ? ERR_TOOBIG : ERR_INVALID,
		                0, 0, "entry '%s' cannot be written as YAML",
		                name);
	return r != 0 ? -ERR_NOMEM : 0;
}

/* The last edit of name among edits[0..n), or NULL. */
static const struct jedit *yamledit_edit_of(const struct jedit *edits, size_t n,
                                            const char *name)
{
	size_t i;

	for (i = n; i > 0; i--)
		if (strcmp(edits[i - 1].name, name) == 0)
			return &edits[i - 1];
	return NULL;
}

/* Checks that the result holds the edits and the other items unchanged. */
static int yamledit_check(const struct yaml_doc *doc, const struct jedit *edits,
                          size_t n, const char *text, size_t len,
                          struct diag *d)
{
	struct yaml_doc *again = NULL;
	const struct yamledit_item *it;
	const struct jedit *e;
	struct diag cd;
	json_t *v = NULL;
	size_t i;
	int r;

	diag_clear(&cd);
	if ((r = yamledit_parse(text, len, doc->key, &again, &cd)) != 0) {
		if (r == -ERR_NOMEM)
			return r;
		return diag_set(d, ERR_INVALID, cd.line, cd.col,
		                "the edited file would not read back (line %u: "
		                "%s)",
		                cd.line, cd.msg);
	}
	for (i = 0; i < n && r == 0; i++) {
		e = yamledit_edit_of(edits, n, edits[i].name);
		if (e != &edits[i])
			continue;
		r = yamledit_get(again, e->name, &v, &cd);
		if (r == -ERR_NOMEM)
			break;
		if (e->value == NULL ? r != -ERR_NOENT
		                     : r != 0 || !json_equal(v, e->value))
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "the edited file does not read back item "
			             "'%s' as written",
			             e->name);
		else
			r = 0;
		json_decref(v);
		v = NULL;
	}
	for (i = 0; i < doc->nitems && r == 0; i++) {
		it = &doc->items[i];
		if (it->name == NULL || yamledit_edit_of(edits, n, it->name))
			continue;
		if (yamledit_find(again, it->name) == NULL)
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "the edited file lost item '%s'",
			             it->name);
	}
	yamledit_free(again);
	return r;
}

int yamledit_edit(const struct yaml_doc *doc, const struct jedit *edits,
                  size_t n, bool prune, char **out, size_t *outlen,
                  struct diag *d)
{
	const char *t = doc->text, *eol = doc->eol;
	struct edit_pieces sp = {0};
	struct buf adds = BUF_INIT, res = BUF_INIT, line = BUF_INIT;
	const struct jedit *e;
	size_t i, remaining = doc->nitems, removed = 0;
	bool drop_key;
	char *s;
	int r = 0;

	for (i = 0; i < doc->nitems; i++)
		if (doc->items[i].name != NULL &&
		    (e = yamledit_edit_of(edits, n, doc->items[i].name)) !=
		        NULL &&
		    e->value == NULL) {
			remaining--;
			removed++;
		}
	for (i = 0; i < n; i++)
		if (edits[i].value != NULL &&
		    yamledit_edit_of(edits, n, edits[i].name) == &edits[i] &&
		    yamledit_find(doc, edits[i].name) == NULL)
			remaining++;
	/* The last item of ours gone from a key of ours: the key goes. */
	drop_key = doc->exists && prune && remaining == 0 && removed > 0;
	if (drop_key && (r = edit_pieces_push(&sp, doc->key_start,
	                                      doc->value_end, NULL)) != 0)
		goto out;
	for (i = 0; i < doc->nitems && !drop_key; i++) {
		const struct yamledit_item *it = &doc->items[i];

		if (it->name == NULL ||
		    (e = yamledit_edit_of(edits, n, it->name)) == NULL)
			continue;
		s = NULL;
		if (e->value != NULL) {
			buf_reset(&line);
			if ((r = yamledit_render(doc, it->name, e->value, &line,
			                         d)) != 0)
				goto out;
			if ((s = buf_steal(&line, NULL)) == NULL) {
				r = -ERR_NOMEM;
				goto out;
			}
		}
		if ((r = edit_pieces_push(&sp, it->start, it->end, s)) != 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		if (edits[i].value == NULL ||
		    yamledit_edit_of(edits, n, edits[i].name) != &edits[i] ||
		    yamledit_find(doc, edits[i].name) != NULL)
			continue;
		if ((r = yamledit_render(doc, edits[i].name, edits[i].value,
		                         &adds, d)) != 0)
			goto out;
	}
	if (adds.len > 0) {
		struct buf head = BUF_INIT;
		size_t at = !doc->exists      ? doc->len
		            : doc->nitems > 0 ? doc->items[doc->nitems - 1].end
		                              : doc->key_next;

		if (at == doc->len && doc->len > 0 && t[doc->len - 1] != '\n')
			r |= buf_puts(&head, eol);
		if (!doc->exists) {
			r |= buf_puts(&head, doc->key);
			r |= buf_putc(&head, ':');
			r |= buf_puts(&head, eol);
		}
		r |= buf_append(&head, adds.data, adds.len);
		if (r != 0 || (s = buf_steal(&head, NULL)) == NULL) {
			buf_free(&head);
			r = -ERR_NOMEM;
			goto out;
		}
		if ((r = edit_pieces_push(&sp, at, at, s)) != 0)
			goto out;
		if (doc->exists && doc->flow_empty &&
		    (r = edit_pieces_push(&sp, doc->key_colon, doc->empty_end,
		                          NULL)) != 0)
			goto out;
	} else if (doc->exists && !drop_key && remaining == 0 && removed > 0 &&
	           !doc->flow_empty) {
		/* cn refuses a null list: an emptied one is "[]". */
		if ((s = strdup(" []")) == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		if ((r = edit_pieces_push(&sp, doc->key_colon, doc->key_colon,
		                          s)) != 0)
			goto out;
	}
	if ((r = edit_pieces_apply(&sp, t, doc->len, &res)) != 0) {
		if (r == -ERR_INVALID)
			r = diag_set(d, ERR_INTERNAL, 0, 0,
			             "overlapping edits in the YAML file");
		goto out;
	}
	if ((r = yamledit_check(doc, edits, n, res.data != NULL ? res.data : "",
	                        res.len, d)) != 0)
		goto out;
	*outlen = res.len;
	if ((*out = buf_steal(&res, NULL)) == NULL)
		r = -ERR_NOMEM;
out:
	edit_pieces_free(&sp);
	buf_free(&adds);
	buf_free(&res);
	buf_free(&line);
	return r;
}
