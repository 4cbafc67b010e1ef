#!/usr/bin/env bash
# [cluster] as a company runs it (issue 18, docs/cluster.md): a 3-member etcd cluster, three ptun
# servers on a backbone network, a company host behind them and two clients on a WAN that reaches
# every server. Checks: the clients get distinct addresses from the shared pool; each server routes
# the other servers' clients over the backbone, so the company host (which routes the whole pool
# to s1) reaches every client and clients on different servers reach each other; etcd's leader
# killed changes nothing (a new handshake during the election still gets in); a killed server's client is back on another
# server with the same addresses (the time is reported), the company network re-pointed at another
# server reaches it again, a TCP transfer works, and the dead server's routes go from the others;
# the killed server restarted removes the routes its crash left; stopped servers leave none.
#
#   [c1] 198.18.0.1 ─┐                    ┌─ 198.18.2.11 [s1] ─┐
#   [c2] 198.18.0.2 ─┼─ wan (bridge) ─────┼─ 198.18.2.12 [s2] ─┼─ bb (bridge) ─ 198.18.2.1-3 [etcd ×3]
#                    └ 198.18.0.11-13 ────┘  198.18.2.13 [s3] ─┘                198.18.2.100 [corp]
#   tunnel pool 10.99.0.0/24 on every server; corp routes the pool to s1.
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need etcd etcdctl
for n in wan bb etcd corp s1 s2 s3 c1 c2 c3; do e2e_ns "$n"; done
e2e_do wan ip link add br0 type bridge
e2e_do wan ip link set br0 up
e2e_do bb ip link add br0 type bridge
e2e_do bb ip link set br0 up

# port NS BRIDGE_NS ADDR...: a veth from NS into BRIDGE_NS's br0, with ADDRs on NS's end.
nport=0
port() {
  local n=$1 br=$2; shift 2
  nport=$((nport + 1))
  local a="e$$p${nport}a" b="e$$p${nport}b"
  ip link add "$a" netns "$(ns "$n")" type veth peer name "$b" netns "$(ns "$br")" || e2e_fail "veth $n-$br"
  e2e_do "$br" ip link set "$b" master br0 up
  local addr
  for addr in "$@"; do e2e_do "$n" ip addr add "$addr" dev "$a"; done
  e2e_do "$n" ip link set "$a" up
  PORT_IF=$a
}
port c1 wan 198.18.0.1/24
c1_wan=$PORT_IF
port c2 wan 198.18.0.2/24
port c3 wan 198.18.0.3/24
port etcd bb 198.18.2.1/24 198.18.2.2/24 198.18.2.3/24
port corp bb 198.18.2.100/24
e2e_do corp ip route add 10.99.0.0/24 via 198.18.2.11
for i in 1 2 3; do
  port s$i wan 198.18.0.1$i/24
  port s$i bb 198.18.2.1$i/24
  e2e_do s$i sysctl -qw net.ipv4.ip_forward=1
done
e2e_pki c1 c2 c3

# etcd: three members, one namespace, one address each.
cluster="e1=http://198.18.2.1:2380,e2=http://198.18.2.2:2380,e3=http://198.18.2.3:2380"
endpoints='"http://198.18.2.1:2379", "http://198.18.2.2:2379", "http://198.18.2.3:2379"'
declare -A etcd_pid
start_etcd() {
  local i=$1
  etcd_pid[$i]=$(e2e_bg etcd etcd$i etcd --name e$i --data-dir "$E2E_DIR/etcd$i" \
    --listen-client-urls http://198.18.2.$i:2379 --advertise-client-urls http://198.18.2.$i:2379 \
    --listen-peer-urls http://198.18.2.$i:2380 --initial-advertise-peer-urls http://198.18.2.$i:2380 \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$E2E_ID")
  E2E_PIDS+=("${etcd_pid[$i]}")
}
for i in 1 2 3; do start_etcd $i; done
ectl() { in_ns etcd etcdctl --endpoints http://198.18.2.1:2379,http://198.18.2.2:2379,http://198.18.2.3:2379 "$@"; }
e2e_wait_for 20 ectl endpoint health || e2e_fail "etcd cluster not healthy within 20 s: $(ectl endpoint health 2>&1)"
members=$(ectl member list | wc -l)
[ "$members" = 3 ] || e2e_fail "etcd has $members members, want 3"

e2e_server_config 'included_routes = ["198.18.2.0/24"]'
# The quickest dead-peer detection the config allows (as test_cluster_leases): keepalive 1 s, dead
# peer after 2 s of silence.
sed -i -e 's/^keepalive_secs = .*/keepalive_secs = 1/' -e 's/^dead_peer_secs = .*/dead_peer_secs = 2/' "$E2E_DIR/server.toml"
declare -A spid
for i in 1 2 3; do
  e2e_cluster_server_config s$i "$endpoints" "grace_secs = 60
timeout_ms = 1000
backbone = [\"198.18.2.1$i\"]"
  E2E_NS=s$i e2e_start server s$i
  spid[$i]=$E2E_PID
done

client() {   # client NAME FIRST_SERVER_INDEX: server list starting there, then the others in order
  local name=$1 first=$2 list="" i
  for i in $first 1 2 3; do [[ "$list" == *"198.18.0.1$i:"* ]] || list+="\"198.18.0.1$i:4433\", "; done
  e2e_client_config "$name" 198.18.0.1$first:4433
  sed -i "s/^server = .*/server = [${list%, }]/" "$E2E_DIR/$name.toml"
  e2e_start client "$name"
}
client c1 1
client c2 2
a1=$(e2e_json c1 addresses); a2=$(e2e_json c2 addresses)
e2e_log "c1 on s1: $a1; c2 on s2: $a2"
[[ "$a1" == *10.99.0.* && "$a2" == *10.99.0.* ]] || e2e_fail "no pool addresses: c1 $a1, c2 $a2"
[ "$a1" != "$a2" ] || e2e_fail "c1 and c2 got the same addresses: $a1"
in_ns c1 ping -c 2 -i 0.2 -W 2 198.18.2.100 >/dev/null || e2e_fail "c1 (on s1) cannot reach the company host"
for i in 1 2 3; do
  rec=$(ectl get /ptun/peers/c$i --print-value-only)
  [ $i = 3 ] && { [ -z "$rec" ] || e2e_fail "c3 has a record before it connected: $rec"; continue; }
  [[ "$rec" == *"\"server\":\"s$i\""* && "$rec" == *'"active":true'* ]] || e2e_fail "etcd record of c$i: $rec"
done

# Backbone routes: each server routes the other's client via its backbone address.
bb_routes() { in_ns "$1" ip -4 route show proto 113; }
ip1=${a1#*\'}; ip1=${ip1%%/*}
ip2=${a2#*\'}; ip2=${ip2%%/*}
e2e_wait_for 5 bash -c "ip -n $(ns s1) -4 route show proto 113 | grep -q '^$ip2 via 198.18.2.12 '" \
  || e2e_fail "s1 has no backbone route to c2 ($ip2): $(bb_routes s1)"
e2e_wait_for 5 bash -c "ip -n $(ns s2) -4 route show proto 113 | grep -q '^$ip1 via 198.18.2.11 '" \
  || e2e_fail "s2 has no backbone route to c1 ($ip1): $(bb_routes s2)"
e2e_log "s3's backbone routes: $(bb_routes s3 | tr '\n' ';')"
# Forwarding back out through the backbone must not teach the company host redirects that outlive
# a client's move (a stale one stalled a transfer for good): the servers send none.
for s in s1 s2 s3; do
  [ "$(in_ns $s sysctl -n net.ipv4.conf.all.send_redirects)" = 0 ] || e2e_fail "$s still sends ICMP redirects"
done
in_ns c2 ping -c 2 -i 0.2 -W 2 198.18.2.100 >/dev/null || e2e_fail "c2 (on s2) cannot reach the company host (routed to s1)"
in_ns c1 ping -c 2 -i 0.2 -W 2 "$ip2" >/dev/null || e2e_fail "c1 (on s1) cannot reach c2 (on s2) at $ip2"
in_ns corp ping -c 2 -i 0.2 -W 2 "$ip2" >/dev/null || e2e_fail "the company host cannot reach c2 through s1"

# One etcd member down, the worst one (the leader: the others hold an election): nothing changes.
# A new handshake at that moment (c3, on s3, the first server of its list) is answered by s3 with
# addresses, and the tunnels that exist carry on.
leader=$(ectl endpoint status -w json | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["Status"]["leader"] == e["Status"]["header"]["member_id"]: print(e["Endpoint"].split(":")[1][-1])')
[[ "$leader" =~ ^[123]$ ]] || e2e_fail "no etcd leader found: $(ectl endpoint status 2>&1)"
kill -KILL "${etcd_pid[$leader]}"
e2e_wait_exit "${etcd_pid[$leader]}" || e2e_fail "etcd member $leader did not die"
client c3 3
a3=$(e2e_json c3 addresses)
e2e_log "c3 with etcd's leader (member $leader) just killed: $a3 from $(e2e_json c3 endpoint)"
[[ "$a3" == *10.99.0.* ]] && [ "$a3" != "$a1" ] && [ "$a3" != "$a2" ] || e2e_fail "c3 got '$a3' (c1 $a1, c2 $a2)"
[ "$(e2e_json c3 endpoint)" = 198.18.0.13:4433 ] \
  || e2e_fail "s3 did not take c3 while etcd elected a new leader (c3 is on $(e2e_json c3 endpoint)): $(grep c3 "$E2E_DIR/s3.log" | tail -3)"
in_ns c1 ping -c 2 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1's tunnel broke when etcd's leader died"
start_etcd "$leader"
e2e_wait_for 20 ectl endpoint health || e2e_fail "etcd member $leader did not rejoin: $(ectl endpoint health 2>&1)"

# s1 dies (SIGKILL: no CLOSE, no release) in the middle of a TCP transfer from c1 to the company
# host (c1's WAN link paced to 40 Mbit/s so that it lasts): c1 is back on another server with the
# same addresses, the company network re-points the pool at s3 (its router's job when s1 went
# away), s3 routes c1 over the backbone to wherever it landed, and the transfer resumes.
e2e_do c1 tc qdisc add dev "$c1_wan" root tbf rate 40mbit burst 32kbit latency 200ms
e2e_transfer corp c1 198.18.2.100 5001 40000000 90 &
xfer=$!
sleep 2
kill -0 $xfer 2>/dev/null || e2e_fail "the transfer ended before s1 was killed (too fast to test a resume)"
t0=$(date +%s.%N)
kill -KILL "${spid[1]}"
e2e_do corp ip route replace 10.99.0.0/24 via 198.18.2.13
e2e_wait_for 20 bash -c "\"$E2E_PTUN\" status --json -s \"$(e2e_sock c1)\" | grep -q '\"endpoint\": \"198.18.0.1[23]:4433\"'" \
  || e2e_fail "c1 did not fail over within 20 s"
e2e_wait_connected c1 10 || e2e_fail "c1 not connected after the failover"
t1=$(date +%s.%N)
b1=$(e2e_json c1 addresses)
e2e_log "c1 failed over in $(python3 -c "print(round($t1 - $t0, 2))") s to $(e2e_json c1 endpoint): $b1"
# The 5 s goal is asserted in test_cluster_leases (two servers); here, with three and a transfer
# under way, the bound is looser and the time is reported.
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 8 else 1)" || e2e_fail "failover took over 8 s"
[ "$b1" = "$a1" ] || e2e_fail "c1's addresses changed with the server: $a1 -> $b1"
wait $xfer || e2e_fail "the TCP transfer c1 -> company host did not survive the failover (or sha256 mismatch)"
t_x=$(date +%s.%N)
e2e_log "40 MB transfer across the failover completed $(python3 -c "print(round($t_x - $t0, 1))") s after the kill, sha256 matches"
now_on=$(e2e_json c1 endpoint); now_on=${now_on%:4433}; now_on=${now_on##*.}   # 12 or 13
in_ns corp ping -c 2 -i 0.2 -W 2 "$ip1" >/dev/null || e2e_fail "the company host cannot reach c1 (on 198.18.0.$now_on) through s3"
in_ns c2 ping -c 2 -i 0.2 -W 2 "$ip1" >/dev/null || e2e_fail "c2 cannot reach c1 after c1's failover"
# s1's server record expires with its etcd lease (TTL 10 s) and nobody routes to s1 any more.
e2e_wait_for 20 bash -c "[ -z \"\$(ip netns exec $(ns etcd) etcdctl --endpoints http://198.18.2.1:2379 get /ptun/servers/s1 --keys-only)\" ]" \
  || e2e_fail "s1's server record did not expire: $(ectl get /ptun/servers/s1)"
t2=$(date +%s.%N)
e2e_log "s1's server record gone $(python3 -c "print(round($t2 - $t0, 1))") s after its death"
for s in s2 s3; do
  e2e_wait_for 20 bash -c "! ip -n $(ns $s) route show proto 113 | grep -q 'via 198.18.2.11 '" \
    || e2e_fail "$s still routes to the dead s1: $(bb_routes $s)"
done
e2e_log "after s1's death: s2: $(bb_routes s2 | tr '\n' ';') s3: $(bb_routes s3 | tr '\n' ';')"

# s1 comes back: the routes its crash left in its namespace are found and replaced.
left=$(bb_routes s1)
[ -n "$left" ] || e2e_fail "s1's crash left no backbone routes (nothing to test the cleanup with)"
E2E_NS=s1 E2E_LOG=s1-again e2e_start server s1
spid[1]=$E2E_PID
grep -q "removed [0-9]* backbone routes left by an earlier run" "$E2E_DIR/s1-again.log" \
  || e2e_fail "s1 did not clean up after its crash: $(grep backbone "$E2E_DIR/s1-again.log")"
e2e_wait_for 5 bash -c "ip -n $(ns s1) -4 route show proto 113 | grep -q '^$ip1 via 198.18.2.$now_on '" \
  || e2e_fail "restarted s1 does not route c1 to 198.18.2.$now_on: $(bb_routes s1)"
in_ns s1 ip -4 route show proto 113 | grep -q "via 198.18.2.11 " && e2e_fail "s1 routes to itself: $(bb_routes s1)"

# Stopped servers take their routes and records with them.
for i in 1 2 3; do e2e_stop "${spid[$i]}" || e2e_fail "s$i did not stop"; done
for s in s1 s2 s3; do
  [ -z "$(in_ns $s ip route show proto 113; in_ns $s ip -6 route show proto 113)" ] || e2e_fail "$s left backbone routes: $(bb_routes $s)"
done
# (s1 crashed once: like ip_forward, the value it found at its restart was its own, so it stays 0)
for s in s2 s3; do
  [ "$(in_ns $s sysctl -n net.ipv4.conf.all.send_redirects)" = 1 ] || e2e_fail "$s did not restore send_redirects"
done
left=$(ectl get --prefix /ptun/servers/ --keys-only)
[ -z "$left" ] || e2e_fail "server records left in etcd after every server stopped: $left"
exit 0
