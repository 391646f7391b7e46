// Test vectors live in tests/vectors/<name>.json and are read at run time (natively and,
// through NODERAWFS, under node), so the same data drives every build of the suite.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley::test {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads tests/vectors/<name>.json (throws on a missing or malformed file: a test error).
inline json load_vectors(const std::string& name) {
  return json::parse(read_text_file(std::string(PARLEY_VECTORS_DIR) + "/" + name + ".json"));
}

// One array section of a vector file, returned by value (a range-for over a member of the
// temporary load_vectors() result would iterate a destroyed object). An empty or missing
// section is a test error, so a renamed key cannot make a test pass by running nothing.
inline json load_section(const std::string& name, const std::string& key) {
  json all = load_vectors(name);
  if (!all.contains(key) || !all[key].is_array() || all[key].empty()) {
    throw std::runtime_error("vector file " + name + ".json has no non-empty array \"" + key + "\"");
  }
  return all[key];
}

// Vectors describe big or repetitive values compactly; expand() turns them into real JSON,
// recursively. The forms:
//   {"$repeat": S, "times": N}        N copies of string S
//   {"$repeat_array": V, "times": N}  an array of N copies of V
//   {"$join": [parts]}                the expanded string parts joined
//   {"$params": N, "value": S}        the query text p0=S&p1=S&...&p(N-1)=S
//   {"$object": N, "value": V}        an object {p0: V, ..., p(N-1): V}
//   {"$many_keys": N}                 an object {k0: "v", ..., k(N-1): "v"}
//   {"$key": K, "$value": V}          the object {K: V} (K expanded, e.g. a long key)
inline json expand(const json& v) {
  if (v.is_object()) {
    auto count = [&](const char* key) { return v.at(key).get<int>(); };
    if (v.contains("$repeat")) {
      std::string out;
      for (int i = 0; i < count("times"); ++i) out += v["$repeat"].get<std::string>();
      return out;
    }
    if (v.contains("$repeat_array")) {
      return json::array_t(v["times"].get<std::size_t>(), v["$repeat_array"]);
    }
    if (v.contains("$join")) {
      std::string out;
      for (const auto& part : v["$join"]) out += expand(part).get<std::string>();
      return out;
    }
    if (v.contains("$params")) {
      std::string out;
      for (int i = 0; i < count("$params"); ++i) {
        out += (i ? "&p" : "p") + std::to_string(i) + "=" + v["value"].get<std::string>();
      }
      return out;
    }
    if (v.contains("$object") || v.contains("$many_keys")) {
      bool obj = v.contains("$object");
      json out = json::object();
      for (int i = 0; i < count(obj ? "$object" : "$many_keys"); ++i) {
        out[(obj ? "p" : "k") + std::to_string(i)] = obj ? v["value"] : json("v");
      }
      return out;
    }
    if (v.contains("$key")) {
      return json{{expand(v["$key"]).get<std::string>(), expand(v["$value"])}};
    }
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = expand(it.value());
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& x : v) out.push_back(expand(x));
    return out;
  }
  return v;
}

// Checks an error against a vector's {"code": ..., "mentions": [words...]}: the stable code,
// and that the message names what it should (the field, the limit).
inline void check_error(const Error& error, const json& vec) {
  INFO(error.message);
  CHECK(error.code == vec["code"].get<std::string>());
  for (const auto& word : vec["mentions"]) {
    CHECK_THAT(error.message, Catch::Contains(word.get<std::string>()));
  }
}

}  // namespace parley::test
