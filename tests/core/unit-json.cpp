#include <catch2/catch.hpp>

#include "parley/json.hpp"

TEST_CASE("parse_json returns errors instead of throwing", "[json]") {
  CHECK(parley::parse_json("{\"a\":1}").ok());
  auto bad = parley::parse_json("{\"a\":", "initiate message");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "bad_json");
  CHECK_THAT(bad.error().message, Catch::Contains("initiate message"));
  CHECK_FALSE(parley::parse_json("").ok());
  CHECK_FALSE(parley::parse_json("\xFF").ok());
}

TEST_CASE("parse_json bounds nesting depth", "[json]") {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = parley::parse_json(deep, "message", 64);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "json_too_deep");
  CHECK(parley::parse_json(std::string(10, '[') + std::string(10, ']')).ok());
}

TEST_CASE("to_json_text never throws on invalid UTF-8", "[json]") {
  parley::json j = std::string("a\xFF" "b");
  CHECK(parley::to_json_text(j) == "\"a\xEF\xBF\xBD" "b\"");
}

TEST_CASE("is_valid_utf8 accepts UTF-8 and refuses the rest", "[json]") {
  CHECK(parley::is_valid_utf8("plain"));
  CHECK(parley::is_valid_utf8("Z\xC3\xBCrich \xF0\x9F\x8E\x89"));
  CHECK_FALSE(parley::is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(parley::is_valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(parley::is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(parley::is_valid_utf8("\xE2\x82"));          // truncated
  CHECK_FALSE(parley::is_valid_utf8("\x80"));              // stray continuation
}
