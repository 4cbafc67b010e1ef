#!/usr/bin/env bash
# [cluster] (issue 18 item 6, docs/cluster.md): etcd goes away. The tunnel that exists goes on
# carrying traffic; a new client is refused with a reason that names etcd (client status, server
# log, the `cluster` block of the server's status); etcd comes back (same data) and the refused
# client gets in by itself, no restart of anything.
#
#          [etcd] 198.18.1.1 ==== 198.18.1.2 [s1] 198.18.0.2 ==== 198.18.0.1 [c1]
#                                            [s1] 198.18.0.6 ==== 198.18.0.5 [c2]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need etcd etcdctl
e2e_ns etcd; e2e_ns s1; e2e_ns c1; e2e_ns c2
e2e_link etcd s1 198.18.1.1/30 198.18.1.2/30
e2e_link c1 s1 198.18.0.1/30 198.18.0.2/30
e2e_link c2 s1 198.18.0.5/30 198.18.0.6/30
e2e_pki c1 c2

start_etcd() {
  pid_etcd=$(e2e_bg etcd etcd etcd --data-dir "$E2E_DIR/etcd-data" \
    --listen-client-urls http://198.18.1.1:2379 --advertise-client-urls http://198.18.1.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380)
  e2e_wait_for 15 in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 endpoint health || e2e_fail "etcd not healthy within 15 s"
}
start_etcd
cluster() { "$E2E_PTUN" status --json -s "$E2E_DIR/run/s1.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster"][sys.argv[1]])' "$1"; }

e2e_server_config
e2e_cluster_server_config s1 '"http://198.18.1.1:2379"' "timeout_ms = 500
session_ttl_secs = 5
poll_ms = 250"
E2E_NS=s1 e2e_start server s1
[ "$(cluster state)" = ok ] || e2e_fail "cluster state at start: $(cluster state)"
e2e_client_config c1 198.18.0.2:4433
e2e_start client c1
in_ns c1 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through s1"

# etcd dies.
e2e_stop "$pid_etcd" KILL || e2e_fail "etcd did not die"
e2e_wait_for 5 bash -c "[ \"\$(\"$E2E_PTUN\" status --json -s \"$E2E_DIR/run/s1.sock\" | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"cluster\"][\"state\"])')\" = unreachable ]" \
  || e2e_fail "s1 does not report etcd unreachable: $(cluster state)"
grep -q "cluster: etcd unreachable (.*): existing sessions go on, new sessions are refused" "$E2E_DIR/s1.log" \
  || e2e_fail "s1 did not log the outage: $(grep cluster "$E2E_DIR/s1.log" | tail -3)"
"$E2E_PTUN" status -s "$E2E_DIR/run/s1.sock" | grep -q "^  cluster: *unreachable" \
  || e2e_fail "ptun status does not show the cluster state: $("$E2E_PTUN" status -s "$E2E_DIR/run/s1.sock")"
[ -n "$(cluster last_error)" ] || e2e_fail "no last_error in the cluster block"
in_ns c1 ping -c 3 -i 0.3 -W 2 10.99.0.1 >/dev/null || e2e_fail "the existing tunnel stopped carrying traffic with etcd down"

e2e_client_config c2 198.18.0.6:4433
E2E_READY=answers e2e_start client c2
pid_c2=$E2E_PID
e2e_wait_for 10 grep -q "refused peer 'c2': cluster: etcd unreachable" "$E2E_DIR/s1.log" \
  || e2e_fail "s1 did not refuse c2 naming etcd: $(tail -5 "$E2E_DIR/s1.log")"
e2e_wait_for 5 bash -c "\"$E2E_PTUN\" status --json -s \"$E2E_DIR/run/c2.sock\" | grep -q 'etcd unreachable'" \
  || e2e_fail "c2's status does not say why it was refused: $(e2e_status c2)"
e2e_status c2 | grep -q '"state": "connected"' && e2e_fail "c2 connected with etcd down"
e2e_log "with etcd down: c1 pings, c2 refused: $(e2e_status c2 | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("reason"), "/", j.get("detail"))')"
sleep 6   # longer than session_ttl_secs: s1's lease expires with etcd down (etcd restarts it on return)
in_ns c1 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "the existing tunnel stopped after the TTL"

# etcd is back: everything heals by itself.
t0=$(date +%s.%N)
start_etcd
e2e_wait_connected c2 20 || e2e_fail "c2 not connected after etcd came back: $(e2e_status c2)"
t1=$(date +%s.%N)
e2e_log "c2 connected $(python3 -c "print(round($t1 - $t0, 2))") s after etcd was started again"
[ "$(cluster state)" = ok ] || e2e_fail "cluster state after etcd's return: $(cluster state)"
grep -q "cluster: etcd answers again after" "$E2E_DIR/s1.log" || e2e_fail "s1 did not log the recovery"
in_ns c2 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic from c2"
in_ns c1 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic from c1 after the recovery"
for c in c1 c2; do
  e2e_wait_for 5 bash -c "ip netns exec $(ns etcd) etcdctl --endpoints http://198.18.1.1:2379 get /ptun/sessions/$c --print-value-only | grep -q '\"server\":\"s1\"'" \
    || e2e_fail "no session record of $c after the recovery: $(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get --prefix /ptun/sessions/)"
done
exit 0
