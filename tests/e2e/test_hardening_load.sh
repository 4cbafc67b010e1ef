#!/usr/bin/env bash
# Server under load: ptun-load opens PTUN_LOAD_SESSIONS (default 1000) concurrent sessions from one
# process in namespace c1 (4 UDP sockets), each pinging the server's tunnel address 5 times, against
# a real `ptun server` (dropped to nobody) in namespace srv. Then the server's bounds:
# max_sessions refuses the session beyond it, and every established session shows up in status.
# Prints the load figures (handshakes/s, packets/s, memory per session, server VmRSS/VmHWM).
source "$(dirname "$0")/lib.sh"
e2e_init
load_bin="$(dirname "$E2E_PTUN")/bench/load/ptun-load"
[ -x "$load_bin" ] || e2e_fail "ptun-load not built next to ptun ($load_bin)"
nsess=${PTUN_LOAD_SESSIONS:-1000}
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
# max_sessions = the load's session count: a real client started while the load holds them all
# must be refused (ingress counter session_limit).
cat >"$E2E_DIR/server.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/run/server.sock"
state_dir = "$E2E_DIR/state-server"
log_level = "warn"
user = "nobody"
max_sessions = $nsess
max_half_open = 128
handshake_rate_per_source = 1000
[tunnel]
interface = "ptun-s0"
ipv4_pool = "10.100.0.0/20"
[push]
keepalive_secs = 10
dead_peer_secs = 30
TOML
chmod 755 "$E2E_DIR"   # nobody must reach the state_dir handed over to it
e2e_up
spid=$E2E_SERVER_PID
ulimit -n 4096
in_ns c1 timeout 170 "$load_bin" load --pki "$E2E_DIR/pki" --server 198.18.0.2:4433 --server-name ptun-server \
  --sessions "$nsess" --sockets 4 --window 16 --packets 5 --interval-ms 200 --hold-secs 8 --server-pid "$spid" \
  >"$E2E_DIR/load.json" 2>"$E2E_DIR/load.log" &
lpid=$!
# While the sessions are held: the server lists them all.
e2e_wait_for 150 grep -q "holding" "$E2E_DIR/load.log" || { cat "$E2E_DIR/load.log"; e2e_fail "load did not reach the hold phase"; }
st=$(e2e_status server)
echo "$st" | python3 -c "import json,sys; s=json.load(sys.stdin); assert s['sessions'] == $nsess, s['sessions']" \
  || e2e_fail "server status does not show $nsess sessions: $(echo "$st" | head -c 300)"
e2e_log "server lists $nsess sessions"
e2e_client_config c1 198.18.0.2:4433
e2e_bg c1 client "$E2E_PTUN" client -c "$E2E_DIR/c1.toml" >/dev/null   # refused: not e2e_start
e2e_wait_for 5 sh -c "'$E2E_PTUN' status --json -s '$E2E_DIR/run/server.sock' | grep -q '\"session_limit\": [1-9]'" \
  || e2e_fail "a session beyond max_sessions was not refused: $(e2e_status server | grep -E 'session_limit|sessions')"
e2e_log "session beyond max_sessions refused (session_limit counted)"
wait $lpid || { cat "$E2E_DIR/load.log"; e2e_fail "ptun-load failed: $(cat "$E2E_DIR/load.json")"; }
# (after the load: the counters are totals, they include its whole traffic phase)
e2e_status server | python3 -c 'import json,sys; s=json.load(sys.stdin); print("e2e: server counters:", {k: v for k, v in s["counters"].items() if v}, {k: v for k, v in s["ingress"].items() if v}, file=sys.stderr)'
cat "$E2E_DIR/load.json"
python3 - "$E2E_DIR/load.json" "$nsess" <<'PY' || e2e_fail "load figures"
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert r["established"] == n and r["failed"] == 0, r
assert r["echo_replies"] >= 0.8 * r["echo_sent"] and r["echo_sent"] == 5 * n, r
assert r["server_vmrss_kib"] > 0, r
print(f"e2e: load: {n} sessions, {r['handshakes_per_sec']:.0f} handshakes/s, {r['packets_per_sec']:.0f} packets/s, "
      f"client {r['client_bytes_per_session']/1024:.1f} KiB/session, server VmRSS {r['server_vmrss_kib']} KiB "
      f"VmHWM {r['server_vmhwm_kib']} KiB", file=sys.stderr)
PY
e2e_log "load ok"
exit 0
