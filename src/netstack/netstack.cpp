// lwIP glue: netif (input after validation, output into a bounded queue), timers, counters.
#include "netstack/netstack.hpp"

#include <cstring>

#include "common/log.hpp"
#include "netstack/tcp_conn.hpp"
#include "packet/ipv6_options.hpp"
#include "packet/parse.hpp"

extern "C" {
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "ptun_lwip_hooks.h"
}

namespace ptun::netstack {

Netstack* Netstack::instance_ = nullptr;

struct NetifGlue {
  static err_t init(struct netif* nif) {
    nif->name[0] = 'p';
    nif->name[1] = 't';
    nif->output = output4;
    nif->output_ip6 = output6;
    return ERR_OK;
  }
  static err_t output4(struct netif* nif, struct pbuf* p, const ip4_addr_t*) {
    static_cast<Netstack*>(nif->state)->queue_output(p);
    return ERR_OK;
  }
  static err_t output6(struct netif* nif, struct pbuf* p, const ip6_addr_t*) {
    static_cast<Netstack*>(nif->state)->queue_output(p);
    return ERR_OK;
  }
};

void to_lwip(const IpAddr& a, void* out) {
  auto* ip = static_cast<ip_addr_t*>(out);
  std::memset(ip, 0, sizeof *ip);
  if (a.is_v4()) {
    IP_SET_TYPE(ip, IPADDR_TYPE_V4);
    std::memcpy(&ip_2_ip4(ip)->addr, a.bytes.data(), 4);
  } else {
    IP_SET_TYPE(ip, IPADDR_TYPE_V6);
    std::memcpy(ip_2_ip6(ip)->addr, a.bytes.data(), 16);
  }
}

IpAddr from_lwip(const void* in) {
  const auto* ip = static_cast<const ip_addr_t*>(in);
  if (IP_IS_V4(ip)) return IpAddr::v4(reinterpret_cast<const uint8_t*>(&ip_2_ip4(ip)->addr));
  return IpAddr::v6(reinterpret_cast<const uint8_t*>(ip_2_ip6(ip)->addr));
}

Result<std::unique_ptr<Netstack>> Netstack::create(core::Loop& loop, NetstackOptions opts) {
  if (instance_) return Error(Errc::exists, "an lwIP stack already runs in this process");
  static bool initialised = false;   // lwIP cannot be de-initialised: once per process
  if (!initialised) {
    lwip_init();
    initialised = true;
  }
  std::unique_ptr<Netstack> s(new Netstack(loop, opts));
  netif* nif = s->netif_.get();
  if (!netif_add_noaddr(nif, s.get(), NetifGlue::init, ip_input))
    return Error(Errc::io, "lwIP refused the netif");
  netif_set_default(nif);
  nif->mtu = uint16_t(opts.mtu);
  nif->mtu6 = uint16_t(opts.mtu);
  netif_set_link_up(nif);
  netif_set_up(nif);
  ptun_lwip_ooseq_pbufs = TcpConn::ooseq_pbufs;
  instance_ = s.get();
  return s;
}

Netstack::Netstack(core::Loop& loop, NetstackOptions opts)
    : loop_(loop), opts_(opts), netif_(std::make_unique<struct netif>()), pool_(opts.outbound_packets),
      timer_(std::make_unique<core::Timer>(loop)) {
  std::memset(netif_.get(), 0, sizeof(struct netif));
}

struct AcceptGlue {
  // A handshake completed on a listener: count it against the cap or refuse it with a reset.
  // (The listener's arg stays null: new pcbs inherit it, and every pcb's arg must be a TcpConn
  // or null for TcpConn::ooseq_pbufs.)
  static err_t on_accept(void*, struct tcp_pcb* pcb, err_t err) {
    Netstack* s = Netstack::instance();
    if (err != ERR_OK || !pcb || !s) return ERR_VAL;
    if (!s->on_accept_ || !s->acquire_tcp()) {
      tcp_abort(pcb);
      return ERR_ABRT;
    }
    auto conn = TcpConn::accepted(*s, pcb);
    if (s->on_accept_(conn)) return ERR_OK;
    conn->release();   // nobody wants it: lwIP resets it (returning ERR_ABRT after tcp_abort)
    conn.reset();
    tcp_abort(pcb);
    return ERR_ABRT;
  }
};

void Netstack::enable_accept_any(std::function<bool(std::unique_ptr<TcpConn>&)> on_accept) {
  accept_any_ = true;
  on_accept_ = std::move(on_accept);
  // Any address of each family enables that family's input path (lwIP drops packets for a netif
  // without one); input() then sets the field to each packet's destination.
  netif* nif = netif_.get();
  ip4_addr_t a, m, g;
  IP4_ADDR(&a, 0, 0, 0, 1);
  IP4_ADDR(&m, 255, 255, 255, 255);
  ip4_addr_set_zero(&g);
  netif_set_addr(nif, &a, &m, &g);
  ip6_addr_t a6;
  IP6_ADDR(&a6, 0, 0, 0, PP_HTONL(1));
  netif_ip6_addr_set(nif, 0, &a6);
  netif_ip6_addr_set_state(nif, 0, IP6_ADDR_PREFERRED);
}

Result<void> Netstack::listen_port(uint16_t port) {
  if (listeners_.count(port)) return {};
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (!pcb) return Error(Errc::io, "lwIP: no memory for a listener");
  if (err_t e = tcp_bind(pcb, IP_ANY_TYPE, port); e != ERR_OK) {
    tcp_close(pcb);
    return Error(Errc::io, std::string("lwIP tcp_bind: ") + lwip_strerr(e));
  }
  struct tcp_pcb* l = tcp_listen_with_backlog(pcb, 255);
  if (!l) {
    tcp_close(pcb);
    return Error(Errc::io, "lwIP: no memory for a listener");
  }
  tcp_accept(l, AcceptGlue::on_accept);
  listeners_[port] = l;
  return {};
}

Netstack::~Netstack() {
  for (auto& [port, l] : listeners_) tcp_close(static_cast<struct tcp_pcb*>(l));
  netif_remove(netif_.get());
  for (auto* b : out_) pool_.put(b);
  if (instance_ == this) instance_ = nullptr;
}

void Netstack::configure(std::optional<Cidr> v4, std::optional<Cidr> v6, uint32_t mtu) {
  opts_.mtu = mtu;
  netif* nif = netif_.get();
  nif->mtu = uint16_t(mtu);
  nif->mtu6 = uint16_t(mtu);
  if (v4) {
    ip_addr_t a, m, g;
    to_lwip(v4->addr, &a);
    uint32_t mask = v4->prefix ? ~uint32_t(0) << (32 - v4->prefix) : 0;
    IP_ADDR4(&m, mask >> 24, (mask >> 16) & 0xff, (mask >> 8) & 0xff, mask & 0xff);
    ip_addr_set_zero_ip4(&g);
    netif_set_addr(nif, ip_2_ip4(&a), ip_2_ip4(&m), ip_2_ip4(&g));
  } else {
    netif_set_addr(nif, nullptr, nullptr, nullptr);
  }
  if (v6) {
    ip_addr_t a;
    to_lwip(v6->addr, &a);
    netif_ip6_addr_set(nif, 0, ip_2_ip6(&a));
    netif_ip6_addr_set_state(nif, 0, IP6_ADDR_PREFERRED);
  } else {
    netif_ip6_addr_set_state(nif, 0, IP6_ADDR_INVALID);
  }
}

std::optional<IpAddr> Netstack::address(Family f) const {
  const netif* nif = netif_.get();
  if (f == Family::v4) {
    if (ip4_addr_isany_val(*netif_ip4_addr(nif))) return std::nullopt;
    return from_lwip(&nif->ip_addr);
  }
  if (!ip6_addr_isvalid(netif_ip6_addr_state(nif, 0))) return std::nullopt;
  return from_lwip(&nif->ip6_addr[0]);
}

// Inside lwIP: copy the packet out (lwIP frees its pbuf after output returns) and wake the reader.
void Netstack::queue_output(struct pbuf* p) {
  PacketBuf* b = p->tot_len <= limits::kMaxDatagram ? pool_.get() : nullptr;
  if (!b) {
    ++stats_.out_dropped;   // TCP retransmits; a full queue is lwIP outrunning the tunnel
    return;
  }
  b->len = pbuf_copy_partial(p, b->data(), p->tot_len, 0);
  out_.push_back(b);
  ++stats_.out_packets;
  if (on_output_) on_output_();
}

Result<size_t> Netstack::read_batch(std::span<PacketBuf*> bufs) {
  size_t n = 0;
  while (n < bufs.size() && !out_.empty()) {
    PacketBuf* src = out_.front();
    out_.pop_front();
    PacketBuf* dst = bufs[n];
    dst->reset();
    if (src->len > dst->tailroom()) {
      ++dev_stats_.rx_dropped;
    } else {
      std::memcpy(dst->data(), src->data(), src->len);
      dst->len = src->len;
      ++n;
    }
    pool_.put(src);
  }
  dev_stats_.rx_packets += n;
  return n;
}

Result<void> Netstack::input(std::span<const uint8_t> pkt) {
  packet::Parsed p;
  if (packet::parse(pkt, &p) != packet::ParseStatus::ok) {
    ++stats_.in_rejected;
    ++dev_stats_.tx_rejected;
    return Error(Errc::invalid_argument, "malformed packet");
  }
  return input_parsed(pkt, p);
}

Result<void> Netstack::input_parsed(std::span<const uint8_t> pkt, const packet::Parsed& p) {
  if (p.total_len == 0 || !packet::ipv6_options_well_formed(pkt, p) || !packet::tcp_options_well_formed(pkt, p)) {
    ++stats_.in_rejected;
    ++dev_stats_.tx_rejected;
    return Error(Errc::invalid_argument, "malformed packet");
  }
  if (accept_any_) {
    // Make lwIP take the packet as addressed to itself (see enable_accept_any).
    netif* nif = netif_.get();
    ip_addr_t d;
    to_lwip(p.dst, &d);
    if (p.family == Family::v4) ip_addr_copy(nif->ip_addr, d);
    else ip_addr_copy(nif->ip6_addr[0], d);
  }
  struct pbuf* pb = pbuf_alloc(PBUF_RAW, p.total_len, PBUF_RAM);
  if (!pb) return Error(Errc::would_block, "lwIP out of memory");
  pbuf_take(pb, pkt.data(), p.total_len);
  if (netif_->input(pb, netif_.get()) != ERR_OK) pbuf_free(pb);
  ++stats_.in_packets;
  ++dev_stats_.tx_packets;
  return {};
}

Result<size_t> Netstack::write_batch(std::span<PacketBuf* const> pkts) {
  size_t n = 0;
  for (auto* b : pkts) {
    auto r = input(b->span());
    if (!r && r.error().code == Errc::would_block) break;
    ++n;
  }
  poke_timers();
  return n;
}

Result<void> Netstack::write(std::span<const uint8_t> pkt) {
  auto r = input(pkt);
  poke_timers();
  return r;
}

Result<void> Netstack::write_parsed(std::span<const uint8_t> pkt, const packet::Parsed& p) {
  return input_parsed(pkt, p);   // the forwarder pokes the timers once per batch
}

bool Netstack::acquire_tcp() {
  if (tcp_count_ >= opts_.max_tcp) {
    ++stats_.tcp_refused_limit;
    return false;
  }
  ++tcp_count_;
  poke_timers();
  return true;
}

bool Netstack::acquire_udp() {
  if (udp_count_ >= opts_.max_udp) {
    ++stats_.udp_refused_limit;
    return false;
  }
  ++udp_count_;
  return true;
}

void Netstack::poke_timers() {
  if (timer_idle_) timer_->poke();
}

core::Task<void> Netstack::run_timers(core::CancelToken stop) {
  while (!stop.cancelled()) {
    sys_check_timeouts();
    uint32_t sleep = sys_timeouts_sleeptime();
    // Nothing pending (lwIP stops its TCP timer when no pcb is active): sleep until poked.
    timer_idle_ = sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE || sleep > 1000;
    uint64_t wait = timer_idle_ ? 60000 : sleep;
    auto r = co_await timer_->wait_until(loop_.now_ms() + wait, stop);
    if (!r && r.error().code == Errc::cancelled) break;
  }
}

}  // namespace ptun::netstack
