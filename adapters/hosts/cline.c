/* SPDX-License-Identifier: MIT */
/* Cline: mcpServers in cline_mcp_settings.json, each with its "type" (stdio,
 * streamableHttp, sse) and "disabled". The CLI and the VS Code extension keep
 * the file in different places and neither reads the other's, so one adapter
 * each. */
#include <stdlib.h>

#include "adapter.h"

static const char *const cline_key[] = {"mcpServers"};

#define CLINE_FILE "cline_mcp_settings.json"

/* The CLI (@cline/shared): CLINE_MCP_SETTINGS_PATH names the file; else
 * <data>/settings/, where <data> is CLINE_DATA_DIR, or CLINE_DIR/data, or
 * ~/.cline/data. The Cline directory marks it present. */
static int cline_locate(const struct host_env *env, struct host_location *out,
                        struct diag *d)
{
	const char *file = host_env_get(env, "CLINE_MCP_SETTINGS_PATH");
	const char *data = host_env_get(env, "CLINE_DATA_DIR");
	const char *dir = host_env_get(env, "CLINE_DIR"), *home;
	char *marker;

	if (dir != NULL)
		marker = render_path(dir, NULL);
	else if ((home = render_home(env, d)) != NULL)
		marker = render_path(home, ".cline", NULL);
	else
		return -ERR_INVALID;
	if (marker == NULL)
		return -ERR_NOMEM;
	if (file != NULL)
		return render_location(out, render_path(file, NULL), marker,
		                       NULL);
	if (data != NULL)
		return render_location(
		    out, render_path(data, "settings", CLINE_FILE, NULL),
		    marker, NULL);
	return render_location(
	    out, render_path(marker, "data", "settings", CLINE_FILE, NULL),
	    marker, NULL);
}

/* The extension (saoudrizwan.claude-dev): its globalStorage under the VS
 * Code user directory, ~/.config/Code/User (or XDG_CONFIG_HOME) on Linux,
 * ~/Library/Application Support/Code/User on macOS, %APPDATA%\Code\User on
 * Windows. The extension's globalStorage directory marks it present. */
static int cline_vscode_locate(const struct host_env *env,
                               struct host_location *out, struct diag *d)
{
	const char *home, *base;
	char *user = NULL, *ext;

	switch (env->os) {
	case HOST_OS_MACOS:
		if ((home = render_home(env, d)) == NULL)
			return -ERR_INVALID;
		user = render_path(home, "Library", "Application Support",
		                   "Code", "User", NULL);
		break;
	case HOST_OS_WINDOWS:
		if ((base = host_env_get(env, "APPDATA")) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "APPDATA is not set: cannot find "
			                "Cline's file");
		user = render_path(base, "Code", "User", NULL);
		break;
	case HOST_OS_LINUX:
		if ((base = host_env_get(env, "XDG_CONFIG_HOME")) != NULL)
			user = render_path(base, "Code", "User", NULL);
		else if ((home = render_home(env, d)) != NULL)
			user =
			    render_path(home, ".config", "Code", "User", NULL);
		else
			return -ERR_INVALID;
		break;
	}
	if (user == NULL)
		return -ERR_NOMEM;
	ext =
	    render_path(user, "globalStorage", "saoudrizwan.claude-dev", NULL);
	free(user);
	if (ext == NULL)
		return -ERR_NOMEM;
	return render_location(
	    out, render_path(ext, "settings", CLINE_FILE, NULL), ext, NULL);
}

static int cline_render(const struct server *s, json_t **out, struct diag *d)
{
	/* A url without "type" is taken for SSE: always say which. */
	static const char *const types[] = {
	    [SERVER_STDIO] = "stdio",
	    [SERVER_HTTP] = "streamableHttp",
	    [SERVER_SSE] = "sse",
	};
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_set(o, "type", json_string(types[s->transport]));
	r |= render_fields(o, s, "url");
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	return render_finish(o, r, out);
}

/* Cline expands nothing in these files (the only substitution in its
 * source is ${PLUGIN_ROOT} in plugins' own manifests): values go as they
 * are. autoApprove only skips the prompt, it filters nothing. */
#define CLINE_ADAPTER(var, id_, name_, locate_)                                \
	const struct adapter var = {                                           \
	    .id = id_,                                                         \
	    .name = name_,                                                     \
	    .format = HOST_FORMAT_JSON,                                        \
	    .key_path = cline_key,                                             \
	    .key_depth = 1,                                                    \
	    .expands_env = 0,                                                  \
	    .literal = NULL,                                                   \
	    .can_disable = true,                                               \
	    .tool_filters = 0,                                                 \
	    .locate = locate_,                                                 \
	    .render = cline_render,                                            \
	}

CLINE_ADAPTER(adapter_cline, "cline", "Cline CLI", cline_locate);
CLINE_ADAPTER(adapter_cline_vscode, "cline-vscode", "Cline (VS Code)",
              cline_vscode_locate);
