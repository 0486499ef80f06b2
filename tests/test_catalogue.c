/* SPDX-License-Identifier: MIT */
/* Unit tests: the canonical schema (common/catalogue.c) and the server flags.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "serverflags.h"

static bool test_catalogue_host_known(const char *id)
{
	return strcmp(id, "codex") == 0 || strcmp(id, "claude-code") == 0;
}

static const struct catalogue_opts test_catalogue_opts = {
    .allow_secret_refs = false,
    .host_known = test_catalogue_host_known,
};

/* Parses text; returns the code and leaves the message in d. */
static int test_catalogue_try(const char *text, struct catalogue *c,
                              struct diag *d)
{
	diag_clear(d);
	return catalogue_parse(text, strlen(text), &test_catalogue_opts, c, d);
}

/* Asserts that text is rejected with a message containing needle. */
static void test_catalogue_rejects(const char *text, const char *needle)
{
	struct catalogue c = {0};
	struct diag d;
	int r = test_catalogue_try(text, &c, &d);

	if (r == 0 || strstr(d.msg, needle) == NULL)
		fail_msg("expected rejection with '%s' for %s; got %d '%s'",
		         needle, text, r, d.msg);
	assert_int_equal(c.n, 0);
}

static void test_catalogue_parses_design_example(void **state)
{
	const char *text =
	    "{ \"version\": 1,\n"
	    "  \"servers\": {\n"
	    "    \"github\": { \"url\": \"https://api.example.com/mcp\", "
	    "\"type\": \"http\",\n"
	    "                \"headers\": { \"Authorization\": \"Bearer "
	    "${GITHUB_TOKEN}\" },\n"
	    "                \"hosts\": [\"claude-code\", \"codex\"], "
	    "\"disabled\": false,\n"
	    "                \"tools\": { \"deny\": [\"delete_repository\"] "
	    "} },\n"
	    "    \"fs\":     { \"command\": \"npx\", \"args\": [\"-y\", "
	    "\"@modelcontextprotocol/server-filesystem\", \"/src\"],\n"
	    "                \"env\": { \"LOG\": \"${LOG_LEVEL}\" } } } }\n";
	struct catalogue c = {0};
	const struct server *s;
	struct diag d;

	(void)state;
	assert_int_equal(test_catalogue_try(text, &c, &d), 0);
	assert_int_equal(c.n, 2);
	/* Sorted by name. */
	assert_string_equal(c.servers[0].name, "fs");
	assert_string_equal(c.servers[1].name, "github");
	s = catalogue_find(&c, "github");
	assert_non_null(s);
	assert_int_equal(s->transport, SERVER_HTTP);
	assert_string_equal(kvlist_get(&s->headers, "Authorization"),
	                    "Bearer ${GITHUB_TOKEN}");
	assert_true(s->has_hosts);
	assert_int_equal(s->hosts.n, 2);
	assert_int_equal(s->tools_deny.n, 1);
	assert_string_equal(s->tools_deny.v[0], "delete_repository");
	s = catalogue_find(&c, "fs");
	assert_int_equal(s->transport, SERVER_STDIO);
	assert_int_equal(s->args.n, 3);
	assert_string_equal(kvlist_get(&s->env, "LOG"), "${LOG_LEVEL}");
	assert_false(s->has_hosts);
	assert_null(catalogue_find(&c, "nope"));
	catalogue_clear(&c);
}

static void test_catalogue_round_trips_through_json(void **state)
{
	const char *text =
	    "{\"version\":1,\"servers\":{\"a\":{\"command\":\"x\","
	    "\"args\":[\"1\"],\"env\":{\"K\":\"v\"},\"disabled\":true,"
	    "\"tools\":{\"allow\":[\"t1\",\"t2\"]}},\"b\":{\"url\":"
	    "\"http://127.0.0.1:1/mcp\",\"type\":\"sse\",\"hosts\":[]}}}";
	struct catalogue c = {0}, c2 = {0};
	struct diag d;
	json_t *j, *j2;
	char *s;

	(void)state;
	assert_int_equal(test_catalogue_try(text, &c, &d), 0);
	j = catalogue_to_json(&c);
	s = json_dumps(j, JSON_COMPACT);
	assert_int_equal(test_catalogue_try(s, &c2, &d), 0);
	j2 = catalogue_to_json(&c2);
	assert_true(json_equal(j, j2));
	assert_true(c2.servers[0].disabled);
	assert_int_equal(c2.servers[1].transport, SERVER_SSE);
	assert_true(c2.servers[1].has_hosts);
	assert_int_equal(c2.servers[1].hosts.n, 0);
	free(s);
	json_decref(j);
	json_decref(j2);
	catalogue_clear(&c);
	catalogue_clear(&c2);
}

static void test_catalogue_copy_is_the_original(void **state)
{
	const char *text =
	    "{\"version\":1,\"servers\":{\"a\":{\"command\":\"x\","
	    "\"args\":[\"1\",\"${V}\"],\"env\":{\"K\":\"v\",\"L\":\"w\"},"
	    "\"disabled\":true,\"hosts\":[\"codex\"],\"via\":\"direct\","
	    "\"rate\":\"10/min\",\"tool_rates\":{\"w*\":\"1/s\"},"
	    "\"tools\":{\"allow\":[\"t1\",\"t2\"],\"deny\":[\"t3\"]}},"
	    "\"b\":{\"url\":\"http://127.0.0.1:1/mcp\",\"type\":\"sse\","
	    "\"headers\":{\"H\":\"h\"},\"hosts\":[]}}}";
	struct catalogue c = {0};
	struct diag d;
	size_t i;

	(void)state;
	assert_int_equal(test_catalogue_try(text, &c, &d), 0);
	c.servers[0].origin = SERVER_FLEET;
	assert_int_equal(sealed_list_push(&c.servers[0].secrets, "tok", 3,
	                                  (const uint8_t *)"\1\2\3", 3),
	                 0);
	for (i = 0; i < c.n; i++) {
		struct server cp = {0};
		json_t *a, *b;

		assert_int_equal(server_copy(&c.servers[i], &cp), 0);
		a = server_to_json(&c.servers[i]);
		b = server_to_json(&cp);
		assert_true(json_equal(a, b));
		assert_string_equal(cp.name, c.servers[i].name);
		assert_int_equal(cp.origin, c.servers[i].origin);
		assert_int_equal(cp.transport, c.servers[i].transport);
		assert_int_equal(cp.via, c.servers[i].via);
		assert_int_equal(cp.has_hosts, c.servers[i].has_hosts);
		assert_int_equal(cp.secrets.n, c.servers[i].secrets.n);
		if (cp.secrets.n > 0) {
			assert_string_equal(cp.secrets.v[0].name, "tok");
			assert_int_equal(cp.secrets.v[0].version, 3);
			assert_memory_equal(cp.secrets.v[0].data, "\1\2\3", 3);
		}
		json_decref(a);
		json_decref(b);
		server_clear(&cp);
	}
	catalogue_clear(&c);
}

static void test_catalogue_rejects_bad_documents(void **state)
{
	(void)state;
	test_catalogue_rejects("{\"version\":1,\"servers\":{\"a\":{\"command\":"
	                       "\"x\"},\"a\":{\"command\":\"y\"}}}",
	                       "duplicate");
	test_catalogue_rejects("[]", "must be a JSON object");
	test_catalogue_rejects("{\"servers\":{}}", "version");
	test_catalogue_rejects("{\"version\":2,\"servers\":{}}", "version");
	test_catalogue_rejects("{\"version\":1,\"servers\":[]}", "servers");
	test_catalogue_rejects("{\"version\":1,\"extra\":1}", "'extra'");
	test_catalogue_rejects("{\"version\":1,", "");
}

static void test_catalogue_rejects_bad_entries(void **state)
{
	static const struct {
		const char *entry;
		const char *needle;
	} cases[] = {
	    {"{}", "exactly one of"},
	    {"{\"command\":\"x\",\"url\":\"http://h/\"}", "exactly one of"},
	    {"{\"command\":\"\"}", "non-empty"},
	    {"{\"command\":\"x\",\"type\":\"http\"}", "does not go with"},
	    {"{\"url\":\"ftp://h/\"}", "http:// or https://"},
	    {"{\"url\":\"http://\"}", "http:// or https://"},
	    {"{\"url\":\"http://h/\",\"type\":\"ws\"}", "not a remote"},
	    {"{\"command\":\"x\",\"args\":\"a\"}", "array of strings"},
	    {"{\"command\":\"x\",\"args\":[1]}", "must be a string"},
	    {"{\"command\":\"x\",\"env\":{\"1BAD\":\"v\"}}",
	     "not a valid name"},
	    {"{\"command\":\"x\",\"env\":{\"K\":1}}", "must be a string"},
	    {"{\"url\":\"http://h/\",\"headers\":{\"Bad Name\":\"v\"}}",
	     "not a valid name"},
	    {"{\"url\":\"http://h/\",\"headers\":{\"A\":\"caf\u00e9\"}}",
	     "servers.s.headers.A: holds a character that is not ASCII"},
	    {"{\"url\":\"http://h/\",\"headers\":{\"A\":\" v\"}}",
	     "starts or ends with a space or tab"},
	    {"{\"url\":\"http://h/\",\"headers\":{\"A\":\"a\\u0001b\"}}",
	     "control character"},
	    {"{\"command\":\"x\",\"headers\":{\"A\":\"v\"}}",
	     "only a remote server"},
	    {"{\"url\":\"http://h/\",\"env\":{\"A\":\"v\"}}",
	     "only a stdio server"},
	    {"{\"url\":\"http://h/\",\"args\":[\"a\"]}", "only a stdio"},
	    {"{\"command\":\"x\",\"hosts\":[\"vim\"]}", "unknown host 'vim'"},
	    {"{\"command\":\"x\",\"hosts\":[\"codex\",\"codex\"]}",
	     "listed twice"},
	    {"{\"command\":\"x\",\"disabled\":\"yes\"}", "true or false"},
	    {"{\"command\":\"x\",\"tools\":{\"block\":[]}}", "unknown field"},
	    {"{\"command\":\"x\",\"cwd\":\"/\"}", "unknown field 'cwd'"},
	    {"{\"command\":\"x\\ny\"}", "control character"},
	    {"{\"command\":\"x\",\"args\":[\"a\\nb\"]}", "control character"},
	    {"{\"url\":\"http://h/\",\"headers\":{\"A\":\"a\\nb\"}}",
	     "control character"},
	    {"{\"command\":\"x\",\"args\":[\"${UNCLOSED\"]}", "unterminated"},
	    {"{\"command\":\"x\",\"args\":[\"${}\"]}", "empty"},
	    {"{\"command\":\"x\",\"args\":[\"${A-B}\"]}", "not a valid"},
	    {"{\"command\":\"x\",\"env\":{\"T\":\"${secret:TOKEN}\"}}",
	     "personal catalogue"},
	};
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text),
		               "{\"version\":1,\"servers\":{\"s\":%s}}",
		               cases[i].entry);
		test_catalogue_rejects(text, cases[i].needle);
	}
}

static void test_catalogue_secret_refs_allowed_for_fleet(void **state)
{
	const char *text = "{\"version\":1,\"servers\":{\"s\":{\"url\":"
	                   "\"https://h/\",\"headers\":{\"Authorization\":"
	                   "\"Bearer ${secret:GH}\"}}}}";
	struct catalogue_opts opts = {.allow_secret_refs = true};
	struct catalogue c = {0};
	struct diag d;

	(void)state;
	assert_int_equal(catalogue_parse(text, strlen(text), &opts, &c, &d), 0);
	assert_int_equal(c.n, 1);
	catalogue_clear(&c);
}

static void test_catalogue_server_names(void **state)
{
	static const char *const good[] = {"a", "github", "my_server-2", "A0"};
	static const char *const bad[] = {"",        "has space", "dot.name",
	                                  "servers", "timeout",   "workspace",
	                                  "quote\"", "a/b",       "ünï"};
	char longname[SERVER_NAME_MAX + 2];
	struct diag d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(server_name_check(good[i], &d), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(server_name_check(bad[i], &d), -ERR_INVALID);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[SERVER_NAME_MAX] = '\0';
	assert_int_equal(server_name_check(longname, &d), 0);
	longname[SERVER_NAME_MAX] = 'x';
	longname[SERVER_NAME_MAX + 1] = '\0';
	assert_int_equal(server_name_check(longname, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "longer than 64"));
}

static void test_catalogue_put_remove_keeps_order(void **state)
{
	struct catalogue c = {0};
	struct server s;
	const char *names[] = {"m", "c", "x", "a", "c"};
	json_t *e = json_pack("{s:s}", "command", "true");
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(server_from_json(names[i], e, NULL, &s, NULL),
		                 0);
		assert_int_equal(catalogue_put(&c, &s), 0);
		assert_null(s.name);
	}
	assert_int_equal(c.n, 4);
	assert_string_equal(c.servers[0].name, "a");
	assert_string_equal(c.servers[1].name, "c");
	assert_string_equal(c.servers[3].name, "x");
	assert_int_equal(catalogue_remove(&c, "c"), 0);
	assert_int_equal(catalogue_remove(&c, "c"), -ERR_NOENT);
	assert_int_equal(c.n, 3);
	assert_non_null(catalogue_find(&c, "m"));
	json_decref(e);
	catalogue_clear(&c);
}

static void test_catalogue_serverflags_build_entries(void **state)
{
	char *argv1[] = {"--url",
	                 "https://h/mcp",
	                 "--type=sse",
	                 "--header",
	                 "Authorization:  Bearer x",
	                 "--host",
	                 "codex,cursor",
	                 "--tools-deny",
	                 "a, b",
	                 "--disabled"};
	char *argv2[] = {"--command", "npx", "--arg", "-y",
	                 "--arg",     "pkg", "--env", "K=v=w"};
	char *bad1[] = {"--command"};
	char *bad2[] = {"--bogus", "x"};
	char *bad3[] = {"--json", "{\"command\":\"x\"}", "--disabled"};
	char *bad4[] = {"--env", "NOEQUALS"};
	json_t *e = NULL;
	struct diag d;
	char *s;

	(void)state;
	assert_int_equal(serverflags_parse(10, argv1, &e, &d), 0);
	s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"disabled\":true,\"headers\":{\"Authorization\":\"Bearer "
	       "x\"},\"hosts\":[\"codex\",\"cursor\"],\"tools\":{\"deny\":"
	       "[\"a\",\"b\"]},\"type\":\"sse\",\"url\":\"https://h/mcp\"}");
	free(s);
	json_decref(e);
	assert_int_equal(serverflags_parse(8, argv2, &e, &d), 0);
	s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"args\":[\"-y\",\"pkg\"],\"command\":\"npx\","
	                       "\"env\":{\"K\":\"v=w\"}}");
	free(s);
	json_decref(e);
	assert_int_equal(serverflags_parse(1, bad1, &e, &d), -ERR_USAGE);
	assert_non_null(strstr(d.msg, "needs a value"));
	assert_int_equal(serverflags_parse(2, bad2, &e, &d), -ERR_USAGE);
	assert_non_null(strstr(d.msg, "--bogus"));
	assert_int_equal(serverflags_parse(3, bad3, &e, &d), -ERR_USAGE);
	assert_int_equal(serverflags_parse(2, bad4, &e, &d), -ERR_USAGE);
	assert_int_equal(serverflags_parse(0, NULL, &e, &d), -ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_catalogue_parses_design_example),
	    cmocka_unit_test(test_catalogue_round_trips_through_json),
	    cmocka_unit_test(test_catalogue_copy_is_the_original),
	    cmocka_unit_test(test_catalogue_rejects_bad_documents),
	    cmocka_unit_test(test_catalogue_rejects_bad_entries),
	    cmocka_unit_test(test_catalogue_secret_refs_allowed_for_fleet),
	    cmocka_unit_test(test_catalogue_server_names),
	    cmocka_unit_test(test_catalogue_put_remove_keeps_order),
	    cmocka_unit_test(test_catalogue_serverflags_build_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
