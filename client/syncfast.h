/* SPDX-License-Identifier: MIT */
/*
 * The no-op fast path of sync: a record of the last sync that found nothing
 * to change, keyed by everything its plans depended on, so that the next
 * sync with the same inputs prints the same report without rendering or
 * reading a host file (docs/design.md, "The sync fast path").
 */
#ifndef MCPFLEET_SYNCFAST_H
#define MCPFLEET_SYNCFAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "hostfile.h"
#include "sync.h"

#define SYNCFAST_FILE "sync.fast" /* in $MCPFLEET_HOME */

struct syncfast_key {
	/* The catalogue as planned (every server, with the environment values
	 * of its ${VAR}s), this binary, the options, every host's location
	 * and the stamps (dev, inode, size, mtime, ctime) of its files. */
	unsigned char hosts[32];
	/* hosts, and the stamp of state.json. */
	unsigned char full[32];
	int64_t newest_ns; /* the latest mtime or ctime stamped, Unix ns */
};

/*
 * Computes the key of a sync of servers (what the planner is given) with
 * o, the fleet's revision (0 when none) and state.json at state_path.
 * Returns 0, or -ERR_NOMEM / -ERR_CRYPTO.
 */
int syncfast_key(const struct sync_opts *o, const struct server *servers,
                 size_t n, uint64_t revision, const char *state_path,
                 struct syncfast_key *k);

/*
 * Loads the record at path. Returns 0 with *plans (adapter_count plans;
 * free each with host_plan_clear, then the array) when it was made with
 * key k; 1 when there is no such record (missing, another key, another
 * version, unreadable); -ERR_NOMEM.
 */
int syncfast_load(const char *path, const struct syncfast_key *k,
                  struct host_plan **plans);

/*
 * Records plans (adapter_count of them, a sync that changed nothing) at
 * path under key k. Returns 0, or -ERR_NOMEM / -ERR_IO.
 */
int syncfast_save(const char *path, const struct syncfast_key *k,
                  const struct host_plan *plans);

#endif
