/* SPDX-License-Identifier: MIT */
/* Zed: context_servers in its settings.json (JSONC), a command-line entry
 * or a remote "url", each with "enabled". */
#include "adapter.h"

static const char *const zed_key[] = {"context_servers"};

/* Zed's config directory (crates/paths): ~/.config/zed on macOS and on
 * Linux (there $FLATPAK_XDG_CONFIG_HOME or $XDG_CONFIG_HOME first),
 * %APPDATA%\Zed on Windows. The directory marks Zed present. */
static int zed_locate(const struct host_env *env, struct host_location *out,
                      struct diag *d)
{
	const char *home, *base = NULL;
	char *dir;

	if (env->os == HOST_OS_WINDOWS) {
		if ((base = host_env_get(env, "APPDATA")) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "APPDATA is not set: cannot find Zed's "
			                "settings");
		dir = render_path(base, "Zed", NULL);
	} else {
		if (env->os == HOST_OS_LINUX &&
		    (base = host_env_get(env, "FLATPAK_XDG_CONFIG_HOME")) ==
		        NULL)
			base = host_env_get(env, "XDG_CONFIG_HOME");
		if (base != NULL)
			dir = render_path(base, "zed", NULL);
		else if ((home = render_home(env, d)) != NULL)
			dir = render_path(home, ".config", "zed", NULL);
		else
			return -ERR_INVALID;
	}
	if (dir == NULL)
		return -ERR_NOMEM;
	return render_location(out, render_path(dir, "settings.json", NULL),
	                       dir, NULL);
}

static int zed_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o;
	int r;

	/* The Http variant speaks Streamable HTTP; no SSE form is known. */
	if (s->transport == SERVER_SSE)
		return diag_set(d, ERR_SKIP, 0, 0,
		                "Zed has no SSE transport (only stdio and "
		                "Streamable HTTP)");
	if ((o = json_object()) == NULL)
		return -ERR_NOMEM;
	/* Untagged: "command" makes the stdio variant, "url" the remote one;
	 * the older {"source": "custom", ...} and {"command": {"path":
	 * ...}} forms are not written. */
	r = render_fields(o, s, "url");
	r |= render_set(o, "enabled", json_boolean(!s->disabled));
	return render_finish(o, r, out);
}

/* Zed expands nothing in these values: they go as they are. */
const struct adapter adapter_zed = {
    .id = "zed",
    .name = "Zed",
    .format = HOST_FORMAT_JSONC,
    .key_path = zed_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = NULL,
    .can_disable = true,
    /* Tools are switched on and off in agent profiles, not per server. */
    .tool_filters = 0,
    .locate = zed_locate,
    .render = zed_render,
};
