// The embedding API's requests, from the program's threads to the client's loop thread: a
// mutex-protected queue plus an eventfd the loop watches (core::FdPoll). Answers go back
// through std::promise. Once closed (the client thread ended), post() refuses and says why.
#pragma once
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ptun/client.hpp"

namespace ptun::embed {

struct Job {
  enum class Kind { tcp, udp, state, stop };
  Kind kind = Kind::state;
  std::string host;
  uint16_t port = 0;
  uint64_t ms = 0;                    // tcp: connect deadline; udp: idle timeout
  std::promise<Socket> socket;        // tcp, udp
  std::promise<std::string> state;    // state
};

class Inbox {
 public:
  // Throws std::system_error if no eventfd can be made (startup).
  Inbox();
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // Any thread. Returns the job back (unqueued) if the inbox is closed.
  std::unique_ptr<Job> post(std::unique_ptr<Job> j);
  // Loop thread: everything queued so far (drains the eventfd).
  std::vector<std::unique_ptr<Job>> take();
  // Loop thread, at the end: refuses further posts, returns what is still queued.
  std::vector<std::unique_ptr<Job>> close(std::string why);
  bool closed() const;
  std::string why() const;   // the reason given to close()
  int fd() const { return efd_; }

 private:
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<Job>> q_;
  bool closed_ = false;
  std::string why_;
  int efd_;
};

}  // namespace ptun::embed
