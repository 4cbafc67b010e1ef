// Shared by fuzz_client_ingress and fuzz_server_ingress: real credentials from ptun's own PKI code
// and ONE real ECDSA handshake per process between two bare DtlsSessions, frozen as snapshots
// (tls::DtlsSnapshot). Each input restores fresh copies of both ends in microseconds instead of
// paying milliseconds for a handshake, so every input starts from the same established state (a
// finding reproduces from its file) and the fuzzer spends its time past the handshake.
// The same state in every process, too: fixed RNG seeds, certificates issued at a fixed time, and
// (fuzz builds, PTUN_FUZZ_FIXED_CLOCK) mbedTLS's clock fixed, so the handshake randoms, hence the
// keys and every byte the targets send, do not depend on when the process started.
#pragma once
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <mbedtls/ctr_drbg.h>
#ifdef PTUN_FUZZ_FIXED_CLOCK
#include <mbedtls/platform_time.h>
#endif

#include "common/log.hpp"
#include "common/rng.hpp"
#include "proto/wire.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/dtls_session.hpp"
#include "tls/pki.hpp"
#include "tls/record_protection.hpp"

// ASan's defaults for these two targets: each input allocates ~100 KiB of session buffers, so a
// 256 MiB quarantine and 30-frame malloc stacks cost ~20% of the time; use-after-free within
// and across a few thousand inputs is still caught.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16:malloc_context_size=8"; }

namespace ptun::fuzz {

inline const Endpoint kClientAddr = *Endpoint::parse("203.0.113.5:50000");
// The certificates are issued as of 2024-01-01T00:00:00Z, valid for ten years (a real clock
// before 2034 accepts them: the replay builds keep mbedTLS's own clock).
inline constexpr int64_t kIssuedAt = 1704067200;
// mbedTLS's clock in fuzz builds: a day after the issue.
inline constexpr int64_t kFixedClock = kIssuedAt + 86400;

struct SessionFixture {
  std::shared_ptr<tls::DtlsConfig> server_conf, client_conf;
  tls::DtlsSnapshot server, client;  // the two ends of one established association
  // The configs' random generators as the fixture left them (session_fixture() puts them back).
  SeededRng server_rng{1}, client_rng{2};
  mbedtls_ctr_drbg_context server_drbg{}, client_drbg{};
};

// The configs' RNGs: the configs keep a reference, so they live as long as the process.
struct ConfigRngs {
  SeededRng server{1}, client{2};
};
inline ConfigRngs& config_rngs() {
  static ConfigRngs r;
  return r;
}

// The fuzzer's end of a restored association, without mbedTLS (restoring an mbedTLS context runs
// the TLS PRF: most of an input's cost): seals records of any content type with the snapshot's
// keys, continuing the snapshot's sequence numbers, and opens the target's application records.
class Peer {
 public:
  explicit Peer(const tls::DtlsSnapshot& snap) : keys_(&keys_for(snap)), prot_(keys_->prot.get()) {}
  // Appends one record carrying `plain` (cut to 2^14 + 64 bytes: a little over the limit).
  // fill: every byte of `plain` is plain[0] (Reader::body's repeated byte), so the record is a
  // function of (sequence number, type, length, byte) and is taken from the memo when it is there.
  void seal(std::vector<uint8_t>& out, std::span<const uint8_t> plain, uint8_t type = 23, bool fill = false) {
    plain = plain.first(std::min<size_t>(plain.size(), tls::kMaxRecordPlaintext + 64));
    size_t at = out.size();
    size_t len = prot_->headroom() + plain.size() + prot_->tailroom();
    uint64_t seq = seq_++;
    uint64_t key = 0;
    if (fill && !plain.empty() && seq < (1u << 24)) {
      key = seq << 40 | uint64_t(type) << 32 | uint64_t(plain[0]) << 24 | plain.size();
      if (auto rec = keys_->find(key); !rec.empty()) {
        out.insert(out.end(), rec.begin(), rec.end());
        return;
      }
    }
    out.resize(at + len);
    std::copy(plain.begin(), plain.end(), out.begin() + long(at + prot_->headroom()));
    prot_->seal(out.data() + at, plain.size(), uint64_t(kEpoch) << 48 | seq, type);
    if (key) keys_->remember(key, {out.data() + at, len});
  }
  // Calls f(plaintext) for each authentic application record of one DTLS datagram.
  template <class F>
  void open(std::vector<uint8_t>& dtls, F&& f) {
    tls::RecordCursor cur{dtls};
    tls::OpenDrops drops;
    std::span<uint8_t> plain;
    for (int i = 0; i < 64 && tls::open_next(*prot_, window_, kEpoch, cur, &plain, &drops); ++i) f(plain);
  }

 private:
  // Per snapshot, for the process: one AEAD context (building one per input cost more than the
  // input's records; each record sets its own nonce, so no state carries between inputs), and a
  // memo of the repeated-byte records sealed so far. Those are up to 16 KiB each and their
  // ChaCha20 was a fifth of server_ingress's time; a mutated input mostly seals the same ones
  // again. A hit gives the very bytes seal() would: what the target sees does not depend on
  // earlier inputs. The memo allocates nothing after its first use (a direct-mapped table over
  // one arena, emptied when full): an input that allocated and kept memory would look like a
  // leak to libFuzzer, which then runs it again with a leak check.
  struct Keys {
    struct Slot {
      uint64_t key = 0;  // 0: empty
      uint32_t at = 0, len = 0;
    };
    static constexpr size_t kSlots = 4096, kArena = 32u << 20;
    const tls::DtlsSnapshot* snap;
    std::unique_ptr<tls::RecordProtection> prot;
    std::unique_ptr<Slot[]> slots{new Slot[kSlots]};
    std::unique_ptr<uint8_t[]> arena{new uint8_t[kArena]};
    size_t used = 0;

    Slot& slot(uint64_t key) { return slots[(key * 0x9e3779b97f4a7c15ull) >> 52]; }  // 12 bits: kSlots
    std::span<const uint8_t> find(uint64_t key) {
      const Slot& s = slot(key);
      if (s.key != key) return {};
      return {arena.get() + s.at, s.len};
    }
    void remember(uint64_t key, std::span<const uint8_t> rec) {
      if (used + rec.size() > kArena) {  // full: start over
        std::fill(slots.get(), slots.get() + kSlots, Slot{});
        used = 0;
      }
      std::copy(rec.begin(), rec.end(), arena.get() + used);
      slot(key) = Slot{key, uint32_t(used), uint32_t(rec.size())};
      used += rec.size();
    }
  };
  static Keys& keys_for(const tls::DtlsSnapshot& snap) {
    static std::vector<std::unique_ptr<Keys>> made;
    for (auto& k : made)
      if (k->snap == &snap) return *k;
    auto p = tls::RecordProtection::make(snap.record_keys);
    if (!snap.has_record_keys || !p) abort();
    auto k = std::make_unique<Keys>();
    k->snap = &snap;
    k->prot = std::move(*p);
    made.push_back(std::move(k));
    return *made.back();
  }

  static constexpr uint16_t kEpoch = 1;
  Keys* keys_;
  tls::RecordProtection* prot_;
  tls::ReplayWindow window_;
  uint64_t seq_ = 2;  // epoch 1 carried Finished (0) and the fixture's one record (1)
};

namespace detail {

using Queue = std::deque<std::vector<uint8_t>>;
inline void to_queue(void* q, std::span<const uint8_t> d) { static_cast<Queue*>(q)->emplace_back(d.begin(), d.end()); }

// Hands every queued datagram to `to` and drives it (handshake, then records).
inline void deliver(Queue& q, tls::DtlsSession& to, uint64_t now) {
  uint8_t buf[2048];
  while (!q.empty()) {
    to.feed(q.front(), now);
    q.pop_front();
    if (!to.established()) to.handshake(now);
    if (to.established())
      while (true) {
        auto r = to.read(buf, sizeof buf, now);
        if (!r || *r == 0) break;
      }
  }
}

#ifdef PTUN_FUZZ_FIXED_CLOCK
inline mbedtls_time_t fixed_clock(mbedtls_time_t* t) {
  if (t) *t = kFixedClock;
  return kFixedClock;
}
#endif

inline SessionFixture make_fixture() {
  log::set_level(log::Level::error);
#ifdef PTUN_FUZZ_FIXED_CLOCK
  if (mbedtls_platform_set_time(&fixed_clock) != 0) abort();
#endif
  char dir[] = "/tmp/ptun-fuzz-XXXXXX";
  if (!mkdtemp(dir)) abort();
  SeededRng rng(42);
  tls::pki::IssueOptions server_opts, client_opts;
  server_opts.server = true;
  for (auto* o : {&server_opts, &client_opts}) {
    o->now = kIssuedAt;
    o->days = tls::pki::kMaxLeafDays;
  }
  if (!tls::pki::init_ca(dir, "fuzz CA", rng, kIssuedAt) ||
      !tls::pki::issue(dir, "vpn.example.org", server_opts, rng) || !tls::pki::issue(dir, "alice", client_opts, rng))
    abort();
  std::string d(dir);
  auto sc = tls::Credentials::load(d + "/ca.crt", d + "/vpn.example.org.crt", d + "/vpn.example.org.key");
  auto cc = tls::Credentials::load(d + "/ca.crt", d + "/alice.crt", d + "/alice.key");
  for (const char* f : {"ca.crt", "ca.key", "vpn.example.org.crt", "vpn.example.org.key", "alice.crt", "alice.key"})
    unlink((d + "/" + f).c_str());
  rmdir(dir);
  if (!sc || !cc) abort();
  SeededRng& server_rng = config_rngs().server;
  SeededRng& client_rng = config_rngs().client;
  SessionFixture f;
  // One suite on every machine (the automatic order depends on the CPU and the AEAD backend):
  // ChaCha20-Poly1305, mbedTLS's faster AEAD (AES-GCM made an input ~15% slower).
  tls::DtlsOptions opts;
  opts.suite_order = tls::SuiteOrder::chacha_first;
  auto sconf = tls::DtlsConfig::make_server(*sc, server_rng, opts);
  auto cconf = tls::DtlsConfig::make_client(*cc, client_rng, opts);
  if (!sconf || !cconf) abort();
  f.server_conf = *sconf;
  f.client_conf = *cconf;

  Queue c2s, s2c;
  tls::DtlsSession server(f.server_conf, &to_queue, &s2c), client(f.client_conf, &to_queue, &c2s);
  uint8_t id[proto::kMaxEndpointIdSize];
  if (!server.set_client_id({id, proto::endpoint_id_bytes(kClientAddr, id)}) || !client.set_hostname("vpn.example.org"))
    abort();
  server.keep_keys_for_snapshot();
  client.keep_keys_for_snapshot();
  uint64_t now = 1'000'000;
  client.handshake(now);
  for (int i = 0; i < 20 && !(server.established() && client.established()); ++i) {
    deliver(c2s, server, now);
    deliver(s2c, client, now);
  }
  // One record each way: the server frees its last flight only once the client spoke in the new
  // epoch, and mbedTLS snapshots only a session with no handshake state left.
  const uint8_t ping[1] = {0};
  if (!client.write(ping, now)) abort();
  deliver(c2s, server, now);
  if (!server.write(ping, now)) abort();
  deliver(s2c, client, now);
  auto ss = server.snapshot();
  auto cs = client.snapshot();
  if (!ss || !cs) {
    fprintf(stderr, "session fixture: %s\n", (!ss ? ss.error() : cs.error()).message.c_str());
    abort();
  }
  f.server = std::move(*ss);
  f.client = std::move(*cs);
  f.server_rng = server_rng;
  f.client_rng = client_rng;
  f.server_drbg = f.server_conf->drbg();
  f.client_drbg = f.client_conf->drbg();
  // Each end restored afresh must accept the other's next Peer record (sequence numbers line up).
  for (int side = 0; side < 2; ++side) {
    Queue unused;
    tls::DtlsSession rx(side ? f.client_conf : f.server_conf, &to_queue, &unused);
    if (!rx.restore(side ? f.client : f.server)) abort();
    Peer tx(side ? f.server : f.client);
    std::vector<uint8_t> d;
    const uint8_t probe[3] = {1, 2, 3};
    tx.seal(d, probe);
    rx.feed(d, now);
    uint8_t buf[64];
    auto r = rx.read(buf, sizeof buf, now);
    if (!r || *r != sizeof probe) {
      fprintf(stderr, "session fixture: a Peer record was not accepted\n");
      abort();
    }
  }
  return f;
}

}  // namespace detail

// The fixture, with the configs' random generators put back where it left them: a handshake an
// input starts (the client rekeying or reconnecting, the server admitting a ClientHello) draws the
// same randoms however many inputs ran before it. (They used to go on from the previous input's
// state: the same client_ingress input run three times in a row gave three different traces.)
inline const SessionFixture& session_fixture() {
  static const SessionFixture f = detail::make_fixture();
  config_rngs().server = f.server_rng;
  config_rngs().client = f.client_rng;
  f.server_conf->drbg() = f.server_drbg;
  f.client_conf->drbg() = f.client_drbg;
  return f;
}

// The datagrams a harness captured from its target, oldest first, at most N: a ring of buffers
// kept across inputs (a vector per datagram was a fifth of an input's allocations).
template <size_t N>
class DatagramRing {
 public:
  bool empty() const { return count_ == 0; }
  void clear() { head_ = count_ = 0; }
  void push(std::span<const uint8_t> d) {
    if (count_ == N) pop();
    bufs_[(head_ + count_++) % N].assign(d.begin(), d.end());
  }
  // The oldest datagram, valid until the next push.
  std::vector<uint8_t>& front() { return bufs_[head_]; }
  void pop() {
    head_ = (head_ + 1) % N;
    --count_;
  }

 private:
  std::array<std::vector<uint8_t>, N> bufs_;
  size_t head_ = 0, count_ = 0;
};

// FUZZ_TRACE=1: the harness prints one hash per input of what its target did (events, delivered
// packets, the sizes of the datagrams it sent), so a run of the corpus can be compared with another
// (e.g. with PTUN_FUZZ_NO_REUSE=1, or one process per input) to show that no state leaks from one
// input into the next.
struct Trace {
  bool on = getenv("FUZZ_TRACE") != nullptr;
  uint64_t h = 0;
  void add(std::span<const uint8_t> d) {
    if (!on) return;
    h = (h ^ d.size()) * 0x100000001b3ull;
    for (uint8_t b : d) h = (h ^ b) * 0x100000001b3ull;
  }
  void add(uint64_t v) {
    if (!on) return;
    h = (h ^ v) * 0x100000001b3ull;
  }
  void begin() { h = 0xcbf29ce484222325ull; }
  void end() {
    if (on) fprintf(stderr, "trace %016llx\n", static_cast<unsigned long long>(h));
  }
};

// Reads an input as operands: past the end, zeros.
struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return uint16_t((u8() << 8) | u8()); }
  std::span<const uint8_t> bytes(size_t len) {
    len = std::min(len, n);
    std::span<const uint8_t> s(p, len);
    p += len;
    n -= len;
    return s;
  }
  // A u16 length, then that many bytes of input, or (fill) the next byte repeated that often:
  // records and datagrams up to 64 KiB stay reachable from short inputs (fuzz/*_ingress.flags
  // caps those inputs at 1 KiB so that more of them run).
  std::span<const uint8_t> body(bool fill, std::vector<uint8_t>& room) {
    uint16_t len = u16();
    if (!fill) return bytes(len);
    room.assign(len, u8());
    return room;
  }
};

}  // namespace ptun::fuzz
