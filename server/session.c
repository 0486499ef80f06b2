/* SPDX-License-Identifier: MIT */
/* The web console's sessions: kept in the store, their expiry, the cookie
 * and the checks against cross-site requests (session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enroll.h"
#include "err.h"
#include "store.h"

_Static_assert(SESSION_IDENTITY_MAX == STORE_IDENTITY_MAX &&
                   SESSION_ROLE_MAX == STORE_ROLE_MAX,
               "a session's identity and role fit the store's");

struct session_table {
	struct store *st;
	size_t max;
	struct enroll_limiter *limiter; /* sign-in attempts per address */
	struct session found;           /* session_find()'s answer */
	int err; /* the store's error in the last session_find(), or 0 */
};

void session_table_free(struct session_table *t)
{
	if (t == NULL)
		return;
	crypto_wipe(&t->found, sizeof(t->found));
	enroll_limiter_free(t->limiter);
	free(t);
}

int session_table_new(struct store *st, size_t max, unsigned login_rate,
                      struct session_table **out)
{
	struct session_table *t = NULL;
	int r;

	if (st == NULL || max == 0 || login_rate == 0)
		return -ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ERR_NOMEM;
	t->st = st;
	t->max = max;
	if ((r = enroll_limiter_new(login_rate, &t->limiter)) != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	session_table_free(t);
	return r;
}

void session_drop(struct session_table *t, struct session *se)
{
	if (se->id_hash[0] != '\0')
		(void)store_session_remove(t->st, se->id_hash, NULL);
	crypto_wipe(se, sizeof(*se));
}

/* Is a stored session still alive at now? (SESSION_TTL after sign-in, and
 * SESSION_IDLE after its last request.) */
static bool session_live(const struct session *se, int64_t now)
{
	return now - se->created < SESSION_TTL &&
	       now - se->last_used < SESSION_IDLE;
}

/* Removes the expired sessions and, while more than keep remain, the
 * least recently used. Returns how many remain (0 on a store error). */
static size_t session_prune(struct session_table *t, int64_t now, size_t keep)
{
	size_t left = 0;

	if (store_session_prune(t->st, now - SESSION_TTL + 1,
	                        now - SESSION_IDLE + 1, keep, &left, NULL) != 0)
		return 0;
	return left;
}

size_t session_table_count(struct session_table *t, int64_t now)
{
	if (t == NULL)
		return 0;
	return session_prune(t, now, t->max);
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

/* The live session whose cookie value is the len bytes at id, read from
 * the store into t->found, or NULL. An expired one is removed. */
static struct session *session_by_id(struct session_table *t, const char *id,
                                     size_t len, int64_t now)
{
	char tok[TOKEN_LEN + 1], hash[CRYPTO_HEX_LEN + 1];
	struct store_session ss;
	struct session *se = &t->found;
	int r;

	if (len != TOKEN_LEN)
		return NULL;
	memcpy(tok, id, len);
	tok[len] = '\0';
	if (token_hash(tok, hash) != 0)
		return NULL;
	crypto_wipe(tok, sizeof(tok));
	if ((r = store_session_get(t->st, hash, &ss, NULL)) != 0) {
		if (r != -ERR_NOENT)
			t->err = r;
		return NULL;
	}
	crypto_wipe(se, sizeof(*se));
	if (strlen(ss.csrf) != TOKEN_LEN) { /* not what session_new() made */
		crypto_wipe(&ss, sizeof(ss));
		return NULL;
	}
	memcpy(se->id_hash, ss.id_hash, sizeof(se->id_hash));
	memcpy(se->csrf, ss.csrf, TOKEN_LEN + 1);
	memcpy(se->admin_hash, ss.admin_hash, sizeof(se->admin_hash));
	memcpy(se->identity, ss.identity, sizeof(se->identity));
	memcpy(se->role, ss.role, sizeof(se->role));
	se->created = ss.created;
	se->last_used = ss.last_used;
	crypto_wipe(&ss, sizeof(ss));
	if (!session_live(se, now)) {
		session_drop(t, se);
		return NULL;
	}
	return se;
}

struct session *session_find(struct session_table *t, const char *cookie_header,
                             int64_t now)
{
	const char *p = cookie_header != NULL ? cookie_header : "", *v;
	struct session *se = NULL;
	size_t len;

	t->err = 0;
	while (se == NULL && session_cookie_next(&p, &v, &len))
		se = session_by_id(t, v, len, now);
	return se;
}

int session_find_error(const struct session_table *t)
{
	return t->err;
}

/* Is s 1..max printable ASCII bytes? */
static bool session_text_ok(const char *s, size_t max)
{
	size_t i, n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* session_new() and session_new_identity(): s already holds who. */
static int session_make(struct crypto_rng *rng, struct session *s, int64_t now,
                        struct session *se, char *cookie, size_t size)
{
	char sid[TOKEN_LEN + 1], scratch[CRYPTO_HEX_LEN + 1];
	int r, n;

	memset(sid, 0, sizeof(sid));
	if (rng == NULL || token_new(rng, sid, s->id_hash) != 0 ||
	    token_new(rng, s->csrf, scratch) != 0) {
		r = -ERR_CRYPTO;
		goto out;
	}
	s->created = now;
	s->last_used = now;
	n = snprintf(cookie, size, "%s=%s" SESSION_COOKIE_ATTRS, SESSION_COOKIE,
	             sid);
	if (n < 0 || (size_t)n >= size) {
		crypto_wipe(cookie, size);
		r = -ERR_TRUNC;
		goto out;
	}
	*se = *s;
	r = 0;
out:
	crypto_wipe(s, sizeof(*s));
	crypto_wipe(sid, sizeof(sid));
	return r;
}

int session_new_identity(struct crypto_rng *rng, const char *identity,
                         const char *role, int64_t now, struct session *se,
                         char *cookie, size_t size)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	if (!session_text_ok(identity, SESSION_IDENTITY_MAX) ||
	    !session_text_ok(role, SESSION_ROLE_MAX))
		return -ERR_INVALID;
	memcpy(s.identity, identity, strlen(identity) + 1);
	memcpy(s.role, role, strlen(role) + 1);
	return session_make(rng, &s, now, se, cookie, size);
}

int session_new(struct crypto_rng *rng, const char *admin_hash, int64_t now,
                struct session *se, char *cookie, size_t size)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	if (strlen(admin_hash) != CRYPTO_HEX_LEN)
		return -ERR_INVALID;
	memcpy(s.admin_hash, admin_hash, CRYPTO_HEX_LEN + 1);
	return session_make(rng, &s, now, se, cookie, size);
}

int session_install(struct session_table *t, const char *cookie_header,
                    const struct session *se, int64_t now)
{
	struct store_session ss;
	struct session *old;
	int r;

	/* A session the browser already had is replaced, not kept. */
	while ((old = session_find(t, cookie_header, now)) != NULL)
		session_drop(t, old);
	/* Room for this one. */
	(void)session_prune(t, now, t->max - 1);
	memset(&ss, 0, sizeof(ss));
	memcpy(ss.id_hash, se->id_hash, sizeof(ss.id_hash));
	(void)snprintf(ss.csrf, sizeof(ss.csrf), "%s", se->csrf);
	memcpy(ss.admin_hash, se->admin_hash, sizeof(ss.admin_hash));
	memcpy(ss.identity, se->identity, sizeof(ss.identity));
	memcpy(ss.role, se->role, sizeof(ss.role));
	ss.created = se->created;
	ss.last_used = se->last_used;
	r = store_session_put(t->st, &ss, NULL);
	crypto_wipe(&ss, sizeof(ss));
	return r;
}

void session_touch(struct session_table *t, struct session *se, int64_t now)
{
	if (now - se->last_used < SESSION_TOUCH_STEP)
		return;
	if (store_session_touch(t->st, se->id_hash, now, NULL) == 0)
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
