// Webhooks of the agent: prefetch at session start, the end-of-call payload and its durable
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
#include "parley/memori_date.hpp"

namespace parley::host {
namespace {

namespace asio = boost::asio;

constexpr std::uint32_t outbox_batch = 32;
constexpr std::uint32_t outbox_request_timeout_ms = 10000;
// How long a claimed batch is this host's alone (several hosts share the outbox): well past
// one request's timeout, so a live host always marks its items before the claim lapses; a
// host that dies leaves its claim to lapse, and another host sends those items then.
constexpr std::int64_t outbox_lease_ms = 60000;
constexpr std::uint64_t backoff_cap_ms = 5 * 60 * 1000;

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-23T10:00:00.123Z" (proleptic Gregorian, UTC).
std::string iso8601(std::int64_t epoch_ms) {
  std::int64_t days = epoch_ms / 86400000;
  std::int64_t rest = epoch_ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  std::int64_t year = 0;
  int month = 0;
  int day = 0;
  civil_from_days(days, year, month, day);
  char text[40];
  std::snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(year), month, day, static_cast<int>(rest / 3600000),
                static_cast<int>(rest / 60000 % 60), static_cast<int>(rest / 1000 % 60),
                static_cast<int>(rest % 1000));
  return text;
}

// For a GET prefetch: the request's ids as query parameters of the configured URL.
std::string with_query(const std::string& url, const PrefetchRequest& request) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return url;  // the HttpClient reports the bad URL
  boost::urls::url u(*parsed);
  u.params().append({"session_id", request.session_id});
  u.params().append({"agent_id", request.agent_id});
  if (!request.continued_from.empty()) {
    u.params().append({"continued_from", request.continued_from});
  }
  return std::string(u.buffer());
}

std::string url_host(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  return parsed ? std::string(parsed->encoded_host_and_port()) : std::string("(bad url)");
}

}  // namespace

// ---- prefetch ---------------------------------------------------------------------------

void prefetch_variables(HttpClient& http, const AgentConfig& agent, PrefetchRequest request,
                        std::function<void(Result<json>)> done) {
  if (!agent.prefetch_data_webhook) {
    asio::post(http.io(), [done = std::move(done)] { done(json::object()); });
    return;
  }
  WebhookConfig target = *agent.prefetch_data_webhook;
  std::string body;
  if (target.method == "GET") {
    target.url = with_query(target.url, request);
  } else {
    json payload = {{"session_id", request.session_id},
                    {"agent_id", request.agent_id},
                    {"metadata", request.metadata.is_object() ? request.metadata : json::object()}};
    if (!request.continued_from.empty()) payload["continued_from"] = request.continued_from;
    body = to_json_text(payload);
  }
  std::string host = url_host(target.url);
  http.request(target, std::move(body), {},
               [done = std::move(done), host](Result<HttpClientResponse> response) {
                 if (!response) return done(response.error());
                 if (response->status < 200 || response->status > 299) {
                   return done(make_error("prefetch_status",
                                          "prefetch_data_webhook at " + host + " answered HTTP " +
                                              std::to_string(response->status)));
                 }
                 auto parsed = parse_json(response->body, "the prefetch_data_webhook reply");
                 if (!parsed) return done(make_error("prefetch_bad_reply", parsed.error().message));
                 if (!parsed->is_object()) {
                   return done(make_error("prefetch_bad_reply",
                                          "the prefetch_data_webhook reply from " + host +
                                              " must be a JSON object, not " +
                                              json_type_name(parsed.value())));
                 }
                 done(std::move(parsed.value()));
               });
}

// ---- end of call ------------------------------------------------------------------------

json end_of_call_payload(const SessionRecord& session, const std::vector<ChatLine>& lines,
                         std::int64_t ended_ms, const std::string& reason) {
  json transcript = json::array();
  for (const auto& line : lines) {
    transcript.push_back({{"role", line.inbound ? "user" : "agent"},
                          {"text", line.text},
                          {"timestamp", iso8601(line.timestamp_ms)}});
  }
  return {{"session_id", session.id},
          {"agent_id", session.agent_id},
          {"metadata", session.metadata.is_object() ? session.metadata : json::object()},
          {"transcript", std::move(transcript)},
          {"started_at", iso8601(session.created_ms)},
          {"ended_at", iso8601(ended_ms)},
          {"reason", reason},
          {"continued_from",
           session.continued_from.empty() ? json(nullptr) : json(session.continued_from)},
          {"opted_out", session.opted_out}};
}

Status enqueue_end_of_call(Store& store, const AgentConfig& agent, const SessionRecord& session,
                           std::int64_t ended_ms, const std::string& reason) {
  if (!agent.session_data_webhook) return ok_status();
  std::vector<ChatLine> lines;
  if (!session.opted_out) {
    auto stored = store.lines_of(session.id);
    if (!stored) return stored.error();
    lines = std::move(stored.value());
  }
  const WebhookConfig& hook = *agent.session_data_webhook;
  OutboxItem item;
  item.kind = "session_data";
  item.url = hook.url;
  item.method = hook.method;
  item.headers = json::array();
  for (const auto& [name, value] : hook.headers) item.headers.push_back({name, value});
  item.body = to_json_text(end_of_call_payload(session, lines, ended_ms, reason));
  // One report per call: a session resumed in place after it ended reports again, under a
  // key of its own.
  item.idempotency_key = "session_data:" + session.id +
                         (session.reopened > 0 ? ":" + std::to_string(session.reopened) : "");
  item.created_ms = ended_ms;
  item.next_attempt_ms = ended_ms;
  auto queued = store.enqueue(item);
  if (!queued && queued.error().code != "conflict") return queued.error();
  return ok_status();  // a conflict means it is queued already: at least once holds
}

// ---- the outbox deliverer ---------------------------------------------------------------

struct OutboxDeliverer::Impl : std::enable_shared_from_this<OutboxDeliverer::Impl> {
  Impl(asio::io_context& context, AsyncStore& s, HttpClient& h, Metrics& m,
       std::uint32_t attempts)
      : io(context), db(s), http(h), metrics(m), max_attempts(std::max(1u, attempts)),
        timer(context), rng(std::random_device{}()) {}

  // Every outbox write and read is keyed alike, so they run in the order they were asked for
  // (a delivery marked before the next scan looks for due items).
  static constexpr const char* key = "outbox";

  asio::io_context& io;
  AsyncStore& db;
  HttpClient& http;
  Metrics& metrics;
  std::uint32_t max_attempts;
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
         lease = db.is_inline() ? std::int64_t{0} : outbox_lease_ms](Store& store) {
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
                                 Metrics& metrics, std::uint32_t max_attempts)
    : impl_(std::make_shared<Impl>(io, db, http, metrics, max_attempts)) {}

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
