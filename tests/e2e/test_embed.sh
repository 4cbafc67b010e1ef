#!/usr/bin/env bash
# The embedding API end to end: examples/embed_fetch (a program linking ptun_embed) runs as nobody
# (uid 65534, no capabilities, no TUN, no [proxy] listeners) and opens connections in the tunnel.
#
#   [c1] embed_fetch (EmbeddedClient: lwIP, unprivileged)
#        198.18.0.1 ==veth== 198.18.0.2 [srv] ptun server (TUN) 10.99.0.1: http.server :8000,
#                                              dnsmasq (web.test -> 10.99.0.1, *.test local)
# Checks: an 8 MiB download by name via connect_tcp (sha256), a refused port, a destination
# outside the pushed routes, an unknown name, a DNS query via open_udp, and a config without
# mode = "userspace" refused.
source "$(dirname "$0")/lib.sh"
E2E_SERVER_TUNNEL='dns_proxy = "off"'   # its own resolver listens on the tunnel address
e2e_init
FETCH=${PTUN_EMBED_FETCH:-$(dirname "$E2E_PTUN")/embed_fetch}
[ -x "$FETCH" ] || e2e_fail "embed_fetch not built at $FETCH (set PTUN_EMBED_FETCH)"
e2e_need dnsmasq setpriv
# nobody runs it: a copy in $E2E_DIR, as the build tree may be out of its reach (a clone in /root)
cp "$FETCH" "$E2E_DIR/embed_fetch" || e2e_fail "copy $FETCH"
FETCH=$E2E_DIR/embed_fetch
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]
dns_servers = ["10.99.0.1"]'
e2e_userspace_client_config c1 198.18.0.2:4433
e2e_up   # ready: its TUN address exists for the web server and dnsmasq to bind
mkdir -p "$E2E_DIR/www"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$E2E_DIR/www/blob"
want=$(sha256sum <"$E2E_DIR/www/blob" | cut -d' ' -f1)
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 10.99.0.1 8000) >"$E2E_DIR/http.log" 2>&1 &
E2E_PIDS+=($!)
e2e_bg srv dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.99.0.1 --bind-interfaces \
  --port=53 --address=/web.test/10.99.0.1 --local=/test/ --user=root >/dev/null
e2e_listening srv tcp 8000
e2e_listening srv udp 53

# fetch ARGS...: embed_fetch as nobody in c1; stdout to $E2E_DIR/out, stderr to $E2E_DIR/err.
fetch() {
  in_ns c1 "${E2E_NOBODY[@]}" timeout 60 "$FETCH" "$E2E_DIR/c1.toml" "$@" \
    >"$E2E_DIR/out" 2>"$E2E_DIR/err"
}
# expect_error CODE ARGS...: embed_fetch must fail with "embed_fetch: CODE: ...".
expect_error() {
  local code=$1; shift
  fetch "$@" && e2e_fail "embed_fetch $* succeeded, want $code"
  grep -q "^embed_fetch: $code: " "$E2E_DIR/err" || { cat "$E2E_DIR/err" >&2; e2e_fail "embed_fetch $*: want $code"; }
  e2e_log "$* -> $(grep '^embed_fetch: ' "$E2E_DIR/err")"
}

fetch web.test 8000 /blob || { cat "$E2E_DIR/err" >&2; e2e_fail "embed_fetch download failed"; }
got=$(sha256sum <"$E2E_DIR/out" | cut -d' ' -f1)
[ "$got" = "$want" ] || e2e_fail "download sha256 mismatch: $got != $want ($(stat -c %s "$E2E_DIR/out") bytes)"
in_ns c1 ip link show ptun0 >/dev/null 2>&1 && e2e_fail "a TUN exists in c1"
e2e_log "8 MiB by name through connect_tcp as uid 65534: sha256 ok"

expect_error refused 10.99.0.1 9 /
expect_error not_routed 198.18.0.2 4433 /
expect_error not_found nope.test 80 /

fetch --dns 10.99.0.1 web.test || { cat "$E2E_DIR/err" >&2; e2e_fail "DNS via open_udp failed"; }
[ "$(cat "$E2E_DIR/out")" = "10.99.0.1" ] || e2e_fail "DNS via open_udp: '$(cat "$E2E_DIR/out")'"
e2e_log "DNS query via open_udp: web.test -> $(cat "$E2E_DIR/out")"

# A TUN-mode config is refused before anything starts.
sed 's/^mode = "userspace"$/mode = "tun"/' "$E2E_DIR/c1.toml" >"$E2E_DIR/tun.toml"
chmod a+r "$E2E_DIR/tun.toml"
in_ns c1 setpriv --reuid=65534 --regid=65534 --clear-groups "$FETCH" "$E2E_DIR/tun.toml" 10.99.0.1 8000 / 2>"$E2E_DIR/err" &&
  e2e_fail "a tun-mode config was accepted"
grep -q '^embed_fetch: config: .*mode = "userspace"' "$E2E_DIR/err" || { cat "$E2E_DIR/err" >&2; e2e_fail "tun config: wrong error"; }
e2e_log "mode = \"tun\" refused: $(cat "$E2E_DIR/err")"
exit 0
