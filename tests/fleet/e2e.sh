#!/usr/bin/env bash
# End-to-end fleet test: a real mcpfleetd on loopback, driven by mcpfleetctl, and real
# agents (mcpfleet enroll, mcpfleet run) in sandbox homes that hold all seven hosts'
# files with the user's own servers and settings; the real host CLIs list the result
# (tests/hosts/lib.sh). Phases: 1 onboarding, 2 org-wide push (timed), 3 permissions,
# 4 secret rotation, 5 offboarding, 6 faults. The servers are rendered natively
# ("via": "direct"), credentials in the host files; tests/exec/e2e.sh covers the
# default, the launcher.
#
#   tests/fleet/e2e.sh MCPFLEETD MCPFLEETCTL MCPFLEET
#
# Environment: MCPFLEET_CACHE, HOSTS_TIMEOUT and HOSTS_WAIT as for tests/hosts/run.sh; PUSHES (timed
# org-wide pushes, default 3); KEEP=1 keeps the sandbox (server data and log, homes,
# agent logs, CLI outputs). Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail
shopt -s lastpipe # printf VALUE | ctl_must ...: ctl_must runs in this shell
exec </dev/null

usage() {
    echo "usage: $0 MCPFLEETD MCPFLEETCTL MCPFLEET" >&2
    exit 2
}
[ $# = 3 ] || usage
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
. "$HERE/../hosts/lib.sh" # install_peers, start_everything, homes, list_all, expect
PUSHES=${PUSHES:-3}

T0=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpfleet-e2e.XXXXXX")
DATA=$WORK/data
SLOG=$WORK/mcpfleetd.log
SERVER_PID=
declare -A APID=() DEV=()
cleanup() {
    local pid
    for pid in "${APID[@]}" $SERVER_PID $SE_PID "${LIST_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${APID[@]}" $SERVER_PID $SE_PID "${LIST_PIDS[@]}"; do
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
trap 'echo "e2e.sh: line $LINENO: unexpected failure (exit $?)" >&2' ERR

# shellcheck source=tests/fleet/lib.sh
. "$HERE/lib.sh" # ctl, mfu, enroll, start_agent, homes, fleet_setup

fleet_setup

for u in alice bob carol; do make_home "$u"; done

# The per-user secret values (alice's rotates in phase 4; carol gets the org value).
rnd() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }
VAL_ALICE=alice-$(rnd)
VAL_BOB=bob-$(rnd)
VAL_ALICE2=alice-rotated-$(rnd)
VAL_ORG=org-$(rnd)

# ---------------------------------------------------------------------------
echo "== 1. onboarding"
# ---------------------------------------------------------------------------
P1=$(date +%s%N)
ctl_must "user add alice" user add alice --email alice@example.com
ctl_must "user add bob" user add bob
ctl_must "team add dev" team add dev
ctl_must "team member add dev alice" team member add dev alice
# shellcheck disable=SC2016 # ${secret:...} is for the server
ctl_must "server add everything-stdio" server add everything-stdio --via direct --command node --arg "$SE" --arg stdio \
    --env 'EVERYTHING_TOKEN=${secret:EVERYTHING_TOKEN}'
# shellcheck disable=SC2016
ctl_must "server add everything-http" server add everything-http --via direct --url "$URL" --type http \
    --header 'Authorization: Bearer ${secret:EVERYTHING_TOKEN}'
printf %s "$VAL_ALICE" | ctl_must "secret set (alice)" secret set EVERYTHING_TOKEN --user alice
printf %s "$VAL_BOB" | ctl_must "secret set (bob)" secret set EVERYTHING_TOKEN --user bob
ctl_must "grant everything-stdio" grant add everything-stdio --everyone
ctl_must "grant everything-http" grant add everything-http --everyone
pass "[onboard] users, team, two servers, per-user secrets and grants made with mcpfleetctl"

for u in alice bob; do
    enroll onboard "$u"
    start_agent "$u"
done
for u in alice bob; do
    if wait_until 30 has_names "$u" everything-http,everything-stdio,my-own everything-stdio,my-own; then
        pass "[onboard] $u: fleet servers in every host after $(since "$P1") from the first mcpfleetctl call"
    fi
    check_names onboard "$u" everything-http,everything-stdio,my-own everything-stdio,my-own
done
for u in alice bob; do
    [ $u = alice ] && { mine=$VAL_ALICE; other=$VAL_BOB; o=bob; } || { mine=$VAL_BOB; other=$VAL_ALICE; o=alice; }
    if all_files_have "$u" "$mine"; then
        pass "[onboard] $u: every host file holds $u's secret value"
    else
        fail "[onboard] $u: some host file lacks $u's secret value"
        for f in $(host_files "$u"); do grep -qF "$mine" "$f" || echo "    | missing in ${f#"$WORK"/}"; done
    fi
    if grep -rqF -- "$other" "$WORK/$u"; then
        fail "[onboard] $o's secret value is in $u's home: $(grep -rlF -- "$other" "$WORK/$u" | head -3 | tr '\n' ' ')"
    else
        pass "[onboard] $o's secret value is nowhere in $u's home"
    fi
done
for u in alice bob; do
    if wait_until 10 report_hosts_have "$u" everything-stdio; then
        pass "[onboard] $u: the device's sync report lists the fleet servers in every present host"
    else
        fail "[onboard] $u: device report: $(device_json "$u" | jsx 'JSON.stringify(d.report)' | head -c 400)"
    fi
done

# the real host CLIs, each listing again until its servers are connected (lib.sh);
# codex connects to nothing when it lists, and shows everything-http's header as its Auth
onboard_ready() { # TAG CLI
    if [ "$2" = codex ]; then list_shows "$1" codex my-own connected; return; fi
    shows_connected "$1" "$2" everything-stdio everything-http my-own
}
for u in alice bob; do
    SB=$WORK/$u
    list_all "onboard-$u" onboard_ready
    for c in $CLIS; do
        expect "onboard-$u" "$c" everything-stdio connected
        if [ "$c" = codex ]; then
            # With an Authorization header codex shows "Bearer token" in its Auth column
            # instead of the result of its OAuth probe (FINDINGS.md).
            if grep -Eq "^everything-http +$NAMEPORT +- +enabled +Bearer token *\$" "$WORK/onboard-$u.codex"; then
                pass "[onboard-$u] codex: everything-http enabled, its Authorization header taken as a bearer token"
            else
                fail "[onboard-$u] codex: everything-http not enabled with a bearer token"
                show "$WORK/onboard-$u.codex"
            fi
        else
            expect "onboard-$u" "$c" everything-http connected
        fi
        expect "onboard-$u" "$c" my-own connected
    done
    cursor_expect "onboard-$u" everything-stdio everything-http my-own
done
echo "[onboard] took $(since "$P1")"

# ---------------------------------------------------------------------------
echo "== 2. org-wide push"
# ---------------------------------------------------------------------------
P2=$(date +%s%N)
both_files_have() { grep -qF "\"$1\"" "$WORK/alice/.cursor/mcp.json" && grep -qF "\"$1\"" "$WORK/bob/.cursor/mcp.json"; }
both_past() { # REV: both devices' reports of a revision > REV have landed (no node: cheap to poll)
    ctl --json device list | awk -v a="${DEV[alice]}" -v b="${DEV[bob]}" -v r="$1" '
        /^ *"id": / { id = $2; gsub(/[",]/, "", id) }
        /^ *"applied_revision": / { v = $2; sub(/,/, "", v); if ((id == a || id == b) && v + 0 > r + 0) n++ }
        END { exit n == 2 ? 0 : 1 }'
}
poll() { # SECONDS CMD...: CMD every 10 ms until it succeeds; 1 when time runs out
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.01
    done
}
PUSH_MS=()
ORG=
for i in $(seq "$PUSHES"); do
    ctl_must "server add org-$i" server add "org-$i" --via direct --command node --arg "$SE" --arg stdio
    r0=$(revision)
    t=$(now_ms)
    ctl_must "grant add org-$i --everyone" grant add "org-$i" --everyone
    t_call=$(ms_since "$t")
    if ! poll 30 both_files_have "org-$i"; then
        fail "[push] org-$i did not reach both homes within 30 s"
        continue
    fi
    t_files=$(ms_since "$t")
    if ! poll 30 both_past "$r0"; then
        fail "[push] org-$i: the sync reports did not land within 30 s"
        continue
    fi
    ms=$(ms_since "$t")
    PUSH_MS+=("$ms")
    echo "push time: $ms ms (org-$i: mcpfleetctl answered after $t_call ms, in both homes' ~/.cursor/mcp.json after $t_files ms, both reports landed after $ms ms)"
    ORG="$ORG,org-$i"
done
if [ ${#PUSH_MS[@]} -gt 0 ]; then
    med=$(printf '%s\n' "${PUSH_MS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "push time: $med ms (median of ${#PUSH_MS[@]}: ${PUSH_MS[*]})"
    pass "[push] $PUSHES org-wide servers reached both devices (median $med ms)"
fi
for u in alice bob; do
    check_names push "$u" "everything-http,everything-stdio,my-own$ORG" "everything-stdio,my-own$ORG"
    if report_hosts_have "$u" "org-$PUSHES"; then
        pass "[push] $u: the device's report lists org-$PUSHES in every present host"
    else
        fail "[push] $u: the device's report lacks org-$PUSHES"
    fi
done
echo "[push] took $(since "$P2")"

# ---------------------------------------------------------------------------
echo "== 3. permissions"
# ---------------------------------------------------------------------------
P3=$(date +%s%N)
ctl_must "server add dev-tools" server add dev-tools --via direct --command node --arg "$SE" --arg stdio
r0=$(revision)
ctl_must "grant add dev-tools --team dev --tools-deny get-env,get-sum" grant add dev-tools --team dev \
    --tools-deny get-env,get-sum
if wait_until 30 applied_past alice "$r0"; then
    pass "[perm] alice's device applied and reported the team grant"
else
    fail "[perm] alice's device did not report a revision after $r0"
fi
check_names perm alice "dev-tools,everything-http,everything-stdio,my-own$ORG" "dev-tools,everything-stdio,my-own$ORG"
check_names perm bob "everything-http,everything-stdio,my-own$ORG" "everything-stdio,my-own$ORG"
if grep -rqF dev-tools "$WORK/bob"; then
    fail "[perm] dev-tools appears in bob's home: $(grep -rlF dev-tools "$WORK/bob" | head -3 | tr '\n' ' ')"
else
    pass "[perm] dev-tools (granted to team dev) appears nowhere in bob's home"
fi
if device_json bob | jsx 'JSON.stringify(d)' | grep -qF dev-tools; then
    fail "[perm] bob's device record mentions dev-tools"
else
    pass "[perm] bob's device report does not mention dev-tools"
fi
# the tool filter, in each host that has one
if entry alice codex dev-tools | grep -Eq '^disabled_tools = \["get-env", ?"get-sum"\]$'; then
    pass "[perm] codex: dev-tools has disabled_tools = [get-env, get-sum]"
else
    fail "[perm] codex: dev-tools table: $(entry alice codex dev-tools 2>&1 | tr '\n' ' ')"
fi
for hk in gemini:excludeTools droid:disabledTools; do
    h=${hk%%:*} k=${hk#*:}
    got=$(entry alice "$h" dev-tools | jsx "JSON.stringify(d.$k)" 2>&1) || true
    if [ "$got" = '["get-env","get-sum"]' ]; then
        pass "[perm] $h: dev-tools has $k [get-env, get-sum]"
    else
        fail "[perm] $h: dev-tools $k is $got"
    fi
done
for h in codex gemini droid; do # the grant's deny list stays on that grant's server
    if entry alice "$h" everything-stdio | grep -q get-env; then
        fail "[perm] $h: everything-stdio got dev-tools' tool filter"
    fi
done
# what the real codex makes of it
SB=$WORK/alice
set_host_env
if "${host_env[@]}" timeout "$TMO" "$BIN/codex" mcp get dev-tools --json >"$WORK/perm.codex-get" 2>&1 &&
    [ "$(sed -n '/^{/,$p' "$WORK/perm.codex-get" | jsx 'JSON.stringify(d.disabled_tools)' 2>/dev/null)" = '["get-env","get-sum"]' ]; then
    pass "[perm] codex mcp get dev-tools --json: disabled_tools [get-env, get-sum]"
else
    fail "[perm] codex mcp get dev-tools --json does not show the disabled tools"
    show "$WORK/perm.codex-get"
fi
echo "[perm] took $(since "$P3")"

# ---------------------------------------------------------------------------
echo "== 4. secret rotation"
# ---------------------------------------------------------------------------
P4=$(date +%s%N)
files_sha bob >"$WORK/bob.sha.before"
bob_rev=$(device_json bob | jsx d.applied_revision)
r0=$(revision)
t=$(now_ms)
printf %s "$VAL_ALICE2" | ctl_must "secret set EVERYTHING_TOKEN --user alice (new value)" \
    secret set EVERYTHING_TOKEN --user alice
rotated() { all_files_have alice "$VAL_ALICE2" && no_file_has alice "$VAL_ALICE"; }
if wait_until 30 rotated; then
    pass "[rotate] alice: every host file has the new value and none the old one, after $(ms_since "$t") ms"
else
    fail "[rotate] alice's host files did not all change to the new value"
fi
wait_until 30 applied_past alice "$r0" || fail "[rotate] alice's device did not report the rotation"
sleep 1 # bob's agent would have had ample time to write, had anything been sent
files_sha bob >"$WORK/bob.sha.after"
if cmp -s "$WORK/bob.sha.before" "$WORK/bob.sha.after"; then
    pass "[rotate] bob's seven host files are byte-identical (sha256) across alice's rotation"
else
    fail "[rotate] bob's host files changed:"
    diff "$WORK/bob.sha.before" "$WORK/bob.sha.after" | sed 's/^/    | /' || true
fi
if grep -rqF -- "$VAL_ALICE2" "$WORK/bob"; then
    fail "[rotate] alice's new value is in bob's home"
else
    pass "[rotate] alice's new value is nowhere in bob's home"
fi
bob_rev2=$(device_json bob | jsx d.applied_revision)
[ "$bob_rev2" = "$bob_rev" ] && note "bob's device was not sent anything (applied revision stays $bob_rev)" ||
    note "bob's device moved from revision $bob_rev to $bob_rev2 (its files did not change)"
if grep -rlF -- "$VAL_ALICE" "$WORK/alice" >"$WORK/rotate.stale" 2>/dev/null; then
    note "alice's old value is still in: $(sed "s|$WORK/||" "$WORK/rotate.stale" | tr '\n' ' ')"
fi
echo "[rotate] took $(since "$P4")"

# ---------------------------------------------------------------------------
echo "== 5. offboarding"
# ---------------------------------------------------------------------------
P5=$(date +%s%N)
cp -a "$WORK/alice/.mcpfleet" "$WORK/alice-creds" # the credentials, to replay them later
t=$(now_ms)
ctl_must "device revoke alice's device" device revoke "${DEV[alice]}" --reason "e2e: left the company"
if wait_until 15 files_are_orig alice; then
    pass "[offboard] alice: fleet entries wiped from all seven hosts $(ms_since "$t") ms after the revoke; her own entries and settings byte-identical to before enrollment (mode too)"
else
    fail "[offboard] alice: host files not back to their pre-enrollment bytes within 15 s"
    show_orig_diff alice
fi
agent_exit alice 15
if [ "$AGENT_RC" = 4 ]; then
    pass "[offboard] alice's agent exited with 4 (revoked)"
else
    fail "[offboard] alice's agent: exit $AGENT_RC (wanted 4)"
fi
left=$(cd "$WORK/alice/.mcpfleet" && ls device.key device.crt catalogue.pb enrollment.json 2>/dev/null | tr '\n' ' ') || true
if [ -z "$left" ]; then pass "[offboard] alice's device credentials and catalogue.pb are deleted"; else fail "[offboard] left in alice's ~/.mcpfleet: $left"; fi

kill -TERM "${APID[bob]}"
agent_exit bob 15
if [ "$AGENT_RC" = 0 ]; then pass "[offboard] bob's agent stopped cleanly on SIGTERM"; else fail "[offboard] bob's agent: exit $AGENT_RC on SIGTERM (wanted 0)"; fi
ctl_must "device revoke bob's device (offline)" device revoke "${DEV[bob]}"
if files_are_orig bob; then
    fail "[offboard] bob's files lost their fleet entries while his agent was stopped?"
else
    pass "[offboard] bob's offline device still has its fleet entries (nothing can tell it yet)"
fi
t=$(now_ms)
start_agent bob
agent_exit bob 20
bob_ms=$(ms_since "$t")
if [ "$AGENT_RC" = 4 ]; then
    pass "[offboard] bob: mcpfleet run after the revoke exited with 4 after $bob_ms ms"
else
    fail "[offboard] bob: mcpfleet run after the revoke: exit $AGENT_RC (wanted 4)"
fi
if files_are_orig bob; then
    pass "[offboard] bob: fleet entries wiped; his own entries and settings byte-identical to before enrollment"
else
    fail "[offboard] bob: host files not back to their pre-enrollment bytes"
    show_orig_diff bob
fi

# No credential outlives the wipe: not in the host files, and not in the <file>.bak
# backups the syncs made while enrolled (the wipe deletes them).
for u in alice bob; do
    [ $u = alice ] && vals=(-e "$VAL_ALICE" -e "$VAL_ALICE2") || vals=(-e "$VAL_BOB")
    if grep -rlF "${vals[@]}" "$WORK/$u" >"$WORK/stale-$u" 2>/dev/null; then
        fail "[offboard] $u's fleet secrets are still on disk after the wipe, in $(wc -l <"$WORK/stale-$u") file(s): $(sed "s|$WORK/$u/|~/|" "$WORK/stale-$u" | tr '\n' ' ')"
    else
        pass "[offboard] no secret value of $u's is left anywhere in $u's home"
    fi
done

# a revoked certificate is refused afterwards: alice's old credentials, in a home with no hosts
mkdir -p "$WORK/ghost"
cp -a "$WORK/alice-creds" "$WORK/ghost/.mcpfleet"
rc=0
MF_TMO=30 mfu ghost run || rc=$?
case $rc in
    4) pass "[offboard] alice's old credentials: mcpfleet run is told the revocation again (exit 4): $(grep -m1 -i revoked "$WORK/mf.out" | head -c 200)" ;;
    3) pass "[offboard] alice's old credentials: mcpfleet run is refused (exit 3): $(tail -n 1 "$WORK/mf.out" | head -c 200)" ;;
    *) fail "[offboard] alice's old credentials: mcpfleet run: exit $rc (wanted 4 or 3)"; show "$WORK/mf.out" ;;
esac
if [ "$(device_json alice | jsx 'd.status + " " + d.connected')" = "revoked false" ]; then
    pass "[offboard] alice's device is revoked and not connected"
else
    fail "[offboard] alice's device: $(device_json alice | jsx 'd.status + " connected=" + d.connected')"
fi

ctl_must "user offboard alice" user offboard alice
printf '%s\n' "$CTL_OUT" >"$WORK/offboard.out"
if grep -q EVERYTHING_TOKEN "$WORK/offboard.out"; then
    pass "[offboard] mcpfleetctl user offboard alice lists the delivered credential EVERYTHING_TOKEN"
else
    fail "[offboard] mcpfleetctl user offboard alice does not list EVERYTHING_TOKEN"
    show "$WORK/offboard.out"
fi
# versions 1 and 2 (the rotation) were both delivered, to alice's device only
if grep -E 'EVERYTHING_TOKEN' "$WORK/offboard.out" | grep -q "alice" &&
    ! grep -q bob "$WORK/offboard.out"; then
    pass "[offboard] the credentials listed are alice's (user scope alice), none of bob's"
else
    fail "[offboard] the offboard listing does not name alice's scope, or names bob"
    show "$WORK/offboard.out"
fi
echo "[offboard] took $(since "$P5")"

# ---------------------------------------------------------------------------
echo "== 6. faults"
# ---------------------------------------------------------------------------
P6=$(date +%s%N)
ctl_must "user add carol" user add carol
printf %s "$VAL_ORG" | ctl_must "secret set EVERYTHING_TOKEN (org)" secret set EVERYTHING_TOKEN
enroll fault carol
start_agent carol
if wait_until 30 has_names carol "everything-http,everything-stdio,my-own$ORG" "everything-stdio,my-own$ORG" &&
    all_files_have carol "$VAL_ORG"; then
    pass "[fault] carol: enrolled; the everyone servers with the org-scope secret in every host"
else
    check_names fault carol "everything-http,everything-stdio,my-own$ORG" "everything-stdio,my-own$ORG"
    abort "[fault] carol's home did not converge"
fi
wait_until 10 applied_past carol 0 || true
cp "$WORK/carol/.mcpfleet/catalogue.pb" "$WORK/catalogue.old.pb"

# kill -9 the server, restart it: the agent reconnects and converges
disown "$SERVER_PID" # (or bash reports the SIGKILL on stderr)
kill -KILL "$SERVER_PID"
wait_until 10 dead "$SERVER_PID" || abort "[fault] mcpfleetd survived SIGKILL?"
t=$(now_ms)
start_server
connected() { [ "$(device_json carol | jsx d.connected)" = true ]; }
if wait_until 60 connected; then
    pass "[fault] mcpfleetd killed with SIGKILL and restarted: carol's agent reconnected after $(ms_since "$t") ms"
else
    fail "[fault] carol's agent did not reconnect within 60 s of the restart"
fi
r0=$(revision)
ctl_must "server add after-restart" server add after-restart --via direct --command node --arg "$SE" --arg stdio
ctl_must "grant add after-restart --user carol" grant add after-restart --user carol
if wait_until 30 has_names carol "after-restart,everything-http,everything-stdio,my-own$ORG" "after-restart,everything-stdio,my-own$ORG"; then
    pass "[fault] a change made after the restart reached carol's hosts"
else
    fail "[fault] a change made after the restart did not reach carol's hosts"
fi
check_names fault carol "after-restart,everything-http,everything-stdio,my-own$ORG" "after-restart,everything-stdio,my-own$ORG"
wait_until 30 applied_past carol "$r0" || fail "[fault] carol's device did not report after the restart"

# tampered and replayed catalogue.pb: mcpfleet sync refuses, writes nothing
kill -TERM "${APID[carol]}"
agent_exit carol 15
[ "$AGENT_RC" = 0 ] || fail "[fault] carol's agent: exit $AGENT_RC on SIGTERM (wanted 0)"
CPB=$WORK/carol/.mcpfleet/catalogue.pb
cp "$CPB" "$WORK/catalogue.good.pb"
# a personal server waiting to be synced: a sync that went ahead would write it
mfu carol add carol-own --command node --arg "$SE" --arg stdio || fail "[fault] mcpfleet add carol-own: $(cat "$WORK/mf.out")"
files_sha carol >"$WORK/carol.sha.before"
off=$(grep -obaF after-restart "$CPB" | head -n 1 | cut -d: -f1) || true
[ -n "$off" ] || off=$(($(stat -c %s "$CPB") / 2))
printf 'X' | dd of="$CPB" bs=1 seek="$off" conv=notrunc status=none
rc=0
mfu carol sync || rc=$?
files_sha carol >"$WORK/carol.sha.after"
if [ $rc != 0 ] && cmp -s "$WORK/carol.sha.before" "$WORK/carol.sha.after"; then
    pass "[fault] tampered catalogue.pb (one byte of the payload): mcpfleet sync exit $rc, host files unchanged: $(grep -m1 . "$WORK/mf.out" | head -c 200)"
else
    fail "[fault] tampered catalogue.pb: mcpfleet sync exit $rc, host files $(cmp -s "$WORK/carol.sha.before" "$WORK/carol.sha.after" && echo unchanged || echo CHANGED)"
    show "$WORK/mf.out"
fi
cp "$WORK/catalogue.old.pb" "$CPB"
rc=0
mfu carol sync || rc=$?
files_sha carol >"$WORK/carol.sha.after"
if [ $rc != 0 ] && cmp -s "$WORK/carol.sha.before" "$WORK/carol.sha.after"; then
    pass "[fault] replayed older catalogue.pb: mcpfleet sync exit $rc, host files unchanged: $(grep -m1 . "$WORK/mf.out" | head -c 200)"
else
    fail "[fault] replayed older catalogue.pb: mcpfleet sync exit $rc, host files $(cmp -s "$WORK/carol.sha.before" "$WORK/carol.sha.after" && echo unchanged || echo CHANGED)"
    show "$WORK/mf.out"
fi
cp "$WORK/catalogue.good.pb" "$CPB"
rc=0
mfu carol sync || rc=$?
if [ $rc = 0 ] && has_names carol "after-restart,carol-own,everything-http,everything-stdio,my-own$ORG" "after-restart,carol-own,everything-stdio,my-own$ORG"; then
    pass "[fault] with the genuine catalogue.pb back, mcpfleet sync writes (carol-own added everywhere)"
else
    fail "[fault] genuine catalogue.pb: mcpfleet sync exit $rc"
    show "$WORK/mf.out"
fi

# a host file broken by hand blocks only that host
start_agent carol
wait_until 30 connected || fail "[fault] carol's agent did not reconnect"
CUR=$WORK/carol/.cursor/mcp.json
cp -p "$CUR" "$WORK/cursor.good"
printf '{"mcpServers": {"my-own": {"command": "node",' >"$CUR"
cp -p "$CUR" "$WORK/cursor.broken"
r0=$(revision)
ctl_must "server add late" server add late --via direct --command node --arg "$SE" --arg stdio
ctl_must "grant add late --everyone" grant add late --everyone
others_have_late() {
    local h
    SB=$WORK/carol
    for h in $HOSTS7; do
        [ $h = cursor ] && continue
        grep -qF '"late"' "$(hostfile "$h")" || grep -qF '[mcp_servers.late]' "$(hostfile "$h")" || return 1
    done
}
if wait_until 30 others_have_late; then
    pass "[fault] with ~/.cursor/mcp.json broken, the six other hosts still got the update"
else
    fail "[fault] with cursor broken, the other hosts did not all get the update"
    names carol | sed 's/^/    | /'
fi
if cmp -s "$WORK/cursor.broken" "$CUR"; then
    pass "[fault] the broken ~/.cursor/mcp.json was not written"
else
    fail "[fault] the broken ~/.cursor/mcp.json was changed"
fi
cursor_blocked() {
    [ "$(device_json carol | jsx "!!d.report && d.report.revision > $r0 && d.report.hosts.some(h => h.host === 'cursor' && h.status === 'blocked')")" = true ]
}
if wait_until 30 cursor_blocked; then
    pass "[fault] carol's device report says cursor is blocked: $(device_json carol | jsx "d.report.hosts.find(h => h.host === 'cursor').message" | head -c 200)"
else
    fail "[fault] carol's device report does not say cursor is blocked: $(device_json carol | jsx 'JSON.stringify(d.report)' | head -c 600)"
fi
if [ "$(device_json carol | jsx "d.report.hosts.filter(h => h.status === 'blocked').map(h => h.host).join()")" = cursor ]; then
    pass "[fault] cursor is the only blocked host"
else
    fail "[fault] blocked hosts: $(device_json carol | jsx "d.report.hosts.filter(h => h.status === 'blocked').map(h => h.host).join()")"
fi
# repaired by hand: the agent notices and brings cursor up to date
cp -p "$WORK/cursor.good" "$CUR"
if wait_until 45 grep -qF '"late"' "$CUR"; then
    pass "[fault] ~/.cursor/mcp.json repaired by hand: the running agent caught it up"
else
    fail "[fault] ~/.cursor/mcp.json repaired: the agent did not bring it up to date within 45 s"
fi
echo "[fault] took $(since "$P6")"

# ---------------------------------------------------------------------------
echo "== the end"
# ---------------------------------------------------------------------------
if ctl audit verify >"$WORK/audit.out"; then pass "mcpfleetctl audit verify: $(head -n 1 "$WORK/audit.out")"; else fail "audit verify: $(cat "$WORK/audit.out" "$WORK/ctl.err")"; fi
kill -TERM "${APID[carol]}"
agent_exit carol 15
kill -TERM "$SERVER_PID"
rc=0
for _ in $(seq 300); do dead "$SERVER_PID" && break; sleep 0.05; done
wait "$SERVER_PID" || rc=$?
SERVER_PID=
if [ $rc = 0 ]; then pass "mcpfleetd stopped cleanly on SIGTERM"; else fail "mcpfleetd: exit $rc on SIGTERM"; fi
if grep -Eiq 'AddressSanitizer|runtime error|assert' "$SLOG"; then fail "mcpfleetd's log reports a sanitizer error or assertion"; fi
finish
