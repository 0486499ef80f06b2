/* SPDX-License-Identifier: MIT */
/* The inside of a parsed JSON document, shared by the parser (jsondoc.c), the
 * converter to jansson (jsonconv.c) and the editor (jsonedit.c). Not for use
 * outside adapters/formats. */
#ifndef MCPFLEET_JSONDOC_INT_H
#define MCPFLEET_JSONDOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "jsondoc.h"

#define JDOC_NONE     UINT32_MAX
#define JDOC_IN_ARENA 0x80000000u

/* A member of a recorded object: its spans in the text and its decoded name. */
struct jdoc_member {
	uint32_t key;     /* opening quote of the key */
	uint32_t keyend;  /* just past the key's closing quote */
	uint32_t val;     /* first byte of the value */
	uint32_t valend;  /* just past the value */
	uint32_t comma;   /* the comma after the value, or JDOC_NONE */
	uint32_t name;    /* decoded name: offset in the text or in the arena */
	uint32_t namelen; /* its length, with JDOC_IN_ARENA when in the arena */
	uint32_t child;   /* the value's object index, or JDOC_NONE */
};

/*
 * An object reachable from the root through members only: objects inside
 * arrays cannot be named by a path, so they are validated but not recorded.
 * Its members are doc->mem[first .. first + count), in document order.
 */
struct jdoc_object {
	uint32_t open;  /* offset of '{' */
	uint32_t close; /* offset of '}' */
	uint32_t first;
	uint32_t count;
};

/* A parsed document (jsondoc.h): its text and the spans of its objects. */
struct jdoc {
	char *text; /* NUL-terminated: a copy, or the caller's (borrowed) */
	size_t len;
	unsigned flags;
	bool borrowed;
	uint32_t root; /* offset of the root value */
	struct jdoc_member *mem;
	size_t nmem;
	struct jdoc_object *obj; /* obj[0] is the root when it is an object */
	size_t nobj;
	struct buf arena; /* decoded names of keys written with escapes */
};

static inline bool jdoc_has_bom(const unsigned char *s, size_t len)
{
	return len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

static inline bool jdoc_is_ws(unsigned c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline bool jdoc_is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

static inline const char *jdoc_name(const struct jdoc *doc,
                                    const struct jdoc_member *m, size_t *len)
{
	*len = m->namelen & ~JDOC_IN_ARENA;
	if (m->namelen & JDOC_IN_ARENA)
		return doc->arena.data + m->name;
	return doc->text + m->name;
}

static inline bool jdoc_root_is_object(const struct jdoc *doc)
{
	return doc->nobj > 0 && doc->text[doc->root] == '{';
}

/* Grows an array to hold need elements; returns the new array or NULL. */
void *jdoc_grow(void *p, size_t *cap, size_t need, size_t elsz);

/* 1-based line and column (in characters) of an offset. */
void jdoc_linecol(const unsigned char *s, size_t len, size_t pos,
                  unsigned *line, unsigned *col);

/*
 * Writes a name for a message: quoted, control bytes escaped, cut after 60
 * bytes at a character boundary. out must hold at least 80 bytes.
 */
void jdoc_quote(const char *name, size_t len, char *out, size_t outsz);

/* True when s holds len bytes of valid UTF-8. */
bool jdoc_utf8_valid(const char *s, size_t len);

/*
 * Decodes the content of a valid JSON string (the bytes between its quotes)
 * and appends it to out.
 */
int jdoc_decode(const unsigned char *s, size_t len, struct buf *out);

/* Index in doc->mem of member name of object oi, or JDOC_NONE. */
uint32_t jdoc_find(const struct jdoc *doc, uint32_t oi, const char *name,
                   size_t len);

/* Writes path[0 .. n) as a.b.c for a message. */
void jdoc_path_str(const char *const *path, size_t n, char *out, size_t outsz);

/*
 * Follows path from the root. Returns 0 with *oi the object, or -ERR_TYPE /
 * -ERR_NOENT; *have tells how many members of the path exist (objects).
 */
int jdoc_lookup(const struct jdoc *doc, const char *const *path, size_t depth,
                uint32_t *oi, size_t *have, struct diag *d);

/* jdoc_parse, with the nesting capped at maxdepth. */
int jdoc_parse_depth(const char *text, size_t len, unsigned flags,
                     unsigned maxdepth, struct jdoc **out, struct diag *d);

/*
 * Converts the value at offset pos of a validated text to a new jansson
 * value in *out (jsonconv.c); what names the member in messages.
 */
int jdoc_convert(const char *text, size_t len, size_t pos, const char *what,
                 json_t **out, struct diag *d);

#endif
