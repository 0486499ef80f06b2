/* SPDX-License-Identifier: MIT */
/* Incremental text/event-stream parser, after the WHATWG EventSource rules. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define SSE_DEFAULT_MAX ((size_t)64 << 20)
/* The largest retry value kept, in ms (a day); larger ones are clamped. */
#define SSE_RETRY_MAX 86400000L

static const unsigned char sse_bom[3] = {0xef, 0xbb, 0xbf};

struct sse {
	size_t max;
	struct buf line;    /* the line being read */
	struct buf data;    /* the data buffer of the event being read */
	struct buf event;   /* its event type buffer */
	struct buf id;      /* the last event ID buffer: outlives events */
	size_t event_bytes; /* bytes of the complete lines of this event */
	long retry;
	size_t dropped;
	int cr;       /* the last byte seen was a CR: an LF next ends nothing */
	int dropping; /* this event went over the cap: skip to its end */
	int in_line;  /* the line being read has bytes, kept or not */
	unsigned bom; /* 0-2: BOM bytes matched at stream start; 3: past it */
};

int sse_new(size_t max_event, struct sse **out)
{
	struct sse *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -ERR_NOMEM;
	p->max = max_event != 0 ? max_event : SSE_DEFAULT_MAX;
	p->retry = -1;
	*out = p;
	return 0;
}

void sse_free(struct sse *p)
{
	if (p == NULL)
		return;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->event);
	buf_free(&p->id);
	free(p);
}

const char *sse_last_id(const struct sse *p)
{
	return p->id.len > 0 ? p->id.data : "";
}

long sse_retry(const struct sse *p)
{
	return p->retry;
}

size_t sse_dropped(const struct sse *p)
{
	return p->dropped;
}

static void sse_reset_event(struct sse *p)
{
	buf_reset(&p->data);
	buf_reset(&p->event);
	p->event_bytes = 0;
}

static int sse_field_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

/* retry: only ASCII digits count; anything else leaves the value alone. */
static void sse_set_retry(struct sse *p, const char *v, size_t len)
{
	long ms = 0;
	size_t i;

	if (len == 0)
		return;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		if (ms < SSE_RETRY_MAX)
			ms = ms * 10 + (v[i] - '0');
	}
	p->retry = ms < SSE_RETRY_MAX ? ms : SSE_RETRY_MAX;
}

static int sse_field(struct sse *p, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	const char *value = "";
	size_t nlen = len, vlen = 0;
	int r = 0;

	if (colon == line)
		return 0; /* a comment */
	if (colon != NULL) {
		nlen = (size_t)(colon - line);
		value = colon + 1;
		vlen = len - nlen - 1;
		if (vlen > 0 && value[0] == ' ') {
			value++;
			vlen--;
		}
	}
	if (sse_field_is(line, nlen, "data")) {
		r = buf_append(&p->data, value, vlen);
		if (r == 0)
			r = buf_putc(&p->data, '\n');
	} else if (sse_field_is(line, nlen, "event")) {
		buf_reset(&p->event);
		r = buf_append(&p->event, value, vlen);
	} else if (sse_field_is(line, nlen, "id")) {
		/* An id holding a NUL is ignored, as the standard says. */
		if (memchr(value, '\0', vlen) == NULL) {
			buf_reset(&p->id);
			r = buf_append(&p->id, value, vlen);
		}
	} else if (sse_field_is(line, nlen, "retry")) {
		sse_set_retry(p, value, vlen);
	}
	return r;
}

/* Handles one complete line (without its line end). */
static int sse_line(struct sse *p, sse_event_fn on_event, void *ctx)
{
	const char *event;
	int r = 0;

	if (!p->in_line) {
		if (p->dropping) {
			p->dropping = 0;
			p->dropped++;
			sse_reset_event(p);
			return 0;
		}
		if (p->data.len == 0) {
			sse_reset_event(p);
			return 0;
		}
		/* The data buffer ends with the LF of its last line. */
		p->data.data[--p->data.len] = '\0';
		event = p->event.len > 0 ? p->event.data : "message";
		r = on_event(ctx, event, p->data.data, p->data.len,
		             sse_last_id(p));
		sse_reset_event(p);
		return r;
	}
	if (!p->dropping) {
		p->event_bytes += p->line.len + 1;
		r = sse_field(p, p->line.data, p->line.len);
	}
	buf_reset(&p->line);
	p->in_line = 0;
	return r;
}

static int sse_bytes(struct sse *p, const char *data, size_t n,
                     sse_event_fn on_event, void *ctx)
{
	size_t i = 0, j, seg;
	int r;

	while (i < n) {
		if (p->cr) {
			p->cr = 0;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < n && data[j] != '\r' && data[j] != '\n'; j++)
			;
		seg = j - i;
		if (seg > 0)
			p->in_line = 1;
		if (!p->dropping) {
			if (seg > p->max || p->line.len + seg > p->max ||
			    p->line.len + seg + p->event_bytes > p->max) {
				/* Keep no part of an oversized event. */
				p->dropping = 1;
				buf_free(&p->line);
				buf_free(&p->data);
				buf_reset(&p->event);
			} else if ((r = buf_append(&p->line, data + i, seg)) !=
			           0) {
				return r;
			}
		}
		if (j == n)
			break;
		p->cr = data[j] == '\r';
		i = j + 1;
		if ((r = sse_line(p, on_event, ctx)) != 0)
			return r;
	}
	return 0;
}

int sse_feed(struct sse *p, const char *data, size_t n, sse_event_fn on_event,
             void *ctx)
{
	unsigned matched;
	int r;

	/* A BOM is skipped once, at stream start, even split across feeds;
	 * bytes that only began like one are stream content. */
	while (p->bom < 3 && n > 0) {
		if ((unsigned char)data[0] == sse_bom[p->bom]) {
			p->bom++;
			data++;
			n--;
			continue;
		}
		matched = p->bom;
		p->bom = 3;
		if (matched > 0 && (r = sse_bytes(p, (const char *)sse_bom,
		                                  matched, on_event, ctx)) != 0)
			return r;
	}
	return sse_bytes(p, data, n, on_event, ctx);
}
