#include <catch2/catch.hpp>

#include <cstring>

#include "common/buffer_pool.hpp"

using namespace ptun;

TEST_CASE("BufferPool::copy: copies behind the headroom, refuses what does not fit", "[common][pool]") {
  BufferPool pool(2, limits::kHeadroom + 100);
  uint8_t data[100];
  std::memset(data, 7, sizeof data);
  PacketBuf* a = pool.copy({data, 100});
  REQUIRE(a);
  CHECK(a->len == 100);
  CHECK(a->off == limits::kHeadroom);
  CHECK(std::memcmp(a->data(), data, 100) == 0);
  uint8_t big[101] = {};
  CHECK(pool.copy({big, 101}) == nullptr);   // too big: the buffer went back
  CHECK(pool.available() == 1);
  PacketBuf* b = pool.copy({data, 1});
  REQUIRE(b);
  CHECK(pool.copy({data, 1}) == nullptr);    // exhausted
  pool.put(a);
  pool.put(b);
  CHECK(pool.available() == 2);
}

TEST_CASE("TxQueue: a flush hands the batch over, counts what the device refused, frees every buffer",
          "[common][pool]") {
  BufferPool pool(limits::kBatch + 4);
  TxQueue<PacketBuf*> q(pool);
  uint8_t byte = 1;
  while (!q.full()) q.push(pool.copy({&byte, 1}));
  CHECK(q.size() == limits::kBatch);
  CHECK(pool.available() == 4);
  size_t dropped = 0, seen = 0;
  size_t taken = q.flush_with([&](std::span<PacketBuf*> pkts) { seen = pkts.size(); return size_t(10); }, &dropped);
  CHECK(seen == limits::kBatch);
  CHECK(taken == 10);
  CHECK(dropped == limits::kBatch - 10);
  CHECK(q.empty());
  CHECK(pool.available() == pool.capacity());
  // An empty queue never calls the device; a device claiming more than it got is capped.
  bool called = false;
  CHECK(q.flush_with([&](std::span<PacketBuf*>) { called = true; return size_t(0); }, &dropped) == 0);
  CHECK_FALSE(called);
  q.push(pool.copy({&byte, 1}));
  CHECK(q.flush_with([](std::span<PacketBuf*>) { return size_t(99); }, &dropped) == 1);
  // Buffers still queued when the queue goes away return to the pool.
  {
    TxQueue<PacketBuf*> q2(pool);
    q2.push(pool.copy({&byte, 1}));
    CHECK(pool.available() == pool.capacity() - 1);
  }
  CHECK(pool.available() == pool.capacity());
}
