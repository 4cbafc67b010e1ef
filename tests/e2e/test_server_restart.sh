#!/usr/bin/env bash
# The server restarts mid-session: the client notices and is back in service within seconds.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
spid=$E2E_SERVER_PID
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "ping before restart"
lease1=$(e2e_status c1 | grep -o '10\.99\.0\.[0-9]*/24')

kill -KILL "$spid"
e2e_wait_exit "$spid" || e2e_fail "server survived SIGKILL"
sleep 1   # on purpose: the server stays away a while, the client notices and retries
e2e_bg srv server2 "$E2E_PTUN" server -c "$E2E_DIR/server.toml" >/dev/null   # (the clock starts now)
back=$SECONDS
ok=0
for _ in $(seq 1 40); do
  if in_ns c1 ping -c 1 -W 1 10.99.0.1 >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.25   # polling, bounded by the 40 rounds
done
[ $ok = 1 ] || e2e_fail "no service 20 s after the server came back"
took=$((SECONDS - back))
e2e_log "service back ${took}s after the server restarted"
[ $took -le 8 ] || e2e_fail "took ${took}s to recover (limit 8)"
lease2=$(e2e_status c1 | grep -o '10\.99\.0\.[0-9]*/24')
[ "$lease1" = "$lease2" ] || e2e_fail "lease changed across restart: $lease1 -> $lease2"
e2e_status c1 | grep -q '"reconnects": [1-9]' || e2e_fail "reconnect not counted"
exit 0
