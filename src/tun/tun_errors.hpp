// errno handling shared by the TUN I/O files (internal to src/tun).
#pragma once
#include <cerrno>
#include <string>

#include "common/result.hpp"

namespace ptun::tun {

inline Error tun_error(const std::string& what, int errnum, Errc code = Errc::io) {
  Error e = Error::from_errno(what, errnum);
  e.code = code;
  return e;
}

// A write error that concerns only this packet (the next one may well go through).
inline bool per_packet_error(int errnum) {
  return errnum == EINVAL || errnum == EMSGSIZE || errnum == EIO || errnum == EFAULT ||
         errnum == ENOMEM || errnum == EPROTO;
}

}  // namespace ptun::tun
