#include <catch2/catch.hpp>

#include "parley/metadata.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

using parley::test::expand;

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
    parley::test::check_error(status.error(), vec);
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
