// The command-line interface: parses argv (CLI11) and dispatches to the roles.
#pragma once

namespace ptun::cli {

// Exit codes: 0 success, 1 runtime failure (e.g. config invalid), 2 usage error.
int run(int argc, char** argv);

}  // namespace ptun::cli
