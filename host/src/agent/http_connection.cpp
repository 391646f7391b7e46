#include "http_connection.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/ip/tcp.hpp>

namespace parley::host::http_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

HttpConnection::HttpConnection(asio::io_context& io, asio::ssl::context* tls, std::string key)
    : key_(std::move(key)) {
  if (tls != nullptr) {
    secure_.emplace(io, *tls);
  } else {
    plain_.emplace(io);
  }
}

HttpConnection::Plain& HttpConnection::tcp() {
  return secure_ ? boost::beast::get_lowest_layer(*secure_) : *plain_;
}

void HttpConnection::close() {
  auto& socket = tcp().socket();
  if (!socket.is_open()) return;
  boost::system::error_code ignored;
  tcp().cancel();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

bool HttpConnection::is_open() { return tcp().socket().is_open(); }

ConnectionPool::ConnectionPool(asio::io_context& io, const HttpClientOptions& options)
    : io_(io), options_(options) {}

ConnectionPool::~ConnectionPool() { close_all(); }

std::shared_ptr<HttpConnection> ConnectionPool::take(const std::string& key) {
  auto it = idle_.find(key);
  while (it != idle_.end() && !it->second.empty()) {
    Idle entry = std::move(it->second.back());
    it->second.pop_back();
    if (it->second.empty()) idle_.erase(it);
    ++entry.connection->idle_generation;  // its watch and expiry are stale from now on
    entry.expiry->cancel();
    boost::system::error_code ignored;
    entry.connection->tcp().socket().cancel(ignored);  // ends the readability watch
    if (entry.connection->is_open()) return entry.connection;
    it = idle_.find(key);
  }
  return nullptr;
}

void ConnectionPool::give(std::shared_ptr<HttpConnection> connection) {
  if (!connection->is_open() || connection->buffer().size() > 0) {
    connection->close();
    return;
  }
  auto& list = idle_[connection->key()];
  while (list.size() >= std::max<std::uint32_t>(1, options_.max_idle_per_upstream)) {
    Idle oldest = std::move(list.front());
    list.pop_front();
    ++oldest.connection->idle_generation;
    oldest.expiry->cancel();
    oldest.connection->close();
  }
  const std::uint64_t generation = ++connection->idle_generation;
  connection->tcp().expires_never();
  auto expiry = std::make_shared<asio::steady_timer>(io_);
  expiry->expires_after(std::chrono::milliseconds(std::max<std::uint32_t>(1, options_.idle_keep_ms)));
  std::weak_ptr<ConnectionPool> weak = weak_from_this();
  expiry->async_wait([weak, connection, generation](boost::system::error_code ec) {
    if (ec) return;
    if (auto pool = weak.lock()) pool->drop(connection, generation);
  });
  // The watch: a kept-alive connection has nothing to read until we ask again. The handler
  // holds the connection alive; take() cancels the wait (the handler then sees a new
  // generation and leaves the connection alone).
  connection->tcp().socket().async_wait(
      tcp::socket::wait_read, [weak, connection, generation](boost::system::error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        if (auto pool = weak.lock()) pool->drop(connection, generation);
      });
  list.push_back(Idle{std::move(connection), std::move(expiry)});
}

void ConnectionPool::drop(const std::shared_ptr<HttpConnection>& connection,
                          std::uint64_t generation) {
  if (connection->idle_generation != generation) return;  // taken (or dropped) since
  auto it = idle_.find(connection->key());
  if (it == idle_.end()) return;
  auto& list = it->second;
  for (auto e = list.begin(); e != list.end(); ++e) {
    if (e->connection == connection) {
      ++connection->idle_generation;
      e->expiry->cancel();
      list.erase(e);
      break;
    }
  }
  if (list.empty()) idle_.erase(it);
  connection->close();
}

void ConnectionPool::close_all() {
  auto all = std::move(idle_);
  idle_.clear();
  for (auto& [key, list] : all) {
    for (auto& entry : list) {
      ++entry.connection->idle_generation;
      entry.expiry->cancel();
      entry.connection->close();
    }
  }
}

std::size_t ConnectionPool::idle() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace parley::host::http_detail
