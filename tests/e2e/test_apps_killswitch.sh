#!/usr/bin/env bash
# Per-app VPN combined with include_all_networks (the kill switch): apps outside the VPN are
# blocked, not leaked.
#
#   [c1] 198.18.0.1/30 ==veth== 198.18.0.2/30 [srv]   198.19.1.1/32 on srv's loopback (the target)
#        default via 198.18.0.2                       tunnel 10.99.0.0/24, client route 0.0.0.0/0
#
# Mode only, uid 1001 matched: alpha (uid 1001) reaches the target through the tunnel; beta
# (uid 1002) is neither tunnelled nor let out over the underlay: its connection fails, the server
# never sees it, and the per-app table's "blocked" counter has counted its packets.
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(dirname "$(realpath "$0")")
e2e_need nft setpriv
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_do c1 ip route add default via 198.18.0.2
e2e_do srv ip addr add 198.19.1.1/32 dev lo
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433 '
[routes]
include = ["0.0.0.0/0"]

[protocol]
include_all_networks = true

[[app_rule]]
name = "alpha"
mode = "only"
uid = 1001
'
alpha=$(e2e_apps_exe app-alpha)
beta=$(e2e_apps_exe app-beta)
cp "$here/apps_probe.py" "$E2E_DIR/probe.py"; chmod 644 "$E2E_DIR/probe.py"
e2e_up c1
e2e_bg srv listener python3 "$E2E_DIR/probe.py" serve 198.19.1.1 7000 "$E2E_DIR/seen" 30 >/dev/null
e2e_listening srv tcp 7000

e2e_apps_as c1 1001 "$alpha" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 alpha 0 5 || e2e_fail "alpha blocked"
e2e_apps_as c1 1002 "$beta" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 beta 0 3 && e2e_fail "beta got out"
cat "$E2E_DIR/seen" >&2
grep -Eq '^10\.99\.0\.[0-9]+ alpha$' "$E2E_DIR/seen" || e2e_fail "alpha did not arrive through the tunnel"
grep -q ' beta$' "$E2E_DIR/seen" && e2e_fail "beta leaked to the server"
blocked=$(in_ns c1 nft list counter inet ptun_ptun0_apps blocked)
[[ "$blocked" =~ packets\ [1-9] ]] || e2e_fail "blocked counter is zero: $blocked"
e2e_log "alpha through the tunnel; beta blocked and counted, not leaked"
exit 0
