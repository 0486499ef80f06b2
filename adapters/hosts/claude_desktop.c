/* SPDX-License-Identifier: MIT */
/* Claude Desktop: stdio servers in claude_desktop_config.json, next to the
 * app's preferences. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "fileio.h"

static const char *const claude_desktop_key[] = {"mcpServers"};

#define CLAUDE_DESKTOP_FILE "claude_desktop_config.json"

/*
 * The MSIX build of Claude Desktop (Windows, since early 2026) reads its
 * file from %LOCALAPPDATA%\Packages\Claude_<publisher>\LocalCache\Roaming\
 * Claude and ignores %APPDATA%\Claude. Returns that directory when it
 * exists, else NULL (also on ENOMEM, which then falls back to APPDATA).
 */
static char *claude_desktop_msix_dir(const char *localappdata)
{
	char *packages = render_path(localappdata, "Packages", NULL);
	char *found = NULL;
	struct dirent *de;
	DIR *dir;

	if (packages == NULL || (dir = opendir(packages)) == NULL) {
		free(packages);
		return NULL;
	}
	while (found == NULL && (de = readdir(dir)) != NULL) {
		char *cand;

		if (strncmp(de->d_name, "Claude_", 7) != 0)
			continue;
		cand = render_path(packages, de->d_name, "LocalCache",
		                   "Roaming", "Claude", NULL);
		if (cand != NULL && fileio_is_dir(cand))
			found = cand;
		else
			free(cand);
	}
	closedir(dir);
	free(packages);
	return found;
}

static int claude_desktop_locate(const struct host_env *env,
                                 struct host_location *out, struct diag *d)
{
	const char *home, *base;
	char *dir = NULL, *note = NULL;

	switch (env->os) {
	case HOST_OS_MACOS:
		if ((home = render_home(env, d)) == NULL)
			return -ERR_INVALID;
		dir = render_path(home, "Library", "Application Support",
		                  "Claude", NULL);
		break;
	case HOST_OS_WINDOWS:
		if ((base = host_env_get(env, "LOCALAPPDATA")) != NULL &&
		    (dir = claude_desktop_msix_dir(base)) != NULL) {
			note = strdup("MSIX install: %APPDATA%\\Claude is "
			              "ignored by the app");
			break;
		}
		if ((base = host_env_get(env, "APPDATA")) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "APPDATA is not set: cannot find "
			                "Claude Desktop's file");
		dir = render_path(base, "Claude", NULL);
		break;
	case HOST_OS_LINUX:
		/* No official Linux build; the community builds keep the
		 * macOS layout under XDG_CONFIG_HOME. */
		if ((base = host_env_get(env, "XDG_CONFIG_HOME")) != NULL)
			dir = render_path(base, "Claude", NULL);
		else if ((home = render_home(env, d)) != NULL)
			dir = render_path(home, ".config", "Claude", NULL);
		else
			return -ERR_INVALID;
		note = strdup("no official Linux build: this is where the "
		              "community builds look");
		break;
	}
	if (dir == NULL) {
		free(note);
		return -ERR_NOMEM;
	}
	return render_location(out, render_path(dir, CLAUDE_DESKTOP_FILE, NULL),
	                       dir, note);
}

static int claude_desktop_render(const struct server *s, json_t **out,
                                 struct diag *d)
{
	json_t *o;

	if (s->transport != SERVER_STDIO)
		return diag_set(d, ERR_SKIP, 0, 0,
		                "Claude Desktop's file takes only stdio "
		                "servers (add remote ones as Connectors in "
		                "the app)");
	if ((o = json_object()) == NULL)
		return -ERR_NOMEM;
	return render_finish(o, render_fields(o, s, "url"), out);
}

const struct adapter adapter_claude_desktop = {
    .id = "claude-desktop",
    .name = "Claude Desktop",
    .format = HOST_FORMAT_JSON,
    .key_path = claude_desktop_key,
    .key_depth = 1,
    .expands_env = 0,
    .can_disable = false,
    .tool_filters = 0,
    .locate = claude_desktop_locate,
    .render = claude_desktop_render,
};
