// embed_fetch: a program that embeds a ptun client (include/ptun/client.hpp) and uses the tunnel
// directly, with no TUN, no root and no proxy.
//
//   embed_fetch CONFIG HOST PORT PATH       HTTP/1.0 GET through the tunnel, body to stdout
//   embed_fetch CONFIG --dns SERVER NAME    one DNS A query over UDP through the tunnel, the
//                                           first address to stdout
//
// CONFIG is a client config with mode = "userspace". Errors go to stderr as "embed_fetch: CODE:
// message" (CODE as ptun::embed::to_string) with exit code 1; usage errors exit 2.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ptun/client.hpp"

namespace {

int fail(const ptun::embed::Status& st) {
  std::fprintf(stderr, "embed_fetch: %s: %s\n", ptun::embed::to_string(st.code), st.message.c_str());
  return 1;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

// GET PATH, skip the response header, copy the body to stdout.
int fetch(ptun::embed::EmbeddedClient& vpn, const std::string& host, uint16_t port, const std::string& path) {
  auto s = vpn.connect_tcp(host, port);
  if (!s.ok()) return fail(s.status);
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (!write_all(s.fd, req.data(), req.size())) return ::close(s.fd), fail({ptun::embed::Code::io, "write failed"});
  std::string head;
  bool in_body = false;
  std::vector<char> buf(65536);
  for (;;) {
    ssize_t n = ::read(s.fd, buf.data(), buf.size());
    if (n < 0) return ::close(s.fd), fail({ptun::embed::Code::io, std::string("read: ") + std::strerror(errno)});
    if (n == 0) break;
    if (in_body) {
      if (!write_all(1, buf.data(), size_t(n))) return ::close(s.fd), 1;
      continue;
    }
    head.append(buf.data(), size_t(n));
    if (auto end = head.find("\r\n\r\n"); end != std::string::npos) {
      in_body = true;
      if (head.compare(0, 12, "HTTP/1.0 200") != 0 && head.compare(0, 12, "HTTP/1.1 200") != 0)
        std::fprintf(stderr, "embed_fetch: %s\n", head.substr(0, head.find("\r\n")).c_str());
      if (!write_all(1, head.data() + end + 4, head.size() - end - 4)) return ::close(s.fd), 1;
    }
  }
  ::close(s.fd);
  return in_body ? 0 : fail({ptun::embed::Code::io, "no HTTP response"});
}

// A DNS query for NAME's A record (RFC 1035: header, one question), sent through open_udp.
int dns(ptun::embed::EmbeddedClient& vpn, const std::string& server, const std::string& name) {
  std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  for (size_t at = 0; at <= name.size();) {
    size_t dot = std::min(name.find('.', at), name.size());
    q.push_back(uint8_t(dot - at));
    q.insert(q.end(), name.begin() + long(at), name.begin() + long(dot));
    at = dot + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});   // root label, QTYPE A, QCLASS IN
  auto s = vpn.open_udp(server, 53, std::chrono::seconds(5));
  if (!s.ok()) return fail(s.status);
  uint8_t r[1500];
  ssize_t n = -1;
  for (int attempt = 0; attempt < 3 && n <= 0; ++attempt) {   // UDP: retry a lost query
    (void)::send(s.fd, q.data(), q.size(), 0);
    timeval tv{1, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    n = ::recv(s.fd, r, sizeof r, 0);
  }
  ::close(s.fd);
  if (n < 12 || r[0] != 0x12 || r[1] != 0x34) return fail({ptun::embed::Code::timeout, "no DNS answer"});
  // Skip the question, then find the first A record in the answers.
  size_t off = q.size();
  for (int an = (r[6] << 8) | r[7]; an > 0 && off + 12 <= size_t(n); --an) {
    off += (r[off] & 0xc0) == 0xc0 ? 2 : 0;   // compressed name (what servers send back)
    uint16_t type = uint16_t((r[off] << 8) | r[off + 1]), len = uint16_t((r[off + 8] << 8) | r[off + 9]);
    off += 10;
    if (type == 1 && len == 4 && off + 4 <= size_t(n)) {
      std::printf("%d.%d.%d.%d\n", r[off], r[off + 1], r[off + 2], r[off + 3]);
      return 0;
    }
    off += len;
  }
  return fail({ptun::embed::Code::not_found, "no A record for " + name});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: embed_fetch CONFIG HOST PORT PATH\n       embed_fetch CONFIG --dns SERVER NAME\n");
    return 2;
  }
  ptun::embed::EmbeddedClient vpn;
  if (auto st = vpn.start(argv[1]); !st.ok()) return fail(st);
  if (auto st = vpn.wait_connected(std::chrono::seconds(15)); !st.ok()) return fail(st);
  if (std::strcmp(argv[2], "--dns") == 0) return dns(vpn, argv[3], argv[4]);
  int port = std::atoi(argv[3]);
  if (port <= 0 || port > 65535) return std::fprintf(stderr, "embed_fetch: bad port %s\n", argv[3]), 2;
  return fetch(vpn, argv[2], uint16_t(port), argv[4]);   // ~EmbeddedClient stops the client
}
