// FieldTable<T>: the fields of one config object as one table. Each row says a key, how its
// value is read into T (type, limits, the rule it must follow) and, for the reference, the
// rule in words and the default (what a default-made T holds). The list of allowed keys, the
// "unknown key (known here: ...)" message and the reference (config_reference()) all come
// from the rows, so a key is written once.
//
// A row also says how far a stranger's page may reach it (Exposure, for the voice socket's
// agent_config) and how it is written back as JSON (the `agent_config` of the end-of-call
// report and the call logs: every row but the secret ones).
//
// Adding a key: a member with its default in the struct (parley/host/config.hpp), one row in
// the object's table (config.cpp), the key in host/demo/config.json and in the README.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config_check.hpp"
#include "parley/host/config.hpp"

namespace parley::host::config_detail {

// normal: an agent may list it in allow_overrides. policy: the agent's identity, access or
// data policy, or holds rows that carry URLs (never overridable, written in reports). secret:
// carries a URL or a secret (never overridable, never written).
enum class Exposure { normal, policy, secret };

template <class T>
struct Field {
  std::string key;
  // Reads `key` of `object` into `out`: absent or null keeps what `out` holds (the default),
  // anything else is checked and taken, or answered by an Error naming the path.
  std::function<Status(const json& object, const std::string& path, T& out)> read;
  std::string rule;  // in words, for the reference
  // The default, read off a default-made T; empty for sections (their rows say).
  std::function<std::string(const T&)> default_text;
  // Sections and lists of objects: the reference rows under `path`.
  std::function<void(const std::string& path, std::vector<ConfigKey>& out)> describe;
  bool listed = true;  // named in "known here: ..." (false for retired keys)
  Exposure exposure = Exposure::normal;
  // Writes the value under `key` into the object `out` (empty: nothing to write).
  std::function<void(const T& value, json& out)> write;
};

template <class T>
Field<T> policy(Field<T> field) {
  field.exposure = Exposure::policy;
  return field;
}
template <class T>
Field<T> secret(Field<T> field) {
  field.exposure = Exposure::secret;
  return field;
}

template <class T>
class FieldTable {
 public:
  // Runs after every row was read: rules that span fields ("needs words or pattern").
  using Finish = std::function<Status(const json& object, const std::string& path, T& out)>;

  FieldTable(std::vector<Field<T>> fields, Finish finish = {})
      : fields_(std::move(fields)), finish_(std::move(finish)) {
    for (const auto& field : fields_) {
      accepted_.push_back(field.key);
      if (field.listed) listed_.push_back(field.key);
    }
  }

  // Unknown keys first (a typo must not silently drop a setting), then each row in order.
  Status read(const json& object, const std::string& path, T& out) const {
    if (auto s = check_keys(object, path, accepted_, listed_); !s) return s;
    for (const auto& field : fields_) {
      if (auto s = field.read(object, path, out); !s) return s;
    }
    if (finish_) return finish_(object, path, out);
    return ok_status();
  }

  // Reads only the rows whose key `object` has (the caller checked the keys), then the
  // cross-field rules: an overlay on a T that holds values already.
  Status read_given(const json& object, const std::string& path, T& out) const {
    for (const auto& field : fields_) {
      if (!object.contains(field.key)) continue;
      if (auto s = field.read(object, path, out); !s) return s;
    }
    if (finish_) return finish_(object, path, out);
    return ok_status();
  }

  // Every row but the secret ones, as a JSON object.
  json write(const T& value) const {
    json out = json::object();
    for (const auto& field : fields_) {
      if (field.exposure == Exposure::secret || !field.write) continue;
      field.write(value, out);
    }
    return out;
  }

  // The row of `key`, if the table has one (listed or retired).
  const Field<T>* find(const std::string& key) const {
    for (const auto& field : fields_)
      if (field.key == key) return &field;
    return nullptr;
  }

  void describe(const std::string& path, std::vector<ConfigKey>& out) const {
    const T defaults{};
    for (const auto& field : fields_) {
      std::string field_path = join_path(path, field.key);
      if (field.describe) {
        field.describe(field_path, out);
        continue;
      }
      out.push_back({field_path, field.rule,
                     field.default_text ? field.default_text(defaults) : std::string()});
    }
  }

  // The keys a file may use here, in table order.
  const std::vector<std::string>& keys() const { return listed_; }
  const std::vector<Field<T>>& fields() const { return fields_; }

 private:
  std::vector<Field<T>> fields_;
  std::vector<std::string> accepted_;  // listed + retired: read, to say what replaced them
  std::vector<std::string> listed_;
  Finish finish_;
};

// ---- rows

// A check on a string value that was given (not run when the value is empty).
using TextRule = std::function<Status(const std::string& path, const std::string& value)>;

inline std::string json_quoted(const std::string& text) { return to_json_text(json(text)); }

template <class T>
Field<T> text(const char* key, std::string T::*member, Presence presence, std::size_t max_bytes,
              std::string rule_words = {}, TextRule rule = {}) {
  std::string words = "string";
  if (presence == Presence::required) words += ", required";
  if (presence == Presence::non_empty) words += ", not empty";
  words += ", at most " + std::to_string(max_bytes) + " bytes";
  if (!rule_words.empty()) words += "; " + rule_words;
  return {key,
          [=](const json& object, const std::string& path, T& out) -> Status {
            if (auto s = read_string(object, path, key, out.*member, presence, max_bytes); !s) {
              return s;
            }
            if (!rule || (out.*member).empty()) return ok_status();
            return rule(join_path(path, key), out.*member);
          },
          words,
          [=](const T& defaults) { return json_quoted(defaults.*member); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

template <class T>
Field<T> whole(const char* key, std::uint32_t T::*member, std::uint32_t min, std::uint32_t max) {
  return {key,
          [=](const json& object, const std::string& path, T& out) {
            return read_u32(object, path, key, out.*member, min, max);
          },
          "whole number from " + std::to_string(min) + " to " + std::to_string(max),
          [=](const T& defaults) { return std::to_string(defaults.*member); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

template <class T>
Field<T> whole(const char* key, std::int32_t T::*member, std::int32_t min, std::int32_t max) {
  return {key,
          [=](const json& object, const std::string& path, T& out) {
            return read_i32(object, path, key, out.*member, min, max);
          },
          "whole number from " + std::to_string(min) + " to " + std::to_string(max),
          [=](const T& defaults) { return std::to_string(defaults.*member); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

template <class T>
Field<T> fraction(const char* key, double T::*member, double low, double high) {
  return {key,
          [=](const json& object, const std::string& path, T& out) {
            return read_fraction(object, path, key, out.*member, low, high);
          },
          "number above " + to_json_text(json(low)) + " and below " + to_json_text(json(high)),
          [=](const T& defaults) { return to_json_text(json(defaults.*member)); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

template <class T>
Field<T> flag(const char* key, bool T::*member) {
  return {key,
          [=](const json& object, const std::string& path, T& out) {
            return read_bool(object, path, key, out.*member);
          },
          "true or false",
          [=](const T& defaults) { return std::string(defaults.*member ? "true" : "false"); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

// A check on a whole list that was read.
using ListRule =
    std::function<Status(const std::string& path, const std::vector<std::string>& items)>;

template <class T>
Field<T> strings(const char* key, std::vector<std::string> T::*member, std::size_t max_items,
                 std::size_t max_bytes, std::string rule_words = {}, ListRule rule = {}) {
  std::string words = "array of at most " + std::to_string(max_items) +
                      " non-empty strings of at most " + std::to_string(max_bytes) + " bytes";
  if (!rule_words.empty()) words += "; " + rule_words;
  return {key,
          [=](const json& object, const std::string& path, T& out) -> Status {
            if (auto s = read_string_list(object, path, key, out.*member, max_items, max_bytes);
                !s) {
              return s;
            }
            if (!rule) return ok_status();
            return rule(join_path(path, key), out.*member);
          },
          words,
          [=](const T& defaults) { return to_json_text(json(defaults.*member)); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

// A JSON object kept as it is, after `rule` checked it.
template <class T>
Field<T> json_object(const char* key, json T::*member, std::string rule_words,
                     std::function<Status(const json& value, const std::string& path)> rule) {
  return {key,
          [=](const json& object, const std::string& path, T& out) -> Status {
            auto value = object_at(object, path, key);
            if (!value) return value.error();
            if (*value == nullptr) return ok_status();
            if (rule) {
              if (auto s = rule(**value, join_path(path, key)); !s) return s;
            }
            out.*member = **value;
            return ok_status();
          },
          "object; " + rule_words,
          [=](const T& defaults) { return to_json_text(defaults.*member); },
          {}, true, Exposure::normal,
          [=](const T& value, json& out) { out[key] = value.*member; }};
}

// A nested object read into a member by its own table.
template <class T, class S>
Field<T> section(const char* key, S T::*member, const FieldTable<S>& table) {
  return {key,
          [=, &table](const json& object, const std::string& path, T& out) -> Status {
            auto value = object_at(object, path, key);
            if (!value) return value.error();
            if (*value == nullptr) return ok_status();
            return table.read(**value, join_path(path, key), out.*member);
          },
          "object",
          {},
          [&table](const std::string& path, std::vector<ConfigKey>& out) {
            table.describe(path, out);
          },
          true,
          Exposure::normal,
          [=, &table](const T& value, json& out) { out[key] = table.write(value.*member); }};
}

// A nested object in the file whose fields live in T itself (privacy_settings, interruption).
template <class T>
Field<T> group(const char* key, const FieldTable<T>& table) {
  return {key,
          [=, &table](const json& object, const std::string& path, T& out) -> Status {
            auto value = object_at(object, path, key);
            if (!value) return value.error();
            if (*value == nullptr) return ok_status();
            return table.read(**value, join_path(path, key), out);
          },
          "object",
          {},
          [&table](const std::string& path, std::vector<ConfigKey>& out) {
            table.describe(path, out);
          },
          true,
          Exposure::normal,
          [=, &table](const T& value, json& out) { out[key] = table.write(value); }};
}

// The rows of `table` as rows of T, reading into T's `member`: a struct whose keys sit in
// T's own object in the file (server.speech's line keys, read into SpeechConfig::browser).
template <class T, class S>
std::vector<Field<T>> lifted(S T::*member, const FieldTable<S>& table) {
  std::vector<Field<T>> rows;
  for (const Field<S>& f : table.fields()) {
    Field<T> row;
    row.key = f.key;
    row.rule = f.rule;
    row.listed = f.listed;
    row.exposure = f.exposure;
    row.describe = f.describe;
    row.read = [member, read = f.read](const json& object, const std::string& path, T& out) {
      return read(object, path, out.*member);
    };
    if (f.default_text)
      row.default_text = [member, text = f.default_text](const T& value) { return text(value.*member); };
    if (f.write)
      row.write = [member, write = f.write](const T& value, json& out) { write(value.*member, out); };
    rows.push_back(std::move(row));
  }
  return rows;
}

// An array of objects, each read by `table` into a fresh E.
template <class T, class E>
Field<T> objects(const char* key, std::vector<E> T::*member, std::size_t max_items,
                 const FieldTable<E>& table) {
  return {key,
          [=, &table](const json& object, const std::string& path, T& out) -> Status {
            std::string list_path = join_path(path, key);
            auto it = object.find(key);
            if (it == object.end() || it->is_null()) return ok_status();
            if (!it->is_array()) {
              return invalid(list_path, std::string("must be an array, not ") +
                                            json_type_name(*it));
            }
            if (it->size() > max_items) {
              return invalid(list_path, "has " + std::to_string(it->size()) +
                                            " items, over the limit of " +
                                            std::to_string(max_items));
            }
            auto& items = out.*member;
            items.clear();
            for (std::size_t i = 0; i < it->size(); ++i) {
              const json& item = (*it)[i];
              std::string item_path = index_path(list_path, i);
              if (!item.is_object()) {
                return invalid(item_path,
                               std::string("must be an object, not ") + json_type_name(item));
              }
              E element{};
              if (auto s = table.read(item, item_path, element); !s) return s;
              items.push_back(std::move(element));
            }
            return ok_status();
          },
          "array of objects",
          {},
          [&table](const std::string& path, std::vector<ConfigKey>& out) {
            table.describe(path + "[]", out);
          },
          true,
          Exposure::normal,
          [=, &table](const T& value, json& out) {
            json items = json::array();
            for (const auto& item : value.*member) items.push_back(table.write(item));
            out[key] = std::move(items);
          }};
}

// The row with more words for the reference (a rule that spans fields, checked by the
// table's Finish).
template <class T>
Field<T> noted(Field<T> field, const std::string& words) {
  field.rule += "; " + words;
  return field;
}

// A key that is no longer read: giving it is an error that says what replaced it.
template <class T>
Field<T> retired(const char* key, std::string replacement) {
  return {key,
          [=](const json& object, const std::string& path, T&) -> Status {
            auto it = object.find(key);
            if (it == object.end()) return ok_status();
            return invalid(join_path(path, key), "is no longer read: " + replacement);
          },
          "retired: " + replacement,
          {},
          [](const std::string&, std::vector<ConfigKey>&) {},
          false};
}

}  // namespace parley::host::config_detail
