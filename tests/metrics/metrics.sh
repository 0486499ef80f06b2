#!/bin/bash
# SPDX-License-Identifier: MIT
# GET /metrics end to end: a real daemon with an enrolled agent; the
# exposition checked by promtool and scraped by a real Prometheus over TLS
# with the scrape token; who may read it (scrape token, owner, auditor)
# and who may not (none, a wrong token, helpdesk); the figures follow what
# the fleet does (agents, revisions, pushes, enrollments, requests).
#   tests/metrics/metrics.sh build/mcpfleetd build/mcpfleetctl build/mcpfleet
set -u
daemon=$1
ctl=$2
agent=$3
dir=$(mktemp -d /tmp/mcpfleet-metrics.XXXXXX)
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
command -v promtool >/dev/null && command -v prometheus >/dev/null ||
	die "promtool and prometheus are needed (Debian package prometheus: scripts/deps.sh)"

d=$dir/data
"$daemon" init --data "$d" >"$dir/init.out" 2>&1 || die "init: $(cat "$dir/init.out")"
export MCPFLEET_TOKEN=$(sed -n '/first admin token/{n;p;}' "$dir/init.out" | tr -d ' ')
scrape=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
# A scrape token file others can read is refused, naming it.
printf '%s\n' "$scrape" >"$d/scrape.token"
chmod 0644 "$d/scrape.token"
echo "metrics_token_file = scrape.token" >>"$d/mcpfleetd.conf"
out=$("$daemon" serve --data "$d" --listen 127.0.0.1 --agent-port 0 --api-port 0 2>&1)
echo "$out" | grep -q "scrape.token" && ok "a readable scrape token file refused: $(echo "$out" | tail -1)" ||
	bad "readable token file: $out"
chmod 0600 "$d/scrape.token"

"$daemon" serve --data "$d" --listen 127.0.0.1 --agent-port 0 --api-port 0 >"$dir/d.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q serving "$dir/d.log" && break; sleep 0.1; done
port=$(sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$dir/d.log")
[ -n "$port" ] || die "serve: $(cat "$dir/d.log")"
export MCPFLEET_SERVER="https://127.0.0.1:$port" MCPFLEET_CA="$d/ca.crt"
url="https://127.0.0.1:$port/metrics"
# get TOKEN FILE: the status of GET /metrics with that bearer token.
get() {
	curl -s --cacert "$d/ca.crt" -o "$2" -w '%{http_code}' \
		${1:+-H "Authorization: Bearer $1"} "$url"
}
# val NAME{LABELS}: the sample's value in the last scrape, or "".
val() { awk -v k="$1" '$1 == k { print $2 }' "$dir/m.txt"; }

[ "$(get "" "$dir/x")" = 401 ] && ok "no token: 401" || bad "no token: $(cat "$dir/x")"
[ "$(get wrongwrongwrongwrong "$dir/x")" = 401 ] && ok "wrong token: 401" || bad "wrong token"
desk=$("$ctl" --json admin-token create desk --role helpdesk | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
books=$("$ctl" --json admin-token create books --role auditor | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
[ "$(get "$desk" "$dir/x")" = 403 ] && grep -q "reading the metrics" "$dir/x" &&
	ok "helpdesk: 403 ($(cat "$dir/x"))" || bad "helpdesk: $(cat "$dir/x")"
[ "$(get "$books" "$dir/x")" = 200 ] && ok "auditor may read" || bad "auditor: $(head -3 "$dir/x")"
[ "$(get "$MCPFLEET_TOKEN" "$dir/x")" = 200 ] && ok "owner may read" || bad "owner"
code=$(curl -s --cacert "$d/ca.crt" -o /dev/null -w '%{http_code}' -d '' \
	-H "Authorization: Bearer $scrape" "$url")
[ "$code" = 405 ] && ok "POST /metrics: 405" || bad "POST: $code"

# The fleet does things: a user, a server, an enrollment, a failed one.
"$ctl" user add alice >/dev/null || die "user add"
"$ctl" server add files --command npx --arg -y >/dev/null || die "server add"
link=$("$ctl" --json token create --user alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["link"])')
mkdir -p "$dir/home"
HOME=$dir/home "$agent" enroll "$link" >"$dir/enroll.out" 2>&1 || die "enroll: $(cat "$dir/enroll.out")"
HOME=$dir/home2 "$agent" enroll "$link" >/dev/null 2>&1 && bad "a used link enrolled again"
HOME=$dir/home timeout 60 "$agent" run >"$dir/agent.log" 2>&1 &
pids+=($!)
rev=$("$ctl" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
# Until the agent's report of the newest revision is counted.
for _ in $(seq 100); do
	get "$scrape" "$dir/m.txt" >/dev/null
	[ "$(val "mcpfleet_agents_by_revision{revision=\"$rev\"}")" = 1 ] && break
	sleep 0.1
done
[ "$(get "$scrape" "$dir/m.txt")" = 200 ] && ok "scrape token may read" || bad "scrape token"
grep -q '^# TYPE mcpfleet_push_latency_seconds histogram' "$dir/m.txt" &&
	ok "push latency is a histogram" || bad "no push latency histogram"
curl -s --cacert "$d/ca.crt" -D "$dir/h" -o /dev/null -H "Authorization: Bearer $scrape" "$url"
grep -qi '^content-type: text/plain; version=0.0.4' "$dir/h" && ok "content type 0.0.4" ||
	bad "content type: $(grep -i content-type "$dir/h")"
promtool check metrics <"$dir/m.txt" >"$dir/promtool.out" 2>&1 &&
	ok "promtool check metrics: clean" || bad "promtool: $(head -20 "$dir/promtool.out")"
[ "$(val mcpfleet_agents_connected)" = 1 ] && ok "one agent connected" ||
	bad "agents_connected $(val mcpfleet_agents_connected)"
[ "$(val "mcpfleet_agents_by_revision{revision=\"$rev\"}")" = 1 ] &&
	ok "the agent counted at revision $rev" || bad "by revision: $(grep agents_by_revision "$dir/m.txt")"
[ "$(val mcpfleet_revision_latest)" = "$rev" ] && ok "latest revision $rev" ||
	bad "revision_latest $(val mcpfleet_revision_latest)"
n=$(val mcpfleet_push_latency_seconds_count)
[ -n "$n" ] && [ "$n" -ge 1 ] && ok "push latency observed ($n, sum $(val mcpfleet_push_latency_seconds_sum) s)" ||
	bad "push latency count '$n'"
[ "$(val 'mcpfleet_enrollments_total{outcome="enrolled"}')" = 1 ] &&
	[ "$(val 'mcpfleet_enrollments_total{outcome="refused"}')" = 1 ] &&
	ok "enrollments: 1 enrolled, 1 refused" || bad "enrollments: $(grep enrollments_total "$dir/m.txt")"
[ "$(val 'mcpfleet_api_requests_total{route="/api/v1/users",method="POST",code="201"}')" = 1 ] &&
	ok "POST /api/v1/users 201 counted once" || bad "requests: $(grep 'route="/api/v1/users"' "$dir/m.txt" | head -3)"
[ "$(val 'mcpfleet_api_requests_total{route="/metrics",method="GET",code="403"}')" = 1 ] &&
	ok "the refused scrape counted as 403" || bad "metrics 403: $(grep 'route="/metrics"' "$dir/m.txt")"
grep -q '^mcpfleet_api_request_duration_seconds_bucket{route="/api/v1/users",method="POST",le="+Inf"} 1$' "$dir/m.txt" &&
	ok "request latency histogram by route" || bad "latency: $(grep 'duration_seconds_bucket{route="/api/v1/users"' "$dir/m.txt" | tail -2)"
[ "$(val mcpfleet_store_errors_total)" = 0 ] && ok "no store errors" || bad "store errors $(val mcpfleet_store_errors_total)"
grep -q '^process_resident_memory_bytes [1-9]' "$dir/m.txt" && ok "process metrics" || bad "no process metrics"

# A real Prometheus scrapes it over TLS with the token file.
cat >"$dir/prom.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: mcpfleetd
    scheme: https
    tls_config: {ca_file: $d/ca.crt}
    authorization: {credentials_file: $d/scrape.token}
    static_configs: [{targets: ['127.0.0.1:$port']}]
YML
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prometheus --config.file="$dir/prom.yml" --storage.tsdb.path="$dir/tsdb" \
	--web.listen-address="127.0.0.1:$pport" >"$dir/prom.log" 2>&1 &
pids+=($!)
q() { curl -s "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null; }
for _ in $(seq 150); do [ "$(q 'up{job="mcpfleetd"}')" = 1 ] && break; sleep 0.2; done
[ "$(q 'up{job="mcpfleetd"}')" = 1 ] && ok "Prometheus scrapes mcpfleetd (up = 1)" ||
	bad "Prometheus: up '$(q 'up{job="mcpfleetd"}')': $(tail -5 "$dir/prom.log")"
[ "$(q mcpfleet_agents_connected)" = 1 ] && ok "Prometheus sees one connected agent" ||
	bad "Prometheus agents_connected '$(q mcpfleet_agents_connected)'"

# The agent stops: no agent connected, none by revision.
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
for _ in $(seq 50); do
	get "$scrape" "$dir/m.txt" >/dev/null
	[ "$(val mcpfleet_agents_connected)" = 0 ] && break
	sleep 0.1
done
[ "$(val mcpfleet_agents_connected)" = 0 ] && ! grep -q '^mcpfleet_agents_by_revision{' "$dir/m.txt" &&
	ok "the agent gone: 0 connected, none by revision" || bad "after stop: $(grep agents_ "$dir/m.txt")"

[ $fails -eq 0 ] && echo "metrics: all passed" || { echo "metrics: $fails failed" >&2; exit 1; }
