/* SPDX-License-Identifier: MIT */
/* HTTPS requests and the agent's websocket on libwebsockets 4.1.6
 * (OpenSSL build). */
#include "netclient.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "crypto.h"

/*
 * libwebsockets, and the OpenSSL it is built on, are loaded when the first
 * request or connection starts (docs/design.md, "Start-up cost"): the
 * commands that never reach the network, the launcher above all, then never
 * map them (OpenSSL's relocations alone are 1.6 MB of resident memory).
 * Every function of either that this file calls is in this list; the names
 * stand for the pointers found in the loaded library.
 */
#define NETCLIENT_LIB(X)                                                       \
	X(lws_add_http_header_by_name)                                         \
	X(lws_add_http_header_by_token)                                        \
	X(lws_callback_on_writable)                                            \
	X(lws_cancel_service)                                                  \
	X(lws_client_connect_via_info)                                         \
	X(lws_client_http_body_pending)                                        \
	X(lws_close_reason)                                                    \
	X(lws_context_destroy)                                                 \
	X(lws_context_user)                                                    \
	X(lws_create_context)                                                  \
	X(lws_frame_is_binary)                                                 \
	X(lws_get_context)                                                     \
	X(lws_http_client_http_response)                                       \
	X(lws_http_client_read)                                                \
	X(lws_is_final_fragment)                                               \
	X(lws_remaining_packet_payload)                                        \
	X(lws_service)                                                         \
	X(lws_set_log_level)                                                   \
	X(lws_set_timeout)                                                     \
	X(lws_sul_cancel)                                                      \
	X(lws_sul_schedule)                                                    \
	X(lws_write)                                                           \
	X(BIO_free)                                                            \
	X(BIO_new_mem_buf)                                                     \
	X(ERR_clear_error)                                                     \
	X(EVP_PKEY_free)                                                       \
	X(EVP_sha256)                                                          \
	X(OPENSSL_sk_num)                                                      \
	X(OPENSSL_sk_value)                                                    \
	X(PEM_read_bio_PrivateKey)                                             \
	X(PEM_read_bio_X509)                                                   \
	X(SSL_CTX_check_private_key)                                           \
	X(SSL_CTX_ctrl)                                                        \
	X(SSL_CTX_free)                                                        \
	X(SSL_CTX_get_cert_store)                                              \
	X(SSL_CTX_new)                                                         \
	X(SSL_CTX_use_PrivateKey)                                              \
	X(SSL_CTX_use_certificate)                                             \
	X(TLS_client_method)                                                   \
	X(X509_STORE_CTX_get0_chain)                                           \
	X(X509_STORE_CTX_get_current_cert)                                     \
	X(X509_STORE_CTX_get_error)                                            \
	X(X509_STORE_CTX_get_error_depth)                                      \
	X(X509_STORE_CTX_set_error)                                            \
	X(X509_STORE_add_cert)                                                 \
	X(X509_check_host)                                                     \
	X(X509_check_ip_asc)                                                   \
	X(X509_digest)                                                         \
	X(X509_free)                                                           \
	X(X509_verify_cert_error_string)

static struct netclient_lib {
#define NETCLIENT_MEMBER(f) __typeof__(f) *f;
	NETCLIENT_LIB(NETCLIENT_MEMBER)
#undef NETCLIENT_MEMBER
} netclient_lib;

static const char *const netclient_lib_names[] = {
#define NETCLIENT_NAME(f) #f,
    NETCLIENT_LIB(NETCLIENT_NAME)
#undef NETCLIENT_NAME
};

_Static_assert(sizeof(netclient_lib) == sizeof(netclient_lib_names) /
                                            sizeof(char *) * sizeof(void *),
               "one pointer per name");

static pthread_once_t netclient_lib_once = PTHREAD_ONCE_INIT;
static bool netclient_lib_ok;
static char netclient_lib_error[512];
static int netclient_log_levels = NETCLIENT_LOG_ERR | NETCLIENT_LOG_WARN;
static void (*netclient_log_emit)(int level, const char *line);

static void netclient_lib_load(void)
{
	void *fn[sizeof(netclient_lib_names) / sizeof(char *)];
	void *h = dlopen(NETCLIENT_LIBLWS, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (h == NULL) {
		(void)snprintf(netclient_lib_error, sizeof(netclient_lib_error),
		               "cannot load %s: %s", NETCLIENT_LIBLWS,
		               dlerror());
		return;
	}
	/* dlsym on the handle searches the library and what it depends on:
	 * OpenSSL's functions come from the libssl and libcrypto it uses. */
	for (i = 0; i < sizeof(fn) / sizeof(fn[0]); i++)
		if ((fn[i] = dlsym(h, netclient_lib_names[i])) == NULL) {
			(void)snprintf(
			    netclient_lib_error, sizeof(netclient_lib_error),
			    "%s or its OpenSSL lacks %s", NETCLIENT_LIBLWS,
			    netclient_lib_names[i]);
			dlclose(h);
			return;
		}
	/* In the order of the names; object and function pointers convert
	 * through dlsym's void * as POSIX guarantees. */
	memcpy(&netclient_lib, fn, sizeof(netclient_lib));
	netclient_lib.lws_set_log_level(netclient_log_levels,
	                                netclient_log_emit);
	netclient_lib_ok = true;
}

/* Loads the libraries once. Returns 0, or -ERR_INTERNAL with d. */
static int netclient_lib_ready(struct diag *d)
{
	(void)pthread_once(&netclient_lib_once, netclient_lib_load);
	if (netclient_lib_ok)
		return 0;
	return diag_set(d, ERR_INTERNAL, 0, 0, "%s", netclient_lib_error);
}

#define lws_add_http_header_by_name  netclient_lib.lws_add_http_header_by_name
#define lws_add_http_header_by_token netclient_lib.lws_add_http_header_by_token
#define lws_callback_on_writable     netclient_lib.lws_callback_on_writable
#define lws_cancel_service           netclient_lib.lws_cancel_service
#define lws_client_connect_via_info  netclient_lib.lws_client_connect_via_info
#define lws_client_http_body_pending netclient_lib.lws_client_http_body_pending
#define lws_close_reason             netclient_lib.lws_close_reason
#define lws_context_destroy          netclient_lib.lws_context_destroy
#define lws_context_user             netclient_lib.lws_context_user
#define lws_create_context           netclient_lib.lws_create_context
#define lws_frame_is_binary          netclient_lib.lws_frame_is_binary
#define lws_get_context              netclient_lib.lws_get_context
#define lws_http_client_http_response                                          \
	netclient_lib.lws_http_client_http_response
#define lws_http_client_read         netclient_lib.lws_http_client_read
#define lws_is_final_fragment        netclient_lib.lws_is_final_fragment
#define lws_remaining_packet_payload netclient_lib.lws_remaining_packet_payload
#define lws_service                  netclient_lib.lws_service
#define lws_set_timeout              netclient_lib.lws_set_timeout
#define lws_sul_cancel               netclient_lib.lws_sul_cancel
#define lws_sul_schedule             netclient_lib.lws_sul_schedule
#define lws_write                    netclient_lib.lws_write
#define BIO_free                     netclient_lib.BIO_free
#define BIO_new_mem_buf              netclient_lib.BIO_new_mem_buf
#define ERR_clear_error              netclient_lib.ERR_clear_error
#define EVP_PKEY_free                netclient_lib.EVP_PKEY_free
#define EVP_sha256                   netclient_lib.EVP_sha256
#define OPENSSL_sk_num               netclient_lib.OPENSSL_sk_num
#define OPENSSL_sk_value             netclient_lib.OPENSSL_sk_value
#define PEM_read_bio_PrivateKey      netclient_lib.PEM_read_bio_PrivateKey
#define PEM_read_bio_X509            netclient_lib.PEM_read_bio_X509
#define SSL_CTX_check_private_key    netclient_lib.SSL_CTX_check_private_key
#define SSL_CTX_ctrl                 netclient_lib.SSL_CTX_ctrl
#define SSL_CTX_free                 netclient_lib.SSL_CTX_free
#define SSL_CTX_get_cert_store       netclient_lib.SSL_CTX_get_cert_store
#define SSL_CTX_new                  netclient_lib.SSL_CTX_new
#define SSL_CTX_use_PrivateKey       netclient_lib.SSL_CTX_use_PrivateKey
#define SSL_CTX_use_certificate      netclient_lib.SSL_CTX_use_certificate
#define TLS_client_method            netclient_lib.TLS_client_method
#define X509_STORE_CTX_get0_chain    netclient_lib.X509_STORE_CTX_get0_chain
#define X509_STORE_CTX_get_current_cert                                        \
	netclient_lib.X509_STORE_CTX_get_current_cert
#define X509_STORE_CTX_get_error netclient_lib.X509_STORE_CTX_get_error
#define X509_STORE_CTX_get_error_depth                                         \
	netclient_lib.X509_STORE_CTX_get_error_depth
#define X509_STORE_CTX_set_error netclient_lib.X509_STORE_CTX_set_error
#define X509_STORE_add_cert      netclient_lib.X509_STORE_add_cert
#define X509_check_host          netclient_lib.X509_check_host
#define X509_check_ip_asc        netclient_lib.X509_check_ip_asc
#define X509_digest              netclient_lib.X509_digest
#define X509_free                netclient_lib.X509_free
#define X509_verify_cert_error_string                                          \
	netclient_lib.X509_verify_cert_error_string

/*
 * The server's chain is judged in LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_
 * VERIFICATION with OpenSSL's X509 API (the sanctioned exception, G3): the
 * pin, and our own host check, because 4.1.6 cuts the host at its first
 * ':' before handing it to OpenSSL, which leaves an IPv6 literal unchecked
 * or unmatchable.
 */

#define NETCLIENT_HOST_MAX 256
#define NETCLIENT_PATH_MAX 4096
#define NETCLIENT_CHUNK    16384
#define NETCLIENT_RXQ_MAX  (16u << 20) /* received, not yet taken */
#define NETCLIENT_WHY_MAX  256

struct netclient_url {
	char host[NETCLIENT_HOST_MAX];        /* without brackets */
	char hosthdr[NETCLIENT_HOST_MAX + 8]; /* Host header: [v6]:port */
	char path[NETCLIENT_PATH_MAX];        /* path and query */
	int port;
	bool ip6;
};

/* What the verify callback found; one per connection. */
struct netclient_tls {
	const struct netclient_url *url;
	uint8_t pin[CRYPTO_HASH_LEN];
	bool have_pin;
	bool pin_only; /* no CA given: the pinned certificate is the anchor */
	enum netclient_fail fail;
	char why[NETCLIENT_WHY_MAX];
};

const char *netclient_fail_str(enum netclient_fail f)
{
	switch (f) {
	case NETCLIENT_OK:
		return "success";
	case NETCLIENT_FAIL_USAGE:
		return "bad request";
	case NETCLIENT_FAIL_CONNECT:
		return "connection refused or unreachable";
	case NETCLIENT_FAIL_TLS:
		return "TLS";
	case NETCLIENT_FAIL_PIN:
		return "CA pin mismatch";
	case NETCLIENT_FAIL_TIMEOUT:
		return "timed out";
	case NETCLIENT_FAIL_PROTOCOL:
		return "protocol error";
	case NETCLIENT_FAIL_HTTP:
		return "HTTP error";
	case NETCLIENT_FAIL_LOCAL:
		return "local failure";
	}
	return "unknown failure";
}

void netclient_lws_log(int levels, void (*emit)(int level, const char *line))
{
	void *h;

	netclient_log_levels = levels;
	netclient_log_emit = emit;
	/* A program that links libwebsockets itself (mcpfleetd) has it set
	 * now; the others when it loads. */
	if ((h = dlopen(NETCLIENT_LIBLWS, RTLD_NOW | RTLD_NOLOAD)) != NULL) {
		dlclose(h);
		if (netclient_lib_ready(NULL) == 0)
			netclient_lib.lws_set_log_level(levels, emit);
	}
}

static int64_t netclient_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the first failure only: the root cause comes first, lws' own
 * account of the aftermath later. */
static void netclient_tls_fail(struct netclient_tls *t, enum netclient_fail f,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void netclient_tls_fail(struct netclient_tls *t, enum netclient_fail f,
                               const char *fmt, ...)
{
	va_list ap;

	if (t->fail != NETCLIENT_OK)
		return;
	t->fail = f;
	va_start(ap, fmt);
	/* A reason cut short still names the failure. */
	(void)vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
}

/* Maps a failure class to the return code. */
static int netclient_code(enum netclient_fail f)
{
	switch (f) {
	case NETCLIENT_OK:
		return 0;
	case NETCLIENT_FAIL_USAGE:
		return -ERR_INVALID;
	case NETCLIENT_FAIL_TLS:
	case NETCLIENT_FAIL_PIN:
		return -ERR_VERIFY;
	case NETCLIENT_FAIL_LOCAL:
		return -ERR_NOMEM;
	default:
		return -ERR_NETWORK;
	}
}

/* Parses scheme://host[:port]/path. Returns 0 or -ERR_INVALID. */
static int netclient_url_parse(const char *url, const char *scheme,
                               struct netclient_url *u, struct diag *d)
{
	unsigned char a6[16];
	const char *p, *h, *hend, *pe;
	size_t slen = strlen(scheme), n;
	long port = 443;
	int w;

	memset(u, 0, sizeof(*u));
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: control byte or space in the URL",
			                url);
	if (strncmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: the URL must start with %s://", url,
		                scheme);
	h = url + slen + 3;
	pe = h + strcspn(h, "/?#");
	if (memchr(h, '@', (size_t)(pe - h)) != NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: credentials in the URL", url);
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(pe - h));
		if (hend == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: unterminated [IPv6] host", url);
		n = (size_t)(hend - h - 1);
		if (n == 0 || n >= sizeof(u->host))
			return diag_set(d, ERR_INVALID, 0, 0, "%s: bad host",
			                url);
		memcpy(u->host, h + 1, n);
		u->host[n] = '\0';
		if (inet_pton(AF_INET6, u->host, a6) != 1)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: bad IPv6 address", url);
		u->ip6 = true;
		p = hend + 1;
	} else {
		hend = h + strcspn(h, ":/?#");
		n = (size_t)(hend - h);
		if (n == 0 || n >= sizeof(u->host))
			return diag_set(d, ERR_INVALID, 0, 0, "%s: bad host",
			                url);
		memcpy(u->host, h, n);
		u->host[n] = '\0';
		p = hend;
	}
	if (*p == ':') {
		port = 0;
		for (p++; *p >= '0' && *p <= '9' && port <= 65535; p++)
			port = port * 10 + (*p - '0');
		if (port < 1 || port > 65535 || p != pe)
			return diag_set(d, ERR_INVALID, 0, 0, "%s: bad port",
			                url);
	} else if (p != pe)
		return diag_set(d, ERR_INVALID, 0, 0, "%s: bad host", url);
	u->port = (int)port;
	n = strcspn(pe, "#");
	if (n == 0) {
		u->path[0] = '/';
		u->path[1] = '\0';
	} else if (*pe == '?') {
		if (n + 1 >= sizeof(u->path))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: path too long", url);
		u->path[0] = '/';
		memcpy(u->path + 1, pe, n);
		u->path[n + 1] = '\0';
	} else {
		if (n >= sizeof(u->path))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: path too long", url);
		memcpy(u->path, pe, n);
		u->path[n] = '\0';
	}
	w = u->ip6 ? snprintf(u->hosthdr, sizeof(u->hosthdr), "[%s]:%d",
	                      u->host, u->port)
	           : snprintf(u->hosthdr, sizeof(u->hosthdr), "%s:%d", u->host,
	                      u->port);
	if (w < 0 || (size_t)w >= sizeof(u->hosthdr))
		return diag_set(d, ERR_INVALID, 0, 0, "%s: bad host", url);
	return 0;
}

/* Parses "sha256:HEX" or "HEX". Returns 0 or -ERR_INVALID. */
static int netclient_pin_parse(const char *pin, uint8_t out[CRYPTO_HASH_LEN],
                               struct diag *d)
{
	size_t n = 0;

	if (strncmp(pin, "sha256:", 7) == 0)
		pin += 7;
	if (strlen(pin) != CRYPTO_HEX_LEN ||
	    crypto_unhex(pin, CRYPTO_HEX_LEN, out, CRYPTO_HASH_LEN, &n) != 0 ||
	    n != CRYPTO_HASH_LEN)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "bad CA pin: want sha256: and 64 hex digits");
	return 0;
}

/* True when the certificate's DER hashes to the pin. */
static bool netclient_is_pinned(X509 *x, const uint8_t pin[CRYPTO_HASH_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	return x != NULL && X509_digest(x, EVP_sha256(), md, &n) == 1 &&
	       n == CRYPTO_HASH_LEN && crypto_ct_equal(md, pin, n);
}

/* True when the certificate names the URL's host. */
static bool netclient_names_host(X509 *x, const struct netclient_url *u)
{
	unsigned char a4[4];

	if (u->ip6 || inet_pton(AF_INET, u->host, a4) == 1)
		return X509_check_ip_asc(x, u->host, 0) == 1;
	return X509_check_host(x, u->host, strlen(u->host),
	                       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/*
 * LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION, once per depth
 * and once per error. Returns 0 to accept, 1 to refuse; to overrule an
 * error lws wants X509_V_OK set as well.
 */
static int netclient_verify(struct netclient_tls *t, X509_STORE_CTX *xs,
                            int preverify_ok)
{
	STACK_OF(X509) * chain;
	X509 *x = X509_STORE_CTX_get_current_cert(xs);
	int err = X509_STORE_CTX_get_error(xs);
	int depth = X509_STORE_CTX_get_error_depth(xs), i;

	if (!preverify_ok) {
		/* The pinned CA, sent by the server, is the anchor. OpenSSL
		 * still checks every signature and the names after this. */
		if (t->pin_only &&
		    err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN &&
		    netclient_is_pinned(x, t->pin)) {
			X509_STORE_CTX_set_error(xs, X509_V_OK);
			return 0;
		}
		/* lws gave OpenSSL a host cut at its first ':'; ours is
		 * checked below. */
		if (t->url->ip6 && depth == 0 &&
		    (err == X509_V_ERR_HOSTNAME_MISMATCH ||
		     err == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
		    x != NULL && netclient_names_host(x, t->url)) {
			X509_STORE_CTX_set_error(xs, X509_V_OK);
			return 0;
		}
		if (t->pin_only &&
		    (err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
		     err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT))
			netclient_tls_fail(t, NETCLIENT_FAIL_PIN,
			                   "the server's CA is not the pinned "
			                   "one");
		else
			netclient_tls_fail(
			    t, NETCLIENT_FAIL_TLS,
			    "the server's certificate does not verify: %s "
			    "(depth %d)",
			    X509_verify_cert_error_string(err), depth);
		return 1;
	}
	if (depth != 0)
		return 0;
	if (x == NULL || !netclient_names_host(x, t->url)) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
		netclient_tls_fail(t, NETCLIENT_FAIL_TLS,
		                   "the server's certificate does not name %s",
		                   t->url->host);
		return 1;
	}
	if (t->have_pin) {
		chain = X509_STORE_CTX_get0_chain(xs);
		for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
			if (netclient_is_pinned(sk_X509_value(chain, i),
			                        t->pin))
				return 0;
		X509_STORE_CTX_set_error(xs,
		                         X509_V_ERR_APPLICATION_VERIFICATION);
		netclient_tls_fail(
		    t, NETCLIENT_FAIL_PIN,
		    "no certificate of the server's chain matches "
		    "the pin");
		return 1;
	}
	return 0;
}

/* Classifies LWS_CALLBACK_CLIENT_CONNECTION_ERROR when the verify callback
 * found nothing. in is lws' reason, not NUL-terminated. */
static void netclient_conn_error(struct netclient_tls *t, const void *in,
                                 size_t len, bool handshake_done)
{
	char why[160];
	size_t n = len < sizeof(why) - 1 ? len : sizeof(why) - 1;

	if (in != NULL)
		memcpy(why, in, n);
	else
		n = 0;
	why[n] = '\0';
	if (strstr(why, "Unable to connect") != NULL ||
	    strstr(why, "getaddrinfo") != NULL ||
	    strstr(why, "connect failed") != NULL)
		netclient_tls_fail(t, NETCLIENT_FAIL_CONNECT,
		                   "cannot connect to %s:%d (%s)", t->url->host,
		                   t->url->port, why[0] != '\0' ? why : "?");
	else if (!handshake_done && (strncmp(why, "connect SSL", 11) == 0 ||
	                             strncmp(why, "connect SYSCALL", 15) == 0 ||
	                             strncmp(why, "connect unk", 11) == 0))
		netclient_tls_fail(t, NETCLIENT_FAIL_TLS,
		                   "TLS handshake with %s:%d failed (%s)",
		                   t->url->host, t->url->port, why);
	else
		netclient_tls_fail(
		    t, NETCLIENT_FAIL_PROTOCOL, "%s:%d: connection failed (%s)",
		    t->url->host, t->url->port, why[0] != '\0' ? why : "?");
}

/*
 * The client SSL_CTX, built here rather than by libwebsockets: lws 4.1.6
 * loses the one it builds when a websocket is closed under a pending write
 * (an SSL_CTX and its certificate store leaked per context). Loads every
 * certificate of ca as a trust anchor, and the client certificate and key
 * when given. Returns a new SSL_CTX (free with SSL_CTX_free() after the
 * lws context), or NULL.
 */
static SSL_CTX *netclient_ssl_ctx(const char *ca, size_t calen,
                                  const char *cert, size_t certlen,
                                  const char *key, size_t keylen)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
	X509_STORE *store;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	bool ok = false;

	if (sctx == NULL ||
	    SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) != 1)
		goto out;
	if (ca != NULL && calen > 0) {
		store = SSL_CTX_get_cert_store(sctx);
		bio = BIO_new_mem_buf(ca, (int)calen);
		if (store == NULL || bio == NULL)
			goto out;
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (X509_STORE_add_cert(store, x) != 1)
				goto out;
			X509_free(x);
		}
		BIO_free(bio);
		bio = NULL;
	}
	if (cert != NULL && certlen > 0) {
		bio = BIO_new_mem_buf(cert, (int)certlen);
		if (bio == NULL ||
		    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
		    SSL_CTX_use_certificate(sctx, x) != 1)
			goto out;
		X509_free(x);
		x = NULL;
		BIO_free(bio);
		bio = NULL;
	}
	if (key != NULL && keylen > 0) {
		bio = BIO_new_mem_buf(key, (int)keylen);
		if (bio == NULL ||
		    (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) ==
		        NULL ||
		    SSL_CTX_use_PrivateKey(sctx, pk) != 1 ||
		    SSL_CTX_check_private_key(sctx) != 1)
			goto out;
	}
	ok = true;
out:
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	if (!ok) {
		SSL_CTX_free(sctx);
		return NULL;
	}
	return sctx;
}

/* A client-only context: one vhost, no listener, using sctx (which the
 * caller frees after the context). */
static struct lws_context *
netclient_context(void *user, const struct lws_protocols *protocols,
                  SSL_CTX *sctx, unsigned timeout_secs)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	               LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info.protocols = protocols;
	info.user = user;
	info.timeout_secs = timeout_secs;
	info.connect_timeout_secs = timeout_secs;
	info.provided_client_ssl_ctx = sctx;
	return lws_create_context(&info);
}

static void netclient_sul_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul; /* only here to end lws_service()'s wait */
}

/* Services ctx once, waiting at most timeout_ms (0: not at all). */
static int netclient_service(struct lws_context *ctx,
                             lws_sorted_usec_list_t *sul, int timeout_ms)
{
	int n;

	if (timeout_ms <= 0)
		return lws_service(ctx, -1);
	/* lws 4.1 ignores lws_service()'s timeout: a timer bounds it. */
	lws_sul_schedule(ctx, 0, sul, netclient_sul_cb,
	                 (lws_usec_t)timeout_ms * LWS_US_PER_MS);
	n = lws_service(ctx, 0);
	lws_sul_cancel(sul);
	return n;
}

/* ---- HTTPS ---- */

struct netclient_http {
	const struct netclient_request *req;
	struct netclient_url url;
	struct netclient_tls tls;
	size_t max;
	size_t sent;
	bool has_body;
	bool done;
	bool complete; /* the whole response arrived */
	bool got_status;
	int status;
	struct buf body;
	lws_sorted_usec_list_t sul;
};

static int netclient_http_headers(struct netclient_http *h, struct lws *wsi,
                                  unsigned char **p, unsigned char *end)
{
	char name[128];
	char cl[24];
	const struct netclient_header *hd;
	size_t i;
	int w;

	for (i = 0; i < h->req->nheaders; i++) {
		hd = &h->req->headers[i];
		w = snprintf(name, sizeof(name), "%s:", hd->name);
		if (w < 0 || (size_t)w >= sizeof(name) ||
		    lws_add_http_header_by_name(
		        wsi, (const unsigned char *)name,
		        (const unsigned char *)hd->value,
		        (int)strlen(hd->value), p, end) != 0)
			return -1;
	}
	if (h->has_body) {
		w = snprintf(cl, sizeof(cl), "%zu", h->req->body_len);
		if (w < 0 || (size_t)w >= sizeof(cl) ||
		    lws_add_http_header_by_token(
		        wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
		        (const unsigned char *)cl, w, p, end) != 0)
			return -1;
		if (h->req->body_len > 0) {
			lws_client_http_body_pending(wsi, 1);
			lws_callback_on_writable(wsi);
		}
	}
	return 0;
}

static int netclient_http_write(struct netclient_http *h, struct lws *wsi)
{
	unsigned char b[LWS_PRE + NETCLIENT_CHUNK];
	size_t n = h->req->body_len - h->sent;
	bool last;

	if (!h->has_body || h->sent >= h->req->body_len)
		return 0;
	if (n > NETCLIENT_CHUNK)
		n = NETCLIENT_CHUNK;
	last = h->sent + n == h->req->body_len;
	memcpy(b + LWS_PRE, (const char *)h->req->body + h->sent, n);
	if (lws_write(wsi, b + LWS_PRE, n,
	              last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	h->sent += n;
	if (last)
		lws_client_http_body_pending(wsi, 0);
	else
		lws_callback_on_writable(wsi);
	return 0;
}

static int netclient_http_cb(struct lws *wsi, enum lws_callback_reasons reason,
                             void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct netclient_http *h = ctx != NULL ? lws_context_user(ctx) : NULL;
	char b[LWS_PRE + 4096], *px;
	int lenx;

	if (h == NULL)
		return reason ==
		               LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION
		           ? 1
		           : 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		return netclient_verify(&h->tls, user, (int)len);
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return netclient_http_headers(h, wsi, in,
		                              *(unsigned char **)in + len);
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return netclient_http_write(h, wsi);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		h->status = (int)lws_http_client_http_response(wsi);
		h->got_status = true;
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		px = b + LWS_PRE;
		lenx = (int)(sizeof(b) - LWS_PRE);
		return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (len > h->max || h->body.len > h->max - len) {
			netclient_tls_fail(&h->tls, NETCLIENT_FAIL_PROTOCOL,
			                   "the response is over %zu bytes",
			                   h->max);
			h->done = true;
			return -1;
		}
		if (buf_append(&h->body, in, len) != 0) {
			netclient_tls_fail(&h->tls, NETCLIENT_FAIL_LOCAL,
			                   "out of memory");
			h->done = true;
			return -1;
		}
		return 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (!h->done)
			h->complete = true;
		h->done = true;
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		netclient_conn_error(&h->tls, in, len, h->got_status);
		h->done = true;
		return 0;
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (!h->done)
			netclient_tls_fail(&h->tls, NETCLIENT_FAIL_PROTOCOL,
			                   "the server closed the connection "
			                   "before the response was complete");
		h->done = true;
		return 0;
	default:
		return 0;
	}
}

int netclient_https(const struct netclient_request *req,
                    struct netclient_response *resp, enum netclient_fail *fail,
                    struct diag *d)
{
	const struct lws_protocols protocols[] = {
	    {"mcpfleet-https", netclient_http_cb, 0, 0, 0, NULL, 0},
	    {NULL, NULL, 0, 0, 0, NULL, 0},
	};
	struct lws_client_connect_info ci;
	struct netclient_http h;
	struct lws_context *ctx = NULL;
	SSL_CTX *sctx = NULL;
	const char *method = req->method != NULL ? req->method : "GET";
	unsigned timeout = req->timeout_ms != 0 ? req->timeout_ms : 30000;
	int64_t deadline, left;
	uint8_t capin[CRYPTO_HASH_LEN];
	char *body;
	size_t blen;
	int r;

	if ((r = netclient_lib_ready(d)) != 0) {
		if (fail != NULL)
			*fail = NETCLIENT_FAIL_LOCAL;
		return r;
	}
	memset(&h, 0, sizeof(h));
	h.req = req;
	h.tls.url = &h.url;
	h.max =
	    req->max_response != 0 ? req->max_response : NETCLIENT_RESPONSE_MAX;
	h.has_body = req->body_len > 0 || strcmp(method, "POST") == 0 ||
	             strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	if (netclient_url_parse(req->url, "https", &h.url, d) != 0) {
		h.tls.fail = NETCLIENT_FAIL_USAGE;
		goto out;
	}
	if ((req->body_len > 0 && req->body == NULL) ||
	    (req->ca_pem == NULL && req->pin == NULL)) {
		diag_set(d, ERR_INVALID, 0, 0,
		         "%s: a CA or a CA pin is required", req->url);
		h.tls.fail = NETCLIENT_FAIL_USAGE;
		goto out;
	}
	if (req->pin != NULL) {
		if (netclient_pin_parse(req->pin, h.tls.pin, d) != 0) {
			h.tls.fail = NETCLIENT_FAIL_USAGE;
			goto out;
		}
		h.tls.have_pin = true;
		h.tls.pin_only = req->ca_pem == NULL;
	}
	/* A CA given with a pin must be the pinned one. */
	if (req->ca_pem != NULL && req->pin != NULL) {
		char hex[CRYPTO_HEX_LEN + 1];
		size_t n = 0;

		if (crypto_cert_fingerprint(req->ca_pem, req->ca_len, hex,
		                            NULL) != 0 ||
		    crypto_unhex(hex, CRYPTO_HEX_LEN, capin, sizeof(capin),
		                 &n) != 0 ||
		    !crypto_ct_equal(capin, h.tls.pin, CRYPTO_HASH_LEN))
			netclient_tls_fail(
			    &h.tls, NETCLIENT_FAIL_PIN,
			    "the CA given is not the pinned one");
		if (h.tls.fail != NETCLIENT_OK)
			goto out;
	}

	sctx = netclient_ssl_ctx(req->ca_pem, req->ca_len, NULL, 0, NULL, 0);
	if (sctx != NULL)
		ctx =
		    netclient_context(&h, protocols, sctx, timeout / 1000 + 5);
	if (ctx == NULL) {
		netclient_tls_fail(&h.tls, NETCLIENT_FAIL_LOCAL,
		                   "cannot create a libwebsockets context");
		goto out;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = h.url.host;
	ci.port = h.url.port;
	ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	ci.path = h.url.path;
	ci.host = h.url.ip6 ? h.url.hosthdr : h.url.host;
	ci.origin = NULL;
	ci.method = method;
	ci.protocol = protocols[0].name;
	ci.alpn = "http/1.1";
	deadline = netclient_now_ms() + timeout;
	if (lws_client_connect_via_info(&ci) == NULL && !h.done) {
		netclient_tls_fail(&h.tls, NETCLIENT_FAIL_CONNECT,
		                   "cannot connect to %s:%d", h.url.host,
		                   h.url.port);
		goto out;
	}
	while (!h.done) {
		left = deadline - netclient_now_ms();
		if (left <= 0) {
			netclient_tls_fail(&h.tls, NETCLIENT_FAIL_TIMEOUT,
			                   "no complete answer within %u ms",
			                   timeout);
			break;
		}
		if (netclient_service(ctx, &h.sul, (int)left) < 0) {
			netclient_tls_fail(&h.tls, NETCLIENT_FAIL_LOCAL,
			                   "libwebsockets service failed");
			break;
		}
	}
	if (h.complete && h.tls.fail == NETCLIENT_OK) {
		body = buf_steal(&h.body, &blen);
		if (body == NULL) {
			netclient_tls_fail(&h.tls, NETCLIENT_FAIL_LOCAL,
			                   "out of memory");
			goto out;
		}
		resp->status = h.status;
		resp->body = body;
		resp->len = blen;
	} else if (h.tls.fail == NETCLIENT_OK)
		netclient_tls_fail(&h.tls, NETCLIENT_FAIL_PROTOCOL,
		                   "no complete response");
out:
	if (ctx != NULL)
		lws_context_destroy(ctx);
	SSL_CTX_free(sctx);
	buf_free(&h.body);
	if (h.tls.fail == NETCLIENT_OK)
		return 0;
	if (fail != NULL)
		*fail = h.tls.fail;
	r = netclient_code(h.tls.fail);
	if (h.tls.fail == NETCLIENT_FAIL_PROTOCOL &&
	    strstr(h.tls.why, "bytes") != NULL)
		r = -ERR_TOOBIG;
	if (h.tls.why[0] != '\0')
		diag_set(d, r, 0, 0, "%s: %s: %s", req->url,
		         netclient_fail_str(h.tls.fail), h.tls.why);
	return r;
}

void netclient_response_free(struct netclient_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

int netclient_http_status(const struct netclient_response *resp,
                          enum netclient_fail *fail, struct diag *d)
{
	char snip[201];
	size_t n;
	int code;

	if (resp->status >= 100 && resp->status < 400)
		return 0;
	switch (resp->status) {
	case 401:
	case 403:
		code = ERR_PERM;
		break;
	case 404:
		code = ERR_NOENT;
		break;
	case 409:
		code = ERR_EXISTS;
		break;
	case 413:
		code = ERR_TOOBIG;
		break;
	default:
		code = resp->status >= 400 && resp->status < 500 ? ERR_INVALID
		                                                 : ERR_NETWORK;
	}
	n = resp->len < sizeof(snip) - 1 ? resp->len : sizeof(snip) - 1;
	if (n > 0)
		memcpy(snip, resp->body, n);
	snip[n] = '\0';
	for (n = 0; snip[n] != '\0'; n++)
		if ((unsigned char)snip[n] < 0x20)
			snip[n] = ' ';
	if (fail != NULL)
		*fail = NETCLIENT_FAIL_HTTP;
	return diag_set(d, code, 0, 0, "the server answered %d: %s",
	                resp->status, snip);
}

/* ---- Websocket ---- */

struct netclient_msg {
	struct netclient_msg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then len bytes */
};

struct netclient_ws {
	struct lws_context *ctx;
	SSL_CTX *sctx; /* ours: see netclient_ssl_ctx() */
	struct lws *wsi;
	struct netclient_url url;
	struct netclient_tls tls;
	lws_retry_bo_t retry;
	struct lws_protocols protocols[2];
	lws_sorted_usec_list_t sul;
	enum netclient_ws_state state;
	size_t max_message;
	int64_t deadline;            /* of the connection attempt */
	struct netclient_msg *qhead; /* to send */
	struct netclient_msg *qtail;
	struct netclient_msg *rhead; /* received */
	struct netclient_msg *rtail;
	size_t rbytes;
	struct buf rx; /* a fragmented message being reassembled */
	bool closing;
	bool close_sent;
	bool peer_closed;
	/* The keepalive (netclient_ws_keepalive()). */
	bool ping_due;   /* a websocket ping is to be written */
	bool ping_sent;  /* and nothing has come since */
	bool hung_up;    /* the server was silent for hangup_ms */
	int64_t last_rx; /* ms: the server's last frame, a pong included */
	int64_t ping_ms;
	int64_t hangup_ms;
	int close_code;
	int peer_code;
	char close_reason[NETCLIENT_REASON_MAX + 1];
	char peer_reason[NETCLIENT_REASON_MAX + 1];
	int final_code;
	char final_reason[NETCLIENT_WHY_MAX];
};

static void netclient_msgs_free(struct netclient_msg *m)
{
	struct netclient_msg *next;

	for (; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
}

static struct netclient_msg *netclient_msg_new(const void *data, size_t len)
{
	struct netclient_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (m == NULL)
		return NULL;
	m->next = NULL;
	m->len = len;
	if (len > 0)
		memcpy(m->data + LWS_PRE, data, len);
	return m;
}

/* Ends the connection's story once: the first account wins. */
static void netclient_ws_finish(struct netclient_ws *ws, int code,
                                const char *reason)
{
	if (ws->state == NETCLIENT_WS_CLOSED)
		return;
	ws->state = NETCLIENT_WS_CLOSED;
	ws->wsi = NULL;
	ws->final_code = code;
	(void)snprintf(ws->final_reason, sizeof(ws->final_reason), "%s",
	               reason);
}

/* Our close frame from the receive path; the caller returns -1. */
static int netclient_ws_abort(struct netclient_ws *ws, struct lws *wsi,
                              int code, const char *reason)
{
	ws->closing = true;
	ws->close_sent = true;
	ws->close_code = code;
	(void)snprintf(ws->close_reason, sizeof(ws->close_reason), "%s",
	               reason);
	lws_close_reason(wsi, (enum lws_close_status)code,
	                 (unsigned char *)ws->close_reason,
	                 strlen(ws->close_reason));
	return -1;
}

static int netclient_ws_receive(struct netclient_ws *ws, struct lws *wsi,
                                const void *in, size_t len)
{
	struct netclient_msg *m;
	size_t rem, have = ws->rx.len, max = ws->max_message;
	const void *data = in;
	size_t dlen = len;

	if (ws->close_sent)
		return 0;
	if (!lws_frame_is_binary(wsi))
		return netclient_ws_abort(ws, wsi, 1003, "binary frames only");
	rem = lws_remaining_packet_payload(wsi);
	if (len > max || have > max - len || rem > max - have - len)
		return netclient_ws_abort(ws, wsi, 1009, "message too large");
	if (!lws_is_final_fragment(wsi) || have > 0) {
		if (buf_append(&ws->rx, in, len) != 0)
			return netclient_ws_abort(ws, wsi, 1011,
			                          "out of memory");
		if (!lws_is_final_fragment(wsi))
			return 0;
		data = ws->rx.data;
		dlen = ws->rx.len;
	}
	if (ws->rbytes > NETCLIENT_RXQ_MAX - dlen)
		return netclient_ws_abort(ws, wsi, 1008, "receive queue full");
	m = netclient_msg_new(data, dlen);
	buf_free(&ws->rx);
	if (m == NULL)
		return netclient_ws_abort(ws, wsi, 1011, "out of memory");
	if (ws->rtail != NULL)
		ws->rtail->next = m;
	else
		ws->rhead = m;
	ws->rtail = m;
	ws->rbytes += dlen;
	return 0;
}

static int netclient_ws_writeable(struct netclient_ws *ws, struct lws *wsi)
{
	struct netclient_msg *m = ws->qhead;
	int n;

	if (ws->close_sent)
		return -1;
	if (ws->ping_due) {
		unsigned char ping[LWS_PRE + 1];

		/* Not empty: lws 4.1.6 reports no empty pong. */
		ws->ping_due = false;
		ping[LWS_PRE] = 'k';
		if (lws_write(wsi, ping + LWS_PRE, 1, LWS_WRITE_PING) < 0)
			return -1;
		if (ws->qhead != NULL || ws->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (m != NULL) {
		ws->qhead = m->next;
		if (ws->qhead == NULL)
			ws->qtail = NULL;
		n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_BINARY);
		if (n < 0 || (size_t)n < m->len) {
			free(m);
			return -1;
		}
		free(m);
		if (ws->qhead != NULL || ws->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (ws->closing) {
		ws->close_sent = true;
		lws_close_reason(wsi, (enum lws_close_status)ws->close_code,
		                 (unsigned char *)ws->close_reason,
		                 strlen(ws->close_reason));
		return -1;
	}
	return 0;
}

static int netclient_ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct netclient_ws *ws = ctx != NULL ? lws_context_user(ctx) : NULL;
	const unsigned char *pl = in;
	size_t n;

	if (ws == NULL)
		return reason ==
		               LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION
		           ? 1
		           : 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		return netclient_verify(&ws->tls, user, (int)len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (ws->state != NETCLIENT_WS_CONNECTING)
			return -1;
		ws->state = NETCLIENT_WS_OPEN;
		ws->wsi = wsi;
		ws->last_rx = netclient_now_ms();
		if (ws->qhead != NULL || ws->closing)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		ws->last_rx = netclient_now_ms();
		ws->ping_sent = false;
		return netclient_ws_receive(ws, wsi, in, len);
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		ws->last_rx = netclient_now_ms();
		ws->ping_sent = false;
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return netclient_ws_writeable(ws, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (ws->peer_closed)
			return 0;
		ws->peer_closed = true;
		ws->peer_code = 1005;
		if (pl != NULL && len >= 2) {
			ws->peer_code = (pl[0] << 8) | pl[1];
			n = len - 2 > NETCLIENT_REASON_MAX
			        ? NETCLIENT_REASON_MAX
			        : len - 2;
			memcpy(ws->peer_reason, pl + 2, n);
			ws->peer_reason[n] = '\0';
			for (n = 0; ws->peer_reason[n] != '\0'; n++)
				if ((unsigned char)ws->peer_reason[n] < 0x20)
					ws->peer_reason[n] = '?';
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		netclient_conn_error(&ws->tls, in, len, false);
		netclient_ws_finish(ws, 0, ws->tls.why);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (ws->peer_closed)
			netclient_ws_finish(ws, ws->peer_code, ws->peer_reason);
		else if (ws->closing)
			netclient_ws_finish(ws, ws->close_code,
			                    ws->close_reason);
		else if (ws->hung_up)
			netclient_ws_finish(ws, 1006,
			                    "connection lost: nothing from the "
			                    "server for too long");
		else
			netclient_ws_finish(ws, 1006, "connection lost");
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (ws->wsi == wsi)
			ws->wsi = NULL;
		if (ws->state != NETCLIENT_WS_CLOSED) {
			if (ws->tls.fail == NETCLIENT_OK)
				netclient_tls_fail(&ws->tls,
				                   NETCLIENT_FAIL_PROTOCOL,
				                   "connection closed");
			netclient_ws_finish(
			    ws, ws->state == NETCLIENT_WS_OPEN ? 1006 : 0,
			    ws->tls.why);
		}
		return 0;
	default:
		return 0;
	}
}

int netclient_ws_open(const struct netclient_ws_config *cfg,
                      struct netclient_ws **out, struct diag *d)
{
	struct lws_client_connect_info ci;
	struct netclient_ws *ws;
	unsigned ping = cfg->ping_secs != 0 ? cfg->ping_secs : 120;
	unsigned hangup = cfg->hangup_secs != 0 ? cfg->hangup_secs : 150;
	unsigned timeout =
	    cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms : 15000;
	int r;

	if (cfg->ca_pem == NULL || cfg->cert_pem == NULL ||
	    cfg->key_pem == NULL || cfg->ca_len == 0 || cfg->cert_len == 0 ||
	    cfg->key_len == 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "websocket: the CA, the device certificate and "
		                "its key are required");
	if ((r = netclient_lib_ready(d)) != 0)
		return r;
	if (ping > 65535 || hangup > 65535 || hangup <= ping)
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "websocket: hang-up time must exceed ping time");
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	ws->tls.url = &ws->url;
	ws->state = NETCLIENT_WS_CONNECTING;
	ws->max_message =
	    cfg->max_message != 0 ? cfg->max_message : NETCLIENT_MESSAGE_MAX;
	/* The retry policy stays all zero: no validity timer of lws' own,
	 * which only a pong would reset (netclient_ws_keepalive()). */
	ws->ping_ms = (int64_t)ping * 1000;
	ws->hangup_ms = (int64_t)hangup * 1000;
	ws->protocols[0].name = NETCLIENT_SUBPROTOCOL;
	ws->protocols[0].callback = netclient_ws_cb;
	r = netclient_url_parse(cfg->url, "wss", &ws->url, d);
	if (r != 0)
		goto out;
	ws->sctx = netclient_ssl_ctx(cfg->ca_pem, cfg->ca_len, cfg->cert_pem,
	                             cfg->cert_len, cfg->key_pem, cfg->key_len);
	if (ws->sctx == NULL) {
		r = diag_set(
		    d, ERR_CRYPTO, 0, 0,
		    "websocket: the CA, device certificate or key does "
		    "not load, or the key does not match");
		goto out;
	}
	ws->ctx =
	    netclient_context(ws, ws->protocols, ws->sctx, timeout / 1000 + 5);
	if (ws->ctx == NULL) {
		r = diag_set(d, ERR_INTERNAL, 0, 0,
		             "websocket: cannot create a libwebsockets context "
		             "(bad certificate or key?)");
		goto out;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = ws->ctx;
	ci.address = ws->url.host;
	ci.port = ws->url.port;
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.path = ws->url.path;
	ci.host = ws->url.ip6 ? ws->url.hosthdr : ws->url.host;
	ci.origin = NULL;
	ci.protocol = NETCLIENT_SUBPROTOCOL;
	ci.retry_and_idle_policy = &ws->retry;
	ci.alpn = "http/1.1";
	ws->deadline = netclient_now_ms() + timeout;
	/* On an immediate failure lws has already called back with the
	 * reason, and the state is CLOSED. */
	ws->wsi = lws_client_connect_via_info(&ci);
	if (ws->wsi == NULL && ws->state != NETCLIENT_WS_CLOSED) {
		netclient_tls_fail(&ws->tls, NETCLIENT_FAIL_CONNECT,
		                   "cannot connect to %s:%d", ws->url.host,
		                   ws->url.port);
		netclient_ws_finish(ws, 0, ws->tls.why);
	}
	r = 0;
out:
	if (r != 0) {
		netclient_ws_free(ws);
		return r;
	}
	*out = ws;
	return 0;
}

void netclient_ws_free(struct netclient_ws *ws)
{
	if (ws == NULL)
		return;
	if (ws->ctx != NULL) {
		lws_sul_cancel(&ws->sul);
		lws_context_destroy(ws->ctx);
	}
	SSL_CTX_free(ws->sctx);
	netclient_msgs_free(ws->qhead);
	netclient_msgs_free(ws->rhead);
	buf_free(&ws->rx);
	free(ws);
}

/*
 * The keepalive, from each netclient_ws_service(): a server that has said
 * nothing for ping_ms gets a websocket ping, and one silent for hangup_ms
 * is hung up on. Any frame counts: mcpfleetd pings with a Ping message
 * once either side has been quiet for its own ping time, shorter than
 * ours, so against it we never ping. Returns the ms until the next check
 * is due.
 */
static int64_t netclient_ws_keepalive(struct netclient_ws *ws)
{
	int64_t quiet;

	if (ws->state != NETCLIENT_WS_OPEN || ws->wsi == NULL || ws->closing ||
	    ws->hung_up)
		return INT64_MAX;
	quiet = netclient_now_ms() - ws->last_rx;
	if (quiet >= ws->hangup_ms) {
		ws->hung_up = true;
		lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
		                LWS_TO_KILL_ASYNC);
		return 0;
	}
	if (ws->ping_sent)
		return ws->hangup_ms - quiet;
	if (quiet >= ws->ping_ms) {
		ws->ping_sent = true;
		ws->ping_due = true;
		lws_callback_on_writable(ws->wsi);
		return ws->hangup_ms - quiet;
	}
	return ws->ping_ms - quiet;
}

int netclient_ws_service(struct netclient_ws *ws, int timeout_ms)
{
	int64_t left;

	if (ws->state == NETCLIENT_WS_CONNECTING) {
		left = ws->deadline - netclient_now_ms();
		if (left <= 0) {
			netclient_tls_fail(&ws->tls, NETCLIENT_FAIL_TIMEOUT,
			                   "no websocket within the connect "
			                   "timeout");
			if (ws->wsi != NULL)
				lws_set_timeout(ws->wsi,
				                PENDING_TIMEOUT_USER_OK,
				                LWS_TO_KILL_ASYNC);
			netclient_ws_finish(ws, 0, ws->tls.why);
			timeout_ms = 0;
		} else if (timeout_ms > left)
			timeout_ms = (int)left;
	} else {
		left = netclient_ws_keepalive(ws);
		if (timeout_ms > left)
			timeout_ms = left > 0 ? (int)left : 1;
	}
	return netclient_service(ws->ctx, &ws->sul, timeout_ms) < 0
	           ? -ERR_NETWORK
	           : 0;
}

int netclient_ws_wait_open(struct netclient_ws *ws, int timeout_ms,
                           enum netclient_fail *fail, struct diag *d)
{
	int64_t deadline = netclient_now_ms() + timeout_ms, left;
	enum netclient_fail f;
	int r;

	while (ws->state == NETCLIENT_WS_CONNECTING) {
		left = deadline - netclient_now_ms();
		if (left <= 0)
			break;
		r = netclient_ws_service(ws, (int)left);
		if (r != 0)
			return diag_set(
			    d, ERR_NETWORK, 0, 0,
			    "websocket: libwebsockets service failed");
	}
	if (ws->state == NETCLIENT_WS_OPEN)
		return 0;
	f = ws->tls.fail;
	if (ws->state == NETCLIENT_WS_CONNECTING)
		f = NETCLIENT_FAIL_TIMEOUT;
	else if (f == NETCLIENT_OK)
		f = NETCLIENT_FAIL_PROTOCOL;
	if (fail != NULL)
		*fail = f;
	r = netclient_code(f);
	return diag_set(d, r, 0, 0, "%s:%d: %s: %s", ws->url.host, ws->url.port,
	                netclient_fail_str(f),
	                ws->state == NETCLIENT_WS_CONNECTING
	                    ? "not open yet"
	                    : ws->final_reason);
}

enum netclient_ws_state netclient_ws_state(const struct netclient_ws *ws)
{
	return ws->state;
}

int netclient_ws_send(struct netclient_ws *ws, const void *data, size_t len)
{
	struct netclient_msg *m;

	if (ws->state != NETCLIENT_WS_OPEN || ws->closing)
		return -ERR_INVALID;
	if (len > ws->max_message)
		return -ERR_TOOBIG;
	m = netclient_msg_new(data, len);
	if (m == NULL)
		return -ERR_NOMEM;
	if (ws->qtail != NULL)
		ws->qtail->next = m;
	else
		ws->qhead = m;
	ws->qtail = m;
	lws_callback_on_writable(ws->wsi);
	return 0;
}

int netclient_ws_recv(struct netclient_ws *ws, void **data, size_t *len)
{
	struct netclient_msg *m = ws->rhead;
	void *p;

	if (m == NULL)
		return -ERR_NOENT;
	p = malloc(m->len + 1);
	if (p == NULL)
		return -ERR_NOMEM;
	memcpy(p, m->data + LWS_PRE, m->len);
	((char *)p)[m->len] = '\0';
	ws->rhead = m->next;
	if (ws->rhead == NULL)
		ws->rtail = NULL;
	ws->rbytes -= m->len;
	*data = p;
	*len = m->len;
	free(m);
	return 0;
}

int netclient_ws_close(struct netclient_ws *ws, int code, const char *reason)
{
	if (code < 1000 || code > 4999 || (code >= 1004 && code <= 1006) ||
	    code == 1015 || reason == NULL ||
	    strlen(reason) > NETCLIENT_REASON_MAX)
		return -ERR_INVALID;
	if (ws->state != NETCLIENT_WS_OPEN || ws->closing)
		return 0;
	ws->closing = true;
	ws->close_code = code;
	(void)snprintf(ws->close_reason, sizeof(ws->close_reason), "%s",
	               reason);
	lws_callback_on_writable(ws->wsi);
	return 0;
}

int netclient_ws_closed(const struct netclient_ws *ws, int *code,
                        const char **reason, enum netclient_fail *fail)
{
	if (ws->state != NETCLIENT_WS_CLOSED)
		return -ERR_INVALID;
	if (code != NULL)
		*code = ws->final_code;
	if (reason != NULL)
		*reason = ws->final_reason;
	if (fail != NULL)
		*fail = ws->final_code != 0 ? NETCLIENT_OK : ws->tls.fail;
	return 0;
}

void netclient_ws_wake(struct netclient_ws *ws)
{
	lws_cancel_service(ws->ctx);
}
