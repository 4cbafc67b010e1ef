#!/usr/bin/env bash
# The server answers the DNS it pushes (tunnel.dns_proxy = "auto": [push] dns_servers is the
# server's own tunnel address): a full-tunnel client resolves through the server's proxy, which
# forwards to the server's own resolver (a dnsmasq on 127.0.0.53, named by the server's
# resolv.conf, like systemd-resolved's stub), over UDP and over TCP (a TXT answer too large for
# UDP comes back truncated, then whole over TCP). A query to the same address from outside the
# tunnel gets no answer. A reload re-reads resolv.conf: a dead first upstream is failed over to the
# second one.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] 198.18.0.6 ==veth== 198.18.0.5 [out]
#   tunnel 10.99.0.0/24, server 10.99.0.1; resolvers in srv on 127.0.0.53 / 127.0.0.54
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need dnsmasq getent
[ -e /run/systemd/resolve/io.systemd.Resolve ] && e2e_skip "systemd-resolved runs here: this test covers the resolv.conf back end"
here=$(dirname "$0")
e2e_ns srv; e2e_ns c1; e2e_ns out
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link out srv 198.18.0.5/30 198.18.0.6/30
e2e_do c1 ip route add default via 198.18.0.2
e2e_do out ip route add default via 198.18.0.6
e2e_do srv sysctl -qw net.ipv4.ip_forward=1
e2e_netns_etc c1
printf 'nameserver 198.18.0.2\n' >"$E2E_NETNS_ETC/resolv.conf"
e2e_pki c1

# The server's own resolvers, on loopback like systemd-resolved's stub: the first answers the
# test names, the second (used after the reload) answers them differently.
big=$(printf 'x%.0s' $(seq 1 200))
e2e_bg srv dns-a dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.53 --address=/www.example.org/192.0.2.77 --address=/#/192.0.2.1 \
  --txt-record=big.example.org,"$big","$big","$big" --pid-file= >/dev/null
e2e_bg srv dns-b dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.54 --address=/www.example.org/192.0.2.88 --pid-file= >/dev/null
e2e_listening srv udp 127.0.0.53:53
e2e_listening srv udp 127.0.0.54:53
printf '# the server host resolver\nnameserver 127.0.0.53\n' >"$E2E_DIR/resolv.conf"

E2E_SERVER_TUNNEL="dns_proxy_resolv_conf = \"$E2E_DIR/resolv.conf\""
e2e_server_config 'included_routes = ["0.0.0.0/0"]
excluded_routes = ["198.18.0.0/15"]
dns_servers = ["10.99.0.1"]'
out=$("$E2E_PTUN" check-config "$E2E_DIR/server.toml" 2>&1) || e2e_fail "check-config: $out"
echo "$out" | has -x 'dns_proxy = "auto"' || e2e_fail "dns_proxy is not auto by default: $out"
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
e2e_listening srv udp 10.99.0.1:53
e2e_listening srv tcp 10.99.0.1:53
has -F 'dns proxy upstreams: 127.0.0.53' "$E2E_DIR/server.log" || e2e_fail "upstream not taken from resolv.conf"
has -x 'nameserver 10.99.0.1' "$E2E_NETNS_ETC/resolv.conf" || e2e_fail "client did not install the pushed DNS"

# 1. The system resolver of the client (glibc, over UDP) resolves through the proxy.
got=$(in_ns c1 getent ahostsv4 www.example.org | awk 'NR==1 {print $1}')
[ "$got" = 192.0.2.77 ] || e2e_fail "getent www.example.org through the proxy: '$got'"
e2e_log "getent through the server's proxy: www.example.org = $got"

# 2. UDP and TCP explicitly, timed; the big TXT answer is truncated over UDP, whole over TCP.
for i in 1 2 3 4 5; do
  r=$(in_ns c1 python3 "$here/dns_probe.py" udp 10.99.0.1 www.example.org A) || e2e_fail "udp probe: $r"
  [[ "$r" == *"192.0.2.77"* ]] || e2e_fail "udp probe: $r"
  e2e_log "udp: $r"
done
for i in 1 2 3; do
  r=$(in_ns c1 python3 "$here/dns_probe.py" tcp 10.99.0.1 www.example.org A) || e2e_fail "tcp probe: $r"
  [[ "$r" == *"192.0.2.77"* ]] || e2e_fail "tcp probe: $r"
  e2e_log "tcp: $r"
done
r=$(in_ns c1 python3 "$here/dns_probe.py" udp 10.99.0.1 big.example.org TXT) || e2e_fail "udp TXT: $r"
[[ "$r" == *"tc=1"* ]] || e2e_fail "the big TXT answer over UDP is not truncated: $r"
r=$(in_ns c1 python3 "$here/dns_probe.py" tcp 10.99.0.1 big.example.org TXT) || e2e_fail "tcp TXT: $r"
[[ "$r" == *"tc=0"*"txt=600"* ]] || e2e_fail "the big TXT answer over TCP is not whole: $r"
e2e_log "big TXT: truncated over UDP, whole over TCP: $r"

# 3. Not an open resolver: the same address from outside the tunnel (routed to the server over
# its underlay) gets nothing, over UDP or TCP; the proxy never even sees it (bound to the TUN).
e2e_do out ip route add 10.99.0.0/24 via 198.18.0.6
before=$(e2e_status server | python3 -c 'import json,sys; print(json.load(sys.stdin)["dns_proxy"]["queries_udp"])')
r=$(in_ns out python3 "$here/dns_probe.py" udp 10.99.0.1 www.example.org A 2) && e2e_fail "answered a query from outside the tunnel (udp): $r"
r=$(in_ns out python3 "$here/dns_probe.py" tcp 10.99.0.1 www.example.org A 2) && e2e_fail "answered a query from outside the tunnel (tcp): $r"
after=$(e2e_status server | python3 -c 'import json,sys; print(json.load(sys.stdin)["dns_proxy"]["queries_udp"])')
[ "$before" = "$after" ] || e2e_fail "a query from outside the tunnel reached the proxy ($before -> $after)"
# ...while the underlay itself works (the probe could have been answered).
in_ns out ping -c1 -W2 198.18.0.6 >/dev/null || e2e_fail "out cannot reach the server at all"
e2e_log "queries from outside the tunnel: no answer over UDP or TCP"

# 4. Reload re-reads resolv.conf: a dead first upstream, then the second resolver.
printf 'nameserver 127.0.0.99\nnameserver 127.0.0.54\n' >"$E2E_DIR/resolv.conf"
"$E2E_PTUN" reload -s "$(e2e_sock server)" >/dev/null || e2e_fail "reload"
has -F 'reload: dns proxy upstreams: 127.0.0.99, 127.0.0.54' "$E2E_DIR/server.log" || e2e_fail "reload did not re-read resolv.conf"
for i in 1 2 3 4; do
  r=$(in_ns c1 python3 "$here/dns_probe.py" udp 10.99.0.1 www.example.org A 5) || e2e_fail "after reload: $r"
  [[ "$r" == *"192.0.2.88"* ]] || e2e_fail "after reload: $r"
  e2e_log "after reload (dead upstream first): $r"
done
st=$(e2e_status server)
echo "$st" | python3 -c 'import json,sys
d = json.load(sys.stdin)["dns_proxy"]
print("dns_proxy status:", json.dumps(d))
assert d["answers"] >= 12 and d["queries_tcp"] >= 4 and d["retries"] >= 1, d
assert d["dropped_not_pool"] == 0 and d["answer_mismatch"] == 0, d' >&2 || e2e_fail "dns_proxy counters: $st"
exit 0
