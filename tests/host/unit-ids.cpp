#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <string>

#include "parley/host/ids.hpp"
#include "vectors.hpp"

using parley::host::mint_login_token;
using parley::host::verify_login_token;

namespace {

constexpr std::int64_t now_s = 1'800'000'000;

// Flips one base64url character of `token` at `index` to another valid one.
std::string flip(std::string token, std::size_t index) {
  token[index] = token[index] == 'A' ? 'B' : 'A';
  return token;
}

void check_refused(const parley::Result<parley::host::VerifiedUser>& result,
                   const std::string& code, const std::string& word) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message);
  CHECK(result.error().code == code);
  CHECK_THAT(result.error().message, Catch::Contains(word));
}

}  // namespace

TEST_CASE("session ids are version-4 UUIDs", "[ids]") {
  static const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = parley::host::new_session_id();
    INFO(id);
    REQUIRE(std::regex_match(id, uuid_v4));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("random hex and short ids", "[ids]") {
  std::string a = parley::host::random_hex(16);
  CHECK(a.size() == 32);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != parley::host::random_hex(16));
  CHECK(parley::host::random_hex(0).empty());
  CHECK(parley::host::short_id("0123456789abcdef") == "01234567\xE2\x80\xA6");
  CHECK(parley::host::short_id("abc") == "abc");
}

TEST_CASE("a login token round-trips", "[ids]") {
  std::string token = mint_login_token("s3cret", "user-42", now_s + 60);
  CHECK(token.find('=') == std::string::npos);
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
        std::string::npos);
  auto user = verify_login_token("s3cret", token, now_s);
  INFO((user ? "" : user.error().message));
  REQUIRE(user.ok());
  CHECK(user->user_id == "user-42");
  CHECK(user->expires_epoch_s == now_s + 60);
  // Unicode user ids and odd lengths survive the encoding.
  for (std::string id : {"a", "ab", "abc", "Zoë Ünal", "\"quoted\""}) {
    auto again = verify_login_token("k", mint_login_token("k", id, now_s + 1), now_s);
    REQUIRE(again.ok());
    CHECK(again->user_id == id);
  }
}

TEST_CASE("the token format is the documented one", "[ids]") {
  // The vectors were computed independently (Python's hmac and base64 modules) from the
  // payload {"exp":EXP,"sub":USER} (compact, keys sorted), so the site's own minting code
  // can be checked against the same values.
  for (const auto& vec : parley::test::load_section("host-ids", "tokens")) {
    INFO(vec["name"].get<std::string>());
    std::string token = mint_login_token(vec["secret"].get<std::string>(),
                                         vec["user"].get<std::string>(),
                                         vec["exp"].get<std::int64_t>());
    CHECK(token == vec["token"].get<std::string>());
  }
}

TEST_CASE("tampered, foreign, expired and malformed tokens are refused", "[ids]") {
  std::string token = mint_login_token("s3cret", "user-42", now_s + 60);
  auto dot = token.find('.');
  check_refused(verify_login_token("s3cret", flip(token, 3), now_s), "token_bad_signature", "signature");
  check_refused(verify_login_token("s3cret", flip(token, dot + 3), now_s), "token_bad_signature", "signature");
  check_refused(verify_login_token("other", token, now_s), "token_bad_signature", "signature");
  check_refused(verify_login_token("s3cret", token, now_s + 60), "token_expired", "expired");
  check_refused(verify_login_token("s3cret", token, now_s + 61), "token_expired", "expired");
  check_refused(verify_login_token("", token, now_s), "token_no_secret", "secret");
  check_refused(verify_login_token("s3cret", std::string(2049, 'A'), now_s), "token_malformed", "2048");
  // A payload swapped in from another valid token does not carry its signature along.
  std::string other = mint_login_token("s3cret", "admin", now_s + 60);
  std::string spliced = other.substr(0, other.find('.')) + token.substr(dot);
  check_refused(verify_login_token("s3cret", spliced, now_s), "token_bad_signature", "signature");
  for (const auto& vec : parley::test::load_section("host-ids", "malformed")) {
    INFO(vec["name"].get<std::string>());
    std::string text = vec["token"].get<std::string>();
    auto result = verify_login_token("k", text, now_s);
    REQUIRE_FALSE(result.ok());
    parley::test::check_error(result.error(), vec);
    // The message never echoes the token.
    if (text.size() > 8) CHECK_THAT(result.error().message, !Catch::Contains(text));
  }
}
