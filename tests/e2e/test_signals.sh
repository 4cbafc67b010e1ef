#!/usr/bin/env bash
# Signals (issue 19 item 6), both roles:
# - SIGHUP reloads as `ptun reload` does: the client stays connected with the same session and
#   applies the changed [routes]; the server applies a changed [push] (seen by the next session);
# - SIGQUIT, SIGTERM, SIGUSR1, SIGINT end the client with a log line naming the signal, exit 0,
#   and its host (routes, rules, kill switch, resolv.conf) is exactly as before it started;
# - SIGQUIT ends the server the same way (its masquerade table and routes gone).
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]   tunnel 10.99.0.0/24, full tunnel + kill switch + DNS
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_do c1 ip route add default via 198.18.0.2
e2e_settle c1; e2e_settle srv   # link-local addresses done, so snapshots do not differ by them
e2e_netns_etc c1; etc=$E2E_NETNS_ETC
printf '# the host resolver\nnameserver 198.18.0.2\n' >"$etc/resolv.conf"
e2e_pki c1
e2e_server_config 'included_routes = ["0.0.0.0/0"]
dns_servers = ["10.99.0.1"]
search_domains = ["corp.example"]'
sed -i '/ipv6_pool/d; s/, "\[::\]:4433"//' "$E2E_DIR/server.toml"
sed -i 's/^\[tunnel\]/[tunnel]\nmasquerade = true/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433 '
[protocol]
include_all_networks = true'
e2e_host_snapshot c1 >"$E2E_DIR/snap.c1"
e2e_host_snapshot srv >"$E2E_DIR/snap.srv"
e2e_up c1
cpid=$E2E_PID
csock=$(e2e_sock c1)
e2e_host_snapshot c1 | diff -q "$E2E_DIR/snap.c1" - >/dev/null && e2e_fail "the client changed nothing on its host"
grep -q 'corp.example' "$etc/resolv.conf" || e2e_fail "pushed DNS not applied"

# --- SIGHUP on the client: reload, same session, the new [routes] applied
sid=$(e2e_json c1 session_id)
sed -i 's/^\[tunnel\]/[routes]\nexclude = ["203.0.113.0\/24"]\n\n[tunnel]/' "$E2E_DIR/c1.toml"
kill -HUP "$cpid"
e2e_wait_for 5 grep -q 'client: config reloaded' "$E2E_DIR/c1.log" || e2e_fail "SIGHUP did not reload the client"
grep -q 'client: SIGHUP, reloading' "$E2E_DIR/c1.log" || e2e_fail "SIGHUP not logged"
kill -0 "$cpid" 2>/dev/null || e2e_fail "the client died on SIGHUP"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "client not connected after SIGHUP"
[ "$(e2e_json c1 session_id)" = "$sid" ] || e2e_fail "SIGHUP changed the session"
e2e_wait_for 5 sh -c "ip -n '$(ns c1)' route get 203.0.113.5 | grep -q 'via 198.18.0.2'" \
  || e2e_fail "the reloaded [routes] exclude is not applied"
# A broken file: the reload is refused, logged, and the client keeps running as it was.
cp "$E2E_DIR/c1.toml" "$E2E_DIR/c1.good"
echo 'this is = = broken' >>"$E2E_DIR/c1.toml"
kill -HUP "$cpid"
e2e_wait_for 5 grep -q 'reload refused, running config kept' "$E2E_DIR/c1.log" || e2e_fail "broken config on SIGHUP not refused"
kill -0 "$cpid" 2>/dev/null || e2e_fail "the client died on SIGHUP with a broken config"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "client not connected after a refused SIGHUP reload"
cp "$E2E_DIR/c1.good" "$E2E_DIR/c1.toml"
e2e_log "client SIGHUP: reloaded, session kept, route change applied; a broken file refused"

# --- SIGHUP on the server: [push] changed, the next session gets it
sed -i 's/^search_domains = .*/search_domains = ["corp.example", "hup.example"]/' "$E2E_DIR/server.toml"
kill -HUP "$E2E_SERVER_PID"
e2e_wait_for 5 grep -q 'server: config reloaded (peers same, push changed)' "$E2E_DIR/server.log" \
  || e2e_fail "SIGHUP did not reload the server"
grep -q 'server: SIGHUP, reloading' "$E2E_DIR/server.log" || e2e_fail "server SIGHUP not logged"
kill -0 "$E2E_SERVER_PID" 2>/dev/null || e2e_fail "the server died on SIGHUP"
"$E2E_PTUN" down -s "$csock" >/dev/null || e2e_fail "ptun down"
"$E2E_PTUN" up -s "$csock" >/dev/null || e2e_fail "ptun up"
e2e_wait_connected c1 10 || e2e_fail "client did not reconnect after down/up"
e2e_wait_for 5 grep -q 'hup.example' "$etc/resolv.conf" || e2e_fail "the server's reloaded [push] did not reach the new session"
e2e_log "server SIGHUP: reloaded, the new push reaches the next session"

# --- terminating signals: the client restores its host and says why it stopped
cp "$E2E_DIR/c1.good" "$E2E_DIR/c1.toml"
for sig in QUIT TERM USR1 INT; do
  log="$E2E_DIR/c1.log"   # SIGQUIT goes to the client started above, the others to a fresh one
  if [ "$sig" != QUIT ]; then
    E2E_LOG="c1-$sig" e2e_start client c1
    cpid=$E2E_PID
    log="$E2E_DIR/c1-$sig.log"
  fi
  e2e_stop "$cpid" "$sig" || e2e_fail "the client did not stop on SIG$sig"
  wait "$cpid"; rc=$?
  [ "$rc" -eq 0 ] || e2e_fail "the client exited with $rc on SIG$sig (killed by the signal?)"
  grep -q "client: SIG$sig, disconnecting and restoring the host" "$log" || e2e_fail "no log line for SIG$sig"
  e2e_same_snapshot "after SIG$sig" "$E2E_DIR/snap.c1" c1
  grep -qx '# the host resolver' <(head -1 "$etc/resolv.conf") || e2e_fail "resolv.conf not restored after SIG$sig"
  e2e_log "client SIG$sig: host restored, exit 0, logged"
done

# --- the server on SIGQUIT: sessions closed, host (masquerade table, TUN routes) restored
spid=$E2E_SERVER_PID
e2e_stop "$spid" QUIT || e2e_fail "the server did not stop on SIGQUIT"
wait "$spid"; rc=$?
[ "$rc" -eq 0 ] || e2e_fail "the server exited with $rc on SIGQUIT"
grep -q 'server: SIGQUIT, closing sessions and restoring the host' "$E2E_DIR/server.log" || e2e_fail "server SIGQUIT not logged"
e2e_same_snapshot "on the server after SIGQUIT" "$E2E_DIR/snap.srv" srv
e2e_log "server SIGQUIT: host restored, exit 0, logged"
exit 0
