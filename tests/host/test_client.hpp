// A small synchronous client for the host tests: HTTP, WebSocket, raw TCP, and a spawned
// parley-host. Every call has a deadline and reports failure as a value; nothing here can
// hang a test or throw.
//
//   using namespace parley::test;
//   HttpResult r = http(port, "GET", "/healthz");            // r.status == 200, r.body
//   HttpResult p = http(port, "POST", "/memori/v2/Session", body,
//                       {{"Origin", "http://127.0.0.1:5173"}});
//   r.header("content-type")                                  // lowercase names
//
//   WsClient ws;
//   REQUIRE(ws.connect(port, "/v1/voice", "http://127.0.0.1:5173") == "");  // "" = ok
//   ws.send_text(R"({"method":"initiate",...})");
//   WsMessage m = ws.read(2000);      // m.kind: text | binary | closed | timeout | error
//   m.close_code, m.close_reason       // when m.kind == closed
//   ws.handshake_status()              // the HTTP status of a refused upgrade (e.g. 404)
//
//   std::string reply = raw_exchange(port, "GET / HTTP/1.1\r\n...", 2000);  // bytes until close
//
//   HostProcess host({"--config", cfg, "--db", db});  // adds --listen 127.0.0.1:0
//   REQUIRE(host.port() != 0);        // read from the first stdout line within 10 s
//   int status = host.stop();         // SIGTERM, wait ≤ 10 s: exit code (or 128+signal)
//   host.wait();                      // for a process that ends by itself (--help)
//   host.kill();                      // SIGKILL; the destructor SIGTERMs a live process
//
// A read that timed out leaves the WebSocket usable: the pending read stays pending and the
// next read() continues it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResult {
  unsigned status = 0;  // 0 when the request failed (see error)
  std::string body;
  Headers headers;      // names lowercased
  std::string error;    // "" = a response arrived; otherwise what went wrong ("timeout", ...)

  bool ok() const { return error.empty(); }
  // First header with this (lowercase) name.
  std::optional<std::string> header(std::string_view lowercase_name) const;
};

// One request on a fresh connection to 127.0.0.1:port ("Connection: close").
// `headers` are sent as given; Host and (for a non-empty body) Content-Length are added.
HttpResult http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {}, const Headers& headers = {},
                int timeout_ms = 5000);

// What pipelined() got back.
struct PipelinedTally {
  int ok = 0;       // 200
  int limited = 0;  // 429
  int other = 0;
  bool every_429_has_retry_after = true;
  std::string a_429_body;
};

// `count` copies of `request` (raw HTTP/1.1) pipelined on one connection to 127.0.0.1:port
// from `source` (a loopback address: 127.0.0.2 is another client), every answer read and
// tallied. Bounded by `timeout_ms`.
PipelinedTally pipelined(std::uint16_t port, const std::string& source,
                         const std::string& request, int count, int timeout_ms = 10000);

// Several requests on ONE keep-alive connection, answered in order. Stops at the first
// failure (the remaining results are left out).
std::vector<HttpResult> http_keep_alive(std::uint16_t port,
                                        const std::vector<std::pair<std::string, std::string>>&
                                            method_and_target,
                                        int timeout_ms = 5000);

// Sends `bytes` on a fresh TCP connection (after `delay_before_send_ms`), then reads until
// the peer closes or `timeout_ms` passes; returns what was read (possibly partial).
std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms = 5000,
                         int delay_before_send_ms = 0);

struct WsMessage {
  enum class Kind { text, binary, closed, timeout, error };
  Kind kind = Kind::error;
  std::string data;             // the message (text/binary) or the error text
  std::uint16_t close_code = 0; // for closed: the peer's close code (1005 none, 1006 abnormal)
  std::string close_reason;
};

class WsClient {
 public:
  WsClient();
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects and upgrades; returns "" on success, else what failed. `origin` is sent as the
  // Origin header when given; `extra_headers` as given.
  std::string connect(std::uint16_t port, const std::string& target,
                      std::optional<std::string> origin = std::nullopt,
                      const Headers& extra_headers = {}, int timeout_ms = 5000);
  // The HTTP status the server answered the upgrade with (101 on success, 0 if none).
  unsigned handshake_status() const;

  // Returns false if the frame could not be written within the deadline / the socket is gone.
  bool send_text(const std::string& text, int timeout_ms = 5000);
  bool send_binary(const std::string& bytes, int timeout_ms = 5000);
  // Next message, or closed (with the close code), or timeout, or error.
  WsMessage read(int timeout_ms = 5000);
  // Sends a close frame and waits (bounded) for the server's.
  void close(std::uint16_t code = 1000, const std::string& reason = {}, int timeout_ms = 2000);
  bool is_open() const;

 private:
  struct Impl;
  bool write_frame(const std::string& data, bool binary, int timeout_ms);
  std::unique_ptr<Impl> impl_;
};

// A parley-host child process. Its stdout is read for the first line; stderr (the log) goes
// to log_path() (a file next to the database if not given).
class HostProcess {
 public:
  struct Options {
    std::vector<std::string> args;       // e.g. {"--config", path, "--db", path}
    bool add_ephemeral_listen = true;    // append --listen 127.0.0.1:0
    std::string log_path;                // stderr goes here; "" = a temp file
    std::string binary;  // "" = $PARLEY_TEST_HOST_BINARY if set (e.g. an ASan build), else PARLEY_HOST_BINARY
    int start_timeout_ms = 10000;
  };
  explicit HostProcess(std::vector<std::string> args);
  explicit HostProcess(Options options);
  ~HostProcess();  // SIGTERM (then SIGKILL after 5 s) if still running
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  // 0 if it did not print its listening line in time (see start_error()).
  std::uint16_t port() const { return port_; }
  const std::string& start_error() const { return start_error_; }
  const std::string& first_line() const { return first_line_; }
  // Every stdout line read so far (the agent URL lines arrive right after the first).
  std::vector<std::string> stdout_lines(int wait_ms = 200);
  const std::string& log_path() const { return log_path_; }
  std::string log_text() const;  // the stderr log so far
  pid_t pid() const { return pid_; }

  // SIGTERM and wait: the exit code, 128+signal if killed by a signal, -1 if it did not end
  // within `timeout_ms` (it is then SIGKILLed).
  int stop(int timeout_ms = 10000);
  // Waits for the process to end by itself (e.g. after --help). Returns like stop(), but
  // without signalling it: -1 if it is still running after `timeout_ms`.
  int wait(int timeout_ms = 10000) { return wait_exit(timeout_ms); }
  // SIGKILL and reap. Returns like stop().
  int kill();
  bool running();

 private:
  int wait_exit(int timeout_ms);
  void read_stdout(int wait_ms);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string start_error_;
  std::string first_line_;
  std::string stdout_buffer_;
  std::vector<std::string> lines_;
  std::string log_path_;
  bool owns_log_ = false;  // a temp file we made: removed by the destructor
  int exit_status_ = -2;  // -2 = not reaped yet
};

// A fresh temporary directory (removed by the destructor, with its contents).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path()/name
  std::string file(const std::string& name) const;
  // Writes `content` to path()/name (creating parent dirs) and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace parley::test
