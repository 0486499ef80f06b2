/* SPDX-License-Identifier: MIT */
/* The launcher's bridge from stdio JSON-RPC to MCP's HTTP transports. */
#include "bridge.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* libcurl is loaded when the first bridge opens (bridge_curl_load()): a
 * launcher of a stdio server, the common case, never maps it and the two
 * dozen libraries it pulls in, and starts that much sooner. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <jansson.h>

#include "buf.h"
#include "crypto.h"
#include "sse.h"

#define BRIDGE_DEFAULT_MAX        ((size_t)64 << 20)
#define BRIDGE_DEFAULT_CONNECT_MS 30000u
/* What is read of a body nobody needs (errors, legacy POST answers). */
#define BRIDGE_DISCARD_MAX ((size_t)64 << 10)
/* Caps on the values the server hands back and the bridge keeps. */
#define BRIDGE_SESSION_MAX    1024
#define BRIDGE_VERSION_MAX    64
#define BRIDGE_ENDPOINT_MAX   8192
#define BRIDGE_INIT_PARSE_MAX ((size_t)1 << 20)
/* GET stream reopening: first delay (unless the server set retry), cap. */
#define BRIDGE_RETRY_FIRST_MS 1000L
#define BRIDGE_RETRY_MAX_MS   30000L
/* JSON-RPC error code of the answers the bridge makes itself
 * (implementation-defined server error range). */
#define BRIDGE_RPC_ERROR -32000

enum bridge_kind { BRIDGE_POST, BRIDGE_GET, BRIDGE_DELETE };
enum bridge_body {
	BRIDGE_BODY_UNKNOWN,
	BRIDGE_BODY_JSON,
	BRIDGE_BODY_SSE,
	BRIDGE_BODY_DISCARD
};

struct bridge_msg {
	struct bridge_msg *next;
	char *text;
	size_t len;
};

struct bridge_xfer {
	struct bridge_xfer *next;
	struct bridge *b;
	enum bridge_kind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	int added;  /* in the multi handle (legacy POSTs wait for the endpoint)
	             */
	char *body; /* POST */
	size_t body_len;
	json_t *ids;        /* POST: ids of its requests not answered yet */
	int batch;          /* POST: the message was an array */
	int has_requests;   /* POST: it held at least one request */
	char *method;       /* POST: the first method named, for the log */
	int is_init;        /* POST: initialize */
	int is_initialized; /* POST: notifications/initialized */
	int sent_session;   /* carried Mcp-Session-Id */
	long status;        /* of the last status line */
	char reason[64];
	char *session; /* Mcp-Session-Id of the response */
	enum bridge_body mode;
	struct buf in; /* BRIDGE_BODY_JSON */
	struct sse *sse;
	size_t discarded;
	size_t events;
	size_t dropped_seen;
	char fail[256]; /* why a callback stopped the transfer */
	char errbuf[CURL_ERROR_SIZE];
};

struct bridge {
	enum bridge_transport transport;
	char *url;
	char *url_show; /* without user, password, query and fragment */
	char *endpoint; /* legacy: where POSTs go */
	char *endpoint_show;
	char **hdr; /* "Name: value" */
	size_t nhdr;
	char *http_proxy; /* HTTP_PROXY, when http_proxy is unset */
	unsigned connect_ms;
	size_t max;
	char *ca_file;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	CURLM *multi;
	struct bridge_xfer *xfers;
	struct bridge_xfer *get; /* the GET stream, when open */
	struct bridge_msg *in_head;
	struct bridge_msg **in_tail;
	char *session;
	char *version;
	char *last_event_id;
	json_t *init_id; /* the initialize request in flight */
	int initialized_posted;
	int get_disabled;
	int64_t get_at; /* when to (re)open the GET stream; 0: not now */
	long get_backoff;
	int logged_event_type;
	int closing;
	int closed;
	int failed;
	char fail_msg[512];
};

/* The libcurl functions the bridge calls, from the library loaded at run
 * time; the names below stand for them. */
static struct bridge_curl_api {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	void (*free)(void *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int,
	                        int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	CURLU *(*url_dup)(const CURLU *);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
} bridge_curl;

/* curl.h spells these two as macros of themselves. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init         bridge_curl.global_init
#define curl_easy_init           bridge_curl.easy_init
#define curl_easy_setopt         bridge_curl.easy_setopt
#define curl_easy_getinfo        bridge_curl.easy_getinfo
#define curl_easy_cleanup        bridge_curl.easy_cleanup
#define curl_easy_strerror       bridge_curl.easy_strerror
#define curl_free                bridge_curl.free
#define curl_multi_init          bridge_curl.multi_init
#define curl_multi_add_handle    bridge_curl.multi_add_handle
#define curl_multi_remove_handle bridge_curl.multi_remove_handle
#define curl_multi_perform       bridge_curl.multi_perform
#define curl_multi_poll          bridge_curl.multi_poll
#define curl_multi_info_read     bridge_curl.multi_info_read
#define curl_multi_cleanup       bridge_curl.multi_cleanup
#define curl_slist_append        bridge_curl.slist_append
#define curl_slist_free_all      bridge_curl.slist_free_all
#define curl_url                 bridge_curl.url
#define curl_url_dup             bridge_curl.url_dup
#define curl_url_cleanup         bridge_curl.url_cleanup
#define curl_url_get             bridge_curl.url_get
#define curl_url_set             bridge_curl.url_set

static char bridge_curl_error[256];

/* Loads libcurl and finds every function above. Returns 0, or -ERR_INTERNAL
 * with bridge_curl_error saying why. */
static int bridge_curl_load(void)
{
	static const char *const names[] = {
	    "curl_global_init",
	    "curl_easy_init",
	    "curl_easy_setopt",
	    "curl_easy_getinfo",
	    "curl_easy_cleanup",
	    "curl_easy_strerror",
	    "curl_free",
	    "curl_multi_init",
	    "curl_multi_add_handle",
	    "curl_multi_remove_handle",
	    "curl_multi_perform",
	    "curl_multi_poll",
	    "curl_multi_info_read",
	    "curl_multi_cleanup",
	    "curl_slist_append",
	    "curl_slist_free_all",
	    "curl_url",
	    "curl_url_dup",
	    "curl_url_cleanup",
	    "curl_url_get",
	    "curl_url_set",
	};
	void *h = dlopen(BRIDGE_LIBCURL, RTLD_NOW | RTLD_LOCAL);
	void *fn[sizeof(names) / sizeof(names[0])];
	size_t i;

	if (h == NULL) {
		(void)snprintf(bridge_curl_error, sizeof(bridge_curl_error),
		               "cannot load %s: %s", BRIDGE_LIBCURL, dlerror());
		return -ERR_INTERNAL;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((fn[i] = dlsym(h, names[i])) == NULL) {
			(void)snprintf(bridge_curl_error,
			               sizeof(bridge_curl_error),
			               "%s lacks %s (libcurl 7.80 or newer is "
			               "needed)",
			               BRIDGE_LIBCURL, names[i]);
			dlclose(h);
			return -ERR_INTERNAL;
		}
	/* The table's members are in the order of names; object and function
	 * pointers convert through dlsym's void * as POSIX guarantees. */
	memcpy(&bridge_curl, fn, sizeof(bridge_curl));
	return 0;
}

static pthread_once_t bridge_once = PTHREAD_ONCE_INIT;
static CURLcode bridge_global_rc = CURLE_FAILED_INIT;
static bool bridge_loaded;

static void bridge_global_init(void)
{
	if (bridge_curl_load() != 0)
		return;
	bridge_loaded = true;
	bridge_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t bridge_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bridge_log(struct bridge *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bridge_log(struct bridge *b, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (b->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->log(b->log_ctx, line);
}

static void bridge_fail(struct bridge *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first failure is the one the caller hears of. */
static void bridge_fail(struct bridge *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return;
	b->failed = 1;
	va_start(ap, fmt);
	vsnprintf(b->fail_msg, sizeof(b->fail_msg), fmt, ap);
	va_end(ap);
}

static void bridge_free_secret(char *s)
{
	if (s == NULL)
		return;
	crypto_wipe(s, strlen(s));
	free(s);
}

static void bridge_slist_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		crypto_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Printable ASCII only (visible, or also spaces when spaces is set). */
static int bridge_printable(const char *s, size_t n, int spaces)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < (spaces ? 0x20 : 0x21) ||
		    (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * URL helpers on libcurl's parser. bridge_url_parse returns a new handle for
 * url, resolved against base when base is not NULL, after checking that it
 * is http or https with a host.
 */
static CURLU *bridge_url_parse(const char *base, const char *url)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (h == NULL)
		return NULL;
	if (base != NULL &&
	    curl_url_set(h, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto out;
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	ok = (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
	     host[0] != '\0';
out:
	curl_free(scheme);
	curl_free(host);
	if (!ok) {
		curl_url_cleanup(h);
		h = NULL;
	}
	return h;
}

/* Returns a new string: the URL without credentials, query or fragment, for
 * messages. */
static char *bridge_url_show(CURLU *h)
{
	CURLU *c = curl_url_dup(h);
	char *s = NULL, *r = NULL;

	if (c == NULL)
		return NULL;
	curl_url_set(c, CURLUPART_USER, NULL, 0);
	curl_url_set(c, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(c, CURLUPART_QUERY, NULL, 0);
	curl_url_set(c, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(c, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = strdup(s);
	curl_free(s);
	curl_url_cleanup(c);
	return r;
}

/* Returns a new string of url's scheme://host:port. */
static char *bridge_url_origin(CURLU *h)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *r = NULL;
	struct buf o = BUF_INIT;

	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	        CURLUE_OK &&
	    buf_printf(&o, "%s://%s:%s", scheme, host, port) == 0)
		r = buf_steal(&o, NULL);
	buf_free(&o);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return r;
}

static char *bridge_url_full(CURLU *h)
{
	char *s = NULL, *r = NULL;

	if (curl_url_get(h, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = strdup(s);
	curl_free(s);
	return r;
}

/* --- the JSON the bridge looks at without parsing it --- */

static size_t bridge_skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[i] is '"': returns the index after the closing quote, or n. */
static size_t bridge_skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* Returns the index after the value starting at s[i], or n when it does not
 * end. Nesting is counted, not recursed into. */
static size_t bridge_skip_value(const char *s, size_t n, size_t i)
{
	size_t depth = 0;

	if (i >= n)
		return n;
	if (s[i] == '"')
		return bridge_skip_string(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && strchr(",}] \t\r\n", s[i]) == NULL)
			i++;
		return i;
	}
	while (i < n) {
		if (s[i] == '"') {
			i = bridge_skip_string(s, n, i);
			continue;
		}
		if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return n;
}

/* bridge_skim() before it forgets what a text other than an object set. */
static int bridge_skim_top(const char *s, size_t n, const char **id,
                           size_t *idlen, int *has_method)
{
	size_t i = bridge_skip_ws(s, n, 0), k, kend, v;

	*id = NULL;
	*idlen = 0;
	*has_method = 0;
	if (i < n && s[i] == '[')
		return 2;
	if (i >= n || s[i] != '{')
		return 0;
	i = bridge_skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return 1;
	while (i < n) {
		if (s[i] != '"')
			return 0;
		k = i;
		i = bridge_skip_string(s, n, i);
		if (i >= n)
			return 0;
		kend = i;
		i = bridge_skip_ws(s, n, i);
		if (i >= n || s[i] != ':')
			return 0;
		v = bridge_skip_ws(s, n, i + 1);
		i = bridge_skip_value(s, n, v);
		if (i == v)
			return 0;
		if (kend - k == 4 && memcmp(s + k, "\"id\"", 4) == 0) {
			*id = s + v;
			*idlen = i - v;
		} else if (kend - k == 8 &&
		           memcmp(s + k, "\"method\"", 8) == 0) {
			*has_method = 1;
		}
		i = bridge_skip_ws(s, n, i);
		if (i < n && s[i] == ',') {
			i = bridge_skip_ws(s, n, i + 1);
			continue;
		}
		return i < n && s[i] == '}' ? 1 : 0;
	}
	return 0;
}

int bridge_skim(const char *s, size_t n, const char **id, size_t *idlen,
                int *has_method)
{
	int kind = bridge_skim_top(s, n, id, idlen, has_method);

	if (kind != 1) {
		*id = NULL;
		*idlen = 0;
		*has_method = 0;
	}
	return kind;
}

/* --- messages for the host --- */

/* Queues a copy of text for bridge_recv(). */
static int bridge_inbox_push(struct bridge *b, const char *text, size_t len)
{
	struct bridge_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -ERR_NOMEM;
	if ((m->text = malloc(len + 1)) == NULL) {
		free(m);
		return -ERR_NOMEM;
	}
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	*b->in_tail = m;
	b->in_tail = &m->next;
	return 0;
}

/* Queues the answers the bridge makes for every request of x still waiting
 * (one batch for a batch), or logs why a notification was lost. */
static void bridge_answer_error(struct bridge *b, struct bridge_xfer *x,
                                const char *why)
{
	json_t *all = NULL, *e;
	size_t i;
	char *text;

	if (x->ids == NULL || json_array_size(x->ids) == 0) {
		if (x->kind == BRIDGE_POST)
			bridge_log(b, "%s (%s not delivered)", why,
			           x->method != NULL ? x->method : "message");
		return;
	}
	bridge_log(b, "%s", why);
	if (x->batch && (all = json_array()) == NULL)
		goto out;
	for (i = 0; i < json_array_size(x->ids); i++) {
		e = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
		              "id", json_array_get(x->ids, i), "error", "code",
		              BRIDGE_RPC_ERROR, "message", why);
		if (e == NULL)
			goto out;
		if (all != NULL) {
			json_array_append_new(all, e);
			continue;
		}
		text = json_dumps(e, JSON_COMPACT);
		json_decref(e);
		if (text == NULL ||
		    bridge_inbox_push(b, text, strlen(text)) != 0)
			bridge_fail(b, "mcpfleet: out of memory");
		free(text);
	}
	if (all != NULL) {
		text = json_dumps(all, JSON_COMPACT);
		if (text == NULL ||
		    bridge_inbox_push(b, text, strlen(text)) != 0)
			bridge_fail(b, "mcpfleet: out of memory");
		free(text);
	}
out:
	json_decref(all);
	json_array_clear(x->ids);
}

/* The initialize answer: only its protocolVersion matters here. */
static void bridge_init_answer(struct bridge *b, const char *text, size_t len)
{
	json_t *j = NULL;
	const char *v = NULL;

	if (len <= BRIDGE_INIT_PARSE_MAX)
		j = json_loadb(text, len, 0, NULL);
	if (j != NULL &&
	    json_unpack(j, "{s:{s:s}}", "result", "protocolVersion", &v) == 0 &&
	    strlen(v) <= BRIDGE_VERSION_MAX &&
	    bridge_printable(v, strlen(v), 0)) {
		free(b->version);
		b->version = strdup(v);
	}
	bridge_log(b, "initialized: protocol version %s, %s",
	           b->version != NULL ? b->version : "(none)",
	           b->session != NULL ? "session id given" : "no session id");
	json_decref(j);
	json_decref(b->init_id);
	b->init_id = NULL;
}

/* Marks the request a server message answers, if it is one of x's. */
static void bridge_match_answer(struct bridge *b, struct bridge_xfer *x,
                                const char *text, size_t len)
{
	const char *id;
	size_t idlen, i;
	int has_method, kind;
	json_t *idv;

	kind = bridge_skim(text, len, &id, &idlen, &has_method);
	if (kind == 2 && x->batch) {
		json_array_clear(x->ids);
		return;
	}
	if (kind != 1 || id == NULL || has_method)
		return;
	if ((idv = json_loadb(id, idlen, JSON_DECODE_ANY, NULL)) == NULL)
		return;
	for (i = 0; i < json_array_size(x->ids); i++) {
		if (!json_equal(idv, json_array_get(x->ids, i)))
			continue;
		json_array_remove(x->ids, i);
		if (x->is_init && b->init_id != NULL &&
		    json_equal(idv, b->init_id))
			bridge_init_answer(b, text, len);
		break;
	}
	json_decref(idv);
}

/* A message from the server: to the host, and checked off x's requests. */
static int bridge_deliver(struct bridge *b, struct bridge_xfer *x,
                          const char *text, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if ((r = bridge_inbox_push(b, text, len)) != 0)
		return r;
	if (x->ids != NULL && json_array_size(x->ids) > 0)
		bridge_match_answer(b, x, text, len);
	return 0;
}

/* --- transfers --- */

static void bridge_xfer_free(struct bridge *b, struct bridge_xfer *x)
{
	struct bridge_xfer **pp;

	if (x == NULL)
		return;
	for (pp = &b->xfers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (b->get == x)
		b->get = NULL;
	if (x->easy != NULL) {
		if (x->added)
			curl_multi_remove_handle(b->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	bridge_slist_free(x->hdrs);
	free(x->body);
	json_decref(x->ids);
	free(x->method);
	free(x->session);
	buf_free(&x->in);
	sse_free(x->sse);
	free(x);
}

static const char *bridge_method_name(enum bridge_kind k)
{
	return k == BRIDGE_POST ? "POST" : k == BRIDGE_GET ? "GET" : "DELETE";
}

static const char *bridge_xfer_url_show(const struct bridge *b,
                                        const struct bridge_xfer *x)
{
	if (x->kind == BRIDGE_POST && b->transport == BRIDGE_SSE &&
	    b->endpoint_show != NULL)
		return b->endpoint_show;
	return b->url_show;
}

static int bridge_media_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The legacy endpoint event: resolve, and refuse another origin. */
static int bridge_set_endpoint(struct bridge *b, const char *data, size_t len)
{
	CURLU *base = NULL, *ep = NULL;
	char *o1 = NULL, *o2 = NULL;
	int r = -ERR_INVALID;

	if (b->endpoint != NULL) {
		bridge_log(b, "GET %s: a second endpoint event ignored",
		           b->url_show);
		return 0;
	}
	if (len == 0 || len > BRIDGE_ENDPOINT_MAX ||
	    !bridge_printable(data, len, 0)) {
		bridge_fail(b,
		            "mcpfleet: GET %s: the endpoint event holds no "
		            "usable URI",
		            b->url_show);
		goto out;
	}
	r = -ERR_NOMEM;
	if ((base = bridge_url_parse(NULL, b->url)) == NULL ||
	    (o1 = bridge_url_origin(base)) == NULL)
		goto out;
	if ((ep = bridge_url_parse(b->url, data)) == NULL ||
	    (o2 = bridge_url_origin(ep)) == NULL) {
		bridge_fail(b,
		            "mcpfleet: GET %s: the endpoint event holds no "
		            "usable URI",
		            b->url_show);
		r = -ERR_INVALID;
		goto out;
	}
	if (strcasecmp(o1, o2) != 0) {
		bridge_fail(b,
		            "mcpfleet: GET %s: the endpoint %s is on another "
		            "origin; refused",
		            b->url_show, o2);
		r = -ERR_INVALID;
		goto out;
	}
	if ((b->endpoint = bridge_url_full(ep)) == NULL ||
	    (b->endpoint_show = bridge_url_show(ep)) == NULL)
		goto out;
	bridge_log(b, "GET %s: messages go to %s", b->url_show,
	           b->endpoint_show);
	r = 0;
out:
	curl_url_cleanup(base);
	curl_url_cleanup(ep);
	free(o1);
	free(o2);
	return r;
}

static int bridge_on_event(void *ctx, const char *event, const char *data,
                           size_t len, const char *id)
{
	struct bridge_xfer *x = ctx;
	struct bridge *b = x->b;

	x->events++;
	if (x->kind == BRIDGE_GET && b->transport == BRIDGE_SSE &&
	    strcmp(event, "endpoint") == 0)
		return bridge_set_endpoint(b, data, len) != 0 ? 1 : 0;
	if (strcmp(event, "message") != 0) {
		if (!b->logged_event_type)
			bridge_log(b, "%s %s: events of type \"%.40s\" ignored",
			           bridge_method_name(x->kind),
			           bridge_xfer_url_show(b, x), event);
		b->logged_event_type = 1;
		return 0;
	}
	if (x->kind == BRIDGE_GET && b->transport == BRIDGE_HTTP &&
	    id[0] != '\0' && strlen(id) <= BRIDGE_SESSION_MAX &&
	    bridge_printable(id, strlen(id), 1)) {
		free(b->last_event_id);
		if ((b->last_event_id = strdup(id)) == NULL)
			return -ERR_NOMEM;
	}
	return bridge_deliver(b, x, data, len);
}

static size_t bridge_on_header(char *p, size_t size, size_t nitems, void *ud)
{
	struct bridge_xfer *x = ud;
	struct bridge *b = x->b;
	size_t n = size * nitems, i, k;
	const char *v;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n >= 10 && strncmp(p, "HTTP/", 5) == 0) {
		/* A status line: "HTTP/1.1 401 Unauthorized". */
		for (i = 5; i < n && p[i] != ' '; i++)
			;
		x->status = 0;
		for (i++, k = 0; i < n && k < 3 && p[i] >= '0' && p[i] <= '9';
		     i++, k++)
			x->status = x->status * 10 + (p[i] - '0');
		if (i < n && p[i] == ' ')
			i++;
		k = n - i < sizeof(x->reason) ? n - i : sizeof(x->reason) - 1;
		memcpy(x->reason, p + i, k);
		x->reason[k] = '\0';
		if (!bridge_printable(x->reason, k, 1))
			x->reason[0] = '\0';
		free(x->session);
		x->session = NULL;
	} else if (n > 15 && strncasecmp(p, "mcp-session-id:", 15) == 0) {
		for (i = 15; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		v = p + i;
		free(x->session);
		x->session = NULL;
		if (n - i == 0 || n - i > BRIDGE_SESSION_MAX ||
		    !bridge_printable(v, n - i, 0))
			bridge_log(b,
			           "POST %s: unusable Mcp-Session-Id ignored",
			           b->url_show);
		else
			x->session = strndup(v, n - i);
	} else if (n == 0 && x->is_init && x->session != NULL &&
	           x->status >= 200 && x->status < 300) {
		/* End of the initialize answer's headers: the session starts
		 * before its body, which may be a long stream. (A blank line
		 * after trailers finds x->session already taken.) */
		free(b->session);
		b->session = x->session;
		x->session = NULL;
	}
	return size * nitems;
}

/* Decides, at the first byte of a body, what to do with it. */
static int bridge_body_start(struct bridge *b, struct bridge_xfer *x)
{
	char *ct = NULL;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	x->status = status;
	if (status < 200 || status >= 300 || x->kind == BRIDGE_DELETE ||
	    (x->kind == BRIDGE_POST && b->transport == BRIDGE_SSE)) {
		x->mode = BRIDGE_BODY_DISCARD;
	} else if (bridge_media_is(ct, "text/event-stream")) {
		x->mode = BRIDGE_BODY_SSE;
		if (sse_new(b->max, &x->sse) != 0)
			return -ERR_NOMEM;
	} else if (x->kind == BRIDGE_POST &&
	           bridge_media_is(ct, "application/json")) {
		x->mode = BRIDGE_BODY_JSON;
	} else {
		snprintf(
		    x->fail, sizeof(x->fail),
		    "HTTP %ld with Content-Type %.60s, neither JSON nor an "
		    "event stream",
		    status, ct != NULL ? ct : "(none)");
		return -ERR_PARSE;
	}
	return 0;
}

static size_t bridge_on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct bridge_xfer *x = ud;
	struct bridge *b = x->b;
	size_t n = size * nmemb;
	int r;

	if (x->mode == BRIDGE_BODY_UNKNOWN && bridge_body_start(b, x) != 0)
		return 0;
	switch (x->mode) {
	case BRIDGE_BODY_JSON:
		if (n > b->max - x->in.len) {
			snprintf(x->fail, sizeof(x->fail),
			         "the answer is over %zu bytes", b->max);
			return 0;
		}
		if (buf_append(&x->in, p, n) != 0)
			return 0;
		break;
	case BRIDGE_BODY_SSE:
		r = sse_feed(x->sse, p, n, bridge_on_event, x);
		if (sse_dropped(x->sse) != x->dropped_seen) {
			x->dropped_seen = sse_dropped(x->sse);
			bridge_log(b, "%s %s: an event over %zu bytes dropped",
			           bridge_method_name(x->kind),
			           bridge_xfer_url_show(b, x), b->max);
		}
		if (r != 0)
			return 0;
		break;
	default:
		x->discarded += n;
		if (x->discarded > BRIDGE_DISCARD_MAX)
			return 0;
		break;
	}
	return n;
}

static int bridge_hdr_add(struct curl_slist **l, const char *name,
                          const char *value)
{
	struct buf h = BUF_INIT;
	struct curl_slist *t;
	int r = -ERR_NOMEM;

	if (buf_printf(&h, "%s: %s", name, value) != 0)
		goto out;
	if ((t = curl_slist_append(*l, h.data)) == NULL)
		goto out;
	*l = t;
	r = 0;
out:
	if (h.data != NULL)
		crypto_wipe(h.data, h.len);
	buf_free(&h);
	return r;
}

/* Builds x's request headers (at its start: the session may be new). */
static int bridge_xfer_headers(struct bridge *b, struct bridge_xfer *x)
{
	struct curl_slist *t;
	size_t i;
	int r = 0;

	if (x->kind == BRIDGE_POST) {
		r = bridge_hdr_add(&x->hdrs, "Content-Type",
		                   "application/json");
		if (r == 0)
			r = bridge_hdr_add(
			    &x->hdrs, "Accept",
			    "application/json, text/event-stream");
		/* No 100-continue round trip before large bodies. */
		if (r == 0 &&
		    (t = curl_slist_append(x->hdrs, "Expect:")) != NULL)
			x->hdrs = t;
		else if (r == 0)
			r = -ERR_NOMEM;
	} else if (x->kind == BRIDGE_GET) {
		r = bridge_hdr_add(&x->hdrs, "Accept", "text/event-stream");
		if (r == 0 && b->transport == BRIDGE_HTTP &&
		    b->last_event_id != NULL)
			r = bridge_hdr_add(&x->hdrs, "Last-Event-ID",
			                   b->last_event_id);
	}
	if (r == 0 && b->transport == BRIDGE_HTTP && b->session != NULL &&
	    !x->is_init) {
		r = bridge_hdr_add(&x->hdrs, "Mcp-Session-Id", b->session);
		x->sent_session = 1;
	}
	if (r == 0 && b->transport == BRIDGE_HTTP && b->version != NULL &&
	    !x->is_init)
		r = bridge_hdr_add(&x->hdrs, "MCP-Protocol-Version",
		                   b->version);
	for (i = 0; r == 0 && i < b->nhdr; i++) {
		if ((t = curl_slist_append(x->hdrs, b->hdr[i])) == NULL)
			r = -ERR_NOMEM;
		else
			x->hdrs = t;
	}
	return r;
}

/* Sets x's options and adds it to the multi handle. */
static int bridge_xfer_start(struct bridge *b, struct bridge_xfer *x,
                             long timeout_ms)
{
	const char *url = b->url;
	CURL *e;
	int r = -ERR_INTERNAL;

	if (x->kind == BRIDGE_POST && b->transport == BRIDGE_SSE)
		url = b->endpoint;
	if ((r = bridge_xfer_headers(b, x)) != 0)
		return r;
	r = -ERR_INTERNAL;
	e = x->easy;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK)
		return r;
	if (timeout_ms > 0 &&
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK)
		return r;
	if (x->kind == BRIDGE_POST &&
	    (curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	                      (curl_off_t)x->body_len) != CURLE_OK))
		return r;
	if (x->kind == BRIDGE_DELETE &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE") != CURLE_OK)
		return r;
	if (curl_multi_add_handle(b->multi, e) != CURLM_OK)
		return r;
	x->added = 1;
	return 0;
}

/*
 * A new transfer of kind, linked into b and not started. The options here
 * are the bridge's security posture, each with its reason below.
 */
static struct bridge_xfer *bridge_xfer_new(struct bridge *b,
                                           enum bridge_kind kind)
{
	struct bridge_xfer *x = calloc(1, sizeof(*x));
	CURL *e;
	int ok = 1;

	if (x == NULL)
		return NULL;
	x->b = b;
	x->kind = kind;
	if ((e = x->easy = curl_easy_init()) == NULL) {
		free(x);
		return NULL;
	}
	/* Only the two web schemes, on every hop. */
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ==
	      CURLE_OK;
	/* Redirects are not followed: a 3xx fails the request, rather than
	 * carrying the fleet's headers somewhere the catalogue did not say. */
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	/* libcurl's defaults, stated: verify the peer and its name. The CA
	 * store is the system's unless the caller names a file. */
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	if (b->ca_file != NULL)
		ok &=
		    curl_easy_setopt(e, CURLOPT_CAINFO, b->ca_file) == CURLE_OK;
	/* libcurl reads only lowercase http_proxy for http:// (httpoxy);
	 * the launcher is no CGI program, so HTTP_PROXY counts too. NO_PROXY
	 * still applies: libcurl checks it for a set proxy as well. */
	if (b->http_proxy != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_PROXY, b->http_proxy) ==
		      CURLE_OK;
	/* The fleet's headers go to the server, never to a proxy's CONNECT. */
	ok &= curl_easy_setopt(e, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                       (long)b->connect_ms) == CURLE_OK;
	/* Streams idle for hours: let TCP notice a dead peer. */
	ok &= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "mcpfleet-bridge/1") ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, bridge_on_header) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bridge_on_write) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
	if (!ok) {
		curl_easy_cleanup(e);
		free(x);
		return NULL;
	}
	x->next = b->xfers;
	b->xfers = x;
	return x;
}

/* --- the GET stream and the session --- */

static void bridge_forget_session(struct bridge *b)
{
	free(b->session);
	b->session = NULL;
	free(b->version);
	b->version = NULL;
	free(b->last_event_id);
	b->last_event_id = NULL;
	bridge_xfer_free(b, b->get);
	b->initialized_posted = 0;
	b->get_disabled = 0;
	b->get_at = 0;
	b->get_backoff = 0;
}

static void bridge_get_open(struct bridge *b)
{
	struct bridge_xfer *x;

	if (b->closing || b->failed ||
	    (b->transport == BRIDGE_HTTP && b->get_disabled)) {
		b->get_at = 0; /* else bridge_poll() would wait for nothing */
		return;
	}
	if (b->get != NULL)
		return;
	if (b->transport == BRIDGE_HTTP &&
	    (b->get_at == 0 || bridge_now_ms() < b->get_at))
		return;
	b->get_at = 0;
	if ((x = bridge_xfer_new(b, BRIDGE_GET)) == NULL ||
	    bridge_xfer_start(b, x, 0) != 0) {
		bridge_xfer_free(b, x);
		if (b->transport == BRIDGE_SSE) {
			bridge_fail(b, "mcpfleet: GET %s: cannot start",
			            b->url_show);
			return;
		}
		b->get_at = bridge_now_ms() + BRIDGE_RETRY_MAX_MS;
		return;
	}
	b->get = x;
}

/* Legacy: POSTs queued before the endpoint was known start now. */
static void bridge_flush_waiting(struct bridge *b)
{
	struct bridge_xfer *x, *next;

	if (b->endpoint == NULL)
		return;
	for (x = b->xfers; x != NULL; x = next) {
		next = x->next;
		if (x->added || x->kind != BRIDGE_POST)
			continue;
		if (bridge_xfer_start(b, x, 0) != 0) {
			bridge_answer_error(b, x,
			                    "mcpfleet: cannot start a POST");
			bridge_xfer_free(b, x);
		}
	}
}

/* Why a finished transfer failed, into why; 0 when it did not. */
static int bridge_why(struct bridge *b, struct bridge_xfer *x, CURLcode res,
                      char *why, size_t size)
{
	const char *m = bridge_method_name(x->kind);
	const char *u = bridge_xfer_url_show(b, x);
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 0)
		x->status = status;
	if (x->fail[0] != '\0') {
		snprintf(why, size, "mcpfleet: %s %s: %s", m, u, x->fail);
		return 1;
	}
	if (x->status >= 200 && x->status < 300 && res == CURLE_OK)
		return 0;
	if (x->status == 0 || (x->status >= 200 && x->status < 300)) {
		snprintf(why, size, "mcpfleet: %s %s: %s", m, u,
		         x->errbuf[0] != '\0' ? x->errbuf
		                              : curl_easy_strerror(res));
		return 1;
	}
	snprintf(why, size, "mcpfleet: %s %s: HTTP %ld%s%s", m, u, x->status,
	         x->reason[0] != '\0' ? " " : "", x->reason);
	return 1;
}

static void bridge_done_post(struct bridge *b, struct bridge_xfer *x,
                             CURLcode res)
{
	char why[512];
	int failed = bridge_why(b, x, res, why, sizeof(why));

	if (b->transport == BRIDGE_SSE) {
		/* The answers come on the stream. */
		if (failed)
			bridge_answer_error(b, x, why);
		return;
	}
	if (failed && x->status == 404 && x->sent_session &&
	    x->fail[0] == '\0') {
		snprintf(why, sizeof(why),
		         "mcpfleet: POST %s: HTTP 404: the session expired; "
		         "initialize again",
		         b->url_show);
		bridge_forget_session(b);
	}
	if (!failed && x->mode == BRIDGE_BODY_JSON && x->in.len > 0 &&
	    !x->has_requests) {
		/* Only requests have answers; the host would take this body
		 * for a message of the server's. */
		bridge_log(b, "POST %s: HTTP %ld with a body for %s; ignored",
		           b->url_show, x->status,
		           x->method != NULL ? x->method : "a response");
	} else if (!failed && x->mode == BRIDGE_BODY_JSON && x->in.len > 0) {
		const char *id;
		size_t idlen;
		int has_method;

		if (bridge_skim(x->in.data, x->in.len, &id, &idlen,
		                &has_method) == 0) {
			snprintf(why, sizeof(why),
			         "mcpfleet: POST %s: the answer is not JSON",
			         b->url_show);
			failed = 1;
		} else if (bridge_deliver(b, x, x->in.data, x->in.len) != 0) {
			bridge_fail(b, "mcpfleet: out of memory");
		}
	}
	if (!failed && x->ids != NULL && json_array_size(x->ids) > 0) {
		snprintf(why, sizeof(why),
		         "mcpfleet: POST %s: HTTP %ld without an answer%s",
		         b->url_show, x->status,
		         x->dropped_seen > 0
		             ? " (an oversized event was dropped)"
		             : "");
		failed = 1;
	}
	if (failed) {
		bridge_answer_error(b, x, why);
		if (x->is_init) {
			json_decref(b->init_id);
			b->init_id = NULL;
		}
		return;
	}
	if (x->is_initialized) {
		b->initialized_posted = 1;
		b->get_at = bridge_now_ms();
	}
}

static void bridge_done_get(struct bridge *b, struct bridge_xfer *x,
                            CURLcode res)
{
	char why[512];
	long next;

	b->get = NULL;
	if (b->closing)
		return;
	if (!bridge_why(b, x, res, why, sizeof(why)))
		snprintf(why, sizeof(why),
		         "mcpfleet: GET %s: the server ended "
		         "the stream",
		         b->url_show);
	if (b->transport == BRIDGE_SSE) {
		bridge_fail(b, "%s; the session is over", why);
		return;
	}
	if (x->status == 405) {
		bridge_log(b,
		           "GET %s: the server offers no stream of its own "
		           "(HTTP 405)",
		           b->url_show);
		b->get_disabled = 1;
		return;
	}
	if (x->status == 404 && x->sent_session) {
		bridge_log(b, "GET %s: HTTP 404: the session expired",
		           b->url_show);
		b->get_disabled = 1;
		return;
	}
	/* A stream that carried events starts the backoff over. */
	if (x->events > 0 || b->get_backoff == 0)
		next = x->sse != NULL && sse_retry(x->sse) >= 0
		           ? sse_retry(x->sse)
		           : BRIDGE_RETRY_FIRST_MS;
	else
		next = b->get_backoff * 2;
	if (next > BRIDGE_RETRY_MAX_MS)
		next = BRIDGE_RETRY_MAX_MS;
	b->get_backoff = next > 0 ? next : 1;
	b->get_at = bridge_now_ms() + b->get_backoff;
	bridge_log(b, "%s; reopening in %ld ms", why, b->get_backoff);
}

/* Handles every finished transfer. */
static void bridge_reap(struct bridge *b)
{
	struct bridge_xfer *x;
	CURLMsg *m;
	int left;
	char why[512];

	while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		                  (char **)&x);
		if (x == NULL)
			continue;
		if (x->kind == BRIDGE_POST)
			bridge_done_post(b, x, m->data.result);
		else if (x->kind == BRIDGE_GET)
			bridge_done_get(b, x, m->data.result);
		else if (bridge_why(b, x, m->data.result, why, sizeof(why)) &&
		         x->status != 405)
			bridge_log(b, "%s", why);
		bridge_xfer_free(b, x);
	}
}

/* One pass of the transfers, without waiting. */
static void bridge_step(struct bridge *b)
{
	int running;

	curl_multi_perform(b->multi, &running);
	bridge_reap(b);
	bridge_flush_waiting(b);
	bridge_get_open(b);
}

/* --- the API --- */

static const char *const bridge_reserved[] = {
    "accept",
    "content-type",
    "content-length",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "host",
    "expect",
    "transfer-encoding",
    "connection",
};

static int bridge_copy_headers(struct bridge *b, const struct kvlist *h,
                               struct diag *d)
{
	struct buf line = BUF_INIT;
	size_t i, k, nl;
	const char *name, *value;
	int r = 0, skip;

	if (h == NULL || h->n == 0)
		return 0;
	if ((b->hdr = calloc(h->n, sizeof(*b->hdr))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < h->n; i++) {
		name = h->v[i].key;
		value = h->v[i].value != NULL ? h->v[i].value : "";
		nl = strlen(name);
		if (nl == 0 || strcspn(name, ":\r\n \t") != nl ||
		    !bridge_printable(name, nl, 0) ||
		    strcspn(value, "\r\n") != strlen(value)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "bridge: header %.64s: not a valid HTTP "
			             "header",
			             name);
			goto out;
		}
		for (k = 0, skip = 0;
		     k < sizeof(bridge_reserved) / sizeof(bridge_reserved[0]);
		     k++)
			skip |= strcasecmp(name, bridge_reserved[k]) == 0;
		if (skip) {
			bridge_log(b, "header %s ignored: the bridge sets it",
			           name);
			continue;
		}
		buf_reset(&line);
		if (buf_printf(&line, "%s: %s", name, value) != 0 ||
		    (b->hdr[b->nhdr] = buf_steal(&line, NULL)) == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		b->nhdr++;
	}
out:
	if (line.data != NULL)
		crypto_wipe(line.data, line.len);
	buf_free(&line);
	return r;
}

int bridge_open(const struct bridge_config *cfg, struct bridge **out,
                struct diag *d)
{
	struct bridge *b = NULL;
	CURLU *u = NULL;
	const char *hp;
	int r = -ERR_NOMEM;

	pthread_once(&bridge_once, bridge_global_init);
	if (!bridge_loaded)
		return diag_set(d, ERR_INTERNAL, 0, 0, "bridge: %s",
		                bridge_curl_error);
	if (bridge_global_rc != CURLE_OK)
		return diag_set(d, ERR_INTERNAL, 0, 0, "bridge: libcurl: %s",
		                curl_easy_strerror(bridge_global_rc));
	if (cfg->url == NULL || (u = bridge_url_parse(NULL, cfg->url)) == NULL)
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "bridge: %.200s: not an http:// or https:// URL",
		    cfg->url != NULL ? cfg->url : "(none)");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto out;
	b->in_tail = &b->in_head;
	b->transport = cfg->transport;
	b->connect_ms = cfg->connect_timeout_ms != 0
	                    ? cfg->connect_timeout_ms
	                    : BRIDGE_DEFAULT_CONNECT_MS;
	b->max = cfg->max_message != 0 ? cfg->max_message : BRIDGE_DEFAULT_MAX;
	b->log = cfg->log;
	b->log_ctx = cfg->log_ctx;
	if ((b->url = bridge_url_full(u)) == NULL ||
	    (b->url_show = bridge_url_show(u)) == NULL)
		goto out;
	if (cfg->ca_file != NULL && (b->ca_file = strdup(cfg->ca_file)) == NULL)
		goto out;
	if (strncasecmp(b->url, "http:", 5) == 0 &&
	    getenv("http_proxy") == NULL &&
	    (hp = getenv("HTTP_PROXY")) != NULL && hp[0] != '\0' &&
	    (b->http_proxy = strdup(hp)) == NULL)
		goto out;
	if ((r = bridge_copy_headers(b, cfg->headers, d)) != 0)
		goto out;
	r = -ERR_INTERNAL;
	if ((b->multi = curl_multi_init()) == NULL)
		goto out;
	if (b->transport == BRIDGE_SSE) {
		bridge_get_open(b);
		if (b->failed) {
			r = diag_set(d, ERR_INTERNAL, 0, 0, "%s", b->fail_msg);
			goto out;
		}
	}
	*out = b;
	b = NULL;
	r = 0;
out:
	if (r == -ERR_NOMEM)
		diag_set(d, ERR_NOMEM, 0, 0, "bridge: out of memory");
	else if (r == -ERR_INTERNAL && d != NULL && d->msg[0] == '\0')
		diag_set(d, ERR_INTERNAL, 0, 0, "bridge: libcurl failed");
	curl_url_cleanup(u);
	bridge_free(b);
	return r;
}

/* Notes what x carries from one message of the host's. */
static int bridge_note_message(struct bridge *b, struct bridge_xfer *x,
                               json_t *m)
{
	const char *method = NULL;
	json_t *id;

	if (!json_is_object(m))
		return 0;
	id = json_object_get(m, "id");
	if (json_unpack(m, "{s:s}", "method", &method) != 0)
		return 0;
	if (x->method == NULL && (x->method = strdup(method)) == NULL)
		return -ERR_NOMEM;
	if (id != NULL && json_array_append(x->ids, id) != 0)
		return -ERR_NOMEM;
	x->has_requests |= id != NULL;
	if (id != NULL && strcmp(method, "initialize") == 0 &&
	    b->transport == BRIDGE_HTTP) {
		/* A new session: the old one's id and stream are gone. */
		x->is_init = 1;
		bridge_forget_session(b);
		json_decref(b->init_id);
		b->init_id = json_incref(id);
	} else if (id == NULL &&
	           strcmp(method, "notifications/initialized") == 0) {
		x->is_initialized = 1;
	}
	return 0;
}

int bridge_send(struct bridge *b, const char *msg, size_t len)
{
	struct bridge_xfer *x = NULL;
	json_t *j = NULL;
	size_t i;
	int r = -ERR_INVALID;

	if (b->closing || b->failed)
		goto out;
	if (len > b->max) {
		r = -ERR_TOOBIG;
		goto out;
	}
	j = json_loadb(msg, len, 0, NULL);
	if (j == NULL || (!json_is_object(j) && !json_is_array(j)))
		goto out;
	r = -ERR_NOMEM;
	if ((x = bridge_xfer_new(b, BRIDGE_POST)) == NULL ||
	    (x->ids = json_array()) == NULL ||
	    (x->body = malloc(len + 1)) == NULL)
		goto out;
	memcpy(x->body, msg, len);
	x->body[len] = '\0';
	x->body_len = len;
	x->batch = json_is_array(j);
	if (x->batch) {
		for (i = 0; i < json_array_size(j); i++)
			if ((r = bridge_note_message(
			         b, x, json_array_get(j, i))) != 0)
				goto out;
	} else if ((r = bridge_note_message(b, x, j)) != 0) {
		goto out;
	}
	if (b->transport == BRIDGE_SSE && b->endpoint == NULL) {
		x = NULL; /* waits for the endpoint event */
		r = 0;
		goto out;
	}
	if ((r = bridge_xfer_start(b, x, 0)) != 0) {
		r = -ERR_NOMEM;
		goto out;
	}
	x = NULL;
	r = 0;
out:
	bridge_xfer_free(b, x);
	json_decref(j);
	return r;
}

int bridge_poll(struct bridge *b, struct pollfd *extra, size_t nextra,
                int timeout_ms, struct diag *d)
{
	struct curl_waitfd wfd[16];
	int64_t deadline = bridge_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int64_t now, wait;
	size_t i, nw = nextra < 16 ? nextra : 16;

	for (i = 0; i < nextra; i++)
		extra[i].revents = 0;
	for (;;) {
		bridge_step(b);
		if (b->failed)
			return diag_set(d, ERR_NETWORK, 0, 0, "%s",
			                b->fail_msg);
		if (b->in_head != NULL)
			return 0;
		/* poll() itself fills revents: libcurl reports only IN, PRI
		 * and OUT, and a host that closed stdin shows as HUP. */
		if (nextra > 0 && poll(extra, (nfds_t)nextra, 0) > 0)
			return 0;
		now = bridge_now_ms();
		if (timeout_ms >= 0 && now >= deadline)
			return 0;
		wait = timeout_ms >= 0 ? deadline - now : INT_MAX;
		if (b->get_at != 0 && b->get == NULL)
			wait = b->get_at > now
			           ? (b->get_at - now < wait ? b->get_at - now
			                                     : wait)
			           : 0;
		for (i = 0; i < nw; i++) {
			wfd[i].fd = extra[i].fd;
			wfd[i].events = (short)(((extra[i].events & POLLIN)
			                             ? CURL_WAIT_POLLIN
			                             : 0) |
			                        ((extra[i].events & POLLPRI)
			                             ? CURL_WAIT_POLLPRI
			                             : 0) |
			                        ((extra[i].events & POLLOUT)
			                             ? CURL_WAIT_POLLOUT
			                             : 0));
			wfd[i].revents = 0;
		}
		if (curl_multi_poll(b->multi, wfd, (unsigned)nw,
		                    (int)(wait < INT_MAX ? wait : INT_MAX),
		                    NULL) != CURLM_OK)
			return diag_set(d, ERR_INTERNAL, 0, 0,
			                "bridge: curl_multi_poll failed");
	}
}

int bridge_recv(struct bridge *b, char **msg, size_t *len)
{
	struct bridge_msg *m = b->in_head;

	if (m == NULL)
		return -ERR_NOENT;
	b->in_head = m->next;
	if (b->in_head == NULL)
		b->in_tail = &b->in_head;
	*msg = m->text;
	if (len != NULL)
		*len = m->len;
	free(m);
	return 0;
}

/* Runs transfers until none of kind is left, or the deadline. */
static void bridge_drain(struct bridge *b, enum bridge_kind kind,
                         int64_t deadline)
{
	struct bridge_xfer *x;
	int64_t now;
	int busy;

	for (;;) {
		bridge_step(b);
		for (busy = 0, x = b->xfers; x != NULL; x = x->next)
			busy |= x->added && x->kind == kind;
		now = bridge_now_ms();
		if (!busy || now >= deadline)
			return;
		curl_multi_poll(
		    b->multi, NULL, 0,
		    (int)(deadline - now < 100 ? deadline - now : 100), NULL);
	}
}

void bridge_close(struct bridge *b, int timeout_ms)
{
	struct bridge_xfer *x, *next;
	int64_t t = timeout_ms > 0 ? timeout_ms : 0;
	size_t left = 0;

	if (b == NULL || b->closing)
		return;
	b->closing = 1;
	bridge_xfer_free(b, b->get);
	for (x = b->xfers; x != NULL; x = next) {
		next = x->next;
		if (!x->added) {
			bridge_answer_error(
			    b, x,
			    "mcpfleet: the bridge closed before the "
			    "server named its endpoint");
			bridge_xfer_free(b, x);
		}
	}
	bridge_drain(b, BRIDGE_POST, bridge_now_ms() + t);
	while (b->xfers != NULL) {
		left++;
		bridge_xfer_free(b, b->xfers);
	}
	if (left > 0)
		bridge_log(b, "closing: %zu transfer(s) unfinished", left);
	if (b->transport == BRIDGE_HTTP && b->session != NULL) {
		x = bridge_xfer_new(b, BRIDGE_DELETE);
		if (x != NULL &&
		    bridge_xfer_start(b, x, t > 0 ? (long)t : 1) == 0)
			bridge_drain(b, BRIDGE_DELETE, bridge_now_ms() + t);
		while (b->xfers != NULL)
			bridge_xfer_free(b, b->xfers);
	}
	b->closed = 1;
}

void bridge_free(struct bridge *b)
{
	struct bridge_msg *m;
	size_t i;

	if (b == NULL)
		return;
	while (b->xfers != NULL)
		bridge_xfer_free(b, b->xfers);
	if (b->multi != NULL)
		curl_multi_cleanup(b->multi);
	while ((m = b->in_head) != NULL) {
		b->in_head = m->next;
		free(m->text);
		free(m);
	}
	for (i = 0; i < b->nhdr; i++)
		bridge_free_secret(b->hdr[i]);
	free(b->hdr);
	bridge_free_secret(b->url); /* may hold user:password */
	free(b->url_show);
	bridge_free_secret(b->endpoint);
	free(b->endpoint_show);
	free(b->http_proxy);
	free(b->ca_file);
	free(b->session);
	free(b->version);
	free(b->last_event_id);
	json_decref(b->init_id);
	free(b);
}
