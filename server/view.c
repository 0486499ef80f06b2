/* SPDX-License-Identifier: MIT */
/* A user's view of the catalogue: grants, merged tool filters and resolved
 * secrets. */
#include "view.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "devsecret.h"

#define VIEW_REF     "${secret:"
#define VIEW_REF_LEN (sizeof(VIEW_REF) - 1)
/* The parser accepts placeholder names up to this long; longer ones never
 * reach us, and no stored secret name is longer than STORE_NAME_MAX. */
#define VIEW_REF_NAME_MAX (SERVER_NAME_MAX * 4)

/* A snapshot server, parsed once for every user. */
struct view_server {
	const struct store_server *row;
	struct server s; /* valid when reason is NULL */
	char *reason;    /* why nobody gets it: the entry does not parse */
	bool has_refs;   /* some string holds a ${secret:...} */
};

/* A grant with its tool lists parsed once. */
struct view_grant {
	const struct store_grant *row;
	size_t server;  /* index into ctx->servers; SIZE_MAX when unknown */
	bool has_allow; /* a non-empty allow list */
	struct strv allow;
	struct strv deny;
	struct rate rate;                 /* count 0: none */
	struct tool_rate_list tool_rates; /* per tool glob */
	char *reason; /* a tool list or rate that cannot be used, or NULL */
};

/* A secret of the snapshot and, once needed, its opened value. */
struct view_secret {
	const struct store_secret *row;
	uint8_t *pt; /* NUL-terminated, wiped on free */
	size_t len;
	int state; /* 0: not tried yet, 1: opened, -1: does not open */
};

/* An id and the index of its row. */
struct view_id {
	int64_t id;
	size_t i;
};

struct view_ctx {
	const struct store_snapshot *snap;
	uint8_t master[CRYPTO_SEAL_KEY_LEN];
	struct view_server *servers; /* by name */
	size_t nservers;
	struct view_id *server_ids; /* by id, i into servers */
	struct view_grant *grants;  /* by kind, target, server, id */
	size_t ngrants;
	struct view_id *user_ids;        /* by id, i into snap->users */
	const struct store_team **teams; /* by name */
	struct view_id *team_ids;        /* by id, i into teams */
	struct store_member *members;    /* by user, then team */
	struct view_secret *secrets;     /* by name, scope, scope id */
	size_t nteams, nmembers, nsecrets;
	bool sealing; /* keep ${secret:NAME}s: values go sealed beside */
};

/* The user a view is being computed for. */
struct view_user {
	const struct store_user *u;
	size_t *teams; /* indexes into ctx->teams, ascending: by team name */
	size_t nteams;
};

/* A growable list of secret record ids. */
struct view_ids {
	int64_t *v;
	size_t n, cap;
};

/* ---- Small helpers ---- */

/* Returns a new formatted string in *out, or -ERR_NOMEM. */
static int view_strf(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int view_strf(char **out, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* A reason cut at 511 bytes still says what it is about. */
	if (n < 0)
		tmp[0] = '\0';
	if ((*out = strdup(tmp)) == NULL)
		return -ERR_NOMEM;
	return 0;
}

static int view_id_cmp(const void *a, const void *b)
{
	const struct view_id *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int view_i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int view_size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* The index stored for id, or SIZE_MAX. */
static size_t view_id_find(const struct view_id *v, size_t n, int64_t id)
{
	struct view_id key = {.id = id};
	const struct view_id *hit;

	if (n == 0)
		return SIZE_MAX;
	hit = bsearch(&key, v, n, sizeof(*v), view_id_cmp);
	return hit != NULL ? hit->i : SIZE_MAX;
}

static int view_ids_push(struct view_ids *l, int64_t id)
{
	int64_t *nv;
	size_t ncap;

	if (l->n == l->cap) {
		ncap = l->cap ? l->cap * 2 : 8;
		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			return -ERR_NOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = id;
	return 0;
}

static int view_strv_copy(const struct strv *from, struct strv *to)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		if (strv_push(to, from->v[i]) != 0)
			return -ERR_NOMEM;
	return 0;
}

static int view_kvlist_copy(const struct kvlist *from, struct kvlist *to)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		if (kvlist_push(to, from->v[i].key, from->v[i].value) != 0)
			return -ERR_NOMEM;
	return 0;
}

/*
 * Copies a parsed server (how it is reached and its rate limits too), tool
 * lists left out (the caller merges them).
 * server_copy() goes through JSON; this runs once per user and server, so
 * it copies the fields directly. Returns 0 or -ERR_NOMEM (out cleared).
 */
static int view_server_copy(const struct server *s, struct server *out)
{
	struct server c = {0};
	size_t i;

	c.transport = s->transport;
	c.origin = SERVER_FLEET;
	c.has_hosts = s->has_hosts;
	c.disabled = s->disabled;
	c.via = s->via;
	c.rate = s->rate;
	for (i = 0; i < s->tool_rates.n; i++)
		if (tool_rate_list_put(&c.tool_rates, s->tool_rates.v[i].tools,
		                       &s->tool_rates.v[i].rate) != 0) {
			server_clear(&c);
			return -ERR_NOMEM;
		}
	if ((c.name = strdup(s->name)) == NULL ||
	    (s->command != NULL && (c.command = strdup(s->command)) == NULL) ||
	    (s->url != NULL && (c.url = strdup(s->url)) == NULL) ||
	    view_strv_copy(&s->args, &c.args) != 0 ||
	    view_kvlist_copy(&s->env, &c.env) != 0 ||
	    view_kvlist_copy(&s->headers, &c.headers) != 0 ||
	    view_strv_copy(&s->hosts, &c.hosts) != 0) {
		server_clear(&c);
		return -ERR_NOMEM;
	}
	*out = c;
	return 0;
}

/* ---- The context: parse and index the snapshot once ---- */

static bool view_has_ref(const char *s)
{
	return s != NULL && strstr(s, VIEW_REF) != NULL;
}

static bool view_server_has_refs(const struct server *s)
{
	size_t i;

	if (view_has_ref(s->command) || view_has_ref(s->url))
		return true;
	for (i = 0; i < s->args.n; i++)
		if (view_has_ref(s->args.v[i]))
			return true;
	for (i = 0; i < s->env.n; i++)
		if (view_has_ref(s->env.v[i].value))
			return true;
	for (i = 0; i < s->headers.n; i++)
		if (view_has_ref(s->headers.v[i].value))
			return true;
	return false;
}

static bool view_strv_has_ref(const struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (view_has_ref(v->v[i]))
			return true;
	return false;
}

/* The list (hosts, tools) holding a reference that nothing fills in, or
 * NULL. */
static const char *view_server_stray_ref(const struct server *s)
{
	if (view_strv_has_ref(&s->hosts))
		return "hosts";
	if (view_strv_has_ref(&s->tools_allow))
		return "tools.allow";
	if (view_strv_has_ref(&s->tools_deny))
		return "tools.deny";
	return NULL;
}

static int view_server_cmp(const void *a, const void *b)
{
	return strcmp(((const struct view_server *)a)->row->name,
	              ((const struct view_server *)b)->row->name);
}

/* Parses every server of the snapshot; one that does not parse keeps the
 * parser's reason and is omitted from every view that grants it. */
static int view_ctx_servers(struct view_ctx *ctx)
{
	const struct store_server_list *l = &ctx->snap->servers;
	const struct catalogue_opts opts = {.allow_secret_refs = true};
	size_t i;

	if (l->n == 0)
		return 0;
	if ((ctx->servers = calloc(l->n, sizeof(*ctx->servers))) == NULL ||
	    (ctx->server_ids = calloc(l->n, sizeof(*ctx->server_ids))) == NULL)
		return -ERR_NOMEM;
	ctx->nservers = l->n;
	for (i = 0; i < l->n; i++)
		ctx->servers[i].row = &l->v[i];
	qsort(ctx->servers, l->n, sizeof(*ctx->servers), view_server_cmp);
	for (i = 0; i < l->n; i++) {
		struct view_server *vs = &ctx->servers[i];
		const char *stray;
		json_error_t je;
		struct diag pd;
		json_t *j;
		int r;

		ctx->server_ids[i].id = vs->row->id;
		ctx->server_ids[i].i = i;
		j = json_loads(vs->row->entry_json, JSON_REJECT_DUPLICATES,
		               &je);
		if (j == NULL) {
			if (view_strf(&vs->reason,
			              "servers.%s: the stored entry is not "
			              "JSON: %d:%d: %s",
			              vs->row->name, je.line, je.column,
			              je.text) != 0)
				return -ERR_NOMEM;
			continue;
		}
		diag_clear(&pd);
		r = server_from_json(vs->row->name, j, &opts, &vs->s, &pd);
		json_decref(j);
		if (r == -ERR_NOMEM)
			return r;
		if (r != 0) {
			if (view_strf(&vs->reason, "%s", pd.msg) != 0)
				return -ERR_NOMEM;
			continue;
		}
		vs->s.origin = SERVER_FLEET;
		vs->has_refs = view_server_has_refs(&vs->s);
		/* The agent refuses a reference left anywhere, and with it
		 * the whole catalogue. */
		if ((stray = view_server_stray_ref(&vs->s)) != NULL &&
		    view_strf(&vs->reason,
		              "servers.%s.%s: ${secret:...} is only filled in "
		              "command, args, env, url and headers",
		              vs->row->name, stray) != 0)
			return -ERR_NOMEM;
	}
	qsort(ctx->server_ids, l->n, sizeof(*ctx->server_ids), view_id_cmp);
	return 0;
}

/*
 * Parses one of a grant's tool lists (JSON text or NULL). The merged lists
 * reach the agent, which checks them as it checks an entry's, so a name it
 * would refuse makes the grant unusable. Returns 0, -ERR_INVALID with
 * *why set to a static phrase, or -ERR_NOMEM.
 */
static int view_tool_list(const char *text, struct strv *out, const char **why)
{
	json_t *j, *v;
	size_t i;
	int r = 0;

	if (text == NULL)
		return 0;
	if ((j = json_loads(text, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_array(j)) {
		*why = "is not a JSON array of strings";
		r = -ERR_INVALID;
		goto out;
	}
	if (json_array_size(j) > CATALOGUE_MAX_LIST) {
		*why = "has too many tools";
		r = -ERR_INVALID;
		goto out;
	}
	json_array_foreach(j, i, v)
	{
		const char *s = json_string_value(v);
		const char *p;

		if (s == NULL) {
			*why = "is not a JSON array of strings";
			r = -ERR_INVALID;
			goto out;
		}
		for (p = s; *p != '\0'; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') ||
			    *p == 0x7f)
				break;
		if (*p != '\0' || strstr(s, "${") != NULL ||
		    strlen(s) > CATALOGUE_MAX_STRING) {
			*why = "names a tool with a control character, '${' "
			       "or too many bytes";
			r = -ERR_INVALID;
			goto out;
		}
		if (!strv_has(out, s) && strv_push(out, s) != 0) {
			r = -ERR_NOMEM;
			goto out;
		}
	}
out:
	json_decref(j);
	return r;
}

/*
 * Parses a grant's rate and tool rates (text the store checked and made
 * canonical, or NULL). Returns 0, -ERR_INVALID with *which and *why set,
 * or -ERR_NOMEM.
 */
static int view_grant_rates(const struct store_grant *row, struct rate *rate,
                            struct tool_rate_list *tr, const char **which,
                            const char **why)
{
	json_t *j;
	int r;

	*which = "rate";
	*why = "is not a rate such as 60/min";
	if (row->rate != NULL && rate_parse("rate", row->rate, rate, NULL) != 0)
		return -ERR_INVALID;
	if (row->tool_rates == NULL)
		return 0;
	*which = "tool_rates";
	*why = "is not an object of tool globs to rates";
	if ((j = json_loads(row->tool_rates, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL)
		return -ERR_INVALID;
	r = tool_rates_from_json("tool_rates", j, tr, NULL);
	json_decref(j);
	return r;
}

static int view_grant_cmp(const void *a, const void *b)
{
	const struct view_grant *x = a, *y = b;

	if (x->row->kind != y->row->kind)
		return x->row->kind < y->row->kind ? -1 : 1;
	if (x->row->target_id != y->row->target_id)
		return x->row->target_id < y->row->target_id ? -1 : 1;
	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	return (x->row->id > y->row->id) - (x->row->id < y->row->id);
}

static int view_ctx_grants(struct view_ctx *ctx)
{
	const struct store_grant_list *l = &ctx->snap->grants;
	size_t i;
	int r;

	if (l->n == 0)
		return 0;
	if ((ctx->grants = calloc(l->n, sizeof(*ctx->grants))) == NULL)
		return -ERR_NOMEM;
	ctx->ngrants = l->n;
	for (i = 0; i < l->n; i++) {
		struct view_grant *g = &ctx->grants[i];
		const char *why = NULL, *which = "allow";

		g->row = &l->v[i];
		g->server = view_id_find(ctx->server_ids, ctx->nservers,
		                         g->row->server_id);
		r = view_tool_list(g->row->tools_allow, &g->allow, &why);
		if (r == 0) {
			which = "deny";
			r = view_tool_list(g->row->tools_deny, &g->deny, &why);
		}
		if (r == -ERR_NOMEM)
			return r;
		if (r != 0 &&
		    view_strf(&g->reason,
		              "grant %lld of servers.%s to %s %s: its tools.%s "
		              "list %s",
		              (long long)g->row->id, g->row->server_name,
		              store_target_name(g->row->kind),
		              g->row->target_name, which, why) != 0)
			return -ERR_NOMEM;
		if (r == 0 &&
		    (r = view_grant_rates(g->row, &g->rate, &g->tool_rates,
		                          &which, &why)) == -ERR_NOMEM)
			return r;
		if (r != 0 && g->reason == NULL &&
		    view_strf(&g->reason,
		              "grant %lld of servers.%s to %s %s: its %s %s",
		              (long long)g->row->id, g->row->server_name,
		              store_target_name(g->row->kind),
		              g->row->target_name, which, why) != 0)
			return -ERR_NOMEM;
		g->has_allow = g->allow.n > 0;
	}
	qsort(ctx->grants, l->n, sizeof(*ctx->grants), view_grant_cmp);
	return 0;
}

static int view_team_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct store_team *const *)a)->name,
	              (*(const struct store_team *const *)b)->name);
}

static int view_member_cmp(const void *a, const void *b)
{
	const struct store_member *x = a, *y = b;

	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	return (x->team_id > y->team_id) - (x->team_id < y->team_id);
}

static int view_ctx_people(struct view_ctx *ctx)
{
	const struct store_snapshot *s = ctx->snap;
	size_t i;

	if (s->users.n > 0) {
		ctx->user_ids = calloc(s->users.n, sizeof(*ctx->user_ids));
		if (ctx->user_ids == NULL)
			return -ERR_NOMEM;
		for (i = 0; i < s->users.n; i++) {
			ctx->user_ids[i].id = s->users.v[i].id;
			ctx->user_ids[i].i = i;
		}
		qsort(ctx->user_ids, s->users.n, sizeof(*ctx->user_ids),
		      view_id_cmp);
	}
	if (s->teams.n > 0) {
		ctx->teams = calloc(s->teams.n, sizeof(*ctx->teams));
		ctx->team_ids = calloc(s->teams.n, sizeof(*ctx->team_ids));
		if (ctx->teams == NULL || ctx->team_ids == NULL)
			return -ERR_NOMEM;
		ctx->nteams = s->teams.n;
		for (i = 0; i < s->teams.n; i++)
			ctx->teams[i] = &s->teams.v[i];
		qsort(ctx->teams, s->teams.n, sizeof(*ctx->teams),
		      view_team_cmp);
		for (i = 0; i < s->teams.n; i++) {
			ctx->team_ids[i].id = ctx->teams[i]->id;
			ctx->team_ids[i].i = i;
		}
		qsort(ctx->team_ids, s->teams.n, sizeof(*ctx->team_ids),
		      view_id_cmp);
	}
	if (s->members.n > 0) {
		ctx->members = malloc(s->members.n * sizeof(*ctx->members));
		if (ctx->members == NULL)
			return -ERR_NOMEM;
		memcpy(ctx->members, s->members.v,
		       s->members.n * sizeof(*ctx->members));
		ctx->nmembers = s->members.n;
		qsort(ctx->members, s->members.n, sizeof(*ctx->members),
		      view_member_cmp);
	}
	return 0;
}

/* Orders secrets by name, scope, scope id: the lookup key. */
static int view_secret_key_cmp(const char *name, enum store_scope scope,
                               int64_t scope_id, const struct store_secret *s)
{
	int c = strcmp(name, s->name);

	if (c != 0)
		return c;
	if (scope != s->scope)
		return scope < s->scope ? -1 : 1;
	return (scope_id > s->scope_id) - (scope_id < s->scope_id);
}

static int view_secret_cmp(const void *a, const void *b)
{
	const struct store_secret *y = ((const struct view_secret *)b)->row;
	const struct store_secret *x = ((const struct view_secret *)a)->row;

	return view_secret_key_cmp(x->name, x->scope, x->scope_id, y);
}

static int view_ctx_secrets(struct view_ctx *ctx)
{
	const struct store_secret_list *l = &ctx->snap->secrets;
	size_t i;

	if (l->n == 0)
		return 0;
	if ((ctx->secrets = calloc(l->n, sizeof(*ctx->secrets))) == NULL)
		return -ERR_NOMEM;
	ctx->nsecrets = l->n;
	for (i = 0; i < l->n; i++)
		ctx->secrets[i].row = &l->v[i];
	qsort(ctx->secrets, l->n, sizeof(*ctx->secrets), view_secret_cmp);
	return 0;
}

int view_ctx_new(const struct store_snapshot *snap,
                 const uint8_t master[CRYPTO_SEAL_KEY_LEN],
                 struct view_ctx **out, struct diag *d)
{
	struct view_ctx *ctx;
	int r;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0,
		                "view: out of memory indexing the snapshot");
	ctx->snap = snap;
	memcpy(ctx->master, master, CRYPTO_SEAL_KEY_LEN);
	if ((r = view_ctx_servers(ctx)) != 0 ||
	    (r = view_ctx_grants(ctx)) != 0 ||
	    (r = view_ctx_people(ctx)) != 0 ||
	    (r = view_ctx_secrets(ctx)) != 0) {
		view_ctx_free(ctx);
		return diag_set(d, ERR_NOMEM, 0, 0,
		                "view: out of memory indexing the snapshot");
	}
	*out = ctx;
	return 0;
}

void view_ctx_set_sealing(struct view_ctx *ctx, bool on)
{
	ctx->sealing = on;
}

int view_ctx_secret(const struct view_ctx *ctx, int64_t secret_id,
                    const char **name, int64_t *version, const uint8_t **value,
                    size_t *len)
{
	size_t i;

	for (i = 0; i < ctx->nsecrets; i++) {
		const struct view_secret *s = &ctx->secrets[i];

		if (s->row->id != secret_id)
			continue;
		if (s->pt == NULL)
			return -ERR_NOENT; /* no view used it */
		*name = s->row->name;
		*version = s->row->version;
		*value = s->pt;
		*len = s->len;
		return 0;
	}
	return -ERR_NOENT;
}

void view_ctx_free(struct view_ctx *ctx)
{
	size_t i;

	if (ctx == NULL)
		return;
	for (i = 0; i < ctx->nservers; i++) {
		server_clear(&ctx->servers[i].s);
		free(ctx->servers[i].reason);
	}
	for (i = 0; i < ctx->ngrants; i++) {
		strv_clear(&ctx->grants[i].allow);
		strv_clear(&ctx->grants[i].deny);
		tool_rate_list_clear(&ctx->grants[i].tool_rates);
		free(ctx->grants[i].reason);
	}
	for (i = 0; i < ctx->nsecrets; i++)
		crypto_secret_free(ctx->secrets[i].pt, ctx->secrets[i].len);
	free(ctx->servers);
	free(ctx->server_ids);
	free(ctx->grants);
	free(ctx->user_ids);
	free(ctx->teams);
	free(ctx->team_ids);
	free(ctx->members);
	free(ctx->secrets);
	crypto_wipe(ctx->master, sizeof(ctx->master));
	free(ctx);
}

/* ---- Secrets ---- */

/* The scope of a secret, for reasons: "user alice", "team dev", "org". */
static void view_scope_text(const struct store_secret *s, char *out,
                            size_t size)
{
	if (s->scope == STORE_SCOPE_ORG)
		(void)snprintf(out, size, "org");
	else
		(void)snprintf(out, size, "%s %s", store_scope_name(s->scope),
		               s->scope_name);
}

static struct view_secret *view_secret_lookup(struct view_ctx *ctx,
                                              const char *name,
                                              enum store_scope scope,
                                              int64_t scope_id)
{
	size_t lo = 0, hi = ctx->nsecrets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = view_secret_key_cmp(name, scope, scope_id,
		                            ctx->secrets[mid].row);

		if (c == 0)
			return &ctx->secrets[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * The secret NAME resolves to for vu: user scope, then the user's teams by
 * name, then org; opened on first use. Returns 0 with *out, or -ERR_NOENT
 * / -ERR_VERIFY with *reason set (a new string), or -ERR_NOMEM.
 */
static int view_secret_resolve(struct view_ctx *ctx, const struct view_user *vu,
                               const char *name, struct view_secret **out,
                               char **reason)
{
	struct view_secret *s;
	char aad[STORE_AAD_MAX], scope[STORE_NAME_MAX + 8];
	size_t i, aadlen;
	int r;

	s = view_secret_lookup(ctx, name, STORE_SCOPE_USER, vu->u->id);
	for (i = 0; s == NULL && i < vu->nteams; i++)
		s = view_secret_lookup(ctx, name, STORE_SCOPE_TEAM,
		                       ctx->teams[vu->teams[i]]->id);
	if (s == NULL)
		s = view_secret_lookup(ctx, name, STORE_SCOPE_ORG, 0);
	if (s == NULL)
		return view_strf(reason, "secret %s is not set for %s", name,
		                 vu->u->name) != 0
		           ? -ERR_NOMEM
		           : -ERR_NOENT;
	if (s->state == 0) {
		/* The most specific value decides: one that does not open
		 * must not fall back to a broader one silently. */
		s->state = -1;
		if (store_secret_aad(s->row->id, aad, &aadlen) == 0 &&
		    s->row->sealed != NULL) {
			r = crypto_open(ctx->master, aad, aadlen,
			                s->row->sealed, s->row->sealed_len,
			                &s->pt, &s->len, NULL);
			if (r == -ERR_NOMEM) {
				s->state = 0; /* not an answer: try again */
				return r;
			}
			if (r == 0)
				s->state = 1;
		}
	}
	if (s->state < 0) {
		view_scope_text(s->row, scope, sizeof(scope));
		return view_strf(reason,
		                 "secret %s (%s, version %lld) does not open "
		                 "with the master key",
		                 name, scope, (long long)s->row->version) != 0
		           ? -ERR_NOMEM
		           : -ERR_VERIFY;
	}
	*out = s;
	return 0;
}

/* How a field's text is checked once secrets are filled in; the agent
 * checks it the same way (catalogue.c) and refuses the whole catalogue
 * otherwise. */
enum view_field {
	VIEW_FIELD_TEXT,    /* args, env and header values: tab allowed */
	VIEW_FIELD_COMMAND, /* no tab */
	VIEW_FIELD_URL,     /* no tab, no URL-breaking characters */
};

/* Whether v is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), as JSON and protobuf strings must
 * be: the agent goes through both. */
static bool view_utf8_ok(const uint8_t *v, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (v[i] < 0x80) {
			i++;
			continue;
		}
		if ((v[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = v[i] & 0x1f;
			min = 0x80;
		} else if ((v[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = v[i] & 0x0f;
			min = 0x800;
		} else if ((v[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = v[i] & 0x07;
			min = 0x10000;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((v[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (v[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Whether a secret's value may go into a field of this kind. */
static const char *view_value_problem(const uint8_t *v, size_t len,
                                      enum view_field kind)
{
	size_t i;

	if (!view_utf8_ok(v, len))
		return "is not valid UTF-8";
	for (i = 0; i < len; i++) {
		if ((v[i] < 0x20 &&
		     !(v[i] == '\t' && kind == VIEW_FIELD_TEXT)) ||
		    v[i] == 0x7f)
			return "holds a control character";
		if (kind == VIEW_FIELD_URL &&
		    memchr(" \"<>\\`", v[i], 6) != NULL)
			return "holds a character a URL cannot carry";
		if (v[i] == '$' && i + 1 < len && v[i + 1] == '{')
			return "holds '${', which the agent would read as a "
			       "placeholder";
	}
	return NULL;
}

static size_t view_count_opens(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i + 1 < len; i++)
		if (s[i] == '$' && s[i + 1] == '{')
			n++;
	return n;
}

/*
 * Replaces every ${secret:NAME} of *sp for vu, in one pass over the
 * original text: what a secret's value holds is never scanned again. On
 * success *sp is the new string (the old one freed) and the record ids
 * used are appended to ids. Returns 0, -ERR_NOENT / -ERR_VERIFY /
 * -ERR_INVALID with *reason set, or -ERR_NOMEM; *sp is unchanged then.
 */
static int view_subst(struct view_ctx *ctx, const struct view_user *vu,
                      const char *field, enum view_field kind, char **sp,
                      struct view_ids *ids, char **reason)
{
	const char *in = *sp, *p, *q, *end;
	struct view_secret *sec;
	char name[VIEW_REF_NAME_MAX + 1], scope[STORE_NAME_MAX + 8];
	const char *problem;
	size_t total = 0, o = 0, nrefs = 0, nlen;
	char *res = NULL;
	int pass, r;

	if (in == NULL || strstr(in, VIEW_REF) == NULL)
		return 0;
	/* Pass 0 resolves and measures, pass 1 copies: no buffer that held
	 * a secret is ever reallocated behind our back. */
	for (pass = 0; pass < 2; pass++) {
		for (p = in; (q = strstr(p, VIEW_REF)) != NULL; p = end + 1) {
			end = strchr(q + VIEW_REF_LEN, '}');
			/* The parser let no malformed reference through;
			 * should one appear, it stays literal text. */
			nlen = end ? (size_t)(end - q) - VIEW_REF_LEN : 0;
			if (end == NULL || nlen == 0 ||
			    nlen > VIEW_REF_NAME_MAX)
				break;
			memcpy(name, q + VIEW_REF_LEN, nlen);
			name[nlen] = '\0';
			if ((r = view_secret_resolve(ctx, vu, name, &sec,
			                             reason)) != 0)
				goto fail;
			if (pass == 1) {
				memcpy(res + o, p, (size_t)(q - p));
				o += (size_t)(q - p);
				memcpy(res + o, sec->pt, sec->len);
				o += sec->len;
				if ((r = view_ids_push(ids, sec->row->id)) != 0)
					goto fail;
				continue;
			}
			nrefs++;
			if ((problem = view_value_problem(sec->pt, sec->len,
			                                  kind)) != NULL) {
				view_scope_text(sec->row, scope, sizeof(scope));
				r = view_strf(reason,
				              "secret %s (%s) %s: %s cannot "
				              "carry it",
				              name, scope, problem, field) != 0
				        ? -ERR_NOMEM
				        : -ERR_INVALID;
				goto fail;
			}
			total += (size_t)(q - p) + sec->len;
			if (total > CATALOGUE_MAX_STRING)
				break;
		}
		if (pass == 1) {
			memcpy(res + o, p, strlen(p) + 1);
			break;
		}
		total += strlen(p);
		if (total > CATALOGUE_MAX_STRING) {
			r = view_strf(
			        reason,
			        "%s: longer than %d bytes once its secrets "
			        "are filled in",
			        field, CATALOGUE_MAX_STRING) != 0
			        ? -ERR_NOMEM
			        : -ERR_INVALID;
			goto fail;
		}
		if ((res = malloc(total + 1)) == NULL) {
			r = -ERR_NOMEM;
			goto fail;
		}
	}
	/* A value next to a literal '$' or '{' can still form a new
	 * placeholder: every "${" left must be one the entry itself had. */
	if (view_count_opens(res, total) + nrefs !=
	    view_count_opens(in, strlen(in))) {
		r = view_strf(reason,
		              "%s: a secret next to '$' or '{' would form a "
		              "new placeholder",
		              field) != 0
		        ? -ERR_NOMEM
		        : -ERR_INVALID;
		goto fail;
	}
	/* The scheme is literal text (the parser checked it); the host may
	 * come from a secret, and must not end up empty. */
	if (kind == VIEW_FIELD_URL) {
		p = strstr(res, "://");
		if (p == NULL || p[3] == '\0' || p[3] == '/') {
			r = view_strf(reason,
			              "%s: no host once its secrets are filled "
			              "in",
			              field) != 0
			        ? -ERR_NOMEM
			        : -ERR_INVALID;
			goto fail;
		}
	}
	if (ctx->sealing) {
		/* Checked as filled in, delivered as written: the values go
		 * sealed for each device (view_ctx_secret()). */
		crypto_secret_free(res, total + 1);
		return 0;
	}
	free(*sp);
	*sp = res;
	return 0;
fail:
	if (res != NULL)
		crypto_secret_free(res, total + 1);
	return r;
}

/* Resolves every secret reference of a copied server. */
static int view_server_resolve(struct view_ctx *ctx, const struct view_user *vu,
                               struct server *s, struct view_ids *ids,
                               char **reason)
{
	char field[SERVER_NAME_MAX + STORE_NAME_MAX + 32];
	size_t i;
	int r;

	(void)snprintf(field, sizeof(field), "servers.%s.command", s->name);
	if ((r = view_subst(ctx, vu, field, VIEW_FIELD_COMMAND, &s->command,
	                    ids, reason)) != 0)
		return r;
	(void)snprintf(field, sizeof(field), "servers.%s.url", s->name);
	if ((r = view_subst(ctx, vu, field, VIEW_FIELD_URL, &s->url, ids,
	                    reason)) != 0)
		return r;
	for (i = 0; i < s->args.n; i++) {
		(void)snprintf(field, sizeof(field), "servers.%s.args[%zu]",
		               s->name, i);
		if ((r = view_subst(ctx, vu, field, VIEW_FIELD_TEXT,
		                    &s->args.v[i], ids, reason)) != 0)
			return r;
	}
	for (i = 0; i < s->env.n; i++) {
		(void)snprintf(field, sizeof(field), "servers.%s.env.%s",
		               s->name, s->env.v[i].key);
		if ((r = view_subst(ctx, vu, field, VIEW_FIELD_TEXT,
		                    &s->env.v[i].value, ids, reason)) != 0)
			return r;
	}
	for (i = 0; i < s->headers.n; i++) {
		(void)snprintf(field, sizeof(field), "servers.%s.headers.%s",
		               s->name, s->headers.v[i].key);
		if ((r = view_subst(ctx, vu, field, VIEW_FIELD_TEXT,
		                    &s->headers.v[i].value, ids, reason)) != 0)
			return r;
	}
	return 0;
}

/* ---- Tool filters ---- */

/* Appends the items of from not yet in to. */
static int view_strv_union(struct strv *to, const struct strv *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		if (!strv_has(to, from->v[i]) && strv_push(to, from->v[i]) != 0)
			return -ERR_NOMEM;
	return 0;
}

/*
 * Merges the tool lists of a server reached through grants g[0..ng): see
 * view.h. Fills s->tools_allow and s->tools_deny. Returns 0, -ERR_INVALID
 * with *reason when nothing would be left allowed or a list grows too
 * long, or -ERR_NOMEM.
 */
static int view_tools(const struct server *entry,
                      const struct view_grant *const *g, size_t ng,
                      struct server *s, char **reason)
{
	struct strv uni = {0}, allow = {0}, deny = {0};
	bool grants_limit = true, limited;
	size_t i;
	int r = -ERR_NOMEM;

	if (view_strv_union(&deny, &entry->tools_deny) != 0)
		goto out;
	for (i = 0; i < ng; i++) {
		if (view_strv_union(&deny, &g[i]->deny) != 0)
			goto out;
		if (!g[i]->has_allow)
			grants_limit = false;
		else if (view_strv_union(&uni, &g[i]->allow) != 0)
			goto out;
	}
	limited = grants_limit || entry->tools_allow.n > 0;
	if (entry->tools_allow.n > 0) {
		for (i = 0; i < entry->tools_allow.n; i++) {
			const char *t = entry->tools_allow.v[i];

			if ((!grants_limit || strv_has(&uni, t)) &&
			    !strv_has(&deny, t) && strv_push(&allow, t) != 0)
				goto out;
		}
	} else if (grants_limit) {
		for (i = 0; i < uni.n; i++)
			if (!strv_has(&deny, uni.v[i]) &&
			    strv_push(&allow, uni.v[i]) != 0)
				goto out;
	}
	if (limited && allow.n == 0) {
		r = view_strf(reason,
		              "servers.%s: no tool is left allowed once its "
		              "grants' and its own allow and deny lists are "
		              "merged",
		              entry->name) != 0
		        ? -ERR_NOMEM
		        : -ERR_INVALID;
		goto out;
	}
	if (allow.n > CATALOGUE_MAX_LIST || deny.n > CATALOGUE_MAX_LIST) {
		r = view_strf(
		        reason,
		        "servers.%s: its merged tool lists hold more than "
		        "%d tools",
		        entry->name, CATALOGUE_MAX_LIST) != 0
		        ? -ERR_NOMEM
		        : -ERR_INVALID;
		goto out;
	}
	s->tools_allow = allow;
	s->tools_deny = deny;
	memset(&allow, 0, sizeof(allow));
	memset(&deny, 0, sizeof(deny));
	r = 0;
out:
	strv_clear(&uni);
	strv_clear(&allow);
	strv_clear(&deny);
	return r;
}

/*
 * Merges the rate limits of the grants g[0..ng) into s, which holds the
 * entry's own: as with tool filters, the stricter limit wins
 * (rate_stricter()), for the server's rate and for each tool glob; globs
 * only some of them name are all kept. Returns 0 or -ERR_NOMEM.
 */
static int view_rates(const struct view_grant *const *g, size_t ng,
                      struct server *s)
{
	size_t i, k, j;

	for (i = 0; i < ng; i++) {
		const struct tool_rate_list *from = &g[i]->tool_rates;

		s->rate = rate_stricter(s->rate, g[i]->rate);
		for (k = 0; k < from->n; k++) {
			struct rate rt = from->v[k].rate;

			for (j = 0; j < s->tool_rates.n; j++)
				if (strcmp(s->tool_rates.v[j].tools,
				           from->v[k].tools) == 0)
					rt = rate_stricter(
					    s->tool_rates.v[j].rate, rt);
			if (tool_rate_list_put(&s->tool_rates, from->v[k].tools,
			                       &rt) != 0)
				return -ERR_NOMEM;
		}
	}
	return 0;
}

/* ---- One user's view ---- */

/* Finds the grants of one target: [*lo, *hi) of ctx->grants. */
static void view_grant_range(const struct view_ctx *ctx, enum store_target kind,
                             int64_t target, size_t *lo, size_t *hi)
{
	size_t a = 0, b = ctx->ngrants, m;

	while (a < b) {
		const struct store_grant *g;

		m = a + (b - a) / 2;
		g = ctx->grants[m].row;
		if (g->kind < kind ||
		    (g->kind == kind && g->target_id < target))
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	for (b = a; b < ctx->ngrants && ctx->grants[b].row->kind == kind &&
	            ctx->grants[b].row->target_id == target;
	     b++)
		;
	*hi = b;
}

/* Appends the grants of one target to sel. */
static void view_grants_of(const struct view_ctx *ctx, enum store_target kind,
                           int64_t target, const struct view_grant **sel,
                           size_t *n)
{
	size_t lo, hi, i;

	view_grant_range(ctx, kind, target, &lo, &hi);
	for (i = lo; i < hi; i++)
		sel[(*n)++] = &ctx->grants[i];
}

static int view_sel_cmp(const void *a, const void *b)
{
	const struct view_grant *x = *(const struct view_grant *const *)a;
	const struct view_grant *y = *(const struct view_grant *const *)b;

	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	return (x->row->id > y->row->id) - (x->row->id < y->row->id);
}

/* The user's teams, as indexes into ctx->teams (ascending: by name). */
static int view_user_teams(const struct view_ctx *ctx, struct view_user *vu)
{
	size_t lo = 0, hi = ctx->nmembers, m, i;

	while (lo < hi) {
		m = lo + (hi - lo) / 2;
		if (ctx->members[m].user_id < vu->u->id)
			lo = m + 1;
		else
			hi = m;
	}
	for (hi = lo;
	     hi < ctx->nmembers && ctx->members[hi].user_id == vu->u->id; hi++)
		;
	if (hi == lo)
		return 0;
	if ((vu->teams = calloc(hi - lo, sizeof(*vu->teams))) == NULL)
		return -ERR_NOMEM;
	for (i = lo; i < hi; i++) {
		size_t t = view_id_find(ctx->team_ids, ctx->nteams,
		                        ctx->members[i].team_id);

		if (t != SIZE_MAX)
			vu->teams[vu->nteams++] = t;
	}
	qsort(vu->teams, vu->nteams, sizeof(*vu->teams), view_size_cmp);
	/* One membership per (user, team) is the store's rule; a repeat
	 * would select the team's grants twice. */
	for (i = m = 0; i < vu->nteams; i++)
		if (m == 0 || vu->teams[m - 1] != vu->teams[i])
			vu->teams[m++] = vu->teams[i];
	vu->nteams = m;
	return 0;
}

static int view_omit(struct view *v, const char *server, char *reason)
{
	struct view_omitted *no;

	no = realloc(v->omitted, (v->nomitted + 1) * sizeof(*no));
	if (no == NULL) {
		free(reason);
		return -ERR_NOMEM;
	}
	v->omitted = no;
	no[v->nomitted].reason = reason;
	if ((no[v->nomitted].server = strdup(server)) == NULL) {
		free(reason);
		return -ERR_NOMEM;
	}
	v->nomitted++;
	return 0;
}

/*
 * Builds the view entry of one server reached through g[0..ng). Returns 0
 * (the server is in the view, or omitted with its reason), or -ERR_NOMEM.
 */
static int view_add_server(struct view_ctx *ctx, const struct view_user *vu,
                           const struct view_grant *const *g, size_t ng,
                           struct view *v, struct view_ids *ids)
{
	const struct view_server *vs = &ctx->servers[g[0]->server];
	struct server s = {0};
	struct view_ids mine = {0};
	char *reason = NULL;
	size_t i;
	int r;

	if (vs->reason != NULL) {
		if ((reason = strdup(vs->reason)) == NULL)
			return -ERR_NOMEM;
		return view_omit(v, vs->row->name, reason);
	}
	for (i = 0; i < ng; i++)
		if (g[i]->reason != NULL) {
			if ((reason = strdup(g[i]->reason)) == NULL)
				return -ERR_NOMEM;
			return view_omit(v, vs->row->name, reason);
		}
	if ((r = view_server_copy(&vs->s, &s)) != 0)
		goto out;
	if ((r = view_tools(&vs->s, g, ng, &s, &reason)) == 0 &&
	    (r = view_rates(g, ng, &s)) == 0 && vs->has_refs)
		r = view_server_resolve(ctx, vu, &s, &mine, &reason);
	if (r == -ERR_NOMEM)
		goto out;
	if (r != 0) {
		r = view_omit(v, vs->row->name, reason);
		reason = NULL;
		goto out;
	}
	if (v->cat.n >= CATALOGUE_MAX_SERVERS) {
		if ((r = view_strf(&reason,
		                   "servers.%s: the view already holds %d "
		                   "servers",
		                   vs->row->name, CATALOGUE_MAX_SERVERS)) == 0)
			r = view_omit(v, vs->row->name, reason);
		reason = NULL;
		goto out;
	}
	for (i = 0; i < mine.n; i++)
		if ((r = view_ids_push(ids, mine.v[i])) != 0)
			goto out;
	/* Groups come in name order; the array was sized for all of them. */
	v->cat.servers[v->cat.n++] = s;
	memset(&s, 0, sizeof(s));
	r = 0;
out:
	server_wipe(&s);
	free(mine.v);
	free(reason);
	return r;
}

static int view_ids_finish(struct view *v, struct view_ids *ids)
{
	size_t i, o = 0;

	if (ids->n == 0)
		return 0;
	qsort(ids->v, ids->n, sizeof(*ids->v), view_i64_cmp);
	for (i = 0; i < ids->n; i++)
		if (o == 0 || ids->v[o - 1] != ids->v[i])
			ids->v[o++] = ids->v[i];
	v->secret_ids = ids->v;
	v->nsecret_ids = o;
	memset(ids, 0, sizeof(*ids));
	return 0;
}

int view_ctx_compute(struct view_ctx *ctx, int64_t user_id, struct view *out,
                     struct diag *d)
{
	const struct view_grant **sel = NULL;
	struct view_user vu = {0};
	struct view_ids ids = {0};
	struct view v;
	size_t ui, nsel = 0, i, j, ngroups = 0;
	int r = 0;

	memset(&v, 0, sizeof(v));
	ui = view_id_find(ctx->user_ids, ctx->snap->users.n, user_id);
	if (ui == SIZE_MAX || ctx->snap->users.v[ui].disabled)
		goto done;
	vu.u = &ctx->snap->users.v[ui];
	if ((r = view_user_teams(ctx, &vu)) != 0)
		goto out;
	if (ctx->ngrants > 0 &&
	    (sel = calloc(ctx->ngrants, sizeof(*sel))) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	view_grants_of(ctx, STORE_TARGET_EVERYONE, 0, sel, &nsel);
	for (i = 0; i < vu.nteams; i++)
		view_grants_of(ctx, STORE_TARGET_TEAM,
		               ctx->teams[vu.teams[i]]->id, sel, &nsel);
	view_grants_of(ctx, STORE_TARGET_USER, user_id, sel, &nsel);
	/* A grant of a server missing from the snapshot cannot happen (the
	 * store removes grants with their server); drop it anyway. */
	for (i = j = 0; i < nsel; i++)
		if (sel[i]->server != SIZE_MAX)
			sel[j++] = sel[i];
	nsel = j;
	if (nsel == 0)
		goto done;
	qsort(sel, nsel, sizeof(*sel), view_sel_cmp);
	for (i = 0; i < nsel; i++)
		if (i == 0 || sel[i]->server != sel[i - 1]->server)
			ngroups++;
	if ((v.cat.servers = calloc(ngroups, sizeof(*v.cat.servers))) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nsel; i = j) {
		for (j = i + 1; j < nsel && sel[j]->server == sel[i]->server;
		     j++)
			;
		if ((r = view_add_server(ctx, &vu, sel + i, j - i, &v, &ids)) !=
		    0)
			goto out;
	}
	if ((r = view_ids_finish(&v, &ids)) != 0)
		goto out;
done:
	*out = v;
	memset(&v, 0, sizeof(v));
out:
	if (r != 0)
		r = diag_set(d, ERR_NOMEM, 0, 0,
		             "view of user %lld: out of memory",
		             (long long)user_id);
	view_clear(&v);
	free(ids.v);
	free(sel);
	free(vu.teams);
	return r;
}

int view_compute(const struct store_snapshot *snap, int64_t user_id,
                 const uint8_t master[CRYPTO_SEAL_KEY_LEN], struct view *out,
                 struct diag *d)
{
	struct view_ctx *ctx = NULL;
	int r;

	if ((r = view_ctx_new(snap, master, &ctx, d)) != 0)
		return r;
	r = view_ctx_compute(ctx, user_id, out, d);
	view_ctx_free(ctx);
	return r;
}

void view_clear(struct view *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->cat.n; i++)
		server_wipe(&v->cat.servers[i]);
	free(v->cat.servers);
	free(v->secret_ids);
	for (i = 0; i < v->nomitted; i++) {
		free(v->omitted[i].server);
		free(v->omitted[i].reason);
	}
	free(v->omitted);
	memset(v, 0, sizeof(*v));
}
