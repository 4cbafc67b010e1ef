#!/usr/bin/env bash
# Leak test for include_all_networks (kill switch) with always_on. A capture on the client's
# underlay counts every packet the client namespace sends that is not ptun's own datagram to the
# VPN server, while senders emit TCP, UDP, DNS and ICMP over IPv4 and IPv6 (and a LAN host behind
# the client sends forwarded traffic) through: connecting (server down), connected, server killed,
# server back, a link flap (network change), client stop. Expected: 0 (printed).
#
#   [lan] 192.168.77.2 --veth-- 192.168.77.1 [c1] 198.18.0.1 fd00:18::1 ==veth== 198.18.0.2 fd00:18::2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft tcpdump
e2e_ns srv; e2e_ns c1; e2e_ns lan
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30 fd00:18::1/64 fd00:18::2/64
e2e_link lan c1 192.168.77.2/24 192.168.77.1/24
underlay="e$$l1a"
e2e_do c1 ip route add default via 198.18.0.2
e2e_do c1 ip -6 route add default via fd00:18::2
e2e_do c1 sysctl -qw net.ipv4.ip_forward=1
e2e_do lan ip route add default via 192.168.77.1
e2e_settle c1
# The client rewrites /etc/resolv.conf: give the namespace its own (ip netns exec bind-mounts it).
e2e_netns_etc c1
printf 'nameserver 198.18.0.2\n' >"$E2E_NETNS_ETC/resolv.conf"
e2e_pki c1
e2e_server_config 'included_routes = ["0.0.0.0/0", "::/0"]
dns_servers = ["10.99.0.1"]'
e2e_client_config c1 198.18.0.2:4433 '[protocol]
include_all_networks = true
always_on = true'

# The kernel's own link-up chatter (MLD reports, repeated for ~2 s) predates ptun: let it pass
# before the capture starts, so that what is counted is what happens under the kill switch.
sleep 3   # (no state to wait on: the reports are the kernel's, on its own timer)
# Capture everything the client namespace sends on its underlay (outbound only).
ip netns exec "$(ns c1)" tcpdump -i "$underlay" -Q out -n -U -w "$E2E_DIR/underlay.pcap" >"$E2E_DIR/tcpdump.log" 2>&1 &
E2E_PIDS+=($!); tcpdump_pid=$!
e2e_wait_for 5 has -q listening "$E2E_DIR/tcpdump.log" || e2e_fail "tcpdump did not start"

# The client first, with the server down: it installs the kill switch and keeps connecting.
E2E_READY=answers e2e_start client c1
cpid=$E2E_PID
e2e_wait_for 5 in_ns c1 nft list table inet ptun_ptun0 || e2e_fail "no kill switch"

# Senders: a steady stream of every kind, bounded in time (40 s) and stopped explicitly.
cat >"$E2E_DIR/senders.py" <<'PY'
import socket, sys, time
end = time.time() + 40
dsts4, dsts6 = ["192.0.2.1", "198.18.0.2"], ["2001:db8::1", "fd00:18::2"]
dns_q = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
while time.time() < end:
    for fam, dsts in ((socket.AF_INET, dsts4), (socket.AF_INET6, dsts6)):
        for d in dsts:
            for port, payload in ((53, dns_q), (9999, b"leak?")):
                try:
                    s = socket.socket(fam, socket.SOCK_DGRAM); s.sendto(payload, (d, port)); s.close()
                except OSError:
                    pass
            try:
                s = socket.socket(fam, socket.SOCK_STREAM); s.setblocking(False); s.connect_ex((d, 80)); s.close()
            except OSError:
                pass
    time.sleep(0.05)
PY
# (started directly, not in $(...), so that lib.sh registers them for the cleanup)
e2e_bg c1 senders python3 "$E2E_DIR/senders.py" >/dev/null
for d in 192.0.2.1 198.18.0.2; do e2e_bg c1 "ping-$d" ping -i 0.1 -w 40 "$d" >/dev/null; done
for d in 2001:db8::1 fd00:18::2; do e2e_bg c1 "ping6-$d" ping -6 -i 0.1 -w 40 "$d" >/dev/null; done
e2e_bg lan ping-lan ping -i 0.1 -w 40 192.0.2.1 >/dev/null
e2e_bg lan senders-lan python3 "$E2E_DIR/senders.py" >/dev/null
# Each phase lasts a fixed time on purpose (the sleeps below): the senders keep trying meanwhile,
# and the capture must show that nothing got out during that exposure.
sleep 2
e2e_log "phase: connecting (server down) done"

e2e_up
e2e_wait_connected c1 15 || e2e_fail "client did not connect"
sleep 2
e2e_log "phase: connected"
kill -KILL "$E2E_SERVER_PID"
sleep 3
e2e_log "phase: server killed"
E2E_LOG=server2 e2e_start server server
e2e_wait_connected c1 20 || e2e_fail "client did not come back after the server restart"
sleep 1
e2e_log "phase: server back, reconnected"
e2e_do c1 ip link set "$underlay" down; sleep 0.5; e2e_do c1 ip link set "$underlay" up
# link down flushed the underlay's IPv6 address and both default routes: put them back as they were
e2e_do c1 ip -6 addr replace fd00:18::1/64 dev "$underlay" nodad
e2e_do c1 ip route replace default via 198.18.0.2
e2e_do c1 ip -6 route replace default via fd00:18::2
e2e_settle c1
e2e_wait_connected c1 20 || e2e_fail "client not connected after the link flap"
sleep 2
e2e_log "phase: link flap (network change)"
e2e_stop "$cpid" || e2e_fail "client did not stop"
in_ns c1 nft list table inet ptun_ptun0 >/dev/null 2>&1 || e2e_fail "always_on: the kill switch went away with the client"
sleep 2
e2e_log "phase: client stopped (always_on keeps the kill switch)"

kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null
# To the VPN server: DTLS on UDP 4433, or the TLS fallback on TCP 443 that the client takes when UDP
# goes unanswered for 5 s (the server is down or slow to start in two phases here).
to_server='dst host 198.18.0.2 and (udp dst port 4433 or tcp dst port 443)'
e2e_pcap "$E2E_DIR/underlay.pcap" "$E2E_DIR/server.txt" "$to_server"
server_pkts=$(wc -l <"$E2E_DIR/server.txt")
# Neighbour discovery (ICMPv6 133-136) and ARP are allowed link-local housekeeping, not leaks.
e2e_pcap "$E2E_DIR/underlay.pcap" "$E2E_DIR/leaks.txt" \
  "(ip or ip6) and not ($to_server) and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 136)"
leaks=$(wc -l <"$E2E_DIR/leaks.txt")
echo "leak test: $leaks packet(s) not to the VPN server on the underlay; $server_pkts datagrams to the server"
[ "$server_pkts" -gt 10 ] || e2e_fail "the capture saw no tunnel traffic: it does not work"
[ "$leaks" -eq 0 ] || { head -20 "$E2E_DIR/leaks.txt" >&2; e2e_fail "$leaks leaked packet(s)"; }
nft_drops=$(in_ns c1 nft list table inet ptun_ptun0 | grep -o 'counter packets [0-9]*' | awk '{s+=$3} END {print s+0}')
e2e_log "kill switch dropped $nft_drops packet(s) meanwhile"
[ "$nft_drops" -gt 0 ] || e2e_fail "the senders were not active (no drops counted)"

in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" >/dev/null || e2e_fail "ptun cleanup"
# (the link flap re-created the underlay's routes, so compare what ptun owns rather than all)
in_ns c1 nft list ruleset | has . && e2e_fail "nftables not empty after ptun cleanup"
in_ns c1 ip rule | has 7074 && e2e_fail "ip rules left"
in_ns c1 ip -6 rule | has 7074 && e2e_fail "ip -6 rules left"
in_ns c1 ip route show table all | has 'proto 112' && e2e_fail "IPv4 routes left"
in_ns c1 ip -6 route show table all | has 'proto 112' && e2e_fail "IPv6 routes left"
[ "$(cat "$E2E_NETNS_ETC/resolv.conf")" = "nameserver 198.18.0.2" ] || e2e_fail "resolv.conf not restored"
e2e_log "always_on kill switch removed by ptun cleanup; host restored"
exit 0
