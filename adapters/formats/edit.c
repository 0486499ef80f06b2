/* SPDX-License-Identifier: MIT */
/* What the format-preserving editors share. */
#include "edit.h"

#include <stdlib.h>

void edit_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
