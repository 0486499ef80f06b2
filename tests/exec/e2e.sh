#!/usr/bin/env bash
# The edge launcher end to end: a real mcpfleetd on loopback, agents in sandbox homes,
# and fleet servers that every host runs through "mcpfleet exec NAME": server-everything
# over stdio (its token in its environment), over Streamable HTTP and over legacy SSE
# (both behind a proxy that refuses any request without the token). Checks that the
# real host CLIs connect through the launcher, that no file of the home holds the token
# or the remote URL, which tools claude -p, codex exec and gemini -p offer their model
# (a fake model API on loopback records it: every fleet server's tools reach the model,
# a denied tool never does; for codex, whose mcp list starts no server, this is the proof
# that it connects through the launcher), the official MCP TypeScript SDK as an
# independent client (tool filter, rate limit, the calls audit, the offline spool), and
# fail-closed behaviour (revocation ends a live session within a second, a stopped agent
# refuses).
#
#   tests/exec/e2e.sh MCPFLEETD MCPFLEETCTL MCPFLEET
#
# Environment: MCPFLEET_CACHE, HOSTS_TIMEOUT and HOSTS_WAIT as for tests/hosts/run.sh; KEEP=1 keeps
# the sandbox. Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail
shopt -s lastpipe
exec </dev/null

[ $# = 3 ] || { echo "usage: $0 MCPFLEETD MCPFLEETCTL MCPFLEET" >&2; exit 2; }
bin_arg() {
    local p
    p=$(realpath "$1" 2>/dev/null) || { echo "no such file: $1" >&2; exit 2; }
    [ -x "$p" ] || { echo "not executable: $p" >&2; exit 2; }
    echo "$p"
}
MCPFLEETD=$(bin_arg "$1")
MCPFLEETCTL=$(bin_arg "$2")
MCPFLEET=$(bin_arg "$3")

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/../hosts/lib.sh"
T0=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpfleet-exec.XXXXXX")
DATA=$WORK/data
SLOG=$WORK/mcpfleetd.log
SERVER_PID=
SSE_PID=
MODEL_PID=
PROXY_PIDS=()
HOLD_PID=
declare -A APID=() DEV=()
cleanup() {
    local pid
    for pid in "${APID[@]}" $SERVER_PID $SE_PID $SSE_PID $MODEL_PID "${PROXY_PIDS[@]}" $HOLD_PID "${LIST_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${APID[@]}" $SERVER_PID $SE_PID $SSE_PID $MODEL_PID "${PROXY_PIDS[@]}" $HOLD_PID "${LIST_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "sandbox kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "e2e.sh: line $LINENO: unexpected failure (exit $?)" >&2' ERR
# shellcheck source=tests/fleet/lib.sh
. "$HERE/../fleet/lib.sh"

fleet_setup
MCP_SDK=$CACHE/node_modules/@modelcontextprotocol/sdk
[ -f "$MCP_SDK/package.json" ] || abort "the MCP SDK is not in $CACHE"

# server-everything over legacy SSE, and the two header-checking proxies.
port_of() { # FILE PID: waits for a port file
    local _
    for _ in $(seq 150); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}
PORT=0 MCP_PORT_FILE=$WORK/sse.port node --require "$HERE/../hosts/loopback.cjs" "$SE" sse \
    >"$WORK/everything-sse.log" 2>&1 &
SSE_PID=$!
SSE_PORT=$(port_of "$WORK/sse.port" $SSE_PID) || abort "server-everything sse did not start"
rnd() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }
VAL_A=tok-alice-$(rnd)
VAL_B=tok-bob-$(rnd)
proxy() { # NAME UPSTREAM: sets PROXY_PORT
    UPSTREAM=$2 EXPECT="Bearer $VAL_A" PORT_FILE=$WORK/$1.port node "$HERE/header-proxy.cjs" \
        >"$WORK/$1.log" 2>&1 &
    PROXY_PIDS+=($!)
    PROXY_PORT=$(port_of "$WORK/$1.port" $!) || abort "proxy $1 did not start"
}
proxy proxy-http "http://127.0.0.1:$PORT"
PH=$PROXY_PORT
proxy proxy-sse "http://127.0.0.1:$SSE_PORT"
PS=$PROXY_PORT
echo "proxies: http $PH -> $PORT, sse $PS -> $SSE_PORT"

for u in alice bob; do make_home "$u"; done

# ---------------------------------------------------------------------------
echo "== 1. fleet servers through the launcher"
# ---------------------------------------------------------------------------
ctl_must "user add alice" user add alice
ctl_must "user add bob" user add bob
# shellcheck disable=SC2016 # ${secret:...} is for the server
ctl_must "server add ev-stdio" server add ev-stdio --command node --arg "$SE" --arg stdio \
    --env 'EVERYTHING_TOKEN=${secret:EV_TOKEN}' --tools-deny get-tiny-image \
    --tool-rate 'echo=3/min'
# shellcheck disable=SC2016
ctl_must "server add ev-http" server add ev-http --url "http://127.0.0.1:$PH/mcp" --type http \
    --header 'Authorization: Bearer ${secret:EV_TOKEN}'
# shellcheck disable=SC2016
ctl_must "server add ev-sse" server add ev-sse --url "http://127.0.0.1:$PS/sse" --type sse \
    --header 'Authorization: Bearer ${secret:EV_TOKEN}' --tools-deny get-tiny-image
printf %s "$VAL_A" | ctl_must "secret set (alice)" secret set EV_TOKEN --user alice
printf %s "$VAL_B" | ctl_must "secret set (bob)" secret set EV_TOKEN --user bob
ctl_must "grant ev-stdio" grant add ev-stdio --everyone
ctl_must "grant ev-http" grant add ev-http --everyone
ctl_must "grant ev-sse" grant add ev-sse --everyone
pass "[launch] three servers, per-user tokens, tool filters and a rate limit"

enroll launch alice
start_agent alice
if wait_until 30 has_names alice ev-http,ev-sse,ev-stdio,my-own ev-http,ev-sse,ev-stdio,my-own; then
    pass "[launch] alice: the three servers in all seven hosts, Claude Desktop included"
else
    check_names launch alice ev-http,ev-sse,ev-stdio,my-own ev-http,ev-sse,ev-stdio,my-own
    abort "[launch] the fleet servers did not arrive"
fi

# Each entry is the launcher and nothing else.
launcher_entry() { # HOST NAME: the entry runs "$MCPFLEET exec NAME", with no env/url/headers
    entry alice "$1" "$2" | MF=$MCPFLEET N=$2 H=$1 node -e '
        const t = require("fs").readFileSync(0, "utf8"), mf = process.env.MF, n = process.env.N;
        let ok;
        if (process.env.H === "codex") {
            ok = t.includes("command = \"" + mf + "\"") && t.includes("args = [\"exec\", \"" + n + "\"]") &&
                !/url|env|header/.test(t);
        } else {
            const e = JSON.parse(t);
            const argv = Array.isArray(e.command) ? e.command : [e.command, ...(e.args || [])];
            const empty = (o) => !o || Object.keys(o).length === 0;
            ok = JSON.stringify(argv) === JSON.stringify([mf, "exec", n]) &&
                !e.url && !e.httpUrl && empty(e.headers) && empty(e.env) && empty(e.environment);
        }
        process.exit(ok ? 0 : 1)'
}
bad=""
for h in $HOSTS7; do
    for n in ev-stdio ev-http ev-sse; do
        launcher_entry "$h" "$n" || bad="$bad $h:$n"
    done
done
if [ -z "$bad" ]; then
    pass "[launch] every entry is '$MCPFLEET exec NAME', no env, headers or URL"
else
    fail "[launch] not launcher entries:$bad"
fi
if grep -rqF -- "$VAL_A" "$WORK/alice"; then
    fail "[launch] alice's token is in a file of her home: $(grep -rlF -- "$VAL_A" "$WORK/alice" | head -3 | tr '\n' ' ')"
else
    pass "[launch] grep -r finds alice's token nowhere in her home (host files, backups, catalogue.pb, spool)"
fi
# shellcheck disable=SC2046 # one word per host file
if grep -qF -e "127.0.0.1:$PH" -e "127.0.0.1:$PS" $(host_files alice); then
    fail "[launch] a remote URL is in a host file"
else
    pass "[launch] no host file holds a remote server's URL"
fi

# The real host CLIs connect to all three through the launcher.
MFRE=$(printf '%s' "$MCPFLEET" | sed 's/[.[\*^$()+?{|]/\\&/g')
launched() { # TAG CLI NAME: the CLI's list shows NAME connected through the launcher
    local tag=$1 c=$2 n=$3 re
    case $c in
        claude) re="^$n: $MFRE exec $n - ✔ Connected\$" ;;
        # codex mcp list starts no server: enabled is all it can show
        codex) re="^$n +$MFRE +exec $n +- +- +enabled +Unsupported *\$" ;;
        gemini) re="^✓ $n: $MFRE exec $n \\(stdio\\) - Connected\$" ;;
        opencode) re="^[^ ]+ +✓ $n connected\$" ;;
        droid) re="^  $n  stdio  connected  \\[user\\]\$" ;;
    esac
    grep -Eq -- "$re" "$WORK/$tag.$c"
}
expect_launched() { # TAG CLI NAME
    local tag=$1 c=$2 n=$3
    if launched "$tag" "$c" "$n"; then
        if [ "$c" = codex ]; then pass "[$tag] codex: $n enabled as a launcher entry (connected: see [model])"; else
        pass "[$tag] $c: $n connected through the launcher"; fi
    else
        fail "[$tag] $c: $n not connected through the launcher"
        show "$WORK/$tag.$c"
    fi
}
launch_ready() { # TAG CLI: for list_all, which lists again until all four are connected
    local n
    for n in ev-stdio ev-http ev-sse; do launched "$1" "$2" "$n" || return 1; done
    list_shows "$1" "$2" my-own connected
}
SB=$WORK/alice
list_all launch launch_ready
for c in $CLIS; do
    for n in ev-stdio ev-http ev-sse; do expect_launched launch "$c" "$n"; done
    expect launch "$c" my-own connected
done
stats() { curl -fsS "http://127.0.0.1:$1/_stats"; }
if [ "$(stats "$PH" | jsx 'd.refused === 0 && d.ok > 0')" = true ] &&
    [ "$(stats "$PS" | jsx 'd.refused === 0 && d.ok > 0')" = true ]; then
    pass "[launch] the remote servers saw alice's token on every request ($(stats "$PH"), sse $(stats "$PS"))"
else
    fail "[launch] a request reached a proxy without the token: http $(stats "$PH"), sse $(stats "$PS")"
fi

# ---------------------------------------------------------------------------
echo "== 1b. the tools each host offers its model (a fake model API on loopback)"
# ---------------------------------------------------------------------------
# claude -p, codex exec and gemini -p run one prompt against tests/exec/fake-model.cjs;
# what they sent it shows which fleet tools reached the model: every server's through the
# launcher (for codex, which mcp list cannot show, the proof that it connects), and
# get-tiny-image, denied on ev-stdio (stdio) and ev-sse (bridged), for neither of them,
# while ev-http, which denies nothing, offers it. Each turn must end well (exit 0).
node "$HERE/fake-model.cjs" "$WORK/model.port" "$WORK/model.log" >"$WORK/fake-model.out" 2>&1 &
MODEL_PID=$!
MP=$(port_of "$WORK/model.port" $MODEL_PID) || abort "the fake model did not start"
GEMINI_SETTINGS=$WORK/alice/.gemini/settings.json
cp -p "$GEMINI_SETTINGS" "$WORK/gemini-settings.orig"
# As a user who chose API-key sign-in (gemini reads no auth type from its environment
# when its base URL is set); restored afterwards.
# (The file is JSONC: into its "security" object, or after its first brace.)
if grep -q '"security": *{' "$GEMINI_SETTINGS"; then
    sed -i '0,/"security": *{/s//"security": { "auth": { "selectedType": "gemini-api-key" },/' "$GEMINI_SETTINGS"
else
    sed -i '0,/{/s//{ "security": { "auth": { "selectedType": "gemini-api-key" } },/' "$GEMINI_SETTINGS"
fi
ask_model() { # CLI: one prompt; its requests in $WORK/model.CLI.log, the tools offered
    local c=$1 t         # ("SERVER TOOL" lines) in $WORK/offered.CLI, its exit status in MRC
    t=$(date +%s%N)
    MRC=0
    set_host_env
    codex_wait
    rm -f "$WORK/model.log"
    case $c in
        claude) (cd "$SB" && "${host_env[@]}" "${CLAUDE_WAIT[@]}" ANTHROPIC_BASE_URL="http://127.0.0.1:$MP" \
            ANTHROPIC_API_KEY=sk-fake DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
            timeout "$TMO" "$BIN/claude" -p "say ok" >"$WORK/model.$c.out" 2>&1) || MRC=$? ;;
        # features.plugins=false and no metrics exporter: codex exec would otherwise look up
        # github.com, api.github.com and chatgpt.com (its curated plugins) and ab.chatgpt.com
        # (its metrics), none of them on loopback.
        codex) (cd "$SB" && "${host_env[@]}" FAKE_MODEL_KEY=fake timeout "$TMO" "$BIN/codex" exec \
            --skip-git-repo-check -c model=fake-model -c model_provider=fake \
            -c "model_providers.fake={name=\"fake\",base_url=\"http://127.0.0.1:$MP/v1\",env_key=\"FAKE_MODEL_KEY\",wire_api=\"responses\"}" \
            -c features.plugins=false -c 'otel.metrics_exporter="none"' "${CODEX_WAIT[@]}" \
            "say ok" >"$WORK/model.$c.out" 2>&1) || MRC=$? ;;
        gemini) (cd "$SB" && "${host_env[@]}" GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$MP" \
            GEMINI_API_KEY=fake GEMINI_CLI_TRUST_WORKSPACE=true timeout "$TMO" "$BIN/gemini" \
            --approval-mode yolo -p "say ok" >"$WORK/model.$c.out" 2>&1) || MRC=$? ;;
    esac
    # The fake model opens the log for each request: what this run sent, kept apart.
    touch "$WORK/model.log"
    mv "$WORK/model.log" "$WORK/model.$c.log"
    node "$HERE/offered.cjs" "$c" "$WORK/model.$c.log" >"$WORK/offered.$c"
    echo "[model] $c: exit $MRC, $(wc -l <"$WORK/model.$c.log") requests, $(wc -l <"$WORK/offered.$c") fleet tools offered, $(since "$t")"
}
model_diag() { # CLI: what a failure shows: the CLI's last lines, its requests, the tools seen
    echo "    $1's output, last lines:"
    grep -v ' is already registered. ' "$WORK/model.$1.out" | tail -15 | sed 's/^/    | /'
    echo "    its requests to the fake model:"
    node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n"))
        if (l) { const r = JSON.parse(l); console.log(`    | ${r.method} ${r.url}`); }' "$WORK/model.$1.log" | head -10
    echo "    the MCP tools it offered (SERVER TOOL): $(tr '\n' ';' <"$WORK/offered.$1")"
}
has_tool() { grep -qx -- "$2 $3" "$WORK/offered.$1"; } # CLI SERVER TOOL
for c in claude codex gemini; do
    ask_model "$c"
    miss=""
    for n in ev-stdio ev-http ev-sse; do has_tool "$c" "$n" echo || miss="$miss $n"; done
    if [ -n "$miss" ]; then
        fail "[model] $c (exit $MRC) did not offer echo of:$miss"
        model_diag "$c"
    elif [ "$MRC" != 0 ]; then
        fail "[model] $c offered the fleet tools, but its turn against the fake model failed (exit $MRC)"
        model_diag "$c"
    else
        pass "[model] $c offered its model the tools of ev-stdio, ev-http and ev-sse, through the launcher"
    fi
    if ! has_tool "$c" ev-stdio get-tiny-image && ! has_tool "$c" ev-sse get-tiny-image &&
        has_tool "$c" ev-http get-tiny-image; then
        pass "[model] $c: get-tiny-image, denied on ev-stdio and ev-sse, is not offered for them (ev-http's is)"
    else
        fail "[model] $c: the denied tool, offered as: $(grep get-tiny-image "$WORK/offered.$c" | tr '\n' ';')"
        model_diag "$c"
    fi
done
kill "$MODEL_PID" 2>/dev/null || true
wait "$MODEL_PID" 2>/dev/null || true
MODEL_PID=
cp -p "$WORK/gemini-settings.orig" "$GEMINI_SETTINGS"
# The hosts keep notes in their own files as they run; only the fleet's entries matter here.
check_names model alice ev-http,ev-sse,ev-stdio,my-own ev-http,ev-sse,ev-stdio,my-own

# ---------------------------------------------------------------------------
echo "== 2. the MCP TypeScript SDK through the launcher"
# ---------------------------------------------------------------------------
sdk() { # USER ARGS...: the SDK client in that home, output in $WORK/sdk.out
    local u=$1
    shift
    SB=$WORK/$u
    set_host_env
    "${host_env[@]}" MCP_SDK="$MCP_SDK" timeout 90 node "$HERE/sdk-client.mjs" "$@" \
        >"$WORK/sdk.out" 2>"$WORK/sdk.err"
}
if sdk alice --call echo '{"message":"hello"}' --call get-env '{}' --expect-fail get-tiny-image \
        --repeat echo '{"message":"again"}' 5 -- "$MCPFLEET" exec ev-stdio; then
    R=$(cat "$WORK/sdk.out")
    [ "$(jsx '!d.tools.includes("get-tiny-image") && d.tools.includes("echo")' <<<"$R")" = true ] &&
        pass "[sdk] tools/list: get-tiny-image filtered out, echo offered" ||
        fail "[sdk] tools/list: $(jsx 'd.tools' <<<"$R")"
    [ "$(jsx 'd.calls.echo.includes("hello")' <<<"$R")" = true ] &&
        pass "[sdk] tools/call echo answered through the launcher" || fail "[sdk] echo: $R"
    [ "$(jsx "d.calls['get-env'].includes('$VAL_A')" <<<"$R")" = true ] &&
        pass "[sdk] the real server got alice's token in its environment" || fail "[sdk] get-env lacks the token"
    [ "$(jsx 'd.fails["get-tiny-image"].code' <<<"$R")" = -32001 ] &&
        pass "[sdk] tools/call of a denied tool refused (-32001), not forwarded" || fail "[sdk] denied: $R"
    [ "$(jsx 'd.repeat.ok === 2 && d.repeat.error.code === -32029 && /retry in/.test(d.repeat.error.message)' <<<"$R")" = true ] &&
        pass "[sdk] the rate limit 3/min tripped at the 4th echo, saying when to retry" ||
        fail "[sdk] rate limit: $(jsx 'd.repeat' <<<"$R")"
else
    fail "[sdk] ev-stdio session: $(head -c 600 "$WORK/sdk.out") $(head -c 600 "$WORK/sdk.err")"
fi
for n in ev-http ev-sse; do
    if sdk alice --call echo '{"message":"remote"}' -- "$MCPFLEET" exec "$n" &&
        [ "$(jsx 'd.calls.echo.includes("remote")' <"$WORK/sdk.out")" = true ]; then
        pass "[sdk] $n: initialize, tools/list and tools/call bridged to the remote server"
    else
        fail "[sdk] $n: $(head -c 600 "$WORK/sdk.out") $(head -c 600 "$WORK/sdk.err")"
    fi
done

# The calls audit.
calls_have() { # EXPR over the array of alice's calls
    [ "$(ctl --json calls list --user alice | jsx "$1")" = true ]
}
if wait_until 15 calls_have 'd.some(c => c.name === "get-tiny-image" && c.outcome === "denied") &&
        d.some(c => c.name === "echo" && c.outcome === "rate_limited") &&
        d.filter(c => c.server === "ev-stdio" && c.name === "echo" && c.outcome === "ok").length === 3'; then
    pass "[calls] mcpfleetctl calls list: ok, denied and rate_limited records, each once"
else
    fail "[calls] calls list: $(ctl --json calls list --user alice | head -c 800)"
fi
# The same calls in GET /metrics, by outcome.
metric() { # NAME{LABELS}: its value
    curl -s --cacert "$DATA/ca.crt" -H "Authorization: Bearer $(cat "$WORK/admin.token")" \
        "https://127.0.0.1:$API_PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
if [ "$(metric 'mcpfleet_calls_total{outcome="denied"}')" -ge 1 ] &&
        [ "$(metric 'mcpfleet_calls_total{outcome="rate_limited"}')" -ge 1 ] &&
        [ "$(metric 'mcpfleet_calls_total{outcome="ok"}')" -ge 3 ]; then
    pass "[calls] /metrics counts the calls by outcome"
else
    fail "[calls] /metrics: $(curl -s --cacert "$DATA/ca.crt" -H "Authorization: Bearer $(cat "$WORK/admin.token")" \
        "https://127.0.0.1:$API_PORT/metrics" | grep calls_total)"
fi
# With the server down, calls are spooled and arrive once it is back.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
if sdk alice --call get-sum '{"a":2,"b":3}' -- "$MCPFLEET" exec ev-stdio; then
    pass "[spool] with mcpfleetd down the launcher still serves (within the offline grace)"
else
    fail "[spool] with mcpfleetd down: $(head -c 400 "$WORK/sdk.err")"
fi
start_server
if wait_until 30 calls_have 'd.filter(c => c.name === "get-sum").length === 1'; then
    pass "[spool] the call made while the server was down arrived after its restart, once"
else
    fail "[spool] the spooled call did not arrive"
fi

# ---------------------------------------------------------------------------
echo "== 3. fail closed"
# ---------------------------------------------------------------------------
enroll closed bob
start_agent bob
wait_until 30 has_names bob ev-http,ev-sse,ev-stdio,my-own ev-http,ev-sse,ev-stdio,my-own ||
    abort "[closed] bob's servers did not arrive"
kill "${APID[bob]}"
agent_exit bob 10
rc=0
mfu bob exec ev-stdio || rc=$?
if [ $rc = 6 ] && grep -q "agent is not running" "$WORK/mf.out"; then
    pass "[closed] agent stopped: exec of a server with secrets refuses (exit 6: $(head -1 "$WORK/mf.out"))"
else
    fail "[closed] agent stopped: exec exit $rc: $(head -c 300 "$WORK/mf.out")"
fi
if grep -rqF -- "$VAL_B" "$WORK/bob"; then
    fail "[closed] bob's token is in a file of his home"
else
    pass "[closed] bob's token is nowhere in his home either"
fi

# Revocation while the SDK holds a live session.
SB=$WORK/alice
set_host_env
"${host_env[@]}" MCP_SDK="$MCP_SDK" node "$HERE/sdk-client.mjs" --hold -- "$MCPFLEET" exec ev-stdio \
    >"$WORK/hold.out" 2>"$WORK/hold.err" &
HOLD_PID=$!
held() { grep -q '"ready":true' "$WORK/hold.out"; }
wait_until 30 held || abort "[closed] the held SDK session did not start: $(cat "$WORK/hold.err")"
T_REVOKE=$(date +%s%3N)
ctl_must "device revoke" device revoke "${DEV[alice]}" --reason "laptop lost"
closed() { grep -q closed_at "$WORK/hold.out"; }
if wait_until 10 closed; then
    ms=$(($(grep closed_at "$WORK/hold.out" | jsx d.closed_at) - T_REVOKE))
    if [ "$ms" -le 1000 ]; then
        pass "[closed] revocation ended the live SDK session $ms ms after 'mcpfleetctl device revoke'"
    else
        fail "[closed] the live SDK session ended $ms ms after the revocation (more than 1 s)"
    fi
else
    fail "[closed] the SDK session outlived the revocation"
fi
wait "$HOLD_PID" 2>/dev/null || true
HOLD_PID=
agent_exit alice 15
rc=0
mfu alice exec ev-stdio || rc=$?
if [ $rc = 4 ] && grep -q "revoked" "$WORK/mf.out"; then
    pass "[closed] revoked: a new exec refuses (exit 4: $(head -1 "$WORK/mf.out"))"
else
    fail "[closed] revoked: exec exit $rc: $(head -c 300 "$WORK/mf.out")"
fi

ctl_must "user offboard alice" user offboard alice
if grep -q "Their last calls through the launchers" <<<"$CTL_OUT" && grep -q "get-sum" <<<"$CTL_OUT" &&
    grep -q "rate_limited" <<<"$CTL_OUT"; then
    pass "[closed] user offboard lists what alice did last through the launchers"
else
    fail "[closed] user offboard: $(head -c 600 <<<"$CTL_OUT")"
fi

echo "== the end"
finish
