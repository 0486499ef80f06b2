/* SPDX-License-Identifier: MIT */
/* Unit tests: client/sse.c, the text/event-stream parser. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "sse.h"

/* Every event as "event|id|data\n", data's LFs written as '~'. */
struct ts_log {
	struct buf b;
	int stop_after; /* 0: never */
	int n;
};

static int ts_on_event(void *ctx, const char *event, const char *data,
                       size_t len, const char *id)
{
	struct ts_log *l = ctx;
	size_t i;

	assert_int_equal(data[len], '\0');
	assert_int_equal(buf_printf(&l->b, "%s|%s|", event, id), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(
		    buf_putc(&l->b, data[i] == '\n' ? '~' : data[i]), 0);
	assert_int_equal(buf_putc(&l->b, '\n'), 0);
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after ? 7 : 0;
}

/* Parses text in one feed, and again split at every position (in two
 * pieces, then byte by byte), and checks that each gives expect. */
static void ts_check_splits(const char *text, size_t max, const char *expect)
{
	size_t n = strlen(text), cut;
	struct ts_log l;
	struct sse *p;

	for (cut = 0; cut <= n + 1; cut++) {
		memset(&l, 0, sizeof(l));
		assert_int_equal(sse_new(max, &p), 0);
		if (cut <= n) {
			assert_int_equal(
			    sse_feed(p, text, cut, ts_on_event, &l), 0);
			assert_int_equal(
			    sse_feed(p, text + cut, n - cut, ts_on_event, &l),
			    0);
		} else {
			size_t i;

			for (i = 0; i < n; i++)
				assert_int_equal(
				    sse_feed(p, text + i, 1, ts_on_event, &l),
				    0);
		}
		if (strcmp(l.b.data != NULL ? l.b.data : "", expect) != 0)
			fail_msg("cut %zu: got\n%s\nexpected\n%s", cut,
			         l.b.data != NULL ? l.b.data : "", expect);
		buf_free(&l.b);
		sse_free(p);
	}
}

static void test_sse_events_at_every_split(void **state)
{
	(void)state;
	ts_check_splits("data: {\"a\":1}\n\n"
	                "event: endpoint\ndata: /messages?x=1\n\n"
	                "id: 42\ndata:no space\n\n"
	                "data: second\n\n",
	                0,
	                "message||{\"a\":1}\n"
	                "endpoint||/messages?x=1\n"
	                "message|42|no space\n"
	                "message|42|second\n");
}

static void test_sse_line_ends_crlf_cr_lf(void **state)
{
	(void)state;
	ts_check_splits("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n", 0,
	                "message||a\nmessage||b\nmessage||c\nmessage||d\n");
	/* CR then LF across two feeds is one line end, not two: a second
	 * would dispatch "x" early and lose nothing here, so check an event
	 * whose data continues on the next line. */
	ts_check_splits("data: x\r\ndata: y\r\n\r\n", 0, "message||x~y\n");
}

static void test_sse_comments_and_multiline_data(void **state)
{
	(void)state;
	ts_check_splits(": keepalive\n\n:another\ndata: one\n: mid\n"
	                "data\ndata:  two\n\n",
	                0, "message||one~~ two\n");
}

static void test_sse_id_and_retry(void **state)
{
	struct ts_log l;
	struct sse *p;
	const char *s = "retry: 1500\nid: abc\n\ndata: x\n\nid\ndata: y\n\n"
	                "retry: 12x\nretry:\n\n";

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(sse_new(0, &p), 0);
	assert_int_equal(sse_retry(p), -1);
	assert_int_equal(sse_feed(p, s, strlen(s), ts_on_event, &l), 0);
	/* An id line without an event still sets the last event ID; an
	 * empty id resets it; bad retry values are ignored. */
	assert_string_equal(l.b.data, "message|abc|x\nmessage||y\n");
	assert_int_equal(sse_retry(p), 1500);
	assert_string_equal(sse_last_id(p), "");
	assert_int_equal(sse_feed(p, "id: z\0q\nid: 9\n", 14, ts_on_event, &l),
	                 0);
	assert_string_equal(sse_last_id(p), "9");
	buf_free(&l.b);
	sse_free(p);
}

static void test_sse_oversized_event_dropped(void **state)
{
	struct ts_log l;
	struct sse *p;
	char big[200];
	const char *tail = "\n\ndata: ok\n\n";

	(void)state;
	memset(big, 'x', sizeof(big));
	memcpy(big, "data: ", 6);
	memset(&l, 0, sizeof(l));
	assert_int_equal(sse_new(64, &p), 0);
	assert_int_equal(sse_feed(p, big, 100, ts_on_event, &l), 0);
	assert_int_equal(sse_feed(p, big + 100, 100, ts_on_event, &l), 0);
	assert_int_equal(sse_feed(p, tail, strlen(tail), ts_on_event, &l), 0);
	assert_string_equal(l.b.data, "message||ok\n");
	assert_int_equal(sse_dropped(p), 1);
	buf_free(&l.b);
	sse_free(p);
	/* Many small lines add up too. */
	ts_check_splits("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n"
	                "data: 0123456789\n\ndata: small\n\n",
	                40, "message||small\n");
	/* Exactly at the cap passes: "data: " + 10 bytes + LF = 17. */
	ts_check_splits("data: 0123456789\n\n", 17, "message||0123456789\n");
	ts_check_splits("data: 0123456789\n\n", 16, "");
}

static void test_sse_bom_and_incomplete_tail(void **state)
{
	(void)state;
	ts_check_splits("\xef\xbb\xbf"
	                "data: a\n\n",
	                0, "message||a\n");
	/* Only the first BOM is skipped; a later one is part of a field
	 * name, which is then unknown. */
	ts_check_splits("\xef\xbb\xbf\xef\xbb\xbf"
	                "data: a\n\ndata: b\n\n",
	                0, "message||b\n");
	/* A partial BOM is content. */
	ts_check_splits("\xef"
	                "data: a\n\ndata: b\n\n",
	                0, "message||b\n");
	/* An event without its blank line is not dispatched. */
	ts_check_splits("data: a\n\ndata: b\n", 0, "message||a\n");
	ts_check_splits("", 0, "");
}

static void test_sse_callback_stops_feed(void **state)
{
	struct ts_log l;
	struct sse *p;
	const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

	(void)state;
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(sse_new(0, &p), 0);
	assert_int_equal(sse_feed(p, s, strlen(s), ts_on_event, &l), 7);
	assert_string_equal(l.b.data, "message||1\nmessage||2\n");
	buf_free(&l.b);
	sse_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sse_events_at_every_split),
	    cmocka_unit_test(test_sse_line_ends_crlf_cr_lf),
	    cmocka_unit_test(test_sse_comments_and_multiline_data),
	    cmocka_unit_test(test_sse_id_and_retry),
	    cmocka_unit_test(test_sse_oversized_event_dropped),
	    cmocka_unit_test(test_sse_bom_and_incomplete_tail),
	    cmocka_unit_test(test_sse_callback_stops_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
