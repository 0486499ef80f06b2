/* SPDX-License-Identifier: MIT */
/* Token buckets for one server's rate limits. */
#include "limiter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A bucket counts in units of 1/per_ms token, so that one millisecond adds
 * exactly count units: there is no rounding, hence no drift, and a refill
 * is exact at its boundary. A full bucket holds count * per_ms units, at
 * most 10^6 * 604.8 * 10^6, well inside int64_t.
 */
struct limiter_bucket {
	char *glob; /* NULL: the server's bucket */
	struct rate rate;
	int64_t per_ms;
	int64_t units; /* tokens * per_ms */
	int64_t last_ms;
	bool started;
};

struct limiter {
	struct limiter_bucket *v;
	size_t n;
};

static void limiter_bucket_init(struct limiter_bucket *b,
                                const struct rate *rate)
{
	b->rate = *rate;
	b->per_ms = (int64_t)rate->per_secs * 1000;
	b->units = (int64_t)rate->count * b->per_ms;
	b->last_ms = 0;
	b->started = false;
}

int limiter_new(const struct rate *server_rate,
                const struct tool_rate_list *tool_rates, struct limiter **out)
{
	struct limiter *l;
	size_t i, cap = 1 + (tool_rates ? tool_rates->n : 0);
	int r = -ERR_NOMEM;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto out;
	if ((l->v = calloc(cap, sizeof(*l->v))) == NULL)
		goto out;
	if (server_rate != NULL && server_rate->count > 0 &&
	    server_rate->per_secs > 0)
		limiter_bucket_init(&l->v[l->n++], server_rate);
	for (i = 0; tool_rates != NULL && i < tool_rates->n; i++) {
		const struct tool_rate *t = &tool_rates->v[i];

		if (t->rate.count == 0 || t->rate.per_secs == 0 ||
		    t->tools == NULL)
			continue;
		if ((l->v[l->n].glob = strdup(t->tools)) == NULL)
			goto out;
		limiter_bucket_init(&l->v[l->n++], &t->rate);
	}
	*out = l;
	l = NULL;
	r = 0;
out:
	limiter_free(l);
	return r;
}

/* Brings a bucket up to now_ms. */
static void limiter_refill(struct limiter_bucket *b, int64_t now_ms)
{
	int64_t full = (int64_t)b->rate.count * b->per_ms, dt;

	if (!b->started) {
		b->started = true;
		b->last_ms = now_ms;
		return;
	}
	if (now_ms <= b->last_ms)
		return;
	dt = now_ms - b->last_ms;
	b->last_ms = now_ms;
	/* A whole period refills any bucket; capping dt keeps the product
	 * small. */
	if (dt >= b->per_ms || b->units + dt * (int64_t)b->rate.count >= full)
		b->units = full;
	else
		b->units += dt * (int64_t)b->rate.count;
}

/* Milliseconds until b holds one token: ceil(missing units / count). */
static int64_t limiter_wait(const struct limiter_bucket *b)
{
	int64_t missing = b->per_ms - b->units;

	if (missing <= 0)
		return 0;
	return (missing + (int64_t)b->rate.count - 1) / (int64_t)b->rate.count;
}

static void limiter_why(const struct limiter_bucket *b, char *why,
                        size_t whylen)
{
	char rt[RATE_TEXT_MAX];

	if (why == NULL || whylen == 0)
		return;
	(void)rate_format(&b->rate, rt);
	if (b->glob == NULL)
		(void)snprintf(why, whylen, "rate limit %s for server calls",
		               rt);
	else
		(void)snprintf(why, whylen,
		               "rate limit %s for tools matching '%s'", rt,
		               b->glob);
}

int limiter_take(struct limiter *l, const char *tool, int64_t now_ms,
                 int64_t *retry_ms, char *why, size_t whylen)
{
	const struct limiter_bucket *worst = NULL;
	int64_t wait = 0, w;
	size_t i;

	if (l == NULL)
		return 0;
	if (tool == NULL)
		tool = "";
	for (i = 0; i < l->n; i++) {
		struct limiter_bucket *b = &l->v[i];

		if (b->glob != NULL && !glob_match(b->glob, tool))
			continue;
		limiter_refill(b, now_ms);
		if ((w = limiter_wait(b)) > wait || (w > 0 && worst == NULL)) {
			wait = w;
			worst = b;
		}
	}
	if (worst != NULL) {
		if (retry_ms != NULL)
			*retry_ms = wait;
		limiter_why(worst, why, whylen);
		return 1;
	}
	for (i = 0; i < l->n; i++) {
		struct limiter_bucket *b = &l->v[i];

		if (b->glob == NULL || glob_match(b->glob, tool))
			b->units -= b->per_ms;
	}
	return 0;
}

void limiter_free(struct limiter *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i].glob);
	free(l->v);
	free(l);
}
