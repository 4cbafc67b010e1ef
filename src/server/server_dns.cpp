// The server's DNS proxy (dns_proxy.hpp): answers the DNS the server pushes when that is its own
// tunnel address, forwarding to the server's own resolvers.
#include <fstream>
#include <sstream>

#include "metrics/exposition.hpp"
#include "server/server.hpp"

namespace ptun::server {

std::vector<IpAddr> Server::dns_upstreams(const config::ServerConfig& c) const {
  if (!c.tunnel.dns_proxy_upstreams.empty()) return c.tunnel.dns_proxy_upstreams;
  // A small local file, read at start and on reload (as the config file itself is).
  std::ifstream in(c.tunnel.dns_proxy_resolv_conf);
  std::stringstream text;
  if (in) text << in.rdbuf();
  auto ups = resolv_conf_upstreams(text.str(), config::server_addresses(c));
  if (ups.empty())
    LOG_WARN("server: dns proxy: no nameserver in %s: queries are dropped (counted as no_upstream) until a reload "
             "finds one, or set tunnel.dns_proxy_upstreams",
             c.tunnel.dns_proxy_resolv_conf.c_str());
  return ups;
}

Result<void> Server::setup_dns_proxy() {
  if (!config::dns_proxy_active(cfg_)) return {};
  std::vector<Cidr> pools;
  for (const auto& p : {cfg_.tunnel.ipv4_pool, cfg_.tunnel.ipv6_pool})
    if (p) pools.push_back(*p);
  DnsProxyCore core(std::move(pools), dns_upstreams(cfg_), DnsProxyLimits{}, [this] { return rng_.u32(); });
  DnsProxy::Options opt;
  opt.device = cfg_.tunnel.interface;
  opt.listen = config::server_addresses(cfg_);
  auto p = DnsProxy::start(loop_, opt, std::move(core));
  if (!p) return p.error();
  dns_proxy_ = std::move(*p);
  std::string ups;
  for (const auto& u : dns_proxy_->upstreams()) ups += (ups.empty() ? "" : ", ") + u.str();
  LOG_INFO("server: dns proxy upstreams: %s", ups.empty() ? "none" : ups.c_str());
  return {};
}

void Server::reload_dns_proxy() {
  bool want = config::dns_proxy_active(cfg_);
  if (want != bool(dns_proxy_))
    LOG_WARN("server: reload: the DNS proxy would now be %s (tunnel.dns_proxy, push.dns_servers): restart to apply",
             want ? "on" : "off");
  if (!dns_proxy_) return;
  dns_proxy_->set_upstreams(dns_upstreams(cfg_));
  std::string ups;
  for (const auto& u : dns_proxy_->upstreams()) ups += (ups.empty() ? "" : ", ") + u.str();
  LOG_INFO("server: reload: dns proxy upstreams: %s", ups.empty() ? "none" : ups.c_str());
}

nlohmann::json Server::dns_proxy_json() const {
  const DnsProxyStats& s = dns_proxy_->stats();
  nlohmann::json ups = nlohmann::json::array();
  for (const auto& u : dns_proxy_->upstreams()) ups.push_back(u.str());
  return {{"upstreams", ups},
          {"pending", dns_proxy_->pending()},
          {"tcp_clients", dns_proxy_->tcp_clients()},
          {"queries_udp", s.queries_udp},
          {"queries_tcp", s.queries_tcp},
          {"answers", s.answers},
          {"retries", s.retries},
          {"timeouts", s.timeouts},
          {"dropped_not_pool", s.dropped_not_pool},
          {"dropped_malformed", s.dropped_malformed},
          {"dropped_full", s.dropped_full},
          {"dropped_client_limit", s.dropped_client_limit},
          {"dropped_no_upstream", s.dropped_no_upstream},
          {"answer_unknown", s.answer_unknown},
          {"answer_mismatch", s.answer_mismatch},
          {"answer_malformed", s.answer_malformed},
          {"send_failed", s.send_failed},
          {"tcp_refused", s.tcp_refused},
          {"tcp_bad_frame", s.tcp_bad_frame}};
}

void Server::dns_proxy_metrics(metrics::Exposition& m) const {
  if (!dns_proxy_) return;
  using metrics::Labels;
  const DnsProxyStats& s = dns_proxy_->stats();
  m.counter("ptun_server_dns_queries_total", "DNS proxy queries received, by transport.", double(s.queries_udp),
            Labels{{"transport", "udp"}});
  m.counter("ptun_server_dns_queries_total", "DNS proxy queries received, by transport.", double(s.queries_tcp),
            Labels{{"transport", "tcp"}});
  m.counter("ptun_server_dns_answers_total", "DNS proxy answers relayed to clients.", double(s.answers));
  m.counter("ptun_server_dns_retries_total", "DNS proxy attempts moved to another upstream.", double(s.retries));
  m.gauge("ptun_server_dns_pending", "DNS proxy queries in flight.", double(dns_proxy_->pending()));
  const std::pair<const char*, uint64_t> drops[] = {
      {"not_pool", s.dropped_not_pool},         {"malformed", s.dropped_malformed},
      {"full", s.dropped_full},                 {"client_limit", s.dropped_client_limit},
      {"no_upstream", s.dropped_no_upstream},   {"timeout", s.timeouts},
      {"answer_unknown", s.answer_unknown},     {"answer_mismatch", s.answer_mismatch},
      {"answer_malformed", s.answer_malformed}, {"send_failed", s.send_failed},
      {"tcp_refused", s.tcp_refused},           {"tcp_bad_frame", s.tcp_bad_frame}};
  for (const auto& [cause, v] : drops)
    m.counter("ptun_server_dns_dropped_total", "DNS proxy messages dropped, by cause.", double(v),
              Labels{{"cause", cause}});
}

}  // namespace ptun::server
