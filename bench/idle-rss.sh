#!/usr/bin/env bash
# RAM budget: the memory of an idle TUN client (issue 13: goal 4 MiB for the x86-64 static build).
#   [c1] ptun client (TUN) 198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server
# The client connects, then idles IDLE_SECS (keepalives only); prints its VmRSS, VmHWM (peak) and
# RssAnon/RssFile from /proc/PID/status. Namespaces and processes are removed on exit by the e2e
# harness's trap. Not a test: it prints figures and fails only when something does not work.
# usage: bench/idle-rss.sh PATH_TO_PTUN   (root; env: IDLE_SECS=10)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ptun=$(realpath "${1:?usage: bench/idle-rss.sh PATH_TO_PTUN}")
source "$here/../tests/e2e/lib.sh" "$ptun"
e2e_init
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^log_level = "debug"$/log_level = "info"/' "$E2E_DIR/c1.toml"   # as deployed
e2e_up c1
cpid=$E2E_PID
sleep "${IDLE_SECS:-10}"
e2e_status c1 | grep -q '"state": "connected"' || e2e_fail "client not connected after idling"
echo "idle TUN client, $ptun ($(stat -c %s "$ptun") bytes), after ${IDLE_SECS:-10} s connected:"
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$cpid/status" | tr -s ' \t' ' ' | sed 's/^/  /'
