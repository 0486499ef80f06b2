/* SPDX-License-Identifier: MIT */
/* Codex: [mcp_servers.NAME] tables in $CODEX_HOME/config.toml. */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "fileio.h"

static const char *const codex_key[] = {"mcp_servers"};

static int codex_locate(const struct host_env *env, struct host_location *out,
                        struct diag *d)
{
	const char *dir = host_env_get(env, "CODEX_HOME");
	const char *home;
	char *note = NULL;

	if (dir != NULL) {
		/* Codex refuses to start when CODEX_HOME does not exist;
		 * the host then counts as absent rather than created. */
		if (!fileio_is_dir(dir) &&
		    (note = strdup("CODEX_HOME does not exist")) == NULL)
			return -ERR_NOMEM;
		return render_location(out,
		                       render_path(dir, "config.toml", NULL),
		                       render_path(dir, NULL), note);
	}
	if ((home = render_home(env, d)) == NULL)
		return -ERR_INVALID;
	return render_location(out,
	                       render_path(home, ".codex", "config.toml", NULL),
	                       render_path(home, ".codex", NULL), NULL);
}

static int codex_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o;
	int r = 0;

	if (s->transport == SERVER_SSE)
		return diag_set(d, ERR_SKIP, 0, 0,
		                "Codex has no SSE transport (only stdio and "
		                "Streamable HTTP)");
	if ((o = json_object()) == NULL)
		return -ERR_NOMEM;
	/* No "type": a url means Streamable HTTP. Headers go literally in
	 * http_headers; Codex rejects an inline bearer_token. */
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		if (s->args.n > 0)
			r |= render_set(o, "args", strv_json(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(o, "url", json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "http_headers",
			                render_kvlist(&s->headers));
	}
	if (s->disabled)
		r |= render_set(o, "enabled", json_false());
	if (s->tools_allow.n > 0)
		r |= render_set(o, "enabled_tools", strv_json(&s->tools_allow));
	if (s->tools_deny.n > 0)
		r |= render_set(o, "disabled_tools", strv_json(&s->tools_deny));
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

const struct adapter adapter_codex = {
    .id = "codex",
    .name = "Codex",
    .format = HOST_FORMAT_TOML,
    .key_path = codex_key,
    .key_depth = 1,
    .expands_env = 0,
    .can_disable = true,
    .tool_filters = ADAPTER_TOOLS_ALLOW | ADAPTER_TOOLS_DENY,
    .locate = codex_locate,
    .render = codex_render,
};
