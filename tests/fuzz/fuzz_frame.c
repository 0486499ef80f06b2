/* SPDX-License-Identifier: MIT */
/* Fuzz target: the hub's decoder of agent frames (hello, sync report, pong)
 * and the report it stores. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hub.h"
#include "mcpfleet.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Mcpfleet__V1__AgentFrame *f;
	json_t *j;
	char *s;

	f = mcpfleet__v1__agent_frame__unpack(NULL, size, data);
	if (f == NULL)
		return 0;
	if (f->body_case == MCPFLEET__V1__AGENT_FRAME__BODY_REPORT) {
		s = hub_report_json(f->report);
		/* What the store keeps is always one valid JSON object. */
		if (s == NULL)
			abort();
		j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
		if (j == NULL || !json_is_object(j))
			abort();
		json_decref(j);
		free(s);
	}
	mcpfleet__v1__agent_frame__free_unpacked(f, NULL);
	return 0;
}
