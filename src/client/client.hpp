// The client role: one tunnel to one server. Reads IP packets from its TUN, carries them over a
// DTLS session (proto::ClientSession) on UDP, writes what comes back to the TUN, applies the
// pushed network settings (addresses, MTU, routes) and heals itself (reconnect with backoff).
//
// Data path (one loop thread): the shared datapath::Pipeline; the client's policy (which packets
// enter the session, which datagrams are the server's) is in client_datapath.cpp:
//
//   TUN --read batch--> MSS clamp / too-big --> ClientSession (encrypt) --> tx batch --sendmmsg--> server
//   TUN <--write batch-- ClientSession (decrypt) <--recvmmsg-- UDP socket (fwmark: bypasses the tunnel)
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/control_facade.hpp"
#include "client/lifecycle.hpp"
#include "client/path_monitor.hpp"
#include "client/path_watcher.hpp"
#include "client/session_driver.hpp"
#include "common/buffer_pool.hpp"
#include "common/log.hpp"
#include "common/rng.hpp"
#include "apps/app_registry.hpp"
#include "apps/attributor.hpp"
#include "apps/cgroup.hpp"
#include "flow/flow_table.hpp"
#include "metrics/histogram.hpp"
#include "config/config.hpp"
#include "control/protocol.hpp"
#include "core/core.hpp"
#include "datapath/pipeline.hpp"
#include "netcfg/client_host.hpp"
#include "netcfg/route_override.hpp"
#include "netstack/netstack.hpp"
#include "proxy/proxy.hpp"
#include "proto/client_session.hpp"
#include "proto/stream_frame.hpp"
#include "proto/transport_choice.hpp"
#include "tun/tun_device.hpp"

namespace ptun::control { class ControlServer; }
namespace ptun::metrics { class Exporter; class Exposition; }
namespace ptun::tls { class DtlsConfig; class Credentials; class TlsStream; class TlsStreamConfig; }

namespace ptun::client {

// The client's own drops; the pipeline counts the rest (datapath::Counters).
struct ClientCounters {
  uint64_t drop_not_connected = 0, drop_foreign_source = 0;
};

// The client's CA, certificate and key, each from its file or from the config's inline PEM
// (a one-file profile); errors name the file, or the config file and key.
Result<std::shared_ptr<tls::Credentials>> load_credentials(const config::ClientConfig& cfg);

class Client final : public proto::ClientSession::Callbacks, public datapath::Policy, private ControlSource {
 public:
  static Result<std::unique_ptr<Client>> create(core::Loop& loop, config::ClientConfig cfg);
  ~Client() override;
  // Runs until a stop signal (core::kDaemonSignals; SIGHUP reloads), `ptun stop`, or a fatal error (certificate refused): exit code.
  core::Task<int> run();
  void stop();

  // proto::ClientSession::Callbacks
  void send_datagram(std::span<const uint8_t> dgram) override;
  void send_datagram_sealing(std::span<uint8_t> dgram, tls::PendingSeal&& seal) override;
  void deliver_packet(std::span<const uint8_t> ip) override;
  void on_established(const proto::NetworkSettings& settings) override;
  void on_closed(proto::CloseReason reason, const std::string& detail) override;
  void on_rekeyed() override;

  // datapath::Policy (client_datapath.cpp)
  void on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t now) override;
  void on_datagram(size_t index, const Endpoint& peer, std::span<uint8_t> payload, uint64_t now) override;
  void after_batch(uint64_t now) override;
  void on_device_gone(const Error& e) override;

  // ---- embedding (client_embed.cpp; used by src/embed, loop thread only) ----
  // A mode = "userspace" client inside a program that links ptun: [proxy]/[[forward]] listeners
  // are optional and run() leaves the process's signals to the program (stop() ends it).
  static Result<std::unique_ptr<Client>> create_embedded(core::Loop& loop, config::ClientConfig cfg);
  State state() const { return life_.state(); }
  // The latest transition's reason with its detail, e.g. "auth_refused: certificate expired".
  std::string state_reason() const;
  // The proxy's resolve / route check / connect machinery (userspace mode; null otherwise).
  proxy::Proxy* proxy() { return proxy_.get(); }
  netstack::Netstack* netstack() { return stack_.get(); }

 private:
  Client(core::Loop& loop, config::ClientConfig cfg);
  Result<void> setup();
  void teardown();

  // ---- servers: failover and name resolution (client_servers.cpp) ----
  // A new attempt on the current server of the failover list: the old session goes; a name is
  // resolved first (run_resolver, off the loop), a literal goes straight to start_handshake.
  void start_session();
  void start_handshake();
  core::Task<void> run_resolver(core::CancelToken stop);
  void on_resolved(uint64_t gen, const Result<std::vector<Endpoint>>& r);
  // The attempt on the current server failed (`why`: shown in status and logged): the next
  // server now, or after the reconnect backoff once the whole list failed.
  void attempt_failed(const std::string& why, bool refused = false);
  // Points the socket, the kill switch and the path at `ep`; false (attempt failed) if the
  // socket or the kill switch cannot follow.
  bool set_server_endpoint(const Endpoint& ep);
  // Connects the UDP socket to server_ep_ (core::UdpSocket::connect: the kernel's cached route
  // and early demux, as openconnect and ocserv's workers have); left unconnected, and working,
  // when the kernel has no route to it yet.
  void connect_socket();
  void cancel_resolve();
  // client_netcfg.cpp: the host side of the tunnel's settings
  Result<void> apply_settings(const proto::NetworkSettings& s);
  void remove_settings();
  uint32_t effective_mtu(const proto::NetworkSettings& s);
  // TunnelVision: host routes that now take traffic from the tunnel's routes (logged on change).
  void check_overrides();
  nlohmann::json overrides_json() const;
  bool protect_routes() const;
  void handle_session_end();

  // ---- lifecycle verbs (client_lifecycle.cpp) ----
  Result<void> setup_lifecycle();   // path lookups, path monitor, metrics exporter
  // The one place state changes: Lifecycle::go plus a log line.
  void transition(State to, Reason why, const std::string& detail = {});
  // `ptun up` / an on-demand connect rule: start a session unless one is up or coming up.
  void connect(Reason why);
  // `ptun down` / an on-demand disconnect rule: close the session (CLOSE to the server), remove the
  // host settings, stay running in `disconnected` until connect().
  void disconnect(Reason why);
  // systemd (sd_notify.hpp): STATUS= with the state; READY=1 the first time `ready` is true.
  void notify_state(bool ready);
  bool ready_sent_ = false;
  // ---- reload (client_reload.cpp) ----
  // Re-reads cfg_.path; a broken file or a change that needs a restart is refused (nothing changes).
  // Told to systemd around it (RELOADING=1 ... READY=1); apply_reload does the work.
  Result<nlohmann::json> reload();
  Result<nlohmann::json> apply_reload();
  // ---- what the client tells the outside: ControlFacade, fed by ControlSource (client_control.cpp) ----
  std::string metrics_text();
  Result<nlohmann::json> handle_control(const control::Request& req);
  std::optional<SessionFacts> session_facts() const override;
  const proto::NetworkSettings* applied_settings() const override { return applied_ ? &*applied_ : nullptr; }
  std::string server_endpoint() const override { return server_ep_.addr.empty() ? std::string() : server_ep_.str(); }
  std::string socket_endpoint() const override { return sock_ ? sock_->local_endpoint().str() : std::string(); }
  uint64_t rekeys() const override { return rekeys_; }
  uint64_t rekey_failures() const override;
  size_t route_overrides() const override { return overrides_.size(); }
  uint64_t route_overrides_seen() const override { return overrides_seen_; }
  bool has_on_demand_rules() const override { return !cfg_.on_demand.empty(); }
  bool on_demand_paused() const override { return on_demand_paused_; }
  std::vector<CertificateExpiry> certificates() const override;
  const metrics::Histogram& handshake_seconds() const override { return handshake_seconds_; }
  nlohmann::json mode_section() const override;
  nlohmann::json transport_section() const override;
  nlohmann::json host_section() const override;
  nlohmann::json counters_section() const override;
  std::optional<nlohmann::json> udp_section() const override;
  std::optional<nlohmann::json> apps_section() override;
  nlohmann::json flows_section() override { return flows_json(); }
  void more_metrics(metrics::Exposition& m) override;
  void up() override;
  void down() override;
  void stop_client() override { stop(); }
  Result<nlohmann::json> reload_config() override { return reload(); }

  // ---- path monitoring, roaming, on-demand (client_path.cpp; decisions: path_watcher.hpp) ----
  Path current_path();
  ondemand::Network current_network(const Path& p);
  void on_path(const Path& p);
  void roam();
  void roam_timer();               // called from run_timers when the watcher's roam deadline is due
  bool roam_confirmed() const;
  SessionPhase session_phase() const;
  core::Task<void> run_path(core::CancelToken stop);
  core::Task<void> evaluate_on_demand(core::CancelToken stop);

  core::Task<void> run_timers(core::CancelToken stop);
  core::Task<void> run_signals(core::CancelToken stop);

  // ---- the TCP fallback transport (client_transport.cpp) ----
  proto::TransportChoice::View transport_view() const;
  uint64_t transport_deadline() const;
  void transport_tick();                 // from run_timers: TransportChoice's actions, TCP deadlines
  void on_tcp_connected();               // the session's datagrams go over TCP from now on
  void on_tcp_lost(const std::string& why);
  void on_tcp_datagram(std::span<uint8_t> d);
  void on_udp_while_tcp(std::span<uint8_t> payload, uint64_t now);   // a UDP probe's answer?
  void close_tcp();
  void send_tcp(std::span<const uint8_t> dgram);
  core::Task<void> run_tcp(core::CancelToken stop);
  nlohmann::json transport_json() const;
  proto::TransportChoice choice_;
  proto::Transport transport_ = proto::Transport::udp;   // where the session's datagrams go
  core::TcpStream* tcp_ = nullptr;       // owned by run_tcp while connected (and TLS established)
  tls::TlsStream* tcp_tls_ = nullptr;    // its TLS layer
  std::shared_ptr<tls::TlsStreamConfig> tls_stream_;   // the server's certificate, as for DTLS
  void push_tls();                       // tcp_tls_'s outbox onto tcp_
  core::CancelSource* tcp_cancel_ = nullptr;   // run_tcp's connect or connection
  std::unique_ptr<core::Timer> tcp_wake_;
  bool tcp_wanted_ = false;              // run_tcp: connect (or stay connected)
  bool force_udp_ = false;               // this call's datagrams go over UDP whatever transport_ is
  uint64_t tcp_connect_deadline_ = UINT64_MAX, tcp_close_at_ = UINT64_MAX;
  std::vector<uint8_t> tcp_tx_;          // one frame being built
  uint64_t tcp_drops_ = 0, tcp_connect_failures_ = 0;
  // client_userspace.cpp
  Result<void> setup_userspace();
  Result<void> apply_settings_userspace(const proto::NetworkSettings& s);
  core::Task<void> run_userspace(core::CancelToken stop);
  // How the process hosts the client: a daemon of its own (`ptun client`), or a library inside
  // another program (create_embedded), which owns the signals and the service manager.
  struct Hosting {
    bool notify_systemd = true;      // READY, STATUS, RELOADING, STOPPING through sd_notify
    bool handle_signals = true;      // SIGTERM/SIGINT stop, SIGHUP reloads
    bool require_listeners = true;   // userspace mode: [proxy] listeners or [[forward]] rules
  };
  Hosting hosting_;
  core::Task<void> wait_stopped(core::CancelToken stop);   // run_signals without signals

  // ---- flows and apps (client_flows.cpp) ----
  Result<void> setup_flows();
  // Classifies one parsed packet (flow table, app attribution of new flows); false: drop it (its
  // app must not use the tunnel). Only called when flows_ exists (classification on).
  bool classify(const packet::Parsed& p, flow::Dir d, uint32_t len);
  Result<void> apply_app_rules();   // nftables marks for per-app routing (after the routes)
  void remove_app_rules();
  nlohmann::json flows_json();
  nlohmann::json apps_json();
  void app_metrics(metrics::Exposition& m);   // flow table and per-app totals

  void flush();
  void poke_timer();
  uint64_t next_deadline() const;

  core::Loop& loop_;
  config::ClientConfig cfg_;
  SystemRng rng_;
  datapath::Pipeline dp_;   // buffers, receive loops, transmit queues (src/datapath)
  std::shared_ptr<tls::DtlsConfig> dtls_;
  std::unique_ptr<proto::ClientSession> session_;
  std::unique_ptr<proto::ClientSession> retired_;   // a closed session, freed outside its callbacks
  Endpoint server_ep_;                               // the current server's address (empty: not resolved yet)
  SessionDriver driver_;                             // failover, resolving, backoff (session_driver.hpp)
  std::unique_ptr<core::Timer> resolve_wake_;        // poked to start a lookup
  core::CancelSource* resolve_cancel_ = nullptr;     // the lookup in flight
  std::unique_ptr<core::UdpSocket> sock_;
  std::unique_ptr<tun::TunDevice> tun_;
  // Userspace mode (client_userspace.cpp): lwIP instead of the TUN, the proxy in front of it.
  // The pipeline reads and writes dev_, which is tun_ or stack_.
  std::unique_ptr<netstack::Netstack> stack_;
  std::unique_ptr<proxy::Proxy> proxy_;
  tun::PacketDevice* dev_ = nullptr;
  std::unique_ptr<core::Timer> timer_;
  std::unique_ptr<netlink::Rtnl> rtnl_;
  std::unique_ptr<control::ControlServer> control_;
  std::string apps_table() const;   // this instance's per-app nftables table
  std::unique_ptr<netcfg::ClientHost> host_;   // routes, DNS, kill switch (client_netcfg.cpp)
  std::string settings_error_;                  // why the last pushed settings were refused
  bool user_down_ = false;                      // `ptun down`: always_on lets go of the kill switch
  std::optional<proto::NetworkSettings> applied_;
  bool host_values_changed_ = false;   // a reload's new [routes]/[dns]: the next apply redoes all
  std::vector<Cidr> applied_addrs_;
  uint32_t tun_mtu_ = 0;
  std::vector<netcfg::RouteOverride> overrides_;   // as of the last path change
  uint64_t overrides_seen_ = 0;                    // distinct overrides that appeared
  Lifecycle life_;
  bool session_ended_ = false;
  proto::CloseReason end_reason_ = proto::CloseReason::none;
  std::string end_detail_;
  uint64_t established_ms_ = 0;
  uint64_t attempt_started_ms_ = 0;   // start_handshake(): the handshake latency counts from here
  metrics::Histogram handshake_seconds_{metrics::handshake_buckets()};
  int exit_code_ = 0;
  uint64_t scheduled_deadline_ = UINT64_MAX;
  uint64_t now_ = 0;
  ClientCounters counters_;
  core::CancelSource* stop_source_ = nullptr;

  // Lifecycle, path monitoring, on-demand (client_lifecycle.cpp, client_path.cpp).
  bool want_up_ = true;                          // false after `ptun down` or an on-demand disconnect
  bool on_demand_paused_ = false;                // `ptun down` pauses the rules until `ptun up`
  std::unique_ptr<netlink::Rtnl> path_rtnl_;     // route lookups for the path (any mode)
  std::unique_ptr<PathMonitor> monitor_;
  PathWatcher paths_;                            // the path, roaming, the on-demand network
  core::CancelSource* path_wake_ = nullptr;      // cancelled to make run_path re-evaluate now
  uint64_t rekeys_ = 0, rekey_failures_prior_ = 0;   // over the client's life (sessions come and go)
  std::unique_ptr<metrics::Exporter> metrics_;

  // Flows and apps (client_flows.cpp).
  std::unique_ptr<flow::FlowTable> flows_;       // null: classification off ([flows] classify)
  std::unique_ptr<apps::Attributor> attributor_;
  apps::AppRegistry app_registry_;
  apps::RuleSet app_rules_;
  std::vector<IpAddr> local_addrs_;              // the tunnel's own addresses (attribution)
  uint64_t flows_expire_at_ = 0;
  uint64_t drop_app_rule_ = 0;                   // packets dropped: their app must not use the tunnel
  bool app_fw_installed_ = false;
  std::optional<std::string> saved_src_valid_mark_;
  std::optional<apps::CgroupMount> app_cgroups_;   // where the exec groups were made

  // Status, stats, messages, metrics (control_facade.hpp): reads the parts above, and this Client
  // through ControlSource. Last: constructed after what it refers to.
  ControlFacade facade_{life_, driver_, paths_, *this};
};

}  // namespace ptun::client
