/* SPDX-License-Identifier: MIT */
/* The console's live view: facts the core learns, as events on the API
 * port's streams (docs/design.md, "The live console"). */
#include "live.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core.h"
#include "crypto.h"
#include "role.h"

/* An open stream, as the core remembers it to check its credentials
 * again: the request's Authorization and Cookie headers. */
struct live_stream {
	uint64_t id;
	int64_t opened; /* Unix ms */
	char *authorization;
	char *cookie;
};

struct live {
	/* Marked by any thread, under mu. */
	pthread_mutex_t mu;
	char *devices[LIVE_DEVICES_MAX];
	size_t ndevices;
	bool overflow; /* more devices than that: read them all */
	bool counts;
	/* Core thread only. */
	int64_t next_counts; /* Unix ms */
	int64_t next_recheck;
	struct live_stream *streams;
	size_t nstreams;
};

static int64_t live_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int live_new(struct live **out)
{
	struct live *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return 0;
}

static void live_stream_clear(struct live_stream *s)
{
	if (s->authorization != NULL)
		crypto_wipe(s->authorization, strlen(s->authorization));
	if (s->cookie != NULL)
		crypto_wipe(s->cookie, strlen(s->cookie));
	free(s->authorization);
	free(s->cookie);
	memset(s, 0, sizeof(*s));
}

void live_free(struct live *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->ndevices; i++)
		free(l->devices[i]);
	for (i = 0; i < l->nstreams; i++)
		live_stream_clear(&l->streams[i]);
	free(l->streams);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void live_mark_device(struct live *l, const char *device_id)
{
	size_t i;

	if (l == NULL || device_id == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->counts = true;
	for (i = 0; i < l->ndevices && !l->overflow; i++)
		if (strcmp(l->devices[i], device_id) == 0)
			break;
	if (!l->overflow && i == l->ndevices) {
		if (l->ndevices == LIVE_DEVICES_MAX ||
		    (l->devices[l->ndevices] = strdup(device_id)) == NULL)
			l->overflow = true;
		else
			l->ndevices++;
	}
	pthread_mutex_unlock(&l->mu);
}

void live_mark_counts(struct live *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->counts = true;
	pthread_mutex_unlock(&l->mu);
}

bool live_due(struct live *l)
{
	bool due;

	if (l == NULL)
		return false;
	pthread_mutex_lock(&l->mu);
	due = l->ndevices > 0 || l->overflow;
	pthread_mutex_unlock(&l->mu);
	return due;
}

/* Sends event to the streams of mask, as JSON; takes o. */
static void live_send(struct core *c, unsigned mask, const char *event,
                      json_t *o)
{
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	int r;

	json_decref(o);
	if (text == NULL) {
		core_log(c, CORE_LOG_WARN, "live: out of memory: no %s event",
		         event);
		return;
	}
	if ((r = net_stream_event(c->net, mask, event, text)) != 0)
		core_log(c, CORE_LOG_WARN, "live: %s event not sent: %s", event,
		         err_str(r));
	free(text);
}

/*
 * The latest revision and how many of the devices it has a view for
 * have applied it: a device has reached it once its applied revision is
 * at least its view's (a view that did not change keeps the older
 * revision it was signed at: publish.h). Returns a new object or NULL
 * with d set.
 */
static json_t *live_push(struct core *c, struct diag *d)
{
	const struct publication *p = c->pub != NULL ? c->pub->p : NULL;
	const struct publication_entry *e;
	struct store_device_list l = {0};
	json_int_t reached = 0, total = 0;
	json_t *o = NULL;
	size_t i;

	if (store_device_list(c->st, 0, &l, d) != 0)
		goto out;
	for (i = 0; p != NULL && i < l.n; i++) {
		if (l.v[i].status != STORE_DEVICE_ACTIVE ||
		    (e = publication_find(p, l.v[i].id)) == NULL)
			continue;
		total++;
		if (l.v[i].applied_revision >= 0 &&
		    (uint64_t)l.v[i].applied_revision >= e->revision)
			reached++;
	}
	o = json_pack("{s:I,s:I,s:I}", "revision",
	              (json_int_t)(p != NULL ? p->revision : 0), "reached",
	              reached, "devices", total);
	if (o == NULL)
		(void)diag_set(d, ERR_NOMEM, 0, 0, "live: out of memory");
out:
	store_device_list_free(&l);
	return o;
}

/* The overview (of both kinds) and the push progress, as events: into
 * b for a stream that opens (mask its), or to every stream (b NULL). */
static int live_counts(struct core *c, struct buf *b, unsigned mask)
{
	struct api_ctx a;
	struct diag d;
	json_t *basic = NULL, *full = NULL, *push = NULL;
	char *text;
	int r = 0;

	core_api_ctx(c, &a);
	diag_clear(&d);
	if (((mask & LIVE_MASK_BASIC) != 0 &&
	     (r = api_overview(&a, false, &basic, &d)) != 0) ||
	    ((mask & LIVE_MASK_AUDIT) != 0 &&
	     (r = api_overview(&a, true, &full, &d)) != 0) ||
	    (push = live_push(c, &d)) == NULL) {
		core_log(c, CORE_LOG_WARN, "live: %s", d.msg);
		json_decref(basic);
		json_decref(full);
		return r != 0 ? r : -ERR_NOMEM;
	}
	if (b == NULL) {
		if (basic != NULL)
			live_send(c, LIVE_MASK_BASIC, "overview", basic);
		if (full != NULL)
			live_send(c, LIVE_MASK_AUDIT, "overview", full);
		live_send(c, LIVE_MASK_ALL, "push", push);
		return 0;
	}
	if ((text = json_dumps(full != NULL ? full : basic, JSON_COMPACT)) ==
	        NULL ||
	    (r = net_event_append(b, NULL, "overview", text)) != 0)
		r = r != 0 ? r : -ERR_NOMEM;
	free(text);
	if (r == 0) {
		if ((text = json_dumps(push, JSON_COMPACT)) == NULL)
			r = -ERR_NOMEM;
		else
			r = net_event_append(b, NULL, "push", text);
		free(text);
	}
	json_decref(basic);
	json_decref(full);
	json_decref(push);
	return r;
}

int live_open(struct live *l, struct core *c, const struct net_request *req,
              struct net_response *resp, const struct api_stream *s)
{
	struct net_stream_opts o = {
	    .last_event_id = req->last_event_id,
	    .mask = (ROLE_BIT(s->role) & ROLE_SET_AUDIT) != 0 ? LIVE_MASK_AUDIT
	                                                      : LIVE_MASK_BASIC,
	};
	struct live_stream *v, st = {0};
	int64_t now = live_now_ms(), left;
	size_t i, keep;
	int r;

	if (s->until != 0) {
		left = s->until - now / 1000;
		o.max_secs =
		    left > 1 ? (unsigned)(left > 86400 ? 86400 : left) : 1;
	}
	/* Forget the streams that have ended by now for certain. */
	for (i = keep = 0; i < l->nstreams; i++) {
		if (now - l->streams[i].opened >
		    (int64_t)(NET_STREAM_MAX_SECS + 60) * 1000)
			live_stream_clear(&l->streams[i]);
		else
			l->streams[keep++] = l->streams[i];
	}
	l->nstreams = keep;
	/* A client that opens stream after stream must not grow the list
	 * without bound: past LIVE_STREAMS_KEPT the oldest is forgotten (if
	 * it is still open, it still ends at its lifetime). */
	if (l->nstreams >= LIVE_STREAMS_KEPT) {
		live_stream_clear(&l->streams[0]);
		memmove(&l->streams[0], &l->streams[1],
		        (l->nstreams - 1) * sizeof(*l->streams));
		l->nstreams--;
	}
	st.opened = now;
	st.authorization = strdup(req->authorization);
	st.cookie = strdup(req->cookie);
	v = realloc(l->streams, (l->nstreams + 1) * sizeof(*v));
	if (st.authorization == NULL || st.cookie == NULL || v == NULL) {
		live_stream_clear(&st);
		if (v != NULL)
			l->streams = v;
		return -ERR_NOMEM;
	}
	l->streams = v;
	if ((r = net_response_stream(c->net, resp, &o, &st.id)) != 0) {
		live_stream_clear(&st);
		return r;
	}
	/* After the stream took its place in the event numbering: what the
	 * counters are now, then whatever changed since. */
	buf_reset(&resp->body);
	if (live_counts(c, &resp->body, o.mask) != 0)
		buf_reset(&resp->body); /* the events will follow */
	l->streams[l->nstreams++] = st;
	return 0;
}

/* Ends the streams whose credentials no longer hold (core thread). */
static void live_recheck(struct live *l, struct core *c)
{
	struct api_ctx a;
	size_t i, keep;
	int r;

	core_api_ctx(c, &a);
	for (i = keep = 0; i < l->nstreams; i++) {
		r = api_recheck(&a, l->streams[i].authorization,
		                l->streams[i].cookie);
		/* A store that is away ends nothing (as api.c's sessions). */
		if (r == 0 || r == -ERR_INTERNAL || r == -ERR_IO) {
			l->streams[keep++] = l->streams[i];
			continue;
		}
		core_log(c, CORE_LOG_INFO,
		         "live: an event stream's credentials no longer hold "
		         "(%s): ending it",
		         err_str(r));
		(void)net_stream_end(c->net, l->streams[i].id);
		live_stream_clear(&l->streams[i]);
	}
	l->nstreams = keep;
}

int64_t live_flush(struct live *l, struct core *c)
{
	struct api_ctx a;
	struct store_device dev;
	char *ids[LIVE_DEVICES_MAX];
	size_t n, i;
	bool overflow, counts;
	int64_t now = live_now_ms(), next = 0;
	struct diag d;

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->mu);
	n = l->ndevices;
	memcpy(ids, l->devices, n * sizeof(*ids));
	l->ndevices = 0;
	overflow = l->overflow;
	l->overflow = false;
	counts = l->counts;
	if (counts && now >= l->next_counts)
		l->counts = false;
	pthread_mutex_unlock(&l->mu);

	/* No one is watching: no store reads on the core thread. A console
	 * that comes back with its Last-Event-ID is told to read the device
	 * list again ("devices" is kept for replays), and every stream opens
	 * with the counters and the push progress as they are then. */
	if (net_stream_count(c->net) == 0) {
		for (i = 0; i < n; i++)
			free(ids[i]);
		if (n > 0 || overflow)
			live_send(c, LIVE_MASK_ALL, "devices", json_object());
		if (counts && now >= l->next_counts)
			l->next_counts = now + LIVE_COUNTS_MS;
		else if (counts)
			next = l->next_counts;
		return next;
	}
	core_api_ctx(c, &a);
	for (i = 0; i < n; i++) {
		memset(&dev, 0, sizeof(dev));
		diag_clear(&d);
		if (!overflow && store_device_get(c->st, ids[i], &dev, &d) == 0)
			live_send(c, LIVE_MASK_ALL, "device",
			          api_device_object(&a.hooks, &dev));
		store_device_clear(&dev);
		free(ids[i]);
	}
	if (overflow)
		live_send(c, LIVE_MASK_ALL, "devices", json_object());
	if (counts && now >= l->next_counts) {
		(void)live_counts(c, NULL, LIVE_MASK_ALL);
		l->next_counts = now + LIVE_COUNTS_MS;
	} else if (counts) {
		next = l->next_counts;
	}
	if (l->nstreams > 0 && now >= l->next_recheck) {
		live_recheck(l, c);
		l->next_recheck = now + LIVE_RECHECK_SECS * 1000;
	}
	if (l->nstreams > 0 && (next == 0 || l->next_recheck < next))
		next = l->next_recheck;
	return next;
}
