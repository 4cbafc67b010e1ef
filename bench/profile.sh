#!/usr/bin/env bash
# Where the CPU goes: a perf profile of both daemons during a TCP upload through the tunnel.
#
#   [c1] iperf3 -c --> ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 ptun server (TUN) --> iperf3 -s 10.99.0.1
#
# Records SECS seconds of `perf record -g` on each daemon while iperf3 runs, then prints each one's
# hottest symbols (self time) and the throughput. Namespaces and processes are removed on exit by
# the e2e harness's trap. Not a test: it prints figures and fails only when something does not work.
# usage: bench/profile.sh PATH_TO_PTUN     (root; env: SECS=10 TOP=25)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/profile.sh PATH_TO_PTUN}")
SECS=${SECS:-10}
TOP=${TOP:-25}
[ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "SECS must be 1..120" >&2; exit 2; }
bash "$here/../scripts/install-deps.sh" bench   # perf, iperf3
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_need perf iperf3
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^log_level = "debug"$/log_level = "info"/' "$E2E_DIR/c1.toml" "$E2E_DIR/server.toml"
e2e_up c1
cpid=$E2E_PID
spid=$E2E_SERVER_PID
in_ns srv iperf3 -s -B 10.99.0.1 -1 >/dev/null &
e2e_listening srv tcp 5201
perf record -g -o "$E2E_DIR/client.perf" -p "$cpid" -- sleep "$SECS" 2>"$E2E_DIR/perf-c.log" &
pc=$!
perf record -g -o "$E2E_DIR/server.perf" -p "$spid" -- sleep "$SECS" 2>"$E2E_DIR/perf-s.log" &
ps=$!
in_ns c1 iperf3 -c 10.99.0.1 -t "$SECS" -J >"$E2E_DIR/iperf.json" || e2e_fail "iperf3 failed"
wait $pc || e2e_fail "perf record (client) failed: $(cat "$E2E_DIR/perf-c.log")"
wait $ps || e2e_fail "perf record (server) failed: $(cat "$E2E_DIR/perf-s.log")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("TCP up: %.0f Mbit/s" % (j["end"]["sum_received"]["bits_per_second"]/1e6))' "$E2E_DIR/iperf.json"
for who in client server; do
  echo "== $who: hottest symbols (self %), $SECS s of TCP upload"
  perf report -i "$E2E_DIR/$who.perf" --stdio --no-children --sort symbol -g none --percent-limit 0.5 2>/dev/null \
    | grep -E '^ +[0-9]' | head -"$TOP" || e2e_fail "perf report ($who) printed nothing"
done
