/* SPDX-License-Identifier: MIT */
/* Plans and applies the managed entries of one host file; the heart of every
 * sync. */
#ifndef MCPFLEET_HOSTFILE_H
#define MCPFLEET_HOSTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "catalogue.h"
#include "edit.h"
#include "fileio.h"

enum host_status {
	HOST_OK,      /* planned (and applied, unless a dry run) */
	HOST_BLOCKED, /* the file or the environment is unusable: untouched */
	HOST_SKIPPED, /* present, but excluded from this run */
	HOST_ABSENT,  /* not installed on this machine */
};

enum plan_op {
	PLAN_ADD,
	PLAN_UPDATE,
	PLAN_REMOVE,
	PLAN_UNCHANGED,
	PLAN_SKIP,     /* the host cannot take this server (reason says why) */
	PLAN_CONFLICT, /* the user has an entry of that name: left alone */
	/* a ${VAR} of it is not set now: the entry written earlier stays as
	 * it was until the variable is set or the catalogue changes it */
	PLAN_HELD,
};

struct plan_item {
	char *name;
	enum plan_op op;
	char *reason; /* for SKIP, CONFLICT and some REMOVEs; may be NULL */
};

/* What a file looked like when it was last synced: the no-op fast path. */
struct host_stamp {
	bool valid;
	uint64_t dev, ino, size;
	int64_t mtime_ns;
	/* An edit that keeps the size and puts the mtime back still moves
	 * the ctime (0 in a state.json from before it was kept: no match). */
	int64_t ctime_ns;
	char digest[65]; /* hex SHA-256 of the plan's inputs */
	/* A digest of the file's text as the sync left it (a 128-bit hash,
	 * hex), "" when not known: the same text, though the file was
	 * rewritten since (the stamp moved), is still as written. */
	char text[33];
};

/* Hex digits of the digest of an entry's inputs (struct hostfile_input). */
#define HOSTFILE_INPUT_HEX 32

/* The managed state of one host, as state.json keeps it. */
struct host_state {
	char *path;          /* the file the names below live in */
	struct strv managed; /* entries mcpfleet wrote */
	/* For entries with ${VAR}s: the digest of the catalogue's definition
	 * each was written from (hostfile_source_digest()), which tells a
	 * held entry's catalogue change from a variable merely unset. */
	struct kvlist written;
	bool created_container; /* the key path object was made by us */
	bool created_file;      /* the file was made by us */
	struct host_stamp stamp;
	/* For each name of managed, in its order, HOSTFILE_INPUT_HEX hex
	 * digits: the digest of what its entry was rendered from (struct
	 * hostfile_input), or as many '-' when it has none (the entry depends
	 * on the environment, or is a rule). NULL when nothing is recorded.
	 * While the file keeps stamp, an entry whose server has the same
	 * digest now is known to be as written: it is not rendered again. */
	char *inputs;
	/* The rules in the host's second file (struct adapter_filters),
	 * managed as above by rule; NULL when there is none. */
	struct host_state *filters;
};

struct host_plan {
	const struct adapter *adapter;
	struct host_location loc;
	enum host_status status;
	char *message; /* why blocked or skipped; NULL when OK */
	struct plan_item *items;
	size_t nitems;
	struct strv warnings;
	struct host_state after; /* the state once applied */
	bool changed;            /* the edit changes the file */
	bool delete_file;        /* remove the file instead of writing it */
	bool read;               /* the file was read (not the fast path) */
	/* Of a rules' plan: its file is the host's own. Planned after the
	 * host's, on its text when that plan read the file, and then joined
	 * into it (one write). */
	bool shares_file;
	bool joined; /* its change went into the host's text: written with it */
	char *old_text;
	size_t old_len;
	bool old_exists;
	/* The text to write: old_text with the splice applied (a new file:
	 * the splice's text alone). A large file's edit is a small piece
	 * between its unchanged head and tail, written as three. */
	struct edit_splice edit;
	char *backup_path; /* set by hostfile_apply when it backed up */
	struct host_stamp read_stamp; /* the file as it was when read */
	/* The host's tool rules in their own file (struct adapter_filters):
	 * a plan of that file, its items named by rule; NULL when none. */
	struct host_plan *filters;
};

/* True when applying p writes a file: the host's, or its rules' file. */
bool hostfile_changed(const struct host_plan *p);

/* Returns "add", "update", ... for an op, "ok", "blocked", ... for a status. */
const char *plan_op_name(enum plan_op op);
const char *host_status_name(enum host_status st);

/*
 * Plans one host: where its file is, which of servers it should hold
 * (the hosts allowlist, disabled, ${VAR}s, what the host can take), and
 * the adds, updates and removes against the file and prev (the state of
 * the last sync; NULL for none). Never fails for a bad file: that makes
 * the plan BLOCKED with a message naming the file, line and reason.
 * Returns 0 and fills *out (free with host_plan_clear), or -ERR_NOMEM.
 */
int hostfile_plan(const struct adapter *a, const struct host_env *env,
                  const struct server *servers, size_t nservers,
                  const struct host_state *prev, struct host_plan *out);

/*
 * What a server's entry is rendered from, the same for every host: a
 * digest of the render version and of every field of the server as the
 * planner is given it. hex is "" when the entry depends on more than that
 * (a ${VAR} or ${host:VAR} in a value, sealed secrets): such an entry is
 * rendered at every plan.
 */
struct hostfile_input {
	char hex[HOSTFILE_INPUT_HEX + 1];
};

/*
 * Fills out[0 .. n) with the inputs of servers[0 .. n), under the render
 * version version (NULL: this build's; another one only for tests).
 * Returns 0 or -ERR_CRYPTO.
 */
int hostfile_inputs(const struct server *servers, size_t n, const char *version,
                    struct hostfile_input *out);

/*
 * hostfile_plan, given the servers' inputs (hostfile_inputs(), computed
 * once for every host; NULL: computed here). The entries that prev records
 * with the same inputs, in a file whose stamp is still prev's, are as
 * written: they are neither rendered nor compared (PLAN_UNCHANGED).
 */
int hostfile_plan_inputs(const struct adapter *a, const struct host_env *env,
                         const struct server *servers, size_t nservers,
                         const struct hostfile_input *inputs,
                         const struct host_state *prev, struct host_plan *out);

/* The digest of a file's text, as struct host_stamp.text holds it. */
void hostfile_text_digest(const char *text, size_t len, char hex[33]);

/*
 * Writes a planned change: backs the old file up to <file>.bak (once per
 * plan), then writes the new text crash-safely, keeping the file's mode. A
 * new file's missing directory is created (0700) when it lies below the
 * host's marker directory. Then the same for the rules' file, if it changes
 * (a failure there leaves the host's file written and p->filters BLOCKED).
 * Does nothing when the plan has no change. Returns 0; -ERR_CONFLICT when
 * another program changed the file since it was read (nothing written:
 * plan again); -ERR_IO. On failure the plan is BLOCKED with its message
 * set, and the file is untouched.
 */
int hostfile_apply(struct host_plan *p);

/*
 * hostfile_apply, each file's rename held until gate lets it happen (its
 * new content written and synced meanwhile), and the file checked once
 * more after that wait: -ERR_CONFLICT when another program changed it.
 * A gate that refuses leaves the files as they were (its code returned).
 */
int hostfile_apply_gated(struct host_plan *p, const struct fileio_gate *gate);

/* The path of a host file's backup ("<path>.bak"): a new string (caller
 * frees), or NULL on ENOMEM. */
char *hostfile_backup_path(const char *path);

/* Frees what a plan holds and zeroes it. NULL-safe. */
void host_plan_clear(struct host_plan *p);

/* True when two host states record the same thing. */
bool host_state_equal(const struct host_state *a, const struct host_state *b);

/* Fills *dst with a copy of *src (free with host_state_clear). Returns 0,
 * or -ERR_NOMEM with *dst empty. */
int host_state_copy(const struct host_state *src, struct host_state *dst);

/* Frees what a host state holds and zeroes it. NULL-safe. */
void host_state_clear(struct host_state *s);

#endif
