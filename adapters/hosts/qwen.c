/* SPDX-License-Identifier: MIT */
/* Qwen Code: mcpServers in ~/.qwen/settings.json ($QWEN_HOME/settings.json
 * when set), a Gemini CLI fork that spells Streamable HTTP "httpUrl" and SSE
 * "url"; no per-server enable flag. */
#include "adapter.h"

static const char *const qwen_key[] = {"mcpServers"};

static int qwen_locate(const struct host_env *env, struct host_location *out,
                       struct diag *d)
{
	const char *base = host_env_get(env, "QWEN_HOME"), *home;
	char *dir;

	/* QWEN_HOME replaces ~/.qwen itself. Qwen reads "~" and "~/x" from
	 * the home directory and any other relative path from its own working
	 * directory, which mcpfleet cannot know (FINDINGS.md, Qwen Code). */
	if (base != NULL &&
	    (base[0] == '/' || (env->os == HOST_OS_WINDOWS && base[0] != '\0' &&
	                        base[1] == ':'))) {
		dir = render_path(base, NULL);
	} else if (base != NULL && base[0] == '~' &&
	           (base[1] == '\0' || base[1] == '/' || base[1] == '\\')) {
		if ((home = render_home(env, d)) == NULL)
			return -ERR_INVALID;
		dir =
		    render_path(home, base[1] != '\0' ? base + 2 : NULL, NULL);
	} else if (base != NULL) {
		return diag_set(d, ERR_INVALID, 0, 0,
		                "QWEN_HOME=%.200s is relative: Qwen Code reads "
		                "it from its own working directory, so its "
		                "file cannot be found",
		                base);
	} else if ((home = render_home(env, d)) != NULL) {
		dir = render_path(home, ".qwen", NULL);
	} else {
		return -ERR_INVALID;
	}
	if (dir == NULL)
		return -ERR_NOMEM;
	return render_location(out, render_path(dir, "settings.json", NULL),
	                       dir, NULL);
}

static int qwen_render(const struct server *s, json_t **out, struct diag *d)
{
	json_t *o = json_object();
	int r;

	(void)d;
	if (o == NULL)
		return -ERR_NOMEM;
	/* No "type": Qwen takes the transport from the key, httpUrl for
	 * Streamable HTTP and url for SSE (its createTransport()). */
	r = render_fields(o, s, s->transport == SERVER_SSE ? "url" : "httpUrl");
	if (s->tools_allow.n > 0)
		r |= render_set(o, "includeTools", strv_json(&s->tools_allow));
	if (s->tools_deny.n > 0)
		r |= render_set(o, "excludeTools", strv_json(&s->tools_deny));
	return render_finish(o, r, out);
}

/* Qwen Code replaces $NAME and ${NAME} in every string of its settings
 * once, at load, when the variable is set; unlike Gemini CLI it has no
 * ${NAME:-default} form, so there is no escape: such a value is refused in
 * every field (FINDINGS.md). */
static int qwen_literal(unsigned field, const char *text, size_t len,
                        struct buf *out, struct diag *d)
{
	return render_literal_dollar(0,
	                             RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             field, text, len, out, d);
}

const struct adapter adapter_qwen = {
    .id = "qwen",
    .name = "Qwen Code",
    .format = HOST_FORMAT_JSONC,
    .key_path = qwen_key,
    .key_depth = 1,
    .expands_env = 0,
    .literal = qwen_literal,
    .can_disable = false,
    .tool_filters = ADAPTER_TOOLS_ALLOW | ADAPTER_TOOLS_DENY,
    .locate = qwen_locate,
    .render = qwen_render,
};
