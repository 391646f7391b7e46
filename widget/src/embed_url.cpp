#include "parley/embed_url.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <algorithm>
#include <string>

#include "parley/metadata.hpp"

namespace parley {
namespace {

namespace urls = boost::urls;

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
bool is_gen_delim(char c) {
  switch (c) {
    case ':': case '/': case '?': case '#': case '[': case ']': case '@': return true;
    default: return false;
  }
}
// Characters that may appear somewhere in a URI reference.
bool is_uri_char(char c) {
  return is_unreserved(c) || is_sub_delim(c) || is_gen_delim(c) || c == '%';
}
// Characters a query or fragment may hold: pchar / "/" / "?" (so not `[`, `]` or `#`).
bool is_query_char(char c) {
  return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' || c == '?' ||
         c == '%';
}

// --- Diagnosis of URLs Boost.URL would refuse -------------------------------------------------
// Boost.URL says only "mismatch" or "leftover"; a person needs to know which parameter holds the
// bad byte. This pass finds the first offending byte and names where it is.

class Diagnosis {
 public:
  // Splits the URL as RFC 3986 appendix B does: [scheme ":"] ["//" authority] path ["?" query]
  // ["#" fragment].
  explicit Diagnosis(std::string_view url) : url_(url) {
    fragment_begin_ = url.find('#');
    std::size_t question = url.find('?');
    if (question != npos && question < fragment_begin_) {
      query_begin_ = question + 1;
      query_end_ = fragment_begin_ == npos ? url.size() : fragment_begin_;
    }
    std::size_t colon = url.find_first_of(":/?#");
    std::size_t rest = 0;
    if (colon != npos && colon > 0 && url[colon] == ':') {
      scheme_end_ = colon;
      rest = colon + 1;
    }
    if (url.substr(rest, 2) == "//") {
      authority_begin_ = rest + 2;
      authority_end_ = std::min(url.find_first_of("/?#", authority_begin_), url.size());
    }
  }

  // The first problem found, or nothing when every byte and escape is well-formed.
  std::optional<Error> first_problem() const {
    for (std::size_t i = 0; i < url_.size(); ++i) {
      char c = url_[i];
      bool in_query_or_fragment = in_query(i) || in_fragment(i);
      // `[` and `]` belong only around an IPv6 host; elsewhere they are refused here (Boost.URL
      // 1.81 also trips an internal assertion on some of them, e.g. `s:[`).
      bool stray_bracket = (c == '[' || c == ']') && !in_authority(i);
      if (!is_uri_char(c) || (in_query_or_fragment && !is_query_char(c)) || stray_bracket) {
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
    return query_begin_ != npos && i >= query_begin_ && i < query_end_;
  }
  bool in_fragment(std::size_t i) const { return fragment_begin_ != npos && i > fragment_begin_; }
  bool in_authority(std::size_t i) const {
    return authority_begin_ != npos && i >= authority_begin_ && i < authority_end_;
  }

  static std::string describe(char c) {
    if (static_cast<unsigned char>(c) >= 0x80) return "byte " + show_byte(c) + " (non-ASCII)";
    return quote(std::string(1, c));
  }

  // `parameter "name"` inside the query, else `embed URL (byte N, in the host)` and so on.
  std::string where(std::size_t i) const {
    if (in_query(i)) return "parameter " + quote(parameter_name_at(i));
    const char* part = in_fragment(i)                            ? "fragment"
                       : scheme_end_ != npos && i <= scheme_end_ ? "scheme"
                       : in_authority(i)                         ? "host"
                                                                 : "path";
    return "embed URL (byte " + std::to_string(i) + ", in the " + part + ")";
  }

  // The name of the query parameter holding byte i, decoded when its own escapes are sound.
  std::string parameter_name_at(std::size_t i) const {
    std::size_t begin = url_.rfind('&', i);
    begin = (begin == std::string_view::npos || begin < query_begin_) ? query_begin_ : begin + 1;
    std::size_t end = begin;
    while (end < query_end_ && url_[end] != '=' && url_[end] != '&') ++end;
    std::string_view raw = url_.substr(begin, end - begin);
    auto pct = urls::make_pct_string_view(raw);
    if (!pct) return std::string(raw);
    urls::encoding_opts opts;
    opts.space_as_plus = true;
    return pct->decode(opts);
  }

  std::string_view url_;
  std::size_t scheme_end_ = npos;  // the `:`
  std::size_t authority_begin_ = npos, authority_end_ = npos;
  std::size_t query_begin_ = npos, query_end_ = npos;
  std::size_t fragment_begin_ = npos;  // the `#`
};

// --- Reserved parameters ----------------------------------------------------------------------

constexpr std::string_view param_agent = "id";
constexpr std::string_view param_key = "k";
constexpr std::string_view param_session = "sessionID";
constexpr std::string_view param_integration = "integrationID";

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

// An absolute embed URL is http(s)://HOST/...: checked before Boost.URL sees the URL, because
// Boost.URL 1.81 trips internal assertions on some scheme-but-no-host forms (`t:?`, `http:#`,
// `t:?#`), and because the scheme is the first thing a person should hear about.
std::optional<Error> check_scheme(std::string_view url) {
  std::size_t colon = url.find_first_of(":/?#");
  if (colon == std::string_view::npos || colon == 0 || url[colon] != ':') return std::nullopt;
  std::string_view scheme = url.substr(0, colon);
  auto is_alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!is_alpha(scheme[0])) return std::nullopt;  // not a scheme: Boost.URL judges the rest
  for (char c : scheme) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
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

class EmbedUrlReader {
 public:
  Result<WidgetConfig> read(std::string_view url) {
    if (url.size() > EmbedUrlLimits::max_url_bytes) {
      return make_error("url_too_long", "embed URL is " + std::to_string(url.size()) +
                                            " bytes, over the limit of " +
                                            std::to_string(EmbedUrlLimits::max_url_bytes));
    }
    if (url.empty()) return make_error("url_invalid", "embed URL is empty");
    if (auto problem = Diagnosis(url).first_problem()) return *problem;
    if (auto problem = check_scheme(url)) return *problem;

    auto parsed = urls::parse_uri_reference(url);
    if (!parsed) {
      return make_error("url_invalid", "embed URL is not a valid URL (Boost.URL: " +
                                           parsed.error().message() +
                                           "); check the scheme, host and port");
    }
    // Boost.URL 1.81 reads `http://h:xx/e` as host "h", empty port and path "xx/e"; RFC 3986
    // allows no such path after an authority, so refuse it here.
    if (parsed->has_authority() && !parsed->encoded_path().empty() &&
        parsed->encoded_path().front() != '/') {
      return make_error("url_invalid",
                        "embed URL (in the host): a port must be digits only, as in host:8080");
    }
    // Boost.URL 1.81 asserts (and in release reads past the end) when iterating the params of
    // an empty query that a fragment follows (`/e?#x`); an empty query holds no parameter.
    if (parsed->encoded_query().empty()) return finish();
    for (auto param : parsed->encoded_params()) {
      if (auto s = read_parameter(param); !s) return std::move(s).error();
    }
    return finish();
  }

 private:
  Status read_parameter(const urls::param_pct_view& param) {
    if (param.key.empty() && !param.has_value) return ok_status();  // `a=1&&b=2`, trailing `&`
    urls::encoding_opts opts;
    opts.space_as_plus = true;
    std::string key = param.key.decode(opts);
    std::string value = param.value.decode(opts);  // empty when there is no `=`
    if (!is_valid_utf8(key)) {
      return make_error("parameter_not_utf8", "parameter " + quote(param.key) +
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
    // Each parameter passed on its own; the whole (key count, total size) is checked here.
    if (auto s = validate_metadata(config_.metadata); !s) return std::move(s).error();
    return std::move(config_);
  }

  ReservedSlot reserved_[4] = {{param_agent, "the agent id", false, {}},
                               {param_key, "the public key", false, {}},
                               {param_session, "the session to resume", false, {}},
                               {param_integration, "the integration id", false, {}}};
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
                            " uses a reserved parameter name (id, k, sessionID, integrationID)");
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

// What a query may hold raw (pchar / "/" / "?") minus the delimiters `&` and `+` (a space)...
constexpr urls::grammar::lut_chars value_chars = urls::unreserved_chars + "!$'()*,;=:@/?";
// ...and, in a key, minus `=` too.
constexpr urls::grammar::lut_chars key_chars = value_chars - '=';

void append_param(std::string& query, std::string_view key, std::string_view value) {
  urls::encoding_opts opts;
  opts.space_as_plus = true;
  if (!query.empty()) query += '&';
  query += urls::encode(key, key_chars, opts);
  if (value.empty()) return;  // `flag` reads back as the empty string
  query += '=';
  query += urls::encode(value, value_chars, opts);
}

std::string as_text(const json& v) {
  return v.is_string() ? v.get_ref<const std::string&>() : to_json_text(v);
}

}  // namespace

bool is_reserved_embed_parameter(std::string_view name) noexcept {
  return name == param_agent || name == param_key || name == param_session ||
         name == param_integration;
}

Result<WidgetConfig> parse_embed_url(std::string_view url) { return EmbedUrlReader().read(url); }

json to_json(const WidgetConfig& config) {
  auto optional = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
  return json{{"agent_id", config.agent_id},
              {"public_key", config.public_key},
              {"session_id", optional(config.session_id)},
              {"integration_id", optional(config.integration_id)},
              {"metadata", config.metadata.is_null() ? json::object() : config.metadata}};
}

std::string config_json_text(const WidgetConfig& config) {
  auto text = [](const std::optional<std::string>& s) {
    return s ? to_json_text(json(*s)) : std::string("null");
  };
  return "{\"agent_id\":" + to_json_text(json(config.agent_id)) +
         ",\"public_key\":" + to_json_text(json(config.public_key)) +
         ",\"session_id\":" + text(config.session_id) +
         ",\"integration_id\":" + text(config.integration_id) + ",\"metadata\":" +
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
        k != "metadata") {
      return make_error("bad_parameter_value",
                        "widget config field " + quote(k) +
                            " is not known (agent_id, public_key, session_id, integration_id, "
                            "metadata)");
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
