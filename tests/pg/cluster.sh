#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a command against a throwaway PostgreSQL 15 cluster: initdb in a
# temporary directory (fsync off, a Unix socket there and a free loopback
# port), a database "fleet" owned by a password-authenticated role "fleet"
# for TCP, and always stops and removes the cluster afterwards.
#
#   tests/pg/cluster.sh COMMAND [ARG]...
#
# The command sees MCPFLEET_TEST_PG (socket conninfo, superuser, trust),
# MCPFLEET_TEST_PG_TCP (a postgres:// URI without the password),
# MCPFLEET_TEST_PG_PASSWORD and MCPFLEET_TEST_PG_RESTART (a script that
# restarts the cluster, dropping every connection: pg_ctl restart -m fast).
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# unprivileged user mcpfleet-test (created if missing).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARG]..." >&2; exit 2; }
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || { echo "cluster.sh: no $PGBIN/initdb (apt-get install postgresql)" >&2; exit 1; }

run_as=""
if [ "$(id -u)" -eq 0 ]; then
	id mcpfleet-test >/dev/null 2>&1 ||
		useradd --system --no-create-home --shell /usr/sbin/nologin mcpfleet-test
	run_as="runuser -u mcpfleet-test --"
fi

dir=$(mktemp -d /tmp/mcpfleet-pg.XXXXXX)
chmod 0755 "$dir"
cleanup() {
	$run_as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || :
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -z "$run_as" ] || chown mcpfleet-test "$dir"

# A free port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + $$ % 30000)))
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

$run_as "$PGBIN/initdb" -D "$dir/data" -U mcpfleet -E UTF8 --locale=C \
	--no-sync --no-instructions -A trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
$run_as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
	-o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
	start || { cat "$dir/server.log" >&2; exit 1; }

"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U mcpfleet -d postgres <<SQL >/dev/null
CREATE ROLE fleet LOGIN PASSWORD '$pw';
CREATE DATABASE fleet OWNER fleet;
SQL

cat >"$dir/restart.sh" <<EOF
#!/bin/sh
exec $run_as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -s restart
EOF
chmod 0755 "$dir/restart.sh"

MCPFLEET_TEST_PG="host=$dir port=$port dbname=fleet user=mcpfleet"
MCPFLEET_TEST_PG_TCP="postgres://fleet@127.0.0.1:$port/fleet"
MCPFLEET_TEST_PG_PASSWORD=$pw
MCPFLEET_TEST_PG_RESTART=$dir/restart.sh
export MCPFLEET_TEST_PG MCPFLEET_TEST_PG_TCP MCPFLEET_TEST_PG_PASSWORD MCPFLEET_TEST_PG_RESTART
set +e
"$@"
rc=$?
set -e
exit $rc
