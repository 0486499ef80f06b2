/* SPDX-License-Identifier: MIT */
/* The oidc_* keys of mcpfleetd.conf: which OpenID provider signs people
 * into the web console, and how its groups map to role names
 * (docs/design.md, "Console sign-in with OpenID Connect"). */
#ifndef MCPFLEET_OIDCCONF_H
#define MCPFLEET_OIDCCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "role.h"

#define OIDC_URL_MAX     512
#define OIDC_VALUE_MAX   256
#define OIDC_PATH_MAX    512
#define OIDC_DOMAINS_MAX 16
#define OIDC_GROUPS_MAX  16 /* groups mapped to one role */
#define OIDC_GROUP_MAX   128

/* The roles a person may be mapped to: those of role.h before ROLE_SCIM,
 * most privileged first ("scim" is a token's role, never a person's). */
#define OIDC_NROLES ((int)ROLE_SCIM)

/*
 * The keys (server/API.md and the README, "Single sign-on"):
 *   oidc_issuer = https://idp.example.com   the issuer; https only
 *   oidc_client_id = ID
 *   oidc_client_secret_file = PATH          the secret, alone in a file
 *                                           (relative: to the data dir)
 *   oidc_redirect_uri = https://.../api/v1/oidc/callback
 *                                           default: the first name and
 *                                           the API port
 *   oidc_email_domains = example.com, example.org
 *                                           allowed domains; default any
 *   oidc_groups_claim = groups              the claim holding the groups
 *   oidc_role_owner = GROUP, GROUP          ... and oidc_role_admin,
 *                                           oidc_role_helpdesk,
 *                                           oidc_role_auditor
 *   oidc_default_role = auditor             a person in no mapped group
 *                                           (default: refused)
 *   oidc_scopes = openid email profile      the scopes asked for
 *   oidc_ca_file = PATH                     CA certificates for the
 *                                           provider (default: system's)
 *   oidc_label = Okta                       the console's button text
 * With oidc_issuer set, oidc_client_id, oidc_client_secret_file and at
 * least one role (a mapping or the default) are required.
 */
struct oidc_conf {
	char issuer[OIDC_URL_MAX + 1]; /* "": sign-in with OIDC is off */
	char client_id[OIDC_VALUE_MAX + 1];
	char secret_file[OIDC_PATH_MAX + 1];
	char redirect_uri[OIDC_URL_MAX + 1]; /* "": the default */
	char domains[OIDC_DOMAINS_MAX][OIDC_VALUE_MAX + 1];
	size_t ndomains;
	char groups_claim[OIDC_GROUP_MAX + 1];
	char role_groups[OIDC_NROLES][OIDC_GROUPS_MAX][OIDC_GROUP_MAX + 1];
	size_t nrole_groups[OIDC_NROLES];
	char default_role[16]; /* "": none */
	char scopes[OIDC_VALUE_MAX + 1];
	char ca_file[OIDC_PATH_MAX + 1];
	char label[64 + 1];
	unsigned seen; /* keys read, for "set twice" */
};

/* Fills c with the defaults (off; groups claim "groups", scopes "openid
 * email profile"). */
void oidc_conf_defaults(struct oidc_conf *c);
/* Does key belong to this module ("oidc_" keys)? */
bool oidc_conf_key(const char *key);
/* Applies one "key = value" line of path. Returns 0, or -ERR_PARSE /
 * -ERR_INVALID with d naming path, line, key and the reason. */
int oidc_conf_apply(struct oidc_conf *c, const char *key, const char *v,
                    const char *path, unsigned line, struct diag *d);
/* Checks the whole section once every line is read. Returns 0 or
 * -ERR_INVALID with d naming the missing or conflicting key. */
int oidc_conf_check(const struct oidc_conf *c, struct diag *d);
/* Appends the keys that differ from the defaults, one "key = value\n"
 * each, to b. Returns 0 or -ERR_NOMEM. */
int oidc_conf_format(const struct oidc_conf *c, struct buf *b);

/*
 * The role name for a person in groups (n names): the most privileged
 * role that one of their groups maps to, else the default role, else
 * NULL (refused). The string is static.
 */
const char *oidc_conf_role(const struct oidc_conf *c, const char *const *groups,
                           size_t n);
/* Is email's domain one of the allowed ones (any, when none is set)?
 * Compared without case. */
bool oidc_conf_email_ok(const struct oidc_conf *c, const char *email);

#endif
