/* SPDX-License-Identifier: MIT */
/* Project-wide error codes: one list generates the enum and the message table.
 */
#ifndef MCPFLEET_ERR_H
#define MCPFLEET_ERR_H

#include <stddef.h>

/*
 * X(name, message). Every function that can fail returns 0 or one of these,
 * negated (ERR_NOMEM is -1, and so on). err_str() maps a code to its message.
 */
#define ERR_MAP(X)                                                             \
	X(NOMEM, "out of memory")                                              \
	X(IO, "input/output error")                                            \
	X(NOENT, "no such file or entry")                                      \
	X(PARSE, "parse error")                                                \
	X(INVALID, "invalid value")                                            \
	X(TOOBIG, "input too large")                                           \
	X(TRUNC, "output truncated")                                           \
	X(DUPLICATE, "duplicate key")                                          \
	X(TYPE, "wrong type")                                                  \
	X(CONFLICT, "conflict with an entry the user authored")                \
	X(SKIP, "skipped")                                                     \
	X(UNSET, "an environment variable is not set")                         \
	X(USAGE, "usage error")                                                \
	X(CRYPTO, "cryptographic failure")                                     \
	X(VERIFY, "verification failed")                                       \
	X(PERM, "permission denied")                                           \
	X(EXISTS, "already exists")                                            \
	X(NETWORK, "network error")                                            \
	X(INTERNAL, "internal error")

enum err_code {
	ERR_OK = 0,
#define ERR_ENUM_ENTRY(name, msg) ERR_##name,
	ERR_MAP(ERR_ENUM_ENTRY)
#undef ERR_ENUM_ENTRY
	    ERR_MAX_
};

/* Returns the static message for a code, given either sign. Never NULL. */
const char *err_str(int code);

/*
 * A message buffer that library code (adapters/, proto/, common/) fills
 * instead of logging. line/col are 1-based positions in the input being
 * parsed, 0 when they do not apply.
 */
struct diag {
	unsigned line;
	unsigned col;
	char msg[512];
};

/* Clears a diag. */
void diag_clear(struct diag *d);

/*
 * Formats a message into d (when d is not NULL) and returns -code, so that a
 * caller can write "return diag_set(d, ERR_PARSE, 3, 7, "bad %s", x);".
 */
int diag_set(struct diag *d, int code, unsigned line, unsigned col,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
