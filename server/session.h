/* SPDX-License-Identifier: MIT */
/* The web console's sessions: who is signed in, by which cookie, with which
 * CSRF token, until when; and the limit on sign-in attempts. */
#ifndef MCPFLEET_SESSION_H
#define MCPFLEET_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "token.h"

/* server/API.md, "Console sessions". The __Host- prefix makes the browser
 * refuse the cookie unless it is Secure, for Path=/ and without Domain: no
 * other host (a sibling subdomain) and no plain-HTTP page can set or
 * shadow it. */
#define SESSION_COOKIE     "__Host-mcpfleet_session"
#define SESSION_TTL        (12 * 3600) /* seconds from sign-in */
#define SESSION_IDLE       (30 * 60)   /* seconds without a request */
#define SESSION_TOUCH_STEP 60  /* last_used is written at most this often */
#define SESSION_COOKIE_MAX 256 /* bytes of a Set-Cookie value */
/* The cookie's attributes: never readable by scripts, sent only over TLS,
 * never on a request that another site started. */
#define SESSION_COOKIE_ATTRS "; HttpOnly; Secure; SameSite=Strict; Path=/"
/* The Set-Cookie value that tells the browser to drop the cookie. */
#define SESSION_COOKIE_CLEAR                                                   \
	SESSION_COOKIE "=" SESSION_COOKIE_ATTRS "; Max-Age=0"

/* The longest identity and role name a session holds (store.h). */
#define SESSION_IDENTITY_MAX 240
#define SESSION_ROLE_MAX     32

/* One signed-in console. Only the SHA-256 of the cookie value is kept.
 * Opened by an admin token, it holds that token's hash, which is checked
 * again on every request, so revoking the token ends the session; opened
 * by an identity provider's sign-in (server/oidc.c), it holds instead the
 * person ("oidc:EMAIL") and the role name the configuration mapped them
 * to, and admin_hash is "". */
struct session {
	char id_hash[CRYPTO_HEX_LEN + 1]; /* "" when none */
	char csrf[TOKEN_LEN + 1];
	char admin_hash[CRYPTO_HEX_LEN + 1];
	int64_t created;
	int64_t last_used;
	char identity[SESSION_IDENTITY_MAX + 1]; /* "" for a token's */
	char role[SESSION_ROLE_MAX + 1];         /* "" for a token's */
};

/*
 * The sessions live in the store (store_session_*), so that they outlive
 * a restart and every replica on a shared store knows every one; at most
 * max at once. The table holds the store connection, the per-address
 * limit on sign-in attempts, and the session that session_find() found
 * last. Not thread-safe: it belongs to the one thread that answers the
 * API, whose store connection st is (the caller keeps st open).
 */
struct session_table;
struct store;

/* Returns 0 with *out (free with session_table_free()), -ERR_INVALID for
 * a NULL st or a max or login_rate of 0, -ERR_NOMEM. */
int session_table_new(struct store *st, size_t max, unsigned login_rate,
                      struct session_table **out);
/* Frees the table (the stored sessions stay). NULL-safe. */
void session_table_free(struct session_table *t);
/* Sessions alive at now (expired ones are removed). NULL-safe: 0. */
size_t session_table_count(struct session_table *t, int64_t now);

/* True when peer may try to sign in at now, and counts the attempt
 * (login_rate a minute per address, on this daemon). */
bool session_login_allow(struct session_table *t, const char *peer,
                         int64_t now);

/*
 * Makes a session for the admin token whose hash is admin_hash, opened at
 * now: fills *se and writes the Set-Cookie value that carries its id
 * into cookie (size bytes). The session is not stored until
 * session_install(). Returns 0, -ERR_CRYPTO (rng NULL or failing), or
 * -ERR_TRUNC when the cookie does not fit; the caller wipes *se and
 * cookie when done.
 */
int session_new(struct crypto_rng *rng, const char *admin_hash, int64_t now,
                struct session *se, char *cookie, size_t size);
/* As session_new(), for a person an identity provider signed in: identity
 * (1..SESSION_IDENTITY_MAX printable bytes) and role (1..SESSION_ROLE_MAX)
 * instead of an admin token; -ERR_INVALID for either out of bounds. */
int session_new_identity(struct crypto_rng *rng, const char *identity,
                         const char *role, int64_t now, struct session *se,
                         char *cookie, size_t size);
/* Stores se, signing out the sessions that the Cookie header (NULL: none)
 * already names, the expired ones, and the least recently used ones while
 * more than max would remain. Returns 0 or the store's error. */
int session_install(struct session_table *t, const char *cookie_header,
                    const struct session *se, int64_t now);

/* The live session that a Cookie header (NULL: none) names, or NULL (an
 * expired one is removed). A browser may send SESSION_COOKIE more than
 * once (cookies of other paths); each is tried. The session stays owned by
 * t, valid until the next session_find() on it. */
struct session *session_find(struct session_table *t, const char *cookie_header,
                             int64_t now);
/* Why the last session_find() found nothing when the store failed (a
 * negative code), or 0 when no session matched: a store that is away is
 * not a reason to sign a console out. */
int session_find_error(const struct session_table *t);
/* Does the Cookie header (NULL: none) carry SESSION_COOKIE at all? */
bool session_has_cookie(const char *cookie_header);
/* Records a request at now, which keeps the session alive (stored when
 * SESSION_TOUCH_STEP has passed since the last one stored). */
void session_touch(struct session_table *t, struct session *se, int64_t now);
/* Signs a session out: removes it from the store and wipes se. */
void session_drop(struct session_table *t, struct session *se);
/* When the session ends however busy it is: SESSION_TTL after sign-in. */
int64_t session_expires(const struct session *se);

/* Is given (NULL: none) the session's CSRF token? Constant time. */
bool session_csrf_ok(const struct session *se, const char *given);
/* Is the Origin header (NULL or "": absent) this server, "https://" and
 * the Host header? Absent is fine; "null" never matches. */
bool session_origin_ok(const char *origin, const char *host);

#endif
