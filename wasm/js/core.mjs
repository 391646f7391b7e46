// Loads the wasm core (parley-core.wasm beside this module) once, at import time, and wraps
// its C exports (wasm/src/bindings.cpp) for the rest of the SDK. There is no Emscripten JS
// glue: the module is linked standalone and needs only what is given here (the key-value
// store, number reading, a memory-growth notice and exit), which is what keeps the SDK small (see
// bindings.cpp). Streaming compilation where the browser offers it (the .wasm is served as
// application/wasm); in node the file is read from disk.
//
// Strings cross as UTF-8: in, written into one heap buffer per call and passed as (offset,
// size) pairs; out, the bytes of the core's result string (offset returned, size from
// pl_result_size). The heap views are taken afresh after every call that may allocate,
// since memory growth replaces the buffer.

import { WASM_FILE } from './files.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let X;          // the instance's exports
let u8 = new Uint8Array(0);
let f32 = new Float32Array(0);

export function heapU8() {
  if (u8.buffer !== X.memory.buffer) {
    u8 = new Uint8Array(X.memory.buffer);
    f32 = new Float32Array(X.memory.buffer);
  }
  return u8;
}
export function heapF32() {
  heapU8();
  return f32;
}

// The JS objects the core reaches by number: key-value stores ({get, set, remove}).
const stores = new Map();
let nextStore = 1;
function registerStore(store) {
  const id = nextStore++;
  stores.set(id, store);
  return id;
}
const text = (p, n) => decoder.decode(heapU8().subarray(p, p + n));

const imports = {
  env: {
    pl_js_store_get(store, key, keySize, sizeOut) {
      const value = stores.get(store).get(text(key, keySize));
      if (typeof value !== 'string') return 0;
      const bytes = encoder.encode(value);
      const p = X.pl_alloc(bytes.length);
      heapU8().set(bytes, p);
      new DataView(X.memory.buffer).setUint32(sizeOut, bytes.length, true);
      return p;
    },
    pl_js_store_set(store, key, keySize, value, valueSize) {
      stores.get(store).set(text(key, keySize), text(value, valueSize));
    },
    pl_js_store_remove(store, key, keySize) {
      stores.get(store).remove(text(key, keySize));
    },
    // strtod for the JSON lexer (wasm/src/numbers.cpp): a decimal number, correctly rounded.
    pl_js_parse_number: (p, n) => Number(text(p, n)),
    emscripten_notify_memory_growth() {},
  },
  wasi_snapshot_preview1: {
    // libc's environment, read once at start: empty.
    environ_sizes_get(count, size) {
      const view = new DataView(X.memory.buffer);
      view.setUint32(count, 0, true);
      view.setUint32(size, 0, true);
      return 0;
    },
    environ_get: () => 0,
    proc_exit(code) {
      throw new Error(`Parley: the wasm core stopped (exit ${code})`);
    },
  },
};

async function instantiate() {
  const url = new URL(WASM_FILE, import.meta.url);
  if (url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return WebAssembly.instantiate(await fs.readFile(url), imports);
  }
  // A page that started compiling this very file before the SDK loaded (the embed page's
  // first script, web/embed-early.js): its compile, instantiated here.
  const early = globalThis.parleyCore;
  if (early && early.url === url.href && early.module && typeof early.module.then === 'function') {
    try {
      return { instance: await WebAssembly.instantiate(await early.module, imports) };
    } catch {
      // It failed: the file is fetched and compiled again below, which says why.
    }
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

try {
  X = (await instantiate()).instance.exports;
  X._initialize();
} catch (error) {
  throw new Error(`Parley: the wasm core did not load: ${error}`);
}

// f(...head, offset0, size0, offset1, size1, ..., ...tail), with the strings written into
// one heap buffer for the call.
function S(f, head, strings, ...tail) {
  let room = 0;
  for (const s of strings) room += s.length * 3;
  const base = X.pl_alloc(room);
  const args = [...head];
  let at = base;
  for (const s of strings) {
    const { written } = encoder.encodeInto(s, heapU8().subarray(at, at + s.length * 3));
    args.push(at, written);
    at += written;
  }
  try {
    return f(...args, ...tail);
  } finally {
    X.pl_free(base);
  }
}
// The core's result string, at offset p.
const R = (p) => text(p, X.pl_result_size());

export const parseWidgetUrl = (url) => R(S(X.pl_parse_widget_url, [], [url]));
export const checkTemplate = (template, metadataJson) => R(S(X.pl_check_template, [], [template, metadataJson]));
export const checkStart = (...args) => R(S(X.pl_check_start, [], args));
export const clientError = (kind, name, detail) => R(S(X.pl_client_error, [], [kind, name, detail]));
export const textRequest = (session, message) => R(S(X.pl_text_request, [], [session, message]));
export const textReply = (status, body) => R(S(X.pl_text_reply, [status], [body]));

export function stateOf(store, integrationId) {
  const id = registerStore(store);
  try {
    return R(S(X.pl_state_of, [id], [integrationId]));
  } finally {
    stores.delete(id);
  }
}

export function forget(store, integrationId) {
  const id = registerStore(store);
  try {
    S(X.pl_forget, [id], [integrationId]);
  } finally {
    stores.delete(id);
  }
}

// One client's wasm side (ClientCore in client_core.hpp), freed by delete().
export class ClientCore {
  constructor(store, configJson) {
    this.store = registerStore(store);
    this.h = S(X.pl_client_new, [this.store], [configJson]);
  }
  delete() {
    if (!this.h) return;
    X.pl_client_delete(this.h);
    stores.delete(this.store);
    this.h = 0;
  }
  configError() { return R(X.pl_client_config_error(this.h)); }
  start(first, metadata, include, now) { return R(S(X.pl_client_start, [this.h], [first, metadata, include], now)); }
  reconnect(now) { return X.pl_client_reconnect(this.h, now) !== 0; }
  onOpen(now) { X.pl_client_on_open(this.h, now); }
  onText(message, now) { S(X.pl_client_on_text, [this.h], [message], now); }
  onBinary(size, now) { X.pl_client_on_binary(this.h, size, now); }
  onClose(code, reason, now, random01, online) {
    S(X.pl_client_on_close, [this.h, code], [reason], now, random01, online ? 1 : 0);
  }
  onSocketError(now) { X.pl_client_on_socket_error(this.h, now); }
  sendText(message, now) { return R(S(X.pl_client_send_text, [this.h], [message], now)); }
  setMuted(muted) { X.pl_client_set_muted(this.h, muted ? 1 : 0); }
  tick(now) { X.pl_client_tick(this.h, now); }
  stop(now) { X.pl_client_stop(this.h, now); }
  noteActivity(now) { X.pl_client_note_activity(this.h, now); }
  audioStart(rate) { return R(X.pl_client_audio_start(this.h, rate)); }
  audioStop() { X.pl_client_audio_stop(this.h); }
  playbackDrained(now) { X.pl_client_playback_drained(this.h, now); }
  // The frames to send: [{kind: 0 text | 1 binary | 2 close, text | bytes, code}]. Binary
  // frames are copies: the heap is reused at once, and node's ws keeps a reference until the
  // bytes are flushed.
  takeOutgoing() {
    const p = X.pl_client_take_outgoing(this.h);
    const table = new Uint32Array(heapU8().buffer, p, X.pl_result_size() * 4);
    const frames = [];
    for (let i = 0; i < table.length; i += 4) {
      const [kind, at, size, code] = table.subarray(i, i + 4);
      frames.push(kind === 1 ? { kind, bytes: heapU8().slice(at, at + size) }
                             : { kind, text: text(at, size), code });
    }
    return frames;
  }
  takeEvents() { return R(X.pl_client_take_events(this.h)); }
  setOrigin(resumed, remember, continuedFrom, sessionId, identity) {
    S(X.pl_client_set_origin, [this.h, resumed ? 1 : 0, remember ? 1 : 0], [continuedFrom, sessionId, identity]);
  }
  state(integrationId) { return R(S(X.pl_client_state, [this.h], [integrationId])); }
  snapshot() { return R(X.pl_client_snapshot(this.h)); }
}

// The DESIGN §5 resume flow's wasm side (ResumeBridge), freed by delete().
export class ResumeFlow {
  constructor(store, inputJson) {
    this.store = registerStore(store);
    this.h = S(X.pl_resume_new, [this.store], [inputJson]);
  }
  delete() {
    X.pl_resume_delete(this.h);
    stores.delete(this.store);
  }
  start(now) { return R(X.pl_resume_start(this.h, now)); }
  onResponse(status, body, now) { return R(S(X.pl_resume_on_response, [this.h, status], [body], now)); }
  onTransportError(message, now) { return R(S(X.pl_resume_on_transport_error, [this.h], [message], now)); }
  likelyNext() { return R(X.pl_resume_likely_next(this.h)); }
  outcome() { return R(X.pl_resume_outcome(this.h)); }
  // The outcome's lines, [{text, inbound, timestamp, earlier, emitter?}]: their strings come
  // as one UTF-8 block, decoded at once and cut by the byte sizes the core gives
  // (pl_resume_lines): no JSON text of a whole history, no decode call per line.
  lines() {
    const p = X.pl_resume_lines(this.h);
    const n = X.pl_result_size();
    const t = new Uint32Array(heapU8().buffer, p, n * 4).slice();
    const start = X.pl_resume_block(this.h);
    const bytes = heapU8().slice(start, start + X.pl_resume_block_size(this.h));
    const all = decoder.decode(bytes);
    // Byte offsets to string offsets: the same when the block is ASCII; else count the UTF-16
    // units (a 4-byte code point is two).
    const ascii = all.length === bytes.length;
    let b = 0;
    let c = 0;
    const cut = (size) => {
      const from = c;
      if (ascii) {
        c += size;
      } else {
        for (const end = b + size; b < end; ++b) if ((bytes[b] & 0xc0) !== 0x80) c += bytes[b] >= 0xf0 ? 2 : 1;
      }
      return all.slice(from, c);
    };
    const out = new Array(n);
    for (let i = 0, o = 0; i < n; ++i, o += 4) {
      const f = t[o + 3];
      out[i] = { text: cut(t[o]), inbound: (f & 1) > 0, timestamp: cut(t[o + 1]), earlier: (f & 2) > 0 };
      if (f & 4) out[i].emitter = cut(t[o + 2]);
    }
    return out;
  }
  warnings() { return R(X.pl_resume_warnings(this.h)); }
}

// The raw audio entry points (heap offsets), for client.mjs and audio.mjs.
export const raw = {
  captureBuffer: (h) => X.pl_capture_buffer(h),
  capture: (h, count, now) => X.pl_capture(h, count, now),
  renderBuffer: (h) => X.pl_render_buffer(h),
  render: (h, count) => X.pl_render(h, count),
  incomingBuffer: (h) => X.pl_incoming_buffer(h),
  queued: (h) => X.pl_queued(h),
  meters: (h) => X.pl_meters(h),
};
