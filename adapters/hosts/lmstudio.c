/* SPDX-License-Identifier: MIT */
/* LM Studio: mcpServers in ~/.lmstudio/mcp.json, in Cursor's notation (a
 * remote server by "url", with "headers"). */
#include "adapter.h"

static const char *const lmstudio_key[] = {"mcpServers"};

static int lmstudio_locate(const struct host_env *env,
                           struct host_location *out, struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(out,
	                       render_path(home, ".lmstudio", "mcp.json", NULL),
	                       render_path(home, ".lmstudio", NULL), NULL);
}

static int lmstudio_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	return render_finish(o, render_fields(o, s, "url"), out);
}

const struct adapter adapter_lmstudio = {
    .id = "lmstudio",
    .name = "LM Studio",
    .format = HOST_FORMAT_JSON,
    .key_path = lmstudio_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = NULL, /* no expansion documented */
    .can_disable = false,
    .tool_filters = 0,
    .locate = lmstudio_locate,
    .render = lmstudio_render,
};
