/* SPDX-License-Identifier: MIT */
/* Fuzz target: common/replicas.c, the agent addresses a server sends (one
 * per line of the input) and that mcpfleetd.conf holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "replicas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *p, *nl, host[REPLICAS_HOST_MAX + 1];
	char again[REPLICAS_ADDR_MAX + 1];
	const char *v[REPLICAS_MAX + 1];
	struct diag d;
	size_t n = 0;
	int port = 0, r;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text; p != NULL && n <= REPLICAS_MAX; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		v[n++] = p;
		diag_clear(&d);
		r = replicas_addr_parse(p, host, &port, &d);
		if (r != 0 && (r != -ERR_INVALID || d.msg[0] == '\0'))
			abort();
		if (r != 0)
			continue;
		/* What parses spells back to itself, or to its canonical
		 * bracketed form. */
		if (port < 1 || port > 65535 ||
		    strlen(host) > REPLICAS_HOST_MAX ||
		    replicas_addr_format(host, port, again, &d) != 0 ||
		    replicas_addr_parse(again, NULL, NULL, &d) != 0)
			abort();
	}
	r = replicas_list_check(v, n, "fuzz", &d);
	if (r != 0 && r != -ERR_INVALID)
		abort();
	if (replicas_start("dev-fuzz", n) >= (n > 0 ? n : 1))
		abort();
	free(text);
	return 0;
}
