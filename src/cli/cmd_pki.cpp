// `ptun pki init DIR`, `ptun pki issue DIR NAME [--server]`: a CA and certificates with mbedTLS.
#include <iostream>

#include "cli/command.hpp"
#include "common/rng.hpp"
#include "tls/pki.hpp"

namespace ptun::cli {
namespace {
CLI::App*& cmds_pki_init() {
  static CLI::App* init = nullptr;
  return init;
}
}  // namespace

void register_pki_commands(CommandSet& cmds) {
  static std::string dir, name, ca_name = "ptun CA";
  static bool server_cert = false;
  static uint32_t days = 825;
  static std::vector<std::string> dns_names, ips;
  CLI::App* pki = cmds.add("pki", "certificate authority (no openssl needed)", [] {
    SystemRng rng;
    if (auto* init = cmds_pki_init(); init && init->parsed()) {
      if (auto r = tls::pki::init_ca(dir, ca_name, rng); !r) return fail(r.error().message);
      std::cout << "created CA in " << dir << " (ca.crt, ca.key)\n";
      return 0;
    }
    tls::pki::IssueOptions o;
    o.server = server_cert;
    o.days = days;
    o.dns_names = dns_names;
    for (const auto& s : ips) {
      auto a = IpAddr::parse(s);
      if (!a) return fail(a.error().message, 2);
      o.ip_addresses.push_back(*a);
    }
    if (auto r = tls::pki::issue(dir, name, o, rng); !r) return fail(r.error().message);
    std::cout << "issued " << dir << "/" << name << ".crt and " << name << ".key\n";
    return 0;
  });
  pki->require_subcommand(1);
  auto* init = pki->add_subcommand("init", "create a CA in DIR");
  init->add_option("dir", dir, "directory")->required();
  init->add_option("--name", ca_name, "the CA's common name");
  cmds_pki_init() = init;
  auto* issue = pki->add_subcommand("issue", "issue a certificate for NAME from the CA in DIR");
  issue->add_option("dir", dir, "CA directory")->required();
  issue->add_option("name", name, "certificate name (peer name or server name)")->required();
  issue->add_flag("--server", server_cert, "a server certificate (serverAuth, subjectAltName)");
  issue->add_option("--days", days, "validity in days")->check(CLI::Range(1, 3652));
  issue->add_option("--dns", dns_names, "extra DNS names (server certificates)");
  issue->add_option("--ip", ips, "IP addresses for the subjectAltName");
}

}  // namespace ptun::cli
