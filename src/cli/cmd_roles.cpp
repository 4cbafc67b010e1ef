// `ptun server`, `ptun client`, `ptun check-config`.
#include <sys/stat.h>

#include <iostream>

#include "cli/command.hpp"
#include "client/client.hpp"
#include "common/log.hpp"
#include "common/privileges.hpp"
#include "config/config.hpp"
#include "core/core.hpp"
#include "server/server.hpp"

namespace ptun::cli {
namespace {

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// Private keys must not be readable by others: refuse to start (with the reason) otherwise.
// Group access is refused too unless the group is root's: ptun reads the key as root before it
// drops privileges, so no other group ever needs it (0640 root:root is accepted, 0640 root:ssl-cert
// is not).
// A client profile with key_pem is held to the same rules: the config file is the key file then.
Result<void> check_key_mode(const std::string& key, const std::string& what) {
  struct stat st;
  if (::stat(key.c_str(), &st) < 0) return Error::from_errno("cannot stat key " + key, errno);
  if (st.st_mode & (S_IROTH | S_IWOTH))
    return Error(Errc::auth, what + " is world-accessible (chmod 600 it)");
  if ((st.st_mode & (S_IRGRP | S_IWGRP)) && st.st_gid != 0)
    return Error(Errc::auth, what + " is accessible by group " + std::to_string(st.st_gid) + " (chmod 600 it)");
  return {};
}
Result<void> check_key_mode(const config::ServerConfig& c) { return check_key_mode(c.key, "private key " + c.key); }
Result<void> check_key_mode(const config::ClientConfig& c) {
  if (!c.key_pem.empty()) return check_key_mode(c.path, "config file " + c.path + " (it holds key_pem, a private key)");
  return check_key_mode(c.key, "private key " + c.key);
}

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
  if (auto r = check_key_mode(*cfg); !r) return fail(r.error().message);
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
  if (auto r = check_key_mode(*cfg); !r) return fail(r.error().message);
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
  if (*role == config::Role::server) {
    auto cfg = config::load_server(path, strict);
    if (!cfg) return fail(cfg.error().message);
    if (!strict) note_files({cfg->ca, cfg->cert, cfg->key});
    std::cout << "# " << path << ": valid server config\n" << config::to_toml(*cfg);
  } else {
    auto cfg = config::load_client(path, strict);
    if (!cfg) return fail(cfg.error().message);
    if (!strict) {
      std::vector<std::string> files;
      for (const auto& [file, pem] : {std::pair{&cfg->ca, &cfg->ca_pem}, {&cfg->cert, &cfg->cert_pem}, {&cfg->key, &cfg->key_pem}})
        if (pem->empty()) files.push_back(*file);
      note_files(files);
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
  check->add_flag("--strict", strict, "also require the certificate and key files to exist");
}

}  // namespace ptun::cli
