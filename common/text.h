/* SPDX-License-Identifier: MIT */
/* Text that people read: the one check for names, host names and facts. */
#ifndef MCPFLEET_TEXT_H
#define MCPFLEET_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Why text_check_line() refused. */
enum text_fault {
	TEXT_OK = 0,
	TEXT_BAD_UTF8,  /* not UTF-8 (overlong, surrogate, cut short, ...) */
	TEXT_CONTROL,   /* C0, DEL or C1 control character */
	TEXT_INVISIBLE, /* bidirectional or invisible formatting character */
};

/* Where and why text_check_line() refused. */
struct text_error {
	enum text_fault fault;
	size_t at;   /* 0-based byte offset of the character */
	uint32_t cp; /* the character (the byte for TEXT_BAD_UTF8) */
};

/*
 * Checks n bytes of s as one line of text shown to an admin in a terminal
 * or a browser: UTF-8 without control characters (C0 including NUL, DEL,
 * C1) and without the invisible characters that reorder or hide what is
 * displayed: bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), marks (U+061C, U+200E, U+200F),
 * zero-width characters (U+200B-U+200D, U+2060-U+2064, U+FEFF) and
 * interlinear annotations (U+FFF9-U+FFFB). Returns 0, or -ERR_INVALID with
 * *e (when not NULL) saying where and why.
 */
int text_check_line(const char *s, size_t n, struct text_error *e);

/* Whether cp is one of the invisible characters above. */
int text_is_invisible(uint32_t cp);

/* A short English description of a fault, e.g. "a control character". */
const char *text_fault_str(enum text_fault f);

#endif
