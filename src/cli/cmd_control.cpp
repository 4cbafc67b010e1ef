// Commands that talk to a running ptun over its control socket: status, sessions, kick, down, up,
// stop, reload, stats, message.
#include <sys/stat.h>

#include <iostream>

#include "cli/command.hpp"
#include "cli/status_format.hpp"
#include "config/config.hpp"
#include "control/control_client.hpp"

namespace ptun::cli {
namespace {

struct Target {
  std::string socket, config;
};

void add_target_options(CLI::App* sub, Target& t) {
  sub->add_option("-s,--socket", t.socket, "control socket");
  sub->add_option("-c,--config", t.config, "take the control socket from this config");
}

// The default socket of a command either role answers (status, stop, reload): the client's if it
// exists, else the server's if that exists (`ptun status` on a server just works), else the
// client's, which then names the missing file in the error.
const char* either_role() {
  struct stat st {};
  if (::stat("/run/ptun/client.sock", &st) != 0 && ::stat("/run/ptun/server.sock", &st) == 0 && S_ISSOCK(st.st_mode))
    return "/run/ptun/server.sock";
  return "/run/ptun/client.sock";
}

// The control socket to talk to: --socket, else the one in --config, else the default.
std::string socket_path(const Target& t, const char* fallback) {
  if (!t.socket.empty()) return t.socket;
  if (!t.config.empty()) {
    auto role = config::detect_role_file(t.config);
    if (role && *role == config::Role::server) {
      if (auto c = config::load_server(t.config, false)) return c->control_socket;
    } else if (role) {
      if (auto c = config::load_client(t.config, false)) return c->control_socket;
    }
  }
  return fallback;
}

int call(const std::string& path, const nlohmann::json& req, bool json, void (*print)(const nlohmann::json&)) {
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

void register_control_commands(CommandSet& cmds) {
  static Target status_t, sessions_t, kick_t, down_t;
  static bool status_json = false, sessions_json = false;
  static std::string kick_name;
  auto* status = cmds.add("status", "show the tunnel's state (client or server)", [] {
    return call(socket_path(status_t, either_role()), {{"cmd", "status"}}, status_json, print_status);
  });
  status->add_flag("--json", status_json, "machine-readable output");
  add_target_options(status, status_t);
  auto* sessions = cmds.add("sessions", "list the server's sessions", [] {
    return call(socket_path(sessions_t, "/run/ptun/server.sock"), {{"cmd", "sessions"}}, sessions_json,
                print_sessions);
  });
  sessions->add_flag("--json", sessions_json, "machine-readable output");
  add_target_options(sessions, sessions_t);
  auto* kick = cmds.add("kick", "close a peer's session on the server", [] {
    return call(socket_path(kick_t, "/run/ptun/server.sock"), {{"cmd", "kick"}, {"peer", kick_name}}, true, nullptr);
  });
  kick->add_option("name", kick_name, "peer name")->required();
  add_target_options(kick, kick_t);
  // down/up keep the client process running (disconnected / connected); stop ends it.
  auto* down = cmds.add("down", "disconnect a running client (it stays running, disconnected)", [] {
    return call(socket_path(down_t, "/run/ptun/client.sock"), {{"cmd", "down"}}, true, nullptr);
  });
  add_target_options(down, down_t);
  static Target up_t, stop_t, reload_t, stats_t, message_t;
  auto* up = cmds.add("up", "connect a running client (after `ptun down`, or with on-demand rules)", [] {
    return call(socket_path(up_t, "/run/ptun/client.sock"), {{"cmd", "up"}}, true, nullptr);
  });
  add_target_options(up, up_t);
  auto* stopc = cmds.add("stop", "disconnect and end a running client or server", [] {
    return call(socket_path(stop_t, either_role()), {{"cmd", "stop"}}, true, nullptr);
  });
  add_target_options(stopc, stop_t);
  auto* reload = cmds.add("reload", "re-read the config of a running client or server (a broken one is refused)", [] {
    return call(socket_path(reload_t, either_role()), {{"cmd", "reload"}}, true, nullptr);
  });
  add_target_options(reload, reload_t);
  auto* stats = cmds.add("stats", "counters of a running client (JSON)", [] {
    return call(socket_path(stats_t, "/run/ptun/client.sock"), {{"cmd", "stats"}}, true, nullptr);
  });
  add_target_options(stats, stats_t);
  static std::string message_name, message_data;
  auto* message = cmds.add("message", "send a provider message to a running client (echo, path, network, history, settings)", [] {
    nlohmann::json req{{"cmd", "message"}, {"message", message_name}};
    if (!message_data.empty()) {
      auto d = nlohmann::json::parse(message_data, nullptr, false);
      if (d.is_discarded()) return fail("--data is not valid JSON", 2);
      req["data"] = d;
    }
    return call(socket_path(message_t, "/run/ptun/client.sock"), req, true, nullptr);
  });
  message->add_option("name", message_name, "message name")->required();
  message->add_option("--data", message_data, "JSON payload");
  add_target_options(message, message_t);
}

}  // namespace ptun::cli
