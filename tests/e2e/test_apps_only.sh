#!/usr/bin/env bash
# Per-app VPN, mode "only" (Apple's source-application mode), routed by the kernel:
#
#   [c1] 198.18.0.1/30 ==veth== 198.18.0.2/30 [srv]   198.19.1.1/32 on srv's loopback (the target)
#        default via 198.18.0.2                       tunnel 10.99.0.0/24, client route 0.0.0.0/0
#
# Two processes in c1 connect to 198.19.1.1:7000: "alpha" (uid 1001, matched by the only rule)
# and "beta" (uid 1002, not matched). The server's listener records where each came from:
# alpha through the tunnel (a 10.99.0.x source), beta over the underlay (198.18.0.1).
# `ptun flows` names alpha's executable for its flow, beta never enters the tunnel, the per-app
# totals are in `ptun status`, and `ptun down` removes the nftables table.
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

[[app_rule]]
name = "alpha"
mode = "only"
uid = 1001
'
sed -i '1i metrics_listen = "127.0.0.1:9109"' "$E2E_DIR/c1.toml"
"$E2E_PTUN" check-config "$E2E_DIR/c1.toml" >/dev/null || e2e_fail "check-config"
alpha=$(e2e_apps_exe app-alpha)
beta=$(e2e_apps_exe app-beta)
cp "$here/apps_probe.py" "$E2E_DIR/probe.py"; chmod 644 "$E2E_DIR/probe.py"

e2e_up
e2e_start client c1 ${E2E_WRAP:-}
cpid=$E2E_PID
in_ns c1 nft list table inet ptun_ptun0_apps >/dev/null || e2e_fail "per-app nftables table missing"
e2e_log "connected, per-app rules installed"

e2e_bg srv listener python3 "$E2E_DIR/probe.py" serve 198.19.1.1 7000 "$E2E_DIR/seen" 40 >/dev/null
e2e_listening srv tcp 7000
# check_flows: the flow list in $flows has alpha's flow, established, with data both ways.
check_flows() {
  echo "$flows" | python3 -c '
import json, sys
alpha, beta = sys.argv[1], sys.argv[2]
j = json.load(sys.stdin)
fl = [f for f in j["flows"] if f["dst"] == "198.19.1.1" and f["dport"] == 7000]
assert len(fl) == 1, j
f = fl[0]
assert f["exe"] == alpha and f["uid"] == 1001, f
assert f["proto"] == "tcp" and f["state"] == "established" and f["verdict"] == "tunnel", f
assert f["bytes_out"] > 0 and f["bytes_in"] > 0 and f["origin"] == "local", f
assert not any(x.get("exe") == beta for x in j["flows"]), j
' "$alpha" "$beta"
}
# (taken once beta has reached the target: had its flow entered the tunnel, the list would show it)
flows_now() { has ' beta$' "$E2E_DIR/seen" && flows=$(e2e_flows c1) && check_flows; }
e2e_apps_as c1 1001 "$alpha" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 alpha 4 5 &
pa=$!
e2e_apps_as c1 1002 "$beta" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 beta 4 5 &
pb=$!
flows=""
e2e_wait_for 3 flows_now   # while the probes hold their connections (4 s); checked below
wait $pa || e2e_fail "alpha could not talk to the target"
wait $pb || e2e_fail "beta could not talk to the target"
cat "$E2E_DIR/seen" >&2

grep -Eq '^10\.99\.0\.[0-9]+ alpha$' "$E2E_DIR/seen" || e2e_fail "alpha did not arrive through the tunnel"
grep -q '^198.18.0.1 beta$' "$E2E_DIR/seen" || e2e_fail "beta did not arrive over the underlay"
e2e_log "alpha (uid 1001) through the tunnel, beta (uid 1002) over the underlay"

check_flows || e2e_fail "flow list: $flows"
text=$("$E2E_PTUN" flows -s "$E2E_DIR/run/c1.sock")
[[ "$text" == *"app-alpha (uid 1001)"* ]] || e2e_fail "ptun flows text: $text"
e2e_log "ptun flows names $alpha for alpha's flow; beta never entered the tunnel"

e2e_status c1 | python3 -c '
import json, sys
s = json.load(sys.stdin)["apps"]
assert s["mode"] == "only", s
a = [x for x in s["apps"] if x["app"].startswith(sys.argv[1])]
assert a and a[0]["flows"] >= 1 and a[0]["bytes_out"] > 0 and a[0]["bytes_in"] > 0, s
assert s["attribution"]["lookups"] >= 1, s
' "$alpha" || e2e_fail "per-app totals in status"
metrics=$(in_ns c1 python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9109/metrics", timeout=5).read().decode())')
[[ "$metrics" == *"ptun_client_app_sent_bytes_total{app=\"$alpha (uid 1001)\"}"* ]] || e2e_fail "metrics lack per-app totals: $metrics"
e2e_log "per-app totals in status and metrics"

"$E2E_PTUN" down -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun down"
e2e_wait_for 5 sh -c "! ip netns exec $(ns c1) nft list table inet ptun_ptun0_apps" || e2e_fail "nftables table left after ptun down"
"$E2E_PTUN" stop -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun stop"
e2e_wait_exit "$cpid" 3 || e2e_fail "client did not exit"
in_ns c1 nft list table inet ptun_ptun0_apps >/dev/null 2>&1 && e2e_fail "nftables table left behind"
e2e_log "ptun down removed the per-app rules; client stopped"
exit 0
