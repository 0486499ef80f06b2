/* SPDX-License-Identifier: MIT */
/* Unit tests: client/bridge.c against an HTTP/1.1 server on loopback. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "bridge.h"
#include "buf.h"
#include "catalogue.h"
#include "err.h"

#define TS_MAX_CONN 32
#define TS_MAX_REQ  64
#define TS_HEAD_MAX (64 * 1024)
/* How long a test waits for one message before it fails. */
#define TB_WAIT_MS 5000

struct ts_req {
	char method[16];
	char target[512];
	char *head; /* the header lines, CRLF-ended */
	char *body;
};

/* One scripted server (or forward proxy) on 127.0.0.1. */
struct ts_server {
	int lfd;
	int port;
	int is_proxy;
	SSL_CTX *tls;         /* NULL: plain HTTP */
	int legacy;           /* HTTP+SSE at /sse and /messages */
	int get_405;          /* Streamable HTTP: no GET stream */
	const char *endpoint; /* legacy: the endpoint event's data */
	pthread_t accept_thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int drop_stream; /* legacy: end the GET stream now */
	pthread_t thr[TS_MAX_CONN];
	int fd[TS_MAX_CONN];
	int nconn;
	struct ts_req req[TS_MAX_REQ];
	int nreq;
	int gets;
	struct buf push; /* legacy: events for the GET stream */
};

struct ts_conn {
	struct ts_server *s;
	int fd;
};

/* The TLS session of the connection this thread serves, if any. */
static _Thread_local SSL *ts_ssl;

static ssize_t ts_recv(int fd, char *p, size_t n)
{
	int r;

	if (ts_ssl == NULL)
		return recv(fd, p, n, 0);
	r = SSL_read(ts_ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	return r > 0 ? r : -1;
}

static int ts_write(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if (ts_ssl != NULL)
			w = SSL_write(ts_ssl, p,
			              n > INT_MAX ? INT_MAX : (int)n);
		else
			w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int ts_printf(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ts_printf(int fd, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	char tmp[8192];
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	r = buf_append(&b, tmp, (size_t)n) == 0 ? ts_write(fd, b.data, b.len)
	                                        : -1;
	buf_free(&b);
	return r;
}

static int ts_respond(int fd, int status, const char *reason, const char *ctype,
                      const char *extra, const char *body)
{
	return ts_printf(fd,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 status, reason, ctype, extra, strlen(body), body);
}

static int ts_chunk(int fd, const char *data)
{
	return ts_printf(fd, "%zx\r\n%s\r\n", strlen(data), data);
}

static int ts_stream_start(int fd)
{
	return ts_printf(fd, "HTTP/1.1 200 OK\r\nContent-Type: "
	                     "text/event-stream\r\nTransfer-Encoding: "
	                     "chunked\r\n\r\n");
}

/* Waits until the test stops the server (or the legacy stream is to be
 * dropped), writing what POST handlers pushed for the legacy stream. */
static void ts_hold(struct ts_server *s, int fd)
{
	char *out;

	pthread_mutex_lock(&s->mu);
	while (!s->stop && !s->drop_stream) {
		if (s->push.len > 0) {
			out = buf_steal(&s->push, NULL);
			pthread_mutex_unlock(&s->mu);
			ts_chunk(fd, out);
			free(out);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		pthread_cond_wait(&s->cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

static char *ts_answer(json_t *id, const char *result_json)
{
	char *ids = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
	struct buf b = BUF_INIT;

	assert_non_null(ids);
	assert_int_equal(
	    buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", ids,
	               result_json),
	    0);
	free(ids);
	return buf_steal(&b, NULL);
}

/* Streamable HTTP and legacy POSTs. Returns -1 to close the connection. */
static int ts_post(struct ts_server *s, int fd, struct ts_req *rq)
{
	json_t *j = json_loads(rq->body, 0, NULL), *id = NULL;
	const char *method = "";
	char *ans = NULL, big[4096];
	int r = 0;

	if (json_is_object(j)) {
		id = json_object_get(j, "id");
		json_unpack(j, "{s:s}", "method", &method);
	}
	if (s->legacy) {
		if (strcmp(method, "boom") == 0) {
			r = ts_respond(fd, 500, "Internal Server Error",
			               "text/plain", "", "no");
			goto out;
		}
		r = ts_respond(fd, 202, "Accepted", "text/plain", "", "");
		if (id != NULL) {
			ans = ts_answer(id, "{\"legacy\":true}");
			pthread_mutex_lock(&s->mu);
			buf_printf(&s->push, "event: message\ndata: %s\n\n",
			           ans);
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
		goto out;
	}
	if (json_is_array(j)) {
		r = ts_respond(fd, 200, "OK", "application/json", "",
		               "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
		               "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}]");
	} else if (strcmp(method, "initialize") == 0) {
		ans = ts_answer(id, "{\"protocolVersion\":\"2025-06-18\","
		                    "\"capabilities\":{}}");
		r = ts_respond(fd, 200, "OK", "application/json",
		               "Mcp-Session-Id: sess-1\r\n", ans);
	} else if (id == NULL && strcmp(method, "chatty") == 0) {
		r = ts_respond(fd, 200, "OK", "application/json", "", "{}");
	} else if (id == NULL && strcmp(method, "boom") != 0) {
		r = ts_respond(fd, 202, "Accepted", "text/plain", "", "");
	} else if (strcmp(method, "tools/list") == 0) {
		ans = ts_answer(id, "{\"tools\":[]}");
		if ((r = ts_stream_start(fd)) == 0)
			r = ts_chunk(fd,
			             ": hello\n\ndata: {\"jsonrpc\":\"2.0\","
			             "\"method\":\"notifications/progress\"}"
			             "\n\n");
		/* The answer split inside its data, across chunks. */
		if (r == 0)
			r = ts_chunk(fd, "data: ");
		if (r == 0)
			r = ts_printf(fd, "%zx\r\n%s\n\n\r\n0\r\n\r\n",
			              strlen(ans) + 2, ans);
	} else if (strcmp(method, "unauth") == 0) {
		r = ts_respond(fd, 401, "Unauthorized", "text/plain", "",
		               "who?");
	} else if (strcmp(method, "boom") == 0) {
		r = ts_respond(fd, 500, "Internal Server Error", "text/plain",
		               "", "");
	} else if (strcmp(method, "expire") == 0) {
		r = ts_respond(fd, 404, "Not Found", "text/plain", "", "");
	} else if (strcmp(method, "notjson") == 0) {
		r = ts_respond(fd, 200, "OK", "text/html", "", "<html>");
	} else if (strcmp(method, "big") == 0) {
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		r = ts_respond(fd, 200, "OK", "application/json", "", big);
	} else if (strcmp(method, "bigsse") == 0) {
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		if ((r = ts_stream_start(fd)) == 0)
			r = ts_printf(fd, "%zx\r\ndata: %s\n\n\r\n0\r\n\r\n",
			              strlen(big) + 8, big);
	} else if (strcmp(method, "hangup") == 0) {
		r = -1;
	} else {
		ans = ts_answer(id, "{}");
		r = ts_respond(fd, 200, "OK", "application/json; charset=utf-8",
		               "", ans);
	}
out:
	free(ans);
	json_decref(j);
	return r;
}

static int ts_get(struct ts_server *s, int fd)
{
	int n;

	if (s->legacy) {
		if (ts_stream_start(fd) != 0)
			return -1;
		ts_chunk(fd, ": welcome\n\n");
		ts_printf(fd, "%zx\r\nevent: endpoint\ndata: %s\n\n\r\n",
		          strlen(s->endpoint) + 24, s->endpoint);
		ts_hold(s, fd);
		return -1; /* dropped without the last chunk */
	}
	if (s->get_405)
		return ts_respond(fd, 405, "Method Not Allowed", "text/plain",
		                  "", "");
	pthread_mutex_lock(&s->mu);
	n = ++s->gets;
	pthread_mutex_unlock(&s->mu);
	if (ts_stream_start(fd) != 0)
		return -1;
	if (n == 1) {
		ts_chunk(fd, "retry: 50\nid: 7\ndata: {\"jsonrpc\":\"2.0\","
		             "\"method\":\"notifications/first\"}\n\n");
		return -1; /* the stream drops */
	}
	ts_chunk(fd, "id: 8\ndata: {\"jsonrpc\":\"2.0\","
	             "\"method\":\"notifications/second\"}\n\n");
	ts_hold(s, fd);
	return -1;
}

/* Reads one request; returns 0, or -1 at EOF or on garbage. */
static int ts_read_req(int fd, struct ts_req *rq, struct buf *in)
{
	char *end, *cl;
	size_t hlen, blen = 0;
	ssize_t n;
	char tmp[4096];

	while ((end = in->data != NULL ? strstr(in->data, "\r\n\r\n") : NULL) ==
	       NULL) {
		if (in->len > TS_HEAD_MAX)
			return -1;
		n = ts_recv(fd, tmp, sizeof(tmp));
		if (n <= 0)
			return -1;
		assert_int_equal(buf_append(in, tmp, (size_t)n), 0);
	}
	hlen = (size_t)(end - in->data) + 4;
	if (sscanf(in->data, "%15s %511s", rq->method, rq->target) != 2)
		return -1;
	rq->head = strndup(in->data, hlen);
	for (cl = rq->head; (cl = strchr(cl, '\n')) != NULL; cl++)
		if (strncasecmp(cl + 1, "content-length:", 15) == 0)
			blen = strtoul(cl + 16, NULL, 10);
	while (in->len < hlen + blen) {
		n = ts_recv(fd, tmp, sizeof(tmp));
		if (n <= 0)
			return -1;
		assert_int_equal(buf_append(in, tmp, (size_t)n), 0);
	}
	rq->body = strndup(in->data + hlen, blen);
	memmove(in->data, in->data + hlen + blen, in->len - hlen - blen);
	in->len -= hlen + blen;
	in->data[in->len] = '\0';
	return 0;
}

static void *ts_conn_main(void *arg)
{
	struct ts_conn *c = arg;
	struct ts_server *s = c->s;
	struct buf in = BUF_INIT;
	struct ts_req rq, *kept;
	int r;

	if (s->tls != NULL) {
		ts_ssl = SSL_new(s->tls);
		assert_non_null(ts_ssl);
		SSL_set_fd(ts_ssl, c->fd);
		if (SSL_accept(ts_ssl) != 1)
			goto out; /* the client refused the certificate */
	}
	for (;;) {
		memset(&rq, 0, sizeof(rq));
		if (ts_read_req(c->fd, &rq, &in) != 0) {
			free(rq.head);
			free(rq.body);
			break;
		}
		pthread_mutex_lock(&s->mu);
		kept = s->nreq < TS_MAX_REQ ? &s->req[s->nreq++] : NULL;
		if (kept != NULL)
			*kept = rq;
		pthread_mutex_unlock(&s->mu);
		if (s->is_proxy)
			r = ts_respond(
			    c->fd, 200, "OK", "application/json", "",
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
			    "{\"via\":\"proxy\"}}");
		else if (strcmp(rq.method, "POST") == 0)
			r = ts_post(s, c->fd, &rq);
		else if (strcmp(rq.method, "GET") == 0)
			r = ts_get(s, c->fd);
		else
			r = ts_respond(c->fd, 200, "OK", "text/plain", "", "");
		if (kept == NULL) {
			free(rq.head);
			free(rq.body);
		}
		if (r != 0)
			break;
	}
out:
	buf_free(&in);
	shutdown(c->fd, SHUT_RDWR);
	SSL_free(ts_ssl);
	ts_ssl = NULL;
	free(c);
	return NULL;
}

static void *ts_accept_main(void *arg)
{
	struct ts_server *s = arg;
	struct ts_conn *c;
	int fd;

	for (;;) {
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&s->mu);
		if (s->stop || s->nconn == TS_MAX_CONN) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->s = s;
		c->fd = fd;
		s->fd[s->nconn] = fd;
		assert_int_equal(
		    pthread_create(&s->thr[s->nconn], NULL, ts_conn_main, c),
		    0);
		s->nconn++;
		pthread_mutex_unlock(&s->mu);
	}
}

static int ts_listen(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct ts_server *ts_start(int legacy, int is_proxy)
{
	struct ts_server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->legacy = legacy;
	s->is_proxy = is_proxy;
	s->endpoint = "/messages?sessionId=abc";
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->lfd = ts_listen(&s->port);
	assert_int_equal(
	    pthread_create(&s->accept_thr, NULL, ts_accept_main, s), 0);
	return s;
}

static void ts_stop(struct ts_server *s)
{
	int i;

	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	for (i = 0; i < s->nconn; i++)
		shutdown(s->fd[i], SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->accept_thr, NULL);
	close(s->lfd);
	for (i = 0; i < s->nconn; i++) {
		pthread_join(s->thr[i], NULL);
		close(s->fd[i]);
	}
}

static void ts_free(struct ts_server *s)
{
	int i;

	for (i = 0; i < s->nreq; i++) {
		free(s->req[i].head);
		free(s->req[i].body);
	}
	buf_free(&s->push);
	SSL_CTX_free(s->tls);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static void ts_drop_stream(struct ts_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->drop_stream = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The value of header name in a recorded request, or NULL; a new string. */
static char *ts_header(const struct ts_req *rq, const char *name)
{
	size_t n = strlen(name);
	const char *p, *e;

	for (p = strchr(rq->head, '\n'); p != NULL; p = strchr(p, '\n')) {
		p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			e = strstr(p, "\r\n");
			return strndup(p,
			               e != NULL ? (size_t)(e - p) : strlen(p));
		}
	}
	return NULL;
}

static void ts_assert_header(const struct ts_req *rq, const char *name,
                             const char *want)
{
	char *v = ts_header(rq, name);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s %s: unexpected %s: %s", rq->method,
			         rq->target, name, v);
		return;
	}
	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("%s %s: %s is %s, expected %s", rq->method, rq->target,
		         name, v != NULL ? v : "(absent)", want);
	free(v);
}

/* --- the bridge side --- */

struct tb_log {
	pthread_mutex_t mu;
	struct buf b;
};

static void tb_on_log(void *ctx, const char *line)
{
	struct tb_log *l = ctx;

	/* TB_VERBOSE=1 shows the bridge's log while debugging. */
	if (getenv("TB_VERBOSE") != NULL)
		fprintf(stderr, "bridge: %s\n", line);
	buf_printf(&l->b, "%s\n", line);
}

static struct tb_log tb_logs;

static struct bridge *tb_open(const char *url, enum bridge_transport t,
                              const struct kvlist *headers, size_t max)
{
	struct bridge_config cfg = {.url = url,
	                            .transport = t,
	                            .headers = headers,
	                            .connect_timeout_ms = 2000,
	                            .max_message = max,
	                            .log = tb_on_log,
	                            .log_ctx = &tb_logs};
	struct bridge *b = NULL;
	struct diag d;

	diag_clear(&d);
	tu_ok(bridge_open(&cfg, &b, &d), &d);
	return b;
}

static char *tb_url(const struct ts_server *s, const char *path)
{
	struct buf b = BUF_INIT;

	assert_int_equal(buf_printf(&b, "http://127.0.0.1:%d%s", s->port, path),
	                 0);
	return buf_steal(&b, NULL);
}

static void tb_send(struct bridge *b, const char *msg)
{
	assert_int_equal(bridge_send(b, msg, strlen(msg)), 0);
}

/* The next message for the host; fails the test after TB_WAIT_MS. */
static char *tb_recv(struct bridge *b)
{
	int64_t end = tu_now_ms() + TB_WAIT_MS;
	struct diag d;
	char *m;
	size_t len;

	while (tu_now_ms() < end) {
		if (bridge_recv(b, &m, &len) == 0) {
			assert_int_equal(strlen(m), len);
			return m;
		}
		diag_clear(&d);
		tu_ok(bridge_poll(b, NULL, 0, 100, &d), &d);
	}
	fail_msg("no message within %d ms", TB_WAIT_MS);
	return NULL;
}

/* Receives a message and checks that it holds each of the strings. */
static void tb_expect(struct bridge *b, const char *a, const char *c)
{
	char *m = tb_recv(b);

	if (strstr(m, a) == NULL || (c != NULL && strstr(m, c) == NULL))
		fail_msg("got %s, expected %s and %s", m, a, c ? c : "");
	free(m);
}

/* Runs the bridge for ms and checks that nothing arrived. */
static void tb_expect_none(struct bridge *b, int ms)
{
	int64_t end = tu_now_ms() + ms;
	struct diag d;
	char *m;

	while (tu_now_ms() < end) {
		diag_clear(&d);
		tu_ok(bridge_poll(b, NULL, 0, 20, &d), &d);
	}
	if (bridge_recv(b, &m, NULL) == 0)
		fail_msg("unexpected message %s", m);
}

static void tb_log_reset(void)
{
	buf_reset(&tb_logs.b);
}

static int tb_log_has(const char *s)
{
	return tb_logs.b.data != NULL && strstr(tb_logs.b.data, s) != NULL;
}

static struct kvlist tb_headers;

static int tb_setup(void **state)
{
	(void)state;
	tb_log_reset();
	return 0;
}

static void test_bridge_http_session(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp");
	struct bridge *b;
	int i, gets = 0, posts = 0, deletes = 0;

	(void)state;
	b = tb_open(url, BRIDGE_HTTP, &tb_headers, 0);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	           "\"params\":{}}");
	tb_expect(b, "\"id\":1", "2025-06-18");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":"
	           "\"notifications/initialized\"}");
	/* The GET stream: one event, a drop, a reopen with Last-Event-ID. */
	tb_expect(b, "notifications/first", NULL);
	tb_expect(b, "notifications/second", NULL);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
	tb_expect(b, "notifications/progress", NULL);
	tb_expect(b, "\"id\":2", "\"tools\"");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
	tb_expect(b, "\"id\":\"p\"", "\"result\"");
	/* A batch's answer is handed on whole. */
	tb_send(b, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"},"
	           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"b\"}]");
	tb_expect(b, "[{", "\"id\":2");
	bridge_close(b, 2000);
	bridge_free(b);
	ts_stop(s);
	for (i = 0; i < s->nreq; i++) {
		struct ts_req *rq = &s->req[i];
		int init = rq->body != NULL && strstr(rq->body, "initialize\"");

		assert_string_equal(rq->target, "/mcp");
		ts_assert_header(rq, "X-Fleet-Token", "secret-1");
		ts_assert_header(rq, "X-Other", "two");
		ts_assert_header(rq, "Mcp-Session-Id", init ? NULL : "sess-1");
		ts_assert_header(rq, "MCP-Protocol-Version",
		                 init ? NULL : "2025-06-18");
		if (strcmp(rq->method, "POST") == 0) {
			posts++;
			ts_assert_header(rq, "Content-Type",
			                 "application/json");
			ts_assert_header(rq, "Accept",
			                 "application/json, text/event-stream");
		} else if (strcmp(rq->method, "GET") == 0) {
			ts_assert_header(rq, "Accept", "text/event-stream");
			ts_assert_header(rq, "Last-Event-ID",
			                 gets == 0 ? NULL : "7");
			gets++;
		} else {
			assert_string_equal(rq->method, "DELETE");
			deletes++;
		}
	}
	assert_int_equal(posts, 5);
	assert_int_equal(gets, 2);
	assert_int_equal(deletes, 1);
	assert_string_equal(s->req[s->nreq - 1].method, "DELETE");
	ts_free(s);
	free(url);
}

static void tb_init(struct bridge *b)
{
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\"}");
	tb_expect(b, "\"id\":0", "result");
}

static void test_bridge_http_failures_answer_requests(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp?token=hush");
	struct bridge *b;
	char *m;
	json_t *j;

	(void)state;
	b = tb_open(url, BRIDGE_HTTP, NULL, 0);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"unauth\"}");
	m = tb_recv(b);
	j = json_loads(m, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 41);
	assert_int_equal(strncmp(json_string_value(json_object_get(
	                             json_object_get(j, "error"), "message")),
	                         "mcpfleet: POST http://127.0.0.1:", 32),
	                 0);
	assert_non_null(strstr(m, "HTTP 401 Unauthorized"));
	assert_non_null(strstr(m, "/mcp: HTTP"));
	assert_null(strstr(m, "hush"));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "error"), "code")),
	                 -32000);
	json_decref(j);
	free(m);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"boom\"}");
	tb_expect(b, "\"id\":\"x\"", "HTTP 500 Internal Server Error");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":43,\"method\":\"notjson\"}");
	tb_expect(b, "\"id\":43", "neither JSON nor an event stream");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":44,\"method\":\"hangup\"}");
	tb_expect(b, "\"id\":44", "\"error\"");
	/* A failed notification is only logged. */
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":\"boom\"}");
	tb_expect_none(b, 300);
	assert_true(tb_log_has("HTTP 500 Internal Server Error (boom not "
	                       "delivered)"));
	/* A body for a notification is no message for the host. */
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":\"chatty\"}");
	tb_expect_none(b, 300);
	assert_true(tb_log_has("with a body for chatty; ignored"));
	bridge_free(b);
	ts_stop(s);
	ts_free(s);
	free(url);
}

static void test_bridge_http_connection_refused(void **state)
{
	int port, fd = ts_listen(&port);
	struct buf u = BUF_INIT;
	struct bridge *b;

	(void)state;
	close(fd); /* nobody listens there now */
	assert_int_equal(buf_printf(&u, "http://127.0.0.1:%d/mcp", port), 0);
	b = tb_open(u.data, BRIDGE_HTTP, NULL, 0);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\"}");
	tb_expect(b, "\"id\":7", "mcpfleet: POST http://127.0.0.1:");
	bridge_close(b, 500);
	bridge_free(b);
	buf_free(&u);
}

static void test_bridge_http_session_expired(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp");
	struct bridge *b;

	(void)state;
	b = tb_open(url, BRIDGE_HTTP, NULL, 0);
	tb_init(b);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"expire\"}");
	tb_expect(b, "\"id\":5", "the session expired");
	/* The session is forgotten: no DELETE for it. */
	bridge_close(b, 1000);
	bridge_free(b);
	ts_stop(s);
	assert_int_equal(s->nreq, 2);
	ts_assert_header(&s->req[1], "Mcp-Session-Id", "sess-1");
	ts_free(s);
	free(url);
}

static void test_bridge_http_get_405_logged_once(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp");
	struct bridge *b;
	struct diag d;
	clock_t c0;
	int i, gets = 0;

	(void)state;
	s->get_405 = 1;
	b = tb_open(url, BRIDGE_HTTP, NULL, 0);
	tb_init(b);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":"
	           "\"notifications/initialized\"}");
	tb_expect_none(b, 400);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}");
	tb_expect(b, "\"id\":9", "result");
	assert_true(tb_log_has("offers no stream of its own (HTTP 405)"));
	/* Another initialized asks for no stream again, and the wait is
	 * a wait, not a spin. */
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":"
	           "\"notifications/initialized\"}");
	tb_expect_none(b, 100);
	c0 = clock();
	tu_ok(bridge_poll(b, NULL, 0, 300, &d), &d);
	assert_true(clock() - c0 < CLOCKS_PER_SEC / 10);
	bridge_close(b, 1000);
	bridge_free(b);
	ts_stop(s);
	for (i = 0; i < s->nreq; i++)
		gets += strcmp(s->req[i].method, "GET") == 0;
	assert_int_equal(gets, 1);
	ts_free(s);
	free(url);
}

static void test_bridge_http_oversized_answers(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp");
	struct bridge *b;
	char big[2048];

	(void)state;
	b = tb_open(url, BRIDGE_HTTP, NULL, 1024);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"big\"}");
	tb_expect(b, "\"id\":1", "over 1024 bytes");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"bigsse\"}");
	tb_expect(b, "\"id\":2", "an oversized event was dropped");
	assert_true(tb_log_has("an event over 1024 bytes dropped"));
	/* Outgoing: over the cap, or not JSON. */
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	assert_int_equal(bridge_send(b, big, sizeof(big)), -ERR_TOOBIG);
	assert_int_equal(bridge_send(b, "{\"a\":", 5), -ERR_INVALID);
	assert_int_equal(bridge_send(b, "42", 2), -ERR_INVALID);
	bridge_free(b);
	ts_stop(s);
	ts_free(s);
	free(url);
}

static void test_bridge_sse_legacy(void **state)
{
	struct ts_server *s = ts_start(1, 0);
	char *url = tb_url(s, "/sse");
	struct bridge *b;
	struct diag d;
	int64_t end;
	int i, r = 0;

	(void)state;
	b = tb_open(url, BRIDGE_SSE, &tb_headers, 0);
	/* Sent before the endpoint is known: queued. */
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
	tb_expect(b, "\"id\":1", "\"legacy\":true");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"method\":"
	           "\"notifications/initialized\"}");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
	tb_expect(b, "\"id\":2", "\"legacy\":true");
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"boom\"}");
	tb_expect(b, "\"id\":3", "POST http://127.0.0.1:");
	assert_true(tb_log_has("/messages"));
	ts_drop_stream(s);
	end = tu_now_ms() + TB_WAIT_MS;
	while (r == 0 && tu_now_ms() < end) {
		diag_clear(&d);
		r = bridge_poll(b, NULL, 0, 100, &d);
	}
	assert_int_equal(r, -ERR_NETWORK);
	assert_non_null(strstr(d.msg, "the session is over"));
	assert_int_equal(bridge_send(b, "{}", 2), -ERR_INVALID);
	bridge_close(b, 500);
	bridge_free(b);
	ts_stop(s);
	assert_string_equal(s->req[0].method, "GET");
	assert_string_equal(s->req[0].target, "/sse");
	ts_assert_header(&s->req[0], "Accept", "text/event-stream");
	for (i = 0; i < s->nreq; i++) {
		ts_assert_header(&s->req[i], "X-Fleet-Token", "secret-1");
		ts_assert_header(&s->req[i], "Mcp-Session-Id", NULL);
		if (i > 0)
			assert_string_equal(s->req[i].target,
			                    "/messages?sessionId=abc");
	}
	assert_int_equal(s->nreq, 5);
	ts_free(s);
	free(url);
}

static void test_bridge_sse_foreign_endpoint_refused(void **state)
{
	struct ts_server *s = ts_start(1, 0);
	char *url = tb_url(s, "/sse");
	struct bridge *b;
	struct diag d;
	int64_t end = tu_now_ms() + TB_WAIT_MS;
	int r = 0;

	(void)state;
	s->endpoint = "http://127.0.0.2:1/messages";
	b = tb_open(url, BRIDGE_SSE, NULL, 0);
	while (r == 0 && tu_now_ms() < end) {
		diag_clear(&d);
		r = bridge_poll(b, NULL, 0, 100, &d);
	}
	assert_int_equal(r, -ERR_NETWORK);
	assert_non_null(strstr(d.msg, "another origin"));
	bridge_free(b);
	ts_stop(s);
	ts_free(s);
	free(url);
}

static void test_bridge_proxy_and_no_proxy(void **state)
{
	struct ts_server *s = ts_start(0, 0), *p = ts_start(0, 1);
	char *url = tb_url(s, "/mcp"), *purl = tb_url(p, "");
	struct bridge *b;

	(void)state;
	setenv("HTTP_PROXY", purl, 1);
	b = tb_open(url, BRIDGE_HTTP, &tb_headers, 0);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	tb_expect(b, "\"via\":\"proxy\"", NULL);
	bridge_free(b);
	pthread_mutex_lock(&p->mu);
	assert_int_equal(p->nreq, 1);
	/* The absolute form, as a forward proxy gets it. */
	assert_string_equal(p->req[0].target, url);
	ts_assert_header(&p->req[0], "X-Fleet-Token", "secret-1");
	pthread_mutex_unlock(&p->mu);
	setenv("NO_PROXY", "127.0.0.1", 1);
	b = tb_open(url, BRIDGE_HTTP, NULL, 0);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	tb_expect(b, "\"id\":2", "\"result\":{}");
	bridge_free(b);
	unsetenv("HTTP_PROXY");
	unsetenv("NO_PROXY");
	ts_stop(s);
	ts_stop(p);
	assert_int_equal(p->nreq, 1);
	assert_int_equal(s->nreq, 1);
	ts_free(s);
	ts_free(p);
	free(url);
	free(purl);
}

static void test_bridge_poll_reports_extra_fds(void **state)
{
	struct ts_server *s = ts_start(0, 0);
	char *url = tb_url(s, "/mcp");
	struct bridge *b;
	struct pollfd pfd;
	struct diag d;
	int fds[2];
	int64_t t0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	b = tb_open(url, BRIDGE_HTTP, NULL, 0);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	t0 = tu_now_ms();
	tu_ok(bridge_poll(b, &pfd, 1, 200, &d), &d);
	assert_true(tu_now_ms() - t0 >= 190);
	assert_int_equal(pfd.revents, 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	t0 = tu_now_ms();
	tu_ok(bridge_poll(b, &pfd, 1, 2000, &d), &d);
	assert_true(tu_now_ms() - t0 < 1000);
	assert_true(pfd.revents & POLLIN);
	close(fds[1]);
	assert_int_equal(read(fds[0], &t0, 1), 1);
	tu_ok(bridge_poll(b, &pfd, 1, 2000, &d), &d);
	assert_true(pfd.revents & POLLHUP);
	close(fds[0]);
	bridge_free(b);
	ts_stop(s);
	ts_free(s);
	free(url);
}

/* A server context with a leaf of ca for the given SubjectAltName. */
static SSL_CTX *tb_tls_ctx(struct crypto_rng *rng, const struct tu_cred *ca,
                           const char *san)
{
	const char *const sans[] = {san};
	struct tu_cred leaf;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *bc, *bk;
	X509 *cert;
	EVP_PKEY *key;

	assert_non_null(ctx);
	tu_cred_leaf(rng, &leaf, ca, san, CRYPTO_PURPOSE_SERVER, sans, 1);
	bc = BIO_new_mem_buf(leaf.cert_pem, (int)leaf.cert_len);
	bk = BIO_new_mem_buf(leaf.key_pem, (int)leaf.key_len);
	cert = PEM_read_bio_X509(bc, NULL, NULL, NULL);
	key = PEM_read_bio_PrivateKey(bk, NULL, NULL, NULL);
	assert_non_null(cert);
	assert_non_null(key);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(cert);
	EVP_PKEY_free(key);
	BIO_free(bc);
	BIO_free(bk);
	tu_cred_free(&leaf);
	return ctx;
}

/* Opens an https bridge to s (with ca_file, or the system store when
 * NULL), sends a ping and returns the one message it gets. */
static char *tb_tls_ping(const struct ts_server *s, const char *ca_file)
{
	struct buf u = BUF_INIT;
	struct bridge_config cfg = {.transport = BRIDGE_HTTP,
	                            .connect_timeout_ms = 2000,
	                            .ca_file = ca_file,
	                            .log = tb_on_log,
	                            .log_ctx = &tb_logs};
	struct bridge *b = NULL;
	struct diag d;
	char *m;

	assert_int_equal(buf_printf(&u, "https://127.0.0.1:%d/mcp", s->port),
	                 0);
	cfg.url = u.data;
	tu_ok(bridge_open(&cfg, &b, &d), &d);
	tb_send(b, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
	m = tb_recv(b);
	bridge_free(b);
	buf_free(&u);
	return m;
}

static void test_bridge_https_verifies_peer_and_name(void **state)
{
	struct crypto_rng *rng = NULL;
	struct tu_cred ca;
	struct ts_server *good = ts_start(0, 0), *wrong = ts_start(0, 0);
	struct diag d;
	char *dir = tu_mkdtemp(), *ca_path = tu_path(dir, "ca.pem"), *m;

	(void)state;
	tu_ok(crypto_rng_new("test_bridge", &rng, &d), &d);
	tu_cred_ca(rng, &ca, "Bridge Test CA");
	tu_write(ca_path, ca.cert_pem, ca.cert_len);
	good->tls = tb_tls_ctx(rng, &ca, "127.0.0.1");
	wrong->tls = tb_tls_ctx(rng, &ca, "elsewhere.example");
	/* The test CA given: the answer comes through. */
	m = tb_tls_ping(good, ca_path);
	if (strstr(m, "\"result\":{}") == NULL)
		fail_msg("got %s", m);
	free(m);
	/* The system store does not know the test CA. */
	m = tb_tls_ping(good, NULL);
	if (strstr(m, "\"id\":3") == NULL || strstr(m, "\"error\"") == NULL ||
	    strstr(m, "certificate") == NULL)
		fail_msg("got %s", m);
	free(m);
	/* A certificate for another name is refused, CA or not. */
	m = tb_tls_ping(wrong, ca_path);
	if (strstr(m, "\"id\":3") == NULL || strstr(m, "\"error\"") == NULL ||
	    strstr(m, "127.0.0.1") == NULL)
		fail_msg("got %s", m);
	free(m);
	ts_stop(good);
	ts_stop(wrong);
	assert_int_equal(good->nreq, 1);
	assert_int_equal(wrong->nreq, 0);
	ts_free(good);
	ts_free(wrong);
	tu_cred_free(&ca);
	crypto_rng_free(rng);
	tu_rmtree(dir);
	free(dir);
	free(ca_path);
}

static void test_bridge_open_refuses_bad_config(void **state)
{
	struct bridge_config cfg = {.url = "ftp://127.0.0.1/x"};
	struct kvlist h = {0};
	struct bridge *b = NULL;
	struct diag d;

	(void)state;
	assert_int_equal(bridge_open(&cfg, &b, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "ftp://"));
	cfg.url = "not a url";
	assert_int_equal(bridge_open(&cfg, &b, &d), -ERR_INVALID);
	cfg.url = "http://127.0.0.1:1/mcp";
	assert_int_equal(kvlist_push(&h, "X-Bad", "a\r\nInjected: 1"), 0);
	cfg.headers = &h;
	assert_int_equal(bridge_open(&cfg, &b, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "X-Bad"));
	assert_null(b);
	kvlist_clear(&h);
	bridge_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_bridge_http_session, tb_setup),
	    cmocka_unit_test_setup(test_bridge_http_failures_answer_requests,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_http_connection_refused,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_http_session_expired, tb_setup),
	    cmocka_unit_test_setup(test_bridge_http_get_405_logged_once,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_http_oversized_answers,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_sse_legacy, tb_setup),
	    cmocka_unit_test_setup(test_bridge_sse_foreign_endpoint_refused,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_proxy_and_no_proxy, tb_setup),
	    cmocka_unit_test_setup(test_bridge_poll_reports_extra_fds,
	                           tb_setup),
	    cmocka_unit_test_setup(test_bridge_https_verifies_peer_and_name,
	                           tb_setup),
	    cmocka_unit_test(test_bridge_open_refuses_bad_config),
	};
	const char *const proxies[] = {
	    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
	    "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
	size_t i;
	int r;

	/* The suite talks to loopback only: no proxy from the environment. */
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(kvlist_push(&tb_headers, "X-Fleet-Token", "secret-1"),
	                 0);
	assert_int_equal(kvlist_push(&tb_headers, "X-Other", "two"), 0);
	assert_int_equal(kvlist_push(&tb_headers, "Accept", "text/plain"), 0);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	kvlist_clear(&tb_headers);
	buf_free(&tb_logs.b);
	return r;
}
