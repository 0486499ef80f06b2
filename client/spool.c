/* SPDX-License-Identifier: MIT */
/* The calls spool: bounded, on disk, acknowledged by the server. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "fileio.h"

struct spool_rec {
	uint64_t seq;
	int64_t at_ms;
	char *server, *method, *name, *detail;
	int64_t duration_us;
	int outcome;
	uint64_t bytes_in, bytes_out;
	size_t size; /* its line's bytes: what counts against the limit */
};

struct spool {
	pthread_mutex_t mu;
	char *path;
	int fd; /* O_APPEND; -1 when the file could not be opened */
	size_t max;
	struct spool_rec *v; /* oldest first: v[head..head+n) */
	size_t head, n, cap;
	size_t bytes;
	uint64_t last;  /* the highest seq handed out */
	uint64_t acked; /* the highest seq the server stored */
	uint64_t dropped;
	bool dirty; /* the file lacks records: rewrite at the next chance */
};

int spool_record_from_json(const json_t *msg, const char *server,
                           struct spool_record *r)
{
	const json_t *o = json_object_get(msg, "outcome");

	memset(r, 0, sizeof(*r));
	r->at_ms = json_integer_value(json_object_get(msg, "at_ms"));
	r->server = server;
	r->method = json_string_value(json_object_get(msg, "method"));
	r->name = json_string_value(json_object_get(msg, "name"));
	r->duration_us =
	    json_integer_value(json_object_get(msg, "duration_us"));
	r->outcome = (int)json_integer_value(o);
	r->bytes_in =
	    (uint64_t)json_integer_value(json_object_get(msg, "bytes_in"));
	r->bytes_out =
	    (uint64_t)json_integer_value(json_object_get(msg, "bytes_out"));
	r->detail = json_string_value(json_object_get(msg, "detail"));
	if (server == NULL || r->method == NULL || !json_is_integer(o) ||
	    r->outcome < 0 ||
	    r->outcome > MCPFLEET__V1__CALL_OUTCOME__CALL_RATE_LIMITED)
		return -ERR_INVALID;
	return 0;
}

static void spool_rec_clear(struct spool_rec *r)
{
	free(r->server);
	free(r->method);
	free(r->name);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

/* Copies at most max bytes of s, cut at a UTF-8 boundary. */
static char *spool_strndup(const char *s, size_t max)
{
	size_t n;
	char *c;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if ((c = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(c, s, n);
	c[n] = '\0';
	return c;
}

static json_t *spool_rec_json(const struct spool_rec *r)
{
	return json_pack("{s:I,s:I,s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:s?}", "seq",
	                 (json_int_t)r->seq, "at_ms", (json_int_t)r->at_ms,
	                 "server", r->server, "method", r->method, "name",
	                 r->name, "duration_us", (json_int_t)r->duration_us,
	                 "outcome", r->outcome, "bytes_in",
	                 (json_int_t)r->bytes_in, "bytes_out",
	                 (json_int_t)r->bytes_out, "detail", r->detail);
}

/* Appends r's line to b. Returns 0 or -ERR_NOMEM. */
static int spool_rec_line(const struct spool_rec *r, struct buf *b)
{
	json_t *j = spool_rec_json(r);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = -ERR_NOMEM;

	if (s != NULL && buf_puts(b, s) == 0 && buf_putc(b, '\n') == 0)
		rc = 0;
	free(s);
	json_decref(j);
	return rc;
}

static struct spool_rec *spool_at(struct spool *s, size_t i)
{
	return &s->v[(s->head + i) % s->cap];
}

static void spool_drop_oldest(struct spool *s)
{
	struct spool_rec *r = spool_at(s, 0);

	s->bytes -= r->size;
	spool_rec_clear(r);
	s->head = (s->head + 1) % s->cap;
	s->n--;
}

/* Takes r (its strings) as the newest record. */
static int spool_push(struct spool *s, struct spool_rec *r)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64, i;
		struct spool_rec *nv = calloc(ncap, sizeof(*nv));

		if (nv == NULL)
			return -ERR_NOMEM;
		for (i = 0; i < s->n; i++)
			nv[i] = *spool_at(s, i);
		free(s->v);
		s->v = nv;
		s->cap = ncap;
		s->head = 0;
	}
	*spool_at(s, s->n) = *r;
	s->n++;
	s->bytes += r->size;
	memset(r, 0, sizeof(*r));
	while (s->bytes > s->max && s->n > 1) {
		spool_drop_oldest(s);
		s->dropped++;
		s->dirty = true;
	}
	return 0;
}

/* Writes the whole file again: the acked mark, then every record. */
static int spool_rewrite(struct spool *s)
{
	struct buf b = BUF_INIT;
	size_t i;
	int r;

	if ((r = buf_printf(&b, "{\"acked\":%llu,\"dropped\":%llu}\n",
	                    (unsigned long long)s->acked,
	                    (unsigned long long)s->dropped)) != 0)
		goto out;
	for (i = 0; i < s->n; i++)
		if ((r = spool_rec_line(spool_at(s, i), &b)) != 0)
			goto out;
	if ((r = fileio_write_atomic(s->path, b.data, b.len, 0600,
	                             FILEIO_FORCE_MODE)) != 0)
		goto out;
	/* The old descriptor points at the replaced file. */
	if (s->fd >= 0)
		close(s->fd);
	s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	s->dirty = s->fd < 0;
out:
	buf_free(&b);
	return r;
}

static uint64_t spool_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static int spool_load_line(struct spool *s, json_t *j, size_t size)
{
	struct spool_rec r = {0};
	json_int_t seq;

	if (json_object_get(j, "acked") != NULL) {
		s->acked =
		    (uint64_t)json_integer_value(json_object_get(j, "acked"));
		s->dropped =
		    (uint64_t)json_integer_value(json_object_get(j, "dropped"));
		if (s->acked > s->last)
			s->last = s->acked;
		return 0;
	}
	seq = json_integer_value(json_object_get(j, "seq"));
	if (seq <= 0 || (uint64_t)seq <= s->acked ||
	    !json_is_string(json_object_get(j, "server")) ||
	    !json_is_string(json_object_get(j, "method")))
		return -ERR_INVALID;
	r.seq = (uint64_t)seq;
	r.at_ms = json_integer_value(json_object_get(j, "at_ms"));
	r.duration_us = json_integer_value(json_object_get(j, "duration_us"));
	r.outcome = (int)json_integer_value(json_object_get(j, "outcome"));
	r.bytes_in =
	    (uint64_t)json_integer_value(json_object_get(j, "bytes_in"));
	r.bytes_out =
	    (uint64_t)json_integer_value(json_object_get(j, "bytes_out"));
	r.server =
	    spool_strndup(json_string_value(json_object_get(j, "server")), 64);
	r.method =
	    spool_strndup(json_string_value(json_object_get(j, "method")), 32);
	r.name =
	    spool_strndup(json_is_string(json_object_get(j, "name"))
	                      ? json_string_value(json_object_get(j, "name"))
	                      : "",
	                  SPOOL_NAME_MAX);
	r.detail = spool_strndup(
	    json_string_value(json_object_get(j, "detail")), SPOOL_DETAIL_MAX);
	if (r.server == NULL || r.method == NULL || r.name == NULL) {
		spool_rec_clear(&r);
		return -ERR_NOMEM;
	}
	r.size = size;
	if (r.seq > s->last)
		s->last = r.seq;
	return spool_push(s, &r);
}

int spool_open(const char *path, size_t max_bytes, struct spool **out,
               struct diag *d)
{
	struct spool *s = calloc(1, sizeof(*s));
	char *text = NULL, *line, *nl;
	size_t len = 0, bad = 0;
	int r;

	if (s == NULL || (s->path = strdup(path)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->fd = -1;
	s->max = max_bytes;
	spool_set_max(s, max_bytes);
	r = fileio_read(path, SPOOL_MAX_MAX + (1u << 20), &text, &len);
	if (r != 0 && r != -ERR_NOENT) {
		r = diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		             r == -ERR_IO ? strerror(errno) : err_str(r));
		goto fail;
	}
	for (line = text; line != NULL && *line != '\0'; line = nl) {
		json_t *j;

		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (*line == '\0')
			continue;
		j = json_loads(line, 0, NULL);
		if (j == NULL || !json_is_object(j) ||
		    spool_load_line(s, j, strlen(line) + 1) != 0)
			bad++; /* a torn last line after a crash, say */
		json_decref(j);
	}
	s->dropped += bad;
	if ((r = spool_rewrite(s)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: cannot write (%s)", path,
		             strerror(errno));
		goto fail;
	}
	free(text);
	*out = s;
	return 0;
fail:
	free(text);
	spool_free(s);
	return r;
}

void spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	while (s->n > 0)
		spool_drop_oldest(s);
	free(s->v);
	if (s->fd >= 0)
		close(s->fd);
	if (s->path != NULL)
		pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

void spool_set_max(struct spool *s, size_t max_bytes)
{
	pthread_mutex_lock(&s->mu);
	if (max_bytes < SPOOL_MIN_MAX)
		max_bytes = SPOOL_MIN_MAX;
	if (max_bytes > SPOOL_MAX_MAX)
		max_bytes = SPOOL_MAX_MAX;
	s->max = max_bytes;
	while (s->bytes > s->max && s->n > 1) {
		spool_drop_oldest(s);
		s->dropped++;
		s->dirty = true;
	}
	pthread_mutex_unlock(&s->mu);
}

int spool_append(struct spool *s, const struct spool_record *in)
{
	struct spool_rec r = {0};
	struct buf b = BUF_INIT;
	uint64_t now;
	int rc = -ERR_NOMEM;

	pthread_mutex_lock(&s->mu);
	now = spool_now_us();
	r.seq = now > s->last ? now : s->last + 1;
	r.at_ms = in->at_ms;
	r.duration_us = in->duration_us;
	r.outcome = in->outcome;
	r.bytes_in = in->bytes_in;
	r.bytes_out = in->bytes_out;
	if ((r.server = spool_strndup(in->server ? in->server : "", 64)) ==
	        NULL ||
	    (r.method = spool_strndup(in->method ? in->method : "", 32)) ==
	        NULL ||
	    (r.name = spool_strndup(in->name ? in->name : "",
	                            SPOOL_NAME_MAX)) == NULL ||
	    (in->detail != NULL &&
	     (r.detail = spool_strndup(in->detail, SPOOL_DETAIL_MAX)) == NULL))
		goto out;
	if ((rc = spool_rec_line(&r, &b)) != 0)
		goto out;
	r.size = b.len;
	s->last = r.seq;
	if ((rc = spool_push(s, &r)) != 0)
		goto out;
	rc = 0;
	if (s->dirty)
		rc = spool_rewrite(s);
	else if (s->fd < 0 || write(s->fd, b.data, b.len) != (ssize_t)b.len) {
		/* Kept in memory; the next rewrite puts it on disk. */
		s->dirty = true;
		rc = -ERR_IO;
	}
out:
	spool_rec_clear(&r);
	buf_free(&b);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

size_t spool_batch(struct spool *s, uint64_t after, size_t max,
                   Mcpfleet__V1__CallBatch *batch)
{
	Mcpfleet__V1__CallRecord *recs = NULL, **ptrs = NULL;
	size_t i, k = 0, first = 0;

	mcpfleet__v1__call_batch__init(batch);
	pthread_mutex_lock(&s->mu);
	batch->dropped = s->dropped;
	while (first < s->n && spool_at(s, first)->seq <= after)
		first++;
	if (first == s->n || max == 0)
		goto out;
	if (max > s->n - first)
		max = s->n - first;
	if ((recs = calloc(max, sizeof(*recs))) == NULL ||
	    (ptrs = calloc(max, sizeof(*ptrs))) == NULL) {
		free(recs);
		free(ptrs);
		goto out;
	}
	for (i = first; i < first + max; i++, k++) {
		const struct spool_rec *r = spool_at(s, i);
		Mcpfleet__V1__CallRecord *m = &recs[k];

		mcpfleet__v1__call_record__init(m);
		m->seq = r->seq;
		m->at_ms = r->at_ms;
		/* Copies: the records may go while the batch is out. */
		m->server = strdup(r->server);
		m->method = strdup(r->method);
		m->name = strdup(r->name);
		m->detail = strdup(r->detail ? r->detail : "");
		m->duration_us = r->duration_us;
		m->outcome = (Mcpfleet__V1__CallOutcome)r->outcome;
		m->bytes_in = r->bytes_in;
		m->bytes_out = r->bytes_out;
		ptrs[k] = m;
	}
	batch->calls = ptrs;
	batch->n_calls = k;
out:
	pthread_mutex_unlock(&s->mu);
	return k;
}

void spool_batch_clear(Mcpfleet__V1__CallBatch *batch)
{
	size_t i;

	for (i = 0; i < batch->n_calls; i++) {
		free(batch->calls[i]->server);
		free(batch->calls[i]->method);
		free(batch->calls[i]->name);
		free(batch->calls[i]->detail);
	}
	if (batch->n_calls > 0)
		free(batch->calls[0]);
	free(batch->calls);
	batch->calls = NULL;
	batch->n_calls = 0;
}

int spool_ack(struct spool *s, uint64_t through)
{
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (through > s->last)
		through = s->last; /* never ahead of what was handed out */
	if (through > s->acked) {
		s->acked = through;
		while (s->n > 0 && spool_at(s, 0)->seq <= through)
			spool_drop_oldest(s);
		r = spool_rewrite(s);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

uint64_t spool_acked(struct spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->mu);
	v = s->acked;
	pthread_mutex_unlock(&s->mu);
	return v;
}

size_t spool_count(struct spool *s)
{
	size_t v;

	pthread_mutex_lock(&s->mu);
	v = s->n;
	pthread_mutex_unlock(&s->mu);
	return v;
}

uint64_t spool_dropped(struct spool *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->mu);
	v = s->dropped;
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* ---- Records held by launchers ---- */

/* Opens home's held file with flags, locked exclusively. Returns the
 * descriptor, or -1 with errno (ENOENT when absent and not created). */
static int spool_held_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int spool_hold(const char *home, const char *server, json_t *const *msgs,
               size_t n, struct diag *d)
{
	struct buf b = BUF_INIT;
	struct stat st;
	char *path = fileio_join(home, SPOOL_HELD_FILE);
	size_t i;
	int fd = -1, r = 0;

	if (path == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n && r == 0; i++) {
		json_t *line = json_copy(msgs[i]);
		char *text;

		if (line == NULL ||
		    json_object_set_new(line, "server", json_string(server)) !=
		        0 ||
		    (text = json_dumps(line, JSON_COMPACT)) == NULL) {
			json_decref(line);
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			break;
		}
		r = buf_printf(&b, "%s\n", text);
		free(text);
		json_decref(line);
	}
	if (r != 0)
		goto out;
	if ((fd = spool_held_open(path, O_WRONLY | O_APPEND | O_CREAT)) < 0 ||
	    fstat(fd, &st) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: cannot open (%s)", path,
		             strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size + b.len > SPOOL_MAX_MAX) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: full (%u MiB of records no agent took yet: "
		             "start 'mcpfleet run')",
		             path, SPOOL_MAX_MAX >> 20);
		goto out;
	}
	for (i = 0; i < b.len;) {
		ssize_t w = write(fd, b.data + i, b.len - i);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = diag_set(d, ERR_IO, 0, 0, "%s: cannot write (%s)",
			             path, strerror(errno));
			break;
		}
		i += (size_t)w;
	}
out:
	if (fd >= 0)
		close(fd); /* and unlocks */
	buf_free(&b);
	free(path);
	return r;
}

int spool_absorb(struct spool *s, const char *home, struct diag *d)
{
	char *path = fileio_join(home, SPOOL_HELD_FILE);
	char *text = NULL, *line, *nl;
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd = -1, taken = 0;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	/* The common case, nothing held, costs one stat(). */
	if (stat(path, &st) != 0 || st.st_size == 0)
		goto out;
	if ((fd = spool_held_open(path, O_RDWR)) < 0 || fstat(fd, &st) != 0) {
		taken = diag_set(d, ERR_IO, 0, 0, "%s: cannot read (%s)", path,
		                 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SPOOL_MAX_MAX + (1 << 20) ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL) {
		taken = diag_set(d, ERR_IO, 0, 0,
		                 "%s: not a regular file of at most %u MiB",
		                 path, (SPOOL_MAX_MAX >> 20) + 1);
		goto out;
	}
	while (len < (size_t)st.st_size &&
	       (got = read(fd, text + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)got;
	text[len] = '\0';
	for (line = text; *line != '\0'; line = nl) {
		struct spool_record r;
		json_t *j;

		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		else
			nl = line + strlen(line);
		j = json_loads(line, 0, NULL);
		if (j != NULL &&
		    spool_record_from_json(
		        j, json_string_value(json_object_get(j, "server")),
		        &r) == 0) {
			(void)spool_append(s, &r);
			taken++;
		} else if (*line != '\0') {
			pthread_mutex_lock(&s->mu);
			s->dropped++; /* a torn line: counted, as in the spool
			               */
			pthread_mutex_unlock(&s->mu);
		}
		json_decref(j);
	}
	/* Taken into the spool (on disk): the held copies go. */
	if (ftruncate(fd, 0) != 0)
		taken = diag_set(d, ERR_IO, 0, 0, "%s: cannot empty (%s)", path,
		                 strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	return taken;
}
