/* SPDX-License-Identifier: MIT */
/* GitHub Copilot CLI: mcpServers in ~/.copilot/mcp-config.json ($COPILOT_HOME
 * when set), each with its "type" and the "tools" Copilot may call. */
#include "adapter.h"

static const char *const copilot_key[] = {"mcpServers"};

static int copilot_locate(const struct host_env *env, struct host_location *out,
                          struct diag *d)
{
	const char *base = host_env_get(env, "COPILOT_HOME"), *home;

	if (base != NULL)
		return render_location(
		    out, render_path(base, "mcp-config.json", NULL),
		    render_path(base, NULL), NULL);
	if ((home = render_home(env, d)) == NULL)
		return -ERR_INVALID;
	return render_location(
	    out, render_path(home, ".copilot", "mcp-config.json", NULL),
	    render_path(home, ".copilot", NULL), NULL);
}

static int copilot_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object(), *all;
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_set(o, "type",
	               json_string(server_transport_name(s->transport)));
	r |= render_fields(o, s, "url");
	/* "tools" is required: the allowed ones, or every one. A deny list
	 * has no place here (sync warns). */
	if (s->tools_allow.n > 0)
		r |= render_set(o, "tools", strv_json(&s->tools_allow));
	else if ((all = json_array()) == NULL ||
	         json_array_append_new(all, json_string("*")) != 0) {
		json_decref(all);
		r |= -ERR_NOMEM;
	} else
		r |= render_set(o, "tools", all);
	return render_finish(o, r, out);
}

/*
 * Copilot expands $VAR, ${VAR} and ${VAR:-default} once, in every field of
 * an entry (tests/hosts/FINDINGS.md): each '$' it would read as the start
 * of a variable is written as ${__MCPFLEET_LITERAL:-$}, which it reads as
 * '$'.
 */
static int copilot_literal(unsigned field, const char *text, size_t len,
                           struct buf *out, struct diag *d)
{
	return render_literal_dollar(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             0, field, text, len, out, d);
}

const struct adapter adapter_copilot = {
    .id = "copilot",
    .name = "GitHub Copilot CLI",
    .format = HOST_FORMAT_JSON,
    .key_path = copilot_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = copilot_literal,
    .can_disable = false,
    .tool_filters = ADAPTER_TOOLS_ALLOW,
    .locate = copilot_locate,
    .render = copilot_render,
};
