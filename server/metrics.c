/* SPDX-License-Identifier: MIT */
/* mcpfleetd's Prometheus metrics: atomic counters and histograms, and the
 * text exposition format 0.0.4 (server/API.md, "Metrics"). */
#include "metrics.h"

#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_NS UINT64_C(1000000000)

/* The statuses counted apart; any other counts under its class ("4xx"). */
static const int metrics_codes[] = {200, 201, 204, 304, 400, 401, 403,
                                    404, 405, 409, 413, 429, 500, 503};
#define METRICS_NCODES    (sizeof(metrics_codes) / sizeof(metrics_codes[0]))
#define METRICS_NSTATUS   (METRICS_NCODES + 5) /* and 1xx .. 5xx */
#define METRICS_NREVS_MAX 4096 /* distinct revisions of connected agents */

static const char *const metrics_methods[METRICS_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};

static const char *const metrics_enroll_names[METRICS_ENROLL_COUNT_] = {
    [METRICS_ENROLL_ENROLLED] = "enrolled",
    [METRICS_ENROLL_REFUSED] = "refused",
    [METRICS_ENROLL_RATE_LIMITED] = "rate_limited",
    [METRICS_ENROLL_ERROR] = "error",
};

/* An API request's answer: a fast read, a store write, a revision built
 * on the way (seconds). */
static const double metrics_api_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
/* From a revision to an agent's report of it: a push on a quiet fleet is
 * milliseconds, one behind a storm of reconnections minutes. */
static const double metrics_push_bounds[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

/* ---- Histograms ---- */

int metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n)
{
	size_t i;

	if (n > METRICS_HIST_MAX)
		return -ERR_INVALID;
	for (i = 0; i < n; i++)
		if (!(bounds[i] > 0) || bounds[i] > 1e9 ||
		    (i > 0 && !(bounds[i] > bounds[i - 1])))
			return -ERR_INVALID;
	h->nbounds = n;
	h->bounds = bounds;
	for (i = 0; i < n; i++)
		h->bounds_ns[i] = (uint64_t)(bounds[i] * 1e9 + 0.5);
	for (i = 0; i <= METRICS_HIST_MAX; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum_ns, 0);
	return 0;
}

void metrics_hist_observe(struct metrics_hist *h, uint64_t ns)
{
	size_t i = 0;

	while (i < h->nbounds && ns > h->bounds_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

uint64_t metrics_hist_count(const struct metrics_hist *h)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i <= h->nbounds; i++)
		n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	return n;
}

/* ---- Text exposition ---- */

/* Appends s with the escapes of a label value (esc_quote) or of HELP. */
static int metrics_escape(struct buf *b, const char *s, bool esc_quote)
{
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		if (*s == '\\')
			r = buf_puts(b, "\\\\");
		else if (*s == '\n')
			r = buf_puts(b, "\\n");
		else if (*s == '"' && esc_quote)
			r = buf_puts(b, "\\\"");
		else
			r = buf_putc(b, *s);
	}
	return r;
}

int metrics_write_head(struct buf *b, const char *name, const char *type,
                       const char *help)
{
	if (buf_printf(b, "# HELP %s ", name) != 0 ||
	    metrics_escape(b, help, false) != 0 ||
	    buf_printf(b, "\n# TYPE %s %s\n", name, type) != 0)
		return -ERR_NOMEM;
	return 0;
}

/* Appends "name{labels}" and the space before the value. */
static int metrics_series(struct buf *b, const char *name,
                          const struct metrics_label *l, size_t nl)
{
	size_t i;

	if (buf_puts(b, name) != 0)
		return -ERR_NOMEM;
	for (i = 0; i < nl; i++)
		if (buf_printf(b, "%s%s=\"", i == 0 ? "{" : ",", l[i].name) !=
		        0 ||
		    metrics_escape(b, l[i].value, true) != 0 ||
		    buf_putc(b, '"') != 0)
			return -ERR_NOMEM;
	if ((nl > 0 && buf_putc(b, '}') != 0) || buf_putc(b, ' ') != 0)
		return -ERR_NOMEM;
	return 0;
}

int metrics_write_u64(struct buf *b, const char *name,
                      const struct metrics_label *l, size_t nl, uint64_t v)
{
	if (metrics_series(b, name, l, nl) != 0 ||
	    buf_printf(b, "%" PRIu64 "\n", v) != 0)
		return -ERR_NOMEM;
	return 0;
}

/* Writes ns as seconds, exactly: "12", "0.0025". */
static int metrics_put_seconds(struct buf *b, uint64_t ns)
{
	char frac[16];
	size_t n;

	if (ns % METRICS_NS == 0)
		return buf_printf(b, "%" PRIu64, ns / METRICS_NS);
	(void)snprintf(frac, sizeof(frac), "%09" PRIu64, ns % METRICS_NS);
	n = strlen(frac);
	while (n > 1 && frac[n - 1] == '0')
		n--;
	frac[n] = '\0';
	return buf_printf(b, "%" PRIu64 ".%s", ns / METRICS_NS, frac);
}

int metrics_write_seconds(struct buf *b, const char *name,
                          const struct metrics_label *l, size_t nl, uint64_t ns)
{
	if (metrics_series(b, name, l, nl) != 0 ||
	    metrics_put_seconds(b, ns) != 0 || buf_putc(b, '\n') != 0)
		return -ERR_NOMEM;
	return 0;
}

int metrics_write_hist(struct buf *b, const char *name,
                       const struct metrics_label *l, size_t nl,
                       const struct metrics_hist *h)
{
	struct metrics_label ll[5];
	char full[128], le[32];
	uint64_t counts[METRICS_HIST_MAX + 1], cum = 0;
	size_t i;
	int n;

	if (nl > 4)
		return -ERR_INVALID;
	/* One load of each bucket, so that the lines agree with each
	 * other. */
	for (i = 0; i <= h->nbounds; i++)
		counts[i] =
		    atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	if (nl > 0)
		memcpy(ll, l, nl * sizeof(*l));
	ll[nl].name = "le";
	ll[nl].value = le;
	n = snprintf(full, sizeof(full), "%s_bucket", name);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -ERR_INVALID;
	for (i = 0; i <= h->nbounds; i++) {
		struct buf v = BUF_INIT;

		cum += counts[i];
		if (i == h->nbounds) {
			(void)snprintf(le, sizeof(le), "+Inf");
		} else {
			if (metrics_put_seconds(&v, h->bounds_ns[i]) != 0 ||
			    v.len >= sizeof(le)) {
				buf_free(&v);
				return -ERR_NOMEM;
			}
			memcpy(le, v.data, v.len);
			le[v.len] = '\0';
			buf_free(&v);
		}
		if (metrics_write_u64(b, full, ll, nl + 1, cum) != 0)
			return -ERR_NOMEM;
	}
	n = snprintf(full, sizeof(full), "%s_sum", name);
	if (n < 0 || (size_t)n >= sizeof(full) ||
	    metrics_write_seconds(
	        b, full, l, nl,
	        atomic_load_explicit(&h->sum_ns, memory_order_relaxed)) != 0)
		return -ERR_NOMEM;
	(void)snprintf(full, sizeof(full), "%s_count", name);
	return metrics_write_u64(b, full, l, nl, cum);
}

/* ---- The registry ---- */

int metrics_new(const char *const *names, size_t n, int64_t start_time,
                struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));
	size_t i, cells = n * METRICS_METHODS;

	if (m == NULL)
		return -ERR_NOMEM;
	m->start_time = start_time;
	pthread_mutex_init(&m->rev_mu, NULL);
	(void)metrics_hist_init(&m->push_latency, metrics_push_bounds,
	                        sizeof(metrics_push_bounds) /
	                            sizeof(metrics_push_bounds[0]));
	m->routes = calloc(n > 0 ? n : 1, sizeof(*m->routes));
	m->requests = calloc(cells > 0 ? cells * METRICS_NSTATUS : 1,
	                     sizeof(*m->requests));
	m->latency = calloc(cells > 0 ? cells : 1, sizeof(*m->latency));
	if (m->routes == NULL || m->requests == NULL || m->latency == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		if ((m->routes[m->nroutes++] = strdup(names[i])) == NULL)
			goto fail;
	for (i = 0; i < cells; i++)
		(void)metrics_hist_init(&m->latency[i], metrics_api_bounds,
		                        sizeof(metrics_api_bounds) /
		                            sizeof(metrics_api_bounds[0]));
	*out = m;
	return 0;
fail:
	metrics_free(m);
	return -ERR_NOMEM;
}

void metrics_free(struct metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nroutes; i++)
		free(m->routes[i]);
	free(m->routes);
	free(m->requests);
	free(m->latency);
	free(m->revs);
	pthread_mutex_destroy(&m->rev_mu);
	free(m);
}

static size_t metrics_method_index(const char *method)
{
	size_t i;

	for (i = 0; method != NULL && i + 1 < METRICS_METHODS; i++)
		if (strcmp(method, metrics_methods[i]) == 0)
			return i;
	return METRICS_METHODS - 1;
}

/* The status's slot: its own, or its class's. */
static size_t metrics_status_index(int status)
{
	size_t i;

	if (status == 0)
		status = 500; /* net.h: 0 is answered as 500 */
	for (i = 0; i < METRICS_NCODES; i++)
		if (metrics_codes[i] == status)
			return i;
	if (status < 100 || status > 599)
		status = 500;
	return METRICS_NCODES + (size_t)(status / 100 - 1);
}

void metrics_request(struct metrics *m, size_t route, const char *method,
                     int status, uint64_t ns)
{
	size_t cell;

	if (m == NULL || route >= m->nroutes)
		return;
	cell = route * METRICS_METHODS + metrics_method_index(method);
	atomic_fetch_add_explicit(
	    &m->requests[cell * METRICS_NSTATUS + metrics_status_index(status)],
	    1, memory_order_relaxed);
	metrics_hist_observe(&m->latency[cell], ns);
}

void metrics_enroll(struct metrics *m, enum metrics_enroll outcome)
{
	if (m != NULL && (unsigned)outcome < METRICS_ENROLL_COUNT_)
		atomic_fetch_add_explicit(&m->enroll[outcome], 1,
		                          memory_order_relaxed);
}

void metrics_calls(struct metrics *m, unsigned outcome, uint64_t n)
{
	if (m != NULL && outcome < METRICS_CALL_OUTCOMES)
		atomic_fetch_add_explicit(&m->calls[outcome], n,
		                          memory_order_relaxed);
}

void metrics_revision(struct metrics *m, uint64_t revision)
{
	if (m == NULL)
		return;
	atomic_fetch_add_explicit(&m->revisions, 1, memory_order_relaxed);
	atomic_store_explicit(&m->revision_latest, revision,
	                      memory_order_relaxed);
}

void metrics_push(struct metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->pushes, 1, memory_order_relaxed);
}

void metrics_push_applied(struct metrics *m, uint64_t ns)
{
	if (m != NULL)
		metrics_hist_observe(&m->push_latency, ns);
}

/* Adds delta (+1 or -1) agents at revision; under rev_mu. */
static int metrics_rev_add(struct metrics *m, uint64_t revision, int delta)
{
	struct metrics_rev *v;
	size_t i, cap;

	if (revision == 0) {
		if (delta > 0)
			m->agents_none++;
		else if (m->agents_none > 0)
			m->agents_none--;
		return 0;
	}
	for (i = 0; i < m->nrevs; i++)
		if (m->revs[i].revision == revision)
			break;
	if (delta < 0) {
		if (i < m->nrevs && --m->revs[i].agents == 0)
			m->revs[i] = m->revs[--m->nrevs];
		return 0;
	}
	if (i < m->nrevs) {
		m->revs[i].agents++;
		return 0;
	}
	if (m->nrevs == METRICS_NREVS_MAX)
		return -ERR_NOMEM;
	if (m->nrevs == m->caprevs) {
		cap = m->caprevs ? 2 * m->caprevs : 16;
		if ((v = realloc(m->revs, cap * sizeof(*v))) == NULL)
			return -ERR_NOMEM;
		m->revs = v;
		m->caprevs = cap;
	}
	m->revs[m->nrevs].revision = revision;
	m->revs[m->nrevs].agents = 1;
	m->nrevs++;
	return 0;
}

int metrics_agent_revision(struct metrics *m, bool had, uint64_t from, bool has,
                           uint64_t to)
{
	int r = 0;

	if (m == NULL || (had && has && from == to))
		return 0;
	pthread_mutex_lock(&m->rev_mu);
	if (had)
		(void)metrics_rev_add(m, from, -1);
	if (has)
		r = metrics_rev_add(m, to, 1);
	pthread_mutex_unlock(&m->rev_mu);
	return r;
}

/* ---- Rendering ---- */

static int metrics_rev_cmp(const void *a, const void *b)
{
	const struct metrics_rev *x = a, *y = b;

	return x->revision < y->revision   ? 1
	       : x->revision > y->revision ? -1
	                                   : 0;
}

/* mcpfleet_agents_by_revision: the newest METRICS_REVISIONS revisions of
 * the connected agents, "older" and "none". The table is copied under the
 * lock and sorted outside it. */
static int metrics_render_revs(struct metrics *m, struct buf *b)
{
	static const char name[] = "mcpfleet_agents_by_revision";
	struct metrics_rev *v = NULL;
	struct metrics_label l = {"revision", NULL};
	uint64_t none, older = 0;
	char num[24];
	size_t i, n;
	int r = 0;

	pthread_mutex_lock(&m->rev_mu);
	n = m->nrevs;
	none = m->agents_none;
	if (n > 0 && (v = malloc(n * sizeof(*v))) != NULL)
		memcpy(v, m->revs, n * sizeof(*v));
	pthread_mutex_unlock(&m->rev_mu);
	if (n > 0 && v == NULL)
		return -ERR_NOMEM;
	if (n > 0)
		qsort(v, n, sizeof(*v), metrics_rev_cmp);
	if (metrics_write_head(b, name, "gauge",
	                       "Connected agents by the revision they last "
	                       "applied: the newest few, \"older\" for the "
	                       "rest, \"none\" for none yet.") != 0)
		r = -ERR_NOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		if (i >= METRICS_REVISIONS) {
			older += v[i].agents;
			continue;
		}
		(void)snprintf(num, sizeof(num), "%" PRIu64, v[i].revision);
		l.value = num;
		r = metrics_write_u64(b, name, &l, 1, v[i].agents);
	}
	if (r == 0 && n > METRICS_REVISIONS) {
		l.value = "older";
		r = metrics_write_u64(b, name, &l, 1, older);
	}
	if (r == 0 && none > 0) {
		l.value = "none";
		r = metrics_write_u64(b, name, &l, 1, none);
	}
	free(v);
	return r;
}

/* The API requests and their latency: only the series seen so far. */
static int metrics_render_requests(struct metrics *m, struct buf *b)
{
	static const char req[] = "mcpfleet_api_requests_total";
	static const char dur[] = "mcpfleet_api_request_duration_seconds";
	struct metrics_label l[3];
	char code[8];
	size_t route, meth, s, cell;
	uint64_t v;

	if (metrics_write_head(b, req, "counter",
	                       "API port requests answered, by route pattern, "
	                       "method and status code (a code not counted "
	                       "apart is its class, \"4xx\").") != 0)
		return -ERR_NOMEM;
	for (route = 0; route < m->nroutes; route++)
		for (meth = 0; meth < METRICS_METHODS; meth++) {
			cell = route * METRICS_METHODS + meth;
			for (s = 0; s < METRICS_NSTATUS; s++) {
				v = atomic_load_explicit(
				    &m->requests[cell * METRICS_NSTATUS + s],
				    memory_order_relaxed);
				if (v == 0)
					continue;
				if (s < METRICS_NCODES)
					(void)snprintf(code, sizeof(code), "%d",
					               metrics_codes[s]);
				else
					(void)snprintf(code, sizeof(code),
					               "%zuxx",
					               s - METRICS_NCODES + 1);
				l[0] = (struct metrics_label){"route",
				                              m->routes[route]};
				l[1] = (struct metrics_label){
				    "method", metrics_methods[meth]};
				l[2] = (struct metrics_label){"code", code};
				if (metrics_write_u64(b, req, l, 3, v) != 0)
					return -ERR_NOMEM;
			}
		}
	if (metrics_write_head(b, dur, "histogram",
	                       "Seconds from a request's arrival to its "
	                       "answer, by route pattern and method.") != 0)
		return -ERR_NOMEM;
	for (route = 0; route < m->nroutes; route++)
		for (meth = 0; meth < METRICS_METHODS; meth++) {
			cell = route * METRICS_METHODS + meth;
			if (metrics_hist_count(&m->latency[cell]) == 0)
				continue;
			l[0] =
			    (struct metrics_label){"route", m->routes[route]};
			l[1] = (struct metrics_label){"method",
			                              metrics_methods[meth]};
			if (metrics_write_hist(b, dur, l, 2,
			                       &m->latency[cell]) != 0)
				return -ERR_NOMEM;
		}
	return 0;
}

/* One counter by outcome, every outcome written, zero too. */
static int metrics_render_outcomes(struct buf *b, const char *name,
                                   const char *help,
                                   const atomic_uint_least64_t *v,
                                   const char *const *names, size_t n)
{
	struct metrics_label l = {"outcome", NULL};
	size_t i;

	if (metrics_write_head(b, name, "counter", help) != 0)
		return -ERR_NOMEM;
	for (i = 0; i < n; i++) {
		l.value = names[i];
		if (metrics_write_u64(
		        b, name, &l, 1,
		        atomic_load_explicit(&v[i], memory_order_relaxed)) != 0)
			return -ERR_NOMEM;
	}
	return 0;
}

/* One metric of one sample without labels. */
static int metrics_one(struct buf *b, const char *name, const char *type,
                       const char *help, uint64_t v)
{
	if (metrics_write_head(b, name, type, help) != 0 ||
	    metrics_write_u64(b, name, NULL, 0, v) != 0)
		return -ERR_NOMEM;
	return 0;
}

/* The process: resident memory from /proc/self/statm, the descriptors in
 * /proc/self/fd. A file that cannot be read leaves its metric out. */
static int metrics_render_process(struct metrics *m, struct buf *b)
{
	unsigned long long size = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);
	struct dirent *e;
	uint64_t fds = 0;
	FILE *f;
	DIR *dir;
	int r;

	r = metrics_one(b, "process_start_time_seconds", "gauge",
	                "Start time of the process since the Unix epoch, in "
	                "seconds.",
	                (uint64_t)(m->start_time > 0 ? m->start_time : 0));
	f = fopen("/proc/self/statm", "re");
	if (f != NULL && fscanf(f, "%llu %llu", &size, &resident) == 2 &&
	    page > 0 && r == 0) {
		r = metrics_one(b, "process_resident_memory_bytes", "gauge",
		                "Resident memory size in bytes.",
		                (uint64_t)resident * (uint64_t)page);
		if (r == 0)
			r = metrics_one(b, "process_virtual_memory_bytes",
			                "gauge",
			                "Virtual memory size in bytes.",
			                (uint64_t)size * (uint64_t)page);
	}
	if (f != NULL)
		fclose(f);
	if (r == 0 && (dir = opendir("/proc/self/fd")) != NULL) {
		while ((e = readdir(dir)) != NULL)
			if (e->d_name[0] != '.')
				fds++;
		closedir(dir);
		/* Less the one the listing itself held open. */
		r = metrics_one(b, "process_open_fds", "gauge",
		                "Number of open file descriptors.",
		                fds > 0 ? fds - 1 : 0);
	}
	return r;
}

int metrics_render(struct metrics *m, const struct metrics_facts *f,
                   struct buf *b)
{
	const char *calls[METRICS_CALL_OUTCOMES];
	size_t i;
	int r;

	r = metrics_one(b, "mcpfleet_agents_connected", "gauge",
	                "Agents connected to this replica now.", f->connected);
	if (r == 0)
		r = metrics_render_revs(m, b);
	if (r == 0)
		r = metrics_one(b, "mcpfleet_console_streams", "gauge",
		                "Console event streams (GET /api/v1/events) "
		                "open on this replica now.",
		                f->streams);
	if (r == 0)
		r = metrics_one(b, "mcpfleet_revision_latest", "gauge",
		                "The newest revision this replica serves.",
		                atomic_load_explicit(&m->revision_latest,
		                                     memory_order_relaxed));
	if (r == 0)
		r = metrics_one(
		    b, "mcpfleet_revisions_published_total", "counter",
		    "Revisions this replica published or took from the "
		    "store.",
		    atomic_load_explicit(&m->revisions, memory_order_relaxed));
	if (r == 0)
		r = metrics_one(
		    b, "mcpfleet_pushes_total", "counter",
		    "Signed views sent to connected agents.",
		    atomic_load_explicit(&m->pushes, memory_order_relaxed));
	if (r == 0 &&
	    (metrics_write_head(
	         b, "mcpfleet_push_latency_seconds", "histogram",
	         "Seconds from a revision's publication (or the agent's "
	         "connection, when later) to the agent's sync report that "
	         "it applied it.") != 0 ||
	     metrics_write_hist(b, "mcpfleet_push_latency_seconds", NULL, 0,
	                        &m->push_latency) != 0))
		r = -ERR_NOMEM;
	if (r == 0)
		r = metrics_render_outcomes(
		    b, "mcpfleet_enrollments_total",
		    "Enrollment requests (POST /v1/enroll), by outcome.",
		    m->enroll, metrics_enroll_names, METRICS_ENROLL_COUNT_);
	if (r == 0)
		r = metrics_render_requests(m, b);
	for (i = 0; i < METRICS_CALL_OUTCOMES; i++)
		calls[i] = store_call_outcome_name((enum store_call_outcome)i);
	if (r == 0)
		r = metrics_render_outcomes(
		    b, "mcpfleet_calls_total",
		    "Launcher calls the agents uploaded and the store kept, "
		    "by outcome.",
		    m->calls, calls, METRICS_CALL_OUTCOMES);
	if (r == 0)
		r = metrics_one(b, "mcpfleet_store_errors_total", "counter",
		                "Store statements that failed (constraint "
		                "violations of bad input aside).",
		                f->store_errors);
	if (r == 0 && f->process)
		r = metrics_render_process(m, b);
	return r;
}
