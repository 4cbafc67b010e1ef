#!/usr/bin/env bash
# A client with a certificate from another CA is refused, and exits saying why; a client that
# expects another server name refuses the server.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
"$E2E_PTUN" pki init "$E2E_DIR/other" >/dev/null && "$E2E_PTUN" pki issue "$E2E_DIR/other" c1 >/dev/null || e2e_fail "other CA"
e2e_server_config
e2e_up

# Client certificate from another CA (the client still trusts the right CA for the server).
e2e_client_config c1 198.18.0.2:4433
sed -i "s|^cert = .*|cert = \"$E2E_DIR/other/c1.crt\"|; s|^key = .*|key = \"$E2E_DIR/other/c1.key\"|" "$E2E_DIR/c1.toml"
out=$(in_ns c1 timeout 30 "$E2E_PTUN" client -c "$E2E_DIR/c1.toml" 2>&1); rc=$?
[ $rc -eq 1 ] || e2e_fail "foreign-CA client exit code $rc (want 1): $out"
echo "$out" | grep -qi "handshake\|certificate\|refused\|alert" || e2e_fail "no reason given: $out"
e2e_log "foreign CA refused: $(echo "$out" | grep -i error | tail -1)"

# Wrong server name expected by the client.
e2e_client_config c1 198.18.0.2:4433
sed -i 's|^server_name = .*|server_name = "not-the-server"|' "$E2E_DIR/c1.toml"
out=$(in_ns c1 timeout 30 "$E2E_PTUN" client -c "$E2E_DIR/c1.toml" 2>&1); rc=$?
[ $rc -eq 1 ] || e2e_fail "name mismatch exit code $rc (want 1): $out"
echo "$out" | grep -qi "name\|certificate" || e2e_fail "no reason given for the name mismatch: $out"
e2e_log "server name mismatch refused"

# A world-readable key is refused before anything starts.
e2e_client_config c1 198.18.0.2:4433
chmod 644 "$E2E_DIR/pki/c1.key"
out=$(in_ns c1 timeout 10 "$E2E_PTUN" client -c "$E2E_DIR/c1.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "world-" || e2e_fail "world-readable key accepted: $rc $out"
e2e_log "world-readable key refused"
exit 0
