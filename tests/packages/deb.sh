#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian packages end to end, as an administrator uses them
# (scripts/packaging.cmake, deploy/README.md): cpack builds mcpfleetd and
# mcpfleet, lintian finds no error or warning, `apt-get install ./x.deb`
# installs them, the service's user and 0700 data directory exist, the
# installed unit verifies, the daemon initialised and started as the unit
# runs it (its ExecStart, User and EnvironmentFile; systemd need not be
# PID 1) answers mcpfleetctl on 127.0.0.1, and purge leaves the fleet's
# data directory and the user, and nothing else; an empty data directory
# goes with the purge.
# Installs system-wide: needs root (CI), and skips (77) otherwise or when
# the packages or their data directory are already on this machine.
#   tests/packages/deb.sh BUILD_DIR
set -u
build=$1
user=mcpfleet
data=/var/lib/mcpfleet
unit=/lib/systemd/system/mcpfleetd.service

if [ "$(id -u)" -ne 0 ]; then
	echo "skipped: installs the packages system-wide, which needs root (CI runs as root)"
	exit 77
fi
for p in mcpfleetd mcpfleet; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "skipped: the package $p is installed on this machine; the test would purge it"
		exit 77
	fi
done
if [ -e "$data" ]; then
	echo "skipped: $data exists on this machine; the test would replace it"
	exit 77
fi
for c in cpack lintian apt-get runuser systemd-analyze readelf; do
	command -v "$c" >/dev/null ||
		{ echo "FAIL: no $c (scripts/deps.sh installs it)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/mcpfleet-deb.XXXXXX)
chmod 755 "$dir" # apt's download user reads the .deb files here
had_user=0
getent passwd "$user" >/dev/null && had_user=1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	for p in mcpfleetd mcpfleet; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" &&
			DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$p" >/dev/null 2>&1
	done
	rm -rf "$data"
	[ $had_user = 0 ] && getent passwd "$user" >/dev/null && deluser --quiet --system "$user" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }
apt_q() { DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -qq >"$dir/apt.log" 2>&1; }

# Build and lint.
cpack --config "$build/CPackConfig.cmake" -B "$dir" >"$dir/cpack.log" 2>&1 ||
	{ echo "FAIL: cpack: $(cat "$dir/cpack.log")" >&2; exit 1; }
daemon_deb=$(ls "$dir"/mcpfleetd_*.deb 2>/dev/null)
agent_deb=$(ls "$dir"/mcpfleet_*.deb 2>/dev/null)
[ -f "$daemon_deb" ] && [ -f "$agent_deb" ] ||
	{ echo "FAIL: cpack made no mcpfleetd and mcpfleet packages: $(ls "$dir")" >&2; exit 1; }
ok "cpack: $(basename "$daemon_deb") $(basename "$agent_deb")"
lintian "$daemon_deb" "$agent_deb" >"$dir/lintian.log" 2>&1
if grep -q '^[EW]:' "$dir/lintian.log"; then
	bad "lintian: $(grep '^[EW]:' "$dir/lintian.log")"
else
	ok "lintian: no error or warning"
fi
dpkg-deb -f "$daemon_deb" Depends | grep -q libwebsockets-evlib-ev &&
	dpkg-deb -f "$agent_deb" Depends | grep -q 'libcurl4' &&
	dpkg-deb -f "$daemon_deb" Depends | grep -q 'libsqlite3' &&
	ok "Depends: shlibdeps and the libraries loaded at run time" ||
	bad "Depends: $(dpkg-deb -f "$daemon_deb" Depends) / $(dpkg-deb -f "$agent_deb" Depends)"

# Install, as on a fresh machine.
if apt_q install "$daemon_deb" "$agent_deb"; then
	ok "apt-get install ./mcpfleetd_*.deb ./mcpfleet_*.deb"
else
	echo "FAIL: apt-get install: $(cat "$dir/apt.log")" >&2
	exit 1
fi
pw=$(getent passwd "$user")
case "$pw" in
"$user:"*":$data:/usr/sbin/nologin") ok "system user $user, home $data, no shell" ;;
*) bad "user $user: '$pw'" ;;
esac
uid=$(id -u "$user" 2>/dev/null || echo 0)
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] && ok "$user is a system account ($uid)" ||
	bad "$user has uid $uid"
[ "$(stat -c '%U:%G %a' "$data" 2>&1)" = "$user:$user 700" ] &&
	ok "$data: $user:$user 0700" || bad "$data: $(stat -c '%U:%G %a' "$data" 2>&1)"
dpkg-query -W -f='${Conffiles}\n' mcpfleetd | grep -q "^ /etc/default/mcpfleetd " &&
	ok "/etc/default/mcpfleetd is a conffile" ||
	bad "conffiles: $(dpkg-query -W -f='${Conffiles}' mcpfleetd)"
unstripped=""
for b in mcpfleetd mcpfleetctl mcpfleet; do
	if [ ! -x "/usr/bin/$b" ]; then
		unstripped="$unstripped $b (not installed)"
	elif readelf -S "/usr/bin/$b" | grep -q '\.debug_\|\.symtab'; then
		unstripped="$unstripped $b"
	fi
done
[ -z "$unstripped" ] && ok "/usr/bin/mcpfleetd, mcpfleetctl, mcpfleet: stripped" ||
	bad "not stripped:$unstripped"
[ -f /usr/share/man/man8/mcpfleetd.8.gz ] && [ -f /usr/share/man/man1/mcpfleetctl.1.gz ] &&
	[ -f /usr/share/man/man1/mcpfleet.1.gz ] && ok "manual pages" ||
	bad "manual pages missing"
for u in mcpfleet.service mcpfleet-sync.service mcpfleet-sync.path; do
	[ -f "/usr/lib/systemd/user/$u" ] || bad "no user unit /usr/lib/systemd/user/$u"
done
grep -q '^ExecStart=/usr/bin/mcpfleet run$' /usr/lib/systemd/user/mcpfleet.service &&
	ok "the user units run /usr/bin/mcpfleet" ||
	bad "mcpfleet.service: $(grep ExecStart /usr/lib/systemd/user/mcpfleet.service)"
# A user manager's view of them (it wants a runtime directory, not a session).
mkdir -m 700 "$dir/xdg"
if (cd /usr/lib/systemd/user && XDG_RUNTIME_DIR=$dir/xdg systemd-analyze --user verify \
	mcpfleet.service mcpfleet-sync.service mcpfleet-sync.path) >"$dir/verify.log" 2>&1; then
	ok "systemd-analyze --user verify: the three user units"
else
	bad "systemd-analyze --user verify: $(cat "$dir/verify.log")"
fi

# The system unit: valid for systemd, hardened, and run the way it says.
if systemd-analyze verify "$unit" >"$dir/verify.log" 2>&1; then
	ok "systemd-analyze verify $unit"
else
	bad "systemd-analyze verify: $(cat "$dir/verify.log")"
fi
for k in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
	"ReadWritePaths=$data" "User=$user"; do
	grep -qx "$k" "$unit" || bad "$unit has no $k"
done
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
env_file=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
cond=$(sed -n 's/^ConditionPathExists=//p' "$unit")
[ -n "$exec_start" ] && [ -f "$env_file" ] && [ -n "$cond" ] && [ ! -e "$cond" ] &&
	ok "the unit waits for init ($cond), reads $env_file" ||
	bad "unit: ExecStart '$exec_start', EnvironmentFile '$env_file', condition '$cond'"

if runuser -u "$user" -- mcpfleetd init --data "$data" --listen 127.0.0.1 \
	>"$dir/init.out" 2>&1; then
	ok "mcpfleetd init as $user"
else
	echo "FAIL: init: $(cat "$dir/init.out")" >&2
	exit 1
fi
token=$(sed -n '/first admin token/{n;p;}' "$dir/init.out" | tr -d ' ')
[ -e "$cond" ] && [ -z "$(find "$data" ! -user "$user")" ] &&
	ok "init wrote $cond, everything owned by $user" ||
	bad "after init: $(ls -la "$data")"

# The administrator's options for serve go in the conffile: here ports
# the kernel picks, not init's 7443 and 7444.
sed -i 's/^MCPFLEETD_ARGS=.*/MCPFLEETD_ARGS="--listen 127.0.0.1 --agent-port 0 --api-port 0"/' "$env_file"
# ExecStart with the EnvironmentFile's variables, as User=, with UMask=.
(
	cd / || exit 1
	umask 077
	set -a
	# shellcheck disable=SC1090
	. "$env_file"
	set +a
	eval "exec runuser -u $user -- $exec_start"
) >"$dir/serve.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q "serving" "$dir/serve.log"; do
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's/.*API port \([0-9]*\),.*/\1/p' "$dir/serve.log")
if [ -z "$port" ]; then
	bad "serve: $(cat "$dir/serve.log")"
elif MCPFLEET_TOKEN=$token mcpfleetctl --server "https://127.0.0.1:$port" \
	--ca "$data/ca.crt" --timeout 10 status >"$dir/status.out" 2>&1; then
	ok "the installed daemon answers the installed mcpfleetctl on 127.0.0.1:$port"
else
	bad "mcpfleetctl status: $(cat "$dir/status.out"); serve: $(cat "$dir/serve.log")"
fi
[ -n "$port" ] && [ "$(ps -o user= -p "$(pgrep -P "$pid" -x mcpfleetd || echo "$pid")" | tr -d ' ')" = "$user" ] &&
	ok "it runs as $user" || bad "the daemon does not run as $user: $(ps -ef | grep '[m]cpfleetd')"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
grep -q "stopped" "$dir/serve.log" && ok "SIGTERM stops it" || bad "serve: $(cat "$dir/serve.log")"

# Purge: the fleet's data and the user stay, the packages' files go.
if apt_q purge mcpfleetd mcpfleet; then
	ok "apt-get purge mcpfleetd mcpfleet"
else
	bad "apt-get purge: $(cat "$dir/apt.log")"
fi
left=""
for f in /usr/bin/mcpfleetd /usr/bin/mcpfleetctl /usr/bin/mcpfleet "$unit" \
	/etc/default/mcpfleetd /usr/lib/systemd/user/mcpfleet.service \
	/usr/share/doc/mcpfleetd /usr/share/doc/mcpfleet; do
	[ -e "$f" ] && left="$left $f"
done
[ -z "$left" ] && ok "purge removed the programs, units, the changed conffile and docs" ||
	bad "left after purge:$left"
[ -f "$data/mcpfleetd.conf" ] && [ -f "$data/ca.key" ] && [ -f "$data/fleet.db" ] &&
	grep -q "kept $data" "$dir/apt.log" &&
	ok "purge keeps an initialised $data, and says so" ||
	bad "after purge: $(ls -la "$data" 2>&1); $(cat "$dir/apt.log")"
getent passwd "$user" >/dev/null && ok "the system user stays" || bad "purge removed $user"

# An empty data directory goes with the purge; a reinstall reuses the user.
rm -rf "$data"
if apt_q install "$daemon_deb"; then
	[ "$(stat -c '%U %a' "$data" 2>&1)" = "$user 700" ] &&
		ok "reinstall with the user present" || bad "reinstall: $(stat -c '%U %a' "$data" 2>&1)"
else
	bad "apt-get install again: $(cat "$dir/apt.log")"
fi
apt_q purge mcpfleetd || bad "apt-get purge again: $(cat "$dir/apt.log")"
[ ! -e "$data" ] && ok "purge removes an empty $data" || bad "$data left: $(ls -la "$data")"

[ $fails -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all package checks passed"
