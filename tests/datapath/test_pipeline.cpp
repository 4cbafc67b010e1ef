// The shared pipeline with an in-memory device and real loopback UDP sockets: where packets go,
// when buffers are adopted instead of copied, and what is counted.
// NOTE: never co_await inside a Catch2 assertion macro (g++ 12 evaluates it twice).
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "datapath/pipeline.hpp"
#include "tun/fake_device.hpp"
#include "tun/test_packets.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {

const IpAddr kA = *IpAddr::parse("10.9.0.2");
const IpAddr kB = *IpAddr::parse("10.9.0.1");

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

std::vector<uint8_t> ip_packet(size_t payload_len, uint8_t fill) {
  std::vector<uint8_t> body(payload_len, fill);
  return test::udp4(kA, 1000, kB, 2000, body);
}

// A policy that records what it is given and lets each test decide what to do with it.
struct TestPolicy : datapath::Policy {
  std::function<void(std::span<uint8_t>, const packet::Parsed&)> device;
  std::function<void(std::span<uint8_t>)> datagram;
  int batches = 0;
  bool gone = false;
  void on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t) override {
    if (device) device(pkt, p);
  }
  void on_datagram(size_t, const Endpoint&, std::span<uint8_t> payload, uint64_t) override {
    if (datagram) datagram(payload);
  }
  void after_batch(uint64_t) override { ++batches; }
  void on_device_gone(const Error&) override { gone = true; }
};

std::unique_ptr<UdpSocket> bind(Loop& loop) {
  auto s = UdpSocket::bind(loop, ep("127.0.0.1:0"));
  REQUIRE(s.ok());
  return std::move(*s);
}

// Receives datagrams on `sock` until `n` arrived or 2 s passed.
Task<std::vector<std::vector<uint8_t>>> receive(UdpSocket& sock, size_t n, CancelToken stop) {
  BufferPool pool(limits::kBatch);
  std::vector<Datagram> in(limits::kBatch);
  for (auto& d : in) d.buf = pool.get();
  std::vector<std::vector<uint8_t>> got;
  while (got.size() < n) {
    auto r = co_await sock.recv_batch(in, stop);
    if (!r) break;
    for (size_t i = 0; i < *r; ++i) got.emplace_back(in[i].buf->data(), in[i].buf->data() + in[i].buf->len);
  }
  co_return got;
}

// Cancels `src` after `ms` (a hang then fails an assertion instead of blocking), or ends early
// when `src` is cancelled by the test.
Task<void> stop_after(Loop& loop, uint64_t ms, CancelSource& src) {
  Timer t(loop);
  auto r = co_await t.wait_for(ms, src.token());
  if (r) src.cancel();
}

}  // namespace

TEST_CASE("pipeline: device packets sealed in place leave without a copy", "[datapath]") {
  Loop loop;
  TestPolicy pol;
  datapath::Pipeline dp(loop, pol, 256);
  tun::FakeDevice dev;
  auto tx = bind(loop), rx = bind(loop);
  dp.set_device(&dev);
  dp.set_socket(0, tx.get());
  Endpoint to = rx->local_endpoint();
  // The "session" writes an 8-byte header in front of the packet and a 4-byte trailer behind
  // it, in the room the pipeline reports, then sends the whole span.
  pol.device = [&](std::span<uint8_t> pkt, const packet::Parsed& p) {
    CHECK(p.total_len == pkt.size());
    auto room = dp.room_around(pkt);
    REQUIRE(room.head >= 8);
    REQUIRE(room.tail >= 4);
    uint8_t* start = pkt.data() - 8;
    std::memset(start, 0xAB, 8);
    std::memset(pkt.data() + pkt.size(), 0xCD, 4);
    dp.send_to(0, to, {start, pkt.size() + 12});
  };
  const size_t n = 150;   // more than two batches
  for (size_t i = 0; i < n; ++i) REQUIRE(dev.push_inbound(ip_packet(100 + i, uint8_t(i))));
  CancelSource stop;
  auto main = [&]() -> Task<std::vector<std::vector<uint8_t>>> {
    TaskScope scope(loop);
    scope.spawn(dp.run_device(stop.token()));
    scope.spawn(stop_after(loop, 3000, stop));
    auto got = co_await receive(*rx, n, stop.token());
    stop.cancel();
    co_await scope.join();
    co_return got;
  };
  auto got = run_until_complete(loop, main());
  REQUIRE(got.size() == n);
  for (size_t i = 0; i < n; ++i) {   // loopback keeps the order of one socket's datagrams
    auto want = ip_packet(100 + i, uint8_t(i));
    REQUIRE(got[i].size() == want.size() + 12);
    CHECK(got[i][0] == 0xAB);
    CHECK(got[i].back() == 0xCD);
    CHECK(std::equal(want.begin(), want.end(), got[i].begin() + 8));
  }
  CHECK(dp.counters().dev_rx_packets == n);
  CHECK(dp.counters().adopted_to_net == n);
  CHECK(dp.counters().copied_to_net == 0);
  CHECK(dp.counters().net_tx_datagrams == n);
  CHECK(dp.pool().available() == dp.pool().capacity());   // every buffer came back
}

TEST_CASE("pipeline: a packet opened in place inside a datagram reaches the device without a copy", "[datapath]") {
  Loop loop;
  TestPolicy pol;
  datapath::Pipeline dp(loop, pol, 256);
  tun::FakeDevice dev;
  auto rx = bind(loop), peer = bind(loop);
  dp.set_device(&dev);
  dp.set_socket(0, rx.get());
  // Each datagram: an 8-byte "header", then two IP packets back to back. The first goes to the
  // device in place; the second can then only be copied (the buffer has moved on).
  pol.datagram = [&](std::span<uint8_t> d) {
    REQUIRE(d.size() > 8);
    auto rest = d.subspan(8);
    for (int k = 0; k < 2; ++k) {
      packet::Parsed p;
      REQUIRE(packet::parse(rest, &p) == packet::ParseStatus::ok);
      dp.to_device(rest.first(p.total_len), &p);
      rest = rest.subspan(p.total_len);
    }
  };
  const size_t n = 40;   // 80 packets: the device queue (64) flushes in the middle of a datagram
  BufferPool spool(n);
  std::vector<Datagram> out;
  for (size_t i = 0; i < n; ++i) {
    PacketBuf* b = spool.get();
    auto a = ip_packet(200, uint8_t(2 * i)), c = ip_packet(300, uint8_t(2 * i + 1));
    std::memset(b->data(), 0x11, 8);
    std::memcpy(b->data() + 8, a.data(), a.size());
    std::memcpy(b->data() + 8 + a.size(), c.data(), c.size());
    b->len = uint32_t(8 + a.size() + c.size());
    out.push_back({b, rx->local_endpoint()});
  }
  CancelSource stop;
  auto main = [&]() -> Task<void> {
    TaskScope scope(loop);
    scope.spawn(dp.run_socket(0, stop.token()));
    auto s = peer->send_batch(out);
    REQUIRE(s.ok());
    REQUIRE(*s == n);
    Timer t(loop);
    for (int i = 0; i < 200 && dev.written().size() < 2 * n; ++i) co_await t.wait_for(10);
    stop.cancel();
    co_await scope.join();
  };
  run_until_complete(loop, main());
  REQUIRE(dev.written().size() == 2 * n);
  for (size_t i = 0; i < n; ++i) {
    CHECK(dev.written()[2 * i] == ip_packet(200, uint8_t(2 * i)));
    CHECK(dev.written()[2 * i + 1] == ip_packet(300, uint8_t(2 * i + 1)));
  }
  CHECK(dp.counters().adopted_to_dev == n);
  CHECK(dp.counters().copied_to_dev == n);
  CHECK(dp.counters().dev_tx_packets == 2 * n);
  CHECK(dp.pool().available() == dp.pool().capacity());
}

TEST_CASE("pipeline: malformed and too-big device packets are dropped and counted", "[datapath]") {
  Loop loop;
  TestPolicy pol;
  datapath::Pipeline dp(loop, pol, 128);
  tun::FakeDevice dev;
  dp.set_device(&dev);
  dp.set_mtu(1280, kB, std::nullopt);
  int passed = 0;
  pol.device = [&](std::span<uint8_t> pkt, const packet::Parsed& p) {
    if (dp.prepare_outbound(pkt, p)) ++passed;
  };
  std::vector<uint8_t> junk(40, 0x45);   // claims IPv4, lengths lie
  REQUIRE(dev.push_inbound(junk));
  REQUIRE(dev.push_inbound(ip_packet(1400, 1)));   // 1428 bytes > 1280
  REQUIRE(dev.push_inbound(ip_packet(100, 2)));
  CancelSource stop;
  auto main = [&]() -> Task<void> {
    TaskScope scope(loop);
    scope.spawn(dp.run_device(stop.token()));
    Timer t(loop);
    for (int i = 0; i < 100 && dp.counters().dev_rx_packets < 3; ++i) co_await t.wait_for(5);
    stop.cancel();
    co_await scope.join();
  };
  run_until_complete(loop, main());
  CHECK(dp.counters().dev_rx_packets == 3);
  CHECK(dp.counters().drop_malformed == 1);
  CHECK(dp.counters().drop_too_big == 1);
  CHECK(passed == 1);
  // The ICMP "fragmentation needed" went back into the device, from the tunnel address, to A.
  REQUIRE(dev.written().size() == 1);
  packet::Parsed icmp;
  REQUIRE(packet::parse(dev.written()[0], &icmp) == packet::ParseStatus::ok);
  CHECK(icmp.l4_proto == 1);
  CHECK(icmp.src == kB);
  CHECK(icmp.dst == kA);
}

TEST_CASE("pipeline: a device that goes away ends its loop and tells the policy", "[datapath]") {
  Loop loop;
  TestPolicy pol;
  datapath::Pipeline dp(loop, pol, 128);
  tun::FakeDevice dev;
  dp.set_device(&dev);
  dev.set_closed(true);
  CancelSource stop;
  auto main = [&]() -> Task<void> {
    TaskScope scope(loop);
    scope.spawn(stop_after(loop, 2000, stop));   // a hang fails below instead of blocking
    co_await dp.run_device(stop.token());
    stop.cancel();
    co_await scope.join();
  };
  run_until_complete(loop, main());
  CHECK(pol.gone);
  CHECK(dp.pool().available() == dp.pool().capacity());
}

TEST_CASE("pipeline: send_to an unknown socket and to_device without a device are counted", "[datapath]") {
  Loop loop;
  TestPolicy pol;
  datapath::Pipeline dp(loop, pol, 16);
  uint8_t bytes[60] = {};
  dp.send_to(3, ep("127.0.0.1:9"), bytes);
  dp.to_device(bytes, nullptr);
  dp.flush();
  CHECK(dp.counters().drop_udp_send == 1);
  CHECK(dp.counters().drop_dev_write == 1);
  CHECK(dp.pool().available() == 16);
}

TEST_CASE("pipeline: drop causes and status names are the same for both roles", "[datapath]") {
  datapath::Counters c;
  c.drop_malformed = 1;
  c.drop_pool_empty = 5;
  auto d = datapath::drop_causes(c);
  REQUIRE(d.size() == 5);
  CHECK(std::string(d[0].first) == "malformed");
  CHECK(d[0].second == 1);
  CHECK(std::string(d[4].first) == "pool_empty");
  CHECK(d[4].second == 5);
  auto j = datapath::to_json(c);
  CHECK(j["drop_pool_empty"] == 5);
  CHECK(j.contains("tun_tx_in_place"));
}
