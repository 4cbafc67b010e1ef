#!/usr/bin/env bash
# Fetch one Debian source package's orig tarball, check it against a pinned sha256 and unpack it
# (with ptun's patches applied in order) into OUT_DIR/src, a build-tree cache. Nothing is written
# into the source tree, and the machine's own apt lists are left untouched: apt runs with a private
# sources list and a private Dir::State::Lists under OUT_DIR/cache/apt.
# usage: fetch-debian-source.sh OUT_DIR PACKAGE SUITE TARBALL SHA256 [PATCH_DIR]
set -euo pipefail
out=${1:?usage: fetch-debian-source.sh OUT_DIR PACKAGE SUITE TARBALL SHA256 [PATCH_DIR]}
package=${2:?package}
suite=${3:?suite}
tarball=${4:?tarball}
sha256=${5:?sha256}
patch_dir=${6:-}
cache=$out/cache
src=$out/src

# A new or changed patch is part of the stamp, so it re-unpacks the source.
patches=()
if [ -n "$patch_dir" ] && [ -d "$patch_dir" ]; then
  for p in "$patch_dir"/*.patch; do [ -f "$p" ] && patches+=("$p"); done
fi
stamp="$sha256 $( (for p in "${patches[@]}"; do cat "$p"; done) | sha256sum | cut -d' ' -f1)"
if [ -f "$src/.ptun-unpacked" ] && [ "$(cat "$src/.ptun-unpacked")" = "$stamp" ]; then
  exit 0
fi
mkdir -p "$cache"
if [ ! -f "$cache/$tarball" ] || ! echo "$sha256  $cache/$tarball" | sha256sum -c --status; then
  apt_dir=$cache/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  echo "deb-src http://deb.debian.org/debian $suite main" > "$apt_dir/sources.list"
  opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives"
        -o APT::Sandbox::User=root -q)
  command -v apt-get >/dev/null || { echo "fetch $package: apt-get missing" >&2; exit 1; }
  apt-get "${opts[@]}" update >"$apt_dir/update.log" 2>&1 || { cat "$apt_dir/update.log" >&2; exit 1; }
  if ! (cd "$cache" && apt-get "${opts[@]}" source --download-only "$package" >"$apt_dir/source.log" 2>&1); then
    # deb.debian.org's pool has been seen without a tarball its index lists (libmnl, 2026-12-03);
    # Ubuntu's pool carries the same orig tarball, and the pinned sha256 below decides either way.
    pool=${package:0:1}; [[ $package == lib* ]] && pool=${package:0:4}
    url=http://archive.ubuntu.com/ubuntu/pool/main/$pool/$package/$tarball
    echo "fetch $package: apt-get source failed ($apt_dir/source.log), trying $url" >&2
    curl -fsS -m 300 -o "$cache/$tarball" "$url" || { cat "$apt_dir/source.log" >&2; exit 1; }
  fi
  if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status; then
    echo "fetch $package: $tarball missing or not matching the pinned sha256 $sha256" \
         "(has $suite moved to a new upstream version? see $cache)" >&2
    exit 1
  fi
fi
rm -rf "$src" && mkdir -p "$src"
tar -xf "$cache/$tarball" -C "$src" --strip-components=1
for p in "${patches[@]}"; do
  patch -d "$src" -p1 -s --no-backup-if-mismatch <"$p" || { echo "fetch $package: $p does not apply" >&2; exit 1; }
done
echo "$stamp" > "$src/.ptun-unpacked"
