#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job on the embedded default, in a sandbox: build mcpfleet, start a
# local mcpfleetd (SQLite store, on 127.0.0.1), add a user, servers, a secret
# and grants with mcpfleetctl, enroll an agent in a sandbox home whose seven
# hosts already hold some settings and a server of the user's own, run it,
# show the host files, push a new server org-wide, then revoke the device and
# show that only the fleet's entries went. Nothing outside the sandbox is
# touched, and every process it starts is stopped at the end.
#   usage: scripts/demo.sh [SANDBOX_DIR]   (default /tmp/mcpfleet-demo)
#   MCPFLEET_DEMO_PORTS="AGENT API"        (default "17443 17444")
#   MCPFLEET_BUILD=DIR                     (the build tree, default build/)
#   MCPFLEET_DEMO_BUILT=1                  (use DIR's binaries as they are:
#                                           no packages, no cmake; the test
#                                           suite's way)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sandbox=${1:-/tmp/mcpfleet-demo}
ports=${MCPFLEET_DEMO_PORTS:-17443 17444}
agent_port=${ports% *}
api_port=${ports#* }

build="${MCPFLEET_BUILD:-$top/build}"
if [ "${MCPFLEET_DEMO_BUILT:-0}" != 1 ]; then
	sh "$top/scripts/deps.sh"
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
		--target mcpfleet mcpfleetd mcpfleetctl >/dev/null
fi
mcpfleet="$build/mcpfleet"
mcpfleetd="$build/mcpfleetd"
mcpfleetctl="$build/mcpfleetctl"

case "$sandbox" in /*) ;; *) sandbox="$PWD/$sandbox" ;; esac
rm -rf "$sandbox"
data="$sandbox/server"
home="$sandbox/home"
mkdir -p "$home/.claude" "$home/.codex" "$home/.factory" \
	"$home/.cursor" "$home/.gemini" "$home/.config/opencode" \
	"$home/.config/Claude"

# What the user already has: settings, comments, a server of their own.
cat >"$home/.claude.json" <<'JSON'
{
  "numStartups": 12,
  "theme": "dark",
  "mcpServers": {
    "my-notes": { "type": "stdio", "command": "notes-mcp", "args": [], "env": {} }
  },
  "hasCompletedOnboarding": true
}
JSON
cat >"$home/.codex/config.toml" <<'TOML'
# my Codex settings
model = "gpt-5-codex"

[tui]
notifications = true   # keep me
TOML
cat >"$home/.gemini/settings.json" <<'JSONC'
{
  // Gemini CLI settings
  "security": { "folderTrust": { "enabled": false } }
}
JSONC
printf '{"mcpServers":{}}' >"$home/.cursor/mcp.json"

server_pid=""
agent_pid=""
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\n### %s\n' "$*"; }
# The agent's environment: the sandbox home and nothing that relocates a host.
agent() {
	env -u CLAUDE_CONFIG_DIR -u CODEX_HOME -u GEMINI_CLI_HOME -u XDG_CONFIG_HOME \
		HOME="$home" MCPFLEET_HOME="$home/.mcpfleet" "$mcpfleet" "$@"
}
ctl() {
	printf '$ mcpfleetctl %s\n' "$*"
	"$mcpfleetctl" "$@"
}
show_hosts() {
	for f in .claude.json .config/Claude/claude_desktop_config.json .codex/config.toml \
		.factory/mcp.json .cursor/mcp.json .config/opencode/opencode.json .gemini/settings.json; do
		printf '\n===== ~/%s =====\n' "$f"
		cat "$home/$f" 2>/dev/null || echo "(absent)"
	done
}
# Waits (at most 20 s) until the agent has applied a revision above $1.
wait_applied() {
	i=0
	while [ $i -lt 200 ]; do
		rev=$(agent status --json 2>/dev/null |
			sed -n 's/^  "revision": *\([0-9]*\).*/\1/p' | head -1)
		[ -n "$rev" ] && [ "$rev" -gt "$1" ] && { echo "$rev"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	echo "the agent did not apply a new revision within 20 s" >&2
	return 1
}

say "a local control plane: mcpfleetd init + serve (data in $data)"
"$mcpfleetd" init --data "$data" --listen 127.0.0.1 --name 127.0.0.1 \
	--agent-port "$agent_port" --api-port "$api_port" | tee "$sandbox/init.txt"
"$mcpfleetd" serve --data "$data" -v 2>"$sandbox/mcpfleetd.log" &
server_pid=$!
export MCPFLEET_SERVER="https://127.0.0.1:$api_port" MCPFLEET_CA="$data/ca.crt"
MCPFLEET_TOKEN=$(sed -n '/admin token/{n;p;}' "$sandbox/init.txt" | tr -d ' ')
export MCPFLEET_TOKEN
i=0
until "$mcpfleetctl" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
		echo "mcpfleetd did not start; its log:" >&2
		cat "$sandbox/mcpfleetd.log" >&2
		exit 1
	fi
	sleep 0.1
done

say "the admin sets up a user, two servers, a secret and grants"
ctl user add alice --email alice@example.com
ctl server add everything --command npx --arg -y --arg @modelcontextprotocol/server-everything
ctl grant add everything --everyone
ctl server add docs --url https://docs.example.com/mcp \
	--header 'Authorization: Bearer ${secret:DOCS_TOKEN}'
ctl grant add docs --user alice --tools-deny delete_page
printf '$ printf ... | mcpfleetctl secret set DOCS_TOKEN --user alice\n'
printf 'alice-docs-token-123' | "$mcpfleetctl" secret set DOCS_TOKEN --user alice
link=$("$mcpfleetctl" token create --user alice | grep '^mcpfleet://')
printf 'enrollment link: %s\n' "$link"

say "alice's workstation (HOME=$home): what the hosts hold before"
agent hosts

say "alice enrolls and starts the agent"
printf '$ mcpfleet enroll LINK\n'
agent enroll "$link"
agent run >"$sandbox/agent.log" 2>&1 &
agent_pid=$!
rev=$(wait_applied 0)
agent status
say "the host files, fleet revision $rev applied"
show_hosts
say "every fleet server runs through the launcher: no secret, no URL in any file"
printf '$ grep -r alice-docs-token-123 ~\n'
if grep -rqF alice-docs-token-123 "$home"; then
	echo "FOUND the token in: $(grep -rlF alice-docs-token-123 "$home")"
else
	echo "alice's docs token is in no file of her home (catalogue.pb holds it sealed)"
fi
printf 'a host starts "mcpfleet exec docs"; the agent hands it the definition and the token\n'

say "an org-wide push: a new server for everyone"
ctl server add search --url https://search.example.com/mcp
t0=$(date +%s%N)
ctl grant add search --everyone
rev=$(wait_applied "$rev")
t1=$(date +%s%N)
printf 'revision %s applied on the workstation %s ms after the grant was asked for\n' \
	"$rev" $(((t1 - t0) / 1000000))
printf '\n===== ~/.codex/config.toml =====\n'
cat "$home/.codex/config.toml"

say "offboarding: the device is revoked"
device=$("$mcpfleetctl" device list --json | sed -n 's/.*"id": *"\(dev-[0-9a-f]*\)".*/\1/p' | head -1)
ctl device revoke "$device" --reason "demo: offboarding"
code=0
wait "$agent_pid" || code=$?
agent_pid=""
printf 'the agent exited with %s (4: revoked, fleet entries and credentials removed)\n' "$code"
say "the host files after revocation: only alice's own settings and servers remain"
show_hosts
say "what to rotate"
ctl user offboard alice
printf '\nSandbox kept in %s (server log: mcpfleetd.log, agent log: agent.log).\n' "$sandbox"
