#include "common/result.hpp"

#include <cstring>

namespace ptun {

const char* errc_name(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::not_found: return "not found";
    case Errc::exists: return "exists";
    case Errc::io: return "i/o error";
    case Errc::would_block: return "would block";
    case Errc::cancelled: return "cancelled";
    case Errc::timeout: return "timeout";
    case Errc::protocol: return "protocol error";
    case Errc::auth: return "authentication failed";
    case Errc::limit: return "limit reached";
    case Errc::closed: return "closed";
    case Errc::unsupported: return "unsupported";
  }
  return "unknown";
}

Error Error::from_errno(const std::string& what, int errnum) {
  return Error(Errc::io, what + ": " + std::strerror(errnum));
}

}  // namespace ptun
