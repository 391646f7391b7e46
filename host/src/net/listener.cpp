#include "listener.hpp"

#include <chrono>
#include <string>

#include "http_session.hpp"
#include "parley/host/log.hpp"

namespace parley::host::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Listener::Listener(std::shared_ptr<ServerState> state)
    : state_(std::move(state)), acceptor_(state_->io), retry_timer_(state_->io) {}

Result<std::uint16_t> Listener::open(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  const auto fail = [&](const char* step) -> Result<std::uint16_t> {
    return make_error("listen_failed", std::string("cannot ") + step + " " +
                                           endpoint.address().to_string() + ":" +
                                           std::to_string(endpoint.port()) + ": " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  const auto bound = acceptor_.local_endpoint(ec);
  if (ec) return fail("read the port of");
  return bound.port();
}

void Listener::start() { accept(); }

void Listener::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void Listener::accept() {
  if (stopped_) return;
  acceptor_.async_accept(
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
      });
}

void Listener::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: back off a little instead of spinning on the error.
    log_event(LogLevel::warn, "net.accept_failed", "error=" + ec.message());
    state_->metrics.error("accept_failed");
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->accept();
    });
    return;
  }
  if (state_->count() >= state_->limits().max_connections) {
    state_->metrics.error("too_many_connections");
    log_event(LogLevel::warn, "net.too_many_connections",
              "limit=" + std::to_string(state_->limits().max_connections));
    boost::system::error_code ignored;
    socket.close(ignored);
  } else {
    // Small frames go out at once: without TCP_NODELAY a control frame (clear, pong) that
    // follows an audio frame not yet acknowledged waits for the peer's next packet, which on
    // a voice socket is its next 20 ms audio frame (Nagle's algorithm).
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<HttpSession>(std::move(socket), state_)->run();
  }
  accept();
}

}  // namespace parley::host::net
