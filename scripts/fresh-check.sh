#!/usr/bin/env bash
# The README's `make test` on a fresh Debian 12, as a new user would run it: a minimal root made by
# debootstrap (variant minbase: no iproute2, procps, python3, ca-certificates, ...), a clean clone of
# this repository's HEAD (committed work only, never the working tree) copied into it, and
# `make test` run there as root (after installing make, which a user needs to type it). Whatever
# the build and the tests need must come from scripts/install-deps.sh: a tool missing there fails here.
#
# The root is made once and kept as a tarball in $CACHE; every run unpacks a pristine copy into a
# scratch directory that is removed at the end. Downloaded .debs are kept in $CACHE/archives (apt's
# cache, bind-mounted): reruns download less, the packages are still installed fresh each time.
#
# Isolation: new mount and PID namespaces (unshare), the root made / with pivot_root. /proc, /sys,
# /dev, cgroup2, /run and the apt cache are mounted for it only (private mounts, gone with the
# namespace), so the host's mount table is untouched and every process started inside ends with
# the run. The network namespace is the host's: the build downloads packages and the lwIP and
# mbedTLS sources from $MIRROR; the tests make and remove their own namespaces, as on the host.
#
# usage: scripts/fresh-check.sh [REV]     (root; env: CACHE=/var/cache/ptun-fresh,
#        MIRROR=http://deb.debian.org/debian, TARGET="test" (make targets), KEEP=1 keeps the root,
#        REBUILD=1 makes a new root tarball, LIMIT_MIN=120 bounds the run)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rev=$(git -C "$repo" rev-parse "${1:-HEAD}")
CACHE=${CACHE:-/var/cache/ptun-fresh}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
TARGET=${TARGET:-test}
LIMIT_MIN=${LIMIT_MIN:-120}
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (debootstrap, chroot, namespaces)" >&2; exit 1; }
bash "$repo/scripts/install-deps.sh" fresh-check

tarball=$CACHE/bookworm-minbase.tar
mkdir -p "$CACHE/archives/partial"
if [ ! -f "$tarball" ] || [ -n "${REBUILD:-}" ]; then
  boot=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
  echo "fresh-check: debootstrap --variant=minbase bookworm from $MIRROR" >&2
  debootstrap --variant=minbase bookworm "$boot" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf --one-file-system "$boot"; exit 1; }
  rm -f "$boot"/var/cache/apt/archives/*.deb
  chmod 755 "$boot"   # mktemp made it 0700: the root's / would shut out every uid but root
  tar --numeric-owner -C "$boot" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$boot"
fi

work=$(mktemp -d /var/tmp/ptun-fresh.XXXXXX)
root=$work/root
cleanup() {
  # The mounts live in the unshared namespace only; refuse to delete anything still mounted.
  if grep -q " $work/" /proc/self/mountinfo; then
    echo "fresh-check: $work still has mounts, left in place" >&2
  elif [ -z "${KEEP:-}" ]; then
    rm -rf --one-file-system "$work"
  else
    echo "fresh-check: root kept in $root" >&2
  fi
}
trap cleanup EXIT
mkdir "$root"
tar --numeric-owner -C "$root" -xf "$tarball"   # the root's own uids (its _apt is not the host's)
chmod 755 "$root"   # (tarballs made before the chmod above carry mode 0700 for /)
# apt downloads as _apt: the shared cache must be writable by the root's _apt.
apt_uid=$(awk -F: '$1 == "_apt" {print $3}' "$root/etc/passwd")
[ -z "$apt_uid" ] || chown "$apt_uid" "$CACHE/archives/partial"
git clone -q --no-hardlinks "$repo" "$root/root/ptun"
git -C "$root/root/ptun" checkout -q --detach "$rev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No init runs in the chroot: daemons that packages start on install (prometheus) must not start.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

echo "fresh-check: $(git -C "$repo" log -1 --format='%h %s' "$rev" | cut -c1-100)" >&2
echo "fresh-check: make $TARGET in a fresh Debian 12 root ($root), log in $CACHE/last.log" >&2
start=$SECONDS
set +e
timeout --kill-after=30 "$((LIMIT_MIN * 60))" unshare --mount --pid --fork --kill-child --propagation private -- bash -euc '
  r=$1 cache=$2 target=$3
  mount --bind "$r" "$r"                   # a mount point, as / is (ip netns exec remounts / rslave)
  mount -t proc proc "$r/proc"
  mount -t sysfs sysfs "$r/sys"
  mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
  mount --rbind /dev "$r/dev"              # /dev/net/tun, /dev/null, /dev/urandom, ...
  mount -t tmpfs -o mode=755 tmpfs "$r/run"  # ip netns keeps its namespaces in /run/netns
  mount --bind "$cache/archives" "$r/var/cache/apt/archives"
  # pivot_root, not chroot: in a chroot, /proc/PID/exe of a process in another mount namespace
  # (every `ip netns exec`) reads as the host path, and the per-app rules by path never match.
  cd "$r" && mkdir -p .oldroot && pivot_root . .oldroot && umount -l /.oldroot && rmdir /.oldroot
  exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/ptun && apt-get -q update && apt-get -qy install --no-install-recommends make && make $target"
' _ "$root" "$CACHE" "$TARGET" 2>&1 | tee "$CACHE/last.log"
rc=${PIPESTATUS[0]}
set -e
took=$((SECONDS - start))
result=PASSED; [ "$rc" -eq 0 ] || result="FAILED (exit $rc)"
echo "fresh-check: make $TARGET $result in $((took / 60)) min $((took % 60)) s ($(git -C "$repo" rev-parse --short "$rev"))"
exit "$rc"
