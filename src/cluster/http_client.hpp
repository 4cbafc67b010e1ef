// HTTP POSTs on the libuv loop through libcurl's multi interface (the pattern of curl's
// docs/examples/multi-uv.c): curl tells us which sockets to watch (one uv_poll_t each) and when to
// call it back (one uv_timer_t); their callbacks drive curl_multi_socket_action, and finished
// transfers wake their coroutine through the loop's ready queue. Connections stay cached in the
// multi handle, so repeated calls to one etcd member reuse one TCP (and TLS) connection.
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <set>
#include <string>

#include "cluster/curl_api.hpp"
#include "common/result.hpp"
#include "core/loop.hpp"
#include "core/op.hpp"
#include "core/task.hpp"

namespace ptun::cluster {

struct TlsFiles {   // PEM paths; empty = not used (ca empty: the system's CAs for https)
  std::string ca, cert, key;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  static constexpr size_t kMaxBody = 8u << 20;  // a larger answer is cut off as an error

  // Throws std::runtime_error when libcurl cannot be loaded (curl_api() says why).
  explicit HttpClient(core::Loop& loop);
  // Pending posts complete with Errc::closed.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` as application/json. Completes with any HTTP answer (the status is the caller's
  // to judge) or Errc::io / Errc::timeout (connect, TLS, no answer within timeout_ms).
  core::Task<Result<HttpResponse>> post(std::string url, std::string body, TlsFiles tls, uint32_t timeout_ms);

  struct Transfer;  // one easy handle in flight (lives in post()'s frame)
  struct Socket;    // one uv_poll_t per socket curl watches

 private:
  static int on_socket(CURL* easy, int fd, int what, void* self, void* socket_ctx);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  static void on_uv_timer(uv_timer_t* t);
  static void on_uv_poll(uv_poll_t* p, int status, int events);
  void action(int fd, int flags);
  void collect();   // finished transfers -> their coroutines

  core::Loop& loop_;
  const CurlApi& curl_;         // libcurl, loaded at the first HttpClient (curl_api.hpp)
  CURLM* multi_;
  uv_timer_t* timer_;           // heap: freed by its close callback
  std::set<Transfer*> active_;
};

}  // namespace ptun::cluster
