/* SPDX-License-Identifier: MIT */
/* The JSON-RPC relay of `mcpfleet exec`: passes MCP traffic between the host
 * and the real server, enforcing the tool policy and rate limits, and
 * reporting one record per governed call. */
#ifndef MCPFLEET_RELAY_H
#define MCPFLEET_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "catalogue.h"
#include "limiter.h"

#define RELAY_MESSAGE_MAX ((size_t)64 << 20) /* default max_message */
#define RELAY_NAME_MAX    512                /* bytes of relay_call.name */
#define RELAY_PENDING_MAX 4096  /* requests waiting for an answer */
#define RELAY_BATCH_MAX   4096  /* messages in one batch */
#define RELAY_TOOLS_MAX   65536 /* tools in one tools/list answer */
#define RELAY_DEPTH_MAX   65536 /* nesting of one message */
#define RELAY_ID_MAX      256   /* bytes of a tracked request's id */

/* JSON-RPC error codes of the relay's own answers. */
#define RELAY_CODE_PARSE        (-32700) /* the host sent a non-JSON line */
#define RELAY_CODE_INVALID      (-32600) /* not a JSON-RPC message, too big */
#define RELAY_CODE_PARAMS       (-32602) /* tools/call without a tool name */
#define RELAY_CODE_SERVER       (-32603) /* the server's answer was unusable */
#define RELAY_CODE_DENIED       (-32001) /* the fleet policy denies the tool */
#define RELAY_CODE_RATE_LIMITED (-32029) /* a rate limit refused the call */

enum call_outcome {
	CALL_OUTCOME_OK,
	CALL_OUTCOME_ERROR,
	CALL_OUTCOME_DENIED,
	CALL_OUTCOME_RATE_LIMITED
};

/* "ok", "error", "denied", "rate_limited"; "?" for other values. */
const char *call_outcome_name(enum call_outcome o);

/* One governed request: tools/call, resources/read or prompts/get. The
 * strings are valid during the record hook only. */
struct relay_call {
	const char *method; /* "tools/call", "resources/read", "prompts/get" */
	/* tool name, resource uri, prompt name; "" when absent; at most
	 * RELAY_NAME_MAX bytes (longer ones cut at a UTF-8 boundary) */
	const char *name;
	int64_t at_ms; /* wall clock, Unix ms, when the request was read */
	int64_t
	    duration_us; /* request read -> answer passed on (0: refusals) */
	/* error: a JSON-RPC error answer, a tools/call result with "isError":
	 * true, an unusable answer, or no answer before the session ended */
	enum call_outcome outcome;
	uint64_t bytes_in;  /* bytes of the request message */
	uint64_t bytes_out; /* bytes of the answer message the host received */
	/* denied/rate_limited: why; error: "jsonrpc -32603", "isError",
	 * "no answer", "untracked" (pushed out of the pending table),
	 * "invalid answer", "answer too large"; NULL for ok */
	const char *detail;
};

struct relay_hooks {
	void *ctx;
	/* One finished governed call. May be NULL. */
	void (*record)(void *ctx, const struct relay_call *c);
	/* One line about something dropped or refused. May be NULL. */
	void (*log)(void *ctx, const char *line);
	int64_t (*wall_ms)(void *ctx); /* NULL: CLOCK_REALTIME */
	int64_t (*mono_us)(void *ctx); /* NULL: CLOCK_MONOTONIC */
	/*
	 * The rate decision for a tools/call. NULL: cfg->limiter decides (no
	 * limits when that is NULL too). The contract of limiter_take: 0
	 * admits, 1 refuses with *retry_ms and why. A negative return (the
	 * agent could not be asked) refuses the call: the relay fails closed.
	 */
	int (*admit)(void *ctx, const char *tool, int64_t *retry_ms, char *why,
	             size_t whylen);
};

struct relay_config {
	const char *server;       /* the server's name, for messages */
	const struct strv *allow; /* tool globs; NULL or empty: all allowed */
	const struct strv *deny;  /* tool globs; deny wins */
	struct limiter *limiter;  /* may be NULL; borrowed, must outlive */
	size_t max_message;       /* 0: RELAY_MESSAGE_MAX */
	struct relay_hooks hooks;
};

struct relay;

/* Makes a relay; server, allow and deny are copied. Returns 0 with *out (free
 * with relay_free), -ERR_NOMEM, or -ERR_INVALID when cfg is NULL. */
int relay_new(const struct relay_config *cfg, struct relay **out);

/*
 * A new tool policy for a live relay (the fleet changed it): allow and deny
 * copied, admit (may be NULL) replacing the hook. tools/list answers and
 * tools/call requests from now on follow it. Returns 1 when the tool lists
 * changed (the host should list the tools again: RELAY_LIST_CHANGED), 0
 * when not, or -ERR_NOMEM (the lists are kept as they were).
 */
int relay_set_policy(struct relay *r, const struct strv *allow,
                     const struct strv *deny,
                     int (*admit)(void *ctx, const char *tool,
                                  int64_t *retry_ms, char *why, size_t whylen));

/* The notification that tells the host its tool list changed (MCP's
 * notifications/tools/list_changed), as one stdio line. */
#define RELAY_LIST_CHANGED                                                     \
	"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/"               \
	"list_changed\"}\n"

/* Frees a relay without recording what is pending (call relay_finish
 * first for that). NULL-safe. */
void relay_free(struct relay *r);

/*
 * Stdio framing (newline-delimited JSON, as MCP's stdio transport): feed
 * bytes as they were read; complete lines are handled, a partial line is
 * kept for the next call (at most max_message bytes of it are kept). What to
 * forward is appended to *to_server (whole lines, each ending in '\n'; lines
 * passed unchanged are byte-identical, a CR before the newline included) and
 * the relay's own answers to the host to *to_client.
 *
 * Host side: a line that is not JSON is answered -32700; JSON that is not a
 * JSON-RPC 2.0 message (or a batch of more than RELAY_BATCH_MAX, or a line
 * over max_message) -32600; a tools/call the policy denies RELAY_CODE_DENIED;
 * one a limit refuses RELAY_CODE_RATE_LIMITED, with data.retry_after_ms.
 * Everything else is forwarded unchanged; tools/call, resources/read,
 * prompts/get and tools/list requests are tracked until answered. A member
 * the relay reads (jsonrpc, id, method, params, params.name, params.uri)
 * given twice makes the message invalid, so that the relay and the server
 * cannot read different values. Blank lines are dropped.
 *
 * Server side: answers pass on unchanged except tools/list results, whose
 * denied tools are removed. A line that is not JSON, or is over
 * max_message, is dropped and logged; pending requests it answered (found
 * by a tolerant scan for its ids) get a RELAY_CODE_SERVER error so that the
 * host does not wait for ever.
 *
 * Ids compare by value: a string by its decoded text, a number by its text
 * ("-0" as "0"); 1 and "1" differ. Returns 0, or -ERR_NOMEM (the relay is
 * then in an unknown state and should be freed).
 */
int relay_client_bytes(struct relay *r, const char *p, size_t n,
                       struct buf *to_server, struct buf *to_client);
int relay_server_bytes(struct relay *r, const char *p, size_t n,
                       struct buf *to_client);

/*
 * Message framing (the HTTP bridge hands whole messages, no newline): the
 * same handling; *to_server receives exactly one message without newline,
 * or nothing when the relay answered it itself. What goes to *to_client is
 * always newline-terminated lines (the host side is always stdio): a server
 * message written over several lines has its CR and LF bytes (whitespace
 * outside strings) removed.
 */
int relay_client_message(struct relay *r, const char *msg, size_t n,
                         struct buf *to_server, struct buf *to_client);
int relay_server_message(struct relay *r, const char *msg, size_t n,
                         struct buf *to_client);

/* The session ended: every request still waiting for an answer is recorded
 * (outcome error, detail "no answer") and forgotten. Idempotent. */
void relay_finish(struct relay *r);

#endif
