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
#include "jsonutil.h"
#include "toml.h"
#include "tomledit.h"

/* Host files larger than this are refused (Claude Code's state file is a
 * few MB in heavy use). */
#define HOSTFILE_MAX_SIZE (64u << 20)

/* Bumped whenever an adapter renders differently, so that the no-op fast
 * path of a newer mcpfleet does not trust an older stamp. */
#define HOSTFILE_RENDER_VERSION "mcpfleet-render-1"

/* A parsed host file, in whichever format the host uses. */
struct hostfile_doc {
	const struct adapter *a;
	struct jdoc *json;
	struct toml_doc *toml;
	const char *text;
	size_t len;
};

/* The entries the host should hold, rendered. */
struct hostfile_want {
	const char *name;
	json_t *entry;
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

static unsigned hostfile_json_flags(const struct adapter *a)
{
	return a->format == HOST_FORMAT_JSONC ? JDOC_JSONC : 0;
}

static int hostfile_doc_parse(const struct adapter *a, const char *text,
                              size_t len, struct hostfile_doc *doc,
                              struct diag *d)
{
	memset(doc, 0, sizeof(*doc));
	doc->a = a;
	doc->text = text;
	doc->len = len;
	if (a->format == HOST_FORMAT_TOML)
		return toml_parse(text, len, &doc->toml, d);
	return jdoc_parse(text, len, hostfile_json_flags(a), &doc->json, d);
}

static void hostfile_doc_free(struct hostfile_doc *doc)
{
	jdoc_free(doc->json);
	toml_free(doc->toml);
	doc->json = NULL;
	doc->toml = NULL;
}

/*
 * Names under the host's key path. Returns 0 (with *exists telling whether
 * the container is there), -ERR_TYPE when something on the path is not an
 * object or table, -ERR_NOMEM.
 */
static int hostfile_doc_names(const struct hostfile_doc *doc, char ***names,
                              size_t *n, bool *exists, struct diag *d)
{
	const struct adapter *a = doc->a;
	int r;

	*names = NULL;
	*n = 0;
	if (doc->toml != NULL) {
		const struct toml_value *t = toml_root(doc->toml);
		size_t i;

		for (i = 0; i < a->key_depth && t != NULL; i++)
			t = toml_type(t) == TOML_TABLE
			        ? toml_table_get(t, a->key_path[i])
			        : NULL;
		*exists = t != NULL;
		return tomledit_names(doc->toml, a->key_path, a->key_depth,
		                      names, n, d);
	}
	r = jdoc_member_names(doc->json, a->key_path, a->key_depth, names, n,
	                      d);
	*exists = r == 0;
	return r == -ERR_NOENT ? 0 : r;
}

static int hostfile_doc_get(const struct hostfile_doc *doc, const char *name,
                            json_t **out, struct diag *d)
{
	const struct adapter *a = doc->a;

	if (doc->toml != NULL)
		return tomledit_get(doc->toml, a->key_path, a->key_depth, name,
		                    out, d);
	return jdoc_member_get(doc->json, a->key_path, a->key_depth, name, out,
	                       d);
}

static int hostfile_doc_edit(const struct hostfile_doc *doc,
                             const struct jedit *edits, size_t n, bool prune,
                             char **out, size_t *outlen, struct diag *d)
{
	const struct adapter *a = doc->a;

	if (doc->toml != NULL)
		return tomledit_edit(doc->toml, doc->text, doc->len,
		                     a->key_path, a->key_depth, edits, n, out,
		                     outlen, d);
	return jdoc_edit(doc->json, a->key_path, a->key_depth, edits, n,
	                 prune ? JEDIT_PRUNE_EMPTY : 0, out, outlen, d);
}

/*
 * True when a text holds nothing but what mcpfleet would have created empty:
 * "{}" (JSON) or blanks (TOML). Such a file, made by us, can be deleted.
 */
static bool hostfile_text_empty(const struct adapter *a, const char *text,
                                size_t len)
{
	size_t i;
	int braces = 0;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (a->format != HOST_FORMAT_TOML && braces == 0 && c == '{')
			braces = 1;
		else if (a->format != HOST_FORMAT_TOML && braces == 1 &&
		         c == '}')
			braces = 2;
		else
			return false;
	}
	return a->format == HOST_FORMAT_TOML || braces == 2;
}

/* Text of a new file holding only entries under the key path. */
static int hostfile_fresh_text(const struct adapter *a,
                               const struct jedit *edits, size_t n, char **out,
                               size_t *outlen, struct diag *d)
{
	json_t *root = NULL, *obj, *inner;
	struct toml_doc *empty = NULL;
	size_t i;
	int r = 0;

	if (a->format == HOST_FORMAT_TOML) {
		if ((r = toml_parse("", 0, &empty, d)) == 0)
			r = tomledit_edit(empty, "", 0, a->key_path,
			                  a->key_depth, edits, n, out, outlen,
			                  d);
		toml_free(empty);
		return r;
	}
	if ((root = json_object()) == NULL)
		return -ERR_NOMEM;
	obj = root;
	for (i = 0; i < a->key_depth; i++) {
		if ((inner = json_object()) == NULL ||
		    json_object_set_new(obj, a->key_path[i], inner) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
		obj = inner;
	}
	for (i = 0; i < n; i++)
		if (edits[i].value != NULL &&
		    json_object_set(obj, edits[i].name,
		                    (json_t *)(uintptr_t)edits[i].value) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
	if ((*out = jsonutil_dump_pretty(root, outlen)) == NULL)
		r = -ERR_NOMEM;
out:
	json_decref(root);
	return r;
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
	char reason[600];
	bool held; /* an unset ${VAR}, the entry kept as it was written */
};

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
		return 0;
	return hostfile_warn(p,
	                     "%s: %s: %s cannot be enforced by %s (no such "
	                     "tool filter in its file)",
	                     a->id, s->name, what, a->name);
}

static int hostfile_wanted(struct host_plan *p, const struct host_env *env,
                           const struct server *servers, size_t nservers,
                           const struct host_state *prev,
                           struct hostfile_want *want, size_t *nwant,
                           struct hostfile_skip *skips, size_t *nskips)
{
	const struct adapter *a = p->adapter;
	size_t i;
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
			skips[*nskips].name = s->name;
			(void)snprintf(
			    skips[*nskips].reason, sizeof(skips[0].reason),
			    "disabled (%s has no disabled flag)", a->name);
			(*nskips)++;
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
				skips[*nskips].name = s->name;
				skips[*nskips].held = true;
				(void)snprintf(skips[*nskips].reason,
				               sizeof(skips[0].reason),
				               "kept as written: %s", d.msg);
				(*nskips)++;
				if (was != NULL)
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
			skips[*nskips].name = s->name;
			(void)snprintf(skips[*nskips].reason,
			               sizeof(skips[0].reason), "%s", d.msg);
			(*nskips)++;
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

/*
 * Digest of everything a plan depends on besides the file itself: when it
 * and the file's stat are what the last sync recorded, nothing can change.
 */
static int hostfile_digest(const struct adapter *a, const char *path,
                           const struct hostfile_want *want, size_t nwant,
                           const struct strv *managed, bool created_container,
                           bool created_file, char hex[65])
{
	mbedtls_sha256_context ctx;
	unsigned char md[32];
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
		char *s = json_dumps(want[i].entry, JSON_COMPACT);

		if (s == NULL) {
			mbedtls_sha256_free(&ctx);
			return -ERR_NOMEM;
		}
		r |= mbedtls_sha256_update_ret(
		    &ctx, (const unsigned char *)want[i].name,
		    strlen(want[i].name) + 1);
		r |= mbedtls_sha256_update_ret(&ctx, (const unsigned char *)s,
		                               strlen(s) + 1);
		free(s);
	}
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
	for (i = 0; i < 32; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
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
}

static bool hostfile_stamp_matches(const struct host_stamp *s,
                                   const struct stat *st)
{
	struct host_stamp now = {0};

	hostfile_stamp_from(&now, st);
	return s->valid && s->dev == now.dev && s->ino == now.ino &&
	       s->size == now.size && s->mtime_ns == now.mtime_ns;
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
	dst->created_container = src->created_container;
	dst->created_file = src->created_file;
	dst->stamp = src->stamp;
	return 0;
}

int hostfile_plan(const struct adapter *a, const struct host_env *env,
                  const struct server *servers, size_t nservers,
                  const struct host_state *prev, struct host_plan *out)
{
	static const struct host_state none = {0};
	const struct host_state *orig = prev;
	struct host_plan p = {0};
	struct hostfile_want *want = NULL;
	struct hostfile_skip *skips = NULL;
	struct hostfile_doc doc = {0};
	struct jedit *edits = NULL;
	struct strv *managed_before;
	struct stat st;
	struct diag d;
	char **names = NULL;
	size_t nwant = 0, nskips = 0, nnames = 0, nedits = 0, i;
	bool container, same_path, fast;
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
	if (prev == NULL)
		prev = &none;
	same_path = prev->path != NULL && strcmp(prev->path, p.loc.path) == 0;
	if (!same_path)
		prev = &none;
	managed_before = (struct strv *)(uintptr_t)&prev->managed;
	if ((p.after.path = strdup(p.loc.path)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}

	if (nservers > 0 &&
	    ((want = calloc(nservers, sizeof(*want))) == NULL ||
	     (skips = calloc(nservers, sizeof(*skips))) == NULL)) {
		r = -ERR_NOMEM;
		goto out;
	}
	if ((r = hostfile_wanted(&p, env, servers, nservers, prev, want, &nwant,
	                         skips, &nskips)) != 0)
		goto out;

	/* The no-op fast path: same inputs, same file, every wanted entry
	 * already ours. Nothing to read. */
	if ((r = hostfile_digest(a, p.loc.path, want, nwant, managed_before,
	                         prev->created_container, prev->created_file,
	                         p.after.stamp.digest)) != 0)
		goto out;
	fast = prev->stamp.valid &&
	       strcmp(prev->stamp.digest, p.after.stamp.digest) == 0 &&
	       stat(p.loc.path, &st) == 0 &&
	       hostfile_stamp_matches(&prev->stamp, &st);
	for (i = 0; fast && i < nwant; i++)
		fast = strv_has(managed_before, want[i].name);
	/* A skipped entry of ours goes, unless it is held. */
	for (i = 0; fast && i < nskips; i++)
		fast =
		    skips[i].held || !strv_has(managed_before, skips[i].name);
	if (fast) {
		for (i = 0; i < nwant; i++)
			if ((r = hostfile_item(&p, want[i].name, PLAN_UNCHANGED,
			                       NULL)) != 0)
				goto out;
		for (i = 0; i < nskips; i++)
			if ((r = hostfile_item(&p, skips[i].name,
			                       skips[i].held ? PLAN_HELD
			                                     : PLAN_SKIP,
			                       skips[i].reason)) != 0)
				goto out;
		strv_clear(&p.after.managed);
		kvlist_clear(&p.after.written);
		free(p.after.path);
		p.after.path = NULL;
		r = hostfile_state_copy(prev, &p.after);
		goto out;
	}

	/* stat before read: a change after the stat shows at the next run. */
	if (stat(p.loc.path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			/* A FIFO, socket or device: never opened (a FIFO
			 * would hang the sync), never replaced. */
			r = hostfile_set_message(
			    &p, HOST_BLOCKED,
			    "%s: %s: not a regular file (%s); host skipped, "
			    "file unchanged",
			    a->id, p.loc.path, hostfile_file_kind(st.st_mode));
			goto done;
		}
		hostfile_stamp_from(&p.after.stamp, &st);
		p.read_stamp = p.after.stamp;
	}
	r = fileio_read(p.loc.path, HOSTFILE_MAX_SIZE, &p.old_text, &p.old_len);
	if (r == -ERR_NOENT) {
		p.old_exists = false;
		p.after.stamp.valid = false;
	} else if (r == -ERR_NOMEM) {
		goto out;
	} else if (r == -ERR_TOOBIG) {
		r = hostfile_set_message(&p, HOST_BLOCKED,
		                         "%s: %s: larger than %u MB; host "
		                         "skipped, file unchanged",
		                         a->id, p.loc.path,
		                         HOSTFILE_MAX_SIZE >> 20);
		goto done;
	} else if (r != 0) {
		r = hostfile_set_message(&p, HOST_BLOCKED,
		                         "%s: %s: cannot read: %s; host "
		                         "skipped, file unchanged",
		                         a->id, p.loc.path, strerror(errno));
		goto done;
	} else {
		p.old_exists = true;
	}

	container = false;
	if (p.old_exists) {
		r = hostfile_doc_parse(a, p.old_text, p.old_len, &doc, &d);
		if (r == 0)
			r = hostfile_doc_names(&doc, &names, &nnames,
			                       &container, &d);
		if (r == -ERR_NOMEM)
			goto out;
		if (r != 0) {
			if (d.line > 0)
				r = hostfile_set_message(
				    &p, HOST_BLOCKED,
				    "%s: %s:%u:%u: %s; host skipped, file "
				    "unchanged",
				    a->id, p.loc.path, d.line, d.col, d.msg);
			else
				r = hostfile_set_message(
				    &p, HOST_BLOCKED,
				    "%s: %s: %s; host skipped, file "
				    "unchanged",
				    a->id, p.loc.path, d.msg);
			goto done;
		}
	}

	if ((edits = calloc(nwant + managed_before->n + 1, sizeof(*edits))) ==
	    NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nwant; i++) {
		const char *name = want[i].name;
		bool exists = strv_has(&(struct strv){names, nnames}, name);
		json_t *cur = NULL;

		if (exists && !strv_has(managed_before, name)) {
			if ((r = hostfile_item(&p, name, PLAN_CONFLICT,
			                       "an entry of this name that "
			                       "mcpfleet did not write is in "
			                       "the file")) != 0 ||
			    (r = hostfile_warn(&p,
			                       "%s: %s: an entry named '%s' "
			                       "that mcpfleet did not write is "
			                       "already there; left untouched",
			                       a->id, p.loc.path, name)) != 0)
				goto out;
			continue;
		}
		if ((r = strv_push(&p.after.managed, name)) != 0)
			goto out;
		if (exists) {
			r = hostfile_doc_get(&doc, name, &cur, &d);
			if (r == -ERR_NOMEM)
				goto out;
			if (r == 0 && json_equal(cur, want[i].entry)) {
				json_decref(cur);
				if ((r = hostfile_item(&p, name, PLAN_UNCHANGED,
				                       NULL)) != 0)
					goto out;
				continue;
			}
			json_decref(cur);
		}
		edits[nedits].name = name;
		edits[nedits].value = want[i].entry;
		nedits++;
		if ((r = hostfile_item(
		         &p, name, exists ? PLAN_UPDATE : PLAN_ADD, NULL)) != 0)
			goto out;
	}
	for (i = 0; i < nskips; i++) {
		const char *name = skips[i].name;
		bool ours = strv_has(managed_before, name) &&
		            strv_has(&(struct strv){names, nnames}, name);

		if (ours && skips[i].held) {
			/* Left in the file as it is, and still ours. */
			if ((r = strv_push(&p.after.managed, name)) != 0 ||
			    (r = hostfile_item(&p, name, PLAN_HELD,
			                       skips[i].reason)) != 0)
				goto out;
			continue;
		}
		if ((r = hostfile_item(&p, name, ours ? PLAN_REMOVE : PLAN_SKIP,
		                       skips[i].reason)) != 0)
			goto out;
		if (ours) {
			edits[nedits].name = name;
			edits[nedits].value = NULL;
			nedits++;
		}
	}
	for (i = 0; i < managed_before->n; i++) {
		const char *name = managed_before->v[i];

		if (hostfile_find_want(want, nwant, name) != NULL ||
		    hostfile_skip_reason(skips, nskips, name) != NULL ||
		    !strv_has(&(struct strv){names, nnames}, name))
			continue;
		edits[nedits].name = name;
		edits[nedits].value = NULL;
		nedits++;
		if ((r = hostfile_item(&p, name, PLAN_REMOVE,
		                       "no longer in the catalogue for this "
		                       "host")) != 0)
			goto out;
	}

	p.after.created_container =
	    container ? prev->created_container : p.after.managed.n > 0;
	p.after.created_file =
	    p.old_exists ? prev->created_file : p.after.managed.n > 0;
	if (nedits > 0) {
		bool prune = prev->created_container && p.after.managed.n == 0;

		if (p.old_exists)
			r = hostfile_doc_edit(&doc, edits, nedits, prune,
			                      &p.new_text, &p.new_len, &d);
		else
			r = hostfile_fresh_text(a, edits, nedits, &p.new_text,
			                        &p.new_len, &d);
		if (r == -ERR_NOMEM)
			goto out;
		if (r != 0) {
			r = hostfile_set_message(&p, HOST_BLOCKED,
			                         "%s: %s: %s; host skipped, "
			                         "file unchanged",
			                         a->id, p.loc.path, d.msg);
			goto done;
		}
		p.changed = !p.old_exists || p.new_len != p.old_len ||
		            memcmp(p.new_text, p.old_text, p.new_len) != 0;
		if (p.after.created_file && p.after.managed.n == 0 &&
		    hostfile_text_empty(a, p.new_text, p.new_len)) {
			p.delete_file = p.old_exists;
			p.changed = p.old_exists;
			p.after.created_file = false;
			p.after.created_container = false;
		}
		/* An emptied container of ours was pruned with the edit. */
		if (p.after.managed.n == 0)
			p.after.created_container = false;
	}
	/* The stamp the next run compares with: this run's result as input.
	 * It is valid for an unchanged file (stat taken before the read) and
	 * made valid by hostfile_apply for a written one. */
	if ((r = hostfile_digest(a, p.loc.path, want, nwant, &p.after.managed,
	                         p.after.created_container,
	                         p.after.created_file, p.after.stamp.digest)) !=
	    0)
		goto out;
	if (p.changed || !p.old_exists)
		p.after.stamp.valid = false;
	goto out;
done:
	/* A blocked host keeps its previous managed state, unverified. */
	if (r == 0 && p.status == HOST_BLOCKED) {
		host_state_clear(&p.after);
		if (orig != NULL)
			r = hostfile_state_copy(orig, &p.after);
		p.after.stamp.valid = false;
	}
out:
	hostfile_doc_free(&doc);
	jdoc_names_free(names, nnames);
	for (i = 0; i < nwant; i++)
		json_decref(want[i].entry);
	free(want);
	free(skips);
	free(edits);
	if (r != 0) {
		host_plan_clear(&p);
		return r;
	}
	*out = p;
	return 0;
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

int hostfile_apply(struct host_plan *p)
{
	struct stat st, now;
	char *bak = NULL;
	int r = 0;

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
	/* A new host file may hold credentials: owner-only until the owner
	 * says otherwise. An existing file keeps its mode. */
	if (fileio_write_atomic_st(p->loc.path, p->new_text, p->new_len, 0600,
	                           0, &st) != 0) {
		hostfile_set_message(
		    p, HOST_BLOCKED, "%s: %s: cannot write: %s; file unchanged",
		    p->adapter->id, p->loc.path, strerror(errno));
		p->after.stamp.valid = false;
		return -ERR_IO;
	}
	hostfile_stamp_from(&p->after.stamp, &st);
	return 0;
}

bool host_state_equal(const struct host_state *a, const struct host_state *b)
{
	size_t i;

	if ((a->path == NULL) != (b->path == NULL) ||
	    (a->path != NULL && strcmp(a->path, b->path) != 0) ||
	    a->managed.n != b->managed.n || a->written.n != b->written.n ||
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
	return !a->stamp.valid ||
	       (a->stamp.dev == b->stamp.dev && a->stamp.ino == b->stamp.ino &&
	        a->stamp.size == b->stamp.size &&
	        a->stamp.mtime_ns == b->stamp.mtime_ns &&
	        strcmp(a->stamp.digest, b->stamp.digest) == 0);
}

void host_state_clear(struct host_state *s)
{
	if (s == NULL)
		return;
	free(s->path);
	strv_clear(&s->managed);
	kvlist_clear(&s->written);
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
	free(p->new_text);
	free(p->backup_path);
	memset(p, 0, sizeof(*p));
}
