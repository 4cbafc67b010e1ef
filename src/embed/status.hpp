// ptun's internal errors as the embedding API's public Status (pure).
#pragma once
#include "common/result.hpp"
#include "ptun/client.hpp"

namespace ptun::embed {

// Errc::closed -> refused, auth -> not_routed, cancelled -> stopped, ...; the message is kept.
Status to_status(const Error& e);
inline Status status(Code c, std::string message) { return Status{c, std::move(message)}; }
inline Socket failed(Status s) { return Socket{-1, std::move(s)}; }

}  // namespace ptun::embed
