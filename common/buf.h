/* SPDX-License-Identifier: MIT */
/* Growable byte buffer, always NUL-terminated after its content. */
#ifndef MCPFLEET_BUF_H
#define MCPFLEET_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated when len > 0 or cap > 0 */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Ensures room for extra more bytes plus the NUL. Returns 0 or -ERR_NOMEM. */
int buf_reserve(struct buf *b, size_t extra);
/* Appends n bytes. Returns 0 or -ERR_NOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Appends a C string. Returns 0 or -ERR_NOMEM. */
int buf_puts(struct buf *b, const char *s);
/* Appends one byte. Returns 0 or -ERR_NOMEM. */
int buf_putc(struct buf *b, char c);
/* Appends printf-formatted text. Returns 0 or -ERR_NOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is then empty and reusable. NULL-safe. */
void buf_free(struct buf *b);
/*
 * Hands the content to the caller as a malloc'd NUL-terminated string (an
 * empty string for an empty buffer) and empties b. Returns NULL on ENOMEM.
 */
char *buf_steal(struct buf *b, size_t *len);

#endif
