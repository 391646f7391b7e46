// The template engine, the prompt section and function-argument fill on any input: never a
// crash, and the invariants the header promises. Input: TEMPLATE \0 VARIABLES-JSON \0
// SCHEMA-JSON \0 ARGS-JSON (later parts optional; JSON that does not parse counts as null).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/templates.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::string_view> split(std::string_view in, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    std::size_t zero = in.find('\0');
    if (zero == std::string_view::npos) break;
    parts.push_back(in.substr(0, zero));
    in.remove_prefix(zero + 1);
  }
  parts.push_back(in);
  parts.resize(max_parts);
  return parts;
}

parley::json json_or_null(std::string_view text) {
  auto parsed = parley::parse_json(text, "fuzz input", 16);
  return parsed ? *parsed : parley::json();
}

void check_template_invariants(std::string_view tmpl, const parley::json& variables) {
  auto filled = parley::fill_template(tmpl, variables);
  auto checked = parley::check_template(tmpl, variables);
  require(checked.used == filled.used && checked.missing == filled.missing &&
          checked.defaulted == filled.defaulted);

  // With no variables, every name used is reported, as missing or defaulted.
  auto bare = parley::check_template(tmpl, parley::json());
  std::set<std::string> unfilled(bare.missing.begin(), bare.missing.end());
  unfilled.insert(bare.defaulted.begin(), bare.defaulted.end());
  require(unfilled == std::set<std::string>(bare.used.begin(), bare.used.end()));
  require(bare.used == filled.used);  // the names do not depend on the values

  // Escaped text renders as itself and names nothing.
  auto escaped = parley::fill_template(parley::escape_template_text(tmpl), variables);
  require(escaped.text == tmpl && escaped.used.empty());

  // Text without braces is unchanged.
  if (tmpl.find_first_of("{}") == std::string_view::npos) require(filled.text == tmpl);
}

void check_section(const parley::json& metadata) {
  std::string section = parley::metadata_prompt_section(metadata);
  if (!metadata.is_object() || metadata.empty()) {
    require(section.empty());
    return;
  }
  // begin, notice, one line per key, end: no value adds a line or forges the end marker.
  std::size_t lines = 0;
  for (char c : section) lines += c == '\n';
  require(lines == metadata.size() + 3);
  const std::string end = "\n<<<SESSION METADATA END>>>\n";
  require(section.find(end) == section.size() - end.size());
  require(section.find('\r') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parts = split(std::string_view(reinterpret_cast<const char*>(data), size), 4);
  parley::json variables = json_or_null(parts[1]);
  check_template_invariants(parts[0], variables);
  check_section(variables);
  (void)parley::append_metadata_to_prompt(parts[0], variables);

  auto args = parley::fill_function_arguments(json_or_null(parts[2]), json_or_null(parts[3]),
                                              variables);
  if (args) {
    require(args->is_object());
  } else {
    require(!args.error().code.empty() && !args.error().message.empty());
  }
  return 0;
}
