#include "cluster/backbone_plan.hpp"

#include <nlohmann/json.hpp>

#include "cluster/record_json.hpp"

namespace ptun::cluster {

using json = nlohmann::json;

std::string encode_server_record(const ServerRecord& r) {
  json j = json::object();
  if (r.backbone_v4) j["backbone_v4"] = r.backbone_v4->str();
  if (r.backbone_v6) j["backbone_v6"] = r.backbone_v6->str();
  return j.dump();
}

Result<ServerRecord> decode_server_record(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Errc::protocol, "server record: not a JSON object");
  ServerRecord r;
  if (auto e = read_address(j, "server record", "backbone_v4", Family::v4, &r.backbone_v4); !e) return e.error();
  if (auto e = read_address(j, "server record", "backbone_v6", Family::v6, &r.backbone_v6); !e) return e.error();
  return r;
}

std::string servers_prefix(const std::string& prefix) { return prefix + "/servers/"; }
std::string server_key(const std::string& prefix, const std::string& name) { return servers_prefix(prefix) + name; }

std::set<BackboneRoute> plan_backbone_routes(const std::string& self, const std::map<std::string, PeerRecord>& peers,
                                             const std::map<std::string, ServerRecord>& servers,
                                             const IsOwnFn& is_own) {
  std::set<BackboneRoute> out;
  for (const auto& [cn, rec] : peers) {
    if (!rec.active || rec.server == self) continue;
    auto holder = servers.find(rec.server);
    if (holder == servers.end()) continue;   // dead (its record expired) or not on the backbone
    auto route = [&](const std::optional<IpAddr>& a, const std::optional<IpAddr>& via) {
      if (!a || !via || (is_own && is_own(*a))) return;
      out.insert(BackboneRoute{Cidr{*a, uint8_t(a->is_v4() ? 32 : 128)}, *via});
    };
    route(rec.addrs.ipv4, holder->second.backbone_v4);
    route(rec.addrs.ipv6, holder->second.backbone_v6);
  }
  return out;
}

RouteChanges diff_routes(const std::set<BackboneRoute>& installed, const std::set<BackboneRoute>& wanted) {
  RouteChanges c;
  for (const auto& r : installed)
    if (!wanted.count(r)) c.remove.push_back(r);
  for (const auto& r : wanted)
    if (!installed.count(r)) c.add.push_back(r);
  return c;
}

void collect_records(const std::string& prefix, const std::vector<KeyValue>& kvs,
                     std::map<std::string, PeerRecord>* peers, std::map<std::string, ServerRecord>* servers,
                     uint64_t* bad) {
  const std::string pp = prefix + "/peers/", sp = servers_prefix(prefix);
  for (const auto& kv : kvs) {
    if (kv.key.size() > pp.size() && kv.key.compare(0, pp.size(), pp) == 0) {
      if (auto r = decode_peer_record(kv.value)) (*peers)[kv.key.substr(pp.size())] = *r;
      else ++*bad;
    } else if (kv.key.size() > sp.size() && kv.key.compare(0, sp.size(), sp) == 0) {
      if (auto r = decode_server_record(kv.value)) (*servers)[kv.key.substr(sp.size())] = *r;
      else ++*bad;
    }
  }
}

}  // namespace ptun::cluster
