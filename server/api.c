/* SPDX-License-Identifier: MIT */
/* The admin REST API under /api/v1/: authenticates, routes, validates, and
 * makes each change with its audit row in one transaction (server/API.md). */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalogue.h"
#include "checkpoint.h"
#include "enroll.h"
#include "jsonutil.h"
#include "role.h"
#include "scim.h"
#include "session.h"
#include "token.h"

#define API_VERSION        "0.1.0"
#define API_BODY_MAX       (1u << 20) /* API.md: bodies are at most 1 MiB */
#define API_PATH_MAX       1024
#define API_SEGS_MAX       4 /* "teams/{name}/members/{user}" */
#define API_ARGS_MAX       2 /* captured path segments */
#define API_ERR_MAX        512
#define API_ALLOW_MAX      64
#define API_TTL_DEFAULT    86400
#define API_TTL_MAX        (30 * 86400)
#define API_USES_MAX       1000
#define API_VALUE_MAX      65536 /* bytes of one secret value */
#define API_AUDIT_DEFAULT  1000
#define API_OFFBOARD_CALLS 20 /* the user's last calls in the report */
/* A server entry larger than this is summarised in its audit row, which
 * holds at most STORE_DETAILS_MAX bytes. */
#define API_AUDIT_ENTRY_MAX 32768

/* ---- Requests, routes and answers ---- */

enum api_type {
	API_STRING,
	API_INTEGER,
	API_BOOLEAN,
	API_OBJECT,
	API_STRINGS, /* an array of non-empty strings */
};

/* One field a request body may carry. min and max bound a string's bytes
 * and a list's items (max 0: only the body cap), and an integer's value. */
struct api_field {
	const char *name;
	enum api_type type;
	bool required;
	int64_t min;
	int64_t max;
};

/* One request being answered. */
struct api_call {
	const struct api_ctx *a;
	const struct net_request *req;
	struct store *st;
	const char *arg[API_ARGS_MAX]; /* the "*" segments of the route */
	json_t *body;                  /* the body object, or NULL */
	struct store_admin_token admin;
	/* "admin:NAME", or "admin:NAME (console)" in a console session, or
	 * "oidc:EMAIL (console)" in one that an identity provider opened. */
	char actor[STORE_TEXT_MAX + 1];
	/* What the caller may call, and who it is in a refusal ("token
	 * 'NAME'", "'oidc:EMAIL'"): set by whatever authenticated it (an
	 * admin token, and through it a console session, or a session an
	 * identity provider opened). */
	enum role role;
	char who[STORE_TEXT_MAX + 1];
	const struct api_route *route; /* the route being called */
	/* The console session, when its cookie authenticated the request. */
	struct session *session;
	char cookie[SESSION_COOKIE_MAX]; /* a Set-Cookie value to send, or "" */
	bool clear_cookie;               /* ... or one that clears the cookie */
	int status;
	json_t *out; /* the answer */
	char err[API_ERR_MAX];
	char allow[API_ALLOW_MAX]; /* methods of the path, for a 405 */
	/* An event stream (GET events, or api_recheck()): its session is
	 * not kept alive by it, and the hooks open it. */
	bool passive;
	bool stream;
	int64_t until;  /* when the credential lapses (Unix s), 0: unknown */
	bool committed; /* a change is durable: run the hooks */
	bool changed;   /* ... and it can alter a view */
	struct store_id_list revoked;
	struct diag d;
};

/* One route. Every route says which roles may call it (role.h): routes
 * are written with API_ROUTE(), which refuses to compile without a role,
 * and a route whose set is empty is refused to everyone all the same. */
struct api_route {
	const char *method;
	const char *pattern; /* segments after API_PREFIX; "*" captures one */
	unsigned roles;      /* ROLE_BIT()s of the roles that may call it */
	const char *what;    /* for a refusal: "adding a server" */
	int (*handler)(struct api_call *c);
	const struct api_field *fields; /* what the body may hold; NULL: no
	                                   body */
	const char *const *query;       /* parameters allowed; NULL: none */
};

/* Records an error answer. Returns a negative code for the caller to
 * pass up. */
__attribute__((format(printf, 3, 4))) static int
api_fail(struct api_call *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->status = status;
	return status >= 500 ? -ERR_INTERNAL : -ERR_INVALID;
}

/* Maps a store result to an answer: 0 stays 0, an error becomes its
 * status with the store's message, which names the thing and the
 * reason. */
static int api_store_result(struct api_call *c, int r)
{
	const char *msg = c->d.msg[0] != '\0' ? c->d.msg : err_str(r);
	int status;

	if (r == 0)
		return 0;
	switch (-r) {
	case ERR_INVALID:
	case ERR_TOOBIG:
		status = 400;
		break;
	case ERR_NOENT:
		status = 404;
		break;
	case ERR_EXISTS:
	case ERR_CONFLICT:
	case ERR_VERIFY:
		status = 409;
		break;
	case ERR_PERM:
		status = 403;
		break;
	default:
		status = 500;
		break;
	}
	if (status == 500)
		r = api_fail(c, status, "store failure: %s", msg);
	else
		r = api_fail(c, status, "%s", msg);
	diag_clear(&c->d);
	return r;
}

static int api_nomem(struct api_call *c)
{
	return api_fail(c, 500, "out of memory");
}

/* Sets the answer, taking v. Returns 0, or an error when v is NULL (a
 * builder ran out of memory). */
static int api_answer(struct api_call *c, int status, json_t *v)
{
	if (v == NULL)
		return api_nomem(c);
	json_decref(c->out);
	c->out = v;
	c->status = status;
	return 0;
}

/* Adds key to o, taking v; a NULL v means a builder failed. Returns 0 or
 * -ERR_NOMEM. */
static int api_set(json_t *o, const char *key, json_t *v)
{
	if (o == NULL || v == NULL) {
		json_decref(v);
		return -ERR_NOMEM;
	}
	return json_object_set_new(o, key, v) == 0 ? 0 : -ERR_NOMEM;
}

/* A JSON array of item(c, element) for each of the n elements of v. */
static json_t *api_array(struct api_call *c, const void *v, size_t n,
                         size_t size,
                         json_t *(*item)(struct api_call *, const void *))
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(
		        a, item(c, (const char *)v + i * size)) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* Answers a list: 200 with the array of item() of every element. */
static int api_answer_list(struct api_call *c, const void *v, size_t n,
                           size_t size,
                           json_t *(*item)(struct api_call *, const void *))
{
	return api_answer(c, 200, api_array(c, v, n, size, item));
}

/* A JSON array of the strings at offset off of each of n elements. */
static json_t *api_strings_at(const void *v, size_t n, size_t size, size_t off)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		const char *s =
		    *(char *const *)((const char *)v + i * size + off);

		if (json_array_append_new(a, json_string(s)) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* s, or NULL (JSON null) when it is empty. */
static const char *api_nz(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* A time, or null for 0 ("never"). */
static json_t *api_time(int64_t t)
{
	return t != 0 ? json_integer((json_int_t)t) : json_null();
}

/* JSON text the store keeps (entries, tool lists, reports, details),
 * parsed; null when absent. The store validated it on the way in. */
static json_t *api_json_text(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_loads(s, JSON_DECODE_ANY, NULL);
	return v != NULL ? v : json_null();
}

/* ---- Transactions and the audit log ---- */

static int api_begin(struct api_call *c)
{
	return api_store_result(c, store_begin(c->st, &c->d));
}

/*
 * Appends the audit row of the change made since api_begin() and commits
 * both. details_fmt is a json_pack() format for the row's details (NULL:
 * none); it must never carry a secret value or a token.
 */
static int api_commit(struct api_call *c, const char *action,
                      const char *target, const char *details_fmt, ...)
{
	json_t *details = NULL;
	char *text = NULL;
	va_list ap;
	int r;

	if (details_fmt != NULL) {
		va_start(ap, details_fmt);
		details = json_vpack_ex(NULL, 0, details_fmt, ap);
		va_end(ap);
	} else {
		details = json_object();
	}
	/* The row says with which role the actor made the change. */
	if (api_set(details, "actor_role", json_string(role_name(c->role))) !=
	        0 ||
	    (text = json_dumps(details, JSON_COMPACT)) == NULL) {
		r = api_nomem(c);
		goto out;
	}
	if ((r = api_store_result(c, store_audit_append(c->st, c->actor, action,
	                                                target, text, NULL,
	                                                &c->d))) != 0 ||
	    (r = api_store_result(c, store_commit(c->st, &c->d))) != 0)
		goto out;
	c->committed = true;
out:
	json_decref(details);
	free(text);
	return r;
}

/*
 * Appends one audit row in a transaction of its own, for a refusal: the
 * call's own changes, if any, are not made. Takes details (NULL: a
 * builder failed, and no row is written). A row that cannot be written is
 * given up: the refusal stands all the same.
 */
static void api_audit_alone(struct api_call *c, const char *actor,
                            const char *action, const char *target,
                            json_t *details)
{
	char *text = NULL;
	struct diag d;

	if (details == NULL ||
	    (text = json_dumps(details, JSON_COMPACT)) == NULL)
		goto out;
	if (store_begin(c->st, &d) != 0)
		goto out;
	if (store_audit_append(c->st, actor, action, target, text, NULL, &d) !=
	        0 ||
	    store_commit(c->st, &d) != 0)
		(void)store_rollback(c->st, NULL);
out:
	json_decref(details);
	free(text);
}

/* ---- Request input ---- */

/* A body field, or NULL when it is absent or null. */
static json_t *api_get(const struct api_call *c, const char *name)
{
	json_t *v = c->body != NULL ? json_object_get(c->body, name) : NULL;

	return json_is_null(v) ? NULL : v;
}

static const char *api_str(const struct api_call *c, const char *name)
{
	return json_string_value(api_get(c, name));
}

static int64_t api_int(const struct api_call *c, const char *name, int64_t dflt)
{
	json_t *v = api_get(c, name);

	return v != NULL ? (int64_t)json_integer_value(v) : dflt;
}

/* A string list field as the store keeps it (compact JSON), or NULL when
 * absent. Returns 0 or an error. */
static int api_strings_text(struct api_call *c, const char *name, char **out)
{
	json_t *v = api_get(c, name);

	*out = NULL;
	if (v == NULL)
		return 0;
	if ((*out = json_dumps(v, JSON_COMPACT)) == NULL)
		return api_nomem(c);
	return 0;
}

/* Parses a positive decimal number. Returns 0, or -ERR_INVALID. */
static int api_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s[0] < '0' || s[0] > '9')
		return -ERR_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -ERR_INVALID;
	*out = v;
	return 0;
}

/* The numeric id in path segment i (grants, tokens, admin tokens). */
static int api_arg_id(struct api_call *c, size_t i, const char *what,
                      int64_t *id)
{
	if (api_parse_int(c->arg[i], 1, INT64_MAX, id) != 0)
		return api_fail(c, 400, "%s '%s' is not a positive number",
		                what, jsonutil_printable(c->arg[i]));
	return 0;
}

/* An integer query parameter in [min, max], dflt when absent. */
static int api_query_int(struct api_call *c, const char *name, int64_t min,
                         int64_t max, int64_t dflt, int64_t *out)
{
	const char *s = net_request_param(c->req, name);

	if (s == NULL) {
		*out = dflt;
		return 0;
	}
	if (api_parse_int(s, min, max, out) != 0)
		return api_fail(c, 400,
		                "query parameter '%s' must be a number from "
		                "%" PRId64 " to %" PRId64,
		                name, min, max);
	return 0;
}

static bool api_in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Refuses a query parameter the route does not take (a typo must not turn
 * a scoped removal into an org-wide one) or one given twice. */
static int api_query_check(struct api_call *c, const struct api_route *rt)
{
	size_t i, j;

	for (i = 0; i < c->req->nparams; i++) {
		const char *name = c->req->params[i].name;

		if (!api_in_list(rt->query, name))
			return api_fail(c, 400, "unknown query parameter '%s'",
			                jsonutil_printable(name));
		for (j = 0; j < i; j++)
			if (strcmp(c->req->params[j].name, name) == 0)
				return api_fail(c, 400,
				                "query parameter '%s' is given "
				                "twice",
				                name);
	}
	return 0;
}

static const char *api_type_name(enum api_type t)
{
	switch (t) {
	case API_STRING:
		return "a string";
	case API_INTEGER:
		return "an integer";
	case API_BOOLEAN:
		return "true or false";
	case API_OBJECT:
		return "an object";
	case API_STRINGS:
		return "an array of non-empty strings";
	}
	return "?";
}

/* Checks one present, non-null field against its description. The
 * messages name the field and never echo its value (it may be a
 * secret). */
static int api_field_check(struct api_call *c, const struct api_field *f,
                           json_t *v)
{
	bool ok = false;
	size_t n = 0, i;
	json_t *item;

	switch (f->type) {
	case API_STRING:
		ok = json_is_string(v);
		n = ok ? json_string_length(v) : 0;
		break;
	case API_INTEGER:
		ok = json_is_integer(v);
		break;
	case API_BOOLEAN:
		ok = json_is_boolean(v);
		break;
	case API_OBJECT:
		ok = json_is_object(v);
		break;
	case API_STRINGS:
		ok = json_is_array(v);
		json_array_foreach(v, i, item)
		{
			if (!json_is_string(item) ||
			    json_string_length(item) == 0)
				ok = false;
		}
		n = ok ? json_array_size(v) : 0;
		break;
	}
	if (!ok)
		return api_fail(c, 400, "field '%s' must be %s", f->name,
		                api_type_name(f->type));
	if (f->type == API_INTEGER) {
		json_int_t x = json_integer_value(v);

		if (x < f->min || x > f->max)
			return api_fail(c, 400,
			                "field '%s' must be from %" PRId64
			                " to %" PRId64,
			                f->name, f->min, f->max);
	} else if ((int64_t)n < f->min || (f->max > 0 && (int64_t)n > f->max)) {
		return api_fail(c, 400,
		                "field '%s' must have %" PRId64 " to %" PRId64
		                " %s",
		                f->name, f->min, f->max,
		                f->type == API_STRING ? "bytes" : "items");
	}
	return 0;
}

/* Is the content type JSON (or not given, as curl -d sends none)? */
static bool api_is_json_type(const char *type)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (type == NULL || *type == '\0')
		return true;
	return strncasecmp(type, json, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/*
 * Parses the body into c->body and checks it against the route: an object
 * without duplicate keys, unknown fields or wrong types, with every
 * required field. A route without fields takes no body, so that a GET or
 * a DELETE never carries input that it would silently ignore.
 */
static int api_body_parse(struct api_call *c, const struct api_route *rt)
{
	const struct api_field *f;
	json_error_t jerr;
	const char *key;
	json_t *v;
	char *near;

	if (c->req->body_len > API_BODY_MAX)
		return api_fail(c, 413, "request body is larger than %u bytes",
		                API_BODY_MAX);
	if (rt->fields == NULL) {
		if (c->req->body_len > 0)
			return api_fail(c, 400, "%s /api/v1/%s takes no body",
			                rt->method, rt->pattern);
		return 0;
	}
	if (c->req->body_len == 0) {
		/* No body: as {}, so a required field is reported missing. */
		if ((c->body = json_object()) == NULL)
			return api_nomem(c);
	} else if (!api_is_json_type(c->req->content_type)) {
		return api_fail(c, 400,
		                "Content-Type must be application/json");
	} else if ((c->body = json_loadb(c->req->body, c->req->body_len,
	                                 JSON_REJECT_DUPLICATES, &jerr)) ==
	           NULL) {
		/* jansson quotes the input "near" the error: that could be
		 * part of a secret value. Only a duplicate key is worth
		 * quoting, and it is a key. */
		if (json_error_code(&jerr) != json_error_duplicate_key &&
		    (near = strstr(jerr.text, " near ")) != NULL)
			*near = '\0';
		return api_fail(c, 400, "body: line %d column %d: %s",
		                jerr.line, jerr.column, jerr.text);
	}
	if (!json_is_object(c->body))
		return api_fail(c, 400, "body must be a JSON object");
	json_object_foreach(c->body, key, v)
	{
		for (f = rt->fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL)
			return api_fail(c, 400, "unknown field '%s'",
			                jsonutil_printable(key));
		if (!json_is_null(v) && api_field_check(c, f, v) != 0)
			return -ERR_INVALID;
	}
	for (f = rt->fields; f->name != NULL; f++)
		if (f->required && api_get(c, f->name) == NULL)
			return api_fail(c, 400, "field '%s' is missing",
			                f->name);
	return 0;
}

/* ---- Authentication ---- */

/* GET and HEAD change nothing, so they need no CSRF token. */
static bool api_is_safe_method(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Loads the admin token whose hash is given into c->admin, refusing an
 * unknown or revoked one, and sets the audit actor. */
static int api_admin_load(struct api_call *c, const char *hash, bool console)
{
	int r, n;

	r = store_admin_token_get_by_hash(c->st, hash, &c->admin, &c->d);
	if (r == -ERR_NOENT)
		return api_fail(c, 401, "unknown admin token");
	if (r != 0)
		return api_store_result(c, r);
	if (c->admin.revoked)
		return api_fail(c, 401, "admin token '%s' is revoked",
		                c->admin.name);
	n = snprintf(c->actor, sizeof(c->actor),
	             console ? "admin:%s (console)" : "admin:%s",
	             c->admin.name);
	if (n < 0 || (size_t)n >= sizeof(c->actor))
		return api_fail(c, 500, "admin token name too long");
	n = snprintf(c->who, sizeof(c->who), "token '%s'", c->admin.name);
	if (n < 0 || (size_t)n >= sizeof(c->who))
		return api_fail(c, 500, "admin token name too long");
	c->role = c->admin.role;
	return 0;
}

/*
 * Audits a call refused for its role in its own transaction
 * ("access.refused", the caller as actor, the route as target, the role
 * it has and the roles it needs in the details), at most API_REFUSAL_RATE
 * a minute per token when the context bounds it. A refusal whose row
 * cannot be written stands all the same.
 */
static void api_access_refused(struct api_call *c, const struct api_route *rt,
                               const char *needs)
{
	char target[64], key[32];

	/* Bounded per token, or per session for a person an identity
	 * provider signed in: a flood of refusals does not fill the log. */
	if (c->session != NULL && c->session->identity[0] != '\0')
		(void)snprintf(key, sizeof(key), "session:%.16s",
		               c->session->id_hash);
	else
		(void)snprintf(key, sizeof(key), "admin-token:%" PRId64,
		               c->admin.id);
	if (c->a->refusals != NULL &&
	    !enroll_limiter_allow(c->a->refusals, key, store_now(c->st)))
		return;
	(void)snprintf(target, sizeof(target), "%s %s", rt->method,
	               rt->pattern);
	api_audit_alone(c, c->actor, "access.refused", target,
	                json_pack("{s:s,s:s,s:s}", "actor_role",
	                          role_name(c->role), "needs", needs, "path",
	                          jsonutil_printable(c->req->path)));
}

/* May the authenticated caller call rt? A refusal is 403, naming the roles
 * that may and the one the caller has, and is audited. */
static int api_role_check(struct api_call *c, const struct api_route *rt)
{
	char needs[64];

	if (role_may(rt->roles, c->role))
		return 0;
	if (role_set_text(rt->roles, needs, sizeof(needs)) != 0)
		(void)snprintf(needs, sizeof(needs), "?");
	(void)role_refusal(c->err, sizeof(c->err), rt->what, rt->roles, c->who,
	                   c->role);
	c->status = 403;
	api_access_refused(c, rt, needs);
	return -ERR_PERM;
}

/* Authorization: Bearer TOKEN, an admin token that is not revoked. */
static int api_auth_bearer(struct api_call *c)
{
	const char *h = c->req->authorization;
	char hash[CRYPTO_HEX_LEN + 1];

	if (strncasecmp(h, "Bearer ", 7) != 0)
		return api_fail(c, 401,
		                "missing admin token (Authorization: Bearer "
		                "TOKEN)");
	for (h += 7; *h == ' '; h++)
		;
	if (token_hash(h, hash) != 0)
		return api_fail(c, 401, "malformed admin token");
	return api_admin_load(c, hash, false);
}

/*
 * The console session cookie: a live session, an Origin that is this
 * server, the session's CSRF token on anything but GET and HEAD, and an
 * admin token that is still good. The checks come before the session is
 * touched, so a forged request does not keep it alive.
 */
static int api_auth_session(struct api_call *c)
{
	struct session *se;
	int64_t now = store_now(c->st);
	int r, n;

	se = session_find(c->a->sessions, c->req->cookie, now);
	if (se == NULL && session_find_error(c->a->sessions) != 0)
		return api_fail(c, 500,
		                "console sessions: the store cannot be read; "
		                "try again");
	if (se == NULL) {
		c->clear_cookie = true;
		return api_fail(c, 401,
		                "console session expired or unknown; sign in "
		                "again");
	}
	if (!session_origin_ok(c->req->origin, c->req->host))
		return api_fail(c, 403, "Origin '%s' is not this server",
		                jsonutil_printable(c->req->origin));
	if (!api_is_safe_method(c->req->method) &&
	    !session_csrf_ok(se, c->req->csrf_token))
		return api_fail(
		    c, 403,
		    "missing or wrong X-CSRF-Token for this console "
		    "session");
	if (se->identity[0] != '\0') {
		/* A person an identity provider signed in (server/oidc.c):
		 * the actor is that person, and se->role the role name the
		 * configuration mapped them to. */
		n = snprintf(c->actor, sizeof(c->actor), "%s (console)",
		             se->identity);
		if (n < 0 || (size_t)n >= sizeof(c->actor))
			return api_fail(c, 500, "session identity too long");
		(void)snprintf(c->who, sizeof(c->who), "'%s'", se->identity);
		/* Checked when it was mapped; a session row that no longer
		 * names a role (a downgrade, a hand edit) ends here. */
		if (role_parse(se->role, "console session: role", &c->role,
		               &c->d) != 0) {
			session_drop(c->a->sessions, se);
			c->clear_cookie = true;
			return api_fail(c, 401, "%s; sign in again", c->d.msg);
		}
	} else if ((r = api_admin_load(c, se->admin_hash, true)) != 0) {
		if (c->status == 401) {
			session_drop(c->a->sessions, se);
			c->clear_cookie = true;
		}
		return r;
	}
	/* A console that only watches (its event stream reconnecting by
	 * itself) is idle all the same. */
	if (!c->passive)
		session_touch(c->a->sessions, se, now);
	c->until = session_expires(se);
	if (se->last_used + SESSION_IDLE < c->until)
		c->until = se->last_used + SESSION_IDLE;
	c->session = se;
	return 0;
}

/* A bearer token when there is an Authorization header (a script), else
 * the console's session cookie. */
static int api_authenticate(struct api_call *c)
{
	const char *h = c->req->authorization;

	if (h != NULL && *h != '\0')
		return api_auth_bearer(c);
	if (c->a->sessions != NULL && session_has_cookie(c->req->cookie))
		return api_auth_session(c);
	return api_fail(c, 401,
	                "missing admin token (Authorization: Bearer TOKEN)");
}

/*
 * Audits a refused sign-in in its own transaction ("session.refused",
 * actor "peer:ADDR", the reason, never the token). A refusal whose row
 * cannot be written stands all the same.
 */
static void api_login_refused(struct api_call *c)
{
	const char *peer = c->req->peer != NULL ? c->req->peer : "";
	char actor[NET_PEER_MAX + 8];

	(void)snprintf(actor, sizeof(actor), "peer:%s", peer);
	api_audit_alone(c, actor, "session.refused", peer,
	                json_pack("{s:s}", "reason", c->err));
}

/*
 * A console session as the API shows it: who ("admin", the token's name;
 * a person signed in by the identity provider has an "identity" instead),
 * the role, what the role may do by the names of the console's controls
 * ("may": so that the console holds no copy of the role table), the CSRF
 * token and the times. NULL when out of memory.
 */
static json_t *api_session_object(const struct api_call *c,
                                  const struct session *se)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:{s:b,s:b,s:b,s:b,s:b}}",
	                      "role", role_name(c->role), "csrf", se->csrf,
	                      "created_at", (json_int_t)se->created,
	                      "expires_at", (json_int_t)session_expires(se),
	                      "idle_timeout", (json_int_t)SESSION_IDLE, "may",
	                      "read", role_may(ROLE_SET_READ, c->role),
	                      "helpdesk", role_may(ROLE_SET_HELPDESK, c->role),
	                      "audit", role_may(ROLE_SET_AUDIT, c->role),
	                      "admin", role_may(ROLE_SET_ADMIN, c->role),
	                      "owner", role_may(ROLE_SET_OWNER, c->role));

	if (o == NULL)
		return NULL;
	if (se->identity[0] != '\0') {
		if (json_object_set_new(o, "admin", json_null()) != 0 ||
		    json_object_set_new(o, "identity",
		                        json_string(se->identity)) != 0)
			goto fail;
	} else if (json_object_set_new(o, "admin",
	                               json_string(c->admin.name)) != 0) {
		goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* POST /session: an admin token in, a session cookie and its CSRF token
 * out. */
static int api_session_login(struct api_call *c)
{
	struct session_table *t = c->a->sessions;
	char hash[CRYPTO_HEX_LEN + 1];
	struct session se;
	int64_t now = store_now(c->st);
	int r;

	memset(&se, 0, sizeof(se));
	memset(hash, 0, sizeof(hash));
	if (t == NULL) {
		r = api_fail(c, 404, "console sessions are not enabled");
		goto out;
	}
	if (!session_origin_ok(c->req->origin, c->req->host)) {
		r = api_fail(c, 403, "Origin '%s' is not this server",
		             jsonutil_printable(c->req->origin));
		goto out;
	}
	if (!session_login_allow(t, c->req->peer, now)) {
		r = api_fail(c, 429,
		             "too many sign-in attempts from this address; "
		             "wait a minute");
		goto out;
	}
	if (token_hash(api_str(c, "token"), hash) != 0)
		r = api_fail(c, 401, "malformed admin token");
	else
		r = api_admin_load(c, hash, true);
	if (r != 0) {
		if (c->status == 401)
			api_login_refused(c);
		goto out;
	}
	/* A token whose role may not use the console (scim) opens none. */
	if ((r = api_role_check(c, c->route)) != 0)
		goto out;
	if (session_new(c->a->rng, hash, now, &se, c->cookie,
	                sizeof(c->cookie)) != 0) {
		r = api_fail(c, 500, "cannot make a session");
		goto out;
	}
	/* The session and its audit row commit together. */
	if ((r = api_begin(c)) != 0)
		goto out;
	if (session_install(t, c->req->cookie, &se, now) != 0) {
		r = api_fail(c, 500, "cannot store the session");
		goto out;
	}
	if ((r = api_answer(c, 201, api_session_object(c, &se))) != 0 ||
	    (r = api_commit(c, "session.login", c->admin.name, "{s:s}", "peer",
	                    c->req->peer)) != 0)
		goto out;
out:
	if (r != 0)
		crypto_wipe(c->cookie, sizeof(c->cookie));
	crypto_wipe(&se, sizeof(se));
	crypto_wipe(hash, sizeof(hash));
	return r;
}

/* GET /session: who is signed in, and the CSRF token again (for a page
 * that was reloaded; only this origin can read the answer). */
static int api_session_show(struct api_call *c)
{
	const struct session *se = c->session;

	if (se == NULL)
		return api_fail(c, 404,
		                "no console session: this request used a "
		                "bearer token");
	return api_answer(c, 200, api_session_object(c, se));
}

/* DELETE /session: signs out, and tells the browser to drop the cookie. */
static int api_session_logout(struct api_call *c)
{
	int r;

	if (c->session == NULL)
		return api_fail(c, 404,
		                "no console session: this request used a "
		                "bearer token");
	if ((r = api_begin(c)) != 0 ||
	    (r = api_answer(c, 200, json_pack("{s:b}", "signed_out", 1))) !=
	        0 ||
	    (r = api_commit(c, "session.logout",
	                    c->session->identity[0] != '\0'
	                        ? c->session->identity
	                        : c->admin.name,
	                    NULL)) != 0)
		return r;
	session_drop(c->a->sessions, c->session);
	c->session = NULL;
	c->clear_cookie = true;
	return 0;
}

/* ---- Users ---- */

static json_t *api_user_json(struct api_call *c, const void *p)
{
	const struct store_user *u = p;

	(void)c;
	return json_pack("{s:I,s:s,s:s?,s:b,s:I}", "id", (json_int_t)u->id,
	                 "name", u->name, "email", api_nz(u->email), "disabled",
	                 (int)u->disabled, "created_at",
	                 (json_int_t)u->created_at);
}

static int api_answer_removed(struct api_call *c, int64_t id)
{
	return api_answer(
	    c, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "removed", 1));
}

static int api_users_list(struct api_call *c)
{
	struct store_user_list l = {0};
	int r;

	if ((r = api_store_result(c, store_user_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_user_json);
	store_user_list_free(&l);
	return r;
}

static int api_user_add(struct api_call *c)
{
	const char *email = api_str(c, "email");
	struct store_user u = {0};
	int64_t id = 0;
	int r;

	/* A new user has no devices yet: no view changes. */
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(c, store_user_add(c->st, api_str(c, "name"),
	                                            email, &id, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_user_get_id(c->st, id, &u, &c->d))) != 0 ||
	    (r = api_answer(c, 201, api_user_json(c, &u))) != 0)
		goto out;
	r = api_commit(c, "user.add", u.name, email ? "{s:s}" : NULL, "email",
	               email);
out:
	store_user_clear(&u);
	return r;
}

static int api_user_show(struct api_call *c)
{
	struct store_user u = {0};
	struct store_team_list teams = {0};
	struct store_device_list devs = {0};
	json_t *o = NULL;
	int r;

	if ((r = api_store_result(
	         c, store_user_get(c->st, c->arg[0], &u, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_member_teams(c->st, u.id, &teams, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_device_list(c->st, u.id, &devs, &c->d))) != 0)
		goto out;
	o = api_user_json(c, &u);
	if (api_set(o, "teams",
	            api_strings_at(teams.v, teams.n, sizeof(*teams.v),
	                           offsetof(struct store_team, name))) != 0 ||
	    api_set(o, "devices",
	            api_strings_at(devs.v, devs.n, sizeof(*devs.v),
	                           offsetof(struct store_device, id))) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 200, o);
	o = NULL;
out:
	json_decref(o);
	store_user_clear(&u);
	store_team_list_free(&teams);
	store_device_list_free(&devs);
	return r;
}

static int api_user_remove(struct api_call *c)
{
	struct store_user u = {0};
	int r;

	/* Refused while the user has active devices, so no device loses
	 * anything; but grants and memberships go, so views are rebuilt. */
	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_user_get(c->st, c->arg[0], &u, &c->d))) != 0 ||
	    (r = api_store_result(c, store_user_remove(c->st, u.id, &c->d))) !=
	        0 ||
	    (r = api_answer_removed(c, u.id)) != 0)
		goto out;
	r = api_commit(c, "user.remove", u.name, "{s:I}", "id",
	               (json_int_t)u.id);
out:
	store_user_clear(&u);
	return r;
}

static json_t *api_delivery_json(struct api_call *c, const void *p)
{
	const struct store_delivery *dl = p;

	(void)c;
	return json_pack("{s:s,s:s,s:s?,s:I,s:s,s:I,s:I}", "secret",
	                 dl->secret_name, "scope", store_scope_name(dl->scope),
	                 "scope_name", api_nz(dl->scope_name), "version",
	                 (json_int_t)dl->version, "device", dl->device_id,
	                 "revision", (json_int_t)dl->revision, "delivered_at",
	                 (json_int_t)dl->delivered_at);
}

static json_t *api_call_json(struct api_call *c, const void *p);

int api_offboard_user(struct store *st, const struct store_user *u,
                      const char *actor, const char *reason, json_t **report,
                      json_t **audit, struct store_id_list *revoked,
                      struct diag *d)
{
	struct store_id_list ids = {0};
	struct store_delivery_list dl = {0};
	struct store_call_list calls = {0};
	struct store_call_filter cf = {0};
	size_t ntokens = 0;
	json_t *devices = NULL, *rep = NULL, *aud = NULL;
	char *text = NULL;
	int r;

	if ((r = store_user_set_disabled(st, u->id, true, d)) != 0 ||
	    (r = store_device_revoke_user(st, u->id, reason, &ids, d)) != 0 ||
	    (r = store_token_revoke_user(st, u->id, &ntokens, d)) != 0 ||
	    (r = store_delivery_list_user(st, u->id, &dl, d)) != 0)
		goto out;
	/* What they did last through the launchers, for the report. */
	cf.user = u->name;
	cf.limit = API_OFFBOARD_CALLS;
	if ((r = store_calls_list(st, &cf, &calls, d)) != 0)
		goto out;
	/* The JSON builders take no call: they read only the element. */
	if ((devices = api_strings_at(ids.v, ids.n, sizeof(*ids.v), 0)) ==
	        NULL ||
	    (rep = json_pack(
	         "{s:s,s:b,s:O,s:I,s:o,s:o,s:I,s:s,s:s?}", "user", u->name,
	         "disabled", 1, "devices_revoked", devices, "tokens_revoked",
	         (json_int_t)ntokens, "deliveries",
	         api_array(NULL, dl.v, dl.n, sizeof(*dl.v), api_delivery_json),
	         "last_calls",
	         api_array(NULL, calls.v, calls.n, sizeof(*calls.v),
	                   api_call_json),
	         "offboarded_at", (json_int_t)store_now(st), "by", actor,
	         "reason", reason)) == NULL ||
	    (aud = json_pack("{s:s?,s:O,s:I}", "reason", reason,
	                     "devices_revoked", devices, "tokens_revoked",
	                     (json_int_t)ntokens)) == NULL ||
	    (text = json_dumps(rep, JSON_COMPACT)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0,
		             "offboarding '%s': out of memory", u->name);
		goto out;
	}
	if ((r = store_offboarding_add(st, u->id, actor, text, NULL, d)) != 0)
		goto out;
	*report = rep;
	*audit = aud;
	*revoked = ids;
	rep = aud = NULL;
	ids.v = NULL;
	ids.n = 0;
out:
	free(text);
	json_decref(devices);
	json_decref(rep);
	json_decref(aud);
	store_id_list_free(&ids);
	store_delivery_list_free(&dl);
	store_call_list_free(&calls);
	return r;
}

/* POST /users/{name}/offboard: api_offboard_user() in one transaction
 * with its audit row; the report is the answer. */
static int api_user_offboard(struct api_call *c)
{
	const char *reason = api_str(c, "reason");
	struct store_user u = {0};
	struct store_id_list ids = {0};
	json_t *report = NULL, *audit = NULL;
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_user_get(c->st, c->arg[0], &u, &c->d))) != 0 ||
	    (r = api_store_result(c, api_offboard_user(c->st, &u, c->actor,
	                                               reason, &report, &audit,
	                                               &ids, &c->d))) != 0)
		goto out;
	if ((r = api_answer(c, 200, report)) != 0)
		goto out;
	report = NULL;
	if ((r = api_commit(c, "user.offboard", u.name, "O", audit)) != 0)
		goto out;
	c->revoked = ids;
	ids.v = NULL;
	ids.n = 0;
out:
	json_decref(report);
	json_decref(audit);
	store_user_clear(&u);
	store_id_list_free(&ids);
	return r;
}

/* GET /users/{name}/offboarding: the newest stored report. */
static int api_user_offboarding(struct api_call *c)
{
	struct store_user u = {0};
	struct store_offboarding o = {0};
	int r;

	if ((r = api_store_result(
	         c, store_user_get(c->st, c->arg[0], &u, &c->d))) != 0)
		goto out;
	r = store_offboarding_last(c->st, u.id, &o, &c->d);
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		r = api_fail(c, 404,
		             "user '%s' has no offboarding report: they were "
		             "never offboarded",
		             u.name);
		goto out;
	}
	if ((r = api_store_result(c, r)) != 0)
		goto out;
	r = api_answer(c, 200, api_json_text(o.report_json));
out:
	store_user_clear(&u);
	store_offboarding_clear(&o);
	return r;
}

/* ---- Teams and memberships ---- */

static json_t *api_team_json(struct api_call *c, const void *p)
{
	const struct store_team *t = p;

	(void)c;
	return json_pack("{s:I,s:s,s:I}", "id", (json_int_t)t->id, "name",
	                 t->name, "created_at", (json_int_t)t->created_at);
}

static int api_teams_list(struct api_call *c)
{
	struct store_team_list l = {0};
	int r;

	if ((r = api_store_result(c, store_team_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_team_json);
	store_team_list_free(&l);
	return r;
}

static int api_team_add(struct api_call *c)
{
	struct store_team t = {0};
	int64_t id = 0;
	int r;

	/* A new team has no members and no grants: no view changes. */
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(c, store_team_add(c->st, api_str(c, "name"),
	                                            &id, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_team_get_id(c->st, id, &t, &c->d))) != 0 ||
	    (r = api_answer(c, 201, api_team_json(c, &t))) != 0)
		goto out;
	r = api_commit(c, "team.add", t.name, NULL);
out:
	store_team_clear(&t);
	return r;
}

static int api_team_show(struct api_call *c)
{
	struct store_team t = {0};
	struct store_user_list members = {0};
	json_t *o = NULL;
	int r;

	if ((r = api_store_result(
	         c, store_team_get(c->st, c->arg[0], &t, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_member_users(c->st, t.id, &members, &c->d))) != 0)
		goto out;
	o = api_team_json(c, &t);
	if (api_set(o, "members",
	            api_strings_at(members.v, members.n, sizeof(*members.v),
	                           offsetof(struct store_user, name))) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 200, o);
	o = NULL;
out:
	json_decref(o);
	store_team_clear(&t);
	store_user_list_free(&members);
	return r;
}

static int api_team_remove(struct api_call *c)
{
	struct store_team t = {0};
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_team_get(c->st, c->arg[0], &t, &c->d))) != 0 ||
	    (r = api_store_result(c, store_team_remove(c->st, t.id, &c->d))) !=
	        0 ||
	    (r = api_answer_removed(c, t.id)) != 0)
		goto out;
	r = api_commit(c, "team.remove", t.name, "{s:I}", "id",
	               (json_int_t)t.id);
out:
	store_team_clear(&t);
	return r;
}

/* Adds (add) or removes the membership of user in the path's team. */
static int api_member_change(struct api_call *c, const char *user, bool add)
{
	struct store_team t = {0};
	struct store_user u = {0};
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_team_get(c->st, c->arg[0], &t, &c->d))) != 0 ||
	    (r = api_store_result(c, store_user_get(c->st, user, &u, &c->d))) !=
	        0)
		goto out;
	r = add ? store_member_add(c->st, t.id, u.id, &c->d)
	        : store_member_remove(c->st, t.id, u.id, &c->d);
	if ((r = api_store_result(c, r)) != 0 ||
	    (r = api_answer(c, add ? 201 : 200,
	                    json_pack(add ? "{s:s,s:s}" : "{s:s,s:s,s:b}",
	                              "team", t.name, "user", u.name, "removed",
	                              1))) != 0)
		goto out;
	r = api_commit(c, add ? "team.member.add" : "team.member.remove",
	               t.name, "{s:s}", "user", u.name);
out:
	store_team_clear(&t);
	store_user_clear(&u);
	return r;
}

static int api_member_add(struct api_call *c)
{
	return api_member_change(c, api_str(c, "user"), true);
}

static int api_member_remove(struct api_call *c)
{
	return api_member_change(c, c->arg[1], false);
}

/* ---- Servers ---- */

static json_t *api_server_json(struct api_call *c, const void *p)
{
	const struct store_server *s = p;

	(void)c;
	return json_pack("{s:I,s:s,s:o,s:I,s:I}", "id", (json_int_t)s->id,
	                 "name", s->name, "entry", api_json_text(s->entry_json),
	                 "created_at", (json_int_t)s->created_at, "updated_at",
	                 (json_int_t)s->updated_at);
}

static json_t *api_grant_json(struct api_call *c, const void *p)
{
	const struct store_grant *g = p;

	(void)c;
	return json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:s?,s:o,s:I}", "id",
	                 (json_int_t)g->id, "server", g->server_name, "target",
	                 store_target_name(g->kind), "target_name",
	                 g->target_name, "tools_allow",
	                 api_json_text(g->tools_allow), "tools_deny",
	                 api_json_text(g->tools_deny), "rate", g->rate,
	                 "tool_rates", api_json_text(g->tool_rates),
	                 "created_at", (json_int_t)g->created_at);
}

static int api_servers_list(struct api_call *c)
{
	struct store_server_list l = {0};
	int r;

	if ((r = api_store_result(c, store_server_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_server_json);
	store_server_list_free(&l);
	return r;
}

/*
 * Validates the body's "entry" for server name with the agent's own
 * catalogue code (secret references allowed) and returns its text as the
 * store keeps it (caller frees), and in *audit what its audit row shows:
 * the entry, or its size when it is too large for the row.
 */
static int api_entry_check(struct api_call *c, const char *name, char **text,
                           json_t **audit)
{
	struct catalogue_opts opts = {.allow_secret_refs = true};
	struct server s = {0};
	json_t *entry = api_get(c, "entry");
	size_t len;
	int r;

	r = server_from_json(name, entry, &opts, &s, &c->d);
	server_clear(&s);
	if (r == -ERR_NOMEM)
		return api_nomem(c);
	if (r != 0)
		return api_fail(c, 400, "field 'entry': %s", c->d.msg);
	if ((*text = json_dumps(entry, JSON_COMPACT)) == NULL)
		return api_nomem(c);
	len = strlen(*text);
	*audit = len <= API_AUDIT_ENTRY_MAX
	             ? json_incref(entry)
	             : json_pack("{s:I}", "bytes", (json_int_t)len);
	return *audit != NULL ? 0 : api_nomem(c);
}

/* POST /servers (add) and PUT /servers/{name}: validate, store, answer
 * the server as stored, audit. */
static int api_server_put(struct api_call *c, const char *name, bool add)
{
	struct store_server s = {0};
	char *text = NULL;
	json_t *audit = NULL;
	int64_t id = 0;
	int r;

	c->changed = true;
	if (add && server_name_check(name, &c->d) != 0) {
		r = api_fail(c, 400, "field 'name': %s", c->d.msg);
		goto out;
	}
	if ((r = api_begin(c)) != 0)
		goto out;
	if (!add) {
		if ((r = api_store_result(
		         c, store_server_get(c->st, name, &s, &c->d))) != 0)
			goto out;
		id = s.id;
		store_server_clear(&s);
	}
	if ((r = api_entry_check(c, name, &text, &audit)) != 0)
		goto out;
	r = add ? store_server_add(c->st, name, text, &id, &c->d)
	        : store_server_set(c->st, id, text, &c->d);
	if ((r = api_store_result(c, r)) != 0 ||
	    (r = api_store_result(
	         c, store_server_get_id(c->st, id, &s, &c->d))) != 0 ||
	    (r = api_answer(c, add ? 201 : 200, api_server_json(c, &s))) != 0)
		goto out;
	r = api_commit(c, add ? "server.add" : "server.set", s.name,
	               "{s:I,s:O}", "id", (json_int_t)id, "entry", audit);
out:
	json_decref(audit);
	free(text);
	store_server_clear(&s);
	return r;
}

static int api_server_add(struct api_call *c)
{
	return api_server_put(c, api_str(c, "name"), true);
}

static int api_server_set(struct api_call *c)
{
	return api_server_put(c, c->arg[0], false);
}

static int api_server_show(struct api_call *c)
{
	struct store_server s = {0};
	struct store_grant_list grants = {0};
	json_t *o = NULL;
	int r;

	if ((r = api_store_result(
	         c, store_server_get(c->st, c->arg[0], &s, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_grant_list(c->st, s.id, &grants, &c->d))) != 0)
		goto out;
	o = api_server_json(c, &s);
	if (api_set(o, "grants",
	            api_array(c, grants.v, grants.n, sizeof(*grants.v),
	                      api_grant_json)) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 200, o);
	o = NULL;
out:
	json_decref(o);
	store_server_clear(&s);
	store_grant_list_free(&grants);
	return r;
}

static int api_server_remove(struct api_call *c)
{
	struct store_server s = {0};
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_server_get(c->st, c->arg[0], &s, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_server_remove(c->st, s.id, &c->d))) != 0 ||
	    (r = api_answer_removed(c, s.id)) != 0)
		goto out;
	r = api_commit(c, "server.remove", s.name, "{s:I}", "id",
	               (json_int_t)s.id);
out:
	store_server_clear(&s);
	return r;
}

/* ---- Grants ---- */

/*
 * Resolves "team" or "user" (body fields, or query parameters) to a scope:
 * org when neither is given. The caller says whether one is required.
 */
static int api_scope(struct api_call *c, const char *team, const char *user,
                     enum store_scope *scope, int64_t *id)
{
	struct store_team t = {0};
	struct store_user u = {0};
	int r = 0;

	if (team != NULL && user != NULL)
		return api_fail(c, 400,
		                "give at most one of 'team' and 'user'");
	*scope = STORE_SCOPE_ORG;
	*id = 0;
	if (team != NULL &&
	    (r = api_store_result(c, store_team_get(c->st, team, &t, &c->d))) ==
	        0) {
		*scope = STORE_SCOPE_TEAM;
		*id = t.id;
	}
	if (user != NULL &&
	    (r = api_store_result(c, store_user_get(c->st, user, &u, &c->d))) ==
	        0) {
		*scope = STORE_SCOPE_USER;
		*id = u.id;
	}
	store_team_clear(&t);
	store_user_clear(&u);
	return r;
}

/* Fetches grant id (of server_id, or of any server when 0) into *out. */
static int api_grant_find(struct api_call *c, int64_t server_id, int64_t id,
                          struct store_grant *out)
{
	struct store_grant_list l = {0};
	size_t i;
	int r;

	if ((r = api_store_result(
	         c, store_grant_list(c->st, server_id, &l, &c->d))) != 0)
		return r;
	for (i = 0; i < l.n && l.v[i].id != id; i++)
		;
	if (i < l.n) {
		*out = l.v[i];
		memset(&l.v[i], 0, sizeof(l.v[i]));
	} else {
		r = api_fail(c, 404, "no grant with id %" PRId64, id);
	}
	store_grant_list_free(&l);
	return r;
}

static int api_grants_list(struct api_call *c)
{
	const char *name = net_request_param(c->req, "server");
	struct store_server s = {0};
	struct store_grant_list l = {0};
	int r;

	if ((name == NULL ||
	     (r = api_store_result(
	          c, store_server_get(c->st, name, &s, &c->d))) == 0) &&
	    (r = api_store_result(
	         c, store_grant_list(c->st, s.id, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_grant_json);
	store_server_clear(&s);
	store_grant_list_free(&l);
	return r;
}

static int api_grant_add(struct api_call *c)
{
	json_t *everyone = api_get(c, "everyone");
	const char *team = api_str(c, "team"), *user = api_str(c, "user");
	struct store_server s = {0};
	struct store_grant g = {0};
	struct store_grant_limits lim = {0};
	enum store_scope scope;
	enum store_target kind;
	char *allow = NULL, *deny = NULL, *tool_rates = NULL;
	int64_t target = 0, id = 0;
	int r;

	c->changed = true;
	if ((everyone != NULL) + (team != NULL) + (user != NULL) != 1) {
		r = api_fail(c, 400,
		             "give exactly one of 'everyone', 'team' or "
		             "'user'");
		goto out;
	}
	if (everyone != NULL && !json_is_true(everyone)) {
		r = api_fail(c, 400, "field 'everyone' must be true");
		goto out;
	}
	if (api_get(c, "tool_rates") != NULL &&
	    (tool_rates = json_dumps(api_get(c, "tool_rates"), JSON_COMPACT)) ==
	        NULL) {
		r = api_fail(c, 500, "out of memory");
		goto out;
	}
	if ((r = api_strings_text(c, "tools_allow", &allow)) != 0 ||
	    (r = api_strings_text(c, "tools_deny", &deny)) != 0 ||
	    (r = api_begin(c)) != 0 ||
	    (r = api_store_result(c,
	                          store_server_get(c->st, api_str(c, "server"),
	                                           &s, &c->d))) != 0 ||
	    (r = api_scope(c, team, user, &scope, &target)) != 0)
		goto out;
	kind = scope == STORE_SCOPE_TEAM   ? STORE_TARGET_TEAM
	       : scope == STORE_SCOPE_USER ? STORE_TARGET_USER
	                                   : STORE_TARGET_EVERYONE;
	lim.tools_allow = allow;
	lim.tools_deny = deny;
	lim.rate = api_str(c, "rate");
	lim.tool_rates = tool_rates;
	if ((r = api_store_result(c, store_grant_add(c->st, s.id, kind, target,
	                                             &lim, &id, &c->d))) != 0 ||
	    (r = api_grant_find(c, s.id, id, &g)) != 0 ||
	    (r = api_answer(c, 201, api_grant_json(c, &g))) != 0)
		goto out;
	r = api_commit(
	    c, "grant.add", g.server_name, "{s:I,s:s,s:s,s:O?,s:O?,s:s?,s:o?}",
	    "id", (json_int_t)g.id, "target", store_target_name(g.kind),
	    "target_name", g.target_name, "tools_allow",
	    api_get(c, "tools_allow"), "tools_deny", api_get(c, "tools_deny"),
	    "rate", g.rate, "tool_rates",
	    g.tool_rates != NULL ? api_json_text(g.tool_rates) : NULL);
out:
	free(allow);
	free(deny);
	free(tool_rates);
	store_server_clear(&s);
	store_grant_clear(&g);
	return r;
}

static int api_grant_remove(struct api_call *c)
{
	struct store_grant g = {0};
	int64_t id = 0;
	int r;

	c->changed = true;
	if ((r = api_arg_id(c, 0, "grant id", &id)) != 0 ||
	    (r = api_begin(c)) != 0 ||
	    (r = api_grant_find(c, 0, id, &g)) != 0 ||
	    (r = api_store_result(c, store_grant_remove(c->st, id, &c->d))) !=
	        0 ||
	    (r = api_answer_removed(c, id)) != 0)
		goto out;
	r = api_commit(c, "grant.remove", g.server_name, "{s:I,s:s,s:s}", "id",
	               (json_int_t)id, "target", store_target_name(g.kind),
	               "target_name", g.target_name);
out:
	store_grant_clear(&g);
	return r;
}

/* ---- Secrets ---- */

/* A secret version's metadata; scope_name NULL or "" for org. */
static json_t *api_secret_pack(int64_t id, const char *name,
                               enum store_scope scope, const char *scope_name,
                               int64_t version, int64_t updated_at)
{
	return json_pack("{s:I,s:s,s:s,s:s?,s:I,s:I}", "id", (json_int_t)id,
	                 "name", name, "scope", store_scope_name(scope),
	                 "scope_name", api_nz(scope_name), "version",
	                 (json_int_t)version, "updated_at",
	                 (json_int_t)updated_at);
}

static json_t *api_secret_json(struct api_call *c, const void *p)
{
	const struct store_secret *s = p;

	(void)c;
	return api_secret_pack(s->id, s->name, s->scope, s->scope_name,
	                       s->version, s->created_at);
}

static int api_secrets_list(struct api_call *c)
{
	struct store_secret_list l = {0};
	int r;

	if ((r = api_store_result(c, store_secret_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_secret_json);
	store_secret_list_free(&l);
	return r;
}

/*
 * Stores a new version of a secret: the record id comes first, because
 * the sealed value authenticates it (store.h). The value goes nowhere but
 * into crypto_seal(); neither the answer nor the audit row carries it.
 */
static int api_secret_set(struct api_call *c)
{
	json_t *value = api_get(c, "value");
	const char *name = c->arg[0];
	const char *team = api_str(c, "team"), *user = api_str(c, "user");
	const char *scope_name = team != NULL ? team : user;
	enum store_scope scope;
	int64_t scope_id, id = 0, version = 0;
	char aad[STORE_AAD_MAX];
	uint8_t *sealed = NULL;
	size_t aadlen = 0, n = 0;
	int r;

	c->changed = true;
	if (c->a->rng == NULL || c->a->master == NULL) {
		r = api_fail(c, 500, "no master key to seal secrets with");
		goto out;
	}
	if ((r = api_begin(c)) != 0 ||
	    (r = api_scope(c, team, user, &scope, &scope_id)) != 0 ||
	    (r = api_store_result(c, store_secret_next(c->st, name, scope,
	                                               scope_id, &id, &version,
	                                               &c->d))) != 0)
		goto out;
	if (store_secret_aad(id, aad, &aadlen) != 0 ||
	    crypto_seal(c->a->rng, c->a->master, aad, aadlen,
	                json_string_value(value), json_string_length(value),
	                &sealed, &n, &c->d) != 0) {
		r = api_fail(c, 500, "cannot seal secret '%s': %s", name,
		             c->d.msg);
		goto out;
	}
	if ((r = api_store_result(
	         c, store_secret_put(c->st, id, sealed, n, &c->d))) != 0 ||
	    (r = api_answer(c, 201,
	                    api_secret_pack(id, name, scope, scope_name,
	                                    version, store_now(c->st)))) != 0)
		goto out;
	r = api_commit(c, "secret.set", name, "{s:I,s:s,s:s?,s:I}", "id",
	               (json_int_t)id, "scope", store_scope_name(scope),
	               "scope_name", scope_name, "version",
	               (json_int_t)version);
out:
	free(sealed);
	return r;
}

static int api_secret_remove(struct api_call *c)
{
	const char *team = net_request_param(c->req, "team");
	const char *user = net_request_param(c->req, "user");
	const char *scope_name = team != NULL ? team : user;
	enum store_scope scope;
	int64_t scope_id;
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_scope(c, team, user, &scope, &scope_id)) != 0 ||
	    (r = api_store_result(c,
	                          store_secret_remove(c->st, c->arg[0], scope,
	                                              scope_id, &c->d))) != 0 ||
	    (r = api_answer(c, 200,
	                    json_pack("{s:s,s:s,s:s?,s:b}", "name", c->arg[0],
	                              "scope", store_scope_name(scope),
	                              "scope_name", scope_name, "removed",
	                              1))) != 0)
		goto out;
	r = api_commit(c, "secret.remove", c->arg[0], "{s:s,s:s?}", "scope",
	               store_scope_name(scope), "scope_name", scope_name);
out:
	return r;
}

/* ---- Enrollment tokens ---- */

static json_t *api_token_json(struct api_call *c, const void *p)
{
	const struct store_token *t = p;

	(void)c;
	return json_pack(
	    "{s:I,s:s,s:I,s:I,s:b,s:I,s:s?}", "id", (json_int_t)t->id, "user",
	    t->user_name, "expires_at", (json_int_t)t->expires_at, "uses_left",
	    (json_int_t)t->uses_left, "revoked", (int)t->revoked, "created_at",
	    (json_int_t)t->created_at, "created_by", api_nz(t->created_by));
}

static int api_tokens_list(struct api_call *c)
{
	struct store_token_list l = {0};
	int r;

	if ((r = api_store_result(c, store_token_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_token_json);
	store_token_list_free(&l);
	return r;
}

/* Answers the token and its link this once; the store keeps the hash and
 * the audit row neither. */
static int api_token_create(struct api_call *c)
{
	int64_t ttl = c->a->token_ttl > 0 ? c->a->token_ttl : API_TTL_DEFAULT;
	int64_t uses = api_int(c, "uses", 1), id = 0;
	char tok[TOKEN_LEN + 1], hash[CRYPTO_HEX_LEN + 1];
	char link[TOKEN_LINK_MAX];
	struct store_user u = {0};
	struct store_token t = {0};
	json_t *o = NULL;
	int r;

	memset(tok, 0, sizeof(tok));
	memset(link, 0, sizeof(link));
	ttl = api_int(c, "ttl", ttl < API_TTL_MAX ? ttl : API_TTL_MAX);
	if ((r = api_store_result(
	         c, store_user_get(c->st, api_str(c, "user"), &u, &c->d))) != 0)
		goto out;
	if (u.disabled) {
		r = api_fail(c, 409, "user '%s' is disabled (offboarded)",
		             u.name);
		goto out;
	}
	if (c->a->rng == NULL || c->a->link_host == NULL ||
	    c->a->ca_pin == NULL || token_new(c->a->rng, tok, hash) != 0 ||
	    token_link(c->a->link_host, c->a->api_port, tok, c->a->ca_pin, link,
	               sizeof(link)) != 0) {
		r = api_fail(c, 500, "cannot make an enrollment link");
		goto out;
	}
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(c, store_token_create(c->st, hash, u.id,
	                                                store_now(c->st) + ttl,
	                                                uses, c->actor, &id,
	                                                &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_token_get_by_hash(c->st, hash, &t, &c->d))) != 0)
		goto out;
	o = api_token_json(c, &t);
	if (api_set(o, "token", json_string(tok)) != 0 ||
	    api_set(o, "link", json_string(link)) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 201, o);
	o = NULL;
	if (r == 0)
		r = api_commit(c, "token.create", u.name, "{s:I,s:I,s:I}", "id",
		               (json_int_t)id, "expires_at",
		               (json_int_t)t.expires_at, "uses",
		               (json_int_t)uses);
out:
	crypto_wipe(tok, sizeof(tok));
	crypto_wipe(link, sizeof(link));
	json_decref(o);
	store_user_clear(&u);
	store_token_clear(&t);
	return r;
}

static int api_token_revoke(struct api_call *c)
{
	struct store_token_list l = {0};
	struct store_token *t = NULL;
	int64_t id = 0;
	size_t i;
	int r;

	if ((r = api_arg_id(c, 0, "token id", &id)) != 0 ||
	    (r = api_begin(c)) != 0 ||
	    (r = api_store_result(c, store_token_revoke(c->st, id, &c->d))) !=
	        0 ||
	    (r = api_store_result(c, store_token_list(c->st, &l, &c->d))) != 0)
		goto out;
	for (i = 0; i < l.n && t == NULL; i++)
		if (l.v[i].id == id)
			t = &l.v[i];
	if (t == NULL) {
		r = api_fail(c, 500, "token %" PRId64 " vanished", id);
		goto out;
	}
	if ((r = api_answer(c, 200, api_token_json(c, t))) != 0)
		goto out;
	r = api_commit(c, "token.revoke", t->user_name, "{s:I}", "id",
	               (json_int_t)id);
out:
	store_token_list_free(&l);
	return r;
}

/* ---- Devices ---- */

/* The device as stored, with the live facts preset to "not connected". */
static json_t *api_device_base(const struct store_device *dev)
{
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:o,s:I,s:s,s:o,s:s?,"
	    "s:I,s:b,s:n}",
	    "id", dev->id, "user", dev->user_name, "hostname", dev->hostname,
	    "os", dev->os, "cert_serial", dev->cert_serial, "cert_fingerprint",
	    dev->cert_fingerprint, "cert_not_after",
	    api_time(dev->cert_not_after), "enrolled_at",
	    (json_int_t)dev->enrolled_at, "last_seen", api_time(dev->last_seen),
	    "applied_revision", (json_int_t)dev->applied_revision, "status",
	    dev->status == STORE_DEVICE_REVOKED ? "revoked" : "active",
	    "revoked_at", api_time(dev->revoked_at), "revoke_reason",
	    dev->revoke_reason, "calls_dropped", (json_int_t)dev->calls_dropped,
	    "connected", 0, "connected_since");
}

/* Lets the daemon core add what only it knows (connected, omitted). */
static json_t *api_device_extra(struct api_call *c, const char *id, json_t *o)
{
	const struct api_hooks *h = &c->a->hooks;

	if (o != NULL && h->device_extra != NULL)
		h->device_extra(h->arg, id, o);
	return o;
}

json_t *api_device_object(const struct api_hooks *h,
                          const struct store_device *dev)
{
	json_t *o = api_device_base(dev);

	if (o != NULL && h->device_extra != NULL)
		h->device_extra(h->arg, dev->id, o);
	return o;
}

static json_t *api_device_json(struct api_call *c, const void *p)
{
	const struct store_device *dev = p;

	return api_device_extra(c, dev->id, api_device_base(dev));
}

/* GET /devices/{id}, and the answer of a revocation: the device with
 * its last report. */
static int api_device_answer(struct api_call *c)
{
	struct store_device dev = {0};
	json_t *o = NULL;
	int r;

	if ((r = api_store_result(
	         c, store_device_get(c->st, c->arg[0], &dev, &c->d))) != 0)
		goto out;
	o = api_device_base(&dev);
	if (api_set(o, "report", api_json_text(dev.report_json)) != 0 ||
	    api_set(o, "omitted", json_null()) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 200, api_device_extra(c, dev.id, o));
	o = NULL;
out:
	json_decref(o);
	store_device_clear(&dev);
	return r;
}

static int api_devices_list(struct api_call *c)
{
	const char *name = net_request_param(c->req, "user");
	struct store_user u = {0};
	struct store_device_list l = {0};
	int r;

	if ((name == NULL ||
	     (r = api_store_result(
	          c, store_user_get(c->st, name, &u, &c->d))) == 0) &&
	    (r = api_store_result(
	         c, store_device_list(c->st, u.id, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_device_json);
	store_user_clear(&u);
	store_device_list_free(&l);
	return r;
}

static int api_device_revoke(struct api_call *c)
{
	const char *reason = api_str(c, "reason");
	const char *user;
	char **ids = NULL;
	int r;

	c->changed = true;
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_device_revoke(c->st, c->arg[0], reason, &c->d))) !=
	        0 ||
	    (r = api_device_answer(c)) != 0)
		goto out;
	user = json_string_value(json_object_get(c->out, "user"));
	if ((ids = calloc(1, sizeof(*ids))) == NULL ||
	    (ids[0] = strdup(c->arg[0])) == NULL) {
		r = api_nomem(c);
		goto out;
	}
	if ((r = api_commit(c, "device.revoke", c->arg[0], "{s:s?,s:s?}",
	                    "user", user, "reason", reason)) != 0)
		goto out;
	c->revoked.v = ids;
	c->revoked.n = 1;
	ids = NULL;
out:
	if (ids != NULL)
		free(ids[0]);
	free(ids);
	return r;
}

/* ---- Calls ---- */

static json_t *api_call_json(struct api_call *c, const void *p)
{
	const struct store_call *v = p;

	(void)c;
	return json_pack(
	    "{s:I,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:I,s:s,s:I,s:I,"
	    "s:s?,s:I}",
	    "id", (json_int_t)v->id, "device", v->device_id, "user",
	    v->user_name, "seq", (json_int_t)v->seq, "at",
	    (json_int_t)(v->at_ms / 1000), "at_ms", (json_int_t)v->at_ms,
	    "server", v->server, "method", v->method, "name", v->name,
	    "duration_us", (json_int_t)v->duration_us, "outcome",
	    store_call_outcome_name(v->outcome), "bytes_in",
	    (json_int_t)v->bytes_in, "bytes_out", (json_int_t)v->bytes_out,
	    "detail", v->detail, "received_at", (json_int_t)v->received_at);
}

/* An optional text parameter: NULL when absent or empty, else at most
 * max bytes. */
static int api_query_text(struct api_call *c, const char *key, size_t max,
                          const char **out)
{
	const char *v = net_request_param(c->req, key);

	if (v != NULL && strlen(v) > max)
		return api_fail(c, 400,
		                "query parameter '%s' is longer than %zu bytes",
		                key, max);
	*out = v != NULL && *v != '\0' ? v : NULL;
	return 0;
}

/* order=oldest|newest into *newest; absent or empty, newest_default.
 * The audit and calls lists share it (server/API.md). */
static int api_query_order(struct api_call *c, bool newest_default,
                           bool *newest)
{
	const char *order = NULL;
	int r;

	if ((r = api_query_text(c, "order", 16, &order)) != 0)
		return r;
	if (order == NULL)
		*newest = newest_default;
	else if (strcmp(order, "newest") == 0)
		*newest = true;
	else if (strcmp(order, "oldest") == 0)
		*newest = false;
	else
		return api_fail(
		    c, 400, "query parameter 'order' must be oldest or newest");
	return 0;
}

/* GET calls: newest first (paging on with before), or with order=oldest
 * oldest first (paging on with after), filtered (server/API.md, "Calls"). */
static int api_calls_list(struct api_call *c)
{
	struct store_call_filter f = {0};
	struct store_call_list l = {0};
	bool newest = true;
	int64_t limit;
	int r;

	f.user = net_request_param(c->req, "user");
	f.device_id = net_request_param(c->req, "device");
	f.server = net_request_param(c->req, "server");
	f.name = net_request_param(c->req, "tool");
	f.outcome = net_request_param(c->req, "outcome");
	/* Unix seconds, as for the audit log. */
	if ((r = api_query_int(c, "since", 0, INT64_MAX / 1000, 0,
	                       &f.since_ms)) != 0 ||
	    (r = api_query_int(c, "until", 0, INT64_MAX / 1000, 0,
	                       &f.until_ms)) != 0 ||
	    (r = api_query_int(c, "after", 0, INT64_MAX, 0, &f.after_id)) !=
	        0 ||
	    (r = api_query_int(c, "before", 0, INT64_MAX, 0, &f.before_id)) !=
	        0 ||
	    (r = api_query_int(c, "limit", 1, STORE_CALL_LIMIT, 100, &limit)) !=
	        0 ||
	    (r = api_query_order(c, true, &newest)) != 0)
		goto out;
	f.oldest = !newest;
	f.limit = (size_t)limit;
	f.since_ms *= 1000;
	f.until_ms *= 1000;
	if (f.outcome != NULL &&
	    store_call_outcome_parse(f.outcome,
	                             &(enum store_call_outcome){0}) != 0) {
		r = api_fail(c, 400,
		             "query parameter 'outcome' must be ok, error, "
		             "denied or rate_limited");
		goto out;
	}
	if ((r = api_store_result(c, store_calls_list(c->st, &f, &l, &c->d))) !=
	    0)
		goto out;
	r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_call_json);
out:
	store_call_list_free(&l);
	return r;
}

/* ---- Audit ---- */

static json_t *api_audit_json(struct api_call *c, const void *p)
{
	const struct store_audit *a = p;

	(void)c;
	return json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:s,s:s}", "id",
	                 (json_int_t)a->id, "at", (json_int_t)a->at, "actor",
	                 a->actor, "action", a->action, "target", a->target,
	                 "details", api_json_text(a->details), "hash", a->hash,
	                 "prev_hash", a->prev_hash);
}

/* GET audit: oldest first (paging on with after), or with order=newest
 * newest first (paging on with before), filtered by action, actor and
 * time (server/API.md, "Audit"). */
static int api_audit_list(struct api_call *c)
{
	struct store_audit_filter f = {0};
	struct store_audit_list l = {0};
	int64_t limit = 0;
	int r;

	if ((r = api_query_int(c, "since", 0, INT64_MAX, 0, &f.since)) != 0 ||
	    (r = api_query_int(c, "until", 0, INT64_MAX, 0, &f.until)) != 0 ||
	    (r = api_query_int(c, "after", 0, INT64_MAX, 0, &f.after_id)) !=
	        0 ||
	    (r = api_query_int(c, "before", 0, INT64_MAX, 0, &f.before_id)) !=
	        0 ||
	    (r = api_query_int(c, "limit", 1, STORE_AUDIT_LIMIT,
	                       API_AUDIT_DEFAULT, &limit)) != 0 ||
	    (r = api_query_text(c, "action", 255, &f.action)) != 0 ||
	    (r = api_query_text(c, "actor", 255, &f.actor)) != 0 ||
	    (r = api_query_order(c, false, &f.newest)) != 0)
		goto out;
	f.limit = (size_t)limit;
	if ((r = api_store_result(c, store_audit_find(c->st, &f, &l, &c->d))) !=
	    0)
		goto out;
	r = api_answer_list(c, l.v, l.n, sizeof(*l.v), api_audit_json);
out:
	store_audit_list_free(&l);
	return r;
}

/* A chain that does not verify: 409 with the first bad row. */
static int api_audit_broken(struct api_call *c, int64_t bad)
{
	json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", c->d.msg);

	if (o != NULL && bad > 0 &&
	    json_object_set_new(o, "first_bad_id", json_integer(bad)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return api_answer(c, 409, o);
}

static int api_audit_verify(struct api_call *c)
{
	struct store_audit_head h;
	int64_t bad = 0;
	int r;

	r = store_audit_verify_head(c->st, NULL, &h, &bad, &c->d);
	if (r == -ERR_VERIFY)
		return api_audit_broken(c, bad);
	if ((r = api_store_result(c, r)) != 0)
		return r;
	return api_answer(c, 200,
	                  json_pack("{s:b,s:I,s:I}", "ok", 1, "rows",
	                            (json_int_t)h.rows, "keyed_from",
	                            (json_int_t)h.keyed_from));
}

/*
 * GET audit/checkpoint: the head of the chain, verified first (a broken
 * chain is never signed), signed with the catalogue signing key.
 */
static int api_audit_checkpoint(struct api_call *c)
{
	struct store_audit_head h;
	struct checkpoint cp;
	int64_t bad = 0;
	int r;

	memset(&cp, 0, sizeof(cp));
	if (c->a->signer == NULL || c->a->signer_pub_pem == NULL ||
	    c->a->rng == NULL)
		return api_fail(c, 500,
		                "no signing key to sign a checkpoint "
		                "with");
	r = store_audit_verify_head(c->st, NULL, &h, &bad, &c->d);
	if (r == -ERR_VERIFY)
		return api_audit_broken(c, bad);
	if ((r = api_store_result(c, r)) != 0)
		return r;
	cp.rows = h.rows;
	cp.last_id = h.rows;
	memcpy(cp.head_hash, h.hash, sizeof(cp.head_hash));
	cp.head_at = h.at;
	cp.keyed_from = h.keyed_from;
	cp.at = store_now(c->st);
	diag_clear(&c->d);
	if ((r = checkpoint_sign(&cp, c->a->signer, c->a->signer_pub_pem,
	                         c->a->rng, &c->d)) != 0) {
		r = api_fail(c, 500, "checkpoint: %s", c->d.msg);
		goto out;
	}
	r = api_answer(c, 200, checkpoint_json(&cp));
out:
	checkpoint_clear(&cp);
	return r;
}

/*
 * POST audit/verify {"checkpoint": {...}}: the checkpoint must carry this
 * server's signature, and the chain must verify and still hold it.
 */
static int api_audit_verify_checkpoint(struct api_call *c)
{
	struct store_audit_head h, want;
	struct checkpoint cp;
	int64_t bad = 0;
	int r;

	memset(&cp, 0, sizeof(cp));
	if (c->a->signer_key_id == NULL)
		return api_fail(c, 500,
		                "no signing key to check a checkpoint "
		                "with");
	if (checkpoint_from_json(json_object_get(c->body, "checkpoint"), &cp,
	                         &c->d) != 0)
		return api_fail(c, 400, "%s", c->d.msg);
	if (checkpoint_verify(&cp, c->a->signer_key_id, &c->d) != 0) {
		r = api_audit_broken(c, 0);
		goto out;
	}
	memset(&want, 0, sizeof(want));
	want.rows = cp.rows;
	want.at = cp.head_at;
	memcpy(want.hash, cp.head_hash, sizeof(want.hash));
	want.keyed_from = cp.keyed_from;
	r = store_audit_verify_head(c->st, &want, &h, &bad, &c->d);
	if (r == -ERR_VERIFY) {
		r = api_audit_broken(c, bad);
		goto out;
	}
	if ((r = api_store_result(c, r)) != 0)
		goto out;
	r = api_answer(c, 200,
	               json_pack("{s:b,s:I,s:I,s:{s:I,s:s,s:I,s:s}}", "ok", 1,
	                         "rows", (json_int_t)h.rows, "keyed_from",
	                         (json_int_t)h.keyed_from, "checkpoint", "rows",
	                         (json_int_t)cp.rows, "head_hash", cp.head_hash,
	                         "at", (json_int_t)cp.at, "signer_key_id",
	                         cp.key_id));
out:
	checkpoint_clear(&cp);
	return r;
}

/* ---- Admin tokens ---- */

static json_t *api_admin_token_json(struct api_call *c, const void *p)
{
	const struct store_admin_token *t = p;

	(void)c;
	return json_pack("{s:I,s:s,s:s,s:I,s:b}", "id", (json_int_t)t->id,
	                 "name", t->name, "role", role_name(t->role),
	                 "created_at", (json_int_t)t->created_at, "revoked",
	                 (int)t->revoked);
}

static int api_admin_tokens_list(struct api_call *c)
{
	struct store_admin_token_list l = {0};
	int r;

	if ((r = api_store_result(
	         c, store_admin_token_list(c->st, &l, &c->d))) == 0)
		r = api_answer_list(c, l.v, l.n, sizeof(*l.v),
		                    api_admin_token_json);
	store_admin_token_list_free(&l);
	return r;
}

static int api_admin_token_create(struct api_call *c)
{
	char tok[TOKEN_LEN + 1], hash[CRYPTO_HEX_LEN + 1];
	struct store_admin_token t = {0};
	enum role role = ROLE_DEFAULT;
	int64_t id = 0;
	json_t *o = NULL;
	int r;

	memset(tok, 0, sizeof(tok));
	if (api_str(c, "role") != NULL &&
	    (r = api_store_result(
	         c, role_parse(api_str(c, "role"), "role", &role, &c->d))) != 0)
		goto out;
	if (c->a->rng == NULL || token_new(c->a->rng, tok, hash) != 0) {
		r = api_fail(c, 500, "cannot make a token");
		goto out;
	}
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_admin_token_add(c->st, api_str(c, "name"), role, hash,
	                                  &id, &c->d))) != 0 ||
	    (r = api_store_result(c, store_admin_token_get_by_hash(
	                                 c->st, hash, &t, &c->d))) != 0)
		goto out;
	o = api_admin_token_json(c, &t);
	if (api_set(o, "token", json_string(tok)) != 0) {
		r = api_nomem(c);
		goto out;
	}
	r = api_answer(c, 201, o);
	o = NULL;
	if (r == 0)
		r = api_commit(c, "admin-token.create", t.name, "{s:I,s:s}",
		               "id", (json_int_t)id, "role", role_name(t.role));
out:
	crypto_wipe(tok, sizeof(tok));
	json_decref(o);
	store_admin_token_clear(&t);
	return r;
}

static int api_admin_token_revoke(struct api_call *c)
{
	struct store_admin_token_list l = {0};
	struct store_admin_token *t = NULL;
	int64_t id = 0;
	size_t i;
	int r;

	if ((r = api_arg_id(c, 0, "admin token id", &id)) != 0)
		goto out;
	if (id == c->admin.id) {
		r = api_fail(c, 409,
		             "an admin token cannot revoke itself; use another "
		             "one");
		goto out;
	}
	if ((r = api_begin(c)) != 0 ||
	    (r = api_store_result(
	         c, store_admin_token_revoke(c->st, id, &c->d))) != 0 ||
	    (r = api_store_result(
	         c, store_admin_token_list(c->st, &l, &c->d))) != 0)
		goto out;
	for (i = 0; i < l.n && t == NULL; i++)
		if (l.v[i].id == id)
			t = &l.v[i];
	if (t == NULL) {
		r = api_fail(c, 500, "admin token %" PRId64 " vanished", id);
		goto out;
	}
	if ((r = api_answer(c, 200, api_admin_token_json(c, t))) != 0)
		goto out;
	r = api_commit(c, "admin-token.revoke", t->name, "{s:I}", "id",
	               (json_int_t)id);
out:
	store_admin_token_list_free(&l);
	return r;
}

/* ---- Status ---- */

/* The devices' counters of GET status and of the console's overview. */
static int api_device_counts(const struct api_ctx *a, int64_t *revision,
                             json_t **out, struct diag *d)
{
	struct store_device_list l = {0};
	int64_t active = 0, revoked = 0;
	size_t connected = 0, i;
	int r;

	if ((r = store_revision_current(a->st, revision, d)) != 0 ||
	    (r = store_device_list(a->st, 0, &l, d)) != 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (l.v[i].status == STORE_DEVICE_ACTIVE)
			active++;
		else
			revoked++;
	}
	if (a->hooks.connected_count != NULL)
		connected = a->hooks.connected_count(a->hooks.arg);
	*out =
	    json_pack("{s:I,s:I,s:I}", "active", (json_int_t)active, "revoked",
	              (json_int_t)revoked, "connected", (json_int_t)connected);
	if (*out == NULL)
		r = diag_set(d, ERR_NOMEM, 0, 0, "status: out of memory");
out:
	store_device_list_free(&l);
	return r;
}

static int api_status(struct api_call *c)
{
	int64_t revision = 0;
	json_t *reps, *devices = NULL;
	size_t i;
	int r;

	if ((r = api_store_result(
	         c, api_device_counts(c->a, &revision, &devices, &c->d))) != 0)
		return r;
	if ((reps = json_array()) == NULL) {
		json_decref(devices);
		return api_nomem(c);
	}
	for (i = 0; i < c->a->nreplicas; i++)
		json_array_append_new(reps, json_string(c->a->replicas[i]));
	return api_answer(c, 200,
	                  json_pack("{s:I,s:o,s:s,s:s?,s:o}", "revision",
	                            (json_int_t)revision, "devices", devices,
	                            "version", API_VERSION, "replica",
	                            c->a->replica, "replicas", reps));
}

int api_overview(const struct api_ctx *a, bool catalogue, json_t **out,
                 struct diag *d)
{
	struct store_user_list users = {0};
	struct store_team_list teams = {0};
	struct store_server_list servers = {0};
	struct store_grant_list grants = {0};
	struct store_secret_list secrets = {0};
	int64_t revision = 0;
	json_t *devices = NULL, *o = NULL;
	int r;

	if ((r = api_device_counts(a, &revision, &devices, d)) != 0 ||
	    (r = store_user_list(a->st, &users, d)) != 0 ||
	    (r = store_team_list(a->st, &teams, d)) != 0 ||
	    (catalogue && ((r = store_server_list(a->st, &servers, d)) != 0 ||
	                   (r = store_grant_list(a->st, 0, &grants, d)) != 0 ||
	                   (r = store_secret_list(a->st, &secrets, d)) != 0)))
		goto out;
	o = json_pack("{s:I,s:O,s:I,s:I}", "revision", (json_int_t)revision,
	              "devices", devices, "users", (json_int_t)users.n, "teams",
	              (json_int_t)teams.n);
	if (o != NULL && catalogue &&
	    (json_object_set_new(o, "servers",
	                         json_integer((json_int_t)servers.n)) != 0 ||
	     json_object_set_new(o, "grants",
	                         json_integer((json_int_t)grants.n)) != 0 ||
	     json_object_set_new(o, "secrets",
	                         json_integer((json_int_t)secrets.n)) != 0)) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "overview: out of memory");
		goto out;
	}
	*out = o;
out:
	json_decref(devices);
	store_user_list_free(&users);
	store_team_list_free(&teams);
	store_server_list_free(&servers);
	store_grant_list_free(&grants);
	store_secret_list_free(&secrets);
	return r;
}

/* GET events: the console's live view (server/API.md, "Events"). The
 * hooks make the answer a stream once the call is through. */
static int api_events(struct api_call *c)
{
	if (c->a->hooks.stream == NULL)
		return api_fail(c, 404, "no event streams on this server");
	c->stream = true;
	return 0;
}

/* ---- Routing ---- */

static const struct api_field api_fields_user[] = {
    {"name", API_STRING, true, 0, 0},
    {"email", API_STRING, false, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_reason[] = {
    {"reason", API_STRING, false, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_name[] = {
    {"name", API_STRING, true, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_member[] = {
    {"user", API_STRING, true, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_server_add[] = {
    {"name", API_STRING, true, 0, 0},
    {"entry", API_OBJECT, true, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_server_set[] = {
    {"entry", API_OBJECT, true, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_grant[] = {
    {"server", API_STRING, true, 0, 0},
    {"everyone", API_BOOLEAN, false, 0, 0},
    {"team", API_STRING, false, 0, 0},
    {"user", API_STRING, false, 0, 0},
    {"tools_allow", API_STRINGS, false, 0, CATALOGUE_MAX_LIST},
    {"tools_deny", API_STRINGS, false, 0, CATALOGUE_MAX_LIST},
    {"rate", API_STRING, false, 1, RATE_TEXT_MAX - 1},
    {"tool_rates", API_OBJECT, false, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_secret[] = {
    {"value", API_STRING, true, 1, API_VALUE_MAX},
    {"team", API_STRING, false, 0, 0},
    {"user", API_STRING, false, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_login[] = {
    {"token", API_STRING, true, 1, TOKEN_MAX},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_token[] = {
    {"user", API_STRING, true, 0, 0},
    {"ttl", API_INTEGER, false, 1, API_TTL_MAX},
    {"uses", API_INTEGER, false, 1, API_USES_MAX},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_admin_token[] = {
    {"name", API_STRING, true, 0, 0},
    {"role", API_STRING, false, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const struct api_field api_fields_checkpoint[] = {
    {"checkpoint", API_OBJECT, true, 0, 0},
    {NULL, API_STRING, false, 0, 0},
};

static const char *const api_query_server[] = {"server", NULL};
static const char *const api_query_user[] = {"user", NULL};
static const char *const api_query_scope[] = {"team", "user", NULL};
static const char *const api_query_audit[] = {"since",  "until",  "after",
                                              "before", "action", "actor",
                                              "order",  "limit",  NULL};
static const char *const api_query_calls[] = {
    "user",  "device", "server", "tool",  "outcome", "since",
    "until", "after",  "before", "order", "limit",   NULL};

/*
 * A route: method, pattern, the roles that may call it (a set that is not
 * empty, or this does not compile: a negative array size), what it does
 * for a refusal's message, handler, body fields and query parameters.
 * The sets are those of server/API.md, "Roles".
 */
#define API_ROUTE(method, pattern, roles, what, handler, fields, query)        \
	{                                                                      \
		method, pattern,                                               \
		    (roles) + 0 * sizeof(char[(roles) != 0 ? 1 : -1]), what,   \
		    handler, fields, query                                     \
	}

/* Reading: every console role; helpdesk's work; the catalogue and audit's
 * reading; the catalogue's changes; the admin tokens. */
#define API_R_READ     ROLE_SET_READ
#define API_R_HELPDESK ROLE_SET_HELPDESK
#define API_R_AUDIT    ROLE_SET_AUDIT
#define API_R_ADMIN    ROLE_SET_ADMIN
#define API_R_OWNER    ROLE_SET_OWNER

static const struct api_route api_routes[] = {
    API_ROUTE("GET", "users", API_R_READ, "listing users", api_users_list, NULL,
              NULL),
    API_ROUTE("POST", "users", API_R_HELPDESK, "adding a user", api_user_add,
              api_fields_user, NULL),
    API_ROUTE("GET", "users/*", API_R_READ, "showing a user", api_user_show,
              NULL, NULL),
    API_ROUTE("DELETE", "users/*", API_R_HELPDESK, "removing a user",
              api_user_remove, NULL, NULL),
    API_ROUTE("POST", "users/*/offboard", API_R_HELPDESK, "offboarding a user",
              api_user_offboard, api_fields_reason, NULL),
    API_ROUTE("GET", "users/*/offboarding", API_R_READ,
              "reading an offboarding report", api_user_offboarding, NULL,
              NULL),
    API_ROUTE("GET", "teams", API_R_READ, "listing teams", api_teams_list, NULL,
              NULL),
    API_ROUTE("POST", "teams", API_R_ADMIN, "adding a team", api_team_add,
              api_fields_name, NULL),
    API_ROUTE("GET", "teams/*", API_R_READ, "showing a team", api_team_show,
              NULL, NULL),
    API_ROUTE("DELETE", "teams/*", API_R_ADMIN, "removing a team",
              api_team_remove, NULL, NULL),
    API_ROUTE("POST", "teams/*/members", API_R_ADMIN, "adding a team member",
              api_member_add, api_fields_member, NULL),
    API_ROUTE("DELETE", "teams/*/members/*", API_R_ADMIN,
              "removing a team member", api_member_remove, NULL, NULL),
    API_ROUTE("GET", "servers", API_R_AUDIT, "listing servers",
              api_servers_list, NULL, NULL),
    API_ROUTE("POST", "servers", API_R_ADMIN, "adding a server", api_server_add,
              api_fields_server_add, NULL),
    API_ROUTE("GET", "servers/*", API_R_AUDIT, "showing a server",
              api_server_show, NULL, NULL),
    API_ROUTE("PUT", "servers/*", API_R_ADMIN, "changing a server",
              api_server_set, api_fields_server_set, NULL),
    API_ROUTE("DELETE", "servers/*", API_R_ADMIN, "removing a server",
              api_server_remove, NULL, NULL),
    API_ROUTE("GET", "grants", API_R_AUDIT, "listing grants", api_grants_list,
              NULL, api_query_server),
    API_ROUTE("POST", "grants", API_R_ADMIN, "adding a grant", api_grant_add,
              api_fields_grant, NULL),
    API_ROUTE("DELETE", "grants/*", API_R_ADMIN, "removing a grant",
              api_grant_remove, NULL, NULL),
    API_ROUTE("GET", "secrets", API_R_AUDIT, "listing secrets",
              api_secrets_list, NULL, NULL),
    API_ROUTE("PUT", "secrets/*", API_R_ADMIN, "setting a secret",
              api_secret_set, api_fields_secret, NULL),
    API_ROUTE("DELETE", "secrets/*", API_R_ADMIN, "removing a secret",
              api_secret_remove, NULL, api_query_scope),
    API_ROUTE("GET", "tokens", API_R_READ, "listing enrollment tokens",
              api_tokens_list, NULL, NULL),
    API_ROUTE("POST", "tokens", API_R_HELPDESK, "creating an enrollment token",
              api_token_create, api_fields_token, NULL),
    API_ROUTE("DELETE", "tokens/*", API_R_HELPDESK,
              "revoking an enrollment token", api_token_revoke, NULL, NULL),
    API_ROUTE("GET", "devices", API_R_READ, "listing devices", api_devices_list,
              NULL, api_query_user),
    API_ROUTE("GET", "devices/*", API_R_READ, "showing a device",
              api_device_answer, NULL, NULL),
    API_ROUTE("POST", "devices/*/revoke", API_R_HELPDESK, "revoking a device",
              api_device_revoke, api_fields_reason, NULL),
    API_ROUTE("GET", "audit", API_R_AUDIT, "reading the audit log",
              api_audit_list, NULL, api_query_audit),
    API_ROUTE("GET", "calls", API_R_AUDIT, "reading the calls", api_calls_list,
              NULL, api_query_calls),
    API_ROUTE("GET", "audit/verify", API_R_AUDIT, "verifying the audit log",
              api_audit_verify, NULL, NULL),
    API_ROUTE("POST", "audit/verify", API_R_AUDIT,
              "verifying the audit log against a checkpoint",
              api_audit_verify_checkpoint, api_fields_checkpoint, NULL),
    API_ROUTE("GET", "audit/checkpoint", API_R_AUDIT,
              "signing an audit checkpoint", api_audit_checkpoint, NULL, NULL),
    API_ROUTE("GET", "admin-tokens", API_R_AUDIT, "listing admin tokens",
              api_admin_tokens_list, NULL, NULL),
    API_ROUTE("POST", "admin-tokens", API_R_OWNER, "creating an admin token",
              api_admin_token_create, api_fields_admin_token, NULL),
    API_ROUTE("DELETE", "admin-tokens/*", API_R_OWNER,
              "revoking an admin token", api_admin_token_revoke, NULL, NULL),
    API_ROUTE("GET", "status", API_R_READ, "reading the status", api_status,
              NULL, NULL),
    API_ROUTE("GET", "events", API_R_READ, "following the live events",
              api_events, NULL, NULL),
    /* Reached without authentication: see api_handle(); the role is
     * checked once the token is known. */
    API_ROUTE("POST", "session", API_R_READ, "signing in to the console",
              api_session_login, api_fields_login, NULL),
    API_ROUTE("GET", "session", API_R_READ, "showing the console session",
              api_session_show, NULL, NULL),
    API_ROUTE("DELETE", "session", API_R_READ, "signing out of the console",
              api_session_logout, NULL, NULL),
};

#define API_NROUTES (sizeof(api_routes) / sizeof(api_routes[0]))

size_t api_route_count(void)
{
	return API_NROUTES;
}

int api_recheck(const struct api_ctx *a, const char *authorization,
                const char *cookie)
{
	struct net_request req = {
	    .method = "GET",
	    .path = API_PREFIX "events",
	    .host = "",
	    .origin = "",
	    .authorization = authorization != NULL ? authorization : "",
	    .cookie = cookie != NULL ? cookie : "",
	    .csrf_token = "",
	    .body = "",
	    .peer = "",
	};
	struct api_call c;
	int r;

	memset(&c, 0, sizeof(c));
	c.role = ROLE_COUNT_;
	c.a = a;
	c.req = &req;
	c.st = a->st;
	c.passive = true;
	r = api_authenticate(&c);
	if (r == 0 && (ROLE_BIT(c.role) & API_R_READ) == 0)
		r = -ERR_PERM;
	if (store_in_transaction(c.st))
		(void)store_rollback(c.st, NULL);
	crypto_wipe(c.cookie, sizeof(c.cookie));
	store_admin_token_clear(&c.admin);
	return r;
}

int api_route_get(size_t i, struct api_route_info *out)
{
	if (i >= API_NROUTES)
		return -ERR_NOENT;
	out->method = api_routes[i].method;
	out->pattern = api_routes[i].pattern;
	out->roles = api_routes[i].roles;
	out->what = api_routes[i].what;
	return 0;
}

/* Splits the path after API_PREFIX into segments, in place in buf. */
static int api_split(struct api_call *c, char *buf, size_t size,
                     char *seg[API_SEGS_MAX], size_t *nseg)
{
	const char *path = c->req->path;
	size_t plen = sizeof(API_PREFIX) - 1, n = 0;
	char *p, *slash;

	if (path == NULL || strncmp(path, API_PREFIX, plen) != 0)
		return api_fail(c, 404, "no such API path");
	if (strlen(path + plen) >= size)
		return api_fail(c, 404, "no such API path (too long)");
	memcpy(buf, path + plen, strlen(path + plen) + 1);
	for (p = buf;; p = slash + 1) {
		if (*p == '\0' || n == API_SEGS_MAX)
			return api_fail(c, 404, "no such API path '%s'",
			                jsonutil_printable(path));
		seg[n++] = p;
		if ((slash = strchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	*nseg = n;
	return 0;
}

/* Does pattern match the segments? Fills args with the "*" ones. */
static bool api_match(const char *pattern, char *const *seg, size_t nseg,
                      const char *args[API_ARGS_MAX])
{
	const char *p = pattern;
	size_t i, na = 0, len;

	for (i = 0; i < nseg; i++) {
		if (*p == '\0')
			return false;
		len = strcspn(p, "/");
		if (len == 1 && *p == '*') {
			if (na == API_ARGS_MAX)
				return false;
			args[na++] = seg[i];
		} else if (strlen(seg[i]) != len ||
		           strncmp(p, seg[i], len) != 0) {
			return false;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return *p == '\0';
}

/* Finds the route of the request: 404 for no such path, 405 (with the
 * methods that path takes) for the wrong method. */
static int api_route(struct api_call *c, char *const *seg, size_t nseg,
                     const struct api_route **out)
{
	const char *args[API_ARGS_MAX] = {NULL, NULL};
	size_t i, used = 0;
	bool path_known = false;
	int n;

	for (i = 0; i < API_NROUTES; i++) {
		const struct api_route *rt = &api_routes[i];

		if (!api_match(rt->pattern, seg, nseg, args))
			continue;
		if (strcmp(rt->method, c->req->method) == 0) {
			memcpy(c->arg, args, sizeof(c->arg));
			*out = rt;
			return 0;
		}
		n = snprintf(c->allow + used, sizeof(c->allow) - used, "%s%s",
		             path_known ? ", " : "", rt->method);
		if (n > 0 && (size_t)n < sizeof(c->allow) - used)
			used += (size_t)n;
		path_known = true;
	}
	if (path_known)
		return api_fail(c, 405, "%s is not allowed on %s (allowed: %s)",
		                jsonutil_printable(c->req->method),
		                c->req->path, c->allow);
	return api_fail(c, 404, "no such API path '%s'",
	                jsonutil_printable(c->req->path));
}

int api_route_find(const char *method, const char *path, size_t *index)
{
	const char *args[API_ARGS_MAX];
	char buf[API_PATH_MAX + 1], *seg[API_SEGS_MAX], *p, *slash;
	size_t plen = sizeof(API_PREFIX) - 1, n = 0, i, found = API_NROUTES;

	if (path == NULL || strncmp(path, API_PREFIX, plen) != 0 ||
	    strlen(path + plen) >= sizeof(buf))
		return -ERR_NOENT;
	memcpy(buf, path + plen, strlen(path + plen) + 1);
	for (p = buf;; p = slash + 1) {
		if (*p == '\0' || n == API_SEGS_MAX)
			return -ERR_NOENT;
		seg[n++] = p;
		if ((slash = strchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	for (i = 0; i < API_NROUTES; i++) {
		if (!api_match(api_routes[i].pattern, seg, n, args))
			continue;
		if (method != NULL &&
		    strcmp(api_routes[i].method, method) == 0) {
			found = i;
			break;
		}
		if (found == API_NROUTES)
			found = i;
	}
	if (found == API_NROUTES)
		return -ERR_NOENT;
	*index = found;
	return 0;
}

/* ---- Answering ---- */

/* Runs the hooks of a committed change, revocations first so that a
 * revoked device is gone before views are pushed. */
static void api_notify(struct api_call *c)
{
	const struct api_hooks *h = &c->a->hooks;

	if (!c->committed)
		return;
	if (c->revoked.n > 0 && h->revoked != NULL)
		h->revoked(h->arg, (const char *const *)c->revoked.v,
		           c->revoked.n);
	if (c->changed && h->changed != NULL)
		h->changed(h->arg);
	if (h->committed != NULL)
		h->committed(h->arg);
}

/* An error answer. Messages may quote input cut at any byte: a message
 * that is not valid UTF-8 loses its non-ASCII bytes. */
static json_t *api_error_json(char *msg)
{
	json_t *s = json_string(msg);
	char *p;

	if (s == NULL) {
		for (p = msg; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		s = json_string(msg);
	}
	return json_pack("{s:o}", "error", s);
}

static void api_respond(struct api_call *c, int r, struct net_response *resp)
{
	static const char nomem[] = "{\"error\":\"out of memory\"}\n";
	char *text = NULL;

	if (r != 0 || c->out == NULL) {
		if (c->status < 400) {
			c->status = 500;
			(void)snprintf(c->err, sizeof(c->err),
			               "internal error: %s", err_str(r));
		}
		json_decref(c->out);
		c->out = api_error_json(c->err);
	}
	if (c->out != NULL)
		text = json_dumps(c->out, JSON_COMPACT);
	(void)net_response_type(resp, "application/json");
	/* Answers name tokens, links and the CSRF token: never cached. */
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)net_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (c->cookie[0] != '\0')
		(void)net_response_header(resp, "Set-Cookie", c->cookie);
	else if (c->clear_cookie)
		(void)net_response_header(resp, "Set-Cookie",
		                          SESSION_COOKIE_CLEAR);
	if (c->status == 401)
		(void)net_response_header(resp, "WWW-Authenticate", "Bearer");
	if (c->status == 405)
		(void)net_response_header(resp, "Allow", c->allow);
	buf_reset(&resp->body);
	if (text == NULL || buf_puts(&resp->body, text) != 0 ||
	    buf_putc(&resp->body, '\n') != 0) {
		c->status = 500;
		buf_reset(&resp->body);
		(void)buf_puts(&resp->body, nomem);
	}
	resp->status = c->status;
	free(text);
}

/* A call of a, without role until a credential gives one (role_may()
 * refuses ROLE_COUNT_). */
static void api_call_init(struct api_call *c, const struct api_ctx *a,
                          const struct net_request *req)
{
	memset(c, 0, sizeof(*c));
	c->role = ROLE_COUNT_;
	c->a = a;
	c->req = req;
	c->st = a->st;
}

/* Frees what a call holds, rolling back what it left open. */
static void api_call_clear(struct api_call *c)
{
	if (store_in_transaction(c->st))
		(void)store_rollback(c->st, NULL);
	crypto_wipe(c->cookie, sizeof(c->cookie));
	json_decref(c->out);
	json_decref(c->body);
	store_admin_token_clear(&c->admin);
	store_id_list_free(&c->revoked);
}

int api_authorize(const struct api_ctx *a, const struct net_request *req,
                  unsigned roles, const char *what, struct net_response *resp)
{
	const struct api_route rt = {
	    .method = req->method,
	    .pattern = req->path,
	    .roles = roles,
	    .what = what,
	};
	struct api_call c;
	int r;

	api_call_init(&c, a, req);
	if ((r = api_authenticate(&c)) == 0)
		r = api_role_check(&c, &rt);
	if (r != 0)
		api_respond(&c, r, resp);
	api_call_clear(&c);
	return r;
}

/* ---- SCIM provisioning (server/scim.c) ---- */

/* The one "route" SCIM is to the role check and its refusals. */
static const struct api_route api_scim_route =
    API_ROUTE("*", "/scim/v2/*", ROLE_BIT(ROLE_SCIM), "SCIM provisioning", NULL,
              NULL, NULL);

static void api_scim_respond(struct api_call *c, struct scim_call *sc,
                             struct net_response *resp)
{
	static const char nomem[] =
	    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],"
	    "\"status\":\"500\",\"detail\":\"out of memory\"}\n";
	char *text = NULL;

	/* A refusal before SCIM was reached: api.c's message, SCIM's
	 * form. */
	if (sc->out == NULL && sc->status != 204) {
		if (c->status < 400) {
			c->status = 500;
			(void)snprintf(c->err, sizeof(c->err),
			               "internal error");
		}
		sc->status = c->status;
		sc->out = scim_error_json(c->status, NULL, c->err);
	}
	(void)net_response_type(resp, "application/scim+json");
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)net_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (sc->status == 401)
		(void)net_response_header(resp, "WWW-Authenticate", "Bearer");
	if (sc->status == 201 && sc->location[0] != '\0')
		(void)net_response_header(resp, "Location", sc->location);
	if (sc->status < 300 && sc->etag[0] != '\0')
		(void)net_response_header(resp, "ETag", sc->etag);
	buf_reset(&resp->body);
	resp->status = sc->status;
	if (sc->status == 204)
		return;
	if (sc->out == NULL ||
	    (text = json_dumps(sc->out, JSON_COMPACT)) == NULL ||
	    buf_puts(&resp->body, text) != 0 ||
	    buf_putc(&resp->body, '\n') != 0) {
		resp->status = 500;
		buf_reset(&resp->body);
		(void)buf_puts(&resp->body, nomem);
	}
	free(text);
}

/*
 * A request under /scim/v2: a bearer admin token of role scim, and no
 * other (a console session or an owner's token is refused, so that the
 * identity provider's credential does one thing and the audit log tells
 * its changes apart), then scim_handle() with the hooks run after its
 * commit.
 */
static void api_scim(const struct api_ctx *a, const struct net_request *req,
                     struct net_response *resp)
{
	struct scim_call sc;
	struct api_call c;
	char actor[STORE_TEXT_MAX + 1];
	const struct api_hooks *h = &a->hooks;
	const char *host =
	    req->host != NULL && *req->host != '\0' ? req->host : a->link_host;

	api_call_init(&c, a, req);
	memset(&sc, 0, sizeof(sc));
	if (req->authorization == NULL || *req->authorization == '\0') {
		(void)api_fail(&c, 401,
		               "missing admin token (Authorization: Bearer "
		               "TOKEN of an admin token with role scim)");
		goto out;
	}
	if (api_auth_bearer(&c) != 0 ||
	    api_role_check(&c, &api_scim_route) != 0)
		goto out;
	(void)snprintf(actor, sizeof(actor), "scim:%s", c.admin.name);
	sc.st = a->st;
	sc.req = req;
	sc.actor = actor;
	if ((size_t)snprintf(sc.base, sizeof(sc.base), "https://%s" SCIM_PREFIX,
	                     jsonutil_printable(host)) >= sizeof(sc.base))
		(void)snprintf(sc.base, sizeof(sc.base), SCIM_PREFIX);
	scim_handle(&sc);
	if (store_in_transaction(a->st))
		(void)store_rollback(a->st, NULL);
	if (sc.committed) {
		if (sc.revoked.n > 0 && h->revoked != NULL)
			h->revoked(h->arg, (const char *const *)sc.revoked.v,
			           sc.revoked.n);
		if (sc.changed && h->changed != NULL)
			h->changed(h->arg);
	}
out:
	api_scim_respond(&c, &sc, resp);
	json_decref(sc.out);
	store_id_list_free(&sc.revoked);
	api_call_clear(&c);
}

void api_handle(const struct api_ctx *a, const struct net_request *req,
                struct net_response *resp)
{
	char path[API_PATH_MAX + 1];
	char *seg[API_SEGS_MAX];
	const struct api_route *rt = NULL;
	struct api_call c;
	size_t nseg = 0;
	bool login;
	int r;

	/* SCIM has its paths, credential and answers (server/scim.c). */
	if (net_request_under(req, SCIM_PREFIX)) {
		api_scim(a, req, resp);
		return;
	}
	api_call_init(&c, a, req);
	/* Signing in is the one request that carries no credentials. */
	login = strcmp(req->method, "POST") == 0 &&
	        strcmp(req->path, API_PREFIX "session") == 0;
	c.passive = strcmp(req->path, API_PREFIX "events") == 0;
	if ((!login && (r = api_authenticate(&c)) != 0) ||
	    (r = api_split(&c, path, sizeof(path), seg, &nseg)) != 0 ||
	    (r = api_route(&c, seg, nseg, &rt)) != 0 ||
	    (!login && (r = api_role_check(&c, rt)) != 0) ||
	    (r = api_query_check(&c, rt)) != 0 ||
	    (r = api_body_parse(&c, rt)) != 0)
		goto out;
	c.route = rt;
	r = rt->handler(&c);
out:
	/* A handler that failed half-way leaves nothing behind. */
	if (store_in_transaction(c.st))
		(void)store_rollback(c.st, NULL);
	api_notify(&c);
	if (r == 0 && c.stream) {
		struct api_stream info = {
		    .role = c.role,
		    .until = c.until,
		};

		r = a->hooks.stream(a->hooks.arg, req, resp, &info);
		if (r == 0)
			goto done;
		if (r == -ERR_TOOBIG)
			(void)api_fail(&c, 503,
			               "too many event streams open; try "
			               "again later");
		else
			(void)api_fail(&c, 500,
			               "cannot open the event stream: %s",
			               err_str(r));
	}
	api_respond(&c, r, resp);
done:
	api_call_clear(&c);
}
