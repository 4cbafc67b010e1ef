// systemd's readiness protocol (sd_notify(3)), written by hand: one datagram of "KEY=VALUE"
// lines to the unix socket named by $NOTIFY_SOCKET (a path, or an abstract name when it starts
// with '@'). Without the variable (not under a Type=notify unit) every call is a no-op; a failed
// send is not an error for the daemon (systemd then times the unit out, which says why), so the
// daemon-facing calls return nothing.
//
// What ptun sends: READY=1 once the server listens / the client is connected (or waits for an
// on-demand rule), STATUS=<state> on lifecycle changes, RELOADING=1 + MONOTONIC_USEC before and
// READY=1 after a reload, STOPPING=1 on shutdown.
#pragma once
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun::sd {

// Sends `state` to `socket` (a $NOTIFY_SOCKET value). Errors: invalid_argument (empty, relative
// or too long a name), io (socket/sendto failed; the message names errno).
Result<void> notify_to(std::string_view socket, std::string_view state);

// notify_to($NOTIFY_SOCKET, state) when the variable is set; a failure is logged once (warn).
void notify(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=<now>" (systemd 253's Type=notify-reload needs the timestamp).
std::string reloading_message();

}  // namespace ptun::sd
