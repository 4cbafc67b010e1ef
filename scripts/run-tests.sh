#!/usr/bin/env bash
# The whole suite through CTest: unit tests, then end-to-end tests in network namespaces.
# Without root the e2e tests exit 77 and CTest reports them as skipped; this script says so loudly,
# and after the run it lists every skipped test with its reason (a skip is never a pass).
set -uo pipefail
build=${1:-build}
jobs=$(nproc)
rc=0
ctest --test-dir "$build" -L unit --output-on-failure -j "$jobs" || rc=1
if [ "$(id -u)" -ne 0 ]; then
  echo
  echo "!!! NOT ROOT: the end-to-end tests in network namespaces are SKIPPED (run 'make test' as root)."
  echo
fi
E2E_SKIP_LOG=$(mktemp /tmp/ptun-skips.XXXXXX)
export E2E_SKIP_LOG
ctest --test-dir "$build" -L e2e --output-on-failure || rc=1
if [ -s "$E2E_SKIP_LOG" ]; then
  echo
  echo "!!! $(wc -l <"$E2E_SKIP_LOG") end-to-end test(s) SKIPPED, not passed:"
  sed 's/^/!!!   /' "$E2E_SKIP_LOG"
  echo
fi
rm -f "$E2E_SKIP_LOG"
exit $rc
