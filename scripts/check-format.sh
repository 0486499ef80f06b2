#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails when a C file of the project differs from what .clang-format makes
# of it (docs/style.md: one .clang-format, applied to every file). Fix with:
#   clang-format -i FILE...
top=${1:-$(dirname "$0")/..}
cd "$top" || exit 2
if ! command -v clang-format >/dev/null 2>&1; then
	echo "clang-format is not installed (scripts/deps.sh installs it)" >&2
	exit 2
fi
bad=""
for f in $(find common adapters client server proto tests -name '*.[ch]' |
	sort); do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
	echo "not clang-formatted (run clang-format -i on them):"
	for f in $bad; do echo "  $f"; done
	exit 1
fi
echo "every C file is clang-formatted"
