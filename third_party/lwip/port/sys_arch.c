// lwIP's platform functions for NO_SYS=1: a monotonic millisecond clock and random numbers
// from the kernel (getrandom), used for the TCP ISN and lwIP's own randomised choices.
#include <sys/random.h>
#include <time.h>
#include "lwip/sys.h"
#include "lwip/ip_addr.h"
#include "ptun_lwip_hooks.h"

u32_t sys_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (u32_t)(ts.tv_sec * 1000u + ts.tv_nsec / 1000000u);
}

uint32_t ptun_lwip_rand(void) {
  uint32_t v = 0;
  while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
  }
  return v;
}

u32_t ptun_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                        u16_t remote_port) {
  (void)local_ip; (void)local_port; (void)remote_ip; (void)remote_port;
#ifdef PTUN_LWIP_FIXED_ISN
  return 0x01020304;   /* fuzz builds only: inputs can then complete handshakes, reproducibly */
#else
  return ptun_lwip_rand();
#endif
}

u16_t (*ptun_lwip_ooseq_pbufs)(const struct tcp_pcb *pcb) = NULL;
