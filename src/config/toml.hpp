// The one way to include toml++ in ptun. toml++ is compiled once, in toml_impl.cpp
// (TOML_IMPLEMENTATION); every other includer sees declarations only, which keeps builds fast and
// lets the binary link statically. Exceptions are off so parse failures come back as values
// (toml::parse_result), matching ptun's errors-as-values rule. Formatters are off: emit.cpp writes
// its own TOML in a fixed, commented order.
//
// These macros change toml++'s ABI namespace: every translation unit must agree, so never include
// <toml++/toml.h> directly.
#pragma once

#define TOML_HEADER_ONLY 0
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>
