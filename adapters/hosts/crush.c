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
	return render_finish(o, r, out);
}

/* Crush expands shell forms ($VAR, $(echo $VAR)) in its MCP values, with no
 * escape documented: a value holding "$" is not given to it. */
static int crush_literal(unsigned field, const char *text, size_t len,
                         struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"$", NULL};

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
    .can_disable = false,
    .tool_filters = 0,
    .locate = crush_locate,
    .render = crush_render,
};
