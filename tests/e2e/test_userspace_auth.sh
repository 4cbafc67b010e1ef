#!/usr/bin/env bash
# Userspace mode with proxy credentials: SOCKS5 username/password (RFC 1929) and HTTP CONNECT
# Basic (RFC 7617) take the same [proxy] username/password; without them, or with a wrong
# password, nothing reaches the tunnel and the failures are counted.
#   [c1] curl --> ptun client (userspace, uid 65534) ==tunnel==> [srv] ptun server, http :8000
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need curl setpriv
e2e_ns srv; e2e_ns c1
e2e_netns_etc c1
echo "nameserver 192.0.2.53" >"$E2E_NETNS_ETC/resolv.conf"
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_userspace_prepare
e2e_server_config 'included_routes = ["10.99.0.0/24"]'
e2e_userspace_client_config c1 198.18.0.2:4433 '
[proxy]
socks5 = ["127.0.0.1:1080"]
http = ["127.0.0.1:3128"]
username = "alice"
password = "s3cret pass"'
e2e_up
e2e_start client c1 "${E2E_NOBODY[@]}"
"$E2E_PTUN" check-config "$E2E_DIR/c1.toml" 2>/dev/null | grep -q "s3cret" && e2e_fail "check-config prints the password"

mkdir -p "$E2E_DIR/www"
head -c 1000000 /dev/urandom >"$E2E_DIR/www/blob"
want=$(sha256sum <"$E2E_DIR/www/blob" | cut -d' ' -f1)
(cd "$E2E_DIR/www" && exec ip netns exec "$(ns srv)" python3 -m http.server --bind 10.99.0.1 8000) >"$E2E_DIR/http.log" 2>&1 &
E2E_PIDS+=($!)
e2e_listening srv tcp 10.99.0.1:8000
url=http://10.99.0.1:8000/blob
get() { in_ns c1 curl -sS --max-time 20 "$@" "$url" 2>/dev/null | sha256sum | cut -d' ' -f1; }

[ "$(get --socks5-hostname 127.0.0.1:1080 --proxy-user 'alice:s3cret pass')" = "$want" ] || e2e_fail "SOCKS5 with credentials"
in_ns c1 curl -sS --max-time 10 --socks5-hostname 127.0.0.1:1080 "$url" -o /dev/null 2>/dev/null && e2e_fail "SOCKS5 without credentials got through"
in_ns c1 curl -sS --max-time 10 --socks5-hostname 127.0.0.1:1080 --proxy-user 'alice:wrong' "$url" -o /dev/null 2>/dev/null &&
  e2e_fail "SOCKS5 with a wrong password got through"
e2e_log "SOCKS5: right credentials download (sha256 ok); none and wrong refused"

[ "$(get --proxytunnel -x http://127.0.0.1:3128 --proxy-user 'alice:s3cret pass')" = "$want" ] || e2e_fail "HTTP CONNECT with credentials"
code=$(in_ns c1 curl -s --max-time 10 --proxytunnel -x http://127.0.0.1:3128 -o /dev/null -w '%{http_connect}' "$url")
[ "$code" = 407 ] || e2e_fail "HTTP CONNECT without credentials: $code, want 407"
code=$(in_ns c1 curl -s --max-time 10 --proxytunnel -x http://127.0.0.1:3128 --proxy-user 'alice:nope' -o /dev/null -w '%{http_connect}' "$url")
[ "$code" = 407 ] || e2e_fail "HTTP CONNECT with a wrong password: $code, want 407"
e2e_log "HTTP CONNECT: Basic credentials download; none and wrong get 407"

fails=$(e2e_status c1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["proxy"]["auth_failures"])')
[ "$fails" -ge 3 ] || e2e_fail "auth_failures $fails < 3"
[ "$(in_ns srv grep -c 'GET /blob' "$E2E_DIR/http.log" 2>/dev/null || grep -c 'GET /blob' "$E2E_DIR/http.log")" = 2 ] ||
  e2e_fail "the web server saw $(grep -c 'GET /blob' "$E2E_DIR/http.log") requests, want 2 (only the authenticated ones)"
e2e_log "auth_failures $fails; only the 2 authenticated requests reached the web server"
echo PASS
