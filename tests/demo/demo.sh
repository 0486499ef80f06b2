#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's first command, scripts/demo.sh, as a test: run on the built
# binaries in a temporary sandbox on free loopback ports, it must end well
# and show what it says it shows.
#   usage: tests/demo/demo.sh BUILD_DIR
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
sandbox=$(mktemp -d /tmp/mcpfleet-demo-test.XXXXXX)
trap 'rm -rf "$sandbox"' EXIT INT TERM
fails=0
ok() { printf 'ok: %s\n' "$*"; }
bad() {
	printf 'FAIL: %s\n' "$*"
	fails=$((fails + 1))
}

# Two free ports from the kernel, as the other tests' daemons get theirs.
ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
out="$sandbox/out.txt"
if ! MCPFLEET_BUILD="$build" MCPFLEET_DEMO_BUILT=1 MCPFLEET_DEMO_PORTS="$ports" \
	sh "$top/scripts/demo.sh" "$sandbox/demo" >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: scripts/demo.sh exited non-zero"
	exit 1
fi
ok "scripts/demo.sh ran to its end"
home="$sandbox/demo/home"

grep -q "alice's docs token is in no file of her home" "$out" &&
	ok "the user's token is in no file of the home" ||
	bad "the demo found the token in a host file"
grep -Eq '^revision [0-9]+ applied on the workstation [0-9]+ ms after the grant' "$out" &&
	ok "the org-wide push reached the workstation" || bad "no push line"
grep -q '^the agent exited with 4 ' "$out" &&
	ok "revoked, the agent exited 4" || bad "the agent's exit after revocation"
# What it showed before revocation: every fleet entry through the launcher.
sed -n '/### the host files, fleet revision/,/### every fleet server/p' "$out" >"$sandbox/before.txt"
grep -q '"everything"' "$sandbox/before.txt" && grep -q 'mcpfleet' "$sandbox/before.txt" &&
	ok "the fleet's servers were in the host files" ||
	bad "the host files did not show the fleet's servers"
# After: the user's own settings and server, none of the fleet's.
claude="$home/.claude.json"
grep -q '"my-notes"' "$claude" && grep -q '"numStartups": 12' "$claude" &&
	! grep -q '"everything"' "$claude" && ! grep -q '"search"' "$claude" &&
	ok "~/.claude.json: the user's own entries stayed, the fleet's went" ||
	bad "~/.claude.json after revocation: $(cat "$claude")"
# As the demo wrote them before enrolling: byte for byte.
codex="$home/.codex/config.toml"
printf '# my Codex settings\nmodel = "gpt-5-codex"\n\n[tui]\nnotifications = true   # keep me\n' >"$sandbox/codex.want"
cmp -s "$codex" "$sandbox/codex.want" &&
	ok "~/.codex/config.toml: as it was before enrolling, byte for byte" ||
	bad "~/.codex/config.toml after revocation: $(cat "$codex")"
gemini="$home/.gemini/settings.json"
printf '{\n  // Gemini CLI settings\n  "security": { "folderTrust": { "enabled": false } }\n}\n' >"$sandbox/gemini.want"
cmp -s "$gemini" "$sandbox/gemini.want" &&
	ok "~/.gemini/settings.json: its comment and settings as before, byte for byte" ||
	bad "~/.gemini/settings.json after revocation: $(cat "$gemini")"
grep -q 'DOCS_TOKEN' "$out" && ok "offboarding listed the credential to rotate" ||
	bad "offboarding did not name DOCS_TOKEN"
# Nothing left running.
if pgrep -f "serve --data $sandbox/demo/server" >/dev/null; then
	bad "mcpfleetd still running after the demo"
fi

[ "$fails" -eq 0 ] || exit 1
