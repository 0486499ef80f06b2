/* SPDX-License-Identifier: MIT */
/* Continue (the VS Code and JetBrains extensions): a file of its own,
 * ~/.continue/mcpServers/mcpfleet.json, in the Claude Desktop format it reads
 * from that directory: {"mcpServers": {...}}, each with its "type". */
#include "adapter.h"

static const char *const continue_key[] = {"mcpServers"};

/* CONTINUE_GLOBAL_DIR, else ~/.continue (%USERPROFILE%\.continue). Every
 * *.json under its mcpServers/ is read; mcpfleet's own file there holds only
 * what mcpfleet wrote, and goes when the catalogue has nothing for it. */
static int continue_locate(const struct host_env *env,
                           struct host_location *out, struct diag *d)
{
	const char *dir = host_env_get(env, "CONTINUE_GLOBAL_DIR"), *home;
	char *base;

	if (dir != NULL)
		base = render_path(dir, NULL);
	else if ((home = render_home(env, d)) != NULL)
		base = render_path(home, ".continue", NULL);
	else
		return -ERR_INVALID;
	if (base == NULL)
		return -ERR_NOMEM;
	return render_location(
	    out, render_path(base, "mcpServers", "mcpfleet.json", NULL), base,
	    NULL);
}

static int continue_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* A url with no "type" is left to Continue's guess: say which. */
	r = render_set(o, "type",
	               json_string(server_transport_name(s->transport)));
	r |= render_fields(o, s, "url");
	return render_finish(o, r, out);
}

/* Continue turns ${NAME} in env values into its secret references
 * ${{ secrets.NAME }}, with no escape: a value holding "${" is not given to
 * it (in any field: its templates are ${{ ... }}). No disabled flag, no tool
 * filter in this format. */
const struct adapter adapter_continue = {
    .id = "continue",
    .name = "Continue",
    .format = HOST_FORMAT_JSONC,
    .key_path = continue_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = render_literal_no_braces,
    .can_disable = false,
    .tool_filters = 0,
    .locate = continue_locate,
    .render = continue_render,
};
