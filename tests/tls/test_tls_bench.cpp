// Hidden benchmarks ([.bench]): full handshakes per second (client + server on one core, cookie
// exchange included) and ssl write / read throughput at 1400-byte records for both suites.
// Run: test_tls '[.bench]' -s   (build type RelWithDebInfo or Release)
//
// Also the seed corpus writer for fuzz/fuzz_client_hello ([.corpus]):
//   PTUN_CORPUS_DIR=fuzz/corpus/client_hello test_tls '[.corpus]'
#include <catch2/catch.hpp>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "dtls_pair.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

// CPU time of this thread: the machine is shared, so wall time would measure the neighbours.
struct CpuClock {
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  }
};

double seconds_since(double t0) { return CpuClock::now() - t0; }

}  // namespace

TEST_CASE("bench: DTLS handshakes per second", "[.bench][tls]") {
  auto& pki = TestPki::get();
  auto client = pki.creds(pki.client);
  auto server = pki.creds(pki.server);
  const int n = 100;
  double t0 = CpuClock::now();
  for (int i = 0; i < n; ++i) {
    DtlsPair p(client, server);
    REQUIRE(p.handshake());
  }
  double s = seconds_since(t0);
  std::printf("handshakes: %d in %.3f s = %.1f/s (CPU time, client+server on one core: %.2f ms each)\n", n, s,
              n / s, 1000 * s / n);
}

TEST_CASE("bench: ssl write and read MB/s at 1400-byte records", "[.bench][tls]") {
  auto [order, name] = GENERATE(std::make_pair(SuiteOrder::aes_only, "AES-128-GCM"),
                                std::make_pair(SuiteOrder::chacha_only, "CHACHA20-POLY1305"));
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(order), opts(order));
  REQUIRE(p.handshake());
  // Records are moved out of the pair's queue (one allocation each, small next to the crypto).
  const size_t records = 40000, size = 1400;
  std::vector<uint8_t> plain(size, 0x42);
  std::vector<Datagram> wire_records;
  wire_records.reserve(records);
  double t0 = CpuClock::now();
  for (size_t i = 0; i < records; ++i) {
    plain[0] = uint8_t(i);
    if (!p.client->write(plain, p.now)) FAIL("write failed");
    wire_records.push_back(std::move(p.to_server.front()));
    p.to_server.pop_front();
  }
  double ws = seconds_since(t0);
  uint8_t buf[2048];
  size_t got = 0;
  t0 = CpuClock::now();
  for (auto& d : wire_records) {
    p.server->feed(d, p.now);
    auto r = p.server->read(buf, sizeof buf, p.now);
    if (!r) FAIL("read failed: " << r.error().message);
    got += *r;
  }
  double rs = seconds_since(t0);
  REQUIRE(got == records * size);
  double mb = double(records * size) / 1e6;
  std::printf("%s: write %.0f MB/s, read %.0f MB/s of CPU time (%zu records of %zu bytes, AES-NI %s)\n", name,
              mb / ws, mb / rs, records, size, has_aesni() ? "yes" : "no");
}

TEST_CASE("write the fuzz seed corpus of real ClientHellos", "[.corpus][tls]") {
  const char* dir = std::getenv("PTUN_CORPUS_DIR");
  INFO("set PTUN_CORPUS_DIR to the directory to write (fuzz/corpus/client_hello)");
  REQUIRE(dir != nullptr);
  auto& pki = TestPki::get();
  int n = 0;
  auto save = [&](const Datagram& d, const std::string& name) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(d.data()), std::streamsize(d.size()));
    ++n;
  };
  for (auto order : {SuiteOrder::aes_first, SuiteOrder::chacha_only}) {
    DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(order), opts(order));
    std::vector<Datagram> to_server;
    p.drop = [&](Dir d, size_t, const Datagram& dg) {
      if (d == Dir::to_server) to_server.push_back(dg);
      return false;
    };
    REQUIRE(p.handshake());
    REQUIRE(to_server.size() >= 3);
    std::string tag = order == SuiteOrder::aes_first ? "aes" : "chacha";
    save(to_server[0], "client_hello_" + tag);
    save(to_server[1], "client_hello_cookie_" + tag);
    for (size_t i = 2; i < to_server.size(); ++i) save(to_server[i], "client_flight_" + tag + "_" + std::to_string(i));
  }
  std::printf("wrote %d seeds to %s\n", n, dir);
}
