/* SPDX-License-Identifier: MIT */
/* What the format-preserving editors share. */
#include "edit.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void edit_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

size_t edit_splice_size(const struct edit_splice *s, size_t orig_len)
{
	return s->at + s->len + (orig_len - s->end);
}

bool edit_splice_changes(const struct edit_splice *s, const char *orig)
{
	return s->end - s->at != s->len ||
	       (s->len > 0 && memcmp(orig + s->at, s->text, s->len) != 0);
}

int edit_splice_join(const struct edit_splice *s, const char *orig,
                     size_t orig_len, char **out, size_t *outlen)
{
	size_t n = edit_splice_size(s, orig_len);
	char *t;

	if ((t = malloc(n + 1)) == NULL)
		return -ERR_NOMEM;
	if (s->at > 0)
		memcpy(t, orig, s->at);
	if (s->len > 0)
		memcpy(t + s->at, s->text, s->len);
	if (orig_len > s->end)
		memcpy(t + s->at + s->len, orig + s->end, orig_len - s->end);
	t[n] = '\0';
	*out = t;
	*outlen = n;
	return 0;
}

void edit_splice_free(struct edit_splice *s)
{
	if (s == NULL)
		return;
	free(s->text);
	memset(s, 0, sizeof(*s));
}
