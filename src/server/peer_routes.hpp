// Which session owns an inner address (sans-I/O): the server's forwarding table and its
// anti-spoofing check, asked for every packet. Neither scans the peers: host addresses are one
// hash lookup; `routes_behind` networks (site-to-site) are a longest-prefix match with one hash
// lookup per prefix length in use (a handful, however many peers there are). Removing a session
// touches only the entries it registered.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::server {

class PeerRoutes {
 public:
  // Registers a session's addresses and the networks behind it. Replaces earlier entries for
  // the same addresses (a peer reconnecting takes over its addresses).
  void add(uint64_t session, const std::vector<IpAddr>& hosts, const std::vector<Cidr>& behind);
  // Removes what the session still owns: entries a newer session took over stay the newer one's.
  void remove(uint64_t session);
  // The session for an inner destination, or 0.
  uint64_t lookup(const IpAddr& dst) const;
  // Where a packet from session `from` to `dst` goes: another session (client to client, also
  // to the networks behind it), 0 for the host (TUN or forwarder), or kRefused when that other
  // session exists but client_to_client is off. Session ids are 56 bits: kRefused is none.
  static constexpr uint64_t kRefused = UINT64_MAX;
  uint64_t next_hop(uint64_t from, const IpAddr& dst, bool client_to_client) const;
  // Anti-spoofing: may `session` send packets with source `src`?
  bool source_allowed(uint64_t session, const IpAddr& src) const { return session != 0 && lookup(src) == session; }
  size_t size() const { return hosts_.size(); }
  size_t networks() const;   // routes_behind entries

 private:
  struct Level {   // the networks of one family and prefix length, by network address
    Family family;
    uint8_t prefix;
    std::unordered_map<IpAddr, uint64_t, IpAddrHash> nets;
  };
  struct Owned {   // what a session registered, so that its removal needs no scan
    std::vector<IpAddr> hosts;
    std::vector<Cidr> nets;
  };
  Level& level(Family f, uint8_t prefix);

  std::unordered_map<IpAddr, uint64_t, IpAddrHash> hosts_;
  std::vector<Level> levels_;   // longest prefix first; no empty level
  std::unordered_map<uint64_t, Owned> owned_;
};

}  // namespace ptun::server
