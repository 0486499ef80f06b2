#!/usr/bin/env bash
# Real-host test: mcpfleet against the real CLIs of Claude Code, Codex, Gemini CLI,
# OpenCode, Factory Droid, Qwen Code and GitHub Copilot CLI (plus Cursor's file, which has
# no CLI), the Cline CLI (tests/hosts/cline.sh: it has no `mcp list`, it offers the
# servers' tools to a fake model) and Continue's CLI, cn (tests/hosts/continue_cli.sh, in
# the same way).
#
#   tests/hosts/run.sh MCPFLEET_BINARY     the real test
#   tests/hosts/run.sh --selfcheck         proves the harness: hand-writes the host files
#                                          in the verified formats instead of calling mcpfleet
#   tests/hosts/run.sh --selfcheck-broken  writes wrong shapes on purpose: must FAIL
#
# Environment: MCPFLEET_CACHE (default ~/.cache/mcpfleet; packages go to its hostpeers/),
# HOSTS_TIMEOUT (seconds per CLI call, default 60), HOSTS_WAIT (seconds a phase lists
# again a CLI whose servers are not connected yet, default 90), KEEP=1 keeps the sandbox,
# BASELINE=1 also checks the untouched fixture in the real test.
# Everything listens on and talks to 127.0.0.1 only. See tests/hosts/FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"    # install_peers, start_everything, the sandbox files, list_all, expect
# Hosts this test adds to lib.sh's (which tests/fleet and tests/exec share).
HOSTS="$HOSTS qwen copilot"
CLIS="$CLIS qwen copilot"
# shellcheck source=tests/hosts/cline.sh
. "$HERE/cline.sh"  # the Cline CLI: cline_seed, cline_run, cline_expect
# shellcheck source=tests/hosts/continue_cli.sh
. "$HERE/continue_cli.sh"  # Continue's cn: cn_seed, cn_run, cn_expect

usage() {
    echo "usage: $0 MCPFLEET_BINARY | --selfcheck | --selfcheck-broken" >&2
    exit 2
}

MODE=real
MCPFLEET=
case "${1:-}" in
    --selfcheck) MODE=selfcheck ;;
    --selfcheck-broken) MODE=broken ;;
    ""|-h|--help) usage ;;
    -*) usage ;;
    *)
        MCPFLEET=$(realpath "$1" 2>/dev/null) || { echo "no such file: $1" >&2; exit 2; }
        [ -x "$MCPFLEET" ] || { echo "not executable: $MCPFLEET" >&2; exit 2; }
        ;;
esac

T0=$(date +%s%N)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpfleet-hosts.XXXXXX")
SB=$WORK/home            # the sandbox HOME
cleanup() {
    local pid
    for pid in $SE_PID $CLINE_MODEL_PID $CN_MODEL_PID "${LIST_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $SE_PID $CLINE_MODEL_PID $CN_MODEL_PID "${LIST_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "sandbox kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# 1. the pinned host CLIs (clean install into the cache, reused while the lock matches)
# ---------------------------------------------------------------------------
install_peers

# ---------------------------------------------------------------------------
# 2. server-everything over Streamable HTTP on a free loopback port
# ---------------------------------------------------------------------------
start_everything

# ---------------------------------------------------------------------------
# 3. the sandbox HOME: every host present, each file with a user-authored entry
#    and sibling keys (lib.sh renders them)
# ---------------------------------------------------------------------------
seed_home "$SB"
mkdir -p "$SB/.qwen" "$SB/.copilot"
cline_seed "$SB"
cn_seed "$SB"
render_all before
chmod 600 "$(hostfile gemini)" "$(hostfile claude-code)"
mkdir -p "$WORK/orig"
for h in $HOSTS; do
    cp -p "$(hostfile "$h")" "$WORK/orig/$h"
done

# ---------------------------------------------------------------------------
# 4. running the host CLIs: list_all, expect, cursor_expect (lib.sh)
# ---------------------------------------------------------------------------
set_host_env

# ---------------------------------------------------------------------------
# 5. the test
# ---------------------------------------------------------------------------
mf() { # run the mcpfleet CLI in the sandbox; output in $WORK/mcpfleet.out
    local rc=0
    echo "\$ mcpfleet $*" >>"$WORK/mcpfleet.log"
    (cd "$SB" && "${host_env[@]}" "MCPFLEET_HOME=$SB/.mcpfleet" timeout "$TMO" "$MCPFLEET" "$@") \
        </dev/null >"$WORK/mcpfleet.out" 2>&1 || rc=$?
    cat "$WORK/mcpfleet.out" >>"$WORK/mcpfleet.log"
    return $rc
}
mf_check() { # description, then mcpfleet args: PASS when it exits 0
    local d=$1 rc=0
    shift
    mf "$@" || rc=$?
    if [ $rc = 0 ]; then pass "mcpfleet $d"; else fail "mcpfleet $d: exit $rc"; show "$WORK/mcpfleet.out"; fi
}

# Each list waits (a bounded relisting, lib.sh) for the servers its phase expects
# connected; not in the broken mode, whose servers are not meant to connect.
if [ "$MODE" = broken ]; then LIST_WAIT=0; fi

# The baseline proves the fixture (every host accepts the user's own entry). The
# selfchecks run it; the real test skips it to save a round of host starts, since its
# last phase checks the same files (byte-identical) for the same thing.
if [ "$MODE" != real ] || [ "${BASELINE:-0}" = 1 ]; then
    echo "== baseline: every host lists the user's own entry"
    list_all baseline shows_connected my-own
    for c in $CLIS; do
        expect baseline "$c" my-own connected
        expect baseline "$c" everything-stdio absent
    done
    cline_run baseline my-own
    cline_expect baseline my-own connected
    cline_expect baseline everything-stdio absent
    cn_run baseline 1
    cn_expect baseline 1 unused
fi

echo "== add two servers and sync"
case $MODE in
    real)
        mf_check "add everything-stdio" add everything-stdio --command node --arg "$SE" --arg stdio
        mf_check "add everything-http" add everything-http --url "$URL" --type http
        mf_check "list" list
        if grep -q everything-stdio "$WORK/mcpfleet.out" && grep -q everything-http "$WORK/mcpfleet.out"; then
            pass "mcpfleet list shows both servers"
        else
            fail "mcpfleet list does not show both servers"; show "$WORK/mcpfleet.out"
        fi
        mf_check "hosts" hosts
        missing=
        for h in $HOSTS; do grep -q -- "$h" "$WORK/mcpfleet.out" || missing="$missing $h"; done
        if [ -z "$missing" ]; then pass "mcpfleet hosts names all $(echo $HOSTS | wc -w) hosts"; else fail "mcpfleet hosts lacks:$missing"; show "$WORK/mcpfleet.out"; fi
        mf_check "sync" sync
        ;;
    selfcheck) render_all after ;;
    broken) render_all broken ;;
esac

list_all synced shows_connected everything-stdio everything-http my-own
for c in $CLIS; do
    expect synced "$c" everything-stdio connected
    expect synced "$c" everything-http connected
    expect synced "$c" my-own connected
done
cursor_expect synced everything-stdio everything-http my-own
cline_run synced everything-stdio everything-http my-own
for n in everything-stdio everything-http my-own; do cline_expect synced "$n" connected; done
cn_run synced 3
cn_expect synced 3 used

echo "== remove both and sync"
case $MODE in
    real)
        mf_check "remove everything-stdio" remove everything-stdio
        mf_check "remove everything-http" remove everything-http
        mf_check "sync (after remove)" sync
        ;;
    selfcheck) render_all before ;;
    broken)
        # leave one entry behind in the minified file and reformat another file
        render_all before
        render_cursor after >"$(hostfile cursor)"
        sed -i 's/^model = "gpt-5-codex"$/model="gpt-5-codex"/' "$(hostfile codex)"
        ;;
esac

list_all removed shows_connected my-own
for c in $CLIS; do
    expect removed "$c" everything-stdio absent
    expect removed "$c" everything-http absent
    expect removed "$c" my-own connected
done
cursor_expect removed '!everything-stdio' '!everything-http' my-own
cline_run removed my-own
cline_expect removed everything-stdio absent
cline_expect removed everything-http absent
cline_expect removed my-own connected
cn_run removed 1
cn_expect removed 1 unused

for h in $HOSTS; do
    f=$(hostfile "$h")
    if cmp -s "$WORK/orig/$h" "$f" && [ "$(stat -c %a "$WORK/orig/$h")" = "$(stat -c %a "$f")" ]; then
        pass "$h: ${f#"$SB"/} byte-identical to before the first sync (mode $(stat -c %a "$f"))"
    else
        fail "$h: ${f#"$SB"/} differs from before the first sync"
        diff <(cat "$WORK/orig/$h"; echo) <(cat "$f"; echo) | head -20 | sed 's/^/    | /' || true
        [ "$(stat -c %a "$WORK/orig/$h")" = "$(stat -c %a "$f")" ] ||
            echo "    | mode $(stat -c %a "$WORK/orig/$h") -> $(stat -c %a "$f")"
    fi
done

[ -s "$WORK/mcpfleet.log" ] && [ "$FAIL" != 0 ] && { echo "-- mcpfleet transcript:"; sed 's/^/    | /' "$WORK/mcpfleet.log" | tail -60; }
echo "mode $MODE, total $(since "$T0")"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
