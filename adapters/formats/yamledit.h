/* SPDX-License-Identifier: MIT */
/* Splices the items of one top-level block sequence of a YAML document, found
 * by their "name", as text, keeping every other byte. */
#ifndef MCPFLEET_YAMLEDIT_H
#define MCPFLEET_YAMLEDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "edit.h"
#include "err.h"

/* Items nested deeper than this in a flow item are refused. */
#define YAMLEDIT_MAX_DEPTH 64

/* The layout of one top-level sequence in a YAML text. */
struct yaml_doc;

/*
 * Reads the layout of the top-level block sequence key (e.g. "mcpServers")
 * of text: where the key is, where each item of its value starts and ends,
 * and each item's name (the plain or quoted scalar of its "name" key; items
 * without one, such as Continue's "uses:" blocks, are kept but have none).
 * It reads only what it needs: the top-level keys, to find key, and the
 * sequence. It refuses, with -ERR_PARSE and d naming the line and the reason,
 * what it cannot edit safely: tabs in the sequence's indentation, anchors,
 * aliases or tags in it, a second document, a value of key that is not a
 * block sequence (a flow sequence other than "[]"), two items of one name,
 * key written twice, a flow item it cannot read, a NUL byte. text must stay
 * valid while doc is used. Returns 0 with *out (free with yamledit_free),
 * -ERR_PARSE or -ERR_NOMEM.
 */
int yamledit_parse(const char *text, size_t len, const char *key,
                   struct yaml_doc **out, struct diag *d);

/* Frees a layout. NULL-safe. */
void yamledit_free(struct yaml_doc *doc);

/* True when the document has the key. */
bool yamledit_exists(const struct yaml_doc *doc);

/*
 * Names of the named items, in document order. Returns 0 with *names (free
 * with edit_names_free) and *n, or -ERR_NOMEM.
 */
int yamledit_names(const struct yaml_doc *doc, char ***names, size_t *n);

/*
 * The item called name, without its "name", as a new JSON object (caller
 * json_decref()s). Returns 0, -ERR_NOENT, -ERR_TYPE when the item is not
 * written as one flow mapping (only those are read: block items are
 * rewritten when edited), or -ERR_NOMEM.
 */
int yamledit_get(const struct yaml_doc *doc, const char *name, json_t **out,
                 struct diag *d);

/*
 * Applies edits to the items: each value is a JSON object, written as one
 * line of flow YAML (JSON) at the items' indentation, "name" first: a
 * replaced item takes the place of the old one, new ones go after the last
 * item (the key is appended at the end when absent), a removed one goes with
 * its lines; removing an absent name changes nothing. A sequence left with
 * no items is written "KEY: []" (cn refuses a null), or is removed with its
 * key when prune says the key was the caller's own. The file's line ending
 * is kept, and adding an item and then removing it gives back the original
 * bytes, except that a last line without a line end gains one (which the
 * new item needed) and a list with no item, null or "[]" spelt otherwise,
 * comes back as "KEY: []". The result is read again and checked to hold the
 * edits and every other named item; -ERR_INVALID (nothing to write) when it
 * does not. On success *out is a new NUL-terminated text (caller frees) and
 * *outlen its length. Errors: -ERR_INVALID (an entry not an object, or one with
 * a "name" of its own), -ERR_NOMEM.
 */
int yamledit_edit(const struct yaml_doc *doc, const struct jedit *edits,
                  size_t n, bool prune, char **out, size_t *outlen,
                  struct diag *d);

#endif
