/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: publish_build() for 100, 1,000 and 10,000 active devices,
 * against signing each device's view separately (docs/design.md, "Signed
 * envelopes": measure before and after). The fleet: devices / DEVICES_PER_USER
 * users in 10 teams, 10 servers reaching them through everyone, team and
 * user grants with tool lists, and org, team and user secrets in headers
 * and env. Prints medians (wall and CPU) and the ratio. Not a test.
 *   usage: bench_publish [RUNS] [DEVICES_PER_USER]
 * With MCPFLEET_BENCH_PG set to a libpq connection string (an empty
 * database it may wipe: tests/pg/cluster.sh's MCPFLEET_TEST_PG), the store is
 * PostgreSQL, where a revision also records every device's envelope for the
 * other replicas (docs/design.md, "Replicas").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "benchutil.h"
#include "crypto.h"
#include "envelope.h"
#include "pki.h"
#include "publish.h"
#include "store.h"

#define BENCH_TEAMS   10
#define BENCH_SERVERS 10

struct bench {
	char dir[64];
	char path[96];
	struct store *st;
	struct crypto_rng *rng;
	struct pki pki;
	size_t ndevices, nusers;
	int64_t *users, teams[BENCH_TEAMS], servers[BENCH_SERVERS];
};

static void bench_die(const char *what, int r, const struct diag *d)
{
	fprintf(stderr, "bench_publish: %s: %s: %s\n", what, err_str(r),
	        d != NULL ? d->msg : "");
	exit(1);
}

static void bench_secret(struct bench *b, const char *name,
                         enum store_scope scope, int64_t scope_id,
                         const char *value)
{
	char aad[STORE_AAD_MAX];
	uint8_t *sealed = NULL;
	size_t aadlen, n;
	int64_t id, v;
	struct diag d;
	int r;

	if ((r = store_secret_next(b->st, name, scope, scope_id, &id, &v,
	                           &d)) != 0 ||
	    (r = store_secret_aad(id, aad, &aadlen)) != 0 ||
	    (r = crypto_seal(b->rng, b->pki.master, aad, aadlen, value,
	                     strlen(value), &sealed, &n, &d)) != 0 ||
	    (r = store_secret_put(b->st, id, sealed, n, &d)) != 0)
		bench_die("secret", r, &d);
	free(sealed);
}

/* The servers: stdio and remote, secrets from every scope, one ${VAR}. */
static const char *const bench_entries[BENCH_SERVERS] = {
    "{\"url\": \"https://api.github.example/mcp\", \"headers\": "
    "{\"Authorization\": \"Bearer ${secret:USER_TOKEN}\"}, \"tools\": "
    "{\"deny\": [\"delete_repository\"]}}",
    "{\"command\": \"npx\", \"args\": [\"-y\", "
    "\"@modelcontextprotocol/server-filesystem\", \"/src\"], \"env\": "
    "{\"LOG\": \"${LOG_LEVEL}\"}}",
    "{\"url\": \"https://jira.example/mcp\", \"type\": \"sse\", "
    "\"headers\": {\"X-Api-Key\": \"${secret:ORG_TOKEN}\"}}",
    "{\"command\": \"docker\", \"args\": [\"run\", \"-i\", \"--rm\", "
    "\"mcp/postgres\"], \"env\": {\"PGPASSWORD\": "
    "\"${secret:TEAM_TOKEN}\"}}",
    "{\"url\": \"https://sentry.example/mcp\", \"headers\": "
    "{\"Authorization\": \"Bearer ${secret:TEAM_TOKEN}\", \"X-Org\": "
    "\"acme\"}}",
    "{\"command\": \"uvx\", \"args\": [\"mcp-server-git\", "
    "\"--repository\", \"/src\"]}",
    "{\"url\": \"https://linear.example/mcp\", \"headers\": "
    "{\"Authorization\": \"${secret:USER_TOKEN}:${secret:ORG_TOKEN}\"}}",
    "{\"command\": \"npx\", \"args\": [\"-y\", \"@acme/slack-mcp\"], "
    "\"env\": {\"SLACK_TOKEN\": \"${secret:TEAM_TOKEN}\", \"SLACK_TEAM\": "
    "\"T0001\"}, \"hosts\": [\"claude-code\", \"codex\"]}",
    "{\"url\": \"https://grafana.example/mcp\", \"headers\": "
    "{\"Authorization\": \"Bearer ${secret:USER_TOKEN}\"}, \"tools\": "
    "{\"allow\": [\"query\", \"list_dashboards\", \"get_dashboard\"]}}",
    "{\"command\": \"/opt/acme/bin/mcp-notes\", \"args\": [\"--user\", "
    "\"${USER}\"], \"disabled\": true}",
};

/* MCPFLEET_BENCH_PG, or NULL: SQLite. */
static const char *bench_pg;

/* Empties the PostgreSQL database: one fresh schema per scale. */
static void bench_pg_reset(void)
{
	PGconn *c = PQconnectdb(bench_pg);
	PGresult *res;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench_publish: %s", PQerrorMessage(c));
		exit(1);
	}
	res = PQexec(c, "SET client_min_messages = warning;"
	                "DROP SCHEMA public CASCADE;"
	                "CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
	                "GRANT USAGE ON SCHEMA public TO PUBLIC");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_publish: reset: %s",
		        PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
	PQfinish(c);
}

static void bench_setup(struct bench *b, size_t ndevices, size_t per_user)
{
	struct diag d;
	char name[64], value[96], serial[32], fp[CRYPTO_HEX_LEN + 1];
	uint8_t h[CRYPTO_HASH_LEN];
	size_t i, k;
	int r;

	memset(b->dir, 0, sizeof(b->dir));
	(void)snprintf(b->dir, sizeof(b->dir), "/tmp/bench_publish.XXXXXX");
	if (mkdtemp(b->dir) == NULL)
		bench_die("mkdtemp", -ERR_IO, NULL);
	(void)snprintf(b->path, sizeof(b->path), "%s/fleet.db", b->dir);
	if (bench_pg != NULL)
		bench_pg_reset();
	if ((r = store_open(bench_pg != NULL ? "postgres" : "sqlite",
	                    bench_pg != NULL ? bench_pg : b->path, &b->st,
	                    &d)) != 0)
		bench_die("store_open", r, &d);
	store_set_now(b->st, 1700000000);
	b->ndevices = ndevices;
	b->nusers = ndevices / per_user > 0 ? ndevices / per_user : 1;
	if ((b->users = calloc(b->nusers, sizeof(*b->users))) == NULL)
		bench_die("calloc", -ERR_NOMEM, NULL);
	if ((r = store_begin(b->st, &d)) != 0)
		bench_die("begin", r, &d);
	for (k = 0; k < BENCH_TEAMS; k++) {
		(void)snprintf(name, sizeof(name), "team-%02zu", k);
		if ((r = store_team_add(b->st, name, &b->teams[k], &d)) != 0)
			bench_die("team", r, &d);
		(void)snprintf(value, sizeof(value), "team-secret-%02zu", k);
		bench_secret(b, "TEAM_TOKEN", STORE_SCOPE_TEAM, b->teams[k],
		             value);
	}
	bench_secret(b, "ORG_TOKEN", STORE_SCOPE_ORG, 0, "org-secret-value");
	for (i = 0; i < b->nusers; i++) {
		(void)snprintf(name, sizeof(name), "user%06zu", i);
		if ((r = store_user_add(b->st, name, NULL, &b->users[i], &d)) !=
		        0 ||
		    (r = store_member_add(b->st, b->teams[i % BENCH_TEAMS],
		                          b->users[i], &d)) != 0 ||
		    (i % 3 == 0 && (r = store_member_add(
		                        b->st, b->teams[(i + 1) % BENCH_TEAMS],
		                        b->users[i], &d)) != 0))
			bench_die("user", r, &d);
		(void)snprintf(value, sizeof(value),
		               "ghp_user%06zu_0123456789abcdef0123456789", i);
		bench_secret(b, "USER_TOKEN", STORE_SCOPE_USER, b->users[i],
		             value);
	}
	for (k = 0; k < BENCH_SERVERS; k++) {
		(void)snprintf(name, sizeof(name), "server-%02zu", k);
		if ((r = store_server_add(b->st, name, bench_entries[k],
		                          &b->servers[k], &d)) != 0)
			bench_die("server", r, &d);
	}
	r = 0;
	/* Servers 0-3 for everyone (one with a deny list), 4-7 for two
	 * teams each (allow lists that overlap), 8-9 for every user, with
	 * a per-user deny list on every fifth. */
	for (k = 0; k < BENCH_SERVERS && r == 0; k++) {
		if (k < 4) {
			r = store_grant_add(
			    b->st, b->servers[k], STORE_TARGET_EVERYONE, 0,
			    &(struct store_grant_limits){
			        .tools_deny =
			            k == 1 ? "[\"write_file\"]" : NULL},
			    NULL, &d);
			continue;
		}
		if (k < 8) {
			r = store_grant_add(
			    b->st, b->servers[k], STORE_TARGET_TEAM,
			    b->teams[k % BENCH_TEAMS],
			    &(struct store_grant_limits){
			        .tools_allow = "[\"read\", \"search\"]"},
			    NULL, &d);
			if (r == 0)
				r = store_grant_add(
				    b->st, b->servers[k], STORE_TARGET_TEAM,
				    b->teams[(k + 3) % BENCH_TEAMS],
				    &(struct store_grant_limits){
				        .tools_allow = "[\"read\", \"write\"]",
				        .tools_deny = "[\"admin\"]"},
				    NULL, &d);
			continue;
		}
		for (i = 0; i < b->nusers && r == 0; i++)
			r = store_grant_add(
			    b->st, b->servers[k], STORE_TARGET_USER,
			    b->users[i],
			    &(struct store_grant_limits){
			        .tools_deny =
			            i % 5 == 0 ? "[\"query\"]" : NULL},
			    NULL, &d);
	}
	if (r != 0)
		bench_die("grant", r, &d);
	for (i = 0; i < ndevices; i++) {
		(void)snprintf(name, sizeof(name), "dev-%06zu", i);
		(void)snprintf(serial, sizeof(serial), "%06zx", i + 1);
		if (crypto_sha256(name, strlen(name), h) != 0 ||
		    crypto_hex(h, sizeof(h), fp, sizeof(fp)) != 0)
			bench_die("hash", -ERR_CRYPTO, NULL);
		if ((r = store_device_create(b->st, name,
		                             b->users[i % b->nusers], "laptop",
		                             "linux", serial, fp, 0, &d)) != 0)
			bench_die("device", r, &d);
	}
	if ((r = store_commit(b->st, &d)) != 0)
		bench_die("commit", r, &d);
}

static void bench_teardown(struct bench *b)
{
	char p[128];

	store_close(b->st);
	b->st = NULL;
	(void)snprintf(p, sizeof(p), "%s-wal", b->path);
	(void)remove(p);
	(void)snprintf(p, sizeof(p), "%s-shm", b->path);
	(void)remove(p);
	(void)remove(b->path);
	(void)remove(b->dir);
	free(b->users);
	b->users = NULL;
}

/* The payloads of a publication, copied out of its envelopes. */
static struct envelope_payload *bench_payloads(const struct publication *p)
{
	struct envelope_payload *v = calloc(p->n, sizeof(*v));
	size_t i;

	if (v == NULL)
		bench_die("calloc", -ERR_NOMEM, NULL);
	for (i = 0; i < p->n; i++) {
		Mcpfleet__V1__SignedEnvelope *e =
		    mcpfleet__v1__signed_envelope__unpack(
		        NULL, p->v[i]->envelope_len, p->v[i]->envelope);
		uint8_t *data;

		if (e == NULL || (data = malloc(e->payload.len + 1)) == NULL)
			bench_die("unpack", -ERR_PARSE, NULL);
		memcpy(data, e->payload.data, e->payload.len);
		v[i].kind = ENVELOPE_CATALOGUE;
		v[i].data = data;
		v[i].len = e->payload.len;
		mcpfleet__v1__signed_envelope__free_unpacked(e, NULL);
	}
	return v;
}

/* Signs [0, n) as one batch (one = false) or one batch each, and packs
 * every envelope. Returns wall ms. */
static double bench_sign(struct bench *b, const struct envelope_payload *pl,
                         size_t n, bool each, double *cpu)
{
	struct envelope_batch *batch = NULL;
	double c0 = bench_cpu_ms(), t0 = bench_now_ms(), t;
	uint8_t *env;
	size_t i, j, len;
	struct diag d;
	int r;

	for (i = 0; i < (each ? n : 1); i++) {
		if ((r = envelope_batch_sign(each ? &pl[i] : pl, each ? 1 : n,
		                             1, b->pki.signer, b->rng, &batch,
		                             &d)) != 0)
			bench_die("sign", r, &d);
		for (j = 0; j < (each ? 1 : n); j++) {
			if (envelope_batch_pack(batch, j, &env, &len) != 0)
				bench_die("pack", -ERR_NOMEM, NULL);
			free(env);
		}
		envelope_batch_free(batch);
	}
	t = bench_now_ms() - t0;
	*cpu = bench_cpu_ms() - c0;
	return t;
}

static void bench_scale(size_t ndevices, size_t per_user, int runs)
{
	struct bench b;
	struct publication *p = NULL;
	struct envelope_payload *pl;
	double *wall = calloc((size_t)runs, sizeof(double));
	double *cpu = calloc((size_t)runs, sizeof(double));
	double build, build_cpu, batch, batch_cpu, each, each_cpu, before,
	    before_cpu;
	size_t i, bytes = 0;
	int k, each_runs = runs < 3 ? runs : 3;
	struct diag d;
	int r;

	if (wall == NULL || cpu == NULL)
		bench_die("calloc", -ERR_NOMEM, NULL);
	memset(&b, 0, sizeof(b));
	if ((r = crypto_rng_new("bench_publish", &b.rng, &d)) != 0 ||
	    (r = crypto_key_generate(b.rng, &b.pki.signer, &d)) != 0 ||
	    (r = crypto_random(b.rng, b.pki.master, sizeof(b.pki.master))) != 0)
		bench_die("keys", r, &d);
	bench_setup(&b, ndevices, per_user);
	for (k = 0; k < runs; k++) {
		double c0 = bench_cpu_ms(), t0 = bench_now_ms();

		publication_free(p);
		p = NULL;
		if ((r = publish_build(b.st, &b.pki, b.rng, &p, &d)) != 0)
			bench_die("publish_build", r, &d);
		wall[k] = bench_now_ms() - t0;
		cpu[k] = bench_cpu_ms() - c0;
	}
	build = bench_median(wall, runs);
	build_cpu = bench_median(cpu, runs);
	if (p->n != ndevices)
		bench_die("publication size", -ERR_INTERNAL, NULL);
	for (i = 0; i < p->n; i++)
		bytes += p->v[i]->envelope_len;
	pl = bench_payloads(p);
	for (k = 0; k < runs; k++)
		wall[k] = bench_sign(&b, pl, p->n, false, &cpu[k]);
	batch = bench_median(wall, runs);
	batch_cpu = bench_median(cpu, runs);
	for (k = 0; k < each_runs; k++)
		wall[k] = bench_sign(&b, pl, p->n, true, &cpu[k]);
	each = bench_median(wall, each_runs);
	each_cpu = bench_median(cpu, each_runs);
	/* Before: the same build, with one signature per view in place of
	 * the one batch. CPU time is the steadier figure on a shared
	 * machine. */
	before = build - batch + each;
	before_cpu = build_cpu - batch_cpu + each_cpu;
	printf("%6zu devices %5zu users, %4zu B/envelope\n"
	       "  after:  publish_build          %9.1f ms wall %9.1f ms cpu\n"
	       "          its one-batch sign+pack %8.1f ms wall %9.1f ms cpu\n"
	       "          per-view sign+pack     %9.1f ms wall %9.1f ms cpu\n"
	       "  before: build, per-view signed %9.1f ms wall %9.1f ms cpu\n"
	       "  before/after                   %9.1fx   wall %9.1fx   cpu\n",
	       ndevices, b.nusers, bytes / (p->n ? p->n : 1), build, build_cpu,
	       batch, batch_cpu, each, each_cpu, before, before_cpu,
	       before / build, before_cpu / build_cpu);
	for (i = 0; i < p->n; i++)
		free((void *)(uintptr_t)pl[i].data);
	free(pl);
	publication_free(p);
	bench_teardown(&b);
	crypto_key_free(b.pki.signer);
	crypto_rng_free(b.rng);
	free(wall);
	free(cpu);
}

int main(int argc, char **argv)
{
	static const size_t scales[] = {100, 1000, 10000};
	long runs = 5, per_user = 2;
	char *end;
	size_t i;

	if (argc > 1) {
		runs = strtol(argv[1], &end, 10);
		if (*end != '\0' || runs < 1 || runs > 1000) {
			fprintf(stderr, "usage: bench_publish [RUNS] "
			                "[DEVICES_PER_USER]\n");
			return 2;
		}
	}
	if (argc > 2) {
		per_user = strtol(argv[2], &end, 10);
		if (*end != '\0' || per_user < 1 || per_user > 10000) {
			fprintf(stderr, "usage: bench_publish [RUNS] "
			                "[DEVICES_PER_USER]\n");
			return 2;
		}
	}
	bench_pg = getenv("MCPFLEET_BENCH_PG");
	if (bench_pg != NULL && *bench_pg == '\0')
		bench_pg = NULL;
	printf("bench_publish: %s store, %ld runs (per-view signing: at most "
	       "3), %ld device(s) per user, %d servers, %d teams; medians\n",
	       bench_pg != NULL ? "PostgreSQL" : "SQLite", runs, per_user,
	       BENCH_SERVERS, BENCH_TEAMS);
	for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++)
		bench_scale(scales[i], (size_t)per_user, (int)runs);
	return 0;
}
