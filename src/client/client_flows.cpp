// Per-flow and per-app classification on the client (issue 6): the flow table fed by both
// directions of the data path, app attribution of new flows, the per-app VPN verdict, the
// nftables marks of per-app routing, and what `ptun flows` / `ptun status` show of it.
//
//   TUN --> parse --> classify(out) --new flow?--> attribute (sock_diag + /proc) --> verdict
//                        |                                                            |
//                        +-- flow known: counters + flow.drop (no allocation) <-------+
//   tunnel --> parse --> classify(in)  (same; replies of a dropped flow are dropped too)
#include <cinttypes>

#include "apps/app_firewall.hpp"
#include "hostio/process.hpp"
#include "hostio/sysctl.hpp"
#include "client/client.hpp"
#include "netcfg/firewall.hpp"
#include "metrics/exposition.hpp"

namespace ptun::client {

namespace {
constexpr const char* kSrcValidMark = "net/ipv4/conf/all/src_valid_mark";
constexpr uint64_t kExpireEveryMs = 1000;
}  // namespace

std::string Client::apps_table() const { return netcfg::instance_nft_table(cfg_.tunnel.interface, "apps"); }

Result<void> Client::setup_flows() {
  app_rules_ = apps::RuleSet(cfg_.app_rules);
  // A per-app table left by a crashed run goes now, whatever this run's config says.
  if (!stack_ && !app_rules_.empty()) (void)hostio::remove_nft_table(apps_table());
  if (!cfg_.flows.classify) return {};
  flows_ = std::make_unique<flow::FlowTable>(cfg_.flows.max_flows);
  auto diag = apps::SockDiag::open();
  if (!diag) LOG_WARN("client: sock_diag unavailable (%s): flows are not attributed to apps", diag.error().message.c_str());
  attributor_ = std::make_unique<apps::Attributor>(diag ? std::move(*diag) : nullptr, std::make_unique<apps::ProcIndex>());
  return {};
}

bool Client::classify(const packet::Parsed& p, flow::Dir d, uint32_t len) {
  if (now_ >= flows_expire_at_) {
    flows_->expire(now_);
    flows_expire_at_ = now_ + kExpireEveryMs;
  }
  auto hit = flows_->classify(p, d, len, now_);
  if (hit.id == flow::kNoFlow) return true;
  flow::Flow& f = flows_->at(hit.id);
  if (hit.is_new) {
    // The first packet only: ask the kernel who owns the socket (a syscall or two, cached).
    apps::Identity who = attributor_->attribute(f.key(), d == flow::Dir::out, local_addrs_, now_);
    f.owner = app_registry_.intern(who);
    f.drop = !app_rules_.allowed(who);
    ++app_registry_.totals(f.owner).flows;
    if (f.drop)
      LOG_DEBUG("client: flow of %s must not use the tunnel: dropped", who.label().c_str());
  }
  apps::AppTotals& t = app_registry_.totals(f.owner);
  auto di = static_cast<unsigned>(d);
  if (f.drop) {
    ++f.dropped;
    ++t.dropped;
    ++drop_app_rule_;
    return false;
  }
  t.bytes[di] += len;
  ++t.packets[di];
  return true;
}

Result<void> Client::apply_app_rules() {
  local_addrs_.clear();
  for (const auto& a : applied_addrs_) local_addrs_.push_back(a.addr);
  if (app_rules_.empty() || stack_) return {};
  apps::FirewallSpec spec;
  spec.table = apps_table();
  spec.tun_iface = cfg_.tunnel.interface;
  spec.fwmark = cfg_.tunnel.fwmark;
  spec.ct_mark = cfg_.tunnel.fwmark ^ 0x70740000u;   // distinct from the fwmark, stable across runs
  if (spec.ct_mark == 0) spec.ct_mark = 0x70740001u;  // (0 would mark every connection)
  spec.block_bypass = cfg_.protocol.include_all_networks;
  if (auto cg = apps::find_cgroup2()) {
    spec.cgroup2 = *cg;
    // `ptun exec --app NAME` groups: created now, as nft needs them to exist when it loads rules
    for (const auto& r : app_rules_.rules())
      if (auto made = apps::make_cgroup(*cg, apps::exec_cgroup(r.name)); !made)
        LOG_WARN("client: %s", made.error().message.c_str());
    app_cgroups_ = *cg;
  }
  auto script = apps::firewall_script(app_rules_, spec);
  if (!script) return script.error();
  // Replies of bypassing connections carry ptun's mark (restored from conntrack): strict reverse
  // path filtering must use it, as wg-quick arranges for its own traffic.
  if (!saved_src_valid_mark_) {
    if (auto v = hostio::read_sysctl(kSrcValidMark)) {
      saved_src_valid_mark_ = *v;
      if (*v != "1") (void)hostio::write_sysctl(kSrcValidMark, "1");
    }
  }
  if (auto r = hostio::run_nft(*script); !r) return Error(r.error().code, "per-app rules: " + r.error().message);
  app_fw_installed_ = true;
  LOG_INFO("client: per-app VPN: %zu rule(s), mode %s%s", app_rules_.rules().size(),
           app_rules_.mode() == apps::Mode::only ? "only" : "except",
           spec.block_bypass ? ", apps outside the tunnel blocked (include_all_networks)" : "");
  return {};
}

void Client::remove_app_rules() {
  if (app_fw_installed_) {
    if (auto r = hostio::remove_nft_table(apps_table()); !r)
      LOG_WARN("client: removing per-app rules: %s", r.error().message.c_str());
    app_fw_installed_ = false;
  }
  if (app_cgroups_) {   // the exec groups, if empty (a running `ptun exec` keeps its own)
    for (const auto& r : app_rules_.rules()) apps::remove_cgroup(*app_cgroups_, apps::exec_cgroup(r.name));
    apps::remove_cgroup(*app_cgroups_, "/ptun");
    app_cgroups_.reset();
  }
  if (saved_src_valid_mark_) {
    if (*saved_src_valid_mark_ != "1") (void)hostio::write_sysctl(kSrcValidMark, *saved_src_valid_mark_);
    saved_src_valid_mark_.reset();
  }
}

nlohmann::json Client::flows_json() {
  nlohmann::json list = nlohmann::json::array();
  uint64_t now = loop_.now_ms();
  if (!flows_) return {{"classify", false}, {"flows", list}};
  flows_->for_each([&](uint32_t, const flow::Flow& f) {
    if (now >= flows_->deadline(f)) return;   // timed out, not swept yet
    auto k = f.key();
    const char* proto = k.proto == 6 ? "tcp" : k.proto == 17 ? "udp" : k.proto == 1 ? "icmp"
                        : k.proto == 58 ? "icmp6" : nullptr;
    nlohmann::json j;
    j["proto"] = proto ? nlohmann::json(proto) : nlohmann::json(k.proto);
    j["src"] = k.src.str();
    j["dst"] = k.dst.str();
    j["sport"] = k.sport;
    j["dport"] = k.dport;
    j["origin"] = f.origin == flow::Dir::out ? "local" : "remote";
    j["state"] = k.proto == 6 ? flow::to_string(f.tcp) : "-";
    const apps::Identity& who = app_registry_.identity(f.owner);
    j["app"] = who.label();
    if (who.kind == apps::Identity::Kind::process) {
      j["exe"] = who.exe;
      j["cgroup"] = who.cgroup;
    }
    if (who.uid != UINT32_MAX) j["uid"] = who.uid;
    j["verdict"] = f.drop ? "drop" : "tunnel";
    j["bytes_out"] = f.bytes[0];
    j["bytes_in"] = f.bytes[1];
    j["packets_out"] = f.packets[0];
    j["packets_in"] = f.packets[1];
    j["dropped"] = f.dropped;
    j["age_ms"] = now - f.first_ms;
    j["idle_ms"] = now - f.last_ms;
    list.push_back(std::move(j));
  });
  const auto& st = flows_->stats();
  return {{"classify", true},
          {"capacity", flows_->capacity()},
          {"live", flows_->size()},
          {"created", st.created},
          {"expired", st.expired},
          {"evicted", st.evicted},
          {"untracked", st.untracked},
          {"drop_app_rule", drop_app_rule_},
          {"flows", list}};
}

nlohmann::json Client::apps_json() {
  nlohmann::json apps = nlohmann::json::array();
  for (uint32_t id = 1; id < app_registry_.size(); ++id) {
    const auto& t = app_registry_.totals(id);
    if (!t.flows) continue;
    const auto& who = app_registry_.identity(id);
    apps.push_back({{"app", who.label()}, {"flows", t.flows}, {"bytes_out", t.bytes[0]},
                    {"bytes_in", t.bytes[1]}, {"packets_out", t.packets[0]}, {"packets_in", t.packets[1]},
                    {"dropped", t.dropped}});
  }
  nlohmann::json j = {{"apps", apps}, {"drop_app_rule", drop_app_rule_}};
  if (!app_rules_.empty()) j["mode"] = app_rules_.mode() == apps::Mode::only ? "only" : "except";
  if (flows_) j["flows_live"] = flows_->size();
  if (attributor_) {
    const auto& a = attributor_->stats();
    const auto& p = attributor_->proc_stats();
    j["attribution"] = {{"lookups", a.lookups}, {"no_socket", a.no_socket}, {"no_process", a.no_process},
                        {"forwarded", a.forwarded}, {"errors", a.errors}, {"proc_walks", p.walks},
                        {"proc_cache_hits", p.hits}, {"proc_rate_limited", p.rate_limited}};
  }
  return j;
}

void Client::app_metrics(metrics::Exposition& m) {
  using metrics::Labels;
  if (flows_) {
    const auto& st = flows_->stats();
    m.gauge("ptun_client_flows", "Live flows in the flow table.", double(flows_->size()));
    m.counter("ptun_client_flows_created_total", "Flows created.", double(st.created));
    m.counter("ptun_client_flows_evicted_total", "Flows evicted because the table was full.", double(st.evicted));
    m.counter("ptun_client_flows_expired_total", "Flows that timed out.", double(st.expired));
  }
  m.counter("ptun_client_app_rule_dropped_packets_total",
            "Packets dropped because their app must not use the tunnel.", double(drop_app_rule_));
  for (uint32_t id = 1; id < app_registry_.size(); ++id) {
    const auto& t = app_registry_.totals(id);
    if (!t.flows) continue;
    Labels app{{"app", app_registry_.identity(id).label()}};
    m.counter("ptun_client_app_flows_total", "Flows per app.", double(t.flows), app);
    m.counter("ptun_client_app_sent_bytes_total", "Bytes into the tunnel per app.", double(t.bytes[0]), app);
    m.counter("ptun_client_app_received_bytes_total", "Bytes out of the tunnel per app.", double(t.bytes[1]), app);
    m.counter("ptun_client_app_dropped_packets_total", "Packets dropped per app (app rules).", double(t.dropped), app);
  }
}

}  // namespace ptun::client
