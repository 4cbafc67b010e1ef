// The dnsmasq DNS back end (a router: its LAN asks dnsmasq, so resolv.conf is the wrong place).
// The plan becomes one file in dnsmasq's conf-dir, <conf_dir>/ptun-<interface>.conf, and dnsmasq
// is restarted: it reads conf-dir files only at startup. SIGHUP is not enough (checked with
// dnsmasq 2.90: a `server=` line added to a conf-dir file is ignored until a restart; SIGHUP does
// reread --servers-file, but a servers-file cannot carry `no-resolv`, so the full-tunnel case
// would leave the ISP's resolvers in use). On OpenWrt the restart is `/etc/init.d/dnsmasq restart`,
// which is how OpenWrt's own packages apply their /tmp/dnsmasq.d files.
//  - split (match domains): `server=/domain/addr` per domain and server, and
//    `rebind-domain-ok=/domain/` so that OpenWrt's default rebind protection (--stop-dns-rebind)
//    does not drop the private addresses a corporate zone answers with;
//  - full (no match domains): `no-resolv` and `server=addr`: the tunnel's resolvers replace the
//    upstream ones (resolv-file) for every name, as resolv.conf's back end does on a host;
//    `server=` lines of dnsmasq's own configuration stay in use (documented);
//  - search domains are not written: a LAN learns them from DHCP, not from dnsmasq's upstreams.
#pragma once
#include <string>

#include "netcfg/dns_plan.hpp"

namespace ptun::netcfg {

// <conf_dir>/ptun-<ifname>.conf (one file per tunnel, so two instances never share one).
std::string dnsmasq_file_path(const std::string& conf_dir, const std::string& ifname);

// The file's text for a plan (mode full or split; none renders no directives).
std::string render_dnsmasq_conf(const DnsPlan& plan, const std::string& ifname);

}  // namespace ptun::netcfg
