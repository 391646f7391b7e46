// Static files and the small HTTP helpers of the network layer. Beast-free on purpose: these
// are plain functions over HttpRequest/HttpResponse, cheap to compile and to unit-test.
//
// Files come from ServerConfig::web_root at "/" and from ServerConfig::wasm_root at "/sdk/".
// A path is percent-decoded exactly once; NUL, backslash, empty, "." and ".." segments are
// refused, and the file found is canonicalized (symlinks resolved) and must still lie inside
// its root's canonical path. Anything else is a 404 that says nothing about the disk.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/host/config.hpp"
#include "parley/host/net_types.hpp"

namespace parley::host::net {

// Decodes %XX escapes once; nullopt for a malformed escape. `plus_is_space` for query values.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

// The first value of `name` in a raw query string ("a=1&id=demo"), percent-decoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// {"error":{"code":CODE,"message":MESSAGE}} with the given status.
HttpResponse json_error(unsigned status, std::string_view code, std::string_view message);

// Content type for a file name, by extension ("application/octet-stream" when unknown).
std::string_view content_type_for(std::string_view filename);

// The Content-Security-Policy of an HTML page. `host` is the request's Host header (used for
// ws:// and wss:// in connect-src only when it is a plain host[:port]); `frame_ancestors` is
// the directive's value, e.g. "'self'" or "'none'" or "https://a.example http://127.0.0.1:*";
// `script_hashes` are hash sources ("'sha256-…' …") of the page's inline scripts, or "".
std::string content_security_policy(std::optional<std::string_view> host,
                                    std::string_view frame_ancestors,
                                    std::string_view script_hashes = {});

// frame-ancestors for the embed page of `agent_id`: its allowed_origins (those that are valid
// CSP source expressions), or 'none' for an unknown agent or an empty list.
std::string embed_frame_ancestors(const std::vector<AgentConfig>& agents,
                                  std::optional<std::string_view> agent_id);

// Answers a GET for a static path (HEAD is the caller's business: same headers, no body).
// Sets Content-Type, ETag, Cache-Control: no-cache, and the CSP on HTML; 304 when
// If-None-Match matches; 400 for an undecodable path or NUL/backslash; 404 otherwise.
HttpResponse serve_static(const HttpRequest& request, const HostConfig& config);

}  // namespace parley::host::net
