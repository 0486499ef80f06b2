/* SPDX-License-Identifier: MIT */
/* Fuzz target: the launcher's relay, fed host bytes and server bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limiter.h"
#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: a mode byte, then the host's bytes, a NUL, the server's bytes.
 * Mode bits: 0x01 a policy, 0x02 rate limits, 0x04 a 200-byte message
 * limit, 0x08 message framing (lines handed as messages), 0x30 the read
 * size (1, 7, 64 bytes or everything at once).
 */
static int64_t fuzz_clock(void *ctx)
{
	int64_t *t = ctx;

	*t += 1000;
	return *t;
}

static void fuzz_record(void *ctx, const struct relay_call *c)
{
	(void)ctx;
	/* Touch every string: ASan sees a dangling one. */
	if (strlen(c->method) + strlen(c->name) +
	        (c->detail ? strlen(c->detail) : 0) >
	    (size_t)1 << 30)
		abort();
	if (strlen(c->name) > RELAY_NAME_MAX)
		abort();
}

static void fuzz_log(void *ctx, const char *line)
{
	(void)ctx;
	(void)strlen(line);
}

/* Feeds one side: as reads of len bytes, or as messages split at '\n'. */
static int fuzz_side(struct relay *r, int client, bool messages,
                     const uint8_t **pp, size_t *np, size_t len,
                     struct buf *to_server, struct buf *to_client)
{
	const char *p = (const char *)*pp;
	size_t n = *np, k;
	const char *nl;

	if (n == 0)
		return 0;
	if (messages) {
		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) + 1 : n;
		*pp += k;
		*np -= k;
		if (nl)
			k--;
		return client
		           ? relay_client_message(r, p, k, to_server, to_client)
		           : relay_server_message(r, p, k, to_client);
	}
	k = n < len ? n : len;
	*pp += k;
	*np -= k;
	return client ? relay_client_bytes(r, p, k, to_server, to_client)
	              : relay_server_bytes(r, p, k, to_client);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t reads[] = {1, 7, 64, SIZE_MAX};
	char *allow_v[] = {"*"}, *deny_v[] = {"delete_*", "*secret*"};
	struct strv allow = {allow_v, 1}, deny = {deny_v, 2};
	struct rate srv = {3, 60};
	struct tool_rate tr = {"write_*", {1, 3600}};
	struct tool_rate_list trl = {&tr, 1};
	struct buf to_server = BUF_INIT, to_client = BUF_INIT;
	struct limiter *lim = NULL;
	struct relay_config cfg;
	struct relay *r = NULL;
	const uint8_t *c, *s, *z;
	size_t cn, sn, len;
	int64_t mono = 0, wall = 0;
	unsigned mode;
	bool messages;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	z = memchr(data, '\0', size);
	c = data;
	cn = z ? (size_t)(z - data) : size;
	s = z ? z + 1 : data + size;
	sn = z ? size - cn - 1 : 0;
	len = reads[(mode >> 4) & 3];
	messages = (mode & 0x08) != 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "fuzz";
	if (mode & 0x01) {
		cfg.allow = &allow;
		cfg.deny = &deny;
	}
	if ((mode & 0x02) && limiter_new(&srv, &trl, &lim) != 0)
		return 0;
	cfg.limiter = lim;
	cfg.max_message = (mode & 0x04) ? 200 : 0;
	cfg.hooks.ctx = &mono;
	cfg.hooks.record = fuzz_record;
	cfg.hooks.log = fuzz_log;
	cfg.hooks.mono_us = fuzz_clock;
	(void)wall;
	if (relay_new(&cfg, &r) != 0)
		goto out;
	/* Interleave the two sides, as a real session does. */
	while (cn > 0 || sn > 0) {
		if (fuzz_side(r, 1, messages, &c, &cn, len, &to_server,
		              &to_client) != 0 ||
		    fuzz_side(r, 0, messages, &s, &sn, len, NULL, &to_client) !=
		        0)
			break;
	}
	/* What goes to the host is always whole lines. */
	if (to_client.len > 0 && to_client.data[to_client.len - 1] != '\n')
		abort();
	if (!messages && to_server.len > 0 &&
	    to_server.data[to_server.len - 1] != '\n')
		abort();
	relay_finish(r);
	relay_finish(r);
out:
	relay_free(r);
	limiter_free(lim);
	buf_free(&to_server);
	buf_free(&to_client);
	return 0;
}
