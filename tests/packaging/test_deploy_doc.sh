#!/usr/bin/env bash
# docs/deploy.md, run as written (issue 15 item 8). Every ```sh block of the guide must carry a
# `<!-- run: ROLE [id=ID] -->` line and is run in order: `build` on this machine in the source
# tree (`make deb` into BUILD_DIR), `vps` and `laptop` as root inside throwaway roots (an overlay
# of this machine's / in a private mount namespace, so apt, /etc and /run are the root's own and
# the machine is left untouched) in their own network namespaces. The world around them:
#
#   [laptop] 198.18.1.2 --- 198.18.1.1 [inet] 198.18.0.1 --- 198.18.0.2 [vps]  (vpn.example.com)
#                                       lo: 198.18.3.53 dnsmasq: vpn.example.com -> 198.18.0.2,
#                                           every other name -> 198.18.3.80
#                                       lo: 198.18.3.80 "ifconfig.me": answers the caller's address
#
# The VPS starts with the firewalls the guide opens: an nftables `inet filter` table with policy
# drop (Debian's nftables.conf, hardened), ufw enabled, Docker's FORWARD policy DROP with an empty
# DOCKER-USER chain. No systemd runs in a namespace: systemctl and journalctl are stand-ins
# (tests/packaging/standin) that run the installed units' own command lines. Checked beyond each
# block's exit status: the laptop appears from the VPS's address, its DNS went through the tunnel
# (dnsmasq saw the query from the VPS), the server lists the peer, and after the revocation the
# laptop is cut off and cannot come back.
# usage: test_deploy_doc.sh PATH_TO_PTUN BUILD_DIR
source "$(dirname "$0")/../e2e/lib.sh"
build=$(realpath "${2:?usage: test_deploy_doc.sh PATH_TO_PTUN BUILD_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
e2e_init
e2e_need make cpack dpkg-deb apt nft ufw iptables dnsmasq curl unshare nsenter chroot

# ---- the guide's blocks: blocks/NNN.ROLE.ID ----------------------------------------------------
mkdir -p "$E2E_DIR/blocks" "$E2E_DIR/out"
python3 - "$src/docs/deploy.md" "$E2E_DIR/blocks" <<'PY' || e2e_fail "docs/deploy.md: unmarked or malformed blocks"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
marker, n, bad, i = None, 0, 0, 0
while i < len(lines):
    l = lines[i]
    m = re.fullmatch(r"<!-- run: (build|vps|laptop)(?: id=([a-z0-9_-]+))? -->", l)
    if m:
        marker = m
    elif l.startswith("```"):
        lang = l[3:].strip()
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        if lang == "sh":
            if not marker:
                print(f"deploy.md:{i+1}: a sh block without a <!-- run: ROLE --> line", file=sys.stderr); bad += 1
            else:
                n += 1
                name = f"{n:03d}.{marker.group(1)}.{marker.group(2) or 'b' + str(n)}"
                open(f"{sys.argv[2]}/{name}", "w").write("\n".join(lines[i+1:j]) + "\n")
        elif lang not in ("toml", "text"):
            print(f"deploy.md:{i+1}: block of '{lang}': commands go in sh blocks (run by this test)", file=sys.stderr); bad += 1
        marker, i = None, j
    elif l.strip():
        marker = None
    i += 1
print(f"{n} blocks", file=sys.stderr)
sys.exit(1 if bad or n < 10 else 0)
PY

# ---- the world -------------------------------------------------------------------------------
e2e_ns inet; e2e_ns vps; e2e_ns laptop
e2e_link inet vps 198.18.0.1/24 198.18.0.2/24
e2e_link inet laptop 198.18.1.1/24 198.18.1.2/24
e2e_do vps ip route add default via 198.18.0.1
e2e_do laptop ip route add default via 198.18.1.1
e2e_do inet sysctl -qw net.ipv4.ip_forward=1
e2e_do inet ip addr add 198.18.3.53/32 dev lo
e2e_do inet ip addr add 198.18.3.80/32 dev lo
e2e_bg inet dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=198.18.3.53 --bind-interfaces \
  --address=/vpn.example.com/198.18.0.2 --address=/#/198.18.3.80 --log-queries --log-facility=- >/dev/null
e2e_bg inet whoami python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = (self.client_address[0] + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
http.server.HTTPServer(("198.18.3.80", 80), H).serve_forever()' >/dev/null
e2e_listening inet udp 198.18.3.53:53
e2e_listening inet tcp 198.18.3.80:80

# A throwaway root per host: held by a process in the host's namespace, entered with nsenter.
declare -A HOLDER
make_root() {
  local r=$E2E_DIR/root-$1
  mkdir -p "$r"
  e2e_bg "$1" "holder-$1" unshare -m --propagation private sh -c '
    set -e
    mount -t tmpfs tmpfs "$1"; mkdir "$1/u" "$1/w" "$1/m"
    mount -t overlay overlay -o lowerdir=/,upperdir="$1/u",workdir="$1/w" "$1/m"
    mount -t proc proc "$1/m/proc"; mount -t sysfs sysfs "$1/m/sys"; mount --rbind /dev "$1/m/dev"
    rm -f "$1/m/etc/resolv.conf"; echo "nameserver 198.18.3.53" >"$1/m/etc/resolv.conf"
    cp "$2/systemctl" "$2/journalctl" "$1/m/usr/local/bin/"
    rm -rf "$1/m/etc/ptun" "$1/m/run/ptun" "$1/m/var/lib/ptun" "$1/m/run/standin"
    echo $$ >"$1.pid"; exec sleep 3600' sh "$r" "$here/standin" >/dev/null
  e2e_wait_for 10 test -s "$r.pid" || e2e_fail "the throwaway root of $1 did not come up: $(cat "$E2E_DIR/holder-$1.log")"
  HOLDER[$1]=$(cat "$r.pid")
}
# on ROOT CMD...: CMD inside ROOT's namespaces and chroot, with a clean root environment
on() {
  local r=$1; shift
  nsenter -t "${HOLDER[$r]}" -m -n -- chroot "$E2E_DIR/root-$r/m" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
make_root vps
make_root laptop
[ "$(on vps cat /etc/resolv.conf)" = "nameserver 198.18.3.53" ] || e2e_fail "vps root: resolv.conf"
on vps sh -c '[ -z "$(ls /etc/ptun 2>/dev/null)" ]' || e2e_fail "vps root: /etc/ptun not empty"

# The VPS's firewalls before the guide opens them.
on vps nft -f - <<'NFT' || e2e_fail "nft: the VPS's inet filter table"
table inet filter {
  chain input { type filter hook input priority filter; policy drop; iif lo accept; ct state established,related accept; tcp dport 22 accept; }
  chain forward { type filter hook forward priority filter; policy drop; }
  chain output { type filter hook output priority filter; policy accept; }
}
NFT
on vps ufw --force enable >"$E2E_DIR/ufw.out" 2>&1 || e2e_fail "ufw enable: $(cat "$E2E_DIR/ufw.out")"
on vps sh -c 'iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN && iptables -I FORWARD -j DOCKER-USER && iptables -P FORWARD DROP' ||
  e2e_fail "iptables: Docker's FORWARD policy"
e2e_log "world up: inet (DNS, web), vps (nftables drop, ufw, Docker FORWARD DROP), laptop"

# ---- the guide, block by block ----------------------------------------------------------------
for f in "$E2E_DIR"/blocks/*; do
  b=$(basename "$f"); role=${b#*.}; role=${role%%.*}; id=${b##*.}
  e2e_log "deploy.md block $b"
  sed 's/^/    $ /' "$f" >&2
  case $role in
    build)
      (cd "$src" && BUILD=$build bash -euo pipefail "$f") >"$E2E_DIR/out/$id" 2>"$E2E_DIR/out/$id.err" ||
        e2e_fail "block $b failed: $(tail -20 "$E2E_DIR/out/$id.err")"
      deb=$(ls "$build"/ptun_*.deb | tail -1)
      for r in vps laptop; do on "$r" sh -c 'cat >"/root/$1"' sh "$(basename "$deb")" <"$deb" || e2e_fail "copy the .deb to $r"; done ;;
    vps|laptop)
      on "$role" bash -c 'cd /root && set -euo pipefail && eval "$(cat)"' <"$f" >"$E2E_DIR/out/$id" 2>"$E2E_DIR/out/$id.err" ||
        e2e_fail "block $b failed: $(tail -20 "$E2E_DIR/out/$id.err")" ;;
  esac
  sed 's/^/      /' "$E2E_DIR/out/$id" | head -30 >&2
  # The profile travels from the VPS to the laptop (the guide: "copy ... to the laptop").
  if [ "$role" = vps ] && on vps test -e /etc/ptun/pki/alice-laptop.toml && ! on laptop test -e /root/alice-laptop.toml; then
    on vps cat /etc/ptun/pki/alice-laptop.toml | on laptop sh -c 'umask 077; cat >/root/alice-laptop.toml' || e2e_fail "copy the profile"
  fi
  # Before the firewall section opens anything, the server's doctor names what would drop the
  # tunnel (the real rulesets of nftables, ufw and Docker's iptables-nft rules, not a fixture).
  if grep -q 'check-config --strict /etc/ptun/server.toml' "$f"; then
    on vps ptun doctor --json -c /etc/ptun/server.toml >"$E2E_DIR/doctor-closed.json" 2>&1 &&
      e2e_fail "server doctor found nothing behind closed firewalls"
    python3 - "$E2E_DIR/doctor-closed.json" <<'PY' || e2e_fail "server doctor before the firewall section: $(cat "$E2E_DIR/doctor-closed.json")"
import json, sys
c = {x["check"]: x for x in json.load(open(sys.argv[1]))["checks"]}
d = c["firewall"]["detail"]
assert c["firewall"]["result"] == "fail", d
for want in ("inet filter input drops by default and no rule of its table names udp port 4433",
             "inet filter forward drops by default and no rule of its table names ptun-s0",
             "ip filter FORWARD drops by default", "ip6 filter INPUT drops by default"):
    assert want in d, (want, d)
PY
    e2e_log "server doctor named the closed firewalls (nftables, ufw, Docker) before section 5"
  fi
  case $id in
    status) grep -q "connected" "$E2E_DIR/out/$id" || e2e_fail "ptun status on the laptop: $(cat "$E2E_DIR/out/$id")" ;;
    whoami)
      [ "$(cat "$E2E_DIR/out/$id")" = 198.18.0.2 ] || e2e_fail "the laptop appears as '$(cat "$E2E_DIR/out/$id")', not as the VPS 198.18.0.2"
      grep -q "query\[A\] ifconfig.me from 198.18.0.2" "$E2E_DIR/dnsmasq.log" ||
        e2e_fail "the laptop's DNS did not go through the VPS: $(grep ifconfig "$E2E_DIR/dnsmasq.log")"
      ! grep -q "from 198.18.1.2" <(grep -v vpn.example.com "$E2E_DIR/dnsmasq.log") ||
        e2e_fail "the laptop asked the outside resolver directly: $(grep 'from 198.18.1.2' "$E2E_DIR/dnsmasq.log")"
      e2e_log "the laptop appears as the VPS; its DNS went through the tunnel" ;;
    sessions) grep -q "alice-laptop" "$E2E_DIR/out/$id" || e2e_fail "ptun sessions lacks alice-laptop" ;;
    revoke)
      grep -q "alice-laptop.*revoked" "$E2E_DIR/out/$id" || e2e_fail "pki list does not show alice-laptop revoked"
      e2e_wait_for 10 sh -c "! nsenter -t ${HOLDER[vps]} -m -n -- chroot $E2E_DIR/root-vps/m ptun sessions | grep -q alice-laptop" ||
        e2e_fail "the revoked laptop's session is still listed"
      sleep 3
      on laptop ptun status >"$E2E_DIR/revoked.status" 2>&1
      ! grep -q "^state: *connected" "$E2E_DIR/revoked.status" || e2e_fail "the revoked laptop is connected again: $(cat "$E2E_DIR/revoked.status")"
      ! on laptop ping -c 1 -W 1 10.99.0.1 >/dev/null 2>&1 || e2e_fail "the revoked laptop still reaches the server"
      e2e_log "revoked: the laptop was cut off and stays off" ;;
  esac
done
for id in status whoami doctor sessions revoke; do [ -e "$E2E_DIR/out/$id" ] || e2e_fail "deploy.md has no block id=$id"; done

# The laptop's unit stops cleanly: ExecStopPost (ptun cleanup) finds nothing, no ptun table stays.
on laptop systemctl stop ptun-client@vpn || e2e_fail "systemctl stop ptun-client@vpn"
! on laptop nft list tables | grep -q ptun || e2e_fail "ptun tables left on the laptop: $(on laptop nft list tables)"
[ "$(on laptop cat /etc/resolv.conf)" = "nameserver 198.18.3.53" ] || e2e_fail "the laptop's resolv.conf was not restored"
e2e_log "docs/deploy.md ran as written: $(ls "$E2E_DIR/blocks" | wc -l) blocks"
exit 0
