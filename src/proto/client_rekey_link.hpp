// Internal to ClientSession (client_session.cpp, client_rekey.cpp): the rekey attempt's callbacks.
#pragma once
#include "proto/client_session.hpp"

namespace ptun::proto {

// next_'s callbacks. Its datagrams leave under its own id (its emit); what it delivers is ours.
struct ClientSession::NextLink final : ClientSession::Callbacks {
  explicit NextLink(ClientSession& s) : self(s) {}
  void send_datagram(std::span<const uint8_t> d) override { self.cb_.send_datagram(d); }
  void send_datagram_sealing(std::span<uint8_t> d, tls::PendingSeal&& seal) override {
    self.cb_.send_datagram_sealing(d, std::move(seal));
  }
  void deliver_packet(std::span<const uint8_t> ip) override {
    ++self.stats_.packets_in;
    self.stats_.bytes_in += ip.size();
    self.stats_.last_rx_ms = self.now_;
    self.cb_.deliver_packet(ip);
  }
  void on_established(const NetworkSettings& s) override { self.rekey_established(s); }
  void on_closed(CloseReason reason, const std::string& detail) override { self.rekey_failed(reason, detail); }
  ClientSession& self;
};

}  // namespace ptun::proto
