/* SPDX-License-Identifier: MIT */
/* Bridges one stdio MCP session to a remote server's HTTP transport. */
#ifndef MCPFLEET_BRIDGE_H
#define MCPFLEET_BRIDGE_H

#include <poll.h>
#include <stddef.h>

#include "catalogue.h"
#include "err.h"

/* Streamable HTTP (MCP 2025-03-26 and later) or HTTP+SSE (2024-11-05). */
enum bridge_transport { BRIDGE_HTTP, BRIDGE_SSE };

struct bridge_config {
	const char *url; /* http:// or https:// */
	enum bridge_transport transport;
	const struct kvlist *headers; /* added to every request; may be NULL */
	unsigned connect_timeout_ms;  /* 0: 30000 */
	size_t max_message;           /* 0: 64 MiB */
	const char *ca_file; /* NULL: the system store (tests pass a CA) */
	/* Receives one line per event worth telling (never a header value);
	 * may be NULL. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct bridge;

/*
 * Checks cfg and returns a new bridge in *out (caller frees with
 * bridge_free()); cfg's strings are copied. With BRIDGE_SSE it starts the
 * GET of the event stream. Redirects are never followed: a 3xx fails the
 * request that got it. Returns 0, -ERR_INVALID (bad URL or header, d says
 * which), -ERR_NOMEM or -ERR_INTERNAL (libcurl).
 */
int bridge_open(const struct bridge_config *cfg, struct bridge **out,
                struct diag *d);
/*
 * Queues one JSON-RPC message (object or batch, no trailing newline) for the
 * server. Returns 0, -ERR_TOOBIG (over max_message), -ERR_NOMEM,
 * -ERR_INVALID (not JSON, or the bridge is closed or failed).
 */
int bridge_send(struct bridge *b, const char *msg, size_t len);
/*
 * Runs the transfers for at most timeout_ms (negative: no limit); returns
 * early when a message is ready for bridge_recv() or one of the extra fds has
 * events (revents filled by poll() itself, so POLLHUP and POLLERR show too;
 * only the first 16 fds wake the wait up). Returns 0; a negative code when
 * the bridge failed for good, with d saying why (the SSE stream lost, for
 * example).
 */
int bridge_poll(struct bridge *b, struct pollfd *extra, size_t nextra,
                int timeout_ms, struct diag *d);
/*
 * Takes the next message for the host: a server message, or a JSON-RPC
 * error answer the bridge made for a request that failed. *msg is the whole
 * JSON text, NUL-terminated; caller frees. Returns 0 or -ERR_NOENT when none.
 */
int bridge_recv(struct bridge *b, char **msg, size_t *len);
/*
 * Ends the session: stops the GET stream, lets queued POSTs finish (at most
 * timeout_ms), then, with Streamable HTTP and a session id, DELETEs the
 * session (at most timeout_ms more). Idempotent; later sends fail.
 */
void bridge_close(struct bridge *b, int timeout_ms);
/* Frees a bridge without a DELETE, wiping header values (they hold
 * credentials). NULL-safe. */
void bridge_free(struct bridge *b);

/*
 * Looks at the top level of a JSON text of n bytes, without validating it
 * (the server's messages go to the host as they are): returns 2 for an
 * array, 1 for an object (then *id and *idlen span the text of its "id"
 * value, the last one given, or *id is NULL, and *has_method says whether
 * it names a method), 0 for anything else. Public for its tests and fuzz
 * target (tests/fuzz/fuzz_bridge.c); the bridge uses it to match answers to
 * requests.
 */
int bridge_skim(const char *s, size_t n, const char **id, size_t *idlen,
                int *has_method);

#endif
