// The TCP socket under each WebSocket, with reads that wait for readability before they
// read. asio starts every read with a speculative recv(); for an audio stream, where the next
// frame is 20 ms away, that recv almost always fails with EAGAIN, and it was one of the two
// recvmsg calls the host made per frame (strace under the load benchmark). Waiting first
// costs a reactor registration that exists anyway and saves that syscall.
//
// This never stalls a read: Beast asks its next layer for bytes only when its own buffer
// lacks what it needs, so "wait until the socket has data" is exactly the condition it is
// waiting for. Writes, closing and teardown go straight to the socket.
#pragma once

#include <cstddef>
#include <utility>

#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace parley::host::net {

class WaitFirstSocket {
 public:
  using socket_type =
      boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
  using executor_type = socket_type::executor_type;
  using next_layer_type = socket_type;
  using lowest_layer_type = socket_type;

  explicit WaitFirstSocket(socket_type socket) : socket_(std::move(socket)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket_type& socket() noexcept { return socket_; }
  next_layer_type& next_layer() noexcept { return socket_; }
  lowest_layer_type& lowest_layer() noexcept { return socket_; }
  void close(boost::beast::error_code& ec) { socket_.close(ec); }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return socket_.async_write_some(buffers, std::forward<WriteToken>(token));
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return boost::asio::async_compose<ReadToken, void(boost::beast::error_code, std::size_t)>(
        ReadOp<MutableBufferSequence>{socket_, buffers}, token, socket_);
  }

 private:
  template <class MutableBufferSequence>
  struct ReadOp {
    socket_type& socket;
    MutableBufferSequence buffers;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, bool waited = false) {
      if (!ec && waited) {
        // Readable: one non-blocking recv. A spurious wake-up waits again.
        if (!socket.non_blocking()) socket.non_blocking(true, ec);
        std::size_t n = 0;
        if (!ec) n = socket.read_some(buffers, ec);
        if (ec != boost::asio::error::would_block) return self.complete(ec, n);
        ec = {};
      }
      if (ec) return self.complete(ec, 0);
      socket.async_wait(socket_type::wait_read,
                        [self = std::move(self)](boost::beast::error_code e) mutable {
                          self(e, true);
                        });
    }
  };

  socket_type socket_;
};

// Beast's closing handshake tears the connection down through these (found by ADL).
inline void teardown(boost::beast::role_type role, WaitFirstSocket& stream,
                     boost::beast::error_code& ec) {
  boost::beast::websocket::teardown(role, stream.socket(), ec);
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, WaitFirstSocket& stream,
                    TeardownHandler&& handler) {
  boost::beast::websocket::async_teardown(role, stream.socket(),
                                          std::forward<TeardownHandler>(handler));
}

}  // namespace parley::host::net
