/* SPDX-License-Identifier: MIT */
/* Tests of server/net.c and common/netclient.c over loopback: mutual TLS,
 * refusals, close codes, size caps, cross-thread sends, the API port and
 * its event streams. */
#define _GNU_SOURCE /* strcasestr */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "net.h"
#include "netclient.h"

#define TN_MAX_MESSAGE (64u * 1024)
#define TN_MAX_BODY    (256u * 1024)
#define TN_WAIT_MS     5000

enum tn_cmd { TN_CMD_NONE, TN_CMD_SEND, TN_CMD_SEND_CLOSE };

/* The fake daemon core: records what the net layer reports. */
struct tn_core {
	pthread_mutex_t mu;
	int opens;
	int closes;
	int messages;
	int wakes;
	struct net_identity id;
	int close_code;  /* of the latest opened connection */
	int conn_closes; /* closes of the latest opened connection */
	char close_reason[NET_REASON_MAX + 1];
	struct net_conn *conn; /* the latest open one */
	char reject_serial[64];
	enum tn_cmd cmd;
	char cmd_data[64];
	int cmd_code;
	char cmd_reason[64];
	char log[4096];
	bool no_echo; /* on_message only counts */
	/* /events: the net its streams are on (NULL: the group's), the id
	 * of the latest stream opened, the streams refused. */
	struct net *snet;
	uint64_t stream_id;
	int streams_refused;
};

struct tn_fixture {
	struct crypto_rng *rng;
	char *dir;
	struct tu_cred ca, server, device, foreign_ca, foreign;
	char ca_pin[CRYPTO_HEX_LEN + 8];
	char foreign_pin[CRYPTO_HEX_LEN + 8];
	char *ca_file, *device_cert_file, *device_key_file;
	struct tn_core core;
	struct net *net;
	pthread_t thread;
	int agent_port, api_port;
	unsigned ping_secs, hangup_secs; /* of nets started from here on */
	const char *ping_message;
	unsigned handshakes_max, timeout_secs; /* likewise; 0: defaults */
	unsigned max_streams, stream_heartbeat_secs, stream_max_secs;
	size_t stream_queue;
	bool verbose;
};

static struct tn_fixture *tn_fx;

static void tn_lws_emit(int level, const char *line)
{
	(void)level;
	if (tn_fx != NULL && tn_fx->verbose)
		fprintf(stderr, "lws: %s", line);
}

/* ---- The fake core ---- */

static int tn_check_cert(void *arg, const struct net_identity *id)
{
	struct tn_core *core = arg;
	int r;

	pthread_mutex_lock(&core->mu);
	r = strcmp(core->reject_serial, id->serial) == 0 ? NET_REJECT
	                                                 : NET_ACCEPT;
	pthread_mutex_unlock(&core->mu);
	return r;
}

static int tn_on_open(void *arg, struct net_conn *c,
                      const struct net_identity *id)
{
	struct tn_core *core = arg;

	pthread_mutex_lock(&core->mu);
	core->opens++;
	core->id = *id;
	core->conn = c;
	pthread_mutex_unlock(&core->mu);
	return NET_ACCEPT;
}

static void tn_on_message(void *arg, struct net_conn *c, const void *data,
                          size_t len)
{
	struct tn_core *core = arg;

	pthread_mutex_lock(&core->mu);
	core->messages++;
	pthread_mutex_unlock(&core->mu);
	/* Echo, so that the client sees the round trip. */
	if (!core->no_echo)
		assert_int_equal(net_send(c, data, len), 0);
}

static void tn_on_close(void *arg, struct net_conn *c, int code,
                        const char *reason)
{
	struct tn_core *core = arg;

	pthread_mutex_lock(&core->mu);
	core->closes++;
	/* A connection of an earlier test may close late: only the latest
	 * opened one's code is recorded. */
	if (core->conn == c) {
		core->conn_closes++;
		core->close_code = code;
		snprintf(core->close_reason, sizeof(core->close_reason), "%s",
		         reason);
		core->conn = NULL;
	}
	pthread_mutex_unlock(&core->mu);
}

/* Runs the command another thread left, on the service thread. */
static void tn_on_wake(void *arg)
{
	struct tn_core *core = arg;
	struct net_conn *c;

	pthread_mutex_lock(&core->mu);
	core->wakes++;
	c = core->conn;
	if (c != NULL && core->cmd != TN_CMD_NONE) {
		assert_int_equal(
		    net_send(c, core->cmd_data, strlen(core->cmd_data)), 0);
		if (core->cmd == TN_CMD_SEND_CLOSE)
			assert_int_equal(
			    net_close(c, core->cmd_code, core->cmd_reason), 0);
	}
	core->cmd = TN_CMD_NONE;
	pthread_mutex_unlock(&core->mu);
}

static void tn_on_log(void *arg, int level, const char *msg)
{
	struct tn_core *core = arg;
	size_t n;

	pthread_mutex_lock(&core->mu);
	n = strlen(core->log);
	if (n + strlen(msg) + 2 < sizeof(core->log))
		snprintf(core->log + n, sizeof(core->log) - n, "%s\n", msg);
	pthread_mutex_unlock(&core->mu);
	if (tn_fx != NULL && tn_fx->verbose)
		fprintf(stderr, "net[%d]: %s\n", level, msg);
}

struct tn_deferred {
	struct net *net;
	struct net_exchange *ex;
	struct net_response *resp;
};

static void *tn_defer_thread(void *p)
{
	struct tn_deferred *job = p;

	tu_sleep_ms(30);
	job->resp->status = 202;
	assert_int_equal(net_response_type(job->resp, "text/plain"), 0);
	assert_int_equal(buf_puts(&job->resp->body, "answered later"), 0);
	net_respond(job->net, job->ex);
	free(job);
	return NULL;
}

/* GET /events?mask=N&max=S: an event stream of mask N (default 1) and
 * lifetime S (default the net's) that opens
 * with a "hello" event, or a 503 when there are too many. */
static int tn_events(struct tn_core *core, const struct net_request *req,
                     struct net_response *resp)
{
	struct net_stream_opts o = {
	    .last_event_id = req->last_event_id,
	    .mask = 1,
	};
	const char *m = net_request_param(req, "mask");
	const char *max = net_request_param(req, "max");
	struct net *net;
	uint64_t id = 0;
	int r;

	if (m != NULL)
		o.mask = (unsigned)strtoul(m, NULL, 10);
	if (max != NULL)
		o.max_secs = (unsigned)strtoul(max, NULL, 10);
	pthread_mutex_lock(&core->mu);
	net = core->snet != NULL ? core->snet : tn_fx->net;
	pthread_mutex_unlock(&core->mu);
	r = net_response_stream(net, resp, &o, &id);
	if (r == -ERR_TOOBIG) {
		pthread_mutex_lock(&core->mu);
		core->streams_refused++;
		pthread_mutex_unlock(&core->mu);
		resp->status = 503;
		assert_int_equal(
		    buf_puts(&resp->body, "too many event streams"), 0);
		return NET_DONE;
	}
	assert_int_equal(r, 0);
	assert_int_equal(
	    net_event_append(&resp->body, NULL, "hello", "{\"n\":1}"), 0);
	pthread_mutex_lock(&core->mu);
	core->stream_id = id;
	pthread_mutex_unlock(&core->mu);
	return NET_DONE;
}

static int tn_on_request(void *arg, struct net_exchange *ex,
                         const struct net_request *req,
                         struct net_response *resp)
{
	struct tn_deferred *job;
	const char *a;
	pthread_t t;

	(void)arg;
	if (strcmp(req->path, "/echo") == 0) {
		resp->status = 200;
		assert_int_equal(
		    net_response_type(resp, "application/octet-stream"), 0);
		assert_int_equal(
		    net_response_header(resp, "Set-Cookie", "s=1; HttpOnly"),
		    0);
		/* Header injection is refused. */
		assert_int_equal(
		    net_response_header(resp, "X-Bad", "a\r\nInjected: 1"),
		    -ERR_INVALID);
		if (strcmp(req->method, "POST") == 0) {
			assert_int_equal(
			    buf_append(&resp->body, req->body, req->body_len),
			    0);
			return NET_DONE;
		}
		a = net_request_param(req, "a");
		assert_int_equal(
		    buf_printf(&resp->body, "%s %s a=%s b=%s auth=%s peer=%s",
		               req->method, req->path, a != NULL ? a : "-",
		               net_request_param(req, "b") != NULL
		                   ? net_request_param(req, "b")
		                   : "-",
		               req->authorization, req->peer),
		    0);
		return NET_DONE;
	}
	if (strcmp(req->path, "/defer") == 0) {
		job = calloc(1, sizeof(*job));
		assert_non_null(job);
		job->net = tn_fx->net;
		job->ex = ex;
		job->resp = resp;
		assert_int_equal(pthread_create(&t, NULL, tn_defer_thread, job),
		                 0);
		pthread_detach(t);
		return NET_DEFER;
	}
	if (strcmp(req->path, "/events") == 0)
		return tn_events(arg, req, resp);
	resp->status = 404;
	assert_int_equal(buf_puts(&resp->body, "no such page"), 0);
	return NET_DONE;
}

static void *tn_service_thread(void *p)
{
	struct tn_fixture *f = p;

	assert_int_equal(net_run(f->net), 0);
	return NULL;
}

/* Waits until *counter (read under the core's lock) reaches want. */
static bool tn_wait_count(struct tn_fixture *f, const int *counter, int want)
{
	int64_t deadline = tu_now_ms() + TN_WAIT_MS;
	int v;

	for (;;) {
		pthread_mutex_lock(&f->core.mu);
		v = *counter;
		pthread_mutex_unlock(&f->core.mu);
		if (v >= want)
			return true;
		if (tu_now_ms() > deadline)
			return false;
		tu_sleep_ms(2);
	}
}

/* Waits for the latest opened connection to close; returns its close code
 * and copies its reason (the asserts run with the lock released). */
static int tn_wait_conn_close(struct tn_fixture *f, int before, char *reason,
                              size_t size)
{
	int code;

	assert_true(tn_wait_count(f, &f->core.conn_closes, before + 1));
	pthread_mutex_lock(&f->core.mu);
	code = f->core.close_code;
	snprintf(reason, size, "%s", f->core.close_reason);
	pthread_mutex_unlock(&f->core.mu);
	return code;
}

static int tn_get(struct tn_fixture *f, const int *counter)
{
	int v;

	pthread_mutex_lock(&f->core.mu);
	v = *counter;
	pthread_mutex_unlock(&f->core.mu);
	return v;
}

/* ---- Credentials ---- */

static struct net *tn_start_net(struct tn_fixture *f, const char *addr,
                                struct diag *d)
{
	struct net_config cfg = {
	    .address = addr,
	    .ca_pem = f->ca.cert_pem,
	    .ca_len = f->ca.cert_len,
	    .cert_pem = f->server.cert_pem,
	    .cert_len = f->server.cert_len,
	    .key_pem = f->server.key_pem,
	    .key_len = f->server.key_len,
	    .max_message = TN_MAX_MESSAGE,
	    .max_body = TN_MAX_BODY,
	    .timeout_secs = f->timeout_secs != 0 ? f->timeout_secs : 5,
	    .handshakes_max = f->handshakes_max,
	    .ping_secs = f->ping_secs,
	    .hangup_secs = f->hangup_secs,
	    .ping_message = f->ping_message,
	    .ping_len = f->ping_message != NULL ? strlen(f->ping_message) : 0,
	    .max_streams = f->max_streams,
	    .stream_queue = f->stream_queue,
	    .stream_heartbeat_secs = f->stream_heartbeat_secs,
	    .stream_max_secs = f->stream_max_secs,
	};
	struct net_callbacks cb = {
	    .arg = &f->core,
	    .check_cert = tn_check_cert,
	    .on_open = tn_on_open,
	    .on_message = tn_on_message,
	    .on_close = tn_on_close,
	    .on_wake = tn_on_wake,
	    .on_request = tn_on_request,
	    .on_log = tn_on_log,
	};
	struct net *net = NULL;

	if (net_create(&cfg, &cb, &net, d) != 0)
		return NULL;
	return net;
}

static int tn_group_setup(void **state)
{
	static const char *const san[] = {"localhost", "127.0.0.1", "::1"};
	struct tn_fixture *f = calloc(1, sizeof(*f));
	struct diag d;
	int64_t t0;

	if (f == NULL)
		return -1;
	tn_fx = f;
	f->verbose = getenv("TN_VERBOSE") != NULL;
	netclient_lws_log(f->verbose ? NETCLIENT_LOG_ERR | NETCLIENT_LOG_WARN
	                             : 0,
	                  tn_lws_emit);
	pthread_mutex_init(&f->core.mu, NULL);
	t0 = tu_now_ms();
	assert_int_equal(crypto_rng_new("test_net", &f->rng, &d), 0);
	tu_cred_ca(f->rng, &f->ca, "Fleet CA");
	tu_cred_leaf(f->rng, &f->server, &f->ca, "mcpfleetd",
	             CRYPTO_PURPOSE_SERVER, san, 3);
	tu_cred_leaf(f->rng, &f->device, &f->ca, "dev-0001",
	             CRYPTO_PURPOSE_CLIENT, NULL, 0);
	tu_cred_ca(f->rng, &f->foreign_ca, "Foreign CA");
	tu_cred_leaf(f->rng, &f->foreign, &f->foreign_ca, "dev-0001",
	             CRYPTO_PURPOSE_CLIENT, NULL, 0);
	memcpy(f->ca_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->ca.cert_pem, f->ca.cert_len,
	                                         f->ca_pin + 7, &d),
	                 0);
	memcpy(f->foreign_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->foreign_ca.cert_pem,
	                                         f->foreign_ca.cert_len,
	                                         f->foreign_pin + 7, &d),
	                 0);
	f->dir = tu_mkdtemp();
	f->ca_file = tu_path(f->dir, "ca.crt");
	f->device_cert_file = tu_path(f->dir, "device.crt");
	f->device_key_file = tu_path(f->dir, "device.key");
	tu_write(f->ca_file, f->ca.cert_pem, f->ca.cert_len);
	tu_write(f->device_cert_file, f->device.cert_pem, f->device.cert_len);
	tu_write(f->device_key_file, f->device.key_pem, f->device.key_len);

	f->net = tn_start_net(f, NULL, &d);
	if (f->net == NULL)
		fail_msg("net_create: %s", d.msg);
	f->agent_port = net_agent_port(f->net);
	f->api_port = net_api_port(f->net);
	assert_true(f->agent_port > 0 && f->api_port > 0);
	assert_int_not_equal(f->agent_port, f->api_port);
	assert_int_equal(pthread_create(&f->thread, NULL, tn_service_thread, f),
	                 0);
	if (f->verbose)
		fprintf(stderr, "setup: %lld ms, agent port %d, API port %d\n",
		        (long long)(tu_now_ms() - t0), f->agent_port,
		        f->api_port);
	*state = f;
	return 0;
}

static int tn_group_teardown(void **state)
{
	struct tn_fixture *f = *state;

	net_stop(f->net);
	pthread_join(f->thread, NULL);
	net_free(f->net);
	tu_cred_free(&f->ca);
	tu_cred_free(&f->server);
	tu_cred_free(&f->device);
	tu_cred_free(&f->foreign_ca);
	tu_cred_free(&f->foreign);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->ca_file);
	free(f->device_cert_file);
	free(f->device_key_file);
	pthread_mutex_destroy(&f->core.mu);
	free(f);
	tn_fx = NULL;
	return 0;
}

/* Each test starts with a clean record. */
static int tn_setup(void **state)
{
	struct tn_fixture *f = *state;

	pthread_mutex_lock(&f->core.mu);
	f->core.reject_serial[0] = '\0';
	f->core.cmd = TN_CMD_NONE;
	f->core.log[0] = '\0';
	pthread_mutex_unlock(&f->core.mu);
	return 0;
}

/* ---- Client helpers ---- */

/* cfg for the device's websocket to the agent port port (url: its
 * buffer, 64 bytes). */
static void tn_ws_config(const struct tn_fixture *f, int port, char *url,
                         struct netclient_ws_config *cfg)
{
	snprintf(url, 64, "wss://127.0.0.1:%d/agent", port);
	cfg->url = url;
	cfg->ca_pem = f->ca.cert_pem;
	cfg->ca_len = f->ca.cert_len;
	cfg->cert_pem = f->device.cert_pem;
	cfg->cert_len = f->device.cert_len;
	cfg->key_pem = f->device.key_pem;
	cfg->key_len = f->device.key_len;
}

static struct netclient_ws *tn_ws_open(struct tn_fixture *f,
                                       const struct tu_cred *cred)
{
	char url[64];
	struct netclient_ws_config cfg = {
	    .url = url,
	    .ca_pem = f->ca.cert_pem,
	    .ca_len = f->ca.cert_len,
	    .cert_pem = cred->cert_pem,
	    .cert_len = cred->cert_len,
	    .key_pem = cred->key_pem,
	    .key_len = cred->key_len,
	    .connect_timeout_ms = TN_WAIT_MS,
	};
	struct netclient_ws *ws = NULL;
	struct diag d;

	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/agent", f->agent_port);
	if (netclient_ws_open(&cfg, &ws, &d) != 0)
		fail_msg("netclient_ws_open: %s", d.msg);
	return ws;
}

/* Services ws until it has a message or closes; returns the message. */
static char *tn_ws_recv(struct netclient_ws *ws, size_t *len)
{
	int64_t deadline = tu_now_ms() + TN_WAIT_MS;
	void *data;

	while (tu_now_ms() < deadline) {
		if (netclient_ws_recv(ws, &data, len) == 0)
			return data;
		if (netclient_ws_state(ws) == NETCLIENT_WS_CLOSED)
			return NULL;
		assert_int_equal(netclient_ws_service(ws, 20), 0);
	}
	return NULL;
}

static bool tn_ws_wait_closed(struct netclient_ws *ws)
{
	int64_t deadline = tu_now_ms() + TN_WAIT_MS;

	while (netclient_ws_state(ws) != NETCLIENT_WS_CLOSED) {
		if (tu_now_ms() > deadline)
			return false;
		assert_int_equal(netclient_ws_service(ws, 20), 0);
	}
	return true;
}

static int tn_https(struct tn_fixture *f, const char *method, const char *path,
                    const void *body, size_t body_len, const char *ca,
                    size_t calen, const char *pin, int port,
                    struct netclient_response *resp, enum netclient_fail *fail,
                    struct diag *d)
{
	static const struct netclient_header headers[] = {
	    {"Authorization", "Bearer t0ken"},
	    {"Content-Type", "application/octet-stream"},
	};
	char url[128];
	struct netclient_request req = {
	    .method = method,
	    .url = url,
	    .headers = headers,
	    .nheaders = 2,
	    .body = body,
	    .body_len = body_len,
	    .ca_pem = ca,
	    .ca_len = calen,
	    .pin = pin,
	    .timeout_ms = TN_WAIT_MS,
	};

	(void)f;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	*fail = NETCLIENT_OK;
	return netclient_https(&req, resp, fail, d);
}

/* Sends req over a plain TCP connection and returns what comes back
 * within a second (possibly nothing). */
static size_t tn_plaintext(int port, const char *req, char *out, size_t size)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (got < size - 1 && poll(&pfd, 1, 1000) == 1) {
		n = read(fd, out + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
	return got;
}

/* openssl s_client sends a websocket upgrade; returns its output. */
static char *tn_s_client(struct tn_fixture *f, bool with_cert,
                         bool with_subprotocol)
{
	char cmd[4096], certargs[2048], req[512];
	char *reqfile, *outfile, *out;
	int w;

	reqfile = tu_path(f->dir, "upgrade.txt");
	outfile = tu_path(f->dir, "s_client.out");
	w = snprintf(
	    req, sizeof(req),
	    "GET /agent HTTP/1.1\r\nHost: localhost\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s\r\n",
	    with_subprotocol ? "Sec-WebSocket-Protocol: mcpfleet.v1\r\n" : "");
	assert_true(w > 0 && (size_t)w < sizeof(req));
	tu_write(reqfile, req, (size_t)w);
	certargs[0] = '\0';
	if (with_cert) {
		w = snprintf(certargs, sizeof(certargs), "-cert '%s' -key '%s'",
		             f->device_cert_file, f->device_key_file);
		assert_true(w > 0 && (size_t)w < sizeof(certargs));
	}
	w = snprintf(cmd, sizeof(cmd),
	             "(cat '%s'; sleep 1) | timeout 10 openssl s_client "
	             "-connect 127.0.0.1:%d -CAfile '%s' %s -quiet >'%s' 2>&1",
	             reqfile, f->agent_port, f->ca_file, certargs, outfile);
	assert_true(w > 0 && (size_t)w < sizeof(cmd));
	/* The exit status does not matter: the output says it all. */
	if (system(cmd) == -1)
		fail_msg("cannot run openssl s_client");
	out = tu_read(outfile, NULL);
	free(reqfile);
	free(outfile);
	return out;
}

/* Sends req (len bytes, NULs allowed) to the API port on a connection of
 * its own and returns the answer in out. */
static size_t tn_api_raw(struct tn_fixture *f, const void *req, size_t len,
                         char *out, size_t size)
{
	struct tu_tls t;
	size_t n;

	tu_tls_open(f->api_port, NULL, NULL, &t);
	tu_tls_write(&t, req, len);
	n = tu_tls_read(&t, NULL, out, size);
	tu_tls_close(&t);
	return n;
}

/* ---- Agent port ---- */

static void test_net_ws_good_cert_round_trip(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws *ws;
	enum netclient_fail fail;
	struct diag d;
	char *msg;
	size_t len;
	int opens = tn_get(f, &f->core.opens);
	int64_t t0 = tu_now_ms();

	ws = tn_ws_open(f, &f->device);
	if (netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d) != 0)
		fail_msg("open: %s", d.msg);
	if (f->verbose)
		fprintf(stderr, "mTLS websocket open in %lld ms\n",
		        (long long)(tu_now_ms() - t0));
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	pthread_mutex_lock(&f->core.mu);
	assert_string_equal(f->core.id.serial, f->device.info.serial);
	assert_string_equal(f->core.id.fingerprint, f->device.info.fingerprint);
	{
		/* The key id as crypto_key_id() has it: a renewal compares
		 * them (server/renew.c). */
		char kid[CRYPTO_HEX_LEN + 1];

		assert_int_equal(crypto_key_id(f->device.key, kid), 0);
		assert_string_equal(f->core.id.key_id, kid);
	}
	assert_string_equal(f->core.id.cn, "dev-0001");
	assert_string_equal(f->core.id.peer, "127.0.0.1");
	pthread_mutex_unlock(&f->core.mu);

	/* A small message and one that lws hands over in many pieces. */
	assert_int_equal(netclient_ws_send(ws, "hello", 5), 0);
	msg = tn_ws_recv(ws, &len);
	assert_non_null(msg);
	assert_int_equal(len, 5);
	assert_memory_equal(msg, "hello", 5);
	free(msg);
	{
		size_t big = TN_MAX_MESSAGE, i;
		char *p = malloc(big);

		assert_non_null(p);
		for (i = 0; i < big; i++)
			p[i] = (char)(i * 7);
		assert_int_equal(netclient_ws_send(ws, p, big), 0);
		msg = tn_ws_recv(ws, &len);
		assert_non_null(msg);
		assert_int_equal(len, big);
		assert_memory_equal(msg, p, big);
		free(msg);
		free(p);
	}
	/* A normal close from the agent reaches on_close. */
	{
		int closes = tn_get(f, &f->core.conn_closes);
		char why[NET_REASON_MAX + 1];

		assert_int_equal(netclient_ws_close(ws, 1000, "bye"), 0);
		assert_true(tn_ws_wait_closed(ws));
		assert_int_equal(
		    tn_wait_conn_close(f, closes, why, sizeof(why)), 1000);
		assert_string_equal(why, "bye");
	}
	netclient_ws_free(ws);
	assert_int_equal(net_conn_count(f->net), 0);
}

static void test_net_ws_no_client_cert_refused(void **state)
{
	struct tn_fixture *f = *state;
	int opens = tn_get(f, &f->core.opens);
	char *out;

	/* Control: the same request with the device certificate upgrades,
	 * so a refusal below is the certificate's doing. */
	out = tn_s_client(f, true, true);
	assert_non_null(strstr(out, "101 Switching Protocols"));
	free(out);
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	opens++;

	out = tn_s_client(f, false, true);
	if (f->verbose)
		fprintf(stderr, "no cert: %s\n", out);
	assert_null(strstr(out, "101 Switching"));
	assert_null(strstr(out, "HTTP/1.1"));
	free(out);

	/* A certificate but no subprotocol: no upgrade either. */
	out = tn_s_client(f, true, false);
	assert_null(strstr(out, "101 Switching"));
	free(out);
	tu_sleep_ms(50);
	assert_int_equal(tn_get(f, &f->core.opens), opens);
	/* Everything opened here has closed again. */
	assert_true(
	    tn_wait_count(f, &f->core.closes, tn_get(f, &f->core.opens)));
}

static void test_net_ws_foreign_ca_refused(void **state)
{
	struct tn_fixture *f = *state;
	int opens = tn_get(f, &f->core.opens);
	struct netclient_ws *ws;
	enum netclient_fail fail = NETCLIENT_OK;
	struct diag d;
	int code = -1;

	ws = tn_ws_open(f, &f->foreign);
	assert_int_not_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d),
	                     0);
	if (f->verbose)
		fprintf(stderr, "foreign CA: %s (%s)\n", d.msg,
		        netclient_fail_str(fail));
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_CLOSED);
	assert_int_equal(netclient_ws_closed(ws, &code, NULL, NULL), 0);
	assert_int_equal(code, 0); /* never opened */
	netclient_ws_free(ws);
	assert_int_equal(tn_get(f, &f->core.opens), opens);
	pthread_mutex_lock(&f->core.mu);
	assert_non_null(strstr(f->core.log, "refused client certificate"));
	pthread_mutex_unlock(&f->core.mu);
}

static void test_net_ws_core_rejects_serial(void **state)
{
	struct tn_fixture *f = *state;
	int opens = tn_get(f, &f->core.opens);
	struct netclient_ws *ws;
	enum netclient_fail fail = NETCLIENT_OK;
	struct diag d;

	pthread_mutex_lock(&f->core.mu);
	snprintf(f->core.reject_serial, sizeof(f->core.reject_serial), "%s",
	         f->device.info.serial);
	pthread_mutex_unlock(&f->core.mu);
	ws = tn_ws_open(f, &f->device);
	assert_int_not_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d),
	                     0);
	netclient_ws_free(ws);
	assert_int_equal(tn_get(f, &f->core.opens), opens);
	pthread_mutex_lock(&f->core.mu);
	assert_non_null(strstr(f->core.log, f->device.info.serial));
	assert_non_null(strstr(f->core.log, "not accepted"));
	f->core.reject_serial[0] = '\0';
	pthread_mutex_unlock(&f->core.mu);

	/* Accepted again as soon as the core says so. */
	ws = tn_ws_open(f, &f->device);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	netclient_ws_free(ws);
}

/* Revocation: a signed message, then close 1008 "revoked", sent from a
 * core thread through net_wake(). */
static void test_net_ws_revoked_close_1008(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws *ws;
	enum netclient_fail fail;
	struct diag d;
	const char *reason = NULL;
	char *msg;
	size_t len;
	int code = 0, opens = tn_get(f, &f->core.opens), closes;
	char why[NET_REASON_MAX + 1];

	ws = tn_ws_open(f, &f->device);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	/* Counted from here: an earlier test's connection may close late. */
	closes = tn_get(f, &f->core.conn_closes);
	pthread_mutex_lock(&f->core.mu);
	f->core.cmd = TN_CMD_SEND_CLOSE;
	snprintf(f->core.cmd_data, sizeof(f->core.cmd_data), "revocation");
	f->core.cmd_code = NET_CLOSE_POLICY;
	snprintf(f->core.cmd_reason, sizeof(f->core.cmd_reason), "revoked");
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);

	msg = tn_ws_recv(ws, &len);
	assert_non_null(msg);
	assert_memory_equal(msg, "revocation", len);
	free(msg);
	assert_true(tn_ws_wait_closed(ws));
	assert_int_equal(netclient_ws_closed(ws, &code, &reason, NULL), 0);
	assert_int_equal(code, 1008);
	assert_string_equal(reason, "revoked");
	netclient_ws_free(ws);
	assert_int_equal(tn_wait_conn_close(f, closes, why, sizeof(why)), 1008);
	assert_string_equal(why, "revoked");
}

struct tn_sender {
	struct tn_fixture *f;
	int64_t sent_at;
};

static void *tn_sender_thread(void *p)
{
	struct tn_sender *s = p;

	pthread_mutex_lock(&s->f->core.mu);
	s->f->core.cmd = TN_CMD_SEND;
	snprintf(s->f->core.cmd_data, sizeof(s->f->core.cmd_data),
	         "from another thread");
	pthread_mutex_unlock(&s->f->core.mu);
	s->sent_at = tu_now_ms();
	net_wake(s->f->net);
	return NULL;
}

static void test_net_ws_send_from_other_thread(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws *ws;
	enum netclient_fail fail;
	struct tn_sender s = {.f = f};
	struct diag d;
	pthread_t t;
	char *msg;
	size_t len;
	int opens = tn_get(f, &f->core.opens);
	int wakes;

	ws = tn_ws_open(f, &f->device);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	wakes = tn_get(f, &f->core.wakes);
	assert_int_equal(pthread_create(&t, NULL, tn_sender_thread, &s), 0);
	msg = tn_ws_recv(ws, &len);
	pthread_join(t, NULL);
	assert_non_null(msg);
	assert_int_equal(len, strlen("from another thread"));
	assert_memory_equal(msg, "from another thread", len);
	if (f->verbose)
		fprintf(stderr, "net_wake to client receipt: %lld ms\n",
		        (long long)(tu_now_ms() - s.sent_at));
	free(msg);
	/* on_wake ran once for this wake, not for lws' spurious ones. */
	assert_int_equal(tn_get(f, &f->core.wakes), wakes + 1);
	netclient_ws_free(ws);
}

static void test_net_ws_oversized_message_closes_only_that(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws *ws, *other;
	enum netclient_fail fail;
	struct diag d;
	const char *reason = NULL;
	char *big, *msg;
	size_t len;
	int code = 0, closes;
	char why[NET_REASON_MAX + 1];
	bool logged;

	other = tn_ws_open(f, &f->device);
	assert_int_equal(netclient_ws_wait_open(other, TN_WAIT_MS, &fail, &d),
	                 0);
	ws = tn_ws_open(f, &f->device);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	closes = tn_get(f, &f->core.conn_closes);

	big = calloc(1, TN_MAX_MESSAGE + 1);
	assert_non_null(big);
	assert_int_equal(netclient_ws_send(ws, big, TN_MAX_MESSAGE + 1), 0);
	free(big);
	assert_true(tn_ws_wait_closed(ws));
	assert_int_equal(netclient_ws_closed(ws, &code, &reason, NULL), 0);
	assert_int_equal(code, 1009);
	assert_non_null(strstr(reason, "message over"));
	netclient_ws_free(ws);
	assert_int_equal(tn_wait_conn_close(f, closes, why, sizeof(why)), 1009);
	pthread_mutex_lock(&f->core.mu);
	logged = strstr(f->core.log, "closed 1009") != NULL;
	pthread_mutex_unlock(&f->core.mu);
	assert_true(logged);

	/* The other connection is still served. */
	assert_int_equal(netclient_ws_send(other, "still", 5), 0);
	msg = tn_ws_recv(other, &len);
	assert_non_null(msg);
	assert_memory_equal(msg, "still", 5);
	free(msg);
	netclient_ws_free(other);
}

/* G4: both ports refuse to talk plain HTTP. */
static void test_net_plaintext_refused(void **state)
{
	struct tn_fixture *f = *state;
	char out[512];
	size_t n;

	n = tn_plaintext(f->agent_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	                 out, sizeof(out));
	assert_true(n == 0 || strncmp(out, "HTTP/", 5) != 0);
	n = tn_plaintext(f->api_port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
	                 out, sizeof(out));
	assert_true(n == 0 || strncmp(out, "HTTP/", 5) != 0);
}

/* RFC 6455 5.1: the server MUST close on an unmasked client frame; lws
 * 4.1.6 alone would take it. A raw TLS client sends one. */
static void test_net_ws_unmasked_frame_closes_1002(void **state)
{
	static const char upgrade[] =
	    "GET /agent HTTP/1.1\r\nHost: localhost\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: mcpfleet.v1\r\n\r\n";
	/* A masked frame first (key 0: the payload as is), then the same
	 * unmasked. */
	static const unsigned char masked[] = {0x82, 0x83, 0,   0,  0,
	                                       0,    'o',  'k', '!'};
	static const unsigned char unmasked[] = {0x82, 0x03, 'a', 'b', 'c'};
	struct tn_fixture *f = *state;
	struct tu_tls t;
	char out[4096], reason[NET_REASON_MAX + 1];
	const unsigned char *p;
	size_t n;
	int closes = tn_get(f, &f->core.conn_closes);
	int messages;

	tu_tls_open(f->agent_port, f->device_cert_file, f->device_key_file, &t);
	tu_tls_write(&t, upgrade, sizeof(upgrade) - 1);
	n = tu_tls_read(&t, "\r\n\r\n", out, sizeof(out));
	if (strncmp(out, "HTTP/1.1 101", 12) != 0)
		fail_msg("upgrade: %.*s", (int)n, out);
	messages = tn_get(f, &f->core.messages);
	tu_tls_write(&t, masked, sizeof(masked));
	assert_true(tn_wait_count(f, &f->core.messages, messages + 1));
	messages++;
	tu_tls_write(&t, unmasked, sizeof(unmasked));
	/* The close frame: FIN + close, then 1002 and the reason. */
	n = tu_tls_read(&t, "unmasked", out, sizeof(out));
	/* Past the echo of the first message: short unmasked frames. */
	p = (const unsigned char *)out;
	while (p + 2 <= (const unsigned char *)out + n && p[0] != 0x88 &&
	       p[1] < 126)
		p += 2 + p[1];
	if (p + 4 > (const unsigned char *)out + n || p[0] != 0x88 ||
	    p[2] != 0x03 || p[3] != 0xea)
		fail_msg("no close 1002 in %zu bytes", n);
	assert_true(tu_has(out, n, "unmasked client frame"));
	tu_tls_close(&t);
	assert_int_equal(tn_wait_conn_close(f, closes, reason, sizeof(reason)),
	                 NET_CLOSE_PROTOCOL);
	assert_non_null(strstr(reason, "unmasked"));
	/* Its payload never reached the core. */
	assert_int_equal(tn_get(f, &f->core.messages), messages);

	/* An unmasked ping never reaches net_conn_receive(): the keepalive
	 * sweep closes the connection within a second or so. */
	closes = tn_get(f, &f->core.conn_closes);
	tu_tls_open(f->agent_port, f->device_cert_file, f->device_key_file, &t);
	tu_tls_write(&t, upgrade, sizeof(upgrade) - 1);
	n = tu_tls_read(&t, "\r\n\r\n", out, sizeof(out));
	if (strncmp(out, "HTTP/1.1 101", 12) != 0)
		fail_msg("upgrade: %.*s", (int)n, out);
	tu_tls_write(&t, "\x89\x01p", 3);
	n = tu_tls_read(&t, "unmasked", out, sizeof(out));
	assert_true(tu_has(out, n, "unmasked client frame (opcode 9)"));
	tu_tls_close(&t);
	assert_int_equal(tn_wait_conn_close(f, closes, reason, sizeof(reason)),
	                 NET_CLOSE_PROTOCOL);
}

/* A control byte in an upgrade header the server reads refuses the
 * upgrade: "mcpfleet.v1\0junk" is not our subprotocol. */
static void test_net_ws_control_byte_in_upgrade_refused(void **state)
{
	static const char upgrade[] =
	    "GET /agent HTTP/1.1\r\nHost: localhost\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: mcpfleet.v1\0junk\r\n\r\n";
	struct tn_fixture *f = *state;
	struct tu_tls t;
	char out[4096];
	int opens = tn_get(f, &f->core.opens);

	tu_tls_open(f->agent_port, f->device_cert_file, f->device_key_file, &t);
	tu_tls_write(&t, upgrade, sizeof(upgrade) - 1);
	(void)tu_tls_read(&t, "\r\n\r\n", out, sizeof(out));
	tu_tls_close(&t);
	if (strncmp(out, "HTTP/1.1 101", 12) == 0)
		fail_msg("upgraded: %s", out);
	assert_int_equal(tn_get(f, &f->core.opens), opens);
	pthread_mutex_lock(&f->core.mu);
	memcpy(out, f->core.log, sizeof(f->core.log));
	pthread_mutex_unlock(&f->core.mu);
	if (strstr(out, "Sec-WebSocket-Protocol holds a control") == NULL)
		fail_msg("log: %s", out);
}

/* ---- API port ---- */

static void test_net_api_get_post_round_trip(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_response resp = {0};
	enum netclient_fail fail;
	struct diag d;
	char *body;
	size_t i, n = 100000;
	int64_t t0 = tu_now_ms();

	if (tn_https(f, "GET", "/echo?a=1&b=two%20words", NULL, 0,
	             f->ca.cert_pem, f->ca.cert_len, NULL, f->api_port, &resp,
	             &fail, &d) != 0)
		fail_msg("GET: %s", d.msg);
	if (f->verbose)
		fprintf(stderr, "HTTPS GET in %lld ms\n",
		        (long long)(tu_now_ms() - t0));
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "GET /echo a=1 b=two words auth=Bearer "
	                               "t0ken peer=127.0.0.1");
	assert_int_equal(netclient_http_status(&resp, NULL, NULL), 0);
	netclient_response_free(&resp);

	body = malloc(n);
	assert_non_null(body);
	for (i = 0; i < n; i++)
		body[i] = (char)(i * 13);
	assert_int_equal(tn_https(f, "POST", "/echo", body, n, f->ca.cert_pem,
	                          f->ca.cert_len, NULL, f->api_port, &resp,
	                          &fail, &d),
	                 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.len, n);
	assert_memory_equal(resp.body, body, n);
	netclient_response_free(&resp);
	free(body);

	/* An HTTP error status is a response, judged separately. */
	assert_int_equal(tn_https(f, "GET", "/nowhere", NULL, 0, f->ca.cert_pem,
	                          f->ca.cert_len, NULL, f->api_port, &resp,
	                          &fail, &d),
	                 0);
	assert_int_equal(resp.status, 404);
	assert_int_equal(netclient_http_status(&resp, &fail, &d), -ERR_NOENT);
	assert_int_equal(fail, NETCLIENT_FAIL_HTTP);
	assert_non_null(strstr(d.msg, "404"));
	netclient_response_free(&resp);

	/* Answered from another thread. */
	assert_int_equal(tn_https(f, "GET", "/defer", NULL, 0, f->ca.cert_pem,
	                          f->ca.cert_len, NULL, f->api_port, &resp,
	                          &fail, &d),
	                 0);
	assert_int_equal(resp.status, 202);
	assert_string_equal(resp.body, "answered later");
	netclient_response_free(&resp);
}

static void test_net_api_body_too_large_413(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_response resp = {0};
	enum netclient_fail fail;
	struct diag d;
	char *body = calloc(1, TN_MAX_BODY + 1);

	assert_non_null(body);
	if (tn_https(f, "POST", "/echo", body, TN_MAX_BODY + 1, f->ca.cert_pem,
	             f->ca.cert_len, NULL, f->api_port, &resp, &fail, &d) != 0)
		fail_msg("POST: %s", d.msg);
	assert_int_equal(resp.status, 413);
	netclient_response_free(&resp);
	free(body);
	pthread_mutex_lock(&f->core.mu);
	assert_non_null(strstr(f->core.log, "refused (cap"));
	pthread_mutex_unlock(&f->core.mu);

	/* Still serving. */
	assert_int_equal(tn_https(f, "GET", "/echo", NULL, 0, f->ca.cert_pem,
	                          f->ca.cert_len, NULL, f->api_port, &resp,
	                          &fail, &d),
	                 0);
	assert_int_equal(resp.status, 200);
	netclient_response_free(&resp);
}

static void test_net_api_trust_failures_are_distinct(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_response resp = {0};
	enum netclient_fail fail;
	struct diag d;
	int r, closed_port;

	/* The pin alone is enough: the server sends its CA. */
	r = tn_https(f, "GET", "/echo", NULL, 0, NULL, 0, f->ca_pin,
	             f->api_port, &resp, &fail, &d);
	if (r != 0)
		fail_msg("pin only: %s", d.msg);
	assert_int_equal(resp.status, 200);
	netclient_response_free(&resp);
	/* CA and matching pin. */
	assert_int_equal(tn_https(f, "GET", "/echo", NULL, 0, f->ca.cert_pem,
	                          f->ca.cert_len, f->ca_pin, f->api_port, &resp,
	                          &fail, &d),
	                 0);
	netclient_response_free(&resp);

	/* A wrong pin, alone. */
	r = tn_https(f, "GET", "/echo", NULL, 0, NULL, 0, f->foreign_pin,
	             f->api_port, &resp, &fail, &d);
	assert_int_equal(r, -ERR_VERIFY);
	assert_int_equal(fail, NETCLIENT_FAIL_PIN);
	/* A wrong pin with the right CA. */
	r = tn_https(f, "GET", "/echo", NULL, 0, f->ca.cert_pem, f->ca.cert_len,
	             f->foreign_pin, f->api_port, &resp, &fail, &d);
	assert_int_equal(r, -ERR_VERIFY);
	assert_int_equal(fail, NETCLIENT_FAIL_PIN);
	/* The wrong CA. */
	r = tn_https(f, "GET", "/echo", NULL, 0, f->foreign_ca.cert_pem,
	             f->foreign_ca.cert_len, NULL, f->api_port, &resp, &fail,
	             &d);
	if (f->verbose)
		fprintf(stderr, "wrong CA: %s\n", d.msg);
	assert_int_equal(r, -ERR_VERIFY);
	assert_int_equal(fail, NETCLIENT_FAIL_TLS);
	/* The wrong CA with its own (matching) pin: still not trusted. */
	r = tn_https(f, "GET", "/echo", NULL, 0, f->foreign_ca.cert_pem,
	             f->foreign_ca.cert_len, f->foreign_pin, f->api_port, &resp,
	             &fail, &d);
	assert_int_equal(r, -ERR_VERIFY);
	assert_int_equal(fail, NETCLIENT_FAIL_TLS);

	/* Nobody listening. */
	{
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
		                 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl),
		                 0);
		closed_port = ntohs(sa.sin_port);
		close(fd);
	}
	r = tn_https(f, "GET", "/echo", NULL, 0, f->ca.cert_pem, f->ca.cert_len,
	             NULL, closed_port, &resp, &fail, &d);
	if (f->verbose)
		fprintf(stderr, "refused: %s\n", d.msg);
	assert_int_equal(r, -ERR_NETWORK);
	assert_int_equal(fail, NETCLIENT_FAIL_CONNECT);

	/* The agent port wants a client certificate. */
	r = tn_https(f, "GET", "/", NULL, 0, f->ca.cert_pem, f->ca.cert_len,
	             NULL, f->agent_port, &resp, &fail, &d);
	assert_int_not_equal(r, 0);

	/* Bad input never reaches the network. */
	r = tn_https(f, "GET", "/echo", NULL, 0, f->ca.cert_pem, f->ca.cert_len,
	             "sha256:abc", f->api_port, &resp, &fail, &d);
	assert_int_equal(r, -ERR_INVALID);
	assert_int_equal(fail, NETCLIENT_FAIL_USAGE);
}

/* A silent server: the request times out. */
/* A NUL or another control byte in a header the server reads is refused
 * (400 naming the header): C strings downstream would end at the NUL. */
static void test_net_api_control_byte_in_header_400(void **state)
{
	static const struct {
		const char *req;
		size_t len;
		const char *status;
		const char *body;
	} cases[] = {
#define TN_REQ(s) s, sizeof(s) - 1
	    {TN_REQ("GET /echo HTTP/1.1\r\nHost: localhost\r\n"
	            "Authorization: Bearer t0ken\0junk\r\n\r\n"),
	     "HTTP/1.1 400", "header Authorization holds a control character"},
	    {TN_REQ("GET /echo HTTP/1.1\r\nHost: local\0host\r\n\r\n"),
	     "HTTP/1.1 400", "header Host holds a control character"},
	    {TN_REQ("GET /echo HTTP/1.1\r\nHost: localhost\r\n"
	            "Cookie: s=abc\x01\r\n\r\n"),
	     "HTTP/1.1 400", "header Cookie holds a control character"},
	    {TN_REQ("GET /echo HTTP/1.1\r\nHost: localhost\r\n"
	            "Content-Type: text/plain\x1b[2J\r\n\r\n"),
	     "HTTP/1.1 400", "header Content-Type holds a control character"},
	    {TN_REQ("GET /echo HTTP/1.1\r\nHost: localhost\r\n"
	            "X-CSRF-Token: abc\0def\r\n\r\n"),
	     "HTTP/1.1 400", "header X-CSRF-Token holds a control character"},
	    {TN_REQ("POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	            "Content-Length: 2\0 9\r\n\r\nab"),
	     "HTTP/1.1 400", "bad Content-Length"},
	    /* HTAB is allowed in a field value (RFC 9110 5.5). */
	    {TN_REQ(
	         "GET /echo HTTP/1.1\r\nHost: localhost\r\n"
	         "Authorization: Bearer\tt0ken\r\nConnection: close\r\n\r\n"),
	     "HTTP/1.1 200", "auth=Bearer\tt0ken"},
#undef TN_REQ
	};
	struct tn_fixture *f = *state;
	char out[4096];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)tn_api_raw(f, cases[i].req, cases[i].len, out,
		                 sizeof(out));
		if (strncmp(out, cases[i].status, strlen(cases[i].status)) !=
		        0 ||
		    strstr(out, cases[i].body) == NULL)
			fail_msg("case %zu: want %s ... %s, got: %s", i,
			         cases[i].status, cases[i].body, out);
	}
}

/* RFC 9110 9.1: methods are case-sensitive; one the server does not
 * implement is 501, a malformed request line 400 (raw requests). */
static void test_net_api_methods_501_and_bad_lines_400(void **state)
{
	static const struct {
		const char *req;
		const char *status;
		const char *body;
	} cases[] = {
	    {"get /echo HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501",
	     "method get is not implemented"},
	    {"Post /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
	     "HTTP/1.1 501", "method Post is not implemented"},
	    {"FOO /echo HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501",
	     "method FOO is not implemented"},
	    {"BREW /echo HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501",
	     "method BREW is not implemented"},
	    {"G(T /echo HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
	     "malformed request line"},
	    {"GET  /echo HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
	     "malformed request line"},
	    {"GET /echo HTTP/1.1 x\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
	     "malformed request line"},
	    {"GET /echo HTTQ/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
	     "malformed request line"},
	};
	static const char pipelined[] =
	    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\n"
	    "get / HTTP/1.1\r\nX: y\r\n"
	    "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"
	    "delete /echo HTTP/1.1\r\nHost: x\r\n\r\n";
	struct tn_fixture *f = *state;
	char out[8192], *second, *third;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)tn_api_raw(f, cases[i].req, strlen(cases[i].req), out,
		                 sizeof(out));
		if (strncmp(out, cases[i].status, strlen(cases[i].status)) !=
		        0 ||
		    strstr(out, cases[i].body) == NULL)
			fail_msg("case %zu: want %s ... %s, got: %s", i,
			         cases[i].status, cases[i].body, out);
	}
	/* A body that looks like a request line is a body; the requests
	 * after it are judged in turn. */
	(void)tn_api_raw(f, pipelined, sizeof(pipelined) - 1, out, sizeof(out));
	second = strstr(out + 1, "HTTP/1.1 ");
	third = second != NULL ? strstr(second + 1, "HTTP/1.1 ") : NULL;
	if (strncmp(out, "HTTP/1.1 200", 12) != 0 || second == NULL ||
	    strncmp(second, "HTTP/1.1 200", 12) != 0 || third == NULL ||
	    strncmp(third, "HTTP/1.1 501", 12) != 0 ||
	    strstr(third, "method delete") == NULL)
		fail_msg("pipelined: %s", out);
}

static void test_net_api_timeout(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_response resp = {0};
	struct netclient_request req = {0};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	enum netclient_fail fail = NETCLIENT_OK;
	struct diag d;
	char url[64];
	int fd, r;
	int64_t t0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ntohs(sa.sin_port));
	req.url = url;
	req.ca_pem = f->ca.cert_pem;
	req.ca_len = f->ca.cert_len;
	req.timeout_ms = 300;
	t0 = tu_now_ms();
	r = netclient_https(&req, &resp, &fail, &d);
	assert_int_equal(r, -ERR_NETWORK);
	assert_int_equal(fail, NETCLIENT_FAIL_TIMEOUT);
	assert_true(tu_now_ms() - t0 < 2000);
	close(fd);
}

static void *tn_keepalive_thread(void *p)
{
	assert_int_equal(net_run(p), 0);
	return NULL;
}

/* A peer that answers pings stays past the hang-up time; one that goes
 * silent is dropped, as "connection lost". */
static void test_net_ws_keepalive(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws_config cfg = {0};
	struct netclient_ws *ws = NULL;
	enum netclient_fail fail;
	struct net *net;
	struct diag d;
	char url[64], why[NET_REASON_MAX + 1];
	int64_t until;
	int opens, closes;
	pthread_t t;

	f->ping_secs = 1;
	f->hangup_secs = 2;
	net = tn_start_net(f, NULL, &d);
	f->ping_secs = f->hangup_secs = 0;
	if (net == NULL)
		fail_msg("net_create: %s", d.msg);
	assert_int_equal(pthread_create(&t, NULL, tn_keepalive_thread, net), 0);
	tn_ws_config(f, net_agent_port(net), url, &cfg);
	opens = tn_get(f, &f->core.opens);
	assert_int_equal(netclient_ws_open(&cfg, &ws, &d), 0);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	closes = tn_get(f, &f->core.conn_closes);
	/* Serviced, it answers the pings: still open after 3.5 s. */
	until = tu_now_ms() + 3500;
	while (tu_now_ms() < until)
		assert_int_equal(netclient_ws_service(ws, 20), 0);
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_OPEN);
	assert_int_equal(tn_get(f, &f->core.conn_closes), closes);
	/* Left alone, it is hung up on within the wait. */
	assert_int_equal(tn_wait_conn_close(f, closes, why, sizeof(why)),
	                 NET_CLOSE_ABNORMAL);
	assert_string_equal(why, "connection lost");
	netclient_ws_free(ws);
	net_stop(net);
	pthread_join(t, NULL);
	net_free(net);
}

/*
 * With a ping message: a peer that keeps talking, to a server that says
 * nothing back, still gets the ping once a second (either side quiet
 * counts), and stays; left alone it is hung up on.
 */
static void test_net_ws_keepalive_message(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws_config cfg = {0};
	struct netclient_ws *ws = NULL;
	enum netclient_fail fail;
	struct net *net;
	struct diag d;
	char url[64], why[NET_REASON_MAX + 1];
	int64_t until, next = 0;
	int opens, closes, pings = 0;
	void *msg;
	size_t len;
	pthread_t t;

	f->ping_secs = 1;
	f->hangup_secs = 2;
	f->ping_message = "ping!";
	net = tn_start_net(f, NULL, &d);
	f->ping_secs = f->hangup_secs = 0;
	f->ping_message = NULL;
	if (net == NULL)
		fail_msg("net_create: %s", d.msg);
	assert_int_equal(pthread_create(&t, NULL, tn_keepalive_thread, net), 0);
	tn_ws_config(f, net_agent_port(net), url, &cfg);
	pthread_mutex_lock(&f->core.mu);
	f->core.no_echo = true;
	pthread_mutex_unlock(&f->core.mu);
	opens = tn_get(f, &f->core.opens);
	assert_int_equal(netclient_ws_open(&cfg, &ws, &d), 0);
	assert_int_equal(netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d), 0);
	assert_true(tn_wait_count(f, &f->core.opens, opens + 1));
	closes = tn_get(f, &f->core.conn_closes);
	until = tu_now_ms() + 3500;
	while (tu_now_ms() < until) {
		if (tu_now_ms() >= next) {
			assert_int_equal(netclient_ws_send(ws, "tick", 4), 0);
			next = tu_now_ms() + 300;
		}
		assert_int_equal(netclient_ws_service(ws, 20), 0);
		while (netclient_ws_recv(ws, &msg, &len) == 0) {
			assert_int_equal(len, 5);
			assert_memory_equal(msg, "ping!", 5);
			pings++;
			free(msg);
		}
	}
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_OPEN);
	assert_int_equal(tn_get(f, &f->core.conn_closes), closes);
	assert_in_range(pings, 2, 4);
	assert_int_equal(tn_wait_conn_close(f, closes, why, sizeof(why)),
	                 NET_CLOSE_ABNORMAL);
	assert_string_equal(why, "connection lost");
	pthread_mutex_lock(&f->core.mu);
	f->core.no_echo = false;
	pthread_mutex_unlock(&f->core.mu);
	netclient_ws_free(ws);
	net_stop(net);
	pthread_join(t, NULL);
	net_free(net);
}

/*
 * The client's side: it pings a server that has said nothing for its ping
 * time and stays while the pongs come; a server that stops answering is
 * hung up on after the hang-up time. The server runs on this thread, so
 * that it can stop.
 */
static void test_netclient_ws_keepalive(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_ws_config cfg = {0};
	struct netclient_ws *ws = NULL;
	struct net *net;
	struct diag d;
	char url[64];
	const char *reason;
	int64_t until;
	int code;

	net = tn_start_net(f, NULL, &d);
	if (net == NULL)
		fail_msg("net_create: %s", d.msg);
	tn_ws_config(f, net_agent_port(net), url, &cfg);
	cfg.ping_secs = 1;
	cfg.hangup_secs = 2;
	assert_int_equal(netclient_ws_open(&cfg, &ws, &d), 0);
	until = tu_now_ms() + TN_WAIT_MS;
	while (netclient_ws_state(ws) == NETCLIENT_WS_CONNECTING &&
	       tu_now_ms() < until) {
		assert_int_equal(net_service_once(net, 10), 0);
		assert_int_equal(netclient_ws_service(ws, 10), 0);
	}
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_OPEN);
	/* Both serviced: the server (pinging after 60 s) answers ours. */
	until = tu_now_ms() + 3500;
	while (tu_now_ms() < until) {
		assert_int_equal(net_service_once(net, 10), 0);
		assert_int_equal(netclient_ws_service(ws, 10), 0);
	}
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_OPEN);
	/* The server stops: hung up on within its two seconds. */
	until = tu_now_ms() + 3000;
	while (netclient_ws_state(ws) == NETCLIENT_WS_OPEN &&
	       tu_now_ms() < until)
		assert_int_equal(netclient_ws_service(ws, 20), 0);
	assert_int_equal(netclient_ws_state(ws), NETCLIENT_WS_CLOSED);
	assert_int_equal(netclient_ws_closed(ws, &code, &reason, NULL), 0);
	assert_int_equal(code, 1006);
	assert_string_equal(reason, "connection lost: nothing from the server "
	                            "for too long");
	netclient_ws_free(ws);
	net_free(net);
}

static void *tn_v6_thread(void *p)
{
	assert_int_equal(net_run(p), 0);
	return NULL;
}

/* The same over IPv6 loopback, where lws 4.1.6's own host check would cut
 * "::1" at its first ':'. */
static void test_net_ipv6_loopback(void **state)
{
	struct tn_fixture *f = *state;
	struct netclient_response resp = {0};
	struct netclient_request req = {0};
	struct netclient_ws_config wcfg = {0};
	struct netclient_ws *ws = NULL;
	enum netclient_fail fail = NETCLIENT_OK;
	struct net *net6;
	struct diag d;
	char url[64], wurl[64], *msg;
	size_t len;
	pthread_t t;

	net6 = tn_start_net(f, "::1", &d);
	if (net6 == NULL) {
		fprintf(stderr, "no IPv6 loopback here (%s): skipped\n", d.msg);
		skip();
	}
	assert_int_equal(pthread_create(&t, NULL, tn_v6_thread, net6), 0);
	snprintf(url, sizeof(url), "https://[::1]:%d/echo", net_api_port(net6));
	req.url = url;
	req.pin = f->ca_pin;
	req.timeout_ms = TN_WAIT_MS;
	if (netclient_https(&req, &resp, &fail, &d) != 0)
		fail_msg("IPv6 HTTPS: %s", d.msg);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "peer=::1"));
	netclient_response_free(&resp);

	snprintf(wurl, sizeof(wurl), "wss://[::1]:%d/agent",
	         net_agent_port(net6));
	wcfg.url = wurl;
	wcfg.ca_pem = f->ca.cert_pem;
	wcfg.ca_len = f->ca.cert_len;
	wcfg.cert_pem = f->device.cert_pem;
	wcfg.cert_len = f->device.cert_len;
	wcfg.key_pem = f->device.key_pem;
	wcfg.key_len = f->device.key_len;
	assert_int_equal(netclient_ws_open(&wcfg, &ws, &d), 0);
	if (netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d) != 0)
		fail_msg("IPv6 websocket: %s", d.msg);
	assert_int_equal(netclient_ws_send(ws, "v6", 2), 0);
	msg = tn_ws_recv(ws, &len);
	assert_non_null(msg);
	assert_memory_equal(msg, "v6", 2);
	free(msg);
	netclient_ws_free(ws);

	net_stop(net6);
	pthread_join(t, NULL);
	net_free(net6);
}

static void *tn_cap_thread(void *p)
{
	assert_int_equal(net_run(p), 0);
	return NULL;
}

/* Opens a websocket to port as the test device; returns how long it took
 * to open (ms), or -1. */
static int64_t tn_ws_open_ms(struct tn_fixture *f, int port)
{
	struct netclient_ws_config cfg = {0};
	struct netclient_ws *ws = NULL;
	enum netclient_fail fail;
	struct diag d;
	char url[64];
	int64_t t0 = tu_now_ms(), ms = -1;

	tn_ws_config(f, port, url, &cfg);
	cfg.connect_timeout_ms = TN_WAIT_MS;
	if (netclient_ws_open(&cfg, &ws, &d) == 0 &&
	    netclient_ws_wait_open(ws, TN_WAIT_MS, &fail, &d) == 0)
		ms = tu_now_ms() - t0;
	netclient_ws_free(ws);
	return ms;
}

/* The agent port takes at most handshakes_max connections into their
 * handshake at a time: with two silent connections holding both places,
 * an agent waits in the backlog until the handshake timeout drops them;
 * an opened websocket or a closed connection gives its place back. */
static void test_net_ws_handshake_cap(void **state)
{
	struct tn_fixture *f = *state;
	struct sockaddr_in sa;
	struct net *net;
	struct diag d;
	int silent[2], k, port;
	int64_t ms;
	pthread_t t;

	f->handshakes_max = 2;
	f->timeout_secs = 2;
	net = tn_start_net(f, NULL, &d);
	f->handshakes_max = f->timeout_secs = 0;
	if (net == NULL)
		fail_msg("net_create: %s", d.msg);
	assert_int_equal(pthread_create(&t, NULL, tn_cap_thread, net), 0);
	port = net_agent_port(net);
	assert_true(port > 0);

	/* Places are given back: more agents than places, one by one. */
	for (k = 0; k < 5; k++) {
		ms = tn_ws_open_ms(f, port);
		assert_true(ms >= 0 && ms < 1500);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	for (k = 0; k < 2; k++) {
		silent[k] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(silent[k] >= 0);
		assert_int_equal(
		    connect(silent[k], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	tu_sleep_ms(200); /* accepted: both places taken */
	ms = tn_ws_open_ms(f, port);
	assert_true(ms >= 1000); /* waited for the 2 s timeout */
	assert_true(ms < TN_WAIT_MS);
	close(silent[0]);
	close(silent[1]);

	/* A connection closed in its handshake gives its place back. */
	for (k = 0; k < 2; k++) {
		silent[k] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(
		    connect(silent[k], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	tu_sleep_ms(200);
	close(silent[0]);
	close(silent[1]);
	tu_sleep_ms(200);
	ms = tn_ws_open_ms(f, port);
	assert_true(ms >= 0 && ms < 1000);

	net_stop(net);
	pthread_join(t, NULL);
	net_free(net);
}

/* ---- Event streams on the API port ---- */

/* Opens GET path as an event stream on port and reads until want. */
static size_t tn_stream_open(int port, const char *path, const char *last_id,
                             struct tu_tls *t, const char *want, char *out,
                             size_t size)
{
	char req[512];
	int n;

	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: localhost\r\n"
	             "Accept: text/event-stream\r\n%s%s%s\r\n",
	             path, last_id != NULL ? "Last-Event-ID: " : "",
	             last_id != NULL ? last_id : "",
	             last_id != NULL ? "\r\n" : "");
	assert_true(n > 0 && (size_t)n < sizeof(req));
	tu_tls_open(port, NULL, NULL, t);
	tu_tls_write(t, req, (size_t)n);
	return tu_tls_read(t, want, out, size);
}

/* Whether the peer closes the stream within ms (what it sends before is
 * read and dropped). */
static bool tn_stream_closes(struct tu_tls *t, int64_t ms)
{
	int64_t deadline = tu_now_ms() + ms;
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
	char b[4096];

	while (tu_now_ms() < deadline) {
		if (SSL_pending(t->ssl) == 0 && poll(&pfd, 1, 50) != 1)
			continue;
		if (SSL_read(t->ssl, b, sizeof(b)) <= 0)
			return true;
	}
	return false;
}

/* Reads from t until want (at most 200 bytes) has come, within ms;
 * what comes is dropped as it is read. */
static bool tn_stream_until(struct tu_tls *t, const char *want, int64_t ms)
{
	int64_t deadline = tu_now_ms() + ms;
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
	char b[4096 + 256];
	size_t keep = 0, wl = strlen(want);
	int n;

	while (tu_now_ms() < deadline) {
		if (SSL_pending(t->ssl) == 0 && poll(&pfd, 1, 50) != 1)
			continue;
		n = SSL_read(t->ssl, b + keep, 4096);
		if (n <= 0)
			return false;
		if (tu_has(b, keep + (size_t)n, want))
			return true;
		keep += (size_t)n;
		if (keep > wl) {
			memmove(b, b + keep - wl, wl);
			keep = wl;
		}
	}
	return false;
}

/* Waits until net has want streams open or promised. */
static bool tn_wait_streams(struct net *net, size_t want)
{
	int64_t deadline = tu_now_ms() + TN_WAIT_MS;

	while (net_stream_count(net) != want) {
		if (tu_now_ms() > deadline)
			return false;
		tu_sleep_ms(5);
	}
	return true;
}

/* A stream's answer, its opening event, events of its mask only, each
 * with an id, data split into lines; a Last-Event-ID gets what came
 * after it, a foreign one a reset. */
static void test_net_stream_events_and_replay(void **state)
{
	struct tn_fixture *f = *state;
	char out[8192], first[64];
	struct tu_tls t;
	const char *p;
	size_t n, i;

	n = tn_stream_open(f->api_port, "/events?mask=1", NULL, &t,
	                   "event: hello", out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	assert_non_null(strcasestr(out, "content-type: text/event-stream"));
	assert_null(strcasestr(out, "content-length:"));
	assert_non_null(strstr(out, "retry: 3000\n\n"));
	assert_non_null(strstr(out, "event: hello\ndata: {\"n\":1}\n\n"));

	assert_int_equal(net_stream_event(f->net, 1, "device", "{\"a\":1}"), 0);
	assert_int_equal(net_stream_event(f->net, 2, "secret", "{\"b\":2}"), 0);
	assert_int_equal(net_stream_event(f->net, 1, "device", "one\ntwo"), 0);
	n = tu_tls_read(&t, "data: two\n\n", out, sizeof(out));
	assert_true(n > 0);
	assert_null(strstr(out, "secret"));
	p = strstr(out, "id: ");
	assert_non_null(p);
	for (i = 0; p[4 + i] != '\n' && i < sizeof(first) - 1; i++)
		first[i] = p[4 + i];
	first[i] = '\0';
	assert_non_null(strchr(first, '-'));
	assert_non_null(strstr(p, "\nevent: device\ndata: {\"a\":1}\n\n"));
	assert_non_null(strstr(out, "event: device\ndata: one\ndata: two\n\n"));
	tu_tls_close(&t);

	/* Missed while away: replayed after the opening event. */
	assert_int_equal(net_stream_event(f->net, 1, "device", "missed"), 0);
	tu_sleep_ms(100);
	n = tn_stream_open(f->api_port, "/events?mask=1", first, &t,
	                   "data: missed\n\n", out, sizeof(out));
	assert_non_null(strstr(out, "data: one\ndata: two\n\n"));
	assert_null(strstr(out, "data: {\"a\":1}"));
	assert_null(strstr(out, "event: reset"));
	assert_true(strstr(out, "event: hello") < strstr(out, "data: one"));
	tu_tls_close(&t);

	/* Another daemon's id, or a number not given out yet: reset. */
	n = tn_stream_open(f->api_port, "/events", "0123abcd-7", &t,
	                   "event: hello", out, sizeof(out));
	assert_non_null(strstr(out, "event: reset\ndata: {}\n\n"));
	assert_null(strstr(out, "missed"));
	tu_tls_close(&t);
	snprintf(out, sizeof(out), "%.*s-999999",
	         (int)(strchr(first, '-') - first), first);
	n = tn_stream_open(f->api_port, "/events", out, &t, "event: hello", out,
	                   sizeof(out));
	assert_non_null(strstr(out, "event: reset"));
	tu_tls_close(&t);

	/* Bad events are refused before anything is sent. */
	assert_int_equal(net_stream_event(f->net, 1, "", "x"), -ERR_INVALID);
	assert_int_equal(net_stream_event(f->net, 1, "a b", "x"), -ERR_INVALID);
	assert_int_equal(net_stream_event(f->net, 1, "x", "a\rb"),
	                 -ERR_INVALID);
	assert_int_equal(net_stream_event(f->net, 0, "x", "y"), -ERR_INVALID);
	assert_int_equal(net_stream_end(f->net, 0), -ERR_INVALID);

	/* A client that goes, with a TLS close_notify or without, gives
	 * its place back within the sweep's second, not at the next
	 * heartbeat's failed write (20 s here). */
	assert_true(tn_wait_streams(f->net, 0));
	for (i = 0; i < 2; i++) {
		int64_t t0;

		tn_stream_open(f->api_port, "/events", NULL, &t, "event: hello",
		               out, sizeof(out));
		assert_true(tn_wait_streams(f->net, 1));
		if (i == 1)
			(void)SSL_shutdown(t.ssl);
		t0 = tu_now_ms();
		tu_tls_close(&t);
		assert_true(tn_wait_streams(f->net, 0));
		assert_true(tu_now_ms() - t0 < 2500);
	}
}

/* max_streams, then 503; a keepalive comment on a quiet stream; the end
 * of a stream at its lifetime and by net_stream_end(); a reader that
 * falls stream_queue behind is dropped, the others keep theirs. */
static void test_net_stream_limits(void **state)
{
	struct tn_fixture *f = *state;
	struct tu_tls a, b, c, slow;
	char out[8192], *big;
	struct net *net;
	struct diag d;
	uint64_t id;
	pthread_t th;
	int port, k, rcv = 4096;
	size_t n;
	int64_t t0;

	f->max_streams = 2;
	f->stream_queue = 256 * 1024;
	f->stream_heartbeat_secs = 1;
	f->stream_max_secs = 60;
	net = tn_start_net(f, NULL, &d);
	f->max_streams = f->stream_heartbeat_secs = f->stream_max_secs = 0;
	f->stream_queue = 0;
	if (net == NULL)
		fail_msg("net_create: %s", d.msg);
	assert_int_equal(pthread_create(&th, NULL, tn_cap_thread, net), 0);
	port = net_api_port(net);
	pthread_mutex_lock(&f->core.mu);
	f->core.snet = net;
	pthread_mutex_unlock(&f->core.mu);

	t0 = tu_now_ms();
	tn_stream_open(port, "/events?max=3", NULL, &a, "event: hello", out,
	               sizeof(out));
	assert_non_null(strstr(out, "event: hello"));
	tn_stream_open(port, "/events", NULL, &b, "event: hello", out,
	               sizeof(out));
	assert_non_null(strstr(out, "event: hello"));
	pthread_mutex_lock(&f->core.mu);
	id = f->core.stream_id;
	pthread_mutex_unlock(&f->core.mu);
	assert_int_equal(net_stream_count(net), 2);
	n = tn_stream_open(port, "/events", NULL, &c, "too many", out,
	                   sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "HTTP/1.1 503"));
	assert_non_null(strstr(out, "too many event streams"));
	tu_tls_close(&c);

	/* Quiet for a second: a comment. */
	n = tu_tls_read(&a, ": keepalive\n\n", out, sizeof(out));
	assert_non_null(strstr(out, ": keepalive\n\n"));
	/* Ended by the core: b goes, a stays. */
	assert_int_equal(net_stream_end(net, id), 0);
	assert_true(tn_stream_closes(&b, 2000));
	tu_tls_close(&b);
	assert_true(tn_wait_streams(net, 1));
	/* At its lifetime (3 s, shorter than the net's) a goes too, and
	 * the place is free. */
	assert_true(tn_stream_closes(&a, TN_WAIT_MS));
	assert_true(tu_now_ms() - t0 >= 2500);
	tu_tls_close(&a);
	assert_true(tn_wait_streams(net, 0));

	/* A reader that reads nothing while events are posted. */
	tu_tls_open(port, NULL, NULL, &slow);
	assert_int_equal(
	    setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	tu_tls_write(&slow, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", 34);
	tn_stream_open(port, "/events", NULL, &a, "event: hello", out,
	               sizeof(out));
	assert_true(tn_wait_streams(net, 2));
	big = malloc(32 * 1024 + 1);
	assert_non_null(big);
	memset(big, 'x', 32 * 1024);
	big[32 * 1024] = '\0';
	/* Until it is dropped: what the kernel's buffers take varies, so
	 * up to 64 MiB. */
	for (k = 0; k < 2048 && net_stream_count(net) == 2; k++) {
		char mark[32];

		snprintf(mark, sizeof(mark), "k%d", k);
		memcpy(big + 32 * 1024 - 8, mark, strlen(mark) + 1);
		assert_int_equal(net_stream_event(net, 1, "big", big), 0);
		/* a reads each as it comes. */
		snprintf(mark, sizeof(mark), "k%d\n\n", k);
		assert_true(tn_stream_until(&a, mark, TN_WAIT_MS));
	}
	free(big);
	assert_true(tn_wait_streams(net, 1));
	pthread_mutex_lock(&f->core.mu);
	assert_non_null(strstr(f->core.log, "event stream dropped"));
	pthread_mutex_unlock(&f->core.mu);
	assert_int_equal(net_stream_event(net, 1, "after", "still here"), 0);
	assert_true(tn_stream_until(&a, "data: still here\n\n", TN_WAIT_MS));
	tu_tls_close(&a);
	tu_tls_close(&slow);

	pthread_mutex_lock(&f->core.mu);
	f->core.snet = NULL;
	pthread_mutex_unlock(&f->core.mu);
	net_stop(net);
	pthread_join(th, NULL);
	net_free(net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_net_ws_good_cert_round_trip, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_no_client_cert_refused,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_ws_foreign_ca_refused, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_core_rejects_serial, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_revoked_close_1008, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_send_from_other_thread,
	                           tn_setup),
	    cmocka_unit_test_setup(
	        test_net_ws_oversized_message_closes_only_that, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_unmasked_frame_closes_1002,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_ws_control_byte_in_upgrade_refused,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_plaintext_refused, tn_setup),
	    cmocka_unit_test_setup(test_net_api_get_post_round_trip, tn_setup),
	    cmocka_unit_test_setup(test_net_api_body_too_large_413, tn_setup),
	    cmocka_unit_test_setup(test_net_api_trust_failures_are_distinct,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_api_control_byte_in_header_400,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_api_methods_501_and_bad_lines_400,
	                           tn_setup),
	    cmocka_unit_test_setup(test_net_api_timeout, tn_setup),
	    cmocka_unit_test_setup(test_net_ipv6_loopback, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_keepalive, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_keepalive_message, tn_setup),
	    cmocka_unit_test_setup(test_netclient_ws_keepalive, tn_setup),
	    cmocka_unit_test_setup(test_net_ws_handshake_cap, tn_setup),
	    cmocka_unit_test_setup(test_net_stream_events_and_replay, tn_setup),
	    cmocka_unit_test_setup(test_net_stream_limits, tn_setup),
	};

	/* The program's duty (G14): a vanished peer must not kill it. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TN_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TN_FILTER"));
	return cmocka_run_group_tests(tests, tn_group_setup, tn_group_teardown);
}
