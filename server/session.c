/* SPDX-License-Identifier: MIT */
/* The web console's sessions: the table, its expiry, the cookie and the
 * checks against cross-site requests (session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enroll.h"
#include "err.h"

struct session_table {
	struct session *v;
	size_t max;
	struct enroll_limiter *limiter; /* sign-in attempts per address */
};

void session_table_free(struct session_table *t)
{
	if (t == NULL)
		return;
	if (t->v != NULL)
		crypto_wipe(t->v, t->max * sizeof(*t->v));
	free(t->v);
	enroll_limiter_free(t->limiter);
	free(t);
}

int session_table_new(size_t max, unsigned login_rate,
                      struct session_table **out)
{
	struct session_table *t = NULL;
	int r;

	if (max == 0 || login_rate == 0)
		return -ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->v = calloc(max, sizeof(*t->v))) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	t->max = max;
	if ((r = enroll_limiter_new(login_rate, &t->limiter)) != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	session_table_free(t);
	return r;
}

void session_drop(struct session *se)
{
	crypto_wipe(se, sizeof(*se));
}

/* Is the slot a session still alive at now? Drops one that has expired
 * (SESSION_TTL after sign-in, or SESSION_IDLE after its last request), so
 * that an expired id is gone, not merely refused. */
static bool session_live(struct session *se, int64_t now)
{
	if (se->id_hash[0] == '\0')
		return false;
	if (now - se->created >= SESSION_TTL ||
	    now - se->last_used >= SESSION_IDLE) {
		session_drop(se);
		return false;
	}
	return true;
}

size_t session_table_count(struct session_table *t, int64_t now)
{
	size_t i, n = 0;

	for (i = 0; t != NULL && i < t->max; i++)
		if (session_live(&t->v[i], now))
			n++;
	return n;
}

bool session_login_allow(struct session_table *t, const char *peer, int64_t now)
{
	return enroll_limiter_allow(t->limiter, peer, now);
}

/*
 * Finds the next SESSION_COOKIE pair of a Cookie header from *p on: sets
 * *val and *len to its value and moves *p past it. Returns false when
 * there is none left.
 */
static bool session_cookie_next(const char **p, const char **val, size_t *len)
{
	static const char name[] = SESSION_COOKIE;
	const size_t n = sizeof(name) - 1;
	const char *s = *p, *end, *v;
	size_t vlen;

	for (; *s != '\0'; s = end) {
		while (*s == ' ' || *s == '\t' || *s == ';')
			s++;
		end = s + strcspn(s, ";");
		if ((size_t)(end - s) <= n || strncmp(s, name, n) != 0 ||
		    s[n] != '=')
			continue;
		v = s + n + 1;
		vlen = (size_t)(end - v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		*val = v;
		*len = vlen;
		*p = end;
		return true;
	}
	*p = s;
	return false;
}

bool session_has_cookie(const char *cookie_header)
{
	const char *p = cookie_header != NULL ? cookie_header : "", *v;
	size_t len;

	return session_cookie_next(&p, &v, &len);
}

/* The live session whose cookie value is the len bytes at id, or NULL.
 * Every slot is compared, in constant time, whichever matches. */
static struct session *session_by_id(struct session_table *t, const char *id,
                                     size_t len, int64_t now)
{
	char tok[TOKEN_LEN + 1], hash[CRYPTO_HEX_LEN + 1];
	struct session *hit = NULL;
	size_t i;

	if (len != TOKEN_LEN)
		return NULL;
	memcpy(tok, id, len);
	tok[len] = '\0';
	if (token_hash(tok, hash) != 0)
		return NULL;
	for (i = 0; i < t->max; i++)
		if (session_live(&t->v[i], now) &&
		    crypto_ct_equal(t->v[i].id_hash, hash, CRYPTO_HEX_LEN))
			hit = &t->v[i];
	return hit;
}

struct session *session_find(struct session_table *t, const char *cookie_header,
                             int64_t now)
{
	const char *p = cookie_header != NULL ? cookie_header : "", *v;
	struct session *se = NULL;
	size_t len;

	while (se == NULL && session_cookie_next(&p, &v, &len))
		se = session_by_id(t, v, len, now);
	return se;
}

/* The slot for a new session: a free or expired one, else the least
 * recently used, which is signed out. */
static struct session *session_slot(struct session_table *t, int64_t now)
{
	struct session *lru = &t->v[0];
	size_t i;

	for (i = 0; i < t->max; i++) {
		if (!session_live(&t->v[i], now))
			return &t->v[i];
		if (t->v[i].last_used < lru->last_used)
			lru = &t->v[i];
	}
	session_drop(lru);
	return lru;
}

int session_new(struct crypto_rng *rng, const char *admin_hash, int64_t now,
                struct session *se, char *cookie, size_t size)
{
	char sid[TOKEN_LEN + 1], scratch[CRYPTO_HEX_LEN + 1];
	struct session s;
	int r, n;

	memset(&s, 0, sizeof(s));
	memset(sid, 0, sizeof(sid));
	if (strlen(admin_hash) != CRYPTO_HEX_LEN) {
		r = -ERR_INVALID;
		goto out;
	}
	if (rng == NULL || token_new(rng, sid, s.id_hash) != 0 ||
	    token_new(rng, s.csrf, scratch) != 0) {
		r = -ERR_CRYPTO;
		goto out;
	}
	memcpy(s.admin_hash, admin_hash, CRYPTO_HEX_LEN + 1);
	s.created = now;
	s.last_used = now;
	n = snprintf(cookie, size, "%s=%s" SESSION_COOKIE_ATTRS, SESSION_COOKIE,
	             sid);
	if (n < 0 || (size_t)n >= size) {
		crypto_wipe(cookie, size);
		r = -ERR_TRUNC;
		goto out;
	}
	*se = s;
	r = 0;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_wipe(sid, sizeof(sid));
	return r;
}

void session_install(struct session_table *t, const char *cookie_header,
                     const struct session *se, int64_t now)
{
	struct session *old;

	/* A session the browser already had is replaced, not kept. */
	while ((old = session_find(t, cookie_header, now)) != NULL)
		session_drop(old);
	*session_slot(t, now) = *se;
}

void session_touch(struct session *se, int64_t now)
{
	se->last_used = now;
}

int64_t session_expires(const struct session *se)
{
	return se->created + SESSION_TTL;
}

bool session_csrf_ok(const struct session *se, const char *given)
{
	return given != NULL && strlen(given) == TOKEN_LEN &&
	       crypto_ct_equal(se->csrf, given, TOKEN_LEN);
}

/* A browser sends Origin on every cross-site request that could change
 * something, so a request from another site carries another origin. */
bool session_origin_ok(const char *origin, const char *host)
{
	static const char https[] = "https://";
	const size_t n = sizeof(https) - 1;

	if (origin == NULL || *origin == '\0')
		return true;
	if (host == NULL || *host == '\0')
		return false;
	return strncasecmp(origin, https, n) == 0 &&
	       strcasecmp(origin + n, host) == 0;
}
