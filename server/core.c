/* SPDX-License-Identifier: MIT */
/* mcpfleetd's core thread: the store, the admin API, enrollment, and each
 * new signed revision, handed to the hub through a locked mailbox. */
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "scim.h"
#include "enroll.h"
#include "fileio.h"
#include "hub.h"
#include "live.h"
#include "metrics.h"
#include "oidc.h"
#include "role.h"
#include "mcpfleet.pb-c.h"
#include "renew.h"
#include "replica.h"
#include "session.h"
#include "store.h"
#include "web.h"

#define CORE_ONLINE_ID_MAX 128
/* Notifications from other replicas kept apart; beyond, read everything. */
#define CORE_NOTES_MAX 4096
/* Sync reports stored with one store call at most (core_touch_run()). */
#define CORE_TOUCH_BATCH 512

enum core_job_kind {
	CORE_JOB_EXCHANGE,
	CORE_JOB_OIDC, /* an exchange back from the provider's thread */
	CORE_JOB_TOUCH,
	CORE_JOB_DELIVERY,
	CORE_JOB_CALLS,
	CORE_JOB_RENEW,
};

struct core_job {
	enum core_job_kind kind;
	struct core_job *next;
	/* CORE_JOB_EXCHANGE */
	struct net_exchange *ex;
	const struct net_request *req;
	struct net_response *resp;
	uint64_t arrived_ns; /* core_now_ns() when it was queued */
	size_t slot;         /* its route in the metrics (core_exchange()) */
	/* A sign-in step that needs the provider (oidc_begin()): the job
	 * goes to the provider's thread and comes back as CORE_JOB_OIDC. */
	struct oidc_pending *oidc;
	/* CORE_JOB_TOUCH, CORE_JOB_DELIVERY */
	char *device_id;
	uint64_t revision;
	char *report_json;
	int64_t *secret_ids;
	size_t nsecrets;
	/* CORE_JOB_CALLS */
	struct store_call_list calls;
	int64_t calls_dropped; /* the agent's count */
	/* CORE_JOB_RENEW (with device_id) */
	char *serial;
	char *cert_key_id;
	char *req_device_id;
	uint8_t *csr;
	size_t csr_len;
};

/* ---- Logging ---- */

uint64_t core_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void core_log(const struct core *c, int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info"};
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	if (level == CORE_LOG_INFO && (c == NULL || !c->verbose))
		return;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s mcpfleetd: %s: ", stamp, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- Shared objects ---- */

void core_pub_release(struct core_pub *p)
{
	size_t i;

	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	publication_free(p->p);
	for (i = 0; i < p->nadded; i++)
		free(p->added[i]);
	free(p->added);
	free(p);
}

static struct core_pub *core_pub_ref(struct core_pub *p)
{
	if (p != NULL)
		atomic_fetch_add(&p->refs, 1);
	return p;
}

void core_device_clear(struct core_device *dev)
{
	if (dev == NULL)
		return;
	free(dev->serial);
	free(dev->id);
	free(dev->user);
	free(dev->revocation);
	memset(dev, 0, sizeof(*dev));
}

static void core_dir_release(struct core_dir *dir)
{
	size_t i;

	if (dir == NULL || atomic_fetch_sub(&dir->refs, 1) != 1)
		return;
	for (i = 0; i < dir->n; i++)
		core_device_clear(&dir->v[i]);
	free(dir->v);
	free(dir);
}

static int core_device_cmp(const void *a, const void *b)
{
	const struct core_device *x = a, *y = b;

	return strcmp(x->serial, y->serial);
}

static const struct core_device *core_dir_find(const struct core_dir *dir,
                                               const char *serial)
{
	struct core_device key;

	if (dir == NULL || dir->n == 0)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.serial = (char *)(uintptr_t)serial;
	return bsearch(&key, dir->v, dir->n, sizeof(*dir->v), core_device_cmp);
}

static int core_device_copy(const struct core_device *s,
                            struct core_device *out)
{
	struct core_device d;

	memset(&d, 0, sizeof(d));
	d.serial = strdup(s->serial);
	d.id = strdup(s->id);
	d.user = strdup(s->user);
	d.revoked = s->revoked;
	if (s->revocation != NULL) {
		d.revocation = malloc(s->revocation_len);
		if (d.revocation != NULL) {
			memcpy(d.revocation, s->revocation, s->revocation_len);
			d.revocation_len = s->revocation_len;
		}
	}
	if (d.serial == NULL || d.id == NULL || d.user == NULL ||
	    (s->revocation != NULL && d.revocation == NULL)) {
		core_device_clear(&d);
		return -ERR_NOMEM;
	}
	*out = d;
	return 0;
}

int core_dir_lookup(struct core *c, const char *serial, struct core_device *out)
{
	const struct core_device *dev;
	int r = -ERR_NOENT;

	pthread_mutex_lock(&c->mu);
	dev = core_dir_find(c->dir, serial);
	if (dev != NULL)
		r = core_device_copy(dev, out);
	pthread_mutex_unlock(&c->mu);
	return r;
}

bool core_dir_known(struct core *c, const char *serial)
{
	bool known;

	pthread_mutex_lock(&c->mu);
	known = core_dir_find(c->dir, serial) != NULL;
	pthread_mutex_unlock(&c->mu);
	return known;
}

/*
 * Rebuilds the device directory from the store (core thread). A revoked
 * device keeps the revocation already signed for it; a newly revoked one
 * gets one signed now, at the current revision.
 */
/*
 * The signed revocation of a revoked device in a shared store: the one
 * stored, or, when none is yet, one signed now and stored unless another
 * replica stored its own first; either way the stored bytes, so that every
 * replica hands out the same revocation.
 */
static int core_revocation_shared(struct core *c, const struct store_device *sd,
                                  int64_t rev, uint8_t **out, size_t *len,
                                  struct diag *d)
{
	uint8_t *env = NULL;
	size_t n = 0;
	int r;

	r = store_revocation_get(c->st, sd->id, out, len, d);
	if (r != -ERR_NOENT)
		return r;
	r = publish_revocation(
	    &c->pki, c->rng, sd->user_name, sd->id, (uint64_t)rev,
	    sd->revoked_at, sd->revoke_reason != NULL ? sd->revoke_reason : "",
	    &env, &n, d);
	if (r == 0)
		r = store_revocation_put(c->st, sd->id, env, n, d);
	free(env);
	if (r != 0)
		return r;
	return store_revocation_get(c->st, sd->id, out, len, d);
}

/* The index in l (ordered by id) of device id, or l->n. */
static size_t core_dir_device_index(const struct store_device_list *l,
                                    const char *id)
{
	size_t lo = 0, hi = l->n, mid;
	int k;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		k = strcmp(l->v[mid].id, id);
		if (k == 0)
			return mid;
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return l->n;
}

/*
 * Adds to dir (whose first l->n entries are l's devices, in l's order) an
 * entry for every earlier certificate of a device that is still known
 * (docs/design.md, "Certificate renewal"): the same device, user and
 * revocation under the old serial. Returns 0 or -ERR_NOMEM.
 */
static int core_dir_add_certs(struct core_dir *dir,
                              const struct store_device_list *l,
                              const struct store_device_cert_list *certs)
{
	struct core_device *v, *cd;
	size_t i, k;

	if (certs->n == 0)
		return 0;
	v = realloc(dir->v, (dir->n + certs->n) * sizeof(*v));
	if (v == NULL)
		return -ERR_NOMEM;
	dir->v = v;
	dir->cap = dir->n + certs->n;
	for (i = 0; i < certs->n; i++) {
		k = core_dir_device_index(l, certs->v[i].device_id);
		if (k == l->n)
			continue; /* removed meanwhile */
		cd = &dir->v[dir->n];
		if (core_device_copy(&dir->v[k], cd) != 0)
			return -ERR_NOMEM;
		dir->n++;
		free(cd->serial);
		if ((cd->serial = strdup(certs->v[i].serial)) == NULL)
			return -ERR_NOMEM;
	}
	return 0;
}

static int core_dir_rebuild(struct core *c, struct store_id_list *newly,
                            struct diag *d)
{
	struct store_device_cert_list certs = {0};
	struct store_device_list l = {0};
	struct core_dir *dir, *old;
	const struct core_device *prev;
	int64_t rev = 0;
	size_t i;
	int r;

	r = store_device_list(c->st, 0, &l, d);
	if (r != 0)
		return r;
	if ((r = store_device_certs(c->st, &certs, d)) != 0)
		goto out;
	r = store_revision_current(c->st, &rev, d);
	if (r != 0)
		goto out;
	r = -ERR_NOMEM;
	dir = calloc(1, sizeof(*dir));
	if (dir == NULL)
		goto out;
	atomic_init(&dir->refs, 1);
	dir->cap = l.n > 0 ? l.n : 1;
	dir->v = calloc(dir->cap, sizeof(*dir->v));
	if (dir->v == NULL) {
		free(dir);
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	old = c->dir;
	if (old != NULL)
		atomic_fetch_add(&old->refs, 1);
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < l.n; i++) {
		const struct store_device *sd = &l.v[i];
		struct core_device *cd = &dir->v[dir->n];

		cd->serial = strdup(sd->cert_serial);
		cd->id = strdup(sd->id);
		cd->user = strdup(sd->user_name);
		cd->revoked = sd->status == STORE_DEVICE_REVOKED;
		dir->n++;
		if (cd->serial == NULL || cd->id == NULL || cd->user == NULL)
			goto fail;
		if (!cd->revoked)
			continue;
		prev = core_dir_find(old, sd->cert_serial);
		/* Active here until now: connected to this replica, maybe. */
		if (newly != NULL && prev != NULL && !prev->revoked) {
			char **v =
			    realloc(newly->v, (newly->n + 1) * sizeof(*v));

			if (v == NULL)
				goto fail;
			newly->v = v;
			if ((v[newly->n] = strdup(sd->id)) == NULL)
				goto fail;
			newly->n++;
		}
		if (prev != NULL && prev->revocation != NULL) {
			cd->revocation = malloc(prev->revocation_len);
			if (cd->revocation == NULL)
				goto fail;
			memcpy(cd->revocation, prev->revocation,
			       prev->revocation_len);
			cd->revocation_len = prev->revocation_len;
			continue;
		}
		if (c->shared)
			r = core_revocation_shared(c, sd, rev, &cd->revocation,
			                           &cd->revocation_len, d);
		else
			r = publish_revocation(
			    &c->pki, c->rng, sd->user_name, sd->id,
			    (uint64_t)rev, sd->revoked_at,
			    sd->revoke_reason != NULL ? sd->revoke_reason : "",
			    &cd->revocation, &cd->revocation_len, d);
		if (r != 0)
			goto fail;
		r = -ERR_NOMEM;
	}
	if (core_dir_add_certs(dir, &l, &certs) != 0)
		goto fail;
	qsort(dir->v, dir->n, sizeof(*dir->v), core_device_cmp);
	core_dir_release(old);
	pthread_mutex_lock(&c->mu);
	old = c->dir;
	c->dir = dir;
	pthread_mutex_unlock(&c->mu);
	core_dir_release(old);
	r = 0;
	goto out;
fail:
	core_dir_release(old);
	core_dir_release(dir);
	if (r == -ERR_NOMEM)
		diag_set(d, ERR_NOMEM, 0, 0, "device directory: out of memory");
out:
	store_device_list_free(&l);
	store_device_cert_list_free(&certs);
	return r;
}

/*
 * Inserts a newly enrolled device into the directory (core thread), so
 * that its first handshake finds it: O(log n) to find its place and one
 * memmove, where core_dir_rebuild() reads every device again. Returns 0,
 * -ERR_EXISTS for a known serial or -ERR_NOMEM (the directory unchanged).
 */
static int core_dir_add(struct core *c, const char *serial, const char *id,
                        const char *user)
{
	struct core_device dev, *v;
	struct core_dir *dir;
	size_t lo = 0, hi, mid;
	int k, r = 0;

	memset(&dev, 0, sizeof(dev));
	dev.serial = strdup(serial);
	dev.id = strdup(id);
	dev.user = strdup(user);
	if (dev.serial == NULL || dev.id == NULL || dev.user == NULL) {
		core_device_clear(&dev);
		return -ERR_NOMEM;
	}
	pthread_mutex_lock(&c->mu);
	if ((dir = c->dir) == NULL) {
		r = -ERR_INTERNAL; /* core_open() built one */
		goto out;
	}
	hi = dir->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		k = strcmp(dir->v[mid].serial, serial);
		if (k == 0) {
			r = -ERR_EXISTS;
			goto out;
		}
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Room for one more, in doubling steps: enrollments come in runs. */
	if (dir->n == dir->cap) {
		v = realloc(dir->v, 2 * dir->cap * sizeof(*v));
		if (v == NULL) {
			r = -ERR_NOMEM;
			goto out;
		}
		dir->v = v;
		dir->cap *= 2;
	}
	memmove(&dir->v[lo + 1], &dir->v[lo], (dir->n - lo) * sizeof(*dir->v));
	dir->v[lo] = dev;
	dir->n++;
	memset(&dev, 0, sizeof(dev));
out:
	pthread_mutex_unlock(&c->mu);
	core_device_clear(&dev);
	return r;
}

static void core_added_clear(struct core *c)
{
	size_t i;

	for (i = 0; i < c->nadded; i++)
		free(c->added[i]);
	free(c->added);
	c->added = NULL;
	c->nadded = 0;
}

/* Hands the hub its new publication p (core thread; takes p). With
 * added, p is the current one plus c->added, which it takes. */
static int core_publish_set(struct core *c, struct publication *p, bool added,
                            struct diag *d)
{
	struct core_pub *cp, *old;

	cp = calloc(1, sizeof(*cp));
	if (cp == NULL) {
		publication_free(p);
		return diag_set(d, ERR_NOMEM, 0, 0, "publish: out of memory");
	}
	cp->p = p;
	if (added && c->pub != NULL) {
		cp->base = c->pub->p->revision;
		cp->added = c->added;
		cp->nadded = c->nadded;
		c->added = NULL;
		c->nadded = 0;
	}
	atomic_init(&cp->refs, 1);
	cp->published_ns = core_now_ns();
	metrics_revision(c->metrics, p->revision);
	core_pub_release(c->pub);
	c->pub = cp;
	pthread_mutex_lock(&c->mu);
	old = c->pending_pub;
	c->pending_pub = core_pub_ref(cp);
	pthread_mutex_unlock(&c->mu);
	core_pub_release(old);
	core_log(c, CORE_LOG_INFO, "revision %llu: %zu device(s)",
	         (unsigned long long)p->revision, p->n);
	live_mark_counts(c->live);
	if (c->net != NULL)
		net_wake(c->net);
	return 0;
}

static const struct publish_settings *core_settings(const struct core *c,
                                                    struct publish_settings *s)
{
	s->offline_grace = c->conf.offline_grace;
	s->call_spool_max = (uint64_t)c->conf.call_spool_max;
	return s;
}

/* Builds the next revision, every device's view anew, and hands it to the
 * hub (core thread). */
static int core_publish(struct core *c, struct diag *d)
{
	struct publish_settings set;
	struct publication *p = NULL;
	int r;

	r = publish_build_with(c->st, &c->pki, core_settings(c, &set), c->rng,
	                       &p, d);
	/* Every active device anew: the store now holds exactly this. */
	if (r == 0 && c->shared)
		c->synced = (int64_t)p->revision;
	if (r == 0)
		r = core_publish_set(c, p, false, d);
	if (r != 0)
		return r;
	c->dirty = false;
	core_added_clear(c); /* they are in it */
	return 0;
}

/*
 * The next revision when only devices were enrolled since the last (core
 * thread): the newest one plus their entries, signed on their own
 * (publish_add()), so that an enrollment costs the same in a fleet of ten
 * or ten thousand. Every enrollment that queued while the core was busy
 * shares the one revision.
 */
static int core_publish_added(struct core *c, struct diag *d)
{
	struct publish_settings set;
	struct publication *p = NULL;
	int r;

	if (c->pub == NULL)
		return core_publish(c, d);
	r = publish_add(c->st, &c->pki, core_settings(c, &set), c->rng,
	                c->pub->p, (const char *const *)c->added, c->nadded, &p,
	                d);
	/* The store holds the base plus these only when the base was the
	 * store's newest revision (no other replica's came between). */
	if (r == 0 && c->shared && c->synced == (int64_t)p->revision - 1)
		c->synced = (int64_t)p->revision;
	if (r == 0)
		r = core_publish_set(c, p, true, d);
	return r;
}

/* Remembers an enrolled device for core_publish_added(). Returns 0 or
 * -ERR_NOMEM. */
static int core_added_push(struct core *c, const char *device_id)
{
	char **v, *id;

	if ((id = strdup(device_id)) == NULL)
		return -ERR_NOMEM;
	v = realloc(c->added, (c->nadded + 1) * sizeof(*v));
	if (v == NULL) {
		free(id);
		return -ERR_NOMEM;
	}
	c->added = v;
	c->added[c->nadded++] = id;
	return 0;
}

struct core_pub *core_take_pub(struct core *c)
{
	struct core_pub *p;

	pthread_mutex_lock(&c->mu);
	p = c->pending_pub;
	c->pending_pub = NULL;
	pthread_mutex_unlock(&c->mu);
	return p;
}

static void core_enqueue(struct core *c, struct core_job *j);

void core_submit_calls(struct core *c, const char *device_id,
                       struct store_call *v, size_t n, uint64_t dropped)
{
	struct core_job *j = calloc(1, sizeof(*j));
	struct store_call_list l = {.v = v, .n = n};

	if (j == NULL || (j->device_id = strdup(device_id)) == NULL) {
		free(j);
		store_call_list_free(&l); /* not acknowledged: sent again */
		return;
	}
	j->kind = CORE_JOB_CALLS;
	j->calls = l;
	j->calls_dropped = (int64_t)(dropped & INT64_MAX);
	core_enqueue(c, j);
}

/*
 * Counts the outcomes of the added records of a stored batch. The store
 * skips the records it holds already, the lowest seqs of a batch sent
 * again; when it kept only some, those are the added highest.
 */
static void core_count_calls(struct core *c, const struct store_call_list *l,
                             size_t added)
{
	size_t i, k, higher;

	for (i = 0; i < l->n && added > 0; i++) {
		if (added < l->n) {
			for (k = 0, higher = 0; k < l->n; k++)
				if (l->v[k].seq > l->v[i].seq)
					higher++;
			if (higher >= added)
				continue;
		}
		metrics_calls(c->metrics, (unsigned)l->v[i].outcome, 1);
	}
}

/* Stores a batch and queues its acknowledgement for the hub. */
static void core_calls(struct core *c, const struct core_job *j)
{
	struct core_ack *a;
	uint64_t through = 0;
	size_t added = 0;
	struct diag d;

	diag_clear(&d);
	if (store_calls_insert(c->st, j->device_id, j->calls.v, j->calls.n,
	                       &added, &through, &d) != 0) {
		core_log(c, CORE_LOG_WARN,
		         "%s: a batch of %zu call records refused: %s",
		         j->device_id, j->calls.n, d.msg);
		return;
	}
	core_count_calls(c, &j->calls, added);
	if (j->calls_dropped > 0 &&
	    store_device_calls_dropped(c->st, j->device_id, j->calls_dropped,
	                               &d) != 0)
		core_log(c, CORE_LOG_WARN, "%s: %s", j->device_id, d.msg);
	pthread_mutex_lock(&c->mu);
	a = realloc(c->acks, (c->nacks + 1) * sizeof(*a));
	if (a != NULL) {
		c->acks = a;
		a[c->nacks].through = through;
		if ((a[c->nacks].device_id = strdup(j->device_id)) != NULL)
			c->nacks++;
	}
	pthread_mutex_unlock(&c->mu);
	net_wake(c->net);
}

struct core_ack *core_take_acks(struct core *c, size_t *n)
{
	struct core_ack *a;

	pthread_mutex_lock(&c->mu);
	a = c->acks;
	*n = c->nacks;
	c->acks = NULL;
	c->nacks = 0;
	pthread_mutex_unlock(&c->mu);
	return a;
}

void core_submit_renew(struct core *c, const char *device_id,
                       const char *serial, const char *cert_key_id,
                       const char *req_device_id, const uint8_t *csr,
                       size_t csr_len)
{
	struct core_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->device_id = strdup(device_id)) == NULL ||
	    (j->serial = strdup(serial)) == NULL ||
	    (j->cert_key_id = strdup(cert_key_id)) == NULL ||
	    (j->req_device_id =
	         strdup(req_device_id != NULL ? req_device_id : "")) == NULL ||
	    (csr_len > 0 && (j->csr = malloc(csr_len)) == NULL)) {
		if (j != NULL) {
			free(j->device_id);
			free(j->serial);
			free(j->cert_key_id);
			free(j->req_device_id);
		}
		free(j);
		return; /* unanswered: the agent asks again later */
	}
	if (csr_len > 0)
		memcpy(j->csr, csr, csr_len);
	j->csr_len = csr_len;
	j->kind = CORE_JOB_RENEW;
	core_enqueue(c, j);
}

/* Renews a device's certificate and queues the answer for the hub. */
static void core_renew(struct core *c, const struct core_job *j)
{
	struct renew_ctx ctx = {
	    .st = c->st,
	    .pki = &c->pki,
	    .rng = c->rng,
	    .device_days = c->conf.device_days,
	};
	struct renew_result res;
	struct buf out = BUF_INIT;
	struct core_frame *f;
	struct diag d;

	diag_clear(&d);
	if (renew_handle(&ctx, j->device_id, j->serial, j->cert_key_id,
	                 j->req_device_id, j->csr, j->csr_len, &out, &res,
	                 &d) != 0) {
		core_log(c, CORE_LOG_WARN,
		         "%s: certificate renewal refused: %s", j->device_id,
		         d.msg);
	} else {
		core_log(c, CORE_LOG_INFO,
		         "%s: certificate renewed: serial %s replaces %s",
		         j->device_id, res.cert.serial, j->serial);
		/* The new serial beside the old one, which stays valid until
		 * it expires; should that fail, everything again. */
		if (core_dir_add(c, res.cert.serial, j->device_id, res.user) !=
		    0) {
			diag_clear(&d);
			if (core_dir_rebuild(c, NULL, &d) != 0)
				core_log(c, CORE_LOG_ERR,
				         "device directory: %s", d.msg);
		}
	}
	if (out.len == 0) {
		buf_free(&out);
		return;
	}
	pthread_mutex_lock(&c->mu);
	f = realloc(c->frames, (c->nframes + 1) * sizeof(*f));
	if (f != NULL) {
		c->frames = f;
		f[c->nframes].data = (uint8_t *)out.data;
		f[c->nframes].len = out.len;
		if ((f[c->nframes].device_id = strdup(j->device_id)) != NULL) {
			c->nframes++;
			out = (struct buf)BUF_INIT;
		}
	}
	pthread_mutex_unlock(&c->mu);
	buf_free(&out);
	net_wake(c->net);
}

struct core_frame *core_take_frames(struct core *c, size_t *n)
{
	struct core_frame *f;

	pthread_mutex_lock(&c->mu);
	f = c->frames;
	*n = c->nframes;
	c->frames = NULL;
	c->nframes = 0;
	pthread_mutex_unlock(&c->mu);
	return f;
}

char **core_take_kicks(struct core *c, size_t *n)
{
	char **k;

	pthread_mutex_lock(&c->mu);
	k = c->kicks;
	*n = c->nkicks;
	c->kicks = NULL;
	c->nkicks = 0;
	pthread_mutex_unlock(&c->mu);
	return k;
}

uint8_t *core_take_replicas(struct core *c, size_t *len)
{
	uint8_t *f;

	pthread_mutex_lock(&c->mu);
	f = c->replicas_frame;
	*len = c->replicas_frame_len;
	c->replicas_frame = NULL;
	c->replicas_frame_len = 0;
	pthread_mutex_unlock(&c->mu);
	return f;
}

/* ---- The replica set (core thread) ---- */

static bool core_replicas_same(const struct store_id_list *a,
                               const struct store_id_list *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* Adds this replica's address to l when the store did not list it (a
 * failed heartbeat, a clock step): agents are always told of the replica
 * they talk to. Returns 0 or -ERR_NOMEM. */
static int core_replicas_self(struct core *c, struct store_id_list *l)
{
	char **v;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], c->agent_address) == 0)
			return 0;
	if (l->n >= REPLICAS_MAX) {
		l->n--;
		free(l->v[l->n]);
	}
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	l->v = v;
	if ((v[l->n] = strdup(c->agent_address)) == NULL)
		return -ERR_NOMEM;
	l->n++;
	return 0;
}

/* Packs the list as a ServerFrame and hands it to the hub. */
static void core_replicas_hand(struct core *c)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__Replicas rs;
	uint8_t *buf;
	size_t n;

	mcpfleet__v1__replicas__init(&rs);
	rs.agent_addresses = c->replicas.v;
	rs.n_agent_addresses = c->replicas.n;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS;
	fr.replicas = &rs;
	n = mcpfleet__v1__server_frame__get_packed_size(&fr);
	if ((buf = malloc(n)) == NULL) {
		core_log(c, CORE_LOG_ERR,
		         "out of memory: the replica set is not sent");
		return;
	}
	mcpfleet__v1__server_frame__pack(&fr, buf);
	pthread_mutex_lock(&c->mu);
	free(c->replicas_frame);
	c->replicas_frame = buf;
	c->replicas_frame_len = n;
	pthread_mutex_unlock(&c->mu);
	if (c->net != NULL)
		net_wake(c->net);
}

/*
 * The heartbeat, when due: records this replica as alive, forgets the
 * replicas not heard of for three of their periods, and reads the set; when it
 * changed, the hub tells every connected agent. A failing store keeps the
 * set as it was (this replica's address is in it anyway).
 */
static void core_replicas_beat(struct core *c)
{
	struct store_id_list l = {NULL, 0};
	int64_t now = (int64_t)time(NULL);
	struct diag d;
	size_t i;

	/* Due, or the clock went back by more than a period. */
	if (now < c->next_beat &&
	    c->next_beat - now <= c->conf.replica_heartbeat)
		return;
	/* For its first three periods a replica beats every second: replicas
	 * started together each see only those registered before them at
	 * their first beat, and an agent told a set of one then has nowhere
	 * to go should that replica die before its next beat. */
	if (c->beats_fast_until == 0)
		c->beats_fast_until = now + 3 * c->conf.replica_heartbeat;
	c->next_beat =
	    now + (now < c->beats_fast_until ? 1 : c->conf.replica_heartbeat);
	diag_clear(&d);
	if (store_replica_beat(c->st, c->agent_address,
	                       c->conf.replica_heartbeat, &d) != 0 ||
	    store_replica_prune(c->st, NULL, &d) != 0 ||
	    store_replica_list(c->st, &l, &d) != 0) {
		core_log(c, CORE_LOG_WARN, "replica heartbeat: %s", d.msg);
		store_id_list_free(&l);
		if (c->replicas.n > 0)
			return;
	}
	if (core_replicas_self(c, &l) != 0) {
		core_log(c, CORE_LOG_ERR, "out of memory: replica set");
		store_id_list_free(&l);
		return;
	}
	if (core_replicas_same(&l, &c->replicas)) {
		store_id_list_free(&l);
		return;
	}
	store_id_list_free(&c->replicas);
	c->replicas = l;
	if (c->verbose)
		for (i = 0; i < l.n; i++)
			core_log(c, CORE_LOG_INFO, "replica set: %zu/%zu %s%s",
			         i + 1, l.n, l.v[i],
			         strcmp(l.v[i], c->agent_address) == 0
			             ? " (this one)"
			             : "");
	core_replicas_hand(c);
}

/* ---- Who is connected ---- */

/* The entry of id, or where it would go; under mu. */
static size_t core_online_pos(const struct core *c, const char *id, bool *found)
{
	size_t lo = 0, hi = c->nonline, mid;
	int k;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		k = strcmp(c->online[mid].id, id);
		if (k == 0) {
			*found = true;
			return mid;
		}
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void core_online_set(struct core *c, const char *device_id, int64_t since,
                     bool up)
{
	struct core_online *v;
	bool found;
	size_t i;
	char *id;

	pthread_mutex_lock(&c->mu);
	i = core_online_pos(c, device_id, &found);
	if (found) {
		c->online[i].count += up ? 1 : -1;
		if (up)
			c->online[i].since = since;
		if (c->online[i].count <= 0) {
			free(c->online[i].id);
			memmove(&c->online[i], &c->online[i + 1],
			        (c->nonline - i - 1) * sizeof(*c->online));
			c->nonline--;
		}
	} else if (up && (id = strdup(device_id)) != NULL) {
		v = realloc(c->online, (c->nonline + 1) * sizeof(*v));
		if (v == NULL) {
			free(id);
		} else {
			c->online = v;
			memmove(&v[i + 1], &v[i],
			        (c->nonline - i) * sizeof(*v));
			v[i].id = id;
			v[i].since = since;
			v[i].count = 1;
			c->nonline++;
		}
	}
	/* The console's live view: the core thread reads the rest. */
	live_mark_device(c->live, device_id);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- Jobs ---- */

static void core_job_free(struct core_job *j)
{
	if (j == NULL)
		return;
	free(j->device_id);
	free(j->report_json);
	free(j->secret_ids);
	store_call_list_free(&j->calls);
	oidc_pending_free(j->oidc);
	free(j->serial);
	free(j->cert_key_id);
	free(j->req_device_id);
	free(j->csr);
	free(j);
}

static void core_enqueue(struct core *c, struct core_job *j)
{
	pthread_mutex_lock(&c->mu);
	if (c->jobs_tail != NULL)
		c->jobs_tail->next = j;
	else
		c->jobs_head = j;
	c->jobs_tail = j;
	c->njobs++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void core_fail_exchange(struct core *c, struct net_exchange *ex,
                               struct net_response *resp)
{
	resp->status = 500;
	net_respond(c->net, ex);
}

void core_submit_exchange(struct core *c, struct net_exchange *ex,
                          const struct net_request *req,
                          struct net_response *resp)
{
	struct core_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		core_fail_exchange(c, ex, resp);
		return;
	}
	j->kind = CORE_JOB_EXCHANGE;
	j->arrived_ns = core_now_ns();
	j->ex = ex;
	j->req = req;
	j->resp = resp;
	core_enqueue(c, j);
}

void core_submit_touch(struct core *c, const char *device_id,
                       uint64_t applied_revision, char *report_json)
{
	struct core_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->device_id = strdup(device_id)) == NULL) {
		free(j);
		free(report_json);
		return; /* only last_seen is lost */
	}
	j->kind = CORE_JOB_TOUCH;
	j->revision = applied_revision;
	j->report_json = report_json;
	core_enqueue(c, j);
}

void core_submit_delivery(struct core *c, const char *device_id,
                          uint64_t revision, const int64_t *secret_ids,
                          size_t n)
{
	struct core_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->device_id = strdup(device_id)) == NULL ||
	    (j->secret_ids = malloc(n * sizeof(*secret_ids))) == NULL) {
		if (j != NULL)
			free(j->device_id);
		free(j);
		core_log(c, CORE_LOG_ERR,
		         "%s: out of memory: a delivery is not recorded",
		         device_id);
		return;
	}
	j->kind = CORE_JOB_DELIVERY;
	j->revision = revision;
	memcpy(j->secret_ids, secret_ids, n * sizeof(*secret_ids));
	j->nsecrets = n;
	core_enqueue(c, j);
}

/* ---- API hooks (core thread) ---- */

static void core_hook_changed(void *arg)
{
	struct core *c = arg;

	c->dirty = true;
}

static void core_hook_committed(void *arg)
{
	struct core *c = arg;

	live_mark_counts(c->live); /* the overview's counters */
}

/* Hands the hub devices to send their revocation to and close. */
static void core_kick(struct core *c, const char *const *ids, size_t n)
{
	char **k;
	size_t i;

	pthread_mutex_lock(&c->mu);
	k = realloc(c->kicks, (c->nkicks + n) * sizeof(*k));
	if (k != NULL) {
		c->kicks = k;
		for (i = 0; i < n; i++)
			if ((k[c->nkicks] = strdup(ids[i])) != NULL)
				c->nkicks++;
	}
	pthread_mutex_unlock(&c->mu);
	net_wake(c->net);
}

static void core_hook_revoked(void *arg, const char *const *ids, size_t n)
{
	struct core *c = arg;
	struct diag d;
	size_t i;

	diag_clear(&d);
	if (core_dir_rebuild(c, NULL, &d) != 0)
		core_log(c, CORE_LOG_ERR, "device directory: %s", d.msg);
	c->dirty = true;
	for (i = 0; i < n; i++)
		live_mark_device(c->live, ids[i]);
	core_kick(c, ids, n);
}

static void core_hook_device_extra(void *arg, const char *device_id,
                                   json_t *obj)
{
	struct core *c = arg;
	const struct publication_entry *e;
	bool found;
	size_t i;
	json_t *om;

	pthread_mutex_lock(&c->mu);
	i = core_online_pos(c, device_id, &found);
	json_object_set_new(obj, "connected", json_boolean(found));
	json_object_set_new(obj, "connected_since",
	                    found ? json_integer(c->online[i].since)
	                          : json_null());
	pthread_mutex_unlock(&c->mu);
	if (c->pub == NULL)
		return;
	e = publication_find(c->pub->p, device_id);
	if (e == NULL || e->omitted_json == NULL)
		return;
	om = json_loads(e->omitted_json, 0, NULL);
	if (om != NULL)
		json_object_set_new(obj, "omitted", om);
}

static size_t core_hook_connected_count(void *arg)
{
	struct core *c = arg;
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->nonline;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* ---- Requests (core thread) ---- */

static void core_error(struct net_response *resp, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	resp->status = status;
	buf_reset(&resp->body);
	(void)net_response_type(resp, "application/json");
	if (s != NULL)
		(void)buf_puts(&resp->body, s);
	free(s);
	json_decref(o);
}

static void core_enroll(struct core *c, const struct net_request *req,
                        struct net_response *resp)
{
	struct enroll_ctx ex = {
	    .st = c->st,
	    .pki = &c->pki,
	    .rng = c->rng,
	    .device_days = c->conf.device_days,
	    .agent_port = net_agent_port(c->net),
	    .agent_addresses = (const char *const *)c->replicas.v,
	    .nagent_addresses = c->replicas.n,
	};
	struct enroll_result res;
	struct diag d;
	int status = 500;

	if (!enroll_limiter_allow(c->limiter, req->peer, store_now(c->st))) {
		metrics_enroll(c->metrics, METRICS_ENROLL_RATE_LIMITED);
		core_log(c, CORE_LOG_WARN,
		         "enroll from %s: refused: rate limit", req->peer);
		resp->status = 429;
		(void)net_response_type(resp, "text/plain");
		(void)buf_puts(
		    &resp->body,
		    "too many enrollment attempts from this address; "
		    "wait a minute\n");
		return;
	}
	diag_clear(&d);
	if (enroll_handle(&ex, req->peer, req->body, req->body_len, &status,
	                  &resp->body, &res, &d) != 0) {
		metrics_enroll(c->metrics, status >= 500
		                               ? METRICS_ENROLL_ERROR
		                               : METRICS_ENROLL_REFUSED);
		core_log(c, CORE_LOG_WARN, "enroll from %s: refused: %s",
		         req->peer, d.msg);
		resp->status = status;
		(void)net_response_type(resp, "text/plain");
		return;
	}
	metrics_enroll(c->metrics, METRICS_ENROLL_ENROLLED);
	resp->status = status;
	(void)net_response_type(resp, "application/x-protobuf");
	core_log(c, CORE_LOG_INFO, "enrolled %s for %s from %s", res.device_id,
	         res.user, req->peer);
	live_mark_device(c->live, res.device_id);
	/* The new device alone: into the directory, and into a revision of
	 * its own. Should either fail, the old way: everything again. */
	if (core_dir_add(c, res.cert.serial, res.device_id, res.user) == 0 &&
	    core_added_push(c, res.device_id) == 0)
		return;
	diag_clear(&d);
	if (core_dir_rebuild(c, NULL, &d) != 0)
		core_log(c, CORE_LOG_ERR, "device directory: %s", d.msg);
	c->dirty = true;
}

/* Refuses a method other than GET and HEAD; returns true when it did. */
static bool core_get_only(struct net_response *resp, const char *method)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return false;
	core_error(resp, 405, "use GET or HEAD");
	(void)net_response_header(resp, "Allow", "GET, HEAD");
	return true;
}

/*
 * GET /metrics: the scrape token of metrics_token_file, or an admin token
 * or console session whose role may read the audit (owner, admin,
 * auditor), as api_authorize() checks it.
 */
static void core_metrics(struct core *c, const struct api_ctx *a,
                         const struct net_request *req,
                         struct net_response *resp)
{
	const char *h = req->authorization;
	struct metrics_facts f = {0};

	if (core_get_only(resp, req->method))
		return;
	if (!(c->metrics_token != NULL && h != NULL &&
	      strncasecmp(h, "Bearer ", 7) == 0 &&
	      strlen(h + 7) == strlen(c->metrics_token) &&
	      crypto_ct_equal(h + 7, c->metrics_token,
	                      strlen(c->metrics_token))) &&
	    api_authorize(a, req, ROLE_SET_AUDIT, "reading the metrics",
	                  resp) != 0)
		return;
	f.connected = core_hook_connected_count(c);
	f.streams = net_stream_count(c->net);
	f.store_errors = store_errors(c->st);
	f.process = true;
	resp->status = 200;
	(void)net_response_type(resp, METRICS_CONTENT_TYPE);
	if (metrics_render(c->metrics, &f, &resp->body) != 0) {
		core_error(resp, 500, "out of memory");
		return;
	}
	(void)net_response_header(resp, "Cache-Control", "no-store");
}

static int core_hook_stream(void *arg, const struct net_request *req,
                            struct net_response *resp,
                            const struct api_stream *st)
{
	struct core *c = arg;

	return live_open(c->live, c, req, resp, st);
}

void core_api_ctx(struct core *c, struct api_ctx *a)
{
	*a = (struct api_ctx){
	    .st = c->st,
	    .rng = c->rng,
	    .master = c->pki.master,
	    .signer = c->pki.signer,
	    .signer_pub_pem = c->pki.signer_pub_pem,
	    .signer_key_id = c->pki.signer_key_id,
	    .link_host = c->conf.names[0],
	    .api_port = net_api_port(c->net),
	    .ca_pin = c->pki.ca_pin,
	    .token_ttl = c->conf.token_ttl,
	    .sessions = c->sessions,
	    .refusals = c->refusals,
	    .replicas = (const char *const *)c->replicas.v,
	    .nreplicas = c->replicas.n,
	    .replica = c->agent_address,
	    .hooks =
	        {
	            .arg = c,
	            .changed = core_hook_changed,
	            .revoked = core_hook_revoked,
	            .device_extra = core_hook_device_extra,
	            .connected_count = core_hook_connected_count,
	            .committed = core_hook_committed,
	            .stream = core_hook_stream,
	        },
	};
}

/* Answers one request of the API port, or sets *oidc to the sign-in
 * step that must ask the provider first; returns its route in the
 * metrics. */
static size_t core_exchange(struct core *c, const struct net_request *req,
                            struct net_response *resp,
                            struct oidc_pending **oidc)
{
	struct api_ctx a;
	size_t route;

	core_api_ctx(c, &a);
	/* Console sign-in with OpenID Connect has paths of its own. */
	if (net_request_under(req, OIDC_PREFIX)) {
		struct oidc_call_ctx x = {c->st, c->rng, c->sessions, 0};

		*oidc = oidc_begin(c->oidc, &x, req, resp);
		return c->slot_oidc;
	}
	/* SCIM provisioning (server/scim.c) goes through the API too. */
	if (net_request_under(req, "/api/v1") ||
	    net_request_under(req, SCIM_PREFIX)) {
		api_handle(&a, req, resp);
		if (net_request_under(req, SCIM_PREFIX))
			return c->slot_scim;
		return api_route_find(req->method, req->path, &route) == 0
		           ? c->route_slot[route]
		           : c->slot_other;
	}
	if (strcmp(req->path, "/v1/enroll") == 0) {
		if (strcmp(req->method, "POST") != 0) {
			core_error(resp, 405, "use POST");
			(void)net_response_header(resp, "Allow", "POST");
		} else
			core_enroll(c, req, resp);
		return c->slot_enroll;
	}
	if (strcmp(req->path, "/healthz") == 0) {
		if (!core_get_only(resp, req->method)) {
			resp->status = 200;
			(void)net_response_type(resp, "text/plain");
			(void)buf_puts(&resp->body, "ok\n");
		}
		return c->slot_healthz;
	}
	if (strcmp(req->path, "/metrics") == 0) {
		core_metrics(c, &a, req, resp);
		return c->slot_metrics;
	}
	/* Everything else that is not an API is the web console's. */
	if (strncmp(req->path, "/api/", 5) != 0 &&
	    strncmp(req->path, "/v1/", 4) != 0) {
		web_serve(req, resp);
		return c->slot_console;
	}
	core_error(resp, 404, "not found");
	return c->slot_other;
}

static void core_job_run(struct core *c, struct core_job *j)
{
	struct diag d;
	size_t i;

	diag_clear(&d);
	switch (j->kind) {
	case CORE_JOB_EXCHANGE:
		j->slot = core_exchange(c, j->req, j->resp, &j->oidc);
		break;
	case CORE_JOB_OIDC: {
		struct oidc_call_ctx x = {c->st, c->rng, c->sessions, 0};

		oidc_finish(c->oidc, &x, j->req, j->oidc, j->resp);
		j->oidc = NULL;
		break;
	}
	case CORE_JOB_CALLS:
		core_calls(c, j);
		break;
	case CORE_JOB_RENEW:
		core_renew(c, j);
		break;
	case CORE_JOB_TOUCH:
		if (store_device_touch(c->st, j->device_id, store_now(c->st),
		                       (int64_t)(j->revision & INT64_MAX),
		                       j->report_json, &d) != 0)
			core_log(c, CORE_LOG_WARN, "%s: %s", j->device_id,
			         d.msg);
		else
			live_mark_device(c->live, j->device_id);
		break;
	case CORE_JOB_DELIVERY:
		for (i = 0; i < j->nsecrets; i++)
			if (store_delivery_record(
			        c->st, j->device_id, j->secret_ids[i],
			        (int64_t)(j->revision & INT64_MAX), &d) != 0)
				core_log(c, CORE_LOG_ERR,
				         "%s: delivery not recorded: %s",
				         j->device_id, d.msg);
		break;
	}
}

/* Drops the calls older than calls_retention, at most once an hour. */
static void core_prune_calls(struct core *c, int64_t *next)
{
	int64_t now = store_now(c->st);
	size_t n = 0;
	struct diag d;

	if (now < *next)
		return;
	*next = now + 3600;
	diag_clear(&d);
	if (store_calls_prune(c->st, now - c->conf.calls_retention, &n, &d) !=
	    0)
		core_log(c, CORE_LOG_WARN, "calls retention: %s", d.msg);
	else if (n > 0)
		core_log(c, CORE_LOG_INFO,
		         "calls retention: %zu call records older than %lld s "
		         "removed",
		         n, (long long)c->conf.calls_retention);
}

void core_remote_changed(struct core *c, const char *payload)
{
	char **v, *note = NULL;

	pthread_mutex_lock(&c->mu);
	if (payload == NULL || c->nremote_notes >= CORE_NOTES_MAX ||
	    (note = strdup(payload)) == NULL ||
	    (v = realloc(c->remote_notes,
	                 (c->nremote_notes + 1) * sizeof(*v))) == NULL) {
		/* Too many to tell apart, or no memory: read everything. */
		free(note);
		c->remote_all = true;
	} else {
		c->remote_notes = v;
		v[c->nremote_notes++] = note;
	}
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void core_notes_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Does b hold exactly a's entries at a's revision? */
static bool core_pub_same(const struct publication *a,
                          const struct publication *b)
{
	size_t i;

	if (a == NULL || a->n != b->n || a->revision != b->revision)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->v[i] != b->v[i])
			return false;
	return true;
}

/*
 * An enrolled device that a notification named ("device ID"): into the
 * directory, as core_enroll() puts its own (a known one is left alone).
 * Returns 0, or 1 when the directory must be read whole (the device is
 * revoked already), or the error.
 */
static int core_dir_sync_one(struct core *c, const char *id, struct diag *d)
{
	struct store_device dev;
	int r;

	memset(&dev, 0, sizeof(dev));
	live_mark_device(c->live, id); /* another replica's news */
	r = store_device_get(c->st, id, &dev, d);
	if (r == -ERR_NOENT)
		return 0; /* its enrollment was undone */
	if (r != 0)
		return r;
	if (dev.status != STORE_DEVICE_ACTIVE)
		r = 1;
	else if ((r = core_dir_add(c, dev.cert_serial, dev.id,
	                           dev.user_name)) == -ERR_EXISTS)
		r = 0;
	store_device_clear(&dev);
	return r;
}

/* The directory after the notes (all: read it whole). */
static int core_sync_dir(struct core *c, char **notes, size_t n, bool all,
                         struct diag *d)
{
	struct store_id_list newly = {NULL, 0};
	size_t i;
	int r = 0;

	for (i = 0; !all && i < n; i++) {
		if (strncmp(notes[i], "device ", 7) == 0) {
			if ((r = core_dir_sync_one(c, notes[i] + 7, d)) < 0)
				return r;
			all = r == 1;
		} else if (strcmp(notes[i], "devices") == 0) {
			all = true;
		}
	}
	if (!all)
		return 0;
	if ((r = core_dir_rebuild(c, &newly, d)) != 0) {
		store_id_list_free(&newly);
		return r;
	}
	if (newly.n > 0) {
		core_log(c, CORE_LOG_INFO,
		         "replicas: %zu device(s) revoked elsewhere", newly.n);
		core_kick(c, (const char *const *)newly.v, newly.n);
	}
	store_id_list_free(&newly);
	return 0;
}

/*
 * Catches up with what other replicas committed (core thread), as their
 * notifications say (notes, n of them; all: everything, after the
 * listening connection was made again): the device directory (enrolled
 * devices get in; devices revoked elsewhere that are connected here get
 * their revocation and are closed) and the newest revision, as the replica
 * that made it signed and recorded it. Returns 0 or the error, logged; the
 * caller tries again later, reading everything.
 */
static int core_sync(struct core *c, char **notes, size_t n, bool all)
{
	struct publication *p = NULL;
	bool pub = all, full = all;
	int64_t synced = 0;
	struct diag d;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (strncmp(notes[i], "revision ", 9) == 0)
			pub = true;
		else if (strncmp(notes[i], "prune ", 6) == 0)
			pub = full = true;
		else if (strncmp(notes[i], "device ", 7) != 0 &&
		         strcmp(notes[i], "devices") != 0)
			all = pub = full = true; /* unknown: everything */
	}
	diag_clear(&d);
	if ((r = core_sync_dir(c, notes, n, all, &d)) != 0) {
		core_log(c, CORE_LOG_WARN, "replicas: device directory: %s",
		         d.msg);
		return r;
	}
	if (!pub)
		return 0;
	diag_clear(&d);
	r = publish_load(c->st, &c->pki, c->pub != NULL ? c->pub->p : NULL,
	                 c->synced, full, &p, &synced, &d);
	if (r == -ERR_NOENT) {
		diag_clear(&d);
		r = publish_load(c->st, &c->pki, NULL, 0, true, &p, &synced,
		                 &d);
	}
	if (r != 0) {
		core_log(c, CORE_LOG_WARN, "replicas: revision: %s", d.msg);
		return r;
	}
	c->synced = synced;
	if (core_pub_same(c->pub != NULL ? c->pub->p : NULL, p)) {
		publication_free(p);
		return 0;
	}
	core_log(c, CORE_LOG_INFO, "replicas: revision %llu from the store",
	         (unsigned long long)p->revision);
	diag_clear(&d);
	if ((r = core_publish_set(c, p, false, &d)) != 0)
		core_log(c, CORE_LOG_ERR, "replicas: %s", d.msg);
	return r;
}

/* Hands an exchange's sign-in step to the provider's thread (or, when
 * that thread could not be started, asks the provider here). */
static void core_oidc_submit(struct core *c, struct core_job *j)
{
	if (!c->oidc_started) {
		oidc_provider(c->oidc, j->oidc);
		j->kind = CORE_JOB_OIDC;
		j->next = NULL;
		core_enqueue(c, j);
		return;
	}
	pthread_mutex_lock(&c->oidc_mu);
	j->next = NULL;
	if (c->oidc_tail != NULL)
		c->oidc_tail->next = j;
	else
		c->oidc_head = j;
	c->oidc_tail = j;
	pthread_cond_signal(&c->oidc_cv);
	pthread_mutex_unlock(&c->oidc_mu);
}

/* The provider's thread: asks the provider for each queued step, one at a
 * time, and hands the job back to the core to finish and answer. */
static void *core_oidc_thread(void *arg)
{
	struct core *c = arg;
	struct core_job *j;

	for (;;) {
		pthread_mutex_lock(&c->oidc_mu);
		while (!c->oidc_stop && c->oidc_head == NULL)
			pthread_cond_wait(&c->oidc_cv, &c->oidc_mu);
		if (c->oidc_stop) {
			pthread_mutex_unlock(&c->oidc_mu);
			break;
		}
		j = c->oidc_head;
		if ((c->oidc_head = j->next) == NULL)
			c->oidc_tail = NULL;
		pthread_mutex_unlock(&c->oidc_mu);
		oidc_provider(c->oidc, j->oidc);
		j->kind = CORE_JOB_OIDC;
		j->next = NULL;
		core_enqueue(c, j);
	}
	return NULL;
}

/*
 * Stores the sync reports (CORE_JOB_TOUCH) queued one after another from
 * first on, CORE_TOUCH_BATCH at most, with one store call
 * (store_device_touch_many(): with PostgreSQL one round trip instead of
 * several each, which at 2,000 agents held the core for a second after
 * every push: docs/BENCHMARKS.md), and frees them; returns the job after them.
 * When that fails they are stored one at a time, each failure logged as its
 * own.
 */
static struct core_job *core_touch_run(struct core *c, struct core_job *first)
{
	struct store_touch v[CORE_TOUCH_BATCH];
	struct core_job *j, *end = first;
	int64_t now = store_now(c->st);
	struct diag d;
	size_t n = 0;

	while (end != NULL && end->kind == CORE_JOB_TOUCH &&
	       n < CORE_TOUCH_BATCH) {
		v[n++] = (struct store_touch){
		    end->device_id, now, (int64_t)(end->revision & INT64_MAX),
		    end->report_json};
		end = end->next;
	}
	diag_clear(&d);
	if (store_device_touch_many(c->st, v, n, &d) == 0) {
		for (j = first; j != end; j = j->next)
			live_mark_device(c->live, j->device_id);
	} else {
		core_log(c, CORE_LOG_WARN,
		         "%zu sync reports: %s; storing them one at a time", n,
		         d.msg);
		for (j = first; j != end; j = j->next)
			core_job_run(c, j);
	}
	while ((j = first) != end) {
		first = j->next;
		core_job_free(j);
	}
	return end;
}

/*
 * The core thread: takes every queued job and runs them, answers the
 * requests among them, then makes one new revision if any of them changed
 * something, and hands it to the hub. An admin's answer does not wait for
 * the build (at 10,000 devices a few hundred milliseconds); the next
 * request does, since it runs here after it.
 */
static void *core_thread(void *arg)
{
	struct core *c = arg;
	struct core_job *jobs, *j, *answer, **atail;
	int64_t next_prune = 0, live_next = 0;
	char **notes;
	size_t nnotes;
	bool remote_all;
	struct diag d;

	core_prune_calls(c, &next_prune);
	for (;;) {
		pthread_mutex_lock(&c->mu);
		/* Until a job or another replica's notification comes, the
		 * next heartbeat is due, or, after a failed catch-up, a
		 * second has passed. */
		while (!c->stop && c->jobs_head == NULL &&
		       c->nremote_notes == 0 && !c->remote_all &&
		       !live_due(c->live)) {
			struct timespec ts, now;

			ts.tv_sec = (time_t)c->next_beat;
			ts.tv_nsec = 0;
			/* The live view's counters, held back a moment. */
			if (live_next != 0 && live_next / 1000 < ts.tv_sec) {
				ts.tv_sec = (time_t)(live_next / 1000);
				ts.tv_nsec = (long)(live_next % 1000) * 1000000;
			}
			if (c->sync_retry) {
				clock_gettime(CLOCK_REALTIME, &now);
				if (now.tv_sec + 1 < ts.tv_sec) {
					ts = now;
					ts.tv_sec += 1;
				}
			}
			if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) ==
			    ETIMEDOUT) {
				if (c->sync_retry)
					c->remote_all = true;
				break;
			}
		}
		jobs = c->jobs_head;
		c->jobs_head = c->jobs_tail = NULL;
		c->njobs = 0;
		notes = c->remote_notes;
		nnotes = c->nremote_notes;
		remote_all = c->remote_all;
		c->remote_notes = NULL;
		c->nremote_notes = 0;
		c->remote_all = false;
		if (c->stop && jobs == NULL) {
			pthread_mutex_unlock(&c->mu);
			core_notes_free(notes, nnotes);
			break;
		}
		pthread_mutex_unlock(&c->mu);
		core_prune_calls(c, &next_prune);
		core_replicas_beat(c);
		answer = NULL;
		atail = &answer;
		while ((j = jobs) != NULL) {
			if (j->kind == CORE_JOB_TOUCH && j->next != NULL &&
			    j->next->kind == CORE_JOB_TOUCH) {
				jobs = core_touch_run(c, j);
				continue;
			}
			jobs = j->next;
			j->next = NULL;
			core_job_run(c, j);
			if (j->kind == CORE_JOB_EXCHANGE && j->oidc != NULL)
				core_oidc_submit(c, j);
			else if (j->kind == CORE_JOB_EXCHANGE ||
			         j->kind == CORE_JOB_OIDC) {
				*atail = j;
				atail = &j->next;
			} else
				core_job_free(j);
		}
		/* Answered before the revision is built: the change is
		 * committed, and any later request waits behind the build
		 * in this thread, so it sees the revision. */
		while ((j = answer) != NULL) {
			answer = j->next;
			metrics_request(c->metrics, j->slot, j->req->method,
			                j->resp->status,
			                core_now_ns() - j->arrived_ns);
			net_respond(c->net, j->ex);
			core_job_free(j);
		}
		diag_clear(&d);
		if (!c->dirty && c->nadded > 0 &&
		    core_publish_added(c, &d) != 0) {
			core_log(c, CORE_LOG_WARN,
			         "publish: %s; building every view", d.msg);
			c->dirty = true;
		}
		if (c->dirty) {
			diag_clear(&d);
			if (core_publish(c, &d) != 0)
				core_log(c, CORE_LOG_ERR, "publish: %s", d.msg);
		}
		if ((nnotes > 0 || remote_all) && c->shared)
			c->sync_retry =
			    core_sync(c, notes, nnotes, remote_all) != 0;
		core_notes_free(notes, nnotes);
		live_next = live_flush(c->live, c);
	}
	return NULL;
}

/* ---- Life cycle ---- */

/*
 * Console sign-in with OpenID Connect, when mcpfleetd.conf configures it:
 * its redirect URI defaults to the first name and the API port.
 */
static int core_oidc_init(struct core *c, const char *data_dir, struct diag *d)
{
	const char *name = c->conf.names[0];
	char redirect[OIDC_URL_MAX + 1];
	int n, r;

	if (c->conf.oidc.issuer[0] == '\0')
		return 0;
	n = snprintf(redirect, sizeof(redirect),
	             strchr(name, ':') != NULL ? "https://[%s]:%d%s"
	                                       : "https://%s:%d%s",
	             name, c->conf.api_port, OIDC_PREFIX "/callback");
	if (n < 0 || (size_t)n >= sizeof(redirect))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "oidc: the redirect URI is too long");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return diag_set(d, ERR_INTERNAL, 0, 0,
		                "oidc: libcurl cannot start");
	if ((r = oidc_new(&c->conf.oidc, data_dir, redirect, c->pki.master,
	                  &c->oidc, d)) != 0)
		return r;
	fprintf(stderr,
	        "mcpfleetd: console sign-in with %s; the redirect URI to "
	        "register there is %s\n",
	        c->conf.oidc.issuer, oidc_redirect_uri(c->oidc));
	return 0;
}

/*
 * The revision a starting daemon serves: in a shared store, the newest one
 * recorded, as the replica that made it signed it (a replica that starts
 * changes nothing, so it makes no revision); otherwise, or when the
 * store's entries are not one per active device (a new fleet, one just
 * migrated, or a replica that stopped between an enrollment and its
 * revision), a new one.
 */
static int core_first_revision(struct core *c, struct diag *d)
{
	struct publication *p = NULL;
	int64_t synced = 0;
	size_t i, active = 0;
	int r;

	if (!c->shared)
		return core_publish(c, d);
	if ((r = publish_load(c->st, &c->pki, NULL, 0, true, &p, &synced, d)) !=
	    0)
		return r;
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->dir->n; i++)
		if (!c->dir->v[i].revoked)
			active++;
	pthread_mutex_unlock(&c->mu);
	if (p->n == 0 || p->n != active) {
		publication_free(p);
		return core_publish(c, d);
	}
	c->synced = synced;
	return core_publish_set(c, p, false, d);
}

/*
 * The metrics registry: a "route" label for each distinct pattern of the
 * API's routes, and for the other paths of the API port; and the scrape
 * token, when metrics_token_file names one.
 */
static int core_metrics_init(struct core *c, const char *data_dir,
                             struct diag *d)
{
	static const char *const fixed[] = {
	    "/v1/enroll", "/healthz", "/metrics", OIDC_PREFIX,
	    SCIM_PREFIX,  "console",  "other"};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t nroutes = api_route_count(), n = 0, i, k;
	struct api_route_info ri;
	char **names;
	int r = 0;

	names = calloc(nroutes + nfixed, sizeof(*names));
	c->route_slot =
	    calloc(nroutes > 0 ? nroutes : 1, sizeof(*c->route_slot));
	if (names == NULL || c->route_slot == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nroutes && r == 0; i++) {
		char full[256];

		if (api_route_get(i, &ri) != 0)
			break;
		(void)snprintf(full, sizeof(full), "%s%s", API_PREFIX,
		               ri.pattern);
		for (k = 0; k < n && strcmp(names[k], full) != 0; k++)
			;
		if (k == n && (names[n++] = strdup(full)) == NULL)
			r = -ERR_NOMEM;
		c->route_slot[i] = k;
	}
	for (i = 0; i < nfixed && r == 0; i++)
		if ((names[n++] = strdup(fixed[i])) == NULL)
			r = -ERR_NOMEM;
	if (r == 0) {
		c->slot_enroll = n - nfixed;
		c->slot_healthz = c->slot_enroll + 1;
		c->slot_metrics = c->slot_enroll + 2;
		c->slot_oidc = c->slot_enroll + 3;
		c->slot_scim = c->slot_enroll + 4;
		c->slot_console = c->slot_enroll + 5;
		c->slot_other = c->slot_enroll + 6;
		r = metrics_new((const char *const *)names, n,
		                (int64_t)time(NULL), &c->metrics);
	}
out:
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	if (r != 0)
		return diag_set(d, ERR_NOMEM, 0, 0, "metrics: out of memory");
	if (c->conf.metrics_token_file[0] == '\0')
		return 0;
	return pki_token_file_read(data_dir, c->conf.metrics_token_file,
	                           &c->metrics_token, d);
}

int core_open(struct core *c, const char *data_dir, const char *listen,
              int agent_port, int api_port, struct diag *d)
{
	struct net_callbacks cb = hub_callbacks;
	struct net_config nc;
	uint8_t ping[NET_PING_MAX];
	const char *backend = NULL;
	char *db = NULL, *path = NULL;
	int64_t keyed = 0;
	int r;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_init(&c->oidc_mu, NULL);
	pthread_cond_init(&c->oidc_cv, NULL);
	c->data_dir = strdup(data_dir);
	if (c->data_dir == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = pki_conf_load(data_dir, &c->conf, d);
	if (r == -ERR_NOENT)
		return diag_set(d, ERR_NOENT, 0, 0,
		                "%s: no %s: initialise it first with "
		                "'mcpfleetd init --data %s'",
		                data_dir, PKI_CONF_FILE, data_dir);
	if (r != 0)
		return r;
	if (listen != NULL) {
		if (strlen(listen) >= sizeof(c->conf.listen))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "--listen: address too long");
		memcpy(c->conf.listen, listen, strlen(listen) + 1);
	}
	if (agent_port >= 0)
		c->conf.agent_port = agent_port;
	if (api_port >= 0)
		c->conf.api_port = api_port;
	r = pki_load(data_dir, &c->pki, d);
	if (r != 0)
		return r;
	r = crypto_rng_new("mcpfleetd", &c->rng, d);
	if (r != 0)
		return r;
	db = fileio_join(data_dir, PKI_DB_FILE);
	if (db == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = store_location(c->conf.store, db, &backend, &path, d);
	free(db);
	if (r != 0)
		return r;
	r = store_open(backend, path, &c->st, d);
	if (r == 0 && (c->store_backend = strdup(backend)) == NULL)
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	c->store_path = path;
	if (r != 0)
		return r;
	/* The audit chain is keyed; a data directory from before audit keys
	 * gets its key now, from the next row on (docs/design.md, "The
	 * audit chain"). */
	r = pki_audit_attach(data_dir, &c->pki, c->st, c->rng, &keyed, d);
	if (r != 0)
		return r;
	if (keyed > 0)
		fprintf(stderr,
		        "mcpfleetd: created %s/%s: the audit chain is keyed "
		        "from row %lld on\n",
		        data_dir, PKI_AUDIT_KEY_FILE, (long long)keyed);
	c->shared = store_shared(c->st);
	r = enroll_limiter_new(c->conf.enroll_rate, &c->limiter);
	if (r != 0)
		return diag_set(d, -r, 0, 0, "enrollment limiter: %s",
		                err_str(r));
	r = enroll_limiter_new(API_REFUSAL_RATE, &c->refusals);
	if (r != 0)
		return diag_set(d, -r, 0, 0, "refusal audit limiter: %s",
		                err_str(r));
	if ((r = live_new(&c->live)) != 0)
		return diag_set(d, -r, 0, 0, "live events: %s", err_str(r));
	r = session_table_new(c->st, API_SESSIONS_MAX, API_LOGIN_RATE,
	                      &c->sessions);
	if (r != 0)
		return diag_set(d, -r, 0, 0, "console sessions: %s",
		                err_str(r));
	if ((r = core_oidc_init(c, data_dir, d)) != 0 ||
	    (r = core_metrics_init(c, data_dir, d)) != 0)
		return r;
	r = core_dir_rebuild(c, NULL, d);
	if (r != 0)
		return r;
	r = core_first_revision(c, d);
	if (r != 0)
		return r;
	r = hub_new(c, &c->hub);
	if (r != 0)
		return diag_set(d, -r, 0, 0, "hub: %s", err_str(r));
	memset(&nc, 0, sizeof(nc));
	nc.address = c->conf.listen;
	nc.agent_port = c->conf.agent_port;
	nc.api_port = c->conf.api_port;
	nc.ca_pem = c->pki.ca_pem;
	nc.ca_len = c->pki.ca_len;
	nc.cert_pem = c->pki.server_cert_pem;
	nc.cert_len = c->pki.server_cert_len;
	nc.key_pem = c->pki.server_key_pem;
	nc.key_len = c->pki.server_key_len;
	nc.ping_message = ping;
	nc.ping_len = hub_ping_message(ping);
	cb.arg = c;
	if ((r = net_create(&nc, &cb, &c->net, d)) != 0)
		return r;
	/* The agent port is known now, even one the system chose. */
	if (c->conf.agent_address[0] != '\0')
		memcpy(c->agent_address, c->conf.agent_address,
		       sizeof(c->agent_address));
	else if (replicas_addr_format(c->conf.names[0], net_agent_port(c->net),
	                              c->agent_address, d) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s/%s: the first name '%s' and port %d make "
		                "no agent address; set agent_address",
		                data_dir, PKI_CONF_FILE, c->conf.names[0],
		                net_agent_port(c->net));
	/* Registered before the first enrollment can be answered. */
	core_replicas_beat(c);
	return 0;
}

int core_run(struct core *c)
{
	struct diag d;
	int r;

	if (pthread_create(&c->thread, NULL, core_thread, c) != 0)
		return -ERR_INTERNAL;
	c->thread_started = true;
	if (c->oidc != NULL &&
	    pthread_create(&c->oidc_thread, NULL, core_oidc_thread, c) == 0)
		c->oidc_started = true;
	else if (c->oidc != NULL)
		core_log(c, CORE_LOG_ERR,
		         "no thread for the identity provider's calls: "
		         "sign-ins ask it on the core thread");
	diag_clear(&d);
	if (c->shared && replica_start(c, c->store_backend, c->store_path,
	                               &c->replica, &d) != 0)
		core_log(c, CORE_LOG_ERR, "%s", d.msg);
	/* The first revision was built before the loop existed. */
	net_wake(c->net);
	r = net_run(c->net);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	c->thread_started = false;
	/* A sign-in the provider is still answering finishes first (at
	 * most OIDC_HTTP_SECS per call); its exchange dies with the net. */
	if (c->oidc_started) {
		pthread_mutex_lock(&c->oidc_mu);
		c->oidc_stop = true;
		pthread_cond_signal(&c->oidc_cv);
		pthread_mutex_unlock(&c->oidc_mu);
		pthread_join(c->oidc_thread, NULL);
		c->oidc_started = false;
	}
	/* Stopping: the other replicas need not wait for it to go stale. */
	diag_clear(&d);
	if (c->agent_address[0] != '\0' &&
	    store_replica_remove(c->st, c->agent_address, &d) != 0)
		core_log(c, CORE_LOG_WARN, "replica set: %s", d.msg);
	replica_stop(c->replica);
	c->replica = NULL;
	return r;
}

void core_stop(struct core *c)
{
	if (c->net != NULL)
		net_stop(c->net);
}

void core_close(struct core *c)
{
	struct core_job *j;
	size_t i;

	/* Deferred exchanges still queued die with the net. */
	while ((j = c->jobs_head) != NULL) {
		c->jobs_head = j->next;
		core_job_free(j);
	}
	while ((j = c->oidc_head) != NULL) {
		c->oidc_head = j->next;
		core_job_free(j);
	}
	net_free(c->net);
	hub_free(c->hub);
	core_pub_release(c->pending_pub);
	core_pub_release(c->pub);
	core_dir_release(c->dir);
	core_added_clear(c);
	store_id_list_free(&c->replicas);
	free(c->replicas_frame);
	for (i = 0; i < c->nkicks; i++)
		free(c->kicks[i]);
	free(c->kicks);
	for (i = 0; i < c->nacks; i++)
		free(c->acks[i].device_id);
	free(c->acks);
	for (i = 0; i < c->nframes; i++) {
		free(c->frames[i].device_id);
		free(c->frames[i].data);
	}
	free(c->frames);
	for (i = 0; i < c->nonline; i++)
		free(c->online[i].id);
	free(c->online);
	enroll_limiter_free(c->limiter);
	enroll_limiter_free(c->refusals);
	replica_stop(c->replica);
	core_notes_free(c->remote_notes, c->nremote_notes);
	session_table_free(c->sessions);
	live_free(c->live);
	oidc_free(c->oidc);
	metrics_free(c->metrics);
	free(c->route_slot);
	if (c->metrics_token != NULL)
		crypto_secret_free(c->metrics_token,
		                   strlen(c->metrics_token) + 1);
	store_close(c->st);
	free(c->store_backend);
	free(c->store_path);
	crypto_rng_free(c->rng);
	pki_free(&c->pki);
	free(c->data_dir);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->oidc_cv);
	pthread_mutex_destroy(&c->oidc_mu);
	memset(c, 0, sizeof(*c));
}
