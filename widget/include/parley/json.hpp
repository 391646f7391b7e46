// JSON conventions of the core (nlohmann/json underneath).
//  - parse_json never throws: malformed text is an Error value.
//  - to_json_text never throws: invalid UTF-8 in strings is replaced (U+FFFD), not fatal.
// Use these two at every boundary rather than json::parse / dump directly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

using json = nlohmann::json;

// Parses one JSON text. `what` names the input in the error ("initiate message", "ChatLog
// reply"...). Depth is bounded (max_depth) so hostile input cannot exhaust the stack.
Result<json> parse_json(std::string_view text, std::string_view what = "JSON",
                        std::size_t max_depth = 64);

// Compact serialisation that cannot throw.
std::string to_json_text(const json& value);

// Human-readable name of a JSON type ("string", "object", ...), for error messages.
const char* json_type_name(const json& value) noexcept;

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace parley
