/* SPDX-License-Identifier: MIT */
/* mcpfleet sync: merge the catalogues, plan every host, write, report. */
#ifndef MCPFLEET_SYNC_H
#define MCPFLEET_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "adapter.h"
#include "catalogue.h"
#include "hostfile.h"

/* Exit codes of the agent's commands (docs/design.md). */
enum {
	EXIT_OK = 0,
	EXIT_BLOCKED = 1,      /* one or more hosts blocked */
	EXIT_CONFIG = 2,       /* usage or configuration error */
	EXIT_NOT_ENROLLED = 3, /* not enrolled, or the server is unreachable */
	EXIT_REVOKED = 4,      /* "run": the server revoked this device; its
	                          fleet entries and credentials are gone */
};

struct sync_opts {
	const char *home;           /* $MCPFLEET_HOME */
	const struct host_env *env; /* where the hosts are */
	bool dry_run;               /* plan and print; write nothing at all */
	bool json;                  /* print the stable JSON report */
	bool ignore_stamps;         /* re-read every file (benchmarks, tests) */
	bool quiet;                 /* print no plan and no warnings (the
	                               agent's periodic re-check); errors are
	                               still printed */
	/* When set, a file that must still exist once the lock is held (the
	 * agent's enrollment.json); if it is gone, nothing is read or written
	 * and the result is EXIT_NOT_ENROLLED. */
	const char *require;
	/* The absolute path of the mcpfleet binary that launcher entries run
	 * ("mcpfleet exec NAME"); NULL: this process's own executable. */
	const char *launcher;
	FILE *out;
	FILE *err;
};

/*
 * Renders fleet (may be NULL) plus personal into every present host, as
 * docs/design.md's "Files on a workstation" says: fleet entries win a name
 * clash, which is reported. Records the result in state.json unless a dry
 * run. Prints the plan (human or JSON) to o->out, warnings to o->err.
 * Returns an exit code: EXIT_OK, EXIT_BLOCKED, or EXIT_CONFIG (state.json
 * unreadable, $MCPFLEET_HOME unusable: o->err says why).
 */
int sync_run(const struct sync_opts *o, const struct catalogue *personal,
             const struct catalogue *fleet, uint64_t fleet_revision);

/*
 * The entry a host gets for a server reached through the launcher
 * (server_via_launcher()): a stdio server running launcher with "exec
 * NAME" ("exec --home HOME NAME" when home is not the default ~/.mcpfleet
 * of env), keeping only the name, the hosts allowlist and disabled: no
 * env, headers, URL, tool filter or secret. Returns 0 with *out (free with
 * server_clear()), or -ERR_NOMEM.
 */
int sync_launcher_entry(const struct server *s, const char *launcher,
                        const char *home, const struct host_env *env,
                        struct server *out);

/* Fills buf with the absolute path of this process's executable. Returns
 * 0, or -ERR_IO when the system does not say. */
int sync_self_path(char *buf, size_t size);

/* What a sync did to one host, for the agent's report to the server. */
struct sync_host_result {
	const char *id;          /* the adapter's id (static) */
	enum host_status status; /* ok, blocked, skipped or absent */
	char *message;           /* why blocked or skipped; NULL otherwise */
	struct strv managed;     /* the names mcpfleet manages there now */
	struct strv warnings;    /* what the host could not do as asked */
	bool changed;            /* the file was written (in a dry run: would
	                            be) */
};

struct sync_result {
	struct sync_host_result *hosts; /* every adapter, registry order */
	size_t n;
};

/*
 * As sync_run (EXIT_NOT_ENROLLED too, see o->require), and when every host
 * was planned (the exit code is EXIT_OK
 * or EXIT_BLOCKED) fills *out (free with sync_result_clear) with what
 * happened to each host. *out is left alone on EXIT_CONFIG.
 */
int sync_run_report(const struct sync_opts *o, const struct catalogue *personal,
                    const struct catalogue *fleet, uint64_t fleet_revision,
                    struct sync_result *out);

/* Frees what a result holds and zeroes it. NULL-safe. */
void sync_result_clear(struct sync_result *r);

#endif
