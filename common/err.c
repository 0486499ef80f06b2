/* SPDX-License-Identifier: MIT */
/* Error message table and the diag message buffer. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_messages[] = {[ERR_OK] = "success",
#define ERR_MSG_ENTRY(name, msg) [ERR_##name] = msg,
                                           ERR_MAP(ERR_MSG_ENTRY)
#undef ERR_MSG_ENTRY
};

const char *err_str(int code)
{
	if (code < 0)
		code = -code;
	if (code >= ERR_MAX_)
		return "unknown error";
	return err_messages[code];
}

void diag_clear(struct diag *d)
{
	if (d == NULL)
		return;
	d->line = 0;
	d->col = 0;
	d->msg[0] = '\0';
}

int diag_set(struct diag *d, int code, unsigned line, unsigned col,
             const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (d != NULL) {
		d->line = line;
		d->col = col;
		va_start(ap, fmt);
		/* A message cut short still names the input: truncation is
		 * acceptable here and only here, so the result is ignored. */
		(void)vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}
