// Fuzzes the packet parser and everything that trusts its result: parse, peek, flow_key,
// clamp_mss (on a copy), make_too_big (parsed back), and the checksum against a naive sum.
// Invariants that fail abort, so libFuzzer reports them like a crash.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "packet/checksum.hpp"
#include "packet/flow_key.hpp"
#include "packet/icmp_too_big.hpp"
#include "packet/mss_clamp.hpp"
#include "packet/parse.hpp"

using namespace ptun;
using namespace ptun::packet;

#define CHECK_OR_ABORT(c) \
  do {                    \
    if (!(c)) abort();    \
  } while (0)

static uint16_t naive_checksum(const uint8_t* d, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; i += 2) {
    sum += uint32_t(d[i]) << 8 | (i + 1 < n ? d[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return uint16_t(~sum);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> pkt(data, size);
  CHECK_OR_ABORT(checksum(pkt) == naive_checksum(data, size));

  Parsed p;
  ParseStatus st = parse(pkt, &p);
  CHECK_OR_ABORT(to_string(st) != nullptr);
  IpAddr peeked;
  if (st != ParseStatus::ok) {
    // peek may still succeed (it reads only the fixed header); it must not read out of bounds.
    (void)peek_dst(pkt, &peeked);
    (void)peek_src(pkt, &peeked);
    return 0;
  }
  CHECK_OR_ABORT(p.total_len <= size && p.l3_header_len <= p.total_len);
  CHECK_OR_ABORT(!p.has_l4 || size_t(p.l3_header_len) + 8 <= p.total_len);
  CHECK_OR_ABORT(!(p.is_fragment && !p.first_fragment) || (!p.has_l4 && p.sport == 0));
  CHECK_OR_ABORT(peek_dst(pkt, &peeked) && peeked == p.dst);
  CHECK_OR_ABORT(peek_src(pkt, &peeked) && peeked == p.src);

  FlowKey k = flow_key(p);
  CHECK_OR_ABORT(reversed(reversed(k)) == k);
  CHECK_OR_ABORT(FlowKeyHash{}(reversed(reversed(k))) == FlowKeyHash{}(k));

  // Clamp on an exactly-sized copy: the rest of the packet and the checksum's validity must be
  // preserved.
  bool csum_ok = verify_l4_checksum(p, pkt);
  std::vector<uint8_t> copy(data, data + size);
  uint16_t max_mss = uint16_t(536 + (size > 0 ? data[size - 1] * 4 : 0));
  if (clamp_mss(copy, p, max_mss)) {
    Parsed q;
    CHECK_OR_ABORT(parse(copy, &q) == ParseStatus::ok);
    CHECK_OR_ABORT(flow_key(q) == k && q.tcp_flags == p.tcp_flags);
    CHECK_OR_ABORT(verify_l4_checksum(q, copy) == csum_ok);
    CHECK_OR_ABORT(std::memcmp(copy.data(), data, p.l3_header_len) == 0);
    Parsed again;
    std::vector<uint8_t> twice = copy;
    CHECK_OR_ABORT(parse(twice, &again) == ParseStatus::ok && !clamp_mss(twice, again, max_mss));
  } else {
    CHECK_OR_ABORT(std::memcmp(copy.data(), data, size) == 0);
  }

  // Too-big replies parse back with valid checksums and within the quoting limits.
  IpAddr from = p.family == Family::v4 ? IpAddr::v4(0x0a090001u) : p.dst;
  if (p.family == Family::v6) from.bytes[0] = 0xfd;  // any unicast address
  size_t cap = 28 + (size > 1 ? data[1] * 8 : 1500);
  std::vector<uint8_t> out(cap);
  uint16_t mtu = uint16_t(p.family == Family::v6 ? 1280 : 576);
  size_t n = make_too_big(pkt, p, mtu, from, out.data(), out.size());
  if (n > 0) {
    CHECK_OR_ABORT(n <= cap && n <= (p.family == Family::v6 ? kIcmp6ErrorMax : kIcmp4ErrorMax));
    Parsed r;
    std::span<const uint8_t> reply(out.data(), n);
    CHECK_OR_ABORT(parse(reply, &r) == ParseStatus::ok);
    CHECK_OR_ABORT(r.total_len == n && r.has_l4 && verify_l4_checksum(r, reply));
    CHECK_OR_ABORT(r.family == p.family && r.dst == p.src && r.src == from);
    CHECK_OR_ABORT(p.family == Family::v6 || verify_ipv4_header_checksum(reply));
  }
  return 0;
}
