#!/usr/bin/env bash
# A cross-built client (make cross TARGET=...) under qemu-user against the native server.
#   [c1] qemu-TARGET ptun client 198.18.0.1 ==veth== 198.18.0.2 [srv] native ptun server (TUN)
#        10.99.0.1: http.server :8000, TCP sink :5001
# MODE userspace: the client runs as nobody; a 20 MiB download through its SOCKS5 proxy, sha256
# checked. MODE tun: the same client with a TUN, a 20 MB TCP upload through it, sha256 checked.
# CTest labels cross-userspace and qemu-tun (tests/CMakeLists.txt; not run by make test). It skips
# (77) only when the target's cross build is absent.
# usage: test_cross_client.sh NATIVE_PTUN TARGET CROSS_PTUN userspace|tun
source "$(dirname "$0")/lib.sh"
target=${2:?target}; cross=${3:?cross-built ptun}; mode=${4:?userspace or tun}
case "$target" in
  armhf) qemu=qemu-arm-static ;;
  *) qemu=qemu-$target-static ;;
esac
[ -x "$cross" ] || e2e_skip "no cross build for $target ($cross): run make cross TARGET=$target"
e2e_init
e2e_need "$qemu" curl setpriv
here=$(dirname "$(realpath "$0")")
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]'
e2e_up
# qemu-user runs a client several times slower than native: give it time to connect.
export E2E_READY_SECS=60
# The client is started (and asked for its status) through a wrapper: qemu-user running a copy of
# the cross-built binary that uid 65534 can read.
install -m 755 "$cross" "$E2E_DIR/ptun-$target"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$qemu" "$E2E_DIR/ptun-$target" >"$E2E_DIR/ptun-$target.sh"
chmod 755 "$E2E_DIR/ptun-$target.sh"
cross_start() { E2E_PTUN="$E2E_DIR/ptun-$target.sh" e2e_start client c1 "$@"; }

if [ "$mode" = userspace ]; then
  mkdir -p "$E2E_DIR/www"
  head -c $((20 * 1024 * 1024)) /dev/urandom >"$E2E_DIR/www/blob"
  want=$(sha256sum <"$E2E_DIR/www/blob" | cut -d' ' -f1)
  (cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 10.99.0.1 8000) >"$E2E_DIR/http.log" 2>&1 &
  E2E_PIDS+=($!)
  e2e_listening srv tcp 10.99.0.1:8000
  e2e_userspace_client_config c1 198.18.0.2:4433 '
[proxy]
socks5 = ["127.0.0.1:1080"]'
  cross_start "${E2E_NOBODY[@]}"
  e2e_log "$target client (qemu-user, userspace mode, as nobody) connected"
  t0=$(date +%s.%N)
  got=$(in_ns c1 curl -sS --max-time 170 --socks5-hostname 127.0.0.1:1080 http://10.99.0.1:8000/blob | sha256sum | cut -d' ' -f1)
  t1=$(date +%s.%N)
  [ "$got" = "$want" ] || e2e_fail "$target userspace: 20 MiB download sha256 mismatch: $got != $want"
  e2e_log "$target userspace: 20 MiB via SOCKS5, sha256 ok, $(python3 -c "print(f'{20*8*1.048576/($t1-$t0):.1f}')") Mbit/s"
else
  # TUN mode needs qemu-user to translate SO_MARK, the TUN ioctls and rtnetlink; the client's log
  # names the call that fails where it does not (README: Routers / cross builds).
  e2e_client_config c1 198.18.0.2:4433
  cross_start
  e2e_log "$target client (qemu-user, TUN mode) connected"
  e2e_transfer srv c1 10.99.0.1 5001 20000000 170 || e2e_fail "$target TUN: 20 MB TCP upload failed or sha256 mismatch"
  e2e_log "$target TUN: 20 MB TCP upload through the tunnel, sha256 ok"
fi
e2e_stop "$E2E_PID" || e2e_fail "$target $mode client did not stop on SIGTERM"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "$target client left ptun0 behind"
exit 0
