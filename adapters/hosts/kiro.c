/* SPDX-License-Identifier: MIT */
/* Kiro (and the Kiro CLI, formerly Amazon Q Developer CLI): mcpServers in
 * ~/.kiro/settings/mcp.json, with "disabled"; remote servers by "url". */
#include "adapter.h"

static const char *const kiro_key[] = {"mcpServers"};

static int kiro_locate(const struct host_env *env, struct host_location *out,
                       struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(
	    out, render_path(home, ".kiro", "settings", "mcp.json", NULL),
	    render_path(home, ".kiro", NULL), NULL);
}

static int kiro_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_fields(o, s, "url");
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	/* Tool names, as its documentation's example gives them; no allow
	 * list (sync warns). */
	if (s->tools_deny.n > 0)
		r |= render_set(o, "disabledTools", strv_json(&s->tools_deny));
	return render_finish(o, r, out);
}

/* Kiro expands ${VAR} in env and headers, with no escape documented: a
 * value holding "${" is not given to it. */
const struct adapter adapter_kiro = {
    .id = "kiro",
    .name = "Kiro",
    .format = HOST_FORMAT_JSON,
    .key_path = kiro_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = render_literal_no_braces,
    .can_disable = true,
    .tool_filters = ADAPTER_TOOLS_DENY,
    .locate = kiro_locate,
    .render = kiro_render,
};
