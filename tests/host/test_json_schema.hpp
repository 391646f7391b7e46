// A small JSON Schema checker for the tests: the keywords OpenAI's published OpenAPI schema
// uses for a chat-completion request ($ref, type, nullable, enum, const, properties,
// required, additionalProperties, items, minItems, maxItems, minimum, maximum, minLength,
// maxLength, anyOf, oneOf, allOf). Objects are closed: a member the schema does not name is
// an error, as OpenAI's API answers 400 "Unrecognized request argument" for one.
#pragma once

#include <string>
#include <vector>

#include "parley/json.hpp"

namespace parley::test {

// `document` holds {"components": {"schemas": {...}}}; `root` names the schema to check
// `value` against. Returns the problems found ("messages[2].role: ..."), empty when valid.
std::vector<std::string> schema_errors(const json& document, const std::string& root,
                                       const json& value);

}  // namespace parley::test
