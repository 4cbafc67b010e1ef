#!/usr/bin/env bash
# The .deb starts (issue 15 item 1): built by cpack from this build dir, unpacked into a throwaway
# root, and its units' command lines run as systemd would run them: ExecStart from the installed
# ptun-server.service and ptun-client@laptop.service, on the shipped example configs (PKI made by
# the packaged `ptun pki`), with $NOTIFY_SOCKET (a stand-in socket) and JOURNAL_STREAM set. Paths
# under /usr/bin, /etc/ptun, /run/ptun and /var/lib/ptun are taken inside the root, nothing else
# of the command lines or the examples is changed. Each runs under its unit's CapabilityBoundingSet
# and NoNewPrivileges (setpriv). Checked: READY=1 from both, the server's capabilities, a ping
# through the tunnel to the server, ExecReload (RELOADING=1 then READY=1), SIGTERM (systemd's
# KillSignal) ends both with exit 0, and the client unit's ExecStopPost (`ptun cleanup`) finds nothing left.
#   [c1] 198.18.0.9/30 ==veth== 198.18.0.10/30 [srv]  (the example client's server address)
# usage: test_deb_start.sh PATH_TO_PTUN BUILD_DIR
source "$(dirname "$0")/../e2e/lib.sh"
build=${2:?usage: test_deb_start.sh PATH_TO_PTUN BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
e2e_init
e2e_need cpack dpkg-deb nft setpriv
(cd "$build" && cpack -G DEB -B "$E2E_DIR/out") >"$E2E_DIR/cpack.out" 2>&1 || e2e_fail "cpack: $(cat "$E2E_DIR/cpack.out")"
deb=$(ls "$E2E_DIR"/out/ptun_*.deb) || e2e_fail "no package built"
root=$E2E_DIR/root
dpkg-deb -x "$deb" "$root" || e2e_fail "dpkg-deb -x"
units=$root/usr/lib/systemd/system
# in_root TEXT: the installed paths in TEXT moved into the root
in_root() { sed "s#\(/usr/bin/ptun\|/etc/ptun\|/run/ptun\|/var/lib/ptun\)#$root\1#g" <<<"$1"; }
# unit_line UNIT KEY INSTANCE: KEY='s command line, %i = INSTANCE, paths in the root
unit_line() {
  local l
  l=$(grep "^$2=" "$units/$1") || e2e_fail "$1 has no $2="
  in_root "${l#*=}" | sed "s/%i/$3/g"
}
mkdir -p "$root/run/ptun" "$root/var/lib/ptun"   # RuntimeDirectory=, StateDirectory=

# PKI from the packaged binary, copied to the files the examples name
ex=$root/usr/share/doc/ptun/examples
pki=$root/etc/ptun/pki
"$root/usr/bin/ptun" pki init "$pki" >/dev/null 2>&1 || e2e_fail "pki init"
server_name=$(sed -n 's/^server_name = "\(.*\)"/\1/p' "$ex/client.toml")
peer=$(sed -n '/^\[\[peer\]\]/,$s/^name = "\(.*\)"/\1/p' "$ex/server.toml" | head -1)
"$root/usr/bin/ptun" pki issue "$pki" "$server_name" --server >/dev/null 2>&1 || e2e_fail "pki issue $server_name"
"$root/usr/bin/ptun" pki issue "$pki" "$peer" >/dev/null 2>&1 || e2e_fail "pki issue $peer"
# place CONFIG KEY FILE: copies FILE to the path CONFIG's KEY names
place() {
  local to
  to=$(sed -n "s/^$2 = \"\(.*\)\"/\1/p" "$1")
  [ -n "$to" ] || e2e_fail "$1 has no $2"
  [ "$3" -ef "$(in_root "$to")" ] && return 0   # the example names what `ptun pki` wrote
  install -D -m 600 "$3" "$(in_root "$to")" || e2e_fail "copy $3 to $to"
}
in_root "$(cat "$ex/server.toml")" >"$root/etc/ptun/server.toml"
in_root "$(cat "$ex/client.toml")" >"$root/etc/ptun/laptop.toml"
place "$ex/server.toml" ca "$pki/ca.crt"; place "$ex/server.toml" cert "$pki/$server_name.crt"
place "$ex/server.toml" key "$pki/$server_name.key"
place "$ex/client.toml" ca "$pki/ca.crt"; place "$ex/client.toml" cert "$pki/$peer.crt"
place "$ex/client.toml" key "$pki/$peer.key"

e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.9/30 198.18.0.10/30
e2e_netns_etc c1
printf 'nameserver 198.18.0.10\n' >"$E2E_NETNS_ETC/resolv.conf"
e2e_bg srv sink-srv python3 "$here/../e2e/notify_sink.py" "$E2E_DIR/srv-notify.sock" "$E2E_DIR/srv.notify" >/dev/null
e2e_bg c1 sink-c1 python3 "$here/../e2e/notify_sink.py" "$E2E_DIR/c1-notify.sock" "$E2E_DIR/c1.notify" >/dev/null
e2e_wait_for 10 test -e "$E2E_DIR/srv.notify" -a -e "$E2E_DIR/c1.notify" || e2e_fail "notify sinks not bound"

# caps UNIT: the unit's CapabilityBoundingSet as setpriv spells it (-all,+net_admin,...)
caps() {
  local c out=-all
  for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$units/$1"); do
    c=${c,,}
    out+=",+${c#cap_}"
  done
  echo "$out"
}
# start NS NAME UNIT INSTANCE: runs the unit's ExecStart in NS as systemd would, with the unit's
# capability bounding set and no_new_privs (setpriv; after exec, root's capabilities are that
# set), so the hardening is shown to be enough; sets PID
start() {
  local line args
  line=$(unit_line "$3" ExecStart "$4")
  read -ra args <<<"$line"
  grep -qx 'NoNewPrivileges=yes' "$units/$3" || e2e_fail "$3: NoNewPrivileges not set"
  args=(setpriv --bounding-set="$(caps "$3")" --no-new-privs "${args[@]}")
  : >"$E2E_DIR/$2.log"
  # a child of this shell (not $(e2e_bg ...)): `wait` gives its exit code
  NOTIFY_SOCKET="$E2E_DIR/$2-notify.sock" JOURNAL_STREAM=$(stat -c %d:%i "$E2E_DIR/$2.log") \
    ip netns exec "$(ns "$1")" "${args[@]}" >>"$E2E_DIR/$2.log" 2>&1 &
  PID=$!
  E2E_PIDS+=("$PID")
  e2e_wait_for 20 grep -q '^READY=1' "$E2E_DIR/$2.notify" \
    || { tail -20 "$E2E_DIR/$2.log" >&2; e2e_fail "$3: no READY=1 from '$line': $(cat "$E2E_DIR/$2.notify")"; }
}
start srv srv ptun-server.service ""
spid=$PID
start c1 c1 ptun-client@.service laptop
cpid=$PID
grep -q '^<6>server: listening on ' "$E2E_DIR/srv.log" || e2e_fail "server log is not in journal form: $(head -2 "$E2E_DIR/srv.log")"
# the running server's capabilities are exactly the unit's bounding set
declare -A capbit=([chown]=0 [setgid]=6 [setuid]=7 [net_bind_service]=10 [net_admin]=12 [net_raw]=13)
want=0
for c in $(caps ptun-server.service | tr ',' ' '); do
  [ "$c" = -all ] && continue
  [ -n "${capbit[${c#+}]:-}" ] || e2e_fail "unexpected capability $c in the server unit"
  want=$((want | 1 << ${capbit[${c#+}]}))
done
for k in CapBnd CapEff; do
  have=$(sed -n "s/^$k:\t//p" "/proc/$spid/status")
  [ $((16#$have)) = "$want" ] || e2e_fail "server $k is $have, the unit's set is $(printf %x "$want")"
done
gw=$(sed -n 's/^ipv4_pool = "\([0-9.]*\)\.0\/.*/\1.1/p' "$ex/server.toml")
in_ns c1 ping -c 2 -W 2 "$gw" >"$E2E_DIR/ping.out" || e2e_fail "no ping to the server's tunnel address $gw: $(cat "$E2E_DIR/ping.out")"
e2e_log "ExecStart of both units on the shipped examples under their bounding set (server CapEff $(printf %x "$want")): READY=1, journal log lines, ping $gw through the tunnel"

# reloaded NAME: the last RELOADING=1 NAME sent is followed by a READY=1
reloaded() {
  local r y
  r=$(grep -n '^RELOADING=1' "$E2E_DIR/$1.notify" | tail -1 | cut -d: -f1)
  y=$(grep -n '^READY=1' "$E2E_DIR/$1.notify" | tail -1 | cut -d: -f1)
  [ -n "$r" ] && [ "$y" -gt "$r" ]
}
for u in srv:ptun-server.service c1:ptun-client@.service; do
  n=${u%%:*} unit=${u#*:}
  line=$(unit_line "$unit" ExecReload laptop)
  read -ra args <<<"$line"
  in_ns "$n" "${args[@]}" >"$E2E_DIR/reload.out" 2>&1 || e2e_fail "$unit ExecReload '$line': $(cat "$E2E_DIR/reload.out")"
  e2e_wait_for 5 reloaded "$n" || e2e_fail "$unit: no RELOADING=1 then READY=1: $(cat "$E2E_DIR/$n.notify")"
done
e2e_log "ExecReload of both: RELOADING=1, then READY=1"

kill -TERM "$cpid"; wait "$cpid"; rc=$?
[ $rc = 0 ] || e2e_fail "client exit $rc on SIGTERM"
line=$(unit_line ptun-client@.service ExecStopPost laptop)
read -ra args <<<"$line"
in_ns c1 "${args[@]}" >"$E2E_DIR/cleanup.out" 2>&1 || e2e_fail "ExecStopPost '$line': $(cat "$E2E_DIR/cleanup.out")"
grep -qx 'ptun: cleanup: 0 host change(s) undone' "$E2E_DIR/cleanup.out" || e2e_fail "cleanup after a clean stop: $(cat "$E2E_DIR/cleanup.out")"
kill -TERM "$spid"; wait "$spid"; rc=$?
[ $rc = 0 ] || e2e_fail "server exit $rc on SIGTERM"
grep -q '^STOPPING=1' "$E2E_DIR/srv.notify" || e2e_fail "server: no STOPPING=1"
e2e_log "SIGTERM: both exit 0; ExecStopPost cleanup finds nothing left"
echo PASS
