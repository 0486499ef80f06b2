/* SPDX-License-Identifier: MIT */
/* Rate limits ("60/min") and tool-name globs ("delete_*"): the spelling the
 * catalogue, the grants and the launcher's relay share. */
#ifndef MCPFLEET_RATE_H
#define MCPFLEET_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define RATE_COUNT_MAX 1000000u     /* calls in one period */
#define RATE_PER_MAX   (86400u * 7) /* the longest period: a week */
#define RATE_TEXT_MAX  32           /* "1000000/7day" and the NUL */
#define GLOB_MAX       256          /* bytes in a tool glob */

/* count calls per per_secs seconds; count 0 means no limit. */
struct rate {
	uint32_t count;
	uint32_t per_secs;
};

/* A limit on the tools whose names match a glob. */
struct tool_rate {
	char *tools; /* a glob: '*' matches any run of characters */
	struct rate rate;
};

struct tool_rate_list {
	struct tool_rate *v;
	size_t n;
};

/*
 * Parses "N/UNIT" or "N/KUNIT": N in 1..RATE_COUNT_MAX, UNIT one of s, sec,
 * second, m, min, minute, h, hour, d, day (a plural s allowed), K an
 * optional multiplier ("100/5min"), the period at most a week. Returns 0
 * with *out, or -ERR_INVALID with d saying why (field names the input).
 */
int rate_parse(const char *field, const char *text, struct rate *out,
               struct diag *d);

/* Writes the canonical spelling of r ("60/min", "5/hour", "10/30s") into
 * out. Returns out. */
const char *rate_format(const struct rate *r, char out[RATE_TEXT_MAX]);

/*
 * Parses "GLOB=RATE" (as --tool-rate takes it) into *out (free its glob
 * with tool_rate_clear()). Returns 0, -ERR_INVALID with d, -ERR_NOMEM.
 */
int tool_rate_parse(const char *field, const char *text, struct tool_rate *out,
                    struct diag *d);

/* Validates a tool glob: 1..GLOB_MAX printable ASCII bytes, no space.
 * Returns 0 or -ERR_INVALID with d. */
int glob_check(const char *field, const char *glob, struct diag *d);

/* True when name matches glob, where '*' matches any run of bytes
 * (possibly empty) and every other byte itself. Linear time. */
bool glob_match(const char *glob, const char *name);

/* True when name matches one of the n globs. */
bool glob_match_any(char *const *globs, size_t n, const char *name);

/* Appends a copy of (tools, rate), replacing the rate of an equal glob.
 * Returns 0 or -ERR_NOMEM. */
int tool_rate_list_put(struct tool_rate_list *l, const char *tools,
                       const struct rate *rate);
void tool_rate_clear(struct tool_rate *t);
void tool_rate_list_clear(struct tool_rate_list *l);

/* The stricter of two limits: the lower sustained rate (count / per);
 * a zero count is no limit. */
struct rate rate_stricter(struct rate a, struct rate b);

#endif
