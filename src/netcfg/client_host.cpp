#include "netcfg/client_host.hpp"

#include <linux/rtnetlink.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/log.hpp"
#include "common/rng.hpp"
#include "core/loop.hpp"
#include "netcfg/dnsmasq_conf.hpp"
#include "netcfg/firewall.hpp"

namespace ptun::netcfg {
namespace {

// The client's journal and what it may hold: the files, tables and link this config makes ptun
// touch (journal.hpp: a replay refuses anything else). The dnsmasq file is allowed whatever the
// back end, so that a journal written before the config switched back to "auto" still replays.
Journal client_journal(const HostValues& v) {
  JournalPolicy p;
  p.files = {kResolvConf};
  p.tables = {RT_TABLE_MAIN, v.table};
  p.interface = v.interface;
  p.dnsmasq_files = {dnsmasq_file_path(v.dns.dnsmasq_conf_dir, v.interface)};
  return Journal(v.state_dir + "/" + kJournalName, std::move(p));
}

bool is_table(const Change& c, const std::string& table) {
  return c.kind == Change::Kind::nft_table && c.name == table;
}

}  // namespace

ClientHost::ClientHost(core::Loop& loop, std::unique_ptr<HostOps> ops, std::unique_ptr<HostProbe> probe,
                       HostValues values, const Endpoint& server)
    : loop_(loop), ops_(std::move(ops)), probe_(std::move(probe)), v_(std::move(values)), server_(server),
      nft_table_(instance_nft_table(v_.interface)), host_(*ops_, client_journal(v_)) {
  host_.set_dnsmasq_restart(v_.dns.dnsmasq_restart);
}

ClientHost::~ClientHost() { forwarder_.reset(); }

Result<std::unique_ptr<ClientHost>> ClientHost::open(core::Loop& loop, netlink::Rtnl& rtnl, HostValues values,
                                                     const Endpoint& server) {
  return open(loop, std::make_unique<SystemOps>(rtnl), std::make_unique<SystemProbe>(rtnl), std::move(values), server);
}

Result<std::unique_ptr<ClientHost>> ClientHost::open(core::Loop& loop, std::unique_ptr<HostOps> ops,
                                                     std::unique_ptr<HostProbe> probe, HostValues values,
                                                     const Endpoint& server) {
  if (!valid_ifname(values.interface))
    return Error(Errc::invalid_argument, "interface name '" + values.interface + "' is not usable in nftables");
  std::unique_ptr<ClientHost> h(new ClientHost(loop, std::move(ops), std::move(probe), std::move(values), server));
  // A kill switch left by a previous run stays in place when this run installs one again: the
  // new ruleset replaces it atomically, so there is no window without rules across the restart.
  bool ks = h->v_.protocol.include_all_networks;
  const std::string table = h->nft_table_;
  auto undone = h->host_.recover([ks, &table](const Change& c) { return ks && is_table(c, table); });
  if (!undone) return undone.error();
  if (*undone) LOG_WARN("netcfg: restored %zu host change(s) left by a previous run", *undone);
  if (ks) {
    if (auto r = h->install_kill_switch(); !r) return r.error();
  }
  h->base_ = h->host_.checkpoint();
  return h;
}

// The resolvers the system asks, for the server name's lookup through the kill switch: those of
// resolv.conf, and systemd-resolved's upstreams when resolv.conf names its local listener
// 127.0.0.53 (loopback itself is let through anyway). resolv.conf is read now: before ptun's own DNS settings replace it.
std::vector<IpAddr> ClientHost::system_resolvers() {
  std::vector<IpAddr> out;
  for (const char* path : {kResolvConf, "/run/systemd/resolve/resolv.conf"}) {
    auto text = ops_->read_file(path);
    if (!text || !*text) continue;
    for (const auto& a : parse_nameservers(**text))
      if (!is_loopback(a) && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

Result<void> ClientHost::install_kill_switch() {
  KillSwitchSpec ks;
  ks.table = nft_table_;
  ks.tun_iface = v_.interface;
  ks.fwmark = v_.fwmark;
  ks.server = server_;
  ks.server_tcp_port = v_.server_tcp_port;
  if (server_.addr.empty()) ks.resolvers = system_resolvers();
  if (v_.protocol.exclude_local_networks) {
    auto addrs = probe_->addrs();
    if (!addrs) return addrs.error();
    for (const auto& n : connected_networks(*addrs, 0))
      if (is_private_or_link_local(n)) ks.local_networks.push_back(n);
  }
  auto script = killswitch_script(ks);
  if (!script) return script.error();
  if (auto r = host_.set_nft_table(nft_table_, *script); !r) return r;
  kill_switch_ = true;
  LOG_INFO("netcfg: kill switch on (nftables table inet %s)", nft_table_.c_str());
  return {};
}

Result<void> ClientHost::update(const HostValues& values) {
  if (auto r = check_update(v_, values); !r) return r;
  v_ = values;
  host_.set_dnsmasq_restart(v_.dns.dnsmasq_restart);
  return {};
}

Result<void> ClientHost::update_server(const Endpoint& server) {
  if (server == server_) return {};
  Endpoint old = server_;
  server_ = server;
  if (kill_switch_) {
    if (auto r = install_kill_switch(); !r) {
      server_ = old;
      return r;
    }
  }
  return {};
}

Result<void> ClientHost::apply(const proto::NetworkSettings& s, int tun_ifindex) {
  clear();
  HostFacts f;
  f.server = server_;
  f.tun_ifindex = tun_ifindex;
  auto addrs = probe_->addrs();
  if (!addrs) return addrs.error();
  f.connected = connected_networks(*addrs, tun_ifindex);
  // Ask the kernel for the original paths the planner needs, before anything changes.
  auto in = route_inputs(s, v_, f);
  for (const auto& a : needed_paths(in)) {
    auto r = probe_->route_get(a, v_.fwmark);
    if (r) f.paths.push_back(OriginalPath{a, *r});
  }
  auto plan = plan_host(s, v_, f);
  if (!plan) return plan.error();

  size_t cp = host_.checkpoint();
  auto fail = [&](const Error& e) -> Result<void> {
    forwarder_.reset();
    host_.rollback(cp);
    dns_backend_ = "none";
    return e;
  };
  for (const auto& r : plan->routes.routes)
    if (auto res = host_.add_route(r); !res) return fail(res.error());
  for (const auto& r : plan->routes.rules)
    if (auto res = host_.add_rule(r); !res) return fail(res.error());
  if (plan->enforce_nft)
    if (auto res = host_.set_nft_table(nft_table_, *plan->enforce_nft); !res) return fail(res.error());
  if (auto res = apply_dns(plan->dns); !res) return fail(res.error());
  applied_ = std::move(*plan);
  return {};
}

Result<void> ClientHost::apply_dns(const DnsPlan& dns) {
  if (dns.mode == DnsMode::none) return {};
  if (v_.dns.backend == "dnsmasq") {
    dns_backend_ = "dnsmasq";
    const std::string& ifname = v_.interface;
    return host_.write_dnsmasq_file(dnsmasq_file_path(v_.dns.dnsmasq_conf_dir, ifname),
                                    render_dnsmasq_conf(dns, ifname));
  }
  if (probe_->resolved_running()) {
    dns_backend_ = "systemd-resolved";
    return host_.configure_resolved(v_.interface, resolved_commands(dns, v_.interface));
  }
  auto orig = ops_->read_file(kResolvConf);
  if (!orig) return orig.error();
  std::string original = orig->value_or("");
  // The journal keeps the very first original (a reconnect must not take ours for it).
  for (const auto& e : host_.entries())
    if (e.kind == Change::Kind::file && e.path == kResolvConf) original = e.content;
  if (dns.mode == DnsMode::split) {
    auto upstream = parse_nameservers(original);
    auto listen = Endpoint{*IpAddr::parse(kForwarderAddr), 53};
    auto fwd = DnsForwarder::start(loop_, listen,
                                   ForwarderCore(dns.match_domains, dns.servers, upstream,
                                                 [] { return SystemRng().u32(); }));
    if (!fwd) return fwd.error();
    forwarder_ = std::move(*fwd);
  }
  dns_backend_ = dns.mode == DnsMode::split ? "resolv.conf + forwarder" : "resolv.conf";
  return host_.write_file(kResolvConf, render_resolv_conf(dns, original));
}

void ClientHost::clear() {
  forwarder_.reset();
  host_.rollback(base_);
  applied_.reset();
  dns_backend_ = "none";
  // The enforce_routes ruleset (if any) went with the rollback; the kill switch is before base_.
}

void ClientHost::release(bool user_down) {
  clear();
  bool keep = v_.protocol.always_on && !user_down;
  if (keep || !kill_switch_) return;
  host_.undo_all();
  base_ = host_.checkpoint();
  kill_switch_ = false;
  LOG_INFO("netcfg: kill switch off (disconnected)");
}

Result<void> ClientHost::engage() {
  if (!v_.protocol.include_all_networks || kill_switch_) return {};
  clear();
  if (auto r = install_kill_switch(); !r) return r;
  base_ = host_.checkpoint();
  return {};
}

void ClientHost::shutdown(bool user_down) {
  forwarder_.reset();
  applied_.reset();
  bool keep = v_.protocol.always_on && v_.protocol.include_all_networks && !user_down;
  host_.undo_all([keep, this](const Change& c) { return keep && is_table(c, nft_table_); });
  if (keep) LOG_WARN("netcfg: always_on: the kill switch stays until `ptun down` or `ptun cleanup`");
  kill_switch_ = keep;
}

Result<size_t> cleanup(const config::ClientConfig& cfg) {
  auto rtnl = netlink::Rtnl::open();
  if (!rtnl) return rtnl.error();
  SystemOps ops(**rtnl);
  HostConfig host(ops, client_journal(HostValues::from_config(cfg)));
  host.set_dnsmasq_restart(cfg.dns.dnsmasq_restart);
  return host.recover();
}

}  // namespace ptun::netcfg
