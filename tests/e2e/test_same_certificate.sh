#!/usr/bin/env bash
# Two devices with one certificate on one server (docs/protocol.md, CLOSE `replaced`): the second
# connect closes the first one's session, and the first holds back 10 s instead of taking the place
# back at once (before, the two closed each other's session every ~0.5 s). When the second device
# goes, the first comes back after its hold, with the same address.
#   [c1] 198.18.0.1 ==veth== 198.18.0.2 [srv] 198.18.0.6 ==veth== 198.18.0.5 [c1b] (c1's certificate)
source "$(dirname "$0")/lib.sh"
e2e_init
e2e_ns srv; e2e_ns c1; e2e_ns c1b
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link c1b srv 198.18.0.5/30 198.18.0.6/30
e2e_pki c1
e2e_server_config
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
pid_c1=$E2E_PID
a1=$(e2e_json c1 addresses)
in_ns c1 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic from c1"

E2E_CERT=c1 e2e_client_config c1b 198.18.0.6:4433
e2e_start client c1b
pid_c1b=$E2E_PID
e2e_wait_for 5 grep -q "another session of this certificate took this one's place (same server): trying again in 10 s" "$E2E_DIR/c1.log" \
  || e2e_fail "c1 was not replaced, or does not hold back: $(tail -5 "$E2E_DIR/c1.log")"
t0=$SECONDS
grep -q "peer c1 reconnected, closing its old session" "$E2E_DIR/server.log" || e2e_fail "the server did not close c1's old session"
# For 4 s: c1 stays out, c1b keeps the tunnel and carries traffic.
for i in 1 2 3 4; do
  in_ns c1b ping -c 1 -W 1 10.99.0.1 >/dev/null || e2e_fail "c1b lost the tunnel ($i s after c1 was replaced)"
  sleep 1
done
e2e_held_back c1
n=$(grep -c "reconnected, closing its old session" "$E2E_DIR/server.log")
[ "$n" = 1 ] || e2e_fail "the server replaced a session of c1 $n times"
e2e_log "c1 replaced by c1b and held back; c1b kept the tunnel"

# c1b goes: c1 takes the tunnel back after its 10 s hold, with its address.
e2e_stop "$pid_c1b" || e2e_fail "c1b did not stop"
e2e_wait_connected c1 15 || e2e_fail "c1 did not come back after its hold: $(tail -5 "$E2E_DIR/c1.log")"
held=$((SECONDS - t0))
[ "$held" -ge 8 ] || e2e_fail "c1 came back after $held s, before its 10 s hold"
[ "$(e2e_json c1 addresses)" = "$a1" ] || e2e_fail "c1's addresses changed: $a1 -> $(e2e_json c1 addresses)"
in_ns c1 ping -c 1 -W 2 10.99.0.1 >/dev/null || e2e_fail "no traffic from c1 after it came back"
e2e_log "c1 back after ${held} s with $a1"
e2e_stop "$pid_c1" || e2e_fail "c1 did not stop"
exit 0
