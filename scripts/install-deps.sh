#!/usr/bin/env bash
# Installs the Debian packages ptun needs to build, test, demo and fuzz, if any are missing.
# Every program that the build, `make test` (tests/e2e), `make demo` and bench/*.sh run is listed
# with the commands it gives: a test that lacks one fails naming it, so add a tool here first.
# Optional groups, on request:
#   bench        the peer lab that `make bench` runs (../shared/bench/README.md)
#   fresh-check  what scripts/fresh-check.sh needs on the host
#   cross        cross compilers and qemu-user for `make cross` (README: Routers / cross builds)
# Idempotent and quiet when everything is there. Needs root (or sudo) only when installing.
# usage: install-deps.sh [bench] [fresh-check] [cross]
set -euo pipefail
pkgs=(
  # build; dpkg-dev, xz-utils, bzip2, patch: lwIP and mbedTLS from Debian's source packages
  # (third_party/fetch-debian-source.sh)
  build-essential cmake pkg-config git ca-certificates xz-utils bzip2 dpkg-dev patch
  libuv1-dev libtomlplusplus-dev catch2 libmnl-dev libcli11-dev nlohmann-json3-dev
  libcurl4-openssl-dev       # src/cluster: etcd's JSON gateway over curl's multi interface (PTUN_CLUSTER; dlopen)
  libssl-dev                 # OpenSSL libcrypto: bulk record AEAD in native builds (src/tls/record_aead.hpp)
  libsodium-dev              # libsodium.a: ChaCha20-Poly1305 records of the static x86-64 build (make static)
  openssl                    # tests/tls/test_pki: certificates cross-checked with OpenSSL
  clang libclang-rt-14-dev   # make test-asan, make fuzz
  nftables                   # nft: run by ptun itself (kill switch, per-app rules, masquerade)
  # tests, demo, bench/*.sh
  iproute2                   # ip, ss, tc
  iputils-ping               # ping
  procps                     # sysctl
  util-linux                 # setpriv, unshare
  ethtool                    # test_lifecycle_loss: UDP offloads off on the veths
  python3                    # probes and JSON checks (standard library only)
  curl tcpdump dnsmasq-base iperf3
  heaptrack                  # bench/peak-rss.sh HEAPTRACK=1: the client's largest heap consumers
  prometheus                 # promtool: test_lifecycle_control checks the metrics text
  busybox shellcheck         # tests/packaging: the OpenWrt init script under ash, and linted
  help2man                   # ptun(8) from ptun --help (packaging/man, built with ptun)
  systemd file               # tests/packaging/test_deb.sh: systemd-analyze verify; cpack's dpkg-shlibdeps step
  ufw iptables               # tests/packaging/test_deploy_doc.sh: the firewalls docs/deploy.md opens
  etcd-server etcd-client    # tests/cluster: a real etcd on loopback in a netns; etcdctl (docs/cluster.md)
)
for group in "$@"; do
  case "$group" in
    bench) pkgs+=(wireguard-go wireguard-tools openvpn ocserv openconnect gnutls-bin openssl linux-perf) ;;
    fresh-check) pkgs+=(debootstrap) ;;
    cross) pkgs+=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf g++-mipsel-linux-gnu g++-mips-linux-gnu
                  qemu-user-static) ;;
    *) echo "install-deps: unknown group '$group' (bench, fresh-check, cross)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
