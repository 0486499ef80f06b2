/* SPDX-License-Identifier: MIT */
/*
 * Golden tests per host: tests/golden/<host>/<case>/ holds "before" (the
 * host file as the user has it; absent when there is none), "after" (the
 * exact bytes expected once the catalogue is synced) and optionally its own
 * "catalogue.json" (else tests/golden/catalogue.json). Each case checks:
 * sync gives "after" byte for byte; a second sync changes nothing; syncing
 * an empty catalogue gives "before" back byte for byte (or no file).
 * MCPFLEET_GOLDEN_UPDATE=1 rewrites the "after" files, for review.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "catalogue.h"
#include "fileio.h"
#include "hostfile.h"

/* The sandbox the adapters see. */
struct test_env {
	const char *home;
	enum host_os os;
};

static const char *test_adapters_getenv(void *ctx, const char *name)
{
	const struct test_env *te = ctx;

	if (strcmp(name, "HOME") == 0)
		return te->home;
	if (strcmp(name, "TEST_TOKEN") == 0)
		return "tok-e-123"; /* a header value: ASCII */
	if (strcmp(name, "TEST_LEVEL") == 0)
		return "debug";
	if (strcmp(name, "TEST_BRACES") == 0)
		return "${HOME}";
	return NULL;
}

static void test_adapters_env(struct test_env *te, struct host_env *env)
{
	env->os = te->os;
	env->getenv = test_adapters_getenv;
	env->ctx = te;
}

static void test_adapters_load(const char *path, struct catalogue *c)
{
	struct catalogue_opts opts = {.host_known = adapter_known};
	struct diag d;
	size_t len;
	char *text = tu_read(path, &len);

	if (catalogue_parse(text, len, &opts, c, &d) != 0)
		fail_msg("%s: %s", path, d.msg);
	free(text);
}

/* Plans and applies one sync; returns the plan's new state. */
static void test_adapters_sync(const struct adapter *a,
                               const struct host_env *env,
                               const struct catalogue *c,
                               const struct host_state *prev,
                               struct host_plan *p)
{
	assert_int_equal(hostfile_plan(a, env, c->servers, c->n, prev, p), 0);
	if (p->status != HOST_OK)
		fail_msg("%s: status %s: %s", a->id,
		         host_status_name(p->status),
		         p->message ? p->message : "");
	assert_int_equal(hostfile_apply(p), 0);
}

static void test_adapters_run_case(const struct adapter *a, const char *dir)
{
	struct test_env te = {0};
	struct host_env env;
	struct host_location loc = {0};
	struct catalogue c = {0}, empty = {0};
	struct host_plan p1 = {0}, p2 = {0}, p3 = {0};
	struct diag d;
	char *before_path = tu_path(dir, "before");
	char *after_path = tu_path(dir, "after");
	char *cat_path = tu_path(dir, "catalogue.json");
	char *home = tu_mkdtemp(), *hostdir, *before = NULL, *got;
	size_t before_len = 0, got_len, i;
	bool has_before = fileio_exists(before_path), conflict = false;

	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	if (!fileio_exists(cat_path)) {
		free(cat_path);
		cat_path = tu_path(TEST_DATA, "golden/catalogue.json");
	}
	test_adapters_load(cat_path, &c);
	assert_int_equal(a->locate(&env, &loc, &d), 0);
	hostdir = fileio_dirname(loc.path);
	assert_int_equal(fileio_mkdirs(hostdir, 0755), 0);
	assert_int_equal(fileio_mkdirs(loc.marker, 0755), 0);
	if (has_before) {
		before = tu_read(before_path, &before_len);
		tu_write(loc.path, before, before_len);
	}

	/* 1. The sync writes exactly the golden bytes. */
	test_adapters_sync(a, &env, &c, NULL, &p1);
	got = tu_read(loc.path, &got_len);
	if (getenv("MCPFLEET_GOLDEN_UPDATE") != NULL)
		tu_write(after_path, got, got_len);
	free(got);
	{
		size_t exp_len;
		char *exp = tu_read(after_path, &exp_len);

		tu_assert_file_eq(loc.path, exp, exp_len);
		free(exp);
	}
	if (has_before) {
		assert_non_null(p1.backup_path);
		tu_assert_file_eq(p1.backup_path, before, before_len);
	}

	/* 2. Syncing again changes nothing and reads nothing. */
	test_adapters_sync(a, &env, &c, &p1.after, &p2);
	assert_false(p2.changed);
	for (i = 0; i < p2.nitems; i++) {
		assert_true(p2.items[i].op == PLAN_UNCHANGED ||
		            p2.items[i].op == PLAN_SKIP ||
		            p2.items[i].op == PLAN_CONFLICT);
		conflict |= p2.items[i].op == PLAN_CONFLICT;
	}
	/* The stamp fast path reads nothing, unless a conflict must be
	 * looked at again. */
	if (!conflict)
		assert_null(p2.old_text);

	/* 3. An empty catalogue gives back the original bytes. */
	test_adapters_sync(a, &env, &empty, &p2.after, &p3);
	if (has_before)
		tu_assert_file_eq(loc.path, before, before_len);
	else if (fileio_exists(loc.path))
		fail_msg("%s: %s was created by mcpfleet and should be gone",
		         a->id, loc.path);
	assert_int_equal(p3.after.managed.n, 0);

	host_plan_clear(&p1);
	host_plan_clear(&p2);
	host_plan_clear(&p3);
	host_location_clear(&loc);
	catalogue_clear(&c);
	free(before);
	free(hostdir);
	free(before_path);
	free(after_path);
	free(cat_path);
	tu_rmtree(home);
	free(home);
}

static void test_adapters_golden(void **state)
{
	const struct adapter *a = *state;
	char *root = tu_path(TEST_DATA, "golden"), *hostroot;
	struct dirent **ents;
	int n, i, ran = 0;

	hostroot = tu_path(root, a->id);
	n = scandir(hostroot, &ents, NULL, alphasort);
	if (n < 0)
		fail_msg("%s: no golden cases", hostroot);
	for (i = 0; i < n; i++) {
		char *dir;

		if (ents[i]->d_name[0] != '.') {
			dir = tu_path(hostroot, ents[i]->d_name);
			if (fileio_is_dir(dir)) {
				print_message("  %s/%s\n", a->id,
				              ents[i]->d_name);
				test_adapters_run_case(a, dir);
				ran++;
			}
			free(dir);
		}
		free(ents[i]);
	}
	free(ents);
	assert_true(ran > 0);
	free(hostroot);
	free(root);
}

/* A sandbox environment with extra variables: "NAME=value" strings. */
struct test_vars {
	const char *const *vars;
	enum host_os os;
};

static const char *test_adapters_vars_getenv(void *ctx, const char *name)
{
	const struct test_vars *tv = ctx;
	size_t n = strlen(name), i;

	for (i = 0; tv->vars[i] != NULL; i++)
		if (strncmp(tv->vars[i], name, n) == 0 && tv->vars[i][n] == '=')
			return tv->vars[i] + n + 1;
	return NULL;
}

/* Locates host id in the environment vars; returns the path (caller frees). */
static char *test_adapters_where(const char *id, enum host_os os,
                                 const char *const *vars, bool *present)
{
	struct test_vars tv = {vars, os};
	struct host_env env = {os, test_adapters_vars_getenv, &tv};
	struct host_location loc = {0};
	struct diag d;
	char *path;

	assert_int_equal(adapter_find(id)->locate(&env, &loc, &d), 0);
	path = loc.path;
	if (present != NULL)
		*present = loc.present;
	loc.path = NULL;
	host_location_clear(&loc);
	return path;
}

static void test_adapters_locate_relocations(void **state)
{
	char *dir = tu_mkdtemp(), *p, home[4200], xdg[4200], codex[4200],
	     gem[4200];
	bool present;

	(void)state;
	(void)snprintf(home, sizeof(home), "HOME=%s", dir);
	(void)snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/xdg", dir);
	(void)snprintf(codex, sizeof(codex), "CODEX_HOME=%s/cx", dir);
	(void)snprintf(gem, sizeof(gem), "GEMINI_CLI_HOME=%s/g", dir);
	{
		const char *const v[] = {home, NULL};

		p = test_adapters_where("claude-code", HOST_OS_LINUX, v,
		                        &present);
		assert_string_equal(p + strlen(dir), "/.claude.json");
		assert_false(present);
		free(p);
		p = test_adapters_where("codex", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir), "/.codex/config.toml");
		free(p);
		p = test_adapters_where("opencode", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir),
		                    "/.config/opencode/opencode.json");
		free(p);
		p = test_adapters_where("claude-desktop", HOST_OS_MACOS, v,
		                        NULL);
		assert_string_equal(p + strlen(dir),
		                    "/Library/Application Support/Claude/"
		                    "claude_desktop_config.json");
		free(p);
		p = test_adapters_where("claude-desktop", HOST_OS_LINUX, v,
		                        NULL);
		assert_string_equal(
		    p + strlen(dir),
		    "/.config/Claude/claude_desktop_config.json");
		free(p);
		p = test_adapters_where("vscode", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir),
		                    "/.config/Code/User/mcp.json");
		free(p);
		p = test_adapters_where("vscode-insiders", HOST_OS_MACOS, v,
		                        NULL);
		assert_string_equal(p + strlen(dir),
		                    "/Library/Application Support/Code - "
		                    "Insiders/User/mcp.json");
		free(p);
		/* The claude-code marker is ~/.claude, not the home itself. */
		p = tu_path(dir, ".claude");
		assert_int_equal(fileio_mkdirs(p, 0700), 0);
		free(p);
		p = test_adapters_where("claude-code", HOST_OS_LINUX, v,
		                        &present);
		assert_true(present);
		free(p);
	}
	{
		const char *const v[] = {
		    home, xdg, codex, gem, "CLAUDE_CONFIG_DIR=/cc", NULL};

		p = test_adapters_where("claude-code", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p, "/cc/.claude.json");
		free(p);
		p = test_adapters_where("vscodium", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir),
		                    "/xdg/VSCodium/User/mcp.json");
		free(p);
		p = test_adapters_where("codex", HOST_OS_LINUX, v, &present);
		assert_string_equal(p + strlen(dir), "/cx/config.toml");
		assert_false(present); /* CODEX_HOME must exist */
		free(p);
		p = test_adapters_where("gemini", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir),
		                    "/g/.gemini/settings.json");
		free(p);
		p = test_adapters_where("opencode", HOST_OS_LINUX, v, NULL);
		assert_string_equal(p + strlen(dir),
		                    "/xdg/opencode/opencode.json");
		free(p);
		/* An opencode.jsonc wins over opencode.json. */
		p = tu_path(dir, "xdg/opencode/opencode.jsonc");
		tu_write(p, "{}", 2);
		free(p);
		p = test_adapters_where("opencode", HOST_OS_LINUX, v, &present);
		assert_string_equal(p + strlen(dir),
		                    "/xdg/opencode/opencode.jsonc");
		assert_true(present);
		free(p);
	}
	tu_rmtree(dir);
	free(dir);
}

static void test_adapters_locate_windows_msix(void **state)
{
	char *dir = tu_mkdtemp(), *p, appdata[4200], local[4200];

	(void)state;
	(void)snprintf(appdata, sizeof(appdata), "APPDATA=%s/Roaming", dir);
	(void)snprintf(local, sizeof(local), "LOCALAPPDATA=%s/Local", dir);
	{
		const char *const v[] = {appdata, local, "USERPROFILE=/u",
		                         NULL};

		p = test_adapters_where("claude-desktop", HOST_OS_WINDOWS, v,
		                        NULL);
		assert_string_equal(p + strlen(dir),
		                    "/Roaming/Claude/"
		                    "claude_desktop_config.json");
		free(p);
		p = tu_path(dir, "Local/Packages/Claude_pzs8sxrjxfjjc/"
		                 "LocalCache/Roaming/Claude");
		assert_int_equal(fileio_mkdirs(p, 0755), 0);
		free(p);
		p = test_adapters_where("claude-desktop", HOST_OS_WINDOWS, v,
		                        NULL);
		assert_string_equal(p + strlen(dir),
		                    "/Local/Packages/Claude_pzs8sxrjxfjjc/"
		                    "LocalCache/Roaming/Claude/"
		                    "claude_desktop_config.json");
		free(p);
		p = test_adapters_where("cursor", HOST_OS_WINDOWS, v, NULL);
		assert_string_equal(p, "/u/.cursor/mcp.json");
		free(p);
	}
	tu_rmtree(dir);
	free(dir);
}

/* Renders server (one canonical JSON entry) for a host; returns the code. */
static int test_adapters_render(const char *id, const char *entry, char **out,
                                struct diag *d)
{
	const struct adapter *a = adapter_find(id);
	struct server s = {0};
	json_t *e = json_loads(entry, 0, NULL), *r = NULL;
	int code;

	assert_non_null(e);
	assert_int_equal(server_from_json("s", e, NULL, &s, d), 0);
	code = a->render(&s, &r, d);
	if (code == 0) {
		*out = json_dumps(r, JSON_COMPACT);
		json_decref(r);
	}
	server_clear(&s);
	json_decref(e);
	return code;
}

/* Claude Code's denied tools: rules in ~/.claude/settings.json beside the
 * user's own, byte-exact, and gone with the catalogue's deny list. */
static void test_adapters_claude_deny_rules(void **state)
{
	static const char user[] =
	    "{\n  \"model\": \"opus\",\n  \"permissions\": {\n    \"deny\": [\n"
	    "      \"Bash(rm *)\"\n    ]\n  }\n}\n";
	const struct adapter *a = adapter_find("claude-code");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0}, empty = {0};
	struct host_plan p1 = {0}, p2 = {0}, p3 = {0};
	char *home = tu_mkdtemp(), *dir, *path, *text;
	size_t len;

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(TEST_DATA "/golden/catalogue.json", &c);
	dir = tu_path(home, ".claude");
	path = tu_path(dir, "settings.json");
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(path, user, sizeof(user) - 1);

	test_adapters_sync(a, &env, &c, NULL, &p1);
	assert_non_null(p1.filters);
	assert_true(p1.filters->changed);
	text = tu_read(path, &len);
	assert_string_equal(text,
	                    "{\n  \"model\": \"opus\",\n  \"permissions\": {\n"
	                    "    \"deny\": [\n      \"Bash(rm *)\",\n      "
	                    "\"mcp__github__delete_repository\"\n    ]\n  "
	                    "}\n}\n");
	free(text);
	assert_int_equal(p1.after.filters->managed.n, 1);
	assert_string_equal(p1.after.filters->managed.v[0],
	                    "mcp__github__delete_repository");

	/* Again: nothing to do, in either file. */
	test_adapters_sync(a, &env, &c, &p1.after, &p2);
	assert_false(hostfile_changed(&p2));

	/* The deny list gone: the rule goes, the user's stays, bytes as
	 * they were. */
	test_adapters_sync(a, &env, &empty, &p2.after, &p3);
	assert_true(p3.filters->changed);
	tu_assert_file_eq(path, user, sizeof(user) - 1);
	assert_int_equal(p3.after.filters->managed.n, 0);

	host_plan_clear(&p1);
	host_plan_clear(&p2);
	host_plan_clear(&p3);
	catalogue_clear(&c);
	free(path);
	free(dir);
	tu_rmtree(home);
	free(home);
}

/* OpenCode: the deny rules go into the "permission" object of the same
 * file, in one write with the entries; a "permission" that is not an
 * object blocks the rules only. */
static void test_adapters_opencode_permission(void **state)
{
	static const char user[] =
	    "{\n  \"permission\": {\"bash\": \"ask\"}\n}\n";
	static const char flat[] = "{\"permission\": \"allow\"}\n";
	const struct adapter *a = adapter_find("opencode");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0}, empty = {0};
	struct host_plan p1 = {0}, p2 = {0}, p3 = {0}, p4 = {0};
	char *home = tu_mkdtemp(), *dir, *path, *text;
	size_t len, i;
	bool warned = false;

	(void)state;
	te.home = home;
	test_adapters_env(&te, &env);
	test_adapters_load(TEST_DATA "/golden/catalogue.json", &c);
	dir = tu_path(home, ".config/opencode");
	path = tu_path(dir, "opencode.json");
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(path, user, sizeof(user) - 1);

	test_adapters_sync(a, &env, &c, NULL, &p1);
	assert_true(p1.changed);
	assert_true(p1.filters->shares_file);
	assert_true(p1.filters->joined); /* one write: the host's */
	text = tu_read(path, &len);
	assert_non_null(strstr(text,
	                       "\"permission\": {\"bash\": \"ask\", "
	                       "\"github_delete_repository\": \"deny\"}"));
	assert_non_null(strstr(text, "\"mcp\""));
	free(text);
	/* Again: the fast path for both. */
	test_adapters_sync(a, &env, &c, &p1.after, &p2);
	assert_false(hostfile_changed(&p2));
	assert_true(p2.after.filters->stamp.valid);
	/* Back to nothing: the user's bytes. */
	test_adapters_sync(a, &env, &empty, &p2.after, &p3);
	tu_assert_file_eq(path, user, sizeof(user) - 1);

	tu_write(path, flat, sizeof(flat) - 1);
	test_adapters_sync(a, &env, &c, NULL, &p4);
	assert_int_equal(p4.filters->status, HOST_BLOCKED);
	for (i = 0; i < p4.warnings.n; i++)
		warned |= strstr(p4.warnings.v[i],
		                 "(tool rules not written)") != NULL;
	assert_true(warned);
	text = tu_read(path, &len);
	assert_non_null(strstr(text, "\"github\""));
	assert_non_null(strstr(text, "\"permission\": \"allow\""));
	free(text);

	host_plan_clear(&p1);
	host_plan_clear(&p2);
	host_plan_clear(&p3);
	host_plan_clear(&p4);
	catalogue_clear(&c);
	free(path);
	free(dir);
	tu_rmtree(home);
	free(home);
}

/* A settings.json that does not parse blocks the rules only: the servers
 * are written, and the report says the rules are not. */
static void test_adapters_claude_deny_bad_settings(void **state)
{
	const struct adapter *a = adapter_find("claude-code");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0};
	struct host_plan p = {0};
	char *home = tu_mkdtemp(), *dir, *path;
	size_t i;
	bool said = false;

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(TEST_DATA "/golden/catalogue.json", &c);
	dir = tu_path(home, ".claude");
	path = tu_path(dir, "settings.json");
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(path, "{\"permissions\": ", 16);
	test_adapters_sync(a, &env, &c, NULL, &p);
	assert_int_equal(p.status, HOST_OK);
	assert_true(p.changed);
	assert_int_equal(p.filters->status, HOST_BLOCKED);
	for (i = 0; i < p.warnings.n; i++)
		said |=
		    strstr(p.warnings.v[i], "settings.json:1:") != NULL &&
		    strstr(p.warnings.v[i], "tool rules not written") != NULL;
	assert_true(said);
	tu_assert_file_eq(path, "{\"permissions\": ", 16);
	host_plan_clear(&p);
	catalogue_clear(&c);
	free(path);
	free(dir);
	tu_rmtree(home);
	free(home);
}

static void test_adapters_render_rules(void **state)
{
	static const struct {
		const char *host, *entry, *expect; /* expect NULL: skipped */
	} cases[] = {
	    {"claude-code", "{\"command\":\"x\"}",
	     "{\"type\":\"stdio\",\"command\":\"x\",\"args\":[],"
	     "\"env\":{}}"},
	    {"claude-code", "{\"url\":\"https://h/\",\"type\":\"sse\"}",
	     "{\"type\":\"sse\",\"url\":\"https://h/\"}"},
	    {"claude-desktop", "{\"url\":\"https://h/\"}", NULL},
	    {"claude-desktop", "{\"command\":\"x\",\"env\":{\"A\":\"1\"}}",
	     "{\"command\":\"x\",\"args\":[],\"env\":{\"A\":\"1\"}}"},
	    {"codex", "{\"url\":\"https://h/\",\"type\":\"sse\"}", NULL},
	    {"codex",
	     "{\"url\":\"https://h/\",\"headers\":{\"Authorization\":"
	     "\"Bearer t\"},\"disabled\":true,\"tools\":{\"allow\":[\"a\"],"
	     "\"deny\":[\"b\"]}}",
	     "{\"url\":\"https://h/\",\"http_headers\":{\"Authorization\":"
	     "\"Bearer t\"},\"enabled\":false,\"enabled_tools\":[\"a\"],"
	     "\"disabled_tools\":[\"b\"]}"},
	    {"droid",
	     "{\"command\":\"x\",\"env\":{\"T\":\"${TOK}\"},\"disabled\":"
	     "true,\"tools\":{\"deny\":[\"b\"]}}",
	     "{\"type\":\"stdio\",\"command\":\"x\",\"args\":[],\"env\":"
	     "{\"T\":\"${TOK}\"},\"disabled\":true,\"disabledTools\":"
	     "[\"b\"]}"},
	    {"cursor", "{\"url\":\"https://h/\",\"type\":\"sse\"}",
	     "{\"url\":\"https://h/\"}"},
	    {"continue-cli",
	     "{\"url\":\"https://h/\",\"headers\":{\"A\":\"b\"},"
	     "\"tools\":{\"deny\":[\"x\"]}}",
	     "{\"type\":\"streamable-http\",\"url\":\"https://h/\","
	     "\"requestOptions\":{\"headers\":{\"A\":\"b\"}}}"},
	    {"continue-cli", "{\"url\":\"https://h/\",\"type\":\"sse\"}",
	     "{\"type\":\"sse\",\"url\":\"https://h/\"}"},
	    {"continue-cli",
	     "{\"command\":\"x\",\"env\":{\"K\":\"v\"},\"disabled\":"
	     "false}",
	     "{\"type\":\"stdio\",\"command\":\"x\",\"args\":[],\"env\":"
	     "{\"K\":\"v\"}}"},
	    {"opencode",
	     "{\"command\":\"npx\",\"args\":[\"-y\",\"p\"],\"env\":"
	     "{\"K\":\"v\"},\"disabled\":true}",
	     "{\"type\":\"local\",\"command\":[\"npx\",\"-y\",\"p\"],"
	     "\"environment\":{\"K\":\"v\"},\"enabled\":false}"},
	    {"opencode", "{\"url\":\"https://h/\",\"headers\":{\"A\":\"b\"}}",
	     "{\"type\":\"remote\",\"url\":\"https://h/\",\"headers\":"
	     "{\"A\":\"b\"},\"enabled\":true}"},
	    {"gemini",
	     "{\"url\":\"https://h/\",\"tools\":{\"allow\":[\"a\"],"
	     "\"deny\":[\"b\"]}}",
	     "{\"url\":\"https://h/\",\"type\":\"http\",\"includeTools\":"
	     "[\"a\"],\"excludeTools\":[\"b\"]}"},
	    {"qwen",
	     "{\"url\":\"https://h/\",\"tools\":{\"allow\":[\"a\"],"
	     "\"deny\":[\"b\"]},\"disabled\":false}",
	     "{\"httpUrl\":\"https://h/\",\"includeTools\":[\"a\"],"
	     "\"excludeTools\":[\"b\"]}"},
	    {"qwen", "{\"url\":\"https://h/sse\",\"type\":\"sse\"}",
	     "{\"url\":\"https://h/sse\"}"},
	};
	struct diag d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = NULL;
		int r = test_adapters_render(cases[i].host, cases[i].entry,
		                             &got, &d);

		if (cases[i].expect == NULL) {
			if (r != -ERR_SKIP)
				fail_msg("%s: %s should be skipped",
				         cases[i].host, cases[i].entry);
			assert_true(strlen(d.msg) > 10);
			continue;
		}
		assert_int_equal(r, 0);
		if (strcmp(got, cases[i].expect) != 0)
			fail_msg("%s: %s\n  got    %s\n  expect %s",
			         cases[i].host, cases[i].entry, got,
			         cases[i].expect);
		free(got);
	}
}

/* Where Cline (CLI and extension), Zed and Amazon Q keep their files, and
 * the variables that move them (tests/hosts/FINDINGS.md). */
static void test_adapters_locate_more_hosts(void **state)
{
	static const struct {
		const char *id;
		enum host_os os;
		const char *env[3];
		const char *path;
	} cases[] = {
	    {"cline",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.cline/data/settings/cline_mcp_settings.json"},
	    {"cline",
	     HOST_OS_LINUX,
	     {"HOME=/h", "CLINE_DIR=/c", NULL},
	     "/c/data/settings/cline_mcp_settings.json"},
	    {"cline",
	     HOST_OS_LINUX,
	     {"HOME=/h", "CLINE_DATA_DIR=/d", NULL},
	     "/d/settings/cline_mcp_settings.json"},
	    {"cline",
	     HOST_OS_LINUX,
	     {"HOME=/h", "CLINE_MCP_SETTINGS_PATH=/m/x.json", NULL},
	     "/m/x.json"},
	    {"cline",
	     HOST_OS_WINDOWS,
	     {"USERPROFILE=C:/u", NULL, NULL},
	     "C:/u/.cline/data/settings/cline_mcp_settings.json"},
	    {"cline-vscode",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.config/Code/User/globalStorage/saoudrizwan.claude-dev/"
	     "settings/cline_mcp_settings.json"},
	    {"cline-vscode",
	     HOST_OS_MACOS,
	     {"HOME=/h", NULL, NULL},
	     "/h/Library/Application Support/Code/User/globalStorage/"
	     "saoudrizwan.claude-dev/settings/cline_mcp_settings.json"},
	    {"cline-vscode",
	     HOST_OS_WINDOWS,
	     {"APPDATA=C:/a", NULL, NULL},
	     "C:/a/Code/User/globalStorage/saoudrizwan.claude-dev/settings/"
	     "cline_mcp_settings.json"},
	    {"zed",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.config/zed/settings.json"},
	    {"zed",
	     HOST_OS_LINUX,
	     {"HOME=/h", "XDG_CONFIG_HOME=/x", NULL},
	     "/x/zed/settings.json"},
	    {"zed",
	     HOST_OS_LINUX,
	     {"XDG_CONFIG_HOME=/x", "FLATPAK_XDG_CONFIG_HOME=/f", NULL},
	     "/f/zed/settings.json"},
	    {"zed",
	     HOST_OS_MACOS,
	     {"HOME=/h", "XDG_CONFIG_HOME=/x", NULL},
	     "/h/.config/zed/settings.json"},
	    {"zed",
	     HOST_OS_WINDOWS,
	     {"APPDATA=C:/a", NULL, NULL},
	     "C:/a/Zed/settings.json"},
	    {"amazonq",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.aws/amazonq/mcp.json"},
	    {"amazonq",
	     HOST_OS_WINDOWS,
	     {"USERPROFILE=C:/u", NULL, NULL},
	     "C:/u/.aws/amazonq/mcp.json"},
	    {"continue",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.continue/mcpServers/mcpfleet.json"},
	    {"continue",
	     HOST_OS_LINUX,
	     {"HOME=/h", "CONTINUE_GLOBAL_DIR=/g", NULL},
	     "/g/mcpServers/mcpfleet.json"},
	    {"continue",
	     HOST_OS_WINDOWS,
	     {"USERPROFILE=C:/u", NULL, NULL},
	     "C:/u/.continue/mcpServers/mcpfleet.json"},
	    {"continue-cli",
	     HOST_OS_LINUX,
	     {"HOME=/h", NULL, NULL},
	     "/h/.continue/config.yaml"},
	    {"continue-cli",
	     HOST_OS_LINUX,
	     {"HOME=/h", "CONTINUE_GLOBAL_DIR=/g", NULL},
	     "/g/config.yaml"},
	    {"continue-cli",
	     HOST_OS_WINDOWS,
	     {"USERPROFILE=C:/u", NULL, NULL},
	     "C:/u/.continue/config.yaml"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = test_adapters_where(cases[i].id, cases[i].os,
		                              cases[i].env, NULL);

		if (strcmp(p, cases[i].path) != 0)
			fail_msg("%s: got %s, expected %s", cases[i].id, p,
			         cases[i].path);
		free(p);
	}
}

/* cn's config.yaml is edited, never created: without it cn uses its remote
 * default config, which a new file would replace. */
static void test_adapters_continue_cli_not_created(void **state)
{
	const struct adapter *a = adapter_find("continue-cli");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0};
	struct host_plan p = {0};
	char *home = tu_mkdtemp(), *dir = tu_path(home, ".continue");
	char *file = tu_path(dir, "config.yaml");
	char *cat = tu_path(TEST_DATA, "golden/catalogue.json");

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(cat, &c);
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p), 0);
	assert_int_equal(p.status, HOST_ABSENT);
	assert_non_null(p.loc.note);
	assert_non_null(strstr(p.loc.note, "not created"));
	assert_int_equal(hostfile_apply(&p), 0);
	assert_false(fileio_exists(file));
	host_plan_clear(&p);
	catalogue_clear(&c);
	tu_rmtree(home);
	free(cat);
	free(file);
	free(dir);
	free(home);
}

/* A config.yaml that cn's host cannot be edited safely in blocks the host,
 * naming the file, the line and the reason, and stays as it was. */
static void test_adapters_continue_cli_refused(void **state)
{
	static const char text[] = "name: x\nversion: 1\nmcpServers:\n"
	                           "  - name: a\n    command: x\n"
	                           "  - name: a\n    command: y\n";
	const struct adapter *a = adapter_find("continue-cli");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0};
	struct host_plan p = {0};
	char *home = tu_mkdtemp(), *dir = tu_path(home, ".continue");
	char *file = tu_path(dir, "config.yaml");
	char *cat = tu_path(TEST_DATA, "golden/catalogue.json");

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(cat, &c);
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(file, text, strlen(text));
	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p), 0);
	assert_int_equal(p.status, HOST_BLOCKED);
	assert_non_null(p.message);
	assert_non_null(strstr(p.message, "config.yaml:6:"));
	assert_non_null(strstr(p.message, "two items named 'a'"));
	assert_int_equal(hostfile_apply(&p), 0);
	tu_assert_file_eq(file, text, strlen(text));
	host_plan_clear(&p);
	catalogue_clear(&c);
	tu_rmtree(home);
	free(cat);
	free(file);
	free(dir);
	free(home);
}

/* A present host whose file's directory is missing gets it: Continue's
 * mcpServers/ below ~/.continue; its file goes again with the last entry, and
 * nothing is created while the host is absent. */
static void test_adapters_creates_file_dir(void **state)
{
	const struct adapter *a = adapter_find("continue");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0}, empty = {0};
	struct host_plan p1 = {0}, p2 = {0}, p3 = {0};
	char *home = tu_mkdtemp(), *marker = tu_path(home, ".continue");
	char *file = tu_path(marker, "mcpServers/mcpfleet.json");
	char *cat = tu_path(TEST_DATA, "golden/catalogue.json");

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(cat, &c);
	/* Absent: nothing is created. */
	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p1), 0);
	assert_int_equal(p1.status, HOST_ABSENT);
	assert_int_equal(hostfile_apply(&p1), 0);
	assert_false(fileio_exists(marker));
	assert_int_equal(fileio_mkdirs(marker, 0755), 0);
	test_adapters_sync(a, &env, &c, NULL, &p2);
	assert_true(fileio_exists(file));
	test_adapters_sync(a, &env, &empty, &p2.after, &p3);
	assert_false(fileio_exists(file));
	host_plan_clear(&p1);
	host_plan_clear(&p2);
	host_plan_clear(&p3);
	catalogue_clear(&c);
	tu_rmtree(home);
	free(cat);
	free(file);
	free(marker);
	free(home);
}

/* A gate for hostfile_apply_gated: its verdict, and what another program
 * writes to the file while the write waits at it. */
struct test_gate {
	int verdict;
	const char *path, *rewrite;
	int passes;
};

static int test_gate_pass(void *ctx)
{
	struct test_gate *g = ctx;

	g->passes++;
	if (g->rewrite != NULL)
		tu_write(g->path, g->rewrite, strlen(g->rewrite));
	return g->verdict;
}

/* True when dir holds a temporary file of a write. */
static bool test_adapters_temp_left(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	bool found = false;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		found |= strstr(de->d_name, ".mcpfleet-") != NULL;
	closedir(d);
	return found;
}

/* A gated write renames only once the gate lets it: a refusing gate leaves
 * the file as it was, a file another program rewrote meanwhile is not
 * overwritten (-ERR_CONFLICT), an open gate writes; never a temporary file
 * left behind. */
static void test_adapters_gated_apply(void **state)
{
	static const char user[] = "{\n  \"mcpServers\": {\n    \"mine\": "
	                           "{\"command\": \"x\"}\n  }\n}\n";
	static const char other[] = "{\"mcpServers\": {}, \"theirs\": 1}\n";
	const struct adapter *a = adapter_find("cursor");
	struct test_env te = {0};
	struct host_env env;
	struct catalogue c = {0};
	struct host_plan p = {0};
	char *home = tu_mkdtemp(), *dir = tu_path(home, ".cursor");
	char *file = tu_path(dir, "mcp.json");
	char *cat = tu_path(TEST_DATA, "golden/catalogue.json"), *text;
	struct test_gate g = {.verdict = -ERR_IO, .path = file};
	const struct fileio_gate gate = {test_gate_pass, &g};
	size_t len;

	(void)state;
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	test_adapters_load(cat, &c);
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(file, user, strlen(user));

	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p), 0);
	assert_true(p.changed);
	assert_int_not_equal(hostfile_apply_gated(&p, &gate), 0);
	assert_int_equal(g.passes, 1);
	text = tu_read(file, &len);
	assert_string_equal(text, user);
	free(text);
	assert_false(test_adapters_temp_left(dir));
	host_plan_clear(&p);

	g.verdict = 0;
	g.rewrite = other;
	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p), 0);
	assert_int_equal(hostfile_apply_gated(&p, &gate), -ERR_CONFLICT);
	assert_int_equal(p.status, HOST_BLOCKED);
	assert_non_null(strstr(p.message, "changed by another program"));
	text = tu_read(file, &len);
	assert_string_equal(text, other);
	free(text);
	assert_false(test_adapters_temp_left(dir));
	host_plan_clear(&p);

	g.rewrite = NULL;
	assert_int_equal(hostfile_plan(a, &env, c.servers, c.n, NULL, &p), 0);
	assert_int_equal(hostfile_apply_gated(&p, &gate), 0);
	text = tu_read(file, &len);
	assert_non_null(strstr(text, "\"theirs\": 1"));
	assert_non_null(strstr(text, "\"everything\""));
	free(text);
	assert_false(test_adapters_temp_left(dir));
	host_plan_clear(&p);

	catalogue_clear(&c);
	tu_rmtree(home);
	free(cat);
	free(file);
	free(dir);
	free(home);
}

static void test_adapters_registry_is_complete(void **state)
{
	static const char *const ids[] = {
	    "claude-code",     "claude-desktop", "codex",    "droid",
	    "cursor",          "opencode",       "gemini",   "vscode",
	    "vscode-insiders", "vscodium",       "windsurf", "kiro",
	    "lmstudio",        "copilot",        "crush",    "qwen",
	    "cline",           "cline-vscode",   "zed",      "amazonq",
	    "continue",        "continue-cli"};
	size_t i;

	(void)state;
	assert_int_equal(adapter_count, sizeof(ids) / sizeof(ids[0]));
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const struct adapter *a = adapter_find(ids[i]);

		assert_non_null(a);
		assert_non_null(a->locate);
		assert_non_null(a->render);
		assert_true(a->key_depth >= 1);
	}
	assert_null(adapter_find("vim"));
}

/* Resolves a one-server catalogue for host id; returns the status and, on
 * success, the first arg and the value of env K in *arg, *env (caller
 * frees). */
static int test_adapters_literal(const char *id, const char *entry, char **arg,
                                 char **env, struct diag *d)
{
	const struct adapter *a = adapter_find(id);
	struct test_env te = {.home = "/home/u"};
	struct host_env he;
	struct server s = {0}, out = {0};
	json_t *j = json_loads(entry, 0, NULL);
	int r;

	assert_non_null(a);
	assert_non_null(j);
	test_adapters_env(&te, &he);
	assert_int_equal(server_from_json("s", j, NULL, &s, d), 0);
	json_decref(j);
	r = render_resolve_for(a, &s, &he, &out, d);
	if (r == 0) {
		*arg = out.args.n ? strdup(out.args.v[0]) : NULL;
		*env = out.env.n ? strdup(out.env.v[0].value) : NULL;
	}
	server_clear(&s);
	server_clear(&out);
	return r;
}

/* What each host is given so that it hands the server the value as written
 * (tests/hosts/FINDINGS.md, "Values the hosts expand"). */
static void test_adapters_literal_values(void **state)
{
	static const char *const e =
	    "{\"command\":\"x\",\"args\":[\"$HOME a${TEST_BRACES}b\"],"
	    "\"env\":{\"K\":\"${TEST_BRACES}\"}}";
	struct diag d;
	char *arg = NULL, *env = NULL;

	(void)state;
	/* Codex expands nothing: as it is. */
	assert_int_equal(test_adapters_literal("codex", e, &arg, &env, &d), 0);
	assert_string_equal(arg, "$HOME a${HOME}b");
	assert_string_equal(env, "${HOME}");
	free(arg);
	free(env);
	/* Claude Code: every "${" in the default-value form. */
	assert_int_equal(
	    test_adapters_literal("claude-code", e, &arg, &env, &d), 0);
	assert_string_equal(arg, "$HOME a${__MCPFLEET_LITERAL:-$}{HOME}b");
	assert_string_equal(env, "${__MCPFLEET_LITERAL:-$}{HOME}");
	free(arg);
	free(env);
	/* Droid: only in env. */
	assert_int_equal(test_adapters_literal("droid", e, &arg, &env, &d), 0);
	assert_string_equal(arg, "$HOME a${HOME}b");
	assert_string_equal(env, "${__MCPFLEET_LITERAL:-$}{HOME}");
	free(arg);
	free(env);
	/* Gemini: args escaped, env (expanded twice) refused. */
	assert_int_equal(
	    test_adapters_literal("gemini",
	                          "{\"command\":\"x\",\"args\":"
	                          "[\"$HOME $$x ${TEST_LEVEL} $\"]}",
	                          &arg, &env, &d),
	    0);
	assert_string_equal(arg, "${__MCPFLEET_LITERAL:-$}HOME "
	                         "$${__MCPFLEET_LITERAL:-$}x debug $");
	free(arg);
	assert_int_equal(test_adapters_literal("gemini", e, &arg, &env, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "env.K: '${HOME}' would be expanded"));
	/* OpenCode and Cursor: no escape, the server is refused. */
	assert_int_equal(test_adapters_literal("opencode",
	                                       "{\"command\":\"x\",\"args\":"
	                                       "[\"{env:HOME}\"]}",
	                                       &arg, &env, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "args: '{env:HOME}' holds {env:"));
	assert_int_equal(test_adapters_literal("cursor", e, &arg, &env, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "holds ${"));
	/* cn fills ${{ ... }} templates in its whole text: no escape. */
	assert_int_equal(
	    test_adapters_literal("continue-cli", e, &arg, &env, &d),
	    -ERR_SKIP);
	assert_non_null(strstr(d.msg, "holds ${"));
	/* Cline and Zed expand nothing: as it is. */
	assert_int_equal(test_adapters_literal("cline", e, &arg, &env, &d), 0);
	assert_string_equal(arg, "$HOME a${HOME}b");
	assert_string_equal(env, "${HOME}");
	free(arg);
	free(env);
	assert_int_equal(test_adapters_literal("zed", e, &arg, &env, &d), 0);
	assert_string_equal(env, "${HOME}");
	free(arg);
	free(env);
	/* Amazon Q: ${env:NAME} has no escape; other text goes as it is. */
	assert_int_equal(test_adapters_literal("amazonq", e, &arg, &env, &d),
	                 0);
	assert_string_equal(env, "${HOME}");
	free(arg);
	free(env);
	{
		/* A variable's value can hold one: straight to literal(). */
		const struct adapter *q = adapter_find("amazonq");
		struct buf b = BUF_INIT;

		assert_int_equal(
		    q->literal(RENDER_KEEP_ENV, "${env:HOME}", 11, &b, &d),
		    -ERR_SKIP);
		assert_non_null(strstr(d.msg, "holds ${env:"));
		buf_free(&b);
	}
	{
		/* Claude Code expands headers twice: no escape, the server
		 * is skipped; its URL takes the escape. */
		const struct adapter *cc = adapter_find("claude-code");
		struct buf b = BUF_INIT;

		assert_int_equal(
		    cc->literal(RENDER_KEEP_HEADERS, "${HOME}x", 8, &b, &d),
		    -ERR_SKIP);
		assert_non_null(strstr(d.msg, "holds ${"));
		buf_reset(&b);
		assert_int_equal(cc->literal(RENDER_KEEP_HEADERS,
		                             "Bearer $HOME", 12, &b, &d),
		                 0);
		assert_int_equal(buf_putc(&b, '\0'), 0);
		assert_string_equal(b.data, "Bearer $HOME");
		buf_reset(&b);
		assert_int_equal(
		    cc->literal(RENDER_KEEP_URL, "https://h/${x}", 14, &b, &d),
		    0);
		assert_int_equal(buf_putc(&b, '\0'), 0);
		assert_string_equal(b.data,
		                    "https://h/${__MCPFLEET_LITERAL:-$}{x}");
		buf_free(&b);
	}
}

/* Copilot CLI expands $NAME and ${...} once everywhere: each escaped.
 * Crush reads values as shell words: refused where it would change them. */
static void test_adapters_literal_copilot_crush(void **state)
{
	const struct adapter *crush = adapter_find("crush");
	static const char *const bad[] = {"$x", "a`id`", "a\\\\b", "a\\", NULL};
	struct diag d;
	char *arg = NULL, *env = NULL;
	size_t i;

	(void)state;
	assert_int_equal(
	    test_adapters_literal("copilot",
	                          "{\"command\":\"x\",\"args\":"
	                          "[\"$HOME $$x ${TEST_LEVEL} $ 5$\"],"
	                          "\"env\":{\"K\":\"${TEST_BRACES}\"}}",
	                          &arg, &env, &d),
	    0);
	assert_string_equal(arg, "${__MCPFLEET_LITERAL:-$}HOME "
	                         "$${__MCPFLEET_LITERAL:-$}x debug $ 5$");
	assert_string_equal(env, "${__MCPFLEET_LITERAL:-$}{HOME}");
	free(arg);
	free(env);
	/* Crush: a Windows path is literal there, "$" and the rest not. */
	assert_int_equal(test_adapters_literal("crush",
	                                       "{\"command\":\"x\",\"args\":"
	                                       "[\"C:\\\\bin\\\\x 'q' \\\"\"]}",
	                                       &arg, &env, &d),
	                 0);
	assert_string_equal(arg, "C:\\bin\\x 'q' \"");
	free(arg);
	for (i = 0; bad[i] != NULL; i++) {
		struct buf b = BUF_INIT;

		assert_int_equal(crush->literal(RENDER_KEEP_ARGS, bad[i],
		                                strlen(bad[i]), &b, &d),
		                 -ERR_SKIP);
		buf_free(&b);
	}
	assert_non_null(strstr(d.msg, "ends in a backslash"));
}

/* A glob in a tool list of a host that matches names exactly is written as a
 * name, with a warning that says what it does there; Claude Code's rules
 * take it. */
static void test_adapters_tool_globs(void **state)
{
	static const char cat[] =
	    "{\"version\":1,\"servers\":{\"gh\":{\"command\":\"x\",\"tools\":"
	    "{\"allow\":[\"get_*\",\"list\"],\"deny\":[\"delete_*\"]}}}}";
	struct catalogue_opts opts = {.host_known = adapter_known};
	struct test_env te = {.home = "/nonexistent"};
	struct host_env env;
	struct catalogue c = {0};
	struct host_plan p = {0};
	struct diag d;
	char *home = tu_mkdtemp(), *dir, *path;
	size_t i;
	bool allow = false, deny = false;

	(void)state;
	if (catalogue_parse(cat, sizeof(cat) - 1, &opts, &c, &d) != 0)
		fail_msg("%s", d.msg);
	te.home = home;
	test_adapters_env(&te, &env);
	dir = tu_path(home, ".gemini");
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	assert_int_equal(hostfile_plan(adapter_find("gemini"), &env, c.servers,
	                               c.n, NULL, &p),
	                 0);
	for (i = 0; i < p.warnings.n; i++) {
		allow |=
		    strstr(p.warnings.v[i],
		           "gemini: gh: tools.allow 'get_*' is a glob, and "
		           "Gemini CLI matches tool names exactly: the "
		           "tools it matches are withheld") != NULL;
		deny |= strstr(p.warnings.v[i], "tools.deny 'delete_*' is a "
		                                "glob") != NULL &&
		        strstr(p.warnings.v[i], "it withholds no tool") != NULL;
	}
	assert_true(allow);
	assert_true(deny);
	assert_int_equal(p.warnings.n, 2);
	host_plan_clear(&p);
	free(dir);
	/* Claude Code: the glob is a rule, no warning. */
	dir = tu_path(home, ".claude");
	path = tu_path(home, ".claude.json");
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	tu_write(path, "{}\n", 3);
	assert_int_equal(hostfile_plan(adapter_find("claude-code"), &env,
	                               c.servers, c.n, NULL, &p),
	                 0);
	assert_int_equal(p.warnings.n, 1); /* tools.allow: no such filter */
	assert_non_null(strstr(p.warnings.v[0], "tools.allow cannot be"));
	assert_non_null(p.filters);
	assert_int_equal(p.filters->nitems, 1);
	assert_string_equal(p.filters->items[0].name, "mcp__gh__delete_*");
	host_plan_clear(&p);
	catalogue_clear(&c);
	free(path);
	free(dir);
	tu_rmtree(home);
	free(home);
}

/* Qwen Code: where QWEN_HOME points, and values it would expand (no
 * escape: refused in every field). */
static void test_adapters_qwen(void **state)
{
	const struct adapter *a = adapter_find("qwen");
	const char *const abs[] = {"HOME=/h", "QWEN_HOME=/q", NULL};
	const char *const tilde[] = {"HOME=/h", "QWEN_HOME=~/cfg/qwen", NULL};
	const char *const rel[] = {"HOME=/h", "QWEN_HOME=cfg", NULL};
	const char *const none[] = {"HOME=/h", NULL};
	struct test_vars tv = {rel, HOST_OS_LINUX};
	struct host_env env = {HOST_OS_LINUX, test_adapters_vars_getenv, &tv};
	struct host_location loc = {0};
	struct diag d;
	char *p, *arg = NULL, *val = NULL;

	(void)state;
	p = test_adapters_where("qwen", HOST_OS_LINUX, none, NULL);
	assert_string_equal(p, "/h/.qwen/settings.json");
	free(p);
	p = test_adapters_where("qwen", HOST_OS_LINUX, abs, NULL);
	assert_string_equal(p, "/q/settings.json");
	free(p);
	p = test_adapters_where("qwen", HOST_OS_LINUX, tilde, NULL);
	assert_string_equal(p, "/h/cfg/qwen/settings.json");
	free(p);
	assert_int_equal(a->locate(&env, &loc, &d), -ERR_INVALID);
	assert_non_null(strstr(d.msg, "QWEN_HOME=cfg is relative"));
	/* A "$" that starts no name is left alone. */
	assert_int_equal(test_adapters_literal("qwen",
	                                       "{\"command\":\"x\",\"args\":"
	                                       "[\"$ 5$ a$-b\"],\"env\":{\"K\":"
	                                       "\"$\"}}",
	                                       &arg, &val, &d),
	                 0);
	assert_string_equal(arg, "$ 5$ a$-b");
	assert_string_equal(val, "$");
	free(arg);
	free(val);
	assert_int_equal(test_adapters_literal("qwen",
	                                       "{\"command\":\"x\",\"args\":"
	                                       "[\"$HOME\"]}",
	                                       &arg, &val, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "args: '$HOME' would be expanded"));
	assert_int_equal(test_adapters_literal("qwen",
	                                       "{\"command\":\"x\",\"env\":"
	                                       "{\"K\":\"${TEST_BRACES}\"}}",
	                                       &arg, &val, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "env.K: '${HOME}' would be expanded"));
	assert_int_equal(test_adapters_literal("qwen",
	                                       "{\"url\":\"https://h/\","
	                                       "\"headers\":{\"A\":\"$x\"}}",
	                                       &arg, &val, &d),
	                 -ERR_SKIP);
	assert_non_null(strstr(d.msg, "headers.A: '$x' would be expanded"));
}

/* The op of the item named name in p (fails when there is none). */
static enum plan_op test_adapters_op(const struct host_plan *p,
                                     const char *name)
{
	size_t i;

	for (i = 0; i < p->nitems; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return p->items[i].op;
	fail_msg("%s: no item %s", p->adapter->id, name);
	return PLAN_SKIP;
}

static void test_adapters_parse_text(const char *text, struct catalogue *c)
{
	struct catalogue_opts opts = {.host_known = adapter_known};
	struct diag d;

	if (catalogue_parse(text, strlen(text), &opts, c, &d) != 0)
		fail_msg("catalogue: %s", d.msg);
}

/* Replaces the first from in the file at path with to. */
static void test_adapters_edit(const char *path, const char *from,
                               const char *to)
{
	size_t len, n = strlen(from);
	char *text = tu_read(path, &len), *at = strstr(text, from), *out;

	assert_non_null(at);
	out = malloc(len - n + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, text, (size_t)(at - text));
	memcpy(out + (at - text), to, strlen(to));
	memcpy(out + (at - text) + strlen(to), at + n,
	       len - (size_t)(at - text) - n);
	tu_write(path, out, len - n + strlen(to));
	free(out);
	free(text);
}

/* Replaces the file at path by a new one (a new inode) holding text. */
static void test_adapters_rewrite(const char *path, const char *text,
                                  size_t len)
{
	char *tmp = malloc(strlen(path) + 8);
	struct stat a, b;

	assert_non_null(tmp);
	assert_int_equal(stat(path, &a), 0);
	memcpy(tmp, path, strlen(path));
	memcpy(tmp + strlen(path), ".other", 7);
	tu_write(tmp, text, len);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_ino != b.st_ino);
	free(tmp);
}

/* Makes st's stamp the file's as it is now, as if the sync wrote it so. */
static void test_adapters_restamp(struct host_state *st, const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	st->stamp.dev = (uint64_t)sb.st_dev;
	st->stamp.ino = (uint64_t)sb.st_ino;
	st->stamp.size = (uint64_t)sb.st_size;
	st->stamp.mtime_ns =
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	st->stamp.ctime_ns =
	    (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
}

/* st's inputs as recorded under render version version. */
static void test_adapters_inputs_as(struct host_state *st,
                                    const struct catalogue *c,
                                    const char *version)
{
	struct hostfile_input *in = calloc(c->n, sizeof(*in));
	size_t i, k;

	assert_non_null(in);
	assert_int_equal(hostfile_inputs(c->servers, c->n, version, in), 0);
	assert_non_null(st->inputs);
	for (i = 0; i < st->managed.n; i++)
		for (k = 0; k < c->n; k++)
			if (strcmp(c->servers[k].name, st->managed.v[i]) == 0 &&
			    in[k].hex[0] != '\0')
				memcpy(st->inputs + i * HOSTFILE_INPUT_HEX,
				       in[k].hex, HOSTFILE_INPUT_HEX);
	free(in);
}

/*
 * Entries known to be as written (their inputs recorded, the file as the
 * sync left it) are not rendered again, and the file's bytes are those of
 * a full plan: only a changed server is re-rendered; an edited file is
 * planned afresh; inputs recorded under another render version re-render.
 * For a JSON, a TOML and both two-file hosts (rules in a file of their
 * own, rules in the host's file).
 */
static void test_adapters_known_entries_of(const struct adapter *a)
{
	static const char c1[] =
	    "{\"version\": 1, \"servers\": {"
	    "\"alpha\": {\"command\": \"cmd-a1\", \"args\": [\"x\"]},"
	    "\"beta\": {\"command\": \"cmd-b1\", \"tools\": {\"deny\": "
	    "[\"drop_*\"]}},"
	    "\"gamma\": {\"command\": \"cmd-g\", \"env\": {\"L\": "
	    "\"${TEST_LEVEL}\"}}}}";
	struct catalogue cat1 = {0}, cat2 = {0}, cat3 = {0};
	struct test_env te = {0}, te2 = {0};
	struct host_env env, env2;
	struct host_location loc = {0}, loc2 = {0};
	struct host_plan p1 = {0}, p2 = {0}, p3 = {0}, p4 = {0}, p5 = {0};
	struct host_plan p6 = {0};
	struct host_plan fresh = {0};
	struct host_state forged = {0};
	char *home = tu_mkdtemp(), *home2 = tu_mkdtemp(), *text2, *t;
	char *c2 = strdup(c1), *c3;
	size_t len2;
	struct diag d;

	/* c2: beta's command changed; c3: alpha's too. */
	assert_non_null(c2);
	memcpy(strstr(c2, "cmd-b1"), "cmd-b2", 6);
	c3 = strdup(c2);
	assert_non_null(c3);
	memcpy(strstr(c3, "cmd-a1"), "cmd-a3", 6);
	test_adapters_parse_text(c1, &cat1);
	test_adapters_parse_text(c2, &cat2);
	test_adapters_parse_text(c3, &cat3);
	te.home = home;
	te.os = HOST_OS_LINUX;
	test_adapters_env(&te, &env);
	te2 = te;
	te2.home = home2;
	test_adapters_env(&te2, &env2);
	assert_int_equal(a->locate(&env, &loc, &d), 0);
	assert_int_equal(a->locate(&env2, &loc2, &d), 0);
	assert_int_equal(fileio_mkdirs(loc.marker, 0755), 0);
	assert_int_equal(fileio_mkdirs(loc2.marker, 0755), 0);

	/* What a full plan of c2 writes, in a home of its own. */
	test_adapters_sync(a, &env2, &cat2, NULL, &fresh);
	text2 = tu_read(loc2.path, &len2);

	test_adapters_sync(a, &env, &cat1, NULL, &p1);
	assert_non_null(p1.after.inputs);
	assert_int_equal(strlen(p1.after.inputs),
	                 p1.after.managed.n * HOSTFILE_INPUT_HEX);

	/* One server changed: it alone is re-rendered; the bytes are a
	 * full plan's. */
	test_adapters_sync(a, &env, &cat2, &p1.after, &p2);
	assert_int_equal(test_adapters_op(&p2, "alpha"), PLAN_UNCHANGED);
	assert_int_equal(test_adapters_op(&p2, "beta"), PLAN_UPDATE);
	assert_int_equal(test_adapters_op(&p2, "gamma"), PLAN_UNCHANGED);
	tu_assert_file_eq(loc.path, text2, len2);

	/* The user edits alpha (the stamp moves): planned afresh, alpha
	 * compared and written back. */
	test_adapters_edit(loc.path, "cmd-a1", "cmd-a1-mine");
	test_adapters_sync(a, &env, &cat2, &p2.after, &p3);
	assert_int_equal(test_adapters_op(&p3, "alpha"), PLAN_UPDATE);
	tu_assert_file_eq(loc.path, text2, len2);

	/* A file that is as written, said the stamp, but whose beta is not
	 * what beta renders: beta is known, so left alone (proof that it is
	 * not rendered) ... */
	test_adapters_edit(loc.path, "cmd-b2", "cmd-b2-as-if-ours");
	assert_int_equal(host_state_copy(&p3.after, &forged), 0);
	test_adapters_restamp(&forged, loc.path);
	assert_int_equal(
	    hostfile_plan(a, &env, cat3.servers, cat3.n, &forged, &p4), 0);
	assert_int_equal(test_adapters_op(&p4, "alpha"), PLAN_UPDATE);
	assert_int_equal(test_adapters_op(&p4, "beta"), PLAN_UNCHANGED);
	host_plan_clear(&p4);
	/* ... and so it is when a program rewrote the file since, with
	 * the text prev records (a new inode, a new mtime): the text is
	 * the one written. */
	t = tu_read(loc.path, &len2);
	hostfile_text_digest(t, len2, forged.stamp.text);
	test_adapters_rewrite(loc.path, t, len2);
	free(t);
	assert_int_equal(
	    hostfile_plan(a, &env, cat3.servers, cat3.n, &forged, &p4), 0);
	assert_int_equal(test_adapters_op(&p4, "alpha"), PLAN_UPDATE);
	assert_int_equal(test_adapters_op(&p4, "beta"), PLAN_UNCHANGED);
	/* A text that is not the one recorded: planned afresh. */
	host_plan_clear(&p4);
	forged.stamp.text[0] ^= 1;
	assert_int_equal(
	    hostfile_plan(a, &env, cat3.servers, cat3.n, &forged, &p4), 0);
	assert_int_equal(test_adapters_op(&p4, "beta"), PLAN_UPDATE);
	forged.stamp.text[0] ^= 1;
	test_adapters_restamp(&forged, loc.path);
	/* ... unless its inputs were recorded under another render
	 * version: then it is rendered, and written. */
	test_adapters_inputs_as(&forged, &cat3, "mcpfleet-render-0");
	test_adapters_sync(a, &env, &cat3, &forged, &p5);
	assert_int_equal(test_adapters_op(&p5, "alpha"), PLAN_UPDATE);
	assert_int_equal(test_adapters_op(&p5, "beta"), PLAN_UPDATE);
	t = tu_read(loc.path, &len2);
	assert_null(strstr(t, "as-if-ours"));
	free(t);
	/* Back to c2: a full plan's bytes again. */
	test_adapters_sync(a, &env, &cat2, &p5.after, &p6);
	assert_int_equal(test_adapters_op(&p6, "beta"), PLAN_UNCHANGED);
	tu_assert_file_eq(loc.path, text2, strlen(text2));

	host_state_clear(&forged);
	host_plan_clear(&fresh);
	host_plan_clear(&p1);
	host_plan_clear(&p2);
	host_plan_clear(&p3);
	host_plan_clear(&p4);
	host_plan_clear(&p5);
	host_plan_clear(&p6);
	host_location_clear(&loc);
	host_location_clear(&loc2);
	catalogue_clear(&cat1);
	catalogue_clear(&cat2);
	catalogue_clear(&cat3);
	free(text2);
	free(c2);
	free(c3);
	tu_rmtree(home);
	tu_rmtree(home2);
	free(home);
	free(home2);
}

static void test_adapters_known_entries(void **state)
{
	static const char *const ids[] = {"cursor", "codex", "claude-code",
	                                  "opencode"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		test_adapters_known_entries_of(adapter_find(ids[i]));
}

/* The inputs of a server: every field counts, the render version too; a
 * server with a ${VAR} has none (it is rendered every time). */
static void test_adapters_inputs(void **state)
{
	static const char *const cats[] = {
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\"}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"d\"}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"args\": [\"\"]}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"env\": {\"A\": \"\"}}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"disabled\": true}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"hosts\": [\"cursor\"]}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"tools\": {\"allow\": [\"a\"]}}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"tools\": {\"deny\": [\"a\"]}}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"command\": \"c\", "
	    "\"rate\": \"5/min\"}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"url\": "
	    "\"https://x.example/mcp\"}}}",
	    "{\"version\": 1, \"servers\": {\"s\": {\"url\": "
	    "\"https://x.example/mcp\", \"type\": \"sse\"}}}",
	};
	struct hostfile_input in[sizeof(cats) / sizeof(cats[0])], again, other;
	struct catalogue c = {0};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		test_adapters_parse_text(cats[i], &c);
		assert_int_equal(hostfile_inputs(c.servers, 1, NULL, &in[i]),
		                 0);
		assert_int_equal(strlen(in[i].hex), HOSTFILE_INPUT_HEX);
		assert_int_equal(hostfile_inputs(c.servers, 1, NULL, &again),
		                 0);
		assert_string_equal(in[i].hex, again.hex);
		assert_int_equal(
		    hostfile_inputs(c.servers, 1, "mcpfleet-render-0", &other),
		    0);
		assert_string_not_equal(in[i].hex, other.hex);
		catalogue_clear(&c);
		for (k = 0; k < i; k++)
			assert_string_not_equal(in[k].hex, in[i].hex);
	}
	test_adapters_parse_text("{\"version\": 1, \"servers\": {\"s\": "
	                         "{\"command\": \"c\", \"args\": "
	                         "[\"${HOME}\"]}}}",
	                         &c);
	assert_int_equal(hostfile_inputs(c.servers, 1, NULL, &again), 0);
	assert_string_equal(again.hex, "");
	catalogue_clear(&c);
}

int main(void)
{
	static const struct CMUnitTest unit[] = {
	    cmocka_unit_test(test_adapters_literal_values),
	    cmocka_unit_test(test_adapters_literal_copilot_crush),
	    cmocka_unit_test(test_adapters_tool_globs),
	    cmocka_unit_test(test_adapters_opencode_permission),
	    cmocka_unit_test(test_adapters_registry_is_complete),
	    cmocka_unit_test(test_adapters_gated_apply),
	    cmocka_unit_test(test_adapters_locate_relocations),
	    cmocka_unit_test(test_adapters_locate_windows_msix),
	    cmocka_unit_test(test_adapters_render_rules),
	    cmocka_unit_test(test_adapters_claude_deny_rules),
	    cmocka_unit_test(test_adapters_claude_deny_bad_settings),
	    cmocka_unit_test(test_adapters_qwen),
	    cmocka_unit_test(test_adapters_locate_more_hosts),
	    cmocka_unit_test(test_adapters_creates_file_dir),
	    cmocka_unit_test(test_adapters_continue_cli_not_created),
	    cmocka_unit_test(test_adapters_continue_cli_refused),
	    cmocka_unit_test(test_adapters_known_entries),
	    cmocka_unit_test(test_adapters_inputs),
	};
	struct CMUnitTest tests[64];
	size_t i, n = 0;

	for (i = 0; i < sizeof(unit) / sizeof(unit[0]); i++)
		tests[n++] = unit[i];
	for (i = 0; i < adapter_count; i++) {
		tests[n] =
		    (struct CMUnitTest)cmocka_unit_test(test_adapters_golden);
		tests[n].name = adapter_registry[i]->id;
		tests[n].initial_state = (void *)(uintptr_t)adapter_registry[i];
		n++;
	}
	return _cmocka_run_group_tests("adapters", tests, n, NULL, NULL);
}
