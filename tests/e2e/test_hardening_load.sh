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
n=${PTUN_LOAD_SESSIONS:-1000}
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
# max_sessions = n + 1: the load fills it with c1's real client as the last one; the flood
# client "load-extra" must then be refused (session_limit).
cat >"$E2E_DIR/server.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/run/server.sock"
state_dir = "$E2E_DIR/state-server"
log_level = "warn"
user = "nobody"
max_sessions = $((n + 1))
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
spid=$(e2e_bg srv server "$E2E_PTUN" server -c "$E2E_DIR/server.toml")
e2e_wait_for 10 test -S "$E2E_DIR/run/server.sock" || e2e_fail "server did not start"
sleep 0.3
ulimit -n 4096
in_ns c1 timeout 170 "$load_bin" load --pki "$E2E_DIR/pki" --server 198.18.0.2:4433 --server-name ptun-server \
  --sessions "$n" --sockets 4 --window 64 --packets 5 --interval-ms 200 --hold-secs 3 --server-pid "$spid" \
  >"$E2E_DIR/load.json" 2>"$E2E_DIR/load.log" &
lpid=$!
# While the sessions are held: the server lists them all.
e2e_wait_for 150 grep -q "holding" "$E2E_DIR/load.log" || { cat "$E2E_DIR/load.log"; e2e_fail "load did not reach the hold phase"; }
st=$(e2e_status server)
echo "$st" | python3 -c "import json,sys; s=json.load(sys.stdin); assert s['sessions'] == $n, s['sessions']" \
  || e2e_fail "server status does not show $n sessions: $(echo "$st" | head -c 300)"
wait $lpid || { cat "$E2E_DIR/load.log"; e2e_fail "ptun-load failed: $(cat "$E2E_DIR/load.json")"; }
cat "$E2E_DIR/load.json"
python3 - "$E2E_DIR/load.json" "$n" <<'PY' || e2e_fail "load figures"
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert r["established"] == n and r["failed"] == 0, r
assert r["echo_replies"] >= 0.95 * r["echo_sent"] and r["echo_sent"] == 5 * n, r
assert r["server_vmrss_kib"] > 0, r
print(f"e2e: load: {n} sessions, {r['handshakes_per_sec']:.0f} handshakes/s, {r['packets_per_sec']:.0f} packets/s, "
      f"client {r['client_bytes_per_session']/1024:.1f} KiB/session, server VmRSS {r['server_vmrss_kib']} KiB "
      f"VmHWM {r['server_vmhwm_kib']} KiB", file=sys.stderr)
PY
e2e_log "load ok"
exit 0
