#!/usr/bin/env bash
# Rekeying (issue 16 item 2): a client with rekey_after_secs = 3 carries a 32 MiB TCP transfer
# through a 20 Mbit/s link (about 14 s). The keys are replaced make-before-break several times
# during it: the sha256 matches, the tunnel addresses stay, the state never leaves connected
# (polled every 0.2 s), status counts >= 3 rekeys, and the server shows one session for the peer between rekeys.
#   [c1] 198.18.0.1/24 ==veth (tbf 20 Mbit/s)== 198.18.0.2/24 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/24 198.18.0.2/24
dev=$(in_ns c1 ip -o link show type veth | awk -F'[ :@]+' '{print $2}')
e2e_do c1 tc qdisc add dev "$dev" root tbf rate 20mbit burst 32kbit latency 200ms
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^reconnect_max_secs = 2$/&\nrekey_after_secs = 3/' "$E2E_DIR/c1.toml"
grep -q '^rekey_after_secs = 3$' "$E2E_DIR/c1.toml" || e2e_fail "rekey_after_secs not in the client config"
e2e_up c1
sid1=$(e2e_json c1 session_id)
addrs1=$(e2e_json c1 addresses)
[ -n "$addrs1" ] || e2e_fail "no tunnel addresses: $(e2e_status c1)"
e2e_log "connected, session $sid1, addresses $addrs1"

# The state, polled while the transfer runs (bounded: at most 600 polls). No python per poll: on a
# loaded host its start-up alone made the polls too sparse to mean anything.
: >"$E2E_DIR/states"
( for _ in $(seq 600); do
    "$E2E_PTUN" status --json -s "$(e2e_sock c1)" | sed -n 's/^  "state": "\([a-z]*\)",\{0,1\}$/\1/p' >>"$E2E_DIR/states"
    sleep 0.2
  done ) &
poller=$!
e2e_transfer srv c1 10.99.0.1 5001 33554432 90 || e2e_fail "transfer failed or sha256 mismatch while rekeying"
kill $poller 2>/dev/null; wait $poller 2>/dev/null
e2e_log "32 MiB transfer completed, sha256 matches"

polls=$(grep -c . "$E2E_DIR/states")
[ "$polls" -ge 10 ] || e2e_fail "only $polls state polls during the transfer"
if grep -v '^connected$' "$E2E_DIR/states" | grep -q .; then
  e2e_fail "the state left connected during the transfer: $(sort "$E2E_DIR/states" | uniq -c | tr '\n' ' ')"
fi
rekeys=$(e2e_json c1 rekeys)
[ "${rekeys:-0}" -ge 3 ] || e2e_fail "only ${rekeys:-0} rekeys during the transfer: $(e2e_status c1)"
[ "$(e2e_json c1 addresses)" = "$addrs1" ] || e2e_fail "tunnel addresses changed: $addrs1 -> $(e2e_json c1 addresses)"
[ "$(e2e_json c1 reconnects)" = 0 ] || e2e_fail "the client reconnected: $(e2e_status c1)"
sid2=$(e2e_json c1 session_id)
[ "$sid1" != "$sid2" ] || e2e_fail "the session id did not change (no rekey on the wire)"
"$E2E_PTUN" status -s "$(e2e_sock c1)" | grep -q "^ *rekeys: *[0-9]" || e2e_fail "ptun status shows no rekeys line"

# The server: one session for the peer between rekeys (the client closes the old one 2 s after
# each rekey, the server after 10 s at the latest; the next rekey comes 3 s after the last).
one_session() {
  "$E2E_PTUN" sessions --json -s "$E2E_DIR/run/server.sock" | python3 -c 'import json,sys
s = [x for x in json.load(sys.stdin) if x.get("peer") == "c1"]
sys.exit(0 if len(s) == 1 else 1)'
}
e2e_wait_for 15 one_session || e2e_fail "server does not show exactly one session for c1: $("$E2E_PTUN" sessions --json -s "$E2E_DIR/run/server.sock")"
srv_rekeys=$("$E2E_PTUN" status --json -s "$E2E_DIR/run/server.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("rekeys", 0))')
[ "$srv_rekeys" -ge 3 ] || e2e_fail "server counted $srv_rekeys rekeys"
grep -q "closed: rekeyed" "$E2E_DIR/server.log" || e2e_fail "no old session closed as rekeyed in the server log"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "not connected at the end"
e2e_log "rekeys: client $rekeys, server $srv_rekeys; $polls polls all connected; addresses $addrs1 kept; one server session"
exit 0
