// /memori/v2 against a real parley-host (DESIGN §4, §5): sessions, text, chat logs,
// continuation, user tokens, opt-out, ownership, CORS, every refusal, and the admin prompt.
#include <catch2/catch.hpp>

#include <ctime>

#include "host_fixture.hpp"
#include "parley/host/ids.hpp"

using namespace parley::test;
using parley::json;

namespace {

std::string open_session(HostFixture& host, json body, std::string* emission = nullptr) {
  json reply = body_of(host.rest("POST", "Session", body));
  INFO(reply.dump());
  REQUIRE(reply["resultCode"] == 0);
  if (emission) *emission = reply["currentState"]["emission"];
  return reply["sessionID"];
}

json say(HostFixture& host, const std::string& id, const std::string& text) {
  return body_of(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", text}}));
}

void check_refused(const HttpResult& r, unsigned status, int result_code,
                   std::vector<std::string> mentions) {
  json body = body_of(r);
  INFO(body.dump());
  CHECK(r.status == status);
  CHECK(body["resultCode"] == result_code);
  CHECK(body.contains("requestID"));
  const std::string message = body["resultMessage"];
  for (const auto& word : mentions) CHECK(message.find(word) != std::string::npos);
}

}  // namespace

TEST_CASE("open, get, text, chat logs and delete a session", "[memori]") {
  HostFixture host;
  std::string welcome;
  const std::string id =
      open_session(host, {{"memoriID", "alpha"}, {"initialContextVars", {{"userName", "Ada"}}}},
                   &welcome);
  CHECK(welcome == "Hello Ada!");

  json reply = say(host, id, "hello");
  CHECK(reply["resultCode"] == 0);
  CHECK(reply["currentState"]["emission"] == "Hi Ada!");
  CHECK(reply["currentState"]["contextVars"]["userName"] == "Ada");
  CHECK(say(host, id, "my plan?")["currentState"]["emission"] == "Your plan is free.");

  json state = body_of(host.rest("GET", "Session/" + id));
  CHECK(state["resultCode"] == 0);
  CHECK(state["currentState"]["emission"] == "Your plan is free.");  // the agent's last

  json logs = body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id));
  REQUIRE(logs["chatLogs"].size() == 1);
  const json& log = logs["chatLogs"][0];
  CHECK(log["sessionID"] == id);
  CHECK(log["memoriID"] == "alpha");
  REQUIRE(log["lines"].size() == 5);
  const std::vector<std::pair<bool, std::string>> expected = {
      {false, "Hello Ada!"}, {true, "hello"}, {false, "Hi Ada!"}, {true, "my plan?"},
      {false, "Your plan is free."}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(log["lines"][i]["inbound"] == expected[i].first);
    CHECK(log["lines"][i]["text"] == expected[i].second);
  }

  json deleted = body_of(host.rest("DELETE", "Session/" + id));
  CHECK(deleted["resultCode"] == 0);
  check_refused(host.rest("GET", "Session/" + id), 404, -263, {"no such session"});
  check_refused(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hi"}}), 404, -263, {});
}

TEST_CASE("PATCH /Session/{id}: a resumed session takes the page's metadata", "[memori]") {
  HostFixture host;
  const std::string id = open_session(
      host, {{"memoriID", "alpha"}, {"initialContextVars", {{"userName", "Ada"}, {"plan", "free"}}}});
  CHECK(say(host, id, "my plan?")["currentState"]["emission"] == "Your plan is free.");
  json patched = body_of(host.rest("PATCH", "Session/" + id,
                                   json{{"metadata", {{"plan", "gold"}, {"page", "/cart"}}}}));
  CHECK(patched["resultCode"] == 0);
  CHECK(say(host, id, "my plan?")["currentState"]["emission"] == "Your plan is gold.");
  json state = body_of(host.rest("GET", "Session/" + id));
  CHECK(state["currentState"]["contextVars"]["userName"] == "Ada");  // kept
  CHECK(state["currentState"]["contextVars"]["page"] == "/cart");
  // What is wrong is named, and nothing changes.
  check_refused(host.rest("PATCH", "Session/" + id, json{{"metadata", "plan=x"}}), 400, -400,
                {"metadata"});
  check_refused(host.rest("PATCH", "Session/" + id, json{{"metadata", {{"bad key", "x"}}}}), 400,
                -400, {"bad key"});
  CHECK(say(host, id, "my plan?")["currentState"]["emission"] == "Your plan is gold.");
  check_refused(host.rest("PATCH", "Session/00000000-0000-4000-8000-000000000000",
                          json{{"metadata", {{"plan", "x"}}}}),
                404, -263, {});
}

TEST_CASE("continuation from a session and from a chat log, oldest first", "[memori]") {
  HostFixture host;
  const std::string first = open_session(host, {{"memoriID", "alpha"}});
  say(host, first, "hello");
  json reply = body_of(host.rest("POST", "Session",
                                 json{{"memoriID", "alpha"}, {"continueFromSessionID", first}}));
  REQUIRE(reply["resultCode"] == 0);
  const std::string second = reply["sessionID"];
  CHECK(second != first);
  CHECK(reply["continuation"] == "continued");
  CHECK(reply["currentState"]["emission"] == "Welcome back, friend.");
  say(host, second, "plan");

  // The session's own log is chatLogs[0] (memori-react); the chain is our option.
  json own = body_of(host.rest("GET", "SessionChatLogs/" + second + "/" + second));
  REQUIRE(own["chatLogs"].size() == 1);
  CHECK(own["chatLogs"][0]["sessionID"] == second);
  json logs = body_of(host.rest("GET", "SessionChatLogs/" + second + "/" + second + "?chain=true"));
  REQUIRE(logs["chatLogs"].size() == 2);
  CHECK(logs["chatLogs"][0]["sessionID"] == first);
  CHECK(logs["chatLogs"][1]["sessionID"] == second);
  json earlier = body_of(host.rest("GET", "SessionChatLogs/" + second + "/" + first));
  REQUIRE(earlier["chatLogs"].size() == 1);
  CHECK(earlier["chatLogs"][0]["sessionID"] == first);
  check_refused(host.rest("GET", "SessionChatLogs/" + second + "/" + second + "?chain=yes"), 400,
                -400, {"chain"});

  SECTION("by chat log id") {
    const std::string log_id = logs["chatLogs"][1]["chatLogID"];
    json third = body_of(host.rest(
        "POST", "Session", json{{"memoriID", "alpha"}, {"continueFromChatLogID", log_id}}));
    REQUIRE(third["resultCode"] == 0);
    CHECK(third["continuedFromSessionID"] == second);
  }
  SECTION("a line's id is refused with a message saying so") {
    const std::string line_id = logs["chatLogs"][0]["lines"][1]["lineID"];
    check_refused(host.rest("POST", "Session",
                            json{{"memoriID", "alpha"}, {"continueFromChatLogID", line_id}}),
                  400, -400, {"chat line", "chatLogID"});
  }
  SECTION("an unknown id starts afresh and says not_found") {
    json fresh = body_of(host.rest(
        "POST", "Session",
        json{{"memoriID", "alpha"}, {"continueFromSessionID", "no-such-session"}}));
    CHECK(fresh["resultCode"] == 0);
    CHECK(fresh["continuation"] == "not_found");
    CHECK(fresh["currentState"]["emission"] == "Hello there!");
  }
  SECTION("another agent cannot read or continue it") {
    const std::string other = open_session(host, {{"memoriID", "brief"}});
    check_refused(host.rest("GET", "SessionChatLogs/" + other + "/" + first), 404, -263, {});
    json cont = body_of(host.rest(
        "POST", "Session", json{{"memoriID", "brief"}, {"continueFromSessionID", first}}));
    CHECK(cont["continuation"] == "not_found");
  }
}

TEST_CASE("SessionChatLogs?lastLines=N: the newest N lines of the chain and totalLines", "[memori]") {
  HostFixture host;
  const std::string first = open_session(host, {{"memoriID", "alpha"}});
  say(host, first, "hello");  // first: the welcome, "hello", the answer
  json reply = body_of(host.rest("POST", "Session",
                                 json{{"memoriID", "alpha"}, {"continueFromSessionID", first}}));
  REQUIRE(reply["resultCode"] == 0);
  const std::string second = reply["sessionID"];
  say(host, second, "plan");  // second: the welcome, "plan", the answer
  const std::string route = "SessionChatLogs/" + second + "/" + second + "?chain=true";

  json whole = body_of(host.rest("GET", route));
  CHECK(whole["totalLines"] == 6);
  REQUIRE(whole["chatLogs"].size() == 2);

  json last2 = body_of(host.rest("GET", route + "&lastLines=2"));
  CHECK(last2["resultCode"] == 0);
  CHECK(last2["totalLines"] == 6);
  REQUIRE(last2["chatLogs"].size() == 1);  // the first session's log has no line left
  CHECK(last2["chatLogs"][0]["sessionID"] == second);
  REQUIRE(last2["chatLogs"][0]["lines"].size() == 2);
  CHECK(last2["chatLogs"][0]["lines"][0] == whole["chatLogs"][1]["lines"][1]);
  CHECK(last2["chatLogs"][0]["lines"][1] == whole["chatLogs"][1]["lines"][2]);

  json last4 = body_of(host.rest("GET", route + "&lastLines=4"));  // across the two logs
  REQUIRE(last4["chatLogs"].size() == 2);
  CHECK(last4["chatLogs"][0]["sessionID"] == first);
  REQUIRE(last4["chatLogs"][0]["lines"].size() == 1);
  CHECK(last4["chatLogs"][0]["lines"][0] == whole["chatLogs"][0]["lines"][2]);
  CHECK(last4["chatLogs"][1]["lines"] == whole["chatLogs"][1]["lines"]);

  json more = body_of(host.rest("GET", route + "&lastLines=100000"));
  CHECK(more["chatLogs"] == whole["chatLogs"]);
  CHECK(more["totalLines"] == 6);

  // Without ?chain=true, only the asked-for session's log, with its own count.
  json own = body_of(host.rest("GET", "SessionChatLogs/" + second + "/" + second + "?lastLines=2"));
  CHECK(own["totalLines"] == 3);
  REQUIRE(own["chatLogs"].size() == 1);
  CHECK(own["chatLogs"][0]["lines"] == last2["chatLogs"][0]["lines"]);

  for (const char* bad : {"0", "-1", "abc", "", "100001", "1e3", "9999999999"}) {
    INFO(bad);
    check_refused(host.rest("GET", route + "&lastLines=" + bad), 400, -400,
                  {"lastLines", "from 1 to 100000"});
  }
}

TEST_CASE("a session expires after its window without activity", "[memori]") {
  HostFixture host;
  const std::string id = open_session(host, {{"memoriID", "brief"}});
  CHECK(body_of(host.rest("GET", "Session/" + id))["resultCode"] == 0);
  sleep_ms(1200);
  check_refused(host.rest("GET", "Session/" + id), 410, -103, {"expired"});
  check_refused(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hello"}}), 410, -103,
                {});
  // Continuation still works after expiry: the history is retained.
  json cont = body_of(
      host.rest("POST", "Session", json{{"memoriID", "brief"}, {"continueFromSessionID", id}}));
  CHECK(cont["continuation"] == "expired");
}

TEST_CASE("issue 12: an expired session's chat log stays readable by its owner", "[memori]") {
  HostFixture host;
  const std::string id = open_session(host, {{"memoriID", "brief"}});
  CHECK(say(host, id, "hello")["currentState"]["emission"] == "Brief hello.");
  sleep_ms(1200);
  check_refused(host.rest("GET", "Session/" + id), 410, -103, {"expired"});
  // memori-react's reopen: the same id twice, after expiry, any number of times.
  for (int round = 0; round < 2; ++round) {
    HttpResult r = host.rest("GET", "SessionChatLogs/" + id + "/" + id);
    CHECK(r.status == 200);
    CHECK(r.header("cache-control") == std::optional<std::string>("no-store"));
    json logs = body_of(r);
    REQUIRE(logs["chatLogs"].size() == 1);
    CHECK(logs["chatLogs"][0]["sessionID"] == id);
    CHECK(logs["chatLogs"][0]["lines"].size() == 3);  // welcome, hello, reply
  }
  // A past session read through a live one of the same owner.
  const std::string live = open_session(host, {{"memoriID", "brief"}});
  json past = body_of(host.rest("GET", "SessionChatLogs/" + live + "/" + id));
  REQUIRE(past["chatLogs"].size() == 1);
  CHECK(past["chatLogs"][0]["sessionID"] == id);
  // An expired session cannot be the window onto another one.
  check_refused(host.rest("GET", "SessionChatLogs/" + id + "/" + live), 410, -103, {"expired"});
  // Reopened from its chat log id, as memori-react does.
  json reopened = body_of(host.rest(
      "POST", "Session",
      json{{"memoriID", "brief"}, {"continueFromChatLogID", past["chatLogs"][0]["chatLogID"]}}));
  CHECK(reopened["continuedFromSessionID"] == id);
  CHECK(reopened["continuation"] == "expired");
  // Deleted, it is gone: the same id twice answers as an unknown id.
  CHECK(body_of(host.rest("DELETE", "Session/" + id))["resultCode"] == 0);
  check_refused(host.rest("GET", "SessionChatLogs/" + id + "/" + id), 404, -263, {"no such session"});
}

TEST_CASE("an agent that opts out of data stores no line", "[memori]") {
  HostFixture host;
  const std::string id = open_session(host, {{"memoriID", "private"}});
  CHECK(say(host, id, "hello")["currentState"]["emission"] == "Private hi.");
  json logs = body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id));
  CHECK(logs["resultCode"] == 0);
  CHECK(logs["chatLogs"].empty());
  json cont = body_of(
      host.rest("POST", "Session", json{{"memoriID", "private"}, {"continueFromSessionID", id}}));
  CHECK(cont["continuation"] == "opted_out");
}

TEST_CASE("user tokens scope chat log listings and continuation by user", "[memori]") {
  HostFixture host;
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ada = parley::host::mint_login_token("alpha-secret", "ada", now_s + 600);
  const std::string bob = parley::host::mint_login_token("alpha-secret", "bob", now_s + 600);
  const std::string s1 = open_session(
      host, {{"memoriID", "alpha"}, {"additionalInfo", {{"loginToken", ada}}}});
  say(host, s1, "hello");
  const std::string s2 = open_session(
      host, {{"memoriID", "alpha"}, {"additionalInfo", {{"loginToken", ada}}}});
  say(host, s2, "plan");
  open_session(host, {{"memoriID", "alpha"}, {"additionalInfo", {{"loginToken", bob}}}});

  json page = body_of(host.rest("POST", "UserChatLogsByTokenPaged",
                                json{{"loginToken", ada}, {"memoriID", "alpha"}, {"from", 0},
                                     {"howMany", 1}}));
  REQUIRE(page["resultCode"] == 0);
  CHECK(page["count"] == 1);
  CHECK(page["totalCount"] == 2);
  json all = body_of(host.rest("POST", "UserChatLogsByTokenPaged",
                               json{{"loginToken", ada}, {"memoriID", "alpha"}, {"from", 0},
                                    {"howMany", 10}}));
  CHECK(all["totalCount"] == 2);
  for (const auto& log : all["chatLogs"]) CHECK((log["sessionID"] == s1 || log["sessionID"] == s2));

  SECTION("another user's token cannot continue Ada's session") {
    json cont = body_of(host.rest("POST", "Session",
                                  json{{"memoriID", "alpha"},
                                       {"continueFromSessionID", s1},
                                       {"additionalInfo", {{"loginToken", bob}}}}));
    CHECK(cont["continuation"] == "not_found");
  }
  SECTION("continuation by user: the latest session of that user") {
    json cont = body_of(host.rest(
        "POST", "Session",
        json{{"memoriID", "alpha"},
             {"additionalInfo", {{"loginToken", ada}, {"continueFromUser", "true"}}}}));
    CHECK(cont["continuedFromSessionID"] == s2);
  }
  SECTION("bad tokens are refused by kind") {
    const std::string wrong = parley::host::mint_login_token("other-secret", "ada", now_s + 600);
    const std::string old = parley::host::mint_login_token("alpha-secret", "ada", now_s - 10);
    for (const auto& [token, code] : std::vector<std::pair<std::string, std::string>>{
             {wrong, "token_bad_signature"}, {old, "token_expired"}, {"nonsense", "token_malformed"}}) {
      json r = body_of(host.rest("POST", "UserChatLogsByTokenPaged",
                                 json{{"loginToken", token}, {"memoriID", "alpha"}, {"from", 0},
                                      {"howMany", 10}}));
      CHECK(r["resultCode"] == -401);
      CHECK(r["errorCode"] == code);
    }
  }
}

TEST_CASE("bad requests name what is wrong and change nothing", "[memori]") {
  HostFixture host;
  check_refused(host.rest("POST", "Session", nullptr), 400, -400, {"request body"});
  HttpResult not_json =
      http(host.port(), "POST", "/memori/v2/Session", "{memoriID:", {{"Content-Type", "application/json"}});
  check_refused(not_json, 400, -400, {"request body"});
  check_refused(host.rest("POST", "Session", json{{"memoriID", 7}}), 400, -400, {"memoriID"});
  check_refused(host.rest("POST", "Session", json::object()), 400, -400, {"memoriID"});
  check_refused(host.rest("POST", "Session", json{{"memoriID", "nobody"}}), 404, -404, {"nobody"});
  check_refused(host.rest("POST", "Session",
                          json{{"memoriID", "alpha"}, {"initialContextVars", {{"bad key!", "x"}}}}),
                400, -400, {"initialContextVars"});
  const std::string id = open_session(host, {{"memoriID", "alpha"}});
  check_refused(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", ""}}), 400, -400, {"text"});
  check_refused(host.rest("POST", "TextEnteredEvent/" + id, json{{"text", 5}}), 400, -400, {"text"});
  check_refused(host.rest("POST", "TextEnteredEvent/" + id,
                          json{{"text", std::string(9000, 'a')}}),
                400, -400, {"text", "8192"});
  check_refused(host.rest("GET", "Session/..%2F..%2Fetc"), 404, -263, {});
  check_refused(host.rest("GET", "NoSuchRoute"), 404, -263, {"route"});
  check_refused(host.rest("POST", "UserChatLogsByTokenPaged",
                          json{{"loginToken", "t"}, {"memoriID", "alpha"}, {"howMany", 500}}),
                400, -400, {"howMany"});
  // Nothing above touched the session.
  json logs = body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id));
  REQUIRE(logs["chatLogs"].size() == 1);
  CHECK(logs["chatLogs"][0]["lines"].size() == 1);  // the welcome only
}

TEST_CASE("CORS follows the agents' allowed origins", "[memori]") {
  HostFixture host;
  HttpResult preflight = http(host.port(), "OPTIONS", "/memori/v2/Session", "",
                              {{"Origin", test_origin},
                               {"Access-Control-Request-Method", "POST"},
                               {"Access-Control-Request-Headers", "content-type"}});
  CHECK(preflight.status == 204);
  CHECK(preflight.header("access-control-allow-origin") == std::string(test_origin));
  CHECK(preflight.header("access-control-allow-credentials") == std::string("true"));
  HttpResult evil = http(host.port(), "OPTIONS", "/memori/v2/Session", "",
                         {{"Origin", "https://evil.example"}});
  CHECK_FALSE(evil.header("access-control-allow-origin").has_value());
  HttpResult post = host.rest("POST", "Session", json{{"memoriID", "alpha"}},
                              {{"Origin", "https://evil.example"}});
  check_refused(post, 403, -403, {"origin"});
}

TEST_CASE("the operator sees the prompt actually used, behind the admin key", "[memori]") {
  HostFixture host;
  json opened = body_of(host.rest("POST", "Session",
                                   json{{"memoriID", "alpha"},
                                        {"initialContextVars", {{"userName", "Ada"}, {"plan", "pro"}}},
                                        {"include_metadata_in_prompt", true}}));
  const std::string id = opened["sessionID"];
  HttpResult anonymous = http(host.port(), "GET", "/admin/sessions/" + id + "/prompt");
  CHECK(anonymous.status == 401);
  HttpResult wrong = http(host.port(), "GET", "/admin/sessions/" + id + "/prompt", "",
                          {{"Authorization", "Bearer nope"}});
  CHECK(wrong.status == 401);
  HttpResult r = http(host.port(), "GET", "/admin/sessions/" + id + "/prompt", "",
                      {{"Authorization", "Bearer test-admin-key"}});
  REQUIRE(r.status == 200);
  const std::string prompt = body_of(r)["prompt"];
  CHECK(prompt.find("You help Ada.") == 0);
  CHECK(prompt.find("SESSION METADATA BEGIN") != std::string::npos);
  CHECK(prompt.find("plan: \"pro\"") != std::string::npos);
  CHECK(body_of(r)["include_metadata_in_prompt"] == true);
}
