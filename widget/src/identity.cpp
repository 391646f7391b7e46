#include "parley/identity.hpp"

#include <cstdint>

#include "parley/metadata.hpp"

namespace parley {
namespace {

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// 64-bit FNV-1a over `text`.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

Result<std::vector<std::string>> parse_identity_keys(std::string_view text) {
  std::vector<std::string> keys;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view key = text.substr(start, end - start);
    start = end + 1;
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (key.empty()) {
      if (end == text.size() && keys.empty() && text.find_first_not_of(' ') == std::string_view::npos)
        break;  // "" or "  ": no identity keys
      return make_error("identity_keys_invalid",
                        "identityKeys has an empty name; list metadata keys, e.g. \"userId,email\"");
    }
    const std::string name(key);
    if (!is_valid_metadata_key(name)) {
      return make_error("identity_keys_invalid",
                        "identityKeys: \"" + name.substr(0, 64) +
                            "\" is not a metadata key (1-64 bytes of [A-Za-z_][A-Za-z0-9_.-]*)");
    }
    for (const auto& seen : keys)
      if (seen == name)
        return make_error("identity_keys_invalid", "identityKeys names \"" + name + "\" twice");
    keys.push_back(name);
    if (keys.size() > max_identity_keys) {
      return make_error("identity_keys_invalid", "identityKeys names more than " +
                                                     std::to_string(max_identity_keys) + " keys");
    }
  }
  return keys;
}

std::string login_token_user(std::string_view token) {
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot > 4096) return "";
  std::string payload;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : token.substr(0, dot)) {
    const int v = base64url_value(c);
    if (v < 0) return "";
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      payload += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  auto parsed = parse_json(payload, "token", 4);
  if (!parsed || !parsed->is_object()) return "";
  auto sub = parsed->find("sub");
  if (sub == parsed->end() || !sub->is_string()) return "";
  return sub->get<std::string>();
}

std::string identity_fingerprint(const json& metadata, const std::vector<std::string>& keys,
                                 std::string_view token_user) {
  // Canonical text: each identity key that has a value, in the order given, as its JSON
  // text (so that no value can imitate a separator), then the token's user.
  std::string canonical;
  bool any = false;
  for (const auto& key : keys) {
    if (!metadata.is_object()) break;
    auto it = metadata.find(key);
    if (it == metadata.end() || it->is_null()) continue;
    canonical += to_json_text(json(key));
    canonical += ':';
    canonical += to_json_text(*it);
    canonical += ',';
    any = true;
  }
  if (!token_user.empty()) {
    canonical += "token:";
    canonical += to_json_text(json(std::string(token_user)));
    any = true;
  }
  if (!any) return "";
  static constexpr char hex[] = "0123456789abcdef";
  std::uint64_t h = fnv1a(canonical);
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = hex[h & 0xF];
  return out;
}

}  // namespace parley
