/* SPDX-License-Identifier: MIT */
/* Text that people read: the one check for names, host names and facts. */
#include "text.h"

#include "err.h"

int text_is_invisible(uint32_t cp)
{
	return cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2064) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb);
}

const char *text_fault_str(enum text_fault f)
{
	switch (f) {
	case TEXT_OK:
		return "nothing wrong";
	case TEXT_BAD_UTF8:
		return "invalid UTF-8";
	case TEXT_CONTROL:
		return "a control character";
	case TEXT_INVISIBLE:
		return "an invisible bidirectional or formatting character";
	}
	return "an unknown fault";
}

static int text_fail(struct text_error *e, enum text_fault f, size_t at,
                     uint32_t cp)
{
	if (e != NULL) {
		e->fault = f;
		e->at = at;
		e->cp = cp;
	}
	return -ERR_INVALID;
}

int text_check_line(const char *s, size_t n, struct text_error *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, j, k;
	uint32_t cp, min;

	for (i = 0; i < n; i += k) {
		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f)
				return text_fail(e, TEXT_CONTROL, i, p[i]);
			k = 1;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = p[i] & 0x1fu;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = p[i] & 0x0fu;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = p[i] & 0x07u;
			min = 0x10000;
		} else {
			return text_fail(e, TEXT_BAD_UTF8, i, p[i]);
		}
		if (k > n - i)
			return text_fail(e, TEXT_BAD_UTF8, i, p[i]);
		for (j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return text_fail(e, TEXT_BAD_UTF8, i, p[i]);
			cp = cp << 6 | (p[i + j] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return text_fail(e, TEXT_BAD_UTF8, i, p[i]);
		if (cp <= 0x9f)
			return text_fail(e, TEXT_CONTROL, i, cp);
		if (text_is_invisible(cp))
			return text_fail(e, TEXT_INVISIBLE, i, cp);
	}
	return 0;
}
