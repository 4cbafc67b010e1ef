// lwIP compiler/platform glue for Linux (glibc, gcc/clang).
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <endian.h>  // BYTE_ORDER for lwip_htons & co.: lwIP assumes little-endian without it
#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_ERRNO_STDINCLUDE 1
#define IPV6_FRAG_COPYHEADER 1      // needed on 64-bit: the frag header struct is larger than 8 bytes
#define LWIP_RAND() ((u32_t)ptun_lwip_rand())
#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) do { fprintf(stderr, "lwip assert: %s (%s:%d)\n", x, __FILE__, __LINE__); abort(); } while (0)
#ifdef __cplusplus
extern "C" {
#endif
uint32_t ptun_lwip_rand(void);
#ifdef __cplusplus
}
#endif
