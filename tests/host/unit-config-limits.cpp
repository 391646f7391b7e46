// Issue 14 in the config: rule patterns with a backreference refused at load, naming the
// backreference.
#include <catch2/catch.hpp>

#include "parley/host/config.hpp"

using parley::json;

namespace {

parley::Result<parley::host::HostConfig> parse(const json& config) {
  return parley::host::parse_host_config(parley::to_json_text(config), {});
}

json with_pattern(const std::string& pattern) {
  return json{{"agents",
               {{{"id", "a"},
                 {"public_keys", {"k"}},
                 {"rules", {{{"words", {"x"}}, {"reply", "y"}},
                            {{"pattern", pattern}, {"reply", "z"}}}}}}}};
}

}  // namespace

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
