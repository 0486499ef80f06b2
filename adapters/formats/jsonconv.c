/* SPDX-License-Identifier: MIT */
/* Conversion of the values of a parsed JSON or JSONC document to jansson. */
#include "jsondoc.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsondoc_int.h"

/*
 * Conversion of a value span to jansson. The span has been validated, so
 * this walker only keeps within bounds; comments and trailing commas are
 * skipped, which jansson's own parser would not do.
 */
struct jdoc_conv {
	const unsigned char *s;
	size_t len;
	size_t p;
	struct buf tmp;
	struct diag *d;
	const char *what; /* the member, for messages */
};

static void jdoc_conv_skip(struct jdoc_conv *c)
{
	const unsigned char *s = c->s, *x;

	for (;;) {
		while (c->p < c->len && jdoc_is_ws(s[c->p]))
			c->p++;
		if (c->p + 1 >= c->len || s[c->p] != '/')
			return;
		if (s[c->p + 1] == '/') {
			while (c->p < c->len && s[c->p] != '\n' &&
			       s[c->p] != '\r')
				c->p++;
		} else if (s[c->p + 1] == '*') {
			x = c->p + 2 < c->len
			        ? memchr(s + c->p + 2, '*', c->len - c->p - 2)
			        : NULL;
			while (x != NULL && x + 1 < s + c->len && x[1] != '/')
				x = memchr(x + 1, '*',
				           c->len - (size_t)(x + 1 - s));
			if (x == NULL || x + 1 >= s + c->len) {
				c->p = c->len;
				return;
			}
			c->p = (size_t)(x - s) + 2;
		} else {
			return;
		}
	}
}

/*
 * In an object or array: skips to the next member or element. Returns 1
 * past the closing close, 0 at an item, -ERR_INTERNAL at the end of the
 * text.
 */
static int jdoc_conv_next(struct jdoc_conv *c, unsigned char close)
{
	jdoc_conv_skip(c);
	if (c->p >= c->len)
		return -ERR_INTERNAL;
	if (c->s[c->p] != close)
		return 0;
	c->p++;
	return 1;
}

/* After an item: skips blanks and its comma, if any. */
static void jdoc_conv_after(struct jdoc_conv *c)
{
	jdoc_conv_skip(c);
	if (c->p < c->len && c->s[c->p] == ',')
		c->p++;
}

/* Decodes the string at c->p into c->tmp (reset first). */
static int jdoc_conv_string(struct jdoc_conv *c)
{
	size_t start = c->p + 1, q = start;

	while (q < c->len && c->s[q] != '"')
		q += c->s[q] == '\\' ? 2 : 1;
	if (q >= c->len)
		return -ERR_INTERNAL;
	c->p = q + 1;
	buf_reset(&c->tmp);
	if (buf_reserve(&c->tmp, 0) != 0)
		return -ERR_NOMEM;
	return jdoc_decode(c->s + start, q - start, &c->tmp);
}

static int jdoc_conv_number(struct jdoc_conv *c, json_t **out)
{
	const unsigned char *s = c->s;
	size_t start = c->p, i;
	unsigned long long u = 0, lim;
	bool isint = true, neg, fits = true;
	json_error_t err;
	unsigned dg;
	json_t *v;

	while (c->p < c->len &&
	       (jdoc_is_digit(s[c->p]) || s[c->p] == '-' || s[c->p] == '+' ||
	        s[c->p] == '.' || s[c->p] == 'e' || s[c->p] == 'E')) {
		if (!jdoc_is_digit(s[c->p]) && s[c->p] != '-')
			isint = false;
		c->p++;
	}
	if (c->p == start)
		return -ERR_INTERNAL;
	if (isint) {
		neg = s[start] == '-';
		lim = neg ? (unsigned long long)LLONG_MAX + 1
		          : (unsigned long long)LLONG_MAX;
		for (i = start + (neg ? 1 : 0); i < c->p && fits; i++) {
			dg = s[i] - '0';
			if (u > (lim - dg) / 10)
				fits = false;
			else
				u = u * 10 + dg;
		}
		if (fits && (json_int_t)LLONG_MAX == LLONG_MAX) {
			if (!neg)
				v = json_integer((json_int_t)u);
			else if (u == lim)
				v = json_integer((json_int_t)LLONG_MIN);
			else
				v = json_integer(-(json_int_t)u);
			if (v == NULL)
				return -ERR_NOMEM;
			*out = v;
			return 0;
		}
	}
	/* jansson reads reals the locale-independent way. */
	v = json_loadb((const char *)s + start, c->p - start,
	               JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
	if (v == NULL)
		return diag_set(c->d, ERR_INVALID, 0, 0,
		                "%s: number %.*s is out of range", c->what,
		                (int)(c->p - start > 40 ? 40 : c->p - start),
		                (const char *)s + start);
	*out = v;
	return 0;
}

static int jdoc_conv_value(struct jdoc_conv *c, json_t **out, unsigned budget);

static int jdoc_conv_object(struct jdoc_conv *c, json_t **out, unsigned budget)
{
	json_t *obj, *v = NULL;
	char *key = NULL, q[96];
	int r;

	if ((obj = json_object()) == NULL)
		return -ERR_NOMEM;
	c->p++;
	for (;;) {
		if ((r = jdoc_conv_next(c, '}')) < 0)
			goto out;
		if (r == 1)
			break;
		if (c->s[c->p] != '"') {
			r = -ERR_INTERNAL;
			goto out;
		}
		if ((r = jdoc_conv_string(c)) != 0)
			goto out;
		if (memchr(c->tmp.data, '\0', c->tmp.len) != NULL) {
			jdoc_quote(c->tmp.data, c->tmp.len, q, sizeof(q));
			r = diag_set(c->d, ERR_INVALID, 0, 0,
			             "%s: member name %s holds a NUL "
			             "character, which is not supported",
			             c->what, q);
			goto out;
		}
		if ((key = buf_steal(&c->tmp, NULL)) == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		jdoc_conv_skip(c);
		if (c->p >= c->len || c->s[c->p] != ':') {
			r = -ERR_INTERNAL;
			goto out;
		}
		c->p++;
		jdoc_conv_skip(c);
		if ((r = jdoc_conv_value(c, &v, budget)) != 0)
			goto out;
		if (json_object_set_new_nocheck(obj, key, v) != 0) {
			v = NULL;
			r = -ERR_NOMEM;
			goto out;
		}
		v = NULL;
		free(key);
		key = NULL;
		jdoc_conv_after(c);
	}
	*out = obj;
	obj = NULL;
	r = 0;
out:
	free(key);
	json_decref(obj);
	return r;
}

static int jdoc_conv_array(struct jdoc_conv *c, json_t **out, unsigned budget)
{
	json_t *arr, *v = NULL;
	int r;

	if ((arr = json_array()) == NULL)
		return -ERR_NOMEM;
	c->p++;
	for (;;) {
		if ((r = jdoc_conv_next(c, ']')) < 0)
			goto out;
		if (r == 1)
			break;
		if ((r = jdoc_conv_value(c, &v, budget)) != 0)
			goto out;
		if (json_array_append_new(arr, v) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
		jdoc_conv_after(c);
	}
	*out = arr;
	arr = NULL;
	r = 0;
out:
	json_decref(arr);
	return r;
}

static int jdoc_conv_value(struct jdoc_conv *c, json_t **out, unsigned budget)
{
	json_t *v;
	int r;

	if (c->p >= c->len || budget == 0)
		return -ERR_INTERNAL;
	switch (c->s[c->p]) {
	case '{':
		return jdoc_conv_object(c, out, budget - 1);
	case '[':
		return jdoc_conv_array(c, out, budget - 1);
	case '"':
		if ((r = jdoc_conv_string(c)) != 0)
			return r;
		if (memchr(c->tmp.data, '\0', c->tmp.len) != NULL)
			return diag_set(c->d, ERR_INVALID, 0, 0,
			                "%s: a string holds a NUL character, "
			                "which is not supported",
			                c->what);
		v = json_stringn_nocheck(c->tmp.data, c->tmp.len);
		break;
	case 't':
		c->p += 4;
		v = json_true();
		break;
	case 'f':
		c->p += 5;
		v = json_false();
		break;
	case 'n':
		c->p += 4;
		v = json_null();
		break;
	default:
		return jdoc_conv_number(c, out);
	}
	if (v == NULL)
		return -ERR_NOMEM;
	*out = v;
	return 0;
}

/* Converts the value at pos of a validated text into a new jansson value. */
int jdoc_convert(const char *text, size_t len, size_t pos, const char *what,
                 json_t **out, struct diag *d)
{
	struct jdoc_conv c = {
	    (const unsigned char *)text, len, pos, BUF_INIT, d, what};
	json_t *v = NULL;
	int r;

	r = jdoc_conv_value(&c, &v, JDOC_MAX_DEPTH + 1);
	buf_free(&c.tmp);
	if (r == -ERR_INTERNAL)
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "%s: cannot convert the value", what);
	if (r == 0)
		*out = v;
	return r;
}

int jdoc_member_get(const struct jdoc *doc, const char *const *path,
                    size_t depth, const char *name, json_t **out,
                    struct diag *d)
{
	char ps[256], what[320];
	uint32_t oi, mi;
	size_t have;
	int r;

	if ((r = jdoc_lookup(doc, path, depth, &oi, &have, d)) != 0)
		return r;
	if (name == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "no member name");
	jdoc_path_str(path, depth, ps, sizeof(ps));
	/* A message cut short still names the member. */
	(void)snprintf(what, sizeof(what), "%s%s%s", depth > 0 ? ps : "",
	               depth > 0 ? "." : "", name);
	if ((mi = jdoc_find(doc, oi, name, strlen(name))) == JDOC_NONE)
		return diag_set(d, ERR_NOENT, 0, 0, "%s: no such member", what);
	return jdoc_convert(doc->text, doc->len, doc->mem[mi].val, what, out,
	                    d);
}

/*
 * Compares the value at c->p with w as json_equal() would compare it with
 * the value's conversion, without building one: the members of a host
 * file's entry are looked up in the entry mcpfleet wants there. Sets *eq;
 * returns 0 or -ERR_NOMEM / -ERR_INTERNAL.
 */
static int jdoc_cmp_value(struct jdoc_conv *c, const json_t *w, bool *eq,
                          unsigned budget);

static int jdoc_cmp_object(struct jdoc_conv *c, const json_t *w, bool *eq,
                           unsigned budget)
{
	size_t n = 0;
	int r;

	if (!json_is_object(w)) {
		*eq = false;
		return 0;
	}
	c->p++;
	for (;;) {
		const json_t *m;

		if ((r = jdoc_conv_next(c, '}')) != 0) {
			if (r < 0)
				return r;
			break;
		}
		if (c->s[c->p] != '"')
			return -ERR_INTERNAL;
		if ((r = jdoc_conv_string(c)) != 0)
			return r;
		/* A name holding a NUL is no name of a jansson object. */
		m = memchr(c->tmp.data, '\0', c->tmp.len) == NULL
		        ? json_object_get(w, c->tmp.data)
		        : NULL;
		if (m == NULL) {
			*eq = false;
			return 0;
		}
		jdoc_conv_skip(c);
		if (c->p >= c->len || c->s[c->p] != ':')
			return -ERR_INTERNAL;
		c->p++;
		jdoc_conv_skip(c);
		if ((r = jdoc_cmp_value(c, m, eq, budget)) != 0 || !*eq)
			return r;
		n++;
		jdoc_conv_after(c);
	}
	/* Names are distinct in a valid document: as many means the same. */
	*eq = n == json_object_size(w);
	return 0;
}

static int jdoc_cmp_array(struct jdoc_conv *c, const json_t *w, bool *eq,
                          unsigned budget)
{
	size_t n = 0;
	int r;

	if (!json_is_array(w)) {
		*eq = false;
		return 0;
	}
	c->p++;
	for (;;) {
		if ((r = jdoc_conv_next(c, ']')) != 0) {
			if (r < 0)
				return r;
			break;
		}
		if (n >= json_array_size(w)) {
			*eq = false;
			return 0;
		}
		if ((r = jdoc_cmp_value(c, json_array_get(w, n), eq, budget)) !=
		        0 ||
		    !*eq)
			return r;
		n++;
		jdoc_conv_after(c);
	}
	*eq = n == json_array_size(w);
	return 0;
}

static int jdoc_cmp_value(struct jdoc_conv *c, const json_t *w, bool *eq,
                          unsigned budget)
{
	json_t *v = NULL;
	int r;

	if (c->p >= c->len || budget == 0)
		return -ERR_INTERNAL;
	switch (c->s[c->p]) {
	case '{':
		return jdoc_cmp_object(c, w, eq, budget - 1);
	case '[':
		return jdoc_cmp_array(c, w, eq, budget - 1);
	case '"':
		if ((r = jdoc_conv_string(c)) != 0)
			return r;
		*eq =
		    json_is_string(w) && json_string_length(w) == c->tmp.len &&
		    memcmp(json_string_value(w), c->tmp.data, c->tmp.len) == 0;
		return 0;
	case 't':
		c->p += 4;
		*eq = json_is_true(w);
		return 0;
	case 'f':
		c->p += 5;
		*eq = json_is_false(w);
		return 0;
	case 'n':
		c->p += 4;
		*eq = json_is_null(w);
		return 0;
	default:
		/* Numbers are rare in an entry: converted, as jansson compares
		 * integers and reals by type. */
		if ((r = jdoc_conv_number(c, &v)) != 0) {
			*eq = false;
			return r == -ERR_INVALID ? 0 : r;
		}
		*eq = json_equal(v, w);
		json_decref(v);
		return 0;
	}
}

int jdoc_member_equal(const struct jdoc *doc, const char *const *path,
                      size_t depth, const char *name, const json_t *want,
                      bool *equal, struct diag *d)
{
	struct jdoc_conv c = {
	    (const unsigned char *)doc->text, doc->len, 0, BUF_INIT, d, name};
	uint32_t oi, mi;
	size_t have;
	int r;

	*equal = false;
	if ((r = jdoc_lookup(doc, path, depth, &oi, &have, d)) != 0)
		return r;
	if (name == NULL || want == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "no member name");
	if ((mi = jdoc_find(doc, oi, name, strlen(name))) == JDOC_NONE)
		return diag_set(d, ERR_NOENT, 0, 0, "%s: no such member", name);
	c.p = doc->mem[mi].val;
	r = jdoc_cmp_value(&c, want, equal, JDOC_MAX_DEPTH + 1);
	buf_free(&c.tmp);
	if (r == -ERR_INTERNAL)
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "%s: cannot compare the value", name);
	return r;
}
