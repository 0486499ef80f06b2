/* SPDX-License-Identifier: MIT */
/* mcpfleetctl, the admin CLI over the REST API (server/API.md), as a
 * library: ctl_main.c is only its entry point. */
#ifndef MCPFLEET_CTL_H
#define MCPFLEET_CTL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "netclient.h"

/* Exit codes. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1, /* the server refused the request (4xx) */
	CTL_EXIT_USAGE = 2,   /* usage or local configuration error */
	CTL_EXIT_SERVER = 3,  /* cannot reach or trust the server, or 5xx */
};

/*
 * Everything a run takes from its process, so that tests can supply their
 * own. The env_* strings are the values of MCPFLEET_SERVER,
 * MCPFLEET_TOKEN, MCPFLEET_CA and MCPFLEET_CA_SHA256 (NULL: unset).
 */
struct ctl_io {
	FILE *out; /* answers */
	FILE *err; /* errors, the secret prompt */
	FILE *in;  /* secret values; read without echo when a terminal */
	const char *env_server;
	const char *env_token;
	const char *env_ca;
	const char *env_ca_sha256;
	int64_t now; /* Unix seconds, for "--since 1h" */
};

/*
 * Runs "mcpfleetctl ARGS..." (argv holds the arguments after the program
 * name): parses them, sends one request, prints the answer (a table, or
 * the API's JSON with --json) or what went wrong. Returns an enum
 * ctl_exit code.
 */
int ctl_main(const struct ctl_io *io, int argc, char **argv);

/* Checks the command table: every command takes at most as many options
 * as a run can hold. Returns 0, or -ERR_INTERNAL with d naming the
 * command. For tests. */
int ctl_selfcheck(struct diag *d);

/* One API request. */
struct ctl_request {
	const char *method; /* static: "GET", "POST", "PUT" or "DELETE" */
	char *path;         /* "/api/v1/..." with its query; owned */
	json_t *body;       /* owned; NULL for none */
};

/*
 * Builds the request that argv stands for, as ctl_main would, without the
 * connection settings and without sending it ("secret set" reads its value
 * from io->in). Returns CTL_EXIT_OK with *req filled (clear it with
 * ctl_request_clear()), req->method NULL when argv only asked for help
 * (printed to io->out); otherwise the exit code, with the reason printed
 * to io->err.
 */
int ctl_build_request(const struct ctl_io *io, int argc, char **argv,
                      struct ctl_request *req);

/* Frees what a request owns and empties it. NULL-safe. */
void ctl_request_clear(struct ctl_request *req);

/*
 * The exit code of an exchange: fail is how netclient_https() failed
 * (NETCLIENT_OK when an answer arrived), status the answer's HTTP status.
 */
int ctl_exit_for(enum netclient_fail fail, int status);

/*
 * Parses a duration: a number of seconds ("45"), or numbers with units s,
 * m, h, d or w ("90s", "30m", "24h", "7d", "1h30m"). Returns 0 with *secs
 * (at least 1, at most 100 years), or -ERR_INVALID.
 */
int ctl_duration_parse(const char *s, int64_t *secs);

/*
 * Parses a point in time: Unix seconds ("1717200000"), a UTC date
 * ("2024-06-01" or "2024-06-01T12:00:00Z"), or a duration ago ("1h", as
 * ctl_duration_parse()) counted back from now. Returns 0 with *t (never
 * negative), or -ERR_INVALID.
 */
int ctl_since_parse(const char *s, int64_t now, int64_t *t);

#endif
