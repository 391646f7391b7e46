// The custom LLM link (custom_llm_websocket) against a small real WebSocket LLM server.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/agent.hpp"
#include "parley/templates.hpp"
#include "test_http_server.hpp"
#include "vectors.hpp"

using parley::json;
using parley::Status;
using namespace parley::host;
using namespace std::chrono_literals;
using parley::test::LlmFrame;
using parley::test::stream_response;
using parley::test::TestLlmServer;

namespace {

std::string type_of(const json& m) {
  return m.is_object() && m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                                                                      : "";
}

json stream_id_of(const json& m) { return m["data"]["stream_id"]; }

// Answers every stream_request with `pieces` (the last one ends the stream).
TestLlmServer::Handler echo_pieces(std::vector<std::string> pieces) {
  return [pieces](const json& m) {
    std::vector<LlmFrame> frames;
    if (type_of(m) != "stream_request") return frames;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      frames.push_back({5, stream_response(stream_id_of(m), pieces[i], i + 1 == pieces.size())});
    }
    return frames;
  };
}

struct LlmRig {
  boost::asio::io_context io;
  HttpClient http{io};
  AgentConfig agent;
  std::shared_ptr<Conversation> conversation;

  explicit LlmRig(const std::string& url, CustomLlmLimits limits = {},
                  std::vector<ChatLine> history = {}, bool include_metadata = true) {
    agent.id = "llm-agent";
    agent.prompt = "You serve {userName} on the {plan} plan.";
    agent.first_message = "Hi {userName}!";
    agent.fallback_reply = "One moment, something went wrong.";
    agent.custom_llm_websocket = url;
    ConversationContext ctx;
    ctx.agent = &agent;
    ctx.session_id = "sess-llm-1";
    ctx.metadata = {{"userName", "John"}, {"plan", "pro"}, {"user_id", "u-9"}};
    ctx.variables = {{"userName", "John"}, {"plan", "pro"}, {"tier", "gold"}};
    ctx.include_metadata_in_prompt = include_metadata;
    ctx.history = std::move(history);
    ctx.llm_limits = limits;
    conversation = make_conversation(io, http, std::move(ctx));
  }

  Status start() {
    std::optional<Status> status;
    conversation->start([&](Status s) { status = std::move(s); });
    REQUIRE(parley::test::run_until(io, [&] { return status.has_value(); }, 10s));
    return std::move(*status);
  }

  AgentReply ask(const std::string& text, std::vector<std::string>* pieces = nullptr) {
    std::optional<AgentReply> reply;
    int calls = 0;
    conversation->respond(
        text,
        [&](std::string_view piece) {
          CHECK_FALSE(reply.has_value());  // pieces come before the reply
          if (pieces) pieces->emplace_back(piece);
        },
        [&](AgentReply r) {
          ++calls;
          reply = std::move(r);
        });
    REQUIRE(parley::test::run_until(io, [&] { return reply.has_value(); }, 10s));
    parley::test::run_until(io, [] { return false; }, 20ms);  // a second call would show here
    CHECK(calls == 1);
    return *reply;
  }
};

ChatLine line(bool inbound, const std::string& text) {
  ChatLine l;
  l.inbound = inbound;
  l.text = text;
  return l;
}

std::vector<json> of_type(const std::vector<json>& messages, const std::string& type) {
  std::vector<json> out;
  for (const auto& m : messages) {
    if (type_of(m) == type) out.push_back(m);
  }
  return out;
}

}  // namespace

TEST_CASE("start_call carries the session, metadata, history and prompt", "[custom-llm]") {
  TestLlmServer llm(echo_pieces({"ok"}));
  LlmRig rig(llm.url(), {}, {line(true, "earlier question"), line(false, "earlier answer")});
  Status started = rig.start();
  REQUIRE(started.ok());
  REQUIRE(llm.wait_for_messages(1, 5s));
  json start = llm.messages()[0];
  CHECK(type_of(start) == "start_call");
  const json& d = start["data"];
  CHECK(d["stream_id"] == 0);
  CHECK(d["session_id"] == "sess-llm-1");
  CHECK(d["agent_id"] == "llm-agent");
  CHECK(d["metadata"] == json({{"userName", "John"}, {"plan", "pro"}, {"user_id", "u-9"}}));
  CHECK(d["history"] == json::array({{{"role", "user"}, {"content", "earlier question"}},
                                     {{"role", "assistant"}, {"content", "earlier answer"}}}));
  CHECK(d["first_message"] == "Hi John!");
  std::string expected_prompt = parley::append_metadata_to_prompt(
      "You serve John on the pro plan.", d["metadata"]);
  CHECK(d["prompt"] == expected_prompt);
  CHECK_THAT(d["prompt"].get<std::string>(), Catch::Contains("<<<SESSION METADATA BEGIN>>>"));
  CHECK(rig.conversation->system_prompt() == expected_prompt);
}

TEST_CASE("a turn asked while connecting waits for the link", "[custom-llm]") {
  TestLlmServer llm(echo_pieces({"ready now"}));
  LlmRig rig(llm.url());
  std::optional<Status> started;
  std::optional<AgentReply> reply;
  rig.conversation->start([&](Status s) { started = std::move(s); });
  rig.conversation->respond("quick!", {}, [&](AgentReply r) { reply = std::move(r); });
  REQUIRE(parley::test::run_until(rig.io, [&] { return reply.has_value(); }, 10s));
  REQUIRE(started.has_value());
  CHECK(started->ok());
  CHECK(reply->text == "ready now");
  CHECK_FALSE(reply->fallback);
}

TEST_CASE("without include_metadata_in_prompt the prompt has no metadata section",
          "[custom-llm]") {
  TestLlmServer llm(echo_pieces({"ok"}));
  LlmRig rig(llm.url(), {}, {}, false);
  REQUIRE(rig.start().ok());
  REQUIRE(llm.wait_for_messages(1, 5s));
  CHECK(llm.messages()[0]["data"]["prompt"] == "You serve John on the pro plan.");
}

TEST_CASE("streamed pieces are joined, in order, and the transcript grows", "[custom-llm]") {
  TestLlmServer llm(echo_pieces({"Hel", "lo ", "world"}));
  LlmRig rig(llm.url(), {}, {line(true, "before")});
  REQUIRE(rig.start().ok());
  std::vector<std::string> pieces;
  AgentReply first = rig.ask("hi there", &pieces);
  CHECK(first.text == "Hello world");
  CHECK_FALSE(first.fallback);
  CHECK(pieces == std::vector<std::string>{"Hel", "lo ", "world"});

  AgentReply second = rig.ask("again");
  CHECK(second.text == "Hello world");

  auto requests = of_type(llm.messages(), "stream_request");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0]["data"]["stream_id"] == 1);
  CHECK(requests[1]["data"]["stream_id"] == 2);
  CHECK(requests[0]["data"]["transcript"] ==
        json::array({{{"role", "user"}, {"content", "before"}},
                     {{"role", "user"}, {"content", "hi there"}}}));
  CHECK(requests[1]["data"]["transcript"] ==
        json::array({{{"role", "user"}, {"content", "before"}},
                     {{"role", "user"}, {"content", "hi there"}},
                     {{"role", "assistant"}, {"content", "Hello world"}},
                     {{"role", "user"}, {"content", "again"}}}));
}

TEST_CASE("a function_call runs the tool and its result goes back to the LLM",
          "[custom-llm]") {
  parley::test::TestHttpServer tools;
  json tool_reply = {{"status", "shipped"}};
  tools.script("/order", parley::test::ScriptedReply{200, parley::to_json_text(tool_reply)});

  TestLlmServer llm([](const json& m) {
    std::vector<LlmFrame> frames;
    if (type_of(m) == "stream_request") {
      json call = {{"type", "function_call"},
                   {"data", {{"stream_id", stream_id_of(m)}, {"name", "lookup_order"},
                             {"call_id", "c-1"},
                             {"arguments", R"({"order_id": 5, "user_id": "mallory"})"}}}};
      json unknown = {{"type", "function_call"},
                      {"data", {{"stream_id", stream_id_of(m)}, {"name", "launch_rockets"},
                                {"arguments", json::object()}}}};
      frames.push_back({0, parley::to_json_text(call)});
      frames.push_back({0, parley::to_json_text(unknown)});
    } else if (type_of(m) == "function_result" && m["data"]["name"] == "lookup_order") {
      frames.push_back({0, stream_response(m["data"]["stream_id"], "It has shipped.", true)});
    }
    return frames;
  });
  LlmRig rig(llm.url());
  ToolConfig tool;
  tool.name = "lookup_order";
  tool.parameters = {{"type", "object"},
                     {"properties", {{"order_id", {{"type", "integer"}}},
                                     {"user_id", {{"type", "string"}}}}}};
  tool.webhook.url = tools.url("/order");
  rig.agent.tools.push_back(tool);
  REQUIRE(rig.start().ok());

  AgentReply reply = rig.ask("where is my order");
  CHECK(reply.text == "It has shipped.");
  REQUIRE(reply.actions.size() == 2);
  const AgentAction* lookup = nullptr;
  const AgentAction* rockets = nullptr;
  for (const auto& a : reply.actions) (a.name == "lookup_order" ? lookup : rockets) = &a;
  REQUIRE(lookup != nullptr);
  REQUIRE(rockets != nullptr);
  CHECK(lookup->error.empty());
  CHECK(lookup->result == tool_reply);
  CHECK(lookup->arguments == json({{"order_id", 5}, {"user_id", "u-9"}}));  // metadata wins
  CHECK_THAT(rockets->error, Catch::Contains("launch_rockets"));

  auto results = of_type(llm.messages(), "function_result");
  REQUIRE(results.size() == 2);
  json good = results[0]["data"]["name"] == "lookup_order" ? results[0] : results[1];
  json bad = results[0]["data"]["name"] == "lookup_order" ? results[1] : results[0];
  CHECK(good["data"]["call_id"] == "c-1");
  CHECK(good["data"]["stream_id"] == 1);
  CHECK(good["data"]["result"] == tool_reply);
  CHECK_FALSE(good["data"].contains("error"));
  CHECK(bad["data"]["result"].is_null());
  CHECK_THAT(bad["data"]["error"].get<std::string>(), Catch::Contains("no tool"));
  REQUIRE(tools.requests().size() == 1);
}

TEST_CASE("an LLM that is down or misaddressed fails start()", "[custom-llm]") {
  SECTION("connection refused") {
    LlmRig rig("ws://127.0.0.1:" + std::to_string(parley::test::unused_port()) + "/llm");
    Status s = rig.start();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "llm_connect");
    CHECK_THAT(s.error().message, Catch::Contains("127.0.0.1"));
    AgentReply reply = rig.ask("hello?");  // turns still get an answer
    CHECK(reply.fallback);
    CHECK(reply.text == "One moment, something went wrong.");
  }
  SECTION("not a ws URL") {
    LlmRig rig("http://127.0.0.1:1/llm");
    Status s = rig.start();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "llm_bad_url");
    CHECK_THAT(s.error().message, Catch::Contains("ws://"));
    CHECK(rig.ask("x").fallback);
  }
  SECTION("a server that never completes the handshake: connect timeout") {
    parley::test::TestHttpServer silent;
    silent.script("/llm", parley::test::ScriptedReply{101, "", 5000});
    CustomLlmLimits limits;
    limits.connect_timeout_ms = 300;
    LlmRig rig("ws://127.0.0.1:" + std::to_string(silent.port()) + "/llm", limits);
    auto t0 = std::chrono::steady_clock::now();
    Status s = rig.start();
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "llm_timeout");
    CHECK_THAT(s.error().message, Catch::Contains("300 ms"));
  }
  SECTION("an HTTP server that refuses the upgrade") {
    parley::test::TestHttpServer http_only;  // answers 404 to everything
    LlmRig rig("ws://127.0.0.1:" + std::to_string(http_only.port()) + "/llm");
    Status s = rig.start();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "llm_connect");
    CHECK_THAT(s.error().message, Catch::Contains("handshake"));
  }
}

TEST_CASE("a turn with no end of stream times out to the fallback", "[custom-llm]") {
  TestLlmServer llm([](const json& m) {
    std::vector<LlmFrame> frames;
    if (type_of(m) == "stream_request") {
      frames.push_back({0, stream_response(stream_id_of(m), "", false)});  // never ends
    }
    return frames;
  });
  CustomLlmLimits limits;
  limits.turn_timeout_ms = 250;
  LlmRig rig(llm.url(), limits);
  REQUIRE(rig.start().ok());
  auto t0 = std::chrono::steady_clock::now();
  AgentReply reply = rig.ask("anyone?");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= 240ms);
  CHECK(elapsed < 1500ms);
  CHECK(reply.fallback);
  CHECK(reply.text == "One moment, something went wrong.");
  REQUIRE(llm.wait_for_messages(3, 5s));  // start_call, stream_request, interrupt
  auto interrupts = of_type(llm.messages(), "interrupt");
  REQUIRE(interrupts.size() == 1);
  CHECK(interrupts[0]["data"]["stream_id"] == 1);
}

TEST_CASE("responses for a stale or unknown stream id are ignored", "[custom-llm]") {
  // Turn 1 gets no answer in time; its late answer reaches the host during turn 2 (the
  // server sends it first, when turn 2's request arrives), with other strays.
  TestLlmServer llm([](const json& m) {
    std::vector<LlmFrame> frames;
    if (type_of(m) != "stream_request" || stream_id_of(m) == 1) return frames;
    frames.push_back({0, stream_response(1, "late ", true)});
    frames.push_back({0, stream_response(999, "bogus ", true)});
    frames.push_back({0, stream_response(0, "greeting ", true)});
    frames.push_back({0, stream_response(stream_id_of(m), "fresh", true)});
    return frames;
  });
  CustomLlmLimits limits;
  limits.turn_timeout_ms = 200;
  LlmRig rig(llm.url(), limits);
  REQUIRE(rig.start().ok());
  AgentReply first = rig.ask("one");
  CHECK(first.fallback);
  AgentReply second = rig.ask("two");
  CHECK(second.text == "fresh");
  CHECK_FALSE(second.fallback);
}

TEST_CASE("end_call, an oversized message and a closed socket", "[custom-llm]") {
  SECTION("end_call ends the turn and asks to end the call") {
    TestLlmServer llm([](const json& m) {
      std::vector<LlmFrame> frames;
      if (type_of(m) != "stream_request") return frames;
      frames.push_back({0, stream_response(stream_id_of(m), "Goodbye!", false)});
      frames.push_back({0, parley::to_json_text(
                               {{"type", "end_call"}, {"data", {{"stream_id", stream_id_of(m)}}}})});
      return frames;
    });
    LlmRig rig(llm.url());
    REQUIRE(rig.start().ok());
    AgentReply reply = rig.ask("bye");
    CHECK(reply.text == "Goodbye!");
    CHECK(reply.end_call);
  }
  SECTION("a message over the cap drops the link; later turns fall back") {
    TestLlmServer llm(echo_pieces({std::string(4000, 'x')}));
    CustomLlmLimits limits;
    limits.max_message_bytes = 1024;
    LlmRig rig(llm.url(), limits);
    REQUIRE(rig.start().ok());
    CHECK(rig.ask("tell me a lot").fallback);
    CHECK(rig.ask("again").fallback);
  }
  SECTION("the LLM closes mid-turn") {
    TestLlmServer llm([](const json& m) {
      std::vector<LlmFrame> frames;
      if (type_of(m) != "stream_request") return frames;
      frames.push_back({0, stream_response(stream_id_of(m), "partial ", false)});
      LlmFrame close;
      close.close = true;
      frames.push_back(close);
      return frames;
    });
    LlmRig rig(llm.url());
    REQUIRE(rig.start().ok());
    std::vector<std::string> pieces;
    AgentReply reply = rig.ask("go", &pieces);
    CHECK(reply.text == "partial ");  // what was already said stands
    CHECK(pieces == std::vector<std::string>{"partial "});
    CHECK(rig.ask("still there?").fallback);
  }
  SECTION("non-JSON and unknown messages are ignored") {
    TestLlmServer llm([](const json& m) {
      std::vector<LlmFrame> frames;
      if (type_of(m) != "stream_request") return frames;
      frames.push_back({0, "not json at all"});
      frames.push_back({0, R"({"type": 5})"});
      frames.push_back({0, R"({"type":"stream_response","data":{"stream_id":1,"content":7,"end_of_stream":"yes"}})"});
      frames.push_back({0, R"({"type":"transfer_call","data":{"stream_id":1}})"});
      frames.push_back({0, stream_response(stream_id_of(m), "fine", true)});
      return frames;
    });
    LlmRig rig(llm.url());
    REQUIRE(rig.start().ok());
    CHECK(rig.ask("x").text == "fine");
  }
}

TEST_CASE("a new turn or close() ends the turn in flight exactly once", "[custom-llm]") {
  TestLlmServer llm([](const json& m) {
    std::vector<LlmFrame> frames;
    if (type_of(m) == "stream_request" && stream_id_of(m) == 1) {
      frames.push_back({0, stream_response(1, "first part", false)});  // and no end
    } else if (type_of(m) == "stream_request") {
      frames.push_back({0, stream_response(stream_id_of(m), "second", true)});
    }
    return frames;
  });
  LlmRig rig(llm.url());
  REQUIRE(rig.start().ok());

  std::optional<AgentReply> first;
  rig.conversation->respond("one", {}, [&](AgentReply r) {
    CHECK_FALSE(first.has_value());
    first = std::move(r);
  });
  REQUIRE(llm.wait_for_messages(2, 5s));
  parley::test::run_until(rig.io, [] { return false; }, 100ms);  // "first part" arrives
  AgentReply second = rig.ask("two");
  REQUIRE(first.has_value());
  CHECK(first->text == "first part");
  CHECK(second.text == "second");
  auto interrupts = of_type(llm.messages(), "interrupt");
  REQUIRE(interrupts.size() == 1);
  CHECK(interrupts[0]["data"]["stream_id"] == 1);

  std::optional<AgentReply> pending;
  int calls = 0;
  rig.conversation->respond("three", {}, [&](AgentReply r) {
    ++calls;
    pending = std::move(r);
  });
  rig.conversation->close();
  rig.conversation->close();
  REQUIRE(parley::test::run_until(rig.io, [&] { return pending.has_value(); }, 5s));
  parley::test::run_until(rig.io, [] { return false; }, 50ms);
  CHECK(calls == 1);
  CHECK(rig.ask("after close").fallback);
}
