/* SPDX-License-Identifier: MIT */
/* Helpers the adapters share: environment, placeholders, JSON building, paths.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "buf.h"
#include "fileio.h"

static const char *render_process_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

const struct host_env *host_env_process(void)
{
	static const struct host_env env = {
#if defined(__APPLE__)
		.os = HOST_OS_MACOS,
#elif defined(_WIN32)
		.os = HOST_OS_WINDOWS,
#else
		.os = HOST_OS_LINUX,
#endif
		.getenv = render_process_getenv,
		.ctx = NULL,
	};
	return &env;
}

const char *host_env_get(const struct host_env *env, const char *name)
{
	const char *v = env->getenv(env->ctx, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

void host_location_clear(struct host_location *loc)
{
	if (loc == NULL)
		return;
	free(loc->path);
	free(loc->marker);
	free(loc->note);
	memset(loc, 0, sizeof(*loc));
}

json_t *render_kvlist(const struct kvlist *l)
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

int render_set(json_t *o, const char *key, json_t *value)
{
	if (value == NULL)
		return -ERR_NOMEM;
	return json_object_set_new(o, key, value) == 0 ? 0 : -ERR_NOMEM;
}

int render_fields(json_t *o, const struct server *s, const char *url_key)
{
	int r = 0;

	if (s->transport == SERVER_STDIO) {
		r |= render_set(o, "command", json_string(s->command));
		r |= render_set(o, "args", strv_json(&s->args));
		if (s->env.n > 0)
			r |= render_set(o, "env", render_kvlist(&s->env));
	} else {
		r |= render_set(o, url_key, json_string(s->url));
		if (s->headers.n > 0)
			r |= render_set(o, "headers",
			                render_kvlist(&s->headers));
	}
	return r != 0 ? -ERR_NOMEM : 0;
}

int render_finish(json_t *o, int r, json_t **out)
{
	if (r != 0) {
		json_decref(o);
		return -ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* What a ${host:VAR} placeholder becomes in one field. */
enum render_host_var {
	RENDER_HOST_SKIP,    /* the host does not expand variables here */
	RENDER_HOST_KEEP,    /* the host does: written as it spells it */
	RENDER_HOST_RESOLVE, /* resolved here (the launcher runs with the
	                        host's own environment) */
};

/* How one field is written: its ${host:VAR} mode, and the host's literal()
 * (may be NULL) with the field's bit. */
struct render_field {
	enum render_host_var mode;
	const struct adapter *a;
	unsigned bit;
};

/* Appends text of field as the host must read it; a refusal names the
 * field (args, env.KEY, ...). */
static int render_put(const struct render_field *f, const char *field,
                      const char *text, size_t len, struct buf *b,
                      struct diag *d)
{
	struct diag sub;
	int r;

	if (f->a == NULL || f->a->literal == NULL)
		return buf_append(b, text, len);
	diag_clear(&sub);
	if ((r = f->a->literal(f->bit, text, len, b, &sub)) == -ERR_SKIP)
		return diag_set(d, ERR_SKIP, 0, 0, "%s: %s", field, sub.msg);
	return r;
}

/*
 * Expands the placeholders of s into a new string: ${VAR} from env, always;
 * ${host:VAR} as mode says; ${secret:...} is left as written (it never
 * reaches an agent unresolved). Placeholders were validated when the
 * catalogue was parsed.
 */
static int render_expand(const char *field, const char *s,
                         const struct host_env *env,
                         const struct render_field *f, char **out,
                         struct diag *d)
{
	enum render_host_var mode = f->mode;
	struct buf b = BUF_INIT;
	const char *p = s, *open, *close, *name;
	char var[256];
	int r = 0;

	while ((open = strstr(p, "${")) != NULL) {
		size_t n;
		bool host;
		const char *val;

		if ((r = render_put(f, field, p, (size_t)(open - p), &b, d)) !=
		    0)
			goto fail;
		close = strchr(open + 2, '}');
		name = open + 2;
		host = strncmp(name, "host:", 5) == 0;
		if (host)
			name += 5;
		n = close ? (size_t)(close - name) : 0;
		if (close == NULL || n == 0 || n >= sizeof(var) ||
		    strncmp(open + 2, "secret:", 7) == 0) {
			/* Not ours to expand: keep it literally. */
			size_t keep = close ? (size_t)(close - open) + 1 : 2;

			if ((r = render_put(f, field, open, keep, &b, d)) != 0)
				goto fail;
			p = open + keep;
			continue;
		}
		memcpy(var, name, n);
		var[n] = '\0';
		p = close + 1;
		if (host && mode == RENDER_HOST_SKIP) {
			r = diag_set(
			    d, ERR_SKIP, 0, 0,
			    "%s: ${host:%s} asks the host to expand %s "
			    "itself, and this host does not expand "
			    "variables there",
			    field, var, var);
			goto fail;
		}
		if (host && mode == RENDER_HOST_KEEP) {
			/* Every host that expands variables spells ${VAR}. */
			if ((r = buf_printf(&b, "${%s}", var)) != 0)
				goto fail;
			continue;
		}
		if ((val = env->getenv(env->ctx, var)) == NULL) {
			r = diag_set(d, ERR_UNSET, 0, 0,
			             "%s: ${%s} is not set in the environment",
			             field, var);
			goto fail;
		}
		if ((r = render_put(f, field, val, strlen(val), &b, d)) != 0)
			goto fail;
	}
	if ((r = render_put(f, field, p, strlen(p), &b, d)) != 0)
		goto fail;
	if ((*out = buf_steal(&b, NULL)) == NULL)
		r = -ERR_NOMEM;
	return r;
fail:
	buf_free(&b);
	return r;
}

/* How a field is written, from render_resolve()'s keep and the host. */
static struct render_field render_field_of(const struct adapter *a,
                                           unsigned keep, unsigned bit)
{
	struct render_field f = {RENDER_HOST_SKIP, a, bit};

	if (keep & RENDER_RESOLVE_HOST)
		f.mode = RENDER_HOST_RESOLVE;
	else if (keep & bit)
		f.mode = RENDER_HOST_KEEP;
	return f;
}

static int render_expand_strv(const char *field, struct strv *v,
                              const struct host_env *env,
                              const struct render_field *mode, struct diag *d)
{
	size_t i;
	char *x;
	int r;

	for (i = 0; i < v->n; i++) {
		if ((r = render_expand(field, v->v[i], env, mode, &x, d)) != 0)
			return r;
		free(v->v[i]);
		v->v[i] = x;
	}
	return 0;
}

static int render_expand_kv(const char *field, struct kvlist *l,
                            const struct host_env *env,
                            const struct render_field *mode, struct diag *d)
{
	char sub[128];
	size_t i;
	char *x;
	int r;

	for (i = 0; i < l->n; i++) {
		(void)snprintf(sub, sizeof(sub), "%s.%.64s", field,
		               l->v[i].key);
		if ((r = render_expand(sub, l->v[i].value, env, mode, &x, d)) !=
		    0)
			return r;
		free(l->v[i].value);
		l->v[i].value = x;
	}
	return 0;
}

static int render_expand_str(const char *field, char **s,
                             const struct host_env *env,
                             const struct render_field *mode, struct diag *d)
{
	char *x;
	int r;

	if (*s == NULL)
		return 0;
	if ((r = render_expand(field, *s, env, mode, &x, d)) != 0)
		return r;
	free(*s);
	*s = x;
	return 0;
}

static int render_resolve_with(const struct adapter *a, const struct server *s,
                               const struct host_env *env, unsigned keep,
                               struct server *out, struct diag *d)
{
	const struct render_field
	    fc = render_field_of(a, keep, RENDER_KEEP_COMMAND),
	    fa = render_field_of(a, keep, RENDER_KEEP_ARGS),
	    fe = render_field_of(a, keep, RENDER_KEEP_ENV),
	    fu = render_field_of(a, keep, RENDER_KEEP_URL),
	    fh = render_field_of(a, keep, RENDER_KEEP_HEADERS);
	struct server c;
	size_t i;
	int r;

	if ((r = server_copy(s, &c)) != 0)
		return r;
	if ((r = render_expand_str("command", &c.command, env, &fc, d)) != 0 ||
	    (r = render_expand_strv("args", &c.args, env, &fa, d)) != 0 ||
	    (r = render_expand_kv("env", &c.env, env, &fe, d)) != 0 ||
	    (r = render_expand_str("url", &c.url, env, &fu, d)) != 0 ||
	    (r = render_expand_kv("headers", &c.headers, env, &fh, d)) != 0) {
		server_clear(&c);
		return r;
	}
	/* A variable's value can make a header no host can send. */
	for (i = 0; i < c.headers.n; i++) {
		const char *why = header_value_problem(c.headers.v[i].value);

		if (why != NULL) {
			r = diag_set(d, ERR_SKIP, 0, 0,
			             "headers.%s: with its ${VAR}s filled in, "
			             "the value %s",
			             c.headers.v[i].key, why);
			server_clear(&c);
			return r;
		}
	}
	*out = c;
	return 0;
}

int render_resolve(const struct server *s, const struct host_env *env,
                   unsigned keep, struct server *out, struct diag *d)
{
	return render_resolve_with(NULL, s, env, keep, out, d);
}

int render_resolve_for(const struct adapter *a, const struct server *s,
                       const struct host_env *env, struct server *out,
                       struct diag *d)
{
	return render_resolve_with(a, s, env, a->expands_env, out, d);
}

/* ---- Writing a value literally ---- */

#define RENDER_LITERAL_DOLLAR "${__MCPFLEET_LITERAL:-$}"

int render_literal_braces(unsigned where, unsigned field, const char *text,
                          size_t len, struct buf *out, struct diag *d)
{
	size_t i, from = 0;
	int r;

	(void)d;
	if (!(where & field))
		return buf_append(out, text, len);
	for (i = 0; i + 1 < len; i++) {
		if (text[i] != '$' || text[i + 1] != '{')
			continue;
		if ((r = buf_append(out, text + from, i - from)) != 0 ||
		    (r = buf_puts(out, RENDER_LITERAL_DOLLAR)) != 0)
			return r;
		from = i + 1; /* the '{' is written as it is */
	}
	return buf_append(out, text + from, len - from);
}

/* True when text[i] is a '$' the host reads as the start of a variable. */
static bool render_dollar_expands(const char *text, size_t len, size_t i)
{
	unsigned char c;

	if (text[i] != '$' || i + 1 >= len)
		return false;
	c = (unsigned char)text[i + 1];
	return c == '{' || c == '_' || (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int render_literal_dollar(unsigned once, unsigned twice, unsigned field,
                          const char *text, size_t len, struct buf *out,
                          struct diag *d)
{
	size_t i, from = 0;
	int r;

	if (!((once | twice) & field))
		return buf_append(out, text, len);
	for (i = 0; i < len; i++) {
		if (!render_dollar_expands(text, len, i))
			continue;
		if (twice & field)
			return diag_set(
			    d, ERR_SKIP, 0, 0,
			    "'%.*s' would be expanded by the host, "
			    "which has no way to write it literally "
			    "there",
			    (int)(len > 80 ? 80 : len), text);
		if ((r = buf_append(out, text + from, i - from)) != 0 ||
		    (r = buf_puts(out, RENDER_LITERAL_DOLLAR)) != 0)
			return r;
		from = i + 1;
	}
	return buf_append(out, text + from, len - from);
}

int render_literal_no_braces(unsigned field, const char *text, size_t len,
                             struct buf *out, struct diag *d)
{
	static const char *const patterns[] = {"${", NULL};

	return render_literal_refuse(RENDER_KEEP_COMMAND | RENDER_KEEP_ARGS |
	                                 RENDER_KEEP_ENV | RENDER_KEEP_URL |
	                                 RENDER_KEEP_HEADERS,
	                             patterns, field, text, len, out, d);
}

int render_literal_refuse(unsigned where, const char *const *patterns,
                          unsigned field, const char *text, size_t len,
                          struct buf *out, struct diag *d)
{
	size_t k, n;

	for (k = 0; (where & field) && patterns[k] != NULL; k++) {
		size_t i;
		bool hit = false;

		n = strlen(patterns[k]);
		for (i = 0; !hit && n > 0 && i + n <= len; i++)
			hit = memcmp(text + i, patterns[k], n) == 0;
		if (hit)
			return diag_set(d, ERR_SKIP, 0, 0,
			                "'%.*s' holds %s, which the host would "
			                "expand, and it has no way to write it "
			                "literally",
			                (int)(len > 80 ? 80 : len), text,
			                patterns[k]);
	}
	return buf_append(out, text, len);
}

int render_rule_glob(const char *glob, struct diag *d)
{
	size_t i;

	for (i = 0; glob[i] != '\0'; i++)
		if (!((glob[i] >= 'a' && glob[i] <= 'z') ||
		      (glob[i] >= 'A' && glob[i] <= 'Z') ||
		      (glob[i] >= '0' && glob[i] <= '9') ||
		      strchr("_-*", glob[i]) != NULL))
			return diag_set(d, ERR_SKIP, 0, 0,
			                "'%c' has no place in a tool rule "
			                "(letters, digits, '_', '-' and '*')",
			                glob[i]);
	return 0;
}

char *render_path(const char *first, ...)
{
	struct buf b = BUF_INIT;
	const char *p;
	va_list ap;
	int r = 0;

	va_start(ap, first);
	for (p = first; p != NULL && r == 0; p = va_arg(ap, const char *)) {
		if (b.len > 0 && b.data[b.len - 1] != '/')
			r = buf_putc(&b, '/');
		if (r == 0)
			r = buf_puts(&b, b.len > 0 && *p == '/' ? p + 1 : p);
	}
	va_end(ap);
	if (r != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

const char *render_home(const struct host_env *env, struct diag *d)
{
	const char *var = env->os == HOST_OS_WINDOWS ? "USERPROFILE" : "HOME";
	const char *home = host_env_get(env, var);

	if (home == NULL)
		diag_set(d, ERR_INVALID, 0, 0,
		         "%s is not set: cannot find the hosts' files", var);
	return home;
}

int render_location(struct host_location *out, char *path, char *marker,
                    char *note)
{
	if (path == NULL || marker == NULL) {
		free(path);
		free(marker);
		free(note);
		return -ERR_NOMEM;
	}
	out->path = path;
	out->marker = marker;
	out->note = note;
	out->present = fileio_is_dir(marker) || fileio_exists(path);
	return 0;
}
