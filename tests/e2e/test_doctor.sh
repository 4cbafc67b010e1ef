#!/usr/bin/env bash
# `ptun doctor` (issue 16 item 3) on a connected client: clean (exit 0) on a healthy full tunnel,
# and each planted fault reported (exit 1, named in the output):
#   - a more specific route outside the tunnel (a rogue DHCP /32 via the underlay's gateway);
#   - a resolver outside the tunnel (the LAN's, added to resolv.conf after ptun wrote it);
#   - a missing kill switch table (include_all_networks, `nft delete table` behind ptun's back).
# The healthy run also shows a real DNS answer through the tunnel (the server's DNS proxy, asking
# a dnsmasq on the server's loopback), the clock skew from the server's SETTINGS, and the MTU over
# IPv4 and IPv6. On the server: clean, then a forward chain that drops by default (as Docker's
# FORWARD policy) and forwarding turned off are each reported.
#
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft python3 dnsmasq
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_do c1 ip route add default via 198.18.0.2
e2e_netns_etc srv
printf 'nameserver 127.0.0.1\n' >"$E2E_NETNS_ETC/resolv.conf"   # the server's own resolver
e2e_bg srv dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
  --address=/example.com/192.0.2.80 >/dev/null
e2e_listening srv udp 127.0.0.1:53
e2e_netns_etc c1
printf 'nameserver 198.18.0.2\n' >"$E2E_NETNS_ETC/resolv.conf"
e2e_pki c1
e2e_server_config 'included_routes = ["0.0.0.0/0"]
dns_servers = ["10.99.0.1"]'

# doctor EXPECT NAME: runs `ptun doctor` (human and --json) in c1, wants exit EXPECT.
doctor() {
  local want=$1 name=$2 rc=0
  in_ns c1 "$E2E_PTUN" doctor -c "$E2E_DIR/c1.toml" >"$E2E_DIR/doctor-$name.txt" 2>&1 || rc=$?
  cat "$E2E_DIR/doctor-$name.txt" >&2
  [ "$rc" = "$want" ] || e2e_fail "doctor ($name) exited $rc, want $want"
  rc=0
  in_ns c1 "$E2E_PTUN" doctor --json -c "$E2E_DIR/c1.toml" >"$E2E_DIR/doctor-$name.json" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || e2e_fail "doctor --json ($name) exited $rc, want $want"
}
# failed NAME CHECK: the check failed in the JSON of run NAME; prints its detail.
failed() {
  python3 - "$E2E_DIR/doctor-$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = [c for c in d["checks"] if c["check"] == sys.argv[2]]
assert c and c[0]["result"] == "fail", c
print(c[0]["detail"])
PY
}

overridden() { e2e_status c1 | has '"beats"'; }
not_overridden() { e2e_status c1 | has '"route_overrides": \[\]'; }

# --- a healthy full tunnel, then a rogue route and a resolver outside it ---
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
cpid=$E2E_PID
doctor 0 healthy
grep -q '^  ok  *mtu: 1400-byte packets' "$E2E_DIR/doctor-healthy.txt" || e2e_fail "the MTU was not measured through the tunnel"
grep -q '^  ok  *leak probes: [0-9]* lookups' "$E2E_DIR/doctor-healthy.txt" || e2e_fail "no leak probes"
grep -q '^  ok  *mtu ipv6: 1400-byte packets' "$E2E_DIR/doctor-healthy.txt" || e2e_fail "the IPv6 MTU was not measured"
grep -q '^  ok  *dns answers: example.com A: answered by 10.99.0.1 ([0-9]* ms)$' "$E2E_DIR/doctor-healthy.txt" ||
  e2e_fail "no real DNS answer through the tunnel"
grep -q "^  ok  *clock skew: this host's clock agrees with the server's" "$E2E_DIR/doctor-healthy.txt" ||
  e2e_fail "the clock skew was not checked"

# --- the server's side: clean, then a dropping forward chain, then forwarding off ---
sdoctor() {
  local want=$1 name=$2 rc=0
  in_ns srv "$E2E_PTUN" doctor -c "$E2E_DIR/server.toml" >"$E2E_DIR/doctor-$name.txt" 2>&1 || rc=$?
  cat "$E2E_DIR/doctor-$name.txt" >&2
  [ "$rc" = "$want" ] || e2e_fail "server doctor ($name) exited $rc, want $want"
  in_ns srv "$E2E_PTUN" doctor --json -c "$E2E_DIR/server.toml" >"$E2E_DIR/doctor-$name.json" 2>&1
}
sdoctor 0 server-healthy
grep -q '^  ok  *running: 1 session(s), udp port 4433' "$E2E_DIR/doctor-server-healthy.txt" || e2e_fail "server doctor: not running?"
printf 'table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n }\n}\n' | in_ns srv nft -f - ||
  e2e_fail "nft: a dropping forward chain on the server"
sdoctor 1 server-firewall
failed server-firewall firewall | has '^inet filter forward drops by default and no rule of its table names ptun-s0' ||
  e2e_fail "server doctor did not name the dropping forward chain"
e2e_do srv nft delete table inet filter
e2e_do srv sysctl -qw net.ipv4.ip_forward=0
sdoctor 1 server-forwarding
failed server-forwarding forwarding | has '^net.ipv4.ip_forward is 0' || e2e_fail "server doctor did not see forwarding off"
e2e_do srv sysctl -qw net.ipv4.ip_forward=1
e2e_do c1 ip route add 203.0.113.7/32 via 198.18.0.2 proto dhcp
e2e_wait_for 10 overridden || e2e_fail "override not noticed"
doctor 1 route
failed route "route overrides" | has '203.0.113.7/32 via 198.18.0.2' || e2e_fail "the route override is not named"
failed route "leak probes" | has 'udp 203.0.113.7:443 via e' || e2e_fail "the leak probe did not see the /32"
e2e_do c1 ip route del 203.0.113.7/32 via 198.18.0.2 proto dhcp
e2e_wait_for 10 not_overridden || e2e_fail "the override stays listed after the route went"
grep -q '^nameserver 10.99.0.1' "$E2E_NETNS_ETC/resolv.conf" || e2e_fail "ptun did not write resolv.conf"
echo 'nameserver 198.18.0.2' >>"$E2E_NETNS_ETC/resolv.conf"
doctor 1 resolver
failed resolver dns | has '^resolvers outside the tunnel: 198.18.0.2 via e' || e2e_fail "the outside resolver is not named"
e2e_stop "$cpid" || e2e_fail "client did not stop"

# --- include_all_networks: healthy, then the kill switch table removed ---
e2e_client_config c1 198.18.0.2:4433 '[protocol]
include_all_networks = true'
e2e_start client c1
cpid=$E2E_PID
doctor 0 killswitch-healthy
grep -q '^  ok  *kill switch: nftables table inet ptun_ptun0 in place' "$E2E_DIR/doctor-killswitch-healthy.txt" ||
  e2e_fail "the kill switch was not checked"
e2e_do c1 nft delete table inet ptun_ptun0
doctor 1 killswitch
failed killswitch "kill switch" | has 'ptun_ptun0 is missing' || e2e_fail "the missing table is not named"
e2e_stop "$cpid" || e2e_fail "client did not stop"
exit 0
