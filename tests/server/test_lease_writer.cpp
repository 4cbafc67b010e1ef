// LeaseWriter: writes only on change, off the calling thread, newest snapshot wins, flush waits.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "server/lease_writer.hpp"

using namespace ptun;
using namespace ptun::server;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-lease-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

Lease lease(const char* v4, int64_t seen) { return Lease{*IpAddr::parse(v4), std::nullopt, seen}; }

}  // namespace

TEST_CASE("LeaseWriter::differs: addresses and peers always, last_seen only past the granularity", "[server][leases]") {
  LeaseWriter::Leases a{{"alice", lease("10.0.0.2", 1000)}};
  auto b = a;
  CHECK_FALSE(LeaseWriter::differs(a, b, 3600));
  b["alice"].last_seen = 1000 + 3599;
  CHECK_FALSE(LeaseWriter::differs(a, b, 3600));
  b["alice"].last_seen = 1000 + 3600;
  CHECK(LeaseWriter::differs(a, b, 3600));
  b = a;
  b["alice"].last_seen = 999;   // a clock step backwards is written, not hidden
  CHECK(LeaseWriter::differs(a, b, 3600));
  b = a;
  b["alice"].ipv4 = *IpAddr::parse("10.0.0.3");
  CHECK(LeaseWriter::differs(a, b, 3600));
  b = a;
  b["bob"] = lease("10.0.0.4", 1000);
  CHECK(LeaseWriter::differs(a, b, 3600));
  b = a;
  b.erase("alice");
  CHECK(LeaseWriter::differs(a, b, 3600));
  LeaseWriter::Leases c{{"carol", lease("10.0.0.2", 1000)}};   // same address, other peer
  CHECK(LeaseWriter::differs(a, c, 3600));
}

TEST_CASE("LeaseWriter: unchanged leases are not rewritten, changes reach the disk", "[server][leases]") {
  TempDir dir;
  std::string path = dir.path + "/leases.json";
  LeaseWriter w(LeaseStore(path), 3600);
  LeaseWriter::Leases l{{"alice", lease("10.0.0.2", 1000)}};
  w.assume_written({});
  CHECK(w.submit(l));
  REQUIRE(w.flush(l).ok());
  uint64_t after_first = w.writes();
  CHECK(after_first >= 1);
  auto loaded = LeaseStore(path).load();
  REQUIRE(loaded.ok());
  CHECK(*loaded == l);
  // A thousand reconnects within the hour: no write at all.
  for (int i = 0; i < 1000; ++i) {
    l["alice"].last_seen = 1000 + i;
    CHECK_FALSE(w.submit(l));
  }
  CHECK(w.skipped() == 1000);
  CHECK(w.writes() == after_first);
  // A new peer is written, off this thread; flush waits for it.
  l["bob"] = lease("10.0.0.3", 2000);
  CHECK(w.submit(l));
  REQUIRE(w.flush(l).ok());
  loaded = LeaseStore(path).load();
  REQUIRE(loaded.ok());
  CHECK(loaded->size() == 2);
  CHECK((*loaded)["bob"].ipv4 == *IpAddr::parse("10.0.0.3"));
}

TEST_CASE("LeaseWriter: a burst of changes coalesces and the newest snapshot wins", "[server][leases]") {
  TempDir dir;
  std::string path = dir.path + "/leases.json";
  LeaseWriter::Leases l;
  {
    LeaseWriter w(LeaseStore(path), 3600);
    w.assume_written({});
    for (int i = 0; i < 200; ++i) {
      l["peer" + std::to_string(i)] = lease(("10.1.0." + std::to_string(i + 2)).c_str(), 5000);
      CHECK(w.submit(l));
    }
    REQUIRE(w.flush(l).ok());
    CHECK(w.writes() <= 201);   // typically far fewer: queued snapshots are replaced
  }   // the destructor joins the worker
  auto loaded = LeaseStore(path).load();
  REQUIRE(loaded.ok());
  CHECK(*loaded == l);
}

TEST_CASE("LeaseWriter: a write that fails is reported by flush and logged, nothing crashes", "[server][leases]") {
  LeaseWriter w(LeaseStore("/nonexistent-ptun-dir/leases.json"), 3600);
  LeaseWriter::Leases l{{"alice", lease("10.0.0.2", 1)}};
  auto r = w.flush(l);
  CHECK_FALSE(r.ok());
}
