// The config's field readers (config_check.hpp): one key of a JSON object, with its type
// and range, or an Error naming the key's path and the rule broken. Nothing here throws: types
// are checked before every get().
#include "config_check.hpp"

#include <algorithm>

namespace parley::host::config_detail {


std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

Error invalid(const std::string& path, const std::string& rule) {
  return make_error("config_invalid", path + ": " + rule);
}

Status check_keys(const json& object, const std::string& path,
                  const std::vector<std::string>& accepted,
                  const std::vector<std::string>& listed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(accepted.begin(), accepted.end(), it.key()) != accepted.end()) continue;
    std::string list;
    for (const auto& k : listed) list += (list.empty() ? "" : ", ") + k;
    return make_error("config_unknown_key",
                      join_path(path, it.key()) + ": unknown key (known here: " + list + ")");
  }
  return ok_status();
}

Result<const json*> object_at(const json& parent, const std::string& parent_path,
                              const char* key) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return static_cast<const json*>(nullptr);
  if (!it->is_object()) {
    return invalid(join_path(parent_path, key),
                   std::string("must be an object, not ") + json_type_name(*it));
  }
  return &*it;
}

Status read_string(const json& parent, const std::string& parent_path, const char* key,
                   std::string& out, Presence presence, std::size_t max_bytes) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (presence != Presence::required) return ok_status();
    return invalid(path, "is required");
  }
  if (!it->is_string()) {
    return invalid(path, std::string("must be a string, not ") + json_type_name(*it));
  }
  const auto& text = it->get_ref<const std::string&>();
  if (text.empty() && presence != Presence::optional) return invalid(path, "must not be empty");
  if (text.size() > max_bytes) {
    return invalid(path, "is " + std::to_string(text.size()) + " bytes, over the limit of " +
                             std::to_string(max_bytes));
  }
  if (!is_valid_utf8(text)) return invalid(path, "is not valid UTF-8");
  out = text;
  return ok_status();
}

Status read_u32(const json& parent, const std::string& parent_path, const char* key,
                std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer() && !it->is_number_unsigned()) {
    return invalid(path, std::string("must be a whole number ") + range + ", not " +
                             (it->is_number() ? to_json_text(*it) : json_type_name(*it)));
  }
  // Compare as signed 64-bit: a negative number must say "out of range", not wrap.
  bool in_range = false;
  std::int64_t value = 0;
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    in_range = u <= max && u >= min;
    value = in_range ? static_cast<std::int64_t>(u) : 0;
  } else {
    value = it->get<std::int64_t>();
    in_range = value >= static_cast<std::int64_t>(min) && value <= static_cast<std::int64_t>(max);
  }
  if (!in_range) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = static_cast<std::uint32_t>(value);
  return ok_status();
}

Status read_bool(const json& parent, const std::string& parent_path, const char* key,
                 bool& out) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  if (!it->is_boolean()) {
    return invalid(join_path(parent_path, key),
                   std::string("must be true or false, not ") + json_type_name(*it));
  }
  out = it->get<bool>();
  return ok_status();
}

Status read_string_list(const json& parent, const std::string& parent_path, const char* key,
                        std::vector<std::string>& out, std::size_t max_items,
                        std::size_t max_bytes) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  if (!it->is_array()) {
    return invalid(path, std::string("must be an array of strings, not ") +
                             json_type_name(*it));
  }
  if (it->size() > max_items) {
    return invalid(path, "has " + std::to_string(it->size()) + " items, over the limit of " +
                             std::to_string(max_items));
  }
  out.clear();
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    std::string item_path = index_path(path, i);
    if (!item.is_string()) {
      return invalid(item_path, std::string("must be a string, not ") + json_type_name(item));
    }
    const auto& text = item.get_ref<const std::string&>();
    if (text.empty()) return invalid(item_path, "must not be empty");
    if (text.size() > max_bytes) {
      return invalid(item_path, "is " + std::to_string(text.size()) +
                                    " bytes, over the limit of " + std::to_string(max_bytes));
    }
    if (!is_valid_utf8(text)) return invalid(item_path, "is not valid UTF-8");
    out.push_back(text);
  }
  return ok_status();
}

Status read_i32(const json& parent, const std::string& parent_path, const char* key,
                std::int32_t& out, std::int32_t min, std::int32_t max) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  const std::string path = join_path(parent_path, key);
  const std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer()) {
    return invalid(path, std::string("must be a whole number ") + range + ", not " +
                             (it->is_number() ? to_json_text(*it) : json_type_name(*it)));
  }
  const bool in_range = it->is_number_unsigned()
                            ? it->get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                            : it->get<std::int64_t>() >= min && it->get<std::int64_t>() <= max;
  if (!in_range) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = static_cast<std::int32_t>(it->get<std::int64_t>());
  return ok_status();
}

Status read_fraction(const json& parent, const std::string& parent_path, const char* key,
                     double& out, double low, double high) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  const std::string path = join_path(parent_path, key);
  const std::string range = "above " + to_json_text(json(low)) + " and below " + to_json_text(json(high));
  if (!it->is_number()) return invalid(path, std::string("must be a number ") + range + ", not " + json_type_name(*it));
  const double v = it->get<double>();
  if (!(v > low && v < high)) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = v;
  return ok_status();
}

}  // namespace parley::host::config_detail
