// make_application: routes /memori/v2 to the Memori API, /v1/voice sockets to VoiceCall,
// /admin to the operator's endpoints, /start_outbound_call and SIP to the phone service; runs the outbox deliverer and the expiry/retention
// sweep; on shutdown ends every call with a reason.
#include <chrono>
#include <cstdlib>
#include <list>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <openssl/crypto.h>

#include "memori_api.hpp"
#include "millis_api.hpp"
#include "parley/host/agent.hpp"
#include "parley/host/app.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/host/speech.hpp"
#include "../sip/phone_service.hpp"
#include "sessions.hpp"
#include "voice_call.hpp"

namespace parley::host {
namespace {

constexpr auto sweep_interval = std::chrono::seconds(5);

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

class HostApplication final : public Application {
 public:
  HostApplication(boost::asio::io_context& io, const HostConfig& config, AsyncStore& db,
                  Metrics& metrics)
      : io_(io),
        config_(config),
        db_(db),

        metrics_(metrics),
        http_(io),
        outbox_(io, db, http_, metrics, config.server.webhook_max_attempts,
                config.server.outbox_claim_ms),
        sessions_(io, config, db, metrics, http_, outbox_),
        memori_(sessions_, metrics),
        millis_(sessions_, metrics),
        speech_(SpeechService::create(io, config)),
        sweep_timer_(io),
        heartbeat_timer_(io),
        phones_(PhoneService::create(io, config, sessions_, metrics, speech_.get())) {
    db_.run(
        "", [](Store& store) { return store.open_sessions(); },
        [](Result<std::vector<SessionRecord>> open) {
          if (open && !open->empty())
            log_event(LogLevel::info, "startup.sessions",
                      std::to_string(open->size()) +
                          " sessions from an earlier run stay resumable inside their window");
        });
    for (const auto& agent : config_.agents) {
      if (!agent.llm) continue;
      const LlmConfig& llm = *agent.llm;
      const char* key = llm.api_key_env.empty() ? nullptr : std::getenv(llm.api_key_env.c_str());
      log_event(LogLevel::info, "startup.llm",
                "agent=" + agent.id + " base_url=" + llm.base_url + " model=" + llm.model +
                    (llm.api_key_env.empty()
                         ? std::string(" key=none")
                         : " key_env=" + llm.api_key_env + (key && *key ? " (set)" : " (NOT SET)")));
      if (!llm.api_key_env.empty() && !(key && *key)) {
        log_event(LogLevel::warn, "startup.llm",
                  "agent=" + agent.id + ": llm.api_key_env names " + llm.api_key_env +
                      ", which is not set in the environment: the LLM will likely refuse the "
                      "calls (they then hear the fallback_reply)");
      }
    }
    outbox_.start();
    schedule_sweep();
    schedule_heartbeat();
  }

  bool handle_http(const HttpRequest& request, HttpDone done) override {
    if (starts_with(request.path, MemoriApi::prefix)) {
      memori_.handle(request, std::move(done));
      return true;
    }
    if (starts_with(request.path, "/admin/")) {
      admin(request, std::move(done));
      return true;
    }
    if (MillisApi::serves(request.path)) {
      millis_.handle(request, std::move(done));
      return true;
    }
    if (phones_) return phones_->handle_http(request, done);
    return phone_routes_off(request, done,
                            config_.server.sip.listen.empty()
                                ? "this host takes no phone calls (server.sip.listen is empty)"
                                : "the SIP listener did not start (see the host's log)");
  }

  std::shared_ptr<SocketHandler> open_socket(const HttpRequest& upgrade,
                                             std::shared_ptr<SocketSink> sink) override {
    // /millis is the Millis SDK's own path: a page changes only the host in endPoint.
    if (upgrade.path != "/v1/voice" && upgrade.path != "/millis") return nullptr;
    std::optional<std::string> origin;
    if (auto o = upgrade.header("origin")) origin = std::string(*o);
    auto call = std::make_shared<VoiceCall>(io_, sessions_, metrics_, std::move(sink),
                                            std::move(origin), upgrade.remote, speech_.get());
    // Forget calls that are gone, so the list stays as long as the live calls.
    calls_.remove_if([](const std::weak_ptr<VoiceCall>& w) { return w.expired(); });
    calls_.push_back(call);
    return call;
  }

  void shutdown(std::function<void()> done) override {
    sweep_timer_.cancel();
    heartbeat_timer_.cancel();
    for (auto& weak : calls_)
      if (auto call = weak.lock()) call->shut_down("server_shutdown");
    calls_.clear();
    if (phones_) phones_->shut_down("server_shutdown");
    sessions_.close_all();
    outbox_.stop();
    log_event(LogLevel::info, "shutdown.app", "calls ended, webhooks kept in the outbox");
    done();
  }

  std::optional<HttpResponse> refusal(const HttpRequest& request, unsigned status,
                                      const std::string& code,
                                      const std::string& message) override {
    if (starts_with(request.path, MemoriApi::prefix))
      return memori_.refusal(request, status, code, message);
    return std::nullopt;
  }

  std::string metrics_text() const override {
    std::string out;
    out += "# HELP parley_conversations_live Conversations held in memory.\n";
    out += "# TYPE parley_conversations_live gauge\n";
    out += "parley_conversations_live " + std::to_string(sessions_.live_conversations()) + "\n";
    if (outbox_pending_ >= 0) {
      // As of the last sweep (every 5 s): /metrics never waits for the database.
      out += "# HELP parley_webhook_outbox_pending Webhook deliveries waiting in the outbox.\n";
      out += "# TYPE parley_webhook_outbox_pending gauge\n";
      out += "parley_webhook_outbox_pending " + std::to_string(outbox_pending_) + "\n";
    }
    out += speech_->metrics_text();
    if (phones_) out += phones_->metrics_text();
    return out;
  }

 private:
  void schedule_sweep() {
    sweep_timer_.expires_after(sweep_interval);
    sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      sessions_.sweep(now_epoch_ms());
      count_pending();
      schedule_sweep();
    });
  }

  // The live calls' leases, every server.call_lease_renew_ms (apart from the sweep, whose
  // interval is fixed: a short lease needs a renewal more often than sessions need sweeping).
  void schedule_heartbeat() {
    heartbeat_timer_.expires_after(std::chrono::milliseconds(config_.server.call_lease_renew_ms));
    heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      sessions_.heartbeat(now_epoch_ms());
      schedule_heartbeat();
    });
  }

  void count_pending() {
    db_.run(
        "outbox", [](Store& store) { return store.pending_count(); },
        [this](Result<std::uint32_t> pending) {
          if (pending) outbox_pending_ = *pending;
        });
  }

  HttpResponse health() const override {
    const StoreHealth db = db_.health();
    json database = {{"backend", db.backend},
                     {"ok", db.ok},
                     {"since_ms", db.since_ms},
                     {"queued", db.queued},
                     {"threads", db.threads},
                     {"host_id", db_.host_id()}};
    if (!db.ok) database["error"] = db.error;
    HttpResponse response;
    if (db.ok) {
      response.body = to_json_text(json{{"status", "ok"}, {"database", database}});
    } else {
      // A load balancer's check takes this host out of rotation; its live calls go on.
      response.status = 503;
      response.body = to_json_text(
          json{{"status", "unavailable"},
               {"reason", "the database is unreachable: this host takes no new sessions until "
                          "it is back (live calls go on where they can)"},
               {"database", database}});
    }
    return response;
  }

  // GET /admin/sessions/{id}/prompt with "Authorization: Bearer <admin_key>": the system
  // prompt as assembled for that session (what the agent was really told).
  void admin(const HttpRequest& request, HttpDone done) {
    auto reply = [&](unsigned status, json body) {
      HttpResponse response;
      response.status = status;
      response.body = to_json_text(body);
      response.headers.emplace_back("Cache-Control", "no-store");
      done(std::move(response));
    };
    const std::string& key = config_.server.admin_key;
    if (key.empty())
      return reply(404, {{"error", "admin routes are disabled (server.admin_key is empty)"}});
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer KEY" works as "Bearer KEY".
    auto auth = request.header("authorization");
    auto given = auth ? bearer_credentials(*auth) : Result<std::string_view>(make_error(
                                                        "auth_missing", "no Authorization"));
    if (!given || !equal_secret(*given, key)) {
      metrics_.error("admin_unauthorized");
      return reply(401, {{"error", "missing or wrong admin key (Authorization: Bearer KEY)"}});
    }
    constexpr std::string_view prefix = "/admin/sessions/";
    constexpr std::string_view suffix = "/prompt";
    const std::string& path = request.path;
    if (request.method != "GET" || !starts_with(path, prefix) || path.size() <= prefix.size() + suffix.size() ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
      return reply(404, {{"error", "no such admin route; try GET /admin/sessions/ID/prompt"}});
    const std::string id =
        path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    db_.run(
        id, [id](Store& store) { return store.find_session(id); },
        [this, id, done = std::move(done)](Result<std::optional<SessionRecord>> found) {
          auto answer = [&](unsigned status, json body) {
            HttpResponse response;
            response.status = status;
            response.body = to_json_text(body);
            response.headers.emplace_back("Cache-Control", "no-store");
            done(std::move(response));
          };
          if (!found) return answer(500, {{"error", found.error().message}});
          if (!found->has_value()) return answer(404, {{"error", "no such session"}});
          const SessionRecord& s = **found;
          auto agent = sessions_.effective_agent(s);
          if (!agent)
            return answer(404, {{"error", "the session's agent is no longer configured"}});
          const std::string* live = sessions_.prompt_of(id);
          const std::string prompt =
              live ? *live
                   : assemble_system_prompt(*agent, s.variables, s.metadata,
                                            s.include_metadata_in_prompt, s.extra_prompt);
          answer(200, {{"session_id", s.id},
                      {"agent_id", s.agent_id},
                      {"include_metadata_in_prompt", s.include_metadata_in_prompt},
                      {"prompt", prompt}});
        });
  }

  boost::asio::io_context& io_;
  const HostConfig& config_;
  AsyncStore& db_;
  std::int64_t outbox_pending_ = -1;  // as of the last sweep; -1 = not counted yet
  Metrics& metrics_;
  HttpClient http_;
  OutboxDeliverer outbox_;
  SessionService sessions_;
  MemoriApi memori_;
  MillisApi millis_;
  std::unique_ptr<SpeechService> speech_;  // after sessions_: calls hold channels into it
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  std::list<std::weak_ptr<VoiceCall>> calls_;
  // Last: destroyed first (its SIP thread stops; its calls hold sessions_ and speech_).
  std::unique_ptr<PhoneService> phones_;
};

}  // namespace

std::unique_ptr<Application> make_application(boost::asio::io_context& io,
                                               const HostConfig& config, AsyncStore& db,
                                               Metrics& metrics) {
  return std::make_unique<HostApplication>(io, config, db, metrics);
}

}  // namespace parley::host
