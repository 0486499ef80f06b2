/* SPDX-License-Identifier: MIT */
/* Fuzz target: the canonical catalogue parser (personal mcp.json, fleet
 * entries). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catalogue_opts opts = {.allow_secret_refs = (size & 1) != 0};
	struct catalogue c = {0}, c2 = {0};
	struct diag d;
	json_t *j;
	char *s;
	size_t i;

	if (catalogue_parse((const char *)data, size, &opts, &c, &d) != 0)
		return 0;
	/* What parses serialises, and parses again to the same thing. */
	if ((j = catalogue_to_json(&c)) == NULL)
		abort();
	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		abort();
	if (catalogue_parse(s, strlen(s), &opts, &c2, &d) != 0 || c2.n != c.n)
		abort();
	for (i = 0; i < c.n; i++) {
		struct server copy;

		if (server_copy(&c.servers[i], &copy) != 0)
			abort();
		if (strcmp(copy.name, c2.servers[i].name) != 0)
			abort();
		server_clear(&copy);
	}
	free(s);
	json_decref(j);
	catalogue_clear(&c);
	catalogue_clear(&c2);
	return 0;
}
