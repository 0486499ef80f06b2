/* SPDX-License-Identifier: MIT */
/* The set-up that the API's tests and fuzz targets share (test_api,
 * test_scim, fuzz_api, fuzz_scim): a store in a fresh temporary
 * directory, admin tokens by their plaintext, an api_ctx over them, and a
 * request target split as libwebsockets hands it over. Nothing here
 * asserts: each returns an error for its program to fail or abort on. */
#ifndef MCPFLEET_API_FIXTURE_H
#define MCPFLEET_API_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "crypto.h"
#include "err.h"
#include "net.h"
#include "role.h"
#include "store.h"

#define API_FIXTURE_DIR_MAX 256
#define API_FIXTURE_DB_MAX  300

/*
 * Makes a fresh directory under $TMPDIR (or /tmp) and opens the SQLite
 * store dir/fleet.db in it, its clock at now. Returns 0 with dir, db and
 * *st (close with store_close(), then api_fixture_remove()), or -1 with
 * d saying why (dir "" when none was made).
 */
int api_fixture_store(int64_t now, char dir[API_FIXTURE_DIR_MAX],
                      char db[API_FIXTURE_DB_MAX], struct store **st,
                      struct diag *d);

/* Removes the database's files (and its -wal, -shm and -journal) and then
 * dir, when that leaves it empty. */
void api_fixture_remove(const char *dir, const char *db);

/* Adds an admin token named name of role whose plaintext is token (*id
 * may be NULL). Returns 0, or the store's error with d. */
int api_fixture_token(struct store *st, const char *name, enum role role,
                      const char *token, int64_t *id, struct diag *d);

/* Sets a over st, rng and master with what every API test serves as:
 * links for fleet.example on port 7444, enrollment tokens of a day. The
 * hooks and the rest are the caller's. */
void api_fixture_ctx(struct api_ctx *a, struct store *st,
                     struct crypto_rng *rng, const uint8_t *master);

/*
 * Cuts target ("/path?a=b&c") at its '?' and splits the query at any of
 * seps into params (at most max): "a=b" is a and b, "c" is c and "". With
 * decode, each value is percent-decoded in place, a '+' kept, as
 * libwebsockets does. Returns the number of params.
 */
size_t api_fixture_query(char *target, struct net_param *params, size_t max,
                         const char *seps, bool decode);

#endif
