#!/usr/bin/env bash
# How the data path's work splits between the loop thread and the tx thread (issue 14 item 4):
# a TCP transfer at a fixed rate, below what the 2-core machine can carry, through a client and a
# server, with and without `tx_thread`; per daemon, the CPU of each of its threads (% of one
# core) while the transfer ran, and the throughput.
#
#   [cli] iperf3 -c -> ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server, iperf3 -s on 10.99.0.1
#
# On a machine where the daemons have cores to themselves, the busiest thread bounds the
# throughput: what the tx thread takes off the loop's thread is the headroom a second core adds.
# On this 2-core lab (both daemons and both iperf3 ends on two cores) there is no idle core to
# give: the same runs at full speed are what `bench/peak-rss.sh` and `make bench` measure.
# Not a test: it prints figures and fails only when something does not work.
# usage: bench/threads.sh PATH_TO_PTUN   (root; env: RATE=1000M (0: as fast as it goes) SECS=10
#        DIRS="up down")
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/threads.sh PATH_TO_PTUN}")
RATE=${RATE:-1000M}
SECS=${SECS:-10}
DIRS=${DIRS:-up down}
[ "$SECS" -ge 2 ] && [ "$SECS" -le 60 ] || { echo "SECS must be 2..60" >&2; exit 2; }
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_need iperf3
e2e_ns srv; e2e_ns cli
e2e_link cli srv 198.18.0.1/30 198.18.0.2/30
e2e_pki cli
tick=$(getconf CLK_TCK)

# threads_cpu PID: "comm:ticks" per thread (utime + stime)
threads_cpu() {
  local t
  for t in /proc/"$1"/task/*; do
    awk '{ sub(/^[^(]*\(/, ""); comm = $0; sub(/\).*/, "", comm); sub(/^[^)]*\) /, "");
           print comm ":" $12 + $13 }' "$t/stat" 2>/dev/null
  done
}
# share BEFORE AFTER SECS: "comm X%" per thread, from two threads_cpu samples
share() {
  python3 - "$1" "$2" "$3" "$tick" <<'PY'
import sys
def parse(s):
    d = {}
    for line in s.split():
        c, v = line.rsplit(":", 1)
        d[c] = d.get(c, 0) + int(v)
    return d
b, a, secs, tick = parse(sys.argv[1]), parse(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(", ".join(f"{c} {100.0 * (a[c] - b.get(c, 0)) / tick / secs:.0f}%" for c in sorted(a)))
PY
}

for mode in off on; do
  e2e_server_config 'included_routes = ["10.99.0.0/24"]'
  e2e_client_config cli "198.18.0.2:4433"
  sed -i 's/^log_level = "debug"$/log_level = "warn"/' "$E2E_DIR/server.toml" "$E2E_DIR/cli.toml"
  if [ "$mode" = on ]; then
    sed -i 's/^\[tunnel\]$/[tunnel]\ntx_thread = true/' "$E2E_DIR/server.toml" "$E2E_DIR/cli.toml"
  fi
  e2e_start server server; spid=$E2E_PID
  e2e_start client cli; cpid=$E2E_PID
  ipid=$(e2e_bg srv iperf3 iperf3 -s -B 10.99.0.1 -p 5201)
  e2e_listening srv tcp 5201
  for dir in $DIRS; do
    args=(); [ "$dir" = down ] && args=(-R)
    cb=$(threads_cpu "$cpid"); sb=$(threads_cpu "$spid")
    mbps=$(in_ns cli timeout $((SECS + 30)) iperf3 -c 10.99.0.1 -p 5201 -b "$RATE" -t "$SECS" -J "${args[@]}" |
      python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum_received"]; print(round(e["bits_per_second"]/1e6))') ||
      e2e_fail "iperf3 ($dir, tx_thread $mode) failed"
    ca=$(threads_cpu "$cpid"); sa=$(threads_cpu "$spid")
    echo "tx_thread $mode, TCP $dir at $RATE: $mbps Mbit/s; client: $(share "$cb" "$ca" "$SECS"); server: $(share "$sb" "$sa" "$SECS")"
  done
  for n in cli server; do   # how many batches the tx thread wrote, of how many packets
    e2e_status "$n" | python3 -c '
import json, sys
def find(j):
    if isinstance(j, dict):
        if "tx_thread_batches" in j: return j
        for v in j.values():
            r = find(v)
            if r: return r
f = find(json.load(sys.stdin)) or {}
print("  %s: tx thread batches %s, records sealed there %s, tun_tx_packets %s, udp_tx_datagrams %s" % (
      sys.argv[1], f.get("tx_thread_batches"), f.get("tx_thread_seals"), f.get("tun_tx_packets"),
      f.get("udp_tx_datagrams")))' "$n"
  done
  e2e_stop "$ipid"; e2e_stop "$cpid"; e2e_stop "$spid"
done
