/* SPDX-License-Identifier: MIT */
/* Rate limits and tool-name globs. */
#include "rate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct rate_unit {
	const char *name;
	uint32_t secs;
} rate_units[] = {
    {"s", 1},       {"sec", 1},  {"second", 1},  {"m", 60},    {"min", 60},
    {"minute", 60}, {"h", 3600}, {"hour", 3600}, {"d", 86400}, {"day", 86400},
};

/* Reads a decimal number of at most 7 digits at *p. */
static bool rate_number(const char **p, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)**p) && n < 8) {
		v = v * 10 + (uint32_t)(**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0 || n == 8)
		return false;
	*out = v;
	return true;
}

int rate_parse(const char *field, const char *text, struct rate *out,
               struct diag *d)
{
	const char *p = text;
	uint32_t count, mult = 1, secs = 0;
	size_t i, n;

	if (text == NULL || !rate_number(&p, &count) || *p != '/')
		goto bad;
	p++;
	if (isdigit((unsigned char)*p) && !rate_number(&p, &mult))
		goto bad;
	n = strlen(p);
	/* "minutes", "hours"; not "ms" (read as milliseconds) or "hs". */
	if (n > 2 && p[n - 1] == 's')
		n--;
	for (i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++)
		if (strlen(rate_units[i].name) == n &&
		    strncmp(p, rate_units[i].name, n) == 0)
			secs = rate_units[i].secs;
	if (secs == 0)
		goto bad;
	if (count == 0 || count > RATE_COUNT_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: '%s': the count must be 1 to %u", field,
		                text, RATE_COUNT_MAX);
	if (mult == 0 || (uint64_t)mult * secs > RATE_PER_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: '%s': the period must be 1 second to a "
		                "week",
		                field, text);
	out->count = count;
	out->per_secs = mult * secs;
	return 0;
bad:
	return diag_set(d, ERR_INVALID, 0, 0,
	                "%s: '%s' is not a rate (write it as COUNT/PERIOD: "
	                "60/min, 5/hour, 1000/day, 10/30s)",
	                field, text ? text : "");
}

const char *rate_format(const struct rate *r, char out[RATE_TEXT_MAX])
{
	static const struct {
		uint32_t secs;
		const char *name;
	} units[] = {{86400, "day"}, {3600, "hour"}, {60, "min"}, {1, "s"}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (r->per_secs % units[i].secs != 0)
			continue;
		if (r->per_secs == units[i].secs)
			(void)snprintf(out, RATE_TEXT_MAX, "%u/%s", r->count,
			               units[i].name);
		else
			(void)snprintf(out, RATE_TEXT_MAX, "%u/%u%s", r->count,
			               r->per_secs / units[i].secs,
			               units[i].name);
		return out;
	}
	(void)snprintf(out, RATE_TEXT_MAX, "%u/%us", r->count, r->per_secs);
	return out;
}

int glob_check(const char *field, const char *glob, struct diag *d)
{
	size_t i, n = glob ? strlen(glob) : 0;

	if (n == 0 || n > GLOB_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: a tool name or glob of 1 to %d bytes is "
		                "needed",
		                field, GLOB_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)glob[i] <= ' ' ||
		    (unsigned char)glob[i] >= 0x7f || glob[i] == '=' ||
		    glob[i] == ',')
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: '%.64s': a tool glob holds "
			                "printable ASCII other than space, "
			                "',' and '='",
			                field, glob);
	return 0;
}

int tool_rate_parse(const char *field, const char *text, struct tool_rate *out,
                    struct diag *d)
{
	const char *eq = text ? strrchr(text, '=') : NULL;
	char glob[GLOB_MAX + 1];
	struct rate rate;
	size_t n;
	int r;

	if (eq == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: '%s': write it as GLOB=RATE, e.g. "
		                "'delete_*=5/hour'",
		                field, text ? text : "");
	n = (size_t)(eq - text);
	if (n == 0 || n > GLOB_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: '%s': the tool glob before '=' must be 1 "
		                "to %d bytes",
		                field, text, GLOB_MAX);
	memcpy(glob, text, n);
	glob[n] = '\0';
	if ((r = glob_check(field, glob, d)) != 0 ||
	    (r = rate_parse(field, eq + 1, &rate, d)) != 0)
		return r;
	if ((out->tools = strdup(glob)) == NULL)
		return -ERR_NOMEM;
	out->rate = rate;
	return 0;
}

bool glob_match(const char *glob, const char *name)
{
	const char *star = NULL, *retry = NULL;

	/* The classic greedy matcher with one backtrack point: linear in
	 * practice, never exponential. */
	while (*name != '\0') {
		if (*glob == '*') {
			star = ++glob;
			retry = name;
		} else if (*glob == *name) {
			glob++;
			name++;
		} else if (star != NULL) {
			glob = star;
			name = ++retry;
		} else {
			return false;
		}
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}

bool glob_match_any(char *const *globs, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (glob_match(globs[i], name))
			return true;
	return false;
}

int tool_rate_list_put(struct tool_rate_list *l, const char *tools,
                       const struct rate *rate)
{
	struct tool_rate *nv;
	size_t i;
	char *c;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].tools, tools) == 0) {
			l->v[i].rate = *rate;
			return 0;
		}
	if ((c = strdup(tools)) == NULL)
		return -ERR_NOMEM;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
		free(c);
		return -ERR_NOMEM;
	}
	l->v = nv;
	l->v[l->n].tools = c;
	l->v[l->n].rate = *rate;
	l->n++;
	return 0;
}

void tool_rate_clear(struct tool_rate *t)
{
	if (t == NULL)
		return;
	free(t->tools);
	memset(t, 0, sizeof(*t));
}

void tool_rate_list_clear(struct tool_rate_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		tool_rate_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

struct rate rate_stricter(struct rate a, struct rate b)
{
	if (a.count == 0)
		return b;
	if (b.count == 0)
		return a;
	/* a.count / a.per < b.count / b.per, without division. */
	return (uint64_t)a.count * b.per_secs <= (uint64_t)b.count * a.per_secs
	           ? a
	           : b;
}
