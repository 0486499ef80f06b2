/* SPDX-License-Identifier: MIT */
/* The store's front: validates input, keeps every call atomic, chains the
 * audit log, and dispatches to the backend chosen at open time. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "catalogue.h"
#include "crypto.h"
#include "jsonutil.h"
#include "rate.h"
#include "replicas.h"

_Static_assert(STORE_SEALED_MAX == CRYPTO_SEAL_MAX + CRYPTO_SEAL_OVERHEAD,
               "STORE_SEALED_MAX must follow crypto.h");
_Static_assert(STORE_HASH_HEX == CRYPTO_HEX_LEN, "a hash is a SHA-256");
_Static_assert(STORE_SIG_HEX_MAX == 2 * CRYPTO_SIG_MAX, "signature in hex");

#define STORE_USES_MAX    1000000
#define STORE_VERIFY_PAGE 1000

static const struct store_backend *const store_backends[] = {
    &store_backend_sqlite,
    &store_backend_pg,
};

static const char store_zero_hash[STORE_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct store {
	const struct store_backend *be;
	void *h;       /* the backend's connection */
	bool in_tx;    /* a store_begin() transaction is open */
	int64_t fixed; /* store_set_now(); 0: the system clock */
	/* store_audit_key(): rows from keyed_from on are HMACs under it. */
	bool keyed;
	int64_t keyed_from;
	uint8_t audit_key[STORE_AUDIT_KEY_LEN];
	/* The secret record that store_secret_next() reserved in this
	 * transaction and store_secret_put() may fill. */
	struct {
		bool set;
		int64_t id;
		int64_t scope_id;
		int64_t version;
		enum store_scope scope;
		char name[STORE_NAME_MAX + 1];
	} pending;
};

/* ---- Validation ---- */

static bool store_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is not one. */
static size_t store_utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n, i;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Free text (email, hostname, reasons, audit fields): at most max bytes,
 * at least one unless empty_ok, valid UTF-8 without control characters, so
 * that every value can be printed and put in JSON as it is.
 */
static int store_check_text(const char *what, const char *s, size_t max,
                            bool empty_ok, struct diag *d)
{
	const unsigned char *p;
	size_t n, len;

	if (s == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "%s is missing", what);
	len = strnlen(s, max + 1);
	if (len == 0 && !empty_ok)
		return diag_set(d, ERR_INVALID, 0, 0, "%s is empty", what);
	if (len > max)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s is longer than %zu bytes", what, max);
	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		if (*p < 0x20 || *p == 0x7f)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s: control character 0x%02x is not "
			                "allowed",
			                what, *p);
		if ((n = store_utf8_len(p)) == 0)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s is not valid UTF-8", what);
	}
	return 0;
}

/* User and team names: [A-Za-z0-9][A-Za-z0-9._@-]{0,127}. The first
 * character rules out "." and "..": names go into API paths, where a dot
 * segment would name another resource. */
static int store_check_name(const char *what, const char *s, struct diag *d)
{
	size_t i, len;

	if (s == NULL || *s == '\0')
		return diag_set(d, ERR_INVALID, 0, 0, "%s is empty", what);
	len = strnlen(s, STORE_NAME_MAX + 1);
	if (len > STORE_NAME_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s '%.32s...' is longer than %d characters",
		                what, jsonutil_printable(s), STORE_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!store_is_alnum(c) &&
		    (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "%s '%s': only letters, digits and "
			                ". _ @ - are allowed, starting with a "
			                "letter or digit",
			                what, jsonutil_printable(s));
	}
	return 0;
}

/* Secret names, as ${secret:NAME} spells them: [A-Za-z_][A-Za-z0-9_]*, up
 * to 128 characters. */
static int store_check_secret_name(const char *s, struct diag *d)
{
	size_t i, len;

	if (s == NULL || *s == '\0')
		return diag_set(d, ERR_INVALID, 0, 0, "secret name is empty");
	len = strnlen(s, STORE_NAME_MAX + 1);
	if (len > STORE_NAME_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "secret name '%.32s...' is longer than %d "
		                "characters",
		                jsonutil_printable(s), STORE_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(store_is_alnum(c) || c == '_') ||
		    (i == 0 && c >= '0' && c <= '9'))
			return diag_set(d, ERR_INVALID, 0, 0,
			                "secret name '%s' is not valid "
			                "([A-Za-z_][A-Za-z0-9_]*)",
			                jsonutil_printable(s));
	}
	return 0;
}

/* Device ids: [A-Za-z0-9][A-Za-z0-9._-]{0,127}. */
static int store_check_device_id(const char *s, struct diag *d)
{
	size_t i, len;

	if (s == NULL || *s == '\0')
		return diag_set(d, ERR_INVALID, 0, 0, "device id is empty");
	len = strnlen(s, STORE_NAME_MAX + 1);
	if (len > STORE_NAME_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "device id is longer than %d characters",
		                STORE_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!store_is_alnum(c) &&
		    (i == 0 || (c != '.' && c != '_' && c != '-')))
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "device id '%s': only letters, digits "
			    "and . _ - are allowed, starting with a "
			    "letter or digit",
			    jsonutil_printable(s));
	}
	return 0;
}

/* Lowercase hex of min..max digits. */
static int store_check_hex(const char *what, const char *s, size_t min,
                           size_t max, struct diag *d)
{
	size_t i, len;

	if (s == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "%s is missing", what);
	len = strnlen(s, max + 1);
	if (len < min || len > max)
		return diag_set(d, ERR_INVALID, 0, 0,
		                min == max ? "%s must be %zu hex digits"
		                           : "%s must be %zu to %zu hex digits",
		                what, min, max);
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "%s: '%c' is not a lowercase hex digit", what,
			    s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
	return 0;
}

enum store_json_kind {
	STORE_JSON_OBJECT,
	STORE_JSON_STRINGS, /* an array of strings */
};

/* A JSON document of at most max bytes, without duplicate keys, of kind. */
static int store_check_json(const char *what, const char *s, size_t max,
                            enum store_json_kind kind, struct diag *d)
{
	json_error_t jerr;
	json_t *j = NULL, *v;
	size_t len, i;
	int r = 0;

	if (s == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "%s is missing", what);
	if ((len = strnlen(s, max + 1)) > max)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "%s is longer than %zu bytes", what, max);
	j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL) {
		r = diag_set(d, ERR_INVALID, (unsigned)jerr.line,
		             (unsigned)jerr.column, "%s: %d:%d: %s", what,
		             jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (kind == STORE_JSON_OBJECT && !json_is_object(j)) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s must be a JSON object",
		             what);
		goto out;
	}
	if (kind == STORE_JSON_STRINGS) {
		if (!json_is_array(j)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s must be a JSON array of strings",
			             what);
			goto out;
		}
		json_array_foreach(j, i, v)
		{
			if (!json_is_string(v)) {
				r = diag_set(d, ERR_INVALID, 0, 0,
				             "%s[%zu] is not a string", what,
				             i);
				goto out;
			}
		}
	}
out:
	json_decref(j);
	return r;
}

static int store_check_id(const char *what, int64_t id, struct diag *d)
{
	if (id <= 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s %" PRId64 " is not valid", what, id);
	return 0;
}

static int store_check_scope(enum store_scope scope, int64_t scope_id,
                             struct diag *d)
{
	switch (scope) {
	case STORE_SCOPE_ORG:
		if (scope_id != 0)
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "an org-scoped secret takes scope id 0");
		return 0;
	case STORE_SCOPE_TEAM:
		return store_check_id("team id", scope_id, d);
	case STORE_SCOPE_USER:
		return store_check_id("user id", scope_id, d);
	}
	return diag_set(d, ERR_INVALID, 0, 0, "unknown secret scope %d",
	                (int)scope);
}

static int store_check_target(enum store_target kind, int64_t target_id,
                              struct diag *d)
{
	switch (kind) {
	case STORE_TARGET_EVERYONE:
		if (target_id != 0)
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "a grant to everyone takes target id 0");
		return 0;
	case STORE_TARGET_TEAM:
		return store_check_id("team id", target_id, d);
	case STORE_TARGET_USER:
		return store_check_id("user id", target_id, d);
	}
	return diag_set(d, ERR_INVALID, 0, 0, "unknown grant target %d",
	                (int)kind);
}

/* ---- Open, close, clock ---- */

int store_open_with(const char *backend_name, const char *path,
                    const struct store_open_opts *opts, struct store **out,
                    struct diag *d)
{
	static const struct store_open_opts none = {NULL, 0};
	const struct store_backend *be = NULL;
	struct store *st = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (backend_name != NULL &&
		    strcmp(store_backends[i]->name, backend_name) == 0)
			be = store_backends[i];
	if (be == NULL)
		return diag_set(
		    d, ERR_NOENT, 0, 0, "no store backend named '%s'",
		    backend_name ? jsonutil_printable(backend_name) : "(null)");
	/* libpq's empty connection string takes everything from PG*. */
	if (path == NULL || (*path == '\0' && be != &store_backend_pg))
		return diag_set(d, ERR_INVALID, 0, 0, "store path is empty");
	if (opts == NULL)
		opts = &none;
	if (opts->nextra > 0 && opts->extra_migrations == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "extra migrations missing");
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	st->be = be;
	if ((r = be->open(path, opts, &st->h, d)) != 0)
		goto out;
	*out = st;
	st = NULL;
out:
	free(st);
	return r;
}

int store_open(const char *backend_name, const char *path, struct store **out,
               struct diag *d)
{
	return store_open_with(backend_name, path, NULL, out, d);
}

int store_location(const char *spec, const char *sqlite_path,
                   const char **backend, char **path, struct diag *d)
{
	const struct store_backend *be = &store_backend_sqlite;
	const char *p = sqlite_path;
	char *copy;
	int r;

	if (spec == NULL || *spec == '\0' || strcmp(spec, "sqlite") == 0) {
		if (sqlite_path == NULL || *sqlite_path == '\0')
			return diag_set(d, ERR_INVALID, 0, 0,
			                "store path is empty");
	} else if (strncmp(spec, "postgres://", 11) == 0 ||
	           strncmp(spec, "postgresql://", 13) == 0) {
		be = &store_backend_pg;
		p = spec;
	} else if (strncmp(spec, "postgres:", 9) == 0) {
		be = &store_backend_pg;
		p = spec + 9;
	} else {
		/* Not repeated: a mistyped URI may hold a password. */
		return diag_set(d, ERR_INVALID, 0, 0,
		                "store: the location is neither sqlite, "
		                "postgres://... nor postgres:KEYWORD=VALUE...");
	}
	if (be->location_check != NULL && (r = be->location_check(p, d)) != 0)
		return r;
	if ((copy = strdup(p)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	*backend = be->name;
	*path = copy;
	return 0;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->in_tx)
		(void)st->be->tx(st->h, STORE_TX_ROLLBACK, NULL);
	st->be->close(st->h);
	crypto_wipe(st->audit_key, sizeof(st->audit_key));
	free(st);
}

int store_schema_version(struct store *st, int64_t *version, struct diag *d)
{
	return st->be->schema_version_get(st->h, version, d);
}

int64_t store_schema_latest(const char *backend_name)
{
	size_t i;

	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (backend_name != NULL &&
		    strcmp(store_backends[i]->name, backend_name) == 0)
			return store_backends[i]->schema_version;
	return 0;
}

void store_set_now(struct store *st, int64_t now)
{
	st->fixed = now;
}

int64_t store_now(const struct store *st)
{
	return st->fixed != 0 ? st->fixed : (int64_t)time(NULL);
}

/* ---- Transactions ---- */

int store_begin(struct store *st, struct diag *d)
{
	int r;

	if (st->in_tx)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "a store transaction is already open");
	if ((r = st->be->tx(st->h, STORE_TX_BEGIN_WRITE, d)) != 0)
		return r;
	st->in_tx = true;
	st->pending.set = false;
	return 0;
}

int store_commit(struct store *st, struct diag *d)
{
	int r;

	if (!st->in_tx)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "no store transaction is open");
	st->in_tx = false;
	st->pending.set = false;
	if ((r = st->be->tx(st->h, STORE_TX_COMMIT, d)) != 0)
		(void)st->be->tx(st->h, STORE_TX_ROLLBACK, NULL);
	return r;
}

int store_rollback(struct store *st, struct diag *d)
{
	if (!st->in_tx)
		return 0;
	st->in_tx = false;
	st->pending.set = false;
	return st->be->tx(st->h, STORE_TX_ROLLBACK, d);
}

uint64_t store_errors(const struct store *st)
{
	return st->be->errors(st->h);
}

bool store_in_transaction(const struct store *st)
{
	return st->in_tx;
}

/*
 * Every mutation runs between store_op_begin() and store_op_end(): a
 * savepoint inside the caller's transaction, a transaction of its own
 * otherwise. So a backend may run several statements, and a failure half-way
 * leaves nothing behind while the caller's earlier work stays.
 */
static int store_op_begin(struct store *st, struct diag *d)
{
	return st->be->tx(
	    st->h, st->in_tx ? STORE_TX_SAVEPOINT : STORE_TX_BEGIN_WRITE, d);
}

static int store_op_end(struct store *st, int r, struct diag *d)
{
	if (r == 0) {
		r = st->be->tx(
		    st->h, st->in_tx ? STORE_TX_RELEASE : STORE_TX_COMMIT, d);
		if (r == 0)
			return 0;
	}
	/* The first error's message is the one that matters. */
	(void)st->be->tx(
	    st->h, st->in_tx ? STORE_TX_ROLLBACK_TO : STORE_TX_ROLLBACK, NULL);
	return r;
}

/* The notification of a change, inside the mutation's own transaction or
 * savepoint (a no-op for a store that is not shared). */
static int store_notify_op(struct store *st, const char *payload,
                           struct diag *d)
{
	if (st->be->notify == NULL)
		return 0;
	return st->be->notify(st->h, payload, d);
}

/* Reads that take more than one statement see one snapshot. */
static int store_read_begin(struct store *st, struct diag *d)
{
	if (st->in_tx)
		return 0;
	return st->be->tx(st->h, STORE_TX_BEGIN_READ, d);
}

static int store_read_end(struct store *st, int r, struct diag *d)
{
	int r2;

	if (st->in_tx)
		return r;
	r2 = st->be->tx(st->h, r == 0 ? STORE_TX_COMMIT : STORE_TX_ROLLBACK,
	                r == 0 ? d : NULL);
	return r != 0 ? r : r2;
}

/* ---- Users ---- */

int store_user_add(struct store *st, const char *name, const char *email,
                   int64_t *id, struct diag *d)
{
	int64_t nid = 0;
	int r;

	if ((r = store_check_name("user name", name, d)) != 0)
		return r;
	if (email != NULL &&
	    (r = store_check_text("email", email, STORE_TEXT_MAX, true, d)) !=
	        0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->user_add(st->h, name, email, store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_user_get(struct store *st, const char *name, struct store_user *out,
                   struct diag *d)
{
	int r;

	if ((r = store_check_name("user name", name, d)) != 0)
		return r;
	return st->be->user_get(st->h, name, 0, out, d);
}

int store_user_get_nocase(struct store *st, const char *name,
                          struct store_user *out, struct diag *d)
{
	int r;

	if ((r = store_check_name("user name", name, d)) != 0)
		return r;
	return st->be->user_get_nocase(st->h, name, out, d);
}

int store_user_get_id(struct store *st, int64_t id, struct store_user *out,
                      struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", id, d)) != 0)
		return r;
	return st->be->user_get(st->h, NULL, id, out, d);
}

int store_user_list(struct store *st, struct store_user_list *out,
                    struct diag *d)
{
	return st->be->user_list(st->h, out, d);
}

int store_user_remove(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->user_remove(st->h, id, d);
	return store_op_end(st, r, d);
}

int store_user_set_disabled(struct store *st, int64_t id, bool disabled,
                            struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->user_set_disabled(st->h, id, disabled, d);
	return store_op_end(st, r, d);
}

int store_user_set_email(struct store *st, int64_t id, const char *email,
                         struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", id, d)) != 0 ||
	    (email != NULL &&
	     (r = store_check_text("email", email, STORE_TEXT_MAX, true, d)) !=
	         0))
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->user_set_email(st->h, id, email, d);
	return store_op_end(st, r, d);
}

/* ---- Offboarding reports ---- */

int store_offboarding_add(struct store *st, int64_t user_id, const char *actor,
                          const char *report_json, int64_t *id, struct diag *d)
{
	int64_t nid = 0;
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0 ||
	    (r = store_check_text("offboarding actor", actor, STORE_TEXT_MAX,
	                          false, d)) != 0 ||
	    (r = store_check_json("offboarding report", report_json,
	                          STORE_JSON_MAX, STORE_JSON_OBJECT, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->offboarding_add(st->h, user_id, actor, report_json,
	                            store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_offboarding_last(struct store *st, int64_t user_id,
                           struct store_offboarding *out, struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0)
		return r;
	return st->be->offboarding_last(st->h, user_id, out, d);
}

void store_offboarding_clear(struct store_offboarding *o)
{
	if (o == NULL)
		return;
	free(o->actor);
	free(o->report_json);
	memset(o, 0, sizeof(*o));
}

/* ---- SCIM resources ---- */

static int store_check_scim_kind(enum store_scim_kind kind, struct diag *d)
{
	if (kind != STORE_SCIM_USER && kind != STORE_SCIM_GROUP)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "SCIM resource kind %d is not valid",
		                (int)kind);
	return 0;
}

int store_scim_get(struct store *st, enum store_scim_kind kind, int64_t id,
                   struct store_scim *out, struct diag *d)
{
	int r;

	if ((r = store_check_scim_kind(kind, d)) != 0 ||
	    (r = store_check_id("SCIM resource id", id, d)) != 0)
		return r;
	return st->be->scim_get(st->h, kind, id, out, d);
}

int store_scim_find(struct store *st, enum store_scim_kind kind,
                    const char *external_id, int64_t *id, struct diag *d)
{
	int r;

	if ((r = store_check_scim_kind(kind, d)) != 0 ||
	    (r = store_check_text("externalId", external_id, STORE_TEXT_MAX,
	                          false, d)) != 0)
		return r;
	return st->be->scim_find(st->h, kind, external_id, id, d);
}

int store_scim_put(struct store *st, enum store_scim_kind kind, int64_t id,
                   const char *external_id, const char *attrs_json,
                   bool deleted, struct diag *d)
{
	int r;

	if ((r = store_check_scim_kind(kind, d)) != 0 ||
	    (r = store_check_id("SCIM resource id", id, d)) != 0 ||
	    (external_id != NULL &&
	     (r = store_check_text("externalId", external_id, STORE_TEXT_MAX,
	                           false, d)) != 0) ||
	    (r = store_check_json("SCIM attributes", attrs_json,
	                          STORE_DETAILS_MAX, STORE_JSON_OBJECT, d)) !=
	        0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	/* An externalId names one resource: a clear refusal, before the
	 * unique index would give a bare one. */
	if (external_id != NULL) {
		int64_t other = 0;

		r = st->be->scim_find(st->h, kind, external_id, &other, d);
		if (r == 0 && other != id)
			r = diag_set(
			    d, ERR_EXISTS, 0, 0,
			    "externalId '%s' already names %s %" PRId64,
			    jsonutil_printable(external_id),
			    kind == STORE_SCIM_USER ? "user" : "team", other);
		else if (r == 0 || r == -ERR_NOENT) {
			diag_clear(d);
			r = 0;
		}
	}
	if (r == 0)
		r = st->be->scim_put(st->h, kind, id, external_id, attrs_json,
		                     deleted, store_now(st), d);
	return store_op_end(st, r, d);
}

void store_scim_clear(struct store_scim *v)
{
	if (v == NULL)
		return;
	free(v->external_id);
	free(v->attrs_json);
	memset(v, 0, sizeof(*v));
}

void store_user_clear(struct store_user *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->email);
	memset(u, 0, sizeof(*u));
}

void store_user_list_free(struct store_user_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_user_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Teams and memberships ---- */

static int store_check_team_name(const char *name, struct diag *d)
{
	int r;

	if ((r = store_check_name("team name", name, d)) != 0)
		return r;
	if (strcmp(name, STORE_TEAM_EVERYONE) == 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "team name 'everyone' is reserved: every user "
		                "is in it already (grant to everyone instead)");
	return 0;
}

int store_team_add(struct store *st, const char *name, int64_t *id,
                   struct diag *d)
{
	int64_t nid = 0;
	int r;

	if ((r = store_check_team_name(name, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->team_add(st->h, name, store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_team_get(struct store *st, const char *name, struct store_team *out,
                   struct diag *d)
{
	int r;

	if ((r = store_check_name("team name", name, d)) != 0)
		return r;
	return st->be->team_get(st->h, name, 0, out, d);
}

int store_team_get_id(struct store *st, int64_t id, struct store_team *out,
                      struct diag *d)
{
	int r;

	if ((r = store_check_id("team id", id, d)) != 0)
		return r;
	return st->be->team_get(st->h, NULL, id, out, d);
}

int store_team_list(struct store *st, struct store_team_list *out,
                    struct diag *d)
{
	return st->be->team_list(st->h, out, d);
}

int store_team_remove(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("team id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->team_remove(st->h, id, d);
	return store_op_end(st, r, d);
}

void store_team_clear(struct store_team *t)
{
	if (t == NULL)
		return;
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void store_team_list_free(struct store_team_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_team_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int store_member_add(struct store *st, int64_t team_id, int64_t user_id,
                     struct diag *d)
{
	int r;

	if ((r = store_check_id("team id", team_id, d)) != 0 ||
	    (r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->member_add(st->h, team_id, user_id, store_now(st), d);
	return store_op_end(st, r, d);
}

int store_member_remove(struct store *st, int64_t team_id, int64_t user_id,
                        struct diag *d)
{
	int r;

	if ((r = store_check_id("team id", team_id, d)) != 0 ||
	    (r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->member_remove(st->h, team_id, user_id, d);
	return store_op_end(st, r, d);
}

int store_member_teams(struct store *st, int64_t user_id,
                       struct store_team_list *out, struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->member_teams(st->h, user_id, out, d);
	return store_read_end(st, r, d);
}

int store_member_users(struct store *st, int64_t team_id,
                       struct store_user_list *out, struct diag *d)
{
	int r;

	if ((r = store_check_id("team id", team_id, d)) != 0)
		return r;
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->member_users(st->h, team_id, out, d);
	return store_read_end(st, r, d);
}

int store_member_all(struct store *st, struct store_member_list *out,
                     struct diag *d)
{
	return st->be->member_all(st->h, out, d);
}

void store_member_list_free(struct store_member_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Servers ---- */

int store_server_add(struct store *st, const char *name, const char *entry_json,
                     int64_t *id, struct diag *d)
{
	int64_t nid = 0;
	int r;

	if (name == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "server name is missing");
	if ((r = server_name_check(name, d)) != 0 ||
	    (r = store_check_json("server entry", entry_json, STORE_JSON_MAX,
	                          STORE_JSON_OBJECT, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->server_add(st->h, name, entry_json, store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_server_get(struct store *st, const char *name,
                     struct store_server *out, struct diag *d)
{
	int r;

	if (name == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "server name is missing");
	if ((r = server_name_check(name, d)) != 0)
		return r;
	return st->be->server_get(st->h, name, 0, out, d);
}

int store_server_get_id(struct store *st, int64_t id, struct store_server *out,
                        struct diag *d)
{
	int r;

	if ((r = store_check_id("server id", id, d)) != 0)
		return r;
	return st->be->server_get(st->h, NULL, id, out, d);
}

int store_server_list(struct store *st, struct store_server_list *out,
                      struct diag *d)
{
	return st->be->server_list(st->h, out, d);
}

int store_server_set(struct store *st, int64_t id, const char *entry_json,
                     struct diag *d)
{
	int r;

	if ((r = store_check_id("server id", id, d)) != 0 ||
	    (r = store_check_json("server entry", entry_json, STORE_JSON_MAX,
	                          STORE_JSON_OBJECT, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->server_set(st->h, id, entry_json, store_now(st), d);
	return store_op_end(st, r, d);
}

int store_server_remove(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("server id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->server_remove(st->h, id, d);
	return store_op_end(st, r, d);
}

void store_server_clear(struct store_server *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->entry_json);
	memset(s, 0, sizeof(*s));
}

void store_server_list_free(struct store_server_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_server_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Grants ---- */

/*
 * A grant's limits, checked, with the rates in their canonical spelling
 * (into rate_buf, and a new string in *tool_rates_json the caller frees).
 */
static int store_grant_limits_canon(const struct store_grant_limits *in,
                                    struct store_grant_limits *out,
                                    char rate_buf[RATE_TEXT_MAX],
                                    char **tool_rates_json, struct diag *d)
{
	struct tool_rate_list tl = {0};
	struct rate rt;
	json_error_t jerr;
	json_t *j;
	int r;

	*out = *in;
	if (in->tools_allow != NULL &&
	    (r = store_check_json("tools allow list", in->tools_allow,
	                          STORE_DETAILS_MAX, STORE_JSON_STRINGS, d)) !=
	        0)
		return r;
	if (in->tools_deny != NULL &&
	    (r = store_check_json("tools deny list", in->tools_deny,
	                          STORE_DETAILS_MAX, STORE_JSON_STRINGS, d)) !=
	        0)
		return r;
	if (in->rate != NULL) {
		if ((r = rate_parse("grant rate", in->rate, &rt, d)) != 0)
			return r;
		out->rate = rate_format(&rt, rate_buf);
	}
	if (in->tool_rates == NULL)
		return 0;
	if ((r = store_check_json("grant tool rates", in->tool_rates,
	                          STORE_DETAILS_MAX, STORE_JSON_OBJECT, d)) !=
	    0)
		return r;
	if ((j = json_loads(in->tool_rates, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "grant tool rates: %s",
		                jerr.text);
	if ((r = tool_rates_from_json("grant tool rates", j, &tl, d)) == 0) {
		json_decref(j);
		if ((j = tool_rates_to_json(&tl)) == NULL ||
		    (*tool_rates_json =
		         json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		else
			out->tool_rates = *tool_rates_json;
	}
	json_decref(j);
	tool_rate_list_clear(&tl);
	return r;
}

int store_grant_add(struct store *st, int64_t server_id, enum store_target kind,
                    int64_t target_id, const struct store_grant_limits *lim,
                    int64_t *id, struct diag *d)
{
	static const struct store_grant_limits none = {0};
	struct store_grant_limits canon;
	char rate_buf[RATE_TEXT_MAX];
	char *tool_rates = NULL;
	int64_t nid = 0;
	int r;

	if ((r = store_check_id("server id", server_id, d)) != 0 ||
	    (r = store_check_target(kind, target_id, d)) != 0 ||
	    (r = store_grant_limits_canon(lim != NULL ? lim : &none, &canon,
	                                  rate_buf, &tool_rates, d)) != 0)
		goto out;
	if ((r = store_op_begin(st, d)) != 0)
		goto out;
	r = st->be->grant_add(st->h, server_id, kind, target_id, &canon,
	                      store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
out:
	free(tool_rates);
	return r;
}

int store_grant_list(struct store *st, int64_t server_id,
                     struct store_grant_list *out, struct diag *d)
{
	if (server_id < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "server id %" PRId64 " is not valid",
		                server_id);
	return st->be->grant_list(st->h, server_id, out, d);
}

int store_grant_remove(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("grant id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->grant_remove(st->h, id, d);
	return store_op_end(st, r, d);
}

void store_grant_clear(struct store_grant *g)
{
	if (g == NULL)
		return;
	free(g->server_name);
	free(g->target_name);
	free(g->tools_allow);
	free(g->tools_deny);
	free(g->rate);
	free(g->tool_rates);
	memset(g, 0, sizeof(*g));
}

void store_grant_list_free(struct store_grant_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_grant_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const char *store_target_name(enum store_target kind)
{
	switch (kind) {
	case STORE_TARGET_EVERYONE:
		return "everyone";
	case STORE_TARGET_TEAM:
		return "team";
	case STORE_TARGET_USER:
		return "user";
	}
	return "?";
}

int store_target_parse(const char *s, enum store_target *out)
{
	if (s == NULL)
		return -ERR_INVALID;
	if (strcmp(s, "everyone") == 0)
		*out = STORE_TARGET_EVERYONE;
	else if (strcmp(s, "team") == 0)
		*out = STORE_TARGET_TEAM;
	else if (strcmp(s, "user") == 0)
		*out = STORE_TARGET_USER;
	else
		return -ERR_INVALID;
	return 0;
}

/* ---- Secrets ---- */

int store_secret_next(struct store *st, const char *name,
                      enum store_scope scope, int64_t scope_id, int64_t *id,
                      int64_t *version, struct diag *d)
{
	int64_t nid = 0, nversion = 0;
	int r;

	if ((r = store_check_secret_name(name, d)) != 0 ||
	    (r = store_check_scope(scope, scope_id, d)) != 0)
		return r;
	/* The id and version mean something only together with the sealed
	 * bytes that store_secret_put() adds in the same transaction. */
	if (!st->in_tx)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "store_secret_next() needs an open transaction "
		                "(store_begin())");
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->secret_next(st->h, name, scope, scope_id, &nid, &nversion,
	                        d);
	if ((r = store_op_end(st, r, d)) != 0)
		return r;
	st->pending.set = true;
	st->pending.id = nid;
	st->pending.scope = scope;
	st->pending.scope_id = scope_id;
	st->pending.version = nversion;
	/* Checked above: the name fits. */
	memcpy(st->pending.name, name, strlen(name) + 1);
	*id = nid;
	*version = nversion;
	return 0;
}

int store_secret_put(struct store *st, int64_t id, const uint8_t *sealed,
                     size_t len, struct diag *d)
{
	int r;

	if (!st->in_tx || !st->pending.set || st->pending.id != id)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "secret record %" PRId64 " was not reserved by "
		                "store_secret_next() in this transaction",
		                id);
	if (sealed == NULL || len < CRYPTO_SEAL_OVERHEAD)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "sealed value of secret '%s' is too short",
		                st->pending.name);
	if (len > STORE_SEALED_MAX)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "sealed value of secret '%s' is larger than "
		                "%u bytes",
		                st->pending.name, STORE_SEALED_MAX);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->secret_put(st->h, id, st->pending.name, st->pending.scope,
	                       st->pending.scope_id, st->pending.version,
	                       sealed, len, store_now(st), d);
	if ((r = store_op_end(st, r, d)) == 0)
		st->pending.set = false;
	return r;
}

int store_secret_aad(int64_t id, char out[STORE_AAD_MAX], size_t *len)
{
	int n;

	if (id <= 0)
		return -ERR_INVALID;
	n = snprintf(out, STORE_AAD_MAX, "mcpfleet-secret:%" PRId64, id);
	if (n < 0 || n >= STORE_AAD_MAX)
		return -ERR_TRUNC;
	*len = (size_t)n;
	return 0;
}

int store_secret_list(struct store *st, struct store_secret_list *out,
                      struct diag *d)
{
	return st->be->secret_list(st->h, out, d);
}

int store_secret_get(struct store *st, const char *name, enum store_scope scope,
                     int64_t scope_id, struct store_secret *out, struct diag *d)
{
	int r;

	if ((r = store_check_secret_name(name, d)) != 0 ||
	    (r = store_check_scope(scope, scope_id, d)) != 0)
		return r;
	return st->be->secret_get(st->h, name, scope, scope_id, out, d);
}

int store_secret_remove(struct store *st, const char *name,
                        enum store_scope scope, int64_t scope_id,
                        struct diag *d)
{
	int r;

	if ((r = store_check_secret_name(name, d)) != 0 ||
	    (r = store_check_scope(scope, scope_id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->secret_remove(st->h, name, scope, scope_id, d);
	return store_op_end(st, r, d);
}

int store_secret_latest_all(struct store *st, struct store_secret_list *out,
                            struct diag *d)
{
	return st->be->secret_latest_all(st->h, out, d);
}

void store_secret_clear(struct store_secret *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->scope_name);
	free(s->sealed);
	memset(s, 0, sizeof(*s));
}

void store_secret_list_free(struct store_secret_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_secret_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const char *store_scope_name(enum store_scope scope)
{
	switch (scope) {
	case STORE_SCOPE_ORG:
		return "org";
	case STORE_SCOPE_TEAM:
		return "team";
	case STORE_SCOPE_USER:
		return "user";
	}
	return "?";
}

int store_scope_parse(const char *s, enum store_scope *out)
{
	if (s == NULL)
		return -ERR_INVALID;
	if (strcmp(s, "org") == 0)
		*out = STORE_SCOPE_ORG;
	else if (strcmp(s, "team") == 0)
		*out = STORE_SCOPE_TEAM;
	else if (strcmp(s, "user") == 0)
		*out = STORE_SCOPE_USER;
	else
		return -ERR_INVALID;
	return 0;
}

/* ---- Enrollment tokens ---- */

int store_token_create(struct store *st, const char *token_hash,
                       int64_t user_id, int64_t expires_at, int64_t uses,
                       const char *created_by, int64_t *id, struct diag *d)
{
	int64_t nid = 0;
	int r;

	if ((r = store_check_hex("token hash", token_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0 ||
	    (r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if (uses < 1 || uses > STORE_USES_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "token uses must be 1 to %d", STORE_USES_MAX);
	if (expires_at <= store_now(st))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "token would expire before it is created");
	if (created_by != NULL &&
	    (r = store_check_text("token creator", created_by, STORE_TEXT_MAX,
	                          true, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->token_create(st->h, token_hash, user_id, expires_at, uses,
	                         created_by, store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_token_get_by_hash(struct store *st, const char *token_hash,
                            struct store_token *out, struct diag *d)
{
	int r;

	if ((r = store_check_hex("token hash", token_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	return st->be->token_get(st->h, token_hash, out, d);
}

int store_token_consume(struct store *st, const char *token_hash, int64_t now,
                        struct store_token *out, struct diag *d)
{
	struct store_token t = {0};
	int r;

	if ((r = store_check_hex("token hash", token_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->token_consume(st->h, token_hash, now, &t, d);
	if ((r = store_op_end(st, r, d)) != 0)
		goto out;
	if (out != NULL) {
		*out = t;
		memset(&t, 0, sizeof(t));
	}
out:
	store_token_clear(&t);
	return r;
}

int store_token_list(struct store *st, struct store_token_list *out,
                     struct diag *d)
{
	return st->be->token_list(st->h, out, d);
}

int store_token_revoke(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("token id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->token_revoke(st->h, id, d);
	return store_op_end(st, r, d);
}

int store_token_revoke_user(struct store *st, int64_t user_id, size_t *count,
                            struct diag *d)
{
	size_t n = 0;
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->token_revoke_user(st->h, user_id, &n, d);
	if ((r = store_op_end(st, r, d)) == 0 && count != NULL)
		*count = n;
	return r;
}

void store_token_clear(struct store_token *t)
{
	if (t == NULL)
		return;
	free(t->user_name);
	free(t->created_by);
	memset(t, 0, sizeof(*t));
}

void store_token_list_free(struct store_token_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_token_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Devices ---- */

/* A device certificate's serial, fingerprint and expiry (0: unknown). */
static int store_check_cert(const char *serial, const char *fingerprint,
                            int64_t not_after, struct diag *d)
{
	int r;

	if (not_after < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "certificate expiry is negative");
	if ((r = store_check_hex("certificate serial", serial, 1,
	                         STORE_SERIAL_MAX, d)) != 0)
		return r;
	return store_check_hex("certificate fingerprint", fingerprint,
	                       STORE_HASH_HEX, STORE_HASH_HEX, d);
}

int store_device_create(struct store *st, const char *id, int64_t user_id,
                        const char *hostname, const char *os,
                        const char *cert_serial, const char *cert_fingerprint,
                        int64_t cert_not_after, struct diag *d)
{
	int r;

	if ((r = store_check_cert(cert_serial, cert_fingerprint, cert_not_after,
	                          d)) != 0 ||
	    (r = store_check_device_id(id, d)) != 0 ||
	    (r = store_check_id("user id", user_id, d)) != 0 ||
	    (r = store_check_text("hostname", hostname, STORE_TEXT_MAX, false,
	                          d)) != 0 ||
	    (r = store_check_text("os", os, STORE_TEXT_MAX, false, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_create(st->h, id, user_id, hostname, os, cert_serial,
	                          cert_fingerprint, cert_not_after,
	                          store_now(st), d);
	if (r == 0) {
		char payload[STORE_NAME_MAX + 8];

		(void)snprintf(payload, sizeof(payload), "device %s", id);
		r = store_notify_op(st, payload, d);
	}
	return store_op_end(st, r, d);
}

int store_device_renew(struct store *st, const char *id,
                       const char *cert_serial, const char *cert_fingerprint,
                       int64_t cert_not_after, struct diag *d)
{
	int r;

	if ((r = store_check_cert(cert_serial, cert_fingerprint, cert_not_after,
	                          d)) != 0 ||
	    (r = store_check_device_id(id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_renew(st->h, id, cert_serial, cert_fingerprint,
	                         cert_not_after, store_now(st), d);
	/* Other replicas read their directories again: the new serial. */
	if (r == 0)
		r = store_notify_op(st, "devices", d);
	return store_op_end(st, r, d);
}

int store_device_certs(struct store *st, struct store_device_cert_list *out,
                       struct diag *d)
{
	return st->be->device_certs(st->h, out, d);
}

void store_device_cert_list_free(struct store_device_cert_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].serial);
		free(l->v[i].device_id);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int store_device_get(struct store *st, const char *id, struct store_device *out,
                     struct diag *d)
{
	int r;

	if ((r = store_check_device_id(id, d)) != 0)
		return r;
	return st->be->device_get(st->h, id, NULL, out, d);
}

int store_device_get_by_serial(struct store *st, const char *cert_serial,
                               struct store_device *out, struct diag *d)
{
	int r;

	if ((r = store_check_hex("certificate serial", cert_serial, 1,
	                         STORE_SERIAL_MAX, d)) != 0)
		return r;
	return st->be->device_get(st->h, NULL, cert_serial, out, d);
}

int store_device_list(struct store *st, int64_t user_id,
                      struct store_device_list *out, struct diag *d)
{
	if (user_id < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "user id %" PRId64 " is not valid", user_id);
	return st->be->device_list(st->h, user_id, out, d);
}

/* The checks of one device's sync report. */
static int store_check_touch(const struct store_touch *t, struct diag *d)
{
	int r;

	if ((r = store_check_device_id(t->id, d)) != 0)
		return r;
	if (t->last_seen < 0 || t->applied_revision < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "device %s: negative time or revision", t->id);
	if (t->report_json != NULL &&
	    (r = store_check_json("device report", t->report_json,
	                          STORE_JSON_MAX, STORE_JSON_OBJECT, d)) != 0)
		return r;
	return 0;
}

int store_device_touch_many(struct store *st, const struct store_touch *v,
                            size_t n, struct diag *d)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = store_check_touch(&v[i], d)) != 0)
			return r;
	if (n == 0)
		return 0;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_touch_many(st->h, v, n, d);
	return store_op_end(st, r, d);
}

int store_device_touch(struct store *st, const char *id, int64_t last_seen,
                       int64_t applied_revision, const char *report_json,
                       struct diag *d)
{
	const struct store_touch t = {id, last_seen, applied_revision,
	                              report_json};
	int r;

	if ((r = store_check_touch(&t, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_touch(st->h, id, last_seen, applied_revision,
	                         report_json, d);
	return store_op_end(st, r, d);
}

int store_device_calls_dropped(struct store *st, const char *id,
                               int64_t dropped, struct diag *d)
{
	int r;

	if ((r = store_check_device_id(id, d)) != 0)
		return r;
	if (dropped < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "device %s: a negative count of dropped calls",
		                id);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_calls_dropped(st->h, id, dropped, d);
	return store_op_end(st, r, d);
}

int store_device_revoke(struct store *st, const char *id, const char *reason,
                        struct diag *d)
{
	int r;

	if ((r = store_check_device_id(id, d)) != 0)
		return r;
	if (reason != NULL &&
	    (r = store_check_text("revocation reason", reason, STORE_TEXT_MAX,
	                          true, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_revoke(st->h, id, reason, store_now(st), d);
	if (r == 0)
		r = store_notify_op(st, "devices", d);
	return store_op_end(st, r, d);
}

int store_device_revoke_user(struct store *st, int64_t user_id,
                             const char *reason, struct store_id_list *ids,
                             struct diag *d)
{
	struct store_id_list l = {NULL, 0};
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if (reason != NULL &&
	    (r = store_check_text("revocation reason", reason, STORE_TEXT_MAX,
	                          true, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->device_revoke_user(st->h, user_id, reason, store_now(st),
	                               &l, d);
	if (r == 0)
		r = store_notify_op(st, "devices", d);
	if ((r = store_op_end(st, r, d)) != 0)
		goto out;
	if (ids != NULL) {
		*ids = l;
		l.v = NULL;
		l.n = 0;
	}
out:
	store_id_list_free(&l);
	return r;
}

void store_device_clear(struct store_device *dev)
{
	if (dev == NULL)
		return;
	free(dev->id);
	free(dev->user_name);
	free(dev->hostname);
	free(dev->os);
	free(dev->cert_serial);
	free(dev->cert_fingerprint);
	free(dev->report_json);
	free(dev->revoke_reason);
	memset(dev, 0, sizeof(*dev));
}

void store_device_list_free(struct store_device_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_device_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void store_id_list_free(struct store_id_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Deliveries ---- */

int store_delivery_record(struct store *st, const char *device_id,
                          int64_t secret_id, int64_t revision, struct diag *d)
{
	int r;

	if ((r = store_check_device_id(device_id, d)) != 0 ||
	    (r = store_check_id("secret id", secret_id, d)) != 0)
		return r;
	if (revision < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "revision %" PRId64 " is not valid", revision);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->delivery_record(st->h, device_id, secret_id, revision,
	                            store_now(st), d);
	return store_op_end(st, r, d);
}

int store_delivery_list_user(struct store *st, int64_t user_id,
                             struct store_delivery_list *out, struct diag *d)
{
	int r;

	if ((r = store_check_id("user id", user_id, d)) != 0)
		return r;
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->delivery_list_user(st->h, user_id, out, d);
	return store_read_end(st, r, d);
}

void store_delivery_list_free(struct store_delivery_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].device_id);
		free(l->v[i].secret_name);
		free(l->v[i].scope_name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Admin tokens ---- */

int store_admin_token_add(struct store *st, const char *name, enum role role,
                          const char *token_hash, int64_t *id, struct diag *d)
{
	int64_t nid = 0;
	int r;

	if ((unsigned)role >= ROLE_COUNT_)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "admin token role %u is not a role",
		                (unsigned)role);
	if ((r = store_check_text("admin token name", name, STORE_NAME_MAX,
	                          false, d)) != 0 ||
	    (r = store_check_hex("token hash", token_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->admin_token_add(st->h, name, role_name(role), token_hash,
	                            store_now(st), &nid, d);
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = nid;
	return r;
}

int store_admin_token_get_by_hash(struct store *st, const char *token_hash,
                                  struct store_admin_token *out, struct diag *d)
{
	int r;

	if ((r = store_check_hex("token hash", token_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	return st->be->admin_token_get(st->h, token_hash, out, d);
}

int store_admin_token_list(struct store *st, struct store_admin_token_list *out,
                           struct diag *d)
{
	return st->be->admin_token_list(st->h, out, d);
}

int store_admin_token_revoke(struct store *st, int64_t id, struct diag *d)
{
	int r;

	if ((r = store_check_id("admin token id", id, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->admin_token_revoke(st->h, id, d);
	return store_op_end(st, r, d);
}

void store_admin_token_clear(struct store_admin_token *t)
{
	if (t == NULL)
		return;
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void store_admin_token_list_free(struct store_admin_token_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_admin_token_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Revisions ---- */

int store_revision_bump(struct store *st, int64_t *next, struct diag *d)
{
	int64_t n = 0;
	int r;

	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->revision_bump(st->h, &n, d);
	if ((r = store_op_end(st, r, d)) == 0)
		*next = n;
	return r;
}

int store_revision_current(struct store *st, int64_t *cur, struct diag *d)
{
	return st->be->revision_current(st->h, cur, d);
}

int store_revision_record(struct store *st, const struct store_revision *rev,
                          struct diag *d)
{
	int r;

	if ((r = store_check_id("revision", rev->revision, d)) != 0 ||
	    (r = store_check_hex("merkle root", rev->merkle_root,
	                         STORE_HASH_HEX, STORE_HASH_HEX, d)) != 0 ||
	    (r = store_check_hex("signature", rev->signature, 2,
	                         STORE_SIG_HEX_MAX, d)) != 0)
		return r;
	if (rev->leaf_count < 0)
		return diag_set(d, ERR_INVALID, 0, 0, "negative leaf count");
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->revision_record(st->h, rev, store_now(st), d);
	if (r == 0) {
		char payload[48];

		(void)snprintf(payload, sizeof(payload), "revision %" PRId64,
		               rev->revision);
		r = store_notify_op(st, payload, d);
	}
	return store_op_end(st, r, d);
}

int store_revision_latest(struct store *st, struct store_revision *out,
                          struct diag *d)
{
	return st->be->revision_latest(st->h, out, d);
}

/* ---- Audit log ---- */

/* Appends "key=LEN:value\n", or "key=-\n" for NULL. */
static int store_audit_field(struct buf *b, const char *key, const char *v)
{
	int r;

	if (v == NULL)
		return buf_printf(b, "%s=-\n", key);
	if ((r = buf_printf(b, "%s=%zu:", key, strlen(v))) != 0 ||
	    (r = buf_puts(b, v)) != 0)
		return r;
	return buf_putc(b, '\n');
}

/* The serialisation a row's hash covers (store.h), under version tag v. */
static int store_audit_text(struct buf *b, const char *v,
                            const struct store_audit *row)
{
	int r;

	/* Length-prefixed fields: no two rows serialise alike however their
	 * text is chosen, and "-" (no details) differs from "0:" (empty). */
	if ((r = buf_printf(b, "%s\nid=%" PRId64 "\nat=%" PRId64 "\n", v,
	                    row->id, row->at)) != 0 ||
	    (r = store_audit_field(b, "actor", row->actor)) != 0 ||
	    (r = store_audit_field(b, "action", row->action)) != 0 ||
	    (r = store_audit_field(b, "target", row->target)) != 0 ||
	    (r = store_audit_field(b, "details", row->details)) != 0)
		return r;
	return buf_printf(b, "prev=%s\n", row->prev_hash);
}

int store_audit_hash(const struct store_audit *row,
                     char out[STORE_HASH_HEX + 1])
{
	struct buf b = BUF_INIT;
	uint8_t h[CRYPTO_HASH_LEN];
	int r;

	if ((r = store_audit_text(&b, "mcpfleet-audit-v1", row)) != 0 ||
	    (r = crypto_sha256(b.data, b.len, h)) != 0)
		goto out;
	r = crypto_hex(h, sizeof(h), out, STORE_HASH_HEX + 1);
out:
	buf_free(&b);
	return r;
}

/* The hash row must have on this handle: an HMAC from keyed_from on. */
static int store_audit_row_hash(const struct store *st,
                                const struct store_audit *row,
                                char out[STORE_HASH_HEX + 1])
{
	struct buf b = BUF_INIT;
	uint8_t h[CRYPTO_HASH_LEN];
	int r;

	if (!st->keyed || row->id < st->keyed_from)
		return store_audit_hash(row, out);
	if ((r = store_audit_text(&b, "mcpfleet-audit-v2", row)) != 0 ||
	    (r = crypto_hmac_sha256(st->audit_key, sizeof(st->audit_key),
	                            b.data, b.len, h)) != 0)
		goto out;
	r = crypto_hex(h, sizeof(h), out, STORE_HASH_HEX + 1);
out:
	crypto_wipe(h, sizeof(h));
	buf_free(&b);
	return r;
}

/*
 * The head's seal: 63 bits of the HMAC under the audit key of the last
 * row's id and hash, kept beside the head so that deleting the newest rows
 * and lowering the head to match needs the key too.
 */
static int store_audit_seal(const struct store *st, int64_t id,
                            const char *hash, int64_t *seal)
{
	struct buf b = BUF_INIT;
	uint8_t h[CRYPTO_HASH_LEN];
	uint64_t v = 0;
	size_t i;
	int r;

	if ((r = buf_printf(&b,
	                    "mcpfleet-audit-head-v1\nid=%" PRId64 "\nhash=%s\n",
	                    id, hash)) != 0 ||
	    (r = crypto_hmac_sha256(st->audit_key, sizeof(st->audit_key),
	                            b.data, b.len, h)) != 0)
		goto out;
	for (i = 0; i < 8; i++)
		v = v << 8 | h[i];
	*seal = (int64_t)(v & (uint64_t)INT64_MAX);
out:
	crypto_wipe(h, sizeof(h));
	buf_free(&b);
	return r;
}

int store_audit_key(struct store *st, const uint8_t key[STORE_AUDIT_KEY_LEN],
                    int64_t keyed_from, struct diag *d)
{
	if (key == NULL) {
		crypto_wipe(st->audit_key, sizeof(st->audit_key));
		st->keyed = false;
		st->keyed_from = 0;
		return 0;
	}
	if (keyed_from < 1)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "audit key: keyed_from %" PRId64
		                " is not a row id (1 or more)",
		                keyed_from);
	memcpy(st->audit_key, key, sizeof(st->audit_key));
	st->keyed_from = keyed_from;
	st->keyed = true;
	return 0;
}

int store_audit_next_id(struct store *st, int64_t *next, bool *keyed,
                        struct diag *d)
{
	char last_hash[STORE_HASH_HEX + 1] = "";
	int64_t last_id = 0, head_id = 0, seal = 0;
	int r;

	if ((r = store_read_begin(st, d)) != 0)
		return r;
	if ((r = st->be->audit_last(st->h, &last_id, last_hash, &head_id, d)) ==
	    0)
		r = st->be->audit_seal_get(st->h, &seal, d);
	if ((r = store_read_end(st, r, d)) != 0)
		return r;
	*next = (head_id > last_id ? head_id : last_id) + 1;
	*keyed = seal != 0;
	return 0;
}

int store_audit_append(struct store *st, const char *actor, const char *action,
                       const char *target, const char *details_json,
                       int64_t *id, struct diag *d)
{
	struct store_audit row;
	int64_t last_id = 0, head_id = 0, seal = 0;
	char last_hash[STORE_HASH_HEX + 1] = "";
	int r;

	memset(&row, 0, sizeof(row));
	if ((r = store_check_text("audit actor", actor, STORE_TEXT_MAX, false,
	                          d)) != 0 ||
	    (r = store_check_text("audit action", action, STORE_TEXT_MAX, false,
	                          d)) != 0 ||
	    (r = store_check_text("audit target", target, STORE_TEXT_MAX, true,
	                          d)) != 0)
		return r;
	if (details_json != NULL &&
	    (r = store_check_json("audit details", details_json,
	                          STORE_DETAILS_MAX, STORE_JSON_OBJECT, d)) !=
	        0)
		return r;
	row.actor = strdup(actor);
	row.action = strdup(action);
	row.target = strdup(target);
	row.details = details_json != NULL ? strdup(details_json) : NULL;
	if (row.actor == NULL || row.action == NULL || row.target == NULL ||
	    (details_json != NULL && row.details == NULL)) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = store_op_begin(st, d)) != 0)
		goto out;
	if ((r = st->be->audit_last(st->h, &last_id, last_hash, &head_id, d)) !=
	    0)
		goto end;
	/* After a truncation (head beyond the last row) the ids go on from the
	 * head, never reusing one, so store_audit_verify() still sees the
	 * gap. */
	row.id = (head_id > last_id ? head_id : last_id) + 1;
	row.at = store_now(st);
	memcpy(row.prev_hash, last_id > 0 ? last_hash : store_zero_hash,
	       STORE_HASH_HEX + 1);
	if ((r = store_audit_row_hash(st, &row, row.hash)) != 0) {
		r = diag_set(d, r, 0, 0, "audit: cannot hash row %" PRId64,
		             row.id);
		goto end;
	}
	if ((r = st->be->audit_insert(st->h, &row, d)) != 0)
		goto end;
	if (st->keyed && row.id >= st->keyed_from) {
		if ((r = store_audit_seal(st, row.id, row.hash, &seal)) != 0) {
			r = diag_set(d, r, 0, 0,
			             "audit: cannot seal row %" PRId64, row.id);
			goto end;
		}
		r = st->be->audit_seal_set(st->h, seal, d);
	}
end:
	if ((r = store_op_end(st, r, d)) == 0 && id != NULL)
		*id = row.id;
out:
	store_audit_clear(&row);
	return r;
}

int store_audit_list(struct store *st, int64_t since, int64_t after_id,
                     size_t limit, struct store_audit_list *out, struct diag *d)
{
	if (limit == 0 || limit > STORE_AUDIT_LIMIT)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "audit list limit must be 1 to %d",
		                STORE_AUDIT_LIMIT);
	if (after_id < 0)
		after_id = 0;
	return st->be->audit_list(st->h, since, after_id, limit, out, d);
}

int store_audit_find(struct store *st, const struct store_audit_filter *f,
                     struct store_audit_list *out, struct diag *d)
{
	if (f->limit == 0 || f->limit > STORE_AUDIT_LIMIT)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "audit list limit must be 1 to %d",
		                STORE_AUDIT_LIMIT);
	if (f->since < 0 || f->until < 0 || f->after_id < 0 || f->before_id < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "audit list bounds must not be negative");
	return st->be->audit_find(st->h, f, out, d);
}

/* What store_audit_check_page() carries from one page to the next. */
struct store_audit_walk {
	int64_t expect;                /* the id the next row must have */
	char prev[STORE_HASH_HEX + 1]; /* the hash it must link to */
	int64_t at;                    /* the last row's time */
	const struct store_audit_head *cp;
	bool cp_seen; /* the checkpoint's row was reached */
};

/*
 * Checks one page of rows against the running state w. Returns 0, or
 * -ERR_VERIFY with *bad and d.
 */
static int store_audit_check_page(const struct store *st,
                                  const struct store_audit_list *page,
                                  struct store_audit_walk *w, int64_t *bad,
                                  struct diag *d)
{
	char h[STORE_HASH_HEX + 1];
	const struct store_audit *a;
	size_t i;
	int r;

	for (i = 0; i < page->n; i++) {
		a = &page->v[i];
		if (a->id != w->expect) {
			*bad = a->id;
			return diag_set(d, ERR_VERIFY, 0, 0,
			                "audit row %" PRId64 ": rows %" PRId64
			                "..%" PRId64 " before it are missing "
			                "(deleted)",
			                a->id, w->expect, a->id - 1);
		}
		if ((r = store_audit_row_hash(st, a, h)) != 0)
			return diag_set(d, r, 0, 0,
			                "audit row %" PRId64 ": cannot hash it",
			                a->id);
		if (strcmp(h, a->hash) != 0) {
			*bad = a->id;
			if (st->keyed && a->id >= st->keyed_from)
				return diag_set(
				    d, ERR_VERIFY, 0, 0,
				    "audit row %" PRId64 ": its hash is not "
				    "the audit key's HMAC of its content (the "
				    "row was edited, or its hash recomputed "
				    "without the key)",
				    a->id);
			return diag_set(
			    d, ERR_VERIFY, 0, 0,
			    "audit row %" PRId64 ": its content does "
			    "not match its hash (the row was edited%s)",
			    a->id,
			    st->keyed ? ""
			              : ", or it is keyed and this store "
			                "has no audit key");
		}
		if (strcmp(a->prev_hash, w->prev) != 0) {
			*bad = a->id;
			return diag_set(d, ERR_VERIFY, 0, 0,
			                "audit row %" PRId64
			                ": its link does not "
			                "match the hash of row %" PRId64
			                " (the chain is broken: one of the two "
			                "was rewritten)",
			                a->id, a->id - 1);
		}
		if (w->cp != NULL && a->id == w->cp->rows) {
			w->cp_seen = true;
			if (strcmp(a->hash, w->cp->hash) != 0) {
				*bad = a->id;
				return diag_set(
				    d, ERR_VERIFY, 0, 0,
				    "audit row %" PRId64 ": its hash %.16s... "
				    "is not the checkpoint's %.16s...: it is "
				    "not the row the checkpoint counted (rows "
				    "1..%" PRId64 " were rewritten and the "
				    "chain recomputed, or rows deleted and "
				    "others appended in their place)",
				    a->id, a->hash, w->cp->hash, a->id);
			}
		}
		memcpy(w->prev, a->hash, STORE_HASH_HEX + 1);
		w->at = a->at;
		w->expect++;
	}
	return 0;
}

int store_audit_verify_head(struct store *st, const struct store_audit_head *cp,
                            struct store_audit_head *out, int64_t *first_bad_id,
                            struct diag *d)
{
	struct store_audit_list page = {NULL, 0};
	struct store_audit_walk w;
	char last_hash[STORE_HASH_HEX + 1];
	int64_t after = 0, bad = 0, last_id = 0, head_id = 0, seal = 0,
	        want = 0;
	int r;

	memset(&w, 0, sizeof(w));
	w.expect = 1;
	w.cp = cp;
	memcpy(w.prev, store_zero_hash, sizeof(w.prev));
	if (cp != NULL && cp->rows > 0 &&
	    strnlen(cp->hash, sizeof(cp->hash)) != STORE_HASH_HEX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "checkpoint: the head hash is not %d hex "
		                "digits",
		                STORE_HASH_HEX);
	if (cp != NULL && cp->keyed_from > 0 &&
	    (!st->keyed || st->keyed_from != cp->keyed_from)) {
		if (!st->keyed)
			return diag_set(d, ERR_VERIFY, 0, 0,
			                "checkpoint: the chain was keyed from "
			                "row %" PRId64
			                " but this store has no audit key",
			                cp->keyed_from);
		return diag_set(d, ERR_VERIFY, 0, 0,
		                "checkpoint: the chain was keyed from row "
		                "%" PRId64 " but the audit key now keys it "
		                "from row %" PRId64
		                " (the audit key file was replaced)",
		                cp->keyed_from, st->keyed_from);
	}
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	for (;;) {
		store_audit_list_free(&page);
		if ((r = st->be->audit_list(st->h, INT64_MIN, after,
		                            STORE_VERIFY_PAGE, &page, d)) != 0)
			goto out;
		if (page.n == 0)
			break;
		if ((r = store_audit_check_page(st, &page, &w, &bad, d)) != 0)
			goto out;
		after = page.v[page.n - 1].id;
	}
	if ((r = st->be->audit_last(st->h, &last_id, last_hash, &head_id, d)) !=
	    0)
		goto out;
	if (head_id > last_id) {
		bad = last_id + 1;
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "audit rows %" PRId64 "..%" PRId64
		             " are missing: the log ends at row %" PRId64
		             " but row %" PRId64 " was appended (deleted at "
		             "the end)",
		             last_id + 1, head_id, last_id, head_id);
		goto out;
	}
	if (cp != NULL && cp->rows > 0 && !w.cp_seen) {
		bad = w.expect;
		r = diag_set(d, ERR_VERIFY, 0, 0,
		             "audit rows %" PRId64 "..%" PRId64
		             " are missing: the checkpoint counted %" PRId64
		             " rows but the log ends at row %" PRId64
		             " (rows deleted at the end and the head lowered)",
		             w.expect, cp->rows, cp->rows, w.expect - 1);
		goto out;
	}
	/* Rows deleted at the end with the head lowered to match: the seal
	 * of the head, which only the key makes, names another row. */
	if (st->keyed && last_id >= st->keyed_from) {
		if ((r = st->be->audit_seal_get(st->h, &seal, d)) != 0 ||
		    (r = store_audit_seal(st, last_id, w.prev, &want)) != 0)
			goto out;
		if (seal != want) {
			bad = last_id + 1;
			r = diag_set(d, ERR_VERIFY, 0, 0,
			             "audit head: row %" PRId64
			             " does not carry the audit key's seal "
			             "of the last row appended (rows after "
			             "it were deleted and the head lowered to "
			             "match, or the seal was edited)",
			             last_id);
			goto out;
		}
	}
	r = 0;
out:
	store_audit_list_free(&page);
	r = store_read_end(st, r, d);
	if (r == -ERR_VERIFY && bad > 0 && first_bad_id != NULL)
		*first_bad_id = bad;
	if (r == 0 && out != NULL) {
		memset(out, 0, sizeof(*out));
		out->rows = w.expect - 1;
		out->at = w.at;
		if (out->rows > 0)
			memcpy(out->hash, w.prev, sizeof(out->hash));
		out->keyed_from = st->keyed ? st->keyed_from : 0;
	}
	return r;
}

int store_audit_verify(struct store *st, int64_t *rows, int64_t *first_bad_id,
                       struct diag *d)
{
	struct store_audit_head h;
	int r;

	r = store_audit_verify_head(st, NULL, &h, first_bad_id, d);
	if (r == 0 && rows != NULL)
		*rows = h.rows;
	return r;
}

void store_audit_clear(struct store_audit *a)
{
	if (a == NULL)
		return;
	free(a->actor);
	free(a->action);
	free(a->target);
	free(a->details);
	memset(a, 0, sizeof(*a));
}

void store_audit_list_free(struct store_audit_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		store_audit_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Snapshot ---- */

int store_snapshot_load(struct store *st, struct store_snapshot *out,
                        struct diag *d)
{
	struct store_snapshot s;
	int r;

	memset(&s, 0, sizeof(s));
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	if ((r = st->be->revision_current(st->h, &s.revision, d)) != 0 ||
	    (r = st->be->user_list(st->h, &s.users, d)) != 0 ||
	    (r = st->be->team_list(st->h, &s.teams, d)) != 0 ||
	    (r = st->be->member_all(st->h, &s.members, d)) != 0 ||
	    (r = st->be->server_list(st->h, &s.servers, d)) != 0 ||
	    (r = st->be->grant_list(st->h, 0, &s.grants, d)) != 0 ||
	    (r = st->be->secret_latest_all(st->h, &s.secrets, d)) != 0)
		goto out;
out:
	if ((r = store_read_end(st, r, d)) == 0) {
		*out = s;
		memset(&s, 0, sizeof(s));
	}
	store_snapshot_free(&s);
	return r;
}

void store_snapshot_free(struct store_snapshot *s)
{
	if (s == NULL)
		return;
	store_user_list_free(&s->users);
	store_team_list_free(&s->teams);
	store_member_list_free(&s->members);
	store_server_list_free(&s->servers);
	store_grant_list_free(&s->grants);
	store_secret_list_free(&s->secrets);
	s->revision = 0;
}

/* ---- Calls ---- */

static const char *const store_call_outcomes[] = {"ok", "error", "denied",
                                                  "rate_limited"};

const char *store_call_outcome_name(enum store_call_outcome o)
{
	return (size_t)o < sizeof(store_call_outcomes) /
	                       sizeof(store_call_outcomes[0])
	           ? store_call_outcomes[o]
	           : "?";
}

int store_call_outcome_parse(const char *s, enum store_call_outcome *out)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(store_call_outcomes) /
	                                 sizeof(store_call_outcomes[0]);
	     i++)
		if (strcmp(s, store_call_outcomes[i]) == 0) {
			*out = (enum store_call_outcome)i;
			return 0;
		}
	return -ERR_INVALID;
}

/* Checks record i of a batch. */
static int store_check_call(const struct store_call *c, size_t i,
                            struct diag *d)
{
	char what[64];
	int r;

	(void)snprintf(what, sizeof(what), "call record %zu", i);
	if (c->seq == 0 || c->seq > INT64_MAX)
		return diag_set(d, ERR_INVALID, 0, 0, "%s: seq is not valid",
		                what);
	if ((size_t)c->outcome >=
	    sizeof(store_call_outcomes) / sizeof(store_call_outcomes[0]))
		return diag_set(d, ERR_INVALID, 0, 0, "%s: unknown outcome %d",
		                what, (int)c->outcome);
	if (c->server == NULL || server_name_check(c->server, NULL) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: server is not a server name", what);
	(void)snprintf(what, sizeof(what), "call record %zu: method", i);
	if ((r = store_check_text(what, c->method, STORE_CALL_METHOD, false,
	                          d)) != 0)
		return r;
	(void)snprintf(what, sizeof(what), "call record %zu: name", i);
	if ((r = store_check_text(what, c->name ? c->name : "", STORE_CALL_NAME,
	                          true, d)) != 0)
		return r;
	(void)snprintf(what, sizeof(what), "call record %zu: detail", i);
	if (c->detail != NULL &&
	    (r = store_check_text(what, c->detail, STORE_CALL_DETAIL, true,
	                          d)) != 0)
		return r;
	if (c->duration_us < 0 || c->at_ms < 0 || c->bytes_in > INT64_MAX ||
	    c->bytes_out > INT64_MAX)
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "call record %zu: a negative or overlong number", i);
	return 0;
}

int store_calls_insert(struct store *st, const char *device_id,
                       const struct store_call *v, size_t n, size_t *inserted,
                       uint64_t *through, struct diag *d)
{
	size_t i, k = 0;
	uint64_t seq = 0;
	int r;

	if ((r = store_check_device_id(device_id, d)) != 0)
		return r;
	if (n > STORE_CALL_BATCH)
		return diag_set(d, ERR_TOOBIG, 0, 0,
		                "more than %d call records in one batch",
		                STORE_CALL_BATCH);
	for (i = 0; i < n; i++)
		if ((r = store_check_call(&v[i], i, d)) != 0)
			return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		r = st->be->call_insert(st->h, device_id, &v[i], store_now(st),
		                        d);
		if (r > 0) {
			k++;
			r = 0;
		}
	}
	if (r == 0)
		r = st->be->call_through(st->h, device_id, &seq, d);
	if ((r = store_op_end(st, r, d)) != 0)
		return r;
	if (inserted != NULL)
		*inserted = k;
	if (through != NULL)
		*through = seq;
	return 0;
}

int store_calls_list(struct store *st, const struct store_call_filter *f,
                     struct store_call_list *out, struct diag *d)
{
	struct store_call_filter g = *f;
	enum store_call_outcome o;
	int r;

	if (g.limit == 0)
		g.limit = 100;
	if (g.limit > STORE_CALL_LIMIT)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "limit: at most %d calls at a time",
		                STORE_CALL_LIMIT);
	if (g.outcome != NULL && store_call_outcome_parse(g.outcome, &o) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "outcome: '%s' is not ok, error, denied or "
		                "rate_limited",
		                g.outcome);
	if (g.since_ms < 0 || g.until_ms < 0 || g.after_id < 0 ||
	    g.before_id < 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "since, until, after and before must not be "
		                "negative");
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->calls_list(st->h, &g, out, d);
	return store_read_end(st, r, d);
}

int store_calls_prune(struct store *st, int64_t before_s, size_t *removed,
                      struct diag *d)
{
	int r;

	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->calls_prune(st->h, before_s, removed, d);
	return store_op_end(st, r, d);
}

/* ---- Replicas ---- */

static int store_check_replica(const char *address, struct diag *d)
{
	struct diag sub;

	diag_clear(&sub);
	if (replicas_addr_parse(address, NULL, NULL, &sub) != 0)
		return diag_set(d, ERR_INVALID, 0, 0, "replica address: %s",
		                sub.msg);
	return 0;
}

int store_replica_beat(struct store *st, const char *address, int64_t period_s,
                       struct diag *d)
{
	int64_t now = store_now(st);
	int r;

	if ((r = store_check_replica(address, d)) != 0)
		return r;
	if (period_s < 1 || period_s > 3600)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "replica heartbeat period: %lld s, want 1 to "
		                "3600",
		                (long long)period_s);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->replica_beat(st->h, address, now, now + 3 * period_s, d);
	return store_op_end(st, r, d);
}

int store_replica_list(struct store *st, struct store_id_list *out,
                       struct diag *d)
{
	int r;

	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->replica_list(st->h, store_now(st), REPLICAS_MAX, out, d);
	return store_read_end(st, r, d);
}

int store_replica_prune(struct store *st, size_t *removed, struct diag *d)
{
	int r;

	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->replica_prune(st->h, store_now(st), removed, d);
	return store_op_end(st, r, d);
}

int store_replica_remove(struct store *st, const char *address, struct diag *d)
{
	int r;

	if ((r = store_check_replica(address, d)) != 0 ||
	    (r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->replica_remove(st->h, address, d);
	return store_op_end(st, r, d);
}

void store_call_list_free(struct store_call_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].device_id);
		free(l->v[i].user_name);
		free(l->v[i].server);
		free(l->v[i].method);
		free(l->v[i].name);
		free(l->v[i].detail);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- Copying a store ---- */

#define STORE_COPY_COLS 15

/* Every table at the current schema, parents before children, with
 * its columns; has_id marks the tables whose ids a counter hands out. */
static const struct store_copy_table {
	const char *name;
	bool has_id;
	const char *cols[STORE_COPY_COLS];
} store_copy_tables[] = {
    {"users", true, {"id", "name", "email", "disabled", "created_at"}},
    {"teams", true, {"id", "name", "created_at"}},
    {"memberships", false, {"team_id", "user_id", "created_at"}},
    {"servers", true, {"id", "name", "entry_json", "created_at", "updated_at"}},
    {"grants",
     true,
     {"id", "server_id", "kind", "team_id", "user_id", "tools_allow",
      "tools_deny", "created_at", "rate", "tool_rates"}},
    {"secrets",
     false,
     {"id", "name", "scope", "scope_id", "version", "sealed", "created_at"}},
    {"devices",
     false,
     {"id", "user_id", "hostname", "os", "cert_serial", "cert_fingerprint",
      "enrolled_at", "last_seen", "applied_revision", "report_json", "status",
      "revoked_at", "revoke_reason", "calls_dropped", "cert_not_after"}},
    {"device_certs",
     false,
     {"serial", "device_id", "not_after", "replaced_at"}},
    {"enroll_tokens",
     true,
     {"id", "token_hash", "user_id", "expires_at", "uses_left", "revoked",
      "created_at", "created_by"}},
    {"deliveries",
     false,
     {"device_id", "secret_id", "secret_name", "scope", "scope_id",
      "scope_name", "version", "revision", "delivered_at"}},
    {"admin_tokens",
     true,
     {"id", "name", "token_hash", "created_at", "revoked", "role"}},
    {"revisions",
     false,
     {"revision", "created_at", "leaf_count", "merkle_root", "signature"}},
    {"audit",
     false,
     {"id", "at", "actor", "action", "target", "details", "prev_hash", "hash"}},
    {"calls",
     true,
     {"id", "device_id", "user_name", "seq", "at_ms", "server", "method",
      "name", "duration_us", "outcome", "bytes_in", "bytes_out", "detail",
      "received_at"}},
    {"sessions",
     false,
     {"id_hash", "csrf", "admin_hash", "created", "last_used", "identity",
      "role"}},
    {"offboardings",
     true,
     {"id", "user_id", "actor", "report_json", "created_at"}},
    {"scim_users",
     false,
     {"user_id", "external_id", "attrs_json", "deleted", "updated_at",
      "version"}},
    {"scim_groups",
     false,
     {"team_id", "external_id", "attrs_json", "updated_at", "version"}},
    {"meta", false, {"key", "value"}},
};

struct store_copy_ctx {
	struct store *to;
	const struct store_copy_table *t;
	size_t ncols;
	int64_t rows;
};

static int store_copy_row(void *arg, const struct store_cell *cells,
                          struct diag *d)
{
	struct store_copy_ctx *c = arg;
	int r;

	r = c->to->be->table_insert(c->to->h, c->t->name, c->t->cols, c->ncols,
	                            cells, d);
	if (r == 0)
		c->rows++;
	return r;
}

static size_t store_copy_ncols(const struct store_copy_table *t)
{
	size_t n = 0;

	while (n < STORE_COPY_COLS && t->cols[n] != NULL)
		n++;
	return n;
}

/* Refuses a target that holds anything: a row in a table, or a counter
 * that moved (meta). */
static int store_copy_check_empty(struct store *to, struct diag *d)
{
	char hash[STORE_HASH_HEX + 1];
	int64_t n = 0, last = 0, head = 0;
	size_t i;
	int r;

	for (i = 0;
	     i < sizeof(store_copy_tables) / sizeof(store_copy_tables[0]);
	     i++) {
		if (strcmp(store_copy_tables[i].name, "meta") == 0)
			continue;
		if ((r = to->be->table_count(to->h, store_copy_tables[i].name,
		                             &n, d)) != 0)
			return r;
		if (n > 0)
			return diag_set(d, ERR_CONFLICT, 0, 0,
			                "the target store is not empty (table "
			                "%s holds %" PRId64
			                " rows); migrate wants an empty "
			                "database",
			                store_copy_tables[i].name, n);
	}
	if ((r = to->be->revision_current(to->h, &n, d)) != 0 ||
	    (r = to->be->audit_last(to->h, &last, hash, &head, d)) != 0)
		return r;
	if (n != 0 || head != 0)
		return diag_set(d, ERR_CONFLICT, 0, 0,
		                "the target store is not empty (its counters "
		                "moved: revision %" PRId64
		                ", audit head %" PRId64
		                "); migrate wants an empty database",
		                n, head);
	return 0;
}

int store_copy(struct store *from, struct store *to, int64_t *rows,
               struct diag *d)
{
	struct store_copy_ctx c;
	int64_t vfrom = 0, vto = 0, total = 0, n = 0, floor = 0;
	bool from_tx = false, to_tx = false;
	size_t i;
	int r;

	if (from->be->table_each == NULL || from->be->id_floor_get == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "a %s store cannot be copied from",
		                from->be->name);
	if (to->be->table_insert == NULL || to->be->id_floor_set == NULL ||
	    to->be->table_count == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "a %s store cannot be copied to", to->be->name);
	if (from->in_tx || to->in_tx)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "a store transaction is already open");
	if ((r = from->be->schema_version_get(from->h, &vfrom, d)) != 0 ||
	    (r = to->be->schema_version_get(to->h, &vto, d)) != 0)
		return r;
	if (vfrom != vto)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "the stores are at schema versions %" PRId64
		                " and %" PRId64 "; open both with one build",
		                vfrom, vto);
	/* The source's write lock keeps a running daemon from changing it
	 * half-way. */
	if ((r = from->be->tx(from->h, STORE_TX_BEGIN_WRITE, d)) != 0)
		return r;
	from_tx = true;
	if ((r = to->be->tx(to->h, STORE_TX_BEGIN_WRITE, d)) != 0)
		goto out;
	to_tx = true;
	if ((r = store_copy_check_empty(to, d)) != 0)
		goto out;
	for (i = 0;
	     i < sizeof(store_copy_tables) / sizeof(store_copy_tables[0]);
	     i++) {
		memset(&c, 0, sizeof(c));
		c.to = to;
		c.t = &store_copy_tables[i];
		c.ncols = store_copy_ncols(c.t);
		if ((r = from->be->table_each(from->h, c.t->name, c.t->cols,
		                              c.ncols, store_copy_row, &c,
		                              d)) != 0)
			goto out;
		if ((r = to->be->table_count(to->h, c.t->name, &n, d)) != 0)
			goto out;
		if (n != c.rows) {
			r = diag_set(d, ERR_IO, 0, 0,
			             "copy: table %s holds %" PRId64
			             " rows after %" PRId64 " were copied",
			             c.t->name, n, c.rows);
			goto out;
		}
		total += c.rows;
		if (c.t->has_id && ((r = from->be->id_floor_get(
		                         from->h, c.t->name, &floor, d)) != 0 ||
		                    (r = to->be->id_floor_set(to->h, c.t->name,
		                                              floor, d)) != 0))
			goto out;
	}
	/* The copied chain must verify before it is committed. */
	to->in_tx = true;
	r = store_audit_verify(to, NULL, NULL, d);
	to->in_tx = false;
	if (r != 0)
		goto out;
	r = to->be->tx(to->h, STORE_TX_COMMIT, d);
	to_tx = false;
	if (r == 0 && rows != NULL)
		*rows = total;
out:
	if (to_tx)
		(void)to->be->tx(to->h, STORE_TX_ROLLBACK, NULL);
	if (from_tx)
		(void)from->be->tx(from->h, STORE_TX_ROLLBACK, NULL);
	return r;
}

/* ---- Console sessions ---- */

static int store_check_session(const struct store_session *se, struct diag *d)
{
	int r;

	if ((r = store_check_hex("session id hash", se->id_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0 ||
	    (r = store_check_text("session CSRF token", se->csrf,
	                          STORE_CSRF_MAX, false, d)) != 0)
		return r;
	/* A token's session, or an identity's with its role: one of them. */
	if (se->admin_hash[0] != '\0' || se->identity[0] == '\0') {
		if ((r = store_check_hex("session admin token hash",
		                         se->admin_hash, STORE_HASH_HEX,
		                         STORE_HASH_HEX, d)) != 0)
			return r;
		if (se->identity[0] != '\0' || se->role[0] != '\0')
			return diag_set(d, ERR_INVALID, 0, 0,
			                "session: an admin token's session "
			                "names no identity or role");
		return 0;
	}
	if ((r = store_check_text("session identity", se->identity,
	                          STORE_IDENTITY_MAX, false, d)) != 0 ||
	    (r = store_check_text("session role", se->role, STORE_ROLE_MAX,
	                          false, d)) != 0)
		return r;
	return 0;
}

int store_session_put(struct store *st, const struct store_session *se,
                      struct diag *d)
{
	int r;

	if ((r = store_check_session(se, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->session_put(st->h, se, d);
	return store_op_end(st, r, d);
}

int store_session_get(struct store *st, const char *id_hash,
                      struct store_session *out, struct diag *d)
{
	struct store_session v;
	int r;

	if ((r = store_check_hex("session id hash", id_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	memset(&v, 0, sizeof(v));
	if ((r = st->be->session_get(st->h, id_hash, &v, d)) != 0)
		return r;
	*out = v;
	explicit_bzero(&v, sizeof(v));
	return 0;
}

int store_session_touch(struct store *st, const char *id_hash,
                        int64_t last_used, struct diag *d)
{
	int r;

	if ((r = store_check_hex("session id hash", id_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->session_touch(st->h, id_hash, last_used, d);
	return store_op_end(st, r, d);
}

int store_session_remove(struct store *st, const char *id_hash, struct diag *d)
{
	int r;

	if ((r = store_check_hex("session id hash", id_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->session_remove(st->h, id_hash, d);
	return store_op_end(st, r, d);
}

int store_session_prune(struct store *st, int64_t created_before,
                        int64_t used_before, size_t keep, size_t *left,
                        struct diag *d)
{
	size_t n = 0;
	int r;

	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->session_prune(st->h, created_before, used_before, keep, &n,
	                          d);
	if ((r = store_op_end(st, r, d)) == 0 && left != NULL)
		*left = n;
	return r;
}

/* ---- Replication ---- */

bool store_shared(const struct store *st)
{
	return st->be->pub_entry_put != NULL;
}

static int store_not_shared(const struct store *st, struct diag *d)
{
	return diag_set(d, ERR_INVALID, 0, 0,
	                "the %s store is not shared by replicas (use "
	                "PostgreSQL)",
	                st->be->name);
}

static int store_check_pub_entry(const struct store_pub_entry *e,
                                 struct diag *d)
{
	int r;

	if ((r = store_check_device_id(e->device_id, d)) != 0 ||
	    (r = store_check_id("revision", e->revision, d)) != 0 ||
	    (r = store_check_hex("view hash", e->view_hash, STORE_HASH_HEX,
	                         STORE_HASH_HEX, d)) != 0)
		return r;
	if (e->envelope == NULL || e->envelope_len == 0 || e->user == NULL ||
	    e->secret_ids == NULL || e->omitted_json == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "revision entry of %s: a field is missing",
		                e->device_id);
	return 0;
}

int store_pub_entry_put(struct store *st, const struct store_pub_entry *e,
                        struct diag *d)
{
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_check_pub_entry(e, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->pub_entry_put(st->h, e, d);
	return store_op_end(st, r, d);
}

int store_pub_entry_replace(struct store *st, const struct store_pub_entry *v,
                            size_t n, int64_t revision, struct diag *d)
{
	char payload[48];
	size_t i;
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_check_id("revision", revision, d)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = store_check_pub_entry(&v[i], d)) != 0)
			return r;
		if (v[i].revision != revision)
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "revision entry of %s: signed at %" PRId64
			    ", not %" PRId64,
			    v[i].device_id, v[i].revision, revision);
	}
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->pub_entry_replace(st->h, v, n, d);
	if (r == 0) {
		(void)snprintf(payload, sizeof(payload), "prune %" PRId64,
		               revision);
		r = store_notify_op(st, payload, d);
	}
	return store_op_end(st, r, d);
}

int store_pub_entry_prune(struct store *st, int64_t revision, struct diag *d)
{
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->pub_entry_prune(st->h, revision, d);
	if (r == 0) {
		char payload[48];

		(void)snprintf(payload, sizeof(payload), "prune %" PRId64,
		               revision);
		r = store_notify_op(st, payload, d);
	}
	return store_op_end(st, r, d);
}

int store_pub_entry_since(struct store *st, int64_t revision,
                          struct store_pub_entry_list *out,
                          struct store_id_list *ids, struct diag *d)
{
	struct store_pub_entry_list l = {NULL, 0};
	struct store_id_list il = {NULL, 0};
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_read_begin(st, d)) != 0)
		return r;
	r = st->be->pub_entry_since(st->h, revision, &l,
	                            ids != NULL ? &il : NULL, d);
	if ((r = store_read_end(st, r, d)) != 0) {
		store_pub_entry_list_free(&l);
		store_id_list_free(&il);
		return r;
	}
	*out = l;
	if (ids != NULL)
		*ids = il;
	return 0;
}

void store_pub_entry_list_free(struct store_pub_entry_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].device_id);
		free(l->v[i].user);
		free(l->v[i].envelope);
		free(l->v[i].secret_ids);
		free(l->v[i].omitted_json);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int store_revocation_put(struct store *st, const char *device_id,
                         const uint8_t *env, size_t len, struct diag *d)
{
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_check_device_id(device_id, d)) != 0)
		return r;
	if (env == NULL || len == 0 || len > STORE_JSON_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "revocation of %s: empty or too large",
		                device_id);
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->revocation_put(st->h, device_id, env, len, d);
	if (r == 0)
		r = store_notify_op(st, "devices", d);
	return store_op_end(st, r, d);
}

int store_revocation_get(struct store *st, const char *device_id, uint8_t **env,
                         size_t *len, struct diag *d)
{
	int r;

	if (!store_shared(st))
		return store_not_shared(st, d);
	if ((r = store_check_device_id(device_id, d)) != 0)
		return r;
	return st->be->revocation_get(st->h, device_id, env, len, d);
}

int store_notify(struct store *st, const char *payload, struct diag *d)
{
	int r;

	if (st->be->notify == NULL)
		return 0;
	if ((r = store_check_text("notification", payload, STORE_TEXT_MAX,
	                          false, d)) != 0)
		return r;
	if ((r = store_op_begin(st, d)) != 0)
		return r;
	r = st->be->notify(st->h, payload, d);
	return store_op_end(st, r, d);
}

struct store_listener {
	const struct store_backend *be;
	void *h;
};

int store_listen(const char *backend_name, const char *path,
                 struct store_listener **out, struct diag *d)
{
	const struct store_backend *be = NULL;
	struct store_listener *l;
	size_t i;
	int r;

	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (backend_name != NULL &&
		    strcmp(store_backends[i]->name, backend_name) == 0)
			be = store_backends[i];
	if (be == NULL)
		return diag_set(
		    d, ERR_NOENT, 0, 0, "no store backend named '%s'",
		    backend_name ? jsonutil_printable(backend_name) : "(null)");
	if (be->listen_open == NULL)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "the %s store sends no notifications",
		                be->name);
	if (path == NULL)
		return diag_set(d, ERR_INVALID, 0, 0, "store path is empty");
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	l->be = be;
	if ((r = be->listen_open(path, &l->h, d)) != 0) {
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

int store_listener_fd(const struct store_listener *l)
{
	return l->be->listen_fd(l->h);
}

int store_listener_read(struct store_listener *l,
                        void (*each)(void *arg, const char *payload), void *arg,
                        size_t *count, struct diag *d)
{
	size_t n = 0;
	int r;

	if ((r = l->be->listen_read(l->h, each, arg, &n, d)) != 0)
		return r;
	*count = n;
	return 0;
}

void store_listener_close(struct store_listener *l)
{
	if (l == NULL)
		return;
	l->be->listen_close(l->h);
	free(l);
}
