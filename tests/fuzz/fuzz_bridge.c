/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the bridge's JSON skimmer (client/bridge.c,
 * bridge_skim()): it never reads out of bounds, and on every text jansson
 * reads as an object it agrees with jansson about the kind, the "id" and
 * "method". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_bridge: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *id = NULL;
	char *copy;
	size_t idlen = 0;
	int has_method = 0, kind;
	json_t *j, *jid, *back;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	/* An exact-size copy: a read past its end is an ASan error. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	kind = bridge_skim(copy, size, &id, &idlen, &has_method);
	fuzz_check(kind >= 0 && kind <= 2, "kind out of range");
	if (id != NULL)
		fuzz_check(kind == 1 && id >= copy && idlen > 0 &&
		               idlen <= size && id + idlen <= copy + size,
		           "id outside the text");
	/* jansson takes a NUL byte for the end of the text: no oracle there. */
	j = memchr(copy, 0, size) != NULL
	        ? NULL
	        : json_loadb(copy, size,
	                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (j != NULL && json_is_array(j))
		fuzz_check(kind == 2, "an array not seen as one");
	if (j != NULL && json_is_object(j)) {
		fuzz_check(kind == 1, "an object not seen as one");
		fuzz_check(has_method == (json_object_get(j, "method") != NULL),
		           "method disagrees with jansson");
		jid = json_object_get(j, "id");
		fuzz_check((jid != NULL) == (id != NULL),
		           "id presence disagrees with jansson");
		if (jid != NULL) {
			back = json_loadb(id, idlen, JSON_DECODE_ANY, NULL);
			fuzz_check(back != NULL && json_equal(back, jid),
			           "id span is not the id's value");
			json_decref(back);
		}
	}
	json_decref(j);
	free(copy);
	return 0;
}
