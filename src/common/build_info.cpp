#include "common/build_info.hpp"

namespace ptun {

const char* version() { return PTUN_VERSION; }

}  // namespace ptun
