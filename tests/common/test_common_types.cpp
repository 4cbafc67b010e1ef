// Result/Error, BufferPool and log::RateLimit: the small types every module leans on.
#include <catch2/catch.hpp>
#include <cerrno>
#include <set>

#include "common/buffer_pool.hpp"
#include "common/log.hpp"
#include "common/result.hpp"

using namespace ptun;

namespace {
Result<int> half(int v) {
  if (v % 2) return Error(Errc::invalid_argument, "odd");
  return v / 2;
}
}  // namespace

TEST_CASE("Result carries a value or an Error, never both", "[common][result]") {
  auto r = half(8);
  REQUIRE(r.ok());
  CHECK(*r == 4);
  auto e = half(3);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == Errc::invalid_argument);
  CHECK(e.error().message == "odd");
  Result<void> v = ok();
  CHECK(v.ok());
  Result<void> f = Error(Errc::limit, "full");
  CHECK_FALSE(f.ok());
  CHECK(f.error().code == Errc::limit);
  auto io = Error::from_errno("open x", ENOENT);
  CHECK(io.code == Errc::io);
  CHECK(io.message.find("open x: ") == 0);
  CHECK(io.message.find("No such file") != std::string::npos);
  CHECK(std::string(errc_name(Errc::timeout)).size() > 0);
}

TEST_CASE("BufferPool hands out distinct buffers up to its capacity, then nullptr", "[common][buffer_pool]") {
  BufferPool pool(4, 256);
  CHECK(pool.capacity() == 4);
  std::set<PacketBuf*> got;
  for (int i = 0; i < 4; ++i) {
    PacketBuf* b = pool.get();
    REQUIRE(b);
    CHECK(b->cap == 256);
    CHECK(b->len == 0);
    CHECK(b->off == limits::kHeadroom);
    got.insert(b);
  }
  CHECK(got.size() == 4);
  CHECK(pool.get() == nullptr);  // exhausted: the caller drops and counts
  CHECK(pool.available() == 0);
  PacketBuf* b = *got.begin();
  b->len = 10;
  uint8_t* front = b->push_front(8);
  CHECK(front == b->base + limits::kHeadroom - 8);
  CHECK(b->len == 18);
  b->pull_front(8);
  CHECK(b->len == 10);
  CHECK(b->tailroom() == 256 - limits::kHeadroom - 10);
  pool.put(b);
  CHECK(pool.available() == 1);
  PacketBuf* again = pool.get();
  CHECK(again == b);
  CHECK(again->len == 0);  // reset on get
  CHECK(again->off == limits::kHeadroom);
}

TEST_CASE("log::RateLimit allows a burst per interval and reports what it suppressed", "[common][log]") {
  log::RateLimit rl(1000, 2);
  uint64_t sup = 99;
  CHECK(rl.allow(5000, &sup));
  CHECK(sup == 0);
  CHECK(rl.allow(5001, &sup));
  CHECK_FALSE(rl.allow(5002, &sup));
  CHECK_FALSE(rl.allow(5999, &sup));
  CHECK(rl.allow(6000, &sup));  // next window
  CHECK(sup == 2);
  CHECK(rl.allow(6001, &sup));
  CHECK(sup == 0);
  CHECK_FALSE(rl.allow(6002, nullptr));
}
