#!/usr/bin/env bash
# Running under systemd's Type=notify (issue 15 item 1), without systemd: $NOTIFY_SOCKET points at
# a stand-in socket (notify_sink.py) and JOURNAL_STREAM at the log file, as systemd sets them.
# - the server sends READY=1 with a STATUS naming its listening address once it is up, a new
#   STATUS with the session count when a client connects, RELOADING=1 + MONOTONIC_USEC then
#   READY=1 around `ptun reload`, STOPPING=1 on SIGTERM; its log lines are "<6>server: ..."
#   (syslog priority, no timestamp) on the journal stream, a refused reload "<4>server: ...", and
#   no line without a priority;
# - the client (abstract '@' socket, which lives in its network namespace) sends READY=1 only
#   with its first "connected" STATUS, and STATUS lines for its lifecycle;
# - a client whose stderr is not the journal stream keeps timestamps.
# - a startup error (broken config) on the journal stream is "<3>ptun: ...".
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv]
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(cd "$(dirname "$0")" && pwd)
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
e2e_server_config
sed -i 's/, "\[::\]:4433"//; /ipv6_pool/d; s/^log_level = .*/log_level = "info"/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433

e2e_bg srv sink-srv python3 "$here/notify_sink.py" "$E2E_DIR/notify.sock" "$E2E_DIR/srv.notify" >/dev/null
e2e_bg c1 sink-c1 python3 "$here/notify_sink.py" "@$E2E_ID-c1-notify" "$E2E_DIR/c1.notify" >/dev/null
e2e_wait_for 10 test -e "$E2E_DIR/srv.notify" || e2e_fail "server notify sink not bound"
e2e_wait_for 10 test -e "$E2E_DIR/c1.notify" || e2e_fail "client notify sink not bound"

: >"$E2E_DIR/server.log"
journal=$(stat -c '%d:%i' "$E2E_DIR/server.log")
NOTIFY_SOCKET="$E2E_DIR/notify.sock" JOURNAL_STREAM=$journal e2e_start server server
spid=$E2E_PID
e2e_wait_for 5 grep -q '^READY=1|STATUS=listening on 0.0.0.0:4433, 0 sessions$' "$E2E_DIR/srv.notify" \
  || e2e_fail "server: no READY=1 with its status: $(cat "$E2E_DIR/srv.notify")"
grep -q '^<6>server: listening on 0.0.0.0:4433$' "$E2E_DIR/server.log" \
  || e2e_fail "server log on the journal stream is not '<6>message': $(head -3 "$E2E_DIR/server.log")"
grep -qE '^[0-9]{4}-' "$E2E_DIR/server.log" && e2e_fail "timestamps on the journal stream"
e2e_log "server: READY=1 + STATUS when listening; '<6>' lines without timestamps on the journal stream"

NOTIFY_SOCKET="@$E2E_ID-c1-notify" JOURNAL_STREAM=1:1 e2e_start client c1
e2e_wait_for 5 grep -q '^READY=1|STATUS=connected (established)$' "$E2E_DIR/c1.notify" \
  || e2e_fail "client: no READY=1 when connected: $(cat "$E2E_DIR/c1.notify")"
[ "$(grep -c READY=1 "$E2E_DIR/c1.notify")" = 1 ] || e2e_fail "client sent READY=1 more than once"
head -1 "$E2E_DIR/c1.notify" | grep -qx 'STATUS=connecting (user)' \
  || e2e_fail "client: first message is not its connecting STATUS: $(cat "$E2E_DIR/c1.notify")"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* info  client: ' "$E2E_DIR/c1.log" \
  || e2e_fail "client with a JOURNAL_STREAM that is not its stderr lost its timestamps"
e2e_wait_for 5 grep -q '^STATUS=listening on 0.0.0.0:4433, 1 sessions$' "$E2E_DIR/srv.notify" \
  || e2e_fail "server: no STATUS with 1 session: $(cat "$E2E_DIR/srv.notify")"
e2e_log "client: STATUS connecting, then READY=1 with connected; server STATUS counts the session"

"$E2E_PTUN" reload -s "$(e2e_sock server)" >"$E2E_DIR/reload.out" || e2e_fail "ptun reload: $(cat "$E2E_DIR/reload.out")"
e2e_wait_for 5 grep -q '^READY=1|STATUS=listening on 0.0.0.0:4433, 1 sessions$' "$E2E_DIR/srv.notify" \
  || e2e_fail "server: no READY=1 after reload: $(cat "$E2E_DIR/srv.notify")"
reloading=$(grep -n '^RELOADING=1|MONOTONIC_USEC=[0-9]\+$' "$E2E_DIR/srv.notify" | cut -d: -f1)
ready_after=$(grep -n '^READY=1|' "$E2E_DIR/srv.notify" | tail -1 | cut -d: -f1)
[ -n "$reloading" ] && [ "$reloading" -lt "$ready_after" ] \
  || e2e_fail "server: RELOADING=1 then READY=1 not seen in order: $(cat "$E2E_DIR/srv.notify")"
e2e_log "reload: RELOADING=1 with MONOTONIC_USEC, then READY=1"

# A warning on the journal stream: SIGHUP with a broken config is refused at priority 4. Every line
# the server wrote so far carries a priority prefix (nothing reaches the journal unprefixed).
cp "$E2E_DIR/server.toml" "$E2E_DIR/server.good"
echo 'this is = = broken' >>"$E2E_DIR/server.toml"
kill -HUP "$spid"
e2e_wait_for 5 grep -q '^<4>server: .*server.toml' "$E2E_DIR/server.log" \
  || e2e_fail "a refused SIGHUP reload is not a '<4>' line: $(tail -3 "$E2E_DIR/server.log")"
cp "$E2E_DIR/server.good" "$E2E_DIR/server.toml"
bad=$(grep -cvE '^<[3467]>' "$E2E_DIR/server.log")
[ "$bad" = 0 ] || e2e_fail "$bad server lines without a priority prefix: $(grep -vE '^<[3467]>' "$E2E_DIR/server.log" | head -3)"
e2e_log "a refused reload logs '<4>'; every server line on the journal stream has a priority prefix"

e2e_stop "$spid" || e2e_fail "server did not stop on SIGTERM"
grep -q '^STOPPING=1|STATUS=shutting down$' "$E2E_DIR/srv.notify" || e2e_fail "server: no STOPPING=1: $(cat "$E2E_DIR/srv.notify")"
e2e_wait_for 10 grep -q '^STATUS=reasserting' "$E2E_DIR/c1.notify" \
  || e2e_fail "client: no reasserting STATUS when the server went: $(cat "$E2E_DIR/c1.notify")"
e2e_log "stop: STOPPING=1; the client reports reasserting"

# A refused start (bad config) on the journal stream: the error line carries priority 3.
printf 'server = 1\n' >"$E2E_DIR/broken.toml"
: >"$E2E_DIR/broken.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$E2E_DIR/broken.log") "$E2E_PTUN" server -c "$E2E_DIR/broken.toml" >>"$E2E_DIR/broken.log" 2>&1 \
  && e2e_fail "server started with a broken config"
grep -q '^<3>ptun: .*broken.toml:1:' "$E2E_DIR/broken.log" || e2e_fail "startup error not at priority 3: $(cat "$E2E_DIR/broken.log")"
e2e_log "a startup error on the journal stream: '<3>ptun: ...'"
echo "PASS"
