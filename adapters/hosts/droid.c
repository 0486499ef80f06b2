/* SPDX-License-Identifier: MIT */
/* Factory Droid: mcpServers in ~/.factory/mcp.json; expands ${VAR} in env and
 * headers itself. */
#include "adapter.h"

static const char *const droid_key[] = {"mcpServers"};

static int droid_locate(const struct host_env *env, struct host_location *out,
                        struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(out,
	                       render_path(home, ".factory", "mcp.json", NULL),
	                       render_path(home, ".factory", NULL), NULL);
}

static int droid_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_set(o, "type",
	               json_string(server_transport_name(s->transport)));
	r |= render_fields(o, s, "url");
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	if (s->tools_allow.n > 0)
		r |= render_set(o, "enabledTools", strv_json(&s->tools_allow));
	if (s->tools_deny.n > 0)
		r |= render_set(o, "disabledTools", strv_json(&s->tools_deny));
	return render_finish(o, r, out);
}

/* Droid expands ${VAR} (and ${VAR:-default}) in env and headers only. */
static int droid_literal(unsigned field, const char *text, size_t len,
                         struct buf *out, struct diag *d)
{
	return render_literal_braces(RENDER_KEEP_ENV | RENDER_KEEP_HEADERS,
	                             field, text, len, out, d);
}

const struct adapter adapter_droid = {
    .id = "droid",
    .name = "Factory Droid",
    .format = HOST_FORMAT_JSON,
    .key_path = droid_key,
    .key_depth = 1,
    .expands_env = RENDER_KEEP_ENV | RENDER_KEEP_HEADERS,
    .literal = droid_literal,
    .can_disable = true,
    .tool_filters = ADAPTER_TOOLS_ALLOW | ADAPTER_TOOLS_DENY,
    .locate = droid_locate,
    .render = droid_render,
};
