#!/usr/bin/env bash
# 10% random loss on the underlay, both directions (nftables numgen in the server's namespace):
# the client connects through it, the tunnel stays connected, a TCP transfer completes intact.
#   [c1: in from udp/4433 drop 10%] 198.18.0.1 ==veth== 198.18.0.2 [srv: in to udp/4433 drop 10%]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft ethtool
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
# Per datagram, not per GSO/GRO super-packet: no UDP segmentation offload or GRO on the veths,
# and each direction dropped at its receiver's input hook (after segmentation). With either still
# on, the rule sees super-packets and drops far fewer datagrams than 10%: check that they are off.
for n in c1 srv; do
  d=$(in_ns $n ip -o link show type veth | awk -F'[ :@]+' '{print $2}')
  e2e_do $n ethtool -K "$d" tx-udp-segmentation off gro off
  k=$(in_ns $n ethtool -k "$d") || e2e_fail "ethtool -k $d"
  for f in tx-udp-segmentation generic-receive-offload; do
    has -x "$f: off.*" <<<"$k" || e2e_fail "$n: $d: ethtool -k shows $(grep "^$f:" <<<"$k") after ethtool -K"
  done
done
in_ns srv nft -f - <<'NFT' || e2e_fail "nft ruleset (srv)"
table inet lossy {
  chain in { type filter hook input priority 0; udp dport 4433 numgen random mod 10 == 0 counter drop; }
}
NFT
in_ns c1 nft -f - <<'NFT' || e2e_fail "nft ruleset (c1)"
table inet lossy {
  chain in { type filter hook input priority 0; udp sport 4433 numgen random mod 10 == 0 counter drop; }
}
NFT
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
E2E_READY_SECS=30 e2e_up c1   # through 10% loss: handshake retransmissions
sid=$(e2e_json c1 session_id)
e2e_log "connected through 10% loss"

e2e_transfer srv c1 10.99.0.1 5001 5000000 120 &
xfer=$!
bad=0
while kill -0 $xfer 2>/dev/null; do
  [ "$(e2e_json c1 state)" = connected ] || bad=$((bad + 1))
  sleep 0.5   # sampling the state while the transfer runs (bounded by its timeout)
done
wait $xfer || e2e_fail "transfer failed or sha256 mismatch under loss"
e2e_log "5 MB transfer under loss: sha256 matches"
[ $bad -eq 0 ] || e2e_fail "tunnel left connected $bad times during the transfer"
[ "$(e2e_json c1 session_id)" = "$sid" ] || e2e_fail "session replaced under loss"
drops=$( (in_ns srv nft list table inet lossy; in_ns c1 nft list table inet lossy) | grep -o 'packets [0-9]*' | awk '{s+=$2} END {print s+0}')
pkts=$(e2e_status c1 | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["packets_in"] + s["packets_out"])')
e2e_log "tunnel packets delivered: $pkts; datagrams dropped by nftables: $drops"
[ "$drops" -gt 100 ] || e2e_fail "loss rule dropped only $drops packets"
e2e_log "nftables dropped $drops datagrams; same session, state connected throughout"
exit 0
