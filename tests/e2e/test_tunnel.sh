#!/usr/bin/env bash
# The tunnel end to end: one client, one server, real traffic over IPv4 and IPv6.
#   [c1] 198.18.0.1 fd00:18::1 ==veth== 198.18.0.2 fd00:18::2 [srv]   tunnel 10.99.0.0/24 fd99::/64
# ping v4/v6, a 20 MB TCP transfer whose sha256 matches at both ends (v4 and v6), UDP echo,
# status over the control socket, a clean stop that removes the TUN.
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(dirname "$(realpath "$0")")
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30 fd00:18::1/64 fd00:18::2/64
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
cpid=$E2E_PID
e2e_log "connected"

in_ns c1 ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "ping 10.99.0.1"
in_ns c1 ping -6 -c 3 -i 0.2 -W 2 fd99::1 >/dev/null || e2e_fail "ping6 fd99::1"
e2e_log "ping v4 and v6 ok"

head -c 20000000 /dev/urandom >"$E2E_DIR/blob"
want=$(sha256sum <"$E2E_DIR/blob" | cut -d' ' -f1)
for dst in 10.99.0.1 fd99::1; do
  rm -f "$E2E_DIR/got"
  in_ns srv timeout 60 python3 "$here/netcheck.py" tcp-sink "$dst" 5001 "$E2E_DIR/got" &
  sink=$!
  e2e_listening srv tcp 5001
  in_ns c1 timeout 60 python3 "$here/netcheck.py" tcp-send "$dst" 5001 "$E2E_DIR/blob" || e2e_fail "tcp send to $dst"
  wait $sink || e2e_fail "tcp sink on $dst"
  got=$(sha256sum <"$E2E_DIR/got" | cut -d' ' -f1)
  [ "$got" = "$want" ] || e2e_fail "sha256 mismatch over $dst: $got != $want"
  e2e_log "TCP 20 MB to $dst: sha256 matches"
done

got=$(e2e_udp_echo srv c1 10.99.0.1 5002 100)
[ "${got:-0}" -ge 95 ] || e2e_fail "UDP echo: only ${got:-0}/100 came back"
e2e_log "UDP echo: $got/100"

# The copy-free path carried the traffic: packets sealed in the buffer they were read into and
# opened inside the datagram they arrived in, in both roles (copies only for control messages).
for who in c1 server; do
  sock=$(e2e_sock c1); [ "$who" = server ] && sock="$E2E_DIR/run/server.sock"
  "$E2E_PTUN" status --json -s "$sock" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
# c1 writes to its TUN and the server sends back mostly ACKs: few with GRO on the server TUN
# (see packets_in below)
assert c["udp_tx_in_place"] > 200 and c["tun_tx_in_place"] > 200, c
# The bulk direction (c1: sealed to UDP; the server: opened to its TUN) at most 1 copy in 20; the
# other carries the ACKs beside the control messages (keepalives every 2 s, copied from the
# session scratch buffer), whose number grows with the run time: there copies stay a minority.
bulk, light = ("udp", "tun") if sys.argv[1] == "c1" else ("tun", "udp")
assert c[bulk + "_tx_copied"] * 20 < c[bulk + "_tx_in_place"], c
assert c[light + "_tx_copied"] * 2 < c[light + "_tx_in_place"], c
print("in place: udp", c["udp_tx_in_place"], "tun", c["tun_tx_in_place"], "copied: udp", c["udp_tx_copied"], "tun", c["tun_tx_copied"])
' "$who" >&2 || e2e_fail "$who: packets did not take the copy-free path (status counters above)"
done

st=$(e2e_status c1)
echo "$st" | grep -q '"addresses"' || e2e_fail "status lacks addresses: $st"
# packets_in is mostly the server's ACKs: its TUN hands the kernel coalesced super-packets (GRO),
# each ACKed as one, so there are far fewer ACKs than the ~30000 segments sent.
echo "$st" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["bytes_out"] > 40000000 and s["packets_in"] > 200, s' \
  || e2e_fail "status byte counters"
# The client's UDP socket is connected to the server (the kernel's cached route and early demux).
stats=$("$E2E_PTUN" stats -s "$(e2e_sock c1)") || e2e_fail "ptun stats"
echo "$stats" | python3 -c 'import json,sys; u=json.load(sys.stdin)["udp"]; assert u["connected"] is True, u' \
  || e2e_fail "the client's UDP socket is not connected: $stats"
in_ns c1 ss -Huan state established dst 198.18.0.2 | grep -q ':4433' \
  || e2e_fail "ss: no connected UDP socket to 198.18.0.2:4433 in c1: $(in_ns c1 ss -Huan)"
"$E2E_PTUN" sessions -s "$E2E_DIR/run/server.sock" | grep -q "peer: c1" || e2e_fail "server sessions lacks c1"

# `ptun down` disconnects and the client stays running; `ptun stop` ends it.
"$E2E_PTUN" down -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun down"
e2e_status c1 | grep -q '"state": "disconnected"' || e2e_fail "not disconnected after ptun down"
kill -0 "$cpid" 2>/dev/null || e2e_fail "client exited on ptun down"
"$E2E_PTUN" stop -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun stop"
e2e_wait_exit "$cpid" 3 || e2e_fail "client did not exit after ptun stop"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "TUN still present after stop"
in_ns c1 ip rule | grep -q 7074 && e2e_fail "policy rules left behind"
e2e_log "client stopped cleanly"
exit 0
