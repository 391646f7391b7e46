// What survives a crash: a host killed with SIGKILL and restarted loses no acknowledged chat
// line, resumes every session inside its window, and delivers the end-of-call webhooks that
// were waiting (at least once, with one idempotency key) when the receiver comes back.
#include <catch2/catch.hpp>

#include "host_fixture.hpp"
#include "test_http_server.hpp"

using namespace parley::test;
using parley::json;

TEST_CASE("SIGKILL loses no acknowledged line and keeps sessions resumable", "[durability]") {
  HostFixture host;
  std::vector<std::string> ids;
  for (int s = 0; s < 3; ++s) {
    json opened = body_of(host.rest("POST", "Session", json{{"memoriID", "alpha"}}));
    ids.push_back(opened["sessionID"]);
  }
  int acknowledged = 0;
  for (int turn = 0; turn < 10; ++turn)
    for (const auto& id : ids) {
      json r = body_of(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hello"}}));
      if (r["resultCode"] == 0) ++acknowledged;
    }
  CHECK(acknowledged == 30);
  // A voice call that is live when the host dies.
  WsClient ws;
  const std::string call = start_call(ws, host.port(), "alpha", "pk-alpha")["session_id"];
  ws.send_text(R"({"method":"text","data":"hi"})");
  read_final_text(ws);  // welcome
  read_final_text(ws);  // reply: acknowledged
  CHECK(host.process().kill() == 128 + 9);

  host.start();
  for (const auto& id : ids) {
    json state = body_of(host.rest("GET", "Session/" + id));
    CHECK(state["resultCode"] == 0);
    json logs = body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id));
    REQUIRE(logs["chatLogs"].size() == 1);
    CHECK(logs["chatLogs"][0]["lines"].size() == 21);  // welcome + 10 × (user, agent)
  }
  json logs = body_of(host.rest("GET", "SessionChatLogs/" + call + "/" + call, nullptr,
                                {{"X-Parley-Public-Key", "pk-alpha"}}));
  REQUIRE(logs["chatLogs"].size() == 1);
  CHECK(logs["chatLogs"][0]["lines"].size() == 3);
  // The live call comes back right after the restart: the same call, under the same id.
  WsClient again;
  json ready = start_call(again, host.port(), "alpha", "pk-alpha", nullptr, call);
  CHECK(ready["continuation"] == "resumed");
  CHECK(ready["session_id"] == call);
}

TEST_CASE("end-of-call webhooks wait in the outbox until the receiver answers", "[durability]") {
  TestHttpServer receiver;
  receiver.script("/ended", std::vector<ScriptedReply>{{503, "{}", 0, "application/json"},
                                                       {200, "{}", 0, "application/json"}});
  json config = base_host_config();
  config["agents"][0]["session_data_webhook"] = {{"url", receiver.url("/ended")}};
  HostFixture host(config);
  WsClient ws;
  const std::string id =
      start_call(ws, host.port(), "alpha", "pk-alpha", {{"userName", "Ada"}})["session_id"];
  ws.send_text(R"({"method":"text","data":"hello"})");
  read_final_text(ws);
  read_final_text(ws);
  ws.close(1000);

  // First attempt fails (503), the retry after the backoff succeeds.
  REQUIRE(receiver.wait_for_requests(2, std::chrono::seconds(10)));
  auto requests = receiver.requests_to("/ended");
  REQUIRE(requests.size() >= 2);
  CHECK(requests[0].header("idempotency-key") == requests[1].header("idempotency-key"));
  CHECK_FALSE(requests[0].header("idempotency-key").empty());
  auto body = parley::parse_json(requests[1].body, "webhook", 64);
  REQUIRE(body.ok());
  CHECK((*body)["session_id"] == id);
  CHECK((*body)["agent_id"] == "alpha");
  CHECK((*body)["metadata"]["userName"] == "Ada");
  CHECK((*body)["reason"] == "client_ended");
  CHECK((*body)["call_status"] == "user-ended");
  auto chat = parley::parse_json((*body)["chat"].get<std::string>(), "chat", 64);
  REQUIRE(chat.ok());
  REQUIRE(chat->size() == 3);
  CHECK((*chat)[1]["content"] == "hello");
}

TEST_CASE("a call that continues a session is a new session with its own report", "[durability]") {
  TestHttpServer receiver;
  receiver.script("/ended", ScriptedReply{200, "{}", 0, "application/json"});
  json config = base_host_config();
  config["agents"][0]["session_data_webhook"] = receiver.url("/ended");
  HostFixture host(config);
  WsClient first;
  const std::string id = start_call(first, host.port(), "alpha", "pk-alpha",
                                    {{"userName", "Ada"}})["session_id"];
  first.send_text(R"({"method":"text","data":"hello"})");
  read_final_text(first);
  read_final_text(first);
  first.close(1000);
  REQUIRE(receiver.wait_for_requests(1, std::chrono::seconds(10)));

  WsClient second;
  json ready = start_call(second, host.port(), "alpha", "pk-alpha", nullptr, id);
  REQUIRE(ready["continuation"] == "continued");
  const std::string next = ready["session_id"];
  REQUIRE(next != id);
  second.send_text(R"({"method":"text","data":"what is my plan"})");
  read_final_text(second);
  second.close(1000);
  REQUIRE(receiver.wait_for_requests(2, std::chrono::seconds(10)));

  auto requests = receiver.requests_to("/ended");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("idempotency-key") == "session_data:" + id);
  CHECK(requests[1].header("idempotency-key") == "session_data:" + next);
  auto body = parley::parse_json(requests[1].body, "webhook", 64);
  REQUIRE(body.ok());
  CHECK((*body)["session_id"] == next);
  CHECK((*body)["continued_from"] == id);
  CHECK((*body)["reason"] == "client_ended");
  // Each report has its own session's lines: this call's turn (no greeting mid-chat).
  auto chat = parley::parse_json((*body)["chat"].get<std::string>(), "chat", 64);
  REQUIRE(chat.ok());
  REQUIRE(chat->size() == 2);
  CHECK((*chat)[0]["content"] == "what is my plan");
}

TEST_CASE("a webhook pending across a restart is delivered after it", "[durability]") {
  json config = base_host_config();
  auto down = std::make_unique<TestHttpServer>();
  down->script("/ended", ScriptedReply{500, "{}", 0, "application/json"});
  const std::uint16_t receiver_port = down->port();
  config["agents"][0]["session_data_webhook"] = {{"url", down->url("/ended")}};
  HostFixture host(config);
  json opened = body_of(host.rest("POST", "Session", json{{"memoriID", "alpha"}}));
  const std::string id = opened["sessionID"];
  CHECK(body_of(host.rest("DELETE", "Session/" + id))["resultCode"] == 0);
  REQUIRE(down->wait_for_requests(1, std::chrono::seconds(5)));
  const std::string key = down->requests_to("/ended").at(0).header("idempotency-key");
  CHECK(host.process().kill() == 128 + 9);
  down.reset();

  // The receiver comes back on the same port; the restarted host delivers what was pending.
  TestHttpServer up(receiver_port);
  up.script("/ended", ScriptedReply{200, "{}", 0, "application/json"});
  host.start();
  REQUIRE(up.wait_for_requests(1, std::chrono::seconds(10)));
  auto delivered = up.requests_to("/ended");
  REQUIRE(delivered.size() >= 1);
  CHECK(delivered[0].header("idempotency-key") == key);
  auto body = parley::parse_json(delivered[0].body, "webhook", 64);
  REQUIRE(body.ok());
  CHECK((*body)["session_id"] == id);
  CHECK((*body)["reason"] == "deleted");
}
