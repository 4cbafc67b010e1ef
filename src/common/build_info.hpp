// What was built: the version (CMake's project version) and the source commit (generated at
// build time, cmake/build_commit.cmake: "abcdef123456", "...-dirty", or "unknown").
#pragma once

namespace ptun {

const char* version();
const char* build_commit();

}  // namespace ptun
