#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails when project C code uses a banned function (docs/style.md): these are
# the ones whose truncation or overflow cannot be checked.
top=${1:-$(dirname "$0")/..}
cd "$top" || exit 2
pattern='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strncpy|strncat|mktemp|tmpnam)[[:space:]]*\('
hits=$(grep -rnE "$pattern" --include='*.c' --include='*.h' \
	common adapters client server proto tests 2>/dev/null |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
	echo "banned functions used (see docs/style.md):"
	echo "$hits"
	exit 1
fi
echo "no banned functions"
