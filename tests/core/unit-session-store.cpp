#include <catch2/catch.hpp>
#include <limits>
#include <string>

#include "parley/json.hpp"
#include "parley/session_store.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

json section(const std::string& key) {
  return parley::test::load_section("resume-flow", key);
}

parley::SessionRecord record(std::string id, std::int64_t last,
                             std::optional<std::string> continued_from = std::nullopt) {
  parley::SessionRecord r;
  r.session_id = std::move(id);
  r.agent_id = "agent-7";
  r.last_activity_ms = last;
  r.continued_from = std::move(continued_from);
  return r;
}

}  // namespace

TEST_CASE("keys are namespaced per integration id", "[session-store]") {
  CHECK(parley::SessionStore::key_for("") == "parley.session");
  CHECK(parley::SessionStore::key_for("shop") == "parley.session.shop");
}

TEST_CASE("a saved session loads back, per integration", "[session-store]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  CHECK_FALSE(store.load("").record.has_value());
  CHECK_FALSE(store.load("").problem.has_value());

  const auto plain = record("s-1", 1000);
  const auto continued = record("s-2", -5, std::string("s-1"));
  REQUIRE(store.save("", plain).ok());
  REQUIRE(store.save("footer", continued).ok());
  CHECK(kv.entries().size() == 2);

  auto a = store.load("");
  REQUIRE(a.record.has_value());
  CHECK(*a.record == plain);
  auto b = store.load("footer");
  REQUIRE(b.record.has_value());
  CHECK(*b.record == continued);
  CHECK_FALSE(store.load("other").record.has_value());

  // The stored form is the documented small JSON.
  auto text = kv.get("parley.session.footer");
  REQUIRE(text.has_value());
  CHECK(json::parse(*text) == json{{"v", 1},
                                   {"sessionID", "s-2"},
                                   {"agentID", "agent-7"},
                                   {"lastActivity", -5},
                                   {"continuedFrom", "s-1"}});

  store.forget("");
  CHECK_FALSE(store.load("").record.has_value());
  CHECK(store.load("footer").record.has_value());
}

TEST_CASE("the identity of the page that opened a session is stored with it",
          "[session-store]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  auto r = record("s-1", 1000);
  r.identity = "0123456789abcdef";
  REQUIRE(store.save("", r).ok());
  CHECK(json::parse(*kv.get("parley.session"))["identity"] == "0123456789abcdef");
  auto loaded = store.load("");
  REQUIRE(loaded.record.has_value());
  CHECK(*loaded.record == r);
  // Anonymous: no field at all (records stored before identities read as anonymous).
  r.identity.clear();
  REQUIRE(store.save("", r).ok());
  CHECK_FALSE(json::parse(*kv.get("parley.session")).contains("identity"));
  // Not an identity: refused on save, corrupt on load.
  r.identity = "not an id";
  CHECK(store.save("", r).error().code == "session_store_bad_record");
  kv.set("parley.session", R"({"v":1,"sessionID":"s","agentID":"a","lastActivity":1,"identity":7})");
  CHECK(store.load("").problem.has_value());
}

TEST_CASE("touch moves the last activity", "[session-store]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  auto none = store.touch("", 5);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == "session_store_no_session");

  REQUIRE(store.save("", record("s-1", 1000, std::string("s-0"))).ok());
  REQUIRE(store.touch("", 7000).ok());
  auto loaded = store.load("");
  REQUIRE(loaded.record.has_value());
  CHECK(loaded.record->last_activity_ms == 7000);
  CHECK(loaded.record->continued_from == std::optional<std::string>("s-0"));

  kv.set("parley.session", "garbage");
  auto corrupt = store.touch("", 8000);
  REQUIRE_FALSE(corrupt.ok());
  CHECK(corrupt.error().code == "session_store_corrupt");
  CHECK(kv.get("parley.session") == std::optional<std::string>("garbage"));
}

TEST_CASE("corrupt stored values are absent and reported, never a crash", "[session-store]") {
  for (const auto& vec : section("stored_corrupt")) {
    INFO(vec["name"].get<std::string>());
    parley::MapKeyValueStore kv;
    kv.set("parley.session", vec["text"].get<std::string>());
    parley::SessionStore store(kv);
    auto loaded = store.load("");
    CHECK_FALSE(loaded.record.has_value());
    REQUIRE(loaded.problem.has_value());
    INFO(loaded.problem->message);
    CHECK(loaded.problem->code == "session_store_corrupt");
    for (const auto& word : vec["mentions"]) {
      CHECK_THAT(loaded.problem->message, Catch::Contains(word.get<std::string>()));
    }
    // A save replaces the corrupt value.
    REQUIRE(store.save("", record("s-9", 1)).ok());
    CHECK(store.load("").record.has_value());
  }
}

TEST_CASE("invalid records and integration ids are refused and nothing is written",
          "[session-store]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  struct Case {
    parley::SessionRecord r;
    const char* field;
  };
  parley::SessionRecord no_agent = record("s-1", 1);
  no_agent.agent_id.clear();
  const Case cases[] = {
      {record("a/b", 1), "sessionID"},
      {record("", 1), "sessionID"},
      {record(std::string(129, 'a'), 1), "sessionID"},
      {no_agent, "agentID"},
      {record("s-1", 1, std::string("x y")), "continuedFrom"},
  };
  for (const auto& c : cases) {
    auto saved = store.save("", c.r);
    REQUIRE_FALSE(saved.ok());
    CHECK(saved.error().code == "session_store_bad_record");
    CHECK_THAT(saved.error().message, Catch::Contains(c.field));
  }
  CHECK(store.save("", record(std::string(128, 'a'), 1)).ok());
  kv.remove("parley.session");

  for (const std::string& bad_id :
       {std::string("a\nb"), std::string(129, 'i'), std::string("caf\xC3\xA9")}) {
    auto saved = store.save(bad_id, record("s-1", 1));
    REQUIRE_FALSE(saved.ok());
    CHECK(saved.error().code == "session_store_bad_integration_id");
    auto loaded = store.load(bad_id);
    REQUIRE(loaded.problem.has_value());
    CHECK(loaded.problem->code == "session_store_bad_integration_id");
  }
  CHECK(kv.entries().empty());
  CHECK(parley::is_valid_integration_id(""));
  CHECK(parley::is_valid_integration_id("my-integration id #2"));
}

TEST_CASE("session ids that can go into a URL path", "[session-store]") {
  CHECK(parley::is_valid_session_id("5f0c1c2e-8d1a-4c3b-9e2f-000000000001"));
  CHECK(parley::is_valid_session_id("A_z-9"));
  CHECK_FALSE(parley::is_valid_session_id(""));
  CHECK_FALSE(parley::is_valid_session_id("../x"));
  CHECK_FALSE(parley::is_valid_session_id("a b"));
  CHECK_FALSE(parley::is_valid_session_id("a%2F"));
  CHECK_FALSE(parley::is_valid_session_id("a?b"));
  CHECK_FALSE(parley::is_valid_session_id(std::string(129, 'a')));
}

TEST_CASE("freshness against the resume window, at its boundaries", "[session-store]") {
  for (const auto& vec : section("freshness")) {
    INFO(vec["name"].get<std::string>());
    parley::ResumeWindow window;
    if (vec.contains("window")) window.window_ms = vec["window"].get<std::int64_t>();
    if (vec.contains("skew")) window.max_clock_skew_ms = vec["skew"].get<std::int64_t>();
    REQUIRE(parley::validate_resume_window(window).ok());
    auto got = parley::check_freshness(vec["last"].get<std::int64_t>(),
                                       vec["now"].get<std::int64_t>(), window);
    CHECK(std::string(parley::to_string(got)) == vec["expect"].get<std::string>());
  }
}

TEST_CASE("resume windows are checked", "[session-store]") {
  parley::ResumeWindow w;
  CHECK(w.window_ms == 3'600'000);
  CHECK(parley::validate_resume_window(w).ok());
  w.window_ms = 0;
  CHECK(parley::validate_resume_window(w).error().code == "resume_window_invalid");
  w.window_ms = -1;
  CHECK_FALSE(parley::validate_resume_window(w).ok());
  w.window_ms = parley::ResumeWindow::max_window_ms + 1;
  CHECK_THAT(parley::validate_resume_window(w).error().message, Catch::Contains("resume window"));
  w.window_ms = parley::ResumeWindow::max_window_ms;
  CHECK(parley::validate_resume_window(w).ok());
  w.window_ms = 1000;
  w.max_clock_skew_ms = -1;
  CHECK_THAT(parley::validate_resume_window(w).error().message, Catch::Contains("skew"));
  w.max_clock_skew_ms = 1001;
  CHECK_FALSE(parley::validate_resume_window(w).ok());
}
