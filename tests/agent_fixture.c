/* SPDX-License-Identifier: MIT */
/* The fixture of the agent's tests: see agent_fixture.h. */
#define _GNU_SOURCE /* memmem, pthread_tryjoin_np */
#include "agent_fixture.h"

struct ta_fixture *ta_fx;

/* ---- Credentials and envelopes ---- */

/* Issues a leaf for key (a new one when NULL) from the fleet CA. */
char *ta_issue(struct ta_fixture *f, struct crypto_key *key, const char *cn,
               enum crypto_purpose purpose, const char *const *san, size_t nsan,
               size_t *len)
{
	struct crypto_cert_req req = {.cn = cn,
	                              .org = "Test",
	                              .days = 1,
	                              .purpose = purpose,
	                              .san = san,
	                              .nsan = nsan};
	struct diag d;
	char *pem = NULL;

	if (crypto_cert_issue(f->rng, f->ca.key, f->ca.cert_pem, f->ca.cert_len,
	                      key, &req, &pem, len, NULL, &d) != 0)
		fail_msg("issue %s: %s", cn, d.msg);
	return pem;
}

/* A packed Catalogue for (user, device) at rev holding the servers of a
 * canonical catalogue document. */
uint8_t *ta_catalogue_payload(const char *user, const char *device,
                              uint64_t rev, const char *doc, size_t *len)
{
	struct catalogue_opts co = {.allow_secret_refs = true};
	struct catalogue cat = {0};
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server *m, **mp;
	struct diag d;
	uint8_t *buf;
	size_t i;

	if (catalogue_parse(doc, strlen(doc), &co, &cat, &d) != 0)
		fail_msg("catalogue: %s", d.msg);
	m = calloc(cat.n + 1, sizeof(*m));
	mp = calloc(cat.n + 1, sizeof(*mp));
	assert_non_null(m);
	assert_non_null(mp);
	for (i = 0; i < cat.n; i++) {
		assert_int_equal(
		    envelope_server_message(&cat.servers[i], &m[i]), 0);
		mp[i] = &m[i];
	}
	mcpfleet__v1__catalogue__init(&c);
	c.user = (char *)(uintptr_t)user;
	c.device_id = (char *)(uintptr_t)device;
	c.revision = rev;
	c.issued_at = (int64_t)time(NULL);
	c.n_servers = cat.n;
	c.servers = mp;
	*len = mcpfleet__v1__catalogue__get_packed_size(&c);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	mcpfleet__v1__catalogue__pack(&c, buf);
	for (i = 0; i < cat.n; i++)
		envelope_server_clear(&m[i]);
	free(m);
	free(mp);
	catalogue_clear(&cat);
	return buf;
}

uint8_t *ta_revocation_payload(const char *user, const char *device,
                               uint64_t rev, size_t *len)
{
	Mcpfleet__V1__Revocation r;
	uint8_t *buf;

	mcpfleet__v1__revocation__init(&r);
	r.user = (char *)(uintptr_t)user;
	r.device_id = (char *)(uintptr_t)device;
	r.revision = rev;
	r.revoked_at = (int64_t)time(NULL);
	r.reason = (char *)(uintptr_t) "laptop lost";
	*len = mcpfleet__v1__revocation__get_packed_size(&r);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	mcpfleet__v1__revocation__pack(&r, buf);
	return buf;
}

/*
 * Signs payload (for the device) in a revision of two leaves, the other a
 * catalogue of another device, as the server batches them; returns the
 * packed SignedEnvelope of our leaf.
 */
uint8_t *ta_sign(struct ta_fixture *f, struct crypto_key *signer,
                 enum envelope_kind kind, uint8_t *payload, size_t plen,
                 uint64_t rev, size_t *len)
{
	struct envelope_payload p[2];
	struct envelope_batch *b = NULL;
	uint8_t *other, *out = NULL;
	size_t olen;
	struct diag d;

	other = ta_catalogue_payload("bob", "dev-other", rev,
	                             "{\"version\":1,\"servers\":{}}", &olen);
	p[0].kind = ENVELOPE_CATALOGUE;
	p[0].data = other;
	p[0].len = olen;
	p[1].kind = kind;
	p[1].data = payload;
	p[1].len = plen;
	if (envelope_batch_sign(p, 2, rev, signer, f->rng, &b, &d) != 0)
		fail_msg("sign: %s", d.msg);
	assert_int_equal(envelope_batch_pack(b, 1, &out, len), 0);
	envelope_batch_free(b);
	free(other);
	free(payload);
	return out;
}

uint8_t *ta_catalogue_env(struct ta_fixture *f, const char *device,
                          uint64_t rev, const char *doc, size_t *len)
{
	size_t plen;
	uint8_t *p = ta_catalogue_payload(TA_USER, device, rev, doc, &plen);

	return ta_sign(f, f->signer, ENVELOPE_CATALOGUE, p, plen, rev, len);
}

/* Wraps a packed SignedEnvelope into a packed ServerFrame. */
uint8_t *ta_frame(const uint8_t *env, size_t len, size_t *flen)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__SignedEnvelope *e;
	uint8_t *buf;

	e = mcpfleet__v1__signed_envelope__unpack(NULL, len, env);
	assert_non_null(e);
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE;
	fr.envelope = e;
	*flen = mcpfleet__v1__server_frame__get_packed_size(&fr);
	buf = malloc(*flen);
	assert_non_null(buf);
	mcpfleet__v1__server_frame__pack(&fr, buf);
	mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
	return buf;
}

/* ---- The fake daemon ---- */

void ta_enroll_answer(struct ta_fixture *f, const struct net_request *req,
                      struct net_response *resp)
{
	Mcpfleet__V1__EnrollRequest *er;
	Mcpfleet__V1__EnrollResponse a;
	struct crypto_key *pub = NULL, *other = NULL;
	struct tu_cred *ca = &f->ca;
	char id[64], *cert = NULL, reps[2][32];
	char *repv[2] = {reps[0], reps[1]};
	const char *cn = id;
	size_t cert_len = 0, n;
	uint8_t *buf;
	int seq;

	er = mcpfleet__v1__enroll_request__unpack(NULL, req->body_len,
	                                          (const uint8_t *)req->body);
	if (er == NULL || er->facts == NULL ||
	    strcmp(er->facts->hostname, "test-host") != 0 ||
	    strcmp(er->facts->os, "linux") != 0 ||
	    crypto_csr_parse((const char *)er->csr_pem.data, er->csr_pem.len,
	                     &pub, NULL) != 0) {
		resp->status = 400;
		assert_int_equal(buf_puts(&resp->body, "malformed request"), 0);
		goto out;
	}
	if (strcmp(er->token, "usedtoken") == 0 ||
	    strcmp(er->token, "expiredtoken") == 0) {
		resp->status = 403;
		assert_int_equal(net_response_type(resp, "text/plain"), 0);
		assert_int_equal(
		    buf_puts(&resp->body, er->token[0] == 'u'
		                              ? "token already used\n"
		                              : "token expired\n"),
		    0);
		goto out;
	}
	pthread_mutex_lock(&f->core.mu);
	seq = ++f->core.device_seq;
	f->core.enrolls++;
	pthread_mutex_unlock(&f->core.mu);
	(void)snprintf(id, sizeof(id), "dev-%04d", seq);
	if (strcmp(er->token, "wrongcn") == 0)
		cn = "dev-someone-else";
	if (strcmp(er->token, "wrongkey") == 0)
		assert_int_equal(crypto_key_generate(f->rng, &other, NULL), 0);
	if (strcmp(er->token, "wrongca") == 0)
		ca = &f->foreign_ca;
	cert = ta_issue(f, other ? other : pub, cn, CRYPTO_PURPOSE_CLIENT, NULL,
	                0, &cert_len);
	mcpfleet__v1__enroll_response__init(&a);
	a.device_id = id;
	a.user = (char *)(uintptr_t)TA_USER;
	a.certificate_pem.data = (uint8_t *)cert;
	a.certificate_pem.len = cert_len;
	a.ca_pem.data = (uint8_t *)ca->cert_pem;
	a.ca_pem.len = ca->cert_len;
	a.signer_public_pem.data = (uint8_t *)f->signer_pem;
	a.signer_public_pem.len = f->signer_len;
	a.agent_port = (uint32_t)f->agent_port;
	/* "replicas": a replica set whose first address nobody listens on;
	 * "badreplicas": one that is no address. */
	if (strcmp(er->token, "replicas") == 0) {
		(void)snprintf(reps[0], sizeof(reps[0]), "127.0.0.1:%d",
		               ta_closed_port());
		(void)snprintf(reps[1], sizeof(reps[1]), "127.0.0.1:%d",
		               f->agent_port);
		a.agent_addresses = repv;
		a.n_agent_addresses = 2;
	} else if (strcmp(er->token, "badreplicas") == 0) {
		(void)snprintf(reps[0], sizeof(reps[0]), "127.0.0.1:%d",
		               f->agent_port);
		(void)snprintf(reps[1], sizeof(reps[1]), "127.0.0.1:0");
		a.agent_addresses = repv;
		a.n_agent_addresses = 2;
	}
	n = mcpfleet__v1__enroll_response__get_packed_size(&a);
	buf = malloc(n);
	assert_non_null(buf);
	mcpfleet__v1__enroll_response__pack(&a, buf);
	resp->status = 200;
	assert_int_equal(net_response_type(resp, "application/x-protobuf"), 0);
	assert_int_equal(buf_append(&resp->body, buf, n), 0);
	free(buf);
out:
	free(cert);
	crypto_key_free(pub);
	crypto_key_free(other);
	if (er != NULL)
		mcpfleet__v1__enroll_request__free_unpacked(er, NULL);
}

int ta_on_request(void *arg, struct net_exchange *ex,
                  const struct net_request *req, struct net_response *resp)
{
	(void)arg;
	(void)ex;
	if (strcmp(req->path, "/v1/enroll") == 0 &&
	    strcmp(req->method, "POST") == 0) {
		ta_enroll_answer(ta_fx, req, resp);
		return NET_DONE;
	}
	resp->status = 404;
	assert_int_equal(buf_puts(&resp->body, "no such page"), 0);
	return NET_DONE;
}

int ta_on_open(void *arg, struct net_conn *c, const struct net_identity *id)
{
	struct ta_core *core = arg;

	(void)id;
	pthread_mutex_lock(&core->mu);
	core->opens++;
	core->conn = c;
	pthread_mutex_unlock(&core->mu);
	return NET_ACCEPT;
}

void ta_join(char *out, size_t size, char **v, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(out + o, size - o, "%s%s", i ? "," : "", v[i]);

		assert_true(w >= 0 && (size_t)w < size - o);
		o += (size_t)w;
	}
}

/* Keeps a CallBatch's records (a record seen before is not kept again, as
 * mcpfleetd keeps one per seq) and acknowledges them. Called with the
 * core's lock held, on the service thread. */
void ta_on_calls(struct ta_core *core, struct net_conn *c,
                 const Mcpfleet__V1__CallBatch *b)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__CallAck ack;
	uint8_t buf[64];
	size_t i, k;

	core->call_batches++;
	mcpfleet__v1__call_ack__init(&ack);
	for (i = 0; i < b->n_calls; i++) {
		for (k = 0; k < core->ncalls; k++)
			if (core->call_seq[k] == b->calls[i]->seq)
				break;
		if (k == core->ncalls && core->ncalls < 64) {
			(void)snprintf(core->call_name[k],
			               sizeof(core->call_name[k]), "%s",
			               b->calls[i]->name);
			core->call_outcome[k] = b->calls[i]->outcome;
			core->call_seq[k] = b->calls[i]->seq;
			core->ncalls++;
		}
		if (b->calls[i]->seq > ack.through_seq)
			ack.through_seq = b->calls[i]->seq;
	}
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_CALLS_ACK;
	fr.calls_ack = &ack;
	assert_true(mcpfleet__v1__server_frame__get_packed_size(&fr) <=
	            sizeof(buf));
	assert_int_equal(
	    net_send(c, buf, mcpfleet__v1__server_frame__pack(&fr, buf)), 0);
}

void ta_on_message(void *arg, struct net_conn *c, const void *data, size_t len)
{
	struct ta_core *core = arg;
	Mcpfleet__V1__AgentFrame *f;
	struct ta_report *r = &core->report;
	size_t i;

	(void)c;
	f = mcpfleet__v1__agent_frame__unpack(NULL, len, data);
	assert_non_null(f);
	pthread_mutex_lock(&core->mu);
	switch (f->body_case) {
	case MCPFLEET__V1__AGENT_FRAME__BODY_HELLO:
		core->hellos++;
		core->hello_revision = f->hello->applied_revision;
		(void)snprintf(core->hello_device, sizeof(core->hello_device),
		               "%s", f->hello->device_id);
		ta_join(core->hello_hosts, sizeof(core->hello_hosts),
		        f->hello->hosts_present, f->hello->n_hosts_present);
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_REPORT:
		memset(r, 0, sizeof(*r));
		r->revision = f->report->revision;
		assert_true(f->report->n_hosts <= TA_MAX_HOST);
		r->n = f->report->n_hosts;
		for (i = 0; i < r->n; i++) {
			const Mcpfleet__V1__HostReport *h = f->report->hosts[i];

			(void)snprintf(r->host[i], sizeof(r->host[i]), "%s",
			               h->host);
			r->status[i] = h->status;
			ta_join(r->managed[i], sizeof(r->managed[i]),
			        h->managed, h->n_managed);
			r->drift[i] = h->drift;
			ta_join(r->warnings[i], sizeof(r->warnings[i]),
			        h->warnings, h->n_warnings);
		}
		core->reports++;
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_PONG:
		core->pongs++;
		core->pong_nonce = f->pong->nonce;
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_CALLS:
		ta_on_calls(core, c, f->calls);
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_RENEW:
		core->renews++;
		if (core->renew_unknown) {
			/* As server/hub.c before renewal: not a body it
			 * knows. */
			net_close(c, 1002, "frame without a body");
		} else {
			Mcpfleet__V1__ServerFrame sf;
			Mcpfleet__V1__RenewResponse rs;
			uint8_t buf[256];
			size_t n;

			mcpfleet__v1__server_frame__init(&sf);
			mcpfleet__v1__renew_response__init(&rs);
			rs.error = (char *)(uintptr_t)TA_RENEW_REFUSAL;
			sf.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_RENEW;
			sf.renew = &rs;
			n = mcpfleet__v1__server_frame__pack(&sf, buf);
			assert_int_equal(net_send(c, buf, n), 0);
		}
		break;
	default:
		fail_msg("an agent frame without a body");
	}
	pthread_mutex_unlock(&core->mu);
	mcpfleet__v1__agent_frame__free_unpacked(f, NULL);
}

void ta_on_close(void *arg, struct net_conn *c, int code, const char *reason)
{
	struct ta_core *core = arg;

	(void)code;
	(void)reason;
	pthread_mutex_lock(&core->mu);
	core->closes++;
	if (core->conn == c)
		core->conn = NULL;
	pthread_mutex_unlock(&core->mu);
}

/* Sends what the test queued, on the service thread. */
void ta_on_wake(void *arg)
{
	struct ta_core *core = arg;
	size_t i;

	pthread_mutex_lock(&core->mu);
	for (i = 0; i < core->nq; i++) {
		if (core->conn != NULL)
			assert_int_equal(
			    net_send(core->conn, core->queue[i], core->qlen[i]),
			    0);
		free(core->queue[i]);
	}
	core->nq = 0;
	if (core->close_after && core->conn != NULL)
		assert_int_equal(
		    net_close(core->conn, NET_CLOSE_GOING_AWAY, "restarting"),
		    0);
	core->close_after = false;
	pthread_mutex_unlock(&core->mu);
}

void *ta_service(void *p)
{
	struct ta_fixture *f = p;

	assert_int_equal(net_run(f->net), 0);
	return NULL;
}

/* Queues a frame (taken) for the connected agent. */
void ta_push(struct ta_fixture *f, uint8_t *frame, size_t len)
{
	pthread_mutex_lock(&f->core.mu);
	assert_true(f->core.nq < TA_QUEUE);
	f->core.queue[f->core.nq] = frame;
	f->core.qlen[f->core.nq] = len;
	f->core.nq++;
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);
}

/* Queues a Replicas ServerFrame with these n addresses. */
void ta_push_replicas(struct ta_fixture *f, const char *const *v, size_t n)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__Replicas rs;
	uint8_t *buf;
	size_t len;

	mcpfleet__v1__replicas__init(&rs);
	rs.agent_addresses = (char **)(uintptr_t)v;
	rs.n_agent_addresses = n;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS;
	fr.replicas = &rs;
	len = mcpfleet__v1__server_frame__get_packed_size(&fr);
	buf = malloc(len);
	assert_non_null(buf);
	mcpfleet__v1__server_frame__pack(&fr, buf);
	ta_push(f, buf, len);
}

/* Queues a SignedEnvelope (taken) as a ServerFrame. */
void ta_push_env(struct ta_fixture *f, uint8_t *env, size_t len)
{
	size_t flen;
	uint8_t *frame = ta_frame(env, len, &flen);

	free(env);
	ta_push(f, frame, flen);
}

int ta_get(struct ta_fixture *f, const int *counter)
{
	int v;

	pthread_mutex_lock(&f->core.mu);
	v = *counter;
	pthread_mutex_unlock(&f->core.mu);
	return v;
}

bool ta_wait(struct ta_fixture *f, const int *counter, int want)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;

	while (ta_get(f, counter) < want) {
		if (tu_now_ms() > deadline)
			return false;
		tu_sleep_ms(5);
	}
	return true;
}

struct ta_report ta_last_report(struct ta_fixture *f)
{
	struct ta_report r;

	pthread_mutex_lock(&f->core.mu);
	r = f->core.report;
	pthread_mutex_unlock(&f->core.mu);
	return r;
}

int ta_report_host(const struct ta_report *r, const char *host)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->host[i], host) == 0)
			return (int)i;
	fail_msg("no report for host %s", host);
	return -1;
}

int ta_group_setup(void **state)
{
	static const char *const san[] = {"localhost", "127.0.0.1"};
	struct ta_fixture *f = calloc(1, sizeof(*f));
	struct net_config cfg = {0};
	struct net_callbacks cb = {0};
	struct diag d;

	assert_non_null(f);
	ta_fx = f;
	netclient_lws_log(getenv("TA_VERBOSE") ? NETCLIENT_LOG_ERR : 0, NULL);
	pthread_mutex_init(&f->core.mu, NULL);
	assert_int_equal(crypto_rng_new("test_agent", &f->rng, &d), 0);
	tu_cred_ca(f->rng, &f->ca, "Fleet CA");
	tu_cred_ca(f->rng, &f->foreign_ca, "Foreign CA");
	assert_int_equal(crypto_key_generate(f->rng, &f->server.key, &d), 0);
	f->server.cert_pem =
	    ta_issue(f, f->server.key, "mcpfleetd", CRYPTO_PURPOSE_SERVER, san,
	             2, &f->server.cert_len);
	assert_int_equal(crypto_key_write_private(f->server.key,
	                                          &f->server.key_pem,
	                                          &f->server.key_len, &d),
	                 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->signer, &d), 0);
	assert_int_equal(crypto_key_generate(f->rng, &f->rogue, &d), 0);
	assert_int_equal(crypto_key_write_public(f->signer, &f->signer_pem,
	                                         &f->signer_len, &d),
	                 0);
	memcpy(f->ca_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->ca.cert_pem, f->ca.cert_len,
	                                         f->ca_pin + 7, &d),
	                 0);
	memcpy(f->foreign_pin, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(f->foreign_ca.cert_pem,
	                                         f->foreign_ca.cert_len,
	                                         f->foreign_pin + 7, &d),
	                 0);
	cfg.ca_pem = f->ca.cert_pem;
	cfg.ca_len = f->ca.cert_len;
	cfg.cert_pem = f->server.cert_pem;
	cfg.cert_len = f->server.cert_len;
	cfg.key_pem = f->server.key_pem;
	cfg.key_len = f->server.key_len;
	cfg.timeout_secs = 5;
	cb.arg = &f->core;
	cb.on_open = ta_on_open;
	cb.on_message = ta_on_message;
	cb.on_close = ta_on_close;
	cb.on_wake = ta_on_wake;
	cb.on_request = ta_on_request;
	if (net_create(&cfg, &cb, &f->net, &d) != 0)
		fail_msg("net_create: %s", d.msg);
	f->agent_port = net_agent_port(f->net);
	f->api_port = net_api_port(f->net);
	assert_int_equal(pthread_create(&f->thread, NULL, ta_service, f), 0);
	*state = f;
	return 0;
}

int ta_group_teardown(void **state)
{
	struct ta_fixture *f = *state;
	size_t i;

	net_stop(f->net);
	pthread_join(f->thread, NULL);
	net_free(f->net);
	for (i = 0; i < f->core.nq; i++)
		free(f->core.queue[i]);
	tu_cred_free(&f->ca);
	tu_cred_free(&f->server);
	tu_cred_free(&f->foreign_ca);
	crypto_key_free(f->signer);
	crypto_key_free(f->rogue);
	free(f->signer_pem);
	crypto_rng_free(f->rng);
	pthread_mutex_destroy(&f->core.mu);
	free(f);
	ta_fx = NULL;
	return 0;
}

/* ---- The workstation sandbox ---- */

const char *ta_getenv(void *ctx, const char *name)
{
	struct ta_box *b = ctx;

	if (strcmp(name, "HOME") == 0)
		return b->home;
	return NULL;
}

int ta_setup(void **state)
{
	struct ta_fixture *f = *state;
	struct ta_box *b = calloc(1, sizeof(*b));
	char *p;

	assert_non_null(b);
	b->home = tu_mkdtemp();
	b->mfhome = tu_path(b->home, ".mcpfleet");
	b->log_path = tu_path(b->home, "agent.log");
	b->env.os = HOST_OS_LINUX;
	b->env.getenv = ta_getenv;
	b->env.ctx = b;
	b->log = fopen(b->log_path, "w+");
	assert_non_null(b->log);
	p = tu_path(b->home, ".cursor");
	assert_int_equal(fileio_mkdirs(p, 0755), 0);
	free(p);
	p = tu_path(b->home, ".factory");
	assert_int_equal(fileio_mkdirs(p, 0755), 0);
	free(p);
	b->ao.home = b->mfhome;
	b->ao.env = &b->env;
	b->ao.out = b->log;
	b->ao.err = b->log;
	b->ao.stop = &b->stop;
	b->ao.recheck_ms = 60000;
	b->ao.backoff_min_ms = 50;
	b->ao.backoff_max_ms = 200;
	b->ao.connect_timeout_ms = 5000;
	pthread_mutex_lock(&f->core.mu);
	f->core.hellos = f->core.reports = f->core.pongs = 0;
	f->core.call_batches = 0;
	f->core.ncalls = 0;
	f->core.opens = f->core.closes = 0;
	f->core.renews = 0;
	f->core.renew_unknown = false;
	pthread_mutex_unlock(&f->core.mu);
	/* The box rides along in the fixture's state slot. */
	*state = b;
	return 0;
}

void *ta_agent_thread(void *p)
{
	struct ta_box *b = p;

	b->agent_code = agent_run(&b->ao);
	return NULL;
}

void ta_agent_start(struct ta_box *b)
{
	atomic_store(&b->stop, 0);
	assert_int_equal(pthread_create(&b->agent, NULL, ta_agent_thread, b),
	                 0);
	b->agent_running = true;
}

int ta_agent_stop(struct ta_box *b)
{
	if (!b->agent_running)
		return b->agent_code;
	atomic_store(&b->stop, 1);
	pthread_join(b->agent, NULL);
	b->agent_running = false;
	return b->agent_code;
}

/* Waits for the agent to return by itself (a revocation). */
int ta_agent_join(struct ta_box *b)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;
	int r;

	for (;;) {
		r = pthread_tryjoin_np(b->agent, NULL);
		if (r == 0)
			break;
		if (tu_now_ms() > deadline)
			fail_msg("the agent did not stop by itself");
		tu_sleep_ms(10);
	}
	b->agent_running = false;
	return b->agent_code;
}

int ta_teardown(void **state)
{
	struct ta_box *b = *state;

	(void)ta_agent_stop(b);
	fclose(b->log);
	if (getenv("TA_VERBOSE") != NULL) {
		size_t n;
		char *log = tu_read(b->log_path, &n);

		fprintf(stderr, "---- agent log ----\n%s", log);
		free(log);
	}
	tu_rmtree(b->home);
	free(b->home);
	free(b->mfhome);
	free(b->log_path);
	free(b);
	*state = ta_fx;
	return 0;
}

char *ta_log(struct ta_box *b)
{
	size_t n;

	fflush(b->log);
	return tu_read(b->log_path, &n);
}

bool ta_exists(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	bool e = fileio_exists(p);

	free(p);
	return e;
}

char *ta_read_rel(struct ta_box *b, const char *rel)
{
	char *p = tu_path(b->home, rel), *t = NULL;
	size_t n;

	if (fileio_exists(p))
		t = tu_read(p, &n);
	free(p);
	return t;
}

/* True when no file of the enrollment, final or temporary, is there. */
bool ta_no_enrollment_files(const char *mfhome)
{
	DIR *dir = opendir(mfhome);
	const struct dirent *de;
	bool clean = true;

	if (dir == NULL)
		return true;
	while ((de = readdir(dir)) != NULL) {
		char *p = tu_path(mfhome, de->d_name);
		bool is_dir = fileio_is_dir(p);

		free(p);
		if (is_dir)
			continue;
		if (strcmp(de->d_name, "device.key") == 0 ||
		    strcmp(de->d_name, "device.crt") == 0 ||
		    strcmp(de->d_name, "ca.crt") == 0 ||
		    strcmp(de->d_name, "signer.pub") == 0 ||
		    strcmp(de->d_name, "enrollment.json") == 0 ||
		    strcmp(de->d_name, "replicas.json") == 0 ||
		    strstr(de->d_name, ".enroll-new") != NULL ||
		    strstr(de->d_name, ".mcpfleet-") != NULL)
			clean = false;
	}
	closedir(dir);
	return clean;
}

/* Runs enrollment_enroll with a link to the fake server. */
int ta_enroll(struct ta_fixture *f, struct ta_box *b, int port,
              const char *token, const char *pin, char **err)
{
	struct enrollment_opts o = {
	    .home = b->mfhome,
	    .timeout_ms = 5000,
	    .hostname = "test-host",
	    .username = "tester",
	};
	char link[512];
	size_t n;
	int code;

	(void)f;
	(void)snprintf(link, sizeof(link),
	               "mcpfleet://127.0.0.1:%d/enroll/%s#ca=%s", port, token,
	               pin);
	o.out = open_memstream(err, &n);
	o.err = o.out;
	code = enrollment_enroll(&o, link);
	fclose(o.out);
	return code;
}

/* Enrolls the box for real and remembers its device id. */
void ta_enroll_ok(struct ta_fixture *f, struct ta_box *b)
{
	struct enrollment e;
	struct diag d;
	char *msg = NULL;

	if (ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg) !=
	    EXIT_OK)
		fail_msg("enroll: %s", msg);
	free(msg);
	assert_int_equal(enrollment_load(b->mfhome, &e, &d), 0);
	(void)snprintf(b->device_id, sizeof(b->device_id), "%s", e.device_id);
}

int ta_closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Runs "mcpfleet ARGS" in the box; returns the exit code, *out and *err. */
int ta_cli(struct ta_box *b, char **out, char **err, int argc, char **argv)
{
	struct cli c = {.home = b->mfhome, .env = &b->env};
	size_t n;
	int code;

	c.out = open_memstream(out, &n);
	c.err = open_memstream(err, &n);
	code = cli_main(&c, argc, argv);
	fclose(c.out);
	fclose(c.err);
	return code;
}
