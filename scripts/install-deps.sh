#!/usr/bin/env bash
# Installs the Debian packages ptun needs to build, test, demo and fuzz, if any are missing.
# Idempotent and quiet when everything is there. Needs root (or sudo) only when installing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates xz-utils dpkg-dev patch
      libuv1-dev libmbedtls-dev libtomlplusplus-dev catch2 libmnl-dev libcli11-dev nlohmann-json3-dev
      iproute2 iputils-ping nftables iperf3 curl python3 procps psmisc
      tcpdump dnsmasq-base
      clang libclang-rt-14-dev
      prometheus)   # promtool: tests/e2e/test_lifecycle_control.sh checks the metrics text
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
