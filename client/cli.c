/* SPDX-License-Identifier: MIT */
/* The mcpfleet command line: one function per command. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "catalogue.h"
#include "enrollment.h"
#include "exec.h"
#include "fileio.h"
#include "jsonutil.h"
#include "personal.h"
#include "serverflags.h"
#include "sync.h"

#define CLI_VERSION AGENT_VERSION

void cli_usage(FILE *f)
{
	fputs(
	    "usage: mcpfleet COMMAND [ARGS]\n"
	    "\n"
	    "Personal catalogue ($MCPFLEET_HOME/mcp.json, default "
	    "~/.mcpfleet):\n"
	    "  add NAME (--command CMD [--arg A]... | --url URL [--type "
	    "http|sse]\n"
	    "           [--header 'K: V']...) [--env K=V]... [--host ID]... "
	    "[--disabled]\n"
	    "           [--tools-allow a,b] [--tools-deny a,b] [--replace]\n"
	    "  add NAME --json '{...}' [--replace]\n"
	    "  remove NAME\n"
	    "  list [--json]\n"
	    "\n"
	    "Hosts:\n"
	    "  sync [--dry-run] [--json]   render the personal and the last "
	    "verified fleet\n"
	    "                              catalogue into every present "
	    "host\n"
	    "  hosts [--json]              which hosts are present, and "
	    "their files\n"
	    "\n"
	    "Fleet:\n"
	    "  enroll LINK                 join a fleet with the link your "
	    "administrator gave\n"
	    "  run [--renew-before SECONDS]\n"
	    "                              stay connected: apply updates, "
	    "report, reconnect;\n"
	    "                              renew the device certificate "
	    "SECONDS before it\n"
	    "                              expires (default: a third of its "
	    "lifetime left)\n"
	    "  status [--json]             enrollment, connection, "
	    "revision, hosts\n"
	    "  unenroll                    remove every fleet entry and the "
	    "device credentials\n"
	    "  exec [--home DIR] NAME      run server NAME for a host, through "
	    "the launcher:\n"
	    "                              credentials from the agent, tool "
	    "filters, rate\n"
	    "                              limits and the calls audit (what "
	    "host files run)\n"
	    "\n"
	    "  help, version\n"
	    "\n"
	    "Exit codes: 0 ok, 1 a host was blocked, 2 usage or "
	    "configuration error,\n"
	    "3 not enrolled, server unreachable or enrollment refused, 4 "
	    "(run) this device\n"
	    "was revoked: its fleet entries and credentials were removed.\n",
	    f);
}

static int cli_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int cli_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fputs("mcpfleet: ", c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	return EXIT_CONFIG;
}

static char *cli_catalogue_path(const struct cli *c)
{
	return fileio_join(c->home, "mcp.json");
}

/* Loads the personal catalogue, printing why when it cannot. */
static int cli_load(const struct cli *c, const char *path,
                    struct catalogue *cat)
{
	struct diag d;

	diag_clear(&d);
	if (personal_load(path, cat, &d) != 0) {
		cli_error(c, "%s", d.msg);
		return -1;
	}
	return 0;
}

static int cli_save(const struct cli *c, const char *path,
                    const struct catalogue *cat)
{
	if (fileio_mkdirs(c->home, 0700) != 0 ||
	    personal_save(path, cat) != 0) {
		cli_error(c, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int cli_add(const struct cli *c, int argc, char **argv)
{
	struct catalogue_opts opts = {.host_known = adapter_known};
	struct catalogue cat = {0};
	struct server s = {0};
	struct diag d;
	json_t *entry = NULL;
	char *path = NULL, **rest;
	bool replace = false;
	int i, n = 0, code = EXIT_CONFIG;

	diag_clear(&d);
	if (argc < 2 || argv[1][0] == '-') {
		cli_usage(c->err);
		return EXIT_CONFIG;
	}
	if ((rest = calloc((size_t)argc, sizeof(*rest))) == NULL)
		return cli_error(c, "out of memory");
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--replace") == 0)
			replace = true;
		else
			rest[n++] = argv[i];
	}
	if (serverflags_parse(n, rest, &entry, &d) != 0) {
		cli_error(c, "add %s: %s", jsonutil_printable(argv[1]), d.msg);
		goto out;
	}
	if (server_from_json(argv[1], entry, &opts, &s, &d) != 0) {
		cli_error(c, "add: %s", d.msg);
		goto out;
	}
	if ((path = cli_catalogue_path(c)) == NULL ||
	    cli_load(c, path, &cat) != 0)
		goto out;
	if (catalogue_find(&cat, s.name) != NULL && !replace) {
		cli_error(c,
		          "add: '%s' is already in %s (use --replace to "
		          "overwrite it)",
		          s.name, path);
		goto out;
	}
	fprintf(c->out, "%s %s in %s; run 'mcpfleet sync' to apply\n",
	        catalogue_find(&cat, s.name) ? "replaced" : "added", s.name,
	        path);
	if (catalogue_put(&cat, &s) != 0) {
		cli_error(c, "out of memory");
		goto out;
	}
	if (cli_save(c, path, &cat) == 0)
		code = EXIT_OK;
out:
	server_clear(&s);
	catalogue_clear(&cat);
	json_decref(entry);
	free(rest);
	free(path);
	return code;
}

static int cli_remove(const struct cli *c, int argc, char **argv)
{
	struct catalogue cat = {0};
	char *path = NULL;
	int code = EXIT_CONFIG;

	if (argc != 2) {
		cli_usage(c->err);
		return EXIT_CONFIG;
	}
	if ((path = cli_catalogue_path(c)) == NULL ||
	    cli_load(c, path, &cat) != 0)
		goto out;
	if (catalogue_remove(&cat, argv[1]) != 0) {
		cli_error(c, "remove: no server named '%s' in %s",
		          jsonutil_printable(argv[1]), path);
		goto out;
	}
	if (cli_save(c, path, &cat) == 0) {
		fprintf(c->out,
		        "removed %s from %s; run 'mcpfleet sync' to apply\n",
		        argv[1], path);
		code = EXIT_OK;
	}
out:
	catalogue_clear(&cat);
	free(path);
	return code;
}

/* Parses [--json] [--dry-run] style switches; returns -1 on an unknown one. */
static int cli_switches(const struct cli *c, int argc, char **argv, bool *json,
                        bool *dry_run)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && json != NULL)
			*json = true;
		else if (strcmp(argv[i], "--dry-run") == 0 && dry_run != NULL)
			*dry_run = true;
		else {
			cli_error(c, "%s: unknown option '%s'", argv[0],
			          jsonutil_printable(argv[i]));
			return -1;
		}
	}
	return 0;
}

static void cli_print_json(const struct cli *c, json_t *j)
{
	char *s = j ? jsonutil_dump_pretty(j, NULL) : NULL;

	if (s != NULL)
		fputs(s, c->out);
	free(s);
	json_decref(j);
}

static int cli_list(const struct cli *c, int argc, char **argv)
{
	struct catalogue cat = {0};
	char *path = NULL;
	bool json = false;
	size_t i, k;
	int code = EXIT_CONFIG;

	if (cli_switches(c, argc, argv, &json, NULL) != 0)
		return EXIT_CONFIG;
	if ((path = cli_catalogue_path(c)) == NULL ||
	    cli_load(c, path, &cat) != 0)
		goto out;
	if (json) {
		json_t *a = json_array();

		for (i = 0; a != NULL && i < cat.n; i++) {
			json_t *e = server_to_json(&cat.servers[i]);

			if (e == NULL) {
				json_decref(a);
				a = NULL;
				break;
			}
			json_object_set_new(e, "id",
			                    json_string(cat.servers[i].name));
			json_object_set_new(e, "origin",
			                    json_string("personal"));
			json_array_append_new(a, e);
		}
		cli_print_json(c, a);
		code = EXIT_OK;
		goto out;
	}
	if (cat.n == 0) {
		fprintf(c->out,
		        "no servers in %s (add one with 'mcpfleet "
		        "add')\n",
		        path);
		code = EXIT_OK;
		goto out;
	}
	fprintf(c->out, "%-24s %-6s %-40s %s\n", "NAME", "TYPE", "TARGET",
	        "HOSTS");
	for (i = 0; i < cat.n; i++) {
		const struct server *s = &cat.servers[i];

		fprintf(c->out, "%-24s %-6s %-40s ", s->name,
		        server_transport_name(s->transport),
		        s->transport == SERVER_STDIO ? s->command : s->url);
		if (!s->has_hosts)
			fputs("all", c->out);
		for (k = 0; s->has_hosts && k < s->hosts.n; k++)
			fprintf(c->out, "%s%s", k ? "," : "", s->hosts.v[k]);
		fprintf(c->out, "%s\n", s->disabled ? " (disabled)" : "");
	}
	code = EXIT_OK;
out:
	catalogue_clear(&cat);
	free(path);
	return code;
}

static int cli_hosts(const struct cli *c, int argc, char **argv)
{
	json_t *a = NULL;
	bool json = false;
	size_t i;
	int code = EXIT_OK;

	if (cli_switches(c, argc, argv, &json, NULL) != 0)
		return EXIT_CONFIG;
	if (json && (a = json_array()) == NULL)
		return cli_error(c, "out of memory");
	if (!json)
		fprintf(c->out, "%-15s %-8s %s\n", "HOST", "PRESENT", "FILE");
	for (i = 0; i < adapter_count; i++) {
		const struct adapter *ad = adapter_registry[i];
		struct host_location loc = {0};
		struct diag d;
		int r;

		diag_clear(&d);
		r = ad->locate(c->env, &loc, &d);
		if (json) {
			json_array_append_new(
			    a, json_pack("{s:s,s:s,s:b,s:s?,s:s?,s:s?}", "id",
			                 ad->id, "name", ad->name, "present",
			                 r == 0 && loc.present, "path",
			                 loc.path, "note", loc.note, "error",
			                 r != 0 ? d.msg : NULL));
		} else if (r != 0) {
			fprintf(c->out, "%-15s %-8s %s\n", ad->id, "error",
			        d.msg);
			code = EXIT_BLOCKED;
		} else {
			fprintf(c->out, "%-15s %-8s %s%s%s%s\n", ad->id,
			        loc.present ? "yes" : "no", loc.path,
			        loc.note ? " (" : "", loc.note ? loc.note : "",
			        loc.note ? ")" : "");
		}
		host_location_clear(&loc);
	}
	if (json)
		cli_print_json(c, a);
	return code;
}

static int cli_sync(const struct cli *c, int argc, char **argv)
{
	struct catalogue cat = {0}, fleet = {0};
	struct sync_opts o = {
	    .home = c->home,
	    .env = c->env,
	    .out = c->out,
	    .err = c->err,
	};
	struct diag d;
	uint64_t revision = 0;
	bool have_fleet = false;
	char *path = NULL, *enrolled = NULL;
	int r, code = EXIT_CONFIG;

	diag_clear(&d);
	if (cli_switches(c, argc, argv, &o.json, &o.dry_run) != 0)
		return EXIT_CONFIG;
	if ((path = cli_catalogue_path(c)) == NULL ||
	    cli_load(c, path, &cat) != 0)
		goto out;
	/* Enrolled: the fleet part is catalogue.pb, verified again now. */
	r = agent_fleet_load(c->home, &fleet, &revision, &d);
	if (r != 0 && r != -ERR_NOENT) {
		cli_error(c, "%s; nothing was written", d.msg);
		goto out;
	}
	have_fleet = r == 0;
	/* An unenroll between the load and the sync must win. */
	if (have_fleet) {
		if ((enrolled = fileio_join(c->home, ENROLLMENT_FILE)) ==
		    NULL) {
			cli_error(c, "out of memory");
			goto out;
		}
		o.require = enrolled;
	}
	code = sync_run(&o, &cat, have_fleet ? &fleet : NULL, revision);
	if (code == EXIT_NOT_ENROLLED)
		cli_error(c,
		          "%s was removed meanwhile (unenrolled); nothing "
		          "was written: run 'mcpfleet sync' again",
		          enrolled);
out:
	catalogue_clear(&cat);
	catalogue_clear(&fleet);
	free(enrolled);
	free(path);
	return code;
}

static int cli_enroll(const struct cli *c, int argc, char **argv)
{
	struct enrollment_opts o = {
	    .home = c->home,
	    .out = c->out,
	    .err = c->err,
	};

	if (argc != 2 || argv[1][0] == '-') {
		cli_error(c, "usage: mcpfleet enroll LINK (the "
		             "mcpfleet://HOST:PORT/enroll/TOKEN#ca=sha256:HEX "
		             "link your administrator gave you)");
		return EXIT_CONFIG;
	}
	return enrollment_enroll(&o, argv[1]);
}

/* Set by SIGTERM and SIGINT while "run" serves. */
static atomic_int cli_stop;

static void cli_on_signal(int sig)
{
	(void)sig;
	atomic_store(&cli_stop, 1);
}

static void cli_agent_opts(const struct cli *c, struct agent_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->home = c->home;
	o->env = c->env;
	o->out = c->out;
	o->err = c->err;
}

static int cli_run(const struct cli *c, int argc, char **argv)
{
	struct agent_opts o;
	struct sigaction sa;
	char *end;
	long long v;
	int i;

	cli_agent_opts(c, &o);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--renew-before") != 0)
			return cli_error(c, "run: unknown option '%s'",
			                 jsonutil_printable(argv[i]));
		if (i + 1 >= argc)
			return cli_error(c,
			                 "run: --renew-before needs a number "
			                 "of seconds");
		errno = 0;
		v = strtoll(argv[++i], &end, 10);
		if (errno != 0 || end == argv[i] || *end != '\0' || v < 1 ||
		    v > 36500LL * 86400)
			return cli_error(
			    c,
			    "run: --renew-before: '%s' is not 1 to "
			    "3153600000 seconds",
			    jsonutil_printable(argv[i]));
		o.renew_before_s = (int64_t)v;
	}
	o.stop = &cli_stop;
	/* No SA_RESTART: a signal should cut a wait short. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return cli_error(c, "run: cannot handle signals: %s",
		                 strerror(errno));
	return agent_run(&o);
}

/* "exec [--home DIR] NAME": what the hosts run for a launcher server. */
static int cli_exec(const struct cli *c, int argc, char **argv)
{
	struct exec_opts o = {
	    .home = c->home,
	    .env = c->env,
	    .in = 0,
	    .out = 1,
	    .err = c->err,
	};
	struct diag d;
	int i = 1;

	if (i + 1 < argc && strcmp(argv[i], "--home") == 0) {
		o.home = argv[i + 1];
		i += 2;
	}
	if (i + 1 != argc || argv[i][0] == '-') {
		cli_error(c, "usage: mcpfleet exec [--home DIR] NAME");
		return EXEC_EXIT_USAGE;
	}
	o.name = argv[i];
	if (server_name_check(o.name, &d) != 0) {
		cli_error(c, "exec: %s", d.msg);
		return EXEC_EXIT_USAGE;
	}
	/* Our stdout is the protocol: nothing else may be printed there. */
	return exec_run(&o);
}

static int cli_status(const struct cli *c, int argc, char **argv)
{
	struct agent_opts o;
	bool json = false;

	if (cli_switches(c, argc, argv, &json, NULL) != 0)
		return EXIT_CONFIG;
	cli_agent_opts(c, &o);
	return agent_status(&o, json);
}

static int cli_unenroll(const struct cli *c, int argc, char **argv)
{
	struct agent_opts o;
	struct enrollment e;
	struct diag d;
	int code;

	diag_clear(&d);
	if (cli_switches(c, argc, argv, NULL, NULL) != 0)
		return EXIT_CONFIG;
	if (!enrollment_exists(c->home)) {
		cli_error(c, "unenroll: not enrolled (no %s/%s)", c->home,
		          ENROLLMENT_FILE);
		return EXIT_NOT_ENROLLED;
	}
	/* A broken enrollment.json is still an enrollment to remove. */
	if (enrollment_load(c->home, &e, &d) != 0)
		(void)snprintf(e.device_id, sizeof(e.device_id), "%s",
		               "this device");
	cli_agent_opts(c, &o);
	code = agent_leave(&o, false);
	if (code == EXIT_CONFIG)
		return code;
	fprintf(c->out,
	        "unenrolled %s: fleet entries removed from the hosts, device "
	        "credentials deleted; a running 'mcpfleet run' stops by "
	        "itself\n",
	        e.device_id);
	return code;
}

int cli_main(const struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct cli *, int, char **);
	} commands[] = {
	    {"add", cli_add},           {"remove", cli_remove},
	    {"list", cli_list},         {"sync", cli_sync},
	    {"hosts", cli_hosts},       {"enroll", cli_enroll},
	    {"run", cli_run},           {"status", cli_status},
	    {"unenroll", cli_unenroll}, {"exec", cli_exec},
	};
	size_t i;

	if (argc < 1) {
		cli_usage(c->err);
		return EXIT_CONFIG;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0) {
		cli_usage(c->out);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "version") == 0 ||
	    strcmp(argv[0], "--version") == 0) {
		fprintf(c->out, "mcpfleet %s\n", CLI_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].fn(c, argc, argv);
	cli_error(c, "unknown command '%s' (see 'mcpfleet help')",
	          jsonutil_printable(argv[0]));
	return EXIT_CONFIG;
}
