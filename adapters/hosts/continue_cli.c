/* SPDX-License-Identifier: MIT */
/* Continue's CLI, cn (npm @continuedev/cli): the items of the mcpServers list
 * in $CONTINUE_GLOBAL_DIR/config.yaml (default ~/.continue/config.yaml). */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "fileio.h"

static const char *const continue_cli_key[] = {"mcpServers"};

/*
 * cn reads only this file (never ~/.continue/mcpServers/, the extension's
 * folder). Once the file exists it replaces cn's remote default config (the
 * hub's, with its models), so a file mcpfleet created would leave a
 * logged-in user with no model: the host counts as present only when the
 * file is there, and mcpfleet never creates it.
 */
static int continue_cli_locate(const struct host_env *env,
                               struct host_location *out, struct diag *d)
{
	const char *dir = host_env_get(env, "CONTINUE_GLOBAL_DIR"), *home;
	char *base, *note;
	int r;

	if (dir != NULL)
		base = render_path(dir, NULL);
	else if ((home = render_home(env, d)) != NULL)
		base = render_path(home, ".continue", NULL);
	else
		return -ERR_INVALID;
	if (base == NULL)
		return -ERR_NOMEM;
	if ((note = strdup("config.yaml is not created: it would replace "
	                   "cn's default config")) == NULL) {
		free(base);
		return -ERR_NOMEM;
	}
	if ((r = render_location(out, render_path(base, "config.yaml", NULL),
	                         base, NULL)) != 0) {
		free(note);
		return r;
	}
	out->present = fileio_exists(out->path);
	if (!out->present)
		out->note = note;
	else
		free(note);
	return 0;
}

static int continue_cli_render(const struct server *s, json_t **out,
                               struct diag *d)
{
	json_t *o = json_object(), *ro;
	int r = 0;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* cn's schema: stdio {command, type, args, env, cwd}; remote {url,
	 * type "sse" or "streamable-http", requestOptions.headers}. */
	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "type", json_string("stdio"));
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", strv_json(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(o, "type",
		                json_string(s->transport == SERVER_SSE
		                                ? "sse"
		                                : "streamable-http"));
		r |= render_set(o, "url", json_string(s->url));
		if (s->headers.n > 0) {
			if ((ro = json_object()) == NULL)
				r = -ERR_NOMEM;
			else
				r |= render_set(o, "requestOptions", ro);
			if (ro != NULL)
				r |= render_set(ro, "headers",
				                render_kvlist(&s->headers));
		}
	}
	return render_finish(o, r, out);
}

/* cn fills ${{ secrets.X }} and ${{ inputs.X }} templates anywhere in the
 * file's text, with no escape: a value holding "${" is not given to it. No
 * disabled flag, no tool filter. */
const struct adapter adapter_continue_cli = {
    .id = "continue-cli",
    .name = "Continue CLI (cn)",
    .format = HOST_FORMAT_YAML,
    .key_path = continue_cli_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = render_literal_no_braces,
    .can_disable = false,
    .tool_filters = 0,
    .locate = continue_cli_locate,
    .render = continue_cli_render,
};
