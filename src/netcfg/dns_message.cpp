#include "netcfg/dns_message.hpp"

namespace ptun::netcfg {

namespace {

Result<DnsQuestion> parse_question(std::span<const uint8_t> m, bool response) {
  if (m.size() < kDnsHeader) return Error(Errc::protocol, "dns: short message");
  if (bool(m[2] & 0x80) != response) return Error(Errc::protocol, response ? "dns: not a response" : "dns: not a query");
  uint16_t qdcount = uint16_t(m[4] << 8 | m[5]);
  if (qdcount == 0) return Error(Errc::protocol, "dns: no question");
  DnsQuestion q;
  q.id = dns_id(m);
  size_t pos = kDnsHeader;
  while (true) {
    if (pos >= m.size()) return Error(Errc::protocol, "dns: truncated name");
    uint8_t len = m[pos++];
    if (len == 0) break;
    // Nothing precedes the first question, so a pointer there is never valid, even in a response.
    if (len & 0xc0) return Error(Errc::protocol, "dns: compressed or extended label in a question");
    if (len > 63) return Error(Errc::protocol, "dns: label too long");
    if (m.size() - pos < len) return Error(Errc::protocol, "dns: truncated label");
    if (!q.name.empty()) q.name += '.';
    if (q.name.size() + len > kMaxDnsName) return Error(Errc::protocol, "dns: name too long");
    for (size_t i = 0; i < len; ++i) {
      char c = char(m[pos + i]);
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return Error(Errc::protocol, "dns: unexpected byte in a label");
      q.name += c;
    }
    pos += len;
  }
  if (m.size() - pos < 4) return Error(Errc::protocol, "dns: truncated question");
  q.qtype = uint16_t(m[pos] << 8 | m[pos + 1]);
  q.qclass = uint16_t(m[pos + 2] << 8 | m[pos + 3]);
  return q;
}

}  // namespace

Result<DnsQuestion> parse_dns_query(std::span<const uint8_t> m) { return parse_question(m, false); }
Result<DnsQuestion> parse_dns_response(std::span<const uint8_t> m) { return parse_question(m, true); }

std::vector<uint8_t> build_dns_query(uint16_t id, std::string_view name, uint16_t qtype) {
  std::vector<uint8_t> m = {uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return {};
    m.push_back(uint8_t(label.size()));
    m.insert(m.end(), label.begin(), label.end());
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
  }
  m.push_back(0);
  m.insert(m.end(), {uint8_t(qtype >> 8), uint8_t(qtype), 0, 1});
  if (!parse_dns_query(m)) return {};   // one definition of a name ptun asks for
  return m;
}

}  // namespace ptun::netcfg
