// A min-heap of (deadline, key) with lazy deletion, for session timers.
//
// Owners remember the deadline they last armed ("armed_at"). Rescheduling to an EARLIER time
// pushes a new entry; a LATER deadline (the usual case on the data path: last_rx moves forward)
// pushes nothing, and when the old entry fires the owner re-arms at its real deadline. An entry
// whose deadline differs from its owner's armed_at is stale and skipped. So next_deadline() is
// O(1), arming is O(log n) and the per-packet path never touches the heap.
#pragma once
#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

namespace ptun::proto {

class DeadlineHeap {
 public:
  struct Entry {
    uint64_t deadline;
    uint64_t key;
    bool operator>(const Entry& o) const { return deadline > o.deadline; }
  };

  void push(uint64_t deadline, uint64_t key) { heap_.push(Entry{deadline, key}); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // The earliest deadline (possibly of a stale entry: an early wake-up is harmless), or UINT64_MAX.
  uint64_t top() const { return heap_.empty() ? UINT64_MAX : heap_.top().deadline; }
  // Pops the earliest entry if it is due at `now`.
  bool pop_due(uint64_t now, Entry* out) {
    if (heap_.empty() || heap_.top().deadline > now) return false;
    *out = heap_.top();
    heap_.pop();
    return true;
  }
  // Drops every entry for which keep(entry) is false (stale-entry compaction).
  template <typename Keep>
  void compact(Keep keep) {
    std::vector<Entry> live;
    live.reserve(heap_.size());
    while (!heap_.empty()) {
      if (keep(heap_.top())) live.push_back(heap_.top());
      heap_.pop();
    }
    heap_ = Queue(std::greater<Entry>(), std::move(live));
  }
  void clear() { heap_ = Queue(); }

 private:
  using Queue = std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>>;
  Queue heap_;
};

}  // namespace ptun::proto
