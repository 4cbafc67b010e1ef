#!/usr/bin/env bash
# Two clients side by side in one namespace (issue 19, findings 7 and 8):
#  - c1 (ptun0, kill switch) and c2 (ptun1, its own routing table, enforce_routes) each get their own
#    nftables table (ptun_ptun0, ptun_ptun1) and state; stopping one leaves the other's table,
#    rules and connection exactly as they were;
#  - a reload that moves c1 to another server updates the kill switch atomically: the new server
#    is let through (and the old one no longer), c1 reconnects, traffic flows.
#   [srv] 198.18.0.2 ==veth== 198.18.0.1 [c1: ptun0 + ptun1] 198.18.0.5 ==veth== 198.18.0.6 [srv2]
#   (srv2: a second server of the same CA and pool, as a failover host would be)
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need nft
e2e_ns srv; e2e_ns c1; e2e_ns srv2
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link c1 srv2 198.18.0.5/30 198.18.0.6/30
e2e_pki c1 c2
e2e_server_config
sed -e "s#/run/server.sock#/run/server2.sock#; s#state-server#state-server2#" "$E2E_DIR/server.toml" >"$E2E_DIR/server2.toml"
e2e_client_config c1 198.18.0.2:4433 '
[protocol]
include_all_networks = true'
# c2 shares c1's fwmark: c1's kill switch lets ptun's marked datagrams to the server through.
e2e_client_config c2 198.18.0.2:4433 '
table = 7075
[routes]
include = ["10.99.0.0/24"]
[protocol]
enforce_routes = true'
sed -i 's/^interface = "ptun0"/interface = "ptun1"/' "$E2E_DIR/c2.toml"
e2e_up
E2E_NS=srv2 e2e_start server server2
E2E_NS=c1 e2e_start client c1
c1pid=$E2E_PID
E2E_NS=c1 e2e_start client c2
c2pid=$E2E_PID
tables=$(in_ns c1 nft list tables) || e2e_fail "nft list tables"
echo "$tables" | has 'table inet ptun_ptun0$' || e2e_fail "no table for ptun0: $tables"
echo "$tables" | has 'table inet ptun_ptun1$' || e2e_fail "no table for ptun1: $tables"
in_ns c1 nft list table inet ptun_ptun0 | has 'policy drop' || e2e_fail "ptun0: no kill switch"
in_ns c1 nft list table inet ptun_ptun1 | has 'oifname != "ptun1"' || e2e_fail "ptun1: no enforce_routes rules"
e2e_log "two instances: tables ptun_ptun0 (kill switch) and ptun_ptun1 (enforce_routes)"

# Stopping c2 removes its table and rules only.
ruleset() { in_ns c1 nft list table inet "$1" | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'; }
ks_before=$(ruleset ptun_ptun0)
"$E2E_PTUN" stop -s "$(e2e_sock c2)" || e2e_fail "ptun stop c2"
e2e_wait_exit "$c2pid" || e2e_fail "c2 did not exit"
in_ns c1 nft list table inet ptun_ptun1 >/dev/null 2>&1 && e2e_fail "c2 left its table"
in_ns c1 ip rule | has 7075 && e2e_fail "c2 left its policy rules"
[ "$(ruleset ptun_ptun0)" = "$ks_before" ] || e2e_fail "stopping c2 changed c1's kill switch"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "c1 left connected when c2 stopped"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1: no traffic after c2 stopped"
e2e_log "c2 stopped: its table and rules gone, c1's kill switch unchanged and c1 still carries traffic"

# Reload c1 to the second server: the kill switch follows the server.
in_ns c1 nft list table inet ptun_ptun0 | has '198.18.0.2' || e2e_fail "kill switch does not let the server through"
sed -i 's/^server = .*/server = "198.18.0.6:4433"/' "$E2E_DIR/c1.toml"
"$E2E_PTUN" reload -s "$(e2e_sock c1)" || e2e_fail "reload c1"
e2e_wait_for 20 sh -c "'$E2E_PTUN' status --json -s '$(e2e_sock c1)' | grep -q '\"endpoint\": \"198.18.0.6:4433\"'" \
  || e2e_fail "c1 did not take the new server"
e2e_wait_connected c1 20 || e2e_fail "c1 did not reconnect to the new server through its kill switch"
ks=$(in_ns c1 nft list table inet ptun_ptun0)
echo "$ks" | has '198.18.0.6' || e2e_fail "kill switch does not let the new server through: $ks"
echo "$ks" | has '198.18.0.2' && e2e_fail "kill switch still lets the old server through: $ks"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1: no traffic after the reload"
e2e_log "reload to 198.18.0.6: kill switch updated atomically, reconnected, traffic flows"

"$E2E_PTUN" stop -s "$(e2e_sock c1)" || e2e_fail "ptun stop c1"
e2e_wait_exit "$c1pid" || e2e_fail "c1 did not exit"
in_ns c1 nft list tables | has ptun && e2e_fail "tables left after both stopped: $(in_ns c1 nft list tables)"
exit 0
