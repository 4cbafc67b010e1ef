// `ptun doctor -c SERVER_CONFIG`: the facts of a server host (netcfg/server_doctor.hpp judges
// them): its status over the control socket, the forwarding sysctls, ptun's masquerade table,
// the host's nftables ruleset (`nft -j list ruleset`), the server certificate.
#include <ctime>
#include <fstream>
#include <sstream>

#include "cli/doctor_probes.hpp"
#include "control/control_client.hpp"
#include "hostio/process.hpp"
#include "server/host_setup.hpp"
#include "tls/pki.hpp"

namespace ptun::cli {
namespace {

std::optional<bool> sysctl_on(const char* path) {
  std::ifstream f(path);
  std::string v;
  if (!(f >> v)) return std::nullopt;
  return v != "0";
}

}  // namespace

netcfg::doctor::ServerFacts gather_server(const config::ServerConfig& cfg) {
  netcfg::doctor::ServerFacts f;
  f.now = int64_t(::time(nullptr));
  f.kernel_forwarding = cfg.tunnel.forwarding == "kernel";
  f.tun_iface = cfg.tunnel.interface;
  f.port = cfg.listen.empty() ? 0 : cfg.listen[0].port;
  f.v4_pool = bool(cfg.tunnel.ipv4_pool);
  f.v6_pool = bool(cfg.tunnel.ipv6_pool);
  f.masquerade_wanted = cfg.tunnel.masquerade;
  f.masquerade_table = server::masquerade_table(cfg.tunnel.interface);
  if (auto st = control::call(cfg.control_socket, {{"cmd", "status"}}); st) {
    f.sessions = st->value("sessions", size_t(0));
    f.dns_proxy_running = st->contains("dns_proxy");
  } else {
    f.status_error = st.error().message;
  }
  f.ip_forward = sysctl_on("/proc/sys/net/ipv4/ip_forward");
  f.ip6_forward = sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding");
  hostio::RunOptions o;
  o.max_output = 4 << 20;
  auto out = hostio::run({"nft", "-j", "list", "ruleset"}, o);
  if (!out) {
    f.firewall_error = out.error().code == Errc::not_found ? "nft is not installed" : out.error().message;
  } else if (auto chains = netcfg::doctor::firewall_chains(*out, f.tun_iface, f.port); !chains) {
    f.firewall_error = "nft -j list ruleset: " + chains.error().message;
  } else {
    f.chains = std::move(*chains);
    f.masquerade_present = hostio::run({"nft", "list", "table", "inet", f.masquerade_table}).ok();
  }
  if (auto na = tls::pki::cert_not_after(cfg.cert)) f.cert_not_after = *na;
  else f.cert_error = na.error().message;
  return f;
}

}  // namespace ptun::cli
