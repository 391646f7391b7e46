// The voice socket /v1/voice against a real parley-host (DESIGN §3): initiate, onready,
// ping/pong, the text extension, audio acceptance, every refusal with its close code,
// continuation, and the agent's session timeouts.
#include <catch2/catch.hpp>

#include "host_fixture.hpp"
#include "parley/session_store.hpp"

using namespace parley::test;
using parley::json;

namespace {

bool looks_like_uuid(const std::string& id) {
  return id.size() == 36 && id[8] == '-' && id[13] == '-' && id[14] == '4' && id[18] == '-' &&
         id[23] == '-';
}

// Connects, sends `frames`, and returns the close the server answered with, after checking
// that an onerror naming `code` came first.
WsMessage refused(std::uint16_t port, const std::vector<std::string>& frames,
                  const std::string& error_code, const std::string& origin = test_origin) {
  WsClient ws;
  REQUIRE(ws.connect(port, "/v1/voice", origin) == "");
  for (const auto& f : frames) ws.send_text(f);
  json error = read_method(ws, "onerror");
  CHECK(error["data"]["code"] == error_code);
  CHECK_FALSE(error["data"]["message"].get<std::string>().empty());
  return read_close(ws);
}

}  // namespace

TEST_CASE("a call starts with onready and the welcome message filled from metadata", "[voice]") {
  HostFixture host;
  WsClient ws;
  json ready = start_call(ws, host.port(), "alpha", "pk-alpha", {{"userName", "Ada"}});
  const std::string id = ready["session_id"];
  CHECK(looks_like_uuid(id));
  CHECK_FALSE(ready.contains("continuation"));
  json hello = read_final_text(ws);
  CHECK(hello["data"] == "Hello Ada!");
  CHECK(hello["payload"]["is_final"] == true);

  SECTION("ping is answered with the same data, before and after initiate") {
    ws.send_text(R"({"method":"ping","data":"1712345678901"})");
    CHECK(read_method(ws, "pong")["data"] == "1712345678901");
    WsClient fresh;
    REQUIRE(fresh.connect(host.port(), "/v1/voice", std::string(test_origin)) == "");
    fresh.send_text(R"({"method":"ping","data":42})");
    CHECK(read_method(fresh, "pong")["data"] == 42);
  }
  SECTION("typed text gets start_answering, then the rule's reply with the metadata") {
    ws.send_text(R"({"method":"text","data":"hello there"})");
    read_method(ws, "start_answering");
    json reply = read_final_text(ws);
    CHECK(reply["data"] == "Hi Ada!");
    CHECK(reply["payload"]["is_final"] == true);
    ws.send_text(R"({"method":"text","data":"what is the weather"})");
    CHECK(read_final_text(ws)["data"] == "I did not get that.");
  }
  SECTION("audio is accepted; the agent says once that it cannot hear yet") {
    const std::string frame(640, '\0');
    for (int i = 0; i < 5; ++i) REQUIRE(ws.send_binary(frame));
    json notice = read_final_text(ws);
    CHECK(notice["data"].get<std::string>().find("cannot hear") != std::string::npos);
    for (int i = 0; i < 5; ++i) REQUIRE(ws.send_binary(frame));
    ws.send_text(R"({"method":"ping","data":"x"})");
    // The next text frame is the pong: the notice is not repeated.
    WsMessage m = ws.read(3000);
    REQUIRE(m.kind == WsMessage::Kind::text);
    CHECK(m.data.find("pong") != std::string::npos);
  }
  SECTION("a closed call's session stays resumable over REST, with the call's key") {
    ws.close(1000);
    sleep_ms(200);
    json state = body_of(host.rest("GET", "Session/" + id, nullptr, {{"X-Parley-Public-Key", "pk-alpha"}}));
    CHECK(state["resultCode"] == 0);
    CHECK(state["currentState"]["emission"] == "Hello Ada!");
    // Bound to its key (issue 14): without it, it is not found.
    CHECK(body_of(host.rest("GET", "Session/" + id))["resultCode"] == -263);
  }
}

TEST_CASE("audio sent before onready is accepted (the Millis SDK streams at once)", "[voice]") {
  HostFixture host;
  WsClient ws;
  REQUIRE(ws.connect(host.port(), "/v1/voice", std::string(test_origin)) == "");
  REQUIRE(ws.send_text(initiate_text("alpha", "pk-alpha")));
  const std::string quantum(256, '\0');
  for (int i = 0; i < 40; ++i) REQUIRE(ws.send_binary(quantum));
  json ready = read_method(ws, "onready");
  CHECK(looks_like_uuid(ready["payload"]["session_id"]));
}

TEST_CASE("refusals: onerror naming the problem, then the DESIGN close code", "[voice]") {
  HostFixture host;
  const auto port = host.port();
  CHECK(refused(port, {"{not json"}, "bad_json").close_code == 4400);
  CHECK(refused(port, {R"({"method":"dance"})"}, "unknown_method").close_code == 4400);
  CHECK(refused(port, {initiate_text("nobody", "pk-alpha")}, "unknown_agent").close_code == 4404);
  CHECK(refused(port, {initiate_text("alpha", "pk-brief")}, "bad_public_key").close_code == 4401);
  CHECK(refused(port, {initiate_text("alpha", "pk-alpha")}, "origin_not_allowed",
                "https://evil.example")
            .close_code == 4403);
  json many = json::object();
  for (int i = 0; i < 51; ++i) many["k" + std::to_string(i)] = "v";
  CHECK(refused(port, {initiate_text("alpha", "pk-alpha", many)}, "metadata_too_many_keys")
            .close_code == 4400);
  CHECK(refused(port, {R"({"method":"text","data":"hi"})"}, "bad_request").close_code == 4400);
  // agent_config alone: a temporary agent on alpha, which allows no overrides.
  CHECK(refused(port,
                {R"({"method":"initiate","data":{"public_key":"pk-alpha","agent":{"agent_config":{"prompt":"x"}}}})"},
                "bad_agent_config")
            .close_code == 4400);

  SECTION("a second initiate") {
    WsClient ws;
    start_call(ws, port, "alpha", "pk-alpha");
    ws.send_text(initiate_text("alpha", "pk-alpha"));
    json error = read_method(ws, "onerror");
    CHECK(error["data"]["message"].get<std::string>().find("already") != std::string::npos);
    CHECK(read_close(ws).close_code == 4400);
  }
  SECTION("audio of odd length") {
    WsClient ws;
    start_call(ws, port, "alpha", "pk-alpha");
    ws.send_binary(std::string(641, '\0'));
    CHECK(read_method(ws, "onerror")["data"]["code"] == "audio_odd_length");
    CHECK(read_close(ws).close_code == 4400);
  }
  SECTION("a text frame over 64 KiB") {
    WsClient ws;
    start_call(ws, port, "alpha", "pk-alpha");
    ws.send_text(R"({"method":"text","data":")" + std::string(70 * 1024, 'a') + "\"}");
    CHECK(read_close(ws).close_code == 4413);
  }
  SECTION("audio faster than the rate limit") {
    WsClient ws;
    start_call(ws, port, "alpha", "pk-alpha");
    const std::string big(32 * 1024, '\0');
    for (int i = 0; i < 8 && ws.is_open(); ++i) ws.send_binary(big);
    CHECK(read_close(ws).close_code == 4429);
  }
  SECTION("other calls are unaffected by a refused one") {
    WsClient good;
    start_call(good, port, "alpha", "pk-alpha");
    read_final_text(good);  // welcome
    refused(port, {"[1,2"}, "bad_json");
    good.send_text(R"({"method":"text","data":"hi"})");
    CHECK(read_final_text(good)["data"] == "Hi friend!");
  }
}

TEST_CASE("continuation by session_continuation: continued, resumed, expired, not_found, opted_out",
          "[voice]") {
  HostFixture host;
  const auto port = host.port();
  std::string first;
  {
    WsClient ws;
    first = start_call(ws, port, "alpha", "pk-alpha", {{"userName", "Ada"}})["session_id"];
    ws.send_text(R"({"method":"text","data":"hello"})");
    read_final_text(ws);  // welcome
    read_final_text(ws);  // reply
    ws.close(1000);
  }
  sleep_ms(100);
  SECTION("inside the window a new session continues it: a new id, no greeting mid-chat") {
    WsClient ws;
    json ready = start_call(ws, port, "alpha", "pk-alpha", {{"userName", "Ada"}}, first);
    CHECK(ready["session_id"] != first);
    CHECK(ready["continuation"] == "continued");
    CHECK(ready["continued_from"] == first);
    // The conversation is still going on (its last line is seconds old): no "Welcome back".
    ws.send_text(R"({"method":"text","data":"hello"})");
    CHECK(read_final_text(ws)["data"] == "Hi Ada!");
  }
  SECTION("a call that dropped and comes back within the grace is the same call") {
    std::string id;
    {
      WsClient ws;
      json ready = start_call(ws, port, "alpha", "pk-alpha", {{"userName", "Ada"}}, first);
      id = ready["session_id"];
      REQUIRE(id != first);
      ws.send_text(R"({"method":"text","data":"hello"})");
      CHECK(read_final_text(ws)["data"] == "Hi Ada!");
    }  // the socket drops: no close frame (connection_lost)
    sleep_ms(200);
    {
      WsClient ws;
      json ready = start_call(ws, port, "alpha", "pk-alpha", {{"userName", "Ada"}}, id);
      CHECK(ready["continuation"] == "resumed");
      CHECK(ready["session_id"] == id);  // same call, same id
      CHECK(ready["continued_from"] == id);
      ws.send_text(R"({"method":"text","data":"plan"})");
      CHECK(read_final_text(ws)["data"] == "Your plan is free.");  // no greeting first
      ws.close(1000);
    }
    sleep_ms(100);
    // After a call the user ended, coming back is a new session.
    WsClient ws;
    json ready = start_call(ws, port, "alpha", "pk-alpha", {{"userName", "Ada"}}, id);
    CHECK(ready["continuation"] == "continued");
    CHECK(ready["session_id"] != id);
  }
  SECTION("another public key of the same agent cannot take the session over") {
    WsClient ws;
    json ready = start_call(ws, port, "alpha", "pk-alpha-2", nullptr, first);
    CHECK(ready["continuation"] == "not_found");
    CHECK(ready["session_id"] != first);
  }
  SECTION("an unknown or malformed id is not_found, and a new session starts") {
    WsClient ws;
    json ready = start_call(ws, port, "alpha", "pk-alpha", nullptr,
                            "00000000-0000-4000-8000-000000000000");
    CHECK(ready["continuation"] == "not_found");
    CHECK(ready["session_id"] != first);
    CHECK_FALSE(ready.contains("continued_from"));
  }
  SECTION("another agent's session looks exactly like an unknown one") {
    WsClient ws;
    json ready = start_call(ws, port, "brief", "pk-brief", nullptr, first);
    CHECK(ready["continuation"] == "not_found");
  }
  SECTION("an agent that opts out of data answers opted_out") {
    WsClient ws;
    json ready = start_call(ws, port, "private", "pk-private", nullptr, first);
    CHECK(ready["continuation"] == "opted_out");
  }
  SECTION("after the window a new session continues the old one") {
    std::string old;
    {
      WsClient ws;
      old = start_call(ws, port, "brief", "pk-brief")["session_id"];
      ws.close(1000);
    }
    sleep_ms(1200);
    WsClient ws;
    json ready = start_call(ws, port, "brief", "pk-brief", nullptr, old);
    CHECK(ready["continuation"] == "expired");
    CHECK(ready["continued_from"] == old);
    CHECK(ready["session_id"] != old);
    // The new session's chat logs hold the old one's lines first.
    const std::string now_id = ready["session_id"];
    json logs = body_of(host.rest("GET", "SessionChatLogs/" + now_id + "/" + now_id + "?chain=true",
                                  nullptr, {{"X-Parley-Public-Key", "pk-brief"}}));
    REQUIRE(logs["chatLogs"].size() == 2);
    CHECK(logs["chatLogs"][0]["sessionID"] == old);
    CHECK(logs["chatLogs"][1]["sessionID"] == now_id);
  }
}

TEST_CASE("the agent's session_timeout ends the call with its message and reason", "[voice]") {
  json config = base_host_config();
  config["agents"][0]["session_timeout"] = {{"max_duration", 1}, {"message", "Time is up, {userName|friend}."}};
  config["agents"][1]["session_timeout"] = {{"max_idle", 1}, {"message", "Are you there?"}};
  HostFixture host(config);
  SECTION("max_duration") {
    WsClient ws;
    start_call(ws, host.port(), "alpha", "pk-alpha", {{"userName", "Ada"}});
    read_final_text(ws);  // welcome
    CHECK(read_final_text(ws, 3000)["data"] == "Time is up, Ada.");
    CHECK(read_method(ws, "onsessionended")["payload"]["reason"] == "max_duration");
    CHECK(read_close(ws).close_code == 1000);
  }
  SECTION("max_idle, restarted by each user turn") {
    WsClient ws;
    start_call(ws, host.port(), "brief", "pk-brief");
    read_final_text(ws);  // welcome
    sleep_ms(600);
    ws.send_text(R"({"method":"text","data":"hello"})");
    CHECK(read_final_text(ws)["data"] == "Brief hello.");
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(read_final_text(ws, 3000)["data"] == "Are you there?");
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(800));
    CHECK(read_method(ws, "onsessionended")["payload"]["reason"] == "max_idle");
  }
}

TEST_CASE("nothing received for idle_timeout_s closes the socket with 4408", "[voice]") {
  json config = base_host_config();
  config["server"]["limits"] = {{"idle_timeout_s", 1}};
  HostFixture host(config);
  WsClient ws;
  start_call(ws, host.port(), "alpha", "pk-alpha");
  json error = read_method(ws, "onerror", 4000);
  CHECK(error["data"]["code"] == "idle_timeout");
  CHECK(read_close(ws).close_code == 4408);
}
