#include "netcfg/host_config.hpp"

#include "common/log.hpp"
#include "hostio/nft_script.hpp"

namespace ptun::netcfg {

Result<void> HostConfig::record(const Change& c) {
  if (auto r = journal_.append(c); !r) return r;
  entries_.push_back(c);
  return {};
}

Result<void> HostConfig::add_route(const netlink::Route& r) {
  Change c;
  c.kind = Change::Kind::route;
  c.route = r;
  if (auto j = record(c); !j) return j;
  if (auto res = ops_.route_add(r); !res)
    return Error(res.error().code, "route " + r.dst.str() + ": " + res.error().message);
  return {};
}

Result<void> HostConfig::add_rule(const netlink::Rule& r) {
  Change c;
  c.kind = Change::Kind::rule;
  c.rule = r;
  if (auto j = record(c); !j) return j;
  if (auto res = ops_.rule_add(r); !res) {
    // Not ours if it already existed: forget it so the undo does not delete someone else's rule.
    if (res.error().code == Errc::exists) {
      entries_.pop_back();
      (void)journal_.rewrite(entries_);
    }
    return Error(res.error().code, "policy rule (priority " + std::to_string(r.priority) + "): " + res.error().message);
  }
  return {};
}

Result<void> HostConfig::set_nft_table(const std::string& table, const std::string& script) {
  bool known = false;
  for (const auto& e : entries_) known = known || (e.kind == Change::Kind::nft_table && e.name == table);
  if (!known) {
    Change c;
    c.kind = Change::Kind::nft_table;
    c.name = table;
    if (auto j = record(c); !j) return j;
  }
  if (auto r = ops_.nft(script); !r) return Error(r.error().code, "nftables: " + r.error().message);
  return {};
}

Result<void> HostConfig::write_file(const std::string& path, const std::string& content) {
  bool known = false;
  for (const auto& e : entries_) known = known || (e.kind == Change::Kind::file && e.path == path);
  if (!known) {
    auto orig = ops_.read_file(path);
    if (!orig) return orig.error();
    Change c;
    c.kind = Change::Kind::file;
    c.path = path;
    c.existed = orig->has_value();
    if (*orig) c.content = **orig;
    if (auto j = record(c); !j) return j;
  }
  return ops_.write_file(path, content);
}

Result<void> HostConfig::configure_resolved(const std::string& ifname,
                                            const std::vector<std::vector<std::string>>& cmds) {
  Change c;
  c.kind = Change::Kind::resolved_link;
  c.name = ifname;
  if (auto j = record(c); !j) return j;
  for (const auto& cmd : cmds)
    if (auto r = ops_.run(cmd); !r) return r;
  return {};
}

Result<void> HostConfig::write_dnsmasq_file(const std::string& path, const std::string& content) {
  bool known = false;
  for (const auto& e : entries_) known = known || (e.kind == Change::Kind::dnsmasq_file && e.path == path);
  if (!known) {
    Change c;
    c.kind = Change::Kind::dnsmasq_file;
    c.path = path;
    if (auto j = record(c); !j) return j;
  }
  if (auto r = ops_.write_file(path, content); !r) return r;
  if (dnsmasq_restart_.empty()) return Error(Errc::invalid_argument, "no dnsmasq restart command");
  if (auto r = ops_.run(dnsmasq_restart_); !r) return Error(r.error().code, "restarting dnsmasq: " + r.error().message);
  return {};
}

void HostConfig::undo(HostOps& ops, const Change& c, const std::vector<std::string>& dnsmasq_restart) {
  switch (c.kind) {
    case Change::Kind::route: {
      auto r = ops.route_del(c.route);
      // Routes through the TUN vanish with it: "not found" (or "no device") is success here.
      if (!r && r.error().code != Errc::not_found)
        LOG_DEBUG("netcfg: removing route %s: %s", c.route.dst.str().c_str(), r.error().message.c_str());
      break;
    }
    case Change::Kind::rule: {
      auto r = ops.rule_del(c.rule);
      if (!r && r.error().code != Errc::not_found) LOG_WARN("netcfg: removing rule: %s", r.error().message.c_str());
      break;
    }
    case Change::Kind::nft_table: {
      auto script = hostio::nft_remove_table_script(c.name);   // works whether or not it is there
      auto r = script ? ops.nft(*script) : Result<void>(script.error());
      if (!r) LOG_WARN("netcfg: removing nftables table %s: %s", c.name.c_str(), r.error().message.c_str());
      break;
    }
    case Change::Kind::file: {
      auto r = c.existed ? ops.write_file(c.path, c.content) : ops.remove_file(c.path);
      if (!r) LOG_WARN("netcfg: restoring %s: %s", c.path.c_str(), r.error().message.c_str());
      break;
    }
    case Change::Kind::resolved_link: {
      auto r = ops.run({"resolvectl", "revert", c.name});
      if (!r) LOG_DEBUG("netcfg: resolvectl revert %s: %s", c.name.c_str(), r.error().message.c_str());
      break;
    }
    case Change::Kind::dnsmasq_file: {
      // Removed even if the restart then fails: dnsmasq's next start must not read it.
      if (auto r = ops.remove_file(c.path); !r)
        LOG_WARN("netcfg: removing %s: %s", c.path.c_str(), r.error().message.c_str());
      if (dnsmasq_restart.empty()) {
        LOG_WARN("netcfg: removed %s; restart dnsmasq to drop its servers (no restart command)", c.path.c_str());
      } else if (auto r = ops.run(dnsmasq_restart); !r) {
        LOG_WARN("netcfg: restarting dnsmasq after removing %s: %s", c.path.c_str(), r.error().message.c_str());
      }
      break;
    }
  }
}

void HostConfig::rollback(size_t checkpoint) {
  while (entries_.size() > checkpoint) {
    undo(ops_, entries_.back(), dnsmasq_restart_);
    entries_.pop_back();
  }
  if (auto r = journal_.rewrite(entries_); !r) LOG_WARN("netcfg: journal: %s", r.error().message.c_str());
}

void HostConfig::undo_all(const std::function<bool(const Change&)>& keep) {
  std::vector<Change> kept;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (keep && keep(*it)) {
      kept.insert(kept.begin(), *it);
      continue;
    }
    undo(ops_, *it, dnsmasq_restart_);
  }
  entries_ = std::move(kept);
  if (auto r = journal_.rewrite(entries_); !r) LOG_WARN("netcfg: journal: %s", r.error().message.c_str());
}

Result<size_t> HostConfig::recover(const std::function<bool(const Change&)>& keep) {
  auto old = journal_.load();
  if (!old) return old.error();   // the journal's errors name its path
  size_t undone = 0;
  std::vector<Change> kept;
  for (auto it = old->rbegin(); it != old->rend(); ++it) {
    if (keep && keep(*it)) {
      kept.insert(kept.begin(), *it);
      continue;
    }
    undo(ops_, *it, dnsmasq_restart_);
    ++undone;
  }
  entries_ = std::move(kept);
  if (auto r = journal_.rewrite(entries_); !r) return r.error();
  return undone;
}

}  // namespace ptun::netcfg
