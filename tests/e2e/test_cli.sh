#!/usr/bin/env bash
# The command line as a user meets it: version/help, usage errors exit 2 with one line, a broken
# config fails with file:line:col and changes nothing, the example configs check, and a second
# instance on the same control socket is refused before it touches the host.
#   [srv] alone (a namespace, so the first instance's TUN never touches the host)
source "$(dirname "$0")/lib.sh"
e2e_init
root=$(cd "$(dirname "$0")/../.." && pwd)

"$E2E_PTUN" version | grep -q '^ptun ' || e2e_fail "version"
"$E2E_PTUN" help | grep -q 'check-config' || e2e_fail "help"
out=$("$E2E_PTUN" --no-such-flag 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] || e2e_fail "unknown flag: rc=$rc out=$out"
out=$("$E2E_PTUN" frobnicate 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "unknown command 'frobnicate'" || e2e_fail "unknown command: $rc $out"
out=$("$E2E_PTUN" server -c "$E2E_DIR/missing.toml" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "not found" || e2e_fail "missing config: $rc $out"
for f in "$root"/conf/*.toml; do
  "$E2E_PTUN" check-config "$f" >/dev/null 2>&1 || e2e_fail "check-config $f"
done
e2e_log "usage errors exit 2; conf/*.toml check"
# The userspace example: checks (missing certificates are only noted), and its effective config
# is a userspace client with the proxy listeners and both kinds of forward.
out=$("$E2E_PTUN" check-config "$root/conf/client-userspace.toml" 2>&1) || e2e_fail "check-config conf/client-userspace.toml: $out"
for want in 'mode = "userspace"' 'socks5 = \["127.0.0.1:1080"\]' 'http = \["127.0.0.1:3128"\]' 'proto = "udp"' 'proto = "tcp"'; do
  echo "$out" | grep -q "^$want" || e2e_fail "conf/client-userspace.toml: no '$want' in: $out"
done
echo "$out" | grep -q "error" && e2e_fail "conf/client-userspace.toml: $out"
e2e_log "conf/client-userspace.toml: a userspace client with SOCKS5, HTTP CONNECT, TCP and UDP forwards"

printf 'listen = ["0.0.0.0:4433"]\n[tunnel]\nmtu = 70000\n' >"$E2E_DIR/broken.toml"
out=$("$E2E_PTUN" check-config "$E2E_DIR/broken.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qE "broken.toml:[0-9]+:[0-9]+: " || e2e_fail "broken config: $rc $out"
e2e_log "broken config: $out"

e2e_ns srv
e2e_pki c1
e2e_server_config
{ echo 'bogus_key = 1'; cat "$E2E_DIR/server.toml"; } >"$E2E_DIR/unknown.toml"
out=$("$E2E_PTUN" check-config "$E2E_DIR/unknown.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "unknown.toml:1:1: bogus_key" || e2e_fail "unknown key: $rc $out"
e2e_log "unknown key: $out"
sed 's/^mtu = /mtus = /' "$E2E_DIR/server.toml" >"$E2E_DIR/typo.toml"
out=$("$E2E_PTUN" check-config "$E2E_DIR/typo.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qF 'tunnel.mtus: unknown key; did you mean `tunnel.mtu`?' || e2e_fail "typo: $rc $out"
e2e_log "typo: $out"
# --strict runs the daemon's credential checks: the good files pass, a key of another
# certificate and a world-readable key are refused with the daemon's own words.
out=$("$E2E_PTUN" check-config --strict "$E2E_DIR/server.toml" 2>&1) || e2e_fail "--strict on good files: $out"
sed "s|^key = .*|key = \"$E2E_DIR/pki/c1.key\"|" "$E2E_DIR/server.toml" >"$E2E_DIR/mismatch.toml"
"$E2E_PTUN" check-config "$E2E_DIR/mismatch.toml" >"$E2E_DIR/out" 2>&1 || e2e_fail "mismatched key fails without --strict: $(cat "$E2E_DIR/out")"
out=$("$E2E_PTUN" check-config --strict "$E2E_DIR/mismatch.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "key does not match the certificate" || e2e_fail "--strict mismatch: $rc $out"
e2e_log "--strict, mismatched key: $out"
cp "$E2E_DIR/pki/ptun-server.key" "$E2E_DIR/world.key"
chmod 644 "$E2E_DIR/world.key"
sed "s|^key = .*|key = \"$E2E_DIR/world.key\"|" "$E2E_DIR/server.toml" >"$E2E_DIR/world.toml"
out=$("$E2E_PTUN" check-config --strict "$E2E_DIR/world.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "is world-accessible" || e2e_fail "--strict world-readable key: $rc $out"
e2e_log "--strict, world-readable key: $out"
e2e_up
before=$(in_ns srv ip -o link | wc -l)
out=$(in_ns srv timeout 10 "$E2E_PTUN" server -c "$E2E_DIR/server.toml" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "already running" || e2e_fail "second instance: $rc $out"
[ "$(in_ns srv ip -o link | wc -l)" = "$before" ] || e2e_fail "second instance changed the links"
"$E2E_PTUN" status -s "$E2E_DIR/run/server.sock" | grep -q "server:" || e2e_fail "first instance broken"
e2e_log "second instance refused: $out"
exit 0
