/* SPDX-License-Identifier: MIT */
/* TOML 1.0 parser (full specification) with section spans, and a small writer.
 */
#ifndef MCPFLEET_TOML_H
#define MCPFLEET_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time */
	TOML_LOCAL_DATETIME, /* date-time without offset */
	TOML_LOCAL_DATE,
	TOML_LOCAL_TIME,
	TOML_ARRAY,
	TOML_TABLE,
};

/* How a table came to exist: it decides what may still be added to it. */
enum toml_origin {
	TOML_ORIGIN_ROOT,
	TOML_ORIGIN_HEADER,       /* [a.b] */
	TOML_ORIGIN_ARRAY_HEADER, /* an element of [[a.b]] */
	TOML_ORIGIN_IMPLICIT,     /* a prefix of a header, e.g. a in [a.b] */
	TOML_ORIGIN_DOTTED,       /* a in a.b = 1 */
	TOML_ORIGIN_INLINE,       /* { ... } */
};

struct toml_doc;
struct toml_value;

/* Deepest nesting of tables and arrays that toml_parse accepts. */
#define TOML_MAX_DEPTH 256

/*
 * One header and its body, in document order. The first section is the
 * root one (depth 0, start 0), holding the key/values before any header;
 * its body starts past the byte order mark, if any (0 or 3).
 */
struct toml_section {
	char **path;   /* unescaped keys of the header */
	size_t depth;  /* 0 for the root section */
	bool array;    /* [[...]] */
	size_t start;  /* offset of the first byte of the header's line */
	size_t body;   /* offset just past the header's line (its newline) */
	size_t end;    /* offset of the first byte of the next header's line, or
	                  the text length */
	unsigned line; /* 1-based line of the header (1 for the root section) */
};

/*
 * Parses a TOML 1.0 document (UTF-8, optional BOM, LF or CRLF).
 * Returns 0 and a new document in *out (free with toml_free), or -ERR_PARSE /
 * -ERR_DUPLICATE / -ERR_TOOBIG / -ERR_NOMEM with d set to the 1-based line
 * and column and the reason ("duplicate key 'x'", "table [a] defined
 * twice", "invalid escape \\q", ...). Nesting is capped at 256 levels.
 */
int toml_parse(const char *text, size_t len, struct toml_doc **out,
               struct diag *d);

/* Frees a document. NULL-safe. */
void toml_free(struct toml_doc *doc);

/* The root table. Valid until toml_free. */
const struct toml_value *toml_root(const struct toml_doc *doc);

/* The sections; *out is valid until toml_free. Returns the count (>= 1). */
size_t toml_sections(const struct toml_doc *doc,
                     const struct toml_section **out);

enum toml_type toml_type(const struct toml_value *v);

/* Tables: members in insertion order. */
size_t toml_table_size(const struct toml_value *t);
const char *toml_table_key(const struct toml_value *t, size_t i);
const struct toml_value *toml_table_value(const struct toml_value *t, size_t i);
/* Returns the member named key, or NULL. */
const struct toml_value *toml_table_get(const struct toml_value *t,
                                        const char *key);
/*
 * How t came to be. An implicit table that dotted keys then extend (b in
 * [a.b.c] then [a] b.x = 1) is defined by them and reads as dotted.
 */
enum toml_origin toml_table_origin(const struct toml_value *t);

/* Arrays. */
size_t toml_array_size(const struct toml_value *a);
const struct toml_value *toml_array_at(const struct toml_value *a, size_t i);

/* Scalars. toml_string may contain NULs (\u0000); *len tells. */
const char *toml_string(const struct toml_value *v, size_t *len);
int64_t toml_integer(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);
/* Date/time values, as written in the document (normalised 'T' separator,
 * upper-case). */
const char *toml_datetime(const struct toml_value *v);

/*
 * Converts a value to a new jansson value (caller json_decref()s): tables
 * become objects, arrays arrays, date/times strings, inf/nan floats the
 * strings "inf", "-inf", "nan". Returns 0 or -ERR_NOMEM.
 */
int toml_to_json(const struct toml_value *v, json_t **out);

/* Appends key, bare when it matches [A-Za-z0-9_-]+, else as a basic string. */
int toml_write_key(struct buf *b, const char *key);
/* Appends a basic string with every needed escape. */
int toml_write_string(struct buf *b, const char *s, size_t len);
/*
 * Appends a JSON value as a TOML value: strings, integers, reals (always
 * with a '.' or exponent), booleans, arrays, objects as inline tables.
 * null is rejected with -ERR_INVALID.
 */
int toml_write_value(struct buf *b, const json_t *v);

#endif
