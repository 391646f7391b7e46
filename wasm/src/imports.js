// The functions the SDK's JS gives the wasm module (wasm/js/core.mjs implements them; see
// wasm/src/js_store.hpp and numbers.cpp). Declared here only so that the linker knows them as imports and
// still refuses any other undefined symbol; the module is linked standalone, so nothing of
// this file ends up in the SDK.
mergeInto(LibraryManager.library, {
  pl_js_store_get: function() {},
  pl_js_store_set: function() {},
  pl_js_store_remove: function() {},
  pl_js_parse_number: function() {},
});
