// Fuzz builds only (PTUN_FUZZ_SNAPSHOT_REUSE, set by src/tls/CMakeLists.txt with PTUN_FUZZ): a
// restored session's mbedTLS objects outlive it for the next restore() of the same snapshot.
//
// The ingress fuzzers restore one frozen association per input; mbedtls_ssl_context_load then
// runs the TLS PRF and re-parses the peer certificate (most of an input's cost). Here the first
// restore of a snapshot keeps a byte image of the loaded context, session and transform; when that
// session ends with the same objects still in place, they are parked, and the next restore of the
// snapshot (same config, same bytes) takes them back and copies the images over them: the state a
// fresh load would give, in microseconds. The buffers are zeroed as calloc left them. Anything
// mbedTLS freed or replaced (a client reconnect resets the context) is simply not parked: that
// session is freed as usual and the next restore loads afresh. Everything mutable of an
// established DTLS 1.2 context (counters, replay window, record pointers, alert state) is in the
// context struct itself; the cipher contexts restart their per-record state on each record.
// The fresh context a reused restore replaces (mbedtls_ssl_setup's record buffers and handshake
// state, untouched) is kept too, for the next DtlsSession's constructor: no setup per input.
// Single-threaded, like the fuzz harnesses.
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "tls/dtls_session.hpp"

#ifdef PTUN_FUZZ_SNAPSHOT_REUSE
#include <malloc.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#endif

#ifdef PTUN_FUZZ_SNAPSHOT_REUSE
extern "C" size_t ptun_fuzz_transform_size(void);  // mbedtls_fuzz_private.c
#endif

namespace ptun::tls {

#ifdef PTUN_FUZZ_SNAPSHOT_REUSE

namespace {

struct Slot {
  const DtlsSnapshot* snap;
  const mbedtls_ssl_config* conf;
  std::vector<uint8_t> context;  // the snapshot's bytes: a new snapshot at the same address differs
  mbedtls_ssl_context image;     // as mbedtls_ssl_context_load left it (hostname, cli_id cleared)
  mbedtls_ssl_session session;
  std::vector<unsigned char> transform;  // the struct's bytes (its type is private to mbedTLS)
  std::shared_ptr<RecordProtection> prot;
  const DtlsSession* borrower;  // the live session using the objects, or none (parked)
};

constexpr size_t kMaxSlots = 8;

// Contexts as mbedtls_ssl_setup left them, for the next DtlsSession of the same config.
struct SetupContext {
  const mbedtls_ssl_config* conf;
  mbedtls_ssl_context ssl;
};
constexpr size_t kMaxSetupContexts = 4;
std::vector<SetupContext>& setup_contexts() {
  static auto* s = [] {  // never destroyed, like slots(); reserved: no allocation per input
    auto* v = new std::vector<SetupContext>;
    v->reserve(kMaxSetupContexts);
    return v;
  }();
  return *s;
}

// Keeps a context nothing but mbedtls_ssl_setup (and the per-connection strings, already taken
// off) has touched: no handshake step, nothing read or written. Otherwise false: free it.
bool keep_setup_context(mbedtls_ssl_context& ssl) {
  auto& all = setup_contexts();
  if (all.size() >= kMaxSetupContexts || ssl.state != MBEDTLS_SSL_HELLO_REQUEST || !ssl.handshake ||
      ssl.session || ssl.transform || ssl.in_left || ssl.out_left || ssl.in_msglen || ssl.hostname || ssl.cli_id)
    return false;
  all.push_back(SetupContext{ssl.conf, ssl});
  return true;
}

std::vector<std::unique_ptr<Slot>>& slots() {
  // Never destroyed: parked objects stay reachable (no leak report at exit), and nothing frees
  // them after the configs they point to are gone.
  static auto* s = new std::vector<std::unique_ptr<Slot>>;
  return *s;
}

bool all_zero(const unsigned char* p) {
  size_t n = malloc_usable_size(const_cast<unsigned char*>(p));
  return std::all_of(p, p + n, [](unsigned char c) { return c == 0; });
}

}  // namespace

bool DtlsSession::reuse_restored(const DtlsSnapshot& snap) {
  // PTUN_FUZZ_NO_REUSE=1: every restore loads afresh (to check that reuse changes no behaviour).
  static const bool off = getenv("PTUN_FUZZ_NO_REUSE") != nullptr;
  if (off) return false;
  auto& all = slots();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) {
    return s->snap == &snap && s->conf == config_->raw() && s->context == snap.context;
  });
  if (it == all.end() || (*it)->borrower) return false;
  Slot& slot = **it;
  // This session's own per-connection strings survive; the rest of its fresh context goes.
  char* hostname = ssl_.hostname;
  unsigned char* cli_id = ssl_.cli_id;
  size_t cli_id_len = ssl_.cli_id_len;
  ssl_.hostname = nullptr;
  ssl_.cli_id = nullptr;
  ssl_.cli_id_len = 0;
  if (!keep_setup_context(ssl_)) mbedtls_ssl_free(&ssl_);
  ssl_ = slot.image;
  *ssl_.session = slot.session;
  memcpy(ssl_.transform, slot.transform.data(), slot.transform.size());
  memset(ssl_.in_buf, 0, malloc_usable_size(ssl_.in_buf));
  memset(ssl_.out_buf, 0, malloc_usable_size(ssl_.out_buf));
  ssl_.hostname = hostname;
  ssl_.cli_id = cli_id;
  ssl_.cli_id_len = cli_id_len;
  mbedtls_ssl_set_bio(&ssl_, this, bio_send, bio_recv, nullptr);
  mbedtls_ssl_set_timer_cb(&ssl_, this, timer_set, timer_get);
  mbedtls_ssl_set_export_keys_cb(&ssl_, export_keys, this);
  prot_ = std::move(slot.prot);
  slot.borrower = this;
  reuse_loan_ = true;
  return true;
}

void DtlsSession::keep_for_reuse(const DtlsSnapshot& snap) {
  auto& all = slots();
  bool known = std::any_of(all.begin(), all.end(), [&](const auto& s) {
    return s->snap == &snap && s->conf == config_->raw();
  });
  if (known || all.size() >= kMaxSlots || !ssl_.session || !ssl_.transform || ssl_.handshake ||
      !all_zero(ssl_.in_buf) || !all_zero(ssl_.out_buf))
    return;
  auto slot = std::make_unique<Slot>();
  slot->snap = &snap;
  slot->conf = config_->raw();
  slot->context = snap.context;
  slot->image = ssl_;
  slot->image.hostname = nullptr;
  slot->image.cli_id = nullptr;
  slot->image.cli_id_len = 0;
  slot->session = *ssl_.session;
  auto* t = reinterpret_cast<const unsigned char*>(ssl_.transform);
  slot->transform.assign(t, t + ptun_fuzz_transform_size());
  slot->borrower = this;
  all.push_back(std::move(slot));
  reuse_loan_ = true;
}

bool DtlsSession::park_for_reuse() {
  if (!reuse_loan_) return false;
  auto& all = slots();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) { return s->borrower == this; });
  if (it == all.end()) return false;
  Slot& slot = **it;
  const mbedtls_ssl_context& img = slot.image;
  bool intact = ssl_.session == img.session && ssl_.session_in == img.session_in &&
                ssl_.session_out == img.session_out && ssl_.transform == img.transform &&
                ssl_.transform_in == img.transform_in && ssl_.transform_out == img.transform_out &&
                !ssl_.handshake && !ssl_.session_negotiate && !ssl_.transform_negotiate &&
                ssl_.in_buf == img.in_buf && ssl_.out_buf == img.out_buf && ssl_.conf == img.conf &&
                ssl_.session->peer_cert == slot.session.peer_cert;
  if (!intact) {
    all.erase(it);  // the objects are ssl_'s again: freed with it
    return false;
  }
  if (ssl_.hostname) mbedtls_platform_zeroize(ssl_.hostname, strlen(ssl_.hostname));
  mbedtls_free(ssl_.hostname);
  mbedtls_free(ssl_.cli_id);
  slot.prot = std::move(prot_);
  slot.borrower = nullptr;
  return true;
}

bool DtlsSession::take_setup_context() {
  auto& all = setup_contexts();
  auto it = std::find_if(all.begin(), all.end(), [&](const SetupContext& c) { return c.conf == config_->raw(); });
  if (it == all.end()) return false;
  ssl_ = it->ssl;
  all.erase(it);
  return true;
}

#else

bool DtlsSession::take_setup_context() { return false; }
bool DtlsSession::reuse_restored(const DtlsSnapshot&) { return false; }
void DtlsSession::keep_for_reuse(const DtlsSnapshot&) {}
bool DtlsSession::park_for_reuse() { return false; }

#endif

}  // namespace ptun::tls
