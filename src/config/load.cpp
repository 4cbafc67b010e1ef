// Entry points: read the file (bounded), screen the text, parse it, detect the role and hand the
// table to the role's reader.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/limits.hpp"
#include "config/readers.hpp"
#include "config/text_screen.hpp"

namespace ptun::config {

namespace {

// Reads at most kMaxConfigBytes + 1 bytes: enough to tell that a file is too large without
// reading all of it.
Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(path, errno);
  std::string text;
  char buf[16384];
  while (text.size() <= limits::kMaxConfigBytes) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Error::from_errno(path, e);
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
  }
  ::close(fd);
  return text;
}

// The directory that relative paths in `path` are resolved against: absolute, so that the
// daemon may change directory later.
std::string absolute_base_dir(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec) return base_dir_of(path);
  return base_dir_of(abs.lexically_normal().string());
}

Result<toml::table> screen_and_parse(std::string_view text, const std::string& name) {
  if (auto s = screen_toml_text(text, name); !s) return s.error();
  return parse_toml(text, name);
}

template <typename Config>
Result<Config> parse_as(std::string_view text, const std::string& name,
                        const std::string& base_dir, bool check_files,
                        Result<Config> (*read)(const toml::table&, const std::string&,
                                               const std::string&, bool)) {
  auto table = screen_and_parse(text, name);
  if (!table) return table.error();
  return read(*table, name, base_dir, check_files);
}

Result<Role> role_of(const toml::table& root, const std::string& name) {
  bool has_listen = root.contains("listen"), has_server = root.contains("server");
  if (has_listen && has_server)
    return Error(Errc::invalid_argument,
                 name + ":1:1: both 'listen' (server) and 'server' (client) keys are present");
  if (!has_listen && !has_server)
    return Error(Errc::invalid_argument,
                 name + ":1:1: neither 'listen' (a server's file) nor 'server' (a client's) "
                        "key is present");
  return has_listen ? Role::server : Role::client;
}

}  // namespace

Result<ServerConfig> parse_server(std::string_view text, const std::string& name,
                                  bool check_files) {
  return parse_as<ServerConfig>(text, name, base_dir_of(name), check_files, read_server);
}

Result<ClientConfig> parse_client(std::string_view text, const std::string& name,
                                  bool check_files) {
  return parse_as<ClientConfig>(text, name, base_dir_of(name), check_files, read_client);
}

Result<ServerConfig> load_server(const std::string& path, bool check_files) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_as<ServerConfig>(*text, path, absolute_base_dir(path), check_files, read_server);
}

Result<ClientConfig> load_client(const std::string& path, bool check_files) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_as<ClientConfig>(*text, path, absolute_base_dir(path), check_files, read_client);
}

Result<Role> detect_role(std::string_view text, const std::string& name) {
  auto table = screen_and_parse(text, name);
  if (!table) return table.error();
  return role_of(*table, name);
}

Result<Role> detect_role_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return detect_role(*text, path);
}

}  // namespace ptun::config
