/* SPDX-License-Identifier: MIT */
/* The server-entry flags shared by "mcpfleet add" and "mcpfleetctl server
 * add/set". */
#ifndef MCPFLEET_SERVERFLAGS_H
#define MCPFLEET_SERVERFLAGS_H

#include <jansson.h>

#include "err.h"

/*
 * Parses the flags after NAME into one canonical JSON entry:
 *   --command CMD [--arg A]... | --url URL [--type http|sse] [--header 'K:
 * V']...
 *   [--env K=V]... [--host ID]... [--disabled] [--tools-allow a,b]
 *   [--tools-deny a,b] [--via launcher|direct] [--rate N/PERIOD]
 *   [--tool-rate GLOB=N/PERIOD]... | --json '{...}'
 * Flags may also be written --flag=value; unknown flags are errors, so the
 * caller passes only the arguments after NAME. Returns 0 with *out a
 * new object (caller json_decref()s), or -ERR_USAGE with d naming the flag.
 * The entry is not validated here: server_from_json does that.
 */
int serverflags_parse(int argc, char **argv, json_t **out, struct diag *d);

#endif
