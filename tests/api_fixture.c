/* SPDX-License-Identifier: MIT */
/* The API's test and fuzz set-up: a store, tokens, an api_ctx, a query. */
#include "api_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "token.h"

int api_fixture_store(int64_t now, char dir[API_FIXTURE_DIR_MAX],
                      char db[API_FIXTURE_DB_MAX], struct store **st,
                      struct diag *d)
{
	const char *base = getenv("TMPDIR");
	int n;

	diag_clear(d);
	dir[0] = '\0';
	n = snprintf(dir, API_FIXTURE_DIR_MAX, "%s/mcpfleet-test-XXXXXX",
	             base != NULL && *base != '\0' ? base : "/tmp");
	if (n < 0 || n >= API_FIXTURE_DIR_MAX || mkdtemp(dir) == NULL) {
		(void)snprintf(d->msg, sizeof(d->msg),
		               "cannot make a temporary directory under %s",
		               base != NULL && *base != '\0' ? base : "/tmp");
		dir[0] = '\0';
		return -1;
	}
	(void)snprintf(db, API_FIXTURE_DB_MAX, "%s/fleet.db", dir);
	if (store_open("sqlite", db, st, d) != 0)
		return -1;
	store_set_now(*st, now);
	return 0;
}

void api_fixture_remove(const char *dir, const char *db)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char path[API_FIXTURE_DB_MAX + 16];
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
		(void)unlink(path);
	}
	if (dir[0] != '\0')
		(void)rmdir(dir);
}

int api_fixture_token(struct store *st, const char *name, enum role role,
                      const char *token, int64_t *id, struct diag *d)
{
	char hash[CRYPTO_HEX_LEN + 1];
	int r;

	diag_clear(d);
	if ((r = token_hash(token, hash)) != 0) {
		(void)snprintf(d->msg, sizeof(d->msg), "token_hash: %s",
		               err_str(r));
		return r;
	}
	return store_admin_token_add(st, name, role, hash, id, d);
}

void api_fixture_ctx(struct api_ctx *a, struct store *st,
                     struct crypto_rng *rng, const uint8_t *master)
{
	a->st = st;
	a->rng = rng;
	a->master = master;
	a->link_host = "fleet.example";
	a->api_port = 7444;
	a->token_ttl = 86400;
}

/* Percent-decodes s in place, '+' kept. */
static void api_fixture_decode(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] != '\0' && s[2] != '\0') {
			char hex[3] = {s[1], s[2], '\0'};

			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

size_t api_fixture_query(char *target, struct net_param *params, size_t max,
                         const char *seps, bool decode)
{
	char *q = strchr(target, '?'), *next, *eq;
	size_t n = 0;

	if (q == NULL)
		return 0;
	*q++ = '\0';
	for (; q != NULL && n < max; q = next) {
		if ((next = strpbrk(q, seps)) != NULL)
			*next++ = '\0';
		params[n].name = q;
		params[n].value = "";
		if ((eq = strchr(q, '=')) != NULL) {
			*eq = '\0';
			if (decode)
				api_fixture_decode(eq + 1);
			params[n].value = eq + 1;
		}
		n++;
	}
	return n;
}
