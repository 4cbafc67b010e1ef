#!/usr/bin/env bash
# The end-to-end tests against an ASan+UBSan build of ptun (and ptun-load): every test in
# tests/e2e/ runs with the sanitized binary; a sanitizer report in any ptun log fails the run.
# ptun's processes write their stderr to the tests' logs, so the sanitizers' reports also go to a
# file per process (log_path) that this script checks after each test.
# usage: run-e2e-asan.sh BUILD_ASAN_DIR [TEST_NAME_FILTER]
set -uo pipefail
build=${1:?asan build dir}; filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "!!! NOT ROOT: e2e tests under ASan SKIPPED"; exit 0; }
reports=$(mktemp -d /tmp/ptun-asan-reports.XXXXXX)
chmod 1777 "$reports"   # ptun may run as nobody after dropping privileges
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$reports/asan"
# ASan keeps freed memory in quarantine (256 MB by default): RSS bounds mean nothing here.
export PTUN_E2E_ASAN=1
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
rc=0
for t in "$root"/tests/e2e/test_*.sh; do
  name=$(basename "$t" .sh)
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  # The set `make test` runs (tests/CMakeLists.txt): test_cross_* need a cross build and a target.
  [[ "$name" == test_cross_* ]] && continue
  echo "== $name (ASan)"
  if ! timeout 300 bash "$t" "${PTUN_ASAN_BIN:-$build/ptun}"; then
    st=$?
    [ $st -eq 77 ] && { echo "   skipped"; continue; }
    echo "!! $name FAILED under ASan"; rc=1
  fi
  if compgen -G "$reports/*" >/dev/null; then
    echo "!! sanitizer reports after $name:"; cat "$reports"/*; rm -f "$reports"/*; rc=1
  fi
done
rm -rf "$reports"
exit $rc
