#!/usr/bin/env bash
# Roaming: the client's underlay address changes in the middle of a TCP transfer through the
# tunnel. The path monitor sees it, the client rebinds its socket and PINGs; the server moves the
# session to the new address. The transfer completes with a matching sha256 and the session id
# does not change (no new handshake).
#   [c1] 198.18.0.1/24 -> 198.18.0.9/24 ==veth (tbf 40 Mbit/s)== 198.18.0.2/24 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/24 198.18.0.2/24
dev=$(in_ns c1 ip -o link show type veth | awk -F'[ :@]+' '{print $2}')
# Slow enough that the change lands mid-transfer.
e2e_do c1 tc qdisc add dev "$dev" root tbf rate 40mbit burst 32kbit latency 200ms
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
sid1=$(e2e_json c1 session_id)
e2e_log "connected, session $sid1"

e2e_transfer srv c1 10.99.0.1 5001 25000000 90 &
xfer=$!
# Mid-transfer: the address changes once 2 of the 25 MB have arrived.
got_mb() { [ "$(stat -c %s "$E2E_DIR/got.5001" 2>/dev/null || echo 0)" -ge 2000000 ]; }
e2e_wait_for 30 got_mb || e2e_fail "the transfer did not start"
kill -0 $xfer 2>/dev/null || e2e_fail "transfer finished before the address change (too fast to test)"
e2e_do c1 ip addr del 198.18.0.1/24 dev "$dev"
e2e_do c1 ip addr add 198.18.0.9/24 dev "$dev"
e2e_log "client underlay address changed to 198.18.0.9 mid-transfer"
wait $xfer || e2e_fail "transfer failed or sha256 mismatch after the address change"
e2e_log "25 MB transfer completed, sha256 matches"

sid2=$(e2e_json c1 session_id)
[ "$sid1" = "$sid2" ] || e2e_fail "session id changed: $sid1 -> $sid2 (a new handshake instead of roaming)"
[ "$(e2e_json c1 roams)" -ge 1 ] || e2e_fail "no roam counted: $(e2e_status c1)"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "not connected after roaming"
"$E2E_PTUN" sessions --json -s "$E2E_DIR/run/server.sock" | grep -q '"endpoint": "198.18.0.9:' \
  || e2e_fail "server does not show the new address: $("$E2E_PTUN" sessions --json -s "$E2E_DIR/run/server.sock")"
grep -q "reasserting" "$E2E_DIR/c1.log" || e2e_fail "no reasserting transition logged"
e2e_log "same session $sid2 over 198.18.0.9; server moved it; roams $(e2e_json c1 roams)"
exit 0
