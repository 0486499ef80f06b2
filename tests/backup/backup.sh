#!/bin/bash
# SPDX-License-Identifier: MIT
# mcpfleetd backup and restore end to end: a real daemon with an enrolled
# agent, backed up while it serves, restored into a new directory and
# served on other ports: the same devices and revision, the agent's
# certificate still accepted, the audit chain verified; truncated,
# corrupted and misdirected restores refused with the reason.
#   tests/backup/backup.sh build/mcpfleetd build/mcpfleetctl build/mcpfleet
set -u
daemon=$1
ctl=$2
agent=$3
dir=$(mktemp -d /tmp/mcpfleet-backup.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }
die() { echo "FAIL: $1" >&2; exit 1; }

# serve DATA LOG: the daemon on ephemeral ports; sets port, aport.
serve() {
	"$daemon" serve --data "$1" --listen 127.0.0.1 --agent-port 0 --api-port 0 >"$2" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do grep -q serving "$2" && break; sleep 0.1; done
	port=$(sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$2")
	aport=$(sed -n 's/.*agent port \([0-9]*\),.*/\1/p' "$2")
	[ -n "$port" ] || die "serve $1: $(cat "$2")"
	export MCPFLEET_SERVER="https://127.0.0.1:$port" MCPFLEET_CA="$1/ca.crt"
}
# agent_sees REV: mcpfleet run until status reports that revision applied.
agent_sees() {
	HOME=$dir/home timeout 20 "$agent" run >>"$dir/agent.log" 2>&1 &
	local p=$! got=
	for _ in $(seq 150); do
		got=$(HOME=$dir/home "$agent" status --json 2>/dev/null |
			python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("revision", ""))' 2>/dev/null)
		[ "$got" = "$1" ] && break
		sleep 0.1
	done
	kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
	[ "$got" = "$1" ] || echo "agent status revision '$got', want $1" >&2
	[ "$got" = "$1" ]
}
revision() { "$ctl" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }

a=$dir/a
"$daemon" init --data "$a" >"$dir/init.out" 2>&1 || die "init: $(cat "$dir/init.out")"
export MCPFLEET_TOKEN=$(sed -n '/first admin token/{n;p;}' "$dir/init.out" | tr -d ' ')
serve "$a" "$dir/a.log"
"$ctl" user add alice >/dev/null || die "user add"
"$ctl" server add files --command npx --arg -y >/dev/null || die "server add"
link=$("$ctl" --json token create --user alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["link"])')
mkdir -p "$dir/home"
HOME=$dir/home "$agent" enroll "$link" >"$dir/enroll.out" 2>&1 || die "enroll: $(cat "$dir/enroll.out")"
rev=$(revision)
agent_sees "$rev" && ok "agent applies revision $rev on the first daemon" || bad "agent: $(tail -5 "$dir/agent.log")"
devs=$("$ctl" --json device list | python3 -c 'import json,sys; print(sorted(d["id"] for d in json.load(sys.stdin)))')

# Backed up while serving, with writes going on.
( for i in $(seq 20); do "$ctl" user add "u$i" >/dev/null; done ) &
w=$!
"$daemon" backup --data "$a" --to "$dir/fleet.bak" >"$dir/backup.out" 2>&1 &&
	ok "backup while serving" || bad "backup: $(cat "$dir/backup.out")"
wait $w
rev_after=$(revision)
[ "$(stat -c %a "$dir/fleet.bak")" = 600 ] && ok "archive is 0600" || bad "archive mode $(stat -c %a "$dir/fleet.bak")"
ls "$dir" | grep -q 'fleet.bak.db-' && bad "temporary database left behind"

b=$dir/b
"$daemon" restore --from "$dir/fleet.bak" --data "$b" >"$dir/restore.out" 2>&1 &&
	grep -q "audit chain of .* verified" "$dir/restore.out" &&
	ok "restore verifies the audit chain" || bad "restore: $(cat "$dir/restore.out")"
serve "$b" "$dir/b.log"
[ "$aport" != "$(sed -n 's/.*agent port \([0-9]*\),.*/\1/p' "$dir/a.log")" ] || bad "same ports"
rrev=$(revision)
# The restored daemon republishes on its first start (one step past what
# was backed up at most), never falls back.
[ "$rrev" -ge "$rev" ] && [ "$rrev" -le $((rev_after + 1)) ] &&
	ok "restored daemon serves revision $rrev (backup taken between $rev and $rev_after)" ||
	bad "restored revision $rrev not in $rev..$((rev_after + 1))"
devs2=$("$ctl" --json device list | python3 -c 'import json,sys; print(sorted(d["id"] for d in json.load(sys.stdin)))')
[ "$devs2" = "$devs" ] && ok "restored daemon has the same devices $devs" || bad "devices $devs2 != $devs"
"$ctl" audit verify >/dev/null 2>&1 && ok "restored daemon's audit verifies" || bad "audit verify on restored"
# The agent moves to the restored daemon with its certificate unchanged
# (the first daemon stopped: the agent would keep to it otherwise).
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null
python3 - "$dir/home/.mcpfleet/enrollment.json" "$aport" "$port" <<'PY'
import json, sys
p = sys.argv[1]; e = json.load(open(p))
e["agent_port"] = int(sys.argv[2]); e["api_port"] = int(sys.argv[3])
json.dump(e, open(p, "w"))
PY
rm -f "$dir/home/.mcpfleet/replicas.json" # the first daemon's endpoints
HOME=$dir/home timeout 20 "$agent" run >"$dir/agent2.log" 2>&1 &
p=$!
for _ in $(seq 150); do grep -q "connected to" "$dir/agent2.log" && break; sleep 0.1; done
kill $p 2>/dev/null; wait $p 2>/dev/null
grep -q "connected to wss://localhost:$aport/ as ${devs:2:28}" "$dir/agent2.log" &&
	ok "agent's certificate accepted by the restored daemon" ||
	bad "agent on restored: $(cat "$dir/agent2.log")"

# Refusals.
out=$("$daemon" restore --from "$dir/fleet.bak" --data "$b" 2>&1) && bad "restore into non-empty dir" ||
	{ echo "$out" | grep -q "not empty" && ok "non-empty directory refused" || bad "$out"; }
head -c 4000 "$dir/fleet.bak" >"$dir/trunc.bak"
out=$("$daemon" restore --from "$dir/trunc.bak" --data "$dir/c" 2>&1) && bad "truncated restored" ||
	{ echo "$out" | grep -q "truncated" && ok "truncated archive refused: $out" || bad "$out"; }
[ -e "$dir/c" ] && bad "truncated restore created the directory"
cp "$dir/fleet.bak" "$dir/bad.bak"
printf 'X' | dd of="$dir/bad.bak" bs=1 seek=6000 conv=notrunc 2>/dev/null
out=$("$daemon" restore --from "$dir/bad.bak" --data "$dir/c" 2>&1) && bad "corrupted restored" ||
	{ echo "$out" | grep -q "corrupted" && ok "corrupted archive refused: $out" || bad "$out"; }
out=$("$daemon" restore --from "$dir/a/ca.crt" --data "$dir/c" 2>&1) && bad "not an archive restored" ||
	{ echo "$out" | grep -q "not an mcpfleetd backup" && ok "non-archive refused" || bad "$out"; }

[ $fails -eq 0 ] && echo "backup: all passed" || { echo "backup: $fails failed" >&2; exit 1; }
