#include <catch2/catch.hpp>

#include "parley/identity.hpp"

using parley::json;

namespace {

std::vector<std::string> defaults() {
  return {std::begin(parley::default_identity_keys), std::end(parley::default_identity_keys)};
}

// A loginToken as the host mints it: base64url({"sub":USER,"exp":...}) "." signature.
std::string token_for(const std::string& payload) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : payload) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += alphabet[(bits >> count) & 0x3F];
    }
  }
  if (count > 0) out += alphabet[(bits << (6 - count)) & 0x3F];
  return out + ".c2lnbmF0dXJl";
}

}  // namespace

TEST_CASE("Bob and Carol have different identities; other metadata does not count",
          "[identity]") {
  const auto keys = defaults();
  const std::string bob = parley::identity_fingerprint({{"userName", "Bob"}}, keys, "");
  const std::string carol = parley::identity_fingerprint({{"userName", "Carol"}}, keys, "");
  CHECK(bob.size() == 16);
  CHECK(bob != carol);
  CHECK(parley::identity_fingerprint({{"userName", "Bob"}, {"page", "/cart"}, {"plan", "gold"}},
                                     keys, "") == bob);
  CHECK(parley::identity_fingerprint({{"userName", "bob"}}, keys, "") != bob);  // exact values
  // Anonymous: no identity value at all.
  CHECK(parley::identity_fingerprint({{"page", "/"}}, keys, "").empty());
  CHECK(parley::identity_fingerprint(json(), keys, "").empty());
  CHECK(parley::identity_fingerprint(json::object(), keys, "").empty());
  // Each default key counts, and a second one makes another identity.
  for (const auto& key : keys) {
    INFO(key);
    CHECK_FALSE(parley::identity_fingerprint({{key, "x"}}, keys, "").empty());
  }
  CHECK(parley::identity_fingerprint({{"userName", "Bob"}, {"email", "bob@x.test"}}, keys, "") != bob);
  // Values cannot imitate each other across keys or separators.
  CHECK(parley::identity_fingerprint({{"userId", "a"}, {"userName", "b"}}, keys, "") !=
        parley::identity_fingerprint({{"userId", "a\",\"userName\":\"b"}}, keys, ""));
  // Arrays (a repeated URL parameter) count as they are.
  CHECK(parley::identity_fingerprint({{"userName", json::array({"a", "b"})}}, keys, "") !=
        parley::identity_fingerprint({{"userName", json::array({"b", "a"})}}, keys, ""));
}

TEST_CASE("named identity keys replace the defaults; none at all is allowed", "[identity]") {
  auto keys = parley::parse_identity_keys(" customerId , email");
  REQUIRE(keys.ok());
  CHECK(*keys == std::vector<std::string>{"customerId", "email"});
  const json bob = {{"customerId", "42"}, {"userName", "Bob"}};
  const json bob_renamed = {{"customerId", "42"}, {"userName", "Robert"}};
  CHECK(parley::identity_fingerprint(bob, *keys, "") ==
        parley::identity_fingerprint(bob_renamed, *keys, ""));
  auto none = parley::parse_identity_keys("");
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK(parley::identity_fingerprint(bob, *none, "").empty());
  CHECK(parley::parse_identity_keys("  ").ok());
}

TEST_CASE("bad identity keys are refused, naming the key", "[identity]") {
  const std::pair<const char*, const char*> cases[] = {
      {"a,,b", "empty name"},
      {"a,", "empty name"},
      {"user id", "\"user id\" is not a metadata key"},
      {"1a", "\"1a\" is not a metadata key"},
      {"email,email", "\"email\" twice"},
      {"k0,k1,k2,k3,k4,k5,k6,k7,k8,k9,k10,k11,k12,k13,k14,k15,k16", "more than 16"},
  };
  for (const auto& [text, words] : cases) {
    INFO(text);
    auto keys = parley::parse_identity_keys(text);
    REQUIRE_FALSE(keys.ok());
    CHECK(keys.error().code == "identity_keys_invalid");
    CHECK_THAT(keys.error().message, Catch::Contains(words));
  }
}

TEST_CASE("the token's user is part of the identity", "[identity]") {
  const std::string token = token_for(R"({"sub":"user-42","exp":1900000000})");
  CHECK(parley::login_token_user(token) == "user-42");
  // A token minted again later (another expiry) names the same user.
  CHECK(parley::login_token_user(token_for(R"({"sub":"user-42","exp":1900009999})")) == "user-42");
  CHECK(parley::login_token_user("not a token").empty());
  CHECK(parley::login_token_user("!!.x").empty());
  CHECK(parley::login_token_user(token_for("[1]")).empty());
  CHECK(parley::login_token_user(token_for(R"({"sub":7})")).empty());
  const auto keys = defaults();
  const std::string anon_42 = parley::identity_fingerprint(json::object(), keys, "user-42");
  CHECK_FALSE(anon_42.empty());
  CHECK(anon_42 != parley::identity_fingerprint(json::object(), keys, "user-43"));
  CHECK(parley::identity_fingerprint({{"userName", "Bob"}}, keys, "user-42") !=
        parley::identity_fingerprint({{"userName", "Bob"}}, keys, ""));
}
