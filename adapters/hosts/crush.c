/* SPDX-License-Identifier: MIT */
/* Crush (Charm): servers under "mcp" in ~/.config/crush/crush.json
 * (%LOCALAPPDATA%\crush\ on Windows), each with its "type". */
#include "adapter.h"

static const char *const crush_key[] = {"mcp"};

static int crush_locate(const struct host_env *env, struct host_location *out,
                        struct diag *d)
{
	const char *base, *home;
	char *dir;

	if (env->os == HOST_OS_WINDOWS) {
		if ((base = host_env_get(env, "LOCALAPPDATA")) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "LOCALAPPDATA is not set: cannot find "
			                "Crush's file");
		dir = render_path(base, "crush", NULL);
	} else if ((base = host_env_get(env, "XDG_CONFIG_HOME")) != NULL) {
		dir = render_path(base, "crush", NULL);
	} else if ((home = render_home(env, d)) != NULL) {
		dir = render_path(home, ".config", "crush", NULL);
	} else {
		return -ERR_INVALID;
	}
	if (dir == NULL)
		return -ERR_NOMEM;
	return render_location(out, render_path(dir, "crush.json", NULL), dir,
	                       NULL);
}

static int crush_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_set(o, "type",
	               json_string(server_transport_name(s->transport)));
	r |= render_fields(o, s, "url");
	if (s->disabled)
		r |= render_set(o, "disabled", json_true());
	/* Exact tool names (filterTools: slices.Contains); allow first, then
	 * deny, as the relay does. */
	if (s->tools_allow.n > 0)
		r |= render_set(o, "enabled_tools", strv_json(&s->tools_allow));
	if (s->tools_deny.n > 0)
		r |= render_set(o, "disabled_tools", strv_json(&s->tools_deny));
	return render_finish(o, r, out);
}

/*
 * Crush reads every MCP value as a shell here-document word
 * (internal/shell/expand.go: $VAR, ${...}, $(...), backquotes, and '\'
 * before '$', '`', '\' or a line break). No escape has been checked against
 * the real CLI (not installable here), so a value holding any of these is
 * not given to it; other backslashes (a Windows path) are literal there.
 */
static int crush_literal(unsigned field, const char *text, size_t len,
                         struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"$", "`", "\\\\", "\\\n", NULL};

	if (len > 0 && text[len - 1] == '\\')
		return diag_set(d, ERR_SKIP, 0, 0,
		                "'%.*s' ends in a backslash, which the host "
		                "would read as an escape, and it has no way to "
		                "write it literally",
		                (int)(len > 80 ? 80 : len), text);
	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

const struct adapter adapter_crush = {
    .id = "crush",
    .name = "Crush",
    .format = HOST_FORMAT_JSON,
    .key_path = crush_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = crush_literal,
    .can_disable = true,
    .tool_filters = ADAPTER_TOOLS_ALLOW | ADAPTER_TOOLS_DENY,
    .locate = crush_locate,
    .render = crush_render,
};
