#!/usr/bin/env bash
# Hostile input while serving: a real client (c1) sends 20 MB over TCP through the tunnel while
# ptun-load floods the server from another namespace (atk) with garbage datagrams, replays of a
# real session's datagrams (same and other source), ClientHellos that never answer the cookie and
# cookie-answered handshakes left half-open. Bounded: PTUN_FLOOD_COUNT rounds (default 60000, 4000 per
# second) or 25 s. Then:
#   - the transfer's sha256 matches;
#   - the server's VmRSS stays bounded (<= 2x its size before the flood + 32 MiB);
#   - every kind of dropped input shows in `ptun status --json` ingress counters by cause;
#   - to unverified sources (garbage, no-cookie hellos) the server sent at most as many bytes as
#     it received, and no reply larger than the smallest request (no amplification);
#   - half-open handshakes stay within max_half_open and expire (half_open back to 0).
source "$(dirname "$0")/lib.sh"
e2e_init
here=$(dirname "$(realpath "$0")")
load_bin="$(dirname "$E2E_PTUN")/bench/load/ptun-load"
[ -x "$load_bin" ] || e2e_fail "ptun-load not built next to ptun ($load_bin)"
e2e_ns srv; e2e_ns c1; e2e_ns atk
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_link atk srv 198.18.0.5/30 198.18.0.6/30
e2e_pki c1
e2e_server_config
sed -i 's/^log_level = .*/log_level = "info"\nmax_half_open = 16\nhandshake_timeout_secs = 3\nhandshake_rate_per_source = 50/' "$E2E_DIR/server.toml"
e2e_client_config c1 198.18.0.2:4433
e2e_up c1
spid=$E2E_SERVER_PID
rss() { awk '/^VmRSS:/{print $2}' "/proc/$spid/status"; }
rss0=$(rss)

head -c 20000000 /dev/urandom >"$E2E_DIR/blob"
want=$(sha256sum <"$E2E_DIR/blob" | cut -d' ' -f1)
in_ns srv timeout 90 python3 "$here/netcheck.py" tcp-sink 10.99.0.1 5001 "$E2E_DIR/got" &
sink=$!
e2e_listening srv tcp 5001
in_ns atk timeout 60 "$load_bin" flood --pki "$E2E_DIR/pki" --server 198.18.0.6:4433 --server-name ptun-server \
  --count "${PTUN_FLOOD_COUNT:-60000}" --secs 25 --rounds-per-sec 4000 >"$E2E_DIR/flood.json" 2>"$E2E_DIR/flood.log" &
flood=$!
# The transfer starts once the server counts the flood's first dropped datagrams.
flood_seen() { e2e_status server | python3 -c 'import json,sys; sys.exit(0 if sum(json.load(sys.stdin)["ingress"].values()) > 0 else 1)'; }
e2e_wait_for 10 flood_seen || e2e_fail "the server saw nothing of the flood"
in_ns c1 timeout 90 python3 "$here/netcheck.py" tcp-send 10.99.0.1 5001 "$E2E_DIR/blob" || e2e_fail "tcp send"
wait $sink || e2e_fail "tcp sink"
kill -0 $flood 2>/dev/null || e2e_fail "the flood ended before the transfer: no overlap (raise PTUN_FLOOD_COUNT)"
[ "$(sha256sum <"$E2E_DIR/got" | cut -d' ' -f1)" = "$want" ] || e2e_fail "sha256 mismatch under flood"
e2e_log "20 MB TCP under flood: sha256 matches"
peak=0
while kill -0 $flood 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done   # sampling
wait $flood || e2e_fail "ptun-load flood failed: $(cat "$E2E_DIR/flood.log")"
r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
cat "$E2E_DIR/flood.json"
e2e_log "server VmRSS before ${rss0} KiB, peak during flood ${peak} KiB, VmHWM $(awk '/^VmHWM:/{print $2}' "/proc/$spid/status") KiB"
if [ -n "${PTUN_E2E_ASAN:-}" ]; then
  e2e_log "ASan build: RSS bound not checked (freed memory stays in ASan's quarantine)"
else
  [ "$peak" -le $((2 * rss0 + 32768)) ] || e2e_fail "server memory grew from $rss0 to $peak KiB"
fi

# Half-open handshakes expire (handshake_timeout_secs = 3).
e2e_wait_for 10 sh -c "'$E2E_PTUN' status --json -s '$E2E_DIR/run/server.sock' | grep -q '\"half_open\": 0'" \
  || e2e_fail "half-open handshakes did not expire"
e2e_status server >"$E2E_DIR/status.json"
python3 - "$E2E_DIR/flood.json" "$E2E_DIR/status.json" <<'PY' || e2e_fail "flood checks"
import json, sys
f = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2])); ing = s["ingress"]
print("e2e: ingress:", {k: v for k, v in ing.items() if v}, file=sys.stderr)
# Dropped input, counted by cause.
for cause in ("bad_header", "unknown_version", "unknown_session", "cookie_sent", "replay_or_auth",
              "unknown_session_hints"):
    assert ing[cause] > 0, (cause, ing)
# The half-open handshakes ended: expired, or failed when the flood's junk reached them first
# (which of the two depends on timing).
assert ing["handshake_timeout"] + ing["handshake_failed"] > 0, ing
assert ing["half_open_limit"] + ing["rate_limited"] > 0, ing   # the half-open flood hit a bound
assert s["half_open"] == 0, s["half_open"]
# Unverified sources: never more bytes back than sent, no reply larger than a request.
for kind in ("garbage", "hello"):
    k = f[kind]
    assert k["tx"] > 0 and k["rx_bytes"] <= k["tx_bytes"], (kind, k)
# Garbage gets at most 8-byte unknown-session hints, and only for datagrams of >= 9 bytes (a
# valid outer header and a byte after it); a no-cookie ClientHello gets a HelloVerifyRequest no
# larger than itself.
assert f["garbage"]["max_rx"] <= 8, f["garbage"]
assert f["hello"]["max_rx"] <= f["hello"]["min_tx"], f["hello"]
# Replays never produce data or a session for the replayer: what comes back is at most hints.
for kind in ("replay_same", "replay_other"):
    k = f[kind]
    assert k["rx_bytes"] <= k["tx_bytes"], (kind, k)
print("e2e: flood:", f["rounds"], "rounds in", f["ms"], "ms;",
      ", ".join(f"{k}: {f[k]['tx']} sent/{f[k]['rx']} answered ({f[k]['rx_bytes']}/{f[k]['tx_bytes']} bytes)"
                for k in ("garbage", "hello", "halfopen", "replay_same", "replay_other")), file=sys.stderr)
PY
e2e_status c1 | grep -q '"state": "connected"' || e2e_fail "client lost its session during the flood"
e2e_log "flood: counted, bounded, no amplification; client still connected"
exit 0
