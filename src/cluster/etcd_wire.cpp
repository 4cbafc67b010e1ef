#include "cluster/etcd_wire.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace ptun::cluster {
namespace {

using json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

Error bad(const std::string& what) { return Error(Errc::protocol, "etcd answer: " + what); }

// An int64 field: absent = 0 (the gateway omits zeros), a decimal string, or a JSON integer.
bool get_i64(const json& o, const char* name, int64_t* out) {
  *out = 0;
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return true;
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return true;
  }
  if (!it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// A base64 field: absent = "".
bool get_b64(const json& o, const char* name, std::string* out) {
  out->clear();
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  auto d = base64_decode(it->get_ref<const std::string&>());
  if (!d) return false;
  *out = std::move(*d);
  return true;
}

// Parses the body as a JSON object; an etcd error object becomes its Error.
Result<json> parse_object(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto e = j.find("error");
  if (e != j.end()) {
    std::string msg = "etcd error";
    auto m = j.find("message");
    if (m != j.end() && m->is_string()) msg = "etcd: " + m->get<std::string>();
    else if (e->is_string()) msg = "etcd: " + e->get<std::string>();
    return Error(Errc::io, msg);
  }
  return j;
}

bool header_revision(const json& o, int64_t* rev) {
  auto h = o.find("header");
  if (h == o.end()) {
    *rev = 0;
    return true;
  }
  return h->is_object() && get_i64(*h, "revision", rev);
}

Result<RangeResponse> range_from(const json& o) {
  RangeResponse r;
  if (!header_revision(o, &r.revision)) return bad("bad header");
  if (!get_i64(o, "count", &r.count)) return bad("bad count");
  auto kvs = o.find("kvs");
  if (kvs != o.end() && !kvs->is_null()) {
    if (!kvs->is_array()) return bad("kvs is not an array");
    for (const auto& e : *kvs) {
      if (!e.is_object()) return bad("kv is not an object");
      KeyValue kv;
      if (!get_b64(e, "key", &kv.key) || !get_b64(e, "value", &kv.value)) return bad("bad key or value");
      if (!get_i64(e, "create_revision", &kv.create_revision) || !get_i64(e, "mod_revision", &kv.mod_revision) ||
          !get_i64(e, "version", &kv.version) || !get_i64(e, "lease", &kv.lease))
        return bad("bad kv numbers");
      r.kvs.push_back(std::move(kv));
    }
  }
  return r;
}

json range_json(const RangeRequest& r) {
  json j = {{"key", base64_encode(r.key)}};
  if (!r.range_end.empty()) j["range_end"] = base64_encode(r.range_end);
  if (r.keys_only) j["keys_only"] = true;
  if (r.limit) j["limit"] = std::to_string(r.limit);
  if (r.min_mod_revision) j["min_mod_revision"] = std::to_string(r.min_mod_revision);
  return j;
}

json op_json(const TxnOp& op) {
  if (op.range) return {{"request_range", range_json(*op.range)}};
  if (op.put) {
    json p = {{"key", base64_encode(op.put->key)}, {"value", base64_encode(op.put->value)}};
    if (op.put->lease) p["lease"] = std::to_string(op.put->lease);
    return {{"request_put", p}};
  }
  if (op.del) return {{"request_delete_range", {{"key", base64_encode(op.del->key)}}}};
  return json::object();
}

json compare_json(const Compare& c) {
  static const char* kTargets[] = {"CREATE", "MOD", "VERSION", "VALUE"};
  static const char* kResults[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json j = {{"key", base64_encode(c.key)},
            {"target", kTargets[int(c.target)]},
            {"result", kResults[int(c.result)]}};
  switch (c.target) {
    case Compare::Target::create: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::mod: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::version: j["version"] = std::to_string(c.number); break;
    case Compare::Target::value: j["value"] = base64_encode(c.value); break;
  }
  return j;
}

}  // namespace

std::string base64_encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(raw[i])) << 16 | uint32_t(uint8_t(raw[i + 1])) << 8 | uint8_t(raw[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (size_t rest = raw.size() - i) {
    uint32_t v = uint32_t(uint8_t(raw[i])) << 16 | (rest == 2 ? uint32_t(uint8_t(raw[i + 1])) << 8 : 0);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view b64) {
  if (b64.size() % 4) return std::nullopt;
  std::string out;
  out.reserve(b64.size() / 4 * 3);
  for (size_t i = 0; i < b64.size(); i += 4) {
    const bool last = i + 4 == b64.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = b64[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      v[k] = b64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    uint32_t n = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
    // Canonical text only (RFC 4648 §3.5): bits under the padding must be zero, so a key has
    // exactly one spelling ("is==" and "ig==" would both be byte 0x8a).
    if ((pad == 2 && (n & 0xffff)) || (pad == 1 && (n & 0xff))) return std::nullopt;
    out += char(n >> 16);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
  }
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (uint8_t(end.back()) < 0xff) {
      end.back() = char(uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end = every key >= key
}

std::string encode_range(const RangeRequest& r) { return range_json(r).dump(); }

std::string encode_txn(const TxnRequest& t) {
  json j = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : t.compare) j["compare"].push_back(compare_json(c));
  for (const auto& op : t.success) j["success"].push_back(op_json(op));
  for (const auto& op : t.failure) j["failure"].push_back(op_json(op));
  return j.dump();
}

std::string encode_lease_grant(int64_t ttl_s) { return json{{"TTL", std::to_string(ttl_s)}}.dump(); }
std::string encode_lease_keepalive(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }
std::string encode_lease_revoke(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

Result<RangeResponse> decode_range(std::string_view body) {
  auto j = parse_object(body);
  if (!j) return j.error();
  return range_from(*j);
}

Result<TxnResponse> decode_txn(std::string_view body) {
  auto j = parse_object(body);
  if (!j) return j.error();
  TxnResponse t;
  if (!header_revision(*j, &t.revision)) return bad("bad header");
  if (auto s = j->find("succeeded"); s != j->end()) {
    if (!s->is_boolean()) return bad("succeeded is not a boolean");
    t.succeeded = s->get<bool>();
  }
  auto rs = j->find("responses");
  if (rs != j->end() && !rs->is_null()) {
    if (!rs->is_array()) return bad("responses is not an array");
    for (const auto& e : *rs) {
      if (!e.is_object()) return bad("response is not an object");
      auto r = e.find("response_range");
      if (r == e.end()) {
        t.ranges.emplace_back();  // a put's or delete's answer: nothing ptun reads
        continue;
      }
      if (!r->is_object()) return bad("response_range is not an object");
      auto rr = range_from(*r);
      if (!rr) return rr.error();
      t.ranges.push_back(std::move(*rr));
    }
  }
  return t;
}

Result<LeaseGrant> decode_lease_grant(std::string_view body) {
  auto j = parse_object(body);
  if (!j) return j.error();
  LeaseGrant g;
  if (!get_i64(*j, "ID", &g.id) || !get_i64(*j, "TTL", &g.ttl)) return bad("bad lease ID or TTL");
  if (g.id == 0) return bad("lease grant without an ID");
  return g;
}

Result<LeaseGrant> decode_lease_keepalive(std::string_view body) {
  // A stream of newline-separated messages: the first one answers the one keepalive sent.
  if (size_t nl = body.find('\n'); nl != std::string_view::npos) body = body.substr(0, nl);
  auto j = parse_object(body);
  if (!j) return j.error();
  auto r = j->find("result");
  if (r == j->end() || !r->is_object()) return bad("keepalive without a result");
  if (r->contains("error")) return Error(Errc::io, "etcd: keepalive refused");
  LeaseGrant g;
  if (!get_i64(*r, "ID", &g.id) || !get_i64(*r, "TTL", &g.ttl)) return bad("bad lease ID or TTL");
  return g;
}

Result<void> decode_empty(std::string_view body) {
  auto j = parse_object(body);
  if (!j) return j.error();
  return {};
}

}  // namespace ptun::cluster
