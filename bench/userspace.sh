#!/usr/bin/env bash
# Userspace mode against TUN mode, on one machine: throughput, client CPU and memory of a single
# TCP download, and the client's memory per idle proxied connection.
#
#   [cli] curl / iperf3 --> (a) ptun client, TUN (root)           ==tunnel==> [srv] ptun server
#                           (b) ptun client, userspace (nobody):      10.99.0.1: sendfile HTTP :8080,
#                               SOCKS5 127.0.0.1:1080 (+ a TCP          iperf3 -s :5201, idle sink :9000
#                               forward :5201)
#         198.18.0.1 ==veth== 198.18.0.2
#
# (a) and (b) each get a fresh client process, so its VmHWM is that mode's peak. CPU seconds are
# utime+stime from /proc/PID/stat across the transfer. Then a third, fresh userspace client holds
# CONNS idle SOCKS5 connections (established through the tunnel to a sink, no data): (VmRSS after
# - VmRSS before) / CONNS. Everything lives in two namespaces (underlay 198.18.0.0/15) removed on
# exit by the e2e harness's trap, as are all processes; nothing on the host changes.
#
# usage: bench/userspace.sh PATH_TO_PTUN     (root; env: SIZE_MIB=200 CONNS=1000 RUNS=1)
# Not a test: it prints figures and fails only when something does not work.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/userspace.sh PATH_TO_PTUN}")
SIZE_MIB=${SIZE_MIB:-200}
CONNS=${CONNS:-1000}
RUNS=${RUNS:-1}
[ "$CONNS" -ge 1 ] && [ "$CONNS" -le 4000 ] || { echo "CONNS must be 1..4000" >&2; exit 2; }
[ "$SIZE_MIB" -ge 1 ] && [ "$SIZE_MIB" -le 4096 ] || { echo "SIZE_MIB must be 1..4096" >&2; exit 2; }
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 10 ] || { echo "RUNS must be 1..10" >&2; exit 2; }
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
probe="$here/../tests/e2e/userspace_probe.py"
e2e_need curl iperf3 getconf setpriv
tck=$(getconf CLK_TCK)

e2e_ns srv; e2e_ns cli
e2e_netns_etc cli
echo "nameserver 192.0.2.53" >"$E2E_NETNS_ETC/resolv.conf"   # never the host's resolv.conf
e2e_link cli srv 198.18.0.1/30 198.18.0.2/30
e2e_pki tun us us2
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]'
sed -i 's/^log_level = "debug"/log_level = "warn"/' "$E2E_DIR/server.toml"
e2e_client_config tun 198.18.0.2:4433
fwd='
[[forward]]
listen = "127.0.0.1:5201"
to = "10.99.0.1:5201"'
for n in us us2; do
  e2e_userspace_client_config $n 198.18.0.2:4433 "
[proxy]
socks5 = [\"127.0.0.1:1080\"]
max_connections = $((CONNS + 64))
$fwd"
done
sed -i 's/^log_level = "debug"/log_level = "warn"/' "$E2E_DIR"/tun.toml "$E2E_DIR"/us.toml "$E2E_DIR"/us2.toml

e2e_start server server   # ready: its tunnel address exists for the senders to bind
spid=$E2E_PID

# Senders behind the server: a sendfile HTTP server (one process, a thread per connection: the
# kernel copies the file, so the sender is never the bottleneck), iperf3, and an idle sink.
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$E2E_DIR/blob"
cat >"$E2E_DIR/sendfile_http.py" <<'PY'
import os, socket, sys, threading, time
path, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(path)
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((addr, port)); l.listen(64); l.settimeout(600)
def serve(c):
    with c, open(path, "rb") as f:
        c.settimeout(60)
        req = b""
        while b"\r\n\r\n" not in req and len(req) < 8192:
            d = c.recv(4096)
            if not d: return
            req += d
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        c.sendfile(f)
for _ in range(100):
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat >"$E2E_DIR/sink.py" <<'PY'
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4096); l.settimeout(1)
held, end = [], time.time() + float(sys.argv[3])
while time.time() < end:
    try: held.append(l.accept()[0])
    except socket.timeout: pass
PY
e2e_bg srv http bash -c "ulimit -n 8192; exec python3 $E2E_DIR/sendfile_http.py $E2E_DIR/blob 10.99.0.1 8080" >/dev/null
e2e_bg srv sink bash -c "ulimit -n 8192; exec timeout 600 python3 $E2E_DIR/sink.py 10.99.0.1 9000 590" >/dev/null
e2e_bg srv iperf3 iperf3 -s -B 10.99.0.1 -p 5201 >/dev/null
e2e_listening srv tcp 8080
e2e_listening srv tcp 9000
e2e_listening srv tcp 5201

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
stop_pid() { e2e_stop "$1" || e2e_fail "pid $1 did not stop"; }
results=()
# measure LABEL CLIENT_PID CMD...: CMD prints "BYTES SECONDS"; adds a result line.
measure() {
  local label=$1 cpid=$2; shift 2
  local c0 s0 out c1 s1
  c0=$(cpu_ticks "$cpid"); s0=$(cpu_ticks "$spid")
  out=$("$@") || e2e_fail "$label: transfer failed: $out"
  c1=$(cpu_ticks "$cpid"); s1=$(cpu_ticks "$spid")
  read -r bytes secs <<<"$out"
  [ "${bytes%.*}" -ge $((SIZE_MIB * 1024 * 1024)) ] 2>/dev/null || e2e_fail "$label: only $bytes bytes"
  results+=("$(python3 -c "
b, t, c, s, tck = float('$bytes'), float('$secs'), $c1 - $c0, $s1 - $s0, $tck
print(f'{\"$label\":<40} {b*8/t/1e6:8.0f} Mbit/s  {t:6.2f} s  client CPU {c/tck:5.2f} s ({c/tck/(b/2**30):5.2f} s/GiB)  server CPU {s/tck:5.2f} s')")")
  echo "${results[-1]}" >&2
}
curl_get() { in_ns cli curl -sS --max-time 300 -o /dev/null -w '%{size_download} %{time_total}' "$@"; }
iperf_down() {   # ADDR: a SIZE_MIB download (server -> client), bytes and seconds from iperf3's JSON
  in_ns cli timeout 300 iperf3 -c "$1" -p 5201 -R -n $((SIZE_MIB * 1024 * 1024)) -J |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum_received"]; print(int(e["bytes"]), e["seconds"])'
}

# (a) TUN client, root.
E2E_NS=cli E2E_LOG=client-tun e2e_start client tun
tpid=$E2E_PID
for r in $(seq 1 "$RUNS"); do
  measure "TUN, curl (run $r)" "$tpid" curl_get http://10.99.0.1:8080/blob
  measure "TUN, iperf3 -R (run $r)" "$tpid" iperf_down 10.99.0.1
done
tun_hwm=$(kib "$tpid" VmHWM); tun_rss=$(kib "$tpid" VmRSS)
stop_pid "$tpid"

# (b) userspace client, nobody, fresh process.
E2E_NS=cli E2E_LOG=client-us e2e_start client us bash -c 'ulimit -n 8192 && exec "$@"' ptun "${E2E_NOBODY[@]}"
upid=$E2E_PID
for r in $(seq 1 "$RUNS"); do
  measure "userspace, curl via SOCKS5 (run $r)" "$upid" curl_get --socks5 127.0.0.1:1080 http://10.99.0.1:8080/blob
  measure "userspace, iperf3 -R via forward (run $r)" "$upid" iperf_down 127.0.0.1
done
us_hwm=$(kib "$upid" VmHWM); us_rss=$(kib "$upid" VmRSS)
stop_pid "$upid"

# (c) memory per idle proxied connection: a fresh userspace client, one warm-up connection (so
# one-time allocations are in the baseline), then CONNS held idle.
E2E_NS=cli E2E_LOG=client-us2 e2e_start client us2 bash -c 'ulimit -n 8192 && exec "$@"' ptun "${E2E_NOBODY[@]}"
upid=$E2E_PID
warm=$(in_ns cli timeout 30 python3 "$probe" connect 127.0.0.1 1080 10.99.0.1 9000)
[ "$warm" = "0" ] || e2e_fail "warm-up SOCKS5 connect: reply $warm"
sleep 1   # on purpose, here and below: memory settles before each VmRSS reading
rss0=$(kib "$upid" VmRSS)
mkfifo "$E2E_DIR/hold.in"
in_ns cli bash -c 'ulimit -n 8192 && exec timeout 300 python3 "$@"' _ "$probe" socks-hold 127.0.0.1 1080 10.99.0.1 9000 "$CONNS" 240 \
  <"$E2E_DIR/hold.in" >"$E2E_DIR/hold.out" 2>&1 &
hold=$!
E2E_PIDS+=($hold)
exec 9>"$E2E_DIR/hold.in"
t0=$SECONDS
until grep -q '^ready' "$E2E_DIR/hold.out" 2>/dev/null; do
  kill -0 $hold 2>/dev/null || e2e_fail "socks-hold: $(cat "$E2E_DIR/hold.out")"
  [ $((SECONDS - t0)) -lt 120 ] || e2e_fail "socks-hold: $CONNS connections not up in 120 s"
  sleep 0.2   # polling, bounded
done
open_s=$((SECONDS - t0))
sleep 2
rss1=$(kib "$upid" VmRSS); fds1=$(ls /proc/$upid/fd | wc -l)
exec 9>&-
wait $hold
sleep 2
rss2=$(kib "$upid" VmRSS)
stop_pid "$upid"

echo
echo "== ptun userspace bench: $SIZE_MIB MiB single TCP download, $(nproc) CPUs, $(uname -r), tunnel MTU 1400, load $(cut -d" " -f1-3 /proc/loadavg)"
printf '%s\n' "${results[@]}"
echo "client peak RSS (VmHWM): TUN $tun_hwm KiB (VmRSS at end $tun_rss), userspace $us_hwm KiB (VmRSS at end $us_rss)"
python3 -c "
n, a, b, c = $CONNS, $rss0, $rss1, $rss2
print(f'idle proxied connections: {n} (opened in ${open_s} s, client fds {$fds1}): VmRSS {a} -> {b} KiB, '
      f'{(b-a)/n:.1f} KiB per connection; after closing them {c} KiB')"
exit 0
