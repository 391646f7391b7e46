// Phone load client (issue 16, bench/phone): N SIP calls to an agent's number on parley-host,
// each a G.711 µ-law RTP stream of 50 packets a second each way, held on libre (the stack the
// host uses: SIP user agent, SDP, RTP; no SIP parsing here). It measures, per run:
// - calls placed and established, and for a burst of calls each greeted by the agent the time
//   from the 200 OK to the greeting's first audio arriving (speech at call start);
// - over a measured window after a warmup: packets the client received from the host, gaps
//   between them longer than a slot and a half (received late, as the caller's phone sees it),
//   the host's own lateness (parley_rtp_send_lag_seconds, parley_rtp_sent_late_total and
//   parley_rtp_in_dropped_total from /metrics, before and after the window), UDP receive-buffer
//   drops in the namespace (/proc/net/snmp), the host's CPU in cores (utime+stime from
//   /proc/PID/stat), the client's own CPU (the reference: a libre program doing the same RTP
//   for N calls, no speech), and the load average;
// - mouth-to-ear: with --talk-every S, each call says a phrase (an 8 kHz or other-rate WAV)
//   every S seconds (random phase, only when the agent has been silent for a second), and the
//   time from the phrase's last voiced packet (the caller stops speaking) to the first audio
//   packet of the agent's reply.
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#define HAVE_INTTYPES_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_INET6 1
extern "C" {
#include <re.h>
#include <rem_g711.h>
}
#undef DEBUG_MODULE

#include "parley/audio/resampler.hpp"
#include "proc_sample.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kSamples = 160;  // 20 ms at 8 kHz
constexpr int kSlots = 20;             // calls spread over the 20 ms in 1 ms slots
constexpr double kLateGapMs = 30;      // a gap this long between two received packets: late
constexpr int kVoiceLevel = 500;       // |sample| above this (about -36 dBFS): the agent speaks

struct Options {
  std::string sip = "127.0.0.1:5060";  // the host's SIP address
  std::string to = "+15550001111";     // the agent's number
  int calls = 500;
  double rate = 50;  // calls placed per second
  double warmup = 3, duration = 10;
  std::string phrase;  // WAV
  double talk_every = 0;
  long pid = 0;
  std::string http = "127.0.0.1";
  std::string http_port;
  int rtp_min = 40000, rtp_max = 59998;
};

double now_ms() {
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

struct Call;
struct Load;

struct Call {
  Load* load = nullptr;
  int index = 0;
  sipsess* sess = nullptr;
  sdp_session* sdp = nullptr;
  sdp_media* media = nullptr;
  struct ::rtp_sock* rtp = nullptr;
  sa remote{};
  bool have_remote = false, established = false, closed = false;
  int slot = 0;
  std::uint32_t ts = 0;
  bool marker = true;
  double invited_ms = 0, answered_ms = 0, greeting_ms = 0;  // 0: not yet
  int close_code = 0;
  // received
  double last_rx_ms = 0, last_voice_ms = 0;
  std::uint64_t rx = 0, rx_late = 0;
  // talking
  double next_talk_ms = 0;
  std::size_t phrase_pos = 0;
  bool talking = false, waiting_reply = false;
  double phrase_end_ms = 0;
};

struct Stats {
  std::vector<double> answer_ms, greeting_ms, mouth_to_ear_ms;
  std::uint64_t no_reply = 0, talks = 0;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A 16-bit mono WAV as µ-law 8 kHz bytes (resampled by the core's resampler when needed).
std::string phrase_ulaw(const std::string& path) {
  const std::string wav = read_all(path);
  if (wav.size() < 44 || wav.compare(0, 4, "RIFF") != 0 || wav.compare(8, 4, "WAVE") != 0)
    throw std::runtime_error(path + ": not a WAV file");
  int rate = 0, channels = 0, bits = 0;
  std::string pcm;
  for (std::size_t at = 12; at + 8 <= wav.size();) {
    std::uint32_t size;
    std::memcpy(&size, wav.data() + at + 4, 4);
    const std::string id = wav.substr(at, 4);
    if (id == "fmt " && at + 24 <= wav.size()) {
      std::uint16_t ch, bps;
      std::uint32_t r;
      std::memcpy(&ch, wav.data() + at + 10, 2);
      std::memcpy(&r, wav.data() + at + 12, 4);
      std::memcpy(&bps, wav.data() + at + 22, 2);
      channels = ch, rate = static_cast<int>(r), bits = bps;
    } else if (id == "data") {
      pcm = wav.substr(at + 8, std::min<std::size_t>(size, wav.size() - at - 8));
    }
    at += 8 + size + (size & 1);
  }
  if (channels != 1 || bits != 16 || pcm.empty())
    throw std::runtime_error(path + ": expected 16-bit mono PCM");
  std::vector<float> in(pcm.size() / 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::int16_t s;
    std::memcpy(&s, pcm.data() + 2 * i, 2);
    in[i] = s / 32768.0f;
  }
  std::vector<float> out = in;
  if (rate != 8000) {
    auto r = parley::audio::Resampler::create(rate, 8000);
    if (!r) throw std::runtime_error(path + ": cannot resample from " + std::to_string(rate));
    out.resize(r->output_count(in.size()));
    auto made = r->process(in.data(), in.size(), out.data(), out.size());
    if (!made) throw std::runtime_error("resampling failed");
    out.resize(*made);
  }
  std::string ulaw;
  for (float v : out) {
    const float x = std::clamp(v * 32768.0f, -32768.0f, 32767.0f);
    ulaw.push_back(static_cast<char>(g711_pcm2ulaw(static_cast<std::int16_t>(std::lround(x)))));
  }
  ulaw.resize((ulaw.size() + kSamples - 1) / kSamples * kSamples, static_cast<char>(0xff));
  return ulaw;
}

struct Load {
  Options options;
  std::string phrase;
  std::size_t phrase_voiced_end = 0;  // bytes up to the end of the phrase's last voiced packet
  ::sip* stack = nullptr;
  sipsess_sock* sock = nullptr;
  sa laddr{};
  std::vector<Call*> calls;
  std::vector<std::vector<Call*>> slots{kSlots};
  tmr pacer{};
  double pacer_next_ms = 0;
  std::uint64_t tick = 0;
  std::vector<double> lag_ms;  // the client's own pacer lateness, in the window
  bool in_window = false;
  Stats stats;
  std::mt19937 random{4242};

  static void on_pacer(void* arg) {
    auto* self = static_cast<Load*>(arg);
    const double now = now_ms();
    if (self->in_window) self->lag_ms.push_back(now - self->pacer_next_ms);
    for (Call* call : self->slots[self->tick % kSlots]) self->send(call, now);
    ++self->tick;
    self->pacer_next_ms += 1.0;
    if (self->pacer_next_ms + 100 < now) self->pacer_next_ms = now + 1.0;  // stalled
    const double wait = self->pacer_next_ms - now_ms();
    tmr_start(&self->pacer, wait > 0 ? static_cast<std::uint64_t>(wait) : 0, on_pacer, self);
  }

  void send(Call* call, double now) {
    if (!call->established || call->closed || !call->have_remote) return;
    const char* payload = nullptr;
    if (!call->talking && !phrase.empty() && options.talk_every > 0 && now >= call->next_talk_ms) {
      // Talk only into silence (no agent audio for a second), so the reply is this phrase's.
      if (!call->waiting_reply && now - call->last_voice_ms > 1000 && call->greeting_ms > 0) {
        call->talking = true;
        call->phrase_pos = 0;
        ++stats.talks;
      } else {
        call->next_talk_ms = now + 500;
      }
    }
    if (call->talking) {
      payload = phrase.data() + call->phrase_pos;
      call->phrase_pos += kSamples;
      if (call->phrase_pos == phrase_voiced_end) {
        // The phrase's last voiced packet: the caller has stopped speaking when it has played.
        call->waiting_reply = true;
        call->phrase_end_ms = now + 20;
      }
      if (call->phrase_pos >= phrase.size()) {
        call->talking = false;
        call->next_talk_ms = now + options.talk_every * 1000;
      }
    }
    mbuf* mb = mbuf_alloc(RTP_HEADER_SIZE + kSamples);
    if (!mb) return;
    mb->pos = RTP_HEADER_SIZE;
    if (payload) mbuf_write_mem(mb, reinterpret_cast<const std::uint8_t*>(payload), kSamples);
    else mbuf_fill(mb, 0xff, kSamples);
    mb->pos = RTP_HEADER_SIZE;
    rtp_send(call->rtp, &call->remote, false, call->marker, 0, call->ts, mb);
    call->marker = false;
    call->ts += kSamples;
    mem_deref(mb);
  }

  static void on_rtp(const sa*, const rtp_header* hdr, mbuf* mb, void* arg) {
    auto* call = static_cast<Call*>(arg);
    Load* self = call->load;
    if (hdr->pt != 0) return;
    const double now = now_ms();
    if (self->in_window) {
      ++call->rx;
      if (call->last_rx_ms > 0 && now - call->last_rx_ms > kLateGapMs) ++call->rx_late;
    }
    call->last_rx_ms = now;
    const std::uint8_t* p = mbuf_buf(mb);
    const std::size_t n = mbuf_get_left(mb);
    bool voice = false;
    for (std::size_t i = 0; i < n && !voice; ++i) voice = std::abs(g711_ulaw2pcm(p[i])) > kVoiceLevel;
    if (!voice) return;
    call->last_voice_ms = now;
    if (call->greeting_ms == 0 && call->answered_ms > 0) {
      call->greeting_ms = now;
      self->stats.greeting_ms.push_back(now - call->answered_ms);
    }
    if (call->waiting_reply && now >= call->phrase_end_ms) {
      call->waiting_reply = false;
      self->stats.mouth_to_ear_ms.push_back(now - call->phrase_end_ms);
    }
  }

  static int on_answer(const sip_msg* msg, void* arg) {
    auto* call = static_cast<Call*>(arg);
    if (int err = sdp_decode(call->sdp, msg->mb, false)) return err;
    const sa* raddr = sdp_media_raddr(call->media);
    if (raddr && sa_isset(raddr, SA_ALL)) {
      call->remote = *raddr;
      call->have_remote = true;
    }
    return 0;
  }

  static void on_established(const sip_msg*, void* arg) {
    auto* call = static_cast<Call*>(arg);
    call->established = true;
    call->answered_ms = now_ms();
    call->load->stats.answer_ms.push_back(call->answered_ms - call->invited_ms);
  }

  static void on_close(int err, const sip_msg* msg, void* arg) {
    auto* call = static_cast<Call*>(arg);
    call->closed = true;
    call->close_code = msg ? msg->scode : -err;
    call->sess = static_cast<sipsess*>(mem_deref(call->sess));
  }

  static void on_incoming(const sip_msg* msg, void* arg) {
    auto* self = static_cast<Load*>(arg);
    sip_treply(nullptr, self->stack, msg, 486, "Busy Here");
  }

  std::string setup() {
    if (int err = libre_init()) return "libre_init: " + std::string(strerror(err));
    fd_setsize(65536);
    sa_set_str(&laddr, "127.0.0.1", 0);
    if (sip_alloc(&stack, nullptr, 32, 32, 32, "parley-phone-load", nullptr, nullptr))
      return "sip_alloc failed";
    if (int err = sip_transp_add(stack, SIP_TRANSP_UDP, &laddr))
      return "SIP UDP listen: " + std::string(strerror(err));
    if (sipsess_listen(&sock, stack, 1024, on_incoming, this)) return "sipsess_listen failed";
    return {};
  }

  // Places call `index` (From: a number of its own, so that memory by phone keeps them apart).
  void place(int index) {
    auto* call = new Call;
    call->load = this;
    call->index = index;
    call->slot = index % kSlots;
    call->ts = rand_u32();
    calls.push_back(call);
    call->invited_ms = now_ms();
    sa rtp_addr = laddr;
    int err = rtp_listen(&call->rtp, IPPROTO_UDP, &rtp_addr, static_cast<std::uint16_t>(options.rtp_min),
                         static_cast<std::uint16_t>(options.rtp_max), false, on_rtp, nullptr, call);
    if (!err) err = sdp_session_alloc(&call->sdp, &laddr);
    if (!err) err = sdp_media_add(&call->media, call->sdp, "audio", sa_port(rtp_local(call->rtp)), "RTP/AVP");
    if (!err)
      err = sdp_format_add(nullptr, call->media, false, "0", "PCMU", 8000, 1, nullptr, nullptr,
                           nullptr, false, nullptr);
    mbuf* offer = nullptr;
    if (!err) err = sdp_encode(&offer, call->sdp, true);
    char from_user[32];
    std::snprintf(from_user, sizeof from_user, "+1555%07d", 2000000 + index);
    const std::string to_uri = "sip:" + options.to + "@" + options.sip;
    const std::string from_uri = std::string("sip:") + from_user + "@127.0.0.1";
    if (!err)
      err = sipsess_connect(&call->sess, sock, to_uri.c_str(), nullptr, from_uri.c_str(), from_user,
                            nullptr, 0, "application/sdp", offer, nullptr, nullptr, false, nullptr,
                            on_answer, nullptr, on_established, nullptr, nullptr, on_close, call, "");
    mem_deref(offer);
    if (err) {
      call->closed = true;
      call->close_code = -err;
      return;
    }
    slots[static_cast<std::size_t>(call->slot)].push_back(call);
    if (options.talk_every > 0)
      call->next_talk_ms = call->invited_ms + options.warmup * 1000 / 2 +
                           std::uniform_real_distribution<double>(0, options.talk_every * 1000)(random);
  }

  void hang_up_all() {
    for (Call* call : calls) {
      call->closed = true;
      call->sess = static_cast<sipsess*>(mem_deref(call->sess));  // BYE
    }
  }

  void free_all() {
    tmr_cancel(&pacer);
    for (Call* call : calls) {
      mem_deref(call->sess);
      mem_deref(call->rtp);
      mem_deref(call->sdp);
      delete call;
    }
    calls.clear();
    sock = static_cast<sipsess_sock*>(mem_deref(sock));
    if (stack) sip_close(stack, true);
    stack = static_cast<::sip*>(mem_deref(stack));
  }
};

// Runs libre's loop for `ms`, then returns.
void run_for(double ms) {
  tmr stop{};
  tmr_init(&stop);
  tmr_start(&stop, static_cast<std::uint64_t>(ms), [](void*) { re_cancel(); }, nullptr);
  re_main(nullptr);
  tmr_cancel(&stop);
}

using parley::bench::ProcessSample;
using parley::bench::sample_process;

double self_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// UDP RcvbufErrors in this network namespace (/proc/net/snmp).
std::uint64_t udp_rcvbuf_errors() {
  std::ifstream in("/proc/net/snmp");
  std::string names, values;
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 4, "Udp:") != 0) continue;
    if (names.empty()) names = line;
    else values = line;
  }
  std::istringstream n(names), v(values);
  for (std::string name, value; n >> name && v >> value;)
    if (name == "RcvbufErrors") return std::stoull(value);
  return 0;
}

std::string fetch_metrics(const Options& options) {
  if (options.http_port.empty()) return {};
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(options.http, options.http_port));
    beast::http::request<beast::http::empty_body> request{beast::http::verb::get, "/metrics", 11};
    request.set(beast::http::field::host, options.http);
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    return response.body();
  } catch (const std::exception&) {
    return {};
  }
}

// A metric's value (first line starting with `name` + space or `{...} `), NaN if absent.
double metric(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() <= name.size() || line[name.size()] != ' ') continue;
    return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return std::nan("");
}

// Quantile q of the send-lag histogram between two scrapes, in ms (bucket upper bound).
double send_lag_quantile_ms(const std::string& before, const std::string& after, double q) {
  static const char* bounds[] = {"0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "+Inf"};
  std::vector<double> counts;
  for (const char* b : bounds) {
    const std::string name = std::string("parley_rtp_send_lag_seconds_bucket{le=\"") + b + "\"}";
    counts.push_back(metric(after, name) - metric(before, name));
  }
  const double total = counts.back();
  if (!(total > 0)) return std::nan("");
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (counts[i] >= q * total) return i + 1 < counts.size() ? std::strtod(bounds[i], nullptr) * 1000 : INFINITY;
  return std::nan("");
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * double(v.size() - 1) + 0.5)];
}

struct Snapshot {
  std::string metrics;
  std::optional<ProcessSample> host;
  double client_cpu = 0, at_ms = 0, metrics_ms = 0;  // metrics_ms: the middle of the scrape
  std::uint64_t udp_drops = 0;
};

Snapshot snapshot(const Options& options) {
  Snapshot s;
  s.at_ms = now_ms();
  s.host = sample_process(options.pid);
  s.client_cpu = self_cpu_s();
  s.udp_drops = udp_rcvbuf_errors();
  const double asked = now_ms();
  s.metrics = fetch_metrics(options);
  s.metrics_ms = (asked + now_ms()) / 2;
  return s;
}

int usage() {
  std::cerr << "usage: parley-phone-load [--sip HOST:PORT] [--to NUMBER] [--calls N] [--rate N/s]\n"
               "  [--warmup S] [--duration S] [--phrase WAV --talk-every S] [--pid HOST_PID]\n"
               "  [--http-port PORT (the host's /metrics)] [--rtp-ports LO-HI]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    try {
      if (a == "--sip") o.sip = v;
      else if (a == "--to") o.to = v;
      else if (a == "--calls") o.calls = std::stoi(v);
      else if (a == "--rate") o.rate = std::stod(v);
      else if (a == "--warmup") o.warmup = std::stod(v);
      else if (a == "--duration") o.duration = std::stod(v);
      else if (a == "--phrase") o.phrase = v;
      else if (a == "--talk-every") o.talk_every = std::stod(v);
      else if (a == "--pid") o.pid = std::stol(v);
      else if (a == "--http-port") o.http_port = v;
      else if (a == "--rtp-ports") {
        o.rtp_min = std::stoi(v.substr(0, v.find('-')));
        o.rtp_max = std::stoi(v.substr(v.find('-') + 1));
      } else return usage();
    } catch (const std::exception&) {
      std::cerr << a << ": not a valid value: " << v << "\n";
      return 64;
    }
  }
  if (o.calls < 1 || o.rate <= 0 || o.duration <= 0) return usage();
  if (o.talk_every > 0 && o.phrase.empty()) {
    std::cerr << "--talk-every needs --phrase WAV\n";
    return 64;
  }
  Load load;
  load.options = o;
  try {
    if (!o.phrase.empty()) load.phrase = phrase_ulaw(o.phrase);
    for (std::size_t at = 0; at < load.phrase.size(); ++at)
      if (std::abs(g711_ulaw2pcm(static_cast<std::uint8_t>(load.phrase[at]))) > kVoiceLevel)
        load.phrase_voiced_end = (at / kSamples + 1) * kSamples;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  if (std::string err = load.setup(); !err.empty()) {
    std::cerr << err << "\n";
    return 2;
  }
  tmr_init(&load.pacer);
  load.pacer_next_ms = now_ms() + 1;
  tmr_start(&load.pacer, 1, Load::on_pacer, &load);

  // 1. Place the calls at --rate, in 10 ms steps.
  const double start = now_ms();
  int placed = 0;
  while (placed < o.calls) {
    const int due = std::min(o.calls, static_cast<int>((now_ms() - start) / 1000.0 * o.rate) + 1);
    while (placed < due) load.place(placed++);
    run_for(10);
  }
  const double placed_s = (now_ms() - start) / 1000.0;
  // 2. Wait for the answers (at most 30 s), then the warmup.
  const double deadline = now_ms() + 30000;
  auto settled = [&] {
    return std::all_of(load.calls.begin(), load.calls.end(),
                       [](Call* c) { return c->established || c->closed; });
  };
  while (!settled() && now_ms() < deadline) run_for(50);
  const double all_answered_s = (now_ms() - start) / 1000.0;
  run_for(o.warmup * 1000);

  // 3. The window.
  for (Call* c : load.calls) c->rx = c->rx_late = 0;
  auto before_f = std::async(std::launch::async, [&] { return snapshot(o); });
  load.in_window = true;
  run_for(o.duration * 1000);
  load.in_window = false;
  auto after_f = std::async(std::launch::async, [&] { return snapshot(o); });
  const std::string loadavg = load_average();
  const Snapshot before = before_f.get();
  // Keep the calls' RTP going while the scrape runs.
  run_for(100);
  const Snapshot after = after_f.get();

  int established = 0, closed = 0, held = 0;
  std::uint64_t rx = 0, rx_late = 0;
  for (Call* c : load.calls) {
    if (c->answered_ms > 0) ++established;
    if (c->closed) ++closed;
    if (c->established && !c->closed) ++held;
    rx += c->rx;
    rx_late += c->rx_late;
  }
  for (Call* c : load.calls)
    if (c->waiting_reply && now_ms() - c->phrase_end_ms > 5000) ++load.stats.no_reply;
  const double window_s = (after.at_ms - before.at_ms) / 1000.0;
  const double host_cores = before.host && after.host ? (after.host->cpu_s - before.host->cpu_s) / window_s : std::nan("");
  const double client_cores = (after.client_cpu - before.client_cpu) / window_s;
  auto delta = [&](const char* name) { return metric(after.metrics, name) - metric(before.metrics, name); };
  const double metrics_s = (after.metrics_ms - before.metrics_ms) / 1000.0;
  const double sent = delta("parley_rtp_packets_out_total");
  const double sent_late = delta("parley_rtp_sent_late_total");
  const double in_dropped = delta("parley_rtp_in_dropped_total");
  const double host_in = delta("parley_rtp_packets_in_total");

  std::printf("calls %d placed in %.1f s (%.0f/s); answered %d, all settled %.1f s after the first; "
              "held to the end %d, closed %d\n",
              o.calls, placed_s, o.calls / std::max(placed_s, 1e-3), established, all_answered_s, held, closed);
  if (closed > 0) {
    std::map<int, int> codes;
    for (Call* c : load.calls)
      if (c->closed) ++codes[c->close_code];
    std::printf("  closed by code (SIP status, or -errno):");
    for (auto& [code, n] : codes) std::printf(" %d x%d", code, n);
    std::printf("\n");
  }
  std::printf("answer (INVITE -> 200 OK) ms: p50 %.1f p99 %.1f max %.1f\n",
              percentile(load.stats.answer_ms, 0.5), percentile(load.stats.answer_ms, 0.99),
              percentile(load.stats.answer_ms, 1.0));
  std::printf("greeting (200 OK -> its first audio at the caller) ms: n %zu p50 %.1f p99 %.1f max %.1f\n",
              load.stats.greeting_ms.size(), percentile(load.stats.greeting_ms, 0.5),
              percentile(load.stats.greeting_ms, 0.99), percentile(load.stats.greeting_ms, 1.0));
  std::printf("window %.1f s, load average %s\n", window_s, loadavg.c_str());
  std::printf("%6s %6s %9s %9s %8s %9s %9s %8s %8s %8s %8s %9s %9s %8s %8s\n", "calls", "held",
              "host_in/s", "host_out/s", "sent_late", "lag_p50", "lag_p99", "in_drop", "udp_drop",
              "rx_late", "cl_lag99", "host_cores", "calls/core", "host_MiB", "client");
  std::printf("%6d %6d %9.0f %9.0f %8.0f %9.1f %9.1f %8.0f %8llu %8llu %8.2f %9.3f %9.0f %8.1f %8.3f\n",
              o.calls, held, host_in / metrics_s, sent / metrics_s, sent_late,
              send_lag_quantile_ms(before.metrics, after.metrics, 0.5),
              send_lag_quantile_ms(before.metrics, after.metrics, 0.99), in_dropped,
              static_cast<unsigned long long>(after.udp_drops - before.udp_drops),
              static_cast<unsigned long long>(rx_late), percentile(load.lag_ms, 0.99), host_cores,
              held / host_cores, after.host ? after.host->rss_mib : std::nan(""), client_cores);
  std::printf("reference: the load client (libre, the same RTP for %d calls, no speech) used %.3f cores; "
              "host / client %.2f\n",
              held, client_cores, host_cores / client_cores);
  if (o.talk_every > 0)
    std::printf("phrase: %.2f s, voiced to %.2f s\n", static_cast<double>(load.phrase.size()) / 8000.0,
                static_cast<double>(load.phrase_voiced_end) / 8000.0);
  if (o.talk_every > 0)
    std::printf("mouth-to-ear (the phrase's last voiced packet -> the reply's first audio) ms: phrases %llu, replies %zu, "
                "p50 %.0f p95 %.0f max %.0f, no reply within 5 s %llu\n",
                static_cast<unsigned long long>(load.stats.talks), load.stats.mouth_to_ear_ms.size(),
                percentile(load.stats.mouth_to_ear_ms, 0.5), percentile(load.stats.mouth_to_ear_ms, 0.95),
                percentile(load.stats.mouth_to_ear_ms, 1.0),
                static_cast<unsigned long long>(load.stats.no_reply));

  // 4. Hang up (BYE each) and let the BYEs leave.
  load.hang_up_all();
  run_for(1500);
  load.free_all();
  libre_close();
  return held == o.calls ? 0 : 1;
}
