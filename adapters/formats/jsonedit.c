/* SPDX-License-Identifier: MIT */
/* Format-preserving JSON and JSONC editing: a validating span parser and a
 * splicer. */
#include "jsonedit.h"

#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"

/*
 * Offsets are 32-bit to keep the per-member records small: the parser has to
 * get through a 5 MB ~/.claude.json in a few milliseconds. No configuration
 * file comes near this limit.
 */
#define JDOC_MAX_LEN  ((size_t)1 << 30)
#define JDOC_NONE     UINT32_MAX
#define JDOC_IN_ARENA 0x80000000u
/* Objects with at most this many members are checked for duplicates pairwise.
 */
#define JDOC_DUP_LINEAR 8
#define JEDIT_NONE      SIZE_MAX

#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JDOC_SWAR_CTZ 1
#else
#define JDOC_SWAR_CTZ 0
#endif

/* A member of a recorded object: its spans in the text and its decoded name. */
struct jdoc_member {
	uint32_t key;     /* opening quote of the key */
	uint32_t keyend;  /* just past the key's closing quote */
	uint32_t val;     /* first byte of the value */
	uint32_t valend;  /* just past the value */
	uint32_t comma;   /* the comma after the value, or JDOC_NONE */
	uint32_t name;    /* decoded name: offset in the text or in the arena */
	uint32_t namelen; /* its length, with JDOC_IN_ARENA when in the arena */
	uint32_t child;   /* the value's object index, or JDOC_NONE */
};

/*
 * An object reachable from the root through members only: objects inside
 * arrays cannot be named by a path, so they are validated but not recorded.
 * Its members are doc->mem[first .. first + count), in document order.
 */
struct jdoc_object {
	uint32_t open;  /* offset of '{' */
	uint32_t close; /* offset of '}' */
	uint32_t first;
	uint32_t count;
};

struct jdoc {
	char *text; /* NUL-terminated copy */
	size_t len;
	unsigned flags;
	uint32_t root; /* offset of the root value */
	struct jdoc_member *mem;
	size_t nmem;
	struct jdoc_object *obj; /* obj[0] is the root when it is an object */
	size_t nobj;
	struct buf arena; /* decoded names of keys written with escapes */
};

enum jdoc_kind { JDOC_KIND_OBJECT, JDOC_KIND_ARRAY };

/* One open container. */
struct jdoc_level {
	uint32_t base;  /* this object's first member on the stack */
	uint32_t obj;   /* its object index, or JDOC_NONE when not recorded */
	uint32_t arena; /* arena length when it opened */
	unsigned kind;
};

struct jdoc_parser {
	const unsigned char *s;
	size_t len;
	unsigned flags;
	unsigned maxdepth;

	struct diag *d;
	struct jdoc_member *stk; /* members of the open objects */
	size_t nstk, capstk;
	struct jdoc_member *mem; /* members of closed objects, grouped */
	size_t nmem, capmem;
	struct jdoc_object *obj;
	size_t nobj, capobj;
	struct buf arena;
	uint32_t *hash; /* scratch table for duplicate detection */
	size_t caphash;
	struct jdoc_level lv[JDOC_MAX_DEPTH];
};

/* Grows an array to hold need elements; returns the new array or NULL. */
static void *jdoc_grow(void *p, size_t *cap, size_t need, size_t elsz)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return p;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elsz)
			return NULL;
		ncap *= 2;
	}
	if ((np = realloc(p, ncap * elsz)) == NULL)
		return NULL;
	*cap = ncap;
	return np;
}

static bool jdoc_has_bom(const unsigned char *s, size_t len)
{
	return len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

static bool jdoc_is_ws(unsigned c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static bool jdoc_is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

/* Bytes that may not follow a number or a literal without a separator. */
static bool jdoc_is_word(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '.' || c == '+' || c == '-' ||
	       c == '_' || c >= 0x80;
}

/* 1-based line and column (in characters) of an offset. */
static void jdoc_linecol(const unsigned char *s, size_t len, size_t pos,
                         unsigned *line, unsigned *col)
{
	const unsigned char *nl;
	size_t i = 0, ln = 1, c = 1;

	if (pos > len)
		pos = len;
	while (i < pos && (nl = memchr(s + i, '\n', pos - i)) != NULL) {
		ln++;
		i = (size_t)(nl - s) + 1;
	}
	if (i == 0 && pos >= 3 && jdoc_has_bom(s, len))
		i = 3;
	for (; i < pos; i++)
		if ((s[i] & 0xc0) != 0x80)
			c++;
	*line = ln > UINT_MAX ? UINT_MAX : (unsigned)ln;
	*col = c > UINT_MAX ? UINT_MAX : (unsigned)c;
}

/*
 * Writes a name for a message: quoted, control bytes escaped, cut after 60
 * bytes at a character boundary. out must hold at least 80 bytes.
 */
static void jdoc_quote(const char *name, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	out[o++] = '"';
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if ((c & 0xc0) != 0x80 && (i >= 60 || o + 12 > outsz)) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* Describes the byte at p for a message. */
static void jdoc_token(const unsigned char *s, size_t len, size_t p, char *out,
                       size_t outsz)
{
	/* Messages may be cut short; the result is ignored on purpose. */
	if (p >= len)
		(void)snprintf(out, outsz, "end of input");
	else if (s[p] > 0x20 && s[p] < 0x7f)
		(void)snprintf(out, outsz, "'%c'", s[p]);
	else
		(void)snprintf(out, outsz, "byte 0x%02x", s[p]);
}

static int jdoc_fail(const struct jdoc_parser *jp, size_t pos, int code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the diag with the position of pos and returns -code. */
static int jdoc_fail(const struct jdoc_parser *jp, size_t pos, int code,
                     const char *fmt, ...)
{
	char msg[400];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	/* A message cut short still says what went wrong. */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jdoc_linecol(jp->s, jp->len, pos, &line, &col);
	return diag_set(jp->d, code, line, col, "%s", msg);
}

/* Length of the valid UTF-8 sequence at q, or 0 when it is not one. */
static size_t jdoc_utf8_len(const unsigned char *q, size_t avail)
{
	unsigned c = q[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0)
		return avail >= 2 && (q[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (avail < 3 || (q[1] & 0xc0) != 0x80 || (q[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && q[1] < 0xa0) || (c == 0xed && q[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c < 0xf5) {
		if (avail < 4 || (q[1] & 0xc0) != 0x80 ||
		    (q[2] & 0xc0) != 0x80 || (q[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && q[1] < 0x90) || (c == 0xf4 && q[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* True when s holds len bytes of valid UTF-8. */
static bool jdoc_utf8_valid(const char *s, size_t len)
{
	const unsigned char *q = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < len) {
		if ((k = jdoc_utf8_len(q + i, len - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* Reads four hex digits; returns 0 or -1. */
static int jdoc_hex4(const unsigned char *q, size_t avail, unsigned *cp)
{
	unsigned v = 0, c, i;

	if (avail < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = q[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return -1;
		v = v << 4 | c;
	}
	*cp = v;
	return 0;
}

/*
 * Nonzero when one of the eight bytes is '"', '\\', a control character or
 * not ASCII; on little-endian machines its lowest set bit is in the first
 * such byte (the borrows only spill into higher bytes).
 */
static uint64_t jdoc_swar_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull;
	const uint64_t highs = 0x8080808080808080ull;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) |
	        ((w - ones * 0x20) & ~w) | w) &
	       highs;
}

/* Validates the escape at *qp (the backslash) and moves past it. */
static int jdoc_scan_escape(struct jdoc_parser *jp, const unsigned char **qp)
{
	const unsigned char *q = *qp, *end = jp->s + jp->len;
	size_t at = (size_t)(q - jp->s);
	unsigned cp, lo;
	char tok[32];

	if (end - q < 2)
		return jdoc_fail(jp, at, ERR_PARSE, "unterminated string");
	switch (q[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		*qp = q + 2;
		return 0;
	case 'u':
		break;
	default:
		jdoc_token(jp->s, jp->len, at + 1, tok, sizeof(tok));
		return jdoc_fail(jp, at, ERR_PARSE,
		                 "invalid escape: backslash before %s", tok);
	}
	if (jdoc_hex4(q + 2, (size_t)(end - q) - 2, &cp) != 0)
		return jdoc_fail(
		    jp, at, ERR_PARSE,
		    "invalid \\u escape: four hex digits expected");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return jdoc_fail(jp, at, ERR_PARSE,
		                 "unpaired surrogate \\u%04X in a string", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - q < 12 || q[6] != '\\' || q[7] != 'u' ||
		    jdoc_hex4(q + 8, 4, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return jdoc_fail(
			    jp, at, ERR_PARSE,
			    "unpaired surrogate \\u%04X in a string", cp);
		*qp = q + 12;
		return 0;
	}
	*qp = q + 6;
	return 0;
}

/*
 * Validates the string starting at *pp (its opening quote) and moves past
 * its closing quote. *escaped tells whether it holds escapes.
 */
static int jdoc_scan_string(struct jdoc_parser *jp, size_t *pp, bool *escaped)
{
	const unsigned char *s = jp->s, *q = jp->s + *pp + 1;
	const unsigned char *end = jp->s + jp->len;
	bool esc = false;
	uint64_t w, m;
	unsigned c;
	size_t k;
	int r;

	for (;;) {
		while (end - q >= 8) {
			memcpy(&w, q, 8);
			if ((m = jdoc_swar_special(w)) != 0) {
#if JDOC_SWAR_CTZ
				q += (unsigned)__builtin_ctzll(m) >> 3;
#endif
				break;
			}
			q += 8;
		}
		if (q >= end)
			return jdoc_fail(jp, *pp, ERR_PARSE,
			                 "unterminated string");
		c = *q;
		if (c == '"')
			break;
		if (c == '\\') {
			if ((r = jdoc_scan_escape(jp, &q)) != 0)
				return r;
			esc = true;
		} else if (c < 0x20) {
			return jdoc_fail(jp, (size_t)(q - s), ERR_PARSE,
			                 "control character U+%04X in a string "
			                 "(it must be escaped)",
			                 c);
		} else if (c < 0x80) {
			q++;
		} else {
			if ((k = jdoc_utf8_len(q, (size_t)(end - q))) == 0)
				return jdoc_fail(jp, (size_t)(q - s), ERR_PARSE,
				                 "invalid UTF-8 in a string");
			q += k;
		}
	}
	*pp = (size_t)(q - s) + 1;
	*escaped = esc;
	return 0;
}

static int jdoc_scan_number(struct jdoc_parser *jp, size_t *pp)
{
	size_t p = *pp;

	if (!jsonutil_scan_number(jp->s, jp->len, &p) ||
	    (p < jp->len && jdoc_is_word(jp->s[p])))
		return jdoc_fail(jp, *pp, ERR_PARSE, "invalid number");
	*pp = p;
	return 0;
}

static int jdoc_scan_literal(struct jdoc_parser *jp, size_t *pp)
{
	const unsigned char *s = jp->s;
	const char *lit;
	size_t p = *pp, n = jp->len, l;

	lit = s[p] == 't' ? "true" : s[p] == 'f' ? "false" : "null";
	l = strlen(lit);
	if (n - p < l || memcmp(s + p, lit, l) != 0 ||
	    (p + l < n && jdoc_is_word(s[p + l])))
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "invalid literal (true, false or null "
		                 "expected)");
	*pp = p + l;
	return 0;
}

/* Skips the comment at *pp (its '/'). */
static int jdoc_skip_comment(struct jdoc_parser *jp, size_t *pp)
{
	const unsigned char *s = jp->s, *x;
	size_t p = *pp, n = jp->len, q;

	if (!(jp->flags & JDOC_JSONC))
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "comments are not allowed in JSON");
	if (p + 1 < n && s[p + 1] == '/') {
		p += 2;
		while (p < n && s[p] != '\n' && s[p] != '\r')
			p++;
	} else if (p + 1 < n && s[p + 1] == '*') {
		q = p + 2;
		for (;;) {
			x = q < n ? memchr(s + q, '*', n - q) : NULL;
			if (x == NULL || x + 1 >= s + n)
				return jdoc_fail(jp, p, ERR_PARSE,
				                 "unterminated comment");
			if (x[1] == '/') {
				p = (size_t)(x - s) + 2;
				break;
			}
			q = (size_t)(x - s) + 1;
		}
	} else {
		return jdoc_fail(jp, p, ERR_PARSE, "unexpected '/'");
	}
	*pp = p;
	return 0;
}

/* Skips whitespace and, in JSONC, comments. */
static int jdoc_skip(struct jdoc_parser *jp, size_t *pp)
{
	const unsigned char *s = jp->s;
	size_t p = *pp, n = jp->len;
	int r;

	for (;;) {
		while (p < n && jdoc_is_ws(s[p]))
			p++;
		if (p >= n || s[p] != '/')
			break;
		if ((r = jdoc_skip_comment(jp, &p)) != 0)
			return r;
	}
	*pp = p;
	return 0;
}

/*
 * Decodes the content of a valid JSON string (the bytes between its quotes)
 * and appends it to out.
 */
static int jdoc_decode(const unsigned char *s, size_t len, struct buf *out)
{
	const unsigned char *bs;
	unsigned char u[4];
	unsigned cp, lo;
	size_t i = 0, j, k;
	int r;

	while (i < len) {
		bs = memchr(s + i, '\\', len - i);
		j = bs != NULL ? (size_t)(bs - s) : len;
		if (j > i && (r = buf_append(out, s + i, j - i)) != 0)
			return r;
		if (j >= len)
			break;
		if (j + 1 >= len)
			return -ERR_INTERNAL;
		k = 2;
		switch (s[j + 1]) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (jdoc_hex4(s + j + 2, len - j - 2, &cp) != 0)
				return -ERR_INTERNAL;
			k = 6;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (len - j < 12 || s[j + 6] != '\\' ||
				    jdoc_hex4(s + j + 8, len - j - 8, &lo) !=
				        0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -ERR_INTERNAL;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				k = 12;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return -ERR_INTERNAL;
			}
			break;
		default:
			cp = s[j + 1];
			break;
		}
		if (cp < 0x80) {
			u[0] = (unsigned char)cp;
			r = buf_append(out, u, 1);
		} else if (cp < 0x800) {
			u[0] = (unsigned char)(0xc0 | cp >> 6);
			u[1] = (unsigned char)(0x80 | (cp & 0x3f));
			r = buf_append(out, u, 2);
		} else if (cp < 0x10000) {
			u[0] = (unsigned char)(0xe0 | cp >> 12);
			u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			u[2] = (unsigned char)(0x80 | (cp & 0x3f));
			r = buf_append(out, u, 3);
		} else {
			u[0] = (unsigned char)(0xf0 | cp >> 18);
			u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			u[3] = (unsigned char)(0x80 | (cp & 0x3f));
			r = buf_append(out, u, 4);
		}
		if (r != 0)
			return r;
		i = j + k;
	}
	return 0;
}

static const char *jdoc_parser_name(const struct jdoc_parser *jp,
                                    const struct jdoc_member *m, size_t *len)
{
	*len = m->namelen & ~JDOC_IN_ARENA;
	if (m->namelen & JDOC_IN_ARENA)
		return jp->arena.data + m->name;
	return (const char *)jp->s + m->name;
}

static int jdoc_push_member(struct jdoc_parser *jp, size_t key, size_t keyend,
                            bool escaped)
{
	struct jdoc_member *m;
	size_t off;
	void *np;
	int r;

	if (jp->nstk == jp->capstk) {
		np = jdoc_grow(jp->stk, &jp->capstk, jp->nstk + 1,
		               sizeof(*jp->stk));
		if (np == NULL)
			return jdoc_fail(jp, key, ERR_NOMEM, "out of memory");
		jp->stk = np;
	}
	m = &jp->stk[jp->nstk++];
	m->key = (uint32_t)key;
	m->keyend = (uint32_t)keyend;
	m->val = 0;
	m->valend = 0;
	m->comma = JDOC_NONE;
	m->child = JDOC_NONE;
	if (!escaped) {
		m->name = (uint32_t)key + 1;
		m->namelen = (uint32_t)(keyend - key - 2);
		return 0;
	}
	off = jp->arena.len;
	if ((r = jdoc_decode(jp->s + key + 1, keyend - key - 2, &jp->arena)) !=
	    0)
		return jdoc_fail(jp, key, -r, "cannot decode key");
	m->name = (uint32_t)off;
	m->namelen = (uint32_t)(jp->arena.len - off) | JDOC_IN_ARENA;
	return 0;
}

static bool jdoc_parser_same(const struct jdoc_parser *jp, size_t i, size_t j)
{
	const char *a, *b;
	size_t la, lb;

	a = jdoc_parser_name(jp, &jp->stk[i], &la);
	b = jdoc_parser_name(jp, &jp->stk[j], &lb);
	return la == lb && memcmp(a, b, la) == 0;
}

static int jdoc_dup_fail(const struct jdoc_parser *jp, size_t first,
                         size_t again)
{
	char q[96];
	const char *name;
	unsigned line, col;
	size_t len;

	name = jdoc_parser_name(jp, &jp->stk[again], &len);
	jdoc_quote(name, len, q, sizeof(q));
	jdoc_linecol(jp->s, jp->len, jp->stk[first].key, &line, &col);
	return jdoc_fail(jp, jp->stk[again].key, ERR_DUPLICATE,
	                 "duplicate key %s (first at line %u, column %u)", q,
	                 line, col);
}

/* FNV-1a: names are short. */
static uint32_t jdoc_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Rejects duplicate names among stack members [b, e). */
static int jdoc_dupcheck(struct jdoc_parser *jp, size_t b, size_t e)
{
	size_t n = e - b, i, j, cap, mask, h, len;
	const char *name;
	uint32_t *np;

	if (n <= JDOC_DUP_LINEAR) {
		for (i = b + 1; i < e; i++)
			for (j = b; j < i; j++)
				if (jdoc_parser_same(jp, i, j))
					return jdoc_dup_fail(jp, j, i);
		return 0;
	}
	cap = 32;
	while (cap < 2 * n)
		cap *= 2;
	if (cap > jp->caphash) {
		if ((np = realloc(jp->hash, cap * sizeof(*np))) == NULL)
			return jdoc_fail(jp, jp->stk[b].key, ERR_NOMEM,
			                 "out of memory");
		jp->hash = np;
		jp->caphash = cap;
	}
	memset(jp->hash, 0, cap * sizeof(*jp->hash));
	mask = cap - 1;
	for (i = b; i < e; i++) {
		name = jdoc_parser_name(jp, &jp->stk[i], &len);
		h = jdoc_hash(name, len) & mask;
		while (jp->hash[h] != 0) {
			j = b + jp->hash[h] - 1;
			if (jdoc_parser_same(jp, i, j))
				return jdoc_dup_fail(jp, j, i);
			h = (h + 1) & mask;
		}
		jp->hash[h] = (uint32_t)(i - b + 1);
	}
	return 0;
}

static int jdoc_open(struct jdoc_parser *jp, unsigned depth, unsigned kind,
                     size_t p)
{
	struct jdoc_level *lv;
	void *np;

	if (depth >= jp->maxdepth)
		return jdoc_fail(jp, p, ERR_TOOBIG,
		                 "nesting deeper than %u levels", jp->maxdepth);
	lv = &jp->lv[depth];
	lv->kind = kind;
	lv->obj = JDOC_NONE;
	lv->base = (uint32_t)jp->nstk;
	lv->arena = (uint32_t)jp->arena.len;
	if (kind != JDOC_KIND_OBJECT ||
	    (depth > 0 && jp->lv[depth - 1].obj == JDOC_NONE))
		return 0;
	np = jdoc_grow(jp->obj, &jp->capobj, jp->nobj + 1, sizeof(*jp->obj));
	if (np == NULL)
		return jdoc_fail(jp, p, ERR_NOMEM, "out of memory");
	jp->obj = np;
	jp->obj[jp->nobj].open = (uint32_t)p;
	lv->obj = (uint32_t)jp->nobj++;
	if (depth > 0)
		jp->stk[jp->nstk - 1].child = lv->obj;
	return 0;
}

static int jdoc_close_object(struct jdoc_parser *jp, unsigned depth, size_t p)
{
	struct jdoc_level *lv = &jp->lv[depth - 1];
	size_t b = lv->base, e = jp->nstk, n = e - b;
	struct jdoc_object *o;
	void *np;
	int r;

	if ((r = jdoc_dupcheck(jp, b, e)) != 0)
		return r;
	if (lv->obj != JDOC_NONE) {
		np = jdoc_grow(jp->mem, &jp->capmem, jp->nmem + n,
		               sizeof(*jp->mem));
		if (np == NULL && n > 0)
			return jdoc_fail(jp, p, ERR_NOMEM, "out of memory");
		if (n > 0) {
			jp->mem = np;
			memcpy(jp->mem + jp->nmem, jp->stk + b,
			       n * sizeof(*jp->mem));
		}
		o = &jp->obj[lv->obj];
		o->close = (uint32_t)p;
		o->first = (uint32_t)jp->nmem;
		o->count = (uint32_t)n;
		jp->nmem += n;
	} else if (jp->arena.len > lv->arena) {
		/* Names of unrecorded objects are needed no more. */
		jp->arena.len = lv->arena;
		jp->arena.data[jp->arena.len] = '\0';
	}
	jp->nstk = b;
	return 0;
}

/*
 * The parser proper: one loop over the text with an explicit stack of open
 * containers, so nesting costs no recursion.
 */
static int jdoc_run(struct jdoc_parser *jp, size_t *rootpos)
{
	const unsigned char *s = jp->s;
	size_t n = jp->len, p = 0, start, vend;
	struct jdoc_member *m;
	unsigned depth = 0;
	char tok[32], q[96];
	const char *name;
	size_t namelen;
	bool esc;
	int r;

	if (jdoc_has_bom(s, n))
		p = 3;
	if ((r = jdoc_skip(jp, &p)) != 0)
		return r;
	if (p >= n)
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "empty document: a JSON value was expected");
	*rootpos = p;

value:
	if (p >= n)
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "unexpected end of input: a value was "
		                 "expected");
	switch (s[p]) {
	case '{':
		if ((r = jdoc_open(jp, depth, JDOC_KIND_OBJECT, p)) != 0)
			return r;
		depth++;
		p++;
		if ((r = jdoc_skip(jp, &p)) != 0)
			return r;
		if (p < n && s[p] == '}')
			goto close_object;
		goto key;
	case '[':
		if ((r = jdoc_open(jp, depth, JDOC_KIND_ARRAY, p)) != 0)
			return r;
		depth++;
		p++;
		if ((r = jdoc_skip(jp, &p)) != 0)
			return r;
		if (p < n && s[p] == ']')
			goto close_array;
		goto value;
	case '"':
		if ((r = jdoc_scan_string(jp, &p, &esc)) != 0)
			return r;
		break;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		if ((r = jdoc_scan_number(jp, &p)) != 0)
			return r;
		break;
	case 't':
	case 'f':
	case 'n':
		if ((r = jdoc_scan_literal(jp, &p)) != 0)
			return r;
		break;
	default:
		jdoc_token(s, n, p, tok, sizeof(tok));
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "unexpected %s: a value was expected", tok);
	}

after:
	if (depth == 0) {
		if ((r = jdoc_skip(jp, &p)) != 0)
			return r;
		if (p < n) {
			jdoc_token(s, n, p, tok, sizeof(tok));
			return jdoc_fail(jp, p, ERR_PARSE,
			                 "unexpected %s after the document's "
			                 "value",
			                 tok);
		}
		return 0;
	}
	vend = p;
	if ((r = jdoc_skip(jp, &p)) != 0)
		return r;
	if (jp->lv[depth - 1].kind == JDOC_KIND_OBJECT) {
		m = &jp->stk[jp->nstk - 1];
		m->valend = (uint32_t)vend;
		if (p < n && s[p] == ',') {
			m->comma = (uint32_t)p;
			p++;
			if ((r = jdoc_skip(jp, &p)) != 0)
				return r;
			if (p < n && s[p] == '}') {
				if (!(jp->flags & JDOC_JSONC))
					return jdoc_fail(
					    jp, m->comma, ERR_PARSE,
					    "trailing comma before '}' "
					    "(allowed only in JSONC)");
				goto close_object;
			}
			goto key;
		}
		if (p < n && s[p] == '}')
			goto close_object;
		name = jdoc_parser_name(jp, m, &namelen);
		jdoc_quote(name, namelen, q, sizeof(q));
		jdoc_token(s, n, p, tok, sizeof(tok));
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "unexpected %s after the value of %s: ',' or "
		                 "'}' expected",
		                 tok, q);
	}
	if (p < n && s[p] == ',') {
		start = p;
		p++;
		if ((r = jdoc_skip(jp, &p)) != 0)
			return r;
		if (p < n && s[p] == ']') {
			if (!(jp->flags & JDOC_JSONC))
				return jdoc_fail(jp, start, ERR_PARSE,
				                 "trailing comma before ']' "
				                 "(allowed only in JSONC)");
			goto close_array;
		}
		goto value;
	}
	if (p < n && s[p] == ']')
		goto close_array;
	jdoc_token(s, n, p, tok, sizeof(tok));
	return jdoc_fail(jp, p, ERR_PARSE,
	                 "unexpected %s in an array: ',' or ']' expected", tok);

key:
	if (p >= n || s[p] != '"') {
		jdoc_token(s, n, p, tok, sizeof(tok));
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "unexpected %s: a key string was expected",
		                 tok);
	}
	start = p;
	if ((r = jdoc_scan_string(jp, &p, &esc)) != 0)
		return r;
	if ((r = jdoc_push_member(jp, start, p, esc)) != 0)
		return r;
	if ((r = jdoc_skip(jp, &p)) != 0)
		return r;
	if (p >= n || s[p] != ':') {
		name = jdoc_parser_name(jp, &jp->stk[jp->nstk - 1], &namelen);
		jdoc_quote(name, namelen, q, sizeof(q));
		jdoc_token(s, n, p, tok, sizeof(tok));
		return jdoc_fail(jp, p, ERR_PARSE,
		                 "unexpected %s after key %s: ':' expected",
		                 tok, q);
	}
	p++;
	if ((r = jdoc_skip(jp, &p)) != 0)
		return r;
	jp->stk[jp->nstk - 1].val = (uint32_t)p;
	goto value;

close_object:
	if ((r = jdoc_close_object(jp, depth, p)) != 0)
		return r;
	depth--;
	p++;
	goto after;

close_array:
	depth--;
	p++;
	goto after;
}

static void jdoc_parser_free(struct jdoc_parser *jp)
{
	if (jp == NULL)
		return;
	free(jp->stk);
	free(jp->mem);
	free(jp->obj);
	free(jp->hash);
	buf_free(&jp->arena);
	free(jp);
}

/* jdoc_parse, with the nesting capped at maxdepth. */
static int jdoc_parse_depth(const char *text, size_t len, unsigned flags,
                            unsigned maxdepth, struct jdoc **out,
                            struct diag *d)
{
	struct jdoc_parser *jp = NULL;
	struct jdoc *doc = NULL;
	size_t root = 0;
	int r;

	if (out == NULL || (text == NULL && len > 0)) {
		r = diag_set(d, ERR_INVALID, 0, 0, "jdoc_parse: no text");
		goto out;
	}
	if (len >= JDOC_MAX_LEN) {
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "document of %zu bytes is larger than the %zu "
		             "bytes supported",
		             len, JDOC_MAX_LEN - 1);
		goto out;
	}
	if ((doc = calloc(1, sizeof(*doc))) == NULL ||
	    (doc->text = malloc(len + 1)) == NULL ||
	    (jp = calloc(1, sizeof(*jp))) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (len > 0)
		memcpy(doc->text, text, len);
	doc->text[len] = '\0';
	doc->len = len;
	doc->flags = flags & JDOC_JSONC;
	jp->s = (const unsigned char *)doc->text;
	jp->len = len;
	jp->flags = doc->flags;
	jp->maxdepth = maxdepth;

	jp->d = d;
	if ((r = jdoc_run(jp, &root)) != 0)
		goto out;
	doc->root = (uint32_t)root;
	doc->mem = jp->mem;
	doc->nmem = jp->nmem;
	doc->obj = jp->obj;
	doc->nobj = jp->nobj;
	doc->arena = jp->arena;
	jp->mem = NULL;
	jp->obj = NULL;
	jp->arena = (struct buf)BUF_INIT;
	*out = doc;
	doc = NULL;
	r = 0;
out:
	jdoc_parser_free(jp);
	jdoc_free(doc);
	return r;
}

int jdoc_parse(const char *text, size_t len, unsigned flags, struct jdoc **out,
               struct diag *d)
{
	return jdoc_parse_depth(text, len, flags, JDOC_MAX_DEPTH, out, d);
}

void jdoc_free(struct jdoc *doc)
{
	if (doc == NULL)
		return;
	free(doc->text);
	free(doc->mem);
	free(doc->obj);
	buf_free(&doc->arena);
	free(doc);
}

const char *jdoc_text(const struct jdoc *doc, size_t *len)
{
	if (len != NULL)
		*len = doc->len;
	return doc->text;
}

static const char *jdoc_name(const struct jdoc *doc,
                             const struct jdoc_member *m, size_t *len)
{
	*len = m->namelen & ~JDOC_IN_ARENA;
	if (m->namelen & JDOC_IN_ARENA)
		return doc->arena.data + m->name;
	return doc->text + m->name;
}

static bool jdoc_root_is_object(const struct jdoc *doc)
{
	return doc->nobj > 0 && doc->text[doc->root] == '{';
}

/* Index in doc->mem of member name of object oi, or JDOC_NONE. */
static uint32_t jdoc_find(const struct jdoc *doc, uint32_t oi, const char *name,
                          size_t len)
{
	const struct jdoc_object *o = &doc->obj[oi];
	const char *mn;
	size_t i, ml;

	for (i = 0; i < o->count; i++) {
		mn = jdoc_name(doc, &doc->mem[o->first + i], &ml);
		if (ml == len && memcmp(mn, name, len) == 0)
			return (uint32_t)(o->first + i);
	}
	return JDOC_NONE;
}

/* Writes path[0 .. n) as a.b.c for a message. */
static void jdoc_path_str(const char *const *path, size_t n, char *out,
                          size_t outsz)
{
	size_t i, o = 0, l;

	out[0] = '\0';
	if (n == 0) {
		(void)snprintf(out, outsz, "(root)");
		return;
	}
	for (i = 0; i < n && o + 1 < outsz; i++) {
		l = strlen(path[i]);
		if (i > 0)
			out[o++] = '.';
		if (l > outsz - o - 1)
			l = outsz - o - 1;
		memcpy(out + o, path[i], l);
		o += l;
		out[o] = '\0';
	}
}

/*
 * Follows path from the root. Returns 0 with *oi the object, or -ERR_TYPE /
 * -ERR_NOENT; *have tells how many members of the path exist (objects).
 */
static int jdoc_lookup(const struct jdoc *doc, const char *const *path,
                       size_t depth, uint32_t *oi, size_t *have, struct diag *d)
{
	char ps[256];
	uint32_t o = 0, mi;
	size_t i;

	*have = 0;
	if (depth > 0 && path == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "no path");
	if (!jdoc_root_is_object(doc))
		return diag_set(d, ERR_TYPE, 0, 0,
		                "the document's root is not an object");
	for (i = 0; i < depth; i++) {
		if (path[i] == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "no name in the path");
		mi = jdoc_find(doc, o, path[i], strlen(path[i]));
		if (mi == JDOC_NONE) {
			*oi = o;
			*have = i;
			jdoc_path_str(path, i + 1, ps, sizeof(ps));
			return diag_set(d, ERR_NOENT, 0, 0,
			                "%s: no such member", ps);
		}
		if (doc->mem[mi].child == JDOC_NONE) {
			unsigned line, col;

			jdoc_path_str(path, i + 1, ps, sizeof(ps));
			jdoc_linecol((const unsigned char *)doc->text, doc->len,
			             doc->mem[mi].val, &line, &col);
			return diag_set(d, ERR_TYPE, line, col,
			                "%s is not an object", ps);
		}
		o = doc->mem[mi].child;
	}
	*oi = o;
	*have = depth;
	return 0;
}

int jdoc_find_object(const struct jdoc *doc, const char *const *path,
                     size_t depth, struct diag *d)
{
	uint32_t oi;
	size_t have;

	return jdoc_lookup(doc, path, depth, &oi, &have, d);
}

void jdoc_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int jdoc_member_names(const struct jdoc *doc, const char *const *path,
                      size_t depth, char ***names, size_t *n, struct diag *d)
{
	const struct jdoc_object *o;
	char **v = NULL, q[96];
	const char *name;
	size_t i, have, len, cnt = 0;
	uint32_t oi;
	int r;

	if ((r = jdoc_lookup(doc, path, depth, &oi, &have, d)) != 0)
		goto out;
	o = &doc->obj[oi];
	if ((v = calloc(o->count ? o->count : 1, sizeof(*v))) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	for (cnt = 0; cnt < o->count; cnt++) {
		name = jdoc_name(doc, &doc->mem[o->first + cnt], &len);
		if (memchr(name, '\0', len) != NULL) {
			unsigned line, col;

			jdoc_quote(name, len, q, sizeof(q));
			jdoc_linecol((const unsigned char *)doc->text, doc->len,
			             doc->mem[o->first + cnt].key, &line, &col);
			r = diag_set(d, ERR_INVALID, line, col,
			             "member name %s holds a NUL character, "
			             "which is not supported",
			             q);
			goto out;
		}
		if ((v[cnt] = malloc(len + 1)) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		memcpy(v[cnt], name, len);
		v[cnt][len] = '\0';
	}
	*names = v;
	*n = cnt;
	v = NULL;
	r = 0;
out:
	if (v != NULL) {
		for (i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
	}
	return r;
}

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
		jdoc_conv_skip(c);
		if (c->p >= c->len) {
			r = -ERR_INTERNAL;
			goto out;
		}
		if (c->s[c->p] == '}') {
			c->p++;
			break;
		}
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
		jdoc_conv_skip(c);
		if (c->p < c->len && c->s[c->p] == ',')
			c->p++;
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
		jdoc_conv_skip(c);
		if (c->p >= c->len) {
			r = -ERR_INTERNAL;
			goto out;
		}
		if (c->s[c->p] == ']') {
			c->p++;
			break;
		}
		if ((r = jdoc_conv_value(c, &v, budget)) != 0)
			goto out;
		if (json_array_append_new(arr, v) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
		jdoc_conv_skip(c);
		if (c->p < c->len && c->s[c->p] == ',')
			c->p++;
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
static int jdoc_convert(const char *text, size_t len, size_t pos,
                        const char *what, json_t **out, struct diag *d)
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

int jdoc_member_span(const struct jdoc *doc, const char *const *path,
                     size_t depth, const char *name, size_t *begin, size_t *end,
                     struct diag *d)
{
	uint32_t oi, mi;
	size_t have;
	int r;

	if ((r = jdoc_lookup(doc, path, depth, &oi, &have, d)) != 0)
		return r;
	if ((mi = jdoc_find(doc, oi, name, strlen(name))) == JDOC_NONE)
		return diag_set(d, ERR_NOENT, 0, 0, "%s: no such member", name);
	*begin = doc->mem[mi].val;
	*end = doc->mem[mi].valend;
	return 0;
}

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
                            char **out, size_t *outlen, struct diag *d)
{
	size_t i;

	if (doc == NULL || out == NULL || outlen == NULL ||
	    (depth > 0 && path == NULL) || (n > 0 && edits == NULL))
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
	uint32_t chain[JDOC_MAX_DEPTH + 1], mi;
	struct jedit_obj eo;
	struct jedit_style st;
	struct buf res = BUF_INIT;
	json_t *net = NULL, *wrap;
	struct jdoc *chk = NULL;
	char ps[256];
	size_t have, i, k, lvl;
	char *text;
	int r;

	memset(&eo, 0, sizeof(eo));
	memset(&st, 0, sizeof(st));
	if ((r = jedit_check_args(doc, path, depth, edits, n, out, outlen,
	                          d)) != 0)
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
		r = buf_append(&res, doc->text, doc->len);
	} else {
		if ((r = buf_reserve(&res, doc->len + eo.t.len)) != 0 ||
		    (r = buf_append(&res, doc->text, eo.open)) != 0 ||
		    (r = buf_append(&res, eo.t.data, eo.t.len)) != 0 ||
		    (r = buf_append(&res, doc->text + eo.close + 1,
		                    doc->len - eo.close - 1)) != 0)
			goto fail;
		/*
		 * The bytes around the object are the original ones, which
		 * parsed; so the result parses if and only if the new object
		 * does, at its depth. Checking it alone spares a second pass
		 * over a large file. Its members must also be the ones the
		 * splices meant, where they meant them: a member swallowed by
		 * a comment would parse, yet be lost.
		 */
		r = jdoc_parse_depth(res.data + eo.open, eo.t.len, doc->flags,
		                     JDOC_MAX_DEPTH - eo.level + 1, &chk, NULL);
		if (r != 0 || !jedit_verify(&eo, chk)) {
			r = diag_set(d, ERR_INTERNAL, 0, 0,
			             "the edit would not give the intended "
			             "JSON; nothing written");
			goto out;
		}
	}
	if (r != 0)
		goto fail;
	if ((text = buf_steal(&res, outlen)) == NULL) {
		r = -ERR_NOMEM;
		goto fail;
	}
	*out = text;
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
	buf_free(&res);
	return r;
}
