#include "cluster/session_book.hpp"

#include <nlohmann/json.hpp>

namespace ptun::cluster {

namespace {
using json = nlohmann::json;

Compare compare(std::string key, Compare::Target t, int64_t n, std::string value = {}) {
  Compare c;
  c.key = std::move(key);
  c.target = t;
  c.number = n;
  c.value = std::move(value);
  return c;
}
}  // namespace

std::string encode_session_record(const SessionRecord& r) {
  // The session id as hex text: JSON numbers past 2^53 do not survive every reader (etcdctl, jq).
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(r.session));
  return json{{"server", r.server}, {"session", id}, {"at", r.at}}.dump();
}

Result<SessionRecord> decode_session_record(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Errc::protocol, "session record: not a JSON object");
  SessionRecord r;
  auto s = j.find("server");
  if (s == j.end() || !s->is_string() || s->get_ref<const std::string&>().empty())
    return Error(Errc::protocol, "session record: no server");
  r.server = s->get<std::string>();
  auto id = j.find("session");
  if (id == j.end() || !id->is_string()) return Error(Errc::protocol, "session record: no session");
  const std::string& hex = id->get_ref<const std::string&>();
  if (hex.empty() || hex.size() > 16 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Error(Errc::protocol, "session record: session is not 1..16 hex digits");
  r.session = std::stoull(hex, nullptr, 16);
  if (auto at = j.find("at"); at != j.end()) {
    if (!at->is_number_integer()) return Error(Errc::protocol, "session record: at is not an integer");
    r.at = at->get<int64_t>();
  }
  return r;
}

SessionBook::SessionBook(std::string prefix, std::string server)
    : prefix_(std::move(prefix) + "/sessions/"), server_(std::move(server)) {}

void SessionBook::up(const std::string& cn, uint64_t session) {
  Entry& e = entries_[cn];
  e.live = session;
  e.fresh = true;
  e.foreign_rev = 0;
  dirty_.insert(cn);
}

void SessionBook::down(const std::string& cn, uint64_t session) {
  auto it = entries_.find(cn);
  if (it == entries_.end() || it->second.live != session) return;
  it->second.live = 0;
  it->second.fresh = false;
  dirty_.insert(cn);
}

void SessionBook::lease_lost() {
  for (auto& [cn, e] : entries_) {
    e.written.clear();   // etcd deleted it with the lease
    e.attempted.clear();
    e.written_session = 0;
    e.written_rev = e.written_lease = 0;
    if (e.live) dirty_.insert(cn);
  }
  for (auto it = entries_.begin(); it != entries_.end();) it = it->second.live ? std::next(it) : entries_.erase(it);
}

std::optional<SessionBook::Write> SessionBook::next_write(int64_t lease, int64_t now_s) {
  while (!dirty_.empty()) {
    const std::string cn = *dirty_.begin();
    auto it = entries_.find(cn);
    if (it == entries_.end()) {
      dirty_.erase(dirty_.begin());
      continue;
    }
    Entry& e = it->second;
    Write w;
    w.cn = cn;
    w.lease = lease;
    const std::string k = key(cn);
    if (e.live && (e.written.empty() || e.written_session != e.live || e.written_lease != lease)) {
      w.session = e.live;
      w.value = encode_session_record(SessionRecord{server_, e.live, now_s});
      TxnOp put;
      put.put = PutRequest{k, w.value, lease};
      w.txn.success.push_back(std::move(put));
      if (!e.fresh) {
        // Written again after the lease was lost: only where nobody wrote since; else see who.
        w.txn.compare.push_back(compare(k, Compare::Target::create, 0));
        TxnOp look;
        look.range = RangeRequest{k, "", false, 0, 0};
        w.txn.failure.push_back(std::move(look));
      }
      return w;
    }
    if (!e.live && (!e.written.empty() || !e.attempted.empty())) {
      // Deleted only while it is still the record this server wrote (or may have written).
      w.value = !e.written.empty() ? e.written : e.attempted;
      w.txn.compare.push_back(compare(k, Compare::Target::value, 0, w.value));
      TxnOp del;
      del.del = DeleteRequest{k};
      w.txn.success.push_back(std::move(del));
      return w;
    }
    dirty_.erase(dirty_.begin());
    settle(cn);
  }
  return std::nullopt;
}

std::optional<Kick> SessionBook::written(const Write& w, const TxnResponse& r) {
  auto it = entries_.find(w.cn);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second;
  std::optional<Kick> kick;
  if (w.session == 0) {   // a delete: gone, or no longer ours to delete
    if (w.value == e.written) {
      e.written.clear();
      e.written_session = 0;
    }
    if (w.value == e.attempted) e.attempted.clear();
  } else if (r.succeeded) {
    e.attempted.clear();
    e.written = w.value;
    e.written_session = w.session;
    e.written_rev = r.revision;
    e.written_lease = w.lease;
    if (e.live == w.session) {
      e.fresh = false;
      if (e.foreign_rev > r.revision) kick = kick_if_newer(w.cn, e, e.foreign_rev, e.foreign_server);
    }
    e.foreign_rev = 0;
  } else {
    e.attempted.clear();   // the compare failed: nothing was put
    // The re-write found a record in place: another server's (the peer moved while our lease was
    // gone: ours goes), or one of an earlier run of this server (overwritten).
    std::optional<SessionRecord> there;
    if (!r.ranges.empty() && !r.ranges[0].kvs.empty())
      if (auto rec = decode_session_record(r.ranges[0].kvs[0].value)) there = *rec;
    if (there && there->server != server_ && e.live == w.session) {
      kick = Kick{w.cn, e.live, there->server};
      e.live = 0;
    } else if (e.live == w.session) {
      e.fresh = true;
    }
  }
  settle(w.cn);
  return kick;
}

void SessionBook::failed(const Write& w) {
  dirty_.insert(w.cn);
  if (w.session == 0) return;
  if (auto it = entries_.find(w.cn); it != entries_.end()) it->second.attempted = w.value;
}

RangeRequest SessionBook::changes(bool full) const {
  return RangeRequest{prefix_, prefix_end(prefix_), false, 0, full ? 0 : seen_rev_ + 1};
}

std::vector<Kick> SessionBook::observe(const RangeResponse& r, int64_t revision, bool full) {
  std::vector<Kick> kicks;
  if (full) forget_missing(r, revision);
  for (const auto& kv : r.kvs) {
    if (kv.key.size() <= prefix_.size() || kv.key.compare(0, prefix_.size(), prefix_) != 0) continue;
    const std::string cn = kv.key.substr(prefix_.size());
    auto it = entries_.find(cn);
    if (it == entries_.end()) continue;
    auto rec = decode_session_record(kv.value);
    if (!rec || rec->server == server_) continue;   // ours (this run's or an earlier one's)
    Entry& e = it->second;
    if (e.live && e.written_session == e.live && !e.written.empty()) {
      if (kv.mod_revision > e.written_rev)
        if (auto k = kick_if_newer(cn, e, kv.mod_revision, rec->server)) kicks.push_back(std::move(*k));
    } else if (e.live) {
      // Our put is on its way: whichever etcd ordered last wins, decided when it is answered.
      if (kv.mod_revision > e.foreign_rev) {
        e.foreign_rev = kv.mod_revision;
        e.foreign_server = rec->server;
      }
    } else if (!e.written.empty()) {
      e.written.clear();   // overwritten: nothing of ours left to delete
      e.written_session = 0;
      settle(cn);
    }
  }
  if (revision > seen_rev_) seen_rev_ = revision;
  return kicks;
}

void SessionBook::forget_missing(const RangeResponse& r, int64_t revision) {
  std::set<std::string> present;
  for (const auto& kv : r.kvs)
    if (kv.key.size() > prefix_.size() && kv.key.compare(0, prefix_.size(), prefix_) == 0)
      present.insert(kv.key.substr(prefix_.size()));
  std::vector<std::string> gone;
  for (auto& [cn, e] : entries_) {
    // Only a record the answer must show: one written at or before its revision.
    if (e.written.empty() || e.written_rev > revision || present.count(cn)) continue;
    e.written.clear();
    e.written_session = 0;
    e.written_rev = e.written_lease = 0;
    if (e.live) {
      e.fresh = false;   // put again with create_revision == 0: a newer record elsewhere wins
      dirty_.insert(cn);
      ++records_lost_;
    } else {
      gone.push_back(cn);
    }
  }
  for (const auto& cn : gone) settle(cn);
}

std::optional<Kick> SessionBook::kick_if_newer(const std::string& cn, Entry& e, int64_t, const std::string& server) {
  // Our record is overwritten: nothing to delete later, and the session no longer ours to write.
  Kick k{cn, e.live, server};
  e.live = 0;
  e.fresh = false;
  e.written.clear();
  e.written_session = 0;
  e.attempted.clear();
  return k;
}

void SessionBook::settle(const std::string& cn) {
  auto it = entries_.find(cn);
  if (it != entries_.end() && !it->second.live && it->second.written.empty() && it->second.attempted.empty() &&
      !dirty_.count(cn))
    entries_.erase(it);
}

size_t SessionBook::live() const {
  size_t n = 0;
  for (const auto& [cn, e] : entries_) n += e.live != 0;
  return n;
}

}  // namespace ptun::cluster
