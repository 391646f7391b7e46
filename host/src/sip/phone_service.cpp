// PhoneService and PhoneCall: see phone_service.hpp.
#include "phone_service.hpp"

#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <unordered_map>
#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "../app/agent_call.hpp"
#include "../app/server_api_keys.hpp"
#include "../app/sessions.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/metadata.hpp"
#include "sip_engine.hpp"

namespace parley::host {
namespace {

constexpr std::size_t kStatusesKept = 10000;  // calls remembered for GET /phone_calls/{id}
constexpr std::string_view kStatusPrefix = "/phone_calls/";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

void reply_error(HttpDone& done, unsigned code, const std::string& error,
                 const std::string& message) {
  HttpResponse response;
  response.status = code;
  response.body = to_json_text(json{{"error", {{"code", error}, {"message", message}}}});
  response.headers.emplace_back("Cache-Control", "no-store");
  done(std::move(response));
}

void reply_json(HttpDone& done, const json& body) {
  HttpResponse response;
  response.body = to_json_text(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  done(std::move(response));
}

// E.164 as trunks write it: "+" and 2 to 15 digits.
bool is_phone_number(const std::string& n) {
  if (n.size() < 3 || n.size() > 16 || n[0] != '+') return false;
  for (std::size_t i = 1; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return false;
  return true;
}

struct CallStatus {
  std::string call_id, session_id, agent_id, direction, from, to;
  std::string status = "queued";
  int sip_code = 0;
  std::string reason;
  std::uint64_t engine_id = 0;

  json to_json() const {
    return {{"call_id", call_id},
            {"session_id", session_id},
            {"agent_id", agent_id},
            {"status", status},
            {"sip_code", sip_code == 0 ? json(nullptr) : json(sip_code)},
            {"reason", reason},
            {"voip", {{"from", from}, {"to", to}, {"direction", direction}}}};
  }
};

class Phones;
class PhoneCall;

// The SIP engine's side of a PhoneCall (its events carry the same names as the call's, so
// they come in through this small forwarder). The engine holds it weakly; its PhoneCall owns it.
class SipSide final : public sip::CallEvents {
 public:
  explicit SipSide(std::weak_ptr<PhoneCall> call) : call_(std::move(call)) {}
  void ringing() override;
  void answered(sip::Codec codec) override;
  void audio(std::string pcm16) override;
  void dtmf(char digit) override;
  void ended(const sip::CallEnd& end) override;

 private:
  std::weak_ptr<PhoneCall> call_;
};

// One phone call: the SIP engine's events in, AgentCall's events out.
class PhoneCall final : public CallTransport, public std::enable_shared_from_this<PhoneCall> {
 public:
  PhoneCall(Phones& phones, std::shared_ptr<CallStatus> status, OpenRequest request)
      : phones_(phones), status_(std::move(status)), request_(std::move(request)) {}

  // The engine's events go to this; made once, after the PhoneCall is owned by a shared_ptr.
  std::shared_ptr<SipSide> sip_side() {
    if (!sip_side_) sip_side_ = std::make_shared<SipSide>(weak_from_this());
    return sip_side_;
  }
  void attach(std::uint64_t engine_id) { status_->engine_id = engine_id; }
  void shut_down(const std::string& reason);

  // ---- from the SIP engine (through SipSide)
  void on_ringing();
  void on_answered(sip::Codec codec);
  void on_audio(const std::string& pcm16) {
    if (call_)
      call_->user_audio(reinterpret_cast<const std::uint8_t*>(pcm16.data()), pcm16.size());
  }
  void on_dtmf(char digit);
  void on_ended(const sip::CallEnd& end);

  // ---- CallTransport (a phone line carries only the voice)
  void call_ready(const OpenedSession& session) override;
  void call_refused(const Error& error) override;
  void transcript(std::string_view, bool) override {}
  void response_text(std::string_view, bool) override {}
  void start_answering() override {}
  void audio(std::string frame) override;
  void clear() override;
  void function_call(const AgentAction&) override {}
  void transfer(const std::string& destination, TransferDone done) override;
  void session_ended(const std::string& reason) override;
  void call_failed(const Error& error) override;

 private:
  void flush_digits();

  Phones& phones_;
  std::shared_ptr<CallStatus> status_;
  OpenRequest request_;
  std::shared_ptr<AgentCall> call_;
  std::string end_reason_;
  bool over_ = false;
  std::string digits_;
  std::unique_ptr<boost::asio::steady_timer> digit_timer_;
  std::shared_ptr<SipSide> sip_side_;
};

void SipSide::ringing() {
  if (auto c = call_.lock()) c->on_ringing();
}
void SipSide::answered(sip::Codec codec) {
  if (auto c = call_.lock()) c->on_answered(codec);
}
void SipSide::audio(std::string pcm16) {
  if (auto c = call_.lock()) c->on_audio(pcm16);
}
void SipSide::dtmf(char digit) {
  if (auto c = call_.lock()) c->on_dtmf(digit);
}
void SipSide::ended(const sip::CallEnd& end) {
  if (auto c = call_.lock()) c->on_ended(end);
}

class Phones final : public PhoneService {
 public:
  Phones(boost::asio::io_context& io, const HostConfig& config, SessionService& sessions,
         Metrics& metrics, SpeechService* speech)
      : io_(io),
        config_(config),
        sessions_(sessions),
        metrics_(metrics),
        speech_(speech),
        keys_(config.server.api_keys) {}

  Status start() {
    std::vector<std::string> numbers;
    for (const auto& agent : config_.agents)
      for (const auto& n : agent.phone_numbers) numbers.push_back(n);
    auto engine = sip::SipEngine::start(
        io_, config_.server.sip, std::move(numbers),
        [this](const sip::InboundCall& call) { return inbound(call); });
    if (!engine) return std::move(engine).error();
    engine_ = std::move(*engine);
    return ok_status();
  }

  ~Phones() override {
    // The engine first: its thread stops and every call is hung up; nothing it posted
    // reaches a call after this.
    engine_.reset();
  }

  bool handle_http(const HttpRequest& request, HttpDone& done) override {
    if (request.path == "/start_outbound_call") {
      start_outbound(request, done);
      return true;
    }
    if (!starts_with(request.path, kStatusPrefix)) return false;
    if (auto s = keys_.check(request); !s) {
      metrics_.error("phone_unauthorized");
      reply_error(done, 401, "unauthorized", s.error().message);
      return true;
    }
    if (request.method != "GET") {
      reply_error(done, 405, "method_not_allowed", "GET /phone_calls/{call_id}");
      return true;
    }
    auto it = statuses_.find(request.path.substr(kStatusPrefix.size()));
    if (it == statuses_.end()) {
      reply_error(done, 404, "not_found", "no phone call with that call_id");
      return true;
    }
    reply_json(done, it->second->to_json());
    return true;
  }

  void shut_down(const std::string& reason) override {
    auto live = std::move(live_);
    live_.clear();
    for (auto& [id, call] : live) call->shut_down(reason);
  }

  std::string metrics_text() const override {
    const auto& c = engine_->counters();
    std::string out;
    auto line = [&](const char* name, const char* help, std::uint64_t v, const char* type) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type +
             "\n" + name + " " + std::to_string(v) + "\n";
    };
    line("parley_phone_calls_live", "Phone calls up now (ringing or answered).", live_.size(),
         "gauge");
    out +=
        "# HELP parley_phone_calls_total Phone calls ended, by status.\n"
        "# TYPE parley_phone_calls_total counter\n";
    for (const auto& [status, n] : ended_)
      out += "parley_phone_calls_total{status=\"" + status + "\"} " + std::to_string(n) + "\n";
    line("parley_rtp_packets_in_total", "RTP packets received from the right source.",
         c.rtp_in.load(), "counter");
    line("parley_rtp_packets_out_total", "RTP packets sent.", c.rtp_out.load(), "counter");
    line("parley_rtp_wrong_source_total",
         "RTP packets dropped: not from the address the peer's SDP named.",
         c.rtp_wrong_source.load(), "counter");
    line("parley_rtp_before_remote_total",
         "RTP packets dropped: received before the peer's SDP named its address.",
         c.rtp_before_remote.load(), "counter");
    line("parley_rtp_late_total", "Agent audio packets dropped: more than 10 s queued for a call.",
         c.rtp_late.load(), "counter");
    line("parley_rtp_sent_late_total",
         "RTP packets sent more than 10 ms after their 20 ms slot.", c.rtp_sent_late.load(),
         "counter");
    line("parley_rtp_in_dropped_total",
         "RTP packets received and dropped by the jitter buffer (late, duplicate, overflow).",
         c.rtp_in_dropped.load(), "counter");
    {
      out +=
          "# HELP parley_rtp_send_lag_seconds How late each RTP packet was sent after its 20 ms "
          "slot.\n# TYPE parley_rtp_send_lag_seconds histogram\n";
      std::uint64_t cumulative = 0;
      char le[32];
      for (std::size_t i = 0; i < sip::EngineCounters::kSendLagBuckets; ++i) {
        cumulative += c.send_lag[i].load();
        if (i + 1 < sip::EngineCounters::kSendLagBuckets)
          std::snprintf(le, sizeof le, "%g", sip::EngineCounters::kSendLagBounds[i]);
        else
          std::snprintf(le, sizeof le, "+Inf");
        out += "parley_rtp_send_lag_seconds_bucket{le=\"" + std::string(le) + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      char sum[48];
      std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(c.send_lag_us_sum.load()) / 1e6);
      out += "parley_rtp_send_lag_seconds_sum " + std::string(sum) + "\n" +
             "parley_rtp_send_lag_seconds_count " + std::to_string(cumulative) + "\n";
    }
    line("parley_sip_invites_rate_limited_total",
         "Inbound INVITEs answered 503 (per-address rate).", c.invites_rate_limited.load(),
         "counter");
    line("parley_sip_invites_refused_total",
         "Inbound INVITEs refused (unknown number, no common codec, bad SDP, full).",
         c.invites_refused.load(), "counter");
    line("parley_dtmf_total", "DTMF digits received (RFC 4733).", c.dtmf.load(), "counter");
    return out;
  }

  std::uint16_t sip_port() const override { return engine_->port(); }

  // ---- for PhoneCall
  sip::SipEngine& engine() { return *engine_; }
  boost::asio::io_context& io() { return io_; }

  std::shared_ptr<AgentCall> make_agent_call(const std::shared_ptr<PhoneCall>& transport) {
    return std::make_shared<AgentCall>(io_, sessions_, metrics_, speech_,
                                       std::static_pointer_cast<CallTransport>(transport));
  }

  void call_over(const std::shared_ptr<CallStatus>& status) {
    ++ended_[status->status];
    live_.erase(status->call_id);
  }

 private:
  std::shared_ptr<CallStatus> remember(CallStatus status) {
    auto kept = std::make_shared<CallStatus>(std::move(status));
    statuses_[kept->call_id] = kept;
    order_.push_back(kept->call_id);
    while (order_.size() > kStatusesKept) {
      statuses_.erase(order_.front());
      order_.pop_front();
    }
    return kept;
  }

  void start_outbound(const HttpRequest& request, HttpDone& done) {
    if (auto s = keys_.check(request); !s) {
      metrics_.error("phone_unauthorized");
      return reply_error(done, 401, "unauthorized", s.error().message);
    }
    if (request.method != "POST")
      return reply_error(done, 405, "method_not_allowed", "POST /start_outbound_call");
    json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return reply_error(done, 400, "bad_request", "the body must be a JSON object");
    auto phone = [&](const char* key, std::string& out) -> bool {
      auto it = body.find(key);
      if (it == body.end() || !it->is_string()) {
        reply_error(done, 400, "bad_request",
                    std::string(key) + ": required, a string (E.164, e.g. +15550001111)");
        return false;
      }
      out = it->get<std::string>();
      if (!is_phone_number(out)) {
        reply_error(done, 400, "bad_request",
                    std::string(key) + ": not an E.164 number (+ and 2 to 15 digits)");
        return false;
      }
      return true;
    };
    std::string from, to;
    if (!phone("from_phone", from) || !phone("to_phone", to)) return;
    const AgentConfig* agent = config_.agent_for_number(from);
    if (!agent)
      return reply_error(done, 404, "unknown_number",
                         "from_phone " + from + " is no agent's number (agents[].phone_numbers)");
    const SipTrunkConfig* trunk = config_.server.sip.trunk_for(from);
    if (!trunk)
      return reply_error(done, 404, "unknown_number",
                         "from_phone " + from +
                             " is on no trunk (server.sip.trunks[].numbers): it takes calls but "
                             "cannot place them");
    OpenRequest open;
    open.channel = "phone";
    open.agent_id = agent->id;
    if (auto it = body.find("metadata"); it != body.end() && !it->is_null()) {
      if (auto valid = validate_metadata(*it); !valid)
        return reply_error(done, 400, "bad_request", "metadata: " + valid.error().message);
      open.metadata = *it;
    }
    if (auto it = body.find("include_metadata_in_prompt"); it != body.end() && !it->is_null()) {
      if (!it->is_boolean())
        return reply_error(done, 400, "bad_request",
                           "include_metadata_in_prompt: expected true or false");
      open.include_metadata_in_prompt = it->get<bool>();
    }
    if (auto it = body.find("session_continuation"); it != body.end() && !it->is_null()) {
      auto id = it->is_object() ? it->find("session_id") : it->end();
      if (!it->is_object() || id == it->end() || !id->is_string() ||
          id->get_ref<const std::string&>().empty())
        return reply_error(done, 400, "bad_request",
                           "session_continuation: expected {\"session_id\": \"...\"}");
      open.continue_session_id = id->get<std::string>();
    }
    std::string password;
    if (!trunk->password_env.empty()) {
      const char* value = std::getenv(trunk->password_env.c_str());
      if (!value)
        return reply_error(done, 503, "trunk_credentials",
                           "trunk " + trunk->id + ": the environment variable " +
                               trunk->password_env + " (password_env) is not set");
      password = value;
    }
    if (live_.size() >= config_.server.sip.max_calls)
      return reply_error(done, 503, "too_many_calls",
                         std::to_string(config_.server.sip.max_calls) +
                             " phone calls are up (server.sip.max_calls)");
    CallStatus status;
    status.call_id = new_session_id();
    status.session_id = new_session_id();
    status.agent_id = agent->id;
    status.direction = "outbound";
    status.from = from;
    status.to = to;
    open.preset_session_id = status.session_id;
    open.phone_call_id = status.call_id;
    open.from = from;  // the extra_prompt_webhook's `from` and `to` (DESIGN §6)
    open.to = to;
    open.direction = "outbound";
    if (agent->memory_by_phone && open.continue_session_id.empty()) open.continue_by_phone = to;
    auto kept = remember(std::move(status));
    auto call = std::make_shared<PhoneCall>(*this, kept, std::move(open));
    live_[kept->call_id] = call;
    call->attach(engine_->call({from, to, trunk, std::move(password)}, call->sip_side()));
    log_event(LogLevel::info, "phone.outbound",
              "call " + kept->call_id + " from " + from + " to " + to + " via trunk " +
                  trunk->id + " session " + kept->session_id);
    reply_json(done,
               json{{"session_id", kept->session_id}, {"call_id", kept->call_id}, {"status", "queued"}});
  }

  std::shared_ptr<sip::CallEvents> inbound(const sip::InboundCall& in) {
    const AgentConfig* agent = config_.agent_for_number(in.to);
    if (!agent) return nullptr;
    if (live_.size() >= config_.server.sip.max_calls) {
      log_event(LogLevel::warn, "phone.full",
                "inbound call from " + in.from + " hung up: server.sip.max_calls are up");
      return nullptr;
    }
    CallStatus status;
    status.call_id = new_session_id();
    status.session_id = new_session_id();
    status.agent_id = agent->id;
    status.direction = "inbound";
    status.from = in.from;
    status.to = in.to;
    status.status = "ringing";
    OpenRequest open;
    open.channel = "phone";
    open.agent_id = agent->id;
    open.metadata = json{{"from", in.from}, {"to", in.to}};
    open.from = in.from;  // the extra_prompt_webhook's `from` and `to` (DESIGN §6)
    open.to = in.to;
    open.direction = "inbound";
    if (agent->memory_by_phone) open.continue_by_phone = in.from;
    open.preset_session_id = status.session_id;
    open.phone_call_id = status.call_id;
    auto kept = remember(std::move(status));
    auto call = std::make_shared<PhoneCall>(*this, kept, std::move(open));
    call->attach(in.id);
    live_[kept->call_id] = call;
    return call->sip_side();
  }

  boost::asio::io_context& io_;
  const HostConfig& config_;
  SessionService& sessions_;
  Metrics& metrics_;
  SpeechService* speech_;
  ServerApiKeys keys_;
  std::unique_ptr<sip::SipEngine> engine_;
  std::unordered_map<std::string, std::shared_ptr<PhoneCall>> live_;
  std::unordered_map<std::string, std::shared_ptr<CallStatus>> statuses_;
  std::deque<std::string> order_;
  std::map<std::string, std::uint64_t> ended_;
};

// ---- PhoneCall

void PhoneCall::on_ringing() {
  if (status_->status == "queued") status_->status = "ringing";
}

void PhoneCall::on_answered(sip::Codec codec) {
  if (over_ || call_) return;
  status_->status = "in-progress";
  log_event(LogLevel::info, "phone.answered",
            "call " + status_->call_id + " (" + status_->direction + ", " +
                sip::codec_name(codec) + ") session " + status_->session_id);
  call_ = phones_.make_agent_call(shared_from_this());
  call_->start(std::move(request_));
}

void PhoneCall::on_dtmf(char digit) {
  // Digits reach the agent as one typed turn ("DTMF 1234#"): "#" ends the entry at once,
  // otherwise a pause of 2 s does.
  if (digits_.size() >= 64) return;
  digits_.push_back(digit);
  if (digit == '#') return flush_digits();
  if (!digit_timer_) digit_timer_ = std::make_unique<boost::asio::steady_timer>(phones_.io());
  digit_timer_->expires_after(std::chrono::seconds(2));
  std::weak_ptr<PhoneCall> weak = weak_from_this();
  digit_timer_->async_wait([weak](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->flush_digits();
  });
}

void PhoneCall::flush_digits() {
  if (digit_timer_) digit_timer_->cancel();
  if (digits_.empty() || !call_ || !call_->live()) return;
  log_event(LogLevel::info, "phone.dtmf", "call " + status_->call_id + ": " + digits_);
  call_->user_text("DTMF " + digits_);
  digits_.clear();
}

void PhoneCall::on_ended(const sip::CallEnd& end) {
  if (over_) return;
  over_ = true;
  auto keep = shared_from_this();
  if (digit_timer_) digit_timer_->cancel();
  // A call that was answered is completed however it ended; one that never was keeps the
  // outcome the engine saw (busy, no-answer, failed with the SIP code).
  if (status_->status == "in-progress")
    status_->status = "completed";
  else
    status_->status = end.status == "completed" ? "failed" : end.status;
  status_->sip_code = end.sip_code;
  if (status_->reason.empty()) status_->reason = end.reason;
  log_event(LogLevel::info, "phone.ended",
            "call " + status_->call_id + " status " + status_->status +
                (end.sip_code ? " sip " + std::to_string(end.sip_code) : std::string()) +
                " reason " + status_->reason);
  if (call_) {
    const std::string reason = !end_reason_.empty()
                                   ? end_reason_
                                   : (end.reason == "remote_hangup" ? "client_ended" : end.reason);
    auto call = std::move(call_);
    call->transport_closed(reason);
  }
  phones_.call_over(status_);
}

void PhoneCall::shut_down(const std::string& reason) {
  if (over_) return;
  end_reason_ = reason;
  if (call_) call_->shut_down(reason);
  phones_.engine().hangup(status_->engine_id);
}

void PhoneCall::call_ready(const OpenedSession& session) {
  log_event(LogLevel::info, "phone.ready",
            "call " + status_->call_id + " session " + session.record.id + " agent " +
                session.record.agent_id);
}

void PhoneCall::call_refused(const Error& error) {
  log_event(LogLevel::warn, "phone.refused",
            "call " + status_->call_id + ": " + error.code + ": " + error.message);
  // Answered, but the agent could not take it (e.g. the database is down): the call failed,
  // whatever the line did.
  status_->status = "failed";
  status_->reason = error.code;
  end_reason_ = error.code;
  phones_.engine().hangup(status_->engine_id);
}

void PhoneCall::audio(std::string frame) {
  phones_.engine().send_audio(status_->engine_id, frame);
}

void PhoneCall::clear() { phones_.engine().clear_audio(status_->engine_id); }

void PhoneCall::session_ended(const std::string& reason) {
  // The agent ended the call (end_call, a timeout): BYE once its last words have been sent.
  end_reason_ = reason;
  status_->reason = reason;
  phones_.engine().hangup(status_->engine_id, /*after_audio=*/true);
}

// A SIP REFER to the trunk. When the trunk reports the new call answered, the engine hangs
// this one up: the session ends as "transferred" (the end-of-call report: agent-ended).
void PhoneCall::transfer(const std::string& destination, TransferDone done) {
  std::weak_ptr<PhoneCall> weak = weak_from_this();
  auto sent = phones_.engine().transfer(
      status_->engine_id, destination, [weak, done](sip::TransferResult result) {
        if (auto self = weak.lock(); self && result.transferred) {
          self->end_reason_ = "transferred";
          self->status_->reason = "transferred";
        }
        done({result.transferred, result.code, result.sip_code, result.message});
      });
  if (!sent) done({false, sent.error().code, 0, sent.error().message});
}

void PhoneCall::call_failed(const Error& error) {
  status_->status = "failed";  // broke mid-call: not a call that completed
  end_reason_ = "error";
  status_->reason = error.code + ": " + error.message;
  phones_.engine().hangup(status_->engine_id);
}

}  // namespace

bool phone_routes_off(const HttpRequest& request, HttpDone& done, const std::string& why) {
  if (request.path != "/start_outbound_call" && !starts_with(request.path, kStatusPrefix))
    return false;
  reply_error(done, 503, "phone_off", why);
  return true;
}

std::unique_ptr<PhoneService> PhoneService::create(boost::asio::io_context& io,
                                                   const HostConfig& config,
                                                   SessionService& sessions, Metrics& metrics,
                                                   SpeechService* speech) {
  if (config.server.sip.listen.empty()) return nullptr;
  auto phones = std::make_unique<Phones>(io, config, sessions, metrics, speech);
  if (auto s = phones->start(); !s) {
    log_event(LogLevel::error, "sip.start_failed", s.error().message + ": no phone calls");
    return nullptr;
  }
  return phones;
}

}  // namespace parley::host
