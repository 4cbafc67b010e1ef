#include <catch2/catch.hpp>

#include <vector>

#include "tun/fake_device.hpp"

using namespace ptun;
using namespace ptun::tun;

namespace {
std::vector<uint8_t> pkt(uint8_t tag, size_t len = 60) { return std::vector<uint8_t>(len, tag); }
}  // namespace

TEST_CASE("fake device: inbound packets come out of read_batch in order", "[tun][fake]") {
  FakeDevice dev("fk0");
  CHECK(dev.name() == "fk0");
  CHECK(dev.fd() == -1);
  BufferPool pool(8);
  std::vector<PacketBuf*> bufs;
  for (int i = 0; i < 4; ++i) bufs.push_back(pool.get());

  CHECK(*dev.read_batch(bufs) == 0);
  for (uint8_t i = 1; i <= 6; ++i) REQUIRE(dev.push_inbound(pkt(i, 40 + i)));
  CHECK(dev.inbound_pending() == 6);

  bufs[0]->pull_front(10);  // read_batch must reset each buffer to the standard headroom
  auto n = dev.read_batch(bufs);
  REQUIRE(n.ok());
  CHECK(*n == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(bufs[i]->off == limits::kHeadroom);
    CHECK(bufs[i]->len == 41 + i);
    CHECK(bufs[i]->data()[0] == i + 1);
  }
  n = dev.read_batch(bufs);
  CHECK(*n == 2);  // fewer than bufs.size(): drained
  CHECK(bufs[1]->data()[0] == 6);
  CHECK(dev.stats().rx_packets == 6);
}

TEST_CASE("fake device: bounds", "[tun][fake]") {
  FakeDevice dev("fk0", 2);
  CHECK(dev.push_inbound(pkt(1)));
  CHECK(dev.push_inbound(pkt(2)));
  CHECK_FALSE(dev.push_inbound(pkt(3)));  // queue full
  CHECK_FALSE(FakeDevice().push_inbound({}));
  CHECK_FALSE(FakeDevice().push_inbound(pkt(1, limits::kMaxDatagram + 1)));

  // A packet larger than the caller's buffer is dropped (the TUN would truncate it).
  FakeDevice big;
  REQUIRE(big.push_inbound(pkt(7, 1000)));
  REQUIRE(big.push_inbound(pkt(8, 100)));
  BufferPool small(1, 1024);
  PacketBuf* b = small.get();
  PacketBuf* one[] = {b};
  CHECK(*big.read_batch(one) == 1);
  CHECK(b->len == 100);
  CHECK(big.stats().rx_dropped == 1);
}

TEST_CASE("fake device: writes are collected, budget imitates a full queue", "[tun][fake]") {
  FakeDevice dev;
  BufferPool pool(5);
  std::vector<PacketBuf*> out;
  for (uint8_t i = 0; i < 5; ++i) {
    PacketBuf* b = pool.get();
    b->len = 20;
    b->data()[0] = i;
    out.push_back(b);
  }
  out[2]->len = 0;  // refused alone, the batch goes on
  CHECK(*dev.write_batch(out) == 4);
  CHECK(dev.stats().tx_rejected == 1);
  REQUIRE(dev.written().size() == 4);
  CHECK(dev.written()[2][0] == 3);

  dev.set_write_budget(2);
  CHECK(*dev.write_batch(out) == 2);  // the caller drops and counts the rest
  auto w = dev.write(std::vector<uint8_t>{0x45});
  CHECK(w.error().code == Errc::would_block);
  dev.set_write_budget(std::nullopt);
  CHECK(dev.write(std::vector<uint8_t>{0x45, 0}).ok());
  CHECK(dev.write({}).error().code == Errc::invalid_argument);
  CHECK(dev.stats().tx_packets == 7);
  CHECK(dev.take_written().size() == 7);
  CHECK(dev.written().empty());
}

TEST_CASE("fake devices can be wired back to back", "[tun][fake]") {
  FakeDevice a("a"), b("b");
  int wakeups = 0;
  b.set_on_inbound([&] { ++wakeups; });
  a.set_on_written([&](std::span<const uint8_t> p) { REQUIRE(b.push_inbound(p)); });
  CHECK(a.write(pkt(9, 33)).ok());
  CHECK(wakeups == 1);
  CHECK(a.written().empty());
  BufferPool pool(1);
  PacketBuf* buf = pool.get();
  PacketBuf* bufs[] = {buf};
  CHECK(*b.read_batch(bufs) == 1);
  CHECK(buf->len == 33);
}

TEST_CASE("fake device: closed", "[tun][fake]") {
  FakeDevice dev;
  dev.set_closed(true);
  BufferPool pool(1);
  PacketBuf* bufs[] = {pool.get()};
  CHECK(dev.read_batch(bufs).error().code == Errc::closed);
  CHECK(dev.write_batch(bufs).error().code == Errc::closed);
  CHECK(dev.write(pkt(1)).error().code == Errc::closed);
}
