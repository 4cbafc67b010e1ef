// The server's network-settings push (SETTINGS, type 0x02) and its codec.
//
// A SETTINGS message may not fit one DTLS record (hundreds of routes), so it is sent as 1..16
// parts: | 0x02 | part index | part count | TLVs ... |. The TLV stream is the concatenation of
// the parts' TLVs in index order; a part boundary always falls between two TLVs. Parts travel
// over unreliable DTLS, so the receiver reassembles them (SettingsAssembler) and the client
// resends CLIENT_HELLO until the whole set arrived (the server answers every CLIENT_HELLO of an
// established session with the same SETTINGS).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::proto {

// What the server pushes (Apple: NEPacketTunnelNetworkSettings). Independent of the config
// module: the server app fills it from its config and the peer's assigned addresses.
struct NetworkSettings {
  std::optional<Cidr> ipv4, ipv6;  // the client's tunnel address with prefix (10.99.0.2/24)
  std::optional<IpAddr> server_ipv4, server_ipv6;
  uint16_t mtu = 0;  // 0: not set
  std::vector<Cidr> included_routes, excluded_routes;
  std::vector<IpAddr> dns_servers;
  std::vector<std::string> search_domains, match_domains;
  uint32_t keepalive_secs = 10, dead_peer_secs = 30;  // 0 disables
  // TunnelVision defence (CVE-2024-3661): the tunnel's routes take precedence over more specific
  // routes of the local network (a rogue DHCP server's option 121). netcfg/route_plan.hpp.
  bool protect_routes = false;
  bool operator==(const NetworkSettings&) const = default;
};

// Bounds the decoder enforces (and the encoder refuses to exceed).
inline constexpr size_t kMaxSettingsParts = 16;
inline constexpr size_t kMaxRoutes = 1024;       // each of included / excluded
inline constexpr size_t kMaxDnsServers = 16;
inline constexpr size_t kMaxDomains = 64;        // each of search / match
inline constexpr size_t kMaxDomainLen = 253;
inline constexpr uint32_t kMaxTimerSecs = 86400;
inline constexpr uint16_t kMinSettingsMtu = 576;
inline constexpr size_t kSettingsPartHeader = 3;

// Encode `s` plus the session id echo into parts of at most `max_part` bytes each.
// Errors: invalid_argument (a value out of the bounds above, a domain that is not a DNS name,
// an address of the wrong family), limit (more than kMaxSettingsParts parts needed, or
// max_part too small for one TLV).
// `server_time` (seconds since the epoch; 0: not sent) lets the client see its clock skew.
Result<std::vector<std::vector<uint8_t>>> encode_settings(const NetworkSettings& s, uint64_t session_id,
                                                          size_t max_part, int64_t server_time = 0);

struct SettingsPart {
  uint8_t index = 0, count = 0;
  std::span<const uint8_t> tlvs;  // a view into the message
};
// Errors: protocol (not SETTINGS, truncated, count 0 or above kMaxSettingsParts, index >= count).
Result<SettingsPart> decode_settings_part(std::span<const uint8_t> msg);

// Decode a whole TLV stream. Unknown TLVs are skipped; a repeated scalar TLV overrides the earlier
// one; list TLVs append. `*session_id` is the echo (0 if absent); `*server_time` the server's
// clock when it sent them (0 if absent; an older server does not send it).
// Errors: protocol (truncated TLV, bad length for its type, prefix out of range, a list above its
// bound, a domain that is not a DNS name, timer values above kMaxTimerSecs, mtu 1..575).
Result<NetworkSettings> decode_settings_tlvs(std::span<const uint8_t> tlvs, uint64_t* session_id,
                                             int64_t* server_time = nullptr);

// Convenience for a single-part message (count must be 1).
Result<NetworkSettings> decode_settings(std::span<const uint8_t> msg, uint64_t* session_id,
                                        int64_t* server_time = nullptr);

// Reassembles SETTINGS parts that may arrive duplicated, reordered or partially.
class SettingsAssembler {
 public:
  enum class Status { incomplete, complete, bad };
  // Add one SETTINGS message. A part whose count differs from the first part seen restarts
  // the assembly (the server changed the settings). `bad` means the message is malformed.
  Status add(std::span<const uint8_t> msg);
  // After `complete`: decode the joined TLV stream.
  Result<NetworkSettings> result(uint64_t* session_id, int64_t* server_time = nullptr) const;
  void reset();

 private:
  uint8_t count_ = 0;
  uint32_t have_ = 0;  // bitmask of received indexes
  std::array<std::vector<uint8_t>, kMaxSettingsParts> parts_;
};

// A DNS name as ptun accepts it in settings: 1..253 bytes of [A-Za-z0-9._-], labels <= 63, no
// label starting with '-' (never an option to resolvectl). Both ends check: encode and decode.
bool valid_domain(std::string_view d);
// A match domain: valid_domain, or "" (the root: every name goes to the pushed servers, as
// `match_domains = [""]` in the server's [push] says; the client's DNS plan reads it so).
bool valid_match_domain(std::string_view d);

}  // namespace ptun::proto
