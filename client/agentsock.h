/* SPDX-License-Identifier: MIT */
/* The agent's socket, $MCPFLEET_HOME/agent.sock: launchers ("mcpfleet
 * exec") ask the running agent for a server's definition and for rate
 * decisions, hand it their call records, and are told when to stop. */
#ifndef MCPFLEET_AGENTSOCK_H
#define MCPFLEET_AGENTSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "catalogue.h"
#include "err.h"
#include "spool.h"

#define AGENTSOCK_FILE          "agent.sock"
#define AGENTSOCK_LINE_MAX      (1u << 20) /* one message, either way */
#define AGENTSOCK_SESSIONS_MAX  512
#define AGENTSOCK_GRACE_DEFAULT (7 * 86400) /* offline_grace, seconds */

/*
 * Why a launcher refuses to run, as its exit code (README, "mcpfleet
 * exec"); the agent sends the same numbers.
 */
enum exec_exit {
	EXEC_EXIT_USAGE = 2, /* bad arguments, unset ${VAR} */
	EXEC_EXIT_NOT_ENROLLED =
	    3,                  /* not enrolled (and not a personal server) */
	EXEC_EXIT_REVOKED = 4,  /* the fleet revoked this device */
	EXEC_EXIT_UNKNOWN = 5,  /* not in the applied catalogue, disabled,
	                           or removed while running */
	EXEC_EXIT_NO_AGENT = 6, /* the agent is not running (a server with
	                           secrets needs it) */
	EXEC_EXIT_OFFLINE = 7,  /* the fleet server unseen for longer than
	                           offline_grace */
	EXEC_EXIT_UNREACHABLE = 8, /* the remote server failed the session */
	EXEC_EXIT_SPAWN = 127,     /* the server's command cannot be run */
};

/* ---- The agent's side ---- */

struct agentsock;

/*
 * Listens on home/agent.sock (mode 0600; peers must be this uid,
 * SO_PEERCRED) and serves launchers on a thread of its own. Refuses
 * (-ERR_EXISTS) when another agent answers there; a stale socket file is
 * replaced. Records go to spool (borrowed; outlives the socket). log gets
 * one line per refusal. Returns 0 with *out (stop with agentsock_stop()),
 * or a negative code with d saying why.
 */
int agentsock_start(const char *home, struct spool *spool, FILE *log,
                    struct agentsock **out, struct diag *d);

/*
 * What the agent applied: the verified fleet catalogue (copied; its
 * secrets stay sealed), its revision, the user and device, the fleet's
 * offline_grace (seconds; 0: the default) and the device's data key
 * (DEVSECRET_KEY_LEN bytes, copied; NULL while none has come), with which
 * a session's secrets are opened when it starts. Live sessions of a server that
 * is gone or disabled now are told so and closed (their launchers exit within a
 * second).
 */
int agentsock_update(struct agentsock *as, const struct catalogue *fleet,
                     uint64_t revision, const char *user, const char *device_id,
                     int64_t offline_grace, const uint8_t *data_key);

/* The fleet server was reached at now (Unix seconds): the offline grace
 * starts again. */
void agentsock_contact(struct agentsock *as, int64_t now);

/* Ends every live session (code and reason tell the launchers why) and
 * refuses new ones from now on with the same answer. */
void agentsock_end_all(struct agentsock *as, enum exec_exit code,
                       const char *reason);

/* The number of live launcher sessions. */
size_t agentsock_sessions(struct agentsock *as);

/* Stops serving and removes the socket file; sessions see it closed (their
 * launchers go on, and attach to the next agent). NULL-safe. */
void agentsock_stop(struct agentsock *as);

/* ---- The launcher's side ---- */

/* A connection to the agent, line by line. */
struct agentsock_conn {
	int fd;
	char *buf; /* what was read and not yet taken */
	size_t len, cap;
};

/* Connects to home/agent.sock. Returns 0, -ERR_NOENT when no agent
 * listens there, -ERR_IO. */
int agentsock_connect(const char *home, struct agentsock_conn *c,
                      struct diag *d);
void agentsock_close(struct agentsock_conn *c);

/* Sends one message (a JSON object). Returns 0 or -ERR_IO. */
int agentsock_send(struct agentsock_conn *c, json_t *msg);

/*
 * Takes the next whole message, waiting at most timeout_ms (0: only what
 * has arrived; -1: no limit). Returns 0 with *msg (json_decref), -ERR_NOENT
 * when none came in time, -ERR_IO when the agent closed the connection or
 * sent a line that is not a JSON object or is too long.
 */
int agentsock_recv(struct agentsock_conn *c, int timeout_ms, json_t **msg);

/*
 * Asks for server name ("op": "open", or "attach" for a launcher that lost
 * its agent and found the next one). Returns 0 with *def (the canonical
 * entry, secrets opened; json_decref), or the refusal's exec_exit code
 * (> 0) with d saying why, or a negative code when the agent did not
 * answer.
 */
int agentsock_open(struct agentsock_conn *c, const char *op, const char *name,
                   json_t **def, struct diag *d);

#endif
