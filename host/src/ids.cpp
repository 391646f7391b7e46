// Random ids and login tokens (ids.hpp, DESIGN §5) over OpenSSL's libcrypto.
#include "parley/host/ids.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "parley/json.hpp"

namespace parley::host {

namespace {

constexpr std::size_t max_token_bytes = 2048;
constexpr char hex_digits[] = "0123456789abcdef";
constexpr char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The OS CSPRNG through OpenSSL. A failure here means the process cannot make secrets at all;
// carrying on with weak ids would be worse than stopping.
void random_bytes(unsigned char* out, std::size_t size) {
  if (size == 0) return;
  if (RAND_bytes(out, static_cast<int>(size)) != 1) std::abort();
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += hex_digits[data[i] >> 4];
    out += hex_digits[data[i] & 0x0f];
  }
  return out;
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : data) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += base64url_alphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += base64url_alphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: the URL-safe alphabet only, no padding, no impossible length, and the unused low
// bits of the last character must be zero (so each byte string has exactly one encoding).
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = base64url_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char empty = 0;
  const void* key_data = key.empty() ? &empty : static_cast<const void*>(key.data());
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
           &size) == nullptr) {
    std::abort();  // only on allocation failure inside OpenSSL
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), size);
}

Error malformed(const std::string& rule) {
  return make_error("token_malformed", "loginToken is malformed: " + rule);
}

// The payload must be exactly {"sub": non-empty string, "exp": integer}.
Result<VerifiedUser> read_payload(std::string_view payload_text) {
  auto payload = parse_json(payload_text, "loginToken payload", 4);
  if (!payload || !payload->is_object()) return malformed("the payload is not a JSON object");
  if (payload->size() != 2 || !payload->contains("sub") || !payload->contains("exp")) {
    return malformed("the payload must hold exactly \"sub\" and \"exp\"");
  }
  const json& sub = (*payload)["sub"];
  const json& exp = (*payload)["exp"];
  if (!sub.is_string() || sub.get_ref<const std::string&>().empty()) {
    return malformed("\"sub\" must be a non-empty string");
  }
  if (!exp.is_number_integer()) {
    return malformed("\"exp\" must be an integer (epoch seconds)");
  }
  if (exp.is_number_unsigned() &&
      exp.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return malformed("\"exp\" is out of range");
  }
  VerifiedUser user;
  user.user_id = sub.get<std::string>();
  user.expires_epoch_s = exp.get<std::int64_t>();
  return user;
}

}  // namespace

std::string new_session_id() {
  std::array<unsigned char, 16> b{};
  random_bytes(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = to_hex(b.data(), b.size());
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  random_bytes(b.data(), b.size());
  return to_hex(b.data(), b.size());
}

std::string short_id(std::string_view id) {
  if (id.size() <= 8) return std::string(id);
  return std::string(id.substr(0, 8)) + "\xE2\x80\xA6";  // "…"
}

std::string mint_login_token(std::string_view secret, std::string_view user_id,
                             std::int64_t expires_epoch_s) {
  std::string payload =
      to_json_text(json{{"sub", std::string(user_id)}, {"exp", expires_epoch_s}});
  return base64url_encode(payload) + "." + base64url_encode(hmac_sha256(secret, payload));
}

Result<VerifiedUser> verify_login_token(std::string_view secret, std::string_view token,
                                        std::int64_t now_epoch_s) {
  if (secret.empty()) {
    return make_error("token_no_secret",
                      "loginToken cannot be verified: this agent has no secret configured");
  }
  if (token.size() > max_token_bytes) {
    return malformed("it is " + std::to_string(token.size()) + " bytes, over the limit of " +
                     std::to_string(max_token_bytes));
  }
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return malformed("expected PAYLOAD.SIGNATURE (two base64url parts joined by one dot)");
  }
  std::string_view payload_part = token.substr(0, dot);
  std::string_view signature_part = token.substr(dot + 1);
  auto payload = base64url_decode(payload_part);
  auto signature = base64url_decode(signature_part);
  if (payload_part.empty() || !payload) {
    return malformed("the payload is not unpadded base64url");
  }
  if (!signature || signature->size() != 32) {
    return malformed("the signature is not 32 bytes of unpadded base64url");
  }
  // The signature covers the payload's JSON text; check it before reading the payload at
  // all. Strict decoding gives each text one encoding, so the parts cannot be re-spelled.
  std::string expected = hmac_sha256(secret, *payload);
  if (CRYPTO_memcmp(expected.data(), signature->data(), expected.size()) != 0) {
    return make_error("token_bad_signature",
                      "loginToken signature does not match (wrong secret or altered token)");
  }
  auto user = read_payload(*payload);
  if (!user) return user.error();
  if (user->expires_epoch_s <= now_epoch_s) {
    return make_error("token_expired", "loginToken has expired (exp " +
                                           std::to_string(user->expires_epoch_s) +
                                           " is not after now " + std::to_string(now_epoch_s) +
                                           ")");
  }
  return user;
}

Result<std::string_view> bearer_credentials(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  std::size_t i = 0;
  while (i < authorization.size() && authorization[i] != ' ') ++i;
  const std::string_view given = authorization.substr(0, i);
  bool same = given.size() == scheme.size();
  for (std::size_t k = 0; same && k < given.size(); ++k) {
    char c = given[k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    same = c == scheme[k];
  }
  if (!same)
    return make_error("auth_scheme",
                      "Authorization: expected the Bearer scheme (\"Bearer <token>\")");
  while (i < authorization.size() && authorization[i] == ' ') ++i;
  std::string_view token = authorization.substr(i);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  if (token.empty())
    return make_error("auth_malformed", "Authorization: Bearer without a token");
  return token;
}

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace parley::host
