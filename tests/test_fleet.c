/* SPDX-License-Identifier: MIT */
/* The control plane end to end: the real mcpfleetd on loopback with a
 * temporary data directory, driven over its admin API and by small test
 * agents that enroll, connect with their certificates and verify every
 * envelope they are sent. */
#define _GNU_SOURCE /* strcasestr */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "crypto.h"
#include "devsecret.h"
#include "envelope.h"
#include "err.h"
#include "hub.h"
#include "live.h"
#include "mcpfleet.pb-c.h"
#include "netclient.h"
#include "token.h"

#define TF_WAIT_MS           10000
#define TF_ENROLL_ANSWER_MAX (1024 * 1024) /* an EnrollResponse, bytes */

static char *tf_daemon; /* path of mcpfleetd, from argv[1] */

struct tf_fixture {
	struct crypto_rng *rng;
	char *dir;
	char *data;
	char *log;
	pid_t pid;
	int agent_port;
	int api_port;
	char token[TOKEN_MAX + 1];
	char *ca_pem;
	size_t ca_len;
	char pin[7 + CRYPTO_HEX_LEN + 1];
};

static struct tf_fixture *tf_fx;

static int tf_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Runs argv, its stdout into out (size bytes, NUL-terminated). Returns the
 * exit status. */
static int tf_run(char *const argv[], char *out, size_t size)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (got + 1 < size &&
	       (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void tf_start(struct tf_fixture *f)
{
	char ap[16], pp[16];
	char serve[] = "serve", data[] = "--data", agent[] = "--agent-port",
	     api[] = "--api-port", v[] = "-v";
	char *argv[] = {tf_daemon, serve, data, f->data, agent,
	                ap,        api,   pp,   v,       NULL};
	int fd;

	snprintf(ap, sizeof(ap), "%d", f->agent_port);
	snprintf(pp, sizeof(pp), "%d", f->api_port);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
}

static void tf_stop(struct tf_fixture *f)
{
	int status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	f->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- The admin API ---- */

/* One API call: returns the status, *out the parsed JSON answer (may be
 * NULL). */
/* An API call as the fixture's owner: its status, and its body in *text
 * (the caller frees it; "" for none) when text is not NULL. */
static int tf_api_text(const char *method, const char *path, const char *body,
                       char **text)
{
	struct tf_fixture *f = tf_fx;
	char url[256], auth[TOKEN_MAX + 16];
	struct netclient_header headers[] = {
	    {"Authorization", auth},
	    {"Content-Type", "application/json"},
	};
	struct netclient_request req = {
	    .method = method,
	    .url = url,
	    .headers = headers,
	    .nheaders = 2,
	    .body = body,
	    .body_len = body != NULL ? strlen(body) : 0,
	    .ca_pem = f->ca_pem,
	    .ca_len = f->ca_len,
	    .timeout_ms = TF_WAIT_MS,
	};
	struct netclient_response resp = {0};
	enum netclient_fail fail;
	struct diag d;
	int status;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", f->api_port, path);
	snprintf(auth, sizeof(auth), "Bearer %s", f->token);
	if (netclient_https(&req, &resp, &fail, &d) != 0)
		fail_msg("%s %s: %s", method, path, d.msg);
	status = resp.status;
	if (text != NULL) {
		*text = strdup(resp.body != NULL ? resp.body : "");
		assert_non_null(*text);
	}
	netclient_response_free(&resp);
	return status;
}

/* An API call whose answer is JSON, in *out (NULL: not read). */
static int tf_api(const char *method, const char *path, const char *body,
                  json_t **out)
{
	char *text = NULL;
	int status =
	    tf_api_text(method, path, body, out != NULL ? &text : NULL);

	if (out != NULL) {
		*out = json_loads(text, 0, NULL);
		if (*out == NULL)
			fail_msg("%s %s: %d, not JSON: %s", method, path,
			         status, text);
	}
	free(text);
	return status;
}

/* An API call that must answer want. */
static void tf_ok(int want, const char *method, const char *path,
                  const char *body)
{
	json_t *j = NULL;
	int status = tf_api(method, path, body, &j);

	if (status != want) {
		char *s = json_dumps(j, 0);

		fail_msg("%s %s: want %d, got %d: %s", method, path, want,
		         status, s != NULL ? s : "?");
	}
	json_decref(j);
}

/* Creates an enrollment token for user; returns the token (static). */
static const char *tf_token(const char *user, int ttl, int uses)
{
	static char token[TOKEN_MAX + 1];
	struct token_link_parts parts;
	char body[256];
	json_t *j = NULL;
	struct diag d;

	snprintf(body, sizeof(body),
	         "{\"user\": \"%s\", \"ttl\": %d, \"uses\": %d}", user, ttl,
	         uses);
	assert_int_equal(tf_api("POST", "/api/v1/tokens", body, &j), 201);
	if (token_link_parse(json_string_value(json_object_get(j, "link")),
	                     &parts, &d) != 0)
		fail_msg("link: %s", d.msg);
	assert_int_equal(parts.port, tf_fx->api_port);
	assert_string_equal(parts.pin, tf_fx->pin);
	memcpy(token, parts.token, sizeof(token));
	json_decref(j);
	return token;
}

/* ---- A small agent ---- */

struct tf_agent {
	struct crypto_key *key;
	char *key_pem;
	size_t key_len;
	char *cert_pem;
	size_t cert_len;
	char device_id[64];
	char user[128];
	struct crypto_key *signer;
	struct netclient_ws *ws;
	uint64_t applied;
	uint8_t data_key[DEVSECRET_KEY_LEN]; /* from the server's DeviceKey */
	bool have_key;
	uint64_t leaves; /* the leaf count of the last envelope's revision */
	unsigned replica_frames; /* Replicas frames seen */
	char replica[64];        /* the first address of the last one */
	uint32_t respread_ms;    /* and its respread advice */
};

static void tf_agent_free(struct tf_agent *a)
{
	netclient_ws_free(a->ws);
	crypto_key_free(a->key);
	crypto_key_free(a->signer);
	crypto_secret_free(a->key_pem, a->key_len);
	free(a->cert_pem);
	memset(a, 0, sizeof(*a));
}

/* Enrolls with token; returns the HTTP status and, on 200, fills a. The
 * body of a refusal goes to why. */
/* A new key for a, and the packed EnrollRequest for it (*body, caller
 * frees). */
static void tf_enroll_request(struct tf_agent *a, const char *token,
                              uint8_t **body, size_t *len)
{
	struct tf_fixture *f = tf_fx;
	Mcpfleet__V1__EnrollRequest req;
	Mcpfleet__V1__DeviceFacts facts;
	char *csr = NULL;
	size_t csrlen;
	struct diag d;

	memset(a, 0, sizeof(*a));
	/* The generated INIT macros cast away const; the functions do not. */
	mcpfleet__v1__enroll_request__init(&req);
	mcpfleet__v1__device_facts__init(&facts);
	assert_int_equal(crypto_key_generate(f->rng, &a->key, &d), 0);
	assert_int_equal(
	    crypto_key_write_private(a->key, &a->key_pem, &a->key_len, &d), 0);
	assert_int_equal(
	    crypto_csr_create(f->rng, a->key, "ignored", &csr, &csrlen, &d), 0);
	facts.hostname = "testhost";
	facts.os = "linux";
	req.token = (char *)(uintptr_t)token;
	req.csr_pem.data = (uint8_t *)csr;
	req.csr_pem.len = csrlen;
	req.facts = &facts;
	*len = mcpfleet__v1__enroll_request__get_packed_size(&req);
	*body = malloc(*len);
	assert_non_null(*body);
	mcpfleet__v1__enroll_request__pack(&req, *body);
	free(csr);
}

/* POST /v1/enroll. Returns 0 with *resp, or -1 with d saying why. Asserts
 * nothing: child processes call it. */
static int tf_enroll_post(const uint8_t *body, size_t len,
                          struct netclient_response *resp, struct diag *d)
{
	struct tf_fixture *f = tf_fx;
	enum netclient_fail fail;
	char url[128];
	struct netclient_request r = {
	    .method = "POST",
	    .url = url,
	    .body = body,
	    .body_len = len,
	    .pin = f->pin,
	    .timeout_ms = TF_WAIT_MS,
	};

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/enroll",
	         f->api_port);
	memset(resp, 0, sizeof(*resp));
	return netclient_https(&r, resp, &fail, d) != 0 ? -1 : 0;
}

/* Takes the answer to a's enrollment (resp, which it frees); returns its
 * status, and why when it is not 200. */
static int tf_enroll_answer(struct tf_agent *a, struct netclient_response *resp,
                            char *why, size_t whysize)
{
	char addr[64];
	struct tf_fixture *f = tf_fx;
	Mcpfleet__V1__EnrollResponse *er;
	struct crypto_cert_info info;
	struct crypto_key *pub = NULL;
	struct netclient_response r = *resp;
	struct diag d;
	int status;

	status = r.status;
	if (status != 200) {
		snprintf(why, whysize, "%s", r.body != NULL ? r.body : "");
		netclient_response_free(&r);
		tf_agent_free(a);
		return status;
	}
	er = mcpfleet__v1__enroll_response__unpack(NULL, r.len,
	                                           (uint8_t *)r.body);
	assert_non_null(er);
	/* The certificate is for our key, chains to the pinned CA, and is
	 * named after the device id the server chose. */
	assert_int_equal(crypto_cert_pin_check((char *)er->ca_pem.data,
	                                       er->ca_pem.len, f->pin, &d),
	                 0);
	assert_int_equal(
	    crypto_cert_verify((char *)er->certificate_pem.data,
	                       er->certificate_pem.len, (char *)er->ca_pem.data,
	                       er->ca_pem.len, CRYPTO_PURPOSE_CLIENT, &d),
	    0);
	assert_int_equal(crypto_cert_parse((char *)er->certificate_pem.data,
	                                   er->certificate_pem.len, &info, &pub,
	                                   &d),
	                 0);
	assert_string_equal(info.cn, er->device_id);
	crypto_key_free(pub);
	/* The replica set: this one alone, at the first name and the agent
	 * port. */
	assert_int_equal(er->n_agent_addresses, 1);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->agent_port);
	assert_string_equal(er->agent_addresses[0], addr);
	snprintf(a->device_id, sizeof(a->device_id), "%s", er->device_id);
	snprintf(a->user, sizeof(a->user), "%s", er->user);
	a->cert_pem =
	    strndup((char *)er->certificate_pem.data, er->certificate_pem.len);
	a->cert_len = er->certificate_pem.len;
	assert_int_equal(
	    crypto_key_load_public((char *)er->signer_public_pem.data,
	                           er->signer_public_pem.len, &a->signer, &d),
	    0);
	assert_int_equal((int)er->agent_port, f->agent_port);
	mcpfleet__v1__enroll_response__free_unpacked(er, NULL);
	netclient_response_free(&r);
	return 200;
}

static int tf_enroll(struct tf_agent *a, const char *token, char *why,
                     size_t whysize)
{
	struct netclient_response resp;
	struct diag d;
	uint8_t *body;
	size_t len;
	int r;

	tf_enroll_request(a, token, &body, &len);
	r = tf_enroll_post(body, len, &resp, &d);
	free(body);
	if (r != 0)
		fail_msg("enroll: %s", d.msg);
	return tf_enroll_answer(a, &resp, why, whysize);
}

static void tf_agent_enroll(struct tf_agent *a, const char *user)
{
	char why[256];
	int status = tf_enroll(a, tf_token(user, 3600, 1), why, sizeof(why));

	if (status != 200)
		fail_msg("enroll %s: %d %s", user, status, why);
}

static void tf_send_frame(struct tf_agent *a, Mcpfleet__V1__AgentFrame *fr)
{
	size_t len = mcpfleet__v1__agent_frame__get_packed_size(fr);
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	mcpfleet__v1__agent_frame__pack(fr, buf);
	assert_int_equal(netclient_ws_send(a->ws, buf, len), 0);
	free(buf);
}

/* Connects with the device certificate; returns 0 when open (and says
 * hello), or -1. */
static int tf_connect(struct tf_agent *a, const char *cert, size_t certlen,
                      const char *key, size_t keylen)
{
	struct tf_fixture *f = tf_fx;
	char url[64];
	struct netclient_ws_config cfg = {
	    .url = url,
	    .ca_pem = f->ca_pem,
	    .ca_len = f->ca_len,
	    .cert_pem = cert,
	    .cert_len = certlen,
	    .key_pem = key,
	    .key_len = keylen,
	    .connect_timeout_ms = TF_WAIT_MS,
	};
	Mcpfleet__V1__AgentFrame fr;
	Mcpfleet__V1__Hello hello;
	enum netclient_fail fail;
	struct diag d;

	mcpfleet__v1__agent_frame__init(&fr);
	mcpfleet__v1__hello__init(&hello);

	netclient_ws_free(a->ws);
	a->ws = NULL;
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", f->agent_port);
	if (netclient_ws_open(&cfg, &a->ws, &d) != 0)
		fail_msg("ws open: %s", d.msg);
	if (netclient_ws_wait_open(a->ws, TF_WAIT_MS, &fail, &d) != 0)
		return -1;
	hello.device_id = a->device_id;
	hello.applied_revision = a->applied;
	fr.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_HELLO;
	fr.hello = &hello;
	tf_send_frame(a, &fr);
	return 0;
}

static void tf_agent_connect(struct tf_agent *a)
{
	assert_int_equal(
	    tf_connect(a, a->cert_pem, a->cert_len, a->key_pem, a->key_len), 0);
}

/* s with every ${secret:NAME} filled in from the catalogue's sealed values
 * (a new string), as the agent does for a launcher. */
static char *tf_fill(const struct tf_agent *a, const Mcpfleet__V1__Catalogue *c,
                     const char *s)
{
	struct buf b = BUF_INIT;
	const char *p = s, *q, *end;
	size_t i, aadlen, ptlen;
	char aad[DEVSECRET_AAD_MAX];
	uint8_t *pt;

	while ((q = strstr(p, "${secret:")) != NULL) {
		end = strchr(q, '}');
		assert_non_null(end);
		assert_int_equal(buf_append(&b, p, (size_t)(q - p)), 0);
		for (i = 0; i < c->n_secrets; i++)
			if (strlen(c->secrets[i]->name) ==
			        (size_t)(end - q - 9) &&
			    strncmp(c->secrets[i]->name, q + 9,
			            (size_t)(end - q - 9)) == 0)
				break;
		assert_true(i < c->n_secrets);
		assert_true(a->have_key);
		assert_int_equal(
		    devsecret_aad(a->device_id, c->secrets[i]->name,
		                  c->secrets[i]->version, aad, &aadlen),
		    0);
		assert_int_equal(crypto_open(a->data_key, aad, aadlen,
		                             c->secrets[i]->sealed.data,
		                             c->secrets[i]->sealed.len, &pt,
		                             &ptlen, NULL),
		                 0);
		assert_int_equal(buf_append(&b, pt, ptlen), 0);
		crypto_secret_free(pt, ptlen);
		p = end + 1;
	}
	assert_int_equal(buf_puts(&b, p), 0);
	return buf_steal(&b, NULL);
}

/* Fills the secrets of every env, header and argument value of the
 * catalogue's servers in place, so that the tests read what a server gets. */
static void tf_fill_all(const struct tf_agent *a, Mcpfleet__V1__Catalogue *c)
{
	size_t i, k;
	char *v;

	for (i = 0; i < c->n_servers; i++) {
		Mcpfleet__V1__Server *m = c->servers[i];

		for (k = 0; k < m->n_env; k++) {
			v = tf_fill(a, c, m->env[k]->value);
			free(m->env[k]->value);
			m->env[k]->value = v;
		}
		for (k = 0; k < m->n_headers; k++) {
			v = tf_fill(a, c, m->headers[k]->value);
			free(m->headers[k]->value);
			m->headers[k]->value = v;
		}
		for (k = 0; k < m->n_args; k++) {
			v = tf_fill(a, c, m->args[k]);
			free(m->args[k]);
			m->args[k] = v;
		}
	}
}

/*
 * Waits for the next envelope and verifies it as an agent must: signature,
 * proof, user and device; a DeviceKey frame before it is kept, and the
 * catalogue's secrets are filled in with it (the envelope itself holds
 * none in clear). Returns NULL when the connection closed or nothing came
 * within ms. Caller frees with tf_opened_free().
 */
static struct envelope_opened *tf_recv(struct tf_agent *a, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	Mcpfleet__V1__ServerFrame *fr;
	struct envelope_opened *o;
	uint8_t *packed;
	size_t len, plen;
	struct diag d;
	void *data;

	for (;;) {
		if (netclient_ws_recv(a->ws, &data, &len) == 0)
			break;
		if (netclient_ws_state(a->ws) == NETCLIENT_WS_CLOSED ||
		    tu_now_ms() > deadline)
			return NULL;
		assert_int_equal(netclient_ws_service(a->ws, 20), 0);
	}
	fr = mcpfleet__v1__server_frame__unpack(NULL, len, data);
	free(data);
	assert_non_null(fr);
	if (fr->body_case == MCPFLEET__V1__SERVER_FRAME__BODY_DEVICE_KEY) {
		char id[CRYPTO_HEX_LEN + 1];

		assert_int_equal(fr->device_key->key.len, DEVSECRET_KEY_LEN);
		memcpy(a->data_key, fr->device_key->key.data,
		       DEVSECRET_KEY_LEN);
		assert_int_equal(devsecret_key_id(a->data_key, id), 0);
		assert_string_equal(id, fr->device_key->key_id);
		a->have_key = true;
		mcpfleet__v1__server_frame__free_unpacked(fr, NULL);
		return tf_recv(a, ms);
	}
	if (fr->body_case == MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS) {
		assert_int_equal(fr->replicas->n_agent_addresses, 1);
		snprintf(a->replica, sizeof(a->replica), "%s",
		         fr->replicas->agent_addresses[0]);
		a->respread_ms = fr->replicas->respread_ms;
		a->replica_frames++;
		mcpfleet__v1__server_frame__free_unpacked(fr, NULL);
		return tf_recv(a, ms);
	}
	assert_int_equal(fr->body_case,
	                 MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE);
	plen = mcpfleet__v1__signed_envelope__get_packed_size(fr->envelope);
	packed = malloc(plen + 1);
	assert_non_null(packed);
	mcpfleet__v1__signed_envelope__pack(fr->envelope, packed);
	a->leaves =
	    fr->envelope->proof != NULL ? fr->envelope->proof->leaf_count : 0;
	mcpfleet__v1__server_frame__free_unpacked(fr, NULL);
	o = calloc(1, sizeof(*o));
	assert_non_null(o);
	if (envelope_open(packed, plen, a->signer, a->user, a->device_id, o,
	                  &d) != 0)
		fail_msg("%s: envelope does not verify: %s", a->device_id,
		         d.msg);
	free(packed);
	if (o->kind == ENVELOPE_CATALOGUE) {
		assert_true(o->revision > a->applied);
		a->applied = o->revision;
		tf_fill_all(a, o->catalogue);
	}
	return o;
}

static void tf_opened_free(struct envelope_opened *o)
{
	envelope_opened_clear(o);
	free(o);
}

/* The catalogue server named name in o, or NULL. */
static const Mcpfleet__V1__Server *tf_server(const struct envelope_opened *o,
                                             const char *name)
{
	size_t i;

	for (i = 0; o->catalogue != NULL && i < o->catalogue->n_servers; i++)
		if (strcmp(o->catalogue->servers[i]->name, name) == 0)
			return o->catalogue->servers[i];
	return NULL;
}

/* Waits for a catalogue that has (want) or lacks (!want) server name. */
static struct envelope_opened *tf_wait_server(struct tf_agent *a,
                                              const char *name, bool want)
{
	int64_t deadline = tu_now_ms() + TF_WAIT_MS;
	struct envelope_opened *o;

	while (tu_now_ms() < deadline) {
		o = tf_recv(a, (int)(deadline - tu_now_ms()));
		if (o == NULL)
			break;
		if (o->kind == ENVELOPE_CATALOGUE &&
		    (tf_server(o, name) != NULL) == want)
			return o;
		tf_opened_free(o);
	}
	fail_msg("%s: no catalogue %s %s", a->device_id,
	         want ? "with" : "without", name);
	return NULL;
}

/* True when nothing arrives on a within ms. */
static bool tf_quiet(struct tf_agent *a, int ms)
{
	struct envelope_opened *o = tf_recv(a, ms);

	if (o == NULL)
		return true;
	tf_opened_free(o);
	return false;
}

static const char *tf_header(const Mcpfleet__V1__Server *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n_headers; i++)
		if (strcmp(s->headers[i]->key, k) == 0)
			return s->headers[i]->value;
	return NULL;
}

/* Sets the enrollment rate limit in mcpfleetd.conf (read at start). */
static void tf_set_enroll_rate(struct tf_fixture *f, int rate)
{
	char *path = tu_path(f->data, "mcpfleetd.conf"), *conf, *p, *e;
	char line[64];
	struct buf b = BUF_INIT;
	size_t len;

	conf = tu_read(path, &len);
	p = strstr(conf, "enroll_rate = ");
	assert_non_null(p);
	e = strchr(p, '\n');
	assert_non_null(e);
	snprintf(line, sizeof(line), "enroll_rate = %d", rate);
	assert_int_equal(buf_append(&b, conf, (size_t)(p - conf)), 0);
	assert_int_equal(buf_puts(&b, line), 0);
	assert_int_equal(buf_puts(&b, e), 0);
	tu_write(path, b.data, b.len);
	buf_free(&b);
	free(conf);
	free(path);
}

/* ---- Fixture ---- */

static void tf_wait_up(struct tf_fixture *f);

static int tf_group_setup(void **state)
{
	struct tf_fixture *f = calloc(1, sizeof(*f));
	char out[4096], *p, *e;
	char ap[16], pp[16];
	char init[] = "init", data[] = "--data", name[] = "--name",
	     ip[] = "127.0.0.1", lh[] = "localhost", agent[] = "--agent-port",
	     api[] = "--api-port", listen[] = "--listen";
	char *argv[] = {tf_daemon, init, data,  NULL, name, ip, name, lh,
	                listen,    ip,   agent, ap,   api,  pp, NULL};
	struct diag d;
	char *ca_file;

	assert_non_null(f);
	tf_fx = f;
	assert_int_equal(crypto_rng_new("test_fleet", &f->rng, &d), 0);
	f->dir = tu_mkdtemp();
	f->data = tu_path(f->dir, "data");
	f->log = tu_path(f->dir, "mcpfleetd.log");
	f->agent_port = tf_free_port();
	f->api_port = tf_free_port();
	snprintf(ap, sizeof(ap), "%d", f->agent_port);
	snprintf(pp, sizeof(pp), "%d", f->api_port);
	argv[3] = f->data;
	assert_int_equal(tf_run(argv, out, sizeof(out)), 0);
	/* The token is the line after "admin token". */
	p = strstr(out, "admin token");
	assert_non_null(p);
	p = strchr(p, '\n');
	assert_non_null(p);
	while (*p == '\n' || *p == ' ')
		p++;
	e = strchr(p, '\n');
	assert_non_null(e);
	assert_true((size_t)(e - p) < sizeof(f->token));
	memcpy(f->token, p, (size_t)(e - p));
	/* A second init refuses and changes nothing. */
	assert_int_not_equal(tf_run(argv, out, sizeof(out)), 0);
	ca_file = tu_path(f->data, "ca.crt");
	f->ca_pem = tu_read(ca_file, &f->ca_len);
	free(ca_file);
	memcpy(f->pin, "sha256:", 7);
	assert_int_equal(
	    crypto_cert_fingerprint(f->ca_pem, f->ca_len, f->pin + 7, &d), 0);
	/* The tests enroll more devices a minute than the default allows. */
	tf_set_enroll_rate(f, 1000);
	tf_start(f);
	tf_wait_up(f);
	*state = f;
	return 0;
}

/* Waits until the daemon answers /healthz. */
static void tf_wait_up(struct tf_fixture *f)
{
	int64_t deadline = tu_now_ms() + TF_WAIT_MS;
	struct diag d;

	for (;;) {
		struct netclient_response resp = {0};
		char url[64];
		struct netclient_request req = {.url = url,
		                                .ca_pem = f->ca_pem,
		                                .ca_len = f->ca_len,
		                                .timeout_ms = 1000};
		enum netclient_fail fail;

		snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz",
		         f->api_port);
		if (netclient_https(&req, &resp, &fail, &d) == 0 &&
		    resp.status == 200) {
			netclient_response_free(&resp);
			break;
		}
		netclient_response_free(&resp);
		if (tu_now_ms() > deadline)
			fail_msg("mcpfleetd did not come up: %s", d.msg);
		tu_sleep_ms(50);
	}
}

static int tf_group_teardown(void **state)
{
	struct tf_fixture *f = *state;

	tf_stop(f);
	if (getenv("TF_KEEP") == NULL)
		tu_rmtree(f->dir);
	else
		fprintf(stderr, "kept %s\n", f->dir);
	free(f->dir);
	free(f->data);
	free(f->log);
	free(f->ca_pem);
	crypto_rng_free(f->rng);
	free(f);
	tf_fx = NULL;
	return 0;
}

/* ---- Tests ---- */

static void test_fleet_enroll_tokens(void **state)
{
	struct tf_agent a;
	char why[256], tok[TOKEN_MAX + 1];
	json_t *j = NULL;
	int id;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"erin\"}");
	/* A good token enrolls once, and only once. */
	snprintf(tok, sizeof(tok), "%s", tf_token("erin", 3600, 1));
	assert_int_equal(tf_enroll(&a, tok, why, sizeof(why)), 200);
	assert_string_equal(a.user, "erin");
	assert_int_equal(strncmp(a.device_id, "dev-", 4), 0);
	tf_agent_free(&a);
	assert_int_equal(tf_enroll(&a, tok, why, sizeof(why)), 403);
	assert_non_null(strstr(why, "used"));
	/* Unknown and revoked tokens. */
	assert_int_equal(tf_enroll(&a, "AAAAnotatokenAAAA", why, sizeof(why)),
	                 403);
	snprintf(tok, sizeof(tok), "%s", tf_token("erin", 3600, 1));
	assert_int_equal(tf_api("GET", "/api/v1/tokens", NULL, &j), 200);
	id = (int)json_integer_value(
	    json_object_get(json_array_get(j, json_array_size(j) - 1), "id"));
	json_decref(j);
	{
		char path[64];

		snprintf(path, sizeof(path), "/api/v1/tokens/%d", id);
		tf_ok(200, "DELETE", path, NULL);
	}
	assert_int_equal(tf_enroll(&a, tok, why, sizeof(why)), 403);
	assert_non_null(strstr(why, "revoked"));
	/* An expired token. */
	snprintf(tok, sizeof(tok), "%s", tf_token("erin", 1, 1));
	sleep(2);
	assert_int_equal(tf_enroll(&a, tok, why, sizeof(why)), 403);
	assert_non_null(strstr(why, "expired"));
}

static void test_fleet_push_on_every_change(void **state)
{
	char why[64];
	struct envelope_opened *o;
	struct tf_agent a;
	const Mcpfleet__V1__Server *s;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"alice\"}");
	tf_agent_enroll(&a, "alice");
	tf_agent_connect(&a);
	/* A new server granted to everyone. */
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"fs\", \"entry\": {\"command\": \"npx\", "
	      "\"args\": [\"-y\", \"srv\"]}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"fs\", \"everyone\": true}");
	o = tf_wait_server(&a, "fs", true);
	s = tf_server(o, "fs");
	assert_string_equal(s->command, "npx");
	tf_opened_free(o);
	/* A team grant reaches a member. */
	tf_ok(201, "POST", "/api/v1/teams", "{\"name\": \"dev\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"gh\", \"entry\": {\"url\": "
	      "\"https://gh.example/mcp\", \"headers\": {\"Authorization\": "
	      "\"Bearer ${secret:GH}\"}}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"gh\", \"team\": \"dev\", \"tools_deny\": "
	      "[\"delete_repo\"]}");
	tf_ok(201, "POST", "/api/v1/teams/dev/members",
	      "{\"user\": \"alice\"}");
	/* Granted, but its secret is missing: left out. */
	assert_true(tf_quiet(&a, 500));
	/* After its hello the agent was told (by now) the replica set: this
	 * one. */
	assert_true(a.replica_frames >= 1);
	snprintf(why, sizeof(why), "127.0.0.1:%d", tf_fx->agent_port);
	assert_string_equal(a.replica, why);
	/* With its respread advice: 2.5 ms for each agent the replica holds
	 * (this one). */
	assert_int_equal(a.respread_ms, 2);
	tf_ok(201, "PUT", "/api/v1/secrets/GH", "{\"value\": \"org-token\"}");
	o = tf_wait_server(&a, "gh", true);
	s = tf_server(o, "gh");
	assert_string_equal(tf_header(s, "Authorization"), "Bearer org-token");
	assert_int_equal(s->n_tools_deny, 1);
	assert_string_equal(s->tools_deny[0], "delete_repo");
	tf_opened_free(o);
	/* An edited server. */
	tf_ok(200, "PUT", "/api/v1/servers/fs",
	      "{\"entry\": {\"command\": \"node\"}}");
	o = tf_wait_server(&a, "fs", true);
	assert_string_equal(tf_server(o, "fs")->command, "node");
	tf_opened_free(o);
	/* Membership removed: the team's server goes. */
	tf_ok(200, "DELETE", "/api/v1/teams/dev/members/alice", NULL);
	o = tf_wait_server(&a, "gh", false);
	tf_opened_free(o);
	/* Nothing changed for alice: nothing is sent. */
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"zed\"}");
	assert_true(tf_quiet(&a, 500));
	tf_agent_free(&a);
}

static void test_fleet_secrets_stay_with_their_user(void **state)
{
	struct envelope_opened *o;
	struct tf_agent a, b;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"ann\"}");
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"ben\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"jira\", \"entry\": {\"command\": \"jira-mcp\", "
	      "\"env\": {\"JIRA_TOKEN\": \"${secret:JIRA}\"}}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"jira\", \"user\": \"ann\"}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"jira\", \"user\": \"ben\"}");
	tf_ok(201, "PUT", "/api/v1/secrets/JIRA",
	      "{\"value\": \"ann-secret\", \"user\": \"ann\"}");
	tf_ok(201, "PUT", "/api/v1/secrets/JIRA",
	      "{\"value\": \"ben-secret\", \"user\": \"ben\"}");
	tf_agent_enroll(&a, "ann");
	tf_agent_enroll(&b, "ben");
	tf_agent_connect(&a);
	tf_agent_connect(&b);
	o = tf_wait_server(&a, "jira", true);
	assert_string_equal(tf_server(o, "jira")->env[0]->value, "ann-secret");
	tf_opened_free(o);
	o = tf_wait_server(&b, "jira", true);
	assert_string_equal(tf_server(o, "jira")->env[0]->value, "ben-secret");
	tf_opened_free(o);
	/* Rotating ann's secret reaches ann only. */
	tf_ok(201, "PUT", "/api/v1/secrets/JIRA",
	      "{\"value\": \"ann-rotated\", \"user\": \"ann\"}");
	o = tf_wait_server(&a, "jira", true);
	assert_string_equal(tf_server(o, "jira")->env[0]->value, "ann-rotated");
	tf_opened_free(o);
	assert_true(tf_quiet(&b, 500));
	tf_agent_free(&a);
	tf_agent_free(&b);
}

/* Expects the revocation and then the 1008 close. */
static void tf_expect_revoked(struct tf_agent *a)
{
	struct envelope_opened *o = tf_recv(a, TF_WAIT_MS);
	int64_t deadline = tu_now_ms() + TF_WAIT_MS;
	const char *reason = NULL;
	int code = 0;

	assert_non_null(o);
	assert_int_equal(o->kind, ENVELOPE_REVOCATION);
	assert_string_equal(o->revocation->device_id, a->device_id);
	tf_opened_free(o);
	while (netclient_ws_state(a->ws) != NETCLIENT_WS_CLOSED &&
	       tu_now_ms() < deadline)
		assert_int_equal(netclient_ws_service(a->ws, 20), 0);
	assert_int_equal(netclient_ws_closed(a->ws, &code, &reason, NULL), 0);
	assert_int_equal(code, 1008);
	assert_string_equal(reason, "revoked");
}

static void test_fleet_revoke_connected_and_offline(void **state)
{
	struct tf_agent a, b;
	char path[128];
	json_t *j = NULL, *dl;
	size_t i;
	bool found = false;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"carl\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"wiki\", \"entry\": {\"command\": \"wiki\", "
	      "\"args\": [\"${secret:WIKI}\"]}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"wiki\", \"user\": \"carl\"}");
	tf_ok(201, "PUT", "/api/v1/secrets/WIKI",
	      "{\"value\": \"w1\", \"user\": \"carl\"}");
	tf_agent_enroll(&a, "carl");
	tf_agent_enroll(&b, "carl");
	tf_agent_connect(&a);
	tf_opened_free(tf_wait_server(&a, "wiki", true));
	tf_agent_connect(&b);
	tf_opened_free(tf_wait_server(&b, "wiki", true));
	/* b goes offline. */
	netclient_ws_free(b.ws);
	b.ws = NULL;
	/* Revoking a connected device: revocation, then 1008. */
	snprintf(path, sizeof(path), "/api/v1/devices/%s/revoke", a.device_id);
	tf_ok(200, "POST", path, "{\"reason\": \"laptop lost\"}");
	tf_expect_revoked(&a);
	tf_ok(409, "POST", path, NULL);
	/* It comes back: told again, never served a view. */
	tf_agent_connect(&a);
	tf_expect_revoked(&a);
	/* Offboarding carl revokes b while offline and lists what to
	 * rotate. */
	assert_int_equal(
	    tf_api("POST", "/api/v1/users/carl/offboard", "{}", &j), 200);
	dl = json_object_get(j, "deliveries");
	for (i = 0; i < json_array_size(dl); i++) {
		json_t *e = json_array_get(dl, i);

		if (strcmp(json_string_value(json_object_get(e, "secret")),
		           "WIKI") == 0)
			found = true;
	}
	assert_true(found);
	json_decref(j);
	tf_agent_connect(&b);
	tf_expect_revoked(&b);
	tf_agent_free(&a);
	tf_agent_free(&b);
}

/* The revision counter, as GET /api/v1/status has it. */
static int64_t tf_revision(void)
{
	json_t *j = NULL;
	int64_t rev;

	assert_int_equal(tf_api("GET", "/api/v1/status", NULL, &j), 200);
	rev = (int64_t)json_integer_value(json_object_get(j, "revision"));
	json_decref(j);
	return rev;
}

#define TF_ENROLL_RUN 5

/*
 * Enrollments one after another: each new device is in a revision of its
 * own at once (one revision, one leaf, however many devices there are), its
 * first envelope is its user's view, and a connected device of the same
 * user is sent nothing. A change after them still reaches every one.
 */
static void test_fleet_enroll_adds_one_revision(void **state)
{
	struct tf_agent a[TF_ENROLL_RUN];
	struct envelope_opened *o, *first = NULL;
	char why[256], tok[TOKEN_MAX + 1];
	int64_t before;
	size_t i, k;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"ivy\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"ivy-fs\", \"entry\": {\"command\": \"ivy\"}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"ivy-fs\", \"user\": \"ivy\"}");
	for (i = 0; i < TF_ENROLL_RUN; i++) {
		snprintf(tok, sizeof(tok), "%s", tf_token("ivy", 3600, 1));
		before = tf_revision();
		assert_int_equal(tf_enroll(&a[i], tok, why, sizeof(why)), 200);
		assert_int_equal(tf_revision(), before + 1);
		tf_agent_connect(&a[i]);
		o = tf_recv(&a[i], TF_WAIT_MS);
		assert_non_null(o);
		assert_int_equal(o->kind, ENVELOPE_CATALOGUE);
		assert_int_equal(o->revision, before + 1);
		/* Signed alone: not with every other device again. */
		assert_int_equal(a[i].leaves, 1);
		assert_string_equal(o->catalogue->device_id, a[i].device_id);
		assert_non_null(tf_server(o, "ivy-fs"));
		if (first == NULL) {
			first = o;
			continue;
		}
		assert_int_equal(o->catalogue->n_servers,
		                 first->catalogue->n_servers);
		for (k = 0; k < o->catalogue->n_servers; k++)
			assert_string_equal(o->catalogue->servers[k]->name,
			                    first->catalogue->servers[k]->name);
		tf_opened_free(o);
		/* The ones before it had nothing new. */
		assert_true(tf_quiet(&a[0], 100));
	}
	tf_opened_free(first);
	/* After a run of added revisions, a change builds everyone's. */
	tf_ok(200, "PUT", "/api/v1/servers/ivy-fs",
	      "{\"entry\": {\"command\": \"ivy2\"}}");
	for (i = 0; i < TF_ENROLL_RUN; i++) {
		o = tf_wait_server(&a[i], "ivy-fs", true);
		assert_string_equal(tf_server(o, "ivy-fs")->command, "ivy2");
		tf_opened_free(o);
	}
	/* And a revocation takes effect at once, as ever. */
	{
		char path[96];

		snprintf(path, sizeof(path), "/api/v1/devices/%s/revoke",
		         a[2].device_id);
		tf_ok(200, "POST", path, "{\"reason\": \"test\"}");
	}
	tf_expect_revoked(&a[2]);
	for (i = 0; i < TF_ENROLL_RUN; i++)
		tf_agent_free(&a[i]);
}

#define TF_ENROLL_BURST 6

/* One of a burst of enrollments, posted by a child process of its own
 * (the client library is not for threads), its answer through a pipe. */
struct tf_burst {
	pid_t pid;
	int fd;
	uint8_t *body;
	size_t len;
	struct netclient_response resp;
};

static void tf_burst_start(struct tf_burst *b)
{
	struct netclient_response resp;
	struct diag d;
	int fds[2];
	size_t off;
	ssize_t k;

	assert_int_equal(pipe(fds), 0);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid > 0) {
		close(fds[1]);
		b->fd = fds[0];
		return;
	}
	close(fds[0]);
	if (tf_enroll_post(b->body, b->len, &resp, &d) != 0)
		_exit(1);
	if (write(fds[1], &resp.status, sizeof(resp.status)) !=
	        (ssize_t)sizeof(resp.status) ||
	    write(fds[1], &resp.len, sizeof(resp.len)) !=
	        (ssize_t)sizeof(resp.len))
		_exit(1);
	for (off = 0; off < resp.len; off += (size_t)k)
		if ((k = write(fds[1], resp.body + off, resp.len - off)) <= 0)
			_exit(1);
	_exit(0);
}

/* Reads everything or fails the test. */
static void tf_read_all(int fd, void *buf, size_t n)
{
	size_t off;
	ssize_t k;

	for (off = 0; off < n; off += (size_t)k) {
		k = read(fd, (char *)buf + off, n - off);
		assert_true(k > 0);
	}
}

static void tf_burst_finish(struct tf_burst *b)
{
	int status;

	memset(&b->resp, 0, sizeof(b->resp));
	tf_read_all(b->fd, &b->resp.status, sizeof(b->resp.status));
	tf_read_all(b->fd, &b->resp.len, sizeof(b->resp.len));
	assert_true(b->resp.len < TF_ENROLL_ANSWER_MAX);
	b->resp.body = malloc(b->resp.len + 1);
	assert_non_null(b->resp.body);
	tf_read_all(b->fd, b->resp.body, b->resp.len);
	b->resp.body[b->resp.len] = '\0';
	close(b->fd);
	assert_int_equal(waitpid(b->pid, &status, 0), b->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Enrollments at once: every new device gets its own user's view as its
 * first envelope, and those that queued together share a revision (never
 * more revisions than enrollments).
 */
/* Queues the agent's sync report: it applied revision (sent by the
 * client's service loop). */
static void tf_report_queue(struct tf_agent *a, uint64_t revision)
{
	Mcpfleet__V1__AgentFrame fr;
	Mcpfleet__V1__SyncReport rep;

	mcpfleet__v1__agent_frame__init(&fr);
	mcpfleet__v1__sync_report__init(&rep);
	rep.revision = revision;
	rep.synced_at = time(NULL);
	fr.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_REPORT;
	fr.report = &rep;
	tf_send_frame(a, &fr);
	a->applied = revision;
}

/* The agent's sync report, sent. */
static void tf_report(struct tf_agent *a, uint64_t revision)
{
	tf_report_queue(a, revision);
	for (int64_t until = tu_now_ms() + 300; tu_now_ms() < until;)
		assert_int_equal(netclient_ws_service(a->ws, 20), 0);
}

static void test_fleet_enroll_burst_shares_revisions(void **state)
{
	struct tf_burst b[TF_ENROLL_BURST];
	struct tf_agent a[TF_ENROLL_BURST];
	struct envelope_opened *o;
	char why[256], tok[TOKEN_MAX + 1];
	uint64_t rev[TF_ENROLL_BURST];
	int64_t before, after;
	size_t i;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"jay\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"jay-fs\", \"entry\": {\"command\": \"jay\"}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"jay-fs\", \"user\": \"jay\"}");
	snprintf(tok, sizeof(tok), "%s",
	         tf_token("jay", 3600, TF_ENROLL_BURST));
	memset(b, 0, sizeof(b));
	for (i = 0; i < TF_ENROLL_BURST; i++)
		tf_enroll_request(&a[i], tok, &b[i].body, &b[i].len);
	before = tf_revision();
	for (i = 0; i < TF_ENROLL_BURST; i++)
		tf_burst_start(&b[i]);
	for (i = 0; i < TF_ENROLL_BURST; i++) {
		tf_burst_finish(&b[i]);
		free(b[i].body);
	}
	for (i = 0; i < TF_ENROLL_BURST; i++)
		if (tf_enroll_answer(&a[i], &b[i].resp, why, sizeof(why)) !=
		    200)
			fail_msg("enroll %zu: %s", i, why);
	after = tf_revision();
	print_message("%d enrollments at once: %lld revision(s)\n",
	              TF_ENROLL_BURST, (long long)(after - before));
	assert_true(after > before);
	assert_true(after <= before + TF_ENROLL_BURST);
	for (i = 0; i < TF_ENROLL_BURST; i++) {
		tf_agent_connect(&a[i]);
		o = tf_recv(&a[i], TF_WAIT_MS);
		assert_non_null(o);
		assert_int_equal(o->kind, ENVELOPE_CATALOGUE);
		assert_true((int64_t)o->revision > before);
		assert_string_equal(o->catalogue->device_id, a[i].device_id);
		assert_string_equal(o->catalogue->user, "jay");
		assert_non_null(tf_server(o, "jay-fs"));
		assert_true(a[i].leaves >= 1 && a[i].leaves <= TF_ENROLL_BURST);
		rev[i] = o->revision;
		tf_opened_free(o);
	}
	/* Their reports at once (the core stores a run of them in one
	 * transaction): each device has its applied revision. */
	for (i = 0; i < TF_ENROLL_BURST; i++)
		tf_report_queue(&a[i], rev[i]);
	for (int64_t until = tu_now_ms() + 300; tu_now_ms() < until;)
		for (i = 0; i < TF_ENROLL_BURST; i++)
			assert_int_equal(netclient_ws_service(a[i].ws, 5), 0);
	for (i = 0; i < TF_ENROLL_BURST; i++) {
		char path[96];
		json_t *j;

		snprintf(path, sizeof(path), "/api/v1/devices/%s",
		         a[i].device_id);
		for (int64_t until = tu_now_ms() + TF_WAIT_MS;;
		     (void)poll(NULL, 0, 20)) {
			assert_int_equal(tf_api("GET", path, NULL, &j), 200);
			after = (int64_t)json_integer_value(
			    json_object_get(j, "applied_revision"));
			json_decref(j);
			if (after == (int64_t)rev[i])
				break;
			if (tu_now_ms() > until)
				fail_msg("%s: applied %lld, not %llu",
				         a[i].device_id, (long long)after,
				         (unsigned long long)rev[i]);
		}
	}
	for (i = 0; i < TF_ENROLL_BURST; i++)
		tf_agent_free(&a[i]);
}

static void test_fleet_refuses_strangers(void **state)
{
	struct tf_fixture *f = *state;
	struct crypto_key *cakey = NULL, *key = NULL;
	char *capem = NULL, *pem = NULL, *keypem = NULL;
	size_t calen, len, keylen;
	struct crypto_ca_req careq = {.cn = "Foreign", .years = 1};
	struct crypto_cert_req req = {.cn = "dev-000000000000000000000000",
	                              .days = 1,
	                              .purpose = CRYPTO_PURPOSE_CLIENT};
	struct tf_agent a;
	struct sockaddr_in sa;
	char buf[256];
	struct diag d;
	ssize_t n;
	int fd;

	/* A certificate from another CA. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(crypto_key_generate(f->rng, &cakey, &d), 0);
	assert_int_equal(
	    crypto_ca_create(f->rng, cakey, &careq, &capem, &calen, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &key, &d), 0);
	assert_int_equal(crypto_cert_issue(f->rng, cakey, capem, calen, key,
	                                   &req, &pem, &len, NULL, &d),
	                 0);
	assert_int_equal(crypto_key_write_private(key, &keypem, &keylen, &d),
	                 0);
	snprintf(a.device_id, sizeof(a.device_id), "%s", req.cn);
	assert_int_equal(tf_connect(&a, pem, len, keypem, keylen), -1);
	netclient_ws_free(a.ws);
	/* No certificate at all: the handshake fails. */
	{
		char url[64];
		struct netclient_request r = {.url = url,
		                              .ca_pem = f->ca_pem,
		                              .ca_len = f->ca_len,
		                              .timeout_ms = TF_WAIT_MS};
		struct netclient_response resp = {0};
		enum netclient_fail fail;

		snprintf(url, sizeof(url), "https://127.0.0.1:%d/",
		         f->agent_port);
		assert_int_not_equal(netclient_https(&r, &resp, &fail, &d), 0);
		netclient_response_free(&resp);
	}
	/* Plain HTTP on the agent port gets no HTTP answer. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)f->agent_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) == 27);
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		n = 0;
		if (poll(&pfd, 1, 2000) > 0)
			n = read(fd, buf, sizeof(buf) - 1);
	}
	close(fd);
	assert_true(n <= 0 || strncmp(buf, "HTTP/", 5) != 0);
	/* A wrong admin token. */
	{
		char saved[sizeof(f->token)];

		memcpy(saved, f->token, sizeof(saved));
		snprintf(f->token, sizeof(f->token), "not-the-token");
		tf_ok(401, "GET", "/api/v1/users", NULL);
		memcpy(f->token, saved, sizeof(saved));
	}
	crypto_key_free(cakey);
	crypto_key_free(key);
	free(capem);
	free(pem);
	crypto_secret_free(keypem, keylen);
}

/* A string field with a NUL inside closes the connection (1002): the
 * device id before the NUL is the agent's own, and protobuf-c alone would
 * have let the rest go unseen. */
static void test_fleet_nul_in_frame_string_closes(void **state)
{
	Mcpfleet__V1__AgentFrame fr;
	Mcpfleet__V1__Hello hello;
	struct tf_agent a;
	char id[80];
	const char *reason = NULL;
	uint8_t *buf, *p;
	size_t len;
	int64_t deadline;
	int code = 0;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"nils\"}");
	tf_agent_enroll(&a, "nils");
	tf_agent_connect(&a);
	assert_true(snprintf(id, sizeof(id), "%s#junk", a.device_id) > 0);
	mcpfleet__v1__agent_frame__init(&fr);
	mcpfleet__v1__hello__init(&hello);
	hello.device_id = id;
	fr.body_case = MCPFLEET__V1__AGENT_FRAME__BODY_HELLO;
	fr.hello = &hello;
	len = mcpfleet__v1__agent_frame__get_packed_size(&fr);
	buf = malloc(len + 1);
	assert_non_null(buf);
	mcpfleet__v1__agent_frame__pack(&fr, buf);
	/* The marker, not a length byte that happens to be '#'. */
	for (p = buf; p + 5 <= buf + len && memcmp(p, "#junk", 5) != 0; p++)
		;
	assert_true(p + 5 <= buf + len);
	*p = '\0';
	assert_int_equal(netclient_ws_send(a.ws, buf, len), 0);
	free(buf);
	deadline = tu_now_ms() + TF_WAIT_MS;
	while (netclient_ws_state(a.ws) != NETCLIENT_WS_CLOSED &&
	       tu_now_ms() < deadline)
		assert_int_equal(netclient_ws_service(a.ws, 20), 0);
	assert_int_equal(netclient_ws_closed(a.ws, &code, &reason, NULL), 0);
	assert_int_equal(code, 1002);
	assert_non_null(reason);
	if (strstr(reason, "hello.device_id holds a NUL byte") == NULL)
		fail_msg("close reason: %s", reason);
	tf_agent_free(&a);
}

/* The real daemon over raw TLS: a method the route does not allow is 405
 * with an Allow header; one the server does not implement is 501. */
static void test_fleet_methods_405_allow_and_501(void **state)
{
	static const struct {
		const char *req;
		const char *status;
		const char *want;
	} cases[] = {
	    {"GET /v1/enroll HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405",
	     "Allow: POST\r\n"},
	    {"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405",
	     "Allow: GET, HEAD\r\n"},
	    {"POST /index.html HTTP/1.1\r\nHost: x\r\n"
	     "Content-Length: 0\r\n\r\n",
	     "HTTP/1.1 405", "Allow: GET, HEAD\r\n"},
	    {"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501",
	     "method get is not implemented"},
	    {"TRACE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501",
	     "method TRACE is not implemented"},
	    {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200", "ok"},
	};
	struct tu_tls t;
	char out[8192];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_tls_open(tf_fx->api_port, NULL, NULL, &t);
		tu_tls_write(&t, cases[i].req, strlen(cases[i].req));
		(void)tu_tls_read(&t, NULL, out, sizeof(out));
		tu_tls_close(&t);
		if (strncmp(out, cases[i].status, strlen(cases[i].status)) !=
		        0 ||
		    strstr(out, cases[i].want) == NULL)
			fail_msg("case %zu: want %s ... %s, got: %s", i,
			         cases[i].status, cases[i].want, out);
	}
}

static void test_fleet_bad_frame_closes_only_that(void **state)
{
	struct tf_agent a, b;
	int64_t deadline;
	int code = 0;

	(void)state;
	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"dora\"}");
	tf_agent_enroll(&a, "dora");
	tf_agent_enroll(&b, "dora");
	tf_agent_connect(&a);
	tf_agent_connect(&b);
	assert_int_equal(netclient_ws_send(a.ws, "\xff\xff\xff garbage", 11),
	                 0);
	deadline = tu_now_ms() + TF_WAIT_MS;
	while (netclient_ws_state(a.ws) != NETCLIENT_WS_CLOSED &&
	       tu_now_ms() < deadline)
		assert_int_equal(netclient_ws_service(a.ws, 20), 0);
	assert_int_equal(netclient_ws_closed(a.ws, &code, NULL, NULL), 0);
	assert_int_equal(code, 1002);
	/* The server and the other connection carry on. */
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"dora-srv\", \"entry\": {\"command\": \"x\"}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"dora-srv\", \"user\": \"dora\"}");
	tf_opened_free(tf_wait_server(&b, "dora-srv", true));
	tf_agent_free(&a);
	tf_agent_free(&b);
}

static void test_fleet_restart_keeps_state(void **state)
{
	struct tf_fixture *f = *state;
	struct envelope_opened *o;
	struct tf_agent a;
	json_t *j = NULL;
	int64_t deadline;

	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"fay\"}");
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"fay-srv\", \"entry\": {\"command\": \"y\"}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"fay-srv\", \"user\": \"fay\"}");
	tf_agent_enroll(&a, "fay");
	tf_agent_connect(&a);
	tf_opened_free(tf_wait_server(&a, "fay-srv", true));
	tf_stop(f);
	tf_start(f);
	/* The agent reconnects with its applied revision: it is sent the
	 * same servers under a newer revision. */
	deadline = tu_now_ms() + TF_WAIT_MS;
	while (tf_connect(&a, a.cert_pem, a.cert_len, a.key_pem, a.key_len) !=
	       0) {
		assert_true(tu_now_ms() < deadline);
		tu_sleep_ms(100);
	}
	o = tf_wait_server(&a, "fay-srv", true);
	tf_opened_free(o);
	assert_int_equal(tf_api("GET", "/api/v1/users/fay", NULL, &j), 200);
	json_decref(j);
	assert_int_equal(tf_api("GET", "/api/v1/audit/verify", NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	tf_agent_free(&a);
}

static void test_fleet_enroll_rate_limited(void **state)
{
	struct tf_fixture *f = *state;
	struct tf_agent a;
	char why[256];
	int i, status = 0;

	tf_stop(f);
	tf_set_enroll_rate(f, 3);
	tf_start(f);
	tf_wait_up(f);
	for (i = 0; i < 3; i++)
		assert_int_equal(tf_enroll(&a, "nope", why, sizeof(why)), 403);
	status = tf_enroll(&a, "nope", why, sizeof(why));
	assert_int_equal(status, 429);
	assert_non_null(strstr(why, "too many"));
}

/* What the hub keeps of a sync report: per host its status, names and the
 * warnings that make an "ok" less than plain. */
static void test_fleet_report_json_keeps_warnings(void **state)
{
	Mcpfleet__V1__SyncReport rep;
	Mcpfleet__V1__HostReport h, *hp = &h;
	char *warn[] = {"cursor: jira: tools.deny cannot be enforced",
	                "cursor: x kept as it was written"};
	char *names[] = {"jira", "x"};
	json_t *j, *host;
	char *text;

	(void)state;
	mcpfleet__v1__sync_report__init(&rep);
	mcpfleet__v1__host_report__init(&h);
	h.host = "cursor";
	h.status = MCPFLEET__V1__HOST_STATUS__HOST_STATUS_OK;
	h.managed = names;
	h.n_managed = 2;
	h.warnings = warn;
	h.n_warnings = 2;
	rep.revision = 7;
	rep.hosts = &hp;
	rep.n_hosts = 1;
	assert_non_null(text = hub_report_json(&rep));
	assert_non_null(j = json_loads(text, 0, NULL));
	host = json_array_get(json_object_get(j, "hosts"), 0);
	assert_string_equal(json_string_value(json_object_get(host, "status")),
	                    "ok");
	assert_int_equal(json_array_size(json_object_get(host, "warnings")), 2);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(host, "warnings"), 1)),
	                    warn[1]);
	json_decref(j);
	free(text);
}

/* The keepalive ping the hub hands to net: a ServerFrame with a Ping,
 * which the agent answers (test_agent). */
static void test_fleet_ping_message(void **state)
{
	uint8_t buf[NET_PING_MAX];
	Mcpfleet__V1__ServerFrame *f;
	size_t len;

	(void)state;
	len = hub_ping_message(buf);
	assert_in_range(len, 1, NET_PING_MAX);
	assert_non_null(f = mcpfleet__v1__server_frame__unpack(NULL, len, buf));
	assert_int_equal(f->body_case, MCPFLEET__V1__SERVER_FRAME__BODY_PING);
	mcpfleet__v1__server_frame__free_unpacked(f, NULL);
}

/* ---- The console's live events (GET /api/v1/events) ---- */

/* A stream being read: everything it sent so far, and how far the test
 * has looked. */
struct tf_live {
	struct tu_tls t;
	struct buf b;
	size_t pos;
	bool closed;
};

/* Opens the stream with "Authorization: Bearer token" (NULL: none) and
 * reads its answer's head; returns the status. */
static int tf_live_open_after(struct tf_live *l, const char *token,
                              const char *last_id)
{
	char req[768], *end;
	int n, status = 0;

	memset(l, 0, sizeof(*l));
	n = snprintf(req, sizeof(req),
	             "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Accept: text/event-stream\r\n%s%s%s%s%s%s\r\n",
	             token != NULL ? "Authorization: Bearer " : "",
	             token != NULL ? token : "", token != NULL ? "\r\n" : "",
	             last_id != NULL ? "Last-Event-ID: " : "",
	             last_id != NULL ? last_id : "",
	             last_id != NULL ? "\r\n" : "");
	assert_true(n > 0 && (size_t)n < sizeof(req));
	tu_tls_open(tf_fx->api_port, NULL, NULL, &l->t);
	tu_tls_write(&l->t, req, (size_t)n);
	for (int64_t deadline = tu_now_ms() + TF_WAIT_MS;
	     tu_now_ms() < deadline;) {
		char chunk[4096];
		struct pollfd pfd = {.fd = l->t.fd, .events = POLLIN};

		if (SSL_pending(l->t.ssl) == 0 && poll(&pfd, 1, 50) != 1)
			continue;
		n = SSL_read(l->t.ssl, chunk, sizeof(chunk));
		if (n <= 0) {
			l->closed = true;
			break;
		}
		assert_int_equal(buf_append(&l->b, chunk, (size_t)n), 0);
		if ((end = strstr(l->b.data, "\r\n\r\n")) != NULL) {
			l->pos = (size_t)(end + 4 - l->b.data);
			break;
		}
	}
	if (l->b.len > 0)
		sscanf(l->b.data, "HTTP/1.1 %d", &status);
	return status;
}

static int tf_live_open(struct tf_live *l, const char *token)
{
	return tf_live_open_after(l, token, NULL);
}

/* The id of the last event l received ("" for none). */
static void tf_live_last_id(const struct tf_live *l, char *out, size_t size)
{
	const char *p = l->b.data, *q, *last = NULL;

	out[0] = '\0';
	while (p != NULL && (q = strstr(p, "\nid: ")) != NULL) {
		last = q + 5;
		p = q + 1;
	}
	if (last != NULL)
		snprintf(out, size, "%.*s", (int)strcspn(last, "\n"), last);
}

static void tf_live_close(struct tf_live *l)
{
	tu_tls_close(&l->t);
	buf_free(&l->b);
}

/*
 * The next event called name whose data holds match (NULL: any) within
 * ms, as JSON (the caller frees it); NULL when none came or the stream
 * ended. Events passed over are dropped.
 */
static json_t *tf_live_next(struct tf_live *l, const char *name,
                            const char *match, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	char head[64], chunk[8192], *ev, *data, *nl;
	json_t *j;
	int n;

	snprintf(head, sizeof(head), "event: %s\ndata: ", name);
	for (;;) {
		while ((ev = strstr(l->b.data + l->pos, head)) != NULL) {
			data = ev + strlen(head);
			if ((nl = strstr(data, "\n\n")) == NULL)
				break; /* not all here yet */
			l->pos = (size_t)(nl + 2 - l->b.data);
			*nl = '\0';
			j = NULL;
			if (match == NULL || strstr(data, match) != NULL)
				j = json_loads(data, 0, NULL);
			*nl = '\n';
			if (j != NULL)
				return j;
		}
		if (l->closed || tu_now_ms() > deadline)
			return NULL;
		struct pollfd pfd = {.fd = l->t.fd, .events = POLLIN};
		if (SSL_pending(l->t.ssl) == 0 && poll(&pfd, 1, 50) != 1)
			continue;
		n = SSL_read(l->t.ssl, chunk, sizeof(chunk));
		if (n <= 0)
			l->closed = true;
		else
			assert_int_equal(buf_append(&l->b, chunk, (size_t)n),
			                 0);
	}
}

/* Whether the daemon ends the stream within ms. */
static bool tf_live_ends(struct tf_live *l, int ms)
{
	json_t *j = tf_live_next(l, "no-such-event", NULL, ms);

	json_decref(j);
	return l->closed;
}

static json_int_t tf_int(const json_t *o, const char *path)
{
	const json_t *v = o;
	char key[64];
	const char *p = path, *dot;

	while (v != NULL && *p != '\0') {
		dot = strchr(p, '.');
		snprintf(key, sizeof(key), "%.*s",
		         (int)(dot != NULL ? (size_t)(dot - p) : strlen(p)), p);
		v = json_object_get(v, key);
		p = dot != NULL ? dot + 1 : p + strlen(p);
	}
	if (!json_is_integer(v))
		fail_msg("no integer %s", path);
	return json_integer_value(v);
}

/* Waits until the daemon holds want console event streams open, as its
 * /metrics tells. */
static void tf_wait_streams(uint64_t want)
{
	static const char name[] = "\nmcpfleet_console_streams ";
	unsigned long long n = ~0ULL;
	char *text, *p;

	for (int64_t until = tu_now_ms() + TF_WAIT_MS;;
	     (void)poll(NULL, 0, 20)) {
		assert_int_equal(tf_api_text("GET", "/metrics", NULL, &text),
		                 200);
		p = strstr(text, name);
		assert_non_null(p);
		n = strtoull(p + strlen(name), NULL, 10);
		free(text);
		if (n == want)
			return;
		if (tu_now_ms() > until)
			fail_msg("%llu console streams open, not %llu", n,
			         (unsigned long long)want);
	}
}

/* Waits until the daemon counts want agents connected, serving a's
 * connection meanwhile (a NULL: none). */
static void tf_wait_connected(struct tf_agent *a, json_int_t want)
{
	json_int_t n;
	json_t *j;

	for (int64_t until = tu_now_ms() + TF_WAIT_MS;;) {
		if (a != NULL)
			assert_int_equal(netclient_ws_service(a->ws, 20), 0);
		else
			(void)poll(NULL, 0, 20);
		assert_int_equal(tf_api("GET", "/api/v1/status", NULL, &j),
		                 200);
		n = tf_int(j, "devices.connected");
		json_decref(j);
		if (n == want)
			return;
		if (tu_now_ms() > until)
			fail_msg("%lld agents connected, not %lld",
			         (long long)n, (long long)want);
	}
}

/* The live view follows an agent that enrolls, connects, is pushed a
 * server, reports it and goes: its device, the overview's counters and
 * "reached N of M" of the latest revision, as they happen. A stream
 * needs a role that reads devices, carries the catalogue's counts only
 * to one that reads the catalogue, and ends with its admin token. */
static void test_fleet_live_events(void **state)
{
	struct tf_live l, h;
	struct envelope_opened *o;
	struct tf_agent a;
	json_t *j, *tok;
	char match[128], token[TOKEN_MAX + 1], path[64], last[64];
	json_int_t connected, active, rev;

	(void)state;
	assert_int_equal(tf_live_open(&l, NULL), 401);
	tf_live_close(&l);
	assert_int_equal(tf_live_open(&l, "mft_not-a-real-token"), 401);
	tf_live_close(&l);

	assert_int_equal(tf_live_open(&l, tf_fx->token), 200);
	assert_non_null(
	    strcasestr(l.b.data, "content-type: text/event-stream"));
	/* It opens with the counters and the progress as they are. */
	assert_non_null(j = tf_live_next(&l, "overview", NULL, TF_WAIT_MS));
	connected = tf_int(j, "devices.connected");
	active = tf_int(j, "devices.active");
	assert_non_null(json_object_get(j, "servers")); /* an owner's */
	json_decref(j);
	assert_non_null(j = tf_live_next(&l, "push", NULL, TF_WAIT_MS));
	json_decref(j);

	tf_ok(201, "POST", "/api/v1/users", "{\"name\": \"lena\"}");
	tf_agent_enroll(&a, "lena");
	snprintf(match, sizeof(match), "\"id\":\"%s\"", a.device_id);
	/* Enrolled: the device, and one more active. */
	assert_non_null(j = tf_live_next(&l, "device", match, TF_WAIT_MS));
	assert_string_equal(json_string_value(json_object_get(j, "user")),
	                    "lena");
	assert_true(json_is_false(json_object_get(j, "connected")));
	json_decref(j);
	assert_non_null(j = tf_live_next(&l, "overview", NULL, TF_WAIT_MS));
	assert_int_equal(tf_int(j, "devices.active"), active + 1);
	json_decref(j);

	tf_agent_connect(&a);
	assert_non_null(j = tf_live_next(&l, "device", match, TF_WAIT_MS));
	while (!json_is_true(json_object_get(j, "connected"))) {
		json_decref(j);
		assert_non_null(
		    j = tf_live_next(&l, "device", match, TF_WAIT_MS));
	}
	json_decref(j);
	assert_non_null(j = tf_live_next(&l, "overview", NULL, TF_WAIT_MS));
	while (tf_int(j, "devices.connected") != connected + 1) {
		json_decref(j);
		assert_non_null(
		    j = tf_live_next(&l, "overview", NULL, TF_WAIT_MS));
	}
	json_decref(j);

	/* A server for everyone: a new revision, not yet reached by the
	 * agent, then reached once it reports it. */
	tf_ok(201, "POST", "/api/v1/servers",
	      "{\"name\": \"live\", \"entry\": {\"command\": \"live-mcp\"}}");
	tf_ok(201, "POST", "/api/v1/grants",
	      "{\"server\": \"live\", \"everyone\": true}");
	o = tf_wait_server(&a, "live", true);
	rev = (json_int_t)o->revision;
	tf_opened_free(o);
	snprintf(match, sizeof(match), "{\"revision\":%lld,", (long long)rev);
	assert_non_null(j = tf_live_next(&l, "push", match, TF_WAIT_MS));
	assert_true(tf_int(j, "reached") < tf_int(j, "devices"));
	json_decref(j);
	tf_report(&a, (uint64_t)rev);
	snprintf(match, sizeof(match), "\"applied_revision\":%lld",
	         (long long)rev);
	assert_non_null(j = tf_live_next(&l, "device", match, TF_WAIT_MS));
	json_decref(j);
	/* Every device with a view has it: "reached 1 of 1" in a fleet of
	 * one. */
	assert_non_null(j = tf_live_next(&l, "push", NULL, TF_WAIT_MS));
	while (tf_int(j, "reached") != tf_int(j, "devices")) {
		json_decref(j);
		assert_non_null(j = tf_live_next(&l, "push", NULL, TF_WAIT_MS));
	}
	assert_int_equal(tf_int(j, "revision"), rev);
	assert_true(tf_int(j, "devices") >= 1);
	json_decref(j);

	/* Gone: disconnected. */
	netclient_ws_free(a.ws);
	a.ws = NULL;
	snprintf(match, sizeof(match), "\"id\":\"%s\"", a.device_id);
	for (;;) {
		assert_non_null(
		    j = tf_live_next(&l, "device", match, TF_WAIT_MS));
		if (json_is_false(json_object_get(j, "connected")))
			break;
		json_decref(j);
	}
	json_decref(j);
	tf_live_last_id(&l, last, sizeof(last));
	assert_true(last[0] != '\0');
	tf_live_close(&l);

	/* With no stream open nothing is read for one (docs/design.md, "The
	 * live console"): a console back with its Last-Event-ID is told to
	 * read the device list again. */
	tf_wait_streams(0);
	/* Seen connected: the core thread has flushed the mark before it
	 * takes the stream below. */
	tf_agent_connect(&a);
	tf_wait_connected(&a, connected + 1);
	assert_int_equal(tf_live_open_after(&l, tf_fx->token, last), 200);
	assert_non_null(j = tf_live_next(&l, "devices", NULL, TF_WAIT_MS));
	json_decref(j);
	tf_live_close(&l);
	/* Gone again, as the tests after this one expect. */
	netclient_ws_free(a.ws);
	a.ws = NULL;
	tf_wait_connected(NULL, connected);

	/* A helpdesk token reads devices, not the catalogue: its overview
	 * has no catalogue counts; revoked, its stream ends. */
	assert_int_equal(tf_api("POST", "/api/v1/admin-tokens",
	                        "{\"name\": \"desk\", \"role\": \"helpdesk\"}",
	                        &tok),
	                 201);
	snprintf(token, sizeof(token), "%s",
	         json_string_value(json_object_get(tok, "token")));
	snprintf(path, sizeof(path), "/api/v1/admin-tokens/%lld",
	         (long long)tf_int(tok, "id"));
	json_decref(tok);
	assert_int_equal(tf_live_open(&h, token), 200);
	assert_non_null(j = tf_live_next(&h, "overview", NULL, TF_WAIT_MS));
	assert_null(json_object_get(j, "servers"));
	assert_non_null(json_object_get(j, "users"));
	json_decref(j);
	tf_ok(200, "DELETE", path, NULL);
	assert_true(tf_live_ends(&h, (LIVE_RECHECK_SECS + 5) * 1000));
	tf_live_close(&h);
	assert_int_equal(tf_live_open(&h, token), 401);
	tf_live_close(&h);
	tf_agent_free(&a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fleet_report_json_keeps_warnings),
	    cmocka_unit_test(test_fleet_ping_message),
	    cmocka_unit_test(test_fleet_live_events),
	    cmocka_unit_test(test_fleet_enroll_tokens),
	    cmocka_unit_test(test_fleet_push_on_every_change),
	    cmocka_unit_test(test_fleet_secrets_stay_with_their_user),
	    cmocka_unit_test(test_fleet_revoke_connected_and_offline),
	    cmocka_unit_test(test_fleet_enroll_adds_one_revision),
	    cmocka_unit_test(test_fleet_enroll_burst_shares_revisions),
	    cmocka_unit_test(test_fleet_refuses_strangers),
	    cmocka_unit_test(test_fleet_bad_frame_closes_only_that),
	    cmocka_unit_test(test_fleet_nul_in_frame_string_closes),
	    cmocka_unit_test(test_fleet_methods_405_allow_and_501),
	    cmocka_unit_test(test_fleet_restart_keeps_state),
	    cmocka_unit_test(test_fleet_enroll_rate_limited),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-MCPFLEETD\n", argv[0]);
		return 2;
	}
	tf_daemon = argv[1];
	signal(SIGPIPE, SIG_IGN);
	netclient_lws_log(0, NULL);
	if (getenv("TF_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TF_FILTER"));
	return cmocka_run_group_tests(tests, tf_group_setup, tf_group_teardown);
}
