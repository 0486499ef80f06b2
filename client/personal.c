/* SPDX-License-Identifier: MIT */
/* The personal catalogue, $MCPFLEET_HOME/mcp.json. */
#include "personal.h"

#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "fileio.h"
#include "jsonutil.h"

#define PERSONAL_MAX_SIZE (16u << 20)

int personal_load(const char *path, struct catalogue *out, struct diag *d)
{
	struct catalogue_opts opts = {
	    .allow_secret_refs = false,
	    .host_known = adapter_known,
	};
	char *text = NULL, inner[sizeof(d->msg)];
	size_t len;
	int r;

	r = fileio_read(path, PERSONAL_MAX_SIZE, &text, &len);
	if (r == -ERR_NOENT) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (r != 0)
		return diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		                err_str(r));
	r = catalogue_parse(text, len, &opts, out, d);
	free(text);
	if (r != 0 && r != -ERR_NOMEM) {
		memcpy(inner, d->msg, sizeof(inner));
		if (d->line > 0)
			diag_set(d, r, d->line, d->col, "%s:%u:%u: %s", path,
			         d->line, d->col, inner);
		else
			diag_set(d, r, 0, 0, "%s: %s", path, inner);
	}
	return r;
}

int personal_save(const char *path, const struct catalogue *c)
{
	json_t *j = catalogue_to_json(c);
	char *text;
	size_t len;
	int r = 0;

	if (j == NULL)
		return -ERR_NOMEM;
	text = jsonutil_dump_pretty(j, &len);
	json_decref(j);
	if (text == NULL)
		return -ERR_NOMEM;
	if (fileio_write_atomic(path, text, len, 0600, 0) != 0)
		r = -ERR_IO;
	free(text);
	return r;
}
