/* SPDX-License-Identifier: MIT */
/* Claude Code: user-scope servers in ~/.claude.json, a large state file the app
 * rewrites itself; denied tools as permissions.deny rules in
 * ~/.claude/settings.json. */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

static const char *const claude_code_key[] = {"mcpServers"};

static int claude_code_locate(const struct host_env *env,
                              struct host_location *out, struct diag *d)
{
	const char *dir = host_env_get(env, "CLAUDE_CONFIG_DIR");
	const char *home;

	/* CLAUDE_CONFIG_DIR moves the whole configuration, the global
	 * .claude.json included. */
	if (dir != NULL)
		return render_location(out,
		                       render_path(dir, ".claude.json", NULL),
		                       render_path(dir, NULL), NULL);
	if ((home = render_home(env, d)) == NULL)
		return -ERR_INVALID;
	return render_location(out, render_path(home, ".claude.json", NULL),
	                       render_path(home, ".claude", NULL), NULL);
}

static int claude_code_render(const struct server *s, json_t **out,
                              struct diag *d)
{
	json_t *o = json_object();
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* A remote entry without "type" is an error in Claude Code; stdio
	 * is written explicitly too, as "claude mcp add" does. */
	r |= render_set(o, "type",
	                json_string(server_transport_name(s->transport)));
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", strv_json(&s->args));
		r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(o, "url", json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* Claude Code expands ${VAR} and ${VAR:-default} in every field of an
 * entry (tests/hosts/FINDINGS.md): written so that it reads the value. In
 * headers it expands twice, so that no escape survives: a header value
 * holding "${" skips the server. */
static int claude_code_literal(unsigned field, const char *text, size_t len,
                               struct buf *out, struct diag *d)
{
	static const char *const twice[] = {"${", NULL};

	if (field == RENDER_KEEP_HEADERS)
		return render_literal_refuse(RENDER_KEEP_HEADERS, twice, field,
		                             text, len, out, d);
	return render_literal_braces(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL,
	                             field, text, len, out, d);
}

static const char *const claude_code_deny_key[] = {"permissions", "deny"};

/* The settings file beside the servers' one: $CLAUDE_CONFIG_DIR or
 * ~/.claude. */
static int claude_code_settings(const struct host_env *env,
                                struct host_location *out, struct diag *d)
{
	const char *dir = host_env_get(env, "CLAUDE_CONFIG_DIR");
	const char *home;

	if (dir != NULL)
		return render_location(out,
		                       render_path(dir, "settings.json", NULL),
		                       render_path(dir, NULL), NULL);
	if ((home = render_home(env, d)) == NULL)
		return -ERR_INVALID;
	return render_location(
	    out, render_path(home, ".claude", "settings.json", NULL),
	    render_path(home, ".claude", NULL), NULL);
}

/*
 * A deny rule names a tool as Claude Code does, mcp__SERVER__TOOL, where
 * '*' matches any run of characters (in deny rules only). A tool name
 * holding another character is rewritten by Claude Code (to '_'), so a glob
 * with one would not match what the catalogue means.
 */
static int claude_code_rule(const char *server, const char *glob,
                            struct buf *out, struct diag *d)
{
	int r = render_rule_glob(glob, d);

	return r != 0 ? r : buf_printf(out, "mcp__%s__%s", server, glob);
}

static const struct adapter_filters claude_code_filters = {
    .what = "permissions.deny",
    .format = HOST_FORMAT_JSON,
    .locate = claude_code_settings,
    .key_path = claude_code_deny_key,
    .key_depth = 2,
    .rule = claude_code_rule,
};

const struct adapter adapter_claude_code = {
    .id = "claude-code",
    .name = "Claude Code",
    .format = HOST_FORMAT_JSON,
    .key_path = claude_code_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = claude_code_literal,
    .can_disable = false,
    .tool_filters = ADAPTER_TOOLS_DENY | ADAPTER_TOOLS_GLOB,
    .filters = &claude_code_filters,
    .locate = claude_code_locate,
    .render = claude_code_render,
};
