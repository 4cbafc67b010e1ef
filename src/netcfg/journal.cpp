#include "netcfg/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace ptun::netcfg {
namespace {

constexpr std::string_view kHeader = "ptun-netcfg-journal 1";

std::string pct(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  if (s.empty()) return "%";   // a lone % is the empty field
  for (unsigned char ch : s) {
    if (ch > 0x20 && ch < 0x7f && ch != '%') {
      out += char(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::optional<std::string> unpct(std::string_view s) {
  if (s == "%") return std::string();
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = nib(s[i + 1]), lo = nib(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> f;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string_view::npos) sp = line.size();
    f.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return f;
}

bool to_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t nv = v * 10 + uint64_t(c - '0');
    if (nv < v) return false;
    v = nv;
  }
  *out = v;
  return true;
}

std::string opt_addr(const std::optional<IpAddr>& a) { return a ? a->str() : "-"; }

Result<std::optional<IpAddr>> parse_opt_addr(std::string_view s) {
  if (s == "-") return std::optional<IpAddr>();
  auto a = IpAddr::parse(s);
  if (!a) return a.error();
  return std::optional<IpAddr>(*a);
}

Error bad(std::string_view line) {
  return Error(Errc::invalid_argument, "malformed journal entry: " + std::string(line.substr(0, 80)));
}

Result<void> write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("write", errno);
    s.remove_prefix(size_t(n));
  }
  return {};
}

Result<void> fsync_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open " + dir, errno);
  ::fsync(fd);
  ::close(fd);
  return {};
}

}  // namespace

std::string encode_change(const Change& c) {
  std::string s;
  switch (c.kind) {
    case Change::Kind::route: {
      const auto& r = c.route;
      s = "route " + r.dst.str() + " " + std::to_string(r.ifindex) + " " + opt_addr(r.gateway) + " " +
          std::to_string(r.table) + " " + std::to_string(r.metric) + " " + std::to_string(r.type) + " " +
          std::to_string(r.protocol);
      break;
    }
    case Change::Kind::rule: {
      const auto& r = c.rule;
      s = std::string("rule ") + (r.family == Family::v4 ? "4" : "6") + " " + std::to_string(r.priority) + " " +
          std::to_string(r.table) + " " + std::to_string(r.fwmark) + " " + std::to_string(r.fwmask) + " " +
          (r.invert ? "1" : "0") + " " + std::to_string(r.suppress_prefixlen + 1) + " " +
          std::to_string(r.action) + " " + std::to_string(r.protocol);
      break;
    }
    case Change::Kind::nft_table: s = "nft " + pct(c.name); break;
    case Change::Kind::resolved_link: s = "resolved " + pct(c.name); break;
    case Change::Kind::file:
      s = "file " + pct(c.path) + " " + (c.existed ? "1" : "0") + " " + pct(c.content);
      break;
  }
  return s;
}

Result<Change> decode_change(std::string_view line) {
  auto f = split(line);
  Change c;
  if (f[0] == "route" && f.size() == 8) {
    c.kind = Change::Kind::route;
    auto dst = Cidr::parse(f[1]);
    auto gw = parse_opt_addr(f[3]);
    uint64_t ifi, table, metric, type, proto;
    if (!dst || !gw || !to_u64(f[2], &ifi) || !to_u64(f[4], &table) || !to_u64(f[5], &metric) ||
        !to_u64(f[6], &type) || !to_u64(f[7], &proto) || ifi > INT32_MAX || table > UINT32_MAX ||
        metric > UINT32_MAX || type > 255 || proto > 255)
      return bad(line);
    c.route.dst = *dst;
    c.route.ifindex = int(ifi);
    c.route.gateway = *gw;
    c.route.table = uint32_t(table);
    c.route.metric = uint32_t(metric);
    c.route.type = uint8_t(type);
    c.route.protocol = uint8_t(proto);
    return c;
  }
  if (f[0] == "rule" && f.size() == 10) {
    c.kind = Change::Kind::rule;
    uint64_t v[8];
    for (int i = 0; i < 8; ++i)
      if (!to_u64(f[size_t(i) + 2], &v[i]) || v[i] > UINT32_MAX) return bad(line);
    if ((f[1] != "4" && f[1] != "6") || v[4] > 1 || v[5] > 129 || v[6] > 255 || v[7] > 255) return bad(line);
    c.rule.family = f[1] == "4" ? Family::v4 : Family::v6;
    c.rule.priority = uint32_t(v[0]);
    c.rule.table = uint32_t(v[1]);
    c.rule.fwmark = uint32_t(v[2]);
    c.rule.fwmask = uint32_t(v[3]);
    c.rule.invert = v[4] == 1;
    c.rule.suppress_prefixlen = int(v[5]) - 1;
    c.rule.action = uint8_t(v[6]);
    c.rule.protocol = uint8_t(v[7]);
    return c;
  }
  if ((f[0] == "nft" || f[0] == "resolved") && f.size() == 2) {
    c.kind = f[0] == "nft" ? Change::Kind::nft_table : Change::Kind::resolved_link;
    auto n = unpct(f[1]);
    if (!n || n->empty()) return bad(line);
    c.name = *n;
    return c;
  }
  if (f[0] == "file" && f.size() == 4 && (f[2] == "0" || f[2] == "1")) {
    c.kind = Change::Kind::file;
    auto p = unpct(f[1]);
    auto content = unpct(f[3]);
    if (!p || p->empty() || !content) return bad(line);
    c.path = *p;
    c.existed = f[2] == "1";
    c.content = *content;
    return c;
  }
  return bad(line);
}

std::string encode_journal(const std::vector<Change>& changes) {
  std::string s(kHeader);
  s += '\n';
  for (const auto& c : changes) s += encode_change(c) + '\n';
  return s;
}

Result<std::vector<Change>> decode_journal(std::string_view text) {
  std::vector<Change> out;
  if (text.empty()) return out;
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, nl) != kHeader)
    return Error(Errc::invalid_argument, "not a ptun journal (bad header)");
  text.remove_prefix(nl + 1);
  while (!text.empty()) {
    nl = text.find('\n');
    if (nl == std::string_view::npos) break;   // torn last append: its change never started
    auto c = decode_change(text.substr(0, nl));
    if (!c) return c.error();
    out.push_back(std::move(*c));
    text.remove_prefix(nl + 1);
  }
  return out;
}

Result<std::vector<Change>> Journal::load() const {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::vector<Change>{};
    return Error::from_errno("open " + path_, errno);
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (64u << 20)) text.append(buf, size_t(n));
  ::close(fd);
  if (n < 0) return Error::from_errno("read " + path_, errno);
  return decode_journal(text);
}

Result<void> Journal::append(const Change& c) {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::from_errno("open " + path_, errno);
  off_t end = ::lseek(fd, 0, SEEK_END);
  std::string s = (end == 0 ? std::string(kHeader) + "\n" : std::string()) + encode_change(c) + "\n";
  auto w = write_all(fd, s);
  int rc = w ? ::fsync(fd) : 0;
  int err = errno;
  ::close(fd);
  if (!w) return Error(Errc::io, "journal " + path_ + ": " + w.error().message);
  if (rc < 0) return Error::from_errno("fsync " + path_, err);
  if (end == 0) return fsync_dir(path_);
  return {};
}

Result<void> Journal::rewrite(const std::vector<Change>& changes) {
  if (changes.empty()) {
    if (::unlink(path_.c_str()) < 0 && errno != ENOENT) return Error::from_errno("unlink " + path_, errno);
    return fsync_dir(path_);
  }
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::from_errno("open " + tmp, errno);
  auto w = write_all(fd, encode_journal(changes));
  int rc = w ? ::fsync(fd) : 0;
  ::close(fd);
  if (!w || rc < 0) return Error(Errc::io, "writing " + tmp);
  if (::rename(tmp.c_str(), path_.c_str()) < 0) return Error::from_errno("rename " + tmp, errno);
  return fsync_dir(path_);
}

}  // namespace ptun::netcfg
