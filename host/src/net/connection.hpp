// What every connection of the network layer shares: the server's settings, the application,
// the counters, and the registry of live connections (for max_connections and for shutdown).
// Sessions hold a shared_ptr to the state, so it outlives the Server object if a handler is
// still pending when the Server goes away. Everything runs on the one io thread: no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/host/rate_limiter.hpp"
#include "parley/host/trusted_proxies.hpp"

namespace parley::host::net {

// Anything that holds a TCP connection (an HTTP session, a WebSocket session).
class Connection {
 public:
  virtual ~Connection() = default;
  // Server shutdown: stop reading, let what is in flight finish, close. WebSockets send a
  // close frame with `code` and `reason` after the frames already queued.
  virtual void shut_down(std::uint16_t code, const std::string& reason) = 0;
  // The drain is over (the peer never finished closing): the socket is closed now, and a
  // WebSocket's handler gets on_closed, so that it lets go of the socket (they refer to each
  // other until then) while the application still exists.
  virtual void abort() = 0;
};

struct ServerState {
  ServerState(boost::asio::io_context& io_context, const HostConfig& host_config,
              Application& application, Metrics& counters)
      : io(io_context),
        config(host_config),
        app(application),
        metrics(counters),
        requests_per_address(host_config.server.limits.max_requests_per_s,
                             host_config.server.limits.max_requests_per_s),
        proxies(proxies_of(host_config)) {}

  boost::asio::io_context& io;
  const HostConfig& config;
  Application& app;
  Metrics& metrics;
  // limits.max_requests_per_s per client address: every request and upgrade but /healthz.
  RateLimiter requests_per_address;
  // server.trusted_proxies: peers whose X-Forwarded-For names the client.
  TrustedProxies proxies;
  bool stopping = false;  // set by Server::close_all: no new WebSocket is opened

  const ServerLimits& limits() const { return config.server.limits; }

  // The config reader refused any entry that does not parse: none is left out here.
  static TrustedProxies proxies_of(const HostConfig& host_config) {
    auto parsed = TrustedProxies::parse(host_config.server.trusted_proxies);
    return parsed ? std::move(*parsed) : TrustedProxies{};
  }

  // Registry: a connection registers when it starts and unregisters in its destructor.
  std::uint64_t add(std::weak_ptr<Connection> connection) {
    const std::uint64_t id = next_id_++;
    connections_.emplace(id, std::move(connection));
    return id;
  }
  void remove(std::uint64_t id) { connections_.erase(id); }
  std::size_t count() const { return connections_.size(); }
  // Calls shut_down on every live connection (a snapshot: shut_down may unregister).
  void shut_down_all(std::uint16_t code, const std::string& reason) {
    std::vector<std::shared_ptr<Connection>> live;
    live.reserve(connections_.size());
    for (auto& entry : connections_)
      if (auto connection = entry.second.lock()) live.push_back(std::move(connection));
    for (auto& connection : live) connection->shut_down(code, reason);
  }
  // Calls abort on every live connection (a snapshot, as above).
  void abort_all() {
    std::vector<std::shared_ptr<Connection>> live;
    live.reserve(connections_.size());
    for (auto& entry : connections_)
      if (auto connection = entry.second.lock()) live.push_back(std::move(connection));
    for (auto& connection : live) connection->abort();
  }

 private:
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
};

}  // namespace parley::host::net
