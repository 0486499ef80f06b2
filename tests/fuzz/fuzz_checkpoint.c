/* SPDX-License-Identifier: MIT */
/* Fuzz target: the audit checkpoint reader (a file an admin kept, or a
 * POST /api/v1/audit/verify body) and its signature check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char trusted[CRYPTO_HEX_LEN + 1] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct checkpoint cp;
	json_t *doc;
	struct diag d;

	memset(&cp, 0, sizeof(cp));
	if (checkpoint_parse((const char *)data, size, &cp, &d) != 0)
		return 0;
	/* Whatever reads must check without fault, and no key has the id
	 * of all zeros: every input is refused against it. */
	(void)checkpoint_verify(&cp, NULL, &d);
	if (checkpoint_verify(&cp, trusted, &d) == 0)
		abort();
	/* What reads writes back as a document that reads the same. */
	doc = checkpoint_json(&cp);
	if (doc != NULL) {
		struct checkpoint back;

		memset(&back, 0, sizeof(back));
		if (checkpoint_from_json(doc, &back, &d) != 0 ||
		    back.rows != cp.rows || back.siglen != cp.siglen ||
		    memcmp(back.sig, cp.sig, cp.siglen) != 0 ||
		    strcmp(back.head_hash, cp.head_hash) != 0)
			abort();
		checkpoint_clear(&back);
		json_decref(doc);
	}
	checkpoint_clear(&cp);
	return 0;
}
