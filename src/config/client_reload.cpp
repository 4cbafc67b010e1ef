#include "config/client_reload.hpp"

#include <array>

namespace ptun::config {
namespace {

struct Field {
  const char* name;
  unsigned effects;
  bool (*differs)(const ClientConfig&, const ClientConfig&);
  void (*copy)(ClientConfig& into, const ClientConfig& from);
};

// Get: a captureless lambda giving the field of a config.
template <auto Get>
constexpr Field field(const char* name, unsigned effects) {
  return {name, effects, [](const ClientConfig& a, const ClientConfig& b) { return Get(a) != Get(b); },
          [](ClientConfig& into, const ClientConfig& from) { Get(into) = Get(from); }};
}

constexpr unsigned kSession = reload_new_session;
const std::array kFields = {
    field<[](auto& c) -> auto& { return c.servers; }>("server", kSession | reload_new_servers),
    field<[](auto& c) -> auto& { return c.server_name; }>("server_name", kSession),
    field<[](auto& c) -> auto& { return c.ca; }>("ca", kSession),
    field<[](auto& c) -> auto& { return c.cert; }>("cert", kSession),
    field<[](auto& c) -> auto& { return c.key; }>("key", kSession),
    field<[](auto& c) -> auto& { return c.ca_pem; }>("ca_pem", kSession),
    field<[](auto& c) -> auto& { return c.cert_pem; }>("cert_pem", kSession),
    field<[](auto& c) -> auto& { return c.key_pem; }>("key_pem", kSession),
    field<[](auto& c) -> auto& { return c.routes; }>("[routes]", reload_host_settings),
    field<[](auto& c) -> auto& { return c.dns; }>("[dns]", reload_host_settings),
    field<[](auto& c) -> auto& { return c.tunnel.mtu; }>("tunnel.mtu", reload_host_settings),
    field<[](auto& c) -> auto& { return c.log_level; }>("log_level", reload_log_level),
    field<[](auto& c) -> auto& { return c.reconnect_max_secs; }>("reconnect_max_secs", reload_reconnect),
    field<[](auto& c) -> auto& { return c.on_demand; }>("[[on_demand]]", reload_on_demand),
    field<[](auto& c) -> auto& { return c.path; }>("(the file's path)", 0),
};

}  // namespace

std::vector<std::string> ReloadPlan::groups() const {
  std::vector<std::string> g;
  if (has(reload_new_session)) g.push_back("server/credentials");
  if (has(reload_host_settings)) g.push_back("routes/dns/mtu");
  if (has(reload_log_level)) g.push_back("log_level");
  if (has(reload_reconnect)) g.push_back("reconnect_max_secs");
  if (has(reload_on_demand)) g.push_back("on_demand");
  return g;
}

std::vector<std::string> reloadable_fields() {
  std::vector<std::string> v;
  for (const auto& f : kFields)
    if (f.effects) v.push_back(f.name);
  return v;
}

Result<ReloadPlan> plan_reload(const ClientConfig& running, const ClientConfig& fresh) {
  // Everything outside the table must be equal: take the table's fields from the running config
  // into a copy of the fresh one and compare the whole.
  ClientConfig rest = fresh;
  for (const auto& f : kFields) f.copy(rest, running);
  if (!(rest == running)) {
    std::string can;
    for (const auto& name : reloadable_fields()) can += (can.empty() ? "" : ", ") + name;
    return Error(Errc::unsupported, "only " + can + " can change without a restart");
  }
  ReloadPlan plan;
  for (const auto& f : kFields) {
    if (!f.differs(running, fresh)) continue;
    plan.effects |= f.effects;
    if (f.effects) plan.changed.push_back(f.name);
  }
  return plan;
}

}  // namespace ptun::config
