// Micro-benchmark of per-packet classification with 100,000 live flows (hidden: run with
// `test_flow [.bench]`). Packets hit random flows so the table does not sit in cache: this is
// the cost a busy router pays, not a best case.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "flow/flow_table.hpp"
#include "packet/packet_builder.hpp"

using namespace ptun;
using namespace ptun::flow;
using namespace ptun::packet::test;

TEST_CASE("bench: classify with 100,000 flows", "[.bench][flow]") {
  constexpr uint32_t kFlows = 100'000;
  FlowTable t(131'072);
  std::vector<Bytes> pkts;
  pkts.reserve(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) {
    V4 o;
    o.src = IpAddr::v4(0x0a000000u + (i >> 12));
    o.dst = IpAddr::v4(0xc6130000u + (i & 0xff));
    pkts.push_back(i % 2 ? ipv4(o, udp(uint16_t(10000 + (i & 0xfff)), 53, 64))
                         : ipv4(o, tcp(uint16_t(10000 + (i & 0xfff)), 443, 0x10, {}, 64)));
  }
  std::vector<packet::Parsed> parsed(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) REQUIRE(packet::parse(pkts[i], &parsed[i]) == packet::ParseStatus::ok);
  for (uint32_t i = 0; i < kFlows; ++i) t.classify(parsed[i], Dir::out, 100, 0);
  REQUIRE(t.size() == kFlows);

  std::mt19937 rng(1);
  std::vector<uint32_t> order(4'000'000);
  for (auto& o : order) o = rng() % kFlows;
  uint64_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < order.size(); ++i) sink += t.classify(parsed[order[i]], Dir::out, 100, 1 + i / 1000).id;
  auto t1 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < order.size(); ++i) {
    packet::Parsed p;
    (void)packet::parse(pkts[order[i]], &p);
    sink += t.classify(p, Dir::in, 100, 5000 + i / 1000).id;
  }
  auto t2 = std::chrono::steady_clock::now();
  // A bulk transfer: runs of 64 packets of one flow (the table still holds 100,000 flows).
  for (size_t i = 0; i < order.size(); ++i) sink += t.classify(parsed[order[i / 64]], Dir::out, 1400, 9000 + i / 1000).id;
  auto t3 = std::chrono::steady_clock::now();
  double ns_run = std::chrono::duration<double, std::nano>(t3 - t2).count() / double(order.size());
  std::printf("flow table, %u flows, runs of 64 packets per flow: classify %.1f ns/packet\n", t.size(), ns_run);
  double ns_cls = std::chrono::duration<double, std::nano>(t1 - t0).count() / double(order.size());
  double ns_all = std::chrono::duration<double, std::nano>(t2 - t1).count() / double(order.size());
  std::printf("flow table, %u flows, random access: classify %.1f ns/packet; parse + classify %.1f ns/packet "
              "(sink %llu)\n", t.size(), ns_cls, ns_all, (unsigned long long)sink);
  CHECK(t.size() == kFlows);
  CHECK(t.stats().evicted == 0);
}
