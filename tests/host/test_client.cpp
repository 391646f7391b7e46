#include "test_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace parley::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point deadline_after(int timeout_ms) {
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

// Runs `io` until `done` or the deadline. False on timeout or when nothing is left to run.
bool run_until(asio::io_context& io, const bool& done, Clock::time_point deadline) {
  while (!done) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (io.stopped()) io.restart();
    if (io.run_one_for(deadline - now) == 0 && io.stopped() && !done) return false;
  }
  return true;
}

// After a timeout: cancel everything on the socket and let the handlers finish.
void abandon(asio::io_context& io, tcp::socket& socket) {
  beast::error_code ignored;
  socket.close(ignored);
  io.restart();
  io.run_for(std::chrono::milliseconds(500));
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

tcp::endpoint loopback(std::uint16_t port) {
  return tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
}

// Connects `socket` within the deadline; "" or the error.
std::string connect_socket(asio::io_context& io, tcp::socket& socket, std::uint16_t port,
                           Clock::time_point deadline) {
  bool done = false;
  beast::error_code result;
  socket.async_connect(loopback(port), [&](beast::error_code ec) {
    result = ec;
    done = true;
  });
  if (!run_until(io, done, deadline)) {
    abandon(io, socket);
    return "timeout (connect)";
  }
  return result ? "connect: " + result.message() : "";
}

// One HTTP/1.1 connection used for one or more requests.
class HttpConnection {
 public:
  HttpConnection() : socket_(io_) {}

  std::string connect(std::uint16_t port, Clock::time_point deadline) {
    port_ = port;
    return connect_socket(io_, socket_, port, deadline);
  }

  HttpResult request(const std::string& method, const std::string& target,
                     const std::string& body, const Headers& headers, bool keep_alive,
                     Clock::time_point deadline) {
    HttpResult result;
    bhttp::request<bhttp::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
    request.keep_alive(keep_alive);
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      request.body() = body;
      request.prepare_payload();
    }

    bool done = false;
    beast::error_code ec;
    bhttp::async_write(socket_, request, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(io_, done, deadline)) return fail(result, "timeout (write)");
    if (ec) return fail(result, "write: " + ec.message());

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u * 1024u * 1024u);
    if (method == "HEAD") parser.skip(true);
    done = false;
    bhttp::async_read(socket_, buffer_, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(io_, done, deadline)) return fail(result, "timeout (read)");
    if (ec) return fail(result, "read: " + ec.message());
    auto response = parser.release();
    result.status = response.result_int();
    for (const auto& field : response)
      result.headers.emplace_back(lowercase(field.name_string()), std::string(field.value()));
    result.body = std::move(response.body());
    return result;
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  HttpResult& fail(HttpResult& result, std::string error) {
    result.error = std::move(error);
    abandon(io_, socket_);
    return result;
  }

  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::uint16_t port_ = 0;
};

}  // namespace

std::optional<std::string> HttpResult::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers)
    if (name == lowercase_name) return value;
  return std::nullopt;
}

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body, const Headers& headers, int timeout_ms) {
  const auto deadline = deadline_after(timeout_ms);
  HttpConnection connection;
  if (auto error = connection.connect(port, deadline); !error.empty()) {
    HttpResult result;
    result.error = error;
    return result;
  }
  HttpResult result = connection.request(method, target, body, headers, false, deadline);
  connection.close();
  return result;
}

std::vector<HttpResult> http_keep_alive(
    std::uint16_t port, const std::vector<std::pair<std::string, std::string>>& method_and_target,
    int timeout_ms) {
  const auto deadline = deadline_after(timeout_ms);
  std::vector<HttpResult> results;
  HttpConnection connection;
  if (auto error = connection.connect(port, deadline); !error.empty()) {
    HttpResult result;
    result.error = error;
    results.push_back(result);
    return results;
  }
  for (const auto& [method, target] : method_and_target) {
    results.push_back(connection.request(method, target, {}, {}, true, deadline));
    if (!results.back().ok()) break;
  }
  connection.close();
  return results;
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms,
                         int delay_before_send_ms) {
  const auto deadline = deadline_after(timeout_ms);
  asio::io_context io;
  tcp::socket socket(io);
  if (!connect_socket(io, socket, port, deadline).empty()) return {};
  bool done = false;
  if (delay_before_send_ms > 0) {
    asio::steady_timer timer(io, std::chrono::milliseconds(delay_before_send_ms));
    timer.async_wait([&](beast::error_code) { done = true; });
    if (!run_until(io, done, deadline)) {
      abandon(io, socket);
      return {};
    }
  }
  done = false;
  beast::error_code ec;
  asio::async_write(socket, asio::buffer(bytes), [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io, done, deadline);  // a server that already answered and closed is fine
  std::string received;
  std::array<char, 4096> chunk{};
  bool finished = false;
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](beast::error_code e, std::size_t n) {
      received.append(chunk.data(), n);
      if (e) {
        finished = true;
        return;
      }
      read_more();
    });
  };
  read_more();
  if (!run_until(io, finished, deadline)) abandon(io, socket);
  return received;
}

// ---- WebSocket

struct WsClient::Impl {
  asio::io_context io;
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  std::deque<WsMessage> inbox;
  bool reading = false;
  bool open = false;
  unsigned handshake_status = 0;

  void start_read() {
    reading = true;
    ws->async_read(buffer, [this](beast::error_code ec, std::size_t) {
      reading = false;
      if (!ec) {
        WsMessage message;
        message.kind = ws->got_binary() ? WsMessage::Kind::binary : WsMessage::Kind::text;
        message.data = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        inbox.push_back(std::move(message));
        start_read();
        return;
      }
      open = false;
      WsMessage message;
      // A close frame that arrived counts even if answering it failed (the server was gone).
      if (ec == websocket::error::closed || ws->reason().code != 0) {
        message.kind = WsMessage::Kind::closed;
        message.close_code = static_cast<std::uint16_t>(ws->reason().code);
        if (message.close_code == 0) message.close_code = 1005;
        message.close_reason = std::string(ws->reason().reason.data(), ws->reason().reason.size());
      } else if (ec == asio::error::operation_aborted) {
        message.kind = WsMessage::Kind::error;
        message.data = ec.message();
      } else {
        // EOF, reset, protocol error: the connection dropped without a close frame.
        message.kind = WsMessage::Kind::closed;
        message.close_code = 1006;
        message.data = ec.message();
      }
      inbox.push_back(std::move(message));
    });
  }

  void teardown() {
    if (!ws) return;
    beast::error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
    open = false;
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}

WsClient::~WsClient() {
  impl_->teardown();
  impl_->io.restart();
  impl_->io.run_for(std::chrono::milliseconds(200));
}

std::string WsClient::connect(std::uint16_t port, const std::string& target,
                              std::optional<std::string> origin, const Headers& extra_headers,
                              int timeout_ms) {
  Impl& impl = *impl_;
  const auto deadline = deadline_after(timeout_ms);
  impl.ws.emplace(impl.io);
  impl.inbox.clear();
  impl.handshake_status = 0;
  auto& socket = beast::get_lowest_layer(*impl.ws).socket();
  if (auto error = connect_socket(impl.io, socket, port, deadline); !error.empty()) return error;

  impl.ws->set_option(websocket::stream_base::decorator(
      [origin, extra_headers](websocket::request_type& request) {
        if (origin) request.set(bhttp::field::origin, *origin);
        for (const auto& [name, value] : extra_headers) request.set(name, value);
      }));
  websocket::response_type response;
  bool done = false;
  beast::error_code ec;
  impl.ws->async_handshake(response, "127.0.0.1:" + std::to_string(port), target,
                           [&](beast::error_code e) {
                             ec = e;
                             done = true;
                           });
  if (!run_until(impl.io, done, deadline)) {
    impl.teardown();
    return "timeout (handshake)";
  }
  impl.handshake_status = response.result_int();
  if (ec) {
    impl.teardown();
    return "handshake: " + ec.message() + " (HTTP " + std::to_string(impl.handshake_status) + ")";
  }
  impl.open = true;
  impl.start_read();
  return "";
}

unsigned WsClient::handshake_status() const { return impl_->handshake_status; }

bool WsClient::send_text(const std::string& text, int timeout_ms) {
  return write_frame(text, false, timeout_ms);
}

bool WsClient::send_binary(const std::string& bytes, int timeout_ms) {
  return write_frame(bytes, true, timeout_ms);
}

bool WsClient::write_frame(const std::string& data, bool binary, int timeout_ms) {
  Impl& impl = *impl_;
  if (!impl.ws || !impl.open) return false;
  impl.ws->binary(binary);
  bool done = false;
  beast::error_code ec;
  impl.ws->async_write(asio::buffer(data), [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(impl.io, done, deadline_after(timeout_ms))) {
    // A write cannot be abandoned and resumed: the connection is done for.
    impl.teardown();
    impl.io.restart();
    impl.io.run_for(std::chrono::milliseconds(200));
    return false;
  }
  return !ec;
}

WsMessage WsClient::read(int timeout_ms) {
  Impl& impl = *impl_;
  const auto deadline = deadline_after(timeout_ms);
  while (impl.inbox.empty()) {
    if (!impl.reading) {
      WsMessage none;
      none.kind = WsMessage::Kind::error;
      none.data = "not connected";
      return none;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      WsMessage timeout;
      timeout.kind = WsMessage::Kind::timeout;
      return timeout;
    }
    if (impl.io.stopped()) impl.io.restart();
    impl.io.run_one_for(deadline - now);
  }
  WsMessage message = std::move(impl.inbox.front());
  impl.inbox.pop_front();
  return message;
}

void WsClient::close(std::uint16_t code, const std::string& reason, int timeout_ms) {
  Impl& impl = *impl_;
  if (!impl.ws || !impl.open) return;
  bool done = false;
  impl.ws->async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                       [&](beast::error_code) { done = true; });
  if (!run_until(impl.io, done, deadline_after(timeout_ms))) impl.teardown();
  impl.open = false;
}

bool WsClient::is_open() const { return impl_->open; }

// ---- HostProcess

HostProcess::HostProcess(std::vector<std::string> args)
    : HostProcess([&args] {
        Options options;
        options.args = std::move(args);
        return options;
      }()) {}

HostProcess::HostProcess(Options options) {
  std::string binary = options.binary;
  if (binary.empty()) {
    const char* override_binary = std::getenv("PARLEY_TEST_HOST_BINARY");
    binary = override_binary != nullptr && *override_binary != '\0' ? override_binary
                                                                     : PARLEY_HOST_BINARY;
  }
  log_path_ = options.log_path;
  if (log_path_.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "parley-host-XXXXXX.log").string();
    const int fd = ::mkstemps(pattern.data(), 4);
    if (fd >= 0) ::close(fd);
    log_path_ = pattern;
    owns_log_ = true;
  }
  std::vector<std::string> args;
  args.push_back(binary);
  args.insert(args.end(), options.args.begin(), options.args.end());
  if (options.add_ephemeral_listen) {
    args.emplace_back("--listen");
    args.emplace_back("127.0.0.1:0");
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    start_error_ = "pipe failed";
    return;
  }
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec.
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  if (log_fd >= 0) ::close(log_fd);
  if (pid_ < 0) {
    ::close(pipe_fds[0]);
    start_error_ = "fork failed";
    return;
  }
  stdout_fd_ = pipe_fds[0];
  ::fcntl(stdout_fd_, F_SETFL, ::fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);

  const auto deadline = deadline_after(options.start_timeout_ms);
  while (lines_.empty() && Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    read_stdout(static_cast<int>(std::min<long long>(left.count(), 100)));
    if (lines_.empty() && !running()) break;
  }
  if (lines_.empty()) {
    start_error_ = running() ? "no listening line within " +
                                   std::to_string(options.start_timeout_ms) + " ms"
                             : "parley-host exited with " + std::to_string(exit_status_) +
                                   ": " + log_text();
    return;
  }
  first_line_ = lines_.front();
  const std::string marker = "listening on http://";
  const auto at = first_line_.find(marker);
  const auto slash = at == std::string::npos ? std::string::npos
                                             : first_line_.find('/', at + marker.size());
  const auto colon = slash == std::string::npos ? std::string::npos
                                                : first_line_.rfind(':', slash);
  if (colon == std::string::npos || colon < at) {
    start_error_ = "unexpected first line: " + first_line_;
    return;
  }
  const long port = std::strtol(first_line_.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) {
    start_error_ = "no port in: " + first_line_;
    return;
  }
  port_ = static_cast<std::uint16_t>(port);
}

HostProcess::~HostProcess() {
  if (pid_ > 0 && exit_status_ == -2) {
    ::kill(pid_, SIGTERM);
    if (wait_exit(5000) == -1) {
      ::kill(pid_, SIGKILL);
      wait_exit(5000);
    }
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (owns_log_) ::unlink(log_path_.c_str());
}

void HostProcess::read_stdout(int wait_ms) {
  if (stdout_fd_ < 0) return;
  pollfd poller{stdout_fd_, POLLIN, 0};
  if (::poll(&poller, 1, wait_ms) <= 0) return;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) break;
    stdout_buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  std::size_t newline;
  while ((newline = stdout_buffer_.find('\n')) != std::string::npos) {
    lines_.push_back(stdout_buffer_.substr(0, newline));
    stdout_buffer_.erase(0, newline + 1);
  }
}

std::vector<std::string> HostProcess::stdout_lines(int wait_ms) {
  read_stdout(wait_ms);
  return lines_;
}

std::string HostProcess::log_text() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool HostProcess::running() {
  if (pid_ <= 0 || exit_status_ != -2) return false;
  return wait_exit(0) == -1;
}

int HostProcess::wait_exit(int timeout_ms) {
  if (exit_status_ != -2) return exit_status_;
  if (pid_ <= 0) return -1;
  const auto deadline = deadline_after(timeout_ms);
  for (;;) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                       : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1);
      return exit_status_;
    }
    if (reaped < 0 || Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int HostProcess::stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  if (exit_status_ != -2) return exit_status_;
  ::kill(pid_, SIGTERM);
  const int status = wait_exit(timeout_ms);
  if (status == -1) {
    ::kill(pid_, SIGKILL);
    wait_exit(5000);
    return -1;
  }
  return status;
}

int HostProcess::kill() {
  if (pid_ <= 0) return -1;
  if (exit_status_ != -2) return exit_status_;
  ::kill(pid_, SIGKILL);
  return wait_exit(5000);
}

// ---- TempDir

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "parley-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::file(const std::string& name) const {
  return (std::filesystem::path(path_) / name).string();
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const std::filesystem::path full = std::filesystem::path(path_) / name;
  std::error_code ignored;
  std::filesystem::create_directories(full.parent_path(), ignored);
  std::ofstream out(full, std::ios::binary);
  out << content;
  return full.string();
}

PipelinedTally pipelined(std::uint16_t port, const std::string& source,
                         const std::string& request, int count, int timeout_ms) {
  PipelinedTally tally;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.open(asio::ip::tcp::v4());
  socket.bind({asio::ip::make_address(source), 0});
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string all;
  for (int i = 0; i < count; ++i) all += request;
  std::thread writer([&] {
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(all), ec);
  });
  beast::flat_buffer buffer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int i = 0; i < count && std::chrono::steady_clock::now() < deadline; ++i) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    boost::system::error_code ec;
    bhttp::read(socket, buffer, parser, ec);
    if (ec) break;
    const auto& response = parser.get();
    if (response.result_int() == 429) {
      ++tally.limited;
      if (response.find("Retry-After") == response.end()) tally.every_429_has_retry_after = false;
      tally.a_429_body = response.body();
    } else if (response.result_int() == 200) {
      ++tally.ok;
    } else {
      ++tally.other;
    }
  }
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  writer.join();
  return tally;
}

}  // namespace parley::test
