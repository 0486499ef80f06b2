/* SPDX-License-Identifier: MIT */
/* Unit tests: server/view.c, a user's view of the catalogue. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalogue.h"
#include "crypto.h"
#include "store.h"
#include "view.h"

#define TV_NOW 1700000000

struct tv_fixture {
	char *dir;
	char *path;
	struct store *st;
	struct crypto_rng *rng;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
};

static int tv_setup(void **state)
{
	struct tv_fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->path = tu_path(f->dir, "fleet.db");
	diag_clear(&d);
	tu_ok(store_open("sqlite", f->path, &f->st, &d), &d);
	store_set_now(f->st, TV_NOW);
	tu_ok(crypto_rng_new("test_view", &f->rng, &d), &d);
	tu_ok(crypto_random(f->rng, f->master, sizeof(f->master)), &d);
	*state = f;
	return 0;
}

static int tv_teardown(void **state)
{
	struct tv_fixture *f = *state;

	store_close(f->st);
	crypto_rng_free(f->rng);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static int64_t tv_user(struct tv_fixture *f, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_user_add(f->st, name, NULL, &id, &d), &d);
	return id;
}

static int64_t tv_team(struct tv_fixture *f, const char *name)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_team_add(f->st, name, &id, &d), &d);
	return id;
}

static void tv_member(struct tv_fixture *f, int64_t team, int64_t user)
{
	struct diag d;

	tu_ok(store_member_add(f->st, team, user, &d), &d);
}

static int64_t tv_server(struct tv_fixture *f, const char *name,
                         const char *json)
{
	struct diag d;
	int64_t id = 0;

	tu_ok(store_server_add(f->st, name, json, &id, &d), &d);
	return id;
}

static void tv_grant(struct tv_fixture *f, int64_t server,
                     enum store_target kind, int64_t target, const char *allow,
                     const char *deny)
{
	struct diag d;

	tu_ok(store_grant_add(f->st, server, kind, target,
	                      &(struct store_grant_limits){.tools_allow = allow,
	                                                   .tools_deny = deny},
	                      NULL, &d),
	      &d);
}

/* Sets a secret as the daemon does: reserve the id, seal with its AAD,
 * put, in one transaction. Returns the record id. */
static int64_t tv_secret(struct tv_fixture *f, const char *name,
                         enum store_scope scope, int64_t scope_id,
                         const char *value)
{
	char aad[STORE_AAD_MAX];
	uint8_t *sealed = NULL;
	size_t aadlen, n;
	int64_t id = 0, v = 0;
	struct diag d;

	tu_ok(store_begin(f->st, &d), &d);
	tu_ok(store_secret_next(f->st, name, scope, scope_id, &id, &v, &d), &d);
	assert_int_equal(store_secret_aad(id, aad, &aadlen), 0);
	tu_ok(crypto_seal(f->rng, f->master, aad, aadlen, value, strlen(value),
	                  &sealed, &n, &d),
	      &d);
	tu_ok(store_secret_put(f->st, id, sealed, n, &d), &d);
	tu_ok(store_commit(f->st, &d), &d);
	free(sealed);
	return id;
}

static void tv_snapshot(struct tv_fixture *f, struct store_snapshot *snap)
{
	struct diag d;

	tu_ok(store_snapshot_load(f->st, snap, &d), &d);
}

/* Computes user's view from a fresh snapshot. */
static void tv_view(struct tv_fixture *f, int64_t user, struct view *v)
{
	struct store_snapshot snap;
	struct diag d;

	tv_snapshot(f, &snap);
	diag_clear(&d);
	tu_ok(view_compute(&snap, user, f->master, v, &d), &d);
	store_snapshot_free(&snap);
}

static const struct server *tv_find(const struct view *v, const char *name)
{
	return catalogue_find(&v->cat, name);
}

/* The reason a server was omitted, or NULL when it was not. */
static const char *tv_omitted(const struct view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nomitted; i++)
		if (strcmp(v->omitted[i].server, name) == 0)
			return v->omitted[i].reason;
	return NULL;
}

static void tv_has_id(const struct view *v, int64_t id)
{
	size_t i;

	for (i = 0; i < v->nsecret_ids; i++)
		if (v->secret_ids[i] == id)
			return;
	fail_msg("secret record %lld is not in the view", (long long)id);
}

static void tv_strv_eq(const struct strv *got, const char *const *want,
                       size_t n)
{
	size_t i;

	if (got->n != n)
		fail_msg("list of %zu items, want %zu", got->n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(got->v[i], want[i]);
}

/* True when any string of the view holds needle. */
static bool tv_view_holds(const struct view *v, const char *needle)
{
	size_t i, k;

	for (i = 0; i < v->cat.n; i++) {
		const struct server *s = &v->cat.servers[i];

		if ((s->command && strstr(s->command, needle)) ||
		    (s->url && strstr(s->url, needle)))
			return true;
		for (k = 0; k < s->args.n; k++)
			if (strstr(s->args.v[k], needle))
				return true;
		for (k = 0; k < s->env.n; k++)
			if (strstr(s->env.v[k].value, needle))
				return true;
		for (k = 0; k < s->headers.n; k++)
			if (strstr(s->headers.v[k].value, needle))
				return true;
	}
	for (i = 0; i < v->nomitted; i++)
		if (strstr(v->omitted[i].reason, needle))
			return true;
	return false;
}

/* Every server of a view goes through the agent's own checks (no secret
 * references allowed), as envelope_catalogue_model() will apply them. */
static void tv_agent_accepts(const struct view *v)
{
	const struct catalogue_opts opts = {.allow_secret_refs = false};
	size_t i;

	for (i = 0; i < v->cat.n; i++) {
		json_t *j = server_to_json(&v->cat.servers[i]);
		struct server s;
		struct diag d;

		assert_non_null(j);
		diag_clear(&d);
		if (server_from_json(v->cat.servers[i].name, j, &opts, &s,
		                     &d) != 0)
			fail_msg("agent refuses %s: %s", v->cat.servers[i].name,
			         d.msg);
		server_clear(&s);
		json_decref(j);
	}
}

#define TV_HTTP(url) "{\"url\": \"" url "\", \"type\": \"http\"}"

/* ---- Grants ---- */

static void test_view_grants_reach_members_only(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t dev = tv_team(f, "dev");
	int64_t all = tv_server(f, "all", TV_HTTP("https://all.example/mcp"));
	int64_t team = tv_server(f, "team", TV_HTTP("https://t.example/mcp"));
	int64_t mine = tv_server(f, "mine", TV_HTTP("https://m.example/mcp"));
	struct view va, vb;

	(void)tv_server(f, "nobody", TV_HTTP("https://n.example/mcp"));
	tv_member(f, dev, alice);
	tv_grant(f, all, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, team, STORE_TARGET_TEAM, dev, NULL, NULL);
	tv_grant(f, mine, STORE_TARGET_USER, bob, NULL, NULL);
	tv_view(f, alice, &va);
	tv_view(f, bob, &vb);

	assert_int_equal(va.cat.n, 2);
	assert_string_equal(va.cat.servers[0].name, "all");
	assert_string_equal(va.cat.servers[1].name, "team");
	assert_int_equal(va.cat.servers[0].origin, SERVER_FLEET);
	assert_int_equal(va.nomitted, 0);
	assert_int_equal(vb.cat.n, 2);
	assert_non_null(tv_find(&vb, "all"));
	assert_non_null(tv_find(&vb, "mine"));
	assert_null(tv_find(&vb, "team"));
	assert_null(tv_find(&va, "mine"));
	assert_null(tv_find(&va, "nobody"));
	assert_int_equal(va.nsecret_ids, 0);
	view_clear(&va);
	view_clear(&vb);
}

static void test_view_disabled_or_unknown_user_empty(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t all = tv_server(f, "all", TV_HTTP("https://all.example/mcp"));
	struct view v;
	struct diag d;

	tv_grant(f, all, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_view(f, alice, &v);
	assert_int_equal(v.cat.n, 1);
	view_clear(&v);

	tu_ok(store_user_set_disabled(f->st, alice, true, &d), &d);
	tv_view(f, alice, &v);
	assert_int_equal(v.cat.n, 0);
	assert_int_equal(v.nomitted, 0);
	assert_int_equal(v.nsecret_ids, 0);
	view_clear(&v);

	tv_view(f, 9999, &v);
	assert_int_equal(v.cat.n, 0);
	view_clear(&v);
	view_clear(NULL);
}

static void test_view_unparsable_entry_omitted(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t bad =
	    tv_server(f, "bad", "{\"command\": \"x\", \"url\": \"https://x\"}");
	int64_t good = tv_server(f, "good", "{\"command\": \"npx\"}");
	/* A reference where nothing fills it in: the agent would refuse
	 * the catalogue. */
	int64_t stray = tv_server(f, "stray",
	                          "{\"command\": \"x\", \"hosts\": "
	                          "[\"${secret:HOST}\"]}");
	struct view v;

	tv_grant(f, bad, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, good, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, stray, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "HOST", STORE_SCOPE_ORG, 0, "codex");
	tv_view(f, alice, &v);
	assert_int_equal(v.cat.n, 1);
	assert_non_null(tv_find(&v, "good"));
	assert_int_equal(v.nomitted, 2);
	assert_non_null(tv_omitted(&v, "bad"));
	assert_non_null(strstr(tv_omitted(&v, "bad"), "exactly one of"));
	assert_non_null(strstr(tv_omitted(&v, "stray"), "servers.stray.hosts"));
	assert_int_equal(v.nsecret_ids, 0);
	view_clear(&v);
}

/* ---- Tool filters ---- */

/* How a server is reached and its rate limits reach the view as written. */
static void test_view_keeps_via_and_rates(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t gh = tv_server(
	    f, "gh",
	    "{\"url\": \"https://gh.example/mcp\", \"via\": \"direct\", "
	    "\"rate\": \"60/min\", \"tool_rates\": {\"delete_*\": "
	    "\"5/hour\"}}");
	const struct server *s;
	struct view v;

	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	assert_int_equal(s->via, SERVER_VIA_DIRECT);
	assert_int_equal(s->rate.count, 60);
	assert_int_equal(s->rate.per_secs, 60);
	assert_int_equal(s->tool_rates.n, 1);
	assert_string_equal(s->tool_rates.v[0].tools, "delete_*");
	assert_int_equal(s->tool_rates.v[0].rate.per_secs, 3600);
	view_clear(&v);
}

/* Grant rates merge with the entry's as filters do: the stricter wins, for
 * the server and per tool glob; globs named by only one are kept. */
static void test_view_grant_rates_stricter_wins(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(
	    f, "gh",
	    "{\"url\": \"https://gh.example/mcp\", \"rate\": \"60/min\", "
	    "\"tool_rates\": {\"delete_*\": \"5/hour\", \"push\": "
	    "\"10/min\"}}");
	int64_t fs = tv_server(f, "fs", TV_HTTP("https://fs.example/mcp"));
	struct diag d;
	const struct server *s;
	struct view v;
	size_t i;

	tv_member(f, dev, alice);
	/* 100/min is laxer than the entry's 60/min; 30/min is stricter. */
	tu_ok(store_grant_add(f->st, gh, STORE_TARGET_EVERYONE, 0,
	                      &(struct store_grant_limits){.rate = "100/min"},
	                      NULL, &d),
	      &d);
	tu_ok(store_grant_add(f->st, gh, STORE_TARGET_TEAM, dev,
	                      &(struct store_grant_limits){
	                          .rate = "1/2s",
	                          .tool_rates =
	                              "{\"delete_*\": \"1/day\", \"push\": "
	                              "\"20/min\", \"admin_*\": \"2/hour\"}"},
	                      NULL, &d),
	      &d);
	tu_ok(store_grant_add(f->st, fs, STORE_TARGET_USER, alice,
	                      &(struct store_grant_limits){.rate = "3/min"},
	                      NULL, &d),
	      &d);
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	assert_int_equal(s->rate.count, 1); /* 30/min beats 60 and 100 */
	assert_int_equal(s->rate.per_secs, 2);
	assert_int_equal(s->tool_rates.n, 3);
	for (i = 0; i < s->tool_rates.n; i++) {
		const struct tool_rate *t = &s->tool_rates.v[i];

		if (strcmp(t->tools, "delete_*") == 0) {
			assert_int_equal(t->rate.count, 1);
			assert_int_equal(t->rate.per_secs, 86400);
		} else if (strcmp(t->tools, "push") == 0) {
			assert_int_equal(t->rate.count, 10);
			assert_int_equal(t->rate.per_secs, 60);
		} else {
			assert_string_equal(t->tools, "admin_*");
			assert_int_equal(t->rate.count, 2);
		}
	}
	assert_non_null(s = tv_find(&v, "fs"));
	assert_int_equal(s->rate.count, 3);
	assert_int_equal(s->tool_rates.n, 0);
	tv_agent_accepts(&v);
	view_clear(&v);
}

static void test_view_tools_deny_wins_across_grants(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(f, "gh", TV_HTTP("https://gh.example/mcp"));
	const char *const allow[] = {"read"};
	const char *const deny[] = {"write"};
	const struct server *s;
	struct view v;

	tv_member(f, dev, alice);
	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, "[\"read\", \"write\"]",
	         NULL);
	tv_grant(f, gh, STORE_TARGET_TEAM, dev, "[\"write\"]", "[\"write\"]");
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	tv_strv_eq(&s->tools_allow, allow, 1);
	tv_strv_eq(&s->tools_deny, deny, 1);
	view_clear(&v);
}

static void test_view_tools_union_of_allows(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(f, "gh", TV_HTTP("https://gh.example/mcp"));
	const char *const both[] = {"read", "search"};
	const char *const one[] = {"read"};
	const struct server *s;
	struct view v;

	tv_member(f, dev, alice);
	tv_grant(f, gh, STORE_TARGET_TEAM, dev, "[\"read\"]", NULL);
	tv_grant(f, gh, STORE_TARGET_USER, alice, "[\"search\", \"read\"]",
	         "[\"admin\"]");
	tv_grant(f, gh, STORE_TARGET_USER, bob, "[\"read\"]", NULL);
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	tv_strv_eq(&s->tools_allow, both, 2);
	assert_int_equal(s->tools_deny.n, 1);
	view_clear(&v);
	tv_view(f, bob, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	tv_strv_eq(&s->tools_allow, one, 1);
	assert_int_equal(s->tools_deny.n, 0);
	view_clear(&v);
}

static void test_view_tools_grant_without_allow_lifts_limit(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(f, "gh", TV_HTTP("https://gh.example/mcp"));
	const char *const deny[] = {"drop"};
	const struct server *s;
	struct view v;

	tv_member(f, dev, alice);
	tv_grant(f, gh, STORE_TARGET_TEAM, dev, "[\"read\"]", NULL);
	tv_grant(f, gh, STORE_TARGET_USER, alice, NULL, "[\"drop\"]");
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	assert_int_equal(s->tools_allow.n, 0);
	tv_strv_eq(&s->tools_deny, deny, 1);
	view_clear(&v);
}

static void test_view_tools_entry_allow_intersects(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t gh = tv_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"tools\": {\"allow\": [\"read\", \"list\", "
	                       "\"write\"], \"deny\": [\"write\"]}}");
	const char *const inter[] = {"read", "list"};
	const char *const one[] = {"read"};
	const char *const deny[] = {"write", "list"};
	const struct server *s;
	struct view v;

	tv_grant(f, gh, STORE_TARGET_USER, alice,
	         "[\"list\", \"read\", \"search\"]", NULL);
	tv_grant(f, gh, STORE_TARGET_USER, bob, NULL, "[\"list\"]");
	tv_view(f, alice, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	/* The entry's order, limited to what the grant allows. */
	tv_strv_eq(&s->tools_allow, inter, 2);
	view_clear(&v);
	tv_view(f, bob, &v);
	assert_non_null(s = tv_find(&v, "gh"));
	tv_strv_eq(&s->tools_allow, one, 1);
	tv_strv_eq(&s->tools_deny, deny, 2);
	view_clear(&v);
}

static void test_view_tools_nothing_left_allowed_omits(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(f, "gh", TV_HTTP("https://gh.example/mcp"));
	int64_t fs = tv_server(f, "fs",
	                       "{\"command\": \"fs\", \"tools\": {\"allow\": "
	                       "[\"read\"]}}");
	struct view v;

	tv_member(f, dev, alice);
	tv_grant(f, gh, STORE_TARGET_TEAM, dev, "[\"write\"]", NULL);
	tv_grant(f, gh, STORE_TARGET_USER, alice, "[\"write\"]", "[\"write\"]");
	tv_grant(f, gh, STORE_TARGET_USER, bob, "[]", "[\"write\"]");
	tv_grant(f, fs, STORE_TARGET_EVERYONE, 0, "[\"write\"]", NULL);
	tv_view(f, alice, &v);
	/* Every tool allowed is denied: without an allow list it would
	 * reach the agent as "no filter", so it is left out. */
	assert_null(tv_find(&v, "gh"));
	assert_non_null(tv_omitted(&v, "gh"));
	assert_non_null(strstr(tv_omitted(&v, "gh"), "no tool"));
	/* The entry allows read, the grant write: nothing in common. */
	assert_null(tv_find(&v, "fs"));
	assert_non_null(tv_omitted(&v, "fs"));
	view_clear(&v);
	/* "[]" is no allow list, as "allow": [] is in an entry. */
	tv_view(f, bob, &v);
	assert_non_null(tv_find(&v, "gh"));
	assert_int_equal(tv_find(&v, "gh")->tools_allow.n, 0);
	view_clear(&v);
}

static void test_view_bad_grant_list_omits(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t gh = tv_server(f, "gh", TV_HTTP("https://gh.example/mcp"));
	struct view v;

	tv_grant(f, gh, STORE_TARGET_USER, alice, NULL, "[\"a\\nb\"]");
	tv_view(f, alice, &v);
	assert_null(tv_find(&v, "gh"));
	assert_non_null(strstr(tv_omitted(&v, "gh"), "tools.deny"));
	view_clear(&v);
}

/* ---- Secrets ---- */

static void test_view_secret_precedence(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t carol = tv_user(f, "carol"), dave = tv_user(f, "dave");
	int64_t alpha = tv_team(f, "alpha"), beta = tv_team(f, "beta");
	int64_t gh = tv_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"Authorization\": "
	                       "\"Bearer ${secret:TOKEN}\"}}");
	int64_t org_id, alpha_id, beta_id, alice_id;
	struct view v;

	tv_member(f, beta, alice);
	tv_member(f, alpha, bob);
	tv_member(f, beta, bob);
	tv_member(f, beta, carol);
	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	org_id = tv_secret(f, "TOKEN", STORE_SCOPE_ORG, 0, "org-value");
	/* beta is created first, so the ids do not follow the names. */
	beta_id = tv_secret(f, "TOKEN", STORE_SCOPE_TEAM, beta, "beta-value");
	alpha_id =
	    tv_secret(f, "TOKEN", STORE_SCOPE_TEAM, alpha, "alpha-value");
	alice_id =
	    tv_secret(f, "TOKEN", STORE_SCOPE_USER, alice, "alice-value");

	/* User scope beats the team scope of a team alice is in. */
	tv_view(f, alice, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer alice-value");
	assert_int_equal(v.nsecret_ids, 1);
	tv_has_id(&v, alice_id);
	view_clear(&v);
	/* Two teams: the first by name. */
	tv_view(f, bob, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer alpha-value");
	tv_has_id(&v, alpha_id);
	view_clear(&v);
	tv_view(f, carol, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer beta-value");
	tv_has_id(&v, beta_id);
	view_clear(&v);
	/* No team, no user value: org. */
	tv_view(f, dave, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer org-value");
	tv_has_id(&v, org_id);
	view_clear(&v);
}

static void test_view_secret_embedded_and_repeated(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t fs = tv_server(
	    f, "fs",
	    "{\"command\": \"${secret:BIN}\", \"args\": [\"--key=${secret:A}"
	    ":${secret:B}/${secret:A}\", \"${HOME}/x\", \"plain\"], "
	    "\"env\": {\"TOKEN\": \"${secret:B}\", \"LOG\": "
	    "\"${LOG_LEVEL}\"}}");
	int64_t gh =
	    tv_server(f, "gh",
	              "{\"url\": \"https://gh.example/mcp?k="
	              "${secret:A}\", \"headers\": {\"Authorization\": "
	              "\"Bearer ${secret:B}\"}}");
	int64_t a, b, bin;
	const struct server *s;
	struct view v;

	tv_grant(f, fs, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	a = tv_secret(f, "A", STORE_SCOPE_ORG, 0, "alpha");
	b = tv_secret(f, "B", STORE_SCOPE_USER, alice, "b\tvalue");
	bin = tv_secret(f, "BIN", STORE_SCOPE_ORG, 0, "/usr/bin/fs");
	tv_view(f, alice, &v);
	assert_int_equal(v.nomitted, 0);
	assert_non_null(s = tv_find(&v, "fs"));
	assert_string_equal(s->command, "/usr/bin/fs");
	assert_string_equal(s->args.v[0], "--key=alpha:b\tvalue/alpha");
	/* ${VAR} is the agent's to resolve. */
	assert_string_equal(s->args.v[1], "${HOME}/x");
	assert_string_equal(s->args.v[2], "plain");
	assert_string_equal(kvlist_get(&s->env, "TOKEN"), "b\tvalue");
	assert_string_equal(kvlist_get(&s->env, "LOG"), "${LOG_LEVEL}");
	assert_non_null(s = tv_find(&v, "gh"));
	assert_string_equal(s->url, "https://gh.example/mcp?k=alpha");
	assert_string_equal(kvlist_get(&s->headers, "Authorization"),
	                    "Bearer b\tvalue");
	assert_int_equal(v.nsecret_ids, 3);
	assert_true(v.secret_ids[0] < v.secret_ids[1] &&
	            v.secret_ids[1] < v.secret_ids[2]);
	tv_has_id(&v, a);
	tv_has_id(&v, b);
	tv_has_id(&v, bin);
	tv_agent_accepts(&v);
	view_clear(&v);
}

static void test_view_secret_value_never_rescanned(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t lit = tv_server(f, "lit",
	                        "{\"command\": \"x\", \"env\": {\"V\": "
	                        "\"${secret:ODD}\"}}");
	int64_t ref = tv_server(f, "ref",
	                        "{\"command\": \"x\", \"env\": {\"V\": "
	                        "\"${secret:REF}\"}}");
	int64_t edge = tv_server(f, "edge",
	                         "{\"command\": \"x\", \"env\": {\"V\": "
	                         "\"$${secret:BRACE}\"}}");
	struct view v;

	tv_grant(f, lit, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, ref, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, edge, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "ODD", STORE_SCOPE_ORG, 0, "p$ss}{w0rd$");
	(void)tv_secret(f, "REF", STORE_SCOPE_ORG, 0, "${secret:OTHER}");
	(void)tv_secret(f, "OTHER", STORE_SCOPE_ORG, 0, "other-secret");
	(void)tv_secret(f, "BRACE", STORE_SCOPE_ORG, 0, "{HOME}");
	tv_view(f, alice, &v);
	/* '$', '{' and '}' in a value stay literal. */
	assert_string_equal(kvlist_get(&tv_find(&v, "lit")->env, "V"),
	                    "p$ss}{w0rd$");
	/* A value holding a reference is not expanded: OTHER never shows.
	 * The agent would refuse "${secret:...}" (and expand a "${VAR}"),
	 * so the server is left out, without quoting the value. */
	assert_null(tv_find(&v, "ref"));
	assert_non_null(strstr(tv_omitted(&v, "ref"), "secret REF (org)"));
	assert_false(tv_view_holds(&v, "other-secret"));
	assert_false(tv_view_holds(&v, "OTHER"));
	/* Nor can a value form a new placeholder with the text before it. */
	assert_null(tv_find(&v, "edge"));
	assert_non_null(strstr(tv_omitted(&v, "edge"), "placeholder"));
	assert_false(tv_view_holds(&v, "HOME"));
	tv_agent_accepts(&v);
	view_clear(&v);
}

static void test_view_secret_bad_for_field_omits(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t nl = tv_server(f, "nl",
	                       "{\"url\": \"https://h.example/mcp\", "
	                       "\"headers\": {\"X-Key\": \"${secret:NL}\"}}");
	int64_t cmd = tv_server(f, "cmd", "{\"command\": \"${secret:TAB}\"}");
	int64_t host = tv_server(f, "host",
	                         "{\"url\": \"https://${secret:H}/"
	                         "mcp\"}");
	int64_t sp = tv_server(f, "sp",
	                       "{\"url\": \"https://h.example/"
	                       "${secret:SP}\"}");
	struct view v;

	int64_t utf = tv_server(f, "utf",
	                        "{\"command\": \"x\", \"env\": {\"K\": "
	                        "\"${secret:BIN}\"}}");
	int64_t uni = tv_server(f, "uni",
	                        "{\"command\": \"x\", \"env\": {\"K\": "
	                        "\"${secret:UNI}\"}}");

	tv_grant(f, utf, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, uni, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "BIN", STORE_SCOPE_ORG, 0, "ab\xff\xfe");
	(void)tv_secret(f, "UNI", STORE_SCOPE_ORG, 0,
	                "p\xc3\xa4ss \xe2\x82\xac");
	tv_grant(f, nl, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, cmd, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, host, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, sp, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "NL", STORE_SCOPE_ORG, 0, "hunter2\n");
	(void)tv_secret(f, "TAB", STORE_SCOPE_ORG, 0, "np\tx");
	(void)tv_secret(f, "H", STORE_SCOPE_ORG, 0, "");
	(void)tv_secret(f, "SP", STORE_SCOPE_ORG, 0, "a b");
	tv_view(f, alice, &v);
	/* Non-ASCII text is fine; bytes that are not UTF-8 are not (JSON
	 * and protobuf strings on the agent's side). */
	assert_int_equal(v.cat.n, 1);
	assert_string_equal(kvlist_get(&tv_find(&v, "uni")->env, "K"),
	                    "p\xc3\xa4ss \xe2\x82\xac");
	assert_non_null(strstr(tv_omitted(&v, "utf"), "not valid UTF-8"));
	assert_int_equal(v.nomitted, 5);
	assert_non_null(strstr(tv_omitted(&v, "nl"), "control character"));
	assert_non_null(strstr(tv_omitted(&v, "nl"), "servers.nl.headers"));
	assert_non_null(strstr(tv_omitted(&v, "cmd"), "control character"));
	assert_non_null(strstr(tv_omitted(&v, "host"), "no host"));
	assert_non_null(strstr(tv_omitted(&v, "sp"), "URL"));
	assert_false(tv_view_holds(&v, "hunter2"));
	assert_int_equal(v.nsecret_ids, 1);
	tv_agent_accepts(&v);
	view_clear(&v);
}

static void test_view_missing_secret_omits_with_reason(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t gh = tv_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"A\": \"${secret:SET}\", "
	                       "\"B\": \"${secret:GITHUB_TOKEN}\"}}");
	int64_t ok = tv_server(f, "ok", TV_HTTP("https://ok.example/mcp"));
	struct view v;

	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, ok, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "SET", STORE_SCOPE_ORG, 0, "set-value");
	tv_view(f, alice, &v);
	assert_int_equal(v.cat.n, 1);
	assert_non_null(tv_find(&v, "ok"));
	assert_int_equal(v.nomitted, 1);
	assert_string_equal(v.omitted[0].server, "gh");
	assert_string_equal(v.omitted[0].reason,
	                    "secret GITHUB_TOKEN is not set for alice");
	/* What an omitted server would have used was not delivered. */
	assert_int_equal(v.nsecret_ids, 0);
	view_clear(&v);
}

static void test_view_user_secret_stays_with_its_user(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t gh = tv_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"Authorization\": "
	                       "\"Bearer ${secret:GH}\"}}");
	int64_t only = tv_server(f, "only",
	                         "{\"command\": \"x\", \"env\": "
	                         "{\"K\": \"${secret:BOBONLY}\"}}");
	struct view v;

	tv_grant(f, gh, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, only, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "GH", STORE_SCOPE_ORG, 0, "org-gh");
	(void)tv_secret(f, "GH", STORE_SCOPE_USER, bob, "bob-gh-token");
	(void)tv_secret(f, "BOBONLY", STORE_SCOPE_USER, bob, "bob-only");
	tv_view(f, alice, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer org-gh");
	assert_null(tv_find(&v, "only"));
	assert_string_equal(tv_omitted(&v, "only"),
	                    "secret BOBONLY is not set for alice");
	assert_false(tv_view_holds(&v, "bob-gh-token"));
	assert_false(tv_view_holds(&v, "bob-only"));
	view_clear(&v);
	tv_view(f, bob, &v);
	assert_string_equal(
	    kvlist_get(&tv_find(&v, "gh")->headers, "Authorization"),
	    "Bearer bob-gh-token");
	assert_string_equal(kvlist_get(&tv_find(&v, "only")->env, "K"),
	                    "bob-only");
	view_clear(&v);
}

static void test_view_tampered_secret_omits(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice");
	int64_t a = tv_server(f, "a",
	                      "{\"command\": \"x\", \"env\": "
	                      "{\"K\": \"${secret:FLIP}\"}}");
	int64_t b = tv_server(f, "b",
	                      "{\"command\": \"x\", \"env\": "
	                      "{\"K\": \"${secret:MOVED}\"}}");
	int64_t c = tv_server(f, "c",
	                      "{\"command\": \"x\", \"env\": "
	                      "{\"K\": \"${secret:GOOD}\"}}");
	struct store_snapshot snap;
	struct store_secret *flip = NULL, *moved = NULL, *good = NULL;
	uint8_t *keep;
	size_t i, keep_len;
	struct view v;
	struct diag d;

	tv_grant(f, a, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, b, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	tv_grant(f, c, STORE_TARGET_EVERYONE, 0, NULL, NULL);
	(void)tv_secret(f, "FLIP", STORE_SCOPE_ORG, 0, "flip-value");
	(void)tv_secret(f, "MOVED", STORE_SCOPE_ORG, 0, "moved-value");
	(void)tv_secret(f, "GOOD", STORE_SCOPE_ORG, 0, "good-value");
	tv_snapshot(f, &snap);
	for (i = 0; i < snap.secrets.n; i++) {
		if (strcmp(snap.secrets.v[i].name, "FLIP") == 0)
			flip = &snap.secrets.v[i];
		if (strcmp(snap.secrets.v[i].name, "MOVED") == 0)
			moved = &snap.secrets.v[i];
		if (strcmp(snap.secrets.v[i].name, "GOOD") == 0)
			good = &snap.secrets.v[i];
	}
	assert_non_null(flip);
	assert_non_null(moved);
	assert_non_null(good);
	/* One flipped bit in the ciphertext. */
	flip->sealed[CRYPTO_SEAL_IV_LEN + 2] ^= 0x04;
	/* A valid blob of another record: its AAD does not match. */
	keep = moved->sealed;
	keep_len = moved->sealed_len;
	moved->sealed = malloc(good->sealed_len);
	memcpy(moved->sealed, good->sealed, good->sealed_len);
	moved->sealed_len = good->sealed_len;
	diag_clear(&d);
	tu_ok(view_compute(&snap, alice, f->master, &v, &d), &d);
	assert_int_equal(v.cat.n, 1);
	assert_string_equal(kvlist_get(&tv_find(&v, "c")->env, "K"),
	                    "good-value");
	assert_non_null(strstr(tv_omitted(&v, "a"),
	                       "secret FLIP (org, version 1) does not open"));
	assert_non_null(strstr(tv_omitted(&v, "b"), "does not open"));
	assert_int_equal(v.nsecret_ids, 1);
	tv_has_id(&v, good->id);
	view_clear(&v);
	free(moved->sealed);
	moved->sealed = keep;
	moved->sealed_len = keep_len;
	store_snapshot_free(&snap);
}

static void test_view_ctx_matches_single_views(void **state)
{
	struct tv_fixture *f = *state;
	int64_t alice = tv_user(f, "alice"), bob = tv_user(f, "bob");
	int64_t dev = tv_team(f, "dev");
	int64_t gh = tv_server(f, "gh",
	                       "{\"url\": \"https://gh.example/mcp\", "
	                       "\"headers\": {\"Authorization\": "
	                       "\"Bearer ${secret:GH}\"}}");
	struct store_snapshot snap;
	struct view_ctx *ctx = NULL;
	struct view v1, v2;
	struct diag d;
	int round;

	tv_member(f, dev, alice);
	tv_grant(f, gh, STORE_TARGET_TEAM, dev, NULL, NULL);
	tv_grant(f, gh, STORE_TARGET_USER, bob, NULL, NULL);
	(void)tv_secret(f, "GH", STORE_SCOPE_TEAM, dev, "team-gh");
	(void)tv_secret(f, "GH", STORE_SCOPE_USER, bob, "bob-gh");
	tv_snapshot(f, &snap);
	tu_ok(view_ctx_new(&snap, f->master, &ctx, &d), &d);
	/* The opened-secret cache gives the same answer every time. */
	for (round = 0; round < 2; round++) {
		tu_ok(view_ctx_compute(ctx, alice, &v1, &d), &d);
		tu_ok(view_ctx_compute(ctx, bob, &v2, &d), &d);
		assert_string_equal(
		    kvlist_get(&tv_find(&v1, "gh")->headers, "Authorization"),
		    "Bearer team-gh");
		assert_string_equal(
		    kvlist_get(&tv_find(&v2, "gh")->headers, "Authorization"),
		    "Bearer bob-gh");
		view_clear(&v1);
		view_clear(&v2);
	}
	view_ctx_free(ctx);
	view_ctx_free(NULL);
	store_snapshot_free(&snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define TV(t) cmocka_unit_test_setup_teardown(t, tv_setup, tv_teardown)
	    TV(test_view_grants_reach_members_only),
	    TV(test_view_disabled_or_unknown_user_empty),
	    TV(test_view_unparsable_entry_omitted),
	    TV(test_view_tools_deny_wins_across_grants),
	    TV(test_view_tools_union_of_allows),
	    TV(test_view_tools_grant_without_allow_lifts_limit),
	    TV(test_view_tools_entry_allow_intersects),
	    TV(test_view_tools_nothing_left_allowed_omits),
	    TV(test_view_bad_grant_list_omits),
	    TV(test_view_secret_precedence),
	    TV(test_view_secret_embedded_and_repeated),
	    TV(test_view_secret_value_never_rescanned),
	    TV(test_view_secret_bad_for_field_omits),
	    TV(test_view_missing_secret_omits_with_reason),
	    TV(test_view_user_secret_stays_with_its_user),
	    TV(test_view_tampered_secret_omits),
	    TV(test_view_ctx_matches_single_views),
	    TV(test_view_keeps_via_and_rates),
	    TV(test_view_grant_rates_stricter_wins),
#undef TV
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
