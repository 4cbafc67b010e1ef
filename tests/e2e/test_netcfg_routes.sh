#!/usr/bin/env bash
# The client's routes and policy rules after connect, for full tunnel (dual stack), split include,
# split exclude, v4-only with include_all_networks, and a route that covers the server; bad
# settings refused with the reason in `ptun status`; the host restored exactly after SIGTERM and
# after SIGKILL + `ptun cleanup`.
#   [c1] 198.18.0.1 fd00:18::1 ==veth== 198.18.0.2 fd00:18::2 [srv]   tunnel 10.99.0.0/24 fd99::/64
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30 fd00:18::1/64 fd00:18::2/64
e2e_do c1 ip route add default via 198.18.0.2
e2e_do c1 ip -6 route add default via fd00:18::2
e2e_settle c1
e2e_netns_etc c1; etc=$E2E_NETNS_ETC
printf '# the host resolver\nnameserver 198.18.0.2\noptions edns0\n' >"$etc/resolv.conf"
e2e_pki c1

server_pid=""
start_server() {   # PUSH_TOML [v4only]
  e2e_server_config "$1"
  [ "${2:-}" = v4only ] && sed -i '/ipv6_pool/d; s/, "\[::\]:4433"//' "$E2E_DIR/server.toml"
  e2e_up
  server_pid=$E2E_SERVER_PID
}

# run_case NAME PUSH_TOML CLIENT_TOML CHECK_FUNCTION [v4only]
run_case() {
  local name=$1
  start_server "$2" "${5:-}"
  e2e_client_config c1 198.18.0.2:4433 "$3"
  e2e_host_snapshot c1 >"$E2E_DIR/snap.before"
  E2E_LOG="client-$name" e2e_start client c1
  local cpid=$E2E_PID
  if ! "$4"; then
    { in_ns c1 ip route show table all; in_ns c1 ip -6 route show table all; in_ns c1 ip rule; in_ns c1 ip -6 rule; } >&2
    e2e_fail "$name: unexpected routes/rules ($4)"
  fi
  e2e_stop "$cpid" || e2e_fail "$name: client did not stop on SIGTERM"
  e2e_same_snapshot "after SIGTERM ($name)" "$E2E_DIR/snap.before" c1
  e2e_stop "$server_pid" || e2e_fail "$name: server did not stop"
  e2e_log "$name: routes and rules as expected; restored after SIGTERM"
}

r4() { in_ns c1 ip route show table "$1"; }
r6() { in_ns c1 ip -6 route show table "$1"; }

check_full() {
  r4 7074 | has '^default dev ptun0' && r6 7074 | has '^default dev ptun0' || return 1
  in_ns c1 ip rule | has '5200:.*lookup main suppress_prefixlength 0' || return 1
  in_ns c1 ip rule | has '5201:.*not from all fwmark 0x7074 lookup 7074' || return 1
  in_ns c1 ip -6 rule | has '5201:.*not from all fwmark 0x7074 lookup 7074' || return 1
  # traffic really goes through the tunnel; the server stays reachable for ptun's own datagrams
  in_ns c1 ip route get 192.0.2.1 | has 'dev ptun0' || return 1
  in_ns c1 ip route get 198.18.0.2 mark 0x7074 | has 'dev e' || return 1
  in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null
}
run_case full 'included_routes = ["0.0.0.0/0", "::/0"]' '' check_full

check_split_include() {
  r4 main | has '^10.200.0.0/16 dev ptun0' && r6 main | has '^fd77::/64 dev ptun0' || return 1
  ! in_ns c1 ip rule | has 7074 || return 1
  in_ns c1 ip route get 192.0.2.1 | has 'via 198.18.0.2'
}
run_case split-include 'included_routes = ["10.200.0.0/16", "fd77::/64"]' '' check_split_include

check_split_exclude() {
  r4 7074 | has '^throw 203.0.113.0/24' || return 1
  in_ns c1 ip route get 203.0.113.5 | has 'via 198.18.0.2' || return 1
  in_ns c1 ip route get 203.0.114.5 | has 'dev ptun0'
}
run_case split-exclude 'included_routes = ["0.0.0.0/0"]
excluded_routes = ["203.0.113.0/24"]' '' check_split_exclude

check_v4only() {
  r4 7074 | has '^default dev ptun0' || return 1
  r6 7074 | has '^unreachable default' || return 1   # no IPv6 leak when the tunnel is v4-only
  ! in_ns c1 ping -6 -c 1 -W 1 fd00:18::2 >/dev/null 2>&1 || return 1
  in_ns c1 nft list table inet ptun_ptun0 | has 'policy drop'
}
run_case v4only 'included_routes = ["0.0.0.0/0"]' '[protocol]
include_all_networks = true' check_v4only v4only

check_server_route() {
  r4 main | has '^198.18.0.0/15 dev ptun0' || return 1
  r4 main | has '^198.18.0.2 dev e.* proto 112' || return 1   # the server's own host route
  in_ns c1 ip route get 198.18.0.2 | has 'dev e'
}
run_case server-route 'included_routes = ["198.18.0.0/15"]' '' check_server_route

check_enforce() {
  in_ns c1 nft list table inet ptun_ptun0 | has 'ip daddr 10.200.0.0/16 oifname != "ptun0" counter packets 0' || return 1
  # an app bound to the underlay cannot reach an included route around the tunnel
  in_ns c1 ping -c 2 -i 0.2 -W 1 -I "e$$l1a" 10.200.0.5 >/dev/null 2>&1 && return 1
  in_ns c1 nft list table inet ptun_ptun0 | has 'ip daddr 10.200.0.0/16 oifname != "ptun0" counter packets [1-9]' || return 1
  in_ns c1 ip route get 10.200.0.5 | has 'dev ptun0'
}
run_case enforce 'included_routes = ["10.200.0.0/16"]' '[protocol]
enforce_routes = true' check_enforce

# Bad settings: refused with the reason in status, nothing applied, the client stays up.
start_server 'included_routes = ["10.0.0.0/8"]'
e2e_client_config c1 198.18.0.2:4433 '[routes]
exclude = ["10.0.0.0/8"]'
e2e_host_snapshot c1 >"$E2E_DIR/snap.before"
E2E_LOG=client-bad E2E_READY=answers e2e_start client c1
cpid=$E2E_PID
status_has() { e2e_status "$1" | has "$2"; }
e2e_wait_for 10 status_has c1 'both included and excluded' \
  || e2e_fail "bad settings: no reason in ptun status: $(e2e_status c1)"
kill -0 "$cpid" || e2e_fail "bad settings: the client died"
in_ns c1 ip route show table all | has '10.0.0.0/8' && e2e_fail "bad settings: a route was applied"
e2e_stop "$cpid" || e2e_fail "bad settings: client did not stop"
e2e_same_snapshot "(bad settings)" "$E2E_DIR/snap.before" c1
e2e_stop "$server_pid" || e2e_fail "bad settings: server did not stop"
e2e_log "bad settings refused: $(grep -o 'refusing[^"]*' "$E2E_DIR/client-bad.log" | head -1)"

# SIGKILL, then `ptun cleanup`: everything (routes, rules, resolv.conf, kill switch) restored.
start_server 'included_routes = ["0.0.0.0/0", "::/0"]
excluded_routes = ["203.0.113.0/24"]
dns_servers = ["10.99.0.1"]'
e2e_client_config c1 198.18.0.2:4433 '[protocol]
include_all_networks = true
exclude_local_networks = true'
e2e_host_snapshot c1 >"$E2E_DIR/snap.before"
E2E_LOG=client-kill e2e_start client c1
cpid=$E2E_PID
grep -q 'nameserver 10.99.0.1' "$etc/resolv.conf" || e2e_fail "kill: resolv.conf not rewritten"
e2e_stop "$cpid" KILL || e2e_fail "kill: client survived SIGKILL"
in_ns c1 nft list table inet ptun_ptun0 >/dev/null 2>&1 || e2e_fail "kill: kill switch gone after SIGKILL (fail open)"
in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" || e2e_fail "ptun cleanup"
e2e_same_snapshot "after SIGKILL + ptun cleanup" "$E2E_DIR/snap.before" c1
e2e_log "SIGKILL + ptun cleanup: restored exactly"

# SIGKILL, then the next start restores before it applies anything again.
E2E_LOG=client-kill2 e2e_start client c1
e2e_stop "$E2E_PID" KILL || e2e_fail "kill2: client survived SIGKILL"
E2E_LOG=client-restart e2e_start client c1
cpid=$E2E_PID
grep -q 'restored .* left by a previous run' "$E2E_DIR/client-restart.log" || e2e_fail "restart: no journal replay"
e2e_stop "$cpid" || e2e_fail "restart: client did not stop"
e2e_same_snapshot "after SIGKILL + restart + SIGTERM" "$E2E_DIR/snap.before" c1
e2e_log "SIGKILL + next start: restored, then restored again on SIGTERM"

# always_on: SIGTERM keeps the kill switch (fail closed); `ptun down` lets go of it.
e2e_client_config c1 198.18.0.2:4433 '[protocol]
include_all_networks = true
always_on = true'
E2E_LOG=client-always e2e_start client c1
e2e_stop "$E2E_PID" || e2e_fail "always_on: client did not stop"
in_ns c1 nft list table inet ptun_ptun0 | has 'policy drop' || e2e_fail "always_on: kill switch gone after SIGTERM"
in_ns c1 ping -c 1 -W 1 198.18.0.2 >/dev/null 2>&1 && e2e_fail "always_on: traffic passes after stop"
E2E_LOG=client-always2 e2e_start client c1   # it connects over its own kill switch
cpid=$E2E_PID
"$E2E_PTUN" down -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun down"
# `ptun down` keeps the process (and its TUN) in `disconnected`: ptun's settings must be gone
in_ns c1 nft list ruleset | has . && e2e_fail "always_on: kill switch still there after ptun down"
in_ns c1 ip rule | has 7074 && e2e_fail "rules left after ptun down"
in_ns c1 ip route show table all | has 'proto 112' && e2e_fail "routes left after ptun down"
in_ns c1 ping -c 1 -W 2 198.18.0.2 >/dev/null 2>&1 || e2e_fail "traffic blocked after ptun down"
e2e_stop "$cpid" || e2e_fail "always_on: client did not stop"
e2e_same_snapshot "after always_on + ptun down + SIGTERM" "$E2E_DIR/snap.before" c1
e2e_log "always_on: kill switch kept after SIGTERM, adopted by the next start, removed by ptun down"
exit 0
