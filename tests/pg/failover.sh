#!/bin/sh
# SPDX-License-Identifier: MIT
# Failover between mcpfleetd replicas (docs/design.md, "Replicas: the
# agents' side"), with real processes on loopback: two `mcpfleetd serve`
# sharing one PostgreSQL store and one set of key material, and a real
# `mcpfleet run` in a sandbox HOME enrolled through replica 1. Replica 1 is killed with SIGKILL; the
# agent must be served by replica 2 (hello accepted at its revision, then a
# change made through replica 2's API reaches it) within 30 s, without
# enrolling again. Run under tests/pg/cluster.sh:
#   tests/pg/cluster.sh tests/pg/failover.sh mcpfleetd mcpfleetctl mcpfleet
#
# Replica 2's data directory holds copies of replica 1's shared key files
# (the fleet CA and its key, the signing, master and audit keys) and of
# mcpfleetd.conf, which names the shared store, and a server key and
# certificate of its own, issued here by the fleet CA with openssl: the
# agent must accept any certificate of the fleet CA that names the host it
# dials. Both replicas run on 127.0.0.1, which both certificates name, on
# ports of their own (serve --agent-port 0 --api-port 0: the system picks,
# the log says which), so each one's agent address is 127.0.0.1:PORT.
#
# Replica 2 starts only after the agent enrolled: a replica reads the device
# directory from the store when it starts and does not yet hear of devices
# enrolled elsewhere later, so a device enrolled before it started is one it
# knows.
set -u
daemon=$1 ctl=$2 agent=$3
: "${MCPFLEET_TEST_PG:?run under tests/pg/cluster.sh}"
dir=$(mktemp -d /tmp/mcpfleet-replicas.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }
die() {
	bad "$1"
	for f in "$dir"/r1.log "$dir"/r2.log "$dir"/agent.log; do
		[ -f "$f" ] && { echo "-- $f:" >&2; tail -n 25 "$f" >&2; }
	done
	exit 1
}
# wait_for TENTHS CMD...: runs CMD every 0.1 s until it succeeds.
wait_for() {
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
now() { date +%s; }

home=$dir/home
mkdir -p "$home"
mf() { env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 "$agent" "$@"; }
ctl_at() { # API_PORT ARGS...
	port=$1
	shift
	"$ctl" --server "https://127.0.0.1:$port" --token-file "$dir/admin.token" \
		--ca "$dir/r1/ca.crt" "$@"
}
# The ports a serve log announces.
api_port_of() { sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$1" | head -n 1; }
agent_port_of() { sed -n 's/.*agent port \([0-9]*\),.*/\1/p' "$1" | head -n 1; }
serving() { grep -q "serving" "$1"; }
start_replica() { # NAME
	"$daemon" serve --data "$dir/$1" --listen 127.0.0.1 --agent-port 0 \
		--api-port 0 -v >"$dir/$1.log" 2>&1 &
	pid=$!
	pids="$pids $pid"
	wait_for 100 serving "$dir/$1.log" || die "$1 did not start"
}

# Replica 1: a fleet in PostgreSQL, heartbeats every second.
"$daemon" init --data "$dir/r1" --store "postgres:$MCPFLEET_TEST_PG" \
	--name 127.0.0.1 --listen 127.0.0.1 --agent-port 17443 \
	--api-port 17444 >"$dir/init.out" 2>&1 || die "init: $(cat "$dir/init.out")"
sed -n '/first admin token/{n;p}' "$dir/init.out" | tr -d ' \n' >"$dir/admin.token"
[ -s "$dir/admin.token" ] || die "init printed no admin token"
echo "replica_heartbeat = 1" >>"$dir/r1/mcpfleetd.conf"
# Replica 2 shares the key material and the store (see the header).
mkdir -m 0700 "$dir/r2"
for f in ca.crt ca.key signer.key master.key audit.key mcpfleetd.conf; do
	cp -p "$dir/r1/$f" "$dir/r2/$f" || die "cannot copy $f"
done
command -v openssl >/dev/null || die "no openssl command (apt-get install openssl)"
(
	umask 077
	cd "$dir/r2" &&
		openssl ecparam -name prime256v1 -genkey -noout -out server.key &&
		openssl req -new -key server.key -subj "/O=mcpfleet/CN=mcpfleetd replica 2" \
			-out server.csr &&
		printf 'subjectAltName=IP:127.0.0.1\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
			>server.ext &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
			-set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
			-days 30 -sha256 -extfile server.ext -out server.crt &&
		rm -f server.csr server.ext
) >"$dir/openssl.out" 2>&1 || die "replica 2's certificate: $(cat "$dir/openssl.out")"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
[ "$(fp "$dir/r1/server.crt")" != "$(fp "$dir/r2/server.crt")" ] ||
	die "replica 2 has replica 1's certificate"

start_replica r1
r1=$pid
api1=$(api_port_of "$dir/r1.log")
agent1=$(agent_port_of "$dir/r1.log")
ok "replica 1 serves: agent port $agent1, API port $api1"

# The agent enrolls through replica 1 and connects to it.
ctl_at "$api1" user add alice >/dev/null 2>"$dir/ctl.err" || die "user add: $(cat "$dir/ctl.err")"
link=$(ctl_at "$api1" token create --user alice 2>"$dir/ctl.err" |
	grep -o 'mcpfleet://[^ "]*' | head -n 1)
[ -n "$link" ] || die "token create: $(cat "$dir/ctl.err")"
mf enroll "$link" >"$dir/enroll.out" 2>&1 || die "enroll: $(cat "$dir/enroll.out")"
grep -q "\"127.0.0.1:$agent1\"" "$home/.mcpfleet/replicas.json" &&
	ok "the enrollment answer carries replica 1's agent address" ||
	bad "replicas.json: $(cat "$home/.mcpfleet/replicas.json" 2>&1)"
device=$(sed -n 's/.*"device_id": *"\([^"]*\)".*/\1/p' "$home/.mcpfleet/enrollment.json")
env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 "$agent" run >"$dir/agent.log" 2>&1 &
apid=$!
pids="$pids $apid"
connected_to() { # AGENT_PORT
	mf status >"$dir/status.out" 2>&1 &&
		grep -q "127.0.0.1:$1 (connected)" "$dir/status.out"
}
wait_for 150 connected_to "$agent1" || die "the agent did not connect to replica 1"
ok "the agent is connected to replica 1"

# Replica 2 starts; replica 1 hears of it and tells the agent.
start_replica r2
api2=$(api_port_of "$dir/r2.log")
agent2=$(agent_port_of "$dir/r2.log")
ok "replica 2 serves: agent port $agent2, API port $api2"
knows_both() {
	grep -q "\"127.0.0.1:$agent1\"" "$home/.mcpfleet/replicas.json" &&
		grep -q "\"127.0.0.1:$agent2\"" "$home/.mcpfleet/replicas.json"
}
wait_for 100 knows_both && ok "the agent learned the replica set over its connection" ||
	die "the agent never learned replica 2: $(cat "$home/.mcpfleet/replicas.json")"
mf status >"$dir/status.out" 2>&1
grep -q "^replicas   .*127.0.0.1:$agent1 (connected)" "$dir/status.out" &&
	grep -q "^replicas   .*127.0.0.1:$agent2" "$dir/status.out" &&
	ok "mcpfleet status lists both replicas and marks the one in use" ||
	bad "status: $(cat "$dir/status.out")"
rev=$(mf status --json | sed -n 's/^  "revision": \([0-9]*\),*$/\1/p')

# Replica 1 dies. Within 30 s replica 2 serves the agent.
kill -9 "$r1"
t0=$(now)
wait_for 300 connected_to "$agent2" || die "the agent did not reach replica 2 within 30 s"
ok "the agent reconnected to replica 2 (its own certificate) after $(($(now) - t0)) s, without enrolling again"
hello_seen() {
	ctl_at "$api2" --json device show "$device" >"$dir/dev.json" 2>/dev/null &&
		grep -q '"connected": *true' "$dir/dev.json"
}
wait_for 100 hello_seen && ok "replica 2 accepted the device's connection" ||
	bad "replica 2 does not show $device connected: $(cat "$dir/dev.json")"
# Replica 2 made a revision of its own when it started (numbered by the
# shared store, so newer than the agent's): the hello's revision is at least
# the agent's, and both sides then agree on the current one.
agent_rev() { mf status --json | sed -n 's/^  "revision": \([0-9]*\),*$/\1/p'; }
same_rev() {
	ctl_at "$api2" --json device show "$device" >"$dir/dev.json" 2>/dev/null || return 1
	d=$(sed -n 's/^  "applied_revision": \([0-9]*\),*$/\1/p' "$dir/dev.json")
	a=$(agent_rev)
	[ -n "$d" ] && [ "$d" = "$a" ] && [ "$d" -ge "$rev" ]
}
wait_for 100 same_rev &&
	ok "replica 2 and the agent agree on its current revision ($(agent_rev), was $rev)" ||
	bad "replica 2's applied_revision and the agent's differ: $(cat "$dir/dev.json")"
rev=$(agent_rev)

# A change through replica 2 reaches the agent.
ctl_at "$api2" server add made-on-replica-two --command npx --arg srv \
	>/dev/null 2>"$dir/ctl.err" &&
	ctl_at "$api2" grant add made-on-replica-two --everyone >/dev/null 2>>"$dir/ctl.err" ||
	die "change through replica 2: $(cat "$dir/ctl.err")"
# The agent keeps the verified catalogue in catalogue.pb; the server's
# name is in it as plain bytes.
newer() {
	r=$(agent_rev)
	[ -n "$r" ] && [ "$r" -gt "$rev" ] &&
		grep -aq "made-on-replica-two" "$home/.mcpfleet/catalogue.pb"
}
wait_for 100 newer && ok "a change made through replica 2 reached the agent" ||
	bad "the agent's revision stayed $rev"
[ $(($(now) - t0)) -le 30 ] && ok "served by replica 2 within 30 s of the kill" ||
	bad "took $(($(now) - t0)) s"
grep -q "mcpfleet enroll" "$dir/agent.log" && bad "the agent asked to enroll again"
# Replica 1's heartbeat stopped: after three periods replica 2 drops it from
# the set, and tells the agent.
only_two() {
	! grep -q "\"127.0.0.1:$agent1\"" "$home/.mcpfleet/replicas.json" &&
		grep -q "\"127.0.0.1:$agent2\"" "$home/.mcpfleet/replicas.json"
}
wait_for 100 only_two && ok "the dead replica left the set the agent keeps" ||
	bad "replicas.json still lists replica 1: $(cat "$home/.mcpfleet/replicas.json")"
mf status >"$dir/status.out" 2>&1
grep -q "127.0.0.1:$agent2 (connected)" "$dir/status.out" ||
	bad "status: $(cat "$dir/status.out")"

[ "$fails" -eq 0 ] || {
	for f in "$dir"/r1.log "$dir"/r2.log "$dir"/agent.log; do
		echo "-- $f:" >&2
		tail -n 25 "$f" >&2
	done
	exit 1
}
echo "all ok"
