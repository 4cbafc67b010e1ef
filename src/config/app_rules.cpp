// The client's per-app VPN rules ([[app_rule]]) and the flow classifier's settings ([flows]).
#include <set>

#include "config/readers.hpp"

namespace ptun::config {

namespace {

std::string check_rule_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return "must be 1..64 characters";
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-';
    if (!ok) return "'" + s + "': only letters, digits, '.', '_' and '-' are allowed";
  }
  if (s == "." || s == "..") return "'" + s + "' is not a usable name";
  return "";
}

// A cgroup v2 path inside the hierarchy: absolute, no "." or ".." components, no empty ones
// except a trailing slash (dropped). "/" itself means every process and is refused.
std::string normalise_cgroup(const std::string& s, std::string* out) {
  if (s.empty() || s[0] != '/') return "'" + s + "' must be an absolute path in the cgroup v2 hierarchy";
  std::string norm;
  size_t i = 1;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    if (part == "." || part == "..") return "'" + s + "': '.' and '..' are not allowed";
    if (part.empty() && j != s.size()) return "'" + s + "': empty path component";
    if (!part.empty()) norm += "/" + part;
    i = j + 1;
  }
  if (norm.empty()) return "'/' would match every process";
  if (norm.size() > bounds::kMaxPath) return "path too long";
  *out = norm;
  return "";
}

void read_rule(TableReader& t, std::set<std::string>& names, AppRule& rule) {
  t.string(
      "name",
      [&](const std::string& s) {
        rule.name = s;
        std::string why = check_rule_name(s);
        if (why.empty() && !names.insert(s).second) why = "duplicate app_rule name '" + s + "'";
        return why;
      },
      true);
  t.string(
      "mode",
      [&](const std::string& s) {
        rule.mode = s;
        return s == "only" || s == "except" ? "" : "'" + s + "' is not a mode (only|except)";
      },
      true);
  if (t.get("uid")) {
    uint32_t uid = 0;
    if (t.u32("uid", uid, 0, 0xfffffffeu)) rule.uid = uid;
  }
  t.string("cgroup", [&](const std::string& s) { return normalise_cgroup(s, &rule.cgroup); });
  t.string("path", [&](const std::string& s) {
    rule.path = s;
    if (s.empty() || s[0] != '/') return "'" + s + "' must be an absolute executable path";
    if (s.size() > bounds::kMaxPath) return std::string("path too long");
    return std::string();
  });
}

}  // namespace

void read_app_rules(TableReader& r, ClientConfig& c) {
  std::set<std::string> names;
  r.table_array("app_rule", bounds::kMaxAppRules, [&](TableReader& t) {
    c.app_rules.emplace_back();
    read_rule(t, names, c.app_rules.back());
    // One mode for the whole client: "only" and "except" rules together have no meaning.
    if (!t.failed() && c.app_rules.back().mode != c.app_rules.front().mode)
      t.fail_at("mode", "'" + c.app_rules.back().mode + "' differs from the first app_rule's '" +
                            c.app_rules.front().mode + "' (all rules share one mode)");
  });
  if (auto t = r.table("flows")) {
    t->boolean("classify", c.flows.classify);
    t->u32("max_flows", c.flows.max_flows, 16, 4'194'304);
    t->finish();
  }
  if (!r.failed() && !c.app_rules.empty() && !c.flows.classify)
    r.fail_at("flows", "classify = false cannot be combined with [[app_rule]] (app rules need the flow table)");
}

}  // namespace ptun::config
