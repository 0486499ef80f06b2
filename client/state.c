/* SPDX-License-Identifier: MIT */
/* The agent's state.json. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fileio.h"
#include "jsonutil.h"

#define STATE_MAX_SIZE (4u << 20)

static int state_strv(const json_t *a, struct strv *out)
{
	size_t i;
	const json_t *v;
	int r;

	if (!json_is_array(a))
		return -ERR_INVALID;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return -ERR_INVALID;
		if ((r = strv_push(out, json_string_value(v))) != 0)
			return r;
	}
	return 0;
}

/*
 * Reads one host's state (id names it in messages) into *hs, which the
 * caller clears. inputs is the table of the hosts' inputs (a host names
 * its own by index: most hosts have the same).
 */
static int state_host_parse(const char *id, const json_t *o,
                            const json_t *inputs, struct host_state *out,
                            struct diag *d)
{
	struct host_state hs = {0};
	const json_t *v, *stamp;
	int r;

	if (!json_is_object(o))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "hosts.%s: must be an object",
		                jsonutil_printable(id));
	v = json_object_get(o, "path");
	if (!json_is_string(v) ||
	    (hs.path = strdup(json_string_value(v))) == NULL) {
		r = json_is_string(v)
		        ? -ERR_NOMEM
		        : diag_set(d, ERR_INVALID, 0, 0,
		                   "hosts.%s.path: must be a string",
		                   jsonutil_printable(id));
		goto fail;
	}
	if ((r = state_strv(json_object_get(o, "managed"), &hs.managed)) != 0) {
		if (r == -ERR_INVALID)
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "hosts.%s.managed: must be an array of "
			             "names",
			             jsonutil_printable(id));
		goto fail;
	}
	v = json_object_get(o, "written");
	if (v != NULL) {
		const char *k;
		json_t *val;

		if (!json_is_object(v)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "hosts.%s.written: must be an object of "
			             "names to digests",
			             jsonutil_printable(id));
			goto fail;
		}
		json_object_foreach((json_t *)(uintptr_t)v, k, val)
		{
			if (!json_is_string(val))
				continue; /* a digest is only a hint */
			if ((r = kvlist_push(&hs.written, k,
			                     json_string_value(val))) != 0)
				goto fail;
		}
	}
	v = json_object_get(o, "inputs");
	v = json_is_integer(v) && json_integer_value(v) >= 0
	        ? json_array_get(inputs, (size_t)json_integer_value(v))
	        : NULL;
	/* A hint, as the stamp is: one that does not fit is none. */
	if (json_is_string(v) &&
	    json_string_length(v) == hs.managed.n * HOSTFILE_INPUT_HEX &&
	    strspn(json_string_value(v), "0123456789abcdef-") ==
	        json_string_length(v) &&
	    hs.managed.n > 0 &&
	    (hs.inputs = strdup(json_string_value(v))) == NULL) {
		r = -ERR_NOMEM;
		goto fail;
	}
	hs.created_container =
	    json_is_true(json_object_get(o, "created_container"));
	hs.created_file = json_is_true(json_object_get(o, "created_file"));
	stamp = json_object_get(o, "stamp");
	if (json_is_object(stamp)) {
		const json_t *dg = json_object_get(stamp, "digest");

		if (json_is_string(dg) && json_string_length(dg) == 64) {
			hs.stamp.valid = true;
			memcpy(hs.stamp.digest, json_string_value(dg), 65);
			hs.stamp.dev = (uint64_t)json_integer_value(
			    json_object_get(stamp, "dev"));
			hs.stamp.ino = (uint64_t)json_integer_value(
			    json_object_get(stamp, "ino"));
			hs.stamp.size = (uint64_t)json_integer_value(
			    json_object_get(stamp, "size"));
			hs.stamp.mtime_ns = json_integer_value(
			    json_object_get(stamp, "mtime_ns"));
			hs.stamp.ctime_ns = json_integer_value(
			    json_object_get(stamp, "ctime_ns"));
			dg = json_object_get(stamp, "text");
			/* A hint too: one that does not fit is none. */
			if (json_is_string(dg) &&
			    json_string_length(dg) ==
			        sizeof(hs.stamp.text) - 1 &&
			    strspn(json_string_value(dg), "0123456789abcdef") ==
			        sizeof(hs.stamp.text) - 1)
				memcpy(hs.stamp.text, json_string_value(dg),
				       sizeof(hs.stamp.text));
		}
	}
	v = json_object_get(o, "filters");
	if (v != NULL) {
		char sub[300];

		(void)snprintf(sub, sizeof(sub), "%s.filters", id);
		if ((hs.filters = calloc(1, sizeof(*hs.filters))) == NULL) {
			r = -ERR_NOMEM;
			goto fail;
		}
		if ((r = state_host_parse(sub, v, inputs, hs.filters, d)) != 0)
			goto fail;
	}
	*out = hs;
	return 0;
fail:
	host_state_clear(&hs);
	return r;
}

static int state_host_from_json(const char *id, const json_t *o,
                                const json_t *inputs, struct agent_state *st,
                                struct diag *d)
{
	struct host_state hs = {0};
	int r;

	if ((r = state_host_parse(id, o, inputs, &hs, d)) == 0 &&
	    (r = state_put(st, id, &hs)) != 0)
		host_state_clear(&hs);
	return r;
}

int state_load(const char *path, struct agent_state *out, struct diag *d)
{
	struct agent_state st = {0};
	json_error_t je;
	json_t *root = NULL, *hosts, *v;
	const char *key;
	char *text = NULL;
	size_t len;
	int r;

	r = fileio_read(path, STATE_MAX_SIZE, &text, &len);
	if (r == -ERR_NOENT) {
		*out = st;
		return 0;
	}
	if (r != 0)
		return diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		                err_str(r));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		r = diag_set(d, ERR_PARSE, (unsigned)je.line,
		             (unsigned)je.column, "%s:%d:%d: %s", path, je.line,
		             je.column, je.text);
		goto out;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: version: must be %d",
		             path, STATE_VERSION);
		goto out;
	}
	st.revision =
	    (uint64_t)json_integer_value(json_object_get(root, "revision"));
	st.last_sync = json_integer_value(json_object_get(root, "last_sync"));
	st.pending = json_is_true(json_object_get(root, "pending"));
	hosts = json_object_get(root, "hosts");
	if (hosts != NULL && !json_is_object(hosts)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: hosts: must be an object", path);
		goto out;
	}
	json_object_foreach(hosts, key, v)
	{
		if ((r = state_host_from_json(key, v,
		                              json_object_get(root, "inputs"),
		                              &st, d)) != 0) {
			if (r != -ERR_NOMEM) {
				char inner[sizeof(d->msg)];

				memcpy(inner, d->msg, sizeof(inner));
				r = diag_set(d, r, 0, 0, "%s: %s", path, inner);
			}
			goto out;
		}
	}
	*out = st;
	memset(&st, 0, sizeof(st));
out:
	state_clear(&st);
	json_decref(root);
	free(text);
	return r;
}

/* The index of text in the table of inputs, added when new; -1 on ENOMEM. */
static json_int_t state_input_index(json_t *table, const char *text)
{
	size_t i;

	for (i = 0; i < json_array_size(table); i++)
		if (strcmp(json_string_value(json_array_get(table, i)), text) ==
		    0)
			return (json_int_t)i;
	if (json_array_append_new(table, json_string(text)) != 0)
		return -1;
	return (json_int_t)json_array_size(table) - 1;
}

static json_t *state_host_json(const struct host_state *hs, json_t *inputs)
{
	json_t *o = json_object(), *m = json_array(), *stamp;
	size_t i;
	int bad = 0;

	if (o == NULL || m == NULL) {
		json_decref(o);
		json_decref(m);
		return NULL;
	}
	bad |= json_object_set_new(o, "path",
	                           json_string(hs->path ? hs->path : ""));
	for (i = 0; i < hs->managed.n; i++)
		bad |= json_array_append_new(m, json_string(hs->managed.v[i]));
	bad |= json_object_set_new(o, "managed", m);
	if (hs->written.n > 0) {
		json_t *w = json_object();

		bad |= w == NULL;
		for (i = 0; w != NULL && i < hs->written.n; i++)
			bad |= json_object_set_new(
			    w, hs->written.v[i].key,
			    json_string(hs->written.v[i].value));
		if (w != NULL)
			bad |= json_object_set_new(o, "written", w);
	}
	if (hs->inputs != NULL) {
		json_int_t k = state_input_index(inputs, hs->inputs);

		bad |= k < 0 ||
		       json_object_set_new(o, "inputs", json_integer(k)) != 0;
	}
	bad |= json_object_set_new(o, "created_container",
	                           json_boolean(hs->created_container));
	bad |= json_object_set_new(o, "created_file",
	                           json_boolean(hs->created_file));
	if (hs->stamp.valid) {
		stamp = json_pack(
		    "{s:I,s:I,s:I,s:I,s:I,s:s}", "dev",
		    (json_int_t)hs->stamp.dev, "ino", (json_int_t)hs->stamp.ino,
		    "size", (json_int_t)hs->stamp.size, "mtime_ns",
		    (json_int_t)hs->stamp.mtime_ns, "ctime_ns",
		    (json_int_t)hs->stamp.ctime_ns, "digest", hs->stamp.digest);
		if (stamp != NULL && hs->stamp.text[0] != '\0')
			bad |= json_object_set_new(stamp, "text",
			                           json_string(hs->stamp.text));
		bad |= json_object_set_new(o, "stamp", stamp);
	}
	if (hs->filters != NULL)
		bad |= json_object_set_new(
		    o, "filters", state_host_json(hs->filters, inputs));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int state_save(const char *path, const struct agent_state *st)
{
	json_t *root, *hosts, *inputs;
	char *text = NULL;
	size_t i, len;
	int r = 0, bad = 0;

	root = json_object();
	hosts = json_object();
	inputs = json_array();
	if (root == NULL || hosts == NULL || inputs == NULL) {
		json_decref(root);
		json_decref(hosts);
		json_decref(inputs);
		return -ERR_NOMEM;
	}
	bad |=
	    json_object_set_new(root, "version", json_integer(STATE_VERSION));
	bad |= json_object_set_new(root, "revision",
	                           json_integer((json_int_t)st->revision));
	bad |= json_object_set_new(root, "last_sync",
	                           json_integer((json_int_t)st->last_sync));
	if (st->pending)
		bad |= json_object_set_new(root, "pending", json_true());
	for (i = 0; i < st->n; i++)
		bad |= json_object_set_new(
		    hosts, st->hosts[i].id,
		    state_host_json(&st->hosts[i].st, inputs));
	bad |= json_object_set_new(root, "hosts", hosts);
	if (json_array_size(inputs) > 0)
		bad |= json_object_set_new(root, "inputs", inputs);
	else
		json_decref(inputs);
	if (bad || (text = jsonutil_dump_pretty(root, &len)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	(void)fileio_clean_temps(path);
	if (fileio_write_atomic(path, text, len, 0600, FILEIO_FORCE_MODE) != 0)
		r = -ERR_IO;
out:
	free(text);
	json_decref(root);
	return r;
}

const struct host_state *state_get(const struct agent_state *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (strcmp(st->hosts[i].id, id) == 0)
			return &st->hosts[i].st;
	return NULL;
}

int state_put(struct agent_state *st, const char *id, struct host_state *hs)
{
	struct state_host *v;
	size_t i;
	char *cid;

	for (i = 0; i < st->n; i++)
		if (strcmp(st->hosts[i].id, id) == 0) {
			host_state_clear(&st->hosts[i].st);
			st->hosts[i].st = *hs;
			memset(hs, 0, sizeof(*hs));
			return 0;
		}
	if ((cid = strdup(id)) == NULL)
		return -ERR_NOMEM;
	if ((v = realloc(st->hosts, (st->n + 1) * sizeof(*v))) == NULL) {
		free(cid);
		return -ERR_NOMEM;
	}
	st->hosts = v;
	v[st->n].id = cid;
	v[st->n].st = *hs;
	st->n++;
	memset(hs, 0, sizeof(*hs));
	return 0;
}

void state_clear(struct agent_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++) {
		free(st->hosts[i].id);
		host_state_clear(&st->hosts[i].st);
	}
	free(st->hosts);
	memset(st, 0, sizeof(*st));
}
