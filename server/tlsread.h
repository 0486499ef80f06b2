/* SPDX-License-Identifier: MIT */
/* A look at the plaintext libwebsockets reads, for the checks lws 4.1.6
 * does not make: the case of the method token and the masking of client
 * websocket frames. */
#ifndef MCPFLEET_TLSREAD_H
#define MCPFLEET_TLSREAD_H

#include <stddef.h>

#include <openssl/ssl.h>

/* What a server port carries. */
enum tlsread_kind {
	TLSREAD_HTTP = 1, /* HTTP/1.1 requests, possibly pipelined */
	TLSREAD_WS,       /* one websocket upgrade request, then frames */
};

/*
 * Watches every connection accepted with sctx from now on. Returns 0,
 * -ERR_NOMEM, or -ERR_INTERNAL when libwebsockets' SSL_read() calls would
 * not come here.
 *
 * Why this exists: lws 4.1.6 matches the method case-insensitively ("get"
 * is GET) and unmasks client frames without checking that they were
 * masked (RFC 6455 5.1 says the server MUST close on an unmasked frame),
 * and keeps both facts to itself. This module defines SSL_read(): the
 * dynamic linker binds libwebsockets' calls to it, and it hands them to
 * OpenSSL's after looking at the bytes of the connections watched here.
 * It never changes them; others pass straight through.
 */
int tlsread_watch_ctx(SSL_CTX *sctx, enum tlsread_kind kind);

/*
 * TLSREAD_HTTP: the server begins another request on ssl (call it once
 * per request, in order). Returns 0 when its request line was good, 400
 * for a malformed one or 501 for a method the server does not implement,
 * with a message in msg (size bytes) that names it.
 */
int tlsread_request(SSL *ssl, char *msg, size_t size);

/*
 * TLSREAD_WS: returns 1 once a frame the client sent was not masked (msg
 * says which), else 0.
 */
int tlsread_ws_fault(SSL *ssl, char *msg, size_t size);

/* How many connections have had a websocket fault in this process so far:
 * a caller that saw the same count before need not ask each of its
 * connections again. */
unsigned tlsread_ws_faults(void);

/*
 * The parser behind SSL_read(), one per connection, for the tests and the
 * fuzz target (tests/fuzz/fuzz_tlsread.c). tlsread_conn_new() returns a
 * new parser of a connection of that kind, or NULL without memory; free it
 * with tlsread_conn_free(). tlsread_conn_feed() gives it the next bytes
 * read; tlsread_conn_request() and tlsread_conn_ws_fault() are
 * tlsread_request() and tlsread_ws_fault() for it.
 */
struct tlsread_conn;
struct tlsread_conn *tlsread_conn_new(enum tlsread_kind kind);
void tlsread_conn_feed(struct tlsread_conn *c, const void *data, size_t len);
int tlsread_conn_request(struct tlsread_conn *c, char *msg, size_t size);
int tlsread_conn_ws_fault(const struct tlsread_conn *c, char *msg, size_t size);
void tlsread_conn_free(struct tlsread_conn *c);

#endif
