/* SPDX-License-Identifier: MIT */
/* Fuzz target: proto/pbwire.c's walk over the wire bytes of the messages
 * agents and enrolling devices send. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mcpfleet.pb-c.h"
#include "pbwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d;
	int r;

	diag_clear(&d);
	r = pbwire_check_strings(&mcpfleet__v1__agent_frame__descriptor, data,
	                         size, &d);
	if (r != 0 && r != -ERR_INVALID && r != -ERR_PARSE)
		abort();
	r = pbwire_check_strings(&mcpfleet__v1__enroll_request__descriptor,
	                         data, size, &d);
	if (r != 0 && r != -ERR_INVALID && r != -ERR_PARSE)
		abort();
	/* A refusal names the field. */
	if (r == -ERR_INVALID && strstr(d.msg, "holds a NUL byte") == NULL)
		abort();
	return 0;
}
