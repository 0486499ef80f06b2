/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: "mcpfleet sync" as users and systemd units run it, one whole
 * process timed from outside (fork, exec, wait), in a sandbox HOME with
 * every host of the registry present, 100 servers and a ~/.claude.json of
 * 5 MB. Three cases: a full sync (every file written), one server changed,
 * and a no-op. Each run is paired with a floor run (sync_floor: the same
 * files read, and for the writing cases each written back by temporary
 * file, fsync and rename), and the figures are medians, the ratio the
 * median of the per-pair ratios. Not a test: it prints figures.
 *   usage: bench_sync_process [RUNS] [CLAUDE_JSON_BYTES] [DIR]
 * With BENCH_KEEP set in the environment the sandbox is kept (for perf).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapter.h"
#include "benchutil.h"
#include "buf.h"
#include "fileio.h"
#include "fixture.h"

#define BENCH_MAX_FILES 64

struct bench {
	char home[512];
	char *mfhome, *catalogue, *state;
	char *cat_a, *cat_b; /* the catalogue, and it with one server changed */
	char envhome[600];
	struct host_env env;
	char
	    *files[BENCH_MAX_FILES + 2]; /* what a sync writes, for the floor */
	int nfiles;
};

struct bench_run {
	double wall, cpu;
};

static const char *bench_getenv(void *ctx, const char *name)
{
	struct bench *b = ctx;

	return strcmp(name, "HOME") == 0 ? b->home : NULL;
}

static void bench_die(const char *what)
{
	fprintf(stderr, "bench_sync_process: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Runs argv with the sandbox's environment, output thrown away. */
static struct bench_run bench_exec(struct bench *b, char *const argv[])
{
	char *envp[] = {b->envhome, "PATH=/usr/bin:/bin", "LANG=C", NULL};
	struct bench_run run;
	struct rusage ru;
	double t0;
	pid_t pid;
	int status;

	t0 = bench_now_ms();
	if ((pid = fork()) < 0)
		bench_die("fork");
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid)
		bench_die("wait4");
	run.wall = bench_now_ms() - t0;
	run.cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_sync_process: %s exited %d\n", argv[0],
		        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		exit(1);
	}
	return run;
}

static struct bench_run bench_sync(struct bench *b)
{
	char *argv[] = {BENCH_MCPFLEET, "sync", NULL};

	return bench_exec(b, argv);
}

static struct bench_run bench_floor(struct bench *b, const char *mode)
{
	char *argv[BENCH_MAX_FILES + 4];
	int i;

	argv[0] = BENCH_FLOOR;
	argv[1] = (char *)(uintptr_t)mode;
	for (i = 0; i < b->nfiles; i++)
		argv[i + 2] = b->files[i];
	argv[i + 2] = NULL;
	return bench_exec(b, argv);
}

static void bench_put(const char *path, const char *text)
{
	if (fileio_write_atomic(path, text, strlen(text), 0600, 0) != 0)
		bench_die(path);
}

/* A fresh sandbox: the fixture's files, every host's marker directory,
 * the catalogue, no state. */
static void bench_setup(struct bench *b, size_t size)
{
	struct buf cmd = BUF_INIT;
	size_t i;

	buf_printf(&cmd, "rm -rf '%s' && mkdir -p '%s'", b->home, b->mfhome);
	if (system(cmd.data) != 0)
		bench_die("rm -rf");
	buf_free(&cmd);
	if (fixture_sandbox(b->home, size) != 0)
		bench_die("fixture");
	for (i = 0; i < adapter_count; i++) {
		struct host_location loc = {0};
		struct diag d;

		if (adapter_registry[i]->locate(&b->env, &loc, &d) != 0 ||
		    fileio_mkdirs(loc.marker, 0755) != 0)
			bench_die(adapter_registry[i]->id);
		host_location_clear(&loc);
	}
	bench_put(b->catalogue, b->cat_a);
}

static void bench_add_file(struct bench *b, const char *path)
{
	if (!fileio_exists(path) || b->nfiles >= BENCH_MAX_FILES)
		return;
	if ((b->files[b->nfiles++] = strdup(path)) == NULL)
		bench_die("strdup");
}

/* The files a sync wrote, once it ran: every host's, its rules', state. */
static int bench_collect(struct bench *b)
{
	size_t i;
	int present = 0;

	for (i = 0; i < adapter_count; i++) {
		const struct adapter *a = adapter_registry[i];
		struct host_location loc = {0};
		struct diag d;

		if (a->locate(&b->env, &loc, &d) != 0)
			bench_die(a->id);
		present += loc.present;
		bench_add_file(b, loc.path);
		host_location_clear(&loc);
		if (a->filters != NULL &&
		    a->filters->locate(&b->env, &loc, &d) == 0) {
			bench_add_file(b, loc.path);
			host_location_clear(&loc);
		}
	}
	bench_add_file(b, b->state);
	return present;
}

/* Sum of the written files' ctimes: a no-op must leave them alone. */
static long long bench_ctimes(struct bench *b)
{
	long long sum = 0;
	struct stat st;
	int i;

	for (i = 0; i < b->nfiles; i++)
		if (stat(b->files[i], &st) == 0)
			sum += (long long)st.st_ctim.tv_sec * 1000000000 +
			       st.st_ctim.tv_nsec;
	return sum;
}

struct bench_series {
	double *wall, *cpu, *fwall, *fcpu, *ratio;
};

static void bench_series_init(struct bench_series *s, int runs)
{
	s->wall = calloc((size_t)runs, sizeof(double));
	s->cpu = calloc((size_t)runs, sizeof(double));
	s->fwall = calloc((size_t)runs, sizeof(double));
	s->fcpu = calloc((size_t)runs, sizeof(double));
	s->ratio = calloc((size_t)runs, sizeof(double));
	if (!s->wall || !s->cpu || !s->fwall || !s->fcpu || !s->ratio)
		bench_die("calloc");
}

static void bench_series_put(struct bench_series *s, int i, struct bench_run a,
                             struct bench_run f)
{
	s->wall[i] = a.wall;
	s->cpu[i] = a.cpu;
	s->fwall[i] = f.wall;
	s->fcpu[i] = f.cpu;
	s->ratio[i] = a.wall / f.wall;
}

static void bench_series_print(const char *what, const char *floor,
                               struct bench_series *s, int runs)
{
	printf("  %-20s %8.2f ms  cpu %7.2f ms | %-11s %8.2f ms  cpu %7.2f "
	       "ms | ratio %5.2fx\n",
	       what, bench_median(s->wall, (size_t)runs),
	       bench_median(s->cpu, (size_t)runs), floor,
	       bench_median(s->fwall, (size_t)runs),
	       bench_median(s->fcpu, (size_t)runs),
	       bench_median(s->ratio, (size_t)runs));
	free(s->wall);
	free(s->cpu);
	free(s->fwall);
	free(s->fcpu);
	free(s->ratio);
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 21;
	size_t size = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 5u << 20;
	const char *dir = argc > 3 ? argv[3] : "/tmp";
	struct bench_series full, one, noop;
	struct bench b;
	long long c0;
	char *p;
	int i, present;

	if (runs < 1)
		runs = 1;
	memset(&b, 0, sizeof(b));
	if ((size_t)snprintf(b.home, sizeof(b.home), "%s/mcpfleet-bench-XXXXXX",
	                     dir) >= sizeof(b.home) ||
	    mkdtemp(b.home) == NULL)
		bench_die("mkdtemp");
	(void)snprintf(b.envhome, sizeof(b.envhome), "HOME=%s", b.home);
	b.env.os = HOST_OS_LINUX;
	b.env.getenv = bench_getenv;
	b.env.ctx = &b;
	b.mfhome = fileio_join(b.home, ".mcpfleet");
	b.catalogue = fileio_join(b.mfhome, "mcp.json");
	b.state = fileio_join(b.mfhome, "state.json");
	b.cat_a = fixture_catalogue("srv", 100);
	b.cat_b = strdup(b.cat_a);
	if (b.cat_b == NULL || (p = strstr(b.cat_b, "server-1\"")) == NULL)
		bench_die("catalogue");
	p[7] = '9'; /* srv-1 runs @example/server-9 instead */
	bench_series_init(&full, runs);
	bench_series_init(&one, runs);
	bench_series_init(&noop, runs);

	bench_setup(&b, size);
	(void)bench_sync(&b); /* warm-up, and the files the floor writes */
	present = bench_collect(&b);
	for (i = 0; i < runs; i++) {
		struct bench_run a, f;

		bench_setup(&b, size);
		a = bench_sync(&b);
		f = bench_floor(&b, "write");
		bench_series_put(&full, i, a, f);
	}
	for (i = 0; i < runs; i++) {
		struct bench_run a, f;

		bench_put(b.catalogue, i % 2 == 0 ? b.cat_b : b.cat_a);
		a = bench_sync(&b);
		f = bench_floor(&b, "write");
		bench_series_put(&one, i, a, f);
	}
	(void)bench_sync(&b); /* settle: the next ones change nothing */
	c0 = bench_ctimes(&b);
	for (i = 0; i < runs; i++) {
		struct bench_run a = bench_sync(&b),
		                 f = bench_floor(&b, "read");

		bench_series_put(&noop, i, a, f);
	}
	if (bench_ctimes(&b) != c0) {
		fprintf(stderr, "bench_sync_process: a no-op sync wrote a "
		                "file\n");
		return 1;
	}
	printf("bench_sync_process: mcpfleet sync as a process, 100 servers x "
	       "%d hosts present, ~/.claude.json %zu bytes, %d files "
	       "written, %d runs each (medians)\n",
	       present, size, b.nfiles, runs);
	bench_series_print("full sync", "write floor", &full, runs);
	bench_series_print("one server changed", "write floor", &one, runs);
	bench_series_print("no-op", "read floor", &noop, runs);
	if (getenv("BENCH_KEEP") != NULL) {
		printf("  sandbox kept: HOME=%s\n", b.home);
	} else {
		struct buf cmd = BUF_INIT;

		buf_printf(&cmd, "rm -rf '%s'", b.home);
		if (system(cmd.data) != 0)
			fprintf(stderr, "bench: could not remove %s\n", b.home);
		buf_free(&cmd);
	}
	for (i = 0; i < b.nfiles; i++)
		free(b.files[i]);
	free(b.mfhome);
	free(b.catalogue);
	free(b.state);
	free(b.cat_a);
	free(b.cat_b);
	return 0;
}
