/* SPDX-License-Identifier: MIT */
/* SCIM 2.0 provisioning under /scim/v2 (RFC 7643, RFC 7644): an identity
 * provider's Users are mcpfleet users and its Groups are teams; see
 * server/API.md, "Provisioning (SCIM 2.0)". */
#ifndef MCPFLEET_SCIM_H
#define MCPFLEET_SCIM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "net.h"
#include "store.h"

#define SCIM_PREFIX "/scim/v2"

/* The longest base URL ("https://HOST/scim/v2") and error detail kept. */
#define SCIM_BASE_MAX 300
#define SCIM_ERR_MAX  512

/* One SCIM request, which api.c authenticated (a bearer admin token of
 * role scim) and scim_handle() answers. */
struct scim_call {
	/* In: */
	struct store *st;
	const struct net_request *req;
	const char *actor;        /* the audit actor: "scim:TOKEN_NAME" */
	char base[SCIM_BASE_MAX]; /* "https://HOST/scim/v2", for locations */
	/* Out: the status and the answer (NULL: none, as for 204), a
	 * Location and an ETag to send ("" none). */
	int status;
	json_t *out;
	char location[SCIM_BASE_MAX + 64];
	char etag[32];
	/* Out, for api.c's hooks: a change was committed, it can alter a
	 * view, and these devices were revoked. */
	bool committed;
	bool changed;
	struct store_id_list revoked;
	struct diag d;
};

/*
 * Answers one request whose path is SCIM_PREFIX or under it: the
 * discovery resources (ServiceProviderConfig, ResourceTypes, Schemas) and
 * Users and Groups (POST, GET one, list with filter and paging, PUT,
 * PATCH, DELETE). Each change and its audit rows commit in one
 * transaction; deactivating or deleting a user offboards them with
 * api_offboard_user(). Errors are SCIM Error messages with the status as
 * a string and, where RFC 7644 3.12 has one, a scimType. Sets c->status
 * and c->out (owned by c; json_decref() it), and the outputs above.
 */
void scim_handle(struct scim_call *c);

/* A SCIM Error message: {"schemas": [...Error], "status": "404",
 * "scimType": ... (when not NULL), "detail": ...}. Returns a new object,
 * or NULL when out of memory. */
json_t *scim_error_json(int status, const char *scim_type, const char *detail);

#endif
