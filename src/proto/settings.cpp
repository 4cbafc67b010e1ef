#include "proto/settings.hpp"

#include "proto/byte_io.hpp"
#include "proto/messages.hpp"

namespace ptun::proto {

namespace {

// SETTINGS TLV types (docs/protocol.md). Values are stable wire constants.
enum : uint8_t {
  kTlvIpv4 = 0x01,          // 4 address + 1 prefix
  kTlvIpv6 = 0x02,          // 16 address + 1 prefix
  kTlvServerIpv4 = 0x03,    // 4
  kTlvServerIpv6 = 0x04,    // 16
  kTlvMtu = 0x05,           // u16
  kTlvIncludedRoute = 0x06, // 5 or 17: address + prefix, family by length
  kTlvExcludedRoute = 0x07, // 5 or 17
  kTlvDnsServer = 0x08,     // 4 or 16
  kTlvSearchDomain = 0x09,  // 1..253 bytes
  kTlvMatchDomain = 0x0a,   // 1..253 bytes
  kTlvKeepalive = 0x0b,     // u32 seconds
  kTlvDeadPeer = 0x0c,      // u32 seconds
  kTlvSessionId = 0x0d,     // u64 (56 significant bits)
  kTlvProtectRoutes = 0x0e, // u8: 1 = on (absent = off)
  kTlvServerTime = 0x0f,    // i64: the server's clock (seconds since the epoch) when it sent SETTINGS
};

Error bad(const char* what) { return Error(Errc::protocol, std::string("SETTINGS: ") + what); }
Error bad_arg(const char* what) { return Error(Errc::invalid_argument, std::string("settings: ") + what); }

// Accumulates TLVs and the offsets where each ends, so parts can be cut between TLVs.
struct TlvList {
  std::vector<uint8_t> bytes;
  std::vector<size_t> ends;
  void add(uint8_t type, const void* v, size_t len) {
    bytes.push_back(type);
    bytes.push_back(uint8_t(len >> 8));
    bytes.push_back(uint8_t(len));
    const uint8_t* p = static_cast<const uint8_t*>(v);
    bytes.insert(bytes.end(), p, p + len);
    ends.push_back(bytes.size());
  }
  void add_u32(uint8_t type, uint32_t x) {
    uint8_t b[4] = {uint8_t(x >> 24), uint8_t(x >> 16), uint8_t(x >> 8), uint8_t(x)};
    add(type, b, 4);
  }
  void add_addr(uint8_t type, const IpAddr& a) { add(type, a.bytes.data(), a.size()); }
  void add_cidr(uint8_t type, const Cidr& c) {
    uint8_t b[17];
    size_t n = c.addr.size();
    std::memcpy(b, c.addr.bytes.data(), n);
    b[n] = c.prefix;
    add(type, b, n + 1);
  }
};

bool cidr_ok(const Cidr& c) {
  return !c.addr.empty() && c.prefix <= (c.addr.is_v4() ? 32 : 128);
}

Result<void> check(const NetworkSettings& s) {
  if (s.ipv4 && (!s.ipv4->addr.is_v4() || !cidr_ok(*s.ipv4))) return bad_arg("ipv4 is not an IPv4 prefix");
  if (s.ipv6 && (!s.ipv6->addr.is_v6() || !cidr_ok(*s.ipv6))) return bad_arg("ipv6 is not an IPv6 prefix");
  if (s.server_ipv4 && !s.server_ipv4->is_v4()) return bad_arg("server_ipv4 is not IPv4");
  if (s.server_ipv6 && !s.server_ipv6->is_v6()) return bad_arg("server_ipv6 is not IPv6");
  if (s.mtu != 0 && s.mtu < kMinSettingsMtu) return bad_arg("mtu below 576");
  if (s.included_routes.size() > kMaxRoutes || s.excluded_routes.size() > kMaxRoutes)
    return bad_arg("too many routes");
  for (auto* v : {&s.included_routes, &s.excluded_routes})
    for (const Cidr& c : *v)
      if (!cidr_ok(c)) return bad_arg("invalid route");
  if (s.dns_servers.size() > kMaxDnsServers) return bad_arg("too many DNS servers");
  for (const IpAddr& a : s.dns_servers)
    if (a.empty()) return bad_arg("empty DNS server address");
  if (s.search_domains.size() > kMaxDomains || s.match_domains.size() > kMaxDomains)
    return bad_arg("too many domains");
  for (const std::string& d : s.search_domains)
    if (!valid_domain(d)) return bad_arg("invalid domain");
  for (const std::string& d : s.match_domains)
    if (!valid_match_domain(d)) return bad_arg("invalid domain");
  if (s.keepalive_secs > kMaxTimerSecs || s.dead_peer_secs > kMaxTimerSecs) return bad_arg("timer too long");
  return ok();
}

Result<Cidr> read_cidr(std::span<const uint8_t> v) {
  Cidr c;
  if (v.size() == 5) {
    c.addr = IpAddr::v4(v.data());
    c.prefix = v[4];
    if (c.prefix > 32) return bad("IPv4 prefix above 32");
  } else if (v.size() == 17) {
    c.addr = IpAddr::v6(v.data());
    c.prefix = v[16];
    if (c.prefix > 128) return bad("IPv6 prefix above 128");
  } else {
    return bad("prefix length");
  }
  return c;
}

Result<IpAddr> read_addr(std::span<const uint8_t> v) {
  if (v.size() == 4) return IpAddr::v4(v.data());
  if (v.size() == 16) return IpAddr::v6(v.data());
  return bad("address length");
}

uint32_t be32(std::span<const uint8_t> v) {
  return (uint32_t(v[0]) << 24) | (uint32_t(v[1]) << 16) | (uint32_t(v[2]) << 8) | v[3];
}

}  // namespace

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > kMaxDomainLen) return false;
  size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      label = 0;
      continue;
    }
    // A label never starts with '-': a domain like "-x" would reach resolvectl as an option.
    if (c == '-' && label == 0) return false;
    bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!okc || ++label > 63) return false;
  }
  return true;
}

bool valid_match_domain(std::string_view d) { return d.empty() || valid_domain(d); }

Result<std::vector<std::vector<uint8_t>>> encode_settings(const NetworkSettings& s, uint64_t session_id,
                                                          size_t max_part, int64_t server_time) {
  if (auto r = check(s); !r) return r.error();
  TlvList t;
  // One allocation each in the common case (a route TLV is at most 20 bytes).
  size_t tlvs = 10 + s.dns_servers.size() + s.search_domains.size() + s.match_domains.size() +
                s.included_routes.size() + s.excluded_routes.size();
  t.ends.reserve(tlvs);
  t.bytes.reserve(tlvs * 20);
  if (s.ipv4) t.add_cidr(kTlvIpv4, *s.ipv4);
  if (s.ipv6) t.add_cidr(kTlvIpv6, *s.ipv6);
  if (s.server_ipv4) t.add_addr(kTlvServerIpv4, *s.server_ipv4);
  if (s.server_ipv6) t.add_addr(kTlvServerIpv6, *s.server_ipv6);
  if (s.mtu) {
    uint8_t b[2] = {uint8_t(s.mtu >> 8), uint8_t(s.mtu)};
    t.add(kTlvMtu, b, 2);
  }
  t.add_u32(kTlvKeepalive, s.keepalive_secs);
  t.add_u32(kTlvDeadPeer, s.dead_peer_secs);
  uint8_t sid[8];
  for (int i = 0; i < 8; ++i) sid[i] = uint8_t(session_id >> (56 - 8 * i));
  t.add(kTlvSessionId, sid, 8);
  if (s.protect_routes) {
    uint8_t on = 1;
    t.add(kTlvProtectRoutes, &on, 1);
  }
  if (server_time) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(uint64_t(server_time) >> (56 - 8 * i));
    t.add(kTlvServerTime, b, 8);
  }
  // Order matters for DNS servers (first is preferred) and is kept for every list.
  for (const IpAddr& a : s.dns_servers) t.add_addr(kTlvDnsServer, a);
  for (const std::string& d : s.search_domains) t.add(kTlvSearchDomain, d.data(), d.size());
  for (const std::string& d : s.match_domains) t.add(kTlvMatchDomain, d.data(), d.size());
  for (const Cidr& c : s.included_routes) t.add_cidr(kTlvIncludedRoute, c);
  for (const Cidr& c : s.excluded_routes) t.add_cidr(kTlvExcludedRoute, c);

  if (max_part <= kSettingsPartHeader) return Error(Errc::limit, "settings: part size too small");
  size_t budget = max_part - kSettingsPartHeader;
  // Greedy cut: each part takes as many whole TLVs as fit.
  std::vector<std::pair<size_t, size_t>> ranges;
  ranges.reserve(kMaxSettingsParts + 1);
  size_t start = 0, prev_end = 0;
  for (size_t end : t.ends) {
    if (end - prev_end > budget) return Error(Errc::limit, "settings: one TLV exceeds the part size");
    if (end - start > budget) {
      ranges.emplace_back(start, prev_end);
      start = prev_end;
    }
    prev_end = end;
  }
  ranges.emplace_back(start, prev_end);
  if (ranges.size() > kMaxSettingsParts) return Error(Errc::limit, "settings: too large for 16 parts");

  std::vector<std::vector<uint8_t>> parts;
  parts.reserve(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::vector<uint8_t> p;
    p.reserve(kSettingsPartHeader + ranges[i].second - ranges[i].first);
    p.push_back(uint8_t(MsgType::settings));
    p.push_back(uint8_t(i));
    p.push_back(uint8_t(ranges.size()));
    p.insert(p.end(), t.bytes.begin() + ranges[i].first, t.bytes.begin() + ranges[i].second);
    parts.push_back(std::move(p));
  }
  return parts;
}

Result<SettingsPart> decode_settings_part(std::span<const uint8_t> msg) {
  ByteReader r(msg);
  uint8_t type = 0;
  SettingsPart p;
  if (!r.u8(&type) || type != uint8_t(MsgType::settings)) return bad("not a SETTINGS message");
  if (!r.u8(&p.index) || !r.u8(&p.count)) return bad("truncated part header");
  if (p.count == 0 || p.count > kMaxSettingsParts || p.index >= p.count) return bad("bad part index/count");
  p.tlvs = r.rest();
  return p;
}

Result<NetworkSettings> decode_settings_tlvs(std::span<const uint8_t> tlvs, uint64_t* session_id,
                                             int64_t* server_time) {
  NetworkSettings s;
  *session_id = 0;
  if (server_time) *server_time = 0;
  ByteReader r(tlvs);
  while (!r.empty()) {
    uint8_t t = 0;
    uint16_t len = 0;
    std::span<const uint8_t> v;
    if (!r.u8(&t) || !r.u16(&len) || !r.bytes(len, &v)) return bad("truncated TLV");
    switch (t) {
      case kTlvIpv4:
        if (v.size() != 5) return bad("ipv4 length");
        if (auto c = read_cidr(v); !c) return c.error(); else s.ipv4 = *c;
        break;
      case kTlvIpv6:
        if (v.size() != 17) return bad("ipv6 length");
        if (auto c = read_cidr(v); !c) return c.error(); else s.ipv6 = *c;
        break;
      case kTlvServerIpv4:
        if (v.size() != 4) return bad("server ipv4 length");
        s.server_ipv4 = IpAddr::v4(v.data());
        break;
      case kTlvServerIpv6:
        if (v.size() != 16) return bad("server ipv6 length");
        s.server_ipv6 = IpAddr::v6(v.data());
        break;
      case kTlvMtu:
        if (v.size() != 2) return bad("mtu length");
        s.mtu = uint16_t((v[0] << 8) | v[1]);
        if (s.mtu != 0 && s.mtu < kMinSettingsMtu) return bad("mtu below 576");
        break;
      case kTlvIncludedRoute:
      case kTlvExcludedRoute: {
        auto& list = t == kTlvIncludedRoute ? s.included_routes : s.excluded_routes;
        if (list.size() >= kMaxRoutes) return bad("too many routes");
        auto c = read_cidr(v);
        if (!c) return c.error();
        list.push_back(c->network());  // host bits are meaningless in a route
        break;
      }
      case kTlvDnsServer: {
        if (s.dns_servers.size() >= kMaxDnsServers) return bad("too many DNS servers");
        auto a = read_addr(v);
        if (!a) return a.error();
        s.dns_servers.push_back(*a);
        break;
      }
      case kTlvSearchDomain:
      case kTlvMatchDomain: {
        auto& list = t == kTlvSearchDomain ? s.search_domains : s.match_domains;
        if (list.size() >= kMaxDomains) return bad("too many domains");
        std::string_view d(reinterpret_cast<const char*>(v.data()), v.size());
        if (!(t == kTlvSearchDomain ? valid_domain(d) : valid_match_domain(d))) return bad("invalid domain");
        list.emplace_back(d);
        break;
      }
      case kTlvKeepalive:
      case kTlvDeadPeer: {
        if (v.size() != 4) return bad("timer length");
        uint32_t x = be32(v);
        if (x > kMaxTimerSecs) return bad("timer too long");
        (t == kTlvKeepalive ? s.keepalive_secs : s.dead_peer_secs) = x;
        break;
      }
      case kTlvSessionId: {
        if (v.size() != 8) return bad("session id length");
        uint64_t id = 0;
        for (uint8_t b : v) id = (id << 8) | b;
        *session_id = id;
        break;
      }
      case kTlvProtectRoutes:
        if (v.size() != 1 || v[0] > 1) return bad("protect_routes is not 0 or 1");
        s.protect_routes = v[0] == 1;
        break;
      case kTlvServerTime: {
        if (v.size() != 8) return bad("server time length");
        uint64_t x = 0;
        for (uint8_t b : v) x = (x << 8) | b;
        if (server_time) *server_time = int64_t(x);
        break;
      }
      default:
        break;  // unknown TLV: skipped (forward compatibility)
    }
  }
  return s;
}

Result<NetworkSettings> decode_settings(std::span<const uint8_t> msg, uint64_t* session_id, int64_t* server_time) {
  auto p = decode_settings_part(msg);
  if (!p) return p.error();
  if (p->count != 1) return bad("multi-part message");
  return decode_settings_tlvs(p->tlvs, session_id, server_time);
}

SettingsAssembler::Status SettingsAssembler::add(std::span<const uint8_t> msg) {
  auto p = decode_settings_part(msg);
  if (!p) return Status::bad;
  if (p->count != count_) {
    reset();
    count_ = p->count;
  }
  uint32_t bit = uint32_t(1) << p->index;
  if (!(have_ & bit)) {  // a duplicate part is ignored
    parts_[p->index].assign(p->tlvs.begin(), p->tlvs.end());
    have_ |= bit;
  }
  return have_ == (uint32_t(1) << count_) - 1 ? Status::complete : Status::incomplete;
}

Result<NetworkSettings> SettingsAssembler::result(uint64_t* session_id, int64_t* server_time) const {
  std::vector<uint8_t> all;
  for (size_t i = 0; i < count_; ++i) all.insert(all.end(), parts_[i].begin(), parts_[i].end());
  return decode_settings_tlvs(all, session_id, server_time);
}

void SettingsAssembler::reset() {
  count_ = 0;
  have_ = 0;
  for (auto& p : parts_) p.clear();
}

}  // namespace ptun::proto
