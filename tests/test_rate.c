/* SPDX-License-Identifier: MIT */
/* Unit tests: common/rate.c (rates, tool globs) and the tool_rates objects
 * of common/catalogue.c. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "rate.h"

/* Parses text, expecting count per secs and the canonical spelling. */
static void tr_ok(const char *text, uint32_t count, uint32_t secs,
                  const char *canon)
{
	char out[RATE_TEXT_MAX];
	struct rate r = {0};
	struct diag d;

	diag_clear(&d);
	if (rate_parse("rate", text, &r, &d) != 0)
		fail_msg("'%s': %s", text, d.msg);
	if (r.count != count || r.per_secs != secs)
		fail_msg("'%s': %u/%us, want %u/%us", text, r.count, r.per_secs,
		         count, secs);
	assert_string_equal(rate_format(&r, out), canon);
	/* The canonical spelling reads back the same. */
	assert_int_equal(rate_parse("rate", out, &r, NULL), 0);
	assert_int_equal(r.count, count);
	assert_int_equal(r.per_secs, secs);
}

static void tr_bad(const char *text, const char *why)
{
	struct rate r = {0};
	struct diag d;

	diag_clear(&d);
	assert_int_equal(rate_parse("--rate", text, &r, &d), -ERR_INVALID);
	if (strstr(d.msg, why) == NULL || strncmp(d.msg, "--rate: ", 8) != 0)
		fail_msg("'%s': said '%s', want '%s'", text, d.msg, why);
}

static void test_rate_parse_and_format(void **state)
{
	(void)state;
	tr_ok("60/min", 60, 60, "60/min");
	tr_ok("60/m", 60, 60, "60/min");
	tr_ok("60/minutes", 60, 60, "60/min");
	tr_ok("5/hour", 5, 3600, "5/hour");
	tr_ok("5/hours", 5, 3600, "5/hour");
	tr_ok("5/h", 5, 3600, "5/hour");
	tr_ok("1000/day", 1000, 86400, "1000/day");
	tr_ok("1/days", 1, 86400, "1/day");
	tr_ok("10/30s", 10, 30, "10/30s");
	tr_ok("10/30secs", 10, 30, "10/30s");
	tr_ok("1/s", 1, 1, "1/s");
	tr_ok("120/2min", 120, 120, "120/2min");
	tr_ok("100/90s", 100, 90, "100/90s");
	tr_ok("3/7day", 3, 7 * 86400, "3/7day");
	tr_ok("1000000/60s", RATE_COUNT_MAX, 60, "1000000/min");

	tr_bad("9/ms", "is not a rate"); /* not milliseconds */
	tr_bad("9/hs", "is not a rate");
	tr_bad("5/fortnight", "is not a rate");
	tr_bad("60", "is not a rate");
	tr_bad("/min", "is not a rate");
	tr_bad("60/", "is not a rate");
	tr_bad("-1/min", "is not a rate");
	tr_bad("60/min ", "is not a rate");
	tr_bad("", "is not a rate");
	tr_bad("0/min", "the count must be 1 to 1000000");
	tr_bad("1000001/min", "the count must be 1 to 1000000");
	tr_bad("1/8day", "the period must be 1 second to a week");
	tr_bad("1/0min", "the period must be 1 second to a week");
	tr_bad("99999999/s", "is not a rate"); /* too many digits */
}

static void test_rate_stricter(void **state)
{
	struct rate none = {0}, a = {60, 60}, b = {1, 2}, c = {30, 30};

	(void)state;
	assert_int_equal(rate_stricter(none, a).count, 60);
	assert_int_equal(rate_stricter(a, none).count, 60);
	assert_int_equal(rate_stricter(none, none).count, 0);
	/* 1 per 2 s (0.5/s) is stricter than 60/min (1/s). */
	assert_int_equal(rate_stricter(a, b).count, 1);
	assert_int_equal(rate_stricter(b, a).count, 1);
	/* Equal sustained rates: the first is kept. */
	assert_int_equal(rate_stricter(a, c).count, 60);
	assert_int_equal(rate_stricter(c, a).count, 30);
}

static void test_rate_globs(void **state)
{
	char *const globs[] = {"read_*", "*_admin", "exact"};
	struct tool_rate t = {0};
	struct diag d;

	(void)state;
	assert_true(glob_match("*", ""));
	assert_true(glob_match("*", "anything"));
	assert_true(glob_match("delete_*", "delete_"));
	assert_true(glob_match("delete_*", "delete_repo"));
	assert_false(glob_match("delete_*", "undelete_repo"));
	assert_true(glob_match("*_repo*", "delete_repository"));
	assert_true(glob_match("a*b*c", "aXXbYYc"));
	assert_false(glob_match("a*b*c", "aXXbYY"));
	assert_false(glob_match("abc", "abcd"));
	/* Linear time: a pathological pattern returns at once. */
	assert_false(
	    glob_match("*a*a*a*a*a*a*a*a*b",
	               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_true(glob_match_any(globs, 3, "read_file"));
	assert_true(glob_match_any(globs, 3, "site_admin"));
	assert_true(glob_match_any(globs, 3, "exact"));
	assert_false(glob_match_any(globs, 3, "exactly"));

	assert_int_equal(glob_check("g", "a b", &d), -ERR_INVALID);
	assert_int_equal(glob_check("g", "", &d), -ERR_INVALID);
	assert_int_equal(glob_check("g", "a=b", &d), -ERR_INVALID);
	assert_int_equal(glob_check("g", "ok_*", &d), 0);

	assert_int_equal(
	    tool_rate_parse("--tool-rate", "delete_*=5/hour", &t, &d), 0);
	assert_string_equal(t.tools, "delete_*");
	assert_int_equal(t.rate.per_secs, 3600);
	tool_rate_clear(&t);
	assert_int_equal(tool_rate_parse("--tool-rate", "push", &t, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "GLOB=RATE"));
	assert_int_equal(tool_rate_parse("--tool-rate", "push=often", &t, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "'often' is not a rate"));
}

/* The JSON form of tool rates, shared by entries and grants. */
static void test_rate_tool_rates_json(void **state)
{
	struct tool_rate_list l = {0};
	struct diag d;
	json_t *in, *out;
	char *text;

	(void)state;
	in = json_pack("{s:s,s:s}", "delete_*", "5/hours", "push", "60/m");
	tu_ok(tool_rates_from_json("grant tool rates", in, &l, &d), &d);
	assert_int_equal(l.n, 2);
	assert_non_null(out = tool_rates_to_json(&l));
	text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
	                    "{\"delete_*\":\"5/hour\",\"push\":\"60/min\"}");
	free(text);
	json_decref(out);
	json_decref(in);
	tool_rate_list_clear(&l);

	in = json_pack("{s:i}", "push", 5);
	assert_int_equal(
	    tool_rates_from_json("servers.gh.tool_rates", in, &l, &d),
	    -ERR_INVALID);
	assert_string_equal(d.msg, "servers.gh.tool_rates.push: must be a "
	                           "string such as \"5/hour\"");
	json_decref(in);
	tool_rate_list_clear(&l);
	in = json_object();
	assert_int_equal(tool_rates_from_json("t", in, &l, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "t: must be an object of 1 to 1024"));
	json_decref(in);
	in = json_pack("[s]", "x");
	assert_int_equal(tool_rates_from_json("t", in, &l, &d), -ERR_INVALID);
	json_decref(in);
	in = json_pack("{s:s}", "a b", "1/s");
	assert_int_equal(tool_rates_from_json("t", in, &l, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "t: "));
	json_decref(in);
	tool_rate_list_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_parse_and_format),
	    cmocka_unit_test(test_rate_stricter),
	    cmocka_unit_test(test_rate_globs),
	    cmocka_unit_test(test_rate_tool_rates_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
