/* SPDX-License-Identifier: MIT */
/* Cursor: mcpServers in ~/.cursor/mcp.json, often minified; no disabled flag.
 */
#include "adapter.h"

static const char *const cursor_key[] = {"mcpServers"};

static int cursor_locate(const struct host_env *env, struct host_location *out,
                         struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(out,
	                       render_path(home, ".cursor", "mcp.json", NULL),
	                       render_path(home, ".cursor", NULL), NULL);
}

static int cursor_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* Cursor infers the remote transport from the server itself. */
	return render_finish(o, render_fields(o, s, "url"), out);
}

/* Cursor interpolates ${env:NAME}, ${userHome}, ${workspaceFolder} and
 * their kin in its entries, with no escape documented (it has no CLI to
 * check): a value holding "${" is not given to it. */
const struct adapter adapter_cursor = {
    .id = "cursor",
    .name = "Cursor",
    .format = HOST_FORMAT_JSON,
    .key_path = cursor_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = render_literal_no_braces,
    .can_disable = false,
    .tool_filters = 0,
    .locate = cursor_locate,
    .render = cursor_render,
};
