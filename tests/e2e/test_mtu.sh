#!/usr/bin/env bash
# Tunnel MTU from the underlay's MTU minus the exact overhead: the server pushes 1500, the client
# lowers it to what one 1500-byte underlay packet carries (20 IP + 8 UDP + 8 ptun + DTLS record),
# and the largest packet that fits crosses the tunnel with DF set; one byte more is refused locally.
#   [c1] 198.18.0.1 ==veth (mtu 1500)== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
sed -i 's/^mtu = 1400/mtu = 1500/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
st=$(e2e_status c1)
cipher=$(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cipher"])')
mtu=$(in_ns c1 cat /sys/class/net/ptun0/mtu)
case "$cipher" in
  *CHACHA20*) want=$((1500 - 20 - 8 - 8 - 29)) ;;
  *AES-128-GCM*) want=$((1500 - 20 - 8 - 8 - 37)) ;;
  *) e2e_fail "unexpected cipher $cipher" ;;
esac
[ "$mtu" = "$want" ] || e2e_fail "TUN MTU $mtu, want $want for $cipher"
e2e_log "TUN MTU $mtu = 1500 - 44 - DTLS overhead ($cipher)"
# The server's TUN has MTU 1500: the reply to the largest request must also fit, so ping it.
in_ns c1 ping -c 2 -W 2 -M do -s $((mtu - 28)) 10.99.0.1 >/dev/null || e2e_fail "largest DF ping ($mtu bytes) lost"
in_ns c1 ping -c 1 -W 1 -M do -s $((mtu - 27)) 10.99.0.1 >/dev/null 2>&1 && e2e_fail "oversized DF ping went through"
e2e_log "a $mtu-byte packet with DF crosses the tunnel; $((mtu + 1)) is refused"
exit 0
