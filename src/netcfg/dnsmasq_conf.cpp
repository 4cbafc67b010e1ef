#include "netcfg/dnsmasq_conf.hpp"

namespace ptun::netcfg {

std::string dnsmasq_file_path(const std::string& conf_dir, const std::string& ifname) {
  std::string dir = conf_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return (dir == "/" ? "" : dir) + "/ptun-" + ifname + ".conf";
}

std::string render_dnsmasq_conf(const DnsPlan& plan, const std::string& ifname) {
  std::string s = "# written by ptun for " + ifname + "; removed when the tunnel goes down\n";
  if (plan.mode == DnsMode::full) {
    s += "no-resolv\n";
    for (const auto& a : plan.servers) s += "server=" + a.str() + "\n";
  } else if (plan.mode == DnsMode::split) {
    // Domains were validated by plan_dns (letters, digits, '-', '.'): nothing to escape.
    for (const auto& d : plan.match_domains) {
      for (const auto& a : plan.servers) s += "server=/" + d + "/" + a.str() + "\n";
      s += "rebind-domain-ok=/" + d + "/\n";
    }
  }
  return s;
}

}  // namespace ptun::netcfg
