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
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", render_strv(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(o, "serverUrl", json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* Windsurf interpolates ${env:NAME} (and ${file:...}) in its entries, with
 * no escape documented: a value holding "${" is not given to it. */
static int windsurf_literal(unsigned field, const char *text, size_t len,
                            struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"${", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

const struct adapter adapter_windsurf = {
    .id = "windsurf",
    .name = "Windsurf",
    .format = HOST_FORMAT_JSON,
    .key_path = windsurf_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = windsurf_literal,
    .can_disable = true,
    .can_filter_tools = false,
    .locate = windsurf_locate,
    .render = windsurf_render,
};
