/* SPDX-License-Identifier: MIT */
/* Unit tests: client/sync.c over a sandbox home, as "mcpfleet sync" runs it. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "catalogue.h"
#include "fileio.h"
#include "personal.h"
#include "sync.h"

struct sandbox {
	char *home;  /* the fake $HOME */
	char *mfdir; /* $MCPFLEET_HOME */
	struct host_env env;
	char *out, *err; /* what the last run printed */
	size_t outlen, errlen;
	bool unset_set_var;  /* SET_VAR missing, as from a systemd unit */
	const char *set_var; /* SET_VAR's value; NULL: "value-of-set-var" */
};

static const char *sandbox_getenv(void *ctx, const char *name)
{
	struct sandbox *sb = ctx;

	if (strcmp(name, "HOME") == 0)
		return sb->home;
	if (strcmp(name, "SET_VAR") == 0 && !sb->unset_set_var)
		return sb->set_var ? sb->set_var : "value-of-set-var";
	return NULL;
}

static int sandbox_setup(void **state)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	sb->home = tu_mkdtemp();
	sb->mfdir = tu_path(sb->home, ".mcpfleet");
	sb->env.os = HOST_OS_LINUX;
	sb->env.getenv = sandbox_getenv;
	sb->env.ctx = sb;
	*state = sb;
	return 0;
}

static int sandbox_teardown(void **state)
{
	struct sandbox *sb = *state;

	tu_rmtree(sb->home);
	free(sb->home);
	free(sb->mfdir);
	free(sb->out);
	free(sb->err);
	free(sb);
	return 0;
}

/* Makes host directories (relative to home) exist. */
static void sandbox_dirs(struct sandbox *sb, const char *const *dirs)
{
	size_t i;

	for (i = 0; dirs[i] != NULL; i++) {
		char *p = tu_path(sb->home, dirs[i]);

		assert_int_equal(fileio_mkdirs(p, 0755), 0);
		free(p);
	}
}

static void sandbox_file(struct sandbox *sb, const char *rel, const char *text)
{
	char *p = tu_path(sb->home, rel);

	tu_write(p, text, strlen(text));
	free(p);
}

static char *sandbox_read(struct sandbox *sb, const char *rel)
{
	char *p = tu_path(sb->home, rel), *t = NULL;
	size_t n;

	if (fileio_exists(p))
		t = tu_read(p, &n);
	free(p);
	return t;
}

static bool sandbox_exists(struct sandbox *sb, const char *rel)
{
	char *p = tu_path(sb->home, rel);
	bool e = fileio_exists(p);

	free(p);
	return e;
}

/* Runs a sync of the catalogue text (and fleet text, may be NULL). */
static int sandbox_sync(struct sandbox *sb, const char *personal,
                        const char *fleet, bool dry_run, bool json)
{
	struct catalogue_opts po = {.host_known = adapter_known};
	struct catalogue_opts fo = {.host_known = adapter_known,
	                            .allow_secret_refs = true};
	struct catalogue pc = {0}, fc = {0};
	struct diag d;
	FILE *out, *err;
	int code;

	free(sb->out);
	free(sb->err);
	out = open_memstream(&sb->out, &sb->outlen);
	err = open_memstream(&sb->err, &sb->errlen);
	assert_int_equal(
	    catalogue_parse(personal, strlen(personal), &po, &pc, &d), 0);
	if (fleet != NULL)
		assert_int_equal(
		    catalogue_parse(fleet, strlen(fleet), &fo, &fc, &d), 0);
	{
		struct sync_opts o = {
		    .home = sb->mfdir,
		    .env = &sb->env,
		    .dry_run = dry_run,
		    .json = json,
		    .out = out,
		    .err = err,
		};
		code = sync_run(&o, &pc, fleet ? &fc : NULL, 7);
	}
	fclose(out);
	fclose(err);
	catalogue_clear(&pc);
	catalogue_clear(&fc);
	return code;
}

static const char *const all_dirs[] = {
    ".claude", ".codex",           ".factory",       ".cursor",
    ".gemini", ".config/opencode", ".config/Claude", NULL};

#define TWO_SERVERS                                                            \
	"{\"version\":1,\"servers\":{\"fs\":{\"command\":\"npx\",\"args\":"    \
	"[\"-y\",\"fs\"]},\"web\":{\"url\":\"http://127.0.0.1:3001/mcp\"}}}"
#define NO_SERVERS "{\"version\":1,\"servers\":{}}"

static void test_sync_writes_every_present_host(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".claude.json");
	assert_non_null(strstr(t, "\"fs\""));
	assert_non_null(strstr(t, "\"type\": \"http\""));
	free(t);
	t = sandbox_read(sb, ".codex/config.toml");
	assert_non_null(strstr(t, "[mcp_servers.fs]\ncommand = \"npx\"\n"));
	assert_non_null(strstr(t, "[mcp_servers.web]\nurl = "));
	free(t);
	t = sandbox_read(sb, ".config/Claude/claude_desktop_config.json");
	assert_non_null(strstr(t, "\"fs\""));
	assert_null(strstr(t, "\"web\"")); /* remote: not for Claude Desktop */
	free(t);
	assert_true(sandbox_exists(sb, ".factory/mcp.json"));
	assert_true(sandbox_exists(sb, ".cursor/mcp.json"));
	assert_true(sandbox_exists(sb, ".gemini/settings.json"));
	assert_true(sandbox_exists(sb, ".config/opencode/opencode.json"));
	assert_true(sandbox_exists(sb, ".mcpfleet/state.json"));
	assert_non_null(strstr(sb->err, "claude-desktop: web skipped"));
}

static void test_sync_absent_hosts_are_not_created(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};

	sandbox_dirs(sb, dirs);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	assert_true(sandbox_exists(sb, ".cursor/mcp.json"));
	assert_false(sandbox_exists(sb, ".codex"));
	assert_false(sandbox_exists(sb, ".claude.json"));
	assert_false(sandbox_exists(sb, ".gemini"));
	assert_non_null(strstr(sb->out, "codex           absent"));
}

static void test_sync_blocks_only_the_broken_host(void **state)
{
	struct sandbox *sb = *state;
	const char *bad = "[mcp_servers.x]\ncommand = \"a\"\ncommand = \"b\"\n";
	char *t;

	sandbox_dirs(sb, all_dirs);
	sandbox_file(sb, ".codex/config.toml", bad);
	sandbox_file(sb, ".gemini/settings.json", "{\n  \"a\": 1,,\n}\n");
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_BLOCKED);
	t = sandbox_read(sb, ".codex/config.toml");
	assert_string_equal(t, bad);
	free(t);
	assert_false(sandbox_exists(sb, ".codex/config.toml.bak"));
	assert_non_null(strstr(sb->err, "/.codex/config.toml:3:"));
	assert_non_null(strstr(sb->err, "host skipped, file unchanged"));
	assert_non_null(strstr(sb->err, "/.gemini/settings.json:2:"));
	/* The other hosts went on. */
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"web\""));
	free(t);
}

/* A host file that is a FIFO never hangs the sync (it is not even opened)
 * and is never replaced; the other hosts go on. */
static void test_sync_fifo_host_file_blocks_that_host(void **state)
{
	struct sandbox *sb = *state;
	char *p = tu_path(sb->home, ".cursor/mcp.json"), *t;
	struct stat st;
	int64_t t0;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(mkfifo(p, 0600), 0);
	t0 = tu_now_ms();
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_BLOCKED);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_non_null(strstr(sb->err, "/.cursor/mcp.json: not a regular file "
	                                "(a FIFO); host skipped, file "
	                                "unchanged"));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	t = sandbox_read(sb, ".gemini/settings.json");
	assert_non_null(strstr(t, "\"web\""));
	free(t);
	free(p);
}

/* Every file under home, with its bytes, as one string. */
static char *sandbox_snapshot(struct sandbox *sb)
{
	char cmd[8192];
	FILE *p;
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *mem = open_memstream(&buf, &len);

	(void)snprintf(cmd, sizeof(cmd),
	               "cd '%s' && find . -print | sort && find . -type f "
	               "-print0 | sort -z | xargs -0 -r cat",
	               sb->home);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, mem);
	pclose(p);
	fclose(mem);
	return buf;
}

static void test_sync_dry_run_writes_nothing(void **state)
{
	struct sandbox *sb = *state;
	char *before, *after;

	sandbox_dirs(sb, all_dirs);
	sandbox_file(sb, ".cursor/mcp.json", "{\"mcpServers\":{}}");
	assert_int_equal(sandbox_sync(sb, NO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	before = sandbox_snapshot(sb);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, true, false),
	                 EXIT_OK);
	after = sandbox_snapshot(sb);
	assert_string_equal(before, after);
	assert_non_null(strstr(sb->out, "+ fs"));
	assert_non_null(strstr(sb->out, "(would change)"));
	assert_non_null(strstr(sb->out, "dry run: nothing was written"));
	free(before);
	free(after);
}

static void test_sync_json_report(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", ".codex", NULL};
	json_t *j, *hosts, *h, *a;
	size_t i;

	sandbox_dirs(sb, dirs);
	sandbox_file(sb, ".cursor/mcp.json",
	             "{\"mcpServers\":{\"fs\":{\"command\":\"mine\"}}}");
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, true),
	                 EXIT_OK);
	j = json_loads(sb->out, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "dry_run")));
	assert_int_equal(json_integer_value(json_object_get(j, "exit")), 0);
	hosts = json_object_get(j, "hosts");
	assert_int_equal(json_array_size(hosts), adapter_count);
	json_array_foreach(hosts, i, h)
	{
		assert_string_equal(
		    json_string_value(json_object_get(h, "host")),
		    adapter_registry[i]->id);
		assert_non_null(json_object_get(h, "status"));
		assert_non_null(json_object_get(h, "actions"));
		assert_non_null(json_object_get(h, "managed"));
		assert_non_null(json_object_get(h, "warnings"));
	}
	h = json_array_get(hosts, 4); /* cursor */
	assert_string_equal(json_string_value(json_object_get(h, "status")),
	                    "ok");
	a = json_object_get(h, "actions");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(a, 0), "action")),
	    "conflict");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(a, 1), "action")),
	    "add");
	assert_int_equal(json_array_size(json_object_get(h, "managed")), 1);
	assert_int_equal(json_array_size(json_object_get(h, "warnings")), 1);
	assert_non_null(json_string_value(json_object_get(h, "backup")));
	h = json_array_get(hosts, 0); /* claude-code: not installed */
	assert_string_equal(json_string_value(json_object_get(h, "status")),
	                    "absent");
	json_decref(j);
}

static void test_sync_allowlist_change_removes(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(
	    sandbox_sync(sb,
	                 "{\"version\":1,\"servers\":{\"x\":{\"command\":"
	                 "\"a\",\"hosts\":[\"codex\",\"cursor\"]}}}",
	                 NULL, false, false),
	    EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"x\""));
	free(t);
	assert_false(sandbox_exists(sb, ".factory/mcp.json"));
	assert_int_equal(
	    sandbox_sync(sb,
	                 "{\"version\":1,\"servers\":{\"x\":{\"command\":"
	                 "\"a\",\"hosts\":[\"codex\"]}}}",
	                 NULL, false, false),
	    EXIT_OK);
	/* We made cursor's file, and it held only our entry: it goes. */
	assert_false(sandbox_exists(sb, ".cursor/mcp.json"));
	t = sandbox_read(sb, ".codex/config.toml");
	assert_non_null(strstr(t, "[mcp_servers.x]"));
	free(t);
}

static void test_sync_unset_variable_skips_and_warns(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(
	    sandbox_sync(sb,
	                 "{\"version\":1,\"servers\":{\"x\":{\"command\":"
	                 "\"a\",\"env\":{\"K\":\"${UNSET_VAR}\",\"S\":"
	                 "\"${SET_VAR}\"}},\"y\":{\"command\":\"b\",\"env\":"
	                 "{\"S\":\"pre-${SET_VAR}-post\"}}}}",
	                 NULL, false, false),
	    EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_null(strstr(t, "\"x\""));
	assert_non_null(strstr(t, "pre-value-of-set-var-post"));
	free(t);
	/* Droid too: resolved at sync time, like every host (Droid would
	 * fail the whole server on a variable of its own environment). */
	t = sandbox_read(sb, ".factory/mcp.json");
	assert_null(strstr(t, "\"x\""));
	assert_null(strstr(t, "${"));
	assert_non_null(strstr(t, "pre-value-of-set-var-post"));
	free(t);
	assert_non_null(strstr(sb->err, "${UNSET_VAR} is not set"));
	assert_non_null(strstr(sb->err, "droid: x skipped: env.K: "));
}

/* ${host:VAR} leaves VAR to the host's own expansion where the host has
 * one (Droid, in env and headers), and skips the server elsewhere. */
static void test_sync_host_variable_left_to_the_host(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(
	    sandbox_sync(sb,
	                 "{\"version\":1,\"servers\":{\"z\":{\"command\":"
	                 "\"a\",\"env\":{\"T\":\"Bearer ${host:TOK}\"}}}}",
	                 NULL, false, false),
	    EXIT_OK);
	t = sandbox_read(sb, ".factory/mcp.json");
	assert_non_null(strstr(t, "\"T\": \"Bearer ${TOK}\""));
	free(t);
	/* Nothing for Cursor: its file is not even created. */
	assert_false(sandbox_exists(sb, ".cursor/mcp.json"));
	assert_non_null(strstr(sb->err, "cursor: z skipped: env.T: ${host:TOK} "
	                                "asks the host to expand TOK itself, "
	                                "and this host does not expand "
	                                "variables there"));
}

#define HELD_X(arg)                                                            \
	"{\"version\":1,\"servers\":{\"x\":{\"command\":\"a\",\"args\":["      \
	"\"" arg                                                               \
	"\"],\"env\":{\"S\":\"${SET_VAR}\"}},\"y\":{\"command\":\"b\"}}}"

/*
 * A ${VAR} unset in a later run (a sync from a systemd unit, whose
 * environment lacks the shell's) keeps the entry written earlier, with a
 * warning; it goes only once the catalogue changes that server.
 */
static void test_sync_unset_variable_keeps_written_entry(void **state)
{
	struct sandbox *sb = *state;
	char *before, *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(sandbox_sync(sb, HELD_X("1"), NULL, false, false),
	                 EXIT_OK);
	before = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(before, "value-of-set-var"));

	sb->unset_set_var = true;
	assert_int_equal(sandbox_sync(sb, HELD_X("1"), NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_string_equal(t, before);
	free(t);
	assert_non_null(strstr(sb->err, "cursor: x kept as it was written: "
	                                "env.S: ${SET_VAR} is not set"));
	assert_non_null(strstr(sb->out,
	                       "  * x                        held: kept as "
	                       "written: env.S: ${SET_VAR} is not set"));
	/* Again (the no-op path): still held, still there. */
	assert_int_equal(sandbox_sync(sb, HELD_X("1"), NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_string_equal(t, before);
	free(t);
	/* The catalogue changes x: the old entry no longer stands. */
	assert_int_equal(sandbox_sync(sb, HELD_X("2"), NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_null(strstr(t, "\"x\""));
	assert_non_null(strstr(t, "\"y\""));
	free(t);
	/* Set again: written from the new definition. */
	sb->unset_set_var = false;
	assert_int_equal(sandbox_sync(sb, HELD_X("2"), NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "value-of-set-var"));
	assert_non_null(strstr(t, "\"2\""));
	free(t);
	free(before);
}

static void test_sync_disabled_per_host(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(sandbox_sync(sb,
	                              "{\"version\":1,\"servers\":{\"x\":{"
	                              "\"command\":\"a\",\"disabled\":true}}}",
	                              NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".codex/config.toml");
	assert_non_null(strstr(t, "enabled = false"));
	free(t);
	t = sandbox_read(sb, ".factory/mcp.json");
	assert_non_null(strstr(t, "\"disabled\": true"));
	free(t);
	t = sandbox_read(sb, ".config/opencode/opencode.json");
	assert_non_null(strstr(t, "\"enabled\": false"));
	free(t);
	/* No disabled flag: no entry. */
	assert_false(sandbox_exists(sb, ".cursor/mcp.json"));
	assert_false(sandbox_exists(sb, ".gemini/settings.json"));
}

static void test_sync_no_write_when_unchanged(void **state)
{
	struct sandbox *sb = *state;
	char *p = tu_path(sb->home, ".factory/mcp.json");
	char *bak = tu_path(sb->home, ".factory/mcp.json.bak");
	struct stat a, b;

	sandbox_dirs(sb, all_dirs);
	sandbox_file(sb, ".factory/mcp.json", "{\"mcpServers\":{}}\n");
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	tu_assert_file_eq(bak, "{\"mcpServers\":{}}\n", 18);
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0640); /* mode kept */
	assert_int_equal(unlink(bak), 0);
	usleep(20000);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	assert_false(fileio_exists(bak)); /* no backup without a write */
	assert_non_null(strstr(sb->out, "(unchanged)"));
	free(p);
	free(bak);
}

static void test_sync_self_heals_dropped_entries(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	/* The host rewrites its file and drops our entries. */
	sandbox_file(sb, ".cursor/mcp.json", "{\"mcpServers\":{}}");
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"fs\""));
	assert_non_null(strstr(t, "\"web\""));
	free(t);
}

static void test_sync_fleet_wins_name_clash(void **state)
{
	struct sandbox *sb = *state;
	char *t;

	sandbox_dirs(sb, all_dirs);
	assert_int_equal(
	    sandbox_sync(sb, TWO_SERVERS,
	                 "{\"version\":1,\"servers\":{\"fs\":{\"command\":"
	                 "\"fleet-fs\"}}}",
	                 false, false),
	    EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "fleet-fs"));
	assert_null(strstr(t, "\"npx\""));
	free(t);
	assert_non_null(strstr(sb->err, "personal server 'fs' is shadowed"));
	t = sandbox_read(sb, ".mcpfleet/state.json");
	assert_non_null(strstr(t, "\"revision\": 7"));
	free(t);
}

static void test_sync_bad_state_is_a_config_error(void **state)
{
	struct sandbox *sb = *state;

	sandbox_dirs(sb, all_dirs);
	sandbox_file(sb, ".mcpfleet/state.json",
	             "{\"version\": 1, \"hosts\": [");
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_CONFIG);
	assert_non_null(strstr(sb->err, "state.json:1:"));
	assert_false(sandbox_exists(sb, ".cursor/mcp.json"));
}

static void test_sync_personal_load_names_file(void **state)
{
	struct sandbox *sb = *state;
	struct catalogue c = {0};
	struct diag d;
	char *p = tu_path(sb->home, "mcp.json");

	sandbox_file(sb, "mcp.json",
	             "{\"version\":1,\n\"servers\":{\"a b\":{}}}");
	assert_int_equal(personal_load(p, &c, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "/mcp.json: server name 'a b'"));
	sandbox_file(sb, "mcp.json", "{\"version\":1,\n\"servers\":{,}}");
	assert_int_equal(personal_load(p, &c, &d), -ERR_PARSE);
	assert_non_null(strstr(d.msg, "/mcp.json:2:"));
	free(p);
}

/*
 * The no-op fast path. Each case syncs, lets the files age past the
 * settling time, syncs again (a no-op that leaves the record), then changes
 * one input: the next sync must notice, or the case fails.
 */
static void sandbox_recorded(struct sandbox *sb, const char *catalogue)
{
	char *rec = tu_path(sb->mfdir, "sync.fast");

	assert_int_equal(sandbox_sync(sb, catalogue, NULL, false, false),
	                 EXIT_OK);
	usleep(40000);
	assert_int_equal(sandbox_sync(sb, catalogue, NULL, false, false),
	                 EXIT_OK);
	if (!fileio_exists(rec)) { /* a write of ours settled late */
		usleep(40000);
		assert_int_equal(
		    sandbox_sync(sb, catalogue, NULL, false, false), EXIT_OK);
	}
	assert_true(fileio_exists(rec));
	free(rec);
}

static void test_sync_fast_noop_replays_the_record(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", ".codex", NULL};
	char *rec = tu_path(sb->mfdir, "sync.fast"), *full, *t, *at;
	size_t n;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, TWO_SERVERS);
	full = strdup(sb->out);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	assert_string_equal(sb->out, full); /* the same report */
	/* The report comes from the record: a name changed in it shows. */
	t = tu_read(rec, &n);
	for (at = t; at + 6 <= t + n; at++)
		if (memcmp(at, "\2\0\0\0fs", 6) == 0)
			at[5] = 'z';
	tu_write(rec, t, n);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	assert_non_null(strstr(sb->out, "= fz "));
	free(t);
	free(full);
	free(rec);
}

static void test_sync_fast_sees_an_edit_that_keeps_size_and_mtime(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	char *p = tu_path(sb->home, ".cursor/mcp.json"), *t, *at;
	struct timespec times[2];
	struct stat st;
	int fd;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, TWO_SERVERS);
	/* The user edits our entry in place, same size, and puts the
	 * mtime back: only the ctime tells. */
	assert_int_equal(stat(p, &st), 0);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(at = strstr(t, "\"npx\""));
	assert_true((fd = open(p, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "npz", 3, at + 1 - t), 3);
	assert_int_equal(close(fd), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
	free(t);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"npx\""));
	assert_null(strstr(t, "\"npz\""));
	free(t);
	free(p);
}

#define VAR_SERVER                                                             \
	"{\"version\":1,\"servers\":{\"fs\":{\"command\":\"npx\",\"args\":"    \
	"[\"--token\",\"${SET_VAR}\"]}}}"

static void test_sync_fast_sees_an_environment_change(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	char *t;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, VAR_SERVER);
	sb->set_var = "another-value";
	assert_int_equal(sandbox_sync(sb, VAR_SERVER, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "another-value"));
	assert_null(strstr(t, "value-of-set-var"));
	free(t);
}

static void test_sync_fast_sees_a_new_host(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	const char *const more[] = {".codex", NULL};
	char *t;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, TWO_SERVERS);
	sandbox_dirs(sb, more);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".codex/config.toml");
	assert_non_null(t);
	assert_non_null(strstr(t, "[mcp_servers.fs]"));
	free(t);
}

static void test_sync_fast_sees_a_removed_file(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	char *p = tu_path(sb->home, ".cursor/mcp.json"), *t;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, TWO_SERVERS);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(t);
	assert_non_null(strstr(t, "\"fs\""));
	free(t);
	free(p);
}

static void test_sync_fast_sees_a_catalogue_change(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	char *t;

	sandbox_dirs(sb, dirs);
	sandbox_recorded(sb, TWO_SERVERS);
	/* The same servers, one command changed. */
	assert_int_equal(
	    sandbox_sync(sb,
	                 "{\"version\":1,\"servers\":{\"fs\":{\"command\":"
	                 "\"uvx\",\"args\":[\"-y\",\"fs\"]},\"web\":{\"url\":"
	                 "\"http://127.0.0.1:3001/mcp\"}}}",
	                 NULL, false, false),
	    EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"uvx\""));
	assert_null(strstr(t, "\"npx\""));
	free(t);
}

/*
 * state.json records each entry's inputs. An entry of a file the user
 * edited since is planned afresh even when its server did not change; a
 * record of inputs that does not fit (one digit short) is none.
 */
static void test_sync_known_entries_and_edits(void **state)
{
	struct sandbox *sb = *state;
	const char *const dirs[] = {".cursor", NULL};
	const char *web2 = "{\"version\":1,\"servers\":{\"fs\":{\"command\":"
	                   "\"npx\",\"args\":[\"-y\",\"fs\"]},\"web\":{\"url\":"
	                   "\"http://127.0.0.1:3002/mcp\"}}}";
	char *t, *at;

	sandbox_dirs(sb, dirs);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".mcpfleet/state.json");
	assert_non_null(strstr(t, "\"inputs\""));
	free(t);
	/* The user edits fs; the catalogue changes web. */
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(at = strstr(t, "\"-y\""));
	memcpy(at, "\"-n\"", 4);
	sandbox_file(sb, ".cursor/mcp.json", t);
	free(t);
	assert_int_equal(sandbox_sync(sb, web2, NULL, false, false), EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"-y\""));
	assert_null(strstr(t, "\"-n\""));
	assert_non_null(strstr(t, "3002"));
	free(t);
	/* Inputs one digit short: ignored, the plan is a full one. */
	t = sandbox_read(sb, ".mcpfleet/state.json");
	assert_non_null(at = strstr(t, "\"inputs\": ["));
	/* The table's first string, one digit fewer. */
	assert_non_null(at = strchr(at + strlen("\"inputs\": ["), '"'));
	memmove(at + 1, at + 2, strlen(at + 2) + 1);
	sandbox_file(sb, ".mcpfleet/state.json", t);
	free(t);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(at = strstr(t, "\"-y\""));
	memcpy(at, "\"-n\"", 4);
	sandbox_file(sb, ".cursor/mcp.json", t);
	free(t);
	assert_int_equal(sandbox_sync(sb, TWO_SERVERS, NULL, false, false),
	                 EXIT_OK);
	t = sandbox_read(sb, ".cursor/mcp.json");
	assert_non_null(strstr(t, "\"-y\""));
	assert_non_null(strstr(t, "3001"));
	free(t);
}

#define SB_TEST(fn)                                                            \
	cmocka_unit_test_setup_teardown(fn, sandbox_setup, sandbox_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    SB_TEST(test_sync_writes_every_present_host),
	    SB_TEST(test_sync_absent_hosts_are_not_created),
	    SB_TEST(test_sync_blocks_only_the_broken_host),
	    SB_TEST(test_sync_fifo_host_file_blocks_that_host),
	    SB_TEST(test_sync_unset_variable_keeps_written_entry),
	    SB_TEST(test_sync_host_variable_left_to_the_host),
	    SB_TEST(test_sync_dry_run_writes_nothing),
	    SB_TEST(test_sync_json_report),
	    SB_TEST(test_sync_allowlist_change_removes),
	    SB_TEST(test_sync_unset_variable_skips_and_warns),
	    SB_TEST(test_sync_disabled_per_host),
	    SB_TEST(test_sync_no_write_when_unchanged),
	    SB_TEST(test_sync_self_heals_dropped_entries),
	    SB_TEST(test_sync_fleet_wins_name_clash),
	    SB_TEST(test_sync_bad_state_is_a_config_error),
	    SB_TEST(test_sync_personal_load_names_file),
	    SB_TEST(test_sync_fast_noop_replays_the_record),
	    SB_TEST(test_sync_fast_sees_an_edit_that_keeps_size_and_mtime),
	    SB_TEST(test_sync_fast_sees_an_environment_change),
	    SB_TEST(test_sync_fast_sees_a_new_host),
	    SB_TEST(test_sync_fast_sees_a_removed_file),
	    SB_TEST(test_sync_fast_sees_a_catalogue_change),
	    SB_TEST(test_sync_known_entries_and_edits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
