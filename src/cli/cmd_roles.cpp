// `ptun server`, `ptun client`, `ptun check-config`.
#include <sys/stat.h>

#include <array>
#include <functional>
#include <iostream>

#include "cli/command.hpp"
#include "client/client.hpp"
#include "common/log.hpp"
#include "common/privileges.hpp"
#include "config/config.hpp"
#include "core/core.hpp"
#include "server/server.hpp"
#include "tls/credential_checks.hpp"

namespace ptun::cli {
namespace {

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// The daemons' own credential checks (tls/credential_checks.hpp), also run by check-config
// --strict: the key's permission rules (a client profile with key_pem: the config file's), the
// credentials load (CA parses, the key matches the certificate); errors refuse to start, warnings
// (chain, expiry) are logged by the daemons and printed by check-config.
tls::KeyFile key_file(const config::ServerConfig& c) { return {c.key, "private key " + c.key}; }
tls::KeyFile key_file(const config::ClientConfig& c) {
  if (!c.key_pem.empty()) return {c.path, "config file " + c.path + " (it holds key_pem, a private key)"};
  return {c.key, "private key " + c.key};
}
std::array<tls::Credentials::Source, 3> sources(const config::ServerConfig& c) {
  return {tls::Credentials::Source{c.ca, "", ""}, {c.cert, "", ""}, {c.key, "", ""}};
}
std::array<tls::Credentials::Source, 3> sources(const config::ClientConfig& c) {
  return {tls::Credentials::Source{c.ca, c.ca_pem, c.path + ": ca_pem"}, {c.cert, c.cert_pem, c.path + ": cert_pem"},
          {c.key, c.key_pem, c.path + ": key_pem"}};
}
template <typename Config>
Result<void> preflight_credentials(const Config& c, const std::function<void(const std::string&)>& warn) {
  auto s = sources(c);
  auto checked = tls::load_checked_credentials(s[0], s[1], s[2], key_file(c));
  if (!checked) return checked.error();
  for (const auto& w : checked->warnings) warn(w);
  return {};
}

void log_warning(const std::string& w) { LOG_WARN("%s", w.c_str()); }

// After setup: switch to `user` keeping only the configured capabilities (no-op if user = "").
// `hand_over`: what the unprivileged process must still write. The server's state_dir (leases);
// never the client's, whose netcfg journal root replays (journal.hpp): the client keeps writing
// it through the descriptor it opened as root.
template <typename Config>
Result<void> drop_to_user(const Config& cfg, std::vector<std::string> hand_over) {
  if (cfg.user.empty()) return {};
  PrivilegeDrop d{cfg.user, cfg.group, cfg.keep_capabilities, std::move(hand_over)};
  if (auto r = drop_privileges(d); !r) return r;
  std::string caps;
  for (const auto& c : cfg.keep_capabilities) caps += (caps.empty() ? "" : ",") + c;
  LOG_INFO("dropped privileges: user %s, capabilities %s", cfg.user.c_str(), caps.empty() ? "none" : caps.c_str());
  return {};
}

int cmd_server(const std::string& path) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto cfg = config::load_server(path);
  if (!cfg) return fail(cfg.error().message);
  if (auto r = preflight_credentials(*cfg, log_warning); !r) return fail(r.error().message);
  core::Loop loop;
  auto drop = *cfg;
  auto s = server::Server::create(loop, std::move(*cfg));
  if (!s) return fail(s.error().message);
  if (auto r = drop_to_user(drop, {drop.state_dir}); !r) return fail(r.error().message);
  int rc = core::run_until_complete(loop, (*s)->run());
  s->reset();
  return rc;
}

int cmd_client(const std::string& path) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto cfg = config::load_client(path);
  if (!cfg) return fail(cfg.error().message);
  if (auto r = preflight_credentials(*cfg, log_warning); !r) return fail(r.error().message);
  core::Loop loop;
  auto drop = *cfg;
  auto c = client::Client::create(loop, std::move(*cfg));
  if (!c) return fail(c.error().message);
  if (auto r = drop_to_user(drop, {}); !r) return fail(r.error().message);
  int rc = core::run_until_complete(loop, (*c)->run());
  c->reset();
  return rc;
}

// Validates everything; certificate/key files that do not exist (yet) are reported as notes
// unless --strict, so example configs can be checked on any machine.
int cmd_check_config(const std::string& path, bool strict) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto role = config::detect_role_file(path);
  if (!role) return fail(role.error().message);
  auto note_files = [&](const std::vector<std::string>& files) {
    for (const auto& f : files)
      if (!file_exists(f)) std::cerr << "ptun: note: " << f << " does not exist yet (needed at start)\n";
  };
  auto warn_note = [](const std::string& w) { std::cerr << "ptun: warning: " << w << "\n"; };
  if (*role == config::Role::server) {
    auto cfg = config::load_server(path, strict);
    if (!cfg) return fail(cfg.error().message);
    if (!strict) note_files({cfg->ca, cfg->cert, cfg->key});
    if (strict) {
      if (auto r = preflight_credentials(*cfg, warn_note); !r) return fail(r.error().message);
    }
    std::cout << "# " << path << ": valid server config\n" << config::to_toml(*cfg);
  } else {
    auto cfg = config::load_client(path, strict);
    if (!cfg) return fail(cfg.error().message);
    if (!strict) {
      std::vector<std::string> files;
      for (const auto& [file, pem] : {std::pair{&cfg->ca, &cfg->ca_pem}, {&cfg->cert, &cfg->cert_pem}, {&cfg->key, &cfg->key_pem}})
        if (pem->empty()) files.push_back(*file);
      note_files(files);
    } else if (auto r = preflight_credentials(*cfg, warn_note); !r) {
      return fail(r.error().message);
    }
    std::cout << "# " << path << ": valid client config\n" << config::to_toml(*cfg);
  }
  return 0;
}

}  // namespace

void register_role_commands(CommandSet& cmds) {
  static std::string server_cfg, client_cfg, check_file;
  static bool strict = false;
  cmds.add("server", "run the server", [] { return cmd_server(server_cfg); })
      ->add_option("-c,--config", server_cfg, "server config file")
      ->required();
  cmds.add("client", "run the client", [] { return cmd_client(client_cfg); })
      ->add_option("-c,--config", client_cfg, "client config file")
      ->required();
  auto* check = cmds.add("check-config", "validate a config file and print the effective config",
                         [] { return cmd_check_config(check_file, strict); });
  check->add_option("file", check_file, "config file")->required();
  check->add_flag("--strict", strict, "also run the daemon's checks on the certificate and key (they exist, the key matches the certificate and is not readable by others, the CA loads; chain and expiry warnings)");
}

}  // namespace ptun::cli
