// `ptun pki init DIR`, `ptun pki issue DIR NAME [--server] [--profile SERVER]`, `ptun pki revoke DIR NAME|SERIAL`,
// `ptun pki list DIR`, `ptun pki crl DIR`: a CA, certificates and a CRL with mbedTLS.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/command.hpp"
#include "common/rng.hpp"
#include "common/utc_time.hpp"
#include "config/config.hpp"
#include "config/validate.hpp"
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

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno("read " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error(Errc::io, "read " + path + " failed");
  return ss.str();
}

// --profile SERVER[:PORT]: where the profile goes, and the server_name it will carry (the
// --server-name given, else the host of SERVER when it is a name; an IP address names no
// certificate). Checked before anything is issued.
Result<config::Profile> profile_plan(const std::string& server, const std::string& server_name) {
  config::Profile p;
  std::string host;
  uint16_t port = 4433;
  if (auto why = config::parse_server_address(server, &host, &port); !why.empty())
    return Error(Errc::invalid_argument, "--profile " + server + ": " + why);
  p.server = server;
  p.server_name = server_name;
  if (p.server_name.empty()) {
    if (IpAddr::parse(host))
      return Error(Errc::invalid_argument, "--profile " + server +
                                               ": an IP address; give the server certificate's name with --server-name");
    p.server_name = host;
  }
  if (auto why = config::check_host(p.server_name); !why.empty())
    return Error(Errc::invalid_argument, "--server-name: " + why);
  return p;
}

// DIR/NAME.toml, mode 0600, from the files `pki issue` has just written; checked by the same
// parser the client uses before it is written.
Result<std::string> write_profile(const std::string& dir, const std::string& name, config::Profile p) {
  auto ca = read_text(dir + "/ca.crt");
  if (!ca) return ca.error();
  auto crt = read_text(dir + "/" + name + ".crt");
  if (!crt) return crt.error();
  auto key = read_text(dir + "/" + name + ".key");
  if (!key) return key.error();
  p.ca_pem = std::move(*ca);
  p.cert_pem = std::move(*crt);
  p.key_pem = std::move(*key);
  const std::string path = dir + "/" + name + ".toml";
  std::string text = config::profile_toml(p, "ptun client profile for '" + name + "'");
  auto wipe = [](std::string& s) { std::fill(s.begin(), s.end(), '\0'); };
  wipe(p.key_pem);
  auto parsed = config::parse_client(text, path, false);
  Result<void> r = parsed ? tls::pki::write_private_file(path, text)
                          : Result<void>(Error(Errc::invalid_argument, "profile does not parse: " + parsed.error().message));
  wipe(text);
  if (!r) return r.error();
  return path;
}

std::string utc_date(int64_t t) { return t == 0 ? "-" : utc_iso_text(t); }
}  // namespace

void register_pki_commands(CommandSet& cmds) {
  static std::string dir, name, ca_name = "ptun CA", profile_server, profile_server_name;
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
      std::cout << "NAME\tSERIAL\tNOT_AFTER\tFINGERPRINT\tSTATUS\n";
      for (const auto& c : *r) {
        std::cout << c.name << "\t" << c.serial << "\t" << utc_date(c.not_after) << "\t"
                  << (c.fingerprint ? fingerprint_str(*c.fingerprint) : "-") << "\t"
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
    std::optional<config::Profile> profile;
    if (!profile_server.empty()) {
      auto p = profile_plan(profile_server, profile_server_name);
      if (!p) return fail(p.error().message, 2);
      if (o.server) return fail("--profile is for client certificates, not with --server", 2);
      struct stat st;
      if (::lstat((dir + "/" + name + ".toml").c_str(), &st) == 0)
        return fail(dir + "/" + name + ".toml already exists");
      profile = std::move(*p);
    }
    if (auto r = tls::pki::issue(dir, name, o, rng); !r) return fail(r.error().message);
    std::cout << "issued " << dir << "/" << name << ".crt and " << name << ".key\n";
    auto fp = tls::pki::cert_fingerprint(dir + "/" + name + ".crt");
    if (!fp) return fail(fp.error().message);
    std::cout << "fingerprint " << fingerprint_str(*fp) << " (for a [[peer]] fingerprint pin)\n";
    if (profile) {
      auto path = write_profile(dir, name, std::move(*profile));
      if (!path) return fail(path.error().message);
      std::cout << "wrote the client profile " << *path << " (mode 0600; copy it to the client)\n";
    }
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
  issue->add_option("--profile", profile_server,
                    "also write DIR/NAME.toml, a one-file client profile (CA, certificate and key inline) "
                    "for the server at SERVER_ADDR[:PORT]");
  issue->add_option("--server-name", profile_server_name,
                    "the server certificate's name for --profile (default: the host of SERVER_ADDR)");
  auto* revoke = pki->add_subcommand("revoke", "revoke NAME's certificate (or a serial) and rewrite crl.pem");
  revoke->add_option("dir", dir, "CA directory")->required();
  revoke->add_option("name", name, "certificate name or hex serial")->required();
  pki_subs().revoke = revoke;
  auto* list = pki->add_subcommand("list", "list issued certificates: name, serial, expiry, SHA-256 fingerprint, revoked");
  list->add_option("dir", dir, "CA directory")->required();
  pki_subs().list = list;
  auto* crl = pki->add_subcommand("crl", "re-sign DIR/crl.pem from DIR/revoked.txt");
  crl->add_option("dir", dir, "CA directory")->required();
  pki_subs().crl = crl;
}

}  // namespace ptun::cli
