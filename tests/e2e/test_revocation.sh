#!/usr/bin/env bash
# Revocation (issue 15 item 3): the server loads `crl`; `ptun pki revoke` + `ptun reload` cut a
# connected client off at once, it cannot come back, the other client keeps working; a CRL the
# CA did not sign is refused by reload (the running one stays); after a restart the revoked
# client is still refused.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] 198.18.0.6 ==veth== 198.18.0.5 [c2]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1; e2e_ns c2
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link c2 srv 198.18.0.5/30 198.18.0.6/30
e2e_pki c1 c2
[ -s "$E2E_DIR/pki/crl.pem" ] || e2e_fail "ptun pki init wrote no crl.pem"
e2e_server_config
sed -i "s|^key = .*|&\ncrl = \"$E2E_DIR/pki/crl.pem\"|" "$E2E_DIR/server.toml"
grep -q '^crl = ' "$E2E_DIR/server.toml" || e2e_fail "crl key not written"
e2e_client_config c1 198.18.0.2:4433
e2e_client_config c2 198.18.0.6:4433
e2e_up c1 c2
ssock="$E2E_DIR/run/server.sock"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 -> server ping before revocation"
in_ns c2 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c2 -> server ping before revocation"

"$E2E_PTUN" pki revoke "$E2E_DIR/pki" c2 || e2e_fail "ptun pki revoke"
"$E2E_PTUN" pki list "$E2E_DIR/pki" | grep -E '^c2[[:space:]].*[[:space:]]revoked$' >/dev/null || e2e_fail "pki list does not show c2 revoked: $("$E2E_PTUN" pki list "$E2E_DIR/pki")"
out=$("$E2E_PTUN" reload -s "$ssock") || e2e_fail "reload with the new CRL: $out"
echo "$out" | grep -q '"revoked_sessions_closed": 1' || e2e_fail "reload did not close c2's session: $out"
e2e_log "revoked c2, reloaded: $(echo "$out" | tr -d '\n ' | cut -c1-160)"

# c2 is cut off and stays off (it keeps retrying; every handshake is refused).
end=$((SECONDS + 10))
while e2e_status c2 | grep -q '"state": "connected"'; do
  [ $SECONDS -lt $end ] || e2e_fail "c2 still connected 10 s after its revocation"
  sleep 0.2
done
sleep 8
e2e_status c2 | grep -q '"state": "connected"' && e2e_fail "revoked c2 reconnected"
in_ns c2 ping -c 2 -i 0.2 -W 1 10.99.0.1 >/dev/null 2>&1 && e2e_fail "revoked c2 still reaches the server"
# The handshakes c2 retries are refused by certificate verification, and the log says why.
grep -E "handshake|verify" "$E2E_DIR/server.log" | grep -q "certificate revoked" ||
  e2e_fail "server log does not say why c2's handshakes were refused"
in_ns c1 ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 lost the tunnel when c2 was revoked"
e2e_status c1 | grep -q '"state": "connected"' || e2e_fail "c1 not connected"
e2e_log "c2 refused since the reload, c1 unaffected"

# A CRL signed by another CA: the reload is refused and the running CRL stays.
"$E2E_PTUN" pki init "$E2E_DIR/pki-other" >/dev/null || e2e_fail "pki init (other CA)"
cp "$E2E_DIR/pki/crl.pem" "$E2E_DIR/crl-good.pem"
cp "$E2E_DIR/pki-other/crl.pem" "$E2E_DIR/pki/crl.pem"
out=$("$E2E_PTUN" reload -s "$ssock" 2>&1) && e2e_fail "a CRL of another CA was accepted: $out"
echo "$out" | grep -q "running config kept" || e2e_fail "refused reload does not say the config was kept: $out"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 lost the tunnel after a refused reload"
cp "$E2E_DIR/crl-good.pem" "$E2E_DIR/pki/crl.pem"
e2e_log "a foreign CRL is refused by reload, the running one stays"

# Restart: the CRL is loaded at start, c2 is still refused, c1 comes back.
e2e_stop "$E2E_SERVER_PID" || e2e_fail "server did not stop"
e2e_start server server
E2E_SERVER_PID=$E2E_PID
e2e_wait_connected c1 20 || e2e_fail "c1 did not come back after the server restart"
sleep 4
e2e_status c2 | grep -q '"state": "connected"' && e2e_fail "revoked c2 connected to the restarted server"
e2e_log "after a restart c1 is back and c2 is still refused"
exit 0
