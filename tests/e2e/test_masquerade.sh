#!/usr/bin/env bash
# The server forwards a client's traffic to a network behind it with masquerade (nftables in its
# namespace), and removes its table and restores forwarding when it stops.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] 198.18.1.1 ==veth== 198.18.1.2 [web]
#   the client includes 198.18.1.0/24 through the tunnel; web sees the server's address
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft curl
e2e_ns srv; e2e_ns c1; e2e_ns web
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link srv web 198.18.1.1/30 198.18.1.2/30
e2e_pki c1
e2e_server_config 'included_routes = ["198.18.1.0/24"]'
sed -i 's/^ipv6_pool = .*/ipv6_pool = "fd99::\/64"\nmasquerade = true/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
fwd_before=$(in_ns srv cat /proc/sys/net/ipv4/ip_forward)
e2e_up c1
spid=$E2E_SERVER_PID
in_ns c1 ip route get 198.18.1.2 | grep -q ptun0 || e2e_fail "included route not on the TUN: $(in_ns c1 ip route get 198.18.1.2)"
in_ns srv nft list tables | grep -q "ptun_ptun_s0" || e2e_fail "no masquerade table"
mkdir -p "$E2E_DIR/www" && echo behind >"$E2E_DIR/www/index.html"
e2e_bg web http python3 -m http.server 8080 --bind 198.18.1.2 --directory "$E2E_DIR/www" >/dev/null
e2e_listening web tcp 8080
body=$(in_ns c1 curl -sS -m 5 http://198.18.1.2:8080/) || e2e_fail "curl through the tunnel"
[ "$body" = behind ] || e2e_fail "body: $body"
grep -q '198.18.1.1' "$E2E_DIR/http.log" || e2e_fail "web did not see the masqueraded source: $(cat "$E2E_DIR/http.log")"
e2e_log "forwarded and masqueraded (web saw 198.18.1.1)"
e2e_stop "$spid" || e2e_fail "server did not stop on SIGTERM"
in_ns srv nft list tables | grep -q "ptun_" && e2e_fail "masquerade table left behind"
[ "$(in_ns srv cat /proc/sys/net/ipv4/ip_forward)" = "$fwd_before" ] || e2e_fail "ip_forward not restored"
e2e_log "server stop removed the nftables table and restored ip_forward=$fwd_before"
exit 0
