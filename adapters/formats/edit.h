/* SPDX-License-Identifier: MIT */
/* The edit interface the format-preserving editors share (jsonedit.h,
 * tomledit.h): one change to one member of the container being edited. */
#ifndef MCPFLEET_EDIT_H
#define MCPFLEET_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* One change to a member of the object or table being edited. */
struct jedit {
	const char *name;    /* member name, any UTF-8 */
	const json_t *value; /* new value; NULL removes the member */
};

/*
 * An edit's result as a splice of the text edited: the new text is the
 * original's bytes [0, at), then the len bytes of text, then the original's
 * bytes from end on. A large file's edit is then one small new piece, with
 * no copy of the rest (the writer writes the three pieces). An unchanged
 * text is at == end with len 0.
 */
struct edit_splice {
	size_t at, end;
	char *text; /* new, NUL-terminated; NULL when len is 0 */
	size_t len;
};

/* The length of the new text of s over an original of orig_len bytes. */
size_t edit_splice_size(const struct edit_splice *s, size_t orig_len);

/* True when s changes the original text orig. */
bool edit_splice_changes(const struct edit_splice *s, const char *orig);

/*
 * The whole new text of s over orig (orig_len bytes): a new NUL-terminated
 * string in *out and its length in *outlen. Returns 0 or -ERR_NOMEM.
 */
int edit_splice_join(const struct edit_splice *s, const char *orig,
                     size_t orig_len, char **out, size_t *outlen);

/* Frees the splice's text and zeroes it. NULL-safe. */
void edit_splice_free(struct edit_splice *s);

/*
 * Several splices against one original text, applied together (the TOML
 * and YAML editors build their edits so): each replaces [start, end) of
 * the original with text (NULL: with nothing).
 */
struct edit_piece {
	size_t start, end;
	char *text;
};

struct edit_pieces {
	struct edit_piece *v;
	size_t n, cap;
};

/* Adds a splice, taking text (freed even on failure). Returns 0 or
 * -ERR_NOMEM. */
int edit_pieces_push(struct edit_pieces *l, size_t start, size_t end,
                     char *text);

/*
 * Appends to out the original text of len bytes with every splice applied,
 * in order of position (at one offset an insertion before a deletion that
 * starts there). Returns 0, -ERR_INVALID when two splices overlap, or
 * -ERR_NOMEM.
 */
int edit_pieces_apply(struct edit_pieces *l, const char *orig, size_t len,
                      struct buf *out);

/* Frees the splices and their texts and zeroes l. NULL-safe. */
void edit_pieces_free(struct edit_pieces *l);

/*
 * Frees an array of n names as the editors' listings return it: n new
 * strings in a new array (tomledit_names; jdoc_member_names's arrays, which
 * jdoc_names_free frees, have the same layout). NULL-safe.
 */
void edit_names_free(char **names, size_t n);

#endif
