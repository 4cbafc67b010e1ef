// Errors as values: every path the network or a user can reach returns Result<T>.
// (g++ 12 in C++20 mode has no std::expected; this is the small subset ptun needs.)
#pragma once
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ptun {

enum class Errc {
  ok = 0,
  invalid_argument,  // malformed input (config value, packet, message)
  not_found,
  exists,
  io,                // a system call failed; message carries strerror
  would_block,
  cancelled,
  timeout,
  protocol,          // peer violated the wire protocol
  auth,              // certificate or identity refused
  limit,             // a configured bound was reached
  closed,
  unsupported,
};

const char* errc_name(Errc e);

struct [[nodiscard]] Error {
  Errc code = Errc::ok;
  std::string message;
  Error() = default;
  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}
  // Error with strerror(errnum) appended: "what: strerror".
  static Error from_errno(const std::string& what, int errnum);
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)) {}
  bool ok() const { return err_.code == Errc::ok; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(!ok()); return err_; }

 private:
  Error err_;
};

inline Result<void> ok() { return {}; }

}  // namespace ptun
