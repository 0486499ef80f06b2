/* SPDX-License-Identifier: MIT */
/* Client side of mcpfleet's transport on libwebsockets: blocking HTTPS
 * requests (enrollment, mcpfleetctl) and the agent's websocket. */
#ifndef MCPFLEET_NETCLIENT_H
#define MCPFLEET_NETCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * Trust. A server is accepted when its chain verifies against ca_pem (the
 * fleet CA; every certificate in it is a trust anchor) and its
 * certificate names the URL's host (a DNS name, or an IP address SAN for an
 * IP literal, IPv6 included). With a pin ("sha256:HEX", the
 * SHA-256 of the CA certificate's DER as in an enrollment link), the chain
 * must also contain that certificate; with a pin and no ca_pem, the pinned
 * CA is the trust anchor, provided the server sends it after its own
 * certificate (mcpfleetd does). Redirects are never followed.
 *
 * Each call creates its own libwebsockets context: nothing is shared
 * between calls or threads. SIGPIPE must be ignored by the program.
 */

#define NETCLIENT_SUBPROTOCOL  "mcpfleet.v1"
#define NETCLIENT_RESPONSE_MAX (16u << 20)
#define NETCLIENT_MESSAGE_MAX  (1u << 20)
#define NETCLIENT_REASON_MAX   123

/* Why a call failed, finer than its return code. */
enum netclient_fail {
	NETCLIENT_OK = 0,
	NETCLIENT_FAIL_USAGE,    /* bad URL, pin or argument: -ERR_INVALID */
	NETCLIENT_FAIL_CONNECT,  /* refused, unreachable, unknown host:
	                            -ERR_NETWORK */
	NETCLIENT_FAIL_TLS,      /* the server is not trusted (wrong CA, name
	                            mismatch), or the TLS handshake failed:
	                            -ERR_VERIFY */
	NETCLIENT_FAIL_PIN,      /* the server's CA is not the pinned one:
	                            -ERR_VERIFY */
	NETCLIENT_FAIL_TIMEOUT,  /* -ERR_NETWORK */
	NETCLIENT_FAIL_PROTOCOL, /* the connection dropped or the answer was
	                            malformed (-ERR_NETWORK) or too large
	                            (-ERR_TOOBIG) */
	NETCLIENT_FAIL_HTTP,     /* an HTTP error status (see
	                            netclient_http_status()) */
	NETCLIENT_FAIL_LOCAL,    /* out of memory or no libwebsockets context:
	                            -ERR_NOMEM, -ERR_INTERNAL */
};

/* A short name for a failure class ("connection refused or unreachable"). */
const char *netclient_fail_str(enum netclient_fail f);

/*
 * Routes libwebsockets' own log lines, a process-wide setting: levels is a
 * mask of NETCLIENT_LOG_* (0 silences it), emit receives each line (NULL:
 * lws writes to stderr). A program calls it once at the top, before any
 * context exists; library code never does.
 */
#define NETCLIENT_LOG_ERR    1
#define NETCLIENT_LOG_WARN   2
#define NETCLIENT_LOG_NOTICE 4
#define NETCLIENT_LOG_INFO   8
void netclient_lws_log(int levels, void (*emit)(int level, const char *line));

/* ---- HTTPS ---- */

struct netclient_header {
	const char *name; /* e.g. "Authorization" */
	const char *value;
};

struct netclient_request {
	const char *method; /* NULL: "GET" */
	/* https://HOST[:PORT]/PATH[?QUERY]; HOST a DNS name, an IPv4
	 * address or [IPv6]; PORT defaults to 443. */
	const char *url;
	const struct netclient_header *headers;
	size_t nheaders;
	const void *body; /* sent with Content-Length when body_len > 0 or
	                     the method is POST, PUT or PATCH */
	size_t body_len;
	const char *ca_pem; /* the CA to trust; NULL: the pin alone */
	size_t ca_len;
	const char *pin;     /* "sha256:HEX" or HEX; NULL: none */
	unsigned timeout_ms; /* the whole exchange; 0: 30000 */
	size_t max_response; /* 0: NETCLIENT_RESPONSE_MAX */
};

struct netclient_response {
	int status;
	char *body; /* NUL-terminated; len bytes */
	size_t len;
};

/*
 * Performs one request. Returns 0 once a complete response arrived,
 * whatever its status, with *resp (free with netclient_response_free());
 * otherwise a negative code, with *fail (may be NULL) saying which
 * failure it was and d why, e.g. "https://127.0.0.1:7444/v1/enroll: TLS:
 * the server's certificate chain does not verify: self-signed certificate
 * in certificate chain (depth 1)".
 */
int netclient_https(const struct netclient_request *req,
                    struct netclient_response *resp, enum netclient_fail *fail,
                    struct diag *d);

/* Frees the body; the response is then empty. NULL-safe. */
void netclient_response_free(struct netclient_response *resp);

/*
 * Judges a response: 0 for 1xx-3xx; for an error status, *fail (may be
 * NULL) = NETCLIENT_FAIL_HTTP, d quotes the status and the start of the
 * body, and the code is -ERR_PERM (401, 403), -ERR_NOENT (404), -ERR_EXISTS
 * (409), -ERR_TOOBIG (413), -ERR_INVALID (other 4xx) or -ERR_NETWORK (5xx).
 */
int netclient_http_status(const struct netclient_response *resp,
                          enum netclient_fail *fail, struct diag *d);

/* ---- Websocket (the agent's connection) ---- */

/* The stages of a websocket client. */
enum netclient_ws_state {
	NETCLIENT_WS_CONNECTING,
	NETCLIENT_WS_OPEN,
	NETCLIENT_WS_CLOSED,
};

struct netclient_ws_config {
	const char *url;    /* wss://HOST[:PORT]/PATH, as for netclient_https */
	const char *ca_pem; /* the CA to trust (required) */
	size_t ca_len;
	const char *cert_pem; /* the device certificate */
	size_t cert_len;
	const char *key_pem; /* its key, never written anywhere */
	size_t key_len;
	size_t max_message;          /* 0: NETCLIENT_MESSAGE_MAX */
	unsigned connect_timeout_ms; /* TLS and upgrade; 0: 15000 */
	/* The server's silence before our websocket ping (0: 120) and
	 * before hanging up (0: 150); any frame from it counts. */
	unsigned ping_secs;
	unsigned hangup_secs;
};

struct netclient_ws;

/*
 * Starts connecting (subprotocol mcpfleet.v1, the device certificate as
 * client certificate). Nothing happens until the caller services it.
 * Returns 0 with *out (free with netclient_ws_free()), -ERR_INVALID for a
 * bad configuration, or another negative code, with d saying why. A
 * connection that fails later shows as NETCLIENT_WS_CLOSED with its
 * reason in netclient_ws_closed().
 */
int netclient_ws_open(const struct netclient_ws_config *cfg,
                      struct netclient_ws **out, struct diag *d);

/* Closes the connection if needed and frees everything. NULL-safe. */
void netclient_ws_free(struct netclient_ws *ws);

/*
 * Serves the connection once, waiting at most timeout_ms (0: not at all)
 * for something to happen. Returns 0, or -ERR_NETWORK when libwebsockets
 * fails. The caller's loop calls it, then drains netclient_ws_recv().
 */
int netclient_ws_service(struct netclient_ws *ws, int timeout_ms);

/* Services until the connection is open or closed, at most timeout_ms.
 * Returns 0 when open; otherwise the code and *fail of the failure. */
int netclient_ws_wait_open(struct netclient_ws *ws, int timeout_ms,
                           enum netclient_fail *fail, struct diag *d);

enum netclient_ws_state netclient_ws_state(const struct netclient_ws *ws);

/* Queues a binary message (copied). Returns 0, -ERR_INVALID unless open
 * and not closing, -ERR_TOOBIG over max_message, -ERR_NOMEM. */
int netclient_ws_send(struct netclient_ws *ws, const void *data, size_t len);

/*
 * Takes the oldest message received. Returns 0 with *data (caller frees
 * with free()) and *len, or -ERR_NOENT when there is none.
 */
int netclient_ws_recv(struct netclient_ws *ws, void **data, size_t *len);

/* Closes once the queued messages are out, with a close frame (code
 * 1000..4999, reason at most NETCLIENT_REASON_MAX bytes). Returns 0 or
 * -ERR_INVALID. */
int netclient_ws_close(struct netclient_ws *ws, int code, const char *reason);

/*
 * Once NETCLIENT_WS_CLOSED: the close code and reason the server sent
 * (1008 "revoked"), or the one we sent, or 1006 with "connection lost"; 0
 * when it never opened, with *fail saying why (NETCLIENT_FAIL_TLS covers a
 * server that refused our certificate: over TLS 1.3 it can only say so
 * after the handshake, docs/transport.md, G5). Any out-parameter may be NULL;
 * *reason stays valid until netclient_ws_free(). Returns -ERR_INVALID
 * while not closed.
 */
int netclient_ws_closed(const struct netclient_ws *ws, int *code,
                        const char **reason, enum netclient_fail *fail);

/* Makes a netclient_ws_service() waiting in another thread return. Any
 * thread. */
void netclient_ws_wake(struct netclient_ws *ws);

#endif
