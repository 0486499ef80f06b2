/* SPDX-License-Identifier: MIT */
/* Small jansson helpers shared by the programs. */
#include "jsonutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

const char *jsonutil_printable(const char *s)
{
	static _Thread_local char out[96];
	const char *p;
	size_t i = 0;
	bool plain = strlen(s) < 64;

	for (p = s; plain && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			plain = false;
	if (plain)
		return s;
	for (p = s; *p != '\0' && i + 8 < sizeof(out); p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			out[i++] = '?';
		else
			out[i++] = (char)c;
	}
	if (*p != '\0') {
		out[i++] = '.';
		out[i++] = '.';
		out[i++] = '.';
	}
	out[i] = '\0';
	return out;
}

/* Nesting past this is taken for a loop (jansson refuses those too). */
#define JSONUTIL_MAX_NEST 2048

/* Length of the valid UTF-8 sequence at q (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t jsonutil_utf8_len(const unsigned char *q, size_t avail)
{
	unsigned c = q[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0)
		return avail >= 2 && (q[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (avail < 3 || (q[1] & 0xc0) != 0x80 ||
		    (q[2] & 0xc0) != 0x80 || (c == 0xe0 && q[1] < 0xa0) ||
		    (c == 0xed && q[1] > 0x9f))
			return 0;
		return 3;
	}
	if (avail < 4 || (q[1] & 0xc0) != 0x80 || (q[2] & 0xc0) != 0x80 ||
	    (q[3] & 0xc0) != 0x80 || (c == 0xf0 && q[1] < 0x90) ||
	    (c == 0xf4 && q[1] > 0x8f))
		return 0;
	return 4;
}

/* A string as jansson writes it: '"', '\\' and control characters escaped
 * (\u with upper-case hex), the rest as it is; invalid UTF-8 fails. */
static int jsonutil_put_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *q = (const unsigned char *)s;
	size_t i = 0, run, k;
	char esc[6];
	int r = buf_putc(b, '"');

	while (r == 0 && i < len) {
		for (run = i; run < len && q[run] >= 0x20 && q[run] < 0x80 &&
		              q[run] != '"' && q[run] != '\\';
		     run++)
			;
		if (run > i && (r = buf_append(b, s + i, run - i)) != 0)
			return r;
		i = run;
		if (i >= len)
			break;
		if (q[i] >= 0x80) {
			if ((k = jsonutil_utf8_len(q + i, len - i)) == 0)
				return -ERR_INVALID;
			r = buf_append(b, s + i, k);
			i += k;
			continue;
		}
		esc[0] = '\\';
		switch (q[i]) {
		case '"':
		case '\\':
			esc[1] = (char)q[i];
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
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[q[i] >> 4];
			esc[5] = hex[q[i] & 15];
			r = buf_append(b, esc, 6);
			i++;
			continue;
		}
		r = buf_append(b, esc, 2);
		i++;
	}
	return r != 0 ? r : buf_putc(b, '"');
}

/* A newline and the indentation of depth. */
static int jsonutil_put_indent(struct buf *b, unsigned depth)
{
	int r = buf_reserve(b, 1 + 2 * (size_t)depth);

	if (r != 0)
		return r;
	b->data[b->len++] = '\n';
	memset(b->data + b->len, ' ', 2 * (size_t)depth);
	b->len += 2 * (size_t)depth;
	b->data[b->len] = '\0';
	return 0;
}

/* v as json_dumps() writes it with JSON_INDENT(2) and JSON_ENCODE_ANY,
 * byte for byte (reals are left to jansson itself). */
static int jsonutil_put(struct buf *b, const json_t *v, unsigned depth)
{
	char *real;
	size_t i, n;
	void *it;
	int r;

	if (v == NULL || depth > JSONUTIL_MAX_NEST)
		return -ERR_INVALID;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_append(b, "null", 4);
	case JSON_TRUE:
		return buf_append(b, "true", 4);
	case JSON_FALSE:
		return buf_append(b, "false", 5);
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT,
		                  json_integer_value(v));
	case JSON_REAL:
		if ((real = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
			return -ERR_NOMEM;
		r = buf_puts(b, real);
		free(real);
		return r;
	case JSON_STRING:
		return jsonutil_put_string(b, json_string_value(v),
		                           json_string_length(v));
	case JSON_ARRAY:
		n = json_array_size(v);
		if ((r = buf_putc(b, '[')) != 0 || n == 0)
			return r != 0 ? r : buf_putc(b, ']');
		for (i = 0; i < n; i++) {
			if ((i > 0 && (r = buf_putc(b, ',')) != 0) ||
			    (r = jsonutil_put_indent(b, depth + 1)) != 0 ||
			    (r = jsonutil_put(b, json_array_get(v, i),
			                      depth + 1)) != 0)
				return r;
		}
		if ((r = jsonutil_put_indent(b, depth)) != 0)
			return r;
		return buf_putc(b, ']');
	case JSON_OBJECT:
		/* jansson's iterators take a non-const object, and change
		 * nothing. */
		it = json_object_iter((json_t *)(uintptr_t)v);
		if ((r = buf_putc(b, '{')) != 0 || it == NULL)
			return r != 0 ? r : buf_putc(b, '}');
		for (i = 0; it != NULL; i++) {
			if ((i > 0 && (r = buf_putc(b, ',')) != 0) ||
			    (r = jsonutil_put_indent(b, depth + 1)) != 0 ||
			    (r = jsonutil_put_string(
			         b, json_object_iter_key(it),
			         json_object_iter_key_len(it))) != 0 ||
			    (r = buf_append(b, ": ", 2)) != 0 ||
			    (r = jsonutil_put(b, json_object_iter_value(it),
			                      depth + 1)) != 0)
				return r;
			it = json_object_iter_next((json_t *)(uintptr_t)v, it);
		}
		if ((r = jsonutil_put_indent(b, depth)) != 0)
			return r;
		return buf_putc(b, '}');
	}
	return -ERR_INVALID;
}

char *jsonutil_dump_pretty(const json_t *v, size_t *len)
{
	struct buf b = BUF_INIT;

	/* What json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) writes,
	 * without its per-byte callbacks (this writes every host file that
	 * a sync creates, and state.json). */
	if (jsonutil_put(&b, v, 0) != 0 || buf_putc(&b, '\n') != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, len);
}

static bool jsonutil_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Skips a run of digits; false when there is none. */
static bool jsonutil_digits(const unsigned char *t, size_t n, size_t *pp)
{
	size_t p = *pp;

	while (p < n && jsonutil_digit(t[p]))
		p++;
	if (p == *pp)
		return false;
	*pp = p;
	return true;
}

bool jsonutil_scan_number(const unsigned char *t, size_t n, size_t *pp)
{
	size_t p = *pp;
	bool ok = true;

	if (p < n && t[p] == '-')
		p++;
	if (p < n && t[p] == '0')
		p++; /* no leading zeros: "01" ends after the 0 */
	else
		ok = jsonutil_digits(t, n, &p);
	if (ok && p < n && t[p] == '.') {
		p++;
		ok = jsonutil_digits(t, n, &p);
	}
	if (ok && p < n && (t[p] == 'e' || t[p] == 'E')) {
		p++;
		if (p < n && (t[p] == '+' || t[p] == '-'))
			p++;
		ok = jsonutil_digits(t, n, &p);
	}
	*pp = p;
	return ok;
}

size_t jsonutil_depth(const char *t, size_t n)
{
	size_t i, depth = 0, max = 0;
	bool in_string = false;

	for (i = 0; i < n; i++) {
		if (in_string) {
			if (t[i] == '\\')
				i++;
			else if (t[i] == '"')
				in_string = false;
		} else if (t[i] == '"') {
			in_string = true;
		} else if (t[i] == '{' || t[i] == '[') {
			if (++depth > max)
				max = depth;
		} else if ((t[i] == '}' || t[i] == ']') && depth > 0) {
			depth--;
		}
	}
	return max;
}
