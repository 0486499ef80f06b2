/* SPDX-License-Identifier: MIT */
/* Tests of the launcher, mcpfleet exec (client/exec.c, client/agentsock.c),
 * run for real against the agent of tests/agent_fixture.c and a stub MCP
 * server (tests/mcp_stub.c): sealed secrets, the tool filter, rate limits,
 * the calls audit, held records, revocation. */
#define _GNU_SOURCE /* memmem */
#include "agent_fixture.h"

/* ---- The launcher: mcpfleet exec against the running agent ---- */

/* One "mcpfleet exec NAME" process, as a host runs it. */
struct ta_exec {
	pid_t pid;
	int in;    /* its stdin */
	FILE *out; /* its stdout */
	char *err_path;
};

static void ta_exec_start(struct ta_box *b, const char *name, struct ta_exec *x)
{
	int in[2], out[2];
	char *err = tu_path(b->home, "exec.err");

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	x->pid = fork();
	assert_true(x->pid >= 0);
	if (x->pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(fd, 2);
		close(in[1]);
		close(out[0]);
		setenv("HOME", b->home, 1);
		unsetenv("MCPFLEET_HOME");
		setenv("TA_SECRET_VAR", "from-the-host", 1);
		execl(TA_MCPFLEET, TA_MCPFLEET, "exec", name, (char *)NULL);
		_exit(99);
	}
	close(in[0]);
	close(out[1]);
	x->in = in[1];
	x->out = fdopen(out[0], "r");
	x->err_path = err;
}

static void ta_exec_send(struct ta_exec *x, const char *line)
{
	size_t n = strlen(line);

	assert_int_equal(write(x->in, line, n), (ssize_t)n);
	assert_int_equal(write(x->in, "\n", 1), 1);
}

/* The next message from the launcher (a line, parsed), within 5 s. */
static json_t *ta_exec_recv(struct ta_exec *x)
{
	char line[1 << 16];
	struct pollfd p = {.fd = fileno(x->out), .events = POLLIN};
	json_t *j;

	assert_true(poll(&p, 1, 5000) == 1);
	assert_non_null(fgets(line, sizeof(line), x->out));
	j = json_loads(line, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The exit code, or -1 when it did not exit within ms. */
static int ta_exec_wait(struct ta_exec *x, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	int st;

	while (tu_now_ms() < deadline) {
		if (waitpid(x->pid, &st, WNOHANG) == x->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		tu_sleep_ms(5);
	}
	return -1;
}

static void ta_exec_end(struct ta_exec *x)
{
	if (x->in >= 0)
		close(x->in);
	x->in = -1;
	if (x->out != NULL)
		fclose(x->out);
	x->out = NULL;
	if (ta_exec_wait(x, 5000) < 0) {
		kill(x->pid, SIGKILL);
		(void)ta_exec_wait(x, 5000);
	}
	free(x->err_path);
	x->err_path = NULL;
}

/* The text of a tools/call answer, or its error code as text. */
static const char *ta_exec_call(struct ta_exec *x, int id, const char *tool,
                                const char *args, char *buf, size_t size)
{
	char line[512];
	json_t *j, *e;

	(void)snprintf(line, sizeof(line),
	               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
	               "\"tools/call\",\"params\":{\"name\":\"%s\","
	               "\"arguments\":%s}}",
	               id, tool, args);
	ta_exec_send(x, line);
	j = ta_exec_recv(x);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
	if ((e = json_object_get(j, "error")) != NULL)
		(void)snprintf(
		    buf, size, "error %lld",
		    (long long)json_integer_value(json_object_get(e, "code")));
	else
		(void)snprintf(
		    buf, size, "%s",
		    json_string_value(json_object_get(
		        json_array_get(
		            json_object_get(json_object_get(j, "result"),
		                            "content"),
		            0),
		        "text")));
	json_decref(j);
	return buf;
}

#define TA_EXEC_DOC                                                            \
	"{\"version\":1,\"servers\":{\"stub\":{\"command\":\"" TA_MCP_STUB     \
	"\",\"env\":{\"TOKEN\":\"Bearer ${secret:STUB_TOKEN}\",\"HOSTVAR\":"   \
	"\"${TA_SECRET_VAR}\"},\"tools\":{\"deny\":[\"delete_*\"]},"           \
	"\"tool_rates\":{\"echo\":\"2/hour\"}}}}"
/* The stub without secrets or limits. */
#define TA_EXEC_PLAIN                                                          \
	"{\"version\":1,\"servers\":{\"stub\":{\"command\":\"" TA_MCP_STUB     \
	"\"}}}"
#define TA_EXEC_EMPTY "{\"version\":1,\"servers\":{}}"
#define TA_STUB_TOKEN "s3cr3t-v4lue"

/* A catalogue envelope whose ${secret:STUB_TOKEN} is sealed for device. */
static uint8_t *ta_sealed_env(struct ta_fixture *f, const char *device,
                              uint64_t rev, const uint8_t *key, size_t *len)
{
	struct catalogue_opts co = {.allow_secret_refs = true};
	struct catalogue cat = {0};
	Mcpfleet__V1__Catalogue c;
	Mcpfleet__V1__Server m, *mp = &m;
	Mcpfleet__V1__SealedSecret ss, *ssp = &ss;
	uint8_t *sealed, *buf;
	size_t slen, plen;
	struct diag d;

	if (catalogue_parse(TA_EXEC_DOC, strlen(TA_EXEC_DOC), &co, &cat, &d) !=
	    0)
		fail_msg("catalogue: %s", d.msg);
	tu_ok(devsecret_seal(f->rng, key, device, "STUB_TOKEN", 3,
	                     TA_STUB_TOKEN, strlen(TA_STUB_TOKEN), &sealed,
	                     &slen, &d),
	      &d);
	mcpfleet__v1__sealed_secret__init(&ss);
	ss.name = (char *)(uintptr_t) "STUB_TOKEN";
	ss.version = 3;
	ss.sealed.data = sealed;
	ss.sealed.len = slen;
	assert_int_equal(envelope_server_message(&cat.servers[0], &m), 0);
	mcpfleet__v1__catalogue__init(&c);
	c.n_secrets = 1;
	c.secrets = &ssp;
	c.user = (char *)(uintptr_t)TA_USER;
	c.device_id = (char *)(uintptr_t)device;
	c.revision = rev;
	c.issued_at = (int64_t)time(NULL);
	c.n_servers = 1;
	c.servers = &mp;
	plen = mcpfleet__v1__catalogue__get_packed_size(&c);
	buf = malloc(plen + 1);
	assert_non_null(buf);
	mcpfleet__v1__catalogue__pack(&c, buf);
	envelope_server_clear(&m);
	catalogue_clear(&cat);
	free(sealed);
	return ta_sign(f, f->signer, ENVELOPE_CATALOGUE, buf, plen, rev, len);
}

static void ta_push_key(struct ta_fixture *f, const uint8_t *key)
{
	Mcpfleet__V1__ServerFrame fr;
	Mcpfleet__V1__DeviceKey k;
	char id[CRYPTO_HEX_LEN + 1];
	uint8_t *buf;
	size_t n;

	assert_int_equal(devsecret_key_id(key, id), 0);
	mcpfleet__v1__device_key__init(&k);
	k.key.data = (uint8_t *)(uintptr_t)key;
	k.key.len = DEVSECRET_KEY_LEN;
	k.key_id = id;
	mcpfleet__v1__server_frame__init(&fr);
	fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_DEVICE_KEY;
	fr.device_key = &k;
	n = mcpfleet__v1__server_frame__get_packed_size(&fr);
	buf = malloc(n);
	assert_non_null(buf);
	mcpfleet__v1__server_frame__pack(&fr, buf);
	ta_push(f, buf, n);
}

/* True when no file under dir holds needle. */
static bool ta_tree_lacks(const char *dir, const char *needle)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	bool ok = true;

	if (dp == NULL)
		return true;
	while (ok && (de = readdir(dp)) != NULL) {
		char *p;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = tu_path(dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			ok = ta_tree_lacks(p, needle);
		else if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			size_t n;
			char *text = tu_read(p, &n);

			ok = memmem(text, n, needle, strlen(needle)) == NULL;
			if (!ok)
				fprintf(stderr, "found in %s\n", p);
			free(text);
		}
		free(p);
	}
	closedir(dp);
	return ok;
}

/*
 * An enrolled, running agent that has applied revision 1 of the stub: with
 * key, the catalogue whose ${secret:STUB_TOKEN} is sealed under it (the key
 * sent first, as the hub does); without, TA_EXEC_PLAIN.
 */
static void ta_exec_fleet(struct ta_fixture *f, struct ta_box *b,
                          uint8_t key[DEVSECRET_KEY_LEN])
{
	uint8_t *env;
	size_t len;

	ta_enroll_ok(f, b);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	if (key != NULL) {
		assert_int_equal(crypto_random(f->rng, key, DEVSECRET_KEY_LEN),
		                 0);
		ta_push_key(f, key);
		env = ta_sealed_env(f, b->device_id, 1, key, &len);
	} else {
		env = ta_catalogue_env(f, b->device_id, 1, TA_EXEC_PLAIN, &len);
	}
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
}

/* The MCP handshake's first step, answered with a result. */
static void ta_exec_initialize(struct ta_exec *x)
{
	json_t *j;

	ta_exec_send(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                "\"initialize\",\"params\":{}}");
	j = ta_exec_recv(x);
	assert_non_null(json_object_get(j, "result"));
	json_decref(j);
}

static bool ta_calls_at_least(struct ta_fixture *f, size_t n)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;
	size_t have;

	do {
		pthread_mutex_lock(&f->core.mu);
		have = f->core.ncalls;
		pthread_mutex_unlock(&f->core.mu);
		if (have >= n)
			return true;
		tu_sleep_ms(10);
	} while (tu_now_ms() < deadline);
	return false;
}

/*
 * The whole launcher on one workstation: a sealed secret reaches the real
 * server and no file, the policy and the rate limit hold, the calls reach
 * the server exactly once, and a revision without the server ends the live
 * session within a second.
 */
static void test_exec_session(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t key[DEVSECRET_KEY_LEN], *env;
	struct ta_exec x;
	char buf[256];
	json_t *j, *tools;
	size_t len, i;
	int64_t t0;
	int code;

	ta_exec_fleet(f, b, key);

	ta_exec_start(b, "stub", &x);
	ta_exec_initialize(&x);
	/* A launcher of a stdio server never maps the network libraries
	 * (common/netclient.c loads them on first use). */
	{
		char path[64], *maps;
		size_t n;

		(void)snprintf(path, sizeof(path), "/proc/%d/maps", (int)x.pid);
		maps = tu_read(path, &n);
		assert_non_null(strstr(maps, "libc.so"));
		assert_null(strstr(maps, "libwebsockets"));
		assert_null(strstr(maps, "libcrypto.so"));
		assert_null(strstr(maps, "libcurl"));
		free(maps);
	}
	ta_exec_send(&x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
	                 "\"tools/list\"}");
	j = ta_exec_recv(&x);
	tools = json_object_get(json_object_get(j, "result"), "tools");
	assert_int_equal(json_array_size(tools), 4);
	for (i = 0; i < json_array_size(tools); i++)
		assert_string_not_equal(json_string_value(json_object_get(
		                            json_array_get(tools, i), "name")),
		                        "delete_repo");
	json_decref(j);
	/* The secret, opened by the agent, and the host's own variable. */
	assert_string_equal(ta_exec_call(&x, 3, "env", "{\"name\":\"TOKEN\"}",
	                                 buf, sizeof(buf)),
	                    "Bearer " TA_STUB_TOKEN);
	assert_string_equal(ta_exec_call(&x, 4, "env", "{\"name\":\"HOSTVAR\"}",
	                                 buf, sizeof(buf)),
	                    "from-the-host");
	assert_string_equal(
	    ta_exec_call(&x, 5, "delete_repo", "{}", buf, sizeof(buf)),
	    "error -32001");
	assert_string_equal(
	    ta_exec_call(&x, 6, "echo", "{\"text\":\"a\"}", buf, sizeof(buf)),
	    "a");
	assert_string_equal(
	    ta_exec_call(&x, 7, "echo", "{\"text\":\"b\"}", buf, sizeof(buf)),
	    "b");
	assert_string_equal(
	    ta_exec_call(&x, 8, "echo", "{\"text\":\"c\"}", buf, sizeof(buf)),
	    "error -32029");
	/* Six records, each once, with their outcomes. */
	assert_true(ta_calls_at_least(f, 6));
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 6);
	assert_string_equal(f->core.call_name[2], "delete_repo");
	assert_int_equal(f->core.call_outcome[2],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_DENIED);
	assert_int_equal(f->core.call_outcome[3],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_OK);
	assert_int_equal(f->core.call_outcome[5],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_RATE_LIMITED);
	pthread_mutex_unlock(&f->core.mu);
	/* No file of the workstation holds the secret's value. */
	assert_true(ta_tree_lacks(b->home, TA_STUB_TOKEN));

	/* A revision without the server ends the session within 1 s. */
	env = ta_catalogue_env(f, b->device_id, 2, TA_EXEC_EMPTY, &len);
	t0 = tu_now_ms();
	ta_push_env(f, env, len);
	code = ta_exec_wait(&x, 1000);
	assert_int_equal(code, EXEC_EXIT_UNKNOWN);
	assert_true(tu_now_ms() - t0 <= 1000);
	ta_exec_end(&x);
	/* And a new launcher refuses, saying why. */
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_UNKNOWN);
	{
		size_t n;
		char *p = tu_path(b->home, "exec.err"), *err = tu_read(p, &n);

		assert_non_null(strstr(err, "is not in the fleet catalogue"));
		free(err);
		free(p);
	}
	ta_exec_end(&x);
}

#define TA_EXEC_DENY_ECHO                                                      \
	"{\"version\":1,\"servers\":{\"stub\":{\"command\":\"" TA_MCP_STUB     \
	"\",\"tools\":{\"deny\":[\"ec*\"]},\"rate\":\"1/hour\"}}}"

/* The number of tools a tools/list answer holds, and whether it has one. */
static size_t ta_exec_tools(struct ta_exec *x, int id, const char *name,
                            bool *has)
{
	char req[128];
	json_t *j, *tools;
	size_t i, n;

	(void)snprintf(req, sizeof(req),
	               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
	               "\"tools/list\"}",
	               id);
	ta_exec_send(x, req);
	j = ta_exec_recv(x);
	tools = json_object_get(json_object_get(j, "result"), "tools");
	n = json_array_size(tools);
	*has = false;
	for (i = 0; i < n; i++)
		*has |= strcmp(json_string_value(json_object_get(
		                   json_array_get(tools, i), "name")),
		               name) == 0;
	json_decref(j);
	return n;
}

/*
 * A revision that changes a live server's tool policy reaches the running
 * session: the host is told its tool list changed, the newly denied tool
 * is gone and refused, and the new rate limit holds, without a restart.
 */
static void test_exec_live_policy(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_exec x;
	char buf[64];
	uint8_t *env;
	json_t *j;
	size_t len;
	bool has;

	ta_exec_fleet(f, b, NULL);

	ta_exec_start(b, "stub", &x);
	ta_exec_initialize(&x);
	assert_int_equal(ta_exec_tools(&x, 2, "echo", &has), 5);
	assert_true(has);
	assert_string_equal(
	    ta_exec_call(&x, 3, "echo", "{\"text\":\"a\"}", buf, sizeof(buf)),
	    "a");

	env = ta_catalogue_env(f, b->device_id, 2, TA_EXEC_DENY_ECHO, &len);
	ta_push_env(f, env, len);
	j = ta_exec_recv(&x);
	assert_string_equal(json_string_value(json_object_get(j, "method")),
	                    "notifications/tools/list_changed");
	json_decref(j);
	assert_int_equal(ta_exec_tools(&x, 4, "echo", &has), 4);
	assert_false(has);
	assert_string_equal(
	    ta_exec_call(&x, 5, "echo", "{\"text\":\"b\"}", buf, sizeof(buf)),
	    "error -32001");
	/* 1/hour, asked of the agent from now on. */
	assert_string_equal(
	    ta_exec_call(&x, 6, "env", "{\"name\":\"X\"}", buf, sizeof(buf)),
	    "(unset)");
	assert_string_equal(
	    ta_exec_call(&x, 7, "env", "{\"name\":\"X\"}", buf, sizeof(buf)),
	    "error -32029");
	ta_exec_end(&x);
}

/* Revocation: the live session ends within 1 s, and no launcher starts
 * again; with the agent stopped, a server with secrets is refused. */
static void test_exec_revoked(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t key[DEVSECRET_KEY_LEN], *env, *payload;
	struct ta_exec x;
	size_t len, plen;
	int64_t t0;

	ta_exec_fleet(f, b, key);

	/* The agent stopped: a server whose secrets it holds is refused. */
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_NO_AGENT);
	ta_exec_end(&x);

	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 2));
	ta_exec_start(b, "stub", &x);
	ta_exec_initialize(&x);
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	t0 = tu_now_ms();
	ta_push_env(f, env, len);
	assert_int_equal(ta_exec_wait(&x, 1000), EXEC_EXIT_REVOKED);
	assert_true(tu_now_ms() - t0 <= 1000);
	ta_exec_end(&x);
	assert_int_equal(ta_agent_join(b), EXIT_REVOKED);
	ta_exec_start(b, "stub", &x);
	assert_int_equal(ta_exec_wait(&x, 5000), EXEC_EXIT_REVOKED);
	ta_exec_end(&x);
	/* The data key went with the enrollment. */
	{
		char *p = tu_path(b->mfhome, ENROLLMENT_DATAKEY);

		assert_false(fileio_exists(p));
		free(p);
	}
}

/*
 * A server without secrets runs with the agent stopped (from the verified
 * catalogue.pb); its calls are held, and reach the server once the agent
 * runs again, once each.
 */
static void test_exec_held_calls(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_exec x;
	char buf[64];

	ta_exec_fleet(f, b, NULL);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);

	ta_exec_start(b, "stub", &x);
	ta_exec_initialize(&x);
	assert_string_equal(
	    ta_exec_call(&x, 2, "echo", "{\"text\":\"a\"}", buf, sizeof(buf)),
	    "a");
	assert_string_equal(
	    ta_exec_call(&x, 3, "echo", "{\"text\":\"b\"}", buf, sizeof(buf)),
	    "b");
	ta_exec_end(&x);
	{
		char *p = tu_path(b->mfhome, SPOOL_HELD_FILE);

		assert_true(fileio_exists(p));
		free(p);
	}
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 0);
	pthread_mutex_unlock(&f->core.mu);

	ta_agent_start(b);
	assert_true(ta_calls_at_least(f, 2));
	tu_sleep_ms(300); /* nothing more comes */
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.ncalls, 2);
	assert_string_equal(f->core.call_name[0], "echo");
	assert_int_equal(f->core.call_outcome[1],
	                 MCPFLEET__V1__CALL_OUTCOME__CALL_OK);
	pthread_mutex_unlock(&f->core.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_session, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_held_calls, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_live_policy, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_revoked, ta_setup,
	                                    ta_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, ta_group_setup, ta_group_teardown);
}
