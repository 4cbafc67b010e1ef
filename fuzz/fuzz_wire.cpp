// libFuzzer: the outer header and every control-message decoder, on arbitrary bytes. Whatever
// decodes must re-encode and decode to the same value (round-trip property), and nothing may read
// out of bounds (ASan) or hit UB (UBSan).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "proto/messages.hpp"
#include "proto/settings.hpp"
#include "proto/wire.hpp"

using namespace ptun;
using namespace ptun::proto;

namespace {
void require(bool c) {
  if (!c) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);

  OuterHeader h;
  if (decode_outer_header(in, &h) == HeaderStatus::ok) {
    uint8_t b[kOuterHeaderSize];
    encode_outer_header(b, h.session_id, h.kind);
    require(std::equal(b, b + kOuterHeaderSize, data));
    (void)looks_like_client_hello(in.subspan(kOuterHeaderSize));
  }
  (void)classify_inner(in);
  (void)valid_utf8(in);

  // Every decoder sees the input as is, and again with each message type forced in front, so
  // the fuzzer does not have to find the type byte first.
  std::vector<uint8_t> typed(in.begin(), in.end());
  if (typed.empty()) typed.push_back(0);
  for (uint8_t type = 0; type <= 6; ++type) {
    std::span<const uint8_t> msg = in;
    if (type) {
      typed[0] = type;
      msg = typed;
    }
    if (auto m = decode_client_hello(msg); m) {
      uint8_t b[256];
      auto n = encode_client_hello(*m, b);
      require(n.ok());
      auto again = decode_client_hello({b, *n});
      require(again.ok() && *again == *m);
    }
    if (auto m = decode_ping(msg); m) {
      uint8_t b[kPingSize];
      require(encode_ping(*m, b) == kPingSize);
      require(decode_ping(b).value() == *m);
    }
    if (auto m = decode_close(msg); m) {
      require(m->text.size() <= kMaxCloseText && valid_utf8(m->text));
      uint8_t b[2 + kMaxCloseText];
      auto n = encode_close(m->reason, m->text, b);
      require(n.ok());
      auto again = decode_close({b, *n});
      require(again.ok() && again->text == m->text && again->reason == m->reason);
    }
    if (auto p = decode_settings_part(msg); p) {
      uint64_t sid = 0;
      if (auto s = decode_settings_tlvs(p->tlvs, &sid); s) {
        // What decodes must encode (in parts of any size that fits a TLV) and decode equal.
        auto parts = encode_settings(*s, sid, size < 8000 ? 1400 : 65000);
        require(parts.ok());
        SettingsAssembler a;
        SettingsAssembler::Status st = SettingsAssembler::Status::incomplete;
        for (const auto& part : *parts) st = a.add(part);
        require(st == SettingsAssembler::Status::complete);
        uint64_t sid2 = 1;
        auto back = a.result(&sid2);
        require(back.ok() && *back == *s && sid2 == sid);
      }
    }
  }

  // The assembler fed the input cut into arbitrary SETTINGS parts.
  SettingsAssembler a;
  size_t pos = 0;
  while (pos + 1 < size) {
    size_t len = std::min<size_t>(data[pos], size - pos - 1);
    std::vector<uint8_t> part = {0x02};
    part.insert(part.end(), data + pos + 1, data + pos + 1 + len);
    if (a.add(part) == SettingsAssembler::Status::complete) {
      uint64_t sid = 0;
      (void)a.result(&sid);
    }
    pos += 1 + len;
  }
  return 0;
}
