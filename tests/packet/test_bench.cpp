// Micro-benchmark of the data path's per-packet parse (hidden: run with
// `test_packet [.bench]`). Prints ns/packet for a mix of IPv4/IPv6 TCP/UDP/ICMP packets.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

#include "packet/flow_key.hpp"
#include "packet/parse.hpp"
#include "samples.hpp"

using namespace ptun::packet;
using namespace ptun::packet::test;

TEST_CASE("bench: parse 10 million packets", "[.bench][packet]") {
  std::vector<Bytes> pkts;
  for (const auto& s : valid_samples()) pkts.push_back(s.bytes);
  constexpr size_t kN = 10'000'000;
  uint64_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kN; ++i) {
    const Bytes& b = pkts[i % pkts.size()];
    Parsed p;
    if (parse(b, &p) == ParseStatus::ok) sink += p.sport + p.l3_header_len;
  }
  auto t1 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kN; ++i) {
    const Bytes& b = pkts[i % pkts.size()];
    Parsed p;
    if (parse(b, &p) == ParseStatus::ok) sink += FlowKeyHash{}(flow_key(p));
  }
  auto t2 = std::chrono::steady_clock::now();
  double ns_parse = std::chrono::duration<double, std::nano>(t1 - t0).count() / kN;
  double ns_key = std::chrono::duration<double, std::nano>(t2 - t1).count() / kN;
  std::printf("parse: %.1f ns/packet; parse + flow_key + hash: %.1f ns/packet (%zu kinds, sink %llu)\n",
              ns_parse, ns_key, pkts.size(), (unsigned long long)sink);
  CHECK(sink != 0);
}
