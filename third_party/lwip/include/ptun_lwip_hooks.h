// Hooks lwIP calls into ptun (see LWIP_HOOK_FILENAME in lwipopts.h).
#pragma once
#include "lwip/ip_addr.h"
#ifdef __cplusplus
extern "C" {
#endif
// Random initial sequence number (implemented in third_party/lwip/port/sys_arch.c).
u32_t ptun_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                        u16_t remote_port);
#ifdef __cplusplus
}
#endif
