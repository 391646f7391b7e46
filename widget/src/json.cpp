#include "parley/json.hpp"

#include <cstdint>

namespace parley {

Result<json> parse_json(std::string_view text, std::string_view what, std::size_t max_depth) {
  // A depth-bounding callback: nlohmann's recursive DOM builder would otherwise follow a
  // stranger's nesting as deep as they like.
  std::size_t depth = 0;
  bool too_deep = false;
  json::parser_callback_t cb = [&](int /*d*/, json::parse_event_t ev, json& /*parsed*/) {
    if (ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) {
      if (++depth > max_depth) too_deep = true;
    } else if (ev == json::parse_event_t::object_end || ev == json::parse_event_t::array_end) {
      --depth;
    }
    return !too_deep;
  };
  json value = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (too_deep) {
    return make_error("json_too_deep", std::string(what) + " nests deeper than " +
                                           std::to_string(max_depth) + " levels");
  }
  if (value.is_discarded()) {
    return make_error("bad_json", std::string(what) + " is not valid JSON");
  }
  return value;
}

std::string to_json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* json_type_name(const json& value) noexcept {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "discarded";
  }
  return "unknown";
}

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

}  // namespace parley
