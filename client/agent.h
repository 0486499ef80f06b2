/* SPDX-License-Identifier: MIT */
/* The workstation agent's fleet half: "mcpfleet run" (stay connected,
 * apply signed catalogues, report, wipe on revocation), the verified
 * catalogue.pb, "status" and "unenroll". */
#ifndef MCPFLEET_AGENT_H
#define MCPFLEET_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "adapter.h"
#include "catalogue.h"
#include "err.h"

#define AGENT_VERSION     "0.1.0"
#define AGENT_STATUS_FILE "agent.status" /* what "run" is doing, for status */

#define AGENT_RECHECK_MS  30000 /* re-check the hosts for drift */
#define AGENT_BACKOFF_MIN 1000  /* first reconnect delay, ms */
#define AGENT_BACKOFF_MAX 60000 /* the cap, ms */
/* After losing an established connection, the first retry is spread over
 * this many times the first delay (docs/design.md "Scale": a restarted server
 * must not meet its whole fleet in the same second). */
#define AGENT_RESPREAD 10
/* The most a replica's advice (Replicas.respread_ms) may widen it to. */
#define AGENT_RESPREAD_MAX (300 * 1000)
/* Certificate renewal (docs/design.md, "Certificate renewal"), seconds: the
 * wait after a refusal or a connection closed as not understood (an older
 * server), after a connection lost with a request out, and after a
 * renewal before the next. */
#define AGENT_RENEW_RETRY (6 * 3600)
#define AGENT_RENEW_LOST  600
#define AGENT_RENEW_GAP   3600

struct agent_opts {
	const char *home;           /* $MCPFLEET_HOME */
	const struct host_env *env; /* where the hosts are */
	FILE *out;                  /* what each sync did */
	FILE *err;                  /* the log: connections, refusals */
	/* Set non-zero (from a signal handler or another thread) to make
	 * agent_run return EXIT_OK soon. */
	atomic_int *stop;
	/* 0 for the defaults above; tests shorten them. */
	unsigned recheck_ms;
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
	unsigned connect_timeout_ms; /* 0: 15000 */
	bool no_watch;               /* no inotify, only the periodic check */
	/* Renew the device certificate this many seconds before it expires;
	 * 0: once a third of its lifetime is left ("run --renew-before"). */
	int64_t renew_before_s;
};

/*
 * Runs "mcpfleet run" until *o->stop, the device is revoked, or the
 * enrollment disappears. Connects to a replica of the fleet
 * (wss://HOST:PORT/ of replicas.json, from this device's place in it on,
 * or the enrolled server and agent port) with the device certificate,
 * keeps the replica set the server sends, says Hello, applies every signed
 * catalogue newer than the applied revision (persisting it as catalogue.pb
 * first), reports each sync, answers pings, reconnects to the next replica with
 * jittered exponential backoff (doubled once per round of the set), and
 * re-applies the last verified catalogue when a host file lost managed
 * entries. Keeps agent.status current. Returns the exit code: EXIT_OK when
 * stopped; EXIT_NOT_ENROLLED when not enrolled (or unenrolled meanwhile);
 * EXIT_CONFIG when the enrollment files are unusable; EXIT_REVOKED after a
 * validly signed revocation removed every fleet entry and the credentials.
 */
int agent_run(const struct agent_opts *o);

/*
 * Loads the fleet catalogue for a sync: catalogue.pb verified again with
 * envelope_open against signer.pub and the enrolled user and device, and
 * not older than the revision state.json last applied. Returns 0 with *out
 * (free with catalogue_clear) and *revision; -ERR_NOENT when not enrolled
 * or no catalogue has arrived yet (a sync then has no fleet part); or
 * another negative code with d naming the file and why it was rejected.
 */
int agent_fleet_load(const char *home, struct catalogue *out,
                     uint64_t *revision, struct diag *d);

/*
 * Leaves the fleet: removes enrollment.json (a running agent stops, and
 * can no longer sync), syncs the personal catalogue with an empty fleet
 * one (every fleet-managed entry goes, personal ones stay, the applied
 * revision returns to 0) and deletes the rest of the enrollment
 * (enrollment_remove). When state.json or mcp.json does not load it
 * changes nothing and returns EXIT_CONFIG, still enrolled; with force (a
 * revocation) it goes on regardless, syncing an empty personal catalogue
 * in place of a broken one. Returns EXIT_OK; EXIT_BLOCKED when a host file
 * could not be cleaned (the next sync removes its entries once it is
 * fixed); EXIT_CONFIG when the sync or a removal failed after the
 * enrollment was gone. o->err says why.
 */
int agent_leave(const struct agent_opts *o, bool force);

/* Prints "mcpfleet status": enrollment, agent connection, revision and the
 * hosts, as text or JSON. Returns the exit code (EXIT_OK, EXIT_CONFIG). */
int agent_status(const struct agent_opts *o, bool json);

/*
 * The delay before the first reconnect after an established connection
 * was lost: uniform over [min_ms / 2, min_ms / 2 + W), W the larger of
 * AGENT_RESPREAD * min_ms and window_ms (the replica's advice, at most
 * AGENT_RESPREAD_MAX; 0: none), taken from rnd (uniform over 32 bits).
 * Every agent of a fleet loses a restarting server at the same moment;
 * this spreads them out over what the server can take.
 */
unsigned agent_respread_ms(unsigned min_ms, unsigned window_ms, uint32_t rnd);

/*
 * The delay before reconnect attempt number attempt (0, 1, ...): min_ms
 * doubled attempt times, capped at max_ms, then scaled by a jitter factor
 * in [0.5, 1.5) taken from rnd (uniform over 32 bits).
 */
unsigned agent_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms,
                          uint32_t rnd);

#endif
