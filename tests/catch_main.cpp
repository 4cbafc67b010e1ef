// Catch2's main for static and cross builds (tests/CMakeLists.txt): the host's prebuilt
// Catch2WithMain cannot be linked into a binary for another target.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
