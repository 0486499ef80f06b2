/* SPDX-License-Identifier: MIT */
/* The server-entry flags shared by the agent and the admin CLI. */
#include "serverflags.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "rate.h"

/* Appends the comma-separated items of list to the array at o[key]. */
static int serverflags_list(json_t *o, const char *key, const char *list)
{
	json_t *a = json_object_get(o, key);
	const char *p = list, *comma;

	if (a == NULL) {
		if ((a = json_array()) == NULL ||
		    json_object_set_new(o, key, a) != 0)
			return -ERR_NOMEM;
	}
	for (;;) {
		size_t n;

		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0 && json_array_append_new(a, json_stringn(p, n)) != 0)
			return -ERR_NOMEM;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int serverflags_map(json_t *root, const char *key, const char *k,
                           size_t klen, const char *v)
{
	json_t *o = json_object_get(root, key);
	char *name;
	int r;

	if (o == NULL) {
		if ((o = json_object()) == NULL ||
		    json_object_set_new(root, key, o) != 0)
			return -ERR_NOMEM;
	}
	if ((name = strndup(k, klen)) == NULL)
		return -ERR_NOMEM;
	r = json_object_set_new(o, name, json_string(v)) == 0 ? 0 : -ERR_NOMEM;
	free(name);
	return r;
}

int serverflags_parse(int argc, char **argv, json_t **out, struct diag *d)
{
	static const char *const with_value[] = {
	    "--command", "--arg",  "--url",         "--type",       "--header",
	    "--env",     "--host", "--tools-allow", "--tools-deny", "--json",
	    "--via",     "--rate", "--tool-rate",
	};
	json_t *o = json_object(), *tools = NULL;
	bool json_given = false, other_given = false;
	int i, r = 0;

	if (o == NULL)
		return -ERR_NOMEM;
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char flag[32];
		size_t flen, k;
		bool takes = false;

		eq = strchr(arg, '=');
		flen = eq && strncmp(arg, "--", 2) == 0 ? (size_t)(eq - arg)
		                                        : strlen(arg);
		if (flen >= sizeof(flag)) {
			r = diag_set(d, ERR_USAGE, 0, 0, "unknown option '%s'",
			             jsonutil_printable(arg));
			goto fail;
		}
		memcpy(flag, arg, flen);
		flag[flen] = '\0';
		for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (strcmp(flag, with_value[k]) == 0)
				takes = true;
		if (takes) {
			if (eq != NULL && strncmp(arg, "--", 2) == 0)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				r = diag_set(d, ERR_USAGE, 0, 0,
				             "option %s needs a value", flag);
				goto fail;
			}
		} else if (strcmp(flag, "--disabled") != 0) {
			r = diag_set(d, ERR_USAGE, 0, 0, "unknown option '%s'",
			             jsonutil_printable(arg));
			goto fail;
		}
		if (strcmp(flag, "--json") == 0) {
			json_error_t je;
			json_t *j =
			    json_loads(val, JSON_REJECT_DUPLICATES, &je);

			if (j == NULL || !json_is_object(j)) {
				r = diag_set(d, ERR_USAGE, 0, 0, "--json: %s",
				             j ? "must be one JSON object"
				               : je.text);
				json_decref(j);
				goto fail;
			}
			json_decref(o);
			o = j;
			json_given = true;
			continue;
		}
		other_given = true;
		if (strcmp(flag, "--command") == 0 ||
		    strcmp(flag, "--url") == 0 || strcmp(flag, "--type") == 0) {
			if (json_object_get(o, flag + 2) != NULL) {
				r = diag_set(d, ERR_USAGE, 0, 0,
				             "%s given twice", flag);
				goto fail;
			}
			r = json_object_set_new(o, flag + 2, json_string(val));
		} else if (strcmp(flag, "--arg") == 0) {
			json_t *a = json_object_get(o, "args");

			if (a == NULL &&
			    ((a = json_array()) == NULL ||
			     json_object_set_new(o, "args", a) != 0))
				r = -ERR_NOMEM;
			else
				r = json_array_append_new(a, json_string(val));
		} else if (strcmp(flag, "--host") == 0) {
			r = serverflags_list(o, "hosts", val);
		} else if (strcmp(flag, "--env") == 0) {
			const char *e = strchr(val, '=');

			if (e == NULL || e == val) {
				r = diag_set(d, ERR_USAGE, 0, 0,
				             "--env '%s': expected NAME=VALUE",
				             jsonutil_printable(val));
				goto fail;
			}
			r = serverflags_map(o, "env", val, (size_t)(e - val),
			                    e + 1);
		} else if (strcmp(flag, "--header") == 0) {
			const char *c = strchr(val, ':');
			const char *v;

			if (c == NULL || c == val) {
				r = diag_set(d, ERR_USAGE, 0, 0,
				             "--header '%s': expected 'Name: "
				             "value'",
				             jsonutil_printable(val));
				goto fail;
			}
			for (v = c + 1; *v == ' ' || *v == '\t'; v++)
				;
			r = serverflags_map(o, "headers", val,
			                    (size_t)(c - val), v);
		} else if (strcmp(flag, "--disabled") == 0) {
			r = json_object_set_new(o, "disabled", json_true());
		} else if (strcmp(flag, "--via") == 0 ||
		           strcmp(flag, "--rate") == 0) {
			/* Checked with the whole entry (catalogue.c). */
			r = json_object_set_new(o, flag + 2, json_string(val));
		} else if (strcmp(flag, "--tool-rate") == 0) {
			struct tool_rate tr = {0};
			char text[RATE_TEXT_MAX];

			if ((r = tool_rate_parse("--tool-rate", val, &tr, d)) !=
			    0) {
				r = -ERR_USAGE;
				goto fail;
			}
			r = serverflags_map(o, "tool_rates", tr.tools,
			                    strlen(tr.tools),
			                    rate_format(&tr.rate, text));
			tool_rate_clear(&tr);
		} else {
			/* --tools-allow / --tools-deny */
			if (tools == NULL &&
			    ((tools = json_object()) == NULL ||
			     json_object_set_new(o, "tools", tools) != 0)) {
				r = -ERR_NOMEM;
				goto fail;
			}
			r = serverflags_list(tools,
			                     strcmp(flag, "--tools-allow") == 0
			                         ? "allow"
			                         : "deny",
			                     val);
		}
		if (r != 0) {
			r = r < 0 ? r : -ERR_NOMEM;
			goto fail;
		}
	}
	if (json_given && other_given) {
		r = diag_set(d, ERR_USAGE, 0, 0,
		             "--json gives the whole entry: no other option "
		             "goes with it");
		goto fail;
	}
	if (!json_given && !other_given) {
		r = diag_set(d, ERR_USAGE, 0, 0,
		             "give --command CMD or --url URL (or --json "
		             "'{...}')");
		goto fail;
	}
	*out = o;
	return 0;
fail:
	json_decref(o);
	return r;
}
