#!/usr/bin/env bash
# On-demand rules: `ptun client` runs as a daemon and follows the network. Rules, first match wins:
#   1. connect    when the route to the server leaves by an ethernet interface
#   2. disconnect when there is no route to the server (interface type "none")
# The client starts with its link down (stays disconnected), a link change brings the tunnel up,
# another takes it down; `ptun down` pauses the rules until `ptun up`.
#   [c1] 198.18.0.1 ==veth (set up/down)== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
dev=$(in_ns c1 ip -o link show type veth | awk -F'[ :@]+' '{print $2}')
e2e_do c1 ip link set "$dev" down
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433 '
[[on_demand]]
action = "connect"
interface_type = "ethernet"

[[on_demand]]
action = "disconnect"
interface_type = "none"'
e2e_up
E2E_READY=answers e2e_start client c1   # it must stay disconnected: wait for its control socket only
cpid=$E2E_PID
# The first evaluation of the rules is logged: after it, the state is the rules' decision.
e2e_wait_for 10 grep -q "on-demand on no network" "$E2E_DIR/c1.log" || e2e_fail "no on-demand evaluation logged"
[ "$(e2e_json c1 state)" = disconnected ] || e2e_fail "connected without a network: $(e2e_status c1)"
e2e_log "no route to the server: disconnected ($(e2e_json c1 on_demand))"

e2e_do c1 ip link set "$dev" up
e2e_wait_connected c1 10 || e2e_fail "link up did not bring the tunnel up: $(e2e_status c1)"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic after on-demand connect"
e2e_log "link up -> connected ($(e2e_json c1 on_demand))"

e2e_do c1 ip link set "$dev" down
e2e_wait_for 10 sh -c "'$E2E_PTUN' status --json -s '$E2E_DIR/run/c1.sock' | grep -q '\"state\": \"disconnected\"'" \
  || e2e_fail "link down did not take the tunnel down: $(e2e_status c1)"
kill -0 "$cpid" || e2e_fail "the daemon exited"
grep -q "disconnecting (on-demand rule)" "$E2E_DIR/c1.log" || e2e_fail "on-demand transition not logged"
e2e_log "link down -> disconnected, daemon still running"

# Manual override: down pauses the rules (a link change does nothing), up resumes.
e2e_do c1 ip link set "$dev" up
e2e_wait_connected c1 10 || e2e_fail "second link up did not connect"
"$E2E_PTUN" down -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun down"
# The client sees the link go and come back (it logs each path change) and stays disconnected.
paths() { grep -c "client: path to 198.18.0.2: .* -> $1" "$E2E_DIR/c1.log"; }
more_paths() { [ "$(paths "$1")" -gt "$2" ]; }
gone=$(paths none); back=$(paths "$dev")
e2e_do c1 ip link set "$dev" down
e2e_wait_for 10 more_paths none "$gone" || e2e_fail "the client did not see the link go down"
e2e_do c1 ip link set "$dev" up
e2e_wait_for 10 more_paths "$dev" "$back" || e2e_fail "the client did not see the link come back"
[ "$(e2e_json c1 state)" = disconnected ] || e2e_fail "rules not paused by ptun down"
"$E2E_PTUN" up -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun up"
e2e_wait_connected c1 10 || e2e_fail "ptun up did not connect"
e2e_log "ptun down paused the rules, ptun up connected"
exit 0
