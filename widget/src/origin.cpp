#include "parley/origin.hpp"

namespace parley {
namespace {

constexpr std::size_t max_origin_bytes = 512;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z'); }
bool is_hex(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// An IPv6 address (RFC 4291 2.2 text, IPv4 tail included) written as WHATWG URL serialises it,
// in brackets: lowercase, no leading zeros, the first longest run of two or more zero pieces
// as "::" ("[0:0:0:0:0:0:0:1]" is "[::1]"). "" when `s` is not an IPv6 address.
std::string ipv6_text(std::string_view s) {
  std::uint32_t pieces[8] = {};
  int count = 0;
  int elided_at = -1;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    elided_at = 0;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return "";
  }
  while (i < s.size()) {
    if (count == 8) return "";
    std::size_t j = i;
    std::uint32_t value = 0;
    while (j < s.size() && j - i < 4 && is_hex(s[j])) {
      const char c = lower(s[j]);
      value = value * 16 + static_cast<std::uint32_t>(is_digit(c) ? c - '0' : c - 'a' + 10);
      ++j;
    }
    if (j < s.size() && s[j] == '.') {  // a dotted IPv4 tail: two pieces
      if (count > 6) return "";
      std::uint32_t address = 0;
      int octets = 0;
      j = i;
      while (octets < 4) {
        std::uint32_t octet = 0;
        const std::size_t start = j;
        while (j < s.size() && is_digit(s[j]) && j - start < 3) octet = octet * 10 + (s[j++] - '0');
        if (j == start || octet > 255 || (j - start > 1 && s[start] == '0')) return "";
        address = address * 256 + octet;
        ++octets;
        if (octets < 4) {
          if (j >= s.size() || s[j] != '.') return "";
          ++j;
        }
      }
      if (j != s.size()) return "";
      pieces[count++] = address >> 16;
      pieces[count++] = address & 0xFFFF;
      i = j;
      break;
    }
    if (j == i) return "";
    pieces[count++] = value;
    if (j == s.size()) {
      i = j;
      break;
    }
    if (s[j] != ':') return "";
    if (j + 1 < s.size() && s[j + 1] == ':') {
      if (elided_at >= 0) return "";
      elided_at = count;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == s.size()) return "";
    }
  }
  if (elided_at >= 0) {
    if (count == 8) return "";
    const int moved = count - elided_at;
    for (int k = 0; k < moved; ++k) pieces[7 - k] = pieces[count - 1 - k];
    for (int k = elided_at; k < 8 - moved; ++k) pieces[k] = 0;
  } else if (count != 8) {
    return "";
  }
  int best = -1, best_length = 1;
  for (int k = 0; k < 8;) {
    int end = k;
    while (end < 8 && pieces[end] == 0) ++end;
    if (end - k > best_length) {
      best = k;
      best_length = end - k;
    }
    k = end == k ? k + 1 : end;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "[";
  for (int k = 0; k < 8; ++k) {
    if (k == best) {
      out += k == 0 ? "::" : ":";
      k += best_length - 1;
      continue;
    }
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const std::uint32_t digit = (pieces[k] >> shift) & 0xF;
      if (leading && digit == 0 && shift > 0) continue;
      leading = false;
      out += hex[digit];
    }
    if (k < 7) out += ':';
  }
  return out + "]";
}

struct Scheme {
  std::string_view name;
  std::uint32_t default_port;
};
constexpr Scheme schemes[] = {{"http", 80}, {"https", 443}};

// The reason `text` is not an origin, or "" when it is one (filled into `out`).
std::string read_origin(std::string_view text, bool allow_any_port, WebOrigin& out) {
  if (text.size() > max_origin_bytes) return "is longer than 512 bytes";
  if (text == "null")
    return "\"null\" is what sandboxed frames, file:// pages and data: URLs send; allowing it "
           "would let any such page in";
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return "must be scheme://host[:port], e.g. https://shop.example";
  out.scheme = lowercase(text.substr(0, sep));
  const Scheme* scheme = nullptr;
  for (const Scheme& s : schemes)
    if (s.name == out.scheme) scheme = &s;
  if (!scheme) return "has the scheme \"" + out.scheme + "\"; an allowed origin is http or https";
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return "must end after the host and port: no path, query, fragment or trailing \"/\"";
  if (rest.find('@') != std::string_view::npos) return "must not hold a user name (\"@\")";

  std::string_view host = rest;
  std::string canonical_host;  // an IPv6 address as browsers write it
  std::string_view port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return "opens \"[\" for an IPv6 address and never closes it";
    host = rest.substr(0, close + 1);
    canonical_host = ipv6_text(host.substr(1, host.size() - 2));
    if (canonical_host.empty()) return "has \"" + std::string(host) + "\", which is not an IPv6 address";
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "may only have \":port\" after the IPv6 address";
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return "has no host";
    if (host.size() > 253) return "has a host longer than 253 bytes";
    for (char c : host)
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_')
        return "has a host with the character \"" + std::string(1, c) +
               "\" (letters, digits, \"-\", \".\", \"_\"; an IDN in its xn-- form)";
  }
  out.host = canonical_host.empty() ? lowercase(host) : canonical_host;
  out.any_port = false;
  out.port = scheme->default_port;
  if (!has_port) return "";
  if (port == "*") {
    if (!allow_any_port) return "has the port \"*\"";
    out.any_port = true;
    out.port = 0;
    return "";
  }
  std::uint32_t value = 0;
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) {
    digits = digits && is_digit(c);
    if (digits) value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (!digits || value < 1 || value > 65535)
    return "has the port \"" + std::string(port) + "\"; a port is 1..65535 or \"*\" for any";
  out.port = value;
  return "";
}

}  // namespace

Result<WebOrigin> parse_allowed_origin(std::string_view text) {
  WebOrigin origin;
  const std::string why = read_origin(text, true, origin);
  if (!why.empty()) {
    std::string shown(text.substr(0, 80));
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') c = '?';
    return make_error("origin_invalid", "\"" + shown + (text.size() > 80 ? "...\"" : "\"") +
                                            " is not an origin: it " + why);
  }
  return origin;
}

std::optional<WebOrigin> parse_request_origin(std::string_view text) {
  WebOrigin origin;
  if (!read_origin(text, false, origin).empty()) return std::nullopt;
  return origin;
}

bool origin_matches(const WebOrigin& allowed, const WebOrigin& given) noexcept {
  return allowed.scheme == given.scheme && allowed.host == given.host && !given.any_port &&
         (allowed.any_port || allowed.port == given.port);
}

bool origin_allowed_by(std::string_view allowed, std::string_view origin) {
  auto a = parse_allowed_origin(allowed);
  auto g = parse_request_origin(origin);
  return a && g && origin_matches(*a, *g);
}

std::string to_string(const WebOrigin& origin) {
  std::string out = origin.scheme + "://" + origin.host;
  std::uint32_t default_port = 0;
  for (const Scheme& s : schemes)
    if (s.name == origin.scheme) default_port = s.default_port;
  if (origin.any_port) {
    out += ":*";
  } else if (origin.port != default_port) {
    out += ':';
    out += std::to_string(origin.port);
  }
  return out;
}

}  // namespace parley
