#include <catch2/catch.hpp>

#include "client/http_probe.hpp"

using ptun::client::http_status;

TEST_CASE("probe: HTTP status lines", "[client][probe]") {
  CHECK(http_status("HTTP/1.0 200 OK\r\n") == 200);
  CHECK(http_status("HTTP/1.1 204\r\n") == 204);
  CHECK(http_status("HTTP/1.1 404 Not Found") == 404);
  CHECK(http_status("HTTP/2 200 OK") == -1);
  CHECK(http_status("HTTP/1.1 2x0 OK") == -1);
  CHECK(http_status("HTTP/1.1 2000 OK") == -1);
  CHECK(http_status("") == -1);
  CHECK(http_status("SSH-2.0-OpenSSH") == -1);
}
