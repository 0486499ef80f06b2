/* SPDX-License-Identifier: MIT */
/* The admin REST API under /api/v1/ (JSON over TLS); see server/API.md. */
#ifndef MCPFLEET_API_H
#define MCPFLEET_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "net.h"
#include "store.h"

#define API_PREFIX "/api/v1/"

/* Console sessions (POST /api/v1/session; server/API.md, "Console
 * sessions"). */
#define API_SESSION_COOKIE "mcpfleet_session"
#define API_SESSIONS_MAX                                                       \
	64                           /* held at once; the least recently       \
	                                used goes when a new one needs         \
	                                room */
#define API_SESSION_TTL  (12 * 3600) /* seconds from sign-in */
#define API_SESSION_IDLE (30 * 60)   /* seconds without a request */
#define API_LOGIN_RATE                                                         \
	10 /* sign-in attempts per address a                                   \
	      minute */

/*
 * The console sessions: in memory only (a restart signs every console out),
 * each one a random id whose SHA-256 is kept, a CSRF token, and the hash of
 * the admin token that opened it, checked again on every request (so
 * revoking that token ends its sessions). Also the per-address limit on
 * sign-in attempts. Not thread-safe: it belongs to the one thread that
 * calls api_handle().
 */
struct api_sessions;

/* Returns 0 with *out (free with api_sessions_free()), -ERR_INVALID for a
 * max or rate of 0, -ERR_NOMEM. */
int api_sessions_new(size_t max, unsigned login_rate,
                     struct api_sessions **out);
/* Wipes and frees every session. NULL-safe. */
void api_sessions_free(struct api_sessions *s);
/* Sessions alive at now (expired ones are dropped). */
size_t api_sessions_count(struct api_sessions *s, int64_t now);

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
};

struct api_ctx {
	struct store *st; /* this thread's connection */
	struct crypto_rng *rng;
	const uint8_t *master; /* CRYPTO_SEAL_KEY_LEN bytes */
	const char *link_host; /* host written into enrollment links */
	int api_port;
	const char *ca_pin; /* "sha256:HEX" */
	int64_t token_ttl;  /* default enrollment token lifetime, seconds */
	/* Console sessions, kept by the caller across requests; NULL: none
	 * (a session cookie is ignored and sign-in answers 404). */
	struct api_sessions *sessions;
	struct api_hooks hooks;
};

/*
 * Handles one request whose path starts with API_PREFIX: authenticates
 * the bearer token or the console session cookie (which also needs the
 * session's X-CSRF-Token on anything but GET and HEAD, and an Origin, when
 * present, that is the Host), routes, validates, performs the change with
 * its audit row in one transaction, calls the hooks, and fills resp with a
 * JSON body and status (errors: {"error": "message"} with 400, 401, 403,
 * 404, 405, 409, 413, 429 or 500). POST API_PREFIX "session" signs a
 * console in without either. Never returns a secret value.
 */
void api_handle(const struct api_ctx *a, const struct net_request *req,
                struct net_response *resp);

#endif
