#!/usr/bin/env bash
# Per-app VPN by cgroup: `ptun exec --app NAME -- CMD` runs CMD in the cgroup v2 group /ptun/NAME,
# which the app rule matches with `socket cgroupv2` in nftables.
#
#   [c1] 198.18.0.1/30 ==veth== 198.18.0.2/30 [srv]   198.19.1.1/32 on srv's loopback (the target)
#        default via 198.18.0.2                       tunnel 10.99.0.0/24, client route 0.0.0.0/0
#
# Mode only, one rule with no uid or path: only what runs under `ptun exec --app` uses the tunnel.
# Both probes run as the same uid; the one started through ptun exec arrives through the tunnel,
# the other over the underlay. `ip netns exec` mounts a fresh /sys without cgroups, so the client
# and the probes run after mounting the cgroup2 hierarchy in their own mount namespace (ptun finds
# it in /proc/self/mountinfo). The cgroup made here is removed at the end.
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(dirname "$(realpath "$0")")
e2e_need nft
grep -q cgroup2 /proc/filesystems || e2e_skip "the kernel has no cgroup2 filesystem"
app="e2e$$"
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_do c1 ip route add default via 198.18.0.2
e2e_do srv ip addr add 198.19.1.1/32 dev lo
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433 "
[routes]
include = [\"0.0.0.0/0\"]

[[app_rule]]
name = \"$app\"
mode = \"only\"
"
inapp=$(e2e_apps_exe app-inside)
outside=$(e2e_apps_exe app-outside)
cp "$here/apps_probe.py" "$E2E_DIR/probe.py"; chmod 644 "$E2E_DIR/probe.py"
withcg='mount -t cgroup2 none /sys/fs/cgroup && exec "$@"'
e2e_up
e2e_start client c1 sh -c "$withcg" sh
table=$(in_ns c1 nft list table inet ptun_ptun0_apps)   # (no pipe into grep -q: pipefail + SIGPIPE)
[[ "$table" == *"socket cgroupv2 level 2 "* ]] || e2e_fail "no cgroup match in the per-app table: $table"
e2e_bg srv listener python3 "$E2E_DIR/probe.py" serve 198.19.1.1 7000 "$E2E_DIR/seen" 30 >/dev/null
e2e_listening srv tcp 7000

cgdir=$(in_ns c1 sh -c 'mount -t cgroup2 none /sys/fs/cgroup && echo ok')
[ "$cgdir" = ok ] || e2e_fail "cannot mount cgroup2"
in_ns c1 sh -c "$withcg" sh "$E2E_PTUN" exec --app "$app" -c "$E2E_DIR/c1.toml" -- \
  "$inapp" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 inside 0 5 || e2e_fail "the exec'd probe failed"
in_ns c1 "$outside" "$E2E_DIR/probe.py" connect 198.19.1.1 7000 outside 0 5 || e2e_fail "the other probe failed"
"$E2E_PTUN" exec --app "nope" -c "$E2E_DIR/c1.toml" -- true 2>/dev/null && e2e_fail "exec accepted an unknown app"
cat "$E2E_DIR/seen" >&2
# The group is empty again once its only process exited: it can be removed. (/ptun itself stays
# when another ptun on this machine has groups in it.)
in_ns c1 sh -c "mount -t cgroup2 none /sys/fs/cgroup && rmdir /sys/fs/cgroup/ptun/$app" ||
  e2e_fail "cgroup /ptun/$app not removable after its only process exited"
in_ns c1 sh -c "mount -t cgroup2 none /sys/fs/cgroup && { rmdir /sys/fs/cgroup/ptun 2>/dev/null || true; }"
grep -Eq '^10\.99\.0\.[0-9]+ inside$' "$E2E_DIR/seen" || e2e_fail "the exec'd app did not use the tunnel"
grep -q '^198.18.0.1 outside$' "$E2E_DIR/seen" || e2e_fail "the other app did not take the underlay"
flows=$(e2e_flows c1)
[[ "$flows" == *"\"cgroup\": \"/ptun/$app\""* ]] || e2e_fail "flow list lacks the app's cgroup: $flows"
e2e_log "ptun exec --app: through the tunnel; the same uid outside the group: underlay"
exit 0
