/* SPDX-License-Identifier: MIT */
/* SCIM 2.0 provisioning: Users are mcpfleet users, Groups are teams
 * (server/API.md, "Provisioning (SCIM 2.0)"; docs/design.md,
 * "Provisioning with SCIM"). */
#include "scim.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "jsonutil.h"
#include "scimfilter.h"

#define SCIM_SCHEMA_USER  "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_SCHEMA_GROUP "urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIM_SCHEMA_ENTERPRISE                                                 \
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define SCIM_SCHEMA_SPC                                                        \
	"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
#define SCIM_SCHEMA_RT     "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
#define SCIM_SCHEMA_SCHEMA "urn:ietf:params:scim:schemas:core:2.0:Schema"
#define SCIM_MSG_ERROR     "urn:ietf:params:scim:api:messages:2.0:Error"
#define SCIM_MSG_LIST      "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define SCIM_MSG_PATCH     "urn:ietf:params:scim:api:messages:2.0:PatchOp"

#define SCIM_BODY_MAX (1u << 20) /* as the API: bodies up to 1 MiB */
/* No SCIM resource nests deeper than a few levels (an extension's complex
 * attribute of a multi-valued one); a body that does is refused before it
 * is parsed, so nothing walks it recursively. */
#define SCIM_DEPTH_MAX     32
#define SCIM_COUNT_DEFAULT 100
#define SCIM_COUNT_MAX     1000 /* a page holds at most this many */
#define SCIM_OPS_MAX       1000 /* operations in one PATCH */
#define SCIM_MEMBERS_MAX   10000
#define SCIM_PATH_MAX      512
/* Why an identity provider's deactivation revoked the devices. */
#define SCIM_REASON "deactivated by the identity provider (SCIM)"

/* Records an error answer; returns -1 for the caller to pass up. */
__attribute__((format(printf, 4, 5))) static int
scim_fail(struct scim_call *c, int status, const char *scim_type,
          const char *fmt, ...)
{
	char msg[SCIM_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(c->out);
	c->out = scim_error_json(status, scim_type, msg);
	c->status = status;
	return -1;
}

json_t *scim_error_json(int status, const char *scim_type, const char *detail)
{
	char st[16];
	json_t *s;
	char *copy, *p;

	(void)snprintf(st, sizeof(st), "%d", status);
	/* A detail may quote input cut at any byte: one that is not UTF-8
	 * loses its non-ASCII bytes. */
	if ((s = json_string(detail)) == NULL) {
		if ((copy = strdup(detail)) == NULL)
			return NULL;
		for (p = copy; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		s = json_string(copy);
		free(copy);
	}
	return json_pack("{s:[s],s:s,s:s?,s:o}", "schemas", SCIM_MSG_ERROR,
	                 "status", st, "scimType", scim_type, "detail", s);
}

static int scim_nomem(struct scim_call *c)
{
	return scim_fail(c, 500, NULL, "out of memory");
}

/* Maps a store error to an answer, with the store's message, which names
 * the thing and the reason. */
static int scim_store(struct scim_call *c, int r)
{
	const char *msg = c->d.msg[0] != '\0' ? c->d.msg : err_str(r);

	if (r == 0)
		return 0;
	switch (-r) {
	case ERR_INVALID:
	case ERR_TOOBIG:
		r = scim_fail(c, 400, "invalidValue", "%s", msg);
		break;
	case ERR_NOENT:
		r = scim_fail(c, 404, NULL, "%s", msg);
		break;
	case ERR_EXISTS:
		r = scim_fail(c, 409, "uniqueness", "%s", msg);
		break;
	case ERR_CONFLICT:
	case ERR_PERM:
		r = scim_fail(c, 409, NULL, "%s", msg);
		break;
	default:
		r = scim_fail(c, 500, NULL, "store failure: %s", msg);
		break;
	}
	diag_clear(&c->d);
	return r;
}

/* Sets the answer, taking v. */
static int scim_answer(struct scim_call *c, int status, json_t *v)
{
	if (v == NULL)
		return scim_nomem(c);
	json_decref(c->out);
	c->out = v;
	c->status = status;
	return 0;
}

/* ---- Small helpers ---- */

/* t as RFC 3339 UTC ("2023-11-14T22:13:20Z"). */
static json_t *scim_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_string("1970-01-01T00:00:00Z");
	return json_string(buf);
}

/* The member of o called name, any case (RFC 7643 2.1: attribute names
 * are case-insensitive), or NULL; *key (may be NULL) gets its spelling. */
static json_t *scim_key(json_t *o, const char *name, const char **key)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	json_object_foreach(o, k, v)
	{
		if (strcasecmp(k, name) == 0) {
			if (key != NULL)
				*key = k;
			return v;
		}
	}
	return NULL;
}

/* Sets o[name] to v (taken), replacing a member of any case. */
static int scim_set(json_t *o, const char *name, json_t *v)
{
	const char *k = NULL;

	if (v == NULL)
		return -ERR_NOMEM;
	if (scim_key(o, name, &k) != NULL)
		return json_object_set_new(o, k, v) == 0 ? 0 : -ERR_NOMEM;
	return json_object_set_new(o, name, v) == 0 ? 0 : -ERR_NOMEM;
}

static void scim_del(json_t *o, const char *name)
{
	const char *k = NULL;

	if (scim_key(o, name, &k) != NULL)
		(void)json_object_del(o, k);
}

/* A boolean as identity providers write it: true, or "True" and "true"
 * (Entra ID sends strings). Returns 0 with *out, or -1. */
static int scim_bool(json_t *v, bool *out)
{
	const char *s;

	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if ((s = json_string_value(v)) != NULL) {
		if (strcasecmp(s, "true") == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, "false") == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Parses a resource id ("12"). Returns 0 with *id, or -1. */
static int scim_parse_id(const char *s, int64_t *id)
{
	int64_t v = 0;
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return -1;
	*id = v;
	return 0;
}

static json_t *scim_id_json(int64_t id)
{
	char buf[24];

	(void)snprintf(buf, sizeof(buf), "%" PRId64, id);
	return json_string(buf);
}

/* The meta attribute of a resource, and its ETag into c->etag. */
static json_t *scim_meta(struct scim_call *c, const char *type,
                         const char *coll, int64_t id, int64_t created,
                         int64_t modified, int64_t version)
{
	char loc[SCIM_BASE_MAX + 64], ver[32];

	(void)snprintf(loc, sizeof(loc), "%s/%s/%" PRId64, c->base, coll, id);
	(void)snprintf(ver, sizeof(ver), "W/\"%" PRId64 "\"", version);
	return json_pack("{s:s,s:o,s:o,s:s,s:s}", "resourceType", type,
	                 "created", scim_time(created), "lastModified",
	                 scim_time(modified), "location", loc, "version", ver);
}

/* Sets c's Location and ETag from a resource's meta. */
static void scim_headers(struct scim_call *c, json_t *res)
{
	json_t *meta = json_object_get(res, "meta");
	const char *loc = json_string_value(json_object_get(meta, "location"));
	const char *ver = json_string_value(json_object_get(meta, "version"));

	(void)snprintf(c->location, sizeof(c->location), "%s",
	               loc != NULL ? loc : "");
	(void)snprintf(c->etag, sizeof(c->etag), "%s", ver != NULL ? ver : "");
}

/* ---- Transactions and audit ---- */

static int scim_begin(struct scim_call *c)
{
	return scim_store(c, store_begin(c->st, &c->d));
}

/* Appends one audit row of the change being made, taking details (NULL:
 * a builder failed). Every row says the actor's role was scim. */
static int scim_audit(struct scim_call *c, const char *action,
                      const char *target, json_t *details)
{
	char *text = NULL;
	int r;

	if (details == NULL)
		details = json_object();
	if (details == NULL ||
	    json_object_set_new(details, "actor_role", json_string("scim")) !=
	        0 ||
	    (text = json_dumps(details, JSON_COMPACT)) == NULL) {
		json_decref(details);
		return scim_nomem(c);
	}
	r = scim_store(c, store_audit_append(c->st, c->actor, action, target,
	                                     text, NULL, &c->d));
	json_decref(details);
	free(text);
	return r;
}

static int scim_commit(struct scim_call *c)
{
	int r;

	if ((r = scim_store(c, store_commit(c->st, &c->d))) == 0)
		c->committed = true;
	return r;
}

/* ---- Filters and paging (RFC 7644 3.4.2) ---- */

/* startIndex and count. Returns 0, or -1 with the answer set. */
static int scim_paging(struct scim_call *c, int64_t *start, int64_t *count)
{
	const char *names[2] = {"startIndex", "count"};
	int64_t *outs[2] = {start, count};
	size_t i;

	*start = 1;
	*count = SCIM_COUNT_DEFAULT;
	for (i = 0; i < 2; i++) {
		const char *s = net_request_param(c->req, names[i]);
		char *end = NULL;
		long long v;

		if (s == NULL || *s == '\0')
			continue;
		v = strtoll(s, &end, 10);
		if (end == s || *end != '\0')
			return scim_fail(c, 400, "invalidValue",
			                 "%s '%s' is not an integer", names[i],
			                 jsonutil_printable(s));
		*outs[i] = (int64_t)v;
	}
	/* RFC 7644 3.4.2.4: below 1 is 1, a negative count is 0. */
	if (*start < 1)
		*start = 1;
	if (*count < 0)
		*count = 0;
	if (*count > SCIM_COUNT_MAX)
		*count = SCIM_COUNT_MAX;
	return 0;
}

/* A ListResponse of the resources from start (1-based) on, count at most,
 * of all (taken). */
static json_t *scim_list(json_t *all, int64_t start, int64_t count)
{
	json_t *page = json_array();
	size_t i, n = json_array_size(all);

	for (i = (size_t)(start - 1);
	     page != NULL && i < n && (int64_t)json_array_size(page) < count;
	     i++)
		if (json_array_append(page, json_array_get(all, i)) != 0) {
			json_decref(page);
			page = NULL;
		}
	json_decref(all);
	if (page == NULL)
		return NULL;
	return json_pack("{s:[s],s:I,s:I,s:I,s:o}", "schemas", SCIM_MSG_LIST,
	                 "totalResults", (json_int_t)n, "startIndex",
	                 (json_int_t)start, "itemsPerPage",
	                 (json_int_t)json_array_size(page), "Resources", page);
}

/*
 * The query of a list: its paging, and its filter on schema's resources
 * into *f (*has_filter false: none). Returns 0, or -1 with the answer
 * set.
 */
static int scim_list_query(struct scim_call *c,
                           const struct scimf_schema *schema, struct scimf *f,
                           bool *has_filter, int64_t *start, int64_t *count)
{
	const char *fs = net_request_param(c->req, "filter");
	char err[SCIMF_ERR_MAX];

	*has_filter = false;
	if (scim_paging(c, start, count) != 0)
		return -1;
	if (fs == NULL || *fs == '\0')
		return 0;
	if (scimf_parse(fs, schema, f, err) != 0)
		return scim_fail(c, 400, "invalidFilter", "filter: %s", err);
	*has_filter = true;
	return 0;
}

/* ---- PATCH (RFC 7644 3.5.2) ---- */

/* A parsed path: [URN:]attr[[filter]][.sub]. */
struct scim_path {
	char urn[128]; /* "" core, else an extension's URN */
	char attr[64];
	/* The filter on the elements of attr (NULL: none), on the heap: a
	 * PATCH's paths recurse as deep as its value's objects nest. Free
	 * with scim_path_clear(). */
	struct scimf *filter;
	char sub[64];
};

static void scim_path_clear(struct scim_path *p)
{
	free(p->filter);
	p->filter = NULL;
}

static bool scim_is_urn(const char *s, const char *urn, size_t *len)
{
	size_t n = strlen(urn);

	if (strncasecmp(s, urn, n) != 0)
		return false;
	*len = n;
	return true;
}

/* The ']' that closes the value filter opening at s ('['), outside its
 * quoted strings, or NULL. */
static const char *scim_path_close(const char *s)
{
	bool quoted = false;

	for (s++; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (!quoted && *s == ']')
			return s;
	}
	return NULL;
}

/* Parses the path s of a PATCH on schema's resources. Returns 0 with *p
 * (clear it with scim_path_clear()), or -1 with the answer set. */
static int scim_path_parse(struct scim_call *c, const char *s,
                           const struct scimf_schema *schema,
                           struct scim_path *p)
{
	const char *orig = s;
	size_t n, ulen = 0;
	char sub[SCIM_PATH_MAX], err[SCIMF_ERR_MAX];
	const char *close;

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= SCIM_PATH_MAX)
		return scim_fail(c, 400, "invalidPath",
		                 "path is longer than %d bytes",
		                 SCIM_PATH_MAX - 1);
	/* A schema URN in front: the core ones name the resource itself,
	 * the enterprise extension its own object. */
	if (scim_is_urn(s, SCIM_SCHEMA_ENTERPRISE, &ulen)) {
		(void)snprintf(p->urn, sizeof(p->urn), "%s",
		               SCIM_SCHEMA_ENTERPRISE);
		s += ulen;
		if (*s == '\0')
			return 0; /* the extension object as a whole */
		if (*s++ != ':')
			goto bad;
	} else if (scim_is_urn(s, SCIM_SCHEMA_USER ":", &ulen) ||
	           scim_is_urn(s, SCIM_SCHEMA_GROUP ":", &ulen)) {
		s += ulen;
	}
	for (n = 0; isalnum((unsigned char)*s) || *s == '_' || *s == '$'; s++) {
		if (n == sizeof(p->attr) - 1)
			goto bad;
		p->attr[n++] = *s;
	}
	p->attr[n] = '\0';
	if (n == 0)
		goto bad;
	if (*s == '[') {
		if ((close = scim_path_close(s)) == NULL)
			goto bad;
		memcpy(sub, s + 1, (size_t)(close - s - 1));
		sub[close - s - 1] = '\0';
		if ((p->filter = malloc(sizeof(*p->filter))) == NULL)
			return scim_nomem(c);
		if (scimf_parse_elements(sub, schema,
		                         p->urn[0] != '\0' ? p->urn : NULL,
		                         p->attr, p->filter, err) != 0) {
			scim_path_clear(p);
			return scim_fail(c, 400, "invalidPath",
			                 "path '%s': its filter: %s",
			                 jsonutil_printable(orig), err);
		}
		s = close + 1;
	}
	if (*s == '.') {
		for (s++, n = 0; isalnum((unsigned char)*s) || *s == '_'; s++) {
			if (n == sizeof(p->sub) - 1)
				goto bad;
			p->sub[n++] = *s;
		}
		p->sub[n] = '\0';
		if (n == 0)
			goto bad;
	}
	if (*s != '\0')
		goto bad;
	return 0;
bad:
	scim_path_clear(p);
	return scim_fail(c, 400, "invalidPath",
	                 "path '%s' is not an attribute path (e.g. "
	                 "\"active\", \"name.givenName\", "
	                 "\"members[value eq \\\"12\\\"]\")",
	                 jsonutil_printable(orig));
}

enum scim_op {
	SCIM_OP_ADD,
	SCIM_OP_REPLACE,
	SCIM_OP_REMOVE,
};

/* Removes from array a every element whose "value" is one of those of
 * the elements of list (remove with a value, as Okta and Entra ID send
 * for members). */
static void scim_remove_values(json_t *a, json_t *list)
{
	size_t i, j;

	for (i = json_array_size(a); i-- > 0;) {
		json_t *v = scim_key(json_array_get(a, i), "value", NULL);

		for (j = 0; j < json_array_size(list); j++) {
			json_t *w =
			    scim_key(json_array_get(list, j), "value", NULL);

			if (json_is_string(v) && json_is_string(w) &&
			    strcmp(json_string_value(v),
			           json_string_value(w)) == 0) {
				(void)json_array_remove(a, i);
				break;
			}
		}
	}
}

static int scim_patch_path(struct scim_call *c,
                           const struct scimf_schema *schema, json_t *doc,
                           enum scim_op op, const char *path, json_t *value);

/* An add or replace without a path: every member of value is an attribute
 * path of its own (Entra ID sends "name.givenName" keys this way), and an
 * extension's URN key holds an object of its attributes. */
static int scim_patch_object(struct scim_call *c,
                             const struct scimf_schema *schema, json_t *doc,
                             enum scim_op op, json_t *value)
{
	const char *k;
	json_t *v, *ext;
	char path[SCIM_PATH_MAX];
	int r;

	if (!json_is_object(value))
		return scim_fail(c, 400, "invalidValue",
		                 "an operation without a path takes an object "
		                 "value");
	json_object_foreach(value, k, v)
	{
		if (strcasecmp(k, SCIM_SCHEMA_ENTERPRISE) == 0 &&
		    json_is_object(v)) {
			const char *ek;
			json_t *ev;

			ext = scim_key(doc, SCIM_SCHEMA_ENTERPRISE, NULL);
			if (!json_is_object(ext) &&
			    scim_set(doc, SCIM_SCHEMA_ENTERPRISE,
			             ext = json_object()) != 0)
				return scim_nomem(c);
			json_object_foreach(v, ek, ev)
			{
				if (scim_set(ext, ek, json_deep_copy(ev)) != 0)
					return scim_nomem(c);
			}
			continue;
		}
		if (strcasecmp(k, "schemas") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s", k) >=
		    sizeof(path))
			return scim_fail(c, 400, "invalidPath",
			                 "attribute name too long");
		if ((r = scim_patch_path(c, schema, doc, op, path, v)) != 0)
			return r;
	}
	return 0;
}

/* One operation of a PATCH at path, parsed into p. */
static int scim_patch_at(struct scim_call *c, const struct scimf_schema *schema,
                         json_t *doc, enum scim_op op, const char *path,
                         const struct scim_path *p, json_t *value)
{
	json_t *base = doc, *cur, *e;
	size_t i;
	bool matched = false;

	if (op != SCIM_OP_REMOVE && value == NULL)
		return scim_fail(c, 400, "invalidValue",
		                 "%s of '%s' needs a value",
		                 op == SCIM_OP_ADD ? "add" : "replace",
		                 jsonutil_printable(path));
	if (p->urn[0] != '\0') {
		base = scim_key(doc, p->urn, NULL);
		if (!json_is_object(base)) {
			if (op == SCIM_OP_REMOVE)
				return 0;
			if (scim_set(doc, p->urn, base = json_object()) != 0)
				return scim_nomem(c);
		}
		if (p->attr[0] == '\0') /* the whole extension */
			return op == SCIM_OP_REMOVE
			           ? (scim_del(doc, p->urn), 0)
			           : scim_patch_object(c, schema, base, op,
			                               value);
	}
	cur = scim_key(base, p->attr, NULL);
	if (p->filter == NULL) {
		if (op == SCIM_OP_REMOVE) {
			if (p->sub[0] != '\0')
				scim_del(cur, p->sub);
			else if (json_is_array(cur) && json_is_array(value))
				scim_remove_values(cur, value);
			else
				scim_del(base, p->attr);
			return 0;
		}
		if (p->sub[0] != '\0') {
			if (!json_is_object(cur) &&
			    scim_set(base, p->attr, cur = json_object()) != 0)
				return scim_nomem(c);
			return scim_set(cur, p->sub, json_deep_copy(value)) == 0
			           ? 0
			           : scim_nomem(c);
		}
		/* add to a multi-valued attribute appends; replace replaces
		 * it whole (Okta's member replace). */
		if (op == SCIM_OP_ADD && json_is_array(cur)) {
			if (json_is_array(value)) {
				json_array_foreach(value, i, e)
				{
					if (json_array_append(cur, e) != 0)
						return scim_nomem(c);
				}
			} else if (json_array_append(cur, value) != 0) {
				return scim_nomem(c);
			}
			return 0;
		}
		/* An object added to an object merges into it. */
		if (op == SCIM_OP_ADD && json_is_object(cur) &&
		    json_is_object(value))
			return scim_patch_object(c, schema, cur, op, value);
		return scim_set(base, p->attr, json_deep_copy(value)) == 0
		           ? 0
		           : scim_nomem(c);
	}
	/* A filter selects elements of a multi-valued attribute. */
	if (!json_is_array(cur)) {
		if (op == SCIM_OP_REMOVE)
			return 0;
		if (scim_set(base, p->attr, cur = json_array()) != 0)
			return scim_nomem(c);
	}
	for (i = json_array_size(cur); i-- > 0;) {
		e = json_array_get(cur, i);
		if (!scimf_match(p->filter, e))
			continue;
		matched = true;
		if (op == SCIM_OP_REMOVE) {
			if (p->sub[0] != '\0')
				scim_del(e, p->sub);
			else
				(void)json_array_remove(cur, i);
		} else if (p->sub[0] != '\0') {
			if (scim_set(e, p->sub, json_deep_copy(value)) != 0)
				return scim_nomem(c);
		} else if (json_is_object(value)) {
			if (json_array_set(cur, i, value) != 0)
				return scim_nomem(c);
		} else {
			return scim_fail(
			    c, 400, "invalidValue",
			    "'%s' selects elements: the value must "
			    "be an object",
			    jsonutil_printable(path));
		}
	}
	/* Setting a sub-attribute of an element that is not there yet
	 * (Entra ID: emails[type eq "work"].value on a user without one)
	 * adds that element. */
	if (!matched && op != SCIM_OP_REMOVE && p->sub[0] != '\0') {
		char err[SCIMF_ERR_MAX];
		int r;

		if ((e = json_object()) == NULL ||
		    json_array_append_new(cur, e) != 0)
			return scim_nomem(c);
		if ((r = scimf_seed(p->filter, e, err)) == -1)
			return scim_fail(c, 400, "noTarget", "path '%s': %s",
			                 jsonutil_printable(path), err);
		if (r != 0 || scim_set(e, p->sub, json_deep_copy(value)) != 0)
			return scim_nomem(c);
	}
	return 0;
}

static int scim_patch_path(struct scim_call *c,
                           const struct scimf_schema *schema, json_t *doc,
                           enum scim_op op, const char *path, json_t *value)
{
	struct scim_path p;
	int r;

	if (scim_path_parse(c, path, schema, &p) != 0)
		return -1;
	r = scim_patch_at(c, schema, doc, op, path, &p, value);
	scim_path_clear(&p);
	return r;
}

/* Applies a PatchOp body to doc, the resource as SCIM shows it. Returns
 * 0, or -1 with the answer set. */
static int scim_patch(struct scim_call *c, const struct scimf_schema *schema,
                      json_t *body, json_t *doc)
{
	json_t *ops = scim_key(body, "Operations", NULL), *o;
	size_t i;

	if (!json_is_array(ops) || json_array_size(ops) == 0)
		return scim_fail(c, 400, "invalidSyntax",
		                 "a PATCH body is a PatchOp message with a "
		                 "non-empty \"Operations\" array");
	if (json_array_size(ops) > SCIM_OPS_MAX)
		return scim_fail(c, 400, "tooMany",
		                 "a PATCH takes at most %d operations",
		                 SCIM_OPS_MAX);
	json_array_foreach(ops, i, o)
	{
		const char *name = json_string_value(scim_key(o, "op", NULL));
		json_t *pathv = scim_key(o, "path", NULL);
		json_t *value = scim_key(o, "value", NULL);
		const char *path = json_string_value(pathv);
		enum scim_op op;
		int r;

		if (name == NULL)
			return scim_fail(c, 400, "invalidSyntax",
			                 "Operations[%zu]: \"op\" is missing",
			                 i);
		/* Entra ID writes "Replace" and "Add". */
		if (strcasecmp(name, "add") == 0)
			op = SCIM_OP_ADD;
		else if (strcasecmp(name, "replace") == 0)
			op = SCIM_OP_REPLACE;
		else if (strcasecmp(name, "remove") == 0)
			op = SCIM_OP_REMOVE;
		else
			return scim_fail(c, 400, "invalidSyntax",
			                 "Operations[%zu]: op '%s' is not add, "
			                 "replace or remove",
			                 i, jsonutil_printable(name));
		if (pathv != NULL && !json_is_null(pathv) && path == NULL)
			return scim_fail(
			    c, 400, "invalidPath",
			    "Operations[%zu]: path is not a string", i);
		if (path == NULL || *path == '\0') {
			if (op == SCIM_OP_REMOVE)
				return scim_fail(
				    c, 400, "noTarget",
				    "Operations[%zu]: remove needs a "
				    "path",
				    i);
			r = scim_patch_object(c, schema, doc, op, value);
		} else {
			r = scim_patch_path(c, schema, doc, op, path, value);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- Users ---- */

/* A user as SCIM shows it; rec NULL when SCIM never wrote one. */
static json_t *scim_user_json(struct scim_call *c, const struct store_user *u,
                              const struct store_scim *rec)
{
	static const char *const kept[] = {"name",     "displayName",
	                                   "nickName", "title",
	                                   "emails",   SCIM_SCHEMA_ENTERPRISE};
	json_t *o, *attrs = NULL, *v;
	size_t i;

	o = json_pack("{s:[s],s:o,s:s,s:b}", "schemas", SCIM_SCHEMA_USER, "id",
	              scim_id_json(u->id), "userName", u->name, "active",
	              (int)!u->disabled);
	if (o == NULL)
		return NULL;
	if (rec != NULL) {
		attrs = json_loads(rec->attrs_json, 0, NULL);
		if (rec->external_id != NULL &&
		    json_object_set_new(o, "externalId",
		                        json_string(rec->external_id)) != 0)
			goto fail;
	}
	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if ((v = json_object_get(attrs, kept[i])) != NULL &&
		    json_object_set(o, kept[i], v) != 0)
			goto fail;
	if (json_object_get(o, SCIM_SCHEMA_ENTERPRISE) != NULL &&
	    json_array_append_new(json_object_get(o, "schemas"),
	                          json_string(SCIM_SCHEMA_ENTERPRISE)) != 0)
		goto fail;
	/* A user made by an admin has the email of its row. */
	if (json_object_get(o, "emails") == NULL && u->email != NULL &&
	    u->email[0] != '\0' &&
	    json_object_set_new(
	        o, "emails",
	        json_pack("[{s:s,s:b}]", "value", u->email, "primary", 1)) != 0)
		goto fail;
	if (json_object_set_new(
	        o, "meta",
	        scim_meta(c, "User", "Users", u->id, u->created_at,
	                  rec != NULL ? rec->updated_at : u->created_at,
	                  rec != NULL ? rec->version : 0)) != 0)
		goto fail;
	json_decref(attrs);
	return o;
fail:
	json_decref(attrs);
	json_decref(o);
	return NULL;
}

/* Loads the user of a path id with its SCIM record (has_rec false: none).
 * A user SCIM deleted is not found. Returns 0, or -1 with the answer. */
static int scim_user_load(struct scim_call *c, const char *id_s,
                          struct store_user *u, struct store_scim *rec,
                          bool *has_rec)
{
	int64_t id = 0;
	int r;

	*has_rec = false;
	if (scim_parse_id(id_s, &id) != 0)
		return scim_fail(c, 404, NULL, "no User with id '%s'",
		                 jsonutil_printable(id_s));
	r = store_user_get_id(c->st, id, u, &c->d);
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		return scim_fail(c, 404, NULL, "no User with id '%s'", id_s);
	}
	if (r != 0)
		return scim_store(c, r);
	r = store_scim_get(c->st, STORE_SCIM_USER, id, rec, &c->d);
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		return 0;
	}
	if (r != 0)
		return scim_store(c, r);
	*has_rec = true;
	if (rec->deleted)
		return scim_fail(c, 404, NULL,
		                 "no User with id '%s' (deleted by SCIM; the "
		                 "offboarded user '%s' stays until an admin "
		                 "removes it)",
		                 id_s, u->name);
	return 0;
}

/* What a User body says, checked. attrs is new; the strings point into
 * the body. */
struct scim_user_in {
	const char *user_name;
	const char *external_id; /* NULL: none */
	bool active;
	bool has_active;   /* false: the body did not say */
	const char *email; /* the primary one; NULL: none */
	json_t *attrs;
};

static int scim_user_read(struct scim_call *c, json_t *doc,
                          struct scim_user_in *in)
{
	static const char *const strs[] = {"displayName", "nickName", "title"};
	json_t *v, *emails, *e, *name;
	const char *first = NULL;
	size_t i;

	memset(in, 0, sizeof(*in));
	in->active = true;
	if (!json_is_object(doc))
		return scim_fail(c, 400, "invalidSyntax",
		                 "a User is a JSON object");
	v = scim_key(doc, "userName", NULL);
	if ((in->user_name = json_string_value(v)) == NULL ||
	    in->user_name[0] == '\0')
		return scim_fail(c, 400, "invalidValue",
		                 "userName is required (a string)");
	v = scim_key(doc, "externalId", NULL);
	if (v != NULL && !json_is_null(v) &&
	    (in->external_id = json_string_value(v)) == NULL)
		return scim_fail(c, 400, "invalidValue",
		                 "externalId must be a string");
	if (in->external_id != NULL && in->external_id[0] == '\0')
		in->external_id = NULL;
	v = scim_key(doc, "active", NULL);
	if (v != NULL && !json_is_null(v)) {
		if (scim_bool(v, &in->active) != 0)
			return scim_fail(c, 400, "invalidValue",
			                 "active must be true or false");
		in->has_active = true;
	}
	if ((in->attrs = json_object()) == NULL)
		return scim_nomem(c);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = scim_key(doc, strs[i], NULL);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v))
			return scim_fail(c, 400, "invalidValue",
			                 "%s must be a string", strs[i]);
		if (json_object_set(in->attrs, strs[i], v) != 0)
			return scim_nomem(c);
	}
	name = scim_key(doc, "name", NULL);
	if (name != NULL && !json_is_null(name)) {
		if (!json_is_object(name))
			return scim_fail(c, 400, "invalidValue",
			                 "name must be an object");
		if (json_object_set_new(in->attrs, "name",
		                        json_deep_copy(name)) != 0)
			return scim_nomem(c);
	}
	v = scim_key(doc, SCIM_SCHEMA_ENTERPRISE, NULL);
	if (json_is_object(v) &&
	    json_object_set_new(in->attrs, SCIM_SCHEMA_ENTERPRISE,
	                        json_deep_copy(v)) != 0)
		return scim_nomem(c);
	emails = scim_key(doc, "emails", NULL);
	if (emails != NULL && !json_is_null(emails)) {
		if (!json_is_array(emails))
			return scim_fail(c, 400, "invalidValue",
			                 "emails must be an array");
		json_array_foreach(emails, i, e)
		{
			const char *val =
			    json_string_value(scim_key(e, "value", NULL));
			bool primary = false;

			if (val == NULL)
				return scim_fail(c, 400, "invalidValue",
				                 "emails[%zu].value must be a "
				                 "string",
				                 i);
			if (first == NULL)
				first = val;
			if (scim_bool(scim_key(e, "primary", NULL), &primary) ==
			        0 &&
			    primary)
				in->email = val;
		}
		if (in->email == NULL)
			in->email = first;
		if (json_array_size(emails) > 0 &&
		    json_object_set_new(in->attrs, "emails",
		                        json_deep_copy(emails)) != 0)
			return scim_nomem(c);
	}
	return 0;
}

/* Stores the record and reads the user back for the answer. */
static int scim_user_answer(struct scim_call *c, int status, int64_t id)
{
	struct store_user u = {0};
	struct store_scim rec = {0};
	bool has = true;
	json_t *res;
	int r;

	if ((r = scim_store(c, store_user_get_id(c->st, id, &u, &c->d))) != 0)
		goto out;
	r = store_scim_get(c->st, STORE_SCIM_USER, id, &rec, &c->d);
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		has = false;
	} else if ((r = scim_store(c, r)) != 0) {
		goto out;
	}
	res = scim_user_json(c, &u, has ? &rec : NULL);
	if ((r = scim_answer(c, status, res)) == 0)
		scim_headers(c, res);
out:
	store_user_clear(&u);
	store_scim_clear(&rec);
	return r;
}

/* Offboards u as POST /api/v1/users/{name}/offboard does, with its audit
 * row, in the transaction being made. */
static int scim_offboard(struct scim_call *c, const struct store_user *u)
{
	struct store_id_list ids = {0};
	json_t *report = NULL, *audit = NULL;
	size_t i;
	int r;

	if ((r = scim_store(c, api_offboard_user(c->st, u, c->actor,
	                                         SCIM_REASON, &report, &audit,
	                                         &ids, &c->d))) != 0)
		goto out;
	r = scim_audit(c, "user.offboard", u->name, audit);
	audit = NULL;
	if (r != 0)
		goto out;
	/* Handed to the revocation hook after the commit. */
	for (i = 0; i < ids.n; i++) {
		char **v = realloc(c->revoked.v,
		                   (c->revoked.n + 1) * sizeof(*c->revoked.v));

		if (v == NULL) {
			r = scim_nomem(c);
			goto out;
		}
		c->revoked.v = v;
		c->revoked.v[c->revoked.n++] = ids.v[i];
		ids.v[i] = NULL;
	}
	c->changed = true;
out:
	json_decref(report);
	json_decref(audit);
	store_id_list_free(&ids);
	return r;
}

/* Writes what in says onto the existing user u (PUT, and PATCH once its
 * operations are applied), in a transaction of its own. */
static int scim_user_write(struct scim_call *c, const struct store_user *u,
                           const struct scim_user_in *in)
{
	char *text = NULL;
	const char *old_email =
	    u->email != NULL && u->email[0] != '\0' ? u->email : NULL;
	int r;

	/* The name is in device certificates, the audit log and calls. A
	 * change of case only is the same userName (RFC 7643 4.1.1: not
	 * caseExact), and the stored spelling stays. */
	if (strcasecmp(in->user_name, u->name) != 0)
		return scim_fail(
		    c, 400, "mutability",
		    "userName cannot change from '%s' to '%s': "
		    "mcpfleet names users in device certificates, "
		    "the audit log and calls; provision a new user "
		    "instead",
		    u->name, jsonutil_printable(in->user_name));
	if ((text = json_dumps(in->attrs, JSON_COMPACT)) == NULL)
		return scim_nomem(c);
	if ((r = scim_begin(c)) != 0)
		goto out;
	if ((old_email == NULL) != (in->email == NULL) ||
	    (old_email != NULL && strcmp(old_email, in->email) != 0))
		if ((r = scim_store(c, store_user_set_email(
		                           c->st, u->id, in->email, &c->d))) !=
		    0)
			goto out;
	if ((r = scim_store(c, store_scim_put(c->st, STORE_SCIM_USER, u->id,
	                                      in->external_id, text, false,
	                                      &c->d))) != 0 ||
	    (r = scim_audit(
	         c, "scim.user.update", u->name,
	         json_pack("{s:s?}", "externalId", in->external_id))) != 0)
		goto out;
	/* A body that does not say leaves the state as it is: a PUT without
	 * active never enables an offboarded user by accident. */
	if (in->has_active && !u->disabled && !in->active) {
		if ((r = scim_offboard(c, u)) != 0)
			goto out;
	} else if (in->has_active && u->disabled && in->active) {
		/* Enabled again: new enrollment links work; the revoked
		 * devices stay revoked. */
		if ((r = scim_store(c, store_user_set_disabled(
		                           c->st, u->id, false, &c->d))) != 0 ||
		    (r = scim_audit(c, "user.enable", u->name, NULL)) != 0)
			goto out;
		c->changed = true;
	}
	if ((r = scim_commit(c)) != 0)
		goto out;
	r = scim_user_answer(c, 200, u->id);
out:
	free(text);
	return r;
}

static int scim_user_create(struct scim_call *c, json_t *body)
{
	struct scim_user_in in = {0};
	struct store_user u = {0};
	int64_t id = 0, other = 0;
	char *text = NULL;
	int r;

	if ((r = scim_user_read(c, body, &in)) != 0)
		goto out;
	/* Unique in any case (RFC 7643 4.1.1): "Ann@x" takes "ann@x". */
	r = store_user_get_nocase(c->st, in.user_name, &u, &c->d);
	diag_clear(&c->d);
	if (r == 0) {
		r = scim_fail(c, 409, "uniqueness",
		              "userName '%s' is taken by user %" PRId64
		              " ('%s')",
		              jsonutil_printable(in.user_name), u.id, u.name);
		goto out;
	}
	if (in.external_id != NULL &&
	    store_scim_find(c->st, STORE_SCIM_USER, in.external_id, &other,
	                    &c->d) == 0) {
		r = scim_fail(c, 409, "uniqueness",
		              "externalId '%s' already names user %" PRId64,
		              jsonutil_printable(in.external_id), other);
		goto out;
	}
	diag_clear(&c->d);
	if ((text = json_dumps(in.attrs, JSON_COMPACT)) == NULL) {
		r = scim_nomem(c);
		goto out;
	}
	if ((r = scim_begin(c)) != 0 ||
	    (r = scim_store(c, store_user_add(c->st, in.user_name, in.email,
	                                      &id, &c->d))) != 0 ||
	    (r = scim_store(c, store_scim_put(c->st, STORE_SCIM_USER, id,
	                                      in.external_id, text, false,
	                                      &c->d))) != 0 ||
	    (r = scim_audit(c, "user.add", in.user_name,
	                    json_pack("{s:s?,s:s?}", "email", in.email,
	                              "externalId", in.external_id))) != 0)
		goto out;
	/* Provisioned inactive: disabled from the start (nothing to
	 * revoke yet). */
	if (!in.active &&
	    ((r = scim_store(
	          c, store_user_set_disabled(c->st, id, true, &c->d))) != 0 ||
	     (r = scim_audit(c, "user.disable", in.user_name, NULL)) != 0))
		goto out;
	if ((r = scim_commit(c)) != 0)
		goto out;
	r = scim_user_answer(c, 201, id);
out:
	json_decref(in.attrs);
	free(text);
	store_user_clear(&u);
	return r;
}

/* The SCIM view of user u into *res, NULL when SCIM deleted them.
 * Returns 0, or -1 with the answer set. */
static int scim_user_view(struct scim_call *c, const struct store_user *u,
                          json_t **res)
{
	struct store_scim rec = {0};
	bool has = false, deleted;
	int r;

	*res = NULL;
	r = store_scim_get(c->st, STORE_SCIM_USER, u->id, &rec, &c->d);
	if (r == 0)
		has = true;
	else if (r == -ERR_NOENT)
		diag_clear(&c->d);
	else
		return scim_store(c, r);
	deleted = has && rec.deleted;
	if (!deleted)
		*res = scim_user_json(c, u, has ? &rec : NULL);
	store_scim_clear(&rec);
	if (!deleted && *res == NULL)
		return scim_nomem(c);
	return 0;
}

/* Appends res (taken; NULL: none) to all when f (NULL: none) matches it.
 * Returns 0, or -1 with the answer set. */
static int scim_keep(struct scim_call *c, json_t *all, json_t *res,
                     const struct scimf *f)
{
	int r = 0;

	if (res != NULL && (f == NULL || scimf_match(f, res)) &&
	    json_array_append(all, res) != 0)
		r = scim_nomem(c);
	json_decref(res);
	return r;
}

/*
 * The users filter f selects, found with the store's lookups when f
 * requires an id, externalId or userName ("userName eq \"x\"", alone or
 * and-ed), the identity providers' common query. Returns 1 with the
 * matches in all, 0 when the list must be read instead, or -1 with the
 * answer set.
 */
static int scim_users_lookup(struct scim_call *c, const struct scimf *f,
                             json_t *all)
{
	struct store_user u = {0};
	const char *v, *name = NULL;
	int64_t id = 0;
	json_t *res;
	int r;

	if ((v = scimf_required_eq(f, "id")) != NULL) {
		if (scim_parse_id(v, &id) != 0)
			return 1; /* no user has that id */
		r = store_user_get_id(c->st, id, &u, &c->d);
	} else if ((v = scimf_required_eq(f, "externalId")) != NULL) {
		r = store_scim_find(c->st, STORE_SCIM_USER, v, &id, &c->d);
		if (r == 0)
			r = store_user_get_id(c->st, id, &u, &c->d);
	} else if ((name = scimf_required_eq(f, "userName")) != NULL) {
		r = store_user_get(c->st, name, &u, &c->d);
	} else {
		return 0;
	}
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		/* userName compares in any case (RFC 7643 4.1.1): a miss of
		 * this spelling reads the list. */
		return name != NULL ? 0 : 1;
	}
	if (r != 0)
		return scim_store(c, r);
	r = scim_user_view(c, &u, &res);
	store_user_clear(&u);
	if (r != 0)
		return -1;
	if (name != NULL && (res == NULL || !scimf_match(f, res))) {
		json_decref(res);
		return 0;
	}
	return scim_keep(c, all, res, f) == 0 ? 1 : -1;
}

static int scim_users_list(struct scim_call *c)
{
	struct scimf f;
	bool has_f = false;
	struct store_user_list l = {0};
	json_t *all = NULL, *res;
	int64_t start, count;
	size_t i;
	int r;

	if ((r = scim_list_query(c, &scimf_users, &f, &has_f, &start,
	                         &count)) != 0)
		return r;
	if ((all = json_array()) == NULL)
		return scim_nomem(c);
	r = has_f ? scim_users_lookup(c, &f, all) : 0;
	if (r < 0)
		goto out;
	if (r == 0) {
		if ((r = scim_store(c, store_user_list(c->st, &l, &c->d))) != 0)
			goto out;
		for (i = 0; i < l.n; i++)
			if ((r = scim_user_view(c, &l.v[i], &res)) != 0 ||
			    (r = scim_keep(c, all, res, has_f ? &f : NULL)) !=
			        0)
				goto out;
	}
	r = scim_answer(c, 200, scim_list(all, start, count));
	all = NULL;
out:
	json_decref(all);
	store_user_list_free(&l);
	return r;
}

/* DELETE: offboards the user (when still active) and deletes them from
 * SCIM's view; the disabled user and their report stay for the admins. */
static int scim_user_delete(struct scim_call *c, const struct store_user *u,
                            const struct store_scim *rec, bool has_rec)
{
	int r;

	if ((r = scim_begin(c)) != 0)
		return r;
	if (!u->disabled && (r = scim_offboard(c, u)) != 0)
		return r;
	if ((r = scim_store(c, store_scim_put(c->st, STORE_SCIM_USER, u->id,
	                                      has_rec ? rec->external_id : NULL,
	                                      has_rec ? rec->attrs_json : "{}",
	                                      true, &c->d))) != 0 ||
	    (r = scim_audit(c, "scim.user.delete", u->name, NULL)) != 0 ||
	    (r = scim_commit(c)) != 0)
		return r;
	c->status = 204;
	json_decref(c->out);
	c->out = NULL;
	return 0;
}

static int scim_users(struct scim_call *c, const char *id, json_t *body)
{
	const char *m = c->req->method;
	struct store_user u = {0};
	struct store_scim rec = {0};
	struct scim_user_in in = {0};
	json_t *doc = NULL;
	bool has = false;
	int r;

	if (id == NULL) {
		if (strcmp(m, "GET") == 0)
			return scim_users_list(c);
		return scim_user_create(c, body);
	}
	if ((r = scim_user_load(c, id, &u, &rec, &has)) != 0)
		goto out;
	if (strcmp(m, "GET") == 0) {
		json_t *res = scim_user_json(c, &u, has ? &rec : NULL);

		if ((r = scim_answer(c, 200, res)) == 0)
			scim_headers(c, res);
	} else if (strcmp(m, "DELETE") == 0) {
		r = scim_user_delete(c, &u, &rec, has);
	} else if (strcmp(m, "PUT") == 0) {
		if ((r = scim_user_read(c, body, &in)) == 0)
			r = scim_user_write(c, &u, &in);
	} else {
		/* PATCH: the operations on the resource as it is, then the
		 * result written as a PUT would. */
		if ((doc = scim_user_json(c, &u, has ? &rec : NULL)) == NULL) {
			r = scim_nomem(c);
			goto out;
		}
		if ((r = scim_patch(c, &scimf_users, body, doc)) == 0 &&
		    (r = scim_user_read(c, doc, &in)) == 0)
			r = scim_user_write(c, &u, &in);
	}
out:
	json_decref(doc);
	json_decref(in.attrs);
	store_user_clear(&u);
	store_scim_clear(&rec);
	return r;
}

/* ---- Groups ---- */

/* A team name from a displayName: letters, digits and . _ @ - kept, a run
 * of anything else one '-', starting with a letter or digit
 * ("Platform Team" is platform team's "Platform-Team"); false when that
 * leaves nothing. */
static bool scim_team_name_make(const char *display,
                                char out[STORE_NAME_MAX + 1])
{
	size_t n = 0;
	const char *p;

	for (p = display; *p != '\0' && n < STORE_NAME_MAX; p++) {
		unsigned char ch = (unsigned char)*p;

		if (isalnum(ch) && ch < 0x80)
			out[n++] = (char)ch;
		else if (n > 0 &&
		         (ch == '.' || ch == '_' || ch == '@' || ch == '-'))
			out[n++] = (char)ch;
		else if (n > 0 && out[n - 1] != '-')
			out[n++] = '-';
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	return n > 0;
}

/* As scim_team_name_make(); returns 0, or -1 with the answer set. */
static int scim_team_name(struct scim_call *c, const char *display,
                          char out[STORE_NAME_MAX + 1])
{
	if (!scim_team_name_make(display, out))
		return scim_fail(c, 400, "invalidValue",
		                 "displayName '%s' has no letter or digit to "
		                 "name a team with",
		                 jsonutil_printable(display));
	return 0;
}

static json_t *scim_group_json(struct scim_call *c, const struct store_team *t,
                               const struct store_scim *rec,
                               const struct store_user_list *members)
{
	json_t *o, *attrs = NULL, *m;
	const char *display = t->name;
	char ref[SCIM_BASE_MAX + 64];
	size_t i;

	if (rec != NULL) {
		attrs = json_loads(rec->attrs_json, 0, NULL);
		if (json_is_string(json_object_get(attrs, "displayName")))
			display = json_string_value(
			    json_object_get(attrs, "displayName"));
	}
	o = json_pack("{s:[s],s:o,s:s,s:[]}", "schemas", SCIM_SCHEMA_GROUP,
	              "id", scim_id_json(t->id), "displayName", display,
	              "members");
	json_decref(attrs);
	if (o == NULL)
		return NULL;
	if (rec != NULL && rec->external_id != NULL &&
	    json_object_set_new(o, "externalId",
	                        json_string(rec->external_id)) != 0)
		goto fail;
	m = json_object_get(o, "members");
	for (i = 0; i < members->n; i++) {
		(void)snprintf(ref, sizeof(ref), "%s/Users/%" PRId64, c->base,
		               members->v[i].id);
		if (json_array_append_new(
		        m, json_pack("{s:o,s:s,s:s,s:s}", "value",
		                     scim_id_json(members->v[i].id), "display",
		                     members->v[i].name, "type", "User", "$ref",
		                     ref)) != 0)
			goto fail;
	}
	if (json_object_set_new(
	        o, "meta",
	        scim_meta(c, "Group", "Groups", t->id, t->created_at,
	                  rec != NULL ? rec->updated_at : t->created_at,
	                  rec != NULL ? rec->version : 0)) != 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* A team's Group with its members, read from the store. */
static json_t *scim_group_read(struct scim_call *c, const struct store_team *t,
                               int *r)
{
	struct store_scim rec = {0};
	struct store_user_list mem = {0};
	bool has = false;
	json_t *res = NULL;

	*r = store_scim_get(c->st, STORE_SCIM_GROUP, t->id, &rec, &c->d);
	if (*r == 0)
		has = true;
	else if (*r == -ERR_NOENT)
		diag_clear(&c->d);
	else {
		*r = scim_store(c, *r);
		goto out;
	}
	if ((*r = scim_store(
	         c, store_member_users(c->st, t->id, &mem, &c->d))) != 0)
		goto out;
	if ((res = scim_group_json(c, t, has ? &rec : NULL, &mem)) == NULL)
		*r = scim_nomem(c);
out:
	store_scim_clear(&rec);
	store_user_list_free(&mem);
	return res;
}

static int scim_group_answer(struct scim_call *c, int status, int64_t id)
{
	struct store_team t = {0};
	json_t *res;
	int r;

	if ((r = scim_store(c, store_team_get_id(c->st, id, &t, &c->d))) != 0)
		goto out;
	if ((res = scim_group_read(c, &t, &r)) == NULL)
		goto out;
	if ((r = scim_answer(c, status, res)) == 0)
		scim_headers(c, res);
out:
	store_team_clear(&t);
	return r;
}

/* What a Group body says, checked: the member user ids, sorted and
 * without repeats. */
struct scim_group_in {
	const char *display;
	const char *external_id;
	int64_t *members;
	size_t nmembers;
};

static int scim_id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int scim_group_read_in(struct scim_call *c, json_t *doc,
                              struct scim_group_in *in)
{
	json_t *v, *mem, *e;
	size_t i, n = 0;

	memset(in, 0, sizeof(*in));
	if (!json_is_object(doc))
		return scim_fail(c, 400, "invalidSyntax",
		                 "a Group is a JSON object");
	v = scim_key(doc, "displayName", NULL);
	if ((in->display = json_string_value(v)) == NULL ||
	    in->display[0] == '\0')
		return scim_fail(c, 400, "invalidValue",
		                 "displayName is required (a string)");
	if (strlen(in->display) > STORE_TEXT_MAX)
		return scim_fail(c, 400, "invalidValue",
		                 "displayName is longer than %d bytes",
		                 STORE_TEXT_MAX);
	v = scim_key(doc, "externalId", NULL);
	if (v != NULL && !json_is_null(v) &&
	    (in->external_id = json_string_value(v)) == NULL)
		return scim_fail(c, 400, "invalidValue",
		                 "externalId must be a string");
	if (in->external_id != NULL && in->external_id[0] == '\0')
		in->external_id = NULL;
	mem = scim_key(doc, "members", NULL);
	if (mem == NULL || json_is_null(mem))
		return 0;
	if (!json_is_array(mem))
		return scim_fail(c, 400, "invalidValue",
		                 "members must be an array");
	if (json_array_size(mem) > SCIM_MEMBERS_MAX)
		return scim_fail(c, 400, "tooMany",
		                 "a Group has at most %d members",
		                 SCIM_MEMBERS_MAX);
	if (json_array_size(mem) > 0 &&
	    (in->members =
	         calloc(json_array_size(mem), sizeof(*in->members))) == NULL)
		return scim_nomem(c);
	json_array_foreach(mem, i, e)
	{
		const char *s = json_string_value(scim_key(e, "value", NULL));
		int64_t id = 0;

		if (s == NULL || scim_parse_id(s, &id) != 0)
			return scim_fail(
			    c, 400, "invalidValue",
			    "members[%zu].value must be the id of a "
			    "User (\"12\")",
			    i);
		in->members[n++] = id;
	}
	if (n > 0)
		qsort(in->members, n, sizeof(*in->members), scim_id_cmp);
	for (i = 0, in->nmembers = 0; i < n; i++)
		if (in->nmembers == 0 ||
		    in->members[in->nmembers - 1] != in->members[i])
			in->members[in->nmembers++] = in->members[i];
	return 0;
}

static bool scim_has_id(const int64_t *v, size_t n, int64_t id)
{
	return n > 0 && bsearch(&id, v, n, sizeof(*v), scim_id_cmp) != NULL;
}

/* Makes the team's members those of in, one audit row a change, in the
 * transaction being made. */
static int scim_group_members(struct scim_call *c, const struct store_team *t,
                              const struct scim_group_in *in)
{
	struct store_user_list cur = {0};
	int64_t *have = NULL;
	size_t i;
	int r;

	if ((r = scim_store(
	         c, store_member_users(c->st, t->id, &cur, &c->d))) != 0)
		goto out;
	if (cur.n > 0 && (have = calloc(cur.n, sizeof(*have))) == NULL) {
		r = scim_nomem(c);
		goto out;
	}
	for (i = 0; i < cur.n; i++)
		have[i] = cur.v[i].id;
	if (cur.n > 0) /* qsort() takes no NULL, even for nothing */
		qsort(have, cur.n, sizeof(*have), scim_id_cmp);
	for (i = 0; i < cur.n; i++) {
		if (scim_has_id(in->members, in->nmembers, cur.v[i].id))
			continue;
		if ((r = scim_store(c, store_member_remove(c->st, t->id,
		                                           cur.v[i].id,
		                                           &c->d))) != 0 ||
		    (r = scim_audit(
		         c, "team.member.remove", t->name,
		         json_pack("{s:s}", "user", cur.v[i].name))) != 0)
			goto out;
		c->changed = true;
	}
	for (i = 0; i < in->nmembers; i++) {
		struct store_user u = {0};

		if (scim_has_id(have, cur.n, in->members[i]))
			continue;
		r = store_user_get_id(c->st, in->members[i], &u, &c->d);
		if (r == -ERR_NOENT) {
			diag_clear(&c->d);
			r = scim_fail(c, 400, "invalidValue",
			              "members: no User with id '%" PRId64 "'",
			              in->members[i]);
			goto out;
		}
		if ((r = scim_store(c, r)) != 0)
			goto out;
		r = scim_store(c, store_member_add(c->st, t->id, u.id, &c->d));
		if (r == 0)
			r = scim_audit(c, "team.member.add", t->name,
			               json_pack("{s:s}", "user", u.name));
		store_user_clear(&u);
		if (r != 0)
			goto out;
		c->changed = true;
	}
out:
	free(have);
	store_user_list_free(&cur);
	return r;
}

static int scim_group_write(struct scim_call *c, const struct store_team *t,
                            const struct scim_group_in *in, bool created)
{
	json_t *attrs = json_pack("{s:s}", "displayName", in->display);
	char *text = attrs != NULL ? json_dumps(attrs, JSON_COMPACT) : NULL;
	int r;

	json_decref(attrs);
	if (text == NULL)
		return scim_nomem(c);
	if ((r = scim_store(c, store_scim_put(c->st, STORE_SCIM_GROUP, t->id,
	                                      in->external_id, text, false,
	                                      &c->d))) != 0 ||
	    (!created &&
	     (r = scim_audit(c, "scim.group.update", t->name,
	                     json_pack("{s:s,s:s?}", "displayName", in->display,
	                               "externalId", in->external_id))) != 0) ||
	    (r = scim_group_members(c, t, in)) != 0)
		goto out;
out:
	free(text);
	return r;
}

static int scim_group_create(struct scim_call *c, json_t *body)
{
	struct scim_group_in in = {0};
	char name[STORE_NAME_MAX + 1];
	struct store_team t = {0};
	int64_t id = 0, other = 0;
	int r;

	if ((r = scim_group_read_in(c, body, &in)) != 0 ||
	    (r = scim_team_name(c, in.display, name)) != 0)
		goto out;
	if (in.external_id != NULL &&
	    store_scim_find(c->st, STORE_SCIM_GROUP, in.external_id, &other,
	                    &c->d) == 0) {
		r = scim_fail(c, 409, "uniqueness",
		              "externalId '%s' already names group %" PRId64,
		              jsonutil_printable(in.external_id), other);
		goto out;
	}
	diag_clear(&c->d);
	if ((r = scim_begin(c)) != 0)
		goto out;
	r = store_team_add(c->st, name, &id, &c->d);
	if (r == -ERR_EXISTS) {
		diag_clear(&c->d);
		r = scim_fail(c, 409, "uniqueness",
		              "displayName '%s' names team '%s', which exists",
		              jsonutil_printable(in.display), name);
		goto out;
	}
	if ((r = scim_store(c, r)) != 0 ||
	    (r = scim_store(c, store_team_get_id(c->st, id, &t, &c->d))) != 0 ||
	    (r = scim_audit(c, "team.add", t.name,
	                    json_pack("{s:s,s:s?}", "displayName", in.display,
	                              "externalId", in.external_id))) != 0 ||
	    (r = scim_group_write(c, &t, &in, true)) != 0 ||
	    (r = scim_commit(c)) != 0)
		goto out;
	r = scim_group_answer(c, 201, id);
out:
	free(in.members);
	store_team_clear(&t);
	return r;
}

/*
 * The groups filter f selects, found with the store's lookups when f
 * requires an id, externalId or displayName, as scim_users_lookup() does
 * for users. A displayName is looked up by the team name it makes.
 * Returns 1 with the matches in all, 0 when the list must be read
 * instead, or -1 with the answer set.
 */
static int scim_groups_lookup(struct scim_call *c, const struct scimf *f,
                              json_t *all)
{
	struct store_team t = {0};
	char name[STORE_NAME_MAX + 1];
	const char *v, *display = NULL;
	int64_t id = 0;
	json_t *res;
	int r;

	if ((v = scimf_required_eq(f, "id")) != NULL) {
		if (scim_parse_id(v, &id) != 0)
			return 1;
		r = store_team_get_id(c->st, id, &t, &c->d);
	} else if ((v = scimf_required_eq(f, "externalId")) != NULL) {
		r = store_scim_find(c->st, STORE_SCIM_GROUP, v, &id, &c->d);
		if (r == 0)
			r = store_team_get_id(c->st, id, &t, &c->d);
	} else if ((display = scimf_required_eq(f, "displayName")) != NULL) {
		if (!scim_team_name_make(display, name))
			return 0;
		r = store_team_get(c->st, name, &t, &c->d);
	} else {
		return 0;
	}
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		/* A displayName changed since the team was named, or one
		 * that differs in case: the list tells. */
		return display != NULL ? 0 : 1;
	}
	if (r != 0)
		return scim_store(c, r);
	res = scim_group_read(c, &t, &r);
	store_team_clear(&t);
	if (res == NULL)
		return -1;
	if (display != NULL && !scimf_match(f, res)) {
		json_decref(res);
		return 0;
	}
	return scim_keep(c, all, res, f) == 0 ? 1 : -1;
}

static int scim_groups_list(struct scim_call *c)
{
	struct scimf f;
	bool has_f = false;
	struct store_team_list l = {0};
	json_t *all = NULL, *res;
	int64_t start, count;
	size_t i;
	int r;

	if ((r = scim_list_query(c, &scimf_groups, &f, &has_f, &start,
	                         &count)) != 0)
		return r;
	if ((all = json_array()) == NULL)
		return scim_nomem(c);
	r = has_f ? scim_groups_lookup(c, &f, all) : 0;
	if (r < 0)
		goto out;
	if (r == 0) {
		if ((r = scim_store(c, store_team_list(c->st, &l, &c->d))) != 0)
			goto out;
		for (i = 0; i < l.n; i++) {
			if ((res = scim_group_read(c, &l.v[i], &r)) == NULL ||
			    (r = scim_keep(c, all, res, has_f ? &f : NULL)) !=
			        0)
				goto out;
		}
	}
	r = scim_answer(c, 200, scim_list(all, start, count));
	all = NULL;
out:
	json_decref(all);
	store_team_list_free(&l);
	return r;
}

static int scim_groups(struct scim_call *c, const char *id_s, json_t *body)
{
	const char *m = c->req->method;
	struct store_team t = {0};
	struct scim_group_in in = {0};
	json_t *doc = NULL;
	int64_t id = 0;
	int r;

	if (id_s == NULL) {
		if (strcmp(m, "GET") == 0)
			return scim_groups_list(c);
		return scim_group_create(c, body);
	}
	if (scim_parse_id(id_s, &id) != 0)
		return scim_fail(c, 404, NULL, "no Group with id '%s'",
		                 jsonutil_printable(id_s));
	r = store_team_get_id(c->st, id, &t, &c->d);
	if (r == -ERR_NOENT) {
		diag_clear(&c->d);
		return scim_fail(c, 404, NULL, "no Group with id '%s'", id_s);
	}
	if ((r = scim_store(c, r)) != 0)
		goto out;
	if (strcmp(m, "GET") == 0) {
		r = scim_group_answer(c, 200, id);
	} else if (strcmp(m, "DELETE") == 0) {
		/* The team goes, with its grants and memberships. */
		c->changed = true;
		if ((r = scim_begin(c)) != 0 ||
		    (r = scim_store(
		         c, store_team_remove(c->st, t.id, &c->d))) != 0 ||
		    (r = scim_audit(
		         c, "team.remove", t.name,
		         json_pack("{s:I}", "id", (json_int_t)t.id))) != 0 ||
		    (r = scim_commit(c)) != 0)
			goto out;
		c->status = 204;
		json_decref(c->out);
		c->out = NULL;
	} else {
		if (strcmp(m, "PATCH") == 0) {
			if ((doc = scim_group_read(c, &t, &r)) == NULL ||
			    (r = scim_patch(c, &scimf_groups, body, doc)) != 0)
				goto out;
			body = doc;
		}
		if ((r = scim_group_read_in(c, body, &in)) != 0 ||
		    (r = scim_begin(c)) != 0 ||
		    (r = scim_group_write(c, &t, &in, false)) != 0 ||
		    (r = scim_commit(c)) != 0)
			goto out;
		r = scim_group_answer(c, 200, id);
	}
out:
	json_decref(doc);
	free(in.members);
	store_team_clear(&t);
	return r;
}

/* ---- Discovery (RFC 7644 4) ---- */

/* One attribute of a schema. */
static json_t *scim_attr(const char *name, const char *type, bool multi,
                         bool required, const char *mutability,
                         const char *uniqueness, json_t *subs)
{
	json_t *a =
	    json_pack("{s:s,s:s,s:b,s:b,s:b,s:s,s:s,s:s}", "name", name, "type",
	              type, "multiValued", (int)multi, "required",
	              (int)required, "caseExact", 0, "mutability", mutability,
	              "returned", "default", "uniqueness", uniqueness);

	if (a != NULL && subs != NULL &&
	    json_object_set_new(a, "subAttributes", subs) != 0) {
		json_decref(a);
		return NULL;
	}
	if (a == NULL)
		json_decref(subs);
	return a;
}

static json_t *scim_schema_user(struct scim_call *c)
{
	char loc[SCIM_BASE_MAX + 80];

	(void)snprintf(loc, sizeof(loc), "%s/Schemas/%s", c->base,
	               SCIM_SCHEMA_USER);
	return json_pack(
	    "{s:[s],s:s,s:s,s:s,s:[o,o,o,o,o,o,o],s:{s:s,s:s}}", "schemas",
	    SCIM_SCHEMA_SCHEMA, "id", SCIM_SCHEMA_USER, "name", "User",
	    "description",
	    "An mcpfleet user. userName is the user's name (letters, digits "
	    "and . _ @ -) and cannot change; active false offboards them.",
	    "attributes",
	    scim_attr("userName", "string", false, true, "immutable", "server",
	              NULL),
	    scim_attr("name", "complex", false, false, "readWrite", "none",
	              json_pack("[o,o,o]",
	                        scim_attr("formatted", "string", false, false,
	                                  "readWrite", "none", NULL),
	                        scim_attr("givenName", "string", false, false,
	                                  "readWrite", "none", NULL),
	                        scim_attr("familyName", "string", false, false,
	                                  "readWrite", "none", NULL))),
	    scim_attr("displayName", "string", false, false, "readWrite",
	              "none", NULL),
	    scim_attr("nickName", "string", false, false, "readWrite", "none",
	              NULL),
	    scim_attr("title", "string", false, false, "readWrite", "none",
	              NULL),
	    scim_attr("emails", "complex", true, false, "readWrite", "none",
	              json_pack("[o,o,o]",
	                        scim_attr("value", "string", false, false,
	                                  "readWrite", "none", NULL),
	                        scim_attr("type", "string", false, false,
	                                  "readWrite", "none", NULL),
	                        scim_attr("primary", "boolean", false, false,
	                                  "readWrite", "none", NULL))),
	    scim_attr("active", "boolean", false, false, "readWrite", "none",
	              NULL),
	    "meta", "resourceType", "Schema", "location", loc);
}

static json_t *scim_schema_group(struct scim_call *c)
{
	char loc[SCIM_BASE_MAX + 80];

	(void)snprintf(loc, sizeof(loc), "%s/Schemas/%s", c->base,
	               SCIM_SCHEMA_GROUP);
	return json_pack(
	    "{s:[s],s:s,s:s,s:s,s:[o,o],s:{s:s,s:s}}", "schemas",
	    SCIM_SCHEMA_SCHEMA, "id", SCIM_SCHEMA_GROUP, "name", "Group",
	    "description",
	    "An mcpfleet team. Its name is made from the first displayName; "
	    "members are Users.",
	    "attributes",
	    scim_attr("displayName", "string", false, true, "readWrite",
	              "server", NULL),
	    scim_attr("members", "complex", true, false, "readWrite", "none",
	              json_pack("[o,o]",
	                        scim_attr("value", "string", false, false,
	                                  "immutable", "none", NULL),
	                        scim_attr("display", "string", false, false,
	                                  "readOnly", "none", NULL))),
	    "meta", "resourceType", "Schema", "location", loc);
}

static json_t *scim_resource_type(struct scim_call *c, const char *name)
{
	bool user = strcmp(name, "User") == 0;
	char loc[SCIM_BASE_MAX + 40];
	json_t *o;

	(void)snprintf(loc, sizeof(loc), "%s/ResourceTypes/%s", c->base, name);
	o = json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "schemas",
	              SCIM_SCHEMA_RT, "id", name, "name", name, "endpoint",
	              user ? "/Users" : "/Groups", "description",
	              user ? "mcpfleet users" : "mcpfleet teams", "schema",
	              user ? SCIM_SCHEMA_USER : SCIM_SCHEMA_GROUP, "meta",
	              "resourceType", "ResourceType", "location", loc);
	if (o != NULL && user &&
	    json_object_set_new(o, "schemaExtensions",
	                        json_pack("[{s:s,s:b}]", "schema",
	                                  SCIM_SCHEMA_ENTERPRISE, "required",
	                                  0)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *scim_spc(struct scim_call *c)
{
	char loc[SCIM_BASE_MAX + 40];

	(void)snprintf(loc, sizeof(loc), "%s/ServiceProviderConfig", c->base);
	return json_pack(
	    "{s:[s],s:{s:b},s:{s:b,s:i,s:i},s:{s:b,s:i},s:{s:b},s:{s:b},"
	    "s:{s:b},s:[{s:s,s:s,s:s,s:b}],s:{s:s,s:s}}",
	    "schemas", SCIM_SCHEMA_SPC, "patch", "supported", 1, "bulk",
	    "supported", 0, "maxOperations", 0, "maxPayloadSize", 0, "filter",
	    "supported", 1, "maxResults", SCIM_COUNT_MAX, "changePassword",
	    "supported", 0, "sort", "supported", 0, "etag", "supported", 0,
	    "authenticationSchemes", "type", "oauthbearertoken", "name",
	    "Bearer token", "description",
	    "An mcpfleet admin token of role scim: mcpfleetctl admin-token "
	    "create NAME --role scim",
	    "primary", 1, "meta", "resourceType", "ServiceProviderConfig",
	    "location", loc);
}

/* GET of a discovery path (rest: after SCIM_PREFIX). Returns 1 when rest
 * is not one. */
static int scim_discovery(struct scim_call *c, const char *coll, const char *id)
{
	json_t *v = NULL;

	if (strcmp(coll, "ServiceProviderConfig") == 0 && id == NULL)
		v = scim_spc(c);
	else if (strcmp(coll, "ResourceTypes") == 0 && id == NULL)
		v = scim_list(json_pack("[o,o]", scim_resource_type(c, "User"),
		                        scim_resource_type(c, "Group")),
		              1, SCIM_COUNT_MAX);
	else if (strcmp(coll, "ResourceTypes") == 0 &&
	         (strcmp(id, "User") == 0 || strcmp(id, "Group") == 0))
		v = scim_resource_type(c, id);
	else if (strcmp(coll, "Schemas") == 0 && id == NULL)
		v = scim_list(json_pack("[o,o]", scim_schema_user(c),
		                        scim_schema_group(c)),
		              1, SCIM_COUNT_MAX);
	else if (strcmp(coll, "Schemas") == 0 &&
	         strcmp(id, SCIM_SCHEMA_USER) == 0)
		v = scim_schema_user(c);
	else if (strcmp(coll, "Schemas") == 0 &&
	         strcmp(id, SCIM_SCHEMA_GROUP) == 0)
		v = scim_schema_group(c);
	else
		return scim_fail(c, 404, NULL, "no %s '%s'", coll,
		                 jsonutil_printable(id));
	return scim_answer(c, 200, v);
}

/* ---- Dispatch ---- */

/* Parses the body of a write: a JSON object of at most SCIM_BODY_MAX
 * bytes, as application/scim+json (or application/json). */
static int scim_body(struct scim_call *c, json_t **out)
{
	const char *ct = c->req->content_type;
	json_error_t jerr;

	if (ct != NULL && *ct != '\0' &&
	    strncasecmp(ct, "application/scim+json", 21) != 0 &&
	    strncasecmp(ct, "application/json", 16) != 0)
		return scim_fail(c, 415, "invalidSyntax",
		                 "Content-Type '%s' is not "
		                 "application/scim+json",
		                 jsonutil_printable(ct));
	if (c->req->body_len > SCIM_BODY_MAX)
		return scim_fail(c, 413, NULL,
		                 "the body is larger than %u bytes",
		                 SCIM_BODY_MAX);
	if (jsonutil_depth(c->req->body, c->req->body_len) > SCIM_DEPTH_MAX)
		return scim_fail(
		    c, 400, "invalidSyntax",
		    "the body nests arrays and objects deeper than "
		    "%d levels",
		    SCIM_DEPTH_MAX);
	*out = json_loadb(c->req->body, c->req->body_len,
	                  JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		return scim_fail(c, 400, "invalidSyntax",
		                 "the body is not JSON: %d:%d: %s", jerr.line,
		                 jerr.column, jerr.text);
	if (!json_is_object(*out))
		return scim_fail(c, 400, "invalidSyntax",
		                 "the body must be a JSON object");
	return 0;
}

/* The methods a path takes, for a 405. */
static bool scim_method_ok(struct scim_call *c, bool discovery, bool has_id)
{
	const char *m = c->req->method;

	if (discovery)
		return strcmp(m, "GET") == 0;
	if (!has_id)
		return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0;
	return strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0 ||
	       strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0;
}

void scim_handle(struct scim_call *c)
{
	const char *path = c->req->path + strlen(SCIM_PREFIX);
	char coll[64], id[256];
	const char *slash;
	bool discovery, has_id;
	json_t *body = NULL;
	size_t n;

	c->status = 500;
	coll[0] = id[0] = '\0';
	if (*path == '/')
		path++;
	slash = strchr(path, '/');
	n = slash != NULL ? (size_t)(slash - path) : strlen(path);
	if (n == 0 || n >= sizeof(coll) ||
	    (slash != NULL &&
	     (strlen(slash + 1) == 0 || strlen(slash + 1) >= sizeof(id) ||
	      strchr(slash + 1, '/') != NULL))) {
		(void)scim_fail(c, 404, NULL, "no SCIM resource '%s'",
		                jsonutil_printable(c->req->path));
		return;
	}
	memcpy(coll, path, n);
	coll[n] = '\0';
	has_id = slash != NULL;
	if (has_id)
		(void)snprintf(id, sizeof(id), "%s", slash + 1);
	discovery = strcmp(coll, "ServiceProviderConfig") == 0 ||
	            strcmp(coll, "ResourceTypes") == 0 ||
	            strcmp(coll, "Schemas") == 0;
	if (!discovery && strcmp(coll, "Users") != 0 &&
	    strcmp(coll, "Groups") != 0) {
		(void)scim_fail(
		    c, 404, NULL,
		    "no SCIM resource '%s': there are Users, Groups, "
		    "ServiceProviderConfig, ResourceTypes and "
		    "Schemas",
		    jsonutil_printable(coll));
		return;
	}
	if (!scim_method_ok(c, discovery, has_id)) {
		(void)scim_fail(c, 405, NULL, "%s is not allowed on %s",
		                jsonutil_printable(c->req->method),
		                jsonutil_printable(c->req->path));
		return;
	}
	if (discovery) {
		(void)scim_discovery(c, coll, has_id ? id : NULL);
		return;
	}
	if ((strcmp(c->req->method, "POST") == 0 ||
	     strcmp(c->req->method, "PUT") == 0 ||
	     strcmp(c->req->method, "PATCH") == 0) &&
	    scim_body(c, &body) != 0)
		goto out;
	if (strcmp(coll, "Users") == 0)
		(void)scim_users(c, has_id ? id : NULL, body);
	else
		(void)scim_groups(c, has_id ? id : NULL, body);
out:
	json_decref(body);
}
