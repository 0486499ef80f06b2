/* SPDX-License-Identifier: MIT */
/* Console sign-in with OpenID Connect: the authorization code flow with
 * PKCE, state and nonce against the provider of mcpfleetd.conf's oidc_*
 * keys, ending in a console session for the person (docs/design.md,
 * "Console sign-in with OpenID Connect"; server/API.md, "Single
 * sign-on"). */
#ifndef MCPFLEET_OIDC_H
#define MCPFLEET_OIDC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "net.h"
#include "oidcconf.h"
#include "session.h"
#include "store.h"

#define OIDC_PREFIX    "/api/v1/oidc" /* the paths this module answers */
#define OIDC_STATE_TTL 600            /* seconds a sign-in may take */
#define OIDC_COOKIE    "__Host-mcpfleet_oidc"
#define OIDC_CACHE_TTL 3600         /* seconds the discovery document is kept */
#define OIDC_HTTP_MAX  (256u << 10) /* bytes of a provider's answer */
#define OIDC_HTTP_SECS 10           /* seconds a provider may take */

/* What a person signed in as, from a verified ID token. */
struct oidc_identity {
	char subject[256];
	char email[256];
	char **groups; /* ngroups names */
	size_t ngroups;
};

void oidc_identity_clear(struct oidc_identity *id);

/*
 * The role name for a verified identity (NULL: refused, with why written
 * into why): its email's domain must be allowed, then
 * oidc_conf_role() maps its groups. This is the one place that turns a
 * provider's answer into a role.
 */
const char *oidc_role_for(const struct oidc_conf *c,
                          const struct oidc_identity *id, char *why,
                          size_t whysize);

/* The provider client: configuration, client secret, cached discovery
 * document and JWKS. Used on one thread (the core's). */
struct oidc;

/*
 * Makes the client for conf (NULL *out and 0 when conf has no issuer):
 * reads the client secret file (relative to data_dir), derives the state
 * cookie's key from master, and takes default_redirect when conf sets no
 * redirect URI. The provider is not contacted yet. Returns 0, or an error
 * with d naming the file and the reason.
 */
int oidc_new(const struct oidc_conf *conf, const char *data_dir,
             const char *default_redirect,
             const uint8_t master[CRYPTO_SEAL_KEY_LEN], struct oidc **out,
             struct diag *d);
void oidc_free(struct oidc *o);
/* The redirect URI to register at the provider. */
const char *oidc_redirect_uri(const struct oidc *o);

/* Where one request is answered. */
struct oidc_call_ctx {
	struct store *st; /* this thread's connection */
	struct crypto_rng *rng;
	struct session_table *sessions;
	int64_t now; /* Unix seconds; 0: the store's clock */
};

/*
 * Answers a request under OIDC_PREFIX (o may be NULL: sign-in with OIDC
 * is off): GET OIDC_PREFIX (is it on, and the button's label), GET
 * OIDC_PREFIX "/login" (302 to the provider, with the state cookie), GET
 * OIDC_PREFIX "/callback" (302 to the console with a session cookie, or a
 * plain page that says why not, audited as "session.refused").
 */
void oidc_handle(struct oidc *o, const struct oidc_call_ctx *x,
                 const struct net_request *req, struct net_response *resp);

#endif
