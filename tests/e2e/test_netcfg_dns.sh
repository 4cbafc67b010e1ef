#!/usr/bin/env bash
# DNS settings with real resolvers (dnsmasq) in the server namespace:
#   original resolver 198.18.0.2 (underlay) answers every name with 198.51.100.1;
#   the tunnel's resolver 10.99.0.1 answers *.corp.example with 10.1.2.3 and others with 10.66.66.66.
# Full tunnel (no match domains): every name is answered by the tunnel's resolver and no DNS
# packet leaves on the underlay. Split DNS (match_domains = ["corp.example"], no resolved): ptun's
# forwarder sends corp.example names into the tunnel and the rest to the original resolver.
# resolv.conf identical before connect and after SIGTERM in both cases.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]   tunnel 10.99.0.0/24
source "$(dirname "$0")/lib.sh"
E2E_SERVER_TUNNEL='dns_proxy = "off"'   # its own resolver listens on the tunnel address
e2e_init
e2e_need dnsmasq tcpdump getent
[ -e /run/systemd/resolve/io.systemd.Resolve ] && e2e_skip "systemd-resolved runs here: this test covers the resolv.conf back end"
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
underlay="e$$l1a"
e2e_do c1 ip route add default via 198.18.0.2
e2e_netns_etc c1; etc=$E2E_NETNS_ETC
printf '# the host resolver\nnameserver 198.18.0.2\nsearch home.arpa\noptions edns0\n' >"$etc/resolv.conf"
cp "$etc/resolv.conf" "$E2E_DIR/resolv.before"
e2e_pki c1

e2e_bg srv dns-original dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=198.18.0.2 --except-interface=lo --address=/#/198.51.100.1 --pid-file= >/dev/null

resolve() { in_ns c1 getent ahostsv4 "$1" | awk 'NR==1 {print $1}'; }

original_answers() { [ "$(resolve www.example.org)" = 198.51.100.1 ]; }
e2e_wait_for 5 original_answers || e2e_fail "the original resolver does not answer"

# run_case NAME PUSH_TOML CHECK_FUNCTION
run_case() {
  e2e_server_config "$2"
  local spid cpid tpid
  E2E_LOG="server-$1" e2e_start server server
  spid=$E2E_PID
  # the tunnel's resolver listens on the server's tunnel address
  e2e_bg srv "dns-tunnel-$1" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=10.99.0.1 --except-interface=lo --address=/corp.example/10.1.2.3 --address=/#/10.66.66.66 \
    --pid-file= >/dev/null
  E2E_DNSMASQ_TUNNEL=${E2E_PIDS[-1]}
  e2e_listening srv udp 10.99.0.1:53
  e2e_client_config c1 198.18.0.2:4433
  E2E_LOG="client-$1" e2e_start client c1
  cpid=$E2E_PID
  ip netns exec "$(ns c1)" tcpdump -i "$underlay" -Q out -n -U -w "$E2E_DIR/dns-$1.pcap" >"$E2E_DIR/tcpdump-$1.log" 2>&1 &
  tpid=$!; E2E_PIDS+=("$tpid")
  e2e_wait_for 5 has listening "$E2E_DIR/tcpdump-$1.log" || e2e_fail "tcpdump did not start"
  "$3" || { cat "$etc/resolv.conf" >&2; e2e_status c1 >&2; e2e_fail "$1: unexpected answers"; }
  sleep 1   # let tcpdump read what the kernel already queued for it
  kill -INT "$tpid"; wait "$tpid" 2>/dev/null
  e2e_pcap "$E2E_DIR/dns-$1.pcap" "$E2E_DIR/dns-$1.txt" 'udp port 53 or tcp port 53'
  e2e_pcap "$E2E_DIR/dns-$1.pcap" "$E2E_DIR/all-$1.txt"
  CAPTURED_DNS=$(wc -l <"$E2E_DIR/dns-$1.txt")
  CAPTURED_ALL=$(wc -l <"$E2E_DIR/all-$1.txt")
  e2e_stop "$cpid" || e2e_fail "$1: client did not stop"
  cmp "$E2E_DIR/resolv.before" "$etc/resolv.conf" || e2e_fail "$1: resolv.conf not restored byte for byte"
  e2e_stop "$spid" || e2e_fail "$1: server did not stop"
  e2e_stop "$E2E_DNSMASQ_TUNNEL" || e2e_fail "$1: dnsmasq did not stop"
}

check_full() {
  grep -q '^nameserver 10.99.0.1$' "$etc/resolv.conf" || return 1
  [ "$(resolve www.example.org)" = 10.66.66.66 ] || return 1
  [ "$(resolve host.corp.example)" = 10.1.2.3 ]
}
run_case full 'included_routes = ["0.0.0.0/0"]
dns_servers = ["10.99.0.1"]
search_domains = ["corp.example"]' check_full
echo "dns full tunnel: $CAPTURED_DNS DNS packet(s) on the underlay outside the tunnel ($CAPTURED_ALL packets captured)"
[ "$CAPTURED_DNS" -eq 0 ] || e2e_fail "full tunnel: DNS queries left outside the tunnel"
[ "$CAPTURED_ALL" -gt 0 ] || e2e_fail "full tunnel: the capture saw nothing (tunnel traffic expected)"
e2e_log "full tunnel: names answered by the tunnel's resolver; resolv.conf restored byte for byte"

check_split() {
  grep -q '^nameserver 127.80.116.53$' "$etc/resolv.conf" || return 1
  [ "$(resolve host.corp.example)" = 10.1.2.3 ] || return 1
  [ "$(resolve deep.sub.CORP.example)" = 10.1.2.3 ] || return 1
  [ "$(resolve www.example.org)" = 198.51.100.1 ] || return 1
  [ "$(resolve evilcorp.example)" = 198.51.100.1 ]
}
run_case split 'included_routes = ["10.99.0.0/24"]
dns_servers = ["10.99.0.1"]
match_domains = ["corp.example"]' check_split
echo "dns split: $CAPTURED_DNS DNS packet(s) to the original resolver on the underlay"
[ "$CAPTURED_DNS" -gt 0 ] || e2e_fail "split: non-matching names should have gone to the original resolver"
# Every upstream query leaves from a socket of its own (a fresh random source port, issue 19).
queries=$(grep -c '> 198.18.0.2.53:' "$E2E_DIR/dns-split.txt" || true)
ports=$(grep '> 198.18.0.2.53:' "$E2E_DIR/dns-split.txt" | awk '{print $3}' | sort -u | wc -l)
echo "dns split: $queries queries to the original resolver from $ports distinct source ports"
[ "$queries" -ge 2 ] || e2e_fail "split: expected several queries to the original resolver: $(cat "$E2E_DIR/dns-split.txt")"
[ "$ports" -eq "$queries" ] || e2e_fail "split: queries share a source port: $(cat "$E2E_DIR/dns-split.txt")"
e2e_log "split DNS: corp.example via the tunnel, the rest via the original resolver; resolv.conf restored"
exit 0
