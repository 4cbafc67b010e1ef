#include "cluster/curl_api.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace ptun::cluster {

namespace {

struct Loaded {
  CurlApi api{};
  std::string error;
};

template <typename F>
void bind(void* lib, const char* name, F& out, std::string& error) {   // the first missing one is named
  out = reinterpret_cast<F>(::dlsym(lib, name));
  if (!out && error.empty()) error = std::string("libcurl.so.4 has no ") + name;
}

Loaded load() {
  Loaded l;
  // RTLD_LOCAL: curl's own dependencies (OpenSSL among them) stay out of ptun's symbol lookups.
  void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    l.error = std::string("cannot load libcurl.so.4 (install the libcurl4 package): ") + (why ? why : "dlopen failed");
    return l;
  }
  CurlApi& a = l.api;
  std::string& e = l.error;
  bind(lib, "curl_global_init", a.global_init, e);
  bind(lib, "curl_multi_init", a.multi_init, e);
  bind(lib, "curl_multi_cleanup", a.multi_cleanup, e);
  bind(lib, "curl_multi_setopt", a.multi_setopt, e);
  bind(lib, "curl_multi_add_handle", a.multi_add_handle, e);
  bind(lib, "curl_multi_remove_handle", a.multi_remove_handle, e);
  bind(lib, "curl_multi_assign", a.multi_assign, e);
  bind(lib, "curl_multi_socket_action", a.multi_socket_action, e);
  bind(lib, "curl_multi_info_read", a.multi_info_read, e);
  bind(lib, "curl_multi_strerror", a.multi_strerror, e);
  bind(lib, "curl_easy_init", a.easy_init, e);
  bind(lib, "curl_easy_cleanup", a.easy_cleanup, e);
  bind(lib, "curl_easy_setopt", a.easy_setopt, e);
  bind(lib, "curl_easy_getinfo", a.easy_getinfo, e);
  bind(lib, "curl_easy_strerror", a.easy_strerror, e);
  bind(lib, "curl_slist_append", a.slist_append, e);
  bind(lib, "curl_slist_free_all", a.slist_free_all, e);
  if (e.empty() && a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) e = "curl_global_init failed";
  return l;   // the library stays loaded for the process's life, also after an error
}

}  // namespace

Result<const CurlApi*> curl_api() {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.error.empty()) return Error(Errc::unsupported, "cluster: " + loaded.error);
  return &loaded.api;
}

}  // namespace ptun::cluster
