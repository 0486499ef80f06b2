/* SPDX-License-Identifier: MIT */
/* Plans and applies the managed entries of one host file. */
#include "hostfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "buf.h"
#include "fileio.h"
#include "jsonedit.h"
#include "jsonlist.h"
#include "jsonutil.h"
#include "toml.h"
#include "tomledit.h"
#include "yamledit.h"

/* Host files larger than this are refused (Claude Code's state file is a
 * few MB in heavy use). */
#define HOSTFILE_MAX_SIZE (64u << 20)

/* Bumped whenever an adapter renders differently, so that the no-op fast
 * path of a newer mcpfleet does not trust an older stamp. */
#define HOSTFILE_RENDER_VERSION "mcpfleet-render-1"

/* Where in a file the managed entries are: the host's server entries, or
 * its tool rules (a list of strings). */
struct hostfile_target {
	enum host_format format;
	const char *const *key_path;
	size_t key_depth;
	bool list;
};

struct hostfile_doc;

/* The operations on one way of holding entries in a file. */
struct hostfile_ops {
	/* Parses doc->text into doc; 0 or an error with d set. */
	int (*parse)(struct hostfile_doc *doc, struct diag *d);
	/* Frees what parse made. */
	void (*free)(struct hostfile_doc *doc);
	/* As hostfile_doc_names. */
	int (*names)(const struct hostfile_doc *doc, char ***names, size_t *n,
	             bool *exists, struct diag *d);
	/* One entry as JSON (caller json_decref()s). */
	int (*get)(const struct hostfile_doc *doc, const char *name,
	           json_t **out, struct diag *d);
	/* Optional: sets *equal when the entry name equals want, faster
	 * than get and json_equal(). */
	int (*equal)(const struct hostfile_doc *doc, const char *name,
	             const json_t *want, bool *equal, struct diag *d);
	/* The edits applied to the text, as a splice of it (edit.h). */
	int (*edit)(const struct hostfile_doc *doc, const struct jedit *edits,
	            size_t n, bool prune, struct edit_splice *out,
	            struct diag *d);
	/* The text of a new file holding only the edits' entries. */
	int (*fresh_text)(const struct hostfile_target *a,
	                  const struct jedit *edits, size_t n, char **out,
	                  size_t *outlen, struct diag *d);
	/* As hostfile_text_empty. */
	bool (*text_empty)(const char *text, size_t len);
};

/* A parsed host file, in whichever format the host uses. */
struct hostfile_doc {
	const struct hostfile_target *a;
	const struct hostfile_ops *ops;
	struct jdoc *json;
	struct toml_doc *toml;
	struct yaml_doc *yaml;
	const char *text;
	size_t len;
};

/* The entries the host should hold, rendered. */
struct hostfile_want {
	const char *name;
	json_t *entry;     /* NULL when known */
	const char *input; /* hex of its struct hostfile_input, or NULL */
	bool known;        /* as written: not rendered (hostfile_wanted) */
};

const char *plan_op_name(enum plan_op op)
{
	switch (op) {
	case PLAN_ADD:
		return "add";
	case PLAN_UPDATE:
		return "update";
	case PLAN_REMOVE:
		return "remove";
	case PLAN_UNCHANGED:
		return "unchanged";
	case PLAN_HELD:
		return "held";
	case PLAN_SKIP:
		return "skip";
	case PLAN_CONFLICT:
		return "conflict";
	}
	return "?";
}

const char *host_status_name(enum host_status st)
{
	switch (st) {
	case HOST_OK:
		return "ok";
	case HOST_BLOCKED:
		return "blocked";
	case HOST_SKIPPED:
		return "skipped";
	case HOST_ABSENT:
		return "absent";
	}
	return "?";
}

static unsigned hostfile_json_flags(const struct hostfile_target *a)
{
	return a->format == HOST_FORMAT_JSONC ? JDOC_JSONC : 0;
}

static int hostfile_json_parse(struct hostfile_doc *doc, struct diag *d)
{
	/* The plan keeps the text it read until it is cleared, past the
	 * document. */
	return jdoc_parse(doc->text, doc->len,
	                  hostfile_json_flags(doc->a) | JDOC_BORROW, &doc->json,
	                  d);
}

static void hostfile_json_free(struct hostfile_doc *doc)
{
	jdoc_free(doc->json);
	doc->json = NULL;
}

static int hostfile_json_names(const struct hostfile_doc *doc, char ***names,
                               size_t *n, bool *exists, struct diag *d)
{
	const struct hostfile_target *a = doc->a;
	int r;

	r = jdoc_member_names(doc->json, a->key_path, a->key_depth, names, n,
	                      d);
	*exists = r == 0;
	return r == -ERR_NOENT ? 0 : r;
}

static int hostfile_json_get(const struct hostfile_doc *doc, const char *name,
                             json_t **out, struct diag *d)
{
	const struct hostfile_target *a = doc->a;

	return jdoc_member_get(doc->json, a->key_path, a->key_depth, name, out,
	                       d);
}

static int hostfile_json_equal(const struct hostfile_doc *doc, const char *name,
                               const json_t *want, bool *equal, struct diag *d)
{
	const struct hostfile_target *a = doc->a;

	return jdoc_member_equal(doc->json, a->key_path, a->key_depth, name,
	                         want, equal, d);
}

static int hostfile_json_edit(const struct hostfile_doc *doc,
                              const struct jedit *edits, size_t n, bool prune,
                              struct edit_splice *out, struct diag *d)
{
	const struct hostfile_target *a = doc->a;

	return jdoc_edit_splice(doc->json, a->key_path, a->key_depth, edits, n,
	                        prune ? JEDIT_PRUNE_EMPTY : 0, out, d);
}

/* An editor's whole new text as a splice replacing all of the old. */
static int hostfile_whole(const struct hostfile_doc *doc, int r, char *text,
                          size_t len, struct edit_splice *out)
{
	if (r != 0)
		return r;
	out->at = 0;
	out->end = doc->len;
	out->text = text;
	out->len = len;
	return 0;
}

/* A new JSON file holding only the entries (or, for a list, the strings)
 * under the key path. */
static int hostfile_json_fresh_text(const struct hostfile_target *a,
                                    const struct jedit *edits, size_t n,
                                    char **out, size_t *outlen, struct diag *d)
{
	json_t *root = NULL, *obj, *inner;
	size_t i;
	int r = 0;

	(void)d;
	if ((root = json_object()) == NULL)
		return -ERR_NOMEM;
	obj = root;
	for (i = 0; i < a->key_depth; i++) {
		inner = a->list && i + 1 == a->key_depth ? json_array()
		                                         : json_object();
		if (inner == NULL ||
		    json_object_set_new(obj, a->key_path[i], inner) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
		obj = inner;
	}
	for (i = 0; i < n; i++)
		if (edits[i].value != NULL &&
		    (a->list ? json_array_append_new(obj,
		                                     json_string(edits[i].name))
		             : json_object_set(
		                   obj, edits[i].name,
		                   (json_t *)(uintptr_t)edits[i].value)) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
	if ((*out = jsonutil_dump_pretty(root, outlen)) == NULL)
		r = -ERR_NOMEM;
out:
	json_decref(root);
	return r;
}

/* True when a JSON text is "{}" with blanks around, as mcpfleet would have
 * created it empty. */
static bool hostfile_json_text_empty(const char *text, size_t len)
{
	size_t i;
	int braces = 0;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (braces == 0 && c == '{')
			braces = 1;
		else if (braces == 1 && c == '}')
			braces = 2;
		else
			return false;
	}
	return braces == 2;
}

static int hostfile_jlist_names(const struct hostfile_doc *doc, char ***names,
                                size_t *n, bool *exists, struct diag *d)
{
	const struct hostfile_target *a = doc->a;
	int r;

	r = jlist_strings(doc->json, a->key_path, a->key_depth, names, n, d);
	*exists = r == 0;
	return r == -ERR_NOENT ? 0 : r;
}

static int hostfile_jlist_get(const struct hostfile_doc *doc, const char *name,
                              json_t **out, struct diag *d)
{
	(void)doc;
	(void)name;
	(void)d;
	/* A rule is there or not: present is "true". */
	return (*out = json_true()) != NULL ? 0 : -ERR_NOMEM;
}

static int hostfile_jlist_edit(const struct hostfile_doc *doc,
                               const struct jedit *edits, size_t n, bool prune,
                               struct edit_splice *out, struct diag *d)
{
	const struct hostfile_target *a = doc->a;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = jlist_edit(doc->json, hostfile_json_flags(a), a->key_path,
	               a->key_depth, edits, n, prune ? JEDIT_PRUNE_EMPTY : 0,
	               &text, &len, d);
	return hostfile_whole(doc, r, text, len, out);
}

static int hostfile_toml_parse(struct hostfile_doc *doc, struct diag *d)
{
	return toml_parse(doc->text, doc->len, &doc->toml, d);
}

static void hostfile_toml_free(struct hostfile_doc *doc)
{
	toml_free(doc->toml);
	doc->toml = NULL;
}

static int hostfile_toml_names(const struct hostfile_doc *doc, char ***names,
                               size_t *n, bool *exists, struct diag *d)
{
	const struct hostfile_target *a = doc->a;
	const struct toml_value *t = toml_root(doc->toml);
	size_t i;

	for (i = 0; i < a->key_depth && t != NULL; i++)
		t = toml_type(t) == TOML_TABLE
		        ? toml_table_get(t, a->key_path[i])
		        : NULL;
	*exists = t != NULL;
	return tomledit_names(doc->toml, a->key_path, a->key_depth, names, n,
	                      d);
}

static int hostfile_toml_get(const struct hostfile_doc *doc, const char *name,
                             json_t **out, struct diag *d)
{
	const struct hostfile_target *a = doc->a;

	return tomledit_get(doc->toml, a->key_path, a->key_depth, name, out, d);
}

static int hostfile_toml_edit(const struct hostfile_doc *doc,
                              const struct jedit *edits, size_t n, bool prune,
                              struct edit_splice *out, struct diag *d)
{
	const struct hostfile_target *a = doc->a;
	char *text = NULL;
	size_t len = 0;
	int r;

	/* A TOML file keeps its [PATH] parent: nothing to prune. */
	(void)prune;
	r = tomledit_edit(doc->toml, doc->text, doc->len, a->key_path,
	                  a->key_depth, edits, n, &text, &len, d);
	return hostfile_whole(doc, r, text, len, out);
}

/* A new TOML file: the edits applied to an empty document. */
static int hostfile_toml_fresh_text(const struct hostfile_target *a,
                                    const struct jedit *edits, size_t n,
                                    char **out, size_t *outlen, struct diag *d)
{
	struct toml_doc *empty = NULL;
	int r;

	if ((r = toml_parse("", 0, &empty, d)) == 0)
		r = tomledit_edit(empty, "", 0, a->key_path, a->key_depth,
		                  edits, n, out, outlen, d);
	toml_free(empty);
	return r;
}

/* True when a TOML text holds nothing but blanks. */
static bool hostfile_toml_text_empty(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
		    text[i] != '\n')
			return false;
	return true;
}

/*
 * A new YAML file starts with the keys Continue's config.yaml requires
 * (name and version; schema v1 as cn's own configs write it), the only
 * YAML host. A file that holds only this is one mcpfleet may delete.
 */
#define HOSTFILE_YAML_HEADER "name: mcpfleet\nversion: 0.0.1\nschema: v1\n"

static int hostfile_yaml_parse(struct hostfile_doc *doc, struct diag *d)
{
	return yamledit_parse(doc->text, doc->len, doc->a->key_path[0],
	                      &doc->yaml, d);
}

static void hostfile_yaml_free(struct hostfile_doc *doc)
{
	yamledit_free(doc->yaml);
	doc->yaml = NULL;
}

static int hostfile_yaml_names(const struct hostfile_doc *doc, char ***names,
                               size_t *n, bool *exists, struct diag *d)
{
	(void)d;
	*exists = yamledit_exists(doc->yaml);
	return yamledit_names(doc->yaml, names, n);
}

static int hostfile_yaml_get(const struct hostfile_doc *doc, const char *name,
                             json_t **out, struct diag *d)
{
	return yamledit_get(doc->yaml, name, out, d);
}

static int hostfile_yaml_edit(const struct hostfile_doc *doc,
                              const struct jedit *edits, size_t n, bool prune,
                              struct edit_splice *out, struct diag *d)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	r = yamledit_edit(doc->yaml, edits, n, prune, &text, &len, d);
	return hostfile_whole(doc, r, text, len, out);
}

static int hostfile_yaml_fresh_text(const struct hostfile_target *a,
                                    const struct jedit *edits, size_t n,
                                    char **out, size_t *outlen, struct diag *d)
{
	static const char header[] = HOSTFILE_YAML_HEADER;
	struct yaml_doc *doc = NULL;
	int r;

	if ((r = yamledit_parse(header, sizeof(header) - 1, a->key_path[0],
	                        &doc, d)) == 0)
		r = yamledit_edit(doc, edits, n, true, out, outlen, d);
	yamledit_free(doc);
	return r;
}

/* True when a YAML text is blank or the header alone, with blanks. */
static bool hostfile_yaml_text_empty(const char *text, size_t len)
{
	static const char header[] = HOSTFILE_YAML_HEADER;
	size_t i = 0;

	if (len >= sizeof(header) - 1 &&
	    memcmp(text, header, sizeof(header) - 1) == 0)
		i = sizeof(header) - 1;
	return hostfile_toml_text_empty(text + i, len - i);
}

/* Entries as the members of a JSON or JSONC object. */
static const struct hostfile_ops hostfile_json_ops = {
    .parse = hostfile_json_parse,
    .free = hostfile_json_free,
    .names = hostfile_json_names,
    .get = hostfile_json_get,
    .equal = hostfile_json_equal,
    .edit = hostfile_json_edit,
    .fresh_text = hostfile_json_fresh_text,
    .text_empty = hostfile_json_text_empty,
};

/* Entries as the strings of a JSON or JSONC array (tool rules). */
static const struct hostfile_ops hostfile_jlist_ops = {
    .parse = hostfile_json_parse,
    .free = hostfile_json_free,
    .names = hostfile_jlist_names,
    .get = hostfile_jlist_get,
    .edit = hostfile_jlist_edit,
    .fresh_text = hostfile_json_fresh_text,
    .text_empty = hostfile_json_text_empty,
};

/* Entries as [PATH.NAME] tables of a TOML file. */
static const struct hostfile_ops hostfile_toml_ops = {
    .parse = hostfile_toml_parse,
    .free = hostfile_toml_free,
    .names = hostfile_toml_names,
    .get = hostfile_toml_get,
    .edit = hostfile_toml_edit,
    .fresh_text = hostfile_toml_fresh_text,
    .text_empty = hostfile_toml_text_empty,
};

/* Entries as the named items of a top-level YAML list (Continue's cn). */
static const struct hostfile_ops hostfile_yaml_ops = {
    .parse = hostfile_yaml_parse,
    .free = hostfile_yaml_free,
    .names = hostfile_yaml_names,
    .get = hostfile_yaml_get,
    .edit = hostfile_yaml_edit,
    .fresh_text = hostfile_yaml_fresh_text,
    .text_empty = hostfile_yaml_text_empty,
};

/* Lists of strings are JSON only (Claude Code's permissions.deny). */
static const struct hostfile_ops *
hostfile_ops_for(const struct hostfile_target *a)
{
	if (a->list)
		return &hostfile_jlist_ops;
	if (a->format == HOST_FORMAT_TOML)
		return &hostfile_toml_ops;
	if (a->format == HOST_FORMAT_YAML)
		return &hostfile_yaml_ops;
	return &hostfile_json_ops;
}

static int hostfile_doc_parse(const struct hostfile_target *a, const char *text,
                              size_t len, struct hostfile_doc *doc,
                              struct diag *d)
{
	memset(doc, 0, sizeof(*doc));
	doc->a = a;
	doc->ops = hostfile_ops_for(a);
	doc->text = text;
	doc->len = len;
	return doc->ops->parse(doc, d);
}

static void hostfile_doc_free(struct hostfile_doc *doc)
{
	if (doc->ops != NULL)
		doc->ops->free(doc);
}

/*
 * Names under the host's key path. Returns 0 (with *exists telling whether
 * the container is there), -ERR_TYPE when something on the path is not an
 * object or table, -ERR_NOMEM.
 */
static int hostfile_doc_names(const struct hostfile_doc *doc, char ***names,
                              size_t *n, bool *exists, struct diag *d)
{
	*names = NULL;
	*n = 0;
	return doc->ops->names(doc, names, n, exists, d);
}

/* Sets *equal when the entry name in the file equals want. */
static int hostfile_doc_equal(const struct hostfile_doc *doc, const char *name,
                              const json_t *want, bool *equal, struct diag *d)
{
	json_t *cur = NULL;
	int r;

	if (doc->ops->equal != NULL)
		return doc->ops->equal(doc, name, want, equal, d);
	r = doc->ops->get(doc, name, &cur, d);
	*equal = r == 0 && json_equal(cur, want);
	json_decref(cur);
	return r;
}

static int hostfile_doc_edit(const struct hostfile_doc *doc,
                             const struct jedit *edits, size_t n, bool prune,
                             struct edit_splice *out, struct diag *d)
{
	memset(out, 0, sizeof(*out));
	return doc->ops->edit(doc, edits, n, prune, out, d);
}

/*
 * True when a text holds nothing but what mcpfleet would have created empty:
 * "{}" (JSON) or blanks (TOML). Such a file, made by us, can be deleted.
 */
static bool hostfile_text_empty(const struct hostfile_target *a,
                                const char *text, size_t len)
{
	return hostfile_ops_for(a)->text_empty(text, len);
}

/* Text of a new file holding only entries under the key path. */
static int hostfile_fresh_text(const struct hostfile_target *a,
                               const struct jedit *edits, size_t n, char **out,
                               size_t *outlen, struct diag *d)
{
	return hostfile_ops_for(a)->fresh_text(a, edits, n, out, outlen, d);
}

static int hostfile_item(struct host_plan *p, const char *name, enum plan_op op,
                         const char *reason)
{
	struct plan_item *v;

	v = realloc(p->items, (p->nitems + 1) * sizeof(*v));
	if (v == NULL)
		return -ERR_NOMEM;
	p->items = v;
	v[p->nitems].name = strdup(name);
	v[p->nitems].op = op;
	v[p->nitems].reason = reason != NULL ? strdup(reason) : NULL;
	if (v[p->nitems].name == NULL ||
	    (reason != NULL && v[p->nitems].reason == NULL)) {
		free(v[p->nitems].name);
		free(v[p->nitems].reason);
		return -ERR_NOMEM;
	}
	p->nitems++;
	return 0;
}

static int hostfile_warn(struct host_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int hostfile_warn(struct host_plan *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	/* A warning cut short is still a warning. */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return strv_push(&p->warnings, msg);
}

static int hostfile_set_message(struct host_plan *p, enum host_status st,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int hostfile_set_message(struct host_plan *p, enum host_status st,
                                const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->status = st;
	free(p->message);
	if ((p->message = strdup(msg)) == NULL)
		return -ERR_NOMEM;
	return 0;
}

/* The reason recorded for a server this host will not hold, or NULL. */
struct hostfile_skip {
	const char *name;
	char *reason;
	bool held; /* an unset ${VAR}, the entry kept as it was written */
};

/* Records a skip of name with a formatted reason. Returns 0 or
 * -ERR_NOMEM. */
static int hostfile_skip_add(struct hostfile_skip *skips, size_t *nskips,
                             const char *name, bool held, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int hostfile_skip_add(struct hostfile_skip *skips, size_t *nskips,
                             const char *name, bool held, const char *fmt, ...)
{
	char reason[600];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if ((skips[*nskips].reason = strdup(reason)) == NULL)
		return -ERR_NOMEM;
	skips[*nskips].name = name;
	skips[*nskips].held = held;
	(*nskips)++;
	return 0;
}

#define HOSTFILE_SOURCE_HEX 32 /* hex digits of a definition's digest */

static int hostfile_var_cb(void *ctx, const char *value)
{
	(void)ctx;
	return strstr(value, "${") != NULL;
}

/* True when a string of s holds a ${VAR} that the sync resolves. */
static bool hostfile_has_vars(const struct server *s)
{
	return server_each_value(s, hostfile_var_cb, NULL) != 0;
}

/* The digest of a server's definition as the catalogue has it, before
 * any ${VAR} is resolved, in hex. Returns 0 or -ERR_NOMEM. */
static int hostfile_source_digest(const struct server *s,
                                  char hex[HOSTFILE_SOURCE_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	json_t *j = server_to_json(s);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	unsigned char md[32];
	size_t i;
	int r = -ERR_NOMEM;

	json_decref(j);
	if (text == NULL)
		return r;
	if (mbedtls_sha256_ret((const unsigned char *)text, strlen(text), md,
	                       0) == 0) {
		for (i = 0; i < HOSTFILE_SOURCE_HEX / 2; i++) {
			hex[2 * i] = digits[md[i] >> 4];
			hex[2 * i + 1] = digits[md[i] & 15];
		}
		hex[HOSTFILE_SOURCE_HEX] = '\0';
		r = 0;
	}
	free(text);
	return r;
}

/* The inputs' hash of one string (NULL apart from ""). */
static int hostfile_in_str(mbedtls_sha256_context *ctx, const char *v)
{
	uint64_t n = v != NULL ? (uint64_t)strlen(v) + 1 : 0;
	int r = mbedtls_sha256_update_ret(ctx, (const unsigned char *)&n,
	                                  sizeof(n));

	if (v != NULL)
		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)v,
		                               (size_t)n);
	return r;
}

static int hostfile_in_u64(mbedtls_sha256_context *ctx, uint64_t v)
{
	return mbedtls_sha256_update_ret(ctx, (const unsigned char *)&v,
	                                 sizeof(v));
}

static int hostfile_in_strv(mbedtls_sha256_context *ctx, const struct strv *v)
{
	size_t i;
	int r = hostfile_in_u64(ctx, v->n);

	for (i = 0; i < v->n; i++)
		r |= hostfile_in_str(ctx, v->v[i]);
	return r;
}

static int hostfile_in_kv(mbedtls_sha256_context *ctx, const struct kvlist *l)
{
	size_t i;
	int r = hostfile_in_u64(ctx, l->n);

	for (i = 0; i < l->n; i++)
		r |= hostfile_in_str(ctx, l->v[i].key) |
		     hostfile_in_str(ctx, l->v[i].value);
	return r;
}

static int hostfile_in_rate(mbedtls_sha256_context *ctx, struct rate rate)
{
	return hostfile_in_u64(ctx, rate.count) |
	       hostfile_in_u64(ctx, rate.per_secs);
}

#if defined(__LP64__)
/* Every field of struct server is hashed below: one added there must be
 * added here too (then this size follows). */
_Static_assert(sizeof(struct server) == 192,
               "struct server changed: hash the new field in "
               "hostfile_input_of()");
#endif

/* The inputs of one server (struct hostfile_input). */
static int hostfile_input_of(const struct server *s, const char *version,
                             struct hostfile_input *out)
{
	static const char digits[] = "0123456789abcdef";
	mbedtls_sha256_context ctx;
	unsigned char md[32];
	size_t i;
	int r = 0;

	out->hex[0] = '\0';
	if (hostfile_has_vars(s) || s->secrets.n > 0)
		return 0;
	mbedtls_sha256_init(&ctx);
	r |= mbedtls_sha256_starts_ret(&ctx, 0);
	r |= hostfile_in_str(&ctx, version);
	r |= hostfile_in_str(&ctx, s->name);
	r |= hostfile_in_u64(&ctx, (uint64_t)s->transport);
	r |= hostfile_in_u64(&ctx, (uint64_t)s->origin);
	r |= hostfile_in_str(&ctx, s->command);
	r |= hostfile_in_strv(&ctx, &s->args);
	r |= hostfile_in_kv(&ctx, &s->env);
	r |= hostfile_in_str(&ctx, s->url);
	r |= hostfile_in_kv(&ctx, &s->headers);
	r |= hostfile_in_u64(&ctx, s->has_hosts);
	r |= hostfile_in_strv(&ctx, &s->hosts);
	r |= hostfile_in_u64(&ctx, s->disabled);
	r |= hostfile_in_strv(&ctx, &s->tools_allow);
	r |= hostfile_in_strv(&ctx, &s->tools_deny);
	r |= hostfile_in_u64(&ctx, (uint64_t)s->via);
	r |= hostfile_in_rate(&ctx, s->rate);
	r |= hostfile_in_u64(&ctx, s->tool_rates.n);
	for (i = 0; i < s->tool_rates.n; i++)
		r |= hostfile_in_str(&ctx, s->tool_rates.v[i].tools) |
		     hostfile_in_rate(&ctx, s->tool_rates.v[i].rate);
	r |= mbedtls_sha256_finish_ret(&ctx, md);
	mbedtls_sha256_free(&ctx);
	if (r != 0)
		return -ERR_CRYPTO;
	for (i = 0; i < HOSTFILE_INPUT_HEX / 2; i++) {
		out->hex[2 * i] = digits[md[i] >> 4];
		out->hex[2 * i + 1] = digits[md[i] & 15];
	}
	out->hex[HOSTFILE_INPUT_HEX] = '\0';
	return 0;
}

int hostfile_inputs(const struct server *servers, size_t n, const char *version,
                    struct hostfile_input *out)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = hostfile_input_of(
		         &servers[i],
		         version != NULL ? version : HOSTFILE_RENDER_VERSION,
		         &out[i])) != 0)
			return r;
	return 0;
}

/*
 * True when prev records the entry name as written from input (hex):
 * *at, where the last lookup left off, makes the usual case (prev's names
 * in the order of the servers) one comparison.
 */
static bool hostfile_input_was(const struct host_state *prev, size_t *at,
                               const char *name, const char *input)
{
	size_t i, k, n = prev->managed.n;

	if (prev->inputs == NULL || input == NULL)
		return false;
	for (k = 0; k < n; k++) {
		i = (*at + k) % n;
		if (strcmp(prev->managed.v[i], name) != 0)
			continue;
		*at = i + 1;
		return memcmp(prev->inputs + i * HOSTFILE_INPUT_HEX, input,
		              HOSTFILE_INPUT_HEX) == 0;
	}
	return false;
}

static const char *hostfile_written(const struct host_state *st,
                                    const char *name)
{
	size_t i;

	for (i = 0; i < st->written.n; i++)
		if (strcmp(st->written.v[i].key, name) == 0)
			return st->written.v[i].value;
	return NULL;
}

/*
 * Renders what the host should hold. Servers the host cannot take become
 * SKIP items (or, later, REMOVEs when they were managed) with a reason.
 */
/*
 * Warns about a glob in a tool list of s where a's lists take names only:
 * the glob is written as a name, so an allow list withholds the tools it
 * meant to allow (fails closed) and a deny list withholds nothing.
 */
static int hostfile_warn_globs(struct host_plan *p, const struct adapter *a,
                               const struct server *s)
{
	const struct strv *lists[] = {&s->tools_allow, &s->tools_deny};
	size_t i, k;
	int r;

	if (a->tool_filters & ADAPTER_TOOLS_GLOB)
		return 0;
	for (i = 0; i < 2; i++)
		for (k = 0; k < lists[i]->n; k++) {
			if (strchr(lists[i]->v[k], '*') == NULL)
				continue;
			if ((r = hostfile_warn(
			         p,
			         "%s: %s: tools.%s '%s' is a glob, and %s "
			         "matches tool names exactly: %s",
			         a->id, s->name, i == 0 ? "allow" : "deny",
			         lists[i]->v[k], a->name,
			         i == 0 ? "the tools it matches are withheld"
			                : "it withholds no tool")) != 0)
				return r;
		}
	return 0;
}

/* Warns when s sets a tool filter that a's file cannot carry: the server is
 * written, and the host offers every tool the filter would withhold. */
static int hostfile_warn_filters(struct host_plan *p, const struct adapter *a,
                                 const struct server *s)
{
	const char *what;

	if (s->tools_allow.n > 0 && !(a->tool_filters & ADAPTER_TOOLS_ALLOW))
		what = s->tools_deny.n > 0 &&
		               !(a->tool_filters & ADAPTER_TOOLS_DENY)
		           ? "tools.allow and tools.deny"
		           : "tools.allow";
	else if (s->tools_deny.n > 0 && !(a->tool_filters & ADAPTER_TOOLS_DENY))
		what = "tools.deny";
	else
		return hostfile_warn_globs(p, a, s);
	return hostfile_warn(p,
	                     "%s: %s: %s cannot be enforced by %s (no such "
	                     "tool filter in its file)",
	                     a->id, s->name, what, a->name);
}

static int hostfile_wanted(struct host_plan *p, const struct host_env *env,
                           const struct server *servers, size_t nservers,
                           const struct hostfile_input *inputs, bool trust,
                           const struct host_state *prev,
                           struct hostfile_want *want, size_t *nwant,
                           struct hostfile_skip *skips, size_t *nskips)
{
	const struct adapter *a = p->adapter;
	size_t i, at = 0;
	int r;

	*nwant = 0;
	*nskips = 0;
	for (i = 0; i < nservers; i++) {
		const struct server *s = &servers[i];
		struct server resolved = {0};
		struct diag d;
		json_t *entry = NULL;

		diag_clear(&d);
		if (s->has_hosts && !strv_has(&s->hosts, a->id))
			continue;
		if (s->disabled && !a->can_disable) {
			if ((r = hostfile_skip_add(
			         skips, nskips, s->name, false,
			         "disabled (%s has no disabled flag)",
			         a->name)) != 0)
				return r;
			continue;
		}
		want[*nwant].input =
		    inputs[i].hex[0] != '\0' ? inputs[i].hex : NULL;
		if (trust && hostfile_input_was(prev, &at, s->name,
		                                want[*nwant].input)) {
			/* Written from these very inputs, in a file that is
			 * as written: the entry is what a render would give. */
			if ((r = hostfile_warn_filters(p, a, s)) != 0)
				return r;
			want[*nwant].name = s->name;
			want[*nwant].entry = NULL;
			want[*nwant].known = true;
			(*nwant)++;
			continue;
		}
		r = render_resolve_for(a, s, env, &resolved, &d);
		if (r == 0)
			r = a->render(&resolved, &entry, &d);
		server_clear(&resolved);
		if (r == -ERR_UNSET || (r == 0 && hostfile_has_vars(s))) {
			/* Which definition an entry with ${VAR}s came from:
			 * recorded when written, compared when unset. */
			char hex[HOSTFILE_SOURCE_HEX + 1];
			const char *was = hostfile_written(prev, s->name);
			int rr = hostfile_source_digest(s, hex);

			if (rr == 0 && r == 0)
				rr = kvlist_push(&p->after.written, s->name,
				                 hex);
			if (rr == 0 && r == -ERR_UNSET &&
			    strv_has(&prev->managed, s->name) &&
			    (was == NULL || strcmp(was, hex) == 0)) {
				rr = hostfile_skip_add(
				    skips, nskips, s->name, true,
				    "kept as written: %s", d.msg);
				if (rr == 0 && was != NULL)
					rr = kvlist_push(&p->after.written,
					                 s->name, was);
				if (rr == 0)
					rr = hostfile_warn(
					    p,
					    "%s: %s kept as it was written: "
					    "%s (set it, or change the "
					    "catalogue, to update it)",
					    a->id, s->name, d.msg);
				if (rr != 0) {
					json_decref(entry);
					return rr;
				}
				continue;
			}
			if (rr != 0) {
				json_decref(entry);
				return rr;
			}
		}
		if (r == -ERR_SKIP || r == -ERR_UNSET) {
			if ((r = hostfile_skip_add(skips, nskips, s->name,
			                           false, "%s", d.msg)) != 0)
				return r;
			if ((r = hostfile_warn(p, "%s: %s skipped: %s", a->id,
			                       s->name, d.msg)) != 0)
				return r;
			continue;
		}
		if (r != 0)
			return r;
		if ((r = hostfile_warn_filters(p, a, s)) != 0) {
			json_decref(entry);
			return r;
		}
		want[*nwant].name = s->name;
		want[*nwant].entry = entry;
		want[*nwant].known = false;
		(*nwant)++;
	}
	return 0;
}

static const char *hostfile_skip_reason(const struct hostfile_skip *skips,
                                        size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(skips[i].name, name) == 0)
			return skips[i].reason;
	return NULL;
}

static const struct hostfile_want *
hostfile_find_want(const struct hostfile_want *want, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(want[i].name, name) == 0)
			return &want[i];
	return NULL;
}

/* Hashes a rendered value by its structure: a tag per type, lengths, the
 * members in the order the renderer set them (json_dumps' order). */
static int hostfile_hash_json(mbedtls_sha256_context *ctx, const json_t *v)
{
	unsigned char tag = (unsigned char)json_typeof(v);
	uint64_t n;
	int r = mbedtls_sha256_update_ret(ctx, &tag, 1);

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;

		n = json_object_size(v);
		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)&n,
		                               sizeof(n));
		json_object_foreach((json_t *)(uintptr_t)v, k, m)
		{
			r |= mbedtls_sha256_update_ret(
			    ctx, (const unsigned char *)k, strlen(k) + 1);
			r |= hostfile_hash_json(ctx, m);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;

		n = json_array_size(v);
		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)&n,
		                               sizeof(n));
		for (i = 0; i < json_array_size(v); i++)
			r |= hostfile_hash_json(ctx, json_array_get(v, i));
		break;
	}
	case JSON_STRING:
		n = json_string_length(v);
		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)&n,
		                               sizeof(n));
		r |= mbedtls_sha256_update_ret(
		    ctx, (const unsigned char *)json_string_value(v), n);
		break;
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(v);

		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)&i,
		                               sizeof(i));
		break;
	}
	case JSON_REAL: {
		double d = json_real_value(v);

		r |= mbedtls_sha256_update_ret(ctx, (const unsigned char *)&d,
		                               sizeof(d));
		break;
	}
	default: /* true, false, null: the tag says it all */
		break;
	}
	return r;
}

/*
 * Digest of what a file should hold: the render version, the host, the
 * path and every wanted entry, each hashed once per plan (hostfile_digest
 * takes it twice): by its inputs when it has them (the render version is
 * in those), else as rendered. Returns 0 or -ERR_CRYPTO.
 */
static int hostfile_want_digest(const struct adapter *a, const char *path,
                                const struct hostfile_want *want, size_t nwant,
                                unsigned char md[32])
{
	mbedtls_sha256_context ctx;
	size_t i;
	int r = 0;

	mbedtls_sha256_init(&ctx);
	r |= mbedtls_sha256_starts_ret(&ctx, 0);
	r |= mbedtls_sha256_update_ret(
	    &ctx, (const unsigned char *)HOSTFILE_RENDER_VERSION,
	    sizeof(HOSTFILE_RENDER_VERSION));
	r |= mbedtls_sha256_update_ret(&ctx, (const unsigned char *)a->id,
	                               strlen(a->id) + 1);
	r |= mbedtls_sha256_update_ret(&ctx, (const unsigned char *)path,
	                               strlen(path) + 1);
	for (i = 0; i < nwant && r == 0; i++) {
		unsigned char tag = want[i].input != NULL ? 'i' : 'j';

		r |= mbedtls_sha256_update_ret(
		    &ctx, (const unsigned char *)want[i].name,
		    strlen(want[i].name) + 1);
		r |= mbedtls_sha256_update_ret(&ctx, &tag, 1);
		if (want[i].input != NULL)
			r |= mbedtls_sha256_update_ret(
			    &ctx, (const unsigned char *)want[i].input,
			    HOSTFILE_INPUT_HEX);
		else
			r |= hostfile_hash_json(&ctx, want[i].entry);
	}
	r |= mbedtls_sha256_finish_ret(&ctx, md);
	mbedtls_sha256_free(&ctx);
	return r != 0 ? -ERR_CRYPTO : 0;
}

/*
 * Digest of everything a plan depends on besides the file itself (what it
 * should hold, wmd, and what it held): when it and the file's stat are what
 * the last sync recorded, nothing can change.
 */
static int hostfile_digest(const unsigned char wmd[32],
                           const struct strv *managed, bool created_container,
                           bool created_file, char hex[65])
{
	mbedtls_sha256_context ctx;
	unsigned char md[32];
	size_t i;
	int r = 0;

	mbedtls_sha256_init(&ctx);
	r |= mbedtls_sha256_starts_ret(&ctx, 0);
	r |= mbedtls_sha256_update_ret(&ctx, wmd, 32);
	r |= mbedtls_sha256_update_ret(&ctx, (const unsigned char *)"|", 1);
	for (i = 0; i < managed->n && r == 0; i++)
		r |= mbedtls_sha256_update_ret(
		    &ctx, (const unsigned char *)managed->v[i],
		    strlen(managed->v[i]) + 1);
	md[0] = (unsigned char)(created_container | (created_file << 1));
	r |= mbedtls_sha256_update_ret(&ctx, md, 1);
	r |= mbedtls_sha256_finish_ret(&ctx, md);
	mbedtls_sha256_free(&ctx);
	if (r != 0)
		return -ERR_CRYPTO;
	for (i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

/* What a file that is not a regular one is, for a message. */
static const char *hostfile_file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISDIR(m))
		return "a directory";
	return "not a plain file";
}

static void hostfile_stamp_from(struct host_stamp *s, const struct stat *st)
{
	s->valid = true;
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
	s->size = (uint64_t)st->st_size;
	s->mtime_ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	s->ctime_ns =
	    (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static bool hostfile_stamp_matches(const struct host_stamp *s,
                                   const struct stat *st)
{
	struct host_stamp now = {0};

	hostfile_stamp_from(&now, st);
	return s->valid && s->dev == now.dev && s->ino == now.ino &&
	       s->size == now.size && s->mtime_ns == now.mtime_ns &&
	       s->ctime_ns == now.ctime_ns;
}

/*
 * The digest of a file's text (struct host_stamp.text): MurmurHash3's
 * 128-bit mixing over 16-byte blocks, the odd and the even ones in two
 * lanes (twice the speed), the length folded in at the end. Not
 * a cryptographic hash: it tells the text the sync left from an edited one
 * (only someone who can write the file could make two collide, and they
 * can write the file), at the speed of a copy of it.
 */
struct hostfile_th {
	uint64_t h[2][2], len;
	unsigned char tail[32];
	size_t ntail;
};

static uint64_t hostfile_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t hostfile_fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

/* One 16-byte block into the lane h. */
static void hostfile_th_mix(uint64_t h[2], const unsigned char *b)
{
	const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
	uint64_t k1, k2;

	memcpy(&k1, b, 8);
	memcpy(&k2, b + 8, 8);
	k1 *= c1;
	k1 = hostfile_rotl(k1, 31);
	k1 *= c2;
	h[0] ^= k1;
	h[0] = hostfile_rotl(h[0], 27) + h[1];
	h[0] = h[0] * 5 + 0x52dce729;
	k2 *= c2;
	k2 = hostfile_rotl(k2, 33);
	k2 *= c1;
	h[1] ^= k2;
	h[1] = hostfile_rotl(h[1], 31) + h[0];
	h[1] = h[1] * 5 + 0x38495ab5;
}

/* 32 bytes: a block in each lane. */
static void hostfile_th_block(struct hostfile_th *t, const unsigned char *b)
{
	hostfile_th_mix(t->h[0], b);
	hostfile_th_mix(t->h[1], b + 16);
}

static void hostfile_th_update(struct hostfile_th *t, const void *data,
                               size_t n)
{
	const unsigned char *q = data;
	size_t k;

	if (n == 0)
		return;
	t->len += n;
	if (t->ntail > 0) {
		k = 32 - t->ntail < n ? 32 - t->ntail : n;
		memcpy(t->tail + t->ntail, q, k);
		t->ntail += k;
		q += k;
		n -= k;
		if (t->ntail < 32)
			return;
		hostfile_th_block(t, t->tail);
		t->ntail = 0;
	}
	for (; n >= 32; q += 32, n -= 32)
		hostfile_th_block(t, q);
	memcpy(t->tail, q, n);
	t->ntail = n;
}

static void hostfile_th_hex(struct hostfile_th *t, char hex[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char lane[16];
	uint64_t h[2], h1, h2;
	size_t i;

	if (t->ntail > 0) {
		memset(t->tail + t->ntail, 0, 32 - t->ntail);
		hostfile_th_block(t, t->tail);
	}
	/* The second lane's state as one more block of the first, then the
	 * length, as MurmurHash3 ends. */
	memcpy(lane, t->h[1], sizeof(lane));
	hostfile_th_mix(t->h[0], lane);
	h1 = t->h[0][0];
	h2 = t->h[0][1];
	h1 ^= t->len;
	h2 ^= t->len;
	h1 += h2;
	h2 += h1;
	h1 = hostfile_fmix(h1);
	h2 = hostfile_fmix(h2);
	h1 += h2;
	h2 += h1;
	h[0] = h1;
	h[1] = h2;
	for (i = 0; i < 16; i++) {
		unsigned v = (unsigned)(h[i / 8] >> (8 * (i % 8))) & 0xff;

		hex[2 * i] = digits[v >> 4];
		hex[2 * i + 1] = digits[v & 15];
	}
	hex[32] = '\0';
}

void hostfile_text_digest(const char *text, size_t len, char hex[33])
{
	struct hostfile_th t = {0};

	hostfile_th_update(&t, text, len);
	hostfile_th_hex(&t, hex);
}

/* True when two stamps are the same file as it was (digests aside). */
static bool hostfile_stamp_same(const struct host_stamp *a,
                                const struct host_stamp *b)
{
	return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

static int hostfile_state_copy(const struct host_state *src,
                               struct host_state *dst)
{
	size_t i;
	int r;

	memset(dst, 0, sizeof(*dst));
	if (src->path != NULL && (dst->path = strdup(src->path)) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < src->managed.n; i++)
		if ((r = strv_push(&dst->managed, src->managed.v[i])) != 0)
			return r;
	for (i = 0; i < src->written.n; i++)
		if ((r = kvlist_push(&dst->written, src->written.v[i].key,
		                     src->written.v[i].value)) != 0)
			return r;
	if (src->inputs != NULL && (dst->inputs = strdup(src->inputs)) == NULL)
		return -ERR_NOMEM;
	dst->created_container = src->created_container;
	dst->created_file = src->created_file;
	dst->stamp = src->stamp;
	if (src->filters != NULL &&
	    ((dst->filters = calloc(1, sizeof(*dst->filters))) == NULL ||
	     (r = hostfile_state_copy(src->filters, dst->filters)) != 0))
		return dst->filters == NULL ? -ERR_NOMEM : r;
	return 0;
}

/* One file's plan in the making: the phases below share it. */
struct hostfile_run {
	struct host_plan *p;
	const struct hostfile_target *t;
	const struct host_state *prev; /* of this file; never NULL */
	/* The host's plan when this file is the host's own and that plan
	 * read it: its text is read from there (rules of OpenCode). */
	const struct host_plan *base;
	const struct hostfile_want *want;
	size_t nwant;
	const struct hostfile_skip *skips;
	size_t nskips;
	struct hostfile_doc doc;
	char **names; /* the entries in the file */
	size_t nnames;
	struct strset inset; /* names, for lookups */
	struct strset ours;  /* prev->managed, for lookups */
	struct strset named; /* the names of want and skips */
	bool container;      /* the key path is there */
	struct jedit *edits;
	size_t nedits;
	struct diag d;
	unsigned char wmd[32]; /* hostfile_want_digest() */
	bool trusted;          /* some wanted entries are known (as written) */
	struct buf inputs;     /* p->after.inputs in the making */
	bool any_input;        /* inputs holds a digest, not only '-' */
};

/* The plan took the file for the one written (its stamp), and the read
 * found another: plan again, rendering every entry. */
#define HOSTFILE_DISTRUST 2

/* The whole text p writes, as a new string (a rare need: the writer writes
 * the splice's pieces). The file's text when p changes nothing. */
static int hostfile_new_join(const struct host_plan *p, char **out, size_t *len)
{
	static const struct edit_splice none = {0};

	return edit_splice_join(p->changed ? &p->edit : &none, p->old_text,
	                        p->old_exists ? p->old_len : 0, out, len);
}

/* Sets *empty when the text p writes is what mcpfleet creates empty. */
static int hostfile_new_empty(const struct host_plan *p,
                              const struct hostfile_target *t, bool *empty)
{
	char *text;
	size_t len;

	if (hostfile_new_join(p, &text, &len) != 0)
		return -ERR_NOMEM;
	*empty = hostfile_text_empty(t, text, len);
	free(text);
	return 0;
}

/* Stops a phase: the file is unusable, the plan BLOCKED (1), or ENOMEM. */
#define HOSTFILE_STOP 1

static int hostfile_block(struct hostfile_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int hostfile_block(struct hostfile_run *run, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	int r;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = hostfile_set_message(run->p, HOST_BLOCKED,
	                         "%s: %s: %s; host skipped, file unchanged",
	                         run->p->adapter->id, run->p->loc.path, msg);
	return r != 0 ? r : HOSTFILE_STOP;
}

/*
 * The no-op fast path: same inputs, same file, every wanted entry already
 * ours. Nothing to read. Returns HOSTFILE_STOP when it applies.
 */
static int hostfile_phase_fast(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	const struct host_state *prev = run->prev;
	struct stat st;
	size_t i;
	bool fast;
	int r;

	if ((r = hostfile_digest(run->wmd, &prev->managed,
	                         prev->created_container, prev->created_file,
	                         p->after.stamp.digest)) != 0)
		return r;
	fast = prev->stamp.valid &&
	       strcmp(prev->stamp.digest, p->after.stamp.digest) == 0 &&
	       stat(p->loc.path, &st) == 0 &&
	       hostfile_stamp_matches(&prev->stamp, &st);
	for (i = 0; fast && i < run->nwant; i++)
		fast = strset_has(&run->ours, run->want[i].name);
	/* A skipped entry of ours goes, unless it is held. */
	for (i = 0; fast && i < run->nskips; i++)
		fast = run->skips[i].held ||
		       !strset_has(&run->ours, run->skips[i].name);
	if (!fast)
		return 0;
	for (i = 0; i < run->nwant; i++)
		if ((r = hostfile_item(p, run->want[i].name, PLAN_UNCHANGED,
		                       NULL)) != 0)
			return r;
	for (i = 0; i < run->nskips; i++)
		if ((r = hostfile_item(p, run->skips[i].name,
		                       run->skips[i].held ? PLAN_HELD
		                                          : PLAN_SKIP,
		                       run->skips[i].reason)) != 0)
			return r;
	host_state_clear(&p->after);
	if ((r = hostfile_state_copy(prev, &p->after)) != 0)
		return r;
	return HOSTFILE_STOP;
}

static int hostfile_phase_parse(struct hostfile_run *run);

/*
 * Stats and reads p's file (a change after the stat shows at the next run):
 * p->read_stamp, p->old_text. Returns fileio_read's code, or 1 (nothing
 * read) with *st's mode when the file is not a regular one.
 */
static int hostfile_read_text(struct host_plan *p, struct stat *st)
{
	if (stat(p->loc.path, st) == 0) {
		if (!S_ISREG(st->st_mode))
			return 1;
		hostfile_stamp_from(&p->read_stamp, st);
	}
	return fileio_read(p->loc.path, HOSTFILE_MAX_SIZE, &p->old_text,
	                   &p->old_len);
}

/* True when p's file, as read, is the one prev records as written: the
 * same stamp, or the same text (a program rewrote the file unchanged). */
static bool hostfile_as_written(struct host_plan *p,
                                const struct host_state *prev)
{
	if (p->old_text == NULL || !prev->stamp.valid)
		return false;
	if (hostfile_stamp_same(&p->read_stamp, &prev->stamp))
		return true;
	if (prev->stamp.text[0] == '\0')
		return false;
	if (p->read_stamp.text[0] == '\0')
		hostfile_text_digest(p->old_text, p->old_len,
		                     p->read_stamp.text);
	return strcmp(p->read_stamp.text, prev->stamp.text) == 0;
}

/* Reads the file, unless the plan has already, and parses it. */
static int hostfile_phase_read(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	struct stat st;
	char digest[65];
	int r = 0;

	/* The plan's digest, which hostfile_phase_fast set, stays. */
	memcpy(digest, p->after.stamp.digest, sizeof(digest));
	/* Read already when the plan chose which entries are known. */
	if (p->old_text == NULL && (r = hostfile_read_text(p, &st)) == 1)
		/* A FIFO, socket or device: never opened (a FIFO would
		 * hang the sync), never replaced. */
		return hostfile_block(run, "not a regular file (%s)",
		                      hostfile_file_kind(st.st_mode));
	p->after.stamp = p->read_stamp;
	memcpy(p->after.stamp.digest, digest, sizeof(digest));
	/* The known entries are as written only in the file as written. */
	if (run->trusted && (r != 0 || !hostfile_as_written(p, run->prev)))
		return r == -ERR_NOMEM ? r : HOSTFILE_DISTRUST;
	if (r == -ERR_NOENT) {
		p->old_exists = false;
		p->read = true;
		p->after.stamp.valid = false;
		return 0;
	}
	if (r == -ERR_NOMEM)
		return r;
	if (r == -ERR_TOOBIG)
		return hostfile_block(run, "larger than %u MB",
		                      HOSTFILE_MAX_SIZE >> 20);
	if (r != 0)
		return hostfile_block(run, "cannot read: %s", strerror(errno));
	p->old_exists = true;
	p->read = true;
	return hostfile_phase_parse(run);
}

/*
 * For rules in the host's own file, read after the host's plan: its text as
 * that plan leaves it, which the rules' edits then go into.
 */
static int hostfile_phase_read_base(struct hostfile_run *run)
{
	const struct host_plan *b = run->base;
	struct host_plan *p = run->p;

	p->read_stamp = b->read_stamp;
	p->after.stamp = b->read_stamp;
	p->old_exists = b->changed ? !b->delete_file : b->old_exists;
	p->read = true;
	if (!p->old_exists) {
		p->after.stamp.valid = false;
		return 0;
	}
	if (hostfile_new_join(b, &p->old_text, &p->old_len) != 0)
		return -ERR_NOMEM;
	return hostfile_phase_parse(run);
}

/* Parses the text read and finds the entries in it. */
static int hostfile_phase_parse(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	struct diag *d = &run->d;
	int r;

	r = hostfile_doc_parse(run->t, p->old_text, p->old_len, &run->doc, d);
	if (r == 0)
		r = hostfile_doc_names(&run->doc, &run->names, &run->nnames,
		                       &run->container, d);
	if (r == -ERR_NOMEM)
		return r;
	if (r != 0 && d->line > 0) {
		r = hostfile_set_message(p, HOST_BLOCKED,
		                         "%s: %s:%u:%u: %s; host skipped, file "
		                         "unchanged",
		                         p->adapter->id, p->loc.path, d->line,
		                         d->col, d->msg);
		return r != 0 ? r : HOSTFILE_STOP;
	}
	if (r != 0)
		return hostfile_block(run, "%s", d->msg);
	return 0;
}

static int hostfile_edit_push(struct hostfile_run *run, const char *name,
                              const json_t *value)
{
	run->edits[run->nedits].name = name;
	run->edits[run->nedits].value = value;
	run->nedits++;
	return 0;
}

/* Records name as ours once the plan is applied, with the inputs its entry
 * is rendered from (NULL: none). */
static int hostfile_managed_push(struct hostfile_run *run, const char *name,
                                 const char *input)
{
	int r;

	if ((r = strv_push(&run->p->after.managed, name)) != 0)
		return r;
	if (input != NULL) {
		run->any_input = true;
		return buf_append(&run->inputs, input, HOSTFILE_INPUT_HEX);
	}
	return buf_append(&run->inputs, "--------------------------------",
	                  HOSTFILE_INPUT_HEX);
}

/* The adds and updates of what the host should hold. */
static int hostfile_phase_wanted(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	size_t i;
	int r;

	for (i = 0; i < run->nwant; i++) {
		const char *name = run->want[i].name;
		bool exists = strset_has(&run->inset, name);
		bool ours = strset_has(&run->ours, name);

		if (run->want[i].known) {
			/* Ours and in the file, as it was written (else the
			 * file is not what prev says: plan it afresh). */
			if (!exists || !ours)
				return HOSTFILE_DISTRUST;
			if ((r = hostfile_managed_push(
			         run, name, run->want[i].input)) != 0 ||
			    (r = hostfile_item(p, name, PLAN_UNCHANGED,
			                       NULL)) != 0)
				return r;
			continue;
		}
		if (exists && !ours && run->t->list) {
			/* The user's own rule, the same as ours: in force,
			 * and left to them. */
			if ((r = hostfile_item(p, name, PLAN_UNCHANGED,
			                       "already in the file")) != 0)
				return r;
			continue;
		}
		if (exists && !ours) {
			if ((r = hostfile_item(p, name, PLAN_CONFLICT,
			                       "an entry of this name that "
			                       "mcpfleet did not write is in "
			                       "the file")) != 0 ||
			    (r = hostfile_warn(p,
			                       "%s: %s: an entry named '%s' "
			                       "that mcpfleet did not write is "
			                       "already there; left untouched",
			                       p->adapter->id, p->loc.path,
			                       name)) != 0)
				return r;
			continue;
		}
		if ((r = hostfile_managed_push(run, name,
		                               run->want[i].input)) != 0)
			return r;
		if (exists) {
			bool same;

			r = hostfile_doc_equal(&run->doc, name,
			                       run->want[i].entry, &same,
			                       &run->d);
			if (r == -ERR_NOMEM)
				return r;
			if (r == 0 && same) {
				if ((r = hostfile_item(p, name, PLAN_UNCHANGED,
				                       NULL)) != 0)
					return r;
				continue;
			}
		}
		hostfile_edit_push(run, name, run->want[i].entry);
		if ((r = hostfile_item(p, name, exists ? PLAN_UPDATE : PLAN_ADD,
		                       NULL)) != 0)
			return r;
	}
	return 0;
}

/* The set of the names the catalogue has for this file, wanted or not. */
static int hostfile_named(struct hostfile_run *run)
{
	char **v;
	size_t i, n = 0;
	int r;

	if ((v = calloc(run->nwant + run->nskips + 1, sizeof(*v))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < run->nwant; i++)
		v[n++] = (char *)(uintptr_t)run->want[i].name;
	for (i = 0; i < run->nskips; i++)
		v[n++] = (char *)(uintptr_t)run->skips[i].name;
	r = strset_init(&run->named, v, n);
	free(v);
	return r;
}

/* The removes: entries of ours the host should no longer hold. */
static int hostfile_phase_removed(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	const struct strv *before = &run->prev->managed;
	size_t i;
	int r;

	for (i = 0; i < run->nskips; i++) {
		const char *name = run->skips[i].name;
		bool ours = strset_has(&run->ours, name) &&
		            strset_has(&run->inset, name);

		if (ours && run->skips[i].held) {
			/* Left in the file as it is, and still ours. */
			if ((r = hostfile_managed_push(run, name, NULL)) != 0 ||
			    (r = hostfile_item(p, name, PLAN_HELD,
			                       run->skips[i].reason)) != 0)
				return r;
			continue;
		}
		if ((r = hostfile_item(p, name, ours ? PLAN_REMOVE : PLAN_SKIP,
		                       run->skips[i].reason)) != 0)
			return r;
		if (ours)
			hostfile_edit_push(run, name, NULL);
	}
	for (i = 0; i < before->n; i++) {
		const char *name = before->v[i];

		if (strset_has(&run->named, name) ||
		    !strset_has(&run->inset, name))
			continue;
		hostfile_edit_push(run, name, NULL);
		if ((r = hostfile_item(p, name, PLAN_REMOVE,
		                       run->t->list
		                           ? "no longer in the catalogue"
		                           : "no longer in the catalogue for "
		                             "this host")) != 0)
			return r;
	}
	return 0;
}

/* The new text, and what the file will be once written. */
static int hostfile_phase_text(struct hostfile_run *run)
{
	struct host_plan *p = run->p;
	const struct host_state *prev = run->prev;
	bool empty = false;
	int r;

	p->after.created_container =
	    run->container ? prev->created_container : p->after.managed.n > 0;
	p->after.created_file =
	    p->old_exists ? prev->created_file : p->after.managed.n > 0;
	if (run->nedits > 0) {
		bool prune = prev->created_container && p->after.managed.n == 0;

		if (p->old_exists)
			r = hostfile_doc_edit(&run->doc, run->edits,
			                      run->nedits, prune, &p->edit,
			                      &run->d);
		else
			r = hostfile_fresh_text(run->t, run->edits, run->nedits,
			                        &p->edit.text, &p->edit.len,
			                        &run->d);
		if (r == -ERR_NOMEM)
			return r;
		if (r != 0)
			return hostfile_block(run, "%s", run->d.msg);
		p->changed = !p->old_exists ||
		             edit_splice_changes(&p->edit, p->old_text);
		if (p->after.created_file && p->after.managed.n == 0 &&
		    (r = hostfile_new_empty(p, run->t, &empty)) != 0)
			return r;
		if (empty) {
			p->delete_file = p->old_exists;
			p->changed = p->old_exists;
			p->after.created_file = false;
			p->after.created_container = false;
		}
		/* An emptied container of ours was pruned with the edit. */
		if (p->after.managed.n == 0)
			p->after.created_container = false;
	}
	/* The stamp the next run compares with: this run's result as input.
	 * It is valid for an unchanged file (stat taken before the read) and
	 * made valid by hostfile_apply for a written one. */
	if ((r = hostfile_digest(
	         run->wmd, &p->after.managed, p->after.created_container,
	         p->after.created_file, p->after.stamp.digest)) != 0)
		return r;
	if (p->changed || !p->old_exists)
		p->after.stamp.valid = false;
	else if (p->after.stamp.valid) {
		/* The file stays as read: its text is the one left. */
		if (p->read_stamp.text[0] == '\0')
			hostfile_text_digest(p->old_text, p->old_len,
			                     p->read_stamp.text);
		memcpy(p->after.stamp.text, p->read_stamp.text,
		       sizeof(p->after.stamp.text));
	}
	return 0;
}

/*
 * Plans one file of a located host against prev (its state at the last
 * sync; never NULL): the fast path, or read, compare and edit. A file that
 * cannot be used makes p BLOCKED. Returns 0 or -ERR_NOMEM.
 */
static int hostfile_plan_file(struct host_plan *p,
                              const struct hostfile_target *t,
                              const struct hostfile_want *want, size_t nwant,
                              const struct hostfile_skip *skips, size_t nskips,
                              const struct host_state *prev,
                              const struct host_plan *base)
{
	struct hostfile_run run = {.p = p,
	                           .inputs = BUF_INIT,
	                           .t = t,
	                           .prev = prev,
	                           .base = base,
	                           .want = want,
	                           .nwant = nwant,
	                           .skips = skips,
	                           .nskips = nskips};
	size_t i;
	int r;

	diag_clear(&run.d);
	for (i = 0; i < nwant; i++)
		run.trusted |= want[i].known;
	if ((r = strset_init(&run.ours, prev->managed.v, prev->managed.n)) ==
	        0 &&
	    (r = hostfile_want_digest(p->adapter, p->loc.path, want, nwant,
	                              run.wmd)) == 0 &&
	    (r = hostfile_phase_fast(&run)) == 0 &&
	    (r = base != NULL ? hostfile_phase_read_base(&run)
	                      : hostfile_phase_read(&run)) == 0 &&
	    (r = strset_init(&run.inset, run.names, run.nnames)) == 0) {
		run.edits = calloc(nwant + nskips + prev->managed.n + 1,
		                   sizeof(*run.edits));
		r = run.edits == NULL ? -ERR_NOMEM : 0;
		if (r == 0 && (r = hostfile_phase_wanted(&run)) == 0 &&
		    (r = hostfile_named(&run)) == 0 &&
		    (r = hostfile_phase_removed(&run)) == 0)
			r = hostfile_phase_text(&run);
		if (r == 0 && run.any_input) {
			free(p->after.inputs);
			if ((p->after.inputs = buf_steal(&run.inputs, NULL)) ==
			    NULL)
				r = -ERR_NOMEM;
		}
	}
	buf_free(&run.inputs);
	hostfile_doc_free(&run.doc);
	strset_clear(&run.inset);
	strset_clear(&run.ours);
	strset_clear(&run.named);
	jdoc_names_free(run.names, run.nnames);
	free(run.edits);
	return r == HOSTFILE_STOP ? 0 : r;
}

/* The rules that carry the deny lists of the servers the host holds. */
static int hostfile_rules(struct host_plan *p, const struct adapter_filters *f,
                          const struct server *servers, size_t nservers,
                          const struct hostfile_want *want, size_t nwant,
                          const struct hostfile_skip *skips, size_t nskips,
                          struct hostfile_want **rules, size_t *nrules)
{
	struct buf b = {0};
	size_t i, k, cap = 0;
	int r = 0;

	*rules = NULL;
	*nrules = 0;
	for (i = 0; i < nservers; i++)
		cap += servers[i].tools_deny.n;
	if (cap == 0)
		return 0;
	if ((*rules = calloc(cap, sizeof(**rules))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < nservers && r == 0; i++) {
		const struct server *s = &servers[i];
		const char *held = hostfile_skip_reason(skips, nskips, s->name);
		bool kept = false;

		for (k = 0; k < nskips && held != NULL; k++)
			kept |= strcmp(skips[k].name, s->name) == 0 &&
			        skips[k].held;
		if (hostfile_find_want(want, nwant, s->name) == NULL && !kept)
			continue;
		for (k = 0; k < s->tools_deny.n && r == 0; k++) {
			struct diag d;
			char *name;

			diag_clear(&d);
			buf_reset(&b);
			r = f->rule(s->name, s->tools_deny.v[k], &b, &d);
			if (r == -ERR_SKIP) {
				r = hostfile_warn(
				    p,
				    "%s: %s: tools.deny '%s' cannot be "
				    "enforced by %s: %s",
				    p->adapter->id, s->name, s->tools_deny.v[k],
				    p->adapter->name, d.msg);
				continue;
			}
			if (r == 0 &&
			    hostfile_find_want(*rules, *nrules, b.data) != NULL)
				continue;
			if (r == 0 && ((name = strdup(b.data)) == NULL ||
			               ((*rules)[*nrules].entry =
			                    f->member_value != NULL
			                        ? json_string(f->member_value)
			                        : json_true()) == NULL)) {
				free(name);
				r = -ERR_NOMEM;
			}
			if (r == 0)
				(*rules)[(*nrules)++].name = name;
		}
	}
	buf_free(&b);
	return r;
}

static void hostfile_rules_free(struct hostfile_want *rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)(uintptr_t)rules[i].name);
		json_decref(rules[i].entry);
	}
	free(rules);
}

/*
 * Rules planned on the text of the host's plan, in its file: one text, one
 * write (the host's), so that neither write undoes the other.
 */
static int hostfile_filters_join(struct host_plan *p, struct host_plan *fp)
{
	struct edit_splice all = {0};
	bool empty = false;
	int r;

	/* fp's text is its whole edit over p's: p's file, whole. */
	if (hostfile_new_join(fp, &all.text, &all.len) != 0)
		return -ERR_NOMEM;
	all.end = p->old_len;
	edit_splice_free(&p->edit);
	p->edit = all;
	edit_splice_free(&fp->edit);
	fp->joined = true;
	p->delete_file = false;
	p->changed =
	    !p->old_exists || edit_splice_changes(&p->edit, p->old_text);
	/* The last of ours gone from a file of ours: the file goes. */
	if (p->after.created_file && p->after.managed.n == 0 &&
	    fp->after.managed.n == 0 &&
	    (r = hostfile_new_empty(
	         p,
	         &(const struct hostfile_target){.format = p->adapter->format},
	         &empty)) != 0)
		return r;
	if (empty) {
		p->delete_file = p->old_exists;
		p->changed = p->old_exists;
		p->after.created_file = false;
		p->after.created_container = false;
	}
	if (p->changed)
		p->after.stamp.valid = false;
	return 0;
}

/*
 * The host's tool rules in their own file: a plan of it in p->filters.
 * A file that cannot be used blocks only the rules, with a warning: the
 * servers are still written.
 */
static int hostfile_plan_filters(struct host_plan *p,
                                 const struct host_env *env,
                                 const struct server *servers, size_t nservers,
                                 const struct hostfile_want *want, size_t nwant,
                                 const struct hostfile_skip *skips,
                                 size_t nskips, const struct host_state *prev)
{
	static const struct host_state none = {0};
	const struct adapter_filters *f = p->adapter->filters;
	const struct hostfile_target t = {f->format, f->key_path, f->key_depth,
	                                  f->member_value == NULL};
	struct host_plan *fp;
	struct hostfile_want *rules = NULL;
	size_t nrules = 0;
	struct diag d;
	int r;

	diag_clear(&d);
	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		return -ERR_NOMEM;
	p->filters = fp;
	fp->adapter = p->adapter;
	fp->status = HOST_OK;
	if ((r = f->locate(env, &fp->loc, &d)) != 0)
		return r == -ERR_NOMEM
		           ? r
		           : hostfile_set_message(fp, HOST_BLOCKED,
		                                  "%s: %s: %s", p->adapter->id,
		                                  f->what, d.msg);
	if ((fp->after.path = strdup(fp->loc.path)) == NULL)
		return -ERR_NOMEM;
	if (prev == NULL || prev->path == NULL ||
	    strcmp(prev->path, fp->loc.path) != 0)
		prev = &none;
	fp->shares_file = strcmp(fp->loc.path, p->loc.path) == 0;
	if ((r = hostfile_rules(p, f, servers, nservers, want, nwant, skips,
	                        nskips, &rules, &nrules)) == 0)
		r = hostfile_plan_file(fp, &t, rules, nrules, NULL, 0, prev,
		                       fp->shares_file && p->read ? p : NULL);
	hostfile_rules_free(rules, nrules);
	if (r == 0 && fp->shares_file && p->read && fp->status == HOST_OK &&
	    fp->changed)
		r = hostfile_filters_join(p, fp);
	return r;
}

/* After the rules' plan: their state joins the host's; a rules' file that
 * cannot be used keeps its state, and the host says so. */
static int hostfile_filters_settle(struct host_plan *p,
                                   const struct host_state *orig)
{
	struct host_plan *fp = p->filters;
	const struct host_state *was = orig != NULL ? orig->filters : NULL;
	int r;

	if ((p->after.filters = calloc(1, sizeof(*p->after.filters))) == NULL)
		return -ERR_NOMEM;
	if (fp->status == HOST_OK)
		return hostfile_state_copy(&fp->after, p->after.filters);
	if ((r = hostfile_warn(p, "%s (tool rules not written)",
	                       fp->message)) != 0)
		return r;
	if (was == NULL) {
		free(p->after.filters);
		p->after.filters = NULL;
		return 0;
	}
	if ((r = hostfile_state_copy(was, p->after.filters)) != 0)
		return r;
	p->after.filters->stamp.valid = false;
	return 0;
}

/*
 * Plans one host. With trust, and when the file is the one prev records as
 * written (its stamp; else its text, read here to see), entries recorded
 * with the same inputs are taken as written. The read checks the stamp
 * again: HOSTFILE_DISTRUST, nothing in *out, when the file changed since.
 */
static int hostfile_plan_once(const struct adapter *a,
                              const struct host_env *env,
                              const struct server *servers, size_t nservers,
                              const struct hostfile_input *inputs, bool trust,
                              const struct host_state *prev,
                              struct host_plan *out)
{
	static const struct host_state none = {0};
	const struct hostfile_target t = {a->format, a->key_path, a->key_depth,
	                                  false};
	const struct host_state *orig = prev;
	struct host_plan p = {0};
	struct hostfile_want *want = NULL;
	struct hostfile_skip *skips = NULL;
	struct diag d;
	size_t nwant = 0, nskips = 0, i;
	int r;

	diag_clear(&d);
	p.adapter = a;
	p.status = HOST_OK;
	if ((r = a->locate(env, &p.loc, &d)) != 0) {
		if (r == -ERR_NOMEM)
			goto out;
		r = hostfile_set_message(&p, HOST_BLOCKED, "%s: %s", a->id,
		                         d.msg);
		goto done;
	}
	if (!p.loc.present) {
		p.status = HOST_ABSENT;
		/* Keep what we knew: the host may come back. */
		if (orig != NULL &&
		    (r = hostfile_state_copy(orig, &p.after)) != 0)
			goto out;
		goto done;
	}
	if (prev == NULL || prev->path == NULL ||
	    strcmp(prev->path, p.loc.path) != 0)
		prev = &none;
	if ((p.after.path = strdup(p.loc.path)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	if (nservers > 0 &&
	    ((want = calloc(nservers, sizeof(*want))) == NULL ||
	     (skips = malloc(nservers * sizeof(*skips))) == NULL)) {
		r = -ERR_NOMEM;
		goto out;
	}
	if (trust) {
		struct stat st;

		trust = prev->stamp.valid && prev->inputs != NULL &&
		        stat(p.loc.path, &st) == 0;
		/* Not the file written, yet maybe the same text (of the same
		 * size): read it now, a read the plan keeps, and see. */
		if (trust && !hostfile_stamp_matches(&prev->stamp, &st))
			trust = prev->stamp.text[0] != '\0' &&
			        (uint64_t)st.st_size == prev->stamp.size &&
			        hostfile_read_text(&p, &st) == 0 &&
			        hostfile_as_written(&p, prev);
		/* A read that failed is made again, and reported, later. */
		if (p.old_text == NULL)
			memset(&p.read_stamp, 0, sizeof(p.read_stamp));
	}
	if ((r = hostfile_wanted(&p, env, servers, nservers, inputs, trust,
	                         prev, want, &nwant, skips, &nskips)) != 0 ||
	    (r = hostfile_plan_file(&p, &t, want, nwant, skips, nskips, prev,
	                            NULL)) != 0)
		goto out;
	if (p.status == HOST_OK && a->filters != NULL) {
		host_state_clear(p.after.filters);
		free(p.after.filters);
		p.after.filters = NULL;
		if ((r = hostfile_plan_filters(
		         &p, env, servers, nservers, want, nwant, skips, nskips,
		         orig ? orig->filters : NULL)) != 0)
			goto out;
		if ((r = hostfile_filters_settle(&p, orig)) != 0)
			goto out;
	}
done:
	/* A blocked host keeps its previous managed state, unverified. */
	if (r == 0 && p.status == HOST_BLOCKED) {
		host_state_clear(&p.after);
		if (orig != NULL)
			r = hostfile_state_copy(orig, &p.after);
		p.after.stamp.valid = false;
	}
out:
	for (i = 0; i < nwant; i++)
		json_decref(want[i].entry);
	free(want);
	for (i = 0; i < nskips; i++)
		free(skips[i].reason);
	free(skips);
	if (r != 0) {
		host_plan_clear(&p);
		return r;
	}
	*out = p;
	return 0;
}

int hostfile_plan_inputs(const struct adapter *a, const struct host_env *env,
                         const struct server *servers, size_t nservers,
                         const struct hostfile_input *inputs,
                         const struct host_state *prev, struct host_plan *out)
{
	struct hostfile_input *own = NULL;
	int r;

	if (inputs == NULL && nservers > 0) {
		if ((own = calloc(nservers, sizeof(*own))) == NULL)
			return -ERR_NOMEM;
		if ((r = hostfile_inputs(servers, nservers, NULL, own)) != 0) {
			free(own);
			return r;
		}
		inputs = own;
	}
	r = hostfile_plan_once(a, env, servers, nservers, inputs, true, prev,
	                       out);
	if (r == HOSTFILE_DISTRUST)
		r = hostfile_plan_once(a, env, servers, nservers, inputs, false,
		                       prev, out);
	free(own);
	return r;
}

int hostfile_plan(const struct adapter *a, const struct host_env *env,
                  const struct server *servers, size_t nservers,
                  const struct host_state *prev, struct host_plan *out)
{
	return hostfile_plan_inputs(a, env, servers, nservers, NULL, prev, out);
}

char *hostfile_backup_path(const char *path)
{
	size_t n = strlen(path);
	char *bak = malloc(n + 5);

	if (bak != NULL) {
		memcpy(bak, path, n);
		memcpy(bak + n, ".bak", 5);
	}
	return bak;
}

/*
 * Deletes a file mcpfleet created and that now holds nothing but "{}":
 * nothing of the user's is in it, nor in its backup, which goes too.
 */
static int hostfile_delete(struct host_plan *p)
{
	char *bak = hostfile_backup_path(p->loc.path);

	if (bak == NULL)
		return -ERR_NOMEM;
	if (unlink(p->loc.path) != 0 && errno != ENOENT) {
		hostfile_set_message(
		    p, HOST_BLOCKED, "%s: %s: cannot remove: %s",
		    p->adapter->id, p->loc.path, strerror(errno));
		free(bak);
		return -ERR_IO;
	}
	(void)unlink(bak);
	(void)fileio_clean_temps(p->loc.path);
	free(bak);
	p->after.stamp.valid = false;
	return 0;
}

bool hostfile_changed(const struct host_plan *p)
{
	return p->changed || (p->filters != NULL && p->filters->changed);
}

static int hostfile_apply_file(struct host_plan *p,
                               const struct fileio_gate *gate);

/*
 * Creates the directory of a new host file when it is missing, owner-only:
 * only below the host's marker directory, which exists and says the host is
 * installed (Continue's ~/.continue/mcpServers/, Cline's data/settings/ are
 * made by the host on first use, or never).
 */
static int hostfile_make_dir(struct host_plan *p)
{
	size_t n = strlen(p->loc.marker);
	char *dir;
	int r = 0;

	if (strncmp(p->loc.path, p->loc.marker, n) != 0 ||
	    p->loc.path[n] != '/' || !fileio_is_dir(p->loc.marker))
		return 0;
	if ((dir = fileio_dirname(p->loc.path)) == NULL)
		return -ERR_NOMEM;
	if (!fileio_is_dir(dir) && (r = fileio_mkdirs(dir, 0700)) != 0) {
		if (r != -ERR_NOMEM)
			hostfile_set_message(
			    p, HOST_BLOCKED, "%s: %s: cannot create: %s",
			    p->adapter->id, dir, strerror(errno));
	}
	free(dir);
	return r;
}

int hostfile_apply(struct host_plan *p)
{
	return hostfile_apply_gated(p, NULL);
}

int hostfile_apply_gated(struct host_plan *p, const struct fileio_gate *gate)
{
	struct host_plan *fp = p->filters;
	int r;

	if (p->status != HOST_OK)
		return 0;
	if ((r = hostfile_apply_file(p, gate)) != 0 || fp == NULL ||
	    fp->status != HOST_OK)
		return r;
	/* Rules in the host's file went into its text: the file as written
	 * is what they were planned against. */
	if (fp->shares_file && p->changed && p->after.filters != NULL)
		p->after.filters->stamp = p->after.stamp;
	if (!fp->changed || fp->joined)
		return 0;
	if ((r = hostfile_apply_file(fp, gate)) == 0) {
		if (p->after.filters != NULL)
			p->after.filters->stamp = fp->after.stamp;
		return 0;
	}
	/* The servers are written; the rules keep their state, and the
	 * host's report says they were not. */
	if (p->after.filters != NULL)
		p->after.filters->stamp.valid = false;
	if (hostfile_warn(p, "%s (tool rules not written)", fp->message) != 0)
		return -ERR_NOMEM;
	return r == -ERR_CONFLICT ? r : 0;
}

/* A gated write's last check: the file is still as it was left when the
 * write began (with its backup's link), once the gate let it through. */
struct hostfile_recheck {
	const struct fileio_gate *gate;
	struct host_plan *p;
	bool existed;
	struct stat linked;
	const struct iovec *iov; /* the text written, in three pieces */
	char text[33];           /* its digest, once taken ("" before) */
};

/* The digest of the text written (struct host_stamp.text). */
static void hostfile_iov_digest(const struct iovec *iov, char hex[33])
{
	struct hostfile_th t = {0};
	size_t i;

	for (i = 0; i < 3; i++)
		hostfile_th_update(&t, iov[i].iov_base, iov[i].iov_len);
	hostfile_th_hex(&t, hex);
}

static int hostfile_recheck_pass(void *ctx)
{
	struct hostfile_recheck *rc = ctx;
	struct host_plan *p = rc->p;
	struct host_stamp was = {0};
	struct stat now;
	int r;

	/* Taken while the text is written and synced, before the wait at the
	 * gate, which is then no longer. */
	hostfile_iov_digest(rc->iov, rc->text);
	if ((r = rc->gate->pass(rc->gate->ctx)) != 0)
		return r;
	hostfile_stamp_from(&was, &rc->linked);
	if (rc->existed ? stat(p->loc.path, &now) == 0 &&
	                      hostfile_stamp_matches(&was, &now)
	                : lstat(p->loc.path, &now) != 0 && errno == ENOENT)
		return 0;
	hostfile_set_message(p, HOST_BLOCKED,
	                     "%s: %s: changed by another program during the "
	                     "sync; not written",
	                     p->adapter->id, p->loc.path);
	return -ERR_CONFLICT;
}

static int hostfile_apply_file(struct host_plan *p,
                               const struct fileio_gate *gate)
{
	struct hostfile_recheck rc = {gate, p, p->old_exists, {0}, NULL, ""};
	const struct fileio_gate recheck = {hostfile_recheck_pass, &rc};
	size_t old_len = p->old_exists ? p->old_len : 0;
	const struct iovec iov[3] = {
	    {.iov_base = p->old_text, .iov_len = p->edit.at},
	    {.iov_base = p->edit.text, .iov_len = p->edit.len},
	    {.iov_base = old_len > 0 ? p->old_text + p->edit.end : NULL,
	     .iov_len = old_len - p->edit.end}};
	struct stat st, now;
	char *bak = NULL;
	int r = 0;

	rc.iov = iov;
	if (p->status != HOST_OK || !p->changed)
		return 0;
	if (p->delete_file)
		return hostfile_delete(p);
	/* A sync killed mid-write leaves its temporary file behind; the
	 * caller holds the lock, so any such file is stale. */
	(void)fileio_clean_temps(p->loc.path);
	if (p->old_exists) {
		/* Another program may have rewritten the file since it was read
		 * (Claude Code rewrites its own): writing now would undo that.
		 */
		if (stat(p->loc.path, &now) != 0 ||
		    !hostfile_stamp_matches(&p->read_stamp, &now)) {
			hostfile_set_message(
			    p, HOST_BLOCKED,
			    "%s: %s: changed by another program "
			    "during the sync; not written",
			    p->adapter->id, p->loc.path);
			return -ERR_CONFLICT;
		}
		if ((bak = hostfile_backup_path(p->loc.path)) == NULL)
			return -ERR_NOMEM;
		(void)fileio_clean_temps(bak);
		if (fileio_backup(p->loc.path, bak, p->old_text, p->old_len) !=
		    0) {
			r = -ERR_IO;
			hostfile_set_message(p, HOST_BLOCKED,
			                     "%s: %s: cannot write the backup: "
			                     "%s; file unchanged",
			                     p->adapter->id, bak,
			                     strerror(errno));
			free(bak);
			return r;
		}
		free(p->backup_path);
		p->backup_path = bak;
	}
	if (!p->old_exists && (r = hostfile_make_dir(p)) != 0)
		return r;
	/* A new host file may hold credentials: owner-only until the owner
	 * says otherwise. An existing file keeps its mode. */
	if (gate != NULL && p->old_exists && stat(p->loc.path, &rc.linked) != 0)
		rc.linked.st_ino = 0; /* gone: the recheck fails */
	if ((r = fileio_write_atomic_iov(p->loc.path, iov, 3, 0600, 0, &st,
	                                 gate != NULL ? &recheck : NULL)) ==
	    -ERR_CONFLICT) {
		p->after.stamp.valid = false;
		return r;
	}
	if (r != 0) {
		hostfile_set_message(
		    p, HOST_BLOCKED, "%s: %s: cannot write: %s; file unchanged",
		    p->adapter->id, p->loc.path, strerror(errno));
		p->after.stamp.valid = false;
		return -ERR_IO;
	}
	hostfile_stamp_from(&p->after.stamp, &st);
	if (rc.text[0] == '\0')
		hostfile_iov_digest(iov, rc.text);
	memcpy(p->after.stamp.text, rc.text, sizeof(rc.text));
	return 0;
}

bool host_state_equal(const struct host_state *a, const struct host_state *b)
{
	size_t i;

	if ((a->path == NULL) != (b->path == NULL) ||
	    (a->path != NULL && strcmp(a->path, b->path) != 0) ||
	    a->managed.n != b->managed.n || a->written.n != b->written.n ||
	    (a->inputs == NULL) != (b->inputs == NULL) ||
	    (a->inputs != NULL && strcmp(a->inputs, b->inputs) != 0) ||
	    a->created_container != b->created_container ||
	    a->created_file != b->created_file ||
	    a->stamp.valid != b->stamp.valid)
		return false;
	for (i = 0; i < a->managed.n; i++)
		if (strcmp(a->managed.v[i], b->managed.v[i]) != 0)
			return false;
	for (i = 0; i < a->written.n; i++)
		if (strcmp(a->written.v[i].key, b->written.v[i].key) != 0 ||
		    strcmp(a->written.v[i].value, b->written.v[i].value) != 0)
			return false;
	if ((a->filters == NULL) != (b->filters == NULL) ||
	    (a->filters != NULL && !host_state_equal(a->filters, b->filters)))
		return false;
	return !a->stamp.valid ||
	       (a->stamp.dev == b->stamp.dev && a->stamp.ino == b->stamp.ino &&
	        a->stamp.size == b->stamp.size &&
	        a->stamp.mtime_ns == b->stamp.mtime_ns &&
	        a->stamp.ctime_ns == b->stamp.ctime_ns &&
	        strcmp(a->stamp.digest, b->stamp.digest) == 0 &&
	        strcmp(a->stamp.text, b->stamp.text) == 0);
}

int host_state_copy(const struct host_state *src, struct host_state *dst)
{
	int r = hostfile_state_copy(src, dst);

	if (r != 0)
		host_state_clear(dst);
	return r;
}

void host_state_clear(struct host_state *s)
{
	if (s == NULL)
		return;
	free(s->path);
	free(s->inputs);
	strv_clear(&s->managed);
	kvlist_clear(&s->written);
	host_state_clear(s->filters);
	free(s->filters);
	memset(s, 0, sizeof(*s));
}

void host_plan_clear(struct host_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	host_location_clear(&p->loc);
	free(p->message);
	for (i = 0; i < p->nitems; i++) {
		free(p->items[i].name);
		free(p->items[i].reason);
	}
	free(p->items);
	strv_clear(&p->warnings);
	host_state_clear(&p->after);
	free(p->old_text);
	edit_splice_free(&p->edit);
	free(p->backup_path);
	host_plan_clear(p->filters);
	free(p->filters);
	memset(p, 0, sizeof(*p));
}
