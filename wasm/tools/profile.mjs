// Where the SDK's wasm goes: section sizes, and the code section attributed to its owners by
// the function names of a build linked with --profiling-funcs (names kept, code as in the
// release build). Each owner's functions are also gzipped together (-9) on their own, which
// approximates what they cost in the compressed module (gzip shares context across owners, so
// the column adds up to a little more than the module's real gzip size).
//
//   node wasm/tools/profile.mjs MODULE.wasm [--top N] [--owner REGEX] [--json OUT.json]
//
// The owners: nlohmann, boost::urls / boost::system, std:: (libc++), emscripten/embind,
// libc (C names from the sysroot), and parley:: by the core's file (a name's namespace and
// its first identifier decide: see ownerOf).
import fs from 'node:fs';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';

function leb(bytes, at) {
  let result = 0, shift = 0, b;
  do {
    b = bytes[at++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [result, at];
}

function readName(bytes, at) {
  const [n, p] = leb(bytes, at);
  return [Buffer.from(bytes.subarray(p, p + n)).toString('utf8'), p + n];
}

export function parseModule(bytes) {
  const sections = [];
  const bodies = [];  // {index, start, size}
  const names = new Map();
  const data = [];
  let importedFuncs = 0;
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, p] = leb(bytes, at + 1);
    const end = p + size;
    let name = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export',
                'start', 'element', 'code', 'data', 'datacount'][id] || `#${id}`;
    if (id === 0) {
      const [custom] = readName(bytes, p);
      name = `custom:${custom}`;
      if (custom === 'name') {
        let q = readName(bytes, p)[1];
        while (q < end) {
          const sub = bytes[q];
          const [len, r] = leb(bytes, q + 1);
          if (sub === 1) {
            let [count, s] = leb(bytes, r);
            for (let i = 0; i < count; ++i) {
              let index, fname;
              [index, s] = leb(bytes, s);
              [fname, s] = readName(bytes, s);
              names.set(index, fname);
            }
          }
          q = r + len;
        }
      }
    } else if (id === 2) {
      let [count, q] = leb(bytes, p);
      for (let i = 0; i < count; ++i) {
        q = readName(bytes, q)[1];
        q = readName(bytes, q)[1];
        const kind = bytes[q++];
        if (kind === 0) { importedFuncs++; q = leb(bytes, q)[1]; }
        else if (kind === 1) { q += 1; const flags = bytes[q++]; q = leb(bytes, q)[1]; if (flags & 1) q = leb(bytes, q)[1]; }
        else if (kind === 2) { const flags = bytes[q++]; q = leb(bytes, q)[1]; if (flags & 1) q = leb(bytes, q)[1]; }
        else if (kind === 3) q += 2;
      }
    } else if (id === 10) {
      let [count, q] = leb(bytes, p);
      for (let i = 0; i < count; ++i) {
        const [len, r] = leb(bytes, q);
        bodies.push({ index: importedFuncs + i, start: q, size: r - q + len });
        q = r + len;
      }
    } else if (id === 11) {
      let [count, q] = leb(bytes, p);
      for (let i = 0; i < count; ++i) {
        const flags = bytes[q++];
        if (flags === 2) q = leb(bytes, q)[1];
        if (flags !== 1) {  // an offset expression: i32.const N end
          while (bytes[q++] !== 0x0b);
        }
        const [len, r] = leb(bytes, q);
        data.push({ start: r, size: len });
        q = r + len;
      }
    }
    sections.push({ id, name, size: end - at });
    at = end;
  }
  return { sections, bodies, names, data };
}

function demangleAll(list) {
  try {
    const out = execFileSync('c++filt', { input: list.join('\n'), maxBuffer: 1 << 28 }).toString().split('\n');
    return list.map((n, i) => out[i] ?? n);
  } catch {
    return list;
  }
}

// The core's files, by the identifiers their functions start with (namespace parley::).
const PARLEY_FILES = [
  [/^parley::audio::(remez|kaiser|design|Remez|dsp)/i, 'parley audio: filter design'],
  [/^parley::audio::/, 'parley audio: chains, resampler, VAD'],
  [/^parley::sdk::(ResumeBridge|text_re|chat_line|\(anonymous namespace\)::(parse_input|lines_json|result_code|request_json))/, 'parley sdk: resume bridge'],
  [/^parley::sdk::/, 'parley sdk: client core, bindings'],
  [/^parley::(parse_embed_url|make_embed_query|EmbedConfig|to_json\(parley::EmbedConfig|\(anonymous namespace\)::(diagnos|query|percent|url))/i, 'parley embed_url'],
  [/^parley::(Call|CallSnapshot|to_string\(parley::(Connection|Agent))/, 'parley call'],
  [/^parley::(ResumeFlow|resume|SessionStore|get_state|to_json\(parley::WidgetState|session)/i, 'parley sessions, resume flow, state'],
  [/^parley::(parse_chat|ChatLog|chatlog|scan)/i, 'parley chatlog'],
  [/^parley::(encode|decode|parse_server|parse_client|make_|Protocol|validate_audio|server_message|client_message)/i, 'parley protocol'],
  [/^parley::(fill_template|check_template|metadata_prompt|fill_function|Template)/i, 'parley templates'],
  [/^parley::(validate_metadata|metadata)/i, 'parley metadata'],
  [/^parley::(normalize_start|StartRequest)/i, 'parley start request'],
  [/^parley::(parse_json|to_json_text|dump)/i, 'parley json helpers'],
  [/^parley::/, 'parley: other'],
];

// The qualified name of a demangled function, without its return type and parameters.
function qualifiedName(name) {
  const s = name.replace(/\(anonymous namespace\)/g, '{anon}');
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; ++i) {
    const c = s[i];
    if (c === '<') depth++;
    else if (c === '>') depth--;
    else if (c === ' ' && depth === 0) start = i + 1;
    else if (c === '(' && depth === 0 && i > start) return s.slice(start, i);
  }
  return s.slice(start);
}

export function ownerOf(name) {
  const n = qualifiedName(name).replace(/\{anon\}/g, '(anonymous namespace)');
  if (/nlohmann/.test(n) && !/^parley::/.test(n)) return 'nlohmann';
  if (/^(boost::urls|boost::core|boost::variant2)/.test(n)) return 'boost::urls';
  if (/^boost::system/.test(n)) return 'boost::system';
  if (/^boost::/.test(n)) return 'boost: other';
  if (/^(emscripten::|_embind|embind|__embind|EmscriptenBindingInitializer)/.test(n)) return 'emscripten/embind';
  if (/^parley::/.test(n) || /^\$parley/.test(n)) {
    for (const [re, owner] of PARLEY_FILES) if (re.test(n)) return owner;
  }
  if (/^(std::|__cxxabiv1|__cxa|operator new|operator delete|__gxx|__cxx)/.test(n)) return 'std:: (libc++/libc++abi)';
  if (/^(pl_|__wrap_)/.test(n)) return 'parley sdk: client core, bindings';
  if (/^(dlmalloc|emmalloc|malloc|free|realloc|calloc|memalign|aligned_alloc|posix_memalign|sbrk|emscripten_builtin)/.test(n)) return 'libc: malloc';
  if (/^[a-z_][a-zA-Z0-9_$.]*$/.test(n)) return 'libc and runtime';
  return 'other';
}

// Long template spellings made readable in listings.
export function shorten(name) {
  return name
    .replace(/nlohmann::json_abi_v3_11_2::basic_json<std::__2::map, std::__2::vector, std::__2::basic_string<char, std::__2::char_traits<char>, std::__2::allocator<char> >, bool, long long, unsigned long long, double, std::__2::allocator, nlohmann::json_abi_v3_11_2::adl_serializer, std::__2::vector<unsigned char, std::__2::allocator<unsigned char> >, void>/g, 'json')
    .replace(/nlohmann::json_abi_v3_11_2::/g, 'nl::')
    .replace(/std::__2::basic_string<char, std::__2::char_traits<char>, std::__2::allocator<char> >/g, 'string')
    .replace(/std::__2::basic_string_view<char, std::__2::char_traits<char> >/g, 'string_view')
    .replace(/std::__2::/g, 'std::')
    .replace(/nl::detail::iterator_input_adapter<char const\*>/g, 'input');
}

function gzipLen(buffers) {
  return zlib.gzipSync(Buffer.concat(buffers), { level: 9 }).length;
}

export function profile(file) {
  const bytes = fs.readFileSync(file);
  const m = parseModule(bytes);
  const raw = m.bodies.map(b => m.names.get(b.index) || `func${b.index}`);
  const pretty = demangleAll(raw);
  const funcs = m.bodies.map((b, i) => ({ name: pretty[i], size: b.size, owner: ownerOf(pretty[i]),
                                          bytes: bytes.subarray(b.start, b.start + b.size) }));
  const owners = new Map();
  for (const f of funcs) {
    if (!owners.has(f.owner)) owners.set(f.owner, { owner: f.owner, count: 0, size: 0, parts: [] });
    const o = owners.get(f.owner);
    o.count++;
    o.size += f.size;
    o.parts.push(f.bytes);
  }
  const dataBytes = Buffer.concat(m.data.map(d => bytes.subarray(d.start, d.start + d.size)));
  const rows = [...owners.values()].map(o => ({ owner: o.owner, count: o.count, size: o.size, gzip: gzipLen(o.parts) }));
  rows.push({ owner: 'data section (strings, tables)', count: m.data.length, size: dataBytes.length, gzip: gzipLen([dataBytes]) });
  rows.sort((a, b) => b.gzip - a.gzip);
  return { sections: m.sections, rows, funcs, data: dataBytes };
}

if (process.argv[1] && process.argv[1].endsWith('profile.mjs')) {
  const args = process.argv.slice(2);
  const file = args[0];
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
  const ownerRe = args.includes('--owner') ? new RegExp(args[args.indexOf('--owner') + 1]) : null;
  const p = profile(file);
  console.log(`${file}: ${fs.statSync(file).size} B`);
  console.log('sections:', p.sections.filter(s => s.size > 64).map(s => `${s.name} ${s.size}`).join(', '));
  console.log('\n| owner | functions | code bytes | gzip alone |\n|---|---:|---:|---:|');
  for (const r of p.rows) console.log(`| ${r.owner} | ${r.count} | ${r.size} | ${r.gzip} |`);
  const list = p.funcs.filter(f => !ownerRe || ownerRe.test(f.owner)).sort((a, b) => b.size - a.size).slice(0, top);
  console.log(`\nlargest functions${ownerRe ? ` of ${ownerRe}` : ''}:`);
  for (const f of list) console.log(`${String(f.size).padStart(7)}  ${f.owner.padEnd(28).slice(0, 28)}  ${shorten(f.name).slice(0, 240)}`);
  if (args.includes('--json')) {
    fs.writeFileSync(args[args.indexOf('--json') + 1], JSON.stringify(p.rows, null, 1));
  }
}
