#include "parley/metadata.hpp"

#include <string>

namespace parley {
namespace {

bool key_head(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool key_tail(char c) noexcept {
  return key_head(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

std::string show_key(std::string_view s) {
  // Keys in messages are JSON-quoted (a stranger's newline cannot forge a log line) and
  // capped, so a hostile 10 KB key does not fill one.
  constexpr std::size_t shown = 80;
  std::string out = to_json_text(json(std::string(s.substr(0, shown))));
  if (s.size() > shown) out.insert(out.size() - 1, "...");
  return out;
}

class Checker {
 public:
  Status walk(const json& v, const std::string& path, std::size_t depth) {
    if (depth > MetadataLimits::max_depth) {
      return make_error("metadata_too_deep",
                        "metadata at " + show_key(path) + " nests deeper than " +
                            std::to_string(MetadataLimits::max_depth) + " levels");
    }
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        std::string child = path.empty() ? key : path + "." + key;
        if (++keys_ > MetadataLimits::max_keys) {
          return make_error("metadata_too_many_keys",
                            "metadata has more than " + std::to_string(MetadataLimits::max_keys) +
                                " keys (the 51st is " + show_key(child) + ")");
        }
        if (!is_valid_metadata_key(key)) {
          std::string why = key.empty() ? "is empty"
                            : key.size() > MetadataLimits::max_key_bytes
                                ? "is " + std::to_string(key.size()) + " bytes, over the limit of " +
                                      std::to_string(MetadataLimits::max_key_bytes)
                                : "does not match [A-Za-z_][A-Za-z0-9_.-]*";
          return make_error("metadata_bad_key", "metadata key " + show_key(child) + " " + why);
        }
        if (auto s = walk(it.value(), child, depth + 1); !s) return s;
      }
    } else if (v.is_array()) {
      std::size_t i = 0;
      for (const auto& item : v) {
        if (auto s = walk(item, path + "[" + std::to_string(i++) + "]", depth + 1); !s) return s;
      }
    } else if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (s.size() > MetadataLimits::max_value_bytes) {
        return make_error("metadata_value_too_long",
                          "metadata value of " + show_key(path) + " is " + std::to_string(s.size()) +
                              " bytes, over the limit of " +
                              std::to_string(MetadataLimits::max_value_bytes));
      }
      if (!is_valid_utf8(s)) {
        return make_error("metadata_value_not_utf8",
                          "metadata value of " + show_key(path) + " is not valid UTF-8");
      }
    }
    return ok_status();
  }

 private:
  std::size_t keys_ = 0;
};

}  // namespace

bool is_valid_metadata_key(std::string_view key) noexcept {
  if (key.empty() || key.size() > MetadataLimits::max_key_bytes || !key_head(key[0])) return false;
  for (char c : key.substr(1)) {
    if (!key_tail(c)) return false;
  }
  return true;
}

Status validate_metadata(const json& metadata) {
  if (metadata.is_null()) return ok_status();
  if (!metadata.is_object()) {
    return make_error("metadata_not_object",
                      std::string("metadata must be a JSON object, not ") +
                          json_type_name(metadata));
  }
  Checker checker;
  if (auto s = checker.walk(metadata, "", 1); !s) return s;
  std::size_t total = to_json_text(metadata).size();
  if (total > MetadataLimits::max_total_bytes) {
    return make_error("metadata_too_large",
                      "metadata is " + std::to_string(total) + " bytes as JSON, over the limit of " +
                          std::to_string(MetadataLimits::max_total_bytes));
  }
  return ok_status();
}

}  // namespace parley
