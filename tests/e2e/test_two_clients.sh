#!/usr/bin/env bash
# Two clients talk to each other through the server (client-to-client), c2 over an IPv6
# underlay, and a peer that claims a foreign source address is dropped (anti-spoofing). With
# [tunnel] client_to_client = false (server restarted) they no longer reach each other: dropped
# and counted, the server itself still answers.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] fd00:19::2 ==veth== fd00:19::1 [c2]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1; e2e_ns c2
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link c2 srv 198.18.0.5/30 198.18.0.6/30 fd00:19::1/64 fd00:19::2/64
e2e_pki c1 c2
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_client_config c2 '[fd00:19::2]:4433'
e2e_up c1 c2
addr() { e2e_status "$1" | python3 -c 'import json,sys; print([a for a in json.load(sys.stdin)["addresses"] if "." in a][0].split("/")[0])'; }
a1=$(addr c1); a2=$(addr c2)
[ -n "$a1" ] && [ -n "$a2" ] && [ "$a1" != "$a2" ] || e2e_fail "addresses: '$a1' '$a2'"
e2e_status c2 | grep -q '"endpoint": "\[fd00:19::2\]:4433"' || e2e_fail "c2 not over IPv6: $(e2e_status c2)"
e2e_log "c1=$a1 c2=$a2 (c2 over the IPv6 underlay)"
in_ns c1 ping -c 3 -i 0.2 -W 2 "$a2" >/dev/null || e2e_fail "c1 -> c2 ping"
in_ns c2 ping -c 3 -i 0.2 -W 2 "$a1" >/dev/null || e2e_fail "c2 -> c1 ping"
got=$(e2e_udp_echo c2 c1 "$a2" 5003 50)
[ "${got:-0}" -ge 48 ] || e2e_fail "UDP c1 -> c2: ${got:-0}/50"
e2e_log "client-to-client ping and UDP ok ($got/50)"

# Anti-spoofing: c1 sends with a source that is not its own (a second address on its TUN).
e2e_do c1 ip addr add 10.99.0.200/32 dev ptun0
before=$("$E2E_PTUN" status --json -s "$E2E_DIR/run/server.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["drop_spoofed"])')
in_ns c1 ping -c 3 -i 0.2 -W 1 -I 10.99.0.200 10.99.0.1 >/dev/null 2>&1 && e2e_fail "spoofed ping was answered"
after=$("$E2E_PTUN" status --json -s "$E2E_DIR/run/server.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["drop_spoofed"])')
[ "$after" -ge $((before + 3)) ] || e2e_fail "spoofed packets not counted ($before -> $after)"
e2e_log "spoofed source dropped and counted ($before -> $after)"

ssock="$E2E_DIR/run/server.sock"
counter() { "$E2E_PTUN" status --json -s "$ssock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"; }
e2e_stop "$E2E_SERVER_PID" || e2e_fail "server did not stop"
sed -i 's/^\[tunnel\]/[tunnel]\nclient_to_client = false/' "$E2E_DIR/server.toml"
e2e_start server server
E2E_SERVER_PID=$E2E_PID
e2e_wait_connected c1 20 && e2e_wait_connected c2 20 || e2e_fail "clients did not come back after the restart"
[ "$(addr c2)" = "$a2" ] || e2e_fail "c2's lease changed over the restart"
in_ns c1 ping -c 3 -i 0.2 -W 1 "$a2" >/dev/null 2>&1 && e2e_fail "c1 -> c2 answered with client_to_client = false"
dropped=$(counter drop_client_to_client)
[ "$dropped" -ge 3 ] || e2e_fail "client-to-client packets not counted: $dropped"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 -> server ping with client_to_client = false"
e2e_log "client_to_client = false: c1 -> c2 dropped and counted ($dropped), the server still answers"
exit 0
