#!/usr/bin/env bash
# The netcfg journal is replayed as root (next start, `ptun cleanup`), so it must not be a way for
# the unprivileged `user` to make root write files or run nft scripts (issue 19, finding 1):
#  - a client with user = "nobody" keeps its state_dir and journal root-owned; nobody cannot write
#    the journal, yet the dropped client journals its routes (through the descriptor it opened as
#    root) and `ptun stop` restores everything;
#  - a journal owned by nobody (what an older ptun left after handing state_dir over) is refused
#    by `ptun cleanup`, which then writes nothing;
#  - a root-owned journal whose entries ptun never writes (a root-owned 0600 file, an nft name that
#    carries a script) is refused as a whole: the file keeps its bytes, the ruleset stays.
source "$(dirname "$0")/lib.sh"
e2e_init
getent passwd nobody >/dev/null || e2e_skip "no user nobody"
e2e_ns srv; e2e_ns c1
e2e_link c1 srv 198.18.0.1/30 198.18.0.2/30
e2e_pki c1
chmod 755 "$E2E_DIR"
e2e_server_config
e2e_client_config c1 198.18.0.2:4433 '
[routes]
include = ["192.0.2.0/24"]'
sed -i 's/^log_level = .*/&\nuser = "nobody"\ngroup = "nogroup"/' "$E2E_DIR/c1.toml"
state="$E2E_DIR/state-c1"
journal="$state/netcfg.journal"

e2e_up c1
cpid=$E2E_PID
e2e_wait_for 5 grep -q "dropped privileges" "$E2E_DIR/c1.log" || e2e_fail "client did not drop privileges"
[ "$(awk '/^Uid:/{print $2}' "/proc/$cpid/status")" = 65534 ] || e2e_fail "client does not run as nobody"
[ "$(stat -c '%u %a' "$state")" = "0 700" ] || e2e_fail "state_dir handed over: $(stat -c '%u %a' "$state")"
[ "$(stat -c '%u %a' "$journal")" = "0 600" ] || e2e_fail "journal not root-owned 0600: $(stat -c '%u %a' "$journal")"
grep -q '^route .*192.0.2.0' "$journal" || e2e_fail "the dropped client did not journal its route: $(cat "$journal")"
in_ns c1 ip route show 192.0.2.0/24 | grep -q ptun0 || e2e_fail "route 192.0.2.0/24 not installed"
if in_ns c1 setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo 'file /etc/x 0 planted' >>'$journal'" 2>/dev/null; then
  e2e_fail "nobody could append to the journal"
fi
e2e_log "client as nobody: state_dir and journal root-owned, route journaled through the kept descriptor"
"$E2E_PTUN" stop -s "$(e2e_sock c1)" || e2e_fail "ptun stop"
e2e_wait_exit "$cpid" || e2e_fail "client did not exit after ptun stop"
in_ns c1 ip route show 192.0.2.0/24 | grep -q . && e2e_fail "route left behind after stop"
[ ! -s "$journal" ] || e2e_fail "journal not emptied after a clean stop: $(cat "$journal")"
e2e_log "stopped: route removed, journal empty"

# A root-owned 0600 file that a planted entry would overwrite.
victim="$E2E_DIR/victim"
printf 'secret\n' >"$victim"; chmod 600 "$victim"
enc() {  # a journal field: bytes 0x21..0x7e but '%' as they are, the rest %xx (journal.cpp)
  python3 -c 'import sys; s=sys.argv[1].encode()
print("".join(chr(b) if 0x20 < b < 0x7f and b != 0x25 else "%%%02x" % b for b in s) or "%")' "$1"
}
plant() {  # TEXT: a journal whose entry would overwrite $victim, then an nft name carrying a script
  printf 'ptun-netcfg-journal 1\nfile %s 1 %s\nnft %s\n' "$(enc "$victim")" "$(enc "owned")" \
    "$(enc $'ptun\nadd table inet planted')"
}

# 1. Owned by nobody (the old hand-over): refused before anything is read.
plant >"$journal"; chown 65534:65534 "$journal"
out=$(in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" 2>&1) && e2e_fail "cleanup accepted a journal owned by nobody: $out"
echo "$out" | grep -q "owned by uid 65534" || e2e_fail "no reason given: $out"
[ "$(cat "$victim")" = secret ] || e2e_fail "cleanup wrote the victim file"
in_ns c1 nft list table inet planted >/dev/null 2>&1 && e2e_fail "cleanup ran a planted nft script"
e2e_log "a journal owned by nobody is refused: $out"

# 2. Root-owned, but entries ptun never writes: refused as a whole.
chown 0:0 "$journal"
out=$(in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" 2>&1) && e2e_fail "cleanup accepted planted entries: $out"
echo "$out" | grep -q "not a file ptun manages" || e2e_fail "no reason given: $out"
[ "$(cat "$victim")" = secret ] || e2e_fail "cleanup wrote the victim file"
in_ns c1 nft list table inet planted >/dev/null 2>&1 && e2e_fail "cleanup ran a planted nft script"
e2e_log "planted entries are refused: $out"

# 3. A symbolic link in place of the journal is not followed.
rm -f "$journal"; ln -s "$victim" "$journal"
out=$(in_ns c1 "$E2E_PTUN" cleanup -c "$E2E_DIR/c1.toml" 2>&1) && e2e_fail "cleanup followed a symlink: $out"
echo "$out" | grep -q "symbolic link" || e2e_fail "no reason given: $out"
[ "$(cat "$victim")" = secret ] || e2e_fail "the symlink target was written"
e2e_log "a symlinked journal is refused"
exit 0
