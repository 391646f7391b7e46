// ChatLog restore benchmark: the wasm core turning a SessionChatLogs reply into chat lines
// (copy the text into the wasm heap + parse into C++ structs) vs JSON.parse of the same text,
// in one node run. The reply is generated here, deterministically: 5,000 messages, ~2 MB,
// several chat logs, varied text lengths, unicode, escapes, contextVars on some lines.
//
//   node bench/chatlog/run.mjs BUILD/bench/chatlog/chatlog-bench-o3.mjs [more .mjs ...]
//        [--runs N] [--warmup N] [--write FILE]
//
// The modules are built by bench/chatlog/CMakeLists.txt in a wasm tree: chatlog-bench-o3,
// -os (the optimisation the MinSizeRel core gets today) and -oz (the DESIGN §8 release aim).
// --write FILE also saves the reply, for the native comparison:
//   BUILD-native/bench/chatlog/parley-bench-chatlog FILE
// Budget: <= 15 ms (median and p90) for copy + parse in the wasm core, after warm-up. The
// first call of a fresh module is printed apart ("cold"): it runs V8's baseline code while
// the optimised code is compiled, which is what one page load sees.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const BUDGET_MS = 15;

function parseArgs(argv) {
  const out = { modules: [], runs: 50, warmup: 10, write: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--runs') out.runs = Number(argv[++i]);
    else if (a === '--warmup') out.warmup = Number(argv[++i]);
    else if (a === '--write') out.write = argv[++i];
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else out.modules.push(a);
  }
  if (!(out.runs >= 1) || !(out.warmup >= 0)) usage('--runs must be >= 1 and --warmup >= 0');
  if (out.modules.length === 0 && !out.write) usage('give at least one chatlog-bench-*.mjs');
  return out;
}

function usage(why) {
  console.error(`run.mjs: ${why}\nusage: node bench/chatlog/run.mjs MODULE.mjs... [--runs N] [--warmup N] [--write FILE]`);
  process.exit(64);
}

// ---- the reply -------------------------------------------------------------------------

// A small deterministic PRNG (xorshift32) so every run builds the same reply.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const WORDS = ('the order refund shipping address account password invoice delivery tomorrow ' +
  'thanks please could you help me with my plan premium upgrade cancel subscription price ' +
  'question answer support ticket number status today week month payment card bank').split(' ');
const UNICODE = ['Zürich', 'café', 'naïve', '東京', 'Привет', 'مرحبا', '🎉', '👍🏽', 'Straße', '€12,50'];
const ESCAPED = ['"quoted"', 'back\\slash', 'two\nlines', 'tab\there', 'a/b'];

function sentence(rand, chars) {
  const parts = [];
  let n = 0;
  while (n < chars) {
    const r = rand();
    let w;
    if (r < 0.04) w = UNICODE[Math.floor(rand() * UNICODE.length)];
    else if (r < 0.06) w = ESCAPED[Math.floor(rand() * ESCAPED.length)];
    else w = WORDS[Math.floor(rand() * WORDS.length)];
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(' ') + (rand() < 0.5 ? '.' : '?');
}

// Text length: mostly short chat turns, some paragraphs, a few long answers.
function textLength(rand) {
  const r = rand();
  if (r < 0.45) return 20 + Math.floor(rand() * 80);
  if (r < 0.85) return 100 + Math.floor(rand() * 400);
  return 500 + Math.floor(rand() * 1800);
}

// JSON string with every non-ASCII character as \uXXXX (some servers write JSON that way).
function asciiJsonString(s) {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function buildReply(messages = 5000, seed = 20240501) {
  const rand = rng(seed);
  const memoriID = 'b2f6c6b0-7c1e-4c7a-9d3e-6a1f0e5d4c3b';
  const logs = [];
  let made = 0;
  let t = Date.UTC(2024, 0, 15, 9, 0, 0);
  for (let l = 0; made < messages; ++l) {
    const count = Math.min(messages - made, 80 + Math.floor(rand() * 320));
    const sessionID = `5f0c1c2e-8d1a-4c3b-9e2f-${String(l).padStart(12, '0')}`;
    const lines = [];
    for (let i = 0; i < count; ++i) {
      t += 1000 + Math.floor(rand() * 60000);
      const inbound = i % 2 === 1;
      const line = { timestamp: new Date(t).toISOString(), inbound, text: sentence(rand, textLength(rand)) };
      if (!inbound && rand() < 0.3) {
        line.contextVars = { LANG: rand() < 0.5 ? 'IT' : 'EN', PATH: '/pricing', TOPIC: WORDS[i % WORDS.length] };
      }
      if (!inbound && rand() < 0.05) line.emitter = 'Expert ' + (1 + Math.floor(rand() * 3));
      if (!inbound && rand() < 0.05) line.media = [{ url: 'https://x.test/doc.pdf', mimeType: 'application/pdf', title: 'Terms' }];
      if (!inbound && rand() < 0.1) line.memoryID = `mem-${i}`;
      lines.push(line);
    }
    made += count;
    logs.push({ chatLogID: `cl-${l}`, sessionID, memoriID, timestamp: lines[0].timestamp,
                boardOfExperts: false, lines });
  }
  // Every 7th chat log is written with \u escapes for non-ASCII, as some servers do.
  const logTexts = logs.map((log, i) => (i % 7 === 3
    ? JSON.stringify(log).replace(/"((?:[^"\\]|\\.)*)"/g, (m, inner) =>
        asciiJsonString(JSON.parse(m)))
    : JSON.stringify(log)));
  return `{"chatLogs":[${logTexts.join(',')}],"requestID":"6c1b7e0a","requestDateTime":"2024-05-01T10:00:00.000Z","resultCode":0,"resultMessage":"Ok"}`;
}

// ---- timing ------------------------------------------------------------------------------

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
  return { min: s[0], median: at(0.5), p90: at(0.9) };
}

// min is printed too: on a busy machine it shows what the code costs without interference.
function fmt(st) {
  const f = (v) => v.toFixed(3).padStart(7);
  return `median ${f(st.median)} ms  p90 ${f(st.p90)} ms  (min ${f(st.min)})`;
}

async function loadModule(file) {
  const path = resolve(file);
  const wasmBinary = readFileSync(path.replace(/\.m?js$/, '.wasm'));
  const { default: create } = await import(pathToFileURL(path).href);
  return create({ wasmBinary });
}

function utf8Bytes(s) { return Buffer.byteLength(s, 'utf8'); }

async function benchModule(file, text, bytes, reference, opts) {
  const M = await loadModule(file);
  const encoder = new TextEncoder();
  const ptr = M._chatlog_bench_alloc(bytes.length);
  if (!ptr) throw new Error('wasm allocation failed');
  const heap = () => M.HEAPU8;  // re-read: the view changes when memory grows

  const copyString = () => {
    const { written } = encoder.encodeInto(text, heap().subarray(ptr, ptr + bytes.length));
    if (written !== bytes.length) throw new Error('short copy');
  };
  const copyBytes = () => heap().set(bytes, ptr);
  const parse = () => {
    const n = M._chatlog_bench_parse(ptr, bytes.length);
    if (n < 0) {
      const h = heap();
      let end = M._chatlog_bench_error();
      const start = end;
      while (h[end] !== 0) ++end;
      throw new Error(new TextDecoder().decode(h.subarray(start, end)));
    }
    return n;
  };

  // The first call runs on freshly instantiated code (V8's baseline tier), as a page load
  // would; it is reported apart from the warmed-up runs.
  const c0 = performance.now();
  copyString();
  const lines = parse();
  const firstMs = performance.now() - c0;
  const textBytes = M._chatlog_bench_text_bytes();
  if (lines !== reference.lines || textBytes !== reference.textBytes) {
    throw new Error(`wasm result differs from JSON.parse: ${lines} lines / ${textBytes} text bytes, ` +
                    `expected ${reference.lines} / ${reference.textBytes}`);
  }
  M._chatlog_bench_release();

  for (let i = 0; i < opts.warmup; ++i) { copyString(); parse(); M._chatlog_bench_release(); }
  const copyMs = [], parseMs = [], totalMs = [], bytesMs = [];
  for (let i = 0; i < opts.runs; ++i) {
    const t0 = performance.now();
    copyString();
    const t1 = performance.now();
    parse();
    const t2 = performance.now();
    M._chatlog_bench_release();  // freeing the previous structs is not part of the restore
    const t3 = performance.now();
    copyBytes();
    const t4 = performance.now();
    copyMs.push(t1 - t0); parseMs.push(t2 - t1); totalMs.push(t2 - t0); bytesMs.push(t4 - t3);
  }
  M._chatlog_bench_free(ptr);
  return { first: firstMs, copy: stats(copyMs), parse: stats(parseMs), total: stats(totalMs),
           bytes: stats(bytesMs) };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const text = buildReply();
  const bytes = new TextEncoder().encode(text);
  if (opts.write) {
    writeFileSync(opts.write, bytes);
    console.log(`wrote ${bytes.length} bytes to ${opts.write}`);
  }
  if (opts.modules.length === 0) return;

  // Reference: JSON.parse, and what a correct parse must find.
  const j0 = performance.now();
  const check = JSON.parse(text);
  const jsonFirstMs = performance.now() - j0;
  const reference = { lines: 0, textBytes: 0 };
  for (const log of check.chatLogs) {
    reference.lines += log.lines.length;
    for (const line of log.lines) reference.textBytes += utf8Bytes(line.text);
  }
  for (let i = 0; i < opts.warmup; ++i) JSON.parse(text);
  const jsonMs = [];
  for (let i = 0; i < opts.runs; ++i) {
    const t0 = performance.now();
    JSON.parse(text);
    jsonMs.push(performance.now() - t0);
  }
  const js = stats(jsonMs);

  console.log(`ChatLog reply: ${bytes.length} bytes (${text.length} UTF-16 units), ` +
              `${check.chatLogs.length} chat logs, ${reference.lines} lines; ` +
              `${opts.runs} runs after ${opts.warmup} warm-up; node ${process.version}`);
  console.log(`  JSON.parse (reference)               ${fmt(js)}`);
  console.log(`    first call, cold                   ${jsonFirstMs.toFixed(3).padStart(7)} ms`);
  let over = false;
  for (const file of opts.modules) {
    const r = await benchModule(file, text, bytes, reference, opts);
    const name = file.replace(/^.*\//, '');
    console.log(`  ${name}`);
    console.log(`    copy string into heap (encodeInto) ${fmt(r.copy)}`);
    console.log(`    parse into C++ structs             ${fmt(r.parse)}`);
    console.log(`    copy + parse                       ${fmt(r.total)}`);
    console.log(`    (copy of bytes, e.g. from arrayBuffer(): ${fmt(r.bytes)})`);
    console.log(`    first call, cold (copy + parse)    ${r.first.toFixed(3).padStart(7)} ms`);
    const ratio = r.total.median / js.median;
    const ok = r.total.median <= BUDGET_MS && r.total.p90 <= BUDGET_MS;
    over ||= !ok;
    console.log(`    ratio (copy + parse) / JSON.parse, medians: ${ratio.toFixed(2)}x; ` +
                `budget ${BUDGET_MS} ms: ${ok ? 'met' : 'MISSED'}`);
  }
  process.exitCode = over ? 1 : 0;
}

// Run only when started as a script (buildReply can be imported by other tools).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(e.stack || String(e)); process.exit(2); });
}
