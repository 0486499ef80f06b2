/* SPDX-License-Identifier: MIT */
/* Fuzz target: the agent's envelope decoder (network and catalogue.pb input).
 */
#include <stdint.h>
#include <stdlib.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct crypto_key *fuzz_envelope_key(void)
{
	static struct crypto_key *key;
	struct crypto_rng *rng;

	if (key == NULL) {
		if (crypto_rng_new("fuzz", &rng, NULL) != 0 ||
		    crypto_key_generate(rng, &key, NULL) != 0)
			abort();
		crypto_rng_free(rng);
	}
	return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_opened o = {0};
	struct catalogue c = {0};
	struct diag d;

	/* Nothing here is signed by this key: every input must be refused,
	 * cleanly. */
	if (envelope_open(data, size, fuzz_envelope_key(), "u", "d", &o, &d) ==
	    0)
		abort();
	/* The model conversion must be safe on whatever decodes. */
	{
		Mcpfleet__V1__Catalogue *cat =
		    mcpfleet__v1__catalogue__unpack(NULL, size, data);

		if (cat != NULL) {
			if (envelope_catalogue_model(cat, &c, &d) == 0)
				catalogue_clear(&c);
			mcpfleet__v1__catalogue__free_unpacked(cat, NULL);
		}
	}
	return 0;
}
