/* SPDX-License-Identifier: MIT */
/* Small jansson helpers shared by the programs. */
#ifndef MCPFLEET_JSONUTIL_H
#define MCPFLEET_JSONUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Returns s, or, when s holds control characters or is long, a quoted and
 * shortened copy in a per-thread buffer valid until the next call. For
 * error messages that echo user input.
 */
const char *jsonutil_printable(const char *s);

/*
 * Serialises v as the project writes JSON files: two-space indentation,
 * keys in insertion order, UTF-8 unescaped, trailing newline. Returns a new
 * string (caller frees) or NULL on ENOMEM.
 */
char *jsonutil_dump_pretty(const json_t *v, size_t *len);

/*
 * Scans the JSON number (RFC 8259's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?) that starts at t[*pp], n bytes in all: true with *pp
 * just past it, or false with *pp where it goes wrong. What may follow it
 * is the caller's to judge. The one spelling of the grammar for the relay
 * and the JSON editor.
 */
bool jsonutil_scan_number(const unsigned char *t, size_t n, size_t *pp);

/*
 * How deep the arrays and objects of the JSON text t (n bytes) nest, read
 * without parsing or recursion (strings skipped, escapes honoured): 0 for
 * a scalar, 1 for {"a": 1}. For refusing a document nested past what its
 * reader would walk before a parser builds it.
 */
size_t jsonutil_depth(const char *t, size_t n);

#endif
