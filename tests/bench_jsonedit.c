/* SPDX-License-Identifier: MIT */
/* Measures jsonedit's parse and edit speed on a synthetic ~/.claude.json of
 * about 5 MB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonedit.h"

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ~/.claude.json lookalike: projects with long prompt histories. */
static char *bench_make(size_t target, size_t *len)
{
	static const char *words[] = {
	    "refactor", "the",        "parser", "so",         "that",
	    "it",       "handles",    "naïve",  "unicode",    "—",
	    "and",      "\"quoted\"", "paths",  "C:\\tmp\\x", "日本語",
	    "tests",    "fail",       "when",   "building",   "with\ttabs"};
	json_t *root = json_object(), *projects = json_object(), *p, *hist, *e;
	char name[64], text[2048];
	size_t o, w, i = 0, k;
	char *s;

	json_object_set_new(root, "numStartups", json_integer(412));
	json_object_set_new(root, "installMethod", json_string("npm"));
	json_object_set_new(root, "autoUpdates", json_true());
	json_object_set_new(
	    root, "userID",
	    json_string("4b6f3c0e9d1a2f7e8c5b4a3d2e1f0a9b8c7d6e5f"
	                "4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"));
	json_object_set_new(root, "projects", projects);
	for (;;) {
		s = json_dumps(root, JSON_INDENT(2));
		o = strlen(s);
		free(s);
		if (o >= target)
			break;
		for (k = 0; k < 20; k++, i++) {
			snprintf(name, sizeof(name),
			         "/home/dev/src/project-%zu", i);
			p = json_object();
			json_object_set_new(p, "allowedTools", json_array());
			hist = json_array();
			for (w = 0; w < 12; w++) {
				size_t t = 0, n = 20 + (i * 7 + w * 13) % 200;

				while (n-- > 0 && t + 40 < sizeof(text)) {
					const char *x = words[(i + w + n) % 20];

					t += (size_t)snprintf(text + t,
					                      sizeof(text) - t,
					                      "%s ", x);
				}
				e = json_object();
				json_object_set_new(e, "display",
				                    json_string(text));
				json_object_set_new(e, "pastedContents",
				                    json_object());
				json_array_append_new(hist, e);
			}
			json_object_set_new(p, "history", hist);
			json_object_set_new(p, "mcpContextUris", json_array());
			json_object_set_new(p, "mcpServers", json_object());
			json_object_set_new(p, "enabledMcpjsonServers",
			                    json_array());
			json_object_set_new(p, "hasTrustDialogAccepted",
			                    json_true());
			json_object_set_new(p, "lastCost",
			                    json_real(0.4237 * (double)i));
			json_object_set_new(p, "lastDuration",
			                    json_integer(123456 + (int)i));
			json_object_set_new(projects, name, p);
		}
	}
	json_object_set_new(root, "mcpServers", json_object());
	s = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	*len = strlen(s);
	return s;
}

int main(int argc, char **argv)
{
	const char *path[] = {"mcpServers"}, *newpath[] = {"newServers"};
	struct jdoc *doc = NULL, *again;
	struct diag d;
	struct jedit e;
	json_t *v;
	double t0, best = 1e9, ebest = 1e9, dt;
	size_t len, outlen;
	char *text, *out;
	int i, iters = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 50;

	text = bench_make(5u << 20, &len);
	for (i = 0; i < iters; i++) {
		t0 = bench_now();
		if (jdoc_parse(text, len, 0, &doc, &d) != 0) {
			fprintf(stderr, "parse: %u:%u %s\n", d.line, d.col,
			        d.msg);
			return 1;
		}
		dt = bench_now() - t0;
		if (dt < best)
			best = dt;
		if (i + 1 < iters)
			jdoc_free(doc);
	}
	printf("parse: %zu bytes in %.2f ms: %.0f MB/s\n", len, best * 1e3,
	       (double)len / best / 1e6);
	v = json_pack("{s:s,s:[ss]}", "command", "npx", "args", "-y",
	              "@modelcontextprotocol/server-everything");
	e.name = "everything";
	e.value = v;
	for (i = 0; i < iters; i++) {
		t0 = bench_now();
		if (jdoc_edit(doc, path, 1, &e, 1, 0, &out, &outlen, &d) != 0) {
			fprintf(stderr, "edit: %s\n", d.msg);
			return 1;
		}
		dt = bench_now() - t0;
		if (dt < ebest)
			ebest = dt;
		if (i + 1 < iters)
			free(out);
	}
	printf("edit of mcpServers (splice + check): %.2f ms\n", ebest * 1e3);
	free(out);
	ebest = 1e9;
	for (i = 0; i < iters; i++) {
		t0 = bench_now();
		if (jdoc_edit(doc, newpath, 1, &e, 1, 0, &out, &outlen, &d) !=
		    0) {
			fprintf(stderr, "edit: %s\n", d.msg);
			return 1;
		}
		dt = bench_now() - t0;
		if (dt < ebest)
			ebest = dt;
		if (i + 1 < iters)
			free(out);
	}
	printf("edit creating a root member (whole root checked): %.2f ms\n",
	       ebest * 1e3);
	t0 = bench_now();
	if (jdoc_parse(out, outlen, 0, &again, &d) != 0)
		return 1;
	printf("parse of the result: %.2f ms\n", (bench_now() - t0) * 1e3);
	jdoc_free(again);
	free(out);
	json_decref(v);
	jdoc_free(doc);
	free(text);
	return 0;
}
