#include "cluster/http_client.hpp"

#include <stdexcept>

namespace ptun::cluster {

struct HttpClient::Transfer : core::Op<Result<HttpResponse>> {
  HttpClient* client;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpResponse resp;
  bool too_big = false;
  char errbuf[CURL_ERROR_SIZE] = {};

  Transfer(HttpClient* c) : Op(c->loop_), client(c) {}
  ~Transfer() { detach(); }
  // Takes the easy handle out of the multi (a frame destroyed mid-transfer cancels it).
  void detach() {
    if (easy) {
      client->active_.erase(this);
      client->curl_.multi_remove_handle(client->multi_, easy);
      client->curl_.easy_cleanup(easy);
      easy = nullptr;
    }
    if (headers) client->curl_.slist_free_all(headers);
    headers = nullptr;
  }
  bool await_ready() const noexcept { return finished(); }
  void await_suspend(std::coroutine_handle<> h) { node.h = h; }
  Result<HttpResponse> await_resume() { return take(); }
};

struct HttpClient::Socket {
  uv_poll_t poll;
  HttpClient* client;
  int fd;
};

namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<HttpClient::Transfer*>(user);
  if (t->resp.body.size() + size * n > HttpClient::kMaxBody) {
    t->too_big = true;
    return 0;  // curl aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->resp.body.append(data, size * n);
  return size * n;
}

}  // namespace

namespace {
const CurlApi& loaded_curl() {
  auto api = curl_api();
  // Server::setup_cluster asks curl_api() first and refuses to start with its reason.
  if (!api) throw std::runtime_error(api.error().message);
  return **api;
}
}  // namespace

HttpClient::HttpClient(core::Loop& loop) : loop_(loop), curl_(loaded_curl()) {
  multi_ = curl_.multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  timer_ = new uv_timer_t;
  uv_timer_init(loop_.raw(), timer_);
  timer_->data = this;
  curl_.multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_.multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_.multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_.multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

HttpClient::~HttpClient() {
  while (!active_.empty()) {
    Transfer* t = *active_.begin();
    t->detach();
    t->finish(core::closed_error());
  }
  curl_.multi_cleanup(multi_);  // closes cached connections: on_socket(CURL_POLL_REMOVE) for each
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

core::Task<Result<HttpResponse>> HttpClient::post(std::string url, std::string body, TlsFiles tls, uint32_t timeout_ms) {
  Transfer t(this);
  t.easy = curl_.easy_init();
  if (!t.easy) co_return Error(Errc::io, "curl_easy_init failed");
  t.headers = curl_.slist_append(nullptr, "Content-Type: application/json");
  CURL* e = t.easy;
  curl_.easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_.easy_setopt(e, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body.c_str());
  curl_.easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
  curl_.easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
  curl_.easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_.easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_.easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
  curl_.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_.easy_setopt(e, CURLOPT_TIMEOUT_MS, long(timeout_ms));
  curl_.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(timeout_ms));
  // HTTP/1.1 also over TLS: etcd's gateway answers it on the client port, and h2 via ALPN would
  // land on its gRPC server.
  curl_.easy_setopt(e, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_1_1));
  curl_.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!tls.ca.empty()) curl_.easy_setopt(e, CURLOPT_CAINFO, tls.ca.c_str());
  if (!tls.cert.empty()) curl_.easy_setopt(e, CURLOPT_SSLCERT, tls.cert.c_str());
  if (!tls.key.empty()) curl_.easy_setopt(e, CURLOPT_SSLKEY, tls.key.c_str());
  if (CURLMcode rc = curl_.multi_add_handle(multi_, e); rc != CURLM_OK)
    co_return Error(Errc::io, std::string("curl: ") + curl_.multi_strerror(rc));
  active_.insert(&t);
  co_return co_await t;
}

int HttpClient::on_socket(CURL*, int fd, int what, void* self, void* socket_ctx) {
  auto* c = static_cast<HttpClient*>(self);
  auto* s = static_cast<Socket*>(socket_ctx);
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
      c->curl_.multi_assign(c->multi_, fd, nullptr);
    }
    return 0;
  }
  if (!s) {
    s = new Socket{{}, c, fd};
    if (uv_poll_init_socket(c->loop_.raw(), &s->poll, fd) != 0) {
      delete s;
      return -1;  // curl fails the transfer
    }
    s->poll.data = s;
    c->curl_.multi_assign(c->multi_, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, &HttpClient::on_uv_poll);
  return 0;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* c = static_cast<HttpClient*>(self);
  // Never call curl back from here (curl forbids it): a due timeout fires on the next iteration.
  if (timeout_ms < 0) uv_timer_stop(c->timer_);
  else uv_timer_start(c->timer_, &HttpClient::on_uv_timer, uint64_t(timeout_ms), 0);
  return 0;
}

void HttpClient::on_uv_timer(uv_timer_t* t) { static_cast<HttpClient*>(t->data)->action(CURL_SOCKET_TIMEOUT, 0); }

void HttpClient::on_uv_poll(uv_poll_t* p, int status, int events) {
  auto* s = static_cast<Socket*>(p->data);
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  s->client->action(s->fd, flags);
}

void HttpClient::action(int fd, int flags) {
  int running = 0;
  curl_.multi_socket_action(multi_, fd, flags, &running);
  collect();
}

void HttpClient::collect() {
  int left = 0;
  while (CURLMsg* m = curl_.multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (!t) continue;
    const CURLcode rc = m->data.result;
    curl_.easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
    std::string why = t->errbuf[0] ? t->errbuf : curl_.easy_strerror(rc);
    t->detach();
    if (rc == CURLE_OK) t->finish(std::move(t->resp));
    else if (t->too_big) t->finish(Error(Errc::protocol, "answer larger than " + std::to_string(kMaxBody) + " bytes"));
    else if (rc == CURLE_OPERATION_TIMEDOUT) t->finish(Error(Errc::timeout, "curl: " + why));
    else t->finish(Error(Errc::io, "curl: " + why));
  }
}

}  // namespace ptun::cluster
