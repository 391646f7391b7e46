// The names of the SDK's companion files, beside the module. The build (wasm/tools/bundle.mjs)
// bundles the SDK twice: once with these plain names (the npm package, /sdk/parley.mjs), once
// with content-hashed names (parley-core.<hash>.wasm ...) for the embed page, which the host
// serves as immutable for a year.
export const WASM_FILE = 'parley-core.wasm';
export const WORKLET_FILE = 'parley-worklet.js';
