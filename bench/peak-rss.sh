#!/usr/bin/env bash
# RAM budget under load: the peak memory of a TUN client at the defaults while iperf3 pushes bounded
# transfers through it, as the peer lab's runs do (issue 14 item 6, issue 13 item 4: goal 4 MiB).
#   [cli] iperf3 -c -> ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server, iperf3 -s on 10.99.0.1
# Per round: SIZE_MIB up, SIZE_MIB down (-R), SIZE_MIB over 4 streams. Then prints the client's
# VmHWM (peak), VmRSS, RssAnon/RssFile/RssShmem (/proc/PID/status), smaps_rollup's private dirty
# bytes and, with MAPS=N, its N largest mappings by Rss (where the memory is). Throughput per
# transfer and the medians. Namespaces and processes are removed on exit by the e2e harness's trap.
# Not a test: it prints figures and fails only when something does not work.
# usage: bench/peak-rss.sh PATH_TO_PTUN   (root; env: SIZE_MIB=100 ROUNDS=1 MAPS=0, BY_NAME=1: the
#        client names its server through /etc/hosts in its namespace, so it resolves it; HEAPTRACK=1:
#        the client runs under heaptrack (dynamic builds), its largest heap consumers are listed)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/peak-rss.sh PATH_TO_PTUN}")
SIZE_MIB=${SIZE_MIB:-100}
ROUNDS=${ROUNDS:-1}
MAPS=${MAPS:-0}
[ "$SIZE_MIB" -ge 1 ] && [ "$SIZE_MIB" -le 4096 ] || { echo "SIZE_MIB must be 1..4096" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "ROUNDS must be 1..10" >&2; exit 2; }
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_need iperf3
e2e_ns srv; e2e_ns cli
e2e_link cli srv 198.18.0.1/30 198.18.0.2/30
e2e_pki cli
e2e_server_config 'included_routes = ["10.99.0.0/24"]'
server=198.18.0.2
if [ "${BY_NAME:-0}" = 1 ]; then   # the server by name: resolved in libuv's thread pool
  e2e_netns_etc cli
  echo "198.18.0.2 vpn.example.test" >"$E2E_NETNS_ETC/hosts"
  server=vpn.example.test
fi
e2e_client_config cli "$server:4433"
sed -i 's/^log_level = "debug"$/log_level = "warn"/' "$E2E_DIR/server.toml" "$E2E_DIR/cli.toml"  # as deployed
if [ "${HEAPTRACK:-0}" = 1 ]; then   # the client under heaptrack (LD_PRELOAD: dynamic builds only)
  e2e_need heaptrack heaptrack_print
  e2e_start server server
  E2E_LOG=cli e2e_start client cli heaptrack -o "$E2E_DIR/heap"
  htpid=$E2E_PID cpid=""
  for p in $(pgrep -f "client -c $E2E_DIR/cli.toml"); do
    [ "$(readlink "/proc/$p/exe")" = "$ptun" ] && cpid=$p
  done
  [ -n "$cpid" ] || e2e_fail "no ptun process under heaptrack"
else
  e2e_up cli
  cpid=$E2E_PID
fi
e2e_bg srv iperf3 iperf3 -s -B 10.99.0.1 -p 5201 >/dev/null
e2e_listening srv tcp 5201

kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$cpid/status"; }
# transfer LABEL IPERF_ARGS...: one bounded iperf3 run, prints "LABEL Mbit/s"
transfer() {
  local label=$1; shift
  local mbps
  mbps=$(in_ns cli timeout 300 iperf3 -c 10.99.0.1 -p 5201 -n $((SIZE_MIB * 1024 * 1024)) -J "$@" |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum_received"]; print(round(e["bits_per_second"]/1e6))') ||
    e2e_fail "$label: iperf3 failed"
  echo "$label $mbps"
}
# Referenced bits cleared now (clear_refs 1 leaves VmHWM alone): after the transfers, smaps'
# Referenced is what the load itself touched, apart from what the kernel mapped around it.
echo 1 >"/proc/$cpid/clear_refs"
idle=$(for k in VmHWM RssAnon RssFile; do printf '%s %s kB  ' "$k" "$(kib $k)"; done)
results=()
for r in $(seq 1 "$ROUNDS"); do
  results+=("$(transfer up)" "$(transfer down -R)" "$(transfer 4-streams -P 4)")
  echo "round $r: ${results[*]: -3}" >&2
done
e2e_status cli | grep -q '"state": "connected"' || e2e_fail "client not connected after the transfers"

echo "TUN client under load, $ptun ($(stat -c %s "$ptun") bytes), $ROUNDS round(s) of $SIZE_MIB MiB up, down, 4 streams:"
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
by = {}
for line in sys.stdin:
    k, v = line.split(); by.setdefault(k, []).append(int(v))
print("  " + ", ".join(f"{k} {statistics.median(v):.0f} Mbit/s [{min(v)}-{max(v)}]" for k, v in by.items()))'
echo "  connected, before the transfers: $idle"
for k in VmHWM VmRSS RssAnon RssFile RssShmem; do printf '  %-9s %6s kB\n' "$k:" "$(kib $k)"; done
awk '/^(Private_Dirty|Private_Clean|Shared_Clean|Anonymous):/ {printf "  rollup %-15s %6s kB\n", $1, $2}' "/proc/$cpid/smaps_rollup"
echo "  threads: $(ls /proc/$cpid/task | wc -l)"
if [ "$MAPS" -gt 0 ]; then
  echo "  largest mappings by Rss (kB: Rss, of it anonymous (written copies of file pages included), referenced during the transfers; name):"
  awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon " $1 "]" : $6)} /^Rss:/ {rss[name] += $2}
       /^Anonymous:/ {anon[name] += $2} /^Referenced:/ {ref[name] += $2}
       END {for (n in rss) if (rss[n] > 0) print rss[n], anon[n], ref[n], n}' "/proc/$cpid/smaps" |
    sort -rn | head -"$MAPS" | sed 's/^/    /'
fi
if [ "${HEAPTRACK:-0}" = 1 ]; then
  echo "  (under heaptrack: the figures above include its own memory)"
  kill -TERM "$cpid"
  e2e_wait_exit "$htpid" || e2e_fail "heaptrack did not finish"
  ht=$(ls "$E2E_DIR"/heap.*) || e2e_fail "heaptrack wrote no file"
  echo "  heap, largest peak consumers (heaptrack_print; mmap-sized blocks are resident only where touched):"
  # Per peak: its size, the allocating function and the first ptun function on its backtrace.
  heaptrack_print -f "$ht" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
    -n "${HEAP_TOP:-15}" -s 1 | awk '
      function show() { if (size != "") printf "    %-8s %s%s\n", size, fn, (own != "" && own != fn ? "  <- " own : "") }
      /^[0-9.]+[KMGB]* peak memory consumed/ { show(); size = $1; fn = ""; own = ""; want_fn = 1; next }
      size != "" && want_fn && NF { fn = $0; sub(/^ +/, "", fn); want_fn = 0; if (fn ~ /^ptun::/) own = fn; next }
      size != "" && own == "" && /^ +ptun::/ { own = $0; sub(/^ +/, "", own) }
      /^(MOST CALLS|MOST TEMPORARY|total runtime)/ { show(); size = "" }
      END { show() }' | sed -E 's/\(([^()]|\([^()]*\))*\)//g'
  heaptrack_print -f "$ht" --print-peaks 0 --print-allocators 0 --print-temporary 0 --print-leaks 0 |
    grep -E '^peak heap memory' | sed 's/^/  /'
fi
