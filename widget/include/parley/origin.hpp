// Web origins (RFC 6454, as WHATWG URL serialises them): the one place where an agent's
// `allowed_origins` are read and matched against the Origin a browser sends. The host's config
// check and AgentConfig::origin_allowed both call these functions, so the rule the config
// accepts and the rule a request is judged by cannot drift apart.
//
// An allowed origin (the config) is  scheme "://" host [":" port | ":*"]  with nothing after it:
//   - scheme: http or https, any case;
//   - host: a DNS name or IPv4 address (letters, digits, "-", ".", "_"; IDNs in their
//     punycode form, "xn--..."), or an IPv6 address in brackets; any case;
//   - port: 1..65535, or "*" for any port. A port equal to the scheme's default (80 for
//     http, 443 for https) is the same as no port: "https://shop.example:443" and
//     "https://shop.example" are one origin (browsers never send the default port).
// "null" is refused with its reason: it is what sandboxed frames, file:// pages and data:
// URLs send, so allowing it would let any such page in.
//
// A request's Origin header is matched by scheme, host (case-insensitively) and port (with the
// default port normalised). "null", any other scheme (chrome-extension://, file:, ...) and
// anything that is not an origin never matches. A trailing dot is kept: "shop.example." is a
// different host to a browser too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

struct WebOrigin {
  std::string scheme;      // "http" or "https", lowercase
  std::string host;        // lowercase; IPv6 with its brackets
  std::uint32_t port = 0;  // always explicit: the default port filled in
  bool any_port = false;   // ":*" (an allowed origin only)

  friend bool operator==(const WebOrigin& a, const WebOrigin& b) {
    return a.scheme == b.scheme && a.host == b.host && a.port == b.port &&
           a.any_port == b.any_port;
  }
};

// An allowed origin from a config. Error code origin_invalid, the message naming what is
// wrong (the scheme, a path or trailing slash, the port, "null", ...).
Result<WebOrigin> parse_allowed_origin(std::string_view text);

// The Origin header of a request; nothing for "null", other schemes, and malformed text.
std::optional<WebOrigin> parse_request_origin(std::string_view text);

// True when `given` (a request's origin) is allowed by `allowed`.
bool origin_matches(const WebOrigin& allowed, const WebOrigin& given) noexcept;

// True when the Origin header `origin` matches the allowed origin text `allowed` (which is
// parsed on the way; an invalid one matches nothing).
bool origin_allowed_by(std::string_view allowed, std::string_view origin);

// The origin as a browser writes it: no default port ("https://shop.example"), ":*" kept.
// Also what goes into a CSP source list (frame-ancestors).
std::string to_string(const WebOrigin& origin);

}  // namespace parley
