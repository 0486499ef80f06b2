/* SPDX-License-Identifier: MIT */
/* The calls spool: audit records of the launchers, kept on disk (0600,
 * bounded) until mcpfleetd acknowledges them. */
#ifndef MCPFLEET_SPOOL_H
#define MCPFLEET_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "mcpfleet.pb-c.h"

#define SPOOL_FILE        "calls.spool"
#define SPOOL_HELD_FILE   "calls.held" /* records no agent took */
#define SPOOL_DEFAULT_MAX (8u << 20)   /* bytes, until the server says */
#define SPOOL_MIN_MAX     (64u << 10)
#define SPOOL_MAX_MAX     (256u << 20)
#define SPOOL_NAME_MAX    512 /* bytes of a tool, URI or prompt name */
#define SPOOL_DETAIL_MAX  255

/* One record as a launcher reports it; the spool assigns the seq. */
struct spool_record {
	int64_t at_ms;
	const char *server;
	const char *method;
	const char *name;
	int64_t duration_us;
	int outcome; /* Mcpfleet__V1__CallOutcome */
	uint64_t bytes_in;
	uint64_t bytes_out;
	const char *detail; /* may be NULL */
};

/*
 * Reads a launcher's "call" message (client/agentsock.c) into *r for
 * server; the strings point into msg. Returns 0, or -ERR_INVALID when the
 * method or the outcome is missing or unknown.
 */
int spool_record_from_json(const json_t *msg, const char *server,
                           struct spool_record *r);

/*
 * The records are lines of JSON in SPOOL_FILE, each with its seq; the
 * first line may be {"acked": N}, the highest seq the server stored. seqs
 * grow strictly, and start above both the file's and the wall clock's
 * microseconds, so that a seq is never reused after a restart: the server
 * keeps one record per (device, seq), which makes a delivery repeated after
 * a lost acknowledgement harmless. When the records exceed the size limit
 * the oldest go, and are counted in dropped.
 *
 * A spool is shared by the agent's threads: every function locks it.
 */
struct spool;

/*
 * Opens (creating it 0600 when absent) the spool at path, keeping at most
 * max_bytes of records. A line that does not parse is dropped and counted.
 * Returns 0 with *out (free with spool_free()), -ERR_IO or -ERR_NOMEM with
 * d naming the file.
 */
int spool_open(const char *path, size_t max_bytes, struct spool **out,
               struct diag *d);
void spool_free(struct spool *s);

/* Sets the size limit (clamped to SPOOL_MIN_MAX..SPOOL_MAX_MAX), dropping
 * the oldest records if they exceed it. */
void spool_set_max(struct spool *s, size_t max_bytes);

/* Appends a record (strings copied, names capped), assigning its seq, and
 * writes it to the file. Returns 0, -ERR_IO (the record is kept in memory
 * and written with the next rewrite) or -ERR_NOMEM. */
int spool_append(struct spool *s, const struct spool_record *r);

/*
 * Fills *batch (free with spool_batch_clear()) with up to max records of
 * seq > after, oldest first, and the dropped total. Returns the number of
 * records taken (0: nothing to send).
 */
size_t spool_batch(struct spool *s, uint64_t after, size_t max,
                   Mcpfleet__V1__CallBatch *batch);
void spool_batch_clear(Mcpfleet__V1__CallBatch *batch);

/* The server stored every record up to through: forgets them and rewrites
 * the file. Returns 0 or -ERR_IO. */
int spool_ack(struct spool *s, uint64_t through);

/*
 * The records a launcher could not hand to the agent (none was running, or
 * it went away mid-session) go to SPOOL_HELD_FILE in home, which only
 * launchers append to and only the agent empties, both under an exclusive
 * flock(): the spool file itself has one writer, the agent. spool_hold()
 * appends the "call" messages msgs[0..n) of server (0600, at most
 * SPOOL_MAX_MAX bytes in the file: beyond it they are refused). Returns 0,
 * or -ERR_IO / -ERR_NOMEM / -ERR_INVALID (full) with d naming the file.
 */
int spool_hold(const char *home, const char *server, json_t *const *msgs,
               size_t n, struct diag *d);

/*
 * Moves the held records of home into s (new seqs), then empties the held
 * file. Cheap when there is none. Returns the records taken, or -ERR_IO
 * with d naming the file (the held file is left as it was).
 */
int spool_absorb(struct spool *s, const char *home, struct diag *d);

/* The highest acknowledged seq, the records kept and their bytes, and how
 * many were dropped in all. */
uint64_t spool_acked(struct spool *s);
size_t spool_count(struct spool *s);
uint64_t spool_dropped(struct spool *s);

#endif
