// The custom-LLM protocol as Millis documents it (docs.millis.ai, "Custom LLM"), against the
// real parley-host on loopback: a server written from those docs (millis_llm_server.hpp)
// greets on start_call's stream, ends the call after its last stream_response, asks for a
// transfer; the call's agent_config reaches start_call. The same with speech on (partials,
// flush and pause, playback): unit-millis-speech.cpp.
#include <catch2/catch.hpp>

#include <string>

#include "host_fixture.hpp"
#include "millis_llm_server.hpp"
#include "test_http_server.hpp"

using namespace parley::test;
using namespace parley::test::millis;
using parley::json;
using namespace std::chrono_literals;

TEST_CASE("custom LLM: the greeting on start_call's stream, after first_message", "[millis-llm]") {
  TestLlmServer llm(millis_llm);
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  SECTION("first_message empty: the LLM greets alone") {
    HostFixture host(llm_config(llm.url(), receiver.url("/end"), ""));
    WsClient ws;
    const std::string id = start_call(ws, host.port(), "llm", "pk-llm")["session_id"];
    CHECK(read_final_text(ws)["data"] == "Hi, this is your LLM.");
    // The greeting is the agent's first line, and the LLM hears it was played (text only: at once).
    json played = wait_message(llm, "playback_finished");
    CHECK(played["data"]["stream_id"] == 0);
    CHECK(played["data"]["session_id"] == id);
    ws.send_text(R"({"method":"text","data":"how are you"})");
    CHECK(read_final_text(ws)["data"] == "You said: how are you");
    json request = wait_message(llm, "stream_request");
    CHECK(request["data"]["transcript"][0] ==
          json({{"role", "assistant"}, {"content", "Hi, this is your LLM."}}));
    json logs = body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id, nullptr,
                                  {{"X-Parley-Public-Key", "pk-llm"}}));
    REQUIRE(logs["chatLogs"].size() == 1);
    CHECK(logs["chatLogs"][0]["lines"][0]["text"] == "Hi, this is your LLM.");
  }
  SECTION("first_message set: the host says it first, then the LLM's greeting") {
    HostFixture host(llm_config(llm.url(), receiver.url("/end"), "Welcome from the host."));
    WsClient ws;
    start_call(ws, host.port(), "llm", "pk-llm");
    CHECK(read_final_text(ws)["data"] == "Welcome from the host.");
    CHECK(read_final_text(ws)["data"] == "Hi, this is your LLM.");
  }
}

TEST_CASE("custom LLM: end_call after the last stream_response ends the call", "[millis-llm]") {
  TestLlmServer llm(millis_llm);
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  HostFixture host(llm_config(llm.url(), receiver.url("/end"), ""));
  WsClient ws;
  const std::string id = start_call(ws, host.port(), "llm", "pk-llm")["session_id"];
  read_final_text(ws);  // greeting
  ws.send_text(R"({"method":"text","data":"bye now"})");
  CHECK(read_final_text(ws)["data"] == "Goodbye!");
  json ended = read_method(ws, "onsessionended", 5000);
  CHECK(ended["payload"]["reason"] == "agent_ended");
  CHECK(read_close(ws).close_code == 1000);
  REQUIRE(receiver.wait_for_requests(1, 10s));
  auto report = parley::parse_json(receiver.requests_to("/end").at(0).body, "report", 64);
  REQUIRE(report.ok());
  CHECK((*report)["session_id"] == id);
  CHECK((*report)["call_status"] == "agent-ended");
}

TEST_CASE("custom LLM: end_call before any turn, right after its greeting, ends the call",
          "[millis-llm]") {
  // Millis: end_call "to terminate the call", whenever the server sends it.
  TestLlmServer llm([](const json& m) {
    auto out = millis_llm(m);
    if (type_of(m) == "start_call")
      out.push_back({200, frame("end_call", {{"stream_id", m["data"]["stream_id"]}})});
    return out;
  });
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  HostFixture host(llm_config(llm.url(), receiver.url("/end"), ""));
  WsClient ws;
  const std::string id = start_call(ws, host.port(), "llm", "pk-llm")["session_id"];
  CHECK(read_final_text(ws)["data"] == "Hi, this is your LLM.");
  json ended = read_method(ws, "onsessionended", 5000);
  CHECK(ended["payload"]["reason"] == "agent_ended");
  CHECK(read_close(ws).close_code == 1000);
  REQUIRE(receiver.wait_for_requests(1, 10s));
  auto report = parley::parse_json(receiver.requests_to("/end").at(0).body, "report", 64);
  REQUIRE(report.ok());
  CHECK((*report)["session_id"] == id);
  CHECK((*report)["call_status"] == "agent-ended");
  CHECK((*report)["chat"].get<std::string>().find("Hi, this is your LLM.") != std::string::npos);
}

TEST_CASE("custom LLM: transfer_call is refused with a clear error, the call goes on",
          "[millis-llm]") {
  TestLlmServer llm(millis_llm);
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  HostFixture host(llm_config(llm.url(), receiver.url("/end"), ""));
  WsClient ws;
  start_call(ws, host.port(), "llm", "pk-llm");
  read_final_text(ws);
  ws.send_text(R"({"method":"text","data":"transfer me"})");
  CHECK(read_final_text(ws)["data"] == "Staying here.");
  json error = wait_message(llm, "error");
  CHECK(error["data"]["code"] == "transfer_unsupported");
  CHECK(error["data"]["stream_id"] == 1);
  CHECK_THAT(error["data"]["message"].get<std::string>(), Catch::Contains("there is no line to transfer"));
  ws.send_text(R"({"method":"text","data":"still there"})");
  CHECK(read_final_text(ws)["data"] == "You said: still there");
}

TEST_CASE("custom LLM: start_call sees the call's agent_config", "[millis-llm]") {
  TestLlmServer llm(millis_llm);
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  HostFixture host(llm_config(llm.url(), receiver.url("/end"), ""));
  WsClient ws;
  REQUIRE(ws.connect(host.port(), "/millis", std::string(test_origin)) == "");
  ws.send_text(parley::to_json_text(json{
      {"method", "initiate"},
      {"data", {{"public_key", "pk-llm"},
                {"agent", {{"agent_id", "llm"}, {"agent_config", {{"prompt", "You sell {plan}."}}}}},
                {"metadata", {{"plan", "boats"}}}}}}));
  read_method(ws, "onready");
  json start = wait_message(llm, "start_call");
  CHECK(start["data"]["prompt"] == "You sell boats.");
  CHECK(start["data"]["metadata"] == json({{"plan", "boats"}}));
  // Not a phone call: Millis's voip and call_sid are there, null (unit-phone has them set).
  CHECK(start["data"].contains("voip"));
  CHECK(start["data"]["voip"].is_null());
  CHECK(start["data"].contains("call_sid"));
  CHECK(start["data"]["call_sid"].is_null());
}
