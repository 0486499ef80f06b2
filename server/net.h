/* SPDX-License-Identifier: MIT */
/* mcpfleetd's network layer: one libwebsockets service loop serving the
 * agent port (mutual TLS, websocket subprotocol mcpfleet.v1) and the API
 * port (server TLS, HTTP/1.1), calling the daemon core back. */
#ifndef MCPFLEET_NET_H
#define MCPFLEET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/*
 * Threading. Everything here runs on the service thread, the one inside
 * net_run() or net_service_once(): every callback, and every function but
 * net_wake(), net_stop(), net_respond() and the event streams' (below),
 * which any thread (net_stop() also a signal handler) may call. A core
 * thread that wants to send hands its work over (a locked queue of its
 * own), calls net_wake(), and sends from its on_wake callback.
 *
 * SIGPIPE: writes to a socket whose peer went away raise SIGPIPE; the
 * program ignores it once at start (signal(SIGPIPE, SIG_IGN)), as both
 * daemons do (docs/transport.md, G14). This module does not change signal
 * dispositions.
 *
 * Logging: the module never logs. Refused handshakes and similar events
 * without a connection to report them on go to the on_log callback; the
 * program routes libwebsockets' own log lines with netclient_lws_log()
 * (common/netclient.h).
 */

#define NET_SUBPROTOCOL "mcpfleet.v1"

#define NET_MESSAGE_MAX (1u << 20)  /* default cap of one agent message */
#define NET_BODY_MAX    (1u << 20)  /* default cap of one request body */
#define NET_QUEUE_MAX   (16u << 20) /* default bytes queued per connection */
#define NET_REASON_MAX  123         /* close reason bytes (RFC 6455 5.5) */
#define NET_PEER_MAX    64
#define NET_PING_MAX    64 /* bytes of net_config.ping_message */
#define NET_HEADER_MAX                                                         \
	8192              /* one request header value, and all extra           \
	                     response headers together */
#define NET_PARAMS_MAX 64 /* query parameters kept */

/* Websocket close codes (RFC 6455 7.4.1) used on the agent port. */
#define NET_CLOSE_NORMAL      1000
#define NET_CLOSE_GOING_AWAY  1001
#define NET_CLOSE_PROTOCOL    1002
#define NET_CLOSE_UNSUPPORTED 1003 /* a text frame */
#define NET_CLOSE_NO_STATUS   1005 /* reported only: close frame without code */
#define NET_CLOSE_ABNORMAL    1006 /* reported only: no close frame at all */
#define NET_CLOSE_POLICY      1008 /* e.g. "revoked" */
#define NET_CLOSE_TOO_BIG     1009
#define NET_CLOSE_INTERNAL    1011

/* Verdicts returned by check_cert and on_open. */
#define NET_ACCEPT 0
#define NET_REJECT 1

/* Returns of on_request: NET_DONE, resp is complete and the module sends
 * it now; NET_DEFER, the core completes resp later and calls
 * net_respond(). */
#define NET_DONE  0
#define NET_DEFER 1

/* Levels of on_log. */
#define NET_LOG_ERR  0
#define NET_LOG_WARN 1
#define NET_LOG_INFO 2

struct net;
struct net_conn;     /* one agent websocket */
struct net_exchange; /* one API request and its response */

/* Who is at the other end of an agent connection, from its certificate. */
struct net_identity {
	/* Lowercase hex of the serial, as crypto_cert_info.serial. */
	char serial[2 * 20 + 1];
	char fingerprint[64 + 1]; /* lowercase hex SHA-256 of the DER */
	/* Lowercase hex SHA-256 of its DER SubjectPublicKeyInfo, as
	 * crypto_key_id(): a renewal must bring another key. */
	char key_id[64 + 1];
	char cn[64 + 1];         /* subject CN */
	char peer[NET_PEER_MAX]; /* numeric address of the peer */
};

/* One query parameter, percent-decoded by libwebsockets ('+' is a space). */
struct net_param {
	const char *name;
	const char *value; /* "" for a bare name */
};

/*
 * An API request. Strings are NUL-terminated, "" when absent, and valid
 * until the response is handed back (on_request returns NET_DONE, or
 * net_respond()).
 *
 * libwebsockets has already decoded path and query: path is
 * percent-decoded with "//", "/./" and "/../" resolved (so "%2F" is a '/'
 * and cannot be told from one), and the query arrives split at '&' and ';'
 * into params, each decoded. A percent-encoded '=' in a parameter name
 * becomes '_'.
 */
struct net_request {
	uint64_t id;        /* unique within this net */
	const char *method; /* GET POST PUT PATCH DELETE OPTIONS HEAD */
	const char *path;
	const struct net_param *params;
	size_t nparams;
	const char *host;
	const char *origin;
	const char *authorization;
	const char *content_type;
	const char *cookie;
	const char *csrf_token;      /* X-CSRF-Token */
	const char *last_event_id;   /* Last-Event-ID (an event stream's) */
	const char *accept_encoding; /* Accept-Encoding */
	const char *if_none_match;   /* If-None-Match */
	const char *body;            /* NUL-terminated; body_len bytes */
	size_t body_len;
	const char *peer; /* numeric address of the client, for rate limits */
};

/* Returns the value of the first query parameter called name, or NULL. */
const char *net_request_param(const struct net_request *req, const char *name);

/* Whether req's path is prefix or under it ("prefix/..."). */
bool net_request_under(const struct net_request *req, const char *prefix);

/*
 * The response the core fills: status (0 means 500), an optional content
 * type, the body (append with buf_*()), extra headers through
 * net_response_header(). The module frees it.
 */
struct net_response {
	int status;
	char content_type[128];
	struct buf body;
	struct buf headers; /* private: "name:\0value\0" pairs */
};

/* Sets the content type. Returns 0, or -ERR_INVALID for a control byte or
 * a value that does not fit. */
int net_response_type(struct net_response *resp, const char *type);

/*
 * Adds a header line, e.g. ("Set-Cookie", "s=...; HttpOnly"). name must be
 * an HTTP token, value free of control bytes (no header injection), and all
 * extra headers together at most NET_HEADER_MAX bytes. Returns 0,
 * -ERR_INVALID, -ERR_TOOBIG or -ERR_NOMEM.
 */
int net_response_header(struct net_response *resp, const char *name,
                        const char *value);

/* The core's side. arg is passed back to every callback. */
struct net_callbacks {
	void *arg;

	/*
	 * During the TLS handshake on the agent port, once the client's
	 * chain has verified against the fleet CA: may this leaf connect?
	 * Return NET_ACCEPT, or NET_REJECT to fail the handshake (an unknown
	 * serial). A revoked device should be accepted here so that it can be
	 * handed its signed revocation. OpenSSL may ask more than once per
	 * handshake, so answer the same way each time. NULL accepts every
	 * certificate that chains to the CA.
	 */
	int (*check_cert)(void *arg, const struct net_identity *id);

	/*
	 * An agent websocket is opening (before the 101 answer). Return
	 * NET_ACCEPT, or NET_REJECT to refuse the upgrade. The core may
	 * already net_send() and net_close(); it all goes out once the
	 * websocket is established. c stays valid until on_close.
	 */
	int (*on_open)(void *arg, struct net_conn *c,
	               const struct net_identity *id);

	/* One whole binary message (fragments reassembled), at most
	 * max_message bytes. data is valid during the call only. */
	void (*on_message)(void *arg, struct net_conn *c, const void *data,
	                   size_t len);

	/*
	 * Called exactly once for every connection on_open accepted, and for
	 * no other. code and reason: what this side sent (net_close(), or
	 * 1009 for an oversized message), else the peer's close frame, else
	 * NET_CLOSE_ABNORMAL ("connection lost", a dead peer's keepalive
	 * timeout included). c is invalid after the call.
	 */
	void (*on_close)(void *arg, struct net_conn *c, int code,
	                 const char *reason);

	/* After one or more net_wake() calls; never spuriously. */
	void (*on_wake)(void *arg);

	/*
	 * An API request, complete with its body. Fill resp and return
	 * NET_DONE, or keep ex and return NET_DEFER, then fill resp (from
	 * any thread) and call net_respond(). req and resp stay valid until
	 * then. NULL answers 404 to everything.
	 */
	int (*on_request)(void *arg, struct net_exchange *ex,
	                  const struct net_request *req,
	                  struct net_response *resp);

	/* A line worth logging, e.g. a refused handshake. Optional. */
	void (*on_log)(void *arg, int level, const char *msg);
};

/* What to serve. PEM inputs are copied or loaded before net_create()
 * returns. */
#define NET_HANDSHAKES_MAX 256

struct net_config {
	const char *address; /* listen address; NULL: "127.0.0.1" */
	int agent_port;      /* 0: the kernel picks, see net_agent_port() */
	int api_port;        /* 0: the kernel picks, see net_api_port() */
	/* The fleet CA (one or more certificates): agent certificates must
	 * chain to it; both ports also send it after the server certificate,
	 * so that an enrolling agent can check it against its pin. */
	const char *ca_pem;
	size_t ca_len;
	const char *cert_pem; /* server certificate */
	size_t cert_len;
	const char *key_pem; /* its private key */
	size_t key_len;
	size_t max_message; /* 0: NET_MESSAGE_MAX */
	size_t max_body;    /* 0: NET_BODY_MAX */
	size_t max_queue;   /* 0: NET_QUEUE_MAX */
	/* The agent port's keepalive: a ping once either side has been quiet
	 * for ping_secs (0: 60), a hang-up once the peer has been silent for
	 * hangup_secs (0: 150). The ping is ping_message, a binary message
	 * of at most NET_PING_MAX bytes that the peer answers with any
	 * message of its own (NULL: a websocket ping). */
	unsigned ping_secs;
	unsigned hangup_secs;
	const void *ping_message;
	size_t ping_len;
	unsigned timeout_secs;   /* TLS handshake, headers, body; 0: 10 */
	unsigned keepalive_secs; /* idle HTTP keep-alive; 0: 5 */
	/* Agent connections accepted and not yet websockets (TLS and the
	 * upgrade under way); past it the agent port stops accepting until
	 * one finishes, and the rest wait in the kernel's backlog.
	 * 0: NET_HANDSHAKES_MAX. */
	unsigned handshakes_max;
	/* Event streams (net_response_stream()): at most max_streams open
	 * at once (0: NET_STREAMS_MAX), each dropped once more than
	 * stream_queue bytes wait for its reader (0: NET_STREAM_QUEUE_MAX),
	 * a comment after stream_heartbeat_secs without an event (0:
	 * NET_STREAM_BEAT_SECS), and each closed after stream_max_secs (0:
	 * NET_STREAM_MAX_SECS), so that its client,
	 * which reconnects by itself, shows its credentials again. */
	unsigned max_streams;
	size_t stream_queue;
	unsigned stream_heartbeat_secs;
	unsigned stream_max_secs;
};

/*
 * Creates the service: one libwebsockets context with the two listening
 * vhosts. Returns 0 with *out (free with net_free()), -ERR_INVALID for a
 * bad configuration, -ERR_NETWORK when a port cannot be bound, -ERR_CRYPTO
 * when the certificates or key do not load; d says which.
 */
int net_create(const struct net_config *cfg, const struct net_callbacks *cb,
               struct net **out, struct diag *d);

/* Closes every connection (no callbacks but on_close for open
 * websockets), frees deferred exchanges never answered, and the service.
 * The core must not call net_respond() afterwards. NULL-safe. */
void net_free(struct net *net);

/* The ports actually bound (useful with port 0). */
int net_agent_port(const struct net *net);
int net_api_port(const struct net *net);

/* Runs the service loop (libev, docs/design.md "The event loop") until
 * net_stop(). Returns 0. */
int net_run(struct net *net);

/* Serves whatever is ready, waiting at most timeout_ms for something to
 * happen (0: do not wait). Returns 0. For tests and for programs with
 * their own loop. */
int net_service_once(struct net *net, int timeout_ms);

/* Makes net_run() return soon. Any thread; async-signal-safe (an atomic
 * store and ev_async_send(), an eventfd write). */
void net_stop(struct net *net);

/* Makes the service thread call on_wake soon. Any thread. */
void net_wake(struct net *net);

/* ---- Agent connections (service thread only) ---- */

/*
 * Queues one binary message (copied). Returns 0, -ERR_TOOBIG when len is
 * over max_message or the connection's queue would pass max_queue (the
 * core may then close a peer this slow), -ERR_INVALID once the connection
 * is closing, -ERR_NOMEM.
 */
int net_send(struct net_conn *c, const void *data, size_t len);

/*
 * Closes the connection once the messages already queued are out, with a
 * close frame carrying code (1000..4999, not 1004-1006 or 1015) and reason
 * (at most NET_REASON_MAX bytes), e.g. (NET_CLOSE_POLICY, "revoked").
 * on_close follows. A second call is ignored. Returns 0, -ERR_INVALID or
 * -ERR_TOOBIG.
 */
int net_close(struct net_conn *c, int code, const char *reason);

const struct net_identity *net_conn_identity(const struct net_conn *c);
/* A number unique within this net, for the core's maps. */
uint64_t net_conn_id(const struct net_conn *c);
void net_conn_set_user(struct net_conn *c, void *user);
void *net_conn_user(const struct net_conn *c);
/* Connections on_open accepted that have not closed yet. */
size_t net_conn_count(const struct net *net);

/* ---- API exchanges ---- */

/*
 * Hands back a deferred exchange whose resp is now complete. Any thread;
 * exactly once per NET_DEFER. If the client has gone meanwhile, the
 * exchange is just freed. ex, its request and response must not be used
 * after this call.
 */
void net_respond(struct net *net, struct net_exchange *ex);

/* ---- Event streams (text/event-stream, on the API port) ---- */

#define NET_STREAMS_MAX      64
#define NET_STREAM_MAX_SECS  300 /* a stream's lifetime */
#define NET_STREAM_BEAT_SECS 20  /* a comment after this long quiet */
#define NET_STREAM_QUEUE_MAX (1u << 20)
/* Events kept for a client that comes back with Last-Event-ID. */
#define NET_STREAM_RING 512
/* The reconnection delay each stream announces ("retry:"), ms. */
#define NET_STREAM_RETRY_MS 3000
/* Longest event name, and the most bytes of one event's data. */
#define NET_EVENT_NAME_MAX 32
#define NET_EVENT_DATA_MAX 65536

/* How an event stream opens (net_response_stream()). */
struct net_stream_opts {
	/* The client's Last-Event-ID header ("" or NULL: none). */
	const char *last_event_id;
	/* The events it carries: those posted with a mask that shares a bit
	 * with this one (nonzero). */
	unsigned mask;
	/* Ends it sooner than the net's stream_max_secs (0: that), e.g. when
	 * the credential it was opened with expires. */
	unsigned max_secs;
};

/*
 * Makes resp an event stream instead of a response: its status 200, its
 * content type "text/event-stream", "Cache-Control: no-store", the extra
 * headers set, no Content-Length. Once the headers are out the stream
 * announces "retry: NET_STREAM_RETRY_MS", then sends what resp->body
 * holds (events the core wrote with net_event_append(), e.g. the state
 * now), then every net_stream_event() for its mask from then on, and a
 * ": keepalive" comment whenever stream_heartbeat_secs pass without one,
 * until the client goes, its lifetime passes, its queue passes
 * stream_queue bytes (the slow reader is dropped, never waited for),
 * net_stream_end() or net_free(). A Last-Event-ID that this net gave out
 * and whose successors are still among the last NET_STREAM_RING events
 * gets those successors after the body; any other gets an event "reset"
 * (data "{}") before it: the client has missed something and should
 * read afresh. Any thread, before net_respond(). Returns 0 with *id (if
 * not NULL) the stream's id for net_stream_end(), -ERR_TOOBIG when
 * max_streams are open or promised already (answer 503), -ERR_INVALID
 * for a response that is not an exchange's or a mask of 0.
 */
int net_response_stream(struct net *net, struct net_response *resp,
                        const struct net_stream_opts *o, uint64_t *id);

/*
 * Appends one event to b in text/event-stream form: "id: ID" (when id
 * is not NULL), "event: EVENT", one "data:" line per line of data, a
 * blank line. event: 1 to NET_EVENT_NAME_MAX bytes of [A-Za-z0-9_.-];
 * data: at most NET_EVENT_DATA_MAX bytes without CR. Returns 0,
 * -ERR_INVALID or -ERR_NOMEM (b unchanged).
 */
int net_event_append(struct buf *b, const char *id, const char *event,
                     const char *data);

/*
 * Sends one event to every open stream whose mask shares a bit with
 * mask (as net_event_append(), with id "EPOCH-N": EPOCH this net's, N
 * counting up from 1 in the order the service thread takes them), and
 * keeps it for replays. Any thread: the event is copied and sent by the
 * service thread. Returns 0, -ERR_INVALID (a bad name or data, a mask of
 * 0) or -ERR_NOMEM.
 */
int net_stream_event(struct net *net, unsigned mask, const char *event,
                     const char *data);

/* Ends the stream with this id (net_response_stream()) if it is still
 * open: its credential no longer holds. Any thread. Returns 0,
 * -ERR_INVALID for id 0 or -ERR_NOMEM. */
int net_stream_end(struct net *net, uint64_t stream_id);

/* Streams open or promised now (an ended one no longer counts, though its
 * connection may linger while lws flushes it). Any thread. */
size_t net_stream_count(const struct net *net);

#endif
