#!/usr/bin/env bash
# Handshakes per second across the servers of a cluster (issue 18, docs/cluster.md): one etcd,
# SERVERS ptun servers with [cluster] (CLUSTER=0: the same servers without it, for comparison), and
# one ptun-load per server, all started together, each with its own peers (--first), so that every
# handshake costs its server the two etcd round trips of a dynamic lease. Prints one line per
# server (ptun-load's JSON) and the sum of handshakes/s. A benchmark, not a test: numbers depend on
# the machine (the servers, the loads and etcd share its cores).
#
#   usage (root): bash bench/cluster-handshakes.sh BUILD_DIR     env: SERVERS=2 SESSIONS=200 CLUSTER=1
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/e2e/lib.sh" "$build/ptun"
e2e_init
load_bin="$build/bench/load/ptun-load"
[ -x "$load_bin" ] || e2e_fail "ptun-load not built ($load_bin): cmake --build $build --target ptun-load"
servers=${SERVERS:-2} sessions=${SESSIONS:-200} cluster=${CLUSTER:-1}
e2e_need etcd etcdctl
e2e_ns etcd
e2e_pki
for i in $(seq 1 "$servers"); do
  e2e_ns s$i; e2e_ns ld$i
  e2e_link etcd s$i 198.18.1.$((4 * i + 1))/30 198.18.1.$((4 * i + 2))/30
  e2e_link ld$i s$i 198.18.0.$((4 * i + 1))/30 198.18.0.$((4 * i + 2))/30
done
if [ "$cluster" = 1 ]; then
  urls=$(for i in $(seq 1 "$servers"); do printf 'http://198.18.1.%d:2379,' $((4 * i + 1)); done)
  e2e_bg etcd etcd etcd --data-dir "$E2E_DIR/etcd-data" --listen-client-urls "${urls%,}" \
    --advertise-client-urls http://198.18.1.5:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380 >/dev/null
  e2e_wait_for 15 in_ns etcd etcdctl --endpoints http://198.18.1.5:2379 endpoint health || e2e_fail "etcd not healthy"
fi
declare -A spid
for i in $(seq 1 "$servers"); do
  cat >"$E2E_DIR/s$i.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/run/s$i.sock"
state_dir = "$E2E_DIR/state-s$i"
log_level = "warn"
max_sessions = $((sessions * servers))
max_half_open = 128
handshake_rate_per_source = 1000
[tunnel]
interface = "ptun-s0"
ipv4_pool = "10.100.0.0/16"
[push]
keepalive_secs = 10
dead_peer_secs = 30
TOML
  [ "$cluster" = 1 ] && printf '[cluster]\nendpoints = ["http://198.18.1.%d:2379"]\nname = "s%d"\n' $((4 * i + 1)) "$i" >>"$E2E_DIR/s$i.toml"
  E2E_NS=s$i e2e_start server s$i
  spid[$i]=$E2E_PID
done
ulimit -n 4096
declare -A lpid
for i in $(seq 1 "$servers"); do
  in_ns ld$i timeout 170 "$load_bin" load --pki "$E2E_DIR/pki" --server 198.18.0.$((4 * i + 2)):4433 \
    --server-name ptun-server --sessions "$sessions" --first $(((i - 1) * sessions)) --sockets 4 --window 16 \
    --packets 1 --interval-ms 200 --server-pid "${spid[$i]}" >"$E2E_DIR/load$i.json" 2>"$E2E_DIR/load$i.log" &
  lpid[$i]=$!
done
total=0
for i in $(seq 1 "$servers"); do
  wait "${lpid[$i]}" || e2e_fail "ptun-load against s$i failed: $(cat "$E2E_DIR/load$i.log")"
  echo "s$i: $(cat "$E2E_DIR/load$i.json")"
  hs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["handshakes_per_sec"])' "$E2E_DIR/load$i.json") \
    || e2e_fail "no handshakes_per_sec in $(cat "$E2E_DIR/load$i.json")"
  total=$(python3 -c "print(round($total + $hs, 1))")
done
echo "cluster=$cluster servers=$servers sessions/server=$sessions: $total handshakes/s in all (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
