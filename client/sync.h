/* SPDX-License-Identifier: MIT */
/* mcpfleet sync: merge the catalogues, plan every host, write, report. */
#ifndef MCPFLEET_SYNC_H
#define MCPFLEET_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "adapter.h"
#include "catalogue.h"

/* Exit codes of the agent's commands (DESIGN.md). */
enum {
	EXIT_OK = 0,
	EXIT_BLOCKED = 1,      /* one or more hosts blocked */
	EXIT_CONFIG = 2,       /* usage or configuration error */
	EXIT_NOT_ENROLLED = 3, /* not enrolled, or the server is unreachable */
};

struct sync_opts {
	const char *home;           /* $MCPFLEET_HOME */
	const struct host_env *env; /* where the hosts are */
	bool dry_run;               /* plan and print; write nothing at all */
	bool json;                  /* print the stable JSON report */
	bool ignore_stamps;         /* re-read every file (benchmarks, tests) */
	FILE *out;
	FILE *err;
};

/*
 * Renders fleet (may be NULL) plus personal into every present host, as
 * DESIGN.md's "Files on a workstation" says: fleet entries win a name
 * clash, which is reported. Records the result in state.json unless a dry
 * run. Prints the plan (human or JSON) to o->out, warnings to o->err.
 * Returns an exit code: EXIT_OK, EXIT_BLOCKED, or EXIT_CONFIG (state.json
 * unreadable, $MCPFLEET_HOME unusable: o->err says why).
 */
int sync_run(const struct sync_opts *o, const struct catalogue *personal,
             const struct catalogue *fleet, uint64_t fleet_revision);

#endif
