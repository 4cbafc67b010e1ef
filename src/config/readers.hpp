// Internal to the config module: table -> struct readers for each role, and the keys both roles
// share.
#pragma once
#include <string>

#include "config/config.hpp"
#include "config/pem_text.hpp"
#include "config/toml_reader.hpp"
#include "config/validate.hpp"

namespace ptun::config {

// `base_dir` resolves relative paths ("" leaves them relative); errors name `name`.
Result<ServerConfig> read_server(const toml::table& root, const std::string& name,
                                 const std::string& base_dir, bool check_files);
Result<ClientConfig> read_client(const toml::table& root, const std::string& name,
                                 const std::string& base_dir, bool check_files);

// One [[on_demand]] table of the client (on_demand.cpp).
void read_on_demand_rule(TableReader& t, ondemand::Rule& rule);
// The client's [[app_rule]] entries and [flows] table (app_rules.cpp).
void read_app_rules(TableReader& r, ClientConfig& c);

// Client userspace mode: [proxy] and [[forward]] (userspace_config.cpp).
void read_userspace_keys(TableReader& r, ClientConfig& c);

// Keys with the same meaning in both roles' top level: ca, cert, key, control_socket,
// control_group, state_dir, log_level, user, group, keep_capabilities, metrics_listen.
template <typename Config>
void read_shared_keys(TableReader& r, Config& c, const std::string& base_dir, bool check_files) {
  auto path_key = [&](std::string_view key, std::string& out, bool must_be_file) {
    r.string(
        key,
        [&](const std::string& s) {
          std::string why = resolve_path(base_dir, s, &out);
          if (why.empty() && must_be_file && check_files) why = check_readable_file(out);
          return why;
        },
        must_be_file);
  };
  if constexpr (requires { c.key_pem; }) {
    // The client: each credential as a file or inline PEM (a one-file profile).
    auto credential = [&](std::string_view key, std::string& path, std::string& pem,
                          std::initializer_list<std::string_view> labels) {
      const std::string pem_key = std::string(key) + "_pem";
      const bool has_path = r.get(key) != nullptr, has_pem = r.get(pem_key) != nullptr;
      if (has_path && has_pem) {
        r.fail_at(pem_key, "give either " + std::string(key) + " (a file) or " + pem_key + " (inline PEM), not both");
      } else if (has_pem) {
        r.string(pem_key, [&](const std::string& s) {
          pem = s;
          return check_pem(s, labels);
        });
      } else if (!r.failed()) {
        if (!has_path) r.fail_here(std::string(key) + ": required key is missing (or " + pem_key + " with inline PEM)");
        else path_key(key, path, true);
      }
    };
    credential("ca", c.ca, c.ca_pem, {kPemCertificate});
    credential("cert", c.cert, c.cert_pem, {kPemCertificate});
    credential("key", c.key, c.key_pem, {kPemEcKey, kPemPkcs8Key});
  } else {
    path_key("ca", c.ca, true);
    path_key("cert", c.cert, true);
    path_key("key", c.key, true);
  }
  path_key("control_socket", c.control_socket, false);
  path_key("state_dir", c.state_dir, false);
  r.string("control_group", [&](const std::string& s) {
    c.control_group = s;
    return check_group_name(s);
  });
  r.string("log_level", [&](const std::string& s) {
    c.log_level = s;
    return check_log_level(s);
  });
  r.string("user", [&](const std::string& s) {
    c.user = s;
    return check_group_name(s);  // same syntax as a group name
  });
  r.string("group", [&](const std::string& s) {
    c.group = s;
    return check_group_name(s);
  });
  if (r.get("keep_capabilities")) {
    c.keep_capabilities.clear();
    r.string_array("keep_capabilities", 8, [&](const std::string& s) {
      std::string why = check_capability(s);
      return why.empty() ? append_unique(c.keep_capabilities, s, s) : why;
    });
  }
  if (!c.group.empty() && c.user.empty() && !r.failed()) r.fail_at("group", "has no effect without user");
  r.string("metrics_listen", [&](const std::string& s) {
    Endpoint ep;
    std::string why = parse_loopback_listen(s, &ep);
    if (why.empty()) c.metrics_listen = ep;
    return why;
  });
}

}  // namespace ptun::config
