#!/usr/bin/env bash
# The router's DNS back end (dns.backend = "dnsmasq"): a LAN host asks the router's dnsmasq, which
# forwards the pushed match domain into the tunnel and everything else to the router's upstream.
#   [lan] 192.168.50.2 == 192.168.50.1 [rtr: ptun client, dnsmasq, NAT] 198.18.0.1 == 198.18.0.2
#   [srv: ptun server, upstream resolver] 198.18.1.1 == 198.18.1.2 [web]     tunnel 10.99.0.0/24
# Upstream resolver 198.18.0.2 answers every name with 93.184.216.34 (an address outside the
# private and documentation ranges that --stop-dns-rebind rejects; only ever an answer here,
# nothing routes to it from the namespaces); the tunnel's resolver
# 10.99.0.1 answers web.corp.example with 198.18.1.2 and other corp.example names with 10.1.2.3.
# The router's dnsmasq runs with --stop-dns-rebind (OpenWrt's default), so the 10.1.2.3 answer
# also shows ptun's rebind-domain-ok line at work. Checked: the file's content, a restart per
# change, answers and an HTTP fetch from the LAN host through the tunnel; after SIGTERM and after
# SIGKILL + `ptun cleanup`, the file is gone and corp.example goes to the upstream again.
source "$(dirname "$0")/lib.sh"
E2E_SERVER_TUNNEL='dns_proxy = "off"'   # its own resolver listens on the tunnel address
e2e_init
e2e_need dnsmasq getent curl nft sysctl
e2e_ns lan; e2e_ns c1; e2e_ns srv; e2e_ns web
e2e_link lan c1 192.168.50.2/24 192.168.50.1/24
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link srv web 198.18.1.1/30 198.18.1.2/30
e2e_do lan ip route add default via 192.168.50.1
e2e_do c1 ip route add default via 198.18.0.2
e2e_do web ip route add default via 198.18.1.1
# The router: forwards its LAN and hides it behind its tunnel address (OpenWrt's masq zone).
e2e_do c1 sysctl -qw net.ipv4.ip_forward=1
e2e_do c1 nft -f - <<'NFT'
table ip rtr {
  chain post { type nat hook postrouting priority srcnat; oifname "ptun0" masquerade; }
}
NFT
e2e_netns_etc lan
printf 'nameserver 192.168.50.1\n' >"$E2E_NETNS_ETC/resolv.conf"
# The router's own resolv.conf: a per-namespace copy, which the dnsmasq back end must not touch.
e2e_netns_etc c1
printf 'nameserver 127.0.0.1\n' >"$E2E_NETNS_ETC/resolv.conf"
router_resolv="$E2E_NETNS_ETC/resolv.conf"
e2e_pki c1

e2e_bg srv dns-upstream dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=198.18.0.2 --except-interface=lo --address=/#/93.184.216.34 --pid-file= >/dev/null
e2e_listening srv udp 198.18.0.2:53
mkdir -p "$E2E_DIR/www" && echo behind >"$E2E_DIR/www/index.html"
e2e_bg web http python3 -m http.server 8080 --bind 198.18.1.2 --directory "$E2E_DIR/www" >/dev/null
e2e_listening web tcp 8080 30

# The router's dnsmasq, started and restarted the way /etc/init.d/dnsmasq restart does it.
rd="$E2E_DIR/router"
mkdir -p "$rd/dnsmasq.d"
conf="$rd/dnsmasq.d/ptun-ptun0.conf"
printf 'nameserver 198.18.0.2\n' >"$rd/resolv.upstream"
cat >"$rd/restart" <<SH
#!/bin/sh
# stop the running dnsmasq (bounded wait), start a new one: it reads its conf-dir at startup
echo restart >>"$rd/restarts"
if [ -s "$rd/dnsmasq.pid" ]; then
  pid=\$(cat "$rd/dnsmasq.pid")
  kill "\$pid" 2>/dev/null
  i=0
  while kill -0 "\$pid" 2>/dev/null && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
  kill -0 "\$pid" 2>/dev/null && { echo "dnsmasq \$pid did not stop" >&2; exit 1; }
fi
exec dnsmasq --conf-file=/dev/null --no-hosts --user=root --resolv-file="$rd/resolv.upstream" \
  --conf-dir="$rd/dnsmasq.d" --listen-address=192.168.50.1 --bind-interfaces --stop-dns-rebind \
  --pid-file="$rd/dnsmasq.pid" --log-queries --log-facility="$E2E_DIR/router-dnsmasq.log" \
  </dev/null >>"$E2E_DIR/router-restart.log" 2>&1
SH
chmod 755 "$rd/restart"
e2e_do c1 "$rd/restart"
restarts() { [ -f "$rd/restarts" ] && wc -l <"$rd/restarts" || echo 0; }
e2e_listening c1 udp 192.168.50.1:53

resolve() { in_ns lan getent ahostsv4 "$1" | awk 'NR==1 {print $1}'; }
# answers NAME WANT: the LAN host's answer for NAME becomes WANT (dnsmasq may be restarting)
answers() { [ "$(resolve "$1")" = "$2" ]; }
upstream_only() {
  e2e_wait_for 5 answers www.example.org 93.184.216.34 || e2e_fail "$1: public name: '$(resolve www.example.org)'"
  e2e_wait_for 5 answers host.corp.example 93.184.216.34 ||
    e2e_fail "$1: corp.example still forwarded into the tunnel: '$(resolve host.corp.example)'"
}
upstream_only "before the tunnel"

e2e_server_config 'included_routes = ["198.18.1.0/24"]
dns_servers = ["10.99.0.1"]
match_domains = ["corp.example"]'
sed -i 's/^ipv6_pool = .*/&\nmasquerade = true/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433 "
[dns]
backend = \"dnsmasq\"
dnsmasq_conf_dir = \"$rd/dnsmasq.d\"
dnsmasq_restart = [\"$rd/restart\"]"
e2e_start server server
spid=$E2E_PID
e2e_bg srv dns-tunnel dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=10.99.0.1 --except-interface=lo --address=/web.corp.example/198.18.1.2 \
  --address=/corp.example/10.1.2.3 --pid-file= >/dev/null
e2e_listening srv udp 10.99.0.1:53

# connected: run_connected NAME; leaves CPID
run_connected() {
  local before
  before=$(restarts)
  e2e_start client c1
  CPID=$E2E_PID
  [ -f "$conf" ] || e2e_fail "$1: $conf not written"
  grep -qx 'server=/corp.example/10.99.0.1' "$conf" || e2e_fail "$1: unexpected file: $(cat "$conf")"
  grep -qx 'rebind-domain-ok=/corp.example/' "$conf" || e2e_fail "$1: no rebind-domain-ok: $(cat "$conf")"
  grep -q 'no-resolv' "$conf" && e2e_fail "$1: split DNS must keep the upstream resolvers"
  [ "$(restarts)" -eq $((before + 1)) ] || e2e_fail "$1: dnsmasq restarted $(($(restarts) - before)) time(s), want 1"
  e2e_status c1 | grep -q '"dns_backend": "dnsmasq"' || e2e_fail "$1: status: $(e2e_status c1)"
  e2e_wait_for 5 answers host.corp.example 10.1.2.3 ||
    e2e_fail "$1: corp.example not answered through the tunnel: '$(resolve host.corp.example)'"
  answers web.corp.example 198.18.1.2 || e2e_fail "$1: web.corp.example: '$(resolve web.corp.example)'"
  answers www.example.org 93.184.216.34 || e2e_fail "$1: public name: '$(resolve www.example.org)'"
  local body
  body=$(in_ns lan curl -sS -m 5 http://web.corp.example:8080/) || e2e_fail "$1: LAN host: curl through the tunnel"
  [ "$body" = behind ] || e2e_fail "$1: body: $body"
  grep -q 'forwarded host.corp.example to 10.99.0.1' "$E2E_DIR/router-dnsmasq.log" ||
    e2e_fail "$1: the router's dnsmasq log does not show the forward into the tunnel"
}

run_connected "connected"
e2e_log "LAN host: corp.example through the tunnel (10.1.2.3, rebind protection on), public names upstream, web reached"
before=$(restarts)
e2e_stop "$CPID" || e2e_fail "client did not stop on SIGTERM"
[ -e "$conf" ] && e2e_fail "$conf left after SIGTERM"
[ "$(restarts)" -eq $((before + 1)) ] || e2e_fail "stop: dnsmasq not restarted once after removing the file"
upstream_only "after SIGTERM"
e2e_log "SIGTERM: file removed, dnsmasq restarted, corp.example back to the upstream"

run_connected "reconnected"
e2e_stop "$CPID" KILL || e2e_fail "client did not die on SIGKILL"
[ -f "$conf" ] || e2e_fail "the file should survive a SIGKILL (the journal has it)"
out=$(in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" 2>&1) || e2e_fail "ptun cleanup: $out"
[ -e "$conf" ] && e2e_fail "$conf left after ptun cleanup: $out"
upstream_only "after SIGKILL + ptun cleanup"
e2e_log "SIGKILL + ptun cleanup: file removed, dnsmasq restarted ($(restarts) restarts in all)"
[ "$(cat "$router_resolv")" = "nameserver 127.0.0.1" ] || e2e_fail "the router's resolv.conf was changed"
e2e_stop "$spid" || e2e_fail "server did not stop"
exit 0
