// TLS 1.2 over a byte stream: the outer layer of the TCP transport. A middlebox that lets only
// TLS through port 443 sees a TLS handshake (SNI, the server's certificate) and then application
// data; inside it the framed DTLS datagrams of the same session travel as over UDP, and that
// DTLS session authenticates both ends. So this layer verifies the server (client side, against
// the same CA and name as DTLS) and asks no client certificate: a client that cannot complete
// DTLS inside gets nothing more than it would over UDP.
// Sans-I/O: bytes from the network go in through feed(); bytes for the network collect in the
// outbox, which the caller sends and clears.
#pragma once
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/rng.hpp"
#include "tls/credentials.hpp"

namespace ptun::tls {

class TlsStreamConfig {
 public:
  // `rng` seeds the DRBG now and on every reseed: it must outlive the config.
  static Result<std::shared_ptr<TlsStreamConfig>> make_client(std::shared_ptr<Credentials> creds, Rng& rng);
  static Result<std::shared_ptr<TlsStreamConfig>> make_server(std::shared_ptr<Credentials> creds, Rng& rng);
  ~TlsStreamConfig();
  TlsStreamConfig(const TlsStreamConfig&) = delete;
  TlsStreamConfig& operator=(const TlsStreamConfig&) = delete;

  mbedtls_ssl_config* raw() { return &conf_; }
  bool is_server() const { return server_; }

 private:
  TlsStreamConfig(bool server, std::shared_ptr<Credentials> creds);
  Result<void> init(Rng& rng);

  bool server_;
  std::shared_ptr<Credentials> creds_;  // mbedTLS points into these
  mbedtls_ssl_config conf_;
  mbedtls_ctr_drbg_context drbg_;
};

class TlsStream {
 public:
  using DataFn = std::function<void(std::span<const uint8_t>)>;
  // server_name: on a client, the name the server's certificate must carry (sent as SNI too).
  static Result<std::unique_ptr<TlsStream>> make(std::shared_ptr<TlsStreamConfig> config,
                                                 const std::string& server_name = "");
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Client: the ClientHello into the outbox. Servers wait for theirs in feed().
  Result<void> start();
  // Bytes from the peer, any split. Application bytes in them go to `on_data` (several calls, in
  // order). An error ends the stream: a certificate that does not verify, a record that fails
  // authentication, a malformed record, an alert, the peer's close_notify (Errc::closed).
  Result<void> feed(std::span<const uint8_t> in, const DataFn& on_data);
  // Application bytes for the peer, sealed into the outbox. Fails before the handshake is done.
  Result<void> write(std::span<const uint8_t> data);
  // A close_notify into the outbox.
  void close();

  std::vector<uint8_t>& outbox() { return out_; }
  bool established() const { return established_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::string peer_common_name() const { return peer_cn_; }   // client: the verified server's CN
  std::string cipher() const;

 private:
  explicit TlsStream(std::shared_ptr<TlsStreamConfig> config);
  static int bio_send(void* ctx, const unsigned char* buf, size_t len);
  static int bio_recv(void* ctx, unsigned char* buf, size_t len);
  Result<void> fail(Errc code, std::string what);
  Result<void> step_handshake();

  std::shared_ptr<TlsStreamConfig> config_;
  mbedtls_ssl_context ssl_;
  std::string server_name_;
  std::vector<uint8_t> in_;   // received, not yet taken by mbedTLS (in_off_ onwards)
  size_t in_off_ = 0;
  std::vector<uint8_t> out_;
  std::vector<uint8_t> plain_;   // one record's plaintext at a time
  bool established_ = false;
  std::string error_;
  std::string peer_cn_;
};

}  // namespace ptun::tls
