// A Millis customer's code against the real parley-host on loopback (issue 12): the page's
// agent_config, onfunction, one session and one report per call, and the two webhooks and
// the call logs as Millis documents them (docs.millis.ai: "Webhooks", "List Call Histories").
// The receivers are real HTTP servers that read what Millis says it sends, no more.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>

#include <boost/url/parse_query.hpp>

#include "host_fixture.hpp"
#include "test_http_server.hpp"

using namespace parley::test;
using parley::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kApiKey = "test-server-api-key-0001";

// The agent a Millis customer brings: webhooks, a tool, overrides it allows.
json millis_config(const TestHttpServer& receiver) {
  json config = base_host_config();
  config["server"]["api_keys"] = {kApiKey};
  config["server"]["reconnect_grace_s"] = 2;
  json agent = {
      {"id", "millis"},
      {"public_keys", {"pk-millis"}},
      {"allowed_origins", {"http://127.0.0.1:*"}},
      {"prompt", "You help {customer_tier|nobody}."},
      {"first_message", "Hello {userName|there}."},
      {"allow_overrides", {"prompt", "first_message", "session_timeout"}},
      {"extra_prompt_webhook", {{"url", receiver.url("/extra")}, {"timeout_ms", 1000}}},
      {"session_data_webhook", receiver.url("/end")},
      {"tools",
       {{{"name", "lookup"},
         {"parameters",
          {{"type", "object"}, {"properties", {{"order_id", {{"type", "string"}}}}}}},
         {"webhook", {{"url", receiver.url("/tool")}}}}}},
      {"rules",
       {{{"words", {"order"}},
         {"reply", "Order {tool.status|unknown}."},
         {"tool", "lookup"},
         {"tool_arguments", {{"order_id", "42"}}}},
        {{"words", {"tier"}}, {"reply", "Your tier is {customer_tier|unknown}."}}}},
      {"fallback_reply", "Sorry."}};
  // REST sessions of "chat" expire after 1 s and the sweep ends them: chat_completion.
  json chat = {{"id", "chat"},
               {"public_keys", {"pk-chat"}},
               {"allowed_origins", {"http://127.0.0.1:*"}},
               {"first_message", "Chat hello."},
               {"resume_window", 1},
               {"session_data_webhook", {{"url", receiver.url("/end")}}},
               {"rules", {{{"words", {"hello"}}, {"reply", "Hi."}}}}};
  config["agents"].push_back(agent);
  config["agents"].push_back(chat);
  return config;
}

void script_receiver(TestHttpServer& receiver) {
  receiver.script("/extra", ScriptedReply{200, R"({"metadata":{"customer_tier":"premium",)"
                                               R"("location":"California"},"extra_prompt":)"
                                               R"("The caller is a premium customer."})"});
  receiver.script("/end", ScriptedReply{200, "{}"});
  receiver.script("/tool", ScriptedReply{200, R"({"status":"shipped"})"});
}

std::string initiate_with(const json& agent, const std::string& key, json metadata = nullptr,
                          const std::string& continue_from = "") {
  json data = {{"public_key", key}, {"agent", agent}};
  if (!metadata.is_null()) data["metadata"] = std::move(metadata);
  if (!continue_from.empty()) data["session_continuation"] = {{"session_id", continue_from}};
  return parley::to_json_text(json{{"method", "initiate"}, {"data", data}});
}

// The decoded query of a request target, as a receiver reads it.
std::multimap<std::string, std::string> query_of(const std::string& target) {
  std::multimap<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  auto params = boost::urls::parse_query(std::string_view(target).substr(q + 1));
  REQUIRE(params.has_value());
  boost::urls::encoding_opts form;  // as receivers read a query: '+' is a space
  form.space_as_plus = true;
  for (const auto& p : *params) out.emplace(p.key.decode(form), p.value.decode(form));
  return out;
}

// The end-of-call reports the receiver got, by session id.
std::map<std::string, std::vector<json>> reports(const TestHttpServer& receiver) {
  std::map<std::string, std::vector<json>> out;
  for (const auto& r : receiver.requests_to("/end")) {
    auto body = parley::parse_json(r.body, "report", 64);
    REQUIRE(body.ok());
    out[(*body)["session_id"].get<std::string>()].push_back(*body);
  }
  return out;
}

// Waits until the receiver has a report for `session_id`.
json report_of(const TestHttpServer& receiver, const std::string& session_id,
               std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto all = reports(receiver);
    if (auto it = all.find(session_id); it != all.end()) return it->second.front();
    sleep_ms(50);
  }
  FAIL("no end-of-call report for " << session_id);
  return nullptr;
}

HttpResult call_logs(std::uint16_t port, const std::string& target,
                     const std::string& key = kApiKey) {
  Headers headers;
  if (!key.empty()) headers.emplace_back("Authorization", key);
  return http(port, "GET", target, {}, headers);
}

}  // namespace

TEST_CASE("the voice socket answers at /millis too, as the Millis SDK's endPoint", "[millis]") {
  HostFixture host;
  WsClient ws;
  REQUIRE(ws.connect(host.port(), "/millis", std::string(test_origin)) == "");
  REQUIRE(ws.send_text(initiate_text("alpha", "pk-alpha", {{"userName", "Ada"}})));
  json ready = read_method(ws, "onready");
  CHECK(ready["payload"]["session_id"].is_string());
  CHECK(read_final_text(ws)["data"] == "Hello Ada!");
}

TEST_CASE("extra_prompt_webhook: the call and its metadata in the query, the reply used",
          "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  HostFixture host(millis_config(receiver));
  WsClient ws;
  json ready = start_call(ws, host.port(), "millis", "pk-millis",
                          {{"userName", "Ada"}, {"plan", "pro"}, {"tags", {"a", "b"}}});
  const std::string id = ready["session_id"];
  CHECK(read_final_text(ws)["data"] == "Hello Ada.");
  // Templates see the webhook's metadata by its own name.
  ws.send_text(R"({"method":"text","data":"my tier"})");
  CHECK(read_final_text(ws)["data"] == "Your tier is premium.");

  auto sent = receiver.requests_to("/extra");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].method == "GET");
  auto query = query_of(sent[0].target);
  CHECK(query.find("session_id")->second == id);
  CHECK(query.find("agent_id")->second == "millis");
  CHECK(query.count("from") == 1);
  CHECK(query.count("to") == 1);
  CHECK(query.find("userName")->second == "Ada");
  CHECK(query.find("plan")->second == "pro");
  CHECK(query.count("tags") == 2);

  // The prompt the agent was really given: the template filled, then the extra prompt.
  HttpResult prompt = http(host.port(), "GET", "/admin/sessions/" + id + "/prompt", {},
                           {{"Authorization", "Bearer test-admin-key"}});
  REQUIRE(prompt.status == 200);
  CHECK(body_of(prompt)["prompt"] ==
        "You help premium.\n\nThe caller is a premium customer.");

  ws.close(1000);
  json report = report_of(receiver, id);
  CHECK(report["metadata"] == json({{"userName", "Ada"},
                                    {"plan", "pro"},
                                    {"tags", {"a", "b"}},
                                    {"customer_tier", "premium"},
                                    {"location", "California"}}));
}

TEST_CASE("a slow or failing extra_prompt_webhook lets the call start without it", "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  receiver.script("/extra", std::vector<ScriptedReply>{{200, "{}", 3000}, {500, "{}"},
                                                       {200, R"({"metadata":"gold"})"}});
  HostFixture host(millis_config(receiver));
  for (int i = 0; i < 3; ++i) {
    INFO("attempt " << i);
    const auto t0 = std::chrono::steady_clock::now();
    WsClient ws;
    start_call(ws, host.port(), "millis", "pk-millis", {{"userName", "Ada"}});
    CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);  // timeout_ms is 1000
    CHECK(read_final_text(ws)["data"] == "Hello Ada.");
    ws.send_text(R"({"method":"text","data":"tier"})");
    CHECK(read_final_text(ws)["data"] == "Your tier is unknown.");
    ws.close(1000);
  }
  HttpResult metrics = http(host.port(), "GET", "/metrics");
  CHECK_THAT(metrics.body, Catch::Contains(R"(kind="extra_prompt_failed"} 3)"));
  CHECK_THAT(host.process().log_text(), Catch::Contains("webhook.extra_prompt_failed"));
}

TEST_CASE("agent_config: allowed fields shape the call, the rest is refused naming the field",
          "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  HostFixture host(millis_config(receiver));
  const auto port = host.port();
  SECTION("with agent_id: an override of that agent, seen by the call and the report") {
    WsClient ws;
    REQUIRE(ws.connect(port, "/v1/voice", std::string(test_origin)) == "");
    ws.send_text(initiate_with(
        {{"agent_id", "millis"},
         {"agent_config", {{"first_message", "Custom hello, {userName}."},
                           {"prompt", "Be brief for {customer_tier}."}}}},
        "pk-millis", {{"userName", "Ada"}}));
    const std::string id = read_method(ws, "onready")["payload"]["session_id"];
    CHECK(read_final_text(ws)["data"] == "Custom hello, Ada.");
    HttpResult prompt = http(port, "GET", "/admin/sessions/" + id + "/prompt", {},
                             {{"Authorization", "Bearer test-admin-key"}});
    CHECK(body_of(prompt)["prompt"] ==
          "Be brief for premium.\n\nThe caller is a premium customer.");
    ws.close(1000);
    json report = report_of(receiver, id);
    CHECK(report["agent_config"]["first_message"] == "Custom hello, {userName}.");
    CHECK(report["agent_config"]["id"] == "millis");
    CHECK_FALSE(report["agent_config"].contains("session_data_webhook"));
    CHECK_FALSE(report["agent_config"].contains("public_keys"));
  }
  SECTION("alone: a temporary agent on the agent that owns the public key") {
    WsClient ws;
    REQUIRE(ws.connect(port, "/v1/voice", std::string(test_origin)) == "");
    // What the Millis SDK sends for start({first_message: ...}, {userName: "Ada"}).
    ws.send_text(initiate_with({{"agent_config", {{"first_message", "Temp {userName}."}}}},
                               "pk-millis", {{"userName", "Ada"}}));
    const std::string id = read_method(ws, "onready")["payload"]["session_id"];
    CHECK(read_final_text(ws)["data"] == "Temp Ada.");
    ws.close(1000);
    CHECK(report_of(receiver, id)["agent_id"] == "millis");
  }
  SECTION("an override of session_timeout ends the call: timeout") {
    WsClient ws;
    REQUIRE(ws.connect(port, "/v1/voice", std::string(test_origin)) == "");
    ws.send_text(initiate_with({{"agent_id", "millis"},
                                {"agent_config", {{"session_timeout", {{"max_idle", 1}}}}}},
                               "pk-millis"));
    const std::string id = read_method(ws, "onready")["payload"]["session_id"];
    json ended = read_method(ws, "onsessionended", 5000);
    CHECK(ended["payload"]["reason"] == "max_idle");
    CHECK(read_close(ws).close_code == 1000);
    json report = report_of(receiver, id);
    CHECK(report["call_status"] == "timeout");
    CHECK(report["error_message"].is_null());
  }
  struct Refused {
    json agent;
    std::string key;
    int close;
    std::string code;
    std::vector<std::string> mentions;
  };
  const Refused refusals[] = {
      {{{"agent_id", "millis"}, {"agent_config", {{"tools", json::array()}}}},
       "pk-millis", 4400, "bad_agent_config", {"agent.agent_config.tools", "never"}},
      {{{"agent_id", "millis"},
        {"agent_config", {{"session_data_webhook", "http://evil.example/steal"}}}},
       "pk-millis", 4400, "bad_agent_config",
       {"agent.agent_config.session_data_webhook", "URL or a secret"}},
      {{{"agent_id", "millis"}, {"agent_config", {{"language", "de-DE"}}}},
       "pk-millis", 4400, "bad_agent_config", {"agent.agent_config.language", "allow_overrides"}},
      {{{"agent_id", "millis"}, {"agent_config", {{"prompt", 7}}}},
       "pk-millis", 4400, "bad_agent_config", {"agent.agent_config.prompt", "string"}},
      {{{"agent_id", "alpha"}, {"agent_config", {{"prompt", "x"}}}},
       "pk-alpha", 4400, "bad_agent_config", {"agent.agent_config.prompt", "\"alpha\""}},
      {{{"agent_config", {{"prompt", "x"}}}}, "pk-nobody", 4401, "bad_public_key",
       {"public_key"}},
  };
  for (const auto& r : refusals) {
    INFO(parley::to_json_text(r.agent));
    WsClient ws;
    REQUIRE(ws.connect(port, "/v1/voice", std::string(test_origin)) == "");
    ws.send_text(initiate_with(r.agent, r.key));
    json error = read_method(ws, "onerror");
    CHECK(error["data"]["code"] == r.code);
    for (const auto& m : r.mentions)
      CHECK_THAT(error["data"]["message"].get<std::string>(), Catch::Contains(m));
    CHECK(read_close(ws).close_code == r.close);
  }
}

TEST_CASE("onfunction {name, params} for every tool call, then ai_action with the result",
          "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  HostFixture host(millis_config(receiver));
  WsClient ws;
  const std::string id = start_call(ws, host.port(), "millis", "pk-millis")["session_id"];
  read_final_text(ws);  // greeting
  ws.send_text(R"({"method":"text","data":"where is my order"})");
  json function = read_method(ws, "onfunction");
  CHECK(function["data"] == "");  // Millis: "text - Empty"
  CHECK(function["payload"] == json({{"name", "lookup"}, {"params", {{"order_id", "42"}}}}));
  json action = read_method(ws, "ai_action");
  CHECK(action["data"]["result"] == json({{"status", "shipped"}}));
  CHECK(read_final_text(ws)["data"] == "Order shipped.");
  ws.close(1000);
  json report = report_of(receiver, id);
  REQUIRE(report["function_calls"].size() == 1);
  CHECK(report["function_calls"][0]["name"] == "lookup");
  CHECK(report["function_calls"][0]["params"] == json({{"order_id", "42"}}));
  CHECK(report["function_calls"][0]["result"] == json({{"status", "shipped"}}));
}

TEST_CASE("the end-of-call report: every Millis field, one per session id, each call_status",
          "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  HostFixture host(millis_config(receiver));
  const auto port = host.port();

  // user-ended: the client hangs up.
  WsClient ws;
  const std::string first =
      start_call(ws, port, "millis", "pk-millis", {{"userName", "Ada"}})["session_id"];
  read_final_text(ws);
  ws.send_text(R"({"method":"text","data":"my tier"})");
  read_final_text(ws);
  ws.close(1000);
  json report = report_of(receiver, first);
  for (const char* field : {"session_id", "call_id", "agent_id", "agent_config", "ts",
                            "duration", "chat", "chars_used", "cost_breakdown",
                            "function_calls", "metadata", "call_status", "error_message",
                            "voip", "recording", "continued_from", "reason"})
    CHECK(report.contains(field));
  CHECK(report["call_status"] == "user-ended");
  CHECK(report["agent_id"] == "millis");
  CHECK(report["ts"].is_number());
  CHECK(report["duration"].is_number_integer());
  REQUIRE(report["chat"].is_string());
  json chat = parley::parse_json(report["chat"].get<std::string>(), "chat", 64).value();
  REQUIRE(chat.size() == 3);
  CHECK(chat[0] == json({{"role", "assistant"}, {"content", "Hello Ada."}}));
  CHECK(chat[1] == json({{"role", "user"}, {"content", "my tier"}}));
  CHECK(report["chars_used"] == 10 + 21);  // "Hello Ada." + "Your tier is premium."
  auto delivered = receiver.requests_to("/end");
  CHECK(delivered.back().header("idempotency-key") == "session_data:" + first);
  CHECK(delivered.back().header("content-type") == "application/json");

  SECTION("a continuation is a new session, with a report of its own") {
    WsClient next;
    json ready = start_call(next, port, "millis", "pk-millis", {{"userName", "Ada"}}, first);
    CHECK(ready["continuation"] == "continued");
    const std::string second = ready["session_id"];
    REQUIRE(second != first);
    next.close(1000);
    CHECK(report_of(receiver, second)["continued_from"] == first);
    CHECK(reports(receiver)[first].size() == 1);
  }
  SECTION("a dropped call back within the grace keeps its id; one report at its real end") {
    std::string id;
    {
      WsClient call;
      id = start_call(call, port, "millis", "pk-millis", {{"userName", "Ada"}})["session_id"];
      read_final_text(call);
    }  // dropped: no close frame
    sleep_ms(300);
    WsClient back;
    json ready = start_call(back, port, "millis", "pk-millis", {{"userName", "Ada"}}, id);
    CHECK(ready["continuation"] == "resumed");
    CHECK(ready["session_id"] == id);
    back.send_text(R"({"method":"text","data":"tier"})");
    CHECK(read_final_text(back)["data"] == "Your tier is premium.");  // no greeting first
    sleep_ms(2500);  // past the 2 s grace: the dropped call did not end the session
    CHECK(reports(receiver).count(id) == 0);
    back.close(1000);
    json r = report_of(receiver, id);
    CHECK(r["call_status"] == "user-ended");
    sleep_ms(300);
    CHECK(reports(receiver)[id].size() == 1);
    // Both calls' lines: greeting, then the turn after the reconnect.
    CHECK(parley::parse_json(r["chat"].get<std::string>(), "chat", 64)->size() == 3);
  }
  SECTION("a dropped call that does not come back: error, as of the drop") {
    std::string id;
    {
      WsClient call;
      id = start_call(call, port, "millis", "pk-millis")["session_id"];
      read_final_text(call);
    }
    const auto dropped_at = std::chrono::steady_clock::now();
    json r = report_of(receiver, id, 6s);
    CHECK(std::chrono::steady_clock::now() - dropped_at >= 1500ms);  // waited for the grace
    CHECK(r["call_status"] == "error");
    CHECK(r["reason"] == "connection_lost");
    CHECK_THAT(r["error_message"].get<std::string>(), Catch::Contains("connection"));
    CHECK(r["duration"].get<int>() <= 1);  // ended at the drop, not after the grace
  }
  SECTION("a call refused mid-way: error naming why") {
    WsClient call;
    const std::string id = start_call(call, port, "millis", "pk-millis")["session_id"];
    read_final_text(call);
    call.send_text("[1,2");
    CHECK(read_close(call).close_code == 4400);
    json r = report_of(receiver, id);
    CHECK(r["call_status"] == "error");
    CHECK_THAT(r["error_message"].get<std::string>(), Catch::Contains("bad_json"));
  }
  SECTION("a REST session closed by DELETE: api-ended") {
    json opened = body_of(host.rest("POST", "Session", json{{"memoriID", "millis"}}));
    const std::string id = opened["sessionID"];
    CHECK(body_of(host.rest("DELETE", "Session/" + id))["resultCode"] == 0);
    CHECK(report_of(receiver, id)["call_status"] == "api-ended");
  }
  SECTION("a REST chat that goes quiet past its window: chat_completion") {
    json opened = body_of(host.rest("POST", "Session", json{{"memoriID", "chat"}}));
    const std::string id = opened["sessionID"];
    host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hello"}});
    json r = report_of(receiver, id, 12s);  // the sweep runs every 5 s
    CHECK(r["call_status"] == "chat_completion");
    CHECK(r["reason"] == "idle_expired");
  }
  SECTION("a call the server ends on shutdown: error, delivered after the restart") {
    WsClient call;
    const std::string id = start_call(call, port, "millis", "pk-millis")["session_id"];
    read_final_text(call);
    CHECK(host.process().stop() == 0);
    host.start();
    json r = report_of(receiver, id);
    CHECK(r["call_status"] == "error");
    CHECK(r["reason"] == "server_shutdown");
  }
}

TEST_CASE("GET /call-logs with a server API key: what the webhook would have sent", "[millis]") {
  TestHttpServer receiver;
  script_receiver(receiver);
  HostFixture host(millis_config(receiver));
  const auto port = host.port();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    WsClient ws;
    ids.push_back(start_call(ws, port, i == 2 ? "alpha" : "millis", i == 2 ? "pk-alpha" : "pk-millis",
                             {{"n", std::to_string(i)}})["session_id"]);
    read_final_text(ws);
    ws.close(1000);
    sleep_ms(20);  // distinct start times
  }
  json webhook_report = report_of(receiver, ids[0]);
  sleep_ms(200);

  HttpResult one = call_logs(port, "/call-logs/" + ids[0]);
  REQUIRE(one.status == 200);
  CHECK(one.header("cache-control") == "no-store");
  CHECK(body_of(one) == webhook_report);

  json page = body_of(call_logs(port, "/call-logs?limit=2"));
  REQUIRE(page["histories"].size() == 2);
  CHECK(page["histories"][0]["session_id"] == ids[2]);  // newest first
  CHECK(page["histories"][1]["session_id"] == ids[1]);
  REQUIRE(page["next_cursor"].is_number());
  json rest = body_of(call_logs(
      port, "/call-logs?limit=2&start_after_ts=" + parley::to_json_text(page["next_cursor"])));
  REQUIRE(rest["histories"].size() == 1);
  CHECK(rest["histories"][0]["session_id"] == ids[0]);
  CHECK(rest["next_cursor"].is_null());

  json millis_only = body_of(call_logs(port, "/call-logs?agent_id=millis"));
  CHECK(millis_only["histories"].size() == 2);
  json by_status = body_of(call_logs(port, "/call-logs?call_status=agent-ended"));
  CHECK(by_status["histories"].empty());
  CHECK(body_of(call_logs(port, "/call-logs?call_status=user-ended"))["histories"].size() == 3);

  struct Bad {
    std::string target;
    std::string key;
    unsigned status;
    std::string code;
    std::string mentions;
  };
  const Bad bad[] = {
      {"/call-logs", "", 401, "unauthorized", "Authorization"},
      {"/call-logs", "pk-millis", 401, "unauthorized", "server API key"},
      {"/call-logs", std::string("Bearer ") + kApiKey, 401, "unauthorized", "Bearer"},
      {"/call-logs?limit=0", kApiKey, 400, "bad_request", "limit"},
      {"/call-logs?limit=101", kApiKey, 400, "bad_request", "100"},
      {"/call-logs?limit=2&limit=3", kApiKey, 400, "bad_request", "more than once"},
      {"/call-logs?start_after_ts=yesterday", kApiKey, 400, "bad_request", "start_after_ts"},
      {"/call-logs?call_status=COMPLETED", kApiKey, 400, "bad_request", "user-ended"},
      {"/call-logs/00000000-0000-4000-8000-000000000000", kApiKey, 404, "not_found", "no ended"},
  };
  for (const auto& b : bad) {
    INFO(b.target << " with " << b.key);
    HttpResult r = call_logs(port, b.target, b.key);
    CHECK(r.status == b.status);
    json body = body_of(r);
    CHECK(body["error"]["code"] == b.code);
    CHECK_THAT(body["error"]["message"].get<std::string>(), Catch::Contains(b.mentions));
  }
}

TEST_CASE("without server.api_keys the call logs are off", "[millis]") {
  HostFixture host;
  HttpResult r = http(host.port(), "GET", "/call-logs", {}, {{"Authorization", kApiKey}});
  CHECK(r.status == 401);
  CHECK_THAT(body_of(r)["error"]["message"].get<std::string>(), Catch::Contains("api_keys"));
}
