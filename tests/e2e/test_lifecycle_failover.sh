#!/usr/bin/env bash
# A failover list whose first server is down: the client gives it one short handshake attempt,
# moves on to the second, connects and passes traffic; `ptun status` names the server in use and
# its address. After the session is lost (the server killed and restarted) the client comes back
# to the server that worked, not to the dead first one.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]   server list: 198.18.0.2:4499 (nothing listens:
#                                                its datagrams are answered by ICMP only),
#                                                198.18.0.2:4433 (the server)
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
# The list form of `server` (the string form stays valid: every other test uses it).
sed -i 's/^server = .*/server = ["198.18.0.2:4499", "198.18.0.2:4433"]/' "$E2E_DIR/c1.toml"
e2e_start server server
spid=$E2E_PID
t0=$SECONDS
e2e_start client c1
e2e_log "connected after $((SECONDS - t0)) s"
[ "$(e2e_json c1 server)" = "198.18.0.2:4433" ] || e2e_fail "status server: $(e2e_json c1 server)"
[ "$(e2e_json c1 endpoint)" = "198.18.0.2:4433" ] || e2e_fail "status endpoint: $(e2e_json c1 endpoint)"
e2e_status c1 | has '"198.18.0.2:4499"' || e2e_fail "status does not list the failover servers"
grep -q "attempt failed (198.18.0.2:4499: handshake timeout" "$E2E_DIR/c1.log" \
  || e2e_fail "no failed attempt on the first server logged"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through the second server"
"$E2E_PTUN" status -s "$(e2e_sock c1)" | has "server: *198.18.0.2:4433" || e2e_fail "ptun status text has no server line"

# Lose the session: the retries go to the server that worked (2 of 2), never back to 4499 first.
mark=$(wc -l <"$E2E_DIR/c1.log")
kill -KILL "$spid"
e2e_log "server killed"
end=$((SECONDS + 10))
until tail -n +"$mark" "$E2E_DIR/c1.log" | has "session ended"; do
  [ $SECONDS -lt $end ] || e2e_fail "the client did not notice the server was gone"
  sleep 0.2
done
e2e_bg srv server2 "$E2E_PTUN" server -c "$E2E_DIR/server.toml" >/dev/null
e2e_wait_connected c1 15 || e2e_fail "not connected again 15 s after the server came back"
first=$(tail -n +"$mark" "$E2E_DIR/c1.log" | grep -m1 "client: connecting to")
e2e_log "first attempt after the loss: $first"
[[ "$first" == *"198.18.0.2:4433 (198.18.0.2:4433, server 2 of 2"* ]] \
  || e2e_fail "the reconnect did not start with the server that worked: $first"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic after reconnecting"
exit 0
