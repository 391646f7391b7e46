#include <catch2/catch.hpp>

#include "parley/widget_state.hpp"

using namespace parley;

namespace {
SessionRecord record(std::string id, std::int64_t last = 1'700'000'000'000) {
  return SessionRecord{std::move(id), "agent-1", last, std::nullopt};
}
}  // namespace

TEST_CASE("getState with nothing stored and no call", "[widget-state]") {
  MapKeyValueStore kv;
  SessionStore store(kv);
  auto s = get_state(store, "", SessionOrigin{}, nullptr);
  CHECK_FALSE(s.session_id);
  CHECK(s.connection == ConnectionState::idle);
  auto j = to_json(s);
  CHECK(j["sessionID"].is_null());
  CHECK(j["integrationID"] == "");
  CHECK(j["connection"] == "idle");
  CHECK(j["agentState"] == "idle");
  CHECK(j["muted"] == false);
}

TEST_CASE("getState is kept per integration id", "[widget-state]") {
  MapKeyValueStore kv;
  SessionStore store(kv);
  REQUIRE(store.save("shop", record("s-shop")).ok());
  REQUIRE(store.save("", record("s-default")).ok());
  CHECK(get_state(store, "shop", {}, nullptr).session_id == std::optional<std::string>("s-shop"));
  CHECK(get_state(store, "", {}, nullptr).session_id == std::optional<std::string>("s-default"));
  CHECK_FALSE(get_state(store, "other", {}, nullptr).session_id);
}

TEST_CASE("getState reports a resumed session and its agent", "[widget-state]") {
  MapKeyValueStore kv;
  SessionStore store(kv);
  REQUIRE(store.save("", record("s1", 42)).ok());
  auto s = get_state(store, "", SessionOrigin{true, std::nullopt}, nullptr);
  auto j = to_json(s);
  CHECK(j["sessionID"] == "s1");
  CHECK(j["agentID"] == "agent-1");
  CHECK(j["resumed"] == true);
  CHECK(j["continuedFrom"].is_null());
  CHECK(j["lastActivity"] == 42);
}

TEST_CASE("a voice call that continues a session changes the id in use", "[widget-state]") {
  MapKeyValueStore kv;
  SessionStore store(kv);
  REQUIRE(store.save("", record("s1")).ok());
  CallSnapshot call;
  call.connection = ConnectionState::ready;
  call.agent = AgentState::answer;
  call.muted = true;
  call.session_id = "s2";
  call.continued_from = "s1";
  auto j = to_json(get_state(store, "", SessionOrigin{true, std::nullopt}, &call));
  CHECK(j["sessionID"] == "s2");
  CHECK(j["continuedFrom"] == "s1");
  CHECK(j["resumed"] == false);
  CHECK(j["connection"] == "ready");
  CHECK(j["agentState"] == "answer");
  CHECK(j["muted"] == true);
}

TEST_CASE("a call before onready keeps the stored id", "[widget-state]") {
  MapKeyValueStore kv;
  SessionStore store(kv);
  REQUIRE(store.save("", record("s1")).ok());
  CallSnapshot call;
  call.connection = ConnectionState::connecting;
  auto j = to_json(get_state(store, "", SessionOrigin{true, std::nullopt}, &call));
  CHECK(j["sessionID"] == "s1");
  CHECK(j["resumed"] == true);
  CHECK(j["connection"] == "connecting");
}

TEST_CASE("a corrupt stored record reads as no session", "[widget-state]") {
  MapKeyValueStore kv;
  kv.set(SessionStore::key_for(""), "{not json");
  SessionStore store(kv);
  auto s = get_state(store, "", {}, nullptr);
  CHECK_FALSE(s.session_id);
}
