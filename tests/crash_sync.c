/* SPDX-License-Identifier: MIT */
/*
 * Crash safety: kills "mcpfleet sync" with SIGKILL at many points of a large
 * write (100 servers replaced by 100 others in all seven hosts, a 5 MB
 * ~/.claude.json) and checks after every kill that each host file is
 * exactly its old or its new version, never anything in between; then that
 * a complete sync converges and leaves no temporary file behind.
 *   usage: crash_sync MCPFLEET_BINARY [KILLS]
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "fixture.h"

#define CRASH_NFILES 7

struct snapshot {
	char *data[CRASH_NFILES + 1]; /* host files, then state.json */
	size_t len[CRASH_NFILES + 1];
};

static char crash_home[256];
static const char *crash_bin;

static char *crash_path(const char *rel)
{
	char *p = fileio_join(crash_home, rel);

	if (p == NULL)
		abort();
	return p;
}

static const char *crash_rel(int i)
{
	return i < CRASH_NFILES ? fixture_host_files[i]
	                        : ".mcpfleet/state.json";
}

static void crash_take(struct snapshot *s)
{
	int i;

	for (i = 0; i <= CRASH_NFILES; i++) {
		char *p = crash_path(crash_rel(i));

		if (fileio_read(p, 64u << 20, &s->data[i], &s->len[i]) != 0) {
			fprintf(stderr, "crash: cannot read %s\n", p);
			exit(1);
		}
		free(p);
	}
}

static void crash_restore(const struct snapshot *s)
{
	int i;

	for (i = 0; i <= CRASH_NFILES; i++) {
		char *p = crash_path(crash_rel(i));

		if (fileio_write_atomic(p, s->data[i], s->len[i], 0644, 0) !=
		    0) {
			fprintf(stderr, "crash: cannot restore %s\n", p);
			exit(1);
		}
		free(p);
	}
}

static void crash_set_catalogue(const char *prefix)
{
	char *text = fixture_catalogue(prefix, 100), *p;

	p = crash_path(".mcpfleet");
	if (fileio_mkdirs(p, 0700) != 0) {
		fprintf(stderr, "crash: cannot create %s\n", p);
		exit(1);
	}
	free(p);
	p = crash_path(".mcpfleet/mcp.json");
	if (fileio_write_atomic(p, text, strlen(text), 0600, 0) != 0) {
		fprintf(stderr, "crash: cannot write %s\n", p);
		exit(1);
	}
	free(p);
	free(text);
}

/* Starts "mcpfleet sync" in the sandbox; returns its pid. */
static pid_t crash_spawn(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		char home[300], mf[320];
		char *const argv[] = {(char *)(uintptr_t)crash_bin, "sync",
		                      NULL};
		char *envp[] = {home, mf, NULL};

		(void)snprintf(home, sizeof(home), "HOME=%s", crash_home);
		(void)snprintf(mf, sizeof(mf), "MCPFLEET_HOME=%s/.mcpfleet",
		               crash_home);
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execve(crash_bin, argv, envp);
		_exit(127);
	}
	return pid;
}

static int crash_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static double crash_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts leftover temporary files under home. */
static int crash_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = fileio_join(dir, de->d_name);
		if (strstr(de->d_name, ".mcpfleet-") != NULL)
			n++;
		else if (fileio_is_dir(p))
			n += crash_temps(p);
		free(p);
	}
	closedir(d);
	return n;
}

/* True when two state.json texts record the same managed names per host. */
static bool crash_same_managed(const char *x, const char *y)
{
	json_t *a = json_loads(x, 0, NULL), *b = json_loads(y, 0, NULL);
	json_t *ha = json_object_get(a, "hosts"),
	       *hb = json_object_get(b, "hosts");
	const char *key;
	json_t *v;
	bool same = ha != NULL && hb != NULL &&
	            json_object_size(ha) == json_object_size(hb);

	json_object_foreach(ha, key, v)
	{
		json_t *w = json_object_get(hb, key);

		if (w == NULL || !json_equal(json_object_get(v, "managed"),
		                             json_object_get(w, "managed")))
			same = false;
	}
	json_decref(a);
	json_decref(b);
	return same;
}

/* Runs a complete sync and checks it reaches snapshot b. Returns 0 or 1. */
static int crash_converges(const struct snapshot *b, int kill_no)
{
	struct snapshot c = {0};
	int f, bad = 0;

	if (crash_wait(crash_spawn()) != 0) {
		printf("FAIL kill %d: the sync after it did not succeed\n",
		       kill_no);
		return 1;
	}
	crash_take(&c);
	for (f = 0; f < CRASH_NFILES; f++)
		if (c.len[f] != b->len[f] ||
		    memcmp(c.data[f], b->data[f], c.len[f]) != 0) {
			printf("FAIL kill %d: %s did not converge\n", kill_no,
			       fixture_host_files[f]);
			bad = 1;
		}
	if (!crash_same_managed(c.data[CRASH_NFILES], b->data[CRASH_NFILES])) {
		printf("FAIL kill %d: state.json does not manage what a clean "
		       "sync does: entries were orphaned\n",
		       kill_no);
		bad = 1;
	}
	if (crash_temps(crash_home) != 0) {
		printf("FAIL kill %d: temporary files were left behind\n",
		       kill_no);
		bad = 1;
	}
	for (f = 0; f <= CRASH_NFILES; f++)
		free(c.data[f]);
	return bad;
}

int main(int argc, char **argv)
{
	struct snapshot a = {0}, b = {0};
	int kills = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 150;
	int passed = 0, failed = 0, mixed = 0, i, f;
	double t0, runtime = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: crash_sync MCPFLEET_BINARY [KILLS]\n");
		return 2;
	}
	crash_bin = argv[1];
	(void)snprintf(crash_home, sizeof(crash_home),
	               "/tmp/mcpfleet-crash-XXXXXX");
	if (mkdtemp(crash_home) == NULL ||
	    fixture_sandbox(crash_home, 5u << 20)) {
		perror("sandbox");
		return 1;
	}
	/* The two versions every file may be in. */
	crash_set_catalogue("alpha");
	if (crash_wait(crash_spawn()) != 0) {
		fprintf(stderr, "crash: first sync failed\n");
		return 1;
	}
	crash_take(&a);
	crash_set_catalogue("beta");
	for (i = 0; i < 3; i++) {
		crash_restore(&a);
		t0 = crash_now();
		if (crash_wait(crash_spawn()) != 0) {
			fprintf(stderr, "crash: second sync failed\n");
			return 1;
		}
		runtime += (crash_now() - t0) / 3;
	}
	crash_take(&b);
	printf("crash_sync: a full sync takes %.1f ms; %d kills spread over "
	       "it\n",
	       runtime * 1e3, kills);

	for (i = 0; i < kills; i++) {
		double delay = runtime * 1.2 * (i + 0.5) / kills;
		struct timespec ts = {(time_t)delay,
		                      (long)((delay - (time_t)delay) * 1e9)};
		int old = 0, new = 0, bad = 0;
		pid_t pid;

		crash_restore(&a);
		pid = crash_spawn();
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		crash_wait(pid);
		for (f = 0; f < CRASH_NFILES; f++) {
			char *p = crash_path(fixture_host_files[f]), *data;
			size_t len;

			if (fileio_read(p, 64u << 20, &data, &len) != 0) {
				printf("FAIL kill %d: %s unreadable\n", i, p);
				bad++;
			} else if (len == a.len[f] &&
			           memcmp(data, a.data[f], len) == 0) {
				old++;
				free(data);
			} else if (len == b.len[f] &&
			           memcmp(data, b.data[f], len) == 0) {
				new ++;
				free(data);
			} else {
				printf("FAIL kill %d at %.2f ms: %s is neither "
				       "old nor new (%zu bytes)\n",
				       i, delay * 1e3, p, len);
				free(data);
				bad++;
			}
			free(p);
		}
		/* The next complete sync converges from wherever the kill
		 * left things: same files, same managed names, no leftovers. */
		if (!bad)
			bad = crash_converges(&b, i);
		if (bad) {
			failed++;
		} else {
			passed++;
			mixed += old > 0 && new > 0;
		}
	}
	printf("crash_sync: %d kills left some files old and some new "
	       "(mid-run)\n",
	       mixed);
	for (f = 0; f <= CRASH_NFILES; f++) {
		free(a.data[f]);
		free(b.data[f]);
	}
	{
		char cmd[300];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", crash_home);
		if (system(cmd) != 0)
			fprintf(stderr, "crash: could not remove %s\n",
			        crash_home);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
