/* SPDX-License-Identifier: MIT */
/* The admin REST API under /api/v1/ (JSON over TLS); see server/API.md. */
#ifndef MCPFLEET_API_H
#define MCPFLEET_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "net.h"
#include "role.h"
#include "session.h"
#include "store.h"

#define API_PREFIX "/api/v1/"

/* The console sessions the daemon keeps for the API (session.h): at most
 * API_SESSIONS_MAX at once, the least recently used going when a new one
 * needs room, and API_LOGIN_RATE sign-in attempts per address a minute. */
#define API_SESSIONS_MAX 64
#define API_LOGIN_RATE   10

/* Calls refused for their role are audited at most API_REFUSAL_RATE a
 * minute per admin token (a burst of as many, enroll.h's limiter), so that
 * a flood of refused calls cannot grow the audit log without bound; past
 * that they are refused all the same, without a row. */
#define API_REFUSAL_RATE 30

struct enroll_limiter;

/* Who opened an event stream (GET API_PREFIX "events"), for the hook that
 * opens it. */
struct api_stream {
	enum role role;
	/* When the console session lapses (Unix seconds: its lifetime or,
	 * sooner, its idle limit), or 0 for an admin token. */
	int64_t until;
};

/* What the daemon core does after a committed change. Called on the
 * thread that called api_handle(), after the commit. */
struct api_hooks {
	void *arg;
	/* Something that can change a view was committed (a server, grant,
	 * membership, secret, user or device). Rebuild and push. */
	void (*changed)(void *arg);
	/* These devices were revoked: hand them their revocation and close
	 * them if connected. */
	void (*revoked)(void *arg, const char *const *device_ids, size_t n);
	/* Optional: adds live facts to a device object ("connected",
	 * "connected_since", "omitted"), which api.c presets to false, null
	 * and (on GET /api/v1/devices/{id}) null. */
	void (*device_extra)(void *arg, const char *device_id, json_t *obj);
	/* Optional: how many agents are connected now, for
	 * GET /api/v1/status; NULL reports 0. */
	size_t (*connected_count)(void *arg);
	/* Optional: any change was committed (the console's live counters
	 * may have moved), after changed and revoked. */
	void (*committed)(void *arg);
	/* Optional: makes resp an event stream for an authenticated
	 * GET API_PREFIX "events" (server/API.md, "Events"). Returns 0, or
	 * -ERR_TOOBIG (answered 503) or another code (500); NULL: 404. */
	int (*stream)(void *arg, const struct net_request *req,
	              struct net_response *resp, const struct api_stream *s);
};

struct api_ctx {
	struct store *st; /* this thread's connection */
	struct crypto_rng *rng;
	const uint8_t *master; /* CRYPTO_SEAL_KEY_LEN bytes */
	/* The catalogue signing key, which also signs audit checkpoints
	 * (NULL: GET audit/checkpoint answers 500), its public key PEM and
	 * its id. Used on the thread that calls api_handle() only. */
	struct crypto_key *signer;
	const char *signer_pub_pem;
	const char *signer_key_id;
	const char *link_host; /* host written into enrollment links */
	int api_port;
	const char *ca_pin; /* "sha256:HEX" */
	int64_t token_ttl;  /* default enrollment token lifetime, seconds */
	/* Console sessions, kept by the caller across requests; NULL: none
	 * (a session cookie is ignored and sign-in answers 404). */
	struct session_table *sessions;
	/* The limit on refusals' audit rows, kept by the caller across
	 * requests (enroll_limiter_new(API_REFUSAL_RATE)); NULL: every
	 * refusal is audited. */
	struct enroll_limiter *refusals;
	/* The replica set's agent addresses, and the one of this replica,
	 * for GET status (docs/design.md, "Replicas: the agents' side");
	 * NULL / 0: none. */
	const char *const *replicas;
	size_t nreplicas;
	const char *replica;
	struct api_hooks hooks;
};

/*
 * Handles one request whose path starts with API_PREFIX: authenticates
 * the bearer token or the console session cookie (which also needs the
 * session's X-CSRF-Token on anything but GET and HEAD, and an Origin, when
 * present, that is the Host), routes, validates, performs the change with
 * its audit row in one transaction, calls the hooks, and fills resp with a
 * JSON body and status (errors: {"error": "message"} with 400, 401, 403,
 * 404, 405, 409, 413, 429 or 500). A route the caller's role may not call
 * (role.h; the table in api.c) is a 403 naming the roles it needs and the
 * one the caller has, audited as "access.refused". POST API_PREFIX "session"
 * signs a console in without either. Never returns a secret value.
 */
void api_handle(const struct api_ctx *a, const struct net_request *req,
                struct net_response *resp);

/*
 * Offboards user u inside the caller's transaction (server/API.md, "Users",
 * offboard): disables them, revokes every active device and unused
 * enrollment token, lists the secrets ever delivered to their devices and
 * their last calls, and stores that report (store_offboarding_add(), with
 * actor, reason and the time). The caller appends the "user.offboard"
 * audit row with *audit as its details, commits, and hands *revoked to the
 * revocation hook. Both POST .../offboard and SCIM (server/scim.c) call
 * it. Returns 0 with *report and *audit (the caller json_decref()s both)
 * and *revoked (free with store_id_list_free()), or a store error with d
 * set.
 */
int api_offboard_user(struct store *st, const struct store_user *u,
                      const char *actor, const char *reason, json_t **report,
                      json_t **audit, struct store_id_list *revoked,
                      struct diag *d);
/* A device as GET API_PREFIX "devices" lists it, live facts (h's
 * device_extra) included. Returns a new object, or NULL (no memory). */
json_t *api_device_object(const struct api_hooks *h,
                          const struct store_device *dev);

/* The console overview's counters: "revision", "devices" (as GET status
 * has them), "users", "teams" and, with catalogue, "servers", "grants",
 * "secrets". Returns 0 with *out (a new object), or the store's error
 * with d set. */
int api_overview(const struct api_ctx *a, bool catalogue, json_t **out,
                 struct diag *d);

/* Do these credentials (a request's Authorization and Cookie headers)
 * still open an event stream? Checks the admin token or the console
 * session as api_handle() does, without keeping the session alive.
 * Returns 0, -ERR_PERM for a role without it, or another code. */
int api_recheck(const struct api_ctx *a, const char *authorization,
                const char *cookie);

/* One route of the table, for the tests and the documentation: its
 * method, pattern (after API_PREFIX, "*" one segment), the ROLE_BIT()s of
 * the roles that may call it, and what it does ("adding a server"). */
struct api_route_info {
	const char *method;
	const char *pattern;
	unsigned roles;
	const char *what;
};

/*
 * Authenticates a request outside API_PREFIX as api_handle() does (an
 * admin token, or a console session with its checks) and checks that the
 * caller's role is in roles (ROLE_BIT()s), what naming the call in a
 * refusal ("reading the metrics"). Returns 0 when it may, resp untouched;
 * otherwise fills resp with the JSON error answer (401 with
 * WWW-Authenticate: Bearer, or 403, audited as "access.refused") and
 * returns a negative code.
 */
int api_authorize(const struct api_ctx *a, const struct net_request *req,
                  unsigned roles, const char *what, struct net_response *resp);

/* The route whose pattern matches path (which starts with API_PREFIX),
 * one of method when the path has one, else the first of the path:
 * *index for api_route_get(). Returns 0, or -ERR_NOENT for no route. */
int api_route_find(const char *method, const char *path, size_t *index);

/* The number of routes, and route i (-ERR_NOENT past the end). */
size_t api_route_count(void);
int api_route_get(size_t i, struct api_route_info *out);

#endif
