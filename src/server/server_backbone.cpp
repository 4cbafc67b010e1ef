// [cluster] backbone (issue 18 item 3, docs/cluster.md): routes toward the clients of the other
// servers, via their backbone addresses, kept in step with etcd by cluster::BackboneSync. Routes
// carry their own protocol (netlink::kPtunBackboneRouteProto) in the main table, so a start after
// a crash finds and removes what the crashed server left, and nothing else.
#include "server/server.hpp"

namespace ptun::server {

#ifndef PTUN_CLUSTER

Result<void> Server::setup_backbone() { return {}; }
core::Task<void> Server::run_backbone(core::CancelToken) { co_return; }
core::Task<void> Server::leave_backbone() { co_return; }
nlohmann::json Server::backbone_json() const { return nullptr; }

#else

namespace {

netlink::Route host_route(const cluster::BackboneRoute& r) {
  netlink::Route route;
  route.dst = r.dst;
  route.gateway = r.via;
  route.protocol = netlink::kPtunBackboneRouteProto;
  return route;
}

// Every backbone route in the main table, whoever's (a crashed ptun's): removed.
size_t remove_backbone_routes(netlink::Rtnl& nl) {
  size_t n = 0;
  for (Family f : {Family::v4, Family::v6}) {
    auto routes = nl.routes(f, RT_TABLE_MAIN);
    if (!routes) continue;
    for (const auto& r : *routes)
      if (r.protocol == netlink::kPtunBackboneRouteProto && nl.route_del(r)) ++n;
  }
  return n;
}

class BackboneRoutes final : public cluster::RouteTable {
 public:
  explicit BackboneRoutes(std::unique_ptr<netlink::Rtnl> nl) : nl_(std::move(nl)) {}
  ~BackboneRoutes() override { remove_backbone_routes(*nl_); }
  Result<void> add(const cluster::BackboneRoute& r) override { return nl_->route_add(host_route(r)); }
  Result<void> remove(const cluster::BackboneRoute& r) override { return nl_->route_del(host_route(r)); }
  netlink::Rtnl& nl() { return *nl_; }

 private:
  std::unique_ptr<netlink::Rtnl> nl_;
};

}  // namespace

Result<void> Server::setup_backbone() {
  if (!cfg_.cluster || !etcd_ || (!cfg_.cluster->backbone_v4 && !cfg_.cluster->backbone_v6)) return {};
  const auto& c = *cfg_.cluster;
  auto nl = netlink::Rtnl::open();
  if (!nl) return Error(nl.error().code, "cluster: backbone routes: " + nl.error().message);
  // Packets the backbone brings for another server's client leave through the backbone again:
  // the kernel would answer with ICMP redirects, and a company router that took one for a client
  // about to move would keep sending to the old server after the route here changed (seen: a TCP
  // transfer stalled for good after a failover). No redirects from this host.
  if (c.backbone_v4) {
    std::string iface;
    if (auto addrs = (*nl)->addrs(Family::v4))
      for (const auto& a : *addrs)
        if (a.addr.addr == *c.backbone_v4)
          if (auto link = (*nl)->link_get(a.ifindex)) iface = link->name;
    if (iface.empty())
      LOG_WARN("server: cluster: backbone %s is not an address of this host (yet): ICMP redirects stay as they are",
               c.backbone_v4->str().c_str());
    for (const std::string& scope : {std::string("all"), iface}) {
      if (scope.empty()) continue;
      // Slashes: an interface name may hold dots (eth0.100), which sysctl's dotted form splits.
      if (auto r = host_.set_sysctl("net/ipv4/conf/" + scope + "/send_redirects", "0"); !r)
        LOG_WARN("server: cluster: backbone: cannot turn off ICMP redirects (%s): %s", scope.c_str(),
                 r.error().message.c_str());
    }
  }
  auto routes = std::make_unique<BackboneRoutes>(std::move(*nl));
  if (size_t stale = remove_backbone_routes(routes->nl()))
    LOG_INFO("server: cluster: removed %zu backbone routes left by an earlier run", stale);
  backbone_routes_ = std::move(routes);
  cluster::BackboneOptions o;
  o.prefix = c.prefix;
  o.self = c.name;
  o.record.backbone_v4 = c.backbone_v4;
  o.record.backbone_v6 = c.backbone_v6;
  backbone_ = std::make_unique<cluster::BackboneSync>(loop_, *etcd_, std::move(o), *backbone_routes_,
                                                      [this](const IpAddr& a) { return peers_.lookup(a) != 0; });
  LOG_INFO("server: cluster '%s': backbone %s%s%s: routes toward the other servers' clients", c.name.c_str(),
           c.backbone_v4 ? c.backbone_v4->str().c_str() : "", c.backbone_v4 && c.backbone_v6 ? " " : "",
           c.backbone_v6 ? c.backbone_v6->str().c_str() : "");
  return {};
}

core::Task<void> Server::run_backbone(core::CancelToken stop) {
  if (backbone_) co_await backbone_->run(stop);
}

core::Task<void> Server::leave_backbone() {
  if (backbone_) co_await backbone_->leave();
}

nlohmann::json Server::backbone_json() const {
  if (!backbone_) return nullptr;
  const auto& s = backbone_->stats();
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& r : backbone_->installed()) routes.push_back({{"dst", r.dst.str()}, {"via", r.via.str()}});
  return {{"routes", routes},         {"rounds", s.rounds},   {"read_failures", s.read_failures},
          {"bad_records", s.bad_records}, {"added", s.added}, {"removed", s.removed},
          {"route_failures", s.route_failures}, {"published", s.published},
          {"last_error", backbone_->last_error()}};
}

#endif

}  // namespace ptun::server
