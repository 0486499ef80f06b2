/* SPDX-License-Identifier: MIT */
/* Tests of the calls spool: order, acknowledgement, bounds, restarts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"
#include "testutil.h"

static void ts_add(struct spool *s, const char *name, int outcome)
{
	struct spool_record r = {
	    .at_ms = 1700000000000,
	    .server = "gh",
	    .method = "tools/call",
	    .name = name,
	    .duration_us = 1234,
	    .outcome = outcome,
	    .bytes_in = 10,
	    .bytes_out = 20,
	    .detail = outcome ? "denied by the fleet" : NULL,
	};

	assert_int_equal(spool_append(s, &r), 0);
}

static void test_spool_order_ack_reopen(void **state)
{
	char *dir = tu_mkdtemp(), *path = tu_path(dir, SPOOL_FILE);
	Mcpfleet__V1__CallBatch b;
	struct spool *s;
	struct diag d;
	struct stat st;
	uint64_t first, last;

	(void)state;
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ts_add(s, "one", 0);
	ts_add(s, "two", 2);
	ts_add(s, "three", 0);
	assert_int_equal(spool_batch(s, 0, 2, &b), 2);
	assert_string_equal(b.calls[0]->name, "one");
	assert_string_equal(b.calls[1]->name, "two");
	assert_string_equal(b.calls[1]->detail, "denied by the fleet");
	assert_int_equal(b.calls[1]->outcome, 2);
	assert_true(b.calls[0]->seq < b.calls[1]->seq);
	first = b.calls[0]->seq;
	last = b.calls[1]->seq;
	spool_batch_clear(&b);
	/* Acknowledged up to "two": only "three" is left, after a restart
	 * too, and new seqs stay above every earlier one. */
	assert_int_equal(spool_ack(s, last), 0);
	assert_int_equal(spool_count(s), 1);
	spool_free(s);
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	assert_int_equal(spool_acked(s), last);
	assert_int_equal(spool_batch(s, spool_acked(s), 10, &b), 1);
	assert_string_equal(b.calls[0]->name, "three");
	assert_true(b.calls[0]->seq > last);
	last = b.calls[0]->seq;
	spool_batch_clear(&b);
	ts_add(s, "four", 0);
	assert_int_equal(spool_batch(s, last, 10, &b), 1);
	assert_true(b.calls[0]->seq > last && first < last);
	spool_batch_clear(&b);
	/* An ack beyond what was handed out acknowledges only that. */
	assert_int_equal(spool_ack(s, UINT64_MAX), 0);
	assert_int_equal(spool_count(s), 0);
	assert_int_equal(spool_batch(s, spool_acked(s), 10, &b), 0);
	spool_free(s);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void test_spool_bound_drops_oldest(void **state)
{
	char *dir = tu_mkdtemp(), *path = tu_path(dir, SPOOL_FILE);
	char name[32];
	Mcpfleet__V1__CallBatch b;
	struct spool *s;
	struct diag d;
	size_t i, n;

	(void)state;
	tu_ok(spool_open(path, SPOOL_MIN_MAX, &s, &d), &d);
	for (i = 0; i < 2000; i++) {
		(void)snprintf(name, sizeof(name), "tool%zu", i);
		ts_add(s, name, 0);
	}
	n = spool_count(s);
	assert_true(n > 100 && n < 2000);
	assert_int_equal(spool_dropped(s), 2000 - n);
	/* The newest are kept. */
	assert_int_equal(spool_batch(s, 0, 1, &b), 1);
	(void)snprintf(name, sizeof(name), "tool%zu", 2000 - n);
	assert_string_equal(b.calls[0]->name, name);
	assert_int_equal(b.dropped, 2000 - n);
	spool_batch_clear(&b);
	spool_free(s);
	/* The count survives a restart. */
	tu_ok(spool_open(path, SPOOL_MIN_MAX, &s, &d), &d);
	assert_int_equal(spool_count(s), n);
	assert_int_equal(spool_dropped(s), 2000 - n);
	spool_free(s);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void test_spool_torn_line(void **state)
{
	char *dir = tu_mkdtemp(), *path = tu_path(dir, SPOOL_FILE);
	Mcpfleet__V1__CallBatch b;
	struct spool *s;
	struct diag d;
	char *text;
	size_t len;

	(void)state;
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	ts_add(s, "kept", 0);
	spool_free(s);
	/* A crash in the middle of a write leaves half a line. */
	text = tu_read(path, &len);
	text = realloc(text, len + 32);
	memcpy(text + len, "{\"seq\":99999999999999,\"ser", 26);
	tu_write(path, text, len + 26);
	free(text);
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	assert_int_equal(spool_count(s), 1);
	assert_int_equal(spool_dropped(s), 1);
	assert_int_equal(spool_batch(s, 0, 5, &b), 1);
	assert_string_equal(b.calls[0]->name, "kept");
	spool_batch_clear(&b);
	spool_free(s);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void test_spool_record_from_json(void **state)
{
	struct spool_record r;
	json_t *m = json_pack(
	    "{s:s,s:s,s:s,s:I,s:I,s:i,s:I,s:I,s:s}", "op", "call", "method",
	    "tools/call", "name", "echo", "at_ms", (json_int_t)5, "duration_us",
	    (json_int_t)7, "outcome", 3, "bytes_in", (json_int_t)11,
	    "bytes_out", (json_int_t)13, "detail", "rate limit 3/min");

	(void)state;
	assert_int_equal(spool_record_from_json(m, "gh", &r), 0);
	assert_string_equal(r.server, "gh");
	assert_string_equal(r.method, "tools/call");
	assert_string_equal(r.name, "echo");
	assert_int_equal(r.outcome, 3);
	assert_int_equal(r.bytes_out, 13);
	assert_string_equal(r.detail, "rate limit 3/min");
	assert_int_equal(spool_record_from_json(m, NULL, &r), -ERR_INVALID);
	json_object_set_new(m, "outcome", json_integer(4));
	assert_int_equal(spool_record_from_json(m, "gh", &r), -ERR_INVALID);
	json_object_set_new(m, "outcome", json_string("ok"));
	assert_int_equal(spool_record_from_json(m, "gh", &r), -ERR_INVALID);
	json_object_set_new(m, "outcome", json_integer(0));
	json_object_del(m, "method");
	assert_int_equal(spool_record_from_json(m, "gh", &r), -ERR_INVALID);
	json_decref(m);
}

#define TS_WRITERS 4
#define TS_EACH    200

/* Launchers hold records in parallel (processes, one record per call, as
 * the agent drains the file between them); the agent takes every one into
 * its spool exactly once, and the held file ends empty. */
static void test_spool_hold_and_absorb(void **state)
{
	char *dir = tu_mkdtemp(), *path = tu_path(dir, SPOOL_FILE);
	char *held = tu_path(dir, SPOOL_HELD_FILE);
	Mcpfleet__V1__CallBatch b;
	pid_t pid[TS_WRITERS];
	struct spool *s;
	struct diag d;
	struct stat st;
	size_t total = 0, i;
	int k, n, status, rounds = 0;

	(void)state;
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	/* Nothing held: nothing taken. */
	assert_int_equal(spool_absorb(s, dir, &d), 0);
	for (k = 0; k < TS_WRITERS; k++) {
		if ((pid[k] = fork()) == 0) {
			json_t *m = json_pack("{s:s,s:s,s:s,s:i}", "op", "call",
			                      "method", "tools/call", "name",
			                      "echo", "outcome", 0);

			for (i = 0; i < TS_EACH; i++)
				if (spool_hold(dir, "gh", &m, 1, &d) != 0)
					_exit(1);
			_exit(0);
		}
		assert_true(pid[k] > 0);
	}
	/* The agent drains while they write. */
	while (total < TS_WRITERS * TS_EACH && rounds++ < 100000) {
		assert_true((n = spool_absorb(s, dir, &d)) >= 0);
		total += (size_t)n;
	}
	for (k = 0; k < TS_WRITERS; k++) {
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_true((n = spool_absorb(s, dir, &d)) >= 0);
	total += (size_t)n;
	assert_int_equal(total, TS_WRITERS * TS_EACH);
	assert_int_equal(spool_count(s), TS_WRITERS * TS_EACH);
	assert_int_equal(spool_dropped(s), 0);
	assert_int_equal(stat(held, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(spool_batch(s, 0, 1, &b), 1);
	assert_string_equal(b.calls[0]->server, "gh");
	assert_string_equal(b.calls[0]->name, "echo");
	spool_batch_clear(&b);

	/* A torn line is dropped and counted; a record after it is taken. */
	tu_write(held,
	         "{\"method\":\"tools/ca\n{\"server\":\"fs\",\"method\":"
	         "\"tools/call\",\"outcome\":2}\n",
	         strlen("{\"method\":\"tools/ca\n{\"server\":\"fs\",\"method\":"
	                "\"tools/call\",\"outcome\":2}\n"));
	assert_int_equal(spool_absorb(s, dir, &d), 1);
	assert_int_equal(spool_dropped(s), 1);
	/* The spool on disk has them: a restarted agent finds them. */
	spool_free(s);
	tu_ok(spool_open(path, SPOOL_DEFAULT_MAX, &s, &d), &d);
	assert_int_equal(spool_count(s), TS_WRITERS * TS_EACH + 1);
	spool_free(s);
	tu_rmtree(dir);
	free(held);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spool_order_ack_reopen),
	    cmocka_unit_test(test_spool_bound_drops_oldest),
	    cmocka_unit_test(test_spool_torn_line),
	    cmocka_unit_test(test_spool_record_from_json),
	    cmocka_unit_test(test_spool_hold_and_absorb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
