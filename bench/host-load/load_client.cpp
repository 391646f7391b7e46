// parley-host-load: N voice clients against a running parley-host, on one io thread.
//
// Each client connects to /v1/voice, sends `initiate` (built by the core's make_initiate), and
// after `onready` streams one 640-byte PCM16 frame (20 ms at 16 kHz) every 20 ms at real time,
// in one of 20 one-millisecond slots chosen at random so the load is spread evenly. One pacing
// timer (1 ms ticks on an absolute schedule) serves all clients, because a timer per client
// made the client, not the host, the bottleneck; for the same reason each client speaks the
// WebSocket protocol on a plain socket (see Client). Every 50th frame (once a second) a client
// sends a ping whose data is its send time (steady clock, µs); the pong's round trip is one of
// the per-frame figures (the ping waits in the same host queue as the frames).
//
// For each N it prints: streams held, frames sent, the host's own handling time and io-loop
// lag (read off its /metrics histograms before and after the window), round-trip p50/p99/max,
// the client's own timer lag (if that is large, the client, not the host, is the bottleneck),
// and the host's CPU per stream from /proc/PID/stat (utime+stime) over the measured window.
//
// Through a load balancer (bench/scale): --pid takes every host's pid (their CPU is summed),
// --metrics-ports every host's own port (their histograms are summed, since /metrics through
// the balancer would reach one host at random), and --json prints `@window-start` and
// `@window-end` lines as the measured window opens and closes (so that a driver can sample
// other processes over the same window) and one `@result {...}` line per N.
//
//   parley-host-load --port P [--address 127.0.0.1] [--pid HOST_PID[,PID...]] [--clients 250,500,1000]
//                    [--warmup S] [--duration S] [--connect-rate PER_S] [--agent demo]
//                    [--key demo-public-key] [--origin http://127.0.0.1:1] [--signal silence|tone]
//                    [--names same|unique] [--metrics-ports P[,P...]] [--json]
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "parley/protocol.hpp"
#include "parley/start_request.hpp"
#include "proc_sample.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

constexpr std::size_t kFrameBytes = 640;               // 20 ms of 16 kHz PCM16 mono
constexpr int kFramesPerPing = 50;                     // one ping a second
constexpr std::size_t kMaxQueuedWrites = 50;           // 1 s of backlog (in frames): drop frames beyond it

struct Options {
  std::string address = "127.0.0.1";
  std::string port;
  std::vector<long> host_pids;             // their CPU is summed
  std::vector<std::string> metrics_ports;  // /metrics read from each (default: port)
  bool json = false;                       // window markers and a result line for a driver
  std::vector<int> clients;  // default {250, 500, 1000, 1500}
  double warmup_s = 3;
  double duration_s = 10;
  double connect_rate = 250;  // new connections per second
  std::string agent = "demo";
  std::string key = "demo-public-key";
  std::string origin;          // sent as Origin when set
  bool tone = false;
  bool unique_names = false;  // each client its own userName: every greeting is different
};

// Counters of one measured window, shared by all clients (one thread: no locks).
struct Stats {
  std::vector<std::uint32_t> rtt_us;
  std::vector<std::uint32_t> lag_us;  // timer lateness of frame sends
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_dropped = 0;   // not sent: the socket's write queue was full
  std::uint64_t pings_sent = 0;
  std::uint64_t pongs = 0;
  void reset() { *this = Stats{}; }
};

struct Totals {  // over the whole run of one N
  int connected = 0;
  int ready = 0;
  int failed = 0;
  int closed_by_host = 0;
  std::string last_error;
};

std::int64_t now_us() {
  return std::chrono::duration_cast<Micros>(Clock::now().time_since_epoch()).count();
}

class Client;

// The real-time clock of all streams: every 1 ms it asks the clients of one of 20 slots to send
// their next frame, so each client sends every 20 ms.
class Pacer {
 public:
  explicit Pacer(asio::io_context& io) : timer_(io) {}

  void add(std::shared_ptr<Client> client, int slot) {
    slots_[static_cast<std::size_t>(slot % kSlots)].push_back(std::move(client));
    if (!running_) start();
  }

  void stop() {
    running_ = false;
    timer_.cancel();
    for (auto& slot : slots_) slot.clear();
  }

 private:
  static constexpr int kSlots = 20;

  void start() {
    running_ = true;
    next_tick_ = Clock::now();
    tick_ = 0;
    schedule();
  }

  void schedule() {
    timer_.expires_at(next_tick_);
    timer_.async_wait([this](beast::error_code ec) { on_tick(ec); });
  }

  void on_tick(beast::error_code ec);

  asio::steady_timer timer_;
  std::array<std::vector<std::shared_ptr<Client>>, kSlots> slots_;
  Clock::time_point next_tick_;
  std::uint64_t tick_ = 0;
  bool running_ = false;
};

// A client-to-server WebSocket frame (RFC 6455 §5.2): FIN, `opcode`, masked with `key`.
std::string ws_frame(unsigned opcode, std::string_view payload, const std::array<std::uint8_t, 4>& key) {
  std::string frame;
  frame.reserve(payload.size() + 14);
  frame.push_back(static_cast<char>(0x80u | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80u | n));
  } else if (n <= 0xffff) {
    frame.push_back(static_cast<char>(0x80u | 126u));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80u | 127u));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  for (auto b : key) frame.push_back(static_cast<char>(b));
  for (std::size_t i = 0; i < n; ++i)
    frame.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]));
  return frame;
}

// One voice client on a plain TCP socket. The load generator must cost less than the host
// it measures, so it speaks the few parts of the WebSocket protocol it needs itself: the
// upgrade request, masked frames built once (the audio frame is the same bytes for every
// send), a non-blocking send() per frame from the pacer, and a small parser for the server's
// unmasked frames. (With Beast's stream for the client, the client saturated its core before
// the host did.)
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, const Options& options, const tcp::endpoint& endpoint,
         const std::string& initiate, const std::string& audio_frame, Stats& stats, Totals& totals,
         Pacer& pacer, int slot)
      : options_(options), endpoint_(endpoint), initiate_(initiate), audio_frame_(audio_frame),
        stats_(stats), totals_(totals), pacer_(pacer), socket_(io), slot_(slot) {}

  void start() {
    socket_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  void stop() {
    stopping_ = true;
    if (!open_) return;
    const std::string close = ws_frame(0x8, std::string("\x03\xe8", 2), kKey);  // 1000
    write_raw(close.data(), close.size());
  }

  bool ready() const { return ready_ && open_; }
  bool open() const { return open_; }

  // The pacer's tick for this client, `late_us` after its due time.
  void send_frame(std::int64_t late_us) {
    if (stopping_ || !open_) return;
    stats_.lag_us.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, late_us)));
    if (backlog_.size() >= kMaxQueuedWrites * audio_frame_.size()) {
      ++stats_.frames_dropped;
      return;
    }
    write_raw(audio_frame_.data(), audio_frame_.size());
    ++stats_.frames_sent;
    if (++frames_ % kFramesPerPing == 0) {
      const std::string ping = ws_frame(0x1, R"({"method":"ping","data":")" + std::to_string(now_us()) + "\"}", kKey);
      write_raw(ping.data(), ping.size());
      ++stats_.pings_sent;
    }
  }

 private:
  static constexpr std::array<std::uint8_t, 4> kKey = {0x37, 0xfa, 0x21, 0x3d};

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    socket_.set_option(tcp::no_delay(true));
    socket_.non_blocking(true);
    std::string request = "GET /v1/voice HTTP/1.1\r\nHost: " + options_.address + ":" + options_.port +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: cGFybGV5LWxvYWQtY2xpZW50\r\nSec-WebSocket-Version: 13\r\n";
    if (!options_.origin.empty()) request += "Origin: " + options_.origin + "\r\n";
    request += "\r\n";
    open_ = true;  // the socket is; the WebSocket is once the 101 is read
    write_raw(request.data(), request.size());
    read();
  }

  void read() {
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) {
      if (stopping_ || ec == asio::error::eof) {
        if (!stopping_ && !failed_) {
          ++totals_.closed_by_host;
          totals_.last_error = "connection closed by the host";
        }
        open_ = false;
        return;
      }
      return fail("read", ec);
    }
    inbox_.append(chunk_.data(), n);
    if (!upgraded_) {
      const auto end = inbox_.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (inbox_.size() > 16384) return fail("handshake", asio::error::message_size);
        return read();
      }
      if (inbox_.compare(0, 12, "HTTP/1.1 101") != 0) {
        totals_.last_error = "upgrade refused: " + inbox_.substr(0, inbox_.find("\r\n"));
        return fail("handshake", asio::error::connection_refused);
      }
      upgraded_ = true;
      ++totals_.connected;
      inbox_.erase(0, end + 4);
      write_raw(initiate_.data(), initiate_.size());
    }
    if (!parse_frames()) return;
    read();
  }

  // Server frames are unmasked; returns false when the connection is done.
  bool parse_frames() {
    std::size_t at = 0;
    while (inbox_.size() - at >= 2) {
      const auto b0 = static_cast<std::uint8_t>(inbox_[at]);
      const auto b1 = static_cast<std::uint8_t>(inbox_[at + 1]);
      std::size_t header = 2;
      std::uint64_t length = b1 & 0x7fu;
      if (length == 126) {
        if (inbox_.size() - at < 4) break;
        length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(inbox_[at + 2])) << 8) |
                 static_cast<std::uint8_t>(inbox_[at + 3]);
        header = 4;
      } else if (length == 127) {
        if (inbox_.size() - at < 10) break;
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(inbox_[at + 2 + i]);
        header = 10;
      }
      if ((b1 & 0x80u) != 0 || length > (1u << 20)) {
        fail("frame", asio::error::invalid_argument);
        return false;
      }
      if (inbox_.size() - at < header + length) break;
      const std::string_view payload(inbox_.data() + at + header, static_cast<std::size_t>(length));
      const unsigned opcode = b0 & 0x0fu;
      if (opcode == 0x1) {
        on_text(payload);
      } else if (opcode == 0x8) {
        if (!stopping_) {
          ++totals_.closed_by_host;
          const unsigned code = payload.size() >= 2 ? (static_cast<std::uint8_t>(payload[0]) << 8) |
                                                          static_cast<std::uint8_t>(payload[1])
                                                    : 1005;
          totals_.last_error = "closed by host: " + std::to_string(code) + " " +
                               std::string(payload.size() > 2 ? payload.substr(2) : std::string_view());
        }
        open_ = false;
        beast::error_code ignored;
        socket_.close(ignored);
        return false;
      } else if (opcode == 0x9) {
        const std::string pong = ws_frame(0xA, payload, kKey);
        write_raw(pong.data(), pong.size());
      }
      at += header + static_cast<std::size_t>(length);
    }
    inbox_.erase(0, at);
    return true;
  }

  void on_text(std::string_view text) {
    auto message = parley::parse_server_message(text);
    if (!message) return;
    if (std::holds_alternative<parley::OnReady>(message.value())) {
      if (ready_) return;
      ready_ = true;
      ++totals_.ready;
      pacer_.add(shared_from_this(), slot_);
    } else if (const auto* pong = std::get_if<parley::Pong>(&message.value())) {
      if (!pong->data.is_string()) return;
      const std::string& sent = pong->data.get_ref<const std::string&>();
      const long long sent_us = std::strtoll(sent.c_str(), nullptr, 10);  // our µs, echoed
      if (sent_us <= 0) return;
      ++stats_.pongs;
      stats_.rtt_us.push_back(static_cast<std::uint32_t>(std::max<long long>(0, now_us() - sent_us)));
    } else if (const auto* error = std::get_if<parley::OnError>(&message.value())) {
      totals_.last_error = "onerror " + error->code + ": " + error->message;
    }
  }

  // Sends now if nothing waits; what the kernel does not take waits in `backlog_` and goes
  // out when the socket is writable again.
  void write_raw(const char* data, std::size_t size) {
    if (!open_) return;
    if (!backlog_.empty()) {
      backlog_.append(data, size);
      return;
    }
    const ssize_t sent = ::send(socket_.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent == static_cast<ssize_t>(size)) return;
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return fail("send", beast::error_code(errno, boost::system::system_category()));
    const std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
    backlog_.append(data + done, size - done);
    flush_later();
  }

  void flush_later() {
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->open_) return;
      const ssize_t sent = ::send(self->socket_.native_handle(), self->backlog_.data(), self->backlog_.size(),
                                  MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return self->fail("send", beast::error_code(errno, boost::system::system_category()));
      if (sent > 0) self->backlog_.erase(0, static_cast<std::size_t>(sent));
      if (!self->backlog_.empty()) self->flush_later();
    });
  }

  void fail(const char* what, beast::error_code ec) {
    if (stopping_) {  // our own close: errors after it are expected
      open_ = false;
      return;
    }
    if (!failed_) {
      failed_ = true;
      ++totals_.failed;
      if (totals_.last_error.empty() || std::string_view(what) != "handshake")
        totals_.last_error = std::string(what) + ": " + ec.message();
    }
    open_ = false;
    beast::error_code ignored;
    socket_.close(ignored);
  }

  const Options& options_;
  const tcp::endpoint endpoint_;
  const std::string& initiate_;
  const std::string& audio_frame_;
  Stats& stats_;
  Totals& totals_;
  Pacer& pacer_;
  tcp::socket socket_;
  int slot_;
  std::array<char, 4096> chunk_{};
  std::string inbox_;
  std::string backlog_;
  std::uint64_t frames_ = 0;
  bool open_ = false;
  bool upgraded_ = false;
  bool ready_ = false;
  bool failed_ = false;
  bool stopping_ = false;
};

void Pacer::on_tick(beast::error_code ec) {
  if (ec || !running_) return;
  const auto late = std::chrono::duration_cast<Micros>(Clock::now() - next_tick_).count();
  for (const auto& client : slots_[static_cast<std::size_t>(tick_ % kSlots)]) client->send_frame(late);
  ++tick_;
  next_tick_ += std::chrono::milliseconds(1);
  schedule();
}

using parley::bench::ProcessSample;
using parley::bench::sample_process;

// The summed sample of several processes; nullopt if any is gone (or none was given).
std::optional<ProcessSample> sample_processes(const std::vector<long>& pids) {
  if (pids.empty()) return std::nullopt;
  ProcessSample sum;
  for (const long pid : pids) {
    const auto one = sample_process(pid);
    if (!one) return std::nullopt;
    sum.cpu_s += one->cpu_s;
    sum.rss_mib += one->rss_mib;
  }
  return sum;
}

double self_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double percentile_ms(std::vector<std::uint32_t>& values, double p) {
  if (values.empty()) return std::nan("");
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index] / 1000.0;
}

// One Prometheus histogram read off /metrics: cumulative counts per upper bound (seconds).
struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), +Inf last
  bool empty() const { return buckets.empty(); }
};

// GET /metrics from the host on `port` (blocking; called between phases only). Empty on failure.
std::string fetch_metrics(const Options& options, const std::string& port) {
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(options.address, port));
    beast::http::request<beast::http::empty_body> request{beast::http::verb::get, "/metrics", 11};
    request.set(beast::http::field::host, options.address);
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    return response.body();
  } catch (const std::exception&) {
    return {};
  }
}

// The histogram `name` with label text `labels` (e.g. kind="binary", or "") from a scrape.
Histogram parse_histogram(const std::string& text, const std::string& name, const std::string& labels) {
  Histogram h;
  const std::string prefix = "parley_" + name + "_bucket{" + (labels.empty() ? "" : labels + ",") + "le=\"";
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    const auto quote = line.find('"', prefix.size());
    const auto space = line.rfind(' ');
    if (quote == std::string::npos || space == std::string::npos) continue;
    const std::string le = line.substr(prefix.size(), quote - prefix.size());
    const double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    h.buckets.emplace_back(bound, std::strtod(line.c_str() + space + 1, nullptr));
  }
  return h;
}

// The scrapes of every host in `options.metrics_ports`, in that order.
std::vector<std::string> fetch_all_metrics(const Options& options) {
  std::vector<std::string> scrapes;
  for (const auto& port : options.metrics_ports) scrapes.push_back(fetch_metrics(options, port));
  return scrapes;
}

// The histogram `name` of several hosts' scrapes, bucket counts summed (the hosts share one
// build, so one set of bounds); empty if any scrape lacks it.
Histogram parse_histograms(const std::vector<std::string>& scrapes, const std::string& name, const std::string& labels) {
  Histogram sum;
  for (const auto& text : scrapes) {
    const Histogram one = parse_histogram(text, name, labels);
    if (one.empty() || (!sum.empty() && one.buckets.size() != sum.buckets.size())) return {};
    if (sum.empty()) {
      sum = one;
      continue;
    }
    for (std::size_t i = 0; i < one.buckets.size(); ++i) sum.buckets[i].second += one.buckets[i].second;
  }
  return sum;
}

// Quantile q (0..1) in ms of what was observed between two scrapes, interpolated linearly
// inside the bucket that holds it (as Prometheus' histogram_quantile does). NaN if nothing.
double histogram_quantile_ms(const Histogram& before, const Histogram& after, double q) {
  if (after.empty() || before.buckets.size() != after.buckets.size()) return std::nan("");
  std::vector<double> counts(after.buckets.size());
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = after.buckets[i].second - before.buckets[i].second;
  const double total = counts.back();
  if (total <= 0) return std::nan("");
  const double rank = q * total;
  double lower = 0, below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double upper = after.buckets[i].first;
    if (counts[i] >= rank) {
      if (std::isinf(upper)) return lower * 1000.0;  // beyond the last bound: report it
      const double in_bucket = counts[i] - below;
      const double fraction = in_bucket > 0 ? (rank - below) / in_bucket : 1.0;
      return (lower + (upper - lower) * fraction) * 1000.0;
    }
    lower = upper;
    below = counts[i];
  }
  return std::nan("");
}

// Runs the io_context for `seconds`, or until `done()` (checked every 100 ms).
template <typename Done>
void run_until(asio::io_context& io, double seconds, Done done) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end && !done()) {
    io.run_for(std::chrono::milliseconds(100));
    if (io.stopped()) io.restart();
  }
}

std::string make_frame(bool tone) {
  std::string frame(kFrameBytes, '\0');
  if (!tone) return frame;
  // 400 Hz at -20 dBFS: a whole number of periods in 20 ms, so frames join without clicks.
  for (std::size_t i = 0; i < kFrameBytes / 2; ++i) {
    const double v = 3277.0 * std::sin(2.0 * M_PI * 400.0 * static_cast<double>(i) / 16000.0);
    const auto s = static_cast<std::uint16_t>(static_cast<std::int16_t>(std::lround(v)));
    frame[2 * i] = static_cast<char>(s & 0xff);
    frame[2 * i + 1] = static_cast<char>(s >> 8);
  }
  return frame;
}

void run_level(const Options& options, int n, const std::vector<std::string>& initiates,
               const std::string& frame) {
  asio::io_context io(1);
  tcp::resolver resolver(io);
  const tcp::endpoint endpoint = *resolver.resolve(options.address, options.port).begin();
  Stats stats;
  Totals totals;
  std::vector<std::shared_ptr<Client>> clients;
  std::mt19937 random(12345u + static_cast<unsigned>(n));
  std::uniform_int_distribution<int> slot(0, 19);
  Pacer pacer(io);

  // Connect at the given rate; the io_context runs between batches.
  const double batch_period_s = 0.05;
  const int per_batch = std::max(1, static_cast<int>(options.connect_rate * batch_period_s));
  for (int started = 0; started < n;) {
    for (int i = 0; i < per_batch && started < n; ++i, ++started) {
      const std::string& initiate = initiates[static_cast<std::size_t>(started) % initiates.size()];
      clients.push_back(std::make_shared<Client>(io, options, endpoint, initiate, frame, stats,
                                                 totals, pacer, slot(random)));
      clients.back()->start();
    }
    run_until(io, batch_period_s, [] { return false; });
  }
  run_until(io, 15, [&] { return totals.ready + totals.failed + totals.closed_by_host >= n; });

  run_until(io, options.warmup_s, [] { return false; });
  stats.reset();
  const auto scrape_before = fetch_all_metrics(options);
  if (options.json) {
    std::printf("@window-start\n");
    std::fflush(stdout);
  }
  const auto host_before = sample_processes(options.host_pids);
  const double self_before = self_cpu_s();
  const auto t0 = Clock::now();
  run_until(io, options.duration_s, [] { return false; });
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto host_after = sample_processes(options.host_pids);
  const double self_cpu = self_cpu_s() - self_before;
  if (options.json) {
    std::printf("@window-end\n");
    std::fflush(stdout);
  }
  const auto scrape_after = fetch_all_metrics(options);
  const auto handling = [&](double q) {
    return histogram_quantile_ms(parse_histograms(scrape_before, "ws_message_handling_seconds", "kind=\"binary\""),
                                 parse_histograms(scrape_after, "ws_message_handling_seconds", "kind=\"binary\""), q);
  };
  const auto loop_lag = [&](double q) {
    return histogram_quantile_ms(parse_histograms(scrape_before, "io_loop_lag_seconds", ""),
                                 parse_histograms(scrape_after, "io_loop_lag_seconds", ""), q);
  };
  const int held = static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c->ready(); }));

  const double frames_per_s = static_cast<double>(stats.frames_sent) / elapsed;
  std::printf("%6d %6d %9.0f %8llu %8.3f %8.3f %8.2f %8.2f %8.2f %8.2f %8.2f", n, held, frames_per_s,
              static_cast<unsigned long long>(stats.frames_dropped), handling(0.5), handling(0.99),
              loop_lag(0.99), percentile_ms(stats.rtt_us, 0.5), percentile_ms(stats.rtt_us, 0.99),
              percentile_ms(stats.rtt_us, 1.0), percentile_ms(stats.lag_us, 0.99));
  if (host_before && host_after && held > 0) {
    const double host_cpu = host_after->cpu_s - host_before->cpu_s;
    std::printf(" %7.1f%% %10.3f %8.1f", 100.0 * host_cpu / elapsed,
                1000.0 * host_cpu / (elapsed * held), host_after->rss_mib);
  } else {
    std::printf(" %8s %10s %8s", "-", "-", "-");
  }
  std::printf(" %6.1f%%\n", 100.0 * self_cpu / elapsed);
  if (held < n || stats.pongs + 2 * static_cast<std::uint64_t>(held) < stats.pings_sent)
    std::printf("       note: %d connected, %d ready, %d failed, %d closed by host, %llu/%llu pongs; last: %s\n",
                totals.connected, totals.ready, totals.failed, totals.closed_by_host,
                static_cast<unsigned long long>(stats.pongs), static_cast<unsigned long long>(stats.pings_sent),
                totals.last_error.c_str());
  if (options.json) {
    // NaN (nothing measured) as null, which JSON has.
    const auto number = [](double v) { return std::isfinite(v) ? std::to_string(v) : std::string("null"); };
    std::printf("@result {\"n\":%d,\"held\":%d,\"failed\":%d,\"closed_by_host\":%d,\"seconds\":%s,"
                "\"frames_per_s\":%s,\"dropped\":%llu,\"pings\":%llu,\"pongs\":%llu,\"hdl_p99_ms\":%s,"
                "\"loop_p99_ms\":%s,\"rtt_p50_ms\":%s,\"rtt_p99_ms\":%s,\"rtt_max_ms\":%s,\"lag_p99_ms\":%s,"
                "\"client_cpu_s\":%s}\n",
                n, held, totals.failed, totals.closed_by_host, number(elapsed).c_str(),
                number(frames_per_s).c_str(), static_cast<unsigned long long>(stats.frames_dropped),
                static_cast<unsigned long long>(stats.pings_sent), static_cast<unsigned long long>(stats.pongs),
                number(handling(0.99)).c_str(), number(loop_lag(0.99)).c_str(),
                number(percentile_ms(stats.rtt_us, 0.5)).c_str(), number(percentile_ms(stats.rtt_us, 0.99)).c_str(),
                number(percentile_ms(stats.rtt_us, 1.0)).c_str(), number(percentile_ms(stats.lag_us, 0.99)).c_str(),
                number(self_cpu).c_str());
  }
  std::fflush(stdout);

  pacer.stop();
  for (auto& client : clients) client->stop();
  run_until(io, 5, [&] {
    return std::none_of(clients.begin(), clients.end(), [](const auto& c) { return c->open(); });
  });
}

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr, "parley-host-load: %s\nusage: parley-host-load --port P [--address A] [--pid HOST_PID[,PID...]] "
               "[--clients 250,500,1000,1500] [--warmup S] [--duration S] [--connect-rate N] [--agent ID] "
               "[--key KEY] [--origin URL] [--signal silence|tone] [--names same|unique] "
               "[--metrics-ports P[,P...]] [--json]\n", message);
  std::exit(64);
}

// "250,500,1000": numbers in 1..max, else the usage error names `flag`.
std::vector<long> parse_number_list(const std::string& flag, const std::string& text, long max) {
  std::vector<long> numbers;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < 1 || value > max)
      usage((flag + ": a list like 250,500,1000 (each 1.." + std::to_string(max) + ")").c_str());
    numbers.push_back(value);
  }
  if (numbers.empty()) usage((flag + ": empty list").c_str());
  return numbers;
}

double parse_positive(const std::string& flag, const std::string& text, double max) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0) || value > max)
    usage((flag + ": a number in (0, " + std::to_string(static_cast<int>(max)) + "]").c_str());
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--json") {  // the one flag without a value
      options.json = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const std::string value = argv[i + 1];
    if (flag == "--port") options.port = value;
    else if (flag == "--address") options.address = value;
    else if (flag == "--pid") options.host_pids = parse_number_list(flag, value, 1L << 30);
    else if (flag == "--metrics-ports")
      for (const long port : parse_number_list(flag, value, 65535)) options.metrics_ports.push_back(std::to_string(port));
    else if (flag == "--clients")
      for (const long n : parse_number_list(flag, value, 20000)) options.clients.push_back(static_cast<int>(n));
    else if (flag == "--warmup") options.warmup_s = parse_positive(flag, value, 600);
    else if (flag == "--duration") options.duration_s = parse_positive(flag, value, 3600);
    else if (flag == "--connect-rate") options.connect_rate = parse_positive(flag, value, 10000);
    else if (flag == "--agent") options.agent = value;
    else if (flag == "--key") options.key = value;
    else if (flag == "--origin") options.origin = value;
    else if (flag == "--signal" && (value == "silence" || value == "tone")) options.tone = value == "tone";
    else if (flag == "--names" && (value == "same" || value == "unique")) options.unique_names = value == "unique";
    else usage(("unknown option or value: " + flag + " " + value).c_str());
  }
  if (options.port.empty()) usage("--port is required");
  if (options.clients.empty()) options.clients = {250, 500, 1000, 1500};
  if (options.metrics_ports.empty()) options.metrics_ports.push_back(options.port);
  return options;
}

// Enough descriptors for the largest N (each client holds one socket).
void raise_fd_limit(int clients) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(clients) + 64;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted)
    std::fprintf(stderr, "warning: open-file limit %llu < %llu: raise `ulimit -n`\n",
                 static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(wanted));
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  raise_fd_limit(*std::max_element(options.clients.begin(), options.clients.end()));

  parley::StartRequest request;
  request.agent_id = options.agent;
  request.metadata = parley::json{{"userName", "Load"}, {"plan", "bench"}};
  // Both frames are built (and masked) once: every client sends the same bytes.
  constexpr std::array<std::uint8_t, 4> key = {0x37, 0xfa, 0x21, 0x3d};
  // With --names unique, client i is "Caller i", so that every greeting's filled text differs.
  std::vector<std::string> initiates;
  const int most = *std::max_element(options.clients.begin(), options.clients.end());
  for (int i = 0; i < (options.unique_names ? most : 1); ++i) {
    if (options.unique_names) request.metadata["userName"] = "Caller " + std::to_string(i);
    initiates.push_back(ws_frame(0x1, parley::make_initiate(request, options.key), key));
  }
  const std::string frame = ws_frame(0x2, make_frame(options.tone), key);

  std::string pids;
  for (const long pid : options.host_pids) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
  std::printf("parley-host-load: %s:%s, host pid %s, %s frames of %zu bytes every 20 ms, ping 1/s, "
              "warmup %.0f s, measured %.0f s\n",
              options.address.c_str(), options.port.c_str(), pids.empty() ? "-" : pids.c_str(),
              options.tone ? "tone" : "silence", kFrameBytes, options.warmup_s, options.duration_s);
  std::printf("%6s %6s %9s %8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %8s %7s\n", "N", "held", "frames/s",
              "dropped", "hdl_p50", "hdl_p99", "loop_p99", "rtt_p50", "rtt_p99", "rtt_max", "lag_p99",
              "host_cpu", "ms_cpu/s/st", "host_MiB", "client");
  std::printf("%6s %6s %9s %8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %8s %7s\n", "", "", "", "", "ms", "ms",
              "ms", "ms", "ms", "ms", "ms", "", "", "", "cpu");
  for (const int n : options.clients) run_level(options, n, initiates, frame);
  return 0;
}
