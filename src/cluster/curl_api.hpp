// libcurl, loaded with dlopen when a server with [cluster] starts, never linked. Linking it put 28
// shared libraries (its TLS, HTTP/2, LDAP, Kerberos, SSH backends) into every ptun process, the
// client too: ~6 MiB of resident pages that no client uses (bench/peak-rss.sh: issue 14). The
// headers still come from libcurl4-openssl-dev at build time: the types, constants and the ABI of
// libcurl.so.4 (stable since 2006) are the same.
#pragma once
#include <curl/curl.h>

#include "common/result.hpp"

namespace ptun::cluster {

// The libcurl calls src/cluster makes, by pointer.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_setopt) multi_setopt;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_assign) multi_assign;
  decltype(&::curl_multi_socket_action) multi_socket_action;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_strerror) multi_strerror;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// Loads libcurl.so.4 once (and curl_global_init) and returns its calls, or why it cannot: the
// library missing, or a symbol of it. The same answer every time after the first.
Result<const CurlApi*> curl_api();

}  // namespace ptun::cluster
