/* SPDX-License-Identifier: MIT */
/* What a sync did, as people read it and as the stable --json report. */
#ifndef MCPFLEET_SYNCREPORT_H
#define MCPFLEET_SYNCREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "hostfile.h"
#include "sync.h"

/* One sync's report: built by sync_run_report, printed by
 * syncreport_print. It borrows everything it points at. */
struct sync_report {
	const struct host_plan *plans; /* every adapter, registry order */
	size_t n;
	const struct strv *warnings; /* about the catalogues (name clashes) */
	int exit_code;
};

/*
 * Prints r as o asks: nothing when o->quiet; with o->json the JSON report
 * on o->out; else each host's plan on o->out and every warning on o->err
 * (the catalogues' first, then each host's after its plan). Returns 0, or
 * -ERR_NOMEM (nothing printed of the JSON report).
 */
int syncreport_print(const struct sync_opts *o, const struct sync_report *r);

#endif
