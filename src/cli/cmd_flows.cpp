// `ptun flows [--json]`: the client's live flows with their app, state, bytes each way and age.
// `ptun exec --app NAME -- CMD...`: runs CMD in the app rule's own cgroup (/ptun/NAME in the
// cgroup v2 hierarchy), which the per-app rules match, so CMD's traffic follows that rule.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "apps/app_rules.hpp"
#include "apps/cgroup.hpp"
#include "cli/command.hpp"
#include "config/config.hpp"
#include "control/control_client.hpp"

namespace ptun::cli {
namespace {

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b < 10'000) std::snprintf(buf, sizeof buf, "%lluB", (unsigned long long)b);
  else if (b < 10'000'000) std::snprintf(buf, sizeof buf, "%.1fK", double(b) / 1e3);
  else if (b < 10'000'000'000ull) std::snprintf(buf, sizeof buf, "%.1fM", double(b) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fG", double(b) / 1e9);
  return buf;
}

std::string endpoint(const nlohmann::json& f, const char* addr, const char* port) {
  std::string a = f.value(addr, "");
  if (a.find(':') != std::string::npos) a = "[" + a + "]";
  return a + ":" + std::to_string(f.value(port, 0));
}

void print_flows(const nlohmann::json& r) {
  if (!r.value("classify", false)) {
    std::cout << "flow classification is off ([flows] classify = false)\n";
    return;
  }
  std::printf("%u live flows (capacity %u, evicted %llu, dropped by app rules %llu)\n",
              r.value("live", 0u), r.value("capacity", 0u), (unsigned long long)r.value("evicted", 0ull),
              (unsigned long long)r.value("drop_app_rule", 0ull));
  std::printf("%-5s %-44s %-12s %-7s %8s %8s %7s  %s\n", "PROTO", "FLOW", "STATE", "VERDICT", "OUT", "IN",
              "AGE", "APP");
  for (const auto& f : r.value("flows", nlohmann::json::array())) {
    std::string proto = f["proto"].is_string() ? f["proto"].get<std::string>() : std::to_string(f["proto"].get<int>());
    std::string flow = endpoint(f, "src", "sport") + " > " + endpoint(f, "dst", "dport");
    char age[16];
    std::snprintf(age, sizeof age, "%.1fs", double(f.value("age_ms", 0ull)) / 1000.0);
    std::printf("%-5s %-44s %-12s %-7s %8s %8s %7s  %s\n", proto.c_str(), flow.c_str(),
                f.value("state", "-").c_str(), f.value("verdict", "").c_str(),
                human_bytes(f.value("bytes_out", 0ull)).c_str(), human_bytes(f.value("bytes_in", 0ull)).c_str(), age,
                f.value("app", "unknown").c_str());
  }
}

int exec_app(const std::string& app, const std::string& config_path, std::vector<std::string>& cmd) {
  if (cmd.empty()) return fail("exec: no command given (ptun exec --app NAME -- CMD...)", 2);
  if (!config_path.empty()) {
    auto cfg = config::load_client(config_path, false);
    if (!cfg) return fail(cfg.error().message);
    bool known = false;
    for (const auto& r : cfg->app_rules) known = known || r.name == app;
    if (!known) return fail("exec: no [[app_rule]] named '" + app + "' in " + config_path, 2);
  }
  for (char ch : app)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-'))
      return fail("exec: '" + app + "' is not an app rule name", 2);
  if (app.empty() || app == "." || app == "..") return fail("exec: empty app name", 2);
  auto mount = apps::find_cgroup2();
  if (!mount) return fail("exec: " + mount.error().message);
  if (auto r = apps::join_cgroup(*mount, apps::exec_cgroup(app)); !r) return fail("exec: " + r.error().message);
  std::vector<char*> argv;
  for (auto& s : cmd) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  return fail("exec: " + cmd[0] + ": " + std::strerror(errno), 127);
}

}  // namespace

void register_flows_commands(CommandSet& cmds) {
  static std::string socket, config;
  static bool json = false;
  auto* flows = cmds.add("flows", "list the client's live flows (app, state, bytes, age)", [] {
    std::string path = socket;
    if (path.empty() && !config.empty()) {
      auto c = config::load_client(config, false);
      if (!c) return fail(c.error().message);
      path = c->control_socket;
    }
    if (path.empty()) path = "/run/ptun/client.sock";
    auto r = control::call(path, {{"cmd", "flows"}});
    if (!r) return fail(r.error().message);
    if (json) std::cout << r->dump(2) << "\n";
    else print_flows(*r);
    return 0;
  });
  flows->add_flag("--json", json, "machine-readable output");
  flows->add_option("-s,--socket", socket, "control socket");
  flows->add_option("-c,--config", config, "take the control socket from this config");

  static std::string app, exec_config;
  static std::vector<std::string> cmd;
  auto* ex = cmds.add("exec", "run a command in an app rule's cgroup (per-app VPN)",
                      [] { return exec_app(app, exec_config, cmd); });
  ex->add_option("--app", app, "the [[app_rule]] name")->required();
  ex->add_option("-c,--config", exec_config, "check that the client config has this app rule");
  ex->add_option("cmd", cmd, "command and arguments (after --)")->required();
  ex->prefix_command(false);
}

}  // namespace ptun::cli
