#include <map>

#include <catch2/catch.hpp>

#include "parley/start_request.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

using parley::test::load_section;

// start(args...) with a missing argument standing as null, the way JS passes undefined.
parley::Result<parley::StartRequest> start_with(const json& args) {
  const json none;
  return parley::normalize_start(args.size() > 0 ? args[0] : none, args.size() > 1 ? args[1] : none,
                                 args.size() > 2 ? args[2] : none);
}

}  // namespace

TEST_CASE("every start form normalises to the initiate the Millis SDK sends", "[start-request]") {
  for (const auto& vec : load_section("start-request", "valid")) {
    INFO(vec["name"].get<std::string>());
    auto request = start_with(vec["args"]);
    INFO((request ? "" : request.error().message));
    REQUIRE(request.ok());
    CHECK(parley::make_initiate(*request, vec["key"].get<std::string>()) ==
          vec["initiate"].get<std::string>());
    // The agent is named: by id, by a config, or both (an override).
    CHECK((request->agent_id.has_value() || request->agent_config.has_value()));
  }
}

TEST_CASE("bad start arguments are refused naming the field", "[start-request]") {
  for (const auto& vec : load_section("start-request", "invalid")) {
    INFO(vec["name"].get<std::string>());
    auto request = start_with(vec["args"]);
    REQUIRE_FALSE(request.ok());
    INFO(request.error().message);
    CHECK(request.error().code == vec["code"].get<std::string>());
    for (const auto& word : vec["mentions"]) {
      CHECK_THAT(request.error().message, Catch::Contains(word.get<std::string>()));
    }
  }
}

TEST_CASE("a normalised request survives start_payload_json unchanged", "[start-request]") {
  for (const auto& vec : load_section("start-request", "valid")) {
    INFO(vec["name"].get<std::string>());
    auto request = start_with(vec["args"]);
    REQUIRE(request.ok());
    const json payload = parley::start_payload_json(*request);
    auto again = parley::parse_start_payload(payload);
    REQUIRE(again.ok());
    CHECK(*again == *request);
    // The payload form of start() gives the same request back.
    auto restarted = parley::normalize_start(payload);
    REQUIRE(restarted.ok());
    CHECK(*restarted == *request);
  }
}

TEST_CASE("field names in payload errors carry the prefix they are read under",
          "[start-request]") {
  const json data = {{"agent", {{"agent_id", 7}}}};
  auto plain = parley::parse_start_payload(data);
  REQUIRE_FALSE(plain.ok());
  CHECK_THAT(plain.error().message, Catch::StartsWith("agent.agent_id"));
  auto wire = parley::parse_start_payload(data, "data.");
  REQUIRE_FALSE(wire.ok());
  CHECK_THAT(wire.error().message, Catch::StartsWith("data.agent.agent_id"));
  auto not_object = parley::parse_start_payload(json::array(), "data.");
  REQUIRE_FALSE(not_object.ok());
  CHECK_THAT(not_object.error().message, Catch::Contains("data must be an object"));
}
