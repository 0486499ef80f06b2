# shellcheck shell=bash
# Shared by tests/fleet/e2e.sh and tests/exec/e2e.sh (source it after tests/hosts/lib.sh,
# do not run it): mcpfleetctl and mcpfleet against a test mcpfleetd, sandbox homes with
# all seven hosts, agents, and fleet_setup, which starts the server.
#
# The sourcing script sets WORK, DATA (the server's data directory), SLOG (its log),
# MCPFLEETD, MCPFLEETCTL and MCPFLEET, declares APID and DEV (associative arrays) and
# SERVER_PID, and kills what they name in its exit trap.

FLEET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

HOSTS7="claude-code claude-desktop codex droid cursor opencode gemini"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ms_since() { echo $(($(now_ms) - $1)); }

finish() {
    if [ "$FAIL" != 0 ]; then
        local f
        for f in "$SLOG" "$WORK"/agent-*.log; do
            [ -f "$f" ] || continue
            echo "-- ${f##*/} (last 30 lines):"
            tail -n 30 "$f" | sed 's/^/    | /' || true
        done
    fi
    echo "total $(since "$T0")"
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ] && exit 0
    exit 1
}
abort() { # a failure later phases cannot go on from
    fail "$*"
    echo "aborting: the phases after this one depend on it"
    finish
}

# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds; 1 when time runs out
wait_until() {
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# jsx EXPR: evaluates a JavaScript expression over the JSON on stdin (bound to d)
jsx() {
    E2E_EXPR=$1 node -e '
        const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const r = new Function("d", "return (" + process.env.E2E_EXPR + ");")(d);
        process.stdout.write(typeof r === "string" ? r : JSON.stringify(r));'
}

ctl() { # mcpfleetctl against the test server; stderr in $WORK/ctl.err, all in ctl.log
    local rc=0
    echo "\$ mcpfleetctl $*" >>"$WORK/ctl.log"
    timeout "$TMO" "$MCPFLEETCTL" --server "https://127.0.0.1:$API_PORT" \
        --token-file "$WORK/admin.token" --ca "$DATA/ca.crt" "$@" 2>"$WORK/ctl.err" || rc=$?
    cat "$WORK/ctl.err" >>"$WORK/ctl.log"
    return $rc
}
ctl_must() { # DESCRIPTION ARGS...: ctl, aborting the test when it fails; stdout in CTL_OUT
    local d=$1 rc=0
    shift
    CTL_OUT=$(ctl "$@") || rc=$?
    [ $rc = 0 ] || abort "mcpfleetctl $d: exit $rc: $(head -c 400 "$WORK/ctl.err")"
}
revision() { ctl --json status | jsx d.revision; }
device_json() { ctl --json device show "${DEV[$1]}"; }
applied_past() { # USER REV: the device's sync report for a revision > REV has landed
    [ "$(device_json "$1" | jsx "d.applied_revision > $2")" = true ]
}
report_hosts_have() { # USER NAME: every present host of the last report manages NAME
    [ "$(device_json "$1" | jsx "!!d.report && d.report.hosts.filter(h => h.status !== 'absent').every(h => h.managed.includes('$2'))")" = true ]
}

dead() { # PID: exited (gone, or a zombie not yet reaped)
    local st
    kill -0 "$1" 2>/dev/null || return 0
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
    [ "$st" = Z ]
}

# The homes: $WORK/USER, every host present (claude-desktop as on Linux), each file with
# the user's own server "my-own" and sibling settings; copies in $WORK/orig-USER.
render_claude_desktop() {
    cat <<EOF
{
  "preferences": {
    "quickEntryShortcut": "off",
    "menuBarEnabled": false
  },
  "mcpServers": {
    "my-own": {
      "command": "node",
      "args": ["$SE", "stdio"],
      "env": { "MY_OWN": "1" }
    }
  }
}
EOF
}
make_home() { # USER
    SB=$WORK/$1
    seed_home "$SB"
    mkdir -p "$SB/.config/Claude"
    render_all before
    render_claude_desktop >"$(hostfile claude-desktop)"
    chmod 600 "$(hostfile gemini)" "$(hostfile claude-code)"
    mkdir -p "$WORK/orig-$1"
    local h
    for h in $HOSTS7; do cp -p "$(hostfile "$h")" "$WORK/orig-$1/$h"; done
}
host_files() { # USER: the seven host files of that home
    local h
    SB=$WORK/$1
    for h in $HOSTS7; do hostfile "$h"; done
}
files_sha() { # USER: sha256 of the seven host files
    local f
    for f in $(host_files "$1"); do sha256sum "$f"; done
}
names() { node "$FLEET_DIR/hostfiles.cjs" names "$WORK/$1"; }
want_names() { # ALL DESKTOP: what names prints for a home with these servers
    local h
    for h in $HOSTS7; do
        if [ "$h" = claude-desktop ]; then echo "$h $2"; else echo "$h $1"; fi
    done
}
has_names() { # USER ALL DESKTOP
    [ "$(names "$1" 2>&1)" = "$(want_names "$2" "$3")" ]
}
check_names() { # TAG USER ALL DESKTOP: PASS/FAIL on what the seven files hold
    if has_names "$2" "$3" "$4"; then
        pass "[$1] $2: the seven host files hold exactly: $3 (claude-desktop, stdio only: $4)"
    else
        fail "[$1] $2: host files do not hold exactly $3 (claude-desktop: $4)"
        diff <(want_names "$3" "$4") <(names "$2" 2>&1) | sed 's/^/    | /' || true
    fi
}
entry() { node "$FLEET_DIR/hostfiles.cjs" entry "$WORK/$1" "$2" "$3"; }
all_files_have() { # USER STRING: every host file holds STRING
    local f
    for f in $(host_files "$1"); do grep -qF -- "$2" "$f" || return 1; done
}
no_file_has() { # USER STRING: no host file holds STRING
    local f
    for f in $(host_files "$1"); do ! grep -qF -- "$2" "$f" || return 1; done
}
files_are_orig() { # USER: every host file byte-identical (and same mode) to before enrollment
    local h f
    SB=$WORK/$1
    for h in $HOSTS7; do
        f=$(hostfile "$h")
        cmp -s "$WORK/orig-$1/$h" "$f" || return 1
        [ "$(stat -c %a "$WORK/orig-$1/$h")" = "$(stat -c %a "$f")" ] || return 1
    done
}
show_orig_diff() { # USER
    local h f
    SB=$WORK/$1
    for h in $HOSTS7; do
        f=$(hostfile "$h")
        cmp -s "$WORK/orig-$1/$h" "$f" && continue
        echo "    | $h: ${f#"$WORK"/}:"
        diff <(cat "$WORK/orig-$1/$h"; echo) <(cat "$f" 2>&1; echo) | head -12 | sed 's/^/    | /' || true
    done
}

mfu() { # USER ARGS...: the mcpfleet CLI in that home (MF_TMO seconds at most); output in $WORK/mf.out
    local u=$1 rc=0
    shift
    SB=$WORK/$u
    set_host_env
    echo "\$ [$u] mcpfleet $*" >>"$WORK/mcpfleet.log"
    "${host_env[@]}" timeout "${MF_TMO:-$TMO}" "$MCPFLEET" "$@" >"$WORK/mf.out" 2>&1 || rc=$?
    cat "$WORK/mf.out" >>"$WORK/mcpfleet.log"
    return $rc
}
start_agent() { # USER: mcpfleet run in that home, in the background
    local u=$1
    SB=$WORK/$u
    set_host_env
    echo "--- $(date +%T) mcpfleet run" >>"$WORK/agent-$u.log"
    "${host_env[@]}" "$MCPFLEET" run >>"$WORK/agent-$u.log" 2>&1 &
    APID[$u]=$!
}
agent_exit() { # USER SECONDS: waits for the agent's exit, its code in AGENT_RC (124: killed)
    local u=$1 pid=${APID[$1]}
    AGENT_RC=0
    if wait_until "$2" dead "$pid"; then
        wait "$pid" || AGENT_RC=$?
    else
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        AGENT_RC=124
    fi
    unset "APID[$u]"
}
enroll() { # TAG USER: a token, then mcpfleet enroll LINK in that home; DEV[USER] = device id
    local tag=$1 u=$2 link
    ctl_must "token create --user $u" --json token create --user "$u"
    link=$(printf '%s' "$CTL_OUT" | jsx d.link)
    if mfu "$u" enroll "$link"; then
        pass "[$tag] $u: mcpfleet enroll LINK"
    else
        show "$WORK/mf.out"
        abort "[$tag] $u: mcpfleet enroll failed"
    fi
    DEV[$u]=$(jsx d.device_id <"$WORK/$u/.mcpfleet/enrollment.json")
}

free_port() {
    node -e 'const s = require("net").createServer();
        s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
server_up() { # 0 up, 1 not yet, 2 dead
    ctl status >/dev/null 2>&1 && return 0
    dead "$SERVER_PID" && return 2
    return 1
}
start_server() {
    echo "--- $(date +%T) mcpfleetd serve" >>"$SLOG"
    "$MCPFLEETD" serve --data "$DATA" -v >>"$SLOG" 2>&1 &
    SERVER_PID=$!
    local i r
    for i in $(seq 200); do
        r=0
        server_up || r=$?
        [ $r = 1 ] || break
        sleep 0.05
    done
    [ $r = 0 ] || { tail -n 20 "$SLOG" | sed 's/^/    | /'; abort "mcpfleetd serve did not come up (try $i)"; }
}

# Host CLIs and server-everything (tests/hosts/lib.sh), then a fresh mcpfleetd on
# two free loopback ports: AGENT_PORT, API_PORT, $WORK/admin.token, SERVER_PID.
fleet_setup() {
    install_peers
    start_everything

    API_PORT=
    AGENT_PORT=
    for _ in $(seq 10); do
        AGENT_PORT=$(free_port)
        API_PORT=$(free_port)
        [ "$AGENT_PORT" != "$API_PORT" ] && break
    done
    if ! "$MCPFLEETD" init --data "$DATA" --listen 127.0.0.1 --name 127.0.0.1 \
            --agent-port "$AGENT_PORT" --api-port "$API_PORT" >"$WORK/init.out" 2>&1; then
        show "$WORK/init.out"
        abort "mcpfleetd init"
    fi
    sed -n '/first admin token/{n;p}' "$WORK/init.out" | tr -d ' \n' >"$WORK/admin.token"
    chmod 600 "$WORK/admin.token"
    [ -s "$WORK/admin.token" ] || abort "mcpfleetd init printed no admin token"
    start_server
    echo "mcpfleetd: agent port $AGENT_PORT, API port $API_PORT (pid $SERVER_PID), log $SLOG"
}
