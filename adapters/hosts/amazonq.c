/* SPDX-License-Identifier: MIT */
/* Amazon Q Developer CLI (q chat): mcpServers in ~/.aws/amazonq/mcp.json, the
 * global file it loads while the agent's useLegacyMcpJson is true (the
 * default), each with its "type" and "disabled". */
#include "adapter.h"

static const char *const amazonq_key[] = {"mcpServers"};

static int amazonq_locate(const struct host_env *env, struct host_location *out,
                          struct diag *d)
{
	const char *home = render_home(env, d);

	if (home == NULL)
		return -ERR_INVALID;
	return render_location(
	    out, render_path(home, ".aws", "amazonq", "mcp.json", NULL),
	    render_path(home, ".aws", "amazonq", NULL), NULL);
}

static int amazonq_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o;
	int r;

	/* Its remote transport ("http") is Streamable HTTP only. */
	if (s->transport == SERVER_SSE)
		return diag_set(d, ERR_SKIP, 0, 0,
		                "Amazon Q Developer CLI has no SSE transport "
		                "(only stdio and Streamable HTTP)");
	if ((o = json_object()) == NULL)
		return -ERR_NOMEM;
	r = render_set(
	    o, "type",
	    json_string(s->transport == SERVER_STDIO ? "stdio" : "http"));
	r |= render_fields(o, s, "url");
	r |= render_set(o, "disabled", json_boolean(s->disabled));
	return render_finish(o, r, out);
}

/* It substitutes ${env:NAME} (in env values, its mcp_client says; no
 * escape): a value holding "${env:" is not given to it, in any field,
 * as the fields it expands are not checked on a real q. */
static int amazonq_literal(unsigned field, const char *text, size_t len,
                           struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"${env:", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

const struct adapter adapter_amazonq = {
    .id = "amazonq",
    .name = "Amazon Q Developer CLI",
    .format = HOST_FORMAT_JSON,
    .key_path = amazonq_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = amazonq_literal,
    .can_disable = true,
    /* disabledTools came with the later (Kiro) releases; older q ignore
     * it, so filters are left to the launcher. */
    .tool_filters = 0,
    .locate = amazonq_locate,
    .render = amazonq_render,
};
