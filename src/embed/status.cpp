#include "embed/status.hpp"

namespace ptun::embed {

Status to_status(const Error& e) {
  switch (e.code) {
    case Errc::ok: return {};
    case Errc::closed: return status(Code::refused, e.message);
    case Errc::auth: return status(Code::not_routed, e.message);
    case Errc::not_found: return status(Code::not_found, e.message);
    case Errc::timeout: return status(Code::timeout, e.message);
    case Errc::limit: return status(Code::limit, e.message);
    case Errc::unsupported: return status(Code::unsupported, e.message);
    case Errc::invalid_argument: return status(Code::invalid_argument, e.message);
    case Errc::cancelled: return status(Code::stopped, "the client is stopping");
    default: return status(Code::io, e.message);
  }
}

const char* to_string(Code c) {
  switch (c) {
    case Code::ok: return "ok";
    case Code::not_started: return "not_started";
    case Code::stopped: return "stopped";
    case Code::not_connected: return "not_connected";
    case Code::invalid_argument: return "invalid_argument";
    case Code::config: return "config";
    case Code::not_found: return "not_found";
    case Code::not_routed: return "not_routed";
    case Code::refused: return "refused";
    case Code::timeout: return "timeout";
    case Code::limit: return "limit";
    case Code::unsupported: return "unsupported";
    case Code::io: return "io";
  }
  return "?";
}

}  // namespace ptun::embed
