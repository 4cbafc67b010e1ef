#!/usr/bin/env bash
# [cluster] (issue 18, docs/cluster.md): two ptun servers share their address leases in a real
# etcd. A client gets its addresses on server 1; server 1 is killed; the client fails over to
# server 2 and gets the same addresses there (from etcd: server 2 has never seen it and its own
# state_dir is empty). A second client on server 2 gets other addresses.
#
#          [etcd] 198.18.1.1 ==== 198.18.1.2 [s1] 198.18.0.2 ==== 198.18.0.1 [c1]
#                 198.18.1.5 ==== 198.18.1.6 [s2] 198.18.0.6 ==== 198.18.0.5 [c1]
#                                            [s2] 198.18.0.10 === 198.18.0.9 [c2]
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need etcd etcdctl
e2e_ns etcd; e2e_ns s1; e2e_ns s2; e2e_ns c1; e2e_ns c2
e2e_link etcd s1 198.18.1.1/30 198.18.1.2/30
e2e_link etcd s2 198.18.1.5/30 198.18.1.6/30
e2e_link c1 s1 198.18.0.1/30 198.18.0.2/30
e2e_link c1 s2 198.18.0.5/30 198.18.0.6/30
e2e_link c2 s2 198.18.0.9/30 198.18.0.10/30
e2e_pki c1 c2

e2e_bg etcd etcd etcd --data-dir "$E2E_DIR/etcd-data" \
  --listen-client-urls http://198.18.1.1:2379,http://198.18.1.5:2379 \
  --advertise-client-urls http://198.18.1.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 >/dev/null
e2e_wait_for 15 in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 endpoint health \
  || e2e_fail "etcd not healthy within 15 s"

e2e_server_config
# The quickest dead-peer detection the config allows (docs/cluster.md, failover): keepalive 1 s,
# dead peer after 2 s of silence.
sed -i -e 's/^keepalive_secs = .*/keepalive_secs = 1/' -e 's/^dead_peer_secs = .*/dead_peer_secs = 2/' "$E2E_DIR/server.toml"
for s in s1 s2; do
  etcd_ep=http://198.18.1.1:2379
  [ $s = s2 ] && etcd_ep=http://198.18.1.5:2379
  e2e_cluster_server_config $s "\"$etcd_ep\"" "grace_secs = 60"
  E2E_NS=$s e2e_start server $s
  [ $s = s1 ] && pid_s1=$E2E_PID
done

e2e_client_config c1 198.18.0.2:4433
sed -i 's/^server = .*/server = ["198.18.0.2:4433", "198.18.0.6:4433"]/' "$E2E_DIR/c1.toml"
e2e_start client c1
# libcurl is loaded by a server with [cluster] (dlopen), never mapped into a client (its peak RSS)
grep -q libcurl "/proc/$pid_s1/maps" || e2e_fail "s1 runs [cluster] but has no libcurl mapped"
! grep -q libcurl "/proc/$E2E_PID/maps" || e2e_fail "the client has libcurl mapped: $(grep libcurl "/proc/$E2E_PID/maps" | head -1)"
addr1=$(e2e_json c1 addresses)
e2e_log "c1 on s1: $addr1"
[[ "$addr1" == *10.99.0.* ]] || e2e_fail "c1 has no pool address: $addr1"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through s1"
rec=$(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get /ptun/peers/c1 --print-value-only)
e2e_log "etcd: /ptun/peers/c1 = $rec"
[[ "$rec" == *'"server":"s1"'* && "$rec" == *'"active":true'* ]] || e2e_fail "etcd record of c1: $rec"
grep -q "cluster 's1': addresses from etcd" "$E2E_DIR/s1.log" || e2e_fail "s1 did not log its cluster setup"

# Server 1 dies (no release): c1 moves to s2 and keeps its addresses.
t0=$(date +%s.%N)
kill -KILL "$pid_s1"
e2e_wait_for 20 bash -c "\"$E2E_PTUN\" status --json -s \"$(e2e_sock c1)\" | grep -q '\"endpoint\": \"198.18.0.6:4433\"'" \
  || e2e_fail "c1 did not fail over to s2 within 20 s"
e2e_wait_connected c1 10 || e2e_fail "c1 not connected to s2"
t1=$(date +%s.%N)
addr2=$(e2e_json c1 addresses)
e2e_log "c1 on s2 after $(python3 -c "print(round($t1 - $t0, 2))") s: $addr2"
# Where the time went: the client's dead-peer detection, its retry of the dead server, s2.
grep -E "session ended|attempt failed|client: connected \(" "$E2E_DIR/c1.log" | tail -3 | cut -c1-160 >&2
# Issue 18: back within 5 s (measured 4.07-4.2 s: 2 s of silence, ~0.5 s backoff, 1.5 s for the
# retry of the dead s1, ~50 ms for s2 with its two etcd round trips).
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)" || e2e_fail "failover took $(python3 -c "print(round($t1 - $t0, 2))") s (over 5 s)"
[ "$addr2" = "$addr1" ] || e2e_fail "c1's addresses changed with the server: $addr1 -> $addr2"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic through s2"
rec=$(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get /ptun/peers/c1 --print-value-only)
[[ "$rec" == *'"server":"s2"'* ]] || e2e_fail "etcd record of c1 after the failover: $rec"
[ ! -s "$E2E_DIR/state-s2/leases.json" ] || ! grep -q c1 "$E2E_DIR/state-s2/leases.json" \
  || e2e_fail "s2 wrote c1 into its local leases.json"

# Another peer on s2: other addresses.
e2e_client_config c2 198.18.0.10:4433
e2e_start client c2
addr_c2=$(e2e_json c2 addresses)
e2e_log "c2 on s2: $addr_c2"
if [ -z "$addr_c2" ] || [ "$addr_c2" = "$addr1" ]; then e2e_fail "c2 got '$addr_c2' (c1 has $addr1)"; fi
for a in $(python3 -c "import ast,sys; print(' '.join(x.split('/')[0] for x in ast.literal_eval(sys.argv[1])))" "$addr1"); do
  owner=$(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get "/ptun/leases/$a" --print-value-only)
  [ "$owner" = c1 ] || e2e_fail "etcd lease of $a names '$owner', not c1"
done

# c2 leaves: its record goes under the grace lease (released, not deleted).
e2e_stop "$E2E_PID" || e2e_fail "c2 did not stop"
e2e_wait_for 10 bash -c "ip netns exec $(ns etcd) etcdctl --endpoints http://198.18.1.1:2379 get /ptun/peers/c2 --print-value-only | grep -q '\"active\":false'" \
  || e2e_fail "c2's record not released: $(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get /ptun/peers/c2 -w json)"
lease=$(in_ns etcd etcdctl --endpoints http://198.18.1.1:2379 get /ptun/peers/c2 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease", 0))')
[ "$lease" != 0 ] || e2e_fail "c2's released record has no etcd lease"
exit 0
