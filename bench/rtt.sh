#!/usr/bin/env bash
# Idle round trips through the tunnel, ptun against the lab's peers, with the noise floor beside
# them: the peer lab's namespaces (../shared/bench), interleaved rounds of
#   A (ptun)  A again (the same binary: how far two runs of one build differ)  peers...
# or A and B (two ptun builds) when a second binary is given. Per round and config: a fresh
# tunnel, 20 warm-up pings, then PINGS pings at INTERVAL (the lab's rate: 100/s), and the CPU the
# daemons spent per ping (/proc/PID/task/*/schedstat, every thread of every daemon process).
#
# Why: the lab measures RTT with 100 pings per round. On a 2-vCPU VM an idle round trip is mostly
# the wake-up of halted vCPUs, and one build's per-round averages spread wider than the gaps
# between VPNs; the A/A pair shows that spread next to the comparison.
# Not a test: it prints figures (all pings pooled: avg and percentiles; per-round averages).
# usage: bench/rtt.sh PTUN_A [PTUN_B]   (root; env: PEERS="ocserv" (names of the lab's runners:
#        wg ovpn ocserv) ROUNDS=6 PINGS=300 INTERVAL=0.01 LAB=../shared/bench)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$(realpath "${1:?usage: bench/rtt.sh PTUN_A [PTUN_B]}")
b=$(realpath "${2:-$1}")
PEERS=${PEERS:-ocserv}
ROUNDS=${ROUNDS:-6}
PINGS=${PINGS:-300}
INTERVAL=${INTERVAL:-0.01}
src_lab=$(realpath "${LAB:-$here/../../shared/bench}")
[ -x "$src_lab/setup.sh" ] || { echo "the peer lab is not at $src_lab (set LAB=)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/rtt.sh needs root (network namespaces)" >&2; exit 1; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 50 ] && [ "$PINGS" -ge 10 ] && [ "$PINGS" -le 5000 ] ||
  { echo "ROUNDS must be 1..50 and PINGS 10..5000" >&2; exit 2; }
bash "$here/../scripts/install-deps.sh" bench
out=$(mktemp -d /tmp/ptun-rtt.XXXXXX) && chmod 755 "$out"   # ocserv's workers run as nobody
# A copy of the lab: its run state, certificates and pid files stay out of the shared one.
cp -r "$src_lab" "$out/lab" && rm -rf "$out/lab/raw" "$out/lab/run" "$out/lab/certs"
cd "$out/lab"
. ./lib.sh
for p in $PEERS; do
  [ -f "runners/$p.sh" ] || { echo "no lab runner '$p' (runners/$p.sh)" >&2; exit 2; }
  . "runners/$p.sh"
done
export PTUN_BIN=$a
. "$here/ptun-candidate.sh"
finish() { bash ./teardown.sh >>"$out/teardown.log" 2>&1; }
trap finish EXIT
trap 'exit 130' INT TERM
if ns_exists "$NS_C" || ns_exists "$NS_S"; then
  echo "the lab's namespaces ($NS_C, $NS_S) exist: is a lab run going on? (else: teardown.sh)" >&2
  trap - EXIT
  exit 1
fi
bash ./gen-certs.sh >"$out/certs.log" 2>&1 || { echo "the lab's gen-certs.sh failed: $out/certs.log" >&2; exit 1; }
bash ./setup.sh >"$out/setup.log" 2>&1 || { echo "the lab's setup.sh failed: $out/setup.log" >&2; exit 1; }

# Nanoseconds on CPU of every thread of the given processes.
cpu_ns() {
  local p t sum=0
  for p in "$@"; do
    for t in /proc/"$p"/task/*/schedstat; do
      [ -r "$t" ] && sum=$((sum + $(cut -d' ' -f1 "$t")))
    done
  done
  echo "$sum"
}

# measure NAME TARGET PIDS...: appends the round's pings (ms, one per line) to $out/NAME.ms and
# "round avg cpu_us_per_ping" to $out/NAME.rounds.
measure() {
  local name=$1 target=$2; shift 2
  [ $# -gt 0 ] || { echo "$name: no daemon process found" >&2; return 1; }
  timeout 30 ip netns exec "$NS_C" ping -n -q -c 20 -i "$INTERVAL" -W 1 "$target" >/dev/null 2>&1 ||
    { echo "$name: warm-up ping to $target failed" >&2; return 1; }
  local c0 c1 res n
  c0=$(cpu_ns "$@")
  res=$(timeout $((PINGS / 50 + 60)) ip netns exec "$NS_C" ping -n -c "$PINGS" -i "$INTERVAL" -W 1 "$target" 2>&1)
  c1=$(cpu_ns "$@")
  echo "$res" | grep -o 'time=[0-9.]*' | cut -d= -f2 >"$out/$name.round"
  n=$(wc -l <"$out/$name.round")
  [ "$n" -gt 0 ] || { echo "$name: no ping answered: $(echo "$res" | tail -2)" >&2; return 1; }
  cat "$out/$name.round" >>"$out/$name.ms"
  awk -v r="$round" -v cpu=$(( (c1 - c0) / n / 1000 )) '{s += $1} END {printf "%d %.3f %d\n", r, s / NR, cpu}' \
    "$out/$name.round" >>"$out/$name.rounds"
  printf '  round %d  %-20s %s pings, avg %s ms, daemons %s us CPU per ping\n' "$round" "$name" "$n" \
    "$(tail -1 "$out/$name.rounds" | cut -d' ' -f2)" "$(tail -1 "$out/$name.rounds" | cut -d' ' -f3)"
}

ptun_round() {  # NAME BINARY
  PTUN_BIN=$2 TARGET=$CAND_S_IP
  candidate_up >>"$out/up.log" 2>&1 || { echo "$1: ptun did not come up (see $RUN_DIR/candidate/*.log)" >&2; return 1; }
  measure "$1" "$CAND_S_IP" $(candidate_pids)
  local rc=$?
  candidate_down >>"$out/up.log" 2>&1
  return $rc
}

peer_target() {
  case $1 in wg) echo "$WG_S_IP" ;; ovpn) echo "$OVPN_S_IP" ;; ocserv) echo "$OCS_S_IP" ;; *) return 1 ;; esac
}

name_a="ptun-A"; name_b="ptun-A-again"
[ "$a" != "$b" ] && name_b="ptun-B"
configs="$name_a $name_b $PEERS"
echo "bench/rtt.sh: $ROUNDS rounds of $PINGS pings every ${INTERVAL}s; A = $a; B = $b; raw: $out"
for round in $(seq "$ROUNDS"); do
  ptun_round "$name_a" "$a" || exit 1
  ptun_round "$name_b" "$b" || exit 1
  for p in $PEERS; do
    TARGET=$(peer_target "$p")   # each runner sets it when sourced; its _up pings it
    "${p}_up" >>"$out/up.log" 2>&1 || { echo "$p did not come up (see $out/up.log)" >&2; exit 1; }
    measure "$p" "$TARGET" $("${p}_pids")
    rc=$?
    "${p}_down" >>"$out/up.log" 2>&1
    [ $rc -eq 0 ] || exit 1
  done
done

echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' config pings "avg ms" p10 p50 p90 "round avgs min-max" "CPU us/ping (median round)"
echo '|---|---|---|---|---|---|---|---|'
for c in $configs; do
  pooled=$(sort -n "$out/$c.ms" | awk '{v[NR] = $1; s += $1}
    END {printf "%d | %.3f | %.3f | %.3f | %.3f", NR, s / NR, v[int(NR * .1) + 1], v[int(NR * .5) + 1], v[int(NR * .9) + 1]}')
  spread=$(cut -d' ' -f2 "$out/$c.rounds" | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}')
  cpu=$(cut -d' ' -f3 "$out/$c.rounds" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  printf '| %s | %s | %s | %s |\n' "$c" "$pooled" "$spread" "$cpu"
done
