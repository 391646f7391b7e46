// Issue 14 in the config: the rate limits of server.limits (0 turns one off, ranges checked by
// path), and rule patterns with a backreference refused at load, naming the backreference.
#include <catch2/catch.hpp>

#include "parley/host/config.hpp"

using parley::json;

namespace {

parley::Result<parley::host::HostConfig> parse(const json& config) {
  return parley::host::parse_host_config(parley::to_json_text(config), {});
}

json with_limits(json limits) {
  return json{{"server", {{"limits", std::move(limits)}}},
              {"agents", {{{"id", "a"}, {"public_keys", {"k"}}}}}};
}

json with_pattern(const std::string& pattern) {
  return json{{"agents",
               {{{"id", "a"},
                 {"public_keys", {"k"}},
                 {"rules", {{{"words", {"x"}}, {"reply", "y"}},
                            {{"pattern", pattern}, {"reply", "z"}}}}}}}};
}

}  // namespace

TEST_CASE("issue 14: the rate limits are read from server.limits, 0 turning one off",
          "[config-limits]") {
  auto defaults = parse(with_limits(json::object()));
  REQUIRE(defaults.ok());
  CHECK(defaults->server.limits.max_requests_per_s == 200);
  CHECK(defaults->server.limits.max_sessions_per_min == 120);
  CHECK(defaults->server.limits.max_session_requests_per_s == 20);
  auto set = parse(with_limits({{"max_requests_per_s", 0},
                                {"max_sessions_per_min", 30},
                                {"max_session_requests_per_s", 5}}));
  REQUIRE(set.ok());
  CHECK(set->server.limits.max_requests_per_s == 0);
  CHECK(set->server.limits.max_sessions_per_min == 30);
  CHECK(set->server.limits.max_session_requests_per_s == 5);
  for (const auto& [key, value] : std::vector<std::pair<const char*, json>>{
           {"max_requests_per_s", -1},
           {"max_sessions_per_min", "10"},
           {"max_session_requests_per_s", 10001}}) {
    INFO(key);
    auto bad = parse(with_limits({{key, value}}));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find(std::string("server.limits.") + key) != std::string::npos);
  }
  auto demo = parley::host::load_host_config(std::string(PARLEY_SOURCE_DIR) +
                                             "/host/demo/config.json");
  REQUIRE(demo.ok());
  CHECK(demo->server.limits.max_sessions_per_min == 120);
}

TEST_CASE("issue 14: a rule pattern with a backreference is refused, naming it",
          "[config-limits]") {
  for (const auto& [pattern, named] : std::vector<std::pair<std::string, std::string>>{
           {"(a)\\1", "\\1"},
           {"^(\\w+) and \\12$", "\\12"},
           {"(?<w>x)\\k<w>", "\\k<w>"}}) {
    INFO(pattern);
    auto config = parse(with_pattern(pattern));
    REQUIRE_FALSE(config.ok());
    const std::string& message = config.error().message;
    CHECK(message.find("agents[0].rules[1].pattern") != std::string::npos);
    CHECK(message.find("backreference (" + named + ")") != std::string::npos);
  }
  // An escaped backslash before a digit is a literal, not a backreference.
  CHECK(parse(with_pattern("a\\\\1")).ok());
  CHECK(parse(with_pattern("order (\\d+)")).ok());
  CHECK(parley::host::pattern_backreference("x\\\\\\1") == "\\1");
}
