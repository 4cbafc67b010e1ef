// The server role: terminates DTLS sessions, authenticates clients by certificate, assigns
// tunnel addresses, pushes network settings and forwards packets between sessions and its TUN.
//
// Data path (one loop thread; per-packet work in server_datapath.cpp):
//
//   UDP sockets --recvmmsg--> ServerEndpoint (DTLS decrypt) --deliver_packet--> anti-spoofing
//        ^                                                        |--> other session (client-to-client)
//        |                                                        '--> TUN write batch
//   sendmmsg <-- tx batch <-- ServerEndpoint (DTLS encrypt) <-- session lookup <-- TUN read batch
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/buffer_pool.hpp"
#include "common/log.hpp"
#include "common/rng.hpp"
#include "config/config.hpp"
#include "forward/forwarder.hpp"
#include "metrics/histogram.hpp"
#include "control/protocol.hpp"
#include "core/core.hpp"
#include "datapath/pipeline.hpp"
#include "packet/parse.hpp"
#include "proto/rekey.hpp"
#include "proto/server_endpoint.hpp"
#include "server/address_pool.hpp"
#include "server/dns_proxy.hpp"
#include "server/host_addresses.hpp"
#include "server/host_setup.hpp"
#include "server/lease_writer.hpp"
#include "server/peer_ledger.hpp"
#include "server/peer_table.hpp"
#include "server/stream_transport.hpp"
#include "tls/crl.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tun/tun_device.hpp"
#ifdef PTUN_CLUSTER
#include "cluster/backbone_sync.hpp"
#include "cluster/cluster_leases.hpp"
#include "cluster/cluster_node.hpp"
#endif

namespace ptun::control { class ControlServer; }
namespace ptun::metrics { class Exporter; class Exposition; }

namespace ptun::server {

// The server's own drops; the pipeline counts the rest (datapath::Counters).
struct ServerCounters {
  uint64_t drop_spoofed = 0, drop_link_local = 0, drop_no_session = 0, drop_client_to_client = 0;
  // Handshakes of a pinned [[peer]] presenting another certificate (also in ingress.refused),
  // and sessions a reload closed because their certificate no longer matches the pin.
  uint64_t fingerprint_refused = 0, fingerprint_closed = 0;
  // Rekeys (CLIENT_HELLO rekey_of = the peer's live session: adopted without a break), and rekey
  // requests naming a session that is not the peer's live one (served as new sessions).
  uint64_t rekeys = 0, rekey_stale = 0;
};

class Server final : public proto::ServerEndpoint::Callbacks, public datapath::Policy, public StreamTransport::Sink {
 public:
  static Result<std::unique_ptr<Server>> create(core::Loop& loop, config::ServerConfig cfg);
  ~Server() override;

  // Runs until a stop signal (core::kDaemonSignals; SIGHUP reloads) or stop(); the exit code.
  core::Task<int> run();
  void stop();

  // proto::ServerEndpoint::Callbacks
  void send_datagram(const Endpoint& to, std::span<const uint8_t> dgram) override;
  void send_datagram_sealing(const Endpoint& to, std::span<uint8_t> dgram, tls::PendingSeal&& seal) override;
  void deliver_packet(uint64_t session_id, std::span<const uint8_t> ip) override;
  Result<proto::NetworkSettings> authorize(uint64_t session_id, const std::string& peer_cn,
                                           const proto::ClientHello& hello,
                                           proto::CloseReason* refuse_reason) override;
  void on_established(uint64_t session_id, const std::string& peer_cn, const Endpoint& from) override;
  void on_roamed(uint64_t session_id, const Endpoint& from) override;
  void on_closed(uint64_t session_id, proto::CloseReason reason, const proto::SessionStats& final_stats) override;
  int64_t wall_time() override { return int64_t(::time(nullptr)); }

  // datapath::Policy (server_datapath.cpp)
  void on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t now) override;
  void on_datagram(size_t index, const Endpoint& peer, std::span<uint8_t> payload, uint64_t now) override;
  void after_batch(uint64_t now) override;
  void on_device_gone(const Error& e) override;
  // StreamTransport::Sink: a datagram of the TCP transport (server_datapath.cpp)
  void on_stream_datagram(const Endpoint& from, std::span<uint8_t> dgram, uint64_t now) override;
  void after_stream_batch() override;

 private:
  Server(core::Loop& loop, config::ServerConfig cfg);
  Result<void> setup();
  void teardown();
  Result<nlohmann::json> handle_control(const control::Request& req);
  nlohmann::json status_json();
  nlohmann::json sessions_json();
  // server_control.cpp: reload of [[peer]]/[push]/log_level (told to systemd around it), the
  // Prometheus text
  Result<nlohmann::json> reload();
  Result<nlohmann::json> apply_reload();
  // STATUS= for systemd (sd_notify.hpp): listening addresses and the session count.
  void notify_status(const char* extra = "");
  // After the checks of authorize(): the peer's session with these addresses (rekey, replacing
  // its old session) and the settings it is sent.
  proto::NetworkSettings admit(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                               const config::PeerConfig* pc, const Lease& lease);
  // server_cluster.cpp ([cluster], issue 18): addresses from etcd's shared leases. A no-op /
  // false without [cluster] or in builds without PTUN_CLUSTER.
  Result<void> setup_cluster();
  bool cluster_leases_for(const config::PeerConfig* pc) const;   // this peer's addresses come from etcd
  void cluster_acquire(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                       const config::PeerConfig* pc);
  void cluster_release(const std::string& peer_cn);
  core::Task<void> cluster_join();   // shutdown: pending acquires and releases finish (bounded)
  // One session per peer across servers, shared revocation, etcd's health (cluster::ClusterNode):
  // new sessions refused while etcd is unreachable (rekeys of live ones go on) or for a serial
  // revoked in etcd; session records written at established/closed.
  Result<void> cluster_admits(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                              proto::CloseReason* refuse_reason);
  void cluster_session_up(uint64_t session_id, const std::string& peer_cn);
  void cluster_session_down(uint64_t session_id, const std::string& peer_cn);
  core::Task<void> cluster_run(core::CancelToken stop);
  core::Task<void> cluster_leave();   // shutdown, after the sessions closed: this server's records go
  nlohmann::json cluster_json() const;   // null without [cluster]
  // server_backbone.cpp: routes toward the other servers' clients over the backbone.
  Result<void> setup_backbone();
  core::Task<void> run_backbone(core::CancelToken stop);
  core::Task<void> leave_backbone();   // shutdown: the record's lease revoked, our routes removed
  nlohmann::json backbone_json() const;   // null without a backbone
#ifdef PTUN_CLUSTER
  void cluster_kick(const cluster::Kick& k);
  void cluster_revoked(const std::string& serial);
  std::unique_ptr<cluster::ClusterNode> node_;
  log::RateLimit cluster_refusal_log_{10000, 3};
  core::Task<void> run_cluster_acquire(uint64_t session_id, std::string peer_cn, proto::ClientHello hello,
                                       const config::PeerConfig* pc);
  core::Task<void> run_cluster_release(std::string peer_cn);
  std::unique_ptr<cluster::EtcdClient> etcd_;
  std::unique_ptr<cluster::ClusterLeases> cluster_;
  std::unique_ptr<core::TaskScope> cluster_tasks_;
  std::unique_ptr<cluster::RouteTable> backbone_routes_;   // netlink (server_backbone.cpp)
  std::unique_ptr<cluster::BackboneSync> backbone_;
#endif
  // server_metrics.cpp: the Prometheus text; the [[peer]] names given to the ledger.
  std::string metrics_text();
  void list_peers_for_metrics();

  // forwarding = "userspace": packets to clients come from the forwarder instead of a TUN.
  Result<void> setup_kernel_forwarding();
  Result<void> setup_userspace_forwarding();
  nlohmann::json forwarder_json() const;
  core::Task<void> run_host_addresses(core::CancelToken stop);  // keeps the forwarder's refusals current
  core::Task<void> run_timers(core::CancelToken stop);
  // The CRL at `path` ("" = none), checked against our CA (tls::Crl::load); null when none.
  Result<std::shared_ptr<tls::Crl>> read_crl(const std::string& path);
  // Established sessions whose peer certificate `crl` revokes, closed at once; returns how many.
  size_t close_revoked(const tls::Crl& crl);
  core::Task<void> run_signals(core::CancelSource& stop);
  // server_dns.cpp: the DNS proxy on the tunnel addresses (dns_proxy_active), its upstreams from
  // the config or resolv.conf (again on every reload), its counters.
  Result<void> setup_dns_proxy();
  std::vector<IpAddr> dns_upstreams(const config::ServerConfig& c) const;
  void reload_dns_proxy();
  nlohmann::json dns_proxy_json() const;
  void dns_proxy_metrics(metrics::Exposition& m) const;

  // Old sessions whose rekey grace ended are closed (CLOSE rekeyed) if the client did not.
  void rekey_timers(uint64_t now);
  uint64_t next_deadline() const;

  // server_datapath.cpp
  void flush();
  void poke_timer();

  core::Loop& loop_;
  config::ServerConfig cfg_;
  SystemRng rng_;
  datapath::Pipeline dp_;   // buffers, receive loops, transmit queues (src/datapath)
  std::shared_ptr<tls::Credentials> creds_;
  std::shared_ptr<tls::DtlsConfig> dtls_;   // shared with endpoint_; its CA chain carries the CRL
  std::shared_ptr<tls::Crl> crl_;           // null without `crl`
  std::unique_ptr<proto::ServerEndpoint> endpoint_;
  std::vector<std::unique_ptr<core::UdpSocket>> sockets_;
  std::unique_ptr<StreamTransport> streams_;   // the TCP transport (listen_tcp; null when off)
  std::unique_ptr<tun::TunDevice> tun_;
  std::unique_ptr<forward::Forwarder> forwarder_;
  std::unique_ptr<HostAddresses> host_addrs_;   // userspace forwarding: the host's addresses
  tun::PacketDevice* dev_ = nullptr;   // tun_ or forwarder_: where client packets go
  std::unique_ptr<core::Timer> timer_;
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<metrics::Exporter> metrics_;   // metrics_listen (server_control.cpp)
  std::unique_ptr<DnsProxy> dns_proxy_;          // null unless dns_proxy_active(cfg_)
  HostSetup host_;
  PeerTable peers_;   // configured peers, sessions, leases, routes (pure; unit-tested in tests/server)
  proto::RekeyGrace rekey_grace_;   // replaced sessions still accepted as their successor
  PeerLedger ledger_;  // lifetime numbers per peer name, for the metrics
  metrics::Histogram handshake_seconds_{metrics::handshake_buckets()};   // ClientHello to established
  LeaseStore leases_;          // read once at start
  LeaseWriter lease_writer_;   // writes off the loop thread, only on change
  int socket_for_family_[2] = {-1, -1};   // [0] IPv4, [1] IPv6: the pipeline socket replies leave from
  uint64_t scheduled_deadline_ = UINT64_MAX;
  uint64_t now_ = 0;
  uint64_t started_ms_ = 0;
  ServerCounters counters_;
  core::CancelSource* stop_source_ = nullptr;
  log::RateLimit spoof_log_{5000, 1};
};

}  // namespace ptun::server
