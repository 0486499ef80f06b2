/* SPDX-License-Identifier: MIT */
/* mcpfleet: the workstation agent's entry point. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "fileio.h"
#include "netclient.h"

int main(int argc, char **argv)
{
	const struct host_env *env = host_env_process();
	struct cli c = {
	    .env = env,
	    .out = stdout,
	    .err = stderr,
	};
	char *home = NULL;
	const char *h;
	int code;

	signal(SIGPIPE, SIG_IGN);
	/* libwebsockets' own log lines only on request: every failure that
	 * matters reaches the user through our own messages. */
	netclient_lws_log(getenv("MCPFLEET_LWS_DEBUG") != NULL
	                      ? NETCLIENT_LOG_ERR | NETCLIENT_LOG_WARN
	                      : 0,
	                  NULL);
	if ((h = host_env_get(env, "MCPFLEET_HOME")) != NULL)
		c.home = h;
	else if ((h = host_env_get(env, "HOME")) != NULL &&
	         (home = fileio_join(h, ".mcpfleet")) != NULL)
		c.home = home;
	else {
		fprintf(stderr, "mcpfleet: neither MCPFLEET_HOME nor HOME is "
		                "set\n");
		return 2;
	}
	code = cli_main(&c, argc - 1, argv + 1);
	free(home);
	if (fflush(stdout) != 0 && code == 0)
		code = 2;
	return code;
}
