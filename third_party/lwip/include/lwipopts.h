// ptun's lwIP configuration: an IP-only stack (no Ethernet, ARP, DHCP, DNS), driven from the
// single libuv loop thread (NO_SYS=1). lwIP is the tunnel's end in userspace mode and supplies
// the protocol header definitions (lwip/prot/*.h) used by ptun's packet parser.
#pragma once

#define NO_SYS 1
#define LWIP_TIMERS 1              // driven by a libuv timer from sys_timeouts_sleeptime()
#define SYS_LIGHTWEIGHT_PROT 0     // one thread only
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0

// Heap-backed memory: pools come from malloc, so ptun caps flows itself.
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8

#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_RAW 1
#define LWIP_ICMP 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0
#define LWIP_IGMP 0
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DHCP6 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ND6_QUEUEING 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG 1
#define LWIP_SINGLE_NETIF 1
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

// Large windows with scaling: a tunnel's bandwidth-delay product is far beyond lwIP's defaults.
#define TCP_MSS 1380
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN 2048
#define TCP_SNDLOWAT 32768   // must be explicit with a large TCP_SND_BUF (u16_t check in init.c)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define TCP_OOSEQ_MAX_PBUFS 64   // per pcb; fewer when its client is over budget (hook below)
#define TCP_OOSEQ_PBUFS_LIMIT(pcb) PTUN_LWIP_OOSEQ_PBUFS(pcb)
#define LWIP_TCP_KEEPALIVE 1
#define PBUF_POOL_SIZE 256
#define MEMP_NUM_TCP_PCB 1024
#define MEMP_NUM_UDP_PCB 512

#define LWIP_CHECKSUM_ON_COPY 1
#define LWIP_STATS 0
#define LWIP_NOASSERT_ON_ERROR 1

// Hooks (random ISN: lwIP's default ISN is predictable).
#define LWIP_HOOK_FILENAME "ptun_lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
  ptun_lwip_tcp_isn(local_ip, local_port, remote_ip, remote_port)
