#!/usr/bin/env bash
# A fuzzing campaign: runs each fuzz target in BUILD_DIR for SECS seconds, one after the other
# (one core: the machine is shared), minimises the corpus back into fuzz/corpus/<target>, and adds
# the run's executions and seconds to fuzz/executions.tsv, the running total per target kept in the
# repository (target, total execs, total seconds, last run UTC).
# Minimising: the hand-written seeds (named files) stay; every other input, from earlier campaigns
# (named by their SHA-1) or this run, is kept only if it adds coverage beyond the seeds and the
# inputs kept before it (libFuzzer -merge=1 into a fresh directory), so the corpus does not grow
# with every campaign.
# Any finding (crash, leak, timeout, OOM) stops the campaign with the target and reproducer named.
# usage: fuzz-campaign.sh BUILD_DIR SECS [TARGET...]   (no TARGET: every fuzz_* in BUILD_DIR/fuzz)
set -euo pipefail
build=${1:?build dir}; secs=${2:?seconds per target}; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
tsv="$root/fuzz/executions.tsv"
arts="$build/fuzz-artifacts"; mkdir -p "$arts"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build"/fuzz/fuzz_*; do [ -x "$bin" ] && targets+=("$(basename "$bin" | sed 's/^fuzz_//')"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz-campaign: no fuzz targets in $build/fuzz" >&2; exit 2; }

# Adds one run to the totals (rewrites the file sorted by target; header kept).
record() {  # name execs secs
  local tmp; tmp=$(mktemp)
  { [ -f "$tsv" ] && tail -n +2 "$tsv"; true; } | awk -F'\t' -v t="$1" -v e="$2" -v s="$3" -v d="$(date -u +%Y-%m-%dT%H:%MZ)" '
    BEGIN { OFS = "\t" }
    $1 == t { e += $2; s += $3; next }
    NF >= 3 { print }
    END { print t, e, s, d }' | sort >"$tmp"
  { printf 'target\texecutions\tseconds\tlast_run_utc\n'; cat "$tmp"; } >"$tsv"
  rm -f "$tmp"
}

for name in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$name"
  [ -x "$bin" ] || { echo "fuzz-campaign: no $bin" >&2; exit 2; }
  seeds="$root/fuzz/corpus/$name"; mkdir -p "$seeds"
  work=$(mktemp -d "$build/campaign-$name.XXXXXX")
  flags=(-timeout=25)
  [ -f "$root/fuzz/$name.dict" ] && flags+=(-dict="$root/fuzz/$name.dict")
  # fuzz/NAME.flags: extra libFuzzer flags for one target, with the reason in the file.
  [ -f "$root/fuzz/$name.flags" ] && flags+=($(grep -v '^#' "$root/fuzz/$name.flags"))
  log="$arts/$name.campaign.log"
  prefix="$arts/$name-campaign-"
  rm -f "$prefix"*
  echo "== fuzz_$name: ${secs}s"
  start=$(date +%s)
  # The seeds are read but not written: new inputs land in $work, merged below.
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$prefix" "${flags[@]}" \
       "$work" "$seeds" >"$log" 2>&1; then
    repro=$(ls -t "$prefix"* 2>/dev/null | head -1 || true)
    echo "fuzz-campaign: fuzz_$name FOUND A BUG; reproducer: ${repro:-none written (see $log)}" >&2
    echo "  replay: $bin ${repro:-<file>}" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  elapsed=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  [ -n "$execs" ] || { echo "fuzz-campaign: fuzz_$name printed no stats (see $log)" >&2; exit 1; }
  before=$(ls "$seeds" | wc -l)
  merged=$(mktemp -d "$build/campaign-$name-merged.XXXXXX")
  find "$seeds" -maxdepth 1 -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$merged"/ \;
  "$bin" -merge=1 "${flags[@]}" "$merged" "$seeds" "$work" >"$arts/$name.merge.log" 2>&1 \
    || { echo "fuzz-campaign: merging fuzz_$name's corpus failed (see $arts/$name.merge.log)" >&2; exit 1; }
  find "$seeds" -maxdepth 1 -type f -delete
  cp "$merged"/* "$seeds"/
  rm -rf "$work" "$merged"
  record "$name" "$execs" "$elapsed"
  echo "   $execs execs in ${elapsed}s ($(( execs / (elapsed > 0 ? elapsed : 1) ))/s); corpus $before -> $(ls "$seeds" | wc -l) files, $(du -sk "$seeds" | cut -f1) KiB"
done
echo "== totals ($tsv)"
column -t -s $'\t' "$tsv"
