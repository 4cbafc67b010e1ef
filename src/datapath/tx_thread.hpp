// The pipeline's second core: a thread that seals the outbound records and makes the transmit
// system calls (the TUN writes and the sendmmsg) of full batches, while the loop's thread goes on
// reading the device, receiving and opening.
//
// Why the transmit calls: on Linux the kernel work of a packet runs in the thread that makes the
// call. A write to the TUN runs the whole receive path of the host's stack (IP, TCP, the
// application's socket); a sendmmsg runs UDP, IP, the qdisc and, over a veth, the peer's receive
// up to its socket. In a profile of either daemon under a TCP transfer that is most of the CPU
// (bench/profile.sh), and it is what a second core can take without sharing any session state.
//
// Why the sealing: the AEAD over every outbound byte is the largest piece of user-space work
// left in a daemon (libsodium's ChaCha20 was 29-32 % of the static build's profile), and a record
// whose sequence number the loop took (tls::PendingSeal) needs nothing else of its session: the
// keys are immutable after the handshake and the sealing context is the deferred one, which only
// the writer of the socket queue uses. The loop decides everything (which session, the number,
// the outer header); the thread only does the arithmetic.
//
//   loop thread:  read device -> policy, sequence number -> Job {socket, datagrams, seals} --ring-->
//                 recv -> open -> Job {dev, packets} ------------------------------------------ring-->
//   tx thread:    seal each pending record, send_batch / write_batch -> done -------> loop reclaims
//
// A single-producer single-consumer ring of kJobs jobs, three counters: submitted (loop), done
// (tx thread), reclaimed (loop). A job's buffers belong to the tx thread from submit() until it
// is done; reclaim() gives them back to the loop with the counts, and drops the job's hold on
// the keys (PendingSeal::prot: its count changes on the loop only). Nothing else is shared: the
// loop hands over a device or socket only while the ring is idle or with a job, and changes
// either only after quiesce(). A device or socket is written by one thread at a time.
//
// Order: the loop writes a batch itself (inline) only when the ring is idle (every job done), so
// a packet never overtakes one handed over before it. Small batches go inline (a ping does not
// pay for a thread wake-up; Pipeline decides), and everything after them while jobs are pending.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "common/limits.hpp"
#include "core/udp_socket.hpp"
#include "tls/record_protection.hpp"
#include "tun/packet_device.hpp"

namespace ptun::datapath {

// Seals every pending record of a batch of datagrams (seals[i] belongs to d[i]); the number
// sealed. Whoever holds the batch: the loop at its flush, or the tx thread.
size_t seal_pending(std::span<const core::Datagram> d, std::span<const tls::PendingSeal> seals);

class TxThread {
 public:
  static constexpr size_t kJobs = 2;   // at most kJobs * kBatch buffers away from the pool

  struct Job {
    tun::PacketDevice* dev = nullptr;   // exactly one of dev, sock
    core::UdpSocket* sock = nullptr;
    size_t n = 0;
    std::array<core::Datagram, limits::kBatch> items{};   // sock: the send_batch argument
    std::array<PacketBuf*, limits::kBatch> bufs{};        // dev: the write_batch argument
    std::array<tls::PendingSeal, limits::kBatch> seals{};  // sock: items[i]'s record, if unsealed
    size_t taken = 0;                   // set by the tx thread: how many the device/socket took
    size_t sealed = 0;                  // set by the tx thread: records it sealed
  };

  TxThread();    // starts the thread
  ~TxThread();   // finishes what is queued, then joins
  TxThread(const TxThread&) = delete;
  TxThread& operator=(const TxThread&) = delete;

  // Loop thread only, all of them.
  // True when every submitted job is done (reclaimed or not): the loop may write inline.
  bool idle() const { return done_.load(std::memory_order_acquire) == submitted_; }
  // A free job to fill, or nullptr when kJobs are submitted and not reclaimed.
  Job* next_free();
  // Hands the job from next_free() to the thread.
  void submit();
  // Calls f(job) for every done job, oldest first, then frees its slot.
  template <typename F>
  void reclaim(F&& f) {
    const uint32_t done = done_.load(std::memory_order_acquire);
    for (; reclaimed_ != done; ++reclaimed_) f(jobs_[reclaimed_ % kJobs]);
  }
  // Blocks until the thread finishes one more job (returns at once when none is pending).
  void wait_one();
  // Blocks until every submitted job is done.
  void wait_idle();

 private:
  void run();
  static void execute(Job& j);

  std::array<Job, kJobs> jobs_{};
  uint32_t submitted_ = 0;            // loop thread: jobs handed over (published below)
  uint32_t reclaimed_ = 0;            // loop thread
  alignas(64) std::atomic<uint32_t> published_{0};   // = submitted_, for the tx thread
  alignas(64) std::atomic<uint32_t> done_{0};        // tx thread: jobs finished
  std::atomic<uint32_t> wake_{0};     // bumped on submit and stop: the tx thread waits on it
  std::atomic<bool> stop_{false};
  std::thread thread_;                // last: started when the rest is initialised
};

}  // namespace ptun::datapath
