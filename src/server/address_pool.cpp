#include "server/address_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ptun::server {
AddressPool::AddressPool(std::optional<Cidr> v4_pool, std::optional<Cidr> v6_pool)
    : v4_(v4_pool), v6_(v6_pool) {
  if (auto s = server_v4()) used_.insert(s->addr);
  if (auto s = server_v6()) used_.insert(s->addr);
}

std::optional<Cidr> AddressPool::server_v4() const {
  if (!v4_) return std::nullopt;
  auto a = pool_offset(*v4_, 1);
  return a ? std::optional<Cidr>(Cidr{*a, v4_->prefix}) : std::nullopt;
}

std::optional<Cidr> AddressPool::server_v6() const {
  if (!v6_) return std::nullopt;
  auto a = pool_offset(*v6_, 1);
  return a ? std::optional<Cidr>(Cidr{*a, v6_->prefix}) : std::nullopt;
}

bool AddressPool::in_use(const IpAddr& a) const { return used_.count(a) != 0; }

Result<void> AddressPool::reserve_static(const std::string& peer, const Lease& addrs) {
  for (const auto* a : {&addrs.ipv4, &addrs.ipv6}) {
    if (!*a) continue;
    const auto& pool = (*a)->is_v4() ? v4_ : v6_;
    if (!pool || !pool->contains(**a))
      return Error(Errc::invalid_argument, "peer " + peer + ": " + (*a)->str() + " is outside the pool");
    if (in_use(**a))
      return Error(Errc::exists, "peer " + peer + ": " + (*a)->str() + " is already taken");
  }
  if (addrs.ipv4) used_.insert(*addrs.ipv4);
  if (addrs.ipv6) used_.insert(*addrs.ipv6);
  static_[peer] = addrs;
  return {};
}

void AddressPool::restore(const std::map<std::string, Lease>& leases, int64_t now_s) {
  for (const auto& [peer, l] : leases) {
    if (static_.count(peer)) continue;
    Lease kept;
    kept.last_seen = l.last_seen ? l.last_seen : now_s;
    if (l.ipv4 && v4_ && v4_->contains(*l.ipv4) && !in_use(*l.ipv4) && !is_v4_broadcast(*v4_, *l.ipv4))
      kept.ipv4 = l.ipv4;
    if (l.ipv6 && v6_ && v6_->contains(*l.ipv6) && !in_use(*l.ipv6)) kept.ipv6 = l.ipv6;
    if (kept.ipv4) used_.insert(*kept.ipv4);
    if (kept.ipv6) used_.insert(*kept.ipv6);
    if (kept.ipv4 || kept.ipv6) dynamic_[peer] = kept;
  }
}

std::optional<IpAddr> AddressPool::next_free(const Cidr& pool, const std::set<IpAddr>& used) const {
  // Scan at most 65536 candidates: enough for any realistic pool, bounded for a /64.
  for (uint64_t n = 2; n < 65538; ++n) {
    auto a = pool_offset(pool, n);
    if (!a) return std::nullopt;
    if (is_v4_broadcast(pool, *a)) return std::nullopt;
    if (!used.count(*a)) return a;
  }
  return std::nullopt;
}

Result<Lease> AddressPool::acquire(const std::string& peer, int64_t now_s, const ActiveFn& active) {
  auto l = allocate(peer);
  if (!l && l.error().code == Errc::limit) {
    // The peer's own partial lease (one family allocated) is not for expiry.
    auto busy = [&](const std::string& p) { return p == peer || (active && active(p)); };
    if (!expire(now_s, busy).empty()) l = allocate(peer);
  }
  touch(peer, now_s);
  if (l) l->last_seen = now_s;
  return l;
}

void AddressPool::touch(const std::string& peer, int64_t now_s) {
  if (auto it = dynamic_.find(peer); it != dynamic_.end()) it->second.last_seen = now_s;
}

std::vector<std::string> AddressPool::expire(int64_t now_s, const ActiveFn& active) {
  std::vector<std::string> gone;
  if (expiry_s_ <= 0) return gone;
  for (const auto& [peer, l] : dynamic_)
    if (now_s - l.last_seen >= expiry_s_ && !(active && active(peer))) gone.push_back(peer);
  for (const auto& peer : gone) release(peer);
  return gone;
}

Result<Lease> AddressPool::allocate(const std::string& peer) {
  if (auto it = static_.find(peer); it != static_.end()) {
    Lease l = it->second;
    // A static peer without an address in one family still gets a dynamic one there.
    auto& dyn = dynamic_[peer];
    if (!l.ipv4 && v4_) {
      if (!dyn.ipv4) {
        dyn.ipv4 = next_free(*v4_, used_);
        if (!dyn.ipv4) return Error(Errc::limit, "IPv4 pool " + v4_->str() + " is exhausted");
        used_.insert(*dyn.ipv4);
      }
      l.ipv4 = dyn.ipv4;
    }
    if (!l.ipv6 && v6_) {
      if (!dyn.ipv6) {
        dyn.ipv6 = next_free(*v6_, used_);
        if (!dyn.ipv6) return Error(Errc::limit, "IPv6 pool " + v6_->str() + " is exhausted");
        used_.insert(*dyn.ipv6);
      }
      l.ipv6 = dyn.ipv6;
    }
    if (!dyn.ipv4 && !dyn.ipv6) dynamic_.erase(peer);
    return l;
  }
  Lease& l = dynamic_[peer];
  if (v4_ && !l.ipv4) {
    l.ipv4 = next_free(*v4_, used_);
    if (!l.ipv4) {
      if (!l.ipv6) dynamic_.erase(peer);
      return Error(Errc::limit, "IPv4 pool " + v4_->str() + " is exhausted");
    }
    used_.insert(*l.ipv4);
  }
  if (v6_ && !l.ipv6) {
    l.ipv6 = next_free(*v6_, used_);
    if (!l.ipv6) return Error(Errc::limit, "IPv6 pool " + v6_->str() + " is exhausted");
    used_.insert(*l.ipv6);
  }
  return l;
}

void AddressPool::release(const std::string& peer) {
  auto it = dynamic_.find(peer);
  if (it == dynamic_.end()) return;
  if (it->second.ipv4) used_.erase(*it->second.ipv4);
  if (it->second.ipv6) used_.erase(*it->second.ipv6);
  dynamic_.erase(it);
}

Result<std::map<std::string, Lease>> LeaseStore::load() const {
  std::ifstream in(path_);
  if (!in) return std::map<std::string, Lease>{};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error(Errc::invalid_argument, path_ + ": not a lease file (JSON object expected)");
  std::map<std::string, Lease> out;
  for (auto& [peer, v] : j.items()) {
    if (!v.is_object()) continue;
    Lease l;
    for (const char* fam : {"ipv4", "ipv6"}) {
      if (!v.contains(fam) || !v[fam].is_string()) continue;
      auto a = IpAddr::parse(v[fam].get<std::string>());
      if (!a) continue;
      (std::string(fam) == "ipv4" ? l.ipv4 : l.ipv6) = *a;
    }
    if (v.contains("last_seen") && v["last_seen"].is_number_integer()) l.last_seen = v["last_seen"].get<int64_t>();
    out[peer] = l;
  }
  return out;
}

Result<void> LeaseStore::save(const std::map<std::string, Lease>& leases) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [peer, l] : leases) {
    nlohmann::json e = nlohmann::json::object();
    if (l.ipv4) e["ipv4"] = l.ipv4->str();
    if (l.ipv6) e["ipv6"] = l.ipv6->str();
    if (l.last_seen) e["last_seen"] = l.last_seen;
    j[peer] = e;
  }
  // Peer names are checked UTF-8 (proto::valid_peer_name); `replace` keeps dump() from throwing
  // on the data path whatever slips through.
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::from_errno("cannot write " + tmp, errno);
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) < 0) return Error::from_errno("cannot save " + path_, errno);
  return {};
}

}  // namespace ptun::server
