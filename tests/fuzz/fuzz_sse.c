/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the text/event-stream parser, fed in pieces. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)
#define FUZZ_CAP       256

static void fuzz_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_sse: %s\n", what);
		abort();
	}
}

struct fuzz_sum {
	size_t events;
	size_t bytes; /* data bytes, plus one per event */
};

static int fuzz_on_event(void *ctx, const char *event, const char *data,
                         size_t len, const char *id)
{
	struct fuzz_sum *s = ctx;

	fuzz_check(event != NULL && id != NULL && data != NULL, "NULL string");
	fuzz_check(data[len] == '\0', "data not terminated");
	fuzz_check(len < FUZZ_CAP, "event over the cap");
	fuzz_check(strlen(event) < FUZZ_CAP && strlen(id) < FUZZ_CAP,
	           "field over the cap");
	s->events++;
	s->bytes += len + 1;
	return 0;
}

/* Runs the parser over the input in pieces whose sizes come from step,
 * and returns what it saw. */
static struct fuzz_sum fuzz_run(const uint8_t *data, size_t size, size_t step)
{
	struct fuzz_sum s = {0, 0};
	struct sse *p = NULL;
	size_t i = 0, k;

	fuzz_check(sse_new(FUZZ_CAP, &p) == 0, "sse_new");
	while (i < size) {
		k = step == 0 ? (size_t)(data[i] % 7) + 1 : step;
		if (k > size - i)
			k = size - i;
		fuzz_check(sse_feed(p, (const char *)data + i, k, fuzz_on_event,
		                    &s) == 0,
		           "feed failed");
		i += k;
	}
	fuzz_check(sse_retry(p) >= -1, "retry");
	(void)sse_last_id(p);
	sse_free(p);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_sum whole, bytes, ragged;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	whole = fuzz_run(data, size, size > 0 ? size : 1);
	bytes = fuzz_run(data, size, 1);
	ragged = fuzz_run(data, size, 0);
	/* Where the stream is cut never changes what it says. */
	fuzz_check(whole.events == bytes.events && whole.bytes == bytes.bytes,
	           "byte-wise feed differs");
	fuzz_check(whole.events == ragged.events && whole.bytes == ragged.bytes,
	           "ragged feed differs");
	return 0;
}
