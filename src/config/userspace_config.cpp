// The client's userspace-mode keys: [proxy] (SOCKS5 / HTTP CONNECT listeners, credentials,
// limits) and [[forward]] (static port forwards into the tunnel).
#include "config/readers.hpp"

namespace ptun::config {
namespace {

constexpr size_t kMaxProxyListen = 16;
constexpr size_t kMaxForwards = 256;

std::string add_loopback(std::vector<Endpoint>& out, const std::string& s) {
  Endpoint ep;
  std::string why = parse_loopback_listen(s, &ep);
  if (!why.empty()) return why;
  for (const auto& e : out)
    if (e == ep) return "duplicate listen address " + ep.str();
  out.push_back(ep);
  return "";
}

void read_proxy(TableReader& t, ClientConfig::Proxy& p) {
  t.string_array("socks5", kMaxProxyListen, [&](const std::string& s) { return add_loopback(p.socks5, s); });
  t.string_array("http", kMaxProxyListen, [&](const std::string& s) { return add_loopback(p.http, s); });
  auto secret = [](std::string& out) {
    return [&out](const std::string& s) {
      out = s;
      return s.empty() || s.size() > 255 ? std::string("must be 1..255 bytes") : std::string();
    };
  };
  t.string("username", secret(p.username));
  t.string("password", secret(p.password));
  if (!t.failed() && p.username.empty() != p.password.empty())
    t.fail_at(p.username.empty() ? "password" : "username", "username and password go together");
  t.u32("max_connections", p.max_connections, 1, 65536);
  t.u32("handshake_timeout_secs", p.handshake_timeout_secs, 1, 300);
  t.finish();
}

void read_forward(TableReader& t, std::vector<ClientConfig::Forward>& all) {
  ClientConfig::Forward f;
  t.string("listen", [&](const std::string& s) { return parse_loopback_listen(s, &f.listen); }, true);
  t.string(
      "to",
      [&](const std::string& s) {
        auto ep = Endpoint::parse(s);
        if (!ep) return "'" + s + "' is not an address:port inside the tunnel";
        if (ep->port == 0) return std::string("port 0 is not a destination");
        f.to = *ep;
        return std::string();
      },
      true);
  t.string("proto", [&](const std::string& s) {
    f.proto = s;
    return s == "tcp" || s == "udp" ? "" : "'" + s + "' is not a protocol (tcp|udp)";
  });
  if (!t.failed())
    for (const auto& o : all)
      if (o.listen == f.listen && o.proto == f.proto) {
        t.fail_at("listen", f.listen.str() + "/" + f.proto + " is already forwarded");
        break;
      }
  t.finish();
  all.push_back(f);
}

}  // namespace

void read_userspace_keys(TableReader& r, ClientConfig& c) {
  if (auto t = r.table("proxy")) read_proxy(*t, c.proxy);
  r.table_array("forward", kMaxForwards, [&](TableReader& t) { read_forward(t, c.forwards); });
  if (!r.failed() && c.mode != "userspace" && (!c.proxy.socks5.empty() || !c.proxy.http.empty() || !c.forwards.empty()))
    r.fail_at("mode", "[proxy] and [[forward]] need mode = \"userspace\"");
}

}  // namespace ptun::config
