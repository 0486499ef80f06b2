/* SPDX-License-Identifier: MIT */
/* Roles: names, parsing, and the may-call check (server/API.md, "Roles"). */
#include "role.h"

#include <stdio.h>
#include <string.h>

static const char *const role_names[ROLE_COUNT_] = {
    [ROLE_OWNER] = "owner",       [ROLE_ADMIN] = "admin",
    [ROLE_HELPDESK] = "helpdesk", [ROLE_AUDITOR] = "auditor",
    [ROLE_SCIM] = "scim",
};

/* The order in which messages list roles: least powerful first, so that a
 * refusal names the smallest role that would do first. */
static const enum role role_order[ROLE_COUNT_] = {
    ROLE_SCIM, ROLE_AUDITOR, ROLE_HELPDESK, ROLE_ADMIN, ROLE_OWNER,
};

const char *role_name(enum role r)
{
	if ((unsigned)r >= ROLE_COUNT_)
		return "?";
	return role_names[r];
}

int role_parse(const char *s, const char *what, enum role *out, struct diag *d)
{
	char shown[33];
	size_t i, n;

	if (s == NULL || *s == '\0')
		return diag_set(
		    d, ERR_INVALID, 0, 0,
		    "%s is empty; roles are owner, admin, helpdesk, "
		    "auditor and scim",
		    what);
	for (i = 0; i < ROLE_COUNT_; i++)
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum role)i;
			return 0;
		}
	/* The name is quoted cut short and without control bytes: it may come
	 * from a request body or a database row. */
	for (n = 0; s[n] != '\0' && n < sizeof(shown) - 1; n++)
		shown[n] =
		    (unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f
		        ? '?'
		        : s[n];
	shown[n] = '\0';
	return diag_set(d, ERR_INVALID, 0, 0,
	                "%s: unknown role '%s%s'; roles are owner, admin, "
	                "helpdesk, auditor and scim",
	                what, shown, s[n] != '\0' ? "..." : "");
}

bool role_may(unsigned set, enum role r)
{
	return (unsigned)r < ROLE_COUNT_ && (set & ROLE_BIT(r)) != 0;
}

int role_set_text(unsigned set, char *buf, size_t size)
{
	size_t i, used = 0, count = 0, seen = 0;
	int n;

	if (size == 0)
		return -ERR_TRUNC;
	buf[0] = '\0';
	for (i = 0; i < ROLE_COUNT_; i++)
		if (set & ROLE_BIT(i))
			count++;
	if (count == 0) {
		n = snprintf(buf, size, "nobody");
		return n < 0 || (size_t)n >= size ? -ERR_TRUNC : 0;
	}
	for (i = 0; i < ROLE_COUNT_; i++) {
		enum role r = role_order[i];
		const char *sep;

		if (!(set & ROLE_BIT(r)))
			continue;
		seen++;
		sep = seen == 1 ? "" : seen == count ? " or " : ", ";
		n = snprintf(buf + used, size - used, "%s%s", sep,
		             role_names[r]);
		if (n < 0 || (size_t)n >= size - used)
			return -ERR_TRUNC;
		used += (size_t)n;
	}
	return 0;
}

int role_refusal(char *buf, size_t size, const char *what, unsigned set,
                 const char *who, enum role r)
{
	char roles[64];
	int n;

	if (role_set_text(set, roles, sizeof(roles)) != 0)
		return -ERR_TRUNC;
	n = snprintf(buf, size, "%s needs role %s; %s has role %s", what, roles,
	             who, role_name(r));
	return n < 0 || (size_t)n >= size ? -ERR_TRUNC : 0;
}
