// The single translation unit that compiles toml++ (see toml.hpp).
#define TOML_IMPLEMENTATION
#include "config/toml.hpp"
