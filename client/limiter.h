/* SPDX-License-Identifier: MIT */
/* Token buckets for one server's rate limits: one for the server, one per
 * tool glob. */
#ifndef MCPFLEET_LIMITER_H
#define MCPFLEET_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "rate.h"

/* The buckets of one server's limits. */
struct limiter;

/*
 * Makes the buckets for server_rate (count 0: no server limit) and for each
 * entry of tool_rates (NULL or empty: none; entries with count 0 are
 * ignored). The limits are copied. Every bucket starts full (burst = count)
 * and refills continuously at count per per_secs, in exact integer steps.
 * Returns 0 with *out a new limiter (free with limiter_free), or
 * -ERR_NOMEM.
 */
int limiter_new(const struct rate *server_rate,
                const struct tool_rate_list *tool_rates, struct limiter **out);

/*
 * Takes one token for a tools/call of tool at now_ms (a monotonic clock, in
 * milliseconds). The buckets that apply are the server's and that of every
 * tool glob matching tool. The call is admitted only when each of them holds
 * a token; a refusal takes no token from any bucket. Returns 0 when
 * admitted; 1 when refused, with *retry_ms the milliseconds until it would be
 * admitted and why (whylen bytes, NUL-terminated, truncated at whylen)
 * naming the limit that refused it, e.g. "rate limit 5/hour for tools
 * matching 'delete_*'" or "rate limit 60/min for server calls".
 * A clock going backwards counts as no time passing.
 */
int limiter_take(struct limiter *l, const char *tool, int64_t now_ms,
                 int64_t *retry_ms, char *why, size_t whylen);

/* Frees a limiter. NULL-safe. */
void limiter_free(struct limiter *l);

#endif
