/* SPDX-License-Identifier: MIT */
/* Windsurf (Cascade): mcpServers in ~/.codeium/windsurf/mcp_config.json; a
 * remote server's address is "serverUrl" (a "url" never connects). */
#include "adapter.h"

static const char *const windsurf_key[] = {"mcpServers"};

static int windsurf_locate(const struct host_env *env,
                           struct host_location *out, struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(
	    out,
	    render_path(home, ".codeium", "windsurf", "mcp_config.json", NULL),
	    render_path(home, ".codeium", "windsurf", NULL), NULL);
}

static int windsurf_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_fields(o, s, "serverUrl");
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	return render_finish(o, r, out);
}

/* Windsurf interpolates ${env:NAME} (and ${file:...}) in its entries, with
 * no escape documented: a value holding "${" is not given to it. */
const struct adapter adapter_windsurf = {
    .id = "windsurf",
    .name = "Windsurf",
    .format = HOST_FORMAT_JSON,
    .key_path = windsurf_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = render_literal_no_braces,
    .can_disable = true,
    .tool_filters = 0,
    .locate = windsurf_locate,
    .render = windsurf_render,
};
