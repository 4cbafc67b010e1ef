#!/usr/bin/env bash
# The server's two forwarding modes on one machine: kernel (TUN + IP forwarding + masquerade,
# root) against userspace (lwIP + sockets, uid 65534). Throughput of single-stream TCP up and
# down (iperf3), the server's CPU seconds per GB and its peak RSS; then the server's memory per
# relayed TCP connection in userspace mode (CONNS idle connections held through the tunnel).
#
#   [cli] ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server
#         198.18.1.1 ==veth== 198.18.1.2 [web] iperf3 -s, idle sink
#
# usage: bench/server-forwarding.sh PATH_TO_PTUN   (root; env: SECS=10 CONNS=1000)
# Not a test: it prints figures. Namespaces and processes are removed on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/server-forwarding.sh PATH_TO_PTUN}")
SECS=${SECS:-10}
CONNS=${CONNS:-1000}
[ "$SECS" -ge 1 ] && [ "$SECS" -le 60 ] || { echo "SECS must be 1..60" >&2; exit 2; }
[ "$CONNS" -ge 1 ] && [ "$CONNS" -le 4000 ] || { echo "CONNS must be 1..4000" >&2; exit 2; }
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_need iperf3 getconf setpriv
probe="$here/../tests/e2e/forward_probe.py"
tck=$(getconf CLK_TCK)
e2e_ns srv; e2e_ns cli; e2e_ns web
e2e_netns_etc cli
echo "nameserver 192.0.2.53" >"$E2E_NETNS_ETC/resolv.conf"
e2e_link cli srv 198.18.0.1/30 198.18.0.2/30
e2e_link srv web 198.18.1.1/30 198.18.1.2/30
in_ns web ip route add 10.99.0.0/24 via 198.18.1.1   # kernel mode without masquerade needs it
e2e_pki cli
e2e_userspace_prepare
chown 65534:65534 "$E2E_DIR/pki/ptun-server.key"
e2e_bg web iperf3 iperf3 -s -B 198.18.1.2 -p 5201 >/dev/null
cat >"$E2E_DIR/sink.py" <<'PY'
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4096); l.settimeout(1)
held, end = [], time.time() + float(sys.argv[3])
while time.time() < end:
    try: held.append(l.accept()[0])
    except socket.timeout: pass
PY
e2e_bg web sink bash -c "ulimit -n 8192; exec timeout 900 python3 $E2E_DIR/sink.py 198.18.1.2 9000 890" >/dev/null
e2e_listening web tcp 5201
e2e_listening web tcp 9000
e2e_client_config cli 198.18.0.2:4433
sed -i 's/^log_level = "debug"/log_level = "warn"/' "$E2E_DIR/cli.toml"

server_config() {   # MODE
  cat >"$E2E_DIR/server-$1.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/us/server-$1.sock"
state_dir = "$E2E_DIR/us/state-$1"
log_level = "warn"
[tunnel]
mtu = 1420
ipv4_pool = "10.99.0.0/24"
forwarding = "$1"
userspace_max_flows_per_client = 8192
[push]
included_routes = ["198.18.1.0/30"]
TOML
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
iperf() {   # extra iperf3 flags; prints "MBIT BYTES"
  in_ns cli timeout $((SECS + 30)) iperf3 -c 198.18.1.2 -p 5201 -t "$SECS" -J "$@" | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]["sum_received"]
print("%.0f %d" % (e["bits_per_second"] / 1e6, e["bytes"]))'
}
run_mode() {   # MODE
  local mode=$1 spid cpid
  server_config "$mode"
  if [ "$mode" = kernel ]; then
    e2e_start server "server-$mode"
  else
    e2e_do srv sysctl -qw net.ipv4.ping_group_range="65534 65534"
    e2e_start server "server-$mode" "${E2E_NOBODY[@]}"
  fi
  spid=$E2E_PID
  E2E_LOG="client-$mode" e2e_start client cli
  cpid=$E2E_PID
  for dir in up down; do
    local flags=(); [ $dir = down ] && flags=(-R)
    local c0 c1 r
    c0=$(cpu_ticks "$spid")
    r=$(iperf "${flags[@]}") || e2e_fail "$mode: iperf3 $dir"
    c1=$(cpu_ticks "$spid")
    read -r mbit bytes <<<"$r"
    python3 -c "print(f'$mode  TCP $dir: $mbit Mbit/s, server CPU {($c1 - $c0) / $tck / ($bytes / 1e9):.2f} s/GB')"
  done
  echo "$mode  server peak RSS $(kib "$spid" VmHWM) KiB"
  if [ "$mode" = userspace ]; then
    local before after hold
    before=$(kib "$spid" VmRSS)
    rm -f "$E2E_DIR/hold.in"; mkfifo "$E2E_DIR/hold.in"
    in_ns cli bash -c 'ulimit -n 8192 && exec timeout 300 python3 "$@"' _ "$probe" tcp-hold 198.18.1.2 9000 "$CONNS" 240 \
      <"$E2E_DIR/hold.in" >"$E2E_DIR/hold.out" 2>&1 &
    hold=$!
    exec 9>"$E2E_DIR/hold.in"
    local t0=$SECONDS
    until grep -q '^ready' "$E2E_DIR/hold.out" 2>/dev/null; do
      kill -0 $hold 2>/dev/null || e2e_fail "tcp-hold: $(cat "$E2E_DIR/hold.out")"
      [ $((SECONDS - t0)) -lt 120 ] || e2e_fail "tcp-hold: not up in 120 s"
      sleep 0.5   # polling, bounded
    done
    sleep 2   # on purpose: the server's memory settles after the burst of accepts
    after=$(kib "$spid" VmRSS)
    echo "userspace  $CONNS idle relayed TCP connections: server RSS $before -> $after KiB, $(( (after - before) / CONNS )) KiB per connection"
    "$ptun" status --json -s "$E2E_DIR/us/server-$mode.sock" | python3 -c 'import json,sys; u=json.load(sys.stdin)["userspace"]; print("userspace  tcp_flows", u["tcp_flows"])'
    exec 9>&-
    wait $hold
  fi
  e2e_stop "$cpid" || e2e_fail "$mode: client did not stop"
  e2e_stop "$spid" || e2e_fail "$mode: server did not stop"
}
run_mode kernel
run_mode userspace
