/* SPDX-License-Identifier: MIT */
/* Format-preserving JSON and JSONC editing: change some members, keep every
 * other byte. */
#ifndef MCPFLEET_JSONEDIT_H
#define MCPFLEET_JSONEDIT_H

#include <stddef.h>

#include <jansson.h>

#include "edit.h"
#include "err.h"
#include "jsondoc.h"

/* jdoc_edit flags */
#define JEDIT_PRUNE_EMPTY                                                      \
	0x1u /* drop the edited object from its parent when it ends empty */
/*
 * JEDIT_PRUNE_EMPTY, and also drop each object up the path that this leaves
 * empty, so that what a call created for a path of depth 2 or more goes away
 * as a whole. It would also drop an empty parent the user wrote: use it only
 * for parents known to be the caller's own.
 */
#define JEDIT_PRUNE_PATH 0x3u

/*
 * Applies edits to the object at path and returns the new text. Only the
 * edited members' bytes change:
 *   - an existing member is replaced in place (its value span only);
 *   - a new member is appended after the object's last member, written in
 *     the object's own style: the indentation of its siblings (or one level
 *     deeper than the object's line, in the unit the file uses: spaces or
 *     tabs), the file's line ending, the siblings' "key": spacing, compact
 *     when the object is written on one line;
 *   - a removed member goes with its separator and the whitespace before it,
 *     so that adding members and then removing them gives back the original
 *     bytes; an object emptied of all members becomes "{}" (or is removed
 *     from its parent with JEDIT_PRUNE_EMPTY);
 *   - removing an absent member is not an error;
 *   - replacing a member with a value equal to its current one (as
 *     json_equal() sees it) leaves its bytes as written.
 * One exception to the round trip: an empty object written with blanks
 * inside ("{ }", "{\n}") comes back as "{}". Comments are never removed,
 * except those between a removed member's key and its comma; an object
 * holding a comment is not pruned.
 * Objects missing on the path are created, innermost last.
 * Edits apply in order; a name given twice ends as its last edit says.
 * Returns 0 with *out a new NUL-terminated text (caller frees) and *outlen,
 * or -ERR_TYPE / -ERR_NOMEM / -ERR_INVALID (d says why). The result always
 * parses with the same flags (the function checks it).
 * Also -ERR_TOOBIG when a new value would nest deeper than JDOC_MAX_DEPTH,
 * and -ERR_INTERNAL should that check ever fail (nothing is returned then).
 */
int jdoc_edit(const struct jdoc *doc, const char *const *path, size_t depth,
              const struct jedit *edits, size_t n, unsigned flags, char **out,
              size_t *outlen, struct diag *d);

/*
 * jdoc_edit, with the result as a splice of the document's text (edit.h):
 * the edited object's bytes replaced by its new ones. Fills *out (free with
 * edit_splice_free) on success only.
 */
int jdoc_edit_splice(const struct jdoc *doc, const char *const *path,
                     size_t depth, const struct jedit *edits, size_t n,
                     unsigned flags, struct edit_splice *out, struct diag *d);

#endif
