#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job on the embedded default, in a sandbox home: build mcpfleet,
# give the sandbox the seven hosts (with some settings and a server of the
# user's own in their files), add two servers to the personal catalogue,
# sync, and show every host file. Nothing outside the sandbox is touched.
#   usage: scripts/demo.sh [SANDBOX_DIR]   (default /tmp/mcpfleet-demo)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sandbox=${1:-/tmp/mcpfleet-demo}

sh "$top/scripts/deps.sh"
build="${MCPFLEET_BUILD:-$top/build}"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target mcpfleet >/dev/null
mcpfleet="$build/mcpfleet"

case "$sandbox" in /*) ;; *) sandbox="$PWD/$sandbox" ;; esac
rm -rf "$sandbox"
mkdir -p "$sandbox/.claude" "$sandbox/.codex" "$sandbox/.factory" \
	"$sandbox/.cursor" "$sandbox/.gemini" "$sandbox/.config/opencode" \
	"$sandbox/.config/Claude"

# What the user already has: settings, comments, a server of their own.
cat >"$sandbox/.claude.json" <<'JSON'
{
  "numStartups": 12,
  "theme": "dark",
  "mcpServers": {
    "my-notes": { "type": "stdio", "command": "notes-mcp", "args": [], "env": {} }
  },
  "hasCompletedOnboarding": true
}
JSON
cat >"$sandbox/.codex/config.toml" <<'TOML'
# my Codex settings
model = "gpt-5-codex"

[tui]
notifications = true   # keep me
TOML
cat >"$sandbox/.gemini/settings.json" <<'JSONC'
{
  // Gemini CLI settings
  "security": { "folderTrust": { "enabled": false } }
}
JSONC
printf '{"mcpServers":{}}' >"$sandbox/.cursor/mcp.json"

run() {
	printf '\n$ mcpfleet %s\n' "$*"
	env -u CLAUDE_CONFIG_DIR -u CODEX_HOME -u GEMINI_CLI_HOME -u XDG_CONFIG_HOME \
		HOME="$sandbox" MCPFLEET_HOME="$sandbox/.mcpfleet" \
		DOCS_TOKEN=demo-token-123 "$mcpfleet" "$@"
}

echo "sandbox home: $sandbox"
run hosts
run add everything --command npx --arg -y --arg @modelcontextprotocol/server-everything
run add docs --url https://docs.example.com/mcp --header 'Authorization: Bearer ${DOCS_TOKEN}' \
	--tools-deny delete_page
run list
run sync || true

for f in .claude.json .config/Claude/claude_desktop_config.json .codex/config.toml \
	.factory/mcp.json .cursor/mcp.json .config/opencode/opencode.json .gemini/settings.json; do
	printf '\n===== ~/%s =====\n' "$f"
	cat "$sandbox/$f"
done

run sync
printf '\nThe second sync wrote nothing. Backups of the first: %s\n' \
	"$(cd "$sandbox" && find . -name '*.bak' | sort | tr '\n' ' ')"
