/* SPDX-License-Identifier: MIT */
/* Realistic host files and catalogues for the crash test and the benchmark. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fileio.h"

const char *const fixture_host_files[] = {
    ".claude.json",          ".config/Claude/claude_desktop_config.json",
    ".codex/config.toml",    ".factory/mcp.json",
    ".cursor/mcp.json",      ".config/opencode/opencode.json",
    ".gemini/settings.json", NULL,
};

char *fixture_claude_json(size_t size, size_t *len)
{
	struct buf b = BUF_INIT;
	unsigned p = 0, h;

	buf_puts(&b, "{\n  \"numStartups\": 1234,\n  \"installMethod\": "
	             "\"npm-global\",\n  \"autoUpdates\": true,\n"
	             "  \"tipsHistory\": {\"memory-command\": 37, "
	             "\"ratio\": 1.0e3},\n"
	             "  \"mcpServers\": {\n    \"my-notes\": {\"type\": "
	             "\"stdio\", \"command\": \"notes-mcp\", \"args\": [], "
	             "\"env\": {}}\n  },\n  \"projects\": {\n");
	while (b.len + 4096 < size) {
		buf_printf(&b,
		           "%s    \"/home/dev/src/project-%u\": {\n"
		           "      \"allowedTools\": [\"Bash(git status)\", "
		           "\"Edit\"],\n      \"history\": [\n",
		           p ? ",\n" : "", p);
		for (h = 0; h < 24 && b.len + 512 < size; h++)
			buf_printf(&b,
			           "        {\"display\": \"refactor the "
			           "caf\\u00e9 module, step %u of the plan "
			           "\\ud83d\\ude00 \\\"quoted\\\" and a long "
			           "tail of text to be realistic\", "
			           "\"pastedContents\": {}}%s\n",
			           h, h + 1 < 24 ? "," : "");
		buf_printf(&b,
		           "      ],\n      \"mcpServers\": {},\n"
		           "      \"hasTrustDialogAccepted\": true,\n"
		           "      \"lastCost\": 0.%04u,\n"
		           "      \"lastDuration\": %u\n    }",
		           p * 37 % 10000, 1000 + p * 13);
		p++;
	}
	buf_puts(&b, "\n  },\n  \"hasCompletedOnboarding\": true\n}\n");
	if (len != NULL)
		*len = b.len;
	return buf_steal(&b, NULL);
}

char *fixture_catalogue(const char *prefix, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_puts(&b, "{\"version\": 1, \"servers\": {\n");
	for (i = 0; i < n; i++) {
		if (i % 3 == 2)
			buf_printf(&b,
			           "  \"%s-%zu\": {\"url\": "
			           "\"https://mcp%zu.example.com/%s\", "
			           "\"headers\": {\"Authorization\": \"Bearer "
			           "tok-%s-%zu\"}, \"tools\": {\"deny\": "
			           "[\"delete\"]}}",
			           prefix, i, i, prefix, prefix, i);
		else
			buf_printf(
			    &b,
			    "  \"%s-%zu\": {\"command\": \"npx\", "
			    "\"args\": [\"-y\", \"@example/server-%zu\", "
			    "\"--root\", \"/srv/%s\"], \"env\": "
			    "{\"LOG_LEVEL\": \"info\", \"ID\": "
			    "\"%s-%zu\"}}",
			    prefix, i, i, prefix, prefix, i);
		buf_puts(&b, i + 1 < n ? ",\n" : "\n");
	}
	buf_puts(&b, "}}\n");
	return buf_steal(&b, NULL);
}

static int fixture_put(const char *home, const char *rel, const char *text,
                       size_t len)
{
	char *p = fileio_join(home, rel), *dir;
	int r;

	if (p == NULL || (dir = fileio_dirname(p)) == NULL) {
		free(p);
		return -1;
	}
	r = fileio_mkdirs(dir, 0755) == 0 &&
	            fileio_write_atomic(p, text, len, 0644, 0) == 0
	        ? 0
	        : -1;
	free(dir);
	free(p);
	return r;
}

int fixture_sandbox(const char *home, size_t claude_size)
{
	static const struct {
		const char *rel;
		const char *text;
	} files[] = {
	    {".config/Claude/claude_desktop_config.json",
	     "{\n  \"preferences\": {\"sidebarMode\": \"chat\"},\n"
	     "  \"mcpServers\": {}\n}\n"},
	    {".codex/config.toml",
	     "# my codex settings\nmodel = \"gpt-5-codex\"\n\n"
	     "[projects.\"/home/dev/src\"]\ntrust_level = \"trusted\"\n"},
	    {".factory/mcp.json", "{\n  \"mcpServers\": {}\n}\n"},
	    {".cursor/mcp.json", "{\"mcpServers\":{}}"},
	    {".config/opencode/opencode.json",
	     "{\n  \"$schema\": \"https://opencode.ai/config.json\",\n"
	     "  \"theme\": \"tokyonight\"\n}\n"},
	    {".gemini/settings.json",
	     "{\n  // mine\n  \"security\": {\"folderTrust\": "
	     "{\"enabled\": false}}\n}\n"},
	    /* cn's own config (mcpfleet edits it, never creates it). */
	    {".continue/config.yaml",
	     "name: my config\nversion: 0.0.1\nschema: v1\n\nmodels:\n"
	     "  - name: gpt\n    provider: openai\n    model: gpt-5\n"
	     "    apiKey: ${{ secrets.OPENAI_API_KEY }}\n"},
	};
	char *claude;
	size_t i, len;
	int r;

	if ((claude = fixture_claude_json(claude_size, &len)) == NULL)
		return -1;
	r = fixture_put(home, ".claude.json", claude, len);
	free(claude);
	for (i = 0; r == 0 && i < sizeof(files) / sizeof(files[0]); i++)
		r = fixture_put(home, files[i].rel, files[i].text,
		                strlen(files[i].text));
	return r;
}
