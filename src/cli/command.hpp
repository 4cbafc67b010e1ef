// How the CLI is put together: each feature registers its subcommands (CLI11) with a handler;
// commands.cpp parses argv and runs the handler of the subcommand that was given.
// Handlers return the exit code: 0 success, 1 runtime failure, 2 usage error.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ptun::cli {

class CommandSet {
 public:
  explicit CommandSet(CLI::App& app) : app_(app) {}
  CLI::App& app() { return app_; }
  // Adds a subcommand whose handler runs when it is selected.
  CLI::App* add(const std::string& name, const std::string& help, std::function<int()> run) {
    CLI::App* sub = app_.add_subcommand(name, help);
    handlers_.push_back({sub, std::move(run)});
    return sub;
  }
  // The handler of the parsed subcommand, or nullptr.
  const std::function<int()>* selected() const {
    for (const auto& h : handlers_)
      if (h.sub->parsed()) return &h.run;
    return nullptr;
  }

 private:
  struct Handler {
    CLI::App* sub;
    std::function<int()> run;
  };
  CLI::App& app_;
  std::vector<Handler> handlers_;
};

// One line to stderr ("ptun: msg"), returns `code`.
int fail(const std::string& msg, int code = 1);

// Feature registrations (one file each: cmd_<feature>.cpp).
void register_role_commands(CommandSet&);     // server, client, check-config
void register_control_commands(CommandSet&);  // status, sessions, kick, down, up, stop, reload, stats, message
void register_pki_commands(CommandSet&);      // pki init, pki issue
void register_cleanup_commands(CommandSet&);  // cleanup (netcfg journal replay)
void register_flows_commands(CommandSet&);    // flows, exec (per-app VPN)
void register_doctor_commands(CommandSet&);   // doctor (leaks, routes, DNS, kill switch, cert, MTU)

}  // namespace ptun::cli
