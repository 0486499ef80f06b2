/* SPDX-License-Identifier: MIT */
/* mcpfleet sync: merge the catalogues, plan every host, write, report. */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hostfile.h"
#include "state.h"
#include "syncfast.h"
#include "syncreport.h"

/* How old the newest stamped file must be for a no-op to be recorded. */
#define SYNC_SETTLE_NS (20 * 1000000LL)

/* The merged view: fleet entries first claim their names. */
struct sync_merged {
	const struct server **v;
	size_t n;
	struct strv warnings;
};

static int sync_merge(const struct catalogue *personal,
                      const struct catalogue *fleet, struct sync_merged *m)
{
	size_t i, cap = personal->n + (fleet ? fleet->n : 0);
	char msg[512];
	int r;

	memset(m, 0, sizeof(*m));
	if (cap > 0 && (m->v = calloc(cap, sizeof(*m->v))) == NULL)
		return -ERR_NOMEM;
	for (i = 0; fleet != NULL && i < fleet->n; i++)
		m->v[m->n++] = &fleet->servers[i];
	for (i = 0; i < personal->n; i++) {
		const struct server *s = &personal->servers[i];

		if (fleet != NULL && catalogue_find(fleet, s->name) != NULL) {
			(void)snprintf(msg, sizeof(msg),
			               "personal server '%s' is shadowed by "
			               "the fleet's server of the same name",
			               s->name);
			if ((r = strv_push(&m->warnings, msg)) != 0)
				return r;
			continue;
		}
		m->v[m->n++] = s;
	}
	return 0;
}

int sync_self_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size > 0 ? size - 1 : 0);

	if (n <= 0 || (size_t)n >= size - 1 || buf[0] != '/')
		return -ERR_IO;
	buf[n] = '\0';
	return 0;
}

/* True when home is env's default $MCPFLEET_HOME, ~/.mcpfleet. */
static bool sync_home_is_default(const char *home, const struct host_env *env)
{
	const char *h = host_env_get(env, "HOME");
	size_t n = h ? strlen(h) : 0;

	while (n > 1 && h[n - 1] == '/')
		n--;
	return h != NULL && strncmp(home, h, n) == 0 &&
	       strcmp(home + n, "/.mcpfleet") == 0;
}

int sync_launcher_entry(const struct server *s, const char *launcher,
                        const char *home, const struct host_env *env,
                        struct server *out)
{
	struct server e = {0};
	int r = -ERR_NOMEM;
	size_t i;

	e.transport = SERVER_STDIO;
	e.origin = s->origin;
	e.via = s->via;
	e.disabled = s->disabled;
	e.has_hosts = s->has_hosts;
	if ((e.name = strdup(s->name)) == NULL ||
	    (e.command = strdup(launcher)) == NULL ||
	    strv_push(&e.args, "exec") != 0)
		goto out;
	if (!sync_home_is_default(home, env) &&
	    (strv_push(&e.args, "--home") != 0 ||
	     strv_push(&e.args, home) != 0))
		goto out;
	if (strv_push(&e.args, s->name) != 0)
		goto out;
	for (i = 0; i < s->hosts.n; i++)
		if (strv_push(&e.hosts, s->hosts.v[i]) != 0)
			goto out;
	*out = e;
	memset(&e, 0, sizeof(e));
	r = 0;
out:
	server_clear(&e);
	return r;
}

/* Serialises syncs of one $MCPFLEET_HOME (a manual sync and the agent). */
static int sync_lock(const char *home)
{
	char *path = fileio_join(home, ".lock");
	int fd;

	if (path == NULL)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

/* The union of what a file's state is before and after a write. */
static int sync_state_union(const struct host_state *prev,
                            const struct host_state *after,
                            struct host_state *hs)
{
	struct strset had = {0};
	size_t k;
	int r;

	if ((hs->path = strdup(after->path)) == NULL)
		return -ERR_NOMEM;
	for (k = 0; prev != NULL && k < prev->managed.n; k++)
		if ((r = strv_push(&hs->managed, prev->managed.v[k])) != 0)
			return r;
	if (prev != NULL &&
	    (r = strset_init(&had, prev->managed.v, prev->managed.n)) != 0)
		return r;
	for (k = 0; k < after->managed.n; k++) {
		const char *name = after->managed.v[k];
		/* The names added so far: the few that are new. */
		const struct strv added = {hs->managed.v + had.n,
		                           hs->managed.n - had.n};

		if (strset_has(&had, name) || strv_has(&added, name))
			continue;
		if ((r = strv_push(&hs->managed, name)) != 0) {
			strset_clear(&had);
			return r;
		}
	}
	strset_clear(&had);
	hs->created_container = after->created_container ||
	                        (prev != NULL && prev->created_container);
	hs->created_file =
	    after->created_file || (prev != NULL && prev->created_file);
	return 0;
}

/* True when the union hs records nothing that prev does not (hs holds
 * prev's names, so the same count is the same names). */
static bool sync_state_covers(const struct host_state *prev,
                              const struct host_state *hs)
{
	if (prev == NULL)
		return false;
	if (prev->managed.n != hs->managed.n ||
	    prev->created_container != hs->created_container ||
	    prev->created_file != hs->created_file ||
	    (hs->filters != NULL &&
	     !sync_state_covers(prev->filters, hs->filters)))
		return false;
	return true;
}

/*
 * Holds the renames of the writes that need the write-ahead state (their
 * names are not all in state.json yet) until it is saved: their new texts
 * are written and synced meanwhile, while other hosts are still planned.
 */
struct sync_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int verdict; /* 0: rename; else the writes are abandoned with it */
};

static int sync_gate_pass(void *ctx)
{
	struct sync_gate *g = ctx;
	int r;

	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	r = g->verdict;
	pthread_mutex_unlock(&g->mu);
	return r;
}

static void sync_gate_open(struct sync_gate *g, int verdict)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	g->verdict = verdict;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* The write of one host, on a thread of its own. */
struct sync_job {
	pthread_t tid;
	bool changes; /* the plan changes its file (set once planned) */
	bool started, threaded;
	bool deferred; /* gated, and no thread: run once the gate opens */
	const struct sync_opts *o;
	const struct server *servers;
	size_t n;
	const struct hostfile_input *inputs; /* of servers */
	struct host_state prev;   /* the host's state before: for a re-plan */
	struct host_state intent; /* what a crash may leave, when it grows */
	bool grows;               /* intent records names prev does not */
	const struct fileio_gate *gate; /* when grows */
	struct host_plan *p;
	int r;
};

/*
 * The union of the names p manages now (prev) and after its write, its
 * rules' too: the state a crash in the middle of writing p may leave.
 */
static int sync_plan_union(const struct host_state *prev,
                           const struct host_plan *p, struct host_state *hs)
{
	int r;

	memset(hs, 0, sizeof(*hs));
	if ((r = sync_state_union(prev, &p->after, hs)) != 0 ||
	    (p->after.filters != NULL &&
	     ((hs->filters = calloc(1, sizeof(*hs->filters))) == NULL ||
	      (r = sync_state_union(prev ? prev->filters : NULL,
	                            p->after.filters, hs->filters)) != 0))) {
		host_state_clear(hs);
		return r != 0 ? r : -ERR_NOMEM;
	}
	return 0;
}

/*
 * Records in st the intents of the writes that grow it (computed by the
 * planners, so that the writes running meanwhile are not read). Sets *grew
 * when there was any: state.json must then be saved before they rename.
 */
static int sync_state_intent(struct agent_state *st, struct sync_job *jobs,
                             bool *grew)
{
	size_t i;
	int r;

	*grew = false;
	for (i = 0; i < adapter_count; i++) {
		struct host_state hs;

		if (!jobs[i].grows)
			continue;
		*grew = true;
		if ((r = host_state_copy(&jobs[i].intent, &hs)) != 0 ||
		    (r = state_put(st, jobs[i].p->adapter->id, &hs)) != 0) {
			host_state_clear(&hs);
			return r;
		}
	}
	return 0;
}

/*
 * Applies one plan. When another program changed the file since it was
 * read, plans that host again from the file as it is now (against prev,
 * its recorded state), once.
 */
static int sync_apply(struct sync_job *job)
{
	struct host_plan again, *p = job->p;
	const struct adapter *a = p->adapter;
	int r;

	if (p->status != HOST_OK || !hostfile_changed(p))
		return 0;
	if (hostfile_apply_gated(p, job->gate) != -ERR_CONFLICT)
		return 0;
	if ((r = hostfile_plan_inputs(
	         a, job->o->env, job->servers, job->n, job->inputs,
	         job->prev.path != NULL ? &job->prev : NULL, &again)) != 0)
		return r;
	host_plan_clear(p);
	*p = again;
	(void)hostfile_apply_gated(p, job->gate);
	return 0;
}

/*
 * The last sync was cut short while writing: remove the temporary files it
 * may have left next to the host files (we hold the lock, so they are
 * stale). The write-ahead state already covers every name it may have
 * written.
 */
static void sync_recover(const struct sync_opts *o)
{
	size_t i;

	for (i = 0; i < adapter_count; i++) {
		struct host_location loc = {0};
		struct diag d;
		char *bak;

		if (adapter_registry[i]->locate(o->env, &loc, &d) != 0)
			continue;
		(void)fileio_clean_temps(loc.path);
		if ((bak = hostfile_backup_path(loc.path)) != NULL) {
			(void)fileio_clean_temps(bak);
			free(bak);
		}
		host_location_clear(&loc);
	}
}

static void *sync_apply_thread(void *arg)
{
	struct sync_job *job = arg;

	job->r = sync_apply(job);
	return NULL;
}

/*
 * Starts the write of job's plan on a thread. Without a thread, an
 * ungated write runs on this one, a gated one once the gate opens (a
 * planner waiting on it would hold up the very save that opens it).
 */
static void sync_job_start(struct sync_job *job)
{
	job->started = true;
	job->threaded =
	    pthread_create(&job->tid, NULL, sync_apply_thread, job) == 0;
	if (job->threaded)
		return;
	if (job->gate != NULL)
		job->deferred = true;
	else
		sync_apply_thread(job);
}

/* Runs the deferred writes (the gate is open), then waits for every
 * started one. Returns the first failure, or 0. */
static int sync_jobs_join(struct sync_job *jobs)
{
	size_t i;
	int r = 0;

	for (i = 0; i < adapter_count; i++)
		if (jobs[i].deferred) {
			jobs[i].deferred = false;
			sync_apply_thread(&jobs[i]);
		}
	for (i = 0; i < adapter_count; i++) {
		if (jobs[i].threaded)
			pthread_join(jobs[i].tid, NULL);
		jobs[i].threaded = false;
		if (jobs[i].r != 0 && r == 0)
			r = jobs[i].r;
	}
	return r;
}

static void sync_job_clear(struct sync_job *job)
{
	host_state_clear(&job->prev);
	host_state_clear(&job->intent);
}

/* Hosts planned at once, at most (one thread each, the caller's included). */
#define SYNC_PLAN_THREADS 4

struct sync_planner {
	const struct sync_opts *o;
	const struct server *servers;
	size_t n;
	const struct hostfile_input *inputs; /* of servers, for every host */
	const struct agent_state *st;        /* read-only while planners run */
	struct host_plan *plans;
	struct sync_job *jobs;
	const struct fileio_gate *gate;
	size_t next; /* the next host to plan (atomic) */
	int r;       /* -ERR_NOMEM when any plan failed (atomic) */
};

/*
 * Once host i is planned, its write starts at once, so that its fsyncs
 * overlap the planning of the other hosts. When st does not yet record
 * every name it may write, its rename waits at the gate for the
 * write-ahead state. The job keeps copies of what it needs of st, which
 * grows while it runs.
 */
static int sync_plan_started(struct sync_planner *pl, size_t i)
{
	struct host_plan *p = &pl->plans[i];
	struct sync_job *job = &pl->jobs[i];
	const struct host_state *prev = state_get(pl->st, p->adapter->id);
	int r;

	job->changes = p->status == HOST_OK && hostfile_changed(p);
	if (pl->o->dry_run || !job->changes)
		return 0;
	if ((r = sync_plan_union(prev, p, &job->intent)) != 0 ||
	    (prev != NULL && (r = host_state_copy(prev, &job->prev)) != 0))
		return r;
	job->grows = !sync_state_covers(prev, &job->intent);
	job->gate = job->grows ? pl->gate : NULL;
	sync_job_start(job);
	return 0;
}

static void *sync_plan_thread(void *arg)
{
	struct sync_planner *pl = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&pl->next, 1, __ATOMIC_RELAXED)) <
	       adapter_count) {
		const struct adapter *a = adapter_registry[i];

		if (hostfile_plan_inputs(a, pl->o->env, pl->servers, pl->n,
		                         pl->inputs, state_get(pl->st, a->id),
		                         &pl->plans[i]) != 0 ||
		    sync_plan_started(pl, i) != 0)
			__atomic_store_n(&pl->r, -ERR_NOMEM, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Plans every host into plans[] (zeroed; registry order), on as many
 * threads as there are processors, up to SYNC_PLAN_THREADS: planning is
 * most of a sync's work (the largest file parsed and edited, every server
 * rendered for every host), and the hosts are independent. Hosts are
 * taken in registry order, Claude Code's large file first. Each write
 * starts as its plan ends (sync_plan_started). Returns 0 or -ERR_NOMEM.
 */
static int sync_plan_all(const struct sync_opts *o,
                         const struct server *servers, size_t n,
                         const struct hostfile_input *inputs,
                         const struct agent_state *st, struct host_plan *plans,
                         struct sync_job *jobs, const struct fileio_gate *gate)
{
	struct sync_planner pl = {o,     servers, n,    inputs, st,
	                          plans, jobs,    gate, 0,      0};
	pthread_t tids[SYNC_PLAN_THREADS - 1];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t k, started = 0, want;

	for (k = 0; k < adapter_count; k++) {
		jobs[k].o = o;
		jobs[k].servers = servers;
		jobs[k].n = n;
		jobs[k].inputs = inputs;
		jobs[k].p = &plans[k];
	}
	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > SYNC_PLAN_THREADS)
		want = SYNC_PLAN_THREADS;
	for (k = 0; k + 1 < want; k++)
		if (pthread_create(&tids[started], NULL, sync_plan_thread,
		                   &pl) == 0)
			started++;
	sync_plan_thread(&pl);
	for (k = 0; k < started; k++)
		pthread_join(tids[k], NULL);
	return pl.r;
}

/* Fills *out from the plans and the state recorded after them. */
static int sync_result_fill(const struct sync_opts *o,
                            const struct host_plan *plans,
                            const struct agent_state *st,
                            struct sync_result *out)
{
	struct sync_result res = {0};
	size_t i, k;
	int r = -ERR_NOMEM;

	if ((res.hosts = calloc(adapter_count, sizeof(*res.hosts))) == NULL)
		return -ERR_NOMEM;
	res.n = adapter_count;
	for (i = 0; i < adapter_count; i++) {
		const struct host_plan *p = &plans[i];
		struct sync_host_result *h = &res.hosts[i];
		const struct host_state *hs = state_get(st, p->adapter->id);
		const struct strv *names;

		h->id = p->adapter->id;
		h->status = p->status;
		h->changed = hostfile_changed(p);
		if (p->message != NULL &&
		    (h->message = strdup(p->message)) == NULL)
			goto out;
		/* A dry run records nothing: what the plan would leave. */
		names = (o->dry_run && p->status == HOST_OK) || hs == NULL
		            ? &p->after.managed
		            : &hs->managed;
		if (p->status == HOST_ABSENT && hs == NULL)
			continue;
		for (k = 0; k < names->n; k++)
			if (strv_push(&h->managed, names->v[k]) != 0)
				goto out;
		for (k = 0; k < p->warnings.n; k++)
			if (strv_push(&h->warnings, p->warnings.v[k]) != 0)
				goto out;
	}
	*out = res;
	memset(&res, 0, sizeof(res));
	r = 0;
out:
	sync_result_clear(&res);
	return r;
}

/*
 * Records a sync that changed nothing for the fast path, unless a file
 * changed while it ran (its key at the start no longer holds), or one was
 * changed so recently that a change after now could carry the same stamp
 * (file times come from a clock that ticks every few milliseconds).
 */
static void sync_record(const struct sync_opts *o, const struct server *flat,
                        size_t n, uint64_t revision, const char *state_path,
                        const struct syncfast_key *start, const char *fast_path,
                        const struct host_plan *plans)
{
	struct syncfast_key now;
	struct timespec ts;

	if (syncfast_key(o, flat, n, revision, state_path, &now) != 0 ||
	    memcmp(now.hosts, start->hosts, sizeof(now.hosts)) != 0 ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
	    now.newest_ns >
	        (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - SYNC_SETTLE_NS)
		return;
	(void)syncfast_save(fast_path, &now, plans);
}

void sync_result_clear(struct sync_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->hosts[i].message);
		strv_clear(&r->hosts[i].managed);
		strv_clear(&r->hosts[i].warnings);
	}
	free(r->hosts);
	memset(r, 0, sizeof(*r));
}

int sync_run(const struct sync_opts *o, const struct catalogue *personal,
             const struct catalogue *fleet, uint64_t fleet_revision)
{
	return sync_run_report(o, personal, fleet, fleet_revision, NULL);
}

int sync_run_report(const struct sync_opts *o, const struct catalogue *personal,
                    const struct catalogue *fleet, uint64_t fleet_revision,
                    struct sync_result *out)
{
	struct agent_state st = {0};
	struct sync_merged m = {0};
	struct host_plan *plans = NULL;
	struct sync_job *jobs = NULL;
	struct sync_gate gate = {PTHREAD_MUTEX_INITIALIZER,
	                         PTHREAD_COND_INITIALIZER, false, 0};
	const struct fileio_gate gate_pass = {sync_gate_pass, &gate};
	bool grew = false;
	int saved;
	struct server *flat = NULL, *owned = NULL;
	struct hostfile_input *inputs = NULL;
	const char *launcher = o->launcher;
	char self[4096];
	bool changed = false, dirty = false;
	struct sync_report report = {0};
	struct diag d;
	char *state_path = NULL, *fast_path = NULL;
	struct syncfast_key key;
	bool have_key = false;
	size_t i;
	int exit_code = EXIT_OK, r, lock = -1;

	diag_clear(&d);
	if (!fileio_is_dir(o->home) && !o->dry_run &&
	    fileio_mkdirs(o->home, 0700) != 0) {
		fprintf(o->err, "mcpfleet: %s: cannot create: %s\n", o->home,
		        strerror(errno));
		return EXIT_CONFIG;
	}
	if (fileio_is_dir(o->home) && (lock = sync_lock(o->home)) < 0) {
		fprintf(o->err, "mcpfleet: %s/.lock: cannot lock: %s\n",
		        o->home, strerror(errno));
		return EXIT_CONFIG;
	}
	/* Checked under the lock: whoever removes it and then syncs runs
	 * after us, or we see it gone. */
	if (o->require != NULL && !fileio_exists(o->require)) {
		exit_code = EXIT_NOT_ENROLLED;
		goto out;
	}
	if ((state_path = fileio_join(o->home, "state.json")) == NULL)
		goto nomem;
	if (sync_merge(personal, fleet, &m) != 0)
		goto nomem;
	/* One server array for the planner, in name order: launcher servers
	 * as their "mcpfleet exec" entries, the others as they are. */
	if (m.n > 0 && ((flat = calloc(m.n, sizeof(*flat))) == NULL ||
	                (owned = calloc(m.n, sizeof(*owned))) == NULL))
		goto nomem;
	for (i = 0; i < m.n; i++) {
		flat[i] = *m.v[i]; /* shallow: read-only below */
		if (!server_via_launcher(m.v[i]))
			continue;
		if (launcher == NULL) {
			if (sync_self_path(self, sizeof(self)) != 0) {
				fprintf(o->err,
				        "mcpfleet: cannot find the path of "
				        "this program for the launcher "
				        "entries\n");
				exit_code = EXIT_CONFIG;
				goto out;
			}
			launcher = self;
		}
		if (sync_launcher_entry(m.v[i], launcher, o->home, o->env,
		                        &owned[i]) != 0)
			goto nomem;
		flat[i] = owned[i];
	}
	/* The no-op fast path: the same inputs as a sync that changed
	 * nothing, the same report, nothing rendered or read. */
	if ((fast_path = fileio_join(o->home, SYNCFAST_FILE)) == NULL)
		goto nomem;
	if (lock >= 0 && !o->ignore_stamps &&
	    syncfast_key(o, flat, m.n, fleet ? fleet_revision : 0, state_path,
	                 &key) == 0) {
		have_key = true;
		if (out == NULL &&
		    syncfast_load(fast_path, &key, &plans) == 0) {
			report.plans = plans;
			report.n = adapter_count;
			report.warnings = &m.warnings;
			report.exit_code = EXIT_OK;
			if (syncreport_print(o, &report) != 0)
				goto nomem;
			goto out;
		}
	}
	if ((r = state_load(state_path, &st, &d)) != 0) {
		fprintf(o->err, "mcpfleet: %s\n", d.msg);
		exit_code = EXIT_CONFIG;
		goto out;
	}
	if (st.pending && !o->dry_run)
		sync_recover(o);
	for (i = 0; o->ignore_stamps && i < st.n; i++)
		st.hosts[i].st.stamp.valid = false;
	if ((plans = calloc(adapter_count, sizeof(*plans))) == NULL ||
	    (jobs = calloc(adapter_count, sizeof(*jobs))) == NULL ||
	    (m.n > 0 && (inputs = calloc(m.n, sizeof(*inputs))) == NULL))
		goto nomem;
	/* What each entry is rendered from, once for every host. */
	if (hostfile_inputs(flat, m.n, NULL, inputs) != 0) {
		fprintf(o->err, "mcpfleet: cannot compute a digest\n");
		exit_code = EXIT_CONFIG;
		goto out;
	}
	/* Write-ahead: every name about to be written is recorded before
	 * the file that holds it is renamed into place, so that a crash
	 * never leaves an entry of ours that the next sync would take for
	 * the user's. The writes start as their plans end; those with names
	 * state.json lacks wait at the gate, before their renames, for it to
	 * be saved (a crash before then leaves at most a temporary file,
	 * which the next write of that file removes). */
	r = sync_plan_all(o, flat, m.n, inputs, &st, plans, jobs, &gate_pass);
	for (i = 0; i < adapter_count; i++)
		changed |= jobs[i].changes;
	if (r == 0 && (r = sync_state_intent(&st, jobs, &grew)) == 0 && grew) {
		st.last_sync = (int64_t)time(NULL);
		st.pending = true;
		if (state_save(state_path, &st) != 0) {
			saved = errno;
			sync_gate_open(&gate, -ERR_IO);
			(void)sync_jobs_join(jobs);
			errno = saved;
			goto save_failed;
		}
	}
	sync_gate_open(&gate, r);
	if (sync_jobs_join(jobs) != 0 || r != 0)
		goto nomem;
	for (i = 0; i < adapter_count; i++) {
		struct host_plan *p = &plans[i];
		const struct host_state *prev = state_get(&st, p->adapter->id);
		struct host_state hs;

		if (p->status == HOST_BLOCKED)
			exit_code = EXIT_BLOCKED;
		/* A host whose write failed keeps the write-ahead state. */
		if (o->dry_run || p->status == HOST_ABSENT ||
		    (p->status == HOST_BLOCKED && hostfile_changed(p)) ||
		    (prev != NULL && host_state_equal(prev, &p->after)))
			continue;
		dirty = true;
		/* A copy: the report still shows p->after. */
		if (host_state_copy(&p->after, &hs) != 0 ||
		    state_put(&st, p->adapter->id, &hs) != 0) {
			host_state_clear(&hs);
			goto nomem;
		}
	}
	if (fleet != NULL && st.revision != fleet_revision) {
		st.revision = fleet_revision;
		dirty = true;
	}
	/* A sync that changes nothing writes nothing, state included. */
	if (!o->dry_run && (dirty || changed)) {
		if (changed)
			st.last_sync = (int64_t)time(NULL);
		st.pending = false;
		if (state_save(state_path, &st) != 0)
			goto save_failed;
	}
	report.plans = plans;
	report.n = adapter_count;
	report.warnings = &m.warnings;
	report.exit_code = exit_code;
	if (syncreport_print(o, &report) != 0)
		goto nomem;
	if (have_key && !o->dry_run && !changed && exit_code == EXIT_OK)
		sync_record(o, flat, m.n, fleet ? fleet_revision : 0,
		            state_path, &key, fast_path, plans);
	if (out != NULL && sync_result_fill(o, plans, &st, out) != 0)
		goto nomem;
	goto out;
save_failed:
	fprintf(o->err, "mcpfleet: %s: cannot write: %s\n", state_path,
	        strerror(errno));
	exit_code = EXIT_CONFIG;
	goto out;
nomem:
	fprintf(o->err, "mcpfleet: out of memory\n");
	exit_code = EXIT_CONFIG;
out:
	for (i = 0; plans != NULL && i < adapter_count; i++)
		host_plan_clear(&plans[i]);
	for (i = 0; jobs != NULL && i < adapter_count; i++)
		sync_job_clear(&jobs[i]);
	free(plans);
	free(jobs);
	free(flat);
	free(inputs);
	for (i = 0; owned != NULL && i < m.n; i++)
		server_clear(&owned[i]);
	free(owned);
	strv_clear(&m.warnings);
	free(m.v);
	state_clear(&st);
	free(state_path);
	free(fast_path);
	if (lock >= 0)
		close(lock);
	return exit_code;
}
