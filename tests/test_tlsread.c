/* SPDX-License-Identifier: MIT */
/* Tests of server/tlsread.c's parser: request lines judged in order, bodies
 * skipped, websocket frame headers followed, whatever the read sizes. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "tlsread.h"

/* Feeds len bytes in pieces of step bytes (0: all at once). */
static struct tlsread_conn *tr_feed(enum tlsread_kind kind, const char *data,
                                    size_t len, size_t step)
{
	struct tlsread_conn *c = tlsread_conn_new(kind);
	size_t off, n;

	assert_non_null(c);
	for (off = 0; off < len; off += n) {
		n = step == 0 || step > len - off ? len - off : step;
		tlsread_conn_feed(c, data + off, n);
	}
	return c;
}

static void test_tlsread_request_lines_in_order(void **state)
{
	static const char reqs[] =
	    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /b HTTP/1.1\r\ncontent-length:  5 \r\n\r\nget /"
	    "PUT /c HTTP/1.1\nContent-Length: 0\n\n"
	    "purge /d HTTP/1.1\r\n\r\n"
	    "GET /e HTTP/1.1\r\n\r\n";
	static const size_t steps[] = {0, 1, 2, 7, 64};
	struct tlsread_conn *c;
	char msg[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		c = tr_feed(TLSREAD_HTTP, reqs, sizeof(reqs) - 1, steps[i]);
		assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)), 0);
		assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)), 0);
		assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)), 0);
		assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)),
		                 501);
		assert_string_equal(msg, "method purge is not implemented "
		                         "(methods are case-sensitive)");
		tlsread_conn_free(c);
	}
}

static void test_tlsread_malformed_lines_400(void **state)
{
	static const char *const bad[] = {
	    "GET\r\n\r\n",
	    "GET /\r\n\r\n",
	    " GET / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "GET /\x01 HTTP/1.1\r\n\r\n",
	    "GE\x7fT / HTTP/1.1\r\n\r\n",
	    "GET / http/1.1\r\n\r\n",
	    "GET / HTTP/11\r\n\r\n",
	};
	struct tlsread_conn *c;
	char msg[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = tr_feed(TLSREAD_HTTP, bad[i], strlen(bad[i]), 0);
		if (tlsread_conn_request(c, msg, sizeof(msg)) != 400)
			fail_msg("case %zu accepted", i);
		assert_string_equal(msg, "malformed request line");
		tlsread_conn_free(c);
	}
}

/* After Transfer-Encoding the framing is not followed: net.c closes. */
static void test_tlsread_chunked_stops(void **state)
{
	static const char reqs[] =
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nget\r\n0\r\n\r\nfoo / HTTP/1.1\r\n\r\n";
	struct tlsread_conn *c;
	char msg[128];

	(void)state;
	c = tr_feed(TLSREAD_HTTP, reqs, sizeof(reqs) - 1, 0);
	assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)), 0);
	assert_int_equal(tlsread_conn_request(c, msg, sizeof(msg)), 0);
	tlsread_conn_free(c);
}

static void test_tlsread_ws_masks(void **state)
{
	static const char upgrade[] = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	                              "\r\n";
	/* Masked: 5 bytes; 126-byte length (200); a masked empty ping. */
	unsigned char frames[512], *p = frames;
	char all[1024], msg[128];
	struct tlsread_conn *c;
	size_t n, steps[] = {0, 1, 3};
	size_t i;

	(void)state;
	memcpy(p,
	       "\x82\x85"
	       "abcd"
	       "hello",
	       11);
	p += 11;
	memcpy(p,
	       "\x82\xfe\x00\xc8"
	       "abcd",
	       8);
	p += 8;
	memset(p, 'x', 200);
	p += 200;
	memcpy(p,
	       "\x89\x80"
	       "abcd",
	       6);
	p += 6;
	n = (size_t)(p - frames);
	memcpy(all, upgrade, sizeof(upgrade) - 1);
	memcpy(all + sizeof(upgrade) - 1, frames, n);
	n += sizeof(upgrade) - 1;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		c = tr_feed(TLSREAD_WS, all, n, steps[i]);
		assert_int_equal(tlsread_conn_ws_fault(c, msg, sizeof(msg)), 0);
		/* Then an unmasked close. */
		tlsread_conn_feed(c, "\x88\x02\x03\xe8", 4);
		assert_int_equal(tlsread_conn_ws_fault(c, msg, sizeof(msg)), 1);
		assert_string_equal(msg, "unmasked client frame (opcode 8)");
		tlsread_conn_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tlsread_request_lines_in_order),
	    cmocka_unit_test(test_tlsread_malformed_lines_400),
	    cmocka_unit_test(test_tlsread_chunked_stops),
	    cmocka_unit_test(test_tlsread_ws_masks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
