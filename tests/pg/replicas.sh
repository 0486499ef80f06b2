#!/bin/bash
# SPDX-License-Identifier: MIT
# Three mcpfleetd replicas on one PostgreSQL store, with real agents
# (mcpfleet run in sandbox HOMEs) on different replicas: init --join, one
# revision per change whichever replica made it, a change made on one
# replica reaching the agents of the others, a revocation on one replica
# closing the device on another within a second, console sessions that work
# on every replica and outlive a restart, PostgreSQL restarted under
# them, and a replica killed with SIGKILL: its agent back on another one at
# the newest revision, the others answering. Run under tests/pg/cluster.sh:
#   tests/pg/cluster.sh tests/pg/replicas.sh MCPFLEETD MCPFLEETCTL MCPFLEET
set -u
MCPFLEETD=$1 MCPFLEETCTL=$2 MCPFLEET=$3
: "${MCPFLEET_TEST_PG:?run under tests/pg/cluster.sh}"
W=$(mktemp -d /tmp/mcpfleet-replicas.XXXXXX)
declare -A SPID APID DEV
cleanup() {
	local p
	for p in "${APID[@]}" "${SPID[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
T0=$(date +%s%N)
fails=0
ok() { echo "ok: $1 [$((($(date +%s%N) - T0) / 1000000)) ms]"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }
die() {
	bad "$1"
	for f in "$W"/r*.log "$W"/agent-*.log; do
		[ -f "$f" ] && { echo "-- $f"; tail -n 25 "$f"; }
	done
	exit 1
}
psql_q() { psql -X -q -At "$MCPFLEET_TEST_PG" -c "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_until SECONDS CMD...: CMD every 50 ms until it succeeds.
wait_until() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# ctl N ARGS...: mcpfleetctl against replica N.
ctl() {
	local n=$1
	shift
	timeout 20 "$MCPFLEETCTL" --server "https://127.0.0.1:${API[$n]}" \
		--token-file "$W/admin.token" --ca "$W/r1/ca.crt" "$@" 2>>"$W/ctl.err"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
revisions() { psql_q "SELECT count(*) || ' ' || coalesce(max(revision), 0) FROM revisions"; }

declare -A API AGENT
for n in 1 2 3; do API[$n]=$(free_port); AGENT[$n]=$(free_port); done

# ---- init, join ----
"$MCPFLEETD" init --data "$W/r1" --store "postgres:$MCPFLEET_TEST_PG" --listen 127.0.0.1 \
	--name 127.0.0.1 --name localhost \
	--agent-port "${AGENT[1]}" --api-port "${API[1]}" >"$W/init.out" 2>&1 ||
	die "init: $(cat "$W/init.out")"
sed -n 's/^  \([A-Za-z0-9_-]\{40,\}\)$/\1/p' "$W/init.out" | head -n 1 >"$W/admin.token"
[ -s "$W/admin.token" ] || die "no admin token in: $(cat "$W/init.out")"
for n in 2 3; do
	"$MCPFLEETD" init --join "$W/r1" --data "$W/r$n" --name 127.0.0.1 --name localhost \
		--agent-port "${AGENT[$n]}" --api-port "${API[$n]}" >"$W/join.out" 2>&1 ||
		die "init --join r$n: $(cat "$W/join.out")"
done
same=1
for f in ca.crt ca.key signer.key master.key audit.key; do
	cmp -s "$W/r1/$f" "$W/r2/$f" && cmp -s "$W/r1/$f" "$W/r3/$f" || same=0
	[ "$(stat -c %a "$W/r2/$f")" = 600 ] || same=0
done
[ $same = 1 ] && ok "init --join copies the CA, signing, master and audit keys (0600)" ||
	bad "the joined key material differs"
! cmp -s "$W/r1/server.key" "$W/r2/server.key" && ! cmp -s "$W/r2/server.crt" "$W/r3/server.crt" &&
	grep -q "^agent_port = ${AGENT[2]}$" "$W/r2/mcpfleetd.conf" &&
	[ "$(grep '^store' "$W/r1/mcpfleetd.conf")" = "$(grep '^store' "$W/r3/mcpfleetd.conf")" ] &&
	ok "each replica has its own server key, certificate and ports, and the same store" ||
	bad "the replicas' own files are wrong"
[ "$(psql_q "SELECT count(*) FROM audit WHERE action = 'replica.join'")" = 2 ] &&
	ok "each join is audited" || bad "no replica.join audit rows"
"$MCPFLEETD" init --data "$W/lite" --agent-port 17001 --api-port 17002 >/dev/null 2>&1
if "$MCPFLEETD" init --join "$W/lite" --data "$W/r9" >"$W/out" 2>&1; then
	bad "joined a SQLite fleet"
else
	grep -q "replicas share a PostgreSQL store" "$W/out" && [ ! -e "$W/r9/ca.key" ] &&
		ok "joining a SQLite fleet is refused, nothing written" || bad "unexpected: $(cat "$W/out")"
fi

# ---- serve ----
serve() {
	echo "--- serve $(date +%T.%N)" >>"$W/r$1.log"
	"$MCPFLEETD" serve --data "$W/r$1" -v >>"$W/r$1.log" 2>&1 &
	SPID[$1]=$!
}
up() { ctl "$1" status >/dev/null; }
for n in 1 2 3; do serve $n; done
for n in 1 2 3; do wait_until 10 up $n || die "replica $n did not come up"; done
ok "three replicas serve one store"

# ---- agents: alice on replica 1, bob on 2, carol on 3 ----
# An agent starts at a place in the replica set that its device id picks
# (common/replicas.c); the test places each one by giving it a set of one
# replica. The server's Replicas frame then gives it all three, and it
# stays where it is until it loses that connection.
pin() { # USER N
	python3 - "$W/$1/.mcpfleet/replicas.json" "127.0.0.1:${AGENT[$2]}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["addresses"] = [sys.argv[2]]
open(sys.argv[1], "w").write(json.dumps(d))
EOF
}
for n in 1 2 3; do
	u=$(echo alice bob carol | cut -d' ' -f$n)
	ctl 1 user add "$u" >/dev/null || die "user add $u"
	mkdir -p "$W/$u/.codex"
	link=$(ctl $n --json token create --user "$u" | jget 'd["link"]') || die "token on r$n"
	HOME=$W/$u timeout 20 "$MCPFLEET" enroll "$link" >"$W/enroll.out" 2>&1 ||
		die "enroll $u at replica $n: $(cat "$W/enroll.out")"
	DEV[$u]=$(jget 'd["device_id"]' <"$W/$u/.mcpfleet/enrollment.json")
	pin "$u" "$n"
	HOME=$W/$u "$MCPFLEET" run >>"$W/agent-$u.log" 2>&1 &
	APID[$u]=$!
done
connected() { [ "$(ctl "$1" --json device show "${DEV[$2]}" | jget 'd["connected"]')" = True ]; }
# 25 s for each connection here: an agent whose first connection closes
# comes back within 10.5 s (its reconnect spread).
wait_until 25 connected 1 alice && wait_until 25 connected 2 bob && wait_until 25 connected 3 carol ||
	die "the agents did not connect to their replicas"
if ! connected 1 bob && ! connected 2 alice && ! connected 1 carol && ! connected 3 alice; then
	ok "each agent is connected to the replica it enrolled at"
else
	bad "an agent is connected to another replica than its own"
fi

# ---- a change on replica 1 reaches every agent: one revision each ----
has() { grep -q "$2" "$W/$1/.codex/config.toml" 2>/dev/null; }
read -r n0 max0 <<<"$(revisions)"
ctl 1 server add fromone --via direct --command /bin/true >/dev/null || die "server add"
ctl 1 grant add fromone --everyone >/dev/null || die "grant add"
t=$(now_ms)
# 20 s: room for an agent that lost its connection just then to come back
# (agents spread a reconnect over up to 10.5 s).
if wait_until 20 has alice fromone && wait_until 20 has bob fromone && wait_until 20 has carol fromone; then
	ok "a server added on replica 1 reaches the agents on replicas 1, 2 and 3 ($(($(now_ms) - t)) ms)"
else
	bad "the server did not reach every agent"
	for u in alice bob carol; do
		has $u fromone || { echo "-- $u lacks it:"; tail -n 8 "$W/agent-$u.log"; }
	done
fi
read -r n1 max1 <<<"$(revisions)"
[ $((n1 - n0)) = 2 ] && [ $((max1 - max0)) = 2 ] &&
	ok "two changes made two signed revisions, not one per replica" ||
	bad "revisions went from $n0 (max $max0) to $n1 (max $max1)"
wait_until 5 grep -q "replicas: revision $max1 from the store" "$W/r2.log" &&
	grep -q "replicas: revision $max1 from the store" "$W/r3.log" &&
	! grep -q "replicas: revision $max1 from the store" "$W/r1.log" &&
	ok "replicas 2 and 3 serve the revision replica 1 signed" || bad "the revision was not loaded"

same_bytes() { # USER: the agent keeps byte for byte the envelope stored for it
	[ "$(od -An -v -tx1 "$W/$1/.mcpfleet/catalogue.pb" | tr -d ' \n')" = \
		"$(psql_q "SELECT encode(envelope, 'hex') FROM pub_entries WHERE device_id = '${DEV[$1]}'")" ]
}
same_bytes bob && same_bytes carol && same_bytes alice &&
	ok "bob (replica 2) and carol (replica 3) hold the very envelopes replica 1 signed" ||
	bad "an agent holds an envelope that is not the stored one"

# ---- a device enrolled on replica 3 is known to replica 1 ----
# carol's agent moves to replica 1 (as an agent does when its replica goes
# away): replica 1 learned of her device from the notification of its
# enrollment, and serves her the envelope replica 1 signed and stored.
kill "${APID[carol]}"
wait "${APID[carol]}" 2>/dev/null
pin carol 1
HOME=$W/carol "$MCPFLEET" run >>"$W/agent-carol.log" 2>&1 &
APID[carol]=$!
wait_until 25 connected 1 carol && ! connected 3 carol &&
	ok "carol, enrolled on replica 3, is accepted by replica 1" ||
	bad "replica 1 does not serve carol: $(tail -n 3 "$W/agent-carol.log")"
ctl 2 server add tocarol --via direct --command /bin/true >/dev/null &&
	ctl 2 grant add tocarol --user carol >/dev/null || bad "grant to carol"
wait_until 20 has carol tocarol && ! has bob tocarol &&
	ok "a grant to carol made on replica 2 reaches her through replica 1, and only her" ||
	bad "the grant to carol did not reach her through replica 1"

# ---- concurrent changes on three replicas: distinct numbers ----
read -r n1 max1 <<<"$(revisions)"
pids=()
for n in 1 2 3; do
	ctl $n server add "par$n" --via direct --command /bin/true >/dev/null &
	pids+=($!)
done
wait_ok=0
for j in "${pids[@]}"; do wait "$j" || wait_ok=1; done
read -r n2 max2 <<<"$(revisions)"
[ $wait_ok = 0 ] && [ $((n2 - n1)) = 3 ] && [ $((max2 - max1)) = 3 ] &&
	[ "$(psql_q "SELECT value FROM meta WHERE key = 'revision'")" = "$max2" ] &&
	ok "three concurrent changes on three replicas: revisions $((max1 + 1))..$max2, each once" ||
	bad "concurrent changes: $n1/$max1 -> $n2/$max2 (ctl $wait_ok)"

# ---- a console session from replica 1 works on replica 2 and after a restart ----
curl_api() { # N ARGS...
	local n=$1
	shift
	curl -sS --max-time 10 --cacert "$W/r1/ca.crt" "$@" -w '\n%{http_code}'
}
resp=$(curl_api 1 -D "$W/hdr" -H 'Content-Type: application/json' \
	--data "{\"token\":\"$(cat "$W/admin.token")\"}" "https://127.0.0.1:${API[1]}/api/v1/session")
code=${resp##*$'\n'}
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-mcpfleet_session=[^;]*\);.*/\1/p' "$W/hdr" | tr -d '\r')
csrf=$(echo "${resp%$'\n'*}" | jget 'd["csrf"]')
[ "$code" = 201 ] && [ -n "$cookie" ] && grep -qi "set-cookie: __Host-mcpfleet_session=.*; Secure; .*Path=/" "$W/hdr" &&
	! grep -qi "set-cookie:.*domain" "$W/hdr" &&
	ok "sign-in on replica 1: a __Host- cookie (Secure, Path=/, no Domain)" ||
	die "sign-in: $code $(cat "$W/hdr")"
session_on() { # N: GET /session with the cookie answers 200 with the same CSRF token
	local r
	r=$(curl_api "$1" -H "Cookie: $cookie" "https://127.0.0.1:${API[$1]}/api/v1/session")
	[ "${r##*$'\n'}" = 200 ] && [ "$(echo "${r%$'\n'*}" | jget 'd["csrf"]')" = "$csrf" ]
}
session_on 2 && ok "the session works on replica 2" || bad "replica 2 does not know the session"
post_user() { # N NAME [CSRF]: the status of POST /users in the session
	local h=()
	[ $# -ge 3 ] && h=(-H "X-CSRF-Token: $3")
	r=$(curl_api "$1" -H "Cookie: $cookie" -H 'Content-Type: application/json' "${h[@]}" \
		--data "{\"name\":\"$2\"}" "https://127.0.0.1:${API[$1]}/api/v1/users")
	echo "${r##*$'\n'}"
}
[ "$(post_user 3 dave)" = 403 ] && [ "$(post_user 3 dave "$csrf")" = 201 ] &&
	ok "on replica 3 a change needs the session's CSRF token, and works with it" ||
	bad "CSRF on replica 3"
read -r n3 max3 <<<"$(revisions)"
kill "${SPID[1]}"
wait "${SPID[1]}" 2>/dev/null
serve 1
wait_until 10 up 1 || die "replica 1 did not come back"
session_on 1 && ok "the session outlives replica 1's restart" || bad "the restart signed the console out"
# Agents spread their reconnects over up to 10.5 s after losing a server,
# and go on to the next replica of the set.
connected_any() { connected 1 "$1" || connected 2 "$1" || connected 3 "$1"; }
wait_until 25 connected_any alice && ok "alice, who lost replica 1, is connected again" ||
	bad "alice did not reconnect"
# Back on replica 1 for what follows.
kill "${APID[alice]}"
wait "${APID[alice]}" 2>/dev/null
pin alice 1
HOME=$W/alice "$MCPFLEET" run >>"$W/agent-alice.log" 2>&1 &
APID[alice]=$!
wait_until 25 connected 1 alice || bad "alice did not connect to replica 1 again"
read -r n4 max4 <<<"$(revisions)"
[ "$n4" = "$n3" ] && ok "a restarted replica makes no revision of its own" ||
	bad "the restart made revisions: $n3 -> $n4"

# ---- revoked on replica 2, closed by replica 1 within a second ----
t=$(now_ms)
ctl 2 device revoke "${DEV[alice]}" --reason "lost laptop" >/dev/null || die "device revoke"
dead() { ! kill -0 "${APID[alice]}" 2>/dev/null; }
if wait_until 3 dead; then
	ms=$(($(now_ms) - t))
	wait "${APID[alice]}"
	rc=$?
	unset "APID[alice]"
	grep -q "revoked by the fleet (lost laptop)" "$W/agent-alice.log" && [ "$ms" -lt 1000 ] &&
		ok "alice (replica 1) got the revocation made on replica 2 in $ms ms (exit $rc)" ||
		bad "revocation: $ms ms, exit $rc: $(tail -n 3 "$W/agent-alice.log")"
else
	bad "alice's agent on replica 1 was not revoked"
fi
[ "$(psql_q "SELECT count(*) FROM revocations")" = 1 ] &&
	ok "the revocation is signed once and stored" || bad "revocations stored: $(psql_q "SELECT count(*) FROM revocations")"
! has alice fromone && ok "alice's fleet entries are gone" || bad "alice still has fleet entries"

# ---- PostgreSQL restarts under the replicas ----
# The change comes at once, while the others' listening connections are
# still down or just back: a replica that missed its notification reads it
# from the tables when it listens again.
"$MCPFLEET_TEST_PG_RESTART" || die "pg_ctl restart"
t=$(now_ms)
ctl 3 server add afterpg --via direct --command /bin/true >/dev/null &&
	ctl 3 grant add afterpg --everyone >/dev/null || bad "changes on replica 3 after the restart"
relisten() { [ "$(grep -c "replicas: listening for changes" "$W/r$1.log")" -ge "$2" ]; }
wait_until 10 relisten 2 2 && wait_until 10 relisten 3 2 ||
	bad "replicas 2 and 3 did not listen again after the restart"
wait_until 20 has bob afterpg && wait_until 20 has carol afterpg &&
	ok "after PostgreSQL restarted, a change on replica 3 reaches bob (replica 2) and carol ($(($(now_ms) - t)) ms)" ||
	bad "the change after the restart did not reach everyone"
ctl 1 status >/dev/null && ok "replica 1 answers after the restart" || bad "replica 1 after the restart"

# ---- kill -9 of replica 2: its agent moves, the others keep answering ----
# It can only if it was told the whole set (replicas started together beat
# every second at first, so that none hands out a set of one for long).
knows3() { grep -q "the fleet has 3 replicas" "$W/agent-bob.log"; }
wait_until 10 knows3 && ok "bob was told all three replicas" ||
	bad "bob does not know the three replicas: $(grep 'the fleet has' "$W/agent-bob.log" | tail -n 1)"
kill -9 "${SPID[2]}"
wait "${SPID[2]}" 2>/dev/null
unset "SPID[2]"
t=$(now_ms)
ctl 1 server add afterkill --via direct --command /bin/true >/dev/null &&
	ctl 3 grant add afterkill --everyone >/dev/null &&
	ok "replicas 1 and 3 take changes with replica 2 gone" || bad "changes after kill -9 of replica 2"
moved() { connected 1 bob || connected 3 bob; }
current() { # USER: the device applied the newest revision
	[ "$(ctl 1 --json device show "${DEV[$1]}" | jget 'd["applied_revision"]')" = \
		"$(psql_q "SELECT max(revision) FROM revisions")" ]
}
wait_until 30 moved && wait_until 30 has bob afterkill && wait_until 30 current bob &&
	wait_until 30 has carol afterkill &&
	ok "kill -9 of replica 2: bob is on another replica and at the newest revision ($(($(now_ms) - t)) ms)" ||
	bad "bob did not come back after kill -9 of replica 2: $(tail -n 3 "$W/agent-bob.log")"

# The survivors stop cleanly (under the sanitizers: without a report).
for p in "${APID[@]}"; do kill "$p" 2>/dev/null; done
for n in 1 3; do kill "${SPID[$n]}"; done
for n in 1 3; do wait "${SPID[$n]}"; done
APID=() SPID=()
for n in 1 3; do
	grep -q "error:" "$W/r$n.log" && bad "replica $n logged an error: $(grep "error:" "$W/r$n.log" | head -n 3)"
	grep -q -e "Sanitizer" -e "runtime error" "$W/r$n.log" && bad "replica $n: a sanitizer report"
	[ "$(tail -n 1 "$W/r$n.log")" = "mcpfleetd: stopped" ] || bad "replica $n did not stop cleanly"
done
echo "total $((($(date +%s%N) - T0) / 1000000)) ms"
[ "$fails" -eq 0 ] || { echo "$fails failed" >&2; for f in "$W"/r*.log; do echo "-- $f"; tail -n 20 "$f"; done; exit 1; }
echo "replicas on PostgreSQL: all checks passed"
