#!/usr/bin/env bash
# Least privilege: server and client with user = "nobody" run as uid 65534 with CAP_NET_ADMIN only
# (CapEff/CapPrm/CapBnd from /proc, NoNewPrivs), still carry traffic, survive a server restart
# (the client re-applies its addresses and routes as nobody), and clean up on stop (TUN, policy
# rules, the server's masquerade table through the nft child that inherits CAP_NET_ADMIN).
# Private keys: world- or group-accessible (non-root group) keys are refused with the reason;
# 0640 root:root is accepted.
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(dirname "$(realpath "$0")")
getent passwd nobody >/dev/null || e2e_skip "no user nobody"
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30 fd00:18::1/64 fd00:18::2/64
e2e_pki c1
chmod 755 "$E2E_DIR"
e2e_server_config
# Top-level keys go before [tunnel] (e2e_server_config's argument lands after [push]).
sed -i 's/^log_level = .*/&\nuser = "nobody"/' "$E2E_DIR/server.toml"
sed -i 's/^ipv6_pool = .*/&\nmasquerade = true/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
sed -i 's/^log_level = .*/&\nuser = "nobody"\ngroup = "nogroup"/' "$E2E_DIR/c1.toml"

# Key modes first: refused with the reason, nothing started.
key="$E2E_DIR/pki/ptun-server.key"
chmod 644 "$key"
out=$(in_ns srv "$E2E_PTUN" server -c "$E2E_DIR/server.toml" 2>&1) && e2e_fail "started with a world-readable key"
echo "$out" | grep -q "world-accessible" || e2e_fail "no reason for the world-readable key: $out"
chmod 640 "$key"; chgrp nogroup "$key"
out=$(in_ns srv "$E2E_PTUN" server -c "$E2E_DIR/server.toml" 2>&1) && e2e_fail "started with a group-readable key"
echo "$out" | grep -q "accessible by group" || e2e_fail "no reason for the group-readable key: $out"
chgrp root "$key"   # 0640 root:root: only root's group, accepted
e2e_log "key modes: 0644 and 0640 :nogroup refused"

caps_of() {  # PID -> "uid CapEff CapPrm CapBnd NoNewPrivs"
  awk '/^Uid:/{u=$2} /^CapEff:/{e=$2} /^CapPrm:/{p=$2} /^CapBnd:/{b=$2} /^NoNewPrivs:/{n=$2} END{print u, e, p, b, n}' "/proc/$1/status"
}
want="65534 0000000000001000 0000000000001000 0000000000001000 1"   # bit 12 = CAP_NET_ADMIN

e2e_up
spid=$E2E_SERVER_PID
e2e_wait_for 5 grep -q "dropped privileges" "$E2E_DIR/server.log" || e2e_fail "server did not drop privileges"
[ "$(caps_of "$spid")" = "$want" ] || e2e_fail "server: $(caps_of "$spid") != $want"
in_ns srv nft list table inet ptun_ptun_s0 >/dev/null || e2e_fail "masquerade table missing"
e2e_start client c1
cpid=$E2E_PID
[ "$(caps_of "$cpid")" = "$want" ] || e2e_fail "client: $(caps_of "$cpid") != $want"
[ "$(awk '/^Gid:/{print $2}' "/proc/$cpid/status")" = 65534 ] || e2e_fail "client gid is not nogroup"
e2e_log "server and client run as nobody with CAP_NET_ADMIN only"

in_ns c1 ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "ping 10.99.0.1"
in_ns c1 ping -6 -c 3 -i 0.2 -W 2 fd99::1 >/dev/null || e2e_fail "ping6 fd99::1"
head -c 5000000 /dev/urandom >"$E2E_DIR/blob"
want_sum=$(sha256sum <"$E2E_DIR/blob" | cut -d' ' -f1)
in_ns srv timeout 60 python3 "$here/netcheck.py" tcp-sink 10.99.0.1 5001 "$E2E_DIR/got" &
sink=$!
e2e_listening srv tcp 5001
in_ns c1 timeout 60 python3 "$here/netcheck.py" tcp-send 10.99.0.1 5001 "$E2E_DIR/blob" || e2e_fail "tcp send"
wait $sink || e2e_fail "tcp sink"
[ "$(sha256sum <"$E2E_DIR/got" | cut -d' ' -f1)" = "$want_sum" ] || e2e_fail "sha256 mismatch"
e2e_log "ping v4/v6 and 5 MB TCP through the unprivileged tunnel"

# Restart the server (as root again, then dropped): the unprivileged client reconnects and
# re-applies its settings through netlink.
e2e_stop "$spid" || e2e_fail "server did not stop"
in_ns srv nft list table inet ptun_ptun_s0 >/dev/null 2>&1 && e2e_fail "server left its masquerade table behind"
in_ns srv ip link show ptun-s0 >/dev/null 2>&1 && e2e_fail "server left its TUN behind"
[ "$(in_ns srv cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || e2e_fail "server did not restore ip_forward"
# host_setup.cpp warns "server: restoring PATH: reason" when a sysctl cannot be put back (not the
# info line that announces the restore on a signal).
grep -q "warn  server: restoring /" "$E2E_DIR/server.log" && e2e_fail "server could not restore a sysctl: $(grep "warn  server: restoring" "$E2E_DIR/server.log")"
e2e_log "unprivileged server stopped cleanly (nft table, TUN and sysctls restored)"
E2E_LOG=server2 e2e_start server server
e2e_wait_for 20 in_ns c1 ping -c 1 -W 1 10.99.0.1 || e2e_fail "no traffic after the server restart"
e2e_log "client reconnected after a server restart"

"$E2E_PTUN" stop -s "$E2E_DIR/run/c1.sock" >/dev/null || e2e_fail "ptun stop"
e2e_wait_exit "$cpid" || e2e_fail "client did not exit after ptun stop"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "TUN still present after stop"
in_ns c1 ip rule | grep -q 7074 && e2e_fail "policy rules left behind"
e2e_log "unprivileged client stopped cleanly"
exit 0
