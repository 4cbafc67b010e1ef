#include "flow/flow_table.hpp"

#include <algorithm>
#include <cstring>

namespace ptun::flow {
namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
enum Cls : uint8_t { tcp_opening, tcp_established, tcp_closing, tcp_closed, udp, icmp, other };

bool is_icmp(uint8_t proto) { return proto == packet::kProtoIcmp || proto == packet::kProtoIcmp6; }
bool is_echo(const packet::Parsed& p) {
  if (p.l4_proto == packet::kProtoIcmp) return p.icmp_type == 8 || p.icmp_type == 0;
  return p.icmp_type == 128 || p.icmp_type == 129;
}

// Orients k so that (src, sport) <= (dst, dport); returns true if k already was.
bool canonical(const packet::FlowKey& k, packet::FlowKey* out) {
  int c = std::memcmp(k.src.bytes.data(), k.dst.bytes.data(), 16);
  if (c < 0 || (c == 0 && k.sport <= k.dport)) {
    *out = k;
    return true;
  }
  *out = packet::reversed(k);
  return false;
}

uint8_t class_of(TcpState s, uint8_t proto) {
  switch (s) {
    case TcpState::syn_sent:
    case TcpState::syn_received: return tcp_opening;
    case TcpState::established: return tcp_established;
    case TcpState::closing: return tcp_closing;
    case TcpState::closed:
    case TcpState::reset: return tcp_closed;
    case TcpState::none: break;
  }
  return proto == packet::kProtoUdp ? udp : is_icmp(proto) ? icmp : other;
}

}  // namespace

const char* to_string(TcpState s) {
  switch (s) {
    case TcpState::none: return "-";
    case TcpState::syn_sent: return "syn_sent";
    case TcpState::syn_received: return "syn_received";
    case TcpState::established: return "established";
    case TcpState::closing: return "closing";
    case TcpState::closed: return "closed";
    case TcpState::reset: return "reset";
  }
  return "?";
}

FlowTable::FlowTable(uint32_t capacity, Timeouts t) : capacity_(std::max<uint32_t>(capacity, 1)), t_(t) {
  // Reserved, not constructed: entries are built on first use, so an idle client does not keep
  // max_flows entries (1 MiB at the default) resident. reserve() also keeps references stable.
  flows_.reserve(capacity_);
  uint64_t slots = 2;
  while (slots < 2ull * capacity_) slots <<= 1;   // load factor <= 0.5: short probes
  index_.assign(slots, kNoFlow);
  mask_ = slots - 1;
  std::fill(std::begin(head_), std::end(head_), kNoFlow);
  std::fill(std::begin(tail_), std::end(tail_), kNoFlow);
}

uint32_t FlowTable::timeout_of(uint8_t cls) const {
  switch (cls) {
    case tcp_opening: return t_.tcp_opening_ms;
    case tcp_established: return t_.tcp_established_ms;
    case tcp_closing: return t_.tcp_closing_ms;
    case tcp_closed: return t_.tcp_closed_ms;
    case udp: return t_.udp_ms;
    case icmp: return t_.icmp_ms;
    default: return t_.other_ms;
  }
}

FlowTable::Hit FlowTable::classify(const packet::Parsed& p, Dir d, uint32_t len, uint64_t now_ms) {
  Hit hit;
  // ICMP errors quote another flow's packet; they are not flows of their own.
  if (is_icmp(p.l4_proto) && p.has_l4 && !is_echo(p)) {
    ++stats_.untracked;
    return hit;
  }
  packet::FlowKey canon;
  bool fwd = canonical(packet::flow_key(p), &canon);
  uint64_t h = packet::FlowKeyHash{}(canon);
  bool tcp = p.l4_proto == packet::kProtoTcp && p.has_l4;
  uint32_t id = lookup(canon, h);
  if (id != kNoFlow) {
    const Flow& f = flows_[id];
    bool stale = now_ms >= deadline(f);
    // A new SYN on a finished connection's 5-tuple is a new connection (port reuse).
    bool reuse = tcp && (p.tcp_flags & (kSyn | kAck)) == kSyn &&
                 (f.tcp == TcpState::closed || f.tcp == TcpState::reset);
    if (stale || reuse) {
      remove(id);
      if (stale) ++stats_.expired;
      id = kNoFlow;
    }
  }
  if (id == kNoFlow) {
    id = allocate();
    Flow& f = flows_[id];
    f = Flow{};
    f.ckey = canon;
    f.key_canonical = fwd;
    f.origin = d;
    f.hash = h;
    f.first_ms = f.queued_ms = now_ms;
    f.used = true;
    if (tcp) {
      uint8_t fl = p.tcp_flags;
      f.tcp = (fl & kRst) ? TcpState::reset
              : (fl & (kSyn | kAck)) == kSyn ? TcpState::syn_sent
                                               : TcpState::established;   // picked up mid-stream
    }
    index_insert(id);
    lru_push_front(id, class_of(f.tcp, canon.proto));
    ++size_;
    ++stats_.created;
    hit.is_new = true;
  } else {
    Flow& f = flows_[id];
    hit.from_opener = fwd == f.key_canonical;
    if (tcp) update_tcp(f, p.tcp_flags, hit.from_opener);
    uint8_t cls = class_of(f.tcp, canon.proto);
    if (cls != f.cls || now_ms - f.queued_ms >= t_.refresh_ms) {
      f.queued_ms = now_ms;
      if (head_[f.cls] != id || cls != f.cls) {
        lru_unlink(id);
        lru_push_front(id, cls);
      }
    }
  }
  Flow& f = flows_[id];
  auto di = static_cast<unsigned>(d);
  f.bytes[di] += len;
  ++f.packets[di];
  f.last_ms = now_ms;
  hit.id = id;
  return hit;
}

void FlowTable::update_tcp(Flow& f, uint8_t fl, bool from_opener) {
  if (f.tcp == TcpState::reset) return;
  if (fl & kRst) {
    f.tcp = TcpState::reset;
    return;
  }
  if (f.tcp == TcpState::syn_sent && !from_opener && (fl & (kSyn | kAck)) == (kSyn | kAck))
    f.tcp = TcpState::syn_received;
  else if (f.tcp == TcpState::syn_received && from_opener && (fl & (kSyn | kAck)) == kAck)
    f.tcp = TcpState::established;
  if (fl & kFin) {
    f.fin_seen |= from_opener ? 1 : 2;
    f.tcp = f.fin_seen == 3 ? TcpState::closed : TcpState::closing;
  }
}

uint32_t FlowTable::find(const packet::FlowKey& k) const {
  packet::FlowKey canon;
  canonical(k, &canon);
  return lookup(canon, packet::FlowKeyHash{}(canon));
}

uint32_t FlowTable::lookup(const packet::FlowKey& canon, uint64_t hash) const {
  for (uint64_t s = hash & mask_;; s = (s + 1) & mask_) {
    uint32_t id = index_[s];
    if (id == kNoFlow) return kNoFlow;
    if (flows_[id].hash == hash && flows_[id].ckey == canon) return id;
  }
}

uint32_t FlowTable::allocate() {
  if (free_ == kNoFlow && flows_.size() < capacity_) {
    flows_.emplace_back();
    return uint32_t(flows_.size() - 1);
  }
  if (free_ == kNoFlow) {
    // Full: evict the flow whose deadline comes first among the classes' least recent flows.
    uint32_t victim = kNoFlow;
    uint64_t best = UINT64_MAX;
    for (uint32_t c = 0; c < kClasses; ++c) {
      if (tail_[c] == kNoFlow) continue;
      uint64_t dl = sweep_at(flows_[tail_[c]]);
      if (dl < best) best = dl, victim = tail_[c];
    }
    remove(victim);
    ++stats_.evicted;
  }
  uint32_t id = free_;
  free_ = flows_[id].next;
  return id;
}

void FlowTable::remove(uint32_t id) {
  index_erase(id);
  lru_unlink(id);
  flows_[id].used = false;
  flows_[id].next = free_;
  free_ = id;
  --size_;
}

void FlowTable::index_insert(uint32_t id) {
  uint64_t s = flows_[id].hash & mask_;
  while (index_[s] != kNoFlow) s = (s + 1) & mask_;
  index_[s] = id;
}

void FlowTable::index_erase(uint32_t id) {
  uint64_t i = flows_[id].hash & mask_;
  while (index_[i] != id) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later entries of the probe run into the hole so lookups never
  // need tombstones.
  for (;;) {
    index_[i] = kNoFlow;
    uint64_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (index_[j] == kNoFlow) return;
      uint64_t home = flows_[index_[j]].hash & mask_;
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) break;
    }
    index_[i] = index_[j];
    i = j;
  }
}

void FlowTable::lru_unlink(uint32_t id) {
  Flow& f = flows_[id];
  if (f.prev != kNoFlow) flows_[f.prev].next = f.next; else head_[f.cls] = f.next;
  if (f.next != kNoFlow) flows_[f.next].prev = f.prev; else tail_[f.cls] = f.prev;
  f.prev = f.next = kNoFlow;
}

void FlowTable::lru_push_front(uint32_t id, uint8_t cls) {
  Flow& f = flows_[id];
  f.cls = cls;
  f.prev = kNoFlow;
  f.next = head_[cls];
  if (head_[cls] != kNoFlow) flows_[head_[cls]].prev = id; else tail_[cls] = id;
  head_[cls] = id;
}

size_t FlowTable::expire(uint64_t now_ms) {
  size_t n = 0;
  for (uint32_t c = 0; c < kClasses; ++c) {
    // Lists are ordered by queued_ms, and last_ms < queued_ms + refresh_ms: every flow popped
    // here is past its exact deadline, and the first one not popped means none behind it is.
    while (tail_[c] != kNoFlow && now_ms >= sweep_at(flows_[tail_[c]])) {
      remove(tail_[c]);
      ++n;
    }
  }
  stats_.expired += n;
  return n;
}

uint64_t FlowTable::next_deadline() const {
  uint64_t d = UINT64_MAX;
  for (uint32_t c = 0; c < kClasses; ++c)
    if (tail_[c] != kNoFlow) d = std::min(d, sweep_at(flows_[tail_[c]]));
  return d;
}

}  // namespace ptun::flow
