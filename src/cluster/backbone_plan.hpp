// Routes toward the clients of the other servers, over the backbone (issue 18 item 3), sans-I/O.
//
// Every server of a cluster serves the same pools, so the company network may route a whole pool
// to any of them. A packet for a client connected elsewhere must then go on to that client's
// server: each server installs a host route per such address, via the other server's backbone
// address, and removes it exactly when the client leaves, moves or its server dies.
//
// Inputs, both read from etcd:
//   P/servers/<name>  ServerRecord: the server's backbone addresses; under the server's own
//                     kept-alive etcd lease, so it vanishes when the server dies.
//   P/peers/<cn>      PeerRecord (alloc_plan.hpp): the peer's addresses, who holds it, active.
#pragma once
#include <compare>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/alloc_plan.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::cluster {

struct ServerRecord {
  std::optional<IpAddr> backbone_v4, backbone_v6;
  bool operator==(const ServerRecord&) const = default;
};
std::string encode_server_record(const ServerRecord& r);
Result<ServerRecord> decode_server_record(std::string_view json);
std::string servers_prefix(const std::string& prefix);   // "P/servers/"
std::string server_key(const std::string& prefix, const std::string& name);

struct BackboneRoute {
  Cidr dst;     // one client address (/32, /128)
  IpAddr via;   // the backbone address of the server holding it
  bool operator==(const BackboneRoute&) const = default;
  std::strong_ordering operator<=>(const BackboneRoute& o) const {
    if (auto c = dst.addr <=> o.dst.addr; c != 0) return c;
    if (auto c = dst.prefix <=> o.dst.prefix; c != 0) return c;
    return via <=> o.via;
  }
};

// The routes a server `self` wants: for every active peer held by another server that has a
// record, each of the peer's addresses via that server's backbone address of the same family.
// Peers held by `self`, released peers, peers of servers without a record (dead, or not on a
// backbone) and families the holder has no backbone address for give no route. `is_own`
// (may be empty): addresses this server serves itself (a session here) are never routed away,
// even while a stale record still names another server.
using IsOwnFn = std::function<bool(const IpAddr&)>;
std::set<BackboneRoute> plan_backbone_routes(const std::string& self,
                                             const std::map<std::string, PeerRecord>& peers,
                                             const std::map<std::string, ServerRecord>& servers,
                                             const IsOwnFn& is_own = {});

struct RouteChanges {
  std::vector<BackboneRoute> remove, add;   // remove first: a moved address is replaced
};
// From what is installed to what is wanted; a route whose address stays but whose next hop
// changed is removed and added.
RouteChanges diff_routes(const std::set<BackboneRoute>& installed, const std::set<BackboneRoute>& wanted);

// The peer and server records of one read of P/peers/ and P/servers/ (keys outside them and
// records that do not parse are skipped and counted in *bad).
void collect_records(const std::string& prefix, const std::vector<KeyValue>& kvs,
                     std::map<std::string, PeerRecord>* peers, std::map<std::string, ServerRecord>* servers,
                     uint64_t* bad);

}  // namespace ptun::cluster
