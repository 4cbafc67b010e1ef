#!/usr/bin/env bash
# Per-app VPN, mode "except" (split tunnelling by app), with a rule the kernel can enforce (uid)
# and one it cannot (an executable path):
#
#   [c1] 198.18.0.1/30 ==veth== 198.18.0.2/30 [srv]   198.19.1.1/32 on srv's loopback (the target)
#        default via 198.18.0.2                       tunnel 10.99.0.0/24, client route 0.0.0.0/0
#
#   alpha (uid 1001, no rule)           -> through the tunnel (server sees 10.99.0.x)
#   gamma (uid 1003, rule by uid)       -> around the tunnel: marked by nftables, routed and
#                                          masqueraded over the underlay (server sees 198.18.0.1)
#   beta  (uid 1002, rule by exe path)  -> the kernel cannot match paths, so its flow reaches the
#                                          TUN: ptun attributes it, drops and counts it (never
#                                          re-injected); the server never sees beta
# `ptun flows` names each executable: alpha's flow verdict "tunnel", beta's "drop".
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
alpha=$(e2e_apps_exe app-alpha)
beta=$(e2e_apps_exe app-beta)
gamma=$(e2e_apps_exe app-gamma)
cp "$here/apps_probe.py" "$E2E_DIR/probe.py"; chmod 644 "$E2E_DIR/probe.py"
e2e_client_config c1 198.18.0.2:4433 "
[routes]
include = [\"0.0.0.0/0\"]

[[app_rule]]
name = \"beta\"
mode = \"except\"
path = \"$beta\"

[[app_rule]]
name = \"gamma\"
mode = \"except\"
uid = 1003
"
e2e_up c1
e2e_bg srv listener python3 "$E2E_DIR/probe.py" serve 198.19.1.1 7000 "$E2E_DIR/seen" 40 >/dev/null
e2e_listening srv tcp 7000

# check_flows: in $flows, alpha's flow goes through the tunnel with data back, beta's is dropped.
check_flows() {
  echo "$flows" | python3 -c '
import json, sys
alpha, beta, gamma = sys.argv[1:4]
j = json.load(sys.stdin)
fl = {f.get("exe"): f for f in j["flows"] if f["dst"] == "198.19.1.1" and f["dport"] == 7000}
assert fl[alpha]["verdict"] == "tunnel" and fl[alpha]["uid"] == 1001, j
assert fl[alpha]["bytes_in"] > 0, j
b = fl[beta]
assert b["verdict"] == "drop" and b["uid"] == 1002 and b["dropped"] >= 1 and b["bytes_in"] == 0, j
assert gamma not in fl, j
assert j["drop_app_rule"] >= 1, j
' "$alpha" "$beta" "$gamma"
}
# (taken once gamma has reached the target: had its flow entered the tunnel, the list would show it)
flows_now() { has ' gamma$' "$E2E_DIR/seen" && flows=$(e2e_flows c1) && check_flows; }
e2e_apps_as c1 1001 "$alpha" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 alpha 4 5 &
pa=$!
e2e_apps_as c1 1003 "$gamma" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 gamma 4 5 &
pg=$!
e2e_apps_as c1 1002 "$beta" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 beta 0 3 &
pb=$!
flows=""
e2e_wait_for 3 flows_now   # while alpha and gamma hold their connections (4 s); checked below
wait $pa || e2e_fail "alpha could not talk to the target"
wait $pg || e2e_fail "gamma could not talk to the target"
wait $pb && e2e_fail "beta got through although its rule excludes it from the tunnel"
cat "$E2E_DIR/seen" >&2
grep -Eq '^10\.99\.0\.[0-9]+ alpha$' "$E2E_DIR/seen" || e2e_fail "alpha did not arrive through the tunnel"
grep -q '^198.18.0.1 gamma$' "$E2E_DIR/seen" || e2e_fail "gamma did not arrive over the underlay"
grep -q ' beta$' "$E2E_DIR/seen" && e2e_fail "beta reached the server"
e2e_log "alpha through the tunnel, gamma (uid rule) around it, beta (path rule) dropped"

check_flows || e2e_fail "flow list: $flows"
e2e_log "ptun flows: alpha's flow 'tunnel', beta's flow 'drop', each with its executable"
e2e_status c1 | python3 -c '
import json, sys
s = json.load(sys.stdin)["apps"]
b = [x for x in s["apps"] if x["app"].startswith(sys.argv[1])]
assert s["mode"] == "except" and b and b[0]["dropped"] >= 1 and b[0]["bytes_out"] == 0, s
' "$beta" || e2e_fail "per-app drop counters in status"
e2e_log "drops counted per app in status"
exit 0
