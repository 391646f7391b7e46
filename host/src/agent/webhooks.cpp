// Webhooks of the agent: the extra prompt at session start, the end-of-call payload and its durable
// delivery through the SQLite outbox (at least once, retried with backoff, one idempotency key
// per call so a receiver can drop duplicates).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "parley/host/agent.hpp"
#include "parley/host/log.hpp"

namespace parley::host {
namespace {

namespace asio = boost::asio;

constexpr std::uint32_t outbox_batch = 32;
constexpr std::uint32_t outbox_request_timeout_ms = 10000;
constexpr std::uint64_t backoff_cap_ms = 5 * 60 * 1000;

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The extra_prompt_webhook's GET: session_id, agent_id, from, to, then every metadata key
// (DESIGN §6) as query parameters of the configured URL. A string value goes as it is, an
// array of strings as the key repeated, anything else as its JSON text; a metadata key named
// like one of the four is left out (the call's own value wins).
std::string extra_prompt_url(const std::string& url, const ExtraPromptRequest& request) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return url;  // the HttpClient reports the bad URL
  boost::urls::url u(*parsed);
  // Every byte but the unreserved ones escaped: form decoders (Python's, node's) read a bare
  // '+' as a space, so a phone number's '+' goes as %2B (and a space as %20, which every
  // decoder reads as a space).
  auto params = u.encoded_params();
  auto escape = [](std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
      const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                              c == '~';
      if (unreserved) {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
    return out;
  };
  auto append = [&](std::string_view key, std::string_view value) {
    const std::string k = escape(key), v = escape(value);
    params.append(boost::urls::param_pct_view(boost::urls::pct_string_view(k),
                                              boost::urls::pct_string_view(v)));
  };
  append("session_id", request.session_id);
  append("agent_id", request.agent_id);
  append("from", request.from);
  append("to", request.to);
  if (request.metadata.is_object()) {
    for (auto it = request.metadata.begin(); it != request.metadata.end(); ++it) {
      const std::string& key = it.key();
      if (key == "session_id" || key == "agent_id" || key == "from" || key == "to") continue;
      const json& value = it.value();
      const bool strings = value.is_array() && std::all_of(value.begin(), value.end(),
                                                           [](const json& v) {
                                                             return v.is_string();
                                                           });
      if (value.is_string()) {
        append(key, value.get_ref<const std::string&>());
      } else if (strings && !value.empty()) {
        for (const auto& item : value) append(key, item.get_ref<const std::string&>());
      } else {
        append(key, to_json_text(value));
      }
    }
  }
  return std::string(u.buffer());
}

std::string url_host(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  return parsed ? std::string(parsed->encoded_host_and_port()) : std::string("(bad url)");
}

}  // namespace

// ---- extra prompt ------------------------------------------------------------------------

void fetch_extra_prompt(HttpClient& http, const AgentConfig& agent, ExtraPromptRequest request,
                        std::function<void(Result<ExtraPrompt>)> done) {
  if (!agent.extra_prompt_webhook) {
    asio::post(http.io(), [done = std::move(done)] { done(ExtraPrompt{}); });
    return;
  }
  WebhookConfig target = *agent.extra_prompt_webhook;
  target.method = "GET";
  target.url = extra_prompt_url(target.url, request);
  std::string host = url_host(target.url);
  http.request(target, {}, {}, [done = std::move(done), host](Result<HttpClientResponse> response) {
    if (!response) return done(response.error());
    const std::string what = "the extra_prompt_webhook at " + host;
    if (response->status < 200 || response->status > 299) {
      return done(make_error("extra_prompt_status",
                             what + " answered HTTP " + std::to_string(response->status)));
    }
    auto parsed = parse_json(response->body, "the extra_prompt_webhook reply");
    if (!parsed) return done(make_error("extra_prompt_bad_reply", parsed.error().message));
    if (!parsed->is_object()) {
      return done(make_error("extra_prompt_bad_reply",
                             what + " answered " + json_type_name(*parsed) +
                                 ": the reply must be a JSON object {metadata?, extra_prompt?}"));
    }
    ExtraPrompt out;
    if (auto m = parsed->find("metadata"); m != parsed->end() && !m->is_null()) {
      if (!m->is_object()) {
        return done(make_error("extra_prompt_bad_reply",
                               what + ": the reply's metadata must be an object, not " +
                                   json_type_name(*m)));
      }
      out.metadata = *m;
    }
    if (auto e = parsed->find("extra_prompt"); e != parsed->end() && !e->is_null()) {
      if (!e->is_string()) {
        return done(make_error("extra_prompt_bad_reply",
                               what + ": the reply's extra_prompt must be a string, not " +
                                   json_type_name(*e)));
      }
      const auto& text = e->get_ref<const std::string&>();
      if (text.size() > kMaxExtraPromptBytes) {
        return done(make_error("extra_prompt_bad_reply",
                               what + ": the reply's extra_prompt is " +
                                   std::to_string(text.size()) + " bytes, over the limit of " +
                                   std::to_string(kMaxExtraPromptBytes)));
      }
      out.extra_prompt = text;
    }
    done(std::move(out));
  });
}

// ---- end of call ------------------------------------------------------------------------

namespace {

struct ReasonStatus {
  const char* reason;   // this host's end reason (a prefix when it ends in ':')
  const char* channel;  // "" = any
  const char* call_status;
  const char* error_message;  // for "error"; "" = none
};

// Every way a session ends here, in Millis's words (agent.hpp says why each).
constexpr ReasonStatus kReasonStatus[] = {
    {"client_ended", "", "user-ended", ""},
    {"agent_ended", "", "agent-ended", ""},
    {"transferred", "", "agent-ended", ""},  // the agent handed a phone call on (REFER)
    {"max_duration", "", "timeout", ""},
    {"max_idle", "", "timeout", ""},
    {"idle_timeout", "", "timeout", ""},
    {"deleted", "", "api-ended", ""},
    {"api_ended", "", "api-ended", ""},
    {"idle_expired", "rest", "chat_completion", ""},
    {"idle_expired", "", "timeout", ""},
    {"connection_lost", "", "error",
     "the connection to the client was lost and it did not come back within the reconnect "
     "grace (server.reconnect_grace_s)"},
    {"server_shutdown", "", "error", "the server shut down during the call"},
    {"refused:", "", "error", ""},
};

constexpr const char* kCallStatuses[] = {"user-ended", "api-ended",         "agent-ended",
                                         "timeout",    "error",             "voicemail-message",
                                         "voicemail-hangup", "chat_completion"};

// Characters (code points) of UTF-8 text.
std::size_t code_points(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

CallStatus call_status_for(const std::string& channel, const std::string& reason) {
  for (const auto& row : kReasonStatus) {
    const std::string_view r = row.reason;
    const bool prefix = !r.empty() && r.back() == ':';
    const bool match = prefix ? reason.compare(0, r.size(), r) == 0 : reason == r;
    if (!match || (row.channel[0] != '\0' && channel != row.channel)) continue;
    std::string message = row.error_message;
    if (prefix) message = "the call was refused: " + reason.substr(r.size());
    return {row.call_status, message};
  }
  return {"error", "the call ended: " + reason};
}

bool is_call_status(std::string_view value) {
  for (const char* status : kCallStatuses)
    if (value == status) return true;
  return false;
}

std::string call_status_names() {
  std::string out;
  for (const char* status : kCallStatuses) out += (out.empty() ? "" : ", ") + std::string(status);
  return out;
}

json end_of_call_payload(const SessionRecord& session, const std::vector<ChatLine>& lines,
                         const json& agent_config) {
  json chat = json::array();
  std::size_t chars = 0;
  for (const auto& line : lines) {
    chat.push_back({{"role", line.inbound ? "user" : "assistant"}, {"content", line.text}});
    if (!line.inbound) chars += code_points(line.text);
  }
  const std::int64_t ended = session.ended_ms.value_or(session.last_activity_ms);
  const CallStatus status = call_status_for(session.channel, session.end_reason);
  const std::string call_status =
      session.call_status.empty() ? status.call_status : session.call_status;
  return {{"session_id", session.id},
          {"call_id", session.id},
          {"agent_id", session.agent_id},
          {"agent_config", agent_config},
          {"ts", static_cast<double>(session.created_ms) / 1000.0},
          {"duration", (std::max<std::int64_t>(0, ended - session.created_ms) + 500) / 1000},
          {"chat", to_json_text(chat)},
          {"chars_used", chars},
          {"cost_breakdown", json::array()},
          {"function_calls", session.function_calls.is_array() ? session.function_calls
                                                               : json::array()},
          {"metadata", session.metadata.is_object() ? session.metadata : json::object()},
          {"call_status", call_status},
          {"error_message",
           status.error_message.empty() ? json(nullptr) : json(status.error_message)},
          {"voip", session.phone_direction.empty()
                       ? json(nullptr)
                       : json{{"from", session.phone_from},
                              {"to", session.phone_to},
                              {"direction", session.phone_direction}}},
          {"recording", nullptr},
          {"continued_from",
           session.continued_from.empty() ? json(nullptr) : json(session.continued_from)},
          {"reason", session.end_reason}};
}

Status enqueue_end_of_call(Store& store, const AgentConfig& agent, const SessionRecord& session,
                           const json& report) {
  if (!agent.session_data_webhook) return ok_status();
  const WebhookConfig& hook = *agent.session_data_webhook;
  OutboxItem item;
  item.kind = "session_data";
  item.url = hook.url;
  item.method = "POST";
  item.headers = json::array();
  for (const auto& [name, value] : hook.headers) item.headers.push_back({name, value});
  item.body = to_json_text(report);
  // One report per session id: a second end of the same session is the same report.
  item.idempotency_key = "session_data:" + session.id;
  const std::int64_t ended = session.ended_ms.value_or(session.last_activity_ms);
  item.created_ms = ended;
  item.next_attempt_ms = ended;
  auto queued = store.enqueue(item);
  if (!queued && queued.error().code != "conflict") return queued.error();
  return ok_status();  // a conflict means it is queued already: at least once holds
}

// ---- the outbox deliverer ---------------------------------------------------------------

struct OutboxDeliverer::Impl : std::enable_shared_from_this<OutboxDeliverer::Impl> {
  Impl(asio::io_context& context, AsyncStore& s, HttpClient& h, Metrics& m,
       std::uint32_t attempts, std::uint32_t claim)
      : io(context), db(s), http(h), metrics(m), max_attempts(std::max(1u, attempts)),
        claim_ms(claim), timer(context), rng(std::random_device{}()) {}

  // Every outbox write and read is keyed alike, so they run in the order they were asked for
  // (a delivery marked before the next scan looks for due items).
  static constexpr const char* key = "outbox";

  asio::io_context& io;
  AsyncStore& db;
  HttpClient& http;
  Metrics& metrics;
  std::uint32_t max_attempts;
  // How long a claimed batch is this host's alone (several hosts share the outbox): past one
  // request's timeout (the config's rule), so a live host always marks its items before the
  // claim lapses; a host that dies leaves its claim to lapse, and another host sends those
  // items then.
  std::int64_t claim_ms;
  std::uint32_t base_delay_ms = 1000;
  asio::steady_timer timer;
  std::mt19937 rng;
  bool running = false;
  std::uint32_t in_flight = 0;
  bool scanning = false;  // a look for due items is with the database
  bool rescan = false;    // asked to look again while a batch was in flight

  void schedule_poll() {
    timer.expires_after(std::chrono::milliseconds(std::max(10u, base_delay_ms)));
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->scan();
    });
  }

  // Sends one batch of due items; the next look comes when the batch is done.
  void scan() {
    if (!running) return;
    if (in_flight > 0 || scanning) {
      rescan = true;
      return;
    }
    rescan = false;
    scanning = true;
    db.run(
        key,
        [now = now_epoch_ms(), owner = db.host_id(),
         // An SQLite file belongs to one host: no lease to wait for after a crash.
         lease = db.is_inline() ? std::int64_t{0} : claim_ms](Store& store) {
          return store.claim_due(now, outbox_batch, owner, lease);
        },
        [self = shared_from_this()](Result<std::vector<OutboxItem>> due) {
          self->scanning = false;
          if (!self->running) return;
          if (!due) {
            log_event(LogLevel::error, "webhook.outbox", due.error().message);
            return self->schedule_poll();
          }
          if (due->empty()) {
            if (self->rescan) return self->scan();
            return self->schedule_poll();
          }
          self->rescan = self->rescan || due->size() == outbox_batch;  // more may be waiting
          for (auto& item : due.value()) self->send(std::move(item));
        });
  }

  void send(OutboxItem item) {
    ++in_flight;
    WebhookConfig target;
    target.url = item.url;
    target.method = item.method;
    target.timeout_ms = outbox_request_timeout_ms;
    if (item.headers.is_array()) {
      for (const auto& h : item.headers) {
        if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
          target.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
        }
      }
    }
    // Copied before the callback takes `item`: argument order is unspecified.
    std::string body = item.body;
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Idempotency-Key", item.idempotency_key}};
    http.request(target, std::move(body), std::move(headers),
                 [self = shared_from_this(), item = std::move(item)](
                     Result<HttpClientResponse> response) {
                   self->on_result(item, response);
                 });
  }

  static bool permanent_status(unsigned status) {
    return status == 400 || status == 410 || status == 413 || status == 415 || status == 422;
  }

  std::int64_t backoff_ms(std::uint32_t attempts_before) {
    std::uint64_t delay = base_delay_ms;
    for (std::uint32_t i = 0; i < attempts_before && delay < backoff_cap_ms; ++i) delay *= 2;
    delay = std::min(delay, backoff_cap_ms);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return static_cast<std::int64_t>(static_cast<double>(delay) * jitter(rng));
  }

  void on_result(const OutboxItem& item, const Result<HttpClientResponse>& response) {
    --in_flight;
    if (!running) return;  // stopped: the store may be gone; the item stays due
    const std::int64_t now = now_epoch_ms();
    if (response && response->status >= 200 && response->status <= 299) {
      ++metrics.webhook_deliveries;
      db.run(
          key, [id = item.id, now](Store& store) { return store.mark_delivered(id, now); },
          [](Status s) {
            if (!s) log_event(LogLevel::error, "webhook.outbox", s.error().message);
          });
      log_event(LogLevel::debug, "webhook.delivered",
                "kind=" + item.kind + " host=" + url_host(item.url));
    } else {
      record_failure(item, response, now);
    }
    if (in_flight == 0) {
      if (rescan) {
        scan();
      } else {
        schedule_poll();
      }
    }
  }

  void record_failure(const OutboxItem& item, const Result<HttpClientResponse>& response,
                      std::int64_t now) {
    ++metrics.webhook_failures;
    bool permanent = false;
    std::string error;
    if (!response) {
      error = response.error().message;
      const std::string& code = response.error().code;
      permanent = code == "webhook_bad_url" || code == "webhook_bad_header";
    } else {
      error = "HTTP " + std::to_string(response->status);
      permanent = permanent_status(response->status);
    }
    // A permanent failure uses up the attempts now: mark_failed gives up when attempts
    // reaches the limit it is given.
    const std::uint32_t limit = permanent ? item.attempts + 1 : max_attempts;
    db.run(
        key,
        [id = item.id, next = now + backoff_ms(item.attempts), error, limit](Store& store) {
          return store.mark_failed(id, next, error, limit);
        },
        [](Status marked) {
          if (!marked) log_event(LogLevel::error, "webhook.outbox", marked.error().message);
        });
    const bool gave_up = item.attempts + 1 >= limit;
    log_event(gave_up ? LogLevel::warn : LogLevel::info,
              gave_up ? "webhook.gave_up" : "webhook.retry",
              "kind=" + item.kind + " host=" + url_host(item.url) +
                  " attempt=" + std::to_string(item.attempts + 1) + " error=" + error);
  }
};

OutboxDeliverer::OutboxDeliverer(asio::io_context& io, AsyncStore& db, HttpClient& http,
                                 Metrics& metrics, std::uint32_t max_attempts,
                                 std::uint32_t claim_ms)
    : impl_(std::make_shared<Impl>(io, db, http, metrics, max_attempts, claim_ms)) {}

OutboxDeliverer::~OutboxDeliverer() { stop(); }

void OutboxDeliverer::start() {
  impl_->running = true;
  kick();
}

void OutboxDeliverer::kick() {
  if (!impl_->running) return;
  asio::post(impl_->io, [impl = impl_] {
    if (impl->in_flight == 0) impl->timer.cancel();  // the poll would come later
    impl->scan();
  });
}

void OutboxDeliverer::stop() {
  impl_->running = false;
  impl_->timer.cancel();
}

void OutboxDeliverer::set_base_delay_ms(std::uint32_t ms) { impl_->base_delay_ms = ms; }

}  // namespace parley::host
