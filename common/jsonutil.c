/* SPDX-License-Identifier: MIT */
/* Small jansson helpers shared by the programs. */
#include "jsonutil.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *jsonutil_printable(const char *s)
{
	static _Thread_local char out[96];
	const char *p;
	size_t i = 0;
	bool plain = strlen(s) < 64;

	for (p = s; plain && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			plain = false;
	if (plain)
		return s;
	for (p = s; *p != '\0' && i + 8 < sizeof(out); p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			out[i++] = '?';
		else
			out[i++] = (char)c;
	}
	if (*p != '\0') {
		out[i++] = '.';
		out[i++] = '.';
		out[i++] = '.';
	}
	out[i] = '\0';
	return out;
}

char *jsonutil_dump_pretty(const json_t *v, size_t *len)
{
	char *s, *t;
	size_t n;

	s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((t = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	if (len != NULL)
		*len = n + 1;
	return t;
}

static bool jsonutil_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Skips a run of digits; false when there is none. */
static bool jsonutil_digits(const unsigned char *t, size_t n, size_t *pp)
{
	size_t p = *pp;

	while (p < n && jsonutil_digit(t[p]))
		p++;
	if (p == *pp)
		return false;
	*pp = p;
	return true;
}

bool jsonutil_scan_number(const unsigned char *t, size_t n, size_t *pp)
{
	size_t p = *pp;
	bool ok = true;

	if (p < n && t[p] == '-')
		p++;
	if (p < n && t[p] == '0')
		p++; /* no leading zeros: "01" ends after the 0 */
	else
		ok = jsonutil_digits(t, n, &p);
	if (ok && p < n && t[p] == '.') {
		p++;
		ok = jsonutil_digits(t, n, &p);
	}
	if (ok && p < n && (t[p] == 'e' || t[p] == 'E')) {
		p++;
		if (p < n && (t[p] == '+' || t[p] == '-'))
			p++;
		ok = jsonutil_digits(t, n, &p);
	}
	*pp = p;
	return ok;
}
