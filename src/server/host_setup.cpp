#include "server/host_setup.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/log.hpp"

namespace ptun::server {
namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::from_errno("cannot read " + path, errno);
  std::string v;
  std::getline(in, v);
  return v;
}

Result<void> write_file(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  if (!out || !(out << value << "\n") || !out.flush())
    return Error::from_errno("cannot write " + path, errno);
  return {};
}

}  // namespace

Result<void> nft_apply(const std::string& script) {
  int in_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  if (::pipe2(err_pipe, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork", errno);
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(err_pipe[1], 2);
    ::dup2(err_pipe[1], 1);
    const char* paths[] = {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"};
    for (const char* p : paths) ::execl(p, "nft", "-f", "-", static_cast<char*>(nullptr));
    std::fprintf(stderr, "nft not found (install the nftables package)\n");
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(err_pipe[1]);
  ssize_t w = ::write(in_pipe[1], script.data(), script.size());
  ::close(in_pipe[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = ::read(err_pipe[0], buf, sizeof buf)) > 0) err.append(buf, size_t(n));
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (w != ssize_t(script.size()) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    for (auto& c : err) if (c == '\n') c = ' ';
    return Error(Errc::io, "nft failed: " + err);
  }
  return {};
}

std::string masquerade_table(const std::string& tun_iface) {
  std::string table = "ptun_" + tun_iface;
  for (auto& c : table)
    if (c == '-' || c == '.') c = '_';
  return table;
}

Result<void> HostSetup::enable_forwarding(bool v4, bool v6) {
  std::vector<std::string> paths;
  if (v4) paths.push_back("/proc/sys/net/ipv4/ip_forward");
  if (v6) paths.push_back("/proc/sys/net/ipv6/conf/all/forwarding");
  for (const auto& p : paths) {
    auto old = read_file(p);
    if (!old) return old.error();
    if (*old == "1") continue;
    if (auto r = write_file(p, "1"); !r) return r;
    sysctls_.push_back({p, *old});
    LOG_INFO("server: enabled forwarding (%s)", p.c_str());
  }
  return {};
}

Result<void> HostSetup::enable_masquerade(const std::string& table, const std::string& tun_iface,
                                          const std::vector<Cidr>& pools,
                                          const std::vector<std::string>& out_ifaces) {
  std::ostringstream s;
  // add+delete+create in one transaction: replaces a leftover table from a crashed run atomically.
  s << "add table inet " << table << "\ndelete table inet " << table << "\n";
  s << "table inet " << table << " {\n  chain postrouting {\n"
    << "    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& p : pools) {
    const char* fam = p.addr.is_v4() ? "ip" : "ip6";
    if (out_ifaces.empty()) {
      s << "    " << fam << " saddr " << p.str() << " oifname != \"" << tun_iface << "\" masquerade\n";
    } else {
      for (const auto& o : out_ifaces)
        s << "    " << fam << " saddr " << p.str() << " oifname \"" << o << "\" masquerade\n";
    }
  }
  s << "  }\n}\n";
  if (auto r = nft_apply(s.str()); !r) return r;
  nft_table_ = table;
  LOG_INFO("server: masquerade on (nftables table inet %s)", table.c_str());
  return {};
}

void HostSetup::undo() {
  if (!nft_table_.empty()) {
    auto r = nft_apply("delete table inet " + nft_table_ + "\n");
    if (!r) LOG_WARN("server: removing nftables table %s: %s", nft_table_.c_str(), r.error().message.c_str());
    nft_table_.clear();
  }
  for (auto it = sysctls_.rbegin(); it != sysctls_.rend(); ++it) {
    auto r = write_file(it->path, it->old_value);
    if (!r) LOG_WARN("server: restoring %s: %s", it->path.c_str(), r.error().message.c_str());
  }
  sysctls_.clear();
}

}  // namespace ptun::server
