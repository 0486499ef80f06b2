#!/bin/sh
# SPDX-License-Identifier: MIT
# The admin CLI is a client of the API: it links the common library only,
# never the daemon's store (SQLite, libpq) or code built on libwebsockets
# and OpenSSL, which common/netclient.c loads at run time when it talks to
# the API. Fails, naming the library, when mcpfleetctl is linked with one.
#
#   scripts/check-ctl-links.sh PATH-TO-MCPFLEETCTL
set -eu
[ $# -eq 1 ] || { echo "usage: $0 PATH-TO-MCPFLEETCTL" >&2; exit 2; }
deps=$(ldd "$1") || { echo "check-ctl-links: cannot read $1's libraries" >&2; exit 1; }
bad=$(printf '%s\n' "$deps" | grep -E -o 'lib(sqlite3|pq|websockets|ssl|crypto|protobuf-c)\.so[^ ]*' || :)
if [ -n "$bad" ]; then
	echo "check-ctl-links: $1 links daemon libraries: $(echo $bad)" >&2
	exit 1
fi
echo "check-ctl-links: $1 links only: $(printf '%s\n' "$deps" | awk '{print $1}' | tr '\n' ' ')"
