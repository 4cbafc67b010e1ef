// The client's loop thread in the embedding API:
//
//   program thread --Job--> Inbox (mutex + eventfd) --FdPoll--> serve_inbox
//       --> serve_tcp: Proxy::open_stream --> socketpair: program's end returned through the
//           promise, ptun's end (HostTcp::adopt) <--relay_streams--> lwIP TcpConn
//       --> serve_udp: Proxy::resolve_allowed --> SOCK_SEQPACKET pair <--> lwIP UdpConn
//
// Everything here runs on the loop thread; lwIP and the Client are never touched elsewhere.
#pragma once
#include <memory>
#include <string>

#include "client/client.hpp"
#include "core/core.hpp"
#include "embed/inbox.hpp"

namespace ptun::embed {

// Runs the client until it ends (stop job, fatal error) while serving the inbox; then closes
// every connection and the inbox (answering what is left). Returns why the client ended.
core::Task<std::string> run_embedded(core::Loop& loop, client::Client& c, Inbox& inbox);

// One connection each, spawned into the connections' scope; they answer job->socket on every
// path, then relay until either side ends or `stop`.
core::Task<void> serve_tcp(core::Loop& loop, proxy::Proxy& p, std::unique_ptr<Job> job, core::CancelToken stop);
core::Task<void> serve_udp(core::Loop& loop, proxy::Proxy& p, netstack::Netstack& st, std::unique_ptr<Job> job,
                           core::CancelToken stop);

}  // namespace ptun::embed
