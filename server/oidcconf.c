/* SPDX-License-Identifier: MIT */
/* The oidc_* keys of mcpfleetd.conf (oidcconf.h). */
#include "oidcconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
	OIDC_K_ISSUER = 1u << 0,
	OIDC_K_CLIENT_ID = 1u << 1,
	OIDC_K_SECRET_FILE = 1u << 2,
	OIDC_K_REDIRECT = 1u << 3,
	OIDC_K_DOMAINS = 1u << 4,
	OIDC_K_GROUPS_CLAIM = 1u << 5,
	OIDC_K_DEFAULT_ROLE = 1u << 6,
	OIDC_K_SCOPES = 1u << 7,
	OIDC_K_CA_FILE = 1u << 8,
	OIDC_K_LABEL = 1u << 9,
	OIDC_K_ROLE = 1u << 10, /* + the role's index */
};

#define OIDC_DEFAULT_CLAIM  "groups"
#define OIDC_DEFAULT_SCOPES "openid email profile"

void oidc_conf_defaults(struct oidc_conf *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->groups_claim, OIDC_DEFAULT_CLAIM, sizeof(OIDC_DEFAULT_CLAIM));
	memcpy(c->scopes, OIDC_DEFAULT_SCOPES, sizeof(OIDC_DEFAULT_SCOPES));
}

bool oidc_conf_key(const char *key)
{
	return strncmp(key, "oidc_", 5) == 0;
}

/* The index of the name of a role a person may have, or -1. */
static int oidc_conf_role_index(const char *name)
{
	int i;

	for (i = 0; i < OIDC_NROLES; i++)
		if (strcmp(role_name((enum role)i), name) == 0)
			return i;
	return -1;
}

/* Copies v (at most max bytes) into out, else an error naming the key. */
static int oidc_conf_copy(char *out, size_t max, const char *v,
                          const char *path, unsigned line, const char *key,
                          struct diag *d)
{
	size_t n = strlen(v);

	if (n > max)
		return diag_set(d, ERR_INVALID, line, 0,
		                "%s:%u: %s: longer than %zu bytes", path, line,
		                key, max);
	memcpy(out, v, n + 1);
	return 0;
}

/* An https URL with a host and no fragment, query or spaces. */
static int oidc_conf_url(const char *v, const char *path, unsigned line,
                         const char *key, struct diag *d)
{
	const char *host = v + 8;

	if (strncmp(v, "https://", 8) != 0 || *host == '\0' || *host == '/' ||
	    strpbrk(v, " \t#?\"'<>\\") != NULL)
		return diag_set(d, ERR_INVALID, line, 0,
		                "%s:%u: %s: '%.200s' is not an https:// URL "
		                "with a host (and no query or fragment)",
		                path, line, key, v);
	return 0;
}

/*
 * Splits a list of names at commas and spaces into out (max entries of
 * size bytes each); each item is checked by ok when given.
 */
static int oidc_conf_list(const char *v, char *out, size_t size, size_t max,
                          size_t *n, const char *path, unsigned line,
                          const char *key, struct diag *d)
{
	const char *p = v;
	size_t len, k = 0;

	while (*p != '\0') {
		p += strspn(p, ", \t");
		if (*p == '\0')
			break;
		len = strcspn(p, ", \t");
		if (k == max)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: more than %zu names", path,
			                line, key, max);
		if (len >= size)
			return diag_set(
			    d, ERR_INVALID, line, 0,
			    "%s:%u: %s: '%.*s...' is longer than %zu "
			    "bytes",
			    path, line, key, 32, p, size - 1);
		memcpy(out + k * size, p, len);
		out[k * size + len] = '\0';
		k++;
		p += len;
	}
	if (k == 0)
		return diag_set(d, ERR_INVALID, line, 0, "%s:%u: %s: no names",
		                path, line, key);
	*n = k;
	return 0;
}

int oidc_conf_apply(struct oidc_conf *c, const char *key, const char *v,
                    const char *path, unsigned line, struct diag *d)
{
	unsigned bit;
	size_t i;
	int role = -1, r;

	if (strcmp(key, "oidc_issuer") == 0)
		bit = OIDC_K_ISSUER;
	else if (strcmp(key, "oidc_client_id") == 0)
		bit = OIDC_K_CLIENT_ID;
	else if (strcmp(key, "oidc_client_secret_file") == 0)
		bit = OIDC_K_SECRET_FILE;
	else if (strcmp(key, "oidc_redirect_uri") == 0)
		bit = OIDC_K_REDIRECT;
	else if (strcmp(key, "oidc_email_domains") == 0)
		bit = OIDC_K_DOMAINS;
	else if (strcmp(key, "oidc_groups_claim") == 0)
		bit = OIDC_K_GROUPS_CLAIM;
	else if (strcmp(key, "oidc_default_role") == 0)
		bit = OIDC_K_DEFAULT_ROLE;
	else if (strcmp(key, "oidc_scopes") == 0)
		bit = OIDC_K_SCOPES;
	else if (strcmp(key, "oidc_ca_file") == 0)
		bit = OIDC_K_CA_FILE;
	else if (strcmp(key, "oidc_label") == 0)
		bit = OIDC_K_LABEL;
	else if (strncmp(key, "oidc_role_", 10) == 0 &&
	         (role = oidc_conf_role_index(key + 10)) >= 0)
		bit = OIDC_K_ROLE << role;
	else
		return diag_set(d, ERR_PARSE, line, 0,
		                "%s:%u: unknown key '%.64s' (the oidc_ keys: "
		                "oidc_issuer, oidc_client_id, "
		                "oidc_client_secret_file, oidc_redirect_uri, "
		                "oidc_email_domains, oidc_groups_claim, "
		                "oidc_role_owner, oidc_role_admin, "
		                "oidc_role_helpdesk, oidc_role_auditor, "
		                "oidc_default_role, oidc_scopes, oidc_ca_file, "
		                "oidc_label)",
		                path, line, key);
	if ((c->seen & bit) != 0)
		return diag_set(d, ERR_PARSE, line, 0,
		                "%s:%u: '%s' is set twice", path, line, key);
	switch (bit) {
	case OIDC_K_ISSUER:
		if ((r = oidc_conf_url(v, path, line, key, d)) != 0)
			return r;
		r = oidc_conf_copy(c->issuer, OIDC_URL_MAX, v, path, line, key,
		                   d);
		break;
	case OIDC_K_REDIRECT:
		if ((r = oidc_conf_url(v, path, line, key, d)) != 0)
			return r;
		r = oidc_conf_copy(c->redirect_uri, OIDC_URL_MAX, v, path, line,
		                   key, d);
		break;
	case OIDC_K_CLIENT_ID:
		if (strpbrk(v, " \t") != NULL)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: holds a space", path, line,
			                key);
		r = oidc_conf_copy(c->client_id, OIDC_VALUE_MAX, v, path, line,
		                   key, d);
		break;
	case OIDC_K_SECRET_FILE:
		r = oidc_conf_copy(c->secret_file, OIDC_PATH_MAX, v, path, line,
		                   key, d);
		break;
	case OIDC_K_CA_FILE:
		r = oidc_conf_copy(c->ca_file, OIDC_PATH_MAX, v, path, line,
		                   key, d);
		break;
	case OIDC_K_DOMAINS:
		r = oidc_conf_list(v, &c->domains[0][0], sizeof(c->domains[0]),
		                   OIDC_DOMAINS_MAX, &c->ndomains, path, line,
		                   key, d);
		for (i = 0; r == 0 && i < c->ndomains; i++)
			if (strchr(c->domains[i], '@') != NULL ||
			    strchr(c->domains[i], '.') == NULL)
				r = diag_set(d, ERR_INVALID, line, 0,
				             "%s:%u: %s: '%.64s' is not a "
				             "domain like example.com",
				             path, line, key, c->domains[i]);
		break;
	case OIDC_K_GROUPS_CLAIM:
		if (strpbrk(v, " \t") != NULL)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: holds a space", path, line,
			                key);
		r = oidc_conf_copy(c->groups_claim, OIDC_GROUP_MAX, v, path,
		                   line, key, d);
		break;
	case OIDC_K_DEFAULT_ROLE:
		if (oidc_conf_role_index(v) < 0)
			return diag_set(
			    d, ERR_INVALID, line, 0,
			    "%s:%u: %s: '%.32s' is not owner, admin, "
			    "helpdesk or auditor",
			    path, line, key, v);
		r = oidc_conf_copy(c->default_role, sizeof(c->default_role) - 1,
		                   v, path, line, key, d);
		break;
	case OIDC_K_SCOPES:
		if (strstr(v, "openid") == NULL)
			return diag_set(d, ERR_INVALID, line, 0,
			                "%s:%u: %s: must hold 'openid'", path,
			                line, key);
		r = oidc_conf_copy(c->scopes, OIDC_VALUE_MAX, v, path, line,
		                   key, d);
		break;
	case OIDC_K_LABEL:
		r = oidc_conf_copy(c->label, sizeof(c->label) - 1, v, path,
		                   line, key, d);
		break;
	default: /* a role's groups */
		r = oidc_conf_list(v, &c->role_groups[role][0][0],
		                   sizeof(c->role_groups[role][0]),
		                   OIDC_GROUPS_MAX, &c->nrole_groups[role],
		                   path, line, key, d);
		break;
	}
	if (r == 0)
		c->seen |= bit;
	return r;
}

int oidc_conf_check(const struct oidc_conf *c, struct diag *d)
{
	size_t i, roles = 0;

	for (i = 0; i < OIDC_NROLES; i++)
		roles += c->nrole_groups[i];
	if (c->issuer[0] == '\0') {
		if (c->seen != 0)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "oidc_ keys without oidc_issuer");
		return 0;
	}
	if (c->client_id[0] == '\0')
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "oidc_issuer is set: oidc_client_id is missing");
	if (c->secret_file[0] == '\0')
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "oidc_issuer is set: oidc_client_secret_file is "
		    "missing");
	if (roles == 0 && c->default_role[0] == '\0')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "oidc_issuer is set: no one would get a role "
		                "(set oidc_role_NAME = GROUP or "
		                "oidc_default_role)");
	return 0;
}

/* Appends "key = item, item\n" for a list. */
static int oidc_conf_format_list(struct buf *b, const char *key,
                                 const char *items, size_t size, size_t n)
{
	size_t i;

	if (buf_printf(b, "%s = ", key) != 0)
		return -ERR_NOMEM;
	for (i = 0; i < n; i++)
		if (buf_printf(b, "%s%s", i > 0 ? ", " : "",
		               items + i * size) != 0)
			return -ERR_NOMEM;
	return buf_puts(b, "\n") != 0 ? -ERR_NOMEM : 0;
}

int oidc_conf_format(const struct oidc_conf *c, struct buf *b)
{
	const struct {
		const char *key, *v;
	} one[] = {
	    {"oidc_issuer", c->issuer},
	    {"oidc_client_id", c->client_id},
	    {"oidc_client_secret_file", c->secret_file},
	    {"oidc_redirect_uri", c->redirect_uri},
	    {"oidc_default_role", c->default_role},
	    {"oidc_ca_file", c->ca_file},
	    {"oidc_label", c->label},
	};
	char key[32];
	size_t i;
	int r;

	if (c->issuer[0] == '\0')
		return 0;
	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		if (one[i].v[0] != '\0' &&
		    buf_printf(b, "%s = %s\n", one[i].key, one[i].v) != 0)
			return -ERR_NOMEM;
	if (strcmp(c->groups_claim, OIDC_DEFAULT_CLAIM) != 0 &&
	    buf_printf(b, "oidc_groups_claim = %s\n", c->groups_claim) != 0)
		return -ERR_NOMEM;
	if (strcmp(c->scopes, OIDC_DEFAULT_SCOPES) != 0 &&
	    buf_printf(b, "oidc_scopes = %s\n", c->scopes) != 0)
		return -ERR_NOMEM;
	if (c->ndomains > 0 && (r = oidc_conf_format_list(
	                            b, "oidc_email_domains", &c->domains[0][0],
	                            sizeof(c->domains[0]), c->ndomains)) != 0)
		return r;
	for (i = 0; i < OIDC_NROLES; i++) {
		if (c->nrole_groups[i] == 0)
			continue;
		(void)snprintf(key, sizeof(key), "oidc_role_%s",
		               role_name((enum role)i));
		if ((r = oidc_conf_format_list(b, key, &c->role_groups[i][0][0],
		                               sizeof(c->role_groups[i][0]),
		                               c->nrole_groups[i])) != 0)
			return r;
	}
	return 0;
}

const char *oidc_conf_role(const struct oidc_conf *c, const char *const *groups,
                           size_t n)
{
	size_t j, k;
	int role;

	for (role = 0; role < OIDC_NROLES; role++)
		for (j = 0; j < c->nrole_groups[role]; j++)
			for (k = 0; k < n; k++)
				if (strcmp(c->role_groups[role][j],
				           groups[k]) == 0)
					return role_name((enum role)role);
	if (c->default_role[0] != '\0' &&
	    (role = oidc_conf_role_index(c->default_role)) >= 0)
		return role_name((enum role)role);
	return NULL;
}

bool oidc_conf_email_ok(const struct oidc_conf *c, const char *email)
{
	const char *at = strrchr(email, '@');
	size_t i;

	if (at == NULL || at == email || at[1] == '\0')
		return false;
	if (c->ndomains == 0)
		return true;
	for (i = 0; i < c->ndomains; i++)
		if (strcasecmp(at + 1, c->domains[i]) == 0)
			return true;
	return false;
}
