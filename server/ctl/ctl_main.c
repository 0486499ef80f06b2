/* SPDX-License-Identifier: MIT */
/* mcpfleetctl: the admin CLI's entry point; the program is in ctl.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctl.h"
#include "netclient.h"

int main(int argc, char **argv)
{
	struct ctl_io io = {
	    .out = stdout,
	    .err = stderr,
	    .in = stdin,
	    .env_server = getenv("MCPFLEET_SERVER"),
	    .env_token = getenv("MCPFLEET_TOKEN"),
	    .env_ca = getenv("MCPFLEET_CA"),
	    .env_ca_sha256 = getenv("MCPFLEET_CA_SHA256"),
	    .now = (int64_t)time(NULL),
	};
	int code;

	signal(SIGPIPE, SIG_IGN);
	/* Every failure is reported once, by ctl; libwebsockets' own lines
	 * would only repeat it. */
	netclient_lws_log(0, NULL);
	code = ctl_main(&io, argc - 1, argv + 1);
	if (fflush(stdout) != 0 && code == CTL_EXIT_OK)
		code = CTL_EXIT_USAGE;
	return code;
}
