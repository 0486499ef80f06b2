/* SPDX-License-Identifier: MIT */
/* Splices whole [PATH.NAME] tables in a TOML document as text, keeping every
 * other byte. */
#ifndef MCPFLEET_TOMLEDIT_H
#define MCPFLEET_TOMLEDIT_H

#include <stddef.h>

#include <jansson.h>

#include "edit.h"
#include "err.h"
#include "toml.h"

/*
 * Names of the members of the table at path (e.g. {"mcp_servers"}), in
 * document order. Returns 0 with *names (free with edit_names_free) and *n
 * (zero members when the table is absent), -ERR_TYPE when a value on the
 * path is not a table, -ERR_NOMEM.
 */
int tomledit_names(const struct toml_doc *doc, const char *const *path,
                   size_t depth, char ***names, size_t *n, struct diag *d);

/*
 * Converts member name of the table at path to a new JSON value (caller
 * json_decref()s). Returns 0, -ERR_NOENT, -ERR_TYPE or -ERR_NOMEM.
 */
int tomledit_get(const struct toml_doc *doc, const char *const *path,
                 size_t depth, const char *name, json_t **out, struct diag *d);

/*
 * Applies edits to members of the table at path, each member written as
 * its own [PATH.NAME] table (values that are objects become inline
 * tables). A replaced member takes the place of its old table; new ones go
 * after the last [PATH.*] table, or at the end; a removed one leaves with
 * the blank line that was inserted before it, so adding and then removing
 * gives back the original bytes (except that a last line without a line end
 * gains one, which a new table at the end needs). Members not written as
 * [PATH.NAME] tables (inline tables, dotted keys) cannot be spliced:
 * -ERR_CONFLICT. The result is parsed again before it is returned; a result
 * that does not parse is -ERR_INVALID with d saying why (nothing to write). On
 * success *out is a new NUL-terminated text (caller frees).
 */
int tomledit_edit(const struct toml_doc *doc, const char *text, size_t len,
                  const char *const *path, size_t depth,
                  const struct jedit *edits, size_t n, char **out,
                  size_t *outlen, struct diag *d);

#endif
