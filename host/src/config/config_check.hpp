// Field readers shared by the config parser: each reads one key of a JSON object with its
// type and range, or answers an Error naming the key's path and the rule broken.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley::host::config_detail {

// optional: absent keeps the default, any string is taken. non_empty: absent keeps the
// default, a given value must not be empty. required: present and non-empty.
enum class Presence { optional, non_empty, required };

std::string join_path(const std::string& parent, std::string_view key);
std::string index_path(const std::string& parent, std::size_t index);
// code "config_invalid", message "<path>: <rule>".
Error invalid(const std::string& path, const std::string& rule);

// "config_unknown_key" for the first key of `object` not in `accepted`; the message lists
// `listed` as the keys known here.
Status check_keys(const json& object, const std::string& path,
                  const std::vector<std::string>& accepted,
                  const std::vector<std::string>& listed);
// The object at `key`, nullptr when absent or null; an error when it is not an object.
Result<const json*> object_at(const json& parent, const std::string& parent_path,
                              const char* key);
// See Presence. Always valid UTF-8 within max_bytes.
Status read_string(const json& parent, const std::string& parent_path, const char* key,
                   std::string& out, Presence presence, std::size_t max_bytes);
Status read_u32(const json& parent, const std::string& parent_path, const char* key,
                std::uint32_t& out, std::uint32_t min, std::uint32_t max);
Status read_bool(const json& parent, const std::string& parent_path, const char* key,
                 bool& out);
// A whole number, possibly negative, from min to max.
Status read_i32(const json& parent, const std::string& parent_path, const char* key,
                std::int32_t& out, std::int32_t min, std::int32_t max);
// A number strictly between low and high.
Status read_fraction(const json& parent, const std::string& parent_path, const char* key,
                     double& out, double low, double high);
// An array of non-empty strings.
Status read_string_list(const json& parent, const std::string& parent_path, const char* key,
                        std::vector<std::string>& out, std::size_t max_items,
                        std::size_t max_bytes);

}  // namespace parley::host::config_detail
