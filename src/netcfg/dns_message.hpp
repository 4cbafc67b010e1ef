// The little of DNS that the split-DNS forwarder needs, parsed safely (sans-I/O, fuzzed by
// fuzz/fuzz_dns.cpp): the header's id and flags and the first question (of a query or an answer).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ptun::netcfg {

inline constexpr size_t kDnsHeader = 12;
inline constexpr size_t kMaxDnsName = 253;   // presentation form, without the final dot

struct DnsQuestion {
  uint16_t id = 0;
  std::string name;    // lower case, dotted, no final dot; "" for the root
  uint16_t qtype = 0, qclass = 0;
};

// Errc::protocol for: shorter than a header, a response (QR set), QDCOUNT 0, a truncated or
// compressed name (queries carry no pointers), a label over 63 bytes, a name over 253 bytes,
// a label with a byte outside [A-Za-z0-9_-] (names a resolver would not route by suffix anyway).
Result<DnsQuestion> parse_dns_query(std::span<const uint8_t> msg);
// The same for an answer (QR set): its id and first question, which must repeat the query's.
Result<DnsQuestion> parse_dns_response(std::span<const uint8_t> msg);

// A recursive query for `name` (dotted, no final dot), `qtype` (1 A, 28 AAAA), class IN, RD set:
// what `ptun doctor` asks each resolver. Empty when the name is not one parse_dns_query accepts.
std::vector<uint8_t> build_dns_query(uint16_t id, std::string_view name, uint16_t qtype);
// The RCODE of a message (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...); 0xff if too short.
inline uint8_t dns_rcode(std::span<const uint8_t> msg) { return msg.size() >= 4 ? uint8_t(msg[3] & 0x0f) : 0xff; }

inline uint16_t dns_id(std::span<const uint8_t> msg) { return msg.size() >= 2 ? uint16_t(msg[0] << 8 | msg[1]) : 0; }
inline void set_dns_id(std::span<uint8_t> msg, uint16_t id) {
  if (msg.size() < 2) return;
  msg[0] = uint8_t(id >> 8);
  msg[1] = uint8_t(id);
}

}  // namespace ptun::netcfg
