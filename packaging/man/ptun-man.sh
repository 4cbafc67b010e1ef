#!/usr/bin/env bash
# Writes ptun(8) from the CLI's own help (help2man), with a COMMANDS section holding each
# subcommand's --help (and pki's), so the page cannot drift from the binary. gzip -9n as Debian
# installs man pages (no timestamp: the package is reproducible).
# usage: ptun-man.sh PATH_TO_PTUN OUT.8.gz
set -euo pipefail
ptun=$1 out=$2
command -v help2man >/dev/null || { echo "ptun-man.sh: help2man missing: run scripts/install-deps.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the subcommands as `ptun --help` lists them (two-space indent under "Subcommands:")
subs=$("$ptun" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$subs" ] || { echo "ptun-man.sh: no subcommands in ptun --help" >&2; exit 1; }
{
  echo "[COMMANDS]"
  for s in $subs; do
    [ "$s" = help ] || [ "$s" = version ] && continue
    echo ".SS \"ptun $s\""
    echo ".nf"
    "$ptun" "$s" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
    echo ".fi"
    if [ "$s" = pki ]; then
      for p in init issue; do
        echo ".SS \"ptun pki $p\""
        echo ".nf"
        "$ptun" pki "$p" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
        echo ".fi"
      done
    fi
  done
  cat <<'H2M'
[EXIT STATUS]
0 success, 1 runtime failure (invalid config, refused certificate, ...), 2 usage error.
[FILES]
.TP
.I /etc/ptun/server.toml
the server's config (ptun-server.service)
.TP
.I /etc/ptun/NAME.toml
a client's config (ptun-client@NAME.service)
.TP
.I /usr/share/doc/ptun/examples/
annotated example configs
[SEE ALSO]
.BR systemctl (1),
.BR journalctl (1),
.BR nft (8)
H2M
} >"$tmp/commands.h2m"
help2man -N -s 8 -n "DTLS packet tunnel (VPN) client and server" -i "$tmp/commands.h2m" \
  --version-option=--version -o "$tmp/ptun.8" "$ptun"
grep -q '^\.SH COMMANDS' "$tmp/ptun.8" || { echo "ptun-man.sh: no COMMANDS section written" >&2; exit 1; }
mkdir -p "$(dirname "$out")"   # a fresh build dir has no packaging/ yet
gzip -9n -c "$tmp/ptun.8" >"$out"
