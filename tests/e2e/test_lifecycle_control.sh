#!/usr/bin/env bash
# The control socket and metrics of a running client and server:
# - malformed and unknown requests get error replies and nothing crashes;
# - SO_PEERCRED access: a non-root uid outside the configured group is refused (even with the
#   socket's file mode opened up), a member of the group is served;
# - reload: a broken config is refused and the running one stays; a route change is applied with
#   the session kept; a peer removed from the server's config has its session closed at once;
# - `ptun stats`, provider messages; Prometheus text from both checked with `promtool check metrics`:
#   build info, certificate expiry, handshake histograms, and per-peer counters (label peer="c1")
#   that keep counting across a reconnect (down/up: a new session id).
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]       metrics on 127.0.0.1:9101 (srv), :9102 (c1)
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_need setpriv curl promtool
getent group nogroup >/dev/null && getent passwd daemon >/dev/null || e2e_skip "this system has no group nogroup or no user daemon"
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1 c2
e2e_server_config '
[[peer]]
name = "c1"

[[peer]]
name = "c2"'
sed -i '1i metrics_listen = "127.0.0.1:9101"' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
sed -i '1i metrics_listen = "127.0.0.1:9102"\ncontrol_group = "nogroup"' "$E2E_DIR/c1.toml"
e2e_up c1
cpid=$E2E_PID
csock="$E2E_DIR/run/c1.sock"; ssock="$E2E_DIR/run/server.sock"

# --- malformed requests
raw() {  # raw SOCKET LINE -> the reply line
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n"); buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(4096)
    if not d: break
    buf += d
print(buf.decode().strip())
PY
}
for sock in "$csock" "$ssock"; do
  for req in 'garbage' '[1,2]' '{"cmd":5}' '{"cmd":"frobnicate"}' '{"cmd":"kick"}' '{"cmd":"message","message":7}' \
             "{\"cmd\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"; do
    reply=$(raw "$sock" "$req")
    echo "$reply" | grep -q '"ok":false' || e2e_fail "no error reply to ${req:0:40} on $sock: $reply"
  done
done
kill -0 "$cpid" || e2e_fail "client died on malformed requests"
[ "$(e2e_json c1 state)" = connected ] || e2e_fail "client state changed by malformed requests"
"$E2E_PTUN" status -s "$ssock" >/dev/null || e2e_fail "server died on malformed requests"
e2e_log "malformed and unknown requests: error replies, both still running"

# --- access: open the path (dirs 0711, sockets 0666) so only SO_PEERCRED decides
chmod 711 "$E2E_DIR" "$E2E_DIR/run"; chmod 666 "$csock" "$ssock"
as() { local u=$1 g=$2; shift 2; setpriv --reuid "$u" --regid "$g" --clear-groups "$@"; }
as nobody nogroup "$E2E_PTUN" status -s "$ssock" >/dev/null 2>&1 && e2e_fail "server served uid nobody (no control_group)"
as daemon daemon "$E2E_PTUN" status -s "$csock" >/dev/null 2>&1 && e2e_fail "client served uid daemon (not in nogroup)"
as nobody nogroup "$E2E_PTUN" status -s "$csock" >/dev/null 2>&1 || e2e_fail "client refused a member of its control_group"
grep -q "control: refused uid" "$E2E_DIR/server.log" || e2e_fail "refusal not logged"
e2e_log "control access: root and group members only (SO_PEERCRED)"

# --- stats and provider messages
"$E2E_PTUN" stats -s "$csock" | grep -q '"history"' || e2e_fail "stats lacks history"
"$E2E_PTUN" message echo --data '{"x":1}' -s "$csock" | grep -q '"x": 1' || e2e_fail "echo message"
"$E2E_PTUN" message path -s "$csock" | grep -q '"source": "198.18.0.1"' || e2e_fail "path message"
"$E2E_PTUN" message nonsense -s "$csock" >/dev/null 2>&1 && e2e_fail "unknown message accepted"

# --- reload
sid=$(e2e_json c1 session_id)
cp "$E2E_DIR/c1.toml" "$E2E_DIR/c1.good"
echo 'this is = = broken' >>"$E2E_DIR/c1.toml"
out=$("$E2E_PTUN" reload -s "$csock" 2>&1) && e2e_fail "broken config was accepted"
echo "$out" | grep -q "running config kept" || e2e_fail "reload error does not say the config was kept: $out"
cp "$E2E_DIR/c1.good" "$E2E_DIR/c1.toml"
sed -i 's/^\[tunnel\]/[routes]\ninclude = ["10.123.0.0\/16"]\n\n[tunnel]/' "$E2E_DIR/c1.toml"
"$E2E_PTUN" reload -s "$csock" | grep -q '"session": "kept"' || e2e_fail "route reload did not keep the session"
e2e_status c1 | grep -q '10.123.0.0/16' || e2e_fail "reloaded route not applied"
in_ns c1 ip route get 10.123.4.5 | grep -q ptun0 || e2e_fail "10.123.0.0/16 does not go into the tunnel"
[ "$(e2e_json c1 session_id)" = "$sid" ] || e2e_fail "session changed on a route reload"
e2e_log "reload: broken config refused; route change applied with the same session"

# --- metrics, checked by promtool; per-peer counters survive a reconnect
scrape() {  # scrape TAG: both endpoints' text into $E2E_DIR/metrics.PORT.TAG, each checked by promtool
  local port ns
  for port in 9101 9102; do
    ns=srv; [ $port = 9102 ] && ns=c1
    in_ns $ns curl -sf "http://127.0.0.1:$port/metrics" >"$E2E_DIR/metrics.$port.$1" || e2e_fail "no metrics on $ns:$port"
    promtool check metrics <"$E2E_DIR/metrics.$port.$1" || e2e_fail "promtool rejects the $ns metrics ($1)"
  done
}
sample() {  # sample FILE 'NAME{LABELS}': the value of that exact series, or fail
  local v
  v=$(grep -F "$2 " "$1" | head -1 | awk '{print $NF}')
  [ -n "$v" ] || e2e_fail "no series $2 in $1"
  echo "$v"
}
in_ns c1 ping -c 5 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 -> server ping"
scrape 1
m1s="$E2E_DIR/metrics.9101.1"; m1c="$E2E_DIR/metrics.9102.1"
grep -q "session=" "$m1s" && e2e_fail "server metrics still carry a session id label"
rx1=$(sample "$m1s" 'ptun_server_peer_received_packets_total{peer="c1"}')
[ "$rx1" -ge 5 ] || e2e_fail "c1's received packets $rx1 < 5 pings"
[ "$(sample "$m1s" 'ptun_server_peer_sessions_total{peer="c1"}')" = 1 ] || e2e_fail "c1 sessions_total != 1"
[ "$(sample "$m1s" 'ptun_server_peer_connected{peer="c1"}')" = 1 ] || e2e_fail "c1 not connected in the metrics"
[ "$(sample "$m1s" 'ptun_server_peer_sessions_total{peer="c2"}')" = 0 ] || e2e_fail "listed c2 has no zero series"
# certificates: the peer's (pki issue: 1 year), the server's own and the CA on the server; the
# client's own and the CA on the client; all in the future
now=$(date +%s)
for f in "$m1s" "$m1c"; do
  for kind in cert ca; do
    v=$(grep "^ptun_certificate_expiry_timestamp_seconds{kind=\"$kind\"" "$f" | head -1 | awk '{print $NF}')
    [ -n "$v" ] && [ "$v" -gt "$now" ] || e2e_fail "no future $kind expiry in $f: '$v'"
  done
  grep -q '^ptun_build_info{version="[0-9.]*",commit="[^"]*",mbedtls="3\.[0-9.]*",record_crypto="\(openssl\|libsodium\|mbedtls\)"} 1$' "$f" \
    || e2e_fail "no ptun_build_info in $f"
done
grep -q '^ptun_certificate_expiry_timestamp_seconds{kind="cert",subject="ptun-server",' "$m1s" || e2e_fail "server cert subject"
grep -q '^ptun_certificate_expiry_timestamp_seconds{kind="cert",subject="c1",' "$m1c" || e2e_fail "client cert subject"
pexp=$(sample "$m1s" 'ptun_server_peer_certificate_expiry_timestamp_seconds{peer="c1"}')
[ "$pexp" -gt "$now" ] || e2e_fail "c1's certificate expiry $pexp is not in the future"
[ "$(sample "$m1s" 'ptun_server_handshake_duration_seconds_count')" -ge 1 ] || e2e_fail "server handshake histogram empty"
[ "$(sample "$m1c" 'ptun_client_handshake_duration_seconds_count')" = 1 ] || e2e_fail "client handshake histogram != 1"
[ "$(sample "$m1c" 'ptun_client_handshake_duration_seconds_bucket{le="+Inf"}')" = 1 ] || e2e_fail "client +Inf bucket"
grep -q '^ptun_client_state{state="connected"} 1$' "$m1c" || e2e_fail "client state metric"
# reconnect: a new session id, the same peer series, counters kept and growing
"$E2E_PTUN" down -s "$csock" >/dev/null || e2e_fail "ptun down"
"$E2E_PTUN" up -s "$csock" >/dev/null || e2e_fail "ptun up"
e2e_wait_connected c1 10 || e2e_fail "client did not reconnect after down/up"
[ "$(e2e_json c1 session_id)" != "$sid" ] || e2e_fail "down/up kept the session id"
in_ns c1 ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || e2e_fail "c1 -> server ping after the reconnect"
scrape 2
m2s="$E2E_DIR/metrics.9101.2"; m2c="$E2E_DIR/metrics.9102.2"
rx2=$(sample "$m2s" 'ptun_server_peer_received_packets_total{peer="c1"}')
[ "$rx2" -ge $((rx1 + 3)) ] || e2e_fail "c1's received packets did not survive the reconnect: $rx1 then $rx2"
[ "$(sample "$m2s" 'ptun_server_peer_sessions_total{peer="c1"}')" = 2 ] || e2e_fail "c1 sessions_total != 2 after a reconnect"
[ "$(sample "$m2s" 'ptun_server_peer_handshakes_total{peer="c1"}')" = 2 ] || e2e_fail "c1 handshakes_total != 2"
[ "$(sample "$m2c" 'ptun_client_handshake_duration_seconds_count')" = 2 ] || e2e_fail "client handshake histogram != 2"
e2e_log "metrics of both pass promtool; build info, certificate expiry, handshake histograms; c1's counters $rx1 -> $rx2 packets across a reconnect"

# A reload that restarts the session (a second server in the list) and changes [routes] at once:
# the server pushes the same settings to the new session, and the new routes still apply.
sed -i -e 's|^server = .*|server = ["198.18.0.2:4433", "198.18.0.254:4433"]|' \
  -e 's|include = \["10.123.0.0/16"\]|include = ["10.124.0.0/16"]|' "$E2E_DIR/c1.toml"
"$E2E_PTUN" reload -s "$csock" | grep -q '"session": "restarted"' || e2e_fail "a server list reload did not restart the session"
e2e_wait_connected c1 10 || e2e_fail "c1 not connected after the reload"
in_ns c1 ip route get 10.124.4.5 | grep -q ptun0 || e2e_fail "the reloaded [routes] are not applied with the new session"
in_ns c1 ip route get 10.123.4.5 | grep -q ptun0 && e2e_fail "the old [routes] stayed after the reload"
e2e_log "reload: server list and routes changed at once: new session, the new routes applied"

# --- server: reload peers; c1 removed -> its session closes at once
sed -i '/name = "c1"/d' "$E2E_DIR/server.toml"
sed -i '0,/\[\[peer\]\]/{/\[\[peer\]\]/d}' "$E2E_DIR/server.toml"
"$E2E_PTUN" reload -s "$ssock" | grep -q '"c1"' || e2e_fail "server reload did not remove c1"
"$E2E_PTUN" sessions --json -s "$ssock" | grep -q '"peer": "c1"' && e2e_fail "c1's session still open after reload"
e2e_wait_for 5 grep -q "refused certificate 'c1'" "$E2E_DIR/server.log" || e2e_fail "c1 not refused after removal"
e2e_log "server reload: removed peer's session closed at once, reconnect refused"
exit 0
