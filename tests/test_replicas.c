/* SPDX-License-Identifier: MIT */
/* common/replicas.c: agent address syntax, list bounds, the spread and
 * rotation order; the replica set on the wire. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpfleet.pb-c.h"
#include "replicas.h"

static void test_replicas_addr_ok(void **state)
{
	char host[REPLICAS_HOST_MAX + 1];
	int port = 0;
	struct diag d;

	(void)state;
	tu_ok(replicas_addr_parse("fleet.example.com:7443", host, &port, &d),
	      &d);
	assert_string_equal(host, "fleet.example.com");
	assert_int_equal(port, 7443);
	tu_ok(replicas_addr_parse("10.0.0.5:1", host, &port, &d), &d);
	assert_string_equal(host, "10.0.0.5");
	assert_int_equal(port, 1);
	tu_ok(replicas_addr_parse("[::1]:65535", host, &port, &d), &d);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
	tu_ok(replicas_addr_parse("[2001:db8::7]:7443", host, NULL, &d), &d);
	assert_string_equal(host, "2001:db8::7");
	tu_ok(replicas_addr_parse("localhost:7443", NULL, NULL, &d), &d);
	tu_ok(replicas_addr_parse("a-1.B2.c:7443", NULL, NULL, &d), &d);
}

static void test_replicas_addr_bad(void **state)
{
	static const struct {
		const char *addr, *why;
	} bad[] = {
	    {"", "empty"},
	    {"fleet.example.com", "no port"},
	    {"fleet.example.com:", "port must be"},
	    {"fleet.example.com:0", "port must be"},
	    {"fleet.example.com:65536", "port must be"},
	    {"fleet.example.com:+443", "port must be"},
	    {"fleet.example.com:443x", "port must be"},
	    {"fleet.example.com:123456", "port must be"},
	    {":7443", "host must be"},
	    {"::1:7443", "brackets"},
	    {"[::1]7443", "[ADDRESS]:PORT"},
	    {"[::1:7443", "[ADDRESS]:PORT"},
	    {"[]:7443", "not an IPv6"},
	    {"[fleet]:7443", "not an IPv6"},
	    {"999.1.1.1:7443", "not a DNS name"},
	    {"-a.example:7443", "not a DNS name"},
	    {"a-.example:7443", "not a DNS name"},
	    {"a..example:7443", "not a DNS name"},
	    {"a_b.example:7443", "not a DNS name"},
	    {"a b:7443", "not a DNS name"},
	    {"a\nb:7443", "not a DNS name"},
	};
	char long_label[128], long_host[400];
	struct diag d;
	size_t i;
	int port = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		diag_clear(&d);
		if (replicas_addr_parse(bad[i].addr, NULL, &port, &d) !=
		    -ERR_INVALID)
			fail_msg("'%s' was accepted", bad[i].addr);
		if (strstr(d.msg, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].addr,
			         d.msg, bad[i].why);
		assert_int_equal(port, 99);
	}
	/* A label of 64 bytes, and a host past REPLICAS_HOST_MAX. */
	memset(long_label, 'a', 64);
	(void)snprintf(long_label + 64, sizeof(long_label) - 64, ".x:1");
	assert_int_equal(replicas_addr_parse(long_label, NULL, NULL, &d),
	                 -ERR_INVALID);
	for (i = 0; i < 254; i += 2)
		memcpy(long_host + i, "a.", 2);
	(void)snprintf(long_host + 254, sizeof(long_host) - 254, ":1");
	assert_int_equal(replicas_addr_parse(long_host, NULL, NULL, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "1 to 253 bytes"));
	memset(long_host, 'a', 300);
	(void)snprintf(long_host + 300, sizeof(long_host) - 300, ":1");
	assert_int_equal(replicas_addr_parse(long_host, NULL, NULL, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "at most"));
}

static void test_replicas_format(void **state)
{
	char out[REPLICAS_ADDR_MAX + 1];
	struct diag d;

	(void)state;
	tu_ok(replicas_addr_format("127.0.0.1", 7443, out, &d), &d);
	assert_string_equal(out, "127.0.0.1:7443");
	tu_ok(replicas_addr_format("::1", 7443, out, &d), &d);
	assert_string_equal(out, "[::1]:7443");
	assert_int_equal(replicas_addr_format("a b", 7443, out, &d),
	                 -ERR_INVALID);
	assert_int_equal(replicas_addr_format("localhost", 0, out, &d),
	                 -ERR_INVALID);
}

static void test_replicas_list_check(void **state)
{
	const char *ok[] = {"a.example:1", "b.example:1", "[::1]:1"};
	const char *dup[] = {"a.example:1", "b.example:1", "a.example:1"};
	const char *one_bad[] = {"a.example:1", "b.example"};
	const char *many[REPLICAS_MAX + 1];
	char names[REPLICAS_MAX + 1][32];
	struct diag d;
	size_t i;

	(void)state;
	tu_ok(replicas_list_check(ok, 3, "set", &d), &d);
	assert_int_equal(replicas_list_check(dup, 3, "set", &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "set[2]: 'a.example:1' is listed twice"));
	assert_int_equal(replicas_list_check(one_bad, 2, "set", &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "set[1]: 'b.example': no port"));
	assert_int_equal(replicas_list_check(ok, 0, "set", &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "0 addresses, want 1 to 32"));
	for (i = 0; i <= REPLICAS_MAX; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "r%zu.example:7443",
		               i);
		many[i] = names[i];
	}
	tu_ok(replicas_list_check(many, REPLICAS_MAX, "set", &d), &d);
	assert_int_equal(replicas_list_check(many, REPLICAS_MAX + 1, "set", &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "33 addresses"));
}

/*
 * The order: each device starts at a place of its own and then visits
 * every replica once per round; a fleet's devices spread over the set.
 */
static void test_replicas_spread_and_rotation(void **state)
{
	size_t count[3] = {0, 0, 0}, seen[5], i, k, pos, n;
	char id[32];

	(void)state;
	assert_int_equal(replicas_start("dev-1", 0), 0);
	assert_int_equal(replicas_next(0, 0), 0);
	assert_int_equal(replicas_start("dev-1", 1), 0);
	assert_int_equal(replicas_next(0, 1), 0);
	/* The same device always starts at the same place. */
	assert_int_equal(replicas_start("dev-abc", 7),
	                 replicas_start("dev-abc", 7));
	/* 3000 devices over 3 replicas: none gets less than a quarter. */
	for (i = 0; i < 3000; i++) {
		(void)snprintf(id, sizeof(id), "dev-%016zx", i * 2654435761u);
		pos = replicas_start(id, 3);
		assert_true(pos < 3);
		count[pos]++;
	}
	for (k = 0; k < 3; k++)
		assert_true(count[k] > 750);
	/* From wherever it starts, a round visits every replica once. */
	for (n = 1; n <= 5; n++) {
		memset(seen, 0, sizeof(seen));
		pos = replicas_start("dev-rotation", n);
		for (i = 0; i < n; i++) {
			seen[pos]++;
			pos = replicas_next(pos, n);
		}
		assert_int_equal(pos, replicas_start("dev-rotation", n));
		for (k = 0; k < n; k++)
			assert_int_equal(seen[k], 1);
	}
	assert_int_equal(replicas_next(2, 3), 0);
	assert_int_equal(replicas_next(0, 3), 1);
}

/* The replica set survives the wire: EnrollResponse and the Replicas
 * frame. */
static void test_replicas_proto_round_trip(void **state)
{
	char a0[] = "fleet-a.example:7443", a1[] = "[::1]:7443";
	char *addrs[] = {a0, a1};
	Mcpfleet__V1__EnrollResponse er, *er2;
	Mcpfleet__V1__ServerFrame fr, *fr2;
	Mcpfleet__V1__Replicas rs;
	struct diag d;
	uint8_t buf[512];
	size_t n;

	(void)state;
	mcpfleet__v1__enroll_response__init(&er);
	er.device_id = (char *)(uintptr_t) "dev-1";
	er.agent_port = 7443;
	er.agent_addresses = addrs;
	er.n_agent_addresses = 2;
	n = mcpfleet__v1__enroll_response__get_packed_size(&er);
	assert_true(n <= sizeof(buf));
	mcpfleet__v1__enroll_response__pack(&er, buf);
	er2 = mcpfleet__v1__enroll_response__unpack(NULL, n, buf);
	assert_non_null(er2);
	assert_int_equal(er2->n_agent_addresses, 2);
	assert_string_equal(er2->agent_addresses[0], a0);
	assert_string_equal(er2->agent_addresses[1], a1);
	assert_int_equal(er2->agent_port, 7443);
	mcpfleet__v1__enroll_response__free_unpacked(er2, NULL);

	mcpfleet__v1__replicas__init(&rs);
	rs.agent_addresses = addrs;
	rs.n_agent_addresses = 2;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS;
	fr.replicas = &rs;
	n = mcpfleet__v1__server_frame__get_packed_size(&fr);
	assert_true(n <= sizeof(buf));
	mcpfleet__v1__server_frame__pack(&fr, buf);
	fr2 = mcpfleet__v1__server_frame__unpack(NULL, n, buf);
	assert_non_null(fr2);
	assert_int_equal(fr2->body_case,
	                 MCPFLEET__V1__SERVER_FRAME__BODY_REPLICAS);
	assert_int_equal(fr2->replicas->n_agent_addresses, 2);
	assert_string_equal(fr2->replicas->agent_addresses[1], a1);
	tu_ok(replicas_list_check(
	          (const char *const *)fr2->replicas->agent_addresses,
	          fr2->replicas->n_agent_addresses, "frame", &d),
	      &d);
	mcpfleet__v1__server_frame__free_unpacked(fr2, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replicas_addr_ok),
	    cmocka_unit_test(test_replicas_addr_bad),
	    cmocka_unit_test(test_replicas_format),
	    cmocka_unit_test(test_replicas_list_check),
	    cmocka_unit_test(test_replicas_spread_and_rotation),
	    cmocka_unit_test(test_replicas_proto_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
