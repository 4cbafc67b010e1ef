// test_proto reuses the tls module's in-memory certificate factory (tests/tls/cert_factory.cpp)
// instead of keeping a second copy; test executables are globbed per module directory, so the
// source is compiled here as part of test_proto.
#include "tls/cert_factory.cpp"  // NOLINT(bugprone-suspicious-include)
