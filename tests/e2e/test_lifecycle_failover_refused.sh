#!/usr/bin/env bash
# Failover beyond the first answer (issue 15 item 5): a server name with two addresses, the first
# dead, is connected at its second address without waiting for the next round; a server that
# refuses the client (here: a [[peer]] fingerprint pin that names another certificate, applied by
# `ptun reload` to the live session) is failed over like a dead one; only when every server of a
# round refused does the client give up (exit 1, saying why).
#   [c1] 198.18.0.1/24 ==veth== 198.18.0.130/24 [srv]    server A  (vpn.test: 198.18.0.3, 198.18.0.130)
#   [c1] 198.18.1.1/24 ==veth== 198.18.1.2/24   [srv2]   server B
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns srv2; e2e_ns c1
e2e_link c1 srv 198.18.0.1/24 198.18.0.130/24
e2e_link c1 srv2 198.18.1.1/24 198.18.1.2/24
e2e_pki c1
e2e_server_config
for s in A B; do
  sed "s#run/server.sock#run/srv$s.sock#; s#state-server#state-srv$s#" "$E2E_DIR/server.toml" >"$E2E_DIR/srv$s.toml"
done
E2E_NS=srv e2e_start server srvA
E2E_NS=srv2 e2e_start server srvB

# --- a name with two addresses: the dead one first (RFC 6724 rule 9 sorts it first from 198.18.0.1)
e2e_netns_etc c1
printf '198.18.0.3 vpn.test\n198.18.0.130 vpn.test\n' >"$E2E_NETNS_ETC/hosts"
order=$(in_ns c1 getent ahostsv4 vpn.test | awk '$2 == "STREAM" {print $1}' | tr '\n' ' ')
[ "$order" = "198.18.0.3 198.18.0.130 " ] || e2e_fail "precondition: getaddrinfo order is '$order'"
e2e_client_config c1 vpn.test:4433
t0=$SECONDS
e2e_start client c1
took=$((SECONDS - t0))
[ "$(e2e_json c1 endpoint)" = "198.18.0.130:4433" ] || e2e_fail "endpoint: $(e2e_json c1 endpoint)"
grep -q "attempt failed (vpn.test:4433 at 198.18.0.3:4433: handshake timeout.*next: address 2 of 2" "$E2E_DIR/c1.log" ||
  e2e_fail "no failover to the name's second address logged"
[ "$took" -le 12 ] || e2e_fail "the second address took $took s (a short attempt on the first is 5 s)"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through the second address"
e2e_log "vpn.test: 198.18.0.3 dead, connected at 198.18.0.130 after $took s"
kill -TERM "$E2E_PID"; e2e_wait_exit "$E2E_PID" || e2e_fail "client did not stop"

# --- server A refuses the client mid-session: it moves to server B
e2e_client_config c1 unused
sed -i 's/^server = .*/server = ["198.18.0.130:4433", "198.18.1.2:4433"]/' "$E2E_DIR/c1.toml"
e2e_start client c1
cpid=$E2E_PID
[ "$(e2e_json c1 endpoint)" = "198.18.0.130:4433" ] || e2e_fail "not on server A first: $(e2e_json c1 endpoint)"
pin='[[peer]]
name = "c1"
fingerprint = "sha256:0000000000000000000000000000000000000000000000000000000000000000"'
echo "$pin" >>"$E2E_DIR/srvA.toml"
"$E2E_PTUN" reload -c "$E2E_DIR/srvA.toml" >/dev/null || e2e_fail "reload server A"
on_b() { [ "$(e2e_json c1 endpoint)" = 198.18.1.2:4433 ] && [ "$(e2e_json c1 state)" = connected ]; }
e2e_wait_for 20 on_b ||
  e2e_fail "not connected to server B after A refused: $(e2e_status c1 | grep -E '"(state|endpoint|last_error)"')"
grep -q "attempt failed (198.18.0.130:4433: authorization refused" "$E2E_DIR/c1.log" || e2e_fail "A's refusal was not logged as a failed attempt"
kill -0 "$cpid" || e2e_fail "the client exited although server B takes it"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through server B"
e2e_log "server A refused c1 mid-session: failed over to server B"

# --- server B refuses too: a whole round of refusals ends the client, saying so
echo "$pin" >>"$E2E_DIR/srvB.toml"
"$E2E_PTUN" reload -c "$E2E_DIR/srvB.toml" >/dev/null || e2e_fail "reload server B"
e2e_wait_exit "$cpid" 30 || e2e_fail "the client still runs after every server refused it"
wait "$cpid"; rc=$?
[ "$rc" = 1 ] || e2e_fail "exit status $rc after every server refused (want 1)"
grep -q "refused" <(tail -5 "$E2E_DIR/c1.log") || e2e_fail "the last lines do not say it was refused: $(tail -5 "$E2E_DIR/c1.log")"
e2e_log "both servers refused: the client ended with exit 1"
exit 0
