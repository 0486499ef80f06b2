#!/bin/sh
# SPDX-License-Identifier: MIT
# mcpfleetd on PostgreSQL, as an administrator runs it: init --store
# (refusing a password in the location and a database that holds a fleet
# already), serve from what init recorded, and a password taken from
# PGPASSFILE that never shows in a message. Run under tests/pg/cluster.sh:
#   tests/pg/cluster.sh tests/pg/daemon.sh build/mcpfleetd
set -u
bin=$1
: "${MCPFLEET_TEST_PG:?run under tests/pg/cluster.sh}"
dir=$(mktemp -d /tmp/mcpfleet-pgd.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }
psql_q() { psql -X -q -At "$MCPFLEET_TEST_PG" -c "$1"; }

# A password in the location is refused before anything is written.
if "$bin" init --data "$dir/a" --store "postgres://fleet:Hunter2pw@127.0.0.1/fleet" >"$dir/out" 2>&1; then
	bad "init took a password in --store"
elif grep -q Hunter2pw "$dir/out"; then
	bad "the refusal repeats the password"
elif [ -e "$dir/a/ca.key" ]; then
	bad "init wrote keys before refusing"
else
	ok "a password in --store is refused, and not repeated"
fi

# init on the socket database, as the superuser.
if "$bin" init --data "$dir/a" --store "postgres:$MCPFLEET_TEST_PG" \
	--agent-port 17443 --api-port 17444 >"$dir/out" 2>&1; then
	ok "init --store postgres:..."
else
	bad "init: $(cat "$dir/out")"
fi
grep -q "^store = postgres:" "$dir/a/mcpfleetd.conf" && ok "the location is recorded" ||
	bad "mcpfleetd.conf has no store key"
[ ! -e "$dir/a/fleet.db" ] && ok "no fleet.db in the data directory" || bad "fleet.db was created"
[ "$(psql_q "SELECT action FROM audit WHERE id = 1")" = "init" ] &&
	[ "$(psql_q "SELECT count(*) FROM admin_tokens")" = "1" ] &&
	ok "the init audit row and admin token are in PostgreSQL" || bad "no init row in PostgreSQL"
[ "$(psql_q "SELECT role FROM admin_tokens")" = "owner" ] &&
	ok "the first admin token is an owner" || bad "the first admin token is not an owner"

# A second init on the same database is refused, and writes nothing.
if "$bin" init --data "$dir/b" --store "postgres:$MCPFLEET_TEST_PG" >"$dir/out" 2>&1; then
	bad "a second init on a used database succeeded"
elif [ -e "$dir/b/ca.key" ]; then
	bad "the refused init wrote keys"
else
	grep -q "already holds a fleet" "$dir/out" && ok "a used database is refused" ||
		bad "unexpected refusal: $(cat "$dir/out")"
fi

# serve runs on it (ephemeral ports) and stops on SIGTERM.
"$bin" serve --data "$dir/a" --agent-port 0 --api-port 0 >"$dir/serve.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q "serving" "$dir/serve.log"; do
	sleep 0.1
	i=$((i + 1))
done
kill "$pid" 2>/dev/null
wait "$pid"
grep -q "serving" "$dir/serve.log" && grep -q "stopped" "$dir/serve.log" &&
	ok "serve uses the recorded store" || bad "serve: $(cat "$dir/serve.log")"

# Over TCP with the password in PGPASSFILE; then a wrong one there.
psql_q "SET client_min_messages = warning; DROP SCHEMA public CASCADE;
	CREATE SCHEMA public AUTHORIZATION pg_database_owner"
echo "127.0.0.1:*:fleet:fleet:$MCPFLEET_TEST_PG_PASSWORD" >"$dir/pgpass"
chmod 600 "$dir/pgpass"
if PGPASSFILE=$dir/pgpass "$bin" init --data "$dir/c" --store "$MCPFLEET_TEST_PG_TCP" \
	>"$dir/out" 2>&1; then
	ok "init over TCP with PGPASSFILE"
else
	bad "init over TCP: $(cat "$dir/out")"
fi
grep -q "$MCPFLEET_TEST_PG_PASSWORD" "$dir/c/mcpfleetd.conf" && bad "the password is in mcpfleetd.conf"
echo "127.0.0.1:*:fleet:fleet:WrongPw5150" >"$dir/pgpass"
if PGPASSFILE=$dir/pgpass "$bin" serve --data "$dir/c" --agent-port 0 --api-port 0 \
	>"$dir/out" 2>&1; then
	bad "serve ran with a wrong password"
elif grep -q -e WrongPw5150 -e "$MCPFLEET_TEST_PG_PASSWORD" "$dir/out"; then
	bad "a password shows in: $(cat "$dir/out")"
else
	grep -q "password authentication failed" "$dir/out" &&
		ok "a wrong password fails without showing it" || bad "unexpected: $(cat "$dir/out")"
fi

# migrate: a SQLite data directory into the (emptied) database.
psql_q "SET client_min_messages = warning; DROP SCHEMA public CASCADE;
	CREATE SCHEMA public AUTHORIZATION pg_database_owner"
"$bin" init --data "$dir/s" --agent-port 17443 --api-port 17444 >/dev/null 2>&1 ||
	bad "init on SQLite"
if "$bin" migrate --data "$dir/s" --to "postgres://fleet:Hunter2pw@127.0.0.1/fleet" \
	>"$dir/out" 2>&1 || grep -q Hunter2pw "$dir/out"; then
	bad "migrate took or repeated a password"
fi
if "$bin" migrate --data "$dir/s" --to "postgres:$MCPFLEET_TEST_PG" >"$dir/out" 2>&1; then
	grep -q "audit chain of 2 rows verified" "$dir/out" && ok "migrate copies and verifies" ||
		bad "migrate said: $(cat "$dir/out")"
else
	bad "migrate: $(cat "$dir/out")"
fi
[ "$(psql_q "SELECT string_agg(action, ',' ORDER BY id) FROM audit")" = "init,store.migrate" ] &&
	[ "$(psql_q "SELECT count(*) FROM admin_tokens")" = "1" ] &&
	ok "the audit log and admin token moved, and the move is logged" ||
	bad "PostgreSQL holds: $(psql_q "SELECT string_agg(action, ',') FROM audit")"
grep -q "^store = postgres:" "$dir/s/mcpfleetd.conf" && ok "mcpfleetd.conf names the new store" ||
	bad "mcpfleetd.conf was not updated"
"$bin" audit-verify --data "$dir/s" >"$dir/out" 2>&1 &&
	grep -q "audit chain of 2 rows verified, keyed (HMAC-SHA-256) from row 1" "$dir/out" &&
	ok "the copied chain verifies under the audit key in PostgreSQL" ||
	bad "audit-verify after migrate: $(cat "$dir/out")"
"$bin" migrate --data "$dir/s" --to "postgres:$MCPFLEET_TEST_PG" >"$dir/out" 2>&1 &&
	bad "a second migrate ran" || ok "a migrated directory is not migrated again"
"$bin" init --data "$dir/t" --agent-port 17443 --api-port 17444 >/dev/null 2>&1
if "$bin" migrate --data "$dir/t" --to "postgres:$MCPFLEET_TEST_PG" >"$dir/out" 2>&1; then
	bad "migrate into a used database ran"
else
	grep -q "not empty" "$dir/out" && grep -q -v "^store" "$dir/t/mcpfleetd.conf" &&
		! grep -q "^store" "$dir/t/mcpfleetd.conf" &&
		ok "migrate refuses a database that is not empty" || bad "unexpected: $(cat "$dir/out")"
fi
"$bin" serve --data "$dir/s" --agent-port 0 --api-port 0 >"$dir/serve.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q "serving" "$dir/serve.log"; do
	sleep 0.1
	i=$((i + 1))
done
kill "$pid" 2>/dev/null
wait "$pid"
grep -q "serving" "$dir/serve.log" && ok "serve runs on the migrated store" ||
	bad "serve after migrate: $(cat "$dir/serve.log")"

[ "$fails" -eq 0 ] || { echo "$fails failed" >&2; exit 1; }
echo "mcpfleetd on PostgreSQL: all checks passed"
