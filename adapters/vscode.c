/* SPDX-License-Identifier: MIT */
/* VS Code (GitHub Copilot's agent mode), and VS Code Insiders and VSCodium
 * beside it: "servers" in the user profile's mcp.json (JSONC), each with
 * its "type". One file per product, so one adapter each. */
#include "adapter.h"

static const char *const vscode_key[] = {"servers"};

/* <config>/<product>/User/mcp.json, where <config> is ~/.config (or
 * XDG_CONFIG_HOME) on Linux, ~/Library/Application Support on macOS and
 * %APPDATA% on Windows. The User directory marks the product present. */
static int vscode_locate_product(const struct host_env *env,
                                 const char *product, struct host_location *out,
                                 struct diag *d)
{
	const char *home, *base;
	char *user = NULL;

	switch (env->os) {
	case HOST_OS_MACOS:
		if ((home = render_home(env, d)) == NULL)
			return -ERR_INVALID;
		user = render_path(home, "Library", "Application Support",
		                   product, "User", NULL);
		break;
	case HOST_OS_WINDOWS:
		if ((base = host_env_get(env, "APPDATA")) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "APPDATA is not set: cannot find %s's "
			                "file",
			                product);
		user = render_path(base, product, "User", NULL);
		break;
	case HOST_OS_LINUX:
		if ((base = host_env_get(env, "XDG_CONFIG_HOME")) != NULL)
			user = render_path(base, product, "User", NULL);
		else if ((home = render_home(env, d)) != NULL)
			user =
			    render_path(home, ".config", product, "User", NULL);
		else
			return -ERR_INVALID;
		break;
	}
	if (user == NULL)
		return -ERR_NOMEM;
	return render_location(out, render_path(user, "mcp.json", NULL), user,
	                       NULL);
}

static int vscode_locate(const struct host_env *env, struct host_location *out,
                         struct diag *d)
{
	return vscode_locate_product(env, "Code", out, d);
}

static int vscode_insiders_locate(const struct host_env *env,
                                  struct host_location *out, struct diag *d)
{
	return vscode_locate_product(env, "Code - Insiders", out, d);
}

static int vscodium_locate(const struct host_env *env,
                           struct host_location *out, struct diag *d)
{
	return vscode_locate_product(env, "VSCodium", out, d);
}

static int vscode_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "type", json_string("stdio"));
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", render_strv(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(
		    o, "type",
		    json_string(s->transport == SERVER_SSE ? "sse" : "http"));
		r |= render_set(o, "url", json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* VS Code substitutes ${env:NAME}, ${input:ID}, ${userHome},
 * ${workspaceFolder} and their kin in these files, with no escape: a value
 * holding "${" is not given to it. */
static int vscode_literal(unsigned field, const char *text, size_t len,
                          struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"${", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

#define VSCODE_ADAPTER(var, id_, name_, locate_)                               \
	const struct adapter var = {                                           \
	    .id = id_,                                                         \
	    .name = name_,                                                     \
	    .format = HOST_FORMAT_JSONC,                                       \
	    .key_path = vscode_key,                                            \
	    .key_depth = 1,                                                    \
	    .expands_env = 0,                                                  \
	    .literal = vscode_literal,                                         \
	    .can_disable = false,                                              \
	    .can_filter_tools = false,                                         \
	    .locate = locate_,                                                 \
	    .render = vscode_render,                                           \
	}

VSCODE_ADAPTER(adapter_vscode, "vscode", "VS Code", vscode_locate);
VSCODE_ADAPTER(adapter_vscode_insiders, "vscode-insiders", "VS Code Insiders",
               vscode_insiders_locate);
VSCODE_ADAPTER(adapter_vscodium, "vscodium", "VSCodium", vscodium_locate);
