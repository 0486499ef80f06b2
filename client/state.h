/* SPDX-License-Identifier: MIT */
/* The agent's state.json: what it manages in each host, and when it last
 * synced. */
#ifndef MCPFLEET_STATE_H
#define MCPFLEET_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hostfile.h"

#define STATE_VERSION 1

struct state_host {
	char *id;
	struct host_state st;
};

struct agent_state {
	uint64_t revision; /* last applied fleet revision, 0 when none */
	int64_t last_sync; /* Unix seconds, 0 when never */
	bool pending;      /* a sync was writing: it may have been cut short */
	struct state_host *hosts;
	size_t n;
};

/*
 * Loads state.json. A missing file is an empty state. Returns 0 and fills
 * *out (free with state_clear), or -ERR_PARSE / -ERR_INVALID with d naming
 * the field, -ERR_IO, -ERR_NOMEM.
 */
int state_load(const char *path, struct agent_state *out, struct diag *d);

/* Writes state.json crash-safely (0600). Returns 0 or -ERR_IO / -ERR_NOMEM. */
int state_save(const char *path, const struct agent_state *st);

/* Returns the state of a host, or NULL. */
const struct host_state *state_get(const struct agent_state *st,
                                   const char *id);

/*
 * Replaces the state of a host with *hs, taking what it holds (zeroed).
 * Returns 0 or -ERR_NOMEM.
 */
int state_put(struct agent_state *st, const char *id, struct host_state *hs);

/* Frees what a state holds and zeroes it. NULL-safe. */
void state_clear(struct agent_state *st);

#endif
