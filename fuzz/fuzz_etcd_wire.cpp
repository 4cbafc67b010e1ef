// libFuzzer: etcd gateway answers (src/cluster/etcd_wire.hpp) and the lease plan fed with them.
// Every answer decodes to a value or an Error, never a crash or UB; whatever the store returned,
// a claim the plan makes stays inside the pools and off the servers' and the static addresses.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/alloc_plan.hpp"
#include "cluster/etcd_wire.hpp"

using namespace ptun;
using namespace ptun::cluster;

namespace {
void require(bool c) {
  if (!c) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)decode_range(body);
  (void)decode_lease_grant(body);
  (void)decode_lease_keepalive(body);
  (void)decode_empty(body);
  (void)decode_peer_record(body);
  if (auto b = base64_decode(body)) require(base64_encode(*b) == body);
  auto txn = decode_txn(body);
  if (!txn) return 0;
  static const AllocConfig cfg = [] {
    AllocConfig c;
    c.prefix = "/p";
    c.server = "s1";
    c.v4_pool = *Cidr::parse("10.9.0.0/29");
    c.v6_pool = *Cidr::parse("fd09::/125");
    c.reserved = {*IpAddr::parse("10.9.0.3")};
    return c;
  }();
  auto claim = AllocPlan::decide(cfg, "peer", *txn, 100);
  if (!claim) return 0;
  for (const auto& [a, pool] : {std::pair{claim->addrs.ipv4, cfg.v4_pool}, std::pair{claim->addrs.ipv6, cfg.v6_pool}}) {
    require(a.has_value());
    require(pool->contains(*a) && *a != pool->network().addr && *a != pool_offset(*pool, 1));
    require(!is_v4_broadcast(*pool, *a) && !cfg.reserved.count(*a));
  }
  return 0;
}
