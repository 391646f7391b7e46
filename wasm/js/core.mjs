// Loads the wasm core (parley-core.wasm beside this module) once, at import time, and gives
// the rest of the SDK typed access to it. Streaming compilation where the browser offers it
// (the .wasm is served as application/wasm); in node the file is read from disk.
import createParleyCore from './parley-core.mjs';

async function instantiate(imports) {
  const url = new URL('parley-core.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return WebAssembly.instantiate(await fs.readFile(url), imports);
  }
  const response = fetch(url, { credentials: 'same-origin' });
  if (WebAssembly.instantiateStreaming) {
    try {
      return await WebAssembly.instantiateStreaming(response, imports);
    } catch (error) {
      // A server that sends the wrong Content-Type: compile from the bytes instead.
      if (!(error instanceof TypeError)) throw error;
    }
  }
  const bytes = await (await fetch(url, { credentials: 'same-origin' })).arrayBuffer();
  return WebAssembly.instantiate(bytes, imports);
}

let loadError = null;
export const M = await createParleyCore({
  instantiateWasm(imports, done) {
    instantiate(imports).then(r => done(r.instance, r.module), e => { loadError = e; });
    return {};
  },
  print() {},
  printErr() {},
}).catch(e => { throw new Error(`Parley: the wasm core did not load: ${loadError || e}`); });

// A core call that answers JSON text: "" is nothing, {"error": ...} an error.
export function json(text) {
  return text ? JSON.parse(text) : null;
}
