#!/usr/bin/env bash
# The control socket and metrics of a running client and server:
# - malformed and unknown requests get error replies and nothing crashes;
# - SO_PEERCRED access: a non-root uid outside the configured group is refused (even with the
#   socket's file mode opened up), a member of the group is served;
# - reload: a broken config is refused and the running one stays; a route change is applied with
#   the session kept; a peer removed from the server's config has its session closed at once;
# - `ptun stats`, provider messages; Prometheus text from both checked with `promtool check metrics`.
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

# --- metrics, checked by promtool
for port in 9101 9102; do
  ns=srv; [ $port = 9102 ] && ns=c1
  in_ns $ns curl -sf "http://127.0.0.1:$port/metrics" >"$E2E_DIR/metrics.$port" || e2e_fail "no metrics on $ns:$port"
  promtool check metrics <"$E2E_DIR/metrics.$port" || e2e_fail "promtool rejects the $ns metrics"
done
grep -q 'ptun_server_session_sent_bytes_total{peer="c1",session="'"$sid"'"}' "$E2E_DIR/metrics.9101" \
  || e2e_fail "no per-session server metric for c1"
grep -q '^ptun_client_state{state="connected"} 1$' "$E2E_DIR/metrics.9102" || e2e_fail "client state metric"
e2e_log "metrics of both pass promtool check metrics"

# --- server: reload peers; c1 removed -> its session closes at once
sed -i '/name = "c1"/d' "$E2E_DIR/server.toml"
sed -i '0,/\[\[peer\]\]/{/\[\[peer\]\]/d}' "$E2E_DIR/server.toml"
"$E2E_PTUN" reload -s "$ssock" | grep -q '"c1"' || e2e_fail "server reload did not remove c1"
"$E2E_PTUN" sessions --json -s "$ssock" | grep -q '"peer": "c1"' && e2e_fail "c1's session still open after reload"
e2e_wait_for 5 grep -q "refused certificate 'c1'" "$E2E_DIR/server.log" || e2e_fail "c1 not refused after removal"
e2e_log "server reload: removed peer's session closed at once, reconnect refused"
exit 0
