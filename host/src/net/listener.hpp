// Accepts TCP connections and hands each to a new HttpSession. Over limits.max_connections a
// new connection is closed at once and counted as errors{kind="too_many_connections"}.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connection.hpp"
#include "parley/result.hpp"

namespace parley::host::net {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(std::shared_ptr<ServerState> state);
  // Opens, binds and listens; returns the bound port.
  Result<std::uint16_t> open(const boost::asio::ip::tcp::endpoint& endpoint);
  void start();
  void stop();

 private:
  void accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  std::shared_ptr<ServerState> state_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // after an accept error (e.g. out of descriptors)
  bool stopped_ = false;
};

}  // namespace parley::host::net
