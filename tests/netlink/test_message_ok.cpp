// message_ok: the bounds check of the reply walk (regression for a fuzz_rtnl_decode finding).
#include <libmnl/libmnl.h>

#include <catch2/catch.hpp>
#include <climits>
#include <cstring>

#include "netlink/rtnl_messages.hpp"

using namespace ptun::netlink;

TEST_CASE("message_ok refuses lengths that libmnl's signed compare lets through", "[netlink][message_ok]") {
  alignas(8) uint8_t buf[64] = {};
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
  nlh->nlmsg_len = 32;
  CHECK(message_ok(nlh, 64));
  CHECK(message_ok(nlh, 32));
  CHECK_FALSE(message_ok(nlh, 31));
  nlh->nlmsg_len = 15;  // shorter than the header
  CHECK_FALSE(message_ok(nlh, 64));
  CHECK_FALSE(message_ok(nlh, 8));
  for (uint32_t bad : {0x80000000u, 0xf0000000u, 0xfffffffdu, 0xffffffffu}) {
    nlh->nlmsg_len = bad;
    INFO(bad);
    CHECK(mnl_nlmsg_ok(nlh, 64));  // why message_ok exists: libmnl accepts these
    CHECK_FALSE(message_ok(nlh, 64));
  }
}

TEST_CASE("decode_error refuses error codes outside -4095..0", "[netlink][message_ok]") {
  alignas(8) uint8_t buf[64] = {};
  auto* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = NLMSG_ERROR;
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  for (int bad : {INT32_MIN, -4096, 1, 17}) {
    err->error = bad;
    INFO(bad);
    auto r = decode_error(nlh, "x");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ptun::Errc::protocol);
  }
  err->error = -17;
  CHECK(decode_error(nlh, "x").error().code == ptun::Errc::exists);
}
