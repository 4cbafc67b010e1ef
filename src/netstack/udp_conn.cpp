#include "netstack/udp_conn.hpp"

#include "netstack/netstack.hpp"

extern "C" {
#include "lwip/pbuf.h"
#include "lwip/udp.h"
}

namespace ptun::netstack {

struct UdpConn::Glue {
  static void on_recv(void* arg, struct udp_pcb*, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
    auto* c = static_cast<UdpConn*>(arg);
    if (c->q_.size() >= c->cap_) {
      ++c->dropped_;
    } else {
      UdpDatagram d{Endpoint{from_lwip(addr), port}, std::vector<uint8_t>(p->tot_len)};
      pbuf_copy_partial(p, d.data.data(), p->tot_len, 0);
      c->q_.push_back(std::move(d));
      c->wake_.poke();
    }
    pbuf_free(p);
  }
};

UdpConn::UdpConn(Netstack& stack, struct udp_pcb* pcb, size_t queue)
    : stack_(stack), pcb_(pcb), cap_(queue), wake_(stack.loop()) {
  udp_recv(pcb, Glue::on_recv, this);
}

UdpConn::~UdpConn() {
  udp_remove(pcb_);
  stack_.release_udp();
}

Result<std::unique_ptr<UdpConn>> UdpConn::open(Netstack& stack, Family family, size_t queue) {
  if (!stack.acquire_udp()) return Error(Errc::limit, "too many UDP sockets in the tunnel");
  struct udp_pcb* pcb = udp_new_ip_type(family == Family::v4 ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
  if (!pcb) {
    stack.release_udp();
    return Error(Errc::io, "lwIP: no memory for a UDP pcb");
  }
  if (udp_bind(pcb, family == Family::v4 ? IP4_ADDR_ANY : IP6_ADDR_ANY, 0) != ERR_OK) {
    udp_remove(pcb);
    stack.release_udp();
    return Error(Errc::io, "lwIP: cannot bind a UDP pcb");
  }
  return std::unique_ptr<UdpConn>(new UdpConn(stack, pcb, queue));
}

Result<void> UdpConn::send_to(const Endpoint& dst, std::span<const uint8_t> data) {
  if (!stack_.address(dst.addr.family)) return Error(Errc::unsupported, "the tunnel has no address of that family");
  if (data.size() > 0xffff - 8) return Error(Errc::invalid_argument, "datagram too large");
  struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, uint16_t(data.size()), PBUF_RAM);
  if (!p) return Error(Errc::io, "lwIP: out of memory");
  pbuf_take(p, data.data(), uint16_t(data.size()));
  ip_addr_t ip;
  to_lwip(dst.addr, &ip);
  err_t e = udp_sendto(pcb_, p, &ip, dst.port);
  pbuf_free(p);
  if (e != ERR_OK) return Error(Errc::io, std::string("lwIP udp_sendto: ") + lwip_strerr(e));
  return {};
}

core::Task<Result<UdpDatagram>> UdpConn::recv(uint64_t deadline_ms, core::CancelToken token) {
  for (;;) {
    if (!q_.empty()) {
      UdpDatagram d = std::move(q_.front());
      q_.pop_front();
      co_return d;
    }
    if (stack_.loop().now_ms() >= deadline_ms) co_return Error(Errc::timeout, "no datagram");
    auto r = co_await wake_.wait_until(deadline_ms, token);
    if (!r) co_return r.error();
  }
}

}  // namespace ptun::netstack
