/* SPDX-License-Identifier: MIT */
/* JSON and JSONC documents: a validating parser that keeps the text and the
 * spans of its values, lookups by member path and conversion to jansson. */
#ifndef MCPFLEET_JSONDOC_H
#define MCPFLEET_JSONDOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

/*
 * A parsed document: the text plus the spans of its values. The parser is a
 * validating one (RFC 8259), with these extensions:
 *   - an optional UTF-8 byte order mark at the start, which edits keep;
 *   - CRLF line endings, which edits reproduce;
 *   - with JDOC_JSONC: comments (line and block) and trailing commas in
 *     objects and arrays, as Gemini CLI and OpenCode accept them.
 * Duplicate keys in any object make the document invalid (-ERR_DUPLICATE).
 * Nesting deeper than JDOC_MAX_DEPTH is rejected (-ERR_TOOBIG).
 */
struct jdoc;

#define JDOC_JSONC 0x1u
/* The document reads the caller's text in place instead of copying it:
 * the text must outlive the document, unchanged, with a NUL at text[len]
 * (a 5 MB file then costs no second 5 MB buffer). */
#define JDOC_BORROW    0x2u
#define JDOC_MAX_DEPTH 256

/*
 * Parses len bytes of text. The text is copied (the document owns its copy)
 * unless flags holds JDOC_BORROW.
 * Returns 0 and a new document in *out (free with jdoc_free), or
 * -ERR_PARSE / -ERR_DUPLICATE / -ERR_TOOBIG / -ERR_NOMEM with d set to the
 * 1-based line and column and a reason that names the offending key or token.
 * An empty or blank text is not a document (-ERR_PARSE). Texts of 1 GiB or
 * more are refused (-ERR_TOOBIG).
 */
int jdoc_parse(const char *text, size_t len, unsigned flags, struct jdoc **out,
               struct diag *d);

/* Frees a document. NULL-safe. */
void jdoc_free(struct jdoc *doc);

/* The document's text, as parsed. */
const char *jdoc_text(const struct jdoc *doc, size_t *len);

/*
 * Looks up the object reached by following depth member names from the
 * root. Returns 0 when it exists and is an object, -ERR_NOENT when a member
 * on the way is missing, -ERR_TYPE when the root or a value on the way is not
 * an object (d names the path).
 */
int jdoc_find_object(const struct jdoc *doc, const char *const *path,
                     size_t depth, struct diag *d);

/*
 * Names of the members of the object at path, in document order.
 * Returns 0 with *names a new array of new strings (free with
 * jdoc_names_free) and *n its length, or the errors of jdoc_find_object.
 * A name holding a NUL character (written \u0000) cannot be returned as a
 * C string: -ERR_INVALID.
 */
int jdoc_member_names(const struct jdoc *doc, const char *const *path,
                      size_t depth, char ***names, size_t *n, struct diag *d);

/* Frees what jdoc_member_names returned. NULL-safe. */
void jdoc_names_free(char **names, size_t n);

/*
 * Decodes member name of the object at path into a new jansson value
 * (caller json_decref()s it). Returns 0, -ERR_NOENT when the object or the
 * member is absent, -ERR_TYPE as jdoc_find_object.
 * Comments and trailing commas (JSONC) are skipped. An integer too large for
 * json_int_t becomes a real; -ERR_INVALID when a number overflows a double
 * or a string or name holds a NUL character, which jansson cannot hold.
 */
int jdoc_member_get(const struct jdoc *doc, const char *const *path,
                    size_t depth, const char *name, json_t **out,
                    struct diag *d);

/*
 * Sets *equal to whether member name of the object at path equals want, as
 * json_equal() would find it equal to the member's conversion, without
 * converting it (a host file's hundred entries compared with the ones
 * wanted cost no jansson values). Returns 0, or the errors of
 * jdoc_member_get; a value jansson cannot hold is unequal.
 */
int jdoc_member_equal(const struct jdoc *doc, const char *const *path,
                      size_t depth, const char *name, const json_t *want,
                      bool *equal, struct diag *d);

/*
 * The byte span [*begin, *end) of the value of member name of the object at
 * path. Returns 0, or the errors of jdoc_member_get.
 */
int jdoc_member_span(const struct jdoc *doc, const char *const *path,
                     size_t depth, const char *name, size_t *begin, size_t *end,
                     struct diag *d);

#endif
