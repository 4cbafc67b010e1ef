# Shared harness for end-to-end tests in network namespaces. Source it, then call e2e_init.
# Every namespace, process and file a test creates is registered and removed by an EXIT/INT/TERM
# trap, even when the test fails or is interrupted. Tests never touch the machine's own namespace:
# all addresses live in namespaces made here (underlay 198.18.0.0/15 and fd00:18::/64).
set -uo pipefail

E2E_PTUN=${1:-}
E2E_ID="pt$$"
E2E_DIR=""
E2E_NETNS=()
E2E_PIDS=()
E2E_LINKS=0

# A skip (exit 77) is only for what `make test` cannot fix (not root, no TUN or cgroup2 in the
# kernel): said loudly, and listed by scripts/run-tests.sh (through E2E_SKIP_LOG) after the run.
e2e_skip() {
  echo "!!! SKIP (not a pass): $(basename "$0"): $*" >&2
  [ -n "${E2E_SKIP_LOG:-}" ] && echo "$(basename "$0" .sh): $*" >>"$E2E_SKIP_LOG"
  exit 77
}
e2e_fail() { echo "FAIL: $*" >&2; exit 1; }
e2e_log() { echo "--- $*" >&2; }
# e2e_need CMD...: fails naming each missing command; scripts/install-deps.sh installs them all.
e2e_need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || e2e_fail "$c missing: run scripts/install-deps.sh"; done
}

e2e_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  trap '' PIPE   # whoever read our output may be gone (ctest killed): clean up all the same
  # Every process of the test: the registered ones, and anything still living in the test's
  # namespaces (a pid taken with $(e2e_bg ...) is registered in a subshell only).
  local all=("${E2E_PIDS[@]}")
  for ns in "${E2E_NETNS[@]}"; do all+=($(ip netns pids "$ns" 2>/dev/null)); done
  for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${all[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$E2E_DIR" ]; then
    for f in "$E2E_DIR"/*.log; do [ -f "$f" ] && { echo "=== $f (last 40 lines)" >&2; tail -40 "$f" >&2; }; done
  fi
  for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ -n "$E2E_DIR" ] && [ -n "${E2E_KEEP:-}" ] && [ $rc -ne 0 ]; then echo "kept $E2E_DIR (E2E_KEEP)" >&2; elif [ -n "$E2E_DIR" ]; then rm -rf "$E2E_DIR"; fi
  exit $rc
}

e2e_init() {
  [ -n "$E2E_PTUN" ] && [ -x "$E2E_PTUN" ] || e2e_fail "usage: $0 PATH_TO_PTUN"
  [ "$(id -u)" -eq 0 ] || e2e_skip "needs root (network namespaces)"
  e2e_need ip ss ping python3 timeout
  [ -e /dev/net/tun ] || e2e_skip "/dev/net/tun missing (no TUN in this kernel or container)"
  E2E_DIR=$(mktemp -d /tmp/ptun-e2e.XXXXXX)
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

# e2e_ns NAME: create namespace ${E2E_ID}-NAME with loopback up; prints nothing.
e2e_ns() {
  local ns="${E2E_ID}-$1"
  ip netns add "$ns" || e2e_fail "ip netns add $ns"
  E2E_NETNS+=("$ns")
  ip -n "$ns" link set lo up
}
ns() { echo "${E2E_ID}-$1"; }
in_ns() { local n; n=$(ns "$1"); shift; ip netns exec "$n" "$@"; }

# e2e_link A B ADDR_A ADDR_B [ADDR6_A ADDR6_B]: veth between namespaces A and B.
e2e_link() {
  E2E_LINKS=$((E2E_LINKS + 1))
  local a=$1 b=$2 va="e$$l${E2E_LINKS}a" vb="e$$l${E2E_LINKS}b"
  ip link add "$va" netns "$(ns "$a")" type veth peer name "$vb" netns "$(ns "$b")" || e2e_fail "veth"
  e2e_do "$a" ip addr add "$3" dev "$va"
  e2e_do "$b" ip addr add "$4" dev "$vb"
  if [ $# -ge 6 ]; then
    e2e_do "$a" ip addr add "$5" dev "$va" nodad
    e2e_do "$b" ip addr add "$6" dev "$vb" nodad
  fi
  e2e_do "$a" ip link set "$va" up
  e2e_do "$b" ip link set "$vb" up
}
# e2e_do NS CMD...: a setup step in namespace NS that must work: fails the test naming it.
e2e_do() { local n=$1; shift; in_ns "$n" "$@" || e2e_fail "setup step failed in $n: $*"; }

# e2e_bg NS LOGNAME CMD...: start a process in a namespace, in the background, registered for cleanup.
e2e_bg() {
  local n=$1 log=$2; shift 2
  ip netns exec "$(ns "$n")" "$@" >"$E2E_DIR/$log.log" 2>&1 &
  E2E_PIDS+=($!)
  echo $!
}

# e2e_wait_for SECONDS CMD...: poll until CMD succeeds.
e2e_wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
# e2e_wait_exit PID [SECS]: polls (<= SECS, default 5) until PID has exited; returns 1 if it has not.
e2e_wait_exit() {
  local i
  for ((i = 0; i < ${2:-5} * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  ! kill -0 "$1" 2>/dev/null
}
# e2e_stop PID [SIGNAL]: sends SIGNAL (TERM) and waits (<= 5 s) until PID has exited; 1 if it has not.
e2e_stop() { kill -"${2:-TERM}" "$1" 2>/dev/null; e2e_wait_exit "$1"; }
# e2e_listening NS tcp|udp [ADDR:]PORT [SECS]: waits (<= SECS, default 10) until a socket in
# namespace NS is bound to PORT (on ADDR; [V6ADDR]:PORT): a TCP listener, a bound UDP socket; else
# fails. Helpers started with & (sinks, echo servers, http.server, dnsmasq) are waited for so.
e2e_listening() {
  local flag=t filter="sport = :$3"
  [ "$2" = udp ] && flag=u
  [[ "$3" == *:* ]] && filter="src $3"
  e2e_wait_for "${4:-10}" e2e_bound "$1" "$flag" "$filter" || e2e_fail "nothing bound to $2 $3 in $1"
}
e2e_bound() { [ -n "$(in_ns "$1" ss -Hln"$2" "$3")" ]; }

# ---- ptun topology helpers ------------------------------------------------------------------
# Topology used by the tunnel tests:
#
#   [c1] 198.18.0.1/30 ---veth--- 198.18.0.2/30 [srv] 198.18.0.6/30 ---veth--- 198.18.0.5/30 [c2]
#        fd00:18::1/64                fd00:18::2   fd00:19::2/64                 fd00:19::1
#   tunnel: server 10.99.0.1/24 fd99::1/64, clients from the pool

# e2e_pki: a CA, a server certificate "ptun-server" and client certificates c1, c2 in $E2E_DIR/pki.
e2e_pki() {
  "$E2E_PTUN" pki init "$E2E_DIR/pki" >/dev/null || e2e_fail "pki init"
  "$E2E_PTUN" pki issue "$E2E_DIR/pki" ptun-server --server >/dev/null || e2e_fail "pki issue server"
  for n in "$@"; do "$E2E_PTUN" pki issue "$E2E_DIR/pki" "$n" >/dev/null || e2e_fail "pki issue $n"; done
}

# e2e_server_config [EXTRA_TOML]: writes $E2E_DIR/server.toml (EXTRA_TOML goes into [push]; the
# lines of E2E_SERVER_TUNNEL into [tunnel]). Tests that run their own resolver on the server's
# tunnel address set E2E_SERVER_TUNNEL='dns_proxy = "off"' (the proxy would hold its port 53).
e2e_server_config() {
  cat >"$E2E_DIR/server.toml" <<TOML
listen = ["0.0.0.0:4433", "[::]:4433"]
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/ptun-server.crt"
key = "$E2E_DIR/pki/ptun-server.key"
control_socket = "$E2E_DIR/run/server.sock"
state_dir = "$E2E_DIR/state-server"
log_level = "debug"

[tunnel]
interface = "ptun-s0"
mtu = 1400
ipv4_pool = "10.99.0.0/24"
ipv6_pool = "fd99::/64"
${E2E_SERVER_TUNNEL:-}

[push]
keepalive_secs = 2
dead_peer_secs = 6
${1:-}
TOML
}

# e2e_cluster_server_config NAME ENDPOINTS [EXTRA_TOML]: writes $E2E_DIR/NAME.toml, the server.toml
# of e2e_server_config with a control socket and state dir of its own, plus a [cluster] section:
# name = NAME, endpoints = [ENDPOINTS] (quoted URLs, comma-separated), then the EXTRA_TOML lines.
# Fails unless `ptun check-config` accepts it.
e2e_cluster_server_config() {
  local name=$1 endpoints=$2 why
  sed -e "s|run/server.sock|run/$name.sock|" -e "s|state-server|state-$name|" "$E2E_DIR/server.toml" >"$E2E_DIR/$name.toml"
  printf '\n[cluster]\nendpoints = [%s]\nname = "%s"\n%s\n' "$endpoints" "$name" "${3:-}" >>"$E2E_DIR/$name.toml"
  why=$("$E2E_PTUN" check-config "$E2E_DIR/$name.toml" 2>&1) || e2e_fail "ptun check-config $name.toml: $why"
}

# e2e_client_config NAME SERVER_ADDR [EXTRA_TOML]: writes $E2E_DIR/NAME.toml (with E2E_CERT=OTHER:
# OTHER's certificate and key, a second device of the same peer)
e2e_client_config() {
  local name=$1 server=$2
  cat >"$E2E_DIR/$name.toml" <<TOML
server = "$server"
server_name = "ptun-server"
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/${E2E_CERT:-$name}.crt"
key = "$E2E_DIR/pki/${E2E_CERT:-$name}.key"
control_socket = "$E2E_DIR/run/$name.sock"
state_dir = "$E2E_DIR/state-$name"
log_level = "debug"
reconnect_max_secs = 2

[tunnel]
interface = "ptun0"
${3:-}
TOML
}

# e2e_held_back NAME: the client NAME, replaced by another device of its certificate (CLOSE
# replaced), holds back: it connected once only, and it is reasserting.
e2e_held_back() {
  local n
  n=$(grep -c -- "-> connected (" "$E2E_DIR/$1.log")
  [ "$n" = 1 ] || e2e_fail "$1 connected $n times after it was replaced: $(grep -- '-> ' "$E2E_DIR/$1.log" | tail -4)"
  e2e_status "$1" | grep -q '"state": "reasserting"' || e2e_fail "$1 is not reasserting while it holds back: $(e2e_status "$1" | head -5)"
}

# e2e_sock NAME: the control socket of the ptun run from $E2E_DIR/NAME.toml ($E2E_DIR/run/NAME.sock
# when there is no such config).
e2e_sock() {
  local s=""
  [ -f "$E2E_DIR/$1.toml" ] && s=$(sed -n 's/^control_socket = "\(.*\)"$/\1/p' "$E2E_DIR/$1.toml")
  echo "${s:-$E2E_DIR/run/$1.sock}"
}
# e2e_status NAME: the JSON status of a running ptun (NAME as for e2e_sock).
e2e_status() { "$E2E_PTUN" status --json -s "$(e2e_sock "$1")" 2>/dev/null; }

# e2e_start ROLE NAME [PREFIX...]: starts `ptun ROLE -c $E2E_DIR/NAME.toml` (ROLE server or client)
# in the background, in namespace srv for a server and NAME for a client (E2E_NS=other), PREFIX
# before ptun (a wrapper, or "${E2E_NOBODY[@]}" to run it as nobody), output in $E2E_DIR/NAME.log
# (E2E_LOG=other), registered for cleanup; sets E2E_PID. Returns once it is ready: a server answers
# `ptun status` on its control socket (it opens that socket first and serves it only after its
# TUN, addresses and UDP sockets are set up), a client is connected (with E2E_READY=answers: a
# client answers, for one that is meant to stay disconnected). Fails with the log's tail if ptun
# exits first or is not ready within E2E_READY_SECS (20). Call it directly, not in $(...).
e2e_start() {
  local role=$1 name=$2; shift 2
  local n=$name log="$E2E_DIR/${E2E_LOG:-$name}.log" sock want='"state": "connected"' st
  [ "$role" = server ] && n=srv
  n=${E2E_NS:-$n}
  if [ "$role" = server ] || [ "${E2E_READY:-}" = answers ]; then want=''; fi
  sock=$(e2e_sock "$name")
  ip netns exec "$(ns "$n")" "$@" "$E2E_PTUN" "$role" -c "$E2E_DIR/$name.toml" >"$log" 2>&1 &
  E2E_PID=$!
  E2E_PIDS+=($!)
  local end=$((SECONDS + ${E2E_READY_SECS:-20}))
  while :; do
    st=$("$E2E_PTUN" status --json -s "$sock" 2>/dev/null) && [[ "$st" == *"$want"* ]] && return 0
    kill -0 "$E2E_PID" 2>/dev/null || { tail -20 "$log" >&2; e2e_fail "ptun $role $name exited before it was ready"; }
    [ $SECONDS -lt $end ] || { tail -20 "$log" >&2; e2e_fail "ptun $role $name not ready within ${E2E_READY_SECS:-20} s: ${st:-no answer}"; }
    sleep 0.1
  done
}
# e2e_up [CLIENT...]: the usual start: the server from $E2E_DIR/server.toml (E2E_SERVER_PID), then
# each CLIENT from $E2E_DIR/CLIENT.toml in its namespace, each ready before the next starts.
e2e_up() {
  e2e_start server server
  E2E_SERVER_PID=$E2E_PID
  local c
  for c in "$@"; do e2e_start client "$c"; done
}

# e2e_wait_connected NAME SECONDS: polls until the client NAME is connected (after a restart, ...).
e2e_wait_connected() {
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    e2e_status "$1" | grep -q '"state": "connected"' && return 0
    sleep 0.2
  done
  return 1
}

# --- userspace
# e2e_userspace_prepare: lets an unprivileged user (65534) read the PKI and use $E2E_DIR/us
# (its control socket and state dir), as a container user without NET_ADMIN would.
e2e_userspace_prepare() {
  chmod 755 "$E2E_DIR"
  chmod 755 "$E2E_DIR/pki"
  chmod a+r "$E2E_DIR"/pki/*.crt
  local k
  for k in "$E2E_DIR"/pki/*.key; do
    case "$k" in */ptun-server.key|*/ca.key) ;; *) chown 65534:65534 "$k" ;; esac
  done
  mkdir -p "$E2E_DIR/us" && chown 65534:65534 "$E2E_DIR/us"
}
# e2e_userspace_client_config NAME SERVER_ADDR [EXTRA_TOML]: a mode = "userspace" client config.
e2e_userspace_client_config() {
  local name=$1 server=$2
  cat >"$E2E_DIR/$name.toml" <<TOML
server = "$server"
server_name = "ptun-server"
ca = "$E2E_DIR/pki/ca.crt"
cert = "$E2E_DIR/pki/$name.crt"
key = "$E2E_DIR/pki/$name.key"
control_socket = "$E2E_DIR/us/$name.sock"
state_dir = "$E2E_DIR/us/state-$name"
log_level = "debug"
reconnect_max_secs = 2
mode = "userspace"
${3:-}
TOML
  chmod a+r "$E2E_DIR/$name.toml"
}
# E2E_NOBODY: a command prefix that runs as uid/gid 65534 with no capabilities.
E2E_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

# --- netcfg (issue 4): snapshots of a namespace's host settings, per-namespace /etc files ------
E2E_ETC_DIRS=()
# e2e_netns_etc NAME: creates /etc/netns/<ns>/ (ip netns exec bind-mounts its files, e.g.
# resolv.conf, over /etc), removed on exit; sets E2E_NETNS_ETC to it. Not in a $(...) subshell.
e2e_netns_etc() {
  E2E_NETNS_ETC="/etc/netns/$(ns "$1")"
  mkdir -p "$E2E_NETNS_ETC" || e2e_fail "mkdir $E2E_NETNS_ETC"
  E2E_ETC_DIRS+=("$E2E_NETNS_ETC")
  trap 'rc=$?; for d in "${E2E_ETC_DIRS[@]}"; do rm -rf "$d"; done; (exit $rc); e2e_cleanup' EXIT
}
# e2e_host_snapshot NAME: routes (all tables), rules, nftables ruleset and resolv.conf, as text.
e2e_host_snapshot() {
  in_ns "$1" sh -c 'ip route show table all; echo ---; ip -6 route show table all; echo ---; ip rule;
    echo ---; ip -6 rule; echo ---; nft list ruleset; echo ---; cat /etc/resolv.conf 2>&1'
}
# e2e_pcap CAPTURE OUT [FILTER...]: the packets of a tcpdump capture that match FILTER, one per
# line, into OUT; fails the test when tcpdump cannot read it (an empty OUT means no packets).
e2e_pcap() {
  local cap=$1 out=$2; shift 2
  tcpdump -r "$cap" -n "$@" >"$out" 2>"$out.err" || e2e_fail "tcpdump -r $cap $*: $(cat "$out.err")"
}
# has PATTERN...: grep that reads all its input (grep -q under pipefail can fail the pipeline
# with SIGPIPE when the writer is still writing after the match).
has() { grep "$@" >/dev/null; }
# e2e_settle NAME: waits (<= 5 s) until no IPv6 address of the namespace is tentative (DAD done), so
# that snapshots taken later do not differ by a link-local address appearing meanwhile.
e2e_settle() {
  e2e_wait_for 5 sh -c "ip -n '$(ns "$1")' -6 addr | grep -q tentative && exit 1 || exit 0" || e2e_fail "DAD did not finish in $1"
}
# e2e_same_snapshot WHAT BEFORE_FILE NAME: fails with a diff unless NAME's snapshot equals BEFORE_FILE.
e2e_same_snapshot() {
  e2e_host_snapshot "$3" >"$E2E_DIR/snap.now"
  diff -u "$2" "$E2E_DIR/snap.now" >&2 || e2e_fail "host settings not restored $1"
}

# --- apps (issue 6): processes under chosen uids with distinct executables -------------------
# e2e_apps_exe NAME: a copy of python3 at $E2E_DIR/NAME (so /proc/PID/exe names the app); the
# directory is opened to other uids. Prints the path.
e2e_apps_exe() {
  chmod 755 "$E2E_DIR"
  cp "$(readlink -f /usr/bin/python3)" "$E2E_DIR/$1" || e2e_fail "copy python3"
  chmod 755 "$E2E_DIR/$1"
  echo "$E2E_DIR/$1"
}
# e2e_apps_as NS UID CMD...: runs CMD in namespace NS as uid/gid UID (foreground).
e2e_apps_as() {
  local n=$1 uid=$2; shift 2
  ip netns exec "$(ns "$n")" setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}
# e2e_flows SOCKET_NAME: the JSON flow list of a running client.
e2e_flows() { "$E2E_PTUN" flows --json -s "$(e2e_sock "$1")" 2>/dev/null; }

# --- lifecycle (roaming, restart, loss, on-demand, control access, metrics) --------------------
# e2e_json SOCKET_NAME KEY: one top-level value of the JSON status ("" if absent).
e2e_json() {
  e2e_status "$1" | python3 -c 'import json,sys
try: v = json.load(sys.stdin).get(sys.argv[1], "")
except Exception: v = ""
print(v)' "$2"
}

# e2e_udp_echo SRV CLI ADDR PORT N: a UDP echo server in namespace SRV on ADDR:PORT (answers up to
# 2N), N datagrams from CLI through it; prints how many came back (the caller judges the count).
e2e_udp_echo() {
  local srv=$1 cli=$2 addr=$3 port=$4 n=$5 here
  here=$(dirname "${BASH_SOURCE[0]}")
  in_ns "$srv" timeout 30 python3 "$here/netcheck.py" udp-echo "$addr" "$port" $((2 * n)) &
  e2e_listening "$srv" udp "$port"
  in_ns "$cli" timeout 60 python3 "$here/netcheck.py" udp-check "$addr" "$port" "$n"
}

# e2e_transfer SRV_NS CLI_NS DST PORT BYTES [TIMEOUT]: TCP transfer of random BYTES from CLI_NS to
# DST:PORT (a sink in SRV_NS); fails the test unless the sha256 matches. Runs in the foreground;
# start it with & and `wait` to act meanwhile.
e2e_transfer() {
  local srv=$1 cli=$2 dst=$3 port=$4 bytes=$5 to=${6:-60} here
  here=$(dirname "${BASH_SOURCE[0]}")
  head -c "$bytes" /dev/urandom >"$E2E_DIR/blob.$port"
  in_ns "$srv" timeout "$to" python3 "$here/netcheck.py" tcp-sink "$dst" "$port" "$E2E_DIR/got.$port" &
  local sink=$!
  e2e_listening "$srv" tcp "$port"
  in_ns "$cli" timeout "$to" python3 "$here/netcheck.py" tcp-send "$dst" "$port" "$E2E_DIR/blob.$port" || return 1
  wait $sink || return 1
  [ "$(sha256sum <"$E2E_DIR/blob.$port" | cut -d' ' -f1)" = "$(sha256sum <"$E2E_DIR/got.$port" | cut -d' ' -f1)" ]
}
