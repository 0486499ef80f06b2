/* SPDX-License-Identifier: MIT */
/* A look at the plaintext libwebsockets reads, for the checks lws 4.1.6
 * does not make: the case of the method token and the masking of client
 * websocket frames. */
#define _GNU_SOURCE
#include "tlsread.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define TLSREAD_LINE_MAX                                                       \
	256                /* request line bytes kept: the method is first     \
	                    */
#define TLSREAD_HDR_MAX 64 /* header line bytes kept: Content-Length fits */
#define TLSREAD_MSG_MAX 96

enum tlsread_state {
	TR_LINE,    /* HTTP: a request line (or the blank lines before one) */
	TR_HEADERS, /* HTTP: header lines up to the blank one */
	TR_BODY,    /* HTTP: Content-Length bytes */
	TR_F0,      /* WS: frame byte 0 (FIN, opcode) */
	TR_F1,      /* WS: frame byte 1 (MASK, length) */
	TR_FLEN,    /* WS: the 2 or 8 bytes of an extended length */
	TR_FKEY,    /* WS: the 4 bytes of the masking key */
	TR_FPAY,    /* WS: the payload */
	TR_OFF,     /* stopped: a fault, or framing we do not follow */
};

/* One watched connection; SSL ex_data, freed with the SSL. */
struct tlsread_conn {
	enum tlsread_kind kind;
	enum tlsread_state st;
	char line[TLSREAD_LINE_MAX + 1];
	size_t line_len; /* bytes of the line so far (kept or not) */
	bool last_cr;    /* the line's last byte was a CR */
	uint64_t left;   /* body or payload bytes; length bytes to come */
	uint64_t length;
	bool chunked;
	bool ws_headers_done;
	/* HTTP: the request lines seen, those the server began, and the
	 * first bad one (0: none). */
	uint64_t seen;
	uint64_t begun;
	uint64_t fault_at;
	int fault_status;
	bool ws_fault;
	char fault_msg[TLSREAD_MSG_MAX];
};

static pthread_once_t tlsread_once = PTHREAD_ONCE_INIT;
static int tlsread_ctx_idx = -1;
static int tlsread_ssl_idx = -1;
static int (*tlsread_real)(SSL *, void *, int);

static void tlsread_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                         long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void tlsread_init(void)
{
	void *sym = dlsym(RTLD_NEXT, "SSL_read");

	/* Through memcpy: ISO C has no cast from void * to a function. */
	memcpy(&tlsread_real, &sym, sizeof(tlsread_real));
	tlsread_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	tlsread_ssl_idx =
	    SSL_get_ex_new_index(0, NULL, NULL, NULL, tlsread_free);
}

int tlsread_watch_ctx(SSL_CTX *sctx, enum tlsread_kind kind)
{
	void *global, *ours;
	int (*self)(SSL *, void *, int) = SSL_read;

	pthread_once(&tlsread_once, tlsread_init);
	/* The global scope, which libwebsockets' references bind in, must
	 * find this SSL_read(): if it does not (a static or otherwise linked
	 * lws), nothing would be checked, and the server does not start. */
	global = dlsym(RTLD_DEFAULT, "SSL_read");
	memcpy(&ours, &self, sizeof(ours));
	if (tlsread_real == NULL || global != ours || tlsread_ctx_idx < 0 ||
	    tlsread_ssl_idx < 0 || sctx == NULL)
		return -ERR_INTERNAL;
	if (SSL_CTX_set_ex_data(sctx, tlsread_ctx_idx,
	                        (void *)(uintptr_t)kind) != 1)
		return -ERR_NOMEM;
	return 0;
}

/* RFC 9110 token characters. */
static bool tlsread_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Judges a request line (RFC 9112 3: method SP request-target SP
 * HTTP-version); 0, 400 or 501 with c->fault_msg. */
static int tlsread_judge(struct tlsread_conn *c, const char *s, size_t n,
                         bool cut)
{
	static const char *const methods[] = {
	    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	size_t m = 0, t, i;

	while (m < n && tlsread_tchar((unsigned char)s[m]))
		m++;
	if (m == 0 || m >= n || s[m] != ' ')
		goto malformed;
	/* The target: no control byte, no space; then the version. */
	for (t = m + 1; t < n && s[t] != ' '; t++)
		if ((unsigned char)s[t] < 0x21 || s[t] == 0x7f)
			goto malformed;
	if (t == m + 1)
		goto malformed;
	/* A line too long to keep has lost its version: lws judges those. */
	if (!cut && (n - t != 9 || memcmp(s + t, " HTTP/", 6) != 0 ||
	             s[t + 6] < '0' || s[t + 6] > '9' || s[t + 7] != '.' ||
	             s[t + 8] < '0' || s[t + 8] > '9'))
		goto malformed;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i]) == m && memcmp(s, methods[i], m) == 0)
			return 0;
	(void)snprintf(c->fault_msg, sizeof(c->fault_msg),
	               "method %.*s is not implemented (methods are "
	               "case-sensitive)",
	               (int)(m > 32 ? 32 : m), s);
	return 501;
malformed:
	(void)snprintf(c->fault_msg, sizeof(c->fault_msg),
	               "malformed request line");
	return 400;
}

/* A header line (no CRLF), cut short when cut: notes Content-Length and
 * Transfer-Encoding. */
static void tlsread_header(struct tlsread_conn *c, const char *s, size_t n,
                           bool cut)
{
	size_t i = 15;
	uint64_t v = 0;

	if (n >= 18 && strncasecmp(s, "transfer-encoding", 17) == 0 &&
	    s[17] == ':') {
		c->chunked = true;
		return;
	}
	if (n < 15 || strncasecmp(s, "content-length:", 15) != 0)
		return;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			break;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	/* A length net.c refuses ends the connection: stop following. */
	if (i != n || cut)
		c->chunked = true;
	c->length = v;
}

/* Ends a line of the HTTP part; returns the next state. */
static enum tlsread_state tlsread_eol(struct tlsread_conn *c)
{
	size_t n = c->line_len, kept;
	int status;

	/* CRLF or a bare LF, as lws takes both. */
	if (c->last_cr)
		n--;
	kept = c->st == TR_LINE ? TLSREAD_LINE_MAX : TLSREAD_HDR_MAX;
	if (kept > n)
		kept = n;
	c->last_cr = false;
	c->line_len = 0;
	if (c->st == TR_LINE) {
		if (n == 0)
			return TR_LINE; /* RFC 9112 2.2: blank lines first */
		c->seen++;
		if (c->kind == TLSREAD_WS)
			return TR_HEADERS;
		status = tlsread_judge(c, c->line, kept, n > kept);
		if (status != 0) {
			c->fault_at = c->seen;
			c->fault_status = status;
			return TR_OFF;
		}
		c->length = 0;
		c->chunked = false;
		return TR_HEADERS;
	}
	if (n > 0) {
		if (c->kind == TLSREAD_HTTP)
			tlsread_header(c, c->line, kept, n > kept);
		return TR_HEADERS;
	}
	/* The blank line after the headers. */
	if (c->kind == TLSREAD_WS)
		return TR_F0;
	if (c->chunked)
		return TR_OFF;
	c->left = c->length;
	return c->left > 0 ? TR_BODY : TR_LINE;
}

/* Websocket faults seen in this process: see tlsread_ws_faults(). */
static atomic_uint tlsread_faults;

static void tlsread_ws_unmasked(struct tlsread_conn *c, unsigned char b0)
{
	c->ws_fault = true;
	atomic_fetch_add_explicit(&tlsread_faults, 1, memory_order_relaxed);
	(void)snprintf(c->fault_msg, sizeof(c->fault_msg),
	               "unmasked client frame (opcode %u)", b0 & 0x0fu);
}

void tlsread_conn_feed(struct tlsread_conn *c, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i, k;

	for (i = 0; i < n && c->st != TR_OFF; i++) {
		switch (c->st) {
		case TR_LINE:
		case TR_HEADERS:
			if (p[i] == '\n') {
				c->st = tlsread_eol(c);
				break;
			}
			k = c->st == TR_LINE ? TLSREAD_LINE_MAX
			                     : TLSREAD_HDR_MAX;
			if (c->line_len < k)
				c->line[c->line_len] = (char)p[i];
			c->line_len++;
			c->last_cr = p[i] == '\r';
			break;
		case TR_BODY:
			k = n - i;
			if ((uint64_t)k > c->left)
				k = (size_t)c->left;
			c->left -= k;
			i += k - 1;
			if (c->left == 0)
				c->st = TR_LINE;
			break;
		case TR_F0:
			c->line[0] = (char)p[i];
			c->st = TR_F1;
			break;
		case TR_F1:
			if ((p[i] & 0x80) == 0) {
				tlsread_ws_unmasked(c,
				                    (unsigned char)c->line[0]);
				c->st = TR_OFF;
				break;
			}
			c->length = p[i] & 0x7fu;
			c->left = 0;
			if (c->length == 126 || c->length == 127) {
				c->left = c->length == 126 ? 2 : 8;
				c->length = 0;
				c->st = TR_FLEN;
			} else {
				c->left = 4;
				c->st = TR_FKEY;
			}
			break;
		case TR_FLEN:
			c->length = c->length << 8 | p[i];
			if (--c->left == 0) {
				c->left = 4;
				c->st = TR_FKEY;
			}
			break;
		case TR_FKEY:
			if (--c->left == 0) {
				c->left = c->length;
				c->st = c->left > 0 ? TR_FPAY : TR_F0;
			}
			break;
		case TR_FPAY:
			k = n - i;
			if ((uint64_t)k > c->left)
				k = (size_t)c->left;
			c->left -= k;
			i += k - 1;
			if (c->left == 0)
				c->st = TR_F0;
			break;
		case TR_OFF:
			break;
		}
	}
}

/* The parser of ssl, NULL when ssl is not watched. */
static struct tlsread_conn *tlsread_conn_of(SSL *ssl)
{
	if (ssl == NULL || tlsread_ssl_idx < 0)
		return NULL;
	return SSL_get_ex_data(ssl, tlsread_ssl_idx);
}

/* Gives ssl its parser if its SSL_CTX is watched. Returns 0 (watched or
 * not), or -1 without memory. */
static int tlsread_attach(SSL *ssl)
{
	struct tlsread_conn *c;
	void *kind;

	if (tlsread_ctx_idx < 0 || tlsread_ssl_idx < 0 ||
	    tlsread_conn_of(ssl) != NULL)
		return 0;
	kind = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tlsread_ctx_idx);
	if (kind == NULL)
		return 0;
	c = tlsread_conn_new((enum tlsread_kind)(uintptr_t)kind);
	if (c == NULL)
		return -1;
	if (SSL_set_ex_data(ssl, tlsread_ssl_idx, c) != 1) {
		tlsread_conn_free(c);
		return -1;
	}
	return 0;
}

/* libwebsockets' SSL_read() comes here (see tlsread.h). */
int SSL_read(SSL *ssl, void *buf, int num)
{
	struct tlsread_conn *c;
	int n;

	pthread_once(&tlsread_once, tlsread_init);
	if (tlsread_real == NULL)
		return -1;
	/* A watched connection that cannot be watched is not served: the
	 * error makes lws close it. */
	if (tlsread_attach(ssl) != 0)
		return -1;
	n = tlsread_real(ssl, buf, num);
	if (n > 0 && (c = tlsread_conn_of(ssl)) != NULL)
		tlsread_conn_feed(c, buf, (size_t)n);
	return n;
}

struct tlsread_conn *tlsread_conn_new(enum tlsread_kind kind)
{
	struct tlsread_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->kind = kind;
	c->st = TR_LINE;
	return c;
}

void tlsread_conn_free(struct tlsread_conn *c)
{
	free(c);
}

int tlsread_conn_request(struct tlsread_conn *c, char *msg, size_t size)
{
	if (c == NULL || c->kind != TLSREAD_HTTP)
		return 0;
	c->begun++;
	if (c->fault_at == 0 || c->begun < c->fault_at)
		return 0;
	(void)snprintf(msg, size, "%s", c->fault_msg);
	return c->fault_status;
}

int tlsread_conn_ws_fault(const struct tlsread_conn *c, char *msg, size_t size)
{
	if (c == NULL || !c->ws_fault)
		return 0;
	(void)snprintf(msg, size, "%s", c->fault_msg);
	return 1;
}

int tlsread_request(SSL *ssl, char *msg, size_t size)
{
	return tlsread_conn_request(tlsread_conn_of(ssl), msg, size);
}

unsigned tlsread_ws_faults(void)
{
	return atomic_load_explicit(&tlsread_faults, memory_order_relaxed);
}

int tlsread_ws_fault(SSL *ssl, char *msg, size_t size)
{
	return tlsread_conn_ws_fault(tlsread_conn_of(ssl), msg, size);
}
