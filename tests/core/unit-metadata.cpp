#include <catch2/catch.hpp>

#include "parley/metadata.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

// Vectors describe big values compactly: {"$repeat": "a", "times": N} is N copies of "a";
// {"$many_keys": N} is an object of N keys k0..k(N-1); {"$key": K, "$value": V} is {K: V}.
json expand(const json& v) {
  if (v.is_object()) {
    if (v.contains("$repeat")) {
      std::string out;
      for (int i = 0; i < v["times"].get<int>(); ++i) out += v["$repeat"].get<std::string>();
      return out;
    }
    if (v.contains("$many_keys")) {
      json out = json::object();
      for (int i = 0; i < v["$many_keys"].get<int>(); ++i) out["k" + std::to_string(i)] = "v";
      return out;
    }
    if (v.contains("$key")) {
      return json{{expand(v["$key"]).get<std::string>(), expand(v["$value"])}};
    }
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = expand(it.value());
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& x : v) out.push_back(expand(x));
    return out;
  }
  return v;
}

}  // namespace

TEST_CASE("valid metadata passes", "[metadata]") {
  for (const auto& vec : parley::test::load_section("metadata", "valid")) {
    INFO(vec["name"].get<std::string>());
    auto status = parley::validate_metadata(expand(vec["metadata"]));
    INFO((status ? "" : status.error().message));
    CHECK(status.ok());
  }
}

TEST_CASE("invalid metadata is refused with a message naming the key and limit", "[metadata]") {
  for (const auto& vec : parley::test::load_section("metadata", "invalid")) {
    INFO(vec["name"].get<std::string>());
    auto status = parley::validate_metadata(expand(vec["metadata"]));
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == vec["code"].get<std::string>());
    for (const auto& word : vec["mentions"]) {
      CHECK_THAT(status.error().message, Catch::Contains(word.get<std::string>()));
    }
  }
}

TEST_CASE("metadata keys follow the pattern", "[metadata]") {
  CHECK(parley::is_valid_metadata_key("userName"));
  CHECK(parley::is_valid_metadata_key("_x"));
  CHECK(parley::is_valid_metadata_key("a.b-c_9"));
  CHECK_FALSE(parley::is_valid_metadata_key(""));
  CHECK_FALSE(parley::is_valid_metadata_key("-a"));
  CHECK_FALSE(parley::is_valid_metadata_key(".a"));
  CHECK_FALSE(parley::is_valid_metadata_key("a b"));
  CHECK_FALSE(parley::is_valid_metadata_key("é"));
  CHECK_FALSE(parley::is_valid_metadata_key(std::string(65, 'a')));
  CHECK(parley::is_valid_metadata_key(std::string(64, 'a')));
}

TEST_CASE("invalid UTF-8 in a value is refused", "[metadata]") {
  json m = {{"name", std::string("ab\xC3", 3)}};
  auto status = parley::validate_metadata(m);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "metadata_value_not_utf8");
  CHECK_THAT(status.error().message, Catch::Contains("\"name\""));
}
