// What the client tells the outside, as one type: the control socket's commands (status, stats,
// up, down, stop, reload, message, flows), provider messages and the Prometheus text. It reads the
// pure parts directly (Lifecycle, SessionDriver, PathWatcher) and everything else through
// ControlSource, a narrow interface of plain facts and sections rendered by the part that owns
// them; the Client implements it (client_control.cpp), tests a fake.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/lifecycle.hpp"
#include "client/path_watcher.hpp"
#include "client/session_driver.hpp"
#include "common/result.hpp"
#include "control/protocol.hpp"
#include "metrics/exposition.hpp"
#include "metrics/histogram.hpp"
#include "proto/session_stats.hpp"
#include "proto/settings.hpp"

namespace ptun::client {

// The live session, as the control socket shows it.
struct SessionFacts {
  uint64_t id = 0;
  std::string cipher;
  proto::SessionStats stats;
  uint64_t established_ms = 0;   // loop time it connected
  int64_t server_time = 0;       // the server's clock in its SETTINGS (0: not sent)
  uint64_t settings_at_ms = 0;   // loop time the SETTINGS arrived
};

struct CertificateExpiry {
  std::string kind, subject, serial;
  int64_t not_after = 0;
};

class ControlSource {
 public:
  virtual ~ControlSource() = default;
  // Facts.
  virtual std::optional<SessionFacts> session_facts() const = 0;
  virtual const proto::NetworkSettings* applied_settings() const = 0;
  virtual std::string server_endpoint() const = 0;   // "" before the name resolved
  virtual std::string socket_endpoint() const = 0;   // the UDP socket's, "" without one
  virtual uint64_t rekeys() const = 0;
  virtual uint64_t rekey_failures() const = 0;       // over the client's life
  virtual size_t route_overrides() const = 0;        // TunnelVision overrides in place now
  virtual uint64_t route_overrides_seen() const = 0;
  virtual bool has_on_demand_rules() const = 0;
  virtual bool on_demand_paused() const = 0;         // `ptun down` pauses them
  virtual std::vector<CertificateExpiry> certificates() const = 0;
  virtual const metrics::Histogram& handshake_seconds() const = 0;
  // Sections, merged into status / stats as they are.
  virtual nlohmann::json mode_section() const = 0;        // mode; proxy + netstack, or interface
  virtual nlohmann::json transport_section() const = 0;   // transport, tcp
  virtual nlohmann::json host_section() const = 0;        // the settings applied, kill switch, errors
  virtual nlohmann::json counters_section() const = 0;
  virtual std::optional<nlohmann::json> udp_section() const = 0;
  virtual std::optional<nlohmann::json> apps_section() = 0;
  virtual nlohmann::json flows_section() = 0;
  virtual void more_metrics(metrics::Exposition& m) = 0;   // drops, TUN, apps
  // Verbs.
  virtual void up() = 0;     // `ptun up`: resume the on-demand rules, connect
  virtual void down() = 0;   // `ptun down`: disconnect, stay running, pause the rules
  virtual void stop_client() = 0;
  virtual Result<nlohmann::json> reload_config() = 0;
};

class ControlFacade {
 public:
  ControlFacade(const Lifecycle& life, const SessionDriver& driver, const PathWatcher& paths, ControlSource& src)
      : life_(life), driver_(driver), paths_(paths), src_(src) {}
  // `now`: the loop's ms clock; `wall`: seconds since the epoch (the server clock's skew).
  Result<nlohmann::json> handle(const control::Request& req, uint64_t now, int64_t wall);
  nlohmann::json status(uint64_t now, int64_t wall);
  nlohmann::json stats();
  Result<nlohmann::json> message(const nlohmann::json& args);
  std::string metrics(uint64_t now);

 private:
  nlohmann::json history() const;
  const Lifecycle& life_;
  const SessionDriver& driver_;
  const PathWatcher& paths_;
  ControlSource& src_;
};

}  // namespace ptun::client
