// Writing JSON text straight from the caller's own structs, without a DOM in between.
#pragma once

#include <string>
#include <string_view>

namespace parley {

// Appends `s` as a JSON string (quoted, escaped, invalid UTF-8 replaced) exactly as
// to_json_text writes a string: for callers that write long JSON texts from their structs
// (the SDK's chat history of thousands of lines) rather than through a DOM.
void append_json_string(std::string& out, std::string_view s);

}  // namespace parley
