// ptun's configuration: the server's and the client's TOML files, parsed into typed structs and
// fully validated before anything else starts. Pure code: no sockets, no clock. The only I/O is
// reading the file itself (load_*) and, when asked, checking that certificate/key paths are
// readable files.
//
// Every error is one line naming the file, line, column and key:
//   server.toml:12:7: tunnel.mtu: 70000 is out of range 1280..1500
// Unknown keys at any level are errors (a typo must never silently fall back to a default).
// Relative paths in a file are resolved against that file's directory and stored resolved.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fingerprint.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "ondemand/rules.hpp"

namespace ptun::config {

// Upper bounds on list lengths (the file itself is capped at limits::kMaxConfigBytes).
namespace bounds {
inline constexpr size_t kMaxListen = 16;
inline constexpr size_t kMaxRoutes = 1024;        // per list (included, excluded, behind a peer...)
inline constexpr size_t kMaxDnsServers = 16;
inline constexpr size_t kMaxServers = 16;       // a client's failover list
inline constexpr size_t kMaxDomains = 64;         // per list (search, match)
inline constexpr size_t kMaxPeers = 65536;
inline constexpr size_t kMaxInterfaces = 64;      // masquerade_interfaces
inline constexpr size_t kMaxPeerName = 64;
inline constexpr size_t kMaxPath = 4095;          // PATH_MAX - 1
inline constexpr size_t kMaxOnDemandRules = 64;   // [[on_demand]] entries (client)
inline constexpr size_t kMaxAppRules = 256;       // [[app_rule]] entries (client)
}  // namespace bounds

// The server's network-settings push (Apple: NEPacketTunnelNetworkSettings).
struct PushSettings {
  std::vector<Cidr> included_routes, excluded_routes;       // v4 and v6 mixed
  std::vector<IpAddr> dns_servers;
  std::vector<std::string> search_domains, match_domains;  // match_domains [""] means all
  uint32_t keepalive_secs = 10;                             // 1..600
  uint32_t dead_peer_secs = 30;                             // keepalive_secs+1..3600
  bool protect_routes = false;   // TunnelVision defence (proto/settings.hpp), clients may override
  bool operator==(const PushSettings&) const = default;
};

// A [[peer]] entry: a client known by its certificate name, with an optional static address
// and networks that live behind it (a router's LAN).
struct PeerConfig {
  std::string name;  // 1..64 of [A-Za-z0-9._@-]; unique
  std::optional<IpAddr> ipv4, ipv6;
  std::vector<Cidr> routes_behind;
  // Optional pin: only the certificate whose DER has this SHA-256 is accepted for the peer (a
  // reissued certificate with the same CN is refused). common/fingerprint.hpp has the format.
  std::optional<Fingerprint> fingerprint;
  bool operator==(const PeerConfig&) const = default;
};

// The default of [tunnel] userspace_deny: metadata services reachable from cloud servers that
// 169.254.0.0/16 (refused anyway, link-local) does not cover.
std::vector<Cidr> default_userspace_deny();

struct ServerConfig {
  std::string path;                         // file it came from (as given)
  std::vector<Endpoint> listen;             // required, 1..16, port != 0
  // The TCP fallback transport (docs/protocol.md §7): 0..16 addresses; absent = each `listen`
  // address on port 443; [] = off. Connection caps: in all, and per source address (IPv6: /64).
  std::vector<Endpoint> listen_tcp;
  uint32_t tcp_max_connections = 1024;      // 1..100000
  uint32_t tcp_max_connections_per_source = 8;  // 0 (off)..100000
  std::string ca, cert, key;                // required file paths (resolved)
  // Optional certificate revocation list (PEM or DER, e.g. `ptun pki`'s crl.pem): revoked client
  // certificates are refused; re-read on every reload, which also closes their live sessions.
  std::string crl;
  std::string control_socket = "/run/ptun/server.sock";
  std::string control_group;                // optional: group allowed on the control socket
  std::string state_dir = "/var/lib/ptun/server";
  std::string log_level = "info";           // error|warn|info|debug
  // Least privilege: after setup, switch to this user (and group, default the user's primary
  // group) keeping only keep_capabilities. "" = stay as started (root).
  std::string user, group;
  std::vector<std::string> keep_capabilities = {"CAP_NET_ADMIN"};
  uint32_t max_sessions = 4096;             // 1..100000
  // Admission bounds (proto::ServerEndpoint::Limits): cookie-verified handshakes in progress,
  // how long one may take, and new sessions per second per source address (IPv6: per /64).
  uint32_t max_half_open = 256;             // 1..100000
  uint32_t max_half_open_per_source = 16;   // 0 (off)..100000
  uint32_t handshake_timeout_secs = 10;     // 1..120
  uint32_t handshake_rate_per_source = 20;  // 0 (off)..100000
  struct Tunnel {
    std::string interface = "ptun-s0";
    uint32_t mtu = 1420;                    // 1280..1500
    // At least one pool. Host bits zero; v4 prefix <= /30, v6 prefix <= /126. The server's own
    // tunnel address is the first host of each pool (server_address()).
    std::optional<Cidr> ipv4_pool, ipv6_pool;
    bool masquerade = false;
    bool client_to_client = true;           // clients reach each other's addresses (inside ptun)
    // A second thread writes full batches to the TUN and the sockets (datapath/tx_thread.hpp):
    // for machines with cores to spare; on a busy 2-core machine it costs (README, "Both cores").
    bool tx_thread = false;
    std::vector<std::string> masquerade_interfaces;  // empty = all but the tunnel
    // "kernel": a TUN, IP forwarding and (optionally) nft masquerade. "userspace": no TUN, no root,
    // no kernel NAT; the embedded lwIP stack terminates clients' flows and relays them through
    // ordinary sockets (src/forward). interface/masquerade do not apply then.
    std::string forwarding = "kernel";
    uint32_t userspace_max_flows_per_client = 512;  // TCP + UDP + ICMP flows, 1..65535
    uint32_t userspace_tcp_idle_secs = 1800;        // 10..604800
    uint32_t userspace_udp_idle_secs = 60;          // 5..3600
    // A TCP flow whose client keeps a zero receive window this long while data waits is reset.
    uint32_t userspace_tcp_zero_window_secs = 120;  // 5..604800
    // Memory one client's flows may pin in lwIP and relay buffers; data beyond it is refused
    // (the client retransmits) and counted (userspace.budget_refused).
    uint32_t userspace_client_buffer_kib = 16384;   // 256..4194304
    // Destinations userspace forwarding refuses besides the host's own addresses (always refused):
    // cloud metadata services by default. Setting the key replaces the list ([] = none).
    std::vector<Cidr> userspace_deny = default_userspace_deny();
    // A dynamic lease whose peer has not been connected for this long is released when a pool
    // runs out (0 = never).
    uint32_t lease_expiry_days = 30;                // 0..3650
    // The DNS proxy on the server's tunnel addresses (server/dns_proxy.hpp): "auto" (on when
    // [push] dns_servers names one of them, kernel forwarding), "on" or "off".
    std::string dns_proxy = "auto";
    // Where it forwards (at most 16, not the server's own tunnel addresses); empty: the
    // nameservers of dns_proxy_resolv_conf (absolute path), read at start and on every reload.
    std::vector<IpAddr> dns_proxy_upstreams;
    std::string dns_proxy_resolv_conf = "/etc/resolv.conf";
    bool operator==(const Tunnel&) const = default;
  } tunnel;
  PushSettings push;
  // Names unique; static addresses inside the pools, not the pool's network, broadcast (v4) or
  // server address, and not shared; routes_behind unique and not overlapping across peers or
  // the pools.
  std::vector<PeerConfig> peers;
  std::optional<Endpoint> metrics_listen;   // loopback only
  // [cluster]: several servers as one VPN, their shared state in etcd (docs/cluster.md). Only in
  // builds with PTUN_CLUSTER (a build without it refuses the section, naming the option).
  struct Cluster {
    std::vector<std::string> endpoints;   // required, 1..16 "http(s)://host:port", no path
    std::string name;                     // required: this server's name in the shared records
    std::string prefix = "/ptun";         // key prefix: "/" + [A-Za-z0-9._/-], no trailing "/"
    uint32_t grace_secs = 3600;           // addresses kept after a peer's last session, 10..2592000
    uint32_t timeout_ms = 2000;           // per etcd request and endpoint, 100..60000
    uint32_t session_ttl_secs = 10;       // lease of this server's session records, 3..300
    uint32_t poll_ms = 1000;              // look for moved peers, revocations, etcd's health, 100..60000
    std::string ca, cert, key;            // optional PEM paths (resolved); cert and key together
    // This server's addresses on the backbone (at most one per family): published in etcd, the
    // other servers route this server's clients to them. None: no backbone routes either way.
    std::optional<IpAddr> backbone_v4, backbone_v6;
    bool operator==(const Cluster&) const = default;
  };
  std::optional<Cluster> cluster;
  bool operator==(const ServerConfig&) const = default;
};

// An [[app_rule]] of the client (per-app VPN, Apple's source-application mode). A process
// matches when any given selector matches: its uid, its cgroup v2 path (the cgroup or one below
// it), or its executable's path; `ptun exec --app NAME` also puts a command in the rule's own
// cgroup /ptun/NAME. All rules share one mode: "only" (just the matched apps use the tunnel) or
// "except" (every app but the matched ones).
struct AppRule {
  std::string name;                 // 1..64 of [A-Za-z0-9._-], unique (also the cgroup's name)
  std::string mode;                 // "only" | "except", the same in every rule
  std::optional<uint32_t> uid;      // 0..4294967294
  std::string cgroup;               // absolute, normalised ("/user.slice/app.scope"), "" = none
  std::string path;                 // absolute executable path, "" = none
  bool operator==(const AppRule&) const = default;
};

// One server a client may connect to: `host` is a name (resolved on every attempt) or an
// address literal (without brackets).
struct ServerAddress {
  std::string host;
  uint16_t port = 4433;
  std::string str() const;   // "host:port", "[v6]:port": the form the config takes
  bool operator==(const ServerAddress&) const = default;
};

struct ClientConfig {
  std::string path;
  // Key `server`: "host:port" or a list of them, tried in order (failover, client/server_list.hpp);
  // IPv6 literals as [addr]:port, hostnames allowed, port defaults to 4433 when omitted.
  // 1..bounds::kMaxServers entries, no duplicates.
  std::vector<ServerAddress> servers;
  std::string server_name;                  // expected name in the server certificate; required
  // Each credential is a file (`ca`, `cert`, `key`: paths, resolved) or inline PEM text in the
  // file itself (`ca_pem`, `cert_pem`, `key_pem`: a one-file profile, `ptun pki issue --profile`);
  // exactly one of each pair is set. With key_pem the config file is held to the key-file rules
  // (not readable by group or others).
  std::string ca, cert, key;
  std::string ca_pem, cert_pem, key_pem;
  std::string control_socket = "/run/ptun/client.sock";
  std::string control_group;
  std::string state_dir = "/var/lib/ptun/client";
  std::string log_level = "info";
  // Least privilege: after setup, switch to this user (and group, default the user's primary
  // group) keeping only keep_capabilities. "" = stay as started (root).
  std::string user, group;
  std::vector<std::string> keep_capabilities = {"CAP_NET_ADMIN"};
  std::string mode = "tun";                 // "tun" | "userspace"
  struct Tunnel {
    std::string interface = "ptun0";
    uint32_t mtu = 0;                       // 0 = take the server's, else 1280..1500
    uint32_t fwmark = 0x7074;               // != 0
    uint32_t table = 7074;                  // 1..0xfffffffe, not 253/254/255
    bool tx_thread = false;                 // as the server's [tunnel] tx_thread (TUN mode)
    bool operator==(const Tunnel&) const = default;
  } tunnel;
  struct Routes {                           // local additions to the push
    std::vector<Cidr> include, exclude;
    bool operator==(const Routes&) const = default;
  } routes;
  struct Dns {                              // local additions to the push
    std::vector<IpAddr> servers;
    std::vector<std::string> search_domains, match_domains;
    // Where the settings go: "auto" (systemd-resolved if it runs, else /etc/resolv.conf) or
    // "dnsmasq" (a router: ptun-<interface>.conf in dnsmasq_conf_dir, then dnsmasq_restart runs;
    // dnsmasq rereads its conf-dir only on a restart, not on SIGHUP: netcfg/dnsmasq_conf.hpp).
    std::string backend = "auto";
    std::string dnsmasq_conf_dir = "/tmp/dnsmasq.d";   // absolute; OpenWrt's default conf-dir
    std::vector<std::string> dnsmasq_restart = {"/etc/init.d/dnsmasq", "restart"};   // argv
    bool operator==(const Dns&) const = default;
  } dns;
  struct Protocol {                         // flags (later features act on them)
    bool include_all_networks = false, exclude_local_networks = false, enforce_routes = false,
         always_on = false;
    // TunnelVision defence (netcfg/route_plan.hpp): unset follows the server's push.
    std::optional<bool> protect_routes;
    bool operator==(const Protocol&) const = default;
  } protocol;
  uint32_t reconnect_max_secs = 30;         // 1..3600
  // Rekeying (proto/rekey.hpp): fresh keys after this age (0: never by age, else 2..604800) or
  // this much inner traffic in MiB (0: no byte limit); a packet-count limit always applies.
  uint32_t rekey_after_secs = 3600, rekey_after_mib = 0;
  // The TCP fallback (docs/protocol.md §7): the server's TCP port (0 = never over TCP), the UDP
  // silence that moves the session to TCP, and how often UDP is tried again from TCP.
  uint16_t tcp_port = 443;
  uint32_t tcp_fallback_secs = 5;           // 1..300
  uint32_t udp_probe_secs = 30;             // 1..3600
  std::optional<Endpoint> metrics_listen;   // loopback only
  // [[on_demand]] rules in order (ondemand/rules.hpp). Non-empty: `ptun client` is a daemon that
  // brings the tunnel up and down by them. Keys: action (required), interface_type, interface_name
  // (globs), dns_search_domains, dns_servers, probe_url, required_url (evaluate only).
  std::vector<ondemand::Rule> on_demand;
  std::vector<AppRule> app_rules;           // [[app_rule]], at most bounds::kMaxAppRules
  struct Flows {                            // [flows]: the per-flow classifier (src/flow)
    bool classify = true;                   // off: no flow table, no per-app drops
    uint32_t max_flows = 8192;              // 16..4194304: memory bound (~150 bytes each + index)
    bool operator==(const Flows&) const = default;
  } flows;
  // Userspace mode (mode = "userspace"): [proxy] listeners on loopback and [[forward]] rules.
  struct Proxy {
    std::vector<Endpoint> socks5, http;     // loopback addr:port, at most 16 each
    std::string username, password;         // both or neither (1..255 bytes): SOCKS5 user/pass
    uint32_t max_connections = 1024;        // 1..65536 proxied connections at once
    uint32_t handshake_timeout_secs = 10;   // 1..300: a client must send its request by then
    bool operator==(const Proxy&) const = default;
  } proxy;
  struct Forward {                          // [[forward]]: listen (loopback) -> to (in the tunnel)
    Endpoint listen, to;
    std::string proto = "tcp";              // tcp | udp
    bool operator==(const Forward&) const = default;
  };
  std::vector<Forward> forwards;            // at most 256; (listen, proto) unique
  bool operator==(const ClientConfig&) const = default;
};

// The server's own tunnel address in a pool: its first host (10.99.0.0/24 -> 10.99.0.1).
IpAddr server_address(const Cidr& pool);
// The server's own tunnel addresses (one per configured pool, IPv4 first).
std::vector<IpAddr> server_addresses(const ServerConfig& c);
// Whether the DNS proxy runs: dns_proxy = "on", or "auto" with kernel forwarding and a pushed
// DNS server that is one of the server's own tunnel addresses.
bool dns_proxy_active(const ServerConfig& c);

// Load + validate a file. check_files = true also checks that ca/cert/key are readable regular
// files (check-config and startup); tests pass false. Errors: Errc::io if the file cannot be
// read, Errc::invalid_argument for anything wrong in it.
Result<ServerConfig> load_server(const std::string& path, bool check_files = true);
Result<ClientConfig> load_client(const std::string& path, bool check_files = true);

// Same from text (fuzzing, tests). `name` is used in error messages and its directory resolves
// relative paths. Text larger than limits::kMaxConfigBytes or not valid UTF-8 is rejected.
Result<ServerConfig> parse_server(std::string_view text, const std::string& name,
                                  bool check_files = false);
Result<ClientConfig> parse_client(std::string_view text, const std::string& name,
                                  bool check_files = false);

enum class Role { client, server };
// A top-level `listen` key means server, `server` means client; both or neither is an error.
Result<Role> detect_role(std::string_view text, const std::string& name);
// Reads the file and detects its role (for `ptun check-config FILE`).
Result<Role> detect_role_file(const std::string& path);

// The effective config (defaults filled in) as TOML text that parses back to the same struct.
// Never prints key material: only the key's path; an inline key_pem becomes a comment (so a
// profile's effective config does not parse back: it has no key).
std::string to_toml(const ServerConfig&);
std::string to_toml(const ClientConfig&);

// `ptun pki issue DIR NAME --profile SERVER`: a one-file client config (server, server_name, and
// the CA, certificate and key inline as ca_pem/cert_pem/key_pem; every other key at its default).
// The caller checks it with parse_client and writes it mode 0600.
struct Profile {
  std::string server;        // "host[:port]" as in the `server` key
  std::string server_name;
  std::string ca_pem, cert_pem, key_pem;
};
std::string profile_toml(const Profile& p, std::string_view comment);

}  // namespace ptun::config
