// ptun: one binary, client and server. All commands live in src/cli/.
#include "cli/commands.hpp"

int main(int argc, char** argv) { return ptun::cli::run(argc, argv); }
