// The per-packet pipeline both roles share: one packet device (kernel TUN, lwIP netstack, the
// server's userspace forwarder) on one side, UDP sockets on the other, pool buffers in between.
//
//   device --read_batch--> parse --> Policy::on_device_packet --> send_to(socket, peer)  --> sendmmsg
//   socket --recv_batch--> Policy::on_datagram --(session opens)--> to_device(ip)        --> TUN write batch
//
// The pipeline owns the buffers, the receive loops, the transmit queues and their flushing, the
// "too big" answer and MSS clamping; a role plugs in a Policy that decides where a packet goes
// (which session, or drop). Counters mean the same in both roles.
//
// Copies: to_device() and send_to() *adopt* the buffer the bytes already live in when they lie
// inside the packet being handled (a record opened in place, a packet sealed in place): the
// buffer moves to the transmit queue and the receive slot gets a fresh one. Only bytes from
// elsewhere (a session's scratch buffer) are copied. `copied_*` counts those copies.
//
// Sealing: a session's data record reaches send_to() unsealed, with a tls::PendingSeal. Without
// the tx thread the pipeline seals it there and then; with it, when the batch is handed over (by
// the thread, or by the loop if the thread is still busy), so that AEAD work can be the thread's.
//
// Threads: every call on the loop's thread. With set_tx_thread(true), full transmit batches for
// a device that allows it (the kernel TUN) and for the UDP sockets are sealed and written by a
// second thread (tx_thread.hpp says why and how); nothing else of the pipeline or the roles is
// touched there.
// A role quiesce()s before it changes a socket under the pipeline (rebind) or closes it.
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/buffer_pool.hpp"
#include "common/net_addr.hpp"
#include "core/core.hpp"
#include "datapath/tx_thread.hpp"
#include "packet/parse.hpp"
#include "tun/packet_device.hpp"

namespace ptun::datapath {

struct Counters {
  uint64_t dev_rx_packets = 0;   // read from the device
  uint64_t dev_tx_packets = 0;   // accepted by the device
  uint64_t net_rx_datagrams = 0; // received from the sockets
  uint64_t net_tx_datagrams = 0; // accepted by the sockets
  uint64_t drop_malformed = 0;   // not a parseable IP packet (from the device or out of a session)
  uint64_t drop_too_big = 0;     // larger than the tunnel MTU: an ICMP "too big" went back
  uint64_t drop_dev_write = 0;   // the device refused the packet or its queue was full
  uint64_t drop_udp_send = 0;    // the socket refused the datagram, or there was no socket
  uint64_t drop_pool_empty = 0;  // no free buffer
  uint64_t adopted_to_dev = 0;   // packets that reached the device queue without a copy
  uint64_t copied_to_dev = 0;    // ... with one copy
  uint64_t adopted_to_net = 0;   // datagrams that reached a socket queue without a copy
  uint64_t copied_to_net = 0;    // ... with one copy
  uint64_t tx_thread_batches = 0;  // batches written by the tx thread (the rest: by the loop)
  uint64_t tx_thread_seals = 0;    // records sealed by the tx thread (the rest: by the loop)
};

// (cause, count) of every drop the pipeline counts, for status and metrics: one set of names for
// both roles ("malformed", "too_big", "tun_write", "udp_send", "pool_empty").
std::vector<std::pair<const char*, uint64_t>> drop_causes(const Counters& c);
// The counters as `ptun status` shows them (tun_rx_packets, ..., copies per direction).
nlohmann::json to_json(const Counters& c);

// What a role decides. Calls come from inside the pipeline's loops, synchronously.
class Policy {
 public:
  virtual ~Policy() = default;
  // One IP packet read from the device, already parsed (p.total_len <= pkt.size()). The policy
  // sends it (usually: seal into a session, then send_to), or drops and counts it.
  virtual void on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t now) = 0;
  // One datagram received on socket `index` from `peer`.
  virtual void on_datagram(size_t index, const Endpoint& peer, std::span<uint8_t> payload, uint64_t now) = 0;
  // After every batch, once the queues are flushed: re-arm timers.
  virtual void after_batch(uint64_t now) = 0;
  // The device failed for good (a deleted TUN): the receive loop has ended.
  virtual void on_device_gone(const Error& e) = 0;
};

class Pipeline {
 public:
  // `pool_size` buffers of limits::kPacketBufSize bytes, allocated once.
  Pipeline(core::Loop& loop, Policy& policy, size_t pool_size);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // The device (not owned; it must outlive the pipeline or be replaced before it dies).
  void set_device(tun::PacketDevice* dev);
  // Socket `index` (not owned), e.g. one per listen address. Indexes are dense from 0.
  void set_socket(size_t index, core::UdpSocket* sock);
  // The second core (tx_thread.hpp): on, batches of at least kTxThreadMinBatch packets go to a
  // transmit thread; off (the default), the loop writes everything. Turning it off waits for it.
  void set_tx_thread(bool on);
  bool tx_thread() const { return tx_ != nullptr; }
  // Waits until the tx thread has written everything handed to it and takes the buffers back
  // (counters are then exact). Call before rebinding or closing a socket the pipeline sends on.
  void quiesce();
  static constexpr size_t kTxThreadMinBatch = 8;   // smaller batches: the loop (no wake-up)
  // The tunnel MTU: larger packets from the device are answered with an ICMP "too big" from
  // `own_v4`/`own_v6` (the local tunnel addresses; none = dropped silently); TCP MSS is clamped
  // to fit it both ways.
  void set_mtu(uint32_t mtu, std::optional<IpAddr> own_v4, std::optional<IpAddr> own_v6);
  uint32_t mtu() const { return mtu_; }

  // Until stopped (or the device fails): waits for the device, drains it a batch at a time.
  core::Task<void> run_device(core::CancelToken stop);
  // Until stopped: receives batches on socket `index`.
  core::Task<void> run_socket(size_t index, core::CancelToken stop);

  // Queue one IP packet for the device (p: the caller's parse of it, for MSS clamping; nullptr for
  // packets ptun made itself). Adopts the current buffer when `ip` lies inside it.
  void to_device(std::span<const uint8_t> ip, const packet::Parsed* p);
  // Queue one datagram for socket `index`. Adopts the current buffer when `dgram` lies inside it.
  // `seal`: its record is sealed here without the tx thread, else when its batch is handed over.
  void send_to(size_t index, const Endpoint& peer, std::span<const uint8_t> dgram, tls::PendingSeal seal = {});
  // For a packet from the device before it is sealed: false if it exceeds the tunnel MTU (an ICMP
  // "too big" went back through the device, counted in drop_too_big); else clamps a TCP SYN's MSS
  // to the tunnel MTU and returns true.
  bool prepare_outbound(std::span<uint8_t> pkt, const packet::Parsed& p);
  // Write every queued packet and datagram now (the loops flush after every batch; roles flush
  // after timer work that sent something).
  void flush();

  // The current packet, when the policy asks: bytes free in front of and behind `inner` (a span
  // inside it), so a session can seal in place. {0,0} if `inner` is not inside the current buffer.
  struct Room { size_t head = 0, tail = 0; };
  Room room_around(std::span<const uint8_t> inner) const;

  const Counters& counters() const { return c_; }
  Counters& counters() { return c_; }
  BufferPool& pool() { return pool_; }

 private:
  struct Socket;
  class DeviceWait;
  void handle_device_batch(std::span<PacketBuf*> bufs, size_t n, uint64_t now);
  PacketBuf* take_or_copy(std::span<const uint8_t> bytes, uint64_t* adopted, uint64_t* copied);
  void clamp(std::span<uint8_t> pkt, const packet::Parsed& p) const;
  void flush_device();
  void flush_sockets();
  // Takes back the buffers of batches the tx thread finished and counts them.
  void reclaim();
  // Whether a batch of n for a destination that allows it goes to the tx thread.
  bool hand_over(size_t n) const;
  // Moves queue `q` (and the pending seals of a socket queue) into a job for the tx thread
  // (waiting for a free one) to write to `dev` or `sock`.
  template <typename Item>
  void submit_to_tx(TxQueue<Item>& q, tun::PacketDevice* dev, core::UdpSocket* sock,
                    std::array<tls::PendingSeal, limits::kBatch>* seals);
  // The pool ran dry while the tx thread holds buffers: waits until it hands some back. False
  // when there is no such thread or nothing is in flight (the pool is simply empty).
  bool wait_for_tx_buffers();

  core::Loop& loop_;
  Policy& policy_;
  BufferPool pool_;
  tun::PacketDevice* dev_ = nullptr;
  std::vector<std::unique_ptr<Socket>> socks_;
  TxQueue<PacketBuf*> dev_tx_{pool_};
  PacketBuf** current_ = nullptr;   // the receive slot being handled, for adoption
  uint32_t mtu_ = 1400;
  uint16_t mss_v4_ = 1360, mss_v6_ = 1340;
  std::optional<IpAddr> own_v4_, own_v6_;
  Counters c_;
  std::unique_ptr<TxThread> tx_;   // last: stopped (it finishes its jobs) before the rest goes
};

}  // namespace ptun::datapath
