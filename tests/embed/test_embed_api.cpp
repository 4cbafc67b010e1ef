// The embedding API without a network: error mapping, the request inbox, and the calls that
// must fail cleanly before a client runs.
#include <catch2/catch.hpp>

#include <fstream>

#include "embed/inbox.hpp"
#include "embed/status.hpp"

using namespace ptun;
using ptun::embed::Code;

TEST_CASE("internal errors map to public codes, keeping the message", "[embed]") {
  struct Row { Errc in; Code out; };
  for (auto [in, out] : {Row{Errc::closed, Code::refused}, Row{Errc::auth, Code::not_routed},
                         Row{Errc::not_found, Code::not_found}, Row{Errc::timeout, Code::timeout},
                         Row{Errc::limit, Code::limit}, Row{Errc::unsupported, Code::unsupported},
                         Row{Errc::invalid_argument, Code::invalid_argument}, Row{Errc::io, Code::io},
                         Row{Errc::protocol, Code::io}}) {
    auto s = embed::to_status(Error(in, "why"));
    CHECK(s.code == out);
    CHECK(s.message == "why");
  }
  CHECK(embed::to_status(Error(Errc::cancelled, "x")).code == Code::stopped);
  CHECK(std::string(embed::to_string(Code::not_routed)) == "not_routed");
}

TEST_CASE("inbox: jobs in order, refused after close with the reason", "[embed]") {
  embed::Inbox ib;
  for (int i = 0; i < 3; ++i) {
    auto j = std::make_unique<embed::Job>();
    j->port = uint16_t(i + 1);
    CHECK(ib.post(std::move(j)) == nullptr);
  }
  auto got = ib.take();
  REQUIRE(got.size() == 3);
  CHECK(got[0]->port == 1);
  CHECK(got[2]->port == 3);
  CHECK(ib.take().empty());
  (void)ib.post(std::make_unique<embed::Job>());
  CHECK(ib.close("gone").size() == 1);   // queued but never served: the closer answers it
  CHECK(ib.closed());
  CHECK(ib.why() == "gone");
  CHECK(ib.post(std::make_unique<embed::Job>()) != nullptr);
}

TEST_CASE("EmbeddedClient: calls before start and bad configs fail cleanly", "[embed]") {
  embed::EmbeddedClient c;
  CHECK(c.state() == "stopped");
  auto s = c.connect_tcp("10.0.0.1", 80);
  CHECK_FALSE(s.ok());
  CHECK(s.fd == -1);
  CHECK(s.status.code == Code::not_started);
  CHECK(c.open_udp("10.0.0.1", 0).status.code == Code::invalid_argument);
  CHECK(c.wait_connected(std::chrono::milliseconds(10)).code == Code::not_started);
  CHECK(c.start("/nonexistent/ptun.toml").code == Code::config);
  c.stop();   // idempotent, nothing to join
  c.stop();
}
