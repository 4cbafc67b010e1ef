#!/usr/bin/env bash
# The server in userspace forwarding mode: unprivileged (uid 65534), no TUN, no IP forwarding,
# no nft; lwIP terminates the client's TCP and sockets relay UDP and pings to a web host behind.
#
#   [c1] kernel TUN client 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server (forwarding = userspace)
#        198.18.1.1 fd00:19::1 ==veth== 198.18.1.2 fd00:19::2 [web] http :8000, dnsmasq, sink, echo
# Checks: ping relayed (and the server's own tunnel address answered), 20 MiB download v4 + v6
# and a 20 MB upload with matching sha256, a refused port is a fast reset, the server's own
# address refused for TCP, a DNS query over UDP, UDP echo, the per-client flow cap, UDP and TCP
# idle timeouts, and the counters in `ptun status`.
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need curl dnsmasq setpriv sysctl
here=$(dirname "$(realpath "$0")")
probe() { local n=$1; shift; in_ns "$n" timeout 30 python3 "$here/forward_probe.py" "$@"; }
e2e_ns srv; e2e_ns c1; e2e_ns web
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link srv web 198.18.1.1/30 198.18.1.2/30 fd00:19::1/64 fd00:19::2/64
e2e_pki c1
e2e_userspace_prepare
chown 65534:65534 "$E2E_DIR/pki/ptun-server.key"
# Unprivileged ping sockets for the server's group (the netns default allows none).
e2e_do srv sysctl -qw net.ipv4.ping_group_range="65534 65534"
e2e_do srv sysctl -qw net.ipv4.ip_forward=0
cat >"$E2E_DIR/server.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/us/server.sock"
state_dir = "$E2E_DIR/us/state-server"
log_level = "debug"
metrics_listen = "127.0.0.1:9474"

[tunnel]
mtu = 1400
ipv4_pool = "10.99.0.0/24"
ipv6_pool = "fd99::/64"
forwarding = "userspace"
userspace_max_flows_per_client = 40
userspace_udp_idle_secs = 5
userspace_tcp_idle_secs = 10

[push]
included_routes = ["198.18.1.0/30", "fd00:19::/64", "198.18.9.0/24"]
dns_servers = ["198.18.1.2"]
keepalive_secs = 2
dead_peer_secs = 6
TOML
e2e_client_config c1 198.18.0.2:4433
e2e_netns_etc c1
echo "nameserver 192.0.2.1" >"$E2E_NETNS_ETC/resolv.conf"
e2e_start server server "${E2E_NOBODY[@]}"
spid=$E2E_PID
sstatus() { e2e_status server; }
ucount() { sstatus | python3 -c 'import json,sys; print(json.load(sys.stdin)["userspace"][sys.argv[1]])' "$1"; }
sstatus | grep -q '"forwarding": "userspace"' || e2e_fail "server is not in userspace forwarding: $(sstatus)"
[ "$(stat -c %u /proc/$spid)" = 65534 ] || e2e_fail "server is not running as uid 65534"
e2e_start client c1
cpid=$E2E_PID
in_ns srv ip -o link | grep -q ptun && e2e_fail "a TUN exists on the server"
[ "$(in_ns srv sysctl -n net.ipv4.ip_forward)" = 0 ] || e2e_fail "the server turned on IP forwarding"
[ -z "$(in_ns srv nft list ruleset 2>/dev/null)" ] || e2e_fail "the server installed nft rules"
e2e_log "unprivileged server up: no TUN, ip_forward 0, no nft; kernel-TUN client connected"

mkdir -p "$E2E_DIR/www"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$E2E_DIR/www/blob"
want=$(sha256sum <"$E2E_DIR/www/blob" | cut -d' ' -f1)
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns web)" python3 -m http.server --bind :: 8000) >"$E2E_DIR/http.log" 2>&1 &
E2E_PIDS+=($!)
e2e_bg web dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=198.18.1.2 --bind-interfaces \
  --port=53 --address=/web.test/198.18.1.2 --user=root >/dev/null
e2e_listening web tcp 8000
e2e_listening web udp 198.18.1.2:53

in_ns c1 ping -c 3 -i 0.2 -W 2 198.18.1.2 >/dev/null || e2e_fail "ping 198.18.1.2 through the forwarder"
in_ns c1 ping -6 -c 3 -i 0.2 -W 2 fd00:19::2 >/dev/null || e2e_fail "ping6 fd00:19::2 through the forwarder"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "ping the server's tunnel address"
[ "$(ucount echo_relayed)" -ge 6 ] || e2e_fail "echo_relayed $(ucount echo_relayed) < 6"
[ "$(ucount echo_local)" -ge 2 ] || e2e_fail "echo_local $(ucount echo_local) < 2"
e2e_log "ping relayed v4 + v6 through ping sockets; own address answered"

for url in http://198.18.1.2:8000/blob "http://[fd00:19::2]:8000/blob"; do
  t0=$(date +%s.%N)
  got=$(in_ns c1 curl -sS --max-time 60 "$url" | sha256sum | cut -d' ' -f1)
  t1=$(date +%s.%N)
  [ "$got" = "$want" ] || e2e_fail "download $url: sha256 mismatch"
  e2e_log "20 MiB from $url: sha256 ok, $(python3 -c "print(f'{20*8*1.048576/($t1-$t0):.0f}')") Mbit/s"
done

head -c 20000000 /dev/urandom >"$E2E_DIR/blob2"
want2=$(sha256sum <"$E2E_DIR/blob2" | cut -d' ' -f1)
in_ns web timeout 60 python3 "$here/netcheck.py" tcp-sink 198.18.1.2 5001 "$E2E_DIR/got2" &
sink=$!
e2e_listening web tcp 5001
in_ns c1 timeout 60 python3 "$here/netcheck.py" tcp-send 198.18.1.2 5001 "$E2E_DIR/blob2" || e2e_fail "upload"
wait $sink || e2e_fail "upload sink"
[ "$(sha256sum <"$E2E_DIR/got2" | cut -d' ' -f1)" = "$want2" ] || e2e_fail "upload sha256 mismatch"
e2e_log "20 MB upload: sha256 ok"

read -r r t < <(probe c1 refused 198.18.1.2 5999)
[ "$r" = refused ] || e2e_fail "closed port: $r, want refused"
python3 -c "import sys; sys.exit(0 if $t < 2 else 1)" || e2e_fail "refusal took $t s"
read -r r t < <(probe c1 refused 10.99.0.1 22)
[ "$r" = refused ] || e2e_fail "server's own address: $r, want refused"
[ "$(ucount tcp_refused_upstream)" -ge 1 ] || e2e_fail "tcp_refused_upstream not counted"
[ "$(ucount refused_destination)" -ge 1 ] || e2e_fail "refused_destination not counted"
e2e_log "closed port refused with a reset in ${t}s; the server's own address refused"
# A destination the server has no route to: ICMP host unreachable, as from a router.
if rt=$(in_ns srv ip route get 198.18.9.9 2>&1); then e2e_fail "the server's namespace routes 198.18.9.9: $rt"; fi
read -r r t < <(probe c1 refused 198.18.9.9 80)
# CI once saw "connected" here (stop 23; not reproduced in 18 runs since): say what the server saw.
[ "$r" = unreachable ] || e2e_fail "destination without a route: $r in ${t}s, want unreachable;" \
  "server: $(sstatus | tr -d '\n '); srv routes: $(in_ns srv ip route | tr '\n' ';');" \
  "srv tcp: $(in_ns srv ss -tan | tr '\n' ';')"
[ "$(ucount tcp_unreachable)" -ge 1 ] || e2e_fail "tcp_unreachable not counted"
e2e_log "destination without a route from the server: 'no route to host' at the client in ${t}s"
# The server host itself (issue 19): a relayed flow would start on the host, where INPUT rules
# never see it. A service bound to the server's underlay address on the web side (198.18.1.1,
# inside a pushed route) is refused, as is one on an address added while the server runs
# (198.18.9.1 on lo, inside the pushed 198.18.9.0/24); the neighbour 198.18.1.2 stays reachable.
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 198.18.1.1 8001) >"$E2E_DIR/http-host.log" 2>&1 &
E2E_PIDS+=($!)
e2e_listening srv tcp 198.18.1.1:8001
in_ns srv curl -sS --max-time 5 -o /dev/null http://198.18.1.1:8001/ || e2e_fail "the host's own service is not up"
read -r r t < <(probe c1 refused 198.18.1.1 8001)
[ "$r" = refused ] || e2e_fail "a service on the server's underlay address 198.18.1.1: $r, want refused"
[ "$(ucount refused_host)" -ge 1 ] || e2e_fail "refused_host not counted"
read -r r t < <(probe c1 refused 198.18.1.2 8000)
[ "$r" = connected ] || e2e_fail "the neighbour 198.18.1.2:8000: $r, want connected"
hosts0=$(ucount host_addresses)
e2e_do srv ip addr add 198.18.9.1/32 dev lo
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 198.18.9.1 8001) >"$E2E_DIR/http-host2.log" 2>&1 &
E2E_PIDS+=($!)
e2e_listening srv tcp 198.18.9.1:8001
more_hosts() { [ "$(ucount host_addresses)" -gt "$hosts0" ]; }
e2e_wait_for 5 more_hosts || e2e_fail "the server did not learn the new address: $(ucount host_addresses) addresses"
read -r r t < <(probe c1 refused 198.18.9.1 8001)
[ "$r" = refused ] || e2e_fail "a service on an address added at run time (198.18.9.1): $r, want refused"
e2e_log "the server host's services refused through 198.18.1.1 and the new 198.18.9.1 ($(ucount host_addresses) host addresses, refused_host $(ucount refused_host)); 198.18.1.2 reachable"
# A destination that resets an established connection: the client hears a reset, not a FIN.
probe web rst-server 198.18.1.2 5004 &
e2e_listening web tcp 5004
r=$(probe c1 tcp-idle 198.18.1.2 5004 1.5)
[ "$r" = reset ] || e2e_fail "destination reset: client saw $r, want reset"
e2e_log "a reset from the destination reaches the client as a reset"

[ "$(probe c1 dns 198.18.1.2 web.test)" = 198.18.1.2 ] || e2e_fail "DNS over UDP through the forwarder"
# The echo serves this check and the cap test below; started here, as its lifetime is bounded
# (it ends after 30 s without a datagram).
in_ns web timeout 120 python3 "$here/netcheck.py" udp-echo 198.18.1.2 7 1000 &
e2e_listening web udp 198.18.1.2:7
got=$(in_ns c1 timeout 60 python3 "$here/netcheck.py" udp-check 198.18.1.2 7 100)
[ "$got" -ge 98 ] || e2e_fail "UDP echo: $got/100"
e2e_log "DNS answered over UDP; UDP echo $got/100"
r=$(probe c1 udp-closed 198.18.1.2 5998)
[ "$r" = refused ] || e2e_fail "UDP to a closed port: $r, want refused (ICMP port unreachable relayed)"
[ "$(ucount udp_port_unreachable)" -ge 1 ] || e2e_fail "udp_port_unreachable not counted"
e2e_log "UDP to a closed port: the client's socket sees ECONNREFUSED (ICMP relayed)"

# Per-client cap (40 flows): 60 sockets at once, at most 40 answered, refusals counted.
# First the earlier UDP flows expire (idle 5 s, swept every second: gone within 10 s).
udp_flows_gone() { [ "$(ucount udp_flows)" = 0 ]; }
e2e_wait_for 10 udp_flows_gone || e2e_fail "UDP flows did not expire: $(ucount udp_flows)"
[ "$(ucount udp_idle_closed)" -ge 2 ] || e2e_fail "udp_idle_closed not counted"
n=$(probe c1 udp-flows 198.18.1.2 7 60)
[ "$n" -le 40 ] && [ "$n" -ge 30 ] || e2e_fail "per-client cap: $n of 60 flows answered, want 30..40"
[ "$(ucount refused_client_limit)" -ge 20 ] || e2e_fail "refused_client_limit $(ucount refused_client_limit) < 20"
e2e_log "per-client cap: $n of 60 UDP flows answered, $(ucount refused_client_limit) refused; idle UDP flows expired"

# TCP idle timeout (10 s): the forwarder resets the idle connection. First the UDP flows of the
# cap test expire (they would hold the client at its cap, and the connection would be refused).
e2e_wait_for 10 udp_flows_gone || e2e_fail "the cap test's UDP flows did not expire: $(ucount udp_flows)"
in_ns web timeout 40 python3 "$here/netcheck.py" tcp-sink 198.18.1.2 5003 /dev/null 2>/dev/null &   # it sees the reset too
e2e_listening web tcp 5003
r=$(probe c1 tcp-idle 198.18.1.2 5003 13)
[ "$r" = reset ] || e2e_fail "idle TCP connection: $r, want reset"
[ "$(ucount tcp_idle_closed)" -ge 1 ] || e2e_fail "tcp_idle_closed not counted"
e2e_log "idle TCP connection reset after the timeout"

kill -0 "$spid" 2>/dev/null || e2e_fail "server died"
m=$(in_ns srv curl -sS --max-time 5 http://127.0.0.1:9474/metrics) || e2e_fail "metrics"
echo "$m" | grep -q '^ptun_server_userspace_events_total{event="tcp_opened"} [1-9]' || e2e_fail "no userspace metrics: $m"
echo "$m" | grep -q '^ptun_server_userspace_flows{proto="tcp"} 0' || e2e_fail "no userspace flow gauge"
sstatus | python3 -c 'import json,sys; print("forwarder:", json.load(sys.stdin)["userspace"])' >&2
e2e_log "server RSS $(grep VmHWM /proc/$spid/status | tr -s ' ')"
# A clean stop with flows open: every relay is cancelled and joined, the process exits at once.
in_ns web timeout 20 python3 "$here/netcheck.py" tcp-sink 198.18.1.2 5005 /dev/null 2>/dev/null &
e2e_listening web tcp 5005   # the sink listens before the probe connects
probe c1 tcp-idle 198.18.1.2 5005 8 >/dev/null 2>&1 &
tcp_flow_open() { [ "$(ucount tcp_flows)" -ge 1 ]; }
e2e_wait_for 5 tcp_flow_open || e2e_fail "no open flow before the stop"
e2e_stop "$spid" || e2e_fail "server still running 5 s after SIGTERM"
grep -q "server: shutting down" "$E2E_DIR/server.log" || e2e_fail "no clean shutdown in the log"
e2e_log "SIGTERM with a flow open: the server exited within 3 s"
echo PASS
