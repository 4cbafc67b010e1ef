// Fuzzes the split-DNS forwarder's query parser (netcfg/dns_message.hpp): any bytes a local
// program sends to the forwarder. Invariants: an accepted name is lower case, at most 253 bytes,
// made of labels of 1..63 bytes of [a-z0-9_-] joined by single dots; the id is the first two bytes.
// The answer parser (what an upstream sends back) must agree with the query parser on the same
// bytes with the QR bit flipped.
#include <cstdlib>
#include <vector>

#include "netcfg/dns_message.hpp"

using namespace ptun::netcfg;

#define CHECK_OR_ABORT(c) \
  do {                    \
    if (!(c)) abort();    \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto q = parse_dns_query(std::span<const uint8_t>(data, size));
  if (size >= kDnsHeader) {
    std::vector<uint8_t> flipped(data, data + size);
    flipped[2] ^= 0x80;
    auto r = parse_dns_response(flipped);
    CHECK_OR_ABORT(bool(r) == bool(q));
    if (r) CHECK_OR_ABORT(r->name == q->name && r->qtype == q->qtype && r->qclass == q->qclass && r->id == q->id);
  }
  if (!q) return 0;
  CHECK_OR_ABORT(size >= kDnsHeader);
  CHECK_OR_ABORT(q->id == uint16_t(data[0] << 8 | data[1]));
  CHECK_OR_ABORT(q->name.size() <= kMaxDnsName);
  size_t label = 0;
  for (size_t i = 0; i < q->name.size(); ++i) {
    char c = q->name[i];
    if (c == '.') {
      CHECK_OR_ABORT(label >= 1 && i + 1 < q->name.size());
      label = 0;
      continue;
    }
    CHECK_OR_ABORT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    CHECK_OR_ABORT(++label <= 63);
  }
  return 0;
}
