// The control protocol's parser and replies: malformed requests are values, never exceptions.
#include <catch2/catch.hpp>

#include "control/protocol.hpp"

using namespace ptun;
using namespace ptun::control;

TEST_CASE("well-formed requests parse with their arguments", "[control]") {
  auto r = parse_request(R"({"cmd":"kick","peer":"c1"})");
  REQUIRE(r.ok());
  CHECK(r->cmd == "kick");
  CHECK(r->args["peer"] == "c1");
}

TEST_CASE("malformed requests are errors, not crashes", "[control]") {
  const char* bad[] = {"",          "not json",        "[1,2]",          "\"status\"",
                       "{}",        R"({"cmd":1})",    R"({"cmd":""})",  R"({"cmd":null})",
                       "{\"cmd\":", "\xff\xfe",        R"({"cmd":["status"]})", "42"};
  for (const char* b : bad) {
    auto r = parse_request(b);
    CHECK_FALSE(r.ok());
    if (!r) CHECK(r.error().code == Errc::invalid_argument);
  }
  std::string big(kMaxRequestBytes + 1, ' ');
  auto r = parse_request(big);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::limit);
}

TEST_CASE("responses are one JSON line each, even with invalid UTF-8", "[control]") {
  std::string ok = ok_response({{"peer", std::string("a\xff")}});
  CHECK(ok.back() == '\n');
  CHECK(ok.find('\n') == ok.size() - 1);
  auto j = nlohmann::json::parse(ok);
  CHECK(j["ok"] == true);
  std::string err = error_response("bad\nthing");
  CHECK(err.find('\n') == err.size() - 1);
  CHECK(nlohmann::json::parse(err)["error"] == "bad\nthing");
}
