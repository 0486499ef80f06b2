/* SPDX-License-Identifier: MIT */
/* "mcpfleet exec NAME": the launcher a host runs in place of an MCP
 * server. It fetches the definition from the agent, runs the real server
 * (or bridges to a remote one), and governs and audits its calls. */
#ifndef MCPFLEET_EXEC_H
#define MCPFLEET_EXEC_H

#include <stdio.h>

#include "adapter.h"
#include "agentsock.h"

struct exec_opts {
	const char *home;           /* $MCPFLEET_HOME */
	const char *name;           /* the server */
	const struct host_env *env; /* ${VAR}s are resolved from it */
	int in;                     /* the host's side: normally 0 and 1 */
	int out;
	FILE *err; /* one line per refusal or failure, for the host's log */
};

/*
 * Runs the server name until the host closes its end, the server exits,
 * or the agent ends the session. Returns the process exit code: the real
 * server's own when it exited by itself (128 + N when signal N killed it),
 * 0 when the host closed the session, or an exec_exit code when refused or
 * ended (o->err says why in one line).
 */
int exec_run(const struct exec_opts *o);

#endif
