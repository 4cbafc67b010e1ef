// A table of valid packets of every kind the parser knows, with what parse() must report.
// Shared by the parse, truncation and fuzz-corpus tests.
#pragma once
#include <string>
#include <vector>

#include "packet_builder.hpp"

namespace ptun::packet::test {

struct Sample {
  std::string name;
  Bytes bytes;
  uint8_t proto;
  uint16_t l3_len;
  uint16_t sport, dport;
  bool has_l4;
  bool is_fragment = false, first_fragment = false;
  // Bytes a consistent truncation must keep for the packet to stay ok (end of the L4 header, or
  // of the IP headers when there is no L4 header); UDP also needs its full datagram.
  size_t headers_end() const {
    if (!has_l4) return l3_len;
    if (proto == 6) return l3_len + size_t(bytes[l3_len + 12] >> 4) * 4;
    if (proto == 17 && !is_fragment) return bytes.size();
    return l3_len + 8;
  }
};

inline std::vector<Sample> valid_samples() {
  const Bytes syn_opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0};
  std::vector<Sample> s;
  s.push_back({"v4 tcp syn", ipv4({}, tcp(40000, 443, 0x02, syn_opts)), 6, 20, 40000, 443, true});
  s.push_back({"v4 tcp data", ipv4({}, tcp(40000, 443, 0x18, {}, 100)), 6, 20, 40000, 443, true});
  s.push_back({"v4 udp", ipv4({}, udp(5353, 53, 33)), 17, 20, 5353, 53, true});
  s.push_back({"v4 udp empty", ipv4({}, udp(1, 2, 0)), 17, 20, 1, 2, true});
  s.push_back({"v4 icmp echo", ipv4({}, icmp(false, 8, 0, 0x4242, 1, 56)), 1, 20, 0x4242, 0x4242, true});
  s.push_back({"v4 icmp reply", ipv4({}, icmp(false, 0, 0, 0x4242, 1, 56)), 1, 20, 0x4242, 0x4242, true});
  s.push_back({"v4 icmp unreach", ipv4({}, icmp(false, 3, 3, 0, 0, 28)), 1, 20, 0, 0, true});
  V4 opt;
  opt.options = {0x94, 0x04, 0, 0, 1, 1, 1, 0};  // router alert, NOP padding
  s.push_back({"v4 options udp", ipv4(opt, udp(1000, 2000, 10)), 17, 28, 1000, 2000, true});
  s.push_back({"v4 gre", ipv4({}, raw(47, payload(24))), 47, 20, 0, 0, false});
  V4 f1;
  f1.mf = true;
  f1.df = false;
  L4 big = udp(7, 9, 1000);
  L4 first{17, Bytes(big.bytes.begin(), big.bytes.begin() + 200), SIZE_MAX};
  s.push_back({"v4 first fragment", ipv4(f1, first), 17, 20, 7, 9, true, true, true});
  V4 f2 = f1;
  f2.frag_units = 25;
  s.push_back({"v4 middle fragment", ipv4(f2, raw(17, payload(200))), 17, 20, 0, 0, false, true, false});
  f2.mf = false;
  s.push_back({"v4 last fragment", ipv4(f2, raw(6, payload(48))), 6, 20, 0, 0, false, true, false});

  s.push_back({"v6 tcp syn", ipv6({}, tcp(50000, 22, 0x02, syn_opts)), 6, 40, 50000, 22, true});
  s.push_back({"v6 udp", ipv6({}, udp(4500, 4500, 64)), 17, 40, 4500, 4500, true});
  s.push_back({"v6 echo", ipv6({}, icmp(true, 128, 0, 7, 9, 16)), 58, 40, 7, 7, true});
  s.push_back({"v6 echo reply", ipv6({}, icmp(true, 129, 0, 7, 9, 16)), 58, 40, 7, 7, true});
  s.push_back({"v6 ptb", ipv6({}, icmp(true, 2, 0, 0, 1280, 48)), 58, 40, 0, 0, true});
  V6 e;
  e.exts = {ext_opts(0), ext_opts(60, 2), ext_opts(43)};
  s.push_back({"v6 hbh+dst+rt tcp", ipv6(e, tcp(1, 2, 0x10, {}, 10)), 6, 40 + 8 + 16 + 8, 1, 2, true});
  e.exts = {ext_ah(6)};
  s.push_back({"v6 ah udp", ipv6(e, udp(3, 4, 5)), 17, 40 + 24, 3, 4, true});
  e.exts = {ext_frag(0, false)};
  s.push_back({"v6 atomic fragment", ipv6(e, udp(5, 6, 7)), 17, 48, 5, 6, true});
  e.exts = {ext_opts(0), ext_frag(0, true), ext_opts(60)};
  L4 big6 = tcp(8080, 8081, 0x10, {}, 1000);
  L4 first6{6, Bytes(big6.bytes.begin(), big6.bytes.begin() + 400), SIZE_MAX};
  s.push_back({"v6 first fragment", ipv6(e, first6), 6, 40 + 24, 8080, 8081, true, true, true});
  e.exts = {ext_frag(50, true)};
  s.push_back({"v6 middle fragment", ipv6(e, raw(60, payload(400))), 60, 48, 0, 0, false, true, false});
  e.exts = {ext_frag(100, false)};
  s.push_back({"v6 last fragment", ipv6(e, raw(17, payload(40))), 17, 48, 0, 0, false, true, false});
  e.exts = {ext_opts(60)};
  s.push_back({"v6 esp", ipv6(e, raw(50, payload(60))), 50, 48, 0, 0, false});
  s.push_back({"v6 no next header", ipv6({}, raw(59, {})), 59, 40, 0, 0, false});
  s.push_back({"v6 sctp", ipv6({}, raw(132, payload(32))), 132, 40, 0, 0, false});
  return s;
}

}  // namespace ptun::packet::test
