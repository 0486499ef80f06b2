/* SPDX-License-Identifier: MIT */
/* Incremental parser of text/event-stream (WHATWG EventSource rules). */
#ifndef MCPFLEET_SSE_H
#define MCPFLEET_SSE_H

#include <stddef.h>

struct sse;

/*
 * Called once per dispatched event. event is the event type ("message" when
 * the stream named none), data the joined data lines (len bytes, NUL-
 * terminated after them, may itself hold NULs), id the last event ID so far
 * ("" when none). The strings live until the callback returns. Returns 0 to
 * go on; any other value stops sse_feed(), which returns it.
 */
typedef int (*sse_event_fn)(void *ctx, const char *event, const char *data,
                            size_t len, const char *id);

/*
 * Returns a new parser in *out; caller frees with sse_free(). max_event caps
 * the bytes of one event, counting every line of it with its field names
 * (0: 64 MiB). Returns 0 or -ERR_NOMEM.
 */
int sse_new(size_t max_event, struct sse **out);
/* Frees a parser. NULL-safe. */
void sse_free(struct sse *p);

/*
 * Feeds n more bytes of the stream; events may be split anywhere across
 * calls. Calls on_event for every event completed by these bytes. An event
 * over the cap is dropped whole (see sse_dropped()), the stream goes on.
 * Returns 0, -ERR_NOMEM, or the first nonzero value of on_event (the parser
 * then stays usable: the rest of those bytes was not consumed, so a caller
 * that stops usually drops the stream).
 */
int sse_feed(struct sse *p, const char *data, size_t n, sse_event_fn on_event,
             void *ctx);

/* The last event ID the stream set ("" when none). Valid until the next
 * sse_feed() or sse_free(). */
const char *sse_last_id(const struct sse *p);
/* The reconnection time the stream asked for in ms, or -1 when none. */
long sse_retry(const struct sse *p);
/* How many events were dropped for exceeding the cap. */
size_t sse_dropped(const struct sse *p);

#endif
