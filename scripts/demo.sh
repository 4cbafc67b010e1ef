#!/usr/bin/env bash
# `make demo`: ptun's main job on one machine. Two network namespaces joined by a veth
# (underlay 198.18.0.0/30), `ptun server` in one, `ptun client` in the other; the client connects,
# pings the server's tunnel address, fetches a page served in the server's namespace through the
# tunnel, shows `ptun status`, then everything is torn down and the machine is left as it was.
#
#   [ptdemo-c] 198.18.0.1 ==veth== 198.18.0.2 [ptdemo-s]      tunnel: 10.99.0.0/24, fd99::/64
set -uo pipefail
ptun=$(realpath "${1:?usage: demo.sh PATH_TO_PTUN}")
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "ptun version"; "$ptun" version
say "config check of conf/*.toml"
for f in "$root"/conf/*.toml; do
  "$ptun" check-config "$f" >/dev/null 2>&1 && echo "  ok   $f" || { echo "  FAIL $f"; "$ptun" check-config "$f"; }
done
if [ "$(id -u)" -ne 0 ]; then
  echo; echo "The tunnel part of the demo needs root (network namespaces and TUN devices): run 'sudo make demo'."
  exit 0
fi

work=$(mktemp -d /tmp/ptun-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; done
  ip netns del ptdemo-c 2>/dev/null; ip netns del ptdemo-s 2>/dev/null
  rm -rf "$work" /etc/netns/ptdemo-c
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "network namespaces ptdemo-c <-> ptdemo-s"
ip netns del ptdemo-c 2>/dev/null; ip netns del ptdemo-s 2>/dev/null
ip netns add ptdemo-c && ip netns add ptdemo-s
# The client's own resolv.conf: `ip netns exec` mounts /etc/netns/ptdemo-c/* over /etc, so the DNS
# servers the server pushes land there and this machine's /etc/resolv.conf is never touched.
host_resolv=$(sha256sum /etc/resolv.conf 2>/dev/null)
mkdir -p /etc/netns/ptdemo-c && echo "nameserver 198.18.0.2" >/etc/netns/ptdemo-c/resolv.conf
ip link add ptdemo0 netns ptdemo-c type veth peer name ptdemo1 netns ptdemo-s
ip -n ptdemo-c addr add 198.18.0.1/30 dev ptdemo0; ip -n ptdemo-s addr add 198.18.0.2/30 dev ptdemo1
for n in ptdemo-c ptdemo-s; do ip -n $n link set lo up; done
ip -n ptdemo-c link set ptdemo0 up; ip -n ptdemo-s link set ptdemo1 up
echo "  client 198.18.0.1  <->  server 198.18.0.2"

say "certificates (ptun pki, no openssl)"
"$ptun" pki init "$work/pki" && "$ptun" pki issue "$work/pki" ptun-server --server && "$ptun" pki issue "$work/pki" laptop

cat >"$work/server.toml" <<TOML
listen = ["0.0.0.0:4433"]
ca = "$work/pki/ca.crt"
cert = "$work/pki/ptun-server.crt"
key = "$work/pki/ptun-server.key"
control_socket = "$work/server.sock"
state_dir = "$work/server-state"
[tunnel]
interface = "ptun-s0"
ipv4_pool = "10.99.0.0/24"
ipv6_pool = "fd99::/64"
[push]
dns_servers = ["10.99.0.1"]
search_domains = ["demo.internal"]
TOML
cat >"$work/client.toml" <<TOML
server = "198.18.0.2:4433"
server_name = "ptun-server"
ca = "$work/pki/ca.crt"
cert = "$work/pki/laptop.crt"
key = "$work/pki/laptop.key"
control_socket = "$work/client.sock"
state_dir = "$work/client-state"
TOML

say "starting ptun server (ptdemo-s) and ptun client (ptdemo-c)"
ip netns exec ptdemo-s "$ptun" server -c "$work/server.toml" >"$work/server.log" 2>&1 & pids+=($!)
sleep 0.5
ip netns exec ptdemo-c "$ptun" client -c "$work/client.toml" >"$work/client.log" 2>&1 & pids+=($!)
state=""
for _ in $(seq 50); do
  state=$("$ptun" status --json -s "$work/client.sock" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)
  echo "  client state: ${state:-starting}"
  [ "$state" = connected ] && break
  sleep 0.2
done | uniq
state=$("$ptun" status --json -s "$work/client.sock" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)
if [ "$state" != connected ]; then
  echo "the client did not connect; logs:"; tail -20 "$work/server.log" "$work/client.log"; exit 1
fi

say "ping the server's tunnel address 10.99.0.1 from the client"
ip netns exec ptdemo-c ping -c 3 -i 0.2 10.99.0.1 || exit 1
say "ping6 fd99::1"
ip netns exec ptdemo-c ping -6 -c 2 -i 0.2 fd99::1 || exit 1

say "HTTP through the tunnel: a page served in the server's namespace on 10.99.0.1:8080"
mkdir -p "$work/www" && echo "<h1>hello through ptun</h1>" >"$work/www/index.html"
ip netns exec ptdemo-s python3 -m http.server 8080 --bind 10.99.0.1 --directory "$work/www" >"$work/http.log" 2>&1 & pids+=($!)
for _ in $(seq 30); do ip netns exec ptdemo-c curl -s -m 2 http://10.99.0.1:8080/ >/dev/null && break; sleep 0.2; done
ip netns exec ptdemo-c curl -sS -m 5 http://10.99.0.1:8080/ || { cat "$work/http.log" >&2; exit 1; }

say "DNS pushed to the client (its namespace's /etc/resolv.conf)"
ip netns exec ptdemo-c cat /etc/resolv.conf

say "ptun status (client)"
"$ptun" status -s "$work/client.sock"
say "ptun sessions (server)"
"$ptun" sessions -s "$work/server.sock"

say "tearing down"
"$ptun" stop -s "$work/client.sock" >/dev/null   # `ptun down` would disconnect and keep it running
sleep 0.5
if [ "$(sha256sum /etc/resolv.conf 2>/dev/null)" != "$host_resolv" ]; then
  echo "this machine's /etc/resolv.conf changed during the demo" >&2; exit 1
fi
echo "done: namespaces, processes and files are removed on exit (this machine's resolv.conf untouched)"
