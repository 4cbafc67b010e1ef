#!/usr/bin/env bash
# ptun's benchmark: runs the peer lab in ../shared/bench (wireguard-go, OpenVPN, ocserv+openconnect
# between two namespaces) with ptun plugged in as its candidate, in the same run, and prints the
# lab's RESULTS.md. iperf3 TCP/UDP throughput, RTT, CPU seconds per GB, peak RSS.
# usage: bench/run.sh PATH_TO_PTUN       (root; env: ROUNDS=1 CONFIGS="veth wg ovpn ocserv", LAB=...)
set -euo pipefail
ptun=$(realpath "${1:?usage: bench/run.sh PATH_TO_PTUN}")
here=$(cd "$(dirname "$0")" && pwd)
lab=${LAB:-$here/../../shared/bench}
[ -x "$lab/run-all.sh" ] || { echo "the peer lab is not at $lab (set LAB=)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench needs root (network namespaces)" >&2; exit 1; }
bash "$here/../scripts/install-deps.sh" bench   # the peers the lab measures, and its tools
export PTUN_BIN=$ptun CANDIDATE=$here/ptun-candidate.sh ROUNDS=${ROUNDS:-1}
cd "$lab"
./run-all.sh
cat RESULTS.md
