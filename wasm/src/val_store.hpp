// The session store's KeyValueStore in the browser: a JS object {get(key), set(key, value),
// remove(key)} handed in by the SDK (localStorage behind it, or a Map where localStorage is
// unavailable, e.g. blocked in a third-party iframe). get answers a string or null.
#pragma once

#include <emscripten/val.h>

#include "parley/session_store.hpp"

namespace parley::sdk {

class ValKeyValueStore final : public KeyValueStore {
 public:
  explicit ValKeyValueStore(emscripten::val store) : store_(std::move(store)) {}

  std::optional<std::string> get(std::string_view key) const override {
    emscripten::val value = store_.call<emscripten::val>("get", std::string(key));
    if (!value.isString()) return std::nullopt;
    return value.as<std::string>();
  }
  void set(std::string_view key, std::string_view value) override {
    store_.call<void>("set", std::string(key), std::string(value));
  }
  void remove(std::string_view key) override { store_.call<void>("remove", std::string(key)); }

 private:
  emscripten::val store_;
};

}  // namespace parley::sdk
