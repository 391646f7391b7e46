// loginTokens come from strangers. Any bytes must verify to an Error (never a user) unless
// they are a token minted with the secret; and whatever (UTF-8) user id and expiry the input
// makes up, minting then verifying gives them back exactly, and another secret refuses it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "parley/host/ids.hpp"
#include "parley/json.hpp"

namespace {
constexpr std::string_view secret = "fuzz-secret";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto verified = parley::host::verify_login_token(secret, text, 1700000000);
  if (verified) {
    // Only a correctly signed token verifies: re-minting it must give the same bytes.
    if (parley::host::mint_login_token(secret, verified->user_id, verified->expires_epoch_s) !=
        text)
      std::abort();
  }
  (void)parley::host::verify_login_token("", text, 1700000000);  // no secret: an Error

  // Round trip: the first 8 bytes are the expiry, the rest the user id.
  if (size >= 8) {
    std::int64_t expires = 0;
    std::memcpy(&expires, data, sizeof expires);
    if (expires == INT64_MIN) return 0;  // no "now" is before it
    const std::string user(reinterpret_cast<const char*>(data) + 8, size - 8);
    const std::string token = parley::host::mint_login_token(secret, user, expires);
    auto back = parley::host::verify_login_token(secret, token, expires - 1);
    // (Tokens over 2048 bytes are refused by size: a long user id may not round-trip.)
    if (!user.empty() && parley::is_valid_utf8(user) && token.size() <= 2048) {
      if (!back || back->user_id != user || back->expires_epoch_s != expires) std::abort();
    } else if (user.empty() && back) {
      std::abort();  // "sub" must be a non-empty string
    }
    auto wrong = parley::host::verify_login_token("another-secret", token, expires - 1);
    if (wrong) std::abort();
  }
  return 0;
}
