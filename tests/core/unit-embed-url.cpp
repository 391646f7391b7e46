#include <catch2/catch.hpp>

#include <algorithm>

#include "parley/embed_url.hpp"
#include "vectors.hpp"

using parley::json;
using parley::WidgetConfig;

namespace {

using parley::test::expand;

// A vector's "url": a string, or parts to join.
std::string url_of(const json& vec) {
  const json& url = vec["url"];
  if (url.is_string()) return url.get<std::string>();
  std::string out;
  for (const auto& part : url) out += expand(part).get<std::string>();
  return out;
}

// A vector's "config" with the defaults filled in, in the shape of parley::to_json.
json expected_config(const json& c) {
  json e = expand(c);
  json out = {{"agent_id", e["agent_id"]},          {"public_key", e["public_key"]},
              {"session_id", e.value("session_id", json())},
              {"integration_id", e.value("integration_id", json())},
              {"identity_keys", e.value("identity_keys", json())},
              {"logout", e.value("logout", false)},
              {"metadata", e.value("metadata", json::object())}};
  return out;
}

// A config as written in a vector, taken as is (even where parse could never produce it).
WidgetConfig config_of(const json& c) {
  json e = expected_config(c);
  WidgetConfig config;
  config.agent_id = e["agent_id"].get<std::string>();
  config.public_key = e["public_key"].get<std::string>();
  if (e["session_id"].is_string()) config.session_id = e["session_id"].get<std::string>();
  if (e["integration_id"].is_string()) {
    config.integration_id = e["integration_id"].get<std::string>();
  }
  if (e["identity_keys"].is_string()) config.identity_keys = e["identity_keys"].get<std::string>();
  config.logout = e["logout"].get<bool>();
  config.metadata = e["metadata"];
  return config;
}

// Loaded once; a range-for over a member of a temporary would dangle.
const json& vectors() {
  static const json all = parley::test::load_vectors("embed-url");
  return all;
}

using parley::test::check_error;

}  // namespace

TEST_CASE("embed URLs give the widget config", "[embed-url]") {
  for (const auto& vec : vectors()["valid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::parse_embed_url(url_of(vec));
    INFO((config ? "" : config.error().message));
    REQUIRE(config.ok());
    CHECK(parley::to_json(*config) == expected_config(vec["config"]));
  }
}

TEST_CASE("bad embed URLs are refused, naming the parameter and the rule", "[embed-url]") {
  for (const auto& vec : vectors()["invalid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::parse_embed_url(url_of(vec));
    REQUIRE_FALSE(config.ok());
    check_error(config.error(), vec);
  }
}

TEST_CASE("error messages escape what they quote", "[embed-url]") {
  auto config = parley::parse_embed_url("/embed?id=a1&k=pk_1&a%0D%0Ab%22=1");
  REQUIRE_FALSE(config.ok());
  const std::string& message = config.error().message;
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find('\r') == std::string::npos);
  CHECK_THAT(message, Catch::Contains("\"a\\r\\nb\\\"\""));
}

TEST_CASE("every parsed config survives make_embed_query and back", "[embed-url]") {
  for (const auto& vec : vectors()["valid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::parse_embed_url(url_of(vec));
    REQUIRE(config.ok());
    std::string query = parley::make_embed_query(*config);
    INFO(query);
    CHECK(query.find_first_of(" #\n") == std::string::npos);
    // Never longer than the query it came from, so it always fits the URL limit again.
    std::string url = url_of(vec);
    std::size_t begin = url.find('?') + 1, end = std::min(url.find('#'), url.size());
    CHECK(query.size() <= end - begin);
    for (const char* base : {"/embed?", "https://host.test/embed?"}) {
      auto again = parley::parse_embed_url(base + query);
      INFO((again ? "" : again.error().message));
      REQUIRE(again.ok());
      CHECK(*again == *config);
    }
  }
}

TEST_CASE("make_embed_query writes reserved first, then metadata in key order", "[embed-url]") {
  for (const auto& vec : vectors()["queries"]) {
    INFO(vec["name"].get<std::string>());
    CHECK(parley::make_embed_query(config_of(vec["config"])) == vec["query"].get<std::string>());
  }
}

TEST_CASE("widget_config_from_json checks what parse_embed_url checks", "[embed-url]") {
  for (const auto& vec : vectors()["from_json_valid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::widget_config_from_json(expand(vec["json"]));
    INFO((config ? "" : config.error().message));
    REQUIRE(config.ok());
    CHECK(parley::to_json(*config) == expected_config(vec["config"]));
    auto again = parley::parse_embed_url("/embed?" + parley::make_embed_query(*config));
    REQUIRE(again.ok());
    CHECK(*again == *config);
  }
  for (const auto& vec : vectors()["from_json_invalid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::widget_config_from_json(expand(vec["json"]));
    REQUIRE_FALSE(config.ok());
    check_error(config.error(), vec);
  }
}

TEST_CASE("to_json of a config feeds widget_config_from_json", "[embed-url]") {
  for (const auto& vec : vectors()["valid"]) {
    INFO(vec["name"].get<std::string>());
    auto config = parley::parse_embed_url(url_of(vec));
    REQUIRE(config.ok());
    auto back = parley::widget_config_from_json(parley::to_json(*config));
    INFO((back ? "" : back.error().message));
    REQUIRE(back.ok());
    CHECK(*back == *config);
  }
}

TEST_CASE("config_json_text is one line in declaration order", "[embed-url]") {
  auto config = parley::parse_embed_url(
      "https://x.test/embed?id=a1&k=pk_1&userName=John%20Doe&tag=a&tag=b&plan=pro+max");
  REQUIRE(config.ok());
  CHECK(parley::config_json_text(*config) ==
        R"({"agent_id":"a1","public_key":"pk_1","session_id":null,"integration_id":null,)"
        R"("identity_keys":null,"logout":false,)"
        R"("metadata":{"plan":"pro max","tag":["a","b"],"userName":"John Doe"}})");
  config->session_id = "s\n1";
  auto parsed = parley::parse_json(parley::config_json_text(*config));
  REQUIRE(parsed.ok());
  CHECK(*parsed == parley::to_json(*config));
}

TEST_CASE("reserved parameter names are exact", "[embed-url]") {
  for (const char* name : {"id", "k", "sessionID", "integrationID", "identityKeys", "logout"}) {
    CHECK(parley::is_reserved_embed_parameter(name));
  }
  for (const char* name : {"ID", "K", "sessionid", "integrationId", "", "id ", "identitykeys", "Logout"}) {
    CHECK_FALSE(parley::is_reserved_embed_parameter(name));
  }
}
