#include "netcfg/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

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
    case Change::Kind::dnsmasq_file: s = "dnsmasq " + pct(c.path); break;
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
  if (f[0] == "dnsmasq" && f.size() == 2) {
    c.kind = Change::Kind::dnsmasq_file;
    auto p = unpct(f[1]);
    if (!p || p->empty()) return bad(line);
    c.path = *p;
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

namespace {

// A journal's text, parsed: the live changes with their encoded lines and the offsets where those
// lines end, the offset below which a truncation would cut into the last committed block
// (`floor`), and where the valid text ends (a torn line or uncommitted block after it is dropped).
struct Parsed {
  std::vector<Change> changes;
  std::vector<std::pair<std::string, off_t>> lines;
  size_t block_count = 0;
  off_t floor = 0;
  off_t valid_end = 0;
  bool header = false;
};

Result<Parsed> parse(std::string_view text) {
  Parsed p;
  if (text.empty()) return p;
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, nl) != kHeader)
    return Error(Errc::invalid_argument, "not a ptun journal (bad header)");
  p.header = true;
  p.floor = p.valid_end = off_t(nl + 1);
  std::optional<Parsed> block;
  size_t off = nl + 1;
  while (off < text.size()) {
    nl = text.find('\n', off);
    if (nl == std::string_view::npos) break;  // torn last append: its change never started
    std::string_view line = text.substr(off, nl - off);
    const off_t end = off_t(nl + 1);
    off = nl + 1;
    if (line == "begin") {
      if (block) return bad(line);
      block.emplace();
      continue;
    }
    if (line == "commit") {
      if (!block) return bad(line);
      p.changes = std::move(block->changes);
      p.lines = std::move(block->lines);
      p.block_count = p.changes.size();
      p.floor = p.valid_end = end;
      block.reset();
      continue;
    }
    auto c = decode_change(line);
    if (!c) return c.error();
    Parsed& into = block ? *block : p;
    into.changes.push_back(std::move(*c));
    into.lines.emplace_back(std::string(line), end);
    if (!block) p.valid_end = end;
  }
  return p;  // an uncommitted block (a crash while appending it) is ignored
}

}  // namespace

Result<std::vector<Change>> decode_journal(std::string_view text) {
  auto p = parse(text);
  if (!p) return p.error();
  return std::move(p->changes);
}

bool is_ptun_nft_name(std::string_view name) {
  if (name.size() < 4 || name.size() > 31 || name.substr(0, 4) != "ptun") return false;
  for (char c : name.substr(4))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Result<void> check_change(const Change& c, const JournalPolicy& p) {
  if (!p.restricted()) return {};
  auto refuse = [&](const std::string& why) {
    return Error(Errc::auth, "journal entry '" + encode_change(c).substr(0, 120) + "' refused: " + why);
  };
  auto own_table = [&](uint32_t t) {
    return std::find(p.tables.begin(), p.tables.end(), t) != p.tables.end();
  };
  switch (c.kind) {
    case Change::Kind::route:
      if (!own_table(c.route.table)) return refuse("not one of ptun's routing tables");
      if (c.route.protocol != 0 && c.route.protocol != netlink::kPtunRouteProto)
        return refuse("not ptun's route protocol");
      return {};
    case Change::Kind::rule:
      if (!own_table(c.rule.table)) return refuse("not one of ptun's routing tables");
      if (c.rule.protocol != 0 && c.rule.protocol != netlink::kPtunRouteProto)
        return refuse("not ptun's rule protocol");
      return {};
    case Change::Kind::nft_table:
      if (!is_ptun_nft_name(c.name)) return refuse("not a ptun nftables table name");
      return {};
    case Change::Kind::file:
      if (std::find(p.files.begin(), p.files.end(), c.path) == p.files.end())
        return refuse("not a file ptun manages");
      return {};
    case Change::Kind::resolved_link:
      if (c.name != p.interface) return refuse("not ptun's interface");
      return {};
    case Change::Kind::dnsmasq_file:
      if (std::find(p.dnsmasq_files.begin(), p.dnsmasq_files.end(), c.path) == p.dnsmasq_files.end())
        return refuse("not this config's dnsmasq file");
      return {};
  }
  return refuse("unknown kind");
}

Journal::Journal(Journal&& o) noexcept
    : path_(std::move(o.path_)), policy_(std::move(o.policy_)), fd_(o.fd_), lines_(std::move(o.lines_)),
      live_start_(o.live_start_), block_count_(o.block_count_), changes_(std::move(o.changes_)),
      has_header_(o.has_header_) {
  o.fd_ = -1;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// Owner and mode checks: a journal root replays must be writable by nobody but its owner.
Result<void> check_owner(const struct stat& st, const std::string& what) {
  if (st.st_uid != ::geteuid())
    return Error(Errc::auth, what + " is owned by uid " + std::to_string(st.st_uid) + ", not " +
                                 std::to_string(::geteuid()) + ": refusing to trust the journal (chown it or remove it)");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return Error(Errc::auth, what + " is writable by group or others: refusing to trust the journal");
  return {};
}

}  // namespace

Result<void> Journal::open() {
  if (fd_ >= 0) return {};
  auto slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  struct stat dst;
  if (::lstat(dir.c_str(), &dst) < 0) return Error::from_errno("journal directory " + dir, errno);
  if (!S_ISDIR(dst.st_mode)) return Error(Errc::auth, "journal directory " + dir + " is not a directory");
  if (auto r = check_owner(dst, "journal directory " + dir); !r) return r;
  int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ELOOP) return Error(Errc::auth, "journal " + path_ + " is a symbolic link: refusing it");
    return Error::from_errno("open " + path_, errno);
  }
  struct stat st;
  if (::fstat(fd, &st) < 0) {
    int err = errno;
    ::close(fd);
    return Error::from_errno("fstat " + path_, err);
  }
  Result<void> ok = S_ISREG(st.st_mode) ? check_owner(st, "journal " + path_)
                                        : Error(Errc::auth, "journal " + path_ + " is not a regular file");
  std::string text;
  if (ok) {
    char buf[4096];
    ssize_t n;
    off_t at = 0;
    while ((n = ::pread(fd, buf, sizeof buf, at)) > 0 && text.size() < (64u << 20)) {
      text.append(buf, size_t(n));
      at += n;
    }
    if (n < 0) ok = Error::from_errno("read " + path_, errno);
  }
  if (!ok) {
    ::close(fd);
    return ok;
  }
  auto p = parse(text);
  if (!p) {
    ::close(fd);
    return Error(p.error().code, path_ + ": " + p.error().message);
  }
  // Drop a torn tail now, so that later appends do not glue onto it.
  if (off_t(text.size()) > p->valid_end && ::ftruncate(fd, p->valid_end) < 0) {
    int err = errno;
    ::close(fd);
    return Error::from_errno("ftruncate " + path_, err);
  }
  // The file may have just been created: make its directory entry durable (we may no longer be
  // able to open the directory once privileges are dropped).
  if (auto r = fsync_dir(path_); !r) {
    ::close(fd);
    return r;
  }
  fd_ = fd;
  changes_ = std::move(p->changes);
  lines_ = std::move(p->lines);
  block_count_ = p->block_count;
  live_start_ = p->floor;
  has_header_ = p->header;
  return {};
}

Result<std::vector<Change>> Journal::load() {
  if (auto r = open(); !r) return r.error();
  for (const auto& c : changes_)
    if (auto r = check_change(c, policy_); !r) return Error(r.error().code, path_ + ": " + r.error().message);
  return changes_;
}

Result<void> Journal::append(const Change& c) {
  if (auto r = open(); !r) return r;
  std::string line = encode_change(c);
  std::string s = (has_header_ ? std::string() : std::string(kHeader) + "\n") + line + "\n";
  off_t end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) return Error::from_errno("lseek " + path_, errno);
  if (auto w = write_all(fd_, s); !w) return Error(Errc::io, "journal " + path_ + ": " + w.error().message);
  if (::fsync(fd_) < 0) return Error::from_errno("fsync " + path_, errno);
  if (!has_header_) {
    live_start_ = off_t(kHeader.size() + 1);
    has_header_ = true;
  }
  changes_.push_back(c);
  lines_.emplace_back(std::move(line), end + off_t(s.size()));
  return {};
}

Result<void> Journal::rewrite(const std::vector<Change>& changes) {
  if (auto r = open(); !r) return r;
  // The usual case: a rollback to what the file already starts with, done by one ftruncate.
  size_t k = changes.size();
  bool prefix = k <= changes_.size() && k >= block_count_ &&
                std::equal(changes.begin(), changes.end(), changes_.begin());
  if (prefix) {
    off_t to = k == 0 && block_count_ == 0 ? 0 : k == block_count_ ? live_start_ : lines_[k - 1].second;
    if (::ftruncate(fd_, to) < 0) return Error::from_errno("ftruncate " + path_, errno);
    if (::fsync(fd_) < 0) return Error::from_errno("fsync " + path_, errno);
    changes_.resize(k);
    lines_.resize(k);
    if (to == 0) has_header_ = false;
    return {};
  }
  // Anything else is appended as one block that replaces what precedes it once its commit is on
  // disk; the process may no longer be allowed to create a temporary file next to the journal.
  off_t end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) return Error::from_errno("lseek " + path_, errno);
  std::string s = has_header_ ? std::string() : std::string(kHeader) + "\n";
  s += "begin\n";
  std::vector<std::pair<std::string, off_t>> lines;
  for (const auto& c : changes) {
    std::string line = encode_change(c);
    s += line + "\n";
    lines.emplace_back(std::move(line), end + off_t(s.size()));
  }
  s += "commit\n";
  if (auto w = write_all(fd_, s); !w) return Error(Errc::io, "journal " + path_ + ": " + w.error().message);
  if (::fsync(fd_) < 0) return Error::from_errno("fsync " + path_, errno);
  has_header_ = true;
  changes_ = changes;
  lines_ = std::move(lines);
  block_count_ = changes.size();
  live_start_ = end + off_t(s.size());
  return {};
}

}  // namespace ptun::netcfg
