#include <catch2/catch.hpp>

#include "metrics/exporter.hpp"
#include "metrics/exposition.hpp"

using namespace ptun::metrics;

TEST_CASE("samples are grouped by family with one HELP and TYPE", "[metrics]") {
  Exposition e;
  e.counter("ptun_rx_bytes_total", "Bytes received.", 10, {{"peer", "a"}});
  e.gauge("ptun_sessions", "Live sessions.", 2);
  e.counter("ptun_rx_bytes_total", "ignored help", 20, {{"peer", "b"}});
  CHECK(e.text() ==
        "# HELP ptun_rx_bytes_total Bytes received.\n"
        "# TYPE ptun_rx_bytes_total counter\n"
        "ptun_rx_bytes_total{peer=\"a\"} 10\n"
        "ptun_rx_bytes_total{peer=\"b\"} 20\n"
        "# HELP ptun_sessions Live sessions.\n"
        "# TYPE ptun_sessions gauge\n"
        "ptun_sessions 2\n");
}

TEST_CASE("label values are escaped, values formatted exactly", "[metrics]") {
  Exposition e;
  e.gauge("g", "h\\x\nnext", 0.25, {{"name", "a\"b\\c\nd"}, {"x", ""}});
  e.gauge("big", "h", 18446744073709551615.0);
  e.gauge("int", "h", 9007199254740991.0);
  std::string t = e.text();
  CHECK(t.find("# HELP g h\\\\x\\nnext\n") != std::string::npos);
  CHECK(t.find("g{name=\"a\\\"b\\\\c\\nd\",x=\"\"} 0.25\n") != std::string::npos);
  CHECK(t.find("int 9007199254740991\n") != std::string::npos);
  CHECK(t.find("big 1.8446744073709552e+19\n") != std::string::npos);
}

TEST_CASE("invalid names and type clashes are kept out", "[metrics]") {
  Exposition e;
  e.gauge("1bad", "h", 1);
  e.gauge("ok", "h", 1, {{"__reserved", "x"}});
  e.gauge("ok2", "h", 1, {{"bad-label", "x"}});
  e.counter("m_total", "h", 1);
  e.gauge("m_total", "h", 2);
  CHECK(e.text() == "# HELP m_total h\n# TYPE m_total counter\nm_total 1\n");
  CHECK(valid_metric_name("ptun:x_1"));
  CHECK_FALSE(valid_label_name("a:b"));
}

TEST_CASE("http: GET /metrics answers the rendered text; other requests do not", "[metrics]") {
  int calls = 0;
  Exporter::Render render = [&] {
    ++calls;
    return std::string("x 1\n");
  };
  std::string ok = http_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", render);
  CHECK(ok.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(ok.find("Content-Length: 4\r\n") != std::string::npos);
  CHECK(ok.substr(ok.size() - 4) == "x 1\n");
  CHECK(http_response("GET /metrics?x=1 HTTP/1.0\r\n\r\n", render).rfind("HTTP/1.0 200", 0) == 0);
  CHECK(http_response("GET / HTTP/1.0\r\n\r\n", render).rfind("HTTP/1.0 404", 0) == 0);
  CHECK(http_response("POST /metrics HTTP/1.0\r\n\r\n", render).rfind("HTTP/1.0 405", 0) == 0);
  CHECK(http_response("garbage", render).rfind("HTTP/1.0 400", 0) == 0);
  CHECK(calls == 2);
}
