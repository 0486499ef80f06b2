#!/bin/sh
# SPDX-License-Identifier: MIT
# Certificate renewal end to end (docs/design.md, "Certificate renewal"),
# with real processes on loopback: mcpfleetd with device_days = 1 and a real
# `mcpfleet run --renew-before 172800` in a sandbox HOME, so that the
# enrolled certificate is due at once. The agent must renew over its
# websocket, reconnect with the new certificate (a new serial, the device
# record and the audit saying so) and still receive changes; it must not
# renew again in the same run. Then the server certificate is renewed
# offline (`mcpfleetd cert renew`) and the daemon restarted: the agent
# reconnects without enrolling again, as it pins the fleet CA, not the
# server's certificate. Last, a revoked device is refused.
#   tests/renew/renew.sh mcpfleetd mcpfleetctl mcpfleet
set -u
daemon=$1 ctl=$2 agent=$3
dir=$(mktemp -d /tmp/mcpfleet-renew.XXXXXX)
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
	for f in "$dir"/serve*.log "$dir"/agent.log; do
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
command -v openssl >/dev/null || die "no openssl command (apt-get install openssl)"

home=$dir/home
mfhome=$home/.mcpfleet
mkdir -p "$home"
mf() { env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 "$agent" "$@"; }
ctl() {
	"$ctl" --server "https://127.0.0.1:$api" --token-file "$dir/admin.token" \
		--ca "$dir/data/ca.crt" "$@"
}
api_port_of() { sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$1" | head -n 1; }
agent_port_of() { sed -n 's/.*agent port \([0-9]*\),.*/\1/p' "$1" | head -n 1; }
serving() { grep -q "serving" "$1"; }
# The first serve takes the ports the system picks; a restart the same.
serve_n=0 api=0 agent_port=0
start_server() {
	serve_n=$((serve_n + 1))
	log=$dir/serve$serve_n.log
	"$daemon" serve --data "$dir/data" --agent-port "$agent_port" --api-port "$api" \
		-v >"$log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	wait_for 100 serving "$log" || die "serve did not start"
	api=$(api_port_of "$log")
	agent_port=$(agent_port_of "$log")
}
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'; }
dev_json() { ctl --json device show "$device" >"$dir/dev.json" 2>"$dir/ctl.err"; }
dev_field() { sed -n "s/^  \"$1\": \"*\([^\",]*\)\"*,*\$/\1/p" "$dir/dev.json"; }
connected() { dev_json && grep -q '"connected": *true' "$dir/dev.json"; }

# Device certificates valid one day.
"$daemon" init --data "$dir/data" --name 127.0.0.1 --listen 127.0.0.1 \
	--agent-port 17443 --api-port 17444 >"$dir/init.out" 2>&1 || die "init: $(cat "$dir/init.out")"
sed -n '/first admin token/{n;p}' "$dir/init.out" | tr -d ' \n' >"$dir/admin.token"
[ -s "$dir/admin.token" ] || die "init printed no admin token"
sed -i 's/^device_days = .*/device_days = 1/' "$dir/data/mcpfleetd.conf"
grep -q '^device_days = 1$' "$dir/data/mcpfleetd.conf" || die "no device_days line"
start_server
ok "mcpfleetd serves (API port $api), device_days = 1"

ctl user add alice >/dev/null 2>"$dir/ctl.err" || die "user add: $(cat "$dir/ctl.err")"
link=$(ctl token create --user alice 2>"$dir/ctl.err" | grep -o 'mcpfleet://[^ "]*' | head -n 1)
[ -n "$link" ] || die "token create: $(cat "$dir/ctl.err")"
mf enroll "$link" >"$dir/enroll.out" 2>&1 || die "enroll: $(cat "$dir/enroll.out")"
device=$(sed -n 's/.*"device_id": *"\([^"]*\)".*/\1/p' "$mfhome/enrollment.json")
s1=$(serial_of "$mfhome/device.crt")
k1=$(sha256sum "$mfhome/device.key" | cut -d' ' -f1)
dev_json || die "device show: $(cat "$dir/ctl.err")"
[ "$(dev_field cert_serial)" = "$s1" ] && ok "enrolled $device with certificate serial $s1" ||
	bad "device show: cert_serial $(dev_field cert_serial), the agent has $s1"
na=$(dev_field cert_not_after)
now=$(date +%s)
[ -n "$na" ] && [ "$na" -gt $((now + 86000)) ] && [ "$na" -le $((now + 86400 + 60)) ] &&
	ok "cert_not_after is a day from now ($na)" || bad "cert_not_after: '$na', now $now"

# The agent: its one-day certificate is due with --renew-before 2 days.
env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 "$agent" run --renew-before 172800 \
	>"$dir/agent.log" 2>&1 &
apid=$!
pids="$pids $apid"
renewed() {
	dev_json && s=$(dev_field cert_serial) && [ -n "$s" ] && [ "$s" != "$s1" ] &&
		grep -q "certificate renewed" "$dir/agent.log"
}
wait_for 200 renewed || die "no renewal: device serial $(dev_field cert_serial)"
s2=$(dev_field cert_serial)
ok "the device renewed over its connection: serial $s1 -> $s2"
[ "$(serial_of "$mfhome/device.crt")" = "$s2" ] && ok "device.crt holds the new certificate" ||
	bad "device.crt serial $(serial_of "$mfhome/device.crt"), the server has $s2"
[ "$(sha256sum "$mfhome/device.key" | cut -d' ' -f1)" != "$k1" ] && ok "with a new key" ||
	bad "device.key did not change"
[ ! -e "$mfhome/device.renewed" ] && ok "no intermediate file left" || bad "device.renewed left behind"
[ "$(stat -c %a "$mfhome/device.key")" = 600 ] && ok "device.key stays 0600" ||
	bad "device.key mode $(stat -c %a "$mfhome/device.key")"
# The reconnection uses the new certificate: the server logs the serial
# it was refused or accepted under; connected again, and the audit has it.
wait_for 100 connected || die "the agent did not reconnect after renewing"
ok "the agent reconnected after renewing"
ctl --json audit list >"$dir/audit.json" 2>"$dir/ctl.err" || bad "audit list: $(cat "$dir/ctl.err")"
grep -q '"device.renew"' "$dir/audit.json" && grep -F old_serial "$dir/audit.json" | grep -qF "$s1" &&
	ok "audited device.renew with the old serial" || bad "audit: $(grep -c renew "$dir/audit.json") renew rows"
# Changes still arrive.
ctl server add after-renewal --command npx --arg srv >/dev/null 2>"$dir/ctl.err" &&
	ctl grant add after-renewal --everyone >/dev/null 2>>"$dir/ctl.err" ||
	die "change: $(cat "$dir/ctl.err")"
got_change() { grep -aq "after-renewal" "$mfhome/catalogue.pb" 2>/dev/null; }
wait_for 150 got_change && ok "a change reached the renewed agent" || bad "the change did not arrive"
sleep 2
n=$(grep -c "certificate renewed" "$dir/agent.log")
[ "$n" = 1 ] && ok "renewed once in this run" || bad "renewed $n times"
grep -q "mcpfleet enroll" "$dir/agent.log" && bad "the agent asked to enroll again"

# The server's certificate, renewed offline by the same CA; the daemon
# restarted. The agent pins the CA, so it reconnects as it is.
if [ "${RENEW_SERVER:-1}" = 1 ]; then
	sfp1=$(openssl x509 -in "$dir/data/server.crt" -noout -fingerprint -sha256)
	san1=$(openssl x509 -in "$dir/data/server.crt" -noout -ext subjectAltName | tail -n +2)
	kill "$spid"
	wait "$spid" 2>/dev/null
	"$daemon" cert renew --data "$dir/data" --days 30 >"$dir/renew.out" 2>&1 ||
		die "cert renew: $(cat "$dir/renew.out")"
	sfp2=$(openssl x509 -in "$dir/data/server.crt" -noout -fingerprint -sha256)
	san2=$(openssl x509 -in "$dir/data/server.crt" -noout -ext subjectAltName | tail -n +2)
	[ "$sfp1" != "$sfp2" ] && ok "cert renew wrote a new server certificate" || bad "server.crt unchanged"
	[ "$san1" = "$san2" ] && ok "with the same names ($(echo $san2))" || bad "SANs: '$san1' -> '$san2'"
	openssl verify -CAfile "$dir/data/ca.crt" "$dir/data/server.crt" >/dev/null 2>&1 &&
		ok "signed by the same CA" || bad "the new server certificate does not chain to the CA"
	end=$(openssl x509 -in "$dir/data/server.crt" -noout -enddate | sed 's/notAfter=//')
	endsec=$(date -d "$end" +%s)
	now=$(date +%s)
	[ "$endsec" -gt $((now + 29 * 86400)) ] && [ "$endsec" -le $((now + 30 * 86400 + 60)) ] &&
		ok "valid 30 days ($end)" || bad "notAfter $end"
	grep -q "server.crt" "$dir/renew.out" && ok "cert renew says what it wrote" ||
		bad "cert renew printed: $(cat "$dir/renew.out")"
	start_server
	openssl s_client -connect "127.0.0.1:$agent_port" -CAfile "$dir/data/ca.crt" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | grep -qF "$sfp2" &&
		ok "the restarted daemon serves the new certificate" || bad "the agent port serves another certificate"
	wait_for 300 connected && ok "the agent reconnected to the restarted daemon" ||
		bad "not reconnected after the server's renewal: $(tail -n 3 "$dir/agent.log")"
	ctl server add after-server-renewal --command npx --arg srv >/dev/null 2>"$dir/ctl.err" &&
		ctl grant add after-server-renewal --everyone >/dev/null 2>>"$dir/ctl.err" ||
		die "change: $(cat "$dir/ctl.err")"
	got_change2() { grep -aq "after-server-renewal" "$mfhome/catalogue.pb" 2>/dev/null; }
	wait_for 150 got_change2 && ok "and syncs without enrolling again" || bad "the change did not arrive"
	# Bad uses say why.
	"$daemon" cert renew --data "$dir/nope" >"$dir/renew.out" 2>&1 &&
		bad "cert renew of a missing directory succeeded" ||
		{ grep -q "nope" "$dir/renew.out" && ok "cert renew names a missing directory" ||
			bad "cert renew: $(cat "$dir/renew.out")"; }
	"$daemon" cert renew --data "$dir/data" --days 0 >"$dir/renew.out" 2>&1 &&
		bad "cert renew --days 0 succeeded" ||
		{ grep -q "days" "$dir/renew.out" && ok "cert renew refuses --days 0" ||
			bad "cert renew: $(cat "$dir/renew.out")"; }
fi

# Revoked: the agent is told and stops; its serial, old or new, gets in no
# more.
ctl device revoke "$device" --reason "renewal test" >/dev/null 2>"$dir/ctl.err" ||
	die "revoke: $(cat "$dir/ctl.err")"
gone() { ! kill -0 "$apid" 2>/dev/null; }
wait_for 150 gone && ok "the revoked agent stopped" || bad "the agent still runs after revocation"
wait "$apid" 2>/dev/null
rc=$?
[ "$rc" = 4 ] && ok "with exit code 4 (revoked)" || bad "agent exit code $rc"

[ "$fails" = 0 ] || exit 1
echo "all passed"
