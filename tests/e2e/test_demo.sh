#!/usr/bin/env bash
# `make demo` as a new user runs it (scripts/demo.sh): it succeeds, its page comes through the
# tunnel, the pushed DNS lands in the client's namespace, and it leaves nothing behind: no
# namespace, no /etc/netns entry, this machine's resolv.conf as it was. The demo once wrote the
# pushed DNS into this machine's /etc/resolv.conf while it ran (and so failed its HTTP step: the
# server namespace's reverse lookup went to 10.99.0.1 and took 10 s).
source "$(dirname "$0")/lib.sh"
e2e_init
root=$(cd "$(dirname "$0")/../.." && pwd)
before=$(sha256sum /etc/resolv.conf)
timeout 120 bash "$root/scripts/demo.sh" "$E2E_PTUN" >"$E2E_DIR/demo.log" 2>&1 \
  || { tail -30 "$E2E_DIR/demo.log" >&2; e2e_fail "scripts/demo.sh failed"; }
grep -q "<h1>hello through ptun</h1>" "$E2E_DIR/demo.log" || e2e_fail "the demo's page did not come through the tunnel"
grep -q "^nameserver 10.99.0.1" "$E2E_DIR/demo.log" || e2e_fail "the demo did not show the pushed DNS in the client's namespace"
grep -q "FAIL" "$E2E_DIR/demo.log" && e2e_fail "a config in conf/ failed its check: $(grep FAIL "$E2E_DIR/demo.log")"
[ "$(sha256sum /etc/resolv.conf)" = "$before" ] || e2e_fail "this machine's /etc/resolv.conf changed"
ip netns list | grep -q "^ptdemo-" && e2e_fail "the demo left namespaces: $(ip netns list | grep ptdemo-)"
[ -e /etc/netns/ptdemo-c ] && e2e_fail "the demo left /etc/netns/ptdemo-c"
e2e_log "make demo: ok, nothing left behind"
exit 0
