// SipEngine on libre: see sip_engine.hpp. Everything named Leg and everything of libre lives
// on the SIP thread; the io thread reaches it only through Impl::run_on_sip().
#include "sip_engine.hpp"

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <optional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/post.hpp>

// libre and librem are C headers written for their own build: these are the feature macros
// their build defines (the Debian package is built with IPv6).
#define HAVE_INTTYPES_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_INET6 1
extern "C" {
#include <re.h>
#include <rem_g711.h>
}
#undef DEBUG_MODULE

#include "parley/audio/resampler.hpp"
#include "parley/host/config.hpp"
#include "parley/host/log.hpp"

namespace parley::host::sip {

const char* codec_name(Codec codec) { return codec == Codec::pcmu ? "PCMU" : "PCMA"; }

namespace {

constexpr std::uint32_t kTickMs = 20;
constexpr std::size_t kSamples8k = 160;   // 20 ms at 8 kHz
constexpr std::size_t kMaxPayload8k = 480;  // the longest packet we decode: 60 ms
constexpr std::uint32_t kMediaTimeoutMs = 60000;  // no RTP for this long ends a live call

std::string pl_string(const pl& p) { return std::string(p.p ? p.p : "", p.l); }

struct Tasks {
  std::mutex mutex;
  std::vector<std::function<void()>> queue;
};

}  // namespace

// One call, on the SIP thread.
struct Leg {
  SipEngine::Impl* impl = nullptr;
  std::uint64_t id = 0;
  bool outbound = true;
  sipsess* sess = nullptr;
  sdp_session* sdp = nullptr;
  sdp_media* media = nullptr;
  struct ::rtp_sock* rtp = nullptr;
  jbuf* jitter = nullptr;
  telev* tel = nullptr;
  tmr ring_timer{};
  bool rang = false, established = false, hangup_when_drained = false;
  Codec codec = Codec::pcmu;
  int pt = 0, telev_pt = -1;
  sa remote_rtp{};
  bool have_remote = false;
  // Out: encoded 20 ms payloads from the io thread.
  std::deque<std::string> out;
  std::uint32_t ts = 0;
  bool marker = true;
  // In: the core's resampler, 8 kHz -> 16 kHz.
  std::optional<audio::Resampler> up;
  std::uint64_t last_rtp_ms = 0;
  std::uint32_t last_dtmf_ts = 0;
  bool dtmf_seen = false;
  std::uint32_t jitter_overflows = 0;  // the jitter buffer's overflow count, counted so far
  std::string cuser;  // our user part in this dialog (Contact)
  // Where a number is transferred to: the trunk's HOST:PORT (outbound) or the caller's
  // address (inbound), with ";transport=tcp" when the call runs over TCP.
  std::string peer;
  // A transfer under way (REFER sent): its implicit subscription, the outcome's receiver
  // (set while the outcome is not known) and the deadline for a final NOTIFY.
  sipsub* refer = nullptr;
  std::function<void(TransferResult)> transfer_done;
  tmr transfer_timer{};
};

struct SipEngine::Impl : std::enable_shared_from_this<SipEngine::Impl> {
  boost::asio::io_context& io;
  SipConfig config;
  std::vector<std::string> numbers;
  InboundHandler inbound;
  EngineCounters counters;

  // ---- io thread side
  std::unordered_map<std::uint64_t, std::weak_ptr<CallEvents>> events;  // io thread only
  std::map<std::uint64_t, audio::Resampler> down;                      // io thread only
  std::map<std::uint64_t, Codec> codecs;                               // io thread only
  std::atomic<std::uint64_t> next_id{1};

  // ---- cross-thread
  Tasks tasks;
  mqueue* wake = nullptr;  // created on the SIP thread before start() returns
  std::thread thread;
  std::promise<std::string>* started = nullptr;

  // ---- SIP thread side
  ::sip* stack = nullptr;
  sipsess_sock* sock = nullptr;
  sipevent_sock* event_sock = nullptr;  // the NOTIFYs of our REFERs' subscriptions
  sa laddr{};
  std::string contact_host;  // for SDP c= and From/Contact
  std::unordered_map<std::uint64_t, Leg*> legs;
  tmr tick{};
  std::uint64_t next_tick_ms = 0;
  struct Bucket {
    double tokens = 0;
    std::uint64_t at_ms = 0;
  };
  std::unordered_map<std::string, Bucket> buckets;
  std::uint64_t buckets_swept_ms = 0;
  bool stopping = false;

  Impl(boost::asio::io_context& i, SipConfig c, std::vector<std::string> n, InboundHandler h)
      : io(i), config(std::move(c)), numbers(std::move(n)), inbound(std::move(h)) {}

  // The converters every call copies, designed once: Resampler::create runs a Parks-McClellan
  // design, and one per call and direction took about a quarter of the host's core while 100
  // calls a second were set up (perf, bench/phone). Read-only after construction: the SIP
  // thread copies `up`, the io thread `down`. (Fixed, valid rates: create() cannot fail.)
  static audio::Resampler designed(int in_rate, int out_rate) {
    return std::move(*audio::Resampler::create(in_rate, out_rate));
  }
  const audio::Resampler up_design = designed(8000, 16000);
  const audio::Resampler down_design = designed(16000, 8000);

  // Any thread: runs `task` on the SIP thread.
  void run_on_sip(std::function<void()> task) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(tasks.mutex);
      was_empty = tasks.queue.empty();
      tasks.queue.push_back(std::move(task));
    }
    if (was_empty && wake) mqueue_push(wake, 0, nullptr);
  }

  // SIP thread: posts `fn(events)` for call `id` to the io thread.
  template <class F>
  void to_io(std::uint64_t id, F fn) {
    boost::asio::post(io, [self = shared_from_this(), id, fn = std::move(fn)]() mutable {
      auto it = self->events.find(id);
      if (it == self->events.end()) return;
      auto target = it->second.lock();
      if (target) fn(*target);
    });
  }

  void end_on_io(std::uint64_t id, CallEnd end) {
    boost::asio::post(io, [self = shared_from_this(), id, end = std::move(end)] {
      auto it = self->events.find(id);
      if (it == self->events.end()) return;
      auto target = it->second.lock();
      self->events.erase(it);
      self->down.erase(id);
      self->codecs.erase(id);
      if (target) target->ended(end);
    });
  }

  static void on_wake(int, void*, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(self->tasks.mutex);
      batch.swap(self->tasks.queue);
    }
    for (auto& task : batch) task();
  }

  // ---- the SIP thread's life
  void run(std::string listen_addr, std::uint16_t listen_port) {
    std::string error = setup(listen_addr, listen_port);
    std::promise<std::string>* p = started;
    started = nullptr;
    if (!error.empty()) {
      teardown();
      p->set_value(error);
      return;
    }
    p->set_value({});
    re_main(nullptr);
    teardown();
  }

  std::string setup(const std::string& listen_addr, std::uint16_t listen_port) {
    media_first();
    static std::once_flag once;
    std::call_once(once, [] { libre_init(); });
    if (int err = re_thread_init(); err) return "re_thread_init failed: " + std::string(strerror(err));
    fd_setsize(65536);
    if (mqueue_alloc(&wake, on_wake, this)) return "cannot make the SIP thread's wake-up queue";
    if (sa_set_str(&laddr, listen_addr.c_str(), listen_port))
      return "server.sip.listen: \"" + listen_addr + "\" is not an IP address";
    contact_host = config.public_address.empty() ? listen_addr : config.public_address;
    if (int err = sip_alloc(&stack, nullptr, 32, 32, 32, "parley-host", nullptr, nullptr); err)
      return "sip_alloc failed: " + std::string(strerror(err));
    if (int err = sip_transp_add(stack, SIP_TRANSP_UDP, &laddr); err)
      return "cannot listen for SIP on UDP " + listen_addr + ":" + std::to_string(listen_port) +
             ": " + strerror(err);
    sa bound{};
    if (sip_transp_laddr(stack, &bound, SIP_TRANSP_UDP, nullptr) == 0) sa_set_port(&laddr, sa_port(&bound));
    if (int err = sip_transp_add(stack, SIP_TRANSP_TCP, &laddr); err)
      return "cannot listen for SIP on TCP port " + std::to_string(sa_port(&laddr)) + ": " +
             strerror(err);
    if (int err = sipsess_listen(&sock, stack, 32, on_invite, this); err)
      return "sipsess_listen failed: " + std::string(strerror(err));
    // Nobody subscribes to us (a SUBSCRIBE is left to libre's default answer).
    if (int err = sipevent_listen(&event_sock, stack, 32, 32, nullptr, nullptr); err)
      return "sipevent_listen failed: " + std::string(strerror(err));
    next_tick_ms = tmr_jiffies() + kTickMs;
    tmr_start(&tick, kTickMs, on_tick, this);
    return {};
  }

  // Under a real-time policy (the host started with chrt, as the benchmarks do), the SIP
  // thread runs one priority above the io thread that started it: at the same SCHED_FIFO
  // priority the io thread, busy with a burst of posted frames, would hold the core until it
  // had drained them all, and every call's next packet would wait. Media goes first.
  static void media_first() {
    const int policy = sched_getscheduler(0);
    if (policy != SCHED_FIFO && policy != SCHED_RR) return;
    sched_param param{};
    if (sched_getparam(0, &param) != 0) return;
    if (param.sched_priority < sched_get_priority_max(policy)) ++param.sched_priority;
    (void)pthread_setschedparam(pthread_self(), policy, &param);
  }

  void teardown() {
    tmr_cancel(&tick);
    send_buf = static_cast<mbuf*>(mem_deref(send_buf));
    for (auto& [id, leg] : legs) free_leg(leg);
    legs.clear();
    event_sock = static_cast<sipevent_sock*>(mem_deref(event_sock));
    sock = static_cast<sipsess_sock*>(mem_deref(sock));
    if (stack) sip_close(stack, true);
    stack = static_cast<::sip*>(mem_deref(stack));
    wake = static_cast<mqueue*>(mem_deref(wake));
    re_thread_close();
  }

  // Stops: every call hung up (BYE/CANCEL sent by libre as the sessions go), then the loop.
  void stop() {
    stopping = true;
    std::vector<std::uint64_t> ids;
    for (auto& [id, leg] : legs) ids.push_back(id);
    for (auto id : ids) finish(id, {"completed", 0, "shutdown"}, true);
    // Let the BYEs / CANCELs leave (UDP: at once; TCP: the connection writes them).
    tmr_start(&stop_timer, 50, [](void*) { re_cancel(); }, nullptr);
  }
  tmr stop_timer{};

  // ---- legs
  Leg* make_leg(std::uint64_t id, bool outbound) {
    auto* leg = new Leg;
    leg->impl = this;
    leg->id = id;
    leg->outbound = outbound;
    tmr_init(&leg->ring_timer);
    tmr_init(&leg->transfer_timer);
    leg->ts = rand_u32();
    legs[id] = leg;
    return leg;
  }

  void free_leg(Leg* leg) {
    tmr_cancel(&leg->ring_timer);
    if (leg->transfer_done)
      transfer_report(leg, {false, "transfer_failed", 0,
                            "the call ended before the trunk reported the transfer's outcome"});
    tmr_cancel(&leg->transfer_timer);
    leg->refer = static_cast<sipsub*>(mem_deref(leg->refer));
    leg->sess = static_cast<sipsess*>(mem_deref(leg->sess));  // BYE or CANCEL as needed
    leg->rtp = static_cast<struct ::rtp_sock*>(mem_deref(leg->rtp));
    leg->jitter = static_cast<jbuf*>(mem_deref(leg->jitter));
    leg->tel = static_cast<telev*>(mem_deref(leg->tel));
    leg->sdp = static_cast<sdp_session*>(mem_deref(leg->sdp));
    delete leg;
  }

  // Ends call `id` once: frees its libre objects and tells the io thread.
  void finish(std::uint64_t id, CallEnd end, bool hang_up) {
    auto it = legs.find(id);
    if (it == legs.end()) return;
    Leg* leg = it->second;
    legs.erase(it);
    credentials_.erase(id);
    if (!hang_up && leg->sess) {
      // The far end already closed the session: libre must not send anything more.
      leg->sess = static_cast<sipsess*>(mem_deref(leg->sess));
    }
    free_leg(leg);
    log_event(LogLevel::info, "sip.call_ended",
              "call " + std::to_string(id) + ": " + end.status +
                  (end.sip_code ? " (SIP " + std::to_string(end.sip_code) + ")" : "") + ", " +
                  end.reason);
    end_on_io(id, std::move(end));
  }

  // SDP and RTP for a leg: an RTP socket in rtp_ports, PCMU, PCMA and telephone-event.
  int media_setup(Leg* leg) {
    sa rtp_addr = laddr;
    sa_set_port(&rtp_addr, 0);
    int err = rtp_listen(&leg->rtp, IPPROTO_UDP, &rtp_addr,
                         static_cast<std::uint16_t>(config.rtp_port_min),
                         static_cast<std::uint16_t>(config.rtp_port_max), true, on_rtp, nullptr,
                         leg);
    if (err) return err;
    sa sdp_addr{};
    sa_set_str(&sdp_addr, contact_host.c_str(), 0);
    if ((err = sdp_session_alloc(&leg->sdp, &sdp_addr))) return err;
    if ((err = sdp_media_add(&leg->media, leg->sdp, "audio", sa_port(rtp_local(leg->rtp)),
                             "RTP/AVP")))
      return err;
    sdp_media_set_lattr(leg->media, true, "ptime", "%u", kTickMs);
    if ((err = sdp_format_add(nullptr, leg->media, false, "0", "PCMU", 8000, 1, nullptr, nullptr,
                              nullptr, false, nullptr)))
      return err;
    if ((err = sdp_format_add(nullptr, leg->media, false, "8", "PCMA", 8000, 1, nullptr, nullptr,
                              nullptr, false, nullptr)))
      return err;
    if ((err = sdp_format_add(nullptr, leg->media, false, "101", telev_rtpfmt, 8000, 1, nullptr,
                              nullptr, nullptr, false, "0-15")))
      return err;
    if ((err = jbuf_alloc(&leg->jitter, 2, 10))) return err;
    if ((err = telev_alloc(&leg->tel, TELEV_PTIME))) return err;
    leg->up.emplace(up_design);
    return 0;
  }

  // After the peer's SDP: the codec (the first of PCMU/PCMA in its order) and its address.
  // False when it offered neither.
  bool media_negotiated(Leg* leg) {
    // The peer's formats in its order of preference; static types may come without rtpmap.
    const list* remote = sdp_media_format_lst(leg->media, false);
    const sdp_format* fmt = nullptr;
    bool ulaw = false;
    for (le* e = remote ? remote->head : nullptr; e; e = e->next) {
      auto* f = static_cast<const sdp_format*>(e->data);
      const bool u = f->name ? !str_casecmp(f->name, "PCMU") : (f->id && !std::strcmp(f->id, "0"));
      const bool a = f->name ? !str_casecmp(f->name, "PCMA") : (f->id && !std::strcmp(f->id, "8"));
      if ((u || a) && (f->srate == 0 || f->srate == 8000)) {
        fmt = f;
        ulaw = u;
        break;
      }
    }
    if (!fmt) return false;
    leg->codec = ulaw ? Codec::pcmu : Codec::pcma;
    leg->pt = fmt->pt;
    if (const sdp_format* te = sdp_media_rformat(leg->media, telev_rtpfmt)) leg->telev_pt = te->pt;
    const sa* raddr = sdp_media_raddr(leg->media);
    if (raddr && sa_isset(raddr, SA_ALL)) {
      leg->remote_rtp = *raddr;
      leg->have_remote = true;
    }
    return true;
  }

  void go_live(Leg* leg) {
    if (leg->established) return;
    leg->established = true;
    leg->last_rtp_ms = tmr_jiffies();
    tmr_cancel(&leg->ring_timer);
    const Codec codec = leg->codec;
    boost::asio::post(io, [self = shared_from_this(), id = leg->id, codec] {
      auto it = self->events.find(id);
      if (it == self->events.end()) return;
      self->codecs[id] = codec;
      if (auto target = it->second.lock()) target->answered(codec);
    });
  }

  // ---- outbound
  void place(std::uint64_t id, OutboundCall call) {
    if (stopping) return end_on_io(id, {"failed", 0, "shutdown"});
    if (legs.size() >= config.max_calls) return end_on_io(id, {"failed", 503, "max_calls"});
    Leg* leg = make_leg(id, true);
    if (int err = media_setup(leg)) {
      finish(id, {"failed", 0, std::string("media_setup: ") + strerror(err)}, true);
      return;
    }
    mbuf* offer = nullptr;
    if (int err = sdp_encode(&offer, leg->sdp, true)) {
      finish(id, {"failed", 0, std::string("sdp: ") + strerror(err)}, true);
      return;
    }
    const SipTrunkConfig& trunk = *call.trunk;
    const std::string host = trunk.address.substr(0, trunk.address.rfind(':'));
    std::string to_uri = "sip:" + call.to + "@" + trunk.address;
    if (trunk.transport == "tcp") to_uri += ";transport=tcp";
    const std::string from_uri = "sip:" + call.from + "@" + host;
    leg->cuser = call.from;
    leg->peer = trunk.address + (trunk.transport == "tcp" ? ";transport=tcp" : "");
    auto* creds = new std::pair<std::string, std::string>(trunk.username, call.password);
    credentials_[id].reset(creds);
    int err = sipsess_connect(&leg->sess, sock, to_uri.c_str(), nullptr, from_uri.c_str(),
                              call.from.c_str(), nullptr, 0, "application/sdp", offer, on_auth,
                              creds, false, on_offer, on_answer, on_progress, on_established,
                              nullptr, nullptr, on_close, leg, "");
    mem_deref(offer);
    if (err) {
      finish(id, {"failed", 0, std::string("INVITE not sent: ") + strerror(err)}, true);
      return;
    }
    tmr_start(&leg->ring_timer, std::uint64_t{config.ring_timeout_s} * 1000, on_ring_timeout, leg);
    log_event(LogLevel::info, "sip.call_placed",
              "call " + std::to_string(id) + " to " + call.to + " via trunk " + trunk.id);
  }
  std::unordered_map<std::uint64_t, std::unique_ptr<std::pair<std::string, std::string>>>
      credentials_;

  static int on_auth(char** user, char** pass, const char*, void* arg) {
    auto* creds = static_cast<std::pair<std::string, std::string>*>(arg);
    if (creds->first.empty()) return EAUTH;  // no credentials: the 401/407 stands
    int err = str_dup(user, creds->first.c_str());
    if (!err) err = str_dup(pass, creds->second.c_str());
    return err;
  }

  static void on_ring_timeout(void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    leg->impl->finish(leg->id, {"no-answer", 0, "ring_timeout"}, true);  // CANCEL
  }

  static void on_progress(const sip_msg* msg, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    if (msg->scode < 180 || msg->scode > 183 || leg->rang) return;
    leg->rang = true;
    leg->impl->to_io(leg->id, [](CallEvents& e) { e.ringing(); });
  }

  static int on_answer(const sip_msg* msg, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    if (int err = sdp_decode(leg->sdp, msg->mb, false)) return err;
    if (!leg->impl->media_negotiated(leg)) return EPROTO;
    return 0;
  }

  static int on_offer(mbuf** desc, const sip_msg* msg, void* arg) {
    // A re-INVITE with a new offer (hold, a new address): answer with the same media.
    auto* leg = static_cast<Leg*>(arg);
    if (int err = sdp_decode(leg->sdp, msg->mb, true)) return err;
    if (!leg->impl->media_negotiated(leg)) return EPROTO;
    return sdp_encode(desc, leg->sdp, false);
  }

  static void on_established(const sip_msg*, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    leg->impl->go_live(leg);
  }

  static void on_close(int err, const sip_msg* msg, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    Impl* self = leg->impl;
    CallEnd end;
    if (leg->established) {
      // libre closes a session on the peer's BYE with ECONNRESET and no message.
      const bool bye = !err || (err == ECONNRESET && !msg);
      end = {"completed", 0, bye ? std::string("remote_hangup") : std::string("error: ") + strerror(err)};
    } else if (msg && msg->scode >= 300) {
      const int code = msg->scode;
      end.sip_code = code;
      end.reason = pl_string(msg->reason);
      if (code == 486 || code == 600) end.status = "busy";
      else if (code == 408 || code == 480 || code == 487) end.status = "no-answer";
      else end.status = "failed";
    } else {
      end = {"failed", 0, err ? std::string(strerror(err)) : "closed"};
      if (err == ETIMEDOUT) end.reason = "no response from the trunk (timeout)";
    }
    self->finish(leg->id, std::move(end), false);
  }

  // ---- inbound
  static void on_invite(const sip_msg* msg, void* arg) {
    static_cast<Impl*>(arg)->invite(msg);
  }

  bool rate_ok(const sa* src) {
    char ip[64];
    sa_ntop(src, ip, sizeof ip);
    const std::uint64_t now = tmr_jiffies();
    if (now - buckets_swept_ms > 10000) {
      for (auto it = buckets.begin(); it != buckets.end();)
        it = now - it->second.at_ms > 10000 ? buckets.erase(it) : std::next(it);
      buckets_swept_ms = now;
    }
    const double rate = config.invites_per_s, burst = 2.0 * rate;
    auto [it, fresh] = buckets.try_emplace(ip);
    Bucket& b = it->second;
    if (fresh) b.tokens = burst;
    else b.tokens = std::min(burst, b.tokens + rate * double(now - b.at_ms) / 1000.0);
    b.at_ms = now;
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

  void refuse(const sip_msg* msg, std::uint16_t code, const char* reason, const std::string& why) {
    ++counters.invites_refused;
    log_event(LogLevel::info, "sip.invite_refused",
              std::to_string(code) + " " + reason + ": " + why);
    sip_treply(nullptr, stack, msg, code, reason);
  }

  void invite(const sip_msg* msg) {
    if (!rate_ok(&msg->src)) {
      ++counters.invites_rate_limited;
      sip_treplyf(nullptr, nullptr, stack, msg, false, 503, "Service Unavailable",
                  "Retry-After: 1\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    if (stopping) return refuse(msg, 503, "Service Unavailable", "shutting down");
    const std::string to = pl_string(msg->uri.user);
    const std::string from = pl_string(msg->from.uri.user);
    if (std::find(numbers.begin(), numbers.end(), to) == numbers.end())
      return refuse(msg, 404, "Not Found", "no agent answers " + to);
    if (legs.size() >= config.max_calls)
      return refuse(msg, 503, "Service Unavailable", "max_calls reached");
    if (!mbuf_get_left(msg->mb))
      return refuse(msg, 488, "Not Acceptable Here", "an INVITE without an SDP offer");
    const std::uint64_t id = next_id.fetch_add(1);
    Leg* leg = make_leg(id, false);
    leg->cuser = to;
    {
      char peer[80];
      re_snprintf(peer, sizeof peer, "%J", &msg->src);
      leg->peer = std::string(peer) + (msg->tp == SIP_TRANSP_TCP ? ";transport=tcp" : "");
    }
    if (int err = media_setup(leg)) {
      legs.erase(id);
      free_leg(leg);
      return refuse(msg, 500, "Server Internal Error", strerror(err));
    }
    if (sdp_decode(leg->sdp, msg->mb, true) != 0) {
      legs.erase(id);
      free_leg(leg);
      return refuse(msg, 400, "Bad SDP", "an SDP offer that does not parse");
    }
    if (!media_negotiated(leg)) {
      legs.erase(id);
      free_leg(leg);
      return refuse(msg, 488, "Not Acceptable Here", "no common codec (we take PCMU and PCMA)");
    }
    mbuf* answer = nullptr;
    int err = sdp_encode(&answer, leg->sdp, false);
    if (!err)
      err = sipsess_accept(&leg->sess, sock, msg, 200, "OK", to.c_str(), "application/sdp",
                           answer, nullptr, nullptr, false, on_offer, on_answer, on_established,
                           nullptr, nullptr, on_close, leg, "");
    mem_deref(answer);
    if (err) {
      legs.erase(id);
      free_leg(leg);
      return refuse(msg, 500, "Server Internal Error", strerror(err));
    }
    char src[64];
    re_snprintf(src, sizeof src, "%J", &msg->src);
    InboundCall call{id, from, to, src};
    log_event(LogLevel::info, "sip.inbound", "call " + std::to_string(id) + " from " + from +
                                                 " to " + to + " (" + src + ")");
    const Codec codec = leg->codec;
    boost::asio::post(io, [self = shared_from_this(), call, codec] {
      auto handler = self->inbound ? self->inbound(call) : nullptr;
      if (!handler) {
        self->run_on_sip([self, id = call.id] {
          self->finish(id, {"failed", 0, "no_handler"}, true);
        });
        return;
      }
      self->events[call.id] = handler;
      (void)codec;
    });
  }

  // ---- transfer: REFER (RFC 3515), its outcome from the trunk's NOTIFYs (message/sipfrag)
  void refer(std::uint64_t id, const std::string& destination,
             std::function<void(TransferResult)> done) {
    auto it = legs.find(id);
    if (it == legs.end() || !it->second->established || !it->second->sess)
      return post_result(std::move(done), {false, "transfer_not_live", 0,
                                           "the call is not answered, or is already over"});
    Leg* leg = it->second;
    if (leg->transfer_done)
      return post_result(std::move(done), {false, "transfer_in_progress", 0,
                                           "a transfer of this call is already under way"});
    sip_dialog* dialog = sipsess_dialog(leg->sess);
    const bool uri = destination.rfind("sip:", 0) == 0 || destination.rfind("sips:", 0) == 0;
    const std::string target = uri ? destination : "sip:" + destination + "@" + leg->peer;
    leg->refer = static_cast<sipsub*>(mem_deref(leg->refer));  // an earlier, failed transfer
    auto creds = credentials_.find(id);
    const int err = sipevent_drefer(
        &leg->refer, event_sock, dialog, leg->cuser.c_str(),
        creds != credentials_.end() ? on_auth : nullptr,
        creds != credentials_.end() ? creds->second.get() : nullptr, false, on_refer_notify,
        on_refer_close, leg, "Refer-To: <%s>\r\n", target.c_str());
    if (err)
      return post_result(std::move(done), {false, "transfer_failed", 0,
                                           std::string("REFER not sent: ") + strerror(err)});
    leg->transfer_done = std::move(done);
    tmr_start(&leg->transfer_timer, std::uint64_t{SipEngine::kTransferTimeoutS} * 1000,
              on_transfer_timeout, leg);
    log_event(LogLevel::info, "sip.refer", "call " + std::to_string(id) + " to " + target);
  }

  void post_result(std::function<void(TransferResult)> done, TransferResult result) {
    if (!done) return;
    boost::asio::post(io, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  // The outcome, once; a transfer that worked ends the call (BYE) as "transferred". libre is
  // inside the subscription's handlers here: the leg is freed later, from the task queue.
  void transfer_report(Leg* leg, TransferResult result) {
    if (!leg->transfer_done) return;
    tmr_cancel(&leg->transfer_timer);
    log_event(LogLevel::info, "sip.transfer",
              "call " + std::to_string(leg->id) + ": " +
                  (result.transferred ? std::string("transferred") : result.code) +
                  (result.sip_code ? " (SIP " + std::to_string(result.sip_code) + ")" : "") +
                  (result.message.empty() ? "" : ": " + result.message));
    const bool transferred = result.transferred;
    post_result(std::move(leg->transfer_done), std::move(result));
    leg->transfer_done = nullptr;
    if (transferred)
      run_on_sip([this, id = leg->id] { finish(id, {"completed", 0, "transferred"}, true); });
  }

  static void on_refer_notify(::sip* stack, const sip_msg* msg, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    pl code{}, reason{};
    if (!msg->mb || re_regex(reinterpret_cast<const char*>(mbuf_buf(msg->mb)),
                             mbuf_get_left(msg->mb), "SIP/2.0 [0-9]+ [^\r\n]*", &code, &reason)) {
      (void)sip_reply(stack, msg, 400, "Bad sipfrag");
      return;
    }
    (void)sip_reply(stack, msg, 200, "OK");
    const std::uint32_t status = pl_u32(&code);
    if (status < 200) return;  // 100 Trying, 180 Ringing: the new call is still being placed
    const std::string line = std::to_string(status) + " " + pl_string(reason);
    if (status < 300) return leg->impl->transfer_report(leg, {true, "", int(status), line});
    leg->impl->transfer_report(leg, {false, "transfer_failed", int(status),
                                     "the trunk accepted the transfer, but the new call "
                                     "failed: " + line});
  }

  static void on_refer_close(int err, const sip_msg* msg, const sipevent_substate*, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    if (msg && msg->scode >= 300)
      return leg->impl->transfer_report(
          leg, {false, "transfer_refused", int(msg->scode),
                "the trunk refused the transfer (REFER): " + std::to_string(msg->scode) + " " +
                    pl_string(msg->reason)});
    leg->impl->transfer_report(
        leg, {false, "transfer_failed", 0,
              std::string("the transfer's subscription ended without a final NOTIFY") +
                  (err ? std::string(": ") + strerror(err) : std::string())});
  }

  static void on_transfer_timeout(void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    leg->impl->transfer_report(leg, {false, "transfer_failed", 0,
                                     "no final NOTIFY from the trunk within " +
                                         std::to_string(SipEngine::kTransferTimeoutS) + " s"});
    leg->refer = static_cast<sipsub*>(mem_deref(leg->refer));
  }

  // ---- media
  static void on_rtp(const sa* src, const rtp_header* hdr, mbuf* mb, void* arg) {
    auto* leg = static_cast<Leg*>(arg);
    Impl* self = leg->impl;
    // Before the peer's SDP is read (its answer can reach this thread after the first RTP
    // the peer sends with it) no source is the right one yet: dropped, counted apart from
    // packets from an address other than the one the SDP named.
    if (!leg->have_remote) {
      ++self->counters.rtp_before_remote;
      return;
    }
    if (!sa_cmp(src, &leg->remote_rtp, SA_ALL)) {
      ++self->counters.rtp_wrong_source;
      return;
    }
    ++self->counters.rtp_in;
    leg->last_rtp_ms = tmr_jiffies();
    if (leg->telev_pt >= 0 && hdr->pt == leg->telev_pt) {
      int event = 0;
      bool end = false;
      if (telev_recv(leg->tel, mb, &event, &end) != 0 || !end) return;
      if (leg->dtmf_seen && leg->last_dtmf_ts == hdr->ts) return;  // the end is sent 3 times
      leg->dtmf_seen = true;
      leg->last_dtmf_ts = hdr->ts;
      const int digit = telev_code2digit(event);
      if (digit <= 0) return;
      ++self->counters.dtmf;
      self->to_io(leg->id, [d = static_cast<char>(digit)](CallEvents& e) { e.dtmf(d); });
      return;
    }
    if (hdr->pt != leg->pt || !leg->established) return;
    if (jbuf_put(leg->jitter, hdr, mb) != 0) ++self->counters.rtp_in_dropped;  // late, duplicate
  }

  static void on_tick(void* arg) {
    auto* self = static_cast<Impl*>(arg);
    const std::uint64_t now = tmr_jiffies();
    const auto entered = std::chrono::steady_clock::now();
    // How late this tick began after its slot; each packet adds the time the tick took so far.
    const std::uint64_t entry_lag_us = now > self->next_tick_ms ? (now - self->next_tick_ms) * 1000 : 0;
    self->tick_entered = entered;
    self->tick_entry_lag_us = entry_lag_us;
    self->next_tick_ms += kTickMs;
    if (self->next_tick_ms + 5 * kTickMs < now) self->next_tick_ms = now + kTickMs;  // stalled
    tmr_start(&self->tick, self->next_tick_ms > now ? self->next_tick_ms - now : 0, on_tick, self);
    std::vector<std::uint64_t> timed_out, drained;
    // Every call's packet leaves first, then every call's jitter buffer plays out: decoding and
    // resampling 500 calls' input takes milliseconds that the last packets out would wait.
    for (auto& [id, leg] : self->legs)
      if (leg->established) self->send_out(leg);
    // The frames go to the io thread in one post per tick: one wake-up and one allocation
    // for every call's frame, where a post each cost 500 of both every 20 ms.
    std::vector<std::pair<std::uint64_t, std::string>> frames;
    frames.reserve(self->legs.size());
    for (auto& [id, leg] : self->legs) {
      if (!leg->established) continue;
      if (std::string pcm = self->play_in(leg); !pcm.empty()) frames.emplace_back(id, std::move(pcm));
      if (leg->hangup_when_drained && leg->out.empty()) drained.push_back(id);
      else if (now - leg->last_rtp_ms > kMediaTimeoutMs) timed_out.push_back(id);
    }
    if (!frames.empty())
      boost::asio::post(self->io, [impl = self->shared_from_this(), frames = std::move(frames)]() mutable {
        for (auto& [id, pcm] : frames) {
          auto it = impl->events.find(id);
          if (it == impl->events.end()) continue;
          if (auto target = it->second.lock()) target->audio(std::move(pcm));
        }
      });
    for (auto id : timed_out) self->finish(id, {"completed", 0, "media_timeout"}, true);
    for (auto id : drained) self->finish(id, {"completed", 0, "local_hangup"}, true);
  }

  std::chrono::steady_clock::time_point tick_entered{};
  std::uint64_t tick_entry_lag_us = 0;

  // One packet sent in the current tick: how late after its slot (EngineCounters::send_lag).
  void count_send_lag() {
    const auto in_tick = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - tick_entered)
                             .count();
    const std::uint64_t lag_us = tick_entry_lag_us + static_cast<std::uint64_t>(in_tick);
    std::size_t bucket = 0;
    while (bucket + 1 < EngineCounters::kSendLagBuckets &&
           static_cast<double>(lag_us) > EngineCounters::kSendLagBounds[bucket] * 1e6)
      ++bucket;
    counters.send_lag[bucket].fetch_add(1, std::memory_order_relaxed);
    counters.send_lag_us_sum.fetch_add(lag_us, std::memory_order_relaxed);
    if (lag_us > EngineCounters::kSentLateMs * 1000)
      counters.rtp_sent_late.fetch_add(1, std::memory_order_relaxed);
  }

  // One 20 ms frame (two when the jitter buffer asks to catch up) for the io thread; empty
  // when the jitter buffer has nothing.
  std::string play_in(Leg* leg) {
    jbuf_stat stat{};
    if (jbuf_stats(leg->jitter, &stat) == 0 && stat.n_overflow != leg->jitter_overflows) {
      counters.rtp_in_dropped += stat.n_overflow - leg->jitter_overflows;
      leg->jitter_overflows = stat.n_overflow;
    }
    std::string pcm;
    for (int round = 0; round < 2; ++round) {
      rtp_header hdr{};
      void* mem = nullptr;
      const int err = jbuf_get(leg->jitter, &hdr, &mem);
      if (err && err != EAGAIN) break;
      auto* mb = static_cast<mbuf*>(mem);
      // A peer may send longer packets than ours (ptime 30, 40, 60 ms): up to kMaxPayload8k.
      const std::size_t n = std::min<std::size_t>(mbuf_get_left(mb), kMaxPayload8k);
      float in[kMaxPayload8k];
      const std::uint8_t* p = mbuf_buf(mb);
      for (std::size_t i = 0; i < n; ++i)
        in[i] = (leg->codec == Codec::pcmu ? g711_ulaw2pcm(p[i]) : g711_alaw2pcm(p[i])) / 32768.0f;
      mem_deref(mem);
      float out[2 * kMaxPayload8k + 8];
      auto made = leg->up->process(in, n, out, sizeof out / sizeof out[0]);
      if (made) {
        const std::size_t start = pcm.size();
        pcm.resize(start + *made * 2);
        for (std::size_t i = 0; i < *made; ++i) {
          float v = out[i] * 32768.0f;
          v = v > 32767.0f ? 32767.0f : (v < -32768.0f ? -32768.0f : v);
          const auto s = static_cast<std::int16_t>(v < 0 ? v - 0.5f : v + 0.5f);
          pcm[start + 2 * i] = static_cast<char>(s & 0xff);
          pcm[start + 2 * i + 1] = static_cast<char>((s >> 8) & 0xff);
        }
      }
      if (err != EAGAIN) break;
    }
    return pcm;
  }

  // The next queued packet, or silence (the stream never pauses: timestamps stay continuous).
  void send_out(Leg* leg) {
    if (!leg->have_remote) return;
    // One buffer for every packet (the SIP thread sends one at a time): no allocation each.
    if (!send_buf && !(send_buf = mbuf_alloc(RTP_HEADER_SIZE + kSamples8k))) return;
    mbuf* mb = send_buf;
    mb->pos = mb->end = RTP_HEADER_SIZE;
    if (!leg->out.empty()) {
      mbuf_write_mem(mb, reinterpret_cast<const std::uint8_t*>(leg->out.front().data()),
                     leg->out.front().size());
      leg->out.pop_front();
    } else {
      mbuf_fill(mb, leg->codec == Codec::pcmu ? 0xff : 0xd5, kSamples8k);
    }
    mb->pos = RTP_HEADER_SIZE;
    if (rtp_send(leg->rtp, &leg->remote_rtp, false, leg->marker, static_cast<std::uint8_t>(leg->pt),
                 leg->ts, mb) == 0) {
      ++counters.rtp_out;
      count_send_lag();
    }
    leg->marker = false;
    leg->ts += kSamples8k;
  }
  mbuf* send_buf = nullptr;
};

// ---- SipEngine (io thread)

Result<std::unique_ptr<SipEngine>> SipEngine::start(boost::asio::io_context& io,
                                                     const SipConfig& config,
                                                     std::vector<std::string> numbers,
                                                     InboundHandler inbound) {
  auto listen = parse_listen_address(config.listen);
  if (!listen) return make_error("sip_start", "server.sip.listen: " + listen.error().message);
  std::unique_ptr<SipEngine> engine(new SipEngine);
  engine->impl_ = std::make_shared<Impl>(io, config, std::move(numbers), std::move(inbound));
  std::promise<std::string> started;
  auto ready = started.get_future();
  Impl* impl = engine->impl_.get();
  impl->started = &started;
  impl->thread = std::thread([impl, addr = listen->address, port = listen->port] {
    impl->run(addr, port);
  });
  std::string error = ready.get();
  if (!error.empty()) {
    impl->thread.join();
    return make_error("sip_start", error);
  }
  engine->port_ = sa_port(&impl->laddr);
  engine->address_ = listen->address;
  log_event(LogLevel::info, "sip.listening",
            "SIP on " + listen->address + ":" + std::to_string(engine->port_) + " (UDP, TCP)");
  return engine;
}

SipEngine::~SipEngine() {
  if (!impl_) return;
  Impl* impl = impl_.get();
  impl->run_on_sip([impl] { impl->stop(); });
  if (impl->thread.joinable()) impl->thread.join();
  // Whatever the io thread still has queued for this engine finds no events any more.
  impl->events.clear();
}

std::uint64_t SipEngine::call(OutboundCall call, std::weak_ptr<CallEvents> events) {
  Impl* impl = impl_.get();
  const std::uint64_t id = impl->next_id.fetch_add(1);
  impl->events[id] = std::move(events);
  impl->run_on_sip([impl, id, call = std::move(call)]() mutable { impl->place(id, std::move(call)); });
  return id;
}

void SipEngine::send_audio(std::uint64_t id, const std::string& pcm16) {
  Impl* impl = impl_.get();
  auto codec_it = impl->codecs.find(id);
  if (codec_it == impl->codecs.end()) return;  // not answered yet, or over
  auto it = impl->down.find(id);
  if (it == impl->down.end()) it = impl->down.emplace(id, impl->down_design).first;
  const std::size_t samples = pcm16.size() / 2;
  std::vector<float> in(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    const auto lo = static_cast<std::uint8_t>(pcm16[2 * i]);
    const auto hi = static_cast<std::uint8_t>(pcm16[2 * i + 1]);
    in[i] = static_cast<std::int16_t>(lo | (hi << 8)) / 32768.0f;
  }
  std::vector<float> out(it->second.output_count(samples));
  auto made = it->second.process(in.data(), samples, out.data(), out.size());
  if (!made) return;
  const bool ulaw = codec_it->second == Codec::pcmu;
  std::vector<std::string> packets;
  std::string packet;
  for (std::size_t i = 0; i < *made; ++i) {
    float v = out[i] * 32768.0f;
    v = v > 32767.0f ? 32767.0f : (v < -32768.0f ? -32768.0f : v);
    const auto s = static_cast<std::int16_t>(v < 0 ? v - 0.5f : v + 0.5f);
    packet.push_back(static_cast<char>(ulaw ? g711_pcm2ulaw(s) : g711_pcm2alaw(s)));
    if (packet.size() == kSamples8k) packets.push_back(std::move(packet)), packet.clear();
  }
  // A piece shorter than 20 ms is padded with silence (the speech channel sends whole frames).
  if (!packet.empty()) {
    packet.resize(kSamples8k, static_cast<char>(ulaw ? 0xff : 0xd5));
    packets.push_back(std::move(packet));
  }
  if (packets.empty()) return;
  impl->run_on_sip([impl, id, packets = std::move(packets)]() mutable {
    auto leg = impl->legs.find(id);
    if (leg == impl->legs.end()) return;
    auto& queue = leg->second->out;
    for (auto& p : packets) queue.push_back(std::move(p));
    while (queue.size() > kMaxQueuedPackets) {
      queue.pop_front();
      ++impl->counters.rtp_late;
    }
  });
}

void SipEngine::clear_audio(std::uint64_t id) {
  Impl* impl = impl_.get();
  if (auto it = impl->down.find(id); it != impl->down.end()) it->second.reset();
  impl->run_on_sip([impl, id] {
    if (auto leg = impl->legs.find(id); leg != impl->legs.end()) leg->second->out.clear();
  });
}

void SipEngine::hangup(std::uint64_t id, bool after_audio) {
  Impl* impl = impl_.get();
  impl->run_on_sip([impl, id, after_audio] {
    auto it = impl->legs.find(id);
    if (it == impl->legs.end()) return;
    const bool live = it->second->established;
    if (after_audio && live) {
      it->second->hangup_when_drained = true;
      return;
    }
    impl->finish(id, {live ? "completed" : "failed", 0, "local_hangup"}, true);
  });
}

namespace {

// A transfer's destination: a phone number (an optional +, then 1 to 32 of 0-9 * #) or a
// sip:/sips: URI of printable ASCII without <, > or " (at most 256 bytes).
std::string destination_error(const std::string& d) {
  const bool uri = d.rfind("sip:", 0) == 0 || d.rfind("sips:", 0) == 0;
  if (uri) {
    if (d.size() > 256) return "a sip: URI of at most 256 bytes";
    if (d.size() <= d.find(':') + 1) return "a sip: URI with something after \"sip:\"";
    for (unsigned char c : d)
      if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
        return "a sip: URI without spaces, control characters, <, > or \"";
    return {};
  }
  const std::size_t start = !d.empty() && d[0] == '+' ? 1 : 0;
  if (d.size() == start || d.size() - start > 32) return "a phone number of 1 to 32 digits";
  for (std::size_t i = start; i < d.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(d[i])) && d[i] != '*' && d[i] != '#')
      return "a phone number (an optional +, then digits, * or #) or a sip: URI";
  return {};
}

}  // namespace

Status SipEngine::transfer(std::uint64_t id, const std::string& destination,
                           std::function<void(TransferResult)> done) {
  if (std::string why = destination_error(destination); !why.empty())
    return make_error("transfer_bad_destination",
                      "transfer_call's destination must be " + why);
  Impl* impl = impl_.get();
  impl->run_on_sip([impl, id, destination, done = std::move(done)]() mutable {
    impl->refer(id, destination, std::move(done));
  });
  return ok_status();
}

const EngineCounters& SipEngine::counters() const { return impl_->counters; }

}  // namespace parley::host::sip
