// The LLM's tool state goes on with the conversation on another host (issue 17, DESIGN §12,
// §13): real parley-host processes on one database, the tests' OpenAI-compatible server
// (test_llm_server.hpp) and a tool webhook. A turn with a tool call on one host; the
// session continued on another host, whose first request to the model must carry the
// assistant's tool_calls and the tool result before the new user line; then a turn cut by
// kill -9 after its tool result came (mid-turn) and the call back on a host that must still
// send that round. On PostgreSQL (PARLEY_TEST_STORE=postgres) the other host is a second
// process on the same database; on SQLite it is the same file after a restart. One case,
// one parameter: both stores are held to one behaviour.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "host_fixture.hpp"
#include "parley/host/store.hpp"
#include "test_http_server.hpp"
#include "test_llm_server.hpp"
#include "test_postgres.hpp"

using namespace parley::test;
using parley::json;
using namespace std::chrono_literals;

namespace {

// The demo agent thinking with the tests' LLM server, one tool, no speech (text turns).
json llm_config(const std::string& base_url, const std::string& tool_url) {
  json agent = demo_llm_agent(base_url, "sk-tool-state-key", 8000, tool_url,
                              {{"order_id", {{"type", "integer"}}}});
  return json{{"server", {{"speech", {{"enabled", false}}}}}, {"agents", {agent}}};
}

// The session's stored tool rounds, read as another process would, once there are `count`
// (a round is stored beside the turn, not before the next request goes out).
std::vector<parley::host::ToolRound> rounds_of(const std::string& location,
                                               const std::string& session_id, std::size_t count) {
  auto store = parley::host::Store::open(location);
  REQUIRE(store.ok());
  std::vector<parley::host::ToolRound> rounds;
  for (int i = 0; i < 100; ++i) {
    auto read = (*store)->tool_rounds_of(session_id);
    REQUIRE(read.ok());
    rounds = std::move(*read);
    if (rounds.size() >= count) break;
    sleep_ms(50);
  }
  return rounds;
}

json tool_call_message(const json& m) {
  INFO(m.dump());
  REQUIRE(m["role"] == "assistant");
  REQUIRE(m["tool_calls"].is_array());
  REQUIRE(m["tool_calls"].size() == 1);
  return m["tool_calls"][0];
}

}  // namespace

TEST_CASE("the LLM's tool calls and results go on with the session on another host, even "
          "when its host dies mid-turn",
          "[tool-state]") {
  const bool postgres = store_suite_on_postgres();
  const std::string database = postgres ? TestPostgres::instance().new_database() : "";
  TestHttpServer tools;
  tools.script("/tools/order", ScriptedReply{200, R"({"order":{"id":1234,"status":"shipped"}})"});
  TestLlmHttpServer llm;
  llm.set({
      // 1, 2: the first turn, on host one.
      llm_reply(Wire::openai, AnswerPlan{{"Let me look."}, {{"", "lookup_order", R"({"order_id":1234})"}}, 0, 0, ""}),
      llm_reply(Wire::openai, AnswerPlan{{"Order 1234", " has shipped."}, {}, 0, 0, ""}),
      // 3, 4: the second turn, on host two: a tool call, then an answer that comes too late
      // (the host is killed first).
      llm_reply(Wire::openai, AnswerPlan{{}, {{"", "lookup_order", R"({"order_id":5})"}}, 0, 0, ""}),
      llm_reply(Wire::openai, AnswerPlan{{"Never heard."}, {}, 3000, 0, ""}),
      // 5: the third turn, back on a live host.
      llm_reply(Wire::openai, AnswerPlan{{"Order 5 ships tomorrow."}, {}, 0, 0, ""}),
  });
  const json config = llm_config(llm.base_url(), tools.url("/tools/order"));
  auto one = std::make_unique<HostFixture>(config, database);
  const std::string location = postgres ? database : one->db_path();
  std::unique_ptr<HostFixture> two;  // PostgreSQL: a second host on the same database
  // "Another host": the second process, or the same file after a restart.
  auto other = [&]() -> HostFixture& {
    if (postgres) {
      if (!two) two = std::make_unique<HostFixture>(config, database);
      return *two;
    }
    one->process().stop();
    one->start();
    return *one;
  };

  // ---- turn 1 on host one: a tool call, its result, the answer.
  std::string first;
  {
    WsClient ws;
    first = start_call(ws, one->port(), "demo", "pk-demo")["session_id"];
    REQUIRE(ws.send_text(R"({"method":"text","data":"Where is order 1234?"})"));
    CHECK(read_final_text(ws, 8000)["data"] == "Let me look.Order 1234 has shipped.");
    ws.close(1000);
  }
  REQUIRE(rounds_of(location, first, 1).size() == 1);

  // ---- turn 2 on another host, continuing the session: the model is sent turn 1's tool
  // call and result in place. Its own tool round is stored, and the host dies before the
  // model's answer comes.
  HostFixture& second_host = other();
  std::string second;
  {
    WsClient ws;
    json ready = start_call(ws, second_host.port(), "demo", "pk-demo", nullptr, first);
    CHECK(ready["continuation"] == "continued");
    second = ready["session_id"];
    REQUIRE(ws.send_text(R"({"method":"text","data":"And order 5?"})"));
    REQUIRE(llm.http().wait_for_requests(4, 8s));
    auto bodies = llm.bodies();
    REQUIRE(bodies.size() == 4);
    const json& m = bodies[2]["messages"];
    INFO(m.dump(1));
    REQUIRE(m.size() == 6);
    CHECK(m[0]["role"] == "system");
    CHECK(m[1] == json({{"role", "user"}, {"content", "Where is order 1234?"}}));
    CHECK(m[2]["content"] == "Let me look.");
    const json call = tool_call_message(m[2]);
    CHECK(call["type"] == "function");
    CHECK(call["function"]["name"] == "lookup_order");
    CHECK(call["function"]["arguments"] == R"({"order_id":1234})");
    CHECK(m[3]["role"] == "tool");
    CHECK(m[3]["tool_call_id"] == call["id"]);
    CHECK(parley::parse_json(m[3]["content"].get<std::string>(), "r").value() ==
          json({{"order", {{"id", 1234}, {"status", "shipped"}}}}));
    CHECK(m[4] == json({{"role", "assistant"}, {"content", "Order 1234 has shipped."}}));
    CHECK(m[5] == json({{"role", "user"}, {"content", "And order 5?"}}));
    // Exactly what host one sent in its own second request, round for round.
    CHECK(json::array({m[2], m[3]}) ==
          json::array({bodies[1]["messages"][2], bodies[1]["messages"][3]}));
    // The round of turn 2 is in the store; then the host holding the call dies.
    REQUIRE(rounds_of(location, second, 1).size() == 1);
    CHECK(second_host.process().kill() == 128 + SIGKILL);
  }

  // ---- the call comes back to a live host: the model gets turn 2's round too, before the
  // new user line (the answer to it was never heard, so no agent line follows it).
  HostFixture& back = postgres ? *one : (one->start(), *one);
  WsClient ws;
  json ready = start_call(ws, back.port(), "demo", "pk-demo", nullptr, second);
  CHECK((ready["continuation"] == "continued" || ready["continuation"] == "resumed"));
  REQUIRE(ws.send_text(R"({"method":"text","data":"Hello? Are you there?"})"));
  CHECK(read_final_text(ws, 8000)["data"] == "Order 5 ships tomorrow.");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 5);
  const json& m = bodies[4]["messages"];
  INFO(m.dump(1));
  REQUIRE(m.size() == 9);
  CHECK(m[1]["content"] == "Where is order 1234?");
  CHECK(m[2] == bodies[2]["messages"][2]);
  CHECK(m[3] == bodies[2]["messages"][3]);
  CHECK(m[4]["content"] == "Order 1234 has shipped.");
  CHECK(m[5] == json({{"role", "user"}, {"content", "And order 5?"}}));
  // Turn 2's round exactly as host two sent it in its last request.
  CHECK(m[6] == bodies[3]["messages"][6]);
  CHECK(m[7] == bodies[3]["messages"][7]);
  const json call = tool_call_message(m[6]);
  CHECK(call["function"]["arguments"] == R"({"order_id":5})");
  CHECK(m[7]["role"] == "tool");
  CHECK(m[7]["tool_call_id"] == call["id"]);
  CHECK(m[8] == json({{"role", "user"}, {"content", "Hello? Are you there?"}}));
  CHECK(tools.requests_to("/tools/order").size() == 2);
}
