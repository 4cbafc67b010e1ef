// `ptun server`, `ptun client`, `ptun check-config`.
#include <sys/stat.h>

#include <iostream>

#include "cli/command.hpp"
#include "client/client.hpp"
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
Result<void> check_key_mode(const std::string& key) {
  struct stat st;
  if (::stat(key.c_str(), &st) < 0) return Error::from_errno("cannot stat key " + key, errno);
  if (st.st_mode & S_IROTH)
    return Error(Errc::auth, "private key " + key + " is world-readable (chmod 600 it)");
  return {};
}

int cmd_server(const std::string& path) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto cfg = config::load_server(path);
  if (!cfg) return fail(cfg.error().message);
  if (auto r = check_key_mode(cfg->key); !r) return fail(r.error().message);
  core::Loop loop;
  auto s = server::Server::create(loop, std::move(*cfg));
  if (!s) return fail(s.error().message);
  int rc = core::run_until_complete(loop, (*s)->run());
  s->reset();
  return rc;
}

int cmd_client(const std::string& path) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto cfg = config::load_client(path);
  if (!cfg) return fail(cfg.error().message);
  if (auto r = check_key_mode(cfg->key); !r) return fail(r.error().message);
  core::Loop loop;
  auto c = client::Client::create(loop, std::move(*cfg));
  if (!c) return fail(c.error().message);
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
    if (!strict) note_files({cfg->ca, cfg->cert, cfg->key});
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
