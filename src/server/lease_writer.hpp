// Writes leases.json off the loop thread, and only when a lease changed.
//
// The store's save() serialises, writes and fsyncs: tens of milliseconds on a slow disk or an
// SD card, which on the loop thread would stall every session's packets at each handshake.
// submit() compares the snapshot with the last one handed over and returns at once; a worker
// thread writes the newest snapshot (several submits in a row coalesce into one write).
//
// "Changed": a peer or an address was added, removed or moved, or a last_seen advanced by at
// least `last_seen_granularity_s` (expiry counts in days, so a reconnect an hour later need not
// touch the disk; the in-memory pool keeps the exact time, and flush() on shutdown writes it).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/address_pool.hpp"

namespace ptun::server {

class LeaseWriter {
 public:
  using Leases = std::map<std::string, Lease>;
  explicit LeaseWriter(LeaseStore store, int64_t last_seen_granularity_s = 3600);
  ~LeaseWriter();   // writes what is pending, then joins the worker
  LeaseWriter(const LeaseWriter&) = delete;
  LeaseWriter& operator=(const LeaseWriter&) = delete;

  // The leases as they are now. Returns true if they differ enough to be written (queued).
  bool submit(const Leases& leases);
  // What is on disk already (loaded at start): the first submit compares with it.
  void assume_written(const Leases& leases) {
    last_submitted_ = leases;
    have_last_ = true;
  }
  // Queues the snapshot whatever it holds (shutdown: exact last_seen) and waits until every
  // queued snapshot is on disk. Returns the last write's result.
  Result<void> flush(const Leases& leases);

  uint64_t writes() const;    // snapshots written (for tests and status)
  uint64_t skipped() const;   // submits that changed nothing worth a write

  // Pure: would `next` be written after `last`?
  static bool differs(const Leases& last, const Leases& next, int64_t granularity_s);

 private:
  void run();

  LeaseStore store_;
  int64_t granularity_s_;
  Leases last_submitted_;       // loop thread only
  bool have_last_ = false;      // loop thread only
  uint64_t skipped_ = 0;        // loop thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;       // worker: something queued or stopping
  std::condition_variable done_cv_;  // flush(): the queue drained
  std::optional<Leases> pending_;    // newest snapshot not yet written
  bool writing_ = false;
  bool stop_ = false;
  uint64_t writes_ = 0;
  Result<void> last_result_;
  std::thread worker_;   // last: started after everything it reads is initialised
};

}  // namespace ptun::server
