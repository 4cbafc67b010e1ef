// The pipeline's tx thread (src/datapath/tx_thread.hpp): batches handed over are written in
// order, small ones stay on the loop without overtaking, every buffer comes back to the pool and
// the counters add up. Also run under ThreadSanitizer (make test-tsan): a data race between the
// loop and the tx thread fails the run.
// NOTE: never co_await inside a Catch2 assertion macro (g++ 12 evaluates it twice).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/core.hpp"
#include "datapath/pipeline.hpp"
#include "datapath/tx_thread.hpp"
#include "tls/record_protection.hpp"
#include "tun/fake_device.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

struct NullPolicy : datapath::Policy {
  void on_device_packet(std::span<uint8_t>, const packet::Parsed&, uint64_t) override {}
  void on_datagram(size_t, const Endpoint&, std::span<uint8_t>, uint64_t) override {}
  void after_batch(uint64_t) override {}
  void on_device_gone(const Error&) override {}
};

// Packet i: 4 bytes of i, then `len - 4` bytes of filler (the fake device does not parse it).
std::vector<uint8_t> numbered(uint32_t i, size_t len = 100) {
  std::vector<uint8_t> p(len, uint8_t(i));
  std::memcpy(p.data(), &i, 4);
  return p;
}
uint32_t number_of(std::span<const uint8_t> p) {
  uint32_t i = 0;
  std::memcpy(&i, p.data(), 4);
  return i;
}

// A pipeline with the tx thread on, writing to a fake device the thread may write to.
struct Rig {
  Loop loop;
  NullPolicy pol;
  tun::FakeDevice dev;
  datapath::Pipeline dp;
  explicit Rig(size_t pool_size) : dp(loop, pol, pool_size) {
    dev.set_thread_safe_writes(true);
    dp.set_device(&dev);
    dp.set_tx_thread(true);
  }
  // Queues packets first..first+n-1 for the device (copied into pool buffers).
  void to_device(uint32_t first, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      auto bytes = numbered(first + uint32_t(i));
      dp.to_device(bytes, nullptr);
    }
  }
};

}  // namespace

TEST_CASE("tx thread: jobs are written in order and come back with their counts", "[datapath][threads]") {
  tun::FakeDevice dev;
  dev.set_thread_safe_writes(true);
  BufferPool pool(256);
  datapath::TxThread tx;
  CHECK(tx.idle());
  uint32_t next = 0;
  size_t reclaimed = 0, taken = 0;
  auto give_back = [&](datapath::TxThread::Job& j) {
    for (size_t i = 0; i < j.n; ++i) pool.put(j.bufs[i]);
    taken += j.taken;
    ++reclaimed;
  };
  for (int round = 0; round < 200; ++round) {
    datapath::TxThread::Job* j = tx.next_free();
    while (!j) {   // both slots in flight: wait for the thread, take them back
      tx.wait_one();
      tx.reclaim(give_back);
      j = tx.next_free();
    }
    j->dev = &dev;
    const size_t n = 1 + size_t(round % limits::kBatch);
    for (size_t i = 0; i < n; ++i) {
      auto bytes = numbered(next++);
      j->bufs[i] = pool.copy(bytes);
      REQUIRE(j->bufs[i]);
    }
    j->n = n;
    tx.submit();
  }
  tx.wait_idle();
  tx.reclaim(give_back);
  CHECK(tx.idle());
  CHECK(reclaimed == 200);
  CHECK(taken == next);
  CHECK(pool.available() == 256);
  const auto& w = dev.written();
  REQUIRE(w.size() == next);
  for (uint32_t i = 0; i < next; ++i) REQUIRE(number_of(w[i]) == i);
}

TEST_CASE("tx thread: the pipeline hands big batches over, keeps order with small ones, and counts", "[datapath][threads]") {
  Rig r(512);
  auto& dp = r.dp;
  REQUIRE(dp.tx_thread());
  uint32_t next = 0;
  // Batches of every size from 1 to kBatch + 3, flushed as the loop flushes after each batch:
  // the small ones go out on the loop only when the thread is idle, else behind its jobs.
  for (int round = 0; round < 300; ++round) {
    const size_t n = 1 + size_t(round % (limits::kBatch + 3));
    r.to_device(next, n);
    next += uint32_t(n);
    dp.flush();
  }
  dp.quiesce();
  const auto& c = dp.counters();
  CHECK(c.dev_tx_packets == next);
  CHECK(c.drop_dev_write == 0);
  CHECK(c.drop_pool_empty == 0);
  CHECK(c.tx_thread_batches > 0);
  CHECK(dp.pool().available() == 512);
  const auto& w = r.dev.written();
  REQUIRE(w.size() == next);
  for (uint32_t i = 0; i < next; ++i) REQUIRE(number_of(w[i]) == i);
}

TEST_CASE("tx thread: a full device queue is counted as drops, and every buffer comes back", "[datapath][threads]") {
  Rig r(512);
  auto& dp = r.dp;
  r.dev.set_write_budget(100);   // then it acts as a full kernel queue
  r.to_device(0, 4 * limits::kBatch);
  dp.flush();
  dp.quiesce();
  CHECK(dp.counters().dev_tx_packets == 100);
  CHECK(dp.counters().drop_dev_write == 4 * limits::kBatch - 100);
  CHECK(dp.counters().tx_thread_batches == 4);
  CHECK(dp.pool().available() == 512);
}

TEST_CASE("tx thread: datagrams to a real socket arrive in order and complete", "[datapath][threads]") {
  Loop loop;
  NullPolicy pol;
  auto rx = UdpSocket::bind(loop, ep("127.0.0.1:0"));
  auto txs = UdpSocket::bind(loop, ep("127.0.0.1:0"));
  REQUIRE(rx.ok());
  REQUIRE(txs.ok());
  datapath::Pipeline dp(loop, pol, 512);
  dp.set_socket(0, txs->get());
  dp.set_tx_thread(true);
  const Endpoint to = (*rx)->local_endpoint();
  const uint32_t kTotal = 1000;   // under the default socket buffers: nothing is lost on loopback
  uint32_t next = 0;
  std::vector<uint32_t> got;
  BufferPool rpool(limits::kBatch);
  std::vector<Datagram> in(limits::kBatch);
  for (auto& d : in) d.buf = rpool.get();
  while (next < kTotal) {
    const size_t n = std::min<size_t>(kTotal - next, 1 + next % 40);
    for (size_t i = 0; i < n; ++i) {
      auto bytes = numbered(next++, 200);
      dp.send_to(0, to, bytes);
    }
    dp.flush();
    for (;;) {   // drain what already arrived (the receiver keeps up: no socket buffer overflow)
      auto r = (*rx)->try_recv_batch(in);
      REQUIRE(r.ok());
      if (*r == 0) break;
      for (size_t i = 0; i < *r; ++i) got.push_back(number_of(in[i].buf->span()));
    }
  }
  dp.quiesce();
  for (int spins = 0; got.size() < kTotal && spins < 2000; ++spins) {
    auto r = (*rx)->try_recv_batch(in);
    REQUIRE(r.ok());
    for (size_t i = 0; i < *r; ++i) got.push_back(number_of(in[i].buf->span()));
    if (*r == 0) usleep(1000);
  }
  CHECK(dp.counters().net_tx_datagrams == kTotal);
  CHECK(dp.counters().drop_udp_send == 0);
  CHECK(dp.counters().tx_thread_batches > 0);
  CHECK(dp.pool().available() == 512);
  REQUIRE(got.size() == kTotal);
  for (uint32_t i = 0; i < kTotal; ++i) REQUIRE(got[i] == i);
}

namespace {

// Records queued unsealed (tls::PendingSeal) through a pipeline to a real loopback socket, and
// the receiving end that opens them with the same keys (one key both ways).
struct SealRig {
  // Record i carries plain_len(i) bytes: each longer than the one before, so the socket sends
  // them as single datagrams, never as a UDP GSO run (equal sizes, or a shorter one last), which
  // qemu's big-endian guests get wrong (tests/CMakeLists.txt): the test runs on every target.
  static uint32_t plain_len(uint32_t i) { return 200 + i; }
  static constexpr uint64_t kEpoch = uint64_t(1) << 48;
  Loop loop;
  NullPolicy pol;
  std::unique_ptr<UdpSocket> rx, txs;
  datapath::Pipeline dp{loop, pol, 512};
  std::shared_ptr<tls::RecordProtection> session_keys;   // what a session holds
  std::unique_ptr<tls::RecordProtection> opener;          // the peer's
  BufferPool rpool{limits::kBatch};
  std::vector<Datagram> in{limits::kBatch};
  std::vector<std::vector<uint8_t>> got;                  // datagrams as received
  uint32_t next = 0;                                      // the next record's number
  uint32_t opened = 0;                                    // got[0..opened) checked (opened in place)

  explicit SealRig(tls::RecordAead aead) {
    auto r = UdpSocket::bind(loop, ep("127.0.0.1:0"));
    auto t = UdpSocket::bind(loop, ep("127.0.0.1:0"));
    REQUIRE(r.ok());
    REQUIRE(t.ok());
    rx = std::move(*r);
    txs = std::move(*t);
    dp.set_socket(0, txs.get());
    tls::RecordKeys keys;
    keys.aead = aead;
    for (size_t i = 0; i < 32; ++i) keys.write_key[i] = keys.read_key[i] = uint8_t(3 * i + 1);
    for (size_t i = 0; i < 12; ++i) keys.write_iv[i] = keys.read_iv[i] = uint8_t(0x50 + i);
    auto made = tls::RecordProtection::make(keys);
    auto peer = tls::RecordProtection::make(keys);
    REQUIRE(made);
    REQUIRE(peer);
    session_keys = std::move(*made);
    opener = std::move(*peer);
    for (auto& d : in) d.buf = rpool.get();
  }
  // Queues n records, each a datagram of 4 bytes of prefix (as the outer header), the record's
  // headroom, the plaintext (its number first) and room for the tag, sealed later.
  void queue(size_t n) {
    const size_t head = 4 + session_keys->headroom(), tail = session_keys->tailroom();
    for (size_t i = 0; i < n; ++i, ++next) {
      const uint32_t len = plain_len(next);
      std::vector<uint8_t> dgram(head + len + tail, 0);
      auto plain = numbered(next, len);
      std::memcpy(dgram.data() + head, plain.data(), len);
      dp.send_to(0, rx->local_endpoint(), dgram, tls::PendingSeal{session_keys.get(), {}, kEpoch | next, 4, len});
    }
  }
  size_t drain() {
    auto r = rx->try_recv_batch(in);
    REQUIRE(r.ok());
    for (size_t i = 0; i < *r; ++i) got.emplace_back(in[i].buf->span().begin(), in[i].buf->span().end());
    return *r;
  }
  // Waits for every record queued so far, then checks each: its number in the header, a tag that
  // verifies, the plaintext it was given, in order.
  void check_all_arrived_and_open() {
    dp.flush();
    dp.quiesce();
    for (int spins = 0; got.size() < next && spins < 2000; ++spins)
      if (drain() == 0) usleep(1000);
    REQUIRE(got.size() == next);
    for (uint32_t& i = opened; i < next; ++i) {
      std::span<uint8_t> rec(got[i].data() + 4, got[i].size() - 4);
      uint64_t es = 0;
      for (int b = 0; b < 8; ++b) es = es << 8 | rec[3 + b];
      REQUIRE(es == (kEpoch | i));
      std::span<uint8_t> plain;
      REQUIRE(opener->open(rec, &plain));
      REQUIRE(plain.size() == plain_len(i));
      REQUIRE(number_of(plain) == i);
    }
    CHECK(dp.counters().net_tx_datagrams == next);
    CHECK(dp.pool().available() == 512);
  }
};

// A device whose writes block until the test opens the gate: keeps the tx thread busy.
struct GatedDevice : tun::PacketDevice {
  std::string name_ = "gated";
  std::atomic<bool> open{false}, entered{false};
  std::atomic<size_t> written{0};
  const std::string& name() const override { return name_; }
  int fd() const override { return -1; }
  Result<size_t> read_batch(std::span<PacketBuf*>) override { return size_t(0); }
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override {
    entered.store(true);
    while (!open.load()) std::this_thread::yield();
    written += pkts.size();
    return pkts.size();
  }
  bool thread_safe_writes() const override { return true; }
  Result<void> write(std::span<const uint8_t>) override { return ok(); }
  tun::DeviceStats stats() const override { return {}; }
};

}  // namespace

// The outbound direction's AEAD on the tx thread: records queued unsealed leave sealed, in order,
// and open with the peer's keys, whether the thread or the loop's flush sealed them; and a record
// outlives the session that numbered it (its keys are gone before the last batch is sealed).
TEST_CASE("tx thread: pending records are sealed before they leave and open at the peer, in order", "[datapath][threads]") {
  const bool thread = GENERATE(true, false);
  SealRig r(GENERATE(tls::RecordAead::aes_128_gcm, tls::RecordAead::chacha20_poly1305));
  r.dp.set_tx_thread(thread);
  while (r.next < 500) {
    r.queue(1 + r.next % 40);
    if (r.next >= 500) break;
    r.dp.flush();
    while (r.drain() > 0) {}
  }
  // The session ends with its last batch still queued, unsealed: only the queued PendingSeals
  // hold its keys now.
  r.session_keys.reset();
  r.check_all_arrived_and_open();
  if (thread) {
    CHECK(r.dp.counters().tx_thread_seals > 0);             // the first batch of 8 found it idle
    CHECK(r.dp.counters().tx_thread_seals < r.next);        // batches under 8 were sealed by the loop
  } else {
    CHECK(r.dp.counters().tx_thread_seals == 0);
  }
}

// When the thread is still busy with an earlier job, the loop seals the next batch itself (with
// its own context) before handing it over, instead of waiting: the records open all the same.
TEST_CASE("tx thread: a busy thread's next batch is sealed by the loop", "[datapath][threads]") {
  SealRig r(tls::RecordAead::chacha20_poly1305);
  GatedDevice dev;
  r.dp.set_device(&dev);
  r.dp.set_tx_thread(true);
  for (uint32_t i = 0; i < datapath::Pipeline::kTxThreadMinBatch; ++i) {
    auto bytes = numbered(i);
    r.dp.to_device(bytes, nullptr);
  }
  r.dp.flush();   // a device job: the thread blocks in its write
  for (int spins = 0; !dev.entered.load() && spins < 5000; ++spins) usleep(1000);
  REQUIRE(dev.entered.load());
  r.queue(10);
  r.dp.flush();   // handed over (the thread has work), sealed by the loop first
  dev.open.store(true);
  r.check_all_arrived_and_open();
  CHECK(r.dp.counters().tx_thread_seals == 0);
  CHECK(r.dp.counters().tx_thread_batches == 2);
  CHECK(dev.written.load() == datapath::Pipeline::kTxThreadMinBatch);
  r.queue(10);    // the thread idle again: it seals them
  r.check_all_arrived_and_open();
  CHECK(r.dp.counters().tx_thread_seals == 10);
}

TEST_CASE("tx thread: turning it off waits for it and the loop writes again", "[datapath][threads]") {
  Rig r(256);
  auto& dp = r.dp;
  r.to_device(0, limits::kBatch);   // the 64th push flushes: a job
  dp.set_tx_thread(false);   // waits for that job, takes its buffers back
  CHECK_FALSE(dp.tx_thread());
  CHECK(dp.counters().dev_tx_packets == limits::kBatch);
  CHECK(dp.counters().tx_thread_batches == 1);
  auto bytes = numbered(limits::kBatch);
  for (int i = 0; i < 10; ++i) dp.to_device(bytes, nullptr);
  dp.flush();
  CHECK(dp.counters().dev_tx_packets == limits::kBatch + 10);
  CHECK(dp.counters().tx_thread_batches == 1);
  CHECK(dp.pool().available() == 256);
  CHECK(r.dev.written().size() == limits::kBatch + 10);
}
