#!/usr/bin/env bash
# The server is given by a name that does not resolve when the client starts (DNS not there yet
# at boot): the client stays up in `connecting`, says why in `ptun status` and its log, keeps
# retrying with backoff, and connects by itself once the name resolves - no restart.
# The lookups run off the loop: while one waits for a DNS server that never answers, `ptun status`
# answers at once and shows what is being resolved.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]   c1's /etc/hosts and resolv.conf are its own
#   (ip netns exec bind-mounts /etc/netns/<ns>/*): vpn.ptun.test is added to its hosts file later;
#   its resolv.conf names 198.18.0.2, where an nft rule drops DNS queries (each lookup waits for
#   its 2 s timeout).
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_netns_etc c1
printf '127.0.0.1 localhost\n' >"$E2E_NETNS_ETC/hosts"
printf 'nameserver 198.18.0.2\noptions timeout:2 attempts:1\n' >"$E2E_NETNS_ETC/resolv.conf"
e2e_need nft
e2e_do srv nft add table inet dnsdrop
e2e_do srv nft add chain inet dnsdrop input '{ type filter hook input priority 0; }'
e2e_do srv nft add rule inet dnsdrop input udp dport 53 counter drop
e2e_pki c1
e2e_server_config
e2e_client_config c1 vpn.ptun.test:4433
e2e_start server server
E2E_READY=answers e2e_start client c1
cpid=$E2E_PID

# A lookup in flight (the DNS server does not answer): status answers at once and says so.
seen=""
for _ in $(seq 1 50); do
  t0=$(date +%s%N)
  st=$(e2e_status c1) || e2e_fail "no status answer"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ $ms -lt 1000 ] || e2e_fail "status took $ms ms while a lookup was in flight (the loop is blocked)"
  if [[ "$st" == *'"resolving": "vpn.ptun.test"'* ]]; then seen=$ms; break; fi
  sleep 0.1
done
[ -n "$seen" ] || e2e_fail "status never showed the lookup in flight"
e2e_log "status answered in $seen ms while resolving vpn.ptun.test"
in_ns srv nft list table inet dnsdrop | has "counter packets [1-9]" || e2e_fail "no DNS query reached the server namespace"

# Not resolvable: still running, connecting, the reason in status; several attempts (retries).
end=$((SECONDS + 20))
until [ "$(grep -c "attempt failed (vpn.ptun.test:4433: resolving vpn.ptun.test" "$E2E_DIR/c1.log")" -ge 3 ]; do
  [ $SECONDS -lt $end ] || e2e_fail "no repeated failed lookups logged within 20 s"
  kill -0 "$cpid" 2>/dev/null || e2e_fail "the client exited on an unresolvable server name"
  sleep 0.2
done
kill -0 "$cpid" 2>/dev/null || e2e_fail "the client exited on an unresolvable server name"
[ "$(e2e_json c1 state)" = connecting ] || e2e_fail "state while unresolvable: $(e2e_json c1 state)"
err=$(e2e_json c1 last_error)
e2e_log "status last_error: $err"
[[ "$err" == "vpn.ptun.test:4433: resolving vpn.ptun.test: "* ]] || e2e_fail "status does not say why: '$err'"
"$E2E_PTUN" status -s "$(e2e_sock c1)" | has "last error: *vpn.ptun.test" || e2e_fail "ptun status text has no last error"

# The name starts resolving (the same file, written in place: the bind mount follows its inode).
printf '198.18.0.2 vpn.ptun.test\n' >>"$E2E_NETNS_ETC/hosts"
t0=$SECONDS
e2e_wait_connected c1 15 || e2e_fail "not connected 15 s after the name started resolving"
e2e_log "connected $((SECONDS - t0)) s after the name resolved"
kill -0 "$cpid" 2>/dev/null || e2e_fail "client restarted"
[ "$(e2e_json c1 endpoint)" = "198.18.0.2:4433" ] || e2e_fail "status endpoint: $(e2e_json c1 endpoint)"
[ "$(e2e_json c1 server)" = "vpn.ptun.test:4433" ] || e2e_fail "status server: $(e2e_json c1 server)"
[ -z "$(e2e_json c1 last_error)" ] || e2e_fail "last_error kept after connecting"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic"
grep -q "client: vpn.ptun.test is 198.18.0.2" "$E2E_DIR/c1.log" || e2e_fail "resolution not logged"
exit 0
