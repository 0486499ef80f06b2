#!/usr/bin/env bash
# Values arrive literally: one server (tests/hosts/recorder.cjs, which records its argv and
# its REC_* environment) synced by mcpfleet into every host with arguments and environment
# values that hosts like to expand ($HOME, {env:HOME}, a variable whose value holds ${...}),
# and a remote one (tests/hosts/recorder-http.cjs, which records the X-Rec-* headers it is
# sent) with such header values, then started by each host's real CLI. For each host, the server must receive exactly the
# catalogue's values, or be left out of that host with a warning that names the field;
# never a different value. cn also gets strings that YAML reads otherwise unquoted.
#
#   tests/hosts/literal.sh MCPFLEET
#
# Environment: MCPFLEET_CACHE, HOSTS_TIMEOUT, HOSTS_WAIT as for run.sh; KEEP=1 keeps the sandbox.
# Loopback only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/hosts/cline.sh
. "$HERE/cline.sh"
# shellcheck source=tests/hosts/continue_cli.sh
. "$HERE/continue_cli.sh"
[ $# = 1 ] || { echo "usage: $0 MCPFLEET" >&2; exit 2; }
MCPFLEET=$(realpath "$1")
T0=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpfleet-literal.XXXXXX")
SB=$WORK/home
MODEL_PID=
HDR_PID=
cleanup() {
    [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null || true
    [ -n "$CLINE_MODEL_PID" ] && kill "$CLINE_MODEL_PID" 2>/dev/null || true
    [ -n "$CN_MODEL_PID" ] && kill "$CN_MODEL_PID" 2>/dev/null || true
    [ -n "$HDR_PID" ] && kill "$HDR_PID" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "sandbox kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
install_peers
seed_home "$SB"
mkdir -p "$SB/.qwen" "$SB/.copilot"
cline_seed "$SB"
cn_seed "$SB"
render_continue-cli before >"$(cn_file)" # cn's file is edited, never created
set_host_env

# Two servers, each recording into its own file: rec-args takes the arguments, rec-env
# the environment (a host that cannot write one field must not cost the other).
# shellcheck disable=SC2016 # the dollars are the point
ARGS=('$HOME' '$$x' '{env:HOME}' '{file:/etc/hostname}' '%HOME%' 'LIT=${HOME}' 'a\b')
# shellcheck disable=SC2016
declare -A ENVV=([REC_DOLLAR]='$HOME' [REC_OPENCODE]='{env:HOME}' [REC_BRACES]='${HOME}x')
# A third server takes a multi-line value (a PEM key) alone.
PEM=$'-----BEGIN KEY-----\nAAAA\r\nBBBB\n-----END KEY-----'
add=(add rec-args --command node --arg "$HERE/recorder.cjs" --arg "$WORK/rec-args.jsonl")
for a in "${ARGS[@]}"; do
    # A literal ${...} can only come from a variable's value: mcpfleet reads ${X} as its own.
    case $a in LIT=*) add+=(--arg 'LIT=${LIT_BRACES}') ;; *) add+=(--arg "$a") ;; esac
done
adde=(add rec-env --command node --arg "$HERE/recorder.cjs" --arg "$WORK/rec-env.jsonl")
for k in "${!ENVV[@]}"; do
    case $k in REC_BRACES) adde+=(--env "$k=\${LIT_BRACES}x") ;; *) adde+=(--env "$k=${ENVV[$k]}") ;; esac
done
mf() { (cd "$SB" && "${host_env[@]}" "MCPFLEET_HOME=$SB/.mcpfleet" LIT_BRACES='${HOME}' \
    timeout "$TMO" "$MCPFLEET" "$@") </dev/null >"$WORK/mf.out" 2>&1; }
mf "${add[@]}" || { cat "$WORK/mf.out"; exit 1; }
mf "${adde[@]}" || { cat "$WORK/mf.out"; exit 1; }
mf add rec-pem --command node --arg "$HERE/recorder.cjs" --arg "$WORK/rec-pem.jsonl" \
    --env "REC_PEM=$PEM" || { cat "$WORK/mf.out"; exit 1; }
# A remote server takes header values (each host's HTTP client sends them as written).
node "$HERE/recorder-http.cjs" "$WORK/rec-hdr.port" "$WORK/rec-hdr.jsonl" >/dev/null 2>&1 &
HDR_PID=$!
for _ in $(seq 50); do [ -s "$WORK/rec-hdr.port" ] && break; sleep 0.1; done
HP=$(cat "$WORK/rec-hdr.port")
# shellcheck disable=SC2016
mf add rec-hdr --url "http://127.0.0.1:$HP/mcp" --header 'X-Rec-Dollar: $HOME' \
    --header 'X-Rec-Opencode: {env:HOME}' --header 'X-Rec-Braces: ${LIT_BRACES}x' ||
    { cat "$WORK/mf.out"; exit 1; }
# cn alone gets a fourth: strings YAML would read otherwise, unless written quoted.
LS=$(printf '\xe2\x80\xa8')
YAMLV=('# not a comment' 'a: b' "it's \"q\"" 'ünï ✓ 😀' "line${LS}sep" 'back\slash' '- item'
    '[x]' '{y: z}' '*alias' '&anchor' '!tag' '~' 'null' 'true' '123' '0x1F' ' lead' 'trail ')
addy=(add rec-yaml --host continue-cli --command node --arg "$HERE/recorder.cjs" --arg "$WORK/rec-yaml.jsonl")
for a in "${YAMLV[@]}"; do addy+=(--arg "$a"); done
mf "${addy[@]}" || { cat "$WORK/mf.out"; exit 1; }
mf sync || true
cp "$WORK/mf.out" "$WORK/sync.out"
codex_wait
echo "-- sync:"; sed 's/^/   | /' "$WORK/sync.out"

want_args=$(printf '%s\n' "${ARGS[@]}")
want_yaml=$(printf '%s\0' "${YAMLV[@]}" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0, "utf8").split("\0").slice(0, -1)))')
want_env='{"REC_DOLLAR":"$HOME","REC_OPENCODE":"{env:HOME}","REC_BRACES":"${HOME}x"}'
want_pem='{"REC_PEM":"-----BEGIN KEY-----\nAAAA\r\nBBBB\n-----END KEY-----"}'
want_hdr='{"x-rec-dollar":"$HOME","x-rec-opencode":"{env:HOME}","x-rec-braces":"${HOME}x"}'

node "$HERE/../exec/fake-model.cjs" "$WORK/model.port" "$WORK/model.log" >/dev/null 2>&1 &
MODEL_PID=$!
for _ in $(seq 50); do [ -s "$WORK/model.port" ] && break; sleep 0.1; done
MP=$(cat "$WORK/model.port")
cline_start_model # here, not in start_host's subshell, so that cleanup can stop it

start_host() { # CLI: makes the host start its servers
    case $1 in
        codex) "${host_env[@]}" FAKE_MODEL_KEY=fake timeout "$TMO" "$BIN/codex" exec --skip-git-repo-check \
            -c model=fake-model -c model_provider=fake -c features.plugins=false "${CODEX_WAIT[@]}" \
            -c 'otel.metrics_exporter="none"' \
            -c "model_providers.fake={name=\"fake\",base_url=\"http://127.0.0.1:$MP/v1\",env_key=\"FAKE_MODEL_KEY\",wire_api=\"responses\"}" \
            "say ok" ;;
        gemini) "${host_env[@]}" GEMINI_CLI_TRUST_WORKSPACE=true timeout "$TMO" "$BIN/gemini" mcp list ;;
        cline) cline_run literal ;;
        cn) cn_run literal ;;
        # copilot mcp list never starts a server: a prompt against the fake model does
        copilot) "${host_env[@]}" COPILOT_PROVIDER_BASE_URL="http://127.0.0.1:$MP/v1" \
            COPILOT_PROVIDER_WIRE_API=responses COPILOT_PROVIDER_API_KEY=fake COPILOT_MODEL=fake-model \
            timeout "$TMO" "$BIN/copilot" -p "say ok" --allow-all-tools ;;
        *) "${host_env[@]}" timeout "$TMO" "$BIN/$1" mcp list ;;
    esac
}
check() { # CLI HOST SERVER: what the server recorded against what it must receive
    local c=$1 host=$2 n=$3 rec=$WORK/$3.jsonl diffs
    if [ ! -s "$rec" ]; then
        if grep -q "$host: $n skipped" "$WORK/sync.out"; then
            pass "$c: $n left out, with a warning: $(grep "$host: $n skipped" "$WORK/sync.out" | head -1 | sed 's/^mcpfleet: warning: //')"
        else
            fail "$c: $n never started and sync gave no reason"
            tail -5 "$WORK/$c.out" | sed 's/^/    | /'
        fi
        return
    fi
    local want=$want_env
    [ "$n" = rec-pem ] && want=$want_pem
    [ "$n" = rec-hdr ] && want=$want_hdr
    diffs=$(A="$want_args" E="$want" Y="$want_yaml" G="$(head -1 "$rec")" N=$n node -e '
        const g = JSON.parse(process.env.G), out = [];
        if (process.env.N === "rec-yaml")
            JSON.parse(process.env.Y).forEach((v, i) => { if (g.argv[i] !== v)
                out.push(`arg ${i + 1}: ${JSON.stringify(v)} arrived as ${JSON.stringify(g.argv[i])}`); });
        else if (process.env.N === "rec-args")
            process.env.A.trim().split("\n").forEach((v, i) => { if (g.argv[i] !== v)
                out.push(`arg ${i + 1}: ${JSON.stringify(v)} arrived as ${JSON.stringify(g.argv[i])}`); });
        else if (process.env.N === "rec-hdr")
            for (const [k, v] of Object.entries(JSON.parse(process.env.E))) { if (g.headers[k] !== v)
                out.push(`header ${k}: ${JSON.stringify(v)} arrived as ${JSON.stringify(g.headers[k])}`); }
        else
            for (const [k, v] of Object.entries(JSON.parse(process.env.E))) if (g.env[k] !== v)
                out.push(`env ${k}: ${JSON.stringify(v)} arrived as ${JSON.stringify(g.env[k])}`);
        console.log(out.join("; "));')
    if [ -z "$diffs" ]; then pass "$c: $n: every value arrived exactly as written"; else fail "$c: $n: $diffs"; fi
}
recorded() { # HOST: each server sync did not leave out of HOST recorded what it got
    local n
    for n in rec-args rec-env rec-pem rec-hdr rec-yaml; do
        if [ "$n" = rec-yaml ] && [ "$1" != continue-cli ]; then continue; fi # cn's alone
        [ -s "$WORK/$n.jsonl" ] || grep -q "$1: $n skipped" "$WORK/sync.out" || return 1
    done
}
for c in claude codex gemini opencode droid cline qwen copilot cn; do
    host=$c; [ "$c" = claude ] && host=claude-code; [ "$c" = cn ] && host=continue-cli
    # A host gives its servers a fixed time to start (gemini 5 s each): on a loaded
    # machine it starts them again, for LIST_WAIT seconds at most (lib.sh), until each
    # has recorded; what they recorded is judged as before.
    end=$(($(date +%s) + LIST_WAIT))
    while :; do
        rm -f "$WORK/rec-args.jsonl" "$WORK/rec-env.jsonl" "$WORK/rec-pem.jsonl" "$WORK/rec-yaml.jsonl" \
            "$WORK/rec-hdr.jsonl"
        (cd "$SB" && start_host "$c") </dev/null >"$WORK/$c.out" 2>&1 || true
        recorded "$host" || [ "$(date +%s)" -ge "$end" ] && break
        note "$c: a server did not record; starting them again"
    done
    check "$c" "$host" rec-args
    check "$c" "$host" rec-env
    check "$c" "$host" rec-pem
    check "$c" "$host" rec-hdr
    if [ "$c" = cn ]; then check "$c" "$host" rec-yaml; fi
done
echo "total $(since "$T0")"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
