#!/usr/bin/env bash
# Tool filters are enforced by the hosts themselves: two servers of server-everything
# (stdio, not through the launcher), one with tools.deny get-tiny-image, one with
# tools.allow echo,get-sum, synced by mcpfleet; then each real CLI runs one prompt against
# the fake model of tests/exec/ and what it sent shows the tools it offered its model.
# A host must withhold every tool its filters cover; where mcpfleet cannot write a filter
# for a host, sync must have said so (and the host offers the tool).
#
#   tests/hosts/filters.sh MCPFLEET
#
# Environment: MCPFLEET_CACHE, HOSTS_TIMEOUT, HOSTS_WAIT as for run.sh; KEEP=1 keeps the sandbox.
# Loopback only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"
[ $# = 1 ] || { echo "usage: $0 MCPFLEET" >&2; exit 2; }
MCPFLEET=$(realpath "$1")
T0=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpfleet-filters.XXXXXX")
SB=$WORK/home
MODEL_PID=
cleanup() {
    [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "sandbox kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
install_peers
seed_home "$SB"
mkdir -p "$SB/.qwen" "$SB/.copilot"
set_host_env

mf() { (cd "$SB" && "${host_env[@]}" "MCPFLEET_HOME=$SB/.mcpfleet" timeout "$TMO" "$MCPFLEET" "$@") \
    </dev/null >"$WORK/mf.out" 2>&1 || { cat "$WORK/mf.out"; exit 1; }; }
# Server names without '-': each host joins server and tool its own way.
mf add evdeny --command node --arg "$SE" --arg stdio --tools-deny get-tiny-image
mf add evallow --command node --arg "$SE" --arg stdio --tools-allow echo,get-sum
mf sync
cp "$WORK/mf.out" "$WORK/sync.out"
codex_wait
echo "-- sync:"; sed 's/^/   | /' "$WORK/sync.out"

node "$HERE/../exec/fake-model.cjs" "$WORK/model.port" "$WORK/model.log" >"$WORK/fake-model.out" 2>&1 &
MODEL_PID=$!
for _ in $(seq 50); do [ -s "$WORK/model.port" ] && break; sleep 0.1; done
[ -s "$WORK/model.port" ] || { cat "$WORK/fake-model.out"; echo "the fake model did not start" >&2; exit 2; }
MP=$(cat "$WORK/model.port")

# Gemini reads no auth type from its environment when its base URL is set; Qwen takes
# its provider from settings: as users who chose API-key sign-in.
node -e '
    const fs = require("fs");
    for (const [f, auth] of [[process.argv[1], "gemini-api-key"], [process.argv[2], "openai"]]) {
        const j = JSON.parse(fs.readFileSync(f, "utf8"));
        j.security = { ...(j.security || {}), auth: { selectedType: auth } };
        fs.writeFileSync(f, JSON.stringify(j, null, 2));
    }' "$SB/.gemini/settings.json" "$SB/.qwen/settings.json"
# OpenCode: the fake model as a provider of its own (an OpenAI-compatible one, which
# OpenCode bundles), added after the sync beside what mcpfleet wrote.
node -e '
    const fs = require("fs"), f = process.argv[1], j = JSON.parse(fs.readFileSync(f, "utf8"));
    j.provider = { fake: { npm: "@ai-sdk/openai-compatible", name: "Fake",
        options: { baseURL: "http://127.0.0.1:" + process.argv[2] + "/v1", apiKey: "fake" },
        models: { "fake-model": { name: "fake" } } } };
    j.model = "fake/fake-model";
    fs.writeFileSync(f, JSON.stringify(j, null, 2));' "$SB/.config/opencode/opencode.json" "$MP"

ask() { # CLI: one prompt against the fake model; the tools offered in $WORK/offered.CLI
    local c=$1 t rc=0
    t=$(date +%s%N)
    rm -f "$WORK/model.log"
    case $c in
        claude) (cd "$SB" && "${host_env[@]}" "${CLAUDE_WAIT[@]}" ANTHROPIC_BASE_URL="http://127.0.0.1:$MP" \
            ANTHROPIC_API_KEY=sk-fake DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
            timeout "$TMO" "$BIN/claude" -p "say ok") ;;
        codex) (cd "$SB" && "${host_env[@]}" FAKE_MODEL_KEY=fake timeout "$TMO" "$BIN/codex" exec \
            --skip-git-repo-check -c model=fake-model -c model_provider=fake \
            -c "model_providers.fake={name=\"fake\",base_url=\"http://127.0.0.1:$MP/v1\",env_key=\"FAKE_MODEL_KEY\",wire_api=\"responses\"}" \
            -c features.plugins=false -c 'otel.metrics_exporter="none"' "${CODEX_WAIT[@]}" "say ok") ;;
        gemini) (cd "$SB" && "${host_env[@]}" GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$MP" \
            GEMINI_API_KEY=fake GEMINI_CLI_TRUST_WORKSPACE=true timeout "$TMO" "$BIN/gemini" \
            --approval-mode yolo -p "say ok") ;;
        qwen) (cd "$SB" && "${host_env[@]}" OPENAI_BASE_URL="http://127.0.0.1:$MP/v1" \
            OPENAI_API_KEY=fake OPENAI_MODEL=fake-model timeout "$TMO" "$BIN/qwen" -p "say ok") ;;
        copilot) (cd "$SB" && "${host_env[@]}" COPILOT_PROVIDER_BASE_URL="http://127.0.0.1:$MP/v1" \
            COPILOT_PROVIDER_WIRE_API=responses COPILOT_PROVIDER_API_KEY=fake COPILOT_MODEL=fake-model \
            timeout "$TMO" "$BIN/copilot" -p "say ok" --allow-all-tools) ;;
        opencode) (cd "$SB" && "${host_env[@]}" timeout "$TMO" "$BIN/opencode" run "say ok") ;;
    esac </dev/null >"$WORK/$c.out" 2>&1 || rc=$?
    touch "$WORK/model.log"
    mv "$WORK/model.log" "$WORK/model.$c.log"
    node "$HERE/../exec/offered.cjs" "$c" "$WORK/model.$c.log" >"$WORK/offered.$c"
    echo "[$c] exit $rc, $(wc -l <"$WORK/model.$c.log") requests, offered: $(tr '\n' ';' <"$WORK/offered.$c") ($(since "$t"))"
}
has() { grep -qx -- "$2 $3" "$WORK/offered.$1"; } # CLI SERVER TOOL
warned() { grep -q -- "$1: $2: $3 cannot be enforced" "$WORK/sync.out"; } # HOST SERVER FILTER
started() { has "$1" evdeny echo && has "$1" evallow echo; } # CLI: it started both servers
for c in claude codex gemini qwen copilot opencode; do
    host=$c; [ "$c" = claude ] && host=claude-code
    # A host that gave up on a server still starting (a loaded machine) asks again, for
    # LIST_WAIT seconds at most (lib.sh); what it then offers is judged as before.
    end=$(($(date +%s) + LIST_WAIT))
    ask "$c"
    while ! started "$c" && [ "$(date +%s)" -lt "$end" ]; do
        note "$c did not offer the tools of both servers; asking again"
        ask "$c"
    done
    if ! has "$c" evdeny echo; then
        fail "$c: evdeny's echo not offered: the host did not start the server"
        tail -5 "$WORK/$c.out" | sed 's/^/    | /'
        continue
    fi
    if ! has "$c" evdeny get-tiny-image; then
        pass "$c: tools.deny: get-tiny-image withheld, echo offered"
    elif warned "$host" evdeny tools.deny; then
        pass "$c: tools.deny: get-tiny-image offered, as sync warned"
    else
        fail "$c: tools.deny: get-tiny-image offered, and sync gave no warning"
    fi
    if has "$c" evallow echo && has "$c" evallow get-sum && ! has "$c" evallow get-tiny-image; then
        pass "$c: tools.allow: echo and get-sum offered, get-tiny-image withheld"
    elif has "$c" evallow get-tiny-image && warned "$host" evallow tools.allow; then
        pass "$c: tools.allow: every tool offered, as sync warned"
    else
        fail "$c: tools.allow: offered $(grep '^evallow ' "$WORK/offered.$c" | tr '\n' ';'), no warning"
    fi
done
echo "total $(since "$T0")"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
