/* SPDX-License-Identifier: MIT */
/* Gemini CLI: mcpServers in ~/.gemini/settings.json (JSONC); no per-server
 * enable flag. */
#include "adapter.h"

static const char *const gemini_key[] = {"mcpServers"};

static int gemini_locate(const struct host_env *env, struct host_location *out,
                         struct diag *d)
{
	const char *home = host_env_get(env, "GEMINI_CLI_HOME");

	/* GEMINI_CLI_HOME replaces the home directory, not .gemini. */
	if (home == NULL && (home = render_home(env, d)) == NULL)
		return -ERR_INVALID;
	return render_location(
	    out, render_path(home, ".gemini", "settings.json", NULL),
	    render_path(home, ".gemini", NULL), NULL);
}

static int gemini_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", strv_json(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		/* url + type, not the deprecated httpUrl. */
		r |= render_set(o, "url", json_string(s->url));
		r |= render_set(
		    o, "type",
		    json_string(server_transport_name(s->transport)));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	if (s->tools_allow.n > 0)
		r |= render_set(o, "includeTools", strv_json(&s->tools_allow));
	if (s->tools_deny.n > 0)
		r |= render_set(o, "excludeTools", strv_json(&s->tools_deny));
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* Gemini CLI expands $NAME and ${NAME} in args once, and in env and
 * headers twice (FINDINGS.md): args are escaped, env and headers cannot
 * be. */
static int gemini_literal(unsigned field, const char *text, size_t len,
                          struct buf *out, struct diag *d)
{
	return render_literal_dollar(RENDER_KEEP_ARGS,
	                             RENDER_KEEP_ENV | RENDER_KEEP_HEADERS,
	                             field, text, len, out, d);
}

const struct adapter adapter_gemini = {
    .id = "gemini",
    .name = "Gemini CLI",
    .format = HOST_FORMAT_JSONC,
    .key_path = gemini_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = gemini_literal,
    .can_disable = false,
    .tool_filters = ADAPTER_TOOLS_ALLOW | ADAPTER_TOOLS_DENY,
    .locate = gemini_locate,
    .render = gemini_render,
};
