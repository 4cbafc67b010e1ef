#!/usr/bin/env bash
# TunnelVision (CVE-2024-3661, issue 16 item 4). While the client is connected with a full tunnel
# (0.0.0.0/0 pushed), a rogue DHCP server's classless static routes appear in its main table: the
# /1 pair and a /32, via the underlay's gateway. A bounded burst of UDP to three destinations
# covered by them is sent and the packets that leave on the underlay towards them are counted
# (tcpdump, outbound), beside those that arrive on the server's TUN:
#   1. no defence:     they leak (> 0), `ptun status` lists the overrides, the counter moves;
#   2. protect_routes pushed by the server: 0 leak, all arrive through the tunnel; the policy
#      rule (priority 5199) goes on `ptun stop`;
#   3. include_all_networks + exclude_local_networks (main consulted), the client's
#      protect_routes = false overriding the push: the kill switch drops them (0 leak, drops > 0);
#   4. protect_routes, client SIGKILLed: `ptun cleanup` removes the rule from the journal.
#
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft tcpdump python3
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
underlay="e$$l1a"
e2e_do c1 ip route add default via 198.18.0.2
e2e_pki c1
server_conf() {
  e2e_server_config "included_routes = [\"0.0.0.0/0\"]
$1"
}
dests="93.184.216.34 192.0.2.1 203.0.113.7"   # in 0.0.0.0/1, in 128.0.0.0/1, the /32
rogue_add() {
  local r
  for r in 0.0.0.0/1 128.0.0.0/1 203.0.113.7/32; do e2e_do c1 ip route replace "$r" via 198.18.0.2 proto dhcp; done
}
rogue_del() {
  local r
  for r in 0.0.0.0/1 128.0.0.0/1 203.0.113.7/32; do e2e_do c1 ip route del "$r" via 198.18.0.2 proto dhcp; done
}
overrides() { e2e_status c1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("route_overrides", [])))'; }
overrides_are() { [ "$(overrides)" = "$1" ]; }
dropped_listed() { e2e_status c1 | has '"dropped_by_kill_switch": true'; }
counter() { e2e_status c1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["route_overrides_seen"])'; }

# measure NAME: 20 UDP datagrams to each destination; sets LEAKED (outbound on the underlay to
# them) and TUNNELLED (arrived on the server's TUN).
measure() {
  local name=$1 filter="udp dst port 9999 and (dst host ${dests// / or dst host })"
  # (ip netns exec execs tcpdump: $! is tcpdump itself, so the SIGINT below ends the capture)
  ip netns exec "$(ns c1)" tcpdump -i "$underlay" -Q out -n -U -w "$E2E_DIR/$name-under.pcap" >"$E2E_DIR/$name-under.log" 2>&1 &
  local t1=$!; E2E_PIDS+=($t1)
  ip netns exec "$(ns srv)" tcpdump -i ptun-s0 -n -U -w "$E2E_DIR/$name-tun.pcap" >"$E2E_DIR/$name-tun.log" 2>&1 &
  local t2=$!; E2E_PIDS+=($t2)
  e2e_wait_for 5 has -q listening "$E2E_DIR/$name-under.log" || e2e_fail "tcpdump (underlay) did not start"
  e2e_wait_for 5 has -q listening "$E2E_DIR/$name-tun.log" || e2e_fail "tcpdump (server TUN) did not start"
  in_ns c1 python3 - $dests <<'PY' || e2e_fail "sender failed"
import socket, sys, time
for i in range(20):
    for d in sys.argv[1:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"tunnelvision", (d, 9999))
        except OSError:
            pass   # the kill switch answers EPERM
        s.close()
    time.sleep(0.02)
PY
  sleep 1   # the last datagrams cross the tunnel (no state to wait on)
  kill -INT "$t1" "$t2"; wait "$t1" "$t2" 2>/dev/null
  e2e_pcap "$E2E_DIR/$name-under.pcap" "$E2E_DIR/$name-under.txt" "$filter"
  e2e_pcap "$E2E_DIR/$name-tun.pcap" "$E2E_DIR/$name-tun.txt" "$filter"
  LEAKED=$(wc -l <"$E2E_DIR/$name-under.txt")
  TUNNELLED=$(wc -l <"$E2E_DIR/$name-tun.txt")
  echo "tunnelvision $name: $LEAKED of 60 datagrams leaked on the underlay, $TUNNELLED arrived through the tunnel"
}

# --- 1. no defence ---
server_conf ""
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
cpid=$E2E_PID
[ "$(overrides)" = 0 ] || e2e_fail "overrides reported before any rogue route"
rogue_add
e2e_wait_for 10 overrides_are 3 ||
  { e2e_status c1 >&2; e2e_fail "the client did not notice the three rogue routes"; }
[ "$(counter)" = 3 ] || e2e_fail "route_overrides_seen is $(counter), want 3"
"$E2E_PTUN" status -s "$(e2e_sock c1)" >"$E2E_DIR/status1.txt" || e2e_fail "ptun status"
grep -q 'route override: *203.0.113.7/32 via 198.18.0.2 dev e.* beats 0.0.0.0/0 (LEAKS)' "$E2E_DIR/status1.txt" ||
  { cat "$E2E_DIR/status1.txt" >&2; e2e_fail "human status does not show the /32 override"; }
grep -q 'protect routes: *off' "$E2E_DIR/status1.txt" || e2e_fail "human status: protect routes off missing"
has -q 'TunnelVision' "$E2E_DIR/c1.log" || e2e_fail "no log line for the overrides"
measure undefended
[ "$LEAKED" -gt 0 ] || e2e_fail "without the defence nothing leaked: the test cannot see a leak"
rogue_del
e2e_wait_for 10 overrides_are 0 || e2e_fail "overrides still listed after the routes went"
e2e_stop "$cpid" || e2e_fail "client did not stop"
e2e_stop "$E2E_SERVER_PID" || e2e_fail "server did not stop"

# --- 2. protect_routes pushed by the server ---
server_conf "protect_routes = true"
rogue_add   # already there when the client connects (a DHCP lease taken before)
e2e_up c1
cpid=$E2E_PID
[ "$(e2e_json c1 protect_routes)" = True ] || e2e_fail "protect_routes not on from the push"
in_ns c1 ip rule | has '^5199:.*not from all fwmark 0x7074 lookup 7074' || { in_ns c1 ip rule >&2; e2e_fail "no rule 5199"; }
rogue_del; rogue_add   # and appearing while connected
# The kernel resolves their gateway through the rules: it must stay on the underlay (ptun's table
# throws the connected network back to main), not land on the TUN (and vanish with it).
in_ns c1 ip route show 0.0.0.0/1 | has "dev $underlay proto dhcp" || { in_ns c1 ip route show >&2; e2e_fail "the rogue route's gateway resolved into the tunnel"; }
sleep 1   # the path monitor settles (150 ms) and re-reads the table: nothing must be reported
[ "$(overrides)" = 0 ] || { e2e_status c1 >&2; e2e_fail "protected, yet overrides reported"; }
measure defended
[ "$LEAKED" -eq 0 ] || { cat "$E2E_DIR/defended-under.txt" >&2; e2e_fail "$LEAKED datagrams leaked with protect_routes"; }
[ "$TUNNELLED" -eq 60 ] || e2e_fail "$TUNNELLED of 60 datagrams arrived through the tunnel"
e2e_stop "$cpid" || e2e_fail "client did not stop"
in_ns c1 ip rule | has 7074 && e2e_fail "rules left after ptun stop"
in_ns c1 ip route show table all | has 'proto 112' && e2e_fail "routes left after ptun stop"
in_ns c1 ip route show | has '^203.0.113.7 via 198.18.0.2 dev .* proto dhcp' || { in_ns c1 ip route show >&2; e2e_fail "ptun removed a route it does not own"; }

# --- 3. include_all_networks + exclude_local_networks, protect_routes = false (client override) ---
e2e_client_config c1 198.18.0.2:4433 '[protocol]
include_all_networks = true
exclude_local_networks = true
protect_routes = false'
e2e_start client c1
cpid=$E2E_PID
[ "$(e2e_json c1 protect_routes)" = False ] || e2e_fail "the client's protect_routes = false did not override the push"
e2e_wait_for 10 dropped_listed ||
  { e2e_status c1 >&2; e2e_fail "overrides not reported as dropped by the kill switch"; }
measure killswitch
[ "$LEAKED" -eq 0 ] || { cat "$E2E_DIR/killswitch-under.txt" >&2; e2e_fail "$LEAKED datagrams leaked past the kill switch"; }
drops=$(in_ns c1 nft list table inet ptun_ptun0 | grep -o 'counter packets [0-9]*' | awk '{s+=$3} END {print s+0}')
echo "tunnelvision killswitch: the kill switch dropped $drops packet(s)"
[ "$drops" -ge 60 ] || e2e_fail "the kill switch dropped $drops, want >= 60 (the rogue routes' traffic)"
e2e_stop "$cpid" || e2e_fail "client did not stop"

# --- 4. protect_routes, SIGKILL, ptun cleanup ---
e2e_client_config c1 198.18.0.2:4433
e2e_start client c1
cpid=$E2E_PID
in_ns c1 ip rule | has '^5199:' || e2e_fail "no rule 5199"
kill -KILL "$cpid"; e2e_wait_exit "$cpid"
in_ns c1 ip rule | has '^5199:' || e2e_fail "the rule went with SIGKILL: the cleanup step proves nothing"
in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" >"$E2E_DIR/cleanup.txt" || e2e_fail "ptun cleanup"
in_ns c1 ip rule | has 7074 && e2e_fail "rules left after ptun cleanup"
in_ns c1 ip route show table all | has 'proto 112' && e2e_fail "routes left after ptun cleanup"
e2e_log "protect_routes: rule removed on stop and by ptun cleanup"
exit 0
