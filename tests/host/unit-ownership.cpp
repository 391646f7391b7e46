// Issue 14, ownership on every route (DESIGN §5): the ownership matrix, route × (right, wrong,
// missing) × (public key, loginToken), against a real parley-host. A right caller is served;
// every wrong or missing one gets an answer byte-identical to the one an unknown id gets on the
// same route with the same credentials (what differs by nature is masked: requestID,
// requestDateTime, a newly opened session's id and its currentDate), and nothing changes. A
// deleted session answers as an unknown one everywhere: its lines cannot be read through
// another session's SessionChatLogs, it cannot be continued, and it is not listed.
#include <catch2/catch.hpp>

#include <ctime>
#include <functional>
#include <regex>

#include "host_fixture.hpp"
#include "parley/host/ids.hpp"

using namespace parley::test;
using parley::json;

namespace {

constexpr const char* unknown_id = "0b3f6c2a-9d41-4e7a-8c55-5a1d2e3f4b6c";

json ownership_config() {
  json config = base_host_config();
  // The matrix asks a few sessions many times a second and opens many: limits off here
  // (unit-limits.cpp tests them).
  config["server"]["limits"] = {{"max_requests_per_s", 0},
                                {"max_sessions_per_min", 0},
                                {"max_session_requests_per_s", 0}};
  return config;
}

struct Creds {
  const char* name;
  std::optional<std::string> key;
  std::optional<std::string> token;
  std::string origin = test_origin;
};

Headers headers_of(const Creds& c) {
  Headers h;
  if (c.key) h.emplace_back("X-Parley-Public-Key", *c.key);
  if (c.token) h.emplace_back("Authorization", "Bearer " + *c.token);
  if (!c.origin.empty()) h.emplace_back("Origin", c.origin);
  return h;
}

// The reply with what differs by nature masked, as bytes: status line fields, every header,
// the body.
std::string masked(const HttpResult& r) {
  static const std::regex request_id(R"re("requestID":"[^"]*")re");
  static const std::regex date(R"re("requestDateTime":"[^"]*")re");
  static const std::regex session(R"re("sessionID":"[^"]*")re");
  static const std::regex current(R"re("currentDate":"[^"]*")re");
  std::string body = std::regex_replace(r.body, request_id, R"("requestID":"*")");
  body = std::regex_replace(body, date, R"("requestDateTime":"*")");
  body = std::regex_replace(body, session, R"("sessionID":"*")");
  body = std::regex_replace(body, current, R"("currentDate":"*")");
  std::string out = "HTTP " + std::to_string(r.status) + "\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\n";
  return out + "\n" + body;
}

std::string open_with(HostFixture& host, const Creds& c, const std::string& user_name = "Ada") {
  json reply = body_of(host.rest("POST", "Session",
                                 json{{"memoriID", "alpha"},
                                      {"initialContextVars", {{"userName", user_name}}}},
                                 headers_of(c)));
  INFO(reply.dump());
  REQUIRE(reply["resultCode"] == 0);
  return reply["sessionID"];
}

using Route = std::function<HttpResult(HostFixture&, const std::string& id, const Creds&)>;

}  // namespace

TEST_CASE("issue 14: the ownership matrix, every wrong answer identical to an unknown id",
          "[ownership]") {
  HostFixture host(ownership_config());
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ada = parley::host::mint_login_token("alpha-secret", "ada", now_s + 600);
  const std::string bob = parley::host::mint_login_token("alpha-secret", "bob", now_s + 600);
  const std::string forged = ada.substr(0, ada.size() - 4) + (ada.substr(ada.size() - 4) == "AAAA" ? "BBBB" : "AAAA");

  // A session anyone may use (no key, no token): the asker for reading another's chat log.
  const Creds nobody{"nobody", std::nullopt, std::nullopt};
  const std::string open_session = open_with(host, nobody);

  struct Kind {
    const char* name;
    Creds opened_with;
    std::vector<std::pair<Creds, bool>> callers;  // and whether each owns it
  };
  const Creds key_right{"key right", "pk-alpha", std::nullopt};
  const Creds key_wrong{"key wrong (the agent's other key)", "pk-alpha-2", std::nullopt};
  const Creds key_missing{"key missing", std::nullopt, std::nullopt};
  const Creds token_right{"token right", std::nullopt, ada};
  const Creds token_wrong{"token wrong (another user)", std::nullopt, bob};
  const Creds token_forged{"token forged", std::nullopt, forged};
  const Creds both_right{"key and token right", "pk-alpha", ada};
  const Creds both_key_wrong{"key wrong, token right", "pk-alpha-2", ada};
  const Creds both_token_wrong{"key right, token wrong", "pk-alpha", bob};
  const Creds key_right_bad_origin{"key right, origin not allowed", "pk-alpha", std::nullopt,
                                   "https://evil.example"};
  const std::vector<Kind> kinds = {
      {"bound to a key", key_right,
       {{key_right, true}, {both_token_wrong, true}, {key_wrong, false}, {key_missing, false},
        {token_right, false}, {key_right_bad_origin, false}}},
      {"opened with a loginToken", token_right,
       {{token_right, true}, {both_right, true}, {token_wrong, false}, {token_forged, false},
        {key_missing, false}, {key_right, false}}},
      {"bound to a key and a user", both_right,
       {{both_right, true}, {both_key_wrong, false}, {both_token_wrong, false},
        {key_right, false}, {token_right, false}, {key_missing, false}}},
  };

  const std::vector<std::pair<const char*, Route>> routes = {
      {"GET /Session/{id}",
       [](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("GET", "Session/" + id, nullptr, headers_of(c));
       }},
      {"POST /TextEnteredEvent/{id}",
       [](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hello"}}, headers_of(c));
       }},
      {"GET /SessionChatLogs/{id}/{id}",
       [](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("GET", "SessionChatLogs/" + id + "/" + id, nullptr, headers_of(c));
       }},
      {"GET /SessionChatLogs/{id}/{id}?chain=true",
       [](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("GET", "SessionChatLogs/" + id + "/" + id + "?chain=true", nullptr,
                       headers_of(c));
       }},
      {"GET /SessionChatLogs/{anyone's}/{id}",
       [&](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("GET", "SessionChatLogs/" + open_session + "/" + id, nullptr,
                       headers_of(c));
       }},
      {"POST /Session continueFromSessionID",
       [](HostFixture& h, const std::string& id, const Creds& c) {
         return h.rest("POST", "Session", json{{"memoriID", "alpha"}, {"continueFromSessionID", id}},
                       headers_of(c));
       }},
  };

  for (const auto& kind : kinds) {
    const std::string id = open_with(host, kind.opened_with);
    for (const auto& [route_name, route] : routes) {
      for (const auto& [caller, owns] : kind.callers) {
        INFO("session " << kind.name << ", route " << route_name << ", caller " << caller.name);
        const HttpResult mine = route(host, id, caller);
        const json reply = body_of(mine);
        // Personal data, served or refused: never kept by a cache (DESIGN §9).
        CHECK(mine.header("cache-control") == std::optional<std::string>("no-store"));
        if (owns) {
          CHECK(mine.status == 200);
          CHECK(reply["resultCode"] == 0);
          // A new session continuing it (DESIGN §3: "continued"; "resumed" is the same call back).
          if (reply.contains("continuation")) CHECK(reply["continuation"] == "continued");
          if (reply.contains("chatLogs")) {
            REQUIRE(reply["chatLogs"].size() >= 1);
            CHECK(reply["chatLogs"].back()["sessionID"] == id);
          }
          continue;
        }
        const HttpResult unknown = route(host, unknown_id, caller);
        CHECK(masked(mine) == masked(unknown));
        // Not served: refused (as an unknown id is), or a new session that continues nothing.
        if (reply["resultCode"] == 0) CHECK(reply["continuation"] == "not_found");
        else CHECK(reply["resultCode"] != 0);
      }
    }
    // By chat log id, as continueFromChatLogID: the same rule.
    const std::string log_id =
        body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + id, nullptr,
                          headers_of(kind.opened_with)))["chatLogs"][0]["chatLogID"];
    auto by_log = [&](const std::string& chat_log_id, const Creds& caller) {
      return host.rest("POST", "Session",
                       json{{"memoriID", "alpha"}, {"continueFromChatLogID", chat_log_id}},
                       headers_of(caller));
    };
    for (const auto& [caller, owns] : kind.callers) {
      INFO("session " << kind.name << ", continueFromChatLogID, caller " << caller.name);
      const HttpResult mine = by_log(log_id, caller);
      if (owns) {
        CHECK(body_of(mine)["continuation"] == "continued");
        continue;
      }
      CHECK(masked(mine) == masked(by_log(unknown_id, caller)));
    }
    // DELETE last: a wrong caller deletes nothing and is told what an unknown id is told.
    for (const auto& [caller, owns] : kind.callers) {
      if (owns) continue;
      INFO("session " << kind.name << ", DELETE, caller " << caller.name);
      const HttpResult refused = host.rest("DELETE", "Session/" + id, nullptr, headers_of(caller));
      CHECK(masked(refused) == masked(host.rest("DELETE", std::string("Session/") + unknown_id,
                                                nullptr, headers_of(caller))));
      CHECK(body_of(host.rest("GET", "Session/" + id, nullptr,
                              headers_of(kind.opened_with)))["resultCode"] == 0);
    }
    CHECK(body_of(host.rest("DELETE", "Session/" + id, nullptr,
                            headers_of(kind.opened_with)))["resultCode"] == 0);
  }
}

TEST_CASE("issue 14: a deleted session answers as an unknown one, everywhere", "[ownership]") {
  HostFixture host(ownership_config());
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ada = parley::host::mint_login_token("alpha-secret", "ada", now_s + 600);
  const Creds owner{"owner", "pk-alpha", ada};
  const std::string gone = open_with(host, owner);
  CHECK(body_of(host.rest("POST", "TextEnteredEvent/" + gone, json{{"text", "hello"}},
                          headers_of(owner)))["resultCode"] == 0);
  const json before = body_of(
      host.rest("GET", "SessionChatLogs/" + gone + "/" + gone, nullptr, headers_of(owner)));
  const std::string gone_log = before["chatLogs"][0]["chatLogID"];
  // A second session of the same owner that continues the first: its chain held it.
  const json continued = body_of(host.rest(
      "POST", "Session", json{{"memoriID", "alpha"}, {"continueFromSessionID", gone}},
      headers_of(owner)));
  const std::string next = continued["sessionID"];
  CHECK(body_of(host.rest("GET", "SessionChatLogs/" + next + "/" + next + "?chain=true", nullptr,
                          headers_of(owner)))["chatLogs"]
            .size() == 2);

  REQUIRE(body_of(host.rest("DELETE", "Session/" + gone, nullptr, headers_of(owner)))["resultCode"] ==
          0);

  const std::vector<std::pair<std::string, std::function<HttpResult(const std::string&)>>> routes = {
      {"GET /Session", [&](const std::string& id) {
         return host.rest("GET", "Session/" + id, nullptr, headers_of(owner));
       }},
      {"DELETE /Session", [&](const std::string& id) {
         return host.rest("DELETE", "Session/" + id, nullptr, headers_of(owner));
       }},
      {"TextEnteredEvent", [&](const std::string& id) {
         return host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hi"}}, headers_of(owner));
       }},
      {"SessionChatLogs same id", [&](const std::string& id) {
         return host.rest("GET", "SessionChatLogs/" + id + "/" + id, nullptr, headers_of(owner));
       }},
      {"SessionChatLogs through another session", [&](const std::string& id) {
         return host.rest("GET", "SessionChatLogs/" + next + "/" + id, nullptr, headers_of(owner));
       }},
      {"continueFromSessionID", [&](const std::string& id) {
         return host.rest("POST", "Session", json{{"memoriID", "alpha"}, {"continueFromSessionID", id}},
                          headers_of(owner));
       }},
  };
  for (const auto& [name, route] : routes) {
    INFO(name);
    CHECK(masked(route(gone)) == masked(route(unknown_id)));
  }
  // By its chat log id: continues nothing.
  CHECK(body_of(host.rest("POST", "Session",
                          json{{"memoriID", "alpha"}, {"continueFromChatLogID", gone_log}},
                          headers_of(owner)))["continuation"] == "not_found");
  // The chain of the session that continued it leaves it out, lines and all.
  const json chain = body_of(host.rest("GET", "SessionChatLogs/" + next + "/" + next + "?chain=true",
                                       nullptr, headers_of(owner)));
  REQUIRE(chain["chatLogs"].size() == 1);
  CHECK(chain["chatLogs"][0]["sessionID"] == next);
  // Not listed for its user either.
  const json listed = body_of(host.rest(
      "POST", "UserChatLogsByTokenPaged",
      json{{"loginToken", ada}, {"memoriID", "alpha"}, {"from", 0}, {"howMany", 10}},
      headers_of(owner)));
  REQUIRE(listed["resultCode"] == 0);
  CHECK(listed["totalCount"] == listed["chatLogs"].size());  // the sessions opened above
  CHECK(listed["chatLogs"].size() >= 2);
  for (const auto& log : listed["chatLogs"]) CHECK(log["sessionID"] != gone);
  // And the voice socket cannot continue it.
  WsClient ws;
  json ready = start_call(ws, host.port(), "alpha", "pk-alpha", nullptr, gone);
  CHECK(ready["continuation"] == "not_found");
  CHECK(ready["session_id"] != gone);
}

TEST_CASE("issue 14: the voice socket continues only a session of its key", "[ownership]") {
  HostFixture host(ownership_config());
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ada = parley::host::mint_login_token("alpha-secret", "ada", now_s + 600);
  const std::string keyed = open_with(host, Creds{"key", "pk-alpha", std::nullopt});
  const std::string anyone = open_with(host, Creds{"none", std::nullopt, std::nullopt});
  const std::string users = open_with(host, Creds{"token", std::nullopt, ada});
  auto ready_for = [&](const std::string& key, const std::string& id) {
    WsClient ws;
    json ready = start_call(ws, host.port(), "alpha", key, nullptr, id);
    ws.close();
    ready.erase("session_id");
    return ready;
  };
  const json unknown = ready_for("pk-alpha-2", unknown_id);
  CHECK(unknown["continuation"] == "not_found");
  CHECK(ready_for("pk-alpha-2", keyed) == unknown);  // another key of the same agent
  CHECK(ready_for("pk-alpha-2", users) == unknown);  // a user's session, no token on the socket
  CHECK(ready_for("pk-alpha", keyed)["continuation"] != "not_found");
  CHECK(ready_for("pk-alpha-2", anyone)["continuation"] != "not_found");  // no key: any key
}

TEST_CASE("issue 14: REST credentials that are malformed are refused by name, before any lookup",
          "[ownership]") {
  HostFixture host(ownership_config());
  const std::string id = open_with(host, Creds{"none", std::nullopt, std::nullopt});
  for (const std::string& route : {"Session/" + id, std::string("Session/") + unknown_id}) {
    HttpResult basic = host.rest("GET", route, nullptr, {{"Authorization", "Basic dXNlcjpwYXNz"}});
    CHECK(basic.status == 400);
    CHECK(body_of(basic)["resultMessage"].get<std::string>().find("Bearer") != std::string::npos);
    HttpResult empty = host.rest("GET", route, nullptr, {{"Authorization", "Bearer   "}});
    CHECK(empty.status == 400);
    HttpResult key = host.rest("GET", route, nullptr, {{"X-Parley-Public-Key", std::string(300, 'k')}});
    CHECK(key.status == 400);
    CHECK(body_of(key)["resultMessage"].get<std::string>().find("X-Parley-Public-Key") !=
          std::string::npos);
  }
  // The scheme is case-insensitive (RFC 9110 §11.1).
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ada = parley::host::mint_login_token("alpha-secret", "ada", now_s + 600);
  const std::string mine = open_with(host, Creds{"token", std::nullopt, ada});
  for (const char* scheme : {"Bearer ", "bearer ", "BEARER  "}) {
    INFO(scheme);
    CHECK(body_of(host.rest("GET", "Session/" + mine, nullptr,
                            {{"Authorization", std::string(scheme) + ada}}))["resultCode"] == 0);
  }
  // A key that is not the agent's cannot open a session (as on the socket: bad key).
  HttpResult stranger = host.rest("POST", "Session", json{{"memoriID", "alpha"}},
                                  {{"X-Parley-Public-Key", "pk-brief"}});
  CHECK(stranger.status == 401);
  CHECK(body_of(stranger)["errorCode"] == "bad_public_key");
  // Two different tokens or keys in one request: named.
  HttpResult two = host.rest("POST", "Session",
                             json{{"memoriID", "alpha"}, {"additionalInfo", {{"loginToken", ada}}}},
                             {{"Authorization", "Bearer other"}});
  CHECK(two.status == 400);
  CHECK(body_of(two)["resultMessage"].get<std::string>().find("additionalInfo.loginToken") !=
        std::string::npos);
  // The official client's way to bind a key at open: additionalInfo.publicKey.
  json bound = body_of(host.rest(
      "POST", "Session", json{{"memoriID", "alpha"}, {"additionalInfo", {{"publicKey", "pk-alpha"}}}}));
  const std::string bound_id = bound["sessionID"];
  CHECK(body_of(host.rest("GET", "Session/" + bound_id))["resultCode"] == -263);
  CHECK(body_of(host.rest("GET", "Session/" + bound_id, nullptr,
                          {{"X-Parley-Public-Key", "pk-alpha"}}))["resultCode"] == 0);
}
