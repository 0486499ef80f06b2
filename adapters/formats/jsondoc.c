/* SPDX-License-Identifier: MIT */
/* The JSON and JSONC document model: a validating parser that records the
 * spans of members and objects, and lookups by member path. */
#include "jsondoc.h"

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

/*
 * Offsets are 32-bit to keep the per-member records small: the parser has to
 * get through a 5 MB ~/.claude.json in a few milliseconds. No configuration
 * file comes near this limit.
 */
#define JDOC_MAX_LEN ((size_t)1 << 30)
/* Objects with at most this many members are checked for duplicates pairwise.
 */
#define JDOC_DUP_LINEAR 8

#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JDOC_SWAR_CTZ 1
#else
#define JDOC_SWAR_CTZ 0
#endif

/* x86-64 always has SSE2: sixteen bytes at a time where eight were. */
#if defined(__SSE2__) && JDOC_SWAR_CTZ
#include <emmintrin.h>
#define JDOC_SSE2 1
#else
#define JDOC_SSE2 0
#endif

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
void *jdoc_grow(void *p, size_t *cap, size_t need, size_t elsz)
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

/* Bytes that may not follow a number or a literal without a separator. */
static bool jdoc_is_word(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '.' || c == '+' || c == '-' ||
	       c == '_' || c >= 0x80;
}

/* 1-based line and column (in characters) of an offset. */
void jdoc_linecol(const unsigned char *s, size_t len, size_t pos,
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
void jdoc_quote(const char *name, size_t len, char *out, size_t outsz)
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
bool jdoc_utf8_valid(const char *s, size_t len)
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

/* True for the byte after a backslash of a two-byte escape (\n, ...). */
static inline bool jdoc_simple_escape(unsigned c)
{
	switch (c) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return true;
	default:
		return false;
	}
}

/*
 * Runs from q to the first byte that is '"', '\\', a control character or
 * not ASCII, or to a byte fewer than eight before end. The caller looks at
 * the byte it stops on (without ctz, the eight-byte step stops anywhere in
 * the word that holds one).
 */
static inline const unsigned char *jdoc_run_to_special(const unsigned char *q,
                                                       const unsigned char *end)
{
	uint64_t w, m;

#if JDOC_SSE2
	const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'),
	              blank = _mm_set1_epi8(0x20);

	while (end - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		/* Signed: both the control characters and the bytes of 0x80
		 * and up are less than a blank. */
		__m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
		                                      _mm_cmpeq_epi8(v, bs)),
		                         _mm_cmplt_epi8(v, blank));
		unsigned mask = (unsigned)_mm_movemask_epi8(x);

		if (mask != 0)
			return q + __builtin_ctz(mask);
		q += 16;
	}
#endif
	while (end - q >= 8) {
		memcpy(&w, q, 8);
		if ((m = jdoc_swar_special(w)) != 0) {
#if JDOC_SWAR_CTZ
			q += (unsigned)__builtin_ctzll(m) >> 3;
#endif
			return q;
		}
		q += 8;
	}
	return q;
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
	unsigned c;
	size_t k;
	int r;

	for (;;) {
		q = jdoc_run_to_special(q, end);
		if (q >= end)
			return jdoc_fail(jp, *pp, ERR_PARSE,
			                 "unterminated string");
		c = *q;
		if (c == '"')
			break;
		if (c == '\\') {
			/* The common escapes here, the rest (and every error)
			 * in jdoc_scan_escape. */
			esc = true;
			if (end - q >= 2 && jdoc_simple_escape(q[1])) {
				q += 2;
				continue;
			}
			if ((r = jdoc_scan_escape(jp, &q)) != 0)
				return r;
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

/* jdoc_skip past its first byte: runs of blanks, eight spaces at a time
 * (the indentation of pretty-printed files). */
static int jdoc_skip_run(struct jdoc_parser *jp, size_t *pp)
{
	const uint64_t spaces = 0x2020202020202020ull;
	const unsigned char *s = jp->s;
	size_t p = *pp, n = jp->len;
	uint64_t w;
	int r;

	for (;;) {
		for (;;) {
			while (p < n && jdoc_is_ws(s[p]) && s[p] != ' ')
				p++;
			while (n - p >= 8 &&
			       (memcpy(&w, s + p, 8), w == spaces))
				p += 8;
			if (p >= n || !jdoc_is_ws(s[p]))
				break;
			p++;
		}
		if (p >= n || s[p] != '/')
			break;
		if ((r = jdoc_skip_comment(jp, &p)) != 0)
			return r;
	}
	*pp = p;
	return 0;
}

/* Skips whitespace and, in JSONC, comments: nothing to do, most often. */
static inline int jdoc_skip(struct jdoc_parser *jp, size_t *pp)
{
	unsigned c;

	if (*pp >= jp->len)
		return 0;
	c = jp->s[*pp];
	if (!jdoc_is_ws(c) && c != '/')
		return 0;
	return jdoc_skip_run(jp, pp);
}

/*
 * Decodes the content of a valid JSON string (the bytes between its quotes)
 * and appends it to out.
 */
int jdoc_decode(const unsigned char *s, size_t len, struct buf *out)
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
int jdoc_parse_depth(const char *text, size_t len, unsigned flags,
                     unsigned maxdepth, struct jdoc **out, struct diag *d)
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
	if (flags & JDOC_BORROW && text == NULL)
		text = "";
	if ((doc = calloc(1, sizeof(*doc))) == NULL ||
	    (jp = calloc(1, sizeof(*jp))) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (flags & JDOC_BORROW) {
		doc->text = (char *)(uintptr_t)text;
		doc->borrowed = true;
	} else {
		if ((doc->text = malloc(len + 1)) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		if (len > 0)
			memcpy(doc->text, text, len);
		doc->text[len] = '\0';
	}
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
	if (!doc->borrowed)
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

/* Index in doc->mem of member name of object oi, or JDOC_NONE. */
uint32_t jdoc_find(const struct jdoc *doc, uint32_t oi, const char *name,
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
void jdoc_path_str(const char *const *path, size_t n, char *out, size_t outsz)
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
int jdoc_lookup(const struct jdoc *doc, const char *const *path, size_t depth,
                uint32_t *oi, size_t *have, struct diag *d)
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
