// An in-memory etcd for the sans-I/O tests: a revisioned key space that applies TxnRequests with
// etcd's semantics for the compares and ops ptun uses (create/mod revision, value; range, put,
// delete; leases recorded, not expired unless expire_lease() says so).
#pragma once
#include <map>
#include <string>

#include "cluster/etcd_wire.hpp"

namespace ptun::cluster::test {

class FakeEtcd {
 public:
  TxnResponse apply(const TxnRequest& t) {
    bool ok = true;
    for (const auto& c : t.compare) ok = ok && holds(c);
    TxnResponse r;
    r.succeeded = ok;
    bool wrote = false;
    for (const auto& op : ok ? t.success : t.failure) {
      if (op.range) r.ranges.push_back(range(*op.range));
      else r.ranges.emplace_back();
      if (op.put || op.del) {
        if (!wrote) ++rev_;
        wrote = true;
      }
      if (op.put) {
        auto& kv = kv_[op.put->key];
        if (kv.create_revision == 0) kv.create_revision = rev_;
        kv.key = op.put->key;
        kv.value = op.put->value;
        kv.mod_revision = rev_;
        ++kv.version;
        kv.lease = op.put->lease;
      }
      if (op.del) kv_.erase(op.del->key);
    }
    r.revision = rev_;
    return r;
  }
  // etcd deletes every key attached to an expired lease.
  void expire_lease(int64_t id) {
    ++rev_;
    for (auto it = kv_.begin(); it != kv_.end();) it = it->second.lease == id ? kv_.erase(it) : std::next(it);
  }
  const std::map<std::string, KeyValue>& keys() const { return kv_; }
  int64_t revision() const { return rev_; }

 private:
  bool holds(const Compare& c) const {
    auto it = kv_.find(c.key);
    const KeyValue none;
    const KeyValue& kv = it == kv_.end() ? none : it->second;
    int cmp = 0;
    switch (c.target) {
      case Compare::Target::create: cmp = kv.create_revision < c.number ? -1 : kv.create_revision > c.number; break;
      case Compare::Target::mod: cmp = kv.mod_revision < c.number ? -1 : kv.mod_revision > c.number; break;
      case Compare::Target::version: cmp = kv.version < c.number ? -1 : kv.version > c.number; break;
      case Compare::Target::value:
        if (it == kv_.end()) return false;  // etcd: a value compare on a missing key fails
        cmp = kv.value.compare(c.value) < 0 ? -1 : kv.value.compare(c.value) > 0;
        break;
    }
    switch (c.result) {
      case Compare::Result::equal: return cmp == 0;
      case Compare::Result::not_equal: return cmp != 0;
      case Compare::Result::greater: return cmp > 0;
      case Compare::Result::less: return cmp < 0;
    }
    return false;
  }
  RangeResponse range(const RangeRequest& q) const {
    RangeResponse r;
    r.revision = rev_;
    auto add = [&](const KeyValue& kv) {
      if (kv.mod_revision < q.min_mod_revision) return;
      KeyValue out = kv;
      if (q.keys_only) out.value.clear();
      r.kvs.push_back(out);
    };
    if (q.range_end.empty()) {
      if (auto it = kv_.find(q.key); it != kv_.end()) add(it->second);
    } else {
      for (auto it = kv_.lower_bound(q.key); it != kv_.end() && it->first < q.range_end; ++it) add(it->second);
    }
    r.count = int64_t(r.kvs.size());
    return r;
  }
  std::map<std::string, KeyValue> kv_;
  int64_t rev_ = 1;
};

}  // namespace ptun::cluster::test
