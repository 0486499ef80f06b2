/* SPDX-License-Identifier: MIT */
/* The JSON-RPC relay of `mcpfleet exec`: framing, a validating span scanner,
 * the tool policy, rate limits and the pending-request table. */
#include "relay.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "jsonutil.h"
#include "rate.h"

#define RELAY_TRACK     6    /* depths whose meaning the scanner follows */
#define RELAY_HASH      8192 /* pending table buckets, a power of two */
#define RELAY_SNIFF_IDS 16   /* ids found in one unusable server line */
#define RELAY_KEY_MAX   (RELAY_ID_MAX + 1) /* a type byte and the id */

/* A value's bytes in the text being scanned; len 0: absent. */
struct relay_span {
	size_t off;
	size_t len;
};

/* What a container means, for the depths the scanner follows. */
enum relay_ctx {
	RC_OTHER,
	RC_ROOT,
	RC_BATCH,
	RC_MSG,
	RC_PARAMS,
	RC_RESULT,
	RC_ERROR,
	RC_TOOLS,
	RC_TOOL
};

/* The member names the relay reads. */
enum relay_key {
	RK_OTHER,
	RK_JSONRPC,
	RK_ID,
	RK_METHOD,
	RK_PARAMS,
	RK_RESULT,
	RK_ERROR,
	RK_NAME,
	RK_URI,
	RK_ISERROR,
	RK_TOOLS,
	RK_CODE
};

/* One message: the root object, or one element of a batch. */
struct relay_msg {
	struct relay_span whole;
	bool object;     /* the message is an object */
	bool dup;        /* a member the relay reads is given twice */
	bool tools_seen; /* result.tools is an array */
	bool tools_over; /* ... of more than RELAY_TOOLS_MAX elements */
	struct relay_span jsonrpc, id, method, params, result, error;
	struct relay_span name, uri; /* params.name, params.uri */
	struct relay_span iserror;   /* result.isError */
	struct relay_span code;      /* error.code */
	struct relay_span tools;     /* result.tools */
	size_t tools_first, tools_n; /* its elements in relay_scan.tools */
};

/* One element of a tools/list result. */
struct relay_tool {
	struct relay_span whole;
	struct relay_span name;
	bool drop; /* its name is given twice; then: filtered out */
};

struct relay_scan {
	const unsigned char *t;
	size_t n;
	struct relay_msg *msgs;
	size_t nmsgs, capmsgs;
	struct relay_tool *tools;
	size_t ntools, captools;
	bool batch;
	bool tool_added; /* the current tools element has an entry */
	const char *why; /* why the text is not JSON */
	size_t pos;      /* where */
	unsigned char ctx[RELAY_TRACK + 1];
	unsigned char key[RELAY_TRACK + 1];
	size_t vstart[RELAY_TRACK + 1];
	uint64_t bits[RELAY_DEPTH_MAX / 64]; /* per depth: 1 object, 0 array */
};

/* A tolerant scan of a line that cannot be parsed (not JSON, or too large
 * to keep), looking for the ids it answers. */
struct relay_sniff {
	unsigned depth;
	bool started, root_array;
	bool in_str, esc, last_id, want;
	unsigned char lastlen;
	char last[3];
	bool cap_on, cap_str, cap_esc, cap_over;
	size_t caplen;
	char cap[RELAY_ID_MAX + 8];
	size_t nids;
	size_t idlen[RELAY_SNIFF_IDS];
	char ids[RELAY_SNIFF_IDS][RELAY_KEY_MAX];
};

/* One direction's line assembly. */
struct relay_side {
	char *line;
	size_t len, cap;
	bool discarding; /* inside a line over max_message */
	size_t dropped;  /* its bytes so far */
	struct relay_sniff sniff;
};

enum relay_kind {
	RELAY_KIND_CALL,
	RELAY_KIND_READ,
	RELAY_KIND_PROMPT,
	RELAY_KIND_LIST
};

static const char *const relay_kind_method[] = {"tools/call", "resources/read",
                                                "prompts/get", "tools/list"};

/* A request waiting for its answer. */
struct relay_pending {
	struct relay_pending *hnext;
	struct relay_pending *older, *newer;
	enum relay_kind kind;
	int64_t at_ms, start_us;
	uint64_t bytes_in;
	uint32_t hash;
	size_t keylen;
	char key[RELAY_KEY_MAX];
	char name[RELAY_NAME_MAX + 1];
};

struct relay {
	char *server;
	struct strv allow, deny;
	struct limiter *limiter;
	size_t max;
	struct relay_hooks hooks;
	struct relay_pending *hash[RELAY_HASH];
	struct relay_pending *oldest, *newest;
	size_t npending;
	struct buf scratch; /* decoded names */
	struct buf ans;     /* the relay's answers to one line */
	struct buf out;     /* a rebuilt message */
	struct relay_side client, srv;
	struct relay_scan scan;
};

const char *call_outcome_name(enum call_outcome o)
{
	switch (o) {
	case CALL_OUTCOME_OK:
		return "ok";
	case CALL_OUTCOME_ERROR:
		return "error";
	case CALL_OUTCOME_DENIED:
		return "denied";
	case CALL_OUTCOME_RATE_LIMITED:
		return "rate_limited";
	}
	return "?";
}

/* ---- JSON lexical pieces ---- */

static bool relay_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int relay_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The length of the valid UTF-8 sequence at q (avail bytes), 0 if none. */
static size_t relay_utf8_len(const unsigned char *q, size_t avail)
{
	unsigned char c = q[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return avail >= 2 && (q[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (avail < 3 || (q[1] & 0xc0) != 0x80 || (q[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && q[1] < 0xa0) || (c == 0xed && q[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (avail < 4 || (q[1] & 0xc0) != 0x80 ||
		    (q[2] & 0xc0) != 0x80 || (q[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && q[1] < 0x90) || (c == 0xf4 && q[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Nonzero when one of the 8 bytes of w needs a close look inside a string:
 * a control character, '"', '\\' or a non-ASCII byte. */
static uint64_t relay_swar_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull;
	const uint64_t high = 0x8080808080808080ull;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) |
	        ((w - ones * 0x20) & ~w) | w) &
	       high;
}

/* Scans the string starting with the quote at *pp; on success *pp is past
 * the closing quote, on failure at the offending byte with *why set. */
static int relay_json_string(const unsigned char *t, size_t n, size_t *pp,
                             const char **why)
{
	size_t p = *pp + 1, k;
	unsigned char c, e;
	uint64_t w;
	int i;

	for (;;) {
		while (p + 8 <= n) {
			memcpy(&w, t + p, 8);
			if (relay_swar_special(w))
				break;
			p += 8;
		}
		if (p >= n) {
			*why = "unterminated string";
			goto fail;
		}
		c = t[p];
		if (c == '"') {
			*pp = p + 1;
			return 0;
		}
		if (c == '\\') {
			if (p + 1 >= n) {
				*why = "unterminated string";
				goto fail;
			}
			e = t[p + 1];
			if (e == 'u') {
				for (i = 0; i < 4; i++)
					if (p + 2 + (size_t)i >= n ||
					    relay_hex(t[p + 2 + i]) < 0) {
						*why = "invalid \\u escape";
						goto fail;
					}
				p += 6;
			} else if (e == '"' || e == '\\' || e == '/' ||
			           e == 'b' || e == 'f' || e == 'n' ||
			           e == 'r' || e == 't') {
				p += 2;
			} else {
				*why = "invalid escape in a string";
				goto fail;
			}
			continue;
		}
		if (c < 0x20) {
			*why = "control character in a string";
			goto fail;
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		if ((k = relay_utf8_len(t + p, n - p)) == 0) {
			*why = "invalid UTF-8 in a string";
			goto fail;
		}
		p += k;
	}
fail:
	*pp = p;
	return -ERR_PARSE;
}

static int relay_json_number(const unsigned char *t, size_t n, size_t *pp,
                             const char **why)
{
	if (jsonutil_scan_number(t, n, pp))
		return 0;
	*why = "invalid number";
	return -ERR_PARSE;
}

static int relay_json_literal(const unsigned char *t, size_t n, size_t *pp,
                              const char **why)
{
	static const char *const words[] = {"true", "false", "null"};
	size_t i, l, p = *pp;

	for (i = 0; i < 3; i++) {
		l = strlen(words[i]);
		if (n - p >= l && memcmp(t + p, words[i], l) == 0) {
			*pp = p + l;
			return 0;
		}
	}
	*why = "unexpected character";
	return -ERR_PARSE;
}

/*
 * Decodes the valid JSON string at s (len bytes, quotes included) into dst.
 * Returns the decoded length, or SIZE_MAX when it exceeds cap. The result
 * is never longer than len. Lone surrogates become U+FFFD.
 */
static size_t relay_str_decode(const unsigned char *s, size_t len, char *dst,
                               size_t cap)
{
	size_t i = 1, o = 0, end = len - 1, need;
	unsigned cp, lo;
	unsigned char e;
	char c;

	while (i < end) {
		if (s[i] != '\\') {
			if (o >= cap)
				return SIZE_MAX;
			dst[o++] = (char)s[i++];
			continue;
		}
		e = s[i + 1];
		if (e == 'u') {
			cp = (unsigned)(relay_hex(s[i + 2]) << 12 |
			                relay_hex(s[i + 3]) << 8 |
			                relay_hex(s[i + 4]) << 4 |
			                relay_hex(s[i + 5]));
			i += 6;
			if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= end &&
			    s[i] == '\\' && s[i + 1] == 'u') {
				lo = (unsigned)(relay_hex(s[i + 2]) << 12 |
				                relay_hex(s[i + 3]) << 8 |
				                relay_hex(s[i + 4]) << 4 |
				                relay_hex(s[i + 5]));
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (lo - 0xdc00);
					i += 6;
				} else {
					cp = 0xfffd;
				}
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = 0xfffd;
			}
			need = cp < 0x80      ? 1
			       : cp < 0x800   ? 2
			       : cp < 0x10000 ? 3
			                      : 4;
			if (o + need > cap)
				return SIZE_MAX;
			if (cp < 0x80) {
				dst[o++] = (char)cp;
			} else if (cp < 0x800) {
				dst[o++] = (char)(0xc0 | cp >> 6);
				dst[o++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				dst[o++] = (char)(0xe0 | cp >> 12);
				dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				dst[o++] = (char)(0x80 | (cp & 0x3f));
			} else {
				dst[o++] = (char)(0xf0 | cp >> 18);
				dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				dst[o++] = (char)(0x80 | (cp & 0x3f));
			}
			continue;
		}
		switch (e) {
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		default:
			c = (char)e;
			break;
		}
		if (o >= cap)
			return SIZE_MAX;
		dst[o++] = c;
		i += 2;
	}
	return o;
}

/* The canonical key of the id value v (a valid JSON value): 's' and the
 * decoded string, 'n' and the number's text, 'z' for null. Returns its
 * length, or 0 when v is not an id or its key exceeds RELAY_KEY_MAX. */
static size_t relay_id_key(const unsigned char *v, size_t len,
                           char out[RELAY_KEY_MAX])
{
	size_t d;

	if (len == 0)
		return 0;
	if (v[0] == '"') {
		out[0] = 's';
		d = relay_str_decode(v, len, out + 1, RELAY_KEY_MAX - 1);
		return d == SIZE_MAX ? 0 : d + 1;
	}
	if (v[0] == '-' || relay_is_digit(v[0])) {
		if (len == 2 && v[0] == '-' && v[1] == '0') {
			v++;
			len--;
		}
		if (len + 1 > RELAY_KEY_MAX)
			return 0;
		out[0] = 'n';
		memcpy(out + 1, v, len);
		return len + 1;
	}
	if (v[0] == 'n') {
		out[0] = 'z';
		return 1;
	}
	return 0;
}

/* ---- the scanner ---- */

static int relay_scan_fail(struct relay_scan *s, size_t pos, const char *why)
{
	s->why = why;
	s->pos = pos;
	return -ERR_PARSE;
}

static struct relay_msg *relay_scan_msg_new(struct relay_scan *s, size_t p)
{
	struct relay_msg *nv;
	size_t ncap;

	if (s->nmsgs == s->capmsgs) {
		ncap = s->capmsgs ? s->capmsgs * 2 : 4;
		if ((nv = realloc(s->msgs, ncap * sizeof(*nv))) == NULL)
			return NULL;
		s->msgs = nv;
		s->capmsgs = ncap;
	}
	nv = &s->msgs[s->nmsgs++];
	memset(nv, 0, sizeof(*nv));
	nv->whole.off = p;
	return nv;
}

static int relay_scan_tool_new(struct relay_scan *s, struct relay_msg *m,
                               size_t p)
{
	struct relay_tool *nv;
	size_t ncap;

	s->tool_added = false;
	if (m->tools_n >= RELAY_TOOLS_MAX) {
		m->tools_over = true;
		return 0;
	}
	if (s->ntools == s->captools) {
		ncap = s->captools ? s->captools * 2 : 16;
		if ((nv = realloc(s->tools, ncap * sizeof(*nv))) == NULL)
			return -ERR_NOMEM;
		s->tools = nv;
		s->captools = ncap;
	}
	nv = &s->tools[s->ntools++];
	memset(nv, 0, sizeof(*nv));
	nv->whole.off = p;
	m->tools_n++;
	s->tool_added = true;
	return 0;
}

/* A value starts at p inside the container at depth d (0: the root). */
static int relay_scan_vstart(struct relay_scan *s, unsigned d, size_t p,
                             unsigned char c)
{
	unsigned ctx = d == 0             ? RC_ROOT
	               : d <= RELAY_TRACK ? s->ctx[d]
	                                  : RC_OTHER;
	unsigned key = d >= 1 && d <= RELAY_TRACK ? s->key[d] : RK_OTHER;
	unsigned next = RC_OTHER;
	struct relay_msg *m = s->nmsgs ? &s->msgs[s->nmsgs - 1] : NULL;
	int r;

	if (d <= RELAY_TRACK)
		s->vstart[d] = p;
	switch (ctx) {
	case RC_ROOT:
		if (c == '[') {
			s->batch = true;
			next = RC_BATCH;
			break;
		}
		/* fallthrough */
	case RC_BATCH:
		if (s->nmsgs >= RELAY_BATCH_MAX)
			return -ERR_TOOBIG;
		if ((m = relay_scan_msg_new(s, p)) == NULL)
			return -ERR_NOMEM;
		if (c == '{') {
			m->object = true;
			next = RC_MSG;
		}
		break;
	case RC_MSG:
		if (c == '{' && key == RK_PARAMS)
			next = RC_PARAMS;
		else if (c == '{' && key == RK_RESULT)
			next = RC_RESULT;
		else if (c == '{' && key == RK_ERROR)
			next = RC_ERROR;
		break;
	case RC_RESULT:
		if (c == '[' && key == RK_TOOLS && !m->tools_seen) {
			m->tools_seen = true;
			m->tools_first = s->ntools;
			m->tools_n = 0;
			next = RC_TOOLS;
		}
		break;
	case RC_TOOLS:
		if ((r = relay_scan_tool_new(s, m, p)) != 0)
			return r;
		if (c == '{' && s->tool_added)
			next = RC_TOOL;
		break;
	default:
		break;
	}
	if ((c == '{' || c == '[') && d + 1 <= RELAY_TRACK) {
		s->ctx[d + 1] = (unsigned char)next;
		s->key[d + 1] = RK_OTHER;
	}
	return 0;
}

static void relay_span_set(struct relay_msg *m, struct relay_span *f,
                           size_t off, size_t len)
{
	if (f->len != 0)
		m->dup = true;
	f->off = off;
	f->len = len;
}

/* The value that started inside the container at depth d ends at end. */
static void relay_scan_vend(struct relay_scan *s, unsigned d, size_t end)
{
	unsigned ctx = d == 0             ? RC_ROOT
	               : d <= RELAY_TRACK ? s->ctx[d]
	                                  : RC_OTHER;
	unsigned key = d >= 1 && d <= RELAY_TRACK ? s->key[d] : RK_OTHER;
	struct relay_msg *m = s->nmsgs ? &s->msgs[s->nmsgs - 1] : NULL;
	struct relay_tool *tl;
	size_t off, len;

	if (d > RELAY_TRACK)
		return;
	off = s->vstart[d];
	len = end - off;
	switch (ctx) {
	case RC_ROOT:
		if (!s->batch && m != NULL)
			m->whole.len = len;
		break;
	case RC_BATCH:
		m->whole.len = len;
		break;
	case RC_MSG:
		switch (key) {
		case RK_JSONRPC:
			relay_span_set(m, &m->jsonrpc, off, len);
			break;
		case RK_ID:
			relay_span_set(m, &m->id, off, len);
			break;
		case RK_METHOD:
			relay_span_set(m, &m->method, off, len);
			break;
		case RK_PARAMS:
			relay_span_set(m, &m->params, off, len);
			break;
		case RK_RESULT:
			relay_span_set(m, &m->result, off, len);
			break;
		case RK_ERROR:
			relay_span_set(m, &m->error, off, len);
			break;
		default:
			break;
		}
		break;
	case RC_PARAMS:
		if (key == RK_NAME)
			relay_span_set(m, &m->name, off, len);
		else if (key == RK_URI)
			relay_span_set(m, &m->uri, off, len);
		break;
	case RC_RESULT:
		if (key == RK_ISERROR)
			relay_span_set(m, &m->iserror, off, len);
		else if (key == RK_TOOLS)
			relay_span_set(m, &m->tools, off, len);
		break;
	case RC_ERROR:
		if (key == RK_CODE)
			relay_span_set(m, &m->code, off, len);
		break;
	case RC_TOOLS:
		if (s->tool_added)
			s->tools[s->ntools - 1].whole.len = len;
		break;
	case RC_TOOL:
		if (key == RK_NAME) {
			tl = &s->tools[s->ntools - 1];
			if (tl->name.len != 0)
				tl->drop = true;
			tl->name.off = off;
			tl->name.len = len;
		}
		break;
	default:
		break;
	}
}

/* Notes which member the key at [start, end) names, in the object at depth
 * d. */
static void relay_scan_key(struct relay_scan *s, unsigned d, size_t start,
                           size_t end)
{
	static const struct {
		unsigned char ctx, key;
		const char *name;
	} names[] = {
	    {RC_MSG, RK_JSONRPC, "jsonrpc"},    {RC_MSG, RK_ID, "id"},
	    {RC_MSG, RK_METHOD, "method"},      {RC_MSG, RK_PARAMS, "params"},
	    {RC_MSG, RK_RESULT, "result"},      {RC_MSG, RK_ERROR, "error"},
	    {RC_PARAMS, RK_NAME, "name"},       {RC_PARAMS, RK_URI, "uri"},
	    {RC_RESULT, RK_ISERROR, "isError"}, {RC_RESULT, RK_TOOLS, "tools"},
	    {RC_ERROR, RK_CODE, "code"},        {RC_TOOL, RK_NAME, "name"},
	};
	char k[16];
	size_t i, kl;
	unsigned ctx;

	if (d == 0 || d > RELAY_TRACK)
		return;
	s->key[d] = RK_OTHER;
	ctx = s->ctx[d];
	if (ctx < RC_MSG)
		return;
	kl = relay_str_decode(s->t + start, end - start, k, sizeof(k));
	if (kl == SIZE_MAX)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].ctx == ctx && strlen(names[i].name) == kl &&
		    memcmp(names[i].name, k, kl) == 0) {
			s->key[d] = names[i].key;
			return;
		}
}

enum relay_state {
	RS_VALUE,
	RS_VALUE_OR_CLOSE,
	RS_KEY_OR_CLOSE,
	RS_KEY,
	RS_COLON,
	RS_AFTER
};

static bool relay_scan_is_object(const struct relay_scan *s, unsigned d)
{
	return (s->bits[(d - 1) / 64] >> ((d - 1) % 64)) & 1u;
}

/*
 * Validates text as one JSON value (RFC 8259, UTF-8) without recursion and
 * notes the spans the relay reads. Returns 0; -ERR_PARSE with s->why and
 * s->pos; -ERR_TOOBIG for a batch of more than RELAY_BATCH_MAX; -ERR_NOMEM.
 */
static int relay_scan_run(struct relay_scan *s, const char *text, size_t n)
{
	const unsigned char *t = (const unsigned char *)text;
	enum relay_state st = RS_VALUE;
	const char *why = NULL;
	unsigned d = 0;
	size_t p = 0, start;
	unsigned char c;
	uint64_t bit;
	int r;

	s->t = t;
	s->n = n;
	s->nmsgs = 0;
	s->ntools = 0;
	s->batch = false;
	s->why = NULL;
	s->pos = 0;
	for (;;) {
		while (p < n && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' ||
		                 t[p] == '\r'))
			p++;
		if (p == n) {
			if (d == 0 && st == RS_AFTER)
				return 0;
			return relay_scan_fail(s, p, "unexpected end of text");
		}
		c = t[p];
		switch (st) {
		case RS_VALUE_OR_CLOSE:
			if (c == ']')
				goto close;
			/* fallthrough */
		case RS_VALUE:
			if ((r = relay_scan_vstart(s, d, p, c)) != 0)
				return r;
			if (c == '{' || c == '[') {
				if (d >= RELAY_DEPTH_MAX)
					return relay_scan_fail(
					    s, p, "nested too deeply");
				bit = (uint64_t)1 << (d % 64);
				if (c == '{')
					s->bits[d / 64] |= bit;
				else
					s->bits[d / 64] &= ~bit;
				d++;
				p++;
				st = c == '{' ? RS_KEY_OR_CLOSE
				              : RS_VALUE_OR_CLOSE;
				continue;
			}
			if (c == '"')
				r = relay_json_string(t, n, &p, &why);
			else if (c == '-' || relay_is_digit(c))
				r = relay_json_number(t, n, &p, &why);
			else
				r = relay_json_literal(t, n, &p, &why);
			if (r != 0)
				return relay_scan_fail(s, p, why);
			relay_scan_vend(s, d, p);
			st = RS_AFTER;
			continue;
		case RS_KEY_OR_CLOSE:
			if (c == '}')
				goto close;
			/* fallthrough */
		case RS_KEY:
			if (c != '"')
				return relay_scan_fail(
				    s, p, "expected a member name");
			start = p;
			if (relay_json_string(t, n, &p, &why) != 0)
				return relay_scan_fail(s, p, why);
			relay_scan_key(s, d, start, p);
			st = RS_COLON;
			continue;
		case RS_COLON:
			if (c != ':')
				return relay_scan_fail(s, p, "expected ':'");
			p++;
			st = RS_VALUE;
			continue;
		case RS_AFTER:
			if (d == 0)
				return relay_scan_fail(s, p,
				                       "text after the value");
			if (c == ',') {
				p++;
				st = relay_scan_is_object(s, d) ? RS_KEY
				                                : RS_VALUE;
				continue;
			}
			if (c != (relay_scan_is_object(s, d) ? '}' : ']'))
				return relay_scan_fail(
				    s, p, "expected ',' or a closing bracket");
			goto close;
		}
	close:
		p++;
		d--;
		relay_scan_vend(s, d, p);
		st = RS_AFTER;
	}
}

/* ---- the tolerant id sniffer ---- */

static void relay_sniff_reset(struct relay_sniff *s)
{
	memset(s, 0, offsetof(struct relay_sniff, cap));
	s->nids = 0;
}

static void relay_sniff_push(struct relay_sniff *s, unsigned char c)
{
	if (s->caplen < sizeof(s->cap))
		s->cap[s->caplen++] = (char)c;
	else
		s->cap_over = true;
}

static void relay_sniff_done(struct relay_sniff *s)
{
	const unsigned char *t = (const unsigned char *)s->cap;
	const char *why = NULL;
	size_t p = 0, k;
	int r;

	s->cap_on = false;
	if (s->cap_over || s->nids >= RELAY_SNIFF_IDS || s->caplen == 0)
		return;
	if (t[0] == '"')
		r = relay_json_string(t, s->caplen, &p, &why);
	else if (t[0] == 'n')
		r = relay_json_literal(t, s->caplen, &p, &why);
	else
		r = relay_json_number(t, s->caplen, &p, &why);
	if (r != 0 || p != s->caplen)
		return;
	k = relay_id_key(t, s->caplen, s->ids[s->nids]);
	if (k != 0)
		s->idlen[s->nids++] = k;
}

static void relay_sniff_byte(struct relay_sniff *s, unsigned char c)
{
	if (s->cap_on) {
		if (s->cap_str) {
			relay_sniff_push(s, c);
			if (s->cap_esc)
				s->cap_esc = false;
			else if (c == '\\')
				s->cap_esc = true;
			else if (c == '"')
				relay_sniff_done(s);
			return;
		}
		if (relay_is_digit(c) || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-' || c == '+' ||
		    c == '.') {
			relay_sniff_push(s, c);
			return;
		}
		relay_sniff_done(s);
	}
	if (s->in_str) {
		if (s->esc) {
			s->esc = false;
		} else if (c == '\\') {
			s->esc = true;
		} else if (c == '"') {
			s->in_str = false;
			s->last_id = s->lastlen == 2 && s->last[0] == 'i' &&
			             s->last[1] == 'd';
			return;
		}
		if (s->lastlen < sizeof(s->last))
			s->last[s->lastlen++] = (char)c;
		return;
	}
	switch (c) {
	case ' ':
	case '\t':
	case '\r':
	case '\n':
		return;
	case '"':
		if (s->want) {
			s->want = false;
			s->cap_on = s->cap_str = true;
			s->cap_esc = s->cap_over = false;
			s->caplen = 0;
			relay_sniff_push(s, c);
			return;
		}
		s->in_str = true;
		s->lastlen = 0;
		s->last_id = false;
		return;
	case ':':
		s->want = s->last_id && s->depth == (s->root_array ? 2u : 1u);
		s->last_id = false;
		return;
	case '{':
	case '[':
		if (!s->started) {
			s->started = true;
			s->root_array = c == '[';
		}
		if (s->depth < RELAY_DEPTH_MAX)
			s->depth++;
		break;
	case '}':
	case ']':
		if (s->depth > 0)
			s->depth--;
		break;
	default:
		if (s->want) {
			s->want = false;
			s->cap_on = true;
			s->cap_str = s->cap_esc = s->cap_over = false;
			s->caplen = 0;
			relay_sniff_push(s, c);
			return;
		}
		break;
	}
	s->want = false;
	s->last_id = false;
}

static void relay_sniff_feed(struct relay_sniff *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		relay_sniff_byte(s, (unsigned char)p[i]);
}

static void relay_sniff_end(struct relay_sniff *s)
{
	if (s->cap_on && !s->cap_str)
		relay_sniff_done(s);
	s->cap_on = false;
}

/* ---- clocks, log, records ---- */

static int64_t relay_wall_ms(const struct relay *r)
{
	struct timespec ts;

	if (r->hooks.wall_ms != NULL)
		return r->hooks.wall_ms(r->hooks.ctx);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t relay_mono_us(const struct relay *r)
{
	struct timespec ts;

	if (r->hooks.mono_us != NULL)
		return r->hooks.mono_us(r->hooks.ctx);
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void relay_log(const struct relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void relay_log(const struct relay *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (r->hooks.log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->hooks.log(r->hooks.ctx, line);
}

/* The length of s[0..len) cut to at most max bytes at a UTF-8 boundary. */
static size_t relay_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static void relay_record(const struct relay *r, enum relay_kind kind,
                         const char *name, int64_t at_ms, int64_t dur_us,
                         enum call_outcome o, uint64_t in, uint64_t out,
                         const char *detail)
{
	struct relay_call c;

	if (r->hooks.record == NULL || kind == RELAY_KIND_LIST)
		return;
	c.method = relay_kind_method[kind];
	c.name = name;
	c.at_ms = at_ms;
	c.duration_us = dur_us < 0 ? 0 : dur_us;
	c.outcome = o;
	c.bytes_in = in;
	c.bytes_out = out;
	c.detail = detail;
	r->hooks.record(r->hooks.ctx, &c);
}

/* ---- writing JSON ---- */

/* Appends s as a JSON string; invalid UTF-8 becomes U+FFFD. */
static int relay_put_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, k;
	int r;

	if ((r = buf_putc(b, '"')) != 0)
		return r;
	while (i < n) {
		run = i;
		while (run < n && u[run] >= 0x20 && u[run] < 0x80 &&
		       u[run] != '"' && u[run] != '\\')
			run++;
		if (run > i && (r = buf_append(b, s + i, run - i)) != 0)
			return r;
		i = run;
		if (i == n)
			break;
		if (u[i] >= 0x80) {
			if ((k = relay_utf8_len(u + i, n - i)) == 0) {
				r = buf_puts(b, "\\ufffd");
				k = 1;
			} else {
				r = buf_append(b, s + i, k);
			}
			i += k;
		} else if (u[i] == '"' || u[i] == '\\') {
			r = buf_printf(b, "\\%c", u[i++]);
		} else {
			r = buf_printf(b, "\\u%04x", u[i++]);
		}
		if (r != 0)
			return r;
	}
	return buf_putc(b, '"');
}

/* Appends the JSON of the id whose key is key. */
static int relay_put_id_key(struct buf *b, const char *key, size_t keylen)
{
	if (keylen == 0 || key[0] == 'z')
		return buf_puts(b, "null");
	if (key[0] == 'n')
		return buf_append(b, key + 1, keylen - 1);
	return relay_put_str(b, key + 1, keylen - 1);
}

/* Appends an error answer: id is the raw JSON of the id (NULL: null, or
 * key/keylen when given), retry_ms < 0 leaves out data. */
static int relay_put_error(struct buf *b, const char *id, size_t idlen,
                           const char *key, size_t keylen, int code,
                           const char *msg, int64_t retry_ms)
{
	int r;

	if ((r = buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":")) != 0)
		return r;
	if (id != NULL)
		r = buf_append(b, id, idlen);
	else
		r = relay_put_id_key(b, key, keylen);
	if (r != 0 ||
	    (r = buf_printf(b, ",\"error\":{\"code\":%d,\"message\":", code)) !=
	        0)
		return r;
	if ((r = relay_put_str(b, msg, strlen(msg))) != 0)
		return r;
	if (retry_ms >= 0 &&
	    (r = buf_printf(b, ",\"data\":{\"retry_after_ms\":%lld}",
	                    (long long)retry_ms)) != 0)
		return r;
	return buf_puts(b, "}}");
}

/* ---- the pending table ---- */

static uint32_t relay_hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 16777619u;
	return h;
}

static struct relay_pending *relay_pending_find(const struct relay *r,
                                                const char *key, size_t n)
{
	uint32_t h = relay_hash(key, n);
	struct relay_pending *e;

	for (e = r->hash[h & (RELAY_HASH - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->keylen == n &&
		    memcmp(e->key, key, n) == 0)
			return e;
	return NULL;
}

/* Unlinks e from the table (the caller frees it). */
static void relay_pending_unlink(struct relay *r, struct relay_pending *e)
{
	struct relay_pending **pp = &r->hash[e->hash & (RELAY_HASH - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	r->npending--;
}

/* Records e's outcome and forgets it. */
static void relay_complete(struct relay *r, struct relay_pending *e,
                           enum call_outcome o, const char *detail,
                           uint64_t bytes_out, int64_t now_us)
{
	relay_pending_unlink(r, e);
	relay_record(r, e->kind, e->name, e->at_ms, now_us - e->start_us, o,
	             e->bytes_in, bytes_out, detail);
	free(e);
}

static int relay_pending_add(struct relay *r, enum relay_kind kind,
                             const char *key, size_t keylen, const char *name,
                             size_t namelen, int64_t at_ms, int64_t now_us,
                             uint64_t bytes_in)
{
	struct relay_pending *e;

	/* A reused id or a full table: the older request is given up. */
	if ((e = relay_pending_find(r, key, keylen)) != NULL)
		relay_complete(r, e, CALL_OUTCOME_ERROR, "untracked", 0,
		               now_us);
	if (r->npending >= RELAY_PENDING_MAX)
		relay_complete(r, r->oldest, CALL_OUTCOME_ERROR, "untracked", 0,
		               now_us);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ERR_NOMEM;
	e->kind = kind;
	e->at_ms = at_ms;
	e->start_us = now_us;
	e->bytes_in = bytes_in;
	e->keylen = keylen;
	memcpy(e->key, key, keylen);
	namelen = relay_utf8_cut(name, namelen, RELAY_NAME_MAX);
	memcpy(e->name, name, namelen);
	e->name[namelen] = '\0';
	e->hash = relay_hash(key, keylen);
	e->hnext = r->hash[e->hash & (RELAY_HASH - 1)];
	r->hash[e->hash & (RELAY_HASH - 1)] = e;
	e->older = r->newest;
	if (r->newest != NULL)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->npending++;
	return 0;
}

/* ---- policy ---- */

static bool relay_has_policy(const struct relay *r)
{
	return r->allow.n > 0 || r->deny.n > 0;
}

static bool relay_denied(const struct relay *r, const char *name)
{
	if (r->deny.n > 0 && glob_match_any(r->deny.v, r->deny.n, name))
		return true;
	if (r->allow.n > 0 && !glob_match_any(r->allow.v, r->allow.n, name))
		return true;
	return false;
}

/* Decodes the string value at sp into r->scratch (NUL-terminated). Returns
 * its length, or SIZE_MAX when sp is not a string. */
static size_t relay_decode_scratch(struct relay *r, const struct relay_span *sp,
                                   int *err)
{
	const unsigned char *v = r->scan.t + sp->off;
	size_t d;

	*err = 0;
	if (sp->len < 2 || v[0] != '"')
		return SIZE_MAX;
	buf_reset(&r->scratch);
	if ((*err = buf_reserve(&r->scratch, sp->len)) != 0)
		return SIZE_MAX;
	d = relay_str_decode(v, sp->len, r->scratch.data, sp->len);
	r->scratch.len = d;
	r->scratch.data[d] = '\0';
	return d;
}

/* True when the string value at sp is exactly lit (decoded). */
static bool relay_str_is(const struct relay *r, const struct relay_span *sp,
                         const char *lit)
{
	char tmp[32];
	size_t d, l = strlen(lit);

	if (sp->len < 2 || r->scan.t[sp->off] != '"')
		return false;
	d = relay_str_decode(r->scan.t + sp->off, sp->len, tmp, sizeof(tmp));
	return d == l && memcmp(tmp, lit, l) == 0;
}

static bool relay_is_id_type(const struct relay *r, const struct relay_span *sp)
{
	unsigned char c = r->scan.t[sp->off];

	return c == '"' || c == '-' || relay_is_digit(c) || c == 'n';
}

/* ---- from the host ---- */

/* Appends one of the relay's answers to r->ans, after a ',' when it holds
 * one already. The id is m's when with_id and readable, else null. */
static int relay_answer(struct relay *r, const struct relay_msg *m,
                        bool with_id, int code, const char *msg,
                        int64_t retry_ms)
{
	const char *id = "null";
	size_t idlen = 4;
	int rc;

	if (r->ans.len > 0 && (rc = buf_putc(&r->ans, ',')) != 0)
		return rc;
	if (with_id && m != NULL && m->id.len > 0 &&
	    relay_is_id_type(r, &m->id)) {
		id = (const char *)r->scan.t + m->id.off;
		idlen = m->id.len;
	}
	return relay_put_error(&r->ans, id, idlen, NULL, 0, code, msg,
	                       retry_ms);
}

static int relay_invalid(struct relay *r, const struct relay_msg *m,
                         bool with_id, const char *why)
{
	char msg[400];

	relay_log(r,
	          "%s: host sent an invalid JSON-RPC message (%s); "
	          "answered %d",
	          r->server, why, RELAY_CODE_INVALID);
	(void)snprintf(msg, sizeof(msg), "Invalid Request: %s", why);
	return relay_answer(r, m, with_id, RELAY_CODE_INVALID, msg, -1);
}

/* Asks the rate limits about a tools/call of name. Returns 0 admitted, 1
 * refused with *retry_ms and why. */
static int relay_admit(struct relay *r, const char *name, int64_t now_us,
                       int64_t *retry_ms, char *why, size_t whylen)
{
	int a;

	why[0] = '\0';
	*retry_ms = 0;
	if (r->hooks.admit != NULL) {
		a = r->hooks.admit(r->hooks.ctx, name, retry_ms, why, whylen);
		if (a < 0) {
			(void)snprintf(why, whylen,
			               "the rate limits could not be asked: %s",
			               err_str(a));
			*retry_ms = 1000;
			return 1;
		}
		if (*retry_ms < 0)
			*retry_ms = 0;
		return a == 0 ? 0 : 1;
	}
	if (r->limiter != NULL)
		return limiter_take(r->limiter, name, now_us / 1000, retry_ms,
		                    why, whylen) == 0
		           ? 0
		           : 1;
	return 0;
}

static bool relay_method_is(const char *m, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(m, lit, n) == 0;
}

/* Handles one message from the host: *forward when it goes on to the
 * server, else the relay's answer (if it is owed one) is in r->ans. */
static int relay_client_one(struct relay *r, const struct relay_msg *m,
                            int64_t at_ms, int64_t now_us, bool *forward)
{
	const unsigned char *t = r->scan.t;
	char msg[768], why[256], key[RELAY_KEY_MAX], meth[32];
	char name[RELAY_NAME_MAX + 1];
	const struct relay_span *nsp;
	enum relay_kind kind;
	size_t keylen = 0, ml, nl = SIZE_MAX;
	int64_t retry;
	bool notif;
	int rc;

	*forward = false;
	name[0] = '\0';
	if (!m->object)
		return relay_invalid(r, m, false, "not an object");
	if (m->dup)
		return relay_invalid(r, m, false, "a member is given twice");
	if (!relay_str_is(r, &m->jsonrpc, "2.0"))
		return relay_invalid(r, m, true, "jsonrpc must be \"2.0\"");
	if (m->id.len > 0 && !relay_is_id_type(r, &m->id))
		return relay_invalid(r, m, false,
		                     "id must be a string, a number or null");
	if (m->method.len == 0) {
		if (m->id.len > 0 &&
		    (m->result.len > 0) != (m->error.len > 0)) {
			*forward = true;
			return 0;
		}
		return relay_invalid(r, m, true,
		                     "neither a request nor a response");
	}
	if (t[m->method.off] != '"')
		return relay_invalid(r, m, true, "method must be a string");
	if (m->result.len > 0 || m->error.len > 0)
		return relay_invalid(r, m, true,
		                     "a request holds no result or error");
	if (m->params.len > 0 && t[m->params.off] != '{' &&
	    t[m->params.off] != '[')
		return relay_invalid(r, m, true,
		                     "params must be an object or an array");
	ml = relay_str_decode(t + m->method.off, m->method.len, meth,
	                      sizeof(meth));
	if (ml == SIZE_MAX) {
		*forward = true;
		return 0;
	}
	/* A server reading C strings would see "tools/call\0x" as
	 * "tools/call": refuse what the relay and it could read apart. */
	if (memchr(meth, '\0', ml) != NULL)
		return relay_invalid(r, m, true,
		                     "method holds a NUL character");
	if (relay_method_is(meth, ml, "tools/call"))
		kind = RELAY_KIND_CALL;
	else if (relay_method_is(meth, ml, "resources/read"))
		kind = RELAY_KIND_READ;
	else if (relay_method_is(meth, ml, "prompts/get"))
		kind = RELAY_KIND_PROMPT;
	else if (relay_method_is(meth, ml, "tools/list"))
		kind = RELAY_KIND_LIST;
	else {
		*forward = true;
		return 0;
	}
	notif = m->id.len == 0;
	if (!notif &&
	    (keylen = relay_id_key(t + m->id.off, m->id.len, key)) == 0)
		return relay_invalid(r, m, false,
		                     "the id of a tracked request is longer "
		                     "than 256 bytes");
	nsp = kind == RELAY_KIND_READ ? &m->uri : &m->name;
	if (kind != RELAY_KIND_LIST && nsp->len > 0) {
		nl = relay_decode_scratch(r, nsp, &rc);
		if (rc != 0)
			return rc;
	}
	if (nl != SIZE_MAX) {
		size_t c = relay_utf8_cut(r->scratch.data, nl, RELAY_NAME_MAX);

		memcpy(name, r->scratch.data, c);
		name[c] = '\0';
	}
	if (kind == RELAY_KIND_CALL) {
		const char *deny_why = NULL;

		if (nl == SIZE_MAX) {
			relay_record(r, kind, "", at_ms, 0, CALL_OUTCOME_ERROR,
			             m->whole.len, 0, "jsonrpc -32602");
			if (notif)
				return 0;
			return relay_answer(r, m, true, RELAY_CODE_PARAMS,
			                    "Invalid params: tools/call needs "
			                    "params.name, a string",
			                    -1);
		}
		if (memchr(r->scratch.data, '\0', nl) != NULL)
			deny_why = "the tool name holds a NUL character";
		else if (relay_denied(r, r->scratch.data))
			deny_why = "denied by the fleet policy";
		if (deny_why != NULL) {
			relay_log(r, "%s: refused tools/call of '%.200s': %s",
			          r->server, name, deny_why);
			relay_record(r, kind, name, at_ms, 0,
			             CALL_OUTCOME_DENIED, m->whole.len, 0,
			             deny_why);
			if (notif)
				return 0;
			(void)snprintf(msg, sizeof(msg),
			               "tool '%.200s' of server '%.200s' is "
			               "denied by the fleet policy",
			               name, r->server);
			return relay_answer(r, m, true, RELAY_CODE_DENIED, msg,
			                    -1);
		}
		if (relay_admit(r, r->scratch.data, now_us, &retry, why,
		                sizeof(why)) != 0) {
			relay_log(r, "%s: refused tools/call of '%.200s': %s",
			          r->server, name, why);
			relay_record(r, kind, name, at_ms, 0,
			             CALL_OUTCOME_RATE_LIMITED, m->whole.len, 0,
			             why);
			if (notif)
				return 0;
			(void)snprintf(msg, sizeof(msg),
			               "tool '%.200s' of server '%.200s' is "
			               "rate limited (%s); retry in %lld s",
			               name, r->server, why,
			               (long long)((retry + 999) / 1000));
			msg[relay_utf8_cut(msg, strlen(msg), sizeof(msg) - 1)] =
			    '\0';
			return relay_answer(r, m, true, RELAY_CODE_RATE_LIMITED,
			                    msg, retry);
		}
	}
	*forward = true;
	if (notif) {
		/* No answer will come: the call is done once forwarded. */
		relay_record(r, kind, name, at_ms, 0, CALL_OUTCOME_OK,
		             m->whole.len, 0, NULL);
		return 0;
	}
	return relay_pending_add(r, kind, key, keylen, name, strlen(name),
	                         at_ms, now_us, m->whole.len);
}

static bool relay_blank(const char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
			return false;
	return true;
}

/* Appends t (without its CR and LF bytes when strip) and a newline. */
static int relay_emit(struct buf *b, const char *t, size_t n, bool strip)
{
	size_t i, run;
	int rc;

	if (!strip ||
	    (memchr(t, '\n', n) == NULL && memchr(t, '\r', n) == NULL))
		rc = buf_append(b, t, n);
	else
		for (i = 0, rc = 0; i < n && rc == 0; i = run + 1) {
			run = i;
			while (run < n && t[run] != '\n' && t[run] != '\r')
				run++;
			rc = buf_append(b, t + i, run - i);
		}
	return rc != 0 ? rc : buf_putc(b, '\n');
}

static int relay_client_handle(struct relay *r, const char *t, size_t n,
                               bool stdio, struct buf *to_server,
                               struct buf *to_client)
{
	struct relay_scan *s = &r->scan;
	bool fwd, as_array = false;
	size_t i, nfwd = 0;
	char msg[256];
	int64_t at_ms, now_us;
	int rc;

	if (relay_blank(t, n))
		return 0;
	buf_reset(&r->ans);
	rc = relay_scan_run(s, t, n);
	if (rc == -ERR_PARSE) {
		relay_log(r,
		          "%s: host sent a line that is not JSON (%s at byte "
		          "%zu); answered %d",
		          r->server, s->why, s->pos, RELAY_CODE_PARSE);
		(void)snprintf(msg, sizeof(msg), "Parse error: %s at byte %zu",
		               s->why, s->pos);
		rc = relay_put_error(&r->ans, "null", 4, NULL, 0,
		                     RELAY_CODE_PARSE, msg, -1);
		goto answer;
	}
	if (rc == -ERR_TOOBIG) {
		(void)snprintf(msg, sizeof(msg),
		               "a batch holds at most %d messages",
		               RELAY_BATCH_MAX);
		rc = relay_invalid(r, NULL, false, msg);
		goto answer;
	}
	if (rc != 0)
		return rc;
	at_ms = relay_wall_ms(r);
	now_us = relay_mono_us(r);
	if (!s->batch) {
		if ((rc = relay_client_one(r, &s->msgs[0], at_ms, now_us,
		                           &fwd)) != 0)
			return rc;
		if (fwd && (rc = buf_append(to_server, t, n)) == 0 && stdio)
			rc = buf_putc(to_server, '\n');
		goto answer;
	}
	if (s->nmsgs == 0) {
		rc = relay_invalid(r, NULL, false, "an empty batch");
		goto answer;
	}
	as_array = true;
	buf_reset(&r->out);
	if ((rc = buf_putc(&r->out, '[')) != 0)
		return rc;
	for (i = 0; i < s->nmsgs; i++) {
		const struct relay_msg *m = &s->msgs[i];

		if ((rc = relay_client_one(r, m, at_ms, now_us, &fwd)) != 0)
			return rc;
		if (!fwd)
			continue;
		if ((nfwd++ > 0 && (rc = buf_putc(&r->out, ',')) != 0) ||
		    (rc = buf_append(&r->out, t + m->whole.off,
		                     m->whole.len)) != 0)
			return rc;
	}
	if (nfwd == s->nmsgs)
		rc = buf_append(to_server, t, n);
	else if (nfwd > 0 && (rc = buf_putc(&r->out, ']')) == 0)
		rc = buf_append(to_server, r->out.data, r->out.len);
	if (rc == 0 && nfwd > 0 && stdio)
		rc = buf_putc(to_server, '\n');
answer:
	if (rc != 0 || r->ans.len == 0)
		return rc;
	if (as_array && (rc = buf_putc(to_client, '[')) != 0)
		return rc;
	if ((rc = buf_append(to_client, r->ans.data, r->ans.len)) != 0)
		return rc;
	if (as_array && (rc = buf_putc(to_client, ']')) != 0)
		return rc;
	return buf_putc(to_client, '\n');
}

/* ---- from the server ---- */

/* Answers each pending request that the unusable server line sn scanned
 * was answering, so that the host does not wait for ever. */
static int relay_server_fault(struct relay *r, const struct relay_sniff *sn,
                              const char *detail, struct buf *to_client)
{
	struct relay_pending *e;
	int64_t now_us = relay_mono_us(r);
	char msg[320];
	size_t i, start;
	int rc;

	(void)snprintf(msg, sizeof(msg),
	               "server '%.200s' sent an answer the relay cannot pass "
	               "on (%s)",
	               r->server, detail);
	for (i = 0; i < sn->nids; i++) {
		if ((e = relay_pending_find(r, sn->ids[i], sn->idlen[i])) ==
		    NULL)
			continue;
		start = to_client->len;
		if ((rc = relay_put_error(to_client, NULL, 0, e->key, e->keylen,
		                          RELAY_CODE_SERVER, msg, -1)) != 0 ||
		    (rc = buf_putc(to_client, '\n')) != 0)
			return rc;
		relay_complete(r, e, CALL_OUTCOME_ERROR, detail,
		               to_client->len - start - 1, now_us);
	}
	return 0;
}

/* Writes m with the tools the policy denies removed from result.tools into
 * dst; *changed false (dst untouched) when none is. */
static int relay_filter_tools(struct relay *r, const struct relay_msg *m,
                              struct buf *dst, bool *changed)
{
	const unsigned char *t = r->scan.t;
	const struct relay_span *arr = &m->tools;
	struct relay_tool *tl;
	size_t i, d, kept = 0, removed = 0;
	int rc;

	*changed = false;
	if (m->tools_over) {
		relay_log(r,
		          "%s: a tools/list answer holds more than %d tools; "
		          "answered %d instead",
		          r->server, RELAY_TOOLS_MAX, RELAY_CODE_SERVER);
		*changed = true;
		return relay_put_error(
		    dst, (const char *)t + m->id.off, m->id.len, NULL, 0,
		    RELAY_CODE_SERVER,
		    "the tools/list answer holds too many tools to filter", -1);
	}
	for (i = 0; i < m->tools_n; i++) {
		tl = &r->scan.tools[m->tools_first + i];
		tl->drop =
		    tl->drop || tl->name.len < 2 || t[tl->name.off] != '"';
		if (!tl->drop) {
			d = relay_decode_scratch(r, &tl->name, &rc);
			if (rc != 0)
				return rc;
			tl->drop = memchr(r->scratch.data, '\0', d) != NULL ||
			           relay_denied(r, r->scratch.data);
		}
		removed += tl->drop;
	}
	if (removed == 0)
		return 0;
	if ((rc = buf_append(dst, t + m->whole.off,
	                     arr->off + 1 - m->whole.off)) != 0)
		return rc;
	for (i = 0; i < m->tools_n; i++) {
		tl = &r->scan.tools[m->tools_first + i];
		if (tl->drop)
			continue;
		if ((kept++ > 0 && (rc = buf_putc(dst, ',')) != 0) ||
		    (rc = buf_append(dst, t + tl->whole.off, tl->whole.len)) !=
		        0)
			return rc;
	}
	*changed = true;
	return buf_append(dst, t + arr->off + arr->len - 1,
	                  m->whole.off + m->whole.len -
	                      (arr->off + arr->len - 1));
}

/* Handles one message from the server: completes its record, and writes a
 * replacement to dst (*changed) when it must be rewritten. */
static int relay_server_one(struct relay *r, const struct relay_msg *m,
                            int64_t now_us, struct buf *dst, bool *changed)
{
	const unsigned char *t = r->scan.t;
	struct relay_pending *e = NULL;
	char key[RELAY_KEY_MAX], detail[48];
	enum call_outcome o = CALL_OUTCOME_OK;
	const char *det = NULL;
	size_t keylen, start = dst->len;
	int rc;

	*changed = false;
	if (!m->object || m->method.len > 0 || m->id.len == 0 ||
	    (m->result.len == 0 && m->error.len == 0))
		return 0;
	keylen = relay_id_key(t + m->id.off, m->id.len, key);
	if (keylen > 0)
		e = relay_pending_find(r, key, keylen);
	/* An untracked answer listing tools is filtered too: its request
	 * may have been pushed out of the table. */
	if (relay_has_policy(r) && m->tools_seen &&
	    (e == NULL || e->kind == RELAY_KIND_LIST) &&
	    (rc = relay_filter_tools(r, m, dst, changed)) != 0)
		return rc;
	if (e == NULL)
		return 0;
	if (m->error.len > 0) {
		o = CALL_OUTCOME_ERROR;
		if (m->code.len > 0 && m->code.len <= 24)
			(void)snprintf(detail, sizeof(detail), "jsonrpc %.*s",
			               (int)m->code.len,
			               (const char *)t + m->code.off);
		else
			(void)snprintf(detail, sizeof(detail), "jsonrpc error");
		det = detail;
	} else if (m->iserror.len == 4 &&
	           memcmp(t + m->iserror.off, "true", 4) == 0) {
		o = CALL_OUTCOME_ERROR;
		det = "isError";
	}
	relay_complete(r, e, o, det, *changed ? dst->len - start : m->whole.len,
	               now_us);
	return 0;
}

static int relay_server_handle(struct relay *r, const char *t, size_t n,
                               bool strip, struct buf *to_client)
{
	struct relay_scan *s = &r->scan;
	struct relay_sniff *sn = &r->srv.sniff;
	bool ch, any = false;
	int64_t now_us;
	size_t i;
	int rc;

	if (relay_blank(t, n))
		return 0;
	rc = relay_scan_run(s, t, n);
	if (rc == -ERR_PARSE || rc == -ERR_TOOBIG) {
		if (rc == -ERR_PARSE)
			relay_log(r,
			          "%s: dropped a message from the server that "
			          "is not JSON (%s at byte %zu)",
			          r->server, s->why, s->pos);
		else
			relay_log(r,
			          "%s: dropped a batch of more than %d "
			          "messages from the server",
			          r->server, RELAY_BATCH_MAX);
		relay_sniff_reset(sn);
		relay_sniff_feed(sn, t, n);
		relay_sniff_end(sn);
		return relay_server_fault(r, sn, "invalid answer", to_client);
	}
	if (rc != 0)
		return rc;
	now_us = relay_mono_us(r);
	buf_reset(&r->out);
	if (!s->batch) {
		if ((rc = relay_server_one(r, &s->msgs[0], now_us, &r->out,
		                           &any)) != 0)
			return rc;
		goto emit;
	}
	if ((rc = buf_putc(&r->out, '[')) != 0)
		return rc;
	for (i = 0; i < s->nmsgs; i++) {
		const struct relay_msg *m = &s->msgs[i];

		if (i > 0 && (rc = buf_putc(&r->out, ',')) != 0)
			return rc;
		if ((rc = relay_server_one(r, m, now_us, &r->out, &ch)) != 0)
			return rc;
		if (!ch && (rc = buf_append(&r->out, t + m->whole.off,
		                            m->whole.len)) != 0)
			return rc;
		any = any || ch;
	}
	if ((rc = buf_putc(&r->out, ']')) != 0)
		return rc;
emit:
	if (any)
		return relay_emit(to_client, r->out.data, r->out.len, strip);
	return relay_emit(to_client, t, n, strip);
}

/* ---- framing ---- */

static int relay_side_append(const struct relay *r, struct relay_side *sd,
                             const char *p, size_t n)
{
	size_t need = sd->len + n + 1, ncap;
	char *nl;

	if (need > sd->cap) {
		ncap = sd->cap ? sd->cap * 2 : 4096;
		if (ncap < need)
			ncap = need;
		/* Never more than one line's limit. */
		if (ncap > r->max + 1)
			ncap = r->max + 1;
		if ((nl = realloc(sd->line, ncap)) == NULL)
			return -ERR_NOMEM;
		sd->line = nl;
		sd->cap = ncap;
	}
	memcpy(sd->line + sd->len, p, n);
	sd->len += n;
	return 0;
}

/* The end of a line over max_message. */
static int relay_oversize_end(struct relay *r, struct relay_side *sd,
                              bool client, size_t total, struct buf *to_client)
{
	char msg[160];
	int rc;

	sd->discarding = false;
	sd->dropped = 0;
	if (client) {
		relay_log(r,
		          "%s: host sent a message of %zu bytes (limit %zu); "
		          "answered %d",
		          r->server, total, r->max, RELAY_CODE_INVALID);
		(void)snprintf(msg, sizeof(msg),
		               "request too large (%zu bytes, limit %zu)",
		               total, r->max);
		if ((rc = relay_put_error(to_client, "null", 4, NULL, 0,
		                          RELAY_CODE_INVALID, msg, -1)) != 0)
			return rc;
		return buf_putc(to_client, '\n');
	}
	relay_log(r,
	          "%s: dropped a message of %zu bytes from the server (limit "
	          "%zu)",
	          r->server, total, r->max);
	relay_sniff_end(&sd->sniff);
	return relay_server_fault(r, &sd->sniff, "answer too large", to_client);
}

static int relay_line(struct relay *r, bool client, const char *t, size_t n,
                      struct buf *to_server, struct buf *to_client)
{
	if (client)
		return relay_client_handle(r, t, n, true, to_server, to_client);
	return relay_server_handle(r, t, n, false, to_client);
}

static int relay_feed(struct relay *r, bool client, const char *p, size_t n,
                      struct buf *to_server, struct buf *to_client)
{
	struct relay_side *sd = client ? &r->client : &r->srv;
	const char *nl;
	size_t take;
	int rc = 0;

	while (n > 0 && rc == 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (sd->discarding) {
			if (!client)
				relay_sniff_feed(&sd->sniff, p, take);
			sd->dropped += take;
			if (nl != NULL)
				rc = relay_oversize_end(r, sd, client,
				                        sd->dropped, to_client);
		} else if (take > r->max - sd->len) {
			sd->discarding = true;
			sd->dropped = sd->len + take;
			if (!client) {
				relay_sniff_reset(&sd->sniff);
				relay_sniff_feed(&sd->sniff, sd->line, sd->len);
				relay_sniff_feed(&sd->sniff, p, take);
			}
			sd->len = 0;
			if (nl != NULL)
				rc = relay_oversize_end(r, sd, client,
				                        sd->dropped, to_client);
		} else if (nl != NULL && sd->len == 0) {
			rc = relay_line(r, client, p, take, to_server,
			                to_client);
		} else {
			rc = relay_side_append(r, sd, p, take);
			if (rc == 0 && nl != NULL) {
				rc = relay_line(r, client, sd->line, sd->len,
				                to_server, to_client);
				sd->len = 0;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return rc;
}

int relay_client_bytes(struct relay *r, const char *p, size_t n,
                       struct buf *to_server, struct buf *to_client)
{
	return relay_feed(r, true, p, n, to_server, to_client);
}

int relay_server_bytes(struct relay *r, const char *p, size_t n,
                       struct buf *to_client)
{
	return relay_feed(r, false, p, n, NULL, to_client);
}

int relay_client_message(struct relay *r, const char *msg, size_t n,
                         struct buf *to_server, struct buf *to_client)
{
	if (n > r->max)
		return relay_oversize_end(r, &r->client, true, n, to_client);
	return relay_client_handle(r, msg, n, false, to_server, to_client);
}

int relay_server_message(struct relay *r, const char *msg, size_t n,
                         struct buf *to_client)
{
	struct relay_sniff *sn = &r->srv.sniff;

	if (n > r->max) {
		relay_log(r,
		          "%s: dropped a message of %zu bytes from the server "
		          "(limit %zu)",
		          r->server, n, r->max);
		relay_sniff_reset(sn);
		relay_sniff_feed(sn, msg, n);
		relay_sniff_end(sn);
		return relay_server_fault(r, sn, "answer too large", to_client);
	}
	return relay_server_handle(r, msg, n, true, to_client);
}

/* ---- life cycle ---- */

void relay_finish(struct relay *r)
{
	int64_t now_us;

	if (r == NULL || r->oldest == NULL)
		return;
	now_us = relay_mono_us(r);
	while (r->oldest != NULL)
		relay_complete(r, r->oldest, CALL_OUTCOME_ERROR, "no answer", 0,
		               now_us);
}

static int relay_copy_strv(struct strv *dst, const struct strv *src)
{
	size_t i;
	int rc;

	for (i = 0; src != NULL && i < src->n; i++)
		if ((rc = strv_push(dst, src->v[i])) != 0)
			return rc;
	return 0;
}

static bool relay_strv_equal(const struct strv *a, const struct strv *b)
{
	size_t i;

	if (a->n != (b != NULL ? b->n : 0))
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

int relay_set_policy(struct relay *r, const struct strv *allow,
                     const struct strv *deny,
                     int (*admit)(void *ctx, const char *tool,
                                  int64_t *retry_ms, char *why, size_t whylen))
{
	struct strv a = {0}, d = {0};
	int rc;

	r->hooks.admit = admit;
	if (relay_strv_equal(&r->allow, allow) &&
	    relay_strv_equal(&r->deny, deny))
		return 0;
	if ((rc = relay_copy_strv(&a, allow)) != 0 ||
	    (rc = relay_copy_strv(&d, deny)) != 0) {
		strv_clear(&a);
		strv_clear(&d);
		return rc;
	}
	strv_clear(&r->allow);
	strv_clear(&r->deny);
	r->allow = a;
	r->deny = d;
	return 1;
}

int relay_new(const struct relay_config *cfg, struct relay **out)
{
	struct relay *r = NULL;
	int rc = -ERR_INVALID;

	if (cfg == NULL || out == NULL)
		goto out;
	rc = -ERR_NOMEM;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto out;
	if ((r->server = strdup(cfg->server ? cfg->server : "?")) == NULL)
		goto out;
	if ((rc = relay_copy_strv(&r->allow, cfg->allow)) != 0 ||
	    (rc = relay_copy_strv(&r->deny, cfg->deny)) != 0)
		goto out;
	r->limiter = cfg->limiter;
	r->max = cfg->max_message ? cfg->max_message : RELAY_MESSAGE_MAX;
	/* A line buffer of max + 1 bytes must be possible. */
	if (r->max > ((size_t)1 << 30))
		r->max = (size_t)1 << 30;
	r->hooks = cfg->hooks;
	*out = r;
	r = NULL;
	rc = 0;
out:
	relay_free(r);
	return rc;
}

void relay_free(struct relay *r)
{
	struct relay_pending *e, *next;

	if (r == NULL)
		return;
	for (e = r->oldest; e != NULL; e = next) {
		next = e->newer;
		free(e);
	}
	free(r->server);
	strv_clear(&r->allow);
	strv_clear(&r->deny);
	buf_free(&r->scratch);
	buf_free(&r->ans);
	buf_free(&r->out);
	free(r->client.line);
	free(r->srv.line);
	free(r->scan.msgs);
	free(r->scan.tools);
	free(r);
}
