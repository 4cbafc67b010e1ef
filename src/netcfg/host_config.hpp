// Transactional, journaled host changes. Every change is written to the journal (fsync) before it
// is made; checkpoint()/rollback() undo a half-applied batch; undo_all() restores the host; the
// static recover() replays a journal a crashed run left behind.
//
// Invariant: journal file == entries_ (the changes that may be in effect), in the order made.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "netcfg/host_ops.hpp"
#include "netcfg/journal.hpp"

namespace ptun::netcfg {

class HostConfig {
 public:
  HostConfig(HostOps& ops, Journal journal) : ops_(ops), journal_(std::move(journal)) {}
  HostConfig(const HostConfig&) = delete;
  HostConfig& operator=(const HostConfig&) = delete;

  // Each: journal, then change. Errors from the journal (Errc::io) mean nothing was changed.
  Result<void> add_route(const netlink::Route& r);
  Result<void> add_rule(const netlink::Rule& r);
  // Installs or atomically replaces nftables table inet `table` with `script` (firewall.hpp).
  Result<void> set_nft_table(const std::string& table, const std::string& script);
  // Rewrites `path`; its original bytes (first rewrite only) are journaled for the restore.
  Result<void> write_file(const std::string& path, const std::string& content);
  // Runs resolvectl commands for `ifname`; the undo is `resolvectl revert ifname`.
  Result<void> configure_resolved(const std::string& ifname, const std::vector<std::vector<std::string>>& cmds);
  // Writes ptun's file in dnsmasq's conf-dir (whatever was there under that name is ptun's and
  // not kept), then runs the restart command; the undo removes it and restarts dnsmasq again.
  Result<void> write_dnsmasq_file(const std::string& path, const std::string& content);
  // The dnsmasq restart command (from the config, never from the journal) used by both.
  void set_dnsmasq_restart(std::vector<std::string> argv) { dnsmasq_restart_ = std::move(argv); }

  // A point to roll back to, and the rollback (undoes every later change, newest first).
  size_t checkpoint() const { return entries_.size(); }
  void rollback(size_t checkpoint);
  // Undoes everything except the changes `keep` selects (always_on keeps the kill switch, which
  // then stays in the journal for `ptun cleanup`).
  void undo_all(const std::function<bool(const Change&)>& keep = {});
  const std::vector<Change>& entries() const { return entries_; }

  // Loads the journal a previous run left, undoes its changes newest first except those `keep`
  // selects (they are adopted: they stay journaled and owned by this HostConfig). Returns the
  // number of changes undone. Errc::invalid_argument for an unreadable journal (left in place).
  Result<size_t> recover(const std::function<bool(const Change&)>& keep = {});

  // Undo one change (idempotent: "not there" is success). Errors are logged, not returned.
  // `dnsmasq_restart`: run after removing a dnsmasq file (empty: not run).
  static void undo(HostOps& ops, const Change& c, const std::vector<std::string>& dnsmasq_restart = {});

 private:
  Result<void> record(const Change& c);
  HostOps& ops_;
  Journal journal_;
  std::vector<Change> entries_;
  std::vector<std::string> dnsmasq_restart_;
};

}  // namespace ptun::netcfg
