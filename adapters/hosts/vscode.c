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
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	r = render_set(o, "type",
	               json_string(server_transport_name(s->transport)));
	r |= render_fields(o, s, "url");
	return render_finish(o, r, out);
}

/* VS Code substitutes ${env:NAME}, ${input:ID}, ${userHome},
 * ${workspaceFolder} and their kin in these files, with no escape: a value
 * holding "${" is not given to it (render_literal_no_braces()). */
#define VSCODE_ADAPTER(var, id_, name_, locate_)                               \
	const struct adapter var = {                                           \
	    .id = id_,                                                         \
	    .name = name_,                                                     \
	    .format = HOST_FORMAT_JSONC,                                       \
	    .key_path = vscode_key,                                            \
	    .key_depth = 1,                                                    \
	    .expands_env = 0,                                                  \
	    .literal = render_literal_no_braces,                               \
	    .can_disable = false,                                              \
	    .tool_filters = 0,                                                 \
	    .locate = locate_,                                                 \
	    .render = vscode_render,                                           \
	}

VSCODE_ADAPTER(adapter_vscode, "vscode", "VS Code", vscode_locate);
VSCODE_ADAPTER(adapter_vscode_insiders, "vscode-insiders", "VS Code Insiders",
               vscode_insiders_locate);
VSCODE_ADAPTER(adapter_vscodium, "vscodium", "VSCodium", vscodium_locate);
