// Test vectors live in tests/vectors/<name>.json and are read at run time (natively and,
// through NODERAWFS, under node), so the same data drives every build of the suite.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "parley/json.hpp"

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

}  // namespace parley::test
