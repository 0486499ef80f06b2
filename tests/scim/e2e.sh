#!/bin/bash
# SPDX-License-Identifier: MIT
# SCIM provisioning end to end, as an identity provider drives it: the real
# mcpfleetd on loopback over TLS, a token of role scim, curl sending the
# request shapes Entra ID and Okta send (a URL-encoded filter, a compound
# one, a mixed-case "Replace" with a string "False"), a real agent enrolled for the
# provisioned user and running, then deactivation by SCIM: the agent is
# revoked while online and exits, the report is stored and shown.
#   tests/scim/e2e.sh build/mcpfleetd build/mcpfleetctl build/mcpfleet
set -u
daemon=$1
ctl=$2
agent=$3
dir=$(mktemp -d /tmp/mcpfleet-scim.XXXXXX)
pid=
apid=
cleanup() {
	[ -n "$apid" ] && kill "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $1"; }
bad() {
	echo "FAIL: $1" >&2
	fails=$((fails + 1))
}
die() {
	echo "FAIL: $1" >&2
	[ -f "$dir/serve.log" ] && sed "s/^/  serve.log: /" "$dir/serve.log" >&2
	[ -f "$dir/agent.log" ] && sed "s/^/  agent.log: /" "$dir/agent.log" >&2
	exit 1
}
for t in curl jq; do
	command -v $t >/dev/null || die "no $t (scripts/deps.sh installs it)"
done

data=$dir/data
"$daemon" init --data "$data" >"$dir/init.out" 2>&1 || die "init: $(cat "$dir/init.out")"
owner=$(sed -n '/first admin token/{n;p;}' "$dir/init.out" | tr -d ' ')
"$daemon" serve --data "$data" --listen 127.0.0.1 --agent-port 0 --api-port 0 \
	>"$dir/serve.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q "serving" "$dir/serve.log"; do
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$dir/serve.log")
[ -n "$port" ] || die "serve did not start"
base="https://127.0.0.1:$port/scim/v2"
export MCPFLEET_SERVER="https://127.0.0.1:$port" MCPFLEET_TOKEN="$owner" \
	MCPFLEET_CA="$data/ca.crt"

# The identity provider's token.
out=$("$ctl" admin-token create entra --role scim 2>&1) || die "admin-token create: $out"
scim=$(echo "$out" | tail -1 | tr -d ' ')
ok "admin-token create entra --role scim"

# scim METHOD PATH [BODY]: curl as the identity provider; the status in
# $dir/status, the body in $dir/body.
scim() {
	local args=(-sS --cacert "$data/ca.crt" -o "$dir/body" -w '%{http_code} %{content_type}'
		-X "$1" -H "Authorization: Bearer ${TOKEN:-$scim}")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/scim+json' --data-binary "$3")
	curl "${args[@]}" "$base$2" >"$dir/status" 2>"$dir/curl.err" ||
		die "curl $1 $2: $(cat "$dir/curl.err")"
}
status() { cut -d' ' -f1 "$dir/status"; }
field() { jq -r "$1" "$dir/body"; }

scim GET /ServiceProviderConfig
[ "$(status)" = 200 ] && grep -q "application/scim+json" "$dir/status" &&
	[ "$(field .patch.supported)" = true ] &&
	ok "GET /ServiceProviderConfig is application/scim+json" ||
	bad "ServiceProviderConfig: $(cat "$dir/status") $(cat "$dir/body")"

# Entra ID first looks the user up, URL-encoded, then creates them.
scim GET '/Users?filter=userName+eq+%22ann%40example.com%22'
[ "$(status)" = 200 ] && [ "$(field .totalResults)" = 0 ] &&
	ok "filter userName eq, URL-encoded: none yet" ||
	bad "filter before: $(cat "$dir/status") $(cat "$dir/body")"
scim POST /Users '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
  "externalId":"0a21f0f2","userName":"ann@example.com","active":true,
  "emails":[{"primary":true,"type":"work","value":"ann@example.com"}],
  "name":{"givenName":"Ann","familyName":"Lee"},"displayName":"Ann Lee"}'
[ "$(status)" = 201 ] || die "POST /Users: $(cat "$dir/status") $(cat "$dir/body")"
uid=$(field .id)
ok "POST /Users: ann@example.com is User $uid"
scim GET '/Users?filter=userName%20eq%20%22ann%40example.com%22'
[ "$(field .totalResults)" = 1 ] && [ "$(field '.Resources[0].id')" = "$uid" ] &&
	ok "filter userName eq finds her" || bad "filter: $(cat "$dir/body")"
# Compound filters (RFC 7644 3.4.2.2), percent-encoded whole.
uri() { jq -rn --arg f "$1" '$f|@uri'; }
scim GET "/Users?filter=$(uri 'emails[type eq "work" and value ew "@EXAMPLE.com"] and (active eq true or title pr) and meta.created le "2100-01-01T00:00:00Z"')"
[ "$(status)" = 200 ] && [ "$(field .totalResults)" = 1 ] && [ "$(field '.Resources[0].id')" = "$uid" ] &&
	ok "compound filter (value filter, and, or, a dateTime) finds her" ||
	bad "compound filter: $(cat "$dir/status") $(cat "$dir/body")"
scim GET "/Users?filter=$(uri 'userName eq "ann@example.com" and not (active eq true)')"
[ "$(status)" = 200 ] && [ "$(field .totalResults)" = 0 ] &&
	ok "compound filter with not: none" || bad "not filter: $(cat "$dir/body")"
scim GET "/Users?filter=$(uri 'emails[type eq "work"')"
[ "$(status)" = 400 ] && [ "$(field .scimType)" = invalidFilter ] &&
	field .detail | grep -q "expected ']' at byte 22" &&
	ok "a bad filter is 400 invalidFilter, naming where" ||
	bad "bad filter: $(cat "$dir/status") $(cat "$dir/body")"
"$ctl" user show ann@example.com >"$dir/show" 2>&1 && grep -q "ann@example.com" "$dir/show" &&
	ok "mcpfleetctl user show ann@example.com" || bad "user show: $(cat "$dir/show")"

# Okta pushes a group with her in it: a team with a member.
scim POST /Groups "{\"displayName\":\"Platform Team\",\"externalId\":\"00g1\",
  \"members\":[{\"value\":\"$uid\",\"display\":\"ann@example.com\"}]}"
[ "$(status)" = 201 ] || die "POST /Groups: $(cat "$dir/status") $(cat "$dir/body")"
gid=$(field .id)
"$ctl" team show Platform-Team >"$dir/team" 2>&1 && grep -q "ann@example.com" "$dir/team" &&
	ok "POST /Groups: team Platform-Team with member ann@example.com" ||
	bad "team show: $(cat "$dir/team")"

# A device for her: an enrollment link, mcpfleet enroll, mcpfleet run.
home=$dir/home
mkdir -p "$home"
aenv=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" MCPFLEET_HOME="$home/.mcpfleet"
	XDG_CONFIG_HOME="$home/.config" LANG=C.UTF-8)
link=$("$ctl" token create --user ann@example.com 2>&1 | tail -1)
"${aenv[@]}" "$agent" enroll "$link" >"$dir/enroll.log" 2>&1 || die "enroll: $(cat "$dir/enroll.log")"
dev=$(jq -r .device_id "$home/.mcpfleet/enrollment.json")
ok "mcpfleet enroll as $dev"
"${aenv[@]}" "$agent" run >"$dir/agent.log" 2>&1 &
apid=$!
i=0
while [ $i -lt 100 ]; do
	"$ctl" device list --json 2>/dev/null | jq -e ".[] | select(.id == \"$dev\" and .connected == true)" \
		>/dev/null 2>&1 && break
	sleep 0.2
	i=$((i + 1))
done
[ $i -lt 100 ] && ok "the agent is connected" || die "the agent did not connect"

# Entra ID deactivates her: "Replace" with a string "False".
scim PATCH "/Users/$uid" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations":[{"op":"Replace","path":"active","value":"False"}]}'
[ "$(status)" = 200 ] && [ "$(field .active)" = false ] &&
	ok "PATCH Replace active \"False\"" || bad "PATCH: $(cat "$dir/status") $(cat "$dir/body")"
# Revoked while online: the agent wipes its entries and exits 4.
i=0
while [ $i -lt 100 ] && kill -0 "$apid" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$apid" 2>/dev/null; then
	bad "the agent is still running 10 s after the deactivation"
else
	wait "$apid"
	code=$?
	apid=
	[ "$code" = 4 ] && ok "the agent was revoked online and exited 4" ||
		bad "the agent exited $code: $(cat "$dir/agent.log")"
fi
"$ctl" device list --json >"$dir/devs" 2>&1
[ "$(jq -r ".[] | select(.id == \"$dev\") | .status" "$dir/devs")" = revoked ] &&
	ok "device $dev is revoked" || bad "device list: $(cat "$dir/devs")"
"$ctl" user offboarding ann@example.com >"$dir/report" 2>&1 &&
	grep -q "scim:entra" "$dir/report" && grep -q "$dev" "$dir/report" &&
	ok "mcpfleetctl user offboarding shows the stored report, by scim:entra" ||
	bad "user offboarding: $(cat "$dir/report")"

# The group goes, and the credentials do one thing each.
scim DELETE "/Groups/$gid"
[ "$(status)" = 204 ] && ! "$ctl" team show Platform-Team >/dev/null 2>&1 &&
	ok "DELETE /Groups/$gid removes the team" || bad "DELETE group: $(cat "$dir/status")"
TOKEN=$owner scim GET /Users
[ "$(status)" = 403 ] && ok "an owner's token is refused on /scim/v2" ||
	bad "owner on SCIM: $(cat "$dir/status")"
code=$(curl -sS --cacert "$data/ca.crt" -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer $scim" "https://127.0.0.1:$port/api/v1/users")
[ "$code" = 403 ] && ok "the scim token is refused on /api/v1" || bad "scim on /api/v1: $code"

[ $fails -eq 0 ] || exit 1
echo "scim e2e: all passed"
