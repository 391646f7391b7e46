#include "parley/embed_url.hpp"

#include <algorithm>
#include <string>

#include "parley/identity.hpp"
#include "parley/metadata.hpp"
#include "text_codes.hpp"

namespace parley {
namespace {

// --- Showing untrusted text in messages --------------------------------------------------------

constexpr std::size_t shown_bytes = 64;

// Length of the longest prefix of `s` of at most `n` bytes that does not split a UTF-8 sequence.
std::size_t utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

// A name or value as it appears in a message: JSON-quoted, so quotes and control characters are
// escaped (a stranger's newline cannot forge a log line) and invalid UTF-8 is replaced; capped.
std::string quote(std::string_view s) {
  std::string_view cut = s.substr(0, utf8_prefix(s, shown_bytes));
  std::string out = to_json_text(json(std::string(cut)));
  if (cut.size() < s.size()) out.insert(out.size() - 1, "...");
  return out;
}

// "%XX" for a byte (by hand: snprintf would pull printf's floating-point code into the wasm).
std::string show_byte(char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(c);
  return std::string{'%', hex[b >> 4], hex[b & 0x0F]};
}

// --- RFC 3986 character classes ---------------------------------------------------------------

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
bool is_unreserved(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool is_sub_delim(char c) {
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=': return true;
    default: return false;
  }
}

// The parts of a URL, for the characters each may hold raw.
enum class Part { path, host, query, fragment };

// What a part may hold raw: RFC 3986's characters for it, and what a browser leaves raw there
// when it writes `location.href` (WHATWG URL, http and https): in the query and the fragment
// "[ ] \ ^ ` { | }" (a hand-written iframe src like `?filter={a|b}` reaches the widget that way),
// in the fragment also "#", in the path "[ ] |". Everything else (space, `"`, `<`, `>`, control
// and non-ASCII bytes) a browser always percent-encodes, so raw it is refused, naming the escape.
bool is_allowed_raw(char c, Part part) {
  if (is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '%') return true;
  switch (part) {
    case Part::host: return c == '[' || c == ']';
    // (A `?` or `#` counted in the path is the delimiter that ends it.)
    case Part::path: return c == '/' || c == '?' || c == '#' || c == '[' || c == ']' || c == '|';
    case Part::fragment:
      if (c == '#') return true;
      [[fallthrough]];
    case Part::query:
      return c == '/' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '^' || c == '`' ||
             c == '{' || c == '|' || c == '}';
  }
  return false;
}

// Every `%` is followed by two hex digits.
bool escapes_sound(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// A query component decoded as a form sends it: %XX is the byte, `+` a space. Its escapes are
// sound (escapes_sound).
std::string decode_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      out += static_cast<char>(hex_digit_value(s[i + 1]) * 16 + hex_digit_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// --- The URL's parts -------------------------------------------------------------------------

// The split of RFC 3986 appendix B: [scheme ":"] ["//" authority] path ["?" query]
// ["#" fragment]. Every part is found by its delimiters alone; the rules of each part are
// checked afterwards (Diagnosis: bytes and escapes; check_scheme, check_authority: structure;
// read_parameter: the query's parameters and their decoding).
struct UrlParts {
  static constexpr std::size_t npos = std::string_view::npos;

  explicit UrlParts(std::string_view url) {
    fragment_begin = url.find('#');
    std::size_t question = url.find('?');
    if (question != npos && question < fragment_begin) {
      query_begin = question + 1;
      query_end = fragment_begin == npos ? url.size() : fragment_begin;
    }
    first_delimiter = url.find_first_of(":/?#");
    std::size_t rest = 0;
    if (first_delimiter != npos && first_delimiter > 0 && url[first_delimiter] == ':') {
      scheme_end = first_delimiter;
      rest = first_delimiter + 1;
    }
    if (url.substr(rest, 2) == "//") {
      authority_begin = rest + 2;
      authority_end = std::min(url.find_first_of("/?#", authority_begin), url.size());
    }
  }

  std::size_t first_delimiter = npos;  // of ":/?#"
  std::size_t scheme_end = npos;       // the `:` after a (would-be) scheme
  std::size_t authority_begin = npos, authority_end = npos;
  std::size_t query_begin = npos, query_end = npos;
  std::size_t fragment_begin = npos;   // the `#`
};

// --- Diagnosis of bad bytes and escapes -------------------------------------------------------
// A person needs to know which parameter holds the bad byte, so this pass finds the first
// offending byte and names where it is.

class Diagnosis {
 public:
  explicit Diagnosis(std::string_view url, const UrlParts& parts) : url_(url), parts_(parts) {}

  // The first problem found, or nothing when every byte and escape is well-formed.
  std::optional<Error> first_problem() const {
    for (std::size_t i = 0; i < url_.size(); ++i) {
      const char c = url_[i];
      const Part part = in_query(i)      ? Part::query
                        : in_fragment(i) ? Part::fragment
                        : in_authority(i) ? Part::host
                                          : Part::path;
      if (!is_allowed_raw(c, part)) {
        return make_error("url_bad_character",
                          where(i) + ": character " + describe(c) +
                              " is not allowed in a URL; percent-encode it as " + show_byte(c));
      }
      if (c == '%' && !(i + 2 < url_.size() && is_hex(url_[i + 1]) && is_hex(url_[i + 2]))) {
        std::string escape(url_.substr(i, 3));
        return make_error("bad_percent_encoding",
                          where(i) + ": bad percent-encoding " + quote(escape) +
                              " (a \"%\" must be followed by two hex digits)");
      }
    }
    return std::nullopt;
  }

 private:
  static constexpr std::size_t npos = std::string_view::npos;

  bool in_query(std::size_t i) const {
    return parts_.query_begin != npos && i >= parts_.query_begin && i < parts_.query_end;
  }
  bool in_fragment(std::size_t i) const {
    return parts_.fragment_begin != npos && i > parts_.fragment_begin;
  }
  bool in_authority(std::size_t i) const {
    return parts_.authority_begin != npos && i >= parts_.authority_begin && i < parts_.authority_end;
  }

  static std::string describe(char c) {
    if (static_cast<unsigned char>(c) >= 0x80) return "byte " + show_byte(c) + " (non-ASCII)";
    return quote(std::string(1, c));
  }

  // `parameter "name"` inside the query, else `embed URL (byte N, in the host)` and so on.
  std::string where(std::size_t i) const {
    if (in_query(i)) return "parameter " + quote(parameter_name_at(i));
    const char* part = in_fragment(i)                            ? "fragment"
                       : parts_.scheme_end != npos && i <= parts_.scheme_end ? "scheme"
                       : in_authority(i)                         ? "host"
                                                                 : "path";
    return "embed URL (byte " + std::to_string(i) + ", in the " + part + ")";
  }

  // The name of the query parameter holding byte i, decoded when its own escapes are sound.
  std::string parameter_name_at(std::size_t i) const {
    std::size_t begin = url_.rfind('&', i);
    begin = (begin == std::string_view::npos || begin < parts_.query_begin) ? parts_.query_begin
                                                                          : begin + 1;
    std::size_t end = begin;
    while (end < parts_.query_end && url_[end] != '=' && url_[end] != '&') ++end;
    std::string_view raw = url_.substr(begin, end - begin);
    return escapes_sound(raw) ? decode_component(raw) : std::string(raw);
  }

  std::string_view url_;
  const UrlParts& parts_;
};

// --- Reserved parameters ----------------------------------------------------------------------

constexpr std::string_view param_agent = "id";
constexpr std::string_view param_key = "k";
constexpr std::string_view param_session = "sessionID";
constexpr std::string_view param_integration = "integrationID";
constexpr std::string_view param_identity_keys = "identityKeys";
constexpr std::string_view param_logout = "logout";

bool has_control_character(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return true;
  }
  return false;
}

// `label` is how the value is named in a message: `parameter "id"` or `field "agent_id"`.
Status check_reserved_value(const std::string& label, std::string_view value) {
  if (value.size() > EmbedUrlLimits::max_reserved_value_bytes) {
    return make_error("bad_parameter_value",
                      label + ": value is " + std::to_string(value.size()) +
                          " bytes, over the limit of " +
                          std::to_string(EmbedUrlLimits::max_reserved_value_bytes));
  }
  if (!is_valid_utf8(value)) {
    return make_error("parameter_not_utf8", label + ": value is not valid UTF-8");
  }
  if (has_control_character(value)) {
    return make_error("bad_parameter_value", label + ": value contains a control character");
  }
  return ok_status();
}

// The reserved slots of a config, filled as the URL is read.
struct ReservedSlot {
  std::string_view name;
  const char* meaning;
  bool seen = false;
  std::string value;
};

// `logout`: present alone, empty, "1" or "true" is true; "0" or "false" is false.
Result<bool> read_logout(std::string_view value) {
  if (value.empty() || value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  return make_error("bad_parameter_value",
                    "parameter \"logout\" is " + quote(value) + "; it is a flag: logout, logout=1 or logout=0");
}

// --- Metadata parameters ----------------------------------------------------------------------

// Rewords an error of validate_metadata on {key: value} so that it names the URL parameter.
// The verdict stays validate_metadata's (one implementation of the limits); only the words are
// ours, because "metadata key" means little to someone editing an embed URL.
Error parameter_error(std::string_view key, std::string_view value, const Error& e) {
  std::string rule;
  if (e.code == "metadata_bad_key") {
    if (key.empty()) {
      rule = "the name is empty";
    } else if (key.size() > MetadataLimits::max_key_bytes) {
      rule = "the name is " + std::to_string(key.size()) + " bytes, over the limit of " +
             std::to_string(MetadataLimits::max_key_bytes);
    } else {
      rule = "the name does not match [A-Za-z_][A-Za-z0-9_.-]*";
    }
  } else if (e.code == "metadata_value_too_long") {
    rule = "the value is " + std::to_string(value.size()) + " bytes, over the limit of " +
           std::to_string(MetadataLimits::max_value_bytes);
  } else {
    rule = e.message;
  }
  return make_error(e.code, "parameter " + quote(key) + ": " + rule);
}

void add_metadata_value(json& metadata, const std::string& key, std::string value) {
  auto it = metadata.find(key);
  if (it == metadata.end()) {
    metadata[key] = std::move(value);
  } else if (it->is_string()) {
    json both = json::array({std::move(*it), std::move(value)});
    *it = std::move(both);
  } else {
    it->push_back(std::move(value));
  }
}

// --- The parser -------------------------------------------------------------------------------

// RFC 3986 3.2.2: dec-octet "." dec-octet "." dec-octet "." dec-octet, where a dec-octet is
// 0-255 written without leading zeros.
bool is_ipv4_address(std::string_view s) {
  int octets = 0;
  std::size_t i = 0;
  for (;;) {
    std::size_t j = i;
    int value = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - i < 3) value = value * 10 + (s[j++] - '0');
    if (j == i || (j - i > 1 && s[i] == '0') || value > 255) return false;
    ++octets;
    if (j == s.size()) return octets == 4;
    if (s[j] != '.' || octets == 4) return false;
    i = j + 1;
  }
}

// RFC 3986 3.2.2 IPv6address: eight pieces of 1-4 hex digits separated by `:`, the last two of
// which may be written as an IPv4 address; one run of one or more pieces may be elided as `::`.
bool is_ipv6_address(std::string_view s) {
  std::size_t pieces = 0;
  bool elided = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    elided = true;
    i = 2;
  }
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && is_hex(s[j])) ++j;
    if (j < s.size() && s[j] == '.') {  // the IPv4 form ends the address
      if (!is_ipv4_address(s.substr(i))) return false;
      pieces += 2;
      break;
    }
    if (j == i || j - i > 4) return false;
    ++pieces;
    if (j == s.size()) break;
    if (s[j] != ':') return false;
    if (j + 1 < s.size() && s[j + 1] == ':') {
      if (elided) return false;
      elided = true;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == s.size()) return false;  // a trailing single `:`
    }
  }
  return elided ? pieces <= 7 : pieces == 8;
}

// "embed URL is not a valid URL (...)": the structure is wrong somewhere outside the query.
Error not_a_url(const std::string& why) {
  return make_error("url_invalid",
                    "embed URL is not a valid URL (" + why + "); check the scheme, host and port");
}

// An absolute embed URL is http(s)://HOST/...; the scheme is the first thing a person should
// hear about. RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). A `:` before
// any `/`, `?` or `#` ends a scheme, so text before it that is no scheme (`1a:b`, `:x`) makes
// no URL either: a relative reference's first segment cannot hold a `:` (RFC 3986 4.2).
std::optional<Error> check_scheme(std::string_view url, const UrlParts& parts) {
  const std::size_t colon = parts.first_delimiter;
  if (colon == std::string_view::npos || url[colon] != ':') return std::nullopt;
  std::string_view scheme = url.substr(0, colon);
  auto is_alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  bool valid = !scheme.empty() && is_alpha(scheme[0]);
  for (char c : scheme) valid = valid && (is_alnum(c) || c == '+' || c == '-' || c == '.');
  if (!valid) {
    return not_a_url("the text before the first \":\", " + quote(scheme) +
                     ", is not a scheme, and a relative URL's first segment cannot hold \":\"");
  }
  std::string lower;
  for (char c : scheme) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower != "http" && lower != "https") {
    return make_error("url_bad_scheme",
                      "embed URL scheme must be http or https, not " + quote(scheme));
  }
  if (url.substr(colon + 1, 2) != "//") {
    return make_error("url_invalid", "embed URL has the scheme " + quote(scheme) +
                                         " but no \"//HOST\" after it");
  }
  return std::nullopt;
}

// RFC 3986 3.2: authority = [ userinfo "@" ] host [ ":" port ], where host is an IP-literal
// in brackets, or a name (IPv4 dotted form included). Diagnosis has already checked every byte
// and escape against the characters a URL allows; what is left is where `@`, `[`, `]` and `:`
// stand, and what an IP literal holds.
std::optional<Error> check_authority(std::string_view authority) {
  constexpr auto npos = std::string_view::npos;
  std::string_view rest = authority;
  if (std::size_t at = authority.find('@'); at != npos) {
    if (authority.find_first_of("[]", 0) < at) return not_a_url("in the host: \"[\" or \"]\" in the user name");
    rest = authority.substr(at + 1);
    if (rest.find('@') != npos) return not_a_url("in the host: \"@\" appears more than once");
  }
  std::string_view port;
  bool has_port = false;
  if (!rest.empty() && rest[0] == '[') {
    const std::size_t close = rest.find(']');
    if (close == npos) return not_a_url("in the host: " + quote(rest) + " opens \"[\" and never closes it");
    const std::string_view literal = rest.substr(1, close - 1);
    // Only an IPv6 address: RFC 3986's IPvFuture literals ("[v1.x]") no browser accepts.
    if (!is_ipv6_address(literal)) {
      return not_a_url("in the host: " + quote(rest.substr(0, close + 1)) +
                       " is not an IPv6 address");
    }
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      return not_a_url("in the host: only a port may follow " + quote(rest.substr(0, close + 1)));
    }
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
  } else {
    const std::size_t colon = rest.find(':');
    const std::string_view name = rest.substr(0, colon);
    if (name.find_first_of("[]") != npos) {
      return not_a_url("in the host: \"[\" and \"]\" may only enclose an IP address");
    }
    has_port = colon != npos;
    if (has_port) port = rest.substr(colon + 1);
  }
  std::size_t value = 0;
  for (char c : port) {
    value = value * 10 + static_cast<std::size_t>(c - '0');
    if (c < '0' || c > '9' || value > 65535) {
      return make_error("url_invalid", "embed URL (in the host): a port must be digits only, "
                                       "at most 65535, as in host:8080");
    }
  }
  return std::nullopt;
}

class EmbedUrlReader {
 public:
  Result<WidgetConfig> read(std::string_view url) {
    if (url.size() > EmbedUrlLimits::max_url_bytes) {
      return make_error("url_too_long", "embed URL is " + std::to_string(url.size()) +
                                            " bytes, over the limit of " +
                                            std::to_string(EmbedUrlLimits::max_url_bytes));
    }
    if (url.empty()) return make_error("url_invalid", "embed URL is empty");
    const UrlParts parts(url);
    if (auto problem = Diagnosis(url, parts).first_problem()) return *problem;
    if (auto problem = check_scheme(url, parts)) return *problem;
    if (parts.authority_begin != UrlParts::npos) {
      auto authority = url.substr(parts.authority_begin, parts.authority_end - parts.authority_begin);
      if (auto problem = check_authority(authority)) return *problem;
    }
    // The path needs nothing more: its bytes are pchar or "/" (Diagnosis), it cannot start with
    // "//" without being an authority, and after an authority it starts with "/" or is empty.
    if (parts.query_begin == UrlParts::npos || parts.query_begin == parts.query_end) return finish();
    // The query is `&`-separated parameters, each `key` or `key=value` (the value runs to the
    // next `&` and may hold `=`); its bytes and escapes are sound (Diagnosis).
    std::string_view query = url.substr(parts.query_begin, parts.query_end - parts.query_begin);
    for (;;) {
      const std::size_t amp = query.find('&');
      if (auto s = read_parameter(query.substr(0, amp)); !s) return std::move(s).error();
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    return finish();
  }

 private:
  // One `key` or `key=value` of the query, still encoded.
  Status read_parameter(std::string_view param) {
    if (param.empty()) return ok_status();  // `a=1&&b=2`, a trailing `&`
    const std::size_t eq = param.find('=');
    const std::string_view raw_key = param.substr(0, eq);
    std::string key = decode_component(raw_key);
    std::string value =  // empty when there is no `=`
        eq == std::string_view::npos ? std::string() : decode_component(param.substr(eq + 1));
    if (!is_valid_utf8(key)) {
      return make_error("parameter_not_utf8", "parameter " + quote(raw_key) +
                                                  ": the name is not valid UTF-8 once decoded");
    }
    if (!is_valid_utf8(value)) {
      return make_error("parameter_not_utf8",
                        "parameter " + quote(key) + ": the value is not valid UTF-8 once decoded");
    }
    if (ReservedSlot* slot = reserved_slot(key)) return fill_reserved(*slot, std::move(value));

    if (auto s = validate_metadata(json::object({{key, value}})); !s) {
      return parameter_error(key, value, s.error());
    }
    add_metadata_value(config_.metadata, key, std::move(value));
    return ok_status();
  }

  ReservedSlot* reserved_slot(std::string_view key) {
    for (auto& slot : reserved_) {
      if (slot.name == key) return &slot;
    }
    return nullptr;
  }

  static Status fill_reserved(ReservedSlot& slot, std::string value) {
    std::string label = "parameter " + quote(slot.name);
    if (slot.seen) {
      return make_error("repeated_parameter", label + " (" + slot.meaning +
                                                  ") appears more than once; it may appear once");
    }
    if (auto s = check_reserved_value(label, value); !s) return s;
    slot.seen = true;
    slot.value = std::move(value);
    return ok_status();
  }

  Result<WidgetConfig> finish() {
    for (auto* required : {&reserved_[0], &reserved_[1]}) {
      if (!required->value.empty()) continue;
      return make_error("missing_parameter",
                        "parameter " + quote(required->name) + " (" + required->meaning + ") is " +
                            (required->seen ? "empty" : "missing") + "; it is required");
    }
    config_.agent_id = std::move(reserved_[0].value);
    config_.public_key = std::move(reserved_[1].value);
    if (!reserved_[2].value.empty()) config_.session_id = std::move(reserved_[2].value);
    if (!reserved_[3].value.empty()) config_.integration_id = std::move(reserved_[3].value);
    if (reserved_[4].seen) {
      if (auto keys = parse_identity_keys(reserved_[4].value); !keys)
        return make_error("bad_parameter_value", "parameter \"identityKeys\": " + keys.error().message);
      config_.identity_keys = std::move(reserved_[4].value);
    }
    if (reserved_[5].seen) {
      auto logout = read_logout(reserved_[5].value);
      if (!logout) return std::move(logout).error();
      config_.logout = *logout;
    }
    // Each parameter passed on its own; the whole (key count, total size) is checked here.
    if (auto s = validate_metadata(config_.metadata); !s) return std::move(s).error();
    return std::move(config_);
  }

  ReservedSlot reserved_[6] = {{param_agent, "the agent id", false, {}},
                               {param_key, "the public key", false, {}},
                               {param_session, "the session to resume", false, {}},
                               {param_integration, "the integration id", false, {}},
                               {param_identity_keys, "the identity metadata keys", false, {}},
                               {param_logout, "forget the stored session", false, {}}};
  WidgetConfig config_;
};

// --- JSON form --------------------------------------------------------------------------------

Result<std::optional<std::string>> optional_id(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::optional<std::string>{};
  std::string label = std::string("field \"") + field + "\"";
  if (!it->is_string()) {
    return make_error("bad_parameter_value", label + " must be a string or null, not " +
                                                 json_type_name(*it));
  }
  const auto& s = it->get_ref<const std::string&>();
  if (auto st = check_reserved_value(label, s); !st) return std::move(st).error();
  if (s.empty()) return std::optional<std::string>{};
  return std::optional<std::string>{s};
}

Result<std::string> required_id(const json& object, const char* field, std::string_view param) {
  std::string label = std::string("field \"") + field + "\" (parameter " + quote(param) + ")";
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    return make_error("missing_parameter", label + " is missing; it is required");
  }
  if (!it->is_string()) {
    return make_error("bad_parameter_value",
                      label + " must be a string, not " + json_type_name(*it));
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return make_error("missing_parameter", label + " is empty; it is required");
  if (auto st = check_reserved_value(label, s); !st) return std::move(st).error();
  return s;
}

bool is_string_array(const json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const auto& item : v) {
    if (!item.is_string()) return false;
  }
  return true;
}

// A URL carries strings and repeated strings only; anything else would not survive the trip.
Result<json> url_metadata(const json& metadata) {
  if (auto s = validate_metadata(metadata); !s) return std::move(s).error();
  json out = json::object();
  if (metadata.is_null()) return out;
  for (auto it = metadata.begin(); it != metadata.end(); ++it) {
    std::string label = "metadata " + quote(it.key());
    if (is_reserved_embed_parameter(it.key())) {
      return make_error("reserved_metadata_key",
                        label +
                            " uses a reserved parameter name (id, k, sessionID, integrationID, "
                            "identityKeys, logout)");
    }
    const json& v = it.value();
    if (!v.is_string() && !is_string_array(v)) {
      std::string what = !v.is_array() ? std::string("a ") + json_type_name(v)
                         : v.empty()     ? std::string("an empty array")
                                         : std::string("an array holding a non-string");
      return make_error("bad_metadata_value",
                        label + " is " + what +
                            "; an embed URL carries only strings and non-empty arrays of strings");
    }
    // One value and a one-element array are the same URL; keep the form parsing gives back.
    out[it.key()] = v.is_array() && v.size() == 1 ? v[0] : v;
  }
  return out;
}

// --- Building a query -------------------------------------------------------------------------
// Minimal, form-style encoding: a byte stays raw wherever parse_embed_url would read it back
// as itself, a space becomes `+`, everything else is %XX. Besides readable iframe URLs, this
// keeps the query no longer than any URL the same config was parsed from, so what the parser
// accepted always fits under max_url_bytes again.

// What a query may hold raw (is_allowed_raw) minus the delimiters `&` and `+` (a space), and,
// in a key, minus `=` too.
void append_encoded(std::string& query, std::string_view text, bool is_key) {
  constexpr std::string_view raw_too = "!$'()*,;:@/?[]\\^`{|}";
  for (char c : text) {
    if (is_unreserved(c) || raw_too.find(c) != std::string_view::npos || (c == '=' && !is_key)) {
      query += c;
    } else if (c == ' ') {
      query += '+';
    } else {
      query += show_byte(c);
    }
  }
}

void append_param(std::string& query, std::string_view key, std::string_view value) {
  if (!query.empty()) query += '&';
  append_encoded(query, key, /*is_key=*/true);
  if (value.empty()) return;  // `flag` reads back as the empty string
  query += '=';
  append_encoded(query, value, /*is_key=*/false);
}

std::string as_text(const json& v) {
  return v.is_string() ? v.get_ref<const std::string&>() : to_json_text(v);
}

}  // namespace

bool is_reserved_embed_parameter(std::string_view name) noexcept {
  return name == param_agent || name == param_key || name == param_session ||
         name == param_integration || name == param_identity_keys || name == param_logout;
}

Result<WidgetConfig> parse_embed_url(std::string_view url) { return EmbedUrlReader().read(url); }

json to_json(const WidgetConfig& config) {
  auto optional = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
  return json{{"agent_id", config.agent_id},
              {"public_key", config.public_key},
              {"session_id", optional(config.session_id)},
              {"integration_id", optional(config.integration_id)},
              {"identity_keys", optional(config.identity_keys)},
              {"logout", config.logout},
              {"metadata", config.metadata.is_null() ? json::object() : config.metadata}};
}

std::string config_json_text(const WidgetConfig& config) {
  auto text = [](const std::optional<std::string>& s) {
    return s ? to_json_text(json(*s)) : std::string("null");
  };
  return "{\"agent_id\":" + to_json_text(json(config.agent_id)) +
         ",\"public_key\":" + to_json_text(json(config.public_key)) +
         ",\"session_id\":" + text(config.session_id) +
         ",\"integration_id\":" + text(config.integration_id) +
         ",\"identity_keys\":" + text(config.identity_keys) +
         ",\"logout\":" + (config.logout ? "true" : "false") + ",\"metadata\":" +
         to_json_text(config.metadata.is_null() ? json::object() : config.metadata) + "}";
}

Result<WidgetConfig> widget_config_from_json(const json& value) {
  if (!value.is_object()) {
    return make_error("bad_parameter_value",
                      std::string("widget config must be a JSON object, not ") +
                          json_type_name(value));
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& k = it.key();
    if (k != "agent_id" && k != "public_key" && k != "session_id" && k != "integration_id" &&
        k != "identity_keys" && k != "logout" && k != "metadata") {
      return make_error("bad_parameter_value",
                        "widget config field " + quote(k) +
                            " is not known (agent_id, public_key, session_id, integration_id, "
                            "identity_keys, logout, metadata)");
    }
  }
  WidgetConfig config;
  auto agent = required_id(value, "agent_id", param_agent);
  if (!agent) return std::move(agent).error();
  auto key = required_id(value, "public_key", param_key);
  if (!key) return std::move(key).error();
  auto session = optional_id(value, "session_id");
  if (!session) return std::move(session).error();
  auto integration = optional_id(value, "integration_id");
  if (!integration) return std::move(integration).error();
  if (auto it = value.find("identity_keys"); it != value.end() && !it->is_null()) {
    if (!it->is_string())
      return make_error("bad_parameter_value", "field \"identity_keys\" must be a string or null");
    if (auto st = check_reserved_value("field \"identity_keys\"", it->get_ref<const std::string&>()); !st)
      return std::move(st).error();
    if (auto keys = parse_identity_keys(it->get_ref<const std::string&>()); !keys)
      return make_error("bad_parameter_value", "field \"identity_keys\": " + keys.error().message);
    config.identity_keys = it->get<std::string>();
  }
  if (auto it = value.find("logout"); it != value.end() && !it->is_null()) {
    if (!it->is_boolean()) return make_error("bad_parameter_value", "field \"logout\" must be a boolean");
    config.logout = it->get<bool>();
  }
  auto metadata_it = value.find("metadata");
  auto metadata = url_metadata(metadata_it == value.end() ? json(nullptr) : *metadata_it);
  if (!metadata) return std::move(metadata).error();

  config.agent_id = std::move(*agent);
  config.public_key = std::move(*key);
  config.session_id = std::move(*session);
  config.integration_id = std::move(*integration);
  config.metadata = std::move(*metadata);
  // Metadata within its limits can still make a URL over max_url_bytes (a 64-byte key
  // repeated for many short values); refuse it here rather than build a URL nobody accepts.
  std::size_t url_bytes = make_embed_query(config).size() + 1;  // with the `?`
  if (url_bytes > EmbedUrlLimits::max_url_bytes) {
    return make_error("url_too_long",
                      "widget config makes an embed query of " + std::to_string(url_bytes) +
                          " bytes, over the limit of " +
                          std::to_string(EmbedUrlLimits::max_url_bytes) +
                          "; shorten the metadata");
  }
  return config;
}

std::string make_embed_query(const WidgetConfig& config) {
  std::string query;
  append_param(query, param_agent, config.agent_id);
  append_param(query, param_key, config.public_key);
  if (config.session_id && !config.session_id->empty()) {
    append_param(query, param_session, *config.session_id);
  }
  if (config.integration_id && !config.integration_id->empty()) {
    append_param(query, param_integration, *config.integration_id);
  }
  if (config.identity_keys) append_param(query, param_identity_keys, *config.identity_keys);
  if (config.logout) append_param(query, param_logout, "");
  if (!config.metadata.is_object()) return query;
  for (auto it = config.metadata.begin(); it != config.metadata.end(); ++it) {
    if (is_reserved_embed_parameter(it.key())) continue;
    if (it.value().is_array()) {
      for (const auto& item : it.value()) append_param(query, it.key(), as_text(item));
    } else {
      append_param(query, it.key(), as_text(it.value()));
    }
  }
  return query;
}

}  // namespace parley
