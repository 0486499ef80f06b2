/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: sync 100 servers into all seven hosts, ~/.claude.json being
 * 5 MB of realistic state. Prints medians of: a full sync (every entry
 * added), a no-op re-sync (must write nothing), and a no-op re-sync that
 * re-reads and re-parses every file (the stamp cache bypassed), with their
 * ratio. Not a test: it prints figures.
 *   usage: bench_sync [RUNS] [CLAUDE_JSON_BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "adapter.h"
#include "catalogue.h"
#include "fileio.h"
#include "fixture.h"
#include "sync.h"

struct bench {
	char home[256];
	char *mfhome;
	struct host_env env;
	FILE *devnull;
};

static const char *bench_getenv(void *ctx, const char *name)
{
	struct bench *b = ctx;

	return strcmp(name, "HOME") == 0 ? b->home : NULL;
}

static double bench_last_cpu;

static double bench_sync(struct bench *b, const struct catalogue *c,
                         bool ignore_stamps)
{
	struct sync_opts o = {
	    .home = b->mfhome,
	    .env = &b->env,
	    .out = b->devnull,
	    .err = b->devnull,
	    .ignore_stamps = ignore_stamps,
	};
	double c0 = bench_cpu_ms(), t0 = bench_now_ms();
	int code = sync_run(&o, c, NULL, 0);

	bench_last_cpu = bench_cpu_ms() - c0;
	if (code != EXIT_OK) {
		fprintf(stderr, "bench: sync failed (%d)\n", code);
		exit(1);
	}
	return bench_now_ms() - t0;
}

/* Sum of the host files' mtimes: a no-op must leave it alone. */
static long long bench_mtimes(struct bench *b)
{
	long long sum = 0;
	size_t i;

	for (i = 0; fixture_host_files[i] != NULL; i++) {
		char *p = fileio_join(b->home, fixture_host_files[i]);
		struct stat st;

		if (stat(p, &st) == 0)
			sum += (long long)st.st_mtim.tv_sec * 1000000000 +
			       st.st_mtim.tv_nsec;
		free(p);
	}
	return sum;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 21;
	size_t size = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 5u << 20;
	struct catalogue_opts opts = {.host_known = adapter_known};
	struct catalogue c = {0};
	struct diag d;
	struct bench b;
	double *full, *noop, *cold, *fullc, *noopc, *coldc;
	char *text, *state;
	long long m0;
	int i;

	if (runs < 1)
		runs = 1;
	memset(&b, 0, sizeof(b));
	(void)snprintf(b.home, sizeof(b.home), "/tmp/mcpfleet-bench-XXXXXX");
	if (mkdtemp(b.home) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	b.mfhome = fileio_join(b.home, ".mcpfleet");
	state = fileio_join(b.mfhome, "state.json");
	b.env.os = HOST_OS_LINUX;
	b.env.getenv = bench_getenv;
	b.env.ctx = &b;
	b.devnull = fopen("/dev/null", "w");
	text = fixture_catalogue("srv", 100);
	if (catalogue_parse(text, strlen(text), &opts, &c, &d) != 0) {
		fprintf(stderr, "bench: catalogue: %s\n", d.msg);
		return 1;
	}
	free(text);
	full = calloc((size_t)runs, sizeof(double));
	noop = calloc((size_t)runs, sizeof(double));
	cold = calloc((size_t)runs, sizeof(double));
	fullc = calloc((size_t)runs, sizeof(double));
	noopc = calloc((size_t)runs, sizeof(double));
	coldc = calloc((size_t)runs, sizeof(double));

	for (i = 0; i < runs; i++) {
		/* Full: a fresh sandbox each time, outside the timing. */
		if (fixture_sandbox(b.home, size) != 0) {
			perror("fixture");
			return 1;
		}
		unlink(state);
		full[i] = bench_sync(&b, &c, false);
		fullc[i] = bench_last_cpu;
	}
	m0 = bench_mtimes(&b);
	for (i = 0; i < runs; i++) {
		noop[i] = bench_sync(&b, &c, false);
		noopc[i] = bench_last_cpu;
	}
	for (i = 0; i < runs; i++) {
		cold[i] = bench_sync(&b, &c, true);
		coldc[i] = bench_last_cpu;
	}
	if (bench_mtimes(&b) != m0) {
		fprintf(stderr, "bench: a no-op sync wrote a host file\n");
		return 1;
	}
	{
		double mf = bench_median(full, runs),
		       mn = bench_median(noop, runs),
		       mc = bench_median(cold, runs);

		printf("bench_sync: 100 servers x 7 hosts, ~/.claude.json %zu "
		       "bytes, %d runs each\n",
		       size, runs);
		printf("                            wall (median)   cpu "
		       "(median)\n");
		printf("  full sync                 %8.2f ms    %8.2f ms\n", mf,
		       bench_median(fullc, runs));
		printf(
		    "  no-op re-sync             %8.2f ms    %8.2f ms  (wrote "
		    "nothing)\n",
		    mn, bench_median(noopc, runs));
		printf("  no-op, files re-parsed    %8.2f ms    %8.2f ms\n", mc,
		       bench_median(coldc, runs));
		printf("  ratios (wall): full/no-op %.1fx, re-parsed/no-op "
		       "%.1fx\n",
		       mf / mn, mc / mn);
	}
	catalogue_clear(&c);
	free(full);
	free(noop);
	free(cold);
	free(fullc);
	free(noopc);
	free(coldc);
	{
		char cmd[512];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.home);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", b.home);
	}
	free(b.mfhome);
	free(state);
	fclose(b.devnull);
	return 0;
}
