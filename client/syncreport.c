/* SPDX-License-Identifier: MIT */
/* What a sync did, printed for people or as the stable --json report. */
#include "syncreport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "jsonutil.h"

/* "~/x" for a path under $HOME, for people. */
static const char *syncreport_pretty_path(const struct sync_opts *o,
                                          const char *path, char *buf,
                                          size_t size)
{
	const char *home = host_env_get(o->env, "HOME");
	size_t n;

	if (path == NULL)
		return "-";
	if (home == NULL || (n = strlen(home)) == 0 ||
	    strncmp(path, home, n) != 0 || path[n] != '/')
		return path;
	if ((size_t)snprintf(buf, size, "~%s", path + n) >= size)
		return path;
	return buf;
}

static char syncreport_op_mark(enum plan_op op)
{
	switch (op) {
	case PLAN_ADD:
		return '+';
	case PLAN_UPDATE:
		return '~';
	case PLAN_REMOVE:
		return '-';
	case PLAN_UNCHANGED:
		return '=';
	case PLAN_SKIP:
		return '.';
	case PLAN_CONFLICT:
		return '!';
	case PLAN_HELD:
		return '*';
	}
	return '?';
}

static void syncreport_human(const struct sync_opts *o,
                             const struct host_plan *p)
{
	char pbuf[4096];
	size_t i;

	fprintf(
	    o->out, "%-15s %s", p->adapter->id,
	    p->status == HOST_ABSENT
	        ? "absent"
	        : syncreport_pretty_path(o, p->loc.path, pbuf, sizeof(pbuf)));
	if (p->status == HOST_BLOCKED)
		fprintf(o->out, "\n  blocked: %s\n", p->message);
	else if (p->status == HOST_OK)
		fprintf(o->out, "%s\n",
		        p->changed
		            ? (o->dry_run ? "  (would change)" : "  (written)")
		            : "  (unchanged)");
	else
		fputc('\n', o->out);
	for (i = 0; i < p->nitems && p->status == HOST_OK; i++) {
		const struct plan_item *it = &p->items[i];

		fprintf(o->out, "  %c %-24s %s%s%s\n",
		        syncreport_op_mark(it->op), it->name,
		        plan_op_name(it->op), it->reason ? ": " : "",
		        it->reason ? it->reason : "");
	}
	/* The tool rules, when there are any, under their own file. */
	if (p->status == HOST_OK && p->filters != NULL &&
	    p->filters->status == HOST_OK && p->filters->nitems > 0) {
		fprintf(o->out, "  tool rules: %s",
		        syncreport_pretty_path(o, p->filters->loc.path, pbuf,
		                               sizeof(pbuf)));
		fprintf(o->out, " (%s)%s\n", p->adapter->filters->what,
		        p->filters->changed
		            ? (o->dry_run ? "  (would change)" : "  (written)")
		            : "  (unchanged)");
		for (i = 0; i < p->filters->nitems; i++) {
			const struct plan_item *it = &p->filters->items[i];

			fprintf(o->out, "    %c %-22s %s\n",
			        syncreport_op_mark(it->op), it->name,
			        plan_op_name(it->op));
		}
	}
}

static json_t *syncreport_host_json(const struct sync_opts *o,
                                    const struct host_plan *p)
{
	json_t *h, *actions, *warnings, *managed;
	size_t i;
	int bad = 0;

	h = json_object();
	actions = json_array();
	warnings = json_array();
	managed = json_array();
	if (h == NULL || actions == NULL || warnings == NULL ||
	    managed == NULL) {
		json_decref(h);
		json_decref(actions);
		json_decref(warnings);
		json_decref(managed);
		return NULL;
	}
	bad |= json_object_set_new(h, "host", json_string(p->adapter->id));
	bad |= json_object_set_new(h, "name", json_string(p->adapter->name));
	bad |= json_object_set_new(
	    h, "path", p->loc.path ? json_string(p->loc.path) : json_null());
	bad |= json_object_set_new(h, "status",
	                           json_string(host_status_name(p->status)));
	bad |= json_object_set_new(
	    h, "message", p->message ? json_string(p->message) : json_null());
	bad |= json_object_set_new(h, "changed",
	                           json_boolean(hostfile_changed(p)));
	bad |= json_object_set_new(h, "backup",
	                           p->backup_path ? json_string(p->backup_path)
	                                          : json_null());
	for (i = 0; i < p->nitems; i++)
		bad |= json_array_append_new(
		    actions,
		    json_pack("{s:s,s:s,s:s?}", "server", p->items[i].name,
		              "action", plan_op_name(p->items[i].op), "reason",
		              p->items[i].reason));
	bad |= json_object_set_new(h, "actions", actions);
	if (p->filters != NULL && p->filters->status == HOST_OK) {
		json_t *rules = json_array();

		for (i = 0; rules != NULL && i < p->filters->nitems; i++)
			bad |= json_array_append_new(
			    rules,
			    json_pack("{s:s,s:s}", "rule",
			              p->filters->items[i].name, "action",
			              plan_op_name(p->filters->items[i].op)));
		bad |= json_object_set_new(
		    h, "tool_rules",
		    json_pack("{s:s,s:s,s:b,s:o*}", "path",
		              p->filters->loc.path, "what",
		              p->adapter->filters->what, "changed",
		              p->filters->changed, "actions", rules));
	}
	for (i = 0; i < p->warnings.n; i++)
		bad |= json_array_append_new(warnings,
		                             json_string(p->warnings.v[i]));
	bad |= json_object_set_new(h, "warnings", warnings);
	for (i = 0; i < p->after.managed.n; i++)
		bad |= json_array_append_new(
		    managed, json_string(p->after.managed.v[i]));
	bad |= json_object_set_new(h, "managed", managed);
	(void)o;
	if (bad) {
		json_decref(h);
		return NULL;
	}
	return h;
}

/*
 * Prints warnings, then a blocked host's message (when not NULL), to the
 * error stream in one write: it is unbuffered, and a host can have a
 * hundred warnings (a filter no host file can hold, for each server).
 */
static void syncreport_warnings(const struct sync_opts *o, const struct strv *w,
                                const char *blocked)
{
	struct buf b = BUF_INIT;
	size_t i;
	int bad = 0;

	fflush(o->out);
	for (i = 0; i < w->n; i++)
		bad |= buf_printf(&b, "mcpfleet: warning: %s\n", w->v[i]);
	if (blocked != NULL)
		bad |= buf_printf(&b, "mcpfleet: %s\n", blocked);
	if (bad == 0 && b.len > 0)
		fwrite(b.data, 1, b.len, o->err);
	else if (bad != 0) /* out of memory: one line at a time */
		for (i = 0; i < w->n; i++)
			fprintf(o->err, "mcpfleet: warning: %s\n", w->v[i]);
	if (bad != 0 && blocked != NULL)
		fprintf(o->err, "mcpfleet: %s\n", blocked);
	buf_free(&b);
}

int syncreport_print(const struct sync_opts *o, const struct sync_report *r)
{
	json_t *report = NULL, *hosts = NULL, *warnings = NULL;
	size_t i;
	int bad = 0;
	char *s;

	if (o->quiet)
		return 0;
	if (!o->json) {
		if (r->warnings != NULL)
			syncreport_warnings(o, r->warnings, NULL);
		for (i = 0; i < r->n; i++) {
			const struct host_plan *p = &r->plans[i];

			syncreport_human(o, p);
			syncreport_warnings(
			    o, &p->warnings,
			    p->status == HOST_BLOCKED ? p->message : NULL);
		}
		if (o->dry_run)
			fprintf(o->out, "dry run: nothing was written\n");
		return 0;
	}
	report = json_object();
	hosts = json_array();
	warnings = json_array();
	bad |= report == NULL || hosts == NULL || warnings == NULL;
	for (i = 0; !bad && r->warnings != NULL && i < r->warnings->n; i++)
		bad |= json_array_append_new(warnings,
		                             json_string(r->warnings->v[i]));
	for (i = 0; !bad && i < r->n; i++) {
		json_t *h = syncreport_host_json(o, &r->plans[i]);

		bad |= h == NULL || json_array_append_new(hosts, h) != 0;
	}
	if (!bad) {
		bad |= json_object_set_new(report, "dry_run",
		                           json_boolean(o->dry_run));
		bad |= json_object_set_new(report, "exit",
		                           json_integer(r->exit_code));
		bad |= json_object_set_new(report, "warnings", warnings);
		bad |= json_object_set_new(report, "hosts", hosts);
		warnings = hosts = NULL;
	}
	s = bad ? NULL : jsonutil_dump_pretty(report, NULL);
	json_decref(report);
	json_decref(hosts);
	json_decref(warnings);
	if (s == NULL)
		return -ERR_NOMEM;
	fputs(s, o->out);
	free(s);
	return 0;
}
