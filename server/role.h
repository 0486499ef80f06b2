/* SPDX-License-Identifier: MIT */
/* Roles of admin tokens and console sessions: their names, parsing, and
 * the check of who may call what (server/API.md, "Roles"). */
#ifndef MCPFLEET_ROLE_H
#define MCPFLEET_ROLE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * The roles, most powerful first. owner: everything, admin tokens
 * included; admin: the catalogue, grants, secrets, users, teams,
 * enrollment tokens and devices; helpdesk: users, enrollment tokens,
 * device revocation and offboarding, and reading what those need;
 * auditor: reading everything (audit and calls included), changing
 * nothing; scim: the identity provider's provisioning client, which may
 * call nothing under /api/v1/.
 */
enum role {
	ROLE_OWNER,
	ROLE_ADMIN,
	ROLE_HELPDESK,
	ROLE_AUDITOR,
	ROLE_SCIM,
	ROLE_COUNT_
};

/* A set of roles: one bit per role. */
#define ROLE_BIT(r)       (1u << (unsigned)(r))
#define ROLE_SET_OWNER    ROLE_BIT(ROLE_OWNER)
#define ROLE_SET_ADMIN    (ROLE_SET_OWNER | ROLE_BIT(ROLE_ADMIN))
#define ROLE_SET_HELPDESK (ROLE_SET_ADMIN | ROLE_BIT(ROLE_HELPDESK))
/* Every role that may sign in to the console and read. */
#define ROLE_SET_READ  (ROLE_SET_HELPDESK | ROLE_BIT(ROLE_AUDITOR))
#define ROLE_SET_AUDIT (ROLE_SET_ADMIN | ROLE_BIT(ROLE_AUDITOR))
#define ROLE_SET_ALL   ((1u << ROLE_COUNT_) - 1u)

/* The longest role name, with its NUL. */
#define ROLE_NAME_MAX 9

/* The default role of a new admin token (README, "Admin tokens"). */
#define ROLE_DEFAULT ROLE_ADMIN

/* The role's name ("owner"); "?" for a value that is not a role. */
const char *role_name(enum role r);

/* Parses a role name (exact, lower case). Returns 0 with *out, or
 * -ERR_INVALID naming the input and the roles there are. what names the
 * input in the message ("role", "admin token 'ci': role"). */
int role_parse(const char *s, const char *what, enum role *out, struct diag *d);

/* May a caller of role r call something open to the set? */
bool role_may(unsigned set, enum role r);

/* Writes the roles of set into buf, least powerful first, as words
 * ("helpdesk, admin or owner"; "nobody" for the empty set). Returns 0, or
 * -ERR_TRUNC when buf is too small. */
int role_set_text(unsigned set, char *buf, size_t size);

/*
 * Writes the message of a refusal into buf: "WHAT needs role SET; WHO has
 * role ROLE" (what: "adding a server"; who: "token 'hd'"). Returns 0, or
 * -ERR_TRUNC when buf is too small (buf then holds what fits).
 */
int role_refusal(char *buf, size_t size, const char *what, unsigned set,
                 const char *who, enum role r);

#endif
