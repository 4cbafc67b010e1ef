/* The one ptun file that sees mbedTLS's private headers, in fuzz builds only: the size of an
 * mbedtls_ssl_transform, which ssl.h leaves incomplete, for dtls_snapshot_reuse.cpp's images. */
#ifdef PTUN_FUZZ_SNAPSHOT_REUSE
#include "ssl_misc.h"

size_t ptun_fuzz_transform_size(void);
size_t ptun_fuzz_transform_size(void) { return sizeof(mbedtls_ssl_transform); }
#else
typedef int ptun_fuzz_private_unused; /* ISO C: a translation unit declares something */
#endif
