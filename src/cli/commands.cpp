// ptun's command line: parses argv with CLI11 and runs one command. Exit codes: 0 success,
// 1 runtime failure (bad config, refused certificate, ...), 2 usage error (unknown flag, missing file).
#include "cli/commands.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/status_format.hpp"
#include "client/client.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "control/control_client.hpp"
#include "core/core.hpp"
#include "server/server.hpp"
#include "tls/pki.hpp"

namespace ptun::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "ptun: %s\n", msg.c_str());
  return code;
}

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

int cmd_check_config(const std::string& path) {
  if (!file_exists(path)) return fail("config file " + path + " not found", 2);
  auto role = config::detect_role_file(path);
  if (!role) return fail(role.error().message);
  if (*role == config::Role::server) {
    auto cfg = config::load_server(path);
    if (!cfg) return fail(cfg.error().message);
    std::cout << "# " << path << ": valid server config\n" << config::to_toml(*cfg);
  } else {
    auto cfg = config::load_client(path);
    if (!cfg) return fail(cfg.error().message);
    std::cout << "# " << path << ": valid client config\n" << config::to_toml(*cfg);
  }
  return 0;
}

// The control socket to talk to: --socket, else the one in --config, else the default.
std::string socket_path(const std::string& sock, const std::string& cfg_path, const char* fallback) {
  if (!sock.empty()) return sock;
  if (!cfg_path.empty()) {
    auto role = config::detect_role_file(cfg_path);
    if (role && *role == config::Role::server) {
      if (auto c = config::load_server(cfg_path, false)) return c->control_socket;
    } else if (role) {
      if (auto c = config::load_client(cfg_path, false)) return c->control_socket;
    }
  }
  return fallback;
}

int cmd_control(const std::string& path, const nlohmann::json& req, bool json,
                void (*print)(const nlohmann::json&)) {
  auto r = control::call(path, req);
  if (!r) return fail(r.error().message);
  if (json || !print) {
    std::cout << r->dump(2) << "\n";
  } else {
    print(*r);
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"ptun: a DTLS packet tunnel for Linux (client and server in one binary)", "ptun"};
  app.require_subcommand(1);
  std::string level;
  app.add_option("--log-level", level, "error, warn, info or debug (overrides the config)");

  std::string config_path, sock, name, dir;
  bool json = false, server_cert = false;
  uint32_t days = 825;
  std::vector<std::string> dns_names;

  auto* server = app.add_subcommand("server", "run the server");
  server->add_option("-c,--config", config_path, "server config file")->required();
  auto* client = app.add_subcommand("client", "run the client");
  client->add_option("-c,--config", config_path, "client config file")->required();
  auto* check = app.add_subcommand("check-config", "validate a config file and print the effective config");
  check->add_option("file", config_path, "config file")->required();

  auto* status = app.add_subcommand("status", "show the tunnel's state (client or server)");
  status->add_flag("--json", json, "machine-readable output");
  status->add_option("-s,--socket", sock, "control socket");
  status->add_option("-c,--config", config_path, "take the control socket from this config");
  auto* sessions = app.add_subcommand("sessions", "list the server's sessions");
  sessions->add_flag("--json", json, "machine-readable output");
  sessions->add_option("-s,--socket", sock, "control socket");
  sessions->add_option("-c,--config", config_path, "take the control socket from this config");
  auto* kick = app.add_subcommand("kick", "close a peer's session on the server");
  kick->add_option("name", name, "peer name")->required();
  kick->add_option("-s,--socket", sock, "control socket");
  kick->add_option("-c,--config", config_path, "take the control socket from this config");
  auto* down = app.add_subcommand("down", "disconnect and stop a running client");
  down->add_option("-s,--socket", sock, "control socket");
  down->add_option("-c,--config", config_path, "take the control socket from this config");

  auto* pki = app.add_subcommand("pki", "certificate authority (no openssl needed)");
  pki->require_subcommand(1);
  auto* pki_init = pki->add_subcommand("init", "create a CA in DIR");
  pki_init->add_option("dir", dir, "directory")->required();
  auto* pki_issue = pki->add_subcommand("issue", "issue a certificate for NAME from the CA in DIR");
  pki_issue->add_option("dir", dir, "CA directory")->required();
  pki_issue->add_option("name", name, "certificate name (peer name or server name)")->required();
  pki_issue->add_flag("--server", server_cert, "a server certificate (serverAuth, subjectAltName)");
  pki_issue->add_option("--days", days, "validity in days")->check(CLI::Range(1, 36500));
  pki_issue->add_option("--dns", dns_names, "extra DNS names for a server certificate");

  app.add_subcommand("version", "print the version");
  auto* help = app.add_subcommand("help", "show this help");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    return fail(what + " (see 'ptun help')", 2);
  }
  if (!level.empty()) {
    log::Level l;
    if (!log::parse_level(level.c_str(), &l)) return fail("unknown log level '" + level + "'", 2);
    log::set_level(l);
  }

  if (*help) {
    std::cout << app.help();
    return 0;
  }
  if (app.got_subcommand("version")) {
    std::cout << "ptun " << kVersion << "\n";
    return 0;
  }
  if (*server) return cmd_server(config_path);
  if (*client) return cmd_client(config_path);
  if (*check) return cmd_check_config(config_path);
  if (*status)
    return cmd_control(socket_path(sock, config_path, "/run/ptun/client.sock"), {{"cmd", "status"}}, json,
                       print_status);
  if (*sessions)
    return cmd_control(socket_path(sock, config_path, "/run/ptun/server.sock"), {{"cmd", "sessions"}}, json,
                       print_sessions);
  if (*kick)
    return cmd_control(socket_path(sock, config_path, "/run/ptun/server.sock"), {{"cmd", "kick"}, {"peer", name}},
                       true, nullptr);
  if (*down)
    return cmd_control(socket_path(sock, config_path, "/run/ptun/client.sock"), {{"cmd", "down"}}, true, nullptr);
  if (*pki_init) {
    SystemRng rng;
    if (auto r = tls::pki::init_ca(dir, "ptun CA", rng); !r) return fail(r.error().message);
    std::cout << "created CA in " << dir << " (ca.crt, ca.key)\n";
    return 0;
  }
  if (*pki_issue) {
    SystemRng rng;
    tls::pki::IssueOptions o;
    o.server = server_cert;
    o.days = days;
    o.dns_names = dns_names;
    if (auto r = tls::pki::issue(dir, name, o, rng); !r) return fail(r.error().message);
    std::cout << "issued " << dir << "/" << name << ".crt and " << name << ".key\n";
    return 0;
  }
  return fail("no command (see 'ptun help')", 2);
}

}  // namespace ptun::cli
