// The session store's KeyValueStore in the browser: a JS object {get(key), set(key, value),
// remove(key)} handed in by the SDK (localStorage behind it, or a Map where localStorage is
// unavailable, e.g. blocked in a third-party iframe), reached through three functions the
// SDK's JS gives the module as imports (wasm/js/core.mjs; declared to the linker by
// wasm/src/imports.js). `store` is the number the JS registered the object under.
#pragma once

#include <cstddef>
#include <cstdlib>

#include "parley/session_store.hpp"

extern "C" {
// The value of `key` as a buffer the JS allocated with pl_alloc (its length in *size), which
// the caller frees; null when there is none.
char* pl_js_store_get(int store, const char* key, std::size_t key_size, std::size_t* size);
void pl_js_store_set(int store, const char* key, std::size_t key_size, const char* value,
                     std::size_t value_size);
void pl_js_store_remove(int store, const char* key, std::size_t key_size);
}

namespace parley::sdk {

class JsKeyValueStore final : public KeyValueStore {
 public:
  explicit JsKeyValueStore(int store) : store_(store) {}

  std::optional<std::string> get(std::string_view key) const override {
    std::size_t size = 0;
    char* value = pl_js_store_get(store_, key.data(), key.size(), &size);
    if (!value) return std::nullopt;
    std::string out(value, size);
    std::free(value);
    return out;
  }
  void set(std::string_view key, std::string_view value) override {
    pl_js_store_set(store_, key.data(), key.size(), value.data(), value.size());
  }
  void remove(std::string_view key) override { pl_js_store_remove(store_, key.data(), key.size()); }

 private:
  int store_;
};

}  // namespace parley::sdk
