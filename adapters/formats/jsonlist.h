/* SPDX-License-Identifier: MIT */
/* Format-preserving edits of a JSON array of strings inside an object (Claude
 * Code's permissions.deny): add and remove some elements, keep every other
 * byte. */
#ifndef MCPFLEET_JSONLIST_H
#define MCPFLEET_JSONLIST_H

#include <stddef.h>

#include "err.h"
#include "jsonedit.h"

/*
 * The strings of the array that is member path[depth - 1] of the object at
 * path[0 .. depth - 1), in document order; elements that are not strings
 * are left out. Returns 0 with *out a new array of new strings (free with
 * jdoc_names_free) and *n, -ERR_NOENT when the array or an object on the
 * way is absent, -ERR_TYPE when the member is not an array or an object on
 * the way is not an object (d names it), -ERR_NOMEM. depth is at least 1.
 */
int jlist_strings(const struct jdoc *doc, const char *const *path, size_t depth,
                  char ***out, size_t *n, struct diag *d);

/*
 * Applies edits to that array and returns the new text: an edit with a
 * value appends its name as a string unless the array holds it already;
 * one without removes every element equal to its name, with its comma and
 * the blanks before the next element (or, for the last one, after the
 * element before it), so that adding elements and removing them again gives
 * back the original bytes. An added element goes after the last one, on a
 * line of its own indented like it when the array spans lines, else after
 * ", " (or the spacing the array uses). A missing array (and the objects on
 * the way) is created as jdoc_edit creates members; one emptied becomes "[]",
 * or with JEDIT_PRUNE_EMPTY / JEDIT_PRUNE_PATH is removed as jdoc_edit
 * removes an emptied object. doc_flags are the flags the document was parsed
 * with: the result is checked to parse with them. Returns 0 with *out (caller
 * frees) and *outlen, or -ERR_TYPE / -ERR_INVALID (a name that is not UTF-8)
 * / -ERR_NOMEM / -ERR_INTERNAL, with d saying why.
 */
int jlist_edit(const struct jdoc *doc, unsigned doc_flags,
               const char *const *path, size_t depth, const struct jedit *edits,
               size_t n, unsigned flags, char **out, size_t *outlen,
               struct diag *d);

#endif
