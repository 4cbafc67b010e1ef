#include "cluster/revocations.hpp"

#include <cctype>

namespace ptun::cluster {

std::optional<std::string> normalize_serial(std::string_view s) {
  std::string h;
  for (char c : s) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    h += char(std::tolower(static_cast<unsigned char>(c)));
  }
  if (h.empty() || h.size() > 128) return std::nullopt;
  if (h.size() % 2) h.insert(h.begin(), '0');
  size_t zeros = 0;   // DER puts a 00 before a serial whose top bit is set
  while (zeros + 2 < h.size() && h[zeros] == '0' && h[zeros + 1] == '0') zeros += 2;
  return h.substr(zeros);
}

Revocations::Revocations(const std::string& prefix) : prefix_(prefix + "/revoked/") {}

RangeRequest Revocations::changes() const {
  return RangeRequest{prefix_, prefix_end(prefix_), true, 0, full_next() ? 0 : seen_rev_ + 1};
}

std::vector<std::string> Revocations::observe(const RangeResponse& r, int64_t revision) {
  const bool full = full_next();
  std::set<std::string> now;
  std::vector<std::string> fresh;
  for (const auto& kv : r.kvs) {
    if (kv.key.size() <= prefix_.size() || kv.key.compare(0, prefix_.size(), prefix_) != 0) continue;
    auto s = normalize_serial(std::string_view(kv.key).substr(prefix_.size()));
    if (!s) continue;   // not a serial: ignored (etcdctl users may leave notes)
    if (!serials_.count(*s)) fresh.push_back(*s);
    now.insert(*s);
  }
  if (full) serials_ = std::move(now);   // a withdrawn revocation stops applying here
  else serials_.insert(now.begin(), now.end());
  if (revision > seen_rev_) seen_rev_ = revision;
  ++polls_;
  return fresh;
}

bool Revocations::revoked(const std::string& serial_hex) const {
  auto s = normalize_serial(serial_hex);
  return s && serials_.count(*s);
}

}  // namespace ptun::cluster
