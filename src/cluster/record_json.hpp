// Fields of the JSON records ptun keeps in etcd (peer and server records), read the same way:
// absent is fine, present it must have the right type, else an Errc::protocol error naming the
// record and the field.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::cluster {

// An address field of family `f` ("ipv4", "backbone_v6", ...); `what` names the record.
inline Result<void> read_address(const nlohmann::json& j, const char* what, const char* name, Family f,
                                  std::optional<IpAddr>* out) {
  auto it = j.find(name);
  if (it == j.end()) return {};
  if (!it->is_string()) return Error(Errc::protocol, std::string(what) + ": " + name + " is not a string");
  auto a = IpAddr::parse(it->get_ref<const std::string&>());
  if (!a || a->family != f) return Error(Errc::protocol, std::string(what) + ": bad " + name);
  *out = *a;
  return {};
}

}  // namespace ptun::cluster
