// The OpenAI-compatible conversation (issue 15) against the tests' LLM server, which replays
// the exact streams of OpenAI, Ollama, llama.cpp's server and vLLM
// (tests/host/test_llm_server.cpp): the request body checked against OpenAI's published
// schema, text streamed piece by piece, tools run through the agent's tool path with a
// parameter filled from metadata, the loop bounded, every quirk, errors a person can act on
// (each logged once, the caller hearing the fallback), barge-in closing the upstream stream at
// once with the history keeping what was heard, and one kept-alive connection across turns.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/agent.hpp"
#include "parley/host/log.hpp"
#include "test_http_server.hpp"
#include "test_json_schema.hpp"
#include "test_llm_server.hpp"
#include "vectors.hpp"

using parley::json;
using namespace parley::host;
using namespace parley::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* key_env = "PARLEY_TEST_LLM_KEY";
constexpr const char* test_key = "sk-test-0123456789abcdef";

const json& request_schema() {
  static const json schema = load_vectors("openai-chat-request.schema");
  return schema;
}

void check_schema(const json& body) {
  auto errors = schema_errors(request_schema(), "CreateChatCompletionRequest", body);
  INFO(parley::to_json_text(body));
  for (const auto& e : errors) INFO(e);
  CHECK(errors.empty());
}

// Everything written to stderr (the host's log) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    path_ = "/tmp/parley-llm-log-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++);
    saved_ = ::dup(2);
    FILE* f = std::fopen(path_.c_str(), "w");
    ::dup2(::fileno(f), 2);
    std::fclose(f);
  }
  ~StderrCapture() { restore(); std::remove(path_.c_str()); }
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  static inline int counter_ = 0;
  std::string path_;
  int saved_ = -1;
};

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

AgentConfig llm_agent(const std::string& base_url, const std::string& tool_url) {
  AgentConfig agent;
  agent.id = "thinker";
  agent.prompt = "You help {userName|someone} with orders.";
  agent.fallback_reply = "Sorry, I lost my train of thought.";
  ToolConfig tool;
  tool.name = "lookup_order";
  tool.description = "Find an order";
  tool.parameters = {{"type", "object"},
                     {"properties",
                      {{"order_id", {{"type", "integer"}}}, {"user_id", {{"type", "string"}}}}},
                     {"required", {"order_id", "user_id"}}};
  tool.webhook.url = tool_url;
  tool.webhook.timeout_ms = 3000;
  agent.tools.push_back(tool);
  LlmConfig llm;
  llm.base_url = base_url;
  llm.model = "gpt-4o-mini";
  llm.api_key_env = key_env;
  llm.temperature = 0.3;
  llm.max_tokens = 200;
  llm.timeout_ms = 1500;
  agent.llm = llm;
  return agent;
}

struct TurnOutcome {
  AgentReply reply;
  std::vector<std::string> pieces;
  std::vector<AgentAction> actions;
  std::vector<json> rounds;  // TurnHooks::tool_round
  bool pieces_before_done = true;
};

struct Rig {
  boost::asio::io_context io;
  HttpClient http{io};
  Metrics metrics;
  AgentConfig agent;
  std::shared_ptr<Conversation> conversation;

  explicit Rig(AgentConfig a, std::vector<ChatLine> history = {},
               json metadata = {{"userName", "Ann"}, {"user_id", "u-42"}},
               std::vector<ToolRound> tool_rounds = {})
      : agent(std::move(a)) {
    ::setenv(key_env, test_key, 1);
    ConversationContext ctx;
    ctx.agent = &agent;
    ctx.session_id = "sess-llm-7";
    ctx.metadata = metadata;
    ctx.variables = metadata;
    ctx.include_metadata_in_prompt = true;
    ctx.history = std::move(history);
    ctx.tool_rounds = std::move(tool_rounds);
    ctx.metrics = &metrics;
    conversation = make_conversation(io, http, std::move(ctx));
    std::optional<parley::Status> started;
    conversation->start([&](parley::Status s) { started = s; });
    REQUIRE(run_until(io, [&] { return started.has_value(); }, 5s));
    REQUIRE(started->ok());
  }

  TurnOutcome ask(const std::string& text) {
    TurnOutcome out;
    std::optional<AgentReply> reply;
    TurnHooks hooks;
    hooks.text = [&](std::string_view p) {
      if (reply) out.pieces_before_done = false;
      out.pieces.emplace_back(p);
    };
    hooks.action = [&](const AgentAction& a) { out.actions.push_back(a); };
    hooks.tool_round = [&](const json& messages) {
      if (reply) out.pieces_before_done = false;
      out.rounds.push_back(messages);
    };
    conversation->respond(text, std::move(hooks), [&](AgentReply r) { reply = std::move(r); });
    CHECK_FALSE(reply.has_value());
    REQUIRE(run_until(io, [&] { return reply.has_value(); }, 10s));
    out.reply = std::move(*reply);
    return out;
  }
};

std::string joined(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p;
  return s;
}

const json order_result = {{"order", {{"id", 1234}, {"status", "shipped"}}}};

}  // namespace

TEST_CASE("the request: headers, path and a body OpenAI's schema accepts", "[llm]") {
  TestLlmHttpServer llm;
  llm.push(llm_reply(Wire::openai, AnswerPlan{{"Hi", " Ann."}, {}, 0, 0, ""}));
  std::vector<ChatLine> history(2);
  history[0].inbound = true;
  history[0].text = "My order is late.";
  history[1].inbound = false;
  history[1].text = "Which order?";
  Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/unused"), history);
  TurnOutcome turn = rig.ask("Number 1234.");
  CHECK(turn.reply.text == "Hi Ann.");

  auto requests = llm.http().requests();
  REQUIRE(requests.size() == 1);
  const SeenRequest& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/v1/chat/completions");
  CHECK(r.header("authorization") == std::string("Bearer ") + test_key);
  CHECK(r.header("accept") == "text/event-stream");
  CHECK(r.header("content-type") == "application/json");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 1);
  const json& body = bodies[0];
  check_schema(body);
  CHECK(body["model"] == "gpt-4o-mini");
  CHECK(body["stream"] == true);
  CHECK(body["stream_options"] == json({{"include_usage", true}}));
  CHECK(body["temperature"] == 0.3);
  CHECK(body["max_tokens"] == 200);
  const json& messages = body["messages"];
  REQUIRE(messages.size() == 4);
  CHECK(messages[0]["role"] == "system");
  CHECK_THAT(messages[0]["content"].get<std::string>(), Catch::StartsWith("You help Ann with orders."));
  CHECK_THAT(messages[0]["content"].get<std::string>(), Catch::Contains("u-42"));  // metadata section
  CHECK(messages[1] == json({{"role", "user"}, {"content", "My order is late."}}));
  CHECK(messages[2] == json({{"role", "assistant"}, {"content", "Which order?"}}));
  CHECK(messages[3] == json({{"role", "user"}, {"content", "Number 1234."}}));
  // The tool, without the parameter metadata fills.
  REQUIRE(body["tools"].size() == 1);
  const json& fn = body["tools"][0]["function"];
  CHECK(body["tools"][0]["type"] == "function");
  CHECK(fn["name"] == "lookup_order");
  CHECK(fn["description"] == "Find an order");
  CHECK(fn["parameters"]["properties"].contains("order_id"));
  CHECK_FALSE(fn["parameters"]["properties"].contains("user_id"));
  CHECK(fn["parameters"]["required"] == json::array({"order_id"}));
  // The key never lands in the state a store would keep.
  CHECK(parley::to_json_text(rig.conversation->state()).find(test_key) == std::string::npos);
}

TEST_CASE("the schema check can fail: it refuses a body OpenAI would refuse", "[llm]") {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"stream", true}};
  CHECK(schema_errors(request_schema(), "CreateChatCompletionRequest", body).empty());
  json bad_role = body;
  bad_role["messages"][0]["role"] = "bot";
  CHECK_FALSE(schema_errors(request_schema(), "CreateChatCompletionRequest", bad_role).empty());
  json unknown = body;
  unknown["streaming"] = true;
  CHECK_FALSE(schema_errors(request_schema(), "CreateChatCompletionRequest", unknown).empty());
  json object_args = body;
  object_args["messages"].push_back(
      {{"role", "assistant"},
       {"content", nullptr},
       {"tool_calls", {{{"id", "c"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", json::object()}}}}}}});
  CHECK_FALSE(schema_errors(request_schema(), "CreateChatCompletionRequest", object_args).empty());
  json no_messages = {{"model", "m"}};
  CHECK_FALSE(schema_errors(request_schema(), "CreateChatCompletionRequest", no_messages).empty());
}

TEST_CASE("every server's stream is spoken as it comes", "[llm]") {
  for (Wire wire : {Wire::openai, Wire::ollama, Wire::llamacpp, Wire::vllm}) {
    INFO(wire_name(wire));
    TestLlmHttpServer llm;
    llm.push(llm_reply(wire, AnswerPlan{{"It is", " sunny", " in Paris."}, {}, 0, 20, ""}));
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/unused"));
    TurnOutcome turn = rig.ask("Weather?");
    CHECK(turn.reply.text == "It is sunny in Paris.");
    CHECK_FALSE(turn.reply.fallback);
    CHECK(turn.pieces.size() == 3);
    CHECK(turn.pieces_before_done);
    CHECK(joined(turn.pieces) == turn.reply.text);
    CHECK(rig.metrics.llm_requests == 1);
    CHECK(rig.metrics.llm_tokens_in == 57);
    CHECK(rig.metrics.llm_tokens_out == 12);
    CHECK(rig.metrics.llm_first_token.count == 1);
    CHECK(rig.metrics.llm_errors.empty());
  }
}

TEST_CASE("tools: run through the tool webhook with metadata filled, results fed back",
          "[llm]") {
  struct Case {
    Wire wire;
    Quirk quirk;
  };
  for (Case c : {Case{Wire::openai, Quirk::none}, Case{Wire::ollama, Quirk::none},
                 Case{Wire::ollama, Quirk::ollama_no_index},
                 Case{Wire::ollama, Quirk::ollama_index_without_id},
                 Case{Wire::llamacpp, Quirk::none}, Case{Wire::llamacpp, Quirk::llamacpp_object_args},
                 Case{Wire::vllm, Quirk::none}, Case{Wire::openai, Quirk::openai_split_index}}) {
    INFO(wire_name(c.wire) << " quirk " << static_cast<int>(c.quirk));
    TestHttpServer tools;
    tools.script("/tools/order", ScriptedReply{200, parley::to_json_text(order_result)});
    TestLlmHttpServer llm;
    llm.set({llm_reply(c.wire, AnswerPlan{{"Let me look."}, {{"", "lookup_order", R"({"order_id":1234})"}}, 0, 0, ""}, c.quirk),
             llm_reply(c.wire, AnswerPlan{{"Order 1234", " has shipped."}, {}, 0, 0, ""})});
    Rig rig(llm_agent(llm.base_url(), tools.url("/tools/order")));
    TurnOutcome turn = rig.ask("Where is order 1234?");
    CHECK(turn.reply.text == "Let me look.Order 1234 has shipped.");
    REQUIRE(turn.actions.size() == 1);
    CHECK(turn.actions[0].name == "lookup_order");
    CHECK(turn.actions[0].arguments == json({{"order_id", 1234}, {"user_id", "u-42"}}));
    CHECK(turn.actions[0].result == order_result);
    CHECK(turn.actions[0].error.empty());
    REQUIRE(turn.reply.actions.size() == 1);

    auto calls = tools.requests_to("/tools/order");
    REQUIRE(calls.size() == 1);
    auto tool_body = parley::parse_json(calls[0].body, "tool body");
    REQUIRE(tool_body.ok());
    CHECK((*tool_body)["arguments"] == json({{"order_id", 1234}, {"user_id", "u-42"}}));

    auto bodies = llm.bodies();
    REQUIRE(bodies.size() == 2);
    check_schema(bodies[1]);
    const json& m = bodies[1]["messages"];
    REQUIRE(m.size() == 4);  // system, user, the call, its result
    CHECK(m[2]["role"] == "assistant");
    CHECK(m[2]["content"] == "Let me look.");
    REQUIRE(m[2]["tool_calls"].size() == 1);
    const json& call = m[2]["tool_calls"][0];
    CHECK(call["function"]["name"] == "lookup_order");
    CHECK(parley::parse_json(call["function"]["arguments"].get<std::string>(), "a").value() ==
          json({{"order_id", 1234}}));
    CHECK(m[3]["role"] == "tool");
    CHECK(m[3]["tool_call_id"] == call["id"]);
    CHECK(parley::parse_json(m[3]["content"].get<std::string>(), "c").value() == order_result);
    CHECK(llm.http().connections() == 1);  // both requests on one kept-alive connection
  }
}

TEST_CASE("tools: an unknown tool and bad arguments go back to the model as errors", "[llm]") {
  TestHttpServer tools;
  tools.script("/tools/order", ScriptedReply{200, parley::to_json_text(order_result)});
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::openai, AnswerPlan{{}, {{"", "launch_rocket", "{}"}, {"", "lookup_order", R"({"order_id":"x)"}}, 0, 0, ""}),
           llm_reply(Wire::openai, AnswerPlan{{"I cannot do that."}, {}, 0, 0, ""})});
  Rig rig(llm_agent(llm.base_url(), tools.url("/tools/order")));
  TurnOutcome turn = rig.ask("Launch!");
  CHECK(turn.reply.text == "I cannot do that.");
  REQUIRE(turn.actions.size() == 2);
  CHECK(tools.requests().empty());
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  check_schema(bodies[1]);
  const json& m = bodies[1]["messages"];
  REQUIRE(m.size() == 5);
  CHECK_THAT(m[3]["content"].get<std::string>(), Catch::Contains("no tool named"));
  CHECK_THAT(m[4]["content"].get<std::string>(), Catch::Contains("error"));
}

TEST_CASE("tools: the loop is bounded, the last round offers no tools", "[llm]") {
  TestHttpServer tools;
  tools.script("/tools/order", ScriptedReply{200, parley::to_json_text(order_result)});
  TestLlmHttpServer llm;
  std::vector<StreamReply> replies;
  for (int i = 0; i < 4; ++i) {
    replies.push_back(llm_reply(Wire::vllm, AnswerPlan{{}, {{"", "lookup_order", R"({"order_id":1})"}}, 0, 0, ""}));
  }
  replies.push_back(llm_reply(Wire::vllm, AnswerPlan{{"Enough looking."}, {}, 0, 0, ""}));
  llm.set(replies);
  Rig rig(llm_agent(llm.base_url(), tools.url("/tools/order")));
  TurnOutcome turn = rig.ask("Loop forever");
  CHECK(turn.reply.text == "Enough looking.");
  CHECK(turn.actions.size() == 4);
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 5);
  for (int i = 0; i < 4; ++i) CHECK(bodies[static_cast<std::size_t>(i)].contains("tools"));
  CHECK_FALSE(bodies[4].contains("tools"));
  check_schema(bodies[4]);
}

TEST_CASE("errors a person can act on: logged once with the cause, the fallback heard",
          "[llm]") {
  set_log_level(LogLevel::info);
  const std::string fallback = "Sorry, I lost my train of thought.";

  SECTION("unreachable") {
    StderrCapture log;
    Rig rig(llm_agent("http://127.0.0.1:" + std::to_string(unused_port()) + "/v1", "http://127.0.0.1:9/x"));
    TurnOutcome first = rig.ask("Hello?");
    TurnOutcome second = rig.ask("Hello??");
    CHECK(first.reply.text == fallback);
    CHECK(first.reply.fallback);
    CHECK(joined(first.pieces) == fallback);  // spoken, not silence
    CHECK(second.reply.text == fallback);
    CHECK(rig.metrics.llm_errors["llm_unreachable"] == 2);
    std::string text = log.text();
    CHECK(count_of(text, "kind=llm_unreachable") == 1);  // once, not per turn
    CHECK_THAT(text, Catch::Contains("unreachable"));
    CHECK_THAT(text, Catch::Contains("refused"));
  }
  SECTION("401: the key's variable named, the key never logged") {
    TestLlmHttpServer llm;
    llm.push(llm_error(Wire::openai, 401));
    StderrCapture log;
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
    TurnOutcome turn = rig.ask("Hi");
    CHECK(turn.reply.text == fallback);
    CHECK(rig.metrics.llm_errors["llm_unauthorized"] == 1);
    std::string text = log.text();
    CHECK_THAT(text, Catch::Contains("kind=llm_unauthorized"));
    CHECK_THAT(text, Catch::Contains("HTTP 401"));
    CHECK_THAT(text, Catch::Contains(key_env));
    CHECK_THAT(text, Catch::Contains("Incorrect API key"));
    CHECK(text.find(test_key) == std::string::npos);
  }
  SECTION("model not found, in each server's words") {
    for (Wire wire : {Wire::openai, Wire::ollama, Wire::vllm}) {
      INFO(wire_name(wire));
      TestLlmHttpServer llm;
      llm.push(llm_error(wire, 404));
      StderrCapture log;
      Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
      TurnOutcome turn = rig.ask("Hi");
      CHECK(turn.reply.text == fallback);
      CHECK(rig.metrics.llm_errors["llm_model_not_found"] == 1);
      std::string text = log.text();
      CHECK_THAT(text, Catch::Contains("gpt-4o-mini"));
      CHECK_THAT(text, Catch::Contains("does not exist") || Catch::Contains("not found"));
    }
  }
  SECTION("429 with Retry-After: not asked again before it passes") {
    TestLlmHttpServer llm;
    llm.set({llm_error(Wire::openai, 429, 1), llm_reply(Wire::openai, AnswerPlan{{"Back."}, {}, 0, 0, ""})});
    StderrCapture log;
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
    CHECK(rig.ask("Hi").reply.text == fallback);
    CHECK(rig.ask("Hi again").reply.text == fallback);  // inside Retry-After: not sent
    CHECK(llm.http().requests().size() == 1);
    run_until(rig.io, [] { return false; }, 1100ms);
    CHECK(rig.ask("And now?").reply.text == "Back.");
    CHECK(llm.http().requests().size() == 2);
    std::string text = log.text();
    CHECK(count_of(text, "kind=llm_rate_limited") == 1);
    CHECK_THAT(text, Catch::Contains("Retry-After"));
  }
  SECTION("a stream cut in the middle: what was said, then the fallback") {
    TestLlmHttpServer llm;
    StreamReply cut = llm_reply(Wire::llamacpp, AnswerPlan{{"The answer", " is"}, {}, 0, 0, ""});
    cut.pieces.resize(3);  // the opening and two tokens
    cut.pieces.push_back(StreamPiece{10, "", true});
    llm.push(cut);
    StderrCapture log;
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
    TurnOutcome turn = rig.ask("What is it?");
    CHECK(turn.reply.text == "The answer is " + fallback);
    CHECK(joined(turn.pieces) == turn.reply.text);
    CHECK(rig.metrics.llm_errors["llm_stream_cut"] == 1);
    CHECK_THAT(log.text(), Catch::Contains("kind=llm_stream_cut"));
    // The call goes on: the history holds what the user heard, and the next turn works.
    llm.set({llm_reply(Wire::llamacpp, AnswerPlan{{"Fine now."}, {}, 0, 0, ""})});
    CHECK(rig.ask("Again?").reply.text == "Fine now.");
    auto bodies = llm.bodies();
    REQUIRE(bodies.size() == 2);
    check_schema(bodies[1]);
    const json& m = bodies[1]["messages"];
    CHECK(m[m.size() - 2] == json({{"role", "assistant"}, {"content", "The answer is " + fallback}}));
  }
  SECTION("no first token within timeout_ms") {
    TestLlmHttpServer llm;
    llm.push(llm_reply(Wire::openai, AnswerPlan{{"Too late."}, {}, 3000, 0, ""}));
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
    const auto t0 = Clock::now();
    TurnOutcome turn = rig.ask("Hello");
    CHECK(Clock::now() - t0 < 2500ms);
    CHECK(turn.reply.text == fallback);
    CHECK(rig.metrics.llm_errors["llm_timeout"] == 1);
  }
  SECTION("an error inside a 200 stream (llama.cpp)") {
    TestLlmHttpServer llm;
    llm.push(llm_reply(Wire::llamacpp, AnswerPlan{{"A", "B", "C"}, {}, 0, 0, ""}, Quirk::llamacpp_error_field));
    StderrCapture log;
    Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
    TurnOutcome turn = rig.ask("Long prompt");
    CHECK(turn.reply.fallback);
    CHECK(rig.metrics.llm_errors["llm_upstream_error"] == 1);
    CHECK_THAT(log.text(), Catch::Contains("context size"));
  }
}

TEST_CASE("barge-in closes the upstream stream at once; the history keeps what was heard",
          "[llm]") {
  TestLlmHttpServer llm;
  std::vector<std::string> tokens;
  for (int i = 0; i < 50; ++i) tokens.push_back(" word" + std::to_string(i));
  llm.set({llm_reply(Wire::openai, AnswerPlan{tokens, {}, 0, 40, ""}),
           llm_reply(Wire::openai, AnswerPlan{{"Yes?"}, {}, 0, 0, ""})});
  Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
  std::optional<AgentReply> reply;
  std::string said;
  double interrupted_at = 0;
  TurnHooks hooks;
  hooks.text = [&](std::string_view p) {
    said += p;
    if (said.size() > 30 && interrupted_at == 0) {
      interrupted_at = llm.http().now_ms();
      rig.conversation->interrupt(" word0 word1");  // what the user had heard
    }
  };
  rig.conversation->respond("Talk to me", std::move(hooks), [&](AgentReply r) { reply = std::move(r); });
  REQUIRE(run_until(rig.io, [&] { return reply.has_value(); }, 10s));
  CHECK(reply->interrupted);
  REQUIRE(llm.http().wait_for_closes(1, 2s));
  auto closes = llm.http().closes();
  CHECK(closes[0].mid_reply);
  CHECK(closes[0].at_ms - interrupted_at < 20.0);  // within one 20 ms audio frame

  TurnOutcome next = rig.ask("Hello?");
  CHECK(next.reply.text == "Yes?");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  check_schema(bodies[1]);
  const json& m = bodies[1]["messages"];
  REQUIRE(m.size() == 4);
  CHECK(m[2] == json({{"role", "assistant"}, {"content", " word0 word1"}}));

  // A reply complete but still being spoken: the history is corrected the same way.
  rig.conversation->interrupt("Ye");
  json state = rig.conversation->state();
  CHECK(state.back() == json({{"role", "assistant"}, {"content", "Ye"}}));
  rig.conversation->interrupt("");
  CHECK(rig.conversation->state().back()["role"] == "user");
}

TEST_CASE("one kept-alive connection carries every turn", "[llm]") {
  TestLlmHttpServer llm;
  llm.push(llm_reply(Wire::ollama, AnswerPlan{{"Sure."}, {}, 0, 0, ""}));
  Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
  for (int i = 0; i < 3; ++i) CHECK(rig.ask("Turn " + std::to_string(i)).reply.text == "Sure.");
  CHECK(llm.http().requests().size() == 3);
  CHECK(llm.http().connections() == 1);
}

TEST_CASE("a server that ignores stream: true and answers in one JSON is still heard", "[llm]") {
  TestLlmHttpServer llm;
  StreamReply whole;
  whole.headers = {{"Content-Type", "application/json"}};
  whole.framing = StreamReply::Framing::length;
  whole.pieces = {StreamPiece{0, R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Whole answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})", false}};
  llm.push(whole);
  Rig rig(llm_agent(llm.base_url(), "http://127.0.0.1:9/x"));
  CHECK(rig.ask("Hi").reply.text == "Whole answer.");
}

TEST_CASE("the custom LLM's history keeps what was heard too", "[llm]") {
  TestLlmServer ws([](const json& message) -> std::vector<LlmFrame> {
    if (message.value("type", "") != "stream_request") return {};
    const json id = message["data"]["stream_id"];
    return {LlmFrame{0, stream_response(id, "One two three four.", true), false}};
  });
  boost::asio::io_context io;
  HttpClient http(io);
  AgentConfig agent;
  agent.id = "custom";
  agent.custom_llm_websocket = ws.url();
  ConversationContext ctx;
  ctx.agent = &agent;
  ctx.session_id = "s";
  auto conversation = make_conversation(io, http, std::move(ctx));
  std::optional<parley::Status> started;
  conversation->start([&](parley::Status s) { started = s; });
  REQUIRE(run_until(io, [&] { return started.has_value(); }, 5s));
  REQUIRE(started->ok());
  std::optional<AgentReply> reply;
  conversation->respond("Count", {}, [&](AgentReply r) { reply = r; });
  REQUIRE(run_until(io, [&] { return reply.has_value(); }, 5s));
  conversation->interrupt("One two");
  reply.reset();
  conversation->respond("Go on", {}, [&](AgentReply r) { reply = r; });
  REQUIRE(run_until(io, [&] { return reply.has_value(); }, 5s));
  json last;
  for (const auto& m : ws.messages()) {
    if (m.value("type", "") == "stream_request") last = m;
  }
  const json& transcript = last["data"]["transcript"];
  REQUIRE(transcript.size() == 3);
  CHECK(transcript[1] == json({{"role", "assistant"}, {"content", "One two"}}));
  conversation->close();
}

TEST_CASE("config: the llm block, and what is wrong with a bad one", "[llm]") {
  auto parse = [](json llm, json extra = json::object()) {
    json agent = {{"id", "a"}, {"public_keys", {"pk"}}, {"llm", std::move(llm)}};
    for (auto it = extra.begin(); it != extra.end(); ++it) agent[it.key()] = it.value();
    return parse_host_config(parley::to_json_text(json{{"agents", {agent}}}));
  };
  auto ok = parse({{"provider", "openai"}, {"base_url", "https://api.openai.com/v1/"},
                   {"model", "gpt-4o-mini"}, {"api_key_env", "OPENAI_API_KEY"},
                   {"temperature", 0.2}, {"max_tokens", 300}, {"timeout_ms", 20000}});
  REQUIRE(ok.ok());
  const LlmConfig& llm = *ok->agents[0].llm;
  CHECK(llm.base_url == "https://api.openai.com/v1");  // the trailing slash dropped
  CHECK(llm.model == "gpt-4o-mini");
  CHECK(llm.api_key_env == "OPENAI_API_KEY");
  CHECK(*llm.temperature == 0.2);
  CHECK(*llm.max_tokens == 300);
  CHECK(llm.timeout_ms == 20000);
  auto minimal = parse({{"base_url", "http://127.0.0.1:11434/v1"}, {"model", "llama3.2"}});
  REQUIRE(minimal.ok());
  CHECK(minimal->agents[0].llm->provider == "openai");
  CHECK_FALSE(minimal->agents[0].llm->temperature.has_value());
  CHECK(minimal->agents[0].llm->timeout_ms == 30000);

  struct Bad {
    json llm;
    json extra;
    std::string says;
  };
  const json base = {{"base_url", "http://h/v1"}, {"model", "m"}};
  auto with = [&](const char* key, json value) {
    json l = base;
    l[key] = std::move(value);
    return l;
  };
  for (const Bad& bad : std::vector<Bad>{
           {with("provider", "anthropic"), json::object(), "agents[0].llm.provider"},
           {with("base_url", "ftp://h/v1"), json::object(), "agents[0].llm.base_url"},
           {with("base_url", "http://u:p@h/v1"), json::object(), "no user"},
           {json{{"base_url", "http://h/v1"}}, json::object(), "agents[0].llm.model"},
           {with("api_key", "sk-oops"), json::object(), "environment variable"},
           {with("api_key_env", "1BAD"), json::object(), "agents[0].llm.api_key_env"},
           {with("temperature", 3), json::object(), "agents[0].llm.temperature"},
           {with("max_tokens", 0), json::object(), "agents[0].llm.max_tokens"},
           {with("timeout_ms", 10), json::object(), "agents[0].llm.timeout_ms"},
           {with("modle", "typo"), json::object(), "modle"},
           {base, json{{"custom_llm_websocket", "ws://h/x"}}, "not both"},
       }) {
    auto r = parse(bad.llm, bad.extra);
    INFO(parley::to_json_text(bad.llm));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains(bad.says));
    CHECK(r.error().message.find("sk-oops") == std::string::npos);
  }
}

TEST_CASE("tool rounds: each complete round goes to the caller as the model will see it again; "
          "a long result is cut",
          "[llm]") {
  TestHttpServer tools;
  // A result of 40,000 bytes of JSON text: over kMaxToolResultBytes.
  // {"doc":"…"} with "é" (two bytes) across byte kMaxToolResultBytes.
  std::string big(kMaxToolResultBytes - 13, 'x');
  big += "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
  big += std::string(39990 - big.size(), 'y');
  const json big_result = {{"doc", big}};
  REQUIRE(parley::to_json_text(big_result).size() == 40000);
  tools.script("/tools/order", ScriptedReply{200, parley::to_json_text(big_result)});
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::openai, AnswerPlan{{"Let me look."}, {{"", "lookup_order", R"({"order_id":1234})"}}, 0, 0, ""}),
           llm_reply(Wire::openai, AnswerPlan{{"It is a long one."}, {}, 0, 0, ""})});
  Rig rig(llm_agent(llm.base_url(), tools.url("/tools/order")));
  TurnOutcome turn = rig.ask("Where is order 1234?");
  CHECK(turn.reply.text == "Let me look.It is a long one.");
  CHECK(turn.pieces_before_done);
  // The client's ai_action has the whole result; the model a bounded one.
  REQUIRE(turn.actions.size() == 1);
  CHECK(turn.actions[0].result == big_result);
  REQUIRE(turn.rounds.size() == 1);
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  check_schema(bodies[1]);
  const json& m = bodies[1]["messages"];
  REQUIRE(m.size() == 4);
  // What the caller stores is exactly what the model was sent.
  CHECK(turn.rounds[0] == json::array({m[2], m[3]}));
  const std::string content = m[3]["content"].get<std::string>();
  CHECK_THAT(content, Catch::EndsWith("[cut: the tool's result was 40000 bytes; only the first " +
                                      std::to_string(kMaxToolResultBytes - 1) + " are kept]"));
  CHECK(content.compare(0, 20, parley::to_json_text(big_result).substr(0, 20)) == 0);
  // Cut before the character it would have split: what is kept is valid UTF-8 text.
  const std::string kept = content.substr(0, kMaxToolResultBytes - 1);
  CHECK(parley::parse_json(json(kept).dump(), "kept").ok());
  CHECK(kept.substr(kept.size() - 2) == "\xc3\xa9");
}

TEST_CASE("tool rounds from the store go back to the model in place: the assistant's "
          "tool_calls, one tool message per id, then the new user line",
          "[llm]") {
  TestHttpServer tools;
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::openai, AnswerPlan{{"Tomorrow."}, {}, 0, 0, ""})});
  const json call_message = {
      {"role", "assistant"},
      {"content", "Let me look."},
      {"tool_calls",
       {{{"id", "call_A"},
         {"type", "function"},
         {"function", {{"name", "lookup_order"}, {"arguments", R"({"order_id":1234})"}}}},
        {{"id", "call_B"},
         {"type", "function"},
         {"function", {{"name", "lookup_order"}, {"arguments", R"({"order_id":5})"}}}}}}};
  const json result_a = {{"role", "tool"}, {"tool_call_id", "call_A"}, {"content", R"({"status":"shipped"})"}};
  const json result_b = {{"role", "tool"}, {"tool_call_id", "call_B"}, {"content", R"({"error":"no such order"})"}};
  auto line = [](std::int64_t seq, bool inbound, std::string text, std::string session = "s1") {
    ChatLine l;
    l.seq = seq;
    l.session_id = std::move(session);
    l.inbound = inbound;
    l.text = std::move(text);
    return l;
  };
  std::vector<ChatLine> history = {line(1, false, "Hello!"), line(2, true, "Where is order 1234?"),
                                   line(3, false, "Let me look.It has shipped."),
                                   line(4, true, "And order 9?"), line(5, false, "Let me look.")};
  ToolRound first;
  first.session_id = "s1";
  first.after_line = 2;
  first.messages = json::array({call_message, result_a, result_b});
  // A damaged round (a tool result missing) is left out whole: the wire refuses half a round.
  ToolRound damaged = first;
  damaged.seq = 2;
  damaged.after_line = 2;
  damaged.messages = json::array({call_message, result_a});
  // The second turn's only words were said before its tool call: no assistant line after it.
  ToolRound second = first;
  second.seq = 3;
  second.after_line = 4;
  json second_call = call_message;
  second_call["tool_calls"] = json::array({call_message["tool_calls"][1]});
  second_call["tool_calls"][0]["id"] = "call_C";
  json result_c = result_b;
  result_c["tool_call_id"] = "call_C";
  second.messages = json::array({second_call, result_c});
  Rig rig(llm_agent(llm.base_url(), tools.url("/tools/order")), history,
          {{"userName", "Ann"}, {"user_id", "u-42"}}, {first, damaged, second});
  TurnOutcome turn = rig.ask("When does 1234 arrive?");
  CHECK(turn.reply.text == "Tomorrow.");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 1);
  check_schema(bodies[0]);
  const json& m = bodies[0]["messages"];
  INFO(m.dump(1));
  REQUIRE(m.size() == 11);
  CHECK(m[0]["role"] == "system");
  CHECK(m[1] == json({{"role", "assistant"}, {"content", "Hello!"}}));
  CHECK(m[2] == json({{"role", "user"}, {"content", "Where is order 1234?"}}));
  CHECK(m[3] == call_message);
  CHECK(m[4] == result_a);
  CHECK(m[5] == result_b);
  CHECK(m[6] == json({{"role", "assistant"}, {"content", "It has shipped."}}));
  CHECK(m[7] == json({{"role", "user"}, {"content", "And order 9?"}}));
  CHECK(m[8] == second_call);
  CHECK(m[9] == result_c);
  CHECK(m[10] == json({{"role", "user"}, {"content", "When does 1234 arrive?"}}));
  // The state a store keeps is the same list.
  CHECK(rig.conversation->state()[3] == call_message);
}
