/* SPDX-License-Identifier: MIT */
/* TOML 1.0.0 parser with section spans, and a small TOML value writer. */
#include "toml.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables with more members than this get a hash index. */
#define TOML_INDEX_MIN 8

struct toml_member {
	char *key; /* NUL-terminated, may also hold NULs: klen tells */
	size_t klen;
	struct toml_value *val;
};

struct toml_table {
	struct toml_member *m;
	size_t n;
	size_t cap;
	size_t *idx; /* open addressing, member index + 1, 0 when free */
	size_t idxcap;
	enum toml_origin origin;
};

struct toml_array {
	struct toml_value **v;
	size_t n;
	size_t cap;
	bool aot; /* created by [[...]]: may be appended to by headers */
};

struct toml_value {
	enum toml_type type;
	unsigned depth; /* nesting level, 0 for the root table */
	union {
		struct {
			char *s;
			size_t len;
		} str; /* strings and date/times */
		int64_t i;
		double f;
		bool b;
		struct toml_array arr;
		struct toml_table tab;
	} u;
};

struct toml_doc {
	struct toml_value *root;
	struct toml_section *sec;
	size_t nsec;
	size_t capsec;
};

/* One part of a dotted key, in the parser's key buffer. */
struct toml_keypart {
	size_t off; /* in keybuf */
	size_t len;
	size_t pos; /* in the text, for messages */
};

struct toml_parser {
	const char *s;
	size_t len;
	size_t pos;
	size_t bom;
	struct diag *d;
	struct toml_doc *doc;
	struct toml_value *cur; /* table that key/values go to */
	struct buf keybuf;
	struct toml_keypart *keys;
	size_t nkeys;
	size_t capkeys;
	size_t line_off; /* cache for toml_line_at: offset of line line_no */
	unsigned line_no;
};

static int toml_err(struct toml_parser *p, int code, size_t off,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ */
/* Values */

static struct toml_value *toml_value_new(enum toml_type type, unsigned depth)
{
	struct toml_value *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->type = type;
	v->depth = depth;
	return v;
}

/* Recursion is bounded: the parser never builds values deeper than
 * TOML_MAX_DEPTH + 1. */
static void toml_value_free(struct toml_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	switch (v->type) {
	case TOML_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			toml_value_free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	case TOML_TABLE:
		for (i = 0; i < v->u.tab.n; i++) {
			free(v->u.tab.m[i].key);
			toml_value_free(v->u.tab.m[i].val);
		}
		free(v->u.tab.m);
		free(v->u.tab.idx);
		break;
	case TOML_STRING:
	case TOML_DATETIME:
	case TOML_LOCAL_DATETIME:
	case TOML_LOCAL_DATE:
	case TOML_LOCAL_TIME:
		free(v->u.str.s);
		break;
	default:
		break;
	}
	free(v);
}

static size_t toml_hash(const char *k, size_t klen)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct toml_member *toml_tab_find(const struct toml_value *t,
                                         const char *k, size_t klen)
{
	const struct toml_table *tab = &t->u.tab;
	struct toml_member *m;
	size_t i, mask;

	if (tab->idx == NULL) {
		for (i = 0; i < tab->n; i++) {
			m = &tab->m[i];
			if (m->klen == klen && memcmp(m->key, k, klen) == 0)
				return m;
		}
		return NULL;
	}
	mask = tab->idxcap - 1;
	for (i = toml_hash(k, klen) & mask; tab->idx[i] != 0;
	     i = (i + 1) & mask) {
		m = &tab->m[tab->idx[i] - 1];
		if (m->klen == klen && memcmp(m->key, k, klen) == 0)
			return m;
	}
	return NULL;
}

static void toml_tab_index_put(struct toml_table *tab, size_t member)
{
	size_t i, mask = tab->idxcap - 1;
	const struct toml_member *m = &tab->m[member];

	for (i = toml_hash(m->key, m->klen) & mask; tab->idx[i] != 0;
	     i = (i + 1) & mask)
		;
	tab->idx[i] = member + 1;
}

/* Keeps the index at most half full, rebuilding it when it grows. */
static int toml_tab_index(struct toml_table *tab)
{
	size_t ncap, i;
	size_t *nidx;

	if (tab->n <= TOML_INDEX_MIN)
		return 0;
	if (tab->idx != NULL && tab->n * 2 <= tab->idxcap) {
		toml_tab_index_put(tab, tab->n - 1);
		return 0;
	}
	ncap = 32;
	while (ncap < tab->n * 4) {
		if (ncap > SIZE_MAX / 4)
			return -ERR_NOMEM;
		ncap *= 2;
	}
	if ((nidx = calloc(ncap, sizeof(*nidx))) == NULL)
		return -ERR_NOMEM;
	free(tab->idx);
	tab->idx = nidx;
	tab->idxcap = ncap;
	for (i = 0; i < tab->n; i++)
		toml_tab_index_put(tab, i);
	return 0;
}

/*
 * Adds a member that is known to be absent. On success the table owns key
 * and val; on failure the caller still does.
 */
static int toml_tab_add(struct toml_value *t, char *key, size_t klen,
                        struct toml_value *val)
{
	struct toml_table *tab = &t->u.tab;
	struct toml_member *nm;
	size_t ncap;

	if (tab->n == tab->cap) {
		ncap = tab->cap ? tab->cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*nm))
			return -ERR_NOMEM;
		if ((nm = realloc(tab->m, ncap * sizeof(*nm))) == NULL)
			return -ERR_NOMEM;
		tab->m = nm;
		tab->cap = ncap;
	}
	tab->m[tab->n].key = key;
	tab->m[tab->n].klen = klen;
	tab->m[tab->n].val = val;
	tab->n++;
	if (toml_tab_index(tab) != 0) {
		/* Without the index the member would be unreachable: undo. */
		tab->n--;
		return -ERR_NOMEM;
	}
	return 0;
}

/* Appends val to an array; on success the array owns it. */
static int toml_arr_add(struct toml_value *a, struct toml_value *val)
{
	struct toml_array *arr = &a->u.arr;
	struct toml_value **nv;
	size_t ncap;

	if (arr->n == arr->cap) {
		ncap = arr->cap ? arr->cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*nv))
			return -ERR_NOMEM;
		if ((nv = realloc(arr->v, ncap * sizeof(*nv))) == NULL)
			return -ERR_NOMEM;
		arr->v = nv;
		arr->cap = ncap;
	}
	arr->v[arr->n++] = val;
	return 0;
}

static char *toml_memdup(const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static const char *toml_type_name(enum toml_type type)
{
	switch (type) {
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_FLOAT:
		return "a float";
	case TOML_BOOL:
		return "a boolean";
	case TOML_DATETIME:
		return "an offset date-time";
	case TOML_LOCAL_DATETIME:
		return "a local date-time";
	case TOML_LOCAL_DATE:
		return "a local date";
	case TOML_LOCAL_TIME:
		return "a local time";
	case TOML_ARRAY:
		return "an array";
	case TOML_TABLE:
		return "a table";
	}
	return "a value";
}

/* ------------------------------------------------------------------ */
/* UTF-8 */

/*
 * Returns the length of the valid UTF-8 sequence at s[i] (1 to 4), or 0
 * when it is not one (overlong forms, surrogates and code points past
 * U+10FFFF included).
 */
static size_t toml_utf8_seq(const unsigned char *s, size_t len, size_t i,
                            uint32_t *cp)
{
	uint32_t c = s[i], min;
	size_t n, k;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len - i < n)
		return 0;
	for (k = 1; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i + k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static void toml_utf8_put(char *out, size_t *n, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		*n = 1;
	} else if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		*n = 2;
	} else if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		*n = 3;
	} else {
		out[0] = (char)(0xf0 | (c >> 18));
		out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[3] = (char)(0x80 | (c & 0x3f));
		*n = 4;
	}
}

/* ------------------------------------------------------------------ */
/* Positions and messages */

static void toml_linecol(const struct toml_parser *p, size_t off,
                         unsigned *line, unsigned *col)
{
	size_t i, ls = 0;
	unsigned l = 1, c = 1;

	if (off > p->len)
		off = p->len;
	for (i = 0; i < off; i++) {
		if (p->s[i] == '\n') {
			l++;
			ls = i + 1;
		}
	}
	/* Columns count characters, not bytes; the BOM is not one. */
	for (i = ls < p->bom ? p->bom : ls; i < off; i++)
		if (((unsigned char)p->s[i] & 0xc0) != 0x80)
			c++;
	*line = l;
	*col = c;
}

/* The 1-based line of off; calls must come with growing offsets to be
 * linear, which sections do. */
static unsigned toml_line_at(struct toml_parser *p, size_t off)
{
	const char *nl;

	if (off < p->line_off) {
		p->line_off = 0;
		p->line_no = 1;
	}
	while (p->line_off < off && (nl = memchr(p->s + p->line_off, '\n',
	                                         off - p->line_off)) != NULL) {
		p->line_off = (size_t)(nl - p->s) + 1;
		p->line_no++;
	}
	return p->line_no;
}

static int toml_err(struct toml_parser *p, int code, size_t off,
                    const char *fmt, ...)
{
	char msg[sizeof(((struct diag *)NULL)->msg)];
	unsigned line, col;
	va_list ap;

	toml_linecol(p, off, &line, &col);
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return diag_set(p->d, code, line, col, "%s", msg);
}

static int toml_nomem(struct toml_parser *p)
{
	return toml_err(p, ERR_NOMEM, p->pos, "out of memory");
}

/* Describes the character at off for a message: 'x', newline, U+0301... */
static void toml_describe(const struct toml_parser *p, size_t off, char *out,
                          size_t outsz)
{
	unsigned char c;
	uint32_t cp;
	size_t n;

	if (off >= p->len) {
		(void)snprintf(out, outsz, "end of input");
		return;
	}
	c = (unsigned char)p->s[off];
	if (c == '\n' || c == '\r')
		(void)snprintf(out, outsz, "newline");
	else if (c == ' ')
		(void)snprintf(out, outsz, "space");
	else if (c == '\t')
		(void)snprintf(out, outsz, "tab");
	else if (c > 0x20 && c < 0x7f)
		(void)snprintf(out, outsz, "'%c'", c);
	else if ((n = toml_utf8_seq((const unsigned char *)p->s, p->len, off,
	                            &cp)) > 1)
		(void)snprintf(out, outsz, "'%.*s' (U+%04X)", (int)n,
		               p->s + off, (unsigned)cp);
	else
		(void)snprintf(out, outsz, "byte 0x%02x", c);
}

static int toml_unexpected(struct toml_parser *p, size_t off, const char *what)
{
	char found[48];

	toml_describe(p, off, found, sizeof(found));
	return toml_err(p, ERR_PARSE, off, "expected %s, found %s", what,
	                found);
}

/*
 * Writes keys[0..n) of the parser's current key path as TOML into out,
 * dotted, for messages. Falls back to "?" when memory is short.
 */
static int toml_write_keyn(struct buf *b, const char *key, size_t len);

static const char *toml_keystr(struct toml_parser *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((i > 0 && buf_putc(out, '.') != 0) ||
		    toml_write_keyn(out, p->keybuf.data + p->keys[i].off,
		                    p->keys[i].len) != 0)
			return "?";
	}
	return out->data != NULL ? out->data : "";
}

/* ------------------------------------------------------------------ */
/* Lexical helpers */

static int toml_peek(const struct toml_parser *p, size_t k)
{
	if (p->pos + k >= p->len || p->pos + k < p->pos)
		return -1;
	return (unsigned char)p->s[p->pos + k];
}

static bool toml_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static bool toml_isbare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       toml_isdigit(c) || c == '_' || c == '-';
}

static void toml_skip_ws(struct toml_parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
}

static bool toml_at_newline(const struct toml_parser *p)
{
	/* toml_check_text made sure every CR is followed by LF. */
	return p->pos < p->len &&
	       (p->s[p->pos] == '\n' || p->s[p->pos] == '\r');
}

static void toml_skip_newline(struct toml_parser *p)
{
	p->pos += p->s[p->pos] == '\r' ? 2 : 1;
}

/* Skips a comment to the end of its line, the newline excluded. */
static void toml_skip_comment(struct toml_parser *p)
{
	const char *nl;

	nl = memchr(p->s + p->pos, '\n', p->len - p->pos);
	p->pos = nl != NULL ? (size_t)(nl - p->s) : p->len;
	if (p->pos > 0 && p->pos < p->len && p->s[p->pos - 1] == '\r')
		p->pos--;
}

/* Skips whitespace, comments and newlines (inside arrays). */
static void toml_skip_wscnl(struct toml_parser *p)
{
	for (;;) {
		toml_skip_ws(p);
		if (p->pos >= p->len)
			return;
		if (p->s[p->pos] == '#')
			toml_skip_comment(p);
		else if (toml_at_newline(p))
			toml_skip_newline(p);
		else
			return;
	}
}

/* After a key/value or a header: whitespace, a comment, a newline or EOF. */
static int toml_end_line(struct toml_parser *p, const char *after)
{
	char found[48];

	toml_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '#')
		toml_skip_comment(p);
	if (p->pos >= p->len)
		return 0;
	if (toml_at_newline(p)) {
		toml_skip_newline(p);
		return 0;
	}
	toml_describe(p, p->pos, found, sizeof(found));
	return toml_err(p, ERR_PARSE, p->pos,
	                "expected a newline after %s, found %s", after, found);
}

/*
 * Checks the whole text once: valid UTF-8, no control character but tab,
 * LF and the CR of a CRLF. None of these is valid anywhere in TOML, inside
 * strings and comments included, so the parser need not check them again.
 */
static int toml_check_text(struct toml_parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t i = p->bom, n;
	uint32_t cp;

	while (i < p->len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		if (s[i] == '\t' || s[i] == '\n') {
			i++;
			continue;
		}
		if (s[i] == '\r') {
			if (i + 1 < p->len && s[i + 1] == '\n') {
				i += 2;
				continue;
			}
			return toml_err(p, ERR_PARSE, i,
			                "carriage return not followed by a "
			                "line feed");
		}
		if (s[i] < 0x80)
			return toml_err(p, ERR_PARSE, i,
			                "control character U+%04X must be "
			                "escaped",
			                s[i]);
		if ((n = toml_utf8_seq(s, p->len, i, &cp)) == 0)
			return toml_err(p, ERR_PARSE, i,
			                "invalid UTF-8 (byte 0x%02x)", s[i]);
		i += n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strings */

static int toml_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* At a backslash in a basic string: appends what the escape means. */
static int toml_escape(struct toml_parser *p, struct buf *out, bool ml)
{
	size_t at = p->pos, ndig, i, n;
	int c = toml_peek(p, 1), h;
	uint32_t cp = 0;
	char found[48], u8[4];
	char ch;

	switch (c) {
	case 'b':
		ch = '\b';
		break;
	case 't':
		ch = '\t';
		break;
	case 'n':
		ch = '\n';
		break;
	case 'f':
		ch = '\f';
		break;
	case 'r':
		ch = '\r';
		break;
	case '"':
		ch = '"';
		break;
	case '\\':
		ch = '\\';
		break;
	case 'u':
	case 'U':
		ndig = c == 'u' ? 4 : 8;
		for (i = 0; i < ndig; i++) {
			if ((h = toml_hexval(toml_peek(p, 2 + i))) < 0)
				return toml_err(p, ERR_PARSE, at,
				                "invalid escape '\\%c': "
				                "expected %zu hex digits",
				                c, ndig);
			cp = (cp << 4) | (uint32_t)h;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return toml_err(p, ERR_PARSE, at,
			                "invalid escape '\\%c%.*s': not a "
			                "Unicode scalar value",
			                c, (int)ndig, p->s + at + 2);
		toml_utf8_put(u8, &n, cp);
		p->pos += 2 + ndig;
		return buf_append(out, u8, n) != 0 ? toml_nomem(p) : 0;
	default:
		if (ml && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
			/* A line-ending backslash: only whitespace may
			 * follow it on its line. */
			p->pos++;
			toml_skip_ws(p);
			if (!toml_at_newline(p))
				return toml_err(p, ERR_PARSE, at,
				                "invalid escape '\\ ': only "
				                "whitespace may follow a "
				                "line-ending backslash");
			while (p->pos < p->len &&
			       (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
			        toml_at_newline(p))) {
				if (toml_at_newline(p))
					toml_skip_newline(p);
				else
					p->pos++;
			}
			return 0;
		}
		if (c > 0x20 && c < 0x7f)
			return toml_err(p, ERR_PARSE, at,
			                "invalid escape '\\%c'", c);
		toml_describe(p, at + 1, found, sizeof(found));
		return toml_err(p, ERR_PARSE, at,
		                "invalid escape: backslash followed by %s",
		                found);
	}
	p->pos += 2;
	return buf_putc(out, ch) != 0 ? toml_nomem(p) : 0;
}

/* Appends the plain bytes s[from..p->pos) to out. */
static int toml_flush(struct toml_parser *p, struct buf *out, size_t from)
{
	if (p->pos > from && buf_append(out, p->s + from, p->pos - from) != 0)
		return toml_nomem(p);
	return 0;
}

/* A basic string on one line, at its opening quote. */
static int toml_basic_string(struct toml_parser *p, struct buf *out)
{
	size_t at = p->pos, from;
	int r;
	char c;

	p->pos++;
	from = p->pos;
	for (;;) {
		if (p->pos >= p->len || toml_at_newline(p))
			return toml_err(p, ERR_PARSE, at,
			                "unterminated string");
		c = p->s[p->pos];
		if (c == '"') {
			if ((r = toml_flush(p, out, from)) != 0)
				return r;
			p->pos++;
			return 0;
		}
		if (c == '\\') {
			if ((r = toml_flush(p, out, from)) != 0 ||
			    (r = toml_escape(p, out, false)) != 0)
				return r;
			from = p->pos;
			continue;
		}
		p->pos++;
	}
}

/* A literal string on one line, at its opening quote. */
static int toml_literal_string(struct toml_parser *p, struct buf *out)
{
	size_t at = p->pos, from;
	int r;

	p->pos++;
	from = p->pos;
	for (;;) {
		if (p->pos >= p->len || toml_at_newline(p))
			return toml_err(p, ERR_PARSE, at,
			                "unterminated string");
		if (p->s[p->pos] == '\'') {
			if ((r = toml_flush(p, out, from)) != 0)
				return r;
			p->pos++;
			return 0;
		}
		p->pos++;
	}
}

/*
 * A multi-line string, basic or literal (q is its quote), at its opening
 * delimiter. A newline right after the delimiter is trimmed; CRLF becomes
 * LF; up to two quotes may precede the closing delimiter.
 */
static int toml_ml_string(struct toml_parser *p, struct buf *out, char q)
{
	size_t at = p->pos, from, run;
	int r;
	char c;

	p->pos += 3;
	if (toml_at_newline(p))
		toml_skip_newline(p);
	from = p->pos;
	for (;;) {
		if (p->pos >= p->len)
			return toml_err(p, ERR_PARSE, at,
			                "unterminated multi-line string");
		c = p->s[p->pos];
		if (c == q) {
			for (run = 0;
			     p->pos + run < p->len && p->s[p->pos + run] == q;
			     run++)
				;
			if (run < 3) {
				p->pos += run;
				continue;
			}
			if (run > 5)
				return toml_err(p, ERR_PARSE, p->pos + 3,
				                "too many quotes in a "
				                "multi-line string");
			p->pos += run - 3;
			if ((r = toml_flush(p, out, from)) != 0)
				return r;
			p->pos += 3;
			return 0;
		}
		if (c == '\r') {
			if ((r = toml_flush(p, out, from)) != 0)
				return r;
			p->pos++;
			from = p->pos; /* the LF that follows */
			p->pos++;
			continue;
		}
		if (c == '\\' && q == '"') {
			if ((r = toml_flush(p, out, from)) != 0 ||
			    (r = toml_escape(p, out, true)) != 0)
				return r;
			from = p->pos;
			continue;
		}
		p->pos++;
	}
}

/* ------------------------------------------------------------------ */
/* Keys */

/* Parses a dotted key into p->keys / p->keybuf. */
static int toml_parse_key(struct toml_parser *p)
{
	struct toml_keypart *nk;
	size_t at, off, ncap;
	int c, r;

	p->nkeys = 0;
	buf_reset(&p->keybuf);
	for (;;) {
		at = p->pos;
		off = p->keybuf.len;
		c = toml_peek(p, 0);
		if (c == '"') {
			if (toml_peek(p, 1) == '"' && toml_peek(p, 2) == '"')
				return toml_err(p, ERR_PARSE, at,
				                "a key cannot be a multi-line "
				                "string");
			if ((r = toml_basic_string(p, &p->keybuf)) != 0)
				return r;
		} else if (c == '\'') {
			if (toml_peek(p, 1) == '\'' && toml_peek(p, 2) == '\'')
				return toml_err(p, ERR_PARSE, at,
				                "a key cannot be a multi-line "
				                "string");
			if ((r = toml_literal_string(p, &p->keybuf)) != 0)
				return r;
		} else if (toml_isbare(c)) {
			while (toml_isbare(toml_peek(p, 0)))
				p->pos++;
			if (buf_append(&p->keybuf, p->s + at, p->pos - at) != 0)
				return toml_nomem(p);
		} else
			return toml_unexpected(p, at, "a key");
		/* Keys are NUL-separated so that each is a C string too. */
		if (buf_putc(&p->keybuf, '\0') != 0)
			return toml_nomem(p);
		if (p->nkeys == p->capkeys) {
			ncap = p->capkeys ? p->capkeys * 2 : 8;
			if (ncap > SIZE_MAX / sizeof(*nk) ||
			    (nk = realloc(p->keys, ncap * sizeof(*nk))) == NULL)
				return toml_nomem(p);
			p->keys = nk;
			p->capkeys = ncap;
		}
		p->keys[p->nkeys].off = off;
		p->keys[p->nkeys].len = p->keybuf.len - off - 1;
		p->keys[p->nkeys].pos = at;
		p->nkeys++;
		toml_skip_ws(p);
		if (toml_peek(p, 0) != '.')
			return 0;
		p->pos++;
		toml_skip_ws(p);
	}
}

static const char *toml_key(const struct toml_parser *p, size_t i)
{
	return p->keybuf.data + p->keys[i].off;
}

/* ------------------------------------------------------------------ */
/* Scalars */

/*
 * Scans digits of base with underscores, each between two digits, from
 * t[*i]. Returns the number of digits, or -1 for a misplaced underscore.
 */
static int toml_scan_digits(const char *t, size_t n, size_t *i, int base)
{
	int count = 0, h;

	while (*i < n) {
		h = toml_hexval((unsigned char)t[*i]);
		if (h >= 0 && h < base) {
			if (count < 1000000)
				count++;
			(*i)++;
			continue;
		}
		if (t[*i] != '_')
			break;
		if (count == 0 || *i + 1 >= n)
			return -1;
		h = toml_hexval((unsigned char)t[*i + 1]);
		if (h < 0 || h >= base)
			return -1;
		(*i)++;
	}
	return count;
}

/* Converts digits of base (underscores skipped) to a magnitude <= lim. */
static bool toml_accumulate(const char *t, size_t n, int base, uint64_t lim,
                            uint64_t *out)
{
	uint64_t acc = 0, dv;
	size_t i;

	for (i = 0; i < n; i++) {
		if (t[i] == '_')
			continue;
		dv = (uint64_t)toml_hexval((unsigned char)t[i]);
		if (acc > (lim - dv) / (uint64_t)base)
			return false;
		acc = acc * (uint64_t)base + dv;
	}
	*out = acc;
	return true;
}

/* strtod() of a TOML float, whatever the locale's decimal point. */
static int toml_strtod(struct toml_parser *p, const char *t, size_t n,
                       double *out)
{
	const char *dp = localeconv()->decimal_point;
	struct buf b = BUF_INIT;
	char *end;
	size_t i;
	int r = 0;

	if (dp == NULL || *dp == '\0')
		dp = ".";
	for (i = 0; i < n && r == 0; i++) {
		if (t[i] == '_')
			continue;
		r = t[i] == '.' ? buf_puts(&b, dp) : buf_putc(&b, t[i]);
	}
	if (r != 0 || b.data == NULL) {
		r = toml_nomem(p);
		goto out;
	}
	*out = strtod(b.data, &end);
	if (*end != '\0')
		r = toml_err(p, ERR_INTERNAL, p->pos, "cannot convert float");
out:
	buf_free(&b);
	return r;
}

/* An integer, a float, inf or nan in t[0..n), which is at offset at. */
static int toml_parse_number(struct toml_parser *p, const char *t, size_t n,
                             size_t at, struct toml_value *v)
{
	size_t i = 0, start;
	bool neg = false, sign = false, isfloat = false;
	int base = 0, nd;
	uint64_t mag;
	double f = 0;
	int r;

	if (t[0] == '+' || t[0] == '-') {
		sign = true;
		neg = t[0] == '-';
		i = 1;
	}
	if (n - i == 3 &&
	    (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
		v->type = TOML_FLOAT;
		v->u.f = t[i] == 'i' ? INFINITY : NAN;
		if (neg)
			v->u.f = -v->u.f;
		return 0;
	}
	if (!sign && n > 2 && t[0] == '0') {
		if (t[1] == 'x')
			base = 16;
		else if (t[1] == 'o')
			base = 8;
		else if (t[1] == 'b')
			base = 2;
	}
	if (base != 0) {
		i = 2;
		nd = toml_scan_digits(t, n, &i, base);
		if (nd <= 0 || i != n)
			goto invalid;
		if (!toml_accumulate(t + 2, n - 2, base, INT64_MAX, &mag))
			goto range;
		v->type = TOML_INTEGER;
		v->u.i = (int64_t)mag;
		return 0;
	}
	start = i;
	nd = toml_scan_digits(t, n, &i, 10);
	if (nd <= 0)
		goto invalid;
	if (t[start] == '0' && i - start > 1)
		return toml_err(p, ERR_PARSE, at,
		                "leading zeros are not allowed in '%.*s'",
		                (int)(n > 64 ? 64 : n), t);
	if (i < n && t[i] == '.') {
		i++;
		isfloat = true;
		if (toml_scan_digits(t, n, &i, 10) <= 0)
			goto invalid;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		isfloat = true;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		if (toml_scan_digits(t, n, &i, 10) <= 0)
			goto invalid;
	}
	if (i != n)
		goto invalid;
	if (isfloat) {
		if ((r = toml_strtod(p, t, n, &f)) != 0)
			return r;
		/* Past DBL_MAX, IEEE 754 rounding gives an infinity, as
		 * strtod() does: the text is valid TOML all the same. */
		v->type = TOML_FLOAT;
		v->u.f = f;
		return 0;
	}
	if (!toml_accumulate(t + start, n - start, 10,
	                     neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &mag))
		goto range;
	v->type = TOML_INTEGER;
	if (neg)
		v->u.i =
		    mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		v->u.i = (int64_t)mag;
	return 0;
invalid:
	return toml_err(p, ERR_PARSE, at, "invalid value '%.*s'",
	                (int)(n > 64 ? 64 : n), t);
range:
	return toml_err(p, ERR_PARSE, at,
	                "integer '%.*s' out of range (64-bit signed)",
	                (int)(n > 64 ? 64 : n), t);
}

/* Reads n digits at p->pos + k into *val; false when they are not all
 * digits. */
static bool toml_fixed_digits(const struct toml_parser *p, size_t k, size_t n,
                              unsigned *val)
{
	unsigned acc = 0;
	size_t i;
	int c;

	for (i = 0; i < n; i++) {
		c = toml_peek(p, k + i);
		if (!toml_isdigit(c))
			return false;
		acc = acc * 10 + (unsigned)(c - '0');
	}
	*val = acc;
	return true;
}

static unsigned toml_days_in_month(unsigned y, unsigned m)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30,
	                                       31, 31, 30, 31, 30, 31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* HH:MM:SS[.frac] at p->pos, appended to b. */
static int toml_parse_time(struct toml_parser *p, struct buf *b, size_t at)
{
	unsigned hh, mm, ss;
	size_t n = 8;

	if (!toml_fixed_digits(p, 0, 2, &hh) || toml_peek(p, 2) != ':' ||
	    !toml_fixed_digits(p, 3, 2, &mm) || toml_peek(p, 5) != ':' ||
	    !toml_fixed_digits(p, 6, 2, &ss))
		return toml_err(p, ERR_PARSE, at,
		                "invalid time: expected HH:MM:SS");
	if (hh > 23 || mm > 59 || ss > 60)
		return toml_err(p, ERR_PARSE, at,
		                "invalid time %.8s: out of range",
		                p->s + p->pos);
	if (toml_peek(p, 8) == '.') {
		n = 9;
		while (toml_isdigit(toml_peek(p, n)))
			n++;
		if (n == 9)
			return toml_err(p, ERR_PARSE, at,
			                "invalid time: expected digits after "
			                "'.'");
	}
	if (buf_append(b, p->s + p->pos, n) != 0)
		return toml_nomem(p);
	p->pos += n;
	return 0;
}

/* A date, a time or a date-time at p->pos. */
static int toml_parse_datetime(struct toml_parser *p, struct toml_value *v)
{
	struct buf b = BUF_INIT;
	size_t at = p->pos;
	unsigned y, mo, dd, oh, om;
	bool date = false, time = false, off = false;
	int c, r = 0;

	if (toml_peek(p, 4) == '-') {
		if (!toml_fixed_digits(p, 0, 4, &y) || toml_peek(p, 4) != '-' ||
		    !toml_fixed_digits(p, 5, 2, &mo) ||
		    toml_peek(p, 7) != '-' ||
		    !toml_fixed_digits(p, 8, 2, &dd)) {
			r = toml_err(p, ERR_PARSE, at,
			             "invalid date: expected YYYY-MM-DD");
			goto out;
		}
		if (mo < 1 || mo > 12 || dd < 1 ||
		    dd > toml_days_in_month(y, mo)) {
			r = toml_err(p, ERR_PARSE, at,
			             "invalid date %.10s: no such day",
			             p->s + p->pos);
			goto out;
		}
		if (buf_append(&b, p->s + p->pos, 10) != 0) {
			r = toml_nomem(p);
			goto out;
		}
		p->pos += 10;
		date = true;
		c = toml_peek(p, 0);
		if (c == 'T' || c == 't' ||
		    (c == ' ' && toml_isdigit(toml_peek(p, 1)) &&
		     toml_isdigit(toml_peek(p, 2)) && toml_peek(p, 3) == ':')) {
			p->pos++;
			if (buf_putc(&b, 'T') != 0) {
				r = toml_nomem(p);
				goto out;
			}
			time = true;
		}
	} else
		time = true;
	if (time && (r = toml_parse_time(p, &b, at)) != 0)
		goto out;
	if (date && time) {
		c = toml_peek(p, 0);
		if (c == 'Z' || c == 'z') {
			p->pos++;
			off = true;
			r = buf_putc(&b, 'Z');
		} else if (c == '+' || c == '-') {
			if (!toml_fixed_digits(p, 1, 2, &oh) ||
			    toml_peek(p, 3) != ':' ||
			    !toml_fixed_digits(p, 4, 2, &om) || oh > 23 ||
			    om > 59) {
				r = toml_err(p, ERR_PARSE, at,
				             "invalid time offset: expected "
				             "Z or +HH:MM");
				goto out;
			}
			r = buf_append(&b, p->s + p->pos, 6);
			p->pos += 6;
			off = true;
		}
		if (r != 0) {
			r = toml_nomem(p);
			goto out;
		}
	}
	c = toml_peek(p, 0);
	if (toml_isbare(c) || c == '+' || c == '.' || c == ':') {
		r = toml_err(p, ERR_PARSE, at, "invalid date-time '%.*s'",
		             (int)(p->pos + 1 - at), p->s + at);
		goto out;
	}
	if (off)
		v->type = TOML_DATETIME;
	else if (date && time)
		v->type = TOML_LOCAL_DATETIME;
	else if (date)
		v->type = TOML_LOCAL_DATE;
	else
		v->type = TOML_LOCAL_TIME;
	if ((v->u.str.s = buf_steal(&b, &v->u.str.len)) == NULL)
		r = toml_nomem(p);
out:
	buf_free(&b);
	return r;
}

/* A bare scalar at p->pos: boolean, number or date/time. */
static int toml_parse_scalar(struct toml_parser *p, struct toml_value *v)
{
	size_t at = p->pos, n;
	int c;

	if (toml_isdigit(toml_peek(p, 0)) && toml_isdigit(toml_peek(p, 1)) &&
	    (toml_peek(p, 2) == ':' ||
	     (toml_isdigit(toml_peek(p, 2)) && toml_isdigit(toml_peek(p, 3)) &&
	      toml_peek(p, 4) == '-')))
		return toml_parse_datetime(p, v);
	while ((c = toml_peek(p, 0)) >= 0 &&
	       (toml_isbare(c) || c == '+' || c == '.'))
		p->pos++;
	n = p->pos - at;
	if (n == 0)
		return toml_unexpected(p, at, "a value");
	if (n == 4 && memcmp(p->s + at, "true", 4) == 0) {
		v->type = TOML_BOOL;
		v->u.b = true;
		return 0;
	}
	if (n == 5 && memcmp(p->s + at, "false", 5) == 0) {
		v->type = TOML_BOOL;
		v->u.b = false;
		return 0;
	}
	return toml_parse_number(p, p->s + at, n, at, v);
}

/* ------------------------------------------------------------------ */
/* Values and containers */

static int toml_parse_value(struct toml_parser *p, unsigned depth,
                            struct toml_value **out);
static int toml_parse_keyval(struct toml_parser *p, struct toml_value *t);

static int toml_check_depth(struct toml_parser *p, unsigned depth, size_t at)
{
	if (depth > TOML_MAX_DEPTH)
		return toml_err(p, ERR_TOOBIG, at,
		                "nesting deeper than %d levels",
		                TOML_MAX_DEPTH);
	return 0;
}

static int toml_parse_array(struct toml_parser *p, unsigned depth,
                            struct toml_value **out)
{
	struct toml_value *a = NULL, *v = NULL;
	size_t at = p->pos;
	int r;

	if ((r = toml_check_depth(p, depth, at)) != 0)
		goto out;
	if ((a = toml_value_new(TOML_ARRAY, depth)) == NULL) {
		r = toml_nomem(p);
		goto out;
	}
	p->pos++;
	for (;;) {
		toml_skip_wscnl(p);
		if (toml_peek(p, 0) == ']')
			break;
		if ((r = toml_parse_value(p, depth + 1, &v)) != 0)
			goto out;
		if (toml_arr_add(a, v) != 0) {
			r = toml_nomem(p);
			goto out;
		}
		v = NULL;
		toml_skip_wscnl(p);
		if (toml_peek(p, 0) == ',') {
			p->pos++;
			continue;
		}
		if (toml_peek(p, 0) == ']')
			break;
		if (p->pos >= p->len)
			r = toml_err(p, ERR_PARSE, at, "unterminated array");
		else
			r = toml_unexpected(p, p->pos, "',' or ']' in array");
		goto out;
	}
	p->pos++;
	*out = a;
	a = NULL;
out:
	toml_value_free(v);
	toml_value_free(a);
	return r;
}

static int toml_parse_inline(struct toml_parser *p, unsigned depth,
                             struct toml_value **out)
{
	struct toml_value *t = NULL;
	size_t at = p->pos;
	int r;

	if ((r = toml_check_depth(p, depth, at)) != 0)
		goto out;
	if ((t = toml_value_new(TOML_TABLE, depth)) == NULL) {
		r = toml_nomem(p);
		goto out;
	}
	t->u.tab.origin = TOML_ORIGIN_INLINE;
	p->pos++;
	toml_skip_ws(p);
	if (toml_peek(p, 0) != '}') {
		for (;;) {
			toml_skip_ws(p);
			if ((r = toml_parse_keyval(p, t)) != 0)
				goto out;
			toml_skip_ws(p);
			if (toml_peek(p, 0) == '}')
				break;
			if (toml_peek(p, 0) != ',') {
				if (p->pos >= p->len || toml_at_newline(p))
					r = toml_err(p, ERR_PARSE, p->pos,
					             "inline table must end "
					             "with '}' on its line");
				else
					r = toml_unexpected(p, p->pos,
					                    "',' or '}' in "
					                    "inline table");
				goto out;
			}
			p->pos++;
			toml_skip_ws(p);
			if (toml_peek(p, 0) == '}') {
				r = toml_err(p, ERR_PARSE, p->pos,
				             "trailing comma in inline table");
				goto out;
			}
		}
	}
	p->pos++;
	*out = t;
	t = NULL;
out:
	toml_value_free(t);
	return r;
}

static int toml_parse_value(struct toml_parser *p, unsigned depth,
                            struct toml_value **out)
{
	struct toml_value *v = NULL;
	struct buf b = BUF_INIT;
	int c = toml_peek(p, 0), r;

	if (c == '[')
		return toml_parse_array(p, depth, out);
	if (c == '{')
		return toml_parse_inline(p, depth, out);
	if ((v = toml_value_new(TOML_STRING, depth)) == NULL) {
		r = toml_nomem(p);
		goto out;
	}
	if (c == '"' || c == '\'') {
		if (toml_peek(p, 1) == c && toml_peek(p, 2) == c)
			r = toml_ml_string(p, &b, (char)c);
		else if (c == '"')
			r = toml_basic_string(p, &b);
		else
			r = toml_literal_string(p, &b);
		if (r != 0)
			goto out;
		if ((v->u.str.s = buf_steal(&b, &v->u.str.len)) == NULL) {
			r = toml_nomem(p);
			goto out;
		}
	} else if ((r = toml_parse_scalar(p, v)) != 0)
		goto out;
	*out = v;
	v = NULL;
out:
	buf_free(&b);
	toml_value_free(v);
	return r;
}

/*
 * Creates table key i of the current key path in t, with origin. On
 * success *out is the new table, owned by t.
 */
static int toml_new_table(struct toml_parser *p, struct toml_value *t, size_t i,
                          enum toml_origin origin, struct toml_value **out)
{
	struct toml_value *c;
	char *key;
	int r;

	if ((r = toml_check_depth(p, t->depth + 1, p->keys[i].pos)) != 0)
		return r;
	if ((c = toml_value_new(TOML_TABLE, t->depth + 1)) == NULL)
		return toml_nomem(p);
	c->u.tab.origin = origin;
	if ((key = toml_memdup(toml_key(p, i), p->keys[i].len)) == NULL ||
	    toml_tab_add(t, key, p->keys[i].len, c) != 0) {
		free(key);
		toml_value_free(c);
		return toml_nomem(p);
	}
	*out = c;
	return 0;
}

/* A key/value into table t (the current table, or an inline table). */
static int toml_parse_keyval(struct toml_parser *p, struct toml_value *t)
{
	struct toml_value *v = NULL;
	struct toml_member *m;
	struct buf ks = BUF_INIT;
	char *key = NULL;
	size_t i, klen, kpos;
	int r;

	if ((r = toml_parse_key(p)) != 0)
		goto out;
	if (toml_peek(p, 0) != '=') {
		r = toml_unexpected(p, p->pos, "'=' after a key");
		goto out;
	}
	p->pos++;
	toml_skip_ws(p);
	/*
	 * Dotted keys may go through tables that dotted keys made, and
	 * through tables that headers only created as prefixes (a.b after
	 * [a.b.c]), which they then define: a header cannot reopen those
	 * afterwards. Tables defined by a header or inline are closed to
	 * them.
	 */
	for (i = 0; i + 1 < p->nkeys; i++) {
		m = toml_tab_find(t, toml_key(p, i), p->keys[i].len);
		if (m == NULL) {
			if ((r = toml_new_table(p, t, i, TOML_ORIGIN_DOTTED,
			                        &t)) != 0)
				goto out;
			continue;
		}
		if (m->val->type == TOML_TABLE &&
		    (m->val->u.tab.origin == TOML_ORIGIN_DOTTED ||
		     m->val->u.tab.origin == TOML_ORIGIN_IMPLICIT)) {
			t = m->val;
			t->u.tab.origin = TOML_ORIGIN_DOTTED;
			continue;
		}
		kpos = p->keys[i].pos;
		if (m->val->type != TOML_TABLE)
			r = toml_err(p, ERR_DUPLICATE, kpos,
			             "key '%s' is already defined as %s",
			             toml_keystr(p, i + 1, &ks),
			             toml_type_name(m->val->type));
		else if (m->val->u.tab.origin == TOML_ORIGIN_INLINE)
			r = toml_err(p, ERR_DUPLICATE, kpos,
			             "cannot add keys to inline table '%s'",
			             toml_keystr(p, i + 1, &ks));
		else
			r = toml_err(p, ERR_DUPLICATE, kpos,
			             "cannot add keys to table '%s' with "
			             "dotted keys: a header defined it",
			             toml_keystr(p, i + 1, &ks));
		goto out;
	}
	klen = p->keys[i].len;
	if (toml_tab_find(t, toml_key(p, i), klen) != NULL) {
		r = toml_err(p, ERR_DUPLICATE, p->keys[i].pos,
		             "duplicate key '%s'", toml_keystr(p, i + 1, &ks));
		goto out;
	}
	if ((key = toml_memdup(toml_key(p, i), klen)) == NULL) {
		r = toml_nomem(p);
		goto out;
	}
	/* The value may hold inline tables, whose keys reuse p->keys. */
	if ((r = toml_parse_value(p, t->depth + 1, &v)) != 0)
		goto out;
	if (toml_tab_add(t, key, klen, v) != 0) {
		r = toml_nomem(p);
		goto out;
	}
	key = NULL;
	v = NULL;
out:
	free(key);
	toml_value_free(v);
	buf_free(&ks);
	return r;
}

/* ------------------------------------------------------------------ */
/* Headers and sections */

static int toml_section_add(struct toml_parser *p, bool array, size_t start,
                            size_t hpos)
{
	struct toml_doc *doc = p->doc;
	struct toml_section *ns, *s;
	size_t ncap, i;

	if (doc->nsec == doc->capsec) {
		ncap = doc->capsec ? doc->capsec * 2 : 8;
		if (ncap > SIZE_MAX / sizeof(*ns) ||
		    (ns = realloc(doc->sec, ncap * sizeof(*ns))) == NULL)
			return toml_nomem(p);
		doc->sec = ns;
		doc->capsec = ncap;
	}
	s = &doc->sec[doc->nsec];
	memset(s, 0, sizeof(*s));
	/* Counted before it is complete, so that toml_free frees it all. */
	doc->nsec++;
	if (p->nkeys > 0) {
		if ((s->path = calloc(p->nkeys, sizeof(*s->path))) == NULL)
			return toml_nomem(p);
		s->depth = p->nkeys;
		for (i = 0; i < p->nkeys; i++) {
			s->path[i] =
			    toml_memdup(toml_key(p, i), p->keys[i].len);
			if (s->path[i] == NULL)
				return toml_nomem(p);
		}
	}
	s->array = array;
	s->start = start;
	s->body = p->len;
	s->end = p->len;
	s->line = toml_line_at(p, hpos);
	if (doc->nsec > 1)
		doc->sec[doc->nsec - 2].end = start;
	return 0;
}

/* Walks or creates the tables of a header's path but its last key. */
static int toml_header_prefix(struct toml_parser *p, struct toml_value **tp,
                              size_t hpos)
{
	struct toml_value *t = p->doc->root, *v;
	struct toml_member *m;
	struct buf ks = BUF_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i + 1 < p->nkeys; i++) {
		m = toml_tab_find(t, toml_key(p, i), p->keys[i].len);
		if (m == NULL) {
			if ((r = toml_new_table(p, t, i, TOML_ORIGIN_IMPLICIT,
			                        &t)) != 0)
				goto out;
			continue;
		}
		v = m->val;
		if (v->type == TOML_TABLE &&
		    v->u.tab.origin != TOML_ORIGIN_INLINE) {
			t = v;
			continue;
		}
		if (v->type == TOML_ARRAY && v->u.arr.aot) {
			/* Headers below an array of tables go to its last
			 * element. */
			t = v->u.arr.v[v->u.arr.n - 1];
			continue;
		}
		if (v->type == TOML_TABLE)
			r = toml_err(p, ERR_DUPLICATE, hpos,
			             "cannot extend inline table '%s' with a "
			             "header",
			             toml_keystr(p, i + 1, &ks));
		else if (v->type == TOML_ARRAY)
			r = toml_err(p, ERR_DUPLICATE, hpos,
			             "cannot extend static array '%s' with a "
			             "header",
			             toml_keystr(p, i + 1, &ks));
		else
			r = toml_err(p, ERR_DUPLICATE, hpos,
			             "key '%s' is already defined as %s",
			             toml_keystr(p, i + 1, &ks),
			             toml_type_name(v->type));
		goto out;
	}
	*tp = t;
out:
	buf_free(&ks);
	return r;
}

/* [a.b] or [[a.b]] at p->pos, with the rest of its line. */
/* The message for a header whose last key names an existing v. */
static int toml_header_conflict(struct toml_parser *p,
                                const struct toml_value *v, bool array,
                                size_t hpos)
{
	struct buf ks = BUF_INIT;
	const char *name = toml_keystr(p, p->nkeys, &ks);
	int r;

	if (array && v->type == TOML_ARRAY)
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "cannot append to static array '%s' with [[%s]]",
		             name, name);
	else if (array && v->type == TOML_TABLE)
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "array of tables [[%s]] conflicts with table [%s]",
		             name, name);
	else if (array)
		r = toml_err(
		    p, ERR_DUPLICATE, hpos,
		    "array of tables [[%s]]: key already defined as %s", name,
		    toml_type_name(v->type));
	else if (v->type == TOML_TABLE && v->u.tab.origin == TOML_ORIGIN_DOTTED)
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "table [%s] already defined by dotted keys", name);
	else if (v->type == TOML_TABLE && v->u.tab.origin == TOML_ORIGIN_INLINE)
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "table [%s] already defined as an inline table",
		             name);
	else if (v->type == TOML_TABLE)
		r = toml_err(p, ERR_DUPLICATE, hpos, "table [%s] defined twice",
		             name);
	else if (v->type == TOML_ARRAY && v->u.arr.aot)
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "table [%s] conflicts with array of tables [[%s]]",
		             name, name);
	else
		r = toml_err(p, ERR_DUPLICATE, hpos,
		             "table [%s]: key already defined as %s", name,
		             toml_type_name(v->type));
	buf_free(&ks);
	return r;
}

/* [a.b] or [[a.b]] at p->pos, with the rest of its line. */
static int toml_parse_header(struct toml_parser *p)
{
	struct toml_value *t = NULL, *v, *e = NULL;
	struct toml_member *m;
	size_t hpos = p->pos, start, i;
	bool array = false;
	int r;

	p->pos++;
	if (toml_peek(p, 0) == '[') {
		array = true;
		p->pos++;
	}
	toml_skip_ws(p);
	if ((r = toml_parse_key(p)) != 0)
		goto out;
	if (toml_peek(p, 0) != ']' || (array && toml_peek(p, 1) != ']')) {
		r = toml_unexpected(p, p->pos + (toml_peek(p, 0) == ']'),
		                    array ? "']]' to end the header"
		                          : "']' to end the header");
		goto out;
	}
	p->pos += array ? 2 : 1;
	if ((r = toml_header_prefix(p, &t, hpos)) != 0)
		goto out;
	i = p->nkeys - 1;
	m = toml_tab_find(t, toml_key(p, i), p->keys[i].len);
	if (!array) {
		if (m == NULL) {
			if ((r = toml_new_table(p, t, i, TOML_ORIGIN_HEADER,
			                        &t)) != 0)
				goto out;
		} else if (m->val->type == TOML_TABLE &&
		           m->val->u.tab.origin == TOML_ORIGIN_IMPLICIT) {
			/* Defined now: it cannot be defined again. */
			t = m->val;
			t->u.tab.origin = TOML_ORIGIN_HEADER;
		} else {
			r = toml_header_conflict(p, m->val, array, hpos);
			goto out;
		}
	} else {
		if (m == NULL) {
			if ((r = toml_new_table(p, t, i, TOML_ORIGIN_IMPLICIT,
			                        &v)) != 0)
				goto out;
			/* An empty table, turned into the array. */
			v->type = TOML_ARRAY;
			memset(&v->u, 0, sizeof(v->u));
			v->u.arr.aot = true;
		} else if (m->val->type == TOML_ARRAY && m->val->u.arr.aot) {
			v = m->val;
		} else {
			r = toml_header_conflict(p, m->val, array, hpos);
			goto out;
		}
		if ((r = toml_check_depth(p, v->depth + 1, hpos)) != 0)
			goto out;
		if ((e = toml_value_new(TOML_TABLE, v->depth + 1)) == NULL) {
			r = toml_nomem(p);
			goto out;
		}
		e->u.tab.origin = TOML_ORIGIN_ARRAY_HEADER;
		if (toml_arr_add(v, e) != 0) {
			r = toml_nomem(p);
			goto out;
		}
		t = e;
		e = NULL;
	}
	p->cur = t;
	/* The header's line starts after the whitespace before '['. */
	for (start = hpos; start > p->bom &&
	                   (p->s[start - 1] == ' ' || p->s[start - 1] == '\t');
	     start--)
		;
	if ((r = toml_section_add(p, array, start, hpos)) != 0)
		goto out;
	if ((r = toml_end_line(p, "a table header")) != 0)
		goto out;
	p->doc->sec[p->doc->nsec - 1].body = p->pos;
out:
	toml_value_free(e);
	return r;
}

static int toml_parse_doc(struct toml_parser *p)
{
	int r;
	char c;

	for (;;) {
		toml_skip_ws(p);
		if (p->pos >= p->len)
			return 0;
		c = p->s[p->pos];
		if (c == '#')
			toml_skip_comment(p);
		else if (toml_at_newline(p))
			toml_skip_newline(p);
		else if (c == '[') {
			if ((r = toml_parse_header(p)) != 0)
				return r;
		} else if ((r = toml_parse_keyval(p, p->cur)) != 0 ||
		           (r = toml_end_line(p, "a value")) != 0)
			return r;
	}
}

int toml_parse(const char *text, size_t len, struct toml_doc **out,
               struct diag *d)
{
	struct toml_parser p;
	struct toml_doc *doc = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	p.s = text;
	p.len = len;
	p.d = d;
	p.line_no = 1;
	if (text == NULL && len > 0) {
		r = diag_set(d, ERR_INVALID, 0, 0, "no text");
		goto out;
	}
	if (text == NULL)
		p.s = "";
	if ((doc = calloc(1, sizeof(*doc))) == NULL ||
	    (doc->root = toml_value_new(TOML_TABLE, 0)) == NULL) {
		r = toml_nomem(&p);
		goto out;
	}
	doc->root->u.tab.origin = TOML_ORIGIN_ROOT;
	p.doc = doc;
	p.cur = doc->root;
	if (len >= 3 && memcmp(p.s, "\xef\xbb\xbf", 3) == 0)
		p.bom = 3;
	if ((r = toml_check_text(&p)) != 0)
		goto out;
	if ((r = toml_section_add(&p, false, 0, 0)) != 0)
		goto out;
	doc->sec[0].body = p.bom;
	p.pos = p.bom;
	if ((r = toml_parse_doc(&p)) != 0)
		goto out;
	*out = doc;
	doc = NULL;
out:
	free(p.keys);
	buf_free(&p.keybuf);
	toml_free(doc);
	return r;
}

void toml_free(struct toml_doc *doc)
{
	size_t i, k;

	if (doc == NULL)
		return;
	for (i = 0; i < doc->nsec; i++) {
		if (doc->sec[i].path == NULL)
			continue;
		for (k = 0; k < doc->sec[i].depth; k++)
			free(doc->sec[i].path[k]);
		free(doc->sec[i].path);
	}
	free(doc->sec);
	toml_value_free(doc->root);
	free(doc);
}

/* ------------------------------------------------------------------ */
/* Accessors */

const struct toml_value *toml_root(const struct toml_doc *doc)
{
	return doc != NULL ? doc->root : NULL;
}

size_t toml_sections(const struct toml_doc *doc,
                     const struct toml_section **out)
{
	*out = doc->sec;
	return doc->nsec;
}

enum toml_type toml_type(const struct toml_value *v)
{
	return v->type;
}

size_t toml_table_size(const struct toml_value *t)
{
	return t != NULL && t->type == TOML_TABLE ? t->u.tab.n : 0;
}

const char *toml_table_key(const struct toml_value *t, size_t i)
{
	if (t == NULL || t->type != TOML_TABLE || i >= t->u.tab.n)
		return NULL;
	return t->u.tab.m[i].key;
}

const struct toml_value *toml_table_value(const struct toml_value *t, size_t i)
{
	if (t == NULL || t->type != TOML_TABLE || i >= t->u.tab.n)
		return NULL;
	return t->u.tab.m[i].val;
}

const struct toml_value *toml_table_get(const struct toml_value *t,
                                        const char *key)
{
	const struct toml_member *m;

	if (t == NULL || t->type != TOML_TABLE || key == NULL)
		return NULL;
	m = toml_tab_find(t, key, strlen(key));
	return m != NULL ? m->val : NULL;
}

enum toml_origin toml_table_origin(const struct toml_value *t)
{
	if (t == NULL || t->type != TOML_TABLE)
		return TOML_ORIGIN_ROOT;
	return t->u.tab.origin;
}

size_t toml_array_size(const struct toml_value *a)
{
	return a != NULL && a->type == TOML_ARRAY ? a->u.arr.n : 0;
}

const struct toml_value *toml_array_at(const struct toml_value *a, size_t i)
{
	if (a == NULL || a->type != TOML_ARRAY || i >= a->u.arr.n)
		return NULL;
	return a->u.arr.v[i];
}

const char *toml_string(const struct toml_value *v, size_t *len)
{
	if (v == NULL || v->type != TOML_STRING)
		return NULL;
	if (len != NULL)
		*len = v->u.str.len;
	return v->u.str.s;
}

int64_t toml_integer(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_BOOL && v->u.b;
}

const char *toml_datetime(const struct toml_value *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type) {
	case TOML_DATETIME:
	case TOML_LOCAL_DATETIME:
	case TOML_LOCAL_DATE:
	case TOML_LOCAL_TIME:
		return v->u.str.s;
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Conversion to JSON */

/* Recursion is bounded by the depth cap of the parser. */
static json_t *toml_json(const struct toml_value *v)
{
	json_t *j = NULL, *c;
	size_t i;

	switch (v->type) {
	case TOML_STRING:
		return json_stringn(v->u.str.s, v->u.str.len);
	case TOML_INTEGER:
		return json_integer((json_int_t)v->u.i);
	case TOML_FLOAT:
		if (isnan(v->u.f))
			return json_string("nan");
		if (isinf(v->u.f))
			return json_string(v->u.f < 0 ? "-inf" : "inf");
		return json_real(v->u.f);
	case TOML_BOOL:
		return json_boolean(v->u.b);
	case TOML_DATETIME:
	case TOML_LOCAL_DATETIME:
	case TOML_LOCAL_DATE:
	case TOML_LOCAL_TIME:
		return json_stringn(v->u.str.s, v->u.str.len);
	case TOML_ARRAY:
		if ((j = json_array()) == NULL)
			return NULL;
		for (i = 0; i < v->u.arr.n; i++) {
			if ((c = toml_json(v->u.arr.v[i])) == NULL ||
			    json_array_append_new(j, c) != 0)
				goto fail;
		}
		return j;
	case TOML_TABLE:
		if ((j = json_object()) == NULL)
			return NULL;
		for (i = 0; i < v->u.tab.n; i++) {
			if ((c = toml_json(v->u.tab.m[i].val)) == NULL ||
			    json_object_setn_new(j, v->u.tab.m[i].key,
			                         v->u.tab.m[i].klen, c) != 0)
				goto fail;
		}
		return j;
	}
	return NULL;
fail:
	json_decref(j);
	return NULL;
}

int toml_to_json(const struct toml_value *v, json_t **out)
{
	json_t *j;

	if (v == NULL)
		return -ERR_INVALID;
	if ((j = toml_json(v)) == NULL)
		return -ERR_NOMEM;
	*out = j;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writer */

static void toml_buf_truncate(struct buf *b, size_t len)
{
	if (b->data != NULL && len <= b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

int toml_write_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	size_t orig = b->len, i, from, n;
	uint32_t cp;
	char esc[7];
	int r;

	if (s == NULL && len > 0)
		return -ERR_INVALID;
	for (i = 0; i < len; i += n)
		if ((n = toml_utf8_seq(u, len, i, &cp)) == 0)
			return -ERR_INVALID;
	if ((r = buf_putc(b, '"')) != 0)
		goto out;
	for (i = from = 0; i < len; i++) {
		if (u[i] >= 0x20 && u[i] != 0x7f && u[i] != '"' && u[i] != '\\')
			continue;
		if ((r = buf_append(b, s + from, i - from)) != 0)
			goto out;
		from = i + 1;
		esc[0] = '\\';
		n = 2;
		switch (u[i]) {
		case '"':
		case '\\':
			esc[1] = (char)u[i];
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 0xf];
			n = 6;
			break;
		}
		if ((r = buf_append(b, esc, n)) != 0)
			goto out;
	}
	if ((r = buf_append(b, s + from, len - from)) != 0 ||
	    (r = buf_putc(b, '"')) != 0)
		goto out;
out:
	if (r != 0)
		toml_buf_truncate(b, orig);
	return r;
}

static int toml_write_keyn(struct buf *b, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!toml_isbare((unsigned char)key[i]))
			break;
	if (len > 0 && i == len)
		return buf_append(b, key, len);
	return toml_write_string(b, key, len);
}

int toml_write_key(struct buf *b, const char *key)
{
	if (key == NULL)
		return -ERR_INVALID;
	return toml_write_keyn(b, key, strlen(key));
}

/*
 * The shortest of %.15g, %.16g and %.17g that reads back as x, with the
 * locale's decimal point turned into '.' and ".0" added to integral values.
 */
static int toml_write_float(struct buf *b, double x)
{
	const char *dp = localeconv()->decimal_point;
	char tmp[64], *p;
	size_t dplen;
	int prec, w = 0;

	if (isnan(x))
		return buf_puts(b, "nan");
	if (isinf(x))
		return buf_puts(b, x < 0 ? "-inf" : "inf");
	for (prec = 15; prec <= 17; prec++) {
		w = snprintf(tmp, sizeof(tmp), "%.*g", prec, x);
		if (w < 0 || (size_t)w >= sizeof(tmp))
			return -ERR_INTERNAL;
		if (strtod(tmp, NULL) == x)
			break;
	}
	if (dp != NULL && *dp != '\0' && strcmp(dp, ".") != 0 &&
	    (p = strstr(tmp, dp)) != NULL) {
		dplen = strlen(dp);
		*p = '.';
		memmove(p + 1, p + dplen, strlen(p + dplen) + 1);
	}
	if (strpbrk(tmp, ".eE") == NULL) {
		if ((size_t)w + 2 >= sizeof(tmp))
			return -ERR_INTERNAL;
		memcpy(tmp + strlen(tmp), ".0", 3);
	}
	return buf_puts(b, tmp);
}

/* jansson's iterator takes a non-const object but does not change it. */
static void *toml_json_iter(const json_t *o)
{
	return json_object_iter((json_t *)(uintptr_t)o);
}

static int toml_write_json(struct buf *b, const json_t *v, unsigned depth)
{
	void *it;
	size_t i, n;
	int r = 0;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return toml_write_string(b, json_string_value(v),
		                         json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT,
		                  json_integer_value(v));
	case JSON_REAL:
		return toml_write_float(b, json_real_value(v));
	case JSON_TRUE:
		return buf_puts(b, "true");
	case JSON_FALSE:
		return buf_puts(b, "false");
	case JSON_NULL:
		return -ERR_INVALID;
	case JSON_ARRAY:
		if (depth >= TOML_MAX_DEPTH)
			return -ERR_TOOBIG;
		if ((r = buf_putc(b, '[')) != 0)
			return r;
		n = json_array_size(v);
		for (i = 0; i < n && r == 0; i++) {
			if (i > 0 && (r = buf_puts(b, ", ")) != 0)
				break;
			r = toml_write_json(b, json_array_get(v, i), depth + 1);
		}
		return r != 0 ? r : buf_putc(b, ']');
	case JSON_OBJECT:
		if (depth >= TOML_MAX_DEPTH)
			return -ERR_TOOBIG;
		if (json_object_size(v) == 0)
			return buf_puts(b, "{}");
		if ((r = buf_puts(b, "{ ")) != 0)
			return r;
		for (it = toml_json_iter(v), i = 0; it != NULL && r == 0;
		     it = json_object_iter_next((json_t *)(uintptr_t)v, it),
		    i++) {
			if ((i > 0 && (r = buf_puts(b, ", ")) != 0) ||
			    (r = toml_write_keyn(
			         b, json_object_iter_key(it),
			         json_object_iter_key_len(it))) != 0 ||
			    (r = buf_puts(b, " = ")) != 0)
				break;
			r = toml_write_json(b, json_object_iter_value(it),
			                    depth + 1);
		}
		return r != 0 ? r : buf_puts(b, " }");
	}
	return -ERR_INVALID;
}

int toml_write_value(struct buf *b, const json_t *v)
{
	size_t orig = b->len;
	int r;

	if (v == NULL)
		return -ERR_INVALID;
	if ((r = toml_write_json(b, v, 0)) != 0)
		toml_buf_truncate(b, orig);
	return r;
}
