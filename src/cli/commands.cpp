#include "cli/commands.hpp"

#include <cstdio>

namespace ptun::cli {

int run(int, char**) {
  std::puts("ptun 0.1.0");
  return 0;
}

}  // namespace ptun::cli
