/* SPDX-License-Identifier: MIT */
/* Unit tests: server/metrics.c, the registry and its text exposition. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Fails unless line (a whole line) is in text. */
static void has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("no line '%s' in:\n%s", line, text);
}

static void lacks(const char *text, const char *s)
{
	if (strstr(text, s) != NULL)
		fail_msg("'%s' should not be in:\n%s", s, text);
}

static void test_hist_cumulative(void **state)
{
	static const double bounds[] = {0.001, 0.01, 1};
	static const double bad[] = {0.1, 0.01};
	struct metrics_hist h;
	struct metrics_label l = {"route", "/x"};
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(metrics_hist_init(&h, bad, 2), -ERR_INVALID);
	assert_int_equal(metrics_hist_init(&h, bounds, 3), 0);
	metrics_hist_observe(&h, 500000);      /* 0.5 ms */
	metrics_hist_observe(&h, 1000000);     /* 1 ms: on the bound, in it */
	metrics_hist_observe(&h, 5000000);     /* 5 ms */
	metrics_hist_observe(&h, 2500000000u); /* 2.5 s: +Inf only */
	assert_int_equal(metrics_hist_count(&h), 4);
	assert_int_equal(metrics_write_hist(&b, "t_seconds", &l, 1, &h), 0);
	has_line(b.data, "t_seconds_bucket{route=\"/x\",le=\"0.001\"} 2");
	has_line(b.data, "t_seconds_bucket{route=\"/x\",le=\"0.01\"} 3");
	has_line(b.data, "t_seconds_bucket{route=\"/x\",le=\"1\"} 3");
	has_line(b.data, "t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4");
	has_line(b.data, "t_seconds_sum{route=\"/x\"} 2.5065");
	has_line(b.data, "t_seconds_count{route=\"/x\"} 4");
	buf_free(&b);
}

static void test_seconds_and_escaping(void **state)
{
	struct metrics_label l[2] = {{"a", "q\"b\\s\nn"}, {"b", ""}};
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(metrics_write_seconds(&b, "s", NULL, 0, 12000000000u),
	                 0);
	assert_int_equal(metrics_write_seconds(&b, "s", NULL, 0, 2500000), 0);
	assert_int_equal(metrics_write_seconds(&b, "s", NULL, 0, 1), 0);
	assert_int_equal(metrics_write_u64(&b, "u", l, 2, 7), 0);
	assert_int_equal(metrics_write_head(&b, "h", "gauge", "two\\ lines\nx"),
	                 0);
	has_line(b.data, "s 12");
	has_line(b.data, "s 0.0025");
	has_line(b.data, "s 0.000000001");
	has_line(b.data, "u{a=\"q\\\"b\\\\s\\nn\",b=\"\"} 7");
	/* HELP escapes backslash and newline, not quotes. */
	has_line(b.data, "# HELP h two\\\\ lines\\nx");
	has_line(b.data, "# TYPE h gauge");
	buf_free(&b);
}

/* Renders m with connected agents into a fresh buffer (caller frees). */
static char *render(struct metrics *m, uint64_t connected)
{
	struct metrics_facts f = {
	    .connected = connected, .streams = 2, .store_errors = 3};
	struct buf b = BUF_INIT;

	assert_int_equal(metrics_render(m, &f, &b), 0);
	return buf_steal(&b, NULL);
}

static void test_requests_by_route(void **state)
{
	const char *routes[] = {"/api/v1/users", "/metrics"};
	struct metrics *m = NULL;
	char *t;

	(void)state;
	assert_int_equal(metrics_new(routes, 2, 1700000000, &m), 0);
	metrics_request(m, 0, "POST", 201, 2000000);
	metrics_request(m, 0, "POST", 201, 3000000);
	metrics_request(m, 0, "GET", 418, 1000);    /* its class */
	metrics_request(m, 1, "PROPFIND", 0, 1000); /* other, 500 */
	metrics_request(m, 2, "GET", 200, 1000);    /* no such route */
	metrics_enroll(m, METRICS_ENROLL_RATE_LIMITED);
	metrics_calls(m, 2, 5);
	metrics_calls(m, 9, 5); /* no such outcome */
	metrics_revision(m, 41);
	metrics_revision(m, 42);
	t = render(m, 0);
	has_line(t, "mcpfleet_api_requests_total{route=\"/api/v1/users\","
	            "method=\"POST\",code=\"201\"} 2");
	has_line(t, "mcpfleet_api_requests_total{route=\"/api/v1/users\","
	            "method=\"GET\",code=\"4xx\"} 1");
	has_line(t, "mcpfleet_api_requests_total{route=\"/metrics\","
	            "method=\"other\",code=\"500\"} 1");
	has_line(t, "mcpfleet_api_request_duration_seconds_sum{route=\"/api/"
	            "v1/users\",method=\"POST\"} 0.005");
	/* Every outcome is written, zero too. */
	has_line(t, "mcpfleet_enrollments_total{outcome=\"enrolled\"} 0");
	has_line(t, "mcpfleet_enrollments_total{outcome=\"rate_limited\"} 1");
	has_line(t, "mcpfleet_calls_total{outcome=\"ok\"} 0");
	has_line(t, "mcpfleet_calls_total{outcome=\"denied\"} 5");
	has_line(t, "mcpfleet_calls_total{outcome=\"rate_limited\"} 0");
	has_line(t, "mcpfleet_revision_latest 42");
	has_line(t, "mcpfleet_revisions_published_total 2");
	has_line(t, "mcpfleet_store_errors_total 3");
	has_line(t, "# TYPE mcpfleet_push_latency_seconds histogram");
	has_line(t, "mcpfleet_push_latency_seconds_count 0");
	lacks(t, "process_"); /* only when asked */
	free(t);
	metrics_free(m);
}

static void test_agents_by_revision(void **state)
{
	struct metrics *m = NULL;
	uint64_t rev;
	char *t;

	(void)state;
	assert_int_equal(metrics_new(NULL, 0, 0, &m), 0);
	/* Seven revisions, one agent each, and two with none applied. */
	for (rev = 1; rev <= 7; rev++)
		assert_int_equal(metrics_agent_revision(m, false, 0, true, rev),
		                 0);
	assert_int_equal(metrics_agent_revision(m, false, 0, true, 0), 0);
	assert_int_equal(metrics_agent_revision(m, false, 0, true, 0), 0);
	/* One moves from 1 to 7, one from none to 7. */
	assert_int_equal(metrics_agent_revision(m, true, 1, true, 7), 0);
	assert_int_equal(metrics_agent_revision(m, true, 0, true, 7), 0);
	t = render(m, 9);
	has_line(t, "mcpfleet_agents_connected 9");
	has_line(t, "mcpfleet_console_streams 2");
	has_line(t, "mcpfleet_agents_by_revision{revision=\"7\"} 3");
	has_line(t, "mcpfleet_agents_by_revision{revision=\"3\"} 1");
	/* The newest five named: 7 6 5 4 3; 2 is older, 1 is gone. */
	lacks(t, "revision=\"2\"");
	lacks(t, "revision=\"1\"");
	has_line(t, "mcpfleet_agents_by_revision{revision=\"older\"} 1");
	has_line(t, "mcpfleet_agents_by_revision{revision=\"none\"} 1");
	free(t);
	/* All leave: no series left. */
	for (rev = 2; rev <= 6; rev++)
		(void)metrics_agent_revision(m, true, rev, false, 0);
	for (rev = 0; rev < 3; rev++)
		(void)metrics_agent_revision(m, true, 7, false, 0);
	(void)metrics_agent_revision(m, true, 0, false, 0);
	t = render(m, 0);
	lacks(t, "mcpfleet_agents_by_revision{");
	has_line(t, "# TYPE mcpfleet_agents_by_revision gauge");
	free(t);
	metrics_free(m);
}

static void test_push_latency(void **state)
{
	struct metrics *m = NULL;
	char *t;

	(void)state;
	assert_int_equal(metrics_new(NULL, 0, 0, &m), 0);
	metrics_push(m);
	metrics_push(m);
	metrics_push_applied(m, 20000000); /* 20 ms */
	t = render(m, 0);
	has_line(t, "mcpfleet_pushes_total 2");
	has_line(t, "mcpfleet_push_latency_seconds_bucket{le=\"0.01\"} 0");
	has_line(t, "mcpfleet_push_latency_seconds_bucket{le=\"0.025\"} 1");
	has_line(t, "mcpfleet_push_latency_seconds_bucket{le=\"+Inf\"} 1");
	has_line(t, "mcpfleet_push_latency_seconds_sum 0.02");
	free(t);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist_cumulative),
	    cmocka_unit_test(test_seconds_and_escaping),
	    cmocka_unit_test(test_requests_by_route),
	    cmocka_unit_test(test_agents_by_revision),
	    cmocka_unit_test(test_push_latency),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
