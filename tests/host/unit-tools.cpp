// Tools of the built-in responder (metadata-filled arguments, the webhook call, the reply
// template under `tool.`, failures) and the HttpClient beneath them, against a real local
// HTTP server.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/agent.hpp"
#include "test_http_server.hpp"
#include "vectors.hpp"

using parley::json;
using parley::Result;
using namespace parley::host;
using namespace std::chrono_literals;
using parley::test::ScriptedReply;
using parley::test::TestHttpServer;

namespace {

struct ToolRig {
  boost::asio::io_context io;
  HttpClient http{io};
  AgentConfig agent;
  std::shared_ptr<Conversation> conversation;

  ToolRig(const std::string& tool_url, const std::string& metadata_key,
          std::uint32_t timeout_ms = 3000) {
    auto all = parley::test::load_vectors("host-agent");
    agent = parley::test::agent_from_vector(all["tools_agent"]);
    agent.id = "shop";
    agent.tools[0].webhook.url = tool_url;
    agent.tools[0].webhook.timeout_ms = timeout_ms;
    agent.tools[0].webhook.headers = {{"X-Tool-Secret", "s3cret"}};
    ConversationContext ctx;
    ctx.agent = &agent;
    ctx.session_id = "session-7";
    ctx.metadata = all[metadata_key];
    conversation = make_conversation(io, http, std::move(ctx));
  }

  AgentReply ask(const std::string& text) {
    std::optional<AgentReply> reply;
    conversation->respond(text, {}, [&](AgentReply r) { reply = std::move(r); });
    REQUIRE(parley::test::run_until(io, [&] { return reply.has_value(); }, 10s));
    return *reply;
  }
};

const json order_reply = {{"order", {{"id", 1234}, {"status", "shipped"}}}};

Result<HttpClientResponse> fetch(const WebhookConfig& target, std::string body = "{}",
                                 std::vector<std::pair<std::string, std::string>> extra = {}) {
  boost::asio::io_context io;
  HttpClient http(io);
  std::optional<Result<HttpClientResponse>> result;
  http.request(target, std::move(body), std::move(extra),
               [&](Result<HttpClientResponse> r) { result = std::move(r); });
  CHECK_FALSE(result.has_value());  // never answered from inside request()
  REQUIRE(parley::test::run_until(io, [&] { return result.has_value(); }, 10s));
  return std::move(*result);
}

WebhookConfig target(const std::string& url, std::uint32_t timeout_ms = 3000) {
  WebhookConfig w;
  w.url = url;
  w.timeout_ms = timeout_ms;
  return w;
}

}  // namespace

TEST_CASE("metadata fills the tool's parameters and its reply fills the template", "[tools]") {
  TestHttpServer server;
  server.script("/tools/order", ScriptedReply{200, parley::to_json_text(order_reply)});
  ToolRig rig(server.url("/tools/order"), "tools_metadata");

  AgentReply reply = rig.ask("where is my order?");
  CHECK(reply.text == "Order 1234 is shipped, Ann.");
  CHECK_FALSE(reply.fallback);
  REQUIRE(reply.actions.size() == 1);
  const AgentAction& action = reply.actions[0];
  CHECK(action.name == "lookup_order");
  CHECK(action.error.empty());
  CHECK(action.result == order_reply);
  // Converted to the parameter types; metadata beats the rule's (model-side) user_id;
  // string arguments are templates.
  json expected_args = {{"order_id", 1234}, {"user_id", "u-42"}, {"verbose", true},
                        {"note", "for Ann"}};
  CHECK(action.arguments == expected_args);

  auto requests = server.requests_to("/tools/order");
  REQUIRE(requests.size() == 1);
  const auto& req = requests[0];
  CHECK(req.method == "POST");
  CHECK(req.header("content-type") == "application/json");
  CHECK_THAT(req.header("user-agent"), Catch::Contains("parley-host"));
  CHECK(req.header("x-tool-secret") == "s3cret");
  auto body = parley::parse_json(req.body, "tool request");
  REQUIRE(body.ok());
  CHECK(body.value() == json({{"name", "lookup_order"},
                              {"arguments", expected_args},
                              {"session_id", "session-7"},
                              {"agent_id", "shop"}}));
}

TEST_CASE("a metadata value that does not convert is the action's error", "[tools]") {
  TestHttpServer server;
  server.script("/tools/order", ScriptedReply{200, parley::to_json_text(order_reply)});
  ToolRig rig(server.url("/tools/order"), "tools_bad_metadata");

  AgentReply reply = rig.ask("my order please");
  CHECK(reply.fallback);
  CHECK(reply.text == "I could not reach the system, sorry.");
  REQUIRE(reply.actions.size() == 1);
  CHECK_THAT(reply.actions[0].error, Catch::Contains("order_id"));
  CHECK_THAT(reply.actions[0].error, Catch::Contains("12x"));
  CHECK(reply.actions[0].result.is_null());
  CHECK(server.requests().empty());  // nothing was sent

  // A template with its own fallback for the tool's data still reads well.
  AgentReply status = rig.ask("status?");
  CHECK(status.text == "Status: unknown for now.");
  CHECK(status.fallback);
}

TEST_CASE("a tool server that is down gives the fallback and the error", "[tools]") {
  ToolRig rig("http://127.0.0.1:" + std::to_string(parley::test::unused_port()) + "/t",
              "tools_metadata");
  AgentReply reply = rig.ask("order");
  CHECK(reply.fallback);
  CHECK(reply.text == "I could not reach the system, sorry.");
  REQUIRE(reply.actions.size() == 1);
  CHECK_THAT(reply.actions[0].error, Catch::Contains("connect"));
  CHECK_THAT(reply.actions[0].error, Catch::Contains("127.0.0.1"));
  CHECK(reply.actions[0].arguments["order_id"] == 1234);  // what would have been sent
}

TEST_CASE("a slow tool times out within its timeout", "[tools]") {
  TestHttpServer server;
  server.script("/slow", ScriptedReply{200, parley::to_json_text(order_reply), 3000});
  ToolRig rig(server.url("/slow"), "tools_metadata", 300);
  auto t0 = std::chrono::steady_clock::now();
  AgentReply reply = rig.ask("order");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= 290ms);
  CHECK(elapsed < 1000ms);  // the timeout plus a small margin, not the server's 3 s
  CHECK(reply.fallback);
  REQUIRE(reply.actions.size() == 1);
  CHECK_THAT(reply.actions[0].error, Catch::Contains("300 ms"));
}

TEST_CASE("a tool reply that is not JSON, or not 2xx, is an error", "[tools]") {
  TestHttpServer server;
  server.script("/text", ScriptedReply{200, "this is not json", 0, "text/plain"});
  server.script("/fail", ScriptedReply{500, R"({"order":{"id":1,"status":"x"}})"});
  {
    ToolRig rig(server.url("/text"), "tools_metadata");
    AgentReply reply = rig.ask("order");
    CHECK(reply.fallback);
    REQUIRE(reply.actions.size() == 1);
    CHECK_THAT(reply.actions[0].error, Catch::Contains("lookup_order"));
  }
  {
    ToolRig rig(server.url("/fail"), "tools_metadata");
    AgentReply reply = rig.ask("order");
    CHECK(reply.fallback);
    REQUIRE(reply.actions.size() == 1);
    CHECK_THAT(reply.actions[0].error, Catch::Contains("HTTP 500"));
    CHECK(reply.actions[0].result.is_null());
  }
}

TEST_CASE("HttpClient: replies, statuses, headers and GET", "[tools]") {
  TestHttpServer server;
  server.script("/ok", ScriptedReply{201, R"({"a":1})"});
  server.script("/get", ScriptedReply{200, "[]"});

  auto ok = fetch(target(server.url("/ok?x=1")), R"({"q":2})", {{"Idempotency-Key", "k-1"}});
  REQUIRE(ok.ok());
  CHECK(ok->status == 201);
  CHECK(ok->body == R"({"a":1})");

  WebhookConfig get = target(server.url("/get?session_id=abc"));
  get.method = "GET";
  auto got = fetch(get, "ignored body");
  REQUIRE(got.ok());
  CHECK(got->body == "[]");

  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].target == "/ok?x=1");
  CHECK(requests[0].body == R"({"q":2})");
  CHECK(requests[0].header("idempotency-key") == "k-1");
  CHECK(requests[0].header("host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(requests[1].method == "GET");
  CHECK(requests[1].target == "/get?session_id=abc");
  CHECK(requests[1].body.empty());
}

TEST_CASE("HttpClient: bad URLs, headers, big replies and TLS failures", "[tools]") {
  SECTION("URLs") {
    for (const char* url : {"ftp://example.com/x", "not a url", "http://", "http://u:p@h/x",
                            "http://127.0.0.1:0/x", "/relative"}) {
      INFO(url);
      auto r = fetch(target(url));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == "webhook_bad_url");
    }
  }
  SECTION("a header with CR/LF is refused, nothing is sent") {
    TestHttpServer server;
    server.script("/x", ScriptedReply{});
    auto r = fetch(target(server.url("/x")), "{}", {{"X-Evil", "a\r\nInjected: 1"}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "webhook_bad_header");
    CHECK_THAT(r.error().message, Catch::Contains("X-Evil"));
    CHECK(server.requests().empty());
  }
  SECTION("a reply over 1 MiB") {
    TestHttpServer server;
    server.script("/big", ScriptedReply{200, std::string(1024 * 1024 + 1, 'x')});
    server.script("/fits", ScriptedReply{200, std::string(1024 * 1024, 'x')});
    auto big = fetch(target(server.url("/big")));
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().code == "webhook_too_large");
    CHECK_THAT(big.error().message, Catch::Contains("1 MiB"));
    auto fits = fetch(target(server.url("/fits")));
    REQUIRE(fits.ok());
    CHECK(fits->body.size() == 1024 * 1024);
  }
  SECTION("connection refused") {
    auto r = fetch(target("http://127.0.0.1:" + std::to_string(parley::test::unused_port())));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "webhook_connect");
  }
  SECTION("https to a server that does not speak TLS fails the handshake") {
    TestHttpServer server;
    auto r = fetch(target("https://127.0.0.1:" + std::to_string(server.port()) + "/x", 2000));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "webhook_connect");
    CHECK_THAT(r.error().message, Catch::Contains("TLS"));
  }
  SECTION("the timeout covers a server that never answers") {
    TestHttpServer server;
    server.script("/hang", ScriptedReply{200, "{}", 5000});
    auto t0 = std::chrono::steady_clock::now();
    auto r = fetch(target(server.url("/hang"), 200));
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "webhook_timeout");
  }
}
