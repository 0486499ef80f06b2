/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: what the launcher costs a host. The same trivial stdio MCP
 * server (tests/mcp_stub) is run directly and through "mcpfleet exec", as a
 * fleet server served by a real agent socket (client/agentsock.c, in this
 * process), turn about in one run. Prints medians of: process start to the
 * initialize answer; one tools/call round trip (over many calls); a 10 MB
 * tool result; and the launcher's resident memory, steady and at its peak.
 * Not a test: it prints figures.
 *   usage: bench_exec [--pin CPU] MCPFLEET MCP_STUB [STARTS] [CALLS]
 * A third column, the floor, runs the stub behind the least a relay can be
 * (this program again, as "bench_exec --relay MCP_STUB": one poll loop that
 * copies bytes each way, nothing parsed): what any extra process on the
 * path costs on this machine, which the launcher is compared against.
 * With --pin every process of the run shares one CPU: the launcher's own
 * cost. Without it the scheduler places them, and on a virtual machine a
 * wake-up across CPUs costs tens of microseconds, paid at every extra hop.
 * BENCH_PERSONAL=1 serves the stub as a personal server (no agent).
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "benchutil.h"
#include "agentsock.h"
#include "catalogue.h"
#include "fileio.h"
#include "spool.h"

struct bench_proc {
	pid_t pid;
	int in, out;
	char *buf;
	size_t len, cap;
	size_t scanned; /* bytes of buf known to hold no newline */
};

static void bench_die(const char *what)
{
	fprintf(stderr, "bench_exec: %s\n", what);
	exit(1);
}

/* Starts argv with pipes on stdin and stdout, HOME set to home. */
static void bench_start(struct bench_proc *p, char *const argv[],
                        const char *home)
{
	int in[2], out[2];

	if (pipe(in) != 0 || pipe(out) != 0)
		bench_die("pipe");
	p->pid = fork();
	if (p->pid < 0)
		bench_die("fork");
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv("HOME", home, 1);
		unsetenv("MCPFLEET_HOME");
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	p->len = 0;
	p->scanned = 0;
}

static void bench_send(struct bench_proc *p, const char *line)
{
	size_t n = strlen(line), off = 0;
	ssize_t w;

	while (off < n) {
		if ((w = write(p->in, line + off, n - off)) <= 0)
			bench_die("write");
		off += (size_t)w;
	}
}

/* Reads one whole line; returns its length. */
static size_t bench_line(struct bench_proc *p)
{
	char *nl;
	ssize_t n;
	size_t len;

	for (;;) {
		if (p->len > p->scanned &&
		    (nl = memchr(p->buf + p->scanned, '\n',
		                 p->len - p->scanned)) != NULL) {
			len = (size_t)(nl - p->buf) + 1;
			memmove(p->buf, nl + 1, p->len - len);
			p->len -= len;
			p->scanned = 0;
			return len;
		}
		p->scanned = p->len;
		if (p->cap - p->len < (1u << 16)) {
			p->cap = p->cap ? p->cap * 2 : (1u << 20);
			if ((p->buf = realloc(p->buf, p->cap)) == NULL)
				bench_die("out of memory");
		}
		if ((n = read(p->out, p->buf + p->len, p->cap - p->len)) <= 0)
			bench_die("the server closed its output");
		p->len += (size_t)n;
	}
}

static void bench_stop(struct bench_proc *p)
{
	int st;

	close(p->in);
	close(p->out);
	waitpid(p->pid, &st, 0);
}

/* kB of resident memory of pid: VmRSS now, or VmHWM (the peak). */
static long bench_rss_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

static int bench_main(int argc, char **argv, int pin);

/* Copies everything from fd a to fd b; false at the end or an error. */
static bool bench_copy(int a, int b, char *buf, size_t size)
{
	ssize_t n = read(a, buf, size), w, off = 0;

	if (n <= 0)
		return false;
	while (off < n) {
		if ((w = write(b, buf + off, (size_t)(n - off))) <= 0)
			return false;
		off += w;
	}
	return true;
}

/* The floor: the stub behind a plain byte relay. */
static int bench_relay(char *cmd)
{
	static char buf[1 << 18];
	struct bench_proc c = {0};
	char *argv[] = {cmd, NULL};
	struct pollfd p[2];

	bench_start(&c, argv, getenv("HOME") ? getenv("HOME") : "/");
	p[0] = (struct pollfd){.fd = 0, .events = POLLIN};
	p[1] = (struct pollfd){.fd = c.out, .events = POLLIN};
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents && !bench_copy(0, c.in, buf, sizeof(buf)))
			break;
		if (p[1].revents && !bench_copy(c.out, 1, buf, sizeof(buf)))
			break;
	}
	bench_stop(&c);
	return 0;
}

#define BENCH_INIT                                                             \
	"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"  \
	"{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"             \
	"\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n"

int main(int argc, char **argv)
{
	int pin = -1;

	if (argc == 3 && strcmp(argv[1], "--relay") == 0)
		return bench_relay(argv[2]);
	if (argc > 2 && strcmp(argv[1], "--pin") == 0) {
		pin = (int)strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (pin >= 0) {
		cpu_set_t set;

		/* Before any thread or child: they inherit it. */
		CPU_ZERO(&set);
		CPU_SET(pin, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			bench_die("sched_setaffinity");
	}
	return bench_main(argc, argv, pin);
}

/* This program's own path, for the floor relay. */
static char bench_self[4096];

static int bench_main(int argc, char **argv, int pin)
{
	int starts = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 40;
	int calls = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 10000;
	char home[] = "/tmp/mcpfleet-bench-exec.XXXXXX";
	char *direct[] = {argv[2], NULL};
	char *launched[] = {argv[1], (char *)"exec", (char *)"stub", NULL};
	char *relayed[] = {bench_self, (char *)"--relay", argv[2], NULL};
	char *const *cmd[3] = {direct, launched, relayed};
	double *st[3], *lat[3], big[3][5], t0, t;
	struct catalogue fleet = {0};
	struct agentsock *as = NULL;
	struct spool *spool = NULL;
	struct bench_proc p = {0};
	struct server s;
	struct diag d;
	char line[256], *mf, *path;
	long rss = 0, hwm = 0;
	int i, k, r;
	json_t *j;

	if (argc < 3)
		bench_die(
		    "usage: bench_exec MCPFLEET MCP_STUB [STARTS] [CALLS]");
	if (readlink("/proc/self/exe", bench_self, sizeof(bench_self) - 1) <= 0)
		bench_die("readlink /proc/self/exe");
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(home) == NULL)
		bench_die("mkdtemp");
	/* A fleet of one server, served by a real agent socket. */
	mf = fileio_join(home, ".mcpfleet");
	fileio_mkdirs(mf, 0700);
	if (getenv("BENCH_PERSONAL") != NULL) {
		/* The same server as a personal one: no agent at all. */
		char doc[4096];

		(void)snprintf(doc, sizeof(doc),
		               "{\"version\":1,\"servers\":{\"stub\":{"
		               "\"command\":\"%s\",\"via\":\"launcher\"}}}",
		               argv[2]);
		path = fileio_join(mf, "mcp.json");
		fileio_write_atomic(path, doc, strlen(doc), 0600, 0);
	} else {
		path = fileio_join(mf, "enrollment.json");
		fileio_write_atomic(path, "{}", 2, 0600, 0);
	}
	free(path);
	j = json_pack("{s:s}", "command", argv[2]);
	if (server_from_json("stub", j, NULL, &s, &d) != 0)
		bench_die(d.msg);
	json_decref(j);
	s.origin = SERVER_FLEET;
	catalogue_put(&fleet, &s);
	path = fileio_join(mf, SPOOL_FILE);
	if (spool_open(path, SPOOL_DEFAULT_MAX, &spool, &d) != 0 ||
	    agentsock_start(mf, spool, NULL, &as, &d) != 0 ||
	    agentsock_update(as, &fleet, 1, "bench", "dev-bench", 0, NULL) != 0)
		bench_die(d.msg);
	free(path);

	for (k = 0; k < 3; k++) {
		st[k] = calloc((size_t)starts, sizeof(double));
		lat[k] = calloc((size_t)calls, sizeof(double));
	}
	/* 1. Start to the initialize answer, turn about. */
	for (i = 0; i < starts; i++)
		for (k = 0; k < 3; k++) {
			t0 = bench_now_us();
			bench_start(&p, cmd[k], home);
			bench_send(&p, BENCH_INIT);
			(void)bench_line(&p);
			st[k][i] = bench_now_us() - t0;
			bench_stop(&p);
		}
	/* 2. Round trips, 3. a 10 MB result, 4. memory. */
	for (k = 0; k < 3; k++) {
		bench_start(&p, cmd[k], home);
		bench_send(&p, BENCH_INIT);
		(void)bench_line(&p);
		for (i = 0; i < calls; i++) {
			(void)snprintf(
			    line, sizeof(line),
			    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
			    "\"tools/call\",\"params\":{\"name\":"
			    "\"echo\",\"arguments\":{\"text\":\"hi\"}}}\n",
			    i + 1);
			t0 = bench_now_us();
			bench_send(&p, line);
			(void)bench_line(&p);
			lat[k][i] = bench_now_us() - t0;
		}
		if (k == 1)
			rss = bench_rss_kb(p.pid, "VmRSS:");
		for (i = 0; i < 5; i++) {
			(void)snprintf(
			    line, sizeof(line),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"big%d\","
			    "\"method\":\"tools/call\",\"params\":{"
			    "\"name\":\"big\",\"arguments\":{\"bytes\":"
			    "10485760}}}\n",
			    i);
			t0 = bench_now_us();
			bench_send(&p, line);
			r = (int)bench_line(&p);
			t = bench_now_us() - t0;
			if (r < 10485760)
				bench_die("the 10 MB answer is short");
			big[k][i] = (double)r / t; /* bytes per us = MB/s */
		}
		if (k == 1)
			hwm = bench_rss_kb(p.pid, "VmHWM:");
		bench_stop(&p);
	}
	{
		double sd = bench_median(st[0], starts),
		       sl = bench_median(st[1], starts),
		       ld = bench_median(lat[0], calls),
		       ll = bench_median(lat[1], calls),
		       bd = bench_median(big[0], 5),
		       bl = bench_median(big[1], 5),
		       sf = bench_median(st[2], starts),
		       lf = bench_median(lat[2], calls),
		       bf = bench_median(big[2], 5);

		printf("bench_exec: the stub MCP server direct vs through "
		       "'mcpfleet exec' (%s), %s\n",
		       getenv("BENCH_PERSONAL")
		           ? "a personal server, no agent"
		           : "a fleet server, agent socket",
		       pin >= 0 ? "every process on one CPU" : "unpinned");
		printf("start to initialize answer: direct %.2f ms, launcher "
		       "%.2f ms: +%.2f ms (x%.2f), median of %d\n",
		       sd / 1e3, sl / 1e3, (sl - sd) / 1e3, sl / sd, starts);
		printf("tools/call round trip:      direct %.1f us, launcher "
		       "%.1f us: +%.1f us (x%.2f), median of %d\n",
		       ld, ll, ll - ld, ll / ld, calls);
		printf("10 MB result:               direct %.0f MB/s, launcher "
		       "%.0f MB/s (x%.2f), median of 5\n",
		       bd, bl, bl / bd);
		printf("the floor, a plain relay:   start +%.2f ms, round trip "
		       "+%.1f us, %.0f MB/s; the launcher over it: start "
		       "+%.2f ms, round trip +%.1f us (x%.2f)\n",
		       (sf - sd) / 1e3, lf - ld, bf, (sl - sf) / 1e3, ll - lf,
		       ll / lf);
		printf("launcher memory:            %ld kB resident after %d "
		       "calls, %ld kB peak with 10 MB results\n",
		       rss, calls, hwm);
		printf("call records spooled:       %zu\n", spool_count(spool));
	}
	agentsock_stop(as);
	spool_free(spool);
	catalogue_clear(&fleet);
	for (k = 0; k < 3; k++) {
		free(st[k]);
		free(lat[k]);
	}
	free(p.buf);
	path = fileio_join(mf, SPOOL_FILE);
	unlink(path);
	free(path);
	path = fileio_join(mf, "enrollment.json");
	unlink(path);
	free(path);
	rmdir(mf);
	rmdir(home);
	free(mf);
	return 0;
}
