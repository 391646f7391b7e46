#include "test_json_schema.hpp"

#include <set>

namespace parley::test {
namespace {

class Checker {
 public:
  explicit Checker(const json& document) : schemas_(document.at("components").at("schemas")) {}

  void check(const json& schema, const json& value, const std::string& path, bool closed,
             std::vector<std::string>& errors) const {
    if (schema.contains("$ref")) {
      return check(resolve(schema["$ref"].get<std::string>()), value, path, closed, errors);
    }
    if (value.is_null() && schema.value("nullable", false)) return;
    if (schema.contains("type") && !type_ok(schema["type"], value)) {
      errors.push_back(path + ": a " + json_type_name(value) + " where the schema wants " +
                       to_json_text(schema["type"]));
      return;
    }
    if (schema.contains("enum")) {
      bool found = false;
      for (const auto& v : schema["enum"]) found |= v == value;
      if (!found) errors.push_back(path + ": " + to_json_text(value) + " is not one of " +
                                   to_json_text(schema["enum"]));
    }
    if (schema.contains("const") && schema["const"] != value) {
      errors.push_back(path + ": must be " + to_json_text(schema["const"]));
    }
    if (value.is_number()) {
      if (schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>())
        errors.push_back(path + ": below the minimum " + to_json_text(schema["minimum"]));
      if (schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>())
        errors.push_back(path + ": above the maximum " + to_json_text(schema["maximum"]));
    }
    if (value.is_string()) {
      const auto n = value.get_ref<const std::string&>().size();
      if (schema.contains("minLength") && n < schema["minLength"].get<std::size_t>())
        errors.push_back(path + ": shorter than " + to_json_text(schema["minLength"]));
      if (schema.contains("maxLength") && n > schema["maxLength"].get<std::size_t>())
        errors.push_back(path + ": longer than " + to_json_text(schema["maxLength"]));
    }
    if (value.is_array()) {
      if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>())
        errors.push_back(path + ": fewer than " + to_json_text(schema["minItems"]) + " items");
      if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<std::size_t>())
        errors.push_back(path + ": more than " + to_json_text(schema["maxItems"]) + " items");
      if (schema.contains("items")) {
        for (std::size_t i = 0; i < value.size(); ++i)
          check(schema["items"], value[i], path + "[" + std::to_string(i) + "]", true, errors);
      }
    }
    if (value.is_object()) check_object(schema, value, path, closed, errors);
    if (schema.contains("allOf")) {
      std::set<std::string> known;
      collect_properties(schema, known);
      for (const auto& part : schema["allOf"]) check(part, value, path, false, errors);
      if (closed && value.is_object()) unknown_members(value, known, schema, path, errors);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!schema.contains(key)) continue;
      std::size_t matches = 0;
      std::vector<std::string> first_failure;
      for (const auto& option : schema[key]) {
        std::vector<std::string> e;
        check(option, value, path, closed, e);
        if (e.empty()) {
          ++matches;
        } else if (first_failure.empty() || e.size() < first_failure.size()) {
          first_failure = e;
        }
      }
      if (matches == 0) {
        errors.push_back(path + ": matches none of the " + key + " options (closest: " +
                         (first_failure.empty() ? std::string("?") : first_failure[0]) + ")");
      } else if (std::string(key) == "oneOf" && matches > 1) {
        errors.push_back(path + ": matches " + std::to_string(matches) + " oneOf options");
      }
    }
  }

 private:
  const json& resolve(const std::string& ref) const {
    const std::string prefix = "#/components/schemas/";
    return schemas_.at(ref.substr(prefix.size()));
  }

  static bool type_ok(const json& type, const json& value) {
    if (type.is_array()) {
      for (const auto& t : type) {
        if (type_ok(t, value)) return true;
      }
      return false;
    }
    const std::string t = type.get<std::string>();
    if (t == "null") return value.is_null();
    if (t == "object") return value.is_object();
    if (t == "array") return value.is_array();
    if (t == "string") return value.is_string();
    if (t == "boolean") return value.is_boolean();
    if (t == "integer") return value.is_number_integer();
    if (t == "number") return value.is_number();
    return true;
  }

  void collect_properties(const json& schema, std::set<std::string>& out) const {
    if (schema.contains("$ref")) return collect_properties(resolve(schema["$ref"].get<std::string>()), out);
    if (schema.contains("properties")) {
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
        out.insert(it.key());
    }
    if (schema.contains("allOf")) {
      for (const auto& part : schema["allOf"]) collect_properties(part, out);
    }
  }

  void unknown_members(const json& value, const std::set<std::string>& known, const json& schema,
                       const std::string& path, std::vector<std::string>& errors) const {
    if (schema.contains("additionalProperties") && !schema["additionalProperties"].is_boolean())
      return;  // checked against its schema in check_object
    if (schema.contains("additionalProperties") && schema["additionalProperties"] == true) return;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!known.count(it.key()))
        errors.push_back(path + "." + it.key() + ": not a member the schema knows");
    }
  }

  void check_object(const json& schema, const json& value, const std::string& path, bool closed,
                    std::vector<std::string>& errors) const {
    if (schema.contains("required")) {
      for (const auto& name : schema["required"]) {
        if (!value.contains(name.get<std::string>()))
          errors.push_back(path + ": the required member " + name.get<std::string>() + " is missing");
      }
    }
    std::set<std::string> known;
    if (schema.contains("properties")) {
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
        known.insert(it.key());
        if (value.contains(it.key()))
          check(it.value(), value[it.key()], path + "." + it.key(), true, errors);
      }
    }
    if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!known.count(it.key()))
          check(schema["additionalProperties"], it.value(), path + "." + it.key(), true, errors);
      }
      return;
    }
    if (closed && schema.contains("properties") && !schema.contains("allOf"))
      unknown_members(value, known, schema, path, errors);
  }

  const json& schemas_;
};

}  // namespace

std::vector<std::string> schema_errors(const json& document, const std::string& root,
                                       const json& value) {
  Checker checker(document);
  std::vector<std::string> errors;
  checker.check(document.at("components").at("schemas").at(root), value, "request", true, errors);
  return errors;
}

}  // namespace parley::test
