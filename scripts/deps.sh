#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages mcpfleet builds and tests with. Idempotent:
# installs only what is missing. Needs root (or sudo) when something is.
set -eu
pkgs="build-essential cmake pkg-config git ca-certificates
libwebsockets-dev libwebsockets-evlib-ev libev-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler
libsqlite3-dev libpq-dev postgresql libmbedtls-dev libcmocka-dev libjansson-dev
libcurl4-openssl-dev curl jq
dpkg-dev lintian adduser systemd
clang clang-format libclang-rt-14-dev openssl nodejs npm
chromium prometheus"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# Node 20 or newer may come from elsewhere than Debian's nodejs package.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
[ -z "$missing" ] && exit 0
echo "deps: installing $missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
