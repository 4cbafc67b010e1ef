#include "proxy/dns_codec.hpp"

namespace ptun::proxy {

Result<std::vector<uint8_t>> encode_dns_query(uint16_t id, const std::string& name, uint16_t qtype) {
  std::string n = name;
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n.empty() || n.size() > 253) return Error(Errc::invalid_argument, "bad DNS name");
  std::vector<uint8_t> m{uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= n.size()) {
    size_t dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    size_t len = dot - start;
    if (len == 0 || len > 63) return Error(Errc::invalid_argument, "bad DNS name");
    m.push_back(uint8_t(len));
    m.insert(m.end(), n.begin() + long(start), n.begin() + long(dot));
    start = dot + 1;
  }
  m.push_back(0);
  m.insert(m.end(), {uint8_t(qtype >> 8), uint8_t(qtype), 0, 1});
  return m;
}

namespace {
// Skips a (possibly compressed) name at *off; false if it runs past the message.
bool skip_name(std::span<const uint8_t> m, size_t* off) {
  for (int guard = 0; guard < 128; ++guard) {
    if (*off >= m.size()) return false;
    uint8_t l = m[*off];
    if (l == 0) {
      *off += 1;
      return true;
    }
    if ((l & 0xc0) == 0xc0) {
      *off += 2;
      return *off <= m.size();
    }
    if (l & 0xc0) return false;
    *off += 1 + size_t(l);
  }
  return false;
}
uint16_t rd16(std::span<const uint8_t> m, size_t off) { return uint16_t(m[off] << 8 | m[off + 1]); }
}  // namespace

Result<std::vector<IpAddr>> decode_dns_response(std::span<const uint8_t> m, uint16_t id, uint16_t qtype) {
  if (m.size() < 12 || rd16(m, 0) != id || !(m[2] & 0x80)) return Error(Errc::protocol, "not our DNS response");
  uint8_t rcode = m[3] & 0x0f;
  if (rcode == 3) return Error(Errc::not_found, "no such name");
  if (rcode != 0) return Error(Errc::protocol, "DNS error code " + std::to_string(rcode));
  uint16_t qd = rd16(m, 4), an = rd16(m, 6);
  size_t off = 12;
  for (uint16_t i = 0; i < qd; ++i) {
    if (!skip_name(m, &off) || off + 4 > m.size()) return Error(Errc::protocol, "truncated DNS question");
    off += 4;
  }
  std::vector<IpAddr> out;
  for (uint16_t i = 0; i < an; ++i) {
    if (!skip_name(m, &off) || off + 10 > m.size()) return Error(Errc::protocol, "truncated DNS answer");
    uint16_t type = rd16(m, off), cls = rd16(m, off + 2), rdlen = rd16(m, off + 8);
    off += 10;
    if (off + rdlen > m.size()) return Error(Errc::protocol, "truncated DNS record");
    if (cls == 1 && type == qtype && type == kDnsTypeA && rdlen == 4) out.push_back(IpAddr::v4(m.data() + off));
    if (cls == 1 && type == qtype && type == kDnsTypeAAAA && rdlen == 16) out.push_back(IpAddr::v6(m.data() + off));
    off += rdlen;
  }
  if (out.empty()) return Error(Errc::not_found, "no address records");
  return out;
}

}  // namespace ptun::proxy
