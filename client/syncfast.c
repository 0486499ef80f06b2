/* SPDX-License-Identifier: MIT */
/* The record behind sync's no-op fast path. */
#include "syncfast.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <mbedtls/sha256.h>

#include "buf.h"
#include "fileio.h"
#include "state.h"

/* Bumped whenever the record or what its key covers changes. */
#define SYNCFAST_MAGIC    "mcpfleet-sync-fast-1\n"
#define SYNCFAST_MAX_SIZE (16u << 20)
#define SYNCFAST_NULL     0xffffffffu

struct syncfast_hash {
	mbedtls_sha256_context ctx;
	int r;
	int64_t newest_ns;
};

static void syncfast_put(struct syncfast_hash *h, const void *p, size_t n)
{
	h->r |= mbedtls_sha256_update_ret(&h->ctx, p, n);
}

static void syncfast_put_str(struct syncfast_hash *h, const char *s)
{
	if (s == NULL)
		syncfast_put(h, "\1", 1);
	else
		syncfast_put(h, s, strlen(s) + 1);
}

static void syncfast_put_u64(struct syncfast_hash *h, uint64_t v)
{
	syncfast_put(h, &v, sizeof(v));
}

/* What a file is now: a change by anyone shows in one of these, even one
 * that keeps the size and puts the mtime back (the ctime moves). */
static void syncfast_put_stamp(struct syncfast_hash *h, const char *path)
{
	struct stat st;
	int64_t m, c;

	syncfast_put_str(h, path);
	if (path == NULL || stat(path, &st) != 0) {
		syncfast_put_u64(h, errno == ENOENT ? 1 : 2);
		return;
	}
	m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	c = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	syncfast_put_u64(h, 0);
	syncfast_put_u64(h, (uint64_t)st.st_dev);
	syncfast_put_u64(h, (uint64_t)st.st_ino);
	syncfast_put_u64(h, (uint64_t)st.st_mode);
	syncfast_put_u64(h, (uint64_t)st.st_size);
	syncfast_put_u64(h, (uint64_t)m);
	syncfast_put_u64(h, (uint64_t)c);
	if (m > h->newest_ns)
		h->newest_ns = m;
	if (c > h->newest_ns)
		h->newest_ns = c;
}

struct syncfast_env {
	struct syncfast_hash *h;
	const struct host_env *env;
};

/* Hashes the value each ${VAR} of a string has now (set or not), as the
 * renderer would look it up: ${host:VAR} too, ${secret:...} never. */
static int syncfast_env_cb(void *ctx, const char *value)
{
	struct syncfast_env *e = ctx;
	const char *p = value, *open, *close, *name;
	char var[256];

	while ((open = strstr(p, "${")) != NULL) {
		size_t n;
		const char *v;

		name = open + 2;
		if (strncmp(name, "host:", 5) == 0)
			name += 5;
		if ((close = strchr(name, '}')) == NULL)
			break;
		p = close + 1;
		n = (size_t)(close - name);
		if (n == 0 || n >= sizeof(var) ||
		    strncmp(open + 2, "secret:", 7) == 0)
			continue;
		memcpy(var, name, n);
		var[n] = '\0';
		v = e->env->getenv(e->env->ctx, var);
		syncfast_put_str(e->h, var);
		syncfast_put_str(e->h, v);
	}
	return 0;
}

static int syncfast_put_server(struct syncfast_hash *h,
                               const struct host_env *env,
                               const struct server *s)
{
	struct syncfast_env e = {h, env};
	json_t *j = server_to_json(s);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	size_t i;

	json_decref(j);
	if (text == NULL)
		return -ERR_NOMEM;
	syncfast_put_str(h, s->name);
	syncfast_put_u64(h, (uint64_t)s->transport);
	syncfast_put_u64(h, (uint64_t)s->origin);
	syncfast_put_u64(h, (uint64_t)s->via);
	syncfast_put_str(h, text);
	free(text);
	for (i = 0; i < s->secrets.n; i++) {
		syncfast_put_str(h, s->secrets.v[i].name);
		syncfast_put_u64(h, (uint64_t)s->secrets.v[i].version);
	}
	(void)server_each_value(s, syncfast_env_cb, &e);
	return 0;
}

int syncfast_key(const struct sync_opts *o, const struct server *servers,
                 size_t n, uint64_t revision, const char *state_path,
                 struct syncfast_key *k)
{
	struct syncfast_key key = {0};
	struct syncfast_hash h = {0};
	size_t i;
	int r = 0;

	mbedtls_sha256_init(&h.ctx);
	h.r = mbedtls_sha256_starts_ret(&h.ctx, 0);
	syncfast_put_str(&h, SYNCFAST_MAGIC);
	syncfast_put_u64(&h, STATE_VERSION);
	/* This very program: another build may plan otherwise. */
	syncfast_put_stamp(&h, "/proc/self/exe");
	syncfast_put_str(&h, o->home);
	syncfast_put_str(&h, o->launcher);
	syncfast_put_u64(&h, (uint64_t)o->env->os);
	syncfast_put_u64(&h, revision);
	syncfast_put_u64(&h, n);
	for (i = 0; i < n && r == 0; i++)
		r = syncfast_put_server(&h, o->env, &servers[i]);
	for (i = 0; i < adapter_count && r == 0; i++) {
		const struct adapter *a = adapter_registry[i];
		struct host_location loc = {0};
		struct diag d;
		int lr = a->locate(o->env, &loc, &d);
		bool present = lr == 0 && loc.present;

		if (lr == -ERR_NOMEM)
			r = lr;
		syncfast_put_str(&h, a->id);
		syncfast_put_u64(&h,
		                 (uint64_t)(lr != 0) | (uint64_t)present << 1);
		if (present)
			syncfast_put_stamp(&h, loc.path);
		else if (lr == 0)
			syncfast_put_str(&h, loc.path);
		host_location_clear(&loc);
		if (!present || a->filters == NULL)
			continue;
		if ((lr = a->filters->locate(o->env, &loc, &d)) == -ERR_NOMEM)
			r = lr;
		syncfast_put_u64(&h, (uint64_t)(lr != 0));
		if (lr == 0)
			syncfast_put_stamp(&h, loc.path);
		host_location_clear(&loc);
	}
	h.r |= mbedtls_sha256_finish_ret(&h.ctx, key.hosts);
	mbedtls_sha256_free(&h.ctx);
	if (r != 0)
		return r;
	mbedtls_sha256_init(&h.ctx);
	h.r |= mbedtls_sha256_starts_ret(&h.ctx, 0);
	syncfast_put(&h, key.hosts, sizeof(key.hosts));
	syncfast_put_stamp(&h, state_path);
	h.r |= mbedtls_sha256_finish_ret(&h.ctx, key.full);
	mbedtls_sha256_free(&h.ctx);
	if (h.r != 0)
		return -ERR_CRYPTO;
	key.newest_ns = h.newest_ns;
	*k = key;
	return 0;
}

/* The record: the magic, the key, then per host its report. */

static int syncfast_w_u32(struct buf *b, uint32_t v)
{
	return buf_append(b, &v, sizeof(v));
}

static int syncfast_w_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (s == NULL)
		return syncfast_w_u32(b, SYNCFAST_NULL);
	if (n >= SYNCFAST_NULL)
		return -ERR_INVALID;
	return syncfast_w_u32(b, (uint32_t)n) || buf_append(b, s, n)
	           ? -ERR_NOMEM
	           : 0;
}

static int syncfast_w_items(struct buf *b, const struct plan_item *items,
                            size_t n)
{
	size_t i;
	int r = syncfast_w_u32(b, (uint32_t)n);

	for (i = 0; i < n && r == 0; i++)
		if ((r = syncfast_w_str(b, items[i].name)) == 0 &&
		    (r = syncfast_w_u32(b, (uint32_t)items[i].op)) == 0)
			r = syncfast_w_str(b, items[i].reason);
	return r;
}

static int syncfast_w_strv(struct buf *b, const struct strv *v)
{
	size_t i;
	int r = syncfast_w_u32(b, (uint32_t)v->n);

	for (i = 0; i < v->n && r == 0; i++)
		r = syncfast_w_str(b, v->v[i]);
	return r;
}

int syncfast_save(const char *path, const struct syncfast_key *k,
                  const struct host_plan *plans)
{
	struct buf b = BUF_INIT;
	size_t i;
	int r;

	r = buf_puts(&b, SYNCFAST_MAGIC) || buf_append(&b, k->full, 32)
	        ? -ERR_NOMEM
	        : syncfast_w_u32(&b, (uint32_t)adapter_count);
	for (i = 0; i < adapter_count && r == 0; i++) {
		const struct host_plan *p = &plans[i];
		const struct host_plan *f = p->filters;

		if ((r = syncfast_w_str(&b, p->adapter->id)) != 0 ||
		    (r = syncfast_w_u32(&b, (uint32_t)p->status)) != 0 ||
		    (r = syncfast_w_str(&b, p->message)) != 0 ||
		    (r = syncfast_w_str(&b, p->loc.path)) != 0 ||
		    (r = syncfast_w_items(&b, p->items, p->nitems)) != 0 ||
		    (r = syncfast_w_strv(&b, &p->warnings)) != 0 ||
		    (r = syncfast_w_strv(&b, &p->after.managed)) != 0 ||
		    (r = syncfast_w_u32(&b, f != NULL)) != 0 || f == NULL)
			continue;
		if ((r = syncfast_w_u32(&b, (uint32_t)f->status)) == 0 &&
		    (r = syncfast_w_str(&b, f->message)) == 0 &&
		    (r = syncfast_w_str(&b, f->loc.path)) == 0)
			r = syncfast_w_items(&b, f->items, f->nitems);
	}
	if (r == 0 && buf_puts(&b, "end\n") != 0)
		r = -ERR_NOMEM;
	if (r == 0) {
		(void)fileio_clean_temps(path);
		if (fileio_write_atomic(path, b.data, b.len, 0600,
		                        FILEIO_FORCE_MODE) != 0)
			r = -ERR_IO;
	}
	buf_free(&b);
	return r;
}

struct syncfast_reader {
	const char *p, *end;
	int r; /* 1: not a usable record; -ERR_NOMEM */
};

static uint32_t syncfast_r_u32(struct syncfast_reader *rd)
{
	uint32_t v = 0;

	if (rd->r != 0 || (size_t)(rd->end - rd->p) < sizeof(v)) {
		rd->r = rd->r != 0 ? rd->r : 1;
		return 0;
	}
	memcpy(&v, rd->p, sizeof(v));
	rd->p += sizeof(v);
	return v;
}

/* A new string (NULL for a NULL one, or on failure: see rd->r). */
static char *syncfast_r_str(struct syncfast_reader *rd)
{
	uint32_t n = syncfast_r_u32(rd);
	char *s;

	if (rd->r != 0 || n == SYNCFAST_NULL)
		return NULL;
	if ((size_t)(rd->end - rd->p) < n || memchr(rd->p, '\0', n) != NULL) {
		rd->r = 1;
		return NULL;
	}
	if ((s = malloc((size_t)n + 1)) == NULL) {
		rd->r = -ERR_NOMEM;
		return NULL;
	}
	memcpy(s, rd->p, n);
	s[n] = '\0';
	rd->p += n;
	return s;
}

static void syncfast_r_items(struct syncfast_reader *rd, struct host_plan *p)
{
	uint32_t i, n = syncfast_r_u32(rd);

	if (rd->r != 0 || n > (size_t)(rd->end - rd->p) / 12) {
		rd->r = rd->r != 0 ? rd->r : 1;
		return;
	}
	if (n > 0 && (p->items = calloc(n, sizeof(*p->items))) == NULL) {
		rd->r = -ERR_NOMEM;
		return;
	}
	for (i = 0; i < n && rd->r == 0; i++) {
		struct plan_item *it = &p->items[i];
		uint32_t op;

		p->nitems++;
		it->name = syncfast_r_str(rd);
		op = syncfast_r_u32(rd);
		it->reason = syncfast_r_str(rd);
		if (rd->r == 0 && (it->name == NULL || op > PLAN_HELD))
			rd->r = 1;
		it->op = (enum plan_op)op;
	}
}

static void syncfast_r_strv(struct syncfast_reader *rd, struct strv *v)
{
	uint32_t i, n = syncfast_r_u32(rd);

	for (i = 0; i < n && rd->r == 0; i++) {
		char *s = syncfast_r_str(rd);

		if (rd->r == 0 && s == NULL)
			rd->r = 1;
		if (rd->r == 0 && strv_push(v, s) != 0)
			rd->r = -ERR_NOMEM;
		free(s);
	}
}

static uint32_t syncfast_r_status(struct syncfast_reader *rd)
{
	uint32_t st = syncfast_r_u32(rd);

	if (rd->r == 0 && st > HOST_ABSENT)
		rd->r = 1;
	return st;
}

/* One host's report into p, for adapter a. */
static void syncfast_r_host(struct syncfast_reader *rd, const struct adapter *a,
                            struct host_plan *p)
{
	char *id = syncfast_r_str(rd);

	p->adapter = a;
	if (rd->r == 0 && (id == NULL || strcmp(id, a->id) != 0))
		rd->r = 1;
	free(id);
	p->status = (enum host_status)syncfast_r_status(rd);
	p->message = syncfast_r_str(rd);
	p->loc.path = syncfast_r_str(rd);
	syncfast_r_items(rd, p);
	syncfast_r_strv(rd, &p->warnings);
	syncfast_r_strv(rd, &p->after.managed);
	if (syncfast_r_u32(rd) == 0 || rd->r != 0)
		return;
	if (a->filters == NULL) {
		rd->r = 1;
		return;
	}
	if ((p->filters = calloc(1, sizeof(*p->filters))) == NULL) {
		rd->r = -ERR_NOMEM;
		return;
	}
	p->filters->adapter = a;
	p->filters->status = (enum host_status)syncfast_r_status(rd);
	p->filters->message = syncfast_r_str(rd);
	p->filters->loc.path = syncfast_r_str(rd);
	syncfast_r_items(rd, p->filters);
}

int syncfast_load(const char *path, const struct syncfast_key *k,
                  struct host_plan **plans)
{
	const size_t ml = sizeof(SYNCFAST_MAGIC) - 1;
	struct syncfast_reader rd = {0};
	struct host_plan *v = NULL;
	char *text = NULL;
	size_t len, i;
	int r;

	if ((r = fileio_read(path, SYNCFAST_MAX_SIZE, &text, &len)) != 0)
		return r == -ERR_NOMEM ? r : 1;
	if (len < ml + 32 + 4 || memcmp(text, SYNCFAST_MAGIC, ml) != 0 ||
	    memcmp(text + ml, k->full, 32) != 0) {
		free(text);
		return 1;
	}
	rd.p = text + ml + 32;
	rd.end = text + len;
	if (syncfast_r_u32(&rd) != adapter_count)
		rd.r = 1;
	if (rd.r == 0 && (v = calloc(adapter_count, sizeof(*v))) == NULL)
		rd.r = -ERR_NOMEM;
	for (i = 0; i < adapter_count && rd.r == 0; i++)
		syncfast_r_host(&rd, adapter_registry[i], &v[i]);
	if (rd.r == 0 &&
	    ((size_t)(rd.end - rd.p) != 4 || memcmp(rd.p, "end\n", 4) != 0))
		rd.r = 1;
	free(text);
	if (rd.r != 0) {
		for (i = 0; v != NULL && i < adapter_count; i++)
			host_plan_clear(&v[i]);
		free(v);
		return rd.r;
	}
	*plans = v;
	return 0;
}
