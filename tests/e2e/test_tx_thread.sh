#!/usr/bin/env bash
# Both roles with `[tunnel] tx_thread = true` (src/datapath/tx_thread.hpp): a second thread named
# ptun-tx in each process writes full batches to the TUN and the UDP socket. Real traffic through
# it: ping (single packets, written by the loop), 20 MB of TCP each way with matching sha256,
# UDP echo, then the client's address changes mid-transfer (the socket is rebound while the tx
# thread has been sending on it). Both daemons count batches written by the tx thread, and stop
# cleanly (the TUN is gone).
#   [c1] 198.18.0.1/24 -> .9 ==veth== 198.18.0.2/24 [srv]   tunnel 10.99.0.0/24
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/24 198.18.0.2/24
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^\[tunnel\]$/[tunnel]\ntx_thread = true/' "$E2E_DIR/server.toml" "$E2E_DIR/c1.toml"
grep -q '^tx_thread = true' "$E2E_DIR/c1.toml" && grep -q '^tx_thread = true' "$E2E_DIR/server.toml" \
  || e2e_fail "the configs have no [tunnel] table to put tx_thread in"
e2e_up c1
cpid=$E2E_PID spid=$E2E_SERVER_PID
has_tx_thread() { grep -qx ptun-tx /proc/"$1"/task/*/comm; }
has_tx_thread "$cpid" || e2e_fail "client: no ptun-tx thread ($(cat /proc/"$cpid"/task/*/comm | tr '\n' ' '))"
has_tx_thread "$spid" || e2e_fail "server: no ptun-tx thread"
e2e_log "connected; both daemons run a ptun-tx thread"

in_ns c1 ping -c 5 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "ping 10.99.0.1"
e2e_log "ping ok"

e2e_transfer srv c1 10.99.0.1 5001 20000000 60 || e2e_fail "TCP 20 MB up: failed or sha256 mismatch"
e2e_transfer c1 srv 10.99.0.2 5003 20000000 60 || e2e_fail "TCP 20 MB down: failed or sha256 mismatch"
e2e_log "TCP 20 MB each way: sha256 matches"

got=$(e2e_udp_echo srv c1 10.99.0.1 5002 100)
[ "${got:-0}" -ge 95 ] || e2e_fail "UDP echo: only ${got:-0}/100 came back"
e2e_log "UDP echo: $got/100"

# The tx thread carried the bulk: batches and sealed records counted in both roles (each sent
# 20 MB of data records; the loop seals the batches that find the thread busy, so only a part of
# them), and no drop for want of buffers.
for who in c1 server; do
  e2e_status "$who" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
assert c["tx_thread_batches"] >= 50, c
assert c["tx_thread_seals"] >= 100, c
assert c["drop_pool_empty"] == 0 and c["drop_tun_write"] == 0, c
print(sys.argv[1], "tx thread batches", c["tx_thread_batches"], "records sealed", c["tx_thread_seals"],
      "of udp", c["udp_tx_datagrams"], "tun", c["tun_tx_packets"])
' "$who" >&2 || e2e_fail "$who: the tx thread wrote no batches or sealed no records, or buffers ran out (status counters above)"
done

# Roaming with the tx thread: the socket is rebound (after the pipeline is quiesced) mid-transfer.
dev=$(in_ns c1 ip -o link show type veth | awk -F'[ :@]+' '{print $2}')
e2e_do c1 tc qdisc add dev "$dev" root tbf rate 40mbit burst 32kbit latency 200ms
sid1=$(e2e_json c1 session_id)
e2e_transfer srv c1 10.99.0.1 5004 25000000 90 &
xfer=$!
got_mb() { [ "$(stat -c %s "$E2E_DIR/got.5004" 2>/dev/null || echo 0)" -ge 2000000 ]; }
e2e_wait_for 30 got_mb || e2e_fail "the transfer did not start"
kill -0 $xfer 2>/dev/null || e2e_fail "transfer finished before the address change (too fast to test)"
e2e_do c1 ip addr del 198.18.0.1/24 dev "$dev"
e2e_do c1 ip addr add 198.18.0.9/24 dev "$dev"
wait $xfer || e2e_fail "transfer failed or sha256 mismatch after the address change"
[ "$(e2e_json c1 session_id)" = "$sid1" ] || e2e_fail "session id changed (a new handshake instead of roaming)"
[ "$(e2e_json c1 roams)" -ge 1 ] || e2e_fail "no roam counted: $(e2e_status c1)"
e2e_log "roamed to 198.18.0.9 mid-transfer with the tx thread on: 25 MB, sha256 matches"

e2e_stop "$cpid" || e2e_fail "client did not stop"
e2e_stop "$spid" || e2e_fail "server did not stop"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "client TUN still there after stop"
grep -E "ThreadSanitizer|AddressSanitizer|runtime error" "$E2E_DIR"/*.log && e2e_fail "a sanitizer report"
e2e_log "both stopped cleanly"
exit 0
