#!/usr/bin/env bash
# The OpenWrt procd init script (packaging/openwrt/ptun/files/ptun.init), run under busybox ash
# (OpenWrt's shell) with procd's functions stubbed: for a client and a server config (plus a
# broken one and a non-.toml file) it must declare one respawning instance each with the right
# role, run `ptun reload` for both on reload, and `ptun cleanup` for the client only. Also: sh -n
# and shellcheck. This checks the commands the script would run; no OpenWrt image runs it here.
# usage: test_openwrt_init.sh PATH_TO_PTUN
set -euo pipefail
ptun=${1:?usage: test_openwrt_init.sh PATH_TO_PTUN}
src=$(cd "$(dirname "$0")/../.." && pwd)
init=$src/packaging/openwrt/ptun/files/ptun.init
for c in busybox shellcheck; do
  command -v "$c" >/dev/null || { echo "FAIL: $c missing: run scripts/install-deps.sh" >&2; exit 1; }
done
fail() { echo "FAIL: $*" >&2; exit 1; }

sh -n "$init" || fail "sh -n"
busybox ash -n "$init" || fail "busybox ash -n"
shellcheck "$init" || fail "shellcheck"
shellcheck -s sh "$src/packaging/openwrt/ptun/files/ptun.init" -e SC3043 || fail "shellcheck -s sh"

tmp=$(mktemp -d /tmp/ptun-openwrt.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/etc"
cp "$src/conf/router.toml" "$tmp/etc/branch.toml"
cp "$src/conf/server.toml" "$tmp/etc/hq.toml"
printf 'server = 1\n' >"$tmp/etc/broken.toml"
printf 'not a config\n' >"$tmp/etc/README"
# ptun as the script sees it: logs every call; check-config is the real one (it decides the role)
cat >"$tmp/ptun" <<SH
#!/bin/sh
echo "ptun \$*" >>"$tmp/calls"
[ "\$1" = check-config ] && exec "$ptun" "\$@"
exit 0
SH
chmod 755 "$tmp/ptun"

# run_init FUNCTION: the script sourced by busybox ash with procd's helpers stubbed
run_init() {
  : >"$tmp/calls"
  PTUN_PROG="$tmp/ptun" PTUN_CONFDIR="$tmp/etc" busybox ash -c '
    procd_open_instance() { echo "open $1"; }
    procd_set_param() { echo "param $*"; }
    procd_close_instance() { echo "close"; }
    logger() { echo "logger $*" >&2; }   # syslog, not stdout: never captured by the script
    start() { echo "start"; }
    . "$1"
    "$2"' run_init "$init" "$1" >"$tmp/out" 2>&1 || fail "$1 failed: $(cat "$tmp/out")"
  sed -i "s|$tmp|T|g" "$tmp/out" "$tmp/calls"
}
# same WHAT FILE EXPECTED: FILE holds exactly EXPECTED
same() { diff -u <(printf '%s\n' "$3") "$2" >&2 || fail "$1"; }

run_init start_service
same "start_service: instances" "$tmp/out" \
"open branch
param command T/ptun client -c T/etc/branch.toml
param respawn 3600 5 0
param term_timeout 15
param stdout 1
param stderr 1
close
logger -t ptun skipping T/etc/broken.toml: ptun: T/etc/broken.toml:1:10: server: expected a string, got integer
open hq
param command T/ptun server -c T/etc/hq.toml
param respawn 3600 5 0
param term_timeout 15
param stdout 1
param stderr 1
close"
echo "--- start_service: 2 instances (client branch, server hq), broken.toml skipped and logged" >&2

run_init reload_service
same "reload_service: ptun calls" <(grep -v check-config "$tmp/calls") \
"ptun reload -c T/etc/branch.toml
ptun reload -c T/etc/hq.toml"
grep -qx start "$tmp/out" || fail "reload_service did not call start (new/removed files)"
echo "--- reload: ptun reload for both, then procd's start for new or removed files" >&2

run_init cleanup
same "cleanup: ptun calls" <(grep -v check-config "$tmp/calls") "ptun cleanup -c T/etc/branch.toml"
echo "--- cleanup: ptun cleanup for the client only" >&2

rm "$tmp"/etc/*.toml
run_init start_service
[ ! -s "$tmp/out" ] || fail "no configs: expected no instance, got $(cat "$tmp/out")"
echo "--- no configs: no instance" >&2
