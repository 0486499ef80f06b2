/* SPDX-License-Identifier: MIT */
/* Measures the relay: MB/s for a 10 MB tool result passing through in
 * 64 KiB reads, and microseconds per small tools/call round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay.h"

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_record(void *ctx, const struct relay_call *c)
{
	(*(size_t *)ctx) += c->bytes_out > 0;
}

/* A 10 MB answer of mostly ASCII text with some escapes and UTF-8. */
static char *bench_answer(size_t target, size_t *len)
{
	static const char head[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{"
	    "\"content\":[{\"type\":\"text\",\"text\":\"";
	static const char tail[] = "\"}]}}\n";
	static const char chunk[] =
	    "The quick brown fox jumps over the lazy dog; \\\"quoted\\\" "
	    "caf\xc3\xa9 \\n line two of the source file, indented\\t ok. ";
	size_t n = 0, cl = sizeof(chunk) - 1;
	char *s = malloc(target + sizeof(head) + sizeof(tail) + cl);

	if (s == NULL)
		exit(1);
	memcpy(s, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	while (n < target) {
		memcpy(s + n, chunk, cl);
		n += cl;
	}
	memcpy(s + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	*len = n;
	return s;
}

int main(void)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
	                  "call\",\"params\":{\"name\":\"get_issue\","
	                  "\"arguments\":{\"owner\":\"o\",\"repo\":\"r\","
	                  "\"issue_number\":42}}}\n";
	const char *small = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{"
	                    "\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
	                    "\"isError\":false}}\n";
	char *deny_v[] = {"delete_*", "*secret*"};
	struct strv deny = {deny_v, 2};
	struct buf ts = BUF_INIT, tc = BUF_INIT;
	struct relay_config cfg;
	struct rate rt = {1000000, 1};
	struct limiter *lim = NULL;
	struct relay *r = NULL;
	size_t len, i, off, rounds = 20, pairs = 200000, recs = 0;
	double t0, t1, best = 1e9;
	char *big = bench_answer(10u << 20, &len);

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "bench";
	cfg.deny = &deny;
	cfg.hooks.ctx = &recs;
	cfg.hooks.record = bench_record;
	if (limiter_new(&rt, NULL, &lim) != 0)
		return 1;
	cfg.limiter = lim;
	if (relay_new(&cfg, &r) != 0)
		return 1;
	for (i = 0; i < rounds; i++) {
		buf_reset(&ts);
		buf_reset(&tc);
		if (relay_client_bytes(r, req, strlen(req), &ts, &tc) != 0)
			return 1;
		t0 = bench_now();
		for (off = 0; off < len; off += 65536) {
			size_t k = len - off < 65536 ? len - off : 65536;

			if (relay_server_bytes(r, big + off, k, &tc) != 0)
				return 1;
		}
		t1 = bench_now();
		if (tc.len != len)
			return 1;
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	printf("10 MB tool result through relay_server_bytes (64 KiB reads): "
	       "%.0f MB/s (best of %zu, %.2f ms)\n",
	       (double)len / best / 1e6, rounds, best * 1e3);
	t0 = bench_now();
	for (i = 0; i < pairs; i++) {
		buf_reset(&ts);
		buf_reset(&tc);
		if (relay_client_bytes(r, req, strlen(req), &ts, &tc) != 0 ||
		    relay_server_bytes(r, small, strlen(small), &tc) != 0)
			return 1;
	}
	t1 = bench_now();
	printf("small tools/call request + answer: %.2f us per pair "
	       "(%zu pairs, %zu records)\n",
	       (t1 - t0) * 1e6 / (double)pairs, pairs, recs);
	relay_finish(r);
	relay_free(r);
	limiter_free(lim);
	buf_free(&ts);
	buf_free(&tc);
	free(big);
	return 0;
}
