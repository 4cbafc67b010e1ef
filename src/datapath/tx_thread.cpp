#include "datapath/tx_thread.hpp"

#include <pthread.h>

namespace ptun::datapath {

size_t seal_pending(std::span<const core::Datagram> d, std::span<const tls::PendingSeal> seals) {
  size_t sealed = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (!seals[i]) continue;
    seals[i].seal_in(d[i].buf->data());
    ++sealed;
  }
  return sealed;
}

TxThread::TxThread() : thread_([this] { run(); }) {
  pthread_setname_np(thread_.native_handle(), "ptun-tx");   // top -H, perf: which core did what
}

TxThread::~TxThread() {
  stop_.store(true, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_one();
  thread_.join();   // the thread finishes every published job first
}

TxThread::Job* TxThread::next_free() {
  if (submitted_ - reclaimed_ >= kJobs) return nullptr;
  Job* j = &jobs_[submitted_ % kJobs];
  j->dev = nullptr;
  j->sock = nullptr;
  j->n = 0;
  j->taken = 0;
  j->sealed = 0;
  return j;
}

void TxThread::submit() {
  ++submitted_;
  published_.store(submitted_, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_one();   // no system call unless the thread sleeps
}

void TxThread::wait_one() {
  const uint32_t d = done_.load(std::memory_order_acquire);
  if (d == submitted_) return;
  done_.wait(d, std::memory_order_acquire);
}

void TxThread::wait_idle() {
  while (!idle()) wait_one();
}

void TxThread::execute(Job& j) {
  if (j.dev) {
    auto w = j.dev->write_batch(std::span<PacketBuf* const>(j.bufs.data(), j.n));
    j.taken = w ? *w : 0;
  } else if (j.sock) {
    j.sealed = seal_pending(std::span(j.items.data(), j.n), std::span(j.seals.data(), j.n));
    auto r = j.sock->send_batch(std::span<const core::Datagram>(j.items.data(), j.n));
    j.taken = r ? *r : 0;
  }
}

void TxThread::run() {
  uint32_t done = 0;
  for (;;) {
    // Read the wake-up counter before looking for work: a submit after the look changes it, so
    // the wait below returns at once instead of missing it.
    const uint32_t w = wake_.load(std::memory_order_acquire);
    const uint32_t pub = published_.load(std::memory_order_acquire);
    if (done == pub) {
      if (stop_.load(std::memory_order_acquire)) return;
      wake_.wait(w, std::memory_order_acquire);
      continue;
    }
    execute(jobs_[done % kJobs]);
    ++done;
    done_.store(done, std::memory_order_release);
    done_.notify_one();   // a loop blocked in wait_one(); no system call otherwise
  }
}

}  // namespace ptun::datapath
