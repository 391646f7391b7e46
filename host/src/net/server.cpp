#include "server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "connection.hpp"
#include "listener.hpp"
#include "loop_lag_probe.hpp"
#include "parley/host/log.hpp"

namespace parley::host {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(asio::io_context& io, const HostConfig& config, Application& app,
               Metrics& metrics)
    : state_(std::make_shared<net::ServerState>(io, config, app, metrics)) {}

Server::~Server() { stop(); }

Result<std::uint16_t> Server::listen() {
  auto address = parse_listen_address(state_->config.server.listen);
  if (!address) return address.error();
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address->address, ec);
  if (ec) {
    // A host name ("localhost"): resolve it once, synchronously, at startup.
    tcp::resolver resolver(state_->io);
    auto results = resolver.resolve(address->address, std::to_string(address->port), ec);
    if (ec || results.empty())
      return make_error("bad_listen", "listen: cannot resolve '" + address->address +
                                          "': " + (ec ? ec.message() : "no address"));
    ip = results.begin()->endpoint().address();
  }
  if (listener_) return make_error("listen_failed", "listen: the server is already listening");
  auto listener = std::make_shared<net::Listener>(state_);
  auto port = listener->open(tcp::endpoint(ip, address->port));
  if (!port) return port.error();
  listener_ = std::move(listener);
  listener_->start();
  lag_probe_ = std::make_shared<net::LoopLagProbe>(state_->io, state_->metrics);
  lag_probe_->start();
  return *port;
}

void Server::stop() {
  if (listener_) listener_->stop();
  if (lag_probe_) lag_probe_->stop();
}

void Server::close_all(std::uint16_t code, const std::string& reason) {
  state_->stopping = true;
  state_->shut_down_all(code, reason);
}

void Server::abort_all() { state_->abort_all(); }

std::size_t Server::connection_count() const { return state_->count(); }

}  // namespace parley::host
