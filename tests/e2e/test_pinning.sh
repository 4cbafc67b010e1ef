#!/usr/bin/env bash
# Certificate pinning (issue 15 item 3): a [[peer]] with `fingerprint` accepts only that exact
# certificate. c1's certificate is reissued by the same CA with the same CN: the pinned server
# refuses the new one (counted, logged with the peer and the presented fingerprint) while the
# original keeps working; a reload that pins the new fingerprint closes the original's session
# and lets the new certificate in. `pki issue` and `pki list` print the fingerprints.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] 198.18.0.6 ==veth== 198.18.0.5 [c2]
#   c1 runs c1's original certificate; c2 runs the reissued one ("c1b", CN c1)
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1; e2e_ns c2
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link c2 srv 198.18.0.5/30 198.18.0.6/30
pki="$E2E_DIR/pki"
e2e_pki
# fingerprint NAME: NAME's fingerprint as `ptun pki list` prints it (column 4).
fingerprint() { "$E2E_PTUN" pki list "$pki" | awk -v n="$1" '$1 == n { print $4 }'; }
out=$("$E2E_PTUN" pki issue "$pki" c1 2>&1) || e2e_fail "pki issue c1: $out"
fp1=$(fingerprint c1)
[[ "$fp1" =~ ^sha256:[0-9a-f]{64}$ ]] || e2e_fail "pki list shows no fingerprint for c1: $("$E2E_PTUN" pki list "$pki")"
echo "$out" | grep -q "fingerprint $fp1" || e2e_fail "pki issue did not print c1's fingerprint $fp1: $out"
# Reissue: the same CA, the same CN, another key and certificate.
mv "$pki/c1.crt" "$pki/c1-orig.crt"; mv "$pki/c1.key" "$pki/c1-orig.key"
"$E2E_PTUN" pki issue "$pki" c1 >/dev/null || e2e_fail "reissue c1"
fp2=$(fingerprint c1)
[ "$(fingerprint c1-orig)" = "$fp1" ] || e2e_fail "the original certificate's fingerprint changed"
[[ "$fp2" =~ ^sha256:[0-9a-f]{64}$ && "$fp2" != "$fp1" ]] || e2e_fail "reissued c1 has fingerprint '$fp2' (original $fp1)"

# A malformed pin is refused at load with file, line and key.
e2e_server_config "[[peer]]
name = \"c1\"
fingerprint = \"sha256:${fp1:7:60}\""
out=$("$E2E_PTUN" check-config "$E2E_DIR/server.toml" 2>&1) && e2e_fail "a 60-digit fingerprint was accepted"
echo "$out" | grep -Eq "server.toml:[0-9]+:[0-9]+: peer\[0\]\.fingerprint: a SHA-256 fingerprint is" ||
  e2e_fail "malformed pin: unexpected message: $out"

e2e_server_config "[[peer]]
name = \"c1\"
fingerprint = \"$fp1\""
e2e_client_config c1 198.18.0.2:4433
sed -i "s|/c1\.crt\"|/c1-orig.crt\"|; s|/c1\.key\"|/c1-orig.key\"|" "$E2E_DIR/c1.toml"
e2e_client_config c1b 198.18.0.6:4433
sed -i "s|/c1b\.crt\"|/c1.crt\"|; s|/c1b\.key\"|/c1.key\"|" "$E2E_DIR/c1b.toml"
grep -q "c1-orig.crt" "$E2E_DIR/c1.toml" && grep -q "pki/c1.crt" "$E2E_DIR/c1b.toml" || e2e_fail "client configs not rewritten"
e2e_up c1
ssock="$E2E_DIR/run/server.sock"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "pinned c1 (original certificate) -> server ping"

# The reissued certificate: refused after the handshake; the client says why and exits.
out=$(in_ns c2 timeout 20 "$E2E_PTUN" client -c "$E2E_DIR/c1b.toml" 2>&1) && e2e_fail "the reissued c1 was accepted"
echo "$out" | grep -q "is not the one pinned for it" || e2e_fail "refused client does not say why: $(echo "$out" | tail -3)"
grep -q "refused peer 'c1': its certificate $fp2 is not the pinned $fp1" "$E2E_DIR/server.log" ||
  e2e_fail "server log does not name the peer and the presented fingerprint"
st=$("$E2E_PTUN" status --json -s "$ssock") || e2e_fail "server status"
echo "$st" | grep -q '"fingerprint_refused": 1' || e2e_fail "refusal not counted: $(echo "$st" | grep fingerprint)"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "the original c1 lost the tunnel"
e2e_status c1 | grep -q '"state": "connected"' || e2e_fail "the original c1 is not connected"
e2e_log "reissued c1 refused by the pin ($fp2), original still connected"

# Pin the new certificate: reload closes the original's session, the new one gets in.
sed -i "s|^fingerprint = \"$fp1\"|fingerprint = \"$fp2\"|" "$E2E_DIR/server.toml"
grep -q "$fp2" "$E2E_DIR/server.toml" || e2e_fail "pin not rewritten"
out=$("$E2E_PTUN" reload -s "$ssock") || e2e_fail "reload with the new pin: $out"
echo "$out" | grep -q '"fingerprint_sessions_closed": 1' || e2e_fail "reload did not close the original c1: $out"
grep -q "closing session [0-9a-f]* of peer c1: its certificate $fp1 is not the pinned one" "$E2E_DIR/server.log" ||
  e2e_fail "server log does not say why the original c1 was closed"
# The original client reconnects, is refused by the new pin and exits.
e2e_wait_exit "$E2E_PID" 15 || e2e_fail "the original c1 still runs 15 s after its pin was replaced"
grep -q "is not the one pinned for it" "$E2E_DIR/c1.log" || e2e_fail "original c1 log: $(tail -3 "$E2E_DIR/c1.log")"
E2E_NS=c2 e2e_start client c1b
in_ns c2 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "reissued c1 (now pinned) -> server ping"
e2e_log "reload moved the pin: original closed and refused, reissued certificate connected"
exit 0
