// The JSON gateway's wire format: base64, request bodies, and answers as etcd 3.4 sends them
// (samples captured from etcd 3.4.23's gateway), including the ones it leaves fields out of.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cluster/etcd_wire.hpp"

using namespace ptun;
using namespace ptun::cluster;

TEST_CASE("base64 round-trips every length and refuses malformed text", "[cluster][wire]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  for (size_t n = 0; n < all.size(); n += 7) CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
  for (const char* bad : {"Zg=", "Zg=a", "Z===", "=Zg=", "Zm9v!A==", "Zg==Zg=="}) CHECK_FALSE(base64_decode(bad));
  // Non-zero bits under the padding (found by fuzz_etcd_wire): one spelling per value.
  CHECK_FALSE(base64_decode("is=="));
  CHECK_FALSE(base64_decode("Zh=="));
  CHECK_FALSE(base64_decode("Zm9="));
  CHECK(base64_decode("ig==") == std::string(1, char(0x8a)));
}

TEST_CASE("prefix_end is the first key after every key with the prefix", "[cluster][wire]") {
  CHECK(prefix_end("/p/leases/") == "/p/leases0");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
  CHECK(prefix_end(std::string("\xff", 1)) == std::string(1, '\0'));
}

TEST_CASE("a txn body has etcd's field names, base64 keys and string numbers", "[cluster][wire]") {
  TxnRequest t;
  Compare c;
  c.key = "k";
  c.target = Compare::Target::mod;
  c.number = 42;
  t.compare.push_back(c);
  TxnOp put;
  put.put = PutRequest{"k", "v", 7};
  t.success.push_back(put);
  TxnOp rng;
  rng.range = RangeRequest{"a/", prefix_end("a/"), true, 0};
  t.failure.push_back(rng);
  auto j = nlohmann::json::parse(encode_txn(t));
  CHECK(j["compare"][0] == nlohmann::json::parse(R"({"key":"aw==","target":"MOD","result":"EQUAL","mod_revision":"42"})"));
  CHECK(j["success"][0] == nlohmann::json::parse(R"({"request_put":{"key":"aw==","value":"dg==","lease":"7"}})"));
  CHECK(j["failure"][0] == nlohmann::json::parse(R"({"request_range":{"key":"YS8=","range_end":"YTA=","keys_only":true}})"));
}

TEST_CASE("answers decode as etcd 3.4 sends them", "[cluster][wire]") {
  auto r = decode_range(R"({"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},)"
                        R"("kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"1","value":"YmFy"}],"count":"1"})");
  REQUIRE(r.ok());
  CHECK(r->revision == 2);
  REQUIRE(r->kvs.size() == 1);
  CHECK(r->kvs[0].key == "foo");
  CHECK(r->kvs[0].value == "bar");
  CHECK(r->kvs[0].mod_revision == 3);
  // No key: kvs and count left out.
  auto none = decode_range(R"({"header":{"revision":"2"}})");
  REQUIRE(none.ok());
  CHECK(none->kvs.empty());
  // A failed txn leaves "succeeded" out; a put's answer carries no range.
  auto t = decode_txn(R"({"header":{"revision":"9"},"responses":[{"response_range":{"header":{"revision":"9"}}},{"response_put":{"header":{}}}]})");
  REQUIRE(t.ok());
  CHECK_FALSE(t->succeeded);
  CHECK(t->ranges.size() == 2);
  CHECK(decode_txn(R"({"header":{"revision":"9"},"succeeded":true})")->succeeded);
  auto g = decode_lease_grant(R"({"header":{"revision":"2"},"ID":"7587899340136235530","TTL":"10"})");
  REQUIRE(g.ok());
  CHECK(g->id == 7587899340136235530LL);
  CHECK(g->ttl == 10);
  auto k = decode_lease_keepalive("{\"result\":{\"header\":{},\"ID\":\"12345\",\"TTL\":\"9\"}}\n{\"result\":{}}\n");
  REQUIRE(k.ok());
  CHECK(k->ttl == 9);
  CHECK(decode_lease_keepalive(R"({"result":{"header":{},"ID":"12345"}})")->ttl == 0);  // lease gone
}

TEST_CASE("etcd errors and malformed answers are errors, never exceptions", "[cluster][wire]") {
  auto e = decode_txn(R"({"error":"etcdserver: too many operations","message":"etcdserver: too many operations","code":3})");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == Errc::io);
  CHECK(e.error().message.find("too many operations") != std::string::npos);
  for (const char* bad : {"", "{", "[]", "null", R"({"kvs":{}})", R"({"kvs":[1]})", R"({"kvs":[{"key":"!!"}]})",
                          R"({"kvs":[{"key":"YQ==","mod_revision":"x"}]})", R"({"kvs":[{"key":"YQ==","version":"1e3"}]})",
                          R"({"header":[]})", R"({"count":true})"}) {
    INFO(bad);
    auto r = decode_range(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::protocol);
  }
  CHECK(decode_txn(R"({"succeeded":"yes"})").error().code == Errc::protocol);
  CHECK(decode_txn(R"({"responses":[{"response_range":[]}]})").error().code == Errc::protocol);
  CHECK(decode_lease_grant(R"({"TTL":"5"})").error().code == Errc::protocol);  // no ID
  CHECK(decode_lease_keepalive(R"({"ID":"5"})").error().code == Errc::protocol);
}
