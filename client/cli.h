/* SPDX-License-Identifier: MIT */
/* The mcpfleet command line: one function per command. */
#ifndef MCPFLEET_CLI_H
#define MCPFLEET_CLI_H

#include <stdio.h>

#include "adapter.h"

struct cli {
	const char *home;           /* $MCPFLEET_HOME, resolved */
	const struct host_env *env; /* where the hosts are */
	FILE *out;
	FILE *err;
};

/*
 * Runs "mcpfleet ARGS..." (argv[0] is the command name, e.g. "sync").
 * Returns the process exit code (sync.h's EXIT_*).
 */
int cli_main(const struct cli *c, int argc, char **argv);

/* Prints the usage text. */
void cli_usage(FILE *f);

#endif
