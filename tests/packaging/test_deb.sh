#!/usr/bin/env bash
# The Debian package (issue 15 item 1): cpack builds it from this build dir into a temp dir; its
# metadata and file list are checked (dpkg-deb -I / -c), it is unpacked into a throwaway root
# (dpkg-deb -x: no maintainer script touches this host), and from there: the installed binary's
# --version/-V, check-config on every shipped example, the units' ExecStart/ExecReload command
# lines parsed from the installed unit files (their binary is the installed one, their config
# role matches the subcommand; check-config runs on a config at the unit's path), the units
# through `systemd-analyze verify` (no output allowed: unknown keys only warn), ptun(8) with a
# section per subcommand, and the bash completion against the binary's own help.
# usage: test_deb.sh PATH_TO_PTUN BUILD_DIR
set -euo pipefail
ptun=${1:?usage: test_deb.sh PATH_TO_PTUN BUILD_DIR}
build=${2:?usage: test_deb.sh PATH_TO_PTUN BUILD_DIR}
for c in cpack dpkg-deb systemd-analyze shellcheck gzip readelf; do
  command -v "$c" >/dev/null || { echo "FAIL: $c missing: run scripts/install-deps.sh" >&2; exit 1; }
done
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d /tmp/ptun-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

(cd "$build" && cpack -G DEB -B "$tmp/out") >"$tmp/cpack.log" 2>&1 || fail "cpack: $(cat "$tmp/cpack.log")"
version=$("$ptun" version | sed 's/^ptun //')
arch=$(dpkg --print-architecture)
deb="$tmp/out/ptun_${version}_${arch}.deb"
[ -f "$deb" ] || fail "no $deb: $(ls "$tmp/out")"
echo "--- built $(basename "$deb"), $(stat -c %s "$deb") bytes" >&2

dpkg-deb -I "$deb" >"$tmp/info" || fail "dpkg-deb -I"
for want in "Package: ptun" "Version: $version" "Architecture: $arch" "Section: net"; do
  grep -qx " $want" "$tmp/info" || fail "control lacks '$want': $(cat "$tmp/info")"
done
grep -q '^ Depends: .*nftables' "$tmp/info" || fail "Depends lacks nftables (ptun runs nft)"
grep -q '^ Depends: .*libc6' "$tmp/info" || fail "Depends lacks the shared libraries (dpkg-shlibdeps)"
# exactly these files, with these modes (directories aside)
dpkg-deb -c "$deb" >"$tmp/contents" || fail "dpkg-deb -c"
awk '$1 !~ /^d/ {print $1, $6}' "$tmp/contents" | sort >"$tmp/files"
diff -u - "$tmp/files" >&2 <<'LIST' || fail "package contents differ"
-rw-r--r-- ./usr/lib/systemd/system/ptun-client@.service
-rw-r--r-- ./usr/lib/systemd/system/ptun-server.service
-rw-r--r-- ./usr/share/bash-completion/completions/ptun
-rw-r--r-- ./usr/share/doc/ptun/README.md
-rw-r--r-- ./usr/share/doc/ptun/examples/client-userspace.toml
-rw-r--r-- ./usr/share/doc/ptun/examples/client.toml
-rw-r--r-- ./usr/share/doc/ptun/examples/router.toml
-rw-r--r-- ./usr/share/doc/ptun/examples/server-userspace.toml
-rw-r--r-- ./usr/share/doc/ptun/examples/server.toml
-rw-r--r-- ./usr/share/man/man8/ptun.8.gz
-rwxr-xr-x ./usr/bin/ptun
LIST
grep -q '^drwx------ root/root .* \./etc/ptun/$' "$tmp/contents" || fail "/etc/ptun is not a root-only directory"
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst postrm; do
  [ -x "$tmp/control/$s" ] || fail "$s missing or not executable"
  shellcheck "$tmp/control/$s" || fail "shellcheck $s"
done
echo "--- control fields, file list and modes, maintainer scripts as expected" >&2

root=$tmp/root
dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x"
bin=$root/usr/bin/ptun
[ "$("$bin" --version)" = "ptun $version" ] || fail "installed ptun --version: $("$bin" --version)"
[ "$("$bin" -V)" = "ptun $version" ] || fail "installed ptun -V"
[ "$("$bin" version)" = "ptun $version" ] || fail "installed ptun version"
readelf -S "$bin" >"$tmp/sections" || fail "readelf"
! grep -q '\.debug_info\|\.symtab' "$tmp/sections" || fail "installed binary not stripped"
n=0
for f in "$root"/usr/share/doc/ptun/examples/*.toml; do
  "$bin" check-config "$f" >"$tmp/check.out" 2>"$tmp/check.err" || fail "check-config $(basename "$f"): $(cat "$tmp/check.err")"
  grep -q "^# $f: valid \(server\|client\) config$" "$tmp/check.out" || fail "check-config $(basename "$f") said: $(head -1 "$tmp/check.out")"
  n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n example configs"
echo "--- installed binary: --version, -V; check-config passes on the $n shipped examples" >&2

# exec_line UNIT KEY: the command line of KEY= in the installed unit, exactly one
exec_line() {
  local l
  l=$(grep "^$2=" "$root/usr/lib/systemd/system/$1")
  [ "$(printf '%s\n' "$l" | wc -l)" = 1 ] || fail "$1: not exactly one $2="
  printf '%s\n' "${l#*=}"
}
# run_unit UNIT INSTANCE ROLE EXAMPLE: its ExecStart is "/usr/bin/ptun ROLE -c CONFIG" (%i =
# INSTANCE); the example goes to CONFIG in the root and check-config, run by the unit's binary,
# must find the unit's role in it. ExecReload names the same config.
run_unit() {
  local unit=$1 inst=$2 role=$3 example=$4 line args cfg
  line=$(exec_line "$unit" ExecStart)
  line=${line//%i/$inst}
  read -ra args <<<"$line"
  [ "${#args[@]}" = 4 ] && [ "${args[1]}" = "$role" ] && [ "${args[2]}" = -c ] \
    || fail "$unit: ExecStart is not 'ptun $role -c CONFIG': $line"
  [ "${args[0]}" = /usr/bin/ptun ] && cmp -s "$root${args[0]}" "$bin" || fail "$unit: ExecStart runs ${args[0]}, not the packaged binary"
  cfg=${args[3]}
  [[ $cfg == /etc/ptun/* ]] || fail "$unit: config $cfg outside /etc/ptun"
  cp "$root/usr/share/doc/ptun/examples/$example" "$root$cfg"
  "$root${args[0]}" check-config "$root$cfg" >"$tmp/unit.out" 2>"$tmp/unit.err" || fail "$unit: check-config $cfg: $(cat "$tmp/unit.err")"
  grep -q "valid $role config" "$tmp/unit.out" || fail "$unit: $cfg is not a $role config for check-config"
  [ "$(exec_line "$unit" ExecReload | sed "s/%i/$inst/g")" = "/usr/bin/ptun reload -c $cfg" ] || fail "$unit: ExecReload"
  grep -qx 'Type=notify' "$root/usr/lib/systemd/system/$unit" || fail "$unit: not Type=notify"
  grep -qx 'DeviceAllow=/dev/net/tun rw' "$root/usr/lib/systemd/system/$unit" || fail "$unit: no DeviceAllow for the TUN"
  grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN ' "$root/usr/lib/systemd/system/$unit" || fail "$unit: capabilities not bounded"
}
run_unit ptun-server.service "" server server.toml
run_unit ptun-client@.service laptop client client.toml
[ "$(exec_line ptun-client@.service ExecStopPost)" = "/usr/bin/ptun cleanup -c /etc/ptun/%i.toml" ] || fail "client unit: ExecStopPost cleanup"

# systemd-analyze verify against the host's systemd: the binary path pointed into the root
mkdir "$tmp/units"
for u in ptun-server.service ptun-client@.service; do
  sed "s|^\(Exec[A-Za-z]*=\)/usr/bin/ptun|\1$bin|" "$root/usr/lib/systemd/system/$u" >"$tmp/units/$u"
done
cp "$tmp/units/ptun-client@.service" "$tmp/units/ptun-client@laptop.service"
for u in ptun-server.service ptun-client@laptop.service; do
  systemd-analyze verify --man=no "$tmp/units/$u" >"$tmp/verify" 2>&1 || fail "systemd-analyze verify $u: $(cat "$tmp/verify")"
  [ ! -s "$tmp/verify" ] || fail "systemd-analyze verify $u warns: $(cat "$tmp/verify")"
done
echo "--- units: ExecStart/ExecReload run the packaged binary on a config of their role; systemd-analyze verify clean" >&2

# ptun(8): one section per subcommand that --help lists
zcat "$root/usr/share/man/man8/ptun.8.gz" >"$tmp/ptun.8" || fail "man page not gzip"
grep -q '^\.TH PTUN "8"' "$tmp/ptun.8" || fail "man page header"
subs=$("$bin" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
for s in $subs; do
  case $s in help|version) continue ;; esac
  grep -q "^\.SS \"ptun $s\"" "$tmp/ptun.8" || fail "ptun(8) has no section for '$s'"
done

# bash completion, as installed, against the installed binary
comp=$root/usr/share/bash-completion/completions/ptun
shellcheck -s bash "$comp" || fail "shellcheck completion"
complete_words() {   # complete_words WORD...: COMPREPLY for the last WORD, one line
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ptun
           printf "%s\n" "${COMPREPLY[*]}"' complete_words "$comp" "$@"
}
[ "$(complete_words "$bin" '')" = "$(xargs <<<"$subs")" ] || fail "completion of subcommands: $(complete_words "$bin" '')"
[ "$(complete_words "$bin" pki '')" = "init issue revoke list crl" ] || fail "completion of pki: $(complete_words "$bin" pki '')"
[ "$(complete_words "$bin" status --j)" = "--json" ] || fail "completion of status options"
(cd "$root/usr/share/doc/ptun/examples" && [ "$(complete_words "$bin" server -c serv | tr ' ' '\n' | sort | xargs)" = "server-userspace.toml server.toml" ]) \
  || fail "completion of -c: $(cd "$root/usr/share/doc/ptun/examples" && complete_words "$bin" server -c serv)"
echo "--- ptun(8) covers all $(echo "$subs" | wc -w) subcommands; bash completion follows the binary's help" >&2
echo PASS
