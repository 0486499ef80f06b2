/* SPDX-License-Identifier: MIT */
/* Tests of the agent's fleet half (client/enrollment.c, client/agent.c)
 * against a fake mcpfleetd made of server/net.c on loopback
 * (tests/agent_fixture.c): enrollment, catalogue.pb, replays, revocation,
 * drift, reconnects, the launcher entries. */
#define _GNU_SOURCE /* memmem, pthread_tryjoin_np */
#include "agent_fixture.h"

/* ---- Links and enrollment ---- */

static void test_agent_link_bad(void **state)
{
	struct ta_box *b = *state;
	static const char *const links[] = {
	    "https://127.0.0.1:7444/enroll/tok#ca=sha256:00",
	    "mcpfleet://127.0.0.1/enroll/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:7444/enroll/tok",
	    "mcpfleet://127.0.0.1:7444/enroll/tok#ca=sha256:abc",
	    "mcpfleet://127.0.0.1:7444/join/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:99999/enroll/tok#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "mcpfleet://127.0.0.1:7444/enroll/t%20k#ca=sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	};
	struct enrollment_opts o = {.home = b->mfhome};
	size_t i, n;
	char *msg = NULL;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		o.out = open_memstream(&msg, &n);
		o.err = o.out;
		assert_int_equal(enrollment_enroll(&o, links[i]), EXIT_CONFIG);
		fclose(o.out);
		assert_non_null(strstr(msg, "enrollment link"));
		free(msg);
		msg = NULL;
	}
	/* Nothing was created, not even $MCPFLEET_HOME. */
	assert_false(fileio_exists(b->mfhome));
	/* The command line says the same. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"enroll", "not-a-link"};

		assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_CONFIG);
		assert_non_null(strstr(err, "enrollment link"));
		free(out);
		free(err);
	}
}

static void test_agent_enroll_ok(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct enrollment e;
	struct crypto_cert_info info;
	struct crypto_key *priv = NULL, *pub = NULL;
	char want[CRYPTO_HEX_LEN + 1], got[CRYPTO_HEX_LEN + 1];
	struct stat sb;
	struct diag d;
	char *msg = NULL, *p, *pem;
	size_t n;

	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_OK);
	assert_non_null(strstr(msg, "enrolled as dev-"));
	free(msg);
	assert_int_equal(stat(b->mfhome, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	p = tu_path(b->mfhome, "device.key");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	pem = tu_read(p, &n);
	assert_int_equal(crypto_key_load_private(pem, n, &priv, &d), 0);
	crypto_secret_free(pem, n);
	free(p);
	p = tu_path(b->mfhome, "enrollment.json");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(p);
	assert_int_equal(enrollment_load(b->mfhome, &e, &d), 0);
	assert_string_equal(e.server, "127.0.0.1");
	assert_int_equal(e.api_port, f->api_port);
	assert_int_equal(e.agent_port, f->agent_port);
	assert_string_equal(e.user, TA_USER);
	assert_string_equal(e.ca_pin, f->ca_pin);
	assert_true(e.enrolled_at > 0);
	/* The certificate names the device and holds our key. */
	p = tu_path(b->mfhome, "device.crt");
	pem = tu_read(p, &n);
	assert_int_equal(crypto_cert_parse(pem, n, &info, &pub, &d), 0);
	assert_string_equal(info.cn, e.device_id);
	assert_int_equal(crypto_key_id(priv, want), 0);
	assert_int_equal(crypto_key_id(pub, got), 0);
	assert_string_equal(want, got);
	free(pem);
	free(p);
	assert_true(ta_exists(b->mfhome, "ca.crt"));
	assert_true(ta_exists(b->mfhome, "signer.pub"));
	crypto_key_free(priv);
	crypto_key_free(pub);

	/* Once enrolled, a second enrollment is refused. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_CONFIG);
	assert_non_null(strstr(msg, "already enrolled"));
	assert_non_null(strstr(msg, "mcpfleet unenroll"));
	free(msg);

	/* status shows it. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"status", "--json"};
		json_t *j;

		assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_OK);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		assert_true(json_is_true(json_object_get(j, "enrolled")));
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(j, "enrollment"), "device_id")),
		    e.device_id);
		assert_false(json_is_true(
		    json_object_get(json_object_get(j, "agent"), "running")));
		json_decref(j);
		free(out);
		free(err);
	}
}

static void test_agent_enroll_refused(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *msg = NULL;

	/* The server's reasons reach the user, exit 3. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "usedtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "token already used"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "expiredtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "token expired"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));

	/* A server whose CA is not the pinned one. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->foreign_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(
	    strstr(msg, "the server's CA does not match the link's pin"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));

	/* Nobody there. */
	assert_int_equal(
	    ta_enroll(f, b, ta_closed_port(), "goodtoken", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "cannot reach the server"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
}

static void test_agent_enroll_bad_answer(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *msg = NULL;

	/* A certificate for another CN, another key, or from another CA:
	 * nothing is installed. */
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongcn", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "is not the device id"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongkey", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "another key"));
	free(msg);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "wrongca", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(
	    strstr(msg, "the server's CA does not match the link's pin"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(enrollment_exists(b->mfhome));
}

/* An answer whose replica set holds something that is no address: refused,
 * naming it, and nothing installed. */
static void test_agent_enroll_bad_replicas(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *msg = NULL;

	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "badreplicas", f->ca_pin, &msg),
	    EXIT_NOT_ENROLLED);
	assert_non_null(strstr(msg, "agent_addresses[1]"));
	assert_non_null(strstr(msg, "port must be 1 to 65535"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(enrollment_exists(b->mfhome));
}

/* Waits until the file at path contains want; true when it did. */
static bool ta_file_has(const char *path, const char *want)
{
	int64_t deadline = tu_now_ms() + TA_WAIT_MS;
	bool found = false;
	char *text;
	size_t n;

	while (!found && tu_now_ms() < deadline) {
		if (fileio_exists(path)) {
			fflush(NULL);
			text = tu_read(path, &n);
			found = strstr(text, want) != NULL;
			free(text);
		}
		if (!found)
			tu_sleep_ms(20);
	}
	return found;
}

/*
 * The replica set: kept from the enrollment answer, the agent gets past a
 * replica nobody listens on to the one that serves, takes a new set from
 * the server (and refuses a bad one), tries the next replica once its
 * connection is lost, and status shows the set and where it is connected.
 */
static void test_agent_replicas_failover(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct enrollment_replicas reps;
	char live[32], other[32], want[64], *p, *out = NULL, *err = NULL;
	const char *next[2] = {live, other};
	const char *bad[1] = {"no-port"};
	char *argv[] = {"status", "--json"};
	json_t *j, *rl;
	size_t i, connected = 0;
	struct diag d;
	char *msg = NULL;

	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "replicas", f->ca_pin, &msg), EXIT_OK);
	free(msg);
	(void)snprintf(live, sizeof(live), "127.0.0.1:%d", f->agent_port);
	(void)snprintf(other, sizeof(other), "localhost:%d", f->agent_port);
	tu_ok(enrollment_replicas_load(b->mfhome, &reps, &d), &d);
	assert_int_equal(reps.n, 2);
	assert_string_equal(reps.v[1], live);
	assert_string_not_equal(reps.v[0], live);
	{
		struct enrollment e;

		tu_ok(enrollment_load(b->mfhome, &e, &d), &d);
		(void)snprintf(b->device_id, sizeof(b->device_id), "%s",
		               e.device_id);
	}
	/* Wherever its device id starts it, the agent reaches the live one. */
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_OK);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	rl = json_object_get(j, "replicas");
	assert_int_equal(json_array_size(rl), 2);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(rl, 1), "address")),
	                    live);
	assert_true(
	    json_is_true(json_object_get(json_array_get(rl, 1), "connected")));
	assert_false(
	    json_is_true(json_object_get(json_array_get(rl, 0), "connected")));
	json_decref(j);
	free(out);
	free(err);
	out = err = NULL;

	/* A new set from the server replaces the kept one. */
	ta_push_replicas(f, next, 2);
	p = tu_path(b->mfhome, "replicas.json");
	assert_true(ta_file_has(p, other));
	tu_ok(enrollment_replicas_load(b->mfhome, &reps, &d), &d);
	assert_int_equal(reps.n, 2);
	assert_string_equal(reps.v[0], live);
	assert_string_equal(reps.v[1], other);
	/* A bad one is refused and the kept set stays. */
	ta_push_replicas(f, bad, 1);
	assert_true(ta_file_has(b->log_path, "ignored the server's replica "
	                                     "set: the server's replica "
	                                     "set[0]: 'no-port': no port"));
	tu_ok(enrollment_replicas_load(b->mfhome, &reps, &d), &d);
	assert_string_equal(reps.v[1], other);
	free(p);

	/* The connection goes: the next try is the next replica. */
	pthread_mutex_lock(&f->core.mu);
	f->core.close_after = true;
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);
	(void)snprintf(want, sizeof(want), "reconnecting to %s", other);
	assert_true(ta_file_has(b->log_path, want));
	assert_true(ta_wait(f, &f->core.hellos, 2));
	assert_int_equal(ta_cli(b, &out, &err, 2, argv), EXIT_OK);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	rl = json_object_get(j, "replicas");
	assert_int_equal(json_array_size(rl), 2);
	for (i = 0; i < 2; i++)
		connected += json_is_true(
		    json_object_get(json_array_get(rl, i), "connected"));
	assert_int_equal(connected, 1);
	json_decref(j);
	free(out);
	free(err);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	/* unenroll takes the set too. */
	assert_int_equal(enrollment_remove(b->mfhome, &d), 0);
	assert_false(ta_exists(b->mfhome, "replicas.json"));
}

static void test_agent_enroll_atomic(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *dir, *inner, *msg = NULL;

	/* signer.pub cannot be renamed into place (a non-empty directory
	 * holds its name): the files already placed are taken back. */
	dir = tu_path(b->mfhome, "signer.pub");
	inner = tu_path(dir, "x");
	tu_write(inner, "x", 1);
	assert_int_equal(
	    ta_enroll(f, b, f->api_port, "goodtoken", f->ca_pin, &msg),
	    EXIT_CONFIG);
	assert_non_null(strstr(msg, "signer.pub"));
	free(msg);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(enrollment_exists(b->mfhome));
	assert_true(fileio_is_dir(dir));
	unlink(inner);
	rmdir(dir);
	free(inner);
	free(dir);
	/* And it works once the obstacle is gone. */
	ta_enroll_ok(f, b);
	assert_true(enrollment_exists(b->mfhome));
}

/* ---- catalogue.pb ---- */

/* Enrolls without the network: credentials made here, files written as
 * enroll would. */
static void ta_enroll_local(struct ta_fixture *f, struct ta_box *b)
{
	struct enrollment e = {0};
	struct crypto_key *key = NULL;
	char *cert, *key_pem = NULL, *p;
	size_t cert_len, key_len;

	assert_int_equal(fileio_mkdirs(b->mfhome, 0700), 0);
	assert_int_equal(crypto_key_generate(f->rng, &key, NULL), 0);
	cert = ta_issue(f, key, "dev-local", CRYPTO_PURPOSE_CLIENT, NULL, 0,
	                &cert_len);
	assert_int_equal(
	    crypto_key_write_private(key, &key_pem, &key_len, NULL), 0);
	p = tu_path(b->mfhome, "device.key");
	tu_write(p, key_pem, key_len);
	free(p);
	p = tu_path(b->mfhome, "device.crt");
	tu_write(p, cert, cert_len);
	free(p);
	p = tu_path(b->mfhome, "ca.crt");
	tu_write(p, f->ca.cert_pem, f->ca.cert_len);
	free(p);
	p = tu_path(b->mfhome, "signer.pub");
	tu_write(p, f->signer_pem, f->signer_len);
	free(p);
	(void)snprintf(e.server, sizeof(e.server), "127.0.0.1");
	e.api_port = f->api_port;
	e.agent_port = f->agent_port;
	(void)snprintf(e.device_id, sizeof(e.device_id), "dev-local");
	(void)snprintf(e.user, sizeof(e.user), TA_USER);
	(void)snprintf(e.ca_pin, sizeof(e.ca_pin), "%s", f->ca_pin);
	e.enrolled_at = 1700000000;
	assert_int_equal(enrollment_save(b->mfhome, &e), 0);
	(void)snprintf(b->device_id, sizeof(b->device_id), "dev-local");
	crypto_secret_free(key_pem, key_len);
	crypto_key_free(key);
	free(cert);
}

static void ta_write_pb(struct ta_box *b, const uint8_t *data, size_t len)
{
	char *p = tu_path(b->mfhome, "catalogue.pb");

	tu_write(p, (const char *)data, len);
	free(p);
}

/* A fleet server's default is the launcher: every host file holds
 * "mcpfleet exec NAME" and nothing of the server's own (docs/design.md, "Edge
 * launcher"). */
static void test_agent_launcher_entries(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	uint8_t *env;
	size_t len;
	char *out = NULL, *err = NULL, *text, self[4096];
	char *argv[] = {"sync"};
	json_t *j, *e;

	ta_enroll_local(f, b);
	env = ta_catalogue_env(f, "dev-local", 3, TA_LAUNCHED, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
	/* No "cannot be enforced" warning: the launcher enforces it. */
	assert_null(strstr(err, "enforced"));
	free(out);
	free(err);
	assert_int_equal(sync_self_path(self, sizeof(self)), 0);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "t0ken"));
	assert_null(strstr(text, "fs-server"));
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	e = json_object_get(json_object_get(j, "mcpServers"), "gh");
	assert_string_equal(json_string_value(json_object_get(e, "command")),
	                    self);
	assert_int_equal(json_array_size(json_object_get(e, "args")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 0)),
	    "exec");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 1)),
	    "gh");
	assert_null(json_object_get(e, "url"));
	assert_null(json_object_get(e, "headers"));
	assert_null(json_object_get(e, "env"));
	e = json_object_get(json_object_get(j, "mcpServers"), "fs");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(e, "args"), 1)),
	    "fs");
	json_decref(j);
	free(text);
	/* Droid can filter tools, but a launcher entry carries no filter. */
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_null(strstr(text, "disabledTools"));
	assert_non_null(strstr(text, "\"exec\""));
	free(text);
}

static void test_agent_catalogue_tamper_rejected(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct catalogue cat = {0};
	struct diag d;
	uint64_t rev = 0;
	uint8_t *env, *hit;
	size_t len;
	char *out = NULL, *err = NULL, *text;
	char *argv[] = {"sync"};

	ta_enroll_local(f, b);
	/* Not there yet: a sync has no fleet part. */
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_NOENT);
	env = ta_catalogue_env(f, "dev-local", 3, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d), 0);
	assert_int_equal(rev, 3);
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.servers[0].name, "gh");
	catalogue_clear(&cat);
	/* A sync renders it. */
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(text);
	assert_non_null(strstr(text, "gh.example"));
	free(text);

	/* One byte of the URL changed: rejected, and nothing written. */
	hit = memmem(env, len, "gh.example", 10);
	assert_non_null(hit);
	hit[0] = 'x';
	ta_write_pb(b, env, len);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "catalogue.pb: rejected"));
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_CONFIG);
	assert_non_null(strstr(err, "catalogue.pb: rejected"));
	assert_non_null(strstr(err, "nothing was written"));
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "xh.example"));
	free(text);
	free(env);

	/* Validly signed, but for another device. */
	env = ta_catalogue_env(f, "dev-someone", 4, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "dev-someone"));

	/* Validly signed by someone else. */
	{
		size_t plen;
		uint8_t *p = ta_catalogue_payload(TA_USER, "dev-local", 5,
		                                  TA_FLEET, &plen);

		env =
		    ta_sign(f, f->rogue, ENVELOPE_CATALOGUE, p, plen, 5, &len);
		ta_write_pb(b, env, len);
		free(env);
		assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
		                 -ERR_VERIFY);
	}

	/* An older revision than the one applied: a rollback. */
	env = ta_catalogue_env(f, "dev-local", 2, TA_OLD, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(agent_fleet_load(b->mfhome, &cat, &rev, &d),
	                 -ERR_VERIFY);
	assert_non_null(strstr(d.msg, "rollback"));
	assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_CONFIG);
	free(out);
	free(err);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	free(text);
}

/* ---- mcpfleet run ---- */

static void test_agent_run_apply_replay_drift(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_report r;
	struct stat st1, st2;
	char *text, *log, *pb;
	uint8_t *env, *keep;
	size_t len, keep_len;
	int i, reports;

	ta_enroll_ok(f, b);
	/* Drift below is seen through inotify, long before a re-check. */
	b->ao.recheck_ms = 60000;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	pthread_mutex_lock(&f->core.mu);
	assert_string_equal(f->core.hello_device, b->device_id);
	assert_int_equal(f->core.hello_revision, 0);
	assert_non_null(strstr(f->core.hello_hosts, "cursor"));
	assert_non_null(strstr(f->core.hello_hosts, "droid"));
	assert_null(strstr(f->core.hello_hosts, "codex"));
	pthread_mutex_unlock(&f->core.mu);

	/* Revision 5 is applied and reported. */
	env = ta_catalogue_env(f, b->device_id, 5, TA_FLEET, &len);
	keep = malloc(len);
	memcpy(keep, env, len);
	keep_len = len;
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 5);
	i = ta_report_host(&r, "cursor");
	assert_int_equal(r.status[i],
	                 MCPFLEET__V1__HOST_STATUS__HOST_STATUS_OK);
	assert_string_equal(r.managed[i], "gh");
	assert_false(r.drift[i]);
	i = ta_report_host(&r, "codex");
	assert_int_equal(r.status[i],
	                 MCPFLEET__V1__HOST_STATUS__HOST_STATUS_ABSENT);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "Bearer s3cret"));
	free(text);
	pb = tu_path(b->mfhome, "catalogue.pb");
	assert_int_equal(stat(pb, &st1), 0);
	assert_int_equal(st1.st_mode & 0777, 0600);

	/* The same envelope again, then an older revision: both ignored,
	 * nothing written. Revision 6 then shows they were processed. */
	ta_push_env(f, keep, keep_len);
	env = ta_catalogue_env(f, b->device_id, 4, TA_OLD, &len);
	ta_push_env(f, env, len);
	tu_sleep_ms(50);
	assert_int_equal(ta_get(f, &f->core.reports), 1);
	assert_int_equal(stat(pb, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	free(text);
	env = ta_catalogue_env(f, b->device_id, 6, TA_FLEET2, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 2));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 6);
	assert_string_equal(r.managed[ta_report_host(&r, "cursor")], "gh,jira");
	/* Cursor has no tool filter: its report says so; Droid has one. */
	assert_non_null(strstr(r.warnings[ta_report_host(&r, "cursor")],
	                       "jira: tools.deny cannot be enforced"));
	assert_string_equal(r.warnings[ta_report_host(&r, "droid")], "");
	log = ta_log(b);
	assert_non_null(strstr(log, "ignored catalogue revision 5"));
	assert_non_null(strstr(log, "ignored catalogue revision 4"));
	free(log);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "stale"));
	assert_non_null(strstr(text, "jira.example"));
	assert_null(strstr(text, "Bearer s3cret"));
	free(text);

	/* Ping, pong. */
	{
		Mcpfleet__V1__ServerFrame fr;
		Mcpfleet__V1__Ping ping;
		uint8_t *buf;
		size_t n;

		mcpfleet__v1__server_frame__init(&fr);
		mcpfleet__v1__ping__init(&ping);
		ping.nonce = 0xfeedULL;
		fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_PING;
		fr.ping = &ping;
		n = mcpfleet__v1__server_frame__get_packed_size(&fr);
		buf = malloc(n);
		mcpfleet__v1__server_frame__pack(&fr, buf);
		ta_push(f, buf, n);
		assert_true(ta_wait(f, &f->core.pongs, 1));
		pthread_mutex_lock(&f->core.mu);
		assert_int_equal(f->core.pong_nonce, 0xfeedULL);
		pthread_mutex_unlock(&f->core.mu);
	}

	/* Garbage is logged and ignored. */
	{
		uint8_t *junk = malloc(4);

		memcpy(junk, "\xff\xff\xff\xff", 4);
		ta_push(f, junk, 4);
	}

	/* Someone removes the managed entries from a host: the agent puts
	 * them back and reports drift. */
	reports = ta_get(f, &f->core.reports);
	text = tu_path(b->home, ".cursor/mcp.json");
	tu_write(text, "{\"mcpServers\": {}}\n", 19);
	free(text);
	assert_true(ta_wait(f, &f->core.reports, reports + 1));
	r = ta_last_report(f);
	assert_int_equal(r.revision, 6);
	assert_true(r.drift[ta_report_host(&r, "cursor")]);
	assert_false(r.drift[ta_report_host(&r, "droid")]);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "jira.example"));
	free(text);

	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	log = ta_log(b);
	assert_non_null(strstr(log, "not a ServerFrame"));
	free(log);
	/* agent.status says it stopped; status prints the revision. */
	{
		char *out = NULL, *err = NULL;
		char *argv[] = {"status"};

		assert_int_equal(ta_cli(b, &out, &err, 1, argv), EXIT_OK);
		assert_non_null(strstr(out, b->device_id));
		assert_non_null(strstr(out, "revision   6"));
		/* The certificate's expiry, a date (not "never"). */
		assert_non_null(strstr(out, "cert       expires 2"));
		assert_non_null(strstr(out, "not running"));
		/* The drift repaired above is the last one. */
		assert_non_null(strstr(out, "last drift"));
		assert_non_null(strstr(out, ": cursor repaired"));
		free(out);
		free(err);
	}
	free(pb);
}

static void test_agent_run_recheck_reconnects(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct ta_report r;
	char *p, *text;
	uint8_t *env;
	size_t len;

	ta_enroll_ok(f, b);
	/* No inotify here: the periodic re-check finds the drift. */
	b->ao.no_watch = true;
	b->ao.recheck_ms = 300;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 9, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	p = tu_path(b->home, ".factory/mcp.json");
	tu_write(p, "{\"mcpServers\": {\"own\": {\"command\": \"x\"}}}\n", 42);
	free(p);
	assert_true(ta_wait(f, &f->core.reports, 2));
	r = ta_last_report(f);
	assert_true(r.drift[ta_report_host(&r, "droid")]);
	assert_false(r.drift[ta_report_host(&r, "cursor")]);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "\"own\""));
	free(text);
	/* The server goes away; the agent comes back, saying what it has. */
	pthread_mutex_lock(&f->core.mu);
	f->core.close_after = true;
	pthread_mutex_unlock(&f->core.mu);
	net_wake(f->net);
	assert_true(ta_wait(f, &f->core.hellos, 2));
	pthread_mutex_lock(&f->core.mu);
	assert_int_equal(f->core.hello_revision, 9);
	pthread_mutex_unlock(&f->core.mu);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
}

static void test_agent_run_revocation(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *text, *log, *p;
	uint8_t *env, *payload;
	size_t len, plen;

	ta_enroll_ok(f, b);
	p = tu_path(b->mfhome, "mcp.json");
	tu_write(p, TA_PERSONAL, strlen(TA_PERSONAL));
	free(p);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 1, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);

	/* A revocation signed by another key, and one without a signature:
	 * ignored. */
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env = ta_sign(f, f->rogue, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	ta_push_env(f, env, len);
	payload = ta_revocation_payload(TA_USER, b->device_id, 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	{
		Mcpfleet__V1__SignedEnvelope *e =
		    mcpfleet__v1__signed_envelope__unpack(NULL, len, env);
		size_t flen;
		uint8_t *frame;
		Mcpfleet__V1__ServerFrame fr;

		assert_non_null(e);
		e->signature.len = 0;
		mcpfleet__v1__server_frame__init(&fr);
		fr.body_case = MCPFLEET__V1__SERVER_FRAME__BODY_ENVELOPE;
		fr.envelope = e;
		flen = mcpfleet__v1__server_frame__get_packed_size(&fr);
		frame = malloc(flen);
		mcpfleet__v1__server_frame__pack(&fr, frame);
		mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
		free(env);
		ta_push(f, frame, flen);
	}
	/* A revocation for another device of the same user. */
	payload = ta_revocation_payload(TA_USER, "dev-other-laptop", 2, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 2, &len);
	ta_push_env(f, env, len);
	/* Revision 2 proves the agent is still serving. */
	env = ta_catalogue_env(f, b->device_id, 2, TA_FLEET2, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 2));
	assert_true(enrollment_exists(b->mfhome));
	assert_true(ta_exists(b->mfhome, "device.key"));
	log = ta_log(b);
	assert_non_null(
	    strstr(log, "ignored a revocation envelope that does not verify"));
	free(log);

	/* The real one. */
	payload = ta_revocation_payload(TA_USER, b->device_id, 3, &plen);
	env =
	    ta_sign(f, f->signer, ENVELOPE_REVOCATION, payload, plen, 3, &len);
	ta_push_env(f, env, len);
	assert_int_equal(ta_agent_join(b), EXIT_REVOKED);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_null(strstr(text, "jira.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);
	assert_false(ta_exists(b->mfhome, "device.key"));
	assert_false(ta_exists(b->mfhome, "device.crt"));
	assert_false(ta_exists(b->mfhome, "enrollment.json"));
	assert_false(ta_exists(b->mfhome, "catalogue.pb"));
	assert_true(ta_exists(b->mfhome, "mcp.json"));
	log = ta_log(b);
	assert_non_null(strstr(log, "revoked"));
	assert_non_null(strstr(log, "laptop lost"));
	free(log);
	/* The next run knows it is not enrolled. */
	assert_int_equal(agent_run(&b->ao), EXIT_NOT_ENROLLED);
}

static void test_agent_unenroll(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *out = NULL, *err = NULL, *text, *p;
	char *sync[] = {"sync"}, *unenroll[] = {"unenroll"};
	uint8_t *env;
	size_t len;
	struct agent_state st = {0};
	struct diag d;

	ta_enroll_local(f, b);
	p = tu_path(b->mfhome, "mcp.json");
	tu_write(p, TA_PERSONAL, strlen(TA_PERSONAL));
	free(p);
	env = ta_catalogue_env(f, "dev-local", 7, TA_FLEET, &len);
	ta_write_pb(b, env, len);
	free(env);
	assert_int_equal(ta_cli(b, &out, &err, 1, sync), EXIT_OK);
	free(out);
	free(err);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_non_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);

	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_OK);
	assert_non_null(strstr(out, "unenrolled dev-local"));
	free(out);
	free(err);
	text = ta_read_rel(b, ".factory/mcp.json");
	assert_null(strstr(text, "gh.example"));
	assert_non_null(strstr(text, "my-server"));
	free(text);
	assert_true(ta_no_enrollment_files(b->mfhome));
	assert_false(ta_exists(b->mfhome, "catalogue.pb"));
	p = tu_path(b->mfhome, "state.json");
	assert_int_equal(state_load(p, &st, &d), 0);
	assert_int_equal(st.revision, 0);
	state_clear(&st);
	free(p);

	/* Twice: not enrolled. */
	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_NOT_ENROLLED);
	assert_non_null(strstr(err, "not enrolled"));
	free(out);
	free(err);
	/* run says the same. */
	assert_int_equal(agent_run(&b->ao), EXIT_NOT_ENROLLED);
}

static void test_agent_unenroll_while_running(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *out = NULL, *err = NULL, *text;
	char *unenroll[] = {"unenroll"};
	uint8_t *env;
	size_t len;

	ta_enroll_ok(f, b);
	b->ao.recheck_ms = 100;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.hellos, 1));
	env = ta_catalogue_env(f, b->device_id, 3, TA_FLEET, &len);
	ta_push_env(f, env, len);
	assert_true(ta_wait(f, &f->core.reports, 1));
	/* The agent re-checks every 100 ms: it must not put the entries
	 * back, and it stops by itself. */
	assert_int_equal(ta_cli(b, &out, &err, 1, unenroll), EXIT_OK);
	free(out);
	free(err);
	assert_int_equal(ta_agent_join(b), EXIT_NOT_ENROLLED);
	tu_sleep_ms(250);
	text = ta_read_rel(b, ".cursor/mcp.json");
	assert_true(text == NULL || strstr(text, "gh.example") == NULL);
	free(text);
	assert_true(ta_no_enrollment_files(b->mfhome));
}

/* ---- Certificate renewal ---- */

/* A server that does not know RenewRequest closes the connection (1002):
 * the agent reconnects and is served as before, and asks again only hours
 * later, not on every connection. */
static void test_agent_renew_old_server(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *log;

	ta_enroll_ok(f, b);
	b->ao.renew_before_s = 2 * 86400; /* the 1-day certificate is due */
	pthread_mutex_lock(&f->core.mu);
	f->core.renew_unknown = true;
	pthread_mutex_unlock(&f->core.mu);
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.renews, 1));
	assert_true(ta_wait(f, &f->core.hellos, 2));
	/* Many reconnect delays (50 to 200 ms here) later: no second
	 * request, no second close. */
	usleep(1500 * 1000);
	assert_int_equal(ta_get(f, &f->core.renews), 1);
	assert_int_equal(ta_get(f, &f->core.hellos), 2);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	log = ta_log(b);
	assert_non_null(strstr(log, "asking for a new one"));
	assert_non_null(strstr(log, "a server without renewal?"));
	assert_non_null(strstr(log, "trying again in 21600 s"));
	free(log);
	/* The enrolled credentials are untouched. */
	assert_false(ta_exists(b->mfhome, ENROLLMENT_RENEWED));
}

/* A refusal keeps the connection and the certificate; no new request
 * for hours. */
static void test_agent_renew_refused(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	char *log, *before, *after;

	ta_enroll_ok(f, b);
	before = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_CERT);
	b->ao.renew_before_s = 2 * 86400;
	ta_agent_start(b);
	assert_true(ta_wait(f, &f->core.renews, 1));
	usleep(800 * 1000);
	assert_int_equal(ta_get(f, &f->core.renews), 1);
	assert_int_equal(ta_get(f, &f->core.closes), 0);
	assert_int_equal(ta_agent_stop(b), EXIT_OK);
	log = ta_log(b);
	assert_non_null(strstr(log,
	                       "certificate renewal refused: " TA_RENEW_REFUSAL
	                       "; trying again in 6 h"));
	free(log);
	after = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_CERT);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* Installing a renewed certificate: checked first, then key and
 * certificate in one file, then in place; an interrupted installation is
 * finished at the next start, a torn one dropped. */
static void test_agent_renew_install(void **state)
{
	struct ta_box *b = *state;
	struct ta_fixture *f = ta_fx;
	struct certrenew r = {0};
	struct crypto_key *other = NULL;
	char *cert, *bad, *p, *text, *key_pem = NULL;
	size_t len, blen, klen = 0;
	int64_t not_after = 0;
	uint8_t *frame = NULL;
	bool done = true;
	struct diag d;

	ta_enroll_ok(f, b);
	/* Nothing to finish. */
	tu_ok(certrenew_finish(b->mfhome, &done, &d), &d);
	assert_false(done);
	tu_ok(certrenew_start(f->rng, b->device_id, &r, &frame, &len, &d), &d);
	free(frame);
	/* A certificate for another key, or another device: refused,
	 * nothing written, and the key is gone. */
	tu_ok(crypto_key_generate(f->rng, &other, &d), &d);
	bad = ta_issue(f, other, b->device_id, CRYPTO_PURPOSE_CLIENT, NULL, 0,
	               &blen);
	assert_int_equal(certrenew_install(b->mfhome, b->device_id,
	                                   f->ca.cert_pem, f->ca.cert_len, &r,
	                                   (const uint8_t *)bad, blen,
	                                   &not_after, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "another key"));
	assert_null(r.key);
	assert_false(ta_exists(b->mfhome, ENROLLMENT_RENEWED));
	free(bad);
	tu_ok(certrenew_start(f->rng, b->device_id, &r, &frame, &len, &d), &d);
	free(frame);
	cert = ta_issue(f, r.key, "dev-someone-else", CRYPTO_PURPOSE_CLIENT,
	                NULL, 0, &len);
	assert_int_equal(certrenew_install(b->mfhome, b->device_id,
	                                   f->ca.cert_pem, f->ca.cert_len, &r,
	                                   (const uint8_t *)cert, len,
	                                   &not_after, &d),
	                 -ERR_INVALID);
	assert_non_null(strstr(d.msg, "is not the device id"));
	free(cert);
	/* The right one: in place, the intermediate file gone. */
	tu_ok(certrenew_start(f->rng, b->device_id, &r, &frame, &len, &d), &d);
	free(frame);
	tu_ok(crypto_key_write_private(r.key, &key_pem, &klen, &d), &d);
	cert = ta_issue(f, r.key, b->device_id, CRYPTO_PURPOSE_CLIENT, NULL, 0,
	                &len);
	tu_ok(certrenew_install(b->mfhome, b->device_id, f->ca.cert_pem,
	                        f->ca.cert_len, &r, (const uint8_t *)cert, len,
	                        &not_after, &d),
	      &d);
	assert_true(not_after > (int64_t)time(NULL));
	assert_false(ta_exists(b->mfhome, ENROLLMENT_RENEWED));
	text = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_CERT);
	assert_string_equal(text, cert);
	free(text);
	text = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_KEY);
	assert_string_equal(text, key_pem);
	free(text);
	/* A crash after the intermediate file: the next start finishes. */
	p = tu_path(b->mfhome, ENROLLMENT_RENEWED);
	{
		struct buf both = BUF_INIT;
		char *okey = NULL, *ocert;
		size_t olen = 0, oclen;

		tu_ok(crypto_key_write_private(other, &okey, &olen, &d), &d);
		ocert = ta_issue(f, other, b->device_id, CRYPTO_PURPOSE_CLIENT,
		                 NULL, 0, &oclen);
		assert_int_equal(buf_append(&both, okey, olen), 0);
		assert_int_equal(buf_append(&both, ocert, oclen), 0);
		tu_write(p, both.data, both.len);
		tu_ok(certrenew_finish(b->mfhome, &done, &d), &d);
		assert_true(done);
		assert_false(ta_exists(b->mfhome, ENROLLMENT_RENEWED));
		text = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_CERT);
		assert_string_equal(text, ocert);
		free(text);
		/* A torn one (the key of one, the certificate of another)
		 * is dropped, the installed pair kept. */
		buf_reset(&both);
		assert_int_equal(buf_append(&both, key_pem, klen), 0);
		assert_int_equal(buf_append(&both, ocert, oclen), 0);
		tu_write(p, both.data, both.len);
		tu_ok(certrenew_finish(b->mfhome, &done, &d), &d);
		assert_false(done);
		assert_false(ta_exists(b->mfhome, ENROLLMENT_RENEWED));
		text = ta_read_rel(b, ".mcpfleet/" ENROLLMENT_CERT);
		assert_string_equal(text, ocert);
		free(text);
		buf_free(&both);
		crypto_secret_free(okey, olen);
		free(ocert);
	}
	/* And the credentials load. */
	{
		struct enrollment_creds c;

		tu_ok(enrollment_creds_load(b->mfhome, &c, &d), &d);
		enrollment_creds_clear(&c);
	}
	free(p);
	free(cert);
	crypto_secret_free(key_pem, klen);
	crypto_key_free(other);
}

static void test_agent_backoff(void **state)
{
	unsigned i, d;

	(void)state;
	assert_int_equal(agent_backoff_ms(0, 1000, 60000, 0), 500);
	assert_int_equal(agent_backoff_ms(0, 1000, 60000, 0x80000000u), 1000);
	assert_true(agent_backoff_ms(0, 1000, 60000, 0xffffffffu) < 1500);
	assert_int_equal(agent_backoff_ms(1, 1000, 60000, 0x80000000u), 2000);
	assert_int_equal(agent_backoff_ms(5, 1000, 60000, 0x80000000u), 32000);
	for (i = 6; i < 40; i++) {
		d = agent_backoff_ms(i, 1000, 60000, 0x80000000u);
		assert_int_equal(d, 60000);
		assert_true(agent_backoff_ms(i, 1000, 60000, 0) >= 30000);
		assert_true(agent_backoff_ms(i, 1000, 60000, 0xffffffffu) <
		            90000);
	}
	/* After a lost connection: spread over ten times the first delay. */
	assert_int_equal(agent_respread_ms(1000, 0, 0), 500);
	assert_int_equal(agent_respread_ms(1000, 0, 0x80000000u), 5500);
	/* A replica's advice widens the window, within AGENT_RESPREAD_MAX;
	 * one narrower than the agent's own changes nothing. */
	assert_int_equal(agent_respread_ms(1000, 25000, 0x80000000u), 13000);
	assert_int_equal(agent_respread_ms(1000, 5000, 0x80000000u), 5500);
	assert_int_equal(agent_respread_ms(1000, 900000, 0x80000000u),
	                 500 + AGENT_RESPREAD_MAX / 2);
	d = agent_respread_ms(1000, 0, 0xffffffffu);
	assert_true(d >= 10400 && d < 10500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_backoff),
	    cmocka_unit_test_setup_teardown(test_agent_renew_old_server,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_renew_refused, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_renew_install, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_link_bad, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_ok, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_refused, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_bad_answer,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_atomic, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_enroll_bad_replicas,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_replicas_failover,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_agent_catalogue_tamper_rejected, ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_launcher_entries,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_apply_replay_drift,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_recheck_reconnects,
	                                    ta_setup, ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_run_revocation, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_unenroll, ta_setup,
	                                    ta_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_unenroll_while_running,
	                                    ta_setup, ta_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, ta_group_setup, ta_group_teardown);
}
