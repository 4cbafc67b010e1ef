// Feeds arbitrary packets to the lwIP stack in accept-any mode (the server's userspace
// forwarding terminates clients' TCP there): listeners on a few ports, accepted connections
// kept and read, everything lwIP answers drained. ptun's parser screens the input first, so
// this checks that whatever passes it cannot crash lwIP or make it read out of bounds.
#include <algorithm>
#include <cstdint>
#include <span>
#include <memory>
#include <vector>

#include "netstack/netstack.hpp"
#include "netstack/tcp_conn.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"

extern "C" {
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/priv/tcp_priv.h"
}

// lwIP's IPv6 reassembly links the fragments of a pending datagram through a packed helper
// written 4 bytes before each fragment header (IPV6_FRAG_COPYHEADER, needed on 64-bit), so the
// pointer to the next fragment sits at an offset that is 4 mod 8. LeakSanitizer only looks for
// aligned pointers by default and took every queued fragment after the first of its datagram
// for a leak (issue 19, finding 9: the "96-byte pbuf" after ~a million inputs; traced to a pbuf
// that had entered ip6_reass and was still queued). Unaligned pointers count as references here.
extern "C" const char* __lsan_default_options() { return "use_unaligned=1"; }

using namespace ptun;
using namespace ptun::netstack;

namespace {
struct World {
  core::Loop loop;
  std::unique_ptr<Netstack> stack;
  std::vector<std::unique_ptr<TcpConn>> conns;
  BufferPool pool{4};
  size_t runs = 0;
};

World& world() {
  static World* w = [] {
    auto* w = new World;
    NetstackOptions o;
    o.max_tcp = 64;
    w->stack = std::move(Netstack::create(w->loop, o).value());
    w->stack->enable_accept_any([w](std::unique_ptr<TcpConn>& c) {
      if (w->conns.size() >= 32) return false;
      w->conns.push_back(std::move(c));
      return true;
    });
    for (uint16_t port : {80, 443, 7}) (void)w->stack->listen_port(port);
    return w;
  }();
  return *w;
}

// Checksums made valid, so inputs get past lwIP's checks into its TCP state machine.
void feed(World& w, std::span<const uint8_t> pkt) {
  std::vector<uint8_t> p(pkt.begin(), pkt.end());
  packet::Parsed parsed;
  if (packet::parse(p, &parsed) == packet::ParseStatus::ok) {
    if (parsed.family == Family::v4) packet::fill_ipv4_header_checksum(p);
    if (!parsed.is_fragment) packet::fill_l4_checksum(parsed, p);
  }
  (void)w.stack->write(p);
}
}  // namespace

// An input is a sequence of [u16 big-endian length][packet] records (a handshake, data, FIN in
// one input; the stack's ISN is fixed in fuzz builds); a length past the end takes the rest, so
// a bare IP packet (0x45.. / 0x60..) is one record.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  std::span<const uint8_t> in(data, size);
  while (in.size() > 2) {
    size_t len = std::min<size_t>(size_t(in[0]) << 8 | in[1], in.size() - 2);
    if ((size_t(in[0]) << 8 | in[1]) > in.size() - 2) {   // not a record: the whole input is one packet
      feed(w, in);
      break;
    }
    feed(w, in.subspan(2, len));
    in = in.subspan(2 + len);
  }
  PacketBuf* b = w.pool.get();
  PacketBuf* bufs[1] = {b};
  while (true) {
    auto n = w.stack->read_batch(bufs);
    if (!n || *n == 0) break;
  }
  w.pool.put(b);
  // Bounded state: close what was accepted, and let lwIP's slow timer expire half-open pcbs
  // (it counts its own ticks; 40 ticks pass every SYN_RCVD/FIN_WAIT timeout), and the
  // reassembly timers drop datagrams still missing fragments (IPv4 after 15 ticks, IPv6 60).
  if (++w.runs % 2000 == 0) {
    for (auto& c : w.conns) c->abort();
    w.conns.clear();
    for (int i = 0; i < 150; ++i) tcp_slowtmr();
    for (int i = 0; i < 61; ++i) {
      ip_reass_tmr();
      ip6_reass_tmr();
    }
  }
  return 0;
}
