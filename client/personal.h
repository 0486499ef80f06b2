/* SPDX-License-Identifier: MIT */
/* The personal catalogue, $MCPFLEET_HOME/mcp.json. */
#ifndef MCPFLEET_PERSONAL_H
#define MCPFLEET_PERSONAL_H

#include "catalogue.h"

/*
 * Loads the personal catalogue; a missing file is an empty one. Returns 0
 * and fills *out (free with catalogue_clear), or the errors of
 * catalogue_parse with d's message prefixed by the path (and line:col for
 * syntax errors), -ERR_IO, -ERR_TOOBIG.
 */
int personal_load(const char *path, struct catalogue *out, struct diag *d);

/* Writes the catalogue crash-safely, owner-only (0600). Returns 0 or -ERR_IO /
 * -ERR_NOMEM. */
int personal_save(const char *path, const struct catalogue *c);

#endif
