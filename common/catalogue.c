/* SPDX-License-Identifier: MIT */
/* The canonical server schema: parse, validate, copy and serialise. */
#include "catalogue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

static const char *const catalogue_reserved_names[] = {
    "servers",   /* OpenCode V2's mcp.servers envelope */
    "timeout",   /* OpenCode V2's mcp.timeout */
    "workspace", /* reserved by Claude Code */
};

bool server_via_launcher(const struct server *s)
{
	return s->via == SERVER_VIA_LAUNCHER ||
	       (s->via == SERVER_VIA_DEFAULT && s->origin == SERVER_FLEET);
}

int sealed_list_push(struct sealed_list *l, const char *name, int64_t version,
                     const uint8_t *data, size_t len)
{
	struct sealed_secret *nv, e = {0};

	if ((e.name = strdup(name)) == NULL ||
	    (e.data = malloc(len > 0 ? len : 1)) == NULL) {
		free(e.name);
		return -ERR_NOMEM;
	}
	memcpy(e.data, data, len);
	e.len = len;
	e.version = version;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
		free(e.name);
		free(e.data);
		return -ERR_NOMEM;
	}
	l->v = nv;
	l->v[l->n++] = e;
	return 0;
}

const struct sealed_secret *sealed_list_find(const struct sealed_list *l,
                                             const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

void sealed_list_clear(struct sealed_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].data);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int catalogue_refs_of(const char *s, struct strv *out)
{
	const char *p = s, *end;
	char name[256];
	size_t n;
	int r;

	while (p != NULL && (p = strstr(p, "${secret:")) != NULL) {
		p += 9;
		if ((end = strchr(p, '}')) == NULL)
			break;
		n = (size_t)(end - p);
		if (n > 0 && n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			if (!strv_has(out, name) &&
			    (r = strv_push(out, name)) != 0)
				return r;
		}
		p = end + 1;
	}
	return 0;
}

int server_each_value(const struct server *s,
                      int (*fn)(void *ctx, const char *value), void *ctx)
{
	size_t i;
	int r = 0;

	if (s->command != NULL && (r = fn(ctx, s->command)) != 0)
		return r;
	if (s->url != NULL && (r = fn(ctx, s->url)) != 0)
		return r;
	for (i = 0; i < s->args.n; i++)
		if ((r = fn(ctx, s->args.v[i])) != 0)
			return r;
	for (i = 0; i < s->env.n; i++)
		if ((r = fn(ctx, s->env.v[i].value)) != 0)
			return r;
	for (i = 0; i < s->headers.n; i++)
		if ((r = fn(ctx, s->headers.v[i].value)) != 0)
			return r;
	return 0;
}

static int catalogue_refs_cb(void *ctx, const char *value)
{
	return catalogue_refs_of(value, ctx) != 0 ? -ERR_NOMEM : 0;
}

int server_secret_refs(const struct server *s, struct strv *out)
{
	return server_each_value(s, catalogue_refs_cb, out);
}

bool server_has_secrets(const struct server *s)
{
	return s->secrets.n > 0;
}

const char *server_via_name(enum server_via via)
{
	switch (via) {
	case SERVER_VIA_LAUNCHER:
		return "launcher";
	case SERVER_VIA_DIRECT:
		return "direct";
	case SERVER_VIA_DEFAULT:
		break;
	}
	return NULL;
}

const char *server_transport_name(enum server_transport t)
{
	switch (t) {
	case SERVER_STDIO:
		return "stdio";
	case SERVER_HTTP:
		return "http";
	case SERVER_SSE:
		return "sse";
	}
	return "?";
}

void strv_clear(struct strv *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

void kvlist_clear(struct kvlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int strv_push(struct strv *v, const char *s)
{
	char **nv, *c;

	if ((c = strdup(s)) == NULL)
		return -ERR_NOMEM;
	if ((nv = realloc(v->v, (v->n + 1) * sizeof(*nv))) == NULL) {
		free(c);
		return -ERR_NOMEM;
	}
	nv[v->n++] = c;
	v->v = nv;
	return 0;
}

bool strv_has(const struct strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

static int strset_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int strset_init(struct strset *set, char *const *v, size_t n)
{
	set->v = NULL;
	set->n = 0;
	if (n == 0)
		return 0;
	if ((set->v = malloc(n * sizeof(*set->v))) == NULL)
		return -ERR_NOMEM;
	memcpy(set->v, v, n * sizeof(*set->v));
	set->n = n;
	qsort(set->v, n, sizeof(*set->v), strset_cmp);
	return 0;
}

bool strset_has(const struct strset *set, const char *s)
{
	return set->n > 0 &&
	       bsearch(&s, set->v, set->n, sizeof(*set->v), strset_cmp) != NULL;
}

void strset_clear(struct strset *set)
{
	if (set == NULL)
		return;
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

int kvlist_push(struct kvlist *l, const char *key, const char *value)
{
	struct kv *nv;
	char *k, *val;

	k = strdup(key);
	val = strdup(value);
	if (k == NULL || val == NULL)
		goto nomem;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		goto nomem;
	nv[l->n].key = k;
	nv[l->n].value = val;
	l->n++;
	l->v = nv;
	return 0;
nomem:
	free(k);
	free(val);
	return -ERR_NOMEM;
}

const char *kvlist_get(const struct kvlist *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

int server_name_check(const char *name, struct diag *d)
{
	size_t i, n = strlen(name);

	if (n == 0)
		return diag_set(d, ERR_INVALID, 0, 0, "server name is empty");
	if (n > SERVER_NAME_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "server name '%.64s...' is longer than %d "
		                "characters",
		                name, SERVER_NAME_MAX);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "server name '%s': only letters, "
			                "digits, '-' and '_' are allowed",
			                jsonutil_printable(name));
	}
	for (i = 0; i < sizeof(catalogue_reserved_names) /
	                    sizeof(catalogue_reserved_names[0]);
	     i++)
		if (strcmp(name, catalogue_reserved_names[i]) == 0)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "server name '%s' is reserved by a "
			                "host (servers, timeout, workspace)",
			                name);
	return 0;
}

/* Environment variable names as POSIX's portable set has them. */
static bool catalogue_env_name_ok(const char *s)
{
	const char *p;

	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	      *s == '_'))
		return false;
	for (p = s + 1; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

const char *header_value_problem(const char *v)
{
	size_t i, n = strlen(v);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c >= 0x80)
			return "holds a character that is not ASCII";
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "holds a control character";
	}
	if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
	              v[n - 1] == '\t'))
		return "starts or ends with a space or tab, which HTTP drops";
	return NULL;
}

/* HTTP field names are RFC 9110 tokens. */
static bool catalogue_header_name_ok(const char *s)
{
	const char *p;

	if (*s == '\0')
		return false;
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

/*
 * Checks a string value: length, no control characters (tab allowed where
 * the value may hold free text), and well-formed ${...} placeholders.
 */
#define CATALOGUE_TAB     0x1u /* a tab may appear (free text) */
#define CATALOGUE_NEWLINE 0x2u /* and line breaks (an env value: a PEM key) */

static int catalogue_check_string(const char *field, const char *s,
                                  unsigned allow,
                                  const struct catalogue_opts *opts,
                                  struct diag *d)
{
	const char *p, *end;
	size_t n = strlen(s);

	if (n > CATALOGUE_MAX_STRING)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: longer than %d bytes", field,
		                CATALOGUE_MAX_STRING);
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && !((allow & CATALOGUE_TAB) && c == '\t') &&
		     !((allow & CATALOGUE_NEWLINE) &&
		       (c == '\n' || c == '\r'))) ||
		    c == 0x7f)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: control character 0x%02x is not "
			                "allowed",
			                field, c);
	}
	for (p = strstr(s, "${"); p != NULL; p = strstr(end + 1, "${")) {
		const char *name = p + 2;
		char tmp[SERVER_NAME_MAX * 4 + 1];
		size_t len;
		bool secret = false;

		if ((end = strchr(name, '}')) == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: unterminated '${' placeholder",
			                field);
		if (strncmp(name, "secret:", 7) == 0) {
			secret = true;
			name += 7;
		} else if (strncmp(name, "host:", 5) == 0) {
			name += 5; /* left to the host: render.c */
		}
		len = (size_t)(end - name);
		if (len == 0 || len >= sizeof(tmp))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: empty or overlong name in "
			                "placeholder",
			                field);
		memcpy(tmp, name, len);
		tmp[len] = '\0';
		if (!catalogue_env_name_ok(tmp))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: '%s' is not a valid %s name "
			                "([A-Za-z_][A-Za-z0-9_]*)",
			                field, jsonutil_printable(tmp),
			                secret ? "secret" : "variable");
		if (secret && !opts->allow_secret_refs)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: ${secret:%s} is resolved by the "
			                "fleet server and cannot appear in a "
			                "personal catalogue",
			                field, tmp);
	}
	return 0;
}

static int catalogue_get_string_list(const char *field, const json_t *v,
                                     const struct catalogue_opts *opts,
                                     bool unique, struct strv *out,
                                     struct diag *d)
{
	struct strv list = {0};
	size_t i;
	const json_t *item;
	int r;

	if (!json_is_array(v))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: must be an array of strings", field);
	if (json_array_size(v) > CATALOGUE_MAX_LIST)
		return diag_set(d, ERR_INVALID, 0, 0, "%s: more than %d items",
		                field, CATALOGUE_MAX_LIST);
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s[%zu]: must be a string", field, i);
			goto fail;
		}
		if ((r = catalogue_check_string(field, json_string_value(item),
		                                CATALOGUE_TAB, opts, d)) != 0)
			goto fail;
		if (unique && strv_has(&list, json_string_value(item))) {
			r = diag_set(
			    d, ERR_INVALID, 0, 0, "%s: '%s' is listed twice",
			    field, jsonutil_printable(json_string_value(item)));
			goto fail;
		}
		if ((r = strv_push(&list, json_string_value(item))) != 0)
			goto fail;
	}
	*out = list;
	return 0;
fail:
	strv_clear(&list);
	return r;
}

static int catalogue_get_map(const char *field, const json_t *v,
                             const struct catalogue_opts *opts,
                             bool (*key_ok)(const char *), const char *key_rule,
                             unsigned allow, struct kvlist *out, struct diag *d)
{
	struct kvlist list = {0};
	const char *key;
	const json_t *val;
	int r;

	if (!json_is_object(v))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: must be an object of strings", field);
	if (json_object_size(v) > CATALOGUE_MAX_LIST)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: more than %d entries", field,
		                CATALOGUE_MAX_LIST);
	json_object_foreach((json_t *)(uintptr_t)v, key, val)
	{
		if (!key_ok(key)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s: '%s' is not a valid name (%s)", field,
			             jsonutil_printable(key), key_rule);
			goto fail;
		}
		if (!json_is_string(val)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s.%s: must be a string", field, key);
			goto fail;
		}
		if ((r = catalogue_check_string(field, json_string_value(val),
		                                allow, opts, d)) != 0)
			goto fail;
		if ((r = kvlist_push(&list, key, json_string_value(val))) != 0)
			goto fail;
	}
	*out = list;
	return 0;
fail:
	kvlist_clear(&list);
	return r;
}

static bool catalogue_url_ok(const char *u)
{
	const char *host;

	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return false;
	if (*host == '\0' || *host == '/')
		return false;
	/* Placeholders (${VAR}) are checked with the other strings. */
	return strpbrk(u, " \t\"<>\\`") == NULL;
}

/* Reads via, rate and tool_rates of entry into s. */
static int catalogue_limits(const char *name, const json_t *entry,
                            struct server *s, struct diag *d)
{
	const json_t *v;
	char field[SERVER_NAME_MAX + 64];
	int r;

	if ((v = json_object_get(entry, "via")) != NULL) {
		const char *t = json_string_value(v);

		if (t != NULL && strcmp(t, "launcher") == 0)
			s->via = SERVER_VIA_LAUNCHER;
		else if (t != NULL && strcmp(t, "direct") == 0)
			s->via = SERVER_VIA_DIRECT;
		else
			return diag_set(d, ERR_INVALID, 0, 0,
			                "servers.%s.via: must be \"launcher\" "
			                "(mcpfleet exec runs it) or \"direct\" "
			                "(the host runs it itself)",
			                name);
	}
	if ((v = json_object_get(entry, "rate")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.rate", name);
		if (!json_is_string(v))
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "%s: must be a string such as \"60/min\"", field);
		if ((r = rate_parse(field, json_string_value(v), &s->rate,
		                    d)) != 0)
			return r;
	}
	if ((v = json_object_get(entry, "tool_rates")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.tool_rates",
		               name);
		return tool_rates_from_json(field, v, &s->tool_rates, d);
	}
	return 0;
}

int tool_rates_from_json(const char *field, const json_t *v,
                         struct tool_rate_list *out, struct diag *d)
{
	const json_t *tv;
	const char *key;
	char sub[256];
	struct rate rate;
	int r;

	if (!json_is_object(v) || json_object_size(v) == 0 ||
	    json_object_size(v) > CATALOGUE_MAX_LIST)
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "%s: must be an object of 1 to %d tool globs to "
		    "rates, such as {\"delete_*\": \"5/hour\"}",
		    field, CATALOGUE_MAX_LIST);
	json_object_foreach((json_t *)(uintptr_t)v, key, tv)
	{
		if ((r = glob_check(field, key, d)) != 0)
			return r;
		(void)snprintf(sub, sizeof(sub), "%.160s.%.64s", field, key);
		if (!json_is_string(tv))
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "%s: must be a string such as \"5/hour\"", sub);
		if ((r = rate_parse(sub, json_string_value(tv), &rate, d)) !=
		        0 ||
		    (r = tool_rate_list_put(out, key, &rate)) != 0)
			return r;
	}
	return 0;
}

json_t *tool_rates_to_json(const struct tool_rate_list *l)
{
	char rate[RATE_TEXT_MAX];
	json_t *o = json_object();
	size_t i;
	int bad = o == NULL;

	for (i = 0; o != NULL && i < l->n; i++)
		bad |= json_object_set_new(
		    o, l->v[i].tools,
		    json_string(rate_format(&l->v[i].rate, rate)));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int server_from_json(const char *name, const json_t *entry,
                     const struct catalogue_opts *opts, struct server *out,
                     struct diag *d)
{
	static const char *const known[] = {
	    "command", "args",     "env",   "url", "type", "headers",
	    "hosts",   "disabled", "tools", "via", "rate", "tool_rates"};
	static const struct catalogue_opts defaults = {0};
	struct server s = {0};
	const json_t *v, *type;
	const char *key;
	char field[SERVER_NAME_MAX + 64];
	size_t i;
	int r;

	if (opts == NULL)
		opts = &defaults;
	if ((r = server_name_check(name, d)) != 0)
		return r;
	if (!json_is_object(entry))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "servers.%s: must be an object", name);
	json_object_foreach((json_t *)(uintptr_t)entry, key, v)
	{
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "servers.%s: unknown field '%s' "
			                "(known: command, args, env, url, "
			                "type, headers, hosts, disabled, "
			                "tools, via, rate, tool_rates)",
			                name, jsonutil_printable(key));
	}
	if ((s.name = strdup(name)) == NULL)
		return -ERR_NOMEM;
	s.origin = SERVER_PERSONAL;
	{
		const json_t *cmd = json_object_get(entry, "command");
		const json_t *url = json_object_get(entry, "url");

		if ((cmd == NULL) == (url == NULL)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "servers.%s: needs exactly one of "
			             "'command' (stdio) or 'url' (remote)",
			             name);
			goto fail;
		}
		type = json_object_get(entry, "type");
		if (type != NULL && !json_is_string(type)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "servers.%s.type: must be a string", name);
			goto fail;
		}
		if (cmd != NULL) {
			if (!json_is_string(cmd) ||
			    json_string_length(cmd) == 0) {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "servers.%s.command: must be a "
				             "non-empty string",
				             name);
				goto fail;
			}
			if (type != NULL &&
			    strcmp(json_string_value(type), "stdio") != 0) {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "servers.%s.type: '%s' does not "
				             "go with 'command' (use 'stdio' "
				             "or leave it out)",
				             name,
				             jsonutil_printable(
				                 json_string_value(type)));
				goto fail;
			}
			(void)snprintf(field, sizeof(field),
			               "servers.%s.command", name);
			if ((r = catalogue_check_string(field,
			                                json_string_value(cmd),
			                                0, opts, d)) != 0)
				goto fail;
			s.transport = SERVER_STDIO;
			if ((s.command = strdup(json_string_value(cmd))) ==
			    NULL)
				goto nomem;
		} else {
			const char *t = type ? json_string_value(type) : "http";

			if (!json_is_string(url) ||
			    !catalogue_url_ok(json_string_value(url))) {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "servers.%s.url: must be an "
				             "http:// or https:// URL",
				             name);
				goto fail;
			}
			if (strcmp(t, "http") == 0)
				s.transport = SERVER_HTTP;
			else if (strcmp(t, "sse") == 0)
				s.transport = SERVER_SSE;
			else {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "servers.%s.type: '%s' is not a "
				             "remote transport (use 'http' or "
				             "'sse')",
				             name, jsonutil_printable(t));
				goto fail;
			}
			(void)snprintf(field, sizeof(field), "servers.%s.url",
			               name);
			if ((r = catalogue_check_string(field,
			                                json_string_value(url),
			                                0, opts, d)) != 0)
				goto fail;
			if ((s.url = strdup(json_string_value(url))) == NULL)
				goto nomem;
		}
	}
	if ((v = json_object_get(entry, "args")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.args", name);
		if (s.transport != SERVER_STDIO) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s: only a stdio server has arguments",
			             field);
			goto fail;
		}
		if ((r = catalogue_get_string_list(field, v, opts, false,
		                                   &s.args, d)) != 0)
			goto fail;
	}
	if ((v = json_object_get(entry, "env")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.env", name);
		if (s.transport != SERVER_STDIO) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s: only a stdio server has an "
			             "environment (remote servers take "
			             "'headers')",
			             field);
			goto fail;
		}
		if ((r = catalogue_get_map(
		         field, v, opts, catalogue_env_name_ok,
		         "[A-Za-z_][A-Za-z0-9_]*",
		         CATALOGUE_TAB | CATALOGUE_NEWLINE, &s.env, d)) != 0)
			goto fail;
	}
	if ((v = json_object_get(entry, "headers")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.headers",
		               name);
		if (s.transport == SERVER_STDIO) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s: only a remote server has headers",
			             field);
			goto fail;
		}
		if ((r = catalogue_get_map(field, v, opts,
		                           catalogue_header_name_ok,
		                           "an HTTP field name", CATALOGUE_TAB,
		                           &s.headers, d)) != 0)
			goto fail;
		for (i = 0; i < s.headers.n; i++) {
			const char *why =
			    header_value_problem(s.headers.v[i].value);

			if (why != NULL) {
				r = diag_set(
				    d, ERR_INVALID, 0, 0,
				    "%s.%s: %s (an HTTP field value is "
				    "visible ASCII, spaces and tabs)",
				    field, s.headers.v[i].key, why);
				goto fail;
			}
		}
	}
	if ((v = json_object_get(entry, "hosts")) != NULL) {
		(void)snprintf(field, sizeof(field), "servers.%s.hosts", name);
		if ((r = catalogue_get_string_list(field, v, opts, true,
		                                   &s.hosts, d)) != 0)
			goto fail;
		s.has_hosts = true;
		for (i = 0; i < s.hosts.n; i++)
			if (opts->host_known != NULL &&
			    !opts->host_known(s.hosts.v[i])) {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "%s: unknown host '%s' (see "
				             "'mcpfleet hosts')",
				             field,
				             jsonutil_printable(s.hosts.v[i]));
				goto fail;
			}
	}
	if ((v = json_object_get(entry, "disabled")) != NULL) {
		if (!json_is_boolean(v)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "servers.%s.disabled: must be true or "
			             "false",
			             name);
			goto fail;
		}
		s.disabled = json_is_true(v);
	}
	if ((v = json_object_get(entry, "tools")) != NULL) {
		const json_t *tv;

		if (!json_is_object(v)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "servers.%s.tools: must be an object "
			             "with 'allow' and/or 'deny'",
			             name);
			goto fail;
		}
		json_object_foreach((json_t *)(uintptr_t)v, key, tv)
		{
			struct strv *dst;

			if (strcmp(key, "allow") == 0)
				dst = &s.tools_allow;
			else if (strcmp(key, "deny") == 0)
				dst = &s.tools_deny;
			else {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "servers.%s.tools: unknown field "
				             "'%s' (known: allow, deny)",
				             name, jsonutil_printable(key));
				goto fail;
			}
			(void)snprintf(field, sizeof(field),
			               "servers.%s.tools.%s", name, key);
			if ((r = catalogue_get_string_list(field, tv, opts,
			                                   true, dst, d)) != 0)
				goto fail;
		}
	}
	if ((r = catalogue_limits(name, entry, &s, d)) != 0)
		goto fail;
	*out = s;
	return 0;
nomem:
	r = -ERR_NOMEM;
fail:
	server_clear(&s);
	return r;
}

json_t *strv_json(const struct strv *v)
{
	json_t *a = json_array();
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < v->n; i++)
		if (json_array_append_new(a, json_string(v->v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *catalogue_kv_json(const struct kvlist *l)
{
	json_t *o = json_object();
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < l->n; i++)
		if (json_object_set_new(o, l->v[i].key,
		                        json_string(l->v[i].value)) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

json_t *server_to_json(const struct server *s)
{
	json_t *o = json_object(), *tools;
	char rate[RATE_TEXT_MAX];
	int bad = 0;

	if (o == NULL)
		return NULL;
	if (s->transport == SERVER_STDIO) {
		bad |=
		    json_object_set_new(o, "command", json_string(s->command));
		if (s->args.n > 0)
			bad |=
			    json_object_set_new(o, "args", strv_json(&s->args));
		if (s->env.n > 0)
			bad |= json_object_set_new(o, "env",
			                           catalogue_kv_json(&s->env));
	} else {
		bad |= json_object_set_new(o, "url", json_string(s->url));
		bad |= json_object_set_new(
		    o, "type",
		    json_string(server_transport_name(s->transport)));
		if (s->headers.n > 0)
			bad |= json_object_set_new(
			    o, "headers", catalogue_kv_json(&s->headers));
	}
	if (s->has_hosts)
		bad |= json_object_set_new(o, "hosts", strv_json(&s->hosts));
	if (s->disabled)
		bad |= json_object_set_new(o, "disabled", json_true());
	if (s->tools_allow.n > 0 || s->tools_deny.n > 0) {
		if ((tools = json_object()) == NULL) {
			json_decref(o);
			return NULL;
		}
		if (s->tools_allow.n > 0)
			bad |= json_object_set_new(tools, "allow",
			                           strv_json(&s->tools_allow));
		if (s->tools_deny.n > 0)
			bad |= json_object_set_new(tools, "deny",
			                           strv_json(&s->tools_deny));
		bad |= json_object_set_new(o, "tools", tools);
	}
	if (server_via_name(s->via) != NULL)
		bad |= json_object_set_new(
		    o, "via", json_string(server_via_name(s->via)));
	if (s->rate.count > 0)
		bad |= json_object_set_new(
		    o, "rate", json_string(rate_format(&s->rate, rate)));
	if (s->tool_rates.n > 0)
		bad |= json_object_set_new(o, "tool_rates",
		                           tool_rates_to_json(&s->tool_rates));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int server_strv_copy(const struct strv *src, struct strv *dst)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		if (strv_push(dst, src->v[i]) != 0)
			return -ERR_NOMEM;
	return 0;
}

static int server_kvlist_copy(const struct kvlist *src, struct kvlist *dst)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		if (kvlist_push(dst, src->v[i].key, src->v[i].value) != 0)
			return -ERR_NOMEM;
	return 0;
}

int server_copy(const struct server *s, struct server *out)
{
	struct server c = {0};
	size_t i;

	/* Field by field: sync renders every server for every host, and a
	 * trip through JSON cost more than the rendering. test_catalogue
	 * checks that the copy's JSON is the original's. */
	c.transport = s->transport;
	c.origin = s->origin;
	c.has_hosts = s->has_hosts;
	c.disabled = s->disabled;
	c.via = s->via;
	c.rate = s->rate;
	if ((c.name = strdup(s->name)) == NULL ||
	    (s->command != NULL && (c.command = strdup(s->command)) == NULL) ||
	    (s->url != NULL && (c.url = strdup(s->url)) == NULL) ||
	    server_strv_copy(&s->args, &c.args) != 0 ||
	    server_kvlist_copy(&s->env, &c.env) != 0 ||
	    server_kvlist_copy(&s->headers, &c.headers) != 0 ||
	    server_strv_copy(&s->hosts, &c.hosts) != 0 ||
	    server_strv_copy(&s->tools_allow, &c.tools_allow) != 0 ||
	    server_strv_copy(&s->tools_deny, &c.tools_deny) != 0)
		goto nomem;
	for (i = 0; i < s->tool_rates.n; i++)
		if (tool_rate_list_put(&c.tool_rates, s->tool_rates.v[i].tools,
		                       &s->tool_rates.v[i].rate) != 0)
			goto nomem;
	for (i = 0; i < s->secrets.n; i++)
		if (sealed_list_push(&c.secrets, s->secrets.v[i].name,
		                     s->secrets.v[i].version,
		                     s->secrets.v[i].data,
		                     s->secrets.v[i].len) != 0)
			goto nomem;
	*out = c;
	return 0;
nomem:
	server_clear(&c);
	return -ERR_NOMEM;
}

void server_clear(struct server *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->command);
	free(s->url);
	strv_clear(&s->args);
	kvlist_clear(&s->env);
	kvlist_clear(&s->headers);
	strv_clear(&s->hosts);
	strv_clear(&s->tools_allow);
	strv_clear(&s->tools_deny);
	tool_rate_list_clear(&s->tool_rates);
	sealed_list_clear(&s->secrets);
	memset(s, 0, sizeof(*s));
}

static int catalogue_cmp(const void *a, const void *b)
{
	return strcmp(((const struct server *)a)->name,
	              ((const struct server *)b)->name);
}

int catalogue_parse(const char *text, size_t len,
                    const struct catalogue_opts *opts, struct catalogue *out,
                    struct diag *d)
{
	struct catalogue c = {0};
	json_error_t je;
	json_t *root, *v, *servers;
	const char *key;
	size_t n;
	int r = 0;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return diag_set(d, ERR_PARSE, (unsigned)je.line,
		                (unsigned)je.column, "%s", je.text);
	if (!json_is_object(root)) {
		r = diag_set(d, ERR_INVALID, 1, 1,
		             "the document must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "version") != 0 &&
		    strcmp(key, "servers") != 0 &&
		    strcmp(key, "$schema") != 0) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "unknown top-level field '%s' (known: "
			             "version, servers)",
			             jsonutil_printable(key));
			goto out;
		}
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != CATALOGUE_VERSION) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "version: must be %d (this mcpfleet reads "
		             "catalogue version %d)",
		             CATALOGUE_VERSION, CATALOGUE_VERSION);
		goto out;
	}
	servers = json_object_get(root, "servers");
	if (servers == NULL)
		servers = json_object();
	else
		json_incref(servers);
	if (!json_is_object(servers)) {
		json_decref(servers);
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "servers: must be an object of name: entry");
		goto out;
	}
	n = json_object_size(servers);
	if (n > CATALOGUE_MAX_SERVERS) {
		json_decref(servers);
		r = diag_set(d, ERR_TOOBIG, 0, 0,
		             "servers: more than %d entries",
		             CATALOGUE_MAX_SERVERS);
		goto out;
	}
	if (n > 0 && (c.servers = calloc(n, sizeof(*c.servers))) == NULL) {
		json_decref(servers);
		r = -ERR_NOMEM;
		goto out;
	}
	json_object_foreach(servers, key, v)
	{
		if ((r = server_from_json(key, v, opts, &c.servers[c.n], d)) !=
		    0)
			break;
		c.n++;
	}
	json_decref(servers);
	if (r != 0) {
		catalogue_clear(&c);
		goto out;
	}
	if (c.n > 1)
		qsort(c.servers, c.n, sizeof(*c.servers), catalogue_cmp);
	*out = c;
out:
	json_decref(root);
	return r;
}

json_t *catalogue_to_json(const struct catalogue *c)
{
	json_t *root = json_object(), *servers = json_object();
	size_t i;

	if (root == NULL || servers == NULL)
		goto fail;
	for (i = 0; i < c->n; i++)
		if (json_object_set_new(servers, c->servers[i].name,
		                        server_to_json(&c->servers[i])) != 0)
			goto fail;
	if (json_object_set_new(root, "version",
	                        json_integer(CATALOGUE_VERSION)) != 0)
		goto fail;
	if (json_object_set_new(root, "servers", servers) != 0) {
		servers = NULL;
		goto fail;
	}
	return root;
fail:
	json_decref(servers);
	json_decref(root);
	return NULL;
}

const struct server *catalogue_find(const struct catalogue *c, const char *name)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(name, c->servers[mid].name);

		if (cmp == 0)
			return &c->servers[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int catalogue_put(struct catalogue *c, struct server *s)
{
	struct server *ns;
	size_t i;

	for (i = 0; i < c->n; i++) {
		int cmp = strcmp(s->name, c->servers[i].name);

		if (cmp == 0) {
			server_clear(&c->servers[i]);
			c->servers[i] = *s;
			memset(s, 0, sizeof(*s));
			return 0;
		}
		if (cmp < 0)
			break;
	}
	if (c->n >= CATALOGUE_MAX_SERVERS)
		return -ERR_TOOBIG;
	if ((ns = realloc(c->servers, (c->n + 1) * sizeof(*ns))) == NULL)
		return -ERR_NOMEM;
	c->servers = ns;
	memmove(&ns[i + 1], &ns[i], (c->n - i) * sizeof(*ns));
	ns[i] = *s;
	c->n++;
	memset(s, 0, sizeof(*s));
	return 0;
}

int catalogue_remove(struct catalogue *c, const char *name)
{
	const struct server *s = catalogue_find(c, name);
	size_t i;

	if (s == NULL)
		return -ERR_NOENT;
	i = (size_t)(s - c->servers);
	server_clear(&c->servers[i]);
	memmove(&c->servers[i], &c->servers[i + 1],
	        (c->n - i - 1) * sizeof(*c->servers));
	c->n--;
	return 0;
}

void catalogue_clear(struct catalogue *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		server_clear(&c->servers[i]);
	free(c->servers);
	c->servers = NULL;
	c->n = 0;
}
