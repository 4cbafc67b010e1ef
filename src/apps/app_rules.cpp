#include "apps/app_rules.hpp"

namespace ptun::apps {

std::string Identity::label() const {
  switch (kind) {
    case Kind::unknown: return "unknown";
    case Kind::lan: return "lan " + lan.str();
    case Kind::process: break;
  }
  std::string name = exe.empty() ? "?" : exe;
  return name + " (uid " + std::to_string(uid) + ")";
}

std::string exec_cgroup(const std::string& app_name) { return "/ptun/" + app_name; }

bool cgroup_under(const std::string& cgroup, const std::string& prefix) {
  if (prefix.empty() || cgroup.size() < prefix.size()) return false;
  if (cgroup.compare(0, prefix.size(), prefix) != 0) return false;
  return cgroup.size() == prefix.size() || cgroup[prefix.size()] == '/';
}

RuleSet::RuleSet(const std::vector<config::AppRule>& rules) : rules_(rules) {
  if (!rules_.empty()) mode_ = rules_.front().mode == "only" ? Mode::only : Mode::except;
}

int RuleSet::match(const Identity& id) const {
  if (id.kind != Identity::Kind::process) return -1;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const auto& r = rules_[i];
    if (r.uid && *r.uid == id.uid) return int(i);
    if (!r.cgroup.empty() && cgroup_under(id.cgroup, r.cgroup)) return int(i);
    if (!r.path.empty() && r.path == id.exe) return int(i);
    if (cgroup_under(id.cgroup, exec_cgroup(r.name))) return int(i);
  }
  return -1;
}

bool RuleSet::allowed(const Identity& id) const {
  if (mode_ == Mode::none || id.kind != Identity::Kind::process) return true;
  bool m = match(id) >= 0;
  return mode_ == Mode::only ? m : !m;
}

}  // namespace ptun::apps
