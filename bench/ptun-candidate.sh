# shellcheck shell=bash
# ptun as the candidate of the peer benchmark lab (../shared/bench, see its runners/candidate.example.sh
# for the contract). Sourced by the lab's measure.sh as root; PTUN_BIN must point at the binary.
# Server in $NS_S (pool 198.19.9.0/24: server 198.19.9.1, client 198.19.9.2), client in $NS_C,
# UDP $CAND_PORT, certificates made by `ptun pki` (the lab's openssl certs would work too).
TARGET="$CAND_S_IP"
candidate_label="ptun"
: "${PTUN_BIN:?set PTUN_BIN to the ptun binary}"
# Inner MTU: the lab's TUN_MTU when it fits one 1500-byte outer IPv4 packet with ptun's overhead
# (20 IP + 8 UDP + 8 ptun header + DTLS record: 29 with ChaCha20-Poly1305, 37 with AES-128-GCM;
# the suite is negotiated (AES first where OpenSSL seals records on an AES-NI CPU): the larger).
PTUN_CIPHER_OVERHEAD=${PTUN_CIPHER_OVERHEAD:-37}
PTUN_MTU=$(( TUN_MTU < 1500 - 36 - PTUN_CIPHER_OVERHEAD ? TUN_MTU : 1500 - 36 - PTUN_CIPHER_OVERHEAD ))

candidate_up() {
    local d="$RUN_DIR/candidate" ps pc
    mkdir -p "$d"; chmod 700 "$d"
    "$PTUN_BIN" pki init "$d/pki" >/dev/null && "$PTUN_BIN" pki issue "$d/pki" server --server >/dev/null \
        && "$PTUN_BIN" pki issue "$d/pki" client >/dev/null || return 1
    cat >"$d/server.toml" <<TOML
listen = ["$VETH_S_IP4:$CAND_PORT"]
ca = "$d/pki/ca.crt"
cert = "$d/pki/server.crt"
key = "$d/pki/server.key"
control_socket = "$d/server.sock"
state_dir = "$d/server-state"
log_level = "warn"
[tunnel]
interface = "vlcand-s"
mtu = $PTUN_MTU
ipv4_pool = "$CAND_NET.0/24"
[[peer]]
name = "client"
ipv4 = "$CAND_C_IP"
TOML
    cat >"$d/client.toml" <<TOML
server = "$VETH_S_IP4:$CAND_PORT"
server_name = "server"
ca = "$d/pki/ca.crt"
cert = "$d/pki/client.crt"
key = "$d/pki/client.key"
control_socket = "$d/client.sock"
state_dir = "$d/client-state"
log_level = "warn"
[tunnel]
interface = "vlcand-c"
TOML
    ps=$(bg_in_ns "$NS_S" "$d/server.log" "$PTUN_BIN" server -c "$d/server.toml")
    # The client starts once the server answers on its control socket (set up by then).
    local i
    for i in $(seq 100); do "$PTUN_BIN" status -s "$d/server.sock" >/dev/null 2>&1 && break; sleep 0.1; done
    pc=$(bg_in_ns "$NS_C" "$d/client.log" "$PTUN_BIN" client -c "$d/client.toml")
    printf '%s\n' "$ps" "$pc" >"$RUN_DIR/candidate.pid"
    wait_ping "$TARGET" 20
}

candidate_down() {
    stop_pidfile "$RUN_DIR/candidate.pid" 2>/dev/null || true
    rm -rf "$RUN_DIR/candidate"
}

candidate_pids() { cat "$RUN_DIR/candidate.pid" 2>/dev/null; }

candidate_info() {
    "$PTUN_BIN" status -s "$RUN_DIR/candidate/client.sock" 2>&1
    "$PTUN_BIN" status --json -s "$RUN_DIR/candidate/server.sock" 2>&1
}
