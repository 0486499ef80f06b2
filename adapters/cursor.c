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
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* Cursor infers the remote transport from the server itself. */
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", render_strv(&s->args));
		if (s->env.n > 0)
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

/* Cursor interpolates ${env:NAME}, ${userHome}, ${workspaceFolder} and
 * their kin in its entries, with no escape documented (it has no CLI to
 * check): a value holding "${" is not given to it. */
static int cursor_literal(unsigned field, const char *text, size_t len,
                          struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"${", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

const struct adapter adapter_cursor = {
    .id = "cursor",
    .name = "Cursor",
    .format = HOST_FORMAT_JSON,
    .key_path = cursor_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = cursor_literal,
    .can_disable = false,
    .can_filter_tools = false,
    .locate = cursor_locate,
    .render = cursor_render,
};
