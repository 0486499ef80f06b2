/* SPDX-License-Identifier: MIT */
/* A trivial MCP server on stdio, for the launcher's tests and benchmark:
 * newline-delimited JSON-RPC, answered at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/*
 * Tools: "echo" (returns its "text" argument), "big" (returns "bytes"
 * bytes of text, 10 MB by default), "fail" (a tool error, isError),
 * "delete_repo" and "env" (returns the value of the variable named by its
 * "name" argument: the tests check what reached the server). Also
 * resources/read and prompts/get of anything. MCP_STUB_EXIT=N makes it exit
 * with N at once (exit codes pass through the launcher).
 */
static void stub_answer(json_t *id, json_t *result)
{
	json_t *m = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id,
	                      "result", result);
	char *s = json_dumps(m, JSON_COMPACT);

	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
	json_decref(m);
}

static json_t *stub_text(const char *text, size_t len, int is_error)
{
	return json_pack("{s:[{s:s,s:s%}],s:b}", "content", "type", "text",
	                 "text", text, len, "isError", is_error);
}

static json_t *stub_tools(void)
{
	static const char *const names[] = {"echo", "big", "fail",
	                                    "delete_repo", "env"};
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_array_append_new(
		    a, json_pack("{s:s,s:s,s:{s:s,s:{}}}", "name", names[i],
		                 "description", "a test tool", "inputSchema",
		                 "type", "object", "properties"));
	return json_pack("{s:o}", "tools", a);
}

static void stub_call(json_t *id, json_t *params)
{
	const char *tool = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	const char *v;

	if (tool == NULL)
		tool = "";
	if (strcmp(tool, "big") == 0) {
		json_int_t n =
		    json_integer_value(json_object_get(args, "bytes"));
		size_t len = n > 0 ? (size_t)n : 10u << 20;
		char *ids = json_dumps(id, JSON_ENCODE_ANY);
		char *text = malloc(len);

		/* Written as it is, not through jansson: the benchmark
		 * measures the pipe, not this server. */
		memset(text, 'x', len);
		printf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{"
		       "\"content\":[{\"type\":\"text\",\"text\":\"",
		       ids);
		fwrite(text, 1, len, stdout);
		fputs("\"}],\"isError\":false}}\n", stdout);
		fflush(stdout);
		free(text);
		free(ids);
	} else if (strcmp(tool, "fail") == 0) {
		stub_answer(id, stub_text("it failed", 9, 1));
	} else if (strcmp(tool, "env") == 0) {
		v = getenv(
		    json_string_value(json_object_get(args, "name"))
		        ? json_string_value(json_object_get(args, "name"))
		        : "");
		stub_answer(id, stub_text(v ? v : "(unset)",
		                          strlen(v ? v : "(unset)"), 0));
	} else {
		v = json_string_value(json_object_get(args, "text"));
		stub_answer(id,
		            stub_text(v ? v : tool, strlen(v ? v : tool), 0));
	}
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (getenv("MCP_STUB_EXIT") != NULL)
		return (int)strtol(getenv("MCP_STUB_EXIT"), NULL, 10);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *m = json_loadb(line, (size_t)n, 0, NULL);
		const char *method =
		    json_string_value(json_object_get(m, "method"));
		json_t *id = json_object_get(m, "id");

		if (m == NULL || method == NULL || id == NULL) {
			json_decref(m);
			continue; /* notifications and answers */
		}
		if (strcmp(method, "initialize") == 0)
			stub_answer(id, json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}",
			                          "protocolVersion",
			                          "2025-06-18", "capabilities",
			                          "tools", "serverInfo", "name",
			                          "stub", "version", "1"));
		else if (strcmp(method, "tools/list") == 0)
			stub_answer(id, stub_tools());
		else if (strcmp(method, "tools/call") == 0)
			stub_call(id, json_object_get(m, "params"));
		else if (strcmp(method, "resources/read") == 0 ||
		         strcmp(method, "prompts/get") == 0)
			stub_answer(id, json_pack("{s:[]}", "contents"));
		else
			stub_answer(id, json_object());
		json_decref(m);
	}
	free(line);
	return 0;
}
