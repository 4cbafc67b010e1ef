#include "server/peer_ledger.hpp"

namespace ptun::server {

void PeerLedger::set_listed(const std::vector<std::string>& names) {
  listed_ = std::set<std::string>(names.begin(), names.end());
  unlisted_ = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (listed_.count(it->first) || it->first == kOther) {
      ++it;
      continue;
    }
    if (unlisted_ < max_unlisted_) {
      ++unlisted_;
      ++it;
    } else {
      it = entries_.erase(it);   // over the bound: forgotten (its counters restart if it returns)
    }
  }
  if (entries_.count(kOther)) ++unlisted_;
  for (const auto& n : listed_) entries_.try_emplace(n);
}

std::string PeerLedger::key(const std::string& name) {
  if (entries_.count(name)) return name;
  if (listed_.count(name)) return name;
  if (unlisted_ < max_unlisted_) {
    entries_.try_emplace(name);
    ++unlisted_;
    return name;
  }
  if (entries_.try_emplace(kOther).second) ++unlisted_;
  return kOther;
}

void PeerLedger::handshake(const std::string& name, int64_t now_unix, int64_t cert_not_after) {
  PeerTotals& t = at(name);
  ++t.handshakes;
  t.last_handshake_unix = now_unix;
  if (cert_not_after) t.cert_not_after = cert_not_after;
}

void PeerLedger::ended(const std::string& name, const proto::SessionStats& st) {
  PeerTotals& t = at(name);
  t.bytes_in += st.bytes_in;
  t.bytes_out += st.bytes_out;
  t.packets_in += st.packets_in;
  t.packets_out += st.packets_out;
  t.roams += st.roams;
}

}  // namespace ptun::server
