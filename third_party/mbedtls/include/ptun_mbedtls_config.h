/* ptun's mbedTLS 3.6 configuration: only what ptun uses, nothing else compiled in.
 *
 * - DTLS 1.2 (no TLS 1.3, no renegotiation, no session tickets), mutual certificates, HelloVerify
 *   cookies, anti-replay, bad-MAC counting, RFC 5705 keying-material export, context
 *   serialization (for the fuzz harnesses);
 * - key exchange ECDHE-ECDSA only, groups P-256 and X25519, signatures ECDSA P-256 (SHA-256/384);
 * - the two AEAD suites: AES-128-GCM and ChaCha20-Poly1305;
 * - X.509: certificate and CRL parsing, certificate writing (ptun pki), PEM and DER;
 * - randomness: CTR_DRBG seeded by ptun's own Rng (no entropy module, no PSA: TLS 1.2 does not
 *   need the PSA core, and leaving it out keeps the router build small).
 * RSA, DHM, CBC, CCM, SHA-1, MD5, PSK, the net/timing modules and debug output are left out. */
#ifndef PTUN_MBEDTLS_CONFIG_H
#define PTUN_MBEDTLS_CONFIG_H

/* Platform */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_FS_IO
#define MBEDTLS_PLATFORM_C
/* Fuzz builds (PTUN_FUZZ_FIXED_CLOCK, third_party/CMakeLists.txt): mbedTLS's clock is a pointer the
 * session fixture sets to a fixed time, so the handshake randoms (gmt_unix_time), the cookies and
 * the certificate checks, hence every key, are the same in every process. */
#if defined(PTUN_FUZZ_FIXED_CLOCK)
#define MBEDTLS_PLATFORM_TIME_ALT
#endif
#define MBEDTLS_ERROR_C
#define MBEDTLS_VERSION_C

/* Symmetric crypto: the two AEADs of the cipher suites, with the CPU's AES instructions. */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C
#if defined(__aarch64__)
#define MBEDTLS_AESCE_C
#endif
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* Hashes and MACs: SHA-256 for the suites' PRF and signatures, SHA-384 for CA signatures,
 * HMAC through the MD layer (cookies, PRF, deterministic ECDSA). */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HMAC_DRBG_C
#define MBEDTLS_CTR_DRBG_C

/* Public key: ECDHE (P-256, X25519) and ECDSA P-256. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDSA_DETERMINISTIC
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C

/* Encodings and X.509 */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CRL_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C

/* DTLS 1.2 */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#define MBEDTLS_SSL_DTLS_BADMAC_LIMIT
#define MBEDTLS_SSL_COOKIE_C
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_KEYING_MATERIAL_EXPORT
/* mbedtls_ssl_context_save/load: the fuzz harnesses restore one established association per
 * input (DtlsSession::snapshot/restore) instead of an ECDSA handshake. The program never calls
 * them: the static (router) build's section GC drops them. */
#define MBEDTLS_SSL_CONTEXT_SERIALIZATION

#endif /* PTUN_MBEDTLS_CONFIG_H */
