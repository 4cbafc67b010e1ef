// Least privilege for both roles: once the TUN device, sockets and host settings are set up, the
// process switches to an unprivileged user and keeps only the capabilities its run time needs.
//
//   root, all caps --setup--> drop_privileges(): bounding set trimmed, supplementary groups
//   replaced, setresgid/setresuid with PR_SET_KEEPCAPS, capset(keep), ambient(keep),
//   PR_SET_NO_NEW_PRIVS --> user, caps = keep only (verified by reading them back)
//
// Why each step: the bounding set and no_new_privs make a later execve (nft at teardown) unable
// to regain anything; the kept capabilities are also raised as ambient so that exactly those
// reach that nft child (a non-root execve otherwise drops every capability).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace ptun {

struct PrivilegeDrop {
  std::string user;                    // required
  std::string group;                   // "" = the user's primary group
  std::vector<std::string> keep_caps;  // names as in capabilities(7): "CAP_NET_ADMIN", ...
  std::vector<std::string> hand_over;  // paths (files or directories, not recursive) chowned to the user first
};

// Capability name -> number (CAP_NET_ADMIN -> 12); -1 if unknown.
int capability_from_name(const std::string& name);

// The process's effective capability set as a bit mask (bit n = capability n).
uint64_t effective_capabilities();

// Errors: not_found (no such user/group), invalid_argument (unknown capability name),
// io (not root, or a step the kernel refused; the message names the step and errno). On error the
// process may be half-way: the caller must exit.
Result<void> drop_privileges(const PrivilegeDrop& d);

// Raises the soft RLIMIT_NOFILE to the hard limit (relayed flows each hold a socket; the usual
// soft limit of 1024 would refuse flows long before the configured caps) and returns it.
uint64_t raise_fd_limit();

}  // namespace ptun
