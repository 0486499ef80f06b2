/* SPDX-License-Identifier: MIT */
/* Realistic host files and catalogues for the crash test and the benchmark. */
#ifndef MCPFLEET_FIXTURE_H
#define MCPFLEET_FIXTURE_H

#include <stddef.h>

/*
 * Returns a new ~/.claude.json of about size bytes: the state Claude Code
 * keeps (projects with long histories, flags, numbers, unicode) and a user
 * server. Caller frees.
 */
char *fixture_claude_json(size_t size, size_t *len);

/*
 * Returns a new canonical catalogue of n servers named PREFIX-0..n-1, a mix
 * of stdio and remote, with args, env, headers and tool filters. Caller
 * frees.
 */
char *fixture_catalogue(const char *prefix, size_t n);

/*
 * Makes home a sandbox with the seven hosts present, each file holding
 * some settings of the user's own; ~/.claude.json of claude_size bytes.
 * Returns 0, or -1 with errno set.
 */
int fixture_sandbox(const char *home, size_t claude_size);

/* Host files of the sandbox, relative to home, NULL-terminated. */
extern const char *const fixture_host_files[];

#endif
