#include "netcfg/server_doctor.hpp"

#include <map>

#include <nlohmann/json.hpp>

namespace ptun::netcfg::doctor {
namespace {

using json = nlohmann::json;

// `right` of a match: a value, a set of values, or a range, holding `want`?
bool holds(const json& right, const json& want) {
  if (right == want) return true;
  if (right.is_object() && right.contains("set")) {
    for (const auto& e : right["set"])
      if (holds(e, want)) return true;
  }
  if (right.is_object() && right.contains("range") && want.is_number() && right["range"].size() == 2 &&
      right["range"][0].is_number() && right["range"][1].is_number())
    return right["range"][0] <= want && want <= right["range"][1];
  return false;
}

// Walks a rule's expressions for `match` objects (at any depth: inside a vmap or verdict too).
void scan(const json& e, const std::string& iface, uint16_t port, bool* names_iface, bool* names_port) {
  if (e.is_array()) {
    for (const auto& x : e) scan(x, iface, port, names_iface, names_port);
    return;
  }
  if (!e.is_object()) return;
  if (e.contains("match") && e["match"].is_object()) {
    const json& m = e["match"];
    const json& left = m.contains("left") ? m["left"] : json();
    const json& right = m.contains("right") ? m["right"] : json();
    if (left.is_object() && left.contains("meta") && left["meta"].is_object()) {
      std::string key = left["meta"].value("key", "");
      if ((key == "iifname" || key == "oifname") && holds(right, json(iface))) *names_iface = true;
    }
    if (left.is_object() && left.contains("payload") && left["payload"].is_object() &&
        left["payload"].value("field", "") == "dport" && holds(right, json(port)))
      *names_port = true;
  }
  for (const auto& [k, v] : e.items()) scan(v, iface, port, names_iface, names_port);
}

Check check_forwarding(const ServerFacts& f) {
  Check c{"forwarding", Outcome::ok, ""};
  if (!f.kernel_forwarding) return {c.name, Outcome::skipped, "userspace forwarding: no kernel forwarding needed"};
  std::vector<std::string> off;
  if (f.v4_pool && f.ip_forward == false) off.push_back("net.ipv4.ip_forward");
  if (f.v6_pool && f.ip6_forward == false) off.push_back("net.ipv6.conf.all.forwarding");
  if (!off.empty()) {
    c.result = Outcome::fail;
    c.detail = off[0] + (off.size() > 1 ? " and " + off[1] + " are" : " is") +
               " 0: clients reach the server but nothing beyond it";
    return c;
  }
  c.detail = "on for the pools' families";
  return c;
}

Check check_masquerade(const ServerFacts& f) {
  Check c{"masquerade", Outcome::ok, ""};
  if (!f.masquerade_wanted || !f.kernel_forwarding) return {c.name, Outcome::skipped, "masquerade = false"};
  if (!f.masquerade_present) return {c.name, Outcome::skipped, "not checked: " + f.firewall_error};
  if (!*f.masquerade_present)
    return {c.name, Outcome::fail, "nftables table inet " + f.masquerade_table + " is missing: clients' traffic leaves with tunnel addresses"};
  c.detail = "nftables table inet " + f.masquerade_table + " in place";
  return c;
}

Check check_firewall(const ServerFacts& f) {
  Check c{"firewall", Outcome::ok, ""};
  if (!f.firewall_error.empty()) return {c.name, Outcome::skipped, "not checked: " + f.firewall_error};
  std::vector<std::string> bad;
  size_t dropping = 0;
  for (const auto& ch : f.chains) {
    if (!ch.drop_policy) continue;
    ++dropping;
    std::string id = ch.family + " " + ch.table + " " + ch.name;
    if (ch.hook == "input" && !ch.table_names_port)
      bad.push_back(id + " drops by default and no rule of its table names udp port " + std::to_string(f.port) +
                    ": handshakes are dropped");
    if (ch.hook == "input" && f.dns_proxy_running && !ch.table_names_iface)
      bad.push_back(id + " drops by default and no rule of its table names " + f.tun_iface +
                    ": the DNS proxy and pings to the server's tunnel address are dropped");
    if (ch.hook == "forward" && f.kernel_forwarding && !ch.table_names_iface)
      bad.push_back(id + " drops by default and no rule of its table names " + f.tun_iface +
                    ": clients' traffic beyond the server is dropped");
  }
  if (!bad.empty()) {
    c.result = Outcome::fail;
    std::string s;
    for (const auto& b : bad) s += (s.empty() ? "" : "; ") + b;
    c.detail = s + " (docs/deploy.md, section 5)";
    return c;
  }
  c.detail = std::to_string(f.chains.size()) + " input/forward chain(s), " +
             (dropping ? std::to_string(dropping) + " dropping by default, each with rules for " + f.tun_iface + " / udp " +
                             std::to_string(f.port)
                       : std::string("none dropping by default"));
  return c;
}

}  // namespace

Result<std::vector<FirewallChain>> firewall_chains(std::string_view nft_json, const std::string& iface, uint16_t port) {
  json doc = json::parse(nft_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("nftables") || !doc["nftables"].is_array())
    return Error(Errc::protocol, "not nft's JSON output");
  struct TableMentions {
    bool iface = false, port = false;
  };
  std::map<std::string, TableMentions> tables;   // "family table"
  std::vector<FirewallChain> out;
  for (const auto& item : doc["nftables"]) {
    if (!item.is_object()) continue;
    if (item.contains("rule") && item["rule"].is_object()) {
      const json& r = item["rule"];
      auto& t = tables[r.value("family", "") + " " + r.value("table", "")];
      if (r.contains("expr")) scan(r["expr"], iface, port, &t.iface, &t.port);
    } else if (item.contains("chain") && item["chain"].is_object()) {
      const json& ch = item["chain"];
      std::string hook = ch.value("hook", "");
      std::string table = ch.value("table", "");
      if ((hook != "input" && hook != "forward") || table.rfind("ptun_", 0) == 0) continue;
      FirewallChain fc;
      fc.family = ch.value("family", "");
      fc.table = table;
      fc.name = ch.value("name", "");
      fc.hook = hook;
      fc.drop_policy = ch.value("policy", "accept") == "drop";
      out.push_back(fc);
    }
  }
  for (auto& fc : out) {
    const auto& t = tables[fc.family + " " + fc.table];
    fc.table_names_iface = t.iface;
    fc.table_names_port = t.port;
  }
  return out;
}

std::vector<Check> evaluate_server(const ServerFacts& f) {
  std::vector<Check> out;
  if (!f.status_error.empty()) {
    out.push_back({"running", Outcome::fail, "the server does not answer: " + f.status_error});
  } else {
    out.push_back({"running", Outcome::ok, std::to_string(f.sessions) + " session(s), udp port " + std::to_string(f.port)});
  }
  out.push_back(check_forwarding(f));
  out.push_back(check_masquerade(f));
  out.push_back(check_firewall(f));
  out.push_back(check_expiry(f.cert_not_after, f.cert_error, f.now, "server", ": every client is refused"));
  return out;
}

}  // namespace ptun::netcfg::doctor
