/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the admin REST API (api_handle) with arbitrary method, path,
 * query, token and body against a store in a temporary directory.
 *
 * Input format: the first line is "METHOD TARGET [TOKEN]", where TARGET is
 * a path with an optional "?a=b&c" query (taken as already decoded, as
 * libwebsockets hands it over) and TOKEN replaces the valid admin token
 * ("-": no Authorization header; "session": no Authorization header but
 * the cookie, CSRF token and Origin of a console session signed in at
 * start; "cookie:TEXT": TEXT as the Cookie header, without Authorization);
 * everything after the first newline is the body.
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
#include "store.h"
#include "token.h"

#define FUZZ_API_TOKEN "fuzz-admin-token"
#define FUZZ_API_LINE  8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	char dir[API_FIXTURE_DIR_MAX];
	char db[API_FIXTURE_DB_MAX];
	struct store *st;
	struct crypto_rng *rng;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
	/* The signing key of audit checkpoints, and the chain's key. */
	struct crypto_key *signer;
	char *signer_pem;
	char signer_id[CRYPTO_HEX_LEN + 1];
	struct api_ctx a;
	/* A secret value that no answer may show. It is random, so no
	 * corpus file holds it; once an input does (the fuzzer can learn it
	 * from the comparisons here), stored data may quote it and the
	 * check stops. */
	char canary[2 * 16 + 1];
	bool canary_out;
	/* The console session made at start, and the headers of the call
	 * being made ("" when absent). */
	char session_cookie[128];
	char session_csrf[TOKEN_LEN + 1];
	const char *cookie;
	const char *csrf;
	const char *origin;
} fuzz_api;

static void fuzz_api_changed(void *arg)
{
	(void)arg;
}

static void fuzz_api_revoked(void *arg, const char *const *ids, size_t n)
{
	size_t i;

	(void)arg;
	for (i = 0; i < n; i++)
		if (ids[i] == NULL || ids[i][0] == '\0')
			abort();
}

static void fuzz_api_cleanup(void)
{
	session_table_free(fuzz_api.a.sessions);
	store_close(fuzz_api.st);
	crypto_key_free(fuzz_api.signer);
	free(fuzz_api.signer_pem);
	crypto_rng_free(fuzz_api.rng);
	api_fixture_remove(fuzz_api.dir, fuzz_api.db);
}

/* Keeps the first console session's cookie and CSRF token. */
static void fuzz_api_keep_session(const struct net_response *resp)
{
	const char *p = resp->headers.data, *end = p + resp->headers.len;
	const char *value;
	json_t *ans = json_loads(resp->body.data, 0, NULL);
	const char *csrf = json_string_value(json_object_get(ans, "csrf"));

	for (; p != NULL && p < end; p = value + strlen(value) + 1) {
		value = p + strlen(p) + 1;
		if (strcmp(p, "Set-Cookie:") == 0)
			(void)snprintf(fuzz_api.session_cookie,
			               sizeof(fuzz_api.session_cookie), "%.*s",
			               (int)strcspn(value, ";"), value);
	}
	if (csrf == NULL || fuzz_api.session_cookie[0] == '\0')
		abort();
	(void)snprintf(fuzz_api.session_csrf, sizeof(fuzz_api.session_csrf),
	               "%s", csrf);
	json_decref(ans);
}

/* Answers one request; aborts when the answer breaks an invariant.
 * Returns the status. */
static int fuzz_api_call(const char *method, char *target, const char *auth,
                         const char *body, size_t body_len)
{
	struct net_param params[NET_PARAMS_MAX];
	struct net_request req;
	struct net_response resp;
	json_t *ans;
	int status;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.nparams =
	    api_fixture_query(target, params, NET_PARAMS_MAX, "&;", false);
	req.method = method;
	req.path = target;
	req.params = params;
	req.host = "fleet.example";
	req.origin = fuzz_api.origin != NULL ? fuzz_api.origin : "";
	req.authorization = auth;
	req.content_type = "application/json";
	req.cookie = fuzz_api.cookie != NULL ? fuzz_api.cookie : "";
	req.csrf_token = fuzz_api.csrf != NULL ? fuzz_api.csrf : "";
	req.body = body;
	req.body_len = body_len;
	req.peer = "127.0.0.1";

	api_handle(&fuzz_api.a, &req, &resp);

	status = resp.status;
	switch (status) {
	case 200:
	case 201:
	case 400:
	case 401:
	case 403:
	case 404:
	case 405:
	case 409:
	case 413:
	case 429:
		break;
	default: /* 500: a bug, the store is healthy */
		abort();
	}
	if (store_in_transaction(fuzz_api.st) || resp.body.data == NULL)
		abort();
	if ((ans = json_loads(resp.body.data, JSON_DECODE_ANY, NULL)) == NULL ||
	    !(json_is_object(ans) || json_is_array(ans)))
		abort();
	json_decref(ans);
	if (!fuzz_api.canary_out &&
	    strstr(resp.body.data, fuzz_api.canary) != NULL)
		abort();
	if (status == 201 && strcmp(target, "/api/v1/session") == 0 &&
	    fuzz_api.session_cookie[0] == '\0')
		fuzz_api_keep_session(&resp);
	buf_free(&resp.body);
	buf_free(&resp.headers);
	return status;
}

/* One setup request that must succeed. */
static void fuzz_api_seed(const char *method, const char *path,
                          const char *body)
{
	char target[128];

	(void)snprintf(target, sizeof(target), "%s", path);
	if (fuzz_api_call(method, target, "Bearer " FUZZ_API_TOKEN, body,
	                  strlen(body)) >= 300)
		abort();
}

/* A store with an admin token, a little data and the canary secret. */
static void fuzz_api_init(void)
{
	char body[128];
	uint8_t raw[16];
	struct diag d;

	if (api_fixture_store(1700000000, fuzz_api.dir, fuzz_api.db,
	                      &fuzz_api.st, &d) != 0)
		abort();
	atexit(fuzz_api_cleanup);
	if (crypto_rng_new("fuzz_api", &fuzz_api.rng, &d) != 0 ||
	    crypto_random(fuzz_api.rng, raw, sizeof(raw)) != 0 ||
	    crypto_hex(raw, sizeof(raw), fuzz_api.canary,
	               sizeof(fuzz_api.canary)) != 0 ||
	    api_fixture_token(fuzz_api.st, "fuzz", ROLE_OWNER, FUZZ_API_TOKEN,
	                      NULL, &d) != 0)
		abort();
	memset(fuzz_api.master, 0x5a, sizeof(fuzz_api.master));
	if (crypto_key_generate(fuzz_api.rng, &fuzz_api.signer, &d) != 0 ||
	    crypto_key_write_public(fuzz_api.signer, &fuzz_api.signer_pem, NULL,
	                            &d) != 0 ||
	    crypto_key_id(fuzz_api.signer, fuzz_api.signer_id) != 0 ||
	    store_audit_key(fuzz_api.st, fuzz_api.master, 1, &d) != 0)
		abort();
	fuzz_api.a.signer = fuzz_api.signer;
	fuzz_api.a.signer_pub_pem = fuzz_api.signer_pem;
	fuzz_api.a.signer_key_id = fuzz_api.signer_id;
	api_fixture_ctx(&fuzz_api.a, fuzz_api.st, fuzz_api.rng,
	                fuzz_api.master);
	fuzz_api.a.ca_pin = "sha256:00";
	fuzz_api.a.hooks.changed = fuzz_api_changed;
	fuzz_api.a.hooks.revoked = fuzz_api_revoked;
	if (session_table_new(fuzz_api.st, API_SESSIONS_MAX, API_LOGIN_RATE,
	                      &fuzz_api.a.sessions) != 0)
		abort();

	fuzz_api_seed("POST", "/api/v1/users",
	              "{\"name\":\"alice\",\"email\":\"a@x\"}");
	fuzz_api_seed("POST", "/api/v1/teams", "{\"name\":\"dev\"}");
	fuzz_api_seed("POST", "/api/v1/teams/dev/members",
	              "{\"user\":\"alice\"}");
	fuzz_api_seed("POST", "/api/v1/servers",
	              "{\"name\":\"github\",\"entry\":{\"url\":\"https://x/"
	              "mcp\",\"headers\":{\"A\":\"${secret:CANARY}\"}}}");
	fuzz_api_seed("POST", "/api/v1/grants",
	              "{\"server\":\"github\",\"team\":\"dev\"}");
	(void)snprintf(body, sizeof(body),
	               "{\"value\":\"%s\",\"user\":\"alice\"}",
	               fuzz_api.canary);
	fuzz_api_seed("PUT", "/api/v1/secrets/CANARY", body);
	if (store_device_create(fuzz_api.st, "dev-1", 1, "laptop", "linux",
	                        "0a",
	                        "00112233445566778899aabbccddeeff00112233445566"
	                        "778899aabbccddeeff",
	                        0, &d) != 0)
		abort();
	fuzz_api_seed("POST", "/api/v1/session",
	              "{\"token\":\"" FUZZ_API_TOKEN "\"}");
	if (fuzz_api.session_cookie[0] == '\0')
		abort();
}

/* Does the input hold s anywhere? (memmem() is a GNU extension.) */
static bool fuzz_api_holds(const uint8_t *data, size_t size, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= size; i++)
		if (memcmp(data + i, s, n) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[FUZZ_API_LINE], auth[FUZZ_API_LINE + 8];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t llen = nl != NULL ? (size_t)(nl - data) : size;
	size_t body_len = nl != NULL ? size - llen - 1 : 0;
	char *target, *token, *body;

	if (fuzz_api.st == NULL)
		fuzz_api_init();
	if (llen >= sizeof(line))
		llen = sizeof(line) - 1;
	memcpy(line, data, llen);
	line[llen] = '\0';
	if ((target = strchr(line, ' ')) != NULL)
		*target++ = '\0';
	else
		target = line + strlen(line);
	if ((token = strchr(target, ' ')) != NULL)
		*token++ = '\0';
	fuzz_api.cookie = fuzz_api.csrf = fuzz_api.origin = NULL;
	if (token == NULL) {
		(void)snprintf(auth, sizeof(auth), "Bearer %s", FUZZ_API_TOKEN);
	} else if (strcmp(token, "-") == 0) {
		auth[0] = '\0';
	} else if (strcmp(token, "session") == 0) {
		auth[0] = '\0';
		fuzz_api.cookie = fuzz_api.session_cookie;
		fuzz_api.csrf = fuzz_api.session_csrf;
		fuzz_api.origin = "https://fleet.example";
	} else if (strncmp(token, "cookie:", 7) == 0) {
		auth[0] = '\0';
		fuzz_api.cookie = token + 7;
	} else {
		(void)snprintf(auth, sizeof(auth), "Bearer %s", token);
	}

	/* The body is NUL-terminated, as net.c hands it over. */
	if ((body = malloc(body_len + 1)) == NULL)
		return 0;
	if (body_len > 0)
		memcpy(body, nl + 1, body_len);
	body[body_len] = '\0';
	/* An answer may quote the input (a bad name, say), and so may
	 * what it stored (a server entry). */
	if (fuzz_api_holds(data, size, fuzz_api.canary))
		fuzz_api.canary_out = true;
	fuzz_api_call(line, target, auth, body, body_len);
	free(body);
	return 0;
}
