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

#include <algorithm>
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
  double out_s = 0, in_s = 0;
};

// Each direction is timed over the whole batch (no clock call per record): seal or write all
// records, then open or read them all.
Times run_slow(DtlsPair& p, size_t records, size_t size) {
  std::vector<uint8_t> plain(size, 0x42), out(20000);
  std::vector<Datagram> wire_records;
  wire_records.reserve(records);
  Times t;
  double t0 = cpu_now();
  for (size_t i = 0; i < records; ++i) {
    plain[0] = uint8_t(i);
    if (!p.client->write(plain, p.now)) die("write failed");
    // The pair's OutputFn copied the datagram into its queue, as a caller must before returning.
    wire_records.push_back(std::move(p.to_server.front()));
    p.to_server.pop_front();
  }
  double t1 = cpu_now();
  for (size_t i = 0; i < records; ++i) {
    p.server->feed(wire_records[i], p.now);
    auto r = p.server->read(out.data(), out.size(), p.now);
    if (!r || *r != size || out[0] != uint8_t(i)) die("read failed");
  }
  double t2 = cpu_now();
  return {t1 - t0, t2 - t1};
}

Times run_fast(DtlsPair& p, size_t records, size_t size) {
  // One pool-like buffer per record, headroom in front, tailroom behind, allocated up front.
  const size_t stride = kMaxSealHeadroom + size + DtlsSession::seal_tailroom();
  std::vector<uint8_t> pool(records * stride, 0x42);
  std::vector<std::span<uint8_t>> sealed(records);
  double t0 = cpu_now();
  for (size_t i = 0; i < records; ++i) {
    uint8_t* plain = pool.data() + i * stride + kMaxSealHeadroom;
    plain[0] = uint8_t(i);
    auto rec = p.client->seal(plain, size);
    if (!rec) die("seal failed: " + rec.error().message);
    sealed[i] = *rec;
  }
  double t1 = cpu_now();
  for (size_t i = 0; i < records; ++i) {
    RecordCursor c;
    if (p.server->open_begin(sealed[i], &c) != DatagramPath::fast) die("not a fast datagram");
    std::span<uint8_t> got;
    if (!p.server->open_next(c, &got) || got.size() != size || got[0] != uint8_t(i)) die("open failed");
  }
  double t2 = cpu_now();
  return {t1 - t0, t2 - t1};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = argc > 1 ? size_t(std::strtoul(argv[1], nullptr, 10)) : 20000;
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

  const int rounds = 5;
  std::printf("%zu records per round, %d rounds (slow and fast interleaved), medians; client seals, server "
              "opens; CPU time of one thread; AES-NI %s\n",
              records, rounds, has_aesni() ? "yes" : "no");
  std::printf("%-18s %5s %-11s %11s %11s %13s %8s\n", "suite", "bytes", "path", "out rec/s", "in rec/s",
              "out+in rec/s", "MB/s");
  for (size_t size : {size_t(1400), size_t(64)}) {
    for (auto [order, name] : {std::make_pair(SuiteOrder::aes_only, "AES-128-GCM"),
                               std::make_pair(SuiteOrder::chacha_only, "CHACHA20-POLY1305")}) {
      DtlsOptions o;
      o.suite_order = order;
      std::vector<double> out[2], in[2], both[2];
      for (int r = 0; r < rounds; ++r) {
        for (int fast = 0; fast < 2; ++fast) {
          DtlsPair p(*client, *server, o, o);
          if (!p.handshake()) die("handshake failed");
          Times t = fast ? run_fast(p, records, size) : run_slow(p, records, size);
          out[fast].push_back(double(records) / t.out_s);
          in[fast].push_back(double(records) / t.in_s);
          both[fast].push_back(double(records) / (t.out_s + t.in_s));
        }
      }
      for (int fast = 0; fast < 2; ++fast) {
        double b = median(both[fast]);
        std::printf("%-18s %5zu %-11s %11.0f %11.0f %13.0f %8.0f\n", name, size, fast ? "seal+open" : "write+read",
                    median(out[fast]), median(in[fast]), b, b * double(size) / 1e6);
      }
    }
  }
  return 0;
}
