/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: SCIM provisioning (server/scim.c through api_handle) with an
 * arbitrary method, path, query and body, as the identity provider's
 * token, against a store in a temporary directory that holds a user with
 * a device, a team and a group.
 *
 * Input format: the first line is "METHOD TARGET", TARGET a path under
 * /scim/v2 with an optional "?a=b&c" query (taken as already decoded, as
 * libwebsockets hands it over); everything after the first newline is the
 * body.
 *
 * A list's filter is also parsed on its own for both resource types and
 * as a PATCH path's value filter, evaluated on a user, a group and an
 * element, and checked: "not (FILTER)" matches exactly what FILTER does
 * not, and a lookup value scimf_required_eq() gives is one the filter
 * holds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "api_fixture.h"
#include "crypto.h"
#include "scimfilter.h"
#include "store.h"
#include "token.h"

#define FUZZ_SCIM_TOKEN "fuzz-scim-token"
#define FUZZ_SCIM_LINE  8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	char dir[API_FIXTURE_DIR_MAX];
	char db[API_FIXTURE_DB_MAX];
	struct store *st;
	struct crypto_rng *rng;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
	struct api_ctx a;
	json_t *user, *group, *element;
} fuzz_scim;

static void fuzz_scim_changed(void *arg)
{
	(void)arg;
}

static void fuzz_scim_revoked(void *arg, const char *const *ids, size_t n)
{
	size_t i;

	(void)arg;
	for (i = 0; i < n; i++)
		if (ids[i] == NULL || ids[i][0] == '\0')
			abort();
}

static void fuzz_scim_cleanup(void)
{
	store_close(fuzz_scim.st);
	crypto_rng_free(fuzz_scim.rng);
	json_decref(fuzz_scim.user);
	json_decref(fuzz_scim.group);
	json_decref(fuzz_scim.element);
	api_fixture_remove(fuzz_scim.dir, fuzz_scim.db);
}

/* Answers one request; aborts when the answer breaks an invariant: a
 * status SCIM does not give, a 500 (the store is healthy), a transaction
 * left open, or an answer that is not a SCIM message. Returns the
 * status. */
static int fuzz_scim_call(const char *method, char *target, const char *body,
                          size_t body_len)
{
	struct net_param params[NET_PARAMS_MAX];
	struct net_request req;
	struct net_response resp;
	char st[16];
	json_t *ans, *v;
	int status;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.nparams =
	    api_fixture_query(target, params, NET_PARAMS_MAX, "&;", false);
	req.method = method;
	req.path = target;
	req.params = params;
	req.host = "fleet.example:7444";
	req.origin = "";
	req.authorization = "Bearer " FUZZ_SCIM_TOKEN;
	req.content_type = "application/scim+json";
	req.cookie = "";
	req.csrf_token = "";
	req.body = body;
	req.body_len = body_len;
	req.peer = "127.0.0.1";

	api_handle(&fuzz_scim.a, &req, &resp);

	status = resp.status;
	switch (status) {
	case 200:
	case 201:
	case 204:
	case 400:
	case 403:
	case 404:
	case 405:
	case 409:
	case 413:
	case 415:
		break;
	default:
		abort();
	}
	if (store_in_transaction(fuzz_scim.st))
		abort();
	if (strcmp(resp.content_type, "application/scim+json") != 0)
		abort();
	if (status == 204) {
		if (resp.body.len != 0)
			abort();
	} else {
		if (resp.body.data == NULL ||
		    (ans = json_loads(resp.body.data, 0, NULL)) == NULL ||
		    !json_is_array(json_object_get(ans, "schemas")))
			abort();
		/* An error says its status, as a string. */
		(void)snprintf(st, sizeof(st), "%d", status);
		v = json_object_get(ans, "status");
		if (status >= 400 && (!json_is_string(v) ||
		                      strcmp(json_string_value(v), st) != 0))
			abort();
		json_decref(ans);
	}
	buf_free(&resp.body);
	buf_free(&resp.headers);
	return status;
}

/* One setup request that must succeed. */
static void fuzz_scim_seed(const char *method, const char *path,
                           const char *body)
{
	char target[128];

	(void)snprintf(target, sizeof(target), "%s", path);
	if (fuzz_scim_call(method, target, body, strlen(body)) >= 300)
		abort();
}

static void fuzz_scim_init(void)
{
	struct diag d;

	if (api_fixture_store(1700000000, fuzz_scim.dir, fuzz_scim.db,
	                      &fuzz_scim.st, &d) != 0)
		abort();
	atexit(fuzz_scim_cleanup);
	if (crypto_rng_new("fuzz_scim", &fuzz_scim.rng, &d) != 0 ||
	    api_fixture_token(fuzz_scim.st, "idp", ROLE_SCIM, FUZZ_SCIM_TOKEN,
	                      NULL, &d) != 0)
		abort();
	memset(fuzz_scim.master, 0x5a, sizeof(fuzz_scim.master));
	api_fixture_ctx(&fuzz_scim.a, fuzz_scim.st, fuzz_scim.rng,
	                fuzz_scim.master);
	fuzz_scim.a.hooks.changed = fuzz_scim_changed;
	fuzz_scim.a.hooks.revoked = fuzz_scim_revoked;

	/* User 1 with a device, user 2, group 1 with user 1 in it. */
	fuzz_scim_seed("POST", "/scim/v2/Users",
	               "{\"userName\":\"ann@example.com\",\"externalId\":"
	               "\"x1\",\"emails\":[{\"value\":\"ann@example.com\","
	               "\"type\":\"work\",\"primary\":true}]}");
	fuzz_scim_seed("POST", "/scim/v2/Users", "{\"userName\":\"bo\"}");
	fuzz_scim_seed("POST", "/scim/v2/Groups",
	               "{\"displayName\":\"Dev Team\",\"members\":[{\"value\":"
	               "\"1\"}]}");
	fuzz_scim.user = json_loads(
	    "{\"id\":\"1\",\"userName\":\"ann@example.com\","
	    "\"active\":true,\"externalId\":\"x1\",\"title\":\"Eng\","
	    "\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},"
	    "\"emails\":[{\"value\":\"ann@example.com\",\"type\":\"work\","
	    "\"primary\":true},{\"value\":\"a@home.org\"}],"
	    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
	    "{\"department\":\"R&D\",\"manager\":{\"value\":\"2\"}},"
	    "\"meta\":{\"resourceType\":\"User\",\"created\":"
	    "\"2023-11-14T22:13:20Z\",\"lastModified\":"
	    "\"2024-01-01T00:00:00Z\"}}",
	    0, NULL);
	fuzz_scim.group =
	    json_loads("{\"id\":\"1\",\"displayName\":\"Dev Team\",\"members\":"
	               "[{\"value\":\"1\",\"display\":\"ann\"}],\"meta\":{"
	               "\"created\":\"2023-11-14T22:13:20Z\"}}",
	               0, NULL);
	fuzz_scim.element = json_loads(
	    "{\"value\":\"1\",\"type\":\"work\",\"primary\":true}", 0, NULL);
	if (fuzz_scim.user == NULL || fuzz_scim.group == NULL ||
	    fuzz_scim.element == NULL)
		abort();
	if (store_device_create(fuzz_scim.st, "dev-1", 1, "laptop", "linux",
	                        "0a",
	                        "00112233445566778899aabbccddeeff00112233445566"
	                        "778899aabbccddeeff",
	                        0, &d) != 0)
		abort();
}

/* Is v (from scimf_required_eq()) a string inside f's own text? */
static void fuzz_scim_owned(const struct scimf *f, const char *v)
{
	if (v != NULL &&
	    (v < f->text || v >= f->text + sizeof(f->text) ||
	     memchr(v, '\0', (size_t)(f->text + sizeof(f->text) - v)) == NULL))
		abort();
}

/* The filter s parsed and evaluated directly; aborts on a broken
 * invariant. */
static void fuzz_scim_filter(const char *s)
{
	static const char *const names[] = {"id", "externalId", "userName",
	                                    "displayName"};
	const struct scimf_schema *schemas[2] = {&scimf_users, &scimf_groups};
	json_t *res[2] = {fuzz_scim.user, fuzz_scim.group}, *e;
	static struct scimf f, neg;
	char err[SCIMF_ERR_MAX], wrapped[SCIMF_LEN_MAX + 16];
	size_t i, j;

	for (i = 0; i < 2; i++) {
		err[0] = '\0';
		if (scimf_parse(s, schemas[i], &f, err) != 0) {
			if (err[0] == '\0')
				abort();
			continue;
		}
		for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
			fuzz_scim_owned(&f, scimf_required_eq(&f, names[j]));
		if (strlen(s) + 7 > sizeof(wrapped))
			continue;
		(void)snprintf(wrapped, sizeof(wrapped), "not (%s)", s);
		if (scimf_parse(wrapped, schemas[i], &neg, err) == 0 &&
		    scimf_match(&neg, res[i]) == scimf_match(&f, res[i]))
			abort();
	}
	if (scimf_parse_elements(s, &scimf_users, NULL, "emails", &f, err) ==
	        0 &&
	    (e = json_object()) != NULL) {
		(void)scimf_match(&f, fuzz_scim.element);
		(void)scimf_seed(&f, e, err);
		json_decref(e);
	}
	if (scimf_parse_elements(s, &scimf_users, NULL, "addresses", &f, err) ==
	    0)
		(void)scimf_match(&f, fuzz_scim.element);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[FUZZ_SCIM_LINE];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t llen = nl != NULL ? (size_t)(nl - data) : size;
	size_t body_len = nl != NULL ? size - llen - 1 : 0;
	char *target, *body;

	if (fuzz_scim.st == NULL)
		fuzz_scim_init();
	if (llen >= sizeof(line))
		llen = sizeof(line) - 1;
	memcpy(line, data, llen);
	line[llen] = '\0';
	if ((target = strchr(line, ' ')) != NULL)
		*target++ = '\0';
	else
		target = line + strlen(line);
	/* Only SCIM paths: the rest is fuzz_api's. */
	if (strncmp(target, "/scim/v2", 8) != 0 ||
	    (target[8] != '\0' && target[8] != '/' && target[8] != '?'))
		return 0;
	/* The body is NUL-terminated, as net.c hands it over. */
	if ((body = malloc(body_len + 1)) == NULL)
		return 0;
	if (body_len > 0)
		memcpy(body, nl + 1, body_len);
	body[body_len] = '\0';
	{
		/* The filter, before fuzz_scim_call() cuts the query. */
		const char *fp = strstr(target, "filter=");
		char filter[FUZZ_SCIM_LINE];
		size_t n;

		filter[0] = '\0';
		if (fp != NULL) {
			fp += 7;
			n = strcspn(fp, "&;");
			memcpy(filter, fp, n);
			filter[n] = '\0';
		}
		fuzz_scim_call(line, target, body, body_len);
		if (fp != NULL)
			fuzz_scim_filter(filter);
	}
	free(body);
	return 0;
}
