/* SPDX-License-Identifier: MIT */
/* mcpfleetd's Prometheus metrics: the counters, gauges and histograms the
 * threads update with one atomic add, and their text exposition (format
 * 0.0.4) for GET /metrics (server/API.md, "Metrics"). */
#ifndef MCPFLEET_METRICS_H
#define MCPFLEET_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* The content type of the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- Histograms ---- */

#define METRICS_HIST_MAX 16 /* upper bounds of one histogram */

/*
 * A histogram of durations, in seconds as Prometheus wants them, observed
 * in nanoseconds. Every field is an atomic: any thread observes, any
 * thread renders, without a lock. A rendering that races an observation
 * may see its bucket and not yet its sum; _count is the buckets' total, so
 * the +Inf bucket and _count always agree.
 */
struct metrics_hist {
	size_t nbounds;
	uint64_t bounds_ns[METRICS_HIST_MAX]; /* increasing upper bounds */
	const double *bounds;                 /* the same, in seconds */
	atomic_uint_least64_t counts[METRICS_HIST_MAX + 1]; /* last: +Inf */
	atomic_uint_least64_t sum_ns;
};

/* Sets h up with n (<= METRICS_HIST_MAX) increasing bounds in seconds,
 * which must outlive h. Returns 0 or -ERR_INVALID. */
int metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n);
/* Counts one observation of ns nanoseconds. */
void metrics_hist_observe(struct metrics_hist *h, uint64_t ns);
/* The observations counted so far. */
uint64_t metrics_hist_count(const struct metrics_hist *h);

/* ---- Text exposition ---- */

/* One label of a sample. */
struct metrics_label {
	const char *name;
	const char *value; /* escaped on output: \\, \" and \n */
};

/* Appends "# HELP name help" (help escaped: \\ and \n) and
 * "# TYPE name type" to b. Returns 0 or -ERR_NOMEM. */
int metrics_write_head(struct buf *b, const char *name, const char *type,
                       const char *help);
/* Appends one sample "name{labels} value" with an unsigned integer
 * value; nl may be 0. Returns 0 or -ERR_NOMEM. */
int metrics_write_u64(struct buf *b, const char *name,
                      const struct metrics_label *l, size_t nl, uint64_t v);
/* The same with a value in seconds given in nanoseconds, written exactly
 * ("0.0025", "12"). */
int metrics_write_seconds(struct buf *b, const char *name,
                          const struct metrics_label *l, size_t nl,
                          uint64_t ns);
/* Appends the samples of a histogram: name_bucket{labels,le="..."} for
 * each bound and +Inf (cumulative), name_sum and name_count. nl <= 4.
 * Returns 0, -ERR_INVALID or -ERR_NOMEM. */
int metrics_write_hist(struct buf *b, const char *name,
                       const struct metrics_label *l, size_t nl,
                       const struct metrics_hist *h);

/* ---- The daemon's registry ---- */

/* Enrollment outcomes (POST /v1/enroll). */
enum metrics_enroll {
	METRICS_ENROLL_ENROLLED,     /* a certificate issued */
	METRICS_ENROLL_REFUSED,      /* a 4xx: token, CSR or request refused */
	METRICS_ENROLL_RATE_LIMITED, /* a 429 of the per-address limit */
	METRICS_ENROLL_ERROR,        /* a 5xx: the server failed */
	METRICS_ENROLL_COUNT_
};

/* The request methods counted apart; others count as "other". */
#define METRICS_METHODS 8

/* Revisions named apart in mcpfleet_agents_by_revision; the connected
 * agents on older ones count as revision="older". */
#define METRICS_REVISIONS 5

/* The call outcomes of the launchers: store.h's enum store_call_outcome,
 * named by store_call_outcome_name(). */
#define METRICS_CALL_OUTCOMES 4

/* A revision and how many connected agents applied it. */
struct metrics_rev {
	uint64_t revision;
	uint64_t agents;
};

/*
 * Everything counted. The counters are atomics that any thread adds to;
 * the request routes are fixed at metrics_new(). The connected agents'
 * revisions are a small table under rev_mu, which the hub holds for one
 * short walk of the distinct revisions when an agent's changes, and a
 * rendering for one copy of it.
 */
struct metrics {
	int64_t start_time; /* Unix seconds */
	atomic_uint_least64_t enroll[METRICS_ENROLL_COUNT_];
	atomic_uint_least64_t calls[METRICS_CALL_OUTCOMES];
	atomic_uint_least64_t revisions; /* published by this process */
	atomic_uint_least64_t revision_latest;
	atomic_uint_least64_t pushes; /* envelopes sent to agents */
	struct metrics_hist push_latency;

	/* Requests by route (the names given to metrics_new()), method and
	 * status; latency by route and method. */
	size_t nroutes;
	char **routes;
	atomic_uint_least64_t *requests; /* [route][method][status] */
	struct metrics_hist *latency;    /* [route][method] */

	pthread_mutex_t rev_mu;
	struct metrics_rev *revs; /* unsorted; agents > 0 */
	size_t nrevs, caprevs;
	uint64_t agents_none; /* connected, no revision applied yet */
};

/*
 * Makes a registry whose request routes are names[0..n) (copied; "route"
 * label values). start_time is the process's start, Unix seconds.
 * Returns 0 with *out (free with metrics_free()) or -ERR_NOMEM.
 */
int metrics_new(const char *const *names, size_t n, int64_t start_time,
                struct metrics **out);
void metrics_free(struct metrics *m);

/* Counts one answered request of route index route (< nroutes), method
 * and HTTP status, which took ns nanoseconds. */
void metrics_request(struct metrics *m, size_t route, const char *method,
                     int status, uint64_t ns);
void metrics_enroll(struct metrics *m, enum metrics_enroll outcome);
/* Counts n launcher calls of outcome (0..METRICS_CALL_OUTCOMES-1). */
void metrics_calls(struct metrics *m, unsigned outcome, uint64_t n);
/* A revision was published (or, in a replica set, taken from the
 * store). */
void metrics_revision(struct metrics *m, uint64_t revision);
void metrics_push(struct metrics *m);
/* An agent applied a pushed revision ns nanoseconds after it was
 * published (or after the agent connected, when that was later). */
void metrics_push_applied(struct metrics *m, uint64_t ns);

/*
 * A connected agent's applied revision changed: it had one (had, with
 * from: 0 for none applied) and now has one (has, with to). An agent that
 * connects is (false, 0, true, to), one that leaves (true, from, false,
 * 0). Returns 0 or -ERR_NOMEM (the table then misses this agent).
 */
int metrics_agent_revision(struct metrics *m, bool had, uint64_t from, bool has,
                           uint64_t to);

/* What the registry does not count itself, read by the caller when it
 * renders. */
struct metrics_facts {
	uint64_t connected;    /* agents connected now (distinct devices) */
	uint64_t streams;      /* console event streams open now */
	uint64_t store_errors; /* the store's failures (store_errors()) */
	bool process;          /* add the process_* metrics from /proc */
};

/* Appends the whole exposition to b. Returns 0 or -ERR_NOMEM. */
int metrics_render(struct metrics *m, const struct metrics_facts *f,
                   struct buf *b);

#endif
