#!/usr/bin/env bash
# The server is killed and restarted. While it is gone the client notices (keepalives, dead-peer
# detection) and `ptun status` shows reasserting (or connecting); after the restart the client is
# connected again within a few seconds, with the same tunnel address.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]      keepalive 2 s, dead peer 6 s, reconnect cap 2 s
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
spid=$E2E_SERVER_PID
addr1=$(e2e_json c1 addresses)

kill -KILL "$spid"
e2e_log "server killed"
seen=""
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
  st=$(e2e_json c1 state)
  case "$st" in reasserting|connecting) seen=$st; break ;; esac
  sleep 0.2   # polling, bounded by $end
done
[ -n "$seen" ] || e2e_fail "status never left connected while the server was gone"
e2e_log "status while the server is gone: $seen ($(e2e_json c1 reason))"
sleep 2   # on purpose: the server stays away; the client keeps retrying with backoff meanwhile

e2e_bg srv server2 "$E2E_PTUN" server -c "$E2E_DIR/server.toml" >/dev/null   # (the clock starts now)
t0=$(date +%s%N)
e2e_wait_connected c1 15 || e2e_fail "not connected 15 s after the server came back"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
e2e_log "connected again ${ms} ms after the server restarted"
[ $ms -le 4000 ] || e2e_fail "took ${ms} ms to reconnect (limit 4000)"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic after reconnecting"
[ "$(e2e_json c1 addresses)" = "$addr1" ] || e2e_fail "tunnel address changed: $addr1 -> $(e2e_json c1 addresses)"
grep -q "connected -> reasserting (server gone" "$E2E_DIR/c1.log" || e2e_fail "transition not logged"
exit 0
