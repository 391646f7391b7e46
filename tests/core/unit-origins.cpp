#include <catch2/catch.hpp>

#include "parley/origin.hpp"
#include "vectors.hpp"

using parley::json;

TEST_CASE("allowed origins are read and written as browsers write them", "[origins]") {
  for (const auto& vec : parley::test::load_section("origins", "allowed_valid")) {
    const std::string text = vec["text"].get<std::string>();
    INFO(text);
    auto origin = parley::parse_allowed_origin(text);
    INFO((origin ? "" : origin.error().message));
    REQUIRE(origin.ok());
    CHECK(parley::to_string(*origin) == vec["origin"].get<std::string>());
    // What to_string writes reads back as the same origin.
    auto again = parley::parse_allowed_origin(parley::to_string(*origin));
    REQUIRE(again.ok());
    CHECK(*again == *origin);
  }
}

TEST_CASE("a config origin that is not one is refused, saying why", "[origins]") {
  for (const auto& vec : parley::test::load_section("origins", "allowed_invalid")) {
    const std::string text = vec["text"].get<std::string>();
    INFO(text);
    auto origin = parley::parse_allowed_origin(text);
    REQUIRE_FALSE(origin.ok());
    CHECK(origin.error().code == "origin_invalid");
    CHECK_THAT(origin.error().message, Catch::Contains(vec["contains"].get<std::string>()));
    CHECK_THAT(origin.error().message, Catch::Contains("is not an origin"));
  }
}

TEST_CASE("the Origin headers browsers send are matched by scheme, host and port", "[origins]") {
  for (const auto& vec : parley::test::load_section("origins", "requests")) {
    const std::string header = vec["origin"].get<std::string>();
    for (const auto& pair : vec["allowed"]) {
      const std::string allowed = pair[0].get<std::string>();
      INFO("Origin: " << header << " against allowed " << allowed);
      REQUIRE(parley::parse_allowed_origin(allowed).ok());
      CHECK(parley::origin_allowed_by(allowed, header) == pair[1].get<bool>());
    }
  }
}

TEST_CASE("a request origin is never a wildcard and never null", "[origins]") {
  CHECK_FALSE(parley::parse_request_origin("null").has_value());
  CHECK_FALSE(parley::parse_request_origin("http://h:*").has_value());
  CHECK_FALSE(parley::parse_request_origin(std::string(600, 'a')).has_value());
  auto o = parley::parse_request_origin("HTTP://H.Example:8080");
  REQUIRE(o.has_value());
  CHECK(o->scheme == "http");
  CHECK(o->host == "h.example");
  CHECK(o->port == 8080);
  CHECK_FALSE(o->any_port);
}
