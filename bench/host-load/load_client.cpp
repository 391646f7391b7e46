// parley-host-load: N voice clients against a running parley-host, on one io thread.
//
// Each client connects to /v1/voice, sends `initiate` (built by the core's make_initiate), and
// after `onready` streams one 640-byte PCM16 frame (20 ms at 16 kHz) every 20 ms at real time,
// in one of 20 one-millisecond slots chosen at random so the load is spread evenly. One pacing
// timer (1 ms ticks on an absolute schedule) serves all clients, because a timer per client
// made the client, not the host, the bottleneck. Every 50th frame (once a second) a client
// sends a ping whose data is its send time (steady clock, µs); the pong's round trip is the
// per-frame handling figure (the ping waits in the same host queue as the frames).
//
// For each N it prints: streams held, frames sent, round-trip p50/p99/max, the client's own
// timer lag (if that is large, the client, not the host, is the bottleneck), and the host's CPU
// per stream from /proc/PID/stat (utime+stime) over the measured window.
//
//   parley-host-load --port P [--address 127.0.0.1] [--pid HOST_PID] [--clients 250,500,1000]
//                    [--warmup S] [--duration S] [--connect-rate PER_S] [--agent demo]
//                    [--key demo-public-key] [--origin http://127.0.0.1:1] [--signal silence|tone]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
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
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "parley/protocol.hpp"
#include "parley/start_request.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

constexpr std::size_t kFrameBytes = 640;               // 20 ms of 16 kHz PCM16 mono
constexpr int kFramesPerPing = 50;                     // one ping a second
constexpr std::size_t kMaxQueuedWrites = 50;           // 1 s of backlog: drop frames beyond it

struct Options {
  std::string address = "127.0.0.1";
  std::string port;
  long host_pid = 0;
  std::vector<int> clients = {250, 500, 1000, 1500};
  double warmup_s = 3;
  double duration_s = 10;
  double connect_rate = 250;  // new connections per second
  std::string agent = "demo";
  std::string key = "demo-public-key";
  std::string origin;          // sent as Origin when set
  bool tone = false;
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

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, const Options& options, const std::string& initiate,
         const std::string& frame, Stats& stats, Totals& totals, Pacer& pacer, int slot)
      : options_(options), initiate_(initiate), frame_(frame), stats_(stats), totals_(totals),
        pacer_(pacer), resolver_(io), ws_(io), slot_(slot) {}

  void start() {
    resolver_.async_resolve(options_.address, options_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, r);
                            });
  }

  void stop() {
    stopping_ = true;
    if (!open_) return;
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
      self->open_ = false;
    });
  }

  bool ready() const { return ready_ && open_; }
  bool open() const { return open_; }

  // The pacer's tick for this client, `late_us` after its due time.
  void send_frame(std::int64_t late_us) {
    if (stopping_ || !open_) return;
    stats_.lag_us.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, late_us)));
    if (queue_.size() >= kMaxQueuedWrites) {
      ++stats_.frames_dropped;
      return;
    }
    enqueue(true, {});
    ++stats_.frames_sent;
    if (++frames_ % kFramesPerPing == 0) {
      enqueue(false, R"({"method":"ping","data":")" + std::to_string(now_us()) + "\"}");
      ++stats_.pings_sent;
    }
  }

 private:
  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("resolve", ec);
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).async_connect(
        results, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) { self->on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.secure_prng(false);  // masks need not be unpredictable here; the fast PRNG costs less
    if (!options_.origin.empty()) {
      ws_.set_option(websocket::stream_base::decorator([origin = options_.origin](websocket::request_type& request) {
        request.set(beast::http::field::origin, origin);
      }));
    }
    ws_.async_handshake(options_.address + ":" + options_.port, "/v1/voice",
                        [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail("handshake", ec);
    open_ = true;
    ++totals_.connected;
    enqueue(false, initiate_);
    read();
  }

  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        if (!stopping_) {
          ++totals_.closed_by_host;
          totals_.last_error = "closed by host: " + std::to_string(ws_.reason().code) + " " +
                               std::string(ws_.reason().reason.c_str());
        }
        open_ = false;
        return;
      }
      return fail("read", ec);
    }
    if (ws_.got_text()) on_text(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    read();
  }

  void on_text(const std::string& text) {
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

  // Binary writes send the shared frame; text writes own their string.
  void enqueue(bool binary, std::string text) {
    queue_.push_back({binary, std::move(text)});
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    const Write& next = queue_.front();
    ws_.binary(next.binary);
    const asio::const_buffer buffer = next.binary ? asio::buffer(frame_) : asio::buffer(next.text);
    ws_.async_write(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail("write", ec);
    queue_.pop_front();
    if (!queue_.empty()) write_next();
  }

  void fail(const char* what, beast::error_code ec) {
    if (stopping_) {  // our own close: errors of the writes still queued are expected
      open_ = false;
      return;
    }
    if (!failed_) {
      failed_ = true;
      ++totals_.failed;
      totals_.last_error = std::string(what) + ": " + ec.message();
    }
    open_ = false;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  struct Write {
    bool binary;
    std::string text;
  };

  const Options& options_;
  const std::string& initiate_;
  const std::string& frame_;
  Stats& stats_;
  Totals& totals_;
  Pacer& pacer_;
  tcp::resolver resolver_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  int slot_;
  std::deque<Write> queue_;
  std::uint64_t frames_ = 0;
  bool open_ = false;
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

// utime+stime of a process in seconds, and its resident set in MiB (nullopt: no such pid).
struct ProcessSample {
  double cpu_s = 0;
  double rss_mib = 0;
};
std::optional<ProcessSample> sample_process(long pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto paren = line.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string field; fields >> field;) f.push_back(field);
  // After "pid (comm) ": field 3 (state) is f[0]; utime = field 14 → f[11], stime f[12], rss f[21].
  if (f.size() < 22) return std::nullopt;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_mib = static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
  return ProcessSample{(std::stod(f[11]) + std::stod(f[12])) / tick, std::stod(f[21]) * page_mib};
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

// GET /metrics from the host (blocking; called between phases only). Empty on failure.
std::string fetch_metrics(const Options& options) {
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(options.address, options.port));
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

void run_level(const Options& options, int n, const std::string& initiate, const std::string& frame) {
  asio::io_context io(1);
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
      clients.push_back(std::make_shared<Client>(io, options, initiate, frame, stats, totals,
                                                 pacer, slot(random)));
      clients.back()->start();
    }
    run_until(io, batch_period_s, [] { return false; });
  }
  run_until(io, 15, [&] { return totals.ready + totals.failed + totals.closed_by_host >= n; });

  run_until(io, options.warmup_s, [] { return false; });
  stats.reset();
  const std::string scrape_before = fetch_metrics(options);
  const auto host_before = sample_process(options.host_pid);
  const double self_before = self_cpu_s();
  const auto t0 = Clock::now();
  run_until(io, options.duration_s, [] { return false; });
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto host_after = sample_process(options.host_pid);
  const double self_cpu = self_cpu_s() - self_before;
  const std::string scrape_after = fetch_metrics(options);
  const auto handling = [&](double q) {
    return histogram_quantile_ms(parse_histogram(scrape_before, "ws_message_handling_seconds", "kind=\"binary\""),
                                 parse_histogram(scrape_after, "ws_message_handling_seconds", "kind=\"binary\""), q);
  };
  const auto loop_lag = [&](double q) {
    return histogram_quantile_ms(parse_histogram(scrape_before, "io_loop_lag_seconds", ""),
                                 parse_histogram(scrape_after, "io_loop_lag_seconds", ""), q);
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
  std::fflush(stdout);

  pacer.stop();
  for (auto& client : clients) client->stop();
  run_until(io, 5, [&] {
    return std::none_of(clients.begin(), clients.end(), [](const auto& c) { return c->open(); });
  });
}

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr, "parley-host-load: %s\nusage: parley-host-load --port P [--address A] [--pid HOST_PID] "
               "[--clients 250,500,1000,1500] [--warmup S] [--duration S] [--connect-rate N] [--agent ID] "
               "[--key KEY] [--origin URL] [--signal silence|tone]\n", message);
  std::exit(64);
}

std::vector<int> parse_counts(const std::string& text) {
  std::vector<int> counts;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < 1 || value > 20000) usage("--clients: a list like 250,500,1000 (1..20000)");
    counts.push_back(static_cast<int>(value));
  }
  if (counts.empty()) usage("--clients: empty list");
  return counts;
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
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const std::string value = argv[i + 1];
    if (flag == "--port") options.port = value;
    else if (flag == "--address") options.address = value;
    else if (flag == "--pid") options.host_pid = std::strtol(value.c_str(), nullptr, 10);
    else if (flag == "--clients") options.clients = parse_counts(value);
    else if (flag == "--warmup") options.warmup_s = parse_positive(flag, value, 600);
    else if (flag == "--duration") options.duration_s = parse_positive(flag, value, 3600);
    else if (flag == "--connect-rate") options.connect_rate = parse_positive(flag, value, 10000);
    else if (flag == "--agent") options.agent = value;
    else if (flag == "--key") options.key = value;
    else if (flag == "--origin") options.origin = value;
    else if (flag == "--signal" && (value == "silence" || value == "tone")) options.tone = value == "tone";
    else usage(("unknown option or value: " + flag + " " + value).c_str());
  }
  if (options.port.empty()) usage("--port is required");
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
  const std::string initiate = parley::make_initiate(request, options.key);
  const std::string frame = make_frame(options.tone);

  std::printf("parley-host-load: %s:%s, host pid %ld, %s frames of %zu bytes every 20 ms, ping 1/s, "
              "warmup %.0f s, measured %.0f s\n",
              options.address.c_str(), options.port.c_str(), options.host_pid,
              options.tone ? "tone" : "silence", kFrameBytes, options.warmup_s, options.duration_s);
  std::printf("%6s %6s %9s %8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %8s %7s\n", "N", "held", "frames/s",
              "dropped", "hdl_p50", "hdl_p99", "loop_p99", "rtt_p50", "rtt_p99", "rtt_max", "lag_p99",
              "host_cpu", "ms_cpu/s/st", "host_MiB", "client");
  std::printf("%6s %6s %9s %8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %8s %7s\n", "", "", "", "", "ms", "ms",
              "ms", "ms", "ms", "ms", "ms", "", "", "", "cpu");
  for (const int n : options.clients) run_level(options, n, initiate, frame);
  return 0;
}
