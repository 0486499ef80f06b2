/* SPDX-License-Identifier: MIT */
/* The console's live view: GET /api/v1/events, and the facts of the core
 * that become its events (docs/design.md, "The live console"). */
#ifndef MCPFLEET_LIVE_H
#define MCPFLEET_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "net.h"

/* Which streams an event goes to (net_stream_opts.mask): every stream,
 * or only those of a role that may read the catalogue (role.h's
 * ROLE_SET_AUDIT), which get the overview with its catalogue counts. */
#define LIVE_MASK_BASIC 1u /* a role that may not read the catalogue */
#define LIVE_MASK_AUDIT 2u
#define LIVE_MASK_ALL   (LIVE_MASK_BASIC | LIVE_MASK_AUDIT)

/* Devices remembered for the next flush; past this many, one "devices"
 * event tells the consoles to read the list afresh. */
#define LIVE_DEVICES_MAX 256
/* The counters and the push progress go out at most this often (ms). */
#define LIVE_COUNTS_MS 1000
/* Every open stream's credentials are checked again this often (s). */
#define LIVE_RECHECK_SECS 10
/* Streams whose credentials the core keeps to check (those opened in
 * the last NET_STREAM_MAX_SECS, the oldest forgotten first). */
#define LIVE_STREAMS_KEPT (4 * NET_STREAMS_MAX)

struct live;
struct core;

/* Returns 0 with *out (free with live_free()) or -ERR_NOMEM. */
int live_new(struct live **out);
/* Frees l and wipes the credentials it kept. NULL-safe. */
void live_free(struct live *l);

/* A device's facts changed (connected, disconnected, applied a
 * revision, enrolled, revoked). Any thread; NULL-safe. */
void live_mark_device(struct live *l, const char *device_id);
/* The overview's counters or the push progress may have changed (a new
 * revision, a device enrolled or gone). Any thread; NULL-safe. */
void live_mark_counts(struct live *l);
/* Whether live_flush() has something to send now. Any thread. */
bool live_due(struct live *l);

/*
 * The stream hook of GET /api/v1/events (api.h): makes resp an event
 * stream on c->net for the caller's role, ending when the session s
 * names lapses, opening with the current "overview" and "push" events.
 * Remembers the request's credentials for live_flush() to check again.
 * Core thread. Returns 0, -ERR_TOOBIG (too many streams) or another code.
 */
int live_open(struct live *l, struct core *c, const struct net_request *req,
              struct net_response *resp, const struct api_stream *s);

/*
 * Sends what was marked: a "device" event per device, and at most every
 * LIVE_COUNTS_MS the "overview" and "push" events; every
 * LIVE_RECHECK_SECS ends the streams whose credentials no longer hold.
 * Core thread. Returns when it next wants to run (Unix ms, the clock of
 * the core's timed waits; 0: only when marked again).
 */
int64_t live_flush(struct live *l, struct core *c);

#endif
