/* SPDX-License-Identifier: MIT */
/* Unit tests: server/scim.c, SCIM 2.0 provisioning, through api_handle()
 * over a store in a temporary directory, with the request shapes Okta,
 * Entra ID and Google Workspace send, and list filters. */
#include "testutil.h"

#include "api_fixture.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "role.h"
#include "store.h"
#include "token.h"

#define TS_NOW        1700000000
#define TS_SCIM_TOKEN "scim-token-0123456789abcdef"
#define TS_OWNER      "owner-token-0123456789abcdef"
#define TS_FP         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TS_MAXREV     8
#define TS_ERROR      "urn:ietf:params:scim:api:messages:2.0:Error"

struct tsc {
	char dir[API_FIXTURE_DIR_MAX];
	char path[API_FIXTURE_DB_MAX];
	struct store *st;
	struct crypto_rng *rng;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
	struct api_ctx a;
	int changed;
	int revoked_calls;
	char revoked[TS_MAXREV][64];
	size_t nrevoked;
	/* The last answer. */
	int status;
	json_t *ans;
	char type[128];
	char location[256];
	char etag[64];
};

static void tsc_hook_changed(void *arg)
{
	((struct tsc *)arg)->changed++;
}

static void tsc_hook_revoked(void *arg, const char *const *ids, size_t n)
{
	struct tsc *f = arg;
	size_t i;

	f->revoked_calls++;
	for (i = 0; i < n && f->nrevoked < TS_MAXREV; i++)
		(void)snprintf(f->revoked[f->nrevoked++], sizeof(f->revoked[0]),
		               "%s", ids[i]);
}

static void tsc_token(struct tsc *f, const char *name, enum role role,
                      const char *token)
{
	struct diag d;

	if (api_fixture_token(f->st, name, role, token, NULL, &d) != 0)
		fail_msg("admin token: %s", d.msg);
}

static int tsc_setup(void **state)
{
	struct tsc *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	if (api_fixture_store(TS_NOW, f->dir, f->path, &f->st, &d) != 0)
		fail_msg("store: %s", d.msg);
	assert_int_equal(crypto_rng_new("test_scim", &f->rng, &d), 0);
	tsc_token(f, "okta", ROLE_SCIM, TS_SCIM_TOKEN);
	tsc_token(f, "root", ROLE_OWNER, TS_OWNER);
	api_fixture_ctx(&f->a, f->st, f->rng, f->master);
	f->a.hooks.arg = f;
	f->a.hooks.changed = tsc_hook_changed;
	f->a.hooks.revoked = tsc_hook_revoked;
	*state = f;
	return 0;
}

static int tsc_teardown(void **state)
{
	struct tsc *f = *state;

	json_decref(f->ans);
	store_close(f->st);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/*
 * Calls api_handle() with the Authorization header auth, method and
 * target ("/scim/v2/Users?filter=..."; the query percent-encoded as an
 * identity provider sends it) and body (NULL: none). Keeps the answer.
 */
static int tsc_call_as(struct tsc *f, const char *auth, const char *method,
                       const char *target, const char *body)
{
	struct net_request req;
	struct net_response resp;
	struct net_param params[8];
	char path[2048];
	json_error_t jerr;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	assert_true(strlen(target) < sizeof(path));
	memcpy(path, target, strlen(target) + 1);
	req.nparams = api_fixture_query(path, params, 8, "&", true);
	req.id = 1;
	req.method = method;
	req.path = path;
	req.params = params;
	req.host = "fleet.example:7444";
	req.origin = "";
	req.authorization = auth;
	req.content_type = body != NULL ? "application/scim+json" : "";
	req.cookie = "";
	req.csrf_token = "";
	req.body = body != NULL ? body : "";
	req.body_len = body != NULL ? strlen(body) : 0;
	req.peer = "127.0.0.1";

	api_handle(&f->a, &req, &resp);

	assert_false(store_in_transaction(f->st));
	(void)snprintf(f->type, sizeof(f->type), "%s", resp.content_type);
	tu_header(&resp.headers, "Location", f->location, sizeof(f->location));
	tu_header(&resp.headers, "ETag", f->etag, sizeof(f->etag));
	json_decref(f->ans);
	f->ans = NULL;
	f->status = resp.status;
	if (resp.status != 204) {
		f->ans =
		    json_loadb(resp.body.data != NULL ? resp.body.data : "",
		               resp.body.len, 0, &jerr);
		if (f->ans == NULL)
			fail_msg("answer is not JSON: %s: %.*s", jerr.text,
			         (int)resp.body.len,
			         resp.body.data != NULL ? resp.body.data : "");
	} else {
		assert_int_equal(resp.body.len, 0);
	}
	buf_free(&resp.body);
	buf_free(&resp.headers);
	return f->status;
}

static int tsc_call(struct tsc *f, const char *method, const char *target,
                    const char *body)
{
	return tsc_call_as(f, "Bearer " TS_SCIM_TOKEN, method, target, body);
}

static const char *tsc_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		fail_msg("no string '%s'", key);
	return s;
}

/* Asserts a SCIM Error with status, scimType (NULL: any) and a detail
 * that contains needle (NULL: any). */
static void tsc_error(struct tsc *f, int status, const char *scim_type,
                      const char *needle)
{
	char st[8];
	const char *detail;

	if (f->status != status)
		fail_msg("expected %d, got %d: %s", status, f->status,
		         f->ans != NULL ? json_dumps(f->ans, 0) : "");
	assert_string_equal(f->type, "application/scim+json");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(f->ans, "schemas"), 0)),
	                    TS_ERROR);
	(void)snprintf(st, sizeof(st), "%d", status);
	assert_string_equal(tsc_str(f->ans, "status"), st);
	if (scim_type != NULL)
		assert_string_equal(tsc_str(f->ans, "scimType"), scim_type);
	detail = tsc_str(f->ans, "detail");
	if (needle != NULL && strstr(detail, needle) == NULL)
		fail_msg("detail '%s' lacks '%s'", detail, needle);
}

/* The id of the last answer's resource. */
static char *tsc_id(struct tsc *f)
{
	char *s = strdup(tsc_str(f->ans, "id"));

	assert_non_null(s);
	return s;
}

static int64_t tsc_user_id(struct tsc *f, const char *name)
{
	struct store_user u;
	struct diag d;
	int64_t id;

	if (store_user_get(f->st, name, &u, &d) != 0)
		fail_msg("user %s: %s", name, d.msg);
	id = u.id;
	store_user_clear(&u);
	return id;
}

/* GET of coll ("Users") with filter percent-encoded as the identity
 * providers do, and query (NULL: none) after it. Returns the status. */
static int tsc_list(struct tsc *f, const char *coll, const char *filter,
                    const char *query)
{
	char target[1800];
	size_t n;
	const char *p;

	n = (size_t)snprintf(target, sizeof(target),
	                     "/scim/v2/%s?filter=", coll);
	for (p = filter; *p != '\0'; p++) {
		assert_true(n + 4 < sizeof(target));
		if (isalnum((unsigned char)*p) || strchr("-._~", *p) != NULL)
			target[n++] = *p;
		else
			n += (size_t)snprintf(target + n, sizeof(target) - n,
			                      "%%%02X", (unsigned char)*p);
	}
	target[n] = '\0';
	if (query != NULL) {
		assert_true(n + strlen(query) + 2 < sizeof(target));
		(void)snprintf(target + n, sizeof(target) - n, "&%s", query);
	}
	return tsc_call(f, "GET", target, NULL);
}

/* The userNames (or displayNames) of the last ListResponse, in order,
 * joined by ','; "" for none. Checks totalResults counts them. */
static const char *tsc_names(struct tsc *f)
{
	static char out[1024];
	json_t *res = json_object_get(f->ans, "Resources"), *r;
	size_t i, n = 0;

	if (f->status != 200)
		fail_msg("expected 200, got %d: %s", f->status,
		         f->ans != NULL ? json_dumps(f->ans, 0) : "");
	out[0] = '\0';
	json_array_foreach(res, i, r)
	{
		const char *name =
		    json_string_value(json_object_get(r, "userName"));

		if (name == NULL)
			name = tsc_str(r, "displayName");
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
		                      i > 0 ? "," : "", name);
		assert_true(n < sizeof(out));
	}
	return out;
}

/* Asserts the list filter on coll selects names (joined by ','). */
static void tsc_filter(struct tsc *f, const char *coll, const char *filter,
                       const char *names)
{
	tsc_list(f, coll, filter, NULL);
	if (strcmp(tsc_names(f), names) != 0)
		fail_msg("%s?filter=%s: got '%s', expected '%s'", coll, filter,
		         tsc_names(f), names);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")),
	    json_array_size(json_object_get(f->ans, "Resources")));
}

/* Asserts the list filter on coll is refused as invalidFilter with a
 * detail holding needle. */
static void tsc_filter_bad(struct tsc *f, const char *coll, const char *filter,
                           const char *needle)
{
	tsc_list(f, coll, filter, NULL);
	tsc_error(f, 400, "invalidFilter", needle);
}

/* The request Okta sends to create a user. */
static const char tsc_okta_user[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
    "\"userName\":\"ann@example.com\","
    "\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},"
    "\"emails\":[{\"primary\":true,\"value\":\"ann@example.com\","
    "\"type\":\"work\"}],"
    "\"displayName\":\"Ann Lee\",\"locale\":\"en-US\","
    "\"externalId\":\"00u1abcd\",\"groups\":[],\"password\":\"x-9Q!\","
    "\"active\":true}";

/* The request Entra ID sends to create a user. */
static const char tsc_entra_user[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"externalId\":\"0a21f0f2-8d2a-4f8e-bf98-7b2d2c1e3b4a\","
    "\"userName\":\"bo@contoso.com\",\"active\":true,"
    "\"emails\":[{\"primary\":true,\"type\":\"work\","
    "\"value\":\"bo@contoso.com\"}],"
    "\"meta\":{\"resourceType\":\"User\"},"
    "\"name\":{\"formatted\":\"Bo Ek\",\"familyName\":\"Ek\","
    "\"givenName\":\"Bo\"},\"roles\":[]}";

/* ---- Authentication and discovery ---- */

static void test_scim_auth(void **state)
{
	struct tsc *f = *state;
	struct store_audit_list l = {0};
	struct diag d;

	tsc_call_as(f, "", "GET", "/scim/v2/Users", NULL);
	tsc_error(f, 401, NULL, "role scim");
	tsc_call_as(f, "Bearer wrong-token-0000000000000", "GET",
	            "/scim/v2/Users", NULL);
	tsc_error(f, 401, NULL, "unknown admin token");
	/* An owner's token is not an identity provider's. */
	tsc_call_as(f, "Bearer " TS_OWNER, "GET", "/scim/v2/Users", NULL);
	tsc_error(f, 403, NULL,
	          "SCIM provisioning needs role scim; token 'root' has role "
	          "owner");
	assert_int_equal(store_audit_list(f->st, 0, 0, 100, &l, &d), 0);
	assert_true(l.n >= 1);
	assert_string_equal(l.v[l.n - 1].action, "access.refused");
	store_audit_list_free(&l);
	/* And the scim token reaches nothing under /api/v1. */
	tsc_call(f, "GET", "/api/v1/users", NULL);
	assert_int_equal(f->status, 403);
	assert_non_null(strstr(tsc_str(f->ans, "error"), "has role scim"));
	tsc_call(f, "POST", "/api/v1/users/ann/offboard", "{}");
	assert_int_equal(f->status, 403);
	tsc_call(f, "GET", "/api/v1/status", NULL);
	assert_int_equal(f->status, 403);
}

static void test_scim_discovery(void **state)
{
	struct tsc *f = *state;
	json_t *r;

	assert_int_equal(
	    tsc_call(f, "GET", "/scim/v2/ServiceProviderConfig", NULL), 200);
	assert_string_equal(f->type, "application/scim+json");
	assert_true(json_is_true(
	    json_object_get(json_object_get(f->ans, "patch"), "supported")));
	assert_true(json_is_true(
	    json_object_get(json_object_get(f->ans, "filter"), "supported")));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(f->ans, "filter"), "maxResults")),
	                 1000);
	assert_false(json_is_true(
	    json_object_get(json_object_get(f->ans, "bulk"), "supported")));
	assert_string_equal(
	    tsc_str(json_array_get(
	                json_object_get(f->ans, "authenticationSchemes"), 0),
	            "type"),
	    "oauthbearertoken");
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/ResourceTypes", NULL),
	                 200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 2);
	r = json_array_get(json_object_get(f->ans, "Resources"), 0);
	assert_string_equal(tsc_str(r, "endpoint"), "/Users");
	assert_int_equal(
	    tsc_call(f, "GET", "/scim/v2/ResourceTypes/Group", NULL), 200);
	assert_string_equal(tsc_str(f->ans, "endpoint"), "/Groups");
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/Schemas", NULL), 200);
	r = json_array_get(json_object_get(f->ans, "Resources"), 0);
	assert_string_equal(tsc_str(r, "id"),
	                    "urn:ietf:params:scim:schemas:core:2.0:User");
	assert_int_equal(tsc_call(f, "GET",
	                          "/scim/v2/Schemas/"
	                          "urn:ietf:params:scim:schemas:core:2.0:Group",
	                          NULL),
	                 200);
	assert_string_equal(tsc_str(f->ans, "name"), "Group");
	tsc_call(f, "GET", "/scim/v2/Bulk", NULL);
	tsc_error(f, 404, NULL, "there are Users, Groups");
	tsc_call(f, "POST", "/scim/v2/ServiceProviderConfig", "{}");
	tsc_error(f, 405, NULL, "POST is not allowed");
	tsc_call(f, "DELETE", "/scim/v2/Users", NULL);
	tsc_error(f, 405, NULL, NULL);
}

/* ---- Users ---- */

static void test_scim_users_okta(void **state)
{
	struct tsc *f = *state;
	char *id, target[256];
	json_t *r;

	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_okta_user),
	                 201);
	assert_string_equal(f->type, "application/scim+json");
	id = tsc_id(f);
	assert_string_equal(tsc_str(f->ans, "userName"), "ann@example.com");
	assert_string_equal(tsc_str(f->ans, "externalId"), "00u1abcd");
	assert_string_equal(tsc_str(f->ans, "displayName"), "Ann Lee");
	assert_string_equal(
	    tsc_str(json_object_get(f->ans, "name"), "givenName"), "Ann");
	assert_true(json_is_true(json_object_get(f->ans, "active")));
	/* The password is never kept. */
	assert_null(json_object_get(f->ans, "password"));
	r = json_object_get(f->ans, "meta");
	assert_string_equal(tsc_str(r, "resourceType"), "User");
	assert_string_equal(tsc_str(r, "created"), "2023-11-14T22:13:20Z");
	assert_string_equal(tsc_str(r, "version"), "W/\"1\"");
	(void)snprintf(target, sizeof(target),
	               "https://fleet.example:7444/scim/v2/Users/%s", id);
	assert_string_equal(tsc_str(r, "location"), target);
	assert_string_equal(f->location, target);
	/* The mcpfleet user, with the primary email. */
	{
		struct store_user u;
		struct diag d;

		assert_int_equal(
		    store_user_get(f->st, "ann@example.com", &u, &d), 0);
		assert_string_equal(u.email, "ann@example.com");
		assert_false(u.disabled);
		store_user_clear(&u);
	}

	/* Okta's second try: 409 uniqueness; in another case too, as
	 * userName is unique in any case (RFC 7643 4.1.1). */
	tsc_call(f, "POST", "/scim/v2/Users", tsc_okta_user);
	tsc_error(f, 409, "uniqueness", "userName 'ann@example.com' is taken");
	tsc_call(f, "POST", "/scim/v2/Users",
	         "{\"userName\":\"Ann@Example.COM\"}");
	tsc_error(f, 409, "uniqueness",
	          "userName 'Ann@Example.COM' is taken by user");

	/* Okta looks a user up by userName, encoded, with paging. */
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/"
	             "Users?filter=userName%20eq%20%22ann%40example.com%22&"
	             "startIndex=1&count=100",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "startIndex")), 1);
	r = json_array_get(json_object_get(f->ans, "Resources"), 0);
	assert_string_equal(tsc_str(r, "id"), id);
	assert_string_equal(
	    json_string_value(
	        json_array_get(json_object_get(f->ans, "schemas"), 0)),
	    "urn:ietf:params:scim:api:messages:2.0:ListResponse");
	/* userName is caseExact false; none found is an empty list. */
	assert_int_equal(
	    tsc_call(
	        f, "GET",
	        "/scim/v2/Users?filter=userName+eq+%22ANN%40example.com%22",
	        NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 1);
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Users?filter=userName%20eq%20%22nobody%22",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 0);
	assert_int_equal(json_array_size(json_object_get(f->ans, "Resources")),
	                 0);

	/* GET by id, then Okta's deactivation: PATCH replace active. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", id);
	assert_int_equal(tsc_call(f, "GET", target, NULL), 200);
	assert_string_equal(tsc_str(f->ans, "userName"), "ann@example.com");
	assert_string_equal(f->etag, "W/\"1\"");
	assert_int_equal(
	    tsc_call(f, "PATCH", target,
	             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	             "PatchOp\"],\"Operations\":[{\"op\":\"replace\","
	             "\"value\":{\"active\":false}}]}"),
	    200);
	assert_true(json_is_false(json_object_get(f->ans, "active")));
	assert_int_equal(f->changed, 1);

	/* Okta's reactivation is a PUT of the whole user. */
	assert_int_equal(tsc_call(f, "PUT", target, tsc_okta_user), 200);
	assert_true(json_is_true(json_object_get(f->ans, "active")));
	assert_string_equal(tsc_str(json_object_get(f->ans, "meta"), "version"),
	                    "W/\"3\"");
	free(id);
}

static void test_scim_users_paging(void **state)
{
	struct tsc *f = *state;
	char body[256];
	int i;

	for (i = 0; i < 5; i++) {
		(void)snprintf(body, sizeof(body),
		               "{\"userName\":\"u%d@x.org\",\"externalId\":"
		               "\"ext-%d\"}",
		               i, i);
		assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", body),
		                 201);
	}
	assert_int_equal(
	    tsc_call(f, "GET", "/scim/v2/Users?startIndex=2&count=2", NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 5);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "itemsPerPage")), 2);
	assert_string_equal(
	    tsc_str(json_array_get(json_object_get(f->ans, "Resources"), 0),
	            "userName"),
	    "u1@x.org");
	assert_int_equal(
	    tsc_call(f, "GET", "/scim/v2/Users?startIndex=5&count=10", NULL),
	    200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "Resources")),
	                 1);
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/Users?count=0", NULL),
	                 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "Resources")),
	                 0);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 5);
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Users?filter=externalId%20eq%20%22ext-3%22",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 1);
	assert_string_equal(
	    tsc_str(json_array_get(json_object_get(f->ans, "Resources"), 0),
	            "userName"),
	    "u3@x.org");
	/* An externalId names one user. */
	tsc_call(f, "POST", "/scim/v2/Users",
	         "{\"userName\":\"other\",\"externalId\":\"ext-3\"}");
	tsc_error(f, 409, "uniqueness", "externalId 'ext-3' already names");
	/* Bad filters and paging. */
	tsc_call(f, "GET", "/scim/v2/Users?filter=phoneNumbers%20eq%20%22x%22",
	         NULL);
	tsc_error(f, 400, "invalidFilter",
	          "filter: unknown attribute 'phoneNumbers' of Users (at byte "
	          "1)");
	tsc_call(f, "GET", "/scim/v2/Users?filter=userName%20eq%20u", NULL);
	tsc_error(f, 400, "invalidFilter", "expected a value");
	tsc_call(f, "GET", "/scim/v2/Users?count=many", NULL);
	tsc_error(f, 400, "invalidValue", "count 'many' is not an integer");
}

/* Entra ID's quirks: "Replace" and "Add" in mixed case, "False" as a
 * string, an operation without a path whose value names sub-attributes
 * ("name.givenName"), filtered paths into emails. */
static void test_scim_users_entra(void **state)
{
	struct tsc *f = *state;
	char *id, target[256];
	struct store_user u;
	struct store_offboarding o = {0};
	struct store_device dev;
	struct diag d;
	json_t *rep;

	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_entra_user),
	                 201);
	id = tsc_id(f);
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", id);
	/* Entra's lookup, before it creates: encoded quotes and @. */
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Users?filter=userName+eq+%22bo%40contoso.com%22",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 1);

	assert_int_equal(
	    tsc_call(
	        f, "PATCH", target,
	        "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	        "PatchOp\"],\"Operations\":["
	        "{\"op\":\"Add\",\"path\":\"displayName\",\"value\":\"Bo "
	        "Ek\"},"
	        "{\"op\":\"Replace\",\"path\":\"emails[type eq "
	        "\\\"work\\\"].value\",\"value\":\"bo.ek@contoso.com\"},"
	        "{\"op\":\"Add\",\"value\":{\"name.givenName\":\"Bosse\","
	        "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:"
	        "User:department\":\"Sales\"}},"
	        "{\"op\":\"Replace\",\"path\":\"title\",\"value\":\"Rep\"}]}"),
	    200);
	assert_string_equal(tsc_str(f->ans, "displayName"), "Bo Ek");
	assert_string_equal(tsc_str(f->ans, "title"), "Rep");
	assert_string_equal(
	    tsc_str(json_object_get(f->ans, "name"), "givenName"), "Bosse");
	assert_string_equal(
	    tsc_str(json_object_get(f->ans, "name"), "familyName"), "Ek");
	assert_string_equal(
	    tsc_str(json_array_get(json_object_get(f->ans, "emails"), 0),
	            "value"),
	    "bo.ek@contoso.com");
	assert_string_equal(
	    tsc_str(json_object_get(
	                f->ans,
	                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:"
	                "User"),
	            "department"),
	    "Sales");
	assert_int_equal(store_user_get(f->st, "bo@contoso.com", &u, &d), 0);
	assert_string_equal(u.email, "bo.ek@contoso.com");
	store_user_clear(&u);

	/* Enrolled devices, then Entra's deactivation: a string "False". */
	assert_int_equal(store_device_create(
	                     f->st, "dev-1", tsc_user_id(f, "bo@contoso.com"),
	                     "laptop", "linux", "0a", TS_FP, 0, &d),
	                 0);
	assert_int_equal(store_device_create(
	                     f->st, "dev-2", tsc_user_id(f, "bo@contoso.com"),
	                     "desk", "linux", "0b", TS_FP, 0, &d),
	                 0);
	assert_int_equal(
	    tsc_call(f, "PATCH", target,
	             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	             "PatchOp\"],\"Operations\":[{\"op\":\"Replace\","
	             "\"path\":\"active\",\"value\":\"False\"}]}"),
	    200);
	assert_true(json_is_false(json_object_get(f->ans, "active")));
	/* Offboarded exactly as the API does: devices revoked at once. */
	assert_int_equal(f->revoked_calls, 1);
	assert_int_equal(f->nrevoked, 2);
	assert_string_equal(f->revoked[0], "dev-1");
	assert_string_equal(f->revoked[1], "dev-2");
	assert_int_equal(f->changed, 1);
	assert_int_equal(store_device_get(f->st, "dev-2", &dev, &d), 0);
	assert_int_equal(dev.status, STORE_DEVICE_REVOKED);
	assert_non_null(strstr(dev.revoke_reason, "SCIM"));
	store_device_clear(&dev);
	/* The report is stored, by the SCIM token. */
	assert_int_equal(store_offboarding_last(
	                     f->st, tsc_user_id(f, "bo@contoso.com"), &o, &d),
	                 0);
	assert_string_equal(o.actor, "scim:okta");
	rep = json_loads(o.report_json, 0, NULL);
	assert_non_null(rep);
	assert_int_equal(
	    json_array_size(json_object_get(rep, "devices_revoked")), 2);
	assert_string_equal(tsc_str(rep, "by"), "scim:okta");
	json_decref(rep);
	store_offboarding_clear(&o);
	/* It is readable through the API too. */
	{
		char p[256];

		(void)snprintf(p, sizeof(p),
		               "/api/v1/users/bo@contoso.com/offboarding");
		assert_int_equal(
		    tsc_call_as(f, "Bearer " TS_OWNER, "GET", p, NULL), 200);
		assert_string_equal(tsc_str(f->ans, "by"), "scim:okta");
	}
	/* Deactivating again revokes nothing more. */
	assert_int_equal(
	    tsc_call(f, "PATCH", target,
	             "{\"Operations\":[{\"op\":\"replace\",\"value\":"
	             "{\"active\":\"false\"}}]}"),
	    200);
	assert_int_equal(f->revoked_calls, 1);

	/* A PUT that does not say active leaves her offboarded. */
	assert_int_equal(
	    tsc_call(f, "PUT", target, "{\"userName\":\"bo@contoso.com\"}"),
	    200);
	assert_true(json_is_false(json_object_get(f->ans, "active")));
	assert_null(json_object_get(f->ans, "emails"));

	/* Mistakes, each named. */
	tsc_call(f, "PATCH", target,
	         "{\"Operations\":[{\"op\":\"replace\",\"path\":"
	         "\"emails[type eq \\\"work\\\"].value\"}]}");
	tsc_error(f, 400, "invalidValue", "needs a value");
	tsc_call(f, "PATCH", target,
	         "{\"Operations\":[{\"op\":\"Move\",\"path\":\"title\"}]}");
	tsc_error(f, 400, "invalidSyntax", "op 'Move'");
	tsc_call(f, "PATCH", target, "{\"Operations\":[]}");
	tsc_error(f, 400, "invalidSyntax", "Operations");
	tsc_call(f, "PATCH", target, "{\"Operations\":[{\"op\":\"remove\"}]}");
	tsc_error(f, 400, "noTarget", "remove needs a path");
	tsc_call(f, "PATCH", target,
	         "{\"Operations\":[{\"op\":\"replace\",\"path\":\"a b\","
	         "\"value\":1}]}");
	tsc_error(f, 400, "invalidPath", "path 'a b'");
	tsc_call(f, "PATCH", target,
	         "{\"Operations\":[{\"op\":\"replace\",\"path\":\"active\","
	         "\"value\":\"maybe\"}]}");
	tsc_error(f, 400, "invalidValue", "active must be true or false");
	tsc_call(f, "PATCH", target,
	         "{\"Operations\":[{\"op\":\"replace\",\"path\":\"userName\","
	         "\"value\":\"bo2@contoso.com\"}]}");
	tsc_error(f, 400, "mutability", "userName cannot change");
	/* A change of case only is the same userName: accepted, and the
	 * stored spelling stays. */
	assert_int_equal(
	    tsc_call(f, "PATCH", target,
	             "{\"Operations\":[{\"op\":\"replace\",\"path\":"
	             "\"userName\",\"value\":\"Bo@Contoso.com\"}]}"),
	    200);
	assert_string_equal(tsc_str(f->ans, "userName"), "bo@contoso.com");
	tsc_call(f, "PATCH", target, "{\"Operations\":");
	tsc_error(f, 400, "invalidSyntax", "not JSON");
	tsc_call(f, "GET", "/scim/v2/Users/999", NULL);
	tsc_error(f, 404, NULL, "no User with id '999'");
	tsc_call(f, "GET", "/scim/v2/Users/abc", NULL);
	tsc_error(f, 404, NULL, "no User with id 'abc'");
	tsc_call(f, "POST", "/scim/v2/Users", "{\"userName\":\"a b\"}");
	tsc_error(f, 400, "invalidValue", "only letters, digits");
	tsc_call(f, "POST", "/scim/v2/Users", "{\"displayName\":\"x\"}");
	tsc_error(f, 400, "invalidValue", "userName is required");
	free(id);
}

/* DELETE offboards and deletes the user from SCIM's view; the user, with
 * its report, stays for the admins. */
/* A body nested 1,000 deep is refused before it is parsed; one a PATCH
 * merges 25 deep into a stored one answers. */
static char *tsc_nest(size_t deep)
{
	char *nest = malloc(deep * 6 + 16);
	size_t i, n = 0;

	assert_non_null(nest);
	for (i = 0; i < deep; i++)
		n += (size_t)snprintf(nest + n, 8, "{\"a\":");
	n += (size_t)snprintf(nest + n, 8, "1");
	for (i = 0; i < deep; i++)
		nest[n++] = '}';
	nest[n] = '\0';
	return nest;
}

static void test_scim_users_patch_deep(void **state)
{
	struct tsc *f = *state;
	char *nest = tsc_nest(1000), *body, *id, target[128];
	size_t size = strlen(nest) + 256;

	body = malloc(size);
	assert_non_null(body);
	(void)snprintf(body, size, "{\"userName\":\"deep\",\"name\":%s}", nest);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", body), 400);
	tsc_error(f, 400, "invalidSyntax", "deeper than 32 levels");
	free(nest);
	nest = tsc_nest(25);
	(void)snprintf(body, size, "{\"userName\":\"deep\",\"name\":%s}", nest);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", body), 201);
	id = tsc_id(f);
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", id);
	(void)snprintf(body, size,
	               "{\"Operations\":[{\"op\":\"add\",\"path\":\"name\","
	               "\"value\":%s}]}",
	               nest);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	free(nest);
	free(body);
	free(id);
}

static void test_scim_users_delete(void **state)
{
	struct tsc *f = *state;
	char *id, target[256];
	struct store_user u;
	struct store_offboarding o = {0};
	struct diag d;

	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_okta_user),
	                 201);
	id = tsc_id(f);
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", id);
	assert_int_equal(store_device_create(
	                     f->st, "dev-9", tsc_user_id(f, "ann@example.com"),
	                     "laptop", "linux", "09", TS_FP, 0, &d),
	                 0);
	assert_int_equal(tsc_call(f, "DELETE", target, NULL), 204);
	assert_int_equal(f->nrevoked, 1);
	assert_string_equal(f->revoked[0], "dev-9");
	tsc_call(f, "GET", target, NULL);
	tsc_error(f, 404, NULL, "deleted by SCIM");
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/Users", NULL), 200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 0);
	assert_int_equal(store_user_get(f->st, "ann@example.com", &u, &d), 0);
	assert_true(u.disabled);
	assert_int_equal(store_offboarding_last(f->st, u.id, &o, &d), 0);
	store_user_clear(&u);
	store_offboarding_clear(&o);
	tsc_call(f, "DELETE", target, NULL);
	tsc_error(f, 404, NULL, NULL);
	free(id);
}

/* The request Google Workspace's automated provisioning sends to create
 * a user: userName is the primary email, name and emails from the
 * directory. */
static const char tsc_google_user[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
    "\"userName\":\"cy@example.com\","
    "\"name\":{\"givenName\":\"Cy\",\"familyName\":\"Ng\"},"
    "\"displayName\":\"Cy Ng\","
    "\"emails\":[{\"value\":\"cy@example.com\",\"type\":\"work\","
    "\"primary\":true}],"
    "\"active\":true}";

/* Google Workspace: the probe it sends when the app is set up, its
 * lookup by userName before it creates, the create, a suspension as a
 * PATCH of active, and the lookups it makes after. */
static void test_scim_users_google(void **state)
{
	struct tsc *f = *state;
	char *id, target[256];
	struct store_user u;
	struct diag d;

	/* The probe: count=1 and nothing else. */
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/Users?count=1", NULL),
	                 200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 0);
	assert_int_equal(json_array_size(json_object_get(f->ans, "Resources")),
	                 0);
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Users?filter=userName%20eq%20%22cy%40example."
	             "com%22",
	             NULL),
	    200);
	assert_string_equal(tsc_names(f), "");
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_google_user),
	                 201);
	id = tsc_id(f);
	assert_string_equal(tsc_str(f->ans, "displayName"), "Cy Ng");
	assert_int_equal(tsc_call(f, "GET", "/scim/v2/Users?count=1", NULL),
	                 200);
	assert_string_equal(tsc_names(f), "cy@example.com");
	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Users?filter=userName%20eq%20%22cy%40example."
	             "com%22",
	             NULL),
	    200);
	assert_string_equal(tsc_names(f), "cy@example.com");
	/* Suspending the user in the directory: replace active. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", id);
	assert_int_equal(
	    tsc_call(f, "PATCH", target,
	             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	             "PatchOp\"],\"Operations\":[{\"op\":\"replace\","
	             "\"path\":\"active\",\"value\":false}]}"),
	    200);
	assert_true(json_is_false(json_object_get(f->ans, "active")));
	assert_int_equal(store_user_get(f->st, "cy@example.com", &u, &d), 0);
	assert_true(u.disabled);
	store_user_clear(&u);
	tsc_filter(f, "Users",
	           "userName eq \"cy@example.com\" and active eq "
	           "false",
	           "cy@example.com");
	tsc_filter(f, "Users", "active eq true", "");
	/* The primary work email, as a value filter. */
	tsc_filter(f, "Users", "emails[type eq \"work\" and primary eq true]",
	           "cy@example.com");
	free(id);
}

/* Compound filters over a few users: each answer is what RFC 7644
 * 3.4.2.2 says, whether the store's lookup or the list answered it. */
static void test_scim_users_filters(void **state)
{
	static const char *const bodies[] = {
	    "{\"userName\":\"ann@example.com\",\"externalId\":\"e-a\","
	    "\"title\":\"Engineer\",\"name\":{\"givenName\":\"Ann\","
	    "\"familyName\":\"Lee\"},\"emails\":[{\"value\":"
	    "\"ann@example.com\",\"type\":\"work\",\"primary\":true}],"
	    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
	    "{\"department\":\"R&D\"}}",
	    "{\"userName\":\"bo@contoso.com\",\"externalId\":\"e-b\","
	    "\"title\":\"Manager\",\"emails\":[{\"value\":"
	    "\"bo@contoso.com\",\"type\":\"work\"},{\"value\":"
	    "\"bo@home.org\",\"type\":\"home\"}]}",
	    "{\"userName\":\"cy@example.com\",\"active\":false,"
	    "\"title\":\"engineer\",\"emails\":[{\"value\":"
	    "\"cy@example.com\"}]}",
	    "{\"userName\":\"dee@other.org\"}",
	};
	struct tsc *f = *state;
	char filter[256], *ann = NULL, *dee = NULL, target[128];
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(
		    tsc_call(f, "POST", "/scim/v2/Users", bodies[i]), 201);
		if (i == 0)
			ann = tsc_id(f);
		if (i == 3)
			dee = tsc_id(f);
	}
	tsc_filter(f, "Users", "title eq \"engineer\" and active eq true",
	           "ann@example.com");
	tsc_filter(f, "Users",
	           "title eq \"engineer\" or userName ew \"contoso.com\"",
	           "ann@example.com,bo@contoso.com,cy@example.com");
	tsc_filter(f, "Users",
	           "userName ew \"example.com\" and not (active eq false) or "
	           "title eq \"manager\"",
	           "ann@example.com,bo@contoso.com");
	tsc_filter(f, "Users",
	           "userName ew \"example.com\" and (not (active eq false) or "
	           "title eq \"manager\")",
	           "ann@example.com");
	tsc_filter(f, "Users",
	           "emails[type eq \"home\" and value co \"@home.org\"]",
	           "bo@contoso.com");
	tsc_filter(f, "Users",
	           "emails[type eq \"work\" and value co \"@home.org\"]", "");
	tsc_filter(f, "Users", "not (emails pr)", "dee@other.org");
	tsc_filter(f, "Users", "emails.value sw \"cy@\"", "cy@example.com");
	tsc_filter(f, "Users", "name.familyName eq \"LEE\"", "ann@example.com");
	tsc_filter(f, "Users", "title eq null", "dee@other.org");
	tsc_filter(f, "Users",
	           "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	           "department eq \"r&d\"",
	           "ann@example.com");
	/* The store's lookups, alone and and-ed; a userName in another case
	 * is found all the same. */
	tsc_filter(f, "Users", "userName eq \"bo@contoso.com\"",
	           "bo@contoso.com");
	tsc_filter(f, "Users", "userName eq \"BO@Contoso.com\" and title pr",
	           "bo@contoso.com");
	tsc_filter(f, "Users",
	           "userName eq \"bo@contoso.com\" and active eq "
	           "false",
	           "");
	tsc_filter(f, "Users", "externalId eq \"e-b\" and title pr",
	           "bo@contoso.com");
	tsc_filter(f, "Users", "externalId eq \"E-B\"", "");
	tsc_filter(f, "Users", "externalId eq \"none\"", "");
	(void)snprintf(filter, sizeof(filter), "id eq \"%s\"", ann);
	tsc_filter(f, "Users", filter, "ann@example.com");
	tsc_filter(f, "Users", "id eq \"x1\"", "");
	/* Times: every user was made at the store's now. */
	tsc_filter(f, "Users", "meta.created eq \"2023-11-14T22:13:20Z\"",
	           "ann@example.com,bo@contoso.com,cy@example.com,"
	           "dee@other.org");
	tsc_filter(f, "Users",
	           "meta.lastModified gt \"2023-11-14T23:13:20+01:00\"", "");
	/* Paging counts the matches. */
	assert_int_equal(
	    tsc_list(f, "Users", "active eq true", "startIndex=2&count=1"),
	    200);
	assert_string_equal(tsc_names(f), "bo@contoso.com");
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 3);
	/* A user SCIM deleted is no longer listed, by lookup or filter. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Users/%s", dee);
	assert_int_equal(tsc_call(f, "DELETE", target, NULL), 204);
	tsc_filter(f, "Users", "userName eq \"dee@other.org\"", "");
	tsc_filter(f, "Users", "not (emails pr)", "");
	/* Errors name what and where. */
	tsc_filter_bad(
	    f, "Users", "title eq \"x\" and phone pr",
	    "filter: unknown attribute 'phone' of Users (at byte 18)");
	tsc_filter_bad(f, "Users", "(title pr",
	               "filter: expected ')' at byte 10 to close the '(' at "
	               "byte 1");
	tsc_filter_bad(f, "Users", "active eq \"maybe\"", "is a boolean");
	free(ann);
	free(dee);
}

/* ---- Groups ---- */

static void test_scim_groups(void **state)
{
	struct tsc *f = *state;
	char *ann, *bo, *gid, body[1024], target[256];
	struct store_team t;
	struct store_user_list mem = {0};
	struct diag d;
	int changed;

	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_okta_user),
	                 201);
	ann = tsc_id(f);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_entra_user),
	                 201);
	bo = tsc_id(f);

	/* Okta pushes a group with its members. */
	changed = f->changed;
	(void)snprintf(body, sizeof(body),
	               "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:"
	               "Group\"],\"displayName\":\"Platform Team\","
	               "\"externalId\":\"00g1\",\"members\":[{\"value\":"
	               "\"%s\",\"display\":\"ann@example.com\"}]}",
	               ann);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Groups", body), 201);
	gid = tsc_id(f);
	assert_string_equal(tsc_str(f->ans, "displayName"), "Platform Team");
	assert_string_equal(tsc_str(f->ans, "externalId"), "00g1");
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 1);
	assert_string_equal(
	    tsc_str(json_array_get(json_object_get(f->ans, "members"), 0),
	            "display"),
	    "ann@example.com");
	assert_true(f->changed > changed);
	/* The team, named from the displayName. */
	assert_int_equal(store_team_get(f->st, "Platform-Team", &t, &d), 0);
	assert_int_equal(store_member_users(f->st, t.id, &mem, &d), 0);
	assert_int_equal(mem.n, 1);
	store_user_list_free(&mem);
	tsc_call(f, "POST", "/scim/v2/Groups", body);
	tsc_error(f, 409, "uniqueness", NULL);

	assert_int_equal(
	    tsc_call(f, "GET",
	             "/scim/v2/Groups?filter=displayName%20eq%20%22Platform%20"
	             "Team%22&excludedAttributes=members",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 1);
	assert_int_equal(
	    tsc_call(f, "GET", "/scim/v2/Groups?filter=displayName+eq+%22x%22",
	             NULL),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(f->ans, "totalResults")), 0);

	/* Entra adds a member ("Add"), and membership changes push. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Groups/%s", gid);
	changed = f->changed;
	(void)snprintf(body, sizeof(body),
	               "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	               "PatchOp\"],\"Operations\":[{\"op\":\"Add\",\"path\":"
	               "\"members\",\"value\":[{\"value\":\"%s\"}]}]}",
	               bo);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 2);
	assert_int_equal(f->changed, changed + 1);
	assert_int_equal(store_member_users(f->st, t.id, &mem, &d), 0);
	assert_int_equal(mem.n, 2);
	store_user_list_free(&mem);
	/* Adding again changes nothing and pushes nothing. */
	changed = f->changed;
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_int_equal(f->changed, changed);

	/* Entra removes one with a filtered path. */
	(void)snprintf(body, sizeof(body),
	               "{\"Operations\":[{\"op\":\"Remove\",\"path\":"
	               "\"members[value eq \\\"%s\\\"]\"}]}",
	               ann);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 1);
	assert_string_equal(
	    tsc_str(json_array_get(json_object_get(f->ans, "members"), 0),
	            "value"),
	    bo);
	/* Okta removes with a value list. */
	(void)snprintf(body, sizeof(body),
	               "{\"Operations\":[{\"op\":\"remove\",\"path\":"
	               "\"members\",\"value\":[{\"value\":\"%s\"}]}]}",
	               bo);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 0);
	/* Okta's full replace, and a rename (the team keeps its name). */
	(void)snprintf(body, sizeof(body),
	               "{\"Operations\":[{\"op\":\"replace\",\"value\":{"
	               "\"id\":\"%s\",\"displayName\":\"Platform\"}},"
	               "{\"op\":\"replace\",\"path\":\"members\",\"value\":"
	               "[{\"value\":\"%s\"},{\"value\":\"%s\"}]}]}",
	               gid, ann, bo);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_string_equal(tsc_str(f->ans, "displayName"), "Platform");
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 2);
	/* PUT replaces the members outright. */
	(void)snprintf(body, sizeof(body),
	               "{\"displayName\":\"Platform\",\"members\":[{\"value\":"
	               "\"%s\"}]}",
	               ann);
	assert_int_equal(tsc_call(f, "PUT", target, body), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 1);
	/* A member that is no user. */
	tsc_call(f, "PUT", target,
	         "{\"displayName\":\"Platform\",\"members\":[{\"value\":"
	         "\"777\"}]}");
	tsc_error(f, 400, "invalidValue", "no User with id '777'");
	tsc_call(f, "PUT", target,
	         "{\"displayName\":\"Platform\",\"members\":[{\"value\":"
	         "\"ann\"}]}");
	tsc_error(f, 400, "invalidValue", "members[0].value");
	tsc_call(f, "POST", "/scim/v2/Groups", "{\"displayName\":\"!!\"}");
	tsc_error(f, 400, "invalidValue", "no letter or digit");

	/* DELETE: the team goes. */
	changed = f->changed;
	assert_int_equal(tsc_call(f, "DELETE", target, NULL), 204);
	assert_int_equal(f->changed, changed + 1);
	assert_int_equal(store_team_get(f->st, "Platform-Team", &t, &d),
	                 -ERR_NOENT);
	tsc_call(f, "GET", target, NULL);
	tsc_error(f, 404, NULL, "no Group");
	store_team_clear(&t);
	free(ann);
	free(bo);
	free(gid);
}

/* Filters on Groups: displayName by the team it names or, renamed, by
 * the list; members; PATCH paths whose filters are compound. */
static void test_scim_groups_filters(void **state)
{
	static const char patch_head[] =
	    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
	    "\"Operations\":[";
	struct tsc *f = *state;
	char *ann, *bo, *plat, *sec, body[1024], filter[256], target[128];

	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_okta_user),
	                 201);
	ann = tsc_id(f);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Users", tsc_entra_user),
	                 201);
	bo = tsc_id(f);
	(void)snprintf(body, sizeof(body),
	               "{\"displayName\":\"Platform Team\",\"externalId\":"
	               "\"00g1\",\"members\":[{\"value\":\"%s\"}]}",
	               ann);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Groups", body), 201);
	plat = tsc_id(f);
	(void)snprintf(body, sizeof(body),
	               "{\"displayName\":\"Security\",\"members\":[{"
	               "\"value\":\"%s\"},{\"value\":\"%s\"}]}",
	               ann, bo);
	assert_int_equal(tsc_call(f, "POST", "/scim/v2/Groups", body), 201);
	sec = tsc_id(f);

	tsc_filter(f, "Groups", "displayName eq \"Platform Team\"",
	           "Platform Team");
	tsc_filter(f, "Groups", "displayName eq \"platform team\"",
	           "Platform Team");
	tsc_filter(f, "Groups", "externalId eq \"00g1\"", "Platform Team");
	(void)snprintf(filter, sizeof(filter), "members[value eq \"%s\"]", bo);
	tsc_filter(f, "Groups", filter, "Security");
	(void)snprintf(filter, sizeof(filter), "members.value eq \"%s\"", ann);
	tsc_filter(f, "Groups", filter, "Platform Team,Security");
	tsc_filter(f, "Groups",
	           "displayName sw \"s\" or externalId pr and members pr",
	           "Platform Team,Security");
	tsc_filter(f, "Groups", "not (externalId pr)", "Security");
	/* Renamed, the team keeps its name: the list finds the group. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Groups/%s", plat);
	(void)snprintf(body, sizeof(body),
	               "%s{\"op\":\"replace\",\"path\":\"displayName\","
	               "\"value\":\"Infra\"}]}",
	               patch_head);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	tsc_filter(f, "Groups", "displayName eq \"INFRA\"", "Infra");
	tsc_filter(f, "Groups", "displayName eq \"Platform Team\"", "");
	tsc_filter_bad(f, "Groups", "userName eq \"x\"",
	               "filter: unknown attribute 'userName' of Groups");

	/* A PATCH path with an or in its filter removes both members. */
	(void)snprintf(target, sizeof(target), "/scim/v2/Groups/%s", sec);
	(void)snprintf(body, sizeof(body),
	               "%s{\"op\":\"remove\",\"path\":\"members[value eq "
	               "\\\"%s\\\" or value eq \\\"%s\\\"]\"}]}",
	               patch_head, ann, bo);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	assert_int_equal(json_array_size(json_object_get(f->ans, "members")),
	                 0);
	(void)snprintf(body, sizeof(body),
	               "%s{\"op\":\"remove\",\"path\":\"members[id eq "
	               "\\\"1\\\"]\"}]}",
	               patch_head);
	tsc_call(f, "PATCH", target, body);
	tsc_error(f, 400, "invalidPath",
	          "its filter: unknown attribute 'id' of members (at byte 1)");
	/* A ']' in a quoted value does not end the filter. */
	(void)snprintf(body, sizeof(body),
	               "%s{\"op\":\"remove\",\"path\":\"members[value eq "
	               "\\\"a]b\\\"]\"}]}",
	               patch_head);
	assert_int_equal(tsc_call(f, "PATCH", target, body), 200);
	free(ann);
	free(bo);
	free(plat);
	free(sec);
}

int main(void)
{
#define TSC(fn) cmocka_unit_test_setup_teardown(fn, tsc_setup, tsc_teardown)
	const struct CMUnitTest tests[] = {
	    TSC(test_scim_auth),
	    TSC(test_scim_discovery),
	    TSC(test_scim_users_okta),
	    TSC(test_scim_users_paging),
	    TSC(test_scim_users_entra),
	    TSC(test_scim_users_delete),
	    TSC(test_scim_users_patch_deep),
	    TSC(test_scim_users_google),
	    TSC(test_scim_users_filters),
	    TSC(test_scim_groups),
	    TSC(test_scim_groups_filters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
