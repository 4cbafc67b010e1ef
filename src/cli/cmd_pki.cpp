// `ptun pki init DIR`, `ptun pki issue DIR NAME [--server]`, `ptun pki revoke DIR NAME|SERIAL`,
// `ptun pki list DIR`, `ptun pki crl DIR`: a CA, certificates and a CRL with mbedTLS.
#include <ctime>
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
struct PkiSubs {
  CLI::App* revoke = nullptr;
  CLI::App* list = nullptr;
  CLI::App* crl = nullptr;
};
PkiSubs& pki_subs() {
  static PkiSubs s;
  return s;
}

std::string utc_date(int64_t t) {
  if (t == 0) return "-";
  time_t tt = time_t(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char s[32];
  std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return s;
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
      if (auto r = tls::pki::write_crl(dir); !r) return fail(r.error().message);
      std::cout << "created CA in " << dir << " (ca.crt, ca.key, crl.pem)\n";
      return 0;
    }
    if (pki_subs().revoke->parsed()) {
      bool already = false;
      auto r = tls::pki::revoke(dir, name, &already);
      if (!r) return fail(r.error().message);
      std::cout << (already ? "already revoked: " : "revoked: ") << *r << "; wrote " << dir
                << "/crl.pem (run `ptun reload` on the server)\n";
      return 0;
    }
    if (pki_subs().crl->parsed()) {
      if (auto r = tls::pki::write_crl(dir); !r) return fail(r.error().message);
      std::cout << "wrote " << dir << "/crl.pem\n";
      return 0;
    }
    if (pki_subs().list->parsed()) {
      auto r = tls::pki::list(dir);
      if (!r) return fail(r.error().message);
      std::cout << "NAME\tSERIAL\tNOT_AFTER\tSTATUS\n";
      for (const auto& c : *r) {
        std::cout << c.name << "\t" << c.serial << "\t" << utc_date(c.not_after) << "\t"
                  << (c.revoked ? "revoked" : "valid") << "\n";
      }
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
  auto* revoke = pki->add_subcommand("revoke", "revoke NAME's certificate (or a serial) and rewrite crl.pem");
  revoke->add_option("dir", dir, "CA directory")->required();
  revoke->add_option("name", name, "certificate name or hex serial")->required();
  pki_subs().revoke = revoke;
  auto* list = pki->add_subcommand("list", "list issued certificates: name, serial, expiry, revoked");
  list->add_option("dir", dir, "CA directory")->required();
  pki_subs().list = list;
  auto* crl = pki->add_subcommand("crl", "re-sign DIR/crl.pem from DIR/revoked.txt");
  crl->add_option("dir", dir, "CA directory")->required();
  pki_subs().crl = crl;
}

}  // namespace ptun::cli
