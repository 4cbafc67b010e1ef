// A minimal DNS client codec (RFC 1035) for names in SOCKS/HTTP requests: one question of type A
// or AAAA, recursion desired; answers parsed for addresses only (CNAME chains are followed by
// the recursive server, which returns the final records in the same answer section).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::proxy {

inline constexpr uint16_t kDnsTypeA = 1, kDnsTypeAAAA = 28;

// Errc::invalid_argument for a name that is not a valid DNS name (label > 63, total > 253).
Result<std::vector<uint8_t>> encode_dns_query(uint16_t id, const std::string& name, uint16_t qtype);
// Addresses of type qtype in a response with this id. Errc::protocol for a malformed or
// mismatched message, Errc::not_found for NXDOMAIN or no address records.
Result<std::vector<IpAddr>> decode_dns_response(std::span<const uint8_t> msg, uint16_t id, uint16_t qtype);

}  // namespace ptun::proxy
