// Fuzzes the flow table with a stream of packets: each record is [flags][dt][len_hi][len_lo] +
// packet bytes (flags bit 0: direction, bit 1: run expire). A tiny table (8 flows) makes eviction,
// expiry, port reuse and backward-shift deletion happen constantly. After every packet the index
// must agree with the live flows and the size must stay within the capacity; a violated
// invariant aborts so libFuzzer reports it.
#include <cstdlib>
#include <cstring>

#include "flow/flow_table.hpp"
#include "packet/parse.hpp"

using namespace ptun;

#define CHECK_OR_ABORT(c) \
  do {                    \
    if (!(c)) abort();    \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flow::Timeouts t;
  t.tcp_opening_ms = 50, t.tcp_established_ms = 400, t.tcp_closing_ms = 30, t.tcp_closed_ms = 10;
  t.udp_ms = 60, t.icmp_ms = 20, t.other_ms = 40;
  flow::FlowTable table(8, t);
  uint64_t now = 0;
  size_t off = 0;
  while (off + 4 <= size) {
    uint8_t flags = data[off], dt = data[off + 1];
    size_t len = size_t(data[off + 2]) << 8 | data[off + 3];
    off += 4;
    len = std::min(len, size - off);
    std::span<const uint8_t> pkt(data + off, len);
    off += len;
    now += dt;
    if (flags & 2) table.expire(now);
    packet::Parsed p;
    if (packet::parse(pkt, &p) != packet::ParseStatus::ok) continue;
    auto hit = table.classify(p, (flags & 1) ? flow::Dir::in : flow::Dir::out, uint32_t(len), now);
    CHECK_OR_ABORT(table.size() <= table.capacity());
    if (hit.id != flow::kNoFlow) {
      CHECK_OR_ABORT(hit.id < table.capacity());
      CHECK_OR_ABORT(table.at(hit.id).used);
      CHECK_OR_ABORT(table.find(packet::flow_key(p)) == hit.id);
    }
    uint32_t live = 0;
    table.for_each([&](uint32_t id, const flow::Flow& f) {
      ++live;
      CHECK_OR_ABORT(f.used);
      CHECK_OR_ABORT(table.find(f.key()) == id);
      CHECK_OR_ABORT(table.find(packet::reversed(f.key())) == id);
    });
    CHECK_OR_ABORT(live == table.size());
  }
  return 0;
}
