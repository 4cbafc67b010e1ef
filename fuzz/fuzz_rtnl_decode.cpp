// libFuzzer: the rtnetlink decoders (src/netlink/rtnl_parse.cpp) on arbitrary kernel replies.
// The kernel is trusted more than the network, but a decoder bug would still be memory corruption
// in a root process, and replies come from a socket: they get the same treatment as datagrams.
//
// Input: a byte stream walked like rtnl.cpp walks a reply (message_ok / mnl_nlmsg_next). Each
// message goes to the decoder of its own type, and to every other decoder too (the fuzzer need
// not find the type values first). Whatever decodes as a route or a rule must also be encodable
// again by the builders (or be refused by them with an error, never crash).
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/rtnl_messages.hpp"

using namespace ptun;
using namespace ptun::netlink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  // Netlink messages are 4-byte aligned in a kernel buffer: copy into aligned storage.
  std::vector<uint32_t> storage(size / 4 + 1);
  std::memcpy(storage.data(), data, size);
  int len = int(size);
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(storage.data()); message_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    (void)decode_link(nlh);
    (void)decode_addr(nlh);
    if (auto r = decode_route(nlh); r) {
      RequestBuf b;
      (void)build_route(b, Op::replace, *r);
      (void)build_route(b, Op::del, *r);
    }
    if (auto r = decode_rule(nlh); r) {
      RequestBuf b;
      (void)build_rule(b, Op::add, *r);
    }
    (void)decode_error(nlh, "fuzz");
  }
  return 0;
}
