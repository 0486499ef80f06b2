/* SPDX-License-Identifier: MIT */
/* Tests of mcpfleetctl (server/ctl/ctl.c): durations and times, the requests
 * that arguments become, exit codes, and real commands against a fake API
 * served by server/net.c on loopback. */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, ptsname */
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "crypto.h"
#include "ctl.h"
#include "net.h"
#include "netclient.h"

#define TC_NOW   1717200000 /* 2024-06-01T00:00:00Z */
#define TC_TOKEN "t0ken-admin-secret"
#define TC_ARGS  32

/* ---- Arguments and captured output ---- */

struct tc_argv {
	int argc;
	char *argv[TC_ARGS];
};

/* Splits a command line at single spaces. */
static void tc_split(struct tc_argv *a, const char *line)
{
	const char *p = line;
	size_t n;

	a->argc = 0;
	while (*p != '\0') {
		assert_true(a->argc < TC_ARGS);
		n = strcspn(p, " ");
		a->argv[a->argc] = strndup(p, n);
		assert_non_null(a->argv[a->argc]);
		a->argc++;
		p += n + (p[n] == ' ');
	}
}

static void tc_argv_free(struct tc_argv *a)
{
	int i;

	for (i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

/* What one run printed. */
struct tc_out {
	char *out;
	char *err;
	size_t outlen, errlen;
	FILE *fout, *ferr, *fin;
};

/* Opens the streams of a run; in is the standard input text (NULL: empty). */
static void tc_open(struct tc_out *o, struct ctl_io *io, const char *in)
{
	memset(o, 0, sizeof(*o));
	o->fout = open_memstream(&o->out, &o->outlen);
	o->ferr = open_memstream(&o->err, &o->errlen);
	o->fin = in != NULL && *in != '\0'
	             ? fmemopen((void *)(uintptr_t)in, strlen(in), "r")
	             : fopen("/dev/null", "r");
	assert_non_null(o->fout);
	assert_non_null(o->ferr);
	assert_non_null(o->fin);
	io->out = o->fout;
	io->err = o->ferr;
	io->in = o->fin;
}

static void tc_close(struct tc_out *o)
{
	fclose(o->fout);
	fclose(o->ferr);
	fclose(o->fin);
}

static void tc_out_free(struct tc_out *o)
{
	free(o->out);
	free(o->err);
}

/* An io with no connection settings. */
static struct ctl_io tc_io_bare(void)
{
	struct ctl_io io = {.now = TC_NOW};

	return io;
}

/* Builds the request of a command line. */
static int tc_build(const char *line, const char *in, struct ctl_request *req,
                    struct tc_out *o)
{
	struct ctl_io io = tc_io_bare();
	struct tc_argv a;
	int code;

	tc_split(&a, line);
	tc_open(o, &io, in);
	code = ctl_build_request(&io, a.argc, a.argv, req);
	tc_close(o);
	tc_argv_free(&a);
	return code;
}

/* Asserts that a command line builds method, path and body (JSON text,
 * or NULL for none). */
static void tc_expect(const char *line, const char *in, const char *method,
                      const char *path, const char *body)
{
	struct ctl_request req;
	struct tc_out o;
	json_t *want;
	int code;

	code = tc_build(line, in, &req, &o);
	if (code != CTL_EXIT_OK)
		fail_msg("'%s': exit %d: %s", line, code, o.err);
	assert_string_equal(req.method, method);
	assert_string_equal(req.path, path);
	if (body == NULL) {
		assert_null(req.body);
	} else {
		want = json_loads(body, 0, NULL);
		assert_non_null(want);
		if (!json_equal(want, req.body)) {
			char *got = json_dumps(req.body, JSON_COMPACT);

			fail_msg("'%s': body %s, want %s", line, got, body);
		}
		json_decref(want);
	}
	ctl_request_clear(&req);
	tc_out_free(&o);
}

/* ---- Pure parts ---- */

static void test_ctl_duration_parse(void **state)
{
	static const struct {
		const char *s;
		int64_t secs;
	} good[] = {
	    {"90s", 90}, {"30m", 1800},   {"24h", 86400},  {"7d", 604800},
	    {"45", 45},  {"1h30m", 5400}, {"2w", 1209600}, {"1d12h", 129600},
	};
	static const char *const bad[] = {
	    "",     "h",    "0s",  "0",   "-1h", "1x",
	    "1h30", "1.5h", " 1h", "1h ", "24H", "99999999999999999999d",
	};
	size_t i;
	int64_t v;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		assert_int_equal(ctl_duration_parse(good[i].s, &v), 0);
		assert_int_equal(v, good[i].secs);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -1;
		if (ctl_duration_parse(bad[i], &v) != -ERR_INVALID)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, -1);
	}
}

static void test_ctl_since_parse(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(ctl_since_parse("1700000000", TC_NOW, &t), 0);
	assert_int_equal(t, 1700000000);
	assert_int_equal(ctl_since_parse("1h", TC_NOW, &t), 0);
	assert_int_equal(t, TC_NOW - 3600);
	assert_int_equal(ctl_since_parse("7d", TC_NOW, &t), 0);
	assert_int_equal(t, TC_NOW - 7 * 86400);
	assert_int_equal(ctl_since_parse("2024-06-01", 0, &t), 0);
	assert_int_equal(t, 1717200000);
	assert_int_equal(ctl_since_parse("2024-06-01T01:02:03Z", 0, &t), 0);
	assert_int_equal(t, 1717200000 + 3723);
	/* Further back than 1970 is 0. */
	assert_int_equal(ctl_since_parse("1h", 60, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(ctl_since_parse("2024-02-30", 0, &t), -ERR_INVALID);
	assert_int_equal(ctl_since_parse("2024-6-1", 0, &t), -ERR_INVALID);
	assert_int_equal(ctl_since_parse("yesterday", 0, &t), -ERR_INVALID);
	assert_int_equal(ctl_since_parse("", 0, &t), -ERR_INVALID);
}

static void test_ctl_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 200), CTL_EXIT_OK);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 201), CTL_EXIT_OK);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 400), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 401), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 404), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 409), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 413), CTL_EXIT_REFUSED);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 500), CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 503), CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_OK, 302), CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_CONNECT, 0),
	                 CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_TLS, 0), CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_PIN, 0), CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_TIMEOUT, 0),
	                 CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_PROTOCOL, 0),
	                 CTL_EXIT_SERVER);
	assert_int_equal(ctl_exit_for(NETCLIENT_FAIL_USAGE, 0), CTL_EXIT_USAGE);
}

static void test_ctl_build_grant_add(void **state)
{
	(void)state;
	tc_expect("grant add gh --team dev --tools-deny a,b", NULL, "POST",
	          "/api/v1/grants",
	          "{\"server\": \"gh\", \"team\": \"dev\", "
	          "\"tools_deny\": [\"a\", \"b\"]}");
	tc_expect("grant add gh --everyone --tools-allow=x,,y,", NULL, "POST",
	          "/api/v1/grants",
	          "{\"server\": \"gh\", \"everyone\": true, "
	          "\"tools_allow\": [\"x\", \"y\"]}");
	/* Rates in their canonical spelling; --tool-rate repeats. */
	tc_expect("grant add gh --user bob --rate 120/2min --tool-rate "
	          "delete_*=5/hours,push=1/s --tool-rate admin=3/day",
	          NULL, "POST", "/api/v1/grants",
	          "{\"server\": \"gh\", \"user\": \"bob\", "
	          "\"rate\": \"120/2min\", \"tool_rates\": {\"delete_*\": "
	          "\"5/hour\", \"push\": \"1/s\", \"admin\": \"3/day\"}}");
	/* Global options may follow the command. */
	tc_expect("grant add gh --json --user alice --timeout 5", NULL, "POST",
	          "/api/v1/grants",
	          "{\"server\": \"gh\", \"user\": \"alice\"}");
}

static void test_ctl_build_requests(void **state)
{
	(void)state;
	tc_expect("user add alice --email a@x.org", NULL, "POST",
	          "/api/v1/users",
	          "{\"name\": \"alice\", \"email\": \"a@x.org\"}");
	tc_expect("user list", NULL, "GET", "/api/v1/users", NULL);
	tc_expect("user show alice", NULL, "GET", "/api/v1/users/alice", NULL);
	tc_expect("user remove alice", NULL, "DELETE", "/api/v1/users/alice",
	          NULL);
	tc_expect("user offboard alice", NULL, "POST",
	          "/api/v1/users/alice/offboard", "{}");
	tc_expect("user offboard alice --reason left", NULL, "POST",
	          "/api/v1/users/alice/offboard", "{\"reason\": \"left\"}");
	tc_expect("user offboarding alice", NULL, "GET",
	          "/api/v1/users/alice/offboarding", NULL);
	tc_expect("team add dev", NULL, "POST", "/api/v1/teams",
	          "{\"name\": \"dev\"}");
	tc_expect("team member add dev alice", NULL, "POST",
	          "/api/v1/teams/dev/members", "{\"user\": \"alice\"}");
	tc_expect("team member remove dev alice", NULL, "DELETE",
	          "/api/v1/teams/dev/members/alice", NULL);
	tc_expect("team remove dev", NULL, "DELETE", "/api/v1/teams/dev", NULL);
	/* The command's own --server wins over the global one. */
	tc_expect("grant list --server gh", NULL, "GET",
	          "/api/v1/grants?server=gh", NULL);
	tc_expect("grant remove 4", NULL, "DELETE", "/api/v1/grants/4", NULL);
	tc_expect("token create --user alice --ttl 24h", NULL, "POST",
	          "/api/v1/tokens", "{\"user\": \"alice\", \"ttl\": 86400}");
	tc_expect("token create --uses 3 --user=bob --ttl=90s", NULL, "POST",
	          "/api/v1/tokens",
	          "{\"user\": \"bob\", \"ttl\": 90, \"uses\": 3}");
	tc_expect("token revoke 5", NULL, "DELETE", "/api/v1/tokens/5", NULL);
	tc_expect("device list --user alice", NULL, "GET",
	          "/api/v1/devices?user=alice", NULL);
	tc_expect("device revoke dev-1 --reason lost", NULL, "POST",
	          "/api/v1/devices/dev-1/revoke", "{\"reason\": \"lost\"}");
	tc_expect("audit list --since 1h --limit 5", NULL, "GET",
	          "/api/v1/audit?since=1717196400&limit=5", NULL);
	tc_expect("audit list --action user. --actor ci --order newest "
	          "--before 90 --until 1h",
	          NULL, "GET",
	          "/api/v1/audit?until=1717196400&action=user.&actor=ci&"
	          "order=newest&before=90",
	          NULL);
	tc_expect("calls list --tool search --order oldest --after 7 "
	          "--limit 50",
	          NULL, "GET",
	          "/api/v1/calls?tool=search&order=oldest&after=7&limit=50",
	          NULL);
	tc_expect("audit verify", NULL, "GET", "/api/v1/audit/verify", NULL);
	tc_expect("status", NULL, "GET", "/api/v1/status", NULL);
	tc_expect("admin-token create ci", NULL, "POST", "/api/v1/admin-tokens",
	          "{\"name\": \"ci\"}");
	tc_expect("admin-token create hd --role helpdesk", NULL, "POST",
	          "/api/v1/admin-tokens",
	          "{\"name\": \"hd\", \"role\": \"helpdesk\"}");
	tc_expect("admin-token create --role=auditor audit", NULL, "POST",
	          "/api/v1/admin-tokens",
	          "{\"name\": \"audit\", \"role\": \"auditor\"}");
	tc_expect("admin-token revoke 2", NULL, "DELETE",
	          "/api/v1/admin-tokens/2", NULL);
	tc_expect("secret list", NULL, "GET", "/api/v1/secrets", NULL);
	tc_expect("secret remove GH_TOKEN --team dev", NULL, "DELETE",
	          "/api/v1/secrets/GH_TOKEN?team=dev", NULL);
	/* Arguments are percent-encoded into the path and the query. */
	tc_expect("user show a+b%c", NULL, "GET", "/api/v1/users/a%2Bb%25c",
	          NULL);
	tc_expect("device list --user=x&y=z", NULL, "GET",
	          "/api/v1/devices?user=x%26y%3Dz", NULL);
}

static void test_ctl_build_server_entry(void **state)
{
	(void)state;
	tc_expect("server add fs --command npx --arg -y --arg --json --env "
	          "LOG=debug",
	          NULL, "POST", "/api/v1/servers",
	          "{\"name\": \"fs\", \"entry\": {\"command\": \"npx\", "
	          "\"args\": [\"-y\", \"--json\"], \"env\": {\"LOG\": "
	          "\"debug\"}}}");
	/* A last bare --json is the output switch. */
	tc_expect("server add gh --url https://x/mcp --tools-deny d --json",
	          NULL, "POST", "/api/v1/servers",
	          "{\"name\": \"gh\", \"entry\": {\"url\": \"https://x/mcp\", "
	          "\"tools\": {\"deny\": [\"d\"]}}}");
	tc_expect(
	    "server set gh --json={\"url\":\"https://y\",\"type\":\"sse\"}",
	    NULL, "PUT", "/api/v1/servers/gh",
	    "{\"entry\": {\"url\": \"https://y\", \"type\": \"sse\"}}");
}

static void test_ctl_build_secret_value(void **state)
{
	(void)state;
	tc_expect("secret set GH_TOKEN --user alice", "s3cret\n", "PUT",
	          "/api/v1/secrets/GH_TOKEN",
	          "{\"user\": \"alice\", \"value\": \"s3cret\"}");
	/* Exactly one trailing newline goes; a file's content stays. */
	tc_expect("secret set K", "a\nb\n\n", "PUT", "/api/v1/secrets/K",
	          "{\"value\": \"a\\nb\\n\"}");
	tc_expect("secret set K --team dev", "no newline", "PUT",
	          "/api/v1/secrets/K",
	          "{\"team\": \"dev\", \"value\": \"no newline\"}");
}

/* Types into the terminal once its echo is off. */
struct tc_typist {
	int master, slave;
	bool saw_quiet;
};

static void *tc_typist_run(void *p)
{
	struct tc_typist *t = p;
	struct termios tio;
	int i;

	for (i = 0; i < 5000; i++) {
		if (tcgetattr(t->slave, &tio) == 0 && !(tio.c_lflag & ECHO)) {
			t->saw_quiet = true;
			break;
		}
		usleep(1000);
	}
	/* Typed anyway, so that the read ends even when the test fails. */
	assert_true(write(t->master, "pass word\n", 10) == 10);
	return NULL;
}

static void test_ctl_secret_from_terminal(void **state)
{
	struct tc_typist t = {0};
	struct ctl_io io = tc_io_bare();
	struct ctl_request req;
	struct termios tio;
	struct pollfd pfd;
	struct tc_argv a;
	char *err = NULL, echoed[256];
	size_t errlen = 0;
	ssize_t n = 0;
	pthread_t th;
	FILE *in;
	int code;

	(void)state;
	t.master = posix_openpt(O_RDWR | O_NOCTTY);
	if (t.master < 0 || grantpt(t.master) != 0 || unlockpt(t.master) != 0) {
		fprintf(stderr, "no pseudo-terminal here: skipped\n");
		skip();
	}
	t.slave = open(ptsname(t.master), O_RDWR | O_NOCTTY);
	assert_true(t.slave >= 0);
	assert_int_equal(tcgetattr(t.slave, &tio), 0);
	assert_true(tio.c_lflag & ECHO);
	in = fdopen(t.slave, "r");
	assert_non_null(in);
	io.in = in;
	io.out = stdout;
	io.err = open_memstream(&err, &errlen);
	assert_non_null(io.err);

	tc_split(&a, "secret set GH_TOKEN");
	assert_int_equal(pthread_create(&th, NULL, tc_typist_run, &t), 0);
	code = ctl_build_request(&io, a.argc, a.argv, &req);
	pthread_join(th, NULL);
	fclose(io.err);
	assert_int_equal(code, CTL_EXIT_OK);
	assert_true(t.saw_quiet);
	assert_string_equal(
	    json_string_value(json_object_get(req.body, "value")), "pass word");
	/* The prompt went to the error stream, the value nowhere. */
	assert_string_equal(err, "value of secret GH_TOKEN (not echoed): \n");
	pfd.fd = t.master;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 50) == 1)
		n = read(t.master, echoed, sizeof(echoed) - 1);
	echoed[n > 0 ? n : 0] = '\0';
	assert_null(strstr(echoed, "pass"));
	/* Echo is back. */
	assert_int_equal(tcgetattr(t.slave, &tio), 0);
	assert_true(tio.c_lflag & ECHO);

	ctl_request_clear(&req);
	tc_argv_free(&a);
	free(err);
	fclose(in);
	close(t.master);
}

/* audit checkpoint is a GET; audit verify --checkpoint FILE checks the
 * file's signature before it sends it as a POST, and names the file. */
static void test_ctl_audit_checkpoint(void **state)
{
	struct crypto_rng *rng = NULL;
	struct crypto_key *key = NULL;
	struct checkpoint cp;
	struct ctl_request req;
	struct tc_out o;
	struct diag d;
	char *dir, *good, *bad, *pem = NULL, *text, line[512];
	json_t *doc;

	(void)state;
	tc_expect("audit checkpoint", NULL, "GET", "/api/v1/audit/checkpoint",
	          NULL);
	diag_clear(&d);
	assert_int_equal(crypto_rng_new("test_ctl", &rng, &d), 0);
	assert_int_equal(crypto_key_generate(rng, &key, &d), 0);
	assert_int_equal(crypto_key_write_public(key, &pem, NULL, &d), 0);
	memset(&cp, 0, sizeof(cp));
	cp.rows = cp.last_id = 3;
	memset(cp.head_hash, 'a', CRYPTO_HEX_LEN);
	cp.keyed_from = 1;
	cp.at = TC_NOW;
	assert_int_equal(checkpoint_sign(&cp, key, pem, rng, &d), 0);
	doc = checkpoint_json(&cp);
	assert_non_null(doc);
	dir = tu_mkdtemp();
	good = tu_path(dir, "cp.json");
	text = json_dumps(doc, JSON_INDENT(2));
	tu_write(good, text, strlen(text));
	free(text);

	(void)snprintf(line, sizeof(line), "audit verify --checkpoint %s",
	               good);
	assert_int_equal(tc_build(line, NULL, &req, &o), CTL_EXIT_OK);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/api/v1/audit/verify");
	assert_true(json_equal(json_object_get(req.body, "checkpoint"), doc));
	assert_int_equal(json_object_size(req.body), 1);
	ctl_request_clear(&req);
	tc_out_free(&o);

	/* Altered: refused here (exit 1), naming the file. */
	bad = tu_path(dir, "bad.json");
	json_object_set_new(doc, "rows", json_integer(2));
	json_object_set_new(doc, "last_id", json_integer(2));
	text = json_dumps(doc, 0);
	tu_write(bad, text, strlen(text));
	free(text);
	(void)snprintf(line, sizeof(line), "audit verify --checkpoint %s", bad);
	assert_int_equal(tc_build(line, NULL, &req, &o), CTL_EXIT_REFUSED);
	assert_non_null(strstr(o.err, "bad.json: checkpoint: bad signature"));
	tc_out_free(&o);
	/* Not JSON, not a checkpoint, not there: usage errors. */
	tu_write(bad, "{\"rows\": ", 9);
	assert_int_equal(tc_build(line, NULL, &req, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "bad.json:1: not a checkpoint"));
	tc_out_free(&o);
	tu_write(bad, "{\"rows\": 1}", 11);
	assert_int_equal(tc_build(line, NULL, &req, &o), CTL_EXIT_USAGE);
	assert_non_null(
	    strstr(o.err, "bad.json: checkpoint: 'format' is missing"));
	tc_out_free(&o);
	assert_int_equal(unlink(bad), 0);
	assert_int_equal(tc_build(line, NULL, &req, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "bad.json: no such file"));
	tc_out_free(&o);

	json_decref(doc);
	checkpoint_clear(&cp);
	crypto_key_free(key);
	crypto_rng_free(rng);
	free(pem);
	(void)unlink(good);
	tu_rmtree(dir);
	free(dir);
	free(good);
	free(bad);
}

static void test_ctl_usage_errors(void **state)
{
	static const struct {
		const char *line;
		const char *in;
		const char *msg;
	} cases[] = {
	    {"", NULL, "mcpfleetctl: no command given"},
	    {"frobnicate", NULL, "mcpfleetctl: unknown command 'frobnicate'"},
	    {"user", NULL, "mcpfleetctl: user: which command?"},
	    {"user frob", NULL, "mcpfleetctl: user frob: no such command"},
	    {"--bogus user list", NULL, "unknown option '--bogus'"},
	    {"user add", NULL, "mcpfleetctl: user add: missing NAME"},
	    {"user add a b", NULL, "user add: unexpected argument 'b'"},
	    {"user add a --bogus", NULL, "user add: unknown option '--bogus'"},
	    {"user add a --email", NULL, "--email needs a value (E)"},
	    {"user add a --email x --email y", NULL, "--email given twice"},
	    {"user remove ..", NULL, "user remove: NAME '..' is not a valid"},
	    {"team member add dev", NULL, "team member add: missing USER"},
	    {"team member remove dev a/b", NULL, "USER 'a/b' is not a valid"},
	    {"grant add gh", NULL,
	     "mcpfleetctl: grant add: give exactly one of --everyone, --team T "
	     "or --user U"},
	    {"grant add gh --team a --user b", NULL,
	     "grant add: give only one of --everyone, --team T or --user U"},
	    {"grant add gh --everyone=yes", NULL, "--everyone takes no value"},
	    {"grant add gh --everyone --tools-deny ,", NULL,
	     "--tools-deny ',': expected a comma-separated list"},
	    {"grant add gh --everyone --rate 5/fortnight", NULL,
	     "grant add: --rate: '5/fortnight' is not a rate (write it as "
	     "COUNT/PERIOD"},
	    {"grant add gh --everyone --tool-rate push", NULL,
	     "grant add: --tool-rate: 'push': write it as GLOB=RATE"},
	    {"grant add gh --everyone --tool-rate ,", NULL,
	     "--tool-rate ',': expected GLOB=RATE such as delete_*=5/hour"},
	    {"grant add gh --everyone --rate 1/s --rate 2/s", NULL,
	     "--rate given twice"},
	    {"secret remove K --team a --user b", NULL,
	     "secret remove: give only one of --team T or --user U"},
	    {"token create", NULL,
	     "mcpfleetctl: token create: --user is "
	     "required"},
	    {"token create --user a --ttl 3x", NULL,
	     "--ttl '3x': expected a duration such as 90s, 30m, 24h or 7d"},
	    {"token create --user a --uses 0", NULL,
	     "--uses '0': expected a positive whole number"},
	    {"audit list --since soon", NULL,
	     "--since 'soon': expected Unix "
	     "seconds"},
	    {"user list --timeout 0", NULL, "--timeout '0': expected seconds"},
	    {"server add gh", NULL, "server add: give --command CMD or --url"},
	    {"server add gh --url x --bogus 1", NULL,
	     "server add: unknown option '--bogus'"},
	    {"server set gh --json", NULL,
	     "server set: give --command CMD or --url"},
	    {"secret set K", NULL, "secret set: the value is empty"},
	    {"secret set K", "\n", "secret set: the value is empty"},
	};
	struct ctl_request req;
	struct tc_out o;
	size_t i;
	int code;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		code = tc_build(cases[i].line, cases[i].in, &req, &o);
		if (code != CTL_EXIT_USAGE ||
		    strstr(o.err, cases[i].msg) == NULL)
			fail_msg("'%s': exit %d, said '%s', want '%s'",
			         cases[i].line, code, o.err, cases[i].msg);
		/* The message comes with a usage line, and nothing else is
		 * printed. */
		assert_non_null(strstr(o.err, "usage"));
		assert_int_equal(o.outlen, 0);
		assert_null(req.method);
		tc_out_free(&o);
	}
}

static void test_ctl_help(void **state)
{
	struct ctl_request req;
	struct tc_out o;

	(void)state;
	assert_int_equal(tc_build("--help", NULL, &req, &o), CTL_EXIT_OK);
	assert_null(req.method);
	assert_non_null(strstr(o.out, "usage: mcpfleetctl [OPTIONS] COMMAND"));
	assert_non_null(strstr(o.out, "  grant add SERVER (--everyone | --team "
	                              "T | --user U)"));
	assert_non_null(strstr(o.out, "  token create --user U [--ttl "
	                              "DURATION] [--uses N]"));
	assert_non_null(
	    strstr(o.out, "Exit codes: 0 ok, 1 the server refused"));
	/* A blank line between groups, none within one. */
	assert_non_null(strstr(o.out, "  user add NAME [--email E]\n"
	                              "  user list\n"));
	assert_non_null(
	    strstr(o.out, "user offboarding NAME\n\n  team add NAME\n"));
	tc_out_free(&o);

	assert_int_equal(tc_build("user add --help", NULL, &req, &o),
	                 CTL_EXIT_OK);
	assert_null(req.method);
	assert_non_null(strstr(o.out, "usage: mcpfleetctl user add NAME "
	                              "[--email E]\n"));
	assert_non_null(strstr(o.out, "Adds a user."));
	tc_out_free(&o);

	assert_int_equal(tc_build("server add -h", NULL, &req, &o),
	                 CTL_EXIT_OK);
	assert_non_null(strstr(o.out, "usage: mcpfleetctl server add NAME "
	                              "(--command CMD"));
	tc_out_free(&o);

	assert_int_equal(tc_build("help team member add", NULL, &req, &o),
	                 CTL_EXIT_OK);
	assert_non_null(strstr(o.out, "team member add TEAM USER"));
	tc_out_free(&o);

	assert_int_equal(tc_build("team --help", NULL, &req, &o), CTL_EXIT_OK);
	assert_non_null(strstr(o.out, "mcpfleetctl team member remove TEAM "
	                              "USER"));
	assert_null(strstr(o.out, "user add"));
	tc_out_free(&o);
}

/* Runs ctl_main with io's settings. */
static int tc_main(const struct ctl_io *base, const char *line, const char *in,
                   struct tc_out *o)
{
	struct ctl_io io = *base;
	struct tc_argv a;
	int code;

	tc_split(&a, line);
	tc_open(o, &io, in);
	code = ctl_main(&io, a.argc, a.argv);
	tc_close(o);
	tc_argv_free(&a);
	return code;
}

static void test_ctl_missing_settings(void **state)
{
	struct ctl_io io = tc_io_bare();
	struct tc_out o;

	(void)state;
	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "user list: no server: give --server "
	                              "https://HOST:PORT or set "
	                              "MCPFLEET_SERVER"));
	tc_out_free(&o);

	io.env_server = "http://127.0.0.1:7444";
	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "expected https://HOST:PORT"));
	tc_out_free(&o);

	io.env_server = "https://127.0.0.1:7444/";
	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "no admin token"));
	tc_out_free(&o);

	io.env_token = "has space";
	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "space or control character"));
	/* Never the token itself. */
	assert_null(strstr(o.err, "has space"));
	tc_out_free(&o);

	io.env_token = "tok";
	assert_int_equal(
	    tc_main(&io, "user list --token-file /nonexistent/t", NULL, &o),
	    CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "--token-file /nonexistent/t:"));
	tc_out_free(&o);

	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "no CA to trust"));
	tc_out_free(&o);

	/* Settings are checked before a secret value is asked for. */
	assert_int_equal(tc_main(&io, "secret set K", "value\n", &o),
	                 CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "no CA to trust"));
	tc_out_free(&o);

	io.env_ca_sha256 = "sha256:abcd";
	assert_int_equal(tc_main(&io, "user list", NULL, &o), CTL_EXIT_USAGE);
	assert_non_null(strstr(o.err, "bad CA pin"));
	tc_out_free(&o);
}

/* ---- A fake API on loopback ---- */

/* What the fake server saw last. */
struct tc_seen {
	char method[16];
	char path[256];
	char query[256];
	char auth[128];
	char body[1024];
};

struct tc_fixture {
	struct crypto_rng *rng;
	struct crypto_key *ca_key, *srv_key, *other_key;
	char *ca_pem, *srv_pem, *srv_key_pem, *other_pem;
	size_t ca_len, srv_len, srv_key_len, other_len;
	char pin[CRYPTO_HEX_LEN + 8];
	char other_pin[CRYPTO_HEX_LEN + 8];
	char *dir, *ca_file, *other_file, *token_file;
	char url[64];
	struct net *net;
	pthread_t thread;
	pthread_mutex_t mu;
	struct tc_seen seen;
	struct ctl_io io;
};

static void tc_answer(struct net_response *resp, int status, const char *json)
{
	resp->status = status;
	assert_int_equal(net_response_type(resp, "application/json"), 0);
	assert_int_equal(buf_puts(&resp->body, json), 0);
}

static void tc_answer_json(struct net_response *resp, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	tc_answer(resp, status, s);
	free(s);
	json_decref(j);
}

static const char tc_users[] =
    "[{\"id\": 1, \"name\": \"alice\", \"email\": \"a@x.org\", \"disabled\": "
    "false, \"created_at\": 1717200000}, {\"id\": 12, \"name\": \"bob\", "
    "\"email\": null, \"disabled\": true, \"created_at\": 1717203600}]";

static const char tc_offboard[] =
    "{\"user\": \"alice\", \"disabled\": true, \"devices_revoked\": "
    "[\"dev-1\", \"dev-2\"], \"tokens_revoked\": 2, \"deliveries\": "
    "[{\"secret\": \"GITHUB_TOKEN\", \"scope\": \"user\", \"scope_name\": "
    "\"alice\", \"version\": 3, \"device\": \"dev-1\", \"revision\": 12, "
    "\"delivered_at\": 1717200000}], \"offboarded_at\": 1717200060, "
    "\"by\": \"admin:hd\", \"reason\": \"left\"}";

static const char tc_server[] =
    "{\"id\": 2, \"name\": \"gh\", \"entry\": {\"url\": \"https://x/mcp\", "
    "\"type\": \"http\"}, \"created_at\": 1717200000, \"updated_at\": "
    "1717200060, \"grants\": [{\"id\": 4, \"server\": \"gh\", \"target\": "
    "\"team\", \"target_name\": \"dev\", \"tools_allow\": null, "
    "\"tools_deny\": [\"delete_repository\"], \"created_at\": 1717200000}]}";

/* The canned API: just enough of API.md to run every kind of answer. */
static void tc_route(const struct net_request *req, json_t *body,
                     struct net_response *resp)
{
	const char *m = req->method, *p = req->path;
	const char *name = json_string_value(json_object_get(body, "name"));

	if (strcmp(req->authorization, "Bearer " TC_TOKEN) != 0)
		tc_answer(resp, 401,
		          "{\"error\": \"unknown or revoked admin token\"}");
	else if (strcmp(m, "GET") == 0 && strcmp(p, "/api/v1/users") == 0)
		tc_answer(resp, 200, tc_users);
	else if (strcmp(m, "POST") == 0 && strcmp(p, "/api/v1/users") == 0) {
		if (name != NULL && strcmp(name, "bob") == 0)
			tc_answer(resp, 409,
			          "{\"error\": \"user 'bob' already exists\"}");
		else
			tc_answer_json(resp, 201,
			               json_pack("{s:i,s:s?,s:n,s:b,s:i}", "id",
			                         3, "name", name, "email",
			                         "disabled", 0, "created_at",
			                         TC_NOW));
	} else if (strcmp(p, "/api/v1/users/crash") == 0)
		tc_answer(resp, 500, "{\"error\": \"store failure\"}");
	else if (strcmp(p, "/api/v1/users/alice/offboard") == 0 ||
	         strcmp(p, "/api/v1/users/alice/offboarding") == 0)
		tc_answer(resp, 200, tc_offboard);
	else if (strcmp(p, "/api/v1/servers/gh") == 0)
		tc_answer(resp, 200, tc_server);
	else if (strcmp(p, "/api/v1/status") == 0)
		tc_answer(resp, 200,
		          "{\"revision\": 12, \"devices\": {\"active\": 3, "
		          "\"revoked\": 1, \"connected\": 2}, \"version\": "
		          "\"0.1.0\", \"replica\": \"a.example:7443\", "
		          "\"replicas\": [\"a.example:7443\", "
		          "\"b.example:7443\"]}");
	else if (strcmp(p, "/api/v1/tokens") == 0)
		tc_answer_json(
		    resp, 201,
		    json_pack(
		        "{s:i,s:O,s:I,s:i,s:b,s:i,s:s,s:s,s:s}", "id", 5,
		        "user", json_object_get(body, "user"), "expires_at",
		        (json_int_t)TC_NOW +
		            json_integer_value(json_object_get(body, "ttl")),
		        "uses_left", 1, "revoked", 0, "created_at", TC_NOW,
		        "created_by", "admin:initial", "token", "tok", "link",
		        "mcpfleet://127.0.0.1:7444/enroll/tok#ca=sha256:"
		        "ab"));
	else if (strncmp(p, "/api/v1/secrets/", 16) == 0 &&
	         strcmp(m, "PUT") == 0) {
		const char *v =
		    json_string_value(json_object_get(body, "value"));

		if (v != NULL && strcmp(v, "hunter22") == 0)
			tc_answer(resp, 400,
			          "{\"error\": \"value hunter22 rejected\"}");
		else
			tc_answer_json(
			    resp, 201,
			    json_pack(
			        "{s:i,s:s,s:s,s:O?,s:i,s:i}", "id", 7, "name",
			        p + 16, "scope",
			        json_object_get(body, "user") ? "user" : "org",
			        "scope_name", json_object_get(body, "user"),
			        "version", 2, "updated_at", TC_NOW));
	} else if (strcmp(p, "/api/v1/audit/verify") == 0)
		tc_answer(
		    resp, 409,
		    "{\"ok\": false, \"error\": \"row 17: hash mismatch\", "
		    "\"first_bad_id\": 17}");
	else if (strcmp(m, "GET") == 0 &&
	         strcmp(p, "/api/v1/admin-tokens") == 0)
		tc_answer(resp, 200,
		          "[{\"id\": 1, \"name\": \"initial\", \"role\": "
		          "\"owner\", \"created_at\": 1717200000, \"revoked\": "
		          "false}, {\"id\": 2, \"name\": \"desk\", \"role\": "
		          "\"helpdesk\", \"created_at\": 1717200000, "
		          "\"revoked\": true}]");
	else if (strcmp(p, "/api/v1/admin-tokens") == 0)
		tc_answer(resp, 400,
		          "{\"error\": \"token " TC_TOKEN " is "
		          "wrong\"}");
	else if (strcmp(p, "/api/v1/grants") == 0)
		tc_answer(resp, 200, "[]");
	else if (strcmp(p, "/api/v1/teams") == 0)
		tc_answer(resp, 200, "<html>not JSON</html>");
	else
		tc_answer(resp, 404, "{\"error\": \"no such thing\"}");
}

static int tc_on_request(void *arg, struct net_exchange *ex,
                         const struct net_request *req,
                         struct net_response *resp)
{
	struct tc_fixture *f = arg;
	json_t *body = NULL;
	size_t i;
	int w = 0;

	(void)ex;
	pthread_mutex_lock(&f->mu);
	snprintf(f->seen.method, sizeof(f->seen.method), "%s", req->method);
	snprintf(f->seen.path, sizeof(f->seen.path), "%s", req->path);
	snprintf(f->seen.auth, sizeof(f->seen.auth), "%s", req->authorization);
	snprintf(f->seen.body, sizeof(f->seen.body), "%s", req->body);
	f->seen.query[0] = '\0';
	for (i = 0;
	     i < req->nparams && w >= 0 && (size_t)w < sizeof(f->seen.query);
	     i++)
		w += snprintf(f->seen.query + w,
		              sizeof(f->seen.query) - (size_t)w, "%s%s=%s",
		              i ? "&" : "", req->params[i].name,
		              req->params[i].value);
	pthread_mutex_unlock(&f->mu);
	if (req->body_len > 0)
		body = json_loadb(req->body, req->body_len, 0, NULL);
	tc_route(req, body, resp);
	json_decref(body);
	return NET_DONE;
}

static void *tc_service(void *p)
{
	struct tc_fixture *f = p;

	assert_int_equal(net_run(f->net), 0);
	return NULL;
}

/* A CA certificate and its key. */
static void tc_make_ca(struct tc_fixture *f, const char *cn,
                       struct crypto_key **key, char **pem, size_t *len)
{
	struct crypto_ca_req req = {.cn = cn, .org = "Test", .years = 1};
	struct diag d;

	assert_int_equal(crypto_key_generate(f->rng, key, &d), 0);
	assert_int_equal(crypto_ca_create(f->rng, *key, &req, pem, len, &d), 0);
}

static void tc_pin(const char *pem, size_t len, char *out)
{
	struct diag d;

	memcpy(out, "sha256:", 7);
	assert_int_equal(crypto_cert_fingerprint(pem, len, out + 7, &d), 0);
}

static int tc_group_setup(void **state)
{
	static const char *const san[] = {"localhost", "127.0.0.1"};
	struct tc_fixture *f = calloc(1, sizeof(*f));
	struct crypto_cert_req creq = {.cn = "mcpfleetd",
	                               .days = 1,
	                               .purpose = CRYPTO_PURPOSE_SERVER,
	                               .san = san,
	                               .nsan = 2};
	struct crypto_cert_info info;
	struct net_config cfg = {0};
	struct net_callbacks cb = {0};
	struct diag d;

	assert_non_null(f);
	netclient_lws_log(getenv("TC_VERBOSE") ? NETCLIENT_LOG_ERR : 0, NULL);
	pthread_mutex_init(&f->mu, NULL);
	assert_int_equal(crypto_rng_new("test_ctl", &f->rng, &d), 0);
	tc_make_ca(f, "Fleet CA", &f->ca_key, &f->ca_pem, &f->ca_len);
	tc_make_ca(f, "Other CA", &f->other_key, &f->other_pem, &f->other_len);
	assert_int_equal(crypto_key_generate(f->rng, &f->srv_key, &d), 0);
	assert_int_equal(crypto_cert_issue(f->rng, f->ca_key, f->ca_pem,
	                                   f->ca_len, f->srv_key, &creq,
	                                   &f->srv_pem, &f->srv_len, &info, &d),
	                 0);
	assert_int_equal(crypto_key_write_private(f->srv_key, &f->srv_key_pem,
	                                          &f->srv_key_len, &d),
	                 0);
	tc_pin(f->ca_pem, f->ca_len, f->pin);
	tc_pin(f->other_pem, f->other_len, f->other_pin);
	f->dir = tu_mkdtemp();
	f->ca_file = tu_path(f->dir, "ca.crt");
	f->other_file = tu_path(f->dir, "other.crt");
	f->token_file = tu_path(f->dir, "token");
	tu_write(f->ca_file, f->ca_pem, f->ca_len);
	tu_write(f->other_file, f->other_pem, f->other_len);
	tu_write(f->token_file, TC_TOKEN "\n", strlen(TC_TOKEN) + 1);

	cfg.ca_pem = f->ca_pem;
	cfg.ca_len = f->ca_len;
	cfg.cert_pem = f->srv_pem;
	cfg.cert_len = f->srv_len;
	cfg.key_pem = f->srv_key_pem;
	cfg.key_len = f->srv_key_len;
	cfg.timeout_secs = 5;
	cb.arg = f;
	cb.on_request = tc_on_request;
	if (net_create(&cfg, &cb, &f->net, &d) != 0)
		fail_msg("net_create: %s", d.msg);
	assert_int_equal(pthread_create(&f->thread, NULL, tc_service, f), 0);
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d",
	         net_api_port(f->net));
	f->io.env_server = f->url;
	f->io.env_token = TC_TOKEN;
	f->io.env_ca = f->ca_file;
	f->io.now = TC_NOW;
	*state = f;
	return 0;
}

static int tc_group_teardown(void **state)
{
	struct tc_fixture *f = *state;

	net_stop(f->net);
	pthread_join(f->thread, NULL);
	net_free(f->net);
	crypto_key_free(f->ca_key);
	crypto_key_free(f->srv_key);
	crypto_key_free(f->other_key);
	free(f->ca_pem);
	free(f->srv_pem);
	free(f->other_pem);
	crypto_secret_free(f->srv_key_pem, f->srv_key_len);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->ca_file);
	free(f->other_file);
	free(f->token_file);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* A copy of what the fake server saw last. */
static struct tc_seen tc_last(struct tc_fixture *f)
{
	struct tc_seen s;

	pthread_mutex_lock(&f->mu);
	s = f->seen;
	pthread_mutex_unlock(&f->mu);
	return s;
}

static void test_ctl_live_list_table(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(tc_main(&f->io, "user list", NULL, &o), CTL_EXIT_OK);
	assert_string_equal(
	    o.out, "ID  NAME   EMAIL    DISABLED  CREATED\n"
	           "1   alice  a@x.org  no        2024-06-01T00:00:00Z\n"
	           "12  bob    -        yes       "
	           "2024-06-01T01:00:00Z\n");
	assert_int_equal(o.errlen, 0);
	tc_out_free(&o);
	assert_string_equal(tc_last(f).auth, "Bearer " TC_TOKEN);

	/* Admin tokens with their roles. */
	assert_int_equal(tc_main(&f->io, "admin-token list", NULL, &o),
	                 CTL_EXIT_OK);
	assert_string_equal(o.out, "ID  NAME     ROLE      REVOKED  CREATED\n"
	                           "1   initial  owner     no       "
	                           "2024-06-01T00:00:00Z\n"
	                           "2   desk     helpdesk  yes      "
	                           "2024-06-01T00:00:00Z\n");
	tc_out_free(&o);

	/* An empty list is a header alone. */
	assert_int_equal(tc_main(&f->io, "grant list", NULL, &o), CTL_EXIT_OK);
	assert_string_equal(o.out, "ID  SERVER  TO  NAME  ALLOW  DENY  RATE  "
	                           "TOOL RATES  CREATED\n");
	tc_out_free(&o);
}

static void test_ctl_live_json(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;
	json_t *got, *want;

	assert_int_equal(tc_main(&f->io, "--json user list", NULL, &o),
	                 CTL_EXIT_OK);
	got = json_loads(o.out, 0, NULL);
	want = json_loads(tc_users, 0, NULL);
	assert_non_null(got);
	assert_true(json_equal(got, want));
	/* Pretty: two-space indentation, one key per line. */
	assert_non_null(strstr(o.out, "[\n  {\n    \"id\": 1,\n"));
	json_decref(got);
	json_decref(want);
	tc_out_free(&o);
}

static void test_ctl_live_refused_409(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(tc_main(&f->io, "user add bob", NULL, &o),
	                 CTL_EXIT_REFUSED);
	assert_string_equal(
	    o.err, "mcpfleetctl: user add: user 'bob' already exists\n");
	assert_int_equal(o.outlen, 0);
	tc_out_free(&o);

	assert_int_equal(
	    tc_main(&f->io, "user add carol --email c@x", NULL, &o),
	    CTL_EXIT_OK);
	assert_string_equal(o.out, "user carol added (id 3)\n");
	tc_out_free(&o);
	assert_string_equal(tc_last(f).method, "POST");
	assert_string_equal(tc_last(f).body,
	                    "{\"name\":\"carol\",\"email\":\"c@x\"}");

	/* 409 from audit verify; --json also prints the API's answer. */
	assert_int_equal(tc_main(&f->io, "audit verify --json", NULL, &o),
	                 CTL_EXIT_REFUSED);
	assert_string_equal(
	    o.err, "mcpfleetctl: audit verify: row 17: hash mismatch\n");
	assert_non_null(strstr(o.out, "\"first_bad_id\": 17"));
	tc_out_free(&o);

	assert_int_equal(tc_main(&f->io, "device show dev-9", NULL, &o),
	                 CTL_EXIT_REFUSED);
	assert_string_equal(o.err, "mcpfleetctl: device show: no such thing\n");
	tc_out_free(&o);
}

static void test_ctl_live_server_failures(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(tc_main(&f->io, "user show crash", NULL, &o),
	                 CTL_EXIT_SERVER);
	assert_string_equal(o.err, "mcpfleetctl: user show: server error (HTTP "
	                           "500): store failure\n");
	tc_out_free(&o);

	assert_int_equal(tc_main(&f->io, "team list", NULL, &o),
	                 CTL_EXIT_SERVER);
	assert_non_null(strstr(o.err, "team list: "));
	assert_non_null(strstr(o.err, "HTTP 200, but the answer is not JSON"));
	tc_out_free(&o);
}

static void test_ctl_live_trust(void **state)
{
	struct tc_fixture *f = *state;
	struct ctl_io io = f->io;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char line[256];
	struct tc_out o;
	int fd;

	/* The pin alone, from the environment. */
	io.env_ca = NULL;
	io.env_ca_sha256 = f->pin;
	assert_int_equal(tc_main(&io, "status", NULL, &o), CTL_EXIT_OK);
	tc_out_free(&o);

	/* A pin that does not match. */
	io.env_ca_sha256 = f->other_pin;
	assert_int_equal(tc_main(&io, "status", NULL, &o), CTL_EXIT_SERVER);
	assert_non_null(strstr(o.err, "mcpfleetctl: status: https://"));
	assert_non_null(strstr(o.err, "pin"));
	tc_out_free(&o);

	/* The wrong CA, by option. */
	snprintf(line, sizeof(line), "status --ca %s", f->other_file);
	assert_int_equal(tc_main(&f->io, line, NULL, &o), CTL_EXIT_SERVER);
	assert_non_null(strstr(o.err, "TLS"));
	tc_out_free(&o);

	/* Nobody listening. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(line, sizeof(line), "--server https://127.0.0.1:%d status",
	         ntohs(sa.sin_port));
	close(fd);
	assert_int_equal(tc_main(&f->io, line, NULL, &o), CTL_EXIT_SERVER);
	assert_non_null(strstr(o.err, "mcpfleetctl: status: "));
	assert_non_null(strstr(o.err, "connection refused"));
	tc_out_free(&o);

	/* A short token or value does not mangle the program's own words:
	 * only what the server says is redacted. */
	io = f->io;
	io.env_token = "1";
	snprintf(line, sizeof(line),
	         "--server https://127.0.0.1:%d secret set "
	         "K1",
	         ntohs(sa.sin_port));
	assert_int_equal(tc_main(&io, line, "v", &o), CTL_EXIT_SERVER);
	snprintf(line, sizeof(line),
	         "https://127.0.0.1:%d/api/v1/secrets/K1:", ntohs(sa.sin_port));
	assert_non_null(strstr(o.err, line));
	tc_out_free(&o);
}

static void test_ctl_live_token(void **state)
{
	struct tc_fixture *f = *state;
	struct ctl_io io = f->io;
	struct tc_out o;
	char line[256];

	/* A wrong token is refused (401) and not repeated. */
	assert_int_equal(
	    tc_main(&f->io, "status --token wr0ng-token", NULL, &o),
	    CTL_EXIT_REFUSED);
	assert_string_equal(o.err, "mcpfleetctl: status: unknown or revoked "
	                           "admin token (check --token-file, --token "
	                           "or MCPFLEET_TOKEN)\n");
	tc_out_free(&o);
	assert_string_equal(tc_last(f).auth, "Bearer wr0ng-token");

	/* The token from a file, newline dropped. */
	io.env_token = NULL;
	snprintf(line, sizeof(line), "status --token-file %s", f->token_file);
	assert_int_equal(tc_main(&io, line, NULL, &o), CTL_EXIT_OK);
	tc_out_free(&o);
	assert_string_equal(tc_last(f).auth, "Bearer " TC_TOKEN);

	/* A server that quotes the token back: it is redacted. */
	assert_int_equal(tc_main(&f->io, "admin-token create leak", NULL, &o),
	                 CTL_EXIT_REFUSED);
	assert_null(strstr(o.err, TC_TOKEN));
	assert_string_equal(o.err, "mcpfleetctl: admin-token create: token "
	                           "[redacted] is wrong\n");
	tc_out_free(&o);
}

static void test_ctl_live_token_create(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;
	json_t *sent;

	assert_int_equal(
	    tc_main(&f->io, "token create --user alice --ttl 24h", NULL, &o),
	    CTL_EXIT_OK);
	assert_string_equal(
	    o.out, "enrollment token 5 for alice: 1 use(s) until "
	           "2024-06-02T00:00:00Z.\n"
	           "The link, shown only this once:\n"
	           "mcpfleet://127.0.0.1:7444/enroll/tok#ca=sha256:ab\n");
	tc_out_free(&o);
	sent = json_loads(tc_last(f).body, 0, NULL);
	assert_non_null(sent);
	assert_int_equal(json_integer_value(json_object_get(sent, "ttl")),
	                 86400);
	assert_null(json_object_get(sent, "uses"));
	json_decref(sent);
}

static void test_ctl_live_secret(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(
	    tc_main(&f->io, "secret set GH_TOKEN --user alice", "s3cret\n", &o),
	    CTL_EXIT_OK);
	assert_string_equal(o.out, "secret GH_TOKEN set: user scope, version "
	                           "2\n");
	/* Never echoed, never printed. */
	assert_null(strstr(o.out, "s3cret"));
	assert_int_equal(o.errlen, 0);
	tc_out_free(&o);
	assert_string_equal(tc_last(f).method, "PUT");
	assert_string_equal(tc_last(f).path, "/api/v1/secrets/GH_TOKEN");
	assert_string_equal(tc_last(f).body,
	                    "{\"user\":\"alice\",\"value\":\"s3cret\"}");

	/* A server that quotes the value back: it is redacted, and the
	 * answer is not echoed even with --json. */
	assert_int_equal(tc_main(&f->io, "--json secret set K", "hunter22", &o),
	                 CTL_EXIT_REFUSED);
	assert_string_equal(o.err, "mcpfleetctl: secret set: value [redacted] "
	                           "rejected\n");
	assert_int_equal(o.outlen, 0);
	tc_out_free(&o);
}

static void test_ctl_live_object_views(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(tc_main(&f->io, "status", NULL, &o), CTL_EXIT_OK);
	assert_string_equal(o.out, "REVISION           12\n"
	                           "VERSION            0.1.0\n"
	                           "DEVICES ACTIVE     3\n"
	                           "DEVICES REVOKED    1\n"
	                           "DEVICES CONNECTED  2\n"
	                           "REPLICA            a.example:7443\n"
	                           "REPLICAS           "
	                           "a.example:7443,b.example:7443\n");
	tc_out_free(&o);

	assert_int_equal(
	    tc_main(&f->io, "user offboard alice --reason left", NULL, &o),
	    CTL_EXIT_OK);
	assert_string_equal(
	    o.out,
	    "user alice offboarded\n"
	    "\n"
	    "USER             alice\n"
	    "OFFBOARDED       2024-06-01T00:01:00Z\n"
	    "BY               admin:hd\n"
	    "REASON           left\n"
	    "DEVICES REVOKED  dev-1,dev-2\n"
	    "TOKENS REVOKED   2\n"
	    "\n"
	    "Credentials delivered to the user's devices (rotate these):\n"
	    "SECRET        SCOPE  SCOPE NAME  VERSION  DEVICE  REVISION  "
	    "DELIVERED\n"
	    "GITHUB_TOKEN  user   alice       3        dev-1   12        "
	    "2024-06-01T00:00:00Z\n");
	tc_out_free(&o);
	assert_string_equal(tc_last(f).body, "{\"reason\":\"left\"}");
	/* The stored report reads the same. */
	assert_int_equal(tc_main(&f->io, "user offboarding alice", NULL, &o),
	                 CTL_EXIT_OK);
	assert_non_null(strstr(o.out, "BY               admin:hd\n"));
	assert_non_null(strstr(o.out, "GITHUB_TOKEN  user   alice"));
	tc_out_free(&o);

	assert_int_equal(tc_main(&f->io, "server show gh", NULL, &o),
	                 CTL_EXIT_OK);
	assert_string_equal(
	    o.out, "ID        2\n"
	           "NAME      gh\n"
	           "TARGET    https://x/mcp\n"
	           "DISABLED  -\n"
	           "UPDATED   2024-06-01T00:01:00Z\n"
	           "CREATED   2024-06-01T00:00:00Z\n"
	           "ENTRY     {\"url\":\"https://x/mcp\",\"type\":\"http\"}\n"
	           "\n"
	           "Grants:\n"
	           "ID  SERVER  TO    NAME  ALLOW  DENY               RATE  "
	           "TOOL RATES  CREATED\n"
	           "4   gh      team  dev   -      delete_repository  -     "
	           "-           2024-06-01T00:00:00Z\n");
	tc_out_free(&o);
}

static void test_ctl_live_query(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_out o;

	assert_int_equal(tc_main(&f->io, "grant list --server gh", NULL, &o),
	                 CTL_EXIT_OK);
	tc_out_free(&o);
	assert_string_equal(tc_last(f).method, "GET");
	assert_string_equal(tc_last(f).path, "/api/v1/grants");
	assert_string_equal(tc_last(f).query, "server=gh");
}

/* No command has more options than a run holds (calls list has eleven). */
static void test_ctl_table_fits(void **state)
{
	struct diag d;

	(void)state;
	tu_ok(ctl_selfcheck(&d), &d);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_ctl_table_fits),
	    cmocka_unit_test(test_ctl_duration_parse),
	    cmocka_unit_test(test_ctl_since_parse),
	    cmocka_unit_test(test_ctl_exit_codes),
	    cmocka_unit_test(test_ctl_build_grant_add),
	    cmocka_unit_test(test_ctl_build_requests),
	    cmocka_unit_test(test_ctl_audit_checkpoint),
	    cmocka_unit_test(test_ctl_build_server_entry),
	    cmocka_unit_test(test_ctl_build_secret_value),
	    cmocka_unit_test(test_ctl_secret_from_terminal),
	    cmocka_unit_test(test_ctl_usage_errors),
	    cmocka_unit_test(test_ctl_help),
	    cmocka_unit_test(test_ctl_missing_settings),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_ctl_live_list_table),
	    cmocka_unit_test(test_ctl_live_json),
	    cmocka_unit_test(test_ctl_live_refused_409),
	    cmocka_unit_test(test_ctl_live_server_failures),
	    cmocka_unit_test(test_ctl_live_trust),
	    cmocka_unit_test(test_ctl_live_token),
	    cmocka_unit_test(test_ctl_live_token_create),
	    cmocka_unit_test(test_ctl_live_secret),
	    cmocka_unit_test(test_ctl_live_object_views),
	    cmocka_unit_test(test_ctl_live_query),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests_name("ctl", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("ctl_live", live, tc_group_setup,
	                                      tc_group_teardown);
	return failed != 0;
}
