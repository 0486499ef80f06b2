/* SPDX-License-Identifier: MIT */
/* mcpfleetd's network layer on libwebsockets 4.1.6 built with OpenSSL,
 * running on a libev loop of its own (epoll). */
#define _GNU_SOURCE /* accept4() */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "crypto.h"
#include "tlsread.h"

/*
 * The peer certificate is read with OpenSSL's X509 API through
 * lws_get_ssl() and the verify callback's X509_STORE_CTX: lws 4.1.6 exposes
 * neither the serial nor a fingerprint (docs/transport.md, G3). The trust
 * anchor is loaded the same way, because 4.1.6's OpenSSL backend ignores
 * server_ssl_ca_mem: only ssl_ca_filepath reaches the server's store.
 */

#define NET_DEFAULT_ADDRESS "127.0.0.1"
#define NET_CHUNK           16384 /* response body bytes per write */
#define NET_AGENT_RX        1024  /* lws' receive buffer per agent connection */
#define NET_DISCARD_FACTOR  4     /* 413: drain bodies up to 4 x max_body */
#define NET_LOG_LINE        512
#define NET_KEEPALIVE_TICK  LWS_US_PER_SEC /* the keepalive sweep */
#define NET_ACCEPT_BURST    64 /* agent connections accepted per wakeup */

struct net_msg {
	struct net_msg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then len bytes */
};

/* The per-session data of the agent protocol: lws allocates and zeroes it,
 * and frees it after LWS_CALLBACK_CLOSED. */
/* An agent connection in its handshake; the wsi's opaque user data points
 * here until it ends. */
struct net_handshake {
	struct lws *wsi;
	lws_usec_t since;
};

struct net_conn {
	struct net *net;
	struct lws *wsi;
	struct net_conn *prev; /* net->conns, while opened */
	struct net_conn *next;
	uint64_t id;
	void *user;
	struct net_identity ident;
	bool opened;      /* on_open accepted it: on_close is owed */
	bool established; /* the 101 went out */
	bool closing;     /* net_close() asked: close once the queue is out */
	bool close_sent;  /* our close frame is on its way */
	bool peer_closed; /* the peer's close frame arrived */
	bool ping_due;    /* a keepalive ping is to be written */
	bool ping_sent;   /* and no frame has come since */
	bool hung_up;     /* silent too long: being dropped */
	int close_code;
	int peer_code;
	char close_reason[NET_REASON_MAX + 1];
	char peer_reason[NET_REASON_MAX + 1];
	struct net_msg *qhead;
	struct net_msg *qtail;
	size_t qbytes;
	struct buf rx;      /* a fragmented message being reassembled */
	lws_usec_t last_rx; /* the peer's last frame, a pong included */
	lws_usec_t last_tx; /* our last message or ping */
};

enum net_ex_state {
	NET_EX_BODY,  /* reading the request body */
	NET_EX_CORE,  /* with the core after NET_DEFER */
	NET_EX_WRITE, /* the response is being written */
};

/* Request fields kept as offsets into the string store until it stops
 * growing. */
enum net_field {
	NET_F_PATH,
	NET_F_HOST,
	NET_F_ORIGIN,
	NET_F_AUTH,
	NET_F_CTYPE,
	NET_F_COOKIE,
	NET_F_CSRF,
	NET_F_AENC,
	NET_F_LAST_ID,
	NET_F_INM,
	NET_F_COUNT_
};

struct net_exchange {
	struct net *net;
	struct lws *wsi;           /* NULL once the connection is gone */
	struct net_exchange *prev; /* net->exchanges */
	struct net_exchange *next;
	struct net_exchange *done_next; /* net->done_head, under net->lock */
	enum net_ex_state state;
	bool close_after; /* close the connection after the response */
	bool head_only;   /* HEAD: headers without the body */
	bool headers_sent;
	size_t expect; /* Content-Length */
	size_t sent;   /* body bytes written */
	struct net_request req;
	struct net_response resp;
	struct buf body;
	struct buf store; /* the request's strings, NUL-separated */
	size_t off[NET_F_COUNT_];
	size_t param_off[NET_PARAMS_MAX][2];
	struct net_param params[NET_PARAMS_MAX];
	char peer[NET_PEER_MAX];
	/* An event stream (net_response_stream()): promised (counted in
	 * net->nstreams) once the core asked, open once back on the service
	 * thread; out holds what waits for the client from out_off on. */
	bool stream;
	bool stream_open;
	bool stream_reset;   /* the client's Last-Event-ID is not replayable */
	bool stream_drop;    /* too slow, or too old: close it */
	bool stream_counted; /* holds a place in net->nstreams */
	uint64_t stream_after; /* replay the ring's events after this one */
	struct buf out;
	size_t out_off;
	lws_usec_t stream_since;  /* opened */
	lws_usec_t stream_last;   /* last event or comment queued */
	lws_usec_t stream_max_us; /* its lifetime */
	uint64_t stream_id;       /* net_stream_end()'s */
	unsigned stream_mask;     /* the events it carries */
};

/* One event as every stream gets it, kept in net->ring for replays. */
struct net_frame {
	uint64_t seq;
	unsigned mask;
	size_t len;
	char data[];
};

/* Posted by any thread for the service thread, under net->lock: an
 * event (text: its name, NUL, its data, NUL) or, with stream_id, the end
 * of that stream. */
struct net_pending {
	struct net_pending *next;
	unsigned mask;
	uint64_t stream_id;
	char text[];
};

/* The per-session data of the API protocol; lws frees it on every
 * protocol rebind, that is after each keep-alive transaction. */
struct net_http {
	struct net_exchange *ex;
};

/* The per-session data of NET_REFUSE_PROTOCOL: a request lws could not
 * parse as HTTP, answered with a 501 or a 400 and closed. */
struct net_refuse {
	int status; /* 0 until the request came in */
	bool sent;
	char msg[128];
};

#define NET_REFUSE_PROTOCOL "mcpfleet-refuse"

struct net {
	struct lws_context *ctx;
	struct lws_vhost *agent_vh;
	struct lws_vhost *api_vh;
	struct net_callbacks cb;
	size_t max_message;
	size_t max_body;
	size_t max_queue;
	unsigned timeout_secs;
	lws_usec_t ping_us;   /* agent port: quiet time before a ping */
	lws_usec_t hangup_us; /* the peer's silence before hanging up */
	/* cfg->ping_message with LWS_PRE bytes of headroom; NULL: websocket
	 * pings. */
	unsigned char *ping_msg;
	size_t ping_len;
	unsigned faults_seen; /* tlsread_ws_faults() at the last sweep */
	/* All zero: libwebsockets keeps no validity timer of its own on the
	 * agent port (net_keepalive() does the work). */
	lws_retry_bo_t retry;
	lws_sorted_usec_list_t keepalive;
	struct lws_protocols agent_protocols[2];
	struct lws_protocols api_protocols[3];
	/* Valid during net_create() only: the vhosts load the CA from it. */
	const char *ca_pem;
	size_t ca_len;
	char ca_error[160];
	atomic_int stop;
	atomic_int wake;
	pthread_mutex_t lock; /* guards done_head/done_tail, pend_* */
	struct net_exchange *done_head;
	struct net_exchange *done_tail;
	struct net_pending *pend_head; /* net_stream_event(), _end() */
	struct net_pending *pend_tail;
	struct net_exchange *exchanges; /* every live exchange */
	struct net_conn *conns;         /* every opened connection */
	size_t nconns;
	uint64_t next_id;
	/* The libev loop lws runs on, handed to it as a foreign loop: ours,
	 * so that net_run() can leave it (docs/design.md, "The event
	 * loop"). */
	struct ev_loop *loop;
	void *foreign_loops[1]; /* info.foreign_loops */
	ev_async stop_async;    /* net_stop(): ends ev_run() */
	ev_timer once;          /* bounds net_service_once()'s wait */
	/* The agent port's listening socket is ours, not lws': see
	 * net_accept(). */
	int agent_fd;
	int agent_port;
	ev_io agent_io;
	/* Agent connections accepted and not yet websockets nor gone: the
	 * first handshakes of handshakes_max places, in no order. */
	struct net_handshake *hs;
	unsigned handshakes;
	unsigned handshakes_max; /* cfg->handshakes_max */
	bool accept_paused;      /* agent_io stopped: handshakes_max, EMFILE */
	/* Event streams: the settings, the last event's number (written on
	 * the service thread, read by net_response_stream() on any), the
	 * streams open or promised, and the last NET_STREAM_RING events,
	 * ring[seq % NET_STREAM_RING] (service thread). */
	unsigned max_streams;
	size_t stream_queue;
	lws_usec_t stream_heartbeat_us;
	lws_usec_t stream_max_us;
	char epoch[17]; /* hex, tells this net's event ids from another's */
	atomic_uint_fast64_t stream_seq;
	atomic_size_t nstreams;
	atomic_uint_fast64_t stream_ids; /* the last stream's id */
	struct net_frame *ring[NET_STREAM_RING];
	/* Handed to both vhosts as their client SSL_CTX and freed by us:
	 * left to itself, lws 4.1.6 builds one for the first vhost and never
	 * frees it (one SSL_CTX and the system CA store leaked per net). */
	SSL_CTX *client_ctx;
};

static struct net *net_of(struct lws *wsi)
{
	struct lws_context *ctx = wsi != NULL ? lws_get_context(wsi) : NULL;

	return ctx != NULL ? lws_context_user(ctx) : NULL;
}

static void net_log(struct net *net, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void net_log(struct net *net, int level, const char *fmt, ...)
{
	char line[NET_LOG_LINE];
	va_list ap;

	if (net == NULL || net->cb.on_log == NULL)
		return;
	va_start(ap, fmt);
	/* A log line cut short is still worth logging. */
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	net->cb.on_log(net->cb.arg, level, line);
}

/* Copies s into dst (size bytes). Returns 0, or -ERR_TRUNC. */
static int net_copy(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return -ERR_TRUNC;
	memcpy(dst, s, n + 1);
	return 0;
}

/* The numeric address of the peer, an IPv4-mapped one unmapped. */
static void net_peer(struct lws *wsi, char out[NET_PEER_MAX])
{
	char tmp[NET_PEER_MAX];
	const char *p;

	out[0] = '\0';
	p = lws_get_peer_simple(wsi, tmp, sizeof(tmp));
	if (p == NULL)
		return;
	tmp[sizeof(tmp) - 1] = '\0';
	if (strncmp(tmp, "::ffff:", 7) == 0 && strchr(tmp + 7, '.') != NULL)
		(void)net_copy(out, NET_PEER_MAX, tmp + 7);
	else
		(void)net_copy(out, NET_PEER_MAX, tmp);
}

/* Replaces bytes a log line or a close reason should not carry. */
static void net_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The first byte of v (n bytes) that RFC 9110 does not allow in a field
 * value: a control byte other than HTAB, NUL included. Returns its offset,
 * or n when there is none. */
static size_t net_field_bad(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') ||
		    v[i] == 0x7f)
			return i;
	return n;
}

/* ---- Certificates ---- */

/* Fills id (peer left alone) from a certificate. Returns 0 or -ERR_INVALID. */
static int net_identity_of(X509 *x, struct net_identity *id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = NULL;
	unsigned char *der = NULL;
	char *hex = NULL;
	char *h;
	int n, r = -ERR_INVALID;

	bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL);
	if (bn == NULL || BN_is_negative(bn))
		goto out;
	hex = BN_bn2hex(bn);
	if (hex == NULL || net_copy(id->serial, sizeof(id->serial), hex) != 0)
		goto out;
	for (h = id->serial; *h != '\0'; h++)
		if (*h >= 'A' && *h <= 'F')
			*h = (char)(*h - 'A' + 'a');
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != CRYPTO_HASH_LEN ||
	    crypto_hex(md, mdlen, id->fingerprint, sizeof(id->fingerprint)) !=
	        0)
		goto out;
	/* The key as the certificate encodes it, not re-encoded. */
	if ((n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) <= 0 ||
	    EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != CRYPTO_HASH_LEN ||
	    crypto_hex(md, mdlen, id->key_id, sizeof(id->key_id)) != 0)
		goto out;
	/* G2: the CN itself, not lws' "everything after /CN=". A CN that
	 * does not fit, or hides a NUL, is no identity at all. */
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
	                              id->cn, (int)sizeof(id->cn));
	if (n < 0)
		id->cn[0] = '\0';
	else if ((size_t)n >= sizeof(id->cn) || strlen(id->cn) != (size_t)n)
		goto out;
	r = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: puts the fleet CA in
 * the vhost's store, the agent port's trust anchor and, on both ports, the
 * source OpenSSL completes the server's chain from. On the agent port also
 * turns session resumption off: a resumed session skips the verify
 * callback, so a device refused since would get back in. */
static int net_load_ca(struct net *net, SSL_CTX *sctx, bool agent)
{
	X509_STORE *store;
	BIO *bio = NULL;
	X509 *x;
	int n = 0, r = -ERR_CRYPTO;

	if (net->ca_pem == NULL || sctx == NULL)
		goto out;
	store = SSL_CTX_get_cert_store(sctx);
	bio = BIO_new_mem_buf(net->ca_pem, (int)net->ca_len);
	if (store == NULL || bio == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) != 1) {
			X509_free(x);
			goto out;
		}
		X509_free(x);
		n++;
	}
	if (n == 0)
		goto out;
	/* The checks lws 4.1.6 does not make (tlsread.h). */
	if (tlsread_watch_ctx(sctx, agent ? TLSREAD_WS : TLSREAD_HTTP) != 0) {
		(void)snprintf(net->ca_error, sizeof(net->ca_error),
		               "the plaintext checks cannot see what "
		               "libwebsockets reads (server/tlsread.c)");
		r = -ERR_INTERNAL;
		goto out;
	}
	if (agent) {
		SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(sctx, 0);
	}
	r = 0;
out:
	if (r != 0 && net->ca_error[0] == '\0')
		(void)snprintf(net->ca_error, sizeof(net->ca_error),
		               "fleet CA: no certificate could be loaded");
	BIO_free(bio);
	return r;
}

/*
 * LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION, once per chain
 * depth. G1: lws treats our 0 as "accept" even when OpenSSL's own check
 * failed, so a failed chain must be refused here. The leaf then goes to
 * the core. Returns 0 to accept, 1 to refuse.
 */
static int net_verify_client(struct net *net, struct lws *wsi,
                             X509_STORE_CTX *xs, int preverify_ok)
{
	struct net_identity id;
	X509 *x;
	int err, depth;

	memset(&id, 0, sizeof(id));
	if (wsi != NULL)
		net_peer(wsi, id.peer);
	depth = X509_STORE_CTX_get_error_depth(xs);
	if (!preverify_ok) {
		err = X509_STORE_CTX_get_error(xs);
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused client certificate "
		        "(depth %d): %s",
		        id.peer, depth, X509_verify_cert_error_string(err));
		return 1;
	}
	if (depth != 0)
		return 0;
	x = X509_STORE_CTX_get_current_cert(xs);
	if (x == NULL || net_identity_of(x, &id) != 0) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused client certificate: "
		        "unreadable serial or subject",
		        id.peer);
		return 1;
	}
	if (net->cb.check_cert != NULL &&
	    net->cb.check_cert(net->cb.arg, &id) != NET_ACCEPT) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused client certificate serial %s "
		        "(CN %s): not accepted",
		        id.peer, id.serial, id.cn);
		return 1;
	}
	return 0;
}

/* ---- Agent connections ---- */

static void net_conn_free_queue(struct net_conn *c)
{
	struct net_msg *m;

	while ((m = c->qhead) != NULL) {
		c->qhead = m->next;
		free(m);
	}
	c->qtail = NULL;
	c->qbytes = 0;
}

/* The name of the first upgrade header that holds a control byte, or
 * NULL: lws would read "mcpfleet.v1\0junk" as our subprotocol. */
static const char *net_upgrade_bad_header(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes token;
		const char *name;
	} hdrs[] = {
	    {WSI_TOKEN_HOST, "Host"},
	    {WSI_TOKEN_ORIGIN, "Origin"},
	    {WSI_TOKEN_UPGRADE, "Upgrade"},
	    {WSI_TOKEN_CONNECTION, "Connection"},
	    {WSI_TOKEN_KEY, "Sec-WebSocket-Key"},
	    {WSI_TOKEN_VERSION, "Sec-WebSocket-Version"},
	    {WSI_TOKEN_PROTOCOL, "Sec-WebSocket-Protocol"},
	    {WSI_TOKEN_EXTENSIONS, "Sec-WebSocket-Extensions"},
	};
	char v[NET_HEADER_MAX + 1];
	size_t i;
	int n;

	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		if (lws_hdr_total_length(wsi, hdrs[i].token) <= 0)
			continue;
		n = lws_hdr_copy(wsi, v, (int)sizeof(v), hdrs[i].token);
		if (n < 0 || net_field_bad(v, (size_t)n) != (size_t)n)
			return hdrs[i].name;
	}
	return NULL;
}

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: the last point where refusing
 * keeps the client from ever seeing an established websocket. */
static int net_conn_filter(struct net *net, struct lws *wsi, struct net_conn *c,
                           const char *subprotocol)
{
	union lws_tls_cert_info_results ir;
	struct net_identity id;
	const char *bad;
	X509 *x;

	memset(&id, 0, sizeof(id));
	net_peer(wsi, id.peer);
	if (c == NULL)
		return 1;
	/* Defence in depth for G1: the chain must have verified. */
	if (lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_VERIFIED, &ir, 0) !=
	        0 ||
	    !ir.verified) {
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused: client certificate not "
		        "verified",
		        id.peer);
		return 1;
	}
	if ((bad = net_upgrade_bad_header(wsi)) != NULL) {
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused: header %s holds a control "
		        "character (or is too long)",
		        id.peer, bad);
		return 1;
	}
	/* lws binds a request without Sec-WebSocket-Protocol to the first
	 * protocol anyway; the agent must ask for ours by name. */
	if (subprotocol == NULL || *subprotocol == '\0') {
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused: no websocket subprotocol "
		        "(want %s)",
		        id.peer, NET_SUBPROTOCOL);
		return 1;
	}
	x = SSL_get0_peer_certificate(lws_get_ssl(wsi));
	if (x == NULL || net_identity_of(x, &id) != 0) {
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused: unreadable client "
		        "certificate",
		        id.peer);
		return 1;
	}
	/* Asked again in case the handshake skipped the verify callback. */
	if (net->cb.check_cert != NULL &&
	    net->cb.check_cert(net->cb.arg, &id) != NET_ACCEPT) {
		net_log(net, NET_LOG_WARN,
		        "agent port: %s: refused serial %s (CN %s): not "
		        "accepted",
		        id.peer, id.serial, id.cn);
		return 1;
	}
	c->net = net;
	c->wsi = wsi;
	c->id = ++net->next_id;
	c->ident = id;
	/* on_open may already send and close (net.h). */
	c->opened = true;
	if (net->cb.on_open != NULL &&
	    net->cb.on_open(net->cb.arg, c, &c->ident) != NET_ACCEPT) {
		c->opened = false;
		net_conn_free_queue(c);
		net_log(net, NET_LOG_INFO,
		        "agent port: %s: serial %s (CN %s) refused by the core",
		        id.peer, id.serial, id.cn);
		return 1;
	}
	c->next = net->conns;
	if (net->conns != NULL)
		net->conns->prev = c;
	net->conns = c;
	net->nconns++;
	return 0;
}

/* Sends our close frame now (from the receive path) and tells lws to close:
 * the caller returns -1. */
static int net_conn_abort(struct net *net, struct net_conn *c, int code,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int net_conn_abort(struct net *net, struct net_conn *c, int code,
                          const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* Our own reason text: cutting it at the frame's limit is fine. */
	(void)vsnprintf(c->close_reason, sizeof(c->close_reason), fmt, ap);
	va_end(ap);
	c->close_code = code;
	c->closing = true;
	c->close_sent = true;
	lws_close_reason(c->wsi, (enum lws_close_status)code,
	                 (unsigned char *)c->close_reason,
	                 strlen(c->close_reason));
	net_log(net, NET_LOG_WARN, "agent port: %s: serial %s: closed %d: %s",
	        c->ident.peer, c->ident.serial, code, c->close_reason);
	return -1;
}

/* LWS_CALLBACK_RECEIVE: one piece of a frame. */
static int net_conn_receive(struct net *net, struct lws *wsi,
                            struct net_conn *c, const void *in, size_t len)
{
	size_t rem, have, max = net->max_message;
	char why[NET_REASON_MAX + 1];

	if (c == NULL || !c->opened)
		return -1;
	if (c->close_sent)
		return 0;
	/* RFC 6455 5.1: a server MUST close on an unmasked client frame;
	 * lws 4.1.6 unmasks what it gets without looking. */
	if (tlsread_ws_fault(lws_get_ssl(wsi), why, sizeof(why)))
		return net_conn_abort(net, c, NET_CLOSE_PROTOCOL, "%s", why);
	if (!lws_frame_is_binary(wsi))
		return net_conn_abort(net, c, NET_CLOSE_UNSUPPORTED,
		                      "binary frames only");
	rem = lws_remaining_packet_payload(wsi);
	have = c->rx.len;
	/* The frame header announced rem more bytes: refuse before they
	 * arrive rather than after. */
	if (len > max || have > max - len || rem > max - have - len)
		return net_conn_abort(net, c, NET_CLOSE_TOO_BIG,
		                      "message over %zu bytes", max);
	if (lws_is_final_fragment(wsi) && have == 0) {
		if (net->cb.on_message != NULL)
			net->cb.on_message(net->cb.arg, c, in, len);
		return 0;
	}
	if (buf_append(&c->rx, in, len) != 0)
		return net_conn_abort(net, c, NET_CLOSE_INTERNAL,
		                      "out of memory");
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (net->cb.on_message != NULL)
		net->cb.on_message(net->cb.arg, c, c->rx.data, c->rx.len);
	/* Messages in pieces are rare (a sync report): the memory goes with
	 * them rather than stay with every idle connection. */
	buf_free(&c->rx);
	return 0;
}

/* LWS_CALLBACK_SERVER_WRITEABLE: one queued message, or the close frame
 * once the queue is empty. lws may call it more often than asked (G7). */
static int net_conn_writeable(struct lws *wsi, struct net_conn *c)
{
	struct net_msg *m;
	size_t len;
	int n;

	if (c == NULL || !c->opened || !c->established)
		return 0;
	if (c->close_sent)
		return -1;
	if (c->ping_due) {
		unsigned char ping[LWS_PRE + NET_PING_MAX];
		struct net *net = c->net;
		enum lws_write_protocol how = LWS_WRITE_PING;
		size_t plen = 1;

		/* A websocket ping is not empty: lws 4.1.6 does not report
		 * an empty pong (LWS_CALLBACK_RECEIVE_PONG), and the answer
		 * would go unseen. */
		c->ping_due = false;
		ping[LWS_PRE] = 'k';
		if (net->ping_msg != NULL) {
			how = LWS_WRITE_BINARY;
			plen = net->ping_len;
			memcpy(ping + LWS_PRE, net->ping_msg, plen);
		}
		if (lws_write(wsi, ping + LWS_PRE, plen, how) < 0)
			return -1;
		c->last_tx = lws_now_usecs();
		if (c->qhead != NULL || c->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	m = c->qhead;
	if (m != NULL) {
		c->qhead = m->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		len = m->len;
		c->qbytes -= len;
		n = lws_write(wsi, m->data + LWS_PRE, len, LWS_WRITE_BINARY);
		free(m);
		if (n < 0 || (size_t)n < len)
			return -1;
		c->last_tx = lws_now_usecs();
		if (c->qhead != NULL || c->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		c->close_sent = true;
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		                 (unsigned char *)c->close_reason,
		                 strlen(c->close_reason));
		return -1;
	}
	return 0;
}

/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: in is the close payload. */
static void net_conn_peer_close(struct net_conn *c, const unsigned char *in,
                                size_t len)
{
	size_t n;

	if (c == NULL || c->peer_closed)
		return;
	c->peer_closed = true;
	if (in == NULL || len < 2) {
		c->peer_code = NET_CLOSE_NO_STATUS;
		return;
	}
	c->peer_code = (in[0] << 8) | in[1];
	n = len - 2;
	if (n > NET_REASON_MAX)
		n = NET_REASON_MAX;
	memcpy(c->peer_reason, in + 2, n);
	c->peer_reason[n] = '\0';
	net_sanitize(c->peer_reason);
}

/* LWS_CALLBACK_CLOSED (and CLOSED_HTTP, should an upgrade fail after the
 * filter): lws calls it even for connections refused earlier (G6), so
 * only an opened connection counts, and only once. */
static void net_conn_finish(struct net *net, struct net_conn *c)
{
	const char *reason;
	int code;

	if (c == NULL)
		return;
	if (c->opened) {
		c->opened = false;
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			net->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->prev = c->next = NULL;
		net->nconns--;
		if (c->closing) {
			code = c->close_code;
			reason = c->close_reason;
		} else if (c->peer_closed) {
			code = c->peer_code;
			reason = c->peer_reason;
		} else {
			code = NET_CLOSE_ABNORMAL;
			reason = "connection lost";
		}
		if (net->cb.on_close != NULL)
			net->cb.on_close(net->cb.arg, c, code, reason);
	}
	net_conn_free_queue(c);
	buf_free(&c->rx);
}

int net_send(struct net_conn *c, const void *data, size_t len)
{
	struct net *net = c->net;
	struct net_msg *m;

	if (!c->opened || c->closing)
		return -ERR_INVALID;
	if (len > net->max_message || c->qbytes > net->max_queue - len)
		return -ERR_TOOBIG;
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (m == NULL)
		return -ERR_NOMEM;
	m->next = NULL;
	m->len = len;
	if (len > 0)
		memcpy(m->data + LWS_PRE, data, len);
	if (c->qtail != NULL)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->qbytes += len;
	if (c->established)
		lws_callback_on_writable(c->wsi);
	return 0;
}

int net_close(struct net_conn *c, int code, const char *reason)
{
	if (code < 1000 || code > 4999 || (code >= 1004 && code <= 1006) ||
	    code == 1015)
		return -ERR_INVALID;
	if (reason == NULL)
		reason = "";
	if (strlen(reason) > NET_REASON_MAX)
		return -ERR_TOOBIG;
	if (!c->opened || c->closing)
		return 0;
	c->closing = true;
	c->close_code = code;
	(void)net_copy(c->close_reason, sizeof(c->close_reason), reason);
	net_sanitize(c->close_reason);
	/* A peer that stops reading must not hold the close up for ever. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
	                (int)c->net->timeout_secs * 3);
	if (c->established)
		lws_callback_on_writable(c->wsi);
	return 0;
}

const struct net_identity *net_conn_identity(const struct net_conn *c)
{
	return &c->ident;
}

uint64_t net_conn_id(const struct net_conn *c)
{
	return c->id;
}

void net_conn_set_user(struct net_conn *c, void *user)
{
	c->user = user;
}

void *net_conn_user(const struct net_conn *c)
{
	return c->user;
}

size_t net_conn_count(const struct net *net)
{
	return net->nconns;
}

/* ---- API exchanges ---- */

const char *net_request_param(const struct net_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

bool net_request_under(const struct net_request *req, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(req->path, prefix, n) == 0 &&
	       (req->path[n] == '\0' || req->path[n] == '/');
}

int net_response_type(struct net_response *resp, const char *type)
{
	const char *p;

	for (p = type; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -ERR_INVALID;
	if (net_copy(resp->content_type, sizeof(resp->content_type), type) != 0)
		return -ERR_INVALID;
	return 0;
}

/* RFC 9110 token characters. */
static bool net_is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int net_response_header(struct net_response *resp, const char *name,
                        const char *value)
{
	const char *p;
	size_t nlen = strlen(name), vlen = strlen(value);

	if (nlen == 0)
		return -ERR_INVALID;
	for (p = name; *p != '\0'; p++)
		if (!net_is_tchar(*p))
			return -ERR_INVALID;
	/* No CR, LF or other control byte: no header injection. */
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return -ERR_INVALID;
	if (resp->headers.len + nlen + vlen + 3 > NET_HEADER_MAX)
		return -ERR_TOOBIG;
	if (buf_append(&resp->headers, name, nlen) != 0 ||
	    buf_append(&resp->headers, ":", 2) != 0 ||
	    buf_append(&resp->headers, value, vlen + 1) != 0)
		return -ERR_NOMEM;
	return 0;
}

static void net_ex_free(struct net *net, struct net_exchange *ex)
{
	if (ex == NULL)
		return;
	if (ex->prev != NULL)
		ex->prev->next = ex->next;
	else if (net->exchanges == ex)
		net->exchanges = ex->next;
	if (ex->next != NULL)
		ex->next->prev = ex->prev;
	buf_free(&ex->body);
	buf_free(&ex->store);
	buf_free(&ex->resp.body);
	buf_free(&ex->resp.headers);
	buf_free(&ex->out);
	if (ex->stream_counted)
		atomic_fetch_sub(&net->nstreams, 1);
	free(ex);
}

/* Appends s (n bytes) and a NUL to the store; *off gets where. */
static int net_ex_store(struct net_exchange *ex, const char *s, size_t n,
                        size_t *off)
{
	*off = ex->store.len;
	if (buf_append(&ex->store, s, n) != 0 || buf_putc(&ex->store, '\0'))
		return -ERR_NOMEM;
	return 0;
}

/* Copies header h into the store. Returns 0, -ERR_TOOBIG, -ERR_NOMEM, or
 * -ERR_INVALID for a control byte: C strings downstream would end at a NUL
 * and read "TOKEN\0junk" as TOKEN. */
static int net_ex_header(struct net_exchange *ex, struct lws *wsi,
                         enum lws_token_indexes h, char *tmp, size_t tmpsize,
                         size_t *off)
{
	int n = 0;

	if (lws_hdr_total_length(wsi, h) > 0) {
		n = lws_hdr_copy(wsi, tmp, (int)tmpsize, h);
		if (n < 0)
			return -ERR_TOOBIG;
		if (net_field_bad(tmp, (size_t)n) != (size_t)n)
			return -ERR_INVALID;
	}
	return net_ex_store(ex, tmp, (size_t)n, off);
}

/* Turns the stored offsets into the request's pointers, once the store
 * has stopped growing. */
static void net_ex_fix(struct net_exchange *ex)
{
	const char *s = ex->store.data;
	size_t i;

	ex->req.path = s + ex->off[NET_F_PATH];
	ex->req.host = s + ex->off[NET_F_HOST];
	ex->req.origin = s + ex->off[NET_F_ORIGIN];
	ex->req.authorization = s + ex->off[NET_F_AUTH];
	ex->req.content_type = s + ex->off[NET_F_CTYPE];
	ex->req.cookie = s + ex->off[NET_F_COOKIE];
	ex->req.csrf_token = s + ex->off[NET_F_CSRF];
	ex->req.accept_encoding = s + ex->off[NET_F_AENC];
	ex->req.last_event_id = s + ex->off[NET_F_LAST_ID];
	ex->req.if_none_match = s + ex->off[NET_F_INM];
	for (i = 0; i < ex->req.nparams; i++) {
		ex->params[i].name = s + ex->param_off[i][0];
		ex->params[i].value = s + ex->param_off[i][1];
	}
	ex->req.params = ex->params;
	ex->req.body = ex->body.data != NULL ? ex->body.data : "";
	ex->req.body_len = ex->body.len;
	ex->req.peer = ex->peer;
}

/* Reads the query parameters. Returns 0, -ERR_TOOBIG or -ERR_NOMEM. */
static int net_ex_params(struct net_exchange *ex, struct lws *wsi, char *tmp,
                         size_t tmpsize)
{
	char *eq;
	int i, n;
	size_t k = 0;

	for (i = 0;; i++) {
		n = lws_hdr_copy_fragment(wsi, tmp, (int)tmpsize,
		                          WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		if (n == 0)
			continue;
		if (k == NET_PARAMS_MAX)
			return -ERR_TOOBIG;
		eq = memchr(tmp, '=', (size_t)n);
		if (eq != NULL) {
			if (net_ex_store(ex, tmp, (size_t)(eq - tmp),
			                 &ex->param_off[k][0]) != 0 ||
			    net_ex_store(ex, eq + 1,
			                 (size_t)n - (size_t)(eq - tmp) - 1,
			                 &ex->param_off[k][1]) != 0)
				return -ERR_NOMEM;
		} else if (net_ex_store(ex, tmp, (size_t)n,
		                        &ex->param_off[k][0]) != 0 ||
		           net_ex_store(ex, "", 0, &ex->param_off[k][1]) != 0)
			return -ERR_NOMEM;
		k++;
	}
	ex->req.nparams = k;
	return 0;
}

/* Answers an exchange that never reaches the core (400, 404, 411, 413). */
static int net_http_refuse(struct net_exchange *ex, int status, const char *msg,
                           bool close_after)
{
	ex->resp.status = status;
	(void)net_response_type(&ex->resp, "text/plain; charset=utf-8");
	buf_reset(&ex->resp.body);
	if (buf_puts(&ex->resp.body, msg) != 0 ||
	    buf_putc(&ex->resp.body, '\n') != 0)
		return -1;
	ex->close_after = close_after;
	ex->state = NET_EX_WRITE;
	lws_callback_on_writable(ex->wsi);
	return 0;
}

static void net_stream_open(struct net *net, struct net_exchange *ex);

/* Hands a complete request to the core. */
static int net_http_dispatch(struct net *net, struct net_http *h)
{
	struct net_exchange *ex = h != NULL ? h->ex : NULL;
	int r = NET_DONE;

	if (ex == NULL || ex->state != NET_EX_BODY)
		return 0;
	net_ex_fix(ex);
	ex->state = NET_EX_CORE;
	if (net->cb.on_request == NULL)
		return net_http_refuse(ex, 404, "not found", false);
	r = net->cb.on_request(net->cb.arg, ex, &ex->req, &ex->resp);
	if (r == NET_DEFER) {
		/* The core answers later; bound the wait. */
		lws_set_timeout(ex->wsi, PENDING_TIMEOUT_USER_OK,
		                (int)net->timeout_secs * 6);
		return 0;
	}
	ex->state = NET_EX_WRITE;
	if (ex->stream)
		net_stream_open(net, ex);
	lws_callback_on_writable(ex->wsi);
	return 0;
}

/* Parses a Content-Length: digits only, no sign, no overflow. */
static int net_parse_length(const char *s, size_t *out)
{
	size_t v = 0;

	if (*s == '\0')
		return -ERR_INVALID;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
			return -ERR_INVALID;
		v = v * 10 + (size_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* LWS_CALLBACK_HTTP: the request line and headers are in. */
static int net_http_begin(struct net *net, struct lws *wsi, struct net_http *h,
                          const char *path, size_t pathlen)
{
	static const char *const methods[] = {
	    [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",
	    [LWSHUMETH_OPTIONS] = "OPTIONS", [LWSHUMETH_PUT] = "PUT",
	    [LWSHUMETH_PATCH] = "PATCH",     [LWSHUMETH_DELETE] = "DELETE",
	    [LWSHUMETH_HEAD] = "HEAD",
	};
	/* Every header the core reads, by the name its error gives. */
	static const struct {
		enum lws_token_indexes token;
		enum net_field field;
		const char *name;
	} hdrs[] = {
	    {WSI_TOKEN_HOST, NET_F_HOST, "Host"},
	    {WSI_TOKEN_ORIGIN, NET_F_ORIGIN, "Origin"},
	    {WSI_TOKEN_HTTP_AUTHORIZATION, NET_F_AUTH, "Authorization"},
	    {WSI_TOKEN_HTTP_CONTENT_TYPE, NET_F_CTYPE, "Content-Type"},
	    {WSI_TOKEN_HTTP_COOKIE, NET_F_COOKIE, "Cookie"},
	    {WSI_TOKEN_HTTP_ACCEPT_ENCODING, NET_F_AENC, "Accept-Encoding"},
	    {WSI_TOKEN_HTTP_IF_NONE_MATCH, NET_F_INM, "If-None-Match"},
	};
	/* ... and those lws has no token for, by their lowercase name. */
	static const struct {
		const char *lname;
		enum net_field field;
		const char *name;
	} custom[] = {
	    {"x-csrf-token:", NET_F_CSRF, "X-CSRF-Token"},
	    {"last-event-id:", NET_F_LAST_ID, "Last-Event-ID"},
	};
	struct net_exchange *ex;
	char *tmp = NULL, *uri = NULL, cl[32], msg[96];
	size_t length = 0, i;
	bool has_length, body_method;
	int meth, urilen = 0, n, r = -1;

	if (h == NULL)
		return -1;
	meth = lws_http_get_uri_and_method(wsi, &uri, &urilen);
	if (meth < 0 || (size_t)meth >= sizeof(methods) / sizeof(methods[0]) ||
	    methods[meth] == NULL)
		return -1;
	ex = calloc(1, sizeof(*ex));
	tmp = malloc(NET_HEADER_MAX + 1);
	if (ex == NULL || tmp == NULL) {
		free(ex);
		goto out;
	}
	ex->net = net;
	ex->wsi = wsi;
	ex->next = net->exchanges;
	if (net->exchanges != NULL)
		net->exchanges->prev = ex;
	net->exchanges = ex;
	h->ex = ex;
	ex->req.id = ++net->next_id;
	ex->req.method = methods[meth];
	ex->head_only = meth == LWSHUMETH_HEAD;
	ex->state = NET_EX_BODY;
	net_peer(wsi, ex->peer);
	/* lws took "get" for GET (tlsread.h). */
	n = tlsread_request(lws_get_ssl(wsi), msg, sizeof(msg));
	if (n != 0) {
		r = net_http_refuse(ex, n, msg, true);
		goto out;
	}
	if (path == NULL)
		path = "";
	if (net_ex_store(ex, path, strnlen(path, pathlen),
	                 &ex->off[NET_F_PATH]) != 0)
		goto out;
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		n = net_ex_header(ex, wsi, hdrs[i].token, tmp,
		                  NET_HEADER_MAX + 1, &ex->off[hdrs[i].field]);
		if (n == -ERR_INVALID) {
			(void)snprintf(msg, sizeof(msg),
			               "header %s holds a control character",
			               hdrs[i].name);
			r = net_http_refuse(ex, 400, msg, true);
			goto out;
		}
		if (n != 0) {
			r = net_http_refuse(ex, 431, "request header too large",
			                    true);
			goto out;
		}
	}
	for (i = 0; i < sizeof(custom) / sizeof(custom[0]); i++) {
		n = lws_hdr_custom_copy(wsi, tmp, NET_HEADER_MAX + 1,
		                        custom[i].lname,
		                        (int)strlen(custom[i].lname));
		if (n > 0 && net_field_bad(tmp, (size_t)n) != (size_t)n) {
			(void)snprintf(msg, sizeof(msg),
			               "header %s holds a control character",
			               custom[i].name);
			r = net_http_refuse(ex, 400, msg, true);
			goto out;
		}
		if (net_ex_store(ex, tmp, n > 0 ? (size_t)n : 0,
		                 &ex->off[custom[i].field]) != 0) {
			r = net_http_refuse(ex, 431, "request header too large",
			                    true);
			goto out;
		}
	}
	if (net_ex_params(ex, wsi, tmp, NET_HEADER_MAX + 1) != 0) {
		r = net_http_refuse(ex, 400, "too many query parameters", true);
		goto out;
	}

	body_method = strcmp(ex->req.method, "POST") == 0 ||
	              strcmp(ex->req.method, "PUT") == 0 ||
	              strcmp(ex->req.method, "PATCH") == 0;
	has_length =
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	/* lws 4.1.6 neither decodes a chunked request body nor knows where
	 * a POST without Content-Length ends (it waits for 100 MB). */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
	    (body_method && !has_length)) {
		r = net_http_refuse(ex, 411, "Content-Length required", true);
		goto out;
	}
	if (has_length &&
	    ((n = lws_hdr_copy(wsi, cl, sizeof(cl),
	                       WSI_TOKEN_HTTP_CONTENT_LENGTH)) < 0 ||
	     strlen(cl) != (size_t)n || net_parse_length(cl, &length) != 0)) {
		r = net_http_refuse(ex, 400, "bad Content-Length", true);
		goto out;
	}
	if (length > net->max_body) {
		net_log(net, NET_LOG_INFO,
		        "API port: %s: %s %s: body of %zu bytes refused (cap "
		        "%zu)",
		        ex->peer, ex->req.method, ex->store.data, length,
		        net->max_body);
		/* A body a few times the cap is drained so that the client,
		 * which is still sending, reads the 413; a larger one is not
		 * read at all. */
		r = net_http_refuse(ex, 413, "request body too large",
		                    length / NET_DISCARD_FACTOR >
		                        net->max_body);
		goto out;
	}
	ex->expect = length;
	if (length > 0 && buf_reserve(&ex->body, length) != 0)
		goto out;
	/* lws itself calls HTTP_BODY_COMPLETION for a POST with an explicit
	 * zero length, and for any body; otherwise the request is complete. */
	if (length == 0 && !(has_length && meth == LWSHUMETH_POST))
		r = net_http_dispatch(net, h);
	else
		r = 0;
out:
	free(tmp);
	return r;
}

/* LWS_CALLBACK_HTTP_BODY: the body arrives in pieces. */
static int net_http_body(struct net_http *h, const void *in, size_t len)
{
	struct net_exchange *ex = h != NULL ? h->ex : NULL;

	if (ex == NULL)
		return -1;
	if (ex->state != NET_EX_BODY)
		return 0; /* being refused: drain */
	if (len > ex->expect || ex->body.len > ex->expect - len)
		return -1;
	if (len > 0 && buf_append(&ex->body, in, len) != 0)
		return -1;
	return 0;
}

/* Writes the status line and headers of ex's response: content_len
 * bytes of body, or LWS_ILLEGAL_HTTP_CONTENT_LEN for a stream (lws then
 * says "Connection: close" itself). Returns 0 or -1. */
static int net_http_headers(struct lws *wsi, struct net_exchange *ex,
                            lws_filepos_t content_len)
{
	unsigned char hb[LWS_PRE + NET_HEADER_MAX + 1024];
	unsigned char *start = hb + LWS_PRE, *p = start;
	unsigned char *end = hb + sizeof(hb) - 1;
	struct net_response *resp = &ex->resp;
	const char *name, *value;
	size_t off;

	if (resp->status < 100 || resp->status > 599)
		resp->status = 500;
	if (lws_add_http_common_headers(
	        wsi, (unsigned)resp->status,
	        resp->content_type[0] != '\0' ? resp->content_type : NULL,
	        content_len, &p, end) != 0)
		return -1;
	for (off = 0; off < resp->headers.len;) {
		name = resp->headers.data + off;
		value = name + strlen(name) + 1;
		off = (size_t)(value - resp->headers.data) + strlen(value) + 1;
		if (lws_add_http_header_by_name(
		        wsi, (const unsigned char *)name,
		        (const unsigned char *)value, (int)strlen(value), &p,
		        end) != 0)
			return -1;
	}
	if (ex->close_after &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
	                                 (const unsigned char *)"close", 5, &p,
	                                 end) != 0)
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
		return -1;
	ex->headers_sent = true;
	return 0;
}

/* An open stream's turn to write: its headers, then what it has queued,
 * NET_CHUNK bytes at a time. */
static int net_stream_writeable(struct lws *wsi, struct net_exchange *ex)
{
	unsigned char cb[LWS_PRE + NET_CHUNK];
	size_t n;

	if (ex->stream_drop)
		return -1;
	if (!ex->headers_sent) {
		if (net_http_headers(wsi, ex, LWS_ILLEGAL_HTTP_CONTENT_LEN) !=
		    0)
			return -1;
		/* From now on it lasts until stream_max_us, the sweep's
		 * business (net_streams_sweep()). */
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	} else if (ex->out_off < ex->out.len) {
		n = ex->out.len - ex->out_off;
		if (n > NET_CHUNK)
			n = NET_CHUNK;
		memcpy(cb + LWS_PRE, ex->out.data + ex->out_off, n);
		if (lws_write(wsi, cb + LWS_PRE, n, LWS_WRITE_HTTP) != (int)n)
			return -1;
		ex->out_off += n;
		if (ex->out_off == ex->out.len) {
			buf_reset(&ex->out);
			ex->out_off = 0;
		}
	}
	if (ex->out_off < ex->out.len)
		lws_callback_on_writable(wsi);
	return 0;
}

/* LWS_CALLBACK_HTTP_WRITEABLE: the headers, then the body in chunks. */
static int net_http_writeable(struct net *net, struct lws *wsi,
                              struct net_http *h)
{
	unsigned char cb[LWS_PRE + NET_CHUNK];
	struct net_exchange *ex = h != NULL ? h->ex : NULL;
	struct net_response *resp;
	size_t n, total;
	bool close_after;

	if (ex == NULL || ex->state != NET_EX_WRITE)
		return 0;
	if (ex->stream_open)
		return net_stream_writeable(wsi, ex);
	resp = &ex->resp;
	total = ex->head_only ? 0 : resp->body.len;
	if (!ex->headers_sent) {
		if (net_http_headers(wsi, ex, resp->body.len) != 0)
			return -1;
		if (total > 0) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else if (ex->sent < total) {
		n = total - ex->sent;
		if (n > NET_CHUNK)
			n = NET_CHUNK;
		memcpy(cb + LWS_PRE, resp->body.data + ex->sent, n);
		if (lws_write(wsi, cb + LWS_PRE, n,
		              ex->sent + n == total ? LWS_WRITE_HTTP_FINAL
		                                    : LWS_WRITE_HTTP) != (int)n)
			return -1;
		ex->sent += n;
		/* A slow reader of a large body is still a live one. */
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
		                (int)net->timeout_secs);
		if (ex->sent < total) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	close_after = ex->close_after;
	h->ex = NULL;
	net_ex_free(net, ex);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- Event streams ---- */

/* Ends a stream: its connection is closed at its next writeable (lws may
 * still flush what it holds for a while), and from now on it neither
 * gets events nor takes one of max_streams' places. */
static void net_stream_drop(struct net *net, struct net_exchange *ex)
{
	if (!ex->stream_drop && ex->stream_counted) {
		ex->stream_counted = false;
		atomic_fetch_sub(&net->nstreams, 1);
	}
	ex->stream_drop = true;
	if (ex->stream_open && ex->wsi != NULL)
		lws_callback_on_writable(ex->wsi);
}

/* Queues bytes for an open stream; one whose reader has fallen more than
 * stream_queue behind is dropped instead. */
static void net_stream_queue(struct net *net, struct net_exchange *ex,
                             const char *data, size_t len)
{
	if (ex->stream_drop || ex->wsi == NULL)
		return;
	if (ex->out.len - ex->out_off + len > net->stream_queue) {
		net_log(net, NET_LOG_INFO,
		        "API port: %s: event stream dropped: more than %zu "
		        "bytes wait for the client",
		        ex->peer, net->stream_queue);
		net_stream_drop(net, ex);
		return;
	}
	if (ex->out_off > 0 && ex->out_off >= ex->out.len / 2) {
		memmove(ex->out.data, ex->out.data + ex->out_off,
		        ex->out.len - ex->out_off);
		ex->out.len -= ex->out_off;
		ex->out_off = 0;
	}
	if (buf_append(&ex->out, data, len) != 0) {
		net_stream_drop(net, ex);
		return;
	}
	ex->stream_last = lws_now_usecs();
	if (ex->headers_sent)
		lws_callback_on_writable(ex->wsi);
}

int net_response_stream(struct net *net, struct net_response *resp,
                        const struct net_stream_opts *o, uint64_t *id)
{
	struct net_exchange *ex;
	const char *last = o != NULL ? o->last_event_id : NULL;
	unsigned long long n = 0;
	uint64_t seq = atomic_load(&net->stream_seq);
	size_t elen = strlen(net->epoch), open;
	char *endp;

	if (resp == NULL || o == NULL || o->mask == 0)
		return -ERR_INVALID;
	ex = (struct net_exchange *)((char *)resp -
	                             offsetof(struct net_exchange, resp));
	if (ex->net != net || ex->stream)
		return -ERR_INVALID;
	open = atomic_fetch_add(&net->nstreams, 1);
	if (open >= net->max_streams) {
		atomic_fetch_sub(&net->nstreams, 1);
		return -ERR_TOOBIG;
	}
	ex->stream = true;
	ex->stream_counted = true;
	ex->stream_id = atomic_fetch_add(&net->stream_ids, 1) + 1;
	ex->stream_mask = o->mask;
	ex->stream_max_us = net->stream_max_us;
	if (o->max_secs != 0 &&
	    (lws_usec_t)o->max_secs * LWS_US_PER_SEC < ex->stream_max_us)
		ex->stream_max_us = (lws_usec_t)o->max_secs * LWS_US_PER_SEC;
	ex->stream_after = seq;
	if (last != NULL && *last != '\0') {
		/* "EPOCH-N" of this net, N given out already: replayable if
		 * the ring still holds its successors (net_stream_open()). */
		if (strncmp(last, net->epoch, elen) == 0 && last[elen] == '-' &&
		    last[elen + 1] >= '0' && last[elen + 1] <= '9') {
			errno = 0;
			n = strtoull(last + elen + 1, &endp, 10);
			if (errno != 0 || *endp != '\0' || n > seq)
				ex->stream_reset = true;
			else
				ex->stream_after = n;
		} else {
			ex->stream_reset = true;
		}
	}
	resp->status = 200;
	(void)net_response_type(resp, "text/event-stream");
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)net_response_header(resp, "X-Accel-Buffering", "no");
	if (id != NULL)
		*id = ex->stream_id;
	return 0;
}

size_t net_stream_count(const struct net *net)
{
	return atomic_load(&net->nstreams);
}

/* A stream's exchange is back on the service thread: it opens with the
 * retry delay, a "reset" when what it missed is gone, what the core put
 * in the body, and what it missed. */
static void net_stream_open(struct net *net, struct net_exchange *ex)
{
	static const char reset[] = "event: reset\ndata: {}\n\n";
	uint64_t seq = atomic_load(&net->stream_seq), i;
	struct net_frame *f;
	char retry[32];
	int n;

	ex->stream_open = true;
	ex->close_after = false; /* lws says so itself for a stream */
	ex->stream_since = ex->stream_last = lws_now_usecs();
	n = snprintf(retry, sizeof(retry), "retry: %u\n\n",
	             (unsigned)NET_STREAM_RETRY_MS);
	net_stream_queue(net, ex, retry, (size_t)n);
	for (i = ex->stream_after + 1; !ex->stream_reset && i <= seq; i++) {
		f = net->ring[i % NET_STREAM_RING];
		if (f == NULL || f->seq != i)
			ex->stream_reset = true;
	}
	if (ex->stream_reset)
		net_stream_queue(net, ex, reset, sizeof(reset) - 1);
	if (ex->resp.body.len > 0)
		net_stream_queue(net, ex, ex->resp.body.data,
		                 ex->resp.body.len);
	buf_free(&ex->resp.body);
	if (ex->stream_reset)
		return;
	for (i = ex->stream_after + 1; i <= seq; i++) {
		f = net->ring[i % NET_STREAM_RING];
		if ((f->mask & ex->stream_mask) != 0)
			net_stream_queue(net, ex, f->data, f->len);
	}
}

static bool net_event_name_ok(const char *event)
{
	size_t n = strlen(event), i;

	if (n == 0 || n > NET_EVENT_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((event[i] >= 'a' && event[i] <= 'z') ||
		      (event[i] >= 'A' && event[i] <= 'Z') ||
		      (event[i] >= '0' && event[i] <= '9') ||
		      strchr("_.-", event[i]) != NULL))
			return false;
	return true;
}

int net_event_append(struct buf *b, const char *id, const char *event,
                     const char *data)
{
	const char *p, *nl;
	size_t len = b->len;

	if (event == NULL || data == NULL || !net_event_name_ok(event) ||
	    strlen(data) > NET_EVENT_DATA_MAX || strchr(data, '\r') != NULL)
		return -ERR_INVALID;
	if ((id != NULL && buf_printf(b, "id: %s\n", id) != 0) ||
	    buf_printf(b, "event: %s\n", event) != 0)
		goto fail;
	for (p = data;; p = nl + 1) {
		nl = strchr(p, '\n');
		if (buf_puts(b, "data: ") != 0 ||
		    buf_append(
		        b, p, nl != NULL ? (size_t)(nl - p) : strlen(p)) != 0 ||
		    buf_putc(b, '\n') != 0)
			goto fail;
		if (nl == NULL)
			break;
	}
	if (buf_putc(b, '\n') != 0)
		goto fail;
	return 0;
fail:
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
	return -ERR_NOMEM;
}

/* Hands e to the service thread (net_streams_drain()). */
static void net_pend_push(struct net *net, struct net_pending *e)
{
	pthread_mutex_lock(&net->lock);
	if (net->pend_tail != NULL)
		net->pend_tail->next = e;
	else
		net->pend_head = e;
	net->pend_tail = e;
	pthread_mutex_unlock(&net->lock);
	lws_cancel_service(net->ctx);
}

int net_stream_event(struct net *net, unsigned mask, const char *event,
                     const char *data)
{
	struct net_pending *e;
	size_t elen, dlen;

	if (mask == 0 || event == NULL || data == NULL ||
	    !net_event_name_ok(event) ||
	    (dlen = strlen(data)) > NET_EVENT_DATA_MAX ||
	    strchr(data, '\r') != NULL)
		return -ERR_INVALID;
	elen = strlen(event);
	e = malloc(sizeof(*e) + elen + 1 + dlen + 1);
	if (e == NULL)
		return -ERR_NOMEM;
	e->next = NULL;
	e->mask = mask;
	e->stream_id = 0;
	memcpy(e->text, event, elen + 1);
	memcpy(e->text + elen + 1, data, dlen + 1);
	net_pend_push(net, e);
	return 0;
}

int net_stream_end(struct net *net, uint64_t stream_id)
{
	struct net_pending *e;

	if (stream_id == 0)
		return -ERR_INVALID;
	e = malloc(sizeof(*e) + 1);
	if (e == NULL)
		return -ERR_NOMEM;
	e->next = NULL;
	e->mask = 0;
	e->stream_id = stream_id;
	e->text[0] = '\0';
	net_pend_push(net, e);
	return 0;
}

/* Ends the streams with this id (one at most): dropped at once, so that
 * its client reconnects and shows its credentials again. */
static void net_stream_close_id(struct net *net, uint64_t stream_id)
{
	struct net_exchange *ex;

	for (ex = net->exchanges; ex != NULL; ex = ex->next)
		/* One the core holds is not read: it is the core's. */
		if (ex->state != NET_EX_CORE && ex->stream &&
		    ex->stream_id == stream_id)
			net_stream_drop(net, ex);
}

/* Numbers one posted event, keeps it in the ring and queues it for every
 * open stream whose mask it shares (service thread). */
static void net_stream_publish(struct net *net, const struct net_pending *e)
{
	struct net_exchange *ex;
	struct net_frame *f;
	struct buf b = {0};
	uint64_t seq = atomic_load(&net->stream_seq) + 1;
	const char *event = e->text, *data = e->text + strlen(e->text) + 1;
	char id[sizeof(net->epoch) + 24];

	(void)snprintf(id, sizeof(id), "%s-%llu", net->epoch,
	               (unsigned long long)seq);
	if (net_event_append(&b, id, event, data) != 0 ||
	    (f = malloc(sizeof(*f) + b.len)) == NULL) {
		net_log(net, NET_LOG_WARN,
		        "API port: out of memory: event '%s' not sent", event);
		buf_free(&b);
		return;
	}
	f->seq = seq;
	f->mask = e->mask;
	f->len = b.len;
	memcpy(f->data, b.data, b.len);
	buf_free(&b);
	free(net->ring[seq % NET_STREAM_RING]);
	net->ring[seq % NET_STREAM_RING] = f;
	atomic_store(&net->stream_seq, seq);
	for (ex = net->exchanges; ex != NULL; ex = ex->next)
		if (ex->stream_open && (ex->stream_mask & f->mask) != 0)
			net_stream_queue(net, ex, f->data, f->len);
}

/* What other threads posted (net_stream_event(), net_stream_end()), in
 * order (takes the list). */
static void net_streams_drain(struct net *net, struct net_pending *e)
{
	struct net_pending *next;

	for (; e != NULL; e = next) {
		next = e->next;
		if (e->stream_id != 0)
			net_stream_close_id(net, e->stream_id);
		else
			net_stream_publish(net, e);
		free(e);
	}
}

/*
 * Whether a stream's client has gone. lws does not read an HTTP/1.1
 * connection while its response is being written, so it would learn of
 * a closed one only when a write fails, at the next heartbeat. A client
 * sends nothing on an event stream (the API port speaks no HTTP/2, so
 * the connection is the stream's alone): the end of the connection, or
 * any byte at all (a TLS close_notify, or a request it has no business
 * sending), means it is done with it.
 */
static bool net_stream_gone(struct lws *wsi)
{
	char c;
	ssize_t n =
	    recv(lws_get_socket_fd(wsi), &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 ||
	       (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Once a second: the end of a stream whose client went away or that was
 * open for its lifetime; a comment on a quiet one, so that the client and
 * any proxy see it is alive. */
static void net_streams_sweep(struct net *net, lws_usec_t now)
{
	static const char beat[] = ": keepalive\n\n";
	struct net_exchange *ex;

	for (ex = net->exchanges; ex != NULL; ex = ex->next) {
		if (!ex->stream_open || ex->stream_drop || ex->wsi == NULL)
			continue;
		if (now - ex->stream_since >= ex->stream_max_us ||
		    net_stream_gone(ex->wsi)) {
			net_stream_drop(net, ex);
		} else if (now - ex->stream_last >= net->stream_heartbeat_us) {
			net_stream_queue(net, ex, beat, sizeof(beat) - 1);
		}
	}
}

/* LWS_CALLBACK_CLOSED_HTTP and HTTP_DROP_PROTOCOL: lws frees h next. An
 * exchange the core still holds stays alive, orphaned, for net_respond(). */
static void net_http_closed(struct net *net, struct net_http *h)
{
	struct net_exchange *ex = h != NULL ? h->ex : NULL;

	if (ex == NULL)
		return;
	h->ex = NULL;
	ex->wsi = NULL;
	if (ex->state != NET_EX_CORE)
		net_ex_free(net, ex);
}

void net_respond(struct net *net, struct net_exchange *ex)
{
	pthread_mutex_lock(&net->lock);
	ex->done_next = NULL;
	if (net->done_tail != NULL)
		net->done_tail->done_next = ex;
	else
		net->done_head = ex;
	net->done_tail = ex;
	pthread_mutex_unlock(&net->lock);
	lws_cancel_service(net->ctx);
}

/* LWS_CALLBACK_EVENT_WAIT_CANCELLED. It also fires with no cancel at all
 * (G3), hence the flag and the list, both idempotent. */
static void net_on_cancel(struct net *net)
{
	struct net_exchange *ex, *next;
	struct net_pending *pend;

	if (atomic_exchange(&net->wake, 0) != 0 && net->cb.on_wake != NULL)
		net->cb.on_wake(net->cb.arg);
	/* Both lists at once, the answers handled first: a stream that the
	 * core ended right after answering is open by the time its end is
	 * read. */
	pthread_mutex_lock(&net->lock);
	ex = net->done_head;
	net->done_head = net->done_tail = NULL;
	pend = net->pend_head;
	net->pend_head = net->pend_tail = NULL;
	pthread_mutex_unlock(&net->lock);
	for (; ex != NULL; ex = next) {
		next = ex->done_next;
		ex->done_next = NULL;
		if (ex->wsi == NULL || ex->state != NET_EX_CORE) {
			net_ex_free(net, ex);
			continue;
		}
		ex->state = NET_EX_WRITE;
		if (ex->stream)
			net_stream_open(net, ex);
		lws_callback_on_writable(ex->wsi);
	}
	net_streams_drain(net, pend);
}

/* ---- The agent port's listener ---- */

/*
 * The agent port accepts its own connections and hands them to lws
 * (lws_adopt_socket_vhost()), so that it can stop accepting. lws 4.1.6
 * arms a timeout for every connection it accepts, and keeps the timeouts
 * of a service thread in one sorted linked list: each new connection
 * walked all the others still in their handshake. After a restart 10,000
 * agents reconnecting within seconds made that walk most of the daemon's
 * CPU, handshakes timed out faster than they completed, and the fleet did
 * not come back for minutes. With at most handshakes_max connections in
 * their handshake the walk stays short; the others wait in the kernel's
 * backlog, where a waiting agent costs nothing.
 */

static void net_accept_resume(struct net *net)
{
	if (net->accept_paused && net->agent_fd >= 0 &&
	    net->handshakes < net->handshakes_max) {
		net->accept_paused = false;
		ev_io_start(net->loop, &net->agent_io);
	}
}

static void net_accept_pause(struct net *net)
{
	if (!net->accept_paused) {
		net->accept_paused = true;
		ev_io_stop(net->loop, &net->agent_io);
	}
}

/* Its websocket is open, or it is gone before that: the last place
 * moves into its own. */
static void net_handshake_end(struct net *net, struct lws *wsi)
{
	struct net_handshake *h = lws_get_opaque_user_data(wsi), *last;

	if (h == NULL || net->handshakes == 0 || h < net->hs ||
	    h >= net->hs + net->handshakes || h->wsi != wsi)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	last = &net->hs[--net->handshakes];
	if (h != last) {
		*h = *last;
		lws_set_opaque_user_data(h->wsi, h);
	}
	net_accept_resume(net);
}

/*
 * From the keepalive sweep: a handshake past timeout_secs is dropped.
 * (lws 4.1.6 arms its own TLS accept timeout, but lets a silent
 * connection stay about 10 s whatever timeout_secs says.)
 */
static void net_handshake_expire(struct net *net, lws_usec_t now)
{
	lws_usec_t limit = (lws_usec_t)net->timeout_secs * LWS_US_PER_SEC;
	unsigned k;

	for (k = 0; k < net->handshakes; k++)
		if (now - net->hs[k].since > limit)
			lws_set_timeout(net->hs[k].wsi,
			                PENDING_TIMEOUT_SSL_ACCEPT,
			                LWS_TO_KILL_ASYNC);
}

static void net_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net *net = w->data;
	struct lws *wsi;
	int fd, one = 1, n;

	(void)loop;
	(void)revents;
	for (n = 0; n < NET_ACCEPT_BURST; n++) {
		if (net->handshakes >= net->handshakes_max) {
			net_accept_pause(net);
			return;
		}
		fd = accept4(net->agent_fd, NULL, NULL,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Until the next keepalive tick, rather than
				 * a loop that spins on a full table. */
				net_log(net, LLL_WARN,
				        "agent port: cannot accept: %s",
				        strerror(errno));
				net_accept_pause(net);
			}
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		                 sizeof(one));
		/* On failure lws has closed fd. Counted from here, not
		 * from LWS_CALLBACK_WSI_CREATE: lws makes wsis of its own
		 * on the first vhost, and clears the opaque pointer after
		 * that callback. */
		wsi = lws_adopt_socket_vhost(net->agent_vh, fd);
		if (wsi == NULL) {
			net_log(net, LLL_WARN,
			        "agent port: cannot take a connection");
			continue;
		}
		net->hs[net->handshakes].wsi = wsi;
		net->hs[net->handshakes].since = lws_now_usecs();
		lws_set_opaque_user_data(wsi, &net->hs[net->handshakes]);
		net->handshakes++;
	}
}

/* Binds and listens on addr:port for the agent port (port 0: the kernel
 * picks). Returns 0 or -ERR_NETWORK with d set. */
static int net_listen(struct net *net, const char *addr, int port,
                      struct diag *d)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char service[8];
	int fd = -1, one = 1, rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(addr, service, &hints, &res);
	if (rc != 0)
		return diag_set(d, ERR_NETWORK, 0, 0,
		                "agent port: cannot use the address %s: %s",
		                addr, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		                 sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return diag_set(d, ERR_NETWORK, 0, 0,
		                "agent port: cannot serve %s:%d: %s", addr,
		                port, strerror(err));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		err = errno;
		close(fd);
		return diag_set(d, ERR_NETWORK, 0, 0,
		                "agent port: getsockname: %s", strerror(err));
	}
	net->agent_port = ntohs(ss.ss_family == AF_INET6
	                            ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                            : ((struct sockaddr_in *)&ss)->sin_port);
	net->agent_fd = fd;
	ev_io_init(&net->agent_io, net_accept, fd, EV_READ);
	net->agent_io.data = net;
	ev_io_start(net->loop, &net->agent_io);
	return 0;
}

static void net_listen_close(struct net *net)
{
	if (net->agent_fd < 0)
		return;
	ev_io_stop(net->loop, &net->agent_io);
	close(net->agent_fd);
	net->agent_fd = -1;
}

/*
 * The agent port's keepalive: one sweep a second over the open
 * connections pings those where either side has been quiet for ping_us,
 * and drops those whose peer has been silent for hangup_us. One ping,
 * answered, tells both sides the other is there: the agent hangs up on a
 * server it has not heard from (docs/design.md, "Keepalive"), so neither
 * side pings on a timer of its own. libwebsockets 4.1.6 would keep a
 * validity timer per connection instead, in one sorted linked list per
 * service thread: every re-arm (each pong, each ping sent) walks the
 * list. With 10,000 agents that took ~40 s of CPU a minute while idle and
 * stalled pushes for 2-4 s during waves of pings (tests/bench_fleet.c).
 */
static void net_keepalive(lws_sorted_usec_list_t *sul)
{
	struct net *net = lws_container_of(sul, struct net, keepalive);
	lws_usec_t now = lws_now_usecs(), early;
	unsigned faults = tlsread_ws_faults();
	bool look = faults != net->faults_seen;
	struct net_conn *c;
	char why[NET_REASON_MAX + 1];

	/* (Half a tick early rather than a tick late.) */
	early = now + NET_KEEPALIVE_TICK / 2 - net->ping_us;
	net->faults_seen = faults;
	for (c = net->conns; c != NULL; c = c->next) {
		if (!c->established || c->closing || c->close_sent ||
		    c->hung_up)
			continue;
		/* An unmasked ping or close never reaches
		 * net_conn_receive(); the connections are asked only when
		 * some connection had a fault since the last sweep. */
		if (look &&
		    tlsread_ws_fault(lws_get_ssl(c->wsi), why, sizeof(why))) {
			net_conn_free_queue(c);
			c->closing = true;
			c->close_code = NET_CLOSE_PROTOCOL;
			(void)net_copy(c->close_reason, sizeof(c->close_reason),
			               why);
			lws_callback_on_writable(c->wsi);
			continue;
		}
		if (now - c->last_rx >= net->hangup_us) {
			/* As lws' own keepalive: no close frame, and on_close
			 * says 1006 "connection lost". */
			c->hung_up = true;
			lws_set_timeout(c->wsi,
			                PENDING_TIMEOUT_WS_PONG_CHECK_GET_PONG,
			                LWS_TO_KILL_ASYNC);
		} else if (!c->ping_sent &&
		           (c->last_rx <= early || c->last_tx <= early)) {
			c->ping_sent = true;
			c->ping_due = true;
			lws_callback_on_writable(c->wsi);
		}
	}
	net_handshake_expire(net, now);
	net_accept_resume(net); /* after EMFILE */
	net_streams_sweep(net, now);
	lws_sul_schedule(net->ctx, 0, &net->keepalive, net_keepalive,
	                 NET_KEEPALIVE_TICK);
}

/* ---- Protocol callbacks ---- */

static int net_agent_cb(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len)
{
	struct net *net = net_of(wsi);
	struct net_conn *c = user;

	if (net == NULL)
		return reason ==
		               LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION
		           ? 1
		           : 0;
	switch (reason) {
	case LWS_CALLBACK_WSI_DESTROY:
		net_handshake_end(net, wsi);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		return net_load_ca(net, user, true) != 0 ? 1 : 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		return net_verify_client(net, wsi, user, (int)len);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return net_conn_filter(net, wsi, c, in);
	case LWS_CALLBACK_ESTABLISHED:
		net_handshake_end(net, wsi);
		if (c == NULL || !c->opened)
			return -1;
		c->established = true;
		c->last_rx = c->last_tx = lws_now_usecs();
		if (c->qhead != NULL || c->closing)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c != NULL) {
			c->last_rx = lws_now_usecs();
			c->ping_sent = false;
		}
		return net_conn_receive(net, wsi, c, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c != NULL) {
			c->last_rx = lws_now_usecs();
			c->ping_sent = false;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return net_conn_writeable(wsi, c);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		net_conn_peer_close(c, in, len);
		return 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLOSED_HTTP:
		net_conn_finish(net, c);
		return 0;
	case LWS_CALLBACK_HTTP:
		/* Only websocket upgrades belong on this port. */
		(void)lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return -1;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		net_on_cancel(net);
		return 0;
	default:
		return 0;
	}
}

/*
 * The API port's fallback (LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_
 * ACCEPT_CONFIG): lws 4.1.6 would answer an unknown method with a 403 of
 * its own; it hands the connection here instead, as raw bytes.
 */
static int net_refuse_cb(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
	unsigned char out[LWS_PRE + 512];
	struct net_refuse *r = user;
	int n;

	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX:
		if (r == NULL)
			return -1;
		if (r->status != 0)
			return 0; /* more of it: the answer is on its way */
		r->status =
		    tlsread_request(lws_get_ssl(wsi), r->msg, sizeof(r->msg));
		if (r->status == 0) {
			r->status = 400;
			(void)net_copy(r->msg, sizeof(r->msg),
			               "malformed request");
		}
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (r == NULL || r->status == 0)
			return 0;
		if (r->sent)
			return -1; /* lws flushed the answer first */
		n = snprintf((char *)out + LWS_PRE, sizeof(out) - LWS_PRE,
		             "HTTP/1.1 %d %s\r\n"
		             "content-type: text/plain; charset=utf-8\r\n"
		             "content-length: %zu\r\n"
		             "connection: close\r\n\r\n%s\n",
		             r->status,
		             r->status == 501 ? "Not Implemented"
		                              : "Bad Request",
		             strlen(r->msg) + 1, r->msg);
		if (n < 0 || (size_t)n >= sizeof(out) - LWS_PRE)
			return -1;
		r->sent = true;
		if (lws_write(wsi, out + LWS_PRE, (size_t)n, LWS_WRITE_RAW) !=
		    n)
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	default:
		return 0;
	}
}

static int net_api_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
	struct net *net = net_of(wsi);
	struct net_http *h = user;

	if (net == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		return net_load_ca(net, user, false) != 0 ? 1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return 1; /* no websockets on the API port */
	case LWS_CALLBACK_HTTP:
		return net_http_begin(net, wsi, h, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		return net_http_body(h, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return net_http_dispatch(net, h);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return net_http_writeable(net, wsi, h);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		net_http_closed(net, h);
		return 0;
	default:
		return 0;
	}
}

/* ---- The service ---- */

/* net_stop()'s watcher: ev_async_send() is the one libev call that is
 * safe from another thread and from a signal handler. */
static void net_stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct net *net = w->data;

	(void)revents;
	if (atomic_load(&net->stop) != 0)
		ev_break(loop, EVBREAK_ALL);
}

static void net_once_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents; /* only here to end ev_run()'s wait */
}

static struct lws_vhost *net_vhost(struct net *net,
                                   const struct net_config *cfg,
                                   const char *name, int port, bool agent,
                                   struct diag *d)
{
	struct lws_context_creation_info vi;
	struct lws_vhost *vh;
	const char *addr =
	    cfg->address != NULL ? cfg->address : NET_DEFAULT_ADDRESS;

	memset(&vi, 0, sizeof(vi));
	vi.vhost_name = name;
	/* The agent port listens through net_listen(). */
	vi.port = agent ? CONTEXT_PORT_NO_LISTEN_SERVER : port;
	vi.iface = addr;
	vi.protocols = agent ? net->agent_protocols : net->api_protocols;
	vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	             LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (strchr(addr, ':') == NULL)
		vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (agent) {
		vi.options |=
		    LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
	} else {
		/* A method lws does not know goes to net_refuse_cb(). */
		vi.options |=
		    LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
		vi.listen_accept_role = "raw-skt";
		vi.listen_accept_protocol = NET_REFUSE_PROTOCOL;
	}
	vi.server_ssl_cert_mem = cfg->cert_pem;
	vi.server_ssl_cert_mem_len = (unsigned int)cfg->cert_len;
	vi.server_ssl_private_key_mem = cfg->key_pem;
	vi.server_ssl_private_key_mem_len = (unsigned int)cfg->key_len;
	vi.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	vi.alpn = "http/1.1"; /* no HTTP/2: the API is plain HTTP/1.1 */
	vi.keepalive_timeout =
	    cfg->keepalive_secs != 0 ? (int)cfg->keepalive_secs : 5;
	vi.timeout_secs = net->timeout_secs;
	if (agent)
		vi.retry_and_idle_policy = &net->retry;
	vi.provided_client_ssl_ctx = net->client_ctx;
	net->ca_error[0] = '\0';
	vh = lws_create_vhost(net->ctx, &vi);
	if (vh == NULL) {
		if (net->ca_error[0] != '\0')
			diag_set(d, ERR_CRYPTO, 0, 0, "%s port: %s", name,
			         net->ca_error);
		else
			diag_set(d, ERR_NETWORK, 0, 0,
			         "%s port: cannot serve %s:%d (address in use, "
			         "or a certificate or key that does not load)",
			         name, addr, port);
	}
	return vh;
}

int net_create(const struct net_config *cfg, const struct net_callbacks *cb,
               struct net **out, struct diag *d)
{
	struct lws_context_creation_info info;
	struct net *net = NULL;
	unsigned ping, hangup;
	int r;

	if (cfg->cert_pem == NULL || cfg->key_pem == NULL ||
	    cfg->ca_pem == NULL || cfg->cert_len == 0 || cfg->key_len == 0 ||
	    cfg->ca_len == 0 || cfg->cert_len > CRYPTO_PEM_MAX ||
	    cfg->key_len > CRYPTO_PEM_MAX || cfg->ca_len > CRYPTO_PEM_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "net: the CA, the server certificate and its "
		                "key are required (PEM, at most %d bytes)",
		                CRYPTO_PEM_MAX);
	if (cfg->agent_port < 0 || cfg->agent_port > 65535 ||
	    cfg->api_port < 0 || cfg->api_port > 65535 ||
	    (cfg->agent_port != 0 && cfg->agent_port == cfg->api_port))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "net: bad ports %d and %d", cfg->agent_port,
		                cfg->api_port);
	ping = cfg->ping_secs != 0 ? cfg->ping_secs : 60;
	hangup = cfg->hangup_secs != 0 ? cfg->hangup_secs : 150;
	if (ping > 65535 || hangup > 65535 || hangup <= ping)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "net: hang-up time (%u s) must exceed the ping "
		                "time (%u s)",
		                hangup, ping);
	if (cfg->ping_len > NET_PING_MAX ||
	    (cfg->ping_message != NULL && cfg->ping_len == 0))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "net: the ping message must be 1 to %d bytes",
		                NET_PING_MAX);

	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "net: out of memory");
	if (pthread_mutex_init(&net->lock, NULL) != 0) {
		free(net);
		return diag_set(d, ERR_INTERNAL, 0, 0, "net: mutex");
	}
	net->agent_fd = -1;
	net->handshakes_max =
	    cfg->handshakes_max != 0 ? cfg->handshakes_max : NET_HANDSHAKES_MAX;
	net->hs = calloc(net->handshakes_max, sizeof(*net->hs));
	if (net->hs == NULL) {
		pthread_mutex_destroy(&net->lock);
		free(net);
		return diag_set(d, ERR_NOMEM, 0, 0, "net: out of memory");
	}
	atomic_init(&net->stop, 0);
	atomic_init(&net->wake, 0);
	if (cb != NULL)
		net->cb = *cb;
	net->max_message =
	    cfg->max_message != 0 ? cfg->max_message : NET_MESSAGE_MAX;
	net->max_body = cfg->max_body != 0 ? cfg->max_body : NET_BODY_MAX;
	net->max_queue = cfg->max_queue != 0 ? cfg->max_queue : NET_QUEUE_MAX;
	if (net->max_queue < net->max_message)
		net->max_queue = net->max_message;
	net->timeout_secs = cfg->timeout_secs != 0 ? cfg->timeout_secs : 10;
	net->max_streams =
	    cfg->max_streams != 0 ? cfg->max_streams : NET_STREAMS_MAX;
	net->stream_queue =
	    cfg->stream_queue != 0 ? cfg->stream_queue : NET_STREAM_QUEUE_MAX;
	net->stream_heartbeat_us = (lws_usec_t)(cfg->stream_heartbeat_secs != 0
	                                            ? cfg->stream_heartbeat_secs
	                                            : 20) *
	                           LWS_US_PER_SEC;
	net->stream_max_us =
	    (lws_usec_t)(cfg->stream_max_secs != 0 ? cfg->stream_max_secs
	                                           : NET_STREAM_MAX_SECS) *
	    LWS_US_PER_SEC;
	atomic_init(&net->stream_seq, 0);
	atomic_init(&net->nstreams, 0);
	atomic_init(&net->stream_ids, 0);
	{
		/* Unlike its predecessor's: a client's Last-Event-ID from
		 * before a restart is not taken for one of this net's. */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		(void)snprintf(net->epoch, sizeof(net->epoch), "%llx",
		               (unsigned long long)ts.tv_sec * 1000000000ull +
		                   (unsigned long long)ts.tv_nsec);
	}
	net->ping_us = (lws_usec_t)ping * LWS_US_PER_SEC;
	net->hangup_us = (lws_usec_t)hangup * LWS_US_PER_SEC;
	if (cfg->ping_message != NULL) {
		net->ping_msg = malloc(cfg->ping_len);
		if (net->ping_msg == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "net: out of memory");
			goto out;
		}
		memcpy(net->ping_msg, cfg->ping_message, cfg->ping_len);
		net->ping_len = cfg->ping_len;
	}
	net->ca_pem = cfg->ca_pem;
	net->ca_len = cfg->ca_len;

	/* lws reads the rx chunk size and the per-session size from here.
	 * It allocates the receive buffer for every connection and keeps it
	 * while the connection lasts: on the agent port 1 KiB rather than
	 * its default 4 KiB (a larger message arrives in pieces that
	 * net_conn_receive() puts together). */
	net->agent_protocols[0].name = NET_SUBPROTOCOL;
	net->agent_protocols[0].rx_buffer_size = NET_AGENT_RX;
	net->agent_protocols[0].callback = net_agent_cb;
	net->agent_protocols[0].per_session_data_size = sizeof(struct net_conn);
	net->api_protocols[0].name = "http";
	net->api_protocols[0].callback = net_api_cb;
	net->api_protocols[0].per_session_data_size = sizeof(struct net_http);
	net->api_protocols[1].name = NET_REFUSE_PROTOCOL;
	net->api_protocols[1].callback = net_refuse_cb;
	net->api_protocols[1].per_session_data_size = sizeof(struct net_refuse);

	/* epoll: with 10,000 agents poll() over every socket was most of an
	 * idle daemon's CPU. No signal watchers: the program handles its own
	 * signals, and libev leaves the signal mask alone. */
	net->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
	if (net->loop == NULL)
		net->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (net->loop == NULL) {
		r = diag_set(d, ERR_NETWORK, 0, 0,
		             "net: cannot create the event loop (libev)");
		goto out;
	}
	ev_async_init(&net->stop_async, net_stop_cb);
	net->stop_async.data = net;
	ev_async_start(net->loop, &net->stop_async);
	ev_timer_init(&net->once, net_once_cb, 0., 0.);
	net->foreign_loops[0] = net->loop;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	               LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = net->foreign_loops;
	info.user = net;
	info.timeout_secs = net->timeout_secs;
	info.max_http_header_data = NET_HEADER_MAX + 1024;
	net->client_ctx = SSL_CTX_new(TLS_client_method());
	if (net->client_ctx == NULL) {
		r = diag_set(d, ERR_CRYPTO, 0, 0,
		             "net: cannot create an OpenSSL context");
		goto out;
	}
	net->ctx = lws_create_context(&info);
	if (net->ctx == NULL) {
		r = diag_set(d, ERR_NETWORK, 0, 0,
		             "net: cannot create the libwebsockets context "
		             "(its libev plugin is libwebsockets-evlib-ev)");
		goto out;
	}
	net->agent_vh = net_vhost(net, cfg, "agent", cfg->agent_port, true, d);
	if (net->agent_vh == NULL) {
		r = net->ca_error[0] != '\0' ? -ERR_CRYPTO : -ERR_NETWORK;
		goto out;
	}
	net->api_vh = net_vhost(net, cfg, "API", cfg->api_port, false, d);
	if (net->api_vh == NULL) {
		r = net->ca_error[0] != '\0' ? -ERR_CRYPTO : -ERR_NETWORK;
		goto out;
	}
	if ((r = net_listen(
	         net, cfg->address != NULL ? cfg->address : NET_DEFAULT_ADDRESS,
	         cfg->agent_port, d)) != 0)
		goto out;
	lws_sul_schedule(net->ctx, 0, &net->keepalive, net_keepalive,
	                 NET_KEEPALIVE_TICK);
	r = 0;
out:
	net->ca_pem = NULL;
	net->ca_len = 0;
	if (r != 0) {
		net_free(net);
		return r;
	}
	*out = net;
	return 0;
}

void net_free(struct net *net)
{
	struct net_exchange *ex;
	struct net_pending *pe;
	size_t i;

	if (net == NULL)
		return;
	/* lws stops its watchers on the loop it was given, and leaves the
	 * loop to us. */
	if (net->loop != NULL)
		net_listen_close(net);
	if (net->ctx != NULL) {
		lws_sul_cancel(&net->keepalive);
		lws_context_destroy(net->ctx);
		net->ctx = NULL;
	}
	if (net->loop != NULL) {
		ev_timer_stop(net->loop, &net->once);
		ev_async_stop(net->loop, &net->stop_async);
		ev_loop_destroy(net->loop);
		net->loop = NULL;
	}
	SSL_CTX_free(net->client_ctx);
	free(net->hs);
	free(net->ping_msg);
	pthread_mutex_lock(&net->lock);
	net->done_head = net->done_tail = NULL;
	pthread_mutex_unlock(&net->lock);
	while ((ex = net->exchanges) != NULL)
		net_ex_free(net, ex);
	for (i = 0; i < NET_STREAM_RING; i++)
		free(net->ring[i]);
	while ((pe = net->pend_head) != NULL) {
		net->pend_head = pe->next;
		free(pe);
	}
	pthread_mutex_destroy(&net->lock);
	free(net);
}

int net_agent_port(const struct net *net)
{
	return net->agent_port;
}

int net_api_port(const struct net *net)
{
	return lws_get_vhost_listen_port(net->api_vh);
}

/*
 * Under an event library lws_service() is ev_run() until the loop has
 * nothing left to watch, which for a server is never: the loop is run
 * here instead, one iteration at a time or until net_stop().
 */
int net_service_once(struct net *net, int timeout_ms)
{
	if (timeout_ms <= 0) {
		(void)ev_run(net->loop, EVRUN_NOWAIT);
		return 0;
	}
	/* The loop's clock stands still between runs. */
	ev_now_update(net->loop);
	ev_timer_set(&net->once, (double)timeout_ms / 1000., 0.);
	ev_timer_start(net->loop, &net->once);
	(void)ev_run(net->loop, EVRUN_ONCE);
	ev_timer_stop(net->loop, &net->once);
	return 0;
}

int net_run(struct net *net)
{
	while (atomic_load(&net->stop) == 0)
		(void)ev_run(net->loop, 0);
	return 0;
}

void net_stop(struct net *net)
{
	atomic_store(&net->stop, 1);
	ev_async_send(net->loop, &net->stop_async);
}

void net_wake(struct net *net)
{
	atomic_store(&net->wake, 1);
	lws_cancel_service(net->ctx);
}
