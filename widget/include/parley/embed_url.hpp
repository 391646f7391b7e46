// Embed URL -> widget configuration (DESIGN §6), and back.
//
// A site embeds the widget as
//   https://HOST/embed?id=AGENT&k=PUBLIC_KEY&sessionID=S&userName=John%20Doe&tag=a&tag=b
// and every query parameter that is not reserved becomes session metadata.
//
// Reserved parameters (exact, case-sensitive names; never metadata):
//   id             agent id, required, non-empty
//   k              public key, required, non-empty
//   sessionID      optional: the session to resume (DESIGN §5, resume flow step 1)
//   integrationID  optional, ours: names one embedding of the widget on a site, so that a page
//                  with several widgets persists one session per integration and
//                  getState(integrationId) can tell them apart (DESIGN §5 step 1 and 5)
//   identityKeys   optional, ours: the metadata keys that say who the visitor is, comma-separated
//                  (identity.hpp; default userId, user_id, userName, userEmail, email, phone;
//                  empty: none). A stored session is resumed only for the same identity.
//   logout         optional flag, ours: forget the stored session before anything else (a site
//                  puts it on the page its logout leads to); `logout`, `logout=1`, `logout=true`
//                  set it, `logout=0` / `logout=false` do not, anything else is an error
// A reserved parameter may appear at most once. An empty sessionID / integrationID is the same
// as none (the loader may emit `sessionID=` for an empty data attribute). Reserved values are
// valid UTF-8, at most EmbedUrlLimits::max_reserved_value_bytes, with no control characters.
//
// Every other parameter becomes metadata:
//   - key and value are percent-decoded, `+` is a space; both must be valid UTF-8;
//   - the value is a string; `&flag` (no `=`) is the empty string;
//   - a key that repeats becomes an array of strings, in URL order;
//   - empty segments (`a=1&&b=2`, a trailing `&`) are ignored;
//   - the DESIGN §6 limits apply through parley::validate_metadata.
// The fragment (`#...`) is ignored. Accepted: absolute http(s) URLs and relative references
// (`/embed?...`, `//host/embed?...`, `?id=...`). The URL is split as RFC 3986 appendix B does and
// each part checked by its rules (IPv6 and IPv4 literals included), by hand: Boost.URL's grammar
// cost the browser SDK's module more than these rules do.
// URLs as browsers write them: the widget reads `location.href`, which a browser writes by the
// WHATWG URL standard, and that leaves some characters raw that RFC 3986 does not allow. So the
// query and the fragment may also hold "[ ] \ ^ ` { | }" raw (the fragment also "#"), and the
// path "[ ] |" (a site's hand-written `<iframe src="/embed?...&filter={a|b}">` arrives so).
// What a browser always percent-encodes (space, `"`, `<`, `>`, control and non-ASCII bytes) is
// refused raw, naming the parameter and the escape to use; so is a `%` that is not followed by
// two hex digits. Every URL accepted here, node's `URL` accepts too and reads into the same
// parameters (tests/wasm/sdk-api.test.mjs runs the vectors through both).
//
// Error codes (stable; every message names the parameter or part of the URL and the rule):
//   url_too_long           the whole URL is over EmbedUrlLimits::max_url_bytes
//   url_bad_character      a byte that no browser leaves raw there (space, `"`, `<`, non-ASCII...)
//   bad_percent_encoding   `%` not followed by two hex digits (`%zz`, `%4`)
//   url_invalid            the URL's structure is wrong outside the query: text before the
//                          first `:` that is no scheme (`1a:b`), `http:` without `//HOST`, a
//                          bad host (`http://[::1`, `[zz]`, a second `@`), a port that is not
//                          digits (RFC 3986 3.1, 3.2, 4.2)
//   url_bad_scheme         an absolute URL whose scheme is not http or https
//   parameter_not_utf8     a decoded key or value is not valid UTF-8
//   missing_parameter      `id` or `k` is absent or empty
//   repeated_parameter     a reserved parameter appears twice
//   bad_parameter_value    a reserved value is too long or holds control characters
//   reserved_metadata_key  (widget_config_from_json only) metadata uses a reserved name
//   metadata_*             the codes of parley::validate_metadata (bad key, too long, ...)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley {

struct EmbedUrlLimits {
  static constexpr std::size_t max_url_bytes = 16 * 1024;       // the whole URL as given
  static constexpr std::size_t max_reserved_value_bytes = 256;  // id, k, sessionID, integrationID
};

struct WidgetConfig {
  std::string agent_id;                       // `id`
  std::string public_key;                     // `k`
  std::optional<std::string> session_id;      // `sessionID`; never an empty string
  std::optional<std::string> integration_id;  // `integrationID`; never an empty string
  std::optional<std::string> identity_keys;   // `identityKeys` as given (absent: the defaults)
  bool logout = false;                        // `logout`
  json metadata = json::object();             // always an object: string or array-of-string values

  friend bool operator==(const WidgetConfig& a, const WidgetConfig& b) {
    return a.agent_id == b.agent_id && a.public_key == b.public_key &&
           a.session_id == b.session_id && a.integration_id == b.integration_id &&
           a.identity_keys == b.identity_keys && a.logout == b.logout && a.metadata == b.metadata;
  }
  friend bool operator!=(const WidgetConfig& a, const WidgetConfig& b) { return !(a == b); }
};

// Names of the reserved parameters, as they appear in the URL.
bool is_reserved_embed_parameter(std::string_view name) noexcept;

// Parses an embed URL into a configuration. Never throws.
Result<WidgetConfig> parse_embed_url(std::string_view url);

// {"agent_id":..,"public_key":..,"session_id":..|null,"integration_id":..|null,
//  "identity_keys":..|null,"logout":bool,"metadata":{..}}
// (a parley::json, so keys come out sorted when dumped).
json to_json(const WidgetConfig& config);

// The same fields as one line of compact JSON in declaration order (agent_id, public_key,
// session_id, integration_id, identity_keys, logout, metadata), which is what people read;
// metadata keys are sorted.
std::string config_json_text(const WidgetConfig& config);

// The inverse of to_json, with the checks parse_embed_url makes: id and k non-empty, reserved
// values within their limits, optional ids a string or null ("" counts as null), metadata
// passing validate_metadata, using no reserved name, holding only strings and non-empty arrays
// of strings (a one-element array becomes its string), and the whole fitting in an embed URL
// (url_too_long otherwise). For the loader, which starts from data attributes, not a URL.
// Unknown fields are refused (a typo like "sessionId" must not pass silently).
Result<WidgetConfig> widget_config_from_json(const json& value);

// The query string (no leading `?`) that parse_embed_url turns back into `config`:
// id, k, sessionID, integrationID, identityKeys, logout, then metadata in key order. Form-style and minimal: a space
// is `+`, bytes the parser reads back as themselves stay raw (`a/b:c`), the rest is %XX, and an
// empty value is written as a bare key (`flag`). The round trip is exact for every configuration
// parse_embed_url or widget_config_from_json produces, and the query is never longer than the
// query of a URL the config was parsed from. For a hand-made config outside that set: a
// non-string value is written as its JSON text, an array as one parameter per element (so an
// empty array vanishes and a one-element array comes back as a string), and a metadata key
// equal to a reserved name is skipped.
std::string make_embed_query(const WidgetConfig& config);

}  // namespace parley
