// ptun::embed::EmbeddedClient: the program's side. Each call posts a Job to the client's loop
// thread and blocks on its answer; start() and stop() own the thread.
#include <thread>

#include "config/config.hpp"
#include "embed/inbox.hpp"
#include "embed/loop_side.hpp"
#include "embed/status.hpp"

namespace ptun::embed {

struct EmbeddedClient::Impl {
  std::mutex life;                 // serialises start/stop
  std::thread thread;
  std::mutex mu;                   // guards inbox (read by every call)
  std::shared_ptr<Inbox> inbox;    // null: not started / stopped

  std::shared_ptr<Inbox> current() {
    std::lock_guard lk(mu);
    return inbox;
  }
  // Posts a job; nullptr with *refusal set if there is no running client to take it.
  std::unique_ptr<Job> post(std::unique_ptr<Job> j, Status* refusal) {
    auto ib = current();
    if (!ib) {
      *refusal = status(Code::not_started, "the client is not started");
      return j;
    }
    j = ib->post(std::move(j));
    if (j) *refusal = status(Code::stopped, ib->why());
    return j;
  }
  Socket open(Job::Kind kind, const std::string& host, uint16_t port, uint64_t ms);
};

namespace {

// The client's thread: the loop, the Client, and the requests, until the client ends.
void thread_main(std::shared_ptr<Inbox> inbox, config::ClientConfig cfg, std::promise<Status> started) {
  bool answered = false;
  try {
    core::Loop loop;
    auto c = client::Client::create_embedded(loop, std::move(cfg));
    if (!c) {
      inbox->close(c.error().message);
      answered = true;
      started.set_value(status(c.error().code == Errc::invalid_argument ? Code::config : Code::io, c.error().message));
      return;
    }
    answered = true;
    started.set_value({});
    (void)core::run_until_complete(loop, run_embedded(loop, **c, *inbox));
    c->reset();   // before the loop: its handles close on the loop
  } catch (const std::exception& e) {
    // Startup code may throw (libuv); later ones leave the inbox closed so callers are answered.
    for (auto& j : inbox->close(std::string("the client failed: ") + e.what())) {
      if (j->kind == Job::Kind::state) j->state.set_value("stopped");
      else if (j->kind != Job::Kind::stop) j->socket.set_value(failed(status(Code::stopped, e.what())));
    }
    if (!answered) started.set_value(status(Code::io, e.what()));
  }
}

}  // namespace

EmbeddedClient::EmbeddedClient() : impl_(std::make_unique<Impl>()) {}

EmbeddedClient::~EmbeddedClient() { stop(); }

Status EmbeddedClient::start(const std::string& config_path) {
  std::lock_guard lk(impl_->life);
  if (auto ib = impl_->current(); ib && !ib->closed())
    return status(Code::invalid_argument, "the client is already started");
  if (impl_->thread.joinable()) impl_->thread.join();   // it ended by itself: start afresh
  auto cfg = config::load_client(config_path);
  if (!cfg) return status(Code::config, cfg.error().message);
  if (cfg->mode != "userspace")
    return status(Code::config, config_path + ": an embedded client needs mode = \"userspace\"");
  std::shared_ptr<Inbox> ib;
  try {
    ib = std::make_shared<Inbox>();
  } catch (const std::exception& e) {
    return status(Code::io, e.what());
  }
  std::promise<Status> started;
  auto fut = started.get_future();
  impl_->thread = std::thread(thread_main, ib, std::move(*cfg), std::move(started));
  Status st = fut.get();
  if (!st.ok()) {
    impl_->thread.join();
    return st;
  }
  std::lock_guard lk2(impl_->mu);
  impl_->inbox = std::move(ib);
  return {};
}

void EmbeddedClient::stop() {
  std::lock_guard lk(impl_->life);
  if (auto ib = impl_->current()) {
    auto j = std::make_unique<Job>();
    j->kind = Job::Kind::stop;
    (void)ib->post(std::move(j));   // refused: the client already ended, the join is enough
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  std::lock_guard lk2(impl_->mu);
  impl_->inbox.reset();
}

std::string EmbeddedClient::state() const {
  auto j = std::make_unique<Job>();
  j->kind = Job::Kind::state;
  auto fut = j->state.get_future();
  Status refusal;
  if (impl_->post(std::move(j), &refusal)) return "stopped";
  try {
    return fut.get();
  } catch (const std::future_error&) {   // the thread went away mid-request
    return "stopped";
  }
}

Status EmbeddedClient::wait_connected(std::chrono::milliseconds timeout) {
  // Polls the state (a round trip to the loop thread every 20 ms): simple, and waiting for a
  // connection is not a hot path.
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string s = state();
    if (s == "connected") return {};
    if (s == "stopped") {
      auto ib = impl_->current();
      if (!ib) return status(Code::not_started, "the client is not started");
      return status(Code::stopped, ib->why());
    }
    if (std::chrono::steady_clock::now() >= end)
      return status(Code::timeout, "not connected after " + std::to_string(timeout.count()) + " ms (state: " + s + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Socket EmbeddedClient::Impl::open(Job::Kind kind, const std::string& host, uint16_t port, uint64_t ms) {
  if (port == 0) return failed(status(Code::invalid_argument, "port 0 is not a destination"));
  if (host.empty() || host.size() > 253) return failed(status(Code::invalid_argument, "bad host '" + host + "'"));
  auto j = std::make_unique<Job>();
  j->kind = kind;
  j->host = host;
  j->port = port;
  j->ms = ms;
  auto fut = j->socket.get_future();
  Status refusal;
  if (post(std::move(j), &refusal)) return failed(refusal);
  try {
    return fut.get();
  } catch (const std::future_error&) {
    return failed(status(Code::stopped, "the client stopped"));
  }
}

Socket EmbeddedClient::connect_tcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  return impl_->open(Job::Kind::tcp, host, port, uint64_t(std::max<int64_t>(1, timeout.count())));
}

Socket EmbeddedClient::open_udp(const std::string& host, uint16_t port, std::chrono::milliseconds idle) {
  return impl_->open(Job::Kind::udp, host, port, uint64_t(std::max<int64_t>(1, idle.count())));
}

}  // namespace ptun::embed
