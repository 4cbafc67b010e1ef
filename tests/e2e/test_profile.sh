#!/usr/bin/env bash
# One-file client profiles (issue 15 item 4): `ptun pki issue DIR NAME --profile SERVER` writes
# DIR/NAME.toml (mode 0600) with the CA, certificate and key inline; a client started from a
# copy of it (control socket and state dir added, as a laptop would keep them at their defaults)
# connects and passes traffic. The same profile readable by others is refused like a key file.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki
out=$("$E2E_PTUN" pki issue "$E2E_DIR/pki" c1 --profile 198.18.0.2:4433 --server-name ptun-server 2>&1) ||
  e2e_fail "pki issue --profile: $out"
prof="$E2E_DIR/pki/c1.toml"
[ "$(stat -c %a "$prof")" = 600 ] || e2e_fail "profile mode is $(stat -c %a "$prof"), not 600"
for k in ca_pem cert_pem key_pem; do grep -q "^$k = '''" "$prof" || e2e_fail "profile has no $k"; done
grep -q '^server = "198.18.0.2:4433"$' "$prof" || e2e_fail "profile has no server address"
# A second profile for the same name is refused (the certificate and key already exist).
"$E2E_PTUN" pki issue "$E2E_DIR/pki" c1 --profile 198.18.0.2:4433 --server-name ptun-server 2>/dev/null &&
  e2e_fail "a second --profile for c1 was accepted"
# An IP address names no server certificate: --server-name is asked for, nothing is issued.
out=$("$E2E_PTUN" pki issue "$E2E_DIR/pki" c9 --profile 198.18.0.2 2>&1) && e2e_fail "--profile IP without --server-name accepted"
echo "$out" | grep -q -- "--server-name" || e2e_fail "no hint at --server-name: $out"
[ ! -e "$E2E_DIR/pki/c9.key" ] || e2e_fail "c9 was issued although its profile was refused"

# The laptop's copy: the profile alone (no PKI files next to it) plus local keys.
install -m 600 "$prof" "$E2E_DIR/c1.toml"
cat >>"$E2E_DIR/c1.toml" <<TOML
control_socket = "$E2E_DIR/run/c1.sock"
state_dir = "$E2E_DIR/state-c1"
log_level = "debug"
reconnect_max_secs = 2
TOML
out=$("$E2E_PTUN" check-config --strict "$E2E_DIR/c1.toml" 2>&1) || e2e_fail "check-config of the profile: $out"
echo "$out" | grep -q "valid client config" || e2e_fail "check-config: $out"
echo "$out" | grep -q "BEGIN EC PRIVATE KEY" && e2e_fail "check-config printed the private key"
e2e_server_config
e2e_start server server
E2E_SERVER_PID=$E2E_PID

# Readable by others: refused before anything starts, with the key-file message.
chmod 644 "$E2E_DIR/c1.toml"
out=$(in_ns c1 "$E2E_PTUN" client -c "$E2E_DIR/c1.toml" 2>&1) && e2e_fail "a world-readable profile was accepted"
echo "$out" | grep -q "holds key_pem, a private key) is world-accessible (chmod 600 it)" ||
  e2e_fail "world-readable profile: unexpected message: $out"
chmod 600 "$E2E_DIR/c1.toml"

e2e_start client c1
in_ns c1 ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 (profile) -> server ping"
in_ns c1 ping -6 -c 2 -i 0.2 -W 2 fd99::1 >/dev/null || e2e_fail "c1 (profile) -> server ping over IPv6"
e2e_log "client from a pki-issued profile connected and passed traffic"
exit 0
