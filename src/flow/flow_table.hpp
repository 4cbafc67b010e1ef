// The flow table: every packet of the data path is classified into a flow (TCP, UDP, ICMP echo,
// or "other" keyed by addresses and protocol), with per-direction counters, first/last seen and a
// TCP state. Sans-I/O: time is an input (`now_ms`), nothing here reads a clock or a socket.
//
// Memory is bounded and preallocated: `capacity` entries in one array plus an open-addressing
// index (linear probing, backward-shift deletion) of twice that many slots. classify() never
// allocates. Each timeout class (TCP opening / established / closing / closed, UDP, ICMP, other)
// keeps its own LRU list, so expiry pops list tails in O(expired) and the entry to evict when the
// table is full is found by looking at only the class tails: the one whose deadline comes first
// (a closed TCP flow or an idle UDP flow goes before an established one). A flow moves to the
// front of its list at most once per `refresh_ms` (not on every packet: relinking touches two
// other entries, i.e. cache misses in a large table), so lists are ordered by that refresh time
// and a flow is swept between its timeout and its timeout + refresh_ms after its last packet.
// A lookup that finds a flow past its exact timeout starts a new flow, so the verdicts are exact.
//
// Both directions of a flow share one entry: the index is keyed by a canonical orientation of the
// 5-tuple (lower (address, port) first), and each entry remembers which side opened the flow.
#pragma once
#include <cstdint>
#include <vector>

#include "packet/flow_key.hpp"
#include "packet/parse.hpp"

namespace ptun::flow {

// Direction of a packet relative to the tunnel: `out` was read from the TUN (going to the
// tunnel), `in` came out of the tunnel.
enum class Dir : uint8_t { out = 0, in = 1 };

enum class TcpState : uint8_t {
  none,          // not TCP
  syn_sent,      // opener's SYN seen
  syn_received,  // SYN+ACK seen from the responder
  established,   // handshake completed, or picked up mid-stream (first packet not a SYN)
  closing,       // one side sent FIN
  closed,        // both sides sent FIN
  reset,         // RST seen
};
const char* to_string(TcpState);

// Idle timeouts per class, in milliseconds.
struct Timeouts {
  uint32_t tcp_opening_ms = 60'000;
  uint32_t tcp_established_ms = 3'600'000;
  uint32_t tcp_closing_ms = 60'000;
  uint32_t tcp_closed_ms = 10'000;
  uint32_t udp_ms = 60'000;
  uint32_t icmp_ms = 30'000;
  uint32_t other_ms = 60'000;
  uint32_t refresh_ms = 1'000;   // LRU granularity (0: exact LRU, a relink per packet)
};

inline constexpr uint32_t kNoFlow = UINT32_MAX;

struct Flow {
  packet::FlowKey ckey;         // canonical orientation (the index's key)
  bool key_canonical = true;    // the opener sent ckey as is (else reversed(ckey))
  Dir origin = Dir::out;        // direction of the flow's first packet
  TcpState tcp = TcpState::none;
  uint8_t fin_seen = 0;         // bit 0: FIN from opener, bit 1: FIN from responder
  bool drop = false;            // verdict set by the caller (per-app VPN); counted in drops
  uint32_t owner = 0;           // caller's tag (app id); 0 = not attributed
  uint64_t first_ms = 0, last_ms = 0;
  uint64_t queued_ms = 0;       // when it last moved to the front of its LRU list
  uint64_t bytes[2] = {0, 0}, packets[2] = {0, 0};  // indexed by Dir
  uint64_t dropped = 0;         // packets dropped on this flow's verdict
  // intrusive bookkeeping (private to FlowTable)
  uint64_t hash = 0;
  uint32_t prev = kNoFlow, next = kNoFlow;
  uint8_t cls = 0;
  bool used = false;

  // The 5-tuple as sent by the side that opened the flow.
  packet::FlowKey key() const { return key_canonical ? ckey : packet::reversed(ckey); }
};

struct FlowStats {
  uint64_t created = 0, expired = 0, evicted = 0, untracked = 0;
};

class FlowTable {
 public:
  // capacity >= 1; all memory is reserved here (entries are touched only when first used).
  explicit FlowTable(uint32_t capacity, Timeouts t = {});

  struct Hit {
    uint32_t id = kNoFlow;  // kNoFlow: the packet is not tracked (ICMP errors, non-IP)
    bool is_new = false;    // first packet of this flow (or a TCP SYN reusing a closed flow)
    bool from_opener = true;
  };
  // Classifies one packet that parsed ok, updating counters and TCP state. `len` is the IP
  // packet's length. When the table is full the flow closest to its deadline is evicted.
  Hit classify(const packet::Parsed& p, Dir d, uint32_t len, uint64_t now_ms);

  const Flow& at(uint32_t id) const { return flows_[id]; }
  Flow& at(uint32_t id) { return flows_[id]; }
  // Finds the flow a key (either orientation) belongs to; kNoFlow if none.
  uint32_t find(const packet::FlowKey& k) const;

  // Removes flows idle past their class timeout; returns how many.
  size_t expire(uint64_t now_ms);
  // When expire() next has work (UINT64_MAX if empty): a flow's sweep time, which is at most
  // refresh_ms after its exact deadline.
  uint64_t next_deadline() const;
  // The exact end of a flow's idle timeout (its last packet + its class's timeout).
  uint64_t deadline(const Flow& f) const { return f.last_ms + timeout_of(f.cls); }

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  const FlowStats& stats() const { return stats_; }
  // Calls fn(id, flow) for every live flow, most recently active first within each class.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (uint32_t c = 0; c < kClasses; ++c)
      for (uint32_t i = head_[c]; i != kNoFlow; i = flows_[i].next) fn(i, flows_[i]);
  }

 private:
  static constexpr uint32_t kClasses = 7;
  uint32_t timeout_of(uint8_t cls) const;
  uint64_t sweep_at(const Flow& f) const { return f.queued_ms + timeout_of(f.cls) + t_.refresh_ms; }
  uint32_t lookup(const packet::FlowKey& canon, uint64_t hash) const;  // entry id or kNoFlow
  uint32_t allocate();  // a free entry, evicting one if the table is full
  void remove(uint32_t id);
  void index_insert(uint32_t id);
  void index_erase(uint32_t id);
  void lru_unlink(uint32_t id);
  void lru_push_front(uint32_t id, uint8_t cls);
  void update_tcp(Flow& f, uint8_t flags, bool from_opener);

  uint32_t capacity_;
  std::vector<Flow> flows_;      // grows up to capacity_ (reserved), then recycles via free_
  std::vector<uint32_t> index_;  // slot -> entry id, kNoFlow = empty
  uint64_t mask_ = 0;
  uint32_t free_ = kNoFlow;      // free list through Flow::next
  uint32_t size_ = 0;
  uint32_t head_[kClasses], tail_[kClasses];
  Timeouts t_;
  FlowStats stats_;
};

}  // namespace ptun::flow
