// Fuzzes the server's DNS proxy core (server/dns_proxy_core.hpp) with what clients and upstreams
// may send: a byte program of queries (from pool and non-pool sources, over UDP or TCP), answers
// (echoes of what went upstream, possibly altered, or raw bytes), time steps, refusals and TCP
// streams through TcpFramer. Invariants: the bounds hold; an accepted answer carries the id the
// client used; nothing is pending once every deadline has passed after the last attempt.
#include <cstdlib>
#include <map>
#include <vector>

#include "netcfg/dns_message.hpp"
#include "server/dns_proxy_core.hpp"

using namespace ptun;
using namespace ptun::server;

#define CHECK_OR_ABORT(c) \
  do {                    \
    if (!(c)) abort();    \
  } while (0)

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  std::vector<uint8_t> bytes(size_t len) {
    len = std::min(len, n);
    std::vector<uint8_t> v(p, p + len);
    p += len;
    n -= len;
    return v;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DnsProxyLimits l;
  l.max_pending = 8;
  l.max_pending_per_client = 3;
  l.max_tcp_clients = 4;
  l.max_tcp_per_client = 2;
  l.attempt_timeout_ms = 100;
  uint32_t seed = 1;
  const IpAddr up1 = *IpAddr::parse("192.0.2.53"), up2 = *IpAddr::parse("2001:db8::53");
  DnsProxyCore core({*Cidr::parse("10.99.0.0/24"), *Cidr::parse("fd99::/64")}, {up1, up2}, l,
                    [&seed] { return seed = seed * 1103515245u + 12345u; });
  const Endpoint clients[] = {*Endpoint::parse("10.99.0.7:1000"), *Endpoint::parse("10.99.0.8:1000"),
                              *Endpoint::parse("[fd99::9]:53"), *Endpoint::parse("198.18.0.1:53")};
  struct Sent {
    uint16_t client_id;
    Endpoint upstream;
    std::vector<uint8_t> wire;
  };
  std::map<uint32_t, Sent> sent;
  TcpFramer framer(512);
  std::vector<DnsProxyCore::Retry> retries;
  std::vector<uint32_t> gone;
  uint64_t now = 0;
  Reader r{data, size};
  while (r.n) {
    uint8_t op = r.byte();
    switch (op % 6) {
      case 0: {  // a query
        const Endpoint& from = clients[r.byte() % 4];
        uint64_t conn = r.byte() % 3;
        auto msg = r.bytes(r.byte());
        uint16_t id = netcfg::dns_id(msg);
        auto s = core.on_query(msg, from, conn, now);
        if (s) {
          CHECK_OR_ABORT(from.addr != clients[3].addr);
          CHECK_OR_ABORT(s->upstream.addr == up1 || s->upstream.addr == up2);
          sent[s->key] = Sent{id, s->upstream, msg};
        }
        break;
      }
      case 1: {  // the answer to something sent, possibly altered
        if (sent.empty()) break;
        auto it = sent.begin();
        std::advance(it, r.byte() % sent.size());
        auto msg = it->second.wire;
        if (msg.size() > 2) msg[2] |= 0x80;
        uint8_t alter = r.byte();
        if (alter & 1 && !msg.empty()) msg[r.byte() % msg.size()] ^= r.byte();
        auto extra = r.bytes(alter >> 4);
        msg.insert(msg.end(), extra.begin(), extra.end());
        Endpoint from = alter & 2 ? clients[0] : it->second.upstream;
        auto reply = core.on_reply(msg, it->first, from, now);
        if (reply) {
          CHECK_OR_ABORT(netcfg::dns_id(msg) == it->second.client_id);
          sent.erase(it);
        }
        break;
      }
      case 2: {  // raw bytes as an answer to any key
        uint32_t key = r.byte();
        auto msg = r.bytes(r.byte());
        if (core.on_reply(msg, key, Endpoint{up1, 53}, now)) sent.erase(key);
        break;
      }
      case 3: {  // time passes
        now += r.byte() * 4;
        retries.clear();
        gone.clear();
        core.expire(now, &retries, &gone);
        for (uint32_t k : gone) sent.erase(k);
        for (const auto& rt : retries) {
          auto it = sent.find(rt.key);
          CHECK_OR_ABORT(it != sent.end());
          it->second.upstream = rt.upstream;
          it->second.wire.assign(rt.msg.begin(), rt.msg.end());
        }
        CHECK_OR_ABORT(core.next_deadline() > now);
        break;
      }
      case 4: {  // refusals, cancels, TCP clients coming and going
        uint8_t what = r.byte();
        if (what & 1 && !sent.empty()) core.refused(sent.begin()->first, now);
        if (what & 2) {
          std::vector<uint32_t> keys;
          core.cancel_conn(what >> 6, &keys);
          for (uint32_t k : keys) sent.erase(k);
        }
        if (what & 4) core.tcp_admit(clients[(what >> 3) % 4].addr);
        if (what & 8) core.tcp_release(clients[(what >> 4) % 4].addr);
        break;
      }
      case 5: {  // a TCP stream
        auto chunk = r.bytes(r.byte());
        if (!framer.feed(chunk)) framer = TcpFramer(512);
        while (auto m = framer.next()) CHECK_OR_ABORT(!m->empty() && m->size() <= 512);
        break;
      }
    }
    CHECK_OR_ABORT(core.pending() <= l.max_pending);
    CHECK_OR_ABORT(core.pending() == sent.size());
  }
  // Every attempt ends: after max_attempts deadlines nothing is pending.
  for (uint32_t i = 0; i <= l.max_attempts; ++i) {
    now += l.attempt_timeout_ms;
    retries.clear();
    core.expire(now, &retries, &gone);
  }
  CHECK_OR_ABORT(core.pending() == 0);
  return 0;
}
