// Seal+open of 1400-byte application records per second: DtlsSession's in-place fast path
// (seal / open_begin / open_next) against mbedTLS's write() + feed() + read(), per suite, client
// to server in one process. Credentials come from ptun's own PKI code in a temporary directory.
// Times are CPU time of this thread (the machine is shared: wall time would measure neighbours).
//
//   slow path, per record: write() copies into mbedTLS's buffer and encrypts there, OutputFn copies
//   the datagram out (as every caller must), feed() copies it in, the BIO copies it again, read()
//   decrypts into the caller's buffer.
//   fast path, per record: seal() encrypts in place, open_next() decrypts in place. No copy.
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dtls_pair.hpp"
#include "tls/credentials.hpp"
#include "tls/pki.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ptun-record-bench: %s\n", what.c_str());
  std::exit(1);
}

struct Times {
  double out_s, in_s;
};

Times run_slow(DtlsPair& p, size_t records, size_t size) {
  // The pair's OutputFn copies each datagram into its queue (a vector allocation each, as a
  // caller queueing datagrams for sendmmsg copies them).
  std::vector<uint8_t> plain(size, 0x42), out(20000);
  double out_s = 0, in_s = 0;
  for (size_t i = 0; i < records; ++i) {
    plain[0] = uint8_t(i);
    double t0 = cpu_now();
    if (!p.client->write(plain, p.now)) die("write failed");
    Datagram d = std::move(p.to_server.front());  // the pair's OutputFn copied it out
    p.to_server.pop_front();
    double t1 = cpu_now();
    p.server->feed(d, p.now);
    auto r = p.server->read(out.data(), out.size(), p.now);
    double t2 = cpu_now();
    if (!r || *r != size) die("read failed");
    out_s += t1 - t0;
    in_s += t2 - t1;
  }
  return {out_s, in_s};
}

Times run_fast(DtlsPair& p, size_t records, size_t size) {
  std::vector<uint8_t> buf(kMaxSealHeadroom + size + DtlsSession::seal_tailroom(), 0x42);
  uint8_t* plain = buf.data() + kMaxSealHeadroom;
  double out_s = 0, in_s = 0;
  for (size_t i = 0; i < records; ++i) {
    plain[0] = uint8_t(i);
    double t0 = cpu_now();
    auto rec = p.client->seal(plain, size);
    if (!rec) die("seal failed: " + rec.error().message);
    double t1 = cpu_now();
    RecordCursor c;
    if (p.server->open_begin(*rec, &c) != DatagramPath::fast) die("not a fast datagram");
    std::span<uint8_t> got;
    if (!p.server->open_next(c, &got) || got.size() != size || got.data() != plain || got[0] != uint8_t(i))
      die("open failed");
    double t2 = cpu_now();
    out_s += t1 - t0;
    in_s += t2 - t1;
  }
  return {out_s, in_s};
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = argc > 1 ? size_t(std::strtoul(argv[1], nullptr, 10)) : 50000;
  const size_t size = 1400;
  char tmpl[] = "/tmp/ptun-record-bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) die("mkdtemp failed");
  std::string dir = std::string(tmpl) + "/pki";
  SeededRng rng(0xbe7c);
  pki::IssueOptions server_opts;
  server_opts.server = true;
  if (auto r = pki::init_ca(dir, "bench CA", rng); !r) die(r.error().message);
  if (auto r = pki::issue(dir, "vpn.example.org", server_opts, rng); !r) die(r.error().message);
  if (auto r = pki::issue(dir, "alice", {}, rng); !r) die(r.error().message);
  auto server = Credentials::load(dir + "/ca.crt", dir + "/vpn.example.org.crt", dir + "/vpn.example.org.key");
  auto client = Credentials::load(dir + "/ca.crt", dir + "/alice.crt", dir + "/alice.key");
  std::filesystem::remove_all(tmpl);
  if (!server || !client) die("credentials: " + (server ? client.error().message : server.error().message));

  std::printf("%zu records of %zu bytes, client seals, server opens; CPU time of one thread; AES-NI %s\n", records,
              size, has_aesni() ? "yes" : "no");
  std::printf("%-18s %-14s %12s %12s %14s %10s\n", "suite", "path", "out rec/s", "in rec/s", "out+in rec/s",
              "MB/s");
  for (auto [order, name] : {std::make_pair(SuiteOrder::aes_only, "AES-128-GCM"),
                             std::make_pair(SuiteOrder::chacha_only, "CHACHA20-POLY1305")}) {
    DtlsOptions o;
    o.suite_order = order;
    for (bool fast : {false, true}) {
      DtlsPair p(*client, *server, o, o);
      if (!p.handshake()) die("handshake failed");
      Times r = fast ? run_fast(p, records, size) : run_slow(p, records, size);
      double both = r.out_s + r.in_s;
      std::printf("%-18s %-14s %12.0f %12.0f %14.0f %10.0f\n", name, fast ? "seal+open" : "write+read",
                  double(records) / r.out_s, double(records) / r.in_s, double(records) / both,
                  double(records * size) / both / 1e6);
    }
  }
  return 0;
}
