#include "common/rng.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

namespace ptun {

void SystemRng::fill(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t r = getrandom(out, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no randomness means no safe keys or session ids: never continue
    }
    out += r;
    n -= size_t(r);
  }
}

}  // namespace ptun
