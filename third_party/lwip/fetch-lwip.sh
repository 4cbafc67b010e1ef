#!/usr/bin/env bash
# Fetch Debian's lwIP source package and unpack it into OUT_DIR (a build-tree cache).
# The orig tarball is checked against a pinned sha256; nothing is written into the source tree
# and the machine's own apt lists are left untouched (private Dir::State::Lists).
# usage: fetch-lwip.sh OUT_DIR
set -euo pipefail
out=${1:?usage: fetch-lwip.sh OUT_DIR}
version=2.1.3+dfsg1
tarball=lwip_${version}.orig.tar.xz
sha256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
cache=$out/cache
src=$out/src

# Our fixes to lwIP (third_party/lwip/patches, applied in order) are part of the stamp, so a new
# or changed patch re-unpacks the source.
here=$(cd "$(dirname "$0")" && pwd)
stamp="$sha256 $(cat "$here"/patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ -f "$src/.ptun-unpacked" ] && [ "$(cat "$src/.ptun-unpacked")" = "$stamp" ]; then
  exit 0
fi
mkdir -p "$cache"
if [ ! -f "$cache/$tarball" ] || ! echo "$sha256  $cache/$tarball" | sha256sum -c --status; then
  apt_dir=$cache/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  cat > "$apt_dir/sources.list" <<SRC
deb-src http://deb.debian.org/debian bookworm main
SRC
  opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives"
        -o APT::Sandbox::User=root -q)
  apt-get "${opts[@]}" update >"$apt_dir/update.log" 2>&1 || { cat "$apt_dir/update.log" >&2; exit 1; }
  (cd "$cache" && apt-get "${opts[@]}" source --download-only lwip >"$apt_dir/source.log" 2>&1) \
    || { cat "$apt_dir/source.log" >&2; exit 1; }
  if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status; then
    echo "fetch-lwip: $tarball does not match the pinned sha256 $sha256" >&2
    exit 1
  fi
fi
rm -rf "$src" && mkdir -p "$src"
tar -xJf "$cache/$tarball" -C "$src" --strip-components=1
for p in "$here"/patches/*.patch; do
  [ -f "$p" ] || continue
  patch -d "$src" -p1 -s --no-backup-if-mismatch <"$p" || { echo "fetch-lwip: $p does not apply" >&2; exit 1; }
done
echo "$stamp" > "$src/.ptun-unpacked"
