// etcd v3's JSON gateway, sans-I/O: request bodies for the calls ptun makes and parsers for their
// answers. The gateway is grpc-gateway over etcd's protobuf API (etcd 3.4: POST /v3/kv/range,
// /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive): keys and values are base64 in JSON, 64-bit
// integers are JSON strings ("revision":"5"), and zero/false/empty fields are left out (an absent
// "succeeded" is false, an absent "kvs" is no key). An error answer is {"error","code","message"}.
//
// Parsers never throw and never trust the input: anything that is not the expected shape is an
// Errc::protocol error (an etcd "code" is Errc::io with its message), counted by the caller.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ptun::cluster {

std::string base64_encode(std::string_view raw);
// Standard alphabet with padding (what the gateway emits); nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view b64);

// The end of a prefix range ("a/b/" -> "a/b0"): every key starting with `prefix` is < it.
std::string prefix_end(std::string_view prefix);

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeRequest {
  std::string key;
  std::string range_end;   // "" = the key alone; prefix_end(p) = every key under p
  bool keys_only = false;
  int64_t limit = 0;       // 0 = no limit
  int64_t min_mod_revision = 0;  // only keys changed at or after this revision (0 = all)
};
struct RangeResponse {
  int64_t revision = 0;    // the store's revision when it was read
  std::vector<KeyValue> kvs;
  int64_t count = 0;
};

struct Compare {
  enum class Target { create, mod, version, value };
  enum class Result { equal, not_equal, greater, less };
  std::string key;
  Target target = Target::create;
  Result result = Result::equal;
  int64_t number = 0;      // create/mod revision or version
  std::string value;       // Target::value
};
struct PutRequest {
  std::string key, value;
  int64_t lease = 0;       // 0: no lease (put then detaches the key from any lease it had)
};
struct DeleteRequest {
  std::string key;
};
struct TxnOp {  // exactly one of them
  std::optional<RangeRequest> range;
  std::optional<PutRequest> put;
  std::optional<DeleteRequest> del;
};
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success, failure;
};
struct TxnResponse {
  int64_t revision = 0;
  bool succeeded = false;
  // One entry per op of the branch taken; only range answers carry data (others: empty).
  std::vector<RangeResponse> ranges;
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds
};

// ---- request bodies (JSON text for the gateway) --------------------------------------------
std::string encode_range(const RangeRequest& r);
std::string encode_txn(const TxnRequest& t);
std::string encode_lease_grant(int64_t ttl_s);
std::string encode_lease_keepalive(int64_t id);
std::string encode_lease_revoke(int64_t id);

// ---- answers ---------------------------------------------------------------------------------
Result<RangeResponse> decode_range(std::string_view body);
Result<TxnResponse> decode_txn(std::string_view body);
Result<LeaseGrant> decode_lease_grant(std::string_view body);
// The keepalive stream's first message ({"result":{...}}). ttl 0: the lease no longer exists.
Result<LeaseGrant> decode_lease_keepalive(std::string_view body);
// Any other answer (revoke, put): only checks that it is not an error.
Result<void> decode_empty(std::string_view body);

}  // namespace ptun::cluster
