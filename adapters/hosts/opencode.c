/* SPDX-License-Identifier: MIT */
/* OpenCode: the mcp object of opencode.json(c); unknown keys make it refuse the
 * whole file. */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "fileio.h"

static const char *const opencode_key[] = {"mcp"};

static int opencode_locate(const struct host_env *env,
                           struct host_location *out, struct diag *d)
{
	const char *xdg = host_env_get(env, "XDG_CONFIG_HOME");
	const char *home;
	char *dir, *jsonc, *note = NULL;

	/* OpenCode uses XDG_CONFIG_HOME (or ~/.config) on every OS. */
	if (xdg != NULL)
		dir = render_path(xdg, "opencode", NULL);
	else if ((home = render_home(env, d)) != NULL)
		dir = render_path(home, ".config", "opencode", NULL);
	else
		return -ERR_INVALID;
	if (dir == NULL)
		return -ERR_NOMEM;
	/* An existing opencode.jsonc is read after opencode.json and wins. */
	if ((jsonc = render_path(dir, "opencode.jsonc", NULL)) == NULL) {
		free(dir);
		return -ERR_NOMEM;
	}
	if (fileio_exists(jsonc)) {
		if ((note = strdup("opencode.jsonc exists and overrides "
		                   "opencode.json")) == NULL) {
			free(jsonc);
			free(dir);
			return -ERR_NOMEM;
		}
		return render_location(out, jsonc, dir, note);
	}
	free(jsonc);
	return render_location(out, render_path(dir, "opencode.json", NULL),
	                       dir, NULL);
}

static int opencode_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object(), *argv;
	size_t i;
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* Only the keys of OpenCode's strict schema. */
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "type", json_string("local"));
		if ((argv = json_array()) == NULL ||
		    json_array_append_new(argv, json_string(s->command)) != 0)
			r |= -ERR_NOMEM;
		for (i = 0; argv != NULL && i < s->args.n; i++)
			if (json_array_append_new(
			        argv, json_string(s->args.v[i])) != 0)
				r |= -ERR_NOMEM;
		r |= render_set(o, "command", argv);
		if (s->env.n > 0)
			r |= render_set(o, "environment",
			                render_kvlist(&s->env));
	} else {
		r |= render_set(o, "type", json_string("remote"));
		r |= render_set(o, "url", json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	r |= render_set(o, "enabled", json_boolean(!s->disabled));
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* OpenCode expands {env:X} and {file:X} in every string, with no escape. */
static int opencode_literal(unsigned field, const char *text, size_t len,
                            struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"{env:", "{file:", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

/*
 * OpenCode names a server's tools SERVER_TOOL and withholds from the model
 * every tool a "permission" rule denies ('*' matches any run; the last rule
 * that matches wins, so ours, added at the end, override the user's).
 */
static const char *const opencode_permission_key[] = {"permission"};

static int opencode_rule(const char *server, const char *glob, struct buf *out,
                         struct diag *d)
{
	int r = render_rule_glob(glob, d);

	return r != 0 ? r : buf_printf(out, "%s_%s", server, glob);
}

static const struct adapter_filters opencode_filters = {
    .what = "permission",
    .format = HOST_FORMAT_JSONC,
    .locate = opencode_locate,
    .key_path = opencode_permission_key,
    .key_depth = 1,
    .member_value = "deny",
    .rule = opencode_rule,
};

const struct adapter adapter_opencode = {
    .id = "opencode",
    .name = "OpenCode",
    .format = HOST_FORMAT_JSONC,
    .key_path = opencode_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = opencode_literal,
    .can_disable = true,
    .tool_filters = ADAPTER_TOOLS_DENY | ADAPTER_TOOLS_GLOB,
    .filters = &opencode_filters,
    .locate = opencode_locate,
    .render = opencode_render,
};
