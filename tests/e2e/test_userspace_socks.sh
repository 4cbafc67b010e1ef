#!/usr/bin/env bash
# Userspace mode end to end: the client runs as nobody (uid 65534, no capabilities, no TUN) and
# carries applications' traffic through its SOCKS5 / HTTP CONNECT proxy and port forwards.
#
#   [c1] curl --socks5-hostname 127.0.0.1:1080 ---> ptun client (lwIP, unprivileged)
#        198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server (TUN) 10.99.0.1: http.server :8000,
#                                              dnsmasq (web.test -> 10.99.0.1), TCP sink :5001
# Checks: a 20 MiB download by name through SOCKS5 (sha256), the same through HTTP CONNECT, a
# forbidden destination (SOCKS reply 2), a TCP port forward carrying 20 MB up and down (sha256),
# a DNS query through SOCKS5 UDP ASSOCIATE, a garbage client closed, a stalled client timed out.
source "$(dirname "$0")/lib.sh"
E2E_SERVER_TUNNEL='dns_proxy = "off"'   # its own resolver listens on the tunnel address
e2e_init
e2e_need curl dnsmasq setpriv
here=$(dirname "$(realpath "$0")")
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]
dns_servers = ["10.99.0.1"]'
e2e_userspace_client_config c1 198.18.0.2:4433 '
[proxy]
socks5 = ["127.0.0.1:1080"]
http = ["127.0.0.1:3128"]
handshake_timeout_secs = 2

[[forward]]
listen = "127.0.0.1:6001"
to = "10.99.0.1:5001"

[[forward]]
listen = "127.0.0.1:6002"
to = "10.99.0.1:5002"'
e2e_up
e2e_start client c1 "${E2E_NOBODY[@]}"
cpid=$E2E_PID
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "a TUN exists in userspace mode"
e2e_log "unprivileged userspace client connected (no TUN)"

mkdir -p "$E2E_DIR/www"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$E2E_DIR/www/blob"
want=$(sha256sum <"$E2E_DIR/www/blob" | cut -d' ' -f1)
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 10.99.0.1 8000) >"$E2E_DIR/http.log" 2>&1 &
E2E_PIDS+=($!)
e2e_bg srv dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.99.0.1 --bind-interfaces \
  --port=53 --address=/web.test/10.99.0.1 --user=root >/dev/null
e2e_listening srv tcp 10.99.0.1:8000
e2e_listening srv udp 10.99.0.1:53

t0=$(date +%s.%N)
got=$(in_ns c1 curl -sS --max-time 60 --socks5-hostname 127.0.0.1:1080 http://web.test:8000/blob | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
[ "$got" = "$want" ] || e2e_fail "SOCKS5 download sha256 mismatch: $got != $want"
e2e_log "20 MiB via SOCKS5 (name resolved in the tunnel): sha256 ok, $(python3 -c "print(f'{20*8*1.048576/($t1-$t0):.0f}')") Mbit/s, client $(grep VmHWM /proc/$cpid/status | tr -s ' ')"

got=$(in_ns c1 curl -sS --max-time 60 --proxytunnel -x http://127.0.0.1:3128 http://10.99.0.1:8000/blob | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || e2e_fail "HTTP CONNECT download sha256 mismatch"
e2e_log "20 MiB via HTTP CONNECT: sha256 ok"

# Not in the pushed routes: SOCKS reply 2 (connection not allowed by ruleset).
rep=$(in_ns c1 python3 "$here/userspace_probe.py" connect 127.0.0.1 1080 198.18.0.2 4433)
[ "$rep" = "2" ] || e2e_fail "forbidden destination: reply $rep, want 2"
e2e_log "destination outside the pushed routes refused (reply 2)"

# Port forward, bulk both ways.
head -c 20000000 /dev/urandom >"$E2E_DIR/blob2"
want2=$(sha256sum <"$E2E_DIR/blob2" | cut -d' ' -f1)
rm -f "$E2E_DIR/got2"
in_ns srv timeout 60 python3 "$here/netcheck.py" tcp-sink 10.99.0.1 5001 "$E2E_DIR/got2" &
sink=$!
e2e_listening srv tcp 5001
in_ns c1 timeout 60 python3 "$here/netcheck.py" tcp-send 127.0.0.1 6001 "$E2E_DIR/blob2" || e2e_fail "forward: send"
wait $sink || e2e_fail "forward: sink"
[ "$(sha256sum <"$E2E_DIR/got2" | cut -d' ' -f1)" = "$want2" ] || e2e_fail "forward upload sha256 mismatch"
rm -f "$E2E_DIR/got3"
in_ns srv timeout 60 python3 "$here/userspace_probe.py" serve-file 10.99.0.1 5002 "$E2E_DIR/blob2" &
src=$!
e2e_listening srv tcp 5002
in_ns c1 timeout 60 python3 "$here/userspace_probe.py" recv 127.0.0.1 6002 "$E2E_DIR/got3" || e2e_fail "forward: recv"
wait $src || e2e_fail "forward: server send"
[ "$(sha256sum <"$E2E_DIR/got3" | cut -d' ' -f1)" = "$want2" ] || e2e_fail "forward download sha256 mismatch"
e2e_log "TCP port forward: 20 MB up and 20 MB down, sha256 ok"

# DNS over SOCKS5 UDP ASSOCIATE.
ans=$(in_ns c1 python3 "$here/userspace_probe.py" udp-dns 127.0.0.1 1080 10.99.0.1 web.test)
[ "$ans" = "10.99.0.1" ] || e2e_fail "UDP ASSOCIATE DNS answer: '$ans'"
e2e_log "DNS query through UDP ASSOCIATE: web.test -> $ans"

# Garbage is closed; a stalled handshake times out (handshake_timeout_secs = 2).
out=$(in_ns c1 python3 "$here/userspace_probe.py" garbage 127.0.0.1 1080)
[ "$out" = "closed" ] || e2e_fail "garbage client: $out"
out=$(in_ns c1 python3 "$here/userspace_probe.py" stall 127.0.0.1 1080)
[ "$out" = "closed" ] || e2e_fail "stalled client: $out"
e2e_log "garbage and stalled SOCKS clients closed"
exit 0
