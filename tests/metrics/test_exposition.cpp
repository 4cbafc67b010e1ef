#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "metrics/exporter.hpp"
#include "common/build_info.hpp"
#include "metrics/exposition.hpp"
#include "metrics/standard.hpp"

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

TEST_CASE("http: GET /metrics answers the rendered text, other requests do not", "[metrics]") {
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

TEST_CASE("histogram: cumulative buckets, +Inf, _sum and _count under one TYPE", "[metrics]") {
  Histogram h({0.005, 0.1, 1});
  for (double v : {0.001, 0.005, 0.05, 0.5, 0.5, 7.0}) h.observe(v);
  h.observe(std::nan(""));   // ignored
  CHECK(h.count() == 6);
  CHECK(h.counts() == std::vector<uint64_t>{2, 1, 2, 1});
  Exposition e;
  e.histogram("ptun_hs_seconds", "Latency.", h, {{"peer", "a\"b\\c"}});
  CHECK(e.text() ==
        "# HELP ptun_hs_seconds Latency.\n"
        "# TYPE ptun_hs_seconds histogram\n"
        "ptun_hs_seconds_bucket{peer=\"a\\\"b\\\\c\",le=\"0.005\"} 2\n"
        "ptun_hs_seconds_bucket{peer=\"a\\\"b\\\\c\",le=\"0.1\"} 3\n"
        "ptun_hs_seconds_bucket{peer=\"a\\\"b\\\\c\",le=\"1\"} 5\n"
        "ptun_hs_seconds_bucket{peer=\"a\\\"b\\\\c\",le=\"+Inf\"} 6\n"
        "ptun_hs_seconds_sum{peer=\"a\\\"b\\\\c\"} 8.056000000000001\n"
        "ptun_hs_seconds_count{peer=\"a\\\"b\\\\c\"} 6\n");
}

TEST_CASE("histogram: buckets never decrease and +Inf equals _count, whatever is observed", "[metrics]") {
  Histogram h(handshake_buckets());
  uint64_t x = 88172645463325252ull;   // xorshift: spread over and beyond the bounds
  for (int i = 0; i < 2000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    h.observe(double(x % 40000) / 1000.0);
  }
  h.observe(30);                            // on a bound: counted in that bucket
  h.observe(std::numeric_limits<double>::infinity());
  Exposition e;
  e.histogram("h_seconds", "h", h);
  std::string t = e.text();
  double prev = -1, last = 0;
  size_t buckets = 0;
  for (size_t at = t.find("h_seconds_bucket{"); at != std::string::npos; at = t.find("h_seconds_bucket{", at + 1)) {
    double v = std::stod(t.substr(t.find("} ", at) + 2));
    CHECK(v >= prev);
    prev = last = v;
    ++buckets;
  }
  CHECK(buckets == handshake_buckets().size() + 1);
  CHECK(t.find("h_seconds_bucket{le=\"30\"} ") != std::string::npos);
  CHECK(t.find("h_seconds_bucket{le=\"+Inf\"} 2002\n") != std::string::npos);
  CHECK(last == 2002);
  CHECK(t.find("h_seconds_count 2002\n") != std::string::npos);
  CHECK(t.find("h_seconds_sum +Inf\n") != std::string::npos);
}

TEST_CASE("histogram: bad bounds dropped, an 'le' label or a type clash kept out", "[metrics]") {
  Histogram h({1, 0.5, std::numeric_limits<double>::infinity(), 2, std::nan("")});
  CHECK(h.bounds() == std::vector<double>{1, 2});
  Exposition e;
  e.histogram("x_seconds", "h", h, {{"le", "1"}});
  e.gauge("y", "h", 1);
  e.histogram("y", "h", h);
  e.add(Type::histogram, "z", "h", 1);
  CHECK(e.text() == "# HELP y h\n# TYPE y gauge\ny 1\n");
}

TEST_CASE("values: shortest exact text for fractions, integers exact", "[metrics]") {
  CHECK(format_value(0.005) == "0.005");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(2.5) == "2.5");
  CHECK(format_value(1.0 / 3) == "0.3333333333333333");
  CHECK(format_value(1796315197) == "1796315197");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("standard samples: build info and certificate expiry", "[metrics]") {
  Exposition e;
  add_build_info(e, "3.6.2", "openssl");
  add_certificate_expiry(e, "ca", "Acme \"Root\" \\ CA", "0a1b", 1796315197);
  std::string t = e.text();
  std::string want = std::string("ptun_build_info{version=\"") + ptun::version() + "\",commit=\"" + ptun::build_commit() +
                     "\",mbedtls=\"3.6.2\",record_crypto=\"openssl\"} 1\n";
  CHECK(t.find("# TYPE ptun_build_info gauge\n" + want) != std::string::npos);
  CHECK(std::string(ptun::version()).find('.') != std::string::npos);
  CHECK_FALSE(std::string(ptun::build_commit()).empty());
  CHECK(t.find("ptun_certificate_expiry_timestamp_seconds{kind=\"ca\",subject=\"Acme \\\"Root\\\" \\\\ CA\","
               "serial=\"0a1b\"} 1796315197\n") != std::string::npos);
}
