#!/usr/bin/env bash
# Userspace mode, UDP port forwards ([[forward]] proto = "udp"), the client unprivileged (nobody,
# no capabilities, no TUN):
#
#   [c1] 127.0.0.1:7001/udp --> ptun client (lwIP) ==tunnel==> [srv] 10.99.0.1:7001 UDP echo
#        127.0.0.1:7053/udp --> ...                         ==> [srv] 10.99.0.1:53   dnsmasq
#        127.0.0.1:7002/udp --> forward to 198.18.0.2:7002 (outside the pushed routes: dropped)
#        198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server (TUN)
# Checks: 2 x 200 datagrams of 1..1200 bytes from two local source ports, every echo byte for byte
# and back to the socket that sent it (the echo saw two distinct tunnel-side peers); a DNS query
# through a UDP forward; a forward to a destination outside the pushed routes carries nothing.
source "$(dirname "$0")/lib.sh"
E2E_SERVER_TUNNEL='dns_proxy = "off"'   # its own resolver listens on the tunnel address
e2e_init
e2e_need dnsmasq setpriv
here=$(dirname "$(realpath "$0")")
probe="$here/userspace_probe.py"
e2e_ns srv; e2e_ns c1
e2e_netns_etc c1
echo "nameserver 192.0.2.53" >"$E2E_NETNS_ETC/resolv.conf"   # the host's resolver is never used
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]
dns_servers = ["10.99.0.1"]'
e2e_userspace_client_config c1 198.18.0.2:4433 '
[[forward]]
listen = "127.0.0.1:7001"
to = "10.99.0.1:7001"
proto = "udp"

[[forward]]
listen = "127.0.0.1:7053"
to = "10.99.0.1:53"
proto = "udp"

[[forward]]
listen = "127.0.0.1:7002"
to = "198.18.0.2:7002"
proto = "udp"

[[forward]]
listen = "127.0.0.1:7001"
to = "10.99.0.1:5001"'
"$E2E_PTUN" check-config "$E2E_DIR/c1.toml" >"$E2E_DIR/check.out" 2>&1 || { cat "$E2E_DIR/check.out" >&2; e2e_fail "check-config"; }
e2e_up
e2e_start client c1 "${E2E_NOBODY[@]}"
cpid=$E2E_PID
[ "$(cat /proc/$cpid/comm 2>/dev/null)" = "ptun" ] || e2e_fail "pid $cpid is not the client"
[ "$(awk '/^Uid:/ {print $2}' /proc/$cpid/status)" = "65534" ] || e2e_fail "client not running as 65534"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "a TUN exists in userspace mode"
# The UDP and TCP forwards on the same port are separate sockets.
in_ns c1 ss -Hlnu 'sport = :7001' | has 127.0.0.1:7001 || e2e_fail "no UDP listener on 7001"
in_ns c1 ss -Hlnt 'sport = :7001' | has 127.0.0.1:7001 || e2e_fail "no TCP listener on 7001"
e2e_log "unprivileged userspace client connected; UDP forwards listening"

in_ns srv timeout 90 python3 "$probe" udp-echo-log 10.99.0.1 7001 3 "$E2E_DIR/echo.txt" &
echo_pid=$!
e2e_bg srv dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.99.0.1 --bind-interfaces \
  --port=53 --address=/web.test/10.99.0.1 --address=/other.test/10.99.0.77 --user=root >/dev/null
e2e_listening srv udp 10.99.0.1:7001
e2e_listening srv udp 10.99.0.1:53

t0=$(date +%s.%N)
out=$(in_ns c1 timeout 60 python3 "$probe" udp-pair 127.0.0.1 7001 200 2>&1) || e2e_fail "UDP forward: $out"
t1=$(date +%s.%N)
case "$out" in "ok 400 "*) ;; *) e2e_fail "UDP forward: $out" ;; esac
e2e_log "UDP forward: 2 source ports x 200 datagrams (1..1200 bytes) echoed byte for byte, own port each ($out, $(python3 -c "print(f'{$t1-$t0:.2f}')") s)"

# DNS through a UDP forward (two names: the answers must differ as dnsmasq says).
ans=$(in_ns c1 timeout 20 python3 "$probe" dns-udp 127.0.0.1 7053 web.test)
[ "$ans" = "10.99.0.1" ] || e2e_fail "DNS via UDP forward: web.test -> '$ans'"
ans2=$(in_ns c1 timeout 20 python3 "$probe" dns-udp 127.0.0.1 7053 other.test)
[ "$ans2" = "10.99.0.77" ] || e2e_fail "DNS via UDP forward: other.test -> '$ans2'"
e2e_log "DNS through a UDP forward: web.test -> $ans, other.test -> $ans2"

# Outside the pushed routes: nothing goes out (the echo there sees nothing), nothing comes back.
in_ns srv timeout 30 python3 "$probe" udp-echo-log 198.18.0.2 7002 1 "$E2E_DIR/echo-forbidden.txt" 5 &
forbidden_pid=$!
e2e_listening srv udp 198.18.0.2:7002
r=$(in_ns c1 timeout 20 python3 "$probe" udp-none 127.0.0.1 7002 3)
[ "$r" = "none" ] || e2e_fail "forward outside the pushed routes answered: $r"

wait $echo_pid || e2e_fail "echo service failed"
wait $forbidden_pid || e2e_fail "forbidden echo service failed"
read -r _ n _ peers <"$E2E_DIR/echo.txt"
[ "$peers" = "2" ] || e2e_fail "echo saw $peers tunnel-side peers, want 2 (one flow per local source port): $(cat "$E2E_DIR/echo.txt")"
[ "$n" -ge 400 ] || e2e_fail "echo saw only $n datagrams"
read -r _ fn _ _ <"$E2E_DIR/echo-forbidden.txt"
[ "$fn" = "0" ] || e2e_fail "$fn datagrams reached a destination outside the pushed routes"
e2e_log "echo saw $n datagrams from $peers peers; 0 datagrams outside the pushed routes"
kill -0 "$cpid" 2>/dev/null || e2e_fail "client died"
exit 0
