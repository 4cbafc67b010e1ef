#!/usr/bin/env bash
# Throughput of the two transports side by side (issue 16 item 1): DTLS over UDP, then the TCP
# fallback (DTLS records inside TLS on TCP), same client, same session, same link.
#   [c1] iperf3 -c -> ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server, iperf3 -s on 10.99.0.1
# Per transport: SECS seconds up, SECS down (-R), SECS over 4 streams up. The TCP round starts
# when nftables in the server's namespace drops UDP port 4433 and the client reports tls.
# Not a test: it prints figures and fails only when something does not work.
# usage: bench/transport.sh PATH_TO_PTUN   (root; env: SECS=5, ROUNDS=1)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/transport.sh PATH_TO_PTUN}")
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_need iperf3 nft
secs=${SECS:-5}
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
sed -i 's/^listen = .*/&\nlisten_tcp = ["0.0.0.0:8443"]/' "$E2E_DIR/server.toml"
sed -i 's/^log_level = "debug"$/log_level = "info"/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^log_level = "debug"$/log_level = "info"/; s/^reconnect_max_secs = 2$/&\ntcp_port = 8443\ntcp_fallback_secs = 2\nudp_probe_secs = 3600/' "$E2E_DIR/c1.toml"
e2e_up c1
in_ns srv iperf3 -s -B 10.99.0.1 -D --logfile "$E2E_DIR/iperf-s.log" || e2e_fail "iperf3 -s"
sleep 0.5
mbps() { python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.0f" % (j["end"]["sum_received"]["bits_per_second"]/1e6))'; }
run() {   # LABEL ARGS...: one iperf3 run, its Mbit/s
  local label=$1; shift
  local r
  r=$(in_ns c1 timeout $((secs + 15)) iperf3 -c 10.99.0.1 -t "$secs" -J "$@" | mbps) || e2e_fail "iperf3 $label"
  printf '  %-26s %6s Mbit/s\n' "$label" "$r"
}
round() {
  echo "transport $(e2e_json c1 transport):"
  run "TCP up (1 stream)"
  run "TCP down (1 stream, -R)" -R
  run "TCP up (4 streams)" -P 4
}
for _ in $(seq "${ROUNDS:-1}"); do
  [ "$(e2e_json c1 transport)" = dtls ] || e2e_fail "not on dtls: $(e2e_status c1)"
  round
  e2e_do srv nft -f - <<'NFT'
table inet bench_block {
  chain in { type filter hook input priority -50; policy accept; udp dport 4433 drop; }
  chain out { type filter hook output priority -50; policy accept; udp sport 4433 drop; }
}
NFT
  # Silence is a symptom only while sending: a ping through the tunnel starts the fallback.
  in_ns c1 ping -c 8 -i 0.5 -W 1 10.99.0.1 >/dev/null 2>&1
  e2e_wait_for 15 sh -c "[ \"\$(\"$ptun\" status --json -s $(e2e_sock c1) | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"transport\"])')\" = tls ]" ||
    e2e_fail "no fallback to tls: $(e2e_status c1)"
  round
  e2e_do srv nft delete table inet bench_block
  # Back to DTLS for the next round: a new session over UDP (the probe interval is an hour here).
  [ "${ROUNDS:-1}" -gt 1 ] && { e2e_stop "$(pgrep -f "client -c $E2E_DIR/c1.toml" | head -1)"; e2e_start client c1; }
done
echo "drops: client tcp $(e2e_status c1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp"]["tcp_drops"])'), server tcp $("$ptun" status --json -s "$E2E_DIR/run/server.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp"]["send_dropped"])')"
