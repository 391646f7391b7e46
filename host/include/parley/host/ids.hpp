// Random ids and user tokens (DESIGN §5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley::host {

// A version-4 UUID in lowercase text from 128 bits of the OS CSPRNG (OpenSSL RAND_bytes,
// which reads getrandom()); the version/variant bits are set, leaving 122 random bits.
std::string new_session_id();
// n random bytes as lowercase hex (for admin keys, idempotency suffixes, demo secrets).
std::string random_hex(std::size_t bytes);
// The id as it may appear in logs: its first 8 characters and an ellipsis.
std::string short_id(std::string_view id);

// loginToken = base64url(payload) "." base64url(HMAC-SHA256(secret, payload)) where payload
// is the JSON text {"sub":USER_ID,"exp":EPOCH_SECONDS}. Minted by the site's backend (and by
// `parley token` for tests); verified by the host in constant time (CRYPTO_memcmp).
std::string mint_login_token(std::string_view secret, std::string_view user_id,
                             std::int64_t expires_epoch_s);
struct VerifiedUser {
  std::string user_id;
  std::int64_t expires_epoch_s = 0;
};
// Errors: "token_malformed", "token_bad_signature", "token_expired", "token_no_secret"
// (the agent has no secret). Each message says which, never echoing the token.
Result<VerifiedUser> verify_login_token(std::string_view secret, std::string_view token,
                                        std::int64_t now_epoch_s);

// The credentials of an `Authorization: Bearer <token>` header value (RFC 9110 §11.4, RFC 6750
// §2.1): the scheme is case-insensitive (`bearer`, `BEARER`), one or more spaces follow it, and
// the token is the rest, with trailing whitespace dropped. Errors: "auth_scheme" (another
// scheme or none) and "auth_malformed" (no token), each naming what was expected.
Result<std::string_view> bearer_credentials(std::string_view authorization);
// a == b in time that depends only on the lengths (for keys and tokens).
bool equal_secret(std::string_view a, std::string_view b);

}  // namespace parley::host
