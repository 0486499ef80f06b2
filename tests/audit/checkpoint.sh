#!/bin/sh
# SPDX-License-Identifier: MIT
# Audit checkpoints end to end, as an administrator uses them: the real
# mcpfleetd on loopback, mcpfleetctl audit checkpoint, the SQLite store
# tampered with directly (sqlite3), and audit verify --checkpoint naming
# what changed; a checkpoint with a bad signature, or another server's,
# is refused.
#   tests/audit/checkpoint.sh build/mcpfleetd build/mcpfleetctl
set -u
daemon=$1
ctl=$2
dir=$(mktemp -d /tmp/mcpfleet-audit.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $1"; }
bad() {
	echo "FAIL: $1" >&2
	[ -f "$dir/serve.log" ] && sed "s/^/  serve.log: /" "$dir/serve.log" >&2
	fails=$((fails + 1))
}
command -v sqlite3 >/dev/null || { echo "FAIL: no sqlite3 CLI" >&2; exit 1; }

# init DATA: a data directory; sets token.
init() {
	"$daemon" init --data "$1" >"$dir/init.out" 2>&1 || {
		echo "FAIL: init: $(cat "$dir/init.out")" >&2
		exit 1
	}
	token=$(sed -n '/first admin token/{n;p;}' "$dir/init.out" | tr -d ' ')
}

# serve DATA: runs the daemon on ephemeral ports; sets pid and the
# mcpfleetctl environment.
serve() {
	: >"$dir/serve.log" # not the last run's "serving" line
	"$daemon" serve --data "$1" --listen 127.0.0.1 --agent-port 0 --api-port 0 \
		>"$dir/serve.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q "serving" "$dir/serve.log"; do
		sleep 0.1
		i=$((i + 1))
	done
	port=$(sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$dir/serve.log")
	[ -n "$port" ] || { echo "FAIL: serve: $(cat "$dir/serve.log")" >&2; exit 1; }
	export MCPFLEET_SERVER="https://127.0.0.1:$port" MCPFLEET_TOKEN="$token" \
		MCPFLEET_CA="$1/ca.crt"
}

stop() {
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# sql DATA STATEMENTS: runs them on the stopped daemon's store, past the
# triggers that refuse to change audit rows.
sql() {
	sqlite3 "$1/fleet.db" "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; $2"
}

data=$dir/a
init "$data"
[ "$(stat -c %a "$data/audit.key")" = 600 ] && ok "init writes audit.key 0600" ||
	bad "audit.key: $(ls -l "$data/audit.key" 2>&1)"
serve "$data"
for u in alice bob; do
	"$ctl" user add "$u" >/dev/null || bad "user add $u"
done
# The head's seal while row 3 is the last, as someone reading the database
# could keep it.
seal3=$(sqlite3 "$data/fleet.db" "SELECT value FROM meta WHERE key = 'audit_seal'")
"$ctl" user add carol >/dev/null || bad "user add carol"

out=$("$ctl" audit verify 2>&1) && echo "$out" | grep -q "4 rows verified, keyed (HMAC-SHA-256) from row 1" &&
	ok "audit verify: $out" || bad "audit verify: $out"

# The checkpoint: a signed JSON document of the head.
if "$ctl" audit checkpoint >"$dir/cp.json" 2>"$dir/err"; then
	grep -q '"format": "mcpfleet-audit-checkpoint-v1"' "$dir/cp.json" &&
		grep -q '"rows": 4' "$dir/cp.json" && grep -q '"last_id": 4' "$dir/cp.json" &&
		grep -q '"signature": "3' "$dir/cp.json" &&
		ok "audit checkpoint prints the signed head" || bad "checkpoint: $(cat "$dir/cp.json")"
else
	bad "audit checkpoint: $(cat "$dir/err")"
fi
head=$(sqlite3 "$data/fleet.db" "SELECT hash FROM audit WHERE id = 4")
grep -q "\"head_hash\": \"$head\"" "$dir/cp.json" && ok "its head_hash is row 4's hash" ||
	bad "head_hash is not row 4's $head"

out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1) &&
	echo "$out" | grep -q "checkpoint of 4 rows signed .* holds" &&
	ok "verify --checkpoint passes untampered" || bad "verify --checkpoint: $out"
"$ctl" user add dave >/dev/null || bad "user add dave"
out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1) &&
	echo "$out" | grep -q "5 rows verified" &&
	ok "rows appended after the checkpoint pass" || bad "after an append: $out"

# A bad signature is refused before the server is asked, naming the file.
sed 's/"rows": 4/"rows": 3/; s/"last_id": 4/"last_id": 3/' "$dir/cp.json" >"$dir/forged.json"
out=$("$ctl" audit verify --checkpoint "$dir/forged.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "forged.json: checkpoint: bad signature" &&
	ok "an altered checkpoint is refused: $out" || bad "altered checkpoint (rc $rc): $out"
sig=$(sed -n 's/.*"signature": "\(.*\)".*/\1/p' "$dir/cp.json")
case $sig in *0) new=${sig%0}1 ;; *) new=${sig%?}0 ;; esac
sed "s/$sig/$new/" "$dir/cp.json" >"$dir/badsig.json"
out=$("$ctl" audit verify --checkpoint "$dir/badsig.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "bad signature" &&
	ok "a checkpoint with a broken signature is refused" || bad "broken signature (rc $rc): $out"
printf '{"format": "x"}' >"$dir/junk.json"
out=$("$ctl" audit verify --checkpoint "$dir/junk.json" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "junk.json: checkpoint: " &&
	ok "a file that is no checkpoint is a usage error: $out" || bad "junk: $out"
stop

# Another server's checkpoint: valid under its own key, refused by this one.
token_a=$token
init "$dir/b"
serve "$dir/b"
"$ctl" audit checkpoint >"$dir/other.json" || bad "checkpoint of the other server"
stop
token=$token_a
serve "$data"
out=$("$ctl" audit verify --checkpoint "$dir/other.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "signed by key .*, not by the server's signing key" &&
	ok "another server's checkpoint is refused: $out" || bad "other server's (rc $rc): $out"
stop
cp "$data/fleet.db" "$dir/clean.db"

# Tampering 1: the last rows deleted and the head lowered to match. The
# head's seal, which needs the audit key, gives it away; with an older
# seal put back, only the checkpoint does.
sql "$data" "DELETE FROM audit WHERE id >= 4; UPDATE meta SET value = 3 WHERE key = 'audit_head';"
serve "$data"
out=$("$ctl" audit verify 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "audit head: row 3 does not carry the audit key's seal" &&
	ok "the truncation is caught by the head's seal: $out" || bad "truncation, seal (rc $rc): $out"
stop
sql "$data" "UPDATE meta SET value = $seal3 WHERE key = 'audit_seal';"
serve "$data"
out=$("$ctl" audit verify 2>&1) && ok "with row 3's old seal put back, the chain alone verifies ($out)" ||
	bad "the truncated chain with the old seal: $out"
out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "audit rows 4..4 are missing: the checkpoint counted 4 rows but the log ends at row 3" &&
	ok "verify --checkpoint names the deleted rows: $out" || bad "truncation (rc $rc): $out"
stop
# The same offline, on the data directory, as an auditor runs it.
out=$("$daemon" audit-verify --data "$data" --checkpoint "$dir/cp.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "audit rows 4..4 are missing: the checkpoint counted 4 rows" &&
	ok "mcpfleetd audit-verify names them too" || bad "audit-verify of the truncation (rc $rc): $out"

# Tampering 2: a row before the checkpoint edited in place.
cp "$dir/clean.db" "$data/fleet.db"
rm -f "$data/fleet.db-wal" "$data/fleet.db-shm"
sql "$data" "UPDATE audit SET target = 'mallory' WHERE id = 2;"
serve "$data"
out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "audit row 2: its hash is not the audit key's HMAC of its content" &&
	ok "verify --checkpoint names the edited row: $out" || bad "edited row (rc $rc): $out"
out=$("$ctl" audit verify 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "audit row 2" && ok "so does plain verify" ||
	bad "plain verify of an edited row: $out"
stop

# Tampering 3: the row at the checkpoint replaced by the one after it,
# renumbered (content, hash and link copied): the chain breaks at row 4.
cp "$dir/clean.db" "$data/fleet.db"
rm -f "$data/fleet.db-wal" "$data/fleet.db-shm"
sql "$data" "DELETE FROM audit WHERE id >= 4; UPDATE meta SET value = 3 WHERE key = 'audit_head';
	UPDATE meta SET value = $seal3 WHERE key = 'audit_seal';"
serve "$data"
"$ctl" user add eve >/dev/null || bad "user add eve"
out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "audit row 4: its hash .* is not the checkpoint's .*: it is not the row the checkpoint counted" &&
	ok "a new row 4 after a truncation is not the checkpoint's: $out" || bad "replaced row 4 (rc $rc): $out"
stop

# Untampered again, it passes.
cp "$dir/clean.db" "$data/fleet.db"
rm -f "$data/fleet.db-wal" "$data/fleet.db-shm"
serve "$data"
out=$("$ctl" audit verify --checkpoint "$dir/cp.json" 2>&1) && ok "the clean copy passes again" ||
	bad "the clean copy: $out"
stop
out=$("$daemon" audit-verify --data "$data" --checkpoint "$dir/cp.json" 2>&1) &&
	echo "$out" | grep -q "audit chain of 5 rows verified, keyed (HMAC-SHA-256) from row 1" &&
	echo "$out" | grep -q "the checkpoint of 4 rows in .* holds" &&
	ok "mcpfleetd audit-verify passes it offline" || bad "offline audit-verify: $out"
out=$("$daemon" audit-verify --data "$data" --checkpoint "$dir/other.json" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "other.json: checkpoint: signed by key" &&
	ok "and refuses another server's checkpoint" || bad "offline, another server's: $out"

# An installation from before audit keys: no audit.key, a chain of plain
# SHA-256 rows and no head seal (row 1 rehashed and the seal dropped here).
# serve keys it from the next row on, and the first keyed row pins the
# plain ones. Without audit.key on a keyed store, serve refuses.
plainrow1() { # DATA TARGET: the plain hash of the init row naming TARGET
	at=$(sqlite3 "$1/fleet.db" "SELECT at FROM audit WHERE id = 1")
	printf 'mcpfleet-audit-v1\nid=1\nat=%s\nactor=6:system\naction=4:init\ntarget=%d:%s\ndetails=-\nprev=%s\n' \
		"$at" "${#2}" "$2" 0000000000000000000000000000000000000000000000000000000000000000 |
		sha256sum | cut -d' ' -f1
}
old=$dir/c
init "$old"
rm "$old/audit.key"
sql "$old" "UPDATE audit SET hash = '$(plainrow1 "$old" "$old")' WHERE id = 1;
	DELETE FROM meta WHERE key = 'audit_seal';"
out=$("$daemon" audit-verify --data "$old" 2>&1) &&
	echo "$out" | grep -q "audit chain of 1 rows verified, unkeyed (no audit.key yet" &&
	ok "a data directory from before audit keys verifies unkeyed: $out" || bad "unkeyed: $out"
serve "$old"
grep -q "created $old/audit.key: the audit chain is keyed from row 2 on" "$dir/serve.log" &&
	ok "serve creates audit.key on the first start after the upgrade" || bad "no audit.key created"
[ "$(stat -c %a "$old/audit.key")" = 600 ] && [ "$(sed -n 2p "$old/audit.key")" = "keyed_from=2" ] &&
	ok "audit.key is 0600 and says keyed_from=2" || bad "audit.key: $(ls -l "$old/audit.key")"

out=$("$ctl" audit verify 2>&1) && echo "$out" | grep -q "2 rows verified, keyed (HMAC-SHA-256) from row 2" &&
	ok "verify says from which row the chain is keyed: $out" || bad "upgraded verify: $out"
"$ctl" audit list | grep -q "audit.key" && ok "the key's creation is the first keyed row" ||
	bad "no audit.key row"
stop
mv "$old/audit.key" "$dir/audit.key.c"
if "$daemon" serve --data "$old" --agent-port 0 --api-port 0 >"$dir/out" 2>&1; then
	bad "serve ran without audit.key on a keyed store"
else
	grep -q "audit.key is missing but the store's audit chain is already keyed" "$dir/out" &&
		[ ! -e "$old/audit.key" ] && ok "without audit.key, a keyed store is refused" ||
		bad "no audit.key: $(cat "$dir/out")"
fi
mv "$dir/audit.key.c" "$old/audit.key"
sql "$old" "UPDATE audit SET target = 'x', hash = '$(plainrow1 "$old" x)' WHERE id = 1;"
out=$("$daemon" audit-verify --data "$old" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "audit row 2: its link does not match the hash of row 1" &&
	ok "a plain row rewritten before the key breaks the keyed row's link" || bad "rewritten plain row: $out"

[ $fails -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all checks passed"
