// The host's network layer (Boost.Beast, one io_context on one thread): HTTP/1.1 and
// WebSocket on one listening address. The Server owns the Listener and the registry of live
// connections; each connection is an HttpSession (one request at a time, keep-alive) that
// may become a WebSocketSession after an upgrade the Application accepted.
//
// Routes answered here: GET /healthz, GET /metrics, static files (web_root at "/", wasm_root
// at "/sdk/"); everything else goes to Application::handle_http / open_socket first.
// This header is Beast-free so that main.cpp and the tests compile quickly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/result.hpp"

namespace parley::host {

namespace net {
struct ServerState;
class Listener;
class LoopLagProbe;
}  // namespace net

class Server {
 public:
  // `config`, `app` and `metrics` must outlive every connection (shut down and drain the
  // io_context before destroying them).
  Server(boost::asio::io_context& io, const HostConfig& config, Application& app,
         Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds config.server.listen ("ADDR:PORT", port 0 = ephemeral) and starts accepting.
  // Returns the bound port. Errors: "bad_listen" (the address), "listen_failed" (bind/listen
  // refused, e.g. the port is taken: the message names the address and the OS error).
  Result<std::uint16_t> listen();
  // Stops accepting new connections (the live ones continue) and the io-loop lag probe that
  // listen() started. Idempotent.
  void stop();
  // Shutdown: no new WebSocket is opened; every WebSocket is closed with `code`/`reason`
  // after its queued frames; idle HTTP connections are closed, busy ones after the response.
  void close_all(std::uint16_t code, const std::string& reason);
  // After close_all, when the drain ran out: closes every connection still open at once (a
  // WebSocket whose peer never answered the close; its handler gets on_closed). Call it
  // before the io_context stops, while the application exists.
  void abort_all();
  // Live TCP connections (HTTP and WebSocket).
  std::size_t connection_count() const;

 private:
  std::shared_ptr<net::ServerState> state_;
  std::shared_ptr<net::Listener> listener_;
  std::shared_ptr<net::LoopLagProbe> lag_probe_;
};

}  // namespace parley::host
