#include "cluster/alloc_plan.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "cluster/record_json.hpp"

namespace ptun::cluster {
namespace {

using json = nlohmann::json;

// FNV-1a: a stable spread of peer names over a pool.
uint64_t name_hash(const std::string& cn) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : cn) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// A free address of a pool: not the servers' own (network + 1), not broadcast, not taken, not
// claimed by an acquire in flight. The scan starts at a place given by the peer's name: servers
// allocating for different peers at the same moment then try different addresses (every one
// starting at the lowest made 60 concurrent handshakes lose their races up to 8 times in a row).
std::optional<IpAddr> next_free(const Cidr& pool, const std::string& cn, const std::map<IpAddr, std::string>& taken,
                                const std::set<IpAddr>& reserved, const std::set<IpAddr>& in_flight) {
  // Candidates network+2 .. network+2+span-1 (at most 65536: enough for any realistic pool,
  // bounded for a /64); broadcast excluded below.
  const int host_bits = (pool.addr.is_v4() ? 32 : 128) - pool.prefix;
  const uint64_t size = host_bits >= 17 ? 65538 : (uint64_t(1) << host_bits);
  if (size < 3) return std::nullopt;
  const uint64_t span = size - 2;
  const uint64_t start = name_hash(cn) % span;
  for (uint64_t i = 0; i < span; ++i) {
    auto a = pool_offset(pool, 2 + (start + i) % span);
    if (!a || is_v4_broadcast(pool, *a)) continue;
    if (!taken.count(*a) && !reserved.count(*a) && !in_flight.count(*a)) return a;
  }
  return std::nullopt;
}

bool usable(const std::optional<Cidr>& pool, const IpAddr& a, const AllocConfig& c) {
  return pool && pool->contains(a) && a != pool_offset(*pool, 1) && !is_v4_broadcast(*pool, a) &&
         a != pool->network().addr && !c.reserved.count(a);
}

TxnOp put(std::string key, std::string value) {
  TxnOp op;
  op.put = PutRequest{std::move(key), std::move(value), 0};
  return op;
}

Compare compare(std::string key, Compare::Target t, int64_t n) {
  Compare c;
  c.key = std::move(key);
  c.target = t;
  c.number = n;
  return c;
}

}  // namespace

std::string encode_peer_record(const PeerRecord& r) {
  json j = {{"server", r.server}, {"active", r.active}, {"at", r.at}};
  if (r.gen) j["gen"] = r.gen;
  if (r.addrs.ipv4) j["ipv4"] = r.addrs.ipv4->str();
  if (r.addrs.ipv6) j["ipv6"] = r.addrs.ipv6->str();
  return j.dump();
}

Result<PeerRecord> decode_peer_record(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Errc::protocol, "peer record: not a JSON object");
  PeerRecord r;
  if (auto e = read_address(j, "peer record", "ipv4", Family::v4, &r.addrs.ipv4); !e) return e.error();
  if (auto e = read_address(j, "peer record", "ipv6", Family::v6, &r.addrs.ipv6); !e) return e.error();
  if (auto it = j.find("server"); it != j.end()) {
    if (!it->is_string()) return Error(Errc::protocol, "peer record: server is not a string");
    r.server = it->get<std::string>();
  }
  if (auto it = j.find("active"); it != j.end()) {
    if (!it->is_boolean()) return Error(Errc::protocol, "peer record: active is not a boolean");
    r.active = it->get<bool>();
  }
  if (auto it = j.find("gen"); it != j.end()) {
    if (!it->is_number_unsigned()) return Error(Errc::protocol, "peer record: gen is not an unsigned integer");
    r.gen = it->get<uint64_t>();
  }
  if (auto it = j.find("at"); it != j.end()) {
    if (!it->is_number_integer()) return Error(Errc::protocol, "peer record: at is not an integer");
    r.at = it->get<int64_t>();
  }
  return r;
}

std::string peer_key(const AllocConfig& c, const std::string& cn) { return c.prefix + "/peers/" + cn; }
std::string lease_key(const AllocConfig& c, const IpAddr& a) { return leases_prefix(c) + a.str(); }
std::string leases_prefix(const AllocConfig& c) { return c.prefix + "/leases/"; }

TxnRequest AllocPlan::read(const AllocConfig& c, const std::string& cn) {
  TxnRequest t;
  TxnOp peer, leases;
  peer.range = RangeRequest{peer_key(c, cn), "", false, 0};
  leases.range = RangeRequest{leases_prefix(c), prefix_end(leases_prefix(c)), false, 0};
  t.success = {peer, leases};
  return t;
}

Result<Claim> AllocPlan::decide(const AllocConfig& c, const std::string& cn, const TxnResponse& rd, int64_t now_s,
                                const std::set<IpAddr>& in_flight, uint64_t gen) {
  if (rd.ranges.size() != 2) return Error(Errc::protocol, "etcd answer: the read has no two ranges");
  // Who holds which address, and at which revision.
  const std::string lp = leases_prefix(c);
  std::map<IpAddr, std::string> taken;
  std::map<IpAddr, int64_t> taken_rev;
  for (const auto& kv : rd.ranges[1].kvs) {
    if (kv.key.compare(0, lp.size(), lp) != 0) continue;
    auto a = IpAddr::parse(std::string_view(kv.key).substr(lp.size()));
    if (!a) continue;  // not ours to interpret; it takes no address of a pool either
    taken[*a] = kv.value;
    taken_rev[*a] = kv.mod_revision;
  }
  Claim cl;
  TxnRequest& t = cl.commit;
  // The peer's record: reused family by family where still valid and its lease key is the peer's
  // (or absent: the grace lease expired between the two keys' deletions).
  std::optional<PeerRecord> old;
  const std::string pk = peer_key(c, cn);
  if (!rd.ranges[0].kvs.empty()) {
    const auto& kv = rd.ranges[0].kvs[0];
    t.compare.push_back(compare(pk, Compare::Target::mod, kv.mod_revision));
    if (auto r = decode_peer_record(kv.value)) old = *r;  // an unreadable record is overwritten
  } else {
    t.compare.push_back(compare(pk, Compare::Target::create, 0));
  }
  auto pick = [&](const std::optional<Cidr>& pool, std::optional<IpAddr> had,
                  std::optional<IpAddr>* out) -> Result<void> {
    if (!pool) return {};
    if (had && usable(pool, *had, c)) {
      auto it = taken.find(*had);
      if (it == taken.end()) {
        *out = had;
      } else if (it->second == cn) {
        *out = had;
        t.compare.push_back(compare(lease_key(c, *had), Compare::Target::mod, taken_rev[*had]));
        return {};
      }
    }
    if (!*out) *out = next_free(*pool, cn, taken, c.reserved, in_flight);
    if (!*out) return Error(Errc::limit, "pool " + pool->str() + " is exhausted (cluster)");
    t.compare.push_back(compare(lease_key(c, **out), Compare::Target::create, 0));
    return {};
  };
  if (auto e = pick(c.v4_pool, old ? old->addrs.ipv4 : std::nullopt, &cl.addrs.ipv4); !e) return e.error();
  if (auto e = pick(c.v6_pool, old ? old->addrs.ipv6 : std::nullopt, &cl.addrs.ipv6); !e) return e.error();
  cl.record = PeerRecord{cl.addrs, c.server, true, now_s, gen};
  // Put without a lease: an active peer's keys never expire, and a put detaches a grace lease.
  t.success.push_back(put(pk, encode_peer_record(cl.record)));
  if (cl.addrs.ipv4) t.success.push_back(put(lease_key(c, *cl.addrs.ipv4), cn));
  if (cl.addrs.ipv6) t.success.push_back(put(lease_key(c, *cl.addrs.ipv6), cn));
  // Addresses of the old record not kept (outside a changed pool): freed with the new record.
  if (old) {
    for (const auto& a : {old->addrs.ipv4, old->addrs.ipv6}) {
      if (!a || *a == cl.addrs.ipv4 || *a == cl.addrs.ipv6) continue;
      auto it = taken.find(*a);
      if (it == taken.end() || it->second != cn) continue;
      TxnOp del;
      del.del = DeleteRequest{lease_key(c, *a)};
      t.compare.push_back(compare(lease_key(c, *a), Compare::Target::mod, taken_rev[*a]));
      t.success.push_back(del);
    }
  }
  return cl;
}

TxnRequest AllocPlan::release(const AllocConfig& c, const std::string& cn, const PeerRecord& held,
                              int64_t grace_lease, int64_t now_s) {
  TxnRequest t;
  Compare same;
  same.key = peer_key(c, cn);
  same.target = Compare::Target::value;
  same.value = encode_peer_record(held);
  t.compare.push_back(same);
  PeerRecord released = held;
  released.active = false;
  released.at = now_s;
  auto leased = [&](std::string key, std::string value) {
    TxnOp op = put(std::move(key), std::move(value));
    op.put->lease = grace_lease;
    return op;
  };
  t.success.push_back(leased(peer_key(c, cn), encode_peer_record(released)));
  for (const auto& a : {held.addrs.ipv4, held.addrs.ipv6})
    if (a) t.success.push_back(leased(lease_key(c, *a), cn));
  return t;
}

}  // namespace ptun::cluster
