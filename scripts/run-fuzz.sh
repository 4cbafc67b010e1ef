#!/usr/bin/env bash
# Runs every fuzz target in BUILD_DIR: replays its seed corpus, then fuzzes for SECS seconds
# (0 = replay only). New inputs go to a scratch corpus in the build tree, never into fuzz/.
# -timeout bounds one input: a hang is a finding (libFuzzer's default of 1200 s would stall CI).
# usage: run-fuzz.sh BUILD_DIR SECS
set -euo pipefail
build=${1:?build dir}; secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  seeds="$root/fuzz/corpus/$name"
  work="$build/fuzz-work/$name"; mkdir -p "$work" "$build/fuzz-artifacts"
  dict=(); [ -f "$root/fuzz/$name.dict" ] && dict=(-dict="$root/fuzz/$name.dict")
  # fuzz/NAME.flags: extra libFuzzer flags for one target, with the reason in the file.
  [ -f "$root/fuzz/$name.flags" ] && dict+=($(grep -v '^#' "$root/fuzz/$name.flags"))
  echo "== fuzz_$name: replaying $(ls "$seeds" 2>/dev/null | wc -l) seeds"
  "$bin" -runs=0 -timeout=25 "${dict[@]}" "$seeds" >"$build/fuzz-artifacts/$name.replay.log" 2>&1 \
    || { echo "fuzz_$name: seed replay FAILED"; tail -30 "$build/fuzz-artifacts/$name.replay.log"; status=1; continue; }
  if [ "$secs" -gt 0 ]; then
    echo "== fuzz_$name: fuzzing for ${secs}s"
    if "$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
         "${dict[@]}" "$work" "$seeds" >"$build/fuzz-artifacts/$name.log" 2>&1; then
      grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|stat::slowest_unit_time_sec' "$build/fuzz-artifacts/$name.log" | tr '\n' ' '; echo
    else
      echo "fuzz_$name: FINDING"; tail -40 "$build/fuzz-artifacts/$name.log"; status=1
    fi
  fi
done
exit $status
