// Session metadata limits (DESIGN §6): the one definition, enforced by client and host alike,
// for metadata that came from an embed URL and for metadata given as a JSON object.
#pragma once

#include <cstddef>
#include <string_view>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley {

struct MetadataLimits {
  static constexpr std::size_t max_keys = 50;          // every object key, at any depth
  static constexpr std::size_t max_key_bytes = 64;     // 1..64 bytes, [A-Za-z_][A-Za-z0-9_.-]*
  static constexpr std::size_t max_value_bytes = 1024; // each string value, valid UTF-8
  static constexpr std::size_t max_total_bytes = 8192; // the whole object as compact JSON
  static constexpr std::size_t max_depth = 8;          // nesting of objects/arrays (ours)
};

// True when `key` is 1..64 bytes and matches [A-Za-z_][A-Za-z0-9_.-]*.
bool is_valid_metadata_key(std::string_view key) noexcept;

// Checks a metadata value against every limit. `metadata` must be a JSON object (null is
// accepted as "no metadata"). Errors (codes):
//   metadata_not_object, metadata_too_many_keys, metadata_bad_key, metadata_value_too_long,
//   metadata_value_not_utf8, metadata_too_deep, metadata_too_large
// and name the key path (e.g. `user.name`) and the limit broken.
Status validate_metadata(const json& metadata);

}  // namespace parley
