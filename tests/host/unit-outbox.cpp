// Webhooks: the extra prompt, the end-of-call payload, and the durable outbox with its
// retries, against a real local receiver and a real SQLite store.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/url/parse_query.hpp>

#include "parley/host/agent.hpp"
#include "parley/host/store.hpp"
#include "test_http_server.hpp"

using parley::json;
using parley::Result;
using namespace parley::host;
using namespace std::chrono_literals;
using parley::test::ScriptedReply;
using parley::test::TestHttpServer;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<Store> open_store(const std::string& path = ":memory:") {
  auto store = Store::open(path);
  REQUIRE(store.ok());
  return std::move(store.value());
}

// A temporary database file, removed (with its WAL files) at the end.
struct TempDb {
  std::string path;
  TempDb() {
    std::random_device rd;
    path = (std::filesystem::temp_directory_path() /
            ("parley-h8-outbox-" + std::to_string(rd()) + ".db"))
               .string();
  }
  ~TempDb() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove((path + suffix).c_str());
    }
  }
};

SessionRecord add_session(Store& store, const std::string& id, bool with_lines = true) {
  SessionRecord s;
  s.id = id;
  s.chat_log_id = "log-" + id;
  s.agent_id = "hooked";
  s.channel = "voice";
  s.metadata = {{"userName", "John"}};
  s.created_ms = 1795420800000;  // 2026-11-23T08:00:00.000Z
  s.last_activity_ms = s.created_ms;
  REQUIRE(store.create_session(s).ok());
  if (with_lines) {
    ChatLine a;
    a.inbound = true;
    a.text = "hello";
    a.timestamp_ms = s.created_ms + 1000;
    REQUIRE(store.append_line(id, a).ok());
    ChatLine b;
    b.inbound = false;
    b.text = "Hi John!";
    b.timestamp_ms = s.created_ms + 1500;
    REQUIRE(store.append_line(id, b).ok());
  }
  return s;
}

AgentConfig hooked_agent(const std::string& url) {
  AgentConfig agent;
  agent.id = "hooked";
  WebhookConfig hook;
  hook.url = url;
  hook.headers = {{"Authorization", "Bearer t0ken"}};
  agent.session_data_webhook = hook;
  return agent;
}

OutboxItem only_item(Store& store) {
  auto items = store.outbox_items();
  REQUIRE(items.ok());
  REQUIRE(items->size() == 1);
  return items->front();
}

// The report of `s` ended at `ended_ms` for `reason`, queued as the host queues it.
parley::Status queue_end(Store& store, const AgentConfig& agent, SessionRecord s,
                         std::int64_t ended_ms,
                         const std::string& reason) {
  s.ended_ms = ended_ms;
  s.end_reason = reason;
  std::vector<ChatLine> lines;
  if (!s.opted_out) lines = store.lines_of(s.id).value();
  return enqueue_end_of_call(store, agent, s, end_of_call_payload(s, lines, json::object()));
}

// The decoded query parameters of a request target, in order.
std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& target) {
  std::vector<std::pair<std::string, std::string>> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  auto params = boost::urls::parse_query(std::string_view(target).substr(q + 1));
  REQUIRE(params.has_value());
  boost::urls::encoding_opts form;  // as receivers read a query: '+' is a space
  form.space_as_plus = true;
  for (const auto& p : *params)
    out.emplace_back(p.key.decode(form), p.has_value ? p.value.decode(form) : std::string());
  return out;
}

struct Rig {
  boost::asio::io_context io;
  HttpClient http{io};
  Metrics metrics;
};

}  // namespace

TEST_CASE("the end-of-call payload is Millis's, field by field", "[outbox]") {
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-a");
  s.ended_ms = s.created_ms + 61234;
  s.end_reason = "client_ended";
  s.call_status = "user-ended";
  s.function_calls = json::array({{{"name", "lookup"}, {"params", {{"id", 7}}}, {"result", 1}}});
  auto lines = store->lines_of("sess-a");
  REQUIRE(lines.ok());
  json p = end_of_call_payload(s, lines.value(), json{{"id", "hooked"}, {"prompt", "p"}});
  CHECK(p["session_id"] == "sess-a");
  CHECK(p["call_id"] == "sess-a");
  CHECK(p["agent_id"] == "hooked");
  CHECK(p["agent_config"] == json({{"id", "hooked"}, {"prompt", "p"}}));
  CHECK(p["ts"] == 1795420800.0);
  CHECK(p["duration"] == 61);
  CHECK(p["metadata"] == json({{"userName", "John"}}));
  CHECK(p["call_status"] == "user-ended");
  CHECK(p["error_message"].is_null());
  CHECK(p["function_calls"] == s.function_calls);
  CHECK(p["chars_used"] == 8);  // "Hi John!"
  CHECK(p["cost_breakdown"] == json::array());
  CHECK(p["voip"].is_null());
  CHECK(p["recording"].is_null());
  CHECK(p["reason"] == "client_ended");
  CHECK(p["continued_from"].is_null());
  REQUIRE(p["chat"].is_string());  // a JSON string, as Millis sends it
  CHECK(parley::parse_json(p["chat"].get<std::string>(), "chat").value() ==
        json::array({{{"role", "user"}, {"content", "hello"}},
                     {{"role", "assistant"}, {"content", "Hi John!"}}}));
  s.continued_from = "sess-0";
  CHECK(end_of_call_payload(s, {}, nullptr)["continued_from"] == "sess-0");
  CHECK(end_of_call_payload(s, {}, nullptr)["chat"] == "[]");
}

TEST_CASE("every end reason has a call_status", "[outbox]") {
  struct Case {
    const char* channel;
    const char* reason;
    const char* status;
    bool message;
  };
  const Case cases[] = {
      {"voice", "client_ended", "user-ended", false},
      {"voice", "agent_ended", "agent-ended", false},
      {"voice", "transferred", "agent-ended", false},
      {"voice", "max_duration", "timeout", false},
      {"voice", "max_idle", "timeout", false},
      {"voice", "idle_timeout", "timeout", false},
      {"rest", "deleted", "api-ended", false},
      {"rest", "idle_expired", "chat_completion", false},
      {"voice", "idle_expired", "timeout", false},
      {"voice", "connection_lost", "error", true},
      {"voice", "server_shutdown", "error", true},
      {"voice", "refused:rate_limited", "error", true},
      {"voice", "something_new", "error", true},
  };
  for (const auto& c : cases) {
    INFO(c.channel << " " << c.reason);
    CallStatus status = call_status_for(c.channel, c.reason);
    CHECK(status.call_status == c.status);
    CHECK(is_call_status(status.call_status));
    CHECK(status.error_message.empty() != c.message);
  }
  CHECK_THAT(call_status_for("voice", "refused:rate_limited").error_message,
             Catch::Contains("rate_limited"));
  CHECK_FALSE(is_call_status("COMPLETED"));
  CHECK_THAT(call_status_names(), Catch::Contains("voicemail-hangup"));
}

TEST_CASE("enqueue_end_of_call queues once per session, only with a webhook", "[outbox]") {
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-b");
  AgentConfig none;
  none.id = "hooked";
  REQUIRE(queue_end(*store, none, s, s.created_ms + 5000, "client_ended").ok());
  CHECK(store->outbox_items()->empty());

  AgentConfig agent = hooked_agent("http://127.0.0.1:9/hook");
  REQUIRE(queue_end(*store, agent, s, s.created_ms + 5000, "client_ended").ok());
  REQUIRE(queue_end(*store, agent, s, s.created_ms + 9000, "again").ok());
  OutboxItem item = only_item(*store);
  CHECK(item.kind == "session_data");
  CHECK(item.method == "POST");
  CHECK(item.idempotency_key == "session_data:sess-b");
  CHECK(item.url == "http://127.0.0.1:9/hook");
  CHECK(item.headers == json::array({{"Authorization", "Bearer t0ken"}}));
  auto body = parley::parse_json(item.body, "body");
  REQUIRE(body.ok());
  CHECK(body.value()["reason"] == "client_ended");  // the first end counts
  CHECK(body.value()["call_status"] == "user-ended");

  SessionRecord opted = add_session(*store, "sess-opt", false);
  opted.opted_out = true;
  REQUIRE(queue_end(*store, agent, opted, opted.created_ms, "client_ended").ok());
  auto items = store->outbox_items();
  REQUIRE(items->size() == 2);
  auto opted_body = parley::parse_json(items->back().body, "body");
  CHECK(opted_body.value()["chat"] == "[]");
}

TEST_CASE("a 2xx reply marks the item delivered", "[outbox]") {
  TestHttpServer receiver;
  receiver.script("/hook", ScriptedReply{204, ""});
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-c");
  REQUIRE(queue_end(*store, hooked_agent(receiver.url("/hook")), s, now_ms(), "ended")
              .ok());
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 5);
  deliverer.set_base_delay_ms(50);
  deliverer.start();
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).delivered_ms.has_value(); },
                                  5s));
  CHECK(rig.metrics.webhook_deliveries == 1);
  CHECK(rig.metrics.webhook_failures == 0);
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("idempotency-key") == "session_data:sess-c");
  CHECK(requests[0].header("authorization") == "Bearer t0ken");
  CHECK(requests[0].body == only_item(*store).body);
  CHECK(store->pending_count().value() == 0);
  parley::test::run_until(rig.io, [] { return false; }, 200ms);
  CHECK(receiver.requests().size() == 1);  // delivered once, not again
}

TEST_CASE("a receiver that is down, then up, gets the call with the same key", "[outbox]") {
  const std::uint16_t port = parley::test::unused_port();
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-d");
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  REQUIRE(queue_end(*store, hooked_agent(url), s, now_ms(), "ended").ok());
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 10);
  deliverer.set_base_delay_ms(30);
  deliverer.start();
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).attempts >= 2; }, 5s));
  CHECK(rig.metrics.webhook_failures >= 2);
  CHECK_THAT(only_item(*store).last_error, Catch::Contains("connect"));

  TestHttpServer receiver(port);  // up now, on the same port; first a 503, then fine
  receiver.script("/hook", std::vector<ScriptedReply>{{503, "busy"}, {200, "{}"}});
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).delivered_ms.has_value(); },
                                  10s));
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("idempotency-key") == "session_data:sess-d");
  CHECK(requests[1].header("idempotency-key") == "session_data:sess-d");
  CHECK(requests[0].body == requests[1].body);
  CHECK(rig.metrics.webhook_deliveries == 1);
}

TEST_CASE("the backoff grows and delivery gives up after max attempts", "[outbox]") {
  TestHttpServer receiver;
  receiver.script("/hook", ScriptedReply{500, "{}"});
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-e");
  REQUIRE(queue_end(*store, hooked_agent(receiver.url("/hook")), s, now_ms(), "ended")
              .ok());
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 4);
  deliverer.set_base_delay_ms(100);
  deliverer.start();
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).gave_up; }, 10s));
  parley::test::run_until(rig.io, [] { return false; }, 1000ms);  // no fifth attempt comes
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 4);
  OutboxItem item = only_item(*store);
  CHECK(item.attempts == 4);
  CHECK_FALSE(item.delivered_ms.has_value());
  CHECK(item.last_error == "HTTP 500");
  CHECK(rig.metrics.webhook_failures == 4);
  CHECK(rig.metrics.webhook_deliveries == 0);
  // Gaps: 100, 200, 400 ms (±20 % jitter) plus up to one poll interval (100 ms).
  auto gap = [&](std::size_t i) { return requests[i + 1].received_ms - requests[i].received_ms; };
  CHECK(gap(0) >= 75);
  CHECK(gap(1) >= 155);
  CHECK(gap(2) >= 315);
  CHECK(gap(2) > gap(0));
  CHECK(gap(2) < 1200);  // 400 ms ± 20 % plus a poll, with room for a loaded machine
}

TEST_CASE("a receiver that refuses the payload (422) is not retried", "[outbox]") {
  TestHttpServer receiver;
  receiver.script("/hook", ScriptedReply{422, R"({"error":"bad"})"});
  auto store = open_store();
  SessionRecord s = add_session(*store, "sess-f");
  REQUIRE(queue_end(*store, hooked_agent(receiver.url("/hook")), s, now_ms(), "ended")
              .ok());
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 8);
  deliverer.set_base_delay_ms(20);
  deliverer.start();
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).gave_up; }, 5s));
  parley::test::run_until(rig.io, [] { return false; }, 200ms);
  CHECK(receiver.requests().size() == 1);
  CHECK(only_item(*store).attempts == 1);
  CHECK(only_item(*store).last_error == "HTTP 422");
}

TEST_CASE("after a restart, a new store and deliverer deliver what was pending", "[outbox]") {
  TempDb db;
  const std::uint16_t port = parley::test::unused_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  {
    auto store = open_store(db.path);
    SessionRecord s1 = add_session(*store, "sess-g1");
    SessionRecord s2 = add_session(*store, "sess-g2");
    REQUIRE(queue_end(*store, hooked_agent(url), s1, now_ms(), "ended").ok());
    REQUIRE(queue_end(*store, hooked_agent(url), s2, now_ms(), "shutdown").ok());
    Rig rig;  // one failed round while the receiver is down, then the "host" goes away
    AsyncStore async_store(rig.io, *store);
    OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 8);
    deliverer.set_base_delay_ms(20);
    deliverer.start();
    REQUIRE(parley::test::run_until(rig.io, [&] { return rig.metrics.webhook_failures >= 2; },
                                    5s));
    deliverer.stop();
  }
  TestHttpServer receiver(port);
  receiver.script("/hook", ScriptedReply{200, "{}"});
  auto store = open_store(db.path);
  REQUIRE(store->pending_count().value() == 2);
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 8);
  deliverer.set_base_delay_ms(20);
  deliverer.start();
  REQUIRE(parley::test::run_until(rig.io, [&] { return store->pending_count().value() == 0; },
                                  10s));
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 2);
  std::set<std::string> keys;
  for (const auto& r : requests) keys.insert(r.header("idempotency-key"));
  CHECK(keys == std::set<std::string>{"session_data:sess-g1", "session_data:sess-g2"});
}

TEST_CASE("kick() delivers a new item without waiting for the poll", "[outbox]") {
  TestHttpServer receiver;
  receiver.script("/hook", ScriptedReply{200, "{}"});
  auto store = open_store();
  Rig rig;
  AsyncStore async_store(rig.io, *store);
  OutboxDeliverer deliverer(rig.io, async_store, rig.http, rig.metrics, 8);
  deliverer.set_base_delay_ms(60000);  // the poll would come in a minute
  deliverer.start();
  parley::test::run_until(rig.io, [] { return false; }, 50ms);
  SessionRecord s = add_session(*store, "sess-h");
  REQUIRE(queue_end(*store, hooked_agent(receiver.url("/hook")), s, now_ms(), "ended")
              .ok());
  deliverer.kick();
  REQUIRE(parley::test::run_until(rig.io, [&] { return only_item(*store).delivered_ms.has_value(); },
                                  3s));
}

TEST_CASE("the extra prompt webhook: a GET with the call and its metadata", "[outbox]") {
  TestHttpServer server;
  server.script("/extra", ScriptedReply{200, R"({"metadata":{"customer_tier":"premium"},"extra_prompt":"Be nice."})"});
  server.script("/array", ScriptedReply{200, "[1,2]"});
  server.script("/bad-metadata", ScriptedReply{200, R"({"metadata":"gold"})"});
  server.script("/bad-prompt", ScriptedReply{200, R"({"extra_prompt":5})"});
  server.script("/empty", ScriptedReply{200, "{}"});
  server.script("/error", ScriptedReply{500, "{}"});
  server.script("/slow", ScriptedReply{200, "{}", 3000});
  Rig rig;
  auto fetch = [&](const std::string& path, std::uint32_t timeout_ms = 2000) {
    AgentConfig agent;
    agent.id = "pre";
    if (!path.empty()) {
      WebhookConfig hook;
      hook.url = server.url(path) + "?token=abc";
      hook.method = "GET";
      hook.timeout_ms = timeout_ms;
      agent.extra_prompt_webhook = hook;
    }
    ExtraPromptRequest request{"sess-p", "pre", "+15550001", "", {}};
    request.metadata = {{"userName", "John Doe"}, {"tags", {"a", "b&c"}}, {"n", 3},
                        {"session_id", "spoof"}};
    std::optional<Result<ExtraPrompt>> result;
    fetch_extra_prompt(rig.http, agent, request, [&](Result<ExtraPrompt> r) { result = std::move(r); });
    CHECK_FALSE(result.has_value());
    REQUIRE(parley::test::run_until(rig.io, [&] { return result.has_value(); }, 5s));
    return std::move(*result);
  };

  auto ok = fetch("/extra");
  REQUIRE(ok.ok());
  CHECK(ok->metadata == json({{"customer_tier", "premium"}}));
  CHECK(ok->extra_prompt == "Be nice.");
  auto sent = server.requests_to("/extra");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].method == "GET");
  CHECK(sent[0].body.empty());
  // The configured query stays; the call's ids, the numbers, then every metadata key (a
  // metadata key named like one of the call's own is left out).
  CHECK(query_pairs(sent[0].target) ==
        std::vector<std::pair<std::string, std::string>>{{"token", "abc"},
                                                         {"session_id", "sess-p"},
                                                         {"agent_id", "pre"},
                                                         {"from", "+15550001"},
                                                         {"to", ""},
                                                         {"n", "3"},
                                                         {"tags", "a"},
                                                         {"tags", "b&c"},
                                                         {"userName", "John Doe"}});
  // A '+' is sent escaped: form decoders (Python, node) read a bare '+' as a space.
  CHECK_THAT(sent[0].target, Catch::Contains("from=%2B15550001"));

  auto none = fetch("");
  REQUIRE(none.ok());
  CHECK(none->metadata == json::object());
  CHECK(none->extra_prompt.empty());

  auto empty = fetch("/empty");
  REQUIRE(empty.ok());
  CHECK(empty->extra_prompt.empty());

  for (const char* path : {"/array", "/bad-metadata", "/bad-prompt"}) {
    INFO(path);
    auto bad = fetch(path);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == "extra_prompt_bad_reply");
  }
  CHECK_THAT(fetch("/bad-metadata").error().message, Catch::Contains("metadata must be an object"));

  auto failed = fetch("/error");
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == "extra_prompt_status");
  CHECK_THAT(failed.error().message, Catch::Contains("500"));

  auto t0 = std::chrono::steady_clock::now();
  auto slow = fetch("/slow", 200);
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code == "webhook_timeout");
}
