#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs what it
# needs, builds with -Werror and runs every test; then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite there.
# Both passes run everything: unit tests, corpus replays, the crash test
# and the real-host tests (the npm CLIs, installed once into a cache).
#   MCPFLEET_SKIP_SANITIZE=1  skip the sanitizer pass
#   MCPFLEET_SKIP_HOSTS=1     skip the real-host tests (no npm)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

sh "$top/scripts/deps.sh"

build="${MCPFLEET_BUILD:-$top/build}"
cmake -S "$top" -B "$build" -DMCPFLEET_WERROR=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs"
exclude=""
[ "${MCPFLEET_SKIP_HOSTS:-0}" = 1 ] && exclude="-LE hosts"
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure -j"$jobs" $exclude

if [ "${MCPFLEET_SKIP_SANITIZE:-0}" != 1 ]; then
	san="$build-sanitize"
	cmake -S "$top" -B "$san" -DMCPFLEET_WERROR=ON -DMCPFLEET_ASAN=ON \
		-DMCPFLEET_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build "$san" -j"$jobs"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir "$san" --output-on-failure -j"$jobs" $exclude
fi
