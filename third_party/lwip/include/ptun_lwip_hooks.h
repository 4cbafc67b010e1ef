// Hooks lwIP calls into ptun (see LWIP_HOOK_FILENAME in lwipopts.h).
#pragma once
#include "lwip/ip_addr.h"
#ifdef __cplusplus
extern "C" {
#endif
// Random initial sequence number (implemented in third_party/lwip/port/sys_arch.c).
u32_t ptun_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                        u16_t remote_port);
// Out-of-order pbufs one pcb may queue (TCP_OOSEQ_PBUFS_LIMIT): set by ptun's netstack so a
// connection whose client has spent its byte budget queues none; NULL = TCP_OOSEQ_MAX_PBUFS.
// (Defined in sys_arch.c.)
struct tcp_pcb;
extern u16_t (*ptun_lwip_ooseq_pbufs)(const struct tcp_pcb *pcb);
#define PTUN_LWIP_OOSEQ_PBUFS(pcb) \
  (ptun_lwip_ooseq_pbufs ? ptun_lwip_ooseq_pbufs(pcb) : (u16_t)TCP_OOSEQ_MAX_PBUFS)
#ifdef __cplusplus
}
#endif
