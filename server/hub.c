/* SPDX-License-Identifier: MIT */
/* The agent hub: who is connected, what each device was sent, and the
 * protocol of the agent websocket (mcpfleet.v1), on the service thread. */
#include "hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "mcpfleet.pb-c.h"
#include "metrics.h"
#include "pbwire.h"
#include "store.h"

#define HUB_BUCKETS         4096 /* device id hash buckets */
#define HUB_REPORT_HOSTS    64   /* hosts kept from one sync report */
#define HUB_REPORT_NAMES    1024 /* managed names kept per host */
#define HUB_REPORT_STRING   1024 /* bytes kept of one report string */
#define HUB_REPORT_WARNINGS 16   /* warnings kept of one host */
/* The respread advice (Replicas.respread_ms): a replica takes back about
 * 400 agents a second on two cores (docs/BENCHMARKS.md), so a window of
 * 2.5 ms per agent held; below the agents' own window (client/agent.h:
 * AGENT_RESPREAD times AGENT_BACKOFF_MIN) it changes nothing. */
#define HUB_RESPREAD_US     2500
#define HUB_RESPREAD_OWN_MS 10000
#define HUB_RENEWALS_MAX    3 /* RenewRequests one connection may make */

/* One agent connection. */
struct hub_conn {
	struct net_conn *nc;
	char *device_id;
	char *user;
	char *serial;
	int64_t since;
	bool hello;        /* the agent said hello: it may be sent envelopes */
	bool sent;         /* sent_hash holds what it was last sent */
	bool closing;      /* revoked or refused: sends nothing more */
	unsigned renewals; /* RenewRequests this connection made */
	uint64_t applied;  /* the revision it says it applied */
	/* The metrics: since hello, applied counts in agents by revision;
	 * push_rev (0: none) is the revision last sent, the latency of its
	 * report counted from push_from_ns. */
	uint64_t hello_ns, push_rev, push_from_ns;
	char key_id[CRYPTO_HEX_LEN + 1]; /* the data key it holds, or "" */
	/* Its certificate's key (net_identity.key_id): a renewal brings
	 * another. */
	char cert_key_id[CRYPTO_HEX_LEN + 1];
	uint8_t sent_hash[CRYPTO_HASH_LEN];
	struct hub_conn *bnext;       /* same bucket */
	struct hub_conn *prev, *next; /* every connection */
};

struct hub {
	struct core *core;
	struct core_pub *pub; /* the newest revision the hub knows */
	struct hub_conn *buckets[HUB_BUCKETS];
	struct hub_conn *all;
	size_t n;
	/* The replica set, as core_take_replicas() gave it, unpacked: each
	 * agent gets it with the respread window for this replica's count. */
	Mcpfleet__V1__ServerFrame *replicas;
	size_t advised; /* agents the last window sent to all was sized for */
};

static uint32_t hub_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % HUB_BUCKETS;
}

static struct hub_conn *hub_find(struct hub *h, const char *device_id)
{
	struct hub_conn *hc;

	for (hc = h->buckets[hub_hash(device_id)]; hc != NULL; hc = hc->bnext)
		if (strcmp(hc->device_id, device_id) == 0)
			return hc;
	return NULL;
}

static void hub_link(struct hub *h, struct hub_conn *hc)
{
	uint32_t b = hub_hash(hc->device_id);

	hc->bnext = h->buckets[b];
	h->buckets[b] = hc;
	hc->prev = NULL;
	hc->next = h->all;
	if (h->all != NULL)
		h->all->prev = hc;
	h->all = hc;
	h->n++;
}

static void hub_unlink(struct hub *h, struct hub_conn *hc)
{
	struct hub_conn **pp = &h->buckets[hub_hash(hc->device_id)];

	while (*pp != NULL && *pp != hc)
		pp = &(*pp)->bnext;
	if (*pp == hc)
		*pp = hc->bnext;
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		h->all = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	h->n--;
}

static void hub_conn_free(struct hub_conn *hc)
{
	if (hc == NULL)
		return;
	free(hc->device_id);
	free(hc->user);
	free(hc->serial);
	free(hc);
}

int hub_new(struct core *c, struct hub **out)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -ERR_NOMEM;
	h->core = c;
	*out = h;
	return 0;
}

void hub_free(struct hub *h)
{
	struct hub_conn *hc;

	if (h == NULL)
		return;
	while ((hc = h->all) != NULL) {
		hub_unlink(h, hc);
		hub_conn_free(hc);
	}
	core_pub_release(h->pub);
	if (h->replicas != NULL)
		mcpfleet__v1__server_frame__free_unpacked(h->replicas, NULL);
	free(h);
}

size_t hub_ping_message(uint8_t out[NET_PING_MAX])
{
	Mcpfleet__V1__ServerFrame f = MCPFLEET__V1__SERVER_FRAME__INIT;
	Mcpfleet__V1__Ping ping = MCPFLEET__V1__PING__INIT;

	f.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_PING;
	f.ping = &ping;
	if (mcpfleet__v1__server_frame__get_packed_size(&f) > NET_PING_MAX)
		return 0;
	return mcpfleet__v1__server_frame__pack(&f, out);
}

/* The window over which the agents of this replica should spread their
 * first retry when it goes away: HUB_RESPREAD_US of a restarted replica's
 * time for each (docs/design.md, "Keepalive"). */
static uint32_t hub_respread_ms(size_t agents)
{
	uint64_t ms = (uint64_t)agents * HUB_RESPREAD_US / 1000;

	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* Tells hc the replica set and the respread window (after its hello, when
 * the set changes, and when the window has grown). */
static void hub_send_replicas(struct hub *h, struct hub_conn *hc)
{
	uint8_t buf[4096], *p = buf;
	size_t len;

	if (h->replicas == NULL || !hc->hello || hc->closing)
		return;
	h->replicas->replicas->respread_ms = hub_respread_ms(h->n);
	len = mcpfleet__v1__server_frame__get_packed_size(h->replicas);
	if (len > sizeof(buf) && (p = malloc(len)) == NULL)
		goto fail;
	mcpfleet__v1__server_frame__pack(h->replicas, p);
	if (net_send(hc->nc, p, len) != 0)
		goto fail;
	if (p != buf)
		free(p);
	return;
fail:
	if (p != buf)
		free(p);
	core_log(h->core, CORE_LOG_WARN, "%s: cannot queue the replica set",
	         hc->device_id);
}

/* Sends everyone the set again when the agents held have grown by half
 * since the window everyone has was sized (past the agents' own window):
 * a few times as a fleet connects, rather than once per agent. */
static void hub_advise(struct hub *h)
{
	struct hub_conn *hc;

	if (h->n < h->advised + h->advised / 2 ||
	    hub_respread_ms(h->n) <= HUB_RESPREAD_OWN_MS)
		return;
	h->advised = h->n;
	for (hc = h->all; hc != NULL; hc = hc->next)
		hub_send_replicas(h, hc);
}

/*
 * Sends a SignedEnvelope (already packed) as a ServerFrame. The frame is
 * the envelope behind its field key: ServerFrame's field 1, length
 * delimited, which is exactly what protobuf would encode.
 */
static int hub_send_envelope(struct hub_conn *hc, const uint8_t *env,
                             size_t len)
{
	uint8_t head[1 + 10];
	size_t n = 0, v = len;
	uint8_t *frame;
	int r;

	head[n++] = 0x0a; /* field 1, wire type 2 */
	do {
		head[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	frame = malloc(n + len);
	if (frame == NULL)
		return -ERR_NOMEM;
	memcpy(frame, head, n);
	memcpy(frame + n, env, len);
	r = net_send(hc->nc, frame, n + len);
	free(frame);
	return r;
}

/* Sends a device its revocation and closes it. */
static void hub_revoke(struct hub *h, struct hub_conn *hc)
{
	struct core_device dev;

	if (hc->closing)
		return;
	hc->closing = true;
	if (core_dir_lookup(h->core, hc->serial, &dev) == 0) {
		if (dev.revocation != NULL &&
		    hub_send_envelope(hc, dev.revocation, dev.revocation_len) !=
		        0)
			core_log(h->core, CORE_LOG_WARN,
			         "%s: cannot queue its revocation",
			         hc->device_id);
		core_device_clear(&dev);
	}
	core_log(h->core, CORE_LOG_INFO, "%s: revoked: closing", hc->device_id);
	net_close(hc->nc, NET_CLOSE_POLICY, "revoked");
}

/* Sends hc its data key when it holds another (or none): before any
 * envelope whose secrets are sealed with it. Returns 0 or -ERR_NOMEM /
 * the send's error. */
static int hub_send_key(struct hub_conn *hc, const struct publication_entry *e)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__DeviceKey k;
	uint8_t buf[128];
	size_t n;
	int r;

	if (strcmp(hc->key_id, e->data_key_id) == 0)
		return 0;
	mcpfleet__v1__device_key__init(&k);
	k.key.data = (uint8_t *)(uintptr_t)e->data_key;
	k.key.len = sizeof(e->data_key);
	k.key_id = (char *)(uintptr_t)e->data_key_id;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_DEVICE_KEY;
	fr.device_key = &k;
	if ((n = mcpfleet__v1__server_frame__get_packed_size(&fr)) >
	    sizeof(buf))
		return -ERR_INTERNAL;
	mcpfleet__v1__server_frame__pack(&fr, buf);
	r = net_send(hc->nc, buf, n);
	explicit_bzero(buf, sizeof(buf));
	if (r == 0)
		(void)snprintf(hc->key_id, sizeof(hc->key_id), "%s",
		               e->data_key_id);
	return r;
}

/* Sends hc its entry of the hub's publication when it is news to it (and
 * its data key first, when it holds another). */
static void hub_push(struct hub *h, struct hub_conn *hc)
{
	const struct publication_entry *e;
	const struct publication *p;

	if (h->pub == NULL || !hc->hello || hc->closing)
		return;
	p = h->pub->p;
	e = publication_find(p, hc->device_id);
	if (e == NULL)
		return;
	if (hub_send_key(hc, e) != 0) {
		core_log(
		    h->core, CORE_LOG_WARN,
		    "%s: cannot queue its data key: closing the connection",
		    hc->device_id);
		hc->closing = true;
		net_close(hc->nc, NET_CLOSE_GOING_AWAY, "too slow");
		return;
	}
	/* An entry publish_add() carried over keeps its older revision. */
	if (e->revision <= hc->applied)
		return;
	if (hc->sent &&
	    memcmp(hc->sent_hash, e->view_hash, CRYPTO_HASH_LEN) == 0)
		return;
	if (hub_send_envelope(hc, e->envelope, e->envelope_len) != 0) {
		core_log(h->core, CORE_LOG_WARN,
		         "%s: send queue full: closing the connection",
		         hc->device_id);
		hc->closing = true;
		net_close(hc->nc, NET_CLOSE_GOING_AWAY, "too slow");
		return;
	}
	memcpy(hc->sent_hash, e->view_hash, CRYPTO_HASH_LEN);
	hc->sent = true;
	metrics_push(h->core->metrics);
	hc->push_rev = e->revision;
	hc->push_from_ns = h->pub->published_ns > hc->hello_ns
	                       ? h->pub->published_ns
	                       : hc->hello_ns;
	if (e->nsecret_ids > 0)
		core_submit_delivery(h->core, hc->device_id, e->revision,
		                     e->secret_ids, e->nsecret_ids);
}

static int hub_check_cert(void *arg, const struct net_identity *id)
{
	struct core *c = arg;

	/* Revoked devices get in, to be handed their revocation. OpenSSL
	 * asks during every handshake: nothing is copied. */
	return core_dir_known(c, id->serial) ? NET_ACCEPT : NET_REJECT;
}

static int hub_on_open(void *arg, struct net_conn *nc,
                       const struct net_identity *id)
{
	struct core *c = arg;
	struct hub *h = c->hub;
	struct core_device dev;
	struct hub_conn *hc, *old;
	int r = NET_REJECT;

	if (core_dir_lookup(c, id->serial, &dev) != 0) {
		core_log(c, CORE_LOG_WARN,
		         "agent %s: certificate serial %s unknown: refused",
		         id->peer, id->serial);
		return NET_REJECT;
	}
	if (strcmp(dev.id, id->cn) != 0) {
		core_log(c, CORE_LOG_WARN,
		         "agent %s: certificate CN %s is not device %s: "
		         "refused",
		         id->peer, id->cn, dev.id);
		goto out;
	}
	hc = calloc(1, sizeof(*hc));
	if (hc == NULL)
		goto out;
	hc->nc = nc;
	hc->device_id = strdup(dev.id);
	hc->user = strdup(dev.user);
	hc->serial = strdup(dev.serial);
	hc->since = (int64_t)time(NULL);
	(void)snprintf(hc->cert_key_id, sizeof(hc->cert_key_id), "%s",
	               id->key_id);
	if (hc->device_id == NULL || hc->user == NULL || hc->serial == NULL) {
		hub_conn_free(hc);
		goto out;
	}
	/* One connection per device: a new one replaces the old. */
	old = hub_find(h, hc->device_id);
	if (old != NULL && !old->closing) {
		old->closing = true;
		net_close(old->nc, NET_CLOSE_POLICY,
		          "replaced by a newer connection");
	}
	hub_link(h, hc);
	net_conn_set_user(nc, hc);
	core_online_set(c, hc->device_id, hc->since, true);
	core_log(c, CORE_LOG_INFO, "%s (%s) connected from %s", hc->device_id,
	         hc->user, id->peer);
	if (dev.revoked)
		hub_revoke(h, hc);
	r = NET_ACCEPT;
out:
	core_device_clear(&dev);
	return r;
}

static void hub_protocol_error(struct hub *h, struct hub_conn *hc, int code,
                               const char *why)
{
	char reason[NET_REASON_MAX + 1];
	size_t n = strnlen(why, NET_REASON_MAX);

	core_log(h->core, CORE_LOG_WARN, "%s: %s: closing", hc->device_id, why);
	hc->closing = true;
	/* A reason cut at the close frame's limit still closes. */
	memcpy(reason, why, n);
	reason[n] = '\0';
	net_close(hc->nc, code, reason);
}

/* A JSON string of at most HUB_REPORT_STRING bytes; invalid UTF-8 becomes
 * "?" rather than failing the report. */
static json_t *hub_jstr(const char *s)
{
	json_t *j;
	size_t n = s != NULL ? strnlen(s, HUB_REPORT_STRING) : 0;

	j = json_stringn(s != NULL ? s : "", n);
	return j != NULL ? j : json_string("?");
}

static const char *hub_host_status(Mcpfleet__V1__HostStatus s)
{
	switch (s) {
	case MCPFLEET__V1__HOST_STATUS__HOST_STATUS_OK:
		return "ok";
	case MCPFLEET__V1__HOST_STATUS__HOST_STATUS_BLOCKED:
		return "blocked";
	case MCPFLEET__V1__HOST_STATUS__HOST_STATUS_SKIPPED:
		return "skipped";
	case MCPFLEET__V1__HOST_STATUS__HOST_STATUS_ABSENT:
		return "absent";
	default:
		return "unknown";
	}
}

char *hub_report_json(const Mcpfleet__V1__SyncReport *rep)
{
	json_t *o = json_object(), *hosts = json_array();
	char *s = NULL;
	size_t i, j;

	if (o == NULL || hosts == NULL)
		goto out;
	json_object_set_new(
	    o, "revision",
	    json_integer((json_int_t)(rep->revision & INT64_MAX)));
	json_object_set_new(o, "synced_at",
	                    json_integer((json_int_t)rep->synced_at));
	for (i = 0; i < rep->n_hosts && i < HUB_REPORT_HOSTS; i++) {
		const Mcpfleet__V1__HostReport *hr = rep->hosts[i];
		json_t *ho = json_object(), *names = json_array();
		json_t *warn = json_array();

		if (ho == NULL || names == NULL || warn == NULL) {
			json_decref(ho);
			json_decref(names);
			json_decref(warn);
			goto out;
		}
		for (j = 0; j < hr->n_managed && j < HUB_REPORT_NAMES; j++)
			json_array_append_new(names, hub_jstr(hr->managed[j]));
		for (j = 0; j < hr->n_warnings && j < HUB_REPORT_WARNINGS; j++)
			json_array_append_new(warn, hub_jstr(hr->warnings[j]));
		json_object_set_new(ho, "host", hub_jstr(hr->host));
		json_object_set_new(ho, "status",
		                    json_string(hub_host_status(hr->status)));
		json_object_set_new(ho, "message", hub_jstr(hr->message));
		json_object_set_new(ho, "managed", names);
		json_object_set_new(ho, "drift", json_boolean(hr->drift));
		json_object_set_new(ho, "warnings", warn);
		json_array_append_new(hosts, ho);
	}
	json_object_set(o, "hosts", hosts);
	s = json_dumps(o, JSON_COMPACT);
out:
	json_decref(hosts);
	json_decref(o);
	return s;
}

/*
 * Hands a CallBatch to the core, which stores it (the device's user from
 * the directory, never from the agent) and acknowledges it. A batch over
 * STORE_CALL_BATCH records closes the connection: the agent never sends
 * one.
 */
static void hub_calls(struct hub *h, struct hub_conn *hc,
                      const Mcpfleet__V1__CallBatch *b)
{
	struct store_call *v;
	size_t i;

	if (b->n_calls == 0)
		return;
	if (b->n_calls > STORE_CALL_BATCH) {
		hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
		                   "too many call records in one batch");
		return;
	}
	if ((v = calloc(b->n_calls, sizeof(*v))) == NULL)
		return; /* not acknowledged: the agent sends it again */
	for (i = 0; i < b->n_calls; i++) {
		const Mcpfleet__V1__CallRecord *m = b->calls[i];

		v[i].seq = m->seq;
		v[i].at_ms = m->at_ms;
		v[i].duration_us = m->duration_us;
		v[i].outcome = (enum store_call_outcome)m->outcome;
		v[i].bytes_in = m->bytes_in;
		v[i].bytes_out = m->bytes_out;
		v[i].server = strdup(m->server ? m->server : "");
		v[i].method = strdup(m->method ? m->method : "");
		v[i].name = strdup(m->name ? m->name : "");
		v[i].detail = m->detail != NULL && m->detail[0] != '\0'
		                  ? strdup(m->detail)
		                  : NULL;
	}
	core_submit_calls(h->core, hc->device_id, v, b->n_calls, b->dropped);
}

/* Sends a device the acknowledgement of its stored calls. */
static void hub_ack(struct hub *h, const struct core_ack *a)
{
	struct hub_conn *hc = hub_find(h, a->device_id);
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__CallAck ack;
	uint8_t buf[32];
	size_t n;

	if (hc == NULL || hc->closing)
		return; /* the agent sends the batch again, and it is kept once
		         */
	mcpfleet__v1__call_ack__init(&ack);
	ack.through_seq = a->through;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_CALLS_ACK;
	fr.calls_ack = &ack;
	n = mcpfleet__v1__server_frame__pack(&fr, buf);
	(void)net_send(hc->nc, buf, n);
}

/* An agent reported that it applied revision: counted once it is news,
 * with the latency of the push it answers. */
static void hub_applied(struct hub *h, struct hub_conn *hc, uint64_t revision)
{
	struct metrics *m = h->core->metrics;

	if (revision <= hc->applied)
		return;
	(void)metrics_agent_revision(m, true, hc->applied, true, revision);
	hc->applied = revision;
	if (hc->push_rev != 0 && revision >= hc->push_rev) {
		metrics_push_applied(m, core_now_ns() - hc->push_from_ns);
		hc->push_rev = 0;
	}
}

static void hub_on_message(void *arg, struct net_conn *nc, const void *data,
                           size_t len)
{
	struct core *c = arg;
	struct hub *h = c->hub;
	struct hub_conn *hc = net_conn_user(nc);
	Mcpfleet__V1__AgentFrame *f;
	struct diag why;

	if (hc == NULL || hc->closing)
		return;
	f = mcpfleet__v1__agent_frame__unpack(NULL, len, data);
	if (f == NULL) {
		hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
		                   "malformed frame");
		return;
	}
	/* protobuf-c cut each string at its first NUL; the rest would be
	 * ignored silently. */
	diag_clear(&why);
	if (pbwire_check_strings(&mcpfleet__v1__agent_frame__descriptor, data,
	                         len, &why) != 0) {
		mcpfleet__v1__agent_frame__free_unpacked(f, NULL);
		hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL, why.msg);
		return;
	}
	switch (f->body_case) {
	case MCPFLEET__V1__AGENT_FRAME__BODY_HELLO:
		if (f->hello->device_id == NULL ||
		    strcmp(f->hello->device_id, hc->device_id) != 0) {
			hub_protocol_error(h, hc, NET_CLOSE_POLICY,
			                   "hello names another device");
			break;
		}
		if (!hc->hello) {
			hc->hello_ns = core_now_ns();
			(void)metrics_agent_revision(
			    c->metrics, false, 0, true,
			    f->hello->applied_revision);
		} else
			(void)metrics_agent_revision(
			    c->metrics, true, hc->applied, true,
			    f->hello->applied_revision);
		hc->hello = true;
		hc->applied = f->hello->applied_revision;
		(void)snprintf(hc->key_id, sizeof(hc->key_id), "%s",
		               f->hello->data_key_id ? f->hello->data_key_id
		                                     : "");
		core_submit_touch(c, hc->device_id, hc->applied, NULL);
		hub_push(h, hc);
		hub_send_replicas(h, hc);
		hub_advise(h);
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_REPORT:
		if (!hc->hello) {
			hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
			                   "report before hello");
			break;
		}
		hub_applied(h, hc, f->report->revision);
		core_submit_touch(c, hc->device_id, hc->applied,
		                  hub_report_json(f->report));
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_PONG:
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_RENEW:
		/* An agent asks once per connection; a few more are
		 * tolerated, a flood of certificates is not. */
		if (!hc->hello) {
			hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
			                   "renewal before hello");
			break;
		}
		if (++hc->renewals > HUB_RENEWALS_MAX) {
			hub_protocol_error(h, hc, NET_CLOSE_POLICY,
			                   "too many certificate renewals");
			break;
		}
		core_submit_renew(c, hc->device_id, hc->serial, hc->cert_key_id,
		                  f->renew->device_id, f->renew->csr_pem.data,
		                  f->renew->csr_pem.len);
		break;
	case MCPFLEET__V1__AGENT_FRAME__BODY_CALLS:
		if (!hc->hello) {
			hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
			                   "calls before hello");
			break;
		}
		hub_calls(h, hc, f->calls);
		break;
	default:
		hub_protocol_error(h, hc, NET_CLOSE_PROTOCOL,
		                   "frame without a body");
		break;
	}
	mcpfleet__v1__agent_frame__free_unpacked(f, NULL);
}

static void hub_on_close(void *arg, struct net_conn *nc, int code,
                         const char *reason)
{
	struct core *c = arg;
	struct hub *h = c->hub;
	struct hub_conn *hc = net_conn_user(nc);

	if (hc == NULL)
		return;
	core_log(c, CORE_LOG_INFO, "%s disconnected (%d %s)", hc->device_id,
	         code, reason);
	core_online_set(c, hc->device_id, 0, false);
	if (hc->hello)
		(void)metrics_agent_revision(c->metrics, true, hc->applied,
		                             false, 0);
	hub_unlink(h, hc);
	hub_conn_free(hc);
	net_conn_set_user(nc, NULL);
}

static void hub_on_wake(void *arg)
{
	struct core *c = arg;
	struct hub *h = c->hub;
	struct core_pub *pub;
	struct hub_conn *hc;
	struct core_ack *acks;
	struct core_frame *frames;
	Mcpfleet__V1__ServerFrame *rs;
	uint8_t *replicas;
	char **kicks;
	size_t i, n;

	if ((replicas = core_take_replicas(c, &n)) != NULL) {
		rs = mcpfleet__v1__server_frame__unpack(NULL, n, replicas);
		free(replicas);
		if (rs == NULL ||
		    rs->body_case !=
		        MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS) {
			if (rs != NULL)
				mcpfleet__v1__server_frame__free_unpacked(rs,
				                                          NULL);
			core_log(c, CORE_LOG_WARN,
			         "the replica set does not unpack");
		} else {
			if (h->replicas != NULL)
				mcpfleet__v1__server_frame__free_unpacked(
				    h->replicas, NULL);
			h->replicas = rs;
			h->advised = h->n;
			for (hc = h->all; hc != NULL; hc = hc->next)
				hub_send_replicas(h, hc);
		}
	}
	acks = core_take_acks(c, &n);
	for (i = 0; i < n; i++) {
		hub_ack(h, &acks[i]);
		free(acks[i].device_id);
	}
	free(acks);
	frames = core_take_frames(c, &n);
	for (i = 0; i < n; i++) {
		/* Gone meanwhile: the agent asks again on its next
		 * connection, and the certificate issued stays unused. */
		hc = hub_find(h, frames[i].device_id);
		if (hc != NULL && !hc->closing &&
		    net_send(hc->nc, frames[i].data, frames[i].len) != 0)
			core_log(c, CORE_LOG_WARN,
			         "%s: cannot queue its new certificate",
			         hc->device_id);
		free(frames[i].device_id);
		free(frames[i].data);
	}
	free(frames);
	kicks = core_take_kicks(c, &n);
	for (i = 0; i < n; i++) {
		hc = hub_find(h, kicks[i]);
		if (hc != NULL)
			hub_revoke(h, hc);
		free(kicks[i]);
	}
	free(kicks);
	pub = core_take_pub(c);
	if (pub == NULL)
		return;
	/* Devices just enrolled, added to the revision the hub holds: the
	 * others' entries are the same, and a wake costs no walk of every
	 * connection. */
	if (pub->base != 0 && h->pub != NULL &&
	    h->pub->p->revision == pub->base) {
		core_pub_release(h->pub);
		h->pub = pub;
		for (i = 0; i < pub->nadded; i++)
			if ((hc = hub_find(h, pub->added[i])) != NULL)
				hub_push(h, hc);
		return;
	}
	core_pub_release(h->pub);
	h->pub = pub;
	for (hc = h->all; hc != NULL; hc = hc->next)
		hub_push(h, hc);
}

static int hub_on_request(void *arg, struct net_exchange *ex,
                          const struct net_request *req,
                          struct net_response *resp)
{
	struct core *c = arg;

	core_submit_exchange(c, ex, req, resp);
	return NET_DEFER;
}

static void hub_on_log(void *arg, int level, const char *msg)
{
	core_log(arg,
	         level == NET_LOG_ERR    ? CORE_LOG_ERR
	         : level == NET_LOG_WARN ? CORE_LOG_WARN
	                                 : CORE_LOG_INFO,
	         "%s", msg);
}

const struct net_callbacks hub_callbacks = {
    .check_cert = hub_check_cert,
    .on_open = hub_on_open,
    .on_message = hub_on_message,
    .on_close = hub_on_close,
    .on_wake = hub_on_wake,
    .on_request = hub_on_request,
    .on_log = hub_on_log,
};
