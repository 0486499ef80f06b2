/* SPDX-License-Identifier: MIT */
/* Fuzz target: server/tlsread.c's parser of the plaintext the server ports
 * read. Byte 0 picks the kind (even: HTTP, odd: websocket), byte 1 the
 * size of the reads; the rest is the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsread_conn *c;
	char msg[128];
	size_t off, n, step;
	int i, r;

	if (size < 2)
		return 0;
	c = tlsread_conn_new(data[0] & 1 ? TLSREAD_WS : TLSREAD_HTTP);
	if (c == NULL)
		return 0;
	step = (size_t)data[1] + 1;
	for (off = 2; off < size; off += n) {
		n = size - off < step ? size - off : step;
		tlsread_conn_feed(c, data + off, n);
	}
	for (i = 0; i < 64; i++) {
		msg[0] = '\0';
		r = tlsread_conn_request(c, msg, sizeof(msg));
		if (r != 0 && r != 400 && r != 501)
			abort();
		if (r != 0 && (msg[0] == '\0' || strlen(msg) >= sizeof(msg)))
			abort();
	}
	r = tlsread_conn_ws_fault(c, msg, sizeof(msg));
	if (r != 0 && r != 1)
		abort();
	tlsread_conn_free(c);
	return 0;
}
